/*
 * flintsched-agent against a real etcd: registration, bidding, execution
 * with the simulate, exec and flintlock (fake_flintlockd) executors, SIGTERM
 * leaving the lease to run out, lease expiry after
 * kill -9, reconciliation on restart, re-registration after an etcd
 * outage longer than the TTL.  The agent runs as a child process
 * (build/flintsched-agent); conditions are awaited by polling etcd with a
 * bounded loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "common/spec.h"
#include "test/lib/asgtest.h"
#include "test/lib/etcd_harness.h"
#include "test/lib/httptest.h"

#ifndef AGENT_BIN
#define AGENT_BIN "build/flintsched-agent"
#endif

static struct etcd_harness *H;
/* Agents still running, killed by teardown when a test fails midway. */
static pid_t live[16];

static void live_add(pid_t pid)
{
	for (size_t i = 0; i < 16; i++)
		if (!live[i]) {
			live[i] = pid;
			return;
		}
}

static void live_del(pid_t pid)
{
	for (size_t i = 0; i < 16; i++)
		if (live[i] == pid)
			live[i] = 0;
}
static char agent_bin[512];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(void)
{
	struct timespec ts = {0, 50 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

static void ctl_put(const char *key, const char *val)
{
	char out[256];

	assert_int_equal(etcd_harness_ctl(H, out, sizeof(out), "put", key, val,
					  NULL),
			 0);
}

static void ctl_del(const char *key)
{
	char out[256];

	assert_int_equal(etcd_harness_ctl(H, out, sizeof(out), "del", key,
					  NULL),
			 0);
}

static void ctl_get(const char *key, char *out, size_t cap)
{
	out[0] = '\0';
	etcd_harness_ctl(H, out, cap, "get", key, "--print-value-only", NULL);
}

/* Lease id of key as etcdctl prints it in JSON, 0 when none / absent. */
static long long ctl_lease(const char *key)
{
	char out[4096], *p;

	out[0] = '\0';
	etcd_harness_ctl(H, out, sizeof(out), "get", key, "-w", "json", NULL);
	p = strstr(out, "\"lease\":");
	return p ? atoll(p + 8) : 0;
}

/* What a coordinator's commit writes for a placement, by hand: the
 * status naming the host, request revision and attempt of the
 * assignment val (its "request_rev" and "attempt", 0 and 1 when
 * absent), then the assignment: an agent creates only what a status
 * confirms (docs/DESIGN.md "Agent"). */
static void ctl_assign(const char *key, const char *val)
{
	char skey[256], st[512];

	assert_int_equal(asgtest_status(key, val, skey, sizeof(skey), st,
					sizeof(st)),
			 0);
	ctl_put(skey, st);
	ctl_put(key, val);
}

/* Polls key until its value contains want (NULL: exists; "" with gone:
 * until absent).  Bounded. */
static bool wait_key(const char *key, const char *want, bool gone,
		     double timeout_s)
{
	char out[4096];
	double end = now_s() + timeout_s;

	do {
		ctl_get(key, out, sizeof(out));
		if (gone ? out[0] == '\0'
			 : (out[0] && (!want || strstr(out, want))))
			return true;
		nap();
	} while (now_s() < end);
	fprintf(stderr, "timeout waiting for %s %s%s; last value: %s\n", key,
		gone ? "to vanish" : "to contain ", want ? want : "", out);
	return false;
}

static bool file_has(const char *path, const char *want)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, want) != NULL;
}

static bool wait_file(const char *path, const char *want, double timeout_s)
{
	double end = now_s() + timeout_s;

	do {
		if (file_has(path, want))
			return true;
		nap();
	} while (now_s() < end);
	fprintf(stderr, "timeout waiting for \"%s\" in %s\n", want, path);
	return false;
}

/* Starts the agent with --set arguments (NULL-terminated); its log goes
 * to <dir>/<logname>. */
