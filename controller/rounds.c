/* How a queued request starts placing: bid rounds (sample, broadcast)
 * opened, batched per slot, their bids ranked when they close; cached mode
 * goes straight to the ready list.  Calls place.c, report.c, txn.c, req.c,
 * host.c, key.c. */
#include "controller/core.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Scores every live host from the cache (ctrl_place_rate): fills
 * r->cands with the ones that fit and r->explain with the others. */
struct plan_ctx {
	struct ctrl *c;
	struct ctrl_req *r;
	struct ctrl_place pl;
	int rc;
};

static void plan_each(struct plan_ctx *p, struct ctrl_host *h)
{
	struct ctrl *c = p->c;
	struct ctrl_req *r = p->r;
	struct ctrl_cand cand;
	int rc;

	if (p->rc < 0)
		return;
	rc = ctrl_place_rate(&p->pl, h, &r->explain, &cand);
	if (rc <= 0) {
		p->rc = rc;
		return;
	}
	if (!r->cands) {
		/* one allocation for the scan, not one per host */
		r->cands = malloc(c->hosts.n * sizeof(*r->cands));
		if (!r->cands) {
			p->rc = -ENOMEM;
			return;
		}
	}
	r->cands[r->n_cands++] = cand;
	((struct ctrl_host *)cand.data)->refs++; /* ctrl_req_cands_clear */
}

/* Rates the hosts for r's round.  broadcast: every host.  sample: from
 * the cursor cached mode uses, stopping after score_hosts (0: all) that
 * fit, the next round starting where this one stopped, as a cached pick
 * does (DESIGN.md, Bidding).  At 2,000 hosts the full scan was half the
 * controller's CPU per sample placement, which grew 1.5x from 100
 * hosts; the windows tile the host list, so the invitations still
 * spread over every host. */
static void plan_scan(struct plan_ctx *p)
{
	struct ctrl *c = p->c;
	size_t n = c->n_harr, i, want = 0;

	if (c->cfg->bidding == CTRL_BID_SAMPLE)
		want = (size_t)c->cfg->score_hosts;
	if (c->cursor >= n)
		c->cursor = 0;
	for (i = 0; i < n && p->rc >= 0; i++) {
		plan_each(p, c->harr[(c->cursor + i) % n]);
		if (want && p->r->n_cands >= want) {
			i++;
			break;
		}
	}
	c->cursor = n ? (c->cursor + i) % n : 0;
}

static void round_flush_slot(struct ctrl *c, unsigned i)
{
	ctrl_txn_batch_flush(&c->rbatch[i], "open", "rounds");
}

void ctrl_round_flush(struct ctrl *c)
{
	for (unsigned i = 0; i < c->k; i++)
		round_flush_slot(c, i);
}

static void on_round_timeout(struct ev_loop *loop, ev_timer *w, int revents);

/* A round's bid timeout: bid_timeout_ms, doubled for each round of this
 * revision that closed with invited hosts silent (up to 8 times): hosts
 * too loaded to answer in bid_timeout_ms (an agent of 20 simulated hosts
 * under ASan) missed every round of the same length. */
static double round_timeout_s(const struct ctrl *c, const struct ctrl_req *r)
{
	int64_t k = r->waits < 3 ? r->waits : 3;

	return (double)(c->cfg->bid_timeout_ms << k) / 1000.0;
}

/* The wait before the next round after the k-th silent one: bid_timeout,
 * doubled each time, 30 s at most. */
static double round_backoff_s(const struct ctrl *c, int64_t k)
{
	double d = (double)c->cfg->bid_timeout_ms / 1000.0;

	for (int64_t i = 1; i < k && d < 30; i++)
		d *= 2;
	return d < 30 ? d : 30;
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	ctrl_req_dirty(w->data);
}

/* True while r waits before its next round; the round timer (idle
 * between rounds) marks it dirty when the wait is over. */
bool ctrl_round_backoff(struct ctrl *c, struct ctrl_req *r)
{
	double left = r->retry_at - ev_now(c->loop);

	if (left <= 0)
		return false;
	ev_timer_stop(c->loop, &r->round_timer);
	ev_timer_init(&r->round_timer, on_retry, left, 0);
	r->round_timer.data = r;
	ev_timer_start(c->loop, &r->round_timer);
	return true;
}

/* The round put's txn ended: the round is open (its timer runs), or
 * abandoned. */
