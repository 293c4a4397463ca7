/* libmicrohttpd in epoll mode, driven by libev. */
#include "common/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <microhttpd.h>

struct fs_httpd {
	struct ev_loop *loop;
	struct MHD_Daemon *d;
	ev_io io;
	ev_timer timer;
	fs_httpd_handler handler;
	void *arg;
	int port;
};

static void httpd_rearm(fs_httpd *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	ev_timer_stop(h->loop, &h->timer);
	if (MHD_get_timeout(h->d, &ms) == MHD_YES) {
		ev_timer_set(&h->timer, (double)ms / 1000.0, 0.);
		ev_timer_start(h->loop, &h->timer);
	}
}

static void httpd_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	fs_httpd *h = w->data;

	(void)loop;
	(void)revents;
	MHD_run(h->d);
	httpd_rearm(h);
}

static void httpd_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	fs_httpd *h = w->data;

	(void)loop;
	(void)revents;
	MHD_run(h->d);
	httpd_rearm(h);
}

static enum MHD_Result httpd_answer(void *cls, struct MHD_Connection *conn,
				    const char *url, const char *method,
				    const char *version,
				    const char *upload_data,
				    size_t *upload_data_size, void **con_cls)
{
	fs_httpd *h = cls;
	struct MHD_Response *resp;
	const char *type = "text/plain; charset=utf-8";
	char *body = NULL;
	int status;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		*upload_data_size = 0;
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		body = strdup("only GET\n");
	} else {
		status = h->handler(h->arg, url, &body, &type);
	}
	size_t len = body ? strlen(body) : 0;
	resp = MHD_create_response_from_buffer(len, body ? body : (char *)"",
					       body ? MHD_RESPMEM_MUST_FREE
						    : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return r;
}

static int parse_listen(const char *listen, struct sockaddr_in *sa)
{
	const char *colon = strrchr(listen, ':');
	char host[64];
	char *end;

	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
		return -EINVAL;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (errno || *end != '\0' || end == colon + 1 || port < 0 ||
	    port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

int fs_httpd_start(struct ev_loop *loop, const char *listen,
		   fs_httpd_handler handler, void *arg, fs_httpd **ret,
		   char *err, size_t errlen)
{
	struct sockaddr_in sa;
	fs_httpd *h;

	if (parse_listen(listen, &sa) != 0) {
		snprintf(err, errlen,
			 "http.listen: want HOST:PORT with an IPv4 address, "
			 "e.g. 127.0.0.1:9100, got \"%s\"",
			 listen);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->loop = loop;
	h->handler = handler;
	h->arg = arg;
	h->d = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, httpd_answer, h,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_CONNECTION_LIMIT, 64u,
				MHD_OPTION_END);
	if (h->d == NULL) {
		snprintf(err, errlen, "http.listen: cannot listen on %s",
			 listen);
		free(h);
		return -EADDRINUSE;
	}
	const union MHD_DaemonInfo *ep =
		MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	const union MHD_DaemonInfo *pi =
		MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	if (ep == NULL || pi == NULL) {
		snprintf(err, errlen, "http.listen: libmicrohttpd without epoll");
		MHD_stop_daemon(h->d);
		free(h);
		return -EIO;
	}
	h->port = pi->port;
	ev_io_init(&h->io, httpd_io_cb, ep->epoll_fd, EV_READ);
	h->io.data = h;
	ev_io_start(loop, &h->io);
	ev_timer_init(&h->timer, httpd_timer_cb, 0., 0.);
	h->timer.data = h;
	httpd_rearm(h);
	*ret = h;
	return 0;
}

int fs_httpd_port(const fs_httpd *h)
{
	return h->port;
}

fs_httpd *fs_httpd_stop(fs_httpd *h)
{
	if (h == NULL)
		return NULL;
	ev_io_stop(h->loop, &h->io);
	ev_timer_stop(h->loop, &h->timer);
	MHD_stop_daemon(h->d);
	free(h);
	return NULL;
}
