/* etcd's JSON gateway quirks in one place: base64 bytes, int64 as strings,
 * zero values omitted, errors in two shapes. */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---------------------------------------------------------- */

struct etcd_arena_chunk {
	struct etcd_arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

#define ARENA_CHUNK 4096u

void *etcd_arena_alloc(struct etcd_arena *a, size_t size)
{
	const size_t align = _Alignof(max_align_t);
	struct etcd_arena_chunk *ch = a->head;

	size = (size + align - 1) / align * align;
	if (size == 0)
		size = align;
	if (ch == NULL || ch->size - ch->used < size) {
		size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
		ch = malloc(sizeof(*ch) + cap);
		if (ch == NULL)
			return NULL;
		ch->size = cap;
		ch->used = 0;
		ch->next = a->head;
		a->head = ch;
	}
	void *p = (char *)ch->data + ch->used;
	ch->used += size;
	memset(p, 0, size);
	return p;
}

char *etcd_arena_strndup(struct etcd_arena *a, const char *s, size_t len)
{
	char *p = etcd_arena_alloc(a, len + 1);

	if (p == NULL)
		return NULL;
	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void etcd_arena_clear(struct etcd_arena *a)
{
	while (a->head != NULL) {
		struct etcd_arena_chunk *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}

/* ---- base64 ----------------------------------------------------------- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

json_t *etcd_json_b64(const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t out_len = (len + 2) / 3 * 4;
	char *out = malloc(out_len + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	json_t *s = json_stringn_nocheck(out, o);
	free(out);
	return s;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Decodes standard or URL-safe base64, padded or not. */
static int b64_decode(const char *in, size_t len, struct etcd_arena *a,
		      const char **ret, size_t *ret_len)
{
	size_t pad = 0;

	while (len > 0 && in[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	/* Padding only completes a quantum: "=", "YQ=" + "=" are malformed. */
	if (len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0) ||
	    (pad > 0 && len == 0))
		return ETCD_EPROTO;
	char *out = etcd_arena_alloc(a, len / 4 * 3 + 3);
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (out == NULL)
		return ETCD_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);
		if (v < 0)
			return ETCD_EPROTO;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
}

int etcd_json_get_b64(const json_t *obj, const char *name,
		      struct etcd_arena *a, const char **ret, size_t *ret_len)
{
	return etcd_json_decode_b64(json_object_get(obj, name), a, ret,
				    ret_len);
}

int etcd_json_decode_b64(const json_t *v, struct etcd_arena *a,
			 const char **ret, size_t *ret_len)
{
	if (v == NULL || json_is_null(v)) {
		*ret = "";
		*ret_len = 0;
		return 0;
	}
	if (!json_is_string(v))
		return ETCD_EPROTO;
	return b64_decode(json_string_value(v), json_string_length(v), a, ret,
			  ret_len);
}

/* ---- numbers ---------------------------------------------------------- */

static int parse_int64(const json_t *v, int64_t *ret)
{
	if (v == NULL || json_is_null(v)) {
		*ret = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		*ret = (int64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return ETCD_EPROTO;
	const char *s = json_string_value(v);
	char *end;
	/* strtoll would accept leading blanks and '+': etcd sends neither. */
	if (!((s[0] >= '0' && s[0] <= '9') ||
	      (s[0] == '-' && s[1] >= '0' && s[1] <= '9')))
		return ETCD_EPROTO;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return ETCD_EPROTO;
	*ret = (int64_t)n;
	return 0;
}

int etcd_json_get_int64(const json_t *obj, const char *name, int64_t *ret)
{
	return parse_int64(json_object_get(obj, name), ret);
}

int etcd_json_get_uint64(const json_t *obj, const char *name, uint64_t *ret)
{
	const json_t *v = json_object_get(obj, name);

	if (v == NULL || json_is_null(v)) {
		*ret = 0;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return ETCD_EPROTO;
	const char *s = json_string_value(v);
	char *end;
	if (s[0] < '0' || s[0] > '9')
		return ETCD_EPROTO;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return ETCD_EPROTO;
	*ret = (uint64_t)n;
	return 0;
}

int etcd_json_get_bool(const json_t *obj, const char *name, bool *ret)
{
	const json_t *v = json_object_get(obj, name);

	if (v == NULL || json_is_null(v)) {
		*ret = false;
		return 0;
	}
	if (!json_is_boolean(v))
		return ETCD_EPROTO;
	*ret = json_is_true(v);
	return 0;
}

json_t *etcd_json_int64(int64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRId64, v);

	return json_stringn(buf, (size_t)n);
}

int etcd_json_set_b64(json_t *obj, const char *name, const void *data,
		      size_t len)
{
	json_t *v = etcd_json_b64(data, len);

	if (v == NULL || json_object_set_new(obj, name, v) != 0)
		return ETCD_ENOMEM;
	return 0;
}

int etcd_json_set_int64(json_t *obj, const char *name, int64_t v)
{
	json_t *j = etcd_json_int64(v);

	if (j == NULL || json_object_set_new(obj, name, j) != 0)
		return ETCD_ENOMEM;
	return 0;
}

char *etcd_prefix_end(const char *key, size_t len, size_t *ret_len)
{
	char *end = malloc(len + 1);

	if (end == NULL)
		return NULL;
	memcpy(end, key, len);
	for (size_t i = len; i > 0; i--) {
		if ((unsigned char)end[i - 1] < 0xff) {
			end[i - 1]++;
			*ret_len = i;
			return end;
		}
	}
	/* All 0xff (or empty): every key from key on. */
	end[0] = '\0';
	*ret_len = 1;
	return end;
}

/* ---- messages --------------------------------------------------------- */

int etcd_decode_header(const json_t *obj, struct etcd_header *h)
{
	memset(h, 0, sizeof(*h));
	if (obj == NULL)
		return 0;
	if (!json_is_object(obj))
		return ETCD_EPROTO;
	if (etcd_json_get_uint64(obj, "cluster_id", &h->cluster_id) ||
	    etcd_json_get_uint64(obj, "member_id", &h->member_id) ||
	    etcd_json_get_int64(obj, "revision", &h->revision) ||
	    etcd_json_get_int64(obj, "raft_term", &h->raft_term))
		return ETCD_EPROTO;
	return 0;
}

int etcd_decode_kv(const json_t *obj, struct etcd_arena *a, struct etcd_kv *kv)
{
	int r;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(obj))
		return ETCD_EPROTO;
	if ((r = etcd_json_get_b64(obj, "key", a, &kv->key, &kv->key_len)) ||
	    (r = etcd_json_get_b64(obj, "value", a, &kv->value,
				   &kv->value_len)))
		return r;
	if (etcd_json_get_int64(obj, "create_revision", &kv->create_revision) ||
	    etcd_json_get_int64(obj, "mod_revision", &kv->mod_revision) ||
	    etcd_json_get_int64(obj, "version", &kv->version) ||
	    etcd_json_get_int64(obj, "lease", &kv->lease))
		return ETCD_EPROTO;
	return 0;
}

int etcd_json_array_alloc(const json_t *arr, size_t size,
			  struct etcd_arena *a, void **ret_mem, size_t *ret_n)
{
	*ret_mem = NULL;
	*ret_n = 0;
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return ETCD_EPROTO;
	size_t n = json_array_size(arr);
	if (n == 0)
		return 0;
	if ((*ret_mem = etcd_arena_alloc(a, n * size)) == NULL)
		return ETCD_ENOMEM;
	*ret_n = n;
	return 0;
}

int etcd_decode_kvs(const json_t *arr, struct etcd_arena *a,
		    const struct etcd_kv **ret_kvs, size_t *ret_n)
{
	struct etcd_kv *kvs;
	void *mem;
	size_t n;
	int r;

	*ret_kvs = NULL;
	*ret_n = 0;
	if ((r = etcd_json_array_alloc(arr, sizeof(*kvs), a, &mem, &n)))
		return r;
	kvs = mem;
	for (size_t i = 0; i < n; i++) {
		r = etcd_decode_kv(json_array_get(arr, i), a, &kvs[i]);
		if (r != 0)
			return r;
	}
	*ret_kvs = kvs;
	*ret_n = n;
	return 0;
}

void etcd_error_set(struct etcd_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	memset(err, 0, sizeof(*err));
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void etcd_decode_error(const json_t *body, long http_status,
		       struct etcd_error *err)
{
	const json_t *e = json_object_get(body, "error");
	const char *msg = NULL;
	json_int_t code = 0;

	if (json_is_object(e)) { /* streaming form */
		msg = json_string_value(json_object_get(e, "message"));
		code = json_integer_value(json_object_get(e, "grpc_code"));
	} else {
		msg = json_string_value(json_object_get(body, "message"));
		if (msg == NULL)
			msg = json_string_value(e);
		code = json_integer_value(json_object_get(body, "code"));
	}
	if (msg == NULL)
		msg = "no message";

	int ec = ETCD_ESERVER;
	switch (code) {
	case 5:
		ec = ETCD_ENOTFOUND;
		break;
	case 11:
		if (strstr(msg, "compacted") != NULL)
			ec = ETCD_ECOMPACTED;
		break;
	case 7:
	case 16:
		ec = ETCD_EAUTH;
		break;
	case 3:
		if (strstr(msg, "auth") != NULL ||
		    strstr(msg, "user name") != NULL)
			ec = ETCD_EAUTH;
		break;
	default:
		break;
	}
	etcd_error_set(err, ec, "%s", msg);
	err->grpc_code = (int)code;
	err->http_status = http_status;
}

const char *etcd_strerror(int code)
{
	switch (code) {
	case ETCD_OK:
		return "success";
	case ETCD_ECONN:
		return "connection failed";
	case ETCD_ETIMEDOUT:
		return "timed out";
	case ETCD_ENOTFOUND:
		return "not found";
	case ETCD_ECOMPACTED:
		return "revision compacted";
	case ETCD_EAUTH:
		return "authentication failed";
	case ETCD_ESERVER:
		return "etcd error";
	case ETCD_EPROTO:
		return "malformed answer";
	case ETCD_ENOMEM:
	case -ENOMEM:
		return "out of memory";
	case ETCD_EINVAL:
	case -EINVAL:
		return "invalid argument";
	case ETCD_ECANCELED:
		return "canceled";
	case ETCD_ETLS:
		return "TLS error";
	default:
		return "unknown error";
	}
}
