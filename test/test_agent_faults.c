/*
 * flintsched-agent under faults and hostile input (issue 13): VM state
 * writes that must not be lost or stormed, SIGTERM while registration
 * keeps failing, the host record after a refused write, the exec
 * executor's child (descriptors, environment, namespace), and deleted
 * requests with a real controller.  Agents and controllers run as child
 * processes against a real etcd started here; conditions are awaited by
 * bounded polling of etcd, never by sleeping for an event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/spec.h"
#include "etcdclient/etcd.h"
#include "test/lib/asgtest.h"
#include "test/lib/etcd_harness.h"

#define MAXP 8

/* One etcd for the group; tests that need auth start their own. */
static struct etcd_harness *group_h;

struct env {
	struct etcd_harness *h; /* group_h, or the test's own */
	bool own_h;
	struct ev_loop *loop;
	etcd_client *c; /* root when h has auth */
	pid_t pids[MAXP];
	int n_pids;
	char dir[512]; /* per-test files */
};

static int test_no;

static const char *bindir(void)
{
	const char *b = getenv("B");

	return b ? b : "build";
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	nanosleep(&ts, NULL);
}

static void client_open(struct env *e, const char *user, const char *pw)
{
	struct etcd_config cfg = {0};
	const char *ep = e->h->endpoint;

	e->c = etcd_client_free(e->c);
	cfg.endpoints = &ep;
	cfg.n_endpoints = 1;
	cfg.username = user;
	cfg.password = pw;
	assert_int_equal(etcd_client_new(e->loop, &cfg, &e->c), 0);
}

/* argv: NULL-terminated; output into <dir>/<log>.  extra_env: one
 * NAME=value for the child, or NULL. */
static pid_t spawn(struct env *e, const char *log, const char *extra_env,
		   const char *const *argv)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char path[700];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", e->dir, log);
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (extra_env)
			putenv((char *)extra_env);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_true(e->n_pids < MAXP);
	e->pids[e->n_pids++] = pid;
	return pid;
}

/* flintsched-agent with --set for each of the NULL-terminated list; n_sim
 * > 0: --simulate n_sim. */
static pid_t agent_start(struct env *e, const char *log, unsigned n_sim,
			 const char *extra_env, ...)
{
	char bin[256], ep[128], nn[16];
	const char *argv[64];
	size_t n = 0;
	va_list ap;

	snprintf(bin, sizeof(bin), "%s/flintsched-agent", bindir());
	snprintf(ep, sizeof(ep), "etcd.endpoints=[%s]", e->h->endpoint);
	snprintf(nn, sizeof(nn), "%u", n_sim);
	argv[n++] = bin;
	if (n_sim) {
		argv[n++] = "--simulate";
		argv[n++] = nn;
	}
	argv[n++] = "--set";
	argv[n++] = ep;
	argv[n++] = "--set";
	argv[n++] = "log.level=debug";
	va_start(ap, extra_env);
	for (const char *s; n < 60 && (s = va_arg(ap, const char *));) {
		argv[n++] = "--set";
		argv[n++] = s;
	}
	va_end(ap);
	argv[n] = NULL;
	return spawn(e, log, extra_env, argv);
}

/* Exit status of pid if it exits within timeout_s, else -1 (killed). */
static int wait_exit(struct env *e, pid_t pid, double timeout_s)
{
	double end = now_s() + timeout_s;
	int st, rc = -1;

	do {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			rc = WIFEXITED(st) ? WEXITSTATUS(st)
					   : 128 + WTERMSIG(st);
			break;
		}
		nap(0.02);
	} while (now_s() < end);
	if (rc < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	for (int i = 0; i < e->n_pids; i++)
		if (e->pids[i] == pid)
			e->pids[i] = e->pids[--e->n_pids];
	return rc;
}

static void stop_pid(struct env *e, pid_t pid)
{
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(e, pid, 10), 0);
}

