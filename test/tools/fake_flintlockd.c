/*
 * fake_flintlockd — a small stand-in for flintlockd's HTTP API
 * (microvm v1alpha1: create, get, list by name, delete), for the flintlock
 * executor's tests.
 *
 *   fake_flintlockd [--port N] [--token T] [--fail-create N]
 *                   [--fail-http N] [--drop-post N] [--fail-post N]
 *                   [--slow-post-ms MS] [--pending-gets N]
 *                   [--create-delay-ms MS]
 *
 *   --port N            listen on 127.0.0.1:N (0 = any; default 0); prints
 *                       "port <bound port>" on stdout once listening
 *   --token T           require "Authorization: Basic base64(T)", else 401
 *   --fail-create N     the next N created VMs end FAILED, not CREATED
 *   --fail-http N       answer 503 to the next N API requests
 *   --drop-post N       the next N creates are carried out but the
 *                       connection is closed without an answer (an
 *                       "outcome unknown" create)
 *   --fail-post N       answer 503 to the next N creates, creating nothing
 *   --slow-post-ms MS   answer every create only MS after carrying it out
 *                       (the whole fake stalls meanwhile)
 *   --pending-gets N    a VM reads PENDING for its first N GETs (default 1)
 *   --create-delay-ms   ... and for at least this long after the create
 *
 * API: POST /v1alpha1/microvm, GET /v1alpha1/microvm/{uid},
 * GET /v1alpha1/microvm/{namespace}?name=<id>, DELETE /v1alpha1/microvm/{uid}.
 * Admin: GET /_calls answers a JSON array of every API call so far,
 * {"method", "path", "name", "id", "status"} (status 0 = dropped).
 *
 * One MHD polling thread serves every request, so the state needs no lock.
 * Runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#define API "/v1alpha1/microvm"

struct vm {
	struct vm *next;
	char uid[32];
	json_t *spec; /* with "uid" */
	unsigned gets;
	double created_at;
	bool fail;
};

struct fake {
	char *auth; /* expected Authorization value, or NULL */
	long fail_create, fail_http, drop_post, fail_post, slow_post_ms;
	long pending_gets;
	double create_delay;
	unsigned long next_uid;
	struct vm *vms;
	json_t *calls;
};

struct body {
	char *data;
	size_t len;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

/* Sends root (stolen) as JSON with status. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     json_t *root)
{
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	struct MHD_Response *r;
	enum MHD_Result ret;

	json_decref(root);
	if (!text)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text,
					    MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status,
				   int code, const char *msg)
{
	return reply(c, status,
		     json_pack("{s:i, s:s, s:[]}", "code", code, "message", msg,
			       "details"));
}

static const char *vm_state(struct fake *f, struct vm *v)
{
	if ((long)v->gets < f->pending_gets ||
	    now_s() < v->created_at + f->create_delay)
		return "PENDING";
	return v->fail ? "FAILED" : "CREATED";
}

static json_t *vm_json(struct fake *f, struct vm *v)
{
	return json_pack("{s:{s:i, s:O, s:{s:s}}}", "microvm", "version", 1,
			 "spec", v->spec, "status", "state", vm_state(f, v));
}

static struct vm *vm_find(struct fake *f, const char *uid)
{
	struct vm *v;

	for (v = f->vms; v; v = v->next)
		if (!strcmp(v->uid, uid))
			return v;
	return NULL;
}

/* Validates like flintlockd; NULL or the complaint. */
static const char *spec_check(json_t *spec, char *buf, size_t len)
{
	json_t *vcpu = json_object_get(spec, "vcpu");
	json_t *mem = json_object_get(spec, "memoryInMb");
	const char *id = json_string_value(json_object_get(spec, "id"));
	const char *ns = json_string_value(json_object_get(spec, "namespace"));

	if (!id || !*id)
		return "invalid microvm spec: id: is required";
	if (!ns || !*ns)
		return "invalid microvm spec: namespace: is required";
	if (!json_is_integer(vcpu) || json_integer_value(vcpu) < 1 ||
	    json_integer_value(vcpu) > 64) {
		snprintf(buf, len,
			 "invalid microvm spec: vcpu: must be between 1 and 64");
		return buf;
	}
	if (!json_is_integer(mem) || json_integer_value(mem) < 1024 ||
	    json_integer_value(mem) > 32768) {
		snprintf(buf, len, "invalid microvm spec: memoryInMb: must be "
				   "between 1024 and 32768");
		return buf;
	}
	return NULL;
}

static enum MHD_Result do_create(struct fake *f, struct MHD_Connection *c,
				 struct body *b, json_t *call)
{
	char msg[256];
	const char *bad;
	json_error_t je;
	json_t *spec = json_loadb(b->data ? b->data : "", b->len, 0, &je);
	struct vm *v;

