/*
 * A YAML document as a tree of cfg_node, built from libyaml's event API.
 * Events rather than yaml_document_t because events carry anchors, aliases
 * and tags, which a config rejects, with their positions.
 */
#include "config/internal.h"

#include <errno.h>
#include <string.h>
#include <yaml.h>

struct tree {
	yaml_parser_t parser;
	const struct cfg_origin *o;
	const char *buf;
	size_t len;
	size_t n_nodes;
	struct cfg_error *err;
};

struct cfg_node *cfg_tree_free(struct cfg_node *n)
{
	size_t i;

	if (!n)
		return NULL;
	for (i = 0; i < n->n_kids; i++)
		cfg_tree_free(n->kids[i]);
	cfg_dealloc(n->kids);
	cfg_dealloc(n->text);
	cfg_dealloc(n);
	return NULL;
}

bool cfg_node_is_null(const struct cfg_node *n)
{
	if (n->kind != CFG_NODE_SCALAR || !n->plain)
		return false;
	return n->len == 0 || !strcmp(n->text, "~") ||
	       !strcmp(n->text, "null") || !strcmp(n->text, "Null") ||
	       !strcmp(n->text, "NULL");
}

/* An error at a position (0-based libyaml mark). */
static void tree_error_at(struct tree *t, const yaml_mark_t *mark,
			  const char *fmt, const char *arg)
{
	const struct cfg_origin *o = t->o;
	char what[400];

	snprintf(what, sizeof(what), fmt, arg);
	if (o->positions)
		cfg_error_set(t->err, o->name, (int)mark->line + 1,
			      (int)mark->column + 1, NULL, "%s", what);
	else if (mark->index >= t->len)
		cfg_error_set(t->err, o->name, 0, 0, o->key,
			      "invalid value: %s at its end", what);
	else
		cfg_error_set(t->err, o->name, 0, 0, o->key,
			      "invalid value: %s at column %zu", what,
			      mark->column + 1);
}

/* libyaml reports reader errors as a byte offset: turn it into line:col. */
static void tree_offset_to_mark(const struct tree *t, size_t offset,
				yaml_mark_t *mark)
{
	size_t i;

	mark->index = offset;
	mark->line = 0;
	mark->column = 0;
	for (i = 0; i < offset && i < t->len; i++) {
		unsigned char c = (unsigned char)t->buf[i];

		if (c == '\n') {
			mark->line++;
			mark->column = 0;
		} else if ((c & 0xC0) != 0x80) {
			mark->column++;
		}
	}
}

static int tree_parser_error(struct tree *t)
{
	const yaml_parser_t *p = &t->parser;
	yaml_mark_t mark;
	char what[300];
	const char *problem = p->problem ? p->problem : "unknown error";
	int v = p->problem_value;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		cfg_error_set(t->err, t->o->name, 0, 0, NULL, "out of memory");
		return -ENOMEM;
	case YAML_READER_ERROR:
		tree_offset_to_mark(t, p->problem_offset, &mark);
		if (!strcmp(problem, "invalid leading UTF-8 octet"))
			snprintf(what, sizeof(what),
				 "invalid UTF-8: byte 0x%02X cannot start a "
				 "character",
				 (unsigned)v & 0xFF);
		else if (!strcmp(problem, "invalid trailing UTF-8 octet"))
			snprintf(what, sizeof(what),
				 "invalid UTF-8: byte 0x%02X cannot continue "
				 "a character",
				 (unsigned)v & 0xFF);
		else if (!strcmp(problem, "incomplete UTF-8 octet sequence"))
			snprintf(what, sizeof(what),
				 "invalid UTF-8: character cut short by the "
				 "end of the input");
		else if (!strcmp(problem, "invalid length of a UTF-8 sequence"))
			snprintf(what, sizeof(what),
				 "invalid UTF-8: overlong encoding");
		else if (!strcmp(problem, "invalid Unicode character"))
			snprintf(what, sizeof(what),
				 "invalid UTF-8: U+%04X is not a character",
				 (unsigned)v);
		else if (!strcmp(problem, "control characters are not allowed"))
			snprintf(what, sizeof(what),
				 "control character 0x%02X is not allowed",
				 (unsigned)v);
		else
			snprintf(what, sizeof(what), "%s", problem);
		tree_error_at(t, &mark, "%s", what);
		return -EINVAL;
	default:
		if (p->context)
			snprintf(what, sizeof(what),
				 "syntax error: %s (%s at line %zu)", problem,
				 p->context, p->context_mark.line + 1);
		else
			snprintf(what, sizeof(what), "syntax error: %s",
				 problem);
		tree_error_at(t, &p->problem_mark, "%s", what);
		return -EINVAL;
	}
}

static int tree_next(struct tree *t, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&t->parser, ev))
		return tree_parser_error(t);
	return 0;
}

