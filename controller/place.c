/* Feasibility and scoring of cached hosts for one request: which hosts
 * fit (resources, selector and constraints by fs_score; the group rules
 * anti_affinity and topology_spread here, from the fleet's counts), why
 * the others do not, and how the ones that fit rank.  Pure: calls
 * only common/score.c, status.c (avoid list) and pick.c; no etcd, no loop.
 * Its callers: rounds.c (candidates), commit.c (cached pick, bidders). */
#include "controller/ctrl.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct fs_alloc *ctrl_place_alloc(const struct ctrl_host *h)
{
	if (h->tent)
		return h->tent;
	if (h->pend)
		return h->pend;
	return h->alloc_present ? &h->alloc : NULL;
}

struct fs_alloc *ctrl_place_alloc_dup(const struct ctrl_host *h)
{
	struct fs_alloc *a = calloc(1, sizeof(*a));
	char *tmp;

	if (!a)
		return NULL;
	if (!h->alloc_present)
		return a;
	tmp = fs_alloc_format(&h->alloc);
	if (!tmp || fs_alloc_parse(tmp, strlen(tmp), a, NULL, 0) < 0) {
		free(tmp);
		free(a);
		return NULL;
	}
	free(tmp);
	return a;
}

int ctrl_place_tent_add(struct ctrl_host *h, const struct fs_need *need)
{
	if (!h->tent && !(h->tent = ctrl_place_alloc_dup(h)))
		return -ENOMEM;
	return fs_alloc_add(h->tent, &need->res, fs_need_group(need), 1);
}

double ctrl_place_band(const struct ctrl_place *p, const struct ctrl_host *h)
{
	return h->part == p->slot ? 0 : p->band;
}

/* Why a stale host (ctrl_host.stale) is not placed on. */
static const char *place_stale(const struct ctrl_place *p)
{
	return p->stale ? p->stale : "host record stale";
}

static bool place_avoids(const struct ctrl_place *p, const struct ctrl_host *h)
{
	return p->avoid && ctrl_status_avoids(p->avoid, h->name);
}

/* ---- group rules (anti_affinity, topology_spread) --------------------- */

static struct ctrl_gcount *gview_find(const struct ctrl_gview *v,
				      const char *value)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i].value, value) == 0)
			return &v->v[i];
	return NULL;
}

/* Does h pass p's label rules (so its label values count as eligible)? */
static bool label_ok(const struct ctrl_place *p, const struct ctrl_host *h)
{
	return h->present && !h->cordon &&
	       fs_labels_match(&h->rec.labels, &p->need->selector, NULL, 0) &&
	       fs_constraints_match(&h->rec.labels, &p->need->constraints,
				    NULL, 0);
}

static int gview_build(const struct ctrl_place *p, const char *key,
		       struct ctrl_host *const *hosts, size_t n,
		       struct ctrl_gview *v)
{
	const char *group = p->need->group;
	bool any = false;

	v->v = calloc(n ? n : 1, sizeof(*v->v));
	if (!v->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ctrl_host *h = hosts[i];
		const char *val = fs_labels_get(&h->rec.labels, key);
		struct ctrl_gcount *gc;

		if (!val)
			continue;
		gc = gview_find(v, val);
		if (!gc) {
			gc = &v->v[v->n++];
			gc->value = val;
		}
		gc->vms += fs_alloc_group_vms(ctrl_place_alloc(h), group);
		if (!gc->eligible && label_ok(p, h))
			gc->eligible = true;
	}
	for (size_t i = 0; i < v->n; i++) {
		if (v->v[i].eligible && (!any || v->v[i].vms < v->min)) {
			v->min = v->v[i].vms;
			any = true;
		}
	}
	return 0;
}

void ctrl_groups_clear(struct ctrl_groups *g)
{
	if (!g)
		return;
	free(g->anti.v);
	free(g->topo.v);
	memset(g, 0, sizeof(*g));
}

int ctrl_place_groups(struct ctrl_place *p, struct ctrl_host *const *hosts,
		      size_t n, struct ctrl_groups *g)
{
	const struct fs_need *need = p->need;
	int rc = 0;

	if (need->group && need->anti_scope &&
	    strcmp(need->anti_scope, "host") != 0)
		rc = gview_build(p, need->anti_scope, hosts, n, &g->anti);
	if (rc == 0 && need->group && need->topo_key)
		rc = gview_build(p, need->topo_key, hosts, n, &g->topo);
	if (rc < 0) {
		ctrl_groups_clear(g);
		return rc;
	}
	p->groups = g;
	return 0;
}

