/* get ID, list [--phase P] [--host H] [--selector k=v]: the requests as
 * an aligned table (-o wide: more columns), or their raw records (-o
 * json). */
#include "ctl/ctl.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int ctl_print_json(json_t *j)
{
	char *s;

	if (!j)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	s = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	json_decref(j);
	if (!s)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	puts(s);
	free(s);
	return 0;
}

json_t *ctl_json_str(const char *s)
{
	json_t *j = json_string(s ? s : "");
	char *buf;
	size_t n;

	if (j)
		return j;
	n = strlen(s) * 4 + 8;
	buf = malloc(n);
	if (!buf)
		return NULL;
	j = json_string(ctl_esc(buf, n, s, 0));
	free(buf);
	return j;
}

/* A record's raw JSON as a value, or the (escaped) string when it does
 * not parse. */
static json_t *raw_json(const char *s, size_t len)
{
	json_t *j;

	if (!s)
		return json_null();
	j = json_loadb(s, len, 0, NULL);
	return j ? j : ctl_json_str(s);
}

json_t *ctl_vreq_json(const struct ctl_vreq *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", ctl_json_str(r->id));
	json_object_set_new(o, "phase", json_string(ctl_vreq_phase(r)));
	json_object_set_new(o, "request", raw_json(r->req, r->req_len));
	json_object_set_new(o, "request_revision",
			    json_integer(r->req_mod_rev));
	json_object_set_new(
	    o, "status",
	    raw_json(r->st_raw, r->st_raw ? strlen(r->st_raw) : 0));
	return o;
}

static const char *host_of(const struct ctl_vreq *r)
{
	if (r->st_present && *r->st.host)
		return r->st.host;
	return r->assigned_host ? r->assigned_host : "";
}

static const char *const cols[] = {"ID",     "PHASE", "HOST",  "VCPU",
				   "MEMORY", "AGE",   "REASON"};
static const char *const wcols[] = {
    "ID",     "PHASE",	     "HOST",  "VCPU",	  "MEMORY",
    "AGE",    "ATTEMPT",     "SCORE", "PRIORITY", "SELECTOR",
    "SPREAD", "COORDINATOR", "REASON"};

static void add_row(const struct ctl *x, ctl_table *t, const struct ctl_vreq *r)
{
	const char *ph = ctl_vreq_phase(r);
	char age[16], sel[256] = "";
	bool wide = x->out == CTL_OUT_WIDE;

	ctl_table_cell(t, CTL_C_NONE, r->id);
	ctl_table_cell(t, ctl_phase_colour(ph), ph);
	ctl_table_cell(t, CTL_C_NONE, host_of(r));
	if (r->parsed_ok) {
		ctl_table_cellf(t, CTL_C_NONE, "%lld",
				(long long)r->parsed.need.res.vcpu);
		ctl_table_cellf(t, CTL_C_NONE, "%lldMi",
				(long long)r->parsed.need.res.memory_mb);
	} else {
		ctl_table_cell(t, CTL_C_NONE, "-");
		ctl_table_cell(t, CTL_C_NONE, "-");
	}
	ctl_table_cell(t, CTL_C_NONE,
		       ctl_age(age, sizeof(age), x->now_ms,
			       r->st_present ? r->st.updated : NULL));
	if (wide) {
		const struct fs_labels *s = &r->parsed.need.selector;

		for (size_t i = 0; r->parsed_ok && i < s->n; i++) {
			size_t l = strlen(sel);

			snprintf(sel + l, sizeof(sel) - l, "%s%s=%s",
				 i ? "," : "", s->v[i].key, s->v[i].value);
		}
		if (r->st_present)
			ctl_table_cellf(t, CTL_C_NONE, "%lld",
					(long long)r->st.attempt);
		else
			ctl_table_cell(t, CTL_C_NONE, "-");
		if (r->st_present && *r->st.host)
			ctl_table_cellf(t, CTL_C_NONE, "%.3f", r->st.score);
		else
			ctl_table_cell(t, CTL_C_NONE, "-");
		if (r->parsed_ok)
			ctl_table_cellf(t, CTL_C_NONE, "%lld",
					(long long)r->parsed.priority);
		else
			ctl_table_cell(t, CTL_C_NONE, "-");
		ctl_table_cell(t, CTL_C_NONE, sel);
		ctl_table_cell(t, CTL_C_NONE,
			       r->parsed_ok ? r->parsed.need.spread : NULL);
		ctl_table_cell(t, CTL_C_NONE,
			       r->st_present ? r->st.coordinator : NULL);
	}
	ctl_table_cell(t, CTL_C_NONE, r->st_present ? r->st.reason : NULL);
}

