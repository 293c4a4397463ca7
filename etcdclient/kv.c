/* KV calls: range, put, delete range, compaction.  Encoders and decoders
 * are shared with txn.c (ops inside a txn use the same messages). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- encoding --------------------------------------------------------- */

static const char *const sort_order_names[] = {
	[ETCD_SORT_NONE] = "NONE",
	[ETCD_SORT_ASCEND] = "ASCEND",
	[ETCD_SORT_DESCEND] = "DESCEND",
};

static const char *const sort_target_names[] = {
	[ETCD_SORT_KEY] = "KEY",
	[ETCD_SORT_VERSION] = "VERSION",
	[ETCD_SORT_CREATE] = "CREATE",
	[ETCD_SORT_MOD] = "MOD",
	[ETCD_SORT_VALUE] = "VALUE",
};

/* Sets "key" and "range_end" of obj from the (key, range_end, prefix)
 * triple that range, delete range, watch and compare share. */
int etcd_json_set_key_range(json_t *obj, const char *key, const char *range_end,
			 bool prefix)
{
	size_t klen;
	int r;

	if (key == NULL)
		return ETCD_EINVAL;
	klen = strlen(key);
	if (prefix) {
		if (range_end != NULL)
			return ETCD_EINVAL;
		if (klen == 0) /* every key: etcdctl get "" --prefix */
			return etcd_json_set_b64(obj, "key", "", 1) ||
			       etcd_json_set_b64(obj, "range_end", "", 1)
				       ? ETCD_ENOMEM : 0;
		size_t elen;
		char *end = etcd_prefix_end(key, klen, &elen);
		if (end == NULL)
			return ETCD_ENOMEM;
		r = etcd_json_set_b64(obj, "range_end", end, elen);
		free(end);
		if (r != 0)
			return r;
		return etcd_json_set_b64(obj, "key", key, klen);
	}
	if (klen == 0)
		return ETCD_EINVAL;
	if ((r = etcd_json_set_b64(obj, "key", key, klen)) != 0)
		return r;
	if (range_end == NULL)
		return 0;
	if (range_end[0] == '\0') /* from key on */
		return etcd_json_set_b64(obj, "range_end", "", 1);
	return etcd_json_set_b64(obj, "range_end", range_end,
				 strlen(range_end));
}

static int set_true(json_t *obj, const char *name, bool v)
{
	if (!v)
		return 0;
	return json_object_set_new(obj, name, json_true()) ? ETCD_ENOMEM : 0;
}

static int set_string(json_t *obj, const char *name, const char *s)
{
	return json_object_set_new(obj, name, json_string(s)) ? ETCD_ENOMEM
							       : 0;
}

int etcd_encode_range(const struct etcd_range_req *req, json_t **ret)
{
	json_t *o;
	int r;

	*ret = NULL;
	if (req == NULL || req->limit < 0 || req->revision < 0 ||
	    (unsigned)req->sort_order > ETCD_SORT_DESCEND ||
	    (unsigned)req->sort_target > ETCD_SORT_VALUE)
		return ETCD_EINVAL;
	if ((o = json_object()) == NULL)
		return ETCD_ENOMEM;
	if ((r = etcd_json_set_key_range(o, req->key, req->range_end, req->prefix)))
		goto fail;
	r = ETCD_ENOMEM;
	if ((req->limit && etcd_json_set_int64(o, "limit", req->limit)) ||
	    (req->revision &&
	     etcd_json_set_int64(o, "revision", req->revision)) ||
	    set_true(o, "keys_only", req->keys_only) ||
	    set_true(o, "count_only", req->count_only) ||
	    set_true(o, "serializable", req->serializable))
		goto fail;
	if (req->sort_order != ETCD_SORT_NONE &&
	    (set_string(o, "sort_order", sort_order_names[req->sort_order]) ||
	     set_string(o, "sort_target",
			sort_target_names[req->sort_target])))
		goto fail;
	*ret = o;
	return 0;
fail:
	json_decref(o);
	return r;
}

