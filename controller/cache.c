/* The cache's records from etcd's puts and deletes (list, watch, and our
 * own txns' answers), newer revisions only, and the sweep after a list.
 * Calls key.c, host.c, req.c (and request.c for assignments); tells the
 * slots layer through c->hooks. */
#include "controller/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

/* {"request": {...spec...}, "request_rev", "attempt"} -> need */
int ctrl_cache_asg_need(const char *id, const char *val, size_t len,
			struct fs_need *need, int64_t *ret_rrev,
			int64_t *ret_attempt)
{
	struct ctrl_request p;
	int rc = ctrl_request_of_asg(id, val, len, &p, ret_rrev, ret_attempt);

	if (rc == 0) {
		*need = p.need; /* the rest (priority, gang) is not needed */
		memset(&p.need, 0, sizeof(p.need));
		ctrl_request_clear(&p);
	}
	return rc < 0 ? -EINVAL : rc;
}

static void capacity_changed(struct ctrl *c)
{
	c->cap_gen++;
	c->pass_all = true;
}

static void slot_cand_del(struct ctrl_slot *s, const char *lease)
{
	for (size_t i = 0; i < s->n_cands; i++) {
		if (strcmp(s->cands[i].lease, lease) == 0) {
			s->cands[i] = s->cands[--s->n_cands];
			return;
		}
	}
}

/* Records a candidacy key (create == 0: a put we made, not listed). */
static void slot_cand_put(struct ctrl_slot *s, const char *lease,
			  int64_t create, const char *val, size_t len)
{
	struct slot_cand *v;

	if (create <= 0 || strlen(lease) >= sizeof(v->lease))
		return;
	for (v = s->cands; v < s->cands + s->n_cands; v++)
		if (strcmp(v->lease, lease) == 0)
			break;
	if (v == s->cands + s->n_cands) {
		/* grown first: on ENOMEM the candidacies stay as they were
		 * (deleting the old one first lost it) */
		v = realloc(s->cands, (s->n_cands + 1) * sizeof(*v));
		if (!v)
			return;
		s->cands = v;
		v += s->n_cands++;
	}
	strcpy(v->lease, lease);
	v->crev = create;
	snprintf(v->name, sizeof(v->name), "%.*s",
		 (int)(len < FS_NAME_MAX ? len : FS_NAME_MAX), val);
}

/* Name of the controller leading slot s as the cache says, or NULL. */
const char *ctrl_cache_slot_leader(const struct ctrl_slot *s)
{
	const struct slot_cand *best = NULL;

	for (size_t i = 0; i < s->n_cands; i++)
		if (!best || s->cands[i].crev < best->crev)
			best = &s->cands[i];
	return best ? best->name : NULL;
}

/* The slot of a status or round key of request id when the cache has no
 * record of the request: the slot its coordinator ("<name>/slot-<i>")
 * wrote it for, which was the request's (its group's, docs/DESIGN.md
 * "Placement protocol" 1); else, a value that names none, the id's. */
static unsigned coord_slot(const struct ctrl *c, const char *id,
			   const char *coordinator)
{
	const char *p = coordinator ? strrchr(coordinator, '/') : NULL;
	unsigned i;
	int n = 0;

	if (p && sscanf(p, "/slot-%u%n", &i, &n) == 1 && !p[n] && i < c->k)
		return i;
	return fs_slot_of(id, c->k);
}

/*
 * P/status/<id> at mod: own (taken) is what the controller wrote, else
 * val is parsed.  Cached for led slots only: not watched (ctrl_wch), it
 * would go stale.  A status listed with no record of its request is
 * that of a request deleted while this controller did not lead its slot
 * (its record went with the delete; requests/ is listed before
 * status/): it belongs to the slot that wrote it.  Taken as the id's
 * slot, the status of a deleted request of a group whose id hashes
 * elsewhere (an unschedulable one: no assignment names its group) was
 * left to a coordinator that never lists it, and stayed for good (CI,
 * test_constraints_burst; test_commit.c
 * test_deleted_group_status_forgotten).
 */
void ctrl_cache_status(struct ctrl *c, const char *key, const char *id,
		       const char *val, size_t len, struct ctrl_status *own,
		       int64_t mod)
{
	struct ctrl_status st = {0};
	struct ctrl_req *r = ctrl_map_get(&c->reqs, id);
	char err[256];
	bool garbage = false, parsed = false;
	unsigned slot;

	if (!r && !own) {
		garbage =
		    ctrl_status_parse(val, len, &st, err, sizeof(err)) < 0;
		parsed = true;
	}
	slot = r ? r->slot : coord_slot(c, id, (own ? own : &st)->coordinator);
	if (c->slots[slot].state != SLOT_LEADER)
		goto out;
	if (!r) {
		if (!(r = ctrl_req_get(c, id, true)))
			goto out;
		r->slot = slot;
	}
	r->st_seen = c->list_gen;
	/* A put at the revision the cache holds as a delete's contradicts
	 * it (only a guess, the sweep's, can say that): the put wins. */
	if (mod < r->st_rev || (mod == r->st_rev && r->st_present))
		goto out;
	if (own) {
		st = *own;
		memset(own, 0, sizeof(*own));
	} else if (!parsed) {
		garbage =
		    ctrl_status_parse(val, len, &st, err, sizeof(err)) < 0;
	}
	if (garbage) {
		/* Someone wrote garbage: reconcile rewrites it from what
		 * the coordinator owns (the assignment, if any). */
		fs_warn("%s: %s; rewriting it", key, err);
		ctrl_status_clear(&st);
	}
	ctrl_status_clear(&r->st);
	r->st = st;
	memset(&st, 0, sizeof(st)); /* r's now */
	r->st_garbage = garbage;
	r->st_present = true;
	r->st_rev = mod;
	ctrl_req_dirty(r);
out:
	ctrl_status_clear(&st);
	if (own)
		ctrl_status_clear(own);
}

