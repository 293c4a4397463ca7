/* The loop's pass, run before it blocks: reconcile what changed, start
 * queued requests within the budgets, flush the batches.  Calls
 * reconcile.c, rounds.c, commit.c, report.c, txn.c, req.c, watch.c. */
#include "controller/core.h"

#include <stddef.h>

static void pass_each(void *arg, const char *key, void *val)
{
	struct ctrl *c = arg;
	struct ctrl_req *r = val;

	(void)key;
	/* Ours and idle, or a round of a slot no longer ours (to close), or
	 * held for a list (its hold ends, or it is freed, once it is in). */
	if (slot_mine(c, r->slot) ? r->act == ACT_NONE
				  : r->act == ACT_ROUND || r->hold_seq)
		ctrl_req_dirty(r);
}

/* Runs before the loop blocks: reconcile what changed, start queued
 * placements within the in-flight budget, flush commit batches.  A pass
 * starts PASS_START queued requests at most: a deep queue of requests
 * that fit nowhere (each a scan of every host) otherwise held the loop for
 * seconds a pass and took 4 times as long to drain.  Every request
 * started makes an etcd request whose answer runs the next pass (the
 * pass timer too). */
void ctrl_pass(struct ctrl *c)
{
	struct ctrl_req *r, *list, *gc = NULL;
	struct ctrl_qitem *it;
	unsigned started = 0;

	if (!c->cache_ready || c->listing)
		return;
	/* A list a request waits for (a rewrite moved it into a slot we
	 * lead, ctrl_req_reslot), none started yet. */
	if (c->want_seq > c->done_seq)
		ctrl_watch_relist(c, 0.0);
	if (c->pass_all) {
		c->pass_all = false;
		ctrl_map_each(&c->reqs, pass_each, c);
	}
	while ((list = c->dirty_head)) {
		c->dirty_head = NULL;
		while ((r = list)) {
			list = r->dirty_next;
			r->dirty = false;
			ctrl_reconcile(c, r);
			if (!r->req_present && !r->st_present && !r->n_asg &&
			    !r->n_vms && r->act == ACT_NONE && !r->dirty) {
				r->dirty_next = gc;
				gc = r;
			}
		}
	}
	while ((r = gc)) {
		gc = r->dirty_next;
		if (!r->dirty)
			ctrl_req_maybe_free(c, r);
	}
	/* Open rounds count against the budget too: without that a burst
	 * opened a round per queued request, hosts could not bid in time,
	 * and rounds timed out and were opened again. */
	while (c->inflight + c->rounds_open + c->rounds_sending <
		   (unsigned)c->cfg->max_inflight &&
	       c->rounds_open + c->rounds_sending < ctrl_round_max(c) &&
	       started++ < PASS_START && (it = ctrl_queue_pop(&c->queue))) {
		r = (struct ctrl_req *)((char *)it -
					offsetof(struct ctrl_req, q));
		r->act = ACT_NONE;
		if (slot_mine(c, r->slot) && r->req_present && r->valid)
			ctrl_round_start(c, r);
	}
	ctrl_alloc_rebuild_all(c);
	ctrl_drain_sweep(c);
	ctrl_round_flush(c);
	ctrl_commit_flush(c);
	ctrl_report_flush(c);
	ctrl_badkey_flush(c);
	for (unsigned i = 0; i < c->k; i++)
		ctrl_txn_gc_flush(c, i);
	ctrl_host_gc(c);
}
