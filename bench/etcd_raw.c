/*
 * etcd_raw — etcd's own limit as seen through etcdclient: put/s or txn/s
 * (one compare + one put) at a given concurrency, with latency
 * percentiles.  Prints one JSON object.  The yardstick the scheduler's
 * placements/s are compared against in `make bench`.
 *
 *   etcd_raw --endpoint http://127.0.0.1:2379 --mode txn -c 16 -n 5000
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "etcdclient/etcd.h"

enum { TXN_MAX = 64 };

struct bench {
	etcd_client *c;
	struct ev_loop *loop;
	const char *mode;
	long total, started, done, failed, events;
	double *lat;
	int concurrency;
	int batch; /* compare + put pairs per txn */
};

struct op {
	struct bench *b;
	double t0;
	long i;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void start_one(struct bench *b);

static void finish(struct op *o, const struct etcd_error *err)
{
	struct bench *b = o->b;

	if (err != NULL) {
		b->failed++;
		if (b->failed == 1)
			fprintf(stderr, "etcd_raw: %s\n", err->message);
	}
	b->lat[b->done++] = now() - o->t0;
	free(o);
	if (b->started < b->total)
		start_one(b);
	else if (b->done == b->total)
		ev_break(b->loop, EVBREAK_ALL);
}

static void on_put(void *arg, const struct etcd_error *err,
		   const struct etcd_put_result *res)
{
	(void)res;
	finish(arg, err);
}

static void on_txn(void *arg, const struct etcd_error *err,
		   const struct etcd_txn_result *res)
{
	(void)res;
	finish(arg, err);
}

static void start_one(struct bench *b)
{
	struct op *o = calloc(1, sizeof(*o));
	char key[TXN_MAX][64], val[TXN_MAX][64];
	struct etcd_compare cmp[TXN_MAX];
	struct etcd_op op[TXN_MAX];
	int r, k = strcmp(b->mode, "put") == 0 ? 1 : b->batch;

	if (o == NULL)
		abort();
	o->b = b;
	o->i = b->started++;
	o->t0 = now();
	for (int j = 0; j < k; j++) {
		long i = o->i * k + j;
		/* Keys spread like placements: each op its own key. */
		snprintf(key[j], sizeof(key[j]), "/bench/raw/%ld", i % 4096);
		int n = snprintf(val[j], sizeof(val[j]), "{\"i\":%ld}", i);
		op[j] = (struct etcd_op){
			.type = ETCD_OP_PUT,
			.u.put = {.key = key[j], .value = val[j],
				  .value_len = (size_t)n}};
		/* The shape of a commit: a compare on a key's version. */
		cmp[j] = (struct etcd_compare){.target = ETCD_CMP_VERSION,
					       .result = ETCD_CMP_GREATER,
					       .key = key[j], .number = -1};
	}
	if (strcmp(b->mode, "put") == 0) {
		r = etcd_kv_put(b->c, &op[0].u.put, on_put, o);
	} else {
		struct etcd_txn_req txn = {.compare = cmp, .n_compare = (size_t)k,
					   .success = op, .n_success = (size_t)k};
		r = etcd_kv_txn(b->c, &txn, on_txn, o);
	}
	if (r != 0) {
		fprintf(stderr, "etcd_raw: could not start: %s\n",
			etcd_strerror(r));
		exit(1);
	}
}

static void on_watch(void *arg, const struct etcd_watch_update *u)
{
	struct bench *b = arg;

	if (u->kind == ETCD_WATCH_EVENTS)
		b->events += (long)u->n_events;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: etcd_raw --endpoint URL [--mode put|txn] "
		   "[-c CONCURRENCY] [-n OPS]\n"
		   "                [--batch K] [--watchers W]\n"
		   "  --batch K     txn mode: K compare+put pairs per txn "
		   "(1..64, default 1)\n"
		   "  --watchers W  W watches on the written prefix while "
		   "the run lasts\n");
}

int main(int argc, char **argv)
{
	const char *endpoint = "http://127.0.0.1:2379";
	struct bench b = {.mode = "txn", .total = 2000, .concurrency = 1,
			  .batch = 1};
	int watchers = 0;
	etcd_watch *w[16] = {0};
	static const struct option opts[] = {
		{"endpoint", required_argument, NULL, 'e'},
		{"mode", required_argument, NULL, 'm'},
		{"concurrency", required_argument, NULL, 'c'},
		{"ops", required_argument, NULL, 'n'},
		{"batch", required_argument, NULL, 'b'},
		{"watchers", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int ch;

	while ((ch = getopt_long(argc, argv, "e:m:c:n:b:w:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			endpoint = optarg;
			break;
		case 'm':
			b.mode = optarg;
			break;
		case 'c':
			b.concurrency = atoi(optarg);
			break;
		case 'n':
			b.total = atol(optarg);
			break;
		case 'b':
			b.batch = atoi(optarg);
			break;
		case 'w':
			watchers = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (b.concurrency < 1 || b.total < 1 || b.batch < 1 ||
	    b.batch > TXN_MAX || watchers < 0 || watchers > 16 ||
	    (strcmp(b.mode, "put") != 0 && strcmp(b.mode, "txn") != 0)) {
		usage(stderr);
		return 2;
	}
	b.loop = ev_default_loop(0);
	b.lat = calloc((size_t)b.total, sizeof(double));
	struct etcd_config cfg = {.endpoints = &endpoint, .n_endpoints = 1};
	if (b.lat == NULL || etcd_client_new(b.loop, &cfg, &b.c) != 0) {
		fprintf(stderr, "etcd_raw: cannot create client\n");
		return 1;
	}
	for (int i = 0; i < watchers; i++) {
		struct etcd_watch_req wr = {.key = "/bench/raw/",
					    .prefix = true};
		if (etcd_watch_start(b.c, &wr, on_watch, &b, &w[i]) != 0) {
			fprintf(stderr, "etcd_raw: cannot watch\n");
			return 1;
		}
	}
	double t0 = now();
	for (int i = 0; i < b.concurrency && b.started < b.total; i++)
		start_one(&b);
	ev_run(b.loop, 0);
	double secs = now() - t0;
	qsort(b.lat, (size_t)b.done, sizeof(double), cmp_double);
	printf("{\"mode\":\"%s\",\"concurrency\":%d,\"ops\":%ld,"
	       "\"failed\":%ld,\"seconds\":%.3f,\"ops_per_s\":%.1f,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"batch\":%d,"
	       "\"watchers\":%d,\"events\":%ld}\n",
	       b.mode, b.concurrency, b.done, b.failed, secs,
	       (double)b.done / secs, b.lat[b.done / 2] * 1e3,
	       b.lat[(size_t)((double)b.done * 0.99)] * 1e3, b.batch, watchers,
	       b.events);
	for (int i = 0; i < watchers; i++)
		w[i] = etcd_watch_cancel(w[i]);
	b.c = etcd_client_free(b.c);
	free(b.lat);
	return b.failed == 0 ? 0 : 1;
}
