/* Coordinator slots: campaigns for P/election/slot-<i>, slots won and
 * lost, and balance among the live controllers (resign, yield).
 * Calls watch.c, cache.c (leaders), req.c, key.c. */
#include "controller/core.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void slot_reqs_dirty(void *arg, const char *key, void *val)
{
	struct ctrl_req *r = val;

	(void)key;
	(void)arg;
	ctrl_req_dirty(r);
}

/* A slot we no longer lead: its statuses and assignments will not be
 * kept up to date (not watched), so they go; the next win lists them.
 * Their revisions go too: "absent as of st_rev" would be a claim the
 * cache cannot make, and it made the list after a win skip every status
 * whose revision had not moved (each txn then compared revision 0 and
 * failed, and its read-back was skipped the same way). */
static void slot_forget(void *arg, const char *key, void *val)
{
	struct ctrl_slot *s = arg;
	struct ctrl_req *r = val;

	(void)key;
	if (&r->c->slots[r->slot] != s)
		return;
	ctrl_req_forget_led(r);
}

/* Cancels s's campaign, if any: no callback comes after, so its context
 * is freed here (it leaked, 24 bytes per cancelled campaign). */
static void camp_stop(struct ctrl_slot *s)
{
	s->camp = etcd_campaign_cancel(s->camp);
	free(s->camp_arg);
	s->camp_arg = NULL;
}

void ctrl_slot_drop(struct ctrl *c, unsigned i, const char *why)
{
	struct ctrl_slot *s = &c->slots[i];

	if (s->state == SLOT_LEADER)
		fs_warn("slot %u lost: %s", i, why);
	camp_stop(s);
	free(s->lk_key);
	s->lk_key = NULL;
	s->lk_rev = 0;
	s->resigning = false;
	if (s->state == SLOT_LEADER)
		ctrl_map_each(&c->reqs, slot_forget, s);
	s->state = SLOT_NONE;
	/* Requests of the slot drop their work at their next reconcile. */
	ctrl_map_each(&c->reqs, slot_reqs_dirty, c);
}

struct camp_ctx {
	struct ctrl *c;
	unsigned i;
	int64_t lease;
};

static void on_campaign(void *arg, const struct etcd_error *err,
			 const struct etcd_leader_key *lk)
{
	struct camp_ctx *x = arg;
	struct ctrl *c = x->c;
	unsigned i = x->i;
	struct ctrl_slot *s = &c->slots[i];
	int64_t lease = x->lease;

	if (s->camp_arg == x)
		s->camp_arg = NULL;
	free(x);
	camp_stop(s);
	if (s->state != SLOT_CAMPAIGN)
		return;
	s->state = SLOT_NONE;
	if (err) {
		if (err->code != ETCD_ECANCELED)
			fs_warn("campaign for slot %u failed: %s", i,
				err->message);
		return;
	}
	if (lease != c->lease || !c->session_up)
		return;
	s->lk_key = strdup(lk->key);
	if (!s->lk_key)
		return;
	s->lk_rev = lk->rev;
	s->lk_lease = lk->lease;
	s->state = SLOT_LEADER;
	/* Its statuses and assignments (not watched) as of now: from the
	 * next list to start. */
	s->need_seq = c->list_seq + 1;
	ctrl_watch_relist(c, 0.0);
	fs_info("slot %u acquired (election key %s, rev %lld)", i, lk->key,
		(long long)lk->rev);
	/* Its requests are looked at once that list is in (on_list's
	 * pass_all): until then the slot is not slot_mine(). */
	c->pass_all = true;
	ctrl_slots_balance(c);
}

struct resign_ctx {
	struct ctrl *c;
	unsigned i;
	int64_t lk_rev;
};

/* A resign answered: the slot is dropped only now.  Dropped at once, a
 * failed resign left our key under our live lease, the other controller
 * queued behind it for good, and nobody acting for the slot. */
