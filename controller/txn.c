/* The txn layer: one fenced txn built within etcd's limits, sent, and
 * its answer replayed into the cache (ops, or the failure branch's reads).
 * Calls cache.c, watch.c, req.c, host.c, key.c; ends go up via t->done. */
#include "controller/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

const double ctrl_lat_bounds[LAT_N] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct ctrl_txn *ctrl_txn_new(struct ctrl *c, enum txn_kind kind, unsigned slot,
			      ctrl_txn_done_fn *done)
{
	struct ctrl_txn *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->c = c;
	t->done = done;
	t->kind = kind;
	t->slot = slot;
	for (size_t i = 0; i < TXN_REQS; i++)
		t->phase[i] = -1;
	return t;
}

void ctrl_txn_free(struct ctrl_txn *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_ok; i++) {
		free(t->ops[i].key);
		free(t->ops[i].val);
		if (t->ops[i].st)
			ctrl_status_clear(t->ops[i].st);
		free(t->ops[i].st);
		if (t->ops[i].need)
			fs_need_clear(t->ops[i].need);
		free(t->ops[i].need);
	}
	for (size_t i = 0; i < t->n_cmp; i++)
		free(t->cmp_keys[i]);
	for (size_t i = 0; i < t->n_reads; i++)
		free(t->read_keys[i]);
	for (size_t i = 0; i < t->n_noasg; i++)
		free(t->noasg[i].end);
	free(t);
}

/* Reads key back on failure, without comparing it: a key the txn writes
 * whose compare is not its own (an assignment written with a status), so
 * that a failed txn's answer shows what stands there now.  Takes key
 * (freed with the compares' keys). */
void ctrl_txn_read(struct ctrl_txn *t, char *key)
{
	if (!key || t->n_ko >= TXN_MAX) {
		if (!t->err)
			t->err = key ? -E2BIG : -ENOMEM;
		free(key);
		return;
	}
	t->bytes += strlen(key);
	t->read_keys[t->n_reads++] = key;
	t->ko[t->n_ko++] = (struct etcd_op){
		.type = ETCD_OP_RANGE, .u.range = {.key = key}};
}

/* Compare target of key == rev, and read it back on failure.  Takes key. */
void ctrl_txn_cmp(struct ctrl_txn *t, char *key, enum etcd_cmp_target tgt,
		  int64_t rev)
{
	if (!key || t->n_cmp >= TXN_MAX || t->n_ko >= TXN_MAX) {
		if (!t->err)
			t->err = key ? -E2BIG : -ENOMEM;
		free(key);
		return;
	}
	t->bytes += 2 * strlen(key); /* the compare and its read-back */
	t->cmp_keys[t->n_cmp] = key;
	t->cmp[t->n_cmp] = (struct etcd_compare){
		.target = tgt, .result = ETCD_CMP_EQUAL, .key = key,
		.number = rev};
	t->ko[t->n_ko++] = (struct etcd_op){
		.type = ETCD_OP_RANGE, .u.range = {.key = key}};
	t->n_cmp++;
}

/*
 * etcd applies a compare with a range_end to every key in the range, and
 * to one absent key when the range is empty (applyCompare): CREATE == 0
 * holds exactly when no key is under the prefix.  The read-back is one
 * key of the range, keys only: whether any is there, not what.
 */
void ctrl_txn_cmp_no_asg(struct ctrl_txn *t, struct ctrl_host *h)
{
	char *key = ctrl_keyf("%sassign/%s/", t->c->prefix, h->name);
	char *end = key ? strdup(key) : NULL;
	size_t n = t->n_cmp;

	if (!end || t->n_noasg >= TXN_HOSTS) {
		if (!t->err)
			t->err = end ? -E2BIG : -ENOMEM;
		free(key);
		free(end);
		return;
	}
	end[strlen(end) - 1]++; /* '/' + 1: the prefix's end */
	ctrl_txn_cmp(t, key, ETCD_CMP_CREATE, 0);
	if (t->n_cmp == n) {
		free(end);
		return;
	}
	t->bytes += strlen(end);
	t->cmp[n].range_end = end;
	t->ko[t->n_ko - 1].u.range.prefix = true;
	t->ko[t->n_ko - 1].u.range.limit = 1;
	t->ko[t->n_ko - 1].u.range.keys_only = true;
	t->noasg[t->n_noasg++] =
	    (struct tb_noasg){.h = h, .end = end, .ko = t->n_ko - 1};
}