	if (!json_is_object(spec)) {
		json_decref(spec);
		snprintf(msg, sizeof(msg), "invalid JSON body: %s", je.text);
		json_object_set_new(call, "status", json_integer(400));
		return reply_error(c, 400, 3, msg);
	}
	json_object_set(call, "id", json_object_get(spec, "id"));
	if (f->fail_post > 0) {
		f->fail_post--;
		json_decref(spec);
		json_object_set_new(call, "status", json_integer(503));
		return reply_error(c, 503, 14, "fake: create unavailable");
	}
	bad = spec_check(spec, msg, sizeof(msg));
	if (bad) {
		json_decref(spec);
		json_object_set_new(call, "status", json_integer(400));
		return reply_error(c, 400, 3, bad);
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		json_decref(spec);
		return MHD_NO;
	}
	snprintf(v->uid, sizeof(v->uid), "01FAKE%020lu", ++f->next_uid);
	json_object_set_new(spec, "uid", json_string(v->uid));
	v->spec = spec;
	v->created_at = now_s();
	if (f->fail_create > 0) {
		f->fail_create--;
		v->fail = true;
	}
	v->next = f->vms;
	f->vms = v;
	if (f->drop_post > 0) {
		f->drop_post--;
		json_object_set_new(call, "status", json_integer(0));
		return MHD_NO; /* done, but nobody is told */
	}
	if (f->slow_post_ms > 0) {
		struct timespec ts = {f->slow_post_ms / 1000,
				      f->slow_post_ms % 1000 * 1000000};

		nanosleep(&ts, NULL);
	}
	json_object_set_new(call, "status", json_integer(200));
	return reply(c, 200, vm_json(f, v));
}

static enum MHD_Result do_list(struct fake *f, struct MHD_Connection *c,
			       const char *ns, const char *name, json_t *call)
{
	json_t *arr = json_array(), *one;
	struct vm *v;

	if (!arr)
		return MHD_NO;
	for (v = f->vms; v; v = v->next) {
		const char *vns = json_string_value(
			json_object_get(v->spec, "namespace"));
		const char *vid =
			json_string_value(json_object_get(v->spec, "id"));

		if (strcmp(vns, ns) || (name && strcmp(vid, name)))
			continue;
		one = vm_json(f, v);
		json_array_append(arr, json_object_get(one, "microvm"));
		json_decref(one);
	}
	json_object_set_new(call, "status", json_integer(200));
	return reply(c, 200, json_pack("{s:o}", "microvm", arr));
}

static enum MHD_Result api(struct fake *f, struct MHD_Connection *c,
			   const char *method, const char *url, struct body *b,
			   json_t *call)
{
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
						       "name");
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       "Authorization");
	const char *tail;
	char msg[256];
	struct vm *v, **pv;

	if (f->auth && (!auth || strcmp(auth, f->auth))) {
		json_object_set_new(call, "status", json_integer(401));
		return reply_error(c, 401, 16,
				   auth ? "invalid basic auth token"
					: "missing basic auth token");
	}
	if (f->fail_http > 0) {
		f->fail_http--;
		json_object_set_new(call, "status", json_integer(503));
		return reply_error(c, 503, 14, "fake: service unavailable");
	}
	if (!strcmp(url, API) && !strcmp(method, "POST"))
		return do_create(f, c, b, call);
	if (strncmp(url, API "/", sizeof(API)) || !url[sizeof(API)] ||
	    strchr(url + sizeof(API), '/')) {
		json_object_set_new(call, "status", json_integer(404));
		return reply_error(c, 404, 5, "no such route");
	}
	tail = url + sizeof(API);
	if (!strcmp(method, "GET") && name)
		return do_list(f, c, tail, name, call);
	v = vm_find(f, tail);
	if (!v) {
		snprintf(msg, sizeof(msg), "microvm %s not found", tail);
		json_object_set_new(call, "status", json_integer(404));
		return reply_error(c, 404, 5, msg);
	}
	if (!strcmp(method, "GET")) {
		v->gets++;
		json_object_set_new(call, "status", json_integer(200));
		return reply(c, 200, vm_json(f, v));
	}
	if (!strcmp(method, "DELETE")) {
		for (pv = &f->vms; *pv != v; pv = &(*pv)->next)
			;
		*pv = v->next;
		json_decref(v->spec);
		free(v);
		json_object_set_new(call, "status", json_integer(200));
		return reply(c, 200, json_object());
	}
	json_object_set_new(call, "status", json_integer(405));
	return reply_error(c, 405, 12, "method not allowed");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	struct fake *f = cls;
	struct body *b = *con_cls;
	json_t *call;
	char *p;

	(void)version;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*upload_size) {
		p = realloc(b->data, b->len + *upload_size + 1);
		if (!p)
			return MHD_NO;
		memcpy(p + b->len, upload, *upload_size);
		b->data = p;
		b->len += *upload_size;
		b->data[b->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	if (!strcmp(url, "/_calls"))
		return reply(c, 200, json_incref(f->calls));
	call = json_pack("{s:s, s:s, s:n, s:n, s:i}", "method", method, "path",
			 url, "name", "id", "status", 0);
	if (!call)
		return MHD_NO;
	{
		const char *name = MHD_lookup_connection_value(
			c, MHD_GET_ARGUMENT_KIND, "name");

		if (name)
			json_object_set_new(call, "name", json_string(name));
	}
	json_array_append_new(f->calls, call);
	return api(f, c, method, url, b, call);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct body *b = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (b) {
		free(b->data);
		free(b);
		*con_cls = NULL;
	}
}

static long arg_long(const char *opt, const char *v)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v ? v : "", &end, 10);
	if (!v || errno || *end || n < 0) {
		fprintf(stderr, "fake_flintlockd: %s: want a number >= 0\n",
			opt);
		exit(2);
	}
	return n;
}

