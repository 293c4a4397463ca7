/* Binaries' logging: level filter, ident, one line per event. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/model.h"

static enum fs_log_level log_level = FS_LOG_INFO;
static char log_ident[64];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int fs_log_set_level_name(const char *name)
{
	for (int i = 0; i <= FS_LOG_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			log_level = (enum fs_log_level)i;
			return 0;
		}
	}
	return -1;
}

void fs_log_set_level(enum fs_log_level level)
{
	log_level = level;
}

enum fs_log_level fs_log_get_level(void)
{
	return log_level;
}

void fs_log_set_ident(const char *ident)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident ? ident : "");
}

/* A line's text with every byte outside printable ASCII as \xHH: ids
 * from keys, reasons, and flintlockd's and etcd's errors reach log lines,
 * and a newline or an escape sequence in one must not forge a line or
 * drive a terminal (issue 13 item 23).  Escaped here, at the one sink,
 * so that no call site can forget. */
static void log_escape(char *out, size_t n, const char *in)
{
	size_t o = 0;

	for (; *in && o + 5 < n; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch >= 0x20 && ch < 0x7f)
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, n - o, "\\x%02x", ch);
	}
	out[o] = '\0';
}

void fs_log(enum fs_log_level level, const char *fmt, ...)
{
	char ts[32], msg[2048], line[4 * sizeof(msg)];
	va_list ap;

	if (level > log_level)
		return;
	fs_time_now(ts, sizeof(ts));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_escape(line, sizeof(line), msg);
	fprintf(stderr, "%s %-5s %s%s%s\n", ts, level_names[level], log_ident,
		log_ident[0] ? ": " : "", line);
}
