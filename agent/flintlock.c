/*
 * flintlock executor: flintlockd's HTTP API (the JSON proxy of its
 * microvm v1alpha1 gRPC service, flintlockd --enable-http)
 * through evcurl on the agent's loop.
 *
 * create:  [uid known: GET uid]  LIST ?name=id  → adopt, or POST  → GET uid
 *          until CREATED / FAILED / create_timeout_s.
 * delete:  [uid unknown: LIST ?name=id]  DELETE uid (404 = gone).
 *
 * Creating one id twice makes two VMs, so a POST is only ever sent right
 * after a LIST found no VM of that id: a POST whose outcome is unknown
 * (timeout, reset, 5xx) is retried by listing again, never by re-posting.
 * Failed calls (connection errors, 5xx) are retried `retries` times with
 * exponential backoff from poll_min to poll_max; 4xx answers are final.
 */
/* Calls down into executor_op.c (xop_finish) only; executor.c reaches it
 * through executor_flintlock_ops (executor_int.h). */
#include "agent/executor_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/cfg.h"

enum fl_step { FL_LIST, FL_POST, FL_GET, FL_DELETE };

#define API "/v1alpha1/microvm"
#define BODY_MAX (4u << 20)

static void fl_next(struct xop *op, enum fl_step step);

static char *base64(const char *s)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), i, o = 0;
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc((n + 2) / 3 * 4 + 1);

	if (!out)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = tab[p[i] >> 2];
		out[o++] = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		out[o++] = tab[p[i + 2] & 63];
	}
	if (i < n) {
		out[o++] = tab[p[i] >> 2];
		if (i + 1 < n) {
			out[o++] = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			out[o++] = tab[(p[i + 1] & 15) << 2];
		} else {
			out[o++] = tab[(p[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

static int fl_init(agent_executor *x, const struct agent_config *cfg,
		   char *err, size_t errlen)
{
	struct cfg_error cerr;
	char *token = NULL, *b64 = NULL;
	const char *ep = cfg->fl_endpoint ? cfg->fl_endpoint : "";
	size_t n = strlen(ep);
	int r;

	if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
		snprintf(err, errlen,
			 "executor.flintlock.endpoint: want http://host:port "
			 "or https://host:port, got \"%s\"",
			 ep);
		return -EINVAL;
	}
	while (n && ep[n - 1] == '/')
		n--;
	x->endpoint = strndup(ep, n);
	x->ns = strdup(cfg->fl_namespace && *cfg->fl_namespace
			       ? cfg->fl_namespace
			       : "default");
	if (!x->endpoint || !x->ns)
		return -ENOMEM;
	x->timeout_ms = (long)cfg->fl_timeout_ms;
	x->create_timeout = (double)cfg->fl_create_timeout_s;
	x->retries = (int)cfg->fl_retries;
	x->poll_min = 0.5;
	x->poll_max = 5.0;
	if (cfg->fl_token_file && *cfg->fl_token_file) {
		r = cfg_read_secret("executor.flintlock.token_file",
				    cfg->fl_token_file, &token, &cerr);
		if (r < 0) {
			snprintf(err, errlen, "%s", cerr.message);
			return r == -ENOMEM ? r : -EINVAL;
		}
		b64 = base64(token);
		token = cfg_secret_free(token);
		if (!b64 || asprintf(&x->auth, "Authorization: Basic %s",
				     b64) < 0) {
			x->auth = NULL;
			if (b64)
				explicit_bzero(b64, strlen(b64));
			free(b64);
			return -ENOMEM;
		}
		explicit_bzero(b64, strlen(b64));
		free(b64);
	}
	return evcurl_new(x->loop, &x->curl);
}

static void fl_fini(agent_executor *x)
{
	x->curl = evcurl_free(x->curl);
	free(x->endpoint);
	if (x->auth)
		explicit_bzero(x->auth, strlen(x->auth));
	free(x->auth);
	free(x->ns);
	x->endpoint = x->auth = x->ns = NULL;
}

static void fl_abort(struct xop *op)
{
	if (op->easy)
		evcurl_remove(op->x->curl, op->easy);
}

/* ---- answers ---------------------------------------------------------- */

static const char *step_method(int step)
{
	return step == FL_POST ? "POST" : step == FL_DELETE ? "DELETE" : "GET";
}

/* "VM <id>: <METHOD> <endpoint><path>: <what>", and the op ends. */
static void fl_fail(struct xop *op, const char *fmt, const char *what)
{
	char msg[768], detail[512];
	const char *url = NULL;

	if (op->easy)
		curl_easy_getinfo(op->easy, CURLINFO_EFFECTIVE_URL, &url);
	snprintf(detail, sizeof(detail), fmt, what);
	snprintf(msg, sizeof(msg), "VM %s: %s %s: %s", op->id,
		 step_method(op->step), url ? url : op->x->endpoint, detail);
	xop_finish(op, msg, op->uid);
}

/* flintlockd's {"code", "message"}, or the start of the body. */
static void answer_message(const struct xop *op, char *buf, size_t len)
{
	json_t *root = op->body ? json_loadb(op->body, op->body_len, 0, NULL)
				: NULL;
	const char *m = json_string_value(json_object_get(root, "message"));

	if (m)
		snprintf(buf, len, "%s", m);
	else if (op->body_len)
		snprintf(buf, len, "%.200s", op->body);
	else
		snprintf(buf, len, "(no message)");
	json_decref(root);
}

/* The answer's microvm object(s): one, or the first of a list whose
 * spec.id and namespace are ours.  Borrowed from root. */
static json_t *answer_vm(json_t *root, const struct xop *op)
{
	json_t *vm = json_object_get(root, "microvm"), *one;
	size_t i;

	if (!json_is_array(vm))
		return json_is_object(vm) ? vm : NULL;
	json_array_foreach(vm, i, one) {
		json_t *spec = json_object_get(one, "spec");
		const char *id = json_string_value(json_object_get(spec, "id"));
		const char *ns = json_string_value(
			json_object_get(spec, "namespace"));

		if (id && !strcmp(id, op->id) && (!ns || !strcmp(ns, op->ns)))
			return one;
	}
	return NULL;
}

static const char *vm_uid(json_t *vm)
{
	return json_string_value(
		json_object_get(json_object_get(vm, "spec"), "uid"));
}

static const char *vm_state(json_t *vm)
{
	const char *s = json_string_value(
		json_object_get(json_object_get(vm, "status"), "state"));

	return s ? s : "PENDING"; /* zero value omitted */
}

static int set_uid(struct xop *op, const char *uid)
{
	char *u;

	if (op->uid && !strcmp(op->uid, uid))
		return 0;
	u = strdup(uid);
	if (!u)
		return -ENOMEM;
	free(op->uid);
	op->uid = u;
	return 0;
}

/* ---- waiting ---------------------------------------------------------- */

static void wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct xop *op = w->data;

	(void)loop;
	(void)revents;
	fl_next(op, (enum fl_step)op->step);
}

static void fl_wait(struct xop *op, enum fl_step step, double after)
{
	agent_executor *x = op->x;

	if (op->action == XOP_CREATE &&
	    ev_now(x->loop) + after >= op->deadline) {
		char what[64];

		/* Named after the last call made. */
		snprintf(what, sizeof(what), "%.0f s", x->create_timeout);
		fl_fail(op, "not CREATED within create_timeout_s (%s)", what);
		return;
	}
	op->step = step;
	ev_timer_stop(x->loop, &op->timer);
	ev_timer_init(&op->timer, wait_cb, after, 0);
	op->timer.data = op;
	ev_timer_start(x->loop, &op->timer);
}

/* A call that may succeed when tried again. */
static void fl_retry(struct xop *op, enum fl_step step, const char *why)
{
	agent_executor *x = op->x;
	double d = x->poll_min;
	int i;

	if (op->tries >= x->retries) {
		char what[320];

		snprintf(what, sizeof(what), "%s (gave up after %d tries)", why,
			 op->tries + 1);
		fl_fail(op, "%s", what);
		return;
	}
	for (i = 0; i < op->tries && d < x->poll_max; i++)
		d *= 2;
	op->tries++;
	fl_wait(op, step, d < x->poll_max ? d : x->poll_max);
}

/* ---- steps ------------------------------------------------------------ */

static void on_list(struct xop *op, json_t *root)
{
	json_t *vm = answer_vm(root, op);

	if (!vm) {
		if (op->action == XOP_DELETE) {
			xop_finish(op, NULL, op->uid);
			return;
		}
		fl_next(op, FL_POST);
		return;
	}
	if (!vm_uid(vm) || set_uid(op, vm_uid(vm)) < 0) {
		fl_fail(op, "%s", vm_uid(vm) ? "out of memory"
					     : "listed VM has no spec.uid");
		return;
	}
	op->adopted = true;
	fl_next(op, op->action == XOP_DELETE ? FL_DELETE : FL_GET);
}

/* POST's or GET's answer: one VM. */
static void on_vm(struct xop *op, json_t *root)
{
	json_t *vm = answer_vm(root, op);
	const char *state;
	char what[256];

	if (!vm || !vm_uid(vm)) {
		fl_fail(op, "%s", "answer has no microvm.spec.uid");
		return;
	}
	if (set_uid(op, vm_uid(vm)) < 0) {
		fl_fail(op, "%s", "out of memory");
		return;
	}
	state = vm_state(vm);
	if (!strcmp(state, "CREATED")) {
		xop_finish(op, NULL, op->uid);
		return;
	}
	if (!strcmp(state, "FAILED")) {
		snprintf(what, sizeof(what), "flintlockd reports uid %s FAILED",
			 op->uid);
		fl_fail(op, "%s", what);
		return;
	}
	op->backoff = op->backoff > 0 ? op->backoff * 2 : op->x->poll_min;
	if (op->backoff > op->x->poll_max)
		op->backoff = op->x->poll_max;
	fl_wait(op, FL_GET, op->step == FL_POST ? 0 : op->backoff);
}

static void done_cb(CURL *easy, CURLcode res, void *arg)
{
	struct xop *op = arg;
	enum fl_step step = (enum fl_step)op->step;
	long status = 0;
	char msg[400], why[480];
	json_t *root;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (res != CURLE_OK) {
		snprintf(why, sizeof(why), "%s",
			 op->errbuf[0] ? op->errbuf : curl_easy_strerror(res));
		/* An unknown POST outcome is settled by listing first. */
		fl_retry(op, step == FL_POST ? FL_LIST : step, why);
		return;
	}
	if (status >= 500 || status == 429) {
		answer_message(op, msg, sizeof(msg));
		snprintf(why, sizeof(why), "HTTP %ld: %s", status, msg);
		fl_retry(op, step == FL_POST ? FL_LIST : step, why);
		return;
	}
	if (status == 404 && step == FL_LIST) {
		/* flintlockd answers 404 for a namespace it never saw. */
		on_list(op, NULL);
		return;
	}
	if (status == 404 && step == FL_DELETE) {
		xop_finish(op, NULL, op->uid);
		return;
	}
	if (status == 404 && step == FL_GET && op->adopted) {
		/* Known from an earlier attempt but gone: look by name. */
		op->adopted = false;
		fl_next(op, FL_LIST);
		return;
	}
	if (status < 200 || status > 299) {
		answer_message(op, msg, sizeof(msg));
		snprintf(why, sizeof(why), "HTTP %ld: %s", status, msg);
		fl_fail(op, "%s", why);
		return;
	}
	op->tries = 0;
	if (step == FL_DELETE) {
		xop_finish(op, NULL, op->uid);
		return;
	}
	root = op->body ? json_loadb(op->body, op->body_len, 0, NULL) : NULL;
	if (!json_is_object(root)) {
		json_decref(root);
		fl_fail(op, "%s", "answer is not a JSON object");
		return;
	}
	if (step == FL_LIST)
		on_list(op, root);
	else
		on_vm(op, root);
	json_decref(root);
}

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct xop *op = arg;
	size_t len = size * n;
	char *p;

	if (op->body_len + len > BODY_MAX)
		return 0;
	p = realloc(op->body, op->body_len + len + 1);
	if (!p)
		return 0;
	memcpy(p + op->body_len, data, len);
	op->body = p;
	op->body_len += len;
	op->body[op->body_len] = '\0';
	return len;
}

/* The spec to POST: the request's, with our id and namespace. */
static char *post_body(struct xop *op)
{
	json_t *spec = json_loadb(op->spec, op->spec_len, 0, NULL);
	char *s = NULL;

	if (!json_is_object(spec))
		goto out;
	if (json_object_set_new(spec, "id", json_string(op->id)) < 0 ||
	    json_object_set_new(spec, "namespace", json_string(op->ns)) < 0)
		goto out;
	json_object_del(spec, "uid");
	s = json_dumps(spec, JSON_COMPACT);
out:
	json_decref(spec);
	return s;
}

static int fl_url(struct xop *op, enum fl_step step, char **ret_url)
{
	agent_executor *x = op->x;
	char *a = NULL, *b = NULL, *url = NULL;
	int n = -1;

	switch (step) {
	case FL_POST:
		n = asprintf(&url, "%s" API, x->endpoint);
		break;
	case FL_LIST:
		a = curl_easy_escape(op->easy, op->ns, 0);
		b = curl_easy_escape(op->easy, op->id, 0);
		if (a && b)
			n = asprintf(&url, "%s" API "/%s?name=%s", x->endpoint,
				     a, b);
		break;
	case FL_GET:
	case FL_DELETE:
		a = curl_easy_escape(op->easy, op->uid ? op->uid : "", 0);
		if (a)
			n = asprintf(&url, "%s" API "/%s", x->endpoint, a);
		break;
	}
	curl_free(a);
	curl_free(b);
	if (n < 0)
		return -ENOMEM;
	*ret_url = url;
	return 0;
}

/* Sends the call of step; on error the op ends. */
static void fl_next(struct xop *op, enum fl_step step)
{
	agent_executor *x = op->x;
	char *url = NULL, *body = NULL;
	CURL *e = op->easy;
	int r;

	if (op->action == XOP_CREATE && ev_now(x->loop) >= op->deadline) {
		fl_wait(op, step, 0); /* reports the timeout */
		return;
	}
	op->step = step;
	curl_easy_reset(e);
	free(op->body);
	op->body = NULL;
	op->body_len = 0;
	op->errbuf[0] = '\0';
	if (fl_url(op, step, &url) < 0)
		goto nomem;
	if (step == FL_POST) {
		body = post_body(op);
		if (!body) {
			free(url);
			fl_fail(op, "%s", "spec is not a JSON object");
			return;
		}
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)strlen(body));
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
		free(body);
		/* libcurl silently re-sends a request whose reused
		 * connection closes before any answer: for a POST that
		 * is a second VM.  A fresh connection is never retried. */
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	} else if (step == FL_DELETE) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, op->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, op);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, op->errbuf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, x->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, x->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	r = evcurl_add(x->curl, e, done_cb, op);
	if (r == -ENOMEM)
		goto nomem;
	if (r < 0) {
		fl_fail(op, "%s", "curl refused the transfer");
		return;
	}
	return;
