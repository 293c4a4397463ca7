/* The blocking layer: start the asynchronous call, run the client's loop
 * until its callback ran, deep-copy the result. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include <ev.h>

struct waiter {
	bool done;
	int code;
	struct etcd_error err;
	void *out;      /* call-specific */
	int64_t i1, i2; /* call-specific numbers */
	bool b;
};

static void waiter_fail(struct waiter *w, const struct etcd_error *err)
{
	w->err = *err;
	w->code = err->code != 0 ? err->code : ETCD_ESERVER;
}

/* Runs the loop until the call's callback ran.  The client's request
 * timeout bounds the wait. */
static int waiter_run(etcd_client *c, struct waiter *w, int r,
		      struct etcd_error *err)
{
	if (r != 0) {
		if (err != NULL)
			etcd_error_set(err, r, "%s", etcd_strerror(r));
		return r;
	}
	while (!w->done)
		ev_run(etcd_client_loop(c), EVRUN_ONCE);
	if (w->code != 0 && err != NULL)
		*err = w->err;
	return w->code;
}

static int kv_copy(struct etcd_sync_kv *d, const struct etcd_kv *s)
{
	d->key = malloc(s->key_len + 1);
	d->value = malloc(s->value_len + 1);
	if (d->key == NULL || d->value == NULL)
		return ETCD_ENOMEM;
	memcpy(d->key, s->key, s->key_len + 1);
	memcpy(d->value, s->value, s->value_len + 1);
	d->value_len = s->value_len;
	d->create_revision = s->create_revision;
	d->mod_revision = s->mod_revision;
	d->version = s->version;
	d->lease = s->lease;
	return 0;
}

struct etcd_sync_range *etcd_sync_range_free(struct etcd_sync_range *r)
{
	if (r == NULL)
		return NULL;
	for (size_t i = 0; i < r->n_kvs; i++) {
		free(r->kvs[i].key);
		free(r->kvs[i].value);
	}
	free(r->kvs);
	free(r);
	return NULL;
}

static void on_get(void *arg, const struct etcd_error *err,
		   const struct etcd_range_result *res)
{
	struct waiter *w = arg;
	struct etcd_sync_range *out = NULL;

	w->done = true;
	if (err != NULL) {
		waiter_fail(w, err);
		return;
	}
	if ((out = calloc(1, sizeof(*out))) == NULL)
		goto nomem;
	out->revision = res->header.revision;
	out->count = res->count;
	out->more = res->more;
	if (res->n_kvs > 0) {
		out->kvs = calloc(res->n_kvs, sizeof(*out->kvs));
		if (out->kvs == NULL)
			goto nomem;
		out->n_kvs = res->n_kvs;
		for (size_t i = 0; i < res->n_kvs; i++)
			if (kv_copy(&out->kvs[i], &res->kvs[i]) != 0)
				goto nomem;
	}
	w->out = out;
	return;
nomem:
	etcd_sync_range_free(out);
	etcd_error_set(&w->err, ETCD_ENOMEM, "out of memory");
	w->code = ETCD_ENOMEM;
}

int etcd_sync_get(etcd_client *c, const struct etcd_range_req *req,
		  struct etcd_sync_range **ret_r, struct etcd_error *err)
{
	struct waiter w = {0};
	int r;

	if (ret_r == NULL)
		return ETCD_EINVAL;
	*ret_r = NULL;
	r = waiter_run(c, &w, etcd_kv_range(c, req, on_get, &w), err);
	if (r == 0)
		*ret_r = w.out;
	return r;
}

static void on_put(void *arg, const struct etcd_error *err,
		   const struct etcd_put_result *res)
{
	struct waiter *w = arg;

	w->done = true;
	if (err != NULL)
		waiter_fail(w, err);
	else
		w->i1 = res->header.revision;
}

int etcd_sync_put(etcd_client *c, const char *key, const char *value,
		  size_t value_len, int64_t lease, int64_t *ret_revision,
		  struct etcd_error *err)
{
	struct etcd_put_req req = {
		.key = key, .value = value, .value_len = value_len,
		.lease = lease,
	};
	struct waiter w = {0};
	int r;

	r = waiter_run(c, &w, etcd_kv_put(c, &req, on_put, &w), err);
	if (r == 0 && ret_revision != NULL)
		*ret_revision = w.i1;
	return r;
}

static void on_delete(void *arg, const struct etcd_error *err,
		      const struct etcd_delete_result *res)
{
	struct waiter *w = arg;

	w->done = true;
	if (err != NULL)
		waiter_fail(w, err);
	else
		w->i1 = res->deleted;
}

int etcd_sync_delete(etcd_client *c, const char *key, bool prefix,
		     int64_t *ret_deleted, struct etcd_error *err)
{
	struct etcd_delete_req req = {.key = key, .prefix = prefix};
	struct waiter w = {0};
	int r;

	r = waiter_run(c, &w, etcd_kv_delete(c, &req, on_delete, &w), err);
	if (r == 0 && ret_deleted != NULL)
		*ret_deleted = w.i1;
	return r;
}

static void on_txn(void *arg, const struct etcd_error *err,
		   const struct etcd_txn_result *res)
{
	struct waiter *w = arg;

	w->done = true;
	if (err != NULL) {
		waiter_fail(w, err);
		return;
	}
	w->b = res->succeeded;
	w->i1 = res->header.revision;
}

int etcd_sync_txn(etcd_client *c, const struct etcd_txn_req *req,
		  bool *ret_succeeded, int64_t *ret_revision,
		  struct etcd_error *err)
{
	struct waiter w = {0};
	int r;

	r = waiter_run(c, &w, etcd_kv_txn(c, req, on_txn, &w), err);
	if (r == 0 && ret_succeeded != NULL)
		*ret_succeeded = w.b;
	if (r == 0 && ret_revision != NULL)
		*ret_revision = w.i1;
	return r;
}

static void on_grant(void *arg, const struct etcd_error *err, int64_t id,
		     int64_t ttl)
{
	struct waiter *w = arg;

	w->done = true;
	if (err != NULL) {
		waiter_fail(w, err);
		return;
	}
	w->i1 = id;
	w->i2 = ttl;
}

int etcd_sync_lease_grant(etcd_client *c, int64_t ttl, int64_t *ret_id,
			  struct etcd_error *err)
{
	struct waiter w = {0};
	int r;

	r = waiter_run(c, &w, etcd_lease_grant(c, ttl, 0, on_grant, &w), err);
	if (r == 0 && ret_id != NULL)
		*ret_id = w.i1;
	return r;
}

static void on_done(void *arg, const struct etcd_error *err,
		    const struct etcd_header *hdr)
{
	struct waiter *w = arg;

	(void)hdr;
	w->done = true;
	if (err != NULL)
		waiter_fail(w, err);
}

int etcd_sync_lease_revoke(etcd_client *c, int64_t id, struct etcd_error *err)
{
	struct waiter w = {0};

	return waiter_run(c, &w, etcd_lease_revoke(c, id, on_done, &w), err);
}
