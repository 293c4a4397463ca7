/*
 * etcdclient — an asynchronous etcd v3 client over etcd's JSON gateway.
 *
 * Transport: libcurl's multi interface on a libev loop (evcurl.h), HTTP/1.1
 * keep-alive, one POST per call to /v3/...; watches, campaigns and observes
 * are long-lived streaming requests.  JSON with jansson.
 *
 * Calling convention
 *  - Every call returns 0 when the request was queued, or a negative code
 *    (-EINVAL, -ENOMEM, ETCD_E*) when it was not; the callback then never
 *    runs.  When 0 is returned the callback runs exactly once, later, from
 *    the loop (never from inside the call), with err == NULL on success or
 *    a typed error.
 *  - Everything a callback receives (results, keys, values, err) is
 *    borrowed, valid until the callback returns.  Copy what you keep.
 *  - Request structs and the strings they point to are copied (encoded)
 *    before the call returns; the caller may free them afterwards.
 *  - Keys are NUL-terminated strings.  Values are (pointer, length) and
 *    binary-safe; decoded values also carry a NUL terminator for convenience.
 *  - etcd_client_free() aborts what is in flight and runs each pending
 *    callback with ETCD_ECANCELED so callers can free their contexts;
 *    a callback must not start new calls on a client being freed (they fail
 *    with ETCD_ECANCELED).  Never free the client from inside one of its
 *    own callbacks: break the loop (ev_break) or defer it to a watcher of
 *    your own, then free.
 *  - The library never logs, prints or exits.
 *
 * Failover and "outcome unknown": a call goes to the client's current
 * endpoint; when that fails the client moves on to the next.  A call is
 * sent again, to the next endpoint, only if its request provably never
 * left (connection refused, connect or TLS handshake not finished, no
 * request byte written) or if it is a read
 * (range, list, lease time-to-live, election leader, keepalive refresh:
 * sending those twice does no harm).  A write (put, delete, txn,
 * compaction, lease grant or revoke, campaign, proclaim, resign) that
 * fails once its request may have reached etcd - a timeout on a stalled
 * member, a connection lost before the answer, etcd's own "request timed
 * out" - is reported with err->outcome_unknown set: etcd may have
 * applied it, or may apply it later (a stopped member applies what sat
 * in its socket buffer when it resumes), after writes the caller sent
 * since.  Treat it as neither done nor failed: re-read, or retry with a
 * txn whose compares make a late copy harmless (the key's mod revision
 * or value as last seen); a lease grant may have created a lease, which
 * expires unless kept alive.
 *
 * Ordering: calls in flight at the same time travel on separate keep-alive
 * connections and may reach etcd in any order.  Two writes to one key must
 * be sequenced by the caller (start the second from the first's callback)
 * or guarded by a compare in a txn.
 *
 * Threading: none.  One client belongs to one ev_loop and is used from the
 * thread that runs it.
 */
#ifndef FLINTSCHED_ETCD_H
#define FLINTSCHED_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;

typedef struct etcd_client etcd_client;
typedef struct etcd_watch etcd_watch;
typedef struct etcd_keepalive etcd_keepalive;
typedef struct etcd_campaign etcd_campaign;
typedef struct etcd_observe etcd_observe;

/* ---- errors ----------------------------------------------------------- */

enum etcd_errcode {
	ETCD_OK = 0,
	ETCD_ECONN = -1000,    /* could not reach any endpoint / connection lost */
	ETCD_ETIMEDOUT = -1001, /* no answer within request_timeout_ms */
	ETCD_ENOTFOUND = -1002, /* key, lease or leader does not exist */
	ETCD_ECOMPACTED = -1003, /* revision compacted (watch or range) */
	ETCD_EAUTH = -1004,     /* authentication failed or permission denied */
	ETCD_ESERVER = -1005,   /* etcd answered an error: see grpc_code/message */
	ETCD_EPROTO = -1006,    /* malformed or unexpected answer */
	ETCD_ENOMEM = -1007,
	ETCD_EINVAL = -1008,    /* bad argument */
	ETCD_ECANCELED = -1009, /* canceled by the caller or by client_free */
	ETCD_ETLS = -1010,      /* TLS setup or handshake failed */
};

