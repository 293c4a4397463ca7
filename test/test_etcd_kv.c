/* Integration tests of KV and txn against a real etcd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ev.h>

#include "etcdclient/etcd.h"
#include "test/lib/etcdtest.h"
#include "test/lib/evtest.h"

#define WAIT_S 10.0

static struct etcdtest *T; /* the group's etcd, loop and client */

static int group_setup(void **state)
{
	int r = etcdtest_group_setup(state);

	T = *state;
	return r;
}

/* ---- capturing callbacks -------------------------------------------------- */

struct cap {
	bool done;
	int calls;
	struct etcd_error err;
	bool failed;
	int64_t revision;
	/* range */
	int64_t count;
	bool more;
	size_t n_kvs;
	char keys[16][64];
	char values[16][64];
	size_t value_len[16];
	int64_t lease[16], version[16], mod[16], create[16];
	/* put / delete */
	bool has_prev;
	char prev_value[64];
	int64_t deleted;
	size_t n_prev;
	/* txn */
	bool succeeded;
	size_t n_responses;
	enum etcd_op_type types[8];
	const char *dummy;
};

static void cap_err(struct cap *c, const struct etcd_error *err)
{
	c->done = true;
	c->calls++;
	if (err != NULL) {
		c->failed = true;
		c->err = *err;
	}
}

static void cap_kvs(struct cap *c, const struct etcd_kv *kvs, size_t n)
{
	c->n_kvs = n;
	for (size_t i = 0; i < n && i < 16; i++) {
		snprintf(c->keys[i], sizeof(c->keys[i]), "%s", kvs[i].key);
		memcpy(c->values[i], kvs[i].value,
		       kvs[i].value_len < 63 ? kvs[i].value_len + 1 : 63);
		c->value_len[i] = kvs[i].value_len;
		c->lease[i] = kvs[i].lease;
		c->version[i] = kvs[i].version;
		c->mod[i] = kvs[i].mod_revision;
		c->create[i] = kvs[i].create_revision;
	}
}

static void on_range(void *arg, const struct etcd_error *err,
		     const struct etcd_range_result *res)
{
	struct cap *c = arg;

	cap_err(c, err);
	if (err != NULL)
		return;
	c->revision = res->header.revision;
	c->count = res->count;
	c->more = res->more;
	cap_kvs(c, res->kvs, res->n_kvs);
}

static void on_put(void *arg, const struct etcd_error *err,
		   const struct etcd_put_result *res)
{
	struct cap *c = arg;

	cap_err(c, err);
	if (err != NULL)
		return;
	c->revision = res->header.revision;
	c->has_prev = res->prev_kv != NULL;
	if (res->prev_kv != NULL)
		snprintf(c->prev_value, sizeof(c->prev_value), "%s",
			 res->prev_kv->value);
}

static void on_delete(void *arg, const struct etcd_error *err,
		      const struct etcd_delete_result *res)
{
	struct cap *c = arg;

	cap_err(c, err);
	if (err != NULL)
		return;
	c->revision = res->header.revision;
	c->deleted = res->deleted;
	c->n_prev = res->n_prev_kvs;
	cap_kvs(c, res->prev_kvs, res->n_prev_kvs);
}

static void on_done(void *arg, const struct etcd_error *err,
		    const struct etcd_header *hdr)
{
	struct cap *c = arg;

	cap_err(c, err);
	if (err == NULL)
		c->revision = hdr->revision;
}

/* Keeps a copy of the txn result's shape, plus the first range kvs found
 * (depth-first) for assertions. */
static void on_txn(void *arg, const struct etcd_error *err,
		   const struct etcd_txn_result *res)
{
	struct cap *c = arg;

	cap_err(c, err);
	if (err != NULL)
		return;
	c->revision = res->header.revision;
	c->succeeded = res->succeeded;
	c->n_responses = res->n_responses;
	for (size_t i = 0; i < res->n_responses && i < 8; i++) {
		c->types[i] = res->responses[i].type;
		if (res->responses[i].type == ETCD_OP_RANGE && c->n_kvs == 0)
			cap_kvs(c, res->responses[i].u.range.kvs,
				res->responses[i].u.range.n_kvs);
		if (res->responses[i].type == ETCD_OP_DELETE)
			c->deleted += res->responses[i].u.del.deleted;
	}
}

static void wait_cap(struct cap *c)
{
	assert_true(evtest_run_until(T->loop, &c->done, WAIT_S));
	assert_int_equal(c->calls, 1);
}

