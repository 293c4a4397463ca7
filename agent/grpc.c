/* gRPC unary calls over libcurl HTTP/2; see grpc.h. */
#include "agent/grpc.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest reply accepted (gRPC's default receive limit is 4 MiB). */
#define GRPC_MAX_REPLY (16u << 20)

struct grpc_channel {
	evcurl *m;
	char *endpoint;	  /* as configured, for messages */
	char *url;	  /* scheme://host:port, no path */
	char *connect_to; /* server_name:port:host:port, or NULL */
	bool insecure;
	/* curl before 8.0 breaks a reused h2c prior-knowledge connection
	 * ("Error in the HTTP2 framing layer" on the second request: curl
	 * issue #10634, fixed by PR #10643 in 8.0.0; Debian bookworm has
	 * 7.88.1): there, each h2c call gets a connection of its own. */
	bool h2c_fresh;
	char *ca_file, *cert_file, *key_file;
	struct curl_slist *headers; /* every call's, copied per call */
	grpc_call *calls;	    /* in flight */
	unsigned active;
};

struct grpc_call {
	grpc_channel *ch;
	CURL *easy;
	struct curl_slist *headers, *connect_to;
	grpc_call_cb cb;
	void *arg;
	long deadline_ms;
	uint8_t *req; /* the framed request */
	size_t req_len, req_off;
	bool sent; /* curl has read request bytes */
	uint8_t *body;
	size_t body_len, body_cap;
	bool too_big;
	int grpc_status; /* -1 until seen */
	char grpc_message[256];
	char errbuf[CURL_ERROR_SIZE];
	grpc_call *prev, *next;
};

static const char *const code_names[] = {
	"OK",		     "CANCELLED",	  "UNKNOWN",
	"INVALID_ARGUMENT",  "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS",    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED",	  "OUT_OF_RANGE",
	"UNIMPLEMENTED",     "INTERNAL",	  "UNAVAILABLE",
	"DATA_LOSS",	     "UNAUTHENTICATED",
};

const char *grpc_code_name(int code)
{
	if (code < 0 || code >= (int)(sizeof(code_names) / sizeof(*code_names)))
		return "?";
	return code_names[code];
}

/* ---- channel ---- */

static char *dup_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? strdup(s) : NULL;
}

static bool dup_ok(const char *src, const char *copy)
{
	return src == NULL || *src == '\0' || copy != NULL;
}

/* Splits host:port or [v6]:port; host keeps its brackets. */
static int endpoint_split(const char *ep, char *host, size_t hostlen,
			  unsigned *ret_port)
{
	const char *colon;
	char *end;
	unsigned long port;

	if (ep[0] == '[') {
		const char *rb = strchr(ep, ']');

		if (rb == NULL || rb[1] != ':')
			return -EINVAL;
		colon = rb + 1;
	} else {
		colon = strrchr(ep, ':');
		if (colon == NULL || memchr(ep, ':', (size_t)(colon - ep)))
			return -EINVAL;
	}
	if (colon == ep || (size_t)(colon - ep) >= hostlen)
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end != '\0' || port == 0 ||
	    port > 65535)
		return -EINVAL;
	memcpy(host, ep, (size_t)(colon - ep));
	host[colon - ep] = '\0';
	for (const char *p = host; *p; p++)
		if (isspace((unsigned char)*p) || *p == '/' || *p == '@')
			return -EINVAL;
	*ret_port = (unsigned)port;
	return 0;
}

static char *str_printf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *grpc_basic_header(const char *token)
{
	static const char pre[] = "authorization: Basic ";
	size_t n = strlen(token), o = sizeof(pre) - 1;
	char *h = malloc(o + (n + 2) / 3 * 4 + 1);

	if (h == NULL)
		return NULL;
	memcpy(h, pre, o);
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)(unsigned char)token[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)(unsigned char)token[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)token[i + 2];
		h[o++] = b64[(v >> 18) & 63];
		h[o++] = b64[(v >> 12) & 63];
		h[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		h[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	h[o] = '\0';
	return h;
}

static int headers_add(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);

	if (n == NULL)
		return -ENOMEM;
	*l = n;
	return 0;
}

