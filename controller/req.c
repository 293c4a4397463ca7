/* Request records of the cache (struct ctrl_req) and the lists they are
 * on: created, freed, marked dirty (drained by pass.c), queued, ready for
 * a commit (drained by commit.c), their work abandoned.  Calls host.c. */
#include "controller/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ctrl_req *ctrl_req_get(struct ctrl *c, const char *id, bool create)
{
	struct ctrl_req *r = ctrl_map_get(&c->reqs, id);

	if (r || !create || strlen(id) > FS_NAME_MAX)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	strcpy(r->id, id);
	r->c = c;
	r->slot = fs_slot_of(id, c->k);
	r->q.qpos = CTRL_QPOS_NONE;
	r->unsched_gen = -1;
	ev_init(&r->round_timer, NULL);
	ev_init(&r->lost_timer, NULL);
	if (ctrl_map_put(&c->reqs, id, r) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

void ctrl_req_forget_led(struct ctrl_req *r)
{
	if (r->st_present) {
		ctrl_status_clear(&r->st);
		memset(&r->st, 0, sizeof(r->st));
		r->st_present = false;
	}
	r->st_garbage = false;
	r->st_rev = 0;
	while (r->n_asg)
		ctrl_req_asg_remove(r, r->n_asg - 1);
}

unsigned ctrl_req_slot_of(struct ctrl *c, const char *id)
{
	struct ctrl_req *r = ctrl_map_get(&c->reqs, id);

	return r ? r->slot : fs_slot_of(id, c->k);
}

void ctrl_req_reslot(struct ctrl_req *r, unsigned slot, bool was_present)
{
	struct ctrl *c = r->c;
	bool was_led = c->slots[r->slot].state == SLOT_LEADER;

	if (slot == r->slot || slot >= c->k)
		return;
	ctrl_req_abort(r);
	r->slot = slot;
	if (was_led && c->slots[slot].state != SLOT_LEADER) {
		ctrl_req_forget_led(r);
		r->n_stale = 0;
		r->round_key = false;
	}
	if (was_present && !was_led &&
	    c->slots[slot].state == SLOT_LEADER) {
		r->hold_seq = c->list_seq + 1;
		if (c->want_seq < r->hold_seq)
			c->want_seq = r->hold_seq;
	}
}

void ctrl_req_round_reset(struct ctrl_req *r)
{
	struct ctrl *c = r->c;

	if (r->round_open && c->rounds_open)
		c->rounds_open--;
	r->round_open = false;
	ev_timer_stop(c->loop, &r->round_timer);
	for (size_t i = 0; i < r->n_invited; i++) {
		struct ctrl_host *h = ctrl_host_get(c, r->invited[i], false);

		if (h && h->invites)
			h->invites--;
		ctrl_host_unref(c, h);
		free(r->invited[i]);
	}
	free(r->invited);
	r->invited = NULL;
	r->n_invited = 0;
	for (size_t i = 0; i < r->n_bids; i++)
		(void)ctrl_req_stale_add(r, r->bids[i].host);
	free(r->bids);
	r->bids = NULL;
	r->n_bids = 0;
	ctrl_req_cands_clear(r);
	ctrl_explain_clear(&r->explain);
}

void ctrl_req_cands_clear(struct ctrl_req *r)
{
	for (size_t i = 0; i < r->n_cands; i++) {
		struct ctrl_host *h = r->cands[i].data;

		if (h && h->refs)
			h->refs--;
		ctrl_host_unref(r->c, h);
	}
	free(r->cands);
	r->cands = NULL;
	r->n_cands = 0;
}

void ctrl_req_round_closed(struct ctrl_req *r)
{
	free(r->bids);
	r->bids = NULL;
	r->n_bids = 0;
	r->round_key = false;
	r->round_attempt = 0;
	ctrl_req_round_reset(r);
}

int ctrl_req_stale_add(struct ctrl_req *r, const char *host)
{
	char(*v)[FS_NAME_MAX + 1];

	if (strlen(host) > FS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < r->n_stale; i++)
		if (strcmp(r->stale[i], host) == 0)
			return 0;
	v = realloc(r->stale, (r->n_stale + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->stale = v;
	strcpy(r->stale[r->n_stale++], host);
	return 0;
}

bool ctrl_req_inv_has(const struct ctrl_req *r, const char *host)
{
	for (size_t i = 0; i < r->n_inv; i++)
		if (strcmp(r->inv[i], host) == 0)
			return true;
	return false;
}

int ctrl_req_inv_add(struct ctrl_req *r, const char *host)
{
	char(*v)[FS_NAME_MAX + 1];

	if (strlen(host) > FS_NAME_MAX || ctrl_req_inv_has(r, host))
		return 0;
	v = realloc(r->inv, (r->n_inv + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->inv = v;
	strcpy(r->inv[r->n_inv++], host);
	return 0;
}

void ctrl_req_inv_remove(struct ctrl_req *r, const char *host)
{
	for (size_t i = 0; i < r->n_inv; i++) {
		if (strcmp(r->inv[i], host) == 0) {
			if (i != --r->n_inv)
				memcpy(r->inv[i], r->inv[r->n_inv],
				       sizeof(r->inv[i]));
			return;
		}
	}
}

static void ready_unlink(struct ctrl *c, struct ctrl_req *r)
{
	struct ctrl_req **p;

	for (p = &c->ready_head; *p; p = &(*p)->ready_next) {
		if (*p == r) {
			*p = r->ready_next;
			break;
		}
	}
	c->ready_tail = &c->ready_head;
	while (*c->ready_tail)
		c->ready_tail = &(*c->ready_tail)->ready_next;
	r->ready_next = NULL;
}

/* Abandons whatever the request was doing (slot lost, request gone). */
void ctrl_req_abort(struct ctrl_req *r)
{
	struct ctrl *c = r->c;

	if (r->act == ACT_TXN)
		return; /* the txn's answer resets it */
	if (r->act == ACT_QUEUED)
		ctrl_queue_remove(&c->queue, &r->q);
	if (r->act == ACT_READY)
		ready_unlink(c, r);
	ctrl_req_round_reset(r);
	r->act = ACT_NONE;
}

struct ctrl_asg *ctrl_req_asg(struct ctrl_req *r, const char *host)
{
	for (size_t i = 0; i < r->n_asg; i++)
		if (strcmp(r->asg[i].host, host) == 0)
			return &r->asg[i];
	return NULL;
}

struct ctrl_vm *ctrl_req_vm(struct ctrl_req *r, const char *host)
{
	for (size_t i = 0; i < r->n_vms; i++)
		if (strcmp(r->vms[i].host, host) == 0)
			return &r->vms[i];
	return NULL;
}

void ctrl_req_asg_remove(struct ctrl_req *r, size_t i)
{
	ctrl_host_asg(r->c, r->asg[i].host, -1);
	fs_need_clear(&r->asg[i].need);
	r->asg[i] = r->asg[--r->n_asg];
}

void ctrl_req_vm_remove(struct ctrl_req *r, size_t i)
{
	free(r->vms[i].error);
	r->vms[i] = r->vms[--r->n_vms];
}

void ctrl_req_xvictim_drop(struct ctrl_req *r)
{
	if (!r->xv)
		return;
	ctrl_status_clear(&r->xv->st);
	fs_need_clear(&r->xv->need);
	free(r->xv);
	r->xv = NULL;
}

bool ctrl_req_parse(struct ctrl_req *r)
{
	if (r->parsed_rev == r->req_rev)
		return r->valid;
	ctrl_request_clear(&r->parsed);
	r->valid = ctrl_request_parse(r->id, r->req_val, r->req_len, &r->parsed,
				      r->reason, sizeof(r->reason)) == 0;
	r->parsed_rev = r->req_rev;
	r->tries = 0;
	r->waits = 0;
	r->retry_at = 0;
	return r->valid;
}

static void req_free(struct ctrl_req *r)
{
	ctrl_req_abort(r);
	ctrl_req_xvictim_drop(r);
	ev_timer_stop(r->c->loop, &r->lost_timer);
	free(r->req_val);
	ctrl_request_clear(&r->parsed);
	ctrl_status_clear(&r->st);
	while (r->n_asg)
		ctrl_req_asg_remove(r, r->n_asg - 1);
	free(r->asg);
	while (r->n_vms)
		ctrl_req_vm_remove(r, r->n_vms - 1);
	free(r->vms);
	free(r->stale);
	free(r->inv);
	free(r);
}

/* Forgets a request nobody refers to any more (only on news from the
 * watch, which is in revision order, so nothing older can follow).  One
 * held for a list (hold_seq: a rewrite moved it into a slot we lead, a
 * txn's outcome unknown) is kept until that list is in: the statuses it
 * reads are the record's slot's, and without the record a status of the
 * request deleted meanwhile was taken for another slot's and stayed. */
void ctrl_req_maybe_free(struct ctrl *c, struct ctrl_req *r)
{
	if (r->req_present || r->st_present || r->n_asg || r->n_vms ||
	    r->act != ACT_NONE || r->dirty || r->round_key || r->n_stale ||
	    r->n_inv || r->hold_seq)
		return;
	ctrl_map_del(&c->reqs, r->id);
	req_free(r);
}

void ctrl_req_dirty(struct ctrl_req *r)
{
	if (r->dirty)
		return;
	r->dirty = true;
	r->dirty_next = r->c->dirty_head;
	r->c->dirty_head = r;
}

void ctrl_req_ready_push(struct ctrl *c, struct ctrl_req *r)
{
	r->act = ACT_READY;
	r->ready_next = NULL;
	*c->ready_tail = r;
	c->ready_tail = &r->ready_next;
}

bool ctrl_req_avoids(const struct ctrl_req *r, const char *host)
{
	return r->st_present && r->st.request_rev == r->spec_rev &&
	       ctrl_status_avoids(&r->st, host);
}

void ctrl_req_place(const struct ctrl *c, const struct ctrl_req *r,
		    struct ctrl_place *p)
{
	*p = (struct ctrl_place){
	    .id = r->id,
	    .need = &r->parsed.need,
	    .slot = r->slot,
	    .avoid = r->st_present && r->st.request_rev == r->spec_rev ? &r->st
								      : NULL,
	    .w = c->w,
	    .strategy = (enum fs_strategy)c->cfg->strategy,
	    .band = c->band,
	    .stale = c->stale_reason};
}

static void free_req(void *arg, const char *key, void *val)
{
	struct ctrl_req *r = val;

	(void)arg;
	(void)key;
	r->act = r->act == ACT_TXN ? ACT_NONE : r->act;
	req_free(r);
}

void ctrl_req_free_all(struct ctrl *c)
{
	ctrl_map_each(&c->reqs, free_req, NULL);
	ctrl_map_clear(&c->reqs);
}
