/*
 * submit — the user's side of a benchmark: puts N VM requests (as fast as
 * C puts in flight allow, or paced at --rate per second), watches
 * P/status/ and times each request from its put to the first status that
 * says it was placed.  Prints one JSON object:
 *   placed, seconds (first put .. last placement), placements_per_s,
 *   p50/p90/p99 latency in ms, revisions used per placement (every etcd
 *   write bumps the revision once; the requests' own puts are subtracted).
 *
 *   submit --endpoint http://127.0.0.1:2379 -n 10000 -c 64
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <jansson.h>

#include "common/spec.h"
#include "etcdclient/etcd.h"

struct run {
	struct ev_loop *loop;
	etcd_client *c;
	etcd_watch *w;
	const char *prefix;
	const char *tag;
	long n, started, acked, placed, rejected, other;
	long sent; /* puts or txns sent: one revision each */
	int concurrency;
	int batch; /* requests per put txn */
	double rate;
	int vcpu, mem;
	const char *sched; /* --sched: NULL, "anti", "spread" or "mix" */
	double *t_put, *t_placed;
	double t0, t_last;
	int64_t rev_start, rev_end;
	ev_timer pace, guard;
	bool watching, failed;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put_next(struct run *r);

static void on_put(void *arg, const struct etcd_error *err,
		   const struct etcd_put_result *res)
{
	struct run *r = arg;

	(void)res;
	if (err != NULL) {
		fprintf(stderr, "submit: put failed: %s\n", err->message);
		r->failed = true;
		ev_break(r->loop, EVBREAK_ALL);
		return;
	}
	r->acked++;
	if (r->rate <= 0)
		put_next(r);
}

static void on_txn(void *arg, const struct etcd_error *err,
		   const struct etcd_txn_result *res)
{
	(void)res;
	on_put(arg, err, NULL);
}

/* Puts the next request, or the next --batch of them in one txn (the
 * same keys and values as etcdctl put, only fewer requests to etcd). */
static void put_next(struct run *r)
{
	enum { BATCH_MAX = 128 };
	static char key[BATCH_MAX][128], val[BATCH_MAX][448];
	static struct etcd_op op[BATCH_MAX];
	long k = 0;
	int rc;

	while (r->started < r->n && k < r->batch) {
		long i = r->started++;
		snprintf(key[k], sizeof(key[k]), "%s/requests/%s-%ld",
			 r->prefix, r->tag, i);
		char sch[128] = "";

		/* placement constraints (issue 18): anti_affinity groups of
		 * 3, or one topology_spread group over the zone label */
		if (r->sched && strcmp(r->sched, "anti") == 0)
			snprintf(sch, sizeof(sch),
				 ",\"scheduling\":{\"anti_affinity\":{"
				 "\"group\":\"%s-g%ld\"}}",
				 r->tag, i / 3);
		/* mix: every other request in such a group of 3, the rest
		 * unconstrained (groups hash to every slot) */
		else if (r->sched && strcmp(r->sched, "mix") == 0 && i % 2 == 0)
			snprintf(sch, sizeof(sch),
				 ",\"scheduling\":{\"anti_affinity\":{"
				 "\"group\":\"%s-g%ld\"}}",
				 r->tag, i / 6);
		else if (r->sched && strcmp(r->sched, "spread") == 0)
			snprintf(sch, sizeof(sch),
				 ",\"scheduling\":{\"topology_spread\":{"
				 "\"group\":\"%s-web\",\"key\":\"zone\"}}",
				 r->tag);
		int len = snprintf(val[k], sizeof(val[k]),
				   "{\"vcpu\":%d,\"memoryInMb\":%d,"
				   FS_SPEC_EXAMPLE "%s}",
				   r->vcpu, r->mem, sch);
		op[k] = (struct etcd_op){
			.type = ETCD_OP_PUT,
			.u.put = {.key = key[k], .value = val[k],
				  .value_len = (size_t)len}};
		r->t_put[i] = now();
		if (i == 0)
			r->t0 = r->t_put[i];
		k++;
	}
	if (k == 0)
		return;
	r->sent++;
	if (k == 1) {
		rc = etcd_kv_put(r->c, &op[0].u.put, on_put, r);
	} else {
		struct etcd_txn_req txn = {.success = op,
					   .n_success = (size_t)k};
		rc = etcd_kv_txn(r->c, &txn, on_txn, r);
	}
	if (rc != 0) {
		fprintf(stderr, "submit: cannot start a put\n");
		r->failed = true;
		ev_break(r->loop, EVBREAK_ALL);
	}
}

