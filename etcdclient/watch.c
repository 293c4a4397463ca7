/* Watches: one streaming POST /v3/watch per watch, resumed from the last
 * revision seen + 1 after a disconnect.
 *
 * Delivery.  The transport hands stream lines over from inside curl's write
 * callback, where nothing may be started or freed; a watch therefore queues
 * the messages and reports them from its own zero-delay timer, so that the
 * caller's callback may do anything (start calls, cancel or free the watch).
 *
 * Revisions.  next_rev is where a new stream starts: the start revision
 * asked for; after events, the last event's mod_revision + 1; after a
 * progress notification, header.revision + 1 (etcd only sends those to
 * watchers that are caught up).  "created" moves it only when no start
 * revision is known yet: its header carries the current store revision,
 * while replayed events from an older start revision are still to come.
 * Events older than next_rev (a replay overlapping what was delivered) are
 * dropped, so a reconnect neither loses nor duplicates events.
 *
 * Liveness.  A dead peer on an idle stream is found by the transport's TCP
 * keepalive (idle 10 s, then probes every 5 s).  A peer whose kernel still
 * answers but whose etcd is stuck (stopped, overloaded) is not: when a
 * stream has been silent for idle_s seconds the watch sends a linearizable
 * count-only range of its key as a probe to the stream's own member (not
 * the client's current endpoint, which may have failed over elsewhere),
 * under the client's request timeout; if the probe fails, the stream is
 * presumed dead and is re-established like after a disconnect, on the
 * endpoint the failed probe moved the client to.  Every stream also asks for
 * progress notifications, which resets that clock whenever the server is
 * configured to send them; they are reported only when the caller asked.
 *
 * Ending.  COMPACTED and FAILED are terminal; the caller frees the watch
 * with etcd_watch_cancel().  etcd_client_free() delivers FAILED with
 * ETCD_ECANCELED to every live watch (as etcd.h promises for pending
 * callbacks); the handle then stays valid, detached from the client, until
 * the caller cancels it.
 */
#include "watch_election.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0
#define IDLE_DEFAULT 30.0

enum watch_state { W_RUNNING, W_DONE };

struct etcd_watch {
	struct etcd_handle h; /* first: close() casts back */
	etcd_client *c;	      /* NULL once detached by etcd_client_free */
	struct ev_loop *loop;
	etcd_watch_cb cb;
	void *arg;

	json_t *create;	   /* create_request without start_revision */
	json_t *probe_key; /* base64 key for the idle probe */
	bool user_progress;
	int64_t next_rev;
	enum watch_state state;

	struct etcd_call *call;	   /* the stream, NULL between attempts */
	struct etcd_call *probe;   /* idle probe in flight */
	unsigned long lines;	   /* messages received, ever */
	unsigned long probe_lines; /* lines when the probe was sent */
	json_t *queue;		   /* lines not yet reported */
	bool ended;		   /* the stream ended; end_err says how */
	struct etcd_error end_err;
	double backoff;
	double idle_s;

	ev_timer dispatch, retry, idle;
	int in_cb;
	bool dead; /* canceled while in a callback: free on the way out */
	struct etcd_arena arena;
};

/* ---- decoding --------------------------------------------------------- */

static int decode_event(const json_t *jev, struct etcd_arena *a,
			struct etcd_event *ev)
{
	const json_t *type, *prev;
	struct etcd_kv *pkv;

	if (!json_is_object(jev))
		return ETCD_EPROTO;
	type = json_object_get(jev, "type");
	if (type == NULL || json_is_null(type)) {
		ev->type = ETCD_EVENT_PUT;
	} else if (json_is_string(type)) {
		if (strcmp(json_string_value(type), "PUT") == 0)
			ev->type = ETCD_EVENT_PUT;
		else if (strcmp(json_string_value(type), "DELETE") == 0)
			ev->type = ETCD_EVENT_DELETE;
		else
			return ETCD_EPROTO;
	} else if (json_is_integer(type) && (json_integer_value(type) == 0 ||
					     json_integer_value(type) == 1)) {
		ev->type = json_integer_value(type) == 0 ? ETCD_EVENT_PUT
							 : ETCD_EVENT_DELETE;
	} else {
		return ETCD_EPROTO;
	}
	int r = etcd_decode_kv(json_object_get(jev, "kv"), a, &ev->kv);
	if (r != 0)
		return r;
	ev->prev_kv = NULL;
	prev = json_object_get(jev, "prev_kv");
	if (prev != NULL && !json_is_null(prev)) {
		pkv = etcd_arena_alloc(a, sizeof(*pkv));
		if (pkv == NULL)
			return ETCD_ENOMEM;
		r = etcd_decode_kv(prev, a, pkv);
		if (r != 0)
			return r;
		ev->prev_kv = pkv;
	}
	return 0;
}