/* The failure branch's read of ctrl_txn_cmp_no_asg's range i is ko[i]? */
static const struct tb_noasg *noasg_at(const struct ctrl_txn *t, size_t i)
{
	for (size_t j = 0; j < t->n_noasg; j++)
		if (t->noasg[j].ko == i)
			return &t->noasg[j];
	return NULL;
}

/* The read of the assignments of a host whose alloc is absent: if any
 * is there, the alloc is not their sum: rebuilt (alloc.c) before any
 * commit or release touches the host. */
static void noasg_read(struct ctrl *c, const struct tb_noasg *na,
		       const struct etcd_op_result *o)
{
	struct ctrl_host *h = na->h;

	if (o->type != ETCD_OP_RANGE || (!o->u.range.n_kvs && !o->u.range.count))
		return;
	if (h->alloc_present || h->alloc_bad)
		return; /* the alloc compare failed: it is there after all */
	fs_warn("alloc of %s is absent but the host holds assignments; "
		"rebuilding it from them",
		h->name);
	ctrl_host_alloc_bad(c, h, true);
}

void ctrl_txn_fence(struct ctrl_txn *t)
{
	struct ctrl_slot *s = &t->c->slots[t->slot];

	ctrl_txn_cmp(t, strdup(s->lk_key ? s->lk_key : ""), ETCD_CMP_CREATE,
		     s->lk_rev);
}

/* Takes key and val (val NULL = delete). */
void ctrl_txn_op(struct ctrl_txn *t, char *key, char *val, int64_t lease)
{
	if (!key || t->n_ok >= TXN_MAX) {
		if (!t->err)
			t->err = key ? -E2BIG : -ENOMEM;
		free(key);
		free(val);
		return;
	}
	t->bytes += strlen(key) + (val ? strlen(val) : 0);
	t->ops[t->n_ok] = (struct tb_str){.key = key, .val = val,
					  .len = val ? strlen(val) : 0,
					  .del = !val};
	if (val)
		t->ok[t->n_ok] = (struct etcd_op){
			.type = ETCD_OP_PUT,
			.u.put = {.key = key, .value = val,
				  .value_len = strlen(val), .lease = lease}};
	else
		t->ok[t->n_ok] = (struct etcd_op){
			.type = ETCD_OP_DELETE, .u.del = {.key = key}};
	t->n_ok++;
}

void ctrl_txn_status_drop(struct ctrl_status *st)
{
	if (st)
		ctrl_status_clear(st);
	free(st);
}

/* The put just added to t (ctrl_txn_op), or NULL if it did not go in. */
static struct tb_str *tb_last_put(struct ctrl_txn *t)
{
	if (t->err || !t->n_ok || t->ops[t->n_ok - 1].del)
		return NULL;
	return &t->ops[t->n_ok - 1];
}

/* Hands st (malloc'd, taken) to the status put just added, for the
 * replay (struct tb_str). */
void ctrl_txn_keep_status(struct ctrl_txn *t, struct ctrl_status *st)
{
	struct tb_str *o = st ? tb_last_put(t) : NULL;

	if (o)
		o->st = st;
	else
		ctrl_txn_status_drop(st);
}

/* Hands a copy of need's size and spread group to the assign put just
 * added, for the replay (the selector is not needed there). */
void ctrl_txn_keep_need(struct ctrl_txn *t, const struct fs_need *need)
{
	struct tb_str *o = tb_last_put(t);
	struct fs_need *n;

	if (!o || !(n = calloc(1, sizeof(*n))))
		return;
	n->res = need->res;
	/* What a release takes back from alloc: its size and its group
	 * (fs_need_group), the hard one too. */
	if ((need->spread && !(n->spread = strdup(need->spread))) ||
	    (need->group && !(n->group = strdup(need->group)))) {
		fs_need_clear(n);
		free(n);
		return;
	}
	o->need = n;
}

/* A malloc'd deep copy of s for ctrl_txn_keep_status, or NULL (the replay then
 * parses the JSON). */
struct ctrl_status *ctrl_txn_status_dup(const struct ctrl_status *s)
{
	struct ctrl_status *d = calloc(1, sizeof(*d));

