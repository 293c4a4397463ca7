/* Validation of user requests (P/requests/<id>), per docs/DESIGN.md.
 * Pure; calls nothing in controller/. */
#include "controller/ctrl.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sanity bounds: a typo (memoryInMb in bytes) is rejected, not queued. */
#define REQ_VCPU_MAX 4096
#define REQ_MEMORY_MAX (64LL * 1024 * 1024) /* 64 TiB in MiB */

static int fail(char *reason, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *reason, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (reason && len) {
		va_start(ap, fmt);
		vsnprintf(reason, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

static int get_positive(const json_t *root, const char *name, int64_t max,
			int64_t *ret, char *reason, size_t len)
{
	json_t *v = json_object_get(root, name);
	json_int_t n;

	if (!v)
		return fail(reason, len,
			    "%s: required positive integer is missing; add "
			    "\"%s\": N",
			    name, name);
	if (!json_is_integer(v))
		return fail(reason, len,
			    "%s: must be a positive integer, got %s", name,
			    json_kind(v));
	n = json_integer_value(v);
	if (n <= 0)
		return fail(reason, len,
			    "%s: must be a positive integer, got %lld", name,
			    (long long)n);
	if (n > max)
		return fail(reason, len, "%s: %lld is above the limit %lld",
			    name, (long long)n, (long long)max);
	*ret = (int64_t)n;
	return 0;
}

static int parse_selector(const json_t *sel, struct fs_labels *out,
			  char *reason, size_t len)
{
	const char *k;
	json_t *v;
	size_t i = 0;

	if (!json_is_object(sel))
		return fail(reason, len,
			    "scheduling.selector: must be an object of "
			    "label: value strings, got %s",
			    json_kind(sel));
	if (json_object_size(sel) == 0)
		return 0;
	json_object_foreach ((json_t *)sel, k, v) {
		if (!json_is_string(v))
			return fail(reason, len,
				    "scheduling.selector.%s: must be a string, "
				    "got %s",
				    k, json_kind(v));
	}
	out->v = calloc(json_object_size(sel), sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	json_object_foreach ((json_t *)sel, k, v) {
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
	int rc;

	if (!json_is_object(s))
		return fail(reason, len,
			    "scheduling: must be an object, got %s",
			    json_kind(s));
	json_object_foreach ((json_t *)s, k, v) {
		if (strcmp(k, "selector") == 0) {
			rc = parse_selector(v, &out->need.selector, reason,
					    len);
			if (rc < 0)
				return rc;
		} else if (strcmp(k, "spread") == 0) {
			if (!json_is_string(v))
				return fail(reason, len,
					    "scheduling.spread: must be a group "
					    "name string, got %s",
					    json_kind(v));
			if (!fs_name_valid(json_string_value(v)))
				return fail(reason, len,
					    "scheduling.spread: \"%.64s\" is not "
					    "a valid group name (use "
					    "[a-z0-9._-], 1..63 chars)",
					    json_string_value(v));
			out->need.spread = strdup(json_string_value(v));
			if (!out->need.spread)
				return -ENOMEM;
		} else if (strcmp(k, "priority") == 0) {
			if (!json_is_integer(v))
				return fail(reason, len,
					    "scheduling.priority: must be an "
					    "integer, got %s",
					    json_kind(v));
			if (json_integer_value(v) < -1000000 ||
			    json_integer_value(v) > 1000000)
				return fail(reason, len,
					    "scheduling.priority: must be "
					    "-1000000..1000000, got %lld",
					    (long long)json_integer_value(v));
			out->priority = (int64_t)json_integer_value(v);
		} else {
			return fail(reason, len,
				    "scheduling.%.64s: unknown key (allowed: "
				    "selector, spread, priority)",
				    k);
		}
	}
	return 0;
}

int ctrl_request_parse(const char *id, const char *json, size_t len,
		       struct ctrl_request *out, char *reason, size_t reasonlen)
{
	struct ctrl_request r = {0};
	json_error_t jerr;
	json_t *root = NULL, *v;
	int rc;

	if (!id || !fs_name_valid(id))
		return fail(reason, reasonlen,
			    "id: \"%.64s\" is not a valid request id; rename "
			    "the key to match [a-z0-9]([a-z0-9._-]{0,61}"
			    "[a-z0-9])",
			    id ? id : "");
	if (len > CTRL_REQUEST_MAX)
		return fail(reason, reasonlen,
			    "request: %zu bytes is over the %d byte limit; "
			    "keep large data out of the spec",
			    len, CTRL_REQUEST_MAX);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(reason, reasonlen,
			    "request: invalid JSON at line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		rc = fail(reason, reasonlen,
			  "request: must be a JSON object (a MicroVMSpec), "
			  "got %s",
			  json_kind(root));
		goto fail;
	}
	rc = get_positive(root, "vcpu", REQ_VCPU_MAX, &r.need.res.vcpu,
			  reason, reasonlen);
	if (rc < 0)
		goto fail;
	rc = get_positive(root, "memoryInMb", REQ_MEMORY_MAX,
			  &r.need.res.memory_mb, reason, reasonlen);
	if (rc < 0)
		goto fail;
	r.need.res.vms = 1;
	v = json_object_get(root, "id");
	if (v && !json_is_string(v)) {
		rc = fail(reason, reasonlen, "id: must be a string, got %s",
			  json_kind(v));
		goto fail;
	}
	if (v && strcmp(json_string_value(v), id) != 0) {
		rc = fail(reason, reasonlen,
			  "id: \"%.64s\" does not match the key's id \"%s\"; "
			  "make them equal or drop the field",
			  json_string_value(v), id);
		goto fail;
	}
	v = json_object_get(root, "namespace");
	if (v && !json_is_string(v)) {
		rc = fail(reason, reasonlen,
			  "namespace: must be a string, got %s", json_kind(v));
		goto fail;
	}
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
		fail(reason, reasonlen, "out of memory");
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
