/* Drain: the VMs of a host whose P/hostctl/ says "drain" moved to other
 * hosts make-before-break (docs/DESIGN.md "Host states"): a replacement
 * assignment on another host beside the original (both reserved), the
 * original released once the replacement runs; at most max_parallel
 * moves off one host in flight, counted in P/drain/<host> by CAS so
 * that the moves of every coordinator count; past the deadline, the rest
 * break-before-make.  Calls place.c, release.c, report.c, txn.c, req.c,
 * host.c, key.c. */
#include "controller/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

static bool placed(const struct ctrl_req *r)
{
	return r->st_present && r->st.request_rev == r->spec_rev &&
	       (r->st.phase == CTRL_SCHEDULED || r->st.phase == CTRL_RUNNING);
}

bool ctrl_drain_replacement(const struct ctrl_req *r, const struct ctrl_asg *a)
{
	return placed(r) && r->st.moving_to[0] &&
	       strcmp(a->host, r->st.moving_to) == 0 &&
	       strcmp(a->host, r->st.host) != 0;
}

static bool listed(const struct ctrl_host *h, const char *id)
{
	for (size_t i = 0; i < h->n_moving; i++)
		if (strcmp(h->moving[i], id) == 0)
			return true;
	return false;
}

/* Adds to t the compare of P/drain/<h>'s revision and its new value: its
 * ids with add added and drop removed (either may be NULL), or its
 * delete when none is left.  0 or -ENOMEM. */
static int moves_write(struct ctrl *c, struct ctrl_txn *t,
		       const struct ctrl_host *h, const char *add,
		       const char *drop)
{
	json_t *o = json_object(), *a = json_array();
	char now[32], *v = NULL;
	int rc = 0;

	if (!o || !a)
		goto fail;
	for (size_t i = 0; i < h->n_moving; i++)
		if (!drop || strcmp(h->moving[i], drop) != 0)
			rc |=
			    json_array_append_new(a, json_string(h->moving[i]));
	if (add && !listed(h, add))
		rc |= json_array_append_new(a, json_string(add));
	fs_time_now(now, sizeof(now));
	if (json_array_size(a)) {
		rc |= json_object_set(o, "moves", a);
		rc |= json_object_set_new(o, "updated", json_string(now));
		if (rc ||
		    !(v = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)))
			goto fail;
	}
	json_decref(a);
	json_decref(o);
	ctrl_txn_cmp(t, ctrl_keyf("%sdrain/%s", c->prefix, h->name),
		     ETCD_CMP_MOD, h->moves_present ? h->moves_rev : 0);
	ctrl_txn_op(t, ctrl_keyf("%sdrain/%s", c->prefix, h->name), v, 0);
	return 0;
fail:
	json_decref(a);
	json_decref(o);
	return -ENOMEM;
}

/* Every txn writing P/drain/<h> ended: the next one may go, and what
 * waited for the host's budget looks again. */
static void moves_done(struct ctrl_txn *t)
{
	struct ctrl_host *h = t->arg;

	if (h) {
		h->moves_busy = false;
		ctrl_host_unref(t->c, h); /* host.c may free it now */
	}
	t->c->pass_all = true;
}

/* Every txn of drain.c ended: logged, counted in *count (may be NULL)
 * when it landed; r NULL for the sweep's. */
static void drain_done(struct ctrl_txn *t, struct ctrl_req *r, bool ok,
		       uint64_t *count)
{
	moves_done(t);
	if (ok && count)
		(*count)++;
	if (ok)
		fs_info("%s", t->what);
	else if (r)
		fs_info("%s: not made (a compare failed or no answer); "
			"looking again",
			t->what);
}

static void start_done(struct ctrl_txn *t, struct ctrl_req *r, bool ok,
		       int64_t rev)
{
	(void)rev;
	drain_done(t, r, ok, NULL);
}