int etcd_watch_decode(const json_t *msg, struct etcd_arena *a,
		      struct etcd_watch_update *u, struct etcd_error *err)
{
	const json_t *res, *jevs;
	bool created = false, canceled = false;
	int64_t compact = 0;
	int r = ETCD_EPROTO;

	memset(u, 0, sizeof(*u));
	memset(err, 0, sizeof(*err));
	if (!json_is_object(msg))
		goto malformed;
	res = json_object_get(msg, "result");
	if (res == NULL && json_object_get(msg, "error") != NULL) {
		etcd_decode_error(msg, 0, err);
		u->kind = ETCD_WATCH_FAILED;
		u->err = err;
		return 0;
	}
	if (!json_is_object(res))
		goto malformed;
	if (etcd_decode_header(json_object_get(res, "header"), &u->header) ||
	    etcd_json_get_bool(res, "created", &created) ||
	    etcd_json_get_bool(res, "canceled", &canceled) ||
	    etcd_json_get_int64(res, "compact_revision", &compact))
		goto malformed;
	if (canceled) {
		if (compact > 0) {
			etcd_error_set(
			    err, ETCD_ECOMPACTED,
			    "watch: revision compacted up to %" PRId64,
			    compact);
			err->compact_revision = compact;
			u->kind = ETCD_WATCH_COMPACTED;
		} else {
			const char *why = json_string_value(
			    json_object_get(res, "cancel_reason"));
			etcd_error_set(
			    err, ETCD_ESERVER, "watch canceled by etcd: %s",
			    why != NULL && why[0] ? why : "no reason");
			u->kind = ETCD_WATCH_FAILED;
		}
		u->err = err;
		return 0;
	}
	jevs = json_object_get(res, "events");
	struct etcd_event *evs;
	void *mem;
	size_t n;
	r = etcd_json_array_alloc(jevs, sizeof(*evs), a, &mem, &n);
	if (r != 0)
		goto malformed;
	evs = mem;
	for (size_t i = 0; i < n; i++) {
		r = decode_event(json_array_get(jevs, i), a, &evs[i]);
		if (r != 0)
			goto malformed;
	}
	u->events = evs;
	u->n_events = n;
	if (created)
		u->kind = ETCD_WATCH_CREATED;
	else if (u->n_events > 0)
		u->kind = ETCD_WATCH_EVENTS;
	else
		u->kind = ETCD_WATCH_PROGRESS;
	return 0;
malformed:
	if (r != ETCD_ENOMEM)
		r = ETCD_EPROTO;
	memset(u, 0, sizeof(*u));
	etcd_error_set(err, r, "watch: %s",
		       r == ETCD_ENOMEM ? "out of memory"
					: "malformed message in stream");
	return r;
}

/* ---- lifetime --------------------------------------------------------- */

static void watch_stop_io(etcd_watch *w)
{
	ev_timer_stop(w->loop, &w->dispatch);
	ev_timer_stop(w->loop, &w->retry);
	ev_timer_stop(w->loop, &w->idle);
	if (w->call != NULL)
		etcd_call_cancel(w->call);
	w->call = NULL;
	if (w->probe != NULL)
		etcd_call_cancel(w->probe);
	w->probe = NULL;
	if (w->queue != NULL)
		json_array_clear(w->queue);
	w->ended = false;
}

static void watch_free(etcd_watch *w)
{
	watch_stop_io(w);
	if (w->c != NULL)
		etcd_handle_unlink(w->c, &w->h);
	json_decref(w->create);
	json_decref(w->probe_key);
	json_decref(w->queue);
	etcd_arena_clear(&w->arena);
	free(w);
}

/* Runs the caller's callback; afterwards w may be dead (canceled). */
static void watch_report(etcd_watch *w, const struct etcd_watch_update *u)
{
	w->in_cb++;
	w->cb(w->arg, u);
	w->in_cb--;
}

/* Leave a callback context: free if the caller canceled meanwhile. */
static bool watch_leave(etcd_watch *w)
{
	if (w->dead && w->in_cb == 0) {
		watch_free(w);
		return false;
	}
	return !w->dead;
}

