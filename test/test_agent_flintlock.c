/*
 * The flintlock executor against fake_flintlockd (test/tools/): each test
 * starts its own fake on a free loopback port, drives the executor on an
 * ev loop until the callback (bounded), and checks the answer and the
 * fake's call log (GET /_calls).
 *
 * The fake is found next to this binary (tools/fake_flintlockd), else in
 * build/test/tools/, else at $FAKE_FLINTLOCKD.
 */
#include <errno.h>
#include <libgen.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <ev.h>
#include <jansson.h>

#include "agent/executor_int.h"
#include "test/lib/evtest.h"

struct fake {
	pid_t pid;
	unsigned port;
	char endpoint[64];
};

struct result {
	bool done;
	int calls;
	char err[1024];
	char uid[128];
	bool has_err;
};

static char fake_bin[4096];
static char tmpdir[256];

static void find_fake(void)
{
	char exe[4096];
	ssize_t n;

	if (getenv("FAKE_FLINTLOCKD")) {
		snprintf(fake_bin, sizeof(fake_bin), "%s",
			 getenv("FAKE_FLINTLOCKD"));
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(fake_bin, sizeof(fake_bin),
			 "%s/tools/fake_flintlockd", dirname(exe));
		if (access(fake_bin, X_OK) == 0)
			return;
	}
	snprintf(fake_bin, sizeof(fake_bin),
		 "build/test/tools/fake_flintlockd");
}

/* Starts the fake with NULL-terminated extra arguments. */
static void fake_start(struct fake *f, ...)
{
	const char *argv[24];
	int fds[2], i = 0;
	char line[64];
	FILE *in;
	va_list ap;

	argv[i++] = fake_bin;
	argv[i++] = "--port";
	argv[i++] = "0";
	va_start(ap, f);
	while (i < 23 && (argv[i] = va_arg(ap, const char *)) != NULL)
		i++;
	va_end(ap);
	argv[i] = NULL;
	assert_int_equal(pipe(fds), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(fake_bin, (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", fake_bin,
			strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	assert_non_null(in);
	/* Blocks until the fake listens (or dies: EOF). */
	assert_non_null(fgets(line, sizeof(line), in));
	fclose(in);
	assert_int_equal(sscanf(line, "port %u", &f->port), 1);
	assert_true(f->port > 0);
	snprintf(f->endpoint, sizeof(f->endpoint), "http://127.0.0.1:%u",
		 f->port);
}

static void fake_stop(struct fake *f)
{
	int st;

	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	waitpid(f->pid, &st, 0);
	f->pid = 0;
}

struct buf {
	char *p;
	size_t n;
};

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;
	char *p = realloc(b->p, b->n + len + 1);

	if (!p)
		return 0;
	memcpy(p + b->n, data, len);
	b->p = p;
	b->n += len;
	p[b->n] = '\0';
	return len;
}

/* The fake's call log, a new reference. */
static json_t *fake_calls(const struct fake *f)
{
	char url[128];
	struct buf b = {0};
	json_t *calls;
	CURL *e = curl_easy_init();

	assert_non_null(e);
	snprintf(url, sizeof(url), "%s/_calls", f->endpoint);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_cleanup(e);
	assert_non_null(b.p);
	calls = json_loads(b.p, 0, NULL);
	free(b.p);
	assert_true(json_is_array(calls));
	return calls;
}

/* Calls of method (and id / status when given). */
static int count_calls(const struct fake *f, const char *method,
		       const char *id, int status)
{
	json_t *calls = fake_calls(f), *c;
	size_t i;
	int n = 0;

	json_array_foreach(calls, i, c) {
		const char *m =
			json_string_value(json_object_get(c, "method"));
		const char *cid = json_string_value(json_object_get(c, "id"));

		if (strcmp(m, method))
			continue;
		if (id && (!cid || strcmp(cid, id)))
			continue;
		if (status >= 0 &&
		    json_integer_value(json_object_get(c, "status")) != status)
			continue;
		n++;
	}
	json_decref(calls);
	return n;
}

static void on_done(void *arg, const char *err, const char *uid)
{
	struct result *r = arg;

	r->calls++;
	r->done = true;
	r->has_err = err != NULL;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	snprintf(r->uid, sizeof(r->uid), "%s", uid ? uid : "");
}

struct ctx {
	struct ev_loop *loop;
	struct agent_config cfg;
	agent_executor *x;
	struct fake fake;
};

static agent_executor *executor(struct ctx *c, const char *token_file)
{
	char err[512] = "";

	c->cfg.executor = AGENT_EXEC_FLINTLOCK;
	c->cfg.fl_endpoint = c->fake.endpoint;
	c->cfg.fl_namespace = "default";
	c->cfg.fl_token_file = (char *)(token_file ? token_file : "");
	c->cfg.fl_timeout_ms = 2000;
	c->cfg.fl_create_timeout_s = 10;
	c->cfg.fl_retries = 3;
	assert_int_equal(agent_executor_new(c->loop, &c->cfg,
					    AGENT_EXEC_FLINTLOCK, &c->x, err,
					    sizeof(err)),
			 0);
	/* Fast polls and backoff: the fake answers at once. */
	c->x->poll_min = 0.01;
	c->x->poll_max = 0.05;
	return c->x;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->loop = ev_default_loop(0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	c->x = agent_executor_free(c->x);
	fake_stop(&c->fake);
	free(c);
	return 0;
}

#define SPEC "{\"vcpu\":2,\"memoryInMb\":2048}"

static void create(struct ctx *c, const char *id, const char *spec,
		   const char *uid, struct result *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(agent_executor_create(c->x, "node-1", id, spec,
					       strlen(spec), uid, on_done, r),
			 0);
	assert_false(r->done); /* never from inside the call */
	assert_true(evtest_run_until(c->loop, &r->done, 20.0));
	assert_int_equal(r->calls, 1);
	assert_int_equal(agent_executor_active(c->x), 0);
}

static void delete(struct ctx *c, const char *id, const char *uid,
		   struct result *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(agent_executor_delete(c->x, "node-1", id, "", 0, uid,
					       on_done, r),
			 0);
	assert_false(r->done);
	assert_true(evtest_run_until(c->loop, &r->done, 20.0));
	assert_int_equal(r->calls, 1);
}

static void test_create_running(void **state)
{
	struct ctx *c = *state;
	struct result r;
	json_t *calls, *post;

	fake_start(&c->fake, "--pending-gets", "2", NULL);
	executor(c, NULL);
	create(c, "web-1", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_string_equal(r.uid, "01FAKE00000000000000000001");
	/* list first, one POST carrying the id, polls until CREATED */
	calls = fake_calls(&c->fake);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(calls, 0), "method")),
			    "GET");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(calls, 0), "name")),
			    "web-1");
	post = json_array_get(calls, 1);
	assert_string_equal(
		json_string_value(json_object_get(post, "method")), "POST");
	assert_string_equal(json_string_value(json_object_get(post, "id")),
			    "web-1");
	json_decref(calls);
	assert_int_equal(count_calls(&c->fake, "POST", NULL, -1), 1);
	assert_true(count_calls(&c->fake, "GET", NULL, 200) >= 3);
}

