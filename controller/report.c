/* Status writes: what a request's status says next (rejected,
 * unschedulable, running, ...), batched per slot into fenced txns, and the
 * status of a deleted request forgotten.  Calls txn.c, req.c, key.c. */
#include "controller/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

const char *ctrl_report_coord(struct ctrl *c, unsigned slot)
{
	return c->slots[slot].coord;
}

char *ctrl_report_json(struct ctrl *c, struct ctrl_req *r,
		       struct ctrl_status *s)
{
	if (!s->coordinator)
		s->coordinator = strdup(ctrl_report_coord(c, r->slot));
	s->updated[0] = '\0';
	return ctrl_status_format(s);
}

/* A status write ended: on success the round it closed is gone. */
static void status_done(struct ctrl_txn *t, struct ctrl_req *r, bool ok,
			int64_t rev)
{
	(void)t;
	(void)rev;
	if (ok)
		ctrl_req_round_closed(r);
}

static void status_flush_slot(struct ctrl *c, unsigned i)
{
	ctrl_txn_batch_flush(&c->sbatch[i], "write", "statuses");
}

void ctrl_report_flush(struct ctrl *c)
{
	for (unsigned i = 0; i < c->k; i++)
		status_flush_slot(c, i);
}

/*
 * Writes status s (taken) for r, fenced, comparing the status and request
 * revisions.  Status writes of a slot (running, rejected, unschedulable)
 * are batched into one txn per loop iteration, each with its own
 * compares: a txn is etcd's unit of cost, and one per status doubled the
 * txns of a placement.  A failed compare fails the batch; every request
 * in it is then reconciled again from what the failure branch read back.
 */
static void status_add(struct ctrl *c, struct ctrl_req *r,
		       struct ctrl_status *s, const char *what, char *absent)
{
	struct ctrl_txn *t = c->sbatch[r->slot];
	size_t kb = ctrl_key_max(c), ops = 1 + ctrl_txn_round_ops(r);
	size_t cmps = 2 + (absent != NULL);
	char *js = ctrl_report_json(c, r, s);

	if (!js) {
		free(absent);
		ctrl_status_clear(s);
		return;
	}
	if (t && (t->n_reqs >= TXN_REQS ||
		  !ctrl_txn_room(t, cmps, ops,
				 strlen(js) + cmps * kb + ops * kb))) {
		status_flush_slot(c, r->slot);
		t = NULL;
	}
	if (!t) {
		t = ctrl_txn_new(c, TXN_STATUS, r->slot, status_done);
		if (!t) {
			free(js);
			free(absent);
			ctrl_status_clear(s);
			return;
		}
		ctrl_txn_fence(t);
		c->sbatch[r->slot] = t;
	}
	if (absent)
		ctrl_txn_cmp(t, absent, ETCD_CMP_CREATE, 0);
	if (t->n_reqs == 0)
		snprintf(t->what, sizeof(t->what), "%s %s", what, r->id);
	t->phase[t->n_reqs] = (int)s->phase;
	ctrl_txn_cmp(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, r->st_present ? r->st_rev : 0);
	ctrl_txn_cmp(t, ctrl_keyf("%srequests/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, r->req_present ? r->req_rev : 0);
	ctrl_txn_op(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id), js, 0);
	ctrl_txn_keep_status(t, ctrl_txn_status_take(s));
	ctrl_txn_round_close(c, t, r);
	ctrl_status_clear(s);
	t->reqs[t->n_reqs++] = r;
	r->act = ACT_TXN;
}

void ctrl_report_status(struct ctrl *c, struct ctrl_req *r,
			struct ctrl_status *s, const char *what)
{
	status_add(c, r, s, what, NULL);
}

/* As ctrl_report_status, but only while key absent (taken) does not
 * exist: compared in the same txn and read back if it does. */
void ctrl_report_status_absent(struct ctrl *c, struct ctrl_req *r,
			       struct ctrl_status *s, const char *what,
			       char *absent)
{
	if (!absent) {
		ctrl_status_clear(s);
		return;
	}
	status_add(c, r, s, what, absent);
}

/* Deletes the status, the round key and the invitations (the request is
 * gone and holds nothing). */
void ctrl_report_forget(struct ctrl *c, struct ctrl_req *r)
{
	struct ctrl_txn *t = ctrl_txn_new(c, TXN_STATUS, r->slot, status_done);

	if (!t)
		return;
	snprintf(t->what, sizeof(t->what), "forget deleted request %s",
		 r->id);
	ctrl_txn_fence(t);
	/* The request absent: a late copy cannot delete the round of a
	 * request put again. */
	ctrl_txn_cmp(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, r->st_present ? r->st_rev : 0);
	ctrl_txn_cmp(t, ctrl_keyf("%srequests/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, 0);
	ctrl_txn_op(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id), NULL, 0);
	ctrl_txn_op(t, ctrl_keyf("%srounds/%s", c->prefix, r->id), NULL, 0);
	ctrl_txn_invites_del(c, t, r);
	t->reqs[t->n_reqs++] = r;
	r->act = ACT_TXN;
	ctrl_txn_send(t);
}

void ctrl_report_init(struct ctrl_status *s, enum ctrl_phase p,
		      const struct ctrl_req *r)
{
	memset(s, 0, sizeof(*s));
	s->phase = p;
	s->request_rev = r->spec_rev;
	memcpy(s->request_hash, r->req_hash, sizeof(s->request_hash));
}

void ctrl_report_reason(struct ctrl_status *s, const char *fmt, ...)
{
	va_list ap;

	free(s->reason);
	s->reason = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s->reason, fmt, ap) < 0)
		s->reason = NULL;
	va_end(ap);
}