static void finish_done(struct ctrl_txn *t, struct ctrl_req *r, bool ok,
			int64_t rev)
{
	(void)rev;
	drain_done(t, r, ok, &t->c->m.drain_moves);
}

static void evict_done(struct ctrl_txn *t, struct ctrl_req *r, bool ok,
		       int64_t rev)
{
	(void)rev;
	drain_done(t, r, ok, &t->c->m.drain_evictions);
}

/* t sends r's move txn; h's P/drain/ is busy until it ends (h NULL:
 * the txn does not write it). */
static void move_send(struct ctrl_req *r, struct ctrl_txn *t,
		      struct ctrl_host *h)
{
	t->arg = h;
	if (h)
		h->moves_busy = true;
	r->act = ACT_TXN;
	ctrl_txn_send(t);
}

/* What to's alloc becomes with r's need added (malloc'd), or NULL. */
static struct fs_alloc *alloc_plus(const struct ctrl_host *to,
				   const struct ctrl_req *r)
{
	const struct fs_alloc *cur = ctrl_place_alloc(to);
	struct fs_alloc *a = calloc(1, sizeof(*a));
	char *tmp = NULL;

	if (!a)
		return NULL;
	if (cur) { /* a copy by format and parse, as release.c makes one */
		tmp = fs_alloc_format(cur);
		if (!tmp || fs_alloc_parse(tmp, strlen(tmp), a, NULL, 0) < 0)
			goto fail;
	}
	if (fs_alloc_add(a, &r->parsed.need.res, r->parsed.need.spread, 1) < 0)
		goto fail;
	free(tmp);
	return a;
fail:
	free(tmp);
	fs_alloc_clear(a);
	free(a);
	return NULL;
}

/*
 * The make: one fenced txn puts the replacement assignment on to (attempt
 * + 1: a move is a placement), to's alloc plus r's need, the status
 * (still running on the original host h, moving_to to) and h's
 * P/drain/ with r's id, comparing the status, the request, to's alloc
 * and P/drain/<h>: so that the moves of all coordinators off h never
 * exceed max_parallel, and no host is overcommitted (both reservations
 * are held until the original is released).
 */
static void move_start(struct ctrl *c, struct ctrl_req *r, struct ctrl_host *h,
		       struct ctrl_host *to, double score)
{
	struct ctrl_txn *t = ctrl_txn_new(c, TXN_MOVE, r->slot, start_done);
	struct fs_alloc *al = alloc_plus(to, r);
	struct ctrl_status s = {0};
	char *js = NULL, *aj = NULL, *av = NULL;

