/*
 * The flintlock executor's HTTP transport (flintlock_int.h): flintlockd's
 * grpc-gateway (--enable-http), plain HTTP, through evcurl.  The gateway
 * dials flintlockd's gRPC port without TLS, so it only works on a host
 * run --insecure.  Routes as the real gateway serves them:
 *
 *   list    GET /v1alpha1/microvm/{namespace}?name={id}  (ListMicroVMs;
 *           GET /v1alpha1/microvm/{uid} is ListMicroVMs too, with
 *           namespace = uid, which is why nothing here gets by uid)
 *   create  POST /v1alpha1/microvm, the bare MicroVMSpec
 *   delete  DELETE /v1alpha1/microvm/{uid}
 *
 * Errors come as {"code": <grpc code>, "message": ...}, mostly code 2 with
 * HTTP 500; the code goes up as is for flintlock.c to classify.
 */
#include "agent/flintlock_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/grpc.h"

#define API "/v1alpha1/microvm"
#define BODY_MAX (4u << 20)

static int http_init(agent_executor *x, const struct agent_config *cfg,
		     char *err, size_t errlen)
{
	size_t n = strlen(x->endpoint);
	char *h;

	(void)cfg;
	if (strncmp(x->endpoint, "http://", 7) != 0) {
		snprintf(err, errlen,
			 "executor.flintlock.endpoint: want http://host:port "
			 "for transport http, got \"%s\"",
			 x->endpoint);
		return -EINVAL;
	}
	while (n > 7 && x->endpoint[n - 1] == '/')
		x->endpoint[--n] = '\0';
	if (x->auth) {
		h = grpc_basic_header(x->auth);
		explicit_bzero(x->auth, strlen(x->auth));
		free(x->auth);
		x->auth = h; /* the header line from now on */
		if (!h)
			return -ENOMEM;
	}
	return 0;
}

static void http_fini(agent_executor *x)
{
	(void)x;
}

static void http_cancel(struct xop *op)
{
	if (op->easy)
		evcurl_remove(op->x->curl, op->easy);
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

static const char *vm_str(json_t *vm, const char *obj, const char *key)
{
	const char *s = json_string_value(
		json_object_get(json_object_get(vm, obj), key));

	return s ? s : "";
}

static int copy(char *dst, size_t len, const char *s)
{
	return (size_t)snprintf(dst, len, "%s", s) < len ? 0 : -EINVAL;
}

/* A gateway MicroVM object into a struct flpb_vm. */
static int vm_read(json_t *o, struct flpb_vm *vm)
{
	static const char *const states[] = {"PENDING", "CREATED", "FAILED",
					     "DELETING"};
	const char *st = vm_str(o, "status", "state");
	json_t *status = json_object_get(o, "status");

	memset(vm, 0, sizeof(*vm));
	if (!json_is_object(json_object_get(o, "spec")) ||
	    !*vm_str(o, "spec", "uid") ||
	    copy(vm->uid, sizeof(vm->uid), vm_str(o, "spec", "uid")) < 0 ||
	    copy(vm->id, sizeof(vm->id), vm_str(o, "spec", "id")) < 0 ||
	    copy(vm->namespace_, sizeof(vm->namespace_),
		 vm_str(o, "spec", "namespace")) < 0)
		return -EINVAL;
	vm->state = json_is_object(status) ? FLPB_STATE_PENDING
					    : FLPB_STATE_UNKNOWN;
	for (int i = 0; i < 4; i++)
		if (!strcmp(st, states[i]))
			vm->state = i;
	vm->retry = (int)json_integer_value(json_object_get(status, "retry"));
	vm->version = (int)json_integer_value(json_object_get(o, "version"));
	return 0;
}

static void reply_bad(struct fl_reply *r, const char *what)
{
	r->code = GRPC_INTERNAL;
	r->transport = true;
	r->sent = true;
	snprintf(r->message, sizeof(r->message), "%s", what);
}

/* A 2xx answer: {"microvm": [...]} for list, {"microvm": {...}} for
 * create, {} for delete.  vms is set for list (free() it). */
static void reply_ok(struct xop *op, json_t *root, struct fl_reply *r,
		     struct flpb_vm **vms)
{
	json_t *m = json_object_get(root, "microvm"), *one;
	size_t i;

	if (!json_is_object(root)) {
		reply_bad(r, "the answer is not a JSON object");
		return;
	}
	if (op->step == FL_LIST) {
		if (m && !json_is_array(m)) {
			reply_bad(r, "the answer's microvm is not a list");
			return;
		}
		if (!json_array_size(m))
			return; /* none */
		*vms = calloc(json_array_size(m), sizeof(**vms));
		if (!*vms) {
			reply_bad(r, "out of memory");
			return;
		}
		json_array_foreach(m, i, one) {
			if (vm_read(one, *vms + i) < 0) {
				reply_bad(r, "a listed microvm has no "
					     "spec.uid (or one too long)");
				return;
			}
		}
		r->vms = *vms;
		r->n_vms = json_array_size(m);
	} else if (op->step == FL_CREATE) {
		if (vm_read(m, &r->vm) < 0)
			reply_bad(r, "the answer has no microvm.spec.uid");
	}
}

static void done_cb(CURL *easy, CURLcode res, void *arg)
{
	struct xop *op = arg;
	struct fl_reply r = {.code = GRPC_OK, .sent = true};
	struct flpb_vm *vms = NULL;
	json_t *root;
	long req_size = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.http_status);
	curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &req_size);
	root = op->body ? json_loadb(op->body, op->body_len, 0, NULL) : NULL;
	if (res != CURLE_OK) {
		r.transport = true;
		r.sent = req_size > 0;
		r.code = res == CURLE_OPERATION_TIMEDOUT ? GRPC_DEADLINE_EXCEEDED
							 : GRPC_UNAVAILABLE;
		snprintf(r.message, sizeof(r.message), "%s",
			 op->errbuf[0] ? op->errbuf : curl_easy_strerror(res));
	} else if (r.http_status < 200 || r.http_status > 299) {
		json_t *code = json_object_get(root, "code");
		const char *msg =
			json_string_value(json_object_get(root, "message"));

		if (json_is_integer(code) && msg) {
			r.code = (int)json_integer_value(code);
			snprintf(r.message, sizeof(r.message), "%s (HTTP %ld)",
				 msg, r.http_status);
		} else {
			/* Not the gateway's error body: a proxy's? */
			r.transport = true;
			r.code = r.http_status == 401 ? GRPC_UNAUTHENTICATED
				 : r.http_status == 404 ? GRPC_UNIMPLEMENTED
							: GRPC_UNAVAILABLE;
			snprintf(r.message, sizeof(r.message),
				 "HTTP %ld: %.200s", r.http_status,
				 op->body ? op->body : "");
		}
		if (r.code == GRPC_OK)
			r.code = GRPC_UNKNOWN;
	} else {
		reply_ok(op, root, &r, &vms);
	}
	json_decref(root);
	op->fl_cb(op, &r);
	free(vms);
}