static void on_resign(void *arg, const struct etcd_error *err,
		      const struct etcd_header *hdr)
{
	struct resign_ctx *x = arg;
	struct ctrl *c = x->c;
	struct ctrl_slot *s = &c->slots[x->i];
	unsigned i = x->i;
	bool ours = s->state == SLOT_LEADER && s->lk_rev == x->lk_rev;

	(void)hdr;
	free(x);
	if (err && err->code == ETCD_ECANCELED)
		return;
	if (ours)
		s->resigning = false;
	if (err) {
		fs_warn("slot %u: resign failed: %s; still leading it", i,
			err->message);
		return;
	}
	if (ours) {
		ctrl_slot_drop(c, i, s->yielded_at ? "yielded to balance"
						    : "resigned to balance");
	}
}

/* Resigns slot i (we lead it); it is dropped when the resign lands. */
static void slot_resign(struct ctrl *c, unsigned i)
{
	struct ctrl_slot *s = &c->slots[i];
	struct etcd_leader_key lk = {.name = s->name, .key = s->lk_key,
				     .rev = s->lk_rev, .lease = s->lk_lease};
	struct resign_ctx *x = malloc(sizeof(*x));

	if (!x)
		return;
	*x = (struct resign_ctx){c, i, s->lk_rev};
	if (etcd_election_resign(c->etcd, &lk, on_resign, x) < 0) {
		free(x);
		return;
	}
	s->resigning = true;
}

static void on_withdraw(void *arg, const struct etcd_error *err,
			const struct etcd_txn_result *res)
{
	(void)arg;
	(void)err;
	(void)res;
}

/*
 * Deletes our candidacy key of slot i if it still holds our lease.
 * Closing a waiting campaign's HTTP request does not make etcd's gateway
 * withdraw the candidacy (checked with etcd 3.4), and a key left behind
 * becomes a leader nobody acts for.
 */
void ctrl_slot_withdraw(struct ctrl *c, unsigned i)
{
	char *key = ctrl_keyf("%s/%llx", c->slots[i].name,
			      (unsigned long long)c->lease);
	struct etcd_compare cmp = {.target = ETCD_CMP_LEASE,
				   .result = ETCD_CMP_EQUAL,
				   .key = key, .number = c->lease};
	struct etcd_op del = {.type = ETCD_OP_DELETE, .u.del = {.key = key}};
	struct etcd_txn_req t = {&cmp, 1, &del, 1, NULL, 0};

	if (key && c->lease)
		etcd_kv_txn(c->etcd, &t, on_withdraw, NULL);
	free(key);
}

static void on_stray(void *arg, const struct etcd_error *err,
		     const struct etcd_txn_result *res)
{
	(void)arg;
	if (err && err->code != ETCD_ECANCELED)
		fs_warn("deleting a candidacy key without a lease failed: %s",
			err->message);
	else if (res && res->succeeded)
		fs_warn("deleted a candidacy key without a lease (rewritten "
			"in place): it held its slot for ever");
}

/* Deletes the candidacy key at mod if it still has no lease: nothing
 * else ever would (issue 13 item 5). */
void ctrl_slot_stray(struct ctrl *c, const char *key, int64_t mod)
{
	struct etcd_compare cmp[2] = {
	    {.target = ETCD_CMP_LEASE, .result = ETCD_CMP_EQUAL, .key = key,
	     .number = 0},
	    {.target = ETCD_CMP_MOD, .result = ETCD_CMP_EQUAL, .key = key,
	     .number = mod}};
	struct etcd_op del = {.type = ETCD_OP_DELETE, .u.del = {.key = key}};
	struct etcd_txn_req t = {cmp, 2, &del, 1, NULL, 0};

	if (c->etcd && c->session_up)
		etcd_kv_txn(c->etcd, &t, on_stray, NULL);
}

/* Slots led by controller name, as the cache says. */
static unsigned slots_led_by(const struct ctrl *c, const char *name)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->k; i++) {
		const char *l = ctrl_cache_slot_leader(&c->slots[i]);

		n += l && strcmp(l, name) == 0;
	}
	return n;
}

static bool slot_has_cand(const struct ctrl_slot *s, const char *name)
{
	for (size_t i = 0; i < s->n_cands; i++)
		if (strcmp(s->cands[i].name, name) == 0)
			return true;
	return false;
}

