/* Leases: grant, revoke, time-to-live, and the keepalive loop (one unary
 * POST /v3/lease/keepalive per refresh, every TTL/3). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include <ev.h>

#define KA_RETRY_S 0.5 /* after a failed refresh */

/* ---- decoding --------------------------------------------------------- */

int etcd_decode_lease_grant(const json_t *resp, int64_t *ret_id,
			    int64_t *ret_ttl)
{
	const json_t *e;

	*ret_id = 0;
	*ret_ttl = 0;
	if (!json_is_object(resp))
		return ETCD_EPROTO;
	/* LeaseGrantResponse has its own "error" string. */
	e = json_object_get(resp, "error");
	if (e != NULL && !json_is_null(e) &&
	    (!json_is_string(e) || json_string_length(e) > 0))
		return ETCD_ESERVER;
	if (etcd_json_get_int64(resp, "ID", ret_id) ||
	    etcd_json_get_int64(resp, "TTL", ret_ttl) || *ret_id == 0)
		return ETCD_EPROTO;
	return 0;
}

int etcd_decode_lease_ttl(const json_t *resp, struct etcd_arena *a,
			  struct etcd_lease_ttl_result *res)
{
	const json_t *arr;
	int r;

	memset(res, 0, sizeof(*res));
	if (!json_is_object(resp))
		return ETCD_EPROTO;
	if ((r = etcd_decode_header(json_object_get(resp, "header"),
				    &res->header)) ||
	    (r = etcd_json_get_int64(resp, "ID", &res->id)) ||
	    (r = etcd_json_get_int64(resp, "TTL", &res->ttl)) ||
	    (r = etcd_json_get_int64(resp, "grantedTTL", &res->granted_ttl)))
		return r;
	arr = json_object_get(resp, "keys");
	const char **keys;
	void *mem;
	size_t n;
	if ((r = etcd_json_array_alloc(arr, sizeof(*keys), a, &mem, &n)))
		return r;
	keys = mem;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const json_t *k = json_array_get(arr, i);
		if (!json_is_string(k))
			return ETCD_EPROTO;
		if ((r = etcd_json_decode_b64(k, a, &keys[i], &len)) != 0)
			return r;
	}
	res->keys = keys;
	res->n_keys = n;
	return 0;
}

int etcd_decode_keepalive(const json_t *resp, int64_t *ret_ttl)
{
	const json_t *res;

	*ret_ttl = 0;
	if (!json_is_object(resp))
		return ETCD_EPROTO;
	res = json_object_get(resp, "result");
	if (res == NULL)
		res = resp;
	if (!json_is_object(res))
		return ETCD_EPROTO;
	if (etcd_json_get_int64(res, "TTL", ret_ttl))
		return ETCD_EPROTO;
	if (*ret_ttl < 0)
		*ret_ttl = 0;
	return 0;
}

/* ---- unary calls ------------------------------------------------------ */

enum lease_kind { LEASE_GRANT, LEASE_REVOKE, LEASE_TTL };

struct lease_ctx {
	enum lease_kind kind;
	union {
		etcd_lease_grant_cb grant;
		etcd_done_cb done;
		etcd_lease_ttl_cb ttl;
	} cb;
	void *arg;
};

static void lease_fail(struct lease_ctx *x, const struct etcd_error *err)
{
	switch (x->kind) {
	case LEASE_GRANT:
		x->cb.grant(x->arg, err, 0, 0);
		break;
	case LEASE_REVOKE:
		x->cb.done(x->arg, err, NULL);
		break;
	case LEASE_TTL:
		x->cb.ttl(x->arg, err, NULL);
		break;
	}
}

