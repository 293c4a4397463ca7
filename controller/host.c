/* Host records of the cache (struct ctrl_host): found or created by
 * name, what is pending on them, freed.  Calls map.c only. */
#include "controller/core.h"

#include <stdlib.h>
#include <string.h>

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
	c->harr[c->n_harr++] = h;
	return h;
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
}

void ctrl_host_moves_clear(struct ctrl_host *h)
{
	for (size_t i = 0; i < h->n_moving; i++)
		free(h->moving[i]);
	free(h->moving);
	h->moving = NULL;
	h->n_moving = 0;
}

static void free_host(void *arg, const char *key, void *val)
{
	struct ctrl_host *h = val;

	(void)arg;
	(void)key;
	ctrl_host_moves_clear(h);
	fs_host_clear(&h->rec);
	fs_alloc_clear(&h->alloc);
	ctrl_host_pend_clear(h);
	free(h);
}

void ctrl_host_free_all(struct ctrl *c)
{
	ctrl_map_each(&c->hosts, free_host, NULL);
	ctrl_map_clear(&c->hosts);
	free(c->harr);
	c->harr = NULL;
	c->n_harr = c->cap_harr = 0;
}
