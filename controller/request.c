/*
 * Validation of user requests (P/requests/<id>), per docs/DESIGN.md: the
 * MicroVMSpec as flintlockd would check it (common/spec.c), then the
 * scheduler's own `scheduling` object.  Pure; calls nothing in controller/.
 */
#include "controller/ctrl.h"
#include "common/spec.h"
#include "common/constraint.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QMAX FS_QUOTE_MAX

static int parse_selector(const json_t *sel, struct fs_labels *out,
			  char *reason, size_t len)
{
	const char *k;
	json_t *v;
	size_t i = 0;
	char q[QMAX + 16];

	if (!json_is_object(sel))
		return fs_fail(reason, len,
			       "scheduling.selector: must be an object of "
			       "label: value strings, got %s",
			       fs_json_kind(sel));
	if (json_object_size(sel) == 0)
		return 0;
	json_object_foreach((json_t *)sel, k, v)
	{
		if (!json_is_string(v))
			return fs_fail(
			    reason, len,
			    "scheduling.selector.%s: must be a string, "
			    "got %s",
			    fs_key(q, sizeof(q), k), fs_json_kind(v));
	}
	out->v = calloc(json_object_size(sel), sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	json_object_foreach((json_t *)sel, k, v)
	{
		out->v[i].key = strdup(k);
		out->v[i].value = strdup(json_string_value(v));
		out->n = ++i;
		if (!out->v[i - 1].key || !out->v[i - 1].value)
			return -ENOMEM;
	}
	return 0;
}

/* A group name member `name` of object o at path at into *ret. */
static int group_name(const json_t *o, const char *at, const char *name,
		      char **ret, char *reason, size_t len)
{
	const json_t *v = json_object_get(o, name);
	char q[QMAX + 16];

	if (!json_is_string(v))
		return fs_fail(reason, len,
			       "%s.%s: must be a group name string, got %s", at,
			       name, v ? fs_json_kind(v) : "nothing");
	if (!fs_name_valid(json_string_value(v)))
		return fs_fail(reason, len,
			       "%s.%s: %s is not a valid group name (use "
			       "[a-z0-9._-], 1..63 chars)",
			       at, name,
			       fs_quote(q, sizeof(q), json_string_value(v),
					QMAX));
	free(*ret);
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

/* A label key member `name` of o (absent: dflt, may be NULL). */
static int label_key(const json_t *o, const char *at, const char *name,
		     const char *dflt, char **ret, char *reason, size_t len)
{
	const json_t *v = json_object_get(o, name);
	char q[QMAX + 16];

	if (!v && dflt) {
		*ret = strdup(dflt);
		return *ret ? 0 : -ENOMEM;
	}
	if (!json_is_string(v))
		return fs_fail(reason, len,
			       "%s.%s: must be a label key string, got %s", at,
			       name, v ? fs_json_kind(v) : "nothing");
	if (!fs_label_word(json_string_value(v)))
		return fs_fail(reason, len,
			       "%s.%s: %s is not a label key (use "
			       "[A-Za-z0-9._/-], 1..63 chars)",
			       at, name,
			       fs_quote(q, sizeof(q), json_string_value(v),
					QMAX));
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

/* Only the members allowed (a space-separated list) in object o. */
static int members_only(const json_t *o, const char *at, const char *allowed,
			char *reason, size_t len)
{
	char q[QMAX + 16], w[66];
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return fs_fail(reason, len, "%s: must be an object, got %s",
			       at, fs_json_kind(o));
	json_object_foreach((json_t *)o, k, v)
	{
		snprintf(w, sizeof(w), " %s ", k);
		if (strlen(k) > 63 || !strstr(allowed, w))
			return fs_fail(reason, len,
				       "%s.%s: unknown key (allowed:%.*s)", at,
				       fs_key(q, sizeof(q), k),
				       (int)(strlen(allowed) - 1), allowed);
	}
	return 0;
}

/* scheduling.anti_affinity {"group", "scope"} */
static int parse_anti(const json_t *o, struct fs_need *n, char *reason,
		      size_t len)
{
	static const char at[] = "scheduling.anti_affinity";
	int rc;

	if ((rc = members_only(o, at, " group scope ", reason, len)) < 0 ||
	    (rc = group_name(o, at, "group", &n->group, reason, len)) < 0)
		return rc;
	return label_key(o, at, "scope", "host", &n->anti_scope, reason, len);
}

/* scheduling.topology_spread {"group", "key", "max_skew"}: the group
 * must be anti_affinity's, if both are given (one group per request: it
 * picks the coordinator, docs/DESIGN.md "Placement protocol"). */
static int parse_topo(const json_t *o, struct fs_need *n, char *reason,
		      size_t len)
{
	static const char at[] = "scheduling.topology_spread";
	const json_t *v;
	char *g = NULL;
	int rc;

	if ((rc = members_only(o, at, " group key max_skew ", reason, len)) <
		0 ||
	    (rc = group_name(o, at, "group", &g, reason, len)) < 0)
		goto out;
	if (n->group && strcmp(n->group, g) != 0) {
		rc = fs_fail(reason, len,
			     "%s.group: must equal anti_affinity.group %s (a "
			     "request has one group)",
			     at, n->group);
		goto out;
	}
	free(n->group);
	n->group = g;
	g = NULL;
	if ((rc = label_key(o, at, "key", NULL, &n->topo_key, reason, len)) < 0)
		goto out;
	n->max_skew = 1;
	v = json_object_get(o, "max_skew");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > 1000000)) {
		rc = fs_fail(reason, len,
			     "%s.max_skew: must be an integer 1..1000000, "
			     "got %s",
			     at, fs_json_kind(v));
		goto out;
	}
	if (v)
		n->max_skew = (int64_t)json_integer_value(v);
out:
	free(g);
	return rc;
}

/* scheduling.gang {"name", "size"} */
static int parse_gang(const json_t *o, struct ctrl_request *out, char *reason,
		      size_t len)
{
	static const char at[] = "scheduling.gang";
	const json_t *v;
	int rc;

	if ((rc = members_only(o, at, " name size ", reason, len)) < 0 ||
	    (rc = group_name(o, at, "name", &out->gang, reason, len)) < 0)
		return rc;
	v = json_object_get(o, "size");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > CTRL_GANG_MAX)
		return fs_fail(reason, len,
			       "%s.size: must be an integer 1..%d (a gang is "
			       "placed in one etcd txn), got %s",
			       at, CTRL_GANG_MAX,
			       v ? fs_json_kind(v) : "nothing");
	out->gang_size = (int64_t)json_integer_value(v);
	return 0;
}

