/* Fixtures and blocking helpers shared by the etcdclient tests. */
#include "test/lib/etcdtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <ev.h>

#include "etcdclient/internal.h"
#include "test/lib/evtest.h"

/* How long a helper waits for an asynchronous call's answer. */
#define WAIT_S 10.0

static int open_client(struct etcdtest *t, struct etcd_harness *h)
{
	const char *eps[] = {h->endpoint};
	struct etcd_config cfg = {.endpoints = eps, .n_endpoints = 1};

	t->harness = h;
	t->loop = ev_loop_new(EVFLAG_AUTO);
	if (t->loop == NULL)
		return -1;
	return etcd_client_new(t->loop, &cfg, &t->client) == 0 ? 0 : -1;
}

int etcdtest_start(struct etcdtest *t, const struct etcd_harness_opts *o)
{
	*t = (struct etcdtest){.owns_harness = true};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct etcd_harness *h = etcd_harness_start(o);
	if (h == NULL)
		return -1;
	return open_client(t, h);
}

void etcdtest_stop(struct etcdtest *t)
{
	t->client = etcd_client_free(t->client);
	if (t->loop != NULL)
		ev_loop_destroy(t->loop);
	t->loop = NULL;
	while (t->n_scratch > 0)
		free(t->scratch[--t->n_scratch]);
	if (t->owns_harness) {
		t->harness = etcd_harness_stop(t->harness);
		curl_global_cleanup();
	}
}

int etcdtest_group_setup(void **state)
{
	struct etcdtest *t = calloc(1, sizeof(*t));

	/* Unbuffered, so that a failed assertion's message is in the log
	 * even when the process then dies: test_etcd_election, one of three
	 * CI runs side by side, failed an assertion whose message was lost
	 * when AddressSanitizer aborted in the teardown (the campaign's
	 * callback ran into the failed test's stack frame). */
	setvbuf(stdout, NULL, _IONBF, 0);
	*state = t;
	if (t == NULL)
		return -1;
	return etcdtest_start(t, NULL);
}

int etcdtest_group_teardown(void **state)
{
	struct etcdtest *t = *state;

	if (t != NULL)
		etcdtest_stop(t);
	free(t);
	*state = NULL;
	return 0;
}

int etcdtest_setup(void **state)
{
	struct etcdtest *group = *state;
	struct etcdtest *t = calloc(1, sizeof(*t));

	*state = t;
	if (t == NULL)
		return -1;
	return open_client(t, group->harness);
}

int etcdtest_teardown(void **state)
{
	struct etcdtest *t = *state;

	etcdtest_stop(t);
	free(t);
	return 0;
}

void *etcdtest_calloc(struct etcdtest *t, size_t size)
{
	assert_true(t->n_scratch < sizeof(t->scratch) / sizeof(t->scratch[0]));
	void *p = calloc(1, size);
	assert_non_null(p);
	t->scratch[t->n_scratch++] = p;
	return p;
}

etcd_client *etcdtest_client_new(struct ev_loop *loop,
				 const struct etcd_harness *h,
				 long timeout_ms)
{
	const char *eps[] = {h->endpoint};
	struct etcd_config cfg = {.endpoints = eps, .n_endpoints = 1,
				  .request_timeout_ms = timeout_ms};
	etcd_client *c = NULL;

	assert_int_equal(etcd_client_new(loop, &cfg, &c), 0);
	return c;
}

struct etcd_cluster *etcdtest_cluster_start(void)
{
	struct etcd_cluster *cl = etcd_cluster_start(3, NULL);

	assert_non_null(cl);
	assert_int_equal(etcd_cluster_leader_last(cl), 0);
	return cl;
}

etcd_client *etcdtest_cluster_client(struct ev_loop *loop,
				     const struct etcd_cluster *cl,
				     long timeout_ms)
{
	struct etcd_config cfg = {.endpoints = cl->endpoints,
				  .n_endpoints = cl->n,
				  .request_timeout_ms = timeout_ms};
	etcd_client *c = NULL;

	assert_int_equal(etcd_client_new(loop, &cfg, &c), 0);
	return c;
}

