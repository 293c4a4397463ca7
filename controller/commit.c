/* Batched commits: ready placements of a slot merged into fenced txns
 * (per-host alloc, a host in at most one txn in flight), the host chosen
 * from place.c.  Calls place.c, report.c, txn.c, req.c, host.c, key.c. */
#include "controller/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"


static char *assign_json(const struct ctrl_req *r, int64_t attempt)
{
	return ctrl_keyf(
	    "{\"request\":%.*s,\"request_rev\":%lld,\"attempt\":%lld}",
	    (int)r->req_len, r->req_val, (long long)r->spec_rev,
	    (long long)attempt);
}

/* Bytes of the alloc value of h after a batch, at most. */
static size_t alloc_max(const struct fs_alloc *a)
{
	size_t n = 160;

	for (size_t i = 0; a && i < a->n_groups; i++)
		n += 32 + strlen(a->groups[i].name);
	return n + 64; /* a group the batch adds */
}

/*
 * cached: the best live host now, scored from the cache plus the
 * placements already in the batch being built (h->tent) or in the commit
 * in flight (h->pend); fills r->explain on the way (one scan of the hosts
 * per placement, no candidate array).  Ranking at plan time instead sent
 * every request planned in one pass to the same few hosts (a batch's own
 * placements did not count), so that spread did not spread (max - min 24
 * VMs of 20 per host).  A host with a commit in flight cannot join
 * another txn until it answers (its alloc revision is unknown): when it
 * is the best, r waits for it (*busy) rather than going to a worse host;
 * skipping such hosts sent whole batches to the one host left out of the
 * batch in flight.  *busy too when nothing fits only because of pending
 * placements.
 *
 * Among equal scores, hosts of the request's own partition
 * (fs_slot_of(host) == slot) come first, then the (request, host) hash:
 * coordinators all compute the same scores from the same cache, so
 * without this they pick the same hosts and their commits fail on each
 * other's alloc compares; ties, the common case on identical hosts,
 * split by partition.  Returns NULL when no host is to be had now.
 */
static struct ctrl_host *pick_cached(struct ctrl *c, struct ctrl_req *r,
				     bool *busy, double *ret_score)
{
	struct ctrl_groups g = {0};
	struct ctrl_place pl;
	struct ctrl_pick pk;
	int rc;

	ctrl_explain_clear(&r->explain);
	memset(&r->explain, 0, sizeof(r->explain));
	ctrl_req_place(c, r, &pl);
	rc = ctrl_place_groups(&pl, c->harr, c->n_harr, &g);
	if (rc == 0)
		rc = ctrl_place_pick(&pl, c->harr, c->n_harr, &c->cursor,
				     (size_t)c->cfg->score_hosts, &r->explain,
				     &pk);
	ctrl_groups_clear(&g);
	if (rc < 0 || pk.busy) {
		*busy = true;
		return NULL;
	}
	*ret_score = pk.score;
	return pk.best;
}

/* batch_add's answers. */
enum { BATCH_ADDED, BATCH_WAIT, BATCH_FULL, BATCH_NOFIT };

/* Adds r to batch t if one of its candidates still fits: BATCH_ADDED;
 * BATCH_WAIT when its best hosts are busy (in a txn in flight),
 * BATCH_FULL when t has no room left for it (send t, then try again),
 * BATCH_NOFIT when nothing fits any more. */