static pid_t agent_spawn(const char *logname, ...)
{
	const char *argv[64];
	char ep[128], log[512];
	size_t n = 0;
	va_list ap;
	pid_t pid;

	snprintf(ep, sizeof(ep), "etcd.endpoints=[%s]", H->endpoint);
	snprintf(log, sizeof(log), "%s/%s", H->dir, logname);
	argv[n++] = agent_bin;
	argv[n++] = "--set";
	argv[n++] = ep;
	argv[n++] = "--set";
	argv[n++] = "log.level=debug";
	va_start(ap, logname);
	for (const char *s; n < 60 && (s = va_arg(ap, const char *));) {
		argv[n++] = "--set";
		argv[n++] = s;
	}
	va_end(ap);
	argv[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
			close(fd);
		}
		execv(agent_bin, (char *const *)argv);
		_exit(127);
	}
	live_add(pid);
	return pid;
}

static int agent_wait_exit(pid_t pid, double timeout_s)
{
	double end = now_s() + timeout_s;
	int st;

	live_del(pid);
	do {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		nap();
	} while (now_s() < end);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void agent_term(pid_t pid)
{
	kill(pid, SIGTERM);
	assert_int_equal(agent_wait_exit(pid, 10), 0);
}

#define COMMON_SETS                                                          \
	"agent.lease_ttl_s=3", "agent.proc_root=test/data/proc/a",           \
		"agent.capacity={vcpu: 4, memory_mb: 4096, max_vms: 4}"

static void test_register_bid_simulate(void **state)
{
	char out[1024];
	pid_t pid;

	(void)state;
	pid = agent_spawn("sim.log", "agent.host=node-1",
			  "executor.type=simulate", "agent.labels={zone: a}",
			  COMMON_SETS, NULL);
	assert_true(wait_key("/flintsched/hosts/node-1", "\"zone\":\"a\"",
			     false, 10));
	assert_true(ctl_lease("/flintsched/hosts/node-1") != 0);
	ctl_get("/flintsched/hosts/node-1", out, sizeof(out));
	assert_non_null(strstr(out, "\"allocatable\":{\"vcpu\":4,"
				    "\"memory_mb\":4096,\"max_vms\":4}"));

	/* Idle measured memory 0.25: cpu max(1/4, 0+1/4) = 0.25, mem
	 * max(256/4096, 0.25 + 256/4096) = 0.3125, vms 1/4: mean 0.2708. */
	ctl_put("/flintsched/rounds/r1",
		"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":256}}");
	assert_true(wait_key("/flintsched/bids/node-1/r1",
			     "\"fits\":true,\"score\":0.270833333", false, 10));
	assert_true(ctl_lease("/flintsched/bids/node-1/r1") ==
		    ctl_lease("/flintsched/hosts/node-1"));

	ctl_put("/flintsched/rounds/r4",
		"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":256},"
		"\"selector\":{\"zone\":\"b\"}}");
	assert_true(wait_key("/flintsched/bids/node-1/r4",
			     "\"reason\":\"selector zone=b\"", false, 10));
	/* What is assigned counts (the agent sums P/assign/<host>/, as
	 * P/alloc/<host> does, rather than watching it); not invited = no
	 * bid. */
	ctl_assign("/flintsched/assign/node-1/big",
		"{\"request\":{\"vcpu\":4,\"memoryInMb\":1024," FS_SPEC_EXAMPLE "},"
		"\"request_rev\":4,\"attempt\":1}");
	assert_true(wait_key("/flintsched/vms/node-1/big",
			     "\"state\":\"running\"", false, 10));
	ctl_put("/flintsched/rounds/r2",
		"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":256},"
		"\"hosts\":[\"node-1\"]}");
	assert_true(wait_key("/flintsched/bids/node-1/r2",
			     "\"reason\":\"insufficient vcpu\"", false, 10));
	/* and stops counting once the assignment is gone. */
	ctl_del("/flintsched/assign/node-1/big");
	assert_true(wait_key("/flintsched/vms/node-1/big", NULL, true, 10));
	ctl_put("/flintsched/rounds/r5",
		"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":256},"
		"\"hosts\":[\"node-1\"]}");
	assert_true(wait_key("/flintsched/bids/node-1/r5", "\"fits\":true",
			     false, 10));
	/* A sample round's invitation, P/invites/<host>/<id> (issue 17),
	 * answered though its deadline passed: the deadline was set before
	 * the round's txn queued behind others, and skipping it left rounds
	 * of a loaded bench with no bid (the key exists until the round
	 * closes, so a late bid is at worst stale). */
	ctl_put("/flintsched/invites/node-1/i1",
		"{\"attempt\":2,\"need\":{\"vcpu\":1,\"memory_mb\":256},"
		"\"deadline_ms\":1,\"hosts\":[\"node-1\",\"node-2\"]}");
	assert_true(wait_key("/flintsched/bids/node-1/i1",
			     "\"attempt\":2,\"fits\":true", false, 10));
	ctl_put("/flintsched/rounds/r3",
		"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":256},"
		"\"hosts\":[\"node-2\"]}");
	ctl_get("/flintsched/bids/node-1/r3", out, sizeof(out));
	assert_string_equal(out, "");
	/* Malformed input is skipped, the agent keeps working. */
	ctl_put("/flintsched/rounds/bad", "{\"attempt\":");
	ctl_put("/flintsched/assign/node-1/bad", "[1,2");

	ctl_assign("/flintsched/assign/node-1/web-1",
		"{\"request\":{\"vcpu\":1,\"memoryInMb\":1024," FS_SPEC_EXAMPLE
		",\"scheduling\":{\"spread\":\"web\"}},\"request_rev\":5,"
		"\"attempt\":1}");
	assert_true(wait_key("/flintsched/vms/node-1/web-1",
			     "\"state\":\"running\"", false, 10));
	assert_true(wait_key("/flintsched/hosts/node-1", "\"vms\":1", false,
			     10));
	ctl_del("/flintsched/assign/node-1/web-1");
	assert_true(wait_key("/flintsched/vms/node-1/web-1", NULL, true, 10));

	/* SIGTERM: the lease is not revoked (a restart within its TTL
	 * moves nothing): the record outlives the agent, then runs out with
	 * the lease (TTL 3 s), and the bids with it. */
	agent_term(pid);
	ctl_get("/flintsched/hosts/node-1", out, sizeof(out));
	assert_string_not_equal(out, "");
	assert_true(wait_key("/flintsched/hosts/node-1", NULL, true, 15));
	ctl_get("/flintsched/bids/node-1/r1", out, sizeof(out));
	assert_string_equal(out, "");
	{
		char log[512];

		snprintf(log, sizeof(log), "%s/sim.log", H->dir);
		assert_true(file_has(log, "/flintsched/rounds/bad: malformed "
					  "round skipped"));
		assert_true(file_has(log, "/flintsched/assign/node-1/bad: "
					  "malformed assignment skipped"));
	}
	ctl_del("/flintsched/rounds/r1");
	ctl_del("/flintsched/rounds/r2");
	ctl_del("/flintsched/rounds/r3");
	ctl_del("/flintsched/rounds/r4");
	ctl_del("/flintsched/rounds/r5");
	ctl_del("/flintsched/invites/node-1/i1");
	ctl_del("/flintsched/rounds/bad");
	ctl_del("/flintsched/assign/node-1/bad");
}

