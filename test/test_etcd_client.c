/* Integration tests of the transport against real etcd processes:
 * failover, timeouts, client_free with calls in flight, auth (including
 * an expired token), TLS with client certificates. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "etcdclient/etcd.h"
#include "test/lib/etcd_harness.h"
#include "test/lib/etcdtest.h"
#include "test/lib/evtest.h"

#define WAIT_S 10.0

static struct ev_loop *loop;
static struct etcd_harness *plain; /* shared by the tests without auth */

static int group_setup(void **state)
{
	(void)state;
	loop = ev_loop_new(EVFLAG_AUTO);
	plain = etcd_harness_start(NULL);
	return plain != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	plain = etcd_harness_stop(plain);
	if (loop != NULL)
		ev_loop_destroy(loop);
	return 0;
}

/* A loopback port nobody listens on (bound, then closed). */
static void dead_endpoint(char *buf, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(buf, cap, "http://127.0.0.1:%d", ntohs(sa.sin_port));
	close(fd);
}

struct cap {
	bool done;
	int calls;
	bool failed;
	struct etcd_error err;
	int64_t revision;
	size_t n_kvs;
	char value[64];
	etcd_client *c; /* for callbacks that try to start calls */
	int restart_rc;
};

/* What every callback records: that it ran, how often, the error. */
static void cap_err(struct cap *c, const struct etcd_error *err)
{
	c->done = true;
	c->calls++;
	if (err != NULL) {
		c->failed = true;
		c->err = *err;
	}
}

static void on_put(void *arg, const struct etcd_error *err,
		   const struct etcd_put_result *res)
{
	struct cap *c = arg;

	cap_err(c, err);
	if (err == NULL)
		c->revision = res->header.revision;
}

static void on_range(void *arg, const struct etcd_error *err,
		     const struct etcd_range_result *res)
{
	struct cap *c = arg;

	cap_err(c, err);
	if (err != NULL)
		return;
	c->n_kvs = res->n_kvs;
	if (res->n_kvs > 0)
		snprintf(c->value, sizeof(c->value), "%s", res->kvs[0].value);
}

/* Tries to start a call from the callback of a client being freed. */
static void on_put_restart(void *arg, const struct etcd_error *err,
			   const struct etcd_put_result *res)
{
	struct cap *c = arg;
	struct etcd_put_req req = {.key = "/again", .value = "x",
				   .value_len = 1};

	on_put(arg, err, res);
	c->restart_rc = etcd_kv_put(c->c, &req, on_put, c);
}

static etcd_client *client_new(const char *const *eps, size_t n,
			       const char *user, const char *pass,
			       long timeout_ms)
{
	struct etcd_config cfg = {.endpoints = eps, .n_endpoints = n,
				  .username = user, .password = pass,
				  .request_timeout_ms = timeout_ms,
				  .connect_timeout_ms = 1000};
	etcd_client *c = NULL;

	assert_int_equal(etcd_client_new(loop, &cfg, &c), 0);
	return c;
}

static struct cap put(etcd_client *c, const char *key, const char *value)
{
	struct cap p = {0};
	struct etcd_put_req req = {.key = key, .value = value,
				   .value_len = strlen(value)};

	assert_int_equal(etcd_kv_put(c, &req, on_put, &p), 0);
	assert_false(p.done);
	assert_true(evtest_run_until(loop, &p.done, WAIT_S));
	assert_int_equal(p.calls, 1);
	return p;
}

static struct cap get(etcd_client *c, const char *key)
{
	struct cap g = {0};
	struct etcd_range_req req = {.key = key};

	assert_int_equal(etcd_kv_range(c, &req, on_range, &g), 0);
	assert_true(evtest_run_until(loop, &g.done, WAIT_S));
	return g;
}

/* ---- config ---- */

static void test_client_new_invalid(void **state)
{
	(void)state;
	etcd_client *c = NULL;
	const char *bad[] = {"127.0.0.1:2379"};
	struct etcd_config cfg = {.endpoints = bad, .n_endpoints = 1};

	assert_int_equal(etcd_client_new(loop, &cfg, &c), ETCD_EINVAL);
	cfg.n_endpoints = 0;
	assert_int_equal(etcd_client_new(loop, &cfg, &c), ETCD_EINVAL);
	assert_int_equal(etcd_client_new(NULL, &cfg, &c), ETCD_EINVAL);
	assert_null(etcd_client_free(NULL));
	assert_string_equal(etcd_strerror(ETCD_ECOMPACTED),
			    "revision compacted");
}

