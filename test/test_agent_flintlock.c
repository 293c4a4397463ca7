/*
 * The flintlock executor against test/tools/fake_flintlockd.py, a fake
 * that behaves as upstream's flintlockd does, for each transport: grpc
 * over TLS with mTLS and a token (the production setup), and http through
 * the gateway of an --insecure fake.  Each test starts its own fake as a
 * child (waiting for its "ready" line), drives the executor on an ev loop
 * until the callback (bounded), and checks the answer and the fake's
 * /state (its VMs and the log of every call it answered).
 *
 * Certificates are made once by test/tools/mkcerts.sh.  Run from the
 * repository root (make test does); $FAKE_FLINTLOCKD overrides the fake.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <ev.h>
#include <jansson.h>

#include "agent/executor_int.h"
#include "common/spec.h"
#include "test/lib/evtest.h"
#include "test/lib/child.h"

enum tp { TP_GRPC, TP_HTTP };

struct fake {
	pid_t pid;
	unsigned grpc, http, control;
};

struct result {
	bool done;
	int calls;
	char err[1024];
	char uid[128];
	bool has_err;
};

struct ctx {
	enum tp tp;
	struct ev_loop *loop;
	struct agent_config cfg;
	agent_executor *x;
	struct fake fake;
	char endpoint[64];
	const char *allowed[2];
};

static char tmpdir[256], certs[300], token[320], wrong[320];

static char *path_in(const char *dir, const char *name)
{
	static char buf[8][400];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

/* Starts the fake for transport tp with NULL-terminated extra arguments:
 * grpc: TLS, mTLS, token "s3cr3t"; http: --insecure with the gateway. */
static void fake_start(struct ctx *c, ...)
{
	const char *argv[48];
	const char *script = getenv("FAKE_FLINTLOCKD");
	int i = 0;
	char line[128], http[16];
	va_list ap;

	argv[i++] = "/usr/bin/python3";
	argv[i++] = script ? script : "test/tools/fake_flintlockd.py";
	argv[i++] = "--basic-auth-token";
	argv[i++] = "s3cr3t";
	argv[i++] = "--create-delay";
	argv[i++] = "0.1";
	argv[i++] = "--delete-delay";
	argv[i++] = "0.1";
	if (c->tp == TP_GRPC) {
		argv[i++] = "--tls-cert";
		argv[i++] = path_in(certs, "server.pem");
		argv[i++] = "--tls-key";
		argv[i++] = path_in(certs, "server.key");
		argv[i++] = "--tls-client-ca";
		argv[i++] = path_in(certs, "ca.pem");
		argv[i++] = "--tls-client-validate";
	} else {
		argv[i++] = "--insecure";
		argv[i++] = "--http-port";
		argv[i++] = "0";
	}
	va_start(ap, c);
	while (i < 47 && (argv[i] = va_arg(ap, const char *)) != NULL)
		i++;
	va_end(ap);
	argv[i] = NULL;
	/* Until every port listens (or the fake dies: EOF), bounded. */
	c->fake.pid = child_start(argv, path_in(tmpdir, "fake.log"), line,
				  sizeof(line), 60000);
	assert_true(c->fake.pid > 0);
	assert_int_equal(sscanf(line, "ready grpc=%u http=%15s control=%u",
				&c->fake.grpc, http, &c->fake.control),
			 3);
	c->fake.http = (unsigned)atoi(http);
	if (c->tp == TP_GRPC)
		snprintf(c->endpoint, sizeof(c->endpoint), "127.0.0.1:%u",
			 c->fake.grpc);
	else
		snprintf(c->endpoint, sizeof(c->endpoint),
			 "http://127.0.0.1:%u", c->fake.http);
}

/* SIGTERM, and SIGKILL if it is not gone within 10 s: a python grpc
 * server may hang at exit, and the test must not. */