static void test_kill9_expiry(void **state)
{
	double t0;
	pid_t pid;
	int st;

	(void)state;
	pid = agent_spawn("kill9.log", "agent.host=node-k",
			  "executor.type=simulate", COMMON_SETS, NULL);
	assert_true(wait_key("/flintsched/hosts/node-k", NULL, false, 10));
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	live_del(pid);
	t0 = now_s();
	/* TTL 3 s, plus etcd's expiry check granularity. */
	assert_true(wait_key("/flintsched/hosts/node-k", NULL, true, 6));
	assert_true(now_s() - t0 >= 1.0); /* it was the lease, not a delete */
}

/* A script for the exec executor, H->dir/<name>.sh, that logs each call
 * ("<action> <id> <host> <uid> <spec>") to H->dir/<name>.log, fails ids
 * fail* with exit 3, and answers a create with the uid "uid-<id>"; the
 * executor.exec setting that runs it into okcmd, the log's path into
 * vmlog. */
static void exec_script(const char *name, char *okcmd, size_t okcap,
			char *vmlog, size_t logcap)
{
	char script[512];
	FILE *f;

	snprintf(script, sizeof(script), "%s/%s.sh", H->dir, name);
	snprintf(vmlog, logcap, "%s/%s.log", H->dir, name);
	f = fopen(script, "w");
	assert_non_null(f);
	fprintf(f,
		"#!/bin/sh\n"
		"spec=$(cat)\n"
		"echo \"$FLINTSCHED_ACTION $FLINTSCHED_VM_ID "
		"$FLINTSCHED_HOST $FLINTSCHED_VM_UID $spec\" >> %s\n"
		"case $FLINTSCHED_VM_ID in fail*) echo 'no room at the inn' "
		">&2; exit 3;; esac\n"
		"[ $FLINTSCHED_ACTION = create ] && echo uid-$FLINTSCHED_VM_ID\n"
		"exit 0\n",
		vmlog);
	fclose(f);
	chmod(script, 0755);
	snprintf(okcmd, okcap, "executor.exec={create: %s, delete: %s}",
		 script, script);
}

