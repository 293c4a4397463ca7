/* ctl_place (plan's verdict) on hand-built views: the winner is the
 * controller's own choice (ctrl_place_pick), each host's reason is the one
 * the controller counts, and hosts without a record are not considered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/spec.h"
#include "ctl/place.h"

static struct fs_label zone_a[] = {{"zone", "a"}};
static struct fs_label zone_b[] = {{"zone", "b"}};

static struct ctl_vhost vhost(const char *name, struct fs_label *zone,
			      int64_t vcpu, int64_t used_vcpu)
{
	struct ctl_vhost h = {.rec_present = true};

	snprintf(h.name, sizeof(h.name), "%s", name);
	snprintf(h.rec.host, sizeof(h.rec.host), "%s", name);
	h.rec.labels = (struct fs_labels){zone, 1};
	h.rec.capacity = h.rec.allocatable = (struct fs_res){vcpu, 16384, 8};
	if (used_vcpu) {
		h.alloc_present = true;
		h.alloc.used = (struct fs_res){used_vcpu, 1024, 1};
	}
	return h;
}

static void sched_defaults(struct ctl *x, int64_t k, double band)
{
	memset(x, 0, sizeof(*x));
	x->sched.coordinators = k;
	x->sched.w_cpu = 1;
	x->sched.w_memory = 1;
	x->sched.w_vms = 0.5;
	x->sched.partition_band = band;
	x->sched.strategy = FS_SPREAD;
}

static void test_rank_and_reasons(void **state)
{
	struct ctl_vhost hosts[] = {
	    vhost("a-busy", zone_a, 8, 6), vhost("a-idle", zone_a, 8, 0),
	    vhost("b-idle", zone_b, 8, 0), vhost("gone", zone_a, 8, 0),
	    vhost("small", zone_a, 1, 0),
	};
	struct ctl_view v = {.hosts = hosts, .n_hosts = 5, .coordinators = 1};
	struct fs_need need = {.res = {2, 1024, 1}, .selector = {zone_a, 1}};
	struct ctl_place p;
	struct ctl x;

	(void)state;
	hosts[3].rec_present = false; /* its agent left */
	sched_defaults(&x, 1, 0.05);
	assert_int_equal(ctl_place(&x, &v, "web-1", &need, NULL, &p), 0);
	assert_int_equal(p.explain.hosts, 4);
	assert_int_equal(p.explain.feasible, 2);
	assert_int_equal(p.n_cands, 2);
	assert_string_equal(p.cands[0].host, "a-idle");
	assert_string_equal(p.cands[1].host, "a-busy");
	assert_true(p.cands[0].score < p.cands[1].score);
	assert_int_equal(p.n_hosts, 4);
	for (size_t i = 0; i < p.n_hosts; i++) {
		const char *n = p.hosts[i].h->name;

		if (strcmp(n, "b-idle") == 0)
			assert_string_equal(p.hosts[i].reason,
					    "selector zone=a");
		else if (strcmp(n, "small") == 0)
			assert_string_equal(p.hosts[i].reason,
					    "insufficient vcpu");
		else
			assert_true(p.hosts[i].fits);
	}
	ctl_place_clear(&p);
}

/* Equal scores with K = 4: the controller prefers a host of the request's
 * own partition before the (request, host) hash; plan must show that
 * host as the winner even where the hash alone would rank another
 * first. */
static void test_partition_tie(void **state)
{
	char names[16][16];
	struct ctl_vhost hosts[16];
	struct ctl_view v = {.hosts = hosts, .n_hosts = 16, .coordinators = 4};
	struct fs_need need = {.res = {1, 1024, 1}};
	struct ctl x;
	int checked = 0;

	(void)state;
	for (int i = 0; i < 16; i++) {
		snprintf(names[i], sizeof(names[i]), "node-%02d", i);
		hosts[i] = vhost(names[i], zone_a, 8, 0);
	}
	sched_defaults(&x, 4, 0); /* band 0: every score ties */
	for (int r = 0; r < 20; r++) {
		char id[16];
		struct ctl_place p;
		unsigned slot;

		snprintf(id, sizeof(id), "req-%d", r);
		slot = fs_slot_of(id, 4);
		assert_int_equal(ctl_place(&x, &v, id, &need, NULL, &p), 0);
		assert_int_equal(p.n_cands, 16);
		assert_int_equal(fs_slot_of(p.cands[0].host, 4), slot);
		checked++;
		ctl_place_clear(&p);
	}
	assert_int_equal(checked, 20);
}

