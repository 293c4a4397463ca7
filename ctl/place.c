/*
 * Where a request would go now, computed with the controller's own code:
 * fs_score (common/score.c: feasibility and score, the one implementation
 * agents bid with and coordinators score with), the rejection counts of
 * ctrl_explain_add and the ranking of ctrl_cand_sort (controller/pick.c:
 * lowest score, ties by fs_tiebreak(request, host)).  What the controller
 * adds around them and that has no callable home in libfscontroller yet
 * (it is static in controller/service.c) is the smallest possible glue:
 * a host whose VM failed for this request revision is skipped ("VM failed
 * there before"), and with K > 1 coordinators a host outside the
 * request's partition scores scheduling.partition_band worse.
 */
#include "ctl/place.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ctl_place(const struct ctl *x, const struct ctl_view *v, const char *id,
	      const struct fs_need *need, const struct ctrl_status *avoid,
	      struct ctl_place *out)
{
	const struct ctrl_config *cfg = &x->sched;
	struct fs_weights w = {cfg->w_cpu, cfg->w_memory, cfg->w_vms};
	unsigned k = v->coordinators > 0 ? (unsigned)v->coordinators
					 : (unsigned)cfg->coordinators;
	double band = k > 1 ? cfg->partition_band : 0;
	unsigned slot = fs_slot_of(id, k);
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (v->n_hosts) {
		out->hosts = calloc(v->n_hosts, sizeof(*out->hosts));
		out->cands = calloc(v->n_hosts, sizeof(*out->cands));
		if (!out->hosts || !out->cands)
			goto nomem;
	}
	for (size_t i = 0; i < v->n_hosts; i++) {
		const struct ctl_vhost *h = &v->hosts[i];
		struct ctl_place_host *p = &out->hosts[out->n_hosts];
		struct fs_bid b;

		if (!h->rec_present)
			continue; /* the controller places on live hosts only */
		out->n_hosts++;
		out->explain.hosts++;
		p->h = h;
		p->cordoned = h->ctl.present;
		if (avoid && ctrl_status_avoids(avoid, h->name)) {
			snprintf(p->reason, sizeof(p->reason),
				 "VM failed there before");
		} else {
			fs_score(&h->rec, h->alloc_present ? &h->alloc : NULL,
				 need, &w, (enum fs_strategy)cfg->strategy, &b);
			p->fits = b.fits;
			p->score = b.score;
			p->free = b.free;
			snprintf(p->reason, sizeof(p->reason), "%s", b.reason);
		}
		if (!p->fits) {
			rc = ctrl_explain_add(&out->explain, p->reason);
			if (rc < 0)
				goto nomem;
			continue;
		}
		if (fs_slot_of(h->name, k) != slot)
			p->score += band;
		out->explain.feasible++;
		out->cands[out->n_cands++] =
		    (struct ctrl_cand){.host = h->name,
				       .score = p->score,
				       .tiebreak = fs_tiebreak(id, h->name),
				       .data = p};
	}
	ctrl_cand_sort(out->cands, out->n_cands);
	return 0;
nomem:
	ctl_place_clear(out);
	return -ENOMEM;
}

void ctl_place_clear(struct ctl_place *p)
{
	free(p->hosts);
	free(p->cands);
	ctrl_explain_clear(&p->explain);
	memset(p, 0, sizeof(*p));
}
