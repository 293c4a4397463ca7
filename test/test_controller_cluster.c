/*
 * Controller integration: a real etcd, 3 flintsched-controller processes
 * and flintsched-agent --simulate processes, driven through etcd keys the
 * way users do.  Every wait is bounded polling of etcd (100 ms), never a
 * sleep standing in for synchronisation.  Each test uses its own prefix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/spec.h"
#include "controller/ctrl.h"
#include "etcdclient/etcd.h"
#include "test/lib/etcd_harness.h"
#include "test/lib/httptest.h"
#include "test/lib/slotid.h"

#define MAXP 16

struct env {
	struct etcd_harness *h;
	struct ev_loop *loop;
	etcd_client *c;
	char prefix[64];
	pid_t pids[MAXP];
	int n_pids;
};

static struct etcd_harness *harness;
static int test_no;

static pid_t spawn(struct env *e, const char *log, const char *const *argv)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char path[512];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", e->h->dir, log);
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	e->pids[e->n_pids++] = pid;
	return pid;
}

static const char *bindir(void)
{
	const char *b = getenv("B");

	return b ? b : "build";
}

/* extra, extra2: more "key=value" for --set, or NULL. */
static pid_t start_ctrl_xx(struct env *e, const char *name,
			   const char *bidding, const char *extra,
			   const char *extra2)
{
	char bin[256], ep[128], pfx[96], nm[96], bid[96], logf[96];
	const char *argv[] = {bin,
			      "--set", ep,
			      "--set", pfx,
			      "--set", nm,
			      "--set", bid,
			      "--set", "controller.lease_ttl_s=2",
			      "--set", "scheduling.bid_timeout_ms=300",
			      "--set", "log.level=debug",
			      extra ? "--set" : NULL, extra,
			      extra2 ? "--set" : NULL, extra2,
			      NULL};

	snprintf(bin, sizeof(bin), "%s/flintsched-controller", bindir());
	snprintf(ep, sizeof(ep), "etcd.endpoints=[%s]", e->h->endpoint);
	snprintf(pfx, sizeof(pfx), "etcd.prefix=%s", e->prefix);
	snprintf(nm, sizeof(nm), "controller.name=%s", name);
	snprintf(bid, sizeof(bid), "scheduling.bidding=%s", bidding);
	snprintf(logf, sizeof(logf), "t%d-%s.log", test_no, name);
	return spawn(e, logf, argv);
}

static pid_t start_ctrl_x(struct env *e, const char *name, const char *bidding,
			  const char *extra)
{
	return start_ctrl_xx(e, name, bidding, extra, NULL);
}

static pid_t start_ctrl(struct env *e, const char *name, const char *bidding)
{
	return start_ctrl_x(e, name, bidding, NULL);
}

/* create: the exec executor's create command (its delete: true) for
 * one host named host-0, or NULL: n hosts host-0.. of the simulate
 * executor (--simulate).  extra: one more "key=value" for --set, or
 * NULL. */
static pid_t start_agent_xx(struct env *e, const char *host, int n,
			    int vcpu, int max_vms, int ttl_s,
			    const char *create, const char *extra)
{
	char bin[256], ep[128], pfx[96], hs[96], nn[16], cpu[64], mv[64],
		ttl[64], logf[96], cr[256];
	const char *argv[28] = {bin};
	int k = 1;

	snprintf(bin, sizeof(bin), "%s/flintsched-agent", bindir());
	snprintf(nn, sizeof(nn), "%d", n);
	snprintf(ep, sizeof(ep), "etcd.endpoints=[%s]", e->h->endpoint);
	snprintf(pfx, sizeof(pfx), "etcd.prefix=%s", e->prefix);
	snprintf(hs, sizeof(hs), create ? "agent.host=%s-0" : "agent.host=%s",
		 host);
	snprintf(cpu, sizeof(cpu), "agent.capacity.vcpu=%d", vcpu);
	snprintf(mv, sizeof(mv), "agent.capacity.max_vms=%d", max_vms);
	snprintf(ttl, sizeof(ttl), "agent.lease_ttl_s=%d", ttl_s);
	snprintf(cr, sizeof(cr), "executor.exec.create=%s",
		 create ? create : "");
	snprintf(logf, sizeof(logf), "t%d-agent-%s.log", test_no, host);
	if (!create) {
		argv[k++] = "--simulate";
		argv[k++] = nn;
	}
	for (const char *const *o = (const char *const[]){
		 ep, pfx, hs, cpu, mv, "agent.capacity.memory_mb=16384", ttl,
		 create ? "executor.type=exec" : "executor.type=simulate",
		 create ? cr : NULL, "executor.exec.delete=true", NULL};
	     *o; o++) {
		argv[k++] = "--set";
		argv[k++] = *o;
	}
	if (extra) {
		argv[k++] = "--set";
		argv[k++] = extra;
	}
	return spawn(e, logf, argv);
}

static pid_t start_agent_exec(struct env *e, const char *host, int n,
			      int vcpu, int max_vms, int ttl_s,
			      const char *create)
{
	return start_agent_xx(e, host, n, vcpu, max_vms, ttl_s, create, NULL);
}

static pid_t start_agent_x(struct env *e, const char *host, int n, int vcpu,
			   int max_vms, int ttl_s, const char *extra)
{
	return start_agent_xx(e, host, n, vcpu, max_vms, ttl_s, NULL, extra);
}

static pid_t start_agent_ttl(struct env *e, const char *host, int n,
			     int vcpu, int max_vms, int ttl_s)
{
	return start_agent_xx(e, host, n, vcpu, max_vms, ttl_s, NULL, NULL);
}

static pid_t start_agent(struct env *e, const char *host, int n, int vcpu,
			 int max_vms)
{
	return start_agent_ttl(e, host, n, vcpu, max_vms, 2);
}

static void stop_pid(struct env *e, pid_t pid, int sig)
{
	kill(pid, sig);
	if (sig == SIGSTOP)
		return;
	if (sig == SIGCONT)
		return;
	waitpid(pid, NULL, 0);
	for (int i = 0; i < e->n_pids; i++)
		if (e->pids[i] == pid)
			e->pids[i] = e->pids[--e->n_pids];
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	const char *ep;
	struct etcd_config cfg = {0};

	e->h = harness;
	e->loop = ev_loop_new(0);
	ep = e->h->endpoint;
	cfg.endpoints = &ep;
	cfg.n_endpoints = 1;
	assert_int_equal(etcd_client_new(e->loop, &cfg, &e->c), 0);
	snprintf(e->prefix, sizeof(e->prefix), "/t%d", ++test_no);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	while (e->n_pids) {
		kill(e->pids[0], SIGCONT);
		stop_pid(e, e->pids[0], SIGTERM);
	}
	e->c = etcd_client_free(e->c);
	ev_loop_destroy(e->loop);
	free(e);
	return 0;
}

static void put(struct env *e, const char *sub, const char *id,
		const char *val)
{
	char key[256];

	snprintf(key, sizeof(key), "%s/%s/%s", e->prefix, sub, id);
	assert_int_equal(etcd_sync_put(e->c, key, val, strlen(val), 0, NULL,
				       NULL),
			 0);
}

static void del(struct env *e, const char *sub, const char *id)
{
	char key[256];

	snprintf(key, sizeof(key), "%s/%s/%s", e->prefix, sub, id);
	assert_int_equal(etcd_sync_delete(e->c, key, false, NULL, NULL), 0);
}

static struct etcd_sync_range *get_prefix(struct env *e, const char *sub)
{
	char key[256];
	struct etcd_range_req rq = {.key = key, .prefix = true};
	struct etcd_sync_range *r = NULL;

	snprintf(key, sizeof(key), "%s/%s/", e->prefix, sub);
	if (etcd_sync_get(e->c, &rq, &r, NULL) < 0)
		return NULL;
	return r;
}

/* Statuses by phase; also checks no status is unparsable. */
struct census {
	int phase[CTRL_LOST + 1];
	int total;
	int assigns;
	int64_t alloc_vcpu, alloc_vms;
};

static void census_take(struct env *e, struct census *cs)
{
	struct etcd_sync_range *r;

	memset(cs, 0, sizeof(*cs));
	r = get_prefix(e, "status");
	for (size_t i = 0; r && i < r->n_kvs; i++) {
		struct ctrl_status s;

		if (ctrl_status_parse(r->kvs[i].value, r->kvs[i].value_len,
				      &s, NULL, 0) == 0) {
			cs->phase[s.phase]++;
			cs->total++;
			ctrl_status_clear(&s);
		}
	}
	etcd_sync_range_free(r);
	r = get_prefix(e, "assign");
	cs->assigns = r ? (int)r->n_kvs : -1;
	etcd_sync_range_free(r);
	r = get_prefix(e, "alloc");
	for (size_t i = 0; r && i < r->n_kvs; i++) {
		struct fs_alloc a;

		if (fs_alloc_parse(r->kvs[i].value, r->kvs[i].value_len, &a,
				   NULL, 0) == 0) {
			cs->alloc_vcpu += a.used.vcpu;
			cs->alloc_vms += a.used.vms;
			fs_alloc_clear(&a);
		}
	}
	etcd_sync_range_free(r);
}