static void watch_terminal(etcd_watch *w, enum etcd_watch_kind kind,
			   const struct etcd_error *err)
{
	struct etcd_watch_update u = {.kind = kind, .err = err};

	w->state = W_DONE;
	watch_stop_io(w);
	watch_report(w, &u);
}

etcd_watch *etcd_watch_cancel(etcd_watch *w)
{
	if (w == NULL || w->dead)
		return NULL;
	w->dead = true;
	watch_stop_io(w);
	if (w->in_cb == 0)
		watch_free(w);
	return NULL;
}

int64_t etcd_watch_next_revision(const etcd_watch *w)
{
	return w->next_rev;
}

void etcd_watch_set_idle_timeout(etcd_watch *w, double seconds)
{
	w->idle_s = seconds;
	if (ev_is_active(&w->idle)) {
		w->idle.repeat = seconds;
		ev_timer_again(w->loop, &w->idle);
	}
}

/* etcd_client_free(): report FAILED (ECANCELED) and detach. */
static void watch_close(struct etcd_handle *h)
{
	etcd_watch *w = (etcd_watch *)h;
	struct etcd_error err;

	w->c = NULL; /* already unlinked */
	if (w->dead || w->state == W_DONE) {
		watch_stop_io(w);
		return;
	}
	etcd_error_set(&err, ETCD_ECANCELED, "watch: client closed");
	watch_terminal(w, ETCD_WATCH_FAILED, &err);
	watch_leave(w);
}

/* ---- the stream ------------------------------------------------------- */

/* Errors after which resuming can help. */
static bool retriable(const struct etcd_error *err)
{
	switch (err->code) {
	case ETCD_ECONN:
	case ETCD_ETIMEDOUT:
	case ETCD_EPROTO: /* a truncated stream */
		return true;
	case ETCD_ESERVER:
		/* Canceled, deadline exceeded, aborted, internal,
		 * unavailable: a restart or a leader change. */
		switch (err->grpc_code) {
		case 1:
		case 4:
		case 10:
		case 13:
		case 14:
			return true;
		default:
			return false;
		}
	default:
		return false;
	}
}

static void on_line(void *arg, json_t *msg)
{
	etcd_watch *w = arg;

	w->lines++;
	if (w->idle_s > 0) {
		w->idle.repeat = w->idle_s;
		ev_timer_again(w->loop, &w->idle);
	}
	if (json_array_append(w->queue, msg) != 0) {
		/* Lost a message: drop the stream, resume from what was
		 * reported. */
		etcd_call_cancel(w->call);
		w->call = NULL;
		w->ended = true;
		etcd_error_set(&w->end_err, ETCD_ENOMEM,
			       "watch: out of memory queueing a message");
	}
	if (!ev_is_active(&w->dispatch))
		ev_timer_start(w->loop, &w->dispatch);
}

static void on_stream_done(void *arg, const struct etcd_error *err,
			   json_t *resp)
{
	etcd_watch *w = arg;

	(void)resp;
	w->call = NULL;
	w->ended = true;
	if (err != NULL)
		w->end_err = *err;
	else
		etcd_error_set(&w->end_err, ETCD_ECONN,
			       "watch: stream closed by etcd");
	if (!ev_is_active(&w->dispatch))
		ev_timer_start(w->loop, &w->dispatch);
}

/* {"create_request": create + start_revision}, a new object. */
static int watch_body(const etcd_watch *w, json_t **ret)
{
	json_t *cr = json_copy(w->create);

	if (cr == NULL)
		return ETCD_ENOMEM;
	if (w->next_rev > 0 &&
	    etcd_json_set_int64(cr, "start_revision", w->next_rev) != 0) {
		json_decref(cr);
		return ETCD_ENOMEM;
	}
	*ret = json_pack("{s:o}", "create_request", cr);
	return *ret != NULL ? 0 : ETCD_ENOMEM;
}

static void watch_connect(etcd_watch *w)
{
	json_t *body;
	int r = watch_body(w, &body);

	if (r == 0)
		r = etcd_call_start(w->c, "/v3/watch", body, ETCD_CALL_STREAM,
				    on_stream_done, on_line, w, &w->call);
	if (r == 0) {
		if (w->idle_s > 0) {
			w->idle.repeat = w->idle_s;
			ev_timer_again(w->loop, &w->idle);
		}
		return;
	}
	w->call = NULL;
	w->ended = true;
	etcd_error_set(&w->end_err, r, "watch: could not start the stream: %s",
		       etcd_strerror(r));
	if (!ev_is_active(&w->dispatch))
		ev_timer_start(w->loop, &w->dispatch);
}

