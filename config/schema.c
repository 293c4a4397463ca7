/* Key tables: the shared log levels, lookups, checks and suggestions. */
#include "config/internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>

const char *const cfg_log_levels[] = {"error", "warn", "info", "debug", NULL};

const struct cfg_key *cfg_key_find(const struct cfg_schema *s, const char *path)
{
	size_t i;

	for (i = 0; s && path && i < s->n_keys; i++)
		if (!strcmp(s->keys[i].path, path))
			return &s->keys[i];
	return NULL;
}

/* "" is the root section; "etcd" is a section if a key starts "etcd.". */
bool cfg_path_is_section(const struct cfg_schema *s, const char *path)
{
	size_t i, len = strlen(path);

	if (len == 0)
		return true;
	for (i = 0; i < s->n_keys; i++)
		if (!strncmp(s->keys[i].path, path, len) &&
		    s->keys[i].path[len] == '.')
			return true;
	return false;
}

/*
 * Edit distance counting a swap of neighbours as one edit ("kye" -> "key"),
 * case-insensitive; SIZE_MAX for names too long to be worth it.
 */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t rows[3][65], *prev2, *prev, *cur, i, j, v;

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		rows[1][j] = j;
	for (i = 1; i <= la; i++) {
		prev2 = rows[(i + 2) % 3];
		prev = rows[i % 3];
		cur = rows[(i + 1) % 3];
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]);
			int cb = tolower((unsigned char)b[j - 1]);

			v = prev[j - 1] + (ca != cb);
			if (prev[j] + 1 < v)
				v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 &&
			    ca == tolower((unsigned char)b[j - 2]) &&
			    cb == tolower((unsigned char)a[i - 2]) &&
			    prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
	}
	return rows[(la + 1) % 3][lb];
}

/*
 * Candidates are the children of `section` (the next path component of
 * every key under it); with section NULL, every key and section path.
 * A candidate wins if few edits away; failing that, a key elsewhere whose
 * last component is exactly `name` ("prefix" at the top: etcd.prefix).
 */
bool cfg_suggest(const struct cfg_schema *s, const char *section,
		 const char *name, char *buf, size_t size)
{
	size_t i, len, cand_len, d, best = SIZE_MAX, nlen = strlen(name);
	size_t slen = section ? strlen(section) : 0;
	const char *path, *cand, *dot, *last;
	const char *best_path = NULL;
	size_t best_len = 0;

	for (i = 0; i < s->n_keys; i++) {
		path = s->keys[i].path;
		if (section) {
			if (slen &&
			    (strncmp(path, section, slen) || path[slen] != '.'))
				continue;
			cand = path + (slen ? slen + 1 : 0);
			dot = strchr(cand, '.');
			cand_len = dot ? (size_t)(dot - cand) : strlen(cand);
			d = edit_distance(name, nlen, cand, cand_len);
			len = (size_t)(cand + cand_len - path);
		} else {
			/* The key itself, then each of its sections. */
			len = strlen(path);
			d = edit_distance(name, nlen, path, len);
			for (dot = strchr(path, '.'); dot;
			     dot = strchr(dot + 1, '.')) {
				size_t e = edit_distance(name, nlen, path,
							 (size_t)(dot - path));
				if (e < d) {
					d = e;
					len = (size_t)(dot - path);
				}
			}
		}
		if (d < best) {
			best = d;
			best_path = path;
			best_len = len;
		}
	}
	if (best_path && best <= 1 + nlen / 4 && best < nlen) {
		snprintf(buf, size, "%.*s", (int)best_len, best_path);
		return true;
	}
	if (!section || strchr(name, '.'))
		return false;
	for (i = 0; i < s->n_keys; i++) {
		path = s->keys[i].path;
		last = strrchr(path, '.');
		last = last ? last + 1 : path;
		if (!strcmp(last, name)) {
			snprintf(buf, size, "%s", path);
			return true;
		}
	}
	return false;
}

static int schema_error(struct cfg_error *err, const char *key,
			const char *what)
{
	cfg_error_set(err, "schema", 0, 0, key, "%s", what);
	return -EINVAL;
}

static bool path_valid(const char *p)
{
	size_t i, len = strlen(p);

	if (len == 0 || len > CFG_MAX_PATH || p[0] == '.' || p[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] == '.' && p[i + 1] == '.')
			return false;
		if (!isalnum((unsigned char)p[i]) && !strchr("._-", p[i]))
			return false;
	}
	return true;
}

static int check_key(const struct cfg_schema *s, size_t idx,
		     struct cfg_error *err)
{
	const struct cfg_key *k = &s->keys[idx], *o;
	size_t i, len, size, osize;

	if (!k->path || !path_valid(k->path))
		return schema_error(err, k->path,
				    "path must be dot-separated words of "
				    "[A-Za-z0-9_-]");
	size = cfg_value_size(k->type);
	if (size == 0)
		return schema_error(err, k->path, "unknown key type");
	if ((k->type == CFG_INT || k->type == CFG_INT_AUTO) &&
	    k->imin > k->imax)
		return schema_error(err, k->path, "imin > imax");
	if (k->type == CFG_INT_AUTO && k->imin < 0)
		return schema_error(err, k->path,
				    "imin must be >= 0: -1 means auto");
	if (k->type == CFG_DOUBLE &&
	    (isnan(k->dmin) || isnan(k->dmax) || k->dmin > k->dmax))
		return schema_error(err, k->path, "dmin > dmax");
	if (k->type == CFG_ENUM && (!k->choices || !k->choices[0] || !k->def))
		return schema_error(err, k->path,
				    "an enum needs choices and a default");
	len = strlen(k->path);
	for (i = 0; i < s->n_keys; i++) {
		o = &s->keys[i];
		if (i == idx || !o->path)
			continue;
		if (i < idx && !strcmp(o->path, k->path))
			return schema_error(err, k->path, "declared twice");
		if (!strncmp(o->path, k->path, len) && o->path[len] == '.')
			return schema_error(err, k->path,
					    "is both a key and a section");
		osize = cfg_value_size(o->type);
		if (i < idx && k->offset < o->offset + osize &&
		    o->offset < k->offset + size)
			return schema_error(err, k->path,
					    "overlaps another key's member");
	}
	return 0;
}

/* The defaults are checked by loading them, in cfg.c. */
int cfg_schema_check_keys(const struct cfg_schema *s, struct cfg_error *err)
{
	size_t i;
	int rc;

	if (!s || (!s->keys && s->n_keys))
		return schema_error(err, NULL, "no key table");
	for (i = 0; i < s->n_keys; i++) {
		rc = check_key(s, i, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}
