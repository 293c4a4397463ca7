/* Reconcile: what one request of a slot we lead needs next, decided
 * from the cache (request, status, assignments, VM state); starts at most
 * one action.  Calls drain.c, rounds.c, release.c, report.c, req.c,
 * host.c. */
#include "controller/core.h"

#include <string.h>
#include <time.h>

#include "common/log.h"

static void enqueue(struct ctrl *c, struct ctrl_req *r)
{
	r->q.priority = r->parsed.priority;
	if (ctrl_queue_push(&c->queue, &r->q) == 0)
		r->act = ACT_QUEUED;
}

static void decide(struct ctrl *c, struct ctrl_req *r);

#define DISCONNECTED "host: disconnected since "

static void on_lost_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	ctrl_req_dirty(w->data);
}

/*
 * r is placed on a host without a record (its lease expired): true while
 * the host is disconnected, within lost_after_s (the request's, else the
 * config's) of when this controller saw it leave, or first saw it gone
 * (a controller that starts later waits a whole grace).  Its VMs keep
 * their reservation and phase, the status says since when, and a timer
 * looks again when the grace ends.  False: the VMs are lost.
 */
static bool host_disconnected(struct ctrl *c, struct ctrl_req *r,
			      struct ctrl_host *h)
{
	int64_t grace = r->parsed.lost_after_s >= 0 ? r->parsed.lost_after_s
						     : c->cfg->lost_after_s;
	double now = ev_now(c->loop), left;
	struct ctrl_status s;
	char since[32];
	struct tm tm;
	time_t t;

