/*
 * VM records (agent_int.h): one struct vm per assignment and/or VM state
 * of a host, and the queue of P/vms/<host>/<id> writes flushed in
 * batches.  Calls only etcdclient/ and common/; the flush itself is
 * started from agent.c's a->flush callback.
 */
#include "agent/agent_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"

const char *const agent_vm_state_names[] = {"none", "creating", "running",
					    "failed", "refused"};

/* ---- VMs -------------------------------------------------------------- */

struct vm *agent_vm_find(struct host *h, const char *id, bool create)
{
	struct vm *v;

	for (v = h->vms; v; v = v->next) {
		if (strcmp(v->id, id) != 0)
			continue;
		if (v->zombie && create) {
			/* Forgotten with a write pending: the same record
			 * again, so that its next write goes after that
			 * one.  A deleted VM's uid names nothing. */
			v->zombie = false;
			if (v->state == VM_NONE) {
				free(v->uid);
				v->uid = NULL;
			}
		}
		return v;
	}
	if (!create)
		return NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->h = h;
	snprintf(v->id, sizeof(v->id), "%s", id);
	v->next = h->vms;
	h->vms = v;
	return v;
}

void agent_vm_free(struct vm *v)
{
	free(v->error);
	free(v->group);
	free(v->spec);
	free(v->uid);
	free(v);
}

/* Unlinks v from its host and frees it. */
static void vm_unlink_free(struct vm *v)
{
	for (struct vm **p = &v->h->vms; *p; p = &(*p)->next) {
		if (*p == v) {
			*p = v->next;
			break;
		}
	}
	agent_vm_free(v);
}

void agent_vm_forget(struct vm *v)
{
	/* A write queued or in flight (the delete of its key, or a state
	 * before it with the delete to follow): v stays on its host's list,
	 * so that a new assignment of the id reuses it and its writes stay
	 * in order, and is freed once the last one is written (vq_done). */
	if (v->st_inflight || v->queued)
		v->zombie = true;
	else
		vm_unlink_free(v);
}

/*
 * P/vms writes.  A VM has at most one write in flight (two puts of one key
 * on two connections could land in either order); what changes meanwhile
 * is written after it.  Writes are queued and flushed once per loop
 * iteration as txns of up to VQ_BATCH VMs, so that a burst of assignments
 * (a coordinator commits many at once) costs a few etcd requests, not one
 * per VM.
 */

struct vq_batch {
	agent *a;
	size_t n;
	struct vm *v[VQ_BATCH];
};

static void vm_state_flush(struct vm *v)
{
	agent *a = v->h->a;

	if (v->st_inflight) {
		v->st_dirty = true;
		return;
	}
	v->st_dirty = false;
	if (v->queued)
		return;
	v->queued = true;
	v->q_next = NULL;
	*a->vq_tail = v;
	a->vq_tail = &v->q_next;
	ev_prepare_start(a->loop, &a->flush);
}

/*
 * The queue is parked while a->vq_retry runs: nothing is written until it
 * fires, however many states are queued meanwhile (each would start a
 * flush of the whole queue and fail again at once while etcd refuses
 * connections).  The wait doubles per failed attempt up to VQ_RETRY_MAX_S
 * and is back to VQ_RETRY_MIN_S after a write succeeds; one warning per
 * attempt.
 */
#define VQ_RETRY_MIN_S 0.25
#define VQ_RETRY_MAX_S 5.0

static void vq_park(agent *a, size_t n, const struct vm *v, const char *why)
{
	double d = a->vq_backoff < VQ_RETRY_MIN_S ? VQ_RETRY_MIN_S
						  : a->vq_backoff;

	if (ev_is_active(&a->vq_retry))
		return; /* another batch of the same attempt */
	a->vq_backoff = d * 2 > VQ_RETRY_MAX_S ? VQ_RETRY_MAX_S : d * 2;
	fs_warn("%zu VM state(s) not written (%s/vms/%s/%s, ...): %s; "
		"retrying in %.2g s",
		n, a->prefix, v->h->name, v->id, why, d);
	/* Set each time: a one-shot timer started again after it fired
	 * keeps what was left of its delay (~0), which re-sent the queue
	 * every loop iteration. */
	ev_timer_set(&a->vq_retry, d, 0);
	ev_timer_start(a->loop, &a->vq_retry);
}

