/*
 * Validation of user requests (P/requests/<id>), per docs/DESIGN.md: the
 * MicroVMSpec as flintlockd would check it (common/spec.c), then the
 * scheduler's own `scheduling` object.  Pure; calls nothing in controller/.
 */
#include "controller/ctrl.h"
#include "common/spec.h"

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
		} else {
			return fs_fail(reason, len,
				       "scheduling.%s: unknown key (allowed: "
				       "selector, spread, priority, "
				       "lost_after_s)",
				       fs_key(q, sizeof(q), k));
		}
	}
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
	struct ctrl_request r = {.lost_after_s = -1};
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
	json_decref(root);
	return rc;
}

void ctrl_request_clear(struct ctrl_request *r)
{
	if (!r)
		return;
	fs_need_clear(&r->need);
	memset(r, 0, sizeof(*r));
}
