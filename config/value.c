/* Typed values: YAML nodes checked against a key and stored in a struct. */
#include "config/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What a value error names: the key path and, for files, the position. */
struct where {
	const struct cfg_origin *o;
	const char *path;
	struct cfg_error *err;
};

static int value_error(const struct where *w, const struct cfg_node *n,
		       const char *fmt, ...) CFG_FORMAT_(3, 4);

static int value_error(const struct where *w, const struct cfg_node *n,
		       const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (w->o->positions && n && n->line > 0)
		cfg_error_set(w->err, w->o->name, n->line, n->col, w->path,
			      "%s", what);
	else
		cfg_error_set(w->err, w->o->name, 0, 0, w->path, "%s", what);
	return -EINVAL;
}

static int value_nomem(const struct where *w)
{
	cfg_error_set(w->err, w->o->name, 0, 0, w->path, "out of memory");
	return -ENOMEM;
}

/* Decimal integer, optional sign, nothing else.  -ERANGE on overflow. */
static int parse_int(const char *s, int64_t *ret)
{
	const char *p = s;
	char *end;
	long long v;

	if (*p == '+' || *p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	*ret = (int64_t)v;
	return 0;
}

/* Decimal number (no hex, inf or nan), as YAML and JSON write them. */
static int parse_double(const char *s, double *ret)
{
	const char *p;
	char *end;
	bool digit = false;
	double v;

	for (p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = true;
		else if (!strchr("+-.eE", *p))
			return -EINVAL;
	}
	if (!digit)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end || end == s)
		return -EINVAL;
	if (errno == ERANGE && isinf(v))
		return -ERANGE;
	if (!isfinite(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

void cfg_node_describe(const struct cfg_node *n, char *buf, size_t size)
{
	size_t i, o = 0, max = 40;
	int64_t iv;
	double dv;
	bool bv;

	if (n->kind == CFG_NODE_SEQ) {
		snprintf(buf, size, "sequence");
		return;
	}
	if (n->kind == CFG_NODE_MAP) {
		snprintf(buf, size, "mapping");
		return;
	}
	if (cfg_node_is_null(n)) {
		snprintf(buf, size, "null");
		return;
	}
	if (n->plain && strlen(n->text) == n->len &&
	    (parse_int(n->text, &iv) != -EINVAL ||
	     parse_double(n->text, &dv) != -EINVAL ||
	     parse_bool(n->text, &bv) == 0) &&
	    n->len <= max) {
		snprintf(buf, size, "%s", n->text);
		return;
	}
	/* string "text", escaped and cut so that the message stays a line. */
	if (size < 16) {
		snprintf(buf, size, "string");
		return;
	}
	o = (size_t)snprintf(buf, size, "string \"");
	for (i = 0; i < n->len && o + 8 < size; i++) {
		unsigned char c = (unsigned char)n->text[i];

		if (i == max) {
			o += (size_t)snprintf(buf + o, size - o, "...");
			break;
		}
		if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
		else if (c < 0x20 || c == 0x7F)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02X", c);
		else
			buf[o++] = (char)c;
	}
	snprintf(buf + o, size - o, "\"");
}

void cfg_range_format(const struct cfg_key *k, char *buf, size_t size)
{
	if (k->type == CFG_DOUBLE)
		snprintf(buf, size, "%g..%g", k->dmin, k->dmax);
	else if (k->imax == INT64_MAX)
		snprintf(buf, size, ">= %" PRId64, k->imin);
	else
		snprintf(buf, size, "%" PRId64 "..%" PRId64, k->imin, k->imax);
}

static int value_scalar(const struct where *w, const struct cfg_node *n,
			const char *expected)
{
	char got[128];

	if (n->kind != CFG_NODE_SCALAR || cfg_node_is_null(n)) {
		cfg_node_describe(n, got, sizeof(got));
		return value_error(w, n, "expected %s, got %s", expected, got);
	}
	if (strlen(n->text) != n->len)
		return value_error(w, n, "contains a NUL character");
	return 0;
}

static int value_number(const struct cfg_key *k, const struct where *w,
			const struct cfg_node *n, union cfg_value *ret)
{
	const char *expected = k->type == CFG_INT_AUTO ? "integer or auto"
			       : k->type == CFG_INT    ? "integer"
						       : "number";
	char got[128], range[96];
	int rc;

	rc = value_scalar(w, n, expected);
	if (rc < 0)
		return rc;
	cfg_range_format(k, range, sizeof(range));
	if (k->type == CFG_INT_AUTO && n->plain && !strcmp(n->text, "auto")) {
		ret->i = CFG_AUTO;
		return 0;
	}
	if (k->type == CFG_DOUBLE) {
		rc = n->plain ? parse_double(n->text, &ret->d) : -EINVAL;
		if (rc == 0 && ret->d >= k->dmin && ret->d <= k->dmax)
			return 0;
	} else {
		rc = n->plain ? parse_int(n->text, &ret->i) : -EINVAL;
		if (rc == 0 && ret->i >= k->imin && ret->i <= k->imax)
			return 0;
	}
	if (rc == -EINVAL) {
		cfg_node_describe(n, got, sizeof(got));
		return value_error(w, n, "expected %s, got %s", expected, got);
	}
	return value_error(w, n, "must be %s%s, got %.60s", range,
			   k->type == CFG_INT_AUTO ? " or auto" : "", n->text);
}

static int value_enum(const struct cfg_key *k, const struct where *w,
		      const struct cfg_node *n, union cfg_value *ret)
{
	char choices[256], got[128];
	size_t i, o = 0;
	int rc;

	rc = value_scalar(w, n, "one of the choices");
	for (i = 0; rc == 0 && k->choices[i]; i++) {
		if (!strcmp(k->choices[i], n->text)) {
			ret->e = (int)i;
			return 0;
		}
	}
	choices[0] = '\0';
	for (i = 0; k->choices[i] && o < sizeof(choices); i++)
		o += (size_t)snprintf(choices + o, sizeof(choices) - o, "%s%s",
				      i ? "|" : "", k->choices[i]);
	cfg_node_describe(n, got, sizeof(got));
	/* An enum value is text, so "got verbose" reads as got "verbose". */
	if (n->kind == CFG_NODE_SCALAR && !strncmp(got, "string ", 7))
		return value_error(w, n, "must be one of %s, got %s", choices,
				   got + 7);
	return value_error(w, n, "must be one of %s, got %s", choices, got);
}

static int value_string(const struct where *w, const struct cfg_node *n,
			char **ret)
{
	int rc;

	rc = value_scalar(w, n, "string");
	if (rc < 0)
		return rc;
	*ret = cfg_strndup(n->text, n->len);
	if (!*ret)
		return value_nomem(w);
	return 0;
}

static void strlist_free(struct cfg_strlist *l)
{
	size_t i;

	for (i = 0; l->v && i < l->n; i++)
		cfg_dealloc(l->v[i]);
	cfg_dealloc(l->v);
	l->v = NULL;
	l->n = 0;
}

static void strmap_free(struct cfg_strmap *m)
{
	size_t i;

	for (i = 0; m->v && i < m->n; i++) {
		cfg_dealloc(m->v[i].key);
		cfg_dealloc(m->v[i].value);
	}
	cfg_dealloc(m->v);
	m->v = NULL;
	m->n = 0;
}

static int value_list(const struct where *w, const struct cfg_node *n,
		      struct cfg_strlist *ret)
{
	struct cfg_strlist l = {0};
	struct where item = *w;
	char path[CFG_MAX_PATH + 32], got[128];
	size_t i;
	int rc;

	if (n->kind != CFG_NODE_SEQ) {
		cfg_node_describe(n, got, sizeof(got));
		return value_error(w, n, "expected sequence, got %s", got);
	}
	l.v = cfg_alloc_array(n->n_kids, sizeof(*l.v));
	if (!l.v)
		return value_nomem(w);
	item.path = path;
	for (i = 0; i < n->n_kids; i++) {
		snprintf(path, sizeof(path), "%s[%zu]", w->path, i);
		rc = value_string(&item, n->kids[i], &l.v[l.n]);
		if (rc < 0)
			goto fail;
		l.n++;
	}
	*ret = l;
	return 0;
fail:
	strlist_free(&l);
	return rc;
}

static int value_map(const struct where *w, const struct cfg_node *n,
		     struct cfg_strmap *ret)
{
	struct cfg_strmap m = {0};
	struct where item = *w;
	const struct cfg_node *key, *val;
	char path[CFG_MAX_PATH + 80], got[128];
	size_t i, j;
	int rc;

	if (n->kind != CFG_NODE_MAP) {
		cfg_node_describe(n, got, sizeof(got));
		return value_error(w, n, "expected mapping, got %s", got);
	}
	m.v = cfg_alloc_array(n->n_kids / 2, sizeof(*m.v));
	if (!m.v)
		return value_nomem(w);
	item.path = path;
	for (i = 0; i + 1 < n->n_kids; i += 2) {
		key = n->kids[i];
		val = n->kids[i + 1];
		snprintf(path, sizeof(path), "%s", w->path);
		rc = value_scalar(&item, key, "string as key");
		if (rc == 0 && key->len == 0)
			rc = value_error(&item, key, "empty key");
		if (rc < 0)
			goto fail;
		snprintf(path, sizeof(path), "%s.%.64s", w->path, key->text);
		for (j = 0; j < m.n; j++) {
			if (!strcmp(m.v[j].key, key->text)) {
				rc = value_error(&item, key,
						 "duplicate key (first at "
						 "line %d)",
						 n->kids[2 * j]->line);
				goto fail;
			}
		}
		m.v[m.n].key = cfg_strndup(key->text, key->len);
		if (!m.v[m.n].key) {
			rc = value_nomem(w);
			goto fail;
		}
		rc = value_string(&item, val, &m.v[m.n].value);
		m.n++;
		if (rc < 0)
			goto fail;
	}
	*ret = m;
	return 0;
fail:
	strmap_free(&m);
	return rc;
}

int cfg_value_parse(const struct cfg_key *k, const struct cfg_node *n,
		    const struct cfg_origin *o, const char *path,
		    union cfg_value *ret, struct cfg_error *err)
{
	const struct where w = {.o = o, .path = path, .err = err};
	union cfg_value v;
	char got[128];
	int rc;

	memset(&v, 0, sizeof(v));
	switch (k->type) {
	case CFG_BOOL:
		rc = value_scalar(&w, n, "true or false");
		if (rc == 0 && (!n->plain || parse_bool(n->text, &v.b) < 0)) {
			cfg_node_describe(n, got, sizeof(got));
			rc = value_error(&w, n,
					 "expected true or false, got %s", got);
		}
		break;
	case CFG_INT:
	case CFG_INT_AUTO:
	case CFG_DOUBLE:
		rc = value_number(k, &w, n, &v);
		break;
	case CFG_STRING:
		rc = value_string(&w, n, &v.s);
		break;
	case CFG_ENUM:
		rc = value_enum(k, &w, n, &v);
		break;
	case CFG_STRLIST:
		rc = value_list(&w, n, &v.l);
		break;
	case CFG_STRMAP:
		rc = value_map(&w, n, &v.m);
		break;
	default:
		rc = value_error(&w, n, "unknown key type %d", (int)k->type);
		break;
	}
	if (rc < 0)
		return rc;
	*ret = v;
	return 0;
}

int cfg_value_zero(const struct cfg_key *k, union cfg_value *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (k->type == CFG_STRING) {
		ret->s = cfg_strdup("");
		if (!ret->s)
			return -ENOMEM;
	}
	return 0;
}

void cfg_value_free(enum cfg_type t, union cfg_value *v)
{
	switch (t) {
	case CFG_STRING:
		cfg_dealloc(v->s);
		v->s = NULL;
		break;
	case CFG_STRLIST:
		strlist_free(&v->l);
		break;
	case CFG_STRMAP:
		strmap_free(&v->m);
		break;
	default:
		break;
	}
}

size_t cfg_value_size(enum cfg_type t)
{
	switch (t) {
	case CFG_BOOL:
		return sizeof(bool);
	case CFG_INT:
	case CFG_INT_AUTO:
		return sizeof(int64_t);
	case CFG_DOUBLE:
		return sizeof(double);
	case CFG_STRING:
		return sizeof(char *);
	case CFG_ENUM:
		return sizeof(int);
	case CFG_STRLIST:
		return sizeof(struct cfg_strlist);
	case CFG_STRMAP:
		return sizeof(struct cfg_strmap);
	default:
		return 0;
	}
}

/* memcpy because the member need not be aligned like the union. */
void cfg_value_get(const struct cfg_key *k, const void *base,
		   union cfg_value *ret)
{
	memset(ret, 0, sizeof(*ret));
	memcpy(ret, (const char *)base + k->offset, cfg_value_size(k->type));
}

void cfg_value_put(const struct cfg_key *k, void *base,
		   const union cfg_value *v)
{
	memcpy((char *)base + k->offset, v, cfg_value_size(k->type));
}