static int channel_headers(grpc_channel *ch,
			   const struct grpc_channel_config *cfg)
{
	static const char *const fixed[] = {
		"content-type: application/grpc",
		"te: trailers",
		"grpc-accept-encoding: identity",
		"Accept:", /* curl's defaults, not gRPC's */
		"Expect:",
	};
	int rc;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
		if ((rc = headers_add(&ch->headers, fixed[i])) < 0)
			return rc;
	if (cfg->basic_token != NULL && *cfg->basic_token != '\0') {
		char *h = grpc_basic_header(cfg->basic_token);

		if (h == NULL)
			return -ENOMEM;
		rc = headers_add(&ch->headers, h);
		free(h);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < cfg->n_metadata; i++) {
		const char *md = cfg->metadata[i];

		if (md == NULL || strstr(md, ": ") == NULL || md[0] == ':' ||
		    strpbrk(md, "\r\n") != NULL)
			return -EINVAL;
		if ((rc = headers_add(&ch->headers, md)) < 0)
			return rc;
	}
	return 0;
}

int grpc_channel_new(evcurl *m, const struct grpc_channel_config *cfg,
		     grpc_channel **ret_ch)
{
	char host[256];
	unsigned port;
	grpc_channel *ch;
	const char *scheme;
	int rc;

	if (m == NULL || cfg == NULL || cfg->endpoint == NULL ||
	    endpoint_split(cfg->endpoint, host, sizeof(host), &port) < 0)
		return -EINVAL;
	if (!cfg->insecure &&
	    (cfg->cert_file == NULL || *cfg->cert_file == '\0') !=
		    (cfg->key_file == NULL || *cfg->key_file == '\0'))
		return -EINVAL;
	if (cfg->server_name != NULL &&
	    strpbrk(cfg->server_name, ":/@[] \t\r\n") != NULL)
		return -EINVAL;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return -ENOMEM;
	ch->m = m;
	ch->insecure = cfg->insecure;
	ch->h2c_fresh = cfg->insecure &&
			curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
	scheme = cfg->insecure ? "http" : "https";
	ch->endpoint = strdup(cfg->endpoint);
	if (!cfg->insecure && cfg->server_name != NULL &&
	    *cfg->server_name != '\0') {
		ch->url = str_printf("%s://%s:%u", scheme, cfg->server_name,
				     port);
		ch->connect_to = str_printf("%s:%u:%s:%u", cfg->server_name,
					    port, host, port);
		if (ch->connect_to == NULL)
			goto nomem;
	} else {
		ch->url = str_printf("%s://%s:%u", scheme, host, port);
	}
	if (ch->endpoint == NULL || ch->url == NULL)
		goto nomem;
	if (!cfg->insecure) {
		ch->ca_file = dup_or_null(cfg->ca_file);
		ch->cert_file = dup_or_null(cfg->cert_file);
		ch->key_file = dup_or_null(cfg->key_file);
		if (!dup_ok(cfg->ca_file, ch->ca_file) ||
		    !dup_ok(cfg->cert_file, ch->cert_file) ||
		    !dup_ok(cfg->key_file, ch->key_file))
			goto nomem;
	}
	if ((rc = channel_headers(ch, cfg)) < 0)
		goto fail;
	/* The default since curl 7.62; said here because the calls rely on
	 * it to share one connection. */
	curl_multi_setopt(evcurl_multi(m), CURLMOPT_PIPELINING,
			  (long)CURLPIPE_MULTIPLEX);
	*ret_ch = ch;
	return 0;
nomem:
	rc = -ENOMEM;
fail:
	grpc_channel_free(ch);
	return rc;
}

