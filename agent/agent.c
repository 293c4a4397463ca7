/*
 * The agent service (agent.h): wiring only.  Creates the hosts, the etcd
 * client, the executor and the watches (rounds, invitations, assignments:
 * one of each, or with --per-host-watches one of each per host), connects each layer's
 * callbacks (agent_int.h), runs the per-iteration flush, and stops and
 * frees it all.  Calls every agent file below it; none calls it.
 */
#include "agent/agent_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define METRICS_PERIOD_S 5.0
#define WATCH_SHARD 32 /* hosts whose watches share one etcd client */

/* Once per loop iteration: the queued bids, then the queued VM states,
 * then the reads confirming assignments. */
static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	agent *a = w->data;

	(void)revents;
	ev_prepare_stop(loop, w);
	if (a->n_bq && !a->stopping)
		agent_bid_flush(a);
	agent_vm_flush(a);
	agent_confirm_flush(a);
}

static int read_password(const struct agent_config *c, char **ret, char *err,
			 size_t errlen)
{
	struct cfg_error ce;

	*ret = NULL;
	if (!c->etcd.password_file || !*c->etcd.password_file)
		return 0;
	if (cfg_read_secret("etcd.password_file", c->etcd.password_file, ret,
			    &ce) < 0) {
		snprintf(err, errlen, "%s", ce.message);
		return -EINVAL;
	}
	return 0;
}

/* h's own watches (--per-host-watches): what a real agent of h holds,
 * through etcd client ec. */
static int host_watches_init(agent *a, struct host *h, etcd_client *ec)
{
	struct host_watches *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	h->w = w;
	agent_swatch_init(a, &w->rounds, "rounds", "%s/rounds/%s", "", true,
			  agent_bid_round_kv, agent_bid_round_mark);
	agent_swatch_init(a, &w->invites, "invitations", "%s/invites/%s/",
			  h->name, true, agent_bid_invite_kv,
			  agent_bid_invite_mark);
	agent_swatch_init(a, &w->assign, "assignments", "%s/assign/%s/",
			  h->name, true, agent_reconcile_assign_kv,
			  agent_reconcile_assign_mark);
	w->assign.on_synced = agent_reconcile_assign_synced;
	w->rounds.h = w->invites.h = w->assign.h = h;
	w->rounds.etcd = w->invites.etcd = w->assign.etcd = ec;
	return 0;
}

/* The watch clients and every host's watches (per_host). */
static int watches_per_host(agent *a, const struct etcd_config *ec)
{
	int r;

	a->n_wclients = (a->n_hosts + WATCH_SHARD - 1) / WATCH_SHARD;
	a->wclients = calloc(a->n_wclients, sizeof(*a->wclients));
	if (!a->wclients)
		return -ENOMEM;
	for (unsigned i = 0; i < a->n_wclients; i++)
		if ((r = etcd_client_new(a->loop, ec, &a->wclients[i])) < 0)
			return r;
	for (unsigned i = 0; i < a->n_hosts; i++)
		if ((r = host_watches_init(a, &a->hosts[i],
					   a->wclients[i / WATCH_SHARD])) < 0)
			return r;
	return 0;
}

