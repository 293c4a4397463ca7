/* The P/status/<id> record users read (docs/DESIGN.md "Status"): its
 * JSON, phases and explain counts.  Pure; calls nothing in controller/. */
#include "controller/ctrl.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_names[] = {
	[CTRL_PENDING] = "pending",
	[CTRL_SCHEDULED] = "scheduled",
	[CTRL_RUNNING] = "running",
	[CTRL_FAILED] = "failed",
	[CTRL_UNSCHEDULABLE] = "unschedulable",
	[CTRL_REJECTED] = "rejected",
	[CTRL_LOST] = "lost",
};

const char *ctrl_phase_name(enum ctrl_phase p)
{
	if ((size_t)p >= sizeof(phase_names) / sizeof(phase_names[0]))
		return "?";
	return phase_names[p];
}

int ctrl_phase_parse(const char *s, enum ctrl_phase *ret)
{
	for (size_t i = 0; i < sizeof(phase_names) / sizeof(phase_names[0]);
	     i++) {
		if (s && strcmp(s, phase_names[i]) == 0) {
			*ret = (enum ctrl_phase)i;
			return 0;
		}
	}
	return -EINVAL;
}

int ctrl_explain_add(struct ctrl_explain *e, const char *reason)
{
	struct ctrl_reject_count *v;
	char *r;

	if (!reason || !*reason)
		reason = "unknown";
	for (size_t i = 0; i < e->n_rejected; i++) {
		if (strcmp(e->rejected[i].reason, reason) == 0) {
			e->rejected[i].count++;
			return 0;
		}
	}
	r = strdup(reason);
	if (!r)
		return -ENOMEM;
	v = realloc(e->rejected, (e->n_rejected + 1) * sizeof(*v));
	if (!v) {
		free(r);
		return -ENOMEM;
	}
	e->rejected = v;
	v[e->n_rejected].reason = r;
	v[e->n_rejected].count = 1;
	e->n_rejected++;
	return 0;
}

void ctrl_explain_clear(struct ctrl_explain *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_rejected; i++)
		free(e->rejected[i].reason);
	free(e->rejected);
	memset(e, 0, sizeof(*e));
}

int ctrl_status_avoid_add(struct ctrl_status *s, const char *host)
{
	char **v, *h;

	if (ctrl_status_avoids(s, host))
		return 0;
	h = strdup(host);
	if (!h)
		return -ENOMEM;
	v = realloc(s->avoid, (s->n_avoid + 1) * sizeof(*v));
	if (!v) {
		free(h);
		return -ENOMEM;
	}
	s->avoid = v;
	v[s->n_avoid++] = h;
	return 0;
}

bool ctrl_status_avoids(const struct ctrl_status *s, const char *host)
{
	for (size_t i = 0; i < s->n_avoid; i++)
		if (strcmp(s->avoid[i], host) == 0)
			return true;
	return false;
}

void ctrl_status_clear(struct ctrl_status *s)
{
	if (!s)
		return;
	free(s->coordinator);
	free(s->reason);
	ctrl_explain_clear(&s->explain);
	for (size_t i = 0; i < s->n_avoid; i++)
		free(s->avoid[i]);
	free(s->avoid);
	memset(s, 0, sizeof(*s));
}

static int set_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, json_string(v ? v : ""));
}