static void put_ok(const char *key, const char *value, int64_t lease)
{
	struct cap c = {0};
	struct etcd_put_req req = {.key = key, .value = value,
				   .value_len = strlen(value), .lease = lease};

	assert_int_equal(etcd_kv_put(T->client, &req, on_put, &c), 0);
	wait_cap(&c);
	if (c.failed)
		fail_msg("put %s: %s", key, c.err.message);
}

static struct cap get(const struct etcd_range_req *req)
{
	struct cap c = {0};

	assert_int_equal(etcd_kv_range(T->client, req, on_range, &c), 0);
	assert_false(c.done); /* never synchronously */
	wait_cap(&c);
	return c;
}

static struct cap get1(const char *key)
{
	struct etcd_range_req req = {.key = key};
	return get(&req);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_put_get_prev_kv(void **state)
{
	(void)state;
	struct cap c = {0};
	const char bin[] = "a\0b\0c";
	struct etcd_put_req req = {.key = "/kv/one", .value = bin,
				   .value_len = sizeof(bin) - 1,
				   .prev_kv = true};

	assert_int_equal(etcd_kv_put(T->client, &req, on_put, &c), 0);
	wait_cap(&c);
	assert_false(c.failed);
	assert_false(c.has_prev);
	assert_true(c.revision > 0);

	struct cap g = get1("/kv/one");
	assert_false(g.failed);
	assert_int_equal(g.n_kvs, 1);
	assert_string_equal(g.keys[0], "/kv/one");
	assert_int_equal(g.value_len[0], 5);
	assert_memory_equal(g.values[0], bin, 5);
	assert_int_equal(g.version[0], 1);
	assert_int_equal(g.mod[0], c.revision);

	struct cap c2 = {0};
	req.value = "two";
	req.value_len = 3;
	assert_int_equal(etcd_kv_put(T->client, &req, on_put, &c2), 0);
	wait_cap(&c2);
	assert_false(c2.failed);
	assert_true(c2.has_prev);
	assert_memory_equal(c2.prev_value, "a", 2);
	assert_int_equal(c2.revision, c.revision + 1);

	/* missing key: empty, no error */
	struct cap m = get1("/kv/missing");
	assert_false(m.failed);
	assert_int_equal(m.n_kvs, 0);
	assert_int_equal(m.count, 0);
}

static void test_put_ignore_value(void **state)
{
	(void)state;
	put_ok("/kv/iv", "keep", 0);
	struct cap c = {0};
	struct etcd_put_req req = {.key = "/kv/iv", .ignore_value = true};
	assert_int_equal(etcd_kv_put(T->client, &req, on_put, &c), 0);
	wait_cap(&c);
	assert_false(c.failed);
	struct cap g = get1("/kv/iv");
	assert_string_equal(g.values[0], "keep");
	assert_int_equal(g.version[0], 2);
}

static void test_range_options(void **state)
{
	(void)state;
	char key[32], val[32];

	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "/r/k%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		put_ok(key, val, 0);
	}
	put_ok("/r0", "outside", 0); /* "/r/" prefix must not match */

	struct etcd_range_req req = {.key = "/r/", .prefix = true};
	struct cap c = get(&req);
	assert_false(c.failed);
	assert_int_equal(c.n_kvs, 5);
	assert_int_equal(c.count, 5);
	assert_string_equal(c.keys[0], "/r/k0");
	assert_string_equal(c.values[4], "v4");
	int64_t rev_after_k4 = c.mod[4];

	req.limit = 2;
	c = get(&req);
	assert_int_equal(c.n_kvs, 2);
	assert_int_equal(c.count, 5);
	assert_true(c.more);

	req.limit = 0;
	req.count_only = true;
	c = get(&req);
	assert_int_equal(c.n_kvs, 0);
	assert_int_equal(c.count, 5);

	req.count_only = false;
	req.keys_only = true;
	c = get(&req);
	assert_int_equal(c.n_kvs, 5);
	assert_int_equal(c.value_len[0], 0);

	req.keys_only = false;
	req.sort_order = ETCD_SORT_DESCEND;
	req.sort_target = ETCD_SORT_KEY;
	c = get(&req);
	assert_string_equal(c.keys[0], "/r/k4");
	assert_string_equal(c.keys[4], "/r/k0");

