/* etcdclient watches: the stream decoder (table-driven, no network) and
 * watches against a real etcd started by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ev.h>

#include "etcdclient/watch_election.h"
#include "test/lib/etcdtest.h"
#include "test/lib/evtest.h"

#define TIMEOUT 10.0

/* ---- decoder table ---------------------------------------------------- */

struct dcase {
	const char *json;
	int ret; /* 0 or ETCD_E* */
	enum etcd_watch_kind kind;
	size_t n_events;
	int64_t rev; /* header.revision */
	int64_t compact;
};

static const struct dcase dcases[] = {
    /* valid */
    {"{\"result\":{\"header\":{\"revision\":\"4\"},\"created\":true}}", 0,
     ETCD_WATCH_CREATED, 0, 4, 0},
    {"{\"result\":{\"header\":{\"revision\":\"9\"},\"events\":["
     "{\"kv\":{\"key\":\"YQ==\",\"value\":\"MQ==\",\"mod_revision\":\"8\","
     "\"create_revision\":\"8\",\"version\":\"1\"}},"
     "{\"type\":\"DELETE\",\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"9\"},"
     "\"prev_kv\":{\"key\":\"YQ==\",\"value\":\"MQ==\",\"mod_revision\":\"8\"}}"
     "]}}",
     0, ETCD_WATCH_EVENTS, 2, 9, 0},
    {"{\"result\":{\"header\":{\"revision\":\"12\"}}}", 0, ETCD_WATCH_PROGRESS,
     0, 12, 0},
    {"{\"result\":{\"header\":{\"revision\":\"12\"},\"events\":[]}}", 0,
     ETCD_WATCH_PROGRESS, 0, 12, 0},
    {"{\"result\":{\"header\":{\"raft_term\":\"2\"},\"canceled\":true,"
     "\"compact_revision\":\"5\"}}",
     0, ETCD_WATCH_COMPACTED, 0, 0, 5},
    {"{\"result\":{\"canceled\":true,\"cancel_reason\":\"x\"}}", 0,
     ETCD_WATCH_FAILED, 0, 0, 0},
    {"{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"down\"}}", 0,
     ETCD_WATCH_FAILED, 0, 0, 0},
    {"{\"error\":\"bad\",\"message\":\"bad\",\"code\":3}", 0, ETCD_WATCH_FAILED,
     0, 0, 0},
    {"{\"result\":{\"events\":[{\"type\":1,\"kv\":{\"key\":\"YQ==\"}}]}}", 0,
     ETCD_WATCH_EVENTS, 1, 0, 0},
    {"{\"result\":{\"header\":{\"revision\":7}, \"unknown\":[1,2]}}", 0,
     ETCD_WATCH_PROGRESS, 0, 7, 0},
    /* malformed */
    {"[]", ETCD_EPROTO, 0, 0, 0, 0},
    {"{}", ETCD_EPROTO, 0, 0, 0, 0},
    {"{\"result\":3}", ETCD_EPROTO, 0, 0, 0, 0},
    {"{\"result\":{\"header\":\"x\"}}", ETCD_EPROTO, 0, 0, 0, 0},
    {"{\"result\":{\"header\":{\"revision\":\"x1\"}}}", ETCD_EPROTO, 0, 0, 0,
     0},
    {"{\"result\":{\"created\":\"yes\"}}", ETCD_EPROTO, 0, 0, 0, 0},
    {"{\"result\":{\"events\":{}}}", ETCD_EPROTO, 0, 0, 0, 0},
    {"{\"result\":{\"events\":[3]}}", ETCD_EPROTO, 0, 0, 0, 0},
    {"{\"result\":{\"events\":[{}]}}", ETCD_EPROTO, 0, 0, 0, 0},
    {"{\"result\":{\"events\":[{\"type\":\"MOVE\",\"kv\":{}}]}}", ETCD_EPROTO,
     0, 0, 0, 0},
    {"{\"result\":{\"events\":[{\"type\":7,\"kv\":{}}]}}", ETCD_EPROTO, 0, 0, 0,
     0},
    {"{\"result\":{\"events\":[{\"kv\":{\"key\":\"!!!\"}}]}}", ETCD_EPROTO, 0,
     0, 0, 0},
    {"{\"result\":{\"events\":[{\"kv\":{\"key\":5}}]}}", ETCD_EPROTO, 0, 0, 0,
     0},
    {"{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\"},\"prev_kv\":1}]}}",
     ETCD_EPROTO, 0, 0, 0, 0},
    {"{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\","
     "\"mod_revision\":{}}}]}}",
     ETCD_EPROTO, 0, 0, 0, 0},
    {"{\"result\":{\"canceled\":true,\"compact_revision\":\"z\"}}", ETCD_EPROTO,
     0, 0, 0, 0},
};