void ctrl_request_hash(const char *val, size_t len, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)val[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

char *ctrl_status_format(const struct ctrl_status *s)
{
	json_t *o = json_object(), *ex = NULL, *rej, *av;
	char now[32], *out = NULL;
	int rc = 0;

	if (!o)
		return NULL;
	rc |= set_str(o, "phase", ctrl_phase_name(s->phase));
	rc |= set_str(o, "host", s->host);
	rc |= json_object_set_new(o, "attempt", json_integer(s->attempt));
	/* Three decimals: the score is a ranking, not a measurement. */
	rc |= json_object_set_new(
		o, "score",
		json_real(isfinite(s->score) ? round(s->score * 1000) / 1000
					     : 0));
	rc |= set_str(o, "coordinator", s->coordinator);
	rc |= json_object_set_new(o, "request_rev",
				  json_integer(s->request_rev));
	if (s->request_hash[0])
		rc |= set_str(o, "request_hash", s->request_hash);
	rc |= set_str(o, "reason", s->reason);
	if (s->has_explain) {
		ex = json_object();
		rej = json_object();
		if (!ex || !rej) {
			json_decref(ex);
			json_decref(rej);
			goto fail;
		}
		rc |= json_object_set_new(ex, "hosts",
					  json_integer(s->explain.hosts));
		rc |= json_object_set_new(ex, "feasible",
					  json_integer(s->explain.feasible));
		rc |= json_object_set_new(ex, "bids",
					  json_integer(s->explain.bids));
		for (size_t i = 0; i < s->explain.n_rejected; i++)
			rc |= json_object_set_new(
				rej, s->explain.rejected[i].reason,
				json_integer(s->explain.rejected[i].count));
		rc |= json_object_set_new(ex, "rejected", rej);
		rc |= json_object_set_new(o, "explain", ex);
	}
	if (s->n_avoid) {
		av = json_array();
		if (!av)
			goto fail;
		for (size_t i = 0; i < s->n_avoid; i++)
			rc |= json_array_append_new(av, json_string(s->avoid[i]));
		rc |= json_object_set_new(o, "avoid", av);
	}
	if (s->moving_to[0])
		rc |= set_str(o, "moving_to", s->moving_to);
	if (s->replaced_on[0])
		rc |= set_str(o, "replaced_on", s->replaced_on);
	if (s->updated[0]) {
		rc |= set_str(o, "updated", s->updated);
	} else {
		fs_time_now(now, sizeof(now));
		rc |= set_str(o, "updated", now);
	}
	if (rc)
		goto fail;
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
				    JSON_REAL_PRECISION(6));
fail:
	json_decref(o);
	return out;
}

static int bad(char *err, size_t errlen, const char *field, const char *want)
{
	if (err && errlen)
		snprintf(err, errlen, "status.%s: must be %s", field, want);
	return -EINVAL;
}

static int get_int(json_t *o, const char *k, int64_t *ret, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return bad(err, errlen, k, "an integer");
	*ret = (int64_t)json_integer_value(v);
	return 0;
}

static int get_dup(json_t *o, const char *k, char **ret, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad(err, errlen, k, "a string");
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

/* An optional host name field (absent in older statuses). */
static int get_host(json_t *o, const char *k, char ret[FS_NAME_MAX + 1],
		    char *err, size_t errlen)
{
	json_t *v = json_object_get(o, k);

	if (!v)
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) > FS_NAME_MAX)
		return bad(err, errlen, k, "a host name");
	strcpy(ret, json_string_value(v));
	return 0;
}

