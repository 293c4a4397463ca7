/* Starts and stops real etcd processes for tests. */
#include "test/lib/etcd_harness.h"
#include "test/lib/httptest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int healthy(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char req[128], buf[512];
	int ok = 0;

	if (fd < 0)
		return 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	struct timeval tv = {.tv_sec = 1};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		int n = snprintf(req, sizeof(req),
				 "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
		if (write(fd, req, (size_t)n) == n) {
			ssize_t got = read(fd, buf, sizeof(buf) - 1);
			if (got > 0) {
				buf[got] = '\0';
				ok = strstr(buf, "\"health\":\"true\"") != NULL;
			}
		}
	}
	close(fd);
	return ok;
}

/* Forks etcd; does not wait. */
static int spawn_fork(struct etcd_harness *h)
{
	char log[300];
	pid_t pid;

	snprintf(log, sizeof(log), "%s/etcd.log", h->dir);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		setpgid(0, 0);
		execvp("etcd", h->argv);
		_exit(127);
	}
	h->pid = pid;
	return 0;
}

/* Waits until /health answers (20 s at most). */
static int wait_healthy(struct etcd_harness *h)
{
	for (int i = 0; i < 400; i++) { /* 20 s */
		int status;
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			fprintf(stderr, "etcd exited at start; see %s/etcd.log\n",
				h->dir);
			return -1;
		}
		if (healthy(h->health_port))
			return 0;
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "etcd not healthy after 20 s; see %s/etcd.log\n",
		h->dir);
	return -1;
}

static int spawn(struct etcd_harness *h)
{
	if (spawn_fork(h) != 0)
		return -1;
	return wait_healthy(h);
}

/* A harness with its temp dir and argv, not started.  name and
 * initial_cluster: the member's name and --initial-cluster (NULL: a
 * one-member cluster "default"); ports 0 = free ones. */
static struct etcd_harness *harness_new(const struct etcd_harness_opts *o,
					const char *name, int client_port,
					int peer_port,
					const char *initial_cluster)
{
	struct etcd_harness *h = calloc(1, sizeof(*h));
	char buf[12][400];
	int nbuf = 6;
	bool tls = o != NULL && o->cert_file != NULL && o->key_file != NULL;
	size_t n_extra = 0;

	if (h == NULL)
		return NULL;
	snprintf(h->dir, sizeof(h->dir), "%s/flintsched-etcd-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(h->dir) == NULL) {
		perror("mkdtemp");
		free(h);
		return NULL;
	}
	h->client_port = client_port > 0 ? client_port : httptest_free_port();
	h->peer_port = peer_port > 0 ? peer_port : httptest_free_port();
	while (h->peer_port == h->client_port)
		h->peer_port = httptest_free_port();
	snprintf(h->endpoint, sizeof(h->endpoint), "%s://127.0.0.1:%d",
		 tls ? "https" : "http", h->client_port);
	h->health_port = h->client_port;
	snprintf(buf[0], sizeof(buf[0]), "--data-dir=%s/data", h->dir);
	snprintf(buf[1], sizeof(buf[1]), "--listen-client-urls=%s",
		 h->endpoint);
	snprintf(buf[2], sizeof(buf[2]), "--advertise-client-urls=%s",
		 h->endpoint);
	snprintf(buf[3], sizeof(buf[3]),
		 "--listen-peer-urls=http://127.0.0.1:%d", h->peer_port);
	snprintf(buf[4], sizeof(buf[4]),
		 "--initial-advertise-peer-urls=http://127.0.0.1:%d",
		 h->peer_port);
	if (initial_cluster != NULL)
		snprintf(buf[5], sizeof(buf[5]), "--initial-cluster=%s",
			 initial_cluster);
	else
		snprintf(buf[5], sizeof(buf[5]),
			 "--initial-cluster=default=http://127.0.0.1:%d",
			 h->peer_port);
	if (tls) {
		do
			h->health_port = httptest_free_port();
		while (h->health_port == h->client_port ||
		       h->health_port == h->peer_port);
		snprintf(buf[nbuf++], sizeof(buf[0]),
			 "--listen-metrics-urls=http://127.0.0.1:%d",
			 h->health_port);
		snprintf(buf[nbuf++], sizeof(buf[0]), "--cert-file=%s",
			 o->cert_file);
		snprintf(buf[nbuf++], sizeof(buf[0]), "--key-file=%s",
			 o->key_file);
		if (o->trusted_ca_file != NULL)
			snprintf(buf[nbuf++], sizeof(buf[0]),
				 "--trusted-ca-file=%s", o->trusted_ca_file);
		if (o->client_cert_auth)
			snprintf(buf[nbuf++], sizeof(buf[0]),
				 "--client-cert-auth");
	}
	if (o != NULL && o->extra_args != NULL)
		while (o->extra_args[n_extra] != NULL)
			n_extra++;
	h->argv = calloc(18 + n_extra, sizeof(char *));
	if (h->argv == NULL)
		goto fail;
	size_t a = 0;
	char nm[80];
	snprintf(nm, sizeof(nm), "--name=%s", name != NULL ? name : "default");
	h->argv[a++] = strdup("etcd");
	h->argv[a++] = strdup(nm);
	for (int i = 0; i < nbuf; i++)
		h->argv[a++] = strdup(buf[i]);
	h->argv[a++] = strdup("--log-level=warn");
	h->argv[a++] = strdup("--logger=zap");
	for (size_t i = 0; i < n_extra; i++)
		h->argv[a++] = strdup(o->extra_args[i]);
	for (size_t i = 0; i < a; i++)
		if (h->argv[i] == NULL)
			goto fail;
	return h;
fail:
	etcd_harness_stop(h);
	return NULL;
}

