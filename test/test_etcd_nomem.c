/*
 * Allocation failures (STYLE.md item 8): every decoder and encoder of
 * etcdclient, with the N-th allocation failing for N = 1, 2, ... until the
 * call succeeds, must return ETCD_ENOMEM (never crash, never another
 * error) and must not leak: the test interposes malloc and friends, tracks
 * every block allocated while armed and checks that none is left once the
 * call's arena and JSON are released.
 *
 * The interposer cannot coexist with AddressSanitizer's or valgrind's, so
 * under SANITIZE=1 and valgrind the tests are skipped: the plain build
 * runs them.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <ev.h>

#include "etcdclient/internal.h"
#include "etcdclient/watch_election.h"
#include "test/lib/etcd_harness.h"
#include "test/lib/evtest.h"
#include "test/lib/nomem.h"

#ifndef NOMEM_SKIP
/* The decoders, each run against every fixture. */
typedef int (*decode_fn)(const json_t *j, struct etcd_arena *a);

static int d_range(const json_t *j, struct etcd_arena *a)
{
	struct etcd_range_result r;
	return etcd_decode_range(j, a, &r);
}
static int d_put(const json_t *j, struct etcd_arena *a)
{
	struct etcd_put_result r;
	return etcd_decode_put(j, a, &r);
}
static int d_delete(const json_t *j, struct etcd_arena *a)
{
	struct etcd_delete_result r;
	return etcd_decode_delete(j, a, &r);
}
static int d_txn(const json_t *j, struct etcd_arena *a)
{
	struct etcd_txn_result r;
	return etcd_decode_txn(j, a, &r);
}
static int d_ttl(const json_t *j, struct etcd_arena *a)
{
	struct etcd_lease_ttl_result r;
	return etcd_decode_lease_ttl(j, a, &r);
}
static int d_watch(const json_t *j, struct etcd_arena *a)
{
	struct etcd_watch_update u;
	struct etcd_error e;
	return etcd_watch_decode(j, a, &u, &e);
}
static int d_observe(const json_t *j, struct etcd_arena *a)
{
	struct etcd_kv kv;
	struct etcd_error e;
	return etcd_observe_decode(j, a, &kv, &e);
}
static int d_leader(const json_t *j, struct etcd_arena *a)
{
	struct etcd_leader_key lk;
	return etcd_leader_key_decode(j, a, &lk);
}

static const struct {
	const char *name;
	decode_fn fn;
} decoders[] = {
	{"range", d_range},   {"put", d_put},	  {"delete", d_delete},
	{"txn", d_txn},	      {"ttl", d_ttl},	  {"watch", d_watch},
	{"observe", d_observe}, {"leader", d_leader},
};

#define CORPUS "fuzz/corpus/fuzz_etcd_decode"
#endif