static void test_decode_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		const struct dcase *t = &dcases[i];
		struct etcd_arena a = {0};
		struct etcd_watch_update u;
		struct etcd_error err;
		json_error_t jerr;
		json_t *j = json_loads(t->json, 0, &jerr);

		assert_non_null(j);
		int r = etcd_watch_decode(j, &a, &u, &err);
		if (r != t->ret)
			fail_msg("case %zu: %s: got %d want %d", i, t->json, r,
				 t->ret);
		if (r == 0) {
			assert_int_equal(u.kind, t->kind);
			assert_int_equal(u.n_events, t->n_events);
			assert_int_equal(u.header.revision, t->rev);
			if (t->kind == ETCD_WATCH_COMPACTED) {
				assert_int_equal(err.code, ETCD_ECOMPACTED);
				assert_int_equal(err.compact_revision,
						 t->compact);
			}
			if (t->kind == ETCD_WATCH_FAILED)
				assert_non_null(u.err);
		} else {
			assert_int_equal(err.code, r);
			assert_true(err.message[0] != '\0');
		}
		json_decref(j);
		etcd_arena_clear(&a);
	}
}

static void check_watch_mutation(const json_t *j, void *arg)
{
	struct etcd_arena a = {0};
	struct etcd_watch_update u;
	struct etcd_error err;

	(void)arg;
	int r = etcd_watch_decode(j, &a, &u, &err);
	assert_true(r == 0 || r == ETCD_EPROTO);
	if (r == 0 && u.n_events > 0)
		assert_non_null(u.events[0].kv.key);
	etcd_arena_clear(&a);
}

/* Every one-character mutation of the valid cases that is still JSON must
 * decode or be rejected, never crash (ASan / valgrind runs check). */
static void test_decode_mutations(void **state)
{
	size_t parsed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++)
		parsed += etcdtest_json_mutations(dcases[i].json,
						  check_watch_mutation, NULL);
	assert_true(parsed > 100);
}

static void test_decode_event_fields(void **state)
{
	const char *s =
	    "{\"result\":{\"header\":{\"revision\":\"9\"},\"events\":["
	    "{\"kv\":{\"key\":\"YQ==\",\"value\":\"Mg==\","
	    "\"mod_revision\":\"9\",\"create_revision\":\"8\","
	    "\"version\":\"2\",\"lease\":\"77\"},"
	    "\"prev_kv\":{\"key\":\"YQ==\",\"value\":\"MQ==\","
	    "\"mod_revision\":\"8\"}},"
	    "{\"type\":\"DELETE\",\"kv\":{\"key\":\"Yg==\","
	    "\"mod_revision\":\"9\"}}]}}";
	struct etcd_arena a = {0};
	struct etcd_watch_update u;
	struct etcd_error err;
	json_t *j = json_loads(s, 0, NULL);

	(void)state;
	assert_int_equal(etcd_watch_decode(j, &a, &u, &err), 0);
	assert_int_equal(u.n_events, 2);
	assert_int_equal(u.events[0].type, ETCD_EVENT_PUT);
	assert_string_equal(u.events[0].kv.key, "a");
	assert_string_equal(u.events[0].kv.value, "2");
	assert_int_equal(u.events[0].kv.lease, 77);
	assert_int_equal(u.events[0].kv.version, 2);
	assert_non_null(u.events[0].prev_kv);
	assert_string_equal(u.events[0].prev_kv->value, "1");
	assert_int_equal(u.events[1].type, ETCD_EVENT_DELETE);
	assert_string_equal(u.events[1].kv.key, "b");
	assert_int_equal(u.events[1].kv.value_len, 0);
	assert_null(u.events[1].prev_kv);
	json_decref(j);
	etcd_arena_clear(&a);
}

/* ---- against the real etcd -------------------------------------------- */

/* What a watch reported, copied out of the callbacks. */
struct rec_event {
	enum etcd_event_type type;
	char key[64], value[64], prev[64];
	bool has_prev;
	int64_t mod;
};

