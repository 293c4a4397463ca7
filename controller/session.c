/* The etcd session: one lease kept alive, P/meta checked, registration
 * under P/controllers/<name>; a lost lease drops every slot and starts
 * again.  Calls slots.c, watch.c, key.c. */
#include "controller/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static void set_fatal(struct ctrl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fatal_msg, sizeof(c->fatal_msg), fmt, ap);
	va_end(ap);
	c->fatal = -EIO;
	ev_break(c->loop, EVBREAK_ALL);
}

static void session_retry(struct ctrl *c, double after)
{
	ev_timer_stop(c->loop, &c->session_timer);
	ev_timer_set(&c->session_timer, after, 0);
	ev_timer_start(c->loop, &c->session_timer);
}

static void session_end(struct ctrl *c, const char *why)
{
	for (unsigned i = 0; i < c->k; i++)
		ctrl_slot_drop(c, i, why);
	c->ka = etcd_lease_keepalive_stop(c->ka);
	c->session_up = false;
	c->lease = 0;
	c->meta_wait = false;
}

static void on_keepalive(void *arg, enum etcd_keepalive_event ev,
			 const struct etcd_error *err, int64_t ttl)
{
	struct ctrl *c = arg;

	(void)ttl;
	if (ev == ETCD_KEEPALIVE_ERROR) {
		fs_warn("lease keepalive: %s", err ? err->message : "error");
		return;
	}
	if (ev != ETCD_KEEPALIVE_EXPIRED)
		return;
	fs_error("lease %llx expired: stepping down from every slot; "
		 "starting a new session",
		 (unsigned long long)c->lease);
	/* The loop has stopped; free it (setting it NULL leaked it). */
	c->ka = etcd_lease_keepalive_stop(c->ka);
	session_end(c, "lease expired");
	session_retry(c, 0.2);
}

static void on_register(void *arg, const struct etcd_error *err,
			const struct etcd_put_result *res)
{
	struct ctrl *c = arg;

	(void)res;
	c->starting = false;
	if (err) {
		fs_warn("registering %scontrollers/%s failed: %s", c->prefix,
			c->name, err->message);
		session_end(c, "registration failed");
		session_retry(c, 1.0);
		return;
	}
	c->session_up = true;
	fs_info("registered as %s (lease %llx)", c->name,
		(unsigned long long)c->lease);
	if (!c->cache_ready && !c->listing)
		ctrl_watch_list(c);
	else
		ctrl_slots_balance(c);
}

static void session_register(struct ctrl *c)
{
	char *key = ctrl_keyf("%scontrollers/%s", c->prefix, c->name);
	char *val =
	    ctrl_keyf("{\"name\":\"%s\",\"pid\":%ld,\"version\":\"%s\"}",
		      c->name, (long)getpid(), FLINTSCHED_VERSION);
	struct etcd_put_req p = {.key = key, .value = val,
				 .value_len = val ? strlen(val) : 0,
				 .lease = c->lease};
	int rc = key && val ? etcd_kv_put(c->etcd, &p, on_register, c)
			    : -ENOMEM;

	free(key);
	free(val);
	if (rc < 0) {
		session_end(c, "registration failed");
		session_retry(c, 1.0);
	}
}

static void on_meta(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res);
static void meta_check(struct ctrl *c);

static void on_grant(void *arg, const struct etcd_error *err, int64_t id,
		     int64_t ttl)
{
	struct ctrl *c = arg;
	int rc;

	if (err) {
		c->starting = false;
		fs_warn("lease grant failed: %s; retrying", err->message);
		session_retry(c, 1.0);
		return;
	}
	c->lease = id;
	rc = etcd_lease_keepalive_start(c->etcd, id, ttl, on_keepalive, c,
					&c->ka);
	if (rc < 0) {
		c->starting = false;
		session_retry(c, 1.0);
		return;
	}
	meta_check(c);
}