static int batch_add(struct ctrl *c, struct ctrl_txn *t, struct ctrl_req *r)
{
	struct ctrl_host *h = NULL;
	size_t kb = ctrl_key_max(c), cmps, ops, bytes;
	bool busy = false, noasg;
	double score = 0;
	int64_t attempt;
	struct ctrl_status s, *own;
	char *js, *aj;

	if (t->n_reqs >= (size_t)c->cfg->batch || t->n_reqs >= TXN_REQS)
		return BATCH_FULL;
	if (!r->round_attempt) {
		h = pick_cached(c, r, &busy, &score);
		if (!h)
			return busy ? BATCH_WAIT : BATCH_NOFIT;
	} else {
		/* The bidders, ranked by the larger of their bid and the
		 * cache's score with what is pending on them (bids do not
		 * see the placements of other open rounds): the best one
		 * that fits, or wait for it if its commit is in flight. */
		struct ctrl_groups g = {0};
		struct ctrl_place pl;

		ctrl_req_place(c, r, &pl);
		if (ctrl_place_groups(&pl, c->harr, c->n_harr, &g) < 0)
			return BATCH_WAIT;
		h = ctrl_place_bidder(&pl, r->cands, r->n_cands, &score);
		ctrl_groups_clear(&g);
		if (!h)
			return BATCH_NOFIT;
		if (h->locked)
			return BATCH_WAIT;
	}
	if (!h->tent) {
		if (t->n_hosts >= TXN_HOSTS)
			return t->n_reqs ? BATCH_FULL : BATCH_WAIT;
		h->tent = ctrl_place_alloc_dup(h);
		if (!h->tent)
			return BATCH_WAIT;
		h->tent_picks = 0;
		t->hosts[t->n_hosts++] = h;
	}
	attempt = (r->st_present && r->st.request_rev == r->spec_rev
			   ? r->st.attempt
			   : 0) +
		  1;
	ctrl_report_init(&s, CTRL_SCHEDULED, r);
	ctrl_report_carry(&s, r);
	s.attempt = attempt;
	strcpy(s.host, h->name);
	s.score = score;
	s.has_explain = true;
	s.explain = r->explain;
	ctrl_report_reason(
	    &s, "placed on %s: lowest score %.3f of %zu %s", h->name, score,
	    r->round_attempt ? r->n_cands : (size_t)r->explain.feasible,
	    r->round_attempt ? "bids" : "feasible hosts");
	js = ctrl_report_json(c, r, &s);
	own = ctrl_txn_status_dup(&s);
	memset(&s.explain, 0, sizeof(s.explain)); /* still r's */
	ctrl_status_clear(&s);
	aj = assign_json(r, attempt);
	if (!js || !aj) {
		free(js);
		free(aj);
		ctrl_txn_status_drop(own);
		return BATCH_WAIT;
	}
	/* What r adds: 2 compares, 2 puts and its assignment read back,
	 * the alloc compare and put of a host new to the batch (on an
	 * absent alloc, the compare that the host holds no assignment too:
	 * ctrl_txn_cmp_no_asg), and the deletes closing its round (in an
	 * empty batch those that do not fit go to the leftover txn). */
	noasg = h->tent_picks == 0 && !h->alloc_present;
	cmps = (h->tent_picks == 0 ? 4u : 3u) + (noasg ? 1u : 0u);
	ops = h->tent_picks == 0 ? 3u : 2u;
	bytes = strlen(js) + strlen(aj) + 4 * kb +
		(h->tent_picks == 0 ? 3 * kb + alloc_max(h->tent) : 0) +
		(noasg ? 3 * kb : 0);
	if (t->n_reqs == 0
		? !ctrl_txn_room(t, cmps, ops + (ctrl_txn_round_ops(r) > 0),
				 bytes + kb)
		: !ctrl_txn_room(t, cmps, ops + ctrl_txn_round_ops(r),
				 bytes + ctrl_txn_round_ops(r) * kb)) {
		free(js);
		free(aj);
		ctrl_txn_status_drop(own);
		return t->n_reqs ? BATCH_FULL : BATCH_NOFIT;
	}
	if (ctrl_place_tent_add(h, &r->parsed.need) < 0) {
		free(js);
		free(aj);
		ctrl_txn_status_drop(own);
		return BATCH_WAIT;
	}
	if (h->tent_picks++ == 0) {
		t->resv_cmp += noasg ? 2u : 1u;
		t->resv_ok++;
		t->resv_bytes += 3 * kb + alloc_max(h->tent) + (noasg ? 3 * kb : 0);
	}
	ctrl_txn_cmp(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, r->st_present ? r->st_rev : 0);
	ctrl_txn_cmp(t, ctrl_keyf("%srequests/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, r->req_rev);
	ctrl_txn_op(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id), js, 0);
	ctrl_txn_keep_status(t, own);
	ctrl_txn_op(t, ctrl_keyf("%sassign/%s/%s", c->prefix, h->name, r->id),
		    aj, 0);
	ctrl_txn_keep_need(t, &r->parsed.need);
	/* On a failed compare, the assignment written with the status
	 * (a copy of this txn that landed) is read back with it: a status
	 * cached without its assignment was placed again. */
	ctrl_txn_read(t, ctrl_keyf("%sassign/%s/%s", c->prefix, h->name,
				   r->id));
	ctrl_txn_round_close(c, t, r);
	r->pick = h->name;
	r->pick_score = score;
	t->reqs[t->n_reqs++] = r;
	return BATCH_ADDED;
}

/* A commit txn ended: placed, or the next bid that fits on a conflict
 * (or the request re-planned by reconcile). */
static void commit_done(struct ctrl_txn *t, struct ctrl_req *r, bool ok,
			int64_t rev)
{
	struct ctrl *c = t->c;

	if (ok) {
		fs_info("placed %s on %s (score %.3f, attempt %lld, rev %lld)",
			r->id, r->pick, r->pick_score,
			(long long)(r->st_present ? r->st.attempt : 0),
			(long long)rev);
		r->tries = 0;
		r->waits = 0;
		r->retry_at = 0;
		ctrl_req_round_closed(r);
		return;
	}
	r->tries++;
	if (t->answered && slot_mine(c, r->slot) &&
	    r->tries < c->cfg->max_attempts && r->req_rev == r->plan_req_rev &&
	    (r->st_present ? r->st_rev : 0) == r->plan_st_rev) {
		/* A host's alloc moved: next bid that fits. */
		ctrl_req_ready_push(c, r);
		return;
	}
	ctrl_req_round_reset(r);
}

static void batch_send(struct ctrl *c, struct ctrl_txn *t)
{
	size_t used = 0;

	t->resv_cmp = t->resv_ok = t->resv_bytes = 0;
	/* alloc compares and puts for the hosts that got something */
	for (size_t i = 0; i < t->n_hosts; i++) {
		struct ctrl_host *h = t->hosts[i];
		if (h->tent_picks) {
			ctrl_txn_cmp(
			    t, ctrl_keyf("%salloc/%s", c->prefix, h->name),
			    ETCD_CMP_MOD, h->alloc_present ? h->alloc_rev : 0);
			/* An absent alloc is the sum of no assignments
			 * only: a commit that wrote it as this batch's
			 * placements alone, over assignments that no alloc
			 * counted (a delete of the whole alloc, or writes
			 * this cache missed), undercounted the host. */
			if (!h->alloc_present)
				ctrl_txn_cmp_no_asg(t, h);
			ctrl_txn_op(t,
				    ctrl_keyf("%salloc/%s", c->prefix, h->name),
				    fs_alloc_format(h->tent), 0);
			h->locked++;
			t->hosts[used++] = h;
			ctrl_host_pend_clear(h);
			h->pend = h->tent; /* until the answer */
		} else {
			fs_alloc_clear(h->tent);
			free(h->tent);
		}
		h->tent = NULL;
		h->tent_picks = 0;
	}
	t->n_hosts = used;
	for (size_t j = 0; j < t->n_reqs; j++)
		t->reqs[j]->act = ACT_TXN;
	snprintf(t->what, sizeof(t->what), "commit %zu placement(s) (%s ...)",
		 t->n_reqs, t->reqs[0]->id);
	ctrl_txn_send(t);
}

/* ---- gangs (scheduling.gang): all members in one txn, or none --------- */

/* A member placed before (its VM failed, its host was lost) is placed
 * again alone: the gang was placed whole once. */
static bool gang_fresh(const struct ctrl_req *r)
{
	return r->parsed.gang &&
	       !(r->st_present && r->st.request_rev == r->spec_rev &&
		 r->st.attempt > 0);
}

static bool gang_same(const struct ctrl_req *a, const struct ctrl_req *b)
{
	return gang_fresh(b) && a->slot == b->slot &&
	       strcmp(a->parsed.gang, b->parsed.gang) == 0;
}

static void ready_unlink(struct ctrl *c, struct ctrl_req *r)
{
	for (struct ctrl_req **p = &c->ready_head; *p; p = &(*p)->ready_next) {
		if (*p == r) {
			*p = r->ready_next;
			r->ready_next = NULL;
			return;
		}
	}
}

/* An unsent batch dropped: its hosts' tentative allocs and the txn. */
static void batch_drop(struct ctrl_txn *t)
{
	for (size_t i = 0; i < t->n_hosts; i++) {
		fs_alloc_clear(t->hosts[i]->tent);
		free(t->hosts[i]->tent);
		t->hosts[i]->tent = NULL;
		t->hosts[i]->tent_picks = 0;
	}
	ctrl_txn_free(t);
}

static void explain_copy(struct ctrl_explain *dst,
			 const struct ctrl_explain *src)
{
	ctrl_explain_clear(dst);
	memset(dst, 0, sizeof(*dst));
	dst->hosts = src->hosts;
	dst->feasible = src->feasible;
	for (size_t i = 0; i < src->n_rejected; i++)
		for (int64_t k = 0; k < src->rejected[i].count; k++)
			if (ctrl_explain_add(dst, src->rejected[i].reason) < 0)
				return;
}

/* Members waiting for the rest: "gang web: 2 of 3 submitted", written
 * when it is news (a write takes r off the ready list until it lands). */
static void gang_wait(struct ctrl *c, struct ctrl_req **m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ctrl_req *r = m[i];
		struct ctrl_status s;
		char why[160];

		snprintf(why, sizeof(why), "gang %s: %zu of %lld submitted",
			 r->parsed.gang, n, (long long)r->parsed.gang_size);
		if (r->st_present && r->st.phase == CTRL_PENDING &&
		    r->st.request_rev == r->spec_rev && r->st.reason &&
		    strcmp(r->st.reason, why) == 0)
			continue;
		ready_unlink(c, r);
		ctrl_req_round_reset(r);
		ctrl_report_init(&s, CTRL_PENDING, r);
		ctrl_report_carry(&s, r);
		ctrl_report_reason(&s, "%s", why);
		ctrl_report_status(c, r, &s, "gang waits");
	}
}

