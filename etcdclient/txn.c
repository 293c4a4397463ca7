/* Transactions: compares, success/failure op lists (nested txns too), and
 * the per-op responses of the branch that ran. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define TXN_MAX_DEPTH 32 /* nesting of request_txn / response_txn */

static const char *const cmp_target_names[] = {
	[ETCD_CMP_VERSION] = "VERSION",
	[ETCD_CMP_CREATE] = "CREATE",
	[ETCD_CMP_MOD] = "MOD",
	[ETCD_CMP_VALUE] = "VALUE",
	[ETCD_CMP_LEASE] = "LEASE",
};

static const char *const cmp_result_names[] = {
	[ETCD_CMP_EQUAL] = "EQUAL",
	[ETCD_CMP_GREATER] = "GREATER",
	[ETCD_CMP_LESS] = "LESS",
	[ETCD_CMP_NOT_EQUAL] = "NOT_EQUAL",
};

/* ---- encoding --------------------------------------------------------- */

static int encode_compare(const struct etcd_compare *cmp, json_t **ret)
{
	json_t *o;
	int r;

	*ret = NULL;
	if ((unsigned)cmp->target > ETCD_CMP_LEASE ||
	    (unsigned)cmp->result > ETCD_CMP_NOT_EQUAL ||
	    (cmp->target == ETCD_CMP_VALUE && cmp->value == NULL &&
	     cmp->value_len > 0))
		return ETCD_EINVAL;
	if ((o = json_object()) == NULL)
		return ETCD_ENOMEM;
	if ((r = etcd_json_set_key_range(o, cmp->key, cmp->range_end, false)))
		goto fail;
	r = ETCD_ENOMEM;
	if (json_object_set_new(o, "target",
				json_string(cmp_target_names[cmp->target])) ||
	    json_object_set_new(o, "result",
				json_string(cmp_result_names[cmp->result])))
		goto fail;
	/* The gateway omits zero values, and so may we, but being explicit
	 * costs little and reads better in a packet dump. */
	switch (cmp->target) {
	case ETCD_CMP_VERSION:
		r = etcd_json_set_int64(o, "version", cmp->number);
		break;
	case ETCD_CMP_CREATE:
		r = etcd_json_set_int64(o, "create_revision", cmp->number);
		break;
	case ETCD_CMP_MOD:
		r = etcd_json_set_int64(o, "mod_revision", cmp->number);
		break;
	case ETCD_CMP_LEASE:
		r = etcd_json_set_int64(o, "lease", cmp->number);
		break;
	case ETCD_CMP_VALUE:
		r = etcd_json_set_b64(o, "value",
				      cmp->value ? cmp->value : "",
				      cmp->value_len);
		break;
	}
	if (r != 0)
		goto fail;
	*ret = o;
	return 0;
fail:
	json_decref(o);
	return r;
}

static int encode_txn(const struct etcd_txn_req *req, int depth,
		      json_t **ret);

static int encode_op(const struct etcd_op *op, int depth, json_t **ret)
{
	json_t *inner = NULL, *o;
	const char *name;
	int r;

	*ret = NULL;
	switch (op->type) {
	case ETCD_OP_RANGE:
		name = "request_range";
		r = etcd_encode_range(&op->u.range, &inner);
		break;
	case ETCD_OP_PUT:
		name = "request_put";
		r = etcd_encode_put(&op->u.put, &inner);
		break;
	case ETCD_OP_DELETE:
		name = "request_delete_range";
		r = etcd_encode_delete(&op->u.del, &inner);
		break;
	case ETCD_OP_TXN:
		name = "request_txn";
		r = encode_txn(op->u.txn, depth + 1, &inner);
		break;
	default:
		return ETCD_EINVAL;
	}
	if (r != 0)
		return r;
	if ((o = json_object()) == NULL) {
		json_decref(inner);
		return ETCD_ENOMEM;
	}
	if (json_object_set_new(o, name, inner) != 0) {
		json_decref(o);
		return ETCD_ENOMEM;
	}
	*ret = o;
	return 0;
}

static int encode_ops(json_t *txn, const char *name, const struct etcd_op *ops,
		      size_t n, int depth)
{
	json_t *arr, *op;
	int r;

	if (n == 0)
		return 0;
	if (ops == NULL)
		return ETCD_EINVAL;
	if ((arr = json_array()) == NULL)
		return ETCD_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((r = encode_op(&ops[i], depth, &op)) != 0)
			goto fail;
		if (json_array_append_new(arr, op) != 0) {
			r = ETCD_ENOMEM;
			goto fail;
		}
	}
	if (json_object_set_new(txn, name, arr) != 0)
		return ETCD_ENOMEM;
	return 0;
fail:
	json_decref(arr);
	return r;
}