/* P/assign/<host>/<id> at mod: own (taken) is the need the controller
 * assigned, else val is parsed.  Led slots only, as statuses. */
void ctrl_cache_assign(struct ctrl *c, const char *key, const char *host,
		       const char *id, const char *val, size_t len,
		       struct fs_need *own, int64_t mod)
{
	struct ctrl_req *r;
	struct ctrl_asg *v;
	unsigned slot;
	size_t i;

	/* Listed before its request (assign/ sorts first): the slot of
	 * the request it holds. */
	slot = ctrl_map_get(&c->reqs, id) || own
		   ? ctrl_req_slot_of(c, id)
		   : ctrl_request_slot(id, val, len, true, c->k);
	if (c->slots[slot].state != SLOT_LEADER ||
	    !(r = ctrl_req_get(c, id, true)))
		goto out;
	if (!r->req_present)
		r->slot = slot;
	for (i = 0; i < r->n_asg; i++)
		if (strcmp(r->asg[i].host, host) == 0)
			break;
	if (i < r->n_asg) {
		r->asg[i].seen = c->list_gen;
		if (mod <= r->asg[i].rev)
			goto out;
		ctrl_req_asg_remove(r, i);
	}
	v = realloc(r->asg, (r->n_asg + 1) * sizeof(*v));
	if (!v)
		goto out;
	r->asg = v;
	v += r->n_asg;
	memset(v, 0, sizeof(*v));
	strcpy(v->host, host);
	v->rev = mod;
	v->seen = c->list_gen;
	if (own) {
		/* our commit, which compared the request's revision */
		v->need = *own;
		memset(own, 0, sizeof(*own));
		v->spec_rev = r->spec_rev;
	} else if (ctrl_cache_asg_need(id, val, len, &v->need, &v->spec_rev,
				       &v->attempt) < 0) {
		fs_warn("assignment %s: cannot read its request", key);
	}
	r->n_asg++;
	ctrl_host_asg(c, host, 1);
	ctrl_req_dirty(r);
out:
	if (own)
		fs_need_clear(own);
}

/* P/hosts/<a>: a host record (joined, or its capacity changed). */
static void put_host(struct ctrl *c, const char *key, const char *a,
		     const char *val, size_t len, int64_t mod)
{
	struct ctrl_host *h;
	char err[256];
	struct fs_host rec;
	bool was;

	if (!(h = ctrl_host_get(c, a, true)))
		return;
	h->seen = c->list_gen;
	if (mod <= h->rev)
		return;
	if (fs_host_parse(val, len, &rec, err, sizeof(err)) < 0) {
		fs_warn("ignoring host record %s: %s", key, err);
		return;
	}
	if (strcmp(rec.host, a) != 0) {
		/* A record naming another host is no host (issue 13 #5). */
		fs_warn("ignoring host record %s: it names host %s",
			key, fs_quote(err, sizeof(err), rec.host, FS_QUOTE_MAX));
		fs_host_clear(&rec);
		ctrl_cache_del(c, key, mod);
		return;
	}
	was = h->present;
	ctrl_host_keepalives_add(c, h, -1);
	if (was && (rec.allocatable.vcpu > h->rec.allocatable.vcpu ||
		    rec.allocatable.memory_mb > h->rec.allocatable.memory_mb ||
		    rec.allocatable.vms > h->rec.allocatable.vms))
		capacity_changed(c);
	fs_host_clear(&h->rec);
	h->rec = rec;
	h->present = true;
	h->rev = mod;
	h->rec_at = ev_now(c->loop);
	ctrl_host_keepalives_add(c, h, +1);
	ctrl_host_keepalives_check(c);
	if (h->stale) {
		fs_info("host %s rewrote its record: no longer stale", a);
		h->stale = false;
		capacity_changed(c);
	}
	if (!was) {
		fs_info("host %s joined", a);
		capacity_changed(c);
	}
	if (h->gone_at > 0) {
		/* back within the grace: its VMs' statuses say so */
		fs_info("host %s reconnected", a);
		h->gone_at = 0;
		c->pass_all = true;
	}
}

/* A drain's max_parallel (default 1) and deadline (RFC 3339 UTC, 0 =
 * none) from the P/hostctl/ object o (may be NULL). */
