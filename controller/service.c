/*
 * flintsched-controller's service: only the wiring.  Builds struct ctrl,
 * sets the lower layers' hooks to the slots layer, runs pass.c before the
 * loop blocks, the pass timer, /healthz and /metrics, and the shutdown.
 * Calls every layer's entry points (controller/core.h); nothing calls it.
 */
#include "controller/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	ctrl_pass(w->data);
}

static void on_pass_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctrl *c = w->data;

	(void)revents;
	c->pass_all = true;
	(void)ctrl_host_stale_scan(c, ev_now(loop));
	ctrl_slots_balance(c); /* retries failed campaigns */
}

static int ctrl_http(void *arg, const char *path, char **body,
		     const char **type)
{
	struct ctrl *c = arg;
	const char *why;

	if (strcmp(path, "/healthz") == 0) {
		why = ctrl_health(c);
		if (why) {
			if (asprintf(body, "unhealthy: %s\n", why) < 0)
				*body = NULL;
			return 503;
		}
		if (asprintf(body,
			     "ok: %s registered (lease %llx), watching %s, "
			     "%u of %u coordinator slot(s) held\n",
			     c->name, (unsigned long long)c->lease, c->prefix,
			     ctrl_slots_held(c), c->k) < 0)
			*body = NULL;
		return 200;
	}
	if (strcmp(path, "/metrics") == 0) {
		*type = "text/plain; version=0.0.4";
		*body = ctrl_metrics_text(c);
		return *body ? 200 : 500;
	}
	*body = strdup("not found: try /healthz or /metrics\n");
	return 404;
}

int ctrl_new(struct ev_loop *loop, const struct ctrl_config *cfg,
	     const char *password, ctrl **ret, char *err, size_t errlen)
{
	struct ctrl *c = calloc(1, sizeof(*c));
	struct etcd_config ec = {0};
	int rc = -ENOMEM;

	if (!c)
		goto fail;
	rc = ctrl_core_init(c, loop, cfg, err, errlen);
	if (rc < 0)
		goto fail;
	if (cfg->http_listen && *cfg->http_listen &&
	    (rc = fs_httpd_start(loop, cfg->http_listen, ctrl_http, c,
				 &c->http, err, errlen)) < 0)
		goto fail;
	ec.endpoints = (const char *const *)cfg->etcd.endpoints.v;
	ec.n_endpoints = cfg->etcd.endpoints.n;
	ec.username = cfg->etcd.username;
	ec.password = password;
	ec.ca_file = cfg->etcd.tls.ca;
	ec.cert_file = cfg->etcd.tls.cert;
	ec.key_file = cfg->etcd.tls.key;
	ec.request_timeout_ms = (long)cfg->etcd.request_timeout_ms;
	rc = etcd_client_new(loop, &ec, &c->etcd);
	if (rc < 0) {
		snprintf(err, errlen, "etcd client: %s", etcd_strerror(rc));
		rc = -EIO;
		goto fail;
	}
	c->hooks = (struct ctrl_hooks){.balance = ctrl_slots_balance,
				       .withdraw = ctrl_slot_withdraw,
				       .stray = ctrl_slot_stray,
				       .fenced = ctrl_slot_drop};
	ev_prepare_init(&c->prepare, on_prepare);
	c->prepare.data = c;
	ev_prepare_start(loop, &c->prepare);
	ev_timer_init(&c->pass_timer, on_pass_timer, PASS_INTERVAL_S,
		      PASS_INTERVAL_S);
	c->pass_timer.data = c;
	ev_timer_start(loop, &c->pass_timer);
	ctrl_watch_init(c);
	ctrl_session_init(c);
	fs_info("starting: %u coordinator slots, bidding %s, prefix %s",
		c->k,
		cfg->bidding == CTRL_BID_CACHED	   ? "cached"
		: cfg->bidding == CTRL_BID_SAMPLE ? "sample"
						  : "broadcast",
		c->prefix);
	ctrl_session_start(c);
	*ret = c;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (c) {
		c->http = fs_httpd_stop(c->http);
		ctrl_core_clear(c);
		free(c);
	}
	return rc;
}

int ctrl_fatal(const ctrl *c, char *err, size_t errlen)
{
	if (c->fatal)
		snprintf(err, errlen, "%s", c->fatal_msg);
	return c->fatal;
}

static void on_revoke(void *arg, const struct etcd_error *err,
		      const struct etcd_header *hdr)
{
	(void)err;
	(void)hdr;
	*(bool *)arg = true;
}

ctrl *ctrl_free(ctrl *c)
{
	bool done = false;
	ev_tstamp until;

	if (!c)
		return NULL;
	c->http = fs_httpd_stop(c->http);
	ev_prepare_stop(c->loop, &c->prepare);
	ev_timer_stop(c->loop, &c->pass_timer);
	ev_timer_stop(c->loop, &c->relist_timer);
	ev_timer_stop(c->loop, &c->session_timer);
	ctrl_watch_cancel(c);
	for (unsigned i = 0; i < c->k; i++)
		c->slots[i].camp = etcd_campaign_cancel(c->slots[i].camp);
	c->ka = etcd_lease_keepalive_stop(c->ka);
	/* Revoking the lease frees our slots at once (no TTL wait). */
	if (c->lease &&
	    etcd_lease_revoke(c->etcd, c->lease, on_revoke, &done) == 0) {
		until = ev_now(c->loop) + 2.0;
		while (!done && ev_now(c->loop) < until)
			ev_run(c->loop, EVRUN_ONCE);
		if (done)
			fs_info("lease revoked; slots released");
	}
	c->etcd = etcd_client_free(c->etcd); /* cancels txns in flight */
	ctrl_core_clear(c);
	free(c);
	return NULL;
}
