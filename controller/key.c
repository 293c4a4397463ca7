/* etcd key names under the prefix: building them, splitting them, and
 * the most bytes one can take.  Calls nothing in controller/. */
#include "controller/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *ctrl_keyf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Splits "<kind>/<a>[/<b>]" after the prefix, by length: etcd keys are
 * bytes, and a NUL in one ("requests/victim\0x") must not end it. */
int ctrl_key_splitn(const struct ctrl *c, const char *key, size_t len,
		    char *kind, char *a, char *b)
{
	const char *p, *end = key + len, *s1, *s2;
	size_t n;

	if (len < c->prefix_len || memchr(key, '\0', len) ||
	    memcmp(key, c->prefix, c->prefix_len) != 0)
		return -1;
	p = key + c->prefix_len;
	s1 = memchr(p, '/', (size_t)(end - p));
	n = (size_t)((s1 ? s1 : end) - p);
	if (n >= 16)
		return -1;
	memcpy(kind, p, n);
	kind[n] = '\0';
	a[0] = b[0] = '\0';
	if (!s1)
		return 0;
	s1++;
	s2 = memchr(s1, '/', (size_t)(end - s1));
	n = (size_t)((s2 ? s2 : end) - s1);
	if (n > FS_NAME_MAX)
		return -1;
	memcpy(a, s1, n);
	a[n] = '\0';
	if (!s2)
		return 0;
	s2++;
	n = (size_t)(end - s2);
	if (n > FS_NAME_MAX || memchr(s2, '/', n))
		return -1;
	memcpy(b, s2, n);
	b[n] = '\0';
	return 0;
}

int ctrl_key_split(const struct ctrl *c, const char *key, char *kind, char *a,
		   char *b)
{
	return ctrl_key_splitn(c, key, strlen(key), kind, a, b);
}

/* "P/requests/<id>" with an id that is not one name: the bytes after
 * "requests/" (NUL, '/', too long, not [a-z0-9._-]), else NULL. */
const char *ctrl_key_bad_request(const struct ctrl *c, const char *key,
				 size_t len, size_t *ret_len)
{
	static const char kind[] = "requests/";
	const size_t kl = sizeof(kind) - 1;
	const char *id;
	char name[FS_NAME_MAX + 1];
	size_t n;

	if (len < c->prefix_len + kl ||
	    memcmp(key, c->prefix, c->prefix_len) != 0 ||
	    memcmp(key + c->prefix_len, kind, kl) != 0)
		return NULL;
	id = key + c->prefix_len + kl;
	n = len - c->prefix_len - kl;
	if (n && n <= FS_NAME_MAX && !memchr(id, '\0', n)) {
		memcpy(name, id, n);
		name[n] = '\0';
		if (fs_name_valid(name))
			return NULL;
	}
	*ret_len = n;
	return id;
}

/* Bytes of a key under the prefix, at most (kind + two names). */
size_t ctrl_key_max(const struct ctrl *c)
{
	return c->prefix_len + 16 + 2 * (FS_NAME_MAX + 1);
}
