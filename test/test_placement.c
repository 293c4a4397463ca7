/* controller/place.c: host states in; feasible set, rejection reasons and
 * ranking out.  No etcd, no loop: the unit a dry-run planner would call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/spec.h"
#include "controller/ctrl.h"

#define HOSTS_MAX 8

/* One host as the cache would hold it.  vcpu 0: not live (no record). */
struct hrow {
	const char *name;
	int64_t vcpu, mem, vms;    /* allocatable */
	int64_t uvcpu, umem, uvms; /* committed in P/alloc/<name> */
	unsigned part;             /* its partition */
	unsigned invites, locked;
	int64_t pvcpu; /* > 0: a commit in flight adds this many vCPUs */
	const char *zone;
};

static struct fs_label zone_a[] = {{"zone", "a"}};
static struct fs_label zone_b[] = {{"zone", "b"}};

struct fleet {
	struct ctrl_host h[HOSTS_MAX];
	struct ctrl_host *p[HOSTS_MAX];
	struct fs_alloc pend[HOSTS_MAX];
	size_t n;
};

static void fleet_build(struct fleet *f, const struct hrow *rows)
{
	memset(f, 0, sizeof(*f));
	for (; rows[f->n].name; f->n++) {
		const struct hrow *r = &rows[f->n];
		struct ctrl_host *h = &f->h[f->n];

		snprintf(h->name, sizeof(h->name), "%s", r->name);
		h->present = r->vcpu > 0;
		h->rec.allocatable = (struct fs_res){r->vcpu, r->mem, r->vms};
		h->rec.capacity = h->rec.allocatable;
		if (r->zone)
			h->rec.labels = (struct fs_labels){
				strcmp(r->zone, "a") == 0 ? zone_a : zone_b, 1};
		h->alloc_present = r->uvcpu || r->umem || r->uvms;
		h->alloc.used = (struct fs_res){r->uvcpu, r->umem, r->uvms};
		h->part = r->part;
		h->invites = r->invites;
		h->locked = r->locked;
		if (r->pvcpu > 0) {
			f->pend[f->n].used = h->alloc.used;
			f->pend[f->n].used.vcpu += r->pvcpu;
			f->pend[f->n].used.vms++;
			h->pend = &f->pend[f->n];
		}
		f->p[f->n] = h;
	}
}

/* "reason=count;..." in first-seen order. */
static void explain_str(const struct ctrl_explain *ex, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ex->n_rejected && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s=%lld",
				      i ? ";" : "", ex->rejected[i].reason,
				      (long long)ex->rejected[i].count);
}

static void explain_check(struct ctrl_explain *ex, int64_t counted,
			  const char *rejected, struct ctrl_status *avoid)
{
	char got[512];

	assert_int_equal(ex->hosts, counted);
	explain_str(ex, got, sizeof(got));
	assert_string_equal(got, rejected);
	ctrl_explain_clear(ex);
	ctrl_status_clear(avoid);
}

struct place_case {
	const char *name;
	struct hrow hosts[HOSTS_MAX];
	int64_t need_vcpu, need_mem;
	const char *selector_zone; /* NULL: none */
	const char *avoid;         /* a host where it failed, or NULL */
	double band;
	/* ctrl_place_rate over the hosts, then ctrl_cand_sort */
	const char *ranking;  /* feasible hosts, best first */
	const char *rejected; /* explain's reasons */
	int64_t counted;      /* live hosts looked at */
	/* ctrl_place_pick over all hosts from cursor 0 */
	const char *pick; /* NULL: none */
	bool busy;
};

/* 8 vCPU, 8000 MiB, 4 VMs allocatable, zone a, partition 0. */
#define H(n, uv, um, uvm) {n, 8, 8000, 4, uv, um, uvm, 0, 0, 0, 0, "a"}