	if (!t || !al || ctrl_status_copy(&s, &r->st) < 0)
		goto fail;
	strcpy(s.moving_to, to->name);
	ctrl_report_reason(&s,
			   "draining %s: replacement on %s starting (score "
			   "%.3f; %zu of max_parallel %lld moves in flight)",
			   h->name, to->name, score, h->n_moving + 1,
			   (long long)h->drain_max);
	js = ctrl_report_json(c, r, &s);
	aj = ctrl_keyf("{\"request\":%.*s,\"request_rev\":%lld,"
		       "\"attempt\":%lld}",
		       (int)r->req_len, r->req_val, (long long)r->spec_rev,
		       (long long)r->st.attempt + 1);
	av = fs_alloc_format(al);
	if (!js || !aj || !av)
		goto fail;
	snprintf(t->what, sizeof(t->what),
		 "drain %s: %s moving to %s (make-before-break)", h->name,
		 r->id, to->name);
	ctrl_txn_fence(t);
	ctrl_txn_cmp(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, r->st_rev);
	ctrl_txn_cmp(t, ctrl_keyf("%srequests/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, r->req_rev);
	ctrl_txn_cmp(t, ctrl_keyf("%salloc/%s", c->prefix, to->name),
		     ETCD_CMP_MOD, to->alloc_present ? to->alloc_rev : 0);
	/* the status first: its time makes it the unique value a read
	 * back of an unknown outcome looks for */
	ctrl_txn_op(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id), js, 0);
	js = NULL;
	ctrl_txn_keep_status(t, ctrl_txn_status_take(&s));
	ctrl_txn_op(t, ctrl_keyf("%sassign/%s/%s", c->prefix, to->name, r->id),
		    aj, 0);
	aj = NULL;
	ctrl_txn_keep_need(t, &r->parsed.need);
	ctrl_txn_op(t, ctrl_keyf("%salloc/%s", c->prefix, to->name), av, 0);
	av = NULL;
	if (moves_write(c, t, h, r->id, NULL) < 0)
		goto fail;
	t->reqs[t->n_reqs++] = r;
	/* to is locked as a commit locks it: nothing else commits on it
	 * until the answer, and place.c counts r there meanwhile */
	to->locked++;
	ctrl_host_pend_clear(to);
	to->pend = al;
	t->hosts[t->n_hosts++] = to;
	move_send(r, t, h);
	return;
fail:
	free(js);
	free(aj);
	free(av);
	if (al)
		fs_alloc_clear(al);
	free(al);
	ctrl_status_clear(&s);
	ctrl_txn_free(t);
}

/* The release of x (one of r's two assignments) with status s (taken),
 * r's id out of P/drain/<h> in the same txn; not sent, or NULL. */
static struct ctrl_txn *release_moving(struct ctrl *c, struct ctrl_req *r,
				       struct ctrl_asg *x,
				       struct ctrl_status *s,
				       const struct ctrl_host *h,
				       const char *why)
{
	struct ctrl_txn *t = ctrl_release_txn(c, r, x, s, why);

	if (t && moves_write(c, t, h, NULL, r->id) < 0) {
		ctrl_txn_free(t);
		return NULL;
	}
	return t;
}

/* The break, once the replacement b runs: the original a on h released
 * (alloc, assignment), the status running on b's host, and r's id out of
 * P/drain/<h>, in one fenced txn. */
static void move_finish(struct ctrl *c, struct ctrl_req *r, struct ctrl_asg *a,
			struct ctrl_host *h, const struct ctrl_asg *b)
{
	struct ctrl_status s;
	struct ctrl_txn *t;
	char to[FS_NAME_MAX + 1];

	strcpy(to, b->host);
	ctrl_report_init(&s, CTRL_RUNNING, r);
	ctrl_report_carry(&s, r);
	s.attempt = r->st.attempt + 1;
	strcpy(s.host, to);
	ctrl_report_reason(&s, "running on %s; moved from %s (drained)", to,
			   h->name);
	t = release_moving(c, r, a, &s, h, "drained");
	if (!t)
		return;
	t->done = finish_done;
	snprintf(t->what, sizeof(t->what),
		 "drain %s: %s moved to %s (original released)", h->name, r->id,
		 to);
	move_send(r, t, h);
}

/* The replacement b failed or its host left: b released, the status
 * back to the original alone (b's host avoided when the VM failed
 * there), r's id out of P/drain/<h>; the next pass tries another host. */
static void move_abort(struct ctrl *c, struct ctrl_req *r, struct ctrl_host *h,
		       struct ctrl_asg *b, bool failed, const char *why)
{
	struct ctrl_status s;
	struct ctrl_txn *t;