struct etcd_error {
	int code;          /* enum etcd_errcode */
	int grpc_code;     /* gRPC status code from etcd, 0 if none */
	long http_status;  /* HTTP status, 0 if none */
	int64_t compact_revision; /* with ETCD_ECOMPACTED */
	char message[256]; /* human readable, NUL-terminated */
	/* The request may have reached etcd: it may have been applied, or
	 * may still be, later (see "Failover and outcome unknown" above).
	 * Set on ETCD_ETIMEDOUT and ETCD_ECONN once the request may have
	 * been written, and on etcd's own timeouts (ETCD_ESERVER with gRPC
	 * code 4 or 14); it matters for writes (a read that failed
	 * everywhere may carry it too).  Never set on errors of calls that
	 * were not sent (queued behind a failed authenticate, say). */
	bool outcome_unknown;
};

/* Static string naming an error code ("connection failed", ...). */
const char *etcd_strerror(int code);

/* ---- client ----------------------------------------------------------- */

struct etcd_config {
	const char *const *endpoints; /* "http://127.0.0.1:2379", ... */
	size_t n_endpoints;
	const char *username;     /* NULL or "" = no auth */
	const char *password;
	const char *ca_file;      /* TLS: NULL or "" = system default */
	const char *cert_file;    /* client certificate, optional */
	const char *key_file;
	long request_timeout_ms;  /* unary calls; 0 = 5000 */
	long connect_timeout_ms;  /* 0 = 2000 */
	/* Unary calls on the wire at once (0 = 64); more wait in order, their
	 * request timeout starting when they are sent, so that a burst
	 * (thousands of simulated hosts granting leases) does not open a
	 * connection per call and drown etcd.  Streams (watch, campaign,
	 * observe) do not count. */
	long max_requests;
};

/* Copies cfg.  Returns 0 and *ret_c, or -EINVAL / -ENOMEM. */
int etcd_client_new(struct ev_loop *loop, const struct etcd_config *cfg,
		    etcd_client **ret_c);
/* Accepts NULL; returns NULL.  See the calling convention above. */
etcd_client *etcd_client_free(etcd_client *c);
/* The endpoint currently in use (borrowed). */
const char *etcd_client_endpoint(const etcd_client *c);

/* ---- data ------------------------------------------------------------- */

struct etcd_header {
	uint64_t cluster_id;
	uint64_t member_id;
	int64_t revision;
	int64_t raft_term;
};