static const struct place_case cases[] = {
	{"every reason a host is refused",
	 {H("ok", 0, 0, 0), H("nomem", 2, 7000, 1), H("nocpu", 7, 0, 1),
	  H("novms", 0, 0, 4), {"zoneb", 8, 8000, 4, 0, 0, 0, 0, 0, 0, 0, "b"},
	  {"gone", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "a"}},
	 2, 2000, "a", NULL, 0, "ok",
	 "insufficient memory=1;insufficient vcpu=1;max_vms reached=1;"
	 "selector zone=a=1",
	 5, "ok", false},
	{"least loaded first",
	 {H("b4", 4, 4000, 2), H("a0", 0, 0, 0), H("c2", 2, 2000, 1)},
	 2, 2000, NULL, NULL, 0, "a0,c2,b4", "", 3, "a0", false},
	{"a host where the VM failed is refused",
	 {H("a0", 0, 0, 0), H("b2", 2, 2000, 1)},
	 2, 2000, NULL, "a0", 0, "b2", "VM failed there before=1", 2, "b2",
	 false},
	{"open invitations count as VMs in rounds, not in cached picks",
	 {{"inv", 8, 8000, 4, 0, 0, 0, 0, 2, 0, 0, "a"}, H("b1", 1, 1000, 1)},
	 1, 1000, NULL, NULL, 0, "b1,inv", "", 2, "inv", false},
	{"a host outside the partition scores band worse",
	 {{"other", 8, 8000, 4, 0, 0, 0, 1, 0, 0, 0, "a"}, H("mine", 1, 500, 0)},
	 1, 1000, NULL, NULL, 0.25, "mine,other", "", 2, "mine", false},
	{"a commit in flight counts",
	 {{"pend", 8, 8000, 4, 0, 0, 0, 0, 0, 1, 4, "a"}, H("b1", 1, 1000, 1)},
	 2, 2000, NULL, NULL, 0, "b1,pend", "", 2, "b1", false},
	{"the best host is in a commit: wait for it",
	 {{"busy", 8, 8000, 4, 0, 0, 0, 0, 0, 1, 0, "a"}, H("b4", 4, 4000, 2)},
	 2, 2000, NULL, NULL, 0, "busy,b4", "", 2, NULL, true},
	{"equal scores: the host without a commit in flight",
	 {{"lck", 8, 8000, 4, 0, 0, 0, 0, 0, 1, 0, "a"}, H("free", 0, 0, 0)},
	 2, 2000, NULL, NULL, 0, NULL, "", 2, "free", false},
	{"fits only without what is pending: wait",
	 {{"full", 8, 8000, 4, 2, 2000, 1, 0, 0, 1, 6, "a"}},
	 2, 2000, NULL, NULL, 0, "", "insufficient vcpu=1", 1, NULL, true},
	{"nothing fits: no host, no wait",
	 {H("small", 7, 7000, 3)},
	 2, 2000, NULL, NULL, 0, "", "insufficient memory=1", 1, NULL, false},
	{"no hosts", {{NULL}}, 1, 1, NULL, NULL, 0, "", "", 0, NULL, false},
};

static void place_init(const struct place_case *pc, struct fs_need *need,
		       struct ctrl_status *avoid, struct ctrl_place *p)
{
	static struct fs_label sel;

	memset(need, 0, sizeof(*need));
	memset(avoid, 0, sizeof(*avoid));
	need->res = (struct fs_res){pc->need_vcpu, pc->need_mem, 1};
	if (pc->selector_zone) {
		sel = (struct fs_label){"zone", (char *)pc->selector_zone};
		need->selector = (struct fs_labels){&sel, 1};
	}
	if (pc->avoid)
		assert_int_equal(ctrl_status_avoid_add(avoid, pc->avoid), 0);
	*p = (struct ctrl_place){.id = "req-1", .need = need, .slot = 0,
				 .avoid = pc->avoid ? avoid : NULL,
				 .w = {1, 1, 1}, .strategy = FS_SPREAD,
				 .band = pc->band};
}