static void test_exec_executor(void **state)
{
	char okcmd[1200], vmlog[512], val[1024];
	FILE *f;
	pid_t pid;

	(void)state;
	exec_script("vm", okcmd, sizeof(okcmd), vmlog, sizeof(vmlog));

	/* Reconcile: a VM state without assignment, a running VM with its
	 * assignment (must not be created again), an assignment without
	 * state. */
	ctl_put("/flintsched/vms/node-e/orphan",
		"{\"state\":\"running\",\"uid\":\"uid-orphan\",\"attempt\":1}");
	ctl_put("/flintsched/vms/node-e/keep",
		"{\"state\":\"running\",\"uid\":\"uid-keep\",\"attempt\":1}");
	ctl_assign("/flintsched/assign/node-e/keep",
		"{\"request\":{\"vcpu\":1,\"memoryInMb\":1024},\"attempt\":1}");
	ctl_assign("/flintsched/assign/node-e/new",
		"{\"request\":{\"vcpu\":1,\"memoryInMb\":1024},\"attempt\":1}");

	pid = agent_spawn("exec.log", "agent.host=node-e",
			  "executor.type=exec", okcmd, COMMON_SETS, NULL);
	assert_true(wait_key("/flintsched/vms/node-e/new",
			     "\"uid\":\"uid-new\"", false, 10));
	assert_true(wait_key("/flintsched/vms/node-e/orphan", NULL, true, 10));
	assert_true(file_has(vmlog, "delete orphan node-e uid-orphan"));
	assert_true(file_has(vmlog, "create new node-e  {\"vcpu\":1,"
				    "\"memoryInMb\":1024}"));
	assert_false(file_has(vmlog, "create keep"));

	/* A failing create is reported with the command's message. */
	ctl_assign("/flintsched/assign/node-e/fail-1",
		"{\"request\":{\"vcpu\":1,\"memoryInMb\":1024},\"attempt\":1}");
	assert_true(wait_key("/flintsched/vms/node-e/fail-1",
			     "\"state\":\"failed\"", false, 10));
	ctl_get("/flintsched/vms/node-e/fail-1", val, sizeof(val));
	assert_non_null(strstr(val, "exited 3: no room at the inn"));

	/* Restart: nothing created twice. */
	agent_term(pid);
	pid = agent_spawn("exec2.log", "agent.host=node-e",
			  "executor.type=exec", okcmd, COMMON_SETS, NULL);
	assert_true(wait_key("/flintsched/hosts/node-e", NULL, false, 10));
	ctl_del("/flintsched/assign/node-e/new");
	assert_true(wait_key("/flintsched/vms/node-e/new", NULL, true, 10));
	assert_true(wait_file(vmlog, "delete new node-e uid-new", 5));
	agent_term(pid);
	{
		/* one create of "new" in the whole log */
		char buf[16384], *p;
		int n = 0;

		f = fopen(vmlog, "r");
		assert_non_null(f);
		buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
		fclose(f);
		for (p = buf; (p = strstr(p, "create new ")); p++)
			n++;
		assert_int_equal(n, 1);
	}
	ctl_del("/flintsched/assign/node-e/keep");
	ctl_del("/flintsched/assign/node-e/fail-1");
}

/* test/tools/fake_flintlockd.py serving gRPC in plaintext (--insecure)
 * with the token; its gRPC endpoint into ep and control port into
 * *ret_control.  Killed by teardown when a test fails midway. */