struct etcd_kv {
	const char *key;   /* NUL-terminated */
	size_t key_len;
	const char *value; /* NUL-terminated too, but may hold NULs */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

/* ---- KV --------------------------------------------------------------- */

enum etcd_sort_order { ETCD_SORT_NONE, ETCD_SORT_ASCEND, ETCD_SORT_DESCEND };
enum etcd_sort_target {
	ETCD_SORT_KEY, ETCD_SORT_VERSION, ETCD_SORT_CREATE, ETCD_SORT_MOD,
	ETCD_SORT_VALUE
};

/* range_end: NULL = single key; prefix = true derives it from key. */
struct etcd_range_req {
	const char *key;
	const char *range_end;
	bool prefix;
	int64_t limit;
	int64_t revision;   /* 0 = latest */
	bool keys_only;
	bool count_only;
	bool serializable;
	enum etcd_sort_order sort_order;
	enum etcd_sort_target sort_target;
};

struct etcd_range_result {
	struct etcd_header header;
	const struct etcd_kv *kvs;
	size_t n_kvs;
	int64_t count;
	bool more;
};

struct etcd_put_req {
	const char *key;
	const char *value;
	size_t value_len;
	int64_t lease;      /* 0 = none */
	bool prev_kv;
	bool ignore_value;
	bool ignore_lease;
};

struct etcd_put_result {
	struct etcd_header header;
	const struct etcd_kv *prev_kv; /* NULL unless asked and existed */
};

struct etcd_delete_req {
	const char *key;
	const char *range_end;
	bool prefix;
	bool prev_kv;
};

struct etcd_delete_result {
	struct etcd_header header;
	int64_t deleted;
	const struct etcd_kv *prev_kvs;
	size_t n_prev_kvs;
};

typedef void (*etcd_range_cb)(void *arg, const struct etcd_error *err,
			      const struct etcd_range_result *res);
typedef void (*etcd_put_cb)(void *arg, const struct etcd_error *err,
			    const struct etcd_put_result *res);
typedef void (*etcd_delete_cb)(void *arg, const struct etcd_error *err,
			       const struct etcd_delete_result *res);
/* For calls whose answer carries nothing but a header. */
typedef void (*etcd_done_cb)(void *arg, const struct etcd_error *err,
			     const struct etcd_header *hdr);

int etcd_kv_range(etcd_client *c, const struct etcd_range_req *req,
		  etcd_range_cb cb, void *arg);
int etcd_kv_put(etcd_client *c, const struct etcd_put_req *req,
		etcd_put_cb cb, void *arg);
int etcd_kv_delete(etcd_client *c, const struct etcd_delete_req *req,
		   etcd_delete_cb cb, void *arg);
int etcd_kv_compact(etcd_client *c, int64_t revision, bool physical,
		    etcd_done_cb cb, void *arg);

/*
 * Lists a whole range at one revision, page_size keys per request, so that
 * a large prefix never needs one huge answer in memory (etcd's answer, its
 * JSON tree and the decoded kvs all scale with the page, not the range).
 * cb runs once per page, in key order, with last == true on the final one
 * (possibly empty); page->header.revision is the list's revision, the
 * same for every page: watch from it + 1.  An error ends the list (cb
 * runs once with err; ETCD_ECOMPACTED if the revision was compacted
 * between pages: list again).  req->revision, if set, pins the revision;
 * req->limit must be 0; count_only is refused.
 */
typedef void (*etcd_list_cb)(void *arg, const struct etcd_error *err,
			     const struct etcd_range_result *page, bool last);
int etcd_kv_list(etcd_client *c, const struct etcd_range_req *req,
		 int64_t page_size, etcd_list_cb cb, void *arg);

/* ---- txn -------------------------------------------------------------- */

enum etcd_cmp_target {
	ETCD_CMP_VERSION, ETCD_CMP_CREATE, ETCD_CMP_MOD, ETCD_CMP_VALUE,
	ETCD_CMP_LEASE
};
enum etcd_cmp_result {
	ETCD_CMP_EQUAL, ETCD_CMP_GREATER, ETCD_CMP_LESS, ETCD_CMP_NOT_EQUAL
};

struct etcd_compare {
	enum etcd_cmp_target target;
	enum etcd_cmp_result result;
	const char *key;
	const char *range_end; /* optional */
	int64_t number;        /* version / create / mod revision / lease id */
	const char *value;     /* ETCD_CMP_VALUE */
	size_t value_len;
};

enum etcd_op_type { ETCD_OP_RANGE, ETCD_OP_PUT, ETCD_OP_DELETE, ETCD_OP_TXN };

struct etcd_txn_req;

struct etcd_op {
	enum etcd_op_type type;
	union {
		struct etcd_range_req range;
		struct etcd_put_req put;
		struct etcd_delete_req del;
		const struct etcd_txn_req *txn;
	} u;
};

struct etcd_txn_req {
	const struct etcd_compare *compare;
	size_t n_compare;
	const struct etcd_op *success;
	size_t n_success;
	const struct etcd_op *failure;
	size_t n_failure;
};

struct etcd_txn_result;

struct etcd_op_result {
	enum etcd_op_type type;
	union {
		struct etcd_range_result range;
		struct etcd_put_result put;
		struct etcd_delete_result del;
		const struct etcd_txn_result *txn;
	} u;
};

struct etcd_txn_result {
	struct etcd_header header;
	bool succeeded;
	const struct etcd_op_result *responses; /* of the branch that ran */
	size_t n_responses;
};

typedef void (*etcd_txn_cb)(void *arg, const struct etcd_error *err,
			    const struct etcd_txn_result *res);

int etcd_kv_txn(etcd_client *c, const struct etcd_txn_req *req,
		etcd_txn_cb cb, void *arg);

/* ---- lease ------------------------------------------------------------ */

typedef void (*etcd_lease_grant_cb)(void *arg, const struct etcd_error *err,
				    int64_t id, int64_t ttl);
/* ttl: -1 and ETCD_ENOTFOUND-free success means "no such lease". */
struct etcd_lease_ttl_result {
	struct etcd_header header;
	int64_t id;
	int64_t ttl;          /* remaining seconds, -1 if the lease is gone */
	int64_t granted_ttl;
	const char *const *keys; /* when asked */
	size_t n_keys;
};
typedef void (*etcd_lease_ttl_cb)(void *arg, const struct etcd_error *err,
				  const struct etcd_lease_ttl_result *res);

/* id 0 = let etcd choose.  ttl in seconds (etcd enforces a minimum). */
int etcd_lease_grant(etcd_client *c, int64_t ttl, int64_t id,
		     etcd_lease_grant_cb cb, void *arg);
int etcd_lease_revoke(etcd_client *c, int64_t id, etcd_done_cb cb, void *arg);
int etcd_lease_ttl(etcd_client *c, int64_t id, bool keys,
		   etcd_lease_ttl_cb cb, void *arg);

enum etcd_keepalive_event {
	ETCD_KEEPALIVE_REFRESHED, /* ttl = granted TTL the server answered */
	ETCD_KEEPALIVE_ERROR,     /* transient failure (err set); retrying */
	ETCD_KEEPALIVE_EXPIRED,   /* lease gone: server answered no TTL, or a
				   * whole TTL passed since the last refresh
				   * that succeeded was sent (etcd renews on
				   * receipt, so this is never later than
				   * etcd's own expiry).  The loop has
				   * stopped; free it. */
};
typedef void (*etcd_keepalive_cb)(void *arg, enum etcd_keepalive_event ev,
				  const struct etcd_error *err, int64_t ttl);

/* Refreshes lease id every ttl/3 seconds (ttl = its granted TTL) until
 * stopped or expired.  The first refresh is sent at once. */
int etcd_lease_keepalive_start(etcd_client *c, int64_t id, int64_t ttl,
			       etcd_keepalive_cb cb, void *arg,
			       etcd_keepalive **ret_ka);
/* Stops without revoking; no further callbacks.  May be called from the
 * callback.  Accepts NULL; returns NULL. */
etcd_keepalive *etcd_lease_keepalive_stop(etcd_keepalive *ka);

/* ---- watch ------------------------------------------------------------ */

struct etcd_watch_req {
	const char *key;
	const char *range_end;
	bool prefix;
	int64_t start_revision; /* 0 = from now */
	bool prev_kv;
	bool progress_notify;
	bool no_put;
	bool no_delete;
};

enum etcd_event_type { ETCD_EVENT_PUT, ETCD_EVENT_DELETE };

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv;      /* for DELETE: key and mod_revision only */
	const struct etcd_kv *prev_kv; /* NULL unless asked and known */
};