static void test_decoders_nomem(void **state)
{
	(void)state;
	nomem_require();
#ifndef NOMEM_SKIP
	DIR *d = opendir(CORPUS);
	struct dirent *de;
	int fixtures = 0, failures_injected = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char path[512];
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), CORPUS "/%s", de->d_name);
		json_t *j = json_load_file(path, 0, NULL);
		assert_non_null(j);
		fixtures++;
		for (size_t k = 0; k < sizeof(decoders) / sizeof(decoders[0]);
		     k++) {
			/* What the decoder answers with memory to spare. */
			struct etcd_arena a = {0};
			int want = decoders[k].fn(j, &a);
			etcd_arena_clear(&a);
			for (long n = 1;; n++) {
				nomem_arm(n);
				int r = decoders[k].fn(j, &a);
				nomem_disarm();
				etcd_arena_clear(&a);
				long lk = nomem_leaked();
				if (lk != 0)
					fail_msg("%s on %s: %ld block(s) leaked "
						 "with allocation %ld failing",
						 decoders[k].name, de->d_name,
						 lk, n);
				if (nomem_allocs() < n) { /* nothing failed */
					assert_int_equal(r, want);
					break;
				}
				failures_injected++;
				if (r != ETCD_ENOMEM && r != want)
					fail_msg("%s on %s: allocation %ld "
						 "failing gave %d (%s)",
						 decoders[k].name, de->d_name,
						 n, r, etcd_strerror(r));
			}
		}
		json_decref(j);
	}
	closedir(d);
	assert_true(fixtures >= 10);
	assert_true(failures_injected >= 5);

	/* Large answers span many arena chunks: many allocations to fail. */
	json_t *kvs = json_array(), *evs = json_array();
	for (int i = 0; i < 200; i++) {
		char key[32];
		char val[300];
		snprintf(key, sizeof(key), "/flintsched/hosts/h-%d", i);
		memset(val, 'a' + i % 26, sizeof(val) - 1);
		val[sizeof(val) - 1] = '\0';
		json_t *kv = json_pack("{s:o,s:o,s:s,s:s}", "key",
				       etcd_json_b64(key, strlen(key)), "value",
				       etcd_json_b64(val, strlen(val)),
				       "mod_revision", "12", "version", "1");
		json_array_append(kvs, kv);
		json_array_append_new(evs, json_pack("{s:o,s:O}", "kv", kv,
						     "prev_kv", kv));
	}
	json_t *big[2] = {
		json_pack("{s:{s:s},s:o,s:s}", "header", "revision", "12",
			  "kvs", kvs, "count", "200"),
		json_pack("{s:{s:{s:s},s:o}}", "result", "header", "revision",
			  "12", "events", evs)};
	decode_fn big_fn[2] = {d_range, d_watch};
	int before = failures_injected;
	for (int b = 0; b < 2; b++) {
		struct etcd_arena a = {0};
		assert_int_equal(big_fn[b](big[b], &a), 0);
		etcd_arena_clear(&a);
		for (long n = 1;; n++) {
			nomem_arm(n);
			int r = big_fn[b](big[b], &a);
			nomem_disarm();
			etcd_arena_clear(&a);
			assert_int_equal(nomem_leaked(), 0);
			if (nomem_allocs() < n) {
				assert_int_equal(r, 0);
				break;
			}
			failures_injected++;
			assert_int_equal(r, ETCD_ENOMEM);
		}
		json_decref(big[b]);
	}
	print_message("%d fixtures + 2 large answers: %d allocation failures "
		      "injected\n",
		      fixtures, failures_injected);
	assert_true(failures_injected - before >= 20);
#endif
}

/* Encoders build jansson objects: a failure must free what was built. */
static void test_encoders_nomem(void **state)
{
	(void)state;
	nomem_require();
#ifndef NOMEM_SKIP
	struct etcd_range_req range = {.key = "/a/", .prefix = true,
				       .limit = 10, .revision = 3,
				       .sort_order = ETCD_SORT_ASCEND};
	struct etcd_put_req put = {.key = "/a/b", .value = "v",
				   .value_len = 1, .lease = 7, .prev_kv = true};
	struct etcd_delete_req del = {.key = "/a/", .prefix = true,
				      .prev_kv = true};
	struct etcd_compare cmp[2] = {
		{.target = ETCD_CMP_MOD, .result = ETCD_CMP_EQUAL, .key = "/a/b",
		 .number = 5},
		{.target = ETCD_CMP_VALUE, .result = ETCD_CMP_NOT_EQUAL,
		 .key = "/a/c", .value = "x", .value_len = 1}};
	struct etcd_op inner_ops[1] = {{.type = ETCD_OP_PUT, .u.put = put}};
	struct etcd_txn_req inner = {.compare = cmp, .n_compare = 1,
				     .success = inner_ops, .n_success = 1};
	struct etcd_op ops[4] = {{.type = ETCD_OP_PUT, .u.put = put},
				 {.type = ETCD_OP_RANGE, .u.range = range},
				 {.type = ETCD_OP_DELETE, .u.del = del},
				 {.type = ETCD_OP_TXN, .u.txn = &inner}};
	struct etcd_txn_req txn = {.compare = cmp, .n_compare = 2,
				   .success = ops, .n_success = 4,
				   .failure = ops, .n_failure = 2};
	int injected = 0;

	for (int which = 0; which < 4; which++) {
		for (long n = 1;; n++) {
			json_t *out = NULL;
			int r;
			nomem_arm(n);
			switch (which) {
			case 0: r = etcd_encode_range(&range, &out); break;
			case 1: r = etcd_encode_put(&put, &out); break;
			case 2: r = etcd_encode_delete(&del, &out); break;
			default: r = etcd_encode_txn(&txn, &out); break;
			}
			nomem_disarm();
			bool failed = nomem_allocs() >= n;
			if (r == 0)
				json_decref(out);
			long lk = nomem_leaked();
			if (lk != 0)
				fail_msg("encoder %d: %ld block(s) leaked with "
					 "allocation %ld failing", which, lk, n);
			if (!failed) {
				assert_int_equal(r, 0);
				break;
			}
			injected++;
			if (r != ETCD_ENOMEM)
				fail_msg("encoder %d: allocation %ld failing "
					 "gave %d", which, n, r);
		}
	}
	assert_true(injected > 20);
#endif
}