static struct etcd_sync_range *get(struct env *e, const char *key, bool prefix)
{
	struct etcd_range_req rq = {.key = key, .prefix = prefix};
	struct etcd_sync_range *r = NULL;

	assert_int_equal(etcd_sync_get(e->c, &rq, &r, NULL), 0);
	return r;
}

static void put(struct env *e, const char *key, const char *val)
{
	assert_int_equal(
	    etcd_sync_put(e->c, key, val, strlen(val), 0, NULL, NULL), 0);
}

/* An assignment as a coordinator's commit writes it: its status first,
 * naming the host, request revision and attempt of val (0 and 1 when
 * absent), which the agent reads before it creates (agent/confirm.c). */
static void put_assign(struct env *e, const char *key, const char *val)
{
	char skey[256], st[512];

	assert_int_equal(asgtest_status(key, val, skey, sizeof(skey), st,
					sizeof(st)),
			 0);
	put(e, skey, st);
	put(e, key, val);
}

static void del(struct env *e, const char *key, bool prefix)
{
	assert_int_equal(etcd_sync_delete(e->c, key, prefix, NULL, NULL), 0);
}

/* Keys under prefix. */
static size_t count(struct env *e, const char *prefix)
{
	struct etcd_sync_range *r = get(e, prefix, true);
	size_t n = r->n_kvs;

	etcd_sync_range_free(r);
	return n;
}

/* Polls key until its value contains want (NULL: exists), or until it is
 * absent (gone).  Bounded. */
static bool wait_key(struct env *e, const char *key, const char *want,
		     bool gone, double timeout_s)
{
	double end = now_s() + timeout_s;
	char last[1024] = "";

	do {
		struct etcd_sync_range *r = get(e, key, false);
		bool ok;

		if (r->n_kvs)
			snprintf(last, sizeof(last), "%.*s",
				 (int)r->kvs[0].value_len, r->kvs[0].value);
		else
			last[0] = '\0';
		ok = gone ? r->n_kvs == 0
			  : r->n_kvs == 1 && (!want || strstr(last, want));
		etcd_sync_range_free(r);
		if (ok)
			return true;
		nap(0.05);
	} while (now_s() < end);
	fprintf(stderr, "timeout waiting for %s %s%s; last value: %s\n", key,
		gone ? "to vanish" : "to contain ", want ? want : "", last);
	return false;
}

/* The last n lines of path on stderr (a failed test's logs go with its
 * etcd's temp dir). */
static void file_tail(const char *path, int n)
{
	char lines[64][512];
	int k = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	if (n > 64)
		n = 64;
	while (fgets(lines[k % n], sizeof(lines[0]), f))
		k++;
	fclose(f);
	fprintf(stderr, "--- %s (last %d lines)\n", path, n);
	for (int i = k > n ? k - n : 0; i < k; i++)
		fputs(lines[i % n], stderr);
}

/* Lines of path containing s. */
static int file_count(const char *path, const char *s)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

static bool wait_file(const char *path, const char *s, double timeout_s)
{
	double end = now_s() + timeout_s;

	do {
		if (file_count(path, s) > 0)
			return true;
		nap(0.05);
	} while (now_s() < end);
	fprintf(stderr, "timeout waiting for \"%s\" in %s\n", s, path);
	return false;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->h = group_h;
	e->loop = ev_loop_new(0);
	snprintf(e->dir, sizeof(e->dir), "%s/t%d", group_h->dir, ++test_no);
	mkdir(e->dir, 0755);
	client_open(e, NULL, NULL);
	del(e, "/flintsched/", true);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	while (e->n_pids) {
		kill(e->pids[0], SIGKILL);
		wait_exit(e, e->pids[0], 10);
	}
	e->c = etcd_client_free(e->c);
	if (e->own_h)
		e->h = etcd_harness_stop(e->h);
	ev_loop_destroy(e->loop);
	free(e);
	return 0;
}

#define ASSIGN(vcpu)                                                           \
	"{\"request\":{\"vcpu\":" #vcpu ",\"memoryInMb\":64},\"attempt\":1}"