	req.sort_order = ETCD_SORT_ASCEND;
	req.sort_target = ETCD_SORT_VALUE;
	c = get(&req);
	assert_string_equal(c.values[0], "v0");

	req.sort_order = ETCD_SORT_NONE;
	req.serializable = true;
	c = get(&req);
	assert_false(c.failed);
	assert_int_equal(c.n_kvs, 5);

	/* explicit range_end [k1, k3) */
	struct etcd_range_req rr = {.key = "/r/k1", .range_end = "/r/k3"};
	c = get(&rr);
	assert_int_equal(c.n_kvs, 2);
	assert_string_equal(c.keys[1], "/r/k2");

	/* historic revision */
	put_ok("/r/k4", "changed", 0);
	struct etcd_range_req hr = {.key = "/r/k4", .revision = rev_after_k4};
	c = get(&hr);
	assert_string_equal(c.values[0], "v4");
	c = get1("/r/k4");
	assert_string_equal(c.values[0], "changed");

	/* "" + prefix: all keys */
	struct etcd_range_req all = {.key = "", .prefix = true,
				     .count_only = true};
	c = get(&all);
	assert_true(c.count >= 6);
}

static void test_delete(void **state)
{
	(void)state;
	put_ok("/d/a", "1", 0);
	put_ok("/d/b", "2", 0);
	put_ok("/d/c", "3", 0);
	put_ok("/dx", "keep", 0);

	struct cap c = {0};
	struct etcd_delete_req one = {.key = "/d/a", .prev_kv = true};
	assert_int_equal(etcd_kv_delete(T->client, &one, on_delete, &c), 0);
	wait_cap(&c);
	assert_false(c.failed);
	assert_int_equal(c.deleted, 1);
	assert_int_equal(c.n_prev, 1);
	assert_string_equal(c.values[0], "1");

	struct cap p = {0};
	struct etcd_delete_req pre = {.key = "/d/", .prefix = true,
				      .prev_kv = true};
	assert_int_equal(etcd_kv_delete(T->client, &pre, on_delete, &p), 0);
	wait_cap(&p);
	assert_int_equal(p.deleted, 2);
	assert_int_equal(p.n_prev, 2);
	assert_string_equal(p.keys[0], "/d/b");

	assert_int_equal(get1("/dx").n_kvs, 1);
	struct etcd_range_req r = {.key = "/d/", .prefix = true};
	assert_int_equal(get(&r).n_kvs, 0);

	/* nothing to delete: success, 0 */
	struct cap z = {0};
	assert_int_equal(etcd_kv_delete(T->client, &one, on_delete, &z), 0);
	wait_cap(&z);
	assert_false(z.failed);
	assert_int_equal(z.deleted, 0);
}

static void test_invalid_args(void **state)
{
	(void)state;
	struct cap c = {0};
	struct etcd_range_req r = {.key = NULL};
	struct etcd_put_req p = {.key = ""};
	struct etcd_put_req p2 = {.key = "k", .value = NULL, .value_len = 3};
	struct etcd_range_req r2 = {.key = "k", .range_end = "z",
				    .prefix = true};

	assert_int_equal(etcd_kv_range(T->client, &r, on_range, &c),
			 ETCD_EINVAL);
	assert_int_equal(etcd_kv_range(T->client, &r2, on_range, &c),
			 ETCD_EINVAL);
	assert_int_equal(etcd_kv_put(T->client, &p, on_put, &c), ETCD_EINVAL);
	assert_int_equal(etcd_kv_put(T->client, &p2, on_put, &c), ETCD_EINVAL);
	assert_int_equal(etcd_kv_put(T->client, NULL, on_put, &c), ETCD_EINVAL);
	assert_int_equal(etcd_kv_range(T->client, NULL, on_range, &c),
			 ETCD_EINVAL);
	assert_int_equal(etcd_kv_compact(T->client, 0, false, on_done, &c),
			 ETCD_EINVAL);
	assert_int_equal(etcd_kv_txn(T->client, NULL, NULL, &c), ETCD_EINVAL);
	evtest_run_for(T->loop, 0.05);
	assert_int_equal(c.calls, 0);
}

/* Each compare target and result, evaluated by etcd: success runs a put
 * of /t/hit, failure nothing; the effect is checked with a range. */