static bool status_of(struct env *e, const char *id, struct ctrl_status *s)
{
	char key[256];
	struct etcd_range_req rq = {.key = key};
	struct etcd_sync_range *r = NULL;
	bool ok = false;

	snprintf(key, sizeof(key), "%s/status/%s", e->prefix, id);
	if (etcd_sync_get(e->c, &rq, &r, NULL) == 0 && r->n_kvs == 1)
		ok = ctrl_status_parse(r->kvs[0].value, r->kvs[0].value_len, s,
				       NULL, 0) == 0;
	etcd_sync_range_free(r);
	return ok;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef bool (*cond_fn)(struct env *e, struct census *cs, void *arg);

/* Bounded polling: true as soon as cond holds, false after timeout_s. */
static bool await(struct env *e, cond_fn cond, void *arg, double timeout_s,
		  struct census *cs)
{
	double until = now_s() + timeout_s;

	for (;;) {
		census_take(e, cs);
		if (cond(e, cs, arg))
			return true;
		if (now_s() > until)
			return false;
		usleep(100 * 1000);
	}
}

struct want {
	int running, rejected, unsched, assigns;
};

static bool cond_want(struct env *e, struct census *cs, void *arg)
{
	struct want *w = arg;

	(void)e;
	return cs->phase[CTRL_RUNNING] + cs->phase[CTRL_SCHEDULED] ==
		       w->running &&
	       cs->phase[CTRL_REJECTED] == w->rejected &&
	       cs->phase[CTRL_UNSCHEDULABLE] == w->unsched &&
	       cs->assigns == w->assigns;
}

static void dump(struct env *e, const struct census *cs)
{
	fprintf(stderr,
		"census: pending %d scheduled %d running %d failed %d "
		"unschedulable %d rejected %d lost %d; assigns %d alloc "
		"vms %lld (logs in %s)\n",
		cs->phase[0], cs->phase[1], cs->phase[2], cs->phase[3],
		cs->phase[4], cs->phase[5], cs->phase[6], cs->assigns,
		(long long)cs->alloc_vms, e->h->dir);
}

static void submit(struct env *e, int from, int to, int vcpu)
{
	char id[32], val[384];

	for (int i = from; i < to; i++) {
		snprintf(id, sizeof(id), "vm-%d", i);
		snprintf(val, sizeof(val),
			 "{\"vcpu\":%d,\"memoryInMb\":1024," FS_SPEC_EXAMPLE "}",
			 vcpu);
		put(e, "requests", id, val);
	}
}

/* Every valid request placed exactly once, invalid ones rejected with a
 * reason, deletion releasing capacity for an unschedulable one. */
static void test_place_reject_delete(void **state)
{
	struct env *e = *state;
	struct census cs;
	struct ctrl_status s;
	struct want w = {.running = 20, .rejected = 3, .unsched = 1,
			 .assigns = 20};

	start_agent(e, "node", 4, 8, 100);
	start_ctrl(e, "ca", "sample");
	start_ctrl(e, "cb", "sample");
	start_ctrl(e, "cc", "sample");
	submit(e, 0, 20, 1);
	put(e, "requests", "bad-json", "{\"vcpu\":2,");
	put(e, "requests", "bad-id", "{\"id\":\"other\",\"vcpu\":1,"
				     "\"memoryInMb\":1024," FS_SPEC_EXAMPLE "}");
	put(e, "requests", "bad-sched", "{\"vcpu\":1,\"memoryInMb\":1024,"
					FS_SPEC_EXAMPLE
					",\"scheduling\":{\"zone\":\"a\"}}");
	put(e, "requests", "too-big", "{\"vcpu\":64,\"memoryInMb\":1024,"
				      FS_SPEC_EXAMPLE "}");
	if (!await(e, cond_want, &w, 30, &cs)) {
		dump(e, &cs);
		fail_msg("not every request was placed or rejected");
	}
	assert_int_equal(cs.alloc_vms, 20);
	assert_int_equal(cs.alloc_vcpu, 20);
	assert_true(status_of(e, "bad-sched", &s));
	assert_non_null(strstr(s.reason, "scheduling.zone: unknown key"));
	ctrl_status_clear(&s);
	assert_true(status_of(e, "bad-id", &s));
	assert_non_null(strstr(s.reason, "id: \"other\" does not match"));
	ctrl_status_clear(&s);
	assert_true(status_of(e, "too-big", &s));
	assert_int_equal(s.phase, CTRL_UNSCHEDULABLE);
	assert_true(s.has_explain);
	assert_int_equal(s.explain.hosts, 4);
	assert_int_equal(s.explain.feasible, 0);
	ctrl_status_clear(&s);

	/* Fill the cluster (32 vCPU), then free room by deleting. */
	put(e, "requests", "big",
	    "{\"vcpu\":8,\"memoryInMb\":1024," FS_SPEC_EXAMPLE "}");
	w = (struct want){.running = 20, .rejected = 3, .unsched = 2,
			  .assigns = 20};
	if (!await(e, cond_want, &w, 20, &cs)) {
		dump(e, &cs);
		fail_msg("big should be unschedulable with 20 x 1 vCPU placed");
	}
	for (int i = 0; i < 20; i++) {
		char id[32];

		snprintf(id, sizeof(id), "vm-%d", i);
		del(e, "requests", id);
	}
	w = (struct want){.running = 1, .rejected = 3, .unsched = 1,
			  .assigns = 1};
	if (!await(e, cond_want, &w, 20, &cs)) {
		dump(e, &cs);
		fail_msg("deleting requests did not release capacity");
	}
	assert_int_equal(cs.alloc_vcpu, 8);
	assert_int_equal(cs.total, 5); /* deleted ones have no status */
}

/* Three coordinators race on one host with room for 5: never more. */
static void test_no_overcommit(void **state)
{
	struct env *e = *state;
	struct census cs;
	struct want w = {.running = 5, .rejected = 0, .unsched = 25,
			 .assigns = 5};

	start_agent(e, "tiny", 1, 5, 5);
	start_ctrl(e, "ca", "cached");
	start_ctrl(e, "cb", "cached");
	start_ctrl(e, "cc", "cached");
	submit(e, 0, 30, 1);
	if (!await(e, cond_want, &w, 30, &cs)) {
		dump(e, &cs);
		fail_msg("expected exactly 5 placed and 25 unschedulable");
	}
	assert_int_equal(cs.alloc_vcpu, 5);
	assert_int_equal(cs.alloc_vms, 5);
}

static bool cond_all_placed(struct env *e, struct census *cs, void *arg)
{
	int n = *(int *)arg;

	(void)e;
	return cs->phase[CTRL_RUNNING] + cs->phase[CTRL_SCHEDULED] == n &&
	       cs->assigns == n;
}

/* A coordinator killed with requests in flight: its slots move and every
 * request is still placed exactly once. */
static void test_coordinator_killed(void **state)
{
	struct env *e = *state;
	struct census cs;
	pid_t victim;
	int n = 60;

	start_agent(e, "node", 6, 64, 100);
	victim = start_ctrl(e, "ca", "sample");
	start_ctrl(e, "cb", "sample");
	start_ctrl(e, "cc", "sample");
	submit(e, 0, 30, 1);
	stop_pid(e, victim, SIGKILL);
	submit(e, 30, n, 1);
	if (!await(e, cond_all_placed, &n, 40, &cs)) {
		dump(e, &cs);
		fail_msg("requests lost after a coordinator was killed");
	}
	assert_int_equal(cs.alloc_vms, n);
}

static bool cond_no_leader_lease(struct env *e, struct census *cs, void *arg)
{
	int64_t lease = *(int64_t *)arg;
	struct etcd_sync_range *r = get_prefix(e, "election");
	bool found = false;

	(void)cs;
	for (size_t i = 0; r && i < r->n_kvs; i++)
		if (r->kvs[i].lease == lease)
			found = true;
	etcd_sync_range_free(r);
	return !found;
}

static int64_t lease_of_ctrl(struct env *e, const char *name)
{
	char key[256];
	struct etcd_range_req rq = {.key = key};
	struct etcd_sync_range *r = NULL;
	int64_t lease = 0;

	snprintf(key, sizeof(key), "%s/controllers/%s", e->prefix, name);
	for (int i = 0; i < 100 && !lease; i++) {
		if (etcd_sync_get(e->c, &rq, &r, NULL) == 0 && r->n_kvs)
			lease = r->kvs[0].lease;
		r = etcd_sync_range_free(r);
		if (!lease)
			usleep(100 * 1000);
	}
	return lease;
}

/* A SIGSTOPped coordinator loses its lease; after SIGCONT it commits
 * nothing with its old election keys, and nothing is placed twice. */
static void test_coordinator_stopped(void **state)
{
	struct env *e = *state;
	struct census cs;
	pid_t victim;
	int64_t lease;
	int n = 40;

	start_agent(e, "node", 4, 64, 100);
	victim = start_ctrl(e, "ca", "cached");
	lease = lease_of_ctrl(e, "ca");
	assert_true(lease != 0);
	start_ctrl(e, "cb", "cached");
	start_ctrl(e, "cc", "cached");
	submit(e, 0, 20, 1);
	stop_pid(e, victim, SIGSTOP);
	/* its keys vanish when the lease expires (TTL 2 s) */
	if (!await(e, cond_no_leader_lease, &lease, 20, &cs))
		fail_msg("stopped coordinator's election keys never expired");
	submit(e, 20, n, 1);
	stop_pid(e, victim, SIGCONT);
	if (!await(e, cond_all_placed, &n, 40, &cs)) {
		dump(e, &cs);
		fail_msg("not every request placed after SIGSTOP/SIGCONT");
	}
	assert_int_equal(cs.alloc_vms, n);
	/* the old lease owns nothing any more */
	assert_true(cond_no_leader_lease(e, &cs, &lease));
}

static bool cond_none_on(struct env *e, struct census *cs, void *arg)
{
	const char *host_prefix = arg;
	struct etcd_sync_range *r = get_prefix(e, "assign");
	char want[128];
	bool any = false;

	snprintf(want, sizeof(want), "%s/assign/%s", e->prefix, host_prefix);
	for (size_t i = 0; r && i < r->n_kvs; i++)
		if (strncmp(r->kvs[i].key, want, strlen(want)) == 0)
			any = true;
	etcd_sync_range_free(r);
	return !any && cs->assigns == 12 &&
	       cs->phase[CTRL_RUNNING] + cs->phase[CTRL_SCHEDULED] == 12;
}

/* The value of the sample "name " in a Prometheus text body, or -1. */
static long long metric(const char *body, const char *name)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s ", name);
	p = strstr(body, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* Placed statuses written by a coordinator of controller name. */
static int placed_by(struct env *e, const char *name)
{
	struct etcd_sync_range *r = get_prefix(e, "status");
	size_t nl = strlen(name);
	int n = 0;

	for (size_t i = 0; r && i < r->n_kvs; i++) {
		struct ctrl_status s;

		if (ctrl_status_parse(r->kvs[i].value, r->kvs[i].value_len,
				      &s, NULL, 0) < 0)
			continue;
		if ((s.phase == CTRL_SCHEDULED || s.phase == CTRL_RUNNING) &&
		    s.coordinator && strncmp(s.coordinator, name, nl) == 0 &&
		    s.coordinator[nl] == '/')
			n++;
		ctrl_status_clear(&s);
	}
	etcd_sync_range_free(r);
	return n;
}

/* http.listen: /healthz turns 200 once the session and the watch are up;
 * /metrics counts exactly the placements each controller committed. */
static void test_http_metrics(void **state)
{
	static char buf[65536];
	static const char *const names[] = {"ha", "hb", "hc"};
	struct env *e = *state;
	struct census cs;
	struct want w = {.running = 12, .rejected = 1, .unsched = 0,
			 .assigns = 12};
	char listen[3][64], url[128];
	int port[3];
	long long sum = 0, held = 0, rejected = 0;
	long st = -1;

	for (int i = 0; i < 3; i++) {
		port[i] = httptest_free_port();
		assert_true(port[i] > 0);
		snprintf(listen[i], sizeof(listen[i]),
			 "http.listen=127.0.0.1:%d", port[i]);
		start_ctrl_x(e, names[i], "cached", listen[i]);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz",
			 port[i]);
		for (double t0 = now_s(); now_s() - t0 < 10; usleep(50000))
			if ((st = httptest_get(url, buf, sizeof(buf))) == 200)
				break;
		assert_int_equal(st, 200);
		assert_non_null(strstr(buf, "ok: "));
		assert_non_null(strstr(buf, "coordinator slot(s) held"));
	}
	start_agent(e, "web", 3, 8, 100);
	for (int i = 0; i < 3; i++) {
		long long hosts = -1;

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics",
			 port[i]);
		for (double t0 = now_s(); now_s() - t0 < 10; usleep(50000))
			if (httptest_get(url, buf, sizeof(buf)) == 200 &&
			    (hosts = metric(buf, "flintsched_controller_"
						 "hosts")) == 3)
				break;
		assert_int_equal(hosts, 3);
	}
	submit(e, 0, 12, 1);
	put(e, "requests", "bad",
	    "{\"vcpu\":0,\"memoryInMb\":1024," FS_SPEC_EXAMPLE "}");
	if (!await(e, cond_want, &w, 30, &cs)) {
		dump(e, &cs);
		fail_msg("not every request was placed");
	}
	for (int i = 0; i < 3; i++) {
		long long placed;

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics",
			 port[i]);
		assert_int_equal(httptest_get(url, buf, sizeof(buf)), 200);
		placed = metric(buf, "flintsched_controller_placements_total");
		assert_int_equal(placed, placed_by(e, names[i]));
		assert_true(metric(buf, "flintsched_controller_commit_txns_"
					"total") >= (placed > 0));
		assert_true(metric(buf, "flintsched_controller_commit_"
					"conflicts_total") >= 0);
		assert_int_equal(metric(buf, "flintsched_controller_pending"),
				 0);
		assert_int_equal(metric(buf, "flintsched_controller_rounds_"
					     "total"),
				 0); /* cached: no rounds */
		assert_true(metric(buf, "flintsched_controller_"
					"unschedulable_total") == 0);
		assert_true(metric(buf, "flintsched_controller_lost_total") ==
			    0);
		assert_int_equal(metric(buf, "flintsched_controller_placement_"
					     "seconds_count"),
				 placed);
		sum += placed;
		held += metric(buf, "flintsched_controller_slots_held");
		rejected += metric(buf, "flintsched_controller_rejected_total");
	}
	assert_int_equal(sum, 12);
	assert_int_equal(held, 3);
	assert_int_equal(rejected, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/nope", port[0]);
	assert_int_equal(httptest_get(url, buf, sizeof(buf)), 404);
}

/* A series of the controller on port's /metrics, -1 when it does not
 * answer. */
static long long metric_of(int port, const char *name)
{
	static char buf[65536];
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	if (httptest_get(url, buf, sizeof(buf)) != 200)
		return -1;
	return metric(buf, name);
}

