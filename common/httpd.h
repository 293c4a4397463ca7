/*
 * A tiny HTTP endpoint (libmicrohttpd) on the daemon's libev loop, for
 * /healthz and /metrics.  MHD runs in epoll mode without threads: one ev_io
 * on its epoll fd and one ev_timer for its timeouts, so handlers run on the
 * loop thread and may read the daemon's state without locks.  GET only.
 */
#ifndef FLINTSCHED_HTTPD_H
#define FLINTSCHED_HTTPD_H

#include <stddef.h>

struct ev_loop;
typedef struct fs_httpd fs_httpd;

/* Answers a GET of path: returns the HTTP status and sets *body to a
 * malloc'd NUL-terminated body (ownership passes to the server; NULL means
 * an empty body) and *content_type to a static string. */
typedef int (*fs_httpd_handler)(void *arg, const char *path, char **body,
				const char **content_type);

/* listen: "HOST:PORT" with a numeric IPv4 host, e.g. "127.0.0.1:9100"
 * (PORT 0 picks a free one: see fs_httpd_port).  Returns 0, or -EINVAL
 * (bad address) / -EADDRINUSE / -EIO with a message in err. */
int fs_httpd_start(struct ev_loop *loop, const char *listen,
		   fs_httpd_handler handler, void *arg, fs_httpd **ret,
		   char *err, size_t errlen);
int fs_httpd_port(const fs_httpd *h);
/* Accepts NULL; returns NULL. */
fs_httpd *fs_httpd_stop(fs_httpd *h);

#endif
