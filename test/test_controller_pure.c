/* Controller pure parts: status JSON, queue order, candidate choice, map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/core.h"

/* xorshift64*: reproducible test input */
static uint64_t rand_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static void test_status_roundtrip(void **state)
{
	struct ctrl_status s = {.phase = CTRL_UNSCHEDULABLE,
				.attempt = 2,
				.score = 0.41234,
				.request_rev = 1812,
				.has_explain = true},
			   p;
	char *js, err[128];

	(void)state;
	strcpy(s.host, "node-3");
	s.coordinator = strdup("ctrl-a/slot-1");
	s.reason = strdup("no host fits");
	s.explain.hosts = 40;
	s.explain.feasible = 0;
	s.explain.bids = 3;
	for (int i = 0; i < 25; i++)
		assert_int_equal(ctrl_explain_add(&s.explain,
						  "insufficient memory"),
				 0);
	assert_int_equal(ctrl_explain_add(&s.explain, "selector zone=a"), 0);
	assert_int_equal(ctrl_status_avoid_add(&s, "node-1"), 0);
	assert_int_equal(ctrl_status_avoid_add(&s, "node-1"), 0);
	assert_int_equal(s.n_avoid, 1);
	js = ctrl_status_format(&s);
	/* empty optional fields are left out (older readers never see
	 * them) */
	assert_null(strstr(js, "moving_to"));
	assert_null(strstr(js, "replaced_on"));
	free(js);
	strcpy(s.moving_to, "node-4");
	strcpy(s.replaced_on, "node-9");
	js = ctrl_status_format(&s);
	assert_non_null(js);
	assert_non_null(strstr(js, "\"phase\":\"unschedulable\""));
	assert_non_null(strstr(js, "\"score\":0.412"));
	assert_non_null(strstr(js, "\"insufficient memory\":25"));
	assert_non_null(strstr(js, "\"avoid\":[\"node-1\"]"));
	assert_non_null(strstr(js, "\"updated\":\"20"));
	assert_int_equal(ctrl_status_parse(js, strlen(js), &p, err,
					   sizeof(err)),
			 0);
	assert_int_equal(p.phase, CTRL_UNSCHEDULABLE);
	assert_string_equal(p.host, "node-3");
	assert_int_equal(p.attempt, 2);
	assert_int_equal(p.request_rev, 1812);
	assert_string_equal(p.coordinator, "ctrl-a/slot-1");
	assert_true(p.has_explain);
	assert_int_equal(p.explain.hosts, 40);
	assert_int_equal(p.explain.n_rejected, 2);
	assert_int_equal(p.explain.rejected[0].count, 25);
	assert_true(ctrl_status_avoids(&p, "node-1"));
	assert_false(ctrl_status_avoids(&p, "node-2"));
	assert_string_equal(p.moving_to, "node-4");
	assert_string_equal(p.replaced_on, "node-9");
	free(js);

	struct ctrl_status c;

	assert_int_equal(ctrl_status_copy(&c, &p), 0);
	assert_string_equal(c.reason, "no host fits");
	assert_string_equal(c.moving_to, "node-4");
	assert_int_equal(c.explain.rejected[1].count, 1);
	ctrl_status_clear(&c);
	ctrl_status_clear(&p);
	ctrl_status_clear(&s);
}

static void test_status_parse_bad(void **state)
{
	static const char *const bad[] = {
		"nope", "[]", "{}", "{\"phase\":\"sleeping\"}",
		"{\"phase\":\"running\",\"attempt\":\"1\"}",
		"{\"phase\":\"running\",\"avoid\":[1]}",
		"{\"phase\":\"running\",\"host\":7}",
		"{\"phase\":\"running\",\"moving_to\":[]}",
		"{\"phase\":\"running\",\"replaced_on\":1}",
	};
	struct ctrl_status s;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ctrl_status_parse(bad[i], strlen(bad[i]), &s,
						   err, sizeof(err)),
				 -EINVAL);
	for (int p = CTRL_PENDING; p <= CTRL_LOST; p++) {
		enum ctrl_phase got;

		assert_int_equal(ctrl_phase_parse(
					 ctrl_phase_name((enum ctrl_phase)p),
					 &got),
				 0);
		assert_int_equal(got, p);
	}
}

