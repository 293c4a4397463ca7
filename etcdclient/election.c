/* Elections over etcd's v3election gateway (/v3/election/...), the same
 * service `etcdctl elect` uses: candidates are keys "<name>/<lease hex>"
 * under the caller's lease; the lowest create revision leads.
 *
 * Campaign.  The campaign call blocks until we lead, so it runs as a
 * stream (no request timeout; its single answer arrives as the stream's
 * one message).  Aborting that HTTP request makes etcd withdraw the
 * candidacy (it deletes our key).  A campaign can return after our lease
 * expired (etcd issue 11051), so before reporting success a txn checks
 * that leader.key still exists with create revision leader.rev and our
 * lease.  leader.rev is the fencing token.  Canceling after etcd answered
 * but before the check finished resigns in the background, so that a
 * cancel always leaves us without the leadership.  Freeing a finished,
 * successful campaign does not resign: leadership lasts until
 * etcd_election_resign() or the lease ends.
 *
 * Observe.  Answers are queued and reported from a zero-delay timer, never
 * from inside curl, so the callback may do anything.  Any end of the
 * stream is terminal (err set, ETCD_ECONN when etcd closed it), and so is
 * a failed probe: every 30 s a read goes to the stream's own member.
 *
 * Liveness.  A campaign's stream and an observe's are silent for as long
 * as the leadership does not change, and a stopped member keeps its
 * sockets open: both probe their own member (etcd_call_probe),
 * not the client's current endpoint, which may have failed over.
 *
 * etcd_client_free() runs a pending campaign's or a live observe's
 * callback with ETCD_ECANCELED; the handles stay valid (detached) until
 * freed with etcd_campaign_cancel() / etcd_observe_cancel().
 *
 * etcd answers election failures with gRPC code 2 and a message; "no
 * leader", "not leader", "session expired" and "requested lease not found"
 * are reported as ETCD_ENOTFOUND.
 */
#include "watch_election.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

static void map_error(const struct etcd_error *in, struct etcd_error *out)
{
	static const char *const gone[] = {
	    "election: no leader",
	    "election: not leader",
	    "session expired",
	    "requested lease not found",
	};

	*out = *in;
	if (out->code != ETCD_ESERVER)
		return;
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		if (strstr(out->message, gone[i]) != NULL)
			out->code = ETCD_ENOTFOUND;
}

/* ---- decoders --------------------------------------------------------- */

int etcd_leader_key_decode(const json_t *resp, struct etcd_arena *a,
			   struct etcd_leader_key *lk)
{
	const json_t *l = json_object_get(resp, "leader");
	const char *name, *key;
	size_t n;
	int r;

	memset(lk, 0, sizeof(*lk));
	if (!json_is_object(l))
		return ETCD_EPROTO;
	if ((r = etcd_json_get_b64(l, "name", a, &name, &n)) != 0 ||
	    (r = etcd_json_get_b64(l, "key", a, &key, &n)) != 0)
		return r;
	if (etcd_json_get_int64(l, "rev", &lk->rev) ||
	    etcd_json_get_int64(l, "lease", &lk->lease))
		return ETCD_EPROTO;
	if (n == 0 || lk->rev <= 0)
		return ETCD_EPROTO;
	lk->name = name;
	lk->key = key;
	return 0;
}

int etcd_observe_decode(const json_t *msg, struct etcd_arena *a,
			struct etcd_kv *kv, struct etcd_error *err)
{
	const json_t *res, *jkv, *kvs;
	int r;

