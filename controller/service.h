/*
 * The controller service: one etcd lease, registration under
 * P/controllers/<name>, coordinator slots won through etcd elections,
 * one list+watch cache of the prefix (statuses and assignments from the
 * list and from its own txns, not watched), and per request a
 * level-triggered reconcile that places, releases and reports
 * (docs/DESIGN.md "Placement protocol").
 */
#ifndef FLINTSCHED_CTRL_SERVICE_H
#define FLINTSCHED_CTRL_SERVICE_H

#include <stdint.h>

#include "config/cfg.h"

enum ctrl_bidding { CTRL_BID_BROADCAST, CTRL_BID_SAMPLE, CTRL_BID_CACHED };

struct ctrl_config {
	struct cfg_etcd etcd;
	struct cfg_log log;
	char *name;
	int64_t coordinators;
	int64_t lease_ttl_s;
	int bidding;  /* enum ctrl_bidding */
	int64_t candidates;
	int64_t bid_timeout_ms;
	int64_t max_attempts;
	int64_t lost_after_s;
	int strategy; /* enum fs_strategy */
	double w_cpu, w_memory, w_vms;
	int64_t max_inflight;
	int64_t score_hosts;
	double partition_band;
	int64_t batch;
	char *http_listen;
	int64_t host_stale_after_s; /* 0: off */
	int64_t max_victims; /* scheduling.preemption.max_victims, 0: off */
	int64_t max_host_keepalives_per_s; /* warn above it; 0: off */
};

extern const struct cfg_schema ctrl_config_schema;

struct ev_loop;
typedef struct ctrl ctrl;

/* Starts the service on loop (it runs as the loop runs).  cfg is
 * borrowed for the service's lifetime; password may be NULL.  Returns 0,
 * or a negative errno with a message in err. */
int ctrl_new(struct ev_loop *loop, const struct ctrl_config *cfg,
	     const char *password, ctrl **ret, char *err, size_t errlen);
/* Non-zero once the service hit a fatal error (message in err): the
 * binary should exit 1.  0 while healthy. */
int ctrl_fatal(const ctrl *c, char *err, size_t errlen);
/* Resigns held slots, revokes the lease, frees.  Runs the loop briefly.
 * Accepts NULL; returns NULL. */
ctrl *ctrl_free(ctrl *c);

#endif