static void test_queue_order(void **state)
{
	struct ctrl_qitem it[6] = {
		{0, 50, CTRL_QPOS_NONE},  {10, 90, CTRL_QPOS_NONE},
		{0, 20, CTRL_QPOS_NONE},  {10, 30, CTRL_QPOS_NONE},
		{-5, 1, CTRL_QPOS_NONE},  {0, 40, CTRL_QPOS_NONE},
	};
	/* expected pop order: indexes */
	const int want[] = {3, 1, 2, 5, 0, 4};
	struct ctrl_queue q = {0};

	(void)state;
	for (int i = 0; i < 6; i++)
		assert_int_equal(ctrl_queue_push(&q, &it[i]), 0);
	assert_int_equal(ctrl_queue_push(&q, &it[0]), 0); /* no duplicate */
	assert_int_equal(q.n, 6);
	for (int i = 0; i < 6; i++)
		assert_ptr_equal(ctrl_queue_pop(&q), &it[want[i]]);
	assert_null(ctrl_queue_pop(&q));

	/* removal from the middle keeps the order */
	for (int i = 0; i < 6; i++)
		assert_int_equal(ctrl_queue_push(&q, &it[i]), 0);
	ctrl_queue_remove(&q, &it[1]);
	ctrl_queue_remove(&q, &it[1]);
	assert_int_equal(it[1].qpos, CTRL_QPOS_NONE);
	assert_ptr_equal(ctrl_queue_pop(&q), &it[3]);
	assert_ptr_equal(ctrl_queue_pop(&q), &it[2]);
	ctrl_queue_clear(&q);
	assert_int_equal(it[5].qpos, CTRL_QPOS_NONE);
}

static void test_queue_many(void **state)
{
	enum { N = 2000 };
	struct ctrl_qitem *it = calloc(N, sizeof(*it)), *prev = NULL, *x;
	struct ctrl_queue q = {0};
	uint64_t rng = 42;

	(void)state;
	for (int i = 0; i < N; i++) {
		it[i].priority = (int64_t)(rand_next(&rng) % 5);
		it[i].create_rev = (int64_t)(rand_next(&rng) % 100000);
		it[i].qpos = CTRL_QPOS_NONE;
		assert_int_equal(ctrl_queue_push(&q, &it[i]), 0);
	}
	for (int i = 0; i < N; i += 3)
		ctrl_queue_remove(&q, &it[i]);
	while ((x = ctrl_queue_pop(&q))) {
		if (prev)
			assert_false(ctrl_queue_before(x, prev));
		prev = x;
	}
	ctrl_queue_clear(&q);
	free(it);
}

static void test_cand_rank(void **state)
{
	struct ctrl_cand c[4] = {
		{"a", 0.5, 9, NULL},
		{"b", 0.2, 7, NULL},
		{"c", 0.2, 3, NULL},
		{"d", 0.9, 1, NULL},
	};

	(void)state;
	assert_int_equal(ctrl_cand_best(c, 4), 2);
	assert_int_equal(ctrl_cand_best(c, 0), -1);
	ctrl_cand_sort(c, 4);
	assert_string_equal(c[0].host, "c");
	assert_string_equal(c[1].host, "b");
	assert_string_equal(c[2].host, "a");
	assert_string_equal(c[3].host, "d");
}

static void test_cand_lowest(void **state)
{
	enum { N = 10, K = 3 };
	struct ctrl_cand c[N];
	char names[N][4];
	/* scores 0.9, 0.8, ... with host 7 tied with host 8 on score */
	static const double score[N] = {0.9, 0.8, 0.7, 0.6, 0.5,
					0.4, 0.3, 0.2, 0.2, 0.0};
	static const uint32_t tb[N] = {5, 5, 5, 5, 5, 5, 5, 9, 1, 5};

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "h%d", i);
		c[i] = (struct ctrl_cand){names[i], score[i], tb[i], NULL};
	}
	assert_int_equal(ctrl_cand_lowest(c, N, K), K);
	assert_string_equal(c[0].host, "h9");
	assert_string_equal(c[1].host, "h8"); /* lower tiebreak of the tie */
	assert_string_equal(c[2].host, "h7");
	/* the rest is still there, each once */
	int seen[N] = {0};
	for (int i = 0; i < N; i++)
		seen[c[i].host[1] - '0']++;
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(ctrl_cand_lowest(c, 2, K), 2);
	assert_int_equal(ctrl_cand_lowest(c, 0, K), 0);
}

