/*
 * Internal interfaces of etcdclient, shared by its modules (client.c is the
 * transport; codec.c the JSON quirks; kv.c, txn.c, lease.c, watch.c,
 * election.c, sync.c the calls).  Not installed.
 */
#ifndef FLINTSCHED_ETCD_INTERNAL_H
#define FLINTSCHED_ETCD_INTERNAL_H

#include <jansson.h>

#include "etcd.h"

/* ---- arena: decoded results live here until the callback returns ------ */

struct etcd_arena {
	struct etcd_arena_chunk *head;
};

/* Zeroed memory, aligned for any type; NULL on allocation failure. */
void *etcd_arena_alloc(struct etcd_arena *a, size_t size);
/* Copies len bytes and adds a NUL. */
char *etcd_arena_strndup(struct etcd_arena *a, const char *s, size_t len);
void etcd_arena_clear(struct etcd_arena *a);

/* ---- codec.c: etcd's JSON gateway quirks, in one place --------------- */

/* New reference to a JSON string holding base64(data), or NULL. */
json_t *etcd_json_b64(const void *data, size_t len);
/* Decodes base64 field `name` of obj into the arena (NUL-terminated).
 * A missing field or JSON null means empty (etcd omits zero values).
 * Returns 0 or ETCD_EPROTO (not a string, bad base64), ETCD_ENOMEM. */
int etcd_json_get_b64(const json_t *obj, const char *name,
		      struct etcd_arena *a, const char **ret, size_t *ret_len);
/* Same for a JSON value (an array element): NULL or null means empty. */
int etcd_json_decode_b64(const json_t *v, struct etcd_arena *a,
			 const char **ret, size_t *ret_len);
/* int64 field, sent by etcd as a JSON string ("12") or, rarely, a number.
 * Missing means 0.  Returns 0 or ETCD_EPROTO. */
int etcd_json_get_int64(const json_t *obj, const char *name, int64_t *ret);
int etcd_json_get_uint64(const json_t *obj, const char *name, uint64_t *ret);
/* Missing means false.  Returns 0 or ETCD_EPROTO. */
int etcd_json_get_bool(const json_t *obj, const char *name, bool *ret);
/* New reference to a JSON string holding the decimal int64. */
json_t *etcd_json_int64(int64_t v);
/* Prefix end as etcd (and etcdctl --prefix) computes it: the key with its
 * last byte that is not 0xff incremented, or "\0" for all keys.  Returns a
 * malloc'd buffer of *ret_len bytes, or NULL. */
char *etcd_prefix_end(const char *key, size_t len, size_t *ret_len);

/* Set obj[name] = base64(data) / decimal int64 string.  0 or ETCD_ENOMEM. */
int etcd_json_set_b64(json_t *obj, const char *name, const void *data,
		      size_t len);
int etcd_json_set_int64(json_t *obj, const char *name, int64_t v);

int etcd_decode_header(const json_t *obj, struct etcd_header *h);
/* Decodes one mvccpb.KeyValue. */
int etcd_decode_kv(const json_t *obj, struct etcd_arena *a, struct etcd_kv *kv);
/* An array etcd may omit (missing or null = empty): *ret_n elements and,
 * when n > 0, *ret_mem = zeroed arena memory for n elements of size bytes.
 * Returns 0, ETCD_EPROTO (not an array) or ETCD_ENOMEM. */
int etcd_json_array_alloc(const json_t *arr, size_t size,
			  struct etcd_arena *a, void **ret_mem, size_t *ret_n);
/* Decodes a JSON array of KeyValue (missing = empty). */
int etcd_decode_kvs(const json_t *arr, struct etcd_arena *a,
		    const struct etcd_kv **ret_kvs, size_t *ret_n);

/* Fills err from an error body {"error","message","code"} (or the
 * streaming form {"error":{"grpc_code","http_code","message"}}).
 * Maps gRPC codes to ETCD_E*: 5 NOT_FOUND -> ENOTFOUND, 11 OUT_OF_RANGE
 * with "compacted" -> ECOMPACTED, 7/16 -> EAUTH, others -> ESERVER. */
void etcd_decode_error(const json_t *body, long http_status,
		       struct etcd_error *err);
