/* A string-keyed hash map with chaining (fnv1a), grown at load 1.
 * Pure; calls nothing in controller/. */
#include "controller/ctrl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ctrl_map_node {
	struct ctrl_map_node *next;
	void *val;
	char key[]; /* NUL-terminated copy */
};

static size_t bucket(const struct ctrl_map *m, const char *key)
{
	return fs_fnv1a(key, strlen(key)) & (m->nb - 1);
}

static struct ctrl_map_node **find(const struct ctrl_map *m, const char *key)
{
	struct ctrl_map_node **p;

	if (!m->nb)
		return NULL;
	for (p = &m->b[bucket(m, key)]; *p; p = &(*p)->next)
		if (strcmp((*p)->key, key) == 0)
			return p;
	return NULL;
}

void *ctrl_map_get(const struct ctrl_map *m, const char *key)
{
	struct ctrl_map_node **p = find(m, key);

	return p ? (*p)->val : NULL;
}

static int grow(struct ctrl_map *m)
{
	size_t nb = m->nb ? m->nb * 2 : 64;
	struct ctrl_map_node **b = calloc(nb, sizeof(*b)), *n, *next;
	struct ctrl_map old = *m;

	if (!b)
		return -ENOMEM;
	m->b = b;
	m->nb = nb;
	for (size_t i = 0; i < old.nb; i++) {
		for (n = old.b[i]; n; n = next) {
			size_t h = bucket(m, n->key);

			next = n->next;
			n->next = b[h];
			b[h] = n;
		}
	}
	free(old.b);
	return 0;
}

int ctrl_map_put(struct ctrl_map *m, const char *key, void *val)
{
	struct ctrl_map_node **p = find(m, key), *n;
	size_t len;

	if (p) {
		(*p)->val = val;
		return 0;
	}
	if (m->n >= m->nb && grow(m) < 0)
		return -ENOMEM;
	len = strlen(key);
	n = malloc(sizeof(*n) + len + 1);
	if (!n)
		return -ENOMEM;
	memcpy(n->key, key, len + 1);
	n->val = val;
	n->next = m->b[bucket(m, key)];
	m->b[bucket(m, key)] = n;
	m->n++;
	return 0;
}

void *ctrl_map_del(struct ctrl_map *m, const char *key)
{
	struct ctrl_map_node **p = find(m, key), *n;
	void *val;

	if (!p)
		return NULL;
	n = *p;
	*p = n->next;
	val = n->val;
	free(n);
	m->n--;
	return val;
}

void ctrl_map_each(const struct ctrl_map *m,
		   void (*fn)(void *arg, const char *key, void *val),
		   void *arg)
{
	for (size_t i = 0; i < m->nb; i++)
		for (struct ctrl_map_node *n = m->b[i]; n; n = n->next)
			fn(arg, n->key, n->val);
}

void ctrl_map_clear(struct ctrl_map *m)
{
	struct ctrl_map_node *n, *next;

	for (size_t i = 0; i < m->nb; i++) {
		for (n = m->b[i]; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}
