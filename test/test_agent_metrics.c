/* agent metrics from recorded /proc files, capacity arithmetic, the
 * re-write decision, and the agent's config table. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/config.h"
#include "agent/metrics.h"

#define ROOT "test/data/proc"

static void test_read_cpus(void **state)
{
	int64_t n = 0;

	(void)state;
	assert_int_equal(agent_metrics_read_cpus(ROOT "/a", &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(agent_metrics_read_cpus(ROOT "/c", &n), 0);
	assert_int_equal(n, 2);
	n = 77;
	assert_int_equal(agent_metrics_read_cpus(ROOT "/nope", &n), -ENOENT);
	assert_int_equal(n, 77);
	assert_int_equal(agent_metrics_read_cpus("/proc", &n), 0);
	assert_true(n >= 1);
}

static void test_read_mem(void **state)
{
	int64_t total = 0, avail = 0;

	(void)state;
	assert_int_equal(agent_metrics_read_mem(ROOT "/a", &total, &avail), 0);
	assert_int_equal(total, 16000);
	assert_int_equal(avail, 12000);
	/* No MemAvailable: MemFree + Buffers + Cached. */
	assert_int_equal(agent_metrics_read_mem(ROOT "/c", &total, &avail), 0);
	assert_int_equal(total, 8000);
	assert_int_equal(avail, 1000 + 500 + 2500);
	assert_int_equal(agent_metrics_read_mem(ROOT "/b", &total, &avail),
			 -ENOENT);
}

static void test_read_stat(void **state)
{
	struct agent_cpu_sample a, b, z = {7, 7};

	(void)state;
	assert_int_equal(agent_metrics_read_stat(ROOT "/a", &a), 0);
	assert_int_equal(a.busy, 1600);
	assert_int_equal(a.total, 10000);
	assert_int_equal(agent_metrics_read_stat(ROOT "/b", &b), 0);
	assert_int_equal(b.busy, 1850);
	assert_int_equal(b.total, 11000);
	assert_true(fabs(agent_metrics_cpu_util(&a, &b) - 0.25) < 1e-12);
	assert_true(agent_metrics_cpu_util(&b, &a) == 0);
	assert_true(agent_metrics_cpu_util(&a, &a) == 0);
	assert_int_equal(agent_metrics_read_stat(ROOT "/c", &z), -EINVAL);
	assert_int_equal(z.busy, 7);
}

