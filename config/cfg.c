/*
 * The loader: defaults, then the file, then --set overrides, into a
 * scratch array of values that reaches the caller's struct only when
 * everything succeeded.
 */
#include "config/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Where a key's value came from, for cfg_check_fail(). */
struct cfg_pos {
	const char *file; /* the origin's name; NULL = never set */
	int line, col;	  /* 0 = no position */
};

struct load {
	const struct cfg_schema *s;
	union cfg_value *vals; /* one per key, in table order */
	bool *fresh;	       /* vals[i] was made here (else borrowed) */
	struct cfg_pos *pos;   /* one per key */
	struct cfg_error *err;
};

struct cfg_check {
	const struct load *l;
};

static int load_init(struct load *l, const struct cfg_schema *s,
		     struct cfg_error *err, const char *name)
{
	l->s = s;
	l->err = err;
	l->vals = cfg_alloc_array(s->n_keys, sizeof(*l->vals));
	l->fresh = cfg_alloc_array(s->n_keys, sizeof(*l->fresh));
	l->pos = cfg_alloc_array(s->n_keys, sizeof(*l->pos));
	if (!l->vals || !l->fresh || !l->pos) {
		cfg_dealloc(l->vals);
		cfg_dealloc(l->fresh);
		cfg_dealloc(l->pos);
		cfg_error_set(err, name, 0, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* Frees the values made here, then the arrays. */
static void load_fini(struct load *l)
{
	size_t i;

	for (i = 0; l->vals && i < l->s->n_keys; i++)
		if (l->fresh[i])
			cfg_value_free(l->s->keys[i].type, &l->vals[i]);
	cfg_dealloc(l->vals);
	cfg_dealloc(l->fresh);
	cfg_dealloc(l->pos);
	l->vals = NULL;
	l->fresh = NULL;
	l->pos = NULL;
}

static void load_replace(struct load *l, size_t i, const union cfg_value *v)
{
	if (l->fresh[i])
		cfg_value_free(l->s->keys[i].type, &l->vals[i]);
	l->vals[i] = *v;
	l->fresh[i] = true;
}

static int load_node(struct load *l, const char *path, const struct cfg_node *n,
		     const struct cfg_origin *o);

/* A mapping at a section: every key must be known, and only once. */
static int load_section(struct load *l, const char *path,
			const struct cfg_node *n, const struct cfg_origin *o)
{
	const struct cfg_node *key, *dup;
	char child[CFG_MAX_PATH + 80], got[128], hint[CFG_MAX_PATH + 8];
	size_t i, j, plen = strlen(path);
	int rc;

	if (n->kind != CFG_NODE_MAP) {
		cfg_node_describe(n, got, sizeof(got));
		if (plen == 0)
			cfg_error_set(l->err, o->name,
				      o->positions ? n->line : 0, n->col, NULL,
				      "the top level must be a mapping of "
				      "sections, got %s",
				      got);
		else
			cfg_error_set(l->err, o->name,
				      o->positions ? n->line : 0, n->col, path,
				      "expected mapping, got %s", got);
		return -EINVAL;
	}
	for (i = 0; i + 1 < n->n_kids; i += 2) {
		key = n->kids[i];
		if (key->kind != CFG_NODE_SCALAR || cfg_node_is_null(key) ||
		    strlen(key->text) != key->len) {
			cfg_node_describe(key, got, sizeof(got));
			cfg_error_set(l->err, o->name,
				      o->positions ? key->line : 0, key->col,
				      plen ? path : NULL,
				      "expected a key name, got %s", got);
			return -EINVAL;
		}
		snprintf(child, sizeof(child), "%s%s%.64s", path,
			 plen ? "." : "", key->text);
		dup = NULL;
		for (j = 0; j < i && !dup; j += 2)
			if (!strcmp(n->kids[j]->text, key->text))
				dup = n->kids[j];
		if (dup) {
			cfg_error_set(l->err, o->name,
				      o->positions ? key->line : 0, key->col,
				      child, "duplicate key (first at line %d)",
				      dup->line);
			return -EINVAL;
		}
		if (strchr(key->text, '.')) {
			cfg_error_set(l->err, o->name,
				      o->positions ? key->line : 0, key->col,
				      child,
				      "unknown key; keys are not dotted in a "
				      "file, nest them in sections");
			return -EINVAL;
		}
		if (plen + 1 + key->len > CFG_MAX_PATH ||
		    (!cfg_key_find(l->s, child) &&
		     !cfg_path_is_section(l->s, child))) {
			if (cfg_suggest(l->s, path, key->text, hint,
					sizeof(hint)))
				cfg_error_set(l->err, o->name,
					      o->positions ? key->line : 0,
					      key->col, child,
					      "unknown key (did you mean %s?)",
					      hint);
			else
				cfg_error_set(l->err, o->name,
					      o->positions ? key->line : 0,
					      key->col, child, "unknown key");
			return -EINVAL;
		}
		rc = load_node(l, child, n->kids[i + 1], o);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int load_node(struct load *l, const char *path, const struct cfg_node *n,
		     const struct cfg_origin *o)
{
	const struct cfg_key *k = cfg_key_find(l->s, path);
	union cfg_value v;
	int rc;

	if (!k)
		return load_section(l, path, n, o);
	rc = cfg_value_parse(k, n, o, path, &v, l->err);
	if (rc < 0)
		return rc;
	load_replace(l, (size_t)(k - l->s->keys), &v);
	l->pos[k - l->s->keys] = (struct cfg_pos){
		o->name, o->positions ? n->line : 0, o->positions ? n->col : 0};
	return 0;
}

int cfg_check_fail(struct cfg_check *ck, const char *path, const char *fmt,
		   ...)
{
	const struct cfg_key *k = cfg_key_find(ck->l->s, path);
	const struct cfg_pos *p = k ? &ck->l->pos[k - ck->l->s->keys] : NULL;
	char what[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cfg_error_set(ck->l->err, p && p->file ? p->file : "config",
		      p ? p->line : 0, p ? p->col : 0, path, "%s", what);
	return -EINVAL;
}

/* Runs the schema's check on dst with the loaded values in it; on failure
 * dst's members get their bytes back, so that dst is not touched. */
static int load_check(struct load *l, void *dst)
{
	const struct cfg_schema *s = l->s;
	struct cfg_check ck = {l};
	union cfg_value *old;
	size_t i;
	int rc;

	if (!s->check)
		return 0;
	old = cfg_alloc_array(s->n_keys, sizeof(*old));
	if (!old) {
		cfg_error_set(l->err, "config", 0, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < s->n_keys; i++) {
		memcpy(&old[i], (char *)dst + s->keys[i].offset,
		       cfg_value_size(s->keys[i].type));
		cfg_value_put(&s->keys[i], dst, &l->vals[i]);
	}
	rc = s->check(dst, &ck);
	if (rc < 0)
		for (i = 0; i < s->n_keys; i++)
			memcpy((char *)dst + s->keys[i].offset, &old[i],
			       cfg_value_size(s->keys[i].type));
	cfg_dealloc(old);
	return rc;
}

int cfg_value_text_parse(const struct cfg_origin *o, const char *text,
			 struct cfg_node **ret, struct cfg_error *err)
{
	return cfg_tree_parse(o, text, strlen(text), ret, err);
}

static int load_defaults(struct load *l)
{
	const struct cfg_origin o = {.name = "default"};
	struct cfg_origin ko = o;
	const struct cfg_key *k;
	struct cfg_node *n = NULL;
	union cfg_value v;
	char range[96];
	size_t i;
	int rc;

	for (i = 0; i < l->s->n_keys; i++) {
		k = &l->s->keys[i];
		ko.key = k->path;
		if (k->def) {
			rc = cfg_value_text_parse(&ko, k->def, &n, l->err);
			if (rc < 0)
				return rc;
			rc = load_node(l, k->path, n, &ko);
			n = cfg_tree_free(n);
			if (rc < 0)
				return rc;
			continue;
		}
		if (cfg_value_zero(k, &v) < 0) {
			cfg_error_set(l->err, "default", 0, 0, k->path,
				      "out of memory");
			return -ENOMEM;
		}
		load_replace(l, i, &v);
		if ((k->type == CFG_INT && (k->imin > 0 || k->imax < 0)) ||
		    (k->type == CFG_DOUBLE && (k->dmin > 0 || k->dmax < 0))) {
			cfg_range_format(k, range, sizeof(range));
			cfg_error_set(l->err, "default", 0, 0, k->path,
				      "must be %s, got no default (0)", range);
			return -EINVAL;
		}
	}
	return 0;
}

static int load_set(struct load *l, const char *assignment)
{
	const struct cfg_origin o = {.name = "--set"};
	struct cfg_origin ko = o;
	struct cfg_node *n = NULL;
	char path[CFG_MAX_PATH + 1], hint[CFG_MAX_PATH + 8];
	const char *eq = strchr(assignment, '=');
	size_t len;
	int rc;

	if (!eq || eq == assignment) {
		cfg_error_set(l->err, "--set", 0, 0, NULL,
			      "expected path=value, got \"%.80s\"", assignment);
		return -EINVAL;
	}
	len = (size_t)(eq - assignment);
	snprintf(path, sizeof(path), "%.*s", (int)len, assignment);
	if (len > CFG_MAX_PATH ||
	    (!cfg_key_find(l->s, path) && !cfg_path_is_section(l->s, path))) {
		if (cfg_suggest(l->s, NULL, path, hint, sizeof(hint)))
			cfg_error_set(l->err, "--set", 0, 0, path,
				      "unknown key (did you mean %s?)", hint);
		else
			cfg_error_set(l->err, "--set", 0, 0, path,
				      "unknown key");
		return -EINVAL;
	}
	ko.key = path;
	rc = cfg_value_text_parse(&ko, eq + 1, &n, l->err);
	if (rc < 0)
		return rc;
	rc = load_node(l, path, n, &ko);
	cfg_tree_free(n);
	return rc;
}

static int load_sets(struct load *l, const char *const *sets, size_t n_sets)
{
	size_t i;
	int rc;

	for (i = 0; i < n_sets; i++) {
		if (!sets[i])
			continue;
		rc = load_set(l, sets[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int cfg_schema_check(const struct cfg_schema *s, struct cfg_error *err)
{
	struct load l;
	int rc;

	rc = cfg_schema_check_keys(s, err);
	if (rc < 0)
		return rc;
	rc = load_init(&l, s, err, "schema");
	if (rc < 0)
		return rc;
	rc = load_defaults(&l);
	load_fini(&l);
	return rc;
}

int cfg_load_buffer(const struct cfg_schema *s, void *dst, const char *name,
		    const char *buf, size_t len, const char *const *sets,
		    size_t n_sets, struct cfg_error *err)
{
	const struct cfg_origin o = {.name = name ? name : "config",
				     .positions = true};
	struct cfg_node *root = NULL;
	struct load l;
	size_t i;
	int rc;

	rc = cfg_schema_check_keys(s, err);
	if (rc < 0)
		return rc;
	rc = load_init(&l, s, err, o.name);
	if (rc < 0)
		return rc;
	rc = load_defaults(&l);
	if (rc < 0)
		goto fail;
	if (buf) {
		rc = cfg_tree_parse(&o, buf, len, &root, err);
		if (rc < 0)
			goto fail;
		rc = load_section(&l, "", root, &o);
		root = cfg_tree_free(root);
		if (rc < 0)
			goto fail;
	}
	rc = load_sets(&l, sets, n_sets);
	if (rc < 0)
		goto fail;
	/* Checks of single values (struct cfg_key.check) once the whole
	 * document parsed, so that a typo later in the file comes first;
	 * then the schema's check across keys. */
	for (i = 0; i < s->n_keys; i++) {
		char what[512] = "";
		const struct cfg_pos *p = &l.pos[i];

		if (s->keys[i].check &&
		    s->keys[i].check(&l.vals[i], what, sizeof(what)) < 0) {
			cfg_error_set(err, p->file ? p->file : o.name, p->line,
				      p->col, s->keys[i].path, "%s", what);
			rc = -EINVAL;
			goto fail;
		}
	}
	rc = load_check(&l, dst);
	if (rc < 0)
		goto fail;
	for (i = 0; i < s->n_keys; i++) {
		cfg_value_put(&s->keys[i], dst, &l.vals[i]);
		l.fresh[i] = false;
	}
	load_fini(&l);
	return 0;
fail:
	load_fini(&l);
	return rc;
}

int cfg_load(const struct cfg_schema *s, void *dst, const char *path,
	     const char *const *sets, size_t n_sets, struct cfg_error *err)
{
	char *buf = NULL, ebuf[128];
	size_t len = 0;
	int rc;

	if (!path)
		return cfg_load_buffer(s, dst, NULL, NULL, 0, sets, n_sets,
				       err);
	rc = cfg_file_read(path, CFG_MAX_FILE_SIZE, &buf, &len);
	if (rc == -EFBIG) {
		cfg_error_set(err, path, 0, 0, NULL,
			      "file too large (limit %d bytes)",
			      CFG_MAX_FILE_SIZE);
		return rc;
	}
	if (rc < 0) {
		cfg_error_set(err, path, 0, 0, NULL, "cannot read: %s",
			      rc == -EINVAL ? "not a regular file"
					    : cfg_strerror(-rc, ebuf, sizeof(ebuf)));
		return rc;
	}
	rc = cfg_load_buffer(s, dst, path, buf, len, sets, n_sets, err);
	cfg_dealloc(buf);
	return rc;
}

int cfg_set(const struct cfg_schema *s, void *dst, const char *assignment,
	    struct cfg_error *err)
{
	union cfg_value old;
	struct load l;
	size_t i;
	int rc;

	rc = cfg_schema_check_keys(s, err);
	if (rc < 0)
		return rc;
	rc = load_init(&l, s, err, "--set");
	if (rc < 0)
		return rc;
	for (i = 0; i < s->n_keys; i++)
		cfg_value_get(&s->keys[i], dst, &l.vals[i]);
	rc = load_set(&l, assignment ? assignment : "");
	if (rc < 0)
		goto fail;
	for (i = 0; i < s->n_keys; i++) {
		if (!l.fresh[i])
			continue;
		cfg_value_get(&s->keys[i], dst, &old);
		cfg_value_free(s->keys[i].type, &old);
		cfg_value_put(&s->keys[i], dst, &l.vals[i]);
		l.fresh[i] = false;
	}
	load_fini(&l);
	return 0;
fail:
	load_fini(&l);
	return rc;
}

void cfg_free(const struct cfg_schema *s, void *dst)
{
	union cfg_value v;
	size_t i;

	if (!s || !dst)
		return;
	for (i = 0; i < s->n_keys; i++) {
		cfg_value_get(&s->keys[i], dst, &v);
		cfg_value_free(s->keys[i].type, &v);
		memset(&v, 0, sizeof(v));
		cfg_value_put(&s->keys[i], dst, &v);
	}
}
