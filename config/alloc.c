/* The allocator of the config module, replaceable for tests. */
#include "config/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *(*alloc_malloc)(size_t) = malloc;
static void *(*alloc_realloc)(void *, size_t) = realloc;
static void (*alloc_free)(void *) = free;

void cfg_set_alloc_funcs(void *(*malloc_fn)(size_t),
			 void *(*realloc_fn)(void *, size_t),
			 void (*free_fn)(void *))
{
	alloc_malloc = malloc_fn ? malloc_fn : malloc;
	alloc_realloc = realloc_fn ? realloc_fn : realloc;
	alloc_free = free_fn ? free_fn : free;
}

void *cfg_alloc(size_t size)
{
	return alloc_malloc(size ? size : 1);
}

void *cfg_alloc_array(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = cfg_alloc(n * size);
	if (p && n * size > 0)
		memset(p, 0, n * size);
	return p;
}

void *cfg_realloc_array(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	if (n * size == 0)
		return alloc_realloc(p, 1);
	return alloc_realloc(p, n * size);
}

void cfg_dealloc(void *p)
{
	if (p)
		alloc_free(p);
}

char *cfg_strndup(const char *s, size_t len)
{
	char *d;

	if (len == SIZE_MAX)
		return NULL;
	d = cfg_alloc(len + 1);
	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *cfg_strdup(const char *s)
{
	return cfg_strndup(s, strlen(s));
}
