/*
 * Host metrics for the host record: CPUs and memory from /proc, CPU
 * utilisation from two /proc/stat samples, capacity (detected or
 * configured) minus reserved times overcommit, and the decision whether
 * the record is worth re-writing.
 *
 * Every reader takes the proc root ("/proc", or a directory of recorded
 * files in tests) and returns 0 or a negative errno; results go out only
 * on success.  No logging, no globals.
 */
#ifndef FLINTSCHED_AGENT_METRICS_H
#define FLINTSCHED_AGENT_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/model.h"

/* Number of "processor" entries in <root>/cpuinfo; when the file cannot
 * be read and root is "/proc", sysconf(_SC_NPROCESSORS_ONLN). */
int agent_metrics_read_cpus(const char *proc_root, int64_t *ret_cpus);

/* MemTotal and MemAvailable in MiB from <root>/meminfo.  Kernels without
 * MemAvailable (< 3.14): MemFree + Buffers + Cached. */
int agent_metrics_read_mem(const char *proc_root, int64_t *ret_total_mb,
			   int64_t *ret_avail_mb);

/* Aggregate "cpu" line of <root>/stat, in jiffies. */
struct agent_cpu_sample {
	uint64_t busy;  /* user nice system irq softirq steal */
	uint64_t total; /* busy + idle + iowait */
};
int agent_metrics_read_stat(const char *proc_root,
			    struct agent_cpu_sample *ret_s);
/* Busy fraction between two samples, 0..1; 0 when no time passed. */
double agent_metrics_cpu_util(const struct agent_cpu_sample *prev,
			      const struct agent_cpu_sample *cur);

/* What the config says; -1 (CFG_AUTO) = detect. */
struct agent_capacity_cfg {
	int64_t vcpu, memory_mb, max_vms;
	int64_t reserved_vcpu, reserved_memory_mb;
	double overcommit_cpu, overcommit_memory;
};

/*
 * capacity = configured value or the detected one; allocatable =
 * (capacity - reserved) x overcommit, floored, never negative; max_vms
 * auto = allocatable vcpu (at least 1): flintlockd gives every VM at least
 * one vCPU.
 */
void agent_metrics_capacity(const struct agent_capacity_cfg *cfg,
			    int64_t cpus, int64_t mem_mb,
			    struct fs_res *ret_capacity,
			    struct fs_res *ret_allocatable);

/*
 * Whether `now` is worth writing over `last` (the record last written at
 * last_ms): any change of capacity, allocatable, labels or endpoint; a
 * utilisation, or the VM count as a fraction of max_vms, that moved by
 * more than `threshold`; or interval_s (0 = never) since the last write.
 */
bool agent_metrics_report_due(const struct fs_host *last, int64_t last_ms,
			      const struct fs_host *now, int64_t now_ms,
			      double threshold, int64_t interval_s);

#endif
