/*
 * nomem — allocation failures for the tests of STYLE.md item 8: malloc,
 * calloc, realloc and free interposed in the test executable, the N-th
 * allocation (or the N-th and every later one) failing while armed, and
 * the blocks allocated while armed tracked, so that a test sees what a
 * failing call leaked.
 *
 * Include it in exactly one file of a test binary (it defines malloc and
 * friends).  The interposer cannot coexist with AddressSanitizer's, nor
 * with valgrind's (which replaces malloc in the executable too): under
 * ASan NOMEM_SKIP is defined and nothing is interposed; nomem_require()
 * skips the running test there and under valgrind.
 *
 *   nomem_arm(n);  rc = call();  nomem_disarm();
 *   leaked = nomem_leaked();   // blocks still live, tracking stopped
 *   failed = nomem_allocs() >= n;
 */
#ifndef FLINTSCHED_TEST_NOMEM_H
#define FLINTSCHED_TEST_NOMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define NOMEM_SKIP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NOMEM_SKIP 1
#endif
#endif

#ifndef NOMEM_SKIP
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static long nomem_fail_at = -1; /* allocation number that fails; -1 none */
static int nomem_fail_rest;     /* and every one after it too */
static long nomem_n_allocs;
static int nomem_tracking;
#define NOMEM_SLOTS 65536
static void *nomem_live[NOMEM_SLOTS];
static long nomem_n_live;

static size_t nomem_slot(void *p)
{
	return ((uintptr_t)p >> 4) * 2654435761u % NOMEM_SLOTS;
}

static void nomem_track_add(void *p)
{
	if (!nomem_tracking || p == NULL)
		return;
	for (size_t i = nomem_slot(p);; i = (i + 1) % NOMEM_SLOTS)
		if (nomem_live[i] == NULL) {
			nomem_live[i] = p;
			nomem_n_live++;
			return;
		}
}

static void nomem_track_del(void *p)
{
	if (p == NULL || nomem_n_live == 0)
		return;
	for (size_t i = nomem_slot(p), k = 0;
	     k < NOMEM_SLOTS && nomem_live[i] != NULL;
	     i = (i + 1) % NOMEM_SLOTS, k++)
		if (nomem_live[i] == p) {
			/* Backward-shift deletion keeps probe chains intact. */
			nomem_live[i] = NULL;
			nomem_n_live--;
			for (size_t j = (i + 1) % NOMEM_SLOTS;
			     nomem_live[j] != NULL; j = (j + 1) % NOMEM_SLOTS) {
				void *q = nomem_live[j];
				int saved = nomem_tracking;

				nomem_live[j] = NULL;
				nomem_n_live--;
				nomem_tracking = 1;
				nomem_track_add(q);
				nomem_tracking = saved;
			}
			return;
		}
}

static int nomem_should_fail(void)
{
	if (nomem_fail_at < 0)
		return 0;
	++nomem_n_allocs;
	return nomem_fail_rest ? nomem_n_allocs >= nomem_fail_at
			       : nomem_n_allocs == nomem_fail_at;
}

void *malloc(size_t n)
{
	void *p;

	if (nomem_should_fail())
		return NULL;
	p = __libc_malloc(n);
	nomem_track_add(p);
	return p;
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (nomem_should_fail())
		return NULL;
	p = __libc_calloc(n, size);
	nomem_track_add(p);
	return p;
}

void *realloc(void *old, size_t n)
{
	void *p;

	if (nomem_should_fail())
		return NULL;
	p = __libc_realloc(old, n);
	if (p != NULL) {
		nomem_track_del(old);
		nomem_track_add(p);
	}
	return p;
}

void free(void *p)
{
	nomem_track_del(p);
	__libc_free(p);
}

/* Allocation n fails (counted from now); what is allocated is tracked. */
static inline void nomem_arm(long n)
{
	nomem_n_allocs = 0;
	nomem_fail_at = n;
	nomem_tracking = 1;
}

/* Allocation n and every one after it fail: memory has run out. */
static inline void nomem_arm_from(long n)
{
	nomem_arm(n);
	nomem_fail_rest = 1;
}

static inline void nomem_disarm(void)
{
	nomem_fail_at = -1;
	nomem_fail_rest = 0;
}

/* Allocations counted since nomem_arm. */
static inline long nomem_allocs(void)
{
	return nomem_n_allocs;
}

/* Blocks allocated while armed and not freed; stops tracking. */
static inline long nomem_leaked(void)
{
	nomem_tracking = 0;
	return nomem_n_live;
}

/* Whether our malloc is the one called (not under valgrind). */
static inline bool nomem_interposed(void)
{
	/* Through a pointer: gcc assumes builtin malloc touches no globals. */
	void *(*volatile alloc)(size_t) = malloc;
	void *volatile p;
	long n;

	nomem_arm(1000000);
	p = alloc(16);
	n = nomem_n_allocs;
	nomem_disarm();
	free(p);
	(void)nomem_leaked();
	return n == 1;
}
#endif

/* Skips the running cmocka test where the interposer cannot work (call
 * after cmocka.h is included). */
#ifdef NOMEM_SKIP
#define nomem_require() skip()
#else
#define nomem_require()                                                        \
	do {                                                                   \
		if (!nomem_interposed())                                       \
			skip();                                                \
	} while (0)
#endif

#endif
