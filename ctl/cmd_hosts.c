/* hosts [HOST]: one line per host (state from its record, its
 * assignments and P/hostctl/<host>), or one host with its VMs. */
#include "ctl/ctl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *formatted(char *s)
{
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;

	free(s);
	return j ? j : json_null();
}

static json_t *host_json(const struct ctl_vhost *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "host", ctl_json_str(h->name));
	json_object_set_new(
	    o, "state", json_string(ctl_hoststate_name(ctl_vhost_state(h))));
	json_object_set_new(o, "record",
			    h->rec_present ? formatted(fs_host_format(&h->rec))
					   : json_null());
	json_object_set_new(o, "alloc",
			    h->alloc_present
				? formatted(fs_alloc_format(&h->alloc))
				: json_null());
	if (h->ctl.present)
		json_object_set_new(
		    o, "hostctl",
		    json_pack("{s:s, s:I, s:o, s:o, s:o}", "state",
			      h->ctl.state, "max_parallel",
			      (json_int_t)h->ctl.max_parallel, "deadline",
			      ctl_json_str(h->ctl.deadline), "by",
			      ctl_json_str(h->ctl.by), "updated",
			      ctl_json_str(h->ctl.updated)));
	else
		json_object_set_new(o, "hostctl", json_null());
	json_object_set_new(o, "assignments",
			    json_integer((json_int_t)h->n_assign));
	return o;
}

static void labels_str(const struct fs_labels *l, char *buf, size_t n)
{
	buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		size_t o = strlen(buf);

		snprintf(buf + o, n - o, "%s%s=%s", i ? "," : "", l->v[i].key,
			 l->v[i].value);
	}
}

static const char *const cols[] = {"HOST", "STATE", "VCPU",   "MEMORY", "VMS",
				   "FREE", "UTIL",  "LABELS", "AGE"};
static const char *const wcols[] = {
    "HOST",   "STATE", "VCPU",	   "MEMORY",   "VMS",	"FREE",	  "UTIL",
    "LABELS", "AGE",   "CAPACITY", "ENDPOINT", "AGENT", "HOSTCTL"};

static void add_row(const struct ctl *x, ctl_table *t,
		    const struct ctl_vhost *h)
{
	static const struct fs_alloc none;
	const struct fs_alloc *a = h->alloc_present ? &h->alloc : &none;
	const struct fs_res *cap = &h->rec.allocatable;
	const char *st = ctl_hoststate_name(ctl_vhost_state(h));
	char lab[512], age[16];

	ctl_table_cell(t, CTL_C_NONE, h->name);
	ctl_table_cell(t, ctl_phase_colour(st), st);
	if (h->rec_present) {
		ctl_table_cellf(t, CTL_C_NONE, "%lld/%lld",
				(long long)a->used.vcpu, (long long)cap->vcpu);
		ctl_table_cellf(t, CTL_C_NONE, "%lld/%lldMi",
				(long long)a->used.memory_mb,
				(long long)cap->memory_mb);
		ctl_table_cellf(t, CTL_C_NONE, "%lld/%lld",
				(long long)a->used.vms, (long long)cap->vms);
		ctl_table_cellf(
		    t, CTL_C_NONE, "%lldcpu,%lldMi",
		    (long long)(cap->vcpu > a->used.vcpu
				    ? cap->vcpu - a->used.vcpu
				    : 0),
		    (long long)(cap->memory_mb > a->used.memory_mb
				    ? cap->memory_mb - a->used.memory_mb
				    : 0));
		ctl_table_cellf(t, CTL_C_NONE, "%.0f%%/%.0f%%",
				h->rec.util_cpu * 100, h->rec.util_mem * 100);
		labels_str(&h->rec.labels, lab, sizeof(lab));
		ctl_table_cell(t, CTL_C_NONE, lab);
		ctl_table_cell(
		    t, CTL_C_NONE,
		    ctl_age(age, sizeof(age), x->now_ms, h->rec.updated));
	} else {
		ctl_table_cellf(t, CTL_C_NONE, "%lld/-",
				(long long)a->used.vcpu);
		ctl_table_cellf(t, CTL_C_NONE, "%lld/-",
				(long long)a->used.memory_mb);
		ctl_table_cellf(t, CTL_C_NONE, "%lld/-",
				(long long)a->used.vms);
		for (int i = 0; i < 4; i++)
			ctl_table_cell(t, CTL_C_NONE, "-");
	}
	if (x->out == CTL_OUT_WIDE) {
		if (h->rec_present)
			ctl_table_cellf(t, CTL_C_NONE, "%lldcpu,%lldMi,%lldvms",
					(long long)h->rec.capacity.vcpu,
					(long long)h->rec.capacity.memory_mb,
					(long long)h->rec.capacity.vms);
		else
			ctl_table_cell(t, CTL_C_NONE, "-");
		ctl_table_cell(t, CTL_C_NONE,
			       h->rec_present ? h->rec.endpoint : NULL);
		ctl_table_cell(t, CTL_C_NONE,
			       h->rec_present ? h->rec.agent_version : NULL);
		if (h->ctl.present)
			ctl_table_cellf(t, CTL_C_NONE, "%s by %s", h->ctl.state,
					*h->ctl.by ? h->ctl.by : "?");
		else
			ctl_table_cell(t, CTL_C_NONE, "-");
	}
}

static const char *host_of(const struct ctl_vreq *r)
{
	if (r->assigned_host)
		return r->assigned_host;
	return r->st_present ? r->st.host : "";
}