static void handle_end(etcd_watch *w)
{
	struct etcd_error err = w->end_err;
	struct etcd_watch_update u = {.kind = ETCD_WATCH_RECONNECTING,
				      .err = &err};

	w->ended = false;
	ev_timer_stop(w->loop, &w->idle);
	if (w->probe != NULL)
		etcd_call_cancel(w->probe);
	w->probe = NULL;
	if (w->c == NULL || etcd_client_closing(w->c))
		return; /* watch_close() reports */
	if (!retriable(&err) && err.code != ETCD_ENOMEM) {
		watch_terminal(w, ETCD_WATCH_FAILED, &err);
		return;
	}
	watch_report(w, &u);
	if (w->dead || w->state != W_RUNNING)
		return;
	ev_timer_set(&w->retry, w->backoff, 0.);
	ev_timer_start(w->loop, &w->retry);
	w->backoff *= 2;
	if (w->backoff > BACKOFF_MAX)
		w->backoff = BACKOFF_MAX;
}

static void handle_msg(etcd_watch *w, const json_t *msg)
{
	struct etcd_watch_update u;
	struct etcd_error err;
	int r;

	etcd_arena_clear(&w->arena);
	r = etcd_watch_decode(msg, &w->arena, &u, &err);
	if (r != 0) {
		watch_terminal(w, ETCD_WATCH_FAILED, &err);
		return;
	}
	switch (u.kind) {
	case ETCD_WATCH_CREATED: {
		struct etcd_watch_update cu = u;
		w->backoff = BACKOFF_MIN;
		if (w->next_rev == 0)
			w->next_rev = u.header.revision + 1;
		cu.events = NULL;
		cu.n_events = 0;
		watch_report(w, &cu);
		if (w->dead || w->state != W_RUNNING || u.n_events == 0)
			return;
		u.kind = ETCD_WATCH_EVENTS;
	}
		/* fall through: events in the created message (never seen) */
	case ETCD_WATCH_EVENTS:
		while (u.n_events > 0 && w->next_rev > 0 &&
		       u.events[0].kv.mod_revision < w->next_rev) {
			u.events++; /* already reported before a reconnect */
			u.n_events--;
		}
		if (u.n_events == 0)
			return;
		w->next_rev = u.events[u.n_events - 1].kv.mod_revision + 1;
		watch_report(w, &u);
		return;
	case ETCD_WATCH_PROGRESS:
		if (u.header.revision + 1 > w->next_rev)
			w->next_rev = u.header.revision + 1;
		if (w->user_progress)
			watch_report(w, &u);
		return;
	case ETCD_WATCH_COMPACTED:
		watch_terminal(w, ETCD_WATCH_COMPACTED, &err);
		return;
	case ETCD_WATCH_FAILED:
	default:
		if (retriable(&err)) {
			/* An error line: this stream is finished. */
			if (w->call != NULL)
				etcd_call_cancel(w->call);
			w->call = NULL;
			json_array_clear(w->queue);
			w->ended = true;
			w->end_err = err;
			return;
		}
		watch_terminal(w, ETCD_WATCH_FAILED, &err);
		return;
	}
}

static void on_dispatch(struct ev_loop *loop, ev_timer *t, int revents)
{
	etcd_watch *w = t->data;

	(void)loop;
	(void)revents;
	w->in_cb++;
	while (!w->dead && w->state == W_RUNNING &&
	       json_array_size(w->queue) > 0) {
		json_t *msg = json_incref(json_array_get(w->queue, 0));
		json_array_remove(w->queue, 0);
		handle_msg(w, msg);
		json_decref(msg);
	}
	if (!w->dead && w->state == W_RUNNING && w->ended)
		handle_end(w);
	etcd_arena_clear(&w->arena);
	w->in_cb--;
	watch_leave(w);
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
	etcd_watch *w = t->data;

	(void)loop;
	(void)revents;
	if (!w->dead && w->state == W_RUNNING && w->c != NULL)
		watch_connect(w);
}