static void on_lease_done(void *arg, const struct etcd_error *err,
			  json_t *resp)
{
	struct lease_ctx *x = arg;
	struct etcd_arena a = {0};
	struct etcd_error e;
	struct etcd_lease_ttl_result ttl;
	struct etcd_header hdr;
	int64_t id, granted;
	int r = 0;

	if (err != NULL) {
		lease_fail(x, err);
		goto out;
	}
	switch (x->kind) {
	case LEASE_GRANT:
		r = etcd_decode_lease_grant(resp, &id, &granted);
		if (r == 0)
			x->cb.grant(x->arg, NULL, id, granted);
		break;
	case LEASE_REVOKE:
		r = etcd_decode_header(json_object_get(resp, "header"), &hdr);
		if (r == 0)
			x->cb.done(x->arg, NULL, &hdr);
		break;
	case LEASE_TTL:
		r = etcd_decode_lease_ttl(resp, &a, &ttl);
		if (r == 0)
			x->cb.ttl(x->arg, NULL, &ttl);
		break;
	}
	if (r != 0) {
		const char *msg = json_string_value(json_object_get(resp,
								    "error"));
		etcd_error_set(&e, r, "%s",
			       r == ETCD_ESERVER && msg ? msg
			       : r == ETCD_ENOMEM ? "out of memory"
						  : "malformed lease answer");
		lease_fail(x, &e);
	}
out:
	etcd_arena_clear(&a);
	free(x);
}

static struct lease_ctx *lease_ctx_new(enum lease_kind kind, void *arg)
{
	struct lease_ctx *x = malloc(sizeof(*x));

	if (x != NULL) {
		x->kind = kind;
		x->arg = arg;
	}
	return x;
}

/* Takes body and x (both freed on failure). */
static int lease_call(etcd_client *c, const char *path, json_t *body,
		      unsigned flags, struct lease_ctx *x)
{
	int r;

	if (body == NULL || x == NULL) {
		json_decref(body);
		free(x);
		return ETCD_ENOMEM;
	}
	r = etcd_call_start(c, path, body, flags, on_lease_done, NULL, x, NULL);
	if (r != 0)
		free(x);
	return r;
}

static json_t *id_body(int64_t id)
{
	json_t *o = json_object();

	if (o != NULL && etcd_json_set_int64(o, "ID", id) != 0)
		o = (json_decref(o), NULL);
	return o;
}

int etcd_lease_grant(etcd_client *c, int64_t ttl, int64_t id,
		     etcd_lease_grant_cb cb, void *arg)
{
	json_t *o;
	int r;

	if (c == NULL || cb == NULL || ttl <= 0 || id < 0)
		return ETCD_EINVAL;
	if ((r = etcd_client_closing(c)))
		return r;
	if ((o = json_object()) == NULL)
		return ETCD_ENOMEM;
	if (etcd_json_set_int64(o, "TTL", ttl) ||
	    (id != 0 && etcd_json_set_int64(o, "ID", id))) {
		json_decref(o);
		return ETCD_ENOMEM;
	}
	struct lease_ctx *x = lease_ctx_new(LEASE_GRANT, arg);
	if (x != NULL)
		x->cb.grant = cb;
	return lease_call(c, "/v3/lease/grant", o, 0, x);
}

int etcd_lease_revoke(etcd_client *c, int64_t id, etcd_done_cb cb, void *arg)
{
	int r;

	if (c == NULL || cb == NULL || id <= 0)
		return ETCD_EINVAL;
	if ((r = etcd_client_closing(c)))
		return r;
	struct lease_ctx *x = lease_ctx_new(LEASE_REVOKE, arg);
	if (x != NULL)
		x->cb.done = cb;
	return lease_call(c, "/v3/lease/revoke", id_body(id), 0, x);
}

int etcd_lease_ttl(etcd_client *c, int64_t id, bool keys,
		   etcd_lease_ttl_cb cb, void *arg)
{
	json_t *o;
	int r;

	if (c == NULL || cb == NULL || id <= 0)
		return ETCD_EINVAL;
	if ((r = etcd_client_closing(c)))
		return r;
	if ((o = id_body(id)) == NULL)
		return ETCD_ENOMEM;
	if (keys && json_object_set_new(o, "keys", json_true()) != 0) {
		json_decref(o);
		return ETCD_ENOMEM;
	}
	struct lease_ctx *x = lease_ctx_new(LEASE_TTL, arg);
	if (x != NULL)
		x->cb.ttl = cb;
	return lease_call(c, "/v3/lease/timetolive", o, ETCD_CALL_IDEMPOTENT,
			  x);
}

