/*
 * Writing a loaded config back as YAML (--print-defaults, --print-config),
 * with libyaml's emitter so that every string is quoted correctly.
 */
#include "config/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <yaml.h>

struct dump {
	yaml_emitter_t emitter;
	const struct cfg_schema *s;
	const void *src;
};

static int dump_emit(struct dump *d, yaml_event_t *ev)
{
	if (!yaml_emitter_emit(&d->emitter, ev))
		return d->emitter.error == YAML_MEMORY_ERROR ? -ENOMEM : -EIO;
	return 0;
}

/* Plain for numbers and words the schema chose; quoted for user text. */
static int dump_scalar(struct dump *d, const char *text, bool quoted)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(
		&ev, NULL, NULL, (yaml_char_t *)(uintptr_t)text,
		(int)strlen(text), !quoted, 1,
		quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
		       : YAML_PLAIN_SCALAR_STYLE))
		return -ENOMEM;
	return dump_emit(d, &ev);
}

static int dump_start(struct dump *d, bool map, bool flow)
{
	yaml_event_t ev;
	int ok;

	if (map)
		ok = yaml_mapping_start_event_initialize(
		    &ev, NULL, NULL, 1,
		    flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
	else
		ok = yaml_sequence_start_event_initialize(
		    &ev, NULL, NULL, 1,
		    flow ? YAML_FLOW_SEQUENCE_STYLE
			 : YAML_BLOCK_SEQUENCE_STYLE);
	if (!ok)
		return -ENOMEM;
	return dump_emit(d, &ev);
}

static int dump_end(struct dump *d, bool map)
{
	yaml_event_t ev;

	if (map)
		yaml_mapping_end_event_initialize(&ev);
	else
		yaml_sequence_end_event_initialize(&ev);
	return dump_emit(d, &ev);
}

static int dump_value(struct dump *d, const struct cfg_key *k)
{
	union cfg_value v;
	char num[64];
	size_t i;
	int rc;

	cfg_value_get(k, d->src, &v);
	switch (k->type) {
	case CFG_BOOL:
		return dump_scalar(d, v.b ? "true" : "false", false);
	case CFG_INT:
	case CFG_INT_AUTO:
		if (k->type == CFG_INT_AUTO && v.i == CFG_AUTO)
			return dump_scalar(d, "auto", false);
		snprintf(num, sizeof(num), "%" PRId64, v.i);
		return dump_scalar(d, num, false);
	case CFG_DOUBLE:
		snprintf(num, sizeof(num), "%.17g", v.d);
		return dump_scalar(d, num, false);
	case CFG_STRING:
		return dump_scalar(d, v.s ? v.s : "", true);
	case CFG_ENUM:
		for (i = 0; k->choices[i]; i++)
			if ((int)i == v.e)
				return dump_scalar(d, k->choices[i], false);
		return -EINVAL;
	case CFG_STRLIST:
		rc = dump_start(d, false, true);
		for (i = 0; rc == 0 && i < v.l.n; i++)
			rc = dump_scalar(d, v.l.v[i], true);
		return rc < 0 ? rc : dump_end(d, false);
	case CFG_STRMAP:
		rc = dump_start(d, true, true);
		for (i = 0; rc == 0 && i < v.m.n; i++) {
			rc = dump_scalar(d, v.m.v[i].key, true);
			if (rc == 0)
				rc = dump_scalar(d, v.m.v[i].value, true);
		}
		return rc < 0 ? rc : dump_end(d, true);
	default:
		return -EINVAL;
	}
}

/* Is the child name of key j under `section` (length slen) already done? */
static bool dump_seen(const struct cfg_schema *s, size_t j, size_t slen,
		      const char *name, size_t nlen)
{
	size_t i;
	const char *p;

	for (i = 0; i < j; i++) {
		p = s->keys[i].path;
		if (strncmp(p, s->keys[j].path, slen) ||
		    (slen && p[slen] != '.'))
			continue;
		p += slen ? slen + 1 : 0;
		if (!strncmp(p, name, nlen) &&
		    (p[nlen] == '.' || p[nlen] == '\0'))
			return true;
	}
	return false;
}

/* The children of `section` (s->keys[i].path[0..slen)), in table order. */
static int dump_section(struct dump *d, const char *section, size_t slen)
{
	const struct cfg_key *k;
	const char *name, *dot;
	char key[CFG_MAX_PATH + 1];
	size_t i, nlen;
	int rc;

	rc = dump_start(d, true, false);
	for (i = 0; rc == 0 && i < d->s->n_keys; i++) {
		k = &d->s->keys[i];
		if (strncmp(k->path, section, slen) ||
		    (slen && k->path[slen] != '.'))
			continue;
		name = k->path + (slen ? slen + 1 : 0);
		dot = strchr(name, '.');
		nlen = dot ? (size_t)(dot - name) : strlen(name);
		if (dump_seen(d->s, i, slen, name, nlen))
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)nlen, name);
		rc = dump_scalar(d, key, false);
		if (rc < 0)
			break;
		if (dot)
			rc = dump_section(d, k->path,
					  (size_t)(name - k->path) + nlen);
		else
			rc = dump_value(d, k);
	}
	return rc < 0 ? rc : dump_end(d, true);
}

int cfg_dump(const struct cfg_schema *s, const void *src, FILE *out)
{
	struct dump d = {.s = s, .src = src};
	yaml_event_t ev;
	int rc;

	if (!yaml_emitter_initialize(&d.emitter))
		return -ENOMEM;
	yaml_emitter_set_output_file(&d.emitter, out);
	yaml_emitter_set_unicode(&d.emitter, 1);
	yaml_emitter_set_width(&d.emitter, -1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	rc = dump_emit(&d, &ev);
	if (rc == 0) {
		yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
		rc = dump_emit(&d, &ev);
	}
	if (rc == 0)
		rc = dump_section(&d, "", 0);
	if (rc == 0) {
		yaml_document_end_event_initialize(&ev, 1);
		rc = dump_emit(&d, &ev);
	}
	if (rc == 0) {
		yaml_stream_end_event_initialize(&ev);
		rc = dump_emit(&d, &ev);
	}
	if (rc == 0 && !yaml_emitter_flush(&d.emitter))
		rc = -EIO;
	yaml_emitter_delete(&d.emitter);
	if (rc == 0 && fflush(out) != 0)
		rc = -EIO;
	return rc;
}
