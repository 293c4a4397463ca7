/*
 * The flintlock executor's gRPC transport (flintlock_int.h): flintlockd's
 * own API, microvm.services.api.v1alpha1.MicroVM, over agent/grpc (libcurl
 * HTTP/2 on the executor's evcurl) with the messages of agent/flintlock_pb.
 * TLS with a CA, optional client certificate (mTLS) and server name;
 * plaintext h2c only when executor.flintlock.insecure says the host runs
 * --insecure; the basic token as metadata; timeout_ms as each call's
 * deadline.
 */
#include "agent/flintlock_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/grpc.h"

static int grpc_init(agent_executor *x, const struct agent_config *cfg,
		     char *err, size_t errlen)
{
	struct grpc_channel_config cc = {
		.endpoint = x->endpoint,
		.insecure = cfg->fl_insecure,
		.ca_file = cfg->fl_tls_ca,
		.cert_file = cfg->fl_tls_cert,
		.key_file = cfg->fl_tls_key,
		.server_name = cfg->fl_tls_server_name,
		.basic_token = x->auth,
	};
	int r = grpc_channel_new(x->curl, &cc, &x->grpc);

	x->tls = !cfg->fl_insecure;
	x->client_cert = x->tls && cfg->fl_tls_cert && *cfg->fl_tls_cert;
	if (r == -EINVAL)
		snprintf(err, errlen,
			 "executor.flintlock: want endpoint host:port (got "
			 "\"%s\"), tls.cert and tls.key both or neither, "
			 "tls.server_name a DNS name",
			 x->endpoint);
	return r;
}

static void grpc_fini(agent_executor *x)
{
	x->grpc = grpc_channel_free(x->grpc);
}

static void grpc_cancel(struct xop *op)
{
	grpc_call_cancel(op->call);
	op->call = NULL;
}

/* A reply that does not parse: the server may have acted. */
static void reply_bad(struct fl_reply *r, const struct flpb_error *e)
{
	r->code = GRPC_INTERNAL;
	r->transport = true;
	r->sent = true;
	snprintf(r->message, sizeof(r->message), "reply does not parse: %s",
		 e->message);
}

static void on_result(const struct grpc_result *g, void *arg)
{
	struct xop *op = arg;
	struct fl_reply r = {
		.code = g->status.code,
		.transport = g->transport,
		.sent = g->sent,
		.http_status = g->http_status,
	};
	struct flpb_vm *vms = NULL;
	struct flpb_error e = {0};
	size_t n = strlen(op->x->endpoint);
	const char *m;

	op->call = NULL;
	/* grpc.c names the endpoint; flintlock.c says it once already. */
	m = g->status.message;
	if (g->transport && !strncmp(m, op->x->endpoint, n) && m[n] == ':' &&
	    m[n + 1] == ' ')
		m += n + 2;
	snprintf(r.message, sizeof(r.message), "%s", m);
	if (g->status.code == GRPC_OK && op->step == FL_LIST) {
		if (flpb_list_response(g->reply, g->reply_len, &vms, &r.n_vms,
				       &e) < 0)
			reply_bad(&r, &e);
		r.vms = vms;
	} else if (g->status.code == GRPC_OK && op->step == FL_CREATE) {
		if (flpb_create_response(g->reply, g->reply_len, &r.vm, &e) <
		    0)
			reply_bad(&r, &e);
	}
	op->fl_cb(op, &r);
	free(vms);
}

/* Sends the packed request buf (freed here). */
static int send_call(struct xop *op, fl_reply_cb cb, const char *method,
		     uint8_t *buf, size_t len)
{
	int r;

	op->fl_cb = cb;
	r = grpc_call_unary(op->x->grpc, method, buf, len, op->x->timeout_ms,
			    on_result, op, &op->call);
	free(buf);
	return r;
}

/* flpb's refusal of a request, in op->errbuf. */
static int refused(struct xop *op, int r, const struct flpb_error *e)
{
	if (r == -EINVAL)
		snprintf(op->errbuf, sizeof(op->errbuf), "%s", e->message);
	return r;
}

static int grpc_list(struct xop *op, fl_reply_cb cb)
{
	struct flpb_error e = {0};
	uint8_t *buf;
	size_t len;
	int r = flpb_list_request(op->ns, op->id, &buf, &len, &e);

	if (r < 0)
		return refused(op, r, &e);
	return send_call(op, cb, FLPB_LIST, buf, len);
}

static int grpc_create(struct xop *op, fl_reply_cb cb)
{
	struct flpb_error e = {0};
	json_error_t je;
	json_t *spec = json_loadb(op->spec, op->spec_len, 0, &je);
	uint8_t *buf;
	size_t len;
	int r;

	if (!json_is_object(spec)) {
		json_decref(spec);
		snprintf(op->errbuf, sizeof(op->errbuf),
			 "the spec is not a JSON object");
		return -EINVAL;
	}
	r = flpb_create_request(spec, op->id, op->ns, &buf, &len, &e);
	json_decref(spec);
	if (r < 0)
		return refused(op, r, &e);
	return send_call(op, cb, FLPB_CREATE, buf, len);
}

static int grpc_remove(struct xop *op, fl_reply_cb cb)
{
	struct flpb_error e = {0};
	uint8_t *buf;
	size_t len;
	int r = flpb_delete_request(op->uid ? op->uid : "", &buf, &len, &e);

	if (r < 0)
		return refused(op, r, &e);
	return send_call(op, cb, FLPB_DELETE, buf, len);
}

const struct fl_transport_ops fl_grpc_ops = {
	.name = "grpc",
	.init = grpc_init,
	.fini = grpc_fini,
	.list = grpc_list,
	.create = grpc_create,
	.remove = grpc_remove,
	.cancel = grpc_cancel,
};