/* True once both survivors hold every slot and have their caches and
 * watches up again (a won slot re-lists: /healthz is 503 meanwhile). */
static bool survivors_settled(const int *port, char *why, size_t len)
{
	char url[128], buf[4096];
	long long held = 0;

	for (int i = 1; i < 3; i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz",
			 port[i]);
		if (httptest_get(url, buf, sizeof(buf)) != 200) {
			snprintf(why, len, "controller %d: %s", i, buf);
			return false;
		}
		held += metric_of(port[i], "flintsched_controller_slots_held");
	}
	snprintf(why, len, "%lld of 3 slots held", held);
	return held == 3;
}

/* Statuses and assignments are not watched: a controller keeps them only
 * for the slots it leads.  One that takes a slot over lists them all, and
 * must not keep the other slots' ones, which would go stale and keep
 * deleted requests in its cache: once every request is deleted, every
 * cache empties. */
static void test_cache_forgets(void **state)
{
	static const char *const names[] = {"fa", "fb", "fc"};
	struct env *e = *state;
	struct census cs;
	char listen[3][64];
	int port[3], n = 24;
	pid_t pid[3];
	long long left = -1;

	for (int i = 0; i < 3; i++) {
		port[i] = httptest_free_port();
		assert_true(port[i] > 0);
		snprintf(listen[i], sizeof(listen[i]),
			 "http.listen=127.0.0.1:%d", port[i]);
		pid[i] = start_ctrl_x(e, names[i], "cached", listen[i]);
	}
	start_agent(e, "fg", 3, 16, 100);
	submit(e, 0, n, 1);
	if (!await(e, cond_all_placed, &n, 30, &cs)) {
		dump(e, &cs);
		fail_msg("not every request was placed");
	}
	/* Its slot moves: the winner lists every status. */
	stop_pid(e, pid[0], SIGKILL);
	char why[4200] = "";
	double t1 = now_s();
	while (!survivors_settled(port, why, sizeof(why)) && now_s() - t1 < 30)
		usleep(100000);
	if (!survivors_settled(port, why, sizeof(why)))
		fail_msg("survivors not settled after 30 s: %s", why);
	for (int i = 0; i < n; i++) {
		char id[32];

		snprintf(id, sizeof(id), "vm-%d", i);
		del(e, "requests", id);
	}
	for (int i = 1; i < 3; i++) {
		for (double t0 = now_s(); now_s() - t0 < 30; usleep(100000))
			if ((left = metric_of(port[i], "flintsched_controller_"
							"cached_requests")) == 0)
				break;
		assert_int_equal(left, 0);
	}
}

/* A host killed, scheduling.lost_after_s 0 (no grace): its VMs are marked
 * lost and rescheduled elsewhere as soon as its lease expires. */
static void test_host_killed(void **state)
{
	struct env *e = *state;
	struct census cs;
	pid_t doomed;
	int n = 12;

	doomed = start_agent(e, "doomed", 2, 64, 100);
	start_ctrl_x(e, "ca", "sample", "scheduling.lost_after_s=0");
	start_ctrl_x(e, "cb", "sample", "scheduling.lost_after_s=0");
	start_ctrl_x(e, "cc", "sample", "scheduling.lost_after_s=0");
	submit(e, 0, n, 1);
	if (!await(e, cond_all_placed, &n, 30, &cs)) {
		dump(e, &cs);
		fail_msg("initial placement failed");
	}
	start_agent(e, "safe", 2, 64, 100);
	stop_pid(e, doomed, SIGKILL);
	if (!await(e, cond_none_on, "doomed", 40, &cs)) {
		dump(e, &cs);
		fail_msg("VMs of the killed host were not rescheduled");
	}
	assert_int_equal(cs.alloc_vms, n);
}

static bool cond_hosts(struct env *e, struct census *cs, void *arg);

/* n simulated hosts of one agent, every one registered before it returns
 * (so that every round of the test invites them all). */
static void start_hosts(struct env *e, const char *host, int n, int vcpu,
			int max_vms)
{
	struct census cs;

	start_agent(e, host, n, vcpu, max_vms);
	assert_true(await(e, cond_hosts, &n, 30, &cs));
}

/* Spread on identical hosts, cached: 20 hosts, 200 requests placed in
 * bursts bigger than a commit batch end with max - min <= 2 VMs per host
 * (each batch used to rank hosts as planned, without its own
 * placements, and piled them onto the same few hosts).  The requests are
 * all there when the controller lists them: one burst. */
static void spread_fair(struct env *e, const char *bidding)
{
	struct census cs;
	struct etcd_sync_range *r;
	int n = 200, hosts = 20;
	int64_t mn = INT64_MAX, mx = 0;

	start_hosts(e, "even", hosts, 64, 100);
	submit(e, 0, n, 1);
	start_ctrl_x(e, "ca", bidding, "controller.coordinators=1");
	if (!await(e, cond_all_placed, &n, 60, &cs)) {
		dump(e, &cs);
		fail_msg("not every request was placed");
	}
	r = get_prefix(e, "alloc");
	assert_non_null(r);
	assert_int_equal(r->n_kvs, hosts);
	for (size_t i = 0; i < r->n_kvs; i++) {
		struct fs_alloc a;

		assert_int_equal(fs_alloc_parse(r->kvs[i].value,
						r->kvs[i].value_len, &a, NULL,
						0),
				 0);
		mn = a.used.vms < mn ? a.used.vms : mn;
		mx = a.used.vms > mx ? a.used.vms : mx;
		fs_alloc_clear(&a);
	}
	etcd_sync_range_free(r);
	if (mx - mn > 2)
		fail_msg("%s spread: %lld to %lld VMs per host", bidding,
			 (long long)mn, (long long)mx);
}

static void test_spread_fair(void **state)
{
	spread_fair(*state, "cached");
}

static void test_spread_fair_sample(void **state)
{
	spread_fair(*state, "sample");
}

static void test_spread_fair_broadcast(void **state)
{
	spread_fair(*state, "broadcast");
}

/* Slots held by each of 3 controllers, from /metrics; false when one
 * does not answer. */
static bool slots_held3(const int *port, long long *held)
{
	static char buf[65536];
	char url[128];

	for (int i = 0; i < 3; i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics",
			 port[i]);
		if (httptest_get(url, buf, sizeof(buf)) != 200)
			return false;
		held[i] = metric(buf, "flintsched_controller_slots_held");
	}
	return true;
}

/* K = 4 over 3 controllers: 2, 1, 1 (the cap alone allows 2, 2, 0), and
 * it stays so (no slot moves back and forth). */
static void test_slots_spread(void **state)
{
	static const char *const names[] = {"sa", "sb", "sc"};
	struct env *e = *state;
	char listen[3][64];
	int port[3];
	long long held[3] = {0}, first[3];
	bool spread = false;

	for (int i = 0; i < 3; i++) {
		port[i] = httptest_free_port();
		assert_true(port[i] > 0);
		snprintf(listen[i], sizeof(listen[i]),
			 "http.listen=127.0.0.1:%d", port[i]);
		start_ctrl_xx(e, names[i], "cached", listen[i],
			      "controller.coordinators=4");
		/* one after the other, so that the first two take all */
		usleep(300 * 1000);
	}
	for (double t0 = now_s(); !spread && now_s() - t0 < 30;
	     usleep(100 * 1000))
		spread = slots_held3(port, held) && held[0] >= 1 &&
			 held[1] >= 1 && held[2] >= 1 &&
			 held[0] + held[1] + held[2] == 4;
	if (!spread)
		fail_msg("slots not spread: %lld %lld %lld (logs in %s)",
			 held[0], held[1], held[2], e->h->dir);
	memcpy(first, held, sizeof(first));
	for (int n = 0; n < 25; n++) {
		usleep(200 * 1000);
		assert_true(slots_held3(port, held));
		for (int i = 0; i < 3; i++)
			assert_int_equal(held[i], first[i]);
	}
}

/* Does the log file of this test's process `name` contain s? */
static bool log_has(struct env *e, const char *name, const char *s)
{
	char path[512], line[4096];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/t%d-%s.log", e->h->dir, test_no,
		 name);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, s) != NULL;
	fclose(f);
	return found;
}

static bool cond_hosts(struct env *e, struct census *cs, void *arg)
{
	struct etcd_sync_range *r = get_prefix(e, "hosts");
	bool all = r && (int)r->n_kvs == *(int *)arg;

	(void)cs;
	etcd_sync_range_free(r);
	return all;
}

/* No key under P/<arg>/. */
static bool cond_none_under(struct env *e, struct census *cs, void *arg)
{
	struct etcd_sync_range *r = get_prefix(e, arg);
	bool none = r && r->n_kvs == 0;

	(void)cs;
	etcd_sync_range_free(r);
	return none;
}

static bool cond_no_bids(struct env *e, struct census *cs, void *arg)
{
	(void)arg;
	return cond_none_under(e, cs, "bids");
}

/*
 * Txns stay within etcd's limits (128 compares, 128 ops each branch):
 * a broadcast round over 140 hosts closes with 141 deletes, more than a
 * txn holds, and several such requests cannot share one commit txn.
 * Every request is placed, every bid deleted (the ones that did not fit
 * in the commit by a leftover txn), and no txn was refused or dropped.
 */
/* Submits n requests to controller "ca": all placed, every bid deleted,
 * and no txn over etcd's limits, out of memory or failed on the way. */
static void place_within_limits(struct env *e, int n, const char *what)
{
	struct census cs;

	submit(e, 0, n, 1);
	if (!await(e, cond_all_placed, &n, 60, &cs)) {
		dump(e, &cs);
		fail_msg("%s did not place everything", what);
	}
	assert_int_equal(cs.alloc_vms, n);
	if (!await(e, cond_no_bids, NULL, 20, &cs))
		fail_msg("bids left behind after their rounds closed");
	assert_false(log_has(e, "ca", "over etcd's limits"));
	assert_false(log_has(e, "ca", "out of memory"));
	assert_false(log_has(e, "ca", "etcd error"));
}

static void test_txn_limits_broadcast(void **state)
{
	struct env *e = *state;

	/* every round gets 140 bids */
	start_hosts(e, "wide", 140, 8, 100);
	start_ctrl_x(e, "ca", "broadcast", "scheduling.bid_timeout_ms=5000");
	place_within_limits(e, 6, "broadcast over 140 hosts");
}

/* sample with 48 candidates: 51 ops per placement, so a commit batch
 * holds two placements; 24 of them all go through batches that are cut
 * at the limit instead of overflowing it. */
static void test_txn_limits_sample(void **state)
{
	struct env *e = *state;

	start_hosts(e, "many", 60, 64, 100);
	start_ctrl_xx(e, "ca", "sample", "scheduling.candidates=48",
		      "scheduling.bid_timeout_ms=5000");
	place_within_limits(e, 24, "sample with 48 candidates");
}

static bool cond_round(struct env *e, struct census *cs, void *arg)
{
	struct etcd_sync_range *r = get_prefix(e, "rounds");
	bool ok = r && r->n_kvs > 0;

	(void)cs;
	if (ok)
		*(struct etcd_sync_range **)arg = r;
	else
		etcd_sync_range_free(r);
	return ok;
}

/* A round carries the coordinator's strategy and weights, so that the
 * agents score their bids as it scores its cache (they scored spread
 * 1/1/1 against its vms weight 0.5, and stale bids then decided). */
