/* The transport: one HTTP POST per call over libcurl multi on libev, with
 * keep-alive, endpoint failover, auth tokens and TLS. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "evcurl.h"

#define MAX_BODY (256u << 20) /* refuse answers larger than this */
#define EASY_POOL 64          /* idle easy handles kept for reuse */

enum auth_state { AUTH_NONE, AUTH_PENDING, AUTH_OK };

struct etcd_client {
	struct ev_loop *loop;
	evcurl *multi;
	char **endpoints;
	size_t n_endpoints;
	size_t cur;
	char *username, *password;
	char *ca_file, *cert_file, *key_file;
	long timeout_ms, connect_timeout_ms;

	enum auth_state auth;
	char *token;
	struct etcd_call *auth_wait; /* calls queued until a token arrives */

	struct etcd_call *calls; /* every call in flight */
	/* Unary calls on the wire are capped; the rest wait here, in order,
	 * their timeout not yet running.  Streams are not counted. */
	size_t n_unary, max_unary;
	struct etcd_call *wait_head, *wait_tail;
	struct etcd_handle handles; /* sentinel of long-lived objects */
	int closing;

	struct etcd_defer *defer_head, *defer_tail;
	ev_timer defer_timer;

	CURL *pool[EASY_POOL];
	size_t n_pool;
};

struct etcd_call {
	etcd_client *c;
	struct etcd_call *prev, *next; /* c->calls, or c->auth_wait (next) */
	char path[64];
	char *body;
	size_t body_len;
	unsigned flags;
	etcd_call_done_cb done;
	etcd_call_line_cb line;
	void *arg;

	CURL *easy;
	struct curl_slist *hdrs;
	char *buf;
	size_t len, cap;
	size_t tries;   /* endpoints tried for this call */
	size_t ep;      /* index of the endpoint of the current attempt */
	bool pinned;    /* always to endpoint ep, never re-sent elsewhere */
	bool reauthed;  /* re-authenticated once already */
	bool canceled;
	bool queued;    /* on c->auth_wait */
	bool in_write;  /* inside curl's write callback */
	bool deferred;  /* a report_later is pending, in node defer */
	struct etcd_defer defer;
	bool counted;   /* holds one of c->max_unary */
	bool waiting;   /* on c->wait_head, for a free slot */
	struct etcd_call *wait_next;
	int stream_err; /* set by the write callback */
	char errbuf[CURL_ERROR_SIZE];
};

static void call_submit(struct etcd_call *call);
static void auth_start(etcd_client *c);

/* ---- helpers ---------------------------------------------------------- */

static char *dup_opt(const char *s)
{
	return (s != NULL && s[0] != '\0') ? strdup(s) : NULL;
}

struct ev_loop *etcd_client_loop(etcd_client *c)
{
	return c->loop;
}

int etcd_client_closing(const etcd_client *c)
{
	return c->closing ? ETCD_ECANCELED : 0;
}

const char *etcd_client_endpoint(const etcd_client *c)
{
	return c->endpoints[c->cur];
}

/* ---- deferred callbacks ----------------------------------------------- */

static void on_defer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	etcd_client *c = w->data;
	struct etcd_defer *d = c->defer_head;

	/* Run only what was queued before this pass; new ones wait a turn.
	 * A node belongs to what fn reports for, which fn may free. */
	c->defer_head = c->defer_tail = NULL;
	while (d != NULL) {
		struct etcd_defer *next = d->next;
		d->fn(d->arg);
		d = next;
	}
	if (c->defer_head != NULL)
		ev_timer_start(c->loop, &c->defer_timer);
}

void etcd_defer(etcd_client *c, struct etcd_defer *d, void (*fn)(void *arg),
		void *arg)
{
	d->next = NULL;
	d->fn = fn;
	d->arg = arg;
	if (c->defer_tail != NULL)
		c->defer_tail->next = d;
	else
		c->defer_head = d;
	c->defer_tail = d;
	if (!ev_is_active(&c->defer_timer)) {
		ev_timer_set(&c->defer_timer, 0., 0.);
		ev_timer_start(c->loop, &c->defer_timer);
	}
}

