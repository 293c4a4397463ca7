/* Request keys that cannot be ids (docs/DESIGN.md "Keys that cannot be
 * request ids"): P/requests/a/b, an id of 64 bytes, one with a NUL byte
 * or invalid UTF-8.  No status can sit at such a name, so each gets one
 * rejected record P/status/_invalid/<hash>, written once per revision of
 * the key by the coordinator of its slot (fenced, and only if the record
 * is older than that revision: a restart does not write it again), and
 * deleted with the key.  A record keeps the key escaped and bounded,
 * never the value.  Calls key.c and the etcd client. */
#include "controller/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define BADKEY_SHOWN 200 /* bytes of the key kept, escaped */

struct ctrl_badkey {
	struct ctrl *c;
	char hash[17];
	unsigned slot;
	bool present;     /* the key exists (else: its record is deleted) */
	int64_t rev;      /* its mod revision, or that of its delete */
	int64_t done_rev; /* the revision whose record is in etcd */
	bool sending;
	int64_t sent_rev; /* the revision the txn in flight is for */
	uint64_t seen;    /* list generation */
	char key[4 * BADKEY_SHOWN + 16];
	char reason[96];
};

/* 64-bit FNV-1a: the record's name, so that 10^6 bad keys do not
 * collide as the 32-bit slot hash would. */
static void badkey_hash(const char *id, size_t len, char out[17])
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)id[i];
		h *= 1099511628211ull;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void badkey_reason(const char *id, size_t len, char *out, size_t n)
{
	if (len == 0)
		snprintf(out, n, "empty id");
	else if (memchr(id, '\0', len))
		snprintf(out, n, "the key holds a NUL byte");
	else if (memchr(id, '/', len))
		snprintf(out, n, "the id holds a '/': an id is one name");
	else if (len > FS_NAME_MAX)
		snprintf(out, n, "an id of %zu bytes: at most %d", len,
			 FS_NAME_MAX);
	else
		snprintf(out, n, "not [a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])");
}

static struct ctrl_badkey *badkey_get(struct ctrl *c, const char *id,
				      size_t len)
{
	struct ctrl_badkey *b;
	char hash[17];

	badkey_hash(id, len, hash);
	if ((b = ctrl_map_get(&c->badkeys, hash)))
		return b;
	if (!(b = calloc(1, sizeof(*b))))
		return NULL;
	b->c = c;
	memcpy(b->hash, hash, sizeof(hash));
	b->slot = c->k ? fs_fnv1a(id, len) % c->k : 0;
	/* id points into the whole key, after "P/requests/" */
	fs_quote_n(b->key, sizeof(b->key), id - c->prefix_len - 9,
		   len + c->prefix_len + 9, BADKEY_SHOWN);
	badkey_reason(id, len, b->reason, sizeof(b->reason));
	if (ctrl_map_put(&c->badkeys, b->hash, b) < 0) {
		free(b);
		return NULL;
	}
	return b;
}

void ctrl_badkey_put(struct ctrl *c, const char *id, size_t len, int64_t mod)
{
	struct ctrl_badkey *b = badkey_get(c, id, len);

	if (!b)
		return;
	b->seen = c->list_gen;
	if (mod <= b->rev)
		return;
	b->present = true;
	b->rev = mod;
	c->badkeys_dirty = true;
}

void ctrl_badkey_del(struct ctrl *c, const char *id, size_t len, int64_t rev)
{
	struct ctrl_badkey *b = badkey_get(c, id, len);

	if (!b || rev <= b->rev)
		return;
	b->present = false;
	b->rev = rev;
	c->badkeys_dirty = true;
}

static void sweep_each(void *arg, const char *key, void *val)
{
	struct ctrl *c = arg;
	struct ctrl_badkey *b = val;

	(void)key;
	if (b->present && b->seen != c->list_gen && b->rev <= c->list_rev) {
		b->present = false;
		b->rev++;
		c->badkeys_dirty = true;
	}
}

void ctrl_badkey_sweep(struct ctrl *c)
{
	ctrl_map_each(&c->badkeys, sweep_each, c);
}