/*
 * Item 34: an assignment put and deleted at once.  The simulate executor
 * creates at once, so the `running` write is in flight when the delete
 * of the assignment has deleted the VM: the queued delete of
 * P/vms/<host>/<id> must still be written after it.
 */
static void test_vm_delete_not_lost(void **state)
{
	struct env *e = *state;
	char key[128];
	pid_t pid;

	pid = agent_start(e, "agent.log", 0, NULL, "agent.host=node-d",
			  "executor.type=simulate", "agent.lease_ttl_s=3",
			  "agent.capacity={vcpu: 64, memory_mb: 65536, "
			  "max_vms: 64}",
			  NULL);
	assert_true(wait_key(e, "/flintsched/hosts/node-d", NULL, false, 10));
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 8; i++) {
			snprintf(key, sizeof(key),
				 "/flintsched/assign/node-d/v%d-%d", round, i);
			put_assign(e, key, ASSIGN(1));
			del(e, key, false);
		}
	}
	/* A last one, kept then deleted: once its record is gone every
	 * earlier event was handled too (one watch, in order). */
	put_assign(e, "/flintsched/assign/node-d/last", ASSIGN(1));
	assert_true(wait_key(e, "/flintsched/vms/node-d/last",
			     "\"state\":\"running\"", false, 10));
	del(e, "/flintsched/assign/node-d/last", false);
	assert_true(wait_key(e, "/flintsched/vms/node-d/last", NULL, true, 10));
	{
		struct etcd_sync_range *r = get(e, "/flintsched/vms/", true);

		for (size_t i = 0; i < r->n_kvs; i++)
			fprintf(stderr, "left: %s = %.*s\n", r->kvs[i].key,
				(int)r->kvs[i].value_len, r->kvs[i].value);
		assert_int_equal(r->n_kvs, 0);
		etcd_sync_range_free(r);
	}
	stop_pid(e, pid);
}

