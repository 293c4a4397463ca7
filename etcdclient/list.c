/* etcd_kv_list(): a range read page by page at one revision. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct list {
	etcd_client *c;
	char *range_end; /* NULL: single key */
	char *from;      /* first key of the next page (the last one seen) */
	int64_t rev;
	int64_t page_size;
	bool keys_only, serializable;
	etcd_list_cb cb;
	void *arg;
};

static void list_free(struct list *l)
{
	free(l->range_end);
	free(l->from);
	free(l);
}

static int list_next(struct list *l);

static void list_fail(struct list *l, const struct etcd_error *err)
{
	l->cb(l->arg, err, NULL, true);
	list_free(l);
}

static void on_page(void *arg, const struct etcd_error *err,
		    const struct etcd_range_result *res)
{
	struct list *l = arg;
	struct etcd_range_result page;
	struct etcd_error e;

	if (err != NULL) {
		list_fail(l, err);
		return;
	}
	page = *res;
	/* Every page after the first starts with the previous page's last
	 * key, asked for again because keys here are C strings (no "key +
	 * \\0" to start after it): skip it. */
	if (l->from != NULL && page.n_kvs > 0 &&
	    strcmp(page.kvs[0].key, l->from) == 0) {
		page.kvs++;
		page.n_kvs--;
	}
	if (l->rev == 0)
		l->rev = res->header.revision;
	page.header.revision = l->rev;
	bool last = !res->more;
	if (!last) {
		char *from = strdup(res->kvs[res->n_kvs - 1].key);
		if (from == NULL) {
			etcd_error_set(&e, ETCD_ENOMEM, "list: out of memory");
			list_fail(l, &e);
			return;
		}
		free(l->from);
		l->from = from;
	}
	l->cb(l->arg, NULL, &page, last);
	if (last) {
		list_free(l);
		return;
	}
	int r = list_next(l);
	if (r != 0) {
		etcd_error_set(&e, r, "list: cannot ask for the next page: %s",
			       etcd_strerror(r));
		list_fail(l, &e);
	}
}

static int list_next(struct list *l)
{
	struct etcd_range_req rq = {
		.key = l->from,
		.range_end = l->range_end,
		.revision = l->rev,
		/* One more than a page: the first is the previous last. */
		.limit = l->page_size + 1,
		.keys_only = l->keys_only,
		.serializable = l->serializable,
	};

	return etcd_kv_range(l->c, &rq, on_page, l);
}

int etcd_kv_list(etcd_client *c, const struct etcd_range_req *req,
		 int64_t page_size, etcd_list_cb cb, void *arg)
{
	struct etcd_range_req rq;
	struct list *l;
	int r;

	if (c == NULL || req == NULL || req->key == NULL || cb == NULL ||
	    page_size < 1 || req->limit != 0 || req->count_only ||
	    (req->prefix && req->range_end != NULL))
		return ETCD_EINVAL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return ETCD_ENOMEM;
	l->c = c;
	l->cb = cb;
	l->arg = arg;
	l->page_size = page_size;
	l->rev = req->revision;
	l->keys_only = req->keys_only;
	l->serializable = req->serializable;
	/* Later pages start at a key, not a prefix: fix the end now. */
	if (req->prefix) {
		size_t n;
		char *end = etcd_prefix_end(req->key, strlen(req->key), &n);
		if (end == NULL) {
			free(l);
			return ETCD_ENOMEM;
		}
		l->range_end = strndup(end, n);
		free(end);
		if (l->range_end == NULL) {
			free(l);
			return ETCD_ENOMEM;
		}
	} else if (req->range_end != NULL &&
		   (l->range_end = strdup(req->range_end)) == NULL) {
		free(l);
		return ETCD_ENOMEM;
	}
	rq = *req;
	rq.limit = page_size;
	rq.sort_order = ETCD_SORT_NONE; /* pages follow key order */
	r = etcd_kv_range(c, &rq, on_page, l);
	if (r != 0)
		list_free(l);
	return r;
}
