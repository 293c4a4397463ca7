/*
 * Bidding (agent_int.h): the rounds and invitations watches' callbacks,
 * each invited host's bid scored against its record and assignments, and
 * the queue of P/bids/<host>/<id> writes flushed in batches.  Calls host.c (record,
 * host table) and etcdclient/ below it.
 */
#include "agent/agent_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* ---- bidding ---------------------------------------------------------- */

static void bid_put_done(void *arg, const struct etcd_error *err,
			 const struct etcd_put_result *res)
{
	char *key = arg;

	(void)res;
	if (err && err->code != ETCD_ECANCELED)
		fs_warn("bid %s not written: %s", key, agent_err_str(err));
	free(key);
}


/* Takes key and val (malloc'd) on success: 0 or -ENOMEM. */
static int bid_queue(agent *a, char *key, char *val, int64_t lease)
{
	if (a->n_bq == a->cap_bq) {
		size_t cap = a->cap_bq ? a->cap_bq * 2 : 64;
		struct bidq *q = realloc(a->bq, cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		a->bq = q;
		a->cap_bq = cap;
	}
	a->bq[a->n_bq++] = (struct bidq){key, val, lease};
	ev_prepare_start(a->loop, &a->flush);
	return 0;
}

/* One put per bid: the fallback when a batch failed as a whole (one
 * host's lease gone fails every put of the txn). */
static void bid_put_one(agent *a, struct bidq *q)
{
	struct etcd_put_req req = {.key = q->key, .value = q->val,
				   .value_len = strlen(q->val),
				   .lease = q->lease};

	if (etcd_kv_put(a->etcd, &req, bid_put_done, q->key) != 0)
		free(q->key);
	free(q->val);
}

struct bq_batch {
	agent *a;
	size_t n;
	struct bidq q[VQ_BATCH];
};

static void bq_done(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res)
{
	struct bq_batch *b = arg;
	bool single = err && err->code != ETCD_ECANCELED && !b->a->stopping;

	(void)res;
	if (single)
		fs_debug("%zu bids in one txn failed (%s): writing them one "
			 "by one",
			 b->n, agent_err_str(err));
	for (size_t i = 0; i < b->n; i++) {
		if (single) {
			bid_put_one(b->a, &b->q[i]);
		} else {
			free(b->q[i].key);
			free(b->q[i].val);
		}
	}
	free(b);
}

void agent_bid_flush(agent *a)
{
	size_t done = 0;

	while (done < a->n_bq) {
		struct bq_batch *b = malloc(sizeof(*b));
		struct etcd_op ops[VQ_BATCH];

		if (!b)
			break;
		b->a = a;
		b->n = 0;
		for (; done < a->n_bq && b->n < VQ_BATCH; done++) {
			struct bidq *q = &a->bq[done];

			ops[b->n].type = ETCD_OP_PUT;
			ops[b->n].u.put = (struct etcd_put_req){
				.key = q->key, .value = q->val,
				.value_len = strlen(q->val), .lease = q->lease};
			b->q[b->n++] = *q;
		}
		struct etcd_txn_req txn = {.success = ops, .n_success = b->n};
		if (etcd_kv_txn(a->etcd, &txn, bq_done, b) != 0) {
			for (size_t i = 0; i < b->n; i++)
				bid_put_one(a, &b->q[i]);
			free(b);
		}
	}
	/* Out of memory for a batch: one by one. */
	for (; done < a->n_bq; done++)
		bid_put_one(a, &a->bq[done]);
	a->n_bq = 0;
}

/* h's bid on round id (a broadcast round or h's invitation); *answered
 * is h's flag for it. */
static void host_bid(struct host *h, const char *id, const struct fs_round *r,
		     unsigned char *answered)
{
	struct fs_bid b;
	char *key, *val;

	if (!h->registered || *answered)
		return;
	if (!fs_round_invites(r, h->name))
		return;
	/* No deadline check: the key exists until its coordinator closes
	 * the round, so a late bid is at worst a stale one (deleted by the
	 * coordinator).  Skipping rounds past deadline_ms (set when the round
	 * was formatted, before its txn queued behind others) left 1,222 of
	 * 3,289 sample rounds of a bench run with no bid at all, and would
	 * skip every round on a host whose clock runs 1 s ahead. */
	/* Scored against what is committed and measured now. */
	agent_host_rec_update(h);
	/* The coordinator's weights and strategy, carried by the round. */
	fs_score(&h->rec, &h->alloc, &r->need, &r->weights, r->strategy, &b);
	b.attempt = r->attempt;
	val = fs_bid_format(&b);
	key = malloc(KEY_MAX);
	if (!val || !key)
		goto out;
	snprintf(key, KEY_MAX, "%s/bids/%s/%s", h->a->prefix, h->name, id);
	if (bid_queue(h->a, key, val, h->lease) == 0) {
		*answered = 1;
		h->a->n_bids++;
		fs_debug("%s: bid on %s attempt %" PRId64 ": %s %.4f%s%s",
			 h->name, id, b.attempt, b.fits ? "fits" : "no",
			 b.score, b.fits ? "" : ", ", b.reason);
		return; /* the queue owns key and val */
	}
out:
	free(key);
	free(val);
}

void agent_bid_host_all(struct host *h)
{
	for (struct round *rd = h->a->rounds; rd; rd = rd->next) {
		rd->answered[h->idx] = 0;
		host_bid(h, rd->id, &rd->r, &rd->answered[h->idx]);
	}
	for (struct round *rd = h->invites; rd; rd = rd->next) {
		rd->answered[0] = 0;
		host_bid(h, rd->id, &rd->r, rd->answered);
	}
}

static struct round *round_free(struct round *rd)
{
	if (rd) {
		fs_round_clear(&rd->r);
		free(rd->answered);
		free(rd->id);
		free(rd);
	}
	return NULL;
}

static void round_remove(struct round **list, struct round *rd)
{
	for (struct round **p = list; *p; p = &(*p)->next) {
		if (*p == rd) {
			*p = rd->next;
			round_free(rd);
			return;
		}
	}
}

static struct round *round_find(struct round *list, const char *id)
{
	for (; list; list = list->next)
		if (strcmp(list->id, id) == 0)
			return list;
	return NULL;
}

/*
 * A put of round id (key) into *list: parsed, and found or added with
 * n_flags answered flags; NULL when skipped (said why) or out of memory.
 * A put with the attempt already held keeps the flags (a re-list, or
 * another host's watch of the same key): the hosts that answered it do
 * not bid twice.
 */
static struct round *round_put(struct round **list, const char *key,
			       const char *id, const char *val, size_t len,
			       size_t n_flags)
{
	struct round *rd = round_find(*list, id);
	struct fs_round r = {0};
	char err[256];

	if (!fs_name_valid(id)) {
		fs_warn("%s: skipped: round id is not a valid name", key);
		return NULL;
	}
	if (fs_round_parse(val, len, &r, err, sizeof(err)) < 0) {
		fs_warn("%s: malformed round skipped: %s", key, err);
		if (rd)
			round_remove(list, rd);
		return NULL;
	}
	if (rd) {
		rd->seen = true;
		if (rd->r.attempt == r.attempt) {
			fs_round_clear(&r);
			return rd;
		}
		fs_round_clear(&rd->r);
		memset(rd->answered, 0, n_flags);
	} else {
		rd = calloc(1, sizeof(*rd));
		if (!rd || !(rd->id = strdup(id)) ||
		    !(rd->answered = calloc(n_flags, 1))) {
			fs_error("%s: out of memory", key);
			fs_round_clear(&r);
			round_free(rd);
			return NULL;
		}
		rd->seen = true;
		rd->next = *list;
		*list = rd;
	}
	rd->r = r;
	return rd;
}

/* Re-list marks of one list: begin unmarks, end drops the unmarked. */
static void round_mark(struct round **list, bool begin)
{
	struct round *rd, *next;

	for (rd = *list; rd; rd = next) {
		next = rd->next;
		if (begin)
			rd->seen = false;
		else if (!rd->seen)
			round_remove(list, rd);
	}
}

void agent_bid_round_kv(agent *a, struct host *scope, const char *key,
			const char *val, size_t len, bool deleted)
{
	const char *id = key + strlen(a->prefix) + strlen("/rounds/");
	struct round *rd;

	if (deleted) {
		if ((rd = round_find(a->rounds, id)))
			round_remove(&a->rounds, rd);
		return;
	}
	rd = round_put(&a->rounds, key, id, val, len, a->n_hosts);
	if (!rd)
		return;
	if (scope) {
		host_bid(scope, rd->id, &rd->r, &rd->answered[scope->idx]);
	} else if (rd->r.hosts) {
		/* A round of an older coordinator that named its hosts. */
		for (size_t i = 0; i < rd->r.n_hosts; i++) {
			struct host *h = agent_host_find(a, rd->r.hosts[i],
						   strlen(rd->r.hosts[i]));
			if (h)
				host_bid(h, rd->id, &rd->r,
					 &rd->answered[h->idx]);
		}
	} else {
		for (unsigned i = 0; i < a->n_hosts; i++)
			host_bid(&a->hosts[i], rd->id, &rd->r,
				 &rd->answered[i]);
	}
}

void agent_bid_round_mark(agent *a, struct host *scope, bool begin)
{
	/* Every host's watch lists the same keys: one list for all. */
	(void)scope;
	round_mark(&a->rounds, begin);
}

void agent_bid_invite_kv(agent *a, struct host *scope, const char *key,
			 const char *val, size_t len, bool deleted)
{
	const char *id;
	struct host *h = agent_host_of_key(a, key, strlen("invites"), &id);
	struct round *rd;

	if (!h || !id || (scope && h != scope))
		return;
	if (deleted) {
		if ((rd = round_find(h->invites, id)))
			round_remove(&h->invites, rd);
		return;
	}
	rd = round_put(&h->invites, key, id, val, len, 1);
	if (rd)
		host_bid(h, rd->id, &rd->r, rd->answered);
}

void agent_bid_invite_mark(agent *a, struct host *scope, bool begin)
{
	for (unsigned i = 0; i < a->n_hosts; i++)
		if (!scope || scope == &a->hosts[i])
			round_mark(&a->hosts[i].invites, begin);
}

void agent_bid_fini(agent *a)
{
	for (size_t i = 0; i < a->n_bq; i++) {
		free(a->bq[i].key);
		free(a->bq[i].val);
	}
	free(a->bq);
	a->bq = NULL;
	a->n_bq = 0;
	while (a->rounds) {
		struct round *rd = a->rounds;

		a->rounds = rd->next;
		round_free(rd);
	}
	for (unsigned i = 0; a->hosts && i < a->n_hosts; i++) {
		while (a->hosts[i].invites) {
			struct round *rd = a->hosts[i].invites;

			a->hosts[i].invites = rd->next;
			round_free(rd);
		}
	}
}