	if (ctrl_status_copy(&s, &r->st) < 0)
		return;
	s.moving_to[0] = '\0';
	if (failed)
		ctrl_status_avoid_add(&s, b->host);
	ctrl_report_reason(&s,
			   "draining %s: replacement on %s %s%s; trying "
			   "another host",
			   h->name, b->host, failed ? "failed: " : "", why);
	fs_warn("%s: %s", r->id, s.reason);
	t = release_moving(c, r, b, &s, h, "replacement abandoned");
	if (!t)
		return;
	t->done = start_done;
	move_send(r, t, h);
}

/* Writes r's status with the reason fmt (h's name first), if it is news;
 * r stays where it is. */
static void say(struct ctrl *c, struct ctrl_req *r, const char *why,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void say(struct ctrl *c, struct ctrl_req *r, const char *why,
		const char *fmt, ...)
{
	struct ctrl_status s;
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r->st.reason && strcmp(r->st.reason, buf) == 0)
		return;
	if (ctrl_status_copy(&s, &r->st) < 0)
		return;
	ctrl_report_reason(&s, "%s", buf);
	ctrl_report_status(c, r, &s, why);
}

/* A move of r off h (r's status host) in progress, to r->st.moving_to. */
static bool move_step(struct ctrl *c, struct ctrl_req *r, struct ctrl_asg *a,
		      struct ctrl_host *h)
{
	struct ctrl_asg *b = ctrl_req_asg(r, r->st.moving_to);
	struct ctrl_host *to = ctrl_host_get(c, r->st.moving_to, false);
	struct ctrl_vm *vm;
	struct ctrl_status s;

	if (!b) {
		/* Gone from the cache (deleted by hand?): the status forgets
		 * the move, only if etcd has no such assignment either. */
		if (ctrl_status_copy(&s, &r->st) < 0)
			return true;
		s.moving_to[0] = '\0';
		ctrl_report_reason(&s,
				   "draining %s: replacement on %s vanished",
				   h->name, r->st.moving_to);
		ctrl_report_status_absent(c, r, &s, "move reset",
					  ctrl_keyf("%sassign/%s/%s", c->prefix,
						    r->st.moving_to, r->id));
		return true;
	}
	if (h->moves_busy)
		return true; /* done looks again */
	if (!to || !to->present) {
		move_abort(c, r, h, b, false, "lost its host");
		return true;
	}
	vm = ctrl_req_vm(r, b->host);
	if (!vm || vm->rev <= b->rev)
		return true; /* the replacement is being created */
	if (strcmp(vm->state, "running") == 0)
		move_finish(c, r, a, h, b);
	else if (strcmp(vm->state, "failed") == 0 ||
		 strcmp(vm->state, "refused") ==
		     0) /* an agent that does not know moving_to */
		move_abort(c, r, h, b, true, vm->error ? vm->error : "failed");
	return true;
}

bool ctrl_drain_step(struct ctrl *c, struct ctrl_req *r, struct ctrl_asg *a,
		     struct ctrl_host *h)
{
	struct ctrl_place pl;
	struct ctrl_pick pk;
	struct ctrl_explain ex = {0};
	struct ctrl_status s;
	const char *top = "?";
	int64_t best = 0;
	int rc;