static void test_round_scoring(void **state)
{
	struct env *e = *state;
	struct etcd_sync_range *r = NULL;
	struct census cs;
	struct fs_host h = {.host = "lone",
			    .capacity = {8, 8192, 10},
			    .allocatable = {8, 8192, 10}};
	struct fs_round rd;
	char *js = fs_host_format(&h);

	struct etcd_error err;
	char key[256];
	int64_t lease = 0;

	/* A host record with no agent (but a lease: only a record under a
	 * lease is a host): its round waits for a bid. */
	assert_non_null(js);
	assert_int_equal(etcd_sync_lease_grant(e->c, 60, &lease, &err), 0);
	snprintf(key, sizeof(key), "%s/hosts/lone", e->prefix);
	assert_int_equal(etcd_sync_put(e->c, key, js, strlen(js), lease, NULL,
				       NULL),
			 0);
	free(js);
	start_ctrl_xx(e, "ca", "broadcast", "scheduling.strategy=binpack",
		      "scheduling.bid_timeout_ms=10000");
	submit(e, 0, 1, 1);
	assert_true(await(e, cond_round, &r, 30, &cs));
	assert_int_equal(fs_round_parse(r->kvs[0].value, r->kvs[0].value_len,
					&rd, NULL, 0),
			 0);
	etcd_sync_range_free(r);
	assert_int_equal(rd.strategy, FS_BINPACK);
	assert_true(rd.weights.cpu == 1.0 && rd.weights.memory == 1.0 &&
		    rd.weights.vms == 0.5);
	fs_round_clear(&rd);
}


/* Issue 13 item 28: an agent stopped for 5 s (its lease of 10 s keeps
 * its hosts registered) during a burst of sample rounds: the rounds that
 * invited only its hosts closed at their timeout without a bid, and
 * after max_attempts of them the requests stayed "unschedulable: no host
 * bid to take it" for good (a silent host is no capacity change).  They
 * must wait for bids and all be placed once it answers again, leaving no
 * round or bid key behind (item 12). */
static void test_silent_hosts_retried(void **state)
{
	struct env *e = *state;
	struct census cs;
	pid_t quiet;
	int n = 80, hosts = 16;

	start_agent(e, "loud", 8, 64, 100);
	quiet = start_agent_ttl(e, "quiet", 8, 64, 100, 10);
	assert_true(await(e, cond_hosts, &hosts, 30, &cs));
	start_ctrl_x(e, "ca", "sample", "controller.coordinators=1");
	stop_pid(e, quiet, SIGSTOP);
	submit(e, 0, n, 1);
	/* the fault lasts 5 s: that is the point, not a wait for an event */
	usleep(5 * 1000 * 1000);
	stop_pid(e, quiet, SIGCONT);
	if (!await(e, cond_all_placed, &n, 60, &cs)) {
		dump(e, &cs);
		fail_msg("requests stranded after their invited hosts were "
			 "silent");
	}
	assert_int_equal(cs.alloc_vms, n);
	if (!await(e, cond_no_bids, NULL, 20, &cs))
		fail_msg("bid keys left behind (logs in %s)", e->h->dir);
	if (!await(e, cond_none_under, "rounds", 20, &cs))
		fail_msg("round keys left behind (logs in %s)", e->h->dir);
}
static bool cond_all_gone(struct env *e, struct census *cs, void *arg)
{
	(void)e;
	(void)arg;
	return cs->total == 0 && cs->assigns == 0 && cs->alloc_vms == 0;
}

/* Issue 13 items 2, 31 and 15: ordinary balancing.  ca leads both slots
 * and places 10 requests; cb joins and takes a slot (ca resigns or
 * yields it: dropped once the resign landed), then stops; ca wins the
 * slot back.  Every request deleted then is released: the won-back
 * slot's statuses were skipped by the list (stale revision) and every
 * release compared revision 0 and failed, forever. */
static void test_slot_won_back_releases(void **state)
{
	struct env *e = *state;
	struct census cs;
	pid_t cb;
	int n = 10;
	char id[32];

	start_agent(e, "wb", 1, 64, 100);
	start_ctrl_x(e, "ca", "cached", "controller.coordinators=2");
	submit(e, 0, n, 1);
	if (!await(e, cond_all_placed, &n, 30, &cs)) {
		dump(e, &cs);
		fail_msg("initial placement failed");
	}
	cb = start_ctrl_x(e, "cb", "cached", "controller.coordinators=2");
	for (double t0 = now_s(); !log_has(e, "cb", "acquired");
	     usleep(100 * 1000))
		if (now_s() - t0 > 30)
			fail_msg("cb never took a slot (logs in %s)",
				 e->h->dir);
	stop_pid(e, cb, SIGTERM);
	for (int i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "vm-%d", i);
		del(e, "requests", id);
	}
	if (!await(e, cond_all_gone, NULL, 30, &cs)) {
		dump(e, &cs);
		fail_msg("deleted requests not released");
	}
}


/* ---- host lifecycle (issue 14) ---------------------------------------- */

/* Every assignment and VM state of a test, with its revisions: what an
 * agent restart must leave alone. */
struct snap {
	int n_assign, n_vms;
	char akey[64][96], vkey[64][96];
	int64_t acreate[64], vmod[64];
};

static void snap_take(struct env *e, struct snap *s)
{
	struct etcd_sync_range *r = get_prefix(e, "assign");

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; r && i < r->n_kvs && s->n_assign < 64; i++) {
		snprintf(s->akey[s->n_assign], sizeof(s->akey[0]), "%s",
			 r->kvs[i].key);
		s->acreate[s->n_assign++] = r->kvs[i].create_revision;
	}
	etcd_sync_range_free(r);
	r = get_prefix(e, "vms");
	for (size_t i = 0; r && i < r->n_kvs && s->n_vms < 64; i++) {
		snprintf(s->vkey[s->n_vms], sizeof(s->vkey[0]), "%s",
			 r->kvs[i].key);
		s->vmod[s->n_vms++] = r->kvs[i].mod_revision;
	}
	etcd_sync_range_free(r);
}

/* What changed from a to b: assignments made again or gone (rescheduled),
 * VM states written again (created), VM states gone (deleted). */
struct moved {
	int rescheduled, created, deleted;
};

static struct moved snap_diff(const struct snap *a, const struct snap *b)
{
	struct moved m = {0};

	for (int i = 0; i < a->n_assign; i++) {
		bool same = false;

		for (int j = 0; j < b->n_assign; j++)
			if (strcmp(a->akey[i], b->akey[j]) == 0 &&
			    a->acreate[i] == b->acreate[j])
				same = true;
		m.rescheduled += !same;
	}
	for (int i = 0; i < a->n_vms; i++) {
		int found = -1;

		for (int j = 0; j < b->n_vms; j++)
			if (strcmp(a->vkey[i], b->vkey[j]) == 0)
				found = j;
		if (found < 0)
			m.deleted++;
		else if (b->vmod[found] != a->vmod[i])
			m.created++;
	}
	return m;
}

static bool cond_all_running(struct env *e, struct census *cs, void *arg)
{
	int n = *(int *)arg;
	struct etcd_sync_range *r = get_prefix(e, "vms");
	bool all = r && (int)r->n_kvs == n;

	etcd_sync_range_free(r);
	return all && cs->phase[CTRL_RUNNING] == n && cs->assigns == n &&
	       cs->alloc_vms == n;
}

/* The lease of P/hosts/<host>, 0 if none. */
static int64_t lease_of_host(struct env *e, const char *host)
{
	char key[256];
	struct etcd_range_req rq = {.key = key};
	struct etcd_sync_range *r = NULL;
	int64_t lease = 0;

	snprintf(key, sizeof(key), "%s/hosts/%s", e->prefix, host);
	if (etcd_sync_get(e->c, &rq, &r, NULL) == 0 && r->n_kvs == 1)
		lease = r->kvs[0].lease;
	etcd_sync_range_free(r);
	return lease;
}

struct lease_change {
	const char *host;
	int64_t old;
};

static bool cond_relet(struct env *e, struct census *cs, void *arg)
{
	struct lease_change *lc = arg;
	int64_t now = lease_of_host(e, lc->host);

	(void)cs;
	return now && now != lc->old;
}

static bool cond_key_gone(struct env *e, struct census *cs, void *arg)
{
	struct etcd_sync_range *r = get_prefix(e, arg);
	bool gone = r && r->n_kvs == 0;

	(void)cs;
	etcd_sync_range_free(r);
	return gone;
}

/* The statuses for which is(status, arg) holds. */
static int count_statuses(struct env *e,
			  bool (*is)(const struct ctrl_status *s,
				     const void *arg),
			  const void *arg)
{
	struct etcd_sync_range *r = get_prefix(e, "status");
	int n = 0;

	for (size_t i = 0; r && i < r->n_kvs; i++) {
		struct ctrl_status s;

		if (ctrl_status_parse(r->kvs[i].value, r->kvs[i].value_len,
				      &s, NULL, 0) == 0) {
			n += s.phase == CTRL_RUNNING && s.reason &&
			     is(&s, arg);
			ctrl_status_clear(&s);
		}
	}
	etcd_sync_range_free(r);
	return n;
}

static bool is_disconnected(const struct ctrl_status *s, const void *arg)
{
	(void)arg;
	return strstr(s->reason, "host: disconnected since") != NULL;
}

static bool cond_all_disconnected(struct env *e, struct census *cs,
				  void *arg)
{
	int n = count_statuses(e, is_disconnected, NULL);

	return n == *(int *)arg && cs->assigns == n && cs->alloc_vms == n;
}

/* The agent of host "rs" (20 VMs on rs-0 and rs-1, lease TTL 3 s,
 * lost_after_s 60) stopped with sig and started again, at once or (away)
 * after its host records expired and the statuses say disconnected: the
 * old lease runs out (a marker key under it says when), one more request
 * is placed after that (so the controllers saw whatever the expiry
 * caused), and then nothing was rescheduled, created or deleted. */
static struct moved agent_restart(struct env *e, int sig, bool away)
{
	struct census cs;
	struct snap before, after;
	struct lease_change lc = {.host = "rs-0"};
	char key[256];
	pid_t ag;
	int n = 20, n1 = 21;

	ag = start_agent_ttl(e, "rs", 2, 64, 100, 3);
	start_ctrl_x(e, "ca", "cached", "scheduling.lost_after_s=60");
	submit(e, 0, n, 1);
	if (!await(e, cond_all_running, &n, 30, &cs)) {
		dump(e, &cs);
		fail_msg("initial placement failed");
	}
	snap_take(e, &before);
	lc.old = lease_of_host(e, "rs-0");
	assert_true(lc.old != 0);
	snprintf(key, sizeof(key), "%s/marker/old-lease", e->prefix);
	/* the lease may already be revoked (a put under it fails) */
	stop_pid(e, ag, sig);
	(void)etcd_sync_put(e->c, key, "x", 1, lc.old, NULL, NULL);
	if (away) {
		if (!await(e, cond_none_under, "hosts", 30, &cs))
			fail_msg("the host records did not expire");
		if (!await(e, cond_all_disconnected, &n, 30, &cs)) {
			dump(e, &cs);
			fail_msg("the VMs are not shown disconnected");
		}
		lc.old = 0;
	}
	start_agent_ttl(e, "rs", 2, 64, 100, 3);
	if (!await(e, cond_relet, &lc, 30, &cs))
		fail_msg("the agent did not register again");
	if (!await(e, cond_key_gone, "marker", 30, &cs))
		fail_msg("the old lease did not expire");
	submit(e, n, n1, 1);
	if (!await(e, cond_all_running, &n1, 40, &cs)) {
		dump(e, &cs);
		fail_msg("not settled after the restart");
	}
	snap_take(e, &after);
	return snap_diff(&before, &after);
}

static void test_agent_restart(void **state)
{
	struct moved m = agent_restart(*state, SIGTERM, false);

	fprintf(stderr, "agent restart (SIGTERM): rescheduled %d created %d "
			"deleted %d\n",
		m.rescheduled, m.created, m.deleted);
	assert_int_equal(m.rescheduled, 0);
	assert_int_equal(m.created, 0);
	assert_int_equal(m.deleted, 0);
}

/* kill -9, away past the lease TTL (the host disconnected), back within
 * lost_after_s. */
static void test_agent_killed_back(void **state)
{
	struct moved m = agent_restart(*state, SIGKILL, true);

	fprintf(stderr, "agent kill -9, disconnected and back: rescheduled "
			"%d created %d "
			"deleted %d\n",
		m.rescheduled, m.created, m.deleted);
	assert_int_equal(m.rescheduled, 0);
	assert_int_equal(m.created, 0);
	assert_int_equal(m.deleted, 0);
}

