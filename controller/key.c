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

/* Splits "<kind>/<a>[/<b>]" after the prefix. */
int ctrl_key_split(const struct ctrl *c, const char *key, char *kind, char *a,
		   char *b)
{
	const char *p, *s1, *s2;
	size_t n;

	if (strncmp(key, c->prefix, c->prefix_len) != 0)
		return -1;
	p = key + c->prefix_len;
	s1 = strchr(p, '/');
	if (!s1) {
		if (strlen(p) >= 16)
			return -1;
		strcpy(kind, p);
		a[0] = b[0] = '\0';
		return 0;
	}
	n = (size_t)(s1 - p);
	if (n >= 16)
		return -1;
	memcpy(kind, p, n);
	kind[n] = '\0';
	s2 = strchr(s1 + 1, '/');
	if (!s2) {
		if (strlen(s1 + 1) > FS_NAME_MAX)
			return -1;
		strcpy(a, s1 + 1);
		b[0] = '\0';
		return 0;
	}
	n = (size_t)(s2 - s1 - 1);
	if (n > FS_NAME_MAX || strlen(s2 + 1) > FS_NAME_MAX ||
	    strchr(s2 + 1, '/'))
		return -1;
	memcpy(a, s1 + 1, n);
	a[n] = '\0';
	strcpy(b, s2 + 1);
	return 0;
}

/* Bytes of a key under the prefix, at most (kind + two names). */
size_t ctrl_key_max(const struct ctrl *c)
{
	return c->prefix_len + 16 + 2 * (FS_NAME_MAX + 1);
}
