/* Host records of the cache (struct ctrl_host): found or created by
 * name, what is pending on them, freed once nothing refers to them.
 * Calls map.c only. */
#include "controller/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct ctrl_host *ctrl_host_get(struct ctrl *c, const char *name, bool create)
{
	struct ctrl_host *h = ctrl_map_get(&c->hosts, name);

	if (h || !create || strlen(name) > FS_NAME_MAX)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	strcpy(h->name, name);
	h->part = fs_slot_of(name, c->k);
	if (c->n_harr == c->cap_harr) {
		size_t cap = c->cap_harr ? 2 * c->cap_harr : 64;
		struct ctrl_host **a = realloc(c->harr, cap * sizeof(*a));

		if (!a) {
			free(h);
			return NULL;
		}
		c->harr = a;
		c->cap_harr = cap;
	}
	if (ctrl_map_put(&c->hosts, name, h) < 0) {
		free(h);
		return NULL;
	}
	h->idx = c->n_harr;
	c->harr[c->n_harr++] = h;
	ctrl_host_unref(c, h); /* made for a lookup that may keep nothing */
	return h;
}

void ctrl_host_unref(struct ctrl *c, struct ctrl_host *h)
{
	if (!h || h->gc)
		return;
	h->gc = true;
	h->gc_next = c->host_gc;
	c->host_gc = h;
}

void ctrl_host_asg(struct ctrl *c, const char *name, int d)
{
	struct ctrl_host *h = ctrl_host_get(c, name, d > 0);

	if (!h)
		return;
	if (d > 0)
		h->n_asg++;
	else if (h->n_asg)
		h->n_asg--;
	ctrl_host_unref(c, h);
}

void ctrl_host_moves_clear(struct ctrl_host *h)
{
	for (size_t i = 0; i < h->n_moving; i++)
		free(h->moving[i]);
	free(h->moving);
	h->moving = NULL;
	h->n_moving = 0;
}

static bool host_unused(const struct ctrl_host *h)
{
	return !h->present && !h->alloc_present && !h->alloc_bad &&
	       !h->rebuilding && h->cordon == CTRL_HOST_NORMAL && !h->locked &&
	       !h->invites && !h->tent && !h->pend && !h->refs && !h->n_asg &&
	       !h->moves_present && !h->n_moving && !h->moves_busy;
}

static void host_free(struct ctrl_host *h)
{
	ctrl_host_moves_clear(h);
	fs_host_clear(&h->rec);
	fs_alloc_clear(&h->alloc);
	ctrl_host_pend_clear(h);
	free(h);
}

void ctrl_host_gc(struct ctrl *c)
{
	struct ctrl_host *h;

	while ((h = c->host_gc)) {
		size_t last = c->n_harr - 1;

		c->host_gc = h->gc_next;
		h->gc = false;
		h->gc_next = NULL;
		if (!host_unused(h))
			continue;
		ctrl_map_del(&c->hosts, h->name);
		/* The last entry takes its place: the cached pick's cursor
		 * only spreads where scans start, any order does. */
		c->harr[h->idx] = c->harr[last];
		c->harr[h->idx]->idx = h->idx;
		c->n_harr = last;
		if (c->cursor >= c->n_harr)
			c->cursor = 0;
		host_free(h);
	}
}

void ctrl_host_pend_clear(struct ctrl_host *h)
{
	if (h->pend) {
		fs_alloc_clear(h->pend);
		free(h->pend);
		h->pend = NULL;
	}
}

void ctrl_host_alloc_bad(struct ctrl *c, struct ctrl_host *h, bool bad)
{
	if (bad == h->alloc_bad)
		return;
	h->alloc_bad = bad;
	if (bad) {
		h->locked++;
		c->alloc_bad_n++;
		return;
	}
	if (h->locked)
		h->locked--;
	if (!h->locked)
		ctrl_host_pend_clear(h);
	if (c->alloc_bad_n)
		c->alloc_bad_n--;
	c->pass_all = true; /* what waited for it */
	ctrl_host_unref(c, h);
}

static void free_host(void *arg, const char *key, void *val)
{
	(void)arg;
	(void)key;
	host_free(val);
}

void ctrl_host_free_all(struct ctrl *c)
{
	ctrl_map_each(&c->hosts, free_host, NULL);
	ctrl_map_clear(&c->hosts);
	free(c->harr);
	c->harr = NULL;
	c->n_harr = c->cap_harr = 0;
	c->host_gc = NULL;
}

/* An agent renews its lease every TTL / 3; one whose record does not
 * say its TTL (older agents) has the default agent.lease_ttl_s. */
#define AGENT_TTL_DEFAULT_S 10

void ctrl_host_keepalives_add(struct ctrl *c, const struct ctrl_host *h,
			      int sign)
{
	int64_t ttl = h->rec.lease_ttl_s > 0 ? h->rec.lease_ttl_s
					      : AGENT_TTL_DEFAULT_S;

	if (!h->present)
		return;
	c->ka_rate += sign * 3.0 / (double)ttl;
	c->ka_hosts = sign > 0 ? c->ka_hosts + 1
			       : c->ka_hosts ? c->ka_hosts - 1 : 0;
	if (!c->ka_hosts || c->ka_rate < 0)
		c->ka_rate = 0;
}

void ctrl_host_keepalives_check(struct ctrl *c)
{
	double max = (double)c->cfg->max_host_keepalives_per_s;

	if (max <= 0 || !c->cache_ready)
		return;
	if (c->ka_warned && c->ka_rate < 0.8 * max) {
		c->ka_warned = false;
		fs_info("lease renewals of %zu hosts: %.1f/s, under "
			"controller.max_host_keepalives_per_s (%.0f) again",
			c->ka_hosts, c->ka_rate, max);
	}
	if (c->ka_warned || c->ka_rate <= max)
		return;
	c->ka_warned = true;
	fs_warn("lease renewals of %zu hosts: %.1f/s, above "
		"controller.max_host_keepalives_per_s (%.0f); each costs etcd "
		"a read (at 2,000 hosts 200/s took 15%% of its CPU): set "
		"agent.lease_ttl_s to at least %.0f on the agents (a dead "
		"host is then seen up to that late)",
		c->ka_hosts, c->ka_rate, max,
		ceil(3.0 * (double)c->ka_hosts / max));
}

/*
 * A record's lease can be kept alive by any authenticated user (etcd
 * 3.4: LeaseKeepAlive checks no permission), but only the host's own
 * agent may write the record (RBAC), and agents rewrite it at least every
 * agent.report_interval_s.  A host whose record goes unwritten longer
 * than the bound is dead as far as placement goes, lease or not; it
 * leaves like one whose lease expired (gone_at: its VMs' grace starts).
 */
size_t ctrl_host_stale_scan(struct ctrl *c, double now)
{
	double bound = (double)c->cfg->host_stale_after_s;
	size_t n = 0;

	if (bound <= 0)
		return 0;
	for (size_t i = 0; i < c->n_harr; i++) {
		struct ctrl_host *h = c->harr[i];

		if (!h->present || h->stale || now - h->rec_at <= bound)
			continue;
		fs_warn("host %s: record not rewritten for %.0f s "
			"(scheduling.host_stale_after_s %lld) although its "
			"lease is alive: stale, placed on no more, its VMs as "
			"on a disconnected host (a lease kept alive by "
			"another user?)",
			h->name, now - h->rec_at,
			(long long)c->cfg->host_stale_after_s);
		h->stale = true;
		if (h->gone_at <= 0)
			h->gone_at = now;
		c->pass_all = true;
		n++;
	}
	return n;
}