/* The spec to POST: the request's, with our id and namespace, without
 * the scheduler's fields and flintlockd's own. */
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
	json_object_del(spec, "scheduling");
	s = json_dumps(spec, JSON_COMPACT);
out:
	json_decref(spec);
	return s;
}

/* Starts one transfer: method and path (endpoint-relative), body or
 * NULL. */
static int send_call(struct xop *op, fl_reply_cb cb, const char *method,
		     const char *path, const char *body)
{
	agent_executor *x = op->x;
	struct curl_slist *h;
	char *url = NULL;
	CURL *e;
	int r;

	if (!op->easy && !(op->easy = curl_easy_init()))
		return -ENOMEM;
	e = op->easy;
	if (!op->hdrs) {
		h = curl_slist_append(NULL, "Content-Type: application/json");
		if (h)
			op->hdrs = h;
		h = h ? curl_slist_append(op->hdrs, "Accept: application/json")
		      : NULL;
		if (h && x->auth)
			h = curl_slist_append(op->hdrs, x->auth);
		if (!h)
			return -ENOMEM;
	}
	if (asprintf(&url, "%s%s", x->endpoint, path) < 0)
		return -ENOMEM;
	curl_easy_reset(e);
	free(op->body);
	op->body = NULL;
	op->body_len = 0;
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)strlen(body));
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
		/* libcurl silently re-sends a request whose reused
		 * connection closes before any answer: for a create that
		 * is a second VM.  A fresh connection is never retried. */
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
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
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	op->fl_cb = cb;
	r = evcurl_add(x->curl, e, done_cb, op);
	return r == -EIO ? -EAGAIN : r;
}

static int http_list(struct xop *op, fl_reply_cb cb)
{
	char *a = curl_easy_escape(NULL, op->ns, 0);
	char *b = curl_easy_escape(NULL, op->id, 0);
	char *path = NULL;
	int r = -ENOMEM;

	if (a && b && asprintf(&path, API "/%s?name=%s", a, b) >= 0) {
		r = send_call(op, cb, "GET", path, NULL);
		free(path);
	}
	curl_free(a);
	curl_free(b);
	return r;
}

static int http_create(struct xop *op, fl_reply_cb cb)
{
	char *body = post_body(op);
	int r;

	if (!body) {
		snprintf(op->errbuf, sizeof(op->errbuf),
			 "the spec is not a JSON object");
		return -EINVAL;
	}
	r = send_call(op, cb, "POST", API, body);
	free(body);
	return r;
}

static int http_remove(struct xop *op, fl_reply_cb cb)
{
	char *a = curl_easy_escape(NULL, op->uid ? op->uid : "", 0);
	char *path = NULL;
	int r = -ENOMEM;

	if (a && asprintf(&path, API "/%s", a) >= 0) {
		r = send_call(op, cb, "DELETE", path, NULL);
		free(path);
	}
	curl_free(a);
	return r;
}

const struct fl_transport_ops fl_http_ops = {
	.name = "http",
	.init = http_init,
	.fini = http_fini,
	.list = http_list,
	.create = http_create,
	.remove = http_remove,
	.cancel = http_cancel,
};
