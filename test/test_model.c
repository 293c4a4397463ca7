/* common/model: names, hashes, JSON parse/format of host, alloc, round,
 * bid; malformed documents rejected with the field named. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/model.h"

static void test_name_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{"a", true},
		{"web-1", true},
		{"node.3_x", true},
		{"0", true},
		{"", false},
		{"-a", false},
		{"a-", false},
		{"A", false},
		{"a/b", false},
		{"a b", false},
		{"a.", false},
		{"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghija"
		 "bc",
		 true}, /* 63 */
		{"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghija"
		 "bcd",
		 false}, /* 64 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (fs_name_valid(cases[i].s) != cases[i].ok)
			fail_msg("fs_name_valid(\"%s\") != %d", cases[i].s,
				 cases[i].ok);
	}
	assert_false(fs_name_valid(NULL));
}

static void test_quote(void **state)
{
	static const struct {
		const char *s;
		size_t max, n;
		const char *want;
	} cases[] = {
		{"web", 48, 64, "\"web\""},
		{"", 48, 64, "\"\""},
		{NULL, 48, 64, "\"\""},
		{"a\"b\\c", 48, 64, "\"a\\\"b\\\\c\""},
		{"a\nb\x01\x7f", 48, 64, "\"a\\x0ab\\x01\\x7f\""},
		{"\xc3\xa9", 48, 64, "\"\\xc3\\xa9\""}, /* ASCII out */
		{"abcdef", 3, 64, "\"abc...\""},
		{"abcdef", 48, 12, "\"abc...\""}, /* bounded by the buffer */
		{"\n\n\n", 48, 12, "\"\\x0a...\""},
		{"abc", 48, 4, ""}, /* too small for anything */
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'Z', sizeof(buf));
		fs_quote(buf, cases[i].n, cases[i].s, cases[i].max);
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("case %zu: got %s want %s", i, buf,
				 cases[i].want);
		assert_true(strlen(buf) < cases[i].n);
	}
}

/* issue 13 item 23: a log line is one line whatever a caller passes
 * (ids from keys, reasons, flintlockd's and etcd's errors). */
static void test_log_one_line(void **state)
{
	static const struct {
		const char *arg, *want;
	} cases[] = {
	    {"web-1", "placed web-1 on h1"},
	    {"x\n2026-12-01T00:00:00.000Z error  forged",
	     "placed x\\x0a2026-12-01T00:00:00.000Z error  forged on h1"},
	    {"\x1b[2Jred\r", "placed \\x1b[2Jred\\x0d on h1"},
	    {"caf\xc3\xa9\xff", "placed caf\\xc3\\xa9\\xff on h1"},
	    {"tab\there\x7f", "placed tab\\x09here\\x7f on h1"},
	};
	char path[] = "/tmp/test_model_log.XXXXXX", line[4096];
	int fd = mkstemp(path), saved = dup(2);
	FILE *f;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	fs_log_set_ident(NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(ftruncate(fd, 0), 0);
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		fflush(stderr);
		dup2(fd, 2);
		fs_info("placed %s on %s", cases[i].arg, "h1");
		fflush(stderr);
		dup2(saved, 2);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_non_null(fgets(line, sizeof(line), f));
		assert_null(fgets(line + 2048, 16, f)); /* one line */
		fclose(f);
		if (!strstr(line, cases[i].want))
			fail_msg("case %zu: got %s, want %s", i, line,
				 cases[i].want);
	}
	close(fd);
	close(saved);
	unlink(path);
}

static void test_key(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(fs_key(buf, sizeof(buf), "zone"), "zone");
	assert_string_equal(fs_key(buf, sizeof(buf), "meta-data_2"),
			    "meta-data_2");
	assert_string_equal(fs_key(buf, sizeof(buf), "a b"), "\"a b\"");
	assert_string_equal(fs_key(buf, sizeof(buf), "a.b"), "\"a.b\"");
	assert_string_equal(fs_key(buf, sizeof(buf), ""), "\"\"");
	assert_string_equal(fs_key(buf, sizeof(buf), "x\n"), "\"x\\x0a\"");
	assert_string_equal(fs_key(buf, 4, "zone"), ""); /* no room */
}