static void hostctl_drain(struct ctrl_host *h, json_t *o)
{
	json_t *mp = json_object_get(o, "max_parallel");
	const char *dl = json_string_value(json_object_get(o, "deadline"));
	struct tm tm = {0};

	h->drain_max = json_is_integer(mp) && json_integer_value(mp) > 0
			   ? (int64_t)json_integer_value(mp)
			   : 1;
	h->drain_deadline = 0;
	if (dl && sscanf(dl, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon,
			 &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
			 &tm.tm_sec) == 6) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		h->drain_deadline = (double)timegm(&tm);
	}
}

/* P/drain/<a>: {"moves": [ids]}, the make-before-break moves off host a
 * in flight (drain.c writes it by CAS); what waited for the budget looks
 * again. */
static void put_drain(struct ctrl *c, const char *a, const char *val,
		      size_t len, int64_t mod)
{
	struct ctrl_host *h = ctrl_host_get(c, a, true);
	json_t *o, *mv, *x;
	size_t i;
	char **v;

	if (!h)
		return;
	h->moves_seen = c->list_gen;
	if (mod <= h->moves_rev)
		return;
	o = json_loadb(val, len, 0, NULL);
	mv = json_object_get(o, "moves");
	v = calloc(json_array_size(mv) + 1, sizeof(*v));
	if (!v) {
		json_decref(o);
		return;
	}
	ctrl_host_moves_clear(h);
	h->moving = v;
	json_array_foreach (mv, i, x)
		if (json_is_string(x) &&
		    (v[h->n_moving] = strdup(json_string_value(x))))
			h->n_moving++;
	json_decref(o);
	h->moves_present = true;
	h->moves_rev = mod;
	c->pass_all = true;
}

/* P/hostctl/<a>: the operator's cordon or drain of host a.  An empty
 * value is normal, and so is one that is not {"state":
 * "cordoned"|"drain", ...} (docs/DESIGN.md "Host lifecycle keys"; as
 * flintschedctl reads it), with a warning. */
static void put_hostctl(struct ctrl *c, const char *a, const char *val,
			size_t len, int64_t mod)
{
	struct ctrl_host *h = ctrl_host_get(c, a, true);
	int was, now = CTRL_HOST_NORMAL;
	json_t *o, *st;

	if (!h)
		return;
	h->ctl_seen = c->list_gen;
	if (mod <= h->ctl_rev)
		return;
	h->ctl_rev = mod;
	o = len ? json_loadb(val, len, 0, NULL) : NULL;
	st = json_object_get(o, "state");
	hostctl_drain(h, o);
	if (json_is_string(st) && strcmp(json_string_value(st), "drain") == 0)
		now = CTRL_HOST_DRAIN;
	else if (json_is_string(st) &&
		 strcmp(json_string_value(st), "cordoned") == 0)
		now = CTRL_HOST_CORDONED;
	else if (len)
		fs_warn("hostctl/%s: not {\"state\": \"cordoned\"|\"drain\"}; "
			"taken as normal",
			a);
	json_decref(o);
	was = h->cordon;
	h->cordon = now;
	if (now == CTRL_HOST_DRAIN)
		c->pass_all = true; /* its VMs move (drain.c) */
	if (was != now) {
		fs_info("host %s %s", a,
			now == CTRL_HOST_DRAIN       ? "draining (cordoned)"
			: now == CTRL_HOST_CORDONED ? "cordoned"
						    : "uncordoned");
		if (!now)
			capacity_changed(c);
	}
}

/* P/alloc/<a>: what is committed on host a. */
static void put_alloc(struct ctrl *c, const char *key, const char *a,
		      const char *val, size_t len, int64_t mod)
{
	struct ctrl_host *h;
	char err[256];
	struct fs_alloc al;

	if (!(h = ctrl_host_get(c, a, true)))
		return;
	h->seen = c->list_gen;
	if (mod <= h->alloc_rev)
		return;
	if (fs_alloc_parse(val, len, &al, err, sizeof(err)) < 0) {
		/* Kept as it was, every commit on h compared the old
		 * revision, failed and read the garbage back (a livelock):
		 * it is rebuilt from the host's assignments instead. */
		if (!h->alloc_bad)
			fs_warn("%s: %s; rebuilding it from the host's "
				"assignments",
				key, err);
		fs_alloc_clear(&h->alloc);
		memset(&h->alloc, 0, sizeof(h->alloc));
		h->alloc_present = true;
		h->alloc_rev = mod;
		ctrl_host_alloc_bad(c, h, true);
		return;
	}
	if (h->alloc_present && al.used.vms < h->alloc.used.vms)
		capacity_changed(c);
	fs_alloc_clear(&h->alloc);
	h->alloc = al;
	h->alloc_present = true;
	h->alloc_rev = mod;
	ctrl_host_alloc_bad(c, h, false);
}

/* P/requests/<a>: a user's request, kept whole for reconcile, but one
 * over CTRL_REQUEST_MAX: its size is all its rejection needs (ten of
 * 1.4 MiB kept whole grew the controller by 20 MiB). */
