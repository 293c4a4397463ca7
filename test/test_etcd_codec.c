/* Unit tests of etcdclient's JSON encoding and decoding (no etcd). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcdclient/internal.h"

static json_t *parse(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, JSON_ALLOW_NUL, &e);

	if (j == NULL)
		fail_msg("bad fixture: %s: %s", s, e.text);
	return j;
}

static char *dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(s);
	return s;
}

/* ---- base64 and numbers ---- */

static void test_b64_roundtrip(void **state)
{
	(void)state;
	struct etcd_arena a = {0};
	const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba",
			       "foobar"};
	const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
			     "Zm9vYmE=", "Zm9vYmFy"};

	for (size_t i = 0; i < 7; i++) {
		json_t *s = etcd_json_b64(cases[i], strlen(cases[i]));
		assert_string_equal(json_string_value(s), enc[i]);
		const char *out;
		size_t len;
		assert_int_equal(etcd_json_decode_b64(s, &a, &out, &len), 0);
		assert_int_equal(len, strlen(cases[i]));
		assert_string_equal(out, cases[i]);
		json_decref(s);
	}
	/* binary, all byte values */
	unsigned char bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)i;
	json_t *s = etcd_json_b64(bin, sizeof(bin));
	const char *out;
	size_t len;
	assert_int_equal(etcd_json_decode_b64(s, &a, &out, &len), 0);
	assert_int_equal(len, 256);
	assert_memory_equal(out, bin, 256);
	assert_int_equal(out[256], '\0');
	json_decref(s);
	etcd_arena_clear(&a);
}

