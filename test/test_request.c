/* Request validation: table of valid and invalid values side by side. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctrl.h"

struct req_case {
	const char *id;
	const char *json;
	const char *reason; /* NULL = valid; else substring of the reason */
};

static const struct req_case cases[] = {
	{"web-1", "{\"vcpu\":2,\"memoryInMb\":2048}", NULL},
	{"web-1",
	 "{\"id\":\"web-1\",\"vcpu\":1,\"memoryInMb\":512,\"namespace\":\"ns\","
	 "\"kernel\":{\"image\":\"k\"},\"scheduling\":{\"selector\":{\"zone\":"
	 "\"a\"},\"spread\":\"web\",\"priority\":10}}",
	 NULL},
	{"a", "{\"vcpu\":1,\"memoryInMb\":1,\"scheduling\":{}}", NULL},
	{"web-1", "{\"vcpu\":2,", "invalid JSON"},
	{"web-1", "[1,2]", "must be a JSON object"},
	{"web-1", "{\"memoryInMb\":2048}", "vcpu: required positive integer"},
	{"web-1", "{\"vcpu\":2}", "memoryInMb: required"},
	{"web-1", "{\"vcpu\":0,\"memoryInMb\":1}",
	 "vcpu: must be a positive integer, got 0"},
	{"web-1", "{\"vcpu\":1,\"memoryInMb\":-5}",
	 "memoryInMb: must be a positive integer, got -5"},
	{"web-1", "{\"vcpu\":\"2\",\"memoryInMb\":1}",
	 "vcpu: must be a positive integer, got a string"},
	{"web-1", "{\"vcpu\":1.5,\"memoryInMb\":1}",
	 "vcpu: must be a positive integer, got a number"},
	{"web-1", "{\"vcpu\":100000,\"memoryInMb\":1}", "above the limit"},
	{"web-1", "{\"id\":\"web-2\",\"vcpu\":1,\"memoryInMb\":1}",
	 "id: \"web-2\" does not match the key's id \"web-1\""},
	{"web-1", "{\"id\":3,\"vcpu\":1,\"memoryInMb\":1}",
	 "id: must be a string"},
	{"Web_1", "{\"vcpu\":1,\"memoryInMb\":1}", "not a valid request id"},
	{"web-1",
	 "{\"vcpu\":1,\"memoryInMb\":1,\"scheduling\":{\"zone\":\"a\"}}",
	 "scheduling.zone: unknown key (allowed: selector, spread, "
	 "priority)"},
	{"web-1", "{\"vcpu\":1,\"memoryInMb\":1,\"scheduling\":[]}",
	 "scheduling: must be an object"},
	{"web-1",
	 "{\"vcpu\":1,\"memoryInMb\":1,\"scheduling\":{\"selector\":\"a\"}}",
	 "scheduling.selector: must be an object"},
	{"web-1",
	 "{\"vcpu\":1,\"memoryInMb\":1,\"scheduling\":{\"selector\":{\"zone\":"
	 "1}}}",
	 "scheduling.selector.zone: must be a string"},
	{"web-1",
	 "{\"vcpu\":1,\"memoryInMb\":1,\"scheduling\":{\"spread\":7}}",
	 "scheduling.spread: must be a group name"},
	{"web-1",
	 "{\"vcpu\":1,\"memoryInMb\":1,\"scheduling\":{\"priority\":\"hi\"}}",
	 "scheduling.priority: must be an integer"},
	{"web-1", "{\"vcpu\":1,\"memoryInMb\":1,\"namespace\":5}",
	 "namespace: must be a string"},
	{"web-1", "{\"vcpu\":1,\"vcpu\":2,\"memoryInMb\":1}", "invalid JSON"},
};

static void test_request_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ctrl_request r;
		char reason[256] = "";
		int rc = ctrl_request_parse(cases[i].id, cases[i].json,
					    strlen(cases[i].json), &r, reason,
					    sizeof(reason));

		if (!cases[i].reason) {
			if (rc != 0)
				fail_msg("case %zu: %s", i, reason);
			assert_int_equal(r.need.res.vms, 1);
			ctrl_request_clear(&r);
			continue;
		}
		if (rc != -EINVAL || !strstr(reason, cases[i].reason))
			fail_msg("case %zu: rc %d reason \"%s\", want \"%s\"",
				 i, rc, reason, cases[i].reason);
	}
}

static void test_request_fields(void **state)
{
	const char *j =
		"{\"vcpu\":2,\"memoryInMb\":2048,\"scheduling\":{\"selector\":"
		"{\"zone\":\"a\",\"rack\":\"r1\"},\"spread\":\"web\","
		"\"priority\":-3}}";
	struct ctrl_request r;
	char reason[256];

	(void)state;
	assert_int_equal(ctrl_request_parse("x", j, strlen(j), &r, reason,
					    sizeof(reason)),
			 0);
	assert_int_equal(r.need.res.vcpu, 2);
	assert_int_equal(r.need.res.memory_mb, 2048);
	assert_int_equal(r.priority, -3);
	assert_string_equal(r.need.spread, "web");
	assert_int_equal(r.need.selector.n, 2);
	assert_string_equal(r.need.selector.v[0].key, "zone");
	assert_string_equal(r.need.selector.v[1].value, "r1");
	ctrl_request_clear(&r);
	ctrl_request_clear(&r); /* idempotent */
}

static void test_request_oversize(void **state)
{
	size_t n = CTRL_REQUEST_MAX + 100;
	char *big = malloc(n + 1), reason[256];
	struct ctrl_request r;
	const char *head = "{\"vcpu\":1,\"memoryInMb\":1,\"pad\":\"";

	(void)state;
	assert_non_null(big);
	memset(big, 'x', n);
	memcpy(big, head, strlen(head));
	big[n - 2] = '"';
	big[n - 1] = '}';
	big[n] = '\0';
	assert_int_equal(ctrl_request_parse("big", big, n, &r, reason,
					    sizeof(reason)),
			 -EINVAL);
	assert_non_null(strstr(reason, "over the 262144 byte limit"));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_table),
		cmocka_unit_test(test_request_fields),
		cmocka_unit_test(test_request_oversize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