/* The failing member's explain for every member: "gang web does not
 * fit as a whole: max_vms reached (2 of 2 hosts)". */
static void gang_nofit(struct ctrl *c, struct ctrl_req **m, size_t n,
		       const struct ctrl_req *bad, const char *why)
{
	struct ctrl_explain ex0 = {0};

	explain_copy(&ex0, &bad->explain);
	for (size_t i = 0; i < n; i++) {
		struct ctrl_explain ex = {0};

		explain_copy(&ex, &ex0);
		ready_unlink(c, m[i]);
		ctrl_req_round_reset(m[i]);
		m[i]->act = ACT_NONE;
		ctrl_report_unschedulable(c, m[i], &ex, why);
		ctrl_explain_clear(&ex);
	}
	ctrl_explain_clear(&ex0);
}

/*
 * r, on the ready list, is a fresh member of a gang: the first one
 * there acts for all.  With gang.size fresh members ready, all go into one
 * new txn (*t, the batch being built, is sent first), or none: a member
 * that fits nowhere with the others makes every member unschedulable,
 * one whose best host is busy leaves them all waiting.  Returns whether
 * r left the ready list.
 */
static bool gang_flush(struct ctrl *c, unsigned s, struct ctrl_txn **t,
		       struct ctrl_req *r)
{
	struct ctrl_req *m[CTRL_GANG_MAX] = {NULL}, *q;
	size_t n = 0, want = (size_t)r->parsed.gang_size;
	struct ctrl_txn *g;
	char why[192];
	int rc = BATCH_ADDED;