static void on_pace(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;

	(void)loop;
	(void)revents;
	/* Catch up to where the schedule says we should be. */
	long due = (long)((now() - r->t0) * r->rate) + 1;
	while (r->started < r->n && r->started < due)
		put_next(r);
	if (r->started >= r->n)
		ev_timer_stop(r->loop, w);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;

	(void)w;
	(void)revents;
	fprintf(stderr, "submit: timed out with %ld of %ld placed\n",
		r->placed, r->n);
	ev_break(loop, EVBREAK_ALL);
}

static long id_index(const struct run *r, const char *key)
{
	const char *id = strrchr(key, '/');
	size_t tl = strlen(r->tag);

	if (id == NULL || strncmp(id + 1, r->tag, tl) != 0 ||
	    id[1 + tl] != '-')
		return -1;
	char *end;
	long i = strtol(id + 2 + tl, &end, 10);
	return (*end == '\0' && i >= 0 && i < r->n) ? i : -1;
}

static void on_watch(void *arg, const struct etcd_watch_update *u)
{
	struct run *r = arg;

	if (u->kind == ETCD_WATCH_CREATED) {
		r->watching = true;
		return;
	}
	if (u->kind == ETCD_WATCH_COMPACTED || u->kind == ETCD_WATCH_FAILED) {
		fprintf(stderr, "submit: watch ended: %s\n",
			u->err ? u->err->message : "?");
		r->failed = true;
		ev_break(r->loop, EVBREAK_ALL);
		return;
	}
	if (u->kind != ETCD_WATCH_EVENTS)
		return;
	double t = now();
	for (size_t k = 0; k < u->n_events; k++) {
		const struct etcd_event *e = &u->events[k];
		if (e->type != ETCD_EVENT_PUT)
			continue;
		long i = id_index(r, e->kv.key);
		if (i < 0 || r->t_placed[i] > 0)
			continue;
		json_t *j = json_loadb(e->kv.value, e->kv.value_len, 0, NULL);
		const char *phase =
			json_string_value(json_object_get(j, "phase"));
		if (phase != NULL && (strcmp(phase, "scheduled") == 0 ||
				      strcmp(phase, "running") == 0)) {
			r->t_placed[i] = t;
			r->placed++;
			r->t_last = t;
			r->rev_end = e->kv.mod_revision;
		} else if (phase != NULL && (strcmp(phase, "rejected") == 0 ||
					     strcmp(phase, "failed") == 0)) {
			r->t_placed[i] = -1;
			r->rejected++;
		}
		json_decref(j);
	}
	if (r->placed + r->rejected >= r->n)
		ev_break(r->loop, EVBREAK_ALL);
}