static void vq_done(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res)
{
	struct vq_batch *b = arg;
	agent *a = b->a;
	bool cancel = a->stopping || (err && err->code == ETCD_ECANCELED);

	(void)res;
	if (err && !cancel)
		vq_park(a, b->n, b->v[0], agent_err_str(err));
	else if (!err)
		a->vq_backoff = 0;
	for (size_t i = 0; i < b->n; i++) {
		struct vm *v = b->v[i];

		v->st_inflight = false;
		if (cancel) {
			if (v->zombie) /* nothing more will be written */
				vm_unlink_free(v);
			continue;
		}
		if (err) /* keep the state; written after the backoff */
			vm_state_flush(v);
		else if (v->st_dirty)
			vm_state_flush(v); /* e.g. the delete after `running` */
		else if (v->zombie)
			vm_unlink_free(v); /* its last write is done */
	}
	free(b);
}

/* One put (or delete, for state NONE) of v's key into op; the value is
 * malloc'd into *val. */
static int vm_state_op(struct vm *v, struct etcd_op *op, char *key,
		       char **val)
{
	agent *a = v->h->a;
	char ts[32];

	snprintf(key, KEY_MAX, "%s/vms/%s/%s", a->prefix, v->h->name, v->id);
	*val = NULL;
	if (v->state == VM_NONE) {
		op->type = ETCD_OP_DELETE;
		op->u.del = (struct etcd_delete_req){.key = key};
		return 0;
	}
	fs_time_now(ts, sizeof(ts));
	json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "state",
			      agent_vm_state_names[v->state], "error",
			      v->error ? v->error : "", "uid",
			      v->uid ? v->uid : "", "attempt",
			      (json_int_t)v->state_attempt, "request_rev",
			      (json_int_t)v->state_request_rev, "updated", ts);
	if (o)
		*val = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!*val)
		return -ENOMEM;
	op->type = ETCD_OP_PUT;
	op->u.put = (struct etcd_put_req){.key = key, .value = *val,
					  .value_len = strlen(*val)};
	return 0;
}

void agent_vm_flush(agent *a)
{
	while (a->vq && !a->stopping && !ev_is_active(&a->vq_retry)) {
		struct vq_batch *b = calloc(1, sizeof(*b));
		char keys[VQ_BATCH][KEY_MAX];
		char *vals[VQ_BATCH] = {0};
		struct etcd_op ops[VQ_BATCH];
		int r = 0;

		if (!b) {
			vq_park(a, 1, a->vq, "out of memory");
			return;
		}
		b->a = a;
		while (a->vq && b->n < VQ_BATCH && r == 0) {
			struct vm *v = a->vq;

			r = vm_state_op(v, &ops[b->n], keys[b->n],
					&vals[b->n]);
			if (r < 0)
				break;
			a->vq = v->q_next;
			if (!a->vq)
				a->vq_tail = &a->vq;
			v->queued = false;
			v->st_inflight = true;
			b->v[b->n++] = v;
		}
		struct etcd_txn_req txn = {.success = ops, .n_success = b->n};
		if (b->n > 0)
			r = etcd_kv_txn(a->etcd, &txn, vq_done, b);
		for (size_t i = 0; i < b->n; i++)
			free(vals[i]);
		if (b->n == 0 || r < 0) {
			struct etcd_error e = {.code = r};

			snprintf(e.message, sizeof(e.message), "%s",
				 strerror(r < 0 && r > -4096 ? -r : ENOMEM));
			if (b->n > 0) {
				vq_done(b, &e, NULL); /* requeues, parks */
			} else {
				free(b);
				vq_park(a, 1, a->vq, e.message);
			}
			return;
		}
	}
}

void agent_vm_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	agent *a = w->data;

	(void)revents;
	if (a->vq)
		ev_prepare_start(loop, &a->flush);
}

void agent_vm_state_write(struct vm *v, enum vm_state st, const char *error)
{
	v->state = st;
	v->state_attempt = v->attempt;
	v->state_request_rev = v->request_rev;
	free(v->error);
	v->error = error ? strdup(error) : NULL;
	vm_state_flush(v);
}

void agent_vm_queue_fini(agent *a)
{
	ev_timer_stop(a->loop, &a->vq_retry);
	/* Queued writes die with us; forgotten VMs are still on their
	 * hosts' lists, freed with them. */
	for (struct vm *v = a->vq; v; v = v->q_next)
		v->queued = false;
	a->vq = NULL;
	a->vq_tail = &a->vq;
}
