/* Preemption (scheduling.preemption.max_victims > 0): a request that fits
 * nowhere evicts VMs of strictly lower priority that are preemptible,
 * chosen by victim.c on one host, in the txn that places it: the
 * victims' assignments deleted and their statuses pending ("preempted
 * by <id>"), the host's alloc without them plus the request, fenced by
 * the election key of every slot it writes (docs/DESIGN.md "Placement
 * constraints").  Victims are of the slots we lead: the cache holds their
 * statuses and assignments.  Calls victim.c, place.c, report.c, txn.c,
 * req.c, host.c, key.c. */
#include "controller/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct gather {
	struct ctrl *c;
	const struct ctrl_req *r;
	struct ctrl_victim *v;
	size_t n, cap;
	size_t busy; /* victims busy now (gather_each) */
	int rc;
};

/* q runs or is scheduled on one host of a slot we lead, with nothing of
 * ours in flight on it: it can be released by our txn.  One that could
 * be a victim but is busy now (a write of its status, a hold, a commit
 * on its host in flight) counts in g->busy: the request tries again. */
static void gather_each(void *arg, const char *key, void *val)
{
	struct gather *g = arg;
	struct ctrl_req *q = val;
	struct ctrl_victim v;
	struct ctrl_asg *a;
	struct ctrl_host *h;
	bool ok;

	(void)key;
	if (g->rc < 0 || q == g->r || !slot_mine(g->c, q->slot))
		return;
	ctrl_victim_of(&v, q->id, &q->parsed, NULL, NULL, q);
	ok = ctrl_victim_ok(&v, g->r->parsed.priority);
	if (q->act != ACT_NONE || q->hold_seq) {
		g->busy += ok;
		return;
	}
	if (!q->st_present ||
	    q->st.request_rev != q->spec_rev || q->parsed_rev != q->spec_rev ||
	    (q->st.phase != CTRL_SCHEDULED && q->st.phase != CTRL_RUNNING) ||
	    q->st.moving_to[0] || q->n_asg != 1 ||
	    !(a = ctrl_req_asg(q, q->st.host)) ||
	    !(h = ctrl_host_get(g->c, a->host, false)) || !h->alloc_present ||
	    h->alloc_bad || h->n_moving)
		return;
	g->busy += ok && (h->locked || h->pend || h->tent);
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 64;
		struct ctrl_victim *nv = realloc(g->v, cap * sizeof(*nv));

		if (!nv) {
			g->rc = -ENOMEM;
			return;
		}
		g->v = nv;
		g->cap = cap;
	}
	v.host = h;
	v.need = &a->need;
	g->v[g->n++] = v;
}

static void fence_slot(struct ctrl_txn *t, unsigned s, unsigned *done,
		       size_t *n_done)
{
	const struct ctrl_slot *sl = &t->c->slots[s];

	for (size_t i = 0; i < *n_done; i++)
		if (done[i] == s)
			return;
	done[(*n_done)++] = s;
	ctrl_txn_cmp(t, strdup(sl->lk_key ? sl->lk_key : ""), ETCD_CMP_CREATE,
		     sl->lk_rev);
}

static void preempt_done(struct ctrl_txn *t, struct ctrl_req *r, bool ok,
			 int64_t rev)
{
	(void)rev;
	if (r != t->reqs[0])
		return; /* once per txn: its first request is the preemptor */
	if (ok) {
		t->c->m.preemptions++;
		fs_info("%s", t->what);
	} else {
		fs_info("%s: not made (a compare failed or no answer)",
			t->what);
	}
}

/* The victim q's status: pending, preempted by r from host. */
static int victim_status(struct ctrl *c, struct ctrl_txn *t, struct ctrl_req *q,
			 const struct ctrl_req *r, const char *host)
{
	struct ctrl_status s;
	char *js;

	ctrl_report_init(&s, CTRL_PENDING, q);
	ctrl_report_carry(&s, q);
	ctrl_report_reason(&s,
			   "preempted by %s on %s (priority %lld above %lld); "
			   "placed again",
			   r->id, host, (long long)r->parsed.priority,
			   (long long)q->parsed.priority);
	js = ctrl_report_json(c, q, &s);
	if (!js) {
		ctrl_status_clear(&s);
		return -ENOMEM;
	}
	ctrl_txn_op(t, ctrl_keyf("%sstatus/%s", c->prefix, q->id), js, 0);
	ctrl_txn_keep_status(t, ctrl_txn_status_take(&s));
	ctrl_status_clear(&s);
	return 0;
}

