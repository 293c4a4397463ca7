/* Names, hashes and clocks shared by agent and controller (model.h). */
#include "common/model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool name_char_edge(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool fs_name_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > FS_NAME_MAX)
		return false;
	if (!name_char_edge(s[0]) || !name_char_edge(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++) {
		char c = s[i];
		if (!name_char_edge(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

int fs_name_check(const void *value, char *msg, size_t len)
{
	const char *s = *(char *const *)value;
	char q[FS_QUOTE_MAX + 16];

	if (!*s || fs_name_valid(s))
		return 0;
	snprintf(msg, len,
		 "%s is not a valid name: use [a-z0-9]([a-z0-9._-]{0,61}"
		 "[a-z0-9]), or \"\" for the host name",
		 fs_quote(q, sizeof(q), s, FS_QUOTE_MAX));
	return -1;
}

int fs_fail(char *reason, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (reason && len) {
		va_start(ap, fmt);
		vsnprintf(reason, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

char *fs_quote(char *buf, size_t n, const char *s, size_t max)
{
	return fs_quote_n(buf, n, s, s ? strlen(s) : 0, max);
}

char *fs_escape_n(char *buf, size_t n, const char *s, size_t len,
		  size_t max, bool quote)
{
	size_t o = 0, i, tail = quote ? 5 : 4;

	if (!buf || n < 8) {
		if (buf && n)
			buf[0] = '\0';
		return buf;
	}
	if (quote)
		buf[o++] = '"';
	/* Room for the worst escape (4), then ...["] and the NUL. */
	for (i = 0; s && i < len && i < max && o + 4 + tail <= n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (quote && (c == '"' || c == '\\')) {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f || c == '\\') {
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	snprintf(buf + o, n - o, "%s%s", s && i < len ? "..." : "",
		 quote ? "\"" : "");
	return buf;
}

char *fs_quote_n(char *buf, size_t n, const char *s, size_t len, size_t max)
{
	return fs_escape_n(buf, n, s, len, max, true);
}

char *fs_key(char *buf, size_t n, const char *key)
{
	size_t i;

	for (i = 0; key && key[i] && i < 48; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') ||
		      (key[i] >= 'A' && key[i] <= 'Z') ||
		      (key[i] >= '0' && key[i] <= '9') || key[i] == '_' ||
		      key[i] == '-'))
			break;
	if (i > 0 && !key[i] && i < n) {
		snprintf(buf, n, "%s", key);
		return buf;
	}
	return fs_quote(buf, n, key, 48);
}

uint32_t fs_fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

unsigned fs_slot_of(const char *id, unsigned k)
{
	if (k == 0)
		return 0;
	return fs_fnv1a(id, strlen(id)) % k;
}

uint32_t fs_tiebreak(const char *request_id, const char *host)
{
	/* Hash "request\0host" so that ("ab","c") and ("a","bc") differ. */
	size_t a = strlen(request_id), b = strlen(host);
	const unsigned char zero = 0;
	const unsigned char *p;
	uint32_t h = 2166136261u;

	p = (const unsigned char *)request_id;
	for (size_t i = 0; i < a; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	h ^= zero;
	h *= 16777619u;
	p = (const unsigned char *)host;
	for (size_t i = 0; i < b; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	/* Finalise (murmur3 fmix32): fnv1a's low bits mix poorly. */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

int64_t fs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fs_time_now(char *buf, size_t len)
{
	int64_t ms = fs_now_ms();
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;

	if (!buf || len == 0)
		return;
	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}
