/*
 * submit: the request checked by the controller's own parser
 * (ctrl_request_parse, controller/request.c, which calls common/spec.c),
 * then written create-if-absent (a txn comparing the key's create
 * revision with 0) unless --replace; --wait follows P/status/<id> until a
 * final phase for this revision of the request.  delete: the request key.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int ctl_read_input(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f)
		return ctl_errorf(CTL_EXIT_INPUT, "%s: cannot read: %s", path,
				  strerror(errno));
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			char *nb;

			cap = cap ? 2 * cap : 8192;
			if (cap > 2 * CTRL_REQUEST_MAX + 8192) {
				free(buf);
				if (f != stdin)
					fclose(f);
				return ctl_errorf(
				    CTL_EXIT_INPUT,
				    "%s: over %d bytes; a request "
				    "is a few KiB",
				    path, CTRL_REQUEST_MAX);
			}
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				if (f != stdin)
					fclose(f);
				return ctl_errorf(CTL_EXIT_INPUT,
						  "out of memory");
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		if (f != stdin)
			fclose(f);
		return ctl_errorf(CTL_EXIT_INPUT, "%s: read error", path);
	}
	if (f != stdin)
		fclose(f);
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* The id: --id, else FILE's base name without ".json". */
static int id_of(const char *path, const char *opt, char *id, size_t n)
{
	const char *b;
	size_t l;

	if (opt) {
		snprintf(id, n, "%s", opt);
	} else {
		if (strcmp(path, "-") == 0)
			return ctl_errorf(CTL_EXIT_INPUT,
					  "reading stdin: give the request's "
					  "id with --id ID");
		b = strrchr(path, '/');
		b = b ? b + 1 : path;
		l = strlen(b);
		if (l > 5 && strcmp(b + l - 5, ".json") == 0)
			l -= 5;
		snprintf(id, n, "%.*s", (int)l, b);
	}
	if (!fs_name_valid(id)) {
		char q[FS_QUOTE_MAX + 16];

		return ctl_errorf(CTL_EXIT_INPUT,
				  "id: %s is not a valid request id (use "
				  "[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?%s)",
				  fs_quote(q, sizeof(q), id, FS_QUOTE_MAX),
				  opt ? "" : ", or give --id ID");
	}
	return 0;
}

int ctl_request_load(const char *path, const char *opt_id, char *id,
		     size_t idlen, char **ret_buf, size_t *ret_len,
		     struct ctrl_request *ret_req)
{
	char reason[512], *buf = NULL;
	size_t len = 0;
	int rc;