static pid_t fake_flintlockd(const char *token, char *ep, size_t eplen,
			     unsigned *ret_control)
{
	char line[128], http[16];
	unsigned grpc = 0;
	int fds[2];
	FILE *in;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/usr/bin/python3", "/usr/bin/python3",
		      "test/tools/fake_flintlockd.py", "--insecure",
		      "--basic-auth-token", token, "--create-delay", "0.1",
		      (char *)NULL);
		_exit(127);
	}
	live_add(pid);
	close(fds[1]);
	in = fdopen(fds[0], "r");
	assert_non_null(in);
	assert_non_null(fgets(line, sizeof(line), in));
	fclose(in);
	assert_int_equal(sscanf(line, "ready grpc=%u http=%15s control=%u",
				&grpc, http, ret_control),
			 3);
	snprintf(ep, eplen, "127.0.0.1:%u", grpc);
	return pid;
}

/* How often the fake's /state holds the (compact JSON) fragment. */
static int fake_count(unsigned control, const char *fragment)
{
	static char buf[65536];
	char url[160], *p;
	int n = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/state", control);
	assert_int_equal(httptest_get(url, buf, sizeof(buf)), 200);
	for (p = buf; (p = strstr(p, fragment)); p++)
		n++;
	return n;
}

/* http.listen serves /healthz (200 once registered) and /metrics. */
static void test_http_endpoints(void **state)
{
	static char buf[65536];
	char listen[64], url[128];
	int port = httptest_free_port();
	long st = -1;
	pid_t pid;

	(void)state;
	assert_true(port > 0);
	snprintf(listen, sizeof(listen), "http.listen=127.0.0.1:%d", port);
	pid = agent_spawn("http.log", "agent.host=node-h",
			  "executor.type=simulate", listen, COMMON_SETS, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	for (double t0 = now_s(); now_s() - t0 < 10; nap())
		if ((st = httptest_get(url, buf, sizeof(buf))) == 200)
			break;
	assert_int_equal(st, 200);
	assert_non_null(strstr(buf, "ok: 1 of 1 host(s) registered"));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	assert_int_equal(httptest_get(url, buf, sizeof(buf)), 200);
	assert_non_null(strstr(buf, "flintsched_agent_hosts_registered 1\n"));
	assert_non_null(strstr(buf, "flintsched_agent_vms 0\n"));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/nope", port);
	assert_int_equal(httptest_get(url, buf, sizeof(buf)), 404);
	agent_term(pid);
}

static void test_flintlock_executor(void **state)
{
	char ep[64], set_ep[128], tok[512], set_tok[600], val[2048];
	unsigned control = 0;
	pid_t fake, pid;
	FILE *f;

	(void)state;
	snprintf(tok, sizeof(tok), "%s/fl.token", H->dir);
	f = fopen(tok, "w");
	assert_non_null(f);
	fputs("t0ken\n", f);
	fclose(f);
	fake = fake_flintlockd("t0ken", ep, sizeof(ep), &control);
	snprintf(set_ep, sizeof(set_ep), "executor.flintlock.endpoint=%s", ep);
	snprintf(set_tok, sizeof(set_tok), "executor.flintlock.token_file=%s",
		 tok);

	ctl_assign("/flintsched/assign/node-f/vm-a",
		"{\"request\":{\"vcpu\":1,\"memoryInMb\":1024,"
		FS_SPEC_EXAMPLE ",\"scheduling\":{\"selector\":{}}},"
		"\"attempt\":1}");
	ctl_assign("/flintsched/assign/node-f/vm-big",
		"{\"request\":{\"vcpu\":100,\"memoryInMb\":1024,"
		FS_SPEC_EXAMPLE "},\"attempt\":1}");
	pid = agent_spawn("fl.log", "agent.host=node-f",
			  "executor.type=flintlock",
			  "executor.flintlock.insecure=true", set_ep, set_tok,
			  COMMON_SETS, NULL);
	assert_true(wait_key("/flintsched/hosts/node-f", ep, false, 10));
	assert_true(wait_key("/flintsched/vms/node-f/vm-a",
			     "\"state\":\"running\"", false, 10));
	ctl_get("/flintsched/vms/node-f/vm-a", val, sizeof(val));
	assert_non_null(strstr(val, "\"uid\":\"0"));
	assert_true(wait_key("/flintsched/vms/node-f/vm-big",
			     "\"state\":\"failed\"", false, 10));
	ctl_get("/flintsched/vms/node-f/vm-big", val, sizeof(val));
	assert_non_null(strstr(val, "CreateMicroVM: UNKNOWN: creating microvm"));
	assert_non_null(strstr(val, "'VCPU' failed on the 'lte' tag"));
	assert_int_equal(fake_count(control, "\"method\":\"CreateMicroVM\","
					     "\"id\":\"vm-a\""),
			 1);

	/* Restart: vm-a is running, not created again; then unassigned. */
	agent_term(pid);
	pid = agent_spawn("fl2.log", "agent.host=node-f",
			  "executor.type=flintlock",
			  "executor.flintlock.insecure=true", set_ep, set_tok,
			  COMMON_SETS, NULL);
	assert_true(wait_key("/flintsched/hosts/node-f", NULL, false, 10));
	ctl_del("/flintsched/assign/node-f/vm-a");
	assert_true(wait_key("/flintsched/vms/node-f/vm-a", NULL, true, 10));
	assert_int_equal(fake_count(control, "\"method\":\"DeleteMicroVM\""),
			 1);
	assert_int_equal(fake_count(control, "\"method\":\"CreateMicroVM\","
					     "\"id\":\"vm-a\""),
			 1);
	agent_term(pid);
	ctl_del("/flintsched/assign/node-f/vm-big");
	live_del(fake);
	kill(fake, SIGTERM);
	waitpid(fake, NULL, 0);
}

static void test_simulate_many(void **state)
{
	char out[256];
	pid_t pid;

	(void)state;
	{
		const char *argv[16];
		char ep[128], log[512];
		size_t n = 0;

		snprintf(ep, sizeof(ep), "etcd.endpoints=[%s]", H->endpoint);
		snprintf(log, sizeof(log), "%s/many2.log", H->dir);
		argv[n++] = agent_bin;
		argv[n++] = "--simulate";
		argv[n++] = "20";
		argv[n++] = "--set";
		argv[n++] = ep;
		argv[n++] = "--set";
		argv[n++] = "agent.host=sim";
		argv[n++] = "--set";
		argv[n++] = "agent.lease_ttl_s=5";
		argv[n] = NULL;
		pid = fork();
		if (pid == 0) {
			int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

			dup2(fd, 2);
			execv(agent_bin, (char *const *)argv);
			_exit(127);
		}
		live_add(pid);
	}
	assert_true(wait_key("/flintsched/hosts/sim-0", NULL, false, 10));
	assert_true(wait_key("/flintsched/hosts/sim-19", NULL, false, 10));
	ctl_put("/flintsched/rounds/m1",
		"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":256},"
		"\"hosts\":[\"sim-3\",\"sim-17\"]}");
	assert_true(wait_key("/flintsched/bids/sim-3/m1", NULL, false, 10));
	assert_true(wait_key("/flintsched/bids/sim-17/m1", NULL, false, 10));
	ctl_get("/flintsched/bids/sim-4/m1", out, sizeof(out));
	assert_string_equal(out, "");
	ctl_assign("/flintsched/assign/sim-7/vm-a",
		"{\"request\":{\"vcpu\":1,\"memoryInMb\":1024},\"attempt\":1}");
	assert_true(wait_key("/flintsched/vms/sim-7/vm-a",
			     "\"state\":\"running\"", false, 10));
	/* the leases run out with their TTL (5 s), not revoked */
	agent_term(pid);
	ctl_get("/flintsched/hosts/sim-19", out, sizeof(out));
	assert_string_not_equal(out, "");
	assert_true(wait_key("/flintsched/hosts/sim-19", NULL, true, 20));
	ctl_del("/flintsched/rounds/m1");
	ctl_del("/flintsched/assign/sim-7/vm-a");
}

