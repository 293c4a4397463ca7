/* flintschedctl's pure parts: escaping of untrusted strings, RFC 3339
 * times and ages, hostctl values, and the table layout (exact text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/ctl.h"

static void test_esc(void **state)
{
	static const struct {
		const char *in;
		size_t max;
		const char *want;
	} cases[] = {
	    {"web-1", 0, "web-1"},
	    {"a\x1b[31mb", 0, "a\\x1b[31mb"},
	    {"line\nnext", 0, "line\\x0anext"},
	    {"back\\slash", 0, "back\\x5cslash"},
	    {"caf\xc3\xa9", 0, "caf\\xc3\\xa9"},
	    {"abcdefgh", 4, "abcd..."},
	    {"", 0, ""},
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(
		    ctl_esc(buf, sizeof(buf), cases[i].in, cases[i].max),
		    cases[i].want);
	/* A small buffer is never overrun and ends with ... */
	ctl_esc(buf, 12, "\x01\x02\x03\x04\x05", 0);
	assert_true(strlen(buf) < 12);
	assert_non_null(strstr(buf, "..."));
}

static void test_time_and_age(void **state)
{
	int64_t now = ctl_time_parse("2026-12-01T12:00:00.000Z");
	char b[16];

	(void)state;
	assert_int_equal(now, INT64_C(1796126400000));
	assert_int_equal(ctl_time_parse("2026-12-01T12:00:00.5Z"), now + 500);
	assert_int_equal(ctl_time_parse("2026-12-01T12:00:00Z"), now);
	assert_int_equal(ctl_time_parse("2026-12-01 12:00:00Z"), -1);
	assert_int_equal(ctl_time_parse("2026-12-01T12:00:00+01:00"), -1);
	assert_int_equal(ctl_time_parse(""), -1);
	assert_string_equal(
	    ctl_age(b, sizeof(b), now, "2026-12-01T11:59:30.000Z"), "30s");
	assert_string_equal(
	    ctl_age(b, sizeof(b), now, "2026-12-01T11:55:00.000Z"), "5m");
	assert_string_equal(
	    ctl_age(b, sizeof(b), now, "2026-12-01T09:00:00.000Z"), "3h");
	assert_string_equal(
	    ctl_age(b, sizeof(b), now, "2026-11-25T12:00:00.000Z"), "6d");
	assert_string_equal(
	    ctl_age(b, sizeof(b), now, "2026-12-01T12:00:09.000Z"), "0s");
	assert_string_equal(ctl_age(b, sizeof(b), now, "garbage"), "-");
	assert_string_equal(ctl_age(b, sizeof(b), now, NULL), "-");
}

static void test_duration(void **state)
{
	(void)state;
	assert_int_equal(ctl_duration_ms("500ms", false), 500);
	assert_int_equal(ctl_duration_ms("5s", false), 5000);
	assert_int_equal(ctl_duration_ms("30m", false), 1800000);
	assert_int_equal(ctl_duration_ms("2h", false), 7200000);
	assert_int_equal(ctl_duration_ms("1d", false), 86400000);
	assert_int_equal(ctl_duration_ms("2.5", true), 2500);
	assert_int_equal(ctl_duration_ms("2.5", false), -1);
	assert_int_equal(ctl_duration_ms("tomorrow", true), -1);
	assert_int_equal(ctl_duration_ms("5 s", true), -1);
	assert_int_equal(ctl_duration_ms("-5s", true), -1);
	assert_int_equal(ctl_duration_ms("", true), -1);
}

static void test_hostctl(void **state)
{
	static const struct {
		const char *json;
		int rc;
		bool present;
		const char *st;
		int64_t maxp;
	} cases[] = {
	    {"{\"state\":\"cordoned\",\"by\":\"alice\"}", 0, true, "cordoned",
	     1},
	    {"{\"state\":\"drain\",\"max_parallel\":3}", 0, true, "drain", 3},
	    {"", 0, false, "", 0},
	    {"{\"state\":\"asleep\"}", -22, false, "", 0},
	    {"[1]", -22, false, "", 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ctl_hostctl h = {0};
		char err[64];
		int rc = ctl_hostctl_parse(cases[i].json, strlen(cases[i].json),
					   &h, err, sizeof(err));

		assert_int_equal(rc, cases[i].rc);
		if (rc)
			continue;
		assert_int_equal(h.present, cases[i].present);
		assert_string_equal(h.state, cases[i].st);
		assert_int_equal(h.max_parallel, cases[i].maxp);
	}
}

static char *print_table(ctl_table *t, bool colour)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(ctl_table_print(t, f, colour), 0);
	fclose(f);
	return buf;
}

static void test_table(void **state)
{
	static const char *const cols[] = {"ID", "PHASE", "REASON"};
	ctl_table *t = ctl_table_new(3, cols);
	char *out;

	(void)state;
	assert_non_null(t);
	assert_int_equal(ctl_table_cell(t, CTL_C_NONE, "web-1"), 0);
	assert_int_equal(ctl_table_cell(t, CTL_C_GREEN, "running"), 0);
	assert_int_equal(ctl_table_cell(t, CTL_C_NONE, "placed"), 0);
	assert_int_equal(ctl_table_cell(t, CTL_C_NONE, "a-much-longer-id"), 0);
	assert_int_equal(ctl_table_cell(t, CTL_C_RED, "rejected"), 0);
	assert_int_equal(ctl_table_cell(t, CTL_C_NONE, "bad\x1b]0;x\a"), 0);
	assert_int_equal(ctl_table_cellf(t, CTL_C_NONE, "%d", 7), 0);
	assert_int_equal(ctl_table_cell(t, CTL_C_NONE, ""), 0);
	assert_int_equal(ctl_table_cell(t, CTL_C_NONE, NULL), 0);
	assert_int_equal(ctl_table_rows(t), 3);
	out = print_table(t, false);
	assert_string_equal(out,
			    "ID                PHASE     REASON\n"
			    "web-1             running   placed\n"
			    "a-much-longer-id  rejected  bad\\x1b]0;x\\x07\n"
			    "7                 -         -\n");
	free(out);
	out = print_table(t, true);
	assert_non_null(strstr(out, "\033[32mrunning\033[0m   placed"));
	free(out);
	ctl_table_free(t);
	assert_int_equal(ctl_phase_colour("unschedulable"), CTL_C_RED);
	assert_int_equal(ctl_phase_colour("cordoned"), CTL_C_YELLOW);
	assert_int_equal(ctl_phase_colour("nope"), CTL_C_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_esc),
	    cmocka_unit_test(test_time_and_age),
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_hostctl),
	    cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