static void put_request(struct ctrl *c, const char *a, const char *val,
			size_t len, int64_t create, int64_t mod)
{
	struct ctrl_req *r;
	char *v = NULL;

	if (!(r = ctrl_req_get(c, a, true)))
		return;
	r->req_seen = c->list_gen;
	if (mod <= r->req_rev)
		return;
	if (len <= CTRL_REQUEST_MAX) {
		v = malloc(len + 1);
		if (!v)
			return;
		memcpy(v, val, len);
		v[len] = '\0';
	}
	if (!r->req_present || !r->req_val || r->req_len != len ||
	    memcmp(r->req_val, val, len) != 0) {
		r->spec_rev = mod; /* a new version, not a re-put */
		ctrl_request_hash(val, len, r->req_hash);
		ctrl_req_reslot(r, ctrl_request_slot(a, v, v ? len : 0, false,
						     c->k),
				r->req_present);
	}
	free(r->req_val);
	r->req_val = v;
	r->req_len = len;
	r->req_present = true;
	r->req_rev = mod;
	r->seen_at = ev_now(c->loop);
	r->q.create_rev = create ? create : r->q.create_rev;
	ctrl_req_dirty(r);
}

/* P/vms/<a>/<b>: the state of request b's VM on host a. */
static void put_vm(struct ctrl *c, const char *a, const char *b,
		   const char *val, size_t len, int64_t mod)
{
	struct ctrl_req *r;
	struct ctrl_vm *v;
	json_t *root;
	const char *s;
	size_t i;

	if (!(r = ctrl_req_get(c, b, true)))
		return;
	for (i = 0; i < r->n_vms; i++)
		if (strcmp(r->vms[i].host, a) == 0)
			break;
	if (i == r->n_vms) {
		v = realloc(r->vms, (r->n_vms + 1) * sizeof(*v));
		if (!v)
			return;
		r->vms = v;
		memset(&v[i], 0, sizeof(*v));
		strcpy(v[i].host, a);
		r->n_vms++;
	}
	v = &r->vms[i];
	v->seen = c->list_gen;
	if (mod <= v->rev)
		return;
	v->rev = mod;
	root = json_loadb(val, len, 0, NULL);
	s = json_string_value(json_object_get(root, "state"));
	snprintf(v->state, sizeof(v->state), "%s", s ? s : "");
	s = json_string_value(json_object_get(root, "error"));
	free(v->error);
	v->error = s && *s ? strdup(s) : NULL;
	json_decref(root);
	ctrl_req_dirty(r);
}

/*
 * A bid of host a for request b listed while the cache has no record of
 * b: nothing in a bid names its slot, and bids/ sorts before the keys
 * that do (invites/, requests/, rounds/, status/), so its slot is taken
 * once the list is in (listed_bids_take).  Out of memory, it is skipped
 * as before (the next list sees it).
 */
static void listed_bid_add(struct ctrl *c, const char *a, const char *b)
{
	struct ctrl_lbid *v;

	if (strlen(a) > FS_NAME_MAX || strlen(b) > FS_NAME_MAX)
		return;
	v = realloc(c->lbids, (c->n_lbids + 1) * sizeof(*v));
	if (!v)
		return;
	c->lbids = v;
	v += c->n_lbids++;
	strcpy(v->host, a);
	strcpy(v->id, b);
}

/* Pref if we lead it, else the lowest slot we lead, else c->k. */
static unsigned led_slot(const struct ctrl *c, unsigned pref)
{
	if (pref < c->k && c->slots[pref].state == SLOT_LEADER)
		return pref;
	for (unsigned i = 0; i < c->k; i++)
		if (c->slots[i].state == SLOT_LEADER)
			return i;
	return c->k;
}

/*
 * The bids listed with no record of their request, once the list is in:
 * each is the slot's of the record the rest of the list made (the
 * request's, or, the request deleted, the slot its invitation, round or
 * status names), deleted as stale (no round of ours is open on it) when
 * we lead that slot.  With no record even now the list held nothing else
 * of the request: absent, and no key names its slot, so the bid is
 * garbage; deleted under the id's slot if we lead it, else the first we
 * lead.  Taken for the id's slot, the bid of a deleted request of a
 * group whose id hashes elsewhere, left by a coordinator that lost the
 * group's slot, was skipped by the slot's next coordinator; the id's
 * slot's, which saw the bid's put while the request was there (the
 * group's then), lists nothing: it stayed for as long as its host's
 * lease (test_commit.c test_deleted_group_invite_bid_forgotten,
 * test_deleted_request_bid_alone).
 */
static void listed_bids_take(struct ctrl *c)
{
	for (size_t i = 0; i < c->n_lbids; i++) {
		const struct ctrl_lbid *l = &c->lbids[i];
		struct ctrl_req *r = ctrl_map_get(&c->reqs, l->id);
		unsigned slot =
		    r ? r->slot : led_slot(c, fs_slot_of(l->id, c->k));

		if (slot >= c->k || c->slots[slot].state != SLOT_LEADER)
			continue;
		if (!r) {
			if (!(r = ctrl_req_get(c, l->id, true)))
				continue;
			r->slot = slot;
		}
		if (ctrl_req_stale_add(r, l->host) == 0)
			ctrl_req_dirty(r);
	}
	free(c->lbids);
	c->lbids = NULL;
	c->n_lbids = 0;
}

