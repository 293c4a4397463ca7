/* explain ID [-v]: the request's status in sentences — where it is, what
 * the coordinator saw (hosts, feasible, bids, rejections), the attempts
 * and avoided hosts, and what it waits for; -v adds each host's verdict
 * as the controller's code computes it now (ctl_place). */
#include "ctl/place.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *waits_for(const struct ctl *x, const struct ctl_vreq *r,
			     char *buf, size_t n)
{
	char h[FS_NAME_MAX * 4 + 8];

	ctl_esc(h, sizeof(h), r->st.host, 0);
	if (!r->req_present)
		return "its status to go: the request was deleted and its VM "
		       "is being removed";
	if (!r->st_present)
		return "a coordinator: none has looked at it yet; is a "
		       "controller running? (flintschedctl top)";
	if (r->st.request_rev && r->req_mod_rev > r->st.request_rev) {
		snprintf(buf, n,
			 "its coordinator to look at revision %lld of the "
			 "request (this status is for revision %lld)",
			 (long long)r->req_mod_rev,
			 (long long)r->st.request_rev);
		return buf;
	}
	switch (r->st.phase) {
	case CTRL_PENDING:
		return "a placement";
	case CTRL_SCHEDULED:
		snprintf(buf, n,
			 "the agent on %s to create the VM "
			 "(it reports in %s/vms/%s/%s)",
			 h, x->prefix, h, r->id);
		return buf;
	case CTRL_RUNNING:
		return "nothing: the VM runs";
	case CTRL_FAILED:
		snprintf(buf, n,
			 "the VM failed on %s (attempt %lld of %lld): it is "
			 "placed elsewhere until attempts run out",
			 h, (long long)r->st.attempt,
			 (long long)x->sched.max_attempts);
		return buf;
	case CTRL_UNSCHEDULABLE:
		return "capacity: it is tried again when a host joins or "
		       "frees capacity (see flintschedctl plan to check a "
		       "smaller size or another selector)";
	case CTRL_REJECTED:
		return "a fix: the request is invalid; correct the field "
		       "named above and submit it again with --replace";
	case CTRL_LOST:
		snprintf(buf, n,
			 "a new host: its host %s left, and it is being "
			 "rescheduled",
			 h);
		return buf;
	}
	return "?";
}

/* The value of one invitation P/invites/<host>/<r->id> in ir (a sample
 * round: one key per invited host, each holding the whole round), or
 * NULL. */
static const struct etcd_sync_kv *invite_of(const struct etcd_sync_range *ir,
				       size_t plen, const char *id)
{
	for (size_t i = 0; ir && i < ir->n_kvs; i++) {
		const char *slash = strchr(ir->kvs[i].key + plen, '/');

		if (slash && strcmp(slash + 1, id) == 0)
			return &ir->kvs[i];
	}
	return NULL;
}

/* An open bid round for r: the invited hosts and the bids so far, with
 * their scores (bids are deleted when the round closes; the status then
 * keeps only their count). */
static int show_round(struct ctl *x, const struct ctl_vreq *r)
{
	char *rk = ctl_key(x, "rounds/%s", r->id), *bk = ctl_key(x, "bids/");
	struct etcd_range_req q = {.key = rk};
	struct etcd_sync_range *rr = NULL, *br = NULL, *ir = NULL;
	const struct etcd_sync_kv *kv;
	char *ik = ctl_key(x, "invites/");
	struct fs_round rd = {0};
	struct etcd_error e;
	char err[64], h[FS_NAME_MAX * 4 + 8];
	char rs[256];
	size_t n = 0;
	int rc = 0;

	if (!rk || !bk || !ik) {
		rc = ctl_errorf(CTL_EXIT_INPUT, "out of memory");
		goto out;
	}
	if (etcd_sync_get(x->etcd, &q, &rr, &e) < 0) {
		rc = ctl_etcd_fail(x, "reading the bid round", rk, &e);
		goto out;
	}
	kv = rr->n_kvs ? &rr->kvs[0] : NULL;
	if (!kv) { /* a sample round is its invitations (issue 17) */
		q = (struct etcd_range_req){
		    .key = ik, .prefix = true, .revision = rr->revision};
		if (etcd_sync_get(x->etcd, &q, &ir, &e) < 0) {
			rc = ctl_etcd_fail(x, "reading the invitations", ik,
					   &e);
			goto out;
		}
		kv = invite_of(ir, strlen(ik), r->id);
	}
	if (!kv || fs_round_parse(kv->value, kv->value_len, &rd, err,
				  sizeof(err)) < 0)
		goto out;
	printf("A bid round is open (attempt %lld), inviting %s",
	       (long long)rd.attempt, rd.hosts ? "" : "every host");
	for (size_t i = 0; rd.hosts && i < rd.n_hosts; i++)
		printf("%s%s", i ? ", " : "",
		       ctl_esc(h, sizeof(h), rd.hosts[i], 0));
	printf(".\n");
	q = (struct etcd_range_req){
	    .key = bk, .prefix = true, .revision = rr->revision};
	if (etcd_sync_get(x->etcd, &q, &br, &e) < 0) {
		rc = ctl_etcd_fail(x, "reading the bids", bk, &e);
		goto out;
	}
	for (size_t i = 0; i < br->n_kvs; i++) {
		const char *k = br->kvs[i].key + strlen(bk), *slash;
		struct fs_bid b;

		slash = strchr(k, '/');
		if (!slash || strcmp(slash + 1, r->id) != 0 ||
		    fs_bid_parse(br->kvs[i].value, br->kvs[i].value_len, &b,
				 err, sizeof(err)) < 0)
			continue;
		snprintf(rs, sizeof(rs), "%.*s", (int)(slash - k), k);
		ctl_esc(h, sizeof(h), rs, FS_NAME_MAX);
		if (b.fits)
			printf("  bid from %s: score %.3f\n", h, b.score);
		else
			printf("  bid from %s: does not fit (%s)\n", h,
			       ctl_esc(rs, sizeof(rs), b.reason, 120));
		n++;
	}
	if (n == 0)
		printf("  no bids yet\n");
out:
	fs_round_clear(&rd);
	etcd_sync_range_free(rr);
	etcd_sync_range_free(br);
	etcd_sync_range_free(ir);
	free(ik);
	free(rk);
	free(bk);
	return rc;
}