static void count_each(void *arg, const char *key, void *val)
{
	(void)key;
	*(intptr_t *)arg += (intptr_t)val;
}

static void test_map(void **state)
{
	struct ctrl_map m = {0};
	char k[32];
	intptr_t sum = 0;

	(void)state;
	assert_null(ctrl_map_get(&m, "x"));
	assert_null(ctrl_map_del(&m, "x"));
	for (intptr_t i = 1; i <= 1000; i++) {
		snprintf(k, sizeof(k), "key-%ld", (long)i);
		assert_int_equal(ctrl_map_put(&m, k, (void *)i), 0);
	}
	assert_int_equal(ctrl_map_put(&m, "key-5", (void *)5), 0);
	assert_int_equal(m.n, 1000);
	assert_ptr_equal(ctrl_map_get(&m, "key-777"), (void *)777);
	ctrl_map_each(&m, count_each, &sum);
	assert_int_equal(sum, 500500);
	assert_ptr_equal(ctrl_map_del(&m, "key-777"), (void *)777);
	assert_null(ctrl_map_get(&m, "key-777"));
	assert_int_equal(m.n, 999);
	ctrl_map_clear(&m);
}

/* Keys are bytes: split by length, a NUL ends nothing, and a request key
 * that is no id is told apart (issue 13 items 19, 20). */
static void test_key_split(void **state)
{
	static const struct {
		const char *key;
		size_t len; /* 0 = strlen */
		int rc;
		const char *kind, *a, *b;
		int bad; /* ctrl_key_bad_request: 1 = no valid id */
	} cases[] = {
	    {"/p/requests/web-1", 0, 0, "requests", "web-1", "", 0},
	    {"/p/assign/h1/web-1", 0, 0, "assign", "h1", "web-1", 0},
	    {"/p/meta", 0, 0, "meta", "", "", 0},
	    {"/p/requests/nulvictim\0x", 23, -1, NULL, NULL, NULL, 1},
	    {"/p/hosts/h1\0x", 14, -1, NULL, NULL, NULL, 0},
	    {"/p/requests/a/b", 0, 0, "requests", "a", "b", 1},
	    {"/p/requests//double", 0, 0, "requests", "", "double", 1},
	    {"/p/requests/", 0, 0, "requests", "", "", 1},
	    {"/p/requests/Web_1", 0, 0, "requests", "Web_1", "", 1},
	    {"/p/requests/bad\xff", 0, 0, "requests", "bad\xff", "", 1},
	    {"/p/requests/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	     0, -1, NULL, NULL, NULL, 1},
	    {"/p/assign/h1/x/y", 0, -1, NULL, NULL, NULL, 0},
	    {"/q/requests/x", 0, -1, NULL, NULL, NULL, 0},
	};
	struct ctrl c = {.prefix = "/p/", .prefix_len = 3};
	char kind[16], a[FS_NAME_MAX + 1], b[FS_NAME_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].key);
		size_t n = 0;
		int rc = ctrl_key_splitn(&c, cases[i].key, len, kind, a, b);

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d", i, rc, cases[i].rc);
		if (rc == 0 && (strcmp(kind, cases[i].kind) ||
				strcmp(a, cases[i].a) || strcmp(b, cases[i].b)))
			fail_msg("case %zu: split %s|%s|%s", i, kind, a, b);
		if (!ctrl_key_bad_request(&c, cases[i].key, len, &n) !=
		    !cases[i].bad)
			fail_msg("case %zu: bad request key %d, want %d", i,
				 !cases[i].bad, cases[i].bad);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_roundtrip),
		cmocka_unit_test(test_status_parse_bad),
		cmocka_unit_test(test_queue_order),
		cmocka_unit_test(test_queue_many),
		cmocka_unit_test(test_cand_rank),
		cmocka_unit_test(test_cand_lowest),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_key_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
