/*
 * JSON form of the records in model.h: host, alloc, round, bid, labels.
 * Every parser checks types strictly and names the offending field with
 * its dotted path ("capacity.vcpu: must be an integer >= 0").
 */
#include "common/model.h"
#include "common/constraint.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define FMT_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

__attribute__((format(printf, 3, 4))) static int
err_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static json_t *doc_load(const char *json, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;

	if (!json)
		return err_set(err, errlen, "empty document"), NULL;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err_set(err, errlen, "invalid JSON at %d:%d: %s", je.line,
			je.column, je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		err_set(err, errlen, "document: must be an object");
		return NULL;
	}
	return root;
}

/* Integer member `name` of obj (path prefix pre for messages).  Absent:
 * -ENOENT if required, else *out = 0 and 0. */
static int get_int(json_t *obj, const char *pre, const char *name,
		   bool required, int64_t min, int64_t *out, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(obj, name);
	json_int_t i;

	if (!v) {
		if (required)
			return err_set(err, errlen, "%s%s: missing", pre, name);
		*out = 0;
		return 0;
	}
	if (!json_is_integer(v))
		return err_set(err, errlen, "%s%s: must be an integer", pre,
			       name);
	i = json_integer_value(v);
	if (i < min)
		return err_set(err, errlen, "%s%s: must be >= %lld, got %lld",
			       pre, name, (long long)min, (long long)i);
	*out = (int64_t)i;
	return 0;
}

static int get_num(json_t *obj, const char *pre, const char *name,
		   bool required, double min, double max, double *out,
		   char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, name);
	double d;

	if (!v) {
		if (required)
			return err_set(err, errlen, "%s%s: missing", pre, name);
		*out = 0;
		return 0;
	}
	if (!json_is_number(v))
		return err_set(err, errlen, "%s%s: must be a number", pre, name);
	d = json_number_value(v);
	if (!isfinite(d) || d < min || d > max)
		return err_set(err, errlen, "%s%s: must be %g..%g, got %g", pre,
			       name, min, max, d);
	*out = d;
	return 0;
}

