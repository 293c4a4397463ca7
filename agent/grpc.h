/*
 * grpc — gRPC unary calls over libcurl's HTTP/2, on an evcurl (libev).
 *
 * A grpc_channel is one endpoint (host:port) with its transport settings:
 * TLS with a CA file, optionally a client certificate and key (mTLS) and a
 * server name that differs from the address; or, when insecure, plaintext
 * HTTP/2 with prior knowledge (h2c).  Every call of a channel goes through
 * the evcurl's multi handle with CURLOPT_PIPEWAIT, so concurrent calls
 * share one HTTP/2 connection (CURLPIPE_MULTIPLEX) and later calls reuse it
 * (over TLS; h2c with a curl older than 8.0 opens one connection per call,
 * to step around curl's bug #10634 with reused prior-knowledge
 * connections).
 *
 * A call POSTs one length-prefixed message (1 byte flag 0, 4 bytes
 * big-endian length, the bytes) with content-type application/grpc and
 * te: trailers, and reads grpc-status / grpc-message from the trailers, or
 * from the headers of a trailers-only answer.  Nothing blocks: a call
 * returns at once and its callback runs later from the loop, exactly once,
 * never from inside grpc_call_unary() - unless the call is cancelled or
 * the channel freed first, which drops the callback.
 *
 * Server name: curl has no SNI override, so with server_name set the URL
 * names server_name (SNI, certificate check and :authority) and
 * CURLOPT_CONNECT_TO sends the connection to the endpoint's host:port.
 *
 * Never logs, never exits.
 */
#ifndef FLINTSCHED_AGENT_GRPC_H
#define FLINTSCHED_AGENT_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcdclient/evcurl.h"

/* gRPC status codes (grpc/status.h). */
enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
	GRPC_UNAUTHENTICATED = 16,
};

/* "UNAVAILABLE" etc.; "?" for a code outside 0..16. */
const char *grpc_code_name(int code);

struct grpc_status {
	int code;	   /* enum grpc_code */
	char message[256]; /* grpc-message, percent-decoded; or ours */
};

/* What a call's callback gets.  Borrowed, valid until the callback
 * returns.
 *
 * transport: true when the status is not the server's: curl failed
 *   (connection refused, TLS verification, reset, timeout), or the answer
 *   was not a complete gRPC answer (HTTP error without grpc-status, no
 *   trailers, a cut or malformed reply).  The code is then ours:
 *   UNAVAILABLE with curl's message for a transport failure,
 *   DEADLINE_EXCEEDED when the deadline ran out, INTERNAL for a broken
 *   answer, or the gRPC spec's HTTP mapping (401 UNAUTHENTICATED, ...).
 *   false: code and message are the server's grpc-status / grpc-message.
 * sent: false only when the request message provably never left this
 *   process (curl never read a byte of the body: connect or TLS
 *   handshake failed, deadline hit first); then the server cannot have
 *   acted on it and the call may be re-sent.  true means the server may
 *   have received and executed it, whatever the status: a create whose
 *   outcome is unknown (transport && sent) must be checked (list) before
 *   being sent again.
 * reply, reply_len: the reply message when code is GRPC_OK (reply is
 *   non-NULL even for an empty message), else NULL and 0.
 * http_status: the HTTP status, 0 if no answer arrived. */
struct grpc_result {
	struct grpc_status status;
	bool transport;
	bool sent;
	long http_status;
	const uint8_t *reply;
	size_t reply_len;
};

typedef void (*grpc_call_cb)(const struct grpc_result *r, void *arg);

struct grpc_channel_config {
	const char *endpoint; /* host:port, [v6]:port; required */
	bool insecure;	      /* plaintext h2c; the TLS fields are ignored */
	const char *ca_file;  /* NULL: the system's CA store */
	const char *cert_file, *key_file; /* both or neither: mTLS */
	const char *server_name;	  /* NULL: the endpoint's host */
	/* Sent with every call as authorization: Basic <base64(token)>,
	 * as flintlockd's --basic-auth-token expects (the token itself, not
	 * user:pass).  NULL or "": none. */
	const char *basic_token;
	/* Extra metadata, "key: value" each (lowercase keys); copied. */
	const char *const *metadata;
	size_t n_metadata;
};

/* "authorization: Basic <base64(token)>", the header flintlockd's
 * --basic-auth-token wants (also over its HTTP gateway): a new string
 * (free() it, after wiping: it is a secret), or NULL when out of memory. */
char *grpc_basic_header(const char *token);

typedef struct grpc_channel grpc_channel;
typedef struct grpc_call grpc_call;

/* cfg and its strings are copied; m is borrowed and must outlive the
 * channel.  Returns 0 and *ret_ch, -EINVAL (bad endpoint, a cert without
 * its key, a header line without ": ") or -ENOMEM.  Files are read by
 * curl at connect time: a missing CA file fails the call (UNAVAILABLE,
 * transport, not sent), not this. */
int grpc_channel_new(evcurl *m, const struct grpc_channel_config *cfg,
		     grpc_channel **ret_ch);

/* Cancels every call in flight (no callbacks), then frees.  Accepts NULL;
 * returns NULL. */
grpc_channel *grpc_channel_free(grpc_channel *ch);

/* Calls in flight on the channel. */
unsigned grpc_channel_active(const grpc_channel *ch);

/* Starts a unary call of method ("/package.Service/Method") with the
 * serialized request msg (copied).  deadline_ms > 0: the call fails with
 * DEADLINE_EXCEEDED after that long, and the server is told so
 * (grpc-timeout); 0: no deadline.  ret_call (may be NULL) receives a
 * handle, valid until the callback runs or grpc_call_cancel().
 * Returns 0 (cb will run exactly once, later, from the loop), -EINVAL
 * (method not starting with '/', msg larger than 4 GiB - 1) or -ENOMEM
 * (cb will not run). */
int grpc_call_unary(grpc_channel *ch, const char *method, const uint8_t *msg,
		    size_t len, long deadline_ms, grpc_call_cb cb, void *arg,
		    grpc_call **ret_call);

/* Aborts a call: its callback will not run.  The request may already have
 * reached the server.  Only for a call whose callback has not run yet. */
void grpc_call_cancel(grpc_call *c);

#endif
