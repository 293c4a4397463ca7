/*
 * One read of what a command shows, every range at the revision of the
 * first, parsed with the daemons' own parsers (fs_host_parse,
 * fs_alloc_parse, ctrl_status_parse, ctrl_request_parse).  A record that
 * does not parse is shown as absent, never trusted half-read.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct ranges {
	struct etcd_sync_range *r[8];
	const char *name[8];
	size_t n;
};

static int get_prefix(struct ctl *x, struct ctl_view *v, struct ranges *rs,
		      const char *what, const char *key, bool keys_only)
{
	struct etcd_range_req q = {.key = key,
				   .prefix = true,
				   .keys_only = keys_only,
				   .revision = v->revision};
	struct etcd_error e;
	struct etcd_sync_range *r = NULL;

	if (etcd_sync_get(x->etcd, &q, &r, &e) < 0)
		return ctl_etcd_fail(x, "reading the cluster", key, &e);
	if (!v->revision)
		v->revision = r->revision;
	rs->name[rs->n] = what;
	rs->r[rs->n++] = r;
	return 0;
}

int ctl_view_assigns(struct ctl *x, const struct ctl_view *v,
		     struct etcd_sync_range **ret)
{
	struct ctl_view at = {.revision = v->revision};
	struct ranges rs = {0};
	char *k = ctl_key(x, "assign/");
	int rc;

	if (!k)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	rc = get_prefix(x, &at, &rs, "assign/", k, false);
	free(k);
	if (rc == 0)
		*ret = rs.r[0];
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* bsearch comparators: the key is the name itself. */
static int host_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ctl_vhost *)elem)->name);
}

static int req_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ctl_vreq *)elem)->id);
}

struct ctl_vhost *ctl_view_host(const struct ctl_view *v, const char *name)
{
	if (!v->n_hosts)
		return NULL;
	return bsearch(name, v->hosts, v->n_hosts, sizeof(*v->hosts),
		       host_key_cmp);
}

struct ctl_vreq *ctl_view_req(const struct ctl_view *v, const char *id)
{
	if (!v->n_reqs)
		return NULL;
	return bsearch(id, v->reqs, v->n_reqs, sizeof(*v->reqs), req_key_cmp);
}

/* Collects the distinct first segments under dir of every range in rs
 * whose name is dir, sorted: names[0..*ret_n). */
static int collect(const struct ctl *x, const struct ranges *rs,
		   const char *const *dirs, char ***ret, size_t *ret_n)
{
	size_t n = 0, cap = 0, m = 0;
	char **v = NULL;

	for (size_t i = 0; i < rs->n; i++) {
		bool want = false;

		for (size_t d = 0; dirs[d]; d++)
			want |= strcmp(rs->name[i], dirs[d]) == 0;
		if (!want)
			continue;
		for (size_t j = 0; j < rs->r[i]->n_kvs; j++) {
			const char *t =
			    ctl_key_tail(x, rs->r[i]->kvs[j].key, rs->name[i]);
			const char *slash;
			size_t l;

			if (!t || !*t)
				continue;
			slash = strchr(t, '/');
			l = slash ? (size_t)(slash - t) : strlen(t);
			if (l == 0 || l > FS_NAME_MAX)
				continue;
			if (n == cap) {
				char **nv;

				cap = cap ? 2 * cap : 64;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv)
					goto fail;
				v = nv;
			}
			v[n] = strndup(t, l);
			if (!v[n++])
				goto fail;
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && strcmp(v[m - 1], v[i]) == 0)
			free(v[i]);
		else
			v[m++] = v[i];
	}
	*ret = v;
	*ret_n = m;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}

int ctl_hostctl_parse(const char *json, size_t len, struct ctl_hostctl *out,
		      char *err, size_t errlen)
{
	struct ctl_hostctl h = {.present = true, .max_parallel = 1};
	json_t *root = json_loadb(json, len, 0, NULL), *v;
	const char *s;

	if (len == 0) { /* an empty key means normal */
		*out = (struct ctl_hostctl){0};
		return 0;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return fs_fail(err, errlen, "not a JSON object");
	}
	s = json_string_value(json_object_get(root, "state"));
	if (!s || (strcmp(s, "cordoned") != 0 && strcmp(s, "drain") != 0)) {
		json_decref(root);
		return fs_fail(err, errlen,
			       "state: must be \"cordoned\" or \"drain\"");
	}
	snprintf(h.state, sizeof(h.state), "%s", s);
	v = json_object_get(root, "max_parallel");
	if (json_is_integer(v))
		h.max_parallel = (int64_t)json_integer_value(v);
	if ((s = json_string_value(json_object_get(root, "deadline"))))
		snprintf(h.deadline, sizeof(h.deadline), "%s", s);
	if ((s = json_string_value(json_object_get(root, "by"))))
		snprintf(h.by, sizeof(h.by), "%s", s);
	if ((s = json_string_value(json_object_get(root, "updated"))))
		snprintf(h.updated, sizeof(h.updated), "%s", s);
	json_decref(root);
	*out = h;
	return 0;
}

