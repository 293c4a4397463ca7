/* plan FILE|-: a dry run of the controller's placement on the cluster as
 * it is now (ctl_place), and when it fits nowhere with preemption on, the
 * VMs the controller would evict (ctl_place_preempt); writes nothing.
 * Exit 0 when it fits somewhere or would preempt, 1 when it is invalid or
 * fits nowhere. */
#include "ctl/place.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void need_str(const struct fs_need *n, char *buf, size_t len)
{
	size_t o;

	snprintf(buf, len, "%lld vcpu, %lldMi", (long long)n->res.vcpu,
		 (long long)n->res.memory_mb);
	for (size_t i = 0; i < n->selector.n; i++) {
		o = strlen(buf);
		snprintf(buf + o, len - o, "%s%s=%s", i ? "," : "; selector ",
			 n->selector.v[i].key, n->selector.v[i].value);
	}
	if (n->spread) {
		o = strlen(buf);
		snprintf(buf + o, len - o, "; spread %s", n->spread);
	}
}

/* "insufficient memory on 3 hosts; selector zone=a on 2 hosts" */
void ctl_rejected_str(const struct ctrl_explain *e, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < e->n_rejected; i++) {
		size_t o = strlen(buf);
		char r[256];

		snprintf(buf + o, len - o, "%s%s on %lld host%s", i ? "; " : "",
			 ctl_esc(r, sizeof(r), e->rejected[i].reason, 120),
			 (long long)e->rejected[i].count,
			 e->rejected[i].count == 1 ? "" : "s");
	}
}

int ctl_place_print(const struct ctl *x, const struct ctl_place *p, bool all)
{
	static const char *const cols[] = {"RANK", "HOST", "SCORE", "FREE",
					   "VERDICT"};
	ctl_table *t = ctl_table_new(5, cols);
	int rc = 0;

	if (!t)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	for (size_t i = 0; i < p->n_cands; i++) {
		const struct ctl_place_host *h = p->cands[i].data;

		ctl_table_cellf(t, CTL_C_NONE, "%zu", i + 1);
		ctl_table_cell(t, CTL_C_NONE, h->h->name);
		ctl_table_cellf(t, CTL_C_NONE, "%.3f", h->score);
		ctl_table_cellf(t, CTL_C_NONE, "%lldcpu,%lldMi,%lldvms",
				(long long)h->free.vcpu,
				(long long)h->free.memory_mb,
				(long long)h->free.vms);
		ctl_table_cell(
		    t, i ? CTL_C_NONE : CTL_C_GREEN,
		    i == 0 ? "winner" : "fits");
	}
	for (size_t i = 0; all && i < p->n_hosts; i++) {
		const struct ctl_place_host *h = &p->hosts[i];

		if (h->fits)
			continue;
		ctl_table_cell(t, CTL_C_NONE, "-");
		ctl_table_cell(t, CTL_C_NONE, h->h->name);
		ctl_table_cell(t, CTL_C_NONE, "-");
		ctl_table_cellf(t, CTL_C_NONE, "%lldcpu,%lldMi,%lldvms",
				(long long)h->free.vcpu,
				(long long)h->free.memory_mb,
				(long long)h->free.vms);
		ctl_table_cell(t, CTL_C_RED, h->reason);
	}
	if (ctl_table_rows(t) && ctl_table_print(t, stdout, x->colour) < 0)
		rc = CTL_EXIT_INPUT;
	ctl_table_free(t);
	return rc;
}