static void test_rate_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct place_case *pc = &cases[i];
		struct ctrl_cand cand[HOSTS_MAX];
		struct ctrl_explain ex = {0};
		struct ctrl_status avoid;
		struct ctrl_place p;
		struct fs_need need;
		struct fleet f;
		char got[512] = "";
		size_t n = 0, o = 0;

		if (!pc->ranking)
			continue;
		fleet_build(&f, pc->hosts);
		place_init(pc, &need, &avoid, &p);
		for (size_t j = 0; j < f.n; j++) {
			int rc = ctrl_place_rate(&p, f.p[j], &ex, &cand[n]);

			assert_true(rc >= 0);
			n += rc == 1;
		}
		ctrl_cand_sort(cand, n);
		for (size_t j = 0; j < n; j++) {
			const struct ctrl_host *h = cand[j].data;

			assert_string_equal(h->name, cand[j].host);
			o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s",
					      j ? "," : "", cand[j].host);
		}
		print_message("rate: %s\n", pc->name);
		assert_string_equal(got, pc->ranking);
		assert_int_equal(ex.feasible, (int64_t)n);
		explain_check(&ex, pc->counted, pc->rejected, &avoid);
	}
}

static void test_pick_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct place_case *pc = &cases[i];
		struct ctrl_explain ex = {0};
		struct ctrl_status avoid;
		struct ctrl_pick pk;
		struct ctrl_place p;
		struct fs_need need;
		struct fleet f;
		size_t cursor = 0;

		fleet_build(&f, pc->hosts);
		place_init(pc, &need, &avoid, &p);
		print_message("pick: %s\n", pc->name);
		assert_int_equal(ctrl_place_pick(&p, f.p, f.n, &cursor, 0, &ex,
						 &pk),
				 0);
		if (pc->pick) {
			assert_non_null(pk.best);
			assert_string_equal(pk.best->name, pc->pick);
		} else {
			assert_null(pk.best);
		}
		assert_int_equal(pk.busy, pc->busy);
		assert_int_equal(cursor, 0); /* went all the way round */
		explain_check(&ex, pc->counted, pc->rejected, &avoid);
	}
}

/* score_hosts: a pick stops after want feasible hosts, and the next one
 * starts where it stopped, so that consecutive picks tile the hosts. */
static void test_pick_window(void **state)
{
	static const struct hrow rows[] = {
		H("h0", 4, 4000, 2), H("h1", 2, 2000, 1), H("h2", 7, 7000, 3),
		H("h3", 0, 0, 0), H("h4", 1, 1000, 1), {NULL}};
	static const struct place_case pc = {.need_vcpu = 2, .need_mem = 2000};
	struct ctrl_explain ex = {0};
	struct ctrl_status avoid;
	struct ctrl_pick pk;
	struct ctrl_place p;
	struct fs_need need;
	struct fleet f;
	size_t cursor = 0;

	(void)state;
	fleet_build(&f, rows);
	place_init(&pc, &need, &avoid, &p);
	/* h0, h1 fit: the best of those two */
	assert_int_equal(ctrl_place_pick(&p, f.p, f.n, &cursor, 2, &ex, &pk),
			 0);
	assert_string_equal(pk.best->name, "h1");
	assert_int_equal(cursor, 2);
	assert_int_equal(ex.feasible, 2);
	ctrl_explain_clear(&ex);
	memset(&ex, 0, sizeof(ex));
	/* h2 does not fit, h3 and h4 do */
	assert_int_equal(ctrl_place_pick(&p, f.p, f.n, &cursor, 2, &ex, &pk),
			 0);
	assert_string_equal(pk.best->name, "h3");
	assert_int_equal(cursor, 0);
	assert_int_equal(ex.hosts, 3);
	assert_int_equal(ex.feasible, 2);
	ctrl_explain_clear(&ex);
	memset(&ex, 0, sizeof(ex));
	/* a cursor past the end (hosts gone) starts again at 0 */
	cursor = 99;
	assert_int_equal(ctrl_place_pick(&p, f.p, f.n, &cursor, 1, &ex, &pk),
			 0);
	assert_string_equal(pk.best->name, "h0");
	assert_int_equal(cursor, 1);
	ctrl_explain_clear(&ex);
}

/* At commit, bidders rank by the larger of their bid and the cache's
 * score with what is pending on them. */