static void call_unlink(grpc_call *c)
{
	grpc_channel *ch = c->ch;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ch->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ch->active--;
}

static void call_destroy(grpc_call *c)
{
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	curl_slist_free_all(c->connect_to);
	free(c->req);
	free(c->body);
	free(c);
}

grpc_channel *grpc_channel_free(grpc_channel *ch)
{
	if (ch == NULL)
		return NULL;
	for (grpc_call *c = ch->calls, *next; c != NULL; c = next) {
		next = c->next;
		grpc_call_cancel(c);
	}
	curl_slist_free_all(ch->headers);
	free(ch->endpoint);
	free(ch->url);
	free(ch->connect_to);
	free(ch->ca_file);
	free(ch->cert_file);
	free(ch->key_file);
	free(ch);
	return NULL;
}

unsigned grpc_channel_active(const grpc_channel *ch)
{
	return ch->active;
}

/* ---- one call ---- */

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	grpc_call *c = arg;
	size_t left = c->req_len - c->req_off, k = size * n;

	if (k > left)
		k = left;
	memcpy(buf, c->req + c->req_off, k);
	c->req_off += k;
	if (k > 0)
		c->sent = true;
	return k;
}

/* curl rewinds to re-send on a new connection (a refused stream, a
 * reused connection that was gone). */
static int on_seek(void *arg, curl_off_t off, int origin)
{
	grpc_call *c = arg;

	if (origin != SEEK_SET || off < 0 || (size_t)off > c->req_len)
		return CURL_SEEKFUNC_CANTSEEK;
	c->req_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
	grpc_call *c = arg;
	size_t k = size * n;

	if (c->body_len + k > GRPC_MAX_REPLY) {
		c->too_big = true;
		return 0;
	}
	if (c->body_len + k > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap : 1024;
		uint8_t *p;

		while (cap < c->body_len + k)
			cap *= 2;
		p = realloc(c->body, cap);
		if (p == NULL)
			return 0;
		c->body = p;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, data, k);
	c->body_len += k;
	return k;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* grpc-message is percent-encoded UTF-8; a bad escape is kept as is. */
static void percent_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

/* Headers and trailers alike: curl hands both to this callback. */
static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	grpc_call *c = arg;
	size_t len = size * n, k = len;
	const char *v;
	size_t name_len, vlen;

	while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r'))
		k--;
	v = memchr(line, ':', k);
	if (v == NULL)
		return len;
	name_len = (size_t)(v - line);
	v++;
	while (v < line + k && (*v == ' ' || *v == '\t'))
		v++;
	vlen = (size_t)(line + k - v);
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (name_len == 11 && strncasecmp(line, "grpc-status", 11) == 0) {
		int code = 0;

		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9' || code > 1000) {
				code = GRPC_UNKNOWN;
				break;
			}
			code = code * 10 + (v[i] - '0');
		}
		c->grpc_status = vlen == 0 ? GRPC_UNKNOWN : code;
	} else if (name_len == 12 &&
		   strncasecmp(line, "grpc-message", 12) == 0) {
		percent_decode(v, vlen, c->grpc_message,
			       sizeof(c->grpc_message));
	}
	return len;
}

