/* Untrusted strings for a terminal, times and ages, error lines. */
#include "ctl/ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *ctl_esc(char *buf, size_t n, const char *s, size_t max)
{
	return fs_escape_n(buf, n, s, s ? strlen(s) : 0, max ? max : SIZE_MAX,
			   false);
}

int64_t ctl_time_parse(const char *s)
{
	struct tm tm = {0};
	int ms = 0, n = 0;
	time_t t;

	if (!s || !*s)
		return -1;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	s += n;
	if (*s == '.') {
		int digits = 0;

		for (s++; *s >= '0' && *s <= '9'; s++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*s - '0');
		for (; digits < 3; digits++)
			ms *= 10;
	}
	if (*s != 'Z' || s[1])
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return (int64_t)t * 1000 + ms;
}

char *ctl_age(char *buf, size_t n, int64_t now_ms, const char *rfc3339)
{
	int64_t t = ctl_time_parse(rfc3339), s;

	if (t < 0) {
		snprintf(buf, n, "-");
		return buf;
	}
	s = (now_ms - t) / 1000;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, n, "%llds", (long long)s);
	else if (s < INT64_C(2) * 3600)
		snprintf(buf, n, "%lldm", (long long)(s / 60));
	else if (s < INT64_C(2) * 86400)
		snprintf(buf, n, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, n, "%lldd", (long long)(s / 86400));
	return buf;
}

int64_t ctl_duration_ms(const char *s, bool bare_seconds)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ms", 1},
		     {"s", 1000},
		     {"m", 60000},
		     {"h", 3600000},
		     {"d", 86400000}};
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	v = strtod(s, &end);
	if (end == s || v < 0 || v > 1e12)
		return -1;
	if (!*end)
		return bare_seconds ? (int64_t)(v * 1000) : -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0)
			return (int64_t)(v * units[i].ms);
	return -1;
}

int64_t ctl_now_ms(void)
{
	const char *e = getenv("FLINTSCHEDCTL_NOW");
	int64_t t = e ? ctl_time_parse(e) : -1;

	return t >= 0 ? t : fs_now_ms();
}

int ctl_errorf(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("flintschedctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}
