/*
 * fill — writes many keys fast for `make bench`'s scale figures: N host
 * records (P/hosts/<tag>-<i>, identical, all under one lease) and/or M VM
 * requests (P/requests/<tag>-<i>), 100 puts per txn, several txns in
 * flight.  Prints one JSON object: hosts, requests, lease, seconds,
 * revision after the last write.
 *
 *   fill --endpoint URL --prefix /p --hosts 10000 --lease-ttl 600
 *   fill --endpoint URL --prefix /p --requests 100000 --vcpu 64
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "common/model.h"
#include "common/spec.h"
#include "etcdclient/etcd.h"

#define PER_TXN 100
#define INFLIGHT 8

struct fill {
	struct ev_loop *loop;
	etcd_client *c;
	const char *prefix, *tag;
	long hosts, requests, next, done_batches, batches;
	int inflight;
	int64_t lease, last_rev;
	int host_vcpu, host_mem, req_vcpu, req_mem;
	bool failed;
};

struct batch {
	struct fill *f;
	char *keys[PER_TXN];
	char *vals[PER_TXN];
	struct etcd_op ops[PER_TXN];
	size_t n;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		abort();
	return d;
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->keys[i]);
		free(b->vals[i]);
	}
	free(b);
}

static void send_next(struct fill *f);

static void on_txn(void *arg, const struct etcd_error *err,
		   const struct etcd_txn_result *res)
{
	struct batch *b = arg;
	struct fill *f = b->f;

	if (err != NULL) {
		fprintf(stderr, "fill: txn failed: %s\n", err->message);
		f->failed = true;
	} else if (res->header.revision > f->last_rev) {
		f->last_rev = res->header.revision;
	}
	batch_free(b);
	f->inflight--;
	f->done_batches++;
	if (f->failed) {
		ev_break(f->loop, EVBREAK_ALL);
		return;
	}
	send_next(f);
	if (f->inflight == 0)
		ev_break(f->loop, EVBREAK_ALL);
}

/* The i-th key of the whole fill: hosts first, then requests. */
static void make_kv(struct fill *f, long i, struct batch *b)
{
	char key[256], val[512];
	size_t k = b->n++;
	struct etcd_put_req *put = &b->ops[k].u.put;

	if (i < f->hosts) {
		struct fs_host h = {
			.endpoint = (char *)"http://127.0.0.1:1",
			.capacity = {f->host_vcpu, f->host_mem, 1000},
			.allocatable = {f->host_vcpu, f->host_mem, 1000},
			.agent_version = (char *)"fill"};
		snprintf(h.host, sizeof(h.host), "%s-%ld", f->tag, i);
		fs_time_now(h.updated, sizeof(h.updated));
		snprintf(key, sizeof(key), "%s/hosts/%s", f->prefix, h.host);
		b->vals[k] = fs_host_format(&h);
		if (b->vals[k] == NULL)
			abort();
		put->lease = f->lease;
	} else {
		snprintf(key, sizeof(key), "%s/requests/%s-%ld", f->prefix,
			 f->tag, i - f->hosts);
		snprintf(val, sizeof(val),
			 "{\"vcpu\":%d,\"memoryInMb\":%d," FS_SPEC_EXAMPLE "}",
			 f->req_vcpu, f->req_mem);
		b->vals[k] = xstrdup(val);
	}
	b->keys[k] = xstrdup(key);
	b->ops[k].type = ETCD_OP_PUT;
	put->key = b->keys[k];
	put->value = b->vals[k];
	put->value_len = strlen(b->vals[k]);
}