static void status_set(struct grpc_result *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void status_set(struct grpc_result *r, int code, const char *fmt, ...)
{
	va_list ap;

	r->status.code = code;
	va_start(ap, fmt);
	vsnprintf(r->status.message, sizeof(r->status.message), fmt, ap);
	va_end(ap);
}

/* The gRPC spec's mapping for an HTTP answer without grpc-status. */
static int http_to_code(long http)
{
	switch (http) {
	case 400:
		return GRPC_INTERNAL;
	case 401:
		return GRPC_UNAUTHENTICATED;
	case 403:
		return GRPC_PERMISSION_DENIED;
	case 404:
		return GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return GRPC_UNAVAILABLE;
	default:
		return GRPC_UNKNOWN;
	}
}

/* A unary reply is exactly one uncompressed length-prefixed message. */
static void reply_parse(grpc_call *c, struct grpc_result *r)
{
	static const uint8_t empty[1];
	const uint8_t *b = c->body;
	size_t n = c->body_len, len;

	if (n < 5) {
		r->transport = true;
		status_set(r, GRPC_INTERNAL,
			   "%s: OK without a reply message (%zu bytes)",
			   c->ch->endpoint, n);
		return;
	}
	len = (size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 |
	      (size_t)b[4];
	if (b[0] != 0) {
		r->transport = true;
		status_set(r, GRPC_INTERNAL,
			   "%s: compressed reply (flag %u), none was asked for",
			   c->ch->endpoint, b[0]);
	} else if (n - 5 != len) {
		r->transport = true;
		status_set(r, GRPC_INTERNAL,
			   "%s: reply of %zu bytes for a frame of %zu "
			   "(cut, or more than one message)",
			   c->ch->endpoint, n - 5, len);
	} else {
		r->reply = len > 0 ? b + 5 : empty;
		r->reply_len = len;
	}
}

static void on_done(CURL *easy, CURLcode res, void *arg)
{
	grpc_call *c = arg;
	struct grpc_result r = {.sent = c->sent};
	long version = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.http_status);
	curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
	if (res != CURLE_OK) {
		const char *why = c->errbuf[0] ? c->errbuf
					       : curl_easy_strerror(res);

		r.transport = true;
		if (res == CURLE_OPERATION_TIMEDOUT)
			status_set(&r, GRPC_DEADLINE_EXCEEDED,
				   "%s: deadline of %ld ms exceeded (%s)",
				   c->ch->endpoint, c->deadline_ms, why);
		else if (c->too_big)
			status_set(&r, GRPC_RESOURCE_EXHAUSTED,
				   "%s: reply larger than %u bytes",
				   c->ch->endpoint, GRPC_MAX_REPLY);
		else
			status_set(&r, GRPC_UNAVAILABLE, "%s: %s",
				   c->ch->endpoint, why);
	} else if (version != CURL_HTTP_VERSION_2_0) {
		r.transport = true;
		status_set(&r, GRPC_UNAVAILABLE,
			   "%s: the server did not speak HTTP/2 (HTTP %ld)",
			   c->ch->endpoint, r.http_status);
	} else if (c->grpc_status >= 0) {
		r.status.code = c->grpc_status;
		snprintf(r.status.message, sizeof(r.status.message), "%s",
			 c->grpc_message);
		if (c->grpc_status == GRPC_OK)
			reply_parse(c, &r);
	} else if (r.http_status != 200) {
		r.transport = true;
		status_set(&r, http_to_code(r.http_status),
			   "%s: HTTP %ld without grpc-status", c->ch->endpoint,
			   r.http_status);
	} else {
		r.transport = true;
		status_set(&r, GRPC_INTERNAL,
			   "%s: answer ended without grpc-status trailers",
			   c->ch->endpoint);
	}
	if (r.status.code != GRPC_OK) {
		r.reply = NULL;
		r.reply_len = 0;
	}
	/* Off the channel first, so that the callback may free the channel;
	 * freed after it: r.reply points into c->body. */
	call_unlink(c);
	c->cb(&r, c->arg);
	call_destroy(c);
}

static int call_headers(grpc_call *c)
{
	int rc;

	for (const struct curl_slist *l = c->ch->headers; l; l = l->next)
		if ((rc = headers_add(&c->headers, l->data)) < 0)
			return rc;
	if (c->deadline_ms > 0) {
		char h[64];

		/* At most 8 digits (gRPC's wire format). */
		if (c->deadline_ms <= 99999999L)
			snprintf(h, sizeof(h), "grpc-timeout: %ldm",
				 c->deadline_ms);
		else
			snprintf(h, sizeof(h), "grpc-timeout: %ldS",
				 c->deadline_ms / 1000 > 99999999L
					 ? 99999999L
					 : (c->deadline_ms + 999) / 1000);
		if ((rc = headers_add(&c->headers, h)) < 0)
			return rc;
	}
	return 0;
}

static int call_easy(grpc_call *c, const char *method)
{
	grpc_channel *ch = c->ch;
	char *url = str_printf("%s%s", ch->url, method);
	CURL *e = curl_easy_init();
	struct curl_slist *ct = NULL;
	int rc = -ENOMEM;

	c->easy = e;
	if (url == NULL || e == NULL)
		goto fail;
	if (ch->connect_to != NULL) {
		ct = curl_slist_append(NULL, ch->connect_to);
		if (ct == NULL)
			goto fail;
	}
	rc = -EIO;
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
			     (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE) !=
		    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) != CURLE_OK)
		goto fail;
	if (ch->h2c_fresh) {
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, 0L);
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	}
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT,
			 "flintsched-grpc/" FLINTSCHED_VERSION);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)c->req_len);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(e, CURLOPT_READDATA, c);
	curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
	curl_easy_setopt(e, CURLOPT_SEEKDATA, c);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	if (c->deadline_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->deadline_ms);
	if (!ch->insecure) {
		curl_easy_setopt(e, CURLOPT_SSLVERSION,
				 (long)CURL_SSLVERSION_TLSv1_2);
		if (ch->ca_file != NULL)
			curl_easy_setopt(e, CURLOPT_CAINFO, ch->ca_file);
		if (ch->cert_file != NULL) {
			curl_easy_setopt(e, CURLOPT_SSLCERT, ch->cert_file);
			curl_easy_setopt(e, CURLOPT_SSLKEY, ch->key_file);
		}
		if (ct != NULL)
			curl_easy_setopt(e, CURLOPT_CONNECT_TO, ct);
	}
	rc = 0;