static void test_reregister_after_outage(void **state)
{
	char log[512];
	long long lease1, lease2;
	pid_t pid;

	(void)state;
	snprintf(log, sizeof(log), "%s/outage.log", H->dir);
	pid = agent_spawn("outage.log", "agent.host=node-o",
			  "executor.type=simulate", COMMON_SETS, NULL);
	assert_true(wait_key("/flintsched/hosts/node-o", NULL, false, 10));
	ctl_put("/flintsched/rounds/o1",
		"{\"attempt\":1,\"need\":{\"vcpu\":1,\"memory_mb\":256}}");
	assert_true(wait_key("/flintsched/bids/node-o/o1", NULL, false, 10));
	lease1 = ctl_lease("/flintsched/hosts/node-o");
	assert_true(lease1 != 0);

	assert_int_equal(etcd_harness_kill(H), 0);
	/* The agent gives the lease up after a whole TTL without refresh. */
	assert_true(wait_file(log, "expired", 15));
	assert_int_equal(etcd_harness_restart(H), 0);
	{
		double end = now_s() + 20;

		do {
			lease2 = ctl_lease("/flintsched/hosts/node-o");
			if (lease2 && lease2 != lease1)
				break;
			nap();
		} while (now_s() < end);
	}
	assert_true(lease2 != 0 && lease2 != lease1);
	/* Bids re-published under the new lease. */
	{
		double end = now_s() + 10;

		while (ctl_lease("/flintsched/bids/node-o/o1") != lease2 &&
		       now_s() < end)
			nap();
	}
	assert_true(ctl_lease("/flintsched/bids/node-o/o1") == lease2);
	agent_term(pid);
	ctl_del("/flintsched/rounds/o1");
}