static struct cfg_node *tree_node_new(struct tree *t, enum cfg_node_kind kind,
				      const yaml_event_t *ev)
{
	struct cfg_node *n;

	n = cfg_alloc_array(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	n->line = (int)ev->start_mark.line + 1;
	n->col = (int)ev->start_mark.column + 1;
	t->n_nodes++;
	return n;
}

static int tree_add_kid(struct cfg_node *n, struct cfg_node *kid)
{
	struct cfg_node **kids;
	size_t cap;

	if (n->n_kids == n->cap) {
		cap = n->cap ? n->cap * 2 : 8;
		kids = cfg_realloc_array(n->kids, cap, sizeof(*kids));
		if (!kids)
			return -ENOMEM;
		n->kids = kids;
		n->cap = cap;
	}
	n->kids[n->n_kids++] = kid;
	return 0;
}

/* Rejects what a config has no use for, at the event's position. */
static int tree_check_event(struct tree *t, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		tree_error_at(t, &ev->start_mark,
			      "aliases (*%s) are not supported",
			      (const char *)ev->data.alias.anchor);
		return -EINVAL;
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		return 0;
	}
	if (anchor) {
		tree_error_at(t, &ev->start_mark,
			      "anchors (&%s) are not supported",
			      (const char *)anchor);
		return -EINVAL;
	}
	if (tag) {
		tree_error_at(t, &ev->start_mark,
			      "tags (%s) are not supported; quote the value "
			      "to make it a string",
			      (const char *)tag);
		return -EINVAL;
	}
	if (t->n_nodes >= CFG_MAX_NODES) {
		tree_error_at(t, &ev->start_mark, "%s",
			      "document too large (too many values)");
		return -EINVAL;
	}
	return 0;
}

/* Builds the node that starts with `ev` (consumed by the caller). */
static int tree_node(struct tree *t, const yaml_event_t *ev, int depth,
		     struct cfg_node **ret)
{
	struct cfg_node *n = NULL, *kid;
	yaml_event_type_t end;
	yaml_event_t next;
	int rc;

	rc = tree_check_event(t, ev);
	if (rc < 0)
		return rc;
	if (ev->type == YAML_SCALAR_EVENT) {
		n = tree_node_new(t, CFG_NODE_SCALAR, ev);
		if (!n)
			goto nomem;
		n->text = cfg_strndup((const char *)ev->data.scalar.value,
				      ev->data.scalar.length);
		if (!n->text)
			goto nomem;
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		*ret = n;
		return 0;
	}
	if (depth >= CFG_MAX_DEPTH) {
		tree_error_at(t, &ev->start_mark,
			      "nesting deeper than %s levels", "64");
		return -EINVAL;
	}
	if (ev->type == YAML_SEQUENCE_START_EVENT) {
		n = tree_node_new(t, CFG_NODE_SEQ, ev);
		end = YAML_SEQUENCE_END_EVENT;
	} else {
		n = tree_node_new(t, CFG_NODE_MAP, ev);
		end = YAML_MAPPING_END_EVENT;
	}
	if (!n)
		goto nomem;
	for (;;) {
		rc = tree_next(t, &next);
		if (rc < 0)
			goto fail;
		if (next.type == end) {
			yaml_event_delete(&next);
			break;
		}
		kid = NULL;
		rc = tree_node(t, &next, depth + 1, &kid);
		yaml_event_delete(&next);
		if (rc < 0)
			goto fail;
		if (tree_add_kid(n, kid) < 0) {
			cfg_tree_free(kid);
			goto nomem;
		}
	}
	*ret = n;
	return 0;
nomem:
	cfg_error_set(t->err, t->o->name, 0, 0, NULL, "out of memory");
	rc = -ENOMEM;
fail:
	cfg_tree_free(n);
	return rc;
}

int cfg_tree_parse(const struct cfg_origin *o, const char *buf, size_t len,
		   struct cfg_node **ret_root, struct cfg_error *err)
{
	struct tree t = {.o = o, .buf = buf, .len = len, .err = err};
	struct cfg_node *root = NULL;
	yaml_event_t ev;
	bool have_event = false;
	int rc;

	if (!yaml_parser_initialize(&t.parser)) {
		cfg_error_set(err, o->name, 0, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&t.parser, (const unsigned char *)buf,
				     len);
	yaml_parser_set_encoding(&t.parser, YAML_UTF8_ENCODING);

	/* STREAM-START, then DOCUMENT-START or STREAM-END. */
	rc = tree_next(&t, &ev);
	if (rc < 0)
		goto fail;
	yaml_event_delete(&ev);
	rc = tree_next(&t, &ev);
	if (rc < 0)
		goto fail;
	have_event = true;
	if (ev.type == YAML_STREAM_END_EVENT) {
		if (o->positions) {
			cfg_error_set(err, o->name, 0, 0, NULL,
				      "file is empty; write {} to use all "
				      "defaults");
			rc = -EINVAL;
			goto fail;
		}
		root = cfg_alloc_array(1, sizeof(*root));
		if (!root || !(root->text = cfg_strdup("")))
			goto nomem;
		root->kind = CFG_NODE_SCALAR;
		goto done;
	}
	yaml_event_delete(&ev);
	have_event = false;

	rc = tree_next(&t, &ev);
	if (rc < 0)
		goto fail;
	have_event = true;
	rc = tree_node(&t, &ev, 0, &root);
	if (rc < 0)
		goto fail;
	yaml_event_delete(&ev);
	have_event = false;

	/* DOCUMENT-END, then nothing but STREAM-END. */
	rc = tree_next(&t, &ev);
	if (rc < 0)
		goto fail;
	yaml_event_delete(&ev);
	rc = tree_next(&t, &ev);
	if (rc < 0)
		goto fail;
	have_event = true;
	if (ev.type != YAML_STREAM_END_EVENT) {
		tree_error_at(&t, &ev.start_mark, "%s",
			      o->positions ? "a second YAML document; a config "
					     "file holds one"
					   : "more than one YAML document");
		rc = -EINVAL;
		goto fail;
	}
done:
	yaml_event_delete(&ev);
	yaml_parser_delete(&t.parser);
	*ret_root = root;
	return 0;
nomem:
	cfg_error_set(err, o->name, 0, 0, NULL, "out of memory");
	rc = -ENOMEM;
fail:
	if (have_event)
		yaml_event_delete(&ev);
	cfg_tree_free(root);
	yaml_parser_delete(&t.parser);
	return rc;
}
