/* /healthz's verdict and /metrics' text, read from the state of every
 * layer; changes nothing.  Calls slots.c, watch.c, txn.c (the latency
 * buckets). */
#include "controller/core.h"

#include <stdio.h>
#include <stdlib.h>

/* Waiting to be placed: a present, valid request of a slot we lead whose
 * current revision is neither placed nor at a final outcome. */
static bool req_pending(const struct ctrl *c, const struct ctrl_req *r)
{
	if (!slot_mine(c, r->slot) || !r->req_present)
		return false;
	if (r->parsed_rev == r->req_rev && !r->valid)
		return false;
	if (!r->st_present || r->st.request_rev != r->spec_rev)
		return true;
	switch (r->st.phase) {
	case CTRL_SCHEDULED:
	case CTRL_RUNNING:
	case CTRL_REJECTED:
	case CTRL_UNSCHEDULABLE:
		return false;
	case CTRL_FAILED:
		return r->st.attempt < c->cfg->max_attempts;
	case CTRL_PENDING:
	case CTRL_LOST:
		return true;
	}
	return true;
}

struct pending_ctx {
	const struct ctrl *c;
	uint64_t n;
};

static void pending_each(void *arg, const char *key, void *val)
{
	struct pending_ctx *p = arg;

	(void)key;
	p->n += req_pending(p->c, val);
}

/* Hosts by lifecycle state: live, disconnected (seen leave, VMs kept),
 * cordoned, draining. */
struct hosts_ctx {
	size_t live, disconnected, cordoned, draining, moving, stale;
};

static void hosts_each(void *arg, const char *key, void *val)
{
	struct hosts_ctx *n = arg;
	const struct ctrl_host *h = val;

	(void)key;
	n->live += ctrl_host_live(h);
	n->disconnected += !h->present && h->gone_at > 0;
	n->stale += h->present && h->stale;
	n->cordoned += h->cordon == CTRL_HOST_CORDONED;
	n->draining += h->cordon == CTRL_HOST_DRAIN;
	n->moving += h->n_moving;
}

/* Why the controller cannot work right now, or NULL when it can. */
const char *ctrl_health(const struct ctrl *c)
{
	if (c->fatal)
		return c->fatal_msg;
	if (!c->session_up && c->session_err[0])
		return c->session_err;
	if (!c->session_up || !c->lease)
		return "no etcd session (lease and registration pending)";
	if (!c->cache_ready)
		return "cache not loaded yet (listing the prefix)";
	if (!ctrl_watch_ok(c))
		return "watch of the prefix is down (reconnecting or "
		       "re-listing)";
	return NULL;
}

#define M_HEAD(f, name, type, help)                                          \
	fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n")