static void test_hash(void **state)
{
	(void)state;
	/* Reference FNV-1a 32 values. */
	assert_int_equal(fs_fnv1a("", 0), 2166136261u);
	assert_int_equal(fs_fnv1a("a", 1), 0xe40c292cu);
	assert_int_equal(fs_fnv1a("foobar", 6), 0xbf9cf968u);
	assert_int_equal(fs_slot_of("foobar", 7), 0xbf9cf968u % 7);
	assert_int_equal(fs_slot_of("x", 0), 0);
	assert_int_equal(fs_tiebreak("r", "h"), fs_tiebreak("r", "h"));
	assert_int_not_equal(fs_tiebreak("ab", "c"), fs_tiebreak("a", "bc"));
	assert_int_not_equal(fs_tiebreak("web-1", "node-1"),
			     fs_tiebreak("web-1", "node-2"));
}

static void test_time(void **state)
{
	char buf[32];

	(void)state;
	fs_time_now(buf, sizeof(buf));
	assert_int_equal(strlen(buf), 24);
	assert_int_equal(buf[4], '-');
	assert_int_equal(buf[10], 'T');
	assert_int_equal(buf[19], '.');
	assert_int_equal(buf[23], 'Z');
	assert_true(fs_now_ms() > INT64_C(1600000000000));
}

static const char host_json[] =
	"{\"host\":\"node-3\",\"endpoint\":\"http://10.0.0.3:8090\","
	"\"labels\":{\"zone\":\"a\",\"rack\":\"r1\"},"
	"\"capacity\":{\"vcpu\":16,\"memory_mb\":65536,\"max_vms\":32},"
	"\"allocatable\":{\"vcpu\":28,\"memory_mb\":61440,\"max_vms\":32},"
	"\"util\":{\"cpu\":0.25,\"memory\":0.5},\"vms\":3,"
	"\"agent_version\":\"0.1.0\",\"updated\":\"2026-11-23T17:40:00.123Z\","
	"\"lease_ttl_s\":30,\"future_field\":[1,2]}";

static void check_host(const struct fs_host *h)
{
	assert_string_equal(h->host, "node-3");
	assert_string_equal(h->endpoint, "http://10.0.0.3:8090");
	assert_int_equal(h->labels.n, 2);
	assert_string_equal(h->labels.v[0].key, "zone");
	assert_string_equal(h->labels.v[0].value, "a");
	assert_int_equal(h->capacity.vcpu, 16);
	assert_int_equal(h->capacity.memory_mb, 65536);
	assert_int_equal(h->capacity.vms, 32);
	assert_int_equal(h->allocatable.vcpu, 28);
	assert_int_equal(h->allocatable.memory_mb, 61440);
	assert_true(h->util_cpu == 0.25);
	assert_true(h->util_mem == 0.5);
	assert_int_equal(h->vms, 3);
	assert_string_equal(h->agent_version, "0.1.0");
	assert_int_equal(h->lease_ttl_s, 30);
	assert_string_equal(h->updated, "2026-11-23T17:40:00.123Z");
}

static void test_host_roundtrip(void **state)
{
	struct fs_host h = {0}, h2 = {0};
	char err[256], *s;

	(void)state;
	assert_int_equal(fs_host_parse(host_json, strlen(host_json), &h, err,
				       sizeof(err)),
			 0);
	check_host(&h);
	s = fs_host_format(&h);
	assert_non_null(s);
	assert_int_equal(fs_host_parse(s, strlen(s), &h2, err, sizeof(err)),
			 0);
	check_host(&h2);
	free(s);
	fs_host_clear(&h);
	fs_host_clear(&h2);
	fs_host_clear(&h2); /* cleared twice is fine */
}

struct bad_case {
	const char *json;
	const char *field; /* substring expected in the error */
};

