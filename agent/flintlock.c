/*
 * flintlock executor: flintlockd's microvm v1alpha1 API through one of
 * two transports (flintlock_int.h): gRPC, the default and the only way to
 * a TLS host, or the HTTP/JSON gateway of an --insecure host.  This file
 * is the state machine both share; the transports only send and read.
 *
 * create:  LIST ns ?name=id, then by what is listed:
 *            the uid we know (P/vms/<host>/<id>)  -> that VM decides
 *            else a PENDING or CREATED VM of ns and id -> adopted
 *            else a DELETING VM of that id -> waited out (LIST again)
 *            else (none, or only FAILED ones) -> CREATE
 *          then LIST until our uid is CREATED / FAILED, or
 *          create_timeout_s has passed.
 * delete:  [uid unknown: LIST ns ?name=id, the first VM not DELETING]
 *          DELETE uid ("not found" = already gone).
 *
 * One id created twice is two VMs, so a CREATE is sent only right after a
 * LIST found none to adopt, and a CREATE whose outcome is unknown (the
 * answer lost after the request left: transport && sent) is followed by
 * a LIST, never re-sent.  Calls that may succeed later are retried
 * `retries` times, backing off from poll_min to poll_max.
 *
 * Namespaces: the operator's, executor.flintlock.namespace; a request may
 * name another only when it is in executor.flintlock.allowed_namespaces,
 * else the create fails before any call to flintlockd (and a delete in
 * such a namespace has nothing to do: nothing was ever made there).
 *
 * Errors, as flintlockd sends them (its validation, conversion and
 * not-found errors are plain Go errors: gRPC UNKNOWN, HTTP 500 code 2):
 * by code first (UNAUTHENTICATED, INVALID_ARGUMENT, ...), then for
 * UNKNOWN / INTERNAL by what the message says: "not found" is gone,
 * validation / conversion / "not supported" are permanent, the rest may
 * pass.
 */
/* Calls the transports through fl->* (flintlock_int.h) and executor_op.c
 * (xop_finish); executor.c reaches it through executor_flintlock_ops. */
#include "agent/flintlock_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/grpc.h"
#include "config/cfg.h"

/* What an answer means. */
enum fl_class { FLC_OK, FLC_GONE, FLC_AUTH, FLC_PERMANENT, FLC_RETRY };

static void fl_next(struct xop *op, enum fl_step step);

static int fl_init(agent_executor *x, const struct agent_config *cfg,
		   char *err, size_t errlen)
{
	struct cfg_error cerr;
	int r;

	x->ns = strdup(cfg->fl_namespace && *cfg->fl_namespace
			       ? cfg->fl_namespace
			       : "default");
	x->endpoint = strdup(cfg->fl_endpoint ? cfg->fl_endpoint : "");
	if (!x->ns || !x->endpoint)
		return -ENOMEM;
	if (cfg->fl_allowed_ns.n) {
		x->allowed_ns = calloc(cfg->fl_allowed_ns.n, sizeof(char *));
		if (!x->allowed_ns)
			return -ENOMEM;
		for (size_t i = 0; i < cfg->fl_allowed_ns.n; i++) {
			x->allowed_ns[i] = strdup(cfg->fl_allowed_ns.v[i]);
			if (!x->allowed_ns[i])
				return -ENOMEM;
			x->n_allowed_ns++;
		}
	}
	x->timeout_ms = (long)cfg->fl_timeout_ms;
	x->create_timeout = (double)cfg->fl_create_timeout_s;
	x->retries = (int)cfg->fl_retries;
	x->poll_min = 0.5;
	x->poll_max = 5.0;
	x->fl = cfg->fl_transport == AGENT_FL_HTTP ? &fl_http_ops : &fl_grpc_ops;
	/* The token, raw, for the transport's init to turn into its
	 * header; wiped by fl_fini. */
	if (cfg->fl_token_file && *cfg->fl_token_file) {
		r = cfg_read_secret("executor.flintlock.token_file",
				    cfg->fl_token_file, &x->auth, &cerr);
		if (r < 0) {
			x->auth = NULL;
			snprintf(err, errlen, "%s", cerr.message);
			return r == -ENOMEM ? r : -EINVAL;
		}
	}
	if ((r = evcurl_new(x->loop, &x->curl)) < 0)
		return r;
	return x->fl->init(x, cfg, err, errlen);
}

