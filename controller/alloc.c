/* Rebuilds: a host's P/alloc/<host>, when it is unreadable or known not
 * to be the sum of the host's assignments (ctrl_host_alloc_bad), read
 * back as that sum, once, fenced.  Calls txn.c, cache.c, host.c, key.c.
 *
 * P/alloc/<host> is a derived summary (docs/DESIGN.md "Keys"): every
 * commit and release writes it in the txn that writes the assignment,
 * as the old value plus or minus that one VM.  While it is bad, nothing
 * writes the host's assignments (the host is locked: no commit picks it,
 * releases wait), so the rebuild's one compare, the alloc's revision as
 * read with the assignments, fences it against every other writer. */
#include "controller/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct rebuild {
	struct ctrl *c;
	char host[FS_NAME_MAX + 1];
	unsigned slot;
	char *akey, *prefix;
	struct etcd_op ops[2];
};

static void rebuild_free(struct rebuild *x)
{
	free(x->akey);
	free(x->prefix);
	free(x);
}

/* The write ended (no requests: called once with r NULL). */
static void rebuild_done(struct ctrl_txn *t, struct ctrl_req *r, bool ok,
			 int64_t rev)
{
	struct ctrl_host *h = t->n_hosts ? t->hosts[0] : NULL;

	(void)r;
	(void)rev;
	if (h)
		h->rebuilding = false;
	ctrl_host_unref(t->c, h);
	if (ok)
		fs_info("%s", t->what);
}

/* The alloc and the host's assignments, read in one txn: write their sum
 * if the alloc is still what was read. */
static void on_read(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res)
{
	struct rebuild *x = arg;
	struct ctrl *c = x->c;
	struct ctrl_host *h = ctrl_host_get(c, x->host, false);
	const struct etcd_range_result *ar, *asg;
	struct fs_alloc sum = {0};
	struct ctrl_txn *t = NULL;
	int64_t arev = 0;

	if (c->inflight)
		c->inflight--;
	if (!h)
		goto out;
	h->rebuilding = false;
	ctrl_host_unref(c, h);
	if (err || !res || res->n_responses < 2 || !h->alloc_bad ||
	    !slot_mine(c, x->slot))
		goto out; /* the next pass tries again, if still bad */
	ar = &res->responses[0].u.range;
	asg = &res->responses[1].u.range;
	if (ar->n_kvs)
		arev = ar->kvs[0].mod_revision;
	for (size_t i = 0; i < asg->n_kvs; i++) {
		const struct etcd_kv *kv = &asg->kvs[i];
		const char *id = strrchr(kv->key, '/');
		struct fs_need need = {0};

		if (!id || ctrl_cache_asg_need(id + 1, kv->value,
					       kv->value_len, &need, NULL,
					       NULL) < 0) {
			fs_warn("rebuilding %s: cannot read assignment %s; "
				"not counted",
				x->akey, kv->key);
			continue;
		}
		if (fs_alloc_add(&sum, &need.res, fs_need_group(&need), 1) < 0) {
			fs_need_clear(&need);
			goto out;
		}
		fs_need_clear(&need);
	}
	t = ctrl_txn_new(c, TXN_STATUS, x->slot, rebuild_done);
	if (!t)
		goto out;
	snprintf(t->what, sizeof(t->what),
		 "rebuilt %s: %lld VMs, %lld vCPU, %lld MiB from its "
		 "assignments",
		 x->akey, (long long)sum.used.vms, (long long)sum.used.vcpu,
		 (long long)sum.used.memory_mb);
	ctrl_txn_fence(t);
	ctrl_txn_cmp(t, strdup(x->akey), ETCD_CMP_MOD, arev);
	if (sum.used.vms)
		ctrl_txn_op(t, strdup(x->akey), fs_alloc_format(&sum), 0);
	else if (arev)
		ctrl_txn_op(t, strdup(x->akey), NULL, 0);
	h->rebuilding = true;
	h->locked++; /* txn.c unlocks it when the txn ends */
	t->hosts[t->n_hosts++] = h;
	ctrl_txn_send(t);
out:
	fs_alloc_clear(&sum);
	rebuild_free(x);
}

/* Starts rebuilding h's alloc (alloc_bad, not already rebuilding), as
 * coordinator of its partition's slot or of the first slot we lead. */
static void rebuild(struct ctrl *c, struct ctrl_host *h)
{
	struct etcd_txn_req req = {0};
	struct rebuild *x;
	unsigned slot = h->part;
	int rc;

	if (!slot_mine(c, slot))
		for (slot = 0; slot < c->k && !slot_mine(c, slot); slot++)
			;
	if (slot >= c->k || !(x = calloc(1, sizeof(*x))))
		return;
	x->c = c;
	x->slot = slot;
	strcpy(x->host, h->name);
	x->akey = ctrl_keyf("%salloc/%s", c->prefix, h->name);
	x->prefix = ctrl_keyf("%sassign/%s/", c->prefix, h->name);
	if (!x->akey || !x->prefix) {
		rebuild_free(x);
		return;
	}
	x->ops[0] = (struct etcd_op){.type = ETCD_OP_RANGE,
				     .u.range = {.key = x->akey}};
	x->ops[1] = (struct etcd_op){
	    .type = ETCD_OP_RANGE,
	    .u.range = {.key = x->prefix, .prefix = true}};
	req.success = x->ops;
	req.n_success = 2;
	rc = c->hooks.txn ? c->hooks.txn(c, &req, on_read, x)
			  : etcd_kv_txn(c->etcd, &req, on_read, x);
	if (rc < 0) {
		rebuild_free(x);
		return;
	}
	h->rebuilding = true;
	c->inflight++;
	c->m.txns++;
}

/* Rebuilds every bad alloc not being rebuilt (pass.c). */
void ctrl_alloc_rebuild_all(struct ctrl *c)
{
	if (!c->alloc_bad_n)
		return;
	for (size_t i = 0; i < c->n_harr; i++)
		if (c->harr[i]->alloc_bad && !c->harr[i]->rebuilding)
			rebuild(c, c->harr[i]);
}