static json_t *place_json(const char *id, const struct fs_need *n,
			  const struct ctl_place *p)
{
	json_t *o = json_object(), *ranked = json_array(), *rej = json_object(),
	       *hosts = json_array();

	json_object_set_new(o, "id", ctl_json_str(id));
	json_object_set_new(o, "need",
			    json_pack("{s:I, s:I}", "vcpu",
				      (json_int_t)n->res.vcpu, "memory_mb",
				      (json_int_t)n->res.memory_mb));
	json_object_set_new(o, "hosts", json_integer(p->explain.hosts));
	json_object_set_new(o, "feasible", json_integer(p->explain.feasible));
	json_object_set_new(o, "winner",
			    p->n_cands ? ctl_json_str(p->cands[0].host)
				       : json_null());
	for (size_t i = 0; i < p->n_cands; i++)
		json_array_append_new(ranked,
				      json_pack("{s:o, s:f}", "host",
						ctl_json_str(p->cands[i].host),
						"score", p->cands[i].score));
	json_object_set_new(o, "ranked", ranked);
	for (size_t i = 0; i < p->explain.n_rejected; i++)
		json_object_set_new(rej, p->explain.rejected[i].reason,
				    json_integer(p->explain.rejected[i].count));
	json_object_set_new(o, "rejected", rej);
	for (size_t i = 0; i < p->n_hosts; i++) {
		const struct ctl_place_host *h = &p->hosts[i];

		json_array_append_new(
		    hosts, json_pack("{s:o, s:b, s:f, s:o, s:b}", "host",
				     ctl_json_str(h->h->name), "fits", h->fits,
				     "score", h->fits ? h->score : 0.0,
				     "reason", ctl_json_str(h->reason),
				     "cordoned", h->cordoned));
	}
	json_object_set_new(o, "per_host", hosts);
	return o;
}

/* For a request that fits nowhere, with the controller's preemption on:
 * the victims it would evict (ctl_place_preempt), into pp; 0, or an exit
 * code (etcd, memory). */
static int plan_preempt(struct ctl *x, const struct ctl_view *v,
			const struct ctl_place *p, const char *id,
			const struct ctrl_request *req, struct ctl_preempt *pp)
{
	struct etcd_sync_range *asg = NULL;
	int rc;

	memset(pp, 0, sizeof(*pp));
	if (x->sched.max_victims <= 0 || p->n_cands || !p->n_hosts)
		return 0;
	rc = ctl_view_assigns(x, v, &asg);
	if (rc)
		return rc;
	rc = ctl_place_preempt(x, v, p, id, req, asg, pp);
	etcd_sync_range_free(asg);
	return rc < 0 ? ctl_errorf(CTL_EXIT_INPUT, "out of memory") : 0;
}

/* "lo-2, lo-3 on h1" (the chosen victims) into buf. */
static void victims_str(const struct ctl_preempt *pp, char *buf, size_t len)
{
	const struct ctrl_victims *c = &pp->chosen;
	char e[FS_NAME_MAX * 4 + 8];
	size_t o;

	buf[0] = '\0';
	for (size_t i = 0; i < c->n; i++) {
		o = strlen(buf);
		snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
			 ctl_esc(e, sizeof(e), c->v[i]->id, 0));
	}
	if (c->n) {
		o = strlen(buf);
		snprintf(buf + o, len - o, " on %s",
			 ctl_esc(e, sizeof(e), c->v[0]->host->name, 0));
	}
}

/* A gang's rating as a whole (ctl_place_gang): the planned request with
 * the other fresh members in P/requests/ (never placed for their
 * current value), in the order they were put, it last. */
struct plan_gang {
	struct ctl_gang_member m[CTRL_GANG_MAX];
	size_t n, submitted, failed;
	int fits; /* 1 as a whole, 0 not, -1 waiting for members */
	struct ctrl_explain ex; /* m[failed]'s, when !fits */
};

static int vreq_rev_cmp(const void *a, const void *b)
{
	const struct ctl_vreq *x = *(const struct ctl_vreq *const *)a;
	const struct ctl_vreq *y = *(const struct ctl_vreq *const *)b;

	return x->req_mod_rev < y->req_mod_rev	 ? -1
	       : x->req_mod_rev > y->req_mod_rev ? 1
						 : strcmp(x->id, y->id);
}

/* Placed once for its current value (commit.c's gang_fresh, from the
 * status's request_hash): placed again alone, no longer a member. */
static bool vreq_fresh(const struct ctl_vreq *r)
{
	char h[17];

	if (!r->st_present || r->st.attempt <= 0)
		return true;
	ctrl_request_hash(r->req, r->req_len, h);
	return strcmp(h, r->st.request_hash) != 0;
}