static void req_fill_request(struct ctl_vreq *r, const struct etcd_sync_kv *kv)
{
	char reason[16];

	r->req_present = true;
	r->req = kv->value;
	r->req_len = kv->value_len;
	r->req_mod_rev = kv->mod_revision;
	r->parsed_ok =
	    ctrl_request_parse(r->id, kv->value, kv->value_len, &r->parsed,
			       reason, sizeof(reason)) == 0;
}

static int fill(struct ctl *x, struct ctl_view *v, struct ranges *rs)
{
	static const char *const hdirs[] = {"hosts/", "alloc/", "hostctl/",
					    "assign/", NULL};
	static const char *const rdirs[] = {"requests/", "status/", NULL};
	char **names = NULL, err[128];
	size_t n = 0;

	if (collect(x, rs, hdirs, &names, &n) < 0)
		return -ENOMEM;
	if (n) {
		v->hosts = calloc(n, sizeof(*v->hosts));
		if (!v->hosts)
			goto nomem;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(v->hosts[i].name, sizeof(v->hosts[i].name), "%s",
			 names[i]);
		free(names[i]);
	}
	v->n_hosts = n;
	free(names);
	names = NULL;
	if (collect(x, rs, rdirs, &names, &n) < 0)
		return -ENOMEM;
	if (n) {
		v->reqs = calloc(n, sizeof(*v->reqs));
		if (!v->reqs)
			goto nomem;
	}
	for (size_t i = 0; i < n; i++)
		v->reqs[i].id = names[i];
	v->n_reqs = n;
	free(names);

	for (size_t i = 0; i < rs->n; i++) {
		const char *dir = rs->name[i];

		for (size_t j = 0; j < rs->r[i]->n_kvs; j++) {
			struct etcd_sync_kv *kv = &rs->r[i]->kvs[j];
			const char *t = ctl_key_tail(x, kv->key, dir);
			struct ctl_vhost *h;
			struct ctl_vreq *r;
			char name[FS_NAME_MAX + 1];
			const char *slash;

			if (!t)
				continue;
			slash = strchr(t, '/');
			if ((slash ? (size_t)(slash - t) : strlen(t)) >
			    FS_NAME_MAX)
				continue;
			snprintf(name, sizeof(name), "%.*s",
				 (int)(slash ? (size_t)(slash - t) : strlen(t)),
				 t);
			if (strcmp(dir, "meta") == 0) {
				json_t *m = json_loadb(kv->value, kv->value_len,
						       0, NULL);

				v->coordinators = json_integer_value(
				    json_object_get(m, "coordinators"));
				json_decref(m);
				continue;
			}
			if (strcmp(dir, "requests/") == 0 ||
			    strcmp(dir, "status/") == 0) {
				r = slash ? NULL : ctl_view_req(v, name);
				if (!r)
					continue;
				if (*dir == 'r') {
					req_fill_request(r, kv);
					kv->value = NULL; /* moved */
				} else if (ctrl_status_parse(
					       kv->value, kv->value_len, &r->st,
					       err, sizeof(err)) == 0) {
					r->st_present = true;
					r->st_raw = kv->value;
					kv->value = NULL;
				}
				continue;
			}
			h = ctl_view_host(v, name);
			if (!h)
				continue;
			if (strcmp(dir, "hosts/") == 0 && !slash) {
				h->rec_present =
				    fs_host_parse(kv->value, kv->value_len,
						  &h->rec, err,
						  sizeof(err)) == 0;
				h->rec_mod_rev = kv->mod_revision;
			} else if (strcmp(dir, "alloc/") == 0 && !slash) {
				h->alloc_present =
				    fs_alloc_parse(kv->value, kv->value_len,
						   &h->alloc, err,
						   sizeof(err)) == 0;
			} else if (strcmp(dir, "hostctl/") == 0 && !slash) {
				if (ctl_hostctl_parse(kv->value, kv->value_len,
						      &h->ctl, err,
						      sizeof(err)) < 0)
					h->ctl = (struct ctl_hostctl){0};
			} else if (strcmp(dir, "assign/") == 0 && slash &&
				   slash[1]) {
				h->n_assign++;
				r = ctl_view_req(v, slash + 1);
				if (r && !r->assigned_host) {
					r->assigned_host = strdup(h->name);
					if (!r->assigned_host)
						return -ENOMEM;
				}
			}
		}
	}
	return 0;
nomem:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return -ENOMEM;
}