struct filter {
	const char *phase, *host, *sel_k, *sel_v;
};

static bool keep(const struct ctl_vreq *r, const struct filter *f)
{
	if (f->phase && strcmp(ctl_vreq_phase(r), f->phase) != 0)
		return false;
	if (f->host && strcmp(host_of(r), f->host) != 0)
		return false;
	if (f->sel_k) {
		const struct fs_labels *s = &r->parsed.need.selector;
		bool hit = false;

		for (size_t i = 0; r->parsed_ok && i < s->n; i++)
			hit |= strcmp(s->v[i].key, f->sel_k) == 0 &&
			       strcmp(s->v[i].value, f->sel_v) == 0;
		if (!hit)
			return false;
	}
	return true;
}

static int show(struct ctl *x, const struct ctl_view *v, const struct filter *f,
		const char *one)
{
	bool wide = x->out == CTL_OUT_WIDE;
	ctl_table *t;
	json_t *arr;
	int rc = 0;

	if (x->out == CTL_OUT_JSON) {
		const struct ctl_vreq *r = one ? ctl_view_req(v, one) : NULL;

		if (one)
			return ctl_print_json(r ? ctl_vreq_json(r) : NULL);
		arr = json_array();
		for (size_t i = 0; arr && i < v->n_reqs; i++)
			if (keep(&v->reqs[i], f))
				json_array_append_new(
				    arr, ctl_vreq_json(&v->reqs[i]));
		return ctl_print_json(arr);
	}
	t = wide ? ctl_table_new(sizeof(wcols) / sizeof(wcols[0]), wcols)
		 : ctl_table_new(sizeof(cols) / sizeof(cols[0]), cols);
	if (!t)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	for (size_t i = 0; i < v->n_reqs; i++)
		if ((!one || strcmp(v->reqs[i].id, one) == 0) &&
		    keep(&v->reqs[i], f))
			add_row(x, t, &v->reqs[i]);
	if (ctl_table_rows(t) == 0 && !one)
		fprintf(stderr, "no requests%s\n",
			f->phase || f->host || f->sel_k ? " match" : "");
	else if (ctl_table_print(t, stdout, x->colour) < 0)
		rc = CTL_EXIT_INPUT;
	ctl_table_free(t);
	return rc;
}

int ctl_cmd_get(struct ctl *x, int argc, char **argv)
{
	struct ctl_view v;
	struct filter f = {0};
	int rc;

	if (argc != 2)
		return ctl_errorf(CTL_EXIT_INPUT,
				  "get: give one ID (or use list)");
	rc = ctl_view_load_req(x, &v, argv[1]);
	if (rc)
		return rc;
	rc = show(x, &v, &f, argv[1]);
	ctl_view_clear(&v);
	return rc;
}

int ctl_cmd_list(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"phase", required_argument, NULL, 'p'},
	    {"host", required_argument, NULL, 'H'},
	    {"selector", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	struct filter f = {0};
	struct ctl_view v;
	enum ctrl_phase ph;
	char *eq, *sel = NULL;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p':
			f.phase = optarg;
			break;
		case 'H':
			f.host = optarg;
			break;
		case 's':
			sel = optarg;
			break;
		default:
			return ctl_errorf(CTL_EXIT_INPUT,
					  "see flintschedctl list --help");
		}
	}
	if (optind != argc)
		return ctl_errorf(CTL_EXIT_INPUT,
				  "list: unexpected argument (see --help)");
	if (f.phase && strcmp(f.phase, "pending") != 0 &&
	    ctrl_phase_parse(f.phase, &ph) < 0)
		return ctl_errorf(CTL_EXIT_INPUT,
				  "--phase %s: use pending, scheduled, "
				  "running, failed, unschedulable, rejected "
				  "or lost",
				  f.phase);
	if (sel) {
		eq = strchr(sel, '=');
		if (!eq || eq == sel)
			return ctl_errorf(CTL_EXIT_INPUT,
					  "--selector %s: write key=value",
					  sel);
		*eq = '\0';
		f.sel_k = sel;
		f.sel_v = eq + 1;
	}
	rc = ctl_view_load(x, &v, CTL_V_REQS);
	if (rc)
		return rc;
	rc = show(x, &v, &f, NULL);
	ctl_view_clear(&v);
	return rc;
}