int agent_new(struct ev_loop *loop, const struct agent_config *cfg,
	      unsigned n_sim, unsigned flags, agent **ret_a, char *err,
	      size_t errlen)
{
	agent *a = calloc(1, sizeof(*a));
	struct etcd_config ec = {0};
	char hn[256];
	int r = -ENOMEM;

	if (!a)
		return -ENOMEM;
	a->loop = loop;
	a->cfg = cfg;
	a->n_sim = n_sim;
	a->per_host = n_sim && (flags & AGENT_PER_HOST_WATCHES);
	a->prefix = strdup(cfg->etcd.prefix);
	if (!a->prefix)
		goto fail;
	while (strlen(a->prefix) > 1 && a->prefix[strlen(a->prefix) - 1] == '/')
		a->prefix[strlen(a->prefix) - 1] = '\0';
	if (!*cfg->host) {
		if (gethostname(hn, sizeof(hn)) < 0)
			hn[0] = '\0';
		hn[sizeof(hn) - 1] = '\0';
		hn[strcspn(hn, ".")] = '\0';
	} else {
		snprintf(hn, sizeof(hn), "%s", cfg->host);
	}
	if (!fs_name_valid(hn) ||
	    (n_sim && strlen(hn) + 1 + 10 > FS_NAME_MAX)) {
		snprintf(err, errlen,
			 "agent.host: \"%s\" is not a valid host name "
			 "([a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?)",
			 hn);
		r = -EINVAL;
		goto fail;
	}
	if (cfg->http_listen && *cfg->http_listen &&
	    (r = fs_httpd_start(loop, cfg->http_listen, agent_http_handle, a,
				&a->http, err, errlen)) < 0)
		goto fail;
	a->n_hosts = n_sim ? n_sim : 1;
	a->hosts = calloc(a->n_hosts, sizeof(*a->hosts));
	if (!a->hosts)
		goto fail;
	snprintf(a->base, sizeof(a->base), "%s", hn);
	agent_host_sample(a);
	agent_host_sample(a);
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct host *h = &a->hosts[i];

		h->a = a;
		h->idx = i;
		if (n_sim)
			snprintf(h->name, sizeof(h->name), "%s-%u", hn, i);
		else
			snprintf(h->name, sizeof(h->name), "%s", hn);
		snprintf(h->rec.host, sizeof(h->rec.host), "%s", h->name);
		h->rec.endpoint = strdup(
			*cfg->endpoint
				? cfg->endpoint
				: (cfg->executor == AGENT_EXEC_FLINTLOCK && !n_sim
					   ? cfg->fl_endpoint
					   : ""));
		h->rec.agent_version = strdup(FLINTSCHED_VERSION);
		h->rec.lease_ttl_s = cfg->lease_ttl_s;
		if (!h->rec.endpoint || !h->rec.agent_version ||
		    agent_host_labels(&cfg->labels, &h->rec.labels) < 0)
			goto fail;
		ev_timer_init(&h->retry, agent_host_retry_cb, 0, 0);
		h->retry.data = h;
		agent_host_rec_update(h);
	}
	r = read_password(cfg, &a->password, err, errlen);
	if (r < 0)
		goto fail;
	ec.endpoints = (const char *const *)cfg->etcd.endpoints.v;
	ec.n_endpoints = cfg->etcd.endpoints.n;
	ec.username = cfg->etcd.username;
	ec.password = a->password;
	ec.ca_file = cfg->etcd.tls.ca;
	ec.cert_file = cfg->etcd.tls.cert;
	ec.key_file = cfg->etcd.tls.key;
	ec.request_timeout_ms = (long)cfg->etcd.request_timeout_ms;
	r = etcd_client_new(loop, &ec, &a->etcd);
	if (r < 0) {
		snprintf(err, errlen, "etcd: cannot create client: %s",
			 etcd_strerror(r));
		goto fail;
	}
	if (a->per_host && (r = watches_per_host(a, &ec)) < 0) {
		if (r != -ENOMEM)
			snprintf(err, errlen, "etcd: cannot create client: %s",
				 etcd_strerror(r));
		goto fail;
	}
	r = agent_executor_new(loop, cfg,
			       n_sim ? AGENT_EXEC_SIMULATE : cfg->executor,
			       &a->x, err, errlen);
	if (r < 0)
		goto fail;
	if (n_sim) {
		agent_swatch_init(a, &a->w_assign, "assignments",
				  "%s/assign/%s", "", true,
				  agent_reconcile_assign_kv,
				  agent_reconcile_assign_mark);
		agent_swatch_init(a, &a->w_invites, "invitations",
				  "%s/invites/%s", "", true,
				  agent_bid_invite_kv, agent_bid_invite_mark);
	} else {
		agent_swatch_init(a, &a->w_assign, "assignments",
				  "%s/assign/%s/", a->hosts[0].name, true,
				  agent_reconcile_assign_kv,
				  agent_reconcile_assign_mark);
		agent_swatch_init(a, &a->w_invites, "invitations",
				  "%s/invites/%s/", a->hosts[0].name, true,
				  agent_bid_invite_kv, agent_bid_invite_mark);
	}
	a->w_assign.on_synced = agent_reconcile_assign_synced;
	agent_swatch_init(a, &a->w_rounds, "rounds", "%s/rounds/%s", "", true,
			  agent_bid_round_kv, agent_bid_round_mark);
	a->on_registered = agent_bid_host_all;
	a->on_confirmed = agent_reconcile_confirmed;
	a->vq_tail = &a->vq;
	ev_prepare_init(&a->flush, flush_cb);
	a->flush.data = a;
	ev_timer_init(&a->vq_retry, agent_vm_retry_cb, 1.0, 0);
	a->vq_retry.data = a;
	ev_timer_init(&a->cq_retry, agent_confirm_retry_cb, 1.0, 0);
	a->cq_retry.data = a;
	ev_timer_init(&a->metrics, agent_host_metrics_cb, METRICS_PERIOD_S,
		      METRICS_PERIOD_S);
	a->metrics.data = a;
	*ret_a = a;
	return 0;
fail:
	if (r == -ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory");
	agent_free(a);
	return r;
}

int agent_start(agent *a)
{
	fs_info("starting %u host(s) (%s executor), etcd %s, prefix %s",
		a->n_hosts, agent_executor_name(a->x),
		etcd_client_endpoint(a->etcd), a->prefix);
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct host *h = &a->hosts[i];

		/* Staggered so that N simulated hosts do not open N
		 * connections at once. */
		ev_timer_set(&h->retry, a->n_sim ? 0.004 * i : 0, 0);
		ev_timer_start(a->loop, &h->retry);
	}
	if (a->per_host) {
		for (unsigned i = 0; i < a->n_hosts; i++) {
			agent_swatch_list(&a->hosts[i].w->rounds);
			agent_swatch_list(&a->hosts[i].w->invites);
		}
	} else {
		agent_swatch_list(&a->w_rounds);
		agent_swatch_list(&a->w_invites);
	}
	/* VM states first, then assignments (reconcile.c). */
	agent_reconcile_start(a);
	/* simulated hosts too: their records' periodic rewrite */
	ev_timer_start(a->loop, &a->metrics);
	return 0;
}