int etcd_encode_put(const struct etcd_put_req *req, json_t **ret)
{
	json_t *o;
	int r;

	*ret = NULL;
	if (req == NULL || req->key == NULL || req->key[0] == '\0' ||
	    (req->value == NULL && req->value_len > 0) || req->lease < 0 ||
	    (req->ignore_lease && req->lease != 0) ||
	    (req->ignore_value && req->value_len != 0))
		return ETCD_EINVAL;
	if ((o = json_object()) == NULL)
		return ETCD_ENOMEM;
	r = ETCD_ENOMEM;
	if (etcd_json_set_b64(o, "key", req->key, strlen(req->key)) ||
	    (req->value_len > 0 &&
	     etcd_json_set_b64(o, "value", req->value, req->value_len)) ||
	    (req->lease && etcd_json_set_int64(o, "lease", req->lease)) ||
	    set_true(o, "prev_kv", req->prev_kv) ||
	    set_true(o, "ignore_value", req->ignore_value) ||
	    set_true(o, "ignore_lease", req->ignore_lease))
		goto fail;
	*ret = o;
	return 0;
fail:
	json_decref(o);
	return r;
}

int etcd_encode_delete(const struct etcd_delete_req *req, json_t **ret)
{
	json_t *o;
	int r;

	*ret = NULL;
	if (req == NULL)
		return ETCD_EINVAL;
	if ((o = json_object()) == NULL)
		return ETCD_ENOMEM;
	if ((r = etcd_json_set_key_range(o, req->key, req->range_end, req->prefix)))
		goto fail;
	r = ETCD_ENOMEM;
	if (set_true(o, "prev_kv", req->prev_kv))
		goto fail;
	*ret = o;
	return 0;
fail:
	json_decref(o);
	return r;
}

/* ---- decoding --------------------------------------------------------- */

int etcd_decode_range(const json_t *resp, struct etcd_arena *a,
		      struct etcd_range_result *res)
{
	int r;

	memset(res, 0, sizeof(*res));
	if (!json_is_object(resp))
		return ETCD_EPROTO;
	if ((r = etcd_decode_header(json_object_get(resp, "header"),
				    &res->header)) ||
	    (r = etcd_decode_kvs(json_object_get(resp, "kvs"), a, &res->kvs,
				 &res->n_kvs)) ||
	    (r = etcd_json_get_int64(resp, "count", &res->count)) ||
	    (r = etcd_json_get_bool(resp, "more", &res->more)))
		return r;
	return 0;
}

/* Optional single kv (prev_kv). */
static int decode_opt_kv(const json_t *v, struct etcd_arena *a,
			 const struct etcd_kv **ret)
{
	*ret = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	struct etcd_kv *kv = etcd_arena_alloc(a, sizeof(*kv));
	if (kv == NULL)
		return ETCD_ENOMEM;
	int r = etcd_decode_kv(v, a, kv);
	if (r != 0)
		return r;
	*ret = kv;
	return 0;
}

int etcd_decode_put(const json_t *resp, struct etcd_arena *a,
		    struct etcd_put_result *res)
{
	int r;

	memset(res, 0, sizeof(*res));
	if (!json_is_object(resp))
		return ETCD_EPROTO;
	if ((r = etcd_decode_header(json_object_get(resp, "header"),
				    &res->header)) ||
	    (r = decode_opt_kv(json_object_get(resp, "prev_kv"), a,
			       &res->prev_kv)))
		return r;
	return 0;
}

int etcd_decode_delete(const json_t *resp, struct etcd_arena *a,
		       struct etcd_delete_result *res)
{
	int r;

	memset(res, 0, sizeof(*res));
	if (!json_is_object(resp))
		return ETCD_EPROTO;
	if ((r = etcd_decode_header(json_object_get(resp, "header"),
				    &res->header)) ||
	    (r = etcd_json_get_int64(resp, "deleted", &res->deleted)) ||
	    (r = etcd_decode_kvs(json_object_get(resp, "prev_kvs"), a,
				 &res->prev_kvs, &res->n_prev_kvs)))
		return r;
	return 0;
}

/* ---- calls ------------------------------------------------------------ */

enum kv_kind { KV_RANGE, KV_PUT, KV_DELETE, KV_COMPACT };

union kv_cb {
	etcd_range_cb range;
	etcd_put_cb put;
	etcd_delete_cb del;
	etcd_done_cb done;
};

struct kv_ctx {
	enum kv_kind kind;
	union kv_cb cb;
	void *arg;
};

static void report(struct kv_ctx *x, const struct etcd_error *err,
		   const void *res)
{
	switch (x->kind) {
	case KV_RANGE:
		x->cb.range(x->arg, err, res);
		break;
	case KV_PUT:
		x->cb.put(x->arg, err, res);
		break;
	case KV_DELETE:
		x->cb.del(x->arg, err, res);
		break;
	case KV_COMPACT:
		x->cb.done(x->arg, err, res);
		break;
	}
}