static void test_bidder(void **state)
{
	static const struct hrow rows[] = {
		/* bid 0.1, but a commit in flight made it 5 of 8 vCPUs */
		{"stale", 8, 8000, 4, 0, 0, 0, 0, 0, 0, 5, "a"},
		H("fresh", 1, 1000, 1),
		H("gone", 0, 0, 0),
		H("avoided", 0, 0, 0),
		H("full", 7, 0, 1),
		{NULL}};
	static const struct place_case pc = {
		.need_vcpu = 2, .need_mem = 2000, .avoid = "avoided"};
	struct ctrl_cand bids[5];
	struct ctrl_status avoid;
	struct ctrl_place p;
	struct fs_need need;
	struct fleet f;
	double score = -1;

	(void)state;
	fleet_build(&f, rows);
	f.h[2].present = false; /* its lease expired after it bid */
	place_init(&pc, &need, &avoid, &p);
	for (size_t i = 0; i < 5; i++)
		bids[i] = (struct ctrl_cand){.host = f.h[i].name,
					     .score = 0.1 + 0.01 * (double)i,
					     .data = &f.h[i]};
	assert_ptr_equal(ctrl_place_bidder(&p, bids, 5, &score), &f.h[1]);
	assert_true(fabs(score - 0.11) < 1e-9);
	/* only the ones that cannot take it */
	score = -1;
	assert_null(ctrl_place_bidder(&p, bids + 2, 3, &score));
	assert_true(score == -1);
	ctrl_status_clear(&avoid);
}

/* ---- constraints and group rules (issue 18) ---------------------------- */

/* A host for the rule tables: labels "k=v k=v", VMs of group web on it,
 * cordoned; 8 vCPU, 8000 MiB, 8 VMs, empty but for those VMs. */
struct rrow {
	const char *name;
	const char *labels;
	int64_t web;
	bool cordon;
};

struct rule_case {
	const char *name;
	const char *scheduling; /* the request's "scheduling" members */
	struct rrow hosts[HOSTS_MAX];
	const char *feasible; /* ctrl_place_rate, in host order */
	const char *rejected; /* explain's reasons */
};

#define RSPEC(x)                                                               \
	"{\"vcpu\":1,\"memoryInMb\":1024," FS_SPEC_EXAMPLE                     \
	",\"scheduling\":{" x "}}"