/* An executable script at <dir>/<name> with body (after #!/bin/sh). */
static void script(struct env *e, const char *name, char *path, size_t len,
		   const char *body)
{
	FILE *f;

	snprintf(path, len, "%s/%s", e->dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	fclose(f);
	chmod(path, 0755);
}

/*
 * Item 35: VM state writes while etcd refuses connections.  23 creates
 * (exec, `sleep`) end one by one 0.8-3.0 s after etcd was killed; each
 * end queues a `running` write.  The parked queue must wait for its
 * backoff rather than be flushed again by every new write, and say so
 * once per backoff step; once etcd is back every state is written.
 */
static void test_state_write_backoff(void **state)
{
	struct env *e = *state;
	char sh[600], body[1200], set_exec[1400], log[600], done[600], key[128];
	pid_t pid;
	int warnings;

	snprintf(done, sizeof(done), "%s/done", e->dir);
	snprintf(body, sizeof(body),
		 "cat >/dev/null\n"
		 "[ \"$FLINTSCHED_ACTION\" = create ] || exit 0\n"
		 "n=${FLINTSCHED_VM_ID#s}\n"
		 "sleep $((n / 10)).$((n %% 10))\n"
		 "echo \"done $FLINTSCHED_VM_ID\" >> %s\n",
		 done);
	script(e, "vm.sh", sh, sizeof(sh), body);
	snprintf(set_exec, sizeof(set_exec),
		 "executor.exec={create: %s, delete: %s}", sh, sh);
	snprintf(log, sizeof(log), "%s/agent.log", e->dir);
	pid =
	    agent_start(e, "agent.log", 0, NULL, "agent.host=node-b",
			"executor.type=exec", set_exec, "agent.lease_ttl_s=30",
			"agent.capacity={vcpu: 64, memory_mb: 65536, "
			"max_vms: 64}",
			NULL);
	assert_true(wait_key(e, "/flintsched/hosts/node-b", NULL, false, 10));
	for (int i = 8; i <= 30; i++) {
		snprintf(key, sizeof(key), "/flintsched/assign/node-b/s%d", i);
		put_assign(e, key, ASSIGN(1));
	}
	/* Every `creating` written, well before the first create ends. */
	{
		double end = now_s() + 5;

		while (count(e, "/flintsched/vms/node-b/") < 23 &&
		       now_s() < end)
			nap(0.01);
		assert_int_equal(count(e, "/flintsched/vms/node-b/"), 23);
	}
	assert_int_equal(etcd_harness_kill(e->h), 0);
	/* Most creates end now, while every write fails (a loaded machine
	 * may have ended a few before: fewer failures, same bound). */
	assert_true(file_count(done, "done") < 10);
	assert_true(wait_file(done, "done s30", 10));
	nap(0.3); /* the last `running` write fails too */
	warnings = file_count(log, "VM state(s) not written");
	fprintf(stderr, "%d warning(s) about VM state writes\n", warnings);
	assert_int_equal(etcd_harness_restart(e->h), 0);
	client_open(e, NULL, NULL);
	for (int i = 8; i <= 30; i++) {
		snprintf(key, sizeof(key), "/flintsched/vms/node-b/s%d", i);
		assert_true(
		    wait_key(e, key, "\"state\":\"running\"", false, 15));
	}
	/* 2.5 s of outage: a backoff from 0.25 s doubling allows 5
	 * attempts; one per write would be 23 or more. */
	if (warnings < 1 || warnings > 6)
		file_tail(log, 20);
	assert_true(warnings >= 1);
	assert_true(warnings <= 6);
	stop_pid(e, pid);
	del(e, "/flintsched/assign/", true);
}

/* The descriptors ls listed in path (`ls -l /proc/self/fd`), but the one
 * it read the listing from; into fds (as "N -> target" lines). */
static int fds_listed(const char *path, char *fds, size_t len)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	fds[0] = '\0';
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *arrow = strstr(line, " -> ");
		size_t l = strlen(line);

		if (!arrow)
			continue;
		while (l && (line[l - 1] == '\n'))
			line[--l] = '\0';
		if (l > 3 && strcmp(line + l - 3, "/fd") == 0 &&
		    strstr(arrow, "/proc/"))
			continue; /* ls's own directory */
		while (arrow > line && arrow[-1] != ' ')
			arrow--;
		snprintf(fds + strlen(fds), len - strlen(fds), "%s\n", arrow);
		n++;
	}
	fclose(f);
	return n;
}

/*
 * Item 24: what the exec executor's command gets.  Only descriptors 0-2
 * (the agent holds etcd sockets, the HTTP listener and other commands'
 * output files), only PATH and the FLINTSCHED_* variables (not the
 * agent's environment), and FLINTSCHED_NAMESPACE from the spec's own
 * top-level namespace, not from a nested one that comes first.
 */