static int count_under(struct env *e, const char *sub, const char *host)
{
	struct etcd_sync_range *r = get_prefix(e, sub);
	char want[128];
	int n = 0;

	snprintf(want, sizeof(want), "%s/%s/%s", e->prefix, sub, host);
	for (size_t i = 0; r && i < r->n_kvs; i++)
		n += strncmp(r->kvs[i].key, want, strlen(want)) == 0;
	etcd_sync_range_free(r);
	return r ? n : -1;
}

static bool cond_moved_off(struct env *e, struct census *cs, void *arg)
{
	int n = *(int *)arg;

	return count_under(e, "assign", "gone-") == 0 &&
	       cs->phase[CTRL_RUNNING] == n && cs->assigns == n &&
	       cs->alloc_vms == n;
}

static bool cond_vms_gone(struct env *e, struct census *cs, void *arg)
{
	(void)cs;
	return count_under(e, "vms", arg) == 0;
}

static bool is_replaced(const struct ctrl_status *s, const void *arg)
{
	(void)arg;
	return strncmp(s->replaced_on, "gone-", 5) == 0 &&
	       strstr(s->reason, "; replaced on gone-") &&
	       strstr(s->reason, "deleted the old VM") != NULL;
}

/* Every status (n) running on safe-N says its VM replaced the one of
 * gone-M, deleted when gone came back. */
static bool cond_replaced(struct env *e, struct census *cs, void *arg)
{
	(void)cs;
	return count_statuses(e, is_replaced, NULL) == *(int *)arg;
}

/* kill -9 of the agent of "gone" (20 VMs), away past lost_after_s (3 s):
 * every VM rescheduled exactly once onto "safe" (attempt 2, one
 * assignment each, alloc the sum of the assignments), and when the agent
 * returns it deletes its old VMs (their assignments are gone) and each
 * status says "replaced on gone-N" (replaced_on names it from the
 * rescheduling on). */
static void test_host_lost_replaced(void **state)
{
	struct env *e = *state;
	struct census cs;
	struct etcd_sync_range *r;
	pid_t ag;
	int n = 20;

	ag = start_agent_ttl(e, "gone", 2, 64, 100, 3);
	start_ctrl_x(e, "ca", "cached", "scheduling.lost_after_s=3");
	submit(e, 0, n, 1);
	if (!await(e, cond_all_running, &n, 30, &cs)) {
		dump(e, &cs);
		fail_msg("initial placement failed");
	}
	start_agent_ttl(e, "safe", 2, 64, 100, 3);
	stop_pid(e, ag, SIGKILL);
	if (!await(e, cond_moved_off, &n, 60, &cs)) {
		dump(e, &cs);
		fail_msg("the lost host's VMs were not rescheduled");
	}
	r = get_prefix(e, "status");
	for (size_t i = 0; r && i < r->n_kvs; i++) {
		struct ctrl_status s;

		assert_int_equal(ctrl_status_parse(r->kvs[i].value,
						   r->kvs[i].value_len, &s,
						   NULL, 0),
				 0);
		assert_int_equal(s.attempt, 2);
		assert_true(strncmp(s.host, "safe-", 5) == 0);
		/* the history: the VM it replaces is still on gone-N */
		assert_true(strncmp(s.replaced_on, "gone-", 5) == 0);
		assert_null(strstr(s.reason, "replaced on"));
		ctrl_status_clear(&s);
	}
	etcd_sync_range_free(r);
	assert_int_equal(count_under(e, "vms", "gone-"), n);
	start_agent_ttl(e, "gone", 2, 64, 100, 3);
	if (!await(e, cond_vms_gone, "gone-", 30, &cs))
		fail_msg("the returning agent kept its replaced VMs");
	if (!await(e, cond_replaced, &n, 20, &cs)) {
		dump(e, &cs);
		fail_msg("the statuses do not say 'replaced on gone-N'");
	}
	census_take(e, &cs);
	assert_true(cond_moved_off(e, &cs, &n));
}

static bool cond_log(struct env *e, struct census *cs, void *arg)
{
	(void)cs;
	return log_has(e, "ca", arg);
}

/* P/hostctl/cd-0 cordoned (before the controller lists): a burst of 12
 * lands on cd-1 and cd-2 only, though cd-0 is the emptiest; uncordon
 * (the key deleted, seen through the watch): the next burst fills cd-0
 * first (spread). */
static void test_cordon(void **state)
{
	struct env *e = *state;
	struct census cs;
	int n = 12, n2 = 18;

	start_hosts(e, "cd", 3, 64, 100);
	put(e, "hostctl", "cd-0",
	    "{\"state\":\"cordoned\",\"by\":\"test\","
	    "\"updated\":\"2026-12-01T00:00:00.000Z\"}");
	start_ctrl(e, "ca", "cached");
	if (!await(e, cond_log, "host cd-0 cordoned", 20, &cs))
		fail_msg("the controller did not see the cordon");
	submit(e, 0, n, 1);
	if (!await(e, cond_all_placed, &n, 30, &cs)) {
		dump(e, &cs);
		fail_msg("burst not placed");
	}
	assert_int_equal(count_under(e, "assign", "cd-0/"), 0);
	assert_int_equal(count_under(e, "assign", "cd-1/") +
			     count_under(e, "assign", "cd-2/"),
			 n);
	del(e, "hostctl", "cd-0");
	if (!await(e, cond_log, "host cd-0 uncordoned", 20, &cs))
		fail_msg("the controller did not see the uncordon");
	submit(e, n, n2, 1);
	if (!await(e, cond_all_placed, &n2, 30, &cs)) {
		dump(e, &cs);
		fail_msg("second burst not placed");
	}
	assert_int_equal(count_under(e, "assign", "cd-0/"), n2 - n);
}

/* ---- drain (issue 14): make-before-break moves, seen in etcd's
 * history ------------------------------------------------------------- */

struct hist_ev {
	int64_t rev;
	bool del;
	char key[128];
	bool running; /* a put whose value says "state":"running" */
};

struct hist {
	struct hist_ev *v;
	size_t n, cap;
	char end[160]; /* the marker key that ends the history */
	bool done;
	struct ev_loop *loop;
};

static void hist_cb(void *arg, const struct etcd_watch_update *u)
{
	struct hist *hs = arg;

	for (size_t i = 0; u->kind == ETCD_WATCH_EVENTS && i < u->n_events;
	     i++) {
		const struct etcd_kv *kv = &u->events[i].kv;
		struct hist_ev *x;

		if (hs->n == hs->cap) {
			hs->cap = hs->cap ? 2 * hs->cap : 256;
			hs->v = realloc(hs->v, hs->cap * sizeof(*hs->v));
			assert_non_null(hs->v);
		}
		x = &hs->v[hs->n++];
		memset(x, 0, sizeof(*x));
		x->rev = kv->mod_revision;
		x->del = u->events[i].type == ETCD_EVENT_DELETE;
		snprintf(x->key, sizeof(x->key), "%.*s", (int)kv->key_len,
			 kv->key);
		x->running = !x->del && kv->value_len &&
			     memmem(kv->value, kv->value_len,
				    "\"state\":\"running\"", 17);
		if (strcmp(x->key, hs->end) == 0)
			hs->done = true;
	}
	if (hs->done || u->kind == ETCD_WATCH_FAILED ||
	    u->kind == ETCD_WATCH_COMPACTED)
		ev_break(hs->loop, EVBREAK_ALL);
}

static void hist_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Every event under the test's prefix from revision from on, up to a
 * marker key put now. */
static void hist_read(struct env *e, int64_t from, struct hist *hs)
{
	char pfx[96];
	struct etcd_watch_req rq = {.key = pfx, .prefix = true,
				    .start_revision = from};
	etcd_watch *w = NULL;
	ev_timer to;

	memset(hs, 0, sizeof(*hs));
	hs->loop = e->loop;
	snprintf(pfx, sizeof(pfx), "%s/", e->prefix);
	snprintf(hs->end, sizeof(hs->end), "%s/marker/history-end", e->prefix);
	put(e, "marker", "history-end", "x");
	assert_int_equal(etcd_watch_start(e->c, &rq, hist_cb, hs, &w), 0);
	ev_timer_init(&to, hist_timeout, 20, 0);
	ev_timer_start(e->loop, &to);
	while (!hs->done && ev_is_active(&to))
		ev_run(e->loop, EVRUN_ONCE);
	ev_timer_stop(e->loop, &to);
	etcd_watch_cancel(w);
	assert_true(hs->done);
}

/* The revision etcd is at now. */
static int64_t etcd_rev(struct env *e)
{
	struct etcd_sync_range *r = get_prefix(e, "requests");
	int64_t rev;

	assert_non_null(r);
	rev = r->revision;
	etcd_sync_range_free(r);
	return rev;
}

#define DRAIN_IDS 16

struct drain_check {
	int max_inflight;   /* moves off the host at once, at most */
	int moved;          /* originals deleted with a replacement */
	int early;          /* originals deleted before their replacement ran */
	int bbm;            /* originals deleted with no replacement */
};

/* Replays hs for the VMs vm-0 .. vm-<n-1> drained off host: per
 * revision, the moves in flight (an id assigned on host and on another
 * host); at each delete of an original, whether its replacement's VM was
 * reported running before. */
static void drain_replay(const struct env *e, const struct hist *hs,
			 const char *host, int n, struct drain_check *dc)
{
	char on_host[DRAIN_IDS] = {0}, other[DRAIN_IDS][32] = {{0}};
	bool other_running[DRAIN_IDS] = {0};
	char ap[160], vp[160];
	size_t ap_len, vp_len;

	memset(dc, 0, sizeof(*dc));
	snprintf(ap, sizeof(ap), "%s/assign/", e->prefix);
	snprintf(vp, sizeof(vp), "%s/vms/", e->prefix);
	ap_len = strlen(ap);
	vp_len = strlen(vp);
	for (int i = 0; i < n; i++)
		on_host[i] = 1; /* placed on host before the history */
	for (size_t i = 0; i < hs->n; i++) {
		const struct hist_ev *x = &hs->v[i];
		char h[64], id[64];
		int k, inflight = 0;
		bool asg = strncmp(x->key, ap, ap_len) == 0;

		if (!asg && strncmp(x->key, vp, vp_len) != 0)
			continue;
		if (sscanf(x->key + (asg ? ap_len : vp_len),
			   "%63[^/]/vm-%d", h, &k) != 2 ||
		    k < 0 || k >= n)
			continue;
		snprintf(id, sizeof(id), "vm-%d", k);
		if (asg && strcmp(h, host) == 0) {
			if (x->del) {
				if (!other[k][0])
					dc->bbm++;
				else if (other_running[k])
					dc->moved++;
				else
					dc->early++;
			}
			on_host[k] = !x->del;
		} else if (asg) {
			snprintf(other[k], sizeof(other[k]), "%s",
				 x->del ? "" : h);
			other_running[k] = false;
		} else if (other[k][0] && strcmp(h, other[k]) == 0) {
			other_running[k] = x->running;
		}
		/* a txn's events share its revision: count after its last */
		if (i + 1 < hs->n && hs->v[i + 1].rev == x->rev)
			continue;
		for (int j = 0; j < n; j++)
			inflight += on_host[j] && other[j][0];
		if (inflight > dc->max_inflight)
			dc->max_inflight = inflight;
	}
}

/* test/tools/fscheck.py on the test's prefix: 0 when every invariant
 * holds. */
static int fscheck(struct env *e)
{
	size_t cap = 4 << 20;
	char *out = malloc(cap), pfx[96], path[512], cmd[1024];
	FILE *f;
	int rc;

	assert_non_null(out);
	snprintf(pfx, sizeof(pfx), "%s/", e->prefix);
	rc = etcd_harness_ctl(e->h, out, cap, "get", "--prefix", pfx, "-w",
			      "json", NULL);
	assert_int_equal(rc, 0);
	snprintf(path, sizeof(path), "%s/t%d-state.json", e->h->dir, test_no);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(out, f);
	fclose(f);
	free(out);
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 test/tools/fscheck.py --prefix %s %s >&2",
		 e->prefix, path);
	return system(cmd);
}

struct drain_want {
	const char *host; /* drained */
	int stay;         /* VMs left on it */
	int n;            /* VMs in all, each running with one assignment */
};