static void fl_fini(agent_executor *x)
{
	if (x->fl)
		x->fl->fini(x);
	x->curl = evcurl_free(x->curl);
	free(x->endpoint);
	if (x->auth)
		explicit_bzero(x->auth, strlen(x->auth));
	free(x->auth);
	free(x->ns);
	for (size_t i = 0; i < x->n_allowed_ns; i++)
		free(x->allowed_ns[i]);
	free(x->allowed_ns);
	x->allowed_ns = NULL;
	x->n_allowed_ns = 0;
	x->endpoint = x->auth = x->ns = NULL;
}

static void fl_abort(struct xop *op)
{
	op->x->fl->cancel(op);
}

/* ---- errors ----------------------------------------------------------- */

static const char *step_name(int step)
{
	return step == FL_CREATE   ? "CreateMicroVM"
	       : step == FL_DELETE ? "DeleteMicroVM"
				   : "ListMicroVMs";
}

/* "VM <id>: <what>", and the op ends (keeping the uid, so that a VM that
 * exists can still be deleted). */
static void fl_fail(struct xop *op, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fl_fail(struct xop *op, const char *fmt, ...)
{
	char msg[1024];
	int n;
	va_list ap;

	n = snprintf(msg, sizeof(msg), "VM %s: ", op->id);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	xop_finish(op, msg, op->uid);
}

static bool has(const char *s, const char *word)
{
	return strcasestr(s, word) != NULL;
}

static enum fl_class classify(const struct fl_reply *r)
{
	const char *m = r->message;

	if (r->code == GRPC_OK)
		return FLC_OK;
	if (r->transport)
		return r->code == GRPC_UNAUTHENTICATED ? FLC_AUTH : FLC_RETRY;
	switch (r->code) {
	case GRPC_UNAUTHENTICATED:
	case GRPC_PERMISSION_DENIED:
		return FLC_AUTH;
	case GRPC_NOT_FOUND:
		return FLC_GONE;
	case GRPC_UNKNOWN:
	case GRPC_INTERNAL:
		if (has(m, "not found"))
			return FLC_GONE;
		if (has(m, "validat") || has(m, "convert") ||
		    has(m, "not supported") || has(m, "isn't available") ||
		    has(m, "invalid"))
			return FLC_PERMANENT;
		return FLC_RETRY;
	case GRPC_UNAVAILABLE:
	case GRPC_DEADLINE_EXCEEDED:
	case GRPC_RESOURCE_EXHAUSTED:
	case GRPC_ABORTED:
	case GRPC_CANCELLED:
		return FLC_RETRY;
	default: /* INVALID_ARGUMENT, UNIMPLEMENTED, ... */
		return FLC_PERMANENT;
	}
}

/* curl's words for a TLS connection the server dropped after the
 * handshake, which vary with timing ("HTTP/2 stream 1 was not closed
 * cleanly", "getpeername() failed", a reset, an alert): whatever is not
 * a failure to connect, a certificate check or a timeout. */
static bool refused_tls(const struct fl_reply *r)
{
	const char *m = r->message;

	return r->code != GRPC_DEADLINE_EXCEEDED &&
	       !has(m, "connect to") && !has(m, "resolve") &&
	       !has(m, "certificate problem") && !has(m, "timed out");
}

/* What went wrong and, where flintlockd's or curl's words do not say it,
 * what to do: "grpc 127.0.0.1:9090 CreateMicroVM: UNKNOWN: ...". */
static void describe(const struct xop *op, const struct fl_reply *r,
		     enum fl_class c, char *buf, size_t len)
{
	const agent_executor *x = op->x;
	const char *hint = "";

	if (c == FLC_AUTH)
		hint = x->auth ? " (flintlockd refused the token: "
				 "executor.flintlock.token_file must hold "
				 "flintlockd's --basic-auth-token)"
			       : " (flintlockd wants a token: set "
				 "executor.flintlock.token_file to a file "
				 "holding its --basic-auth-token)";
	else if (r->transport && x->tls && has(r->message, "certificate") &&
		 !has(r->message, "required"))
		hint = " (TLS: flintlockd's certificate is not signed by "
		       "executor.flintlock.tls.ca, or does not name the "
		       "endpoint's host or tls.server_name)";
	else if (r->transport && x->tls && refused_tls(r))
		/* A TLS 1.3 server checks the client's certificate after
		 * the handshake has completed on the client's side, so
		 * curl never sees a clear refusal: an alert "certificate
		 * required", a reset, or an HTTP/2 stream "not closed
		 * cleanly". */
		hint = x->client_cert
			       ? " (TLS: flintlockd may have refused the "
				 "client certificate: is "
				 "executor.flintlock.tls.cert signed by its "
				 "--tls-client-ca?)"
			       : " (TLS: a flintlockd run with "
				 "--tls-client-validate drops clients without "
				 "a certificate: set "
				 "executor.flintlock.tls.cert and .tls.key)";
	snprintf(buf, len, "%s %s %s: %s%s%s%s", x->fl->name, x->endpoint,
		 step_name(op->step),
		 r->transport ? "" : grpc_code_name(r->code),
		 r->transport ? "" : ": ", r->message, hint);
}

/* ---- waiting ---------------------------------------------------------- */

static void wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct xop *op = w->data;

	(void)loop;
	(void)revents;
	fl_next(op, (enum fl_step)op->step);
}

