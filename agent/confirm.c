/*
 * Confirmations (agent_int.h): before the agent creates a VM it reads
 * P/status/<id>, which the coordinator's commit writes in the txn that
 * writes the assignment, and creates only when that status names this
 * host and the assignment's request revision and attempt.  A hand-written
 * P/assign/<host>/<id> (no coordinator placed it), or one copied to
 * another host, made the agent create a VM (issue 13, item 6); statuses
 * are fenced writes of the slot's coordinator, which no agent can make.
 *
 * The reads are batched: up to CQ_BATCH ranges per txn and one txn in
 * flight, so that what arrives during its round trip goes in the next
 * one (a txn per loop iteration, as the VM state writes go, read 2.8
 * statuses per txn in a burst of 2,000 placements and doubled the etcd
 * txns of an agent).  A VM already running (an agent
 * restart) is never read for.  Calls only etcdclient/ and vm.c; results
 * go up through a->on_confirmed (reconcile.c).
 */
#include "agent/agent_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"

#define CQ_RETRY_S 1.0
#define CQ_BATCH 128 /* etcd's --max-txn-ops default */

struct cf_batch {
	agent *a;
	size_t n;
	struct agent_cfq q[CQ_BATCH];
};

/* Appends q to a's queue: 0 or -ENOMEM. */
static int cq_push(agent *a, const struct agent_cfq *q)
{
	if (a->n_cq == a->cap_cq) {
		size_t cap = a->cap_cq ? 2 * a->cap_cq : 64;
		struct agent_cfq *nq = realloc(a->cq, cap * sizeof(*nq));

		if (!nq)
			return -ENOMEM;
		a->cq = nq;
		a->cap_cq = cap;
	}
	a->cq[a->n_cq++] = *q;
	return 0;
}

void agent_confirm_want(struct vm *v)
{
	agent *a = v->h->a;
	struct agent_cfq q = {.h = v->h, .rrev = v->request_rev,
			      .attempt = v->attempt};

	if (v->cf != CF_NONE && v->cf_rrev == v->request_rev &&
	    v->cf_attempt == v->attempt)
		return; /* asked, or answered, for this assignment */
	snprintf(q.id, sizeof(q.id), "%s", v->id);
	if (cq_push(a, &q) < 0) {
		/* nothing created; asked again at its next assignment */
		fs_error("%s: out of memory confirming the assignment of %s",
			 v->h->name, v->id);
		return;
	}
	v->cf = CF_WAIT;
	v->cf_rrev = v->request_rev;
	v->cf_attempt = v->attempt;
	ev_prepare_start(a->loop, &a->flush);
}

/* Why status value val (NULL: absent) does not confirm q, into why; or
 * 0 when it does. */
static int confirm_check(const struct agent_cfq *q, const char *key,
			 const struct etcd_kv *kv, char *why, size_t len)
{
	json_t *o, *host, *rr, *att, *mv;
	int64_t r, t;
	int rc = -EINVAL;
	bool moving;

	if (!kv) {
		snprintf(why, len, "no status %s", key);
		return -ENOENT;
	}
	o = json_loadb(kv->value, kv->value_len, 0, NULL);
	host = json_object_get(o, "host");
	rr = json_object_get(o, "request_rev");
	att = json_object_get(o, "attempt");
	mv = json_object_get(o, "moving_to");
	r = json_is_integer(rr) ? (int64_t)json_integer_value(rr) : 0;
	t = json_is_integer(att) ? (int64_t)json_integer_value(att) : 0;
	/* A drain's replacement on this host: the status still names the
	 * original (running) and its attempt; the replacement is the next
	 * attempt (docs/DESIGN.md "Drain moves"). */
	moving = json_is_string(mv) &&
		 strcmp(json_string_value(mv), q->h->name) == 0;
	if (!json_is_object(o))
		snprintf(why, len, "%s is unreadable", key);
	else if (!moving && (!json_is_string(host) ||
			     strcmp(json_string_value(host), q->h->name) != 0))
		snprintf(why, len, "%s names host \"%s\"", key,
			 json_is_string(host) ? json_string_value(host) : "");
	else if (r != q->rrev)
		snprintf(why, len,
			 "%s is of request revision %" PRId64
			 ", the assignment of %" PRId64,
			 key, r, q->rrev);
	else if (t + moving != q->attempt)
		snprintf(why, len,
			 "%s is of attempt %" PRId64 "%s, the assignment of "
			 "%" PRId64,
			 key, t + moving, moving ? " (moving here)" : "",
			 q->attempt);
	else
		rc = 0;
	json_decref(o);
	return rc;
}

