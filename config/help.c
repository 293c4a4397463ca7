/* --help text for every key of a table. */
#include "config/internal.h"

#include <errno.h>
#include <string.h>

static const char *help_zero(enum cfg_type t)
{
	switch (t) {
	case CFG_BOOL:
		return "false";
	case CFG_STRING:
		return "\"\"";
	case CFG_STRLIST:
		return "[]";
	case CFG_STRMAP:
		return "{}";
	default:
		return "0";
	}
}

static void help_type(const struct cfg_key *k, char *buf, size_t size)
{
	char range[96];
	size_t i, o;

	switch (k->type) {
	case CFG_BOOL:
		snprintf(buf, size, "bool");
		break;
	case CFG_INT:
		cfg_range_format(k, range, sizeof(range));
		snprintf(buf, size, "integer %s", range);
		break;
	case CFG_INT_AUTO:
		cfg_range_format(k, range, sizeof(range));
		snprintf(buf, size, "integer %s or auto", range);
		break;
	case CFG_DOUBLE:
		cfg_range_format(k, range, sizeof(range));
		snprintf(buf, size, "number %s", range);
		break;
	case CFG_STRING:
		snprintf(buf, size, "string");
		break;
	case CFG_ENUM:
		o = (size_t)snprintf(buf, size, "one of ");
		for (i = 0; k->choices && k->choices[i] && o < size; i++)
			o += (size_t)snprintf(buf + o, size - o, "%s%s",
					      i ? "|" : "", k->choices[i]);
		break;
	case CFG_STRLIST:
		snprintf(buf, size, "list of strings");
		break;
	case CFG_STRMAP:
		snprintf(buf, size, "map of strings");
		break;
	default:
		snprintf(buf, size, "?");
		break;
	}
}

int cfg_print_help(const struct cfg_schema *s, FILE *out)
{
	const struct cfg_key *k;
	char type[300];
	size_t i;

	for (i = 0; s && i < s->n_keys; i++) {
		k = &s->keys[i];
		help_type(k, type, sizeof(type));
		if (fprintf(out, "%s  %s, default %s\n", k->path, type,
			    k->def ? k->def : help_zero(k->type)) < 0)
			return -EIO;
		if (k->help && k->help[0] &&
		    fprintf(out, "    %s\n", k->help) < 0)
			return -EIO;
	}
	if (fflush(out) != 0)
		return -EIO;
	return 0;
}
