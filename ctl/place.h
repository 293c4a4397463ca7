/*
 * ctl_place: the controller's verdict for one request against a view of
 * the cluster, without writing anything (plan, explain -v), computed by
 * the controller's placement unit (controller/place.c): see ctl/place.c.
 * cands[0] is the host the controller would choose now.
 */
#ifndef FLINTSCHED_CTL_PLACE_H
#define FLINTSCHED_CTL_PLACE_H

#include "ctl/ctl.h"

struct ctl_place_host {
	const struct ctl_vhost *h; /* borrowed from the view */
	bool fits;
	bool cordoned; /* P/hostctl set: rejected, "host cordoned" */
	double score;  /* with the partition band */
	struct fs_res free;
	char reason[128]; /* why not, when !fits */
};

struct ctl_place {
	struct ctl_place_host *hosts; /* every live host, in view order */
	size_t n_hosts;
	struct ctrl_cand *cands; /* the feasible ones, best first;
				  * .data is the ctl_place_host */
	size_t n_cands;
	struct ctrl_explain explain; /* hosts, feasible, rejected counts */
	struct ctrl_host *ch;	     /* the controller's records of them */
};

/* need: what the request needs (ctrl_request_parse); avoid: its status
 * (hosts where its VM failed for this revision) or NULL.  Returns 0 or
 * -ENOMEM; release with ctl_place_clear. */
int ctl_place(const struct ctl *x, const struct ctl_view *v, const char *id,
	      const struct fs_need *need, const struct ctrl_status *avoid,
	      struct ctl_place *out);
void ctl_place_clear(struct ctl_place *p);

/* What preemption would do for a request that fits nowhere: the
 * controller's victim choice (controller/victim.c) over the VMs that the
 * assignments read (P/assign/, with the request each holds) place on
 * p's hosts, at most max_victims. */
struct ctl_preempt {
	struct ctrl_request *specs; /* each assignment's request */
	char (*ids)[FS_NAME_MAX + 1];
	struct ctrl_victim *v;
	size_t n;
	struct ctrl_victims chosen; /* .n == 0: none */
};

/* req: the request (parsed); asg: P/assign/ read with values, borrowed.
 * Returns 1 (out->chosen), 0 (no set frees enough) or -ENOMEM; release
 * with ctl_preempt_clear either way. */
int ctl_place_preempt(const struct ctl *x, const struct ctl_view *v,
		      const struct ctl_place *p, const char *id,
		      const struct ctrl_request *req,
		      const struct etcd_sync_range *asg,
		      struct ctl_preempt *out);
void ctl_preempt_clear(struct ctl_preempt *pp);

/* A gang member for ctl_place_gang: id and need in, host out. */
struct ctl_gang_member {
	const char *id;
	const struct fs_need *need;
	char host[FS_NAME_MAX + 1]; /* "" until placed */
};

/* m[0..n), a gang, placed as the controller's gang path places it (one
 * txn): member after member by ctrl_place_pick, each seeing the places
 * of those before it (ctrl_place_tent_add).  Returns 1 (every m[i].host
 * set), 0 (m[*ret_failed] has no host with the others placed: why in
 * *ret_ex, to clear) or -ENOMEM. */
int ctl_place_gang(const struct ctl *x, const struct ctl_view *v,
		   struct ctl_gang_member *m, size_t n, size_t *ret_failed,
		   struct ctrl_explain *ret_ex);

/* The feasible hosts ranked (and, with all, the rejected ones with their
 * reason) as a table on stdout.  Returns an exit code. */
int ctl_place_print(const struct ctl *x, const struct ctl_place *p, bool all);
/* "insufficient memory on 3 hosts; selector zone=a on 2 hosts" */
void ctl_rejected_str(const struct ctrl_explain *e, char *buf, size_t len);

#endif