static int parse_scheduling(const json_t *s, struct ctrl_request *out,
			    char *reason, size_t len)
{
	const char *k;
	json_t *v;
	char q[QMAX + 16];
	int rc;

	if (!json_is_object(s))
		return fs_fail(reason, len,
			       "scheduling: must be an object, got %s",
			       fs_json_kind(s));
	json_object_foreach((json_t *)s, k, v)
	{
		if (strcmp(k, "selector") == 0) {
			rc =
			    parse_selector(v, &out->need.selector, reason, len);
			if (rc < 0)
				return rc;
		} else if (strcmp(k, "spread") == 0) {
			if (!json_is_string(v))
				return fs_fail(
				    reason, len,
				    "scheduling.spread: must be a group "
				    "name string, got %s",
				    fs_json_kind(v));
			if (!fs_name_valid(json_string_value(v)))
				return fs_fail(reason, len,
					       "scheduling.spread: %s is not a "
					       "valid group name (use "
					       "[a-z0-9._-], 1..63 chars)",
					       fs_quote(q, sizeof(q),
							json_string_value(v),
							QMAX));
			out->need.spread = strdup(json_string_value(v));
			if (!out->need.spread)
				return -ENOMEM;
		} else if (strcmp(k, "priority") == 0) {
			if (!json_is_integer(v))
				return fs_fail(
				    reason, len,
				    "scheduling.priority: must be an "
				    "integer, got %s",
				    fs_json_kind(v));
			if (json_integer_value(v) < -1000000 ||
			    json_integer_value(v) > 1000000)
				return fs_fail(
				    reason, len,
				    "scheduling.priority: must be "
				    "-1000000..1000000, got %lld",
				    (long long)json_integer_value(v));
			out->priority = (int64_t)json_integer_value(v);
		} else if (strcmp(k, "preemptible") == 0) {
			if (!json_is_boolean(v))
				return fs_fail(
				    reason, len,
				    "scheduling.preemptible: must be true or "
				    "false, got %s",
				    fs_json_kind(v));
			out->preemptible = json_is_true(v);
		} else if (strcmp(k, "lost_after_s") == 0) {
			if (!json_is_integer(v))
				return fs_fail(
				    reason, len,
				    "scheduling.lost_after_s: must be an "
				    "integer, got %s",
				    fs_json_kind(v));
			if (json_integer_value(v) < 0 ||
			    json_integer_value(v) > 604800)
				return fs_fail(
				    reason, len,
				    "scheduling.lost_after_s: must be "
				    "0..604800 (seconds), got %lld",
				    (long long)json_integer_value(v));
			out->lost_after_s = (int64_t)json_integer_value(v);
		} else if (strcmp(k, "constraints") == 0) {
			rc = fs_constraints_parse(v, "scheduling.constraints",
						  &out->need.constraints,
						  reason, len);
			if (rc < 0)
				return rc;
		} else if (strcmp(k, "gang") == 0) {
			rc = parse_gang(v, out, reason, len);
			if (rc < 0)
				return rc;
		} else if (strcmp(k, "anti_affinity") == 0 ||
			   strcmp(k, "topology_spread") == 0) {
			/* later: one group, checked across both */
		} else {
			return fs_fail(reason, len,
				       "scheduling.%s: unknown key (allowed: "
				       "selector, spread, priority, "
				       "lost_after_s, constraints, "
				       "anti_affinity, topology_spread, "
				       "gang, preemptible)",
				       fs_key(q, sizeof(q), k));
		}
	}
	/* anti_affinity before topology_spread, whatever the order of
	 * the keys, so that a reason about their groups reads the same */
	v = json_object_get(s, "anti_affinity");
	if (v && (rc = parse_anti(v, &out->need, reason, len)) < 0)
		return rc;
	v = json_object_get(s, "topology_spread");
	if (v && (rc = parse_topo(v, &out->need, reason, len)) < 0)
		return rc;
	if (out->gang && out->need.group &&
	    strcmp(out->gang, out->need.group) != 0)
		return fs_fail(reason, len,
			       "scheduling.gang.name: must equal the group of "
			       "anti_affinity / topology_spread %s (one "
			       "coordinator places a gang and a group)",
			       out->need.group);
	if (out->need.group && out->need.spread &&
	    strcmp(out->need.group, out->need.spread) != 0)
		return fs_fail(reason, len,
			       "scheduling.spread: must equal the group of "
			       "anti_affinity / topology_spread %s (a request "
			       "has one group)",
			       out->need.group);
	return 0;
}

