/* fs_score: a known host state gives a known score and fit verdict. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/model.h"

static struct fs_label zone_a[] = {{"zone", "a"}};
static struct fs_label zone_b[] = {{"zone", "b"}};
static struct fs_group groups_web2[] = {{"web", 2}};

/* 10 vCPU, 10000 MiB, 10 VMs allocatable; idle. */
static struct fs_host host_base(void)
{
	struct fs_host h = {
		.host = "node-1",
		.labels = {zone_a, 1},
		.capacity = {10, 10000, 10},
		.allocatable = {10, 10000, 10},
	};
	return h;
}

struct score_case {
	const char *name;
	struct fs_res used;
	struct fs_group *groups;
	size_t n_groups;
	double util_cpu, util_mem;
	int64_t need_vcpu, need_mem;
	struct fs_label *selector;
	const char *spread;
	struct fs_weights w;
	enum fs_strategy strategy;
	bool fits;
	double score;
	const char *reason;
	struct fs_res free;
};

static void test_score_table(void **state)
{
	static const struct score_case cases[] = {
		/* (0.2 + 0.2 + 0.1) / 3 */
		{"empty host", {0, 0, 0}, NULL, 0, 0, 0, 2, 2000, NULL, NULL,
		 {1, 1, 1}, FS_SPREAD, true, 0.5 / 3, "", {10, 10000, 10}},
		/* committed 4+2=6/10, 4000+2000/10000, 4/10 */
		{"committed", {4, 4000, 3}, NULL, 0, 0, 0, 2, 2000, NULL, NULL,
		 {1, 1, 1}, FS_SPREAD, true, (0.6 + 0.6 + 0.4) / 3, "",
		 {6, 6000, 7}},
		/* measured cpu 0.7 + need 0.2 = 0.9 beats committed 0.6 */
		{"measured wins", {4, 4000, 3}, NULL, 0, 0.7, 0.1, 2, 2000,
		 NULL, NULL, {1, 1, 1}, FS_SPREAD, true,
		 (0.9 + 0.6 + 0.4) / 3, "", {6, 6000, 7}},
		/* weights 2,1,0: (2*0.6 + 0.6) / 3 */
		{"weights", {4, 4000, 3}, NULL, 0, 0, 0, 2, 2000, NULL, NULL,
		 {2, 1, 0}, FS_SPREAD, true, (2 * 0.6 + 0.6) / 3, "",
		 {6, 6000, 7}},
		/* zero weights fall back to equal weights */
		{"zero weights", {0, 0, 0}, NULL, 0, 0, 0, 2, 2000, NULL, NULL,
		 {0, 0, 0}, FS_SPREAD, true, 0.5 / 3, "", {10, 10000, 10}},
		{"binpack", {4, 4000, 3}, NULL, 0, 0, 0, 2, 2000, NULL, NULL,
		 {1, 1, 1}, FS_BINPACK, true, 1 - (0.6 + 0.6 + 0.4) / 3, "",
		 {6, 6000, 7}},
		/* measured over 1 is clamped */
		{"clamped", {0, 0, 0}, NULL, 0, 0.95, 0.0, 2, 2000, NULL, NULL,
		 {1, 0, 0}, FS_SPREAD, true, 1.0, "", {10, 10000, 10}},
		{"spread group", {4, 4000, 3}, groups_web2, 1, 0, 0, 2, 2000,
		 NULL, "web", {1, 1, 1}, FS_SPREAD, true,
		 2 + (0.6 + 0.6 + 0.4) / 3, "", {6, 6000, 7}},
		{"other group", {4, 4000, 3}, groups_web2, 1, 0, 0, 2, 2000,
		 NULL, "db", {1, 1, 1}, FS_SPREAD, true,
		 (0.6 + 0.6 + 0.4) / 3, "", {6, 6000, 7}},
		{"exact fit", {8, 8000, 9}, NULL, 0, 0, 0, 2, 2000, NULL, NULL,
		 {1, 1, 1}, FS_SPREAD, true, 1.0, "", {2, 2000, 1}},
		{"memory", {8, 8001, 3}, NULL, 0, 0, 0, 2, 2000, NULL, NULL,
		 {1, 1, 1}, FS_SPREAD, false, 0, "insufficient memory",
		 {2, 1999, 7}},
		{"vcpu", {9, 0, 3}, NULL, 0, 0, 0, 2, 2000, NULL, NULL,
		 {1, 1, 1}, FS_SPREAD, false, 0, "insufficient vcpu",
		 {1, 10000, 7}},
		{"max_vms", {0, 0, 10}, NULL, 0, 0, 0, 2, 2000, NULL, NULL,
		 {1, 1, 1}, FS_SPREAD, false, 0, "max_vms reached",
		 {10, 10000, 0}},
		{"selector hit", {0, 0, 0}, NULL, 0, 0, 0, 2, 2000, zone_a,
		 NULL, {1, 1, 1}, FS_SPREAD, true, 0.5 / 3, "",
		 {10, 10000, 10}},
		{"selector miss", {0, 0, 0}, NULL, 0, 0, 0, 2, 2000, zone_b,
		 NULL, {1, 1, 1}, FS_SPREAD, false, 0, "selector zone=b",
		 {10, 10000, 10}},
		/* overcommitted by a capacity shrink: free is 0, not < 0 */
		{"shrunk", {12, 0, 0}, NULL, 0, 0, 0, 1, 1, NULL, NULL,
		 {1, 1, 1}, FS_SPREAD, false, 0, "insufficient vcpu",
		 {0, 10000, 10}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct score_case *c = &cases[i];
		struct fs_host h = host_base();
		struct fs_alloc a = {c->used, c->groups, c->n_groups};
		struct fs_need n = {
		    .res = {c->need_vcpu, c->need_mem, 1},
		    .selector = {c->selector, c->selector ? 1 : 0},
		    .spread = (char *)(uintptr_t)c->spread};
		struct fs_bid b;

		memset(&b, 0x5a, sizeof(b));
		h.util_cpu = c->util_cpu;
		h.util_mem = c->util_mem;
		fs_score(&h, &a, &n, &c->w, c->strategy, &b);
		if (b.fits != c->fits || fabs(b.score - c->score) > 1e-9 ||
		    strcmp(b.reason, c->reason) != 0 ||
		    b.free.vcpu != c->free.vcpu ||
		    b.free.memory_mb != c->free.memory_mb ||
		    b.free.vms != c->free.vms)
			fail_msg("%s: fits=%d score=%.12f reason=\"%s\" free="
				 "%lld/%lld/%lld; want fits=%d score=%.12f "
				 "reason=\"%s\"",
				 c->name, b.fits, b.score, b.reason,
				 (long long)b.free.vcpu,
				 (long long)b.free.memory_mb,
				 (long long)b.free.vms, c->fits, c->score,
				 c->reason);
	}
}

/* Spread: the emptier host scores lower; binpack reverses the order. */
static void test_score_order(void **state)
{
	struct fs_host h = host_base();
	struct fs_alloc busy = {{6, 6000, 6}, NULL, 0}, idle = {{0}, NULL, 0};
	struct fs_need n = {.res = {1, 1000, 1}};
	struct fs_weights w = {1, 1, 1};
	struct fs_bid b1, b2;

	(void)state;
	fs_score(&h, &busy, &n, &w, FS_SPREAD, &b1);
	fs_score(&h, &idle, &n, &w, FS_SPREAD, &b2);
	assert_true(b2.score < b1.score);
	fs_score(&h, &busy, &n, &w, FS_BINPACK, &b1);
	fs_score(&h, &idle, &n, &w, FS_BINPACK, &b2);
	assert_true(b1.score < b2.score);
	/* NULL alloc and NULL weights mean empty and equal. */
	fs_score(&h, NULL, &n, NULL, FS_SPREAD, &b1);
	fs_score(&h, &idle, &n, &w, FS_SPREAD, &b2);
	assert_true(b1.score == b2.score);
}

/* Zero allocatable: nothing fits, no division by zero. */
static void test_score_zero_capacity(void **state)
{
	struct fs_host h = host_base();
	struct fs_need n = {.res = {1, 1, 1}};
	struct fs_bid b;

	(void)state;
	memset(&h.allocatable, 0, sizeof(h.allocatable));
	fs_score(&h, NULL, &n, NULL, FS_SPREAD, &b);
	assert_false(b.fits);
	assert_string_equal(b.reason, "insufficient memory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_score_table),
		cmocka_unit_test(test_score_order),
		cmocka_unit_test(test_score_zero_capacity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