struct rec {
	double reconnect_at[8];
	int updates, created, reconnecting, progress, compacted, failed;
	int n_events;
	int64_t compact_rev, progress_rev;
	int fail_code, reconnect_code;
	struct rec_event ev[64];
	bool cancel_on_event;
	etcd_watch *w;
};

static void on_watch(void *arg, const struct etcd_watch_update *u)
{
	struct rec *r = arg;

	r->updates++;
	switch (u->kind) {
	case ETCD_WATCH_CREATED:
		r->created++;
		break;
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events && r->n_events < 64; i++) {
			const struct etcd_event *e = &u->events[i];
			struct rec_event *re = &r->ev[r->n_events++];
			re->type = e->type;
			snprintf(re->key, sizeof(re->key), "%s", e->kv.key);
			snprintf(re->value, sizeof(re->value), "%s",
				 e->kv.value);
			re->mod = e->kv.mod_revision;
			re->has_prev = e->prev_kv != NULL;
			if (e->prev_kv != NULL)
				snprintf(re->prev, sizeof(re->prev), "%s",
					 e->prev_kv->value);
		}
		if (r->cancel_on_event)
			r->w = etcd_watch_cancel(r->w);
		break;
	case ETCD_WATCH_PROGRESS:
		r->progress++;
		r->progress_rev = u->header.revision;
		break;
	case ETCD_WATCH_RECONNECTING:
		if (r->reconnecting < 8)
			r->reconnect_at[r->reconnecting] = ev_time();
		r->reconnecting++;
		r->reconnect_code = u->err->code;
		break;
	case ETCD_WATCH_COMPACTED:
		r->compacted++;
		r->compact_rev = u->err->compact_revision;
		assert_int_equal(u->err->code, ETCD_ECOMPACTED);
		break;
	case ETCD_WATCH_FAILED:
		r->failed++;
		r->fail_code = u->err->code;
		break;
	}
}

/* Starts a watch and waits until etcd has created it. */
static void watch_created(etcd_client *c, struct rec *r,
			  const struct etcd_watch_req *req)
{
	assert_int_equal(etcd_watch_start(c, req, on_watch, r, &r->w), 0);
	assert_true(evtest_run_until_count(etcd_client_loop(c), &r->created, 1,
					   TIMEOUT));
}

static void watch_prefix(etcd_client *c, struct rec *r, const char *prefix,
			 int64_t from)
{
	struct etcd_watch_req req = {.key = prefix,
				     .prefix = true,
				     .start_revision = from,
				     .prev_kv = true};

	watch_created(c, r, &req);
}

/* ---- integration ------------------------------------------------------ */

static void test_put_delete_prev_kv(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {0};

	watch_prefix(f->client, &r, "/w1/", 0);
	int64_t r1 = etcdtest_put(f->client, "/w1/a", "1", 0);
	etcdtest_put(f->client, "/w1/a", "2", 0);
	etcdtest_put(f->client, "/w2/outside", "x", 0);
	int64_t r3 = etcdtest_delete(f->client, "/w1/a");
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 3, TIMEOUT));
	assert_int_equal(r.ev[0].type, ETCD_EVENT_PUT);
	assert_string_equal(r.ev[0].key, "/w1/a");
	assert_string_equal(r.ev[0].value, "1");
	assert_false(r.ev[0].has_prev);
	assert_int_equal(r.ev[0].mod, r1);
	assert_int_equal(r.ev[1].type, ETCD_EVENT_PUT);
	assert_string_equal(r.ev[1].value, "2");
	assert_true(r.ev[1].has_prev);
	assert_string_equal(r.ev[1].prev, "1");
	assert_int_equal(r.ev[2].type, ETCD_EVENT_DELETE);
	assert_string_equal(r.ev[2].key, "/w1/a");
	assert_true(r.ev[2].has_prev);
	assert_string_equal(r.ev[2].prev, "2");
	assert_int_equal(r.ev[2].mod, r3);
	assert_int_equal(etcd_watch_next_revision(r.w), r3 + 1);
	assert_int_equal(r.reconnecting + r.failed + r.compacted, 0);
	r.w = etcd_watch_cancel(r.w);
}