/* r's status: scheduled on h, by preemption of v; takes ex. */
static int preemptor_status(struct ctrl *c, struct ctrl_txn *t,
			    struct ctrl_req *r, const struct ctrl_host *h,
			    const struct ctrl_victims *v, int64_t attempt,
			    struct ctrl_explain *ex)
{
	struct ctrl_status s;
	char names[256] = "";
	size_t off = 0;
	char *js;

	for (size_t i = 0; i < v->n && off < sizeof(names) - 1; i++) {
		int w = snprintf(names + off, sizeof(names) - off, "%s%s",
				 i ? ", " : "", v->v[i]->id);

		off += w > 0 ? (size_t)w : 0;
	}
	ctrl_report_init(&s, CTRL_SCHEDULED, r);
	ctrl_report_carry(&s, r);
	s.attempt = attempt;
	strcpy(s.host, h->name);
	s.has_explain = true;
	s.explain = *ex;
	memset(ex, 0, sizeof(*ex));
	ctrl_report_reason(&s,
			   "placed on %s by preempting %zu VM(s) of lower "
			   "priority: %s",
			   h->name, v->n, names);
	js = ctrl_report_json(c, r, &s);
	if (!js) {
		ctrl_status_clear(&s);
		return -ENOMEM;
	}
	ctrl_txn_op(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id), js, 0);
	ctrl_txn_keep_status(t, ctrl_txn_status_take(&s));
	ctrl_status_clear(&s);
	return 0;
}

/* h's alloc without the victims, plus r (malloc'd), or NULL. */
static struct fs_alloc *alloc_after(const struct ctrl_host *h,
				    const struct ctrl_req *r,
				    const struct ctrl_victims *v)
{
	struct fs_alloc *a = calloc(1, sizeof(*a));
	char *tmp = fs_alloc_format(&h->alloc);
	int rc = 0;

	if (!a || !tmp || fs_alloc_parse(tmp, strlen(tmp), a, NULL, 0) < 0)
		goto fail;
	for (size_t i = 0; i < v->n && rc == 0; i++)
		rc = fs_alloc_add(a, &v->v[i]->need->res,
				  fs_need_group(v->v[i]->need), -1);
	if (rc < 0 || fs_alloc_add(a, &r->parsed.need.res,
				   fs_need_group(&r->parsed.need), 1) < 0)
		goto fail;
	free(tmp);
	return a;
fail:
	free(tmp);
	if (a)
		fs_alloc_clear(a);
	free(a);
	return NULL;
}