static int encode_txn(const struct etcd_txn_req *req, int depth,
		      json_t **ret)
{
	json_t *o, *arr = NULL, *cmp;
	int r;

	*ret = NULL;
	if (req == NULL || depth > TXN_MAX_DEPTH ||
	    (req->n_compare > 0 && req->compare == NULL))
		return ETCD_EINVAL;
	if ((o = json_object()) == NULL)
		return ETCD_ENOMEM;
	if (req->n_compare > 0) {
		r = ETCD_ENOMEM;
		if ((arr = json_array()) == NULL ||
		    json_object_set_new(o, "compare", arr) != 0)
			goto fail;
		for (size_t i = 0; i < req->n_compare; i++) {
			if ((r = encode_compare(&req->compare[i], &cmp)) != 0)
				goto fail;
			if (json_array_append_new(arr, cmp) != 0) {
				r = ETCD_ENOMEM;
				goto fail;
			}
		}
	}
	if ((r = encode_ops(o, "success", req->success, req->n_success,
			    depth)) ||
	    (r = encode_ops(o, "failure", req->failure, req->n_failure,
			    depth)))
		goto fail;
	*ret = o;
	return 0;
fail:
	json_decref(o);
	return r;
}

int etcd_encode_txn(const struct etcd_txn_req *req, json_t **ret)
{
	return encode_txn(req, 0, ret);
}

/* ---- decoding --------------------------------------------------------- */

static int decode_txn(const json_t *resp, struct etcd_arena *a, int depth,
		      struct etcd_txn_result *res);

static int decode_op(const json_t *obj, struct etcd_arena *a, int depth,
		     struct etcd_op_result *op)
{
	const json_t *v;

	if (!json_is_object(obj))
		return ETCD_EPROTO;
	if ((v = json_object_get(obj, "response_range")) != NULL) {
		op->type = ETCD_OP_RANGE;
		return etcd_decode_range(v, a, &op->u.range);
	}
	if ((v = json_object_get(obj, "response_put")) != NULL) {
		op->type = ETCD_OP_PUT;
		return etcd_decode_put(v, a, &op->u.put);
	}
	if ((v = json_object_get(obj, "response_delete_range")) != NULL) {
		op->type = ETCD_OP_DELETE;
		return etcd_decode_delete(v, a, &op->u.del);
	}
	if ((v = json_object_get(obj, "response_txn")) != NULL) {
		struct etcd_txn_result *t = etcd_arena_alloc(a, sizeof(*t));
		if (t == NULL)
			return ETCD_ENOMEM;
		op->type = ETCD_OP_TXN;
		op->u.txn = t;
		return decode_txn(v, a, depth + 1, t);
	}
	return ETCD_EPROTO;
}

static int decode_txn(const json_t *resp, struct etcd_arena *a, int depth,
		      struct etcd_txn_result *res)
{
	const json_t *arr;
	int r;

	memset(res, 0, sizeof(*res));
	if (!json_is_object(resp) || depth > TXN_MAX_DEPTH)
		return ETCD_EPROTO;
	if ((r = etcd_decode_header(json_object_get(resp, "header"),
				    &res->header)) ||
	    (r = etcd_json_get_bool(resp, "succeeded", &res->succeeded)))
		return r;
	arr = json_object_get(resp, "responses");
	struct etcd_op_result *ops;
	void *mem;
	size_t n;
	if ((r = etcd_json_array_alloc(arr, sizeof(*ops), a, &mem, &n)))
		return r;
	ops = mem;
	for (size_t i = 0; i < n; i++)
		if ((r = decode_op(json_array_get(arr, i), a, depth, &ops[i])))
			return r;
	res->responses = ops;
	res->n_responses = n;
	return 0;
}

int etcd_decode_txn(const json_t *resp, struct etcd_arena *a,
		    struct etcd_txn_result *res)
{
	return decode_txn(resp, a, 0, res);
}

/* ---- call ------------------------------------------------------------- */

struct txn_ctx {
	etcd_txn_cb cb;
	void *arg;
};

static void on_txn_done(void *arg, const struct etcd_error *err, json_t *resp)
{
	struct txn_ctx *x = arg;
	struct etcd_arena a = {0};
	struct etcd_txn_result res;
	struct etcd_error e;

	if (err != NULL) {
		x->cb(x->arg, err, NULL);
	} else {
		int r = etcd_decode_txn(resp, &a, &res);
		if (r != 0) {
			etcd_error_set(&e, r, "%s", r == ETCD_ENOMEM
					   ? "out of memory decoding the answer"
					   : "malformed txn answer from etcd");
			x->cb(x->arg, &e, NULL);
		} else {
			x->cb(x->arg, NULL, &res);
		}
	}
	etcd_arena_clear(&a);
	free(x);
}

int etcd_kv_txn(etcd_client *c, const struct etcd_txn_req *req,
		etcd_txn_cb cb, void *arg)
{
	json_t *body;
	int r;

	if (c == NULL || cb == NULL)
		return ETCD_EINVAL;
	if ((r = etcd_client_closing(c)) || (r = etcd_encode_txn(req, &body)))
		return r;
	struct txn_ctx *x = malloc(sizeof(*x));
	if (x == NULL) {
		json_decref(body);
		return ETCD_ENOMEM;
	}
	x->cb = cb;
	x->arg = arg;
	r = etcd_call_start(c, "/v3/kv/txn", body, 0, on_txn_done, NULL, x,
			    NULL);
	if (r != 0)
		free(x);
	return r;
}
