/*
 * Where a request would go now, computed by the controller's own
 * placement unit (controller/place.c, declared in controller/ctrl.h: no
 * etcd, no loop): the view's hosts become the controller's host records
 * (struct ctrl_host, nothing in flight on them), each is rated with
 * ctrl_place_rate (feasibility, score plus partition band, rejection
 * reason counted as the controller counts it), the feasible ones are
 * ranked with ctrl_cand_sort (controller/pick.c), and the winner is
 * ctrl_place_pick's, the controller's cached-mode choice over every host
 * (which also prefers, among equal scores, hosts of the request's own
 * partition).  Nothing here scores or compares hosts by itself.
 */
#include "ctl/place.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The reason ctrl_place_rate just counted in e: the one whose count grew
 * since before[0..n_before). */
static const char *counted_reason(const struct ctrl_explain *e,
				  const int64_t *before, size_t n_before)
{
	for (size_t i = 0; i < e->n_rejected; i++)
		if (i >= n_before || e->rejected[i].count != before[i])
			return e->rejected[i].reason;
	return "";
}

static void free_of(const struct ctl_vhost *h, struct fs_res *out)
{
	const struct fs_res *cap = &h->rec.allocatable;
	const struct fs_res *u = &h->alloc.used;
	bool a = h->alloc_present;

	out->vcpu = cap->vcpu - (a ? u->vcpu : 0);
	out->memory_mb = cap->memory_mb - (a ? u->memory_mb : 0);
	out->vms = cap->vms - (a ? u->vms : 0);
	if (out->vcpu < 0)
		out->vcpu = 0;
	if (out->memory_mb < 0)
		out->memory_mb = 0;
	if (out->vms < 0)
		out->vms = 0;
}

static unsigned slots_of(const struct ctl *x, const struct ctl_view *v)
{
	return v->coordinators > 0 ? (unsigned)v->coordinators
				   : (unsigned)x->sched.coordinators;
}

/* What the controller asks of a host for the request (ctrl_req_place). */
static struct ctrl_place place_of(const struct ctl *x, const struct ctl_view *v,
				  const char *id, const struct fs_need *need,
				  const struct ctrl_status *avoid)
{
	const struct ctrl_config *cfg = &x->sched;
	unsigned k = slots_of(x, v);

	return (struct ctrl_place){
	    .id = id,
	    .need = need,
	    .slot = fs_slot_of(need->group ? need->group : id, k),
	    .avoid = avoid,
	    .w = {cfg->w_cpu, cfg->w_memory, cfg->w_vms},
	    .strategy = (enum fs_strategy)cfg->strategy,
	    .band = k > 1 ? cfg->partition_band : 0,
	};
}