static const struct rule_case rules[] = {
    {"Exists and DoesNotExist, label missing",
     "\"constraints\":[{\"key\":\"gpu\",\"op\":\"Exists\"},"
     "{\"key\":\"spot\",\"op\":\"DoesNotExist\"}]",
     {{"g", "gpu=1", 0, 0}, {"n", "zone=a", 0, 0}, {"gs", "gpu=1 spot=y", 0, 0},
      {"none", "", 0, 0}},
     "g",
     "constraint gpu Exists=2;constraint spot DoesNotExist=1"},
    {"In and NotIn: NotIn holds without the label",
     "\"constraints\":[{\"key\":\"zone\",\"op\":\"In\",\"values\":[\"a\",\"b\"]},"
     "{\"key\":\"tier\",\"op\":\"NotIn\",\"values\":[\"spot\"]}]",
     {{"a", "zone=a", 0, 0}, {"b", "zone=b tier=gold", 0, 0},
      {"c", "zone=c", 0, 0}, {"as", "zone=a tier=spot", 0, 0},
      {"nz", "tier=gold", 0, 0}},
     "a,b",
     "constraint zone In a,b=2;constraint tier NotIn spot=1"},
    {"Gt and Lt: integers only, missing or not a number fails",
     "\"constraints\":[{\"key\":\"cores\",\"op\":\"Gt\",\"values\":[\"8\"]},"
     "{\"key\":\"cores\",\"op\":\"Lt\",\"values\":[\"64\"]}]",
     {{"c16", "cores=16", 0, 0}, {"c8", "cores=8", 0, 0},
      {"c64", "cores=64", 0, 0}, {"cx", "cores=lots", 0, 0},
      {"none", "", 0, 0}, {"neg", "cores=-3", 0, 0}},
     "c16",
     "constraint cores Gt 8=4;constraint cores Lt 64=1"},
    {"selector is In with one value, beside constraints",
     "\"selector\":{\"zone\":\"a\"},\"constraints\":[{\"key\":\"gpu\","
     "\"op\":\"Exists\"}]",
     {{"ag", "zone=a gpu=1", 0, 0}, {"a", "zone=a", 0, 0},
      {"bg", "zone=b gpu=1", 0, 0}},
     "ag", "constraint gpu Exists=1;selector zone=a=1"},
    {"anti_affinity host: a host holding one of the group is refused",
     "\"anti_affinity\":{\"group\":\"web\"}",
     {{"h0", "", 1, 0}, {"h1", "", 0, 0}, {"h2", "", 2, 0}, {"h3", "", 0, 0}},
     "h1,h3", "anti_affinity web: a VM of web on the host=2"},
    {"anti_affinity zone: every host of a zone holding one is refused; a "
     "host without the label is its own domain",
     "\"anti_affinity\":{\"group\":\"web\",\"scope\":\"zone\"}",
     {{"a1", "zone=a", 1, 0}, {"a2", "zone=a", 0, 0}, {"b1", "zone=b", 0, 0},
      {"x1", "", 0, 0}, {"x2", "", 1, 0}},
     "b1,x1",
     "anti_affinity web: a VM of web in zone=a=2;"
     "anti_affinity web: a VM of web on the host=1"},
    {"anti_affinity zone: a cordoned host's VMs still count",
     "\"anti_affinity\":{\"group\":\"web\",\"scope\":\"zone\"}",
     {{"a1", "zone=a", 1, 1}, {"a2", "zone=a", 0, 0}, {"b1", "zone=b", 0, 0}},
     "b1", "host cordoned=1;anti_affinity web: a VM of web in zone=a=1"},
    {"topology_spread: only the zones at the minimum take one (skew 1)",
     "\"topology_spread\":{\"group\":\"web\",\"key\":\"zone\"}",
     {{"a1", "zone=a", 1, 0}, {"a2", "zone=a", 1, 0}, {"b1", "zone=b", 1, 0},
      {"c1", "zone=c", 1, 0}, {"c2", "zone=c", 0, 0}, {"n", "", 0, 0}},
     "b1,c1,c2",
     "topology_spread web zone: skew 2 > 1=2;"
     "topology_spread web zone: no label zone=1"},
    {"topology_spread: max_skew 2 lets the next zone up take one",
     "\"topology_spread\":{\"group\":\"web\",\"key\":\"zone\",\"max_skew\":2}",
     {{"a1", "zone=a", 3, 0}, {"b1", "zone=b", 2, 0}, {"c1", "zone=c", 1, 0}},
     "b1,c1", "topology_spread web zone: skew 3 > 2=1"},
    {"topology_spread: a zone without an eligible host sets no minimum",
     "\"constraints\":[{\"key\":\"gpu\",\"op\":\"Exists\"}],"
     "\"topology_spread\":{\"group\":\"web\",\"key\":\"zone\"}",
     {{"a1", "zone=a gpu=1", 1, 0}, {"b1", "zone=b gpu=1", 2, 0},
      {"c1", "zone=c", 0, 0}},
     "a1", "topology_spread web zone: skew 2 > 1=1;constraint gpu Exists=1"},
    {"topology_spread: a cordoned zone sets no minimum either",
     "\"topology_spread\":{\"group\":\"web\",\"key\":\"zone\"}",
     {{"a1", "zone=a", 1, 0}, {"b1", "zone=b", 1, 0}, {"c1", "zone=c", 0, 1}},
     "a1,b1", "host cordoned=1"},
    {"both rules, a group larger than the fleet: nothing left",
     "\"anti_affinity\":{\"group\":\"web\"},"
     "\"topology_spread\":{\"group\":\"web\",\"key\":\"zone\"}",
     {{"a1", "zone=a", 1, 0}, {"b1", "zone=b", 1, 0}},
     "", "anti_affinity web: a VM of web on the host=2"},
};

struct rfleet {
	struct ctrl_host h[HOSTS_MAX];
	struct ctrl_host *p[HOSTS_MAX];
	struct fs_group g[HOSTS_MAX];
	size_t n;
};

