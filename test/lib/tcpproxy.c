/* A TCP forwarder for fault injection: one poll loop in one thread. */
#include "test/lib/tcpproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 32

/* Server bytes held back until due. */
struct chunk {
	struct chunk *next;
	double due;
	size_t len;
	char data[];
};

struct conn {
	int cfd, sfd; /* client side, server side; -1 = unused */
	struct chunk *head, *tail;
};

struct tcpproxy {
	int port, target, lfd;
	int wake[2]; /* a byte here stops the thread */
	pthread_t thread;
	pthread_mutex_t mu; /* delay, blackhole */
	double delay;
	bool blackhole;
	struct conn conns[MAX_CONNS];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the reader is gone: its close is seen next */
		p += w;
		n -= (size_t)w;
	}
}

static void conn_close(struct conn *c)
{
	close(c->cfd);
	close(c->sfd);
	c->cfd = c->sfd = -1;
	while (c->head != NULL) {
		struct chunk *n = c->head->next;
		free(c->head);
		c->head = n;
	}
	c->tail = NULL;
}

static void settings(struct tcpproxy *p, double *delay, bool *blackhole)
{
	pthread_mutex_lock(&p->mu);
	*delay = p->delay;
	*blackhole = p->blackhole;
	pthread_mutex_unlock(&p->mu);
}

static void do_accept(struct tcpproxy *p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int cfd = accept(p->lfd, NULL, NULL), sfd;

	if (cfd < 0)
		return;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)p->target);
	sfd = socket(AF_INET, SOCK_STREAM, 0);
	if (sfd < 0 || connect(sfd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(cfd);
		if (sfd >= 0)
			close(sfd);
		return;
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (p->conns[i].cfd < 0) {
			p->conns[i].cfd = cfd;
			p->conns[i].sfd = sfd;
			return;
		}
	close(cfd); /* full */
	close(sfd);
}

/* Reads what fd has; false when the connection ended. */
static bool pump(struct tcpproxy *p, struct conn *c, bool from_server)
{
	char buf[16384];
	double delay;
	bool blackhole;
	ssize_t n = recv(from_server ? c->sfd : c->cfd, buf, sizeof(buf), 0);

	if (n <= 0)
		return n < 0 && errno == EINTR;
	settings(p, &delay, &blackhole);
	if (blackhole)
		return true;
	if (!from_server) {
		write_all(c->sfd, buf, (size_t)n);
		return true;
	}
	if (delay <= 0 && c->head == NULL) {
		write_all(c->cfd, buf, (size_t)n);
		return true;
	}
	struct chunk *k = malloc(sizeof(*k) + (size_t)n);
	if (k == NULL)
		return false;
	k->next = NULL;
	k->due = now_s() + delay;
	k->len = (size_t)n;
	memcpy(k->data, buf, (size_t)n);
	if (c->tail != NULL)
		c->tail->next = k;
	else
		c->head = k;
	c->tail = k;
	return true;
}

static void *run(void *arg)
{
	struct tcpproxy *p = arg;

	for (;;) {
		struct pollfd pf[2 + 2 * MAX_CONNS];
		int idx[2 + 2 * MAX_CONNS];
		nfds_t n = 0;
		double next = -1, now = now_s();

		pf[n++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
		pf[n++] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &p->conns[i];
			if (c->cfd < 0)
				continue;
			idx[n] = i;
			pf[n++] = (struct pollfd){.fd = c->cfd, .events = POLLIN};
			idx[n] = i;
			pf[n++] = (struct pollfd){.fd = c->sfd, .events = POLLIN};
			if (c->head != NULL && (next < 0 || c->head->due < next))
				next = c->head->due;
		}
		int ms = next < 0 ? -1 : next <= now ? 0
						  : (int)((next - now) * 1000) + 1;
		if (poll(pf, n, ms) < 0 && errno != EINTR)
			break;
		if (pf[0].revents)
			break;
		if (pf[1].revents & POLLIN)
			do_accept(p);
		for (nfds_t k = 2; k < n; k++) {
			struct conn *c = &p->conns[idx[k]];
			if (!pf[k].revents || c->cfd < 0)
				continue;
			if (!pump(p, c, pf[k].fd == c->sfd))
				conn_close(c);
		}
		now = now_s();
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &p->conns[i];
			while (c->cfd >= 0 && c->head != NULL &&
			       c->head->due <= now) {
				struct chunk *k = c->head;
				c->head = k->next;
				if (c->head == NULL)
					c->tail = NULL;
				write_all(c->cfd, k->data, k->len);
				free(k);
			}
		}
	}
	return NULL;
}

struct tcpproxy *tcpproxy_start(int target_port)
{
	struct tcpproxy *p = calloc(1, sizeof(*p));
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	if (p == NULL)
		return NULL;
	p->target = target_port;
	p->wake[0] = p->wake[1] = -1;
	for (int i = 0; i < MAX_CONNS; i++)
		p->conns[i].cfd = p->conns[i].sfd = -1;
	pthread_mutex_init(&p->mu, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(p->lfd, 64) ||
	    getsockname(p->lfd, (struct sockaddr *)&sa, &len) ||
	    pipe(p->wake) != 0) {
		perror("tcpproxy");
		goto fail;
	}
	p->port = ntohs(sa.sin_port);
	if (pthread_create(&p->thread, NULL, run, p) != 0) {
		fprintf(stderr, "tcpproxy: no thread\n");
		goto fail;
	}
	return p;
fail:
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->wake[0] >= 0) {
		close(p->wake[0]);
		close(p->wake[1]);
	}
	pthread_mutex_destroy(&p->mu);
	free(p);
	return NULL;
}

int tcpproxy_port(const struct tcpproxy *p)
{
	return p->port;
}

void tcpproxy_set_delay(struct tcpproxy *p, double seconds)
{
	pthread_mutex_lock(&p->mu);
	p->delay = seconds;
	pthread_mutex_unlock(&p->mu);
}

void tcpproxy_set_blackhole(struct tcpproxy *p, bool on)
{
	pthread_mutex_lock(&p->mu);
	p->blackhole = on;
	pthread_mutex_unlock(&p->mu);
}

struct tcpproxy *tcpproxy_stop(struct tcpproxy *p)
{
	if (p == NULL)
		return NULL;
	if (write(p->wake[1], "x", 1) == 1)
		pthread_join(p->thread, NULL);
	for (int i = 0; i < MAX_CONNS; i++)
		if (p->conns[i].cfd >= 0)
			conn_close(&p->conns[i]);
	close(p->lfd);
	close(p->wake[0]);
	close(p->wake[1]);
	pthread_mutex_destroy(&p->mu);
	free(p);
	return NULL;
}