/* ---- keepalive loop ----------------------------------------------------
 *
 * One timer drives everything: it fires at the next refresh time or at the
 * local deadline, whichever is first.  A refresh in flight when the
 * deadline passes is canceled and the loop reports EXPIRED.
 *
 * The deadline is the TTL counted from when the last successful refresh
 * was sent, not from its answer: etcd renews the lease when it handles
 * the refresh, somewhere between the two, so counting from the answer
 * would outlive the server's expiry by the return trip and by whatever
 * delayed the loop before it read the answer.
 */

struct etcd_keepalive {
	struct etcd_handle h; /* first: close() casts back */
	etcd_client *c;
	struct ev_loop *loop; /* stays valid if c is freed from a callback */
	int64_t id;
	double ttl;           /* seconds, last granted */
	etcd_keepalive_cb cb;
	void *arg;
	ev_timer timer;
	ev_tstamp deadline;   /* expire locally when reached */
	ev_tstamp next;       /* next refresh */
	ev_tstamp sent_at;    /* when the refresh in flight was sent */
	struct etcd_call *call; /* refresh in flight */
	int in_cb;
	bool stopped;         /* etcd_lease_keepalive_stop() ran */
	bool finished;        /* expired: no more refreshes, no callbacks */
};

static void ka_free(etcd_keepalive *ka)
{
	ev_timer_stop(ka->loop, &ka->timer);
	etcd_call_cancel(ka->call);
	ka->call = NULL;
	etcd_handle_unlink(ka->c, &ka->h);
	free(ka);
}

/* Runs the callback; returns false if the keepalive was stopped (and
 * freed) from inside it. */
static bool ka_report(etcd_keepalive *ka, enum etcd_keepalive_event ev,
		      const struct etcd_error *err, int64_t ttl)
{
	ka->in_cb++;
	ka->cb(ka->arg, ev, err, ttl);
	ka->in_cb--;
	if (ka->stopped && ka->in_cb == 0) {
		ka_free(ka);
		return false;
	}
	return !ka->stopped;
}

static void ka_arm(etcd_keepalive *ka)
{
	struct ev_loop *loop = ka->loop;
	ev_tstamp at = ka->call != NULL || ka->next > ka->deadline
			       ? ka->deadline : ka->next;
	ev_tstamp now = ev_now(loop);

	ev_timer_stop(loop, &ka->timer);
	ev_timer_set(&ka->timer, at > now ? at - now : 0., 0.);
	ev_timer_start(loop, &ka->timer);
}

static void ka_expire(etcd_keepalive *ka, const struct etcd_error *err)
{
	struct etcd_error e;

	ka->finished = true;
	ev_timer_stop(ka->loop, &ka->timer);
	etcd_call_cancel(ka->call);
	ka->call = NULL;
	if (err == NULL) {
		etcd_error_set(&e, ETCD_ENOTFOUND,
			       "lease %lld expired or revoked",
			       (long long)ka->id);
		err = &e;
	}
	ka_report(ka, ETCD_KEEPALIVE_EXPIRED, err, 0);
}

static void on_ka_answer(void *arg, const struct etcd_error *err,
			 json_t *resp);

/* Returns false if the keepalive was stopped (and freed) meanwhile. */
static bool ka_send(etcd_keepalive *ka)
{
	json_t *body = id_body(ka->id);
	struct etcd_error e;
	int r;

	ev_now_update(ka->loop);
	ka->sent_at = ev_now(ka->loop);
	if (body == NULL) {
		r = ETCD_ENOMEM;
	} else {
		r = etcd_call_start(ka->c, "/v3/lease/keepalive", body,
				    ETCD_CALL_IDEMPOTENT,
				    on_ka_answer, NULL, ka, &ka->call);
	}
	if (r == 0)
		return true;
	ka->call = NULL;
	ka->next = ev_now(ka->loop) + KA_RETRY_S;
	etcd_error_set(&e, r, "lease %lld: could not send a refresh",
		       (long long)ka->id);
	if (!ka_report(ka, ETCD_KEEPALIVE_ERROR, &e, 0))
		return false;
	ka_arm(ka);
	return true;
}