static void test_b64_decode_table(void **state)
{
	(void)state;
	struct {
		const char *json; /* {"v": ...} */
		int rc;
		const char *out;
	} cases[] = {
		{"{}", 0, ""},
		{"{\"v\":null}", 0, ""},
		{"{\"v\":\"\"}", 0, ""},
		{"{\"v\":\"YQ==\"}", 0, "a"},
		{"{\"v\":\"YQ\"}", 0, "a"},          /* unpadded */
		{"{\"v\":\"-_8=\"}", 0, "\xfb\xff"}, /* URL-safe */
		{"{\"v\":\"Y\"}", ETCD_EPROTO, NULL},
		{"{\"v\":\"YQ=\\u0000\"}", ETCD_EPROTO, NULL},
		{"{\"v\":\"Y Q==\"}", ETCD_EPROTO, NULL},
		{"{\"v\":\"*Q==\"}", ETCD_EPROTO, NULL},
		{"{\"v\":\"YQ==YQ==\"}", ETCD_EPROTO, NULL},
		{"{\"v\":\"=\"}", ETCD_EPROTO, NULL},
		{"{\"v\":12}", ETCD_EPROTO, NULL},
		{"{\"v\":[]}", ETCD_EPROTO, NULL},
		{"{\"v\":true}", ETCD_EPROTO, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct etcd_arena a = {0};
		json_t *j = parse(cases[i].json);
		const char *out = NULL;
		size_t len = 0;
		int rc = etcd_json_get_b64(j, "v", &a, &out, &len);
		if (rc != cases[i].rc)
			fail_msg("case %zu (%s): rc %d", i, cases[i].json, rc);
		if (rc == 0) {
			assert_int_equal(len, strlen(cases[i].out));
			assert_memory_equal(out, cases[i].out, len);
		}
		json_decref(j);
		etcd_arena_clear(&a);
	}
}

static void test_int64_table(void **state)
{
	(void)state;
	struct {
		const char *json;
		int rc;
		int64_t v;
	} cases[] = {
		{"{}", 0, 0},
		{"{\"v\":null}", 0, 0},
		{"{\"v\":\"0\"}", 0, 0},
		{"{\"v\":\"12\"}", 0, 12},
		{"{\"v\":\"-1\"}", 0, -1},
		{"{\"v\":\"9223372036854775807\"}", 0, INT64_MAX},
		{"{\"v\":\"-9223372036854775808\"}", 0, INT64_MIN},
		{"{\"v\":42}", 0, 42},
		{"{\"v\":\"9223372036854775808\"}", ETCD_EPROTO, 0},
		{"{\"v\":\"\"}", ETCD_EPROTO, 0},
		{"{\"v\":\"12x\"}", ETCD_EPROTO, 0},
		{"{\"v\":\"x\"}", ETCD_EPROTO, 0},
		{"{\"v\":\" 1\"}", ETCD_EPROTO, 0},
		{"{\"v\":\"1 \"}", ETCD_EPROTO, 0},
		{"{\"v\":\"+1\"}", ETCD_EPROTO, 0},
		{"{\"v\":1.5}", ETCD_EPROTO, 0},
		{"{\"v\":true}", ETCD_EPROTO, 0},
		{"{\"v\":{}}", ETCD_EPROTO, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = parse(cases[i].json);
		int64_t v = 77;
		int rc = etcd_json_get_int64(j, "v", &v);
		if (rc != cases[i].rc)
			fail_msg("case %zu (%s): rc %d", i, cases[i].json, rc);
		if (rc == 0 && v != cases[i].v)
			fail_msg("case %zu (%s): %lld", i, cases[i].json,
				 (long long)v);
		json_decref(j);
	}
}

static void test_uint64_bool_table(void **state)
{
	(void)state;
	struct {
		const char *json;
		int rc;
		uint64_t v;
	} u[] = {
		{"{\"v\":\"18446744073709551615\"}", 0, UINT64_MAX},
		{"{\"v\":\"0\"}", 0, 0},
		{"{\"v\":\"-1\"}", ETCD_EPROTO, 0},
		{"{\"v\":-1}", ETCD_EPROTO, 0},
		{"{\"v\":\"18446744073709551616\"}", ETCD_EPROTO, 0},
		{"{\"v\":\" 5\"}", ETCD_EPROTO, 0},
		{"{\"v\":\"5a\"}", ETCD_EPROTO, 0},
	};
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		json_t *j = parse(u[i].json);
		uint64_t v = 0;
		int rc = etcd_json_get_uint64(j, "v", &v);
		if (rc != u[i].rc || (rc == 0 && v != u[i].v))
			fail_msg("uint case %zu (%s): rc %d", i, u[i].json,
				 rc);
		json_decref(j);
	}
	json_t *j = parse("{\"t\":true,\"f\":false,\"s\":\"true\",\"n\":1}");
	bool b = false;
	assert_int_equal(etcd_json_get_bool(j, "t", &b), 0);
	assert_true(b);
	assert_int_equal(etcd_json_get_bool(j, "f", &b), 0);
	assert_false(b);
	assert_int_equal(etcd_json_get_bool(j, "missing", &b), 0);
	assert_false(b);
	assert_int_equal(etcd_json_get_bool(j, "s", &b), ETCD_EPROTO);
	assert_int_equal(etcd_json_get_bool(j, "n", &b), ETCD_EPROTO);
	json_decref(j);
}

static void test_prefix_end(void **state)
{
	(void)state;
	struct {
		const char *key;
		size_t len;
		const char *end;
		size_t end_len;
	} cases[] = {
		{"a", 1, "b", 1},
		{"/p/", 3, "/p0", 3},
		{"a\xff", 2, "b", 1},
		{"\xff\xff", 2, "", 1},
		{"", 0, "", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 0;
		char *e = etcd_prefix_end(cases[i].key, cases[i].len, &n);
		assert_non_null(e);
		assert_int_equal(n, cases[i].end_len);
		assert_memory_equal(e, cases[i].end, n);
		free(e);
	}
}

/* ---- request encoding ---- */

static void test_encode_range(void **state)
{
	(void)state;
	struct {
		struct etcd_range_req req;
		int rc;
		const char *json;
	} cases[] = {
		{{.key = "a"}, 0, "{\"key\":\"YQ==\"}"},
		{{.key = "a", .prefix = true}, 0,
		 "{\"key\":\"YQ==\",\"range_end\":\"Yg==\"}"},
		{{.key = "", .prefix = true}, 0,
		 "{\"key\":\"AA==\",\"range_end\":\"AA==\"}"},
		{{.key = "a", .range_end = ""}, 0,
		 "{\"key\":\"YQ==\",\"range_end\":\"AA==\"}"},
		{{.key = "a", .range_end = "c"}, 0,
		 "{\"key\":\"YQ==\",\"range_end\":\"Yw==\"}"},
		{{.key = "a", .limit = 5, .revision = 9, .keys_only = true,
		  .count_only = true, .serializable = true},
		 0,
		 "{\"count_only\":true,\"key\":\"YQ==\",\"keys_only\":true,"
		 "\"limit\":\"5\",\"revision\":\"9\",\"serializable\":true}"},
		{{.key = "a", .sort_order = ETCD_SORT_DESCEND,
		  .sort_target = ETCD_SORT_MOD},
		 0,
		 "{\"key\":\"YQ==\",\"sort_order\":\"DESCEND\","
		 "\"sort_target\":\"MOD\"}"},
		{{.key = NULL}, ETCD_EINVAL, NULL},
		{{.key = ""}, ETCD_EINVAL, NULL},
		{{.key = "a", .range_end = "b", .prefix = true}, ETCD_EINVAL,
		 NULL},
		{{.key = "a", .limit = -1}, ETCD_EINVAL, NULL},
		{{.key = "a", .sort_order = (enum etcd_sort_order)7},
		 ETCD_EINVAL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = NULL;
		int rc = etcd_encode_range(&cases[i].req, &j);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d", i, rc);
		if (rc != 0) {
			assert_null(j);
			continue;
		}
		char *s = dump(j);
		if (strcmp(s, cases[i].json) != 0)
			fail_msg("case %zu: %s", i, s);
		free(s);
		json_decref(j);
	}
}

static void test_encode_put_delete(void **state)
{
	(void)state;
	json_t *j = NULL;
	struct etcd_put_req p = {.key = "k", .value = "\0v", .value_len = 2,
				 .lease = 7, .prev_kv = true};
	assert_int_equal(etcd_encode_put(&p, &j), 0);
	char *s = dump(j);
	assert_string_equal(s, "{\"key\":\"aw==\",\"lease\":\"7\","
			       "\"prev_kv\":true,\"value\":\"AHY=\"}");
	free(s);
	json_decref(j);

	struct etcd_put_req bad[] = {
		{.key = NULL},
		{.key = ""},
		{.key = "k", .value_len = 1},
		{.key = "k", .lease = -1},
		{.key = "k", .ignore_lease = true, .lease = 3},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(etcd_encode_put(&bad[i], &j), ETCD_EINVAL);
		assert_null(j);
	}
	struct etcd_put_req ig = {.key = "k", .ignore_value = true,
				  .ignore_lease = true};
	assert_int_equal(etcd_encode_put(&ig, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"ignore_lease\":true,\"ignore_value\":true,"
			       "\"key\":\"aw==\"}");
	free(s);
	json_decref(j);

	struct etcd_delete_req d = {.key = "k", .prefix = true,
				    .prev_kv = true};
	assert_int_equal(etcd_encode_delete(&d, &j), 0);
	s = dump(j);
	assert_string_equal(s, "{\"key\":\"aw==\",\"prev_kv\":true,"
			       "\"range_end\":\"bA==\"}");
	free(s);
	json_decref(j);
	struct etcd_delete_req dn = {.key = NULL};
	assert_int_equal(etcd_encode_delete(&dn, &j), ETCD_EINVAL);
}

static void test_encode_txn(void **state)
{
	(void)state;
	struct etcd_compare cmp[] = {
		{.target = ETCD_CMP_MOD, .result = ETCD_CMP_EQUAL, .key = "a",
		 .number = 5},
		{.target = ETCD_CMP_VALUE, .result = ETCD_CMP_NOT_EQUAL,
		 .key = "b", .value = "x", .value_len = 1},
		{.target = ETCD_CMP_VERSION, .result = ETCD_CMP_GREATER,
		 .key = "c", .number = 1},
		{.target = ETCD_CMP_CREATE, .result = ETCD_CMP_LESS, .key = "d",
		 .number = 2},
		{.target = ETCD_CMP_LEASE, .result = ETCD_CMP_EQUAL, .key = "e",
		 .range_end = "f", .number = 3},
	};
	struct etcd_op inner_ops[] = {
		{.type = ETCD_OP_DELETE, .u.del = {.key = "z"}},
	};
	struct etcd_txn_req inner = {.failure = inner_ops, .n_failure = 1};
	struct etcd_op ops[] = {
		{.type = ETCD_OP_PUT,
		 .u.put = {.key = "a", .value = "1", .value_len = 1}},
		{.type = ETCD_OP_RANGE, .u.range = {.key = "a"}},
		{.type = ETCD_OP_TXN, .u.txn = &inner},
	};
	struct etcd_txn_req txn = {.compare = cmp, .n_compare = 5,
				   .success = ops, .n_success = 3,
				   .failure = ops, .n_failure = 1};
	json_t *j = NULL;

	assert_int_equal(etcd_encode_txn(&txn, &j), 0);
	json_t *want = parse(
		"{\"compare\":["
		"{\"target\":\"MOD\",\"result\":\"EQUAL\",\"key\":\"YQ==\","
		"\"mod_revision\":\"5\"},"
		"{\"target\":\"VALUE\",\"result\":\"NOT_EQUAL\","
		"\"key\":\"Yg==\",\"value\":\"eA==\"},"
		"{\"target\":\"VERSION\",\"result\":\"GREATER\","
		"\"key\":\"Yw==\",\"version\":\"1\"},"
		"{\"target\":\"CREATE\",\"result\":\"LESS\",\"key\":\"ZA==\","
		"\"create_revision\":\"2\"},"
		"{\"target\":\"LEASE\",\"result\":\"EQUAL\",\"key\":\"ZQ==\","
		"\"range_end\":\"Zg==\",\"lease\":\"3\"}],"
		"\"success\":["
		"{\"request_put\":{\"key\":\"YQ==\",\"value\":\"MQ==\"}},"
		"{\"request_range\":{\"key\":\"YQ==\"}},"
		"{\"request_txn\":{\"failure\":[{\"request_delete_range\":"
		"{\"key\":\"eg==\"}}]}}],"
		"\"failure\":["
		"{\"request_put\":{\"key\":\"YQ==\",\"value\":\"MQ==\"}}]}");
	if (!json_equal(j, want)) {
		char *s = dump(j);
		fail_msg("got %s", s);
	}
	json_decref(want);
	json_decref(j);

	/* invalid: bad enum, a bad op deep inside, a txn nested in itself */
	struct etcd_compare badcmp = {.target = (enum etcd_cmp_target)9,
				      .key = "a"};
	struct etcd_txn_req t1 = {.compare = &badcmp, .n_compare = 1};
	assert_int_equal(etcd_encode_txn(&t1, &j), ETCD_EINVAL);
	assert_null(j);
	struct etcd_op badop = {.type = ETCD_OP_PUT, .u.put = {.key = ""}};
	struct etcd_txn_req t2 = {.success = &badop, .n_success = 1};
	struct etcd_op wrap = {.type = ETCD_OP_TXN, .u.txn = &t2};
	struct etcd_txn_req t3 = {.failure = &wrap, .n_failure = 1};
	assert_int_equal(etcd_encode_txn(&t3, &j), ETCD_EINVAL);
	struct etcd_txn_req loop_txn;
	struct etcd_op self = {.type = ETCD_OP_TXN, .u.txn = &loop_txn};
	loop_txn = (struct etcd_txn_req){.success = &self, .n_success = 1};
	assert_int_equal(etcd_encode_txn(&loop_txn, &j), ETCD_EINVAL);
	struct etcd_txn_req t4 = {.n_success = 2};
	assert_int_equal(etcd_encode_txn(&t4, &j), ETCD_EINVAL);
	struct etcd_op badtype = {.type = (enum etcd_op_type)9};
	struct etcd_txn_req t5 = {.success = &badtype, .n_success = 1};
	assert_int_equal(etcd_encode_txn(&t5, &j), ETCD_EINVAL);
}

/* ---- answer decoding ---- */

static void test_decode_range_table(void **state)
{
	(void)state;
	struct {
		const char *json;
		int rc;
		size_t n_kvs;
		int64_t count;
	} cases[] = {
		{"{}", 0, 0, 0},
		{"{\"header\":{\"revision\":\"5\",\"cluster_id\":"
		 "\"18446744073709551615\"},\"kvs\":[{\"key\":\"YQ==\","
		 "\"value\":\"Yg==\",\"create_revision\":\"2\","
		 "\"mod_revision\":\"3\",\"version\":\"1\",\"lease\":\"9\"}],"
		 "\"count\":\"1\",\"more\":true}",
		 0, 1, 1},
		{"{\"kvs\":[{\"key\":\"YQ==\"},{\"key\":\"Yg==\"}],"
		 "\"count\":\"2\"}",
		 0, 2, 2},
		{"{\"kvs\":null}", 0, 0, 0},
		{"{\"kvs\":[]}", 0, 0, 0},
		/* malformed */
		{"{\"kvs\":{}}", ETCD_EPROTO, 0, 0},
		{"{\"kvs\":\"x\"}", ETCD_EPROTO, 0, 0},
		{"{\"kvs\":[1]}", ETCD_EPROTO, 0, 0},
		{"{\"kvs\":[{\"key\":\"%%%\"}]}", ETCD_EPROTO, 0, 0},
		{"{\"kvs\":[{\"key\":\"YQ==\",\"version\":\"one\"}]}",
		 ETCD_EPROTO, 0, 0},
		{"{\"kvs\":[{\"key\":\"YQ==\",\"mod_revision\":[]}]}",
		 ETCD_EPROTO, 0, 0},
		{"{\"count\":\"x\"}", ETCD_EPROTO, 0, 0},
		{"{\"count\":true}", ETCD_EPROTO, 0, 0},
		{"{\"more\":\"yes\"}", ETCD_EPROTO, 0, 0},
		{"{\"header\":\"h\"}", ETCD_EPROTO, 0, 0},
		{"{\"header\":[]}", ETCD_EPROTO, 0, 0},
		{"{\"header\":{\"revision\":\"r\"}}", ETCD_EPROTO, 0, 0},
		{"{\"header\":{\"member_id\":\"-3\"}}", ETCD_EPROTO, 0, 0},
		{"[]", ETCD_EPROTO, 0, 0},
		{"\"s\"", ETCD_EPROTO, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct etcd_arena a = {0};
		struct etcd_range_result res;
		json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		int rc = etcd_decode_range(j, &a, &res);
		if (rc != cases[i].rc)
			fail_msg("case %zu (%s): rc %d", i, cases[i].json, rc);
		if (rc == 0) {
			assert_int_equal(res.n_kvs, cases[i].n_kvs);
			assert_int_equal(res.count, cases[i].count);
		}
		if (i == 1) {
			assert_int_equal(res.header.revision, 5);
			assert_true(res.header.cluster_id == UINT64_MAX);
			assert_string_equal(res.kvs[0].key, "a");
			assert_int_equal(res.kvs[0].key_len, 1);
			assert_string_equal(res.kvs[0].value, "b");
			assert_int_equal(res.kvs[0].create_revision, 2);
			assert_int_equal(res.kvs[0].mod_revision, 3);
			assert_int_equal(res.kvs[0].version, 1);
			assert_int_equal(res.kvs[0].lease, 9);
			assert_true(res.more);
		}
		if (i == 2) /* value omitted = empty */
			assert_int_equal(res.kvs[1].value_len, 0);
		json_decref(j);
		etcd_arena_clear(&a);
	}
}

static void test_decode_put_delete(void **state)
{
	(void)state;
	struct etcd_arena a = {0};
	struct etcd_put_result p;
	struct etcd_delete_result d;
	json_t *j;

	j = parse("{\"header\":{\"revision\":\"4\"},\"prev_kv\":"
		  "{\"key\":\"YQ==\",\"value\":\"MQ==\"}}");
	assert_int_equal(etcd_decode_put(j, &a, &p), 0);
	assert_int_equal(p.header.revision, 4);
	assert_non_null(p.prev_kv);
	assert_string_equal(p.prev_kv->value, "1");
	json_decref(j);
	j = parse("{\"header\":{\"revision\":\"4\"}}");
	assert_int_equal(etcd_decode_put(j, &a, &p), 0);
	assert_null(p.prev_kv);
	json_decref(j);
	j = parse("{\"prev_kv\":[]}");
	assert_int_equal(etcd_decode_put(j, &a, &p), ETCD_EPROTO);
	json_decref(j);

	j = parse("{\"deleted\":\"2\",\"prev_kvs\":[{\"key\":\"YQ==\"},"
		  "{\"key\":\"Yg==\"}]}");
	assert_int_equal(etcd_decode_delete(j, &a, &d), 0);
	assert_int_equal(d.deleted, 2);
	assert_int_equal(d.n_prev_kvs, 2);
	assert_string_equal(d.prev_kvs[1].key, "b");
	json_decref(j);
	j = parse("{}");
	assert_int_equal(etcd_decode_delete(j, &a, &d), 0);
	assert_int_equal(d.deleted, 0);
	json_decref(j);
	j = parse("{\"deleted\":\"two\"}");
	assert_int_equal(etcd_decode_delete(j, &a, &d), ETCD_EPROTO);
	json_decref(j);
	j = parse("{\"prev_kvs\":{}}");
	assert_int_equal(etcd_decode_delete(j, &a, &d), ETCD_EPROTO);
	json_decref(j);
	etcd_arena_clear(&a);
}

static void test_decode_txn(void **state)
{
	(void)state;
	struct etcd_arena a = {0};
	struct etcd_txn_result t;
	/* as etcd 3.4.23 answers (see test_etcd_kv for the live check) */
	json_t *j = parse(
		"{\"header\":{\"revision\":\"2\"},\"succeeded\":true,"
		"\"responses\":["
		"{\"response_put\":{\"header\":{\"revision\":\"2\"}}},"
		"{\"response_range\":{\"header\":{\"revision\":\"2\"},"
		"\"kvs\":[{\"key\":\"YQ==\",\"value\":\"Yg==\"}],"
		"\"count\":\"1\"}},"
		"{\"response_delete_range\":{\"header\":{},\"deleted\":\"1\"}},"
		"{\"response_txn\":{\"header\":{},\"succeeded\":true,"
		"\"responses\":[{\"response_delete_range\":"
		"{\"header\":{\"revision\":\"2\"}}}]}}]}");

	assert_int_equal(etcd_decode_txn(j, &a, &t), 0);
	assert_true(t.succeeded);
	assert_int_equal(t.header.revision, 2);
	assert_int_equal(t.n_responses, 4);
	assert_int_equal(t.responses[0].type, ETCD_OP_PUT);
	assert_int_equal(t.responses[1].type, ETCD_OP_RANGE);
	assert_int_equal(t.responses[1].u.range.n_kvs, 1);
	assert_string_equal(t.responses[1].u.range.kvs[0].value, "b");
	assert_int_equal(t.responses[2].type, ETCD_OP_DELETE);
	assert_int_equal(t.responses[2].u.del.deleted, 1);
	assert_int_equal(t.responses[3].type, ETCD_OP_TXN);
	const struct etcd_txn_result *in = t.responses[3].u.txn;
	assert_true(in->succeeded);
	assert_int_equal(in->n_responses, 1);
	assert_int_equal(in->responses[0].type, ETCD_OP_DELETE);
	json_decref(j);

	/* failed compare: "succeeded" omitted */
	j = parse("{\"header\":{\"revision\":\"3\"}}");
	assert_int_equal(etcd_decode_txn(j, &a, &t), 0);
	assert_false(t.succeeded);
	assert_int_equal(t.n_responses, 0);
	json_decref(j);

	const char *bad[] = {
		"{\"responses\":{}}",
		"{\"responses\":[1]}",
		"{\"responses\":[{}]}",
		"{\"responses\":[{\"response_nothing\":{}}]}",
		"{\"responses\":[{\"response_range\":[]}]}",
		"{\"responses\":[{\"response_range\":{\"kvs\":7}}]}",
		"{\"responses\":[{\"response_txn\":{\"responses\":[{}]}}]}",
		"{\"succeeded\":\"true\"}",
		"{\"header\":1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = parse(bad[i]);
		if (etcd_decode_txn(j, &a, &t) != ETCD_EPROTO)
			fail_msg("bad %zu accepted: %s", i, bad[i]);
		json_decref(j);
	}

	/* deep nesting: refused, not a stack overflow */
	char deep[8192] = "";
	size_t n = 0;
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n,
				      "{\"responses\":[{\"response_txn\":");
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{}");
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "}]}");
	j = parse(deep);
	assert_int_equal(etcd_decode_txn(j, &a, &t), ETCD_EPROTO);
	json_decref(j);
	etcd_arena_clear(&a);
}

static void test_decode_lease(void **state)
{
	(void)state;
	struct etcd_arena a = {0};
	int64_t id, ttl;
	json_t *j;

	j = parse("{\"header\":{},\"ID\":\"7\",\"TTL\":\"5\"}");
	assert_int_equal(etcd_decode_lease_grant(j, &id, &ttl), 0);
	assert_int_equal(id, 7);
	assert_int_equal(ttl, 5);
	json_decref(j);
	j = parse("{\"ID\":\"7\",\"TTL\":\"5\",\"error\":\"boom\"}");
	assert_int_equal(etcd_decode_lease_grant(j, &id, &ttl), ETCD_ESERVER);
	json_decref(j);
	j = parse("{\"TTL\":\"5\"}");
	assert_int_equal(etcd_decode_lease_grant(j, &id, &ttl), ETCD_EPROTO);
	json_decref(j);
	j = parse("{\"ID\":\"x\"}");
	assert_int_equal(etcd_decode_lease_grant(j, &id, &ttl), ETCD_EPROTO);
	json_decref(j);

	struct etcd_lease_ttl_result r;
	j = parse("{\"ID\":\"7\",\"TTL\":\"4\",\"grantedTTL\":\"5\","
		  "\"keys\":[\"YQ==\",\"Yg==\"]}");
	assert_int_equal(etcd_decode_lease_ttl(j, &a, &r), 0);
	assert_int_equal(r.id, 7);
	assert_int_equal(r.ttl, 4);
	assert_int_equal(r.granted_ttl, 5);
	assert_int_equal(r.n_keys, 2);
	assert_string_equal(r.keys[1], "b");
	json_decref(j);
	j = parse("{\"ID\":\"7\",\"TTL\":\"-1\"}");
	assert_int_equal(etcd_decode_lease_ttl(j, &a, &r), 0);
	assert_int_equal(r.ttl, -1);
	json_decref(j);
	const char *bad[] = {"{\"keys\":{}}", "{\"keys\":[1]}",
			     "{\"keys\":[\"*\"]}", "{\"grantedTTL\":[]}"};
	for (size_t i = 0; i < 4; i++) {
		j = parse(bad[i]);
		assert_int_equal(etcd_decode_lease_ttl(j, &a, &r), ETCD_EPROTO);
		json_decref(j);
	}

	j = parse("{\"result\":{\"ID\":\"7\",\"TTL\":\"5\"}}");
	assert_int_equal(etcd_decode_keepalive(j, &ttl), 0);
	assert_int_equal(ttl, 5);
	json_decref(j);
	j = parse("{\"result\":{\"ID\":\"7\"}}"); /* lease gone */
	assert_int_equal(etcd_decode_keepalive(j, &ttl), 0);
	assert_int_equal(ttl, 0);
	json_decref(j);
	j = parse("{\"result\":[]}");
	assert_int_equal(etcd_decode_keepalive(j, &ttl), ETCD_EPROTO);
	json_decref(j);
	j = parse("{\"result\":{\"TTL\":\"x\"}}");
	assert_int_equal(etcd_decode_keepalive(j, &ttl), ETCD_EPROTO);
	json_decref(j);
	etcd_arena_clear(&a);
}

static void test_decode_error_table(void **state)
{
	(void)state;
	struct {
		const char *json;
		int code;
		int grpc;
	} cases[] = {
		{"{\"error\":\"etcdserver: requested lease not found\","
		 "\"message\":\"etcdserver: requested lease not found\","
		 "\"code\":5}",
		 ETCD_ENOTFOUND, 5},
		{"{\"error\":\"x\",\"message\":\"etcdserver: mvcc: required "
		 "revision has been compacted\",\"code\":11}",
		 ETCD_ECOMPACTED, 11},
		{"{\"message\":\"out of range\",\"code\":11}", ETCD_ESERVER, 11},
		{"{\"message\":\"etcdserver: invalid auth token\","
		 "\"code\":16}",
		 ETCD_EAUTH, 16},
		{"{\"message\":\"etcdserver: permission denied\",\"code\":7}",
		 ETCD_EAUTH, 7},
		{"{\"message\":\"etcdserver: user name is empty\","
		 "\"code\":3}",
		 ETCD_EAUTH, 3},
		{"{\"message\":\"etcdserver: authentication failed, invalid "
		 "user ID or password\",\"code\":3}",
		 ETCD_EAUTH, 3},
		{"{\"message\":\"etcdserver: duplicate key given in txn "
		 "request\",\"code\":3}",
		 ETCD_ESERVER, 3},
		{"{\"error\":{\"grpc_code\":11,\"http_code\":400,\"message\":"
		 "\"etcdserver: mvcc: required revision has been compacted\"}}",
		 ETCD_ECOMPACTED, 11},
		{"{\"error\":\"only a string\"}", ETCD_ESERVER, 0},
		{"{}", ETCD_ESERVER, 0},
		{"{\"code\":\"5\",\"message\":7}", ETCD_ESERVER, 0},
		{"[]", ETCD_ESERVER, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct etcd_error e;
		json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		etcd_decode_error(j, 400, &e);
		if (e.code != cases[i].code || e.grpc_code != cases[i].grpc)
			fail_msg("case %zu: code %d grpc %d", i, e.code,
				 e.grpc_code);
		assert_int_equal(e.http_status, 400);
		assert_true(strlen(e.message) > 0);
		json_decref(j);
	}
	/* long messages are truncated, NUL-terminated */
	char big[1024];
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	json_t *j = json_pack("{s:s, s:i}", "message", big, "code", 2);
	struct etcd_error e;
	etcd_decode_error(j, 500, &e);
	assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
	json_decref(j);
}

static void test_arena(void **state)
{
	(void)state;
	struct etcd_arena a = {0};

	for (int i = 0; i < 1000; i++) {
		char *p = etcd_arena_alloc(&a, (size_t)i * 7 + 1);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		assert_int_equal(p[0], 0);
		memset(p, 0xab, (size_t)i * 7 + 1);
	}
	char *big = etcd_arena_alloc(&a, 100000);
	assert_non_null(big);
	memset(big, 1, 100000);
	char *s = etcd_arena_strndup(&a, "hello", 3);
	assert_string_equal(s, "hel");
	etcd_arena_clear(&a);
	assert_null(a.head);
	etcd_arena_clear(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_roundtrip),
		cmocka_unit_test(test_b64_decode_table),
		cmocka_unit_test(test_int64_table),
		cmocka_unit_test(test_uint64_bool_table),
		cmocka_unit_test(test_prefix_end),
		cmocka_unit_test(test_encode_range),
		cmocka_unit_test(test_encode_put_delete),
		cmocka_unit_test(test_encode_txn),
		cmocka_unit_test(test_decode_range_table),
		cmocka_unit_test(test_decode_put_delete),
		cmocka_unit_test(test_decode_txn),
		cmocka_unit_test(test_decode_lease),
		cmocka_unit_test(test_decode_error_table),
		cmocka_unit_test(test_arena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