enum etcd_watch_kind {
	ETCD_WATCH_CREATED,      /* stream (re)established */
	ETCD_WATCH_EVENTS,       /* events[0..n_events) */
	ETCD_WATCH_PROGRESS,     /* header.revision: all events up to it seen */
	ETCD_WATCH_RECONNECTING, /* transient loss (err set); resuming from
				  * the last revision seen + 1 with backoff */
	ETCD_WATCH_COMPACTED,    /* terminal: err->compact_revision is set;
				  * re-list and start a new watch */
	ETCD_WATCH_FAILED,       /* terminal: err says why */
};

struct etcd_watch_update {
	enum etcd_watch_kind kind;
	struct etcd_header header;
	const struct etcd_event *events;
	size_t n_events;
	const struct etcd_error *err;
};

typedef void (*etcd_watch_cb)(void *arg, const struct etcd_watch_update *u);

/* Starts a watch; updates arrive until it is canceled or ends (COMPACTED,
 * FAILED).  After a terminal update the caller still owns the handle and
 * frees it with etcd_watch_cancel().  etcd_client_free() ends a live watch
 * with FAILED / ETCD_ECANCELED; the handle stays valid (detached) until
 * canceled.  Callbacks run from the loop, never from inside the transport,
 * so they may start calls or cancel any watch.  A stream silent for 30 s is
 * probed with a range sent to the stream's own member (the client's
 * current endpoint may have failed over elsewhere meanwhile); if that
 * member does not answer, the stream is re-established on another
 * (RECONNECTING).  Errors that resuming cannot fix (permission, invalid
 * request, malformed message) are FAILED. */
int etcd_watch_start(etcd_client *c, const struct etcd_watch_req *req,
		     etcd_watch_cb cb, void *arg, etcd_watch **ret_w);
/* Stops and frees; no further callbacks.  May be called from the callback.
 * Accepts NULL; returns NULL. */
etcd_watch *etcd_watch_cancel(etcd_watch *w);
/* Revision the watch will resume from on reconnect. */
int64_t etcd_watch_next_revision(const etcd_watch *w);

/* ---- election --------------------------------------------------------- */

/* What etcd calls a LeaderKey.  Keep a copy while leader: `rev` is the
 * create revision of our key, the fencing token to compare in txns
 * (ETCD_CMP_CREATE on `key` EQUAL rev). */
struct etcd_leader_key {
	const char *name;
	const char *key;
	int64_t rev;
	int64_t lease;
};

/* Called once: elected (err NULL; the leader key was verified to still
 * exist under our lease with that create revision), or an error
 * (ETCD_ECANCELED if canceled, ETCD_ENOTFOUND if the lease vanished). */
