/* The agent's key table (config.h). */
#include "agent/config.h"

#include <stddef.h>
#include <stdio.h>

#include "common/model.h"

static int check_all(const void *dst, char *msg, size_t len,
		     const char **ret_key)
{
	const struct agent_config *c = dst;

	if (c->executor == AGENT_EXEC_EXEC && !*c->exec_create) {
		*ret_key = "executor.type";
		snprintf(msg, len, "exec needs executor.exec.create, the "
				   "command that creates a VM");
		return -1;
	}
	return cfg_etcd_check(&c->etcd, msg, len, ret_key);
}

#define C struct agent_config

static const char *const executor_types[] = {"flintlock", "exec", "simulate",
					     NULL};

static const struct cfg_key agent_keys[] = {
	CFG_ETCD_KEYS(C, etcd),
	CFG_LOG_KEYS(C, log),
	CFG_KEY_STRING_CHECK("agent.host", C, host, "\"\"", fs_name_check,
		       "host name; empty = gethostname()"),
	CFG_KEY_STRING("agent.endpoint", C, endpoint, "\"\"",
		       "flintlockd address advertised in the host record; "
		       "empty = executor.flintlock.endpoint"),
	CFG_KEY_INT("agent.lease_ttl_s", C, lease_ttl_s, "10", 2, 3600,
		    "host lease TTL: the host disappears this long after the "
		    "agent dies"),
	CFG_KEY_INT("agent.report_interval_s", C, report_interval_s, "300", 0,
		    86400,
		    "re-write the host record at least this often; 0 = only "
		    "when a value moves"),
	CFG_KEY_DOUBLE("agent.report_threshold", C, report_threshold, "0.1",
		       0, 1,
		       "re-write when measured utilisation moves by more "
		       "than this (0..1)"),
	CFG_KEY_STRING("agent.proc_root", C, proc_root, "/proc",
		       "where to read cpuinfo, meminfo and stat"),
	CFG_KEY_STRMAP("agent.labels", C, labels, "{}",
		       "labels matched by request selectors"),
	CFG_KEY_INT_AUTO("agent.capacity.vcpu", C, cap_vcpu, "auto", 0,
			 1048576, "vCPUs of the host; auto = /proc/cpuinfo"),
	CFG_KEY_INT_AUTO("agent.capacity.memory_mb", C, cap_memory_mb, "auto",
			 0, INT64_C(1) << 40,
			 "memory of the host, MiB; auto = MemTotal"),
	CFG_KEY_INT_AUTO("agent.capacity.max_vms", C, cap_max_vms, "auto", 0,
			 1000000,
			 "VMs the host may run; auto = allocatable vCPUs"),
	CFG_KEY_INT("agent.reserved.vcpu", C, reserved_vcpu, "0", 0, 1048576,
		    "vCPUs kept for the host itself"),
	CFG_KEY_INT("agent.reserved.memory_mb", C, reserved_memory_mb, "0", 0,
		    INT64_C(1) << 40, "memory kept for the host itself, MiB"),
	CFG_KEY_DOUBLE("agent.overcommit.cpu", C, overcommit_cpu, "1.0", 0.1,
		       64, "vCPUs offered per vCPU left after reserved"),
	CFG_KEY_DOUBLE("agent.overcommit.memory", C, overcommit_memory, "1.0",
		       0.1, 16, "MiB offered per MiB left after reserved"),
	CFG_KEY_ENUM("executor.type", C, executor, "flintlock",
		     executor_types, "how VMs are made"),
	CFG_KEY_STRING("executor.flintlock.endpoint", C, fl_endpoint,
		       "http://127.0.0.1:8090",
		       "flintlockd HTTP endpoint (--enable-http)"),
	CFG_KEY_STRING("executor.flintlock.token_file", C, fl_token_file,
		       "\"\"",
		       "file with flintlockd's --basic-auth-token; empty = "
		       "none"),
	CFG_KEY_STRING("executor.flintlock.namespace", C, fl_namespace,
		       "default",
		       "namespace for requests that name none"),
	CFG_KEY_INT("executor.flintlock.timeout_ms", C, fl_timeout_ms, "10000",
		    100, 600000, "timeout of one flintlockd HTTP call"),
	CFG_KEY_INT("executor.flintlock.create_timeout_s", C,
		    fl_create_timeout_s, "600", 1, 86400,
		    "a VM not CREATED within this is failed"),
	CFG_KEY_INT("executor.flintlock.retries", C, fl_retries, "3", 0, 100,
		    "retries of a failed call, with exponential backoff"),
	CFG_KEY_STRING("executor.exec.create", C, exec_create, "\"\"",
		       "command run by sh -c to create a VM (spec on stdin)"),
	CFG_KEY_STRING("executor.exec.delete", C, exec_delete, "\"\"",
		       "command run by sh -c to delete a VM"),
	CFG_KEY_INT("executor.exec.timeout_s", C, exec_timeout_s, "600", 1,
		    86400, "a command still running after this is killed"),
	CFG_KEY_STRING("http.listen", C, http_listen, "\"\"",
		       "reserved for /healthz; not served yet (must stay empty)"),
};

const struct cfg_schema agent_config_schema =
    CFG_SCHEMA_CHECKED(agent_keys, check_all);
