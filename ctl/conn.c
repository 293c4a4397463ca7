/*
 * The etcd connection, in etcdctl's habits: --flags win, then -c FILE (a
 * controller's or an agent's config: its `etcd` section, read with the
 * daemon's own schema), else ETCDCTL_ENDPOINTS, ETCDCTL_USER,
 * ETCDCTL_CACERT, ETCDCTL_CERT, ETCDCTL_KEY, else the defaults of the
 * `etcd` section.  And the messages that say what to do about an etcd
 * error.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <ev.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Splits "a,b" into a new NULL-terminated vector. */
static char **split(const char *s, size_t *ret_n)
{
	size_t n = 1, i = 0;
	char *dup = strdup(s), *save = NULL, *tok;
	char **v;

	if (!dup)
		return NULL;
	for (const char *p = s; *p; p++)
		n += *p == ',';
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		free(dup);
		return NULL;
	}
	for (tok = strtok_r(dup, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		v[i] = strdup(tok);
		if (!v[i++])
			goto fail;
	}
	free(dup);
	*ret_n = i;
	return v;
fail:
	for (size_t j = 0; j < i; j++)
		free(v[j]);
	free(v);
	free(dup);
	return NULL;
}

static void vec_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Loads x->sched (and the etcd section) from path with the controller's
 * schema, else the agent's; without path, the controller's defaults. */
static int load_config(struct ctl *x, const char *path,
		       const struct cfg_etcd **ret_etcd)
{
	struct cfg_error ce, ae;
	struct agent_config *ac;
	int rc;

	rc = cfg_load(&ctrl_config_schema, &x->sched, path, NULL, 0, &ce);
	if (rc == 0) {
		x->sched_loaded = true;
		*ret_etcd = &x->sched.etcd;
		return 0;
	}
	if (!path || rc != -EINVAL) /* unreadable: no other schema helps */
		return ctl_errorf(CTL_EXIT_INPUT, "%s", ce.message);
	ac = calloc(1, sizeof(*ac));
	if (!ac)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	if (cfg_load(&agent_config_schema, ac, path, NULL, 0, &ae) < 0) {
		free(ac);
		return ctl_errorf(CTL_EXIT_INPUT,
				  "%s is neither a controller nor an agent "
				  "config:\n  as a controller config: %s\n"
				  "  as an agent config: %s",
				  path, ce.message, ae.message);
	}
	x->agent_cfg = ac;
	if (cfg_load(&ctrl_config_schema, &x->sched, NULL, NULL, 0, &ce) < 0) {
		return ctl_errorf(CTL_EXIT_INPUT, "%s", ce.message);
	}
	x->sched_loaded = true;
	*ret_etcd = &ac->etcd;
	return 0;
}