/* Sets err to code with a printf-style message. */
void etcd_error_set(struct etcd_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- kv.c, txn.c, lease.c: request encoders, answer decoders ---------- */

/* Sets "key" and "range_end" of obj from the (key, range_end, prefix)
 * triple of range, delete range, compare and watch requests (rules below).
 * 0, ETCD_EINVAL or ETCD_ENOMEM. */
int etcd_json_set_key_range(json_t *obj, const char *key,
			    const char *range_end, bool prefix);

/* Encoders: *ret is a new object (the gateway's request message).  Return
 * 0, ETCD_EINVAL (bad request) or ETCD_ENOMEM.  Key rules: key must be
 * non-empty unless prefix is set ("" with prefix = every key);
 * range_end "" means "every key >= key" (etcd's "\0"). */
int etcd_encode_range(const struct etcd_range_req *req, json_t **ret);
int etcd_encode_put(const struct etcd_put_req *req, json_t **ret);
int etcd_encode_delete(const struct etcd_delete_req *req, json_t **ret);
int etcd_encode_txn(const struct etcd_txn_req *req, json_t **ret);

/* Decoders of answers (objects), into arena memory.  Return 0,
 * ETCD_EPROTO (malformed / wrong types) or ETCD_ENOMEM.  Never abort,
 * whatever the input (fuzzed). */
int etcd_decode_range(const json_t *resp, struct etcd_arena *a,
		      struct etcd_range_result *res);
int etcd_decode_put(const json_t *resp, struct etcd_arena *a,
		    struct etcd_put_result *res);
int etcd_decode_delete(const json_t *resp, struct etcd_arena *a,
		       struct etcd_delete_result *res);
int etcd_decode_txn(const json_t *resp, struct etcd_arena *a,
		    struct etcd_txn_result *res);
int etcd_decode_lease_grant(const json_t *resp, int64_t *ret_id,
			    int64_t *ret_ttl);
int etcd_decode_lease_ttl(const json_t *resp, struct etcd_arena *a,
			  struct etcd_lease_ttl_result *res);
/* Keepalive answer {"result":{...}} (or the bare result): *ret_ttl = TTL,
 * 0 when the lease is gone (TTL missing). */
int etcd_decode_keepalive(const json_t *resp, int64_t *ret_ttl);

/* ---- client.c: the transport ----------------------------------------- */

struct etcd_call;

/* Unary answer: resp is the parsed body on success (borrowed), or err. */
typedef void (*etcd_call_done_cb)(void *arg, const struct etcd_error *err,
				  json_t *resp);
/* Streaming: one parsed JSON object per line (borrowed).  Runs from inside
 * curl's write callback: it may cancel the call (etcd_call_cancel), but must
 * not start or free anything else on the client synchronously. */
typedef void (*etcd_call_line_cb)(void *arg, json_t *msg);

enum etcd_call_flags {
	ETCD_CALL_STREAM = 1u << 0,  /* long-lived, lines to line_cb, no timeout */
	ETCD_CALL_NOAUTH = 1u << 1,  /* the authenticate call itself */
	/* Sending it twice does what sending it once does (a read, a
	 * keepalive refresh): after a failure that may have reached etcd
	 * (a timeout, a lost connection) it is sent to the next endpoint.
	 * Other calls are sent again only when they provably never left
	 * (see etcd.h, "Outcome unknown"). */
	ETCD_CALL_IDEMPOTENT = 1u << 2,
};

/* POSTs body (stolen, even on failure) to path ("/v3/kv/range").
 * Unary: done runs once with the answer.  Stream: line runs per message;
 * done runs once when the stream ends (err == NULL on a clean close by the
 * server, ETCD_ECONN etc. otherwise).  *ret_call (optional) is valid until
 * done runs or etcd_call_cancel().  Returns 0 or a negative code. */
int etcd_call_start(etcd_client *c, const char *path, json_t *body,
		    unsigned flags, etcd_call_done_cb done,
		    etcd_call_line_cb line, void *arg,
		    struct etcd_call **ret_call);
/* A liveness probe of a stream in flight: a linearizable count-only range
 * of key (borrowed, a base64 JSON string) sent to the member `stream` is
 * on, and only there, never re-sent elsewhere whatever fails.  A stream
 * is alive only if its own member answers: asking the client's current
 * endpoint, which may have failed over, says nothing about it.  A failure
 * moves the client off that member, as any failure there does.  done
 * and ret_call as for etcd_call_start(). */
int etcd_call_probe(etcd_client *c, const struct etcd_call *stream,
		    json_t *key, etcd_call_done_cb done, void *arg,
		    struct etcd_call **ret_call);
/* Aborts; neither callback runs afterwards.  Safe from a line callback. */
void etcd_call_cancel(struct etcd_call *call);

/* The client's loop, for modules that need timers (keepalive, backoff). */
struct ev_loop *etcd_client_loop(etcd_client *c);
/* ETCD_ECANCELED once etcd_client_free() has begun, else 0. */
int etcd_client_closing(const etcd_client *c);

/* Deferred callback: runs fn(arg) from the loop soon, never synchronously;
 * used to report errors for calls that were accepted.  The node d is the
 * caller's, inside what fn reports for (fn may free it), and must not be
 * queued twice: deferring allocates nothing, so it cannot fail, and an
 * accepted call reports exactly once even when memory has run out. */
struct etcd_defer {
	struct etcd_defer *next;
	void (*fn)(void *arg);
	void *arg;
};
void etcd_defer(etcd_client *c, struct etcd_defer *d, void (*fn)(void *arg),
		void *arg);

/* Registry of long-lived objects (watches, keepalives, campaigns, observes)
 * so that etcd_client_free() can end them: close(obj) must run the object's
 * terminal callback with ETCD_ECANCELED (or nothing, for objects whose API
 * promises no callback) and free it. */
struct etcd_handle {
	struct etcd_handle *prev, *next;
	void (*close)(struct etcd_handle *h);
};
void etcd_handle_link(etcd_client *c, struct etcd_handle *h);
void etcd_handle_unlink(etcd_client *c, struct etcd_handle *h);

#endif