/* ---- handles ---------------------------------------------------------- */

void etcd_handle_link(etcd_client *c, struct etcd_handle *h)
{
	h->prev = &c->handles;
	h->next = c->handles.next;
	c->handles.next->prev = h;
	c->handles.next = h;
}

void etcd_handle_unlink(etcd_client *c, struct etcd_handle *h)
{
	(void)c;
	if (h->prev == NULL)
		return;
	h->prev->next = h->next;
	h->next->prev = h->prev;
	h->prev = h->next = NULL;
}

/* ---- client ----------------------------------------------------------- */

int etcd_client_new(struct ev_loop *loop, const struct etcd_config *cfg,
		    etcd_client **ret_c)
{
	if (loop == NULL || cfg == NULL || cfg->n_endpoints == 0 ||
	    cfg->endpoints == NULL)
		return ETCD_EINVAL;
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		if (cfg->endpoints[i] == NULL ||
		    (strncmp(cfg->endpoints[i], "http://", 7) != 0 &&
		     strncmp(cfg->endpoints[i], "https://", 8) != 0))
			return ETCD_EINVAL;

	etcd_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return ETCD_ENOMEM;
	c->loop = loop;
	c->handles.next = c->handles.prev = &c->handles;
	ev_timer_init(&c->defer_timer, on_defer, 0., 0.);
	c->defer_timer.data = c;
	c->timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms
						    : 5000;
	c->connect_timeout_ms =
		cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 2000;
	c->max_unary = cfg->max_requests > 0 ? (size_t)cfg->max_requests : 64;
	c->endpoints = calloc(cfg->n_endpoints, sizeof(char *));
	if (c->endpoints == NULL)
		goto fail;
	c->n_endpoints = cfg->n_endpoints;
	for (size_t i = 0; i < cfg->n_endpoints; i++) {
		size_t n = strlen(cfg->endpoints[i]);
		while (n > 0 && cfg->endpoints[i][n - 1] == '/')
			n--; /* "http://h:2379/" + "/v3/..." */
		c->endpoints[i] = strndup(cfg->endpoints[i], n);
		if (c->endpoints[i] == NULL)
			goto fail;
	}
	c->username = dup_opt(cfg->username);
	c->password = strdup(cfg->password != NULL ? cfg->password : "");
	c->ca_file = dup_opt(cfg->ca_file);
	c->cert_file = dup_opt(cfg->cert_file);
	c->key_file = dup_opt(cfg->key_file);
	if (c->password == NULL ||
	    (cfg->username != NULL && cfg->username[0] && !c->username) ||
	    (cfg->ca_file != NULL && cfg->ca_file[0] && !c->ca_file) ||
	    (cfg->cert_file != NULL && cfg->cert_file[0] && !c->cert_file) ||
	    (cfg->key_file != NULL && cfg->key_file[0] && !c->key_file))
		goto fail;
	if (evcurl_new(loop, &c->multi) != 0)
		goto fail;
	/* Enough idle connections for high concurrency to reuse them. */
	curl_multi_setopt(evcurl_multi(c->multi), CURLMOPT_MAXCONNECTS, 256L);
	*ret_c = c;
	return 0;
fail:
	etcd_client_free(c);
	return ETCD_ENOMEM;
}

/* Starts waiting calls while slots are free. */
static void wait_kick(etcd_client *c)
{
	while (!c->closing && c->n_unary < c->max_unary && c->wait_head) {
		struct etcd_call *call = c->wait_head;

		c->wait_head = call->wait_next;
		if (c->wait_head == NULL)
			c->wait_tail = NULL;
		call->waiting = false;
		call_submit(call);
	}
}

static void wait_remove(etcd_client *c, struct etcd_call *call)
{
	struct etcd_call *prev = NULL;

	for (struct etcd_call *w = c->wait_head; w; prev = w, w = w->wait_next) {
		if (w != call)
			continue;
		if (prev)
			prev->wait_next = w->wait_next;
		else
			c->wait_head = w->wait_next;
		if (c->wait_tail == w)
			c->wait_tail = prev;
		break;
	}
	call->waiting = false;
}