static void rfleet_build(struct rfleet *f, const struct rrow *rows)
{
	memset(f, 0, sizeof(*f));
	for (; f->n < HOSTS_MAX && rows[f->n].name; f->n++) {
		const struct rrow *r = &rows[f->n];
		struct ctrl_host *h = &f->h[f->n];
		char *dup = strdup(r->labels), *save = NULL, *w;

		assert_non_null(dup);
		snprintf(h->name, sizeof(h->name), "%s", r->name);
		h->present = true;
		h->cordon = r->cordon ? CTRL_HOST_CORDONED : CTRL_HOST_NORMAL;
		h->rec.allocatable = (struct fs_res){8, 8000, 8};
		h->rec.capacity = h->rec.allocatable;
		h->rec.labels.v = calloc(HOSTS_MAX, sizeof(struct fs_label));
		assert_non_null(h->rec.labels.v);
		for (w = strtok_r(dup, " ", &save); w;
		     w = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(w, '=');
			struct fs_label *l =
			    &h->rec.labels.v[h->rec.labels.n++];

			*eq = '\0';
			l->key = strdup(w);
			l->value = strdup(eq + 1);
		}
		free(dup);
		if (r->web) {
			f->g[f->n] = (struct fs_group){"web", r->web};
			h->alloc_present = true;
			h->alloc.used = (struct fs_res){r->web, 1024 * r->web,
							r->web};
			h->alloc.groups = &f->g[f->n];
			h->alloc.n_groups = 1;
		}
		f->p[f->n] = h;
	}
}

static void rfleet_clear(struct rfleet *f)
{
	for (size_t i = 0; i < f->n; i++)
		fs_labels_clear(&f->h[i].rec.labels);
}

static void test_rules_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule_case *rc = &rules[i];
		struct ctrl_explain ex = {0}, ex2 = {0};
		struct ctrl_groups g = {0};
		struct ctrl_request req;
		struct ctrl_status none = {0};
		struct ctrl_cand cand;
		struct ctrl_place p;
		struct ctrl_pick pk;
		struct rfleet f;
		char json[2048], reason[256], got[512] = "";
		size_t o = 0, cursor = 0;

		print_message("rules: %s\n", rc->name);
		snprintf(json, sizeof(json), RSPEC("%s"), rc->scheduling);
		assert_int_equal(ctrl_request_parse("web-9", json, strlen(json),
						    &req, reason,
						    sizeof(reason)),
				 0);
		rfleet_build(&f, rc->hosts);
		p = (struct ctrl_place){.id = "web-9", .need = &req.need,
					.w = {1, 1, 1}, .strategy = FS_SPREAD};
		assert_int_equal(ctrl_place_groups(&p, f.p, f.n, &g), 0);
		for (size_t j = 0; j < f.n; j++) {
			int r = ctrl_place_rate(&p, f.p[j], &ex, &cand);

			assert_true(r >= 0);
			if (r == 1)
				o += (size_t)snprintf(got + o, sizeof(got) - o,
						      "%s%s", o ? "," : "",
						      cand.host);
		}
		assert_string_equal(got, rc->feasible);
		explain_check(&ex, (int64_t)f.n, rc->rejected, &none);
		/* the cached pick agrees: one of the feasible, same reasons */
		assert_int_equal(
		    ctrl_place_pick(&p, f.p, f.n, &cursor, 0, &ex2, &pk), 0);
		if (*rc->feasible) {
			assert_non_null(pk.best);
			assert_non_null(strstr(rc->feasible, pk.best->name));
		} else {
			assert_null(pk.best);
		}
		explain_check(&ex2, (int64_t)f.n, rc->rejected, &none);
		ctrl_groups_clear(&g);
		rfleet_clear(&f);
		ctrl_request_clear(&req);
	}
}

/* A batch of one group, placed one after another as commit.c does (each
 * placement joins the host's tentative alloc, the view is built again):
 * anti_affinity fills each host once; topology_spread keeps the zones
 * within max_skew of each other. */