	if (!r->req_present || r->req_rev != r->plan_req_rev) {
		/* deleted or rewritten while it waited: reconcile it */
		ready_unlink(c, r);
		ctrl_req_round_reset(r);
		r->act = ACT_NONE;
		ctrl_req_dirty(r);
		return true;
	}
	/* The gang's first member on the ready list acts for all. */
	for (q = c->ready_head; q && n < want; q = q->ready_next)
		if (q == r || gang_same(r, q))
			m[n++] = q;
	if (m[0] != r)
		return false;
	if (n < want) {
		gang_wait(c, m, n);
		return r->act != ACT_READY;
	}
	if (*t && (*t)->n_reqs) {
		batch_send(c, *t);
		*t = NULL;
	}
	g = *t ? *t : ctrl_txn_new(c, TXN_COMMIT, s, commit_done);
	*t = NULL;
	if (!g)
		return false;
	if (!g->n_cmp)
		ctrl_txn_fence(g);
	for (size_t i = 0; i < n && rc == BATCH_ADDED; i++) {
		rc = batch_add(c, g, m[i]);
		if (rc != BATCH_ADDED)
			q = m[i];
	}
	if (rc == BATCH_ADDED) {
		for (size_t i = 0; i < n; i++)
			ready_unlink(c, m[i]);
		batch_send(c, g);
		return true;
	}
	batch_drop(g);
	/* Waiting is for a commit in flight; a member that fits only
	 * without the others' places in this txn does not fit. */
	for (size_t i = 0; rc == BATCH_WAIT && i < c->n_harr; i++)
		if (c->harr[i]->locked)
			return false;
	if (rc == BATCH_FULL || (rc == BATCH_NOFIT && q->explain.feasible))
		snprintf(why, sizeof(why),
			 "gang %s does not fit as a whole: %zu members are "
			 "over one etcd txn's limits",
			 r->parsed.gang, n);
	else
		snprintf(why, sizeof(why),
			 "gang %s does not fit as a whole: %s has no host "
			 "with the others placed",
			 r->parsed.gang, q->id);
	fs_info("%s", why);
	gang_nofit(c, m, n, q, why);
	return true;
}