static void call_uncount(struct etcd_call *call)
{
	if (call->counted) {
		call->counted = false;
		call->c->n_unary--;
	}
}

static void call_free(struct etcd_call *call)
{
	etcd_client *c = call->c;

	if (call->waiting)
		wait_remove(c, call);
	call_uncount(call);

	if (call->easy != NULL) {
		evcurl_remove(c->multi, call->easy);
		if (c->n_pool < EASY_POOL && !c->closing) {
			curl_easy_reset(call->easy);
			c->pool[c->n_pool++] = call->easy;
		} else {
			curl_easy_cleanup(call->easy);
		}
	}
	curl_slist_free_all(call->hdrs);
	free(call->body);
	free(call->buf);
	free(call);
	wait_kick(c);
}

static void call_unlink(struct etcd_call *call)
{
	etcd_client *c = call->c;

	if (call->queued) {
		struct etcd_call **pp = &c->auth_wait;
		while (*pp != NULL && *pp != call)
			pp = &(*pp)->next;
		if (*pp == call)
			*pp = call->next;
		call->queued = false;
		call->next = NULL;
		return;
	}
	if (call->prev != NULL)
		call->prev->next = call->next;
	else if (c->calls == call)
		c->calls = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
}

static void call_link(struct etcd_call *call)
{
	etcd_client *c = call->c;

	call->prev = NULL;
	call->next = c->calls;
	if (c->calls != NULL)
		c->calls->prev = call;
	c->calls = call;
}

/* Unlinks, frees, then reports: the callback may start new calls. */
static void call_finish(struct etcd_call *call, const struct etcd_error *err,
			json_t *resp)
{
	etcd_call_done_cb done = call->done;
	void *arg = call->arg;

	call_unlink(call);
	call_free(call);
	done(arg, err, resp);
}

static void defer_drain(etcd_client *c)
{
	while (c->defer_head != NULL) {
		ev_timer_stop(c->loop, &c->defer_timer);
		on_defer(c->loop, &c->defer_timer, 0);
	}
}

etcd_client *etcd_client_free(etcd_client *c)
{
	if (c == NULL)
		return NULL;
	c->closing = 1;

	/* Long-lived objects first: closing them cancels their calls. */
	while (c->handles.next != &c->handles) {
		struct etcd_handle *h = c->handles.next;
		etcd_handle_unlink(c, h);
		h->close(h);
	}
	/* Deferred reports first: they own their calls (a canceled one is
	 * freed there without a callback). */
	defer_drain(c);
	struct etcd_error err;
	etcd_error_set(&err, ETCD_ECANCELED, "client closed");
	while (c->auth_wait != NULL)
		call_finish(c->auth_wait, &err, NULL);
	while (c->calls != NULL) {
		struct etcd_call *call = c->calls;
		if (call->canceled) { /* canceled from a write callback */
			call_unlink(call);
			call_free(call);
		} else {
			call_finish(call, &err, NULL);
		}
	}
	/* Deferred reports queued by the callbacks above. */
	defer_drain(c);
	ev_timer_stop(c->loop, &c->defer_timer);
	for (size_t i = 0; i < c->n_pool; i++)
		curl_easy_cleanup(c->pool[i]);
	c->multi = evcurl_free(c->multi);
	for (size_t i = 0; c->endpoints != NULL && i < c->n_endpoints; i++)
		free(c->endpoints[i]);
	free(c->endpoints);
	free(c->username);
	free(c->password);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->token);
	free(c);
	return NULL;
}

/* ---- one transfer ----------------------------------------------------- */

static bool call_append(struct etcd_call *call, const char *p, size_t n)
{
	if (call->len + n + 1 > call->cap) {
		size_t cap = call->cap ? call->cap : 1024;
		while (cap < call->len + n + 1)
			cap *= 2;
		if (cap > MAX_BODY)
			return false;
		char *b = realloc(call->buf, cap);
		if (b == NULL)
			return false;
		call->buf = b;
		call->cap = cap;
	}
	memcpy(call->buf + call->len, p, n);
	call->len += n;
	call->buf[call->len] = '\0';
	return true;
}