char *ctrl_metrics_text(const struct ctrl *c)
{
	const struct ctrl_metrics *m = &c->m;
	struct pending_ctx pc = {c, 0};
	char *text = NULL;
	size_t len = 0;
	struct hosts_ctx hc = {0};
	uint64_t cum = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	ctrl_map_each(&c->reqs, pending_each, &pc);
	M_HEAD(f, "flintsched_controller_up", "gauge",
	       "1 with a live session, a loaded cache and a watch");
	fprintf(f, "flintsched_controller_up %d\n", !ctrl_health(c));
	M_HEAD(f, "flintsched_controller_slots", "gauge",
	       "coordinator slots K");
	fprintf(f, "flintsched_controller_slots %u\n", c->k);
	M_HEAD(f, "flintsched_controller_slots_held", "gauge",
	       "coordinator slots this controller leads");
	fprintf(f, "flintsched_controller_slots_held %u\n", ctrl_slots_held(c));
	M_HEAD(f, "flintsched_controller_pending", "gauge",
	       "requests of its slots waiting to be placed");
	fprintf(f, "flintsched_controller_pending %llu\n",
		(unsigned long long)pc.n);
	M_HEAD(f, "flintsched_controller_queued", "gauge",
	       "requests in the queue (not yet planned)");
	fprintf(f, "flintsched_controller_queued %zu\n", c->queue.n);
	M_HEAD(f, "flintsched_controller_cached_requests", "gauge",
	       "requests in the cache, of every slot (its memory)");
	fprintf(f, "flintsched_controller_cached_requests %zu\n", c->reqs.n);
	M_HEAD(f, "flintsched_controller_hosts", "gauge",
	       "live hosts in the cache");
	ctrl_map_each(&c->hosts, hosts_each, &hc);
	fprintf(f, "flintsched_controller_hosts %zu\n", hc.live);
	M_HEAD(f, "flintsched_controller_hosts_disconnected", "gauge",
	       "hosts whose lease expired and that are not back (yet)");
	fprintf(f, "flintsched_controller_hosts_disconnected %zu\n",
		hc.disconnected);
	M_HEAD(f, "flintsched_controller_hosts_cordoned", "gauge",
	       "hosts cordoned by P/hostctl/ (no new placements)");
	fprintf(f, "flintsched_controller_hosts_cordoned %zu\n", hc.cordoned);
	M_HEAD(f, "flintsched_controller_hosts_draining", "gauge",
	       "hosts with a drain in P/hostctl/ (cordoned, VMs moved)");
	fprintf(f, "flintsched_controller_hosts_draining %zu\n", hc.draining);
	M_HEAD(f, "flintsched_controller_vms_draining", "gauge",
	       "VMs of its slots still on draining hosts (moving or waiting)");
	fprintf(f, "flintsched_controller_vms_draining %u\n",
		ctrl_drain_pending(c));
	M_HEAD(f, "flintsched_controller_drain_moves_inflight", "gauge",
	       "make-before-break moves in flight, of every controller "
	       "(P/drain/)");
	fprintf(f, "flintsched_controller_drain_moves_inflight %zu\n",
		hc.moving);
	M_HEAD(f, "flintsched_controller_hosts_stale", "gauge",
	       "hosts with a live lease whose record was not rewritten "
	       "within scheduling.host_stale_after_s (placed on no more)");
	fprintf(f, "flintsched_controller_hosts_stale %zu\n", hc.stale);
	M_HEAD(f, "flintsched_controller_host_keepalives_per_second", "gauge",
	       "lease renewals per second of the hosts with a record "
	       "(3 / agent.lease_ttl_s each): etcd's cost of the idle fleet");
	fprintf(f, "flintsched_controller_host_keepalives_per_second %.3f\n",
		c->ka_rate);
	M_HEAD(f, "flintsched_controller_inflight_txns", "gauge",
	       "etcd txns in flight");
	fprintf(f, "flintsched_controller_inflight_txns %u\n", c->inflight);
	M_HEAD(f, "flintsched_controller_rounds_open", "gauge",
	       "bid rounds awaiting bids");
	fprintf(f, "flintsched_controller_rounds_open %u\n", c->rounds_open);
#define M_COUNTER(name, field, help)                                         \
	M_HEAD(f, "flintsched_controller_" name, "counter", help);           \
	fprintf(f, "flintsched_controller_" name " %llu\n",                  \
		(unsigned long long)(field))
	M_COUNTER("placements_total", m->placements,
		  "placements committed by this controller");
	M_COUNTER("commit_txns_total", m->commit_txns, "commit txns sent");
	M_COUNTER("commit_conflicts_total", m->commit_conflicts,
		  "commit txns whose compares failed");
	M_COUNTER("rounds_total", m->rounds, "bid rounds opened");
	M_COUNTER("bids_total", m->bids, "bids received in open rounds");
	M_COUNTER("round_timeouts_total", m->round_timeouts,
		  "rounds closed at bid_timeout_ms with bids missing");
	M_COUNTER("round_extends_total", m->round_extends,
		  "round timeouts that found no bid and waited once more");
	M_COUNTER("rejected_total", m->rejected,
		  "requests marked rejected (invalid)");
	M_COUNTER("unschedulable_total", m->unschedulable,
		  "requests marked unschedulable");
	M_COUNTER("lost_total", m->lost,
		  "placements lost with their host and released");
	M_COUNTER("failed_total", m->failed,
		  "placements whose VM failed, released");
	M_COUNTER("releases_total", m->released,
		  "reservations released (deleted, failed, lost, stray)");
	M_COUNTER("txns_total", m->txns, "etcd txns sent (every kind)");
	M_COUNTER("txn_errors_total", m->txn_errors,
		  "txns that got no answer from etcd");
	M_COUNTER("relists_total", m->relists,
		  "watch restarts by listing again");
	M_COUNTER("invalid_keys_total", m->invalid_keys,
		  "request keys that are no valid id, rejected in "
		  "P/status/_invalid/");
	M_COUNTER("drain_moves_total", m->drain_moves,
		  "make-before-break moves off draining hosts completed");
	M_COUNTER("drain_evictions_total", m->drain_evictions,
		  "VMs of draining hosts released past the drain's deadline "
		  "(break-before-make)");
	M_COUNTER("preemptions_total", m->preemptions,
		  "placements made by evicting VMs of lower priority "
		  "(scheduling.preemption.max_victims)");
#undef M_COUNTER
	M_HEAD(f, "flintsched_controller_placement_seconds", "histogram",
	       "from seeing the request revision to its commit");
	for (size_t i = 0; i < LAT_N; i++) {
		cum += m->lat_bucket[i];
		fprintf(f,
			"flintsched_controller_placement_seconds_bucket"
			"{le=\"%g\"} %llu\n",
			ctrl_lat_bounds[i], (unsigned long long)cum);
	}
	fprintf(f,
		"flintsched_controller_placement_seconds_bucket{le=\"+Inf\"} "
		"%llu\n"
		"flintsched_controller_placement_seconds_sum %.6f\n"
		"flintsched_controller_placement_seconds_count %llu\n",
		(unsigned long long)m->lat_count, m->lat_sum,
		(unsigned long long)m->lat_count);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