static void test_rules_sequence(void **state)
{
	static const struct rrow rows[] = {
	    {"a1", "zone=a", 0, 0}, {"a2", "zone=a", 0, 0},
	    {"b1", "zone=b", 0, 0}, {"c1", "zone=c", 0, 0},
	    {"c2", "zone=c", 0, 0}, {"c3", "zone=c", 0, 0}, {NULL, NULL, 0, 0}};
	static const char *const sch[] = {
	    "\"anti_affinity\":{\"group\":\"web\"}",
	    "\"topology_spread\":{\"group\":\"web\",\"key\":\"zone\"}"};

	(void)state;
	for (size_t s = 0; s < 2; s++) {
		struct ctrl_request req;
		struct fs_alloc tent[HOSTS_MAX];
		struct rfleet f;
		char json[2048], reason[256];
		int placed = 0;

		memset(tent, 0, sizeof(tent));
		snprintf(json, sizeof(json), RSPEC("%s"), sch[s]);
		assert_int_equal(ctrl_request_parse("web-1", json, strlen(json),
						    &req, reason,
						    sizeof(reason)),
				 0);
		rfleet_build(&f, rows);
		for (size_t j = 0; j < f.n; j++)
			f.h[j].tent = &tent[j];
		for (int k = 0; k < 12; k++) {
			struct ctrl_explain ex = {0};
			struct ctrl_groups g = {0};
			struct ctrl_place p = {.id = "web-1", .need = &req.need,
					       .w = {1, 1, 1}};
			struct ctrl_pick pk;
			size_t cursor = 0;
			int64_t z[3] = {0};

			assert_int_equal(ctrl_place_groups(&p, f.p, f.n, &g),
					 0);
			assert_int_equal(ctrl_place_pick(&p, f.p, f.n, &cursor,
							 0, &ex, &pk),
					 0);
			ctrl_groups_clear(&g);
			ctrl_explain_clear(&ex);
			if (!pk.best)
				break;
			assert_int_equal(fs_alloc_add(pk.best->tent,
						      &req.need.res, "web", 1),
					 0);
			placed++;
			for (size_t j = 0; j < f.n; j++)
				z[f.h[j].name[0] - 'a'] +=
				    fs_alloc_group_vms(&tent[j], "web");
			if (s == 1) {
				int64_t mx = z[0], mn = z[0];

				for (int q = 1; q < 3; q++) {
					mx = z[q] > mx ? z[q] : mx;
					mn = z[q] < mn ? z[q] : mn;
				}
				assert_true(mx - mn <= 1);
			}
		}
		for (size_t j = 0; j < f.n; j++) {
			if (s == 0)
				assert_int_equal(
				    fs_alloc_group_vms(&tent[j], "web"), 1);
			fs_alloc_clear(&tent[j]);
		}
		/* anti_affinity: one per host, then no more; the spread
		 * goes on (8 VMs per host) */
		assert_int_equal(placed, s == 0 ? 6 : 12);
		rfleet_clear(&f);
		ctrl_request_clear(&req);
	}
}


/* ---- victim.c: preemption's victim choice ---------------------------- */

struct vrow {
	const char *id;
	unsigned host; /* index into the case's hosts */
	int64_t vcpu, prio;
	bool off; /* preemptible: false */
	bool gang;
};

struct victim_case {
	const char *name;
	struct hrow hosts[3];
	struct vrow v[8];
	int64_t need_vcpu, prio, max;
	const char *want; /* "host:id,id" (highest priority first), "" none */
};

/* Full hosts: 8 vCPU, 8000 MiB, 4 VMs, used as the victims say plus
 * what no victim holds. */
#define HF(n, uv, uvm) {n, 8, 8000, 4, uv, uv * 1000, uvm, 0, 0, 0, 0, "a"}