/* Forms fenced batches, one per slot, out of the ready list. */
void ctrl_commit_flush(struct ctrl *c)
{
	for (unsigned s = 0; s < c->k; s++) {
		struct ctrl_txn *t = NULL;
		struct ctrl_req **p, *r;

		if (!slot_mine(c, s))
			continue;
		p = &c->ready_head;
		while ((r = *p)) {
			int rc;

			if (r->slot != s) {
				p = &r->ready_next;
				continue;
			}
			if (c->inflight >= (unsigned)c->cfg->max_inflight)
				break;
			if (gang_fresh(r)) {
				if (!gang_flush(c, s, &t, r))
					p = &r->ready_next;
				continue;
			}
			if (!t) {
				t = ctrl_txn_new(c, TXN_COMMIT, s, commit_done);
				if (!t)
					break; /* ready_tail still recomputed */
				ctrl_txn_fence(t);
			}
			rc = batch_add(c, t, r);
			if (rc == BATCH_FULL) {
				batch_send(c, t);
				t = NULL;
				continue; /* retry r in a new batch */
			}
			if (rc == BATCH_WAIT) {
				p = &r->ready_next;
				continue;
			}
			*p = r->ready_next; /* unlink */
			r->ready_next = NULL;
			if (rc == BATCH_NOFIT && !r->round_attempt) {
				/* cached: the scan just made says no host
				 * fits, even without pending placements. */
				struct ctrl_explain ex = r->explain;

				memset(&r->explain, 0, sizeof(r->explain));
				ctrl_req_round_reset(r);
				r->act = ACT_NONE;
				ctrl_preempt_or_wait(c, r, &ex);
				ctrl_explain_clear(&ex);
			} else if (rc == BATCH_NOFIT) {
				/* Nothing fits any more: plan again. */
				r->tries++;
				ctrl_req_round_reset(r);
				r->act = ACT_NONE;
				ctrl_req_dirty(r);
			}
		}
		c->ready_tail = &c->ready_head;
		while (*c->ready_tail)
			c->ready_tail = &(*c->ready_tail)->ready_next;
		if (t && t->n_reqs) {
			batch_send(c, t);
		} else if (t) {
			batch_drop(t);
		}
	}
}
