/*
 * The score of a placement (model.h, fs_score).  Shared by the agent (its
 * bid) and the coordinator (cached mode) so that both always agree.
 */
#include "common/model.h"

#include <stdio.h>
#include <string.h>

static double frac(int64_t used, int64_t total)
{
	if (total <= 0)
		return 1.0;
	return (double)used / (double)total;
}

static double clamp01(double v)
{
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

static int64_t free_of(int64_t total, int64_t used)
{
	return total > used ? total - used : 0;
}

void fs_score(const struct fs_host *h, const struct fs_alloc *alloc,
	      const struct fs_need *need, const struct fs_weights *w,
	      enum fs_strategy strategy, struct fs_bid *out)
{
	static const struct fs_alloc empty;
	struct fs_weights wt = {1, 1, 1};
	const struct fs_res *cap = &h->allocatable;
	const struct fs_res *used;
	double cpu, mem, vms, sum, util;

	if (!alloc)
		alloc = &empty;
	used = &alloc->used;
	if (w && w->cpu >= 0 && w->memory >= 0 && w->vms >= 0 &&
	    w->cpu + w->memory + w->vms > 0)
		wt = *w;

	out->fits = false;
	out->score = 0;
	out->reason[0] = '\0';
	out->free.vcpu = free_of(cap->vcpu, used->vcpu);
	out->free.memory_mb = free_of(cap->memory_mb, used->memory_mb);
	out->free.vms = free_of(cap->vms, used->vms);

	if (used->memory_mb + need->res.memory_mb > cap->memory_mb) {
		snprintf(out->reason, sizeof(out->reason),
			 "insufficient memory");
		return;
	}
	if (used->vcpu + need->res.vcpu > cap->vcpu) {
		snprintf(out->reason, sizeof(out->reason), "insufficient vcpu");
		return;
	}
	if (used->vms + 1 > cap->vms) {
		snprintf(out->reason, sizeof(out->reason), "max_vms reached");
		return;
	}
	if (!fs_labels_match(&h->labels, &need->selector, out->reason,
			     sizeof(out->reason)))
		return;
	if (!fs_constraints_match(&h->labels, &need->constraints, out->reason,
				  sizeof(out->reason)))
		return;
	out->fits = true;

	/* After placement: the larger of what is committed and what is
	 * measured (VMs not yet booted vs. load the scheduler cannot see). */
	cpu = frac(used->vcpu + need->res.vcpu, cap->vcpu);
	if (h->util_cpu + frac(need->res.vcpu, cap->vcpu) > cpu)
		cpu = h->util_cpu + frac(need->res.vcpu, cap->vcpu);
	mem = frac(used->memory_mb + need->res.memory_mb, cap->memory_mb);
	if (h->util_mem + frac(need->res.memory_mb, cap->memory_mb) > mem)
		mem = h->util_mem + frac(need->res.memory_mb, cap->memory_mb);
	vms = frac(used->vms + 1, cap->vms);
	sum = wt.cpu + wt.memory + wt.vms;
	util = (wt.cpu * clamp01(cpu) + wt.memory * clamp01(mem) +
		wt.vms * clamp01(vms)) /
	       sum;
	out->score = strategy == FS_BINPACK ? 1.0 - util : util;
	if (need->spread)
		out->score += (double)fs_alloc_group_vms(alloc, need->spread);
}
