/* Host metrics from /proc (metrics.h). */
#include "agent/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE *proc_open(const char *root, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", root ? root : "/proc", name);
	return fopen(path, "re");
}

int agent_metrics_read_cpus(const char *proc_root, int64_t *ret_cpus)
{
	FILE *f = proc_open(proc_root, "cpuinfo");
	char line[512];
	int64_t n = 0;
	long sc;

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			/* "processor\t: 3"; long flag lines are read in
			 * pieces, whose starts never match. */
			if (strncmp(line, "processor", 9) == 0 &&
			    (line[9] == ' ' || line[9] == '\t' ||
			     line[9] == ':'))
				n++;
		}
		fclose(f);
		if (n > 0) {
			*ret_cpus = n;
			return 0;
		}
	}
	if (proc_root && strcmp(proc_root, "/proc") != 0)
		return f ? -EINVAL : -ENOENT;
	sc = sysconf(_SC_NPROCESSORS_ONLN);
	if (sc < 1)
		return -ENOENT;
	*ret_cpus = sc;
	return 0;
}

int agent_metrics_read_mem(const char *proc_root, int64_t *ret_total_mb,
			   int64_t *ret_avail_mb)
{
	FILE *f = proc_open(proc_root, "meminfo");
	char line[256], name[64];
	unsigned long long kb;
	int64_t total = -1, avail = -1, fallback = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63[^:]: %llu", name, &kb) != 2)
			continue;
		if (strcmp(name, "MemTotal") == 0)
			total = (int64_t)(kb / 1024);
		else if (strcmp(name, "MemAvailable") == 0)
			avail = (int64_t)(kb / 1024);
		else if (strcmp(name, "MemFree") == 0 ||
			 strcmp(name, "Buffers") == 0 ||
			 strcmp(name, "Cached") == 0)
			fallback += (int64_t)(kb / 1024);
	}
	fclose(f);
	if (total <= 0)
		return -EINVAL;
	if (avail < 0)
		avail = fallback;
	if (avail > total)
		avail = total;
	*ret_total_mb = total;
	*ret_avail_mb = avail;
	return 0;
}

int agent_metrics_read_stat(const char *proc_root,
			    struct agent_cpu_sample *ret_s)
{
	FILE *f = proc_open(proc_root, "stat");
	char line[512];
	unsigned long long v[8] = {0};
	int n = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "cpu ", 4) != 0)
			continue;
		n = sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7]);
		break;
	}
	fclose(f);
	if (n < 4)
		return -EINVAL;
	/* user nice system idle iowait irq softirq steal; guest time is
	 * already inside user. */
	ret_s->busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	ret_s->total = ret_s->busy + v[3] + v[4];
	return 0;
}

double agent_metrics_cpu_util(const struct agent_cpu_sample *prev,
			      const struct agent_cpu_sample *cur)
{
	double d;

	if (cur->total <= prev->total || cur->busy < prev->busy)
		return 0;
	d = (double)(cur->busy - prev->busy) /
	    (double)(cur->total - prev->total);
	return d < 0 ? 0 : d > 1 ? 1 : d;
}

static int64_t scaled(int64_t cap, int64_t reserved, double ratio)
{
	double v = (double)(cap - reserved) * ratio;

	if (v <= 0)
		return 0;
	return (int64_t)floor(v + 1e-9);
}

void agent_metrics_capacity(const struct agent_capacity_cfg *cfg,
			    int64_t cpus, int64_t mem_mb,
			    struct fs_res *ret_capacity,
			    struct fs_res *ret_allocatable)
{
	struct fs_res cap, alloc;

	cap.vcpu = cfg->vcpu >= 0 ? cfg->vcpu : cpus;
	cap.memory_mb = cfg->memory_mb >= 0 ? cfg->memory_mb : mem_mb;
	alloc.vcpu = scaled(cap.vcpu, cfg->reserved_vcpu,
			    cfg->overcommit_cpu > 0 ? cfg->overcommit_cpu : 1);
	alloc.memory_mb =
		scaled(cap.memory_mb, cfg->reserved_memory_mb,
		       cfg->overcommit_memory > 0 ? cfg->overcommit_memory : 1);
	if (cfg->max_vms >= 0)
		cap.vms = cfg->max_vms;
	else
		cap.vms = alloc.vcpu > 0 ? alloc.vcpu : 1;
	alloc.vms = cap.vms;
	*ret_capacity = cap;
	*ret_allocatable = alloc;
}

static bool res_equal(const struct fs_res *a, const struct fs_res *b)
{
	return a->vcpu == b->vcpu && a->memory_mb == b->memory_mb &&
	       a->vms == b->vms;
}

static bool str_equal(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool labels_equal(const struct fs_labels *a, const struct fs_labels *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].key, b->v[i].key) != 0 ||
		    strcmp(a->v[i].value, b->v[i].value) != 0)
			return false;
	return true;
}

bool agent_metrics_report_due(const struct fs_host *last, int64_t last_ms,
			      const struct fs_host *now, int64_t now_ms,
			      double threshold, int64_t interval_s)
{
	if (!last)
		return true;
	if (!res_equal(&last->capacity, &now->capacity) ||
	    !res_equal(&last->allocatable, &now->allocatable) ||
	    !labels_equal(&last->labels, &now->labels) ||
	    !str_equal(last->endpoint, now->endpoint))
		return true;
	/* The VM count is a measurement like the others (coordinators count
	 * reservations from P/alloc): a move of more than threshold of
	 * max_vms, so that placing a VM does not cost a host write. */
	double max_vms = (double)(now->capacity.vms > 0 ? now->capacity.vms : 1);
	if (fabs(last->util_cpu - now->util_cpu) > threshold ||
	    fabs(last->util_mem - now->util_mem) > threshold ||
	    fabs((double)(last->vms - now->vms)) / max_vms > threshold)
		return true;
	if (interval_s > 0 && now_ms - last_ms >= interval_s * 1000)
		return true;
	return false;
}
