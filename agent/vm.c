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
					    "failed"};

/* ---- VMs -------------------------------------------------------------- */

struct vm *agent_vm_find(struct host *h, const char *id, bool create)
{
	struct vm *v;

	for (v = h->vms; v; v = v->next)
		if (strcmp(v->id, id) == 0)
			return v;
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

void agent_vm_forget(struct vm *v)
{
	struct host *h = v->h;

	for (struct vm **p = &h->vms; *p; p = &(*p)->next) {
		if (*p == v) {
			*p = v->next;
			if (v->st_inflight || v->queued)
				v->zombie = true; /* freed after its write */
			else
				agent_vm_free(v);
			return;
		}
	}
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

static void vq_done(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res)
{
	struct vq_batch *b = arg;
	agent *a = b->a;
	bool retry = false;

	(void)res;
	if (err && err->code != ETCD_ECANCELED)
		fs_warn("%zu VM state(s) not written (%s/vms/%s/%s, ...): %s; "
			"retrying",
			b->n, a->prefix, b->v[0]->h->name, b->v[0]->id,
			agent_err_str(err));
	for (size_t i = 0; i < b->n; i++) {
		struct vm *v = b->v[i];

		v->st_inflight = false;
		if (v->zombie && !(err && !a->stopping &&
				   err->code != ETCD_ECANCELED)) {
			agent_vm_free(v);
			continue;
		}
		if (a->stopping || (err && err->code == ETCD_ECANCELED))
			continue;
		if (err) { /* keep the state; write it again in a while */
			vm_state_flush(v);
			retry = true;
		} else if (v->st_dirty) {
			vm_state_flush(v);
		}
	}
	if (retry) {
		ev_prepare_stop(a->loop, &a->flush);
		if (!ev_is_active(&a->vq_retry))
			ev_timer_start(a->loop, &a->vq_retry);
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
	struct ev_loop *loop = a->loop;

	while (a->vq && !a->stopping) {
		struct vq_batch *b = calloc(1, sizeof(*b));
		char keys[VQ_BATCH][KEY_MAX];
		char *vals[VQ_BATCH] = {0};
		struct etcd_op ops[VQ_BATCH];
		int r = 0;

		if (!b) {
			ev_timer_start(loop, &a->vq_retry);
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
			if (b->n > 0)
				vq_done(b, &e, NULL); /* requeues, arms retry */
			else
				free(b);
			if (!ev_is_active(&a->vq_retry))
				ev_timer_start(loop, &a->vq_retry);
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
	/* Queued writes die with us; forgotten VMs live only on the queue. */
	for (struct vm *v = a->vq, *next; v; v = next) {
		next = v->q_next;
		v->queued = false;
		if (v->zombie && !v->st_inflight)
			agent_vm_free(v);
	}
	a->vq = NULL;
	a->vq_tail = &a->vq;
}