/* Streams: hand each complete line to the line callback. */
static bool stream_lines(struct etcd_call *call)
{
	size_t start = 0;

	for (;;) {
		char *nl = memchr(call->buf + start, '\n', call->len - start);
		if (nl == NULL)
			break;
		size_t n = (size_t)(nl - (call->buf + start));
		if (n > 0) {
			json_error_t jerr;
			json_t *msg = json_loadb(call->buf + start, n, 0, &jerr);
			if (msg == NULL) {
				call->stream_err = ETCD_EPROTO;
				return false;
			}
			call->line(call->arg, msg);
			json_decref(msg);
			if (call->canceled)
				return false;
		}
		start += n + 1;
	}
	memmove(call->buf, call->buf + start, call->len - start);
	call->len -= start;
	return true;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *userp)
{
	struct etcd_call *call = userp;
	size_t n = size * nmemb;
	long status = 0;

	if (call->canceled)
		return 0;
	if (!call_append(call, p, n)) {
		call->stream_err = ETCD_ENOMEM;
		return 0;
	}
	if (!(call->flags & ETCD_CALL_STREAM))
		return n;
	curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return n; /* an error body: decoded whole at the end */
	call->in_write = true;
	bool ok = stream_lines(call);
	call->in_write = false;
	return ok ? n : 0;
}

/* The endpoint of call failed: move on, unless another call already did
 * (concurrent failures must not rotate back onto the dead endpoint). */
static void next_endpoint(etcd_client *c, const struct etcd_call *call)
{
	if (c->cur == call->ep)
		c->cur = (call->ep + 1) % c->n_endpoints;
}

/*
 * Whether the request of a failed transfer may have reached etcd.  Only a
 * request that provably never left may be sent elsewhere unless it is
 * idempotent: one written to a stalled member sits in that member's
 * socket buffer and is applied when it resumes, after whatever the
 * caller wrote since.  A connection refused carried nothing, nor did one
 * whose transfer never began: no pretransfer time (curl records it just
 * before it writes the request), no request bytes, nothing uploaded - a
 * connect or TLS handshake that failed or timed out.  The connect time
 * and connection count say nothing: both are 0 for a reused keep-alive
 * connection, which has no connect phase however much it sent, and for
 * a connect that timed out (curl counts only connections made).
 */
static bool request_may_have_left(CURLcode res, CURL *easy)
{
	long req_size = 0;
	curl_off_t pretransfer = 0, uploaded = 0;

	switch (res) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return false;
	default:
		break;
	}
	if (curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T,
			      &pretransfer) != CURLE_OK ||
	    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &req_size) !=
		    CURLE_OK ||
	    curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &uploaded) !=
		    CURLE_OK)
		return true;
	return pretransfer != 0 || req_size != 0 || uploaded != 0;
}

static void transfer_error(struct etcd_call *call, CURLcode res,
			   struct etcd_error *err)
{
	const char *what = call->errbuf[0] ? call->errbuf
					   : curl_easy_strerror(res);
	int code;

	switch (res) {
	case CURLE_OPERATION_TIMEDOUT:
		code = ETCD_ETIMEDOUT;
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		code = ETCD_ETLS;
		break;
	default:
		code = ETCD_ECONN;
		break;
	}
	etcd_error_set(err, code, "%s%s: %s", call->c->endpoints[call->ep],
		       call->path, what);
}

/*
 * A non-JSON error answer: its first line goes into the message, printable
 * ASCII only, so that a refusal says why (etcd's gateway answers a
 * password login over a client certificate with a CommonName with a bare
 * "HTTP 400" and a line of text, CVE-2018-16886's fix).
 */
static void body_error(const struct etcd_call *call, long status,
		       struct etcd_error *err)
{
	char text[161];
	size_t n = 0;