/* P/bids/<a>/<b>: host a's bid for request b, kept while its round is
 * open (rounds.c closes it when every invited host bid).  Any other bid
 * of a led slot (late, of an older round, for a round we did not open,
 * unreadable) goes to r->stale: the coordinator deletes it (a host's
 * lease outlives any round, so nothing else would). */
static void put_bid(struct ctrl *c, const char *key, const char *a,
		    const char *b, const char *val, size_t len)
{
	bool led = c->slots[ctrl_req_slot_of(c, b)].state == SLOT_LEADER;
	struct ctrl_req *r;
	char err[256];
	struct fs_bid bid;
	struct ctrl_rbid *v;
	size_t i;

	if (c->listing && !ctrl_map_get(&c->reqs, b)) {
		listed_bid_add(c, a, b);
		return;
	}
	r = ctrl_req_get(c, b, led);
	if (!r)
		return;
	/* A bid may overtake the answer to our round put (watch
	 * stream vs. txn response): keep it, or the round waits for
	 * its timeout. */
	if (!((r->act == ACT_ROUND && r->round_open) ||
	      (r->act == ACT_TXN && r->round_sending)))
		goto stale;
	if (fs_bid_parse(val, len, &bid, err, sizeof(err)) < 0) {
		fs_warn("ignoring bid %s: %s", key, err);
		goto stale;
	}
	if (bid.attempt != r->round_attempt)
		goto stale;
	if (r->invited) {
		for (i = 0; i < r->n_invited; i++)
			if (strcmp(r->invited[i], a) == 0)
				break;
		if (i == r->n_invited)
			goto stale;
	}
	for (i = 0; i < r->n_bids; i++)
		if (strcmp(r->bids[i].host, a) == 0)
			break;
	if (i == r->n_bids) {
		v = realloc(r->bids, (r->n_bids + 1) * sizeof(*v));
		if (!v)
			return;
		r->bids = v;
		strcpy(v[i].host, a);
		r->n_bids++;
		c->m.bids++;
	}
	r->bids[i].bid = bid;
	ctrl_req_dirty(r);
	return;
stale:
	if (led && ctrl_req_stale_add(r, a) == 0)
		ctrl_req_dirty(r);
}

/* A listed round key or invitation of r: the next round's attempt is
 * above its, and r is reconciled (its coordinator deletes it unless a
 * round reopens it). */
static void round_listed(struct ctrl_req *r, const char *val, size_t len)
{
	struct fs_round rd = {0};

	if (fs_round_parse(val, len, &rd, NULL, 0) == 0) {
		if (rd.attempt > r->last_attempt)
			r->last_attempt = rd.attempt;
		fs_round_clear(&rd);
	}
	ctrl_req_dirty(r);
}

/*
 * The record of request id of a round key or invitation (value val) if
 * it is of a slot we lead, else NULL.  Its slot is the record's (the
 * request's, its group's when it has one: not the id's); with no record
 * (the request was deleted while another controller led its slot, its
 * record going with the delete) the slot the round's coordinator put it
 * for.  Taken for the id's, the round keys of a request of a group whose
 * id hashes elsewhere were skipped by the group's slot's next
 * coordinator and never deleted (test_commit.c
 * test_listed_group_invite_renewed, test_deleted_group_round_forgotten).
 */
static struct ctrl_req *round_req(struct ctrl *c, const char *id,
				  const char *val, size_t len)
{
	struct ctrl_req *r = ctrl_map_get(&c->reqs, id);
	struct fs_round rd = {0};
	unsigned slot;

	if (r)
		return c->slots[r->slot].state == SLOT_LEADER ? r : NULL;
	if (fs_round_parse(val, len, &rd, NULL, 0) < 0)
		slot = fs_slot_of(id, c->k);
	else
		slot = coord_slot(c, id, rd.coordinator);
	fs_round_clear(&rd);
	if (c->slots[slot].state != SLOT_LEADER ||
	    !(r = ctrl_req_get(c, id, true)))
		return NULL;
	r->slot = slot;
	return r;
}

/* P/rounds/<a>, listed (rounds are not watched) or our own put (create
 * 0): a round key of a led slot.  Its coordinator deletes it unless it
 * reopens it, and opens the next round of a with a higher attempt
 * (agents skip a round put with the attempt they answered). */
static void put_round(struct ctrl *c, const char *a, const char *val,
		      size_t len, int64_t create)
{
	struct ctrl_req *r = round_req(c, a, val, len);

	if (!r)
		return;
	r->round_key = true;
	if (create)
		round_listed(r, val, len);
}

/* P/invites/<a>/<b>: host a's invitation to a sample round of b, listed
 * (invitations are not watched) or our own put (create 0).  Like a round
 * key: its coordinator deletes it with the round, or as a leftover. */