	memset(kv, 0, sizeof(*kv));
	memset(err, 0, sizeof(*err));
	if (!json_is_object(msg)) {
		r = ETCD_EPROTO;
		goto fail;
	}
	res = json_object_get(msg, "result");
	if (res == NULL && json_object_get(msg, "error") != NULL) {
		struct etcd_error e;
		etcd_decode_error(msg, 0, &e);
		map_error(&e, err);
		return err->code != 0 ? err->code : ETCD_ESERVER;
	}
	if (!json_is_object(res)) {
		r = ETCD_EPROTO;
		goto fail;
	}
	jkv = json_object_get(res, "kv");
	if (jkv == NULL || json_is_null(jkv)) {
		kvs = json_object_get(res, "kvs");
		if (kvs != NULL && !json_is_null(kvs) && !json_is_array(kvs)) {
			r = ETCD_EPROTO;
			goto fail;
		}
		jkv = json_array_get(kvs, 0);
	}
	if (jkv == NULL)
		return 1;
	r = etcd_decode_kv(jkv, a, kv);
	if (r == 0 && kv->key_len == 0)
		r = ETCD_EPROTO;
	if (r == 0)
		return 0;
fail:
	memset(kv, 0, sizeof(*kv));
	if (r != ETCD_ENOMEM)
		r = ETCD_EPROTO;
	etcd_error_set(err, r, "observe: %s",
		       r == ETCD_ENOMEM ? "out of memory"
					: "malformed message in stream");
	return r;
}

/* ---- unary calls ------------------------------------------------------ */

struct unary {
	etcd_client *c;
	etcd_leader_cb leader_cb;
	etcd_done_cb done_cb;
	void *arg;
};

static void on_leader(void *arg, const struct etcd_error *err, json_t *resp)
{
	struct unary *u = arg;
	struct etcd_arena a = {0};
	struct etcd_error e;
	struct etcd_kv kv;
	const json_t *jkv = json_object_get(resp, "kv");

	if (err != NULL) {
		map_error(err, &e);
	} else if (jkv == NULL || json_is_null(jkv)) {
		etcd_error_set(&e, ETCD_ENOTFOUND, "election: no leader");
	} else {
		int r = etcd_decode_kv(jkv, &a, &kv);
		if (r == 0) {
			u->leader_cb(u->arg, NULL, &kv);
			goto out;
		}
		etcd_error_set(&e, r, "election leader: %s",
			       r == ETCD_ENOMEM ? "out of memory"
						: "malformed answer");
	}
	u->leader_cb(u->arg, &e, NULL);
out:
	etcd_arena_clear(&a);
	free(u);
}

static void on_done(void *arg, const struct etcd_error *err, json_t *resp)
{
	struct unary *u = arg;
	struct etcd_header h;
	struct etcd_error e;

	if (err != NULL) {
		map_error(err, &e);
		u->done_cb(u->arg, &e, NULL);
	} else if (etcd_decode_header(json_object_get(resp, "header"), &h)) {
		etcd_error_set(&e, ETCD_EPROTO, "election: malformed header");
		u->done_cb(u->arg, &e, NULL);
	} else {
		u->done_cb(u->arg, NULL, &h);
	}
	free(u);
}

static int unary_start(etcd_client *c, const char *path, json_t *body,
		       etcd_leader_cb lcb, etcd_done_cb dcb, void *arg)
{
	struct unary *u = calloc(1, sizeof(*u));
	int r;

	if (u == NULL) {
		json_decref(body);
		return ETCD_ENOMEM;
	}
	u->c = c;
	u->leader_cb = lcb;
	u->done_cb = dcb;
	u->arg = arg;
	/* Asking for the leader is idempotent: it may be re-sent. */
	r = etcd_call_start(c, path, body, lcb ? ETCD_CALL_IDEMPOTENT : 0,
			    lcb ? on_leader : on_done, NULL, u, NULL);
	if (r != 0)
		free(u);
	return r;
}