int64_t etcdtest_put(etcd_client *c, const char *key, const char *value,
		     int64_t lease)
{
	struct etcd_error err;
	int64_t rev = 0;

	if (etcd_sync_put(c, key, value, strlen(value), lease, &rev, &err) != 0)
		fail_msg("put %s: %s", key, err.message);
	return rev;
}

/* The answer to a call made by a helper that etcd_sync_* does not cover
 * (the revision of a delete, a compaction). */
struct answer {
	bool done;
	bool failed;
	struct etcd_error err;
	int64_t revision;
};

static void answer_set(struct answer *a, const struct etcd_error *err,
		       const struct etcd_header *hdr)
{
	a->done = true;
	if (err != NULL) {
		a->failed = true;
		a->err = *err;
	} else {
		a->revision = hdr->revision;
	}
}

static void on_delete(void *arg, const struct etcd_error *err,
		      const struct etcd_delete_result *res)
{
	answer_set(arg, err, res != NULL ? &res->header : NULL);
}

static void on_done(void *arg, const struct etcd_error *err,
		    const struct etcd_header *hdr)
{
	answer_set(arg, err, hdr);
}

static void answer_wait(etcd_client *c, struct answer *a, const char *what,
			const char *key)
{
	assert_true(evtest_run_until(etcd_client_loop(c), &a->done, WAIT_S));
	if (a->failed)
		fail_msg("%s %s: %s", what, key, a->err.message);
}

int64_t etcdtest_delete(etcd_client *c, const char *key)
{
	struct etcd_delete_req req = {.key = key};
	struct answer a = {0};

	assert_int_equal(etcd_kv_delete(c, &req, on_delete, &a), 0);
	answer_wait(c, &a, "delete", key);
	return a.revision;
}

void etcdtest_compact(etcd_client *c, int64_t rev)
{
	struct answer a = {0};

	assert_int_equal(etcd_kv_compact(c, rev, true, on_done, &a), 0);
	answer_wait(c, &a, "compact", "");
}

int64_t etcdtest_create_revision(etcd_client *c, const char *key)
{
	struct etcd_range_req req = {.key = key};
	struct etcd_sync_range *r = NULL;
	struct etcd_error err;
	int64_t rev = 0;

	if (etcd_sync_get(c, &req, &r, &err) != 0)
		fail_msg("get %s: %s", key, err.message);
	if (r->n_kvs == 1)
		rev = r->kvs[0].create_revision;
	etcd_sync_range_free(r);
	return rev;
}

int64_t etcdtest_lease_grant(etcd_client *c, int64_t ttl)
{
	struct etcd_error err;
	int64_t id = 0;

	if (etcd_sync_lease_grant(c, ttl, &id, &err) != 0)
		fail_msg("lease grant: %s", err.message);
	assert_true(id > 0);
	return id;
}

void etcdtest_lease_revoke(etcd_client *c, int64_t id)
{
	struct etcd_error err;

	if (etcd_sync_lease_revoke(c, id, &err) != 0)
		fail_msg("lease revoke %lld: %s", (long long)id, err.message);
}

size_t etcdtest_json_mutations(const char *json,
			       void (*check)(const json_t *j, void *arg),
			       void *arg)
{
	static const char subst[] = "\"0{}[]:,-9tn";
	size_t n = strlen(json), parsed = 0;
	char *buf = malloc(n + 1);

	assert_non_null(buf);
	for (size_t pos = 0; pos < n; pos++) {
		for (size_t k = 0; k < sizeof(subst) - 1; k++) {
			memcpy(buf, json, n + 1);
			buf[pos] = subst[k];
			json_t *j = json_loads(buf, JSON_DECODE_ANY, NULL);
			if (j == NULL)
				continue;
			parsed++;
			check(j, arg);
			json_decref(j);
		}
	}
	free(buf);
	return parsed;
}
