/* Victim choice for preemption (scheduling.preemption.max_victims): of
 * the VMs a request may evict (preemptible, of strictly lower priority,
 * no gang member), the fewest on one host that make it fit, then the
 * lowest priorities.  Pure: calls only common/score.c, the alloc
 * functions and place.c's copy of a host's alloc; no etcd, no loop.  Its
 * callers: preempt.c and flintschedctl's plan. */
#include "controller/ctrl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Combinations tried per host at most: max_victims of 32 over a host
 * of 64 candidates is beyond counting; the candidates are tried lowest
 * priority first, so the first sets found are the cheapest. */
#define VICTIM_TRIES 65536
#define VICTIM_CANDS 24 /* the lowest-priority candidates of a host */

void ctrl_victim_of(struct ctrl_victim *v, const char *id,
		    const struct ctrl_request *spec, struct ctrl_host *host,
		    const struct fs_need *need, void *data)
{
	*v = (struct ctrl_victim){.id = id,
				  .host = host,
				  .need = need,
				  .priority = spec->priority,
				  .preemptible = spec->preemptible,
				  .gang = spec->gang != NULL,
				  .data = data};
}

bool ctrl_victim_ok(const struct ctrl_victim *v, int64_t priority)
{
	return v->preemptible && !v->gang && v->priority < priority;
}