static void test_avoid(void **state)
{
	struct ctl_vhost hosts[] = {vhost("a", zone_a, 8, 0),
				    vhost("b", zone_a, 8, 4)};
	struct ctl_view v = {.hosts = hosts, .n_hosts = 2, .coordinators = 1};
	struct fs_need need = {.res = {1, 1024, 1}};
	struct ctrl_status st = {0};
	struct ctl_place p;
	struct ctl x;

	(void)state;
	sched_defaults(&x, 1, 0);
	assert_int_equal(ctrl_status_avoid_add(&st, "a"), 0);
	assert_int_equal(ctl_place(&x, &v, "r", &need, &st, &p), 0);
	assert_int_equal(p.n_cands, 1);
	assert_string_equal(p.cands[0].host, "b");
	assert_string_equal(p.hosts[0].reason, "VM failed there before");
	ctl_place_clear(&p);
	ctrl_status_clear(&st);
}

/* plan rates the group rules as the coordinator does (the fleet's
 * counts from every host's alloc), names them per host, and takes the
 * request's slot from its group. */
static void test_group_rules(void **state)
{
	struct fs_group web1 = {"web", 1}, web2 = {"web", 2};
	struct ctl_vhost hosts[] = {
	    vhost("a1", zone_a, 8, 1), vhost("a2", zone_a, 8, 0),
	    vhost("b1", zone_b, 8, 1), vhost("b2", zone_b, 8, 0)};
	struct ctl_view v = {.hosts = hosts, .n_hosts = 4, .coordinators = 1};
	struct fs_need need = {.res = {1, 1024, 1},
			       .group = "web",
			       .anti_scope = "host",
			       .topo_key = "zone",
			       .max_skew = 1};
	struct ctl_place p;
	struct ctl x;

	(void)state;
	hosts[0].alloc.groups = &web2; /* zone a: 2, zone b: 1 */
	hosts[0].alloc.n_groups = 1;
	hosts[2].alloc.groups = &web1;
	hosts[2].alloc.n_groups = 1;
	sched_defaults(&x, 1, 0);
	assert_int_equal(ctl_place(&x, &v, "web-7", &need, NULL, &p), 0);
	assert_int_equal(p.n_cands, 1);
	assert_string_equal(p.cands[0].host, "b2");
	assert_string_equal(p.hosts[0].reason,
			    "anti_affinity web: a VM of web on the host");
	assert_string_equal(p.hosts[1].reason,
			    "topology_spread web zone: skew 2 > 1");
	assert_string_equal(p.hosts[2].reason,
			    "anti_affinity web: a VM of web on the host");
	ctl_place_clear(&p);
}

/* plan with the controller's preemption on (max_victims 2): h1 (8 vCPU)
 * holds four 2-vCPU VMs (lo-1, lo-2 of priority 0, lo-3 of priority 1,
 * lo-4 not preemptible), h2 (8 vCPU) one of 8 vCPU (priority 0, which
 * alone frees enough but is not the cheapest: a set of one beats two).
 * A 4-vCPU request of priority 5 fits nowhere; victim.c's choice over
 * the assignments read names big on h2.  With max_victims 1 and big
 * gone, none (h1 would need two); a request of priority 0 evicts none. */