/* The next call of step, after `after` seconds; a create past its
 * deadline fails instead, saying what it was waiting for. */
static void fl_wait(struct xop *op, enum fl_step step, double after,
		    const char *waiting_for)
{
	agent_executor *x = op->x;

	if (op->action == XOP_CREATE && step != FL_REFUSE && after > 0 &&
	    ev_now(x->loop) + after >= op->deadline) {
		fl_fail(op, "%s within create_timeout_s (%.0f s)", waiting_for,
			x->create_timeout);
		return;
	}
	op->step = step;
	ev_timer_stop(x->loop, &op->timer);
	ev_timer_init(&op->timer, wait_cb, after, 0);
	op->timer.data = op;
	ev_timer_start(x->loop, &op->timer);
}

/* A poll: backing off from poll_min to poll_max. */
static void fl_poll(struct xop *op, const char *waiting_for)
{
	op->backoff = op->backoff > 0 ? op->backoff * 2 : op->x->poll_min;
	if (op->backoff > op->x->poll_max)
		op->backoff = op->x->poll_max;
	fl_wait(op, FL_LIST, op->backoff, waiting_for);
}

/* A call that may succeed when tried again (as step). */
static void fl_retry(struct xop *op, enum fl_step step, const char *why)
{
	agent_executor *x = op->x;
	double d = x->poll_min;

	if (op->tries >= x->retries) {
		fl_fail(op, "%s (gave up after %d tries)", why, op->tries + 1);
		return;
	}
	for (int i = 0; i < op->tries && d < x->poll_max; i++)
		d *= 2;
	op->tries++;
	fl_wait(op, step, d < x->poll_max ? d : x->poll_max,
		"no answer from flintlockd");
}

/* ---- answers ---------------------------------------------------------- */

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

static void forget_uid(struct xop *op)
{
	free(op->uid);
	op->uid = NULL;
	op->adopted = false;
}