	if (d && ctrl_status_copy(d, s) < 0) {
		free(d);
		d = NULL;
	}
	return d;
}

/* s moved into malloc'd memory for ctrl_txn_keep_status (s left empty), or
 * NULL with s untouched: for a status its caller is done with, where
 * ctrl_txn_status_dup would copy it only for the caller to clear it. */
struct ctrl_status *ctrl_txn_status_take(struct ctrl_status *s)
{
	struct ctrl_status *d = malloc(sizeof(*d));

	if (d) {
		*d = *s;
		memset(s, 0, sizeof(*s));
	}
	return d;
}

/* Room in t for cmps more compares, ops more success ops and bytes more
 * bytes of keys and values? */
bool ctrl_txn_room(const struct ctrl_txn *t, size_t cmps, size_t ops,
		   size_t bytes)
{
	/* n_ko >= n_cmp: every compare is read back, and ctrl_txn_read
	 * adds reads; cmps counts both. */
	return t->n_ko + t->resv_cmp + cmps <= TXN_MAX &&
	       t->n_ok + t->resv_ok + ops <= TXN_MAX &&
	       t->bytes + t->resv_bytes + bytes <= TXN_BYTES;
}

/* Sends the leftover deletes of slot i, if any. */
void ctrl_txn_gc_flush(struct ctrl *c, unsigned i)
{
	struct ctrl_txn *t = c->gbatch[i];

	if (!t)
		return;
	c->gbatch[i] = NULL;
	snprintf(t->what, sizeof(t->what), "delete %zu leftover bid(s)",
		 t->n_ok);
	ctrl_txn_send(t);
}

/*
 * Deletes key (taken) as coordinator of slot, in one fenced txn per slot
 * and loop iteration: the bid deletes that do not fit in the txn that
 * closes their round (a broadcast round over more hosts than a txn
 * holds ops).  Best effort: a bid left behind is harmless (the agent
 * ignores bids of closed rounds) and goes with its host's lease.
 */
void ctrl_txn_gc_del(struct ctrl *c, unsigned slot, char *key)
{
	struct ctrl_txn *t = c->gbatch[slot];

	if (!key)
		return;
	if (t && !ctrl_txn_room(t, 0, 1, strlen(key)))
		ctrl_txn_gc_flush(c, slot);
	t = c->gbatch[slot];
	if (!t) {
		t = ctrl_txn_new(c, TXN_STATUS, slot, NULL);
		if (!t) {
			free(key);
			return;
		}
		ctrl_txn_fence(t);
		c->gbatch[slot] = t;
	}
	ctrl_txn_op(t, key, NULL, 0);
}

/* Ops that close r's round: the round key, one per bid and one per
 * invitation. */
size_t ctrl_txn_round_ops(const struct ctrl_req *r)
{
	return (r->round_attempt || r->n_bids || r->round_key ? 1 + r->n_bids
							       : 0) +
	       r->n_inv;
}

/* The deletes of r's invitations into t, or into the slot's leftover txn
 * when t is full. */
void ctrl_txn_invites_del(struct ctrl *c, struct ctrl_txn *t,
			  struct ctrl_req *r)
{
	size_t kb = ctrl_key_max(c);

	for (size_t i = 0; i < r->n_inv; i++) {
		char *k = ctrl_keyf("%sinvites/%s/%s", c->prefix, r->inv[i],
				    r->id);

		if (t && ctrl_txn_room(t, 0, 1, kb))
			ctrl_txn_op(t, k, NULL, 0);
		else
			ctrl_txn_gc_del(c, r->slot, k);
	}
}

/* Adds the deletes closing r's round to t, keeping the ops that do not
 * fit for the leftover txn. */
void ctrl_txn_round_close(struct ctrl *c, struct ctrl_txn *t,
			  struct ctrl_req *r)
{
	size_t kb = ctrl_key_max(c);

