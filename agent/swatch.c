/*
 * List-then-watch of one key or prefix (agent_int.h), re-listing on
 * compaction or failure.  The bottom of the agent: calls only etcdclient/
 * and common/log.h; reports keys up through the swatch's callbacks.
 */
#include "agent/agent_int.h"

#include <inttypes.h>
#include <string.h>
#include <stdio.h>

#include "common/log.h"


static void swatch_retry(struct swatch *s)
{
	etcd_watch_cancel(s->w);
	s->w = NULL;
	if (s->a->stopping)
		return;
	ev_timer_stop(s->a->loop, &s->retry);
	ev_timer_set(&s->retry, 1.0, 0);
	ev_timer_start(s->a->loop, &s->retry);
}

static void swatch_cb(void *arg, const struct etcd_watch_update *u)
{
	struct swatch *s = arg;

	switch (u->kind) {
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events; i++) {
			const struct etcd_event *e = &u->events[i];

			/* A NUL in a key is no end: "assign/h/v\0x" is
			 * not v's (issue 13 item 20); none of ours has one. */
			if (memchr(e->kv.key, '\0', e->kv.key_len))
				continue;
			s->on_kv(s->a, s->h, e->kv.key, e->kv.value, e->kv.value_len,
				 e->type == ETCD_EVENT_DELETE);
		}
		break;
	case ETCD_WATCH_COMPACTED:
		fs_warn("watch on %s compacted at %" PRId64 "; re-listing",
			s->key, u->err ? u->err->compact_revision : 0);
		swatch_retry(s);
		break;
	case ETCD_WATCH_FAILED:
		fs_warn("watch on %s failed: %s; re-listing", s->key,
			u->err ? agent_err_str(u->err) : "?");
		swatch_retry(s);
		break;
	case ETCD_WATCH_RECONNECTING:
		fs_debug("watch on %s reconnecting: %s", s->key,
			 u->err ? agent_err_str(u->err) : "?");
		break;
	default:
		break;
	}
}

static void swatch_listed(void *arg, const struct etcd_error *err,
			  const struct etcd_range_result *res)
{
	struct swatch *s = arg;
	struct etcd_watch_req req = {0};

	if (err && err->code == ETCD_ECANCELED)
		return;
	if (s->a->stopping)
		return;
	if (err) {
		fs_warn("listing %s failed: %s; retrying", s->key,
			agent_err_str(err));
		swatch_retry(s);
		return;
	}
	if (s->on_mark)
		s->on_mark(s->a, s->h, true);
	for (size_t i = 0; i < res->n_kvs; i++)
		if (!memchr(res->kvs[i].key, '\0', res->kvs[i].key_len))
			s->on_kv(s->a, s->h, res->kvs[i].key, res->kvs[i].value,
				 res->kvs[i].value_len, false);
	if (s->on_mark)
		s->on_mark(s->a, s->h, false);
	req.key = s->key;
	req.prefix = s->prefix;
	req.start_revision = res->header.revision + 1;
	if (etcd_watch_start(s->etcd, &req, swatch_cb, s, &s->w) < 0) {
		swatch_retry(s);
		return;
	}
	fs_debug("watching %s from revision %" PRId64, s->key,
		 req.start_revision);
	if (!s->synced_once && s->on_synced) {
		s->synced_once = true;
		s->on_synced(s->a, s->h);
	}
}

void agent_swatch_list(struct swatch *s)
{
	struct etcd_range_req req = {0};

	req.key = s->key;
	req.prefix = s->prefix;
	if (etcd_kv_range(s->etcd, &req, swatch_listed, s) < 0)
		swatch_retry(s);
}

static void swatch_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	agent_swatch_list(w->data);
}

void agent_swatch_init(agent *a, struct swatch *s, const char *what,
			const char *fmt, const char *arg, bool prefix,
			swatch_kv_fn kv, swatch_mark_fn mark)
{
	s->a = a;
	s->etcd = a->etcd;
	s->what = what;
	snprintf(s->key, sizeof(s->key), fmt, a->prefix, arg);
	s->prefix = prefix;
	s->on_kv = kv;
	s->on_mark = mark;
	ev_timer_init(&s->retry, swatch_retry_cb, 1.0, 0);
	s->retry.data = s;
}

void agent_swatch_start(struct swatch *s)
{
	ev_timer_stop(s->a->loop, &s->retry);
	ev_timer_init(&s->retry, swatch_retry_cb, 1.0, 0);
	s->retry.data = s;
	agent_swatch_list(s);
}

void agent_swatch_fini(agent *a, struct swatch *s)
{
	s->w = etcd_watch_cancel(s->w);
	ev_timer_stop(a->loop, &s->retry);
}