static char *badkey_json(struct ctrl *c, const struct ctrl_badkey *b)
{
	char now[32], why[192];
	json_t *o;
	char *s;

	fs_time_now(now, sizeof(now));
	snprintf(why, sizeof(why),
		 "key: not a valid request id (%s); delete it and submit "
		 "the request under P/requests/<id>",
		 b->reason);
	o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "phase", "rejected",
		      "key", b->key, "reason", why, "request_rev",
		      (json_int_t)b->rev, "coordinator", c->slots[b->slot].coord,
		      "updated", now);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static void on_badkey_txn(void *arg, const struct etcd_error *err,
			  const struct etcd_txn_result *res)
{
	struct ctrl_badkey *b = arg;
	struct ctrl *c = b->c;

	b->sending = false;
	c->inflight--;
	if (err) {
		c->m.txn_errors++;
		c->badkeys_dirty = true; /* the next pass tries again */
		return;
	}
	/* Not succeeded: we lost the slot (its new coordinator writes it),
	 * or the record already says this revision. */
	b->done_rev = b->sent_rev;
	if (b->done_rev != b->rev)
		c->badkeys_dirty = true; /* changed meanwhile */
	if (res->succeeded && b->present && b->done_rev == b->rev) {
		c->m.invalid_keys++;
		fs_warn("request key %s is not a valid request id (%s); "
			"rejected in %sstatus/_invalid/%s",
			b->key, b->reason, c->prefix, b->hash);
	}
	if (!b->present && b->done_rev == b->rev) {
		ctrl_map_del(&c->badkeys, b->hash);
		free(b);
	}
}

struct flush_ctx {
	struct ctrl_badkey **v;
	size_t n, cap;
};

/* Collects what to send: an answer may change the map (map.c). */
static void flush_each(void *arg, const char *key, void *val)
{
	struct flush_ctx *f = arg;
	struct ctrl_badkey *b = val;

	(void)key;
	if (b->sending || b->done_rev == b->rev)
		return;
	if (!slot_mine(b->c, b->slot) || !b->c->slots[b->slot].lk_key) {
		b->c->badkeys_dirty = true; /* again once the slot is ours */
		return;
	}
	if (f->n < f->cap)
		f->v[f->n++] = b;
	else
		b->c->badkeys_dirty = true;
}

static void badkey_send(struct ctrl *c, struct ctrl_badkey *b)
{
	const struct ctrl_slot *s = &c->slots[b->slot];
	char *sk = NULL, *sv = NULL;
	int rc = -ENOMEM;

	if (!slot_mine(c, b->slot) || !s->lk_key) {
		c->badkeys_dirty = true; /* again once the slot is ours */
		return;
	}
	sk = ctrl_keyf("%sstatus/_invalid/%s", c->prefix, b->hash);
	sv = b->present ? badkey_json(c, b) : NULL;
	if (sk && (sv || !b->present)) {
		struct etcd_compare cmp[2] = {
		    {.target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL,
		     .key = s->lk_key, .number = s->lk_rev},
		    {.target = ETCD_CMP_MOD, .result = ETCD_CMP_LESS,
		     .key = sk, .number = b->rev}};
		struct etcd_op op = {.type = ETCD_OP_PUT,
				     .u.put = {.key = sk, .value = sv,
					       .value_len = sv ? strlen(sv) : 0}};
		struct etcd_txn_req t = {cmp, b->present ? 2 : 1, &op, 1, NULL,
					 0};

		if (!b->present)
			op = (struct etcd_op){.type = ETCD_OP_DELETE,
					      .u.del = {.key = sk}};
		b->sending = true; /* before: an answer may come at once */
		b->sent_rev = b->rev;
		c->inflight++;
		c->m.txns++;
		rc = c->hooks.txn ? c->hooks.txn(c, &t, on_badkey_txn, b)
		     : c->etcd    ? etcd_kv_txn(c->etcd, &t, on_badkey_txn, b)
				  : -ENOTCONN;
		if (rc < 0) {
			b->sending = false;
			c->inflight--;
		}
	}
	free(sk);
	free(sv);
	if (rc < 0)
		c->badkeys_dirty = true;
}

/* Sent per pass at most: a flood of bad keys is written a batch at a
 * time, as requests are started PASS_START at a time. */
#define BADKEY_PASS 64

void ctrl_badkey_flush(struct ctrl *c)
{
	struct ctrl_badkey *v[BADKEY_PASS];
	struct flush_ctx f = {v, 0, BADKEY_PASS};

	if (!c->badkeys_dirty)
		return;
	c->badkeys_dirty = false;
	ctrl_map_each(&c->badkeys, flush_each, &f);
	for (size_t i = 0; i < f.n; i++)
		badkey_send(c, v[i]);
}

static void free_each(void *arg, const char *key, void *val)
{
	(void)arg;
	(void)key;
	free(val);
}

void ctrl_badkey_free_all(struct ctrl *c)
{
	ctrl_map_each(&c->badkeys, free_each, NULL);
	ctrl_map_clear(&c->badkeys);
}