static bool cond_drained(struct env *e, struct census *cs, void *arg)
{
	struct drain_want *w = arg;
	char h[80];

	snprintf(h, sizeof(h), "%s/", w->host);
	return count_under(e, "assign", h) == w->stay &&
	       count_under(e, "vms", h) == w->stay &&
	       cs->phase[CTRL_RUNNING] == w->n && cs->assigns == w->n &&
	       cs->alloc_vms == w->n;
}

struct inflight_want {
	const char *host;
	int moves, assigns;
};

/* P/drain/<host> lists moves ids, with as many extra assignments. */
static bool cond_inflight(struct env *e, struct census *cs, void *arg)
{
	struct inflight_want *w = arg;
	struct etcd_sync_range *r = get_prefix(e, "drain");
	int ids = -1;

	for (size_t i = 0; r && i < r->n_kvs; i++)
		if (strstr(r->kvs[i].key, w->host)) {
			ids = 0;
			for (const char *p = r->kvs[i].value;
			     (p = memmem(p, r->kvs[i].value_len -
						(size_t)(p - r->kvs[i].value),
					 "\"vm-", 4));
			     p += 4)
				ids++;
		}
	etcd_sync_range_free(r);
	return ids == w->moves && cs->assigns == w->assigns;
}

/* 10 VMs placed on host dr-0 (by controller ca, and cb with ret_cb;
 * their pids there), then an agent of hosts to-0..to-<n-1> (max_vms
 * each, lease TTL 30 s) registered: its pid. */
static pid_t drain_setup(struct env *e, pid_t *ret_ca, pid_t *ret_cb, int n,
			 int max_vms, const char *ca_set)
{
	struct census cs;
	int vms = 10, hosts = n + 1;
	pid_t to, ca;

	start_agent(e, "dr", 1, 64, 100);
	ca = start_ctrl_x(e, "ca", "cached", ca_set);
	if (ret_cb)
		*ret_cb = start_ctrl(e, "cb", "cached");
	if (ret_ca)
		*ret_ca = ca;
	submit(e, 0, vms, 1);
	if (!await(e, cond_all_running, &vms, 30, &cs)) {
		dump(e, &cs);
		fail_msg("initial placement failed");
	}
	to = start_agent_ttl(e, "to", n, 64, max_vms, 30);
	if (!await(e, cond_hosts, &hosts, 30, &cs))
		fail_msg("the hosts to-N did not register");
	return to;
}

/* vm-0 .. vm-<n-1> each run on a host to-N at attempt 2, no move left
 * in their status, whose reason holds reason (NULL: any). */
static void check_moved(struct env *e, int n, const char *reason)
{
	struct ctrl_status s;

	for (int i = 0; i < n; i++) {
		char id[16];

		snprintf(id, sizeof(id), "vm-%d", i);
		assert_true(status_of(e, id, &s));
		assert_int_equal(s.phase, CTRL_RUNNING);
		assert_true(strncmp(s.host, "to-", 3) == 0);
		assert_int_equal(s.attempt, 2);
		assert_string_equal(s.moving_to, "");
		if (reason)
			assert_non_null(strstr(s.reason, reason));
		ctrl_status_clear(&s);
	}
}

/* 10 VMs on dr-0, placed by two controllers (3 slots between them),
 * then hosts to-0 and to-1 (lease TTL 30 s) whose agent is stopped: a
 * drain with max_parallel 2 starts exactly 2 moves, of every slot
 * together (both assignments held, P/drain/dr-0 lists 2), and no more
 * while the replacements cannot run.  Both controllers are then killed
 * mid-move and a third takes every slot over from etcd alone; the agent
 * continued, all 10 move.  etcd's history says: never more than 2 moves
 * in flight, and every original deleted only after its replacement's VM
 * was running; at the end dr-0 holds nothing and every invariant holds
 * (fscheck.py). */
static void test_drain_moves(void **state)
{
	struct env *e = *state;
	struct census cs;
	struct hist hs;
	struct drain_check dc;
	struct drain_want dw = {.host = "dr-0", .stay = 0, .n = 10};
	struct inflight_want iw = {.host = "dr-0", .moves = 2, .assigns = 12};
	int n = 10;
	int64_t from;
	pid_t ca, cb, to = drain_setup(e, &ca, &cb, 2, 100, NULL);

	stop_pid(e, to, SIGSTOP);
	from = etcd_rev(e) + 1;
	put(e, "hostctl", "dr-0",
	    "{\"state\":\"drain\",\"max_parallel\":2,\"by\":\"test\"}");
	if (!await(e, cond_inflight, &iw, 20, &cs)) {
		dump(e, &cs);
		fail_msg("the drain did not start 2 moves");
	}
	stop_pid(e, ca, SIGKILL);
	stop_pid(e, cb, SIGKILL);
	start_ctrl(e, "cc", "cached");
	stop_pid(e, to, SIGCONT);
	if (!await(e, cond_drained, &dw, 30, &cs)) {
		dump(e, &cs);
		fail_msg("dr-0 was not drained");
	}
	hist_read(e, from, &hs);
	drain_replay(e, &hs, "dr-0", n, &dc);
	free(hs.v);
	fprintf(stderr,
		"drain: %d moved, %d deleted early, %d break-before-make, "
		"at most %d in flight\n",
		dc.moved, dc.early, dc.bbm, dc.max_inflight);
	assert_int_equal(dc.moved, n);
	assert_int_equal(dc.early, 0);
	assert_int_equal(dc.bbm, 0);
	assert_int_equal(dc.max_inflight, 2);
	check_moved(e, n, "moved from dr-0");
	assert_int_equal(fscheck(e), 0);
}

struct reason_want {
	const char *host, *reason;
	int n;
};

static bool is_reason(const struct ctrl_status *s, const void *arg)
{
	const struct reason_want *w = arg;

	return strcmp(s->host, w->host) == 0 &&
	       strstr(s->reason, w->reason) != NULL;
}

/* n statuses running on host whose reason holds reason. */
static bool cond_reasons(struct env *e, struct census *cs, void *arg)
{
	struct reason_want *w = arg;

	(void)cs;
	return count_statuses(e, is_reason, w) == w->n;
}

/* The body of url's /metrics into buf once metric name says want (etcd
 * has a txn's writes before the controller has its answer), at most
 * 10 s. */
static void await_metric(const char *url, const char *name, long long want,
			 char *buf, size_t cap)
{
	for (double until = now_s() + 10; now_s() < until; usleep(50000))
		if (httptest_get(url, buf, cap) == 200 &&
		    metric(buf, name) == want)
			return;
}

/* 10 VMs on dr-0, room for 7 more on to-0 (max_vms 7): a drain moves 7
 * and leaves 3 running on dr-0, each status saying why; a host that
 * joins then takes them (the drain looks again on a capacity change). */
