/*
 * Label expressions of scheduling.constraints (constraint.h, model.h):
 * parse, format, match.  Kube's node affinity semantics: NotIn and
 * DoesNotExist hold on a host without the label; Gt and Lt need the
 * label to be an integer.
 */
#include "common/constraint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/spec.h"

static const char *const op_names[] = {
    [FS_OP_IN] = "In",
    [FS_OP_NOTIN] = "NotIn",
    [FS_OP_EXISTS] = "Exists",
    [FS_OP_DOESNOTEXIST] = "DoesNotExist",
    [FS_OP_GT] = "Gt",
    [FS_OP_LT] = "Lt",
};
#define N_OPS (sizeof(op_names) / sizeof(op_names[0]))

const char *fs_op_name(enum fs_op op)
{
	return (size_t)op < N_OPS ? op_names[op] : "?";
}

int fs_op_parse(const char *s, enum fs_op *ret)
{
	for (size_t i = 0; i < N_OPS; i++) {
		if (strcmp(s, op_names[i]) == 0) {
			*ret = (enum fs_op)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *fs_labels_get(const struct fs_labels *l, const char *key)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return l->v[i].value;
	return NULL;
}

/* A label value as a decimal integer (optional sign, at most 18 digits,
 * so it fits). */
static bool label_int(const char *s, int64_t *ret)
{
	int64_t v = 0;
	bool neg = *s == '-';
	size_t n = 0;

	if (*s == '-' || *s == '+')
		s++;
	for (; *s; s++, n++) {
		if (*s < '0' || *s > '9' || n >= 18)
			return false;
		v = v * 10 + (*s - '0');
	}
	if (!n)
		return false;
	*ret = neg ? -v : v;
	return true;
}

static bool one_holds(const struct fs_constraint *c, const char *v)
{
	int64_t n;
	bool in = false;

	switch (c->op) {
	case FS_OP_EXISTS:
		return v != NULL;
	case FS_OP_DOESNOTEXIST:
		return v == NULL;
	case FS_OP_GT:
		return v && label_int(v, &n) && n > c->num;
	case FS_OP_LT:
		return v && label_int(v, &n) && n < c->num;
	case FS_OP_IN:
	case FS_OP_NOTIN:
		for (size_t i = 0; v && i < c->n_values; i++)
			if (strcmp(v, c->values[i]) == 0)
				in = true;
		return c->op == FS_OP_IN ? in : !in;
	}
	return false;
}

bool fs_constraints_match(const struct fs_labels *labels,
			  const struct fs_constraints *cs, char *miss,
			  size_t misslen)
{
	for (size_t i = 0; cs && i < cs->n; i++) {
		const struct fs_constraint *c = &cs->v[i];
		size_t o;

		if (one_holds(c, fs_labels_get(labels, c->key)))
			continue;
		if (miss && misslen) {
			o = (size_t)snprintf(miss, misslen, "constraint %s %s",
					     c->key, fs_op_name(c->op));
			for (size_t j = 0; j < c->n_values && o < misslen; j++)
				o += (size_t)snprintf(miss + o, misslen - o,
						      "%s%s", j ? "," : " ",
						      c->values[j]);
		}
		return false;
	}
	return true;
}

void fs_constraints_clear(struct fs_constraints *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n; i++) {
		free(cs->v[i].key);
		for (size_t j = 0; j < cs->v[i].n_values; j++)
			free(cs->v[i].values[j]);
		free(cs->v[i].values);
	}
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}

/* [A-Za-z0-9._/-]{1,63}: label keys and values as kube spells them;
 * nothing in them needs escaping in a reason. */
bool fs_label_word(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > FS_LABEL_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._/-", *s)))
			return false;
	return true;
}

static int parse_values(const json_t *vals, const char *at,
			struct fs_constraint *c, char *reason, size_t len)
{
	char q[FS_QUOTE_MAX + 16];
	size_t i;
	json_t *v;

	if (!vals)
		return 0;
	if (!json_is_array(vals))
		return fs_fail(reason, len,
			       "%s.values: must be an array of strings, got %s",
			       at, fs_json_kind(vals));
	if (json_array_size(vals) > FS_CONSTRAINTS_MAX)
		return fs_fail(reason, len, "%s.values: at most %d values",
			       at, FS_CONSTRAINTS_MAX);
	c->values = calloc(json_array_size(vals) + 1, sizeof(*c->values));
	if (!c->values)
		return -ENOMEM;
	json_array_foreach((json_t *)vals, i, v)
	{
		if (!json_is_string(v))
			return fs_fail(reason, len,
				       "%s.values[%zu]: must be a string, got "
				       "%s",
				       at, i, fs_json_kind(v));
		if (!fs_label_word(json_string_value(v)))
			return fs_fail(reason, len,
				       "%s.values[%zu]: %s is not a label "
				       "value (use [A-Za-z0-9._/-], 1..63 "
				       "chars)",
				       at, i,
				       fs_quote(q, sizeof(q),
						json_string_value(v),
						FS_QUOTE_MAX));
		c->values[i] = strdup(json_string_value(v));
		if (!c->values[i])
			return -ENOMEM;
		c->n_values = i + 1;
	}
	return 0;
}

static int parse_one(const json_t *o, const char *at, struct fs_constraint *c,
		     char *reason, size_t len)
{
	char q[FS_QUOTE_MAX + 16];
	const json_t *key, *op;
	const char *k;
	json_t *v;
	int rc;

	if (!json_is_object(o))
		return fs_fail(reason, len,
			       "%s: must be an object {\"key\", \"op\", "
			       "\"values\"}, got %s",
			       at, fs_json_kind(o));
	json_object_foreach((json_t *)o, k, v)
	{
		if (strcmp(k, "key") && strcmp(k, "op") && strcmp(k, "values"))
			return fs_fail(reason, len,
				       "%s.%s: unknown key (allowed: key, op, "
				       "values)",
				       at, fs_key(q, sizeof(q), k));
	}
	key = json_object_get(o, "key");
	op = json_object_get(o, "op");
	if (!json_is_string(key))
		return fs_fail(reason, len, "%s.key: must be a label key "
			       "string, got %s",
			       at, key ? fs_json_kind(key) : "nothing");
	if (!fs_label_word(json_string_value(key)))
		return fs_fail(reason, len,
			       "%s.key: %s is not a label key (use "
			       "[A-Za-z0-9._/-], 1..63 chars)",
			       at,
			       fs_quote(q, sizeof(q), json_string_value(key),
					FS_QUOTE_MAX));
	if (!json_is_string(op) || fs_op_parse(json_string_value(op), &c->op))
		return fs_fail(reason, len,
			       "%s.op: must be In, NotIn, Exists, "
			       "DoesNotExist, Gt or Lt, got %s",
			       at,
			       json_is_string(op)
				   ? fs_quote(q, sizeof(q),
					      json_string_value(op),
					      FS_QUOTE_MAX)
				   : op ? fs_json_kind(op) : "nothing");
	c->key = strdup(json_string_value(key));
	if (!c->key)
		return -ENOMEM;
	rc = parse_values(json_object_get(o, "values"), at, c, reason, len);
	if (rc < 0)
		return rc;
	switch (c->op) {
	case FS_OP_IN:
	case FS_OP_NOTIN:
		if (!c->n_values)
			return fs_fail(reason, len,
				       "%s.values: %s needs at least one "
				       "value",
				       at, fs_op_name(c->op));
		break;
	case FS_OP_EXISTS:
	case FS_OP_DOESNOTEXIST:
		if (c->n_values)
			return fs_fail(reason, len,
				       "%s.values: %s takes no values",
				       at, fs_op_name(c->op));
		break;
	case FS_OP_GT:
	case FS_OP_LT:
		if (c->n_values != 1 || !label_int(c->values[0], &c->num))
			return fs_fail(reason, len,
				       "%s.values: %s takes one integer "
				       "(as a string, e.g. [\"4\"])",
				       at, fs_op_name(c->op));
		break;
	}
	return 0;
}

int fs_constraints_parse(const json_t *arr, const char *path,
			 struct fs_constraints *out, char *reason, size_t len)
{
	char at[96];
	size_t i;
	json_t *v;
	int rc;

	if (!json_is_array(arr))
		return fs_fail(reason, len,
			       "%s: must be an array of {\"key\", \"op\", "
			       "\"values\"}, got %s",
			       path, fs_json_kind(arr));
	if (json_array_size(arr) > FS_CONSTRAINTS_MAX)
		return fs_fail(reason, len, "%s: at most %d constraints", path,
			       FS_CONSTRAINTS_MAX);
	if (!json_array_size(arr))
		return 0;
	out->v = calloc(json_array_size(arr), sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	json_array_foreach((json_t *)arr, i, v)
	{
		snprintf(at, sizeof(at), "%s[%zu]", path, i);
		out->n = i + 1;
		rc = parse_one(v, at, &out->v[i], reason, len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

json_t *fs_constraints_json(const struct fs_constraints *cs)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < cs->n; i++) {
		const struct fs_constraint *c = &cs->v[i];
		json_t *vals = json_array(), *o;

		for (size_t j = 0; vals && j < c->n_values; j++)
			if (json_array_append_new(vals,
						  json_string(c->values[j])))
				vals = (json_decref(vals), NULL);
		o = vals ? json_pack("{s:s,s:s,s:o}", "key", c->key, "op",
				     fs_op_name(c->op), "values", vals)
			 : NULL;
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}