/* Lowest priority first, then the largest (vCPU, then memory). */
static int cand_cmp(const struct ctrl_victim *a, const struct ctrl_victim *b)
{
	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	if (a->need->res.vcpu != b->need->res.vcpu)
		return a->need->res.vcpu > b->need->res.vcpu ? -1 : 1;
	if (a->need->res.memory_mb != b->need->res.memory_mb)
		return a->need->res.memory_mb > b->need->res.memory_mb ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* Is set a (n victims, priorities sorted highest first) cheaper than b:
 * fewer, then the highest priority evicted lower, then the next. */
static bool cheaper(const int64_t *a, size_t na, const int64_t *b, size_t nb)
{
	if (na != nb)
		return na < nb;
	for (size_t i = 0; i < na; i++)
		if (a[i] != b[i])
			return a[i] < b[i];
	return false;
}

static void prio_sorted(const struct ctrl_victim *const *c, const size_t *ix,
			size_t k, int64_t *out)
{
	for (size_t i = 0; i < k; i++) {
		int64_t x = c[ix[i]]->priority;
		size_t j = i;

		for (; j > 0 && out[j - 1] < x; j--)
			out[j] = out[j - 1];
		out[j] = x;
	}
}

/* Does need fit on h with the victims c[ix[0..k)] taken out of al
 * (they are put back before returning)? */
static int fits_without(const struct ctrl_place *p, const struct ctrl_host *h,
			struct fs_alloc *al, const struct ctrl_victim *const *c,
			const size_t *ix, size_t k, bool *fits)
{
	struct fs_bid b;
	size_t i;
	int rc = 0;

	for (i = 0; i < k && rc == 0; i++)
		rc = fs_alloc_add(al, &c[ix[i]]->need->res,
				  fs_need_group(c[ix[i]]->need), -1);
	if (rc == 0) {
		fs_score(&h->rec, al, p->need, &p->w, p->strategy, &b);
		*fits = b.fits;
		/* host-scope anti_affinity: no VM of the group left */
		if (*fits && p->need->group && p->need->anti_scope &&
		    fs_alloc_group_vms(al, p->need->group) > 0)
			*fits = false;
	}
	while (i-- > 0)
		if (fs_alloc_add(al, &c[ix[i]]->need->res,
				 fs_need_group(c[ix[i]]->need), 1) < 0)
			rc = -ENOMEM;
	return rc;
}

/* The cheapest set of c[0..n) (sorted) on h, into *ret. */
static int host_best(const struct ctrl_place *p, const struct ctrl_host *h,
		     const struct ctrl_victim *const *c, size_t n, size_t max,
		     struct ctrl_victims *ret)
{
	struct fs_alloc *al = ctrl_place_alloc_dup(h); /* ours to change */
	size_t ix[CTRL_VICTIMS_MAX], tries = 0;
	int64_t pr[CTRL_VICTIMS_MAX];
	int rc = 0;

	ret->n = 0;
	if (!al)
		return -ENOMEM;
	if (n > VICTIM_CANDS)
		n = VICTIM_CANDS;
	if (max > n)
		max = n;
	/* k = 1, 2, ...: the first k with a set that fits is the fewest;
	 * of its sets, the one with the lowest priorities. */
	for (size_t k = 1; k <= max && !ret->n && rc == 0; k++) {
		for (size_t i = 0; i < k; i++)
			ix[i] = i;
		for (;;) {
			bool fits = false;
			size_t i;

			if (++tries > VICTIM_TRIES)
				break;
			rc = fits_without(p, h, al, c, ix, k, &fits);
			if (rc < 0)
				break;
			prio_sorted(c, ix, k, pr);
			if (fits &&
			    (!ret->n || cheaper(pr, k, ret->prio, ret->n))) {
				ret->n = k;
				memcpy(ret->prio, pr, k * sizeof(*pr));
				for (i = 0; i < k; i++)
					ret->v[i] = c[ix[i]];
			}
			/* next combination of k out of n */
			for (i = k; i-- > 0;)
				if (ix[i] < n - k + i)
					break;
			if (i == (size_t)-1)
				break;
			ix[i]++;
			for (size_t j = i + 1; j < k; j++)
				ix[j] = ix[j - 1] + 1;
		}
	}
	fs_alloc_clear(al);
	free(al);
	return rc;
}

static int cand_qsort(const void *a, const void *b)
{
	return cand_cmp(*(const struct ctrl_victim *const *)a,
			*(const struct ctrl_victim *const *)b);
}

/* A host preemption may use: live, placed on, nothing in flight on it
 * (its alloc is what the txn compares). */
static bool host_ok(const struct ctrl_place *p, const struct ctrl_host *h)
{
	return h->present && !h->stale && !h->cordon && !h->locked &&
	       !h->pend && !h->tent &&
	       !(p->avoid && ctrl_status_avoids(p->avoid, h->name));
}

int ctrl_victims_choose(const struct ctrl_place *p, int64_t priority,
			size_t max, const struct ctrl_victim *v, size_t n,
			struct ctrl_victims *ret)
{
	const struct ctrl_victim **c = NULL;
	struct ctrl_victims best = {0}, cur;
	size_t m = 0;
	int rc = 0;

	memset(ret, 0, sizeof(*ret));
	if (max > CTRL_VICTIMS_MAX)
		max = CTRL_VICTIMS_MAX;
	/* rules over the fleet's counts are not re-counted without the
	 * victims: such a request does not preempt (DESIGN.md) */
	if (!max || !n || (p->need->group && p->need->topo_key) ||
	    (p->need->anti_scope && strcmp(p->need->anti_scope, "host") != 0))
		return 0;
	c = calloc(n, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (ctrl_victim_ok(&v[i], priority) && host_ok(p, v[i].host))
			c[m++] = &v[i];
	/* by host, then cheapest first within a host */
	for (size_t i = 0; i < m;) {
		const struct ctrl_host *h = c[i]->host;
		size_t j = i, k = i;

		for (; j < m; j++)
			if (c[j]->host == h) {
				const struct ctrl_victim *x = c[j];

				c[j] = c[k];
				c[k++] = x;
			}
		qsort(c + i, k - i, sizeof(*c), cand_qsort);
		rc = host_best(p, h, c + i, k - i, max, &cur);
		if (rc < 0)
			break;
		if (cur.n &&
		    (!best.n || cheaper(cur.prio, cur.n, best.prio, best.n) ||
		     (!cheaper(best.prio, best.n, cur.prio, cur.n) &&
		      fs_tiebreak(p->id, h->name) <
			  fs_tiebreak(p->id, best.v[0]->host->name))))
			best = cur;
		i = k;
	}
	free(c);
	if (rc < 0)
		return rc;
	*ret = best;
	return best.n ? 1 : 0;
}