/*
 * need's group rules on h, after its resources fit: NULL, or the reason
 * it is refused in buf ("anti_affinity web: a VM of web on the host",
 * "topology_spread web zone: skew 2 > 1").  A host without the
 * anti_affinity scope's label is a domain of its own (only its own VMs
 * count); one without the topology key has no place in the spread.
 */
static const char *group_refuses(const struct ctrl_place *p,
				 const struct ctrl_host *h, char *buf,
				 size_t len)
{
	const struct fs_need *need = p->need;
	const struct ctrl_gcount *gc;
	const char *val;
	int64_t skew;

	if (!need->group)
		return NULL;
	if (need->anti_scope) {
		bool host = strcmp(need->anti_scope, "host") == 0;

		val = host ? NULL
			   : fs_labels_get(&h->rec.labels, need->anti_scope);
		gc = val && p->groups
			 ? gview_find(&p->groups->anti, val)
			 : NULL;
		if (val && gc && gc->vms > 0) {
			snprintf(buf, len, "anti_affinity %s: a VM of %s in %s=%s",
				 need->group, need->group, need->anti_scope,
				 val);
			return buf;
		}
		if (!val &&
		    fs_alloc_group_vms(ctrl_place_alloc(h), need->group) > 0) {
			snprintf(buf, len,
				 "anti_affinity %s: a VM of %s on the host",
				 need->group, need->group);
			return buf;
		}
	}
	if (need->topo_key) {
		val = fs_labels_get(&h->rec.labels, need->topo_key);
		if (!val) {
			snprintf(buf, len, "topology_spread %s %s: no label %s",
				 need->group, need->topo_key, need->topo_key);
			return buf;
		}
		gc = p->groups ? gview_find(&p->groups->topo, val)
			       : NULL;
		skew = gc ? gc->vms + 1 - p->groups->topo.min : 0;
		if (skew > need->max_skew) {
			snprintf(buf, len, "topology_spread %s %s: skew %lld > %lld",
				 need->group, need->topo_key, (long long)skew,
				 (long long)need->max_skew);
			return buf;
		}
	}
	return NULL;
}

/* What one more VM of need adds to a host's score (spread; the size of
 * a step for binpack too): its weighted share of the host. */
static double vm_step(const struct fs_host *h, const struct fs_need *need,
		      const struct fs_weights *w)
{
	const struct fs_res *cap = &h->allocatable;
	double sum = w->cpu + w->memory + w->vms, d = 0;

	if (sum <= 0)
		return 0;
	if (cap->vcpu > 0)
		d += w->cpu * (double)need->res.vcpu / (double)cap->vcpu;
	if (cap->memory_mb > 0)
		d += w->memory * (double)need->res.memory_mb /
		     (double)cap->memory_mb;
	if (cap->vms > 0)
		d += w->vms / (double)cap->vms;
	return d / sum;
}

int ctrl_place_rate(const struct ctrl_place *p, struct ctrl_host *h,
		    struct ctrl_explain *ex, struct ctrl_cand *ret)
{
	struct fs_bid b;

	if (!h->present)
		return 0;
	ex->hosts++;
	if (h->stale)
		return ctrl_explain_add(ex, place_stale(p));
	if (h->cordon)
		return ctrl_explain_add(ex, "host cordoned");
	if (place_avoids(p, h))
		return ctrl_explain_add(ex, "VM failed there before");
	fs_score(&h->rec, ctrl_place_alloc(h), p->need, &p->w, p->strategy,
		 &b);
	if (!b.fits)
		return ctrl_explain_add(ex, b.reason);
	if (group_refuses(p, h, b.reason, sizeof(b.reason)))
		return ctrl_explain_add(ex, b.reason);
	/* Each open invitation counts as one more VM of this size, so that
	 * the rounds opened in one pass invite different hosts.  Not as
	 * 1/candidates of one (its odds were the winner random): the least
	 * loaded of a round's hosts wins it, so the lowest hosts gathered
	 * several invitations, won them all, and 10,000 placements on 500
	 * hosts spread 19-22 VMs (now 19-21). */
	if (h->invites)
		b.score += (double)h->invites * vm_step(&h->rec, p->need, &p->w);
	b.score += ctrl_place_band(p, h);
	ex->feasible++;
	*ret = (struct ctrl_cand){.host = h->name, .score = b.score,
				  .tiebreak = fs_tiebreak(p->id, h->name),
				  .data = h};
	return 1;
}

/* ctrl_place_pick's scan. */
struct pick_ctx {
	const struct ctrl_place *pl;
	struct ctrl_explain *ex;
	struct ctrl_host *best;
	double bs;     /* best's score plus its partition band */
	double bscore; /* best's score */
	uint32_t btb;  /* best's tiebreak, computed on the first tie */
	bool btb_ok, bpart, bfree;
	bool wait; /* fits on what is committed, not with what is pending */
	int rc;
};