static void send_next(struct fill *f)
{
	long total = f->hosts + f->requests;

	while (f->inflight < INFLIGHT && f->next < total && !f->failed) {
		struct batch *b = calloc(1, sizeof(*b));

		if (b == NULL)
			abort();
		b->f = f;
		/* Never mix hosts and requests in one txn. */
		long end = f->next + PER_TXN;
		if (f->next < f->hosts && end > f->hosts)
			end = f->hosts;
		if (end > total)
			end = total;
		for (long i = f->next; i < end; i++)
			make_kv(f, i, b);
		f->next = end;
		struct etcd_txn_req txn = {.success = b->ops, .n_success = b->n};
		if (etcd_kv_txn(f->c, &txn, on_txn, b) != 0) {
			fprintf(stderr, "fill: cannot start a txn\n");
			batch_free(b);
			f->failed = true;
			return;
		}
		f->inflight++;
	}
}

static void on_grant(void *arg, const struct etcd_error *err, int64_t id,
		     int64_t ttl)
{
	struct fill *f = arg;

	(void)ttl;
	if (err != NULL) {
		fprintf(stderr, "fill: lease grant: %s\n", err->message);
		f->failed = true;
	}
	f->lease = id;
	ev_break(f->loop, EVBREAK_ALL);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fill [--endpoint URL] [--prefix P] [--tag T]\n"
		"            [--hosts N] [--lease-ttl S] [--host-vcpu V] "
		"[--host-mem MB]\n"
		"            [--requests M] [--vcpu V] [--mem MB]\n");
}

int main(int argc, char **argv)
{
	const char *endpoint = "http://127.0.0.1:2379";
	struct fill f = {.prefix = "/flintsched", .tag = "fill",
			 .host_vcpu = 64, .host_mem = 262144, .req_vcpu = 1,
			 .req_mem = 1024};
	long ttl = 600;
	static const struct option opts[] = {
		{"endpoint", required_argument, NULL, 'e'},
		{"prefix", required_argument, NULL, 'p'},
		{"tag", required_argument, NULL, 't'},
		{"hosts", required_argument, NULL, 'H'},
		{"lease-ttl", required_argument, NULL, 'L'},
		{"host-vcpu", required_argument, NULL, 'V'},
		{"host-mem", required_argument, NULL, 'M'},
		{"requests", required_argument, NULL, 'n'},
		{"vcpu", required_argument, NULL, 'v'},
		{"mem", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int ch;

	while ((ch = getopt_long(argc, argv, "e:p:t:H:L:V:M:n:v:m:h", opts,
				 NULL)) != -1) {
		switch (ch) {
		case 'e': endpoint = optarg; break;
		case 'p': f.prefix = optarg; break;
		case 't': f.tag = optarg; break;
		case 'H': f.hosts = atol(optarg); break;
		case 'L': ttl = atol(optarg); break;
		case 'V': f.host_vcpu = atoi(optarg); break;
		case 'M': f.host_mem = atoi(optarg); break;
		case 'n': f.requests = atol(optarg); break;
		case 'v': f.req_vcpu = atoi(optarg); break;
		case 'm': f.req_mem = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (f.hosts < 0 || f.requests < 0 || ttl < 2 || !fs_name_valid(f.tag)) {
		usage(stderr);
		return 2;
	}
	f.loop = ev_default_loop(0);
	struct etcd_config cfg = {.endpoints = &endpoint, .n_endpoints = 1};
	if (etcd_client_new(f.loop, &cfg, &f.c) != 0) {
		fprintf(stderr, "fill: cannot create client\n");
		return 1;
	}
	double t0 = now();
	if (f.hosts > 0) {
		/* One lease for every host: they vanish together when it
		 * expires (no keepalive: the TTL bounds their life). */
		if (etcd_lease_grant(f.c, ttl, 0, on_grant, &f) != 0)
			return 1;
		ev_run(f.loop, 0);
	}
	if (!f.failed) {
		send_next(&f);
		if (f.inflight > 0)
			ev_run(f.loop, 0);
	}
	printf("{\"hosts\":%ld,\"requests\":%ld,\"lease\":%" PRId64
	       ",\"seconds\":%.3f,\"revision\":%" PRId64 "}\n",
	       f.hosts, f.requests, f.lease, now() - t0, f.last_rev);
	f.c = etcd_client_free(f.c);
	return f.failed ? 1 : 0;
}