static void test_create_failed(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(&c->fake, "--fail-create", "1", NULL);
	executor(c, NULL);
	create(c, "db-1", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "VM db-1"));
	assert_non_null(strstr(r.err, c->fake.endpoint));
	assert_non_null(strstr(r.err, "FAILED"));
	/* the uid is kept, so the VM can be deleted */
	assert_string_equal(r.uid, "01FAKE00000000000000000001");
}

static void test_create_invalid(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(&c->fake, NULL);
	executor(c, NULL);
	create(c, "big-1", "{\"vcpu\":100,\"memoryInMb\":2048}", NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "VM big-1: POST "));
	assert_non_null(strstr(r.err, "HTTP 400: invalid microvm spec: vcpu"));
	assert_int_equal(count_calls(&c->fake, "POST", NULL, -1), 1);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_auth(void **state)
{
	struct ctx *c = *state;
	struct result r;
	char good[300], bad[300];

	snprintf(good, sizeof(good), "%s/token", tmpdir);
	snprintf(bad, sizeof(bad), "%s/wrong", tmpdir);
	write_file(good, "s3cr3t-token\n");
	write_file(bad, "guess\n");
	fake_start(&c->fake, "--token", "s3cr3t-token", NULL);

	executor(c, bad);
	create(c, "web-2", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "VM web-2"));
	assert_non_null(strstr(r.err, "HTTP 401: invalid basic auth token"));
	assert_int_equal(count_calls(&c->fake, "POST", NULL, -1), 0);
	c->x = agent_executor_free(c->x);

	executor(c, NULL);
	create(c, "web-2", SPEC, NULL, &r);
	assert_non_null(strstr(r.err, "HTTP 401: missing basic auth token"));
	c->x = agent_executor_free(c->x);

	executor(c, good);
	create(c, "web-2", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_true(r.uid[0]);
}