int ctl_place(const struct ctl *x, const struct ctl_view *v, const char *id,
	      const struct fs_need *need, const struct ctrl_status *avoid,
	      struct ctl_place *out)
{
	unsigned k = slots_of(x, v);
	struct ctrl_place pl = place_of(x, v, id, need, avoid);
	struct ctrl_host **ptrs = NULL;
	struct ctrl_explain ex = {0};
	struct ctrl_pick pick = {0};
	struct ctrl_groups groups = {0};
	int64_t *before = NULL;
	size_t cursor = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (v->n_hosts) {
		out->hosts = calloc(v->n_hosts, sizeof(*out->hosts));
		out->cands = calloc(v->n_hosts, sizeof(*out->cands));
		out->ch = calloc(v->n_hosts, sizeof(*out->ch));
		ptrs = calloc(v->n_hosts, sizeof(*ptrs));
		if (!out->hosts || !out->cands || !out->ch || !ptrs)
			goto nomem;
	}
	for (size_t i = 0; i < v->n_hosts; i++) {
		const struct ctl_vhost *vh = &v->hosts[i];
		struct ctl_place_host *p = &out->hosts[out->n_hosts];
		struct ctrl_host *h = &out->ch[out->n_hosts];

		if (!vh->rec_present)
			continue; /* the controller places on live hosts only */
		/* Borrowed views of the records: never freed through h. */
		snprintf(h->name, sizeof(h->name), "%s", vh->name);
		h->present = true;
		h->rec = vh->rec;
		h->alloc_present = vh->alloc_present;
		h->alloc = vh->alloc;
		h->part = fs_slot_of(vh->name, k);
		ptrs[out->n_hosts++] = h;
		p->h = vh;
		p->cordoned = vh->ctl.present;
		/* As the controller reads P/hostctl/<host> (cache.c): its
		 * feasibility then rejects the host, "host cordoned". */
		h->cordon = !vh->ctl.present ? CTRL_HOST_NORMAL
			    : strcmp(vh->ctl.state, "drain") == 0
				? CTRL_HOST_DRAIN
				: CTRL_HOST_CORDONED;
		free_of(vh, &p->free);
	}
	/* The group rules count the whole fleet: every host first. */
	if (ctrl_place_groups(&pl, ptrs, out->n_hosts, &groups) < 0)
		goto nomem;
	for (size_t i = 0; i < out->n_hosts; i++) {
		struct ctl_place_host *p = &out->hosts[i];
		struct ctrl_host *h = &out->ch[i];
		struct ctrl_cand cand;
		size_t nb = out->explain.n_rejected;

		if (nb) {
			int64_t *nbf = realloc(before, nb * sizeof(*before));

			if (!nbf)
				goto nomem;
			before = nbf;
			for (size_t j = 0; j < nb; j++)
				before[j] = out->explain.rejected[j].count;
		}
		rc = ctrl_place_rate(&pl, h, &out->explain, &cand);
		if (rc < 0)
			goto nomem;
		if (rc == 0) {
			snprintf(p->reason, sizeof(p->reason), "%s",
				 counted_reason(&out->explain, before, nb));
			continue;
		}
		p->fits = true;
		p->score = cand.score;
		cand.data = p;
		out->cands[out->n_cands++] = cand;
	}
	ctrl_cand_sort(out->cands, out->n_cands);
	/* The controller's own choice goes first (it breaks equal scores by
	 * partition before the hash). */
	rc = ctrl_place_pick(&pl, ptrs, out->n_hosts, &cursor, 0, &ex, &pick);
	ctrl_explain_clear(&ex);
	if (rc < 0)
		goto nomem;
	for (size_t i = 0; pick.best && i < out->n_cands; i++) {
		if (out->cands[i].host != pick.best->name)
			continue;
		struct ctrl_cand w = out->cands[i];

		memmove(out->cands + 1, out->cands, i * sizeof(*out->cands));
		out->cands[0] = w;
		break;
	}
	free(before);
	free(ptrs);
	ctrl_groups_clear(&groups);
	return 0;
nomem:
	free(before);
	free(ptrs);
	ctrl_groups_clear(&groups);
	ctl_place_clear(out);
	return -ENOMEM;
}

void ctl_place_clear(struct ctl_place *p)
{
	free(p->hosts);
	free(p->cands);
	free(p->ch); /* shallow copies: the view owns their records */
	ctrl_explain_clear(&p->explain);
	memset(p, 0, sizeof(*p));
}

/* The host record of p named name (the live ones), or NULL. */
static struct ctrl_host *place_host(const struct ctl_place *p, const char *name,
				    size_t len)
{
	for (size_t i = 0; i < p->n_hosts; i++)
		if (strlen(p->ch[i].name) == len &&
		    strncmp(p->ch[i].name, name, len) == 0)
			return &p->ch[i];
	return NULL;
}

