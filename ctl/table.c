/* Aligned tables in kubectl's habit: upper-case headers, columns padded to
 * the widest cell, two spaces apart, colour only when asked (a terminal). */
#include "ctl/ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CELL_MAX 120 /* bytes of an untrusted string shown in a cell */

struct cell {
	char *text;
	enum ctl_colour colour;
};

struct ctl_table {
	size_t ncols;
	const char *const *headers;
	struct cell *cells; /* row-major */
	size_t n, cap;
};

ctl_table *ctl_table_new(size_t ncols, const char *const *headers)
{
	ctl_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ncols = ncols;
	t->headers = headers;
	return t;
}

int ctl_table_cell(ctl_table *t, enum ctl_colour c, const char *text)
{
	char buf[CELL_MAX * 4 + 8];

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct cell *v = realloc(t->cells, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->cells = v;
		t->cap = cap;
	}
	ctl_esc(buf, sizeof(buf), text && *text ? text : "-", CELL_MAX);
	t->cells[t->n].text = strdup(buf);
	if (!t->cells[t->n].text)
		return -ENOMEM;
	t->cells[t->n++].colour = c;
	return 0;
}

int ctl_table_cellf(ctl_table *t, enum ctl_colour c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return ctl_table_cell(t, c, buf);
}

size_t ctl_table_rows(const ctl_table *t)
{
	return t->n / t->ncols;
}

static const char *const ansi[] = {
    [CTL_C_NONE] = "",		 [CTL_C_GREEN] = "\033[32m",
    [CTL_C_YELLOW] = "\033[33m", [CTL_C_RED] = "\033[31m",
    [CTL_C_BLUE] = "\033[34m",	 [CTL_C_DIM] = "\033[2m",
};

int ctl_table_print(const ctl_table *t, FILE *out, bool colour)
{
	size_t *w = calloc(t->ncols, sizeof(*w));
	size_t rows = t->n / t->ncols;

	if (!w)
		return -ENOMEM;
	for (size_t j = 0; j < t->ncols; j++)
		w[j] = strlen(t->headers[j]);
	for (size_t i = 0; i < rows * t->ncols; i++) {
		size_t l = strlen(t->cells[i].text);

		if (l > w[i % t->ncols])
			w[i % t->ncols] = l;
	}
	for (size_t r = 0; r <= rows; r++) {
		for (size_t j = 0; j < t->ncols; j++) {
			const struct cell *c =
			    r ? &t->cells[(r - 1) * t->ncols + j] : NULL;
			const char *s = c ? c->text : t->headers[j];
			bool last = j + 1 == t->ncols;
			bool paint = colour && c && c->colour != CTL_C_NONE;

			fprintf(out, "%s%s%s", paint ? ansi[c->colour] : "", s,
				paint ? "\033[0m" : "");
			if (!last)
				fprintf(out, "%*s", (int)(w[j] - strlen(s) + 2),
					"");
		}
		fputc('\n', out);
	}
	free(w);
	return ferror(out) ? -EIO : 0;
}

ctl_table *ctl_table_free(ctl_table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i].text);
	free(t->cells);
	free(t);
	return NULL;
}

enum ctl_colour ctl_phase_colour(const char *phase)
{
	static const struct {
		const char *phase;
		enum ctl_colour c;
	} map[] = {
	    {"running", CTL_C_GREEN},	  {"live", CTL_C_GREEN},
	    {"scheduled", CTL_C_BLUE},	  {"pending", CTL_C_YELLOW},
	    {"cordoned", CTL_C_YELLOW},	  {"draining", CTL_C_YELLOW},
	    {"unschedulable", CTL_C_RED}, {"rejected", CTL_C_RED},
	    {"failed", CTL_C_RED},	  {"lost", CTL_C_RED},
	    {"disconnected", CTL_C_RED},
	};

	for (size_t i = 0; phase && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(phase, map[i].phase) == 0)
			return map[i].c;
	return CTL_C_NONE;
}