static void put_invite(struct ctrl *c, const char *a, const char *b,
		       const char *val, size_t len, int64_t create)
{
	struct ctrl_req *r = round_req(c, b, val, len);

	if (r && ctrl_req_inv_add(r, a) == 0 && create)
		round_listed(r, val, len);
}

/* P/election/slot-<i>/<b>: a candidacy for slot i. */
static void put_election(struct ctrl *c, const char *a, const char *b,
			 const char *val, size_t len, int64_t create)
{
	unsigned i;
	char mine[32];

	snprintf(mine, sizeof(mine), "%llx", (unsigned long long)c->lease);
	if (sscanf(a, "slot-%u", &i) != 1 || i >= c->k)
		return;
	slot_cand_put(&c->slots[i], b, create, val, len);
	if (c->lease && strcmp(b, mine) == 0 && c->slots[i].state == SLOT_NONE)
		c->hooks.withdraw(c, i);
}

/* P/controllers/<a>: a live controller; the value is the list
 * generation that last saw it (never 0), for the sweep. */
static void put_controller(struct ctrl *c, const char *a)
{
	bool was = ctrl_map_get(&c->ctrls, a) != NULL;

	if (ctrl_map_put(&c->ctrls, a,
			 (void *)(uintptr_t)(c->list_gen ? c->list_gen : 1)) < 0)
		return;
	if (!was) {
		fs_info("controller %s is live (%zu live)", a, c->ctrls.n);
		c->hooks.balance(c);
	}
}

void ctrl_cache_put(struct ctrl *c, const char *key, const char *val,
		    size_t len, int64_t create, int64_t mod)
{
	char kind[16], a[FS_NAME_MAX + 1], b[FS_NAME_MAX + 1];

	if (ctrl_key_split(c, key, kind, a, b) < 0)
		return;
	if (strcmp(kind, "hosts") == 0 && !b[0]) {
		put_host(c, key, a, val, len, mod);
	} else if (strcmp(kind, "alloc") == 0 && !b[0]) {
		put_alloc(c, key, a, val, len, mod);
	} else if (strcmp(kind, "hostctl") == 0 && !b[0]) {
		put_hostctl(c, a, val, len, mod);
	} else if (strcmp(kind, "drain") == 0 && !b[0]) {
		put_drain(c, a, val, len, mod);
	} else if (strcmp(kind, "requests") == 0 && !b[0]) {
		put_request(c, a, val, len, create, mod);
	} else if (strcmp(kind, "status") == 0 && !b[0]) {
		ctrl_cache_status(c, key, a, val, len, NULL, mod);
	} else if (strcmp(kind, "assign") == 0 && b[0]) {
		ctrl_cache_assign(c, key, a, b, val, len, NULL, mod);
	} else if (strcmp(kind, "vms") == 0 && b[0]) {
		put_vm(c, a, b, val, len, mod);
	} else if (strcmp(kind, "bids") == 0 && b[0]) {
		put_bid(c, key, a, b, val, len);
	} else if (strcmp(kind, "rounds") == 0 && !b[0]) {
		put_round(c, a, val, len, create);
	} else if (strcmp(kind, "invites") == 0 && b[0]) {
		put_invite(c, a, b, val, len, create);
	} else if (strcmp(kind, "election") == 0 && b[0]) {
		put_election(c, a, b, val, len, create);
	} else if (strcmp(kind, "controllers") == 0 && !b[0]) {
		put_controller(c, a);
	}
}