static bool vm_ours(const struct xop *op, const struct flpb_vm *vm)
{
	return !strcmp(vm->id, op->id) && !strcmp(vm->namespace_, op->ns);
}

/* A FAILED VM: upstream's MicroVMStatus has no reason, only the retry
 * count of flintlockd's reconciler, so say where the reason is. */
static void fail_failed(struct xop *op, const struct flpb_vm *vm)
{
	fl_fail(op,
		"flintlockd reports the VM (uid %s, namespace %s) FAILED "
		"after %d reconcile retries; its API gives no reason "
		"(MicroVMStatus has none): see flintlockd's log on %s",
		vm->uid, vm->namespace_, vm->retry, op->x->endpoint);
}

/* Our VM's state (uid known and listed). */
static void on_state(struct xop *op, const struct flpb_vm *vm)
{
	switch (vm->state) {
	case FLPB_STATE_CREATED:
		xop_finish(op, NULL, op->uid);
		return;
	case FLPB_STATE_FAILED:
		fail_failed(op, vm);
		return;
	default: /* PENDING, or no status yet */
		fl_poll(op, "not CREATED");
	}
}

static void on_list_create(struct xop *op, const struct fl_reply *r)
{
	const struct flpb_vm *deleting = NULL;
	size_t i;

	if (op->uid) {
		for (i = 0; i < r->n_vms; i++)
			if (vm_ours(op, &r->vms[i]) &&
			    !strcmp(r->vms[i].uid, op->uid))
				break;
		if (i < r->n_vms && r->vms[i].state != FLPB_STATE_DELETING) {
			on_state(op, &r->vms[i]);
			return;
		}
		if (i == r->n_vms && !op->adopted) {
			fl_fail(op,
				"the VM flintlockd created (uid %s) is no "
				"longer listed in namespace %s",
				op->uid, op->ns);
			return;
		}
		/* Known from an earlier attempt, but gone or going: it
		 * is not the VM of this attempt. */
		forget_uid(op);
	}
	for (i = 0; i < r->n_vms; i++) {
		const struct flpb_vm *vm = &r->vms[i];

		if (!vm_ours(op, vm))
			continue;
		if (vm->state == FLPB_STATE_DELETING) {
			deleting = vm;
			continue;
		}
		if (vm->state == FLPB_STATE_FAILED)
			continue;
		/* PENDING or CREATED: ours by name, made by an earlier
		 * attempt whose answer we lost. */
		if (set_uid(op, vm->uid) < 0) {
			fl_fail(op, "out of memory");
			return;
		}
		op->adopted = true;
		on_state(op, vm);
		return;
	}
	if (deleting) {
		fl_poll(op, "a VM of the same id being deleted was not gone");
		return;
	}
	fl_next(op, FL_CREATE);
}

static void on_list_delete(struct xop *op, const struct fl_reply *r)
{
	for (size_t i = 0; i < r->n_vms; i++) {
		const struct flpb_vm *vm = &r->vms[i];

		if (!vm_ours(op, vm) || vm->state == FLPB_STATE_DELETING)
			continue;
		if (set_uid(op, vm->uid) < 0) {
			fl_fail(op, "out of memory");
			return;
		}
		op->adopted = true; /* found by name: list again after */
		fl_next(op, FL_DELETE);
		return;
	}
	xop_finish(op, NULL, op->uid); /* nothing (left) to delete */
}