nomem:
	fl_fail(op, "%s", "out of memory");
}

static void nomem_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	fl_fail(w->data, "%s", "out of memory");
}

static int fl_start(struct xop *op)
{
	agent_executor *x = op->x;
	json_t *spec = NULL;
	const char *ns;
	struct curl_slist *h;
	char *n;

	op->deadline = ev_now(x->loop) + x->create_timeout;
	op->easy = curl_easy_init();
	if (!op->easy)
		goto nomem;
	/* The request's namespace, else executor.flintlock.namespace. */
	if (op->spec_len)
		spec = json_loadb(op->spec, op->spec_len, 0, NULL);
	ns = json_string_value(json_object_get(spec, "namespace"));
	n = strdup(ns && *ns ? ns : x->ns);
	json_decref(spec);
	if (!n)
		goto nomem;
	free(op->ns);
	op->ns = n;
	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h)
		op->hdrs = h;
	h = h ? curl_slist_append(op->hdrs, "Accept: application/json") : NULL;
	if (h && x->auth)
		h = curl_slist_append(op->hdrs, x->auth);
	if (!h)
		goto nomem;
	/* Called from op_start: the first callback must come later. */
	if (op->uid) {
		op->adopted = true;
		fl_wait(op, op->action == XOP_CREATE ? FL_GET : FL_DELETE, 0);
	} else {
		fl_wait(op, FL_LIST, 0);
	}
	return 0;
nomem:
	ev_timer_init(&op->timer, nomem_cb, 0, 0);
	op->timer.data = op;
	ev_timer_start(x->loop, &op->timer);
	return 0;
}

const struct executor_ops executor_flintlock_ops = {
	.name = "flintlock",
	.has_effects = true,
	.init = fl_init,
	.fini = fl_fini,
	.start = fl_start,
	.abort = fl_abort,
};