static void test_capacity(void **state)
{
	static const struct {
		struct agent_capacity_cfg cfg;
		struct fs_res cap, alloc;
	} cases[] = {
		/* all auto, nothing reserved */
		{{-1, -1, -1, 0, 0, 1, 1}, {4, 16000, 4}, {4, 16000, 4}},
		/* reserved then overcommitted */
		{{-1, -1, -1, 1, 2000, 2, 1.5}, {4, 16000, 6}, {6, 21000, 6}},
		/* configured */
		{{32, 65536, 10, 0, 0, 1, 1}, {32, 65536, 10}, {32, 65536, 10}},
		/* reserved beyond capacity: nothing left, still max_vms 1 */
		{{-1, -1, -1, 8, 20000, 1, 1}, {4, 16000, 1}, {0, 0, 1}},
		/* fractional results floor */
		{{3, 1000, 5, 0, 0, 1.5, 1.25}, {3, 1000, 5}, {4, 1250, 5}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fs_res cap, alloc;

		agent_metrics_capacity(&cases[i].cfg, 4, 16000, &cap, &alloc);
		if (memcmp(&cap, &cases[i].cap, sizeof(cap)) != 0 ||
		    memcmp(&alloc, &cases[i].alloc, sizeof(alloc)) != 0)
			fail_msg("case %zu: cap %lld/%lld/%lld alloc "
				 "%lld/%lld/%lld",
				 i, (long long)cap.vcpu,
				 (long long)cap.memory_mb, (long long)cap.vms,
				 (long long)alloc.vcpu,
				 (long long)alloc.memory_mb,
				 (long long)alloc.vms);
	}
}

static void test_report_due(void **state)
{
	struct fs_label l1[] = {{"zone", "a"}}, l2[] = {{"zone", "b"}};
	struct fs_host last = {.labels = {l1, 1},
			       .capacity = {4, 16000, 4},
			       .allocatable = {4, 16000, 4},
			       .util_cpu = 0.2,
			       .util_mem = 0.5,
			       .vms = 1};
	struct fs_host now = last;

	(void)state;
	assert_true(agent_metrics_report_due(NULL, 0, &now, 0, 0.1, 60));
	/* Idle: nothing moved, interval not reached. */
	assert_false(agent_metrics_report_due(&last, 1000, &now, 60999, 0.1,
					      60));
	assert_true(agent_metrics_report_due(&last, 1000, &now, 61000, 0.1,
					     60));
	/* interval 0: never for time alone. */
	assert_false(agent_metrics_report_due(&last, 0, &now,
					      INT64_C(1) << 50, 0.1, 0));
	now.util_cpu = 0.29;
	assert_false(agent_metrics_report_due(&last, 0, &now, 0, 0.1, 0));
	now.util_cpu = 0.31;
	assert_true(agent_metrics_report_due(&last, 0, &now, 0, 0.1, 0));
	now = last;
	now.util_mem = 0.35;
	assert_true(agent_metrics_report_due(&last, 0, &now, 0, 0.1, 0));
	now = last;
	now.vms = 2; /* 1 of max 4: 0.25 > 0.1 */
	assert_true(agent_metrics_report_due(&last, 0, &now, 0, 0.1, 0));
	now.capacity.vms = last.capacity.vms = 32; /* 1 of 32: not yet */
	assert_false(agent_metrics_report_due(&last, 0, &now, 0, 0.1, 0));
	now.vms = 5; /* 4 of 32 */
	assert_true(agent_metrics_report_due(&last, 0, &now, 0, 0.1, 0));
	last.capacity.vms = 4;
	now = last;
	now.allocatable.memory_mb = 15000;
	assert_true(agent_metrics_report_due(&last, 0, &now, 0, 0.1, 0));
	now = last;
	now.labels.v = l2;
	assert_true(agent_metrics_report_due(&last, 0, &now, 0, 0.1, 0));
	now = last;
	now.endpoint = "http://x";
	assert_true(agent_metrics_report_due(&last, 0, &now, 0, 0.1, 0));
}

static void test_config(void **state)
{
	static const char yaml[] =
		"etcd: {endpoints: [http://127.0.0.1:2379]}\n"
		"agent:\n"
		"  host: node-1\n"
		"  labels: {zone: a}\n"
		"  capacity: {vcpu: 8, memory_mb: auto}\n"
		"  reserved: {vcpu: 1}\n"
		"  overcommit: {cpu: 2.0}\n"
		"executor:\n"
		"  type: exec\n"
		"  exec: {create: /bin/true, delete: /bin/true}\n";
	const char *sets[] = {"agent.lease_ttl_s=5"};
	struct agent_config c;
	struct cfg_error err;

	(void)state;
	assert_int_equal(cfg_schema_check(&agent_config_schema, &err), 0);
	if (cfg_load_buffer(&agent_config_schema, &c, "t.yaml", yaml,
			    sizeof(yaml) - 1, sets, 1, &err) != 0)
		fail_msg("%s", err.message);
	assert_string_equal(c.host, "node-1");
	assert_int_equal(c.lease_ttl_s, 5);
	assert_int_equal(c.cap_vcpu, 8);
	assert_int_equal(c.cap_memory_mb, CFG_AUTO);
	assert_int_equal(c.reserved_vcpu, 1);
	assert_true(c.overcommit_cpu == 2.0);
	assert_int_equal(c.executor, AGENT_EXEC_EXEC);
	assert_string_equal(c.exec_create, "/bin/true");
	assert_int_equal(c.labels.n, 1);
	assert_int_equal(c.report_interval_s, 300);
	cfg_free(&agent_config_schema, &c);

	assert_int_equal(cfg_load_buffer(&agent_config_schema, &c, "t.yaml",
					 "agent: {lease_ttl_s: 1}\n", 24, NULL,
					 0, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "agent.lease_ttl_s"));
	assert_int_equal(cfg_load_buffer(&agent_config_schema, &c, "t.yaml",
					 "executor: {type: docker}\n", 25,
					 NULL, 0, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "executor.type"));

	/* The shipped example loads. */
	if (cfg_load(&agent_config_schema, &c, "deploy/agent.example.yaml",
		     NULL, 0, &err) != 0)
		fail_msg("%s", err.message);
	cfg_free(&agent_config_schema, &c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_cpus),
		cmocka_unit_test(test_read_mem),
		cmocka_unit_test(test_read_stat),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_report_due),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