	for (size_t i = 0; i < call->len && n + 1 < sizeof(text); i++) {
		unsigned char ch = (unsigned char)call->buf[i];

		if (ch == '\n' || ch == '\r')
			break;
		text[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	text[n] = '\0';
	if (strstr(text, "CommonName"))
		etcd_error_set(err, ETCD_EPROTO,
			       "%s: HTTP %ld: %s (etcd's gateway takes no "
			       "password with a client certificate that has "
			       "a CommonName: use one without a CN)",
			       call->path, status, text);
	else if (n)
		etcd_error_set(err, ETCD_EPROTO, "%s: HTTP %ld: %s",
			       call->path, status, text);
	else
		etcd_error_set(err, ETCD_EPROTO, "%s: HTTP %ld", call->path,
			       status);
	err->http_status = status;
}

static void on_done(CURL *easy, CURLcode res, void *arg)
{
	struct etcd_call *call = arg;
	etcd_client *c = call->c;
	struct etcd_error err;
	long status = 0;

	(void)easy;
	if (call->canceled) {
		call_unlink(call);
		call_free(call);
		return;
	}
	curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);

	if (call->stream_err != 0) {
		etcd_error_set(&err, call->stream_err, "%s: %s", call->path,
			       call->stream_err == ETCD_ENOMEM
				       ? "answer too large or out of memory"
				       : "malformed JSON line in stream");
		call_finish(call, &err, NULL);
		return;
	}
	if (res != CURLE_OK) {
		bool left = request_may_have_left(res, call->easy);
		transfer_error(call, res, &err);
		next_endpoint(c, call);
		if ((!left || (call->flags & ETCD_CALL_IDEMPOTENT)) &&
		    !call->pinned && ++call->tries < c->n_endpoints) {
			/* Nothing reached the server, or it does not matter:
			 * try the next. */
			call->len = 0;
			call_submit(call);
			return;
		}
		err.outcome_unknown = left;
		call_finish(call, &err, NULL);
		return;
	}

	json_error_t jerr;
	json_t *resp = NULL;
	if (call->len > 0)
		resp = json_loadb(call->buf, call->len, 0, &jerr);

	if (status == 200 && !(call->flags & ETCD_CALL_STREAM)) {
		if (!json_is_object(resp)) {
			etcd_error_set(&err, ETCD_EPROTO,
				       "%s: answer is not a JSON object",
				       call->path);
			call_finish(call, &err, NULL);
		} else {
			call_finish(call, NULL, resp);
		}
		json_decref(resp);
		return;
	}
	if (status == 200) { /* stream closed by the server */
		/* A unary answer read as a stream (an election campaign,
		 * which must not time out) ends without a newline. */
		if (call->len > 0 && json_is_object(resp)) {
			call->len = 0;
			call->in_write = true; /* a cancel now only marks */
			call->line(call->arg, resp);
			call->in_write = false;
		}
		if (call->canceled) {
			json_decref(resp);
			call_unlink(call);
			call_free(call);
			return;
		}
		if (call->len > 0) {
			etcd_error_set(&err, ETCD_EPROTO,
				       "%s: stream ended mid-message",
				       call->path);
			call_finish(call, &err, NULL);
		} else {
			call_finish(call, NULL, NULL);
		}
		json_decref(resp);
		return;
	}
	if (resp != NULL) {
		etcd_decode_error(resp, status, &err);
		/* etcd's own timeouts ("request timed out", "leader changed",
		 * deadline exceeded): the proposal may still commit. */
		err.outcome_unknown = err.grpc_code == 4 || err.grpc_code == 14;
	} else {
		body_error(call, status, &err);
	}
	json_decref(resp);
	if (err.code == ETCD_EAUTH && err.grpc_code == 16 && c->username &&
	    !call->reauthed && !(call->flags & ETCD_CALL_NOAUTH)) {
		/* Token expired or revoked: authenticate once more. */
		call->reauthed = true;
		call->len = 0;
		call_uncount(call); /* the authenticate call needs a slot */
		if (c->auth == AUTH_OK) {
			c->auth = AUTH_NONE;
			free(c->token);
			c->token = NULL;
		}
		call_unlink(call);
		call_submit(call);
		return;
	}
	call_finish(call, &err, NULL);
}

static int easy_setup(struct etcd_call *call)
{
	etcd_client *c = call->c;
	char url[1024];
	CURL *e;

	if (call->easy == NULL) {
		e = c->n_pool > 0 ? c->pool[--c->n_pool] : curl_easy_init();
		if (e == NULL)
			return ETCD_ENOMEM;
		call->easy = e;
	}
	e = call->easy;
	curl_slist_free_all(call->hdrs);
	call->hdrs = NULL;
	call->hdrs = curl_slist_append(call->hdrs,
				       "Content-Type: application/json");
	if (call->hdrs == NULL)
		return ETCD_ENOMEM;
	struct curl_slist *h = curl_slist_append(call->hdrs, "Expect:");
	if (h == NULL)
		return ETCD_ENOMEM;
	if (c->token != NULL && !(call->flags & ETCD_CALL_NOAUTH)) {
		size_t n = strlen(c->token) + sizeof("Authorization: ");
		char *line = malloc(n);
		if (line == NULL)
			return ETCD_ENOMEM;
		snprintf(line, n, "Authorization: %s", c->token);
		h = curl_slist_append(call->hdrs, line);
		free(line);
		if (h == NULL)
			return ETCD_ENOMEM;
	}
	if (!call->pinned)
		call->ep = c->cur;
	snprintf(url, sizeof(url), "%s%s", c->endpoints[call->ep], call->path);
	call->errbuf[0] = '\0';
	call->stream_err = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)call->body_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 10L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 5L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
			 (call->flags & ETCD_CALL_STREAM) ? 0L : c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->cert_file != NULL)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file != NULL)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	return 0;
}