static void test_host_malformed(void **state)
{
	static const struct bad_case cases[] = {
		{"", "invalid JSON"},
		{"[]", "document"},
		{"{\"host\":\"a\"", "invalid JSON"},
		{"{}", "host: missing"},
		{"{\"host\":5}", "host: must be a string"},
		{"{\"host\":\"Bad!\"}", "host: invalid"},
		{"{\"host\":\"a\"}", "capacity: missing"},
		{"{\"host\":\"a\",\"capacity\":[]}", "capacity: must be an object"},
		{"{\"host\":\"a\",\"capacity\":{\"vcpu\":\"4\"}}",
		 "capacity.vcpu: must be an integer"},
		{"{\"host\":\"a\",\"capacity\":{\"vcpu\":4.5}}",
		 "capacity.vcpu: must be an integer"},
		{"{\"host\":\"a\",\"capacity\":{\"vcpu\":-1}}", "capacity.vcpu: must be >= 0"},
		{"{\"host\":\"a\",\"capacity\":{\"vcpu\":4,\"memory_mb\":1}}",
		 "capacity.max_vms: missing"},
		{"{\"host\":\"a\",\"capacity\":{\"vcpu\":4,\"memory_mb\":1,"
		 "\"max_vms\":1},\"allocatable\":{\"vcpu\":4,\"memory_mb\":1,"
		 "\"max_vms\":1},\"util\":{\"cpu\":1.5}}",
		 "util.cpu: must be 0..1"},
		{"{\"host\":\"a\",\"labels\":{\"z\":1},\"capacity\":{\"vcpu\":4,"
		 "\"memory_mb\":1,\"max_vms\":1}}",
		 "labels.z: must be a string"},
		{"{\"host\":\"a\",\"host\":\"b\"}", "duplicate"},
		{"{\"host\":\"a\",\"capacity\":{\"vcpu\":4,\"memory_mb\":1,"
		 "\"max_vms\":1},\"allocatable\":{\"vcpu\":4,\"memory_mb\":1,"
		 "\"max_vms\":1},\"lease_ttl_s\":-5}",
		 "lease_ttl_s: must be >= 0"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fs_host h = {0};
		char err[256] = "";
		int r = fs_host_parse(cases[i].json, strlen(cases[i].json), &h,
				      err, sizeof(err));
		if (r != -EINVAL || !strstr(err, cases[i].field))
			fail_msg("case %zu %s: r=%d err=\"%s\", want \"%s\"",
				 i, cases[i].json, r, err, cases[i].field);
		fs_host_clear(&h);
	}
}

static void test_alloc(void **state)
{
	static const char js[] =
		"{\"vcpu\":3,\"memory_mb\":3072,\"vms\":3,\"groups\":{\"web\":2}}";
	struct fs_alloc a = {0}, b = {0};
	struct fs_res need = {2, 1024, 1};
	char err[256], *s;

	(void)state;
	assert_int_equal(fs_alloc_parse(js, strlen(js), &a, err, sizeof(err)),
			 0);
	assert_int_equal(a.used.vcpu, 3);
	assert_int_equal(a.used.memory_mb, 3072);
	assert_int_equal(a.used.vms, 3);
	assert_int_equal(fs_alloc_group_vms(&a, "web"), 2);
	assert_int_equal(fs_alloc_group_vms(&a, "db"), 0);
	assert_int_equal(fs_alloc_group_vms(&a, NULL), 0);

	assert_int_equal(fs_alloc_add(&a, &need, "db", 1), 0);
	assert_int_equal(fs_alloc_add(&a, &need, "web", -1), 0);
	assert_int_equal(a.used.vcpu, 3);
	assert_int_equal(a.used.vms, 3);
	assert_int_equal(fs_alloc_group_vms(&a, "db"), 1);
	assert_int_equal(fs_alloc_group_vms(&a, "web"), 1);
	assert_int_equal(fs_alloc_add(&a, &need, "web", -1), 0);
	assert_int_equal(fs_alloc_group_vms(&a, "web"), 0);
	assert_int_equal(a.n_groups, 1);

	s = fs_alloc_format(&a);
	assert_non_null(s);
	assert_int_equal(fs_alloc_parse(s, strlen(s), &b, err, sizeof(err)),
			 0);
	assert_int_equal(b.used.vcpu, 1);
	assert_int_equal(b.used.memory_mb, 2048);
	assert_int_equal(b.used.vms, 2);
	assert_int_equal(fs_alloc_group_vms(&b, "db"), 1);
	free(s);

	/* Never negative. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(fs_alloc_add(&b, &need, NULL, -1), 0);
	assert_int_equal(b.used.vcpu, 0);
	assert_int_equal(b.used.vms, 0);
	fs_alloc_clear(&a);
	fs_alloc_clear(&b);

	/* Empty object = nothing allocated. */
	assert_int_equal(fs_alloc_parse("{}", 2, &a, err, sizeof(err)), 0);
	assert_int_equal(a.used.vms, 0);
	fs_alloc_clear(&a);

	assert_int_equal(fs_alloc_parse("{\"vcpu\":true}", 13, &a, err,
					sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "vcpu: must be an integer"));
	assert_int_equal(fs_alloc_parse("{\"groups\":{\"w\":-1}}", 19, &a,
					err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "groups.w"));
}

static void test_round(void **state)
{
	static const char js[] =
		"{\"attempt\":2,\"hosts\":[\"a\",\"b\"],\"deadline_ms\":1700000000000,"
		"\"need\":{\"vcpu\":2,\"memory_mb\":2048},\"selector\":{\"zone\":\"a\"},"
		"\"spread\":\"web\",\"coordinator\":\"ctrl-a/slot-1\","
		"\"strategy\":\"binpack\",\"weights\":{\"cpu\":2,\"memory\":1,\"vms\":0.5},"
		"\"constraints\":[{\"key\":\"gpu\",\"op\":\"Exists\"},"
		"{\"key\":\"zone\",\"op\":\"NotIn\",\"values\":[\"b\",\"c\"]}]}";
	struct fs_round r = {0}, r2 = {0};
	char err[256], *s;

	(void)state;
	assert_int_equal(fs_round_parse(js, strlen(js), &r, err, sizeof(err)),
			 0);
	assert_int_equal(r.attempt, 2);
	assert_int_equal(r.n_hosts, 2);
	assert_true(fs_round_invites(&r, "a"));
	assert_true(fs_round_invites(&r, "b"));
	assert_false(fs_round_invites(&r, "c"));
	assert_int_equal(r.deadline_ms, INT64_C(1700000000000));
	assert_int_equal(r.need.res.vcpu, 2);
	assert_int_equal(r.need.res.memory_mb, 2048);
	assert_int_equal(r.need.res.vms, 1);
	assert_int_equal(r.need.selector.n, 1);
	assert_string_equal(r.need.spread, "web");
	assert_string_equal(r.coordinator, "ctrl-a/slot-1");

	s = fs_round_format(&r);
	assert_non_null(s);
	assert_int_equal(fs_round_parse(s, strlen(s), &r2, err, sizeof(err)),
			 0);
	assert_int_equal(r2.attempt, 2);
	assert_int_equal(r2.n_hosts, 2);
	assert_string_equal(r2.hosts[1], "b");
	assert_string_equal(r2.need.selector.v[0].value, "a");
	assert_string_equal(r2.need.spread, "web");
	assert_int_equal(r2.deadline_ms, r.deadline_ms);
	assert_int_equal(r2.strategy, FS_BINPACK);
	assert_true(r2.weights.cpu == 2 && r2.weights.memory == 1 &&
		    r2.weights.vms == 0.5);
	/* the constraints, for the agents' bids (fs_score) */
	assert_int_equal(r2.need.constraints.n, 2);
	assert_string_equal(r2.need.constraints.v[0].key, "gpu");
	assert_int_equal(r2.need.constraints.v[0].op, FS_OP_EXISTS);
	assert_int_equal(r2.need.constraints.v[1].op, FS_OP_NOTIN);
	assert_int_equal(r2.need.constraints.v[1].n_values, 2);
	assert_string_equal(r2.need.constraints.v[1].values[1], "c");
	{
		struct fs_host h = {.allocatable = {8, 8000, 8}};
		struct fs_label l[] = {{"zone", "b"}, {"gpu", "1"}};
		struct fs_need n = r2.need;
		struct fs_bid b;

		n.selector.n = 0; /* the constraints alone */
		h.labels = (struct fs_labels){l, 2};
		fs_score(&h, NULL, &n, NULL, FS_SPREAD, &b);
		assert_false(b.fits);
		assert_string_equal(b.reason, "constraint zone NotIn b,c");
		l[0].value = "a";
		fs_score(&h, NULL, &n, NULL, FS_SPREAD, &b);
		assert_true(b.fits);
		h.labels.n = 1;
		fs_score(&h, NULL, &n, NULL, FS_SPREAD, &b);
		assert_string_equal(b.reason, "constraint gpu Exists");
	}
	free(s);
	fs_round_clear(&r);
	fs_round_clear(&r2);

	/* Broadcast vs. nobody. */
	assert_int_equal(fs_round_parse("{\"attempt\":1,\"need\":{\"vcpu\":1,"
					"\"memory_mb\":1}}",
					45, &r, err, sizeof(err)),
			 0);
	assert_null(r.hosts);
	assert_int_equal(r.strategy, FS_SPREAD);
	assert_true(r.weights.cpu == 0 && r.weights.vms == 0);
	assert_true(fs_round_invites(&r, "anyone"));
	s = fs_round_format(&r);
	assert_null(strstr(s, "hosts"));
	free(s);
	fs_round_clear(&r);
	s = "{\"attempt\":1,\"hosts\":[],\"need\":{\"vcpu\":1,\"memory_mb\":1}}";
	assert_int_equal(fs_round_parse(s, strlen(s), &r, err, sizeof(err)),
			 0);
	assert_false(fs_round_invites(&r, "anyone"));
	fs_round_clear(&r);
}

static void test_round_malformed(void **state)
{
	static const struct bad_case cases[] = {
		{"{}", "attempt: missing"},
		{"{\"attempt\":0}", "attempt: must be >= 1"},
		{"{\"attempt\":1}", "need: missing"},
		{"{\"attempt\":1,\"need\":{\"vcpu\":0,\"memory_mb\":1}}",
		 "need.vcpu: must be >= 1"},
		{"{\"attempt\":1,\"need\":{\"vcpu\":1}}", "need.memory_mb: missing"},
		{"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":1},"
		 "\"hosts\":\"a\"}",
		 "hosts: must be an array"},
		{"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":1},"
		 "\"hosts\":[\"a\",3]}",
		 "hosts[1]"},
		{"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":1},"
		 "\"selector\":{\"a\":null}}",
		 "selector.a: must be a string"},
		{"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":1},"
		 "\"spread\":7}",
		 "spread: must be a string"},
		{"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":1},"
		 "\"deadline_ms\":\"x\"}",
		 "deadline_ms: must be an integer"},
		{"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":1},"
		 "\"strategy\":\"pack\"}",
		 "strategy: must be spread or binpack"},
		{"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":1},"
		 "\"weights\":{\"cpu\":-1}}",
		 "weights.cpu: must be 0..1000"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fs_round r = {0};
		char err[256] = "";
		int rc = fs_round_parse(cases[i].json, strlen(cases[i].json),
					&r, err, sizeof(err));
		if (rc != -EINVAL || !strstr(err, cases[i].field))
			fail_msg("case %zu %s: r=%d err=\"%s\", want \"%s\"",
				 i, cases[i].json, rc, err, cases[i].field);
		fs_round_clear(&r);
	}
}