static void cf_done(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res)
{
	struct cf_batch *b = arg;
	agent *a = b->a;

	a->cq_inflight = false;
	if (a->stopping || (err && err->code == ETCD_ECANCELED)) {
		free(b);
		return;
	}
	if (err || !res || res->n_responses < b->n) {
		fs_warn("confirming %zu assignment(s) (%s/status/%s, ...): %s; "
			"retrying in %.0f s",
			b->n, a->prefix, b->q[0].id,
			err ? agent_err_str(err) : "short answer", CQ_RETRY_S);
		/* asked again after the retry, if still waiting for it */
		for (size_t i = 0; i < b->n; i++) {
			struct vm *v = agent_vm_find(b->q[i].h, b->q[i].id,
						     false);

			if (!v || v->cf != CF_WAIT ||
			    v->cf_rrev != b->q[i].rrev ||
			    v->cf_attempt != b->q[i].attempt)
				continue;
			if (cq_push(a, &b->q[i]) < 0) {
				fs_error("%s: out of memory confirming the "
					 "assignment of %s",
					 v->h->name, v->id);
				v->cf = CF_NONE;
			}
		}
		ev_timer_set(&a->cq_retry, CQ_RETRY_S, 0);
		ev_timer_start(a->loop, &a->cq_retry);
		free(b);
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct agent_cfq *q = &b->q[i];
		const struct etcd_range_result *rr = &res->responses[i].u.range;
		struct vm *v = agent_vm_find(q->h, q->id, false);
		char key[KEY_MAX], why[512];
		int rc;

		if (!v || v->zombie || v->cf != CF_WAIT ||
		    v->cf_rrev != q->rrev || v->cf_attempt != q->attempt)
			continue; /* gone, or assigned anew meanwhile */
		snprintf(key, sizeof(key), "%s/status/%s", a->prefix, q->id);
		rc = confirm_check(q, key,
				   res->responses[i].type == ETCD_OP_RANGE &&
					   rr->n_kvs
				       ? &rr->kvs[0]
				       : NULL,
				   why, sizeof(why));
		v->cf = rc == 0 ? CF_OK : CF_REFUSED;
		if (rc < 0)
			a->n_refused++;
		if (a->on_confirmed)
			a->on_confirmed(v, rc == 0 ? NULL : why);
	}
	free(b);
	if (a->cq_head < a->n_cq)
		ev_prepare_start(a->loop, &a->flush); /* what came meanwhile */
}

void agent_confirm_flush(agent *a)
{
	if (a->cq_head < a->n_cq && !a->stopping && !a->cq_inflight &&
	    !ev_is_active(&a->cq_retry)) {
		struct cf_batch *b = calloc(1, sizeof(*b));
		char keys[CQ_BATCH][KEY_MAX];
		struct etcd_op ops[CQ_BATCH];
		struct etcd_txn_req txn = {.success = ops};

		if (!b) {
			ev_timer_set(&a->cq_retry, CQ_RETRY_S, 0);
			ev_timer_start(a->loop, &a->cq_retry);
			return;
		}
		b->a = a;
		while (a->cq_head < a->n_cq && b->n < CQ_BATCH) {
			struct agent_cfq *q = &a->cq[a->cq_head++];

			snprintf(keys[b->n], KEY_MAX, "%s/status/%s",
				 a->prefix, q->id);
			ops[b->n] = (struct etcd_op){
			    .type = ETCD_OP_RANGE,
			    .u.range = {.key = keys[b->n]}};
			b->q[b->n++] = *q;
		}
		if (a->cq_head == a->n_cq)
			a->cq_head = a->n_cq = 0;
		txn.n_success = b->n;
		a->cq_inflight = true;
		if (etcd_kv_txn(a->etcd, &txn, cf_done, b) < 0) {
			struct etcd_error e = {.code = ETCD_ENOMEM};

			snprintf(e.message, sizeof(e.message),
				 "cannot send the read");
			cf_done(b, &e, NULL); /* parks, retries */
			return;
		}
	}
}

void agent_confirm_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	agent *a = w->data;

	(void)revents;
	if (a->cq_head < a->n_cq)
		ev_prepare_start(loop, &a->flush);
}

void agent_confirm_fini(agent *a)
{
	ev_timer_stop(a->loop, &a->cq_retry);
	free(a->cq);
	a->cq = NULL;
	a->n_cq = a->cap_cq = a->cq_head = 0;
}
