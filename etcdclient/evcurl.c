/* libcurl multi + libev glue, after curl's docs/examples/evhiperfifo.c. */
#include "evcurl.h"

#include <errno.h>
#include <stdlib.h>

#include <ev.h>

struct evcurl {
	struct ev_loop *loop;
	CURLM *multi;
	ev_timer timer;
	unsigned active;
	struct xfer *xfers; /* in flight, for evcurl_free() */
	struct sock *socks; /* watched sockets, for evcurl_free() */
};

/* Per-transfer node: CURLOPT_PRIVATE points here. */
struct xfer {
	evcurl_done_cb cb;
	void *arg;
	CURL *easy;
	struct xfer *prev, *next;
};

static void xfer_unlink(evcurl *m, struct xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		m->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	free(x);
}

/* Per-socket watcher, stored with curl_multi_assign(). */
struct sock {
	ev_io io;
	evcurl *m;
	struct sock *prev, *next;
};

static void sock_free(evcurl *m, struct sock *s)
{
	ev_io_stop(m->loop, &s->io);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		m->socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	free(s);
}

static void check_done(evcurl *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;
		struct xfer *x = NULL;

		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(m->multi, easy);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		if (x == NULL)
			continue;
		m->active--;
		evcurl_done_cb cb = x->cb;
		void *arg = x->arg;
		xfer_unlink(m, x);
		cb(easy, res, arg);
	}
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	evcurl *m = w->data;
	int running;

	curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(m);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	struct sock *s = (struct sock *)w;
	evcurl *m = s->m;
	int action = ((revents & EV_READ) ? CURL_CSELECT_IN : 0) |
		     ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(m->multi, w->fd, action, &running);
	check_done(m);
}

/* CURLMOPT_TIMERFUNCTION: only re-arm; never call curl from here. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	evcurl *m = userp;

	ev_timer_stop(m->loop, &m->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&m->timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(m->loop, &m->timer);
	}
	return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
		     void *sockp)
{
	(void)easy;
	evcurl *m = userp;
	struct sock *s = sockp;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			curl_multi_assign(m->multi, fd, NULL);
			sock_free(m, s);
		}
		return 0;
	}
	int events = ((what & CURL_POLL_IN) ? EV_READ : 0) |
		     ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		s->m = m;
		s->next = m->socks;
		if (m->socks != NULL)
			m->socks->prev = s;
		m->socks = s;
		curl_multi_assign(m->multi, fd, s);
	} else {
		ev_io_stop(m->loop, &s->io);
	}
	ev_io_init(&s->io, on_io, fd, events);
	ev_io_start(m->loop, &s->io);
	return 0;
}

int evcurl_new(struct ev_loop *loop, evcurl **ret_m)
{
	evcurl *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return -ENOMEM;
	m->loop = loop;
	m->multi = curl_multi_init();
	if (m->multi == NULL) {
		free(m);
		return -ENOMEM;
	}
	ev_timer_init(&m->timer, on_timer, 0., 0.);
	m->timer.data = m;
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	*ret_m = m;
	return 0;
}

evcurl *evcurl_free(evcurl *m)
{
	if (m == NULL)
		return NULL;
	/* Removing each handle lets curl close its sockets through socket_cb,
	 * which frees the ev_io watchers. */
	while (m->xfers != NULL)
		evcurl_remove(m, m->xfers->easy);
	curl_multi_cleanup(m->multi);
	/* curl does not report the sockets of cached connections it closes
	 * in cleanup: stop their watchers here. */
	while (m->socks != NULL)
		sock_free(m, m->socks);
	ev_timer_stop(m->loop, &m->timer);
	free(m);
	return NULL;
}

int evcurl_add(evcurl *m, CURL *easy, evcurl_done_cb cb, void *arg)
{
	struct xfer *x = malloc(sizeof(*x));

	if (x == NULL)
		return -ENOMEM;
	x->cb = cb;
	x->arg = arg;
	x->easy = easy;
	x->prev = NULL;
	x->next = m->xfers;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(m->multi, easy) != CURLM_OK) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(x);
		return -EIO;
	}
	if (m->xfers != NULL)
		m->xfers->prev = x;
	m->xfers = x;
	m->active++;
	return 0;
}

void evcurl_remove(evcurl *m, CURL *easy)
{
	struct xfer *x = NULL;

	if (m == NULL || easy == NULL)
		return;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	if (x == NULL)
		return;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	xfer_unlink(m, x);
	m->active--;
	curl_multi_remove_handle(m->multi, easy);
}

unsigned evcurl_active(const evcurl *m)
{
	return m->active;
}

CURLM *evcurl_multi(evcurl *m)
{
	return m->multi;
}