void ctrl_cache_del(struct ctrl *c, const char *key, int64_t rev)
{
	char kind[16], a[FS_NAME_MAX + 1], b[FS_NAME_MAX + 1];
	struct ctrl_host *h;
	struct ctrl_req *r;

	if (ctrl_key_split(c, key, kind, a, b) < 0)
		return;
	if (strcmp(kind, "hosts") == 0 && !b[0]) {
		h = ctrl_host_get(c, a, false);
		if (!h || rev <= h->rev)
			return;
		h->rev = rev;
		if (h->present) {
			fs_warn("host %s left (lease expired): "
				"disconnected; its VMs are lost after "
				"lost_after_s (the request's, else %lld s)",
				a, (long long)c->cfg->lost_after_s);
			h->gone_at = ev_now(c->loop);
			c->pass_all = true;
		}
		ctrl_host_keepalives_add(c, h, -1);
		h->present = false;
		ctrl_host_keepalives_check(c);
		h->stale = false;
		fs_host_clear(&h->rec);
		ctrl_host_unref(c, h);
	} else if (strcmp(kind, "hostctl") == 0 && !b[0]) {
		h = ctrl_host_get(c, a, false);
		if (!h || rev <= h->ctl_rev)
			return;
		h->ctl_rev = rev;
		if (h->cordon) {
			fs_info("host %s uncordoned", a);
			capacity_changed(c);
		}
		h->cordon = CTRL_HOST_NORMAL;
		ctrl_host_unref(c, h);
	} else if (strcmp(kind, "drain") == 0 && !b[0]) {
		h = ctrl_host_get(c, a, false);
		if (!h || rev <= h->moves_rev)
			return;
		h->moves_rev = rev;
		h->moves_present = false;
		ctrl_host_moves_clear(h);
		c->pass_all = true;
		ctrl_host_unref(c, h);
	} else if (strcmp(kind, "alloc") == 0 && !b[0]) {
		h = ctrl_host_get(c, a, false);
		if (!h || rev <= h->alloc_rev)
			return;
		if (h->alloc_present)
			capacity_changed(c);
		h->alloc_rev = rev;
		h->alloc_present = false;
		fs_alloc_clear(&h->alloc);
		memset(&h->alloc, 0, sizeof(h->alloc));
		ctrl_host_alloc_bad(c, h, false);
		ctrl_host_unref(c, h);
	} else if (strcmp(kind, "requests") == 0 && !b[0]) {
		r = ctrl_req_get(c, a, false);
		if (!r || rev <= r->req_rev)
			return;
		r->req_rev = rev;
		r->req_present = false;
		free(r->req_val);
		r->req_val = NULL;
		r->req_len = 0;
		ctrl_req_dirty(r);
	} else if (strcmp(kind, "status") == 0 && !b[0]) {
		r = ctrl_req_get(c, a, false);
		if (!r || rev <= r->st_rev)
			return;
		r->st_rev = rev;
		r->st_present = false;
		r->st_garbage = false;
		ctrl_status_clear(&r->st);
		ctrl_req_dirty(r);
	} else if (strcmp(kind, "assign") == 0 && b[0]) {
		r = ctrl_req_get(c, b, false);
		if (!r)
			return;
		for (size_t i = 0; i < r->n_asg; i++) {
			if (strcmp(r->asg[i].host, a) == 0 &&
			    rev > r->asg[i].rev) {
				ctrl_req_asg_remove(r, i);
				ctrl_req_dirty(r);
				break;
			}
		}
	} else if (strcmp(kind, "vms") == 0 && b[0]) {
		r = ctrl_req_get(c, b, false);
		if (!r)
			return;
		for (size_t i = 0; i < r->n_vms; i++) {
			if (strcmp(r->vms[i].host, a) == 0 &&
			    rev > r->vms[i].rev) {
				struct ctrl_asg *g = ctrl_req_asg(r, a);

				/* of an assignment still cached: was it
				 * deleted unseen (a preemption by another
				 * slot's coordinator)?  reconcile reads it */
				if (g && r->vms[i].rev > g->rev)
					r->vm_gone_rev = r->vms[i].rev;
				ctrl_req_vm_remove(r, i);
				ctrl_req_dirty(r);
				break;
			}
		}
	} else if (strcmp(kind, "invites") == 0 && b[0]) {
		r = ctrl_req_get(c, b, false);
		if (r)
			ctrl_req_inv_remove(r, a);
	} else if (strcmp(kind, "election") == 0 && b[0]) {
		unsigned i;

		if (sscanf(a, "slot-%u", &i) == 1 && i < c->k)
			slot_cand_del(&c->slots[i], b);
	} else if (strcmp(kind, "controllers") == 0 && !b[0]) {
		if (ctrl_map_del(&c->ctrls, a)) {
			fs_info("controller %s is gone (%zu live)", a,
				c->ctrls.n);
			c->hooks.balance(c);
		}
	}
}

static void sweep_host(void *arg, const char *key, void *val)
{
	struct ctrl *c = arg;
	struct ctrl_host *h = val;
	char *k;

	(void)key;
	/* Gone from the list, unless written after it: our own commits'
	 * answers may land between the list's revision and its answer. */
	if (h->present && h->seen != c->list_gen && h->rev <= c->list_rev) {
		k = ctrl_keyf("%shosts/%s", c->prefix, h->name);
		if (k)
			ctrl_cache_del(c, k, h->rev + 1);
		free(k);
	}
	if (h->cordon && h->ctl_seen != c->list_gen &&
	    h->ctl_rev <= c->list_rev) {
		k = ctrl_keyf("%shostctl/%s", c->prefix, h->name);
		if (k)
			ctrl_cache_del(c, k, h->ctl_rev + 1);
		free(k);
	}
	if (h->moves_present && h->moves_seen != c->list_gen &&
	    h->moves_rev <= c->list_rev) {
		k = ctrl_keyf("%sdrain/%s", c->prefix, h->name);
		if (k)
			ctrl_cache_del(c, k, h->moves_rev + 1);
		free(k);
	}
	if (h->alloc_present && h->seen != c->list_gen &&
	    h->alloc_rev <= c->list_rev) {
		k = ctrl_keyf("%salloc/%s", c->prefix, h->name);
		if (k)
			ctrl_cache_del(c, k, h->alloc_rev + 1);
		free(k);
	}
}