/* P/meta pins K: create it if absent, else read it back. */
static void meta_check(struct ctrl *c)
{
	char *mk, *mv;
	int rc = -ENOMEM;

	c->meta_wait = false;
	mk = ctrl_keyf("%smeta", c->prefix);
	mv = ctrl_keyf("{\"coordinators\":%u}", c->k);
	if (mk && mv) {
		struct etcd_compare cmp = {.target = ETCD_CMP_CREATE,
					   .result = ETCD_CMP_EQUAL,
					   .key = mk, .number = 0};
		struct etcd_op ok = {.type = ETCD_OP_PUT,
				     .u.put = {.key = mk, .value = mv,
					       .value_len = strlen(mv)}};
		struct etcd_op ko = {.type = ETCD_OP_RANGE,
				     .u.range = {.key = mk}};
		struct etcd_txn_req t = {&cmp, 1, &ok, 1, &ko, 1};

		rc = etcd_kv_txn(c->etcd, &t, on_meta, c);
	}
	free(mk);
	free(mv);
	if (rc < 0) {
		session_end(c, "meta");
		c->starting = false;
		session_retry(c, 1.0);
	}
}

/* P/meta is not {"coordinators":K}: nobody can tell which K the pool
 * runs, so this controller neither starts nor exits: it says so once
 * per revision of the key and reads it again every META_RETRY_S, with
 * its lease kept, until an operator repairs it. */
#define META_RETRY_S 5.0
static void meta_unreadable(struct ctrl *c, const struct etcd_kv *kv,
			    const char *why)
{
	char q[FS_QUOTE_MAX + 16];

	snprintf(c->session_err, sizeof(c->session_err),
		 "%smeta is unreadable (%s); put {\"coordinators\":K} with "
		 "the K every controller is configured with",
		 c->prefix, why);
	if (kv->mod_revision != c->meta_bad_rev)
		fs_error("%smeta is unreadable (%s, value %s): it pins the "
			 "number of coordinator slots; write it with the "
			 "controller.coordinators every controller uses "
			 "(%u here): etcdctl put %smeta "
			 "'{\"coordinators\":%u}'; not starting a session "
			 "until then (reading it again every %.0f s)",
			 c->prefix, why,
			 fs_quote(q, sizeof(q), kv->value, FS_QUOTE_MAX), c->k,
			 c->prefix, c->k, META_RETRY_S);
	c->meta_bad_rev = kv->mod_revision;
	c->meta_wait = true;
	session_retry(c, META_RETRY_S);
}

static void on_meta(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res)
{
	struct ctrl *c = arg;

	if (err) {
		fs_warn("reading %smeta failed: %s; retrying", c->prefix,
			err->message);
		session_end(c, "meta");
		session_retry(c, 1.0);
		c->starting = false;
		return;
	}
	c->session_err[0] = '\0';
	if (!res->succeeded && res->n_responses &&
	    res->responses[0].u.range.n_kvs) {
		const struct etcd_kv *kv = &res->responses[0].u.range.kvs[0];
		json_t *root = json_loadb(kv->value, kv->value_len, 0, NULL);
		json_t *k = json_object_get(root, "coordinators");
		long long have = json_is_integer(k) ? json_integer_value(k) : -1;

		json_decref(root);
		if (have < 1) {
			meta_unreadable(c, kv,
					!root ? "not JSON"
					: !json_is_integer(k)
					    ? "no integer \"coordinators\""
					    : "\"coordinators\" below 1");
			return;
		}
		if (have != (long long)c->k) {
			set_fatal(c,
				  "%smeta pins coordinators=%lld but this "
				  "controller is configured with "
				  "controller.coordinators=%u; set it to %lld "
				  "(or stop every controller and delete "
				  "%smeta to change K)",
				  c->prefix, have, c->k, have, c->prefix);
			return;
		}
	} else if (res->succeeded) {
		fs_info("created %smeta with coordinators=%u", c->prefix,
			c->k);
	}
	session_register(c);
}

void ctrl_session_start(struct ctrl *c)
{
	int rc;

	if (c->starting || c->session_up)
		return;
	c->starting = true;
	rc = etcd_lease_grant(c->etcd, c->cfg->lease_ttl_s, 0, on_grant, c);
	if (rc < 0) {
		c->starting = false;
		session_retry(c, 1.0);
	}
}

static void on_session_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	if (((struct ctrl *)w->data)->meta_wait)
		meta_check(w->data);
	else
		ctrl_session_start(w->data);
}

void ctrl_session_init(struct ctrl *c)
{
	ev_init(&c->session_timer, on_session_timer);
	c->session_timer.data = c;
}