static void test_txn_compares(void **state)
{
	(void)state;
	struct cap g;
	int64_t lease = etcdtest_lease_grant(T->client, 60);

	put_ok("/t/k", "v1", 0);
	put_ok("/t/k", "v2", lease); /* version 2 */
	g = get1("/t/k");
	int64_t create = g.create[0], mod = g.mod[0];
	assert_int_equal(g.lease[0], lease);

	struct {
		enum etcd_cmp_target target;
		enum etcd_cmp_result result;
		int64_t number;
		const char *value;
		bool expect;
	} cases[] = {
		{ETCD_CMP_VERSION, ETCD_CMP_EQUAL, 2, NULL, true},
		{ETCD_CMP_VERSION, ETCD_CMP_EQUAL, 1, NULL, false},
		{ETCD_CMP_VERSION, ETCD_CMP_NOT_EQUAL, 1, NULL, true},
		{ETCD_CMP_VERSION, ETCD_CMP_GREATER, 1, NULL, true},
		{ETCD_CMP_VERSION, ETCD_CMP_GREATER, 2, NULL, false},
		{ETCD_CMP_VERSION, ETCD_CMP_LESS, 3, NULL, true},
		{ETCD_CMP_VERSION, ETCD_CMP_LESS, 2, NULL, false},
		{ETCD_CMP_CREATE, ETCD_CMP_EQUAL, create, NULL, true},
		{ETCD_CMP_CREATE, ETCD_CMP_EQUAL, create + 1, NULL, false},
		{ETCD_CMP_CREATE, ETCD_CMP_LESS, mod, NULL, true},
		{ETCD_CMP_MOD, ETCD_CMP_EQUAL, mod, NULL, true},
		{ETCD_CMP_MOD, ETCD_CMP_EQUAL, create, NULL, false},
		{ETCD_CMP_MOD, ETCD_CMP_GREATER, create, NULL, true},
		{ETCD_CMP_MOD, ETCD_CMP_NOT_EQUAL, mod, NULL, false},
		{ETCD_CMP_VALUE, ETCD_CMP_EQUAL, 0, "v2", true},
		{ETCD_CMP_VALUE, ETCD_CMP_EQUAL, 0, "v1", false},
		{ETCD_CMP_VALUE, ETCD_CMP_NOT_EQUAL, 0, "v1", true},
		{ETCD_CMP_VALUE, ETCD_CMP_GREATER, 0, "v1", true},
		{ETCD_CMP_VALUE, ETCD_CMP_LESS, 0, "v1", false},
		{ETCD_CMP_LEASE, ETCD_CMP_EQUAL, lease, NULL, true},
		{ETCD_CMP_LEASE, ETCD_CMP_EQUAL, 0, NULL, false},
		{ETCD_CMP_LEASE, ETCD_CMP_NOT_EQUAL, 0, NULL, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct etcd_delete_req del = {.key = "/t/hit"};
		struct cap d = {0};
		assert_int_equal(etcd_kv_delete(T->client, &del, on_delete, &d),
				 0);
		wait_cap(&d);

		struct etcd_compare cmp = {
			.target = cases[i].target, .result = cases[i].result,
			.key = "/t/k", .number = cases[i].number,
			.value = cases[i].value,
			.value_len = cases[i].value ? strlen(cases[i].value)
						    : 0,
		};
		struct etcd_op ok = {.type = ETCD_OP_PUT,
				     .u.put = {.key = "/t/hit", .value = "y",
					       .value_len = 1}};
		struct etcd_txn_req txn = {.compare = &cmp, .n_compare = 1,
					   .success = &ok, .n_success = 1};
		struct cap t = {0};
		assert_int_equal(etcd_kv_txn(T->client, &txn, on_txn, &t), 0);
		wait_cap(&t);
		if (t.failed)
			fail_msg("case %zu: %s", i, t.err.message);
		if (t.succeeded != cases[i].expect)
			fail_msg("case %zu: succeeded=%d", i, t.succeeded);
		assert_int_equal(get1("/t/hit").n_kvs, cases[i].expect ? 1 : 0);
	}
	etcdtest_lease_revoke(T->client, lease);
}

/* The compare the controller's commit on an absent alloc makes
 * (controller/txn.c ctrl_txn_cmp_no_asg): create revision 0 over a
 * range holds on an empty range only, not once a key is under it. */
static void test_txn_compare_empty_range(void **state)
{
	(void)state;
	struct etcd_compare cmp = {.target = ETCD_CMP_CREATE,
				   .result = ETCD_CMP_EQUAL, .key = "/e/a/",
				   .range_end = "/e/a0", .number = 0};
	struct etcd_txn_req txn = {.compare = &cmp, .n_compare = 1};
	struct cap t = {0}, u = {0};

	put_ok("/e/a", "not under the prefix", 0);
	put_ok("/e/a0", "past its end", 0);
	assert_int_equal(etcd_kv_txn(T->client, &txn, on_txn, &t), 0);
	wait_cap(&t);
	assert_false(t.failed);
	assert_true(t.succeeded);
	put_ok("/e/a/x", "y", 0);
	assert_int_equal(etcd_kv_txn(T->client, &txn, on_txn, &u), 0);
	wait_cap(&u);
	assert_false(u.failed);
	assert_false(u.succeeded);
}

static void test_txn_ops_nested(void **state)
{
	(void)state;
	put_ok("/n/a", "A", 0);
	put_ok("/n/gone", "G", 0);

	/* nested: if /n/a == "A" then put /n/inner; else put /n/never */
	struct etcd_compare icmp = {.target = ETCD_CMP_VALUE,
				    .result = ETCD_CMP_EQUAL, .key = "/n/a",
				    .value = "A", .value_len = 1};
	struct etcd_op iok = {.type = ETCD_OP_PUT,
			      .u.put = {.key = "/n/inner", .value = "I",
					.value_len = 1}};
	struct etcd_op ino = {.type = ETCD_OP_PUT,
			      .u.put = {.key = "/n/never", .value = "N",
					.value_len = 1}};
	struct etcd_txn_req inner = {.compare = &icmp, .n_compare = 1,
				     .success = &iok, .n_success = 1,
				     .failure = &ino, .n_failure = 1};

	struct etcd_compare cmp = {.target = ETCD_CMP_VERSION,
				   .result = ETCD_CMP_GREATER, .key = "/n/a",
				   .number = 0};
	struct etcd_op ops[] = {
		{.type = ETCD_OP_PUT,
		 .u.put = {.key = "/n/b", .value = "B", .value_len = 1}},
		{.type = ETCD_OP_RANGE, .u.range = {.key = "/n/a"}},
		{.type = ETCD_OP_DELETE,
		 .u.del = {.key = "/n/gone", .prev_kv = true}},
		{.type = ETCD_OP_TXN, .u.txn = &inner},
	};
	struct etcd_txn_req txn = {.compare = &cmp, .n_compare = 1,
				   .success = ops, .n_success = 4};
	struct cap t = {0};
	assert_int_equal(etcd_kv_txn(T->client, &txn, on_txn, &t), 0);
	wait_cap(&t);
	assert_false(t.failed);
	assert_true(t.succeeded);
	assert_int_equal(t.n_responses, 4);
	assert_int_equal(t.types[0], ETCD_OP_PUT);
	assert_int_equal(t.types[1], ETCD_OP_RANGE);
	assert_int_equal(t.types[2], ETCD_OP_DELETE);
	assert_int_equal(t.types[3], ETCD_OP_TXN);
	assert_int_equal(t.n_kvs, 1);
	assert_string_equal(t.values[0], "A");
	assert_int_equal(t.deleted, 1);

	assert_string_equal(get1("/n/b").values[0], "B");
	assert_int_equal(get1("/n/gone").n_kvs, 0);
	assert_string_equal(get1("/n/inner").values[0], "I");
	assert_int_equal(get1("/n/never").n_kvs, 0);

	/* failure branch responses */
	struct etcd_compare no = {.target = ETCD_CMP_VERSION,
				  .result = ETCD_CMP_EQUAL, .key = "/n/a",
				  .number = 99};
	struct etcd_op fops[] = {
		{.type = ETCD_OP_RANGE,
		 .u.range = {.key = "/n/", .prefix = true}},
	};
	struct etcd_txn_req ftxn = {.compare = &no, .n_compare = 1,
				    .success = ops, .n_success = 1,
				    .failure = fops, .n_failure = 1};
	struct cap f = {0};
	assert_int_equal(etcd_kv_txn(T->client, &ftxn, on_txn, &f), 0);
	wait_cap(&f);
	assert_false(f.failed);
	assert_false(f.succeeded);
	assert_int_equal(f.n_responses, 1);
	assert_int_equal(f.types[0], ETCD_OP_RANGE);
	assert_int_equal(f.n_kvs, 3); /* a, b, inner */

	/* an empty txn succeeds */
	struct etcd_txn_req empty = {0};
	struct cap e = {0};
	assert_int_equal(etcd_kv_txn(T->client, &empty, on_txn, &e), 0);
	wait_cap(&e);
	assert_false(e.failed);
	assert_true(e.succeeded);
}

/* Nested txn results are decoded recursively: check them directly. */
struct nested_cap {
	bool done;
	bool inner_succeeded;
	size_t inner_n;
	enum etcd_op_type inner_type;
	int64_t inner_rev;
};

static void on_nested(void *arg, const struct etcd_error *err,
		      const struct etcd_txn_result *res)
{
	struct nested_cap *n = arg;

	n->done = true;
	assert_null(err);
	assert_int_equal(res->n_responses, 1);
	assert_int_equal(res->responses[0].type, ETCD_OP_TXN);
	const struct etcd_txn_result *in = res->responses[0].u.txn;
	n->inner_succeeded = in->succeeded;
	n->inner_n = in->n_responses;
	if (in->n_responses > 0) {
		n->inner_type = in->responses[0].type;
		n->inner_rev = in->responses[0].u.put.header.revision;
	}
}

static void test_txn_nested_result(void **state)
{
	(void)state;
	struct etcd_compare icmp = {.target = ETCD_CMP_VERSION,
				    .result = ETCD_CMP_EQUAL,
				    .key = "/nr/none", .number = 0};
	struct etcd_op iop = {.type = ETCD_OP_PUT,
			      .u.put = {.key = "/nr/x", .value = "1",
					.value_len = 1}};
	struct etcd_txn_req inner = {.compare = &icmp, .n_compare = 1,
				     .success = &iop, .n_success = 1};
	struct etcd_op op = {.type = ETCD_OP_TXN, .u.txn = &inner};
	struct etcd_txn_req txn = {.success = &op, .n_success = 1};
	struct nested_cap n = {0};

	assert_int_equal(etcd_kv_txn(T->client, &txn, on_nested, &n), 0);
	assert_true(evtest_run_until(T->loop, &n.done, WAIT_S));
	assert_true(n.inner_succeeded);
	assert_int_equal(n.inner_n, 1);
	assert_int_equal(n.inner_type, ETCD_OP_PUT);
	assert_true(n.inner_rev > 0);
}

static void test_txn_duplicate_key_error(void **state)
{
	(void)state;
	struct etcd_op ops[] = {
		{.type = ETCD_OP_PUT,
		 .u.put = {.key = "/dup", .value = "1", .value_len = 1}},
		{.type = ETCD_OP_PUT,
		 .u.put = {.key = "/dup", .value = "2", .value_len = 1}},
	};
	struct etcd_txn_req txn = {.success = ops, .n_success = 2};
	struct cap t = {0};

	assert_int_equal(etcd_kv_txn(T->client, &txn, on_txn, &t), 0);
	wait_cap(&t);
	assert_true(t.failed);
	assert_int_equal(t.err.code, ETCD_ESERVER);
	assert_int_equal(t.err.grpc_code, 3);
	assert_non_null(strstr(t.err.message, "duplicate key"));
}

/* Two CAS txns on the same mod revision, in flight together: exactly one
 * wins. */
static void test_txn_conflict(void **state)
{
	(void)state;
	put_ok("/cas", "0", 0);
	int64_t mod = get1("/cas").mod[0];

	struct etcd_compare cmp = {.target = ETCD_CMP_MOD,
				   .result = ETCD_CMP_EQUAL, .key = "/cas",
				   .number = mod};
	struct etcd_op op1 = {.type = ETCD_OP_PUT,
			      .u.put = {.key = "/cas", .value = "1",
					.value_len = 1}};
	struct etcd_op op2 = {.type = ETCD_OP_PUT,
			      .u.put = {.key = "/cas", .value = "2",
					.value_len = 1}};
	struct etcd_txn_req t1 = {.compare = &cmp, .n_compare = 1,
				  .success = &op1, .n_success = 1};
	struct etcd_txn_req t2 = {.compare = &cmp, .n_compare = 1,
				  .success = &op2, .n_success = 1};
	struct cap c1 = {0}, c2 = {0};

	assert_int_equal(etcd_kv_txn(T->client, &t1, on_txn, &c1), 0);
	assert_int_equal(etcd_kv_txn(T->client, &t2, on_txn, &c2), 0);
	wait_cap(&c1);
	wait_cap(&c2);
	assert_false(c1.failed);
	assert_false(c2.failed);
	assert_true(c1.succeeded != c2.succeeded);
	struct cap g = get1("/cas");
	assert_string_equal(g.values[0], c1.succeeded ? "1" : "2");
	assert_int_equal(g.version[0], 2);
}

static void test_compaction(void **state)
{
	(void)state;
	put_ok("/cmp", "old", 0);
	int64_t old = get1("/cmp").mod[0];
	put_ok("/cmp", "new", 0);
	int64_t now = get1("/cmp").mod[0];

	struct cap c = {0};
	assert_int_equal(etcd_kv_compact(T->client, now, true, on_done, &c), 0);
	wait_cap(&c);
	assert_false(c.failed);

	struct etcd_range_req r = {.key = "/cmp", .revision = old};
	struct cap g = get(&r);
	assert_true(g.failed);
	assert_int_equal(g.err.code, ETCD_ECOMPACTED);
	assert_int_equal(g.err.grpc_code, 11);

	/* compacting again at the same revision: an error too */
	struct cap c2 = {0};
	assert_int_equal(etcd_kv_compact(T->client, old, false, on_done, &c2),
			 0);
	wait_cap(&c2);
	assert_true(c2.failed);
	assert_int_equal(c2.err.code, ETCD_ECOMPACTED);

	/* the current revision still reads */
	struct etcd_range_req r2 = {.key = "/cmp", .revision = now};
	g = get(&r2);
	assert_false(g.failed);
	assert_string_equal(g.values[0], "new");
}

static void test_sync_layer(void **state)
{
	(void)state;
	struct etcd_error err;
	int64_t rev = 0, deleted = 0, lease = 0;
	bool ok = false;

	assert_int_equal(etcd_sync_put(T->client, "/s/a", "x\0y", 3, 0, &rev,
				       &err), 0);
	assert_true(rev > 0);
	assert_int_equal(
	    etcd_sync_put(T->client, "/s/b", "2", 1, 0, NULL, NULL), 0);
	struct etcd_range_req req = {.key = "/s/", .prefix = true};
	struct etcd_sync_range *r = NULL;
	assert_int_equal(etcd_sync_get(T->client, &req, &r, &err), 0);
	assert_non_null(r);
	assert_int_equal(r->n_kvs, 2);
	assert_string_equal(r->kvs[0].key, "/s/a");
	assert_int_equal(r->kvs[0].value_len, 3);
	assert_memory_equal(r->kvs[0].value, "x\0y", 4);
	assert_int_equal(r->kvs[0].mod_revision, rev);
	assert_int_equal(r->count, 2);
	r = etcd_sync_range_free(r);

	struct etcd_compare cmp = {.target = ETCD_CMP_MOD,
				   .result = ETCD_CMP_EQUAL, .key = "/s/a",
				   .number = rev};
	struct etcd_txn_req txn = {.compare = &cmp, .n_compare = 1};
	int64_t trev = 0;
	assert_int_equal(etcd_sync_txn(T->client, &txn, &ok, &trev, &err), 0);
	assert_true(ok);
	assert_true(trev >= rev);
	cmp.number = rev - 1;
	assert_int_equal(etcd_sync_txn(T->client, &txn, &ok, NULL, &err), 0);
	assert_false(ok);

	assert_int_equal(etcd_sync_lease_grant(T->client, 30, &lease, &err), 0);
	assert_true(lease != 0);
	assert_int_equal(etcd_sync_put(T->client, "/s/l", "", 0, lease, NULL,
				       &err), 0);
	struct etcd_range_req lr = {.key = "/s/l"};
	assert_int_equal(etcd_sync_get(T->client, &lr, &r, &err), 0);
	assert_int_equal(r->kvs[0].lease, lease);
	r = etcd_sync_range_free(r);
	assert_int_equal(etcd_sync_lease_revoke(T->client, lease, &err), 0);
	assert_int_equal(etcd_sync_lease_revoke(T->client, lease, &err),
			 ETCD_ENOTFOUND);
	assert_int_equal(err.code, ETCD_ENOTFOUND);
	assert_int_equal(etcd_sync_put(T->client, "/s/l2", "", 0, lease, NULL,
				       &err), ETCD_ENOTFOUND);

	assert_int_equal(etcd_sync_delete(T->client, "/s/", true, &deleted,
					  &err), 0);
	assert_int_equal(deleted, 2);
	assert_int_equal(etcd_sync_get(T->client, NULL, &r, &err), ETCD_EINVAL);
	assert_int_equal(err.code, ETCD_EINVAL);
}

/* ---- list: page by page at one revision ------------------------------- */

struct listcap {
	bool done, failed;
	int pages;
	int keys;
	char prev[64];
	bool ordered;
	int64_t rev;
	bool same_rev;
	struct etcd_error err;
};

static void on_list_page(void *arg, const struct etcd_error *err,
			 const struct etcd_range_result *page, bool last)
{
	struct listcap *l = arg;

	if (err != NULL) {
		l->failed = true;
		l->err = *err;
		l->done = true;
		return;
	}
	l->pages++;
	if (l->rev == 0)
		l->rev = page->header.revision;
	l->same_rev = l->same_rev && page->header.revision == l->rev;
	for (size_t i = 0; i < page->n_kvs; i++) {
		l->ordered = l->ordered && strcmp(l->prev, page->kvs[i].key) < 0;
		snprintf(l->prev, sizeof(l->prev), "%s", page->kvs[i].key);
		l->keys++;
	}
	if (last)
		l->done = true;
	else if (l->pages == 1) /* written after the list's revision */
		etcdtest_put(T->client, "/list/k-050x", "late", 0);
}

static void test_list_pages(void **state)
{
	char key[32];
	struct listcap l = {.ordered = true, .same_rev = true};
	struct etcd_range_req rq = {.key = "/list/", .prefix = true};

	(void)state;
	for (int i = 0; i < 250; i++) {
		snprintf(key, sizeof(key), "/list/k-%03d", i);
		etcdtest_put(T->client, key, "v", 0);
	}
	etcdtest_put(T->client, "/lisu", "outside the prefix", 0);
	int64_t before = etcdtest_put(T->client, "/list-", "outside too", 0);

	assert_int_equal(etcd_kv_list(T->client, &rq, 100, on_list_page, &l),
			 0);
	assert_true(evtest_run_until(T->loop, &l.done, WAIT_S));
	assert_false(l.failed);
	assert_int_equal(l.pages, 3); /* 100 + 100 + 50 */
	assert_int_equal(l.keys, 250); /* each once; not the late one */
	assert_true(l.ordered);
	assert_true(l.same_rev);
	assert_int_equal(l.rev, before);

	/* Exactly a page: the last page is empty. */
	struct listcap l2 = {.ordered = true, .same_rev = true};
	assert_int_equal(etcd_kv_list(T->client, &rq, 251, on_list_page, &l2),
			 0);
	assert_true(evtest_run_until(T->loop, &l2.done, WAIT_S));
	assert_int_equal(l2.keys, 251); /* with the late one now */
	assert_int_equal(l2.pages, 1);

	/* A compacted revision ends the list with ETCD_ECOMPACTED. */
	struct listcap l3 = {.ordered = true, .same_rev = true};
	int64_t now = etcdtest_put(T->client, "/list/zz", "v", 0);
	etcdtest_compact(T->client, now);
	rq.revision = before;
	assert_int_equal(etcd_kv_list(T->client, &rq, 100, on_list_page, &l3),
			 0);
	assert_true(evtest_run_until(T->loop, &l3.done, WAIT_S));
	assert_true(l3.failed);
	assert_int_equal(l3.err.code, ETCD_ECOMPACTED);

	/* Bad arguments are refused at once. */
	rq.revision = 0;
	assert_int_equal(etcd_kv_list(T->client, &rq, 0, on_list_page, &l3),
			 ETCD_EINVAL);
	rq.limit = 5;
	assert_int_equal(etcd_kv_list(T->client, &rq, 10, on_list_page, &l3),
			 ETCD_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_prev_kv),
		cmocka_unit_test(test_put_ignore_value),
		cmocka_unit_test(test_range_options),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_invalid_args),
		cmocka_unit_test(test_txn_compares),
		cmocka_unit_test(test_txn_compare_empty_range),
		cmocka_unit_test(test_txn_ops_nested),
		cmocka_unit_test(test_txn_nested_result),
		cmocka_unit_test(test_txn_duplicate_key_error),
		cmocka_unit_test(test_txn_conflict),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_sync_layer),
		cmocka_unit_test(test_list_pages),
	};

	return cmocka_run_group_tests(tests, group_setup,
				      etcdtest_group_teardown);
}