/* A JSON value's path ("scheduling.priority", "interfaces[0].x") from
 * the last number that starts before byte pos: jansson reports a number
 * it cannot hold (2^63, 1e400) by position, and a user needs the
 * field.  Scans the text jansson already took as far as pos. */
#define PATH_DEPTH 16
struct path_frame {
	bool obj, want_key;
	const char *key; /* raw, between the quotes */
	size_t key_len, idx;
};

static void path_format(const struct path_frame *st, size_t depth,
			char *out, size_t n)
{
	char raw[64], q[QMAX + 16];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < depth && i < PATH_DEPTH && o < n; i++) {
		if (!st[i].obj) {
			o += (size_t)snprintf(out + o, n - o, "[%zu]",
					      st[i].idx);
			continue;
		}
		snprintf(raw, sizeof(raw), "%.*s",
			 (int)(st[i].key_len < 48 ? st[i].key_len : 48),
			 st[i].key ? st[i].key : "");
		o += (size_t)snprintf(out + o, n - o, "%s%s", o ? "." : "",
				      fs_key(q, sizeof(q), raw));
	}
	if (!out[0])
		snprintf(out, n, "request");
}

static void path_at(const char *json, size_t len, size_t pos, char *out,
		    size_t n)
{
	struct path_frame st[PATH_DEPTH] = {0};
	size_t depth = 0, i;
	struct path_frame *f;

	snprintf(out, n, "request");
	for (i = 0; i < len && i < pos; i++) {
		char ch = json[i];

		f = depth && depth <= PATH_DEPTH ? &st[depth - 1] : NULL;
		if (ch == '"') {
			size_t j = i + 1;

			while (j < len && json[j] != '"')
				j += json[j] == '\\' ? 2 : 1;
			if (f && f->obj && f->want_key) {
				f->key = json + i + 1;
				f->key_len = (j < len ? j : len) - i - 1;
				f->want_key = false;
			}
			i = j;
		} else if (ch == '{' || ch == '[') {
			if (depth < PATH_DEPTH)
				st[depth] = (struct path_frame){
				    .obj = ch == '{', .want_key = ch == '{'};
			depth++;
		} else if (ch == '}' || ch == ']') {
			if (depth)
				depth--;
		} else if (ch == ',' && f) {
			f->idx++;
			f->want_key = f->obj;
		} else if (ch == '-' || (ch >= '0' && ch <= '9')) {
			path_format(st, depth, out, n);
			while (i + 1 < len && i + 1 < pos &&
			       strchr("+-.eE0123456789", json[i + 1]))
				i++;
		}
	}
}

/* jansson's own words for a number out of range start its error text;
 * the same words inside a string of the input (quoted after "near") are
 * a plain syntax error. */
static bool number_too_big(const char *text)
{
	return strncmp(text, "too big integer", 15) == 0 ||
	       strncmp(text, "too big negative integer", 24) == 0 ||
	       strncmp(text, "real number overflow", 20) == 0;
}