/* Sends now, or queues behind authentication.  On failure reports through
 * the call's callback, from the loop. */
static void report_later(void *arg)
{
	struct etcd_call *call = arg;
	struct etcd_error err;

	call->deferred = false;
	if (call->canceled) {
		call_unlink(call);
		call_free(call);
		return;
	}
	etcd_error_set(&err, call->stream_err ? call->stream_err : ETCD_ENOMEM,
		       "%s: could not start the request", call->path);
	call_finish(call, &err, NULL);
}

static void call_submit(struct etcd_call *call)
{
	etcd_client *c = call->c;

	if (c->username != NULL && c->auth != AUTH_OK &&
	    !(call->flags & ETCD_CALL_NOAUTH)) {
		call_unlink(call);
		call->queued = true;
		call->next = c->auth_wait;
		c->auth_wait = call;
		if (c->auth == AUTH_NONE)
			auth_start(c);
		return;
	}
	call_unlink(call);
	call_link(call);
	if (!(call->flags & ETCD_CALL_STREAM) && !call->counted) {
		if (c->n_unary >= c->max_unary) {
			if (!call->waiting) {
				call->waiting = true;
				call->wait_next = NULL;
				if (c->wait_tail)
					c->wait_tail->wait_next = call;
				else
					c->wait_head = call;
				c->wait_tail = call;
			}
			return;
		}
		call->counted = true;
		c->n_unary++;
	}
	int r = easy_setup(call);
	if (r == 0 && evcurl_add(c->multi, call->easy, on_done, call) != 0)
		r = ETCD_ECONN;
	if (r != 0) {
		call->stream_err = r;
		evcurl_remove(c->multi, call->easy);
		call->deferred = true;
		etcd_defer(c, &call->defer, report_later, call);
	}
}

/* ---- auth ------------------------------------------------------------- */