/* hosts HOST: the host's facts, then its VMs. */
static int show_one(struct ctl *x, const struct ctl_view *v,
		    const struct ctl_vhost *h)
{
	static const char *const vcols[] = {"ID",     "PHASE", "VCPU",
					    "MEMORY", "AGE",   "REASON"};
	ctl_table *t;
	char lab[512], age[16], b[160], upd[200], dl[200];
	int rc = 0;

	if (x->out == CTL_OUT_JSON) {
		json_t *o = host_json(h), *vms = json_array();

		for (size_t i = 0; i < v->n_reqs; i++)
			if (strcmp(host_of(&v->reqs[i]), h->name) == 0)
				json_array_append_new(
				    vms, ctl_vreq_json(&v->reqs[i]));
		json_object_set_new(o, "vms", vms);
		return ctl_print_json(o);
	}
	t = ctl_table_new(sizeof(cols) / sizeof(cols[0]), cols);
	if (!t)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	add_row(x, t, h);
	ctl_table_print(t, stdout, x->colour);
	ctl_table_free(t);
	if (h->rec_present) {
		labels_str(&h->rec.labels, lab, sizeof(lab));
		printf("\nendpoint:  %s\nagent:     %s\nupdated:   %s (%s "
		       "ago)\n",
		       h->rec.endpoint && *h->rec.endpoint
			   ? ctl_esc(b, sizeof(b), h->rec.endpoint, 100)
			   : "-",
		       h->rec.agent_version
			   ? ctl_esc(lab, sizeof(lab), h->rec.agent_version, 60)
			   : "-",
		       ctl_esc(upd, sizeof(upd), h->rec.updated, 40),
		       ctl_age(age, sizeof(age), x->now_ms, h->rec.updated));
	} else {
		printf("\nno host record (P/hosts/%s): its agent is not "
		       "connected\n",
		       h->name);
	}
	if (h->ctl.present)
		printf("hostctl:   %s by %s at %s%s%s\n", h->ctl.state,
		       *h->ctl.by ? ctl_esc(b, sizeof(b), h->ctl.by, 60) : "?",
		       ctl_esc(upd, sizeof(upd), h->ctl.updated, 40),
		       *h->ctl.deadline ? ", deadline " : "",
		       ctl_esc(dl, sizeof(dl), h->ctl.deadline, 40));
	printf("\n");
	t = ctl_table_new(sizeof(vcols) / sizeof(vcols[0]), vcols);
	if (!t)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	for (size_t i = 0; i < v->n_reqs; i++) {
		const struct ctl_vreq *r = &v->reqs[i];
		const char *ph = ctl_vreq_phase(r);

		if (strcmp(host_of(r), h->name) != 0)
			continue;
		ctl_table_cell(t, CTL_C_NONE, r->id);
		ctl_table_cell(t, ctl_phase_colour(ph), ph);
		ctl_table_cellf(t, CTL_C_NONE, "%lld",
				(long long)r->parsed.need.res.vcpu);
		ctl_table_cellf(t, CTL_C_NONE, "%lldMi",
				(long long)r->parsed.need.res.memory_mb);
		ctl_table_cell(t, CTL_C_NONE,
			       ctl_age(age, sizeof(age), x->now_ms,
				       r->st_present ? r->st.updated : NULL));
		ctl_table_cell(t, CTL_C_NONE,
			       r->st_present ? r->st.reason : NULL);
	}
	if (ctl_table_rows(t) == 0)
		printf("no VMs\n");
	else if (ctl_table_print(t, stdout, x->colour) < 0)
		rc = CTL_EXIT_INPUT;
	ctl_table_free(t);
	return rc;
}

int ctl_cmd_hosts(struct ctl *x, int argc, char **argv)
{
	struct ctl_view v;
	const struct ctl_vhost *h;
	ctl_table *t;
	int rc;

	if (argc > 2)
		return ctl_errorf(CTL_EXIT_INPUT, "hosts: at most one HOST");
	rc = ctl_view_load(x, &v, CTL_V_HOSTS | (argc == 2 ? CTL_V_REQS : 0));
	if (rc)
		return rc;
	if (argc == 2) {
		h = ctl_view_host(&v, argv[1]);
		if (!h)
			rc = ctl_errorf(
			    CTL_EXIT_INPUT,
			    "no host %s (see flintschedctl hosts)",
			    fs_name_valid(argv[1]) ? argv[1] : "of that name");
		else
			rc = show_one(x, &v, h);
		ctl_view_clear(&v);
		return rc;
	}
	if (x->out == CTL_OUT_JSON) {
		json_t *arr = json_array();

		for (size_t i = 0; i < v.n_hosts; i++)
			if (ctl_vhost_state(&v.hosts[i]) != CTL_H_GONE)
				json_array_append_new(arr,
						      host_json(&v.hosts[i]));
		ctl_view_clear(&v);
		return ctl_print_json(arr);
	}
	t = x->out == CTL_OUT_WIDE
		? ctl_table_new(sizeof(wcols) / sizeof(wcols[0]), wcols)
		: ctl_table_new(sizeof(cols) / sizeof(cols[0]), cols);
	if (!t) {
		ctl_view_clear(&v);
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	}
	for (size_t i = 0; i < v.n_hosts; i++)
		if (ctl_vhost_state(&v.hosts[i]) != CTL_H_GONE)
			add_row(x, t, &v.hosts[i]);
	if (ctl_table_rows(t) == 0)
		fprintf(stderr,
			"no hosts (no agent has registered under "
			"%s/hosts/)\n",
			x->prefix);
	else if (ctl_table_print(t, stdout, x->colour) < 0)
		rc = CTL_EXIT_INPUT;
	ctl_table_free(t);
	ctl_view_clear(&v);
	return rc;
}
