/* Releases: a reservation returned to P/alloc/<host> by CAS, its
 * assignment deleted and its status replaced, in one fenced txn.
 * Calls report.c, txn.c, host.c, key.c. */
#include "controller/core.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "common/log.h"

static void release_done(struct ctrl_txn *t, struct ctrl_req *r, bool ok,
			 int64_t rev)
{
	(void)r;
	(void)rev;
	if (ok)
		fs_info("%s", t->what);
}

/*
 * Returns assignment a of r: alloc(host) -= need by CAS (deleted when it
 * reaches zero), the assignment deleted, and the status replaced by s
 * (taken; NULL = delete the status) — all in one fenced txn.  The alloc
 * is only ever written as the sum of the host's assignments: whether the
 * host is there or not (deleting it whole when the host was gone lost
 * the share of every other slot's VMs on it, and the host overcommitted
 * when it came back), and not at all when it is not that sum (absent,
 * unreadable, or the subtraction goes below zero): then it is rebuilt
 * first (ctrl_host_alloc_bad, alloc.c) and r released after.
 */
struct ctrl_txn *ctrl_release_txn(struct ctrl *c, struct ctrl_req *r,
				  struct ctrl_asg *a, struct ctrl_status *s,
				  const char *why)
{
	struct ctrl_txn *t =
	    ctrl_txn_new(c, TXN_RELEASE, r->slot, release_done);
	struct ctrl_host *h = ctrl_host_get(c, a->host, true);
	struct fs_alloc al = {0};
	char *js = NULL, *av = NULL;

	if (!t || !h)
		goto fail;
	if (h->alloc_bad)
		goto fail; /* rebuilt first; r is looked at again after */
	if (!h->alloc_present) {
		fs_warn("%s: assigned to %s, whose alloc is absent; rebuilding "
			"it before the release",
			r->id, a->host);
		ctrl_host_alloc_bad(c, h, true);
		goto fail;
	}
	snprintf(t->what, sizeof(t->what), "release %s from %s (%s)", r->id,
		 a->host, why);
	ctrl_txn_fence(t);
	ctrl_txn_cmp(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id),
		     ETCD_CMP_MOD, r->st_present ? r->st_rev : 0);
	ctrl_txn_cmp(t, ctrl_keyf("%sassign/%s/%s", c->prefix, a->host, r->id),
		     ETCD_CMP_MOD, a->rev);
	ctrl_txn_cmp(t, ctrl_keyf("%salloc/%s", c->prefix, a->host),
		     ETCD_CMP_MOD, h->alloc_present ? h->alloc_rev : 0);
	{
		char *tmp = fs_alloc_format(&h->alloc);

		/* copy via format/parse: fs_alloc has no copy function */
		if (!tmp || fs_alloc_parse(tmp, strlen(tmp), &al, NULL, 0) < 0) {
			free(tmp);
			goto fail;
		}
		free(tmp);
		if (fs_alloc_add(&al, &a->need.res, fs_need_group(&a->need), -1) < 0)
			goto fail;
		if (al.used.vms < 0 || al.used.vcpu < 0 ||
		    al.used.memory_mb < 0 ||
		    (al.used.vms == 0 &&
		     (al.used.vcpu || al.used.memory_mb))) {
			fs_warn("%s: alloc of %s is not the sum of its "
				"assignments (releasing %s leaves %lld VMs, "
				"%lld vCPU, %lld MiB); rebuilding it",
				a->host, a->host, r->id,
				(long long)al.used.vms,
				(long long)al.used.vcpu,
				(long long)al.used.memory_mb);
			ctrl_host_alloc_bad(c, h, true);
			goto fail;
		}
		if (al.used.vms == 0) {
			ctrl_txn_op(t,
				    ctrl_keyf("%salloc/%s", c->prefix, a->host),
				    NULL, 0);
		} else {
			av = fs_alloc_format(&al);
			if (!av)
				goto fail;
			ctrl_txn_op(t,
				    ctrl_keyf("%salloc/%s", c->prefix, a->host),
				    av, 0);
		}
	}
	ctrl_txn_op(t, ctrl_keyf("%sassign/%s/%s", c->prefix, a->host, r->id),
		    NULL, 0);
	if (s) {
		js = ctrl_report_json(c, r, s);
		if (!js)
			goto fail;
		t->phase[0] = (int)s->phase;
		ctrl_txn_op(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id), js,
			    0);
		ctrl_txn_keep_status(t, ctrl_txn_status_take(s));
	} else {
		ctrl_txn_op(t, ctrl_keyf("%sstatus/%s", c->prefix, r->id), NULL,
			    0);
	}
	fs_alloc_clear(&al);
	ctrl_status_clear(s);
	t->reqs[t->n_reqs++] = r;
	return t;
fail:
	fs_alloc_clear(&al);
	ctrl_status_clear(s);
	ctrl_txn_free(t); /* and the keys its compares and ops took */
	return NULL;
}

void ctrl_release(struct ctrl *c, struct ctrl_req *r, struct ctrl_asg *a,
		  struct ctrl_status *s, const char *why)
{
	struct ctrl_txn *t = ctrl_release_txn(c, r, a, s, why);

	if (!t)
		return;
	r->act = ACT_TXN;
	ctrl_txn_send(t);
}