struct etcd_harness *etcd_harness_start(const struct etcd_harness_opts *o)
{
	struct etcd_harness *h = harness_new(o, NULL, 0, 0, NULL);

	if (h != NULL && spawn(h) != 0)
		h = etcd_harness_stop(h);
	return h;
}

/* Ports for a cluster: all distinct. */
static int distinct_port(const int *used, size_t n)
{
	for (;;) {
		int p = httptest_free_port();
		bool dup = p <= 0;
		for (size_t i = 0; i < n && !dup; i++)
			dup = used[i] == p;
		if (!dup)
			return p;
	}
}

struct etcd_cluster *etcd_cluster_start(size_t n,
					const struct etcd_harness_opts *o)
{
	struct etcd_cluster *cl = calloc(1, sizeof(*cl));
	int ports[2 * ETCD_CLUSTER_MAX] = {0};
	char spec[ETCD_CLUSTER_MAX * 48] = "";
	size_t len = 0;

	if (cl == NULL || n == 0 || n > ETCD_CLUSTER_MAX) {
		free(cl);
		return NULL;
	}
	for (size_t i = 0; i < 2 * n; i++)
		ports[i] = distinct_port(ports, i);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(spec + len, sizeof(spec) - len,
					"%sm%zu=http://127.0.0.1:%d",
					i ? "," : "", i, ports[n + i]);
	for (size_t i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "m%zu", i);
		cl->m[i] = harness_new(o, name, ports[i], ports[n + i], spec);
		if (cl->m[i] == NULL)
			goto fail;
		cl->endpoints[i] = cl->m[i]->endpoint;
		cl->n = i + 1;
	}
	/* Each member waits for a quorum before it is healthy: start all,
	 * then wait. */
	for (size_t i = 0; i < n; i++)
		if (spawn_fork(cl->m[i]) != 0)
			goto fail;
	for (size_t i = 0; i < n; i++)
		if (wait_healthy(cl->m[i]) != 0)
			goto fail;
	return cl;
fail:
	etcd_cluster_stop(cl);
	return NULL;
}

int etcd_cluster_leader(struct etcd_cluster *cl)
{
	for (size_t i = 0; i < cl->n; i++) {
		char out[512];
		/* "endpoint, id, version, size, IS LEADER, ..." */
		if (etcd_harness_ctl(cl->m[i], out, sizeof(out), "endpoint",
				     "status", (char *)NULL) != 0)
			continue;
		char *f = out;
		for (int k = 0; k < 4 && f != NULL; k++)
			if ((f = strchr(f, ',')) != NULL)
				f++;
		if (f != NULL && strncmp(f, " true,", 6) == 0)
			return (int)i;
	}
	return -1;
}