static void pick_each(struct pick_ctx *p, struct ctrl_host *h)
{
	const struct ctrl_place *pl = p->pl;
	const struct fs_alloc *al, *committed;
	struct fs_bid b;
	bool part, free_, better, tie = false;
	uint32_t tb = 0;
	double score;

	if (!h->present || p->rc < 0)
		return;
	p->ex->hosts++;
	if (h->stale) {
		p->rc = ctrl_explain_add(p->ex, place_stale(pl));
		return;
	}
	if (h->cordon) {
		p->rc = ctrl_explain_add(p->ex, "host cordoned");
		return;
	}
	if (place_avoids(pl, h)) {
		p->rc = ctrl_explain_add(p->ex, "VM failed there before");
		return;
	}
	committed = h->alloc_present ? &h->alloc : NULL;
	al = ctrl_place_alloc(h);
	fs_score(&h->rec, al, pl->need, &pl->w, pl->strategy, &b);
	if (!b.fits) {
		if (al != committed && !p->wait) {
			struct fs_bid b0;

			fs_score(&h->rec, committed, pl->need, &pl->w,
				 pl->strategy, &b0);
			p->wait = b0.fits;
		}
		p->rc = ctrl_explain_add(p->ex, b.reason);
		return;
	}
	if (group_refuses(pl, h, b.reason, sizeof(b.reason))) {
		p->rc = ctrl_explain_add(p->ex, b.reason);
		return;
	}
	p->ex->feasible++;
	part = h->part == pl->slot;
	free_ = !h->locked;
	score = b.score + ctrl_place_band(pl, h);
	if (!p->best || score < p->bs) {
		better = true;
	} else if (score > p->bs) {
		better = false;
	} else if (free_ != p->bfree) {
		better = free_;
	} else if (part != p->bpart) {
		better = part;
	} else {
		tb = fs_tiebreak(pl->id, h->name);
		if (!p->btb_ok) {
			p->btb = fs_tiebreak(pl->id, p->best->name);
			p->btb_ok = true;
		}
		better = tb < p->btb;
		tie = true;
	}
	if (better) {
		p->best = h;
		p->bs = score;
		p->bscore = b.score;
		p->bpart = part;
		p->bfree = free_;
		p->btb = tb;
		p->btb_ok = tie;
	}
}

/*
 * A host with a commit in flight cannot join another txn until it answers
 * (its alloc revision is unknown): when it is the best, the request waits
 * for it (busy) rather than going to a worse host; skipping such hosts
 * sent whole batches to the one host left out of the batch in flight.
 * Among equal scores, hosts of the request's own partition come first:
 * coordinators all compute the same scores from the same cache, so
 * without this they pick the same hosts and their commits fail on each
 * other's alloc compares; ties, the common case on identical hosts,
 * split by partition.
 */
int ctrl_place_pick(const struct ctrl_place *p, struct ctrl_host *const *hosts,
		    size_t n, size_t *cursor, size_t want,
		    struct ctrl_explain *ex, struct ctrl_pick *ret)
{
	struct pick_ctx x = {.pl = p, .ex = ex};
	size_t i;

	if (*cursor >= n)
		*cursor = 0;
	for (i = 0; i < n && x.rc >= 0; i++) {
		pick_each(&x, hosts[(*cursor + i) % n]);
		if (want && (size_t)ex->feasible >= want) {
			i++;
			break;
		}
	}
	*cursor = n ? (*cursor + i) % n : 0;
	if (x.rc < 0)
		return x.rc;
	*ret = (struct ctrl_pick){
		.busy = (x.best && x.best->locked) || (!x.best && x.wait)};
	if (!ret->busy) {
		ret->best = x.best;
		ret->score = x.bscore;
	}
	return 0;
}

struct ctrl_host *ctrl_place_bidder(const struct ctrl_place *p,
				    const struct ctrl_cand *bids, size_t n,
				    double *ret_score)
{
	struct ctrl_host *best = NULL;
	double bs = 0, score = 0;
	struct fs_bid b;

	for (size_t i = 0; i < n; i++) {
		struct ctrl_host *x = bids[i].data;
		double sc;

		if (!x->present || x->stale || x->cordon ||
		    place_avoids(p, x))
			continue;
		fs_score(&x->rec, ctrl_place_alloc(x), p->need, &p->w,
			 p->strategy, &b);
		if (!b.fits || group_refuses(p, x, b.reason, sizeof(b.reason)))
			continue;
		sc = b.score > bids[i].score ? b.score : bids[i].score;
		sc += ctrl_place_band(p, x);
		if (!best || sc < bs) {
			best = x;
			bs = sc;
			score = bids[i].score;
		}
	}
	if (best)
		*ret_score = score;
	return best;
}