static void on_rev(void *arg, const struct etcd_error *err,
		   const struct etcd_range_result *res)
{
	struct run *r = arg;

	if (err != NULL) {
		fprintf(stderr, "submit: %s\n", err->message);
		r->failed = true;
	} else {
		r->rev_start = res->header.revision;
	}
	ev_break(r->loop, EVBREAK_ALL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(const double *v, long n, double p)
{
	if (n == 0)
		return 0;
	long i = (long)((double)n * p);
	return v[i < n ? i : n - 1];
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: submit [--endpoint URL] [--prefix P] [-n N] [-c INFLIGHT]\n"
		"              [--rate PER_S] [--vcpu V] [--mem MB] [--tag T]\n"
		"              [--timeout S] [--latencies FILE] [--batch K]\n"
		"              [--sched anti|spread|mix]\n"
		"  --sched anti      anti_affinity (host) in groups of 3; spread:\n"
		"                    one topology_spread group over label zone;\n"
		"                    mix: every other request anti, groups of 3\n"
		"  --batch K         put K requests per txn (default 1: one "
		"put each)\n"
		"  --latencies FILE  also write every latency (ms, sorted), "
		"one a line\n");
}

int main(int argc, char **argv)
{
	const char *endpoint = "http://127.0.0.1:2379";
	struct run r = {.prefix = "/flintsched", .tag = "bench", .n = 1000,
			.concurrency = 32, .batch = 1, .vcpu = 1, .mem = 1024};
	double timeout = 300;
	const char *lat_file = NULL;
	static const struct option opts[] = {
		{"endpoint", required_argument, NULL, 'e'},
		{"prefix", required_argument, NULL, 'p'},
		{"rate", required_argument, NULL, 'r'},
		{"vcpu", required_argument, NULL, 'v'},
		{"mem", required_argument, NULL, 'm'},
		{"tag", required_argument, NULL, 't'},
		{"timeout", required_argument, NULL, 'T'},
		{"latencies", required_argument, NULL, 'L'},
		{"batch", required_argument, NULL, 'b'},
		{"sched", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int ch;

	while ((ch = getopt_long(argc, argv, "e:p:n:c:b:r:v:m:t:T:L:S:h", opts,
				 NULL)) != -1) {
		switch (ch) {
		case 'e': endpoint = optarg; break;
		case 'p': r.prefix = optarg; break;
		case 'n': r.n = atol(optarg); break;
		case 'c': r.concurrency = atoi(optarg); break;
		case 'b': r.batch = atoi(optarg); break;
		case 'r': r.rate = atof(optarg); break;
		case 'v': r.vcpu = atoi(optarg); break;
		case 'm': r.mem = atoi(optarg); break;
		case 't': r.tag = optarg; break;
		case 'T': timeout = atof(optarg); break;
		case 'L': lat_file = optarg; break;
		case 'S': r.sched = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (r.n < 1 || r.concurrency < 1 || r.batch < 1 || r.batch > 128) {
		usage(stderr);
		return 2;
	}
	r.loop = ev_default_loop(0);
	r.t_put = calloc((size_t)r.n, sizeof(double));
	r.t_placed = calloc((size_t)r.n, sizeof(double));
	struct etcd_config cfg = {.endpoints = &endpoint, .n_endpoints = 1};
	if (!r.t_put || !r.t_placed || etcd_client_new(r.loop, &cfg, &r.c)) {
		fprintf(stderr, "submit: cannot set up\n");
		return 1;
	}
	/* The revision before our first put, then watch from the next. */
	char st[256];
	snprintf(st, sizeof(st), "%s/status/", r.prefix);
	struct etcd_range_req rq = {.key = st, .prefix = true,
				    .count_only = true};
	etcd_kv_range(r.c, &rq, on_rev, &r);
	ev_run(r.loop, 0);
	if (r.failed)
		return 1;
	struct etcd_watch_req wq = {.key = st, .prefix = true,
				    .start_revision = r.rev_start + 1};
	if (etcd_watch_start(r.c, &wq, on_watch, &r, &r.w) != 0)
		return 1;
	ev_timer_init(&r.guard, on_guard, timeout, 0.);
	r.guard.data = &r;
	ev_timer_start(r.loop, &r.guard);
	r.t0 = now();
	if (r.rate > 0) {
		ev_timer_init(&r.pace, on_pace, 0., 1.0 / r.rate);
		r.pace.data = &r;
		ev_timer_start(r.loop, &r.pace);
	} else {
		for (int i = 0; i < r.concurrency; i++)
			put_next(&r);
	}
	ev_run(r.loop, 0);
	ev_timer_stop(r.loop, &r.pace);
	ev_timer_stop(r.loop, &r.guard);

	double *lat = calloc((size_t)r.n, sizeof(double));
	long nl = 0;
	for (long i = 0; i < r.n; i++)
		if (r.t_placed[i] > 0)
			lat[nl++] = (r.t_placed[i] - r.t_put[i]) * 1e3;
	qsort(lat, (size_t)nl, sizeof(double), cmp_double);
	if (lat_file != NULL) {
		FILE *lf = fopen(lat_file, "w");
		if (lf == NULL) {
			perror(lat_file);
			r.failed = true;
		} else {
			for (long i = 0; i < nl; i++)
				fprintf(lf, "%.3f\n", lat[i]);
			if (fclose(lf) != 0)
				r.failed = true;
		}
	}
	double secs = r.t_last > r.t0 ? r.t_last - r.t0 : 0;
	double writes = r.placed > 0 ? (double)(r.rev_end - r.rev_start -
						 r.sent) / (double)r.placed
				     : 0;
	printf("{\"requests\":%ld,\"placed\":%ld,\"rejected_or_failed\":%ld,"
	       "\"seconds\":%.3f,\"placements_per_s\":%.1f,"
	       "\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,"
	       "\"rev_start\":%" PRId64 ",\"rev_end\":%" PRId64 ","
	       "\"writes_per_placement\":%.2f}\n",
	       r.n, r.placed, r.rejected, secs,
	       secs > 0 ? (double)r.placed / secs : 0, pct(lat, nl, 0.5),
	       pct(lat, nl, 0.9), pct(lat, nl, 0.99), r.rev_start, r.rev_end,
	       writes);
	free(lat);
	r.w = etcd_watch_cancel(r.w);
	r.c = etcd_client_free(r.c);
	free(r.t_put);
	free(r.t_placed);
	return (r.failed || r.placed + r.rejected < r.n) ? 1 : 0;
}