static int load(struct ctl *x, struct ctl_view *v, struct ranges *rs)
{
	int rc = fill(x, v, rs);

	for (size_t i = 0; i < rs->n; i++)
		rs->r[i] = etcd_sync_range_free(rs->r[i]);
	if (rc < 0) {
		ctl_view_clear(v);
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	}
	return 0;
}

int ctl_view_load(struct ctl *x, struct ctl_view *v, unsigned what)
{
	static const struct {
		const char *dir;
		unsigned what;
		bool keys_only;
	} parts[] = {
	    {"hosts/", CTL_V_HOSTS, false},
	    {"alloc/", CTL_V_HOSTS, false},
	    {"hostctl/", CTL_V_HOSTS, false},
	    {"meta", CTL_V_HOSTS, false},
	    {"assign/", CTL_V_HOSTS | CTL_V_REQS, true},
	    {"requests/", CTL_V_REQS, false},
	    {"status/", CTL_V_REQS, false},
	};
	struct ranges rs = {0};
	int rc = 0;

	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *k;

		if (!(parts[i].what & what))
			continue;
		k = ctl_key(x, "%s", parts[i].dir);
		if (!k) {
			rc = ctl_errorf(CTL_EXIT_INPUT, "out of memory");
			break;
		}
		rc = get_prefix(x, v, &rs, parts[i].dir, k, parts[i].keys_only);
		free(k);
		if (rc)
			break;
	}
	if (rc) {
		for (size_t i = 0; i < rs.n; i++)
			etcd_sync_range_free(rs.r[i]);
		return rc;
	}
	return load(x, v, &rs);
}

int ctl_view_load_req(struct ctl *x, struct ctl_view *v, const char *id)
{
	static const char *const dirs[] = {"requests/", "status/"};
	struct ranges rs = {0};
	char q[FS_QUOTE_MAX + 16];
	int rc = 0;

	memset(v, 0, sizeof(*v));
	if (!fs_name_valid(id))
		return ctl_errorf(CTL_EXIT_INPUT,
				  "%s is not a request id "
				  "([a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?)",
				  fs_quote(q, sizeof(q), id, FS_QUOTE_MAX));
	for (size_t i = 0; i < 2 && !rc; i++) {
		char *k = ctl_key(x, "%s%s", dirs[i], id);
		struct etcd_range_req rq = {.key = k, .revision = v->revision};
		struct etcd_sync_range *r = NULL;
		struct etcd_error e;

		if (!k)
			return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
		if (etcd_sync_get(x->etcd, &rq, &r, &e) < 0)
			rc = ctl_etcd_fail(x, "reading the request", k, &e);
		free(k);
		if (rc)
			break;
		if (!v->revision)
			v->revision = r->revision;
		rs.name[rs.n] = dirs[i];
		rs.r[rs.n++] = r;
	}
	if (!rc && rs.r[0]->n_kvs == 0 && rs.r[1]->n_kvs == 0)
		rc = ctl_errorf(CTL_EXIT_INPUT,
				"no request %s (see flintschedctl list)", id);
	if (rc) {
		for (size_t i = 0; i < rs.n; i++)
			etcd_sync_range_free(rs.r[i]);
		return rc;
	}
	return load(x, v, &rs);
}

void ctl_view_clear(struct ctl_view *v)
{
	for (size_t i = 0; i < v->n_hosts; i++) {
		fs_host_clear(&v->hosts[i].rec);
		fs_alloc_clear(&v->hosts[i].alloc);
	}
	free(v->hosts);
	for (size_t i = 0; i < v->n_reqs; i++) {
		struct ctl_vreq *r = &v->reqs[i];

		free(r->id);
		free(r->req);
		if (r->parsed_ok)
			ctrl_request_clear(&r->parsed);
		free(r->st_raw);
		ctrl_status_clear(&r->st);
		free(r->assigned_host);
	}
	free(v->reqs);
	memset(v, 0, sizeof(*v));
}

enum ctl_hoststate ctl_vhost_state(const struct ctl_vhost *h)
{
	if (h->ctl.present)
		return strcmp(h->ctl.state, "drain") == 0 ? CTL_H_DRAINING
							  : CTL_H_CORDONED;
	if (h->rec_present)
		return CTL_H_LIVE;
	if (h->n_assign || (h->alloc_present && h->alloc.used.vms > 0))
		return CTL_H_DISCONNECTED;
	return CTL_H_GONE;
}

const char *ctl_hoststate_name(enum ctl_hoststate s)
{
	static const char *const names[] = {
	    [CTL_H_LIVE] = "live",
	    [CTL_H_DISCONNECTED] = "disconnected",
	    [CTL_H_CORDONED] = "cordoned",
	    [CTL_H_DRAINING] = "draining",
	    [CTL_H_GONE] = "gone",
	};

	return names[s];
}

const char *ctl_vreq_phase(const struct ctl_vreq *r)
{
	if (!r->st_present)
		return "pending";
	return ctrl_phase_name(r->st.phase);
}