int ctl_place_preempt(const struct ctl *x, const struct ctl_view *v,
		      const struct ctl_place *p, const char *id,
		      const struct ctrl_request *req,
		      const struct etcd_sync_range *asg,
		      struct ctl_preempt *out)
{
	struct ctrl_place pl = place_of(x, v, id, &req->need, NULL);
	size_t n = asg ? asg->n_kvs : 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (x->sched.max_victims <= 0 || !n || req->gang)
		return 0; /* off; nothing placed; a gang does not preempt */
	out->specs = calloc(n, sizeof(*out->specs));
	out->ids = calloc(n, sizeof(*out->ids));
	out->v = calloc(n, sizeof(*out->v));
	if (!out->specs || !out->ids || !out->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct etcd_sync_kv *kv = &asg->kvs[i];
		/* "<P>/assign/<host>/<id>" */
		const char *t = ctl_key_tail(x, kv->key, "assign/");
		const char *slash;
		struct ctrl_host *h;

		if (!t || !(slash = strchr(t, '/')) || !slash[1] ||
		    strlen(slash + 1) > FS_NAME_MAX ||
		    !(h = place_host(p, t, (size_t)(slash - t))))
			continue;
		strcpy(out->ids[out->n], slash + 1);
		rc = ctrl_request_of_asg(out->ids[out->n], kv->value,
					 kv->value_len, &out->specs[out->n],
					 NULL, NULL);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0)
			continue;
		ctrl_victim_of(&out->v[out->n], out->ids[out->n],
			       &out->specs[out->n], h, &out->specs[out->n].need,
			       NULL);
		out->n++;
	}
	return ctrl_victims_choose(&pl, req->priority,
				   (size_t)x->sched.max_victims, out->v, out->n,
				   &out->chosen);
}

void ctl_preempt_clear(struct ctl_preempt *pp)
{
	for (size_t i = 0; pp->specs && i < pp->n; i++)
		ctrl_request_clear(&pp->specs[i]);
	free(pp->specs);
	free(pp->ids);
	free(pp->v);
	memset(pp, 0, sizeof(*pp));
}

int ctl_place_gang(const struct ctl *x, const struct ctl_view *v,
		   struct ctl_gang_member *m, size_t n, size_t *ret_failed,
		   struct ctrl_explain *ret_ex)
{
	struct ctrl_host **ptrs = NULL;
	struct ctl_place p;
	int rc = 1;

	memset(ret_ex, 0, sizeof(*ret_ex));
	if (!n)
		return 1;
	/* the controller's host records of the view, as for one request */
	if (ctl_place(x, v, m[0].id, m[0].need, NULL, &p) < 0)
		return -ENOMEM;
	if (p.n_hosts && !(ptrs = calloc(p.n_hosts, sizeof(*ptrs))))
		rc = -ENOMEM;
	for (size_t i = 0; rc > 0 && i < p.n_hosts; i++)
		ptrs[i] = &p.ch[i];
	for (size_t i = 0; rc > 0 && i < n; i++) {
		struct ctrl_place pl = place_of(x, v, m[i].id, m[i].need, NULL);
		struct ctrl_groups g = {0};
		struct ctrl_explain ex = {0};
		struct ctrl_pick pk = {0};
		size_t cursor = 0;

		m[i].host[0] = '\0';
		/* the pick sees the members before i (their hosts' tent) */
		if (ctrl_place_groups(&pl, ptrs, p.n_hosts, &g) < 0 ||
		    ctrl_place_pick(&pl, ptrs, p.n_hosts, &cursor, 0, &ex,
				    &pk) < 0 ||
		    (pk.best && ctrl_place_tent_add(pk.best, m[i].need) < 0)) {
			rc = -ENOMEM;
		} else if (!pk.best) {
			*ret_failed = i;
			*ret_ex = ex;
			memset(&ex, 0, sizeof(ex));
			rc = 0;
		} else {
			snprintf(m[i].host, sizeof(m[i].host), "%s",
				 pk.best->name);
		}
		ctrl_groups_clear(&g);
		ctrl_explain_clear(&ex);
	}
	for (size_t i = 0; i < p.n_hosts; i++) {
		if (p.ch[i].tent)
			fs_alloc_clear(p.ch[i].tent);
		free(p.ch[i].tent);
		p.ch[i].tent = NULL;
	}
	free(ptrs);
	ctl_place_clear(&p);
	if (rc < 0)
		ctrl_explain_clear(ret_ex);
	return rc;
}
