/* top [--interval S] [--metrics URLS]: the fleet in one screen — host
 * states, request phases, the busiest hosts, and placements per second:
 * from the controllers' /metrics (flintsched_controller_placements_total,
 * summed, before and after the interval) when --metrics names them
 * (controllers do not publish their http.listen address in etcd), else
 * counted from a watch of P/status/ over the interval (statuses written
 * `scheduled`). */
#include "ctl/ctl.h"

#include <curl/curl.h>
#include <ev.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define TOP_HOSTS 20

struct rate {
	struct ctl *x;
	int64_t placed;
	bool failed;
	struct etcd_error err;
};

static void on_status(void *arg, const struct etcd_watch_update *u)
{
	struct rate *r = arg;

	if (u->kind == ETCD_WATCH_FAILED || u->kind == ETCD_WATCH_COMPACTED) {
		r->failed = true;
		r->err = *u->err;
		ev_break(r->x->loop, EVBREAK_ALL);
		return;
	}
	for (size_t i = 0; u->kind == ETCD_WATCH_EVENTS && i < u->n_events;
	     i++) {
		const struct etcd_kv *kv = &u->events[i].kv;
		struct ctrl_status s = {0};
		char err[64];

		if (u->events[i].type == ETCD_EVENT_PUT &&
		    ctrl_status_parse(kv->value, kv->value_len, &s, err,
				      sizeof(err)) == 0 &&
		    s.phase == CTRL_SCHEDULED)
			r->placed++;
		ctrl_status_clear(&s);
	}
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static double used_frac(const struct ctl_vhost *h)
{
	const struct fs_res *cap = &h->rec.allocatable;
	const struct fs_res *u = &h->alloc.used;
	double c = cap->vcpu > 0 ? (double)u->vcpu / (double)cap->vcpu : 0;
	double m = cap->memory_mb > 0
		       ? (double)u->memory_mb / (double)cap->memory_mb
		       : 0;

	if (!h->alloc_present)
		c = m = 0;
	if (h->rec.util_cpu > c)
		c = h->rec.util_cpu;
	if (h->rec.util_mem > m)
		m = h->rec.util_mem;
	return c > m ? c : m;
}

static int by_use(const void *a, const void *b)
{
	double x = used_frac(*(const struct ctl_vhost *const *)a);
	double y = used_frac(*(const struct ctl_vhost *const *)b);

	return x < y ? 1 : x > y ? -1 : 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	FILE *f = arg;

	return fwrite(p, size, n, f);
}

/* The sum of flintsched_controller_placements_total over urls ("a,b"),
 * or -1 (printed) when one cannot be read. */
static double placements_total(const char *urls)
{
	char *list = strdup(urls), *save = NULL, *u;
	double sum = 0;

	if (!list)
		return -1;
	for (u = strtok_r(list, ",", &save); u;
	     u = strtok_r(NULL, ",", &save)) {
		CURL *h = curl_easy_init();
		char *body = NULL, *line;
		size_t len = 0;
		FILE *f = open_memstream(&body, &len);
		CURLcode cc = CURLE_FAILED_INIT;
		long status = 0;
		bool found = false;

		if (h && f) {
			curl_easy_setopt(h, CURLOPT_URL, u);
			curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
			curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
			curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
			cc = curl_easy_perform(h);
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		}
		if (f)
			fclose(f);
		if (h)
			curl_easy_cleanup(h);
		for (line = body; cc == CURLE_OK && line && *line;) {
			char *nl = strchr(line, '\n');
			const char *name =
			    "flintsched_controller_placements_total ";

			if (strncmp(line, name, strlen(name)) == 0) {
				sum += strtod(line + strlen(name), NULL);
				found = true;
			}
			line = nl ? nl + 1 : NULL;
		}
		free(body);
		if (cc != CURLE_OK || status != 200 || !found) {
			ctl_errorf(
			    CTL_EXIT_ETCD,
			    "--metrics %s: %s; give a controller's "
			    "http.listen as http://HOST:PORT/metrics",
			    u,
			    cc != CURLE_OK ? curl_easy_strerror(cc)
			    : status != 200
				? "not 200"
				: "no flintsched_controller_placements_total");
			free(list);
			return -1;
		}
	}
	free(list);
	return sum;
}

static int measure(struct ctl *x, int64_t rev, double secs, double *ret)
{
	struct rate r = {.x = x};
	char *key = ctl_key(x, "status/");
	struct etcd_watch_req q = {
	    .key = key, .prefix = true, .start_revision = rev + 1};
	etcd_watch *w = NULL;
	ev_timer t;
	int rc;

	if (!key)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	rc = etcd_watch_start(x->etcd, &q, on_status, &r, &w);
	if (rc < 0) {
		struct etcd_error e = {.code = rc};

		rc = ctl_etcd_fail(x, "watching", key, &e);
		free(key);
		return rc;
	}
	ev_timer_init(&t, on_timer, secs, 0);
	ev_timer_start(x->loop, &t);
	ev_run(x->loop, 0);
	ev_timer_stop(x->loop, &t);
	w = etcd_watch_cancel(w);
	rc = r.failed ? ctl_etcd_fail(x, "watching", key, &r.err) : 0;
	free(key);
	*ret = (double)r.placed / secs;
	return rc;
}

int ctl_cmd_top(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"interval", required_argument, NULL, 'i'},
	    {"metrics", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};
	const char *metrics = NULL;
	static const char *const cols[] = {"HOST",   "STATE", "USE", "VCPU",
					   "MEMORY", "VMS",   "UTIL"};
	static const char *const phases[] = {
	    "pending",	     "scheduled", "running", "failed",
	    "unschedulable", "rejected",  "lost"};
	int64_t nstate[5] = {0}, nphase[7] = {0};
	const struct ctl_vhost **hs = NULL;
	double secs = 2, rate = 0;
	struct ctl_view v;
	ctl_table *t = NULL;
	size_t n = 0;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'm') {
			metrics = optarg;
			continue;
		}
		if (o != 'i')
			return ctl_errorf(CTL_EXIT_INPUT,
					  "see flintschedctl top --help");
		secs = strcmp(optarg, "0") == 0
			   ? 0
			   : (double)ctl_duration_ms(optarg, true) / 1000;
		if (secs < 0 || (secs == 0 && strcmp(optarg, "0") != 0))
			return ctl_errorf(CTL_EXIT_INPUT,
					  "--interval %s: give seconds (2), a "
					  "duration (500ms) or 0",
					  optarg);
	}
	if (optind != argc || secs < 0)
		return ctl_errorf(CTL_EXIT_INPUT,
				  "top: --interval SECONDS is the only option");
	rc = ctl_view_load(x, &v, CTL_V_HOSTS | CTL_V_REQS);
	if (rc)
		return rc;
	if (secs > 0 && metrics) {
		double t0 = placements_total(metrics), t1 = -1;
		ev_timer tm;

		if (t0 >= 0) {
			ev_timer_init(&tm, on_timer, secs, 0);
			ev_timer_start(x->loop, &tm);
			ev_run(x->loop, 0);
			ev_timer_stop(x->loop, &tm);
			t1 = placements_total(metrics);
		}
		if (t0 < 0 || t1 < 0) {
			rc = CTL_EXIT_ETCD;
			goto out;
		}
		rate = (t1 - t0) / secs;
	} else if (secs > 0) {
		rc = measure(x, v.revision, secs, &rate);
		if (rc)
			goto out;
	}
	hs = calloc(v.n_hosts + 1, sizeof(*hs)); /* NOLINT: pointers */
	if (!hs) {
		rc = ctl_errorf(CTL_EXIT_INPUT, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < v.n_hosts; i++) {
		enum ctl_hoststate s = ctl_vhost_state(&v.hosts[i]);

		nstate[s]++;
		if (v.hosts[i].rec_present)
			hs[n++] = &v.hosts[i];
	}
	for (size_t i = 0; i < v.n_reqs; i++) {
		const char *ph = ctl_vreq_phase(&v.reqs[i]);

		for (size_t j = 0; j < 7; j++)
			if (strcmp(ph, phases[j]) == 0)
				nphase[j]++;
	}
	printf("flintsched at %s, revision %lld, %lld coordinator slot%s\n",
	       x->endpoints, (long long)v.revision, (long long)v.coordinators,
	       v.coordinators == 1 ? "" : "s");
	printf("hosts:    %lld live, %lld disconnected, %lld cordoned, %lld "
	       "draining\n",
	       (long long)nstate[CTL_H_LIVE],
	       (long long)nstate[CTL_H_DISCONNECTED],
	       (long long)nstate[CTL_H_CORDONED],
	       (long long)nstate[CTL_H_DRAINING]);
	printf("requests: %zu:", v.n_reqs);
	for (size_t j = 0; j < 7; j++)
		printf("%s %lld %s", j ? "," : "", (long long)nphase[j],
		       phases[j]);
	printf("\n");
	if (secs > 0)
		printf("placements: %.1f/s (%s over %g s)\n", rate,
		       metrics ? "the controllers' placements_total"
			       : "statuses written scheduled",
		       secs);
	if (n) {
		qsort(hs, n, sizeof(*hs), by_use); /* NOLINT: pointers */
		t = ctl_table_new(sizeof(cols) / sizeof(cols[0]), cols);
		if (!t) {
			rc = ctl_errorf(CTL_EXIT_INPUT, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n && i < TOP_HOSTS; i++) {
			const struct ctl_vhost *h = hs[i];
			const char *st = ctl_hoststate_name(ctl_vhost_state(h));

			ctl_table_cell(t, CTL_C_NONE, h->name);
			ctl_table_cell(t, ctl_phase_colour(st), st);
			ctl_table_cellf(t, CTL_C_NONE, "%.0f%%",
					used_frac(h) * 100);
			ctl_table_cellf(t, CTL_C_NONE, "%lld/%lld",
					(long long)h->alloc.used.vcpu,
					(long long)h->rec.allocatable.vcpu);
			ctl_table_cellf(
			    t, CTL_C_NONE, "%lld/%lldMi",
			    (long long)h->alloc.used.memory_mb,
			    (long long)h->rec.allocatable.memory_mb);
			ctl_table_cellf(t, CTL_C_NONE, "%lld/%lld",
					(long long)h->alloc.used.vms,
					(long long)h->rec.allocatable.vms);
			ctl_table_cellf(t, CTL_C_NONE, "%.0f%%/%.0f%%",
					h->rec.util_cpu * 100,
					h->rec.util_mem * 100);
		}
		printf("\n");
		ctl_table_print(t, stdout, x->colour);
		if (n > TOP_HOSTS)
			printf("... and %zu more (flintschedctl hosts)\n",
			       n - TOP_HOSTS);
	}
out:
	ctl_table_free(t);
	free(hs);
	ctl_view_clear(&v);
	return rc;
}