/* String member: *out = borrowed pointer or NULL when absent. */
static int get_str(json_t *obj, const char *pre, const char *name,
		   bool required, const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (!v) {
		if (required)
			return err_set(err, errlen, "%s%s: missing", pre, name);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(err, errlen, "%s%s: must be a string", pre, name);
	*out = json_string_value(v);
	return 0;
}

static int dup_str(json_t *obj, const char *pre, const char *name,
		   char **out, char *err, size_t errlen)
{
	const char *s;
	int r = get_str(obj, pre, name, false, &s, err, errlen);

	if (r < 0)
		return r;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* Object member, optional: *out borrowed or NULL. */
static int get_obj(json_t *obj, const char *pre, const char *name,
		   bool required, json_t **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (!v) {
		if (required)
			return err_set(err, errlen, "%s%s: missing", pre, name);
		return 0;
	}
	if (!json_is_object(v))
		return err_set(err, errlen, "%s%s: must be an object", pre,
			       name);
	*out = v;
	return 0;
}

/* {"vcpu","memory_mb",<vms_name>}; all required. */
static int res_parse(json_t *obj, const char *pre, const char *vms_name,
		     struct fs_res *r, char *err, size_t errlen)
{
	int e;

	if ((e = get_int(obj, pre, "vcpu", true, 0, &r->vcpu, err, errlen)) ||
	    (e = get_int(obj, pre, "memory_mb", true, 0, &r->memory_mb, err,
			 errlen)) ||
	    (e = get_int(obj, pre, vms_name, true, 0, &r->vms, err, errlen)))
		return e;
	return 0;
}

static json_t *res_json(const struct fs_res *r, const char *vms_name)
{
	return json_pack("{s:I,s:I,s:I}", "vcpu", (json_int_t)r->vcpu,
			 "memory_mb", (json_int_t)r->memory_mb, vms_name,
			 (json_int_t)r->vms);
}

static char *doc_dump(json_t *root)
{
	char *s;

	if (!root)
		return NULL;
	s = json_dumps(root, FMT_FLAGS);
	json_decref(root);
	return s;
}

/* ---- labels ----------------------------------------------------------- */

void fs_labels_clear(struct fs_labels *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool fs_labels_match(const struct fs_labels *labels,
		     const struct fs_labels *selector, char *miss,
		     size_t misslen)
{
	for (size_t i = 0; selector && i < selector->n; i++) {
		const char *v = fs_labels_get(labels, selector->v[i].key);

		if (!v || strcmp(v, selector->v[i].value) != 0) {
			if (miss && misslen)
				snprintf(miss, misslen, "selector %s=%s",
					 selector->v[i].key,
					 selector->v[i].value);
			return false;
		}
	}
	return true;
}

/* Object of strings into l (zeroed by the caller). */
static int labels_parse(json_t *obj, const char *path, struct fs_labels *l,
			char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	size_t n = json_object_size(obj), i = 0;

	if (n == 0)
		return 0;
	l->v = calloc(n, sizeof(*l->v));
	if (!l->v)
		return -ENOMEM;
	json_object_foreach(obj, k, v) {
		if (!json_is_string(v))
			return err_set(err, errlen, "%s.%s: must be a string",
				       path, k);
		l->v[i].key = strdup(k);
		l->v[i].value = strdup(json_string_value(v));
		l->n = ++i;
		if (!l->v[i - 1].key || !l->v[i - 1].value)
			return -ENOMEM;
	}
	return 0;
}

static json_t *labels_json(const struct fs_labels *l)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < l->n; i++) {
		if (json_object_set_new(o, l->v[i].key,
					json_string(l->v[i].value)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* ---- host ------------------------------------------------------------- */

void fs_host_clear(struct fs_host *h)
{
	if (!h)
		return;
	free(h->endpoint);
	free(h->agent_version);
	fs_labels_clear(&h->labels);
	memset(h, 0, sizeof(*h));
}

int fs_host_parse(const char *json, size_t len, struct fs_host *h, char *err,
		  size_t errlen)
{
	struct fs_host t = {0};
	json_t *root, *o;
	const char *s;
	int e;

	root = doc_load(json, len, err, errlen);
	if (!root)
		return -EINVAL;
	if ((e = get_str(root, "", "host", true, &s, err, errlen)))
		goto fail;
	if (!fs_name_valid(s)) {
		e = err_set(err, errlen, "host: invalid host name \"%.64s\"",
			    s);
		goto fail;
	}
	snprintf(t.host, sizeof(t.host), "%s", s);
	if ((e = dup_str(root, "", "endpoint", &t.endpoint, err, errlen)) ||
	    (e = dup_str(root, "", "agent_version", &t.agent_version, err,
			 errlen)))
		goto fail;
	if ((e = get_obj(root, "", "labels", false, &o, err, errlen)))
		goto fail;
	if (o && (e = labels_parse(o, "labels", &t.labels, err, errlen)))
		goto fail;
	if ((e = get_obj(root, "", "capacity", true, &o, err, errlen)) ||
	    (e = res_parse(o, "capacity.", "max_vms", &t.capacity, err,
			   errlen)))
		goto fail;
	if ((e = get_obj(root, "", "allocatable", true, &o, err, errlen)) ||
	    (e = res_parse(o, "allocatable.", "max_vms", &t.allocatable, err,
			   errlen)))
		goto fail;
	if ((e = get_obj(root, "", "util", false, &o, err, errlen)))
		goto fail;
	if (o && ((e = get_num(o, "util.", "cpu", false, 0, 1, &t.util_cpu,
			       err, errlen)) ||
		  (e = get_num(o, "util.", "memory", false, 0, 1, &t.util_mem,
			       err, errlen))))
		goto fail;
	if ((e = get_int(root, "", "vms", false, 0, &t.vms, err, errlen)) ||
	    (e = get_int(root, "", "lease_ttl_s", false, 0, &t.lease_ttl_s,
			 err, errlen)))
		goto fail;
	if ((e = get_str(root, "", "updated", false, &s, err, errlen)))
		goto fail;
	if (s) {
		if (strlen(s) >= sizeof(t.updated)) {
			e = err_set(err, errlen, "updated: too long");
			goto fail;
		}
		snprintf(t.updated, sizeof(t.updated), "%s", s);
	}
	json_decref(root);
	*h = t;
	return 0;
fail:
	json_decref(root);
	fs_host_clear(&t);
	return e;
}

char *fs_host_format(const struct fs_host *h)
{
	json_t *root, *labels;

	labels = labels_json(&h->labels);
	if (!labels)
		return NULL;
	root = json_pack("{s:s,s:s,s:o,s:o*,s:o*,s:{s:f,s:f},s:I,s:s,s:s}",
			 "host", h->host, "endpoint",
			 h->endpoint ? h->endpoint : "", "labels", labels,
			 "capacity", res_json(&h->capacity, "max_vms"),
			 "allocatable", res_json(&h->allocatable, "max_vms"),
			 "util", "cpu", h->util_cpu, "memory", h->util_mem,
			 "vms", (json_int_t)h->vms, "agent_version",
			 h->agent_version ? h->agent_version : "", "updated",
			 h->updated);
	if (root && h->lease_ttl_s > 0 &&
	    json_object_set_new(root, "lease_ttl_s",
				json_integer((json_int_t)h->lease_ttl_s)) < 0) {
		json_decref(root);
		root = NULL;
	}
	return doc_dump(root);
}

/* ---- alloc ------------------------------------------------------------ */

void fs_alloc_clear(struct fs_alloc *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_groups; i++)
		free(a->groups[i].name);
	free(a->groups);
	memset(a, 0, sizeof(*a));
}

int fs_alloc_parse(const char *json, size_t len, struct fs_alloc *a,
		   char *err, size_t errlen)
{
	struct fs_alloc t = {0};
	json_t *root, *o, *v;
	const char *k;
	int e;

	root = doc_load(json, len, err, errlen);
	if (!root)
		return -EINVAL;
	if ((e = get_int(root, "", "vcpu", false, 0, &t.used.vcpu, err,
			 errlen)) ||
	    (e = get_int(root, "", "memory_mb", false, 0, &t.used.memory_mb,
			 err, errlen)) ||
	    (e = get_int(root, "", "vms", false, 0, &t.used.vms, err,
			 errlen)) ||
	    (e = get_obj(root, "", "groups", false, &o, err, errlen)))
		goto fail;
	if (o && json_object_size(o)) {
		t.groups = calloc(json_object_size(o), sizeof(*t.groups));
		if (!t.groups) {
			e = -ENOMEM;
			goto fail;
		}
		json_object_foreach(o, k, v) {
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				e = err_set(err, errlen,
					    "groups.%s: must be an integer >= 0",
					    k);
				goto fail;
			}
			t.groups[t.n_groups].name = strdup(k);
			if (!t.groups[t.n_groups].name) {
				e = -ENOMEM;
				goto fail;
			}
			t.groups[t.n_groups++].vms =
				(int64_t)json_integer_value(v);
		}
	}
	json_decref(root);
	*a = t;
	return 0;
fail:
	json_decref(root);
	fs_alloc_clear(&t);
	return e;
}

char *fs_alloc_format(const struct fs_alloc *a)
{
	json_t *root, *groups = json_object();

	if (!groups)
		return NULL;
	for (size_t i = 0; i < a->n_groups; i++) {
		if (json_object_set_new(groups, a->groups[i].name,
					json_integer(a->groups[i].vms)) < 0) {
			json_decref(groups);
			return NULL;
		}
	}
	root = json_pack("{s:I,s:I,s:I,s:o}", "vcpu",
			 (json_int_t)a->used.vcpu, "memory_mb",
			 (json_int_t)a->used.memory_mb, "vms",
			 (json_int_t)a->used.vms, "groups", groups);
	return doc_dump(root);
}

static int64_t clamp0(int64_t v)
{
	return v < 0 ? 0 : v;
}

int fs_alloc_add(struct fs_alloc *a, const struct fs_res *need,
		 const char *group, int sign)
{
	size_t i;

	if (group && *group) {
		for (i = 0; i < a->n_groups; i++)
			if (strcmp(a->groups[i].name, group) == 0)
				break;
		if (i == a->n_groups && sign > 0) {
			struct fs_group *g;
			char *name = strdup(group);

			if (!name)
				return -ENOMEM;
			g = realloc(a->groups, (a->n_groups + 1) * sizeof(*g));
			if (!g) {
				free(name);
				return -ENOMEM;
			}
			a->groups = g;
			g[a->n_groups].name = name;
			g[a->n_groups].vms = 0;
			a->n_groups++;
		}
		if (i < a->n_groups) {
			a->groups[i].vms += sign > 0 ? 1 : -1;
			if (a->groups[i].vms <= 0) {
				/* Drop empty groups so the record stays small. */
				free(a->groups[i].name);
				a->groups[i] = a->groups[--a->n_groups];
				if (a->n_groups == 0) {
					free(a->groups);
					a->groups = NULL;
				}
			}
		}
	}
	if (sign > 0) {
		a->used.vcpu += need->vcpu;
		a->used.memory_mb += need->memory_mb;
		a->used.vms += 1;
	} else {
		/* Clamped: a release racing a re-list must not go negative. */
		a->used.vcpu = clamp0(a->used.vcpu - need->vcpu);
		a->used.memory_mb = clamp0(a->used.memory_mb - need->memory_mb);
		a->used.vms = clamp0(a->used.vms - 1);
	}
	return 0;
}

int64_t fs_alloc_group_vms(const struct fs_alloc *a, const char *group)
{
	if (!a || !group)
		return 0;
	for (size_t i = 0; i < a->n_groups; i++)
		if (strcmp(a->groups[i].name, group) == 0)
			return a->groups[i].vms;
	return 0;
}

/* ---- need / round ----------------------------------------------------- */

void fs_need_clear(struct fs_need *n)
{
	if (!n)
		return;
	fs_labels_clear(&n->selector);
	free(n->spread);
	fs_constraints_clear(&n->constraints);
	free(n->group);
	free(n->anti_scope);
	free(n->topo_key);
	memset(n, 0, sizeof(*n));
}

const char *fs_need_group(const struct fs_need *n)
{
	return n->group ? n->group : n->spread;
}

void fs_round_clear(struct fs_round *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_hosts; i++)
		free(r->hosts[i]);
	free(r->hosts);
	fs_need_clear(&r->need);
	free(r->coordinator);
	memset(r, 0, sizeof(*r));
}

int fs_round_parse(const char *json, size_t len, struct fs_round *r,
		   char *err, size_t errlen)
{
	struct fs_round t = {0};
	json_t *root, *o, *hosts;
	int e;

	root = doc_load(json, len, err, errlen);
	if (!root)
		return -EINVAL;
	if ((e = get_int(root, "", "attempt", true, 1, &t.attempt, err,
			 errlen)) ||
	    (e = get_int(root, "", "deadline_ms", false, 0, &t.deadline_ms,
			 err, errlen)) ||
	    (e = get_obj(root, "", "need", true, &o, err, errlen)) ||
	    (e = get_int(o, "need.", "vcpu", true, 1, &t.need.res.vcpu, err,
			 errlen)) ||
	    (e = get_int(o, "need.", "memory_mb", true, 1,
			 &t.need.res.memory_mb, err, errlen)))
		goto fail;
	t.need.res.vms = 1;
	if ((e = get_obj(root, "", "selector", false, &o, err, errlen)))
		goto fail;
	if (o && (e = labels_parse(o, "selector", &t.need.selector, err,
				   errlen)))
		goto fail;
	if ((e = dup_str(root, "", "spread", &t.need.spread, err, errlen)) ||
	    (e = dup_str(root, "", "coordinator", &t.coordinator, err,
			 errlen)))
		goto fail;
	o = json_object_get(root, "constraints");
	if (o && (e = fs_constraints_parse(o, "constraints",
					   &t.need.constraints, err, errlen)))
		goto fail;
	const char *strategy;
	if ((e = get_str(root, "", "strategy", false, &strategy, err, errlen)))
		goto fail;
	if (strategy && strcmp(strategy, "binpack") == 0) {
		t.strategy = FS_BINPACK;
	} else if (strategy && strcmp(strategy, "spread") != 0) {
		e = err_set(err, errlen, "strategy: must be spread or binpack");
		goto fail;
	}
	if ((e = get_obj(root, "", "weights", false, &o, err, errlen)))
		goto fail;
	if (o && ((e = get_num(o, "weights.", "cpu", false, 0, 1000,
			       &t.weights.cpu, err, errlen)) ||
		  (e = get_num(o, "weights.", "memory", false, 0, 1000,
			       &t.weights.memory, err, errlen)) ||
		  (e = get_num(o, "weights.", "vms", false, 0, 1000,
			       &t.weights.vms, err, errlen))))
		goto fail;
	if (t.need.spread && !*t.need.spread) {
		free(t.need.spread);
		t.need.spread = NULL;
	}
	hosts = json_object_get(root, "hosts");
	if (hosts) {
		size_t i;
		json_t *v;

		if (!json_is_array(hosts)) {
			e = err_set(err, errlen, "hosts: must be an array");
			goto fail;
		}
		/* Non-NULL even when empty: [] invites nobody. */
		t.hosts = calloc(json_array_size(hosts) + 1, sizeof(char *));
		if (!t.hosts) {
			e = -ENOMEM;
			goto fail;
		}
		json_array_foreach(hosts, i, v) {
			if (!json_is_string(v) ||
			    !fs_name_valid(json_string_value(v))) {
				e = err_set(err, errlen,
					    "hosts[%zu]: must be a host name",
					    i);
				goto fail;
			}
			t.hosts[i] = strdup(json_string_value(v));
			if (!t.hosts[i]) {
				e = -ENOMEM;
				goto fail;
			}
			t.n_hosts = i + 1;
		}
	}
	json_decref(root);
	*r = t;
	return 0;
fail:
	json_decref(root);
	fs_round_clear(&t);
	return e;
}

char *fs_round_format(const struct fs_round *r)
{
	json_t *root, *sel;

	sel = labels_json(&r->need.selector);
	root = json_pack("{s:I,s:I,s:{s:I,s:I},s:o*}", "attempt",
			 (json_int_t)r->attempt, "deadline_ms",
			 (json_int_t)r->deadline_ms, "need", "vcpu",
			 (json_int_t)r->need.res.vcpu, "memory_mb",
			 (json_int_t)r->need.res.memory_mb, "selector", sel);
	if (!root)
		return NULL;
	if (r->hosts) {
		json_t *a = json_array();

		if (json_object_set_new(root, "hosts", a) < 0)
			goto fail;
		for (size_t i = 0; i < r->n_hosts; i++)
			if (json_array_append_new(a, json_string(r->hosts[i])))
				goto fail;
	}
	if (r->need.spread &&
	    json_object_set_new(root, "spread", json_string(r->need.spread)))
		goto fail;
	if (r->need.constraints.n &&
	    json_object_set_new(root, "constraints",
				fs_constraints_json(&r->need.constraints)))
		goto fail;
	if (r->coordinator && json_object_set_new(root, "coordinator",
						  json_string(r->coordinator)))
		goto fail;
	if (json_object_set_new(root, "strategy",
				json_string(r->strategy == FS_BINPACK
						    ? "binpack"
						    : "spread")))
		goto fail;
	if ((r->weights.cpu > 0 || r->weights.memory > 0 ||
	     r->weights.vms > 0) &&
	    json_object_set_new(root, "weights",
				json_pack("{s:f,s:f,s:f}", "cpu",
					  r->weights.cpu, "memory",
					  r->weights.memory, "vms",
					  r->weights.vms)))
		goto fail;
	return doc_dump(root);
fail:
	json_decref(root);
	return NULL;
}

bool fs_round_invites(const struct fs_round *r, const char *host)
{
	if (!r->hosts)
		return true;
	for (size_t i = 0; i < r->n_hosts; i++)
		if (strcmp(r->hosts[i], host) == 0)
			return true;
	return false;
}

/* ---- bid -------------------------------------------------------------- */

int fs_bid_parse(const char *json, size_t len, struct fs_bid *b, char *err,
		 size_t errlen)
{
	struct fs_bid t = {0};
	json_t *root, *o, *fits;
	const char *s;
	int e;

	root = doc_load(json, len, err, errlen);
	if (!root)
		return -EINVAL;
	if ((e = get_int(root, "", "attempt", true, 1, &t.attempt, err,
			 errlen)))
		goto fail;
	fits = json_object_get(root, "fits");
	if (!json_is_boolean(fits)) {
		e = err_set(err, errlen, "fits: %s",
			    fits ? "must be true or false" : "missing");
		goto fail;
	}
	t.fits = json_is_true(fits);
	if ((e = get_num(root, "", "score", true, -1e12, 1e12, &t.score, err,
			 errlen)) ||
	    (e = get_obj(root, "", "free", false, &o, err, errlen)))
		goto fail;
	if (o && (e = res_parse(o, "free.", "vms", &t.free, err, errlen)))
		goto fail;
	if ((e = get_str(root, "", "reason", false, &s, err, errlen)))
		goto fail;
	if (s)
		snprintf(t.reason, sizeof(t.reason), "%s", s);
	json_decref(root);
	*b = t;
	return 0;
fail:
	json_decref(root);
	return e;
}

char *fs_bid_format(const struct fs_bid *b)
{
	json_t *root;

	root = json_pack("{s:I,s:b,s:f,s:o*,s:s}", "attempt",
			 (json_int_t)b->attempt, "fits", b->fits, "score",
			 b->score, "free", res_json(&b->free, "vms"),
			 "reason", b->reason);
	return doc_dump(root);
}