static void test_retry_503(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(&c->fake, "--fail-http", "3", NULL);
	executor(c, NULL);
	create(c, "web-3", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(count_calls(&c->fake, "GET", NULL, 503), 3);
	assert_int_equal(count_calls(&c->fake, "POST", NULL, -1), 1);

	/* more failures than retries: failed, saying what flintlockd said */
	fake_stop(&c->fake);
	c->x = agent_executor_free(c->x);
	fake_start(&c->fake, "--fail-http", "10", NULL);
	executor(c, NULL);
	create(c, "web-4", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "HTTP 503: fake: service unavailable"));
	assert_non_null(strstr(r.err, "gave up after 4 tries"));
	assert_int_equal(count_calls(&c->fake, "GET", NULL, 503), 4);
}

static void test_adopt_existing(void **state)
{
	struct ctx *c = *state;
	struct result r;
	char uid[128];

	fake_start(&c->fake, NULL);
	executor(c, NULL);
	create(c, "web-5", SPEC, NULL, &r);
	assert_false(r.has_err);
	snprintf(uid, sizeof(uid), "%s", r.uid);
	/* the agent restarted and lost the uid: adopt, do not re-create */
	create(c, "web-5", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_string_equal(r.uid, uid);
	/* the uid is known: no list needed either */
	create(c, "web-5", SPEC, uid, &r);
	assert_false(r.has_err);
	assert_string_equal(r.uid, uid);
	assert_int_equal(count_calls(&c->fake, "POST", "web-5", -1), 1);
}

static void test_post_outcome_unknown(void **state)
{
	struct ctx *c = *state;
	struct result r;

	/* the fake creates the VM but hangs up before answering */
	fake_start(&c->fake, "--drop-post", "1", NULL);
	executor(c, NULL);
	create(c, "web-6", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_string_equal(r.uid, "01FAKE00000000000000000001");
	assert_int_equal(count_calls(&c->fake, "POST", "web-6", -1), 1);
	assert_int_equal(count_calls(&c->fake, "GET", NULL, -1) >= 3, 1);
}

/* A 503 to the POST is not re-posted blindly: list first, then POST. */
static void test_post_503_lists_first(void **state)
{
	struct ctx *c = *state;
	struct result r;
	json_t *calls;
	const char *want[] = {"GET", "POST", "GET", "POST"};

	fake_start(&c->fake, "--fail-post", "1", NULL);
	executor(c, NULL);
	create(c, "web-12", SPEC, NULL, &r);
	assert_false(r.has_err);
	calls = fake_calls(&c->fake);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(json_string_value(json_object_get(
					    json_array_get(calls, i), "method")),
				    want[i]);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(calls, 1), "status")),
			 503);
	json_decref(calls);
	assert_int_equal(count_calls(&c->fake, "POST", "web-12", 200), 1);
}