static void test_bid(void **state)
{
	struct fs_bid b = {.attempt = 3, .fits = true, .score = 0.41,
			   .free = {4, 8192, 10}};
	struct fs_bid b2;
	char err[256], *s;

	(void)state;
	s = fs_bid_format(&b);
	assert_non_null(s);
	assert_int_equal(fs_bid_parse(s, strlen(s), &b2, err, sizeof(err)), 0);
	assert_int_equal(b2.attempt, 3);
	assert_true(b2.fits);
	assert_true(b2.score > 0.40999999 && b2.score < 0.41000001);
	assert_int_equal(b2.free.vcpu, 4);
	assert_int_equal(b2.free.memory_mb, 8192);
	assert_int_equal(b2.free.vms, 10);
	assert_string_equal(b2.reason, "");
	free(s);

	b.fits = false;
	snprintf(b.reason, sizeof(b.reason), "insufficient memory");
	s = fs_bid_format(&b);
	assert_int_equal(fs_bid_parse(s, strlen(s), &b2, err, sizeof(err)), 0);
	assert_false(b2.fits);
	assert_string_equal(b2.reason, "insufficient memory");
	free(s);

	s = "{\"attempt\":1,\"fits\":\"yes\",\"score\":1}";
	assert_int_equal(fs_bid_parse(s, strlen(s), &b2, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "fits"));
	s = "{\"attempt\":1,\"fits\":true}";
	assert_int_equal(fs_bid_parse(s, strlen(s), &b2, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "score: missing"));
	s = "{\"attempt\":1,\"fits\":true,\"score\":1,\"free\":{\"vcpu\":1}}";
	assert_int_equal(fs_bid_parse(s, strlen(s), &b2, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "free.memory_mb"));
}

static void test_labels_match(void **state)
{
	struct fs_label lv[] = {{"zone", "a"}, {"rack", "r1"}};
	struct fs_label sv[] = {{"zone", "a"}, {"rack", "r2"}};
	struct fs_labels l = {lv, 2}, s = {sv, 1};
	char miss[64] = "";

	(void)state;
	assert_true(fs_labels_match(&l, &s, miss, sizeof(miss)));
	s.n = 2;
	assert_false(fs_labels_match(&l, &s, miss, sizeof(miss)));
	assert_string_equal(miss, "selector rack=r2");
	s.n = 0;
	assert_true(fs_labels_match(&l, &s, NULL, 0));
	l.n = 0;
	s.n = 1;
	assert_false(fs_labels_match(&l, &s, NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_log_one_line),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_host_roundtrip),
		cmocka_unit_test(test_host_malformed),
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_round),
		cmocka_unit_test(test_round_malformed),
		cmocka_unit_test(test_bid),
		cmocka_unit_test(test_labels_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