int main(int argc, char **argv)
{
	struct fake f = {.pending_gets = 1};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	const char *token = NULL;
	long port = 0;
	sigset_t set;
	int i, sig;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--token") && v)
			token = v;
		else if (!strcmp(o, "--port"))
			port = arg_long(o, v);
		else if (!strcmp(o, "--fail-create"))
			f.fail_create = arg_long(o, v);
		else if (!strcmp(o, "--fail-http"))
			f.fail_http = arg_long(o, v);
		else if (!strcmp(o, "--drop-post"))
			f.drop_post = arg_long(o, v);
		else if (!strcmp(o, "--fail-post"))
			f.fail_post = arg_long(o, v);
		else if (!strcmp(o, "--slow-post-ms"))
			f.slow_post_ms = arg_long(o, v);
		else if (!strcmp(o, "--pending-gets"))
			f.pending_gets = arg_long(o, v);
		else if (!strcmp(o, "--create-delay-ms"))
			f.create_delay = (double)arg_long(o, v) / 1000.0;
		else {
			fprintf(stderr, "fake_flintlockd: unknown option %s\n",
				o);
			return 2;
		}
		i++;
	}
	if (port > 65535) {
		fprintf(stderr, "fake_flintlockd: --port: 0..65535\n");
		return 2;
	}
	if (token) {
		char *b64 = base64(token);

		if (!b64 || asprintf(&f.auth, "Basic %s", b64) < 0)
			return 1;
		free(b64);
	}
	f.calls = json_array();
	if (!f.calls)
		return 1;

	/* Block the stop signals before MHD starts its thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* No MHD_USE_ERROR_LOG: --drop-post would log every time. */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, &f, MHD_OPTION_SOCK_ADDR,
			     (struct sockaddr *)&sa,
			     MHD_OPTION_NOTIFY_COMPLETED, completed, &f,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "fake_flintlockd: cannot listen on "
				"127.0.0.1:%ld\n",
			port);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("port %u\n", info ? (unsigned)info->port : 0u);
	fflush(stdout);

	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	while (f.vms) {
		struct vm *v = f.vms;

		f.vms = v->next;
		json_decref(v->spec);
		free(v);
	}
	json_decref(f.calls);
	free(f.auth);
	return 0;
}