int etcd_cluster_leader_last(struct etcd_cluster *cl)
{
	int lead = etcd_cluster_leader(cl);

	if (lead < 0)
		return -1;
	struct etcd_harness *h = cl->m[lead];
	for (size_t i = (size_t)lead; i + 1 < cl->n; i++)
		cl->m[i] = cl->m[i + 1];
	cl->m[cl->n - 1] = h;
	for (size_t i = 0; i < cl->n; i++)
		cl->endpoints[i] = cl->m[i]->endpoint;
	return 0;
}

struct etcd_cluster *etcd_cluster_stop(struct etcd_cluster *cl)
{
	if (cl == NULL)
		return NULL;
	for (size_t i = 0; i < cl->n; i++)
		cl->m[i] = etcd_harness_stop(cl->m[i]);
	free(cl);
	return NULL;
}

static void reap(struct etcd_harness *h, int sig)
{
	int status;

	if (h->pid <= 0)
		return;
	kill(h->pid, SIGCONT);
	h->paused = false;
	kill(h->pid, sig);
	for (int i = 0; i < 200; i++) { /* 10 s, then SIGKILL */
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			return;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	kill(h->pid, SIGKILL);
	waitpid(h->pid, &status, 0);
	h->pid = 0;
}

struct etcd_harness *etcd_harness_stop(struct etcd_harness *h)
{
	if (h == NULL)
		return NULL;
	reap(h, SIGTERM);
	if (h->dir[0] != '\0' && getenv("FLINTSCHED_KEEP_ETCD") == NULL) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", h->dir);
	}
	for (size_t i = 0; h->argv != NULL && h->argv[i] != NULL; i++)
		free(h->argv[i]);
	free(h->argv);
	free(h);
	return NULL;
}

int etcd_harness_kill(struct etcd_harness *h)
{
	if (h->pid <= 0)
		return -1;
	reap(h, SIGKILL);
	return 0;
}

int etcd_harness_restart(struct etcd_harness *h)
{
	reap(h, SIGTERM);
	return spawn(h);
}

int etcd_harness_pause(struct etcd_harness *h, bool paused)
{
	int status;

	if (h->pid <= 0)
		return -1;
	if (!paused) {
		h->paused = false;
		return kill(h->pid, SIGCONT);
	}
	if (h->paused)
		return 0; /* no second stop to wait for */
	if (kill(h->pid, SIGSTOP) != 0)
		return -1;
	/* kill() returns before every thread has stopped (one in a disk
	 * write stops when that returns): wait for the group stop, or a
	 * request sent next may still be answered. */
	for (;;) {
		pid_t r = waitpid(h->pid, &status, WUNTRACED);
		if (r < 0 && errno == EINTR)
			continue;
		if (r != h->pid)
			return -1;
		if (WIFSTOPPED(status)) {
			h->paused = true;
			return 0;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			h->pid = 0;
			return -1;
		}
	}
}

int etcd_harness_ctl(struct etcd_harness *h, char *out, size_t cap, ...)
{
	const char *argv[32];
	char ep[80];
	int pfd[2];
	va_list ap;
	size_t n = 0;

	snprintf(ep, sizeof(ep), "--endpoints=%s", h->endpoint);
	argv[n++] = "etcdctl";
	argv[n++] = ep;
	va_start(ap, cap);
	for (const char *s; n < 31 && (s = va_arg(ap, const char *)) != NULL;)
		argv[n++] = s;
	va_end(ap);
	argv[n] = NULL;
	if (pipe(pfd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		char log[300];
		snprintf(log, sizeof(log), "%s/etcdctl.log", h->dir);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) { /* keep the test output clean */
			dup2(fd, 2);
			close(fd);
		}
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		setenv("ETCDCTL_API", "3", 1);
		execvp("etcdctl", (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	char tmp[4096];
	ssize_t r;
	while ((r = read(pfd[0], tmp, sizeof(tmp))) > 0) {
		size_t k = (size_t)r;
		if (out != NULL && cap > 0 && got + 1 < cap) {
			size_t room = cap - 1 - got;
			memcpy(out + got, tmp, k < room ? k : room);
			got += k < room ? k : room;
		}
	}
	if (out != NULL && cap > 0)
		out[got] = '\0';
	close(pfd[0]);
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