static void test_exec_child_sandbox(void **state)
{
	struct env *e = *state;
	char set_exec[1400], path[700], buf[4096], line[1024];
	pid_t pid;
	FILE *f;

	snprintf(set_exec, sizeof(set_exec),
		 "executor.exec={create: 'ls -l /proc/self/fd > %s/fds."
		 "$FLINTSCHED_VM_ID; env > %s/env.$FLINTSCHED_VM_ID; "
		 "cat >/dev/null'}",
		 e->dir, e->dir);
	pid = agent_start(e, "agent.log", 0, "AGENT_SECRET_TOKEN=hunter2",
			  "agent.host=node-x", "executor.type=exec", set_exec,
			  "http.listen=127.0.0.1:0", NULL);
	assert_true(wait_key(e, "/flintsched/hosts/node-x", NULL, false, 10));
	/* Two VMs at once: the second create runs while the first one's
	 * output files are open. */
	put_assign(e, "/flintsched/assign/node-x/ns-real",
	    "{\"request\":{\"metadata\":{\"namespace\":\"spoof\"},"
	    "\"vcpu\":1,\"memoryInMb\":64,\"namespace\":\"real\"},"
	    "\"attempt\":1}");
	put_assign(e, "/flintsched/assign/node-x/ns-none",
	    "{\"request\":{\"labels\":{\"namespace\":\"spoof\"},"
	    "\"vcpu\":1,\"memoryInMb\":64,"
	    "\"note\":\"\\\"namespace\\\":\\\"spoof2\\\"\"},"
	    "\"attempt\":1}");
	assert_true(wait_key(e, "/flintsched/vms/node-x/ns-real",
			     "\"state\":\"running\"", false, 10));
	assert_true(wait_key(e, "/flintsched/vms/node-x/ns-none",
			     "\"state\":\"running\"", false, 10));
	for (int k = 0; k < 2; k++) {
		const char *id = k ? "ns-none" : "ns-real";

		snprintf(path, sizeof(path), "%s/fds.%s", e->dir, id);
		if (fds_listed(path, buf, sizeof(buf)) != 3)
			fail_msg("%s: the command had more than 0-2 open:\n%s",
				 id, buf);
		snprintf(path, sizeof(path), "%s/env.%s", e->dir, id);
		f = fopen(path, "r");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "FLINTSCHED_", 11) != 0 &&
			    strncmp(line, "PATH=", 5) != 0 &&
			    strncmp(line, "PWD=", 4) != 0)
				fail_msg("%s: unexpected variable %s", id,
					 line);
		}
		fclose(f);
		assert_int_equal(file_count(path, "FLINTSCHED_VM_ID="), 1);
		assert_int_equal(file_count(path, "FLINTSCHED_HOST=node-x"), 1);
		assert_int_equal(file_count(path, "PATH=/"), 1);
		assert_int_equal(file_count(path, "hunter2"), 0);
		assert_int_equal(
		    file_count(path, k ? "FLINTSCHED_NAMESPACE=default\n"
				       : "FLINTSCHED_NAMESPACE=real\n"),
		    1);
	}
	stop_pid(e, pid);
	del(e, "/flintsched/assign/", true);
}

/* e gets an etcd of its own with auth on: root:rootpw, and agent:agentpw
 * with readwrite on every key of the prefix (role "agent"); e->c is
 * root's.  pwfile: a file holding the agent's password. */
static void auth_etcd(struct env *e, char *pwfile, size_t len)
{
	char out[512];
	FILE *f;

	e->h = etcd_harness_start(NULL);
	assert_non_null(e->h);
	e->own_h = true;
	assert_int_equal(etcd_harness_ctl(e->h, out, sizeof(out), "user", "add",
					  "root:rootpw", NULL),
			 0);
	assert_int_equal(etcd_harness_ctl(e->h, out, sizeof(out), "user", "add",
					  "agent:agentpw", NULL),
			 0);
	assert_int_equal(etcd_harness_ctl(e->h, out, sizeof(out), "role", "add",
					  "agent", NULL),
			 0);
	assert_int_equal(etcd_harness_ctl(e->h, out, sizeof(out), "role",
					  "grant-permission", "--prefix=true",
					  "agent", "readwrite", "/flintsched/",
					  NULL),
			 0);
	assert_int_equal(etcd_harness_ctl(e->h, out, sizeof(out), "user",
					  "grant-role", "agent", "agent", NULL),
			 0);
	assert_int_equal(
	    etcd_harness_ctl(e->h, out, sizeof(out), "auth", "enable", NULL),
	    0);
	client_open(e, "root", "rootpw");
	snprintf(pwfile, len, "%s/agent.pw", e->dir);
	f = fopen(pwfile, "w");
	assert_non_null(f);
	fputs("agentpw\n", f);
	fclose(f);
	chmod(pwfile, 0600);
}

/*
 * Item 26: an agent that cannot authenticate (wrong password) has no
 * lease to revoke; SIGTERM must still end it within the stop timeout
 * (3 s), not leave it retrying until SIGKILL.
 */