static int plan_gang(struct ctl *x, const struct ctl_view *v, const char *id,
		     const struct ctrl_request *req, struct plan_gang *g)
{
	size_t want = (size_t)req->gang_size, n = 0;
	const struct ctl_vreq **o = NULL;
	int rc;

	memset(g, 0, sizeof(*g));
	g->fits = -1;
	if (v->n_reqs && !(o = calloc(v->n_reqs, sizeof(*o))))
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	for (size_t i = 0; i < v->n_reqs; i++) {
		const struct ctl_vreq *r = &v->reqs[i];

		if (r->req_present && r->parsed_ok && r->parsed.gang &&
		    strcmp(r->parsed.gang, req->gang) == 0 &&
		    strcmp(r->id, id) != 0 && vreq_fresh(r))
			o[n++] = r;
	}
	if (n)
		qsort(o, n, sizeof(*o), vreq_rev_cmp);
	g->submitted = n + 1;
	for (size_t i = 0; i < n && g->n + 1 < want; i++)
		g->m[g->n++] = (struct ctl_gang_member){
		    .id = o[i]->id, .need = &o[i]->parsed.need};
	g->m[g->n++] = (struct ctl_gang_member){.id = id, .need = &req->need};
	free(o);
	if (g->n < want)
		return 0;
	rc = ctl_place_gang(x, v, g->m, g->n, &g->failed, &g->ex);
	if (rc < 0)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	g->fits = rc;
	return 0;
}

static void plan_gang_print(const struct ctrl_request *req,
			    const struct plan_gang *g)
{
	char a[FS_NAME_MAX * 4 + 8], b[FS_NAME_MAX * 4 + 8], rj[1024];

	ctl_esc(a, sizeof(a), req->gang, 0);
	if (g->fits < 0) {
		printf("\ngang %s: %zu of %lld submitted (this one included): "
		       "it waits for the rest\n",
		       a, g->submitted, (long long)req->gang_size);
		return;
	}
	if (!g->fits) {
		ctl_rejected_str(&g->ex, rj, sizeof(rj));
		printf("\ngang %s does not fit as a whole: %s has no host "
		       "with the others placed (%s)\n",
		       a, ctl_esc(b, sizeof(b), g->m[g->failed].id, 0), rj);
		return;
	}
	printf("\ngang %s as a whole (%zu members, one txn):", a, g->n);
	for (size_t i = 0; i < g->n; i++)
		printf("%s %s on %s", i ? "," : "",
		       ctl_esc(a, sizeof(a), g->m[i].id, 0),
		       ctl_esc(b, sizeof(b), g->m[i].host, 0));
	printf("\n");
}

static json_t *plan_gang_json(const struct ctrl_request *req,
			      const struct plan_gang *g)
{
	json_t *o = json_object(), *pl = json_array();

	json_object_set_new(o, "name", ctl_json_str(req->gang));
	json_object_set_new(o, "size", json_integer(req->gang_size));
	json_object_set_new(o, "submitted",
			    json_integer((json_int_t)g->submitted));
	json_object_set_new(o, "fits", json_boolean(g->fits > 0));
	for (size_t i = 0; g->fits > 0 && i < g->n; i++)
		json_array_append_new(
		    pl, json_pack("{s:o, s:o}", "id", ctl_json_str(g->m[i].id),
				  "host", ctl_json_str(g->m[i].host)));
	json_object_set_new(o, "placed", pl);
	json_object_set_new(o, "failed",
			    g->fits == 0 ? ctl_json_str(g->m[g->failed].id)
					 : json_null());
	return o;
}

