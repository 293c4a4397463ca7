/* List+watch of the prefix: one paged list at one revision into the
 * cache, then four watches from the next; re-listed when they end.
 * Calls cache.c and key.c; tells the slots layer through c->hooks. */
#include "controller/core.h"

#include <errno.h>
#include <stdlib.h>

#include "common/log.h"

bool ctrl_watch_ok(const struct ctrl *c)
{
	for (int i = 0; i < W_N; i++)
		if (!c->wch[i].w || !c->wch[i].ok)
			return false;
	return true;
}

void ctrl_watch_cancel(struct ctrl *c)
{
	for (int i = 0; i < W_N; i++) {
		c->wch[i].w = etcd_watch_cancel(c->wch[i].w);
		c->wch[i].ok = false;
	}
}

/* A list soon (coalesced: slots won in one iteration share it). */
void ctrl_watch_relist(struct ctrl *c, double after)
{
	if (c->listing || ev_is_active(&c->relist_timer))
		return;
	ev_timer_set(&c->relist_timer, after, 0);
	ev_timer_start(c->loop, &c->relist_timer);
}

static void on_watch(void *arg, const struct etcd_watch_update *u)
{
	struct ctrl_wch *wc = arg;
	struct ctrl *c = wc->c;

	switch (u->kind) {
	case ETCD_WATCH_EVENTS:
		wc->ok = true;
		for (size_t i = 0; i < u->n_events; i++) {
			const struct etcd_event *e = &u->events[i];

			if (e->type == ETCD_EVENT_PUT)
				ctrl_cache_kv_put(c, &e->kv);
			else
				ctrl_cache_kv_del(c, &e->kv,
						  e->kv.mod_revision);
		}
		break;
	case ETCD_WATCH_COMPACTED:
	case ETCD_WATCH_FAILED:
		fs_warn("watch of %s ended (%s); listing again", c->prefix,
			u->err ? u->err->message : "?");
		ctrl_watch_cancel(c); /* wc is gone: return at once */
		c->m.relists++;
		ctrl_watch_relist(c,
				  u->kind == ETCD_WATCH_COMPACTED ? 0.0 : 1.0);
		return;
	case ETCD_WATCH_RECONNECTING:
		wc->ok = false;
		fs_warn("watch of %s: %s; resuming", c->prefix,
			u->err ? u->err->message : "connection lost");
		break;
	case ETCD_WATCH_CREATED:
	case ETCD_WATCH_PROGRESS:
		wc->ok = true;
		break;
	}
}

/* The list comes in pages (etcd_kv_list) at one revision: a prefix of
 * 100,000 requests never sits in memory as one answer.  Nothing is
 * scheduled from the cache until the last page is in (c->listing). */
static void on_list(void *arg, const struct etcd_error *err,
		    const struct etcd_range_result *res, bool last)
{
	struct ctrl *c = arg;
	/* alloc/; bids/ (puts); [controllers/, invites/); [invites0,
	 * rounds/); vms/.  invites/ (one key per invited host, sample
	 * rounds) is left out as rounds/ is: only its coordinator writes
	 * it, and 6 events a sample placement would reach every controller. */
	static const char *const wfrom[W_N] = {"alloc/", "bids/",
					       "controllers/", "invites0",
					       "vms/"};
	static const char *const wto[W_N] = {NULL, NULL, "invites/",
					     "rounds/", NULL};
	char *from[W_N], *to[W_N];
	int rc = 0;

	if (err) {
		fs_warn("listing %s failed: %s; retrying", c->prefix,
			err->message);
		c->listing = false;
		ctrl_watch_relist(c, 1.0);
		return;
	}
	if (c->list_first) {
		c->list_first = false;
		c->list_gen++;
		for (unsigned i = 0; i < c->k; i++)
			c->slots[i].n_cands = 0; /* the list has them all */
		c->n_lbids = 0; /* of a list that failed */
	}
	for (size_t i = 0; i < res->n_kvs; i++)
		ctrl_cache_kv_put(c, &res->kvs[i]);
	if (!last)
		return;
	c->listing = false;
	c->list_rev = res->header.revision;
	c->done_seq = c->list_seq;
	ctrl_cache_sweep(c);
	for (int i = 0; i < W_N; i++) {
		from[i] = ctrl_keyf("%s%s", c->prefix, wfrom[i]);
		to[i] = wto[i] ? ctrl_keyf("%s%s", c->prefix, wto[i]) : NULL;
	}
	for (int i = 0; i < W_N; i++) {
		struct etcd_watch_req wr = {
			.key = from[i], .prefix = !wto[i],
			.range_end = to[i],
			.no_delete = i == W_BIDS,
			.start_revision = res->header.revision + 1};

		c->wch[i].c = c;
		c->wch[i].ok = true; /* until the watch says otherwise */
		if (rc == 0 && (!from[i] || (wto[i] && !to[i])))
			rc = -ENOMEM;
		if (rc == 0)
			rc = etcd_watch_start(c->etcd, &wr, on_watch,
					      &c->wch[i], &c->wch[i].w);
	}
	for (int i = 0; i < W_N; i++) {
		free(from[i]);
		free(to[i]);
	}
	if (rc < 0) {
		fs_warn("cannot watch %s: %s", c->prefix, etcd_strerror(rc));
		ctrl_watch_cancel(c);
		ctrl_watch_relist(c, 1.0);
		return;
	}
	for (unsigned i = 0; i < c->k; i++)
		if (c->slots[i].state == SLOT_LEADER &&
		    c->slots[i].need_seq > c->done_seq)
			ctrl_watch_relist(c, 0.0); /* won while this list ran */
	if (c->want_seq > c->done_seq)
		ctrl_watch_relist(c, 0.0); /* a txn's outcome unknown */
	if (!c->cache_ready)
		fs_info("cache of %s loaded at revision %lld: %zu hosts, %zu "
			"requests",
			c->prefix, (long long)res->header.revision,
			c->hosts.n, c->reqs.n);
	c->cache_ready = true;
	ctrl_host_keepalives_check(c);
	c->pass_all = true;
	c->hooks.balance(c);
}

void ctrl_watch_list(struct ctrl *c)
{
	struct etcd_range_req rq = {.key = c->prefix, .prefix = true};
	int rc;

	ctrl_watch_cancel(c); /* restarted from the list's revision */
	rc = etcd_kv_list(c->etcd, &rq, LIST_PAGE, on_list, c);
	c->listing = rc == 0;
	c->list_first = true;
	if (rc == 0)
		c->list_seq++;
	else
		ctrl_watch_relist(c, 1.0);
}

static void on_relist(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	ctrl_watch_list(w->data);
}

void ctrl_watch_init(struct ctrl *c)
{
	ev_init(&c->relist_timer, on_relist);
	c->relist_timer.data = c;
}