static void round_done(struct ctrl_txn *t, struct ctrl_req *r, bool ok,
		       int64_t rev)
{
	struct ctrl *c = t->c;

	(void)rev;
	r->round_sending = false;
	if (c->rounds_sending)
		c->rounds_sending--;
	if (ok && slot_mine(c, r->slot) && r->req_present &&
	    r->req_rev == r->plan_req_rev) {
		r->act = ACT_ROUND;
		r->round_open = true;
		r->extends = 0;
		c->rounds_open++;
		r->round_timer.data = r;
		ev_timer_stop(c->loop, &r->round_timer);
		ev_timer_init(&r->round_timer, on_round_timeout,
			      round_timeout_s(c, r), 0);
		ev_timer_start(c->loop, &r->round_timer);
		ctrl_req_dirty(r); /* bids may all be in already */
		return;
	}
	ctrl_req_round_reset(r);
}

/* A put of a copy of js (a NULL value would be a delete). */
static void put_copy(struct ctrl *c, struct ctrl_txn *t, char *key,
		     const char *js)
{
	char *v = strdup(js);

	if (!v) {
		free(key);
		t->err = -ENOMEM;
		return;
	}
	ctrl_txn_op(t, key, v, c->lease);
}

/* Adds the ops of r's round to t: broadcast, the round key; sample, one
 * invitation per invited host (P/invites/<host>/<id>, each the round's
 * value), and the deletes of the invitations of an earlier round that
 * this one does not renew. */
static void round_ops(struct ctrl *c, struct ctrl_txn *t, struct ctrl_req *r,
		      bool broadcast, const char *js)
{
	if (broadcast) {
		r->round_key = true;
		put_copy(c, t, ctrl_keyf("%srounds/%s", c->prefix, r->id), js);
		return;
	}
	for (size_t i = 0; i < r->n_inv; i++) {
		bool again = false;

		for (size_t j = 0; j < r->n_invited && !again; j++)
			again = strcmp(r->inv[i], r->invited[j]) == 0;
		if (!again)
			ctrl_txn_op(t,
				    ctrl_keyf("%sinvites/%s/%s", c->prefix,
					      r->inv[i], r->id),
				    NULL, 0);
	}
	for (size_t i = 0; i < r->n_invited; i++) {
		if (ctrl_req_inv_add(r, r->invited[i]) < 0)
			t->err = -ENOMEM; /* a key we could not delete */
		put_copy(c, t,
			 ctrl_keyf("%sinvites/%s/%s", c->prefix, r->invited[i],
				   r->id),
			 js);
	}
}

/* Stale hosts counted in r's explain: their agents are presumed dead, so
 * a broadcast round does not wait for their bids. */
static size_t stale_hosts(const struct ctrl *c, const struct ctrl_req *r)
{
	for (size_t i = 0; i < r->explain.n_rejected; i++)
		if (strcmp(r->explain.rejected[i].reason, c->stale_reason) ==
		    0)
			return (size_t)r->explain.rejected[i].count;
	return 0;
}

/*
 * Opens a bid round for r among r->cands (sample) or every host.  The
 * round puts of a slot are batched into one fenced txn per loop iteration
 * (a put needs no compare but the fence): one txn per round was most of a
 * sample placement's etcd requests from the controller.  A sample round
 * is one invitation key per invited host, which only that host watches:
 * its cost to etcd does not grow with the fleet.
 */
static void act_round(struct ctrl *c, struct ctrl_req *r, bool broadcast)
{
	struct ctrl_txn *t = c->rbatch[r->slot];
	struct fs_round rd = {0};
	size_t n_ops;
	char *js;

	if (!broadcast) {
		size_t n = ctrl_cand_lowest(r->cands, r->n_cands,
					    (size_t)c->cfg->candidates);

		r->invited = calloc(n ? n : 1, sizeof(char *));
		if (!r->invited)
			return;
		for (size_t i = 0; i < n; i++) {
			struct ctrl_host *h = r->cands[i].data;

			r->invited[i] = strdup(r->cands[i].host);
			if (r->invited[i]) {
				r->n_invited++;
				h->invites++;
			}
		}
	} else {
		/* Every live host, and every one bids, fit or not. */
		r->invited = NULL;
	}
	r->n_expect = broadcast ? (size_t)r->explain.hosts - stale_hosts(c, r)
				: r->n_invited;
	r->round_attempt = (r->st_present && r->st.request_rev == r->spec_rev
				    ? r->st.attempt
				    : 0) +
			   1 + r->tries * 1000;
	/* Agents take a round put with the attempt they answered last for a
	 * re-list and skip it: each round of a request key needs its own. */
	if (r->round_attempt <= r->last_attempt)
		r->round_attempt = r->last_attempt + 1;
	r->last_attempt = r->round_attempt;
	rd.attempt = r->round_attempt;
	rd.hosts = r->invited;
	rd.n_hosts = r->n_invited;
	rd.deadline_ms = fs_now_ms() + (int64_t)(round_timeout_s(c, r) * 1000);
	rd.need = r->parsed.need;
	rd.coordinator = (char *)ctrl_report_coord(c, r->slot);
	/* The agents score bids as this coordinator scores its cache: with
	 * the defaults instead (spread, weights 1/1/1), bids outranked the
	 * cache's scores (vms weighs 0.5), so that stale bids decided and
	 * 10,000 broadcast placements on 50 hosts spread 56-63 VMs. */
	rd.strategy = (enum fs_strategy)c->cfg->strategy;
	rd.weights = c->w;
	js = fs_round_format(&rd);
	if (!js)
		return;
	/* Puts of the invited, deletes of the earlier round's others. */
	n_ops = broadcast ? 1 : r->n_invited + r->n_inv;
	if (t && (t->n_reqs >= TXN_REQS ||
		  !ctrl_txn_room(t, 0, n_ops,
				 n_ops * (strlen(js) + ctrl_key_max(c))))) {
		round_flush_slot(c, r->slot);
		t = NULL;
	}
	if (!t) {
		t = ctrl_txn_new(c, TXN_ROUND, r->slot, round_done);
		if (!t) {
			free(js);
			return;
		}
		ctrl_txn_fence(t);
		snprintf(t->what, sizeof(t->what), "open round for %s", r->id);
		c->rbatch[r->slot] = t;
	}
	r->round_sending = true;
	c->rounds_sending++;
	round_ops(c, t, r, broadcast, js);
	free(js);
	t->reqs[t->n_reqs++] = r;
	r->act = ACT_TXN;
}