int ctl_cmd_plan(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"id", required_argument, NULL, 'i'},
	    {NULL, 0, NULL, 0},
	};
	const char *opt_id = NULL;
	char id[FS_NAME_MAX + 2], *buf = NULL, ns[512], rj[1024];
	char hn[FS_NAME_MAX * 4 + 8], nse[2048];
	struct ctrl_request req = {0};
	struct ctl_preempt pp = {0};
	struct plan_gang g = {.fits = 1};
	char vs[2048];
	struct ctl_place p;
	struct ctl_view v;
	size_t len;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'i')
			return ctl_errorf(CTL_EXIT_INPUT,
					  "see flintschedctl plan --help");
		opt_id = optarg;
	}
	if (optind + 1 != argc)
		return ctl_errorf(CTL_EXIT_INPUT,
				  "plan: give one FILE (or - for stdin)");
	if (!opt_id && strcmp(argv[optind], "-") == 0)
		opt_id = "plan"; /* only the tie-break hashes the id */
	rc = ctl_request_load(argv[optind], opt_id, id, sizeof(id), &buf, &len,
			      &req);
	if (rc)
		return rc;
	free(buf);
	rc = ctl_view_load(x, &v, CTL_V_HOSTS | (req.gang ? CTL_V_REQS : 0u));
	if (rc) {
		ctrl_request_clear(&req);
		return rc;
	}
	if (ctl_place(x, &v, id, &req.need, NULL, &p) < 0) {
		rc = ctl_errorf(CTL_EXIT_INPUT, "out of memory");
		goto out;
	}
	rc = plan_preempt(x, &v, &p, id, &req, &pp);
	if (!rc && req.gang)
		rc = plan_gang(x, &v, id, &req, &g);
	if (rc)
		goto out_p;
	victims_str(&pp, vs, sizeof(vs));
	if (x->out == CTL_OUT_JSON) {
		json_t *js = place_json(id, &req.need, &p), *vj = json_array();

		for (size_t i = 0; i < pp.chosen.n; i++)
			json_array_append_new(vj,
					      ctl_json_str(pp.chosen.v[i]->id));
		json_object_set_new(
		    js, "preempt",
		    pp.chosen.n
			? json_pack("{s:o, s:o}", "host",
				    ctl_json_str(pp.chosen.v[0]->host->name),
				    "victims", vj)
			: (json_decref(vj), json_null()));
		json_object_set_new(js, "gang",
				    req.gang ? plan_gang_json(&req, &g)
					     : json_null());
		rc = ctl_print_json(js);
		if (!rc && ((p.n_cands == 0 && !pp.chosen.n) || g.fits <= 0))
			rc = CTL_EXIT_INPUT;
		goto out_p;
	}
	need_str(&req.need, ns, sizeof(ns));
	printf("plan for %s (%s), strategy %s, weights cpu %g memory %g "
	       "vms %g\n",
	       id, ctl_esc(nse, sizeof(nse), ns, 0),
	       x->sched.strategy == FS_BINPACK ? "binpack" : "spread",
	       x->sched.w_cpu, x->sched.w_memory, x->sched.w_vms);
	printf("%lld host%s seen, %lld feasible\n\n",
	       (long long)p.explain.hosts, p.explain.hosts == 1 ? "" : "s",
	       (long long)p.explain.feasible);
	ctl_rejected_str(&p.explain, rj, sizeof(rj));
	rc = ctl_place_print(x, &p, true);
	if (p.n_cands) {
		printf("\nwould place %s on %s: lowest score %.3f of %zu "
		       "feasible host%s\n",
		       id, ctl_esc(hn, sizeof(hn), p.cands[0].host, 0),
		       p.cands[0].score, p.n_cands, p.n_cands == 1 ? "" : "s");
		if (*rj)
			printf("rejected: %s\n", rj);
	} else if (pp.chosen.n) {
		printf("\n%s fits nowhere: %s\n", id, rj);
		printf("would preempt %s (scheduling.preemption.max_victims "
		       "%lld; the controller checks their statuses too)\n",
		       vs, (long long)x->sched.max_victims);
	} else {
		printf("%s%s fits nowhere: %s\n", p.n_hosts ? "\n" : "", id,
		       p.n_hosts ? rj : "no live host");
		if (p.n_hosts && x->sched.max_victims > 0)
			printf("and preemption would not place it (no VMs of "
			       "lower priority on one host free enough)\n");
		rc = CTL_EXIT_INPUT;
	}
	if (req.gang) {
		plan_gang_print(&req, &g);
		if (g.fits <= 0)
			rc = CTL_EXIT_INPUT;
	}
out_p:
	ctrl_explain_clear(&g.ex);
	ctl_preempt_clear(&pp);
	ctl_place_clear(&p);
out:
	ctl_view_clear(&v);
	ctrl_request_clear(&req);
	return rc;
}
