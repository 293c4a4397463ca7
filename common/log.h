/*
 * Logging for the binaries (libraries never log).  One line per event on
 * stderr (journald adds its own timestamps under systemd; a terminal gets
 * ours): "2026-11-23T17:40:00.123Z info  controller: placed web-1 on
 * node-3 (score 0.41)".
 */
#ifndef FLINTSCHED_LOG_H
#define FLINTSCHED_LOG_H

enum fs_log_level { FS_LOG_ERROR, FS_LOG_WARN, FS_LOG_INFO, FS_LOG_DEBUG };

/* Returns 0, or -1 for an unknown name ("error|warn|info|debug"). */
int fs_log_set_level_name(const char *name);
void fs_log_set_level(enum fs_log_level level);
enum fs_log_level fs_log_get_level(void);
/* Prefix for every line, e.g. "ctrl-a" (copied; NULL clears). */
void fs_log_set_ident(const char *ident);

void fs_log(enum fs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define fs_error(...) fs_log(FS_LOG_ERROR, __VA_ARGS__)
#define fs_warn(...) fs_log(FS_LOG_WARN, __VA_ARGS__)
#define fs_info(...) fs_log(FS_LOG_INFO, __VA_ARGS__)
#define fs_debug(...)                                                        \
	do {                                                                 \
		if (fs_log_get_level() >= FS_LOG_DEBUG)                      \
			fs_log(FS_LOG_DEBUG, __VA_ARGS__);                   \
	} while (0)

#endif