	if (!ctrl_txn_round_ops(r))
		return;
	ctrl_txn_invites_del(c, t, r);
	if (!(r->round_attempt || r->n_bids || r->round_key))
		return;
	ctrl_txn_op(t, ctrl_keyf("%srounds/%s", c->prefix, r->id), NULL, 0);
	for (size_t i = 0; i < r->n_bids; i++) {
		char *k = ctrl_keyf("%sbids/%s/%s", c->prefix, r->bids[i].host,
				    r->id);

		if (ctrl_txn_room(t, 0, 1, kb))
			ctrl_txn_op(t, k, NULL, 0);
		else
			ctrl_txn_gc_del(c, r->slot, k);
	}
}

/* Counts the outcomes of a successful txn. */
static void metrics_txn_ok(struct ctrl *c, const struct ctrl_txn *t)
{
	ev_tstamp now = ev_now(c->loop);

	switch (t->kind) {
	case TXN_ROUND:
		c->m.rounds += t->n_reqs;
		break;
	case TXN_COMMIT:
		for (size_t i = 0; i < t->n_reqs; i++) {
			double d = now - t->reqs[i]->seen_at;
			size_t b = 0;

			if (d < 0)
				d = 0;
			while (b < LAT_N && d > ctrl_lat_bounds[b])
				b++;
			if (b < LAT_N)
				c->m.lat_bucket[b]++;
			c->m.lat_count++;
			c->m.lat_sum += d;
		}
		c->m.placements += t->n_reqs;
		break;
	case TXN_RELEASE:
		c->m.released++;
		break;
	case TXN_STATUS:
	case TXN_MOVE:
		break;
	}
	/* status writes (a release may write one too) */
	for (size_t i = 0; i < t->n_reqs; i++) {
		if (t->phase[i] == CTRL_REJECTED)
			c->m.rejected++;
		else if (t->phase[i] == CTRL_UNSCHEDULABLE)
			c->m.unschedulable++;
		else if (t->phase[i] == CTRL_LOST)
			c->m.lost++;
		else if (t->phase[i] == CTRL_FAILED)
			c->m.failed++;
	}
}

static void txn_done(struct ctrl_txn *t, bool ok, int64_t rev)
{
	struct ctrl *c = t->c;

	for (size_t i = 0; i < t->n_hosts; i++) {
		if (t->hosts[i]->locked)
			t->hosts[i]->locked--;
		if (!t->hosts[i]->locked)
			ctrl_host_pend_clear(t->hosts[i]);
		ctrl_host_unref(c, t->hosts[i]);
	}
	if (ok)
		metrics_txn_ok(c, t);
	if (!t->n_reqs && t->done)
		t->done(t, NULL, ok, rev);
	for (size_t i = 0; i < t->n_reqs; i++) {
		struct ctrl_req *r = t->reqs[i];

		r->act = ACT_NONE;
		if (t->done)
			t->done(t, r, ok, rev);
		r->pick = NULL;
		/* Without an answer (etcd down or slow, or a txn that could
		 * not be sent) the request waits for the next pass
		 * (PASS_INTERVAL_S) rather than retrying at once. */
		if (r->act == ACT_NONE && (ok || t->answered))
			ctrl_req_dirty(r);
	}
	ctrl_txn_free(t);
}

/* The success ops of t replayed into the cache at rev. */
static void replay_ok(struct ctrl *c, struct ctrl_txn *t, int64_t rev)
{
	for (size_t i = 0; i < t->n_ok; i++) {
		struct tb_str *o = &t->ops[i];
		char kind[16], a[FS_NAME_MAX + 1], b[FS_NAME_MAX + 1];

		if (o->del)
			ctrl_cache_del(c, o->key, rev);
		else if (o->st && !ctrl_key_split(c, o->key, kind, a, b))
			ctrl_cache_status(c, o->key, a, NULL, 0, o->st, rev);
		else if (o->need && !ctrl_key_split(c, o->key, kind, a, b))
			ctrl_cache_assign(c, o->key, a, b, NULL, 0, o->need,
					  rev);
		else
			ctrl_cache_put(c, o->key, o->val, o->len, 0, rev);
	}
}

/* t got no answer: failed, unanswered (its requests wait for the next
 * pass). */
/*
 * t may have landed, or land later, and nothing has read what it did (its
 * status and assign writes are not watched): its requests act on nothing
 * until a list that starts after now says what stands (a commit placed
 * again before that read its own status back without the assignment and
 * placed the request twice).  A late copy is harmless: it compares what
 * the list shows, and the retry compares the same.
 */
