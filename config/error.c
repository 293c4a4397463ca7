/* Filling struct cfg_error: one printable line per error. */
#include "config/internal.h"

#include <stdarg.h>
#include <string.h>

void cfg_error_set(struct cfg_error *err, const char *file, int line, int col,
		   const char *key, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	int n;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	err->line = line;
	err->col = col;
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	snprintf(err->key, sizeof(err->key), "%s", key ? key : "");
	if (line > 0)
		n = snprintf(err->message, sizeof(err->message),
			     "%s:%d:%d: ", err->file, line, col);
	else
		n = snprintf(err->message, sizeof(err->message),
			     "%s: ", err->file);
	if (n < 0 || (size_t)n >= sizeof(err->message))
		return;
	if (err->key[0])
		snprintf(err->message + n, sizeof(err->message) - (size_t)n,
			 "%s: %s", err->key, what);
	else
		snprintf(err->message + n, sizeof(err->message) - (size_t)n,
			 "%s", what);
}

const char *cfg_strerror(int errnum, char *buf, size_t size)
{
#if defined(_GNU_SOURCE)
	return strerror_r(errnum, buf, size);
#else
	if (strerror_r(errnum, buf, size) != 0)
		snprintf(buf, size, "error %d", errnum);
	return buf;
#endif
}