static int explain_json(const struct ctl *x, const struct ctl_vreq *r)
{
	json_t *o = ctl_vreq_json(r);
	char buf[1024];

	if (o)
		json_object_set_new(
		    o, "waits_for",
		    json_string(waits_for(x, r, buf, sizeof(buf))));
	return ctl_print_json(o);
}

int ctl_cmd_explain(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"verbose", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	bool verbose = false;
	struct ctl_view v;
	struct ctl_vreq *r;
	char buf[1024], age[16], rs[1024], co[128];
	const struct ctrl_explain *e;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		if (o != 'v')
			return ctl_errorf(CTL_EXIT_INPUT,
					  "see flintschedctl explain --help");
		verbose = true;
	}
	if (optind + 1 != argc)
		return ctl_errorf(CTL_EXIT_INPUT, "explain: give one ID");
	rc = ctl_view_load_req(x, &v, argv[optind]);
	if (rc)
		return rc;
	r = ctl_view_req(&v, argv[optind]);
	if (!r) {
		rc = ctl_errorf(CTL_EXIT_INPUT, "no request %s", argv[optind]);
		goto out;
	}
	if (x->out == CTL_OUT_JSON) {
		rc = explain_json(x, r);
		goto out;
	}
	printf("%s is %s", r->id, ctl_vreq_phase(r));
	if (r->st_present && *r->st.host)
		printf(" on %s", ctl_esc(buf, sizeof(buf), r->st.host, 0));
	if (r->st_present)
		printf(" (attempt %lld), status written %s ago",
		       (long long)r->st.attempt,
		       ctl_age(age, sizeof(age), x->now_ms, r->st.updated));
	printf(".\n");
	if (r->st_present && *r->st.host)
		printf("Its score there was %.3f (lower is better).\n",
		       r->st.score);
	if (r->req_present && r->parsed_ok)
		printf("It asks for %lld vcpu and %lldMi%s%s.\n",
		       (long long)r->parsed.need.res.vcpu,
		       (long long)r->parsed.need.res.memory_mb,
		       r->parsed.need.selector.n ? " with a selector" : "",
		       r->parsed.need.spread ? " in a spread group" : "");
	if (r->st_present && r->st.coordinator)
		printf("Coordinator %s decided on request revision %lld.\n",
		       ctl_esc(co, sizeof(co), r->st.coordinator, 60),
		       (long long)r->st.request_rev);
	if (r->st_present && r->st.reason && *r->st.reason)
		printf("Reason: %s\n",
		       ctl_esc(rs, sizeof(rs), r->st.reason, 0));
	e = r->st_present && r->st.has_explain ? &r->st.explain : NULL;
	if (e) {
		printf("It saw %lld host%s: %lld fit", (long long)e->hosts,
		       e->hosts == 1 ? "" : "s", (long long)e->feasible);
		if (e->bids)
			printf(", %lld bid%s received", (long long)e->bids,
			       e->bids == 1 ? "" : "s");
		printf(".\n");
		if (e->n_rejected) {
			ctl_rejected_str(e, buf, sizeof(buf));
			printf("Rejected: %s.\n", buf);
		}
	}
	if (r->st_present && r->st.n_avoid) {
		printf("Hosts avoided (its VM failed there):");
		for (size_t i = 0; i < r->st.n_avoid; i++)
			printf(" %s",
			       ctl_esc(buf, sizeof(buf), r->st.avoid[i], 0));
		printf(".\n");
	}
	if (r->req_present &&
	    (!r->st_present || r->st.phase == CTRL_PENDING ||
	     r->st.phase == CTRL_LOST || r->st.phase == CTRL_FAILED)) {
		rc = show_round(x, r);
		if (rc)
			goto out;
	}
	printf("It waits for %s.\n", waits_for(x, r, buf, sizeof(buf)));
	if (verbose && r->req_present && r->parsed_ok) {
		struct ctl_view hv;
		struct ctl_place p;

		rc = ctl_view_load(x, &hv, CTL_V_HOSTS);
		if (rc)
			goto out;
		if (ctl_place(x, &hv, r->id, &r->parsed.need,
			      r->st_present ? &r->st : NULL, &p) == 0) {
			printf("\nEach host now, as the controller scores it "
			       "(with this request's own reservation where it "
			       "is placed):\n");
			rc = ctl_place_print(x, &p, true);
			ctl_place_clear(&p);
		}
		ctl_view_clear(&hv);
	}
out:
	ctl_view_clear(&v);
	return rc;
}