struct yield_ctx {
	struct ctrl *c;
	unsigned floor, cap;
	const char *starving; /* a live controller below floor */
	bool other_yields;    /* a controller named after us holds cap */
};

static void yield_each(void *arg, const char *key, void *val)
{
	struct yield_ctx *y = arg;
	unsigned n;

	(void)val;
	if (strcmp(key, y->c->name) == 0)
		return;
	n = slots_led_by(y->c, key);
	if (n < y->floor && !y->starving)
		y->starving = key;
	if (n >= y->cap && strcmp(key, y->c->name) > 0)
		y->other_yields = true;
}

/*
 * Spreads slots beyond the cap: with K = 4 and 3 live controllers the cap
 * (ceil) allows 2, 2, 0.  When a live controller leads fewer than
 * floor(K / live) slots and we hold the cap, we resign one slot on which
 * that controller is queued as a candidate, so that it is elected next;
 * among controllers at the cap only the one with the greatest name
 * yields, and only one slot per call.  Stable: afterwards nobody is below
 * the floor, and we do not campaign for the slot again for YIELD_HOLD_S.
 * Returns the slots held afterwards.
 */
static unsigned slots_yield(struct ctrl *c, unsigned held, unsigned cap,
			    unsigned floor)
{
	struct yield_ctx y = {c, floor, cap, NULL, false};

	if (held < cap || cap <= floor)
		return held;
	ctrl_map_each(&c->ctrls, yield_each, &y);
	if (!y.starving || y.other_yields)
		return held;
	for (unsigned i = c->k; i-- > 0;) {
		struct ctrl_slot *s = &c->slots[i];

		if (s->state != SLOT_LEADER || s->resigning ||
		    !slot_has_cand(s, y.starving))
			continue;
		fs_info("slot %u: yielding to %s, which leads fewer than %u "
			"slot(s) (%u held)",
			i, y.starving, floor, held);
		s->yielded_at = ev_now(c->loop);
		slot_resign(c, i);
		return held - 1;
	}
	return held;
}

void ctrl_slots_balance(struct ctrl *c)
{
	size_t live = c->ctrls.n ? c->ctrls.n : 1;
	unsigned cap = (unsigned)((c->k + live - 1) / live), held = 0;

	if (!c->session_up || !c->cache_ready)
		return;
	/* slots being resigned count as gone already */
	for (unsigned i = 0; i < c->k; i++)
		held += c->slots[i].state == SLOT_LEADER &&
			!c->slots[i].resigning;
	for (unsigned i = c->k; i-- > 0 && held > cap;) {
		struct ctrl_slot *s = &c->slots[i];

		if (s->state != SLOT_LEADER || s->resigning)
			continue;
		fs_info("slot %u: resigning to balance (%u held, at most %u "
			"with %zu controllers)",
			i, held, cap, live);
		s->yielded_at = 0;
		slot_resign(c, i);
		held--;
	}
	held = slots_yield(c, held, cap, (unsigned)(c->k / live));
	for (unsigned i = 0; i < c->k; i++) {
		struct ctrl_slot *s = &c->slots[i];

		if (held < cap && s->state == SLOT_NONE && s->yielded_at &&
		    ev_now(c->loop) - s->yielded_at < YIELD_HOLD_S)
			continue;
		if (held >= cap && s->state == SLOT_CAMPAIGN) {
			camp_stop(s);
			s->state = SLOT_NONE;
			ctrl_slot_withdraw(c, i);
		} else if (held < cap && s->state == SLOT_NONE) {
			struct camp_ctx *x = malloc(sizeof(*x));

			if (!x)
				return;
			*x = (struct camp_ctx){c, i, c->lease};
			if (etcd_election_campaign(c->etcd, s->name, c->lease,
						   c->name, strlen(c->name),
						   on_campaign, x,
						   &s->camp) < 0) {
				free(x);
				continue;
			}
			s->camp_arg = x;
			s->state = SLOT_CAMPAIGN;
		}
	}
}

unsigned ctrl_slots_held(const struct ctrl *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->k; i++)
		n += c->slots[i].state == SLOT_LEADER;
	return n;
}
