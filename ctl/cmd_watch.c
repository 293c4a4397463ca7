/* watch [ID]: one line per status change (time, id, old -> new phase,
 * host, reason) from a watch of P/status/ with the previous values,
 * until SIGINT or SIGTERM. */
#include "ctl/ctl.h"

#include <ev.h>
#include <signal.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct wctx {
	struct ctl *x;
	const char *key;
	size_t plen; /* strlen("P/status/") */
	int rc;
	bool created;
	struct etcd_error err;
};

static void print_change(const struct wctx *w, const char *key,
			 const struct ctrl_status *old,
			 const struct ctrl_status *cur)
{
	const char *was = old ? ctrl_phase_name(old->phase) : "-";
	const char *now = cur ? ctrl_phase_name(cur->phase) : "deleted";
	const char *host = cur && *cur->host ? cur->host : "-";
	const char *reason = cur && cur->reason ? cur->reason : "";
	char nowbuf[32], ws[200], id[FS_NAME_MAX * 4 + 8], rs[1024],
	    hs[FS_NAME_MAX * 4 + 8];

	const char *when = nowbuf;

	if (cur && *cur->updated)
		when = cur->updated;
	else
		fs_time_now(nowbuf, sizeof(nowbuf));
	if (w->x->out == CTL_OUT_JSON) {
		json_t *j = json_pack("{s:o, s:o, s:s, s:s, s:o, s:o}", "time",
				      ctl_json_str(when), "id",
				      ctl_json_str(key + w->plen), "old", was,
				      "new", now, "host", ctl_json_str(host),
				      "reason", ctl_json_str(reason));
		char *s =
		    j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

		if (s)
			puts(s);
		free(s);
		json_decref(j);
	} else {
		printf("%s  %s  %s -> %s  %s  %s\n",
		       ctl_esc(ws, sizeof(ws), when, 40),
		       ctl_esc(id, sizeof(id), key + w->plen, 0), was, now,
		       ctl_esc(hs, sizeof(hs), host, 0),
		       ctl_esc(rs, sizeof(rs), reason, 240));
	}
	fflush(stdout);
}

static bool same(const struct ctrl_status *a, const struct ctrl_status *b)
{
	return a && b && a->phase == b->phase &&
	       strcmp(a->host, b->host) == 0 &&
	       strcmp(a->reason ? a->reason : "", b->reason ? b->reason : "") ==
		   0 &&
	       a->attempt == b->attempt;
}

static void on_watch(void *arg, const struct etcd_watch_update *u)
{
	struct wctx *w = arg;

	switch (u->kind) {
	case ETCD_WATCH_CREATED:
		fprintf(stderr, "%s %s (Ctrl-C to stop)\n",
			w->created ? "watch re-established on" : "watching",
			w->key);
		w->created = true;
		return;
	case ETCD_WATCH_FAILED:
	case ETCD_WATCH_COMPACTED:
		w->err = *u->err;
		w->rc = CTL_EXIT_ETCD;
		ev_break(w->x->loop, EVBREAK_ALL);
		return;
	case ETCD_WATCH_RECONNECTING:
		fprintf(stderr, "etcd: %s; resuming the watch\n",
			u->err && *u->err->message ? u->err->message
						   : "connection lost");
		return;
	case ETCD_WATCH_EVENTS:
		break;
	default:
		return;
	}
	for (size_t i = 0; i < u->n_events; i++) {
		const struct etcd_event *e = &u->events[i];
		struct ctrl_status old = {0}, cur = {0};
		bool has_old = false, has_cur = false;
		char err[64];

		if (strlen(e->kv.key) <= w->plen)
			continue;
		if (e->prev_kv &&
		    ctrl_status_parse(e->prev_kv->value, e->prev_kv->value_len,
				      &old, err, sizeof(err)) == 0)
			has_old = true;
		if (e->type == ETCD_EVENT_PUT &&
		    ctrl_status_parse(e->kv.value, e->kv.value_len, &cur, err,
				      sizeof(err)) == 0)
			has_cur = true;
		if (e->type == ETCD_EVENT_DELETE || has_cur)
			if (!same(has_old ? &old : NULL, has_cur ? &cur : NULL))
				print_change(w, e->kv.key,
					     has_old ? &old : NULL,
					     has_cur ? &cur : NULL);
		ctrl_status_clear(&old);
		ctrl_status_clear(&cur);
	}
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
	(void)s;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

int ctl_cmd_watch(struct ctl *x, int argc, char **argv)
{
	struct wctx w = {.x = x};
	struct etcd_watch_req q = {.prev_kv = true};
	etcd_watch *wh = NULL;
	ev_signal si, st;
	char *key;
	int rc;

	if (argc > 2)
		return ctl_errorf(CTL_EXIT_INPUT, "watch: at most one ID");
	if (argc == 2 && !fs_name_valid(argv[1]))
		return ctl_errorf(CTL_EXIT_INPUT,
				  "watch: not a request id (see "
				  "flintschedctl list)");
	key = argc == 2 ? ctl_key(x, "status/%s", argv[1])
			: ctl_key(x, "status/");
	if (!key)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	w.plen = strlen(x->prefix) + strlen("/status/");
	q.key = key;
	w.key = key;
	q.prefix = argc < 2;
	/* The first answer says whether etcd is there at all. */
	{
		struct etcd_range_req rq = {.key = key, .count_only = true};
		struct etcd_sync_range *r = NULL;
		struct etcd_error e;

		if (etcd_sync_get(x->etcd, &rq, &r, &e) < 0) {
			rc = ctl_etcd_fail(x, "watching", key, &e);
			free(key);
			return rc;
		}
		q.start_revision = r->revision + 1;
		etcd_sync_range_free(r);
	}
	rc = etcd_watch_start(x->etcd, &q, on_watch, &w, &wh);
	if (rc < 0) {
		struct etcd_error e = {.code = rc};

		rc = ctl_etcd_fail(x, "watching", key, &e);
		free(key);
		return rc;
	}
	/* A shell starts background jobs with SIGINT ignored; libev (with
	 * signalfd) would never see an ignored signal. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	ev_signal_init(&si, on_signal, SIGINT);
	ev_signal_init(&st, on_signal, SIGTERM);
	ev_signal_start(x->loop, &si);
	ev_signal_start(x->loop, &st);
	ev_run(x->loop, 0);
	ev_signal_stop(x->loop, &si);
	ev_signal_stop(x->loop, &st);
	wh = etcd_watch_cancel(wh);
	rc = w.rc ? ctl_etcd_fail(x, "watching", key, &w.err) : 0;
	free(key);
	return rc;
}