typedef void (*etcd_campaign_cb)(void *arg, const struct etcd_error *err,
				 const struct etcd_leader_key *leader);

/* Long-lived: no request timeout applies.  The lease must be kept alive by
 * the caller.  The campaign's stream is silent until we lead, so while
 * it waits its own member is probed every 5 s (a read under the request
 * timeout): if that member does not answer (stopped, cut off from the
 * quorum), the campaign withdraws our candidacy key (which may lead
 * already, with nobody acting for it) and then fails with the probe's
 * error (ETCD_ETIMEDOUT, or ETCD_ECONN): campaign again, which goes to a
 * member that answers. */
int etcd_election_campaign(etcd_client *c, const char *name, int64_t lease,
			   const char *value, size_t value_len,
			   etcd_campaign_cb cb, void *arg,
			   etcd_campaign **ret_camp);
/* Aborts a pending campaign (etcd then withdraws our candidacy); no
 * callback after this.  Also frees a finished campaign without resigning
 * (leadership lasts until etcd_election_resign() or the lease ends).  May
 * be called from the callback.  Accepts NULL; returns NULL.
 * etcd_client_free() runs a pending campaign's callback with
 * ETCD_ECANCELED; free the handle afterwards with this function. */
etcd_campaign *etcd_campaign_cancel(etcd_campaign *camp);

typedef void (*etcd_leader_cb)(void *arg, const struct etcd_error *err,
			       const struct etcd_kv *leader);
/* ETCD_ENOTFOUND when the election has no leader; proclaim answers
 * ETCD_ENOTFOUND when lk no longer leads (resigned, lease gone), while
 * resigning a key that is already gone succeeds. */
int etcd_election_leader(etcd_client *c, const char *name, etcd_leader_cb cb,
			 void *arg);
int etcd_election_proclaim(etcd_client *c, const struct etcd_leader_key *lk,
			   const char *value, size_t value_len,
			   etcd_done_cb cb, void *arg);
int etcd_election_resign(etcd_client *c, const struct etcd_leader_key *lk,
			 etcd_done_cb cb, void *arg);

/* Streams the leader's kv each time it changes (err NULL), until canceled
 * or a terminal error (err set; then free with etcd_observe_cancel).  Any
 * end of the stream is terminal (ETCD_ECONN if etcd closed it); there is
 * no automatic resume.  Changes include proclaims (same key, new value).
 * The stream's own member is probed every 30 s (a read under the request
 * timeout); if it does not answer, the observe ends with that error
 * (ETCD_ETIMEDOUT typically). */
int etcd_election_observe(etcd_client *c, const char *name, etcd_leader_cb cb,
			  void *arg, etcd_observe **ret_obs);
etcd_observe *etcd_observe_cancel(etcd_observe *obs);

/* ---- blocking layer ---------------------------------------------------
 *
 * For simple tools and tests: each call runs the client's loop until its
 * answer arrives (other watchers on that loop run meanwhile).  Results are
 * deep copies owned by the caller; free with the matching *_free.  Return
 * 0 or a negative code; *err (optional) is filled on failure.
 */

struct etcd_sync_kv {
	char *key;
	char *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

struct etcd_sync_range {
	int64_t revision;
	int64_t count;
	bool more;
	struct etcd_sync_kv *kvs;
	size_t n_kvs;
};

struct etcd_sync_range *etcd_sync_range_free(struct etcd_sync_range *r);

int etcd_sync_get(etcd_client *c, const struct etcd_range_req *req,
		  struct etcd_sync_range **ret_r, struct etcd_error *err);
/* ret_revision optional */
int etcd_sync_put(etcd_client *c, const char *key, const char *value,
		  size_t value_len, int64_t lease, int64_t *ret_revision,
		  struct etcd_error *err);
int etcd_sync_delete(etcd_client *c, const char *key, bool prefix,
		     int64_t *ret_deleted, struct etcd_error *err);
/* *ret_succeeded = whether the compares held. */
int etcd_sync_txn(etcd_client *c, const struct etcd_txn_req *req,
		  bool *ret_succeeded, int64_t *ret_revision,
		  struct etcd_error *err);
int etcd_sync_lease_grant(etcd_client *c, int64_t ttl, int64_t *ret_id,
			  struct etcd_error *err);
int etcd_sync_lease_revoke(etcd_client *c, int64_t id, struct etcd_error *err);

#endif