static void test_replay_from_revision(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {0};

	int64_t first = etcdtest_put(f->client, "/w3/a", "1", 0);
	etcdtest_put(f->client, "/w3/b", "2", 0);
	int64_t last = etcdtest_delete(f->client, "/w3/a");
	etcdtest_put(f->client, "/w4/not-mine", "x", 0);
	watch_prefix(f->client, &r, "/w3/", first);
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 3, TIMEOUT));
	assert_string_equal(r.ev[0].key, "/w3/a");
	assert_int_equal(r.ev[0].mod, first);
	assert_string_equal(r.ev[1].key, "/w3/b");
	assert_int_equal(r.ev[2].type, ETCD_EVENT_DELETE);
	assert_int_equal(r.ev[2].mod, last);
	assert_int_equal(etcd_watch_next_revision(r.w), last + 1);
	r.w = etcd_watch_cancel(r.w);
}

static void test_restart_resumes(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {0};
	char val[16];

	watch_prefix(f->client, &r, "/w5/", 0);
	etcdtest_put(f->client, "/w5/k0", "0", 0);
	etcdtest_put(f->client, "/w5/k1", "1", 0);
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 2, TIMEOUT));

	assert_int_equal(etcd_harness_restart(f->harness), 0);
	/* Written while the watch is down: must be replayed on resume. */
	assert_int_equal(
	    etcd_harness_ctl(f->harness, NULL, 0, "put", "/w5/k2", "2", NULL),
	    0);
	assert_int_equal(
	    etcd_harness_ctl(f->harness, NULL, 0, "put", "/w5/k3", "3", NULL),
	    0);
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 4, TIMEOUT));
	assert_true(r.reconnecting >= 1);
	assert_true(evtest_run_until_count(f->loop, &r.created, 2, TIMEOUT));
	/* And after the resume. */
	etcdtest_put(f->client, "/w5/k4", "4", 0);
	etcdtest_put(f->client, "/w5/k5", "5", 0);
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 6, TIMEOUT));
	/* A late duplicate would show up within this window. */
	etcdtest_put(f->client, "/w5/k6", "6", 0);
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 7, TIMEOUT));
	assert_int_equal(r.n_events, 7);
	for (int i = 0; i < 7; i++) {
		snprintf(val, sizeof(val), "%d", i);
		assert_string_equal(r.ev[i].value, val);
		if (i > 0)
			assert_true(r.ev[i].mod > r.ev[i - 1].mod);
	}
	assert_int_equal(r.failed + r.compacted, 0);
	r.w = etcd_watch_cancel(r.w);
}

static void test_compacted(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {0};
	struct etcd_watch_req req = {.key = "/w6/", .prefix = true};

	int64_t old = etcdtest_put(f->client, "/w6/a", "1", 0);
	etcdtest_put(f->client, "/w6/a", "2", 0);
	int64_t cur = etcdtest_put(f->client, "/w6/a", "3", 0);
	etcdtest_compact(f->client, cur);
	req.start_revision = old;
	assert_int_equal(etcd_watch_start(f->client, &req, on_watch, &r, &r.w),
			 0);
	assert_true(evtest_run_until_count(f->loop, &r.compacted, 1, TIMEOUT));
	assert_int_equal(r.compact_rev, cur);
	assert_int_equal(r.n_events, 0);
	/* terminal: nothing after it */
	etcdtest_put(f->client, "/w6/a", "4", 0);
	evtest_run_for(f->loop, 0.2);
	assert_int_equal(r.compacted, 1);
	assert_int_equal(r.n_events + r.failed + r.reconnecting, 0);
	r.w = etcd_watch_cancel(r.w);
}

static void test_cancel_in_callback(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {.cancel_on_event = true};
	struct rec witness = {0};

	watch_prefix(f->client, &r, "/w7/", 0);
	watch_prefix(f->client, &witness, "/w7/", 0);
	etcdtest_put(f->client, "/w7/a", "1", 0);
	assert_true(
	    evtest_run_until_count(f->loop, &witness.n_events, 1, TIMEOUT));
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 1, TIMEOUT));
	assert_null(r.w);
	etcdtest_put(f->client, "/w7/b", "2", 0);
	etcdtest_put(f->client, "/w7/c", "3", 0);
	assert_true(
	    evtest_run_until_count(f->loop, &witness.n_events, 3, TIMEOUT));
	assert_int_equal(r.n_events, 1);
	assert_int_equal(r.updates, 2); /* created + one event */
	witness.w = etcd_watch_cancel(witness.w);
}

static void test_client_free_fails_watch(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {0};

	watch_prefix(f->client, &r, "/w8/", 0);
	f->client = etcd_client_free(f->client);
	assert_int_equal(r.failed, 1);
	assert_int_equal(r.fail_code, ETCD_ECANCELED);
	/* the handle outlives the client until canceled */
	r.w = etcd_watch_cancel(r.w);
}