void agent_reload(agent *a, const struct agent_config *cfg)
{
	a->cfg = cfg;
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct host *h = &a->hosts[i];

		if (agent_host_labels(&cfg->labels, &h->rec.labels) < 0)
			fs_error("%s: out of memory reloading labels", h->name);
		agent_host_maybe_report(h, false);
	}
	fs_info("configuration reloaded (labels, capacity)");
}

static void stop_finish(agent *a)
{
	void (*done)(void *) = a->stop_done;

	ev_timer_stop(a->loop, &a->stop_timer);
	a->stop_done = NULL;
	if (done)
		done(a->stop_arg);
}

static void stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	agent *a = w->data;

	(void)loop;
	(void)revents;
	stop_finish(a);
}

/* The leases are not revoked: they run out with their TTL, so that an
 * agent started again within it (a restart, an upgrade) finds its host
 * record, its assignments and its VMs as it left them, and the
 * controllers see no host leave.  Taking a host out is the operator's
 * (P/hostctl/<host>, docs/DESIGN.md "Host lifecycle"). */
void agent_stop(agent *a, double timeout_s, void (*done)(void *arg),
		void *arg)
{
	(void)timeout_s;
	a->stopping = true;
	a->stop_done = done;
	a->stop_arg = arg;
	ev_timer_stop(a->loop, &a->metrics);
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct host *h = &a->hosts[i];

		ev_timer_stop(a->loop, &h->retry);
		h->ka = etcd_lease_keepalive_stop(h->ka);
		h->registered = false;
	}
	/* Done at the next loop iteration.  (ev_timer_again with no repeat
	 * stops a timer rather than firing it.) */
	ev_timer_init(&a->stop_timer, stop_timeout_cb, 0, 0);
	a->stop_timer.data = a;
	ev_timer_start(a->loop, &a->stop_timer);
}

agent *agent_free(agent *a)
{
	if (!a)
		return NULL;
	a->stopping = true;
	a->stop_done = NULL;
	a->http = fs_httpd_stop(a->http);
	ev_prepare_stop(a->loop, &a->flush);
	agent_vm_queue_fini(a);
	agent_confirm_fini(a);
	a->x = agent_executor_free(a->x);
	agent_swatch_fini(a, &a->w_rounds);
	agent_swatch_fini(a, &a->w_invites);
	agent_swatch_fini(a, &a->w_assign);
	for (unsigned i = 0; a->hosts && i < a->n_hosts; i++) {
		struct host_watches *w = a->hosts[i].w;

		if (w) {
			agent_swatch_fini(a, &w->rounds);
			agent_swatch_fini(a, &w->invites);
			agent_swatch_fini(a, &w->assign);
		}
	}
	ev_timer_stop(a->loop, &a->metrics);
	ev_timer_stop(a->loop, &a->stop_timer);
	for (unsigned i = 0; a->hosts && i < a->n_hosts; i++) {
		a->hosts[i].ka = etcd_lease_keepalive_stop(a->hosts[i].ka);
		ev_timer_stop(a->loop, &a->hosts[i].retry);
	}
	/* Runs pending callbacks with ECANCELED; they only free their own
	 * context because stopping is set. */
	a->etcd = etcd_client_free(a->etcd);
	for (unsigned i = 0; i < a->n_wclients; i++)
		a->wclients[i] = etcd_client_free(a->wclients[i]);
	free(a->wclients);
	for (unsigned i = 0; a->hosts && i < a->n_hosts; i++) {
		struct host *h = &a->hosts[i];

		while (h->vms) {
			struct vm *v = h->vms;

			h->vms = v->next;
			agent_vm_free(v);
		}
		fs_host_clear(&h->rec);
		fs_labels_clear(&h->last.labels);
		fs_labels_clear(&h->sending.labels);
		fs_alloc_clear(&h->alloc);
	}
	agent_bid_fini(a);
	for (unsigned i = 0; a->hosts && i < a->n_hosts; i++)
		free(a->hosts[i].w);
	free(a->hosts);
	a->password = cfg_secret_free(a->password);
	free(a->prefix);
	free(a);
	return NULL;
}

unsigned agent_hosts_registered(const agent *a)
{
	unsigned n = 0;

	for (unsigned i = 0; i < a->n_hosts; i++)
		n += a->hosts[i].registered;
	return n;
}

const char *agent_host_name(const agent *a, unsigned i)
{
	return i < a->n_hosts ? a->hosts[i].name : NULL;
}