static void on_ka_answer(void *arg, const struct etcd_error *err,
			 json_t *resp)
{
	etcd_keepalive *ka = arg;
	struct ev_loop *loop = ka->loop;
	struct etcd_error e;
	int64_t ttl = 0;

	ka->call = NULL;
	ev_now_update(loop);
	ev_tstamp now = ev_now(loop);
	if (err == NULL && etcd_decode_keepalive(resp, &ttl) != 0) {
		etcd_error_set(&e, ETCD_EPROTO, "lease %lld: malformed answer",
			       (long long)ka->id);
		err = &e;
	}
	if (err != NULL) {
		if (err->code == ETCD_ENOTFOUND) {
			ka_expire(ka, err);
			return;
		}
		if (now >= ka->deadline) {
			ka_expire(ka, NULL);
			return;
		}
		ka->next = now + (ka->ttl / 3 < KA_RETRY_S ? ka->ttl / 3
							     : KA_RETRY_S);
		if (!ka_report(ka, ETCD_KEEPALIVE_ERROR, err, 0))
			return;
		ka_arm(ka);
		return;
	}
	if (ttl <= 0 || now >= ka->sent_at + (double)ttl) {
		ka_expire(ka, NULL);
		return;
	}
	ka->ttl = (double)ttl;
	ka->deadline = ka->sent_at + ka->ttl;
	ka->next = ka->sent_at + ka->ttl / 3;
	if (!ka_report(ka, ETCD_KEEPALIVE_REFRESHED, NULL, ttl))
		return;
	ka_arm(ka);
}

static void on_ka_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	etcd_keepalive *ka = w->data;

	(void)revents;
	ev_now_update(loop);
	if (ev_now(loop) >= ka->deadline) {
		ka_expire(ka, NULL);
		return;
	}
	if (ka->call == NULL) {
		if (!ka_send(ka) || ka->call == NULL)
			return; /* stopped, or reported and re-armed */
	}
	ka_arm(ka);
}

/* etcd_client_free(): stop silently (the API promises no callback). */
static void ka_close(struct etcd_handle *h)
{
	etcd_keepalive *ka = (etcd_keepalive *)h;

	if (ka->in_cb > 0) {
		/* Freed from inside our own callback: finish there. */
		ka->stopped = true;
		ev_timer_stop(ka->loop, &ka->timer);
		etcd_call_cancel(ka->call);
		ka->call = NULL;
		return;
	}
	ka_free(ka);
}

int etcd_lease_keepalive_start(etcd_client *c, int64_t id, int64_t ttl,
			       etcd_keepalive_cb cb, void *arg,
			       etcd_keepalive **ret_ka)
{
	etcd_keepalive *ka;
	int r;

	if (c == NULL || cb == NULL || ret_ka == NULL || id <= 0 || ttl <= 0)
		return ETCD_EINVAL;
	if ((r = etcd_client_closing(c)))
		return r;
	if ((ka = calloc(1, sizeof(*ka))) == NULL)
		return ETCD_ENOMEM;
	struct ev_loop *loop = etcd_client_loop(c);
	ka->h.close = ka_close;
	ka->c = c;
	ka->loop = loop;
	ka->id = id;
	ka->ttl = (double)ttl;
	ka->cb = cb;
	ka->arg = arg;
	ev_timer_init(&ka->timer, on_ka_timer, 0., 0.);
	ka->timer.data = ka;
	ev_now_update(loop);
	ka->sent_at = ev_now(loop);
	ka->deadline = ka->sent_at + ka->ttl;
	ka->next = ka->deadline; /* until the first answer */
	json_t *body = id_body(id);
	if (body == NULL) {
		free(ka);
		return ETCD_ENOMEM;
	}
	r = etcd_call_start(c, "/v3/lease/keepalive", body,
			    ETCD_CALL_IDEMPOTENT, on_ka_answer, NULL, ka,
			    &ka->call);
	if (r != 0) {
		free(ka);
		return r;
	}
	etcd_handle_link(c, &ka->h);
	ka_arm(ka);
	*ret_ka = ka;
	return 0;
}

etcd_keepalive *etcd_lease_keepalive_stop(etcd_keepalive *ka)
{
	if (ka == NULL || ka->stopped)
		return NULL;
	if (ka->in_cb > 0) {
		ka->stopped = true;
		ev_timer_stop(ka->loop, &ka->timer);
		etcd_call_cancel(ka->call);
		ka->call = NULL;
		return NULL;
	}
	ka_free(ka);
	return NULL;
}