static void test_filters(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {0};
	struct etcd_watch_req req = {
	    .key = "/w9/", .prefix = true, .no_put = true};

	watch_created(f->client, &r, &req);
	etcdtest_put(f->client, "/w9/a", "1", 0);
	int64_t d = etcdtest_delete(f->client, "/w9/a");
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 1, TIMEOUT));
	assert_int_equal(r.ev[0].type, ETCD_EVENT_DELETE);
	assert_int_equal(r.ev[0].mod, d);
	assert_false(r.ev[0].has_prev);
	r.w = etcd_watch_cancel(r.w);
}

static void test_single_key_watch(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {0};
	struct etcd_watch_req req = {.key = "/w10/k"};

	watch_created(f->client, &r, &req);
	etcdtest_put(f->client, "/w10/k2", "no", 0);
	etcdtest_put(f->client, "/w10/k", "yes", 0);
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 1, TIMEOUT));
	assert_string_equal(r.ev[0].value, "yes");
	assert_int_equal(r.n_events, 1);
	r.w = etcd_watch_cancel(r.w);
}

/* etcd down for a while: retries back off (100 ms doubling), then the
 * watch resumes without losing what was written before the outage. */
static void test_outage_backoff(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {0};

	watch_prefix(f->client, &r, "/w12/", 0);
	int64_t rev = etcdtest_put(f->client, "/w12/a", "1", 0);
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 1, TIMEOUT));
	/* Seen by nobody yet when etcd dies. */
	assert_int_equal(
	    etcd_harness_ctl(f->harness, NULL, 0, "put", "/w12/b", "2", NULL),
	    0);
	assert_int_equal(etcd_harness_kill(f->harness), 0);
	bool ok = evtest_run_until_count(f->loop, &r.reconnecting, 5, TIMEOUT);
	int restarted = etcd_harness_restart(f->harness);
	assert_true(ok);
	assert_int_equal(restarted, 0);
	for (int i = 2; i < 5; i++) /* 0.2, 0.4, 0.8 s (minus timer slack) */
		assert_true(r.reconnect_at[i] - r.reconnect_at[i - 1] >=
			    0.09 * (1 << (i - 1)));
	assert_int_equal(r.reconnect_code, ETCD_ECONN);
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 2, TIMEOUT));
	assert_string_equal(r.ev[1].value, "2");
	assert_int_equal(r.ev[1].mod, rev + 1);
	etcdtest_put(f->client, "/w12/c", "3", 0);
	assert_true(evtest_run_until_count(f->loop, &r.n_events, 3, TIMEOUT));
	assert_string_equal(r.ev[2].value, "3");
	assert_int_equal(r.failed, 0);
	r.w = etcd_watch_cancel(r.w);
}

/* A stopped etcd keeps its sockets: only the idle probe notices. */
static void test_stalled_stream(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {0};
	etcd_client *c = etcdtest_client_new(f->loop, f->harness, 500);

	watch_prefix(c, &r, "/w11/", 0);
	etcd_watch_set_idle_timeout(r.w, 0.5);
	assert_int_equal(etcd_harness_pause(f->harness, true), 0);
	bool ok = evtest_run_until_count(f->loop, &r.reconnecting, 1, TIMEOUT);
	assert_int_equal(etcd_harness_pause(f->harness, false), 0);
	assert_true(ok);
	assert_int_equal(r.reconnect_code, ETCD_ETIMEDOUT);
	etcdtest_put(f->client, "/w11/a", "1", 0);
	assert_true(
	    evtest_run_until_count(f->loop, &r.n_events, 1, 3 * TIMEOUT));
	assert_string_equal(r.ev[0].value, "1");
	assert_int_equal(r.failed, 0);
	r.w = etcd_watch_cancel(r.w);
	c = etcd_client_free(c);
}

/*
 * Issue 13 item 8.  Three members; the watch's stream is on m0 when m0
 * stops, and another call of the client has failed over to m1 since.
 * The idle probe must ask m0, the stream's own member: asked of the
 * client's current endpoint (m1) it succeeded, and the stuck stream was
 * kept until m0 resumed.
 */