static void test_sigterm_without_lease(void **state)
{
	struct env *e = *state;
	char pwfile[600], set_pw[700], log[600];
	double t0;
	pid_t pid;
	FILE *f;

	auth_etcd(e, pwfile, sizeof(pwfile));
	f = fopen(pwfile, "w");
	assert_non_null(f);
	fputs("wrong\n", f);
	fclose(f);
	snprintf(set_pw, sizeof(set_pw), "etcd.password_file=%s", pwfile);
	snprintf(log, sizeof(log), "%s/agent.log", e->dir);
	pid = agent_start(e, "agent.log", 0, NULL, "agent.host=node-t",
			  "executor.type=simulate", "etcd.username=agent",
			  set_pw, NULL);
	/* It tried, and failed, to register at least twice. */
	assert_true(wait_file(log, "lease grant failed", 10));
	t0 = now_s();
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(e, pid, 6), 0);
	assert_true(now_s() - t0 < 4.0);
}

/* etcdctl as root on e's own etcd (auth on); fails the test unless 0. */
static void root_ctl(struct env *e, char *out, size_t cap, ...)
{
	const char *a[12];
	size_t n = 0;
	va_list ap;

	va_start(ap, cap);
	for (const char *s; n < 12 && (s = va_arg(ap, const char *));)
		a[n++] = s;
	va_end(ap);
	while (n < 12)
		a[n++] = NULL;
	assert_int_equal(etcd_harness_ctl(e->h, out, cap, "--user",
					  "root:rootpw", a[0], a[1], a[2], a[3],
					  a[4], a[5], a[6], a[7], a[8], a[9],
					  a[10], a[11], NULL),
			 0);
}

/* The agent role's write permission on P/hosts/ (off: every other key of
 * the prefix stays readable and writable). */
static void hosts_writable(struct env *e, bool on)
{
	static const char *const others[] = {
	    "/flintsched/vms/", "/flintsched/bids/", "/flintsched/assign/",
	    "/flintsched/rounds/", "/flintsched/invites/",
	    "/flintsched/status/"};
	char out[512];

	if (on) {
		root_ctl(e, out, sizeof(out), "role", "grant-permission",
			 "--prefix=true", "agent", "readwrite",
			 "/flintsched/hosts/", NULL);
		return;
	}
	root_ctl(e, out, sizeof(out), "role", "revoke-permission",
		 "--prefix=true", "agent", "/flintsched/", NULL);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		root_ctl(e, out, sizeof(out), "role", "grant-permission",
			 "--prefix=true", "agent", "readwrite", others[i],
			 NULL);
}

/*
 * host.c: a host record write that etcd refused must not count as
 * written.  A simulated host (no metrics tick) gets a VM while it may
 * not write P/hosts/: once it may again, the record must catch up
 * ("vms":1) rather than stay at what was last written.
 */
static void test_host_record_retried(void **state)
{
	struct env *e = *state;
	char pwfile[600], set_pw[700], log[600];
	pid_t pid;

	auth_etcd(e, pwfile, sizeof(pwfile));
	snprintf(set_pw, sizeof(set_pw), "etcd.password_file=%s", pwfile);
	snprintf(log, sizeof(log), "%s/agent.log", e->dir);
	pid = agent_start(e, "agent.log", 1, NULL, "agent.host=hw",
			  "etcd.username=agent", set_pw, "agent.lease_ttl_s=10",
			  NULL);
	assert_true(
	    wait_key(e, "/flintsched/hosts/hw-0", "\"vms\":0", false, 10));
	hosts_writable(e, false);
	put_assign(e, "/flintsched/assign/hw-0/v1", ASSIGN(1));
	assert_true(wait_key(e, "/flintsched/vms/hw-0/v1",
			     "\"state\":\"running\"", false, 10));
	assert_true(wait_file(log, "writing host record failed", 10));
	hosts_writable(e, true);
	assert_true(
	    wait_key(e, "/flintsched/hosts/hw-0", "\"vms\":1", false, 10));
	stop_pid(e, pid);
}