static void on_auth(void *arg, const struct etcd_error *err, json_t *resp)
{
	etcd_client *c = arg;
	struct etcd_call *wait = c->auth_wait;
	struct etcd_error e;

	c->auth_wait = NULL;
	const char *tok = json_string_value(json_object_get(resp, "token"));
	if (err == NULL && tok != NULL && (c->token = strdup(tok)) != NULL) {
		c->auth = AUTH_OK;
	} else {
		c->auth = AUTH_NONE;
		if (err == NULL)
			etcd_error_set(&e, ETCD_EAUTH, "authenticate: no token");
		else if (err->code == ETCD_ECONN || err->code == ETCD_ETIMEDOUT) {
			e = *err;
			e.outcome_unknown = false; /* ours were never sent */
		} else
			etcd_error_set(&e, ETCD_EAUTH, "authenticate as %s: %s",
				       c->username, err->message);
		err = &e;
	}
	while (wait != NULL) {
		struct etcd_call *call = wait;
		wait = call->next;
		call->queued = false;
		call->next = NULL;
		if (c->auth == AUTH_OK) {
			call_submit(call);
		} else {
			call_link(call);
			call_finish(call, err, NULL);
		}
	}
}

static void auth_start(etcd_client *c)
{
	json_t *body = json_pack("{s:s, s:s}", "name", c->username,
				 "password", c->password);

	c->auth = AUTH_PENDING;
	if (etcd_call_start(c, "/v3/auth/authenticate", body, ETCD_CALL_NOAUTH,
			    on_auth, NULL, c, NULL) != 0) {
		/* Report to the waiting calls from the loop. */
		c->auth = AUTH_NONE;
		for (struct etcd_call *w = c->auth_wait; w != NULL;) {
			struct etcd_call *next = w->next;
			w->queued = false;
			w->next = NULL;
			call_link(w);
			w->stream_err = ETCD_ENOMEM;
			w->deferred = true;
			etcd_defer(c, &w->defer, report_later, w);
			w = next;
		}
		c->auth_wait = NULL;
	}
}

/* ---- public to the modules -------------------------------------------- */

static int call_start(etcd_client *c, const struct etcd_call *beside,
		      const char *path, json_t *body, unsigned flags,
		      etcd_call_done_cb done, etcd_call_line_cb line,
		      void *arg, struct etcd_call **ret_call)
{
	struct etcd_call *call = NULL;

	if (c->closing) {
		json_decref(body);
		return ETCD_ECANCELED;
	}
	if (body == NULL || strlen(path) >= sizeof(call->path))
		goto fail;
	call = calloc(1, sizeof(*call));
	if (call == NULL)
		goto fail;
	call->c = c;
	strcpy(call->path, path);
	call->flags = flags;
	call->done = done;
	call->line = line;
	call->arg = arg;
	if (beside != NULL) {
		call->pinned = true;
		call->ep = beside->ep;
	}
	call->body = json_dumps(body, JSON_COMPACT);
	if (call->body == NULL)
		goto fail;
	call->body_len = strlen(call->body);
	json_decref(body);
	call_link(call);
	call_submit(call);
	if (ret_call != NULL)
		*ret_call = call;
	return 0;
fail:
	json_decref(body);
	free(call);
	return ETCD_ENOMEM;
}

int etcd_call_start(etcd_client *c, const char *path, json_t *body,
		    unsigned flags, etcd_call_done_cb done,
		    etcd_call_line_cb line, void *arg,
		    struct etcd_call **ret_call)
{
	return call_start(c, NULL, path, body, flags, done, line, arg,
			  ret_call);
}

int etcd_call_probe(etcd_client *c, const struct etcd_call *stream,
		    json_t *key, etcd_call_done_cb done, void *arg,
		    struct etcd_call **ret_call)
{
	json_t *body = json_pack("{s:O, s:b}", "key", key, "count_only", 1);

	return call_start(c, stream, "/v3/kv/range", body, 0, done, NULL, arg,
			  ret_call);
}

void etcd_call_cancel(struct etcd_call *call)
{
	if (call == NULL || call->canceled)
		return;
	call->canceled = true;
	/* Inside the write callback curl still holds the handle: on_write
	 * returns 0 and on_done frees.  A pending deferred report frees it
	 * when it runs.  Elsewhere free now. */
	if (call->in_write || call->deferred)
		return;
	call_unlink(call);
	call_free(call);
}