static void test_preempt_victims(void **state)
{
#define LO(p, pre)                                                             \
	"{\"request\":{\"vcpu\":2,\"memoryInMb\":1024," FS_SPEC_EXAMPLE        \
	",\"scheduling\":{\"priority\":" #p ",\"preemptible\":" #pre           \
	"}},\"request_rev\":3,\"attempt\":1}"
	static char
	    k1[] = "/fs/assign/h1/lo-1",
	    k2[] = "/fs/assign/h1/lo-2", k3[] = "/fs/assign/h1/lo-3",
	    k4[] = "/fs/assign/h1/lo-4", k5[] = "/fs/assign/h2/big",
	    v1[] = LO(0, true), v2[] = LO(0, true), v3[] = LO(1, true),
	    v4[] = LO(0, false),
	    v5[] =
		"{\"request\":{\"vcpu\":8,\"memoryInMb\":1024," FS_SPEC_EXAMPLE
		"},\"request_rev\":4,\"attempt\":1}";
	struct etcd_sync_kv kvs[] = {
	    {.key = k1, .value = v1, .value_len = sizeof(v1) - 1},
	    {.key = k2, .value = v2, .value_len = sizeof(v2) - 1},
	    {.key = k3, .value = v3, .value_len = sizeof(v3) - 1},
	    {.key = k4, .value = v4, .value_len = sizeof(v4) - 1},
	    {.key = k5, .value = v5, .value_len = sizeof(v5) - 1}};
	struct etcd_sync_range asg = {.kvs = kvs, .n_kvs = 5};
	struct ctl_vhost hosts[] = {vhost("h1", zone_a, 8, 8),
				    vhost("h2", zone_a, 8, 8)};
	struct ctl_view v = {.hosts = hosts, .n_hosts = 2, .coordinators = 1};
	struct ctrl_request req = {
	    .need = {.res = {4, 1024, 1}}, .priority = 5, .preemptible = true};
	struct ctl_preempt pp;
	struct ctl_place p;
	struct ctl x;
	char pfx[] = "/fs";

	(void)state;
	sched_defaults(&x, 1, 0);
	x.prefix = pfx;
	x.sched.max_victims = 2;
	assert_int_equal(ctl_place(&x, &v, "hi", &req.need, NULL, &p), 0);
	assert_int_equal(p.n_cands, 0);
	assert_int_equal(ctl_place_preempt(&x, &v, &p, "hi", &req, &asg, &pp),
			 1);
	assert_int_equal(pp.chosen.n, 1);
	assert_string_equal(pp.chosen.v[0]->id, "big");
	assert_string_equal(pp.chosen.v[0]->host->name, "h2");
	ctl_preempt_clear(&pp);
	asg.n_kvs = 4; /* big gone: h1's two cheapest */
	assert_int_equal(ctl_place_preempt(&x, &v, &p, "hi", &req, &asg, &pp),
			 1);
	assert_int_equal(pp.chosen.n, 2);
	assert_string_equal(pp.chosen.v[0]->host->name, "h1");
	for (size_t i = 0; i < 2; i++)
		assert_true(strcmp(pp.chosen.v[i]->id, "lo-1") == 0 ||
			    strcmp(pp.chosen.v[i]->id, "lo-2") == 0);
	ctl_preempt_clear(&pp);
	x.sched.max_victims = 1;
	assert_int_equal(ctl_place_preempt(&x, &v, &p, "hi", &req, &asg, &pp),
			 0);
	ctl_preempt_clear(&pp);
	x.sched.max_victims = 2;
	req.priority = 0;
	assert_int_equal(ctl_place_preempt(&x, &v, &p, "hi", &req, &asg, &pp),
			 0);
	ctl_preempt_clear(&pp);
	ctl_place_clear(&p);
#undef LO
}

/* plan rates a gang as the controller's gang path places it: members one
 * after the other, each seeing the places of those before it.  Three of
 * 3 vCPU each fit alone on either of two 4-vCPU hosts, not as a whole
 * (the third has no host); three of 2 vCPU do, never over a host. */
static void test_gang_whole(void **state)
{
	struct ctl_vhost hosts[] = {vhost("h1", zone_a, 4, 0),
				    vhost("h2", zone_a, 4, 0)};
	struct ctl_view v = {.hosts = hosts, .n_hosts = 2, .coordinators = 1};
	struct fs_need three = {.res = {3, 1024, 1}},
		       two = {.res = {2, 1024, 1}};
	struct ctl_gang_member m[3] = {{.id = "g-0", .need = &three},
				       {.id = "g-1", .need = &three},
				       {.id = "g-2", .need = &three}};
	struct ctrl_explain ex;
	size_t failed = 9;
	int64_t on_h1 = 0;
	struct ctl x;

	(void)state;
	sched_defaults(&x, 1, 0);
	assert_int_equal(ctl_place_gang(&x, &v, m, 3, &failed, &ex), 0);
	assert_int_equal(failed, 2);
	assert_int_equal(ex.feasible, 0);
	assert_int_equal(ex.n_rejected, 1);
	assert_string_equal(ex.rejected[0].reason, "insufficient vcpu");
	assert_string_not_equal(m[0].host, m[1].host);
	ctrl_explain_clear(&ex);
	for (int i = 0; i < 3; i++)
		m[i].need = &two;
	assert_int_equal(ctl_place_gang(&x, &v, m, 3, &failed, &ex), 1);
	for (int i = 0; i < 3; i++) {
		assert_true(strcmp(m[i].host, "h1") == 0 ||
			    strcmp(m[i].host, "h2") == 0);
		on_h1 += strcmp(m[i].host, "h1") == 0;
	}
	assert_true(on_h1 == 1 || on_h1 == 2);
	ctrl_explain_clear(&ex);
	/* nothing of the rating stays on the view */
	assert_false(hosts[0].alloc_present);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rank_and_reasons),
	    cmocka_unit_test(test_partition_tie),
	    cmocka_unit_test(test_avoid),
	    cmocka_unit_test(test_group_rules),
	    cmocka_unit_test(test_preempt_victims),
	    cmocka_unit_test(test_gang_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