static void test_drain_nofit(void **state)
{
	struct env *e = *state;
	struct census cs;
	struct reason_want rw = {.host = "dr-0", .n = 3,
				 .reason = "draining dr-0: no other host fits "
					   "(max_vms reached: 1 of 2 hosts)"};
	struct drain_want dw = {.host = "dr-0", .stay = 3, .n = 10};
	char listen[64], url[128], buf[16384];
	int port = httptest_free_port();

	assert_true(port > 0);
	snprintf(listen, sizeof(listen), "http.listen=127.0.0.1:%d", port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	drain_setup(e, NULL, NULL, 1, 7, listen);
	put(e, "hostctl", "dr-0", "{\"state\":\"drain\",\"max_parallel\":3}");
	if (!await(e, cond_drained, &dw, 30, &cs) ||
	    !await(e, cond_reasons, &rw, 10, &cs)) {
		dump(e, &cs);
		fail_msg("the 3 VMs that fit nowhere do not say why");
	}
	assert_int_equal(count_under(e, "assign", "to-0/"), 7);
	await_metric(url, "flintsched_controller_drain_moves_total", 7, buf,
		     sizeof(buf));
	assert_int_equal(metric(buf, "flintsched_controller_hosts_draining"),
			 1);
	assert_int_equal(metric(buf, "flintsched_controller_vms_draining"), 3);
	assert_int_equal(metric(buf, "flintsched_controller_drain_moves_total"),
			 7);
	assert_int_equal(
	    metric(buf, "flintsched_controller_drain_moves_inflight"), 0);
	start_agent(e, "more", 1, 64, 100);
	dw.stay = 0;
	if (!await(e, cond_drained, &dw, 30, &cs)) {
		dump(e, &cs);
		fail_msg("the 3 did not move to the host that joined");
	}
	assert_int_equal(count_under(e, "assign", "more-0/"), 3);
	await_metric(url, "flintsched_controller_drain_moves_total", 10, buf,
		     sizeof(buf));
	assert_int_equal(metric(buf, "flintsched_controller_vms_draining"), 0);
	assert_int_equal(metric(buf, "flintsched_controller_drain_moves_total"),
			 10);
	assert_int_equal(fscheck(e), 0);
}

/* Puts the drain hostctl on dr-0, waits until it holds nothing (10 VMs
 * running elsewhere), and replays etcd's history of it into dc. */
static void drain_run(struct env *e, const char *hostctl,
		      struct drain_check *dc)
{
	struct census cs;
	struct hist hs;
	struct drain_want dw = {.host = "dr-0", .stay = 0, .n = 10};
	int64_t from = etcd_rev(e) + 1;

	put(e, "hostctl", "dr-0", hostctl);
	if (!await(e, cond_drained, &dw, 30, &cs)) {
		dump(e, &cs);
		fail_msg("dr-0 was not drained (%s)", hostctl);
	}
	hist_read(e, from, &hs);
	drain_replay(e, &hs, "dr-0", dw.n, dc);
	free(hs.v);
}

/* A drain whose deadline has passed: every VM of dr-0 is released
 * break-before-make (the original's assignment deleted before any
 * other), placed again on to-0/to-1 (attempt 2), and nothing is left on
 * dr-0. */
static void test_drain_deadline(void **state)
{
	struct env *e = *state;
	struct drain_check dc;
	int n = 10;

	drain_setup(e, NULL, NULL, 2, 100, NULL);
	drain_run(e,
		  "{\"state\":\"drain\",\"max_parallel\":1,"
		  "\"deadline\":\"2020-01-01T00:00:00.000Z\"}",
		  &dc);
	fprintf(stderr, "drain past the deadline: %d moved, %d "
			"break-before-make\n",
		dc.moved, dc.bbm);
	assert_int_equal(dc.bbm, n);
	assert_int_equal(dc.moved + dc.early, 0);
	check_moved(e, n, NULL);
	assert_true(log_has(e, "ca", "released past the deadline"));
	assert_int_equal(fscheck(e), 0);
}

/* The replacement fails: host bad-0 (the emptiest, so moves try it
 * while it scores best) fails every create.  Each replacement there is
 * released, the status goes back to the original alone with bad-0 in
 * avoid, and the move is made to to-0 instead: every original deleted
 * only after a replacement ran, one move at a time (max_parallel's
 * default), and all end on to-0. */
static void test_drain_abort(void **state)
{
	struct env *e = *state;
	struct census cs;
	struct drain_check dc;
	struct ctrl_status s;
	int n = 10, three = 3, tried = 0;

	drain_setup(e, NULL, NULL, 1, 100, NULL);
	start_agent_exec(e, "bad", 1, 128, 100, 30,
			 "echo 'no room at the inn' >&2; exit 1");
	if (!await(e, cond_hosts, &three, 30, &cs))
		fail_msg("host bad-0 did not register");
	drain_run(e, "{\"state\":\"drain\"}", &dc);
	assert_int_equal(dc.moved, n);
	assert_int_equal(dc.early + dc.bbm, 0);
	assert_int_equal(dc.max_inflight, 1);
	for (int i = 0; i < n; i++) {
		char id[16];

		snprintf(id, sizeof(id), "vm-%d", i);
		assert_true(status_of(e, id, &s));
		assert_string_equal(s.host, "to-0");
		tried += ctrl_status_avoids(&s, "bad-0");
		ctrl_status_clear(&s);
	}
	fprintf(stderr, "drain: %d of %d moves failed on bad-0 first\n", tried,
		n);
	assert_true(tried > 0);
	assert_true(log_has(e, "ca",
			    "replacement on bad-0 failed: create command "
			    "exited 1"));
	assert_int_equal(fscheck(e), 0);
}

/* Placement constraints (issue 18) under a burst, K = 3 over 3
 * controllers: 6 hosts in zones a, b, c (hosts za-0, za-1, ...).  In one
 * burst: group db (anti_affinity by zone) of 4, of which 3 fit, one per
 * zone, and the 4th is refused naming the rule; group ha (anti_affinity
 * by host) of 6, one per host; group web (topology_spread by zone) of 30,
 * 10 per zone.  The groups' members have ids of every slot: each group
 * is placed by its group's coordinator. */
/* VMs of group under P/alloc/: per zone (hosts z<zone>-<i>), and the
 * most on one host. */
static void group_count(struct env *e, const char *group, int64_t zone[3],
			int64_t *ret_max)
{
	struct etcd_sync_range *r = get_prefix(e, "alloc");

	assert_non_null(r);
	zone[0] = zone[1] = zone[2] = *ret_max = 0;
	for (size_t i = 0; i < r->n_kvs; i++) {
		const char *k = r->kvs[i].key;
		int z = k[strlen(k) - 3] - 'a'; /* .../alloc/za-0 */
		struct fs_alloc a;
		int64_t n;

		assert_true(z >= 0 && z < 3);
		assert_int_equal(fs_alloc_parse(r->kvs[i].value,
						r->kvs[i].value_len, &a, NULL,
						0),
				 0);
		n = fs_alloc_group_vms(&a, group);
		zone[z] += n;
		*ret_max = n > *ret_max ? n : *ret_max;
		fs_alloc_clear(&a);
	}
	etcd_sync_range_free(r);
}

/* ha-4's status placed at a request_rev above *arg. */
static bool cond_rewritten(struct env *e, struct census *cs, void *arg)
{
	struct ctrl_status st;
	bool ok;

	(void)cs;
	if (!status_of(e, "ha-4", &st))
		return false;
	ok = st.request_rev > *(int64_t *)arg &&
	     (st.phase == CTRL_RUNNING || st.phase == CTRL_SCHEDULED);
	ctrl_status_clear(&st);
	return ok;
}

static void test_constraints_burst(void **state)
{
	struct env *e = *state;
	int64_t moved_from_rev, ha[3], hb[3], db[3], web[3], mx;
	static const char *const zones[] = {"a", "b", "c"};
	int n = 3 + 6 + 30, hosts = 6;
	struct ctrl_status st;
	struct census cs;
	char id[32], val[768], lab[64], host[16];

	for (int z = 0; z < 3; z++) {
		snprintf(lab, sizeof(lab), "agent.labels={zone: %s}", zones[z]);
		snprintf(host, sizeof(host), "z%s", zones[z]);
		start_agent_x(e, host, 2, 16, 16, 2, lab);
	}
	assert_true(await(e, cond_hosts, &hosts, 30, &cs));
	for (int i = 0; i < 40; i++) {
		const char *sch =
		    i < 4 ? "\"anti_affinity\":{\"group\":\"db\","
			    "\"scope\":\"zone\"}"
		    : i < 10 ? "\"anti_affinity\":{\"group\":\"ha\"}"
			     : "\"topology_spread\":{\"group\":\"web\","
			       "\"key\":\"zone\",\"max_skew\":1}";

		snprintf(id, sizeof(id), "%s-%d",
			 i < 4 ? "db" : i < 10 ? "ha" : "web", i);
		snprintf(val, sizeof(val),
			 "{\"vcpu\":1,\"memoryInMb\":1024," FS_SPEC_EXAMPLE
			 ",\"scheduling\":{%s}}",
			 sch);
		put(e, "requests", id, val);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		start_ctrl_x(e, id, "cached", "controller.coordinators=3");
	}
	struct want w = {.running = n, .unsched = 1, .assigns = n};
	if (!await(e, cond_want, &w, 30, &cs)) {
		dump(e, &cs);
		fail_msg("the burst was not placed as the rules allow");
	}
	group_count(e, "ha", ha, &mx);
	assert_int_equal(ha[0] + ha[1] + ha[2], 6);
	assert_int_equal(mx, 1); /* one per host */
	group_count(e, "db", db, &mx);
	group_count(e, "web", web, &mx);
	for (int z = 0; z < 3; z++) {
		if (db[z] != 1 || web[z] != 10)
			fail_msg("zone %s: %lld of db (want 1), %lld of web "
				 "(want 10)",
				 zones[z], (long long)db[z], (long long)web[z]);
	}
	/* the one left over says which rule, counted per host */
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "db-%d", i);
		assert_true(status_of(e, id, &st));
		if (st.phase == CTRL_UNSCHEDULABLE) {
			int64_t refused = 0;

			for (size_t j = 0; j < st.explain.n_rejected; j++) {
				assert_non_null(strstr(
				    st.explain.rejected[j].reason,
				    "anti_affinity db: a VM of db in zone="));
				refused += st.explain.rejected[j].count;
			}
			assert_int_equal(refused, hosts);
		}
		ctrl_status_clear(&st);
	}
	/* A rewrite into another group moves the request to that group's
	 * slot (ha: 0, hb: 1 of 3): placed again once, by the new slot's
	 * coordinator, the old placement released. */
	assert_true(status_of(e, "ha-4", &st));
	moved_from_rev = st.request_rev;
	ctrl_status_clear(&st);
	snprintf(val, sizeof(val),
		 "{\"vcpu\":1,\"memoryInMb\":1024," FS_SPEC_EXAMPLE
		 ",\"scheduling\":{\"anti_affinity\":{\"group\":\"hb\"}}}");
	put(e, "requests", "ha-4", val);
	if (!await(e, cond_rewritten, &moved_from_rev, 20, &cs)) {
		dump(e, &cs);
		fail_msg("ha-4 was not placed again in its new group's slot");
	}
	if (!await(e, cond_want, &w, 20, &cs)) {
		dump(e, &cs);
		fail_msg("after the move: not one assignment per request");
	}
	group_count(e, "ha", ha, &mx);
	group_count(e, "hb", hb, &mx);
	assert_int_equal(ha[0] + ha[1] + ha[2], 5);
	assert_int_equal(hb[0] + hb[1] + hb[2], 1);
	/* Deleting gives the groups back too (a count left behind would
	 * refuse the next member for ever): db and ha first, on hosts
	 * that keep VMs of web, then the rest. */
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "%s-%d",
			 i < 4 ? "db" : i < 10 ? "ha" : "web", i);
		if (i == 10) {
			w = (struct want){.running = 30, .assigns = 30};
			if (!await(e, cond_want, &w, 20, &cs)) {
				dump(e, &cs);
				fail_msg("db and ha not released");
			}
			group_count(e, "db", db, &mx);
			group_count(e, "ha", ha, &mx);
			group_count(e, "hb", hb, &mx);
			group_count(e, "web", web, &mx);
			assert_int_equal(db[0] + db[1] + db[2] + ha[0] +
					     ha[1] + ha[2] + hb[0] + hb[1] +
					     hb[2],
					 0);
			assert_int_equal(web[0] + web[1] + web[2], 30);
		}
		del(e, "requests", id);
	}
	if (!await(e, cond_none_under, "alloc", 20, &cs)) {
		dump(e, &cs);
		fail_msg("allocations left after every request was deleted");
	}
}

/* Every member g-0..g-<n-1> in phase with a reason holding text. */
struct gang_want {
	int n;
	enum ctrl_phase phase;
	const char *text;
};

/* flintschedctl -c (a controller config with max_victims 2) plan of a
 * request of vcpu and scheduling sched (a JSON object's inside): its
 * stdout into out, its exit code returned. */
static int plan_out(struct env *e, const char *id, int vcpu, const char *sched,
		    char *out, size_t len)
{
	char cfg[512], req[512], cmd[2048];
	size_t n = 0;
	FILE *f;
	int rc;

	snprintf(cfg, sizeof(cfg), "%s/t%d-plan.yaml", e->h->dir, test_no);
	f = fopen(cfg, "w");
	assert_non_null(f);
	fprintf(f,
		"etcd:\n  endpoints: [%s]\n  prefix: %s\n"
		"controller:\n  coordinators: 2\n"
		"scheduling:\n  preemption:\n    max_victims: 2\n",
		e->h->endpoint, e->prefix);
	fclose(f);
	snprintf(req, sizeof(req), "%s/t%d-%s.json", e->h->dir, test_no, id);
	f = fopen(req, "w");
	assert_non_null(f);
	fprintf(f,
		"{\"vcpu\":%d,\"memoryInMb\":1024," FS_SPEC_EXAMPLE
		",\"scheduling\":{%s}}",
		vcpu, sched);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s/flintschedctl -c %s plan --id %s %s",
		 bindir(), cfg, id, req);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (n + 1 < len && fgets(out + n, (int)(len - n), f))
		n += strlen(out + n);
	out[n] = '\0';
	rc = pclose(f);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool cond_gang(struct env *e, struct census *cs, void *arg)
{
	const struct gang_want *w = arg;
	bool ok = true;

	(void)cs;
	for (int i = 0; i < w->n && ok; i++) {
		struct ctrl_status st;
		char id[16];

		snprintf(id, sizeof(id), "g-%d", i);
		if (!status_of(e, id, &st))
			return false;
		ok = st.phase == w->phase && st.reason &&
		     strstr(st.reason, w->text);
		ctrl_status_clear(&st);
	}
	return ok;
}

#define GANG_JOB "\"gang\":{\"name\":\"job\",\"size\":3}"

static void put_gang(struct env *e, int i)
{
	char id[16], val[512];

	snprintf(id, sizeof(id), "g-%d", i);
	snprintf(val, sizeof(val),
		 "{\"vcpu\":1,\"memoryInMb\":1024," FS_SPEC_EXAMPLE
		 ",\"scheduling\":{\"gang\":{\"name\":\"job\",\"size\":3}}}");
	put(e, "requests", id, val);
}

/* A gang of 3 (its members in every slot of 3): 2 submitted wait and say
 * so; all 3 on 2 hosts of one VM each place none and say why; once a
 * third host joins, all 3 are placed in one txn (one create revision). */
static void test_gang(void **state)
{
	struct env *e = *state;
	struct gang_want w2 = {2, CTRL_PENDING, "gang job: 2 of 3 submitted"},
			 w3 = {3, CTRL_UNSCHEDULABLE,
			       "gang job does not fit as a whole: "};
	struct etcd_sync_range *r;
	struct census cs;
	char name[8], out[4096];
	int n = 3;

	start_hosts(e, "gg", 2, 8, 1);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		start_ctrl_x(e, name, "sample", "controller.coordinators=3");
	}
	assert_int_equal(plan_out(e, "g-0", 1, GANG_JOB, out, sizeof(out)), 1);
	if (!strstr(out, "gang job: 1 of 3 submitted (this one included)"))
		fail_msg("plan: %s", out);
	put_gang(e, 0);
	put_gang(e, 1);
	if (!await(e, cond_gang, &w2, 20, &cs)) {
		dump(e, &cs);
		fail_msg("2 of a gang of 3 do not say they wait");
	}
	assert_int_equal(cs.assigns, 0);
	/* plan rates the gang as a whole with the two put: 2 of 3 fit */
	assert_int_equal(plan_out(e, "g-2", 1, GANG_JOB, out, sizeof(out)), 1);
	if (!strstr(out, "gang job does not fit as a whole: g-2 has no host "
			 "with the others placed"))
		fail_msg("plan: %s", out);
	put_gang(e, 2);
	if (!await(e, cond_gang, &w3, 20, &cs)) {
		dump(e, &cs);
		fail_msg("a gang that does not fit does not say so");
	}
	assert_int_equal(cs.assigns, 0);
	assert_int_equal(cs.alloc_vms, 0);
	start_agent(e, "gh", 1, 8, 1);
	if (!await(e, cond_all_placed, &n, 20, &cs)) {
		dump(e, &cs);
		fail_msg("the gang was not placed once a host joined");
	}
	r = get_prefix(e, "assign");
	assert_non_null(r);
	assert_int_equal(r->n_kvs, 3);
	assert_int_equal(r->kvs[0].create_revision, r->kvs[1].create_revision);
	assert_int_equal(r->kvs[0].create_revision, r->kvs[2].create_revision);
	etcd_sync_range_free(r);
}