/* {"name","key","rev","lease"} of lk, a new object, or NULL. */
static json_t *leader_json(const struct etcd_leader_key *lk)
{
	json_t *o = json_object();

	if (o == NULL || etcd_json_set_b64(o, "name", lk->name, strlen(lk->name)) ||
	    etcd_json_set_b64(o, "key", lk->key, strlen(lk->key)) ||
	    etcd_json_set_int64(o, "rev", lk->rev) || etcd_json_set_int64(o, "lease", lk->lease)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int etcd_election_leader(etcd_client *c, const char *name, etcd_leader_cb cb,
			 void *arg)
{
	json_t *body;

	if (c == NULL || name == NULL || name[0] == '\0' || cb == NULL)
		return ETCD_EINVAL;
	body = json_object();
	if (body == NULL || etcd_json_set_b64(body, "name", name, strlen(name))) {
		json_decref(body);
		return ETCD_ENOMEM;
	}
	return unary_start(c, "/v3/election/leader", body, cb, NULL, arg);
}

int etcd_election_proclaim(etcd_client *c, const struct etcd_leader_key *lk,
			   const char *value, size_t value_len, etcd_done_cb cb,
			   void *arg)
{
	json_t *body, *l;

	if (c == NULL || lk == NULL || lk->name == NULL || lk->key == NULL ||
	    cb == NULL || (value == NULL && value_len > 0))
		return ETCD_EINVAL;
	l = leader_json(lk);
	body = l != NULL ? json_pack("{s:o}", "leader", l) : NULL;
	if (body == NULL || etcd_json_set_b64(body, "value", value, value_len)) {
		json_decref(body);
		return ETCD_ENOMEM;
	}
	return unary_start(c, "/v3/election/proclaim", body, NULL, cb, arg);
}

int etcd_election_resign(etcd_client *c, const struct etcd_leader_key *lk,
			 etcd_done_cb cb, void *arg)
{
	json_t *body, *l;

	if (c == NULL || lk == NULL || lk->name == NULL || lk->key == NULL ||
	    cb == NULL)
		return ETCD_EINVAL;
	l = leader_json(lk);
	body = l != NULL ? json_pack("{s:o}", "leader", l) : NULL;
	if (body == NULL)
		return ETCD_ENOMEM;
	return unary_start(c, "/v3/election/resign", body, NULL, cb, arg);
}

/* ---- campaign --------------------------------------------------------- */

#define CAMP_PROBE_S 5.0 /* between probes of a pending campaign's member */

/* C_WITHDRAW: the campaign's member did not answer a probe; our key is
 * being withdrawn before the error is reported. */
enum camp_state { C_CAMPAIGN, C_VERIFY, C_WITHDRAW, C_DONE };

struct etcd_campaign {
	struct etcd_handle h; /* first: close() casts back */
	etcd_client *c;	      /* NULL once detached */
	struct ev_loop *loop;
	etcd_campaign_cb cb;
	void *arg;
	int64_t lease;
	enum camp_state state;
	/* campaign, then the verifying txn (or the withdrawing one) */
	struct etcd_call *call;
	struct etcd_call *probe; /* probe of the campaign's member */
	ev_timer probe_timer;
	struct etcd_error probe_err; /* with C_WITHDRAW */
	json_t *answer;		/* the campaign's answer */
	char *key;		/* our candidacy key: name/<lease hex> */
	json_t *probe_key;	/* key, base64 */
	bool in_cb, dead;
	struct etcd_arena arena;
};

static void camp_probe_stop(etcd_campaign *camp)
{
	ev_timer_stop(camp->loop, &camp->probe_timer);
	if (camp->probe != NULL)
		etcd_call_cancel(camp->probe);
	camp->probe = NULL;
}

static void on_ignore(void *arg, const struct etcd_error *err, json_t *resp)
{
	(void)arg;
	(void)err;
	(void)resp;
}

/* Fire-and-forget resign of the leader in the campaign's answer. */
static void camp_resign(etcd_campaign *camp)
{
	json_t *l = json_object_get(camp->answer, "leader");
	json_t *body;

	if (camp->c == NULL || etcd_client_closing(camp->c) || l == NULL)
		return;
	body = json_pack("{s:O}", "leader", l);
	if (body != NULL)
		etcd_call_start(camp->c, "/v3/election/resign", body, 0,
				on_ignore, NULL, NULL, NULL);
}

/* The txn that deletes our candidacy key if it still carries our lease,
 * or NULL. */
static json_t *camp_withdraw_body(const etcd_campaign *camp)
{
	json_t *k1 = etcd_json_b64(camp->key, strlen(camp->key));
	json_t *k2 = etcd_json_b64(camp->key, strlen(camp->key));

	return json_pack("{s:[{s:o,s:s,s:s,s:o}],s:[{s:{s:o}}]}", "compare",
			 "key", k1, "target", "LEASE", "result", "EQUAL",
			 "lease", etcd_json_int64(camp->lease), "success",
			 "request_delete_range", "key", k2);
}

/*
 * Fire-and-forget delete of our candidacy key, if it still carries our
 * lease.  Closing the campaign request should make etcd withdraw it, but
 * the gateway does not always pass the disconnect on to the server's
 * campaign (seen with etcd 3.4): the key would stay, and later make us a
 * leader nobody acts for.
 */
static void camp_withdraw(etcd_campaign *camp)
{
	json_t *body;

	if (camp->c == NULL || etcd_client_closing(camp->c) || !camp->key)
		return;
	body = camp_withdraw_body(camp);
	if (body != NULL)
		etcd_call_start(camp->c, "/v3/kv/txn", body, 0, on_ignore,
				NULL, NULL, NULL);
}

static void camp_free(etcd_campaign *camp)
{
	camp_probe_stop(camp);
	if (camp->call != NULL)
		etcd_call_cancel(camp->call);
	if (camp->c != NULL)
		etcd_handle_unlink(camp->c, &camp->h);
	json_decref(camp->answer);
	json_decref(camp->probe_key);
	etcd_arena_clear(&camp->arena);
	free(camp->key);
	free(camp);
}

static void camp_finish(etcd_campaign *camp, const struct etcd_error *err,
			const struct etcd_leader_key *lk)
{
	camp->state = C_DONE;
	camp->call = NULL;
	camp_probe_stop(camp);
	camp->in_cb = true;
	camp->cb(camp->arg, err, lk);
	camp->in_cb = false;
	if (camp->dead)
		camp_free(camp);
	else
		etcd_arena_clear(&camp->arena);
}

etcd_campaign *etcd_campaign_cancel(etcd_campaign *camp)
{
	if (camp == NULL || camp->dead)
		return NULL;
	camp->dead = true;
	camp_probe_stop(camp);
	if (camp->call != NULL) {
		etcd_call_cancel(camp->call);
		camp->call = NULL;
		if (camp->state == C_VERIFY || camp->answer != NULL)
			camp_resign(camp); /* etcd already made us leader */
		else
			camp_withdraw(camp);
	}
	camp->state = C_DONE;
	if (!camp->in_cb)
		camp_free(camp);
	return NULL;
}

static void camp_close(struct etcd_handle *h)
{
	etcd_campaign *camp = (etcd_campaign *)h;
	struct etcd_error err;

	camp->c = NULL; /* already unlinked */
	camp_probe_stop(camp);
	if (camp->call != NULL)
		etcd_call_cancel(camp->call);
	camp->call = NULL;
	if (camp->state == C_DONE || camp->dead)
		return;
	etcd_error_set(&err, ETCD_ECANCELED, "campaign: client closed");
	camp_finish(camp, &err, NULL);
}

static void on_verify(void *arg, const struct etcd_error *err, json_t *resp)
{
	etcd_campaign *camp = arg;
	struct etcd_leader_key lk;
	struct etcd_error e;
	bool ok = false;

	camp->call = NULL;
	if (err != NULL) {
		e = *err;
		if (err->code != ETCD_ECANCELED)
			camp_resign(camp); /* unverified: give it up */
		camp_finish(camp, &e, NULL);
		return;
	}
	etcd_leader_key_decode(camp->answer, &camp->arena, &lk);
	if (etcd_json_get_bool(resp, "succeeded", &ok) != 0) {
		etcd_error_set(&e, ETCD_EPROTO,
			       "campaign: malformed txn answer");
		camp_resign(camp);
		camp_finish(camp, &e, NULL);
		return;
	}
	if (!ok) {
		etcd_error_set(
		    &e, ETCD_ENOTFOUND,
		    "campaign: leader key %s (create revision %" PRId64
		    ") no longer exists under lease %" PRId64
		    "; the lease expired while campaigning",
		    lk.key, lk.rev, camp->lease);
		camp_finish(camp, &e, NULL);
		return;
	}
	camp_finish(camp, NULL, &lk);
}

/* Compare create revision and lease of our key; a txn without ops. */
static int camp_verify(etcd_campaign *camp, const struct etcd_leader_key *lk)
{
	json_t *c1 = json_object(), *c2 = json_object(), *body = NULL;
	size_t klen = strlen(lk->key);

	if (c1 == NULL || c2 == NULL ||
	    json_object_set_new(c1, "target", json_string("CREATE")) ||
	    json_object_set_new(c1, "result", json_string("EQUAL")) ||
	    etcd_json_set_b64(c1, "key", lk->key, klen) ||
	    etcd_json_set_int64(c1, "create_revision", lk->rev) ||
	    json_object_set_new(c2, "target", json_string("LEASE")) ||
	    json_object_set_new(c2, "result", json_string("EQUAL")) ||
	    etcd_json_set_b64(c2, "key", lk->key, klen) ||
	    etcd_json_set_int64(c2, "lease", camp->lease))
		goto fail;
	body = json_pack("{s:[oo]}", "compare", c1, c2);
	c1 = c2 = NULL; /* stolen, even on failure */
	if (body == NULL)
		goto fail;
	return etcd_call_start(camp->c, "/v3/kv/txn", body, 0, on_verify, NULL,
			       camp, &camp->call);
fail:
	json_decref(c1);
	json_decref(c2);
	return ETCD_ENOMEM;
}

static void on_campaign_line(void *arg, json_t *msg)
{
	etcd_campaign *camp = arg;

	/* Runs inside curl: only keep the answer. */
	if (camp->answer == NULL)
		camp->answer = json_incref(msg);
}

static void on_campaign_done(void *arg, const struct etcd_error *err,
			     json_t *resp)
{
	etcd_campaign *camp = arg;
	struct etcd_leader_key lk;
	struct etcd_error e;
	int r;

	(void)resp;
	camp->call = NULL;
	camp_probe_stop(camp);
	if (err != NULL) {
		map_error(err, &e);
		camp_finish(camp, &e, NULL);
		return;
	}
	if (camp->answer == NULL) {
		etcd_error_set(&e, ETCD_EPROTO,
			       "campaign: etcd closed without an answer");
		camp_finish(camp, &e, NULL);
		return;
	}
	r = etcd_leader_key_decode(camp->answer, &camp->arena, &lk);
	if (r != 0) {
		etcd_error_set(&e, r, "campaign: malformed answer");
		camp_finish(camp, &e, NULL);
		return;
	}
	if (lk.lease != camp->lease) {
		etcd_error_set(&e, ETCD_EPROTO,
			       "campaign: answer names lease %" PRId64
			       ", not ours (%" PRId64 ")",
			       lk.lease, camp->lease);
		camp_finish(camp, &e, NULL);
		return;
	}
	camp->state = C_VERIFY;
	r = camp_verify(camp, &lk);
	etcd_arena_clear(&camp->arena);
	if (r != 0) {
		camp->call = NULL;
		etcd_error_set(&e, r,
			       "campaign: could not verify the leader "
			       "key: %s",
			       etcd_strerror(r));
		camp_resign(camp);
		camp_finish(camp, &e, NULL);
	}
}

/* The withdrawal after a failed probe is done (or failed: then our key
 * ends with the lease, or with the stopped member's own withdrawal when
 * it resumes): report the probe's error. */
static void on_camp_withdrawn(void *arg, const struct etcd_error *err,
			      json_t *resp)
{
	etcd_campaign *camp = arg;
	struct etcd_error e = camp->probe_err;

	(void)err;
	(void)resp;
	camp->call = NULL;
	camp_finish(camp, &e, NULL);
}

static void on_camp_probe(void *arg, const struct etcd_error *err,
			  json_t *resp)
{
	etcd_campaign *camp = arg;
	json_t *body;

	(void)resp;
	camp->probe = NULL;
	if (err == NULL || err->code == ETCD_ECANCELED ||
	    camp->state != C_CAMPAIGN || camp->answer != NULL ||
	    camp->c == NULL)
		return;
	/* The member serving our campaign does not answer: it cannot tell
	 * us that we lead, and our key may lead already.  Give the
	 * candidacy up, through the endpoint the failed probe moved the
	 * client to; the error is reported once that is done, so that a
	 * campaign started from the callback does not meet our old key
	 * (which the stopped member would withdraw when it resumes, by its
	 * create revision). */
	camp_probe_stop(camp);
	etcd_call_cancel(camp->call);
	camp->call = NULL;
	etcd_error_set(&camp->probe_err, err->code,
		       "campaign: its member did not answer a probe (%s); "
		       "candidacy withdrawn, campaign again",
		       err->message);
	camp->state = C_WITHDRAW;
	body = camp_withdraw_body(camp);
	if (body == NULL ||
	    etcd_call_start(camp->c, "/v3/kv/txn", body, 0, on_camp_withdrawn,
			    NULL, camp, &camp->call) != 0) {
		struct etcd_error e = camp->probe_err;
		camp->call = NULL;
		camp_finish(camp, &e, NULL);
	}
}

/* While the campaign waits, a probe of the campaign's own member (a read
 * of our key): its stream says nothing until we lead, so a stopped
 * member would keep us waiting for good. */
static void on_camp_probe_timer(struct ev_loop *loop, ev_timer *t,
				int revents)
{
	etcd_campaign *camp = t->data;

	(void)loop;
	(void)revents;
	if (camp->probe != NULL || camp->state != C_CAMPAIGN ||
	    camp->call == NULL || camp->c == NULL)
		return;
	if (etcd_call_probe(camp->c, camp->call, camp->probe_key,
			    on_camp_probe, camp, &camp->probe) != 0)
		camp->probe = NULL; /* next time */
}

/* Sets the repeat of a probe timer, at once if it runs. */
static void probe_interval(struct ev_loop *loop, ev_timer *t, double s)
{
	t->repeat = s;
	if (ev_is_active(t))
		ev_timer_again(loop, t);
}

void etcd_campaign_set_probe_interval(etcd_campaign *camp, double seconds)
{
	probe_interval(camp->loop, &camp->probe_timer, seconds);
}

int etcd_election_campaign(etcd_client *c, const char *name, int64_t lease,
			   const char *value, size_t value_len,
			   etcd_campaign_cb cb, void *arg,
			   etcd_campaign **ret_camp)
{
	etcd_campaign *camp;
	json_t *body;
	int r;

	if (c == NULL || name == NULL || name[0] == '\0' || lease <= 0 ||
	    (value == NULL && value_len > 0) || cb == NULL || ret_camp == NULL)
		return ETCD_EINVAL;
	if (etcd_client_closing(c))
		return ETCD_ECANCELED;
	camp = calloc(1, sizeof(*camp));
	if (camp == NULL)
		return ETCD_ENOMEM;
	camp->c = c;
	camp->cb = cb;
	camp->arg = arg;
	camp->lease = lease;
	camp->loop = etcd_client_loop(c);
	ev_init(&camp->probe_timer, on_camp_probe_timer);
	camp->probe_timer.repeat = CAMP_PROBE_S;
	camp->probe_timer.data = camp;
	camp->h.close = camp_close;
	/* As etcd's concurrency.Election names it: prefix "/" lease-hex. */
	if (asprintf(&camp->key, "%s/%" PRIx64, name, (uint64_t)lease) < 0) {
		camp->key = NULL;
		free(camp);
		return ETCD_ENOMEM;
	}
	camp->probe_key = etcd_json_b64(camp->key, strlen(camp->key));
	body = json_object();
	if (camp->probe_key == NULL || body == NULL ||
	    etcd_json_set_b64(body, "name", name, strlen(name)) ||
	    etcd_json_set_int64(body, "lease", lease) ||
	    etcd_json_set_b64(body, "value", value, value_len)) {
		json_decref(body);
		camp_free(camp);
		return ETCD_ENOMEM;
	}
	r = etcd_call_start(c, "/v3/election/campaign", body, ETCD_CALL_STREAM,
			    on_campaign_done, on_campaign_line, camp,
			    &camp->call);
	if (r != 0) {
		camp->call = NULL;
		camp_free(camp);
		return r;
	}
	etcd_handle_link(c, &camp->h);
	ev_timer_again(camp->loop, &camp->probe_timer);
	*ret_camp = camp;
	return 0;
}

/* ---- observe ---------------------------------------------------------- */

#define OBS_PROBE_S 30.0 /* between probes of an observe stream's member */

struct etcd_observe {
	struct etcd_handle h;
	etcd_client *c;
	struct ev_loop *loop;
	etcd_leader_cb cb;
	void *arg;
	struct etcd_call *call;
	json_t *probe_key;	 /* the election name, base64 */
	struct etcd_call *probe; /* probe of the stream's member */
	ev_timer probe_timer;
	json_t *queue;
	bool ended, done;
	struct etcd_error end_err;
	ev_timer dispatch;
	int in_cb;
	bool dead;
	struct etcd_arena arena;
};

static void obs_stop(etcd_observe *o)
{
	ev_timer_stop(o->loop, &o->dispatch);
	ev_timer_stop(o->loop, &o->probe_timer);
	if (o->probe != NULL)
		etcd_call_cancel(o->probe);
	o->probe = NULL;
	if (o->call != NULL)
		etcd_call_cancel(o->call);
	o->call = NULL;
	if (o->queue != NULL)
		json_array_clear(o->queue);
	o->ended = false;
}

static void obs_free(etcd_observe *o)
{
	obs_stop(o);
	if (o->c != NULL)
		etcd_handle_unlink(o->c, &o->h);
	json_decref(o->queue);
	json_decref(o->probe_key);
	etcd_arena_clear(&o->arena);
	free(o);
}

etcd_observe *etcd_observe_cancel(etcd_observe *o)
{
	if (o == NULL || o->dead)
		return NULL;
	o->dead = true;
	obs_stop(o);
	if (o->in_cb == 0)
		obs_free(o);
	return NULL;
}

static void obs_terminal(etcd_observe *o, const struct etcd_error *err)
{
	o->done = true;
	obs_stop(o);
	o->in_cb++;
	o->cb(o->arg, err, NULL);
	o->in_cb--;
}

static void obs_close(struct etcd_handle *h)
{
	etcd_observe *o = (etcd_observe *)h;
	struct etcd_error err;

	o->c = NULL;
	if (o->dead || o->done) {
		obs_stop(o);
		return;
	}
	etcd_error_set(&err, ETCD_ECANCELED, "observe: client closed");
	obs_terminal(o, &err);
	if (o->dead && o->in_cb == 0)
		obs_free(o);
}

static void on_obs_line(void *arg, json_t *msg)
{
	etcd_observe *o = arg;

	if (json_array_append(o->queue, msg) != 0) {
		etcd_call_cancel(o->call);
		o->call = NULL;
		o->ended = true;
		etcd_error_set(&o->end_err, ETCD_ENOMEM,
			       "observe: out of memory queueing a message");
	}
	if (!ev_is_active(&o->dispatch))
		ev_timer_start(o->loop, &o->dispatch);
}

static void on_obs_done(void *arg, const struct etcd_error *err, json_t *resp)
{
	etcd_observe *o = arg;

	(void)resp;
	o->call = NULL;
	o->ended = true;
	if (err != NULL)
		map_error(err, &o->end_err);
	else
		etcd_error_set(&o->end_err, ETCD_ECONN,
			       "observe: stream closed by etcd");
	if (!ev_is_active(&o->dispatch))
		ev_timer_start(o->loop, &o->dispatch);
}

static void on_obs_dispatch(struct ev_loop *loop, ev_timer *t, int revents)
{
	etcd_observe *o = t->data;
	struct etcd_error err;
	struct etcd_kv kv;

	(void)loop;
	(void)revents;
	o->in_cb++;
	while (!o->dead && !o->done && json_array_size(o->queue) > 0) {
		json_t *msg = json_incref(json_array_get(o->queue, 0));
		json_array_remove(o->queue, 0);
		etcd_arena_clear(&o->arena);
		int r = etcd_observe_decode(msg, &o->arena, &kv, &err);
		json_decref(msg);
		if (r == 0)
			o->cb(o->arg, NULL, &kv);
		else if (r != 1)
			obs_terminal(o, &err);
	}
	if (!o->dead && !o->done && o->ended) {
		err = o->end_err;
		obs_terminal(o, &err);
	}
	etcd_arena_clear(&o->arena);
	o->in_cb--;
	if (o->dead && o->in_cb == 0)
		obs_free(o);
}

static void on_obs_probe(void *arg, const struct etcd_error *err,
			 json_t *resp)
{
	etcd_observe *o = arg;

	(void)resp;
	o->probe = NULL;
	if (err == NULL || err->code == ETCD_ECANCELED || o->call == NULL)
		return;
	/* The stream's member does not answer: the stream is dead. */
	etcd_call_cancel(o->call);
	o->call = NULL;
	o->ended = true;
	etcd_error_set(&o->end_err, err->code,
		       "observe: its member did not answer a probe: %s",
		       err->message);
	if (!ev_is_active(&o->dispatch))
		ev_timer_start(o->loop, &o->dispatch);
}

/* Leader changes may be rare: a probe of the stream's own member tells a
 * quiet stream from a stuck one. */
static void on_obs_probe_timer(struct ev_loop *loop, ev_timer *t,
			       int revents)
{
	etcd_observe *o = t->data;

	(void)loop;
	(void)revents;
	if (o->probe != NULL || o->call == NULL || o->c == NULL)
		return;
	if (etcd_call_probe(o->c, o->call, o->probe_key, on_obs_probe, o,
			    &o->probe) != 0)
		o->probe = NULL; /* next time */
}

void etcd_observe_set_probe_interval(etcd_observe *obs, double seconds)
{
	probe_interval(obs->loop, &obs->probe_timer, seconds);
}

int etcd_election_observe(etcd_client *c, const char *name, etcd_leader_cb cb,
			  void *arg, etcd_observe **ret_obs)
{
	etcd_observe *o;
	json_t *body;
	int r;

	if (c == NULL || name == NULL || name[0] == '\0' || cb == NULL ||
	    ret_obs == NULL)
		return ETCD_EINVAL;
	if (etcd_client_closing(c))
		return ETCD_ECANCELED;
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return ETCD_ENOMEM;
	o->c = c;
	o->loop = etcd_client_loop(c);
	o->cb = cb;
	o->arg = arg;
	o->h.close = obs_close;
	ev_timer_init(&o->dispatch, on_obs_dispatch, 0., 0.);
	o->dispatch.data = o;
	ev_init(&o->probe_timer, on_obs_probe_timer);
	o->probe_timer.repeat = OBS_PROBE_S;
	o->probe_timer.data = o;
	o->queue = json_array();
	o->probe_key = etcd_json_b64(name, strlen(name));
	body = json_object();
	if (o->queue == NULL || o->probe_key == NULL || body == NULL ||
	    etcd_json_set_b64(body, "name", name, strlen(name))) {
		json_decref(body);
		obs_free(o);
		return ETCD_ENOMEM;
	}
	r = etcd_call_start(c, "/v3/election/observe", body, ETCD_CALL_STREAM,
			    on_obs_done, on_obs_line, o, &o->call);
	if (r != 0) {
		o->call = NULL;
		o->c = NULL;
		obs_free(o);
		return r;
	}
	etcd_handle_link(c, &o->h);
	ev_timer_again(o->loop, &o->probe_timer);
	*ret_obs = o;
	return 0;
}