	if (grace <= 0)
		return false;
	if (!h)
		h = ctrl_host_get(c, r->st.host, true);
	if (!h)
		return false; /* out of memory: as without a grace */
	if (h->gone_at <= 0)
		h->gone_at = now;
	left = h->gone_at + (double)grace - now;
	if (left <= 0)
		return false;
	if (!ev_is_active(&r->lost_timer)) {
		ev_timer_init(&r->lost_timer, on_lost_timer, left + 0.01, 0);
		r->lost_timer.data = r;
		ev_timer_start(c->loop, &r->lost_timer);
	}
	if (r->st.reason && strncmp(r->st.reason, DISCONNECTED,
				    strlen(DISCONNECTED)) == 0)
		return true;
	if (ctrl_status_copy(&s, &r->st) < 0)
		return true; /* the status says so at the next pass */
	t = (time_t)h->gone_at;
	gmtime_r(&t, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ctrl_report_reason(&s, DISCONNECTED "%s; lost after %llds", since,
			   (long long)grace);
	fs_info("%s: host %s disconnected; lost in %.0f s unless it returns",
		r->id, r->st.host, left);
	ctrl_report_status(c, r, &s, "host disconnected");
	return true;
}

/*
 * r runs where it was placed again after its host replaced_on was lost:
 * once that host's VM is gone (its agent came back and deleted it; the
 * key has no lease, so nothing else removes it), the status says so.
 * True when it writes.
 */
static bool replaced_seen(struct ctrl *c, struct ctrl_req *r)
{
	struct ctrl_status s;

	if (r->st.phase != CTRL_RUNNING || !r->st.replaced_on[0] ||
	    strcmp(r->st.replaced_on, r->st.host) == 0 ||
	    ctrl_req_vm(r, r->st.replaced_on) || ctrl_req_asg(r, r->st.replaced_on) ||
	    (r->st.reason && strstr(r->st.reason, "; replaced on ")))
		return false;
	if (ctrl_status_copy(&s, &r->st) < 0)
		return false;
	ctrl_report_reason(&s,
			   "running on %s; replaced on %s (it came back and "
			   "deleted the old VM)",
			   s.host, s.replaced_on);
	fs_info("%s: replaced on %s: its old VM is deleted", r->id,
		s.replaced_on);
	ctrl_report_status(c, r, &s, "replaced");
	return true;
}

/* Decides r's next step from the cache; deletes the round and bid keys
 * of r that nothing uses (every key the scheduler makes has an owner
 * that deletes it: rounds and bids of a request, its coordinator). */
void ctrl_reconcile(struct ctrl *c, struct ctrl_req *r)
{
	/* Ready for a commit of a slot we lost: dropped below (it stayed
	 * on the ready list, held, until the slot was won again). */
	if (r->act == ACT_TXN ||
	    (r->act == ACT_READY && slot_mine(c, r->slot)))
		return;
	if (r->hold_seq) { /* what its last txn did is not known yet */
		if (r->hold_seq > c->done_seq)
			return;
		r->hold_seq = 0;
	}
	if (!slot_mine(c, r->slot)) {
		/* The next coordinator's list reads them. */
		ctrl_req_abort(r);
		r->n_stale = 0;
		r->round_key = false;
		r->n_inv = 0;
		return;
	}
	decide(c, r);
	ctrl_round_gc(c, r);
	if (r->act == ACT_NONE && !r->dirty && (r->round_key || r->n_inv) &&
	    r->req_present) {
		/* No round of r is open, queued or being written, and no
		 * new one is coming (dirty: reconciled again this pass), so
		 * no put of the next round races these deletes. */
		if (r->round_key)
			ctrl_txn_gc_del(c, r->slot,
					ctrl_keyf("%srounds/%s", c->prefix,
						  r->id));
		ctrl_txn_invites_del(c, NULL, r);
		r->round_key = false;
		r->n_inv = 0;
	}
}

static void decide(struct ctrl *c, struct ctrl_req *r)
{
	bool cur, placed;
	struct ctrl_status s;

	if (r->act == ACT_ROUND) {
		size_t expect = r->n_expect;

		if (!r->req_present || r->req_rev != r->plan_req_rev) {
			ctrl_req_abort(r);
		} else {
			if (r->round_open && r->n_bids >= expect)
				ctrl_round_close(c, r, false);
			return;
		}
	}
	if (!r->req_present) {
		ctrl_req_abort(r);
		if (r->n_asg)
			ctrl_release(c, r, &r->asg[0], NULL, "request deleted");
		else if (r->st_present || r->round_key || r->n_inv)
			ctrl_report_forget(c, r);
		return;
	}
	ctrl_req_parse(r);
	/* Listed after a re-put of the same bytes (by a controller that did
	 * not see the first put): the status names the version it placed
	 * by revision and hash. */
	if (r->st_present && r->st.request_rev != r->spec_rev &&
	    r->st.request_rev > 0 && r->st.request_rev < r->req_rev &&
	    strcmp(r->st.request_hash, r->req_hash) == 0)
		r->spec_rev = r->st.request_rev;
	if (!r->valid) {
		ctrl_req_abort(r);
		if (r->st_present && r->st.phase == CTRL_REJECTED &&
		    r->st.request_rev == r->spec_rev && !r->n_asg)
			return;
		ctrl_report_init(&s, CTRL_REJECTED, r);
		ctrl_report_reason(&s, "%s", r->reason);
		if (r->n_asg) {
			ctrl_release(c, r, &r->asg[0], &s,
				     "request rewritten invalid");
			return;
		}
		fs_info("rejected %s: %s", r->id, r->reason);
		ctrl_report_status(c, r, &s, "reject");
		return;
	}
	cur = r->st_present && r->st.request_rev == r->spec_rev;
	placed = cur && (r->st.phase == CTRL_SCHEDULED ||
			 r->st.phase == CTRL_RUNNING);
	/* An unreadable status (written by hand, say) over the assignment
	 * of this version: the coordinator owns both, and rewrites the
	 * status from the assignment (it released the running VM). */
	if (r->st_garbage && r->n_asg == 1 &&
	    r->asg[0].spec_rev == r->spec_rev) {
		ctrl_req_abort(r);
		ctrl_report_init(&s, CTRL_SCHEDULED, r);
		s.attempt = r->asg[0].attempt > 0 ? r->asg[0].attempt : 1;
		strcpy(s.host, r->asg[0].host);
		ctrl_report_reason(&s,
				   "status rewritten from the assignment on "
				   "%s (it was unreadable)",
				   s.host);
		ctrl_report_status(c, r, &s, "repair");
		return;
	}
	/* Assignments the status does not stand for are released first. */
	for (size_t i = 0; i < r->n_asg; i++) {
		if (placed && (strcmp(r->asg[i].host, r->st.host) == 0 ||
			       ctrl_drain_replacement(r, &r->asg[i])))
			continue; /* a drain's move keeps both */
		ctrl_req_abort(r);
		ctrl_report_init(&s, CTRL_PENDING, r);
		ctrl_report_carry(&s, r);
		ctrl_report_reason(&s, "%s",
				   cur ? "stray assignment released"
				       : "request rewritten; placing "
					 "the new version");
		ctrl_release(c, r, &r->asg[i], &s,
			     cur ? "stray" : "request rewritten");
		return;
	}
	if (placed) {
		struct ctrl_asg *a = ctrl_req_asg(r, r->st.host);
		struct ctrl_host *h = ctrl_host_get(c, r->st.host, false);
		struct ctrl_vm *vm = ctrl_req_vm(r, r->st.host);

		if (r->act == ACT_QUEUED)
			ctrl_req_abort(r);
		if (!a) {
			/* Someone deleted the assignment: place again, once
			 * etcd confirms it is gone (the reset compares its
			 * absence; the cache may just not have it). */
			fs_warn("%s: status says %s on %s but the assignment "
				"is not in the cache; placing again if it is "
				"gone",
				r->id, ctrl_phase_name(r->st.phase),
				r->st.host);
			ctrl_report_init(&s, CTRL_PENDING, r);
			ctrl_report_carry(&s, r);
			ctrl_report_reason(&s, "assignment on %s vanished",
					   r->st.host);
			ctrl_report_status_absent(
			    c, r, &s, "reset",
			    ctrl_keyf("%sassign/%s/%s", c->prefix, r->st.host,
				      r->id));
			return;
		}
		if (!ctrl_host_live(h) && host_disconnected(c, r, h))
			return;
		if (!ctrl_host_live(h)) {
			ev_timer_stop(c->loop, &r->lost_timer);
			ctrl_report_init(&s, CTRL_LOST, r);
			ctrl_report_carry(&s, r);
			strcpy(s.host, r->st.host);
			if (vm) /* its agent deletes it if it comes back */
				strcpy(s.replaced_on, r->st.host);
			ctrl_report_reason(&s,
					   "host %s lost (lease expired, "
					   "lost_after_s passed); "
					   "rescheduling",
					   r->st.host);
			fs_warn("%s lost with host %s; rescheduling", r->id,
				r->st.host);
			ctrl_release(c, r, a, &s, "host lost");
			return;
		}
		ev_timer_stop(c->loop, &r->lost_timer);
		if (r->st.reason &&
		    strncmp(r->st.reason, DISCONNECTED, strlen(DISCONNECTED)) ==
			0) {
			/* back in time: nothing moved */
			if (ctrl_status_copy(&s, &r->st) < 0)
				return;
			ctrl_report_reason(&s, "%s on %s (host reconnected)",
					   ctrl_phase_name(s.phase), s.host);
			ctrl_report_status(c, r, &s, "host reconnected");
			return;
		}
		if (ctrl_drain_step(c, r, a, h))
			return;
		if (replaced_seen(c, r))
			return;
		if (!vm && r->vm_gone_rev > a->rev) {
			/* its VM went: another slot's coordinator may have
			 * preempted it (its status and assignment are not
			 * watched) */
			r->vm_gone_rev = 0;
			ctrl_preempt_check(c, r, a);
			return;
		}
		if (!vm || vm->rev <= a->rev)
			return;
		if (strcmp(vm->state, "running") == 0 &&
		    r->st.phase == CTRL_SCHEDULED) {
			if (ctrl_status_copy(&s, &r->st) < 0)
				return;
			s.phase = CTRL_RUNNING;
			if (r->st.reason && strncmp(r->st.reason, "placed ", 7) == 0)
				ctrl_report_reason(&s, "running; %s",
						   r->st.reason);
			else
				ctrl_report_reason(&s, "running on %s", s.host);
			fs_info("%s running on %s", r->id, s.host);
			ctrl_report_status(c, r, &s, "mark running");
		} else if (strcmp(vm->state, "failed") == 0) {
			ctrl_report_init(&s, CTRL_FAILED, r);
			ctrl_report_carry(&s, r);
			ctrl_status_avoid_add(&s, r->st.host);
			if (s.attempt >= c->cfg->max_attempts) {
				ctrl_report_reason(
				    &s,
				    "failed on %lld host(s), "
				    "max_attempts %lld reached; "
				    "last error on %s: %s",
				    (long long)s.attempt,
				    (long long)c->cfg->max_attempts, r->st.host,
				    vm->error ? vm->error : "?");
				fs_warn("%s failed terminally: %s", r->id,
					s.reason);
			} else {
				ctrl_report_reason(
				    &s,
				    "failed on %s: %s; "
				    "rescheduling (attempt %lld of "
				    "%lld)",
				    r->st.host, vm->error ? vm->error : "?",
				    (long long)s.attempt + 1,
				    (long long)c->cfg->max_attempts);
				fs_warn("%s %s", r->id, s.reason);
			}
			ctrl_release(c, r, a, &s, "VM failed");
		}
		return;
	}
	if (cur) {
		switch (r->st.phase) {
		case CTRL_FAILED:
			if (r->st.attempt >= c->cfg->max_attempts)
				return; /* terminal */
			break;
		case CTRL_UNSCHEDULABLE:
			if (r->unsched_gen == c->cap_gen ||
			    r->unsched_gen == -1) {
				/* Seen first from the list (recovery): try
				 * once, then wait for capacity news. */
				if (r->unsched_gen == -1)
					break;
				return;
			}
			break;
		case CTRL_REJECTED:
		case CTRL_PENDING:
		case CTRL_LOST:
		case CTRL_SCHEDULED:
		case CTRL_RUNNING:
			break;
		}
	}
	/* Rewritten while queued: its place follows its new priority. */
	if (r->act == ACT_QUEUED && r->q.priority != r->parsed.priority) {
		ctrl_queue_remove(&c->queue, &r->q);
		r->act = ACT_NONE;
	}
	if (r->act == ACT_NONE && !ctrl_round_backoff(c, r))
		enqueue(c, r);
}
