/*
 * The agent's configuration (DESIGN.md "Config", agent part): the struct
 * and the one table (config/cfg.h) that describes every key.
 */
#ifndef FLINTSCHED_AGENT_CONFIG_H
#define FLINTSCHED_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "config/cfg.h"

enum agent_executor_type {
	AGENT_EXEC_FLINTLOCK,
	AGENT_EXEC_EXEC,
	AGENT_EXEC_SIMULATE,
};

/* executor.flintlock.transport */
enum agent_fl_transport {
	AGENT_FL_GRPC,
	AGENT_FL_HTTP,
};

struct agent_config {
	struct cfg_etcd etcd;
	struct cfg_log log;
	char *host;               /* "" = gethostname() */
	char *endpoint;           /* advertised in the host record */
	int64_t lease_ttl_s;
	int64_t report_interval_s;
	double report_threshold;
	char *proc_root;
	struct cfg_strmap labels;
	int64_t cap_vcpu, cap_memory_mb, cap_max_vms; /* CFG_AUTO = detect */
	int64_t reserved_vcpu, reserved_memory_mb;
	double overcommit_cpu, overcommit_memory;
	int executor;             /* enum agent_executor_type */
	int fl_transport;         /* enum agent_fl_transport */
	char *fl_endpoint;
	bool fl_insecure;
	char *fl_tls_ca, *fl_tls_cert, *fl_tls_key, *fl_tls_server_name;
	struct cfg_strlist fl_allowed_ns;
	char *fl_token_file;
	char *fl_namespace;
	int64_t fl_timeout_ms;
	int64_t fl_create_timeout_s;
	int64_t fl_retries;
	char *exec_create;
	char *exec_delete;
	int64_t exec_timeout_s;
	char *http_listen;
};

extern const struct cfg_schema agent_config_schema;

#endif