static void on_kv_done(void *arg, const struct etcd_error *err, json_t *resp)
{
	struct kv_ctx *x = arg;
	struct etcd_arena a = {0};
	struct etcd_error e;
	union {
		struct etcd_range_result range;
		struct etcd_put_result put;
		struct etcd_delete_result del;
		struct etcd_header hdr;
	} res;
	int r = 0;

	if (err != NULL) {
		report(x, err, NULL);
		goto out;
	}
	switch (x->kind) {
	case KV_RANGE:
		r = etcd_decode_range(resp, &a, &res.range);
		break;
	case KV_PUT:
		r = etcd_decode_put(resp, &a, &res.put);
		break;
	case KV_DELETE:
		r = etcd_decode_delete(resp, &a, &res.del);
		break;
	case KV_COMPACT:
		r = etcd_decode_header(json_object_get(resp, "header"),
				       &res.hdr);
		break;
	}
	if (r != 0) {
		etcd_error_set(&e, r, "%s", r == ETCD_ENOMEM
				   ? "out of memory decoding the answer"
				   : "malformed answer from etcd");
		report(x, &e, NULL);
	} else {
		report(x, NULL, &res);
	}
out:
	etcd_arena_clear(&a);
	free(x);
}

static const char *const kv_paths[] = {
	[KV_RANGE] = "/v3/kv/range",
	[KV_PUT] = "/v3/kv/put",
	[KV_DELETE] = "/v3/kv/deleterange",
	[KV_COMPACT] = "/v3/kv/compaction",
};

/* Starts the call; on_kv_done decodes the answer by kind.  body is stolen;
 * r is what encoding it returned (the body is NULL unless r == 0). */
static int kv_start(etcd_client *c, enum kv_kind kind, int r, json_t *body,
		    union kv_cb cb, void *arg)
{
	struct kv_ctx *x;

	if (r != 0 || (r = etcd_client_closing(c)) != 0)
		goto fail;
	if ((x = malloc(sizeof(*x))) == NULL) {
		r = ETCD_ENOMEM;
		goto fail;
	}
	x->kind = kind;
	x->cb = cb;
	x->arg = arg;
	/* A range is idempotent: the transport may re-send it elsewhere. */
	r = etcd_call_start(c, kv_paths[kind], body,
			    kind == KV_RANGE ? ETCD_CALL_IDEMPOTENT : 0,
			    on_kv_done, NULL, x, NULL);
	if (r != 0)
		free(x);
	return r;
fail:
	json_decref(body);
	return r;
}

int etcd_kv_range(etcd_client *c, const struct etcd_range_req *req,
		  etcd_range_cb cb, void *arg)
{
	json_t *body = NULL;
	int r;

	if (c == NULL || cb == NULL)
		return ETCD_EINVAL;
	r = etcd_encode_range(req, &body);
	return kv_start(c, KV_RANGE, r, body, (union kv_cb){.range = cb},
			arg);
}

int etcd_kv_put(etcd_client *c, const struct etcd_put_req *req,
		etcd_put_cb cb, void *arg)
{
	json_t *body = NULL;
	int r;

	if (c == NULL || cb == NULL)
		return ETCD_EINVAL;
	r = etcd_encode_put(req, &body);
	return kv_start(c, KV_PUT, r, body, (union kv_cb){.put = cb},
			arg);
}

int etcd_kv_delete(etcd_client *c, const struct etcd_delete_req *req,
		   etcd_delete_cb cb, void *arg)
{
	json_t *body = NULL;
	int r;

	if (c == NULL || cb == NULL)
		return ETCD_EINVAL;
	r = etcd_encode_delete(req, &body);
	return kv_start(c, KV_DELETE, r, body, (union kv_cb){.del = cb},
			arg);
}

int etcd_kv_compact(etcd_client *c, int64_t revision, bool physical,
		    etcd_done_cb cb, void *arg)
{
	json_t *body;
	int r = 0;

	if (c == NULL || cb == NULL || revision <= 0)
		return ETCD_EINVAL;
	if ((body = json_object()) == NULL ||
	    etcd_json_set_int64(body, "revision", revision) ||
	    set_true(body, "physical", physical))
		r = ETCD_ENOMEM;
	return kv_start(c, KV_COMPACT, r, body, (union kv_cb){.done = cb},
			arg);
}