	rc = id_of(path, opt_id, id, idlen);
	if (rc)
		return rc;
	rc = ctl_read_input(path, &buf, &len);
	if (rc)
		return rc;
	if (ctrl_request_parse(id, buf, len, ret_req, reason, sizeof(reason)) <
	    0) {
		free(buf);
		return ctl_errorf(
		    CTL_EXIT_INPUT, "%s: invalid request: %s (nothing written)",
		    strcmp(path, "-") == 0 ? "stdin" : path, reason);
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

struct waitctx {
	struct ctl *x;
	int64_t rev;
	bool done;
	int rc;
	struct ctrl_status st;
	struct etcd_error err;
	bool failed;
};

static bool final_phase(const struct ctl *x, const struct ctrl_status *s)
{
	switch (s->phase) {
	case CTRL_RUNNING:
	case CTRL_REJECTED:
	case CTRL_UNSCHEDULABLE:
		return true;
	case CTRL_FAILED:
		return s->attempt >= x->sched.max_attempts;
	default:
		return false;
	}
}

static void on_status(void *arg, const struct etcd_watch_update *u)
{
	struct waitctx *w = arg;

	if (u->kind == ETCD_WATCH_FAILED || u->kind == ETCD_WATCH_COMPACTED) {
		w->failed = true;
		w->err = *u->err;
		w->done = true;
		ev_break(w->x->loop, EVBREAK_ONE);
		return;
	}
	for (size_t i = 0; u->kind == ETCD_WATCH_EVENTS && i < u->n_events;
	     i++) {
		const struct etcd_event *e = &u->events[i];
		struct ctrl_status s = {0};
		char err[64];

		if (e->type != ETCD_EVENT_PUT ||
		    ctrl_status_parse(e->kv.value, e->kv.value_len, &s, err,
				      sizeof(err)) < 0)
			continue;
		if (s.request_rev >= w->rev && final_phase(w->x, &s)) {
			ctrl_status_clear(&w->st);
			w->st = s;
			w->done = true;
			ev_break(w->x->loop, EVBREAK_ONE);
			return;
		}
		ctrl_status_clear(&s);
	}
}

static void on_wait_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	(void)t;
	ev_break(loop, EVBREAK_ONE);
}

static int wait_final(struct ctl *x, const char *id, const char *key,
		      int64_t rev, double timeout_s)
{
	struct waitctx w = {.x = x, .rev = rev};
	struct etcd_watch_req q = {.key = key, .start_revision = rev + 1};
	etcd_watch *wh = NULL;
	ev_timer t;
	char rs[512], hs[FS_NAME_MAX * 4 + 8];
	int rc;

	rc = etcd_watch_start(x->etcd, &q, on_status, &w, &wh);
	if (rc < 0) {
		struct etcd_error e = {.code = rc};

		return ctl_etcd_fail(x, "watching the status", key, &e);
	}
	ev_timer_init(&t, on_wait_timeout, timeout_s, 0);
	ev_timer_start(x->loop, &t);
	while (!w.done && ev_is_active(&t))
		ev_run(x->loop, 0);
	ev_timer_stop(x->loop, &t);
	wh = etcd_watch_cancel(wh);
	if (w.failed)
		return ctl_etcd_fail(x, "watching the status", key, &w.err);
	if (!w.done)
		return ctl_errorf(CTL_EXIT_INPUT,
				  "%s: no final phase after %.0f s (see "
				  "flintschedctl explain %s)",
				  id, timeout_s, id);
	ctl_esc(rs, sizeof(rs), w.st.reason ? w.st.reason : "", 0);
	printf("%s %s%s%s%s%s\n", id, ctrl_phase_name(w.st.phase),
	       *w.st.host ? " on " : "", ctl_esc(hs, sizeof(hs), w.st.host, 0),
	       *rs ? ": " : "", rs);
	rc = w.st.phase == CTRL_RUNNING ? 0 : CTL_EXIT_INPUT;
	ctrl_status_clear(&w.st);
	return rc;
}

int ctl_cmd_submit(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"id", required_argument, NULL, 'i'},
	    {"replace", no_argument, NULL, 'r'},
	    {"wait", no_argument, NULL, 'w'},
	    {"wait-timeout", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	const char *opt_id = NULL;
	bool replace = false, wait = false;
	double wait_s = 60;
	char id[FS_NAME_MAX + 2], *buf = NULL, *key = NULL;
	struct ctrl_request req = {0};
	size_t len = 0;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'i':
			opt_id = optarg;
			break;
		case 'r':
			replace = true;
			break;
		case 'w':
			wait = true;
			break;
		case 't':
			wait_s = (double)ctl_duration_ms(optarg, true) / 1000;
			if (wait_s <= 0)
				return ctl_errorf(CTL_EXIT_INPUT,
						  "--wait-timeout %s: give "
						  "seconds (60) or a duration "
						  "(2m)",
						  optarg);
			break;
		default:
			return ctl_errorf(CTL_EXIT_INPUT,
					  "see flintschedctl submit --help");
		}
	}
	if (optind + 1 != argc)
		return ctl_errorf(CTL_EXIT_INPUT,
				  "submit: give one FILE (or - for stdin)");
	rc = ctl_request_load(argv[optind], opt_id, id, sizeof(id), &buf, &len,
			      &req);
	if (rc)
		return rc;
	ctrl_request_clear(&req);
	key = ctl_key(x, "requests/%s", id);
	if (!key) {
		rc = ctl_errorf(CTL_EXIT_INPUT, "out of memory");
		goto out;
	}
	{
		struct etcd_compare cmp = {.target = ETCD_CMP_CREATE,
					   .result = ETCD_CMP_EQUAL,
					   .key = key,
					   .number = 0};
		struct etcd_op put = {
		    .type = ETCD_OP_PUT,
		    .u.put = {.key = key, .value = buf, .value_len = len}};
		struct etcd_txn_req t = {.compare = &cmp,
					 .n_compare = replace ? 0 : 1,
					 .success = &put,
					 .n_success = 1};
		struct etcd_error e;
		bool ok = false;
		int64_t rev = 0;

		if (etcd_sync_txn(x->etcd, &t, &ok, &rev, &e) < 0) {
			rc = ctl_etcd_fail(x, "writing the request", key, &e);
			goto out;
		}
		if (!ok) {
			rc = ctl_errorf(CTL_EXIT_INPUT,
					"request %s exists (%s); nothing "
					"written: use --replace to overwrite "
					"it, or flintschedctl delete %s",
					id, key, id);
			goto out;
		}
		printf("request %s %s (revision %lld)\n", id,
		       replace ? "written" : "created", (long long)rev);
		fflush(stdout);
		if (wait) {
			char *skey = ctl_key(x, "status/%s", id);

			rc = skey ? wait_final(x, id, skey, rev, wait_s)
				  : ctl_errorf(CTL_EXIT_INPUT, "out of memory");
			free(skey);
		}
	}
out:
	free(key);
	free(buf);
	return rc;
}

int ctl_cmd_delete(struct ctl *x, int argc, char **argv)
{
	struct etcd_error e;
	int64_t n = 0;
	char *key;
	int rc = 0;

	if (argc != 2)
		return ctl_errorf(CTL_EXIT_INPUT, "delete: give one ID");
	if (!fs_name_valid(argv[1]))
		return ctl_errorf(CTL_EXIT_INPUT,
				  "delete: not a request id (see "
				  "flintschedctl list)");
	key = ctl_key(x, "requests/%s", argv[1]);
	if (!key)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	if (etcd_sync_delete(x->etcd, key, false, &n, &e) < 0)
		rc = ctl_etcd_fail(x, "deleting the request", key, &e);
	else if (n == 0)
		rc = ctl_errorf(CTL_EXIT_INPUT,
				"no request %s (see flintschedctl list)",
				argv[1]);
	else
		printf("request %s deleted; its VM is being removed\n",
		       argv[1]);
	free(key);
	return rc;
}