#ifndef NOMEM_SKIP
/* Count the callbacks of a put, of a txn. */
static void on_put_count(void *arg, const struct etcd_error *err,
			 const struct etcd_put_result *res)
{
	(void)err, (void)res, (*(int *)arg)++;
}

static void on_txn_count(void *arg, const struct etcd_error *err,
			 const struct etcd_txn_result *res)
{
	(void)err, (void)res, (*(int *)arg)++;
}
#endif

/*
 * Issue 13 item 10: memory runs out inside a call, from its N-th
 * allocation on, for N = 1, 2, ... until the call goes through.  A call
 * that returned 0 was accepted: its callback must run exactly once (an
 * error is fine), even when the memory to report that error is gone too;
 * a call refused must say ETCD_ENOMEM and never call back.  A commit
 * whose callback never runs leaves its host locked for good.
 */
static void test_calls_nomem(void **state)
{
	(void)state;
	nomem_require();
#ifndef NOMEM_SKIP
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct etcd_harness *h = etcd_harness_start(NULL);
	assert_non_null(h);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	const char *eps[] = {h->endpoint};
	struct etcd_config cfg = {.endpoints = eps, .n_endpoints = 1};
	etcd_client *c = NULL;
	assert_int_equal(etcd_client_new(loop, &cfg, &c), 0);
	struct etcd_put_req put = {.key = "/nomem", .value = "v",
				   .value_len = 1};
	struct etcd_compare cmp = {.target = ETCD_CMP_VERSION,
				   .result = ETCD_CMP_GREATER,
				   .key = "/nomem", .number = 0};
	struct etcd_op op = {.type = ETCD_OP_PUT, .u.put = put};
	struct etcd_txn_req txn = {.compare = &cmp, .n_compare = 1,
				   .success = &op, .n_success = 1};
	int accepted = 0, refused = 0;

	for (int which = 0; which < 2; which++) {
		for (long n = 1;; n++) {
			int calls = 0, r;
			nomem_arm_from(n);
			if (which == 0)
				r = etcd_kv_put(c, &put, on_put_count, &calls);
			else
				r = etcd_kv_txn(c, &txn, on_txn_count, &calls);
			nomem_disarm();
			nomem_leaked(); /* curl keeps handles and connections */
			bool failed = nomem_allocs() >= n;
			if (r == 0) {
				int *cp = &calls;
				if (!evtest_run_until_count(loop, cp, 1, 5.0))
					fail_msg("call %d accepted with "
						 "allocation %ld on failing: "
						 "no callback", which, n);
				evtest_run_for(loop, 0.02);
				assert_int_equal(calls, 1);
				accepted += failed;
			} else {
				if (r != ETCD_ENOMEM)
					fail_msg("call %d, allocation %ld on "
						 "failing: %d", which, n, r);
				evtest_run_for(loop, 0.02);
				assert_int_equal(calls, 0);
				refused++;
			}
			if (!failed)
				break;
		}
	}
	print_message("%d calls refused, %d accepted then failed\n", refused,
		      accepted);
	assert_true(accepted > 0);
	c = etcd_client_free(c);
	ev_loop_destroy(loop);
	etcd_harness_stop(h);
	curl_global_cleanup();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoders_nomem),
		cmocka_unit_test(test_encoders_nomem),
		cmocka_unit_test(test_calls_nomem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
