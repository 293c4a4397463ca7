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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_table),
		cmocka_unit_test(test_pick_table),
		cmocka_unit_test(test_pick_window),
		cmocka_unit_test(test_bidder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