fail:
	free(url);
	c->connect_to = ct; /* curl keeps no copy of the list */
	return rc;
}

int grpc_call_unary(grpc_channel *ch, const char *method, const uint8_t *msg,
		    size_t len, long deadline_ms, grpc_call_cb cb, void *arg,
		    grpc_call **ret_call)
{
	grpc_call *c;
	int rc;

	if (ch == NULL || method == NULL || method[0] != '/' ||
	    strpbrk(method, " \t\r\n?#") != NULL || len > 0xffffffffu ||
	    (len > 0 && msg == NULL) || cb == NULL || deadline_ms < 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->ch = ch;
	c->cb = cb;
	c->arg = arg;
	c->deadline_ms = deadline_ms;
	c->grpc_status = -1;
	c->next = ch->calls;
	if (ch->calls != NULL)
		ch->calls->prev = c;
	ch->calls = c;
	ch->active++;
	c->req_len = len + 5;
	c->req = malloc(c->req_len);
	rc = -ENOMEM;
	if (c->req == NULL)
		goto fail;
	c->req[0] = 0;
	c->req[1] = (uint8_t)(len >> 24);
	c->req[2] = (uint8_t)(len >> 16);
	c->req[3] = (uint8_t)(len >> 8);
	c->req[4] = (uint8_t)len;
	if (len > 0)
		memcpy(c->req + 5, msg, len);
	if ((rc = call_headers(c)) < 0 || (rc = call_easy(c, method)) < 0)
		goto fail;
	if ((rc = evcurl_add(ch->m, c->easy, on_done, c)) < 0)
		goto fail;
	if (ret_call != NULL)
		*ret_call = c;
	return 0;
fail:
	call_unlink(c);
	call_destroy(c);
	return rc == -EIO ? -ENOMEM : rc;
}

void grpc_call_cancel(grpc_call *c)
{
	if (c == NULL)
		return;
	if (c->easy != NULL)
		evcurl_remove(c->ch->m, c->easy);
	call_unlink(c);
	call_destroy(c);
}