static const struct victim_case vcases[] = {
	{"fewest first: one VM of priority 1 over two of priority 0",
	 {HF("h1", 8, 3)},
	 {{"v1", 0, 2, 0, false, false}, {"v2", 0, 2, 0, false, false},
	  {"v3", 0, 4, 1, false, false}},
	 4, 5, 4, "h1:v3"},
	{"as many: the lowest priority",
	 {HF("h1", 8, 2)},
	 {{"v1", 0, 4, 3, false, false}, {"v2", 0, 4, 1, false, false}},
	 4, 5, 4, "h1:v2"},
	{"strictly lower priority only",
	 {HF("h1", 8, 2)},
	 {{"v1", 0, 4, 1, false, false}, {"v2", 0, 4, 2, false, false}},
	 4, 1, 4, ""},
	{"preemptible false is never chosen",
	 {HF("h1", 8, 2)},
	 {{"v1", 0, 4, 0, true, false}, {"v2", 0, 4, 2, false, false}},
	 4, 5, 4, "h1:v2"},
	{"a gang member is never chosen",
	 {HF("h1", 8, 2)},
	 {{"v1", 0, 4, 0, false, true}, {"v2", 0, 4, 2, false, false}},
	 4, 5, 4, "h1:v2"},
	{"max_victims bounds the set: 4 needed, 3 allowed",
	 {HF("h1", 8, 4)},
	 {{"v1", 0, 2, 0, false, false}, {"v2", 0, 2, 0, false, false},
	  {"v3", 0, 2, 0, false, false}, {"v4", 0, 2, 0, false, false}},
	 8, 5, 3, ""},
	{"max_victims 4: all 4",
	 {HF("h1", 8, 4)},
	 {{"v1", 0, 2, 0, false, false}, {"v2", 0, 2, 0, false, false},
	  {"v3", 0, 2, 1, false, false}, {"v4", 0, 2, 0, false, false}},
	 8, 5, 4, "h1:v1,v2,v4,v3"},
	{"one host only: 2 + 2 vCPU on two hosts do not free 4 on one",
	 {HF("h1", 8, 2), HF("h2", 8, 2)},
	 {{"v1", 0, 2, 0, false, false}, {"v2", 1, 2, 0, false, false}},
	 4, 5, 4, ""},
	{"the host needing the fewest victims",
	 {HF("h1", 8, 2), HF("h2", 8, 1)},
	 {{"v1", 0, 2, 0, false, false}, {"v2", 0, 2, 0, false, false},
	  {"v3", 1, 4, 0, false, false}},
	 4, 5, 4, "h2:v3"},
	{"free room left by the victims counts",
	 {HF("h1", 6, 1)},
	 {{"v1", 0, 2, 0, false, false}},
	 4, 5, 4, "h1:v1"},
};

static void test_victims_table(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(vcases) / sizeof(vcases[0]); k++) {
		const struct victim_case *vc = &vcases[k];
		struct hrow rows[4] = {{0}};
		struct fs_need needs[8], need = {0};
		struct ctrl_victim v[8];
		struct ctrl_victims got;
		struct ctrl_place p;
		struct fleet f;
		char buf[128] = "";
		size_t n = 0, o = 0;
		int rc;

		memcpy(rows, vc->hosts, sizeof(vc->hosts));
		fleet_build(&f, rows);
		for (; n < 8 && vc->v[n].id; n++) {
			const struct vrow *r = &vc->v[n];

			needs[n] = (struct fs_need){
			    .res = {r->vcpu, r->vcpu * 1000, 1}};
			v[n] = (struct ctrl_victim){
			    .id = r->id, .host = &f.h[r->host],
			    .need = &needs[n], .priority = r->prio,
			    .preemptible = !r->off, .gang = r->gang};
		}
		need.res = (struct fs_res){vc->need_vcpu,
					   vc->need_vcpu * 1000, 1};
		p = (struct ctrl_place){.id = "req-1", .need = &need,
					.w = {1, 1, 1}, .strategy = FS_SPREAD};
		rc = ctrl_victims_choose(&p, vc->prio, (size_t)vc->max, v, n,
					 &got);
		assert_true(rc >= 0);
		if (rc == 1)
			o += (size_t)snprintf(buf, sizeof(buf), "%s:",
					      got.v[0]->host->name);
		for (size_t i = 0; rc == 1 && i < got.n; i++) {
			/* lowest priority first, then the largest */
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s",
					      i ? "," : "", got.v[i]->id);
			assert_ptr_equal(got.v[i]->host, got.v[0]->host);
		}
		if (strcmp(buf, vc->want) != 0)
			fail_msg("%s: got '%s', want '%s'", vc->name, buf,
				 vc->want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_table),
		cmocka_unit_test(test_pick_table),
		cmocka_unit_test(test_pick_window),
		cmocka_unit_test(test_bidder),
		cmocka_unit_test(test_rules_table),
		cmocka_unit_test(test_rules_sequence),
		cmocka_unit_test(test_victims_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