	if (r->st.moving_to[0] && strcmp(r->st.moving_to, r->st.host) != 0)
		return move_step(c, r, a, h);
	if (h->cordon != CTRL_HOST_DRAIN || r->st.phase != CTRL_RUNNING)
		return false;
	if (h->drain_deadline > 0 && ev_now(c->loop) >= h->drain_deadline) {
		struct ctrl_txn *t;

		ctrl_report_init(&s, CTRL_PENDING, r);
		ctrl_report_carry(&s, r);
		ctrl_report_reason(&s,
				   "draining %s: deadline passed; moved "
				   "break-before-make",
				   h->name);
		t = ctrl_release_txn(c, r, a, &s, "drain deadline passed");
		if (!t)
			return true;
		t->done = evict_done;
		snprintf(t->what, sizeof(t->what),
			 "drain %s: %s released past the deadline "
			 "(break-before-make)",
			 h->name, r->id);
		move_send(r, t, NULL);
		return true;
	}
	if (h->moves_busy || listed(h, r->id))
		return true; /* a txn of ours on h, or the sweep's to come */
	if (h->n_moving >= (size_t)h->drain_max) {
		say(c, r, "drain wait",
		    "draining %s: waiting to move (max_parallel %lld)", h->name,
		    (long long)h->drain_max);
		return true;
	}
	ctrl_req_place(c, r, &pl);
	rc = ctrl_place_pick(&pl, c->harr, c->n_harr, &c->cursor,
			     (size_t)c->cfg->score_hosts, &ex, &pk);
	if (rc < 0 || pk.busy) {
		ctrl_explain_clear(&ex);
		return true;
	}
	if (pk.best) {
		ctrl_explain_clear(&ex);
		r->drain_nofit_gen = 0;
		move_start(c, r, h, pk.best, pk.score);
		return true;
	}
	if (r->drain_nofit_gen != c->cap_gen + 1) {
		r->drain_nofit_gen = c->cap_gen + 1;
		for (size_t i = 0; i < ex.n_rejected; i++) {
			if (strcmp(ex.rejected[i].reason, "host cordoned") !=
				0 &&
			    ex.rejected[i].count > best) {
				best = ex.rejected[i].count;
				top = ex.rejected[i].reason;
			}
		}
		fs_info("%s: draining %s, but no other host fits (%s)", r->id,
			h->name, top);
		say(c, r, "drain no fit",
		    "draining %s: no other host fits (%s: %lld of %lld "
		    "hosts); the VM stays until one does",
		    h->name, top, (long long)best, (long long)ex.hosts);
	}
	ctrl_explain_clear(&ex);
	return true;
}

struct sweep {
	struct ctrl *c;
	unsigned pending;
};

/* An id of P/drain/<h> whose move is over (not a move off h in the
 * cache, nor a txn of it in flight), of a slot we lead, or NULL. */
static const char *stale_id(struct ctrl *c, const struct ctrl_host *h)
{
	for (size_t i = 0; i < h->n_moving; i++) {
		const char *id = h->moving[i];
		struct ctrl_req *r;

		if (!fs_name_valid(id) || !slot_mine(c, fs_slot_of(id, c->k)))
			continue;
		r = ctrl_req_get(c, id, false);
		if (r && (r->act == ACT_TXN || r->hold_seq ||
			  (placed(r) && r->st.moving_to[0] &&
			   strcmp(r->st.host, h->name) == 0)))
			continue;
		return id;
	}
	return NULL;
}

static void sweep_host(void *arg, const char *key, void *val)
{
	struct sweep *w = arg;
	struct ctrl *c = w->c;
	struct ctrl_host *h = val;
	struct ctrl_txn *t;
	const char *id;

	(void)key;
	if (!h->n_moving || h->moves_busy || !(id = stale_id(c, h)))
		return;
	t = ctrl_txn_new(c, TXN_MOVE, fs_slot_of(id, c->k), NULL);
	if (!t)
		return;
	ctrl_txn_fence(t);
	if (moves_write(c, t, h, NULL, id) < 0) {
		ctrl_txn_free(t);
		return;
	}
	snprintf(t->what, sizeof(t->what), "drain %s: %s's move is over",
		 h->name, id);
	t->arg = h;
	t->done = start_done;
	h->moves_busy = true;
	ctrl_txn_send(t);
}

void ctrl_drain_sweep(struct ctrl *c)
{
	struct sweep w = {.c = c};

	ctrl_map_each(&c->hosts, sweep_host, &w);
}

static void count_req(void *arg, const char *key, void *val)
{
	struct sweep *w = arg;
	struct ctrl_req *r = val;
	struct ctrl_host *h;

	(void)key;
	if (slot_mine(w->c, r->slot) && placed(r) &&
	    (h = ctrl_host_get(w->c, r->st.host, false)) &&
	    h->cordon == CTRL_HOST_DRAIN)
		w->pending++;
}

unsigned ctrl_drain_pending(const struct ctrl *c)
{
	struct sweep w = {.c = (struct ctrl *)c};

	ctrl_map_each(&c->reqs, count_req, &w);
	return w.pending;
}