/* No bid fits, and some invited hosts did not answer: no host refused
 * for lack of room, so this is no "unschedulable" (which waits for a
 * capacity change, and a silent host is none).  The status says the
 * request waits for bids, and the next round comes after a backoff. */
static void round_wait(struct ctrl *c, struct ctrl_req *r,
		       struct ctrl_explain *ex, size_t silent, size_t expect)
{
	struct ctrl_status s;
	double delay = round_backoff_s(c, ++r->waits);

	r->retry_at = ev_now(c->loop) + delay;
	ctrl_explain_clear(&r->explain);
	r->act = ACT_NONE;
	ctrl_report_init(&s, CTRL_PENDING, r);
	ctrl_report_carry(&s, r);
	ctrl_report_explain_take(&s, ex);
	ctrl_report_reason(&s,
			   "waiting for bids: no bid before timeout from %zu "
			   "of %zu invited hosts; next round in %.3g s",
			   silent, expect, delay);
	fs_info("%s: %s", r->id, s.reason);
	ctrl_report_status(c, r, &s, "wait for bids");
	ctrl_req_dirty(r); /* if the write could not be queued */
}

/* The round of r ended (all bids in, or the timeout): rank the bids. */
void ctrl_round_close(struct ctrl *c, struct ctrl_req *r, bool timeout)
{
	struct ctrl_explain ex = {0};
	size_t nb = 0, expect, silent;

	ev_timer_stop(c->loop, &r->round_timer);
	if (r->round_open && c->rounds_open)
		c->rounds_open--;
	r->round_open = false;
	ex.hosts = r->explain.hosts;
	ex.feasible = r->explain.feasible;
	ex.bids = (int64_t)r->n_bids;
	ctrl_req_cands_clear(r);
	r->cands = calloc(r->n_bids ? r->n_bids : 1, sizeof(*r->cands));
	if (!r->cands) {
		/* Out of memory is no "no bid": plan again, no attempt
		 * counted (the bids' keys go with the next round's reset). */
		ctrl_explain_clear(&r->explain);
		r->act = ACT_NONE;
		ctrl_req_dirty(r);
		return;
	}
	for (size_t i = 0; i < r->n_bids; i++) {
		struct ctrl_host *h = ctrl_host_get(c, r->bids[i].host, false);

		if (!r->bids[i].bid.fits || !ctrl_host_live(h) ||
		    ctrl_req_avoids(r, h->name)) {
			ctrl_explain_add(&ex, r->bids[i].bid.fits
						      ? "host gone"
						      : r->bids[i].bid.reason);
			continue;
		}
		r->cands[nb++] = (struct ctrl_cand){
			.host = h->name, .score = r->bids[i].bid.score,
			.tiebreak = fs_tiebreak(r->id, h->name), .data = h};
		h->refs++; /* ctrl_req_cands_clear */
	}
	r->n_cands = nb;
	expect = r->n_expect;
	silent = timeout && r->n_bids < expect ? expect - r->n_bids : 0;
	for (size_t i = r->n_bids; timeout && i < expect; i++)
		ctrl_explain_add(&ex, "no bid before timeout");
	if (timeout && r->n_bids < expect)
		c->m.round_timeouts++;
	if (timeout && r->n_bids < expect)
		fs_info("%s: round closed at timeout with %zu of %zu bids",
			r->id, r->n_bids, expect);
	if (nb == 0 && silent) {
		round_wait(c, r, &ex, silent, expect);
		return;
	}
	if (nb == 0) {
		r->tries++;
		if (r->tries < c->cfg->max_attempts) {
			/* Cache said yes, hosts said no: plan again. */
			ctrl_explain_clear(&ex);
			ctrl_explain_clear(&r->explain);
			r->act = ACT_NONE;
			ctrl_req_dirty(r);
			return;
		}
		ctrl_explain_clear(&r->explain);
		r->act = ACT_NONE;
		ctrl_report_unschedulable(c, r, &ex, "no host bid to take it");
		return;
	}
	ctrl_explain_clear(&r->explain);
	r->explain = ex;
	ctrl_cand_sort(r->cands, r->n_cands);
	ctrl_req_ready_push(c, r);
}