/* ---- failover ---- */

static void test_failover_dead_first(void **state)
{
	(void)state;
	char dead[64];
	dead_endpoint(dead, sizeof(dead));
	const char *eps[] = {dead, plain->endpoint};
	etcd_client *c = client_new(eps, 2, NULL, NULL, 0);

	/* Many at once: concurrent failures must not rotate the client back
	 * onto the dead endpoint. */
	struct cap caps[20];
	memset(caps, 0, sizeof(caps));
	for (int i = 0; i < 20; i++) {
		struct etcd_put_req req = {.key = "/fo", .value = "v",
					   .value_len = 1};
		assert_int_equal(etcd_kv_put(c, &req, on_put, &caps[i]), 0);
	}
	for (int i = 0; i < 20; i++) {
		assert_true(evtest_run_until(loop, &caps[i].done, WAIT_S));
		if (caps[i].failed)
			fail_msg("put %d: %s", i, caps[i].err.message);
	}
	assert_string_equal(etcd_client_endpoint(c), plain->endpoint);
	struct cap g = get(c, "/fo");
	assert_false(g.failed);
	assert_string_equal(g.value, "v");
	c = etcd_client_free(c);

	/* endpoint with a trailing slash */
	char slash[80];
	snprintf(slash, sizeof(slash), "%s/", plain->endpoint);
	const char *eps2[] = {slash};
	c = client_new(eps2, 1, NULL, NULL, 0);
	assert_false(put(c, "/slash", "x").failed);
	c = etcd_client_free(c);
}

static void test_all_dead(void **state)
{
	(void)state;
	char d1[64], d2[64];
	dead_endpoint(d1, sizeof(d1));
	dead_endpoint(d2, sizeof(d2));
	const char *eps[] = {d1, d2};
	etcd_client *c = client_new(eps, 2, NULL, NULL, 0);

	struct cap p = put(c, "/x", "y");
	assert_true(p.failed);
	assert_int_equal(p.err.code, ETCD_ECONN);
	c = etcd_client_free(c);
}

/* An endpoint whose listen queue is full drops SYNs: the connection times
 * out before anything is sent, so even a write goes to the next one. */
