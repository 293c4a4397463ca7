/*
 * Internals of the config module, shared between its files.  Not installed.
 */
#ifndef FLINTSCHED_CFG_INTERNAL_H
#define FLINTSCHED_CFG_INTERNAL_H

#include "config/cfg.h"

#define CFG_FORMAT_(a, b) __attribute__((format(printf, a, b)))

/* Longest key path accepted in a table (fits cfg_error.key). */
#define CFG_MAX_PATH 120
/* Deepest nesting of YAML collections accepted. */
#define CFG_MAX_DEPTH 64
/* Most nodes accepted in one document: bounds memory on hostile input. */
#define CFG_MAX_NODES 200000

/* alloc.c: every allocation of the module goes through these. */
void *cfg_alloc(size_t size);
void *cfg_alloc_array(size_t n, size_t size); /* zeroed, overflow-checked */
void *cfg_realloc_array(void *p, size_t n, size_t size);
void cfg_dealloc(void *p);
char *cfg_strndup(const char *s, size_t len);
char *cfg_strdup(const char *s);

/* error.c */
void cfg_error_set(struct cfg_error *err, const char *file, int line, int col,
		   const char *key, const char *fmt, ...) CFG_FORMAT_(6, 7);
const char *cfg_strerror(int errnum, char *buf, size_t size);

/* file.c: whole file into a new NUL-terminated buffer, or -errno/-EFBIG. */
int cfg_file_read(const char *path, size_t max, char **ret_buf,
		  size_t *ret_len);

/*
 * Where text comes from: a file (positions are reported) or a `--set` or
 * default value (positions are not; `key` names the key being set).
 */
struct cfg_origin {
	const char *name; /* file name, "--set" or "default" */
	bool positions;
	const char *key; /* for values: the path being set */
};

/* tree.c: a YAML document as a tree, built from libyaml events. */
enum cfg_node_kind {
	CFG_NODE_SCALAR,
	CFG_NODE_SEQ,
	CFG_NODE_MAP,
};

struct cfg_node {
	enum cfg_node_kind kind;
	int line, col; /* 1-based */
	char *text;    /* scalar: NUL-terminated, may hold NULs before len */
	size_t len;
	bool plain;		/* scalar written without quotes */
	struct cfg_node **kids; /* seq: items; map: key, value, key, ... */
	size_t n_kids, cap;
};

/*
 * Parses one YAML document.  For a file, no document is an error; for a
 * value (o->positions false), no document is the empty string.
 */
int cfg_tree_parse(const struct cfg_origin *o, const char *buf, size_t len,
		   struct cfg_node **ret_root, struct cfg_error *err);
struct cfg_node *cfg_tree_free(struct cfg_node *n);
bool cfg_node_is_null(const struct cfg_node *n);

/* value.c: typed values, as stored in the caller's struct. */
union cfg_value {
	bool b;
	int64_t i;
	double d;
	char *s;
	int e;
	struct cfg_strlist l;
	struct cfg_strmap m;
};

int cfg_value_parse(const struct cfg_key *k, const struct cfg_node *n,
		    const struct cfg_origin *o, const char *path,
		    union cfg_value *ret, struct cfg_error *err);
int cfg_value_zero(const struct cfg_key *k, union cfg_value *ret);
void cfg_value_free(enum cfg_type t, union cfg_value *v);
void cfg_value_get(const struct cfg_key *k, const void *base,
		   union cfg_value *ret);
void cfg_value_put(const struct cfg_key *k, void *base,
		   const union cfg_value *v);
size_t cfg_value_size(enum cfg_type t);
/* Describes a node for "got ...": `null`, `sequence`, `string "abc"`, `12`. */
void cfg_node_describe(const struct cfg_node *n, char *buf, size_t size);
/* Appends the accepted range of an int or double key: "1..64", ">= 0". */
void cfg_range_format(const struct cfg_key *k, char *buf, size_t size);

/* schema.c */
int cfg_schema_check_keys(const struct cfg_schema *s, struct cfg_error *err);
bool cfg_path_is_section(const struct cfg_schema *s, const char *path);
/* Best candidate for a mistyped `name` among the children of `section`
 * (NULL for all paths), written as a full path into buf; false if none. */
bool cfg_suggest(const struct cfg_schema *s, const char *section,
		 const char *name, char *buf, size_t size);

/* cfg.c: parses a value text (default or --set) into a tree. */
int cfg_value_text_parse(const struct cfg_origin *o, const char *text,
			 struct cfg_node **ret, struct cfg_error *err);

#endif