/* Times a round's timeout finds no bid at all and waits again before
 * closing it. */
#define ROUND_EXTENDS 2

static void on_round_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctrl_req *r = w->data;
	struct ctrl *c = r->c;

	(void)revents;
	if (r->act != ACT_ROUND || !r->round_open)
		return;
	/* No bid yet: the invitations or the bids are queued behind a
	 * loaded etcd or loop, not refused.  Closing threw away the bids on
	 * their way (the next round has a new attempt): under a burst of
	 * requests put one by one, 1,541 of 3,500 sample rounds of a bench
	 * run closed "with 0 of 3 bids" while the 3 bids were already in
	 * etcd, and each such round cost a status write, new invitations
	 * and new bids.  The round stays open for another timeout, twice. */
	if (r->n_bids == 0 && r->extends < ROUND_EXTENDS) {
		r->extends++;
		c->m.round_extends++;
		ev_timer_set(w, round_timeout_s(c, r), 0);
		ev_timer_start(loop, w);
		return;
	}
	ctrl_round_close(c, r, true);
}

/* Deletes the bid keys of r that no open round holds (r->stale). */
void ctrl_round_gc(struct ctrl *c, struct ctrl_req *r)
{
	for (size_t i = 0; i < r->n_stale; i++)
		ctrl_txn_gc_del(c, r->slot,
				ctrl_keyf("%sbids/%s/%s", c->prefix,
					  r->stale[i], r->id));
	r->n_stale = 0;
}

/* Starts placing r (popped from the queue). */
void ctrl_round_start(struct ctrl *c, struct ctrl_req *r)
{
	struct plan_ctx p = {c, r, {0}, 0};
	struct ctrl_groups groups = {0};

	ctrl_req_round_reset(r);
	ctrl_round_gc(c, r); /* the last round's bids */
	r->plan_req_rev = r->req_rev;
	r->plan_st_rev = r->st_present ? r->st_rev : 0;
	if (c->cfg->bidding == CTRL_BID_CACHED || r->parsed.gang) {
		/* No scan here: batch_add scans once, when r joins a batch
		 * (pick_cached), and counts the explain then.  A gang's
		 * members are placed from the cache in every mode: all in
		 * one txn (commit.c). */
		ctrl_req_ready_push(c, r);
		return;
	}
	ctrl_req_place(c, r, &p.pl);
	p.rc = ctrl_place_groups(&p.pl, c->harr, c->n_harr, &groups);
	plan_scan(&p);
	ctrl_groups_clear(&groups);
	if (p.rc < 0) {
		ctrl_req_round_reset(r);
		r->act = ACT_NONE;
		return;
	}
	if (r->n_cands == 0) {
		struct ctrl_explain ex = r->explain;

		memset(&r->explain, 0, sizeof(r->explain));
		ctrl_preempt_or_wait(c, r, &ex);
		ctrl_explain_clear(&ex);
		return;
	}
	switch ((enum ctrl_bidding)c->cfg->bidding) {
	case CTRL_BID_CACHED: /* above */
	case CTRL_BID_SAMPLE:
		act_round(c, r, false);
		break;
	case CTRL_BID_BROADCAST:
		act_round(c, r, true);
		break;
	}
}

/* Open rounds at most, so that the hosts can bid on them all before
 * bid_timeout_ms: a broadcast round asks every host for a bid, and 512
 * rounds over 50 hosts (25,600 bids) timed out again and again. */
unsigned ctrl_round_max(const struct ctrl *c)
{
	size_t per = c->cfg->bidding == CTRL_BID_BROADCAST
			     ? c->n_harr
			     : (size_t)c->cfg->candidates;

	if (c->cfg->bidding == CTRL_BID_CACHED)
		return UINT_MAX;
	return per ? (unsigned)(ROUND_BIDS / per) + 1 : UINT_MAX;
}