/* Leases granted, as etcd lists them. */
static int lease_count(struct env *e)
{
	char out[4096];
	int n = -1;

	root_ctl(e, out, sizeof(out), "lease", "list", NULL);
	if (sscanf(out, "found %d leases", &n) != 1)
		fail_msg("lease list: %s", out);
	return n;
}

/*
 * host.c: a registration whose record write fails gives its new lease
 * back; each retry grants another, and with a 30 s TTL they would pile
 * up.  The agent may not write P/hosts/ at all here.
 */
static void test_register_lease_revoked(void **state)
{
	struct env *e = *state;
	char pwfile[600], set_pw[700], log[600];
	double end;
	pid_t pid;
	int n;

	auth_etcd(e, pwfile, sizeof(pwfile));
	hosts_writable(e, false);
	snprintf(set_pw, sizeof(set_pw), "etcd.password_file=%s", pwfile);
	snprintf(log, sizeof(log), "%s/agent.log", e->dir);
	pid = agent_start(
	    e, "agent.log", 0, NULL, "agent.host=node-l", "etcd.username=agent",
	    set_pw, "executor.type=simulate", "agent.lease_ttl_s=30", NULL);
	end = now_s() + 15;
	while (file_count(log, "writing host record failed") < 3 &&
	       now_s() < end)
		nap(0.05);
	assert_true(file_count(log, "writing host record failed") >= 3);
	/* At most the one of the attempt under way. */
	end = now_s() + 3;
	while ((n = lease_count(e)) > 1 && now_s() < end)
		nap(0.05);
	if (n > 1)
		fail_msg("%d leases granted after 3 failed registrations", n);
	hosts_writable(e, true);
	assert_true(wait_key(e, "/flintsched/hosts/node-l", NULL, false, 15));
	stop_pid(e, pid);
	/* the registered host's lease, left to run out (not revoked) */
	assert_int_equal(lease_count(e), 1);
}

/* flintsched-controller on e's etcd. */
static pid_t controller_start(struct env *e, const char *log, const char *name)
{
	char bin[256], ep[128], nm[96];
	const char *argv[] = {bin,
			      "--set",
			      ep,
			      "--set",
			      nm,
			      "--set",
			      "scheduling.bidding=sample",
			      "--set",
			      "controller.lease_ttl_s=2",
			      "--set",
			      "scheduling.bid_timeout_ms=300",
			      "--set",
			      "log.level=debug",
			      NULL};

	snprintf(bin, sizeof(bin), "%s/flintsched-controller", bindir());
	snprintf(ep, sizeof(ep), "etcd.endpoints=[%s]", e->h->endpoint);
	snprintf(nm, sizeof(nm), "controller.name=%s", name);
	return spawn(e, log, NULL, argv);
}

/* P/vms/<host>/<id> records without an assignment, and the running
 * statuses of keep-*: into *stray and *running. */
static void vm_census(struct env *e, int *stray, int *running, int *vms)
{
	struct etcd_sync_range *v = get(e, "/flintsched/vms/", true);
	struct etcd_sync_range *as = get(e, "/flintsched/assign/", true);
	struct etcd_sync_range *st = get(e, "/flintsched/status/keep-", true);

	*stray = 0;
	*vms = (int)v->n_kvs;
	for (size_t i = 0; i < v->n_kvs; i++) {
		const char *rest = v->kvs[i].key + strlen("/flintsched/vms/");
		bool found = false;

		for (size_t j = 0; j < as->n_kvs && !found; j++)
			found = strcmp(as->kvs[j].key +
					   strlen("/flintsched/assign/"),
				       rest) == 0;
		*stray += !found;
	}
	*running = 0;
	for (size_t i = 0; i < st->n_kvs; i++) {
		char val[2048];

		snprintf(val, sizeof(val), "%.*s", (int)st->kvs[i].value_len,
			 st->kvs[i].value);
		*running += strstr(val, "\"phase\":\"running\"") != NULL;
	}
	etcd_sync_range_free(v);
	etcd_sync_range_free(as);
	etcd_sync_range_free(st);
}