static void on_probe(void *arg, const struct etcd_error *err, json_t *resp)
{
	etcd_watch *w = arg;

	(void)resp;
	w->probe = NULL;
	if (err == NULL || err->code == ETCD_ECANCELED || w->call == NULL ||
	    w->lines != w->probe_lines)
		return;
	/* etcd does not answer: the silent stream is presumed dead. */
	etcd_call_cancel(w->call);
	w->call = NULL;
	w->ended = true;
	etcd_error_set(
	    &w->end_err, err->code,
	    "watch: stream silent and etcd did not answer a probe: %s",
	    err->message);
	if (!ev_is_active(&w->dispatch))
		ev_timer_start(w->loop, &w->dispatch);
}

static void on_idle(struct ev_loop *loop, ev_timer *t, int revents)
{
	etcd_watch *w = t->data;

	(void)loop;
	(void)revents;
	if (w->probe != NULL || w->call == NULL || w->c == NULL)
		return;
	w->probe_lines = w->lines;
	/* To the stream's own member: the client may have failed over. */
	if (etcd_call_probe(w->c, w->call, w->probe_key, on_probe, w,
			    &w->probe) != 0)
		w->probe = NULL; /* try again next time */
}

int etcd_watch_start(etcd_client *c, const struct etcd_watch_req *req,
		     etcd_watch_cb cb, void *arg, etcd_watch **ret_w)
{
	etcd_watch *w = NULL;
	json_t *filters = NULL, *body = NULL;
	char *end = NULL;
	size_t klen, end_len;
	int r = ETCD_EINVAL;

	if (c == NULL || req == NULL || req->key == NULL || cb == NULL ||
	    ret_w == NULL || req->start_revision < 0)
		return ETCD_EINVAL;
	if (etcd_client_closing(c))
		return ETCD_ECANCELED;
	klen = strlen(req->key);
	if (klen == 0 && !req->prefix)
		return ETCD_EINVAL;
	r = ETCD_ENOMEM;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return ETCD_ENOMEM;
	w->c = c;
	w->loop = etcd_client_loop(c);
	w->cb = cb;
	w->arg = arg;
	w->user_progress = req->progress_notify;
	w->next_rev = req->start_revision;
	w->backoff = BACKOFF_MIN;
	w->idle_s = IDLE_DEFAULT;
	w->h.close = watch_close;
	ev_timer_init(&w->dispatch, on_dispatch, 0., 0.);
	ev_timer_init(&w->retry, on_retry, 0., 0.);
	ev_init(&w->idle, on_idle);
	w->dispatch.data = w->retry.data = w->idle.data = w;

	w->queue = json_array();
	w->create = json_object();
	/* "" with prefix: every key, i.e. key "\0" and range end "\0". */
	w->probe_key =
	    klen > 0 ? etcd_json_b64(req->key, klen) : etcd_json_b64("", 1);
	filters = json_array();
	if (w->queue == NULL || w->create == NULL || w->probe_key == NULL ||
	    filters == NULL)
		goto fail;
	if (json_object_set(w->create, "key", w->probe_key) != 0)
		goto fail;
	if (req->prefix) {
		if (klen > 0) {
			end = etcd_prefix_end(req->key, klen, &end_len);
		} else {
			end = calloc(1, 1);
			end_len = 1;
		}
		if (end == NULL ||
		    etcd_json_set_b64(w->create, "range_end", end, end_len))
			goto fail;
	} else if (req->range_end != NULL) {
		if (etcd_json_set_b64(w->create, "range_end", req->range_end,
			    strlen(req->range_end)))
			goto fail;
	}
	if (req->no_put && json_array_append_new(filters, json_string("NOPUT")))
		goto fail;
	if (req->no_delete &&
	    json_array_append_new(filters, json_string("NODELETE")))
		goto fail;
	if (json_array_size(filters) > 0 &&
	    json_object_set(w->create, "filters", filters) != 0)
		goto fail;
	if (json_object_set_new(w->create, "prev_kv",
				json_boolean(req->prev_kv)) != 0 ||
	    json_object_set_new(w->create, "progress_notify", json_true()) != 0)
		goto fail;

	r = watch_body(w, &body);
	if (r != 0)
		goto fail;
	r = etcd_call_start(c, "/v3/watch", body, ETCD_CALL_STREAM,
			    on_stream_done, on_line, w, &w->call);
	if (r != 0)
		goto fail;
	json_decref(filters);
	free(end);
	etcd_handle_link(c, &w->h);
	w->idle.repeat = w->idle_s;
	ev_timer_again(w->loop, &w->idle);
	*ret_w = w;
	return 0;
fail:
	json_decref(filters);
	free(end);
	w->call = NULL;
	w->c = NULL;
	watch_free(w);
	return r;
}