/* Carries the attempt count and avoid list of the current revision. */
void ctrl_report_carry(struct ctrl_status *s, const struct ctrl_req *r)
{
	if (!r->st_present || r->st.request_rev != r->spec_rev)
		return;
	ctrl_report_carry_st(s, &r->st);
}

void ctrl_report_carry_st(struct ctrl_status *s, const struct ctrl_status *st)
{
	s->attempt = st->attempt;
	strcpy(s->replaced_on, st->replaced_on);
	for (size_t i = 0; i < st->n_avoid; i++)
		ctrl_status_avoid_add(s, st->avoid[i]);
}

void ctrl_report_explain_take(struct ctrl_status *s, struct ctrl_explain *ex)
{
	s->has_explain = true;
	s->explain = *ex;
	memset(ex, 0, sizeof(*ex));
}

static bool explain_same(const struct ctrl_explain *a,
			 const struct ctrl_explain *b)
{
	if (a->hosts != b->hosts || a->feasible != b->feasible ||
	    a->bids != b->bids || a->n_rejected != b->n_rejected)
		return false;
	for (size_t i = 0; i < a->n_rejected; i++)
		if (a->rejected[i].count != b->rejected[i].count ||
		    strcmp(a->rejected[i].reason, b->rejected[i].reason) != 0)
			return false;
	return true;
}

/* Is s what r's status already says, with no round of r to close?  A
 * capacity change re-plans every unschedulable request; rewriting the
 * ones that are still unschedulable for the same reasons made 100 status
 * writes of no news for 5 cycles of a small VM over 20 requests. */
static bool unsched_unchanged(const struct ctrl_req *r,
			      const struct ctrl_status *s)
{
	return r->st_present && r->st.phase == CTRL_UNSCHEDULABLE &&
	       r->st.request_rev == r->req_rev && r->st.has_explain &&
	       !ctrl_txn_round_ops(r) && r->st.reason && s->reason &&
	       strcmp(r->st.reason, s->reason) == 0 &&
	       explain_same(&r->st.explain, &s->explain);
}

void ctrl_report_unschedulable(struct ctrl *c, struct ctrl_req *r,
			       struct ctrl_explain *ex, const char *why)
{
	struct ctrl_status s;
	const char *top = "no hosts", *by;
	int64_t best = 0;

	ctrl_report_init(&s, CTRL_UNSCHEDULABLE, r);
	ctrl_report_carry(&s, r);
	ctrl_report_explain_take(&s, ex);
	for (size_t i = 0; i < s.explain.n_rejected; i++) {
		if (s.explain.rejected[i].count > best) {
			best = s.explain.rejected[i].count;
			top = s.explain.rejected[i].reason;
		}
	}
	by = r->st_present && r->st.reason
		 ? strstr(r->st.reason, "preempted by ")
		 : NULL;
	if (by) /* a victim says so until it is placed again */
		ctrl_report_reason(&s, "%s: %s (%lld of %lld hosts); %.*s", why,
				   top, (long long)best,
				   (long long)s.explain.hosts,
				   (int)strcspn(by + 13, " ;") + 13, by);
	else
		ctrl_report_reason(&s, "%s: %s (%lld of %lld hosts)", why,
				   top, (long long)best,
				   (long long)s.explain.hosts);
	/* Only say it when it is news. */
	if (!r->st_present || r->st.phase != CTRL_UNSCHEDULABLE ||
	    r->st.request_rev != r->spec_rev)
		fs_info("%s unschedulable: %s", r->id, s.reason);
	r->unsched_gen = c->cap_gen;
	if (unsched_unchanged(r, &s)) {
		ctrl_status_clear(&s);
		ctrl_req_round_reset(r);
		r->act = ACT_NONE;
		return;
	}
	ctrl_report_status(c, r, &s, "mark unschedulable");
}