static void txn_hold(struct ctrl_txn *t)
{
	struct ctrl *c = t->c;
	uint64_t seq = c->list_seq + 1;

	if (!t->n_ok)
		return;
	for (size_t i = 0; i < t->n_reqs; i++)
		t->reqs[i]->hold_seq = seq;
	if (c->want_seq < seq)
		c->want_seq = seq;
}

static void txn_failed(struct ctrl_txn *t, const struct etcd_error *err,
		       const char *doing)
{
	struct ctrl *c = t->c;

	c->m.txn_errors++;
	if (err->code != ETCD_ECANCELED) {
		fs_warn("%s: %setcd error: %s (%s); will retry at the next "
			"pass",
			t->what, doing, etcd_strerror(err->code), err->message);
		/* It may have landed unseen, and its status and assign
		 * writes are not watched: read them back. */
		ctrl_watch_relist(c, 1.0);
	}
	txn_done(t, false, 0);
}

/* What a range of key read (at rev) into the cache. */
static void cache_range(struct ctrl *c, const struct etcd_op_result *o,
			const char *key, int64_t rev)
{
	const struct etcd_kv *kv;

	if (o->type != ETCD_OP_RANGE)
		return;
	if (!o->u.range.n_kvs) {
		ctrl_cache_del(c, key, rev);
		return;
	}
	kv = &o->u.range.kvs[0];
	ctrl_cache_put(c, kv->key, kv->value, kv->value_len,
		       kv->create_revision, kv->mod_revision);
}

/* The first put of t, or NULL (deletes only). */
static const struct tb_str *first_put(const struct ctrl_txn *t, size_t *at)
{
	for (size_t i = 0; i < t->n_ok; i++) {
		if (!t->ops[i].del) {
			*at = i;
			return &t->ops[i];
		}
	}
	return NULL;
}

/* The read of what a txn of unknown outcome wrote came back: it landed
 * when its first put's key holds our value (values are unique: a status
 * has its time, a round its deadline, an assignment its request
 * revision, and a txn is atomic), and is then replayed as if answered;
 * else what was read goes into the cache and the txn failed, answered:
 * its requests retry with compares on what was read, so that a late copy
 * of either fails. */
static void on_read(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res)
{
	struct ctrl_txn *t = arg;
	struct ctrl *c = t->c;
	const struct tb_str *p;
	size_t at = 0;
	int64_t landed = 0;

	if (c->inflight)
		c->inflight--;
	if (err) {
		txn_hold(t);
		txn_failed(t, err, "reading what landed: ");
		return;
	}
	p = first_put(t, &at);
	if (p && at < res->n_responses &&
	    res->responses[at].type == ETCD_OP_RANGE &&
	    res->responses[at].u.range.n_kvs == 1) {
		const struct etcd_kv *kv = &res->responses[at].u.range.kvs[0];

		if (kv->value_len == p->len &&
		    memcmp(kv->value, p->val, p->len) == 0)
			landed = kv->mod_revision;
	}
	t->answered = true;
	if (landed) {
		fs_info("%s: landed at revision %lld after all",
			t->what, (long long)landed);
		replay_ok(c, t, landed);
		txn_done(t, true, landed);
		return;
	}
	for (size_t i = 0; i < res->n_responses && i < t->n_ok; i++)
		cache_range(c, &res->responses[i], t->ops[i].key,
			    res->header.revision);
	txn_done(t, false, 0);
}

/* t may have been applied (etcd.h: outcome_unknown): reads the keys it
 * writes instead of guessing (a commit that landed unseen was planned
 * again, in bid modes with a new round whose keys leaked, and missed
 * placements_total).  0, or <0 when the read cannot be sent. */
static int read_back(struct ctrl_txn *t)
{
	struct ctrl *c = t->c;
	struct etcd_op ops[TXN_MAX];
	struct etcd_txn_req req = {.success = ops, .n_success = t->n_ok};
	size_t at;
	int rc;

	if (!first_put(t, &at))
		return -EINVAL;
	for (size_t i = 0; i < t->n_ok; i++)
		ops[i] = (struct etcd_op){.type = ETCD_OP_RANGE,
					  .u.range = {.key = t->ops[i].key}};
	rc = c->hooks.txn ? c->hooks.txn(c, &req, on_read, t)
			  : etcd_kv_txn(c->etcd, &req, on_read, t);
	if (rc == 0)
		c->inflight++;
	return rc;
}