/* The one txn: r placed on h, v released. */
static int preempt_send(struct ctrl *c, struct ctrl_req *r, struct ctrl_host *h,
			const struct ctrl_victims *v, struct ctrl_explain *ex)
{
	struct ctrl_txn *t = ctrl_txn_new(c, TXN_MOVE, r->slot, preempt_done);
	unsigned fenced[CTRL_VICTIMS_MAX + 1];
	size_t n_fenced = 0;
	struct fs_alloc *al = alloc_after(h, r, v);
	int64_t attempt =
	    (r->st_present && r->st.request_rev == r->spec_rev ? r->st.attempt
							       : 0) +
	    1;
	char *aj = NULL;

	if (!t || !al)
		goto fail;
	fence_slot(t, r->slot, fenced, &n_fenced);
	for (size_t i = 0; i < v->n; i++)
		fence_slot(t, ((struct ctrl_req *)v->v[i]->data)->slot, fenced,
			   &n_fenced);
	ctrl_txn_cmp(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, r->st_present ? r->st_rev : 0);
	ctrl_txn_cmp(t, ctrl_keyf("%srequests/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, r->req_rev);
	ctrl_txn_cmp(t, ctrl_keyf("%salloc/%s", c->prefix, h->name),
		     ETCD_CMP_MOD, h->alloc_rev);
	for (size_t i = 0; i < v->n; i++) {
		struct ctrl_req *q = v->v[i]->data;
		struct ctrl_asg *a = ctrl_req_asg(q, h->name);

		ctrl_txn_cmp(t, ctrl_keyf("%sstatus/%s", c->prefix, q->id),
			     ETCD_CMP_MOD, q->st_rev);
		ctrl_txn_cmp(t, ctrl_keyf("%srequests/%s", c->prefix, q->id),
			     ETCD_CMP_MOD, q->req_rev);
		ctrl_txn_cmp(
		    t, ctrl_keyf("%sassign/%s/%s", c->prefix, h->name, q->id),
		    ETCD_CMP_MOD, a ? a->rev : -1);
	}
	/* the status first: its time makes it the unique value a read back
	 * of an unknown outcome looks for */
	if (preemptor_status(c, t, r, h, v, attempt, ex) < 0)
		goto fail;
	aj = ctrl_keyf("{\"request\":%.*s,\"request_rev\":%lld,"
		       "\"attempt\":%lld}",
		       (int)r->req_len, r->req_val, (long long)r->spec_rev,
		       (long long)attempt);
	if (!aj)
		goto fail;
	ctrl_txn_op(t, ctrl_keyf("%sassign/%s/%s", c->prefix, h->name, r->id),
		    aj, 0);
	ctrl_txn_keep_need(t, &r->parsed.need);
	/* on a failed compare, read back as commit.c does: a copy of this
	 * txn that landed shows its assignment with its status */
	ctrl_txn_read(t,
		      ctrl_keyf("%sassign/%s/%s", c->prefix, h->name, r->id));
	ctrl_txn_op(t, ctrl_keyf("%salloc/%s", c->prefix, h->name),
		    fs_alloc_format(al), 0);
	for (size_t i = 0; i < v->n; i++) {
		struct ctrl_req *q = v->v[i]->data;

		ctrl_txn_op(
		    t, ctrl_keyf("%sassign/%s/%s", c->prefix, h->name, q->id),
		    NULL, 0);
		if (victim_status(c, t, q, r, h->name) < 0)
			goto fail;
	}
	if (t->err)
		goto fail;
	snprintf(t->what, sizeof(t->what),
		 "preempt: %s placed on %s, %zu VM(s) of lower priority "
		 "released (%s%s)",
		 r->id, h->name, v->n, v->v[0]->id, v->n > 1 ? ", ..." : "");
	t->reqs[t->n_reqs++] = r;
	r->act = ACT_TXN;
	for (size_t i = 0; i < v->n; i++) {
		struct ctrl_req *q = v->v[i]->data;

		t->reqs[t->n_reqs++] = q;
		q->act = ACT_TXN;
	}
	/* h is locked as a commit locks it: nothing else commits on it
	 * until the answer, and place.c counts what it will hold */
	h->locked++;
	ctrl_host_pend_clear(h);
	h->pend = al;
	t->hosts[t->n_hosts++] = h;
	fs_info("%s: fits nowhere; preempting %zu VM(s) on %s", r->id, v->n,
		h->name);
	ctrl_txn_send(t);
	return 0;
fail:
	if (al)
		fs_alloc_clear(al);
	free(al);
	ctrl_txn_free(t);
	return -ENOMEM;
}

int ctrl_preempt(struct ctrl *c, struct ctrl_req *r, struct ctrl_explain *ex)
{
	struct gather g = {.c = c, .r = r};
	struct ctrl_victims v;
	struct ctrl_place pl;
	int rc = 0;

	if (c->cfg->max_victims <= 0 || r->parsed.gang)
		return 0;
	if (c->inflight >= (unsigned)c->cfg->max_inflight)
		return -EAGAIN;
	ctrl_map_each(&c->reqs, gather_each, &g);
	ctrl_req_place(c, r, &pl);
	if (g.rc == 0 &&
	    ctrl_victims_choose(&pl, r->parsed.priority,
				(size_t)c->cfg->max_victims, g.v, g.n, &v) == 1)
		rc = preempt_send(c, r, v.v[0]->host, &v, ex) == 0 ? 1 : -EAGAIN;
	else if (g.rc < 0 || g.busy)
		rc = -EAGAIN;
	free(g.v);
	return rc;
}

void ctrl_preempt_or_wait(struct ctrl *c, struct ctrl_req *r,
			  struct ctrl_explain *ex)
{
	int rc = ctrl_preempt(c, r, ex);

	if (rc > 0)
		return;
	ctrl_report_unschedulable(c, r, ex, "no host fits");
	/* Victims busy now (their status write in flight, a commit on
	 * their host): no capacity news will come, so the next pass (2 s)
	 * plans it again.  test_preempt lost the preemption 1 run in 3 when
	 * the request came while its victims' running statuses were being
	 * written, and it stayed unschedulable for good. */
	if (rc == -EAGAIN)
		r->unsched_gen = c->cap_gen - 1;
}