static void fake_stop(struct fake *f)
{
	(void)child_stop(f->pid, 10);
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

/* GET or POST on the fake's control endpoint; the JSON answer, a new
 * reference. */
static json_t *control(const struct ctx *c, const char *method,
		       const char *path)
{
	char url[256];
	struct buf b = {0};
	json_t *j;
	CURL *e = curl_easy_init();

	assert_non_null(e);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", c->fake.control,
		 path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (!strcmp(method, "POST"))
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_cleanup(e);
	assert_non_null(b.p);
	j = json_loads(b.p, 0, NULL);
	free(b.p);
	assert_non_null(j);
	return j;
}

/* Calls in the fake's log of method (NULL: any) with id / uid (NULL:
 * any) and code (-2: any). */
static int calls(const struct ctx *c, const char *method, const char *id,
		 const char *uid, int code)
{
	json_t *st = control(c, "GET", "/state"), *one;
	size_t i;
	int n = 0;

	json_array_foreach(json_object_get(st, "calls"), i, one) {
		const char *m = json_string_value(json_object_get(one, "method"));
		const char *cid = json_string_value(json_object_get(one, "id"));
		const char *cu = json_string_value(json_object_get(one, "uid"));

		if ((method && strcmp(m, method)) ||
		    (id && strcmp(cid ? cid : "", id)) ||
		    (uid && strcmp(cu ? cu : "", uid)) ||
		    (code != -2 &&
		     json_integer_value(json_object_get(one, "code")) != code))
			continue;
		n++;
	}
	json_decref(st);
	return n;
}

/* VMs the fake holds of namespace ns and id (state NULL: any). */
static int vms(const struct ctx *c, const char *ns, const char *id,
	       const char *state)
{
	json_t *st = control(c, "GET", "/state"), *one;
	size_t i;
	int n = 0;

	json_array_foreach(json_object_get(st, "vms"), i, one) {
		if (strcmp(json_string_value(json_object_get(one, "namespace")),
			   ns) ||
		    strcmp(json_string_value(json_object_get(one, "id")), id))
			continue;
		if (state &&
		    strcmp(json_string_value(json_object_get(one, "state")),
			   state))
			continue;
		n++;
	}
	json_decref(st);
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

/* The executor for c->tp, configured as production would be. */
static int executor_try(struct ctx *c, char *err, size_t errlen)
{
	memset(&c->cfg, 0, sizeof(c->cfg));
	c->cfg.executor = AGENT_EXEC_FLINTLOCK;
	c->cfg.fl_transport = c->tp == TP_GRPC ? AGENT_FL_GRPC : AGENT_FL_HTTP;
	c->cfg.fl_endpoint = c->endpoint;
	c->cfg.fl_namespace = (char *)"default";
	c->cfg.fl_token_file = token;
	c->cfg.fl_tls_ca = c->tp == TP_GRPC ? path_in(certs, "ca.pem") : "";
	c->cfg.fl_tls_cert =
		c->tp == TP_GRPC ? path_in(certs, "client.pem") : "";
	c->cfg.fl_tls_key = c->tp == TP_GRPC ? path_in(certs, "client.key") : "";
	c->cfg.fl_tls_server_name = (char *)"";
	c->cfg.fl_timeout_ms = 10000; /* loaded CI machines */
	c->cfg.fl_create_timeout_s = 10;
	c->cfg.fl_retries = 2;
	return 0;
	(void)err;
	(void)errlen;
}

static agent_executor *executor_new(struct ctx *c)
{
	char err[512] = "";

	assert_int_equal(agent_executor_new(c->loop, &c->cfg,
					    AGENT_EXEC_FLINTLOCK, &c->x, err,
					    sizeof(err)),
			 0);
	/* Fast polls and backoff: the fake settles in 0.1 s. */
	c->x->poll_min = 0.02;
	c->x->poll_max = 0.1;
	return c->x;
}

static agent_executor *executor(struct ctx *c)
{
	executor_try(c, NULL, 0);
	return executor_new(c);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->tp = *state ? *(enum tp *)*state : TP_GRPC;
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

static void create(struct ctx *c, const char *id, const char *spec,
		   const char *uid, struct result *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(agent_executor_create(c->x, "node-1", id, spec,
					       strlen(spec), uid, on_done, r),
			 0);
	assert_false(r->done); /* never from inside the call */
	assert_true(evtest_run_until(c->loop, &r->done, 30.0));
	assert_int_equal(r->calls, 1);
	assert_int_equal(agent_executor_active(c->x), 0);
	if (r->has_err)
		print_message("create %s: %s\n", id, r->err);
}

static void delete(struct ctx *c, const char *id, const char *spec,
		   const char *uid, struct result *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(agent_executor_delete(c->x, "node-1", id, spec,
					       strlen(spec), uid, on_done, r),
			 0);
	assert_false(r->done);
	assert_true(evtest_run_until(c->loop, &r->done, 30.0));
	assert_int_equal(r->calls, 1);
	if (r->has_err)
		print_message("delete %s: %s\n", id, r->err);
}

/* Until the fake holds no VM of ns/id (bounded). */
static void wait_gone(struct ctx *c, const char *ns, const char *id)
{
	for (int i = 0; i < 100 && vms(c, ns, id, NULL) > 0; i++)
		evtest_run_for(c->loop, 0.05);
	assert_int_equal(vms(c, ns, id, NULL), 0);
}

#define SPEC "{\"vcpu\":1,\"memoryInMb\":1024," FS_SPEC_EXAMPLE "}"

/* create -> CREATED, adopt on a lost uid, delete, delete of a gone VM. */
static void test_lifecycle(void **state)
{
	struct ctx *c = *state;
	struct result r;
	char uid[128];

	fake_start(c, NULL);
	executor(c);
	create(c, "web-1", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_true(r.uid[0]);
	snprintf(uid, sizeof(uid), "%s", r.uid);
	assert_int_equal(vms(c, "default", "web-1", "created"), 1);
	assert_int_equal(calls(c, "CreateMicroVM", "web-1", NULL, 0), 1);
	/* polled by listing, never by uid */
	assert_true(calls(c, "ListMicroVMs", "web-1", NULL, 0) >= 2);
	assert_int_equal(calls(c, "GetMicroVM", NULL, NULL, -2), 0);

	/* the agent restarted without the uid: adopted, not re-created */
	create(c, "web-1", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_string_equal(r.uid, uid);
	/* the uid known: it decides */
	create(c, "web-1", SPEC, uid, &r);
	assert_false(r.has_err);
	assert_string_equal(r.uid, uid);
	assert_int_equal(calls(c, "CreateMicroVM", NULL, NULL, -2), 1);

	delete(c, "web-1", SPEC, uid, &r);
	assert_false(r.has_err);
	assert_int_equal(calls(c, "DeleteMicroVM", NULL, uid, 0), 1);
	wait_gone(c, "default", "web-1");
	/* gone: flintlockd says "not found", which is done */
	delete(c, "web-1", SPEC, uid, &r);
	assert_false(r.has_err);
	assert_int_equal(calls(c, "DeleteMicroVM", NULL, NULL, 2), 1);
	/* uid unknown and nothing of that name: no DeleteMicroVM */
	delete(c, "web-1", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(calls(c, "DeleteMicroVM", NULL, NULL, -2), 2);
	/* a uid of an earlier attempt whose VM is gone: created anew */
	create(c, "web-1", SPEC, uid, &r);
	assert_false(r.has_err);
	assert_string_not_equal(r.uid, uid);
	assert_int_equal(vms(c, "default", "web-1", "created"), 1);
	delete(c, "web-1", SPEC, r.uid, &r);
	assert_false(r.has_err);

	/* uid unknown, found by name */
	create(c, "web-2", SPEC, NULL, &r);
	assert_false(r.has_err);
	snprintf(uid, sizeof(uid), "%s", r.uid);
	delete(c, "web-2", "", NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(calls(c, "DeleteMicroVM", NULL, uid, 0), 1);
}

/* flintlockd's validation refuses the spec: permanent, one create. */
static void test_invalid_spec(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(c, NULL);
	executor(c);
	create(c, "big-1",
	       "{\"vcpu\":100,\"interfaces\":[{\"deviceId\":\"eth1\","
	       "\"type\":\"TAP\"}],\"rootVolume\":{\"id\":\"root\","
	       "\"source\":{\"containerSource\":\"ghcr.io/x/y:1\"}}}",
	       NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "VM big-1: "));
	assert_non_null(strstr(r.err, "CreateMicroVM: UNKNOWN: "));
	assert_non_null(strstr(r.err, "validate microvm spec"));
	assert_null(strstr(r.err, "gave up"));
	assert_int_equal(calls(c, "CreateMicroVM", NULL, NULL, -2), 1);
}

/* A wrong token, or none, is refused with a clear error, nothing made. */
static void test_token(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(c, NULL);
	executor_try(c, NULL, 0);
	c->cfg.fl_token_file = wrong;
	executor_new(c);
	create(c, "web-3", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "UNAUTHENTICATED: invalid auth token"));
	assert_non_null(strstr(r.err, "flintlockd refused the token: "
				      "executor.flintlock.token_file"));
	assert_null(strstr(r.err, "gave up"));
	c->x = agent_executor_free(c->x);

	executor_try(c, NULL, 0);
	c->cfg.fl_token_file = (char *)"";
	executor_new(c);
	create(c, "web-3", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "UNAUTHENTICATED"));
	assert_non_null(strstr(r.err, "flintlockd wants a token"));
	assert_int_equal(calls(c, "CreateMicroVM", NULL, NULL, -2), 0);
	assert_int_equal(vms(c, "default", "web-3", NULL), 0);
}

/* grpc: a server certificate from another CA is refused. */
static void test_wrong_ca(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(c, NULL);
	executor_try(c, NULL, 0);
	c->cfg.fl_tls_ca = path_in(certs, "other-ca.pem");
	executor_new(c);
	create(c, "web-4", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "VM web-4: grpc 127.0.0.1:"));
	assert_non_null(strstr(r.err, "certificate"));
	assert_non_null(strstr(r.err, "not signed by executor.flintlock.tls.ca"));
	json_t *st = control(c, "GET", "/state");

	assert_int_equal(json_array_size(json_object_get(st, "calls")), 0);
	json_decref(st);
}

/* grpc: mTLS without a client certificate: refused, with a hint, since
 * curl's own words for it are unclear. */
static void test_mtls_no_cert(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(c, NULL);
	executor_try(c, NULL, 0);
	c->cfg.fl_tls_cert = c->cfg.fl_tls_key = (char *)"";
	executor_new(c);
	create(c, "web-5", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "set executor.flintlock.tls.cert and "
				      ".tls.key"));
	assert_int_equal(calls(c, NULL, NULL, NULL, -2), 0);

	/* a client certificate of another CA: refused too */
	c->x = agent_executor_free(c->x);
	executor_try(c, NULL, 0);
	c->cfg.fl_tls_cert = path_in(certs, "other-client.pem");
	c->cfg.fl_tls_key = path_in(certs, "other-client.key");
	executor_new(c);
	create(c, "web-5", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "refused the client certificate"));
	assert_int_equal(calls(c, NULL, NULL, NULL, -2), 0);
}

/* The answer to a create is lost after flintlockd made the VM: listed,
 * adopted, never created twice. */
static void test_lost_answer(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(c, "--drop-create", "web-6", NULL);
	executor(c);
	create(c, "web-6", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(calls(c, "CreateMicroVM", "web-6", NULL, -1), 1);
	assert_int_equal(calls(c, "CreateMicroVM", NULL, NULL, -2), 1);
	assert_int_equal(vms(c, "default", "web-6", NULL), 1);
	assert_int_equal(vms(c, "default", "web-6", "created"), 1);
}

/* A FAILED create is the VM's failure, with what there is to say. */
static void test_failed(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(c, "--fail-id", "db-1", NULL);
	executor(c);
	create(c, "db-1", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "VM db-1: flintlockd reports the VM"));
	assert_non_null(strstr(r.err, "FAILED after 11 reconcile retries"));
	assert_non_null(strstr(r.err, "see flintlockd's log"));
	/* the uid is kept, so that the VM can be deleted */
	assert_true(r.uid[0]);
	/* a FAILED VM of the id is not adopted: a new create */
	json_decref(control(c, "POST", "/unfail?id=db-1"));
	create(c, "db-1", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(calls(c, "CreateMicroVM", "db-1", NULL, 0), 2);
	/* deleted without a uid: both VMs of the id, FAILED one too */
	delete(c, "db-1", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(calls(c, "DeleteMicroVM", NULL, NULL, 0), 2);
	assert_int_equal(vms(c, "default", "db-1", "failed") +
				 vms(c, "default", "db-1", "created"),
			 0);
}

/* A VM of the same id in another namespace is never touched; a request
 * naming a namespace not allowed is refused before any call. */
static void test_namespaces(void **state)
{
	struct ctx *c = *state;
	struct result r;
	json_t *seed;
	char victim[128];

	fake_start(c, NULL);
	seed = control(c, "POST", "/seed?namespace=victim&id=shared-vm");
	snprintf(victim, sizeof(victim), "%s",
		 json_string_value(json_object_get(seed, "uid")));
	json_decref(seed);
	executor(c);
	create(c, "shared-vm", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_string_not_equal(r.uid, victim);
	assert_int_equal(vms(c, "default", "shared-vm", "created"), 1);
	delete(c, "shared-vm", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(vms(c, "victim", "shared-vm", "created"), 1);
	assert_int_equal(calls(c, NULL, NULL, victim, -2), 0);

	/* "namespace": "victim" is not allowed: no call at all */
	json_decref(control(c, "POST", "/reset"));
	seed = control(c, "POST", "/seed?namespace=victim&id=shared-vm");
	json_decref(seed);
	create(c, "shared-vm",
	       "{\"namespace\":\"victim\",\"interfaces\":[{\"deviceId\":"
	       "\"eth1\",\"type\":\"TAP\"}],\"rootVolume\":{\"id\":\"r\","
	       "\"source\":{\"containerSource\":\"ghcr.io/x/y:1\"}}}",
	       NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "namespace \"victim\" is not allowed "
				      "on this host"));
	assert_non_null(strstr(r.err, "nothing was sent to flintlockd"));
	delete(c, "shared-vm", "{\"namespace\":\"victim\"}", NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(calls(c, NULL, NULL, NULL, -2), 0);
	assert_int_equal(vms(c, "victim", "shared-vm", "created"), 1);

	/* allowed: created there */
	c->x = agent_executor_free(c->x);
	executor_try(c, NULL, 0);
	c->allowed[0] = "team-a";
	c->cfg.fl_allowed_ns.v = (char **)c->allowed;
	c->cfg.fl_allowed_ns.n = 1;
	executor_new(c);
	create(c, "a-1", "{\"namespace\":\"team-a\",\"interfaces\":[{"
			 "\"deviceId\":\"eth1\",\"type\":\"TAP\"}],"
			 "\"rootVolume\":{\"id\":\"r\",\"source\":{"
			 "\"containerSource\":\"ghcr.io/x/y:1\"}}}",
	       NULL, &r);
	assert_false(r.has_err);
	assert_int_equal(vms(c, "team-a", "a-1", "created"), 1);
}

/* A VM of the same id still DELETING is waited out, not adopted. */
static void test_deleting_waited(void **state)
{
	struct ctx *c = *state;
	struct result r;
	char old[128];

	fake_start(c, NULL);
	executor(c);
	create(c, "web-7", SPEC, NULL, &r);
	assert_false(r.has_err);
	snprintf(old, sizeof(old), "%s", r.uid);
	json_decref(control(c, "POST", "/delays?delete=1.0"));
	delete(c, "web-7", SPEC, old, &r);
	assert_false(r.has_err);
	assert_int_equal(vms(c, "default", "web-7", "deleting"), 1);
	create(c, "web-7", SPEC, NULL, &r);
	assert_false(r.has_err);
	assert_string_not_equal(r.uid, old);
	assert_int_equal(vms(c, "default", "web-7", NULL), 1);
	assert_int_equal(vms(c, "default", "web-7", "created"), 1);
	assert_int_equal(calls(c, "CreateMicroVM", "web-7", NULL, 0), 2);
}

static void test_create_timeout(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(c, "--create-delay", "100", NULL);
	executor_try(c, NULL, 0);
	c->cfg.fl_create_timeout_s = 1;
	executor_new(c);
	create(c, "slow-1", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "VM slow-1: not CREATED within "
				      "create_timeout_s (1 s)"));
	assert_true(r.uid[0]);
}

/* Nothing listens: retried, then failed; a create never sent is not
 * "unknown". */
static void test_unreachable(void **state)
{
	struct ctx *c = *state;
	struct result r;

	fake_start(c, NULL);
	fake_stop(&c->fake);
	executor(c);
	create(c, "web-8", SPEC, NULL, &r);
	assert_true(r.has_err);
	assert_non_null(strstr(r.err, "VM web-8: "));
	assert_non_null(strstr(r.err, "ListMicroVMs"));
	assert_non_null(strstr(r.err, "gave up after 3 tries"));
}

static void test_config_errors(void **state)
{
	struct ctx *c = *state;
	char err[512] = "";

	snprintf(c->endpoint, sizeof(c->endpoint), "127.0.0.1:1");
	executor_try(c, NULL, 0);
	c->cfg.fl_transport = AGENT_FL_HTTP;
	assert_int_equal(agent_executor_new(c->loop, &c->cfg,
					    AGENT_EXEC_FLINTLOCK, &c->x, err,
					    sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "executor.flintlock.endpoint"));
	executor_try(c, NULL, 0);
	c->cfg.fl_token_file = (char *)"/nonexistent/token";
	assert_int_equal(agent_executor_new(c->loop, &c->cfg,
					    AGENT_EXEC_FLINTLOCK, &c->x, err,
					    sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "/nonexistent/token"));
	assert_null(c->x);
}

/* Freeing the executor with calls in flight drops them quietly. */
static void test_free_in_flight(void **state)
{
	struct ctx *c = *state;
	struct result r = {0};

	fake_start(c, "--create-delay", "100", NULL);
	executor(c);
	assert_int_equal(agent_executor_create(c->x, "node-1", "web-9", SPEC,
					       strlen(SPEC), NULL, on_done,
					       &r),
			 0);
	evtest_run_for(c->loop, 0.3);
	assert_int_equal(agent_executor_active(c->x), 1);
	c->x = agent_executor_free(c->x);
	assert_false(r.done);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int group_setup(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/fl-test-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(certs, sizeof(certs), "%s/certs", tmpdir);
	snprintf(cmd, sizeof(cmd), "test/tools/mkcerts.sh '%s'", certs);
	if (system(cmd) != 0)
		return -1;
	snprintf(token, sizeof(token), "%s/token", tmpdir);
	snprintf(wrong, sizeof(wrong), "%s/wrong", tmpdir);
	write_file(token, "s3cr3t\n");
	write_file(wrong, "guess\n");
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[300];

	(void)state;
	if (!getenv("KEEP_TMP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			return -1;
	}
	ev_loop_destroy(ev_default_loop(0));
	curl_global_cleanup();
	return 0;
}

static enum tp grpc = TP_GRPC, http = TP_HTTP;

#define BOTH(t)                                                                \
	{"grpc: " #t, t, setup, teardown, &grpc},                              \
	{                                                                      \
		"http: " #t, t, setup, teardown, &http                         \
	}
#define GRPC(t)                                                                \
	{                                                                      \
		"grpc: " #t, t, setup, teardown, &grpc                         \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_lifecycle),	   BOTH(test_invalid_spec),
		BOTH(test_token),	   GRPC(test_wrong_ca),
		GRPC(test_mtls_no_cert),   BOTH(test_lost_answer),
		BOTH(test_failed),	   BOTH(test_namespaces),
		BOTH(test_deleting_waited), BOTH(test_create_timeout),
		BOTH(test_unreachable),	   BOTH(test_config_errors),
		BOTH(test_free_in_flight),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