static void test_stalled_member_of_cluster(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct etcd_cluster *cl = etcdtest_cluster_start();
	struct etcd_harness *const *m = cl->m;
	const char *const *eps = cl->endpoints;
	etcd_client *c = etcdtest_cluster_client(loop, cl, 1000);
	etcd_client *cw = etcdtest_client_new(loop, m[1], 0);
	struct rec r = {0};

	watch_prefix(c, &r, "/w13/", 0);
	assert_string_equal(etcd_client_endpoint(c), eps[0]);
	etcd_watch_set_idle_timeout(r.w, 1.0);
	assert_int_equal(etcd_harness_pause(m[0], true), 0);
	/* A read times out on m0 and is answered by m1: the client's
	 * current endpoint is m1 from now on. */
	struct etcd_range_req get = {.key = "/w13/x"};
	struct etcd_sync_range *res = NULL;
	struct etcd_error err;
	int rc = etcd_sync_get(c, &get, &res, &err);
	res = etcd_sync_range_free(res);
	etcdtest_put(cw, "/w13/a", "1", 0);
	bool got = rc == 0 && evtest_run_until_count(loop, &r.n_events, 1,
						     TIMEOUT);
	assert_int_equal(etcd_harness_pause(m[0], false), 0);
	if (rc != 0)
		fail_msg("read with m0 stopped: %s", err.message);
	assert_string_equal(etcd_client_endpoint(c), eps[1]);
	if (!got)
		fail_msg("the watch on stopped m0 saw no event in %.0f s "
			 "(%d reconnects)", TIMEOUT, r.reconnecting);
	assert_true(r.reconnecting >= 1);
	assert_string_equal(r.ev[0].value, "1");
	assert_int_equal(r.failed, 0);

	r.w = etcd_watch_cancel(r.w);
	cw = etcd_client_free(cw);
	c = etcd_client_free(c);
	etcd_cluster_stop(cl);
	ev_loop_destroy(loop);
}

static void test_invalid_args(void **state)
{
	struct etcdtest *f = *state;
	struct rec r = {0};
	struct etcd_watch_req req = {.key = ""};
	etcd_watch *w = NULL;

	assert_int_equal(etcd_watch_start(f->client, &req, on_watch, &r, &w),
			 ETCD_EINVAL);
	req.key = NULL;
	assert_int_equal(etcd_watch_start(f->client, &req, on_watch, &r, &w),
			 ETCD_EINVAL);
	assert_null(w);
	assert_null(etcd_watch_cancel(NULL));
}

/* Its own etcd: progress notifications every second. */
static void test_progress_notify(void **state)
{
	const char *extra[] = {
	    "--experimental-watch-progress-notify-interval=1s", NULL};
	struct etcd_harness_opts o = {.extra_args = extra};
	struct etcdtest t;
	struct rec r = {0};
	struct etcd_watch_req req = {
	    .key = "/p/", .prefix = true, .progress_notify = true};

	(void)state;
	assert_int_equal(etcdtest_start(&t, &o), 0);
	int64_t rev = etcdtest_put(t.client, "/other", "x", 0);
	assert_int_equal(etcd_watch_start(t.client, &req, on_watch, &r, &r.w),
			 0);
	assert_true(evtest_run_until_count(t.loop, &r.progress, 1, 5.0));
	assert_int_equal(r.progress_rev, rev);
	assert_int_equal(etcd_watch_next_revision(r.w), rev + 1);
	assert_int_equal(r.created, 1);
	r.w = etcd_watch_cancel(r.w);
	etcdtest_stop(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_table),
	    cmocka_unit_test(test_decode_mutations),
	    cmocka_unit_test(test_decode_event_fields),
	    etcdtest_unit_test(test_put_delete_prev_kv),
	    etcdtest_unit_test(test_replay_from_revision),
	    etcdtest_unit_test(test_compacted),
	    etcdtest_unit_test(test_cancel_in_callback),
	    etcdtest_unit_test(test_client_free_fails_watch),
	    etcdtest_unit_test(test_filters),
	    etcdtest_unit_test(test_single_key_watch),
	    etcdtest_unit_test(test_invalid_args),
	    etcdtest_unit_test(test_restart_resumes),
	    etcdtest_unit_test(test_outage_backoff),
	    etcdtest_unit_test(test_stalled_stream),
	    cmocka_unit_test(test_stalled_member_of_cluster),
	    cmocka_unit_test(test_progress_notify),
	};

	return cmocka_run_group_tests(tests, etcdtest_group_setup,
				      etcdtest_group_teardown);
}