static void on_reply(struct xop *op, const struct fl_reply *r)
{
	enum fl_step step = (enum fl_step)op->step;
	enum fl_class c = classify(r);
	char why[900];

	if (c != FLC_OK && !(c == FLC_GONE && step == FL_DELETE)) {
		describe(op, r, c, why, sizeof(why));
		if (c != FLC_RETRY) {
			fl_fail(op, "%s", why);
			return;
		}
		/* A create that may have reached flintlockd is settled by
		 * listing: a second create would be a second VM. */
		fl_retry(op, step == FL_CREATE && r->sent ? FL_LIST : step,
			 why);
		return;
	}
	op->tries = 0;
	switch (step) {
	case FL_LIST:
		if (op->action == XOP_DELETE)
			on_list_delete(op, r);
		else
			on_list_create(op, r);
		return;
	case FL_CREATE:
		if (set_uid(op, r->vm.uid) < 0) {
			fl_fail(op, "out of memory");
			return;
		}
		op->adopted = false;
		op->backoff = 0;
		on_state(op, &r->vm);
		return;
	default: /* FL_DELETE: done, or already gone */
		if (c == FLC_OK && op->adopted && op->action == XOP_DELETE) {
			/* Found by name: another of the id (a FAILED
			 * earlier one) may be left; the one deleted now
			 * lists DELETING. */
			forget_uid(op);
			fl_next(op, FL_LIST);
			return;
		}
		xop_finish(op, NULL, op->uid);
	}
}

static bool ns_allowed(const agent_executor *x, const char *ns)
{
	if (!strcmp(ns, x->ns))
		return true;
	for (size_t i = 0; i < x->n_allowed_ns; i++)
		if (!strcmp(ns, x->allowed_ns[i]))
			return true;
	return false;
}

static void refuse(struct xop *op)
{
	agent_executor *x = op->x;
	char list[512] = "none";
	size_t n = 0;

	for (size_t i = 0; i < x->n_allowed_ns && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
				      i ? ", " : "", x->allowed_ns[i]);
	fl_fail(op,
		"namespace \"%s\" is not allowed on this host: requests may "
		"use executor.flintlock.namespace (\"%s\") or one of "
		"executor.flintlock.allowed_namespaces (%s); nothing was sent "
		"to flintlockd",
		op->ns, x->ns, list);
}

/* Sends the call of step; on error the op ends. */
static void fl_next(struct xop *op, enum fl_step step)
{
	agent_executor *x = op->x;
	int r;

	op->step = step;
	op->errbuf[0] = '\0';
	switch (step) {
	case FL_REFUSE:
		refuse(op);
		return;
	case FL_DONE:
		xop_finish(op, NULL, op->uid);
		return;
	case FL_LIST:
		r = x->fl->list(op, on_reply);
		break;
	case FL_CREATE:
		r = x->fl->create(op, on_reply);
		break;
	default:
		r = x->fl->remove(op, on_reply);
	}
	if (r == -EINVAL)
		fl_fail(op, "%s %s: %s", x->fl->name, step_name(step),
			op->errbuf[0] ? op->errbuf : "invalid request");
	else if (r < 0)
		fl_fail(op, "%s", r == -ENOMEM ? "out of memory"
					       : "the transfer was refused");
}

static void nomem_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	fl_fail(w->data, "out of memory");
}

static int fl_start(struct xop *op)
{
	agent_executor *x = op->x;
	json_t *spec = NULL;
	const char *ns;
	bool allowed;
	char *n;

	op->deadline = ev_now(x->loop) + x->create_timeout;
	/* The request's namespace, else the operator's. */
	if (op->spec_len)
		spec = json_loadb(op->spec, op->spec_len, 0, NULL);
	ns = json_string_value(json_object_get(spec, "namespace"));
	n = strdup(ns && *ns ? ns : x->ns);
	json_decref(spec);
	if (!n)
		goto nomem;
	free(op->ns);
	op->ns = n;
	allowed = ns_allowed(x, op->ns);
	/* Called from op_start: the first callback must come later. */
	if (op->action == XOP_CREATE)
		fl_wait(op, allowed ? FL_LIST : FL_REFUSE, 0, "");
	else if (!allowed) /* nothing can have been made there */
		fl_wait(op, FL_DONE, 0, "");
	else
		fl_wait(op, op->uid ? FL_DELETE : FL_LIST, 0, "");
	/* A uid given is from an earlier attempt: the VM may be gone. */
	op->adopted = op->uid != NULL;
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