static void sweep_req(void *arg, const char *key, void *val)
{
	struct ctrl *c = arg;
	struct ctrl_req *r = val;

	(void)key;
	if (r->req_present && r->req_seen != c->list_gen &&
	    r->req_rev <= c->list_rev) {
		r->req_present = false;
		r->req_rev++;
		ctrl_req_dirty(r);
	}
	if (r->st_present && r->st_seen != c->list_gen &&
	    r->st_rev <= c->list_rev) {
		r->st_present = false;
		r->st_garbage = false;
		r->st_rev++;
		ctrl_req_dirty(r);
	}
	for (size_t i = r->n_asg; i-- > 0;)
		if (r->asg[i].seen != c->list_gen &&
		    r->asg[i].rev <= c->list_rev)
			ctrl_req_asg_remove(r, i);
	for (size_t i = r->n_vms; i-- > 0;)
		if (r->vms[i].seen != c->list_gen &&
		    r->vms[i].rev <= c->list_rev)
			ctrl_req_vm_remove(r, i);
}

struct sweep_ctrls {
	uint64_t gen;
	char (*gone)[FS_NAME_MAX + 1];
	size_t n;
};

static void sweep_ctrl(void *arg, const char *key, void *val)
{
	struct sweep_ctrls *w = arg;

	if ((uintptr_t)val != w->gen && w->gone && strlen(key) <= FS_NAME_MAX)
		strcpy(w->gone[w->n++], key);
}

/* Registrations the list did not see are gone: their deletes may fall
 * between the watch cancelled for a list and the list's revision (a slot
 * won when another controller's lease expired starts a list at once, and
 * that controller then stayed live in the cache for ever, holding the
 * survivors to a share of the slots that left the others unled). */
static void sweep_ctrls(struct ctrl *c)
{
	struct sweep_ctrls w = {.gen = c->list_gen};

	w.gone = calloc(c->ctrls.n + 1, sizeof(*w.gone));
	if (!w.gone)
		return;
	ctrl_map_each(&c->ctrls, sweep_ctrl, &w);
	for (size_t i = 0; i < w.n; i++) {
		ctrl_map_del(&c->ctrls, w.gone[i]);
		fs_info("controller %s is gone (%zu live)", w.gone[i],
			c->ctrls.n);
	}
	free(w.gone);
	if (w.n)
		c->hooks.balance(c);
}

void ctrl_cache_sweep(struct ctrl *c)
{
	ctrl_badkey_sweep(c);
	sweep_ctrls(c);
	ctrl_map_each(&c->hosts, sweep_host, c);
	ctrl_map_each(&c->reqs, sweep_req, c);
	listed_bids_take(c);
}

/* Liveness is a lease, not a record: a host record, a registration, a
 * bid or a candidacy counts only under a lease and under a valid name
 * (a candidacy's name is its lease in hex).  NULL if kv may count, else
 * why not. */
static const char *kv_unlive(const struct etcd_kv *kv,
			     const char *kind, const char *a, const char *b)
{
	char hex[24];

	if (strcmp(kind, "hosts") == 0 || strcmp(kind, "controllers") == 0) {
		if (b[0] || !fs_name_valid(a))
			return "not a valid name";
		return kv->lease ? NULL : "written without a lease";
	}
	if (strcmp(kind, "bids") == 0)
		return kv->lease ? NULL : "written without a lease";
	if (strcmp(kind, "election") == 0 && b[0]) {
		snprintf(hex, sizeof(hex), "%llx",
			 (unsigned long long)kv->lease);
		if (!kv->lease)
			return "written without a lease";
		return strcmp(b, hex) == 0 ? NULL
					   : "not named after its lease";
	}
	return NULL;
}

void ctrl_cache_kv_put(struct ctrl *c, const struct etcd_kv *kv)
{
	char kind[16], a[FS_NAME_MAX + 1], b[FS_NAME_MAX + 1];
	char q[FS_QUOTE_MAX * 4 + 16];
	const char *id, *why;
	size_t n;

	if ((id = ctrl_key_bad_request(c, kv->key, kv->key_len, &n))) {
		ctrl_badkey_put(c, id, n, kv->mod_revision);
		return;
	}
	if (ctrl_key_splitn(c, kv->key, kv->key_len, kind, a, b) < 0)
		return; /* not a key of ours: "hosts/h1\0x" is not h1 */
	if ((why = kv_unlive(kv, kind, a, b))) {
		fs_warn("%s does not count: %s",
			fs_quote(q, sizeof(q), kv->key, sizeof(q) / 4 - 4),
			why);
		ctrl_cache_del(c, kv->key, kv->mod_revision);
		/* etcd's campaign waits behind it for ever: delete it */
		if (strcmp(kind, "election") == 0 && c->hooks.stray)
			c->hooks.stray(c, kv->key, kv->mod_revision);
		return;
	}
	ctrl_cache_put(c, kv->key, kv->value, kv->value_len,
		       kv->create_revision, kv->mod_revision);
}

void ctrl_cache_kv_del(struct ctrl *c, const struct etcd_kv *kv, int64_t rev)
{
	const char *id;
	size_t n;

	if ((id = ctrl_key_bad_request(c, kv->key, kv->key_len, &n))) {
		ctrl_badkey_del(c, id, n, rev);
		return;
	}
	if (memchr(kv->key, '\0', kv->key_len))
		return;
	ctrl_cache_del(c, kv->key, rev);
}
