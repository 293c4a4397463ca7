/* The controller's configuration table (docs/DESIGN.md "Config").
 * Pure data for config/; calls nothing in controller/. */
#include "controller/service.h"

#include <stddef.h>
#include <stdio.h>

#include "common/model.h"

/* Below this, a host between two rewrites of its record looks stale. */
#define STALE_MIN_S 30

static int check_all(const void *cfg, struct cfg_check *ck)
{
	const struct ctrl_config *c = cfg;
	int rc = cfg_etcd_check(&c->etcd, ck);

	if (rc == 0 && c->host_stale_after_s > 0 &&
	    c->host_stale_after_s < STALE_MIN_S)
		rc = cfg_check_fail(ck, "scheduling.host_stale_after_s",
				    "must be 0 (off) or at least %d (a few "
				    "times the agents' "
				    "agent.report_interval_s), got %lld",
				    STALE_MIN_S,
				    (long long)c->host_stale_after_s);
	return rc;
}

static const char *const bidding_names[] = {"broadcast", "sample", "cached",
					    NULL};
static const char *const strategy_names[] = {"spread", "binpack", NULL};

static const struct cfg_key ctrl_keys[] = {
	CFG_ETCD_KEYS(struct ctrl_config, etcd),
	CFG_LOG_KEYS(struct ctrl_config, log),
	CFG_KEY_STRING_CHECK("controller.name", struct ctrl_config, name,
			     "\"\"", fs_name_check,
			     "controller name; empty = host name"),
	CFG_KEY_INT("controller.coordinators", struct ctrl_config,
		    coordinators, "3", 1, 256,
		    "coordinator slots K (pinned cluster-wide in P/meta)"),
	CFG_KEY_INT("controller.lease_ttl_s", struct ctrl_config, lease_ttl_s,
		    "10", 2, 300,
		    "lease TTL: a dead controller's slots move after this"),
	CFG_KEY_INT("controller.max_host_keepalives_per_s", struct ctrl_config,
		    max_host_keepalives_per_s, "50", 0, 1000000,
		    "warn when the live hosts renew their leases more often "
		    "than this (each renewal costs etcd a read; agents renew "
		    "every agent.lease_ttl_s / 3), naming the lease TTL that "
		    "keeps under it; 0 = off"),
	CFG_KEY_ENUM("scheduling.bidding", struct ctrl_config, bidding,
		     "sample", bidding_names,
		     "broadcast | sample | cached: who is asked for a bid"),
	CFG_KEY_INT("scheduling.candidates", struct ctrl_config, candidates,
		    "3", 1, 64, "hosts invited per round with sample"),
	CFG_KEY_INT("scheduling.bid_timeout_ms", struct ctrl_config,
		    bid_timeout_ms, "1000", 10, 60000,
		    "a round closes after this even if hosts are silent"),
	CFG_KEY_INT("scheduling.max_attempts", struct ctrl_config,
		    max_attempts, "3", 1, 100,
		    "placements (and commit retries) before giving up"),
	CFG_KEY_INT("scheduling.lost_after_s", struct ctrl_config,
		    lost_after_s, "300", 0, 604800,
		    "a host whose lease expired is disconnected this long "
		    "(its VMs kept) before its VMs are lost and rescheduled; "
		    "0: at once"),
	CFG_KEY_ENUM("scheduling.strategy", struct ctrl_config, strategy,
		     "spread", strategy_names,
		     "spread: least utilised host; binpack: most"),
	CFG_KEY_DOUBLE("scheduling.weights.cpu", struct ctrl_config, w_cpu,
		       "1.0", 0, 100, "score weight of vCPU utilisation"),
	CFG_KEY_DOUBLE("scheduling.weights.memory", struct ctrl_config,
		       w_memory, "1.0", 0, 100,
		       "score weight of memory utilisation"),
	CFG_KEY_DOUBLE("scheduling.weights.vms", struct ctrl_config, w_vms,
		       "0.5", 0, 100, "score weight of the VM count"),
	CFG_KEY_INT("scheduling.max_inflight", struct ctrl_config,
		    max_inflight, "512", 1, 4096,
		    "etcd transactions plus open bid rounds in flight per "
		    "controller"),
	CFG_KEY_INT("scheduling.score_hosts", struct ctrl_config,
		    score_hosts, "100", 0, 1000000,
		    "cached: a placement stops looking after this many "
		    "hosts that fit, the next one starting where it "
		    "stopped (0 = score every host)"),
	CFG_KEY_DOUBLE("scheduling.partition_band", struct ctrl_config,
		       partition_band, "0.05", 0, 1,
		       "with several coordinators, a host of another "
		       "partition must score this much better to be chosen "
		       "(keeps coordinators off each other's hosts)"),
	CFG_KEY_INT("scheduling.batch", struct ctrl_config, batch, "32", 1,
		    40, "placements committed per transaction at most"),
	CFG_KEY_INT("scheduling.host_stale_after_s", struct ctrl_config,
		    host_stale_after_s, "900", 0, 604800,
		    "a host whose record its agent did not rewrite for this "
		    "long is stale, its lease alive or not: placed on no "
		    "more, its VMs as on a disconnected host (agents "
		    "rewrite every agent.report_interval_s, 300 by default; "
		    "0 = off)"),
	CFG_KEY_INT("scheduling.preemption.max_victims", struct ctrl_config,
		    max_victims, "0", 0, 32,
		    "a request that fits nowhere may evict at most this many "
		    "preemptible VMs of lower priority from one host "
		    "(0 = preemption off)"),
	CFG_KEY_STRING_CHECK("http.listen", struct ctrl_config, http_listen,
			     "\"\"", cfg_check_listen,
		       "IPv4 HOST:PORT (e.g. 127.0.0.1:9101) serving /healthz "
		       "(200 with a live session and watch, else 503) and "
		       "/metrics (Prometheus text); empty = off"),
};

const struct cfg_schema ctrl_config_schema =
    CFG_SCHEMA_CHECK(ctrl_keys, check_all);