int ctrl_request_parse(const char *id, const char *json, size_t len,
		       struct ctrl_request *out, char *reason, size_t reasonlen)
{
	struct ctrl_request r = {.lost_after_s = -1, .preemptible = true};
	json_error_t jerr;
	json_t *root = NULL, *v;
	char q[2 * QMAX + 16];
	int rc;

	if (!id || !fs_name_valid(id))
		return fs_fail(
		    reason, reasonlen,
		    "id: %s is not a valid request id; rename the key "
		    "to match [a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])",
		    fs_quote(q, sizeof(q), id ? id : "", QMAX));
	if (len > CTRL_REQUEST_MAX)
		return fs_fail(reason, reasonlen,
			       "request: %zu bytes is over the %d byte limit; "
			       "keep large data out of the spec",
			       len, CTRL_REQUEST_MAX);
	if (!json)
		return fs_fail(reason, reasonlen, "request: no value");
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root && number_too_big(jerr.text)) {
		char t[2 * QMAX + 16];

		path_at(json, len, (size_t)jerr.position, q, sizeof(q));
		return fs_fail(reason, reasonlen,
			       "%s: number too large (%s); use an integer in "
			       "the field's range",
			       q, fs_quote(t, sizeof(t), jerr.text, QMAX * 2));
	}
	if (!root)
		return fs_fail(reason, reasonlen, /* jansson quotes the input */
			       "request: invalid JSON at line %d column %d: %s",
			       jerr.line, jerr.column,
			       fs_quote(q, sizeof(q), jerr.text, QMAX * 2));
	if (!json_is_object(root)) {
		rc = fs_fail(reason, reasonlen,
			     "request: must be a JSON object (a MicroVMSpec), "
			     "got %s",
			     fs_json_kind(root));
		goto fail;
	}
	rc = fs_spec_check(root, id, &r.need.res, reason, reasonlen);
	if (rc < 0)
		goto fail;
	v = json_object_get(root, "scheduling");
	if (v) {
		rc = parse_scheduling(v, &r, reason, reasonlen);
		if (rc < 0)
			goto fail;
	}
	json_decref(root);
	*out = r;
	return 0;
fail:
	if (rc == -ENOMEM)
		fs_fail(reason, reasonlen, "out of memory");
	fs_need_clear(&r.need);
	free(r.gang);
	json_decref(root);
	return rc;
}

int ctrl_request_of_asg(const char *id, const char *val, size_t len,
			struct ctrl_request *out, int64_t *ret_rrev,
			int64_t *ret_attempt)
{
	json_t *root = json_loadb(val, len, 0, NULL), *rq, *n;
	char reason[256], *s;
	int rc = -EINVAL;

	rq = root ? json_object_get(root, "request") : NULL;
	if (!json_is_object(rq))
		goto out;
	s = json_dumps(rq, JSON_COMPACT);
	if (!s) {
		rc = -ENOMEM;
		goto out;
	}
	rc = ctrl_request_parse(id, s, strlen(s), out, reason, sizeof(reason));
	free(s);
	if (rc == 0) {
		n = json_object_get(root, "request_rev");
		if (ret_rrev)
			*ret_rrev =
			    json_is_integer(n) ? json_integer_value(n) : 0;
		n = json_object_get(root, "attempt");
		if (ret_attempt)
			*ret_attempt =
			    json_is_integer(n) ? json_integer_value(n) : 0;
	}
out:
	json_decref(root);
	return rc;
}

void ctrl_request_clear(struct ctrl_request *r)
{
	if (!r)
		return;
	fs_need_clear(&r->need);
	free(r->gang);
	memset(r, 0, sizeof(*r));
}

/* The group a slot is computed from, borrowed from root. */
static const char *slot_group(const json_t *root, bool nested)
{
	const json_t *sch, *g;

	if (nested)
		root = json_object_get(root, "request");
	sch = json_object_get(root, "scheduling");
	g = json_object_get(json_object_get(sch, "gang"), "name");
	if (!json_is_string(g))
		g = json_object_get(json_object_get(sch, "anti_affinity"),
				    "group");
	if (!json_is_string(g))
		g = json_object_get(json_object_get(sch, "topology_spread"),
				    "group");
	return json_is_string(g) && fs_name_valid(json_string_value(g))
		   ? json_string_value(g)
		   : NULL;
}

unsigned ctrl_request_slot(const char *id, const char *json, size_t len,
			   bool nested, unsigned k)
{
	const char *g;
	json_t *root;
	unsigned slot;

	if (!json || k <= 1 ||
	    (!memmem(json, len, "\"anti_affinity\"", 15) &&
	     !memmem(json, len, "\"topology_spread\"", 17) &&
	     !memmem(json, len, "\"gang\"", 6)))
		return fs_slot_of(id, k);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	g = slot_group(root, nested);
	slot = fs_slot_of(g ? g : id, k);
	json_decref(root);
	return slot;
}