static void on_txn(void *arg, const struct etcd_error *err,
		   const struct etcd_txn_result *res)
{
	struct ctrl_txn *t = arg;
	struct ctrl *c = t->c;

	if (c->inflight)
		c->inflight--;
	if (err) {
		if (err->outcome_unknown && err->code != ETCD_ECANCELED &&
		    read_back(t) == 0) {
			c->m.txn_errors++;
			fs_warn("%s: etcd error: %s (%s); it may have landed: "
				"reading it back",
				t->what, etcd_strerror(err->code),
				err->message);
			return;
		}
		if (err->outcome_unknown && err->code != ETCD_ECANCELED)
			txn_hold(t);
		txn_failed(t, err, "");
		return;
	}
	t->answered = true;
	if (res->succeeded) {
		replay_ok(c, t, res->header.revision);
	} else {
		if (t->kind == TXN_COMMIT)
			c->m.commit_conflicts++;
		for (size_t i = 0; i < res->n_responses && i < t->n_ko; i++)
			if (!noasg_at(t, i))
				cache_range(c, &res->responses[i],
					    t->ko[i].u.range.key,
					    res->header.revision);
		/* after the alloc reads: they say whether it is absent */
		for (size_t i = 0; i < t->n_noasg; i++)
			if (t->noasg[i].ko < res->n_responses)
				noasg_read(c, &t->noasg[i],
					   &res->responses[t->noasg[i].ko]);
		/* The fence is always the first compare. */
		if (t->n_ko && res->n_responses &&
		    res->responses[0].type == ETCD_OP_RANGE) {
			const struct etcd_range_result *rr =
				&res->responses[0].u.range;
			struct ctrl_slot *s = &c->slots[t->slot];

			if (s->state == SLOT_LEADER &&
			    (rr->n_kvs == 0 ||
			     rr->kvs[0].create_revision != s->lk_rev))
				c->hooks.fenced(c, t->slot,
						"our election key is gone "
						"(fenced)");
		}
	}
	txn_done(t, res->succeeded, res->header.revision);
}

/* Sends t (fenced: the caller put ctrl_txn_fence first).  On failure to send,
 * completes it as failed. */
void ctrl_txn_send(struct ctrl_txn *t)
{
	struct ctrl *c = t->c;
	struct etcd_txn_req req = {
		.compare = t->cmp, .n_compare = t->n_cmp,
		.success = t->ok, .n_success = t->n_ok,
		.failure = t->ko, .n_failure = t->n_ko};
	int rc;

	if (!t->err && t->bytes > TXN_BYTES)
		t->err = -E2BIG;
	if (t->err) {
		if (t->err == -E2BIG)
			fs_error("%s: txn over etcd's limits (%zu compares, "
				 "%zu ops, %zu bytes; at most %d each and %d "
				 "bytes): not sent",
				 t->what, t->n_cmp, t->n_ok, t->bytes, TXN_MAX,
				 TXN_BYTES);
		else
			fs_error("%s: out of memory building the txn",
				 t->what);
		txn_done(t, false, 0);
		return;
	}
	rc = c->hooks.txn ? c->hooks.txn(c, &req, on_txn, t)
			  : etcd_kv_txn(c->etcd, &req, on_txn, t);
	if (rc < 0) {
		fs_warn("%s: cannot send txn: %s", t->what,
			etcd_strerror(rc));
		txn_done(t, false, 0);
		return;
	}
	c->inflight++;
	c->m.txns++;
	if (t->kind == TXN_COMMIT)
		c->m.commit_txns++;
}

/* Sends the batch *bp (status writes or round puts of one slot), if
 * any; a batch of several is named "<verb> N <things> (<first id> ...)". */
void ctrl_txn_batch_flush(struct ctrl_txn **bp, const char *verb,
			  const char *things)
{
	struct ctrl_txn *t = *bp;

	if (!t)
		return;
	*bp = NULL;
	if (t->n_reqs > 1)
		snprintf(t->what, sizeof(t->what), "%s %zu %s (%s ...)", verb,
			 t->n_reqs, things, t->reqs[0]->id);
	ctrl_txn_send(t);
}