int ctrl_status_parse(const char *json, size_t len, struct ctrl_status *s,
		      char *err, size_t errlen)
{
	struct ctrl_status t = {0};
	json_error_t jerr;
	json_t *root, *v, *ex, *x;
	const char *k;
	int rc = -EINVAL;

	root = json_loadb(json, len, 0, &jerr);
	if (!root || !json_is_object(root)) {
		if (err && errlen)
			snprintf(err, errlen, "status: invalid JSON: %s",
				 root ? "not an object" : jerr.text);
		goto fail;
	}
	v = json_object_get(root, "phase");
	if (!json_is_string(v) ||
	    ctrl_phase_parse(json_string_value(v), &t.phase) < 0) {
		rc = bad(err, errlen, "phase", "a known phase name");
		goto fail;
	}
	v = json_object_get(root, "host");
	if (v) {
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) > FS_NAME_MAX) {
			rc = bad(err, errlen, "host", "a host name");
			goto fail;
		}
		strcpy(t.host, json_string_value(v));
	}
	if ((rc = get_int(root, "attempt", &t.attempt, err, errlen)) < 0 ||
	    (rc = get_int(root, "request_rev", &t.request_rev, err,
			  errlen)) < 0 ||
	    (rc = get_dup(root, "coordinator", &t.coordinator, err,
			  errlen)) < 0 ||
	    (rc = get_dup(root, "reason", &t.reason, err, errlen)) < 0)
		goto fail;
	if ((rc = get_host(root, "moving_to", t.moving_to, err, errlen)) <
		0 ||
	    (rc = get_host(root, "replaced_on", t.replaced_on, err,
			   errlen)) < 0)
		goto fail;
	v = json_object_get(root, "request_hash"); /* absent in old ones */
	if (v) {
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) >= sizeof(t.request_hash)) {
			rc = bad(err, errlen, "request_hash", "a hash");
			goto fail;
		}
		strcpy(t.request_hash, json_string_value(v));
	}
	v = json_object_get(root, "score");
	if (v) {
		if (!json_is_number(v)) {
			rc = bad(err, errlen, "score", "a number");
			goto fail;
		}
		t.score = json_number_value(v);
	}
	ex = json_object_get(root, "explain");
	if (json_is_object(ex)) {
		t.has_explain = true;
		if ((rc = get_int(ex, "hosts", &t.explain.hosts, err,
				  errlen)) < 0 ||
		    (rc = get_int(ex, "feasible", &t.explain.feasible, err,
				  errlen)) < 0 ||
		    (rc = get_int(ex, "bids", &t.explain.bids, err, errlen)) <
			    0)
			goto fail;
		json_object_foreach (json_object_get(ex, "rejected"), k, x) {
			if (!json_is_integer(x)) {
				rc = bad(err, errlen, "explain.rejected",
					 "counts");
				goto fail;
			}
			rc = -ENOMEM;
			if (ctrl_explain_add(&t.explain, k) < 0)
				goto fail;
			t.explain.rejected[t.explain.n_rejected - 1].count =
				(int64_t)json_integer_value(x);
		}
	}
	v = json_object_get(root, "avoid");
	if (v) {
		size_t i;

		if (!json_is_array(v)) {
			rc = bad(err, errlen, "avoid", "an array of hosts");
			goto fail;
		}
		json_array_foreach (v, i, x) {
			if (!json_is_string(x)) {
				rc = bad(err, errlen, "avoid",
					 "an array of hosts");
				goto fail;
			}
			rc = ctrl_status_avoid_add(&t, json_string_value(x));
			if (rc < 0)
				goto fail;
		}
	}
	v = json_object_get(root, "updated");
	if (json_is_string(v))
		snprintf(t.updated, sizeof(t.updated), "%s",
			 json_string_value(v));
	json_decref(root);
	*s = t;
	return 0;
fail:
	ctrl_status_clear(&t);
	json_decref(root);
	return rc;
}

int ctrl_status_copy(struct ctrl_status *dst, const struct ctrl_status *src)
{
	struct ctrl_status t = *src;

	t.coordinator = NULL;
	t.reason = NULL;
	t.avoid = NULL;
	t.n_avoid = 0;
	memset(&t.explain, 0, sizeof(t.explain));
	t.explain.hosts = src->explain.hosts;
	t.explain.feasible = src->explain.feasible;
	t.explain.bids = src->explain.bids;
	if ((src->coordinator && !(t.coordinator = strdup(src->coordinator))) ||
	    (src->reason && !(t.reason = strdup(src->reason))))
		goto fail;
	for (size_t i = 0; i < src->n_avoid; i++)
		if (ctrl_status_avoid_add(&t, src->avoid[i]) < 0)
			goto fail;
	for (size_t i = 0; i < src->explain.n_rejected; i++) {
		if (ctrl_explain_add(&t.explain,
				     src->explain.rejected[i].reason) < 0)
			goto fail;
		t.explain.rejected[i].count = src->explain.rejected[i].count;
	}
	*dst = t;
	return 0;
fail:
	ctrl_status_clear(&t);
	return -ENOMEM;
}