static void test_connect_timeout_fails_over(void **state)
{
	(void)state;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	char bh[64];

	assert_true(lfd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	for (int i = 0; i < 4; i++) { /* never accepted: the queue fills */
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fill[i] >= 0);
		connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	snprintf(bh, sizeof(bh), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	const char *eps[] = {bh, plain->endpoint};
	etcd_client *c = client_new(eps, 2, NULL, NULL, 0);

	struct cap p = put(c, "/cto", "v");
	if (p.failed)
		fail_msg("put after a connect timeout: %s", p.err.message);
	assert_string_equal(etcd_client_endpoint(c), plain->endpoint);
	c = etcd_client_free(c);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

/* A stalled etcd: the request timeout fires. */
static void test_timeout(void **state)
{
	(void)state;
	const char *eps[] = {plain->endpoint};
	etcd_client *c = client_new(eps, 1, NULL, NULL, 300);

	assert_false(put(c, "/t", "warm").failed); /* connection in cache */
	assert_int_equal(etcd_harness_pause(plain, true), 0);
	struct cap p = {0};
	struct etcd_put_req req = {.key = "/t", .value = "v", .value_len = 1};
	assert_int_equal(etcd_kv_put(c, &req, on_put, &p), 0);
	bool done = evtest_run_until(loop, &p.done, 5.0);
	assert_int_equal(etcd_harness_pause(plain, false), 0);
	assert_true(done);
	assert_true(p.failed);
	assert_int_equal(p.err.code, ETCD_ETIMEDOUT);
	/* and the client works again afterwards */
	assert_false(put(c, "/t", "after").failed);
	c = etcd_client_free(c);
}

/* ---- a call that may have reached etcd is never re-sent ---- */

struct hist {
	char vals[16][16];
	int n;
	bool created;
};

static void on_hist(void *arg, const struct etcd_watch_update *u)
{
	struct hist *h = arg;

	if (u->kind == ETCD_WATCH_CREATED)
		h->created = true;
	for (size_t i = 0; u->kind == ETCD_WATCH_EVENTS && i < u->n_events;
	     i++)
		if (h->n < 16)
			snprintf(h->vals[h->n++], sizeof(h->vals[0]), "%s",
				 u->events[i].kv.value);
}

struct gcap {
	bool done;
	int calls;
	struct etcd_error err;
	bool failed;
	int64_t id;
};

static void on_grant(void *arg, const struct etcd_error *err, int64_t id,
		     int64_t ttl)
{
	struct gcap *g = arg;

	(void)ttl;
	g->done = true;
	g->calls++;
	g->id = id;
	if (err != NULL) {
		g->failed = true;
		g->err = *err;
	}
}

/*
 * Issue 13 item 7.  Three members; the clients' connections to m0 are
 * warm (keep-alive) when m0 stops.  A put and a lease grant sent to m0
 * then time out: their requests sit in m0's socket buffer and m0 may
 * apply them when it resumes, so they must fail with the outcome
 * unknown, not be re-sent to m1 (where the put would be applied a second
 * time, after the writes that followed it).  A read that times out the
 * same way is re-sent and answered by m1.
 */
static void test_timeout_outcome_unknown(void **state)
{
	(void)state;
	struct etcd_cluster *cl = etcdtest_cluster_start(); /* m0 follows */
	etcd_client *c = client_new(cl->endpoints, 3, NULL, NULL, 3000);
	etcd_client *cr = client_new(cl->endpoints, 3, NULL, NULL, 3000);
	etcd_client *cg = client_new(cl->endpoints, 3, NULL, NULL, 3000);

	struct cap p0 = put(c, "/dup", "v0"); /* warms c's connection to m0 */
	assert_false(p0.failed);
	assert_false(put(cr, "/other", "x").failed);
	struct gcap g = {0};
	assert_int_equal(etcd_lease_grant(cg, 30, 0, on_grant, &g), 0);
	assert_true(evtest_run_until(loop, &g.done, WAIT_S));
	assert_false(g.failed);
	assert_string_equal(etcd_client_endpoint(c), cl->endpoints[0]);

	/* Every write to /dup from here on, as m1 sees it. */
	const char *ep1[] = {cl->endpoints[1]};
	etcd_client *cw = client_new(ep1, 1, NULL, NULL, 0);
	struct hist h = {0};
	struct etcd_watch_req wr = {.key = "/dup",
				    .start_revision = p0.revision + 1};
	etcd_watch *w = NULL;
	assert_int_equal(etcd_watch_start(cw, &wr, on_hist, &h, &w), 0);
	assert_true(evtest_run_until(loop, &h.created, WAIT_S));

	assert_int_equal(etcd_harness_pause(cl->m[0], true), 0);
	struct cap p1 = {0}, r1 = {0};
	struct etcd_put_req req = {.key = "/dup", .value = "v1",
				   .value_len = 2};
	struct etcd_range_req rreq = {.key = "/dup"};
	memset(&g, 0, sizeof(g));
	assert_int_equal(etcd_kv_put(c, &req, on_put, &p1), 0);
	assert_int_equal(etcd_kv_range(cr, &rreq, on_range, &r1), 0);
	assert_int_equal(etcd_lease_grant(cg, 30, 0, on_grant, &g), 0);
	bool all = evtest_run_until(loop, &p1.done, 3 * WAIT_S) &&
		   evtest_run_until(loop, &r1.done, 3 * WAIT_S) &&
		   evtest_run_until(loop, &g.done, 3 * WAIT_S);
	struct cap p2 = {0};
	if (all) /* the next write, as a caller would send it */
		p2 = put(c, "/dup", "v2");
	assert_int_equal(etcd_harness_pause(cl->m[0], false), 0);
	assert_true(all);

	/* m0 back and caught up; then a window for it to apply what it had
	 * buffered (it may or may not). */
	const char *ep0[] = {cl->endpoints[0]};
	etcd_client *c0 = client_new(ep0, 1, NULL, NULL, 0);
	assert_false(put(c0, "/sync", "m0").failed);
	evtest_run_for(loop, 1.0);
	int n_v1 = 0;
	for (int i = 0; i < h.n; i++) {
		print_message("history[%d] = %s\n", i, h.vals[i]);
		n_v1 += strcmp(h.vals[i], "v1") == 0;
	}

	/* The read failed over to a live member. */
	if (r1.failed)
		fail_msg("range on a stalled member: %s", r1.err.message);
	assert_false(r1.err.outcome_unknown);
	/* The writes did not. */
	if (!p1.failed)
		fail_msg("put v1 timed out on m0 and was re-sent elsewhere");
	assert_int_equal(p1.err.code, ETCD_ETIMEDOUT);
	assert_true(p1.err.outcome_unknown);
	if (!g.failed)
		fail_msg("lease grant timed out on m0 and was re-sent: a "
			 "second lease %lld", (long long)g.id);
	assert_int_equal(g.err.code, ETCD_ETIMEDOUT);
	assert_true(g.err.outcome_unknown);
	assert_false(p2.failed);

	assert_true(n_v1 <= 1);
	assert_true(h.n >= 1);

	w = etcd_watch_cancel(w);
	c0 = etcd_client_free(c0);
	cw = etcd_client_free(cw);
	cg = etcd_client_free(cg);
	cr = etcd_client_free(cr);
	c = etcd_client_free(c);
	etcd_cluster_stop(cl);
}

/* ---- max_requests: a queue, not a connection per call ---- */

struct qcap {
	int done, failed;
	double t_last;
};

static void on_queued_put(void *arg, const struct etcd_error *err,
			  const struct etcd_put_result *res)
{
	struct qcap *q = arg;
	struct timespec ts;

	(void)res;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	q->t_last = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	q->done++;
	q->failed += err != NULL;
}

static void test_max_requests(void **state)
{
	(void)state;
	const char *eps[] = {plain->endpoint};
	struct etcd_config cfg = {.endpoints = eps, .n_endpoints = 1,
				  .request_timeout_ms = 300,
				  .max_requests = 1};
	struct etcd_put_req req = {.key = "/q", .value = "v", .value_len = 1};
	struct qcap q = {0};
	struct timespec ts;
	etcd_client *c = NULL;

	/* 200 calls at once through 1 slot: all answered, none lost. */
	assert_int_equal(etcd_client_new(loop, &cfg, &c), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(etcd_kv_put(c, &req, on_queued_put, &q), 0);
	assert_true(evtest_run_until_count(loop, &q.done, 200, WAIT_S));
	assert_int_equal(q.failed, 0);

	/* A waiting call's timeout starts when it is sent: with etcd
	 * stalled, three calls through one slot time out one after the
	 * other (~0.9 s), not all at once (~0.3 s). */
	memset(&q, 0, sizeof(q));
	assert_int_equal(etcd_harness_pause(plain, true), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	for (int i = 0; i < 3; i++)
		assert_int_equal(etcd_kv_put(c, &req, on_queued_put, &q), 0);
	bool done = evtest_run_until_count(loop, &q.done, 3, WAIT_S);
	assert_int_equal(etcd_harness_pause(plain, false), 0);
	assert_true(done);
	assert_int_equal(q.failed, 3);
	assert_true(q.t_last - t0 >= 0.8);
	c = etcd_client_free(c);
}

/* ---- client_free with calls in flight ---- */

static void test_free_in_flight(void **state)
{
	(void)state;
	const char *eps[] = {plain->endpoint};
	struct cap caps[10];
	struct etcd_put_req req = {.key = "/f", .value = "v", .value_len = 1};

	/* not yet sent */
	etcd_client *c = client_new(eps, 1, NULL, NULL, 0);
	memset(caps, 0, sizeof(caps));
	for (int i = 0; i < 10; i++) {
		caps[i].c = c;
		assert_int_equal(etcd_kv_put(c, &req, on_put_restart,
					     &caps[i]), 0);
	}
	c = etcd_client_free(c);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(caps[i].calls, 1);
		assert_int_equal(caps[i].err.code, ETCD_ECANCELED);
		assert_int_equal(caps[i].restart_rc, ETCD_ECANCELED);
	}

	/* sent, waiting for a stalled server */
	c = client_new(eps, 1, NULL, NULL, 0);
	assert_false(put(c, "/f", "warm").failed);
	assert_int_equal(etcd_harness_pause(plain, true), 0);
	memset(caps, 0, sizeof(caps));
	for (int i = 0; i < 10; i++)
		assert_int_equal(etcd_kv_put(c, &req, on_put, &caps[i]), 0);
	evtest_run_for(loop, 0.2);
	for (int i = 0; i < 10; i++)
		assert_int_equal(caps[i].calls, 0);
	c = etcd_client_free(c);
	assert_int_equal(etcd_harness_pause(plain, false), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(caps[i].calls, 1);
		assert_int_equal(caps[i].err.code, ETCD_ECANCELED);
	}
	evtest_run_for(loop, 0.2); /* nothing fires on freed memory */
	for (int i = 0; i < 10; i++)
		assert_int_equal(caps[i].calls, 1);
}

/* ---- auth ---- */

static void auth_enable(struct etcd_harness *h)
{
	char out[512];

	assert_int_equal(etcd_harness_ctl(h, out, sizeof(out), "user", "add",
					  "root:rootpw", NULL), 0);
	assert_int_equal(etcd_harness_ctl(h, out, sizeof(out), "user", "add",
					  "alice:alicepw", NULL), 0);
	assert_int_equal(etcd_harness_ctl(h, out, sizeof(out), "auth",
					  "enable", NULL), 0);
}

static void test_auth(void **state)
{
	(void)state;
	const char *args[] = {"--auth-token-ttl=1", NULL};
	struct etcd_harness_opts o = {.extra_args = args};
	struct etcd_harness *h = etcd_harness_start(&o);
	assert_non_null(h);
	auth_enable(h);
	const char *eps[] = {h->endpoint};

	/* no credentials */
	etcd_client *c = client_new(eps, 1, NULL, NULL, 0);
	struct cap p = put(c, "/a", "x");
	assert_true(p.failed);
	assert_int_equal(p.err.code, ETCD_EAUTH);
	c = etcd_client_free(c);

	/* wrong password: every queued call gets EAUTH */
	c = client_new(eps, 1, "root", "nope", 0);
	struct cap q[3];
	memset(q, 0, sizeof(q));
	struct etcd_put_req req = {.key = "/a", .value = "x", .value_len = 1};
	for (int i = 0; i < 3; i++)
		assert_int_equal(etcd_kv_put(c, &req, on_put, &q[i]), 0);
	for (int i = 0; i < 3; i++) {
		assert_true(evtest_run_until(loop, &q[i].done, WAIT_S));
		assert_int_equal(q[i].err.code, ETCD_EAUTH);
	}
	c = etcd_client_free(c);

	/* no permission: alice has no role */
	c = client_new(eps, 1, "alice", "alicepw", 0);
	p = put(c, "/a", "x");
	assert_true(p.failed);
	assert_int_equal(p.err.code, ETCD_EAUTH);
	assert_int_equal(p.err.grpc_code, 7);
	c = etcd_client_free(c);

	/* right password, calls queued behind authentication */
	c = client_new(eps, 1, "root", "rootpw", 0);
	memset(q, 0, sizeof(q));
	for (int i = 0; i < 3; i++)
		assert_int_equal(etcd_kv_put(c, &req, on_put, &q[i]), 0);
	for (int i = 0; i < 3; i++) {
		assert_true(evtest_run_until(loop, &q[i].done, WAIT_S));
		if (q[i].failed)
			fail_msg("put %d: %s", i, q[i].err.message);
	}
	assert_string_equal(get(c, "/a").value, "x");

	/* The token expires after 1 s idle (--auth-token-ttl=1); etcd checks
	 * each second.  The next call meets "invalid auth token" and the
	 * client authenticates again, transparently. */
	evtest_run_for(loop, 3.0);
	p = put(c, "/a", "after-expiry");
	if (p.failed)
		fail_msg("after token expiry: %s", p.err.message);
	assert_string_equal(get(c, "/a").value, "after-expiry");

	/* Tokens invalidated by auth disable + enable. */
	char out[256];
	assert_int_equal(etcd_harness_ctl(h, out, sizeof(out), "--user",
					  "root:rootpw", "auth", "disable",
					  NULL), 0);
	assert_int_equal(etcd_harness_ctl(h, out, sizeof(out), "auth",
					  "enable", NULL), 0);
	p = put(c, "/a", "re-enabled");
	if (p.failed)
		fail_msg("after auth re-enable: %s", p.err.message);

	/* free with calls queued behind authentication */
	etcd_client *c2 = client_new(eps, 1, "root", "rootpw", 0);
	memset(q, 0, sizeof(q));
	for (int i = 0; i < 3; i++)
		assert_int_equal(etcd_kv_put(c2, &req, on_put, &q[i]), 0);
	c2 = etcd_client_free(c2);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(q[i].calls, 1);
		assert_int_equal(q[i].err.code, ETCD_ECANCELED);
	}

	/* failover for the authenticate call itself */
	char dead[64];
	dead_endpoint(dead, sizeof(dead));
	const char *eps2[] = {dead, h->endpoint};
	c2 = client_new(eps2, 2, "root", "rootpw", 0);
	p = put(c2, "/a", "fo");
	if (p.failed)
		fail_msg("auth failover: %s", p.err.message);
	c2 = etcd_client_free(c2);

	c = etcd_client_free(c);
	etcd_harness_stop(h);
}

/* ---- TLS ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void make_certs(const char *d)
{
	assert_int_equal(sh("cd '%s' && exec >openssl.log 2>&1 && "
			    "openssl req -x509 -newkey rsa:2048 -nodes "
			    "-keyout ca.key -out ca.crt -days 2 "
			    "-subj /CN=test-ca && "
			    "printf 'subjectAltName=IP:127.0.0.1\\n"
			    "extendedKeyUsage=serverAuth,clientAuth\\n' "
			    ">ext && "
			    "for n in server client; do "
			    "openssl req -newkey rsa:2048 -nodes -keyout $n.key "
			    "-out $n.csr -subj /CN=$n || exit 1; "
			    "openssl x509 -req -in $n.csr -CA ca.crt "
			    "-CAkey ca.key -CAcreateserial -out $n.crt "
			    "-days 2 -extfile ext || exit 1; done",
			    d),
			 0);
}

static void test_tls(void **state)
{
	(void)state;
	char d[] = "/tmp/flintsched-tls-XXXXXX";
	char ca[128], scrt[128], skey[128], ccrt[128], ckey[128];

	assert_non_null(mkdtemp(d));
	make_certs(d);
	snprintf(ca, sizeof(ca), "%s/ca.crt", d);
	snprintf(scrt, sizeof(scrt), "%s/server.crt", d);
	snprintf(skey, sizeof(skey), "%s/server.key", d);
	snprintf(ccrt, sizeof(ccrt), "%s/client.crt", d);
	snprintf(ckey, sizeof(ckey), "%s/client.key", d);
	struct etcd_harness_opts o = {.cert_file = scrt, .key_file = skey,
				      .trusted_ca_file = ca,
				      .client_cert_auth = true};
	struct etcd_harness *h = etcd_harness_start(&o);
	assert_non_null(h);
	assert_memory_equal(h->endpoint, "https://", 8);
	const char *eps[] = {h->endpoint};

	struct etcd_config cfg = {.endpoints = eps, .n_endpoints = 1,
				  .ca_file = ca, .cert_file = ccrt,
				  .key_file = ckey};
	etcd_client *c = NULL;
	assert_int_equal(etcd_client_new(loop, &cfg, &c), 0);
	struct cap p = put(c, "/tls", "secure");
	if (p.failed)
		fail_msg("TLS put: %s", p.err.message);
	assert_string_equal(get(c, "/tls").value, "secure");
	c = etcd_client_free(c);

	/* no CA: the server certificate does not verify */
	struct etcd_config nocfg = {.endpoints = eps, .n_endpoints = 1,
				    .cert_file = ccrt, .key_file = ckey};
	assert_int_equal(etcd_client_new(loop, &nocfg, &c), 0);
	p = put(c, "/tls", "x");
	assert_true(p.failed);
	assert_true(p.err.code == ETCD_ETLS || p.err.code == ETCD_ECONN);
	c = etcd_client_free(c);

	/* CA but no client certificate: the server refuses */
	struct etcd_config nocert = {.endpoints = eps, .n_endpoints = 1,
				     .ca_file = ca};
	assert_int_equal(etcd_client_new(loop, &nocert, &c), 0);
	p = put(c, "/tls", "x");
	assert_true(p.failed);
	assert_true(p.err.code == ETCD_ETLS || p.err.code == ETCD_ECONN);
	c = etcd_client_free(c);

	/* a missing CA file */
	struct etcd_config badca = {.endpoints = eps, .n_endpoints = 1,
				    .ca_file = "/nonexistent/ca.crt",
				    .cert_file = ccrt, .key_file = ckey};
	assert_int_equal(etcd_client_new(loop, &badca, &c), 0);
	p = put(c, "/tls", "x");
	assert_true(p.failed);
	assert_int_equal(p.err.code, ETCD_ETLS);
	c = etcd_client_free(c);

	etcd_harness_stop(h);
	sh("rm -rf '%s'", d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_new_invalid),
		cmocka_unit_test(test_failover_dead_first),
		cmocka_unit_test(test_all_dead),
		cmocka_unit_test(test_connect_timeout_fails_over),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_timeout_outcome_unknown),
		cmocka_unit_test(test_max_requests),
		cmocka_unit_test(test_free_in_flight),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_tls),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