/* ---- preemption (issue 18 item 4) ------------------------------------ */

struct preempt_want {
	const char *id;
	enum ctrl_phase phase; /* CTRL_SCHEDULED: scheduled or running */
	const char *host;      /* NULL: any */
	const char *text;      /* in its reason, or NULL */
};

static bool cond_preempt(struct env *e, struct census *cs, void *arg)
{
	const struct preempt_want *w = arg;
	bool ok = true;

	(void)cs;
	for (; w->id && ok; w++) {
		struct ctrl_status st;

		if (!status_of(e, w->id, &st))
			return false;
		ok = (w->phase == CTRL_SCHEDULED
			  ? st.phase == CTRL_SCHEDULED ||
				st.phase == CTRL_RUNNING
			  : st.phase == w->phase) &&
		     (!w->host || strcmp(st.host, w->host) == 0) &&
		     (!w->text || (st.reason && strstr(st.reason, w->text)));
		ctrl_status_clear(&st);
	}
	return ok;
}

static void put_prio(struct env *e, const char *id, int vcpu, int prio,
		     bool preemptible)
{
	char val[512];

	snprintf(val, sizeof(val),
		 "{\"vcpu\":%d,\"memoryInMb\":1024," FS_SPEC_EXAMPLE
		 ",\"scheduling\":{\"priority\":%d,\"preemptible\":%s}}",
		 vcpu, prio, preemptible ? "true" : "false");
	put(e, "requests", id, val);
}

/* A host of 4 vCPU joins (agent host): back holds, all n are placed and
 * fscheck's invariants hold (what: the preempted VMs, for the message). */
static void placed_again(struct env *e, const char *host,
			 struct preempt_want *back, int n, const char *what)
{
	struct census cs;

	start_agent(e, host, 1, 4, 8);
	if (!await(e, cond_preempt, back, 20, &cs) ||
	    !await(e, cond_all_placed, &n, 20, &cs)) {
		dump(e, &cs);
		fail_msg("%s were not placed again", what);
	}
	assert_int_equal(fscheck(e), 0);
}

/* One host of 4 vCPU full of 1-vCPU VMs: lo-0 not preemptible, lo-1 of
 * priority 1, lo-2 and lo-3 of priority 0.  hi (2 vCPU, priority 10)
 * fits nowhere and evicts exactly lo-2 and lo-3 (the fewest, then the
 * lowest priority; max_victims 3) in the txn that places it; they say
 * "preempted by hi" and wait, unschedulable, for room; once a host
 * joins they are placed there.  One controller leads the 3 slots, so
 * the txn fences each slot it writes. */
static void preempt_run(struct env *e, const char *bidding)
{
	struct preempt_want full[] = {{"lo-0", CTRL_SCHEDULED, "pp-0", NULL},
				      {"lo-1", CTRL_SCHEDULED, "pp-0", NULL},
				      {"lo-2", CTRL_SCHEDULED, "pp-0", NULL},
				      {"lo-3", CTRL_SCHEDULED, "pp-0", NULL},
				      {NULL, 0, NULL, NULL}},
			    after[] = {{"hi", CTRL_SCHEDULED, "pp-0",
					"by preempting 2 VM(s)"},
				       {"lo-0", CTRL_SCHEDULED, "pp-0", NULL},
				       {"lo-1", CTRL_SCHEDULED, "pp-0", NULL},
				       {"lo-2", CTRL_UNSCHEDULABLE, NULL,
					"preempted by hi"},
				       {"lo-3", CTRL_UNSCHEDULABLE, NULL,
					"preempted by hi"},
				       {NULL, 0, NULL, NULL}},
			    back[] = {{"hi", CTRL_SCHEDULED, "pp-0", NULL},
				      {"lo-2", CTRL_SCHEDULED, "pq-0", NULL},
				      {"lo-3", CTRL_SCHEDULED, "pq-0", NULL},
				      {NULL, 0, NULL, NULL}};
	struct census cs;
	int n = 5;

	start_hosts(e, "pp", 1, 4, 8);
	start_ctrl_x(e, "ca", bidding, "scheduling.preemption.max_victims=3");
	put_prio(e, "lo-0", 1, 0, false);
	put_prio(e, "lo-1", 1, 1, true);
	put_prio(e, "lo-2", 1, 0, true);
	put_prio(e, "lo-3", 1, 0, true);
	if (!await(e, cond_preempt, full, 20, &cs)) {
		dump(e, &cs);
		fail_msg("the low-priority VMs were not placed");
	}
	put_prio(e, "hi", 2, 10, true);
	if (!await(e, cond_preempt, after, 20, &cs)) {
		dump(e, &cs);
		fail_msg("hi did not preempt exactly lo-2 and lo-3");
	}
	census_take(e, &cs); /* await's was taken before cond read */
	assert_int_equal(cs.assigns, 3);
	assert_int_equal(cs.alloc_vcpu, 4);
	assert_true(log_has(e, "ca", "preempt: hi placed on pp-0"));
	assert_int_equal(fscheck(e), 0);
	placed_again(e, "pq", back, n, "the preempted VMs");
}

static void test_preempt(void **state)
{
	preempt_run(*state, "cached");
}

/* The same in sample mode: the request fits no candidate at plan time
 * (rounds.c), where it would go unschedulable. */
static void test_preempt_sample(void **state)
{
	preempt_run(*state, "sample");
}

/* The controller leading slot i as etcd says (its oldest candidacy's
 * value), into name; false when none. */
static bool slot_leader(struct env *e, unsigned i, char *name, size_t len)
{
	char sub[64];
	struct etcd_sync_range *r;
	const struct etcd_sync_kv *best = NULL;

	snprintf(sub, sizeof(sub), "election/slot-%u", i);
	r = get_prefix(e, sub);
	for (size_t j = 0; r && j < r->n_kvs; j++)
		if (!best || r->kvs[j].create_revision < best->create_revision)
			best = &r->kvs[j];
	if (best)
		snprintf(name, len, "%.*s", (int)best->value_len, best->value);
	etcd_sync_range_free(r);
	return best != NULL;
}

/* "<stem><n>" of slot (of 2), the skip-th such, into out. */
static void id_of_slot(char *out, size_t len, const char *stem, unsigned slot,
		       unsigned skip)
{
	assert_true(slotid_of(out, len, stem, slot, 2, skip));
}

/* Issue 18, victims of another coordinator's slot: K = 2 over ca and cb,
 * one leading each slot.  One host of 4 vCPU runs x and y (2 vCPU,
 * priority 0) of one slot; hi (4 vCPU, priority 10) of the other slot
 * fits nowhere, and its coordinator reads x's and y's status and
 * assignment and evicts both in the txn that places hi.  Their own
 * coordinator learns of it when their VMs go (its cache still held
 * them placed), says so (unschedulable, "preempted by hi"), and places
 * them again once a host joins.  fscheck's invariants hold throughout. */
static void test_preempt_other_slot(void **state)
{
	struct env *e = *state;
	char l0[64] = "", l1[64] = "", x[16], y[16], hi[16], lx[64], lh[64];
	char out[4096];
	struct census cs;
	bool split = false;
	int n = 3;

	start_hosts(e, "px", 1, 4, 8);
	start_ctrl_xx(e, "ca", "cached", "scheduling.preemption.max_victims=2",
		      "controller.coordinators=2");
	start_ctrl_xx(e, "cb", "cached", "scheduling.preemption.max_victims=2",
		      "controller.coordinators=2");
	for (double t0 = now_s(); !split && now_s() - t0 < 20;
	     usleep(100 * 1000))
		split = slot_leader(e, 0, l0, sizeof(l0)) &&
			slot_leader(e, 1, l1, sizeof(l1)) &&
			strcmp(l0, l1) != 0;
	if (!split)
		fail_msg("slots not split: %s, %s (logs in %s)", l0, l1,
			 e->h->dir);
	id_of_slot(x, sizeof(x), "lo-", 1, 0);
	id_of_slot(y, sizeof(y), "lo-", 1, 1);
	id_of_slot(hi, sizeof(hi), "hi-", 0, 0);
	snprintf(lx, sizeof(lx), "%s", l1);
	snprintf(lh, sizeof(lh), "%s", l0);
	{
		struct preempt_want run[] = {{x, CTRL_RUNNING, "px-0", NULL},
					     {y, CTRL_RUNNING, "px-0", NULL},
					     {NULL, 0, NULL, NULL}},
				    after[] = {{hi, CTRL_SCHEDULED, "px-0",
						"by preempting 2 VM(s)"},
					       {x, CTRL_UNSCHEDULABLE, NULL,
						"preempted by hi"},
					       {y, CTRL_UNSCHEDULABLE, NULL,
						"preempted by hi"},
					       {NULL, 0, NULL, NULL}},
				    back[] = {
					{hi, CTRL_SCHEDULED, "px-0", NULL},
					{x, CTRL_SCHEDULED, "py-0", NULL},
					{y, CTRL_SCHEDULED, "py-0", NULL},
					{NULL, 0, NULL, NULL}};

		put_prio(e, x, 2, 0, true);
		put_prio(e, y, 2, 0, true);
		if (!await(e, cond_preempt, run, 20, &cs)) {
			dump(e, &cs);
			fail_msg("x and y are not running");
		}
		/* plan says so first, by the same victim choice */
		assert_int_equal(
		    plan_out(e, hi, 4, "\"priority\":10", out, sizeof(out)), 0);
		if (!strstr(out, "would preempt") || !strstr(out, x) ||
		    !strstr(out, y) || !strstr(out, " on px-0"))
			fail_msg("plan: %s", out);
		assert_int_equal(
		    plan_out(e, hi, 4, "\"priority\":0", out, sizeof(out)), 1);
		assert_non_null(strstr(out, "preemption would not place it"));
		put_prio(e, hi, 4, 10, true);
		if (!await(e, cond_preempt, after, 20, &cs)) {
			dump(e, &cs);
			fail_msg("hi did not preempt x and y of the other slot "
				 "(logs in %s)",
				 e->h->dir);
		}
		census_take(e, &cs);
		assert_int_equal(cs.assigns, 1);
		assert_int_equal(cs.alloc_vcpu, 4);
		assert_true(log_has(e, lh, "reading 2 VM(s) of other slots"));
		assert_true(log_has(e, lh, "preempt: hi-"));
		assert_true(log_has(e, lx, "its VM on px-0 is gone"));
		assert_int_equal(fscheck(e), 0);
		placed_again(e, "py", back, n, "x and y");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_place_reject_delete,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_scoring, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_overcommit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_coordinator_killed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_coordinator_stopped,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_metrics, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_forgets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_host_killed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_txn_limits_broadcast,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn_limits_sample, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_spread_fair, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_spread_fair_sample, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_spread_fair_broadcast,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_slots_spread, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_silent_hosts_retried,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_won_back_releases,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_restart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_agent_killed_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_host_lost_replaced, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cordon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_moves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drain_nofit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drain_deadline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drain_abort, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_constraints_burst, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gang, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preempt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preempt_other_slot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_preempt_sample, setup,
						teardown),
	};
	struct etcd_harness_opts o = {.quiet = true};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* T_FILTER=test_spread_fair_broadcast runs that one (a pattern) */
	if (getenv("T_FILTER"))
		cmocka_set_test_filter(getenv("T_FILTER"));
	harness = etcd_harness_start(&o);
	if (!harness)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (rc == 0) {
		harness = etcd_harness_stop(harness);
	} else {
		/* etcd stops (a failed run left it running for good); its
		 * data and log stay. */
		etcd_harness_kill(harness);
		fprintf(stderr, "keeping %s for inspection\n", harness->dir);
	}
	return rc;
}