int ctl_conn_open(struct ctl *x, const struct ctl_conn_opts *o)
{
	const struct cfg_etcd *ce = NULL;
	struct etcd_config ec = {0};
	struct cfg_error err;
	char **eps = NULL, *user = NULL, *password = NULL, *colon;
	size_t n_eps = 0, len = 0;
	const char *s;
	int rc;

	rc = load_config(x, o->config, &ce);
	if (rc || !ce)
		return rc ? rc : CTL_EXIT_INPUT;
	ec.username = *ce->username ? ce->username : NULL;
	ec.ca_file = ce->tls.ca;
	ec.cert_file = ce->tls.cert;
	ec.key_file = ce->tls.key;
	ec.request_timeout_ms = (long)ce->request_timeout_ms;
	if (!o->config) {
		if ((s = env("ETCDCTL_CACERT")))
			ec.ca_file = s;
		if ((s = env("ETCDCTL_CERT")))
			ec.cert_file = s;
		if ((s = env("ETCDCTL_KEY")))
			ec.key_file = s;
	}
	if (o->cacert)
		ec.ca_file = o->cacert;
	if (o->cert)
		ec.cert_file = o->cert;
	if (o->key)
		ec.key_file = o->key;
	if (o->timeout_s > 0)
		ec.request_timeout_ms = (long)(o->timeout_s * 1000);

	s = o->endpoints ? o->endpoints
			 : (!o->config ? env("ETCDCTL_ENDPOINTS") : NULL);
	if (s) {
		eps = split(s, &n_eps);
		if (!eps || n_eps == 0) {
			rc = ctl_errorf(
			    CTL_EXIT_INPUT,
			    "--endpoints: give one or more URLs, "
			    "comma separated (http://127.0.0.1:2379)");
			goto out;
		}
		ec.endpoints = (const char *const *)eps;
		ec.n_endpoints = n_eps;
	} else {
		ec.endpoints = (const char *const *)ce->endpoints.v;
		ec.n_endpoints = ce->endpoints.n;
	}

	s = o->user ? o->user : (!o->config ? env("ETCDCTL_USER") : NULL);
	if (s) {
		user = strdup(s);
		if (!user)
			goto nomem;
		colon = strchr(user, ':');
		if (!colon) {
			rc = ctl_errorf(CTL_EXIT_INPUT,
					"--user %s: give NAME:PASSWORD (as "
					"etcdctl's --user), or etcd.username "
					"and etcd.password_file in -c FILE",
					user);
			goto out;
		}
		*colon = '\0';
		password = strdup(colon + 1);
		if (!password)
			goto nomem;
		ec.username = user;
	} else if (ec.username && *ce->password_file) {
		if (cfg_read_secret("etcd.password_file", ce->password_file,
				    &password, &err) < 0) {
			rc = ctl_errorf(CTL_EXIT_INPUT, "%s", err.message);
			goto out;
		}
	}
	ec.password = password;

	x->prefix = strdup(o->prefix ? o->prefix : ce->prefix);
	if (!x->prefix)
		goto nomem;
	len = strlen(x->prefix);
	while (len > 1 && x->prefix[len - 1] == '/')
		x->prefix[--len] = '\0';
	len = 1;
	for (size_t i = 0; i < ec.n_endpoints; i++)
		len += strlen(ec.endpoints[i]) + 1;
	x->endpoints = calloc(1, len);
	if (!x->endpoints)
		goto nomem;
	for (size_t i = 0; i < ec.n_endpoints; i++) {
		if (i)
			strcat(x->endpoints, ",");
		strcat(x->endpoints, ec.endpoints[i]);
	}
	if (ec.username) {
		x->user = strdup(ec.username);
		if (!x->user)
			goto nomem;
	}
	x->loop = ev_default_loop(0);
	rc = etcd_client_new(x->loop, &ec, &x->etcd);
	if (rc < 0) {
		rc = ctl_errorf(CTL_EXIT_INPUT,
				"etcd client for %s: %s (check the endpoint "
				"URLs and TLS files)",
				x->endpoints, etcd_strerror(rc));
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	rc = ctl_errorf(CTL_EXIT_INPUT, "out of memory");
out:
	vec_free(eps, n_eps);
	free(user);
	password = cfg_secret_free(password);
	return rc;
}

void ctl_conn_close(struct ctl *x)
{
	x->etcd = etcd_client_free(x->etcd);
	free(x->endpoints);
	free(x->user);
	free(x->prefix);
	if (x->sched_loaded)
		cfg_free(&ctrl_config_schema, &x->sched);
	if (x->agent_cfg) {
		cfg_free(&agent_config_schema, x->agent_cfg);
		free(x->agent_cfg);
	}
	memset(x, 0, sizeof(*x));
}

int ctl_etcd_fail(const struct ctl *x, const char *what, const char *key,
		  const struct etcd_error *e)
{
	const char *msg = e && *e->message ? e->message : "";
	int code = e ? e->code : ETCD_ECONN;

	switch (code) {
	case ETCD_ECONN:
	case ETCD_ETIMEDOUT:
	case ETCD_ETLS:
		return ctl_errorf(CTL_EXIT_ETCD,
				  "%s: cannot reach etcd at %s: %s%s%s; check "
				  "--endpoints (or ETCDCTL_ENDPOINTS, "
				  "etcd.endpoints in -c FILE), TLS files, and "
				  "that etcd is running",
				  what, x->endpoints, etcd_strerror(code),
				  *msg ? ": " : "", msg);
	case ETCD_EAUTH:
		return ctl_errorf(
		    CTL_EXIT_ETCD,
		    "%s: permission denied%s%s%s%s (%s); ask "
		    "for an etcd role that may %s %s",
		    what, key ? " on " : "", key ? key : "",
		    x->user ? " for user " : "", x->user ? x->user : "", msg,
		    strstr(what, "read") || strstr(what, "list") ? "read"
								 : "write",
		    key ? key : "these keys");
	default:
		return ctl_errorf(CTL_EXIT_ETCD, "%s%s%s: etcd at %s: %s%s%s",
				  what, key ? " " : "", key ? key : "",
				  x->endpoints, etcd_strerror(code),
				  *msg ? ": " : "", msg);
	}
}

char *ctl_key(const struct ctl *x, const char *fmt, ...)
{
	va_list ap;
	char *tail = NULL, *k = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&tail, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	if (asprintf(&k, "%s/%s", x->prefix, tail) < 0)
		k = NULL;
	free(tail);
	return k;
}

const char *ctl_key_tail(const struct ctl *x, const char *key, const char *dir)
{
	size_t lp = strlen(x->prefix), ld = strlen(dir);

	if (strncmp(key, x->prefix, lp) != 0 || key[lp] != '/' ||
	    strncmp(key + lp + 1, dir, ld) != 0)
		return NULL;
	return key + lp + 1 + ld;
}
