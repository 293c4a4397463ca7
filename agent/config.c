/* The agent's key table (config.h). */
#include "agent/config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "common/model.h"

#define C struct agent_config

static int agent_config_check(const void *cfg, struct cfg_check *ck);

static const char *const executor_types[] = {"flintlock", "exec", "simulate",
					     NULL};
/* In enum agent_fl_transport order. */
static const char *const fl_transports[] = {"grpc", "http", NULL};

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
	CFG_KEY_ENUM("executor.flintlock.transport", C, fl_transport, "grpc",
		     fl_transports,
		     "how to reach flintlockd: grpc (its API) or http (its "
		     "--enable-http gateway: plain HTTP, --insecure hosts only)"),
	CFG_KEY_STRING("executor.flintlock.endpoint", C, fl_endpoint,
		       "127.0.0.1:9090",
		       "flintlockd: host:port of --grpc-endpoint for grpc, "
		       "http://host:port of --http-endpoint for http"),
	CFG_KEY_BOOL("executor.flintlock.insecure", C, fl_insecure, "false",
		     "grpc without TLS (plaintext HTTP/2), for a flintlockd "
		     "run with --insecure"),
	CFG_KEY_STRING("executor.flintlock.tls.ca", C, fl_tls_ca, "\"\"",
		       "CA bundle that signed flintlockd's certificate; empty "
		       "= the system's"),
	CFG_KEY_STRING("executor.flintlock.tls.cert", C, fl_tls_cert, "\"\"",
		       "client certificate (PEM) for mTLS "
		       "(--tls-client-validate); empty = none"),
	CFG_KEY_STRING("executor.flintlock.tls.key", C, fl_tls_key, "\"\"",
		       "the client certificate's private key (PEM)"),
	CFG_KEY_STRING("executor.flintlock.tls.server_name", C,
		       fl_tls_server_name, "\"\"",
		       "name flintlockd's certificate must carry, when not the "
		       "endpoint's host"),
	CFG_KEY_STRLIST("executor.flintlock.allowed_namespaces", C,
			fl_allowed_ns, "[]",
			"namespaces a request may name besides "
			"executor.flintlock.namespace; default none"),
	CFG_KEY_STRING("executor.flintlock.token_file", C, fl_token_file,
		       "\"\"",
		       "file with flintlockd's --basic-auth-token; empty = "
		       "none"),
	CFG_KEY_STRING("executor.flintlock.namespace", C, fl_namespace,
		       "default",
		       "flintlockd namespace of this host's VMs"),
	CFG_KEY_INT("executor.flintlock.timeout_ms", C, fl_timeout_ms, "10000",
		    100, 600000, "deadline of one call to flintlockd"),
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
	CFG_SCHEMA_CHECK(agent_keys, agent_config_check);

/* host:port or [v6]:port, port 1..65535; slash: a trailing "/" is fine. */
static bool fl_hostport_ok(const char *s, bool slash)
{
	const char *colon, *p;
	unsigned long port = 0;
	size_t n = 0;

	if (*s == '[') {
		colon = strchr(s, ']');
		if (!colon || colon[1] != ':' || colon == s + 1)
			return false;
		colon++;
	} else {
		colon = strchr(s, ':');
		if (!colon || colon == s)
			return false;
	}
	for (p = s; p < colon; p++)
		if (strchr("/@?# \t", *p))
			return false;
	for (p = colon + 1; *p >= '0' && *p <= '9' && n < 6; p++, n++)
		port = port * 10 + (unsigned long)(*p - '0');
	if (n == 0 || port == 0 || port > 65535)
		return false;
	return *p == '\0' || (slash && p[0] == '/' && p[1] == '\0');
}

/* A file the agent will read: an error now rather than at the first VM. */
static int check_file(struct cfg_check *ck, const char *key, const char *path)
{
	if (*path && access(path, R_OK) != 0)
		return cfg_check_fail(ck, key, "cannot read \"%s\": %s", path,
				      strerror(errno));
	return 0;
}

/* executor.flintlock.*, when it is the executor: the endpoint's form per
 * transport, TLS files readable, names that flintlockd takes. */
static int agent_config_check(const void *cfg, struct cfg_check *ck)
{
	const struct agent_config *c = cfg;
	const char *ep = c->fl_endpoint;
	int r;

	if ((r = cfg_etcd_check(&c->etcd, ck)) < 0)
		return r;
	if (c->executor == AGENT_EXEC_EXEC && !*c->exec_create)
		return cfg_check_fail(ck, "executor.type",
				      "exec needs executor.exec.create, the "
				      "command that creates a VM");
	if (c->executor != AGENT_EXEC_FLINTLOCK)
		return 0;
	if (c->fl_transport == AGENT_FL_HTTP) {
		if (strncmp(ep, "http://", 7) != 0 ||
		    !fl_hostport_ok(ep + 7, true))
			return cfg_check_fail(
				ck, "executor.flintlock.endpoint",
				"want http://host:port for transport http "
				"(flintlockd's gateway is plain HTTP), got "
				"\"%.200s\"",
				ep);
		if (*c->fl_tls_ca || *c->fl_tls_cert || *c->fl_tls_key ||
		    *c->fl_tls_server_name)
			return cfg_check_fail(
				ck,
				*c->fl_tls_ca	    ? "executor.flintlock.tls.ca"
				: *c->fl_tls_cert ? "executor.flintlock.tls.cert"
				: *c->fl_tls_key  ? "executor.flintlock.tls.key"
						  : "executor.flintlock.tls."
						    "server_name",
				"TLS is not used by transport http (the "
				"gateway is plain HTTP): use transport grpc");
	} else if (!fl_hostport_ok(ep, false)) {
		return cfg_check_fail(ck, "executor.flintlock.endpoint",
				      "want host:port for transport grpc "
				      "(flintlockd's --grpc-endpoint), got "
				      "\"%.200s\"",
				      ep);
	}
	if (c->fl_transport == AGENT_FL_GRPC && !c->fl_insecure) {
		if (*c->fl_tls_cert && !*c->fl_tls_key)
			return cfg_check_fail(ck, "executor.flintlock.tls.cert",
					      "a client certificate needs "
					      "executor.flintlock.tls.key");
		if (*c->fl_tls_key && !*c->fl_tls_cert)
			return cfg_check_fail(ck, "executor.flintlock.tls.key",
					      "a key needs "
					      "executor.flintlock.tls.cert");
		if ((r = check_file(ck, "executor.flintlock.tls.ca",
				    c->fl_tls_ca)) < 0 ||
		    (r = check_file(ck, "executor.flintlock.tls.cert",
				    c->fl_tls_cert)) < 0 ||
		    (r = check_file(ck, "executor.flintlock.tls.key",
				    c->fl_tls_key)) < 0)
			return r;
		if (strpbrk(c->fl_tls_server_name, ":/@[] \t"))
			return cfg_check_fail(
				ck, "executor.flintlock.tls.server_name",
				"want a DNS name, got \"%.200s\"",
				c->fl_tls_server_name);
	}
	for (size_t i = 0; i < c->fl_allowed_ns.n; i++)
		if (!fs_name_valid(c->fl_allowed_ns.v[i]))
			return cfg_check_fail(
				ck, "executor.flintlock.allowed_namespaces",
				"\"%.100s\" is not a namespace name "
				"([a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?)",
				c->fl_allowed_ns.v[i]);
	if (!fs_name_valid(c->fl_namespace))
		return cfg_check_fail(ck, "executor.flintlock.namespace",
				      "\"%.100s\" is not a namespace name "
				      "([a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?)",
				      c->fl_namespace);
	return 0;
}