/* Item 3 of issue 13: the request was rewritten while the agent was down
 * and placed on the same host at attempt 1 again; its VM state record is
 * of the old request revision.  The old VM (and a stale "failed" record
 * of the old revision) is replaced: deleted, then created anew. */
static void test_rewritten_same_host(void **state)
{
	char okcmd[1200], vmlog[512];
	pid_t pid;

	(void)state;
	exec_script("vm3", okcmd, sizeof(okcmd), vmlog, sizeof(vmlog));
	ctl_put("/flintsched/vms/node-r/web",
		"{\"state\":\"running\",\"uid\":\"uid-web\",\"attempt\":1,"
		"\"request_rev\":5}");
	ctl_put("/flintsched/vms/node-r/stale",
		"{\"state\":\"failed\",\"attempt\":1,\"request_rev\":5}");
	ctl_put("/flintsched/vms/node-r/same",
		"{\"state\":\"running\",\"uid\":\"uid-same\",\"attempt\":1,"
		"\"request_rev\":9}");
	ctl_assign("/flintsched/assign/node-r/web",
		"{\"request\":{\"vcpu\":2,\"memoryInMb\":1024},"
		"\"request_rev\":9,\"attempt\":1}");
	ctl_assign("/flintsched/assign/node-r/stale",
		"{\"request\":{\"vcpu\":1,\"memoryInMb\":1024},"
		"\"request_rev\":9,\"attempt\":1}");
	ctl_assign("/flintsched/assign/node-r/same",
		"{\"request\":{\"vcpu\":1,\"memoryInMb\":1024},"
		"\"request_rev\":9,\"attempt\":1}");
	pid = agent_spawn("rewr.log", "agent.host=node-r",
			  "executor.type=exec", okcmd, COMMON_SETS, NULL);
	assert_true(wait_key("/flintsched/vms/node-r/web",
			     "\"request_rev\":9", false, 10));
	assert_true(wait_key("/flintsched/vms/node-r/stale",
			     "\"state\":\"running\"", false, 10));
	assert_true(file_has(vmlog, "delete web node-r uid-web"));
	assert_true(file_has(vmlog, "create web node-r  {\"vcpu\":2,"));
	assert_false(file_has(vmlog, "create same"));
	agent_term(pid);
	ctl_del("/flintsched/assign/node-r/web");
	ctl_del("/flintsched/assign/node-r/stale");
	ctl_del("/flintsched/assign/node-r/same");
}

/* Item 6 of issue 13, the agent's side: a hand-written P/assign/<host>/
 * <id> (no coordinator placed it) made the agent create a VM.  The agent
 * creates only what the coordinator's status confirms (P/status/<id>
 * naming this host, the assignment's request revision and attempt, as
 * the commit writes them in one txn): a forged assignment, and one
 * copied from another host, create nothing, log once, and say why in
 * their VM state record; a real placement creates its VM. */
