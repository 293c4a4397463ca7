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
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
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