/*
 * Item 29: requests deleted 0-40 ms after their put, interleaved with
 * rewrites of others, with a real controller and agent: no VM record may
 * stay for a request that is gone.
 */
static void test_deleted_requests_leave_no_vm(void **state)
{
	struct env *e = *state;
	char key[128], val[512];
	int stray = 0, running = 0, vms = 0;
	unsigned seed = 29;
	double end;
	pid_t agent;

	agent = agent_start(e, "agent.log", 4, NULL, "agent.host=churn",
			    "executor.type=simulate", "agent.lease_ttl_s=3",
			    "agent.capacity={vcpu: 64, memory_mb: 65536, "
			    "max_vms: 100}",
			    NULL);
	controller_start(e, "ctrl.log", "c1");
	assert_true(wait_key(e, "/flintsched/hosts/churn-3", NULL, false, 10));
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "/flintsched/requests/keep-%d", i);
		snprintf(val, sizeof(val),
			 "{\"vcpu\":1,\"memoryInMb\":1024," FS_SPEC_EXAMPLE
			 "}");
		put(e, key, val);
	}
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "/flintsched/requests/tmp-%d", i);
		snprintf(val, sizeof(val),
			 "{\"vcpu\":1,\"memoryInMb\":1024," FS_SPEC_EXAMPLE
			 "}");
		put(e, key, val);
		snprintf(key, sizeof(key), "/flintsched/requests/keep-%d",
			 i % 20);
		snprintf(val, sizeof(val),
			 "{\"vcpu\":1,\"memoryInMb\":%d," FS_SPEC_EXAMPLE "}",
			 1024 + 64 * (i / 20 + 1));
		put(e, key, val);
		/* The workload's pace (0-40 ms), not a wait for an event. */
		nap((double)(rand_r(&seed) % 41) / 1000.0);
		snprintf(key, sizeof(key), "/flintsched/requests/tmp-%d", i);
		del(e, key, false);
	}
	/* Settled: every kept request running, one VM record each, none
	 * without an assignment. */
	end = now_s() + 40;
	do {
		vm_census(e, &stray, &running, &vms);
		if (running == 20 && vms == 20 && stray == 0 &&
		    count(e, "/flintsched/assign/") == 20)
			break;
		nap(0.1);
	} while (now_s() < end);
	if (stray || vms != 20 || running != 20) {
		struct etcd_sync_range *r = get(e, "/flintsched/vms/", true);

		for (size_t i = 0; i < r->n_kvs; i++)
			if (strstr(r->kvs[i].key, "/tmp-"))
				fprintf(stderr, "left: %s = %.*s\n",
					r->kvs[i].key, (int)r->kvs[i].value_len,
					r->kvs[i].value);
		etcd_sync_range_free(r);
		snprintf(key, sizeof(key), "%s/ctrl.log", e->dir);
		file_tail(key, 30);
		snprintf(key, sizeof(key), "%s/agent.log", e->dir);
		file_tail(key, 30);
		fail_msg("%d VM record(s) without assignment, %d records, "
			 "%d of 20 running (logs in %s)",
			 stray, vms, running, e->dir);
	}
	stop_pid(e, agent); /* exit 0: also no LeakSanitizer report */
}

static int group_setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	group_h = etcd_harness_start(NULL);
	return group_h ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	group_h = etcd_harness_stop(group_h);
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_vm_delete_not_lost, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_sigterm_without_lease, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_state_write_backoff, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_exec_child_sandbox, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_host_record_retried, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_register_lease_revoked, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_deleted_requests_leave_no_vm,
					    setup, teardown),
	};
	if (getenv("TEST_FILTER")) /* e.g. TEST_FILTER='test_exec*' */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