static void test_unconfirmed_assignment_refused(void **state)
{
	char log[512], val[1024];
	pid_t pid;

	(void)state;
	snprintf(log, sizeof(log), "%s/unconf.log", H->dir);
	pid = agent_spawn("unconf.log", "agent.host=node-u",
			  "executor.type=simulate", COMMON_SETS, NULL);
	assert_true(wait_key("/flintsched/hosts/node-u", NULL, false, 10));
	/* forged: no status at all */
	ctl_put("/flintsched/assign/node-u/forged",
		"{\"request\":{\"vcpu\":1,\"memoryInMb\":256},"
		"\"request_rev\":7,\"attempt\":1}");
	/* copied: the status names another host */
	ctl_put("/flintsched/status/copied",
		"{\"phase\":\"running\",\"host\":\"node-z\",\"attempt\":1,"
		"\"request_rev\":8}");
	ctl_put("/flintsched/assign/node-u/copied",
		"{\"request\":{\"vcpu\":1,\"memoryInMb\":256},"
		"\"request_rev\":8,\"attempt\":1}");
	/* placed: status and assignment agree */
	ctl_assign("/flintsched/assign/node-u/real",
		   "{\"request\":{\"vcpu\":1,\"memoryInMb\":256},"
		   "\"request_rev\":9,\"attempt\":1}");
	assert_true(wait_key("/flintsched/vms/node-u/real",
			     "\"state\":\"running\"", false, 10));
	assert_true(wait_key("/flintsched/vms/node-u/forged",
			     "\"state\":\"refused\"", false, 10));
	assert_true(wait_key("/flintsched/vms/node-u/copied",
			     "\"state\":\"refused\"", false, 10));
	ctl_get("/flintsched/vms/node-u/forged", val, sizeof(val));
	assert_non_null(strstr(val, "no status"));
	ctl_get("/flintsched/vms/node-u/copied", val, sizeof(val));
	assert_non_null(strstr(val, "node-z"));
	assert_true(wait_file(log, "creating VM real", 5));
	assert_false(file_has(log, "creating VM forged"));
	assert_false(file_has(log, "creating VM copied"));
	assert_true(file_has(log, "assignment /flintsched/assign/node-u/forged "
				  "refused"));
	/* the VMs count: only the real one */
	assert_true(wait_key("/flintsched/hosts/node-u", "\"vms\":1", false,
			     10));
	/* a placement of the copied one here later: created, nothing
	 * deleted first (the refused record is of no VM) */
	ctl_assign("/flintsched/assign/node-u/copied",
		   "{\"request\":{\"vcpu\":1,\"memoryInMb\":256},"
		   "\"request_rev\":11,\"attempt\":1}");
	assert_true(wait_key("/flintsched/vms/node-u/copied",
			     "\"state\":\"running\"", false, 10));
	assert_false(file_has(log, "deleting VM copied"));
	assert_false(file_has(log, "VM copied is of request revision"));
	/* gone with their assignments */
	ctl_del("/flintsched/assign/node-u/forged");
	ctl_del("/flintsched/assign/node-u/copied");
	assert_true(wait_key("/flintsched/vms/node-u/forged", NULL, true, 10));
	assert_true(wait_key("/flintsched/vms/node-u/copied", NULL, true, 10));
	agent_term(pid);
	ctl_del("/flintsched/assign/node-u/real");
	ctl_del("/flintsched/status/copied");
	ctl_del("/flintsched/status/real");
}

static int setup(void **state)
{
	(void)state;
	if (realpath(AGENT_BIN, agent_bin) == NULL) {
		const char *b = getenv("B");

		snprintf(agent_bin, sizeof(agent_bin), "%s/flintsched-agent",
			 b ? b : "build");
	}
	if (getenv("B")) {
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s/flintsched-agent", getenv("B"));
		if (access(tmp, X_OK) == 0 && !realpath(tmp, agent_bin))
			return -1;
	}
	H = etcd_harness_start(NULL);
	return H ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < 16; i++) {
		if (live[i]) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
			live[i] = 0;
		}
	}
	H = etcd_harness_stop(H);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_bid_simulate),
		cmocka_unit_test(test_kill9_expiry),
		cmocka_unit_test(test_exec_executor),
		cmocka_unit_test(test_flintlock_executor),
		cmocka_unit_test(test_http_endpoints),
		cmocka_unit_test(test_simulate_many),
		cmocka_unit_test(test_reregister_after_outage),
		cmocka_unit_test(test_rewritten_same_host),
		cmocka_unit_test(test_unconfirmed_assignment_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