/* A POST that times out after flintlockd acted: adopted by name. */
static void test_post_timeout_adopts(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(&c->fake, "--slow-post-ms", "400", NULL);
	executor(c, NULL);
	c->x->timeout_ms = 200;
	create(c, "web-13", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_string_equal(r.uid, "01FAKE00000000000000000001");
	assert_int_equal(count_calls(&c->fake, "POST", "web-13", -1), 1);
}

static void test_delete(void **state)
{
	struct ctx *c = *state;
	struct result r;
	char uid[128], path[160];
	json_t *calls, *last;

	fake_start(&c->fake, NULL);
	executor(c, NULL);
	create(c, "web-7", SPEC, NULL, &r);
	assert_false(r.has_err);
	snprintf(uid, sizeof(uid), "%s", r.uid);

	delete(c, "web-7", uid, &r);
	assert_false(r.has_err);
	calls = fake_calls(&c->fake);
	last = json_array_get(calls, json_array_size(calls) - 1);
	snprintf(path, sizeof(path), "/v1alpha1/microvm/%s", uid);
	assert_string_equal(json_string_value(json_object_get(last, "method")),
			    "DELETE");
	assert_string_equal(json_string_value(json_object_get(last, "path")),
			    path);
	assert_int_equal(json_integer_value(json_object_get(last, "status")),
			 200);
	json_decref(calls);

	/* again: 404 means already gone */
	delete(c, "web-7", uid, &r);
	assert_false(r.has_err);
	assert_int_equal(count_calls(&c->fake, "DELETE", NULL, 404), 1);

	/* uid unknown: found by name */
	create(c, "web-8", SPEC, NULL, &r);
	assert_false(r.has_err);
	delete(c, "web-8", NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(count_calls(&c->fake, "DELETE", NULL, 200), 2);
	/* nothing of that name: done without a DELETE */
	delete(c, "web-9", NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(count_calls(&c->fake, "DELETE", NULL, -1), 3);
}

static void test_unreachable(void **state)
{
	struct ctx *c = *state;
	struct result r;
	unsigned port;

	/* a port that was just free: connection refused */
	fake_start(&c->fake, NULL);
	port = c->fake.port;
	fake_stop(&c->fake);
	executor(c, NULL);
	create(c, "web-10", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "VM web-10: GET http://127.0.0.1:"));
	assert_non_null(strstr(r.err, "gave up after 4 tries"));
	(void)port;
}

static void test_create_timeout(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(&c->fake, "--pending-gets", "1000000", NULL);
	c->cfg.fl_create_timeout_s = 1;
	c->cfg.executor = AGENT_EXEC_FLINTLOCK;
	c->cfg.fl_endpoint = c->fake.endpoint;
	c->cfg.fl_namespace = "default";
	c->cfg.fl_token_file = (char *)"";
	c->cfg.fl_timeout_ms = 2000;
	c->cfg.fl_retries = 3;
	{
		char err[256];

		assert_int_equal(agent_executor_new(c->loop, &c->cfg,
						    AGENT_EXEC_FLINTLOCK,
						    &c->x, err, sizeof(err)),
				 0);
	}
	c->x->poll_min = 0.01;
	c->x->poll_max = 0.05;
	create(c, "slow-1", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "VM slow-1"));
	assert_non_null(strstr(r.err, "not CREATED within create_timeout_s"));
	assert_true(r.uid[0]);
}

static void test_config_errors(void **state)
{
	struct ctx *c = *state;
	struct agent_config cfg = {0};
	char err[512] = "";
	agent_executor *x = NULL;

	cfg.fl_endpoint = (char *)"127.0.0.1:8090";
	cfg.fl_namespace = (char *)"default";
	cfg.fl_token_file = (char *)"";
	assert_int_equal(agent_executor_new(c->loop, &cfg,
					    AGENT_EXEC_FLINTLOCK, &x, err,
					    sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "executor.flintlock.endpoint"));
	cfg.fl_endpoint = (char *)"http://127.0.0.1:1";
	cfg.fl_token_file = (char *)"/nonexistent/token";
	assert_int_equal(agent_executor_new(c->loop, &cfg,
					    AGENT_EXEC_FLINTLOCK, &x, err,
					    sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "/nonexistent/token"));
	assert_null(x);
}

/* Freeing the executor with calls in flight drops them quietly. */
static void test_free_in_flight(void **state)
{
	struct ctx *c = *state;
	struct result r = {0};

	fake_start(&c->fake, "--pending-gets", "1000000", NULL);
	executor(c, NULL);
	assert_int_equal(agent_executor_create(c->x, "node-1", "web-11", SPEC,
					       strlen(SPEC), NULL, on_done,
					       &r),
			 0);
	evtest_run_for(c->loop, 0.2);
	assert_int_equal(agent_executor_active(c->x), 1);
	c->x = agent_executor_free(c->x);
	assert_false(r.done);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/fl-test-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	find_fake();
	if (access(fake_bin, X_OK) != 0) {
		fprintf(stderr, "%s: not built (make build/test/tools/"
				"fake_flintlockd)\n",
			fake_bin);
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int group_teardown(void **state)
{
	char path[300];

	(void)state;
	snprintf(path, sizeof(path), "%s/token", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/wrong", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	ev_loop_destroy(ev_default_loop(0));
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_running, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_failed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_invalid, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_503, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_adopt_existing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_post_outcome_unknown,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_503_lists_first,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_timeout_adopts,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_free_in_flight, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
