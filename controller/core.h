/*
 * The controller service's internal header (as redis's server.h): the
 * records every file of controller/ shares, and each file's functions in
 * layer order.  A file calls only the files listed above its own section
 * (and the pure modules of controller/ctrl.h, which any file may call:
 * request, status, queue, pick, map, place); news goes up through the
 * hooks of struct ctrl, txn done callbacks, and the dirty list and ready
 * list that the upper layers drain.  docs/DESIGN.md "Code map: controller"
 * draws the picture.
 *
 *  model:     key.c  badkey.c (invalid request keys)  host.c  req.c
 *  cache:     cache.c (records from puts and deletes)  watch.c (list+watch)
 *  txn:       txn.c (fenced builder, limits, send, answer replayed)
 *             core.c (struct ctrl made from the config, freed)
 *  actions:   report.c (status writes)  release.c (reservations returned)
 *  placement: place.c (pure, ctrl.h)  rounds.c  commit.c  drain.c
 *  decisions: reconcile.c        beside it: slots.c  session.c
 *  top:       pass.c (the loop's pass)  metrics.c  service.c (wiring)
 */
#ifndef FLINTSCHED_CTRL_CORE_H
#define FLINTSCHED_CTRL_CORE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/httpd.h"
#include "common/model.h"
#include "controller/ctrl.h"
#include "controller/service.h"
#include "etcdclient/etcd.h"

/*
 * etcd refuses a txn with more than --max-txn-ops (default 128) compares,
 * or success ops, or failure ops (each list counted on its own), and a
 * request larger than --max-request-bytes (default 1.5 MiB, the protobuf
 * form: raw keys and values, no base64).  Every txn built here stays
 * within TXN_MAX of each and TXN_BYTES of keys and values, leaving room
 * for the protobuf framing.
 */
#define LIST_PAGE 1000 /* keys per page of the initial list */
#define TXN_MAX 128
#define TXN_BYTES (1024 * 1024)
#define TXN_REQS 48 /* requests per txn at most */
#define PASS_START 64 /* queued requests started per loop pass at most */
#define ROUND_BIDS 4096 /* bids asked for by the open rounds at most */
#define TXN_HOSTS 48 /* hosts looked at while building one batch */
#define PASS_INTERVAL_S 2.0

/* Upper bounds (seconds) of the placement latency histogram buckets
 * (txn.c). */
#define LAT_N 13
extern const double ctrl_lat_bounds[LAT_N];

/* Counters served on /metrics (docs/DESIGN.md "Metrics"). */
struct ctrl_metrics {
	uint64_t placements, commit_txns, commit_conflicts, rounds;
	uint64_t rejected, unschedulable, lost, failed, released;
	uint64_t bids, round_timeouts, round_extends, txns, txn_errors, relists;
	uint64_t invalid_keys; /* P/status/_invalid/ records written */
	uint64_t drain_moves;     /* make-before-break moves completed */
	uint64_t drain_evictions; /* released break-before-make (deadline) */
	uint64_t preemptions;     /* preemption txns landed (preempt.c) */
	uint64_t lat_count, lat_bucket[LAT_N]; /* not cumulative */
	double lat_sum;
};

/* ---- cache records (struct ctrl_host is in ctrl.h) ------------------- */

struct ctrl_asg {
	char host[FS_NAME_MAX + 1];
	int64_t rev;
	int64_t spec_rev, attempt; /* its request_rev and attempt, 0 unknown */
	struct fs_need need;
	uint64_t seen;
};

struct ctrl_vm {
	char host[FS_NAME_MAX + 1];
	int64_t rev;
	char state[16];
	char *error;
	uint64_t seen;
};

/* preempt.c: what a read of P/status/<id> and P/assign/<host>/<id> of a
 * request of a slot we do not lead found, when it was a possible victim
 * (docs/DESIGN.md "Preemption"): good for the txn while its request and
 * VM record are as they were then (req_rev, vm_rev), for XVICT_TTL_S. */
struct ctrl_xvictim {
	int64_t req_rev, vm_rev;
	char host[FS_NAME_MAX + 1];
	double at;
	bool ok; /* placed on host, as its status and assignment say */
	int64_t st_rev, asg_rev;
	struct ctrl_status st;
	struct fs_need need; /* the assignment's: what alloc counts */
};
#define XVICT_TTL_S 10.0

struct ctrl_rbid {
	char host[FS_NAME_MAX + 1];
	struct fs_bid bid;
};

enum ctrl_act {
	ACT_NONE,
	ACT_QUEUED, /* in c->queue */
	ACT_ROUND,  /* round put or open, awaiting bids */
	ACT_READY,  /* candidates known, awaiting a commit batch */
	ACT_TXN,    /* a txn in flight */
};

struct ctrl_req {
	char id[FS_NAME_MAX + 1];
	unsigned slot;
	struct ctrl *c;
	struct ctrl_qitem q;
	enum ctrl_act act;

	bool req_present;
	int64_t req_rev; /* mod revision, or of the delete */
	/* The revision the current value dates from: a put of the same
	 * bytes (a client retrying a put whose answer it lost) moves req_rev,
	 * not this, and changes nothing placed; statuses and assignments
	 * name it (request_rev), with the value's hash (request_hash), so
	 * that a controller that lists the request later finds it too. */
	int64_t spec_rev;
	char req_hash[17];
	char *req_val;
	size_t req_len;
	int64_t parsed_rev;
	bool valid;
	struct ctrl_request parsed;
	char reason[256];
	uint64_t req_seen;

	bool st_present;
	bool st_garbage; /* present but unreadable (st is zeroed) */
	int64_t st_rev;
	struct ctrl_status st;
	uint64_t st_seen;

	struct ctrl_asg *asg;
	size_t n_asg;
	struct ctrl_vm *vms;
	size_t n_vms;

	/* placement in progress */
	int64_t plan_req_rev, plan_st_rev;
	int64_t round_attempt;
	bool round_open;
	bool round_sending; /* the txn opening the round is in flight */
	char **invited; /* NULL with n_invited = broadcast to every host */
	size_t n_invited;
	size_t n_expect; /* bids that close the round: every invited host */
	struct ctrl_rbid *bids;
	size_t n_bids;
	ev_timer round_timer;
	ev_timer lost_timer; /* end of its disconnected host's grace */
	ev_tstamp seen_at; /* when this revision of the request was seen */
	struct ctrl_explain explain;
	struct ctrl_cand *cands;
	size_t n_cands;
	int64_t tries;       /* commit conflicts / empty rounds so far */
	const char *pick;    /* chosen host during a commit txn */
	double pick_score;
	int64_t unsched_gen; /* capacity generation when found unschedulable */
	int64_t last_attempt; /* of the last round put for r (ours, listed) */
	bool round_key;       /* P/rounds/<id> may exist (ours, or listed) */
	/* Hosts whose invitation P/invites/<host>/<id> may exist (a sample
	 * round's, ours or listed): added when a put is queued, removed
	 * when a delete lands; each is deleted with the round (commit,
	 * forget, reconcile's leftovers) or by the next round's put txn. */
	char (*inv)[FS_NAME_MAX + 1];
	size_t n_inv;
	/* Hosts whose P/bids/<host>/<id> may exist and belong to no open
	 * round: deleted by reconcile (the slot's coordinator owns them). */
	char (*stale)[FS_NAME_MAX + 1];
	size_t n_stale;
	int64_t waits;        /* rounds closed with invited hosts silent */
	int extends;          /* times this round's timeout found no bid */
	ev_tstamp retry_at;   /* no new round before (waiting for bids) */
	/* A txn of r ended without an answer that says whether it landed
	 * (etcd_error.outcome_unknown): r acts on nothing until the list
	 * numbered hold_seq (one started after that) is in and says what
	 * landed; 0: not held. */
	uint64_t hold_seq;
	/* A VM record of r written at this revision was deleted while an
	 * older assignment of r was cached (led slots): the assignment may
	 * be gone too, by another coordinator's preemption, so reconcile
	 * reads it back (ctrl_preempt_check); 0: none. */
	int64_t vm_gone_rev;
	struct ctrl_xvictim *xv; /* preempt.c's, or NULL (freed with r) */
	/* drain.c: cap_gen + 1 when no other host fitted its move (said
	 * once per capacity change), 0 = not looked */
	int64_t drain_nofit_gen;

	bool dirty;
	struct ctrl_req *dirty_next;
	struct ctrl_req *ready_next;
};

enum slot_state { SLOT_NONE, SLOT_CAMPAIGN, SLOT_LEADER };

/* A candidacy key P/election/slot-<i>/<lease> seen in the cache; the
 * oldest (lowest create revision) is the slot's leader. */
struct slot_cand {
	char lease[24];
	int64_t crev;
	char name[FS_NAME_MAX + 1]; /* the campaign value: the controller */
};

/* After yielding a slot to a controller below its share, do not campaign
 * for it again for this long (it goes to the controller queued first). */
#define YIELD_HOLD_S 5.0

struct ctrl_slot {
	enum slot_state state;
	etcd_campaign *camp;
	void *camp_arg; /* camp's callback context (freed on cancel) */
	char *name;   /* P/election/slot-<i> */
	char *lk_key; /* our leader key */
	int64_t lk_rev, lk_lease;
	char coord[FS_NAME_MAX + 32]; /* "<name>/slot-<i>" */
	struct slot_cand *cands;      /* every controller's candidacy */
	size_t n_cands;
	ev_tstamp yielded_at;         /* 0, or when we yielded it */
	bool resigning;               /* led; a resign in flight */
	uint64_t need_seq; /* led: mine once the list of this seq is in */
};

/* The cache's watches: everything under the prefix but P/assign/,
 * P/status/, P/rounds/ and P/invites/, which only a slot's coordinator writes (fenced)
 * and which it replays into its cache from its own txns' answers (rounds
 * it keeps in memory only); not watching them spares etcd 3 of the 6
 * events a cached placement sent each controller, and 2 of a round's.
 * Their state for a slot is read by the first list that starts after the
 * slot is won (need_seq).  Bids are watched without deletes: the
 * coordinator deletes them itself, or their host's lease does (3 events
 * a sample placement). */
enum { W_ALLOC, W_BIDS, W_MID, W_MID2, W_VMS, W_N };
struct ctrl_wch {
	struct ctrl *c;
	etcd_watch *w;
	bool ok;
};

enum txn_kind { TXN_COMMIT, TXN_ROUND, TXN_STATUS, TXN_RELEASE, TXN_MOVE };

/* A success op, replayed into the cache when the txn lands: status and
 * assign puts carry what they were made from, so that replaying one
 * does not parse back JSON the controller itself wrote (that parse was
 * 14% of its CPU at saturation). */
struct tb_str {
	char *key, *val;
	size_t len;
	bool del;
	struct ctrl_status *st; /* a status put: the status */
	struct fs_need *need;   /* an assign put: the request's need */
};

struct ctrl_txn;
/* Called by txn.c for each request of a txn once it ended (ok: it
 * succeeded; rev: its revision), after r->act is reset to ACT_NONE and
 * before r is marked dirty: how the layer that built the txn hears of
 * its end.  A txn of no requests calls it once, with r NULL. */
typedef void ctrl_txn_done_fn(struct ctrl_txn *t, struct ctrl_req *r,
			      bool ok, int64_t rev);

struct ctrl_txn {
	struct ctrl *c;
	ctrl_txn_done_fn *done; /* may be NULL */
	enum txn_kind kind;
	unsigned slot;
	int64_t lease;
	struct etcd_compare cmp[TXN_MAX];
	size_t n_cmp;
	struct etcd_op ok[TXN_MAX], ko[TXN_MAX];
	size_t n_ok, n_ko;
	struct tb_str ops[TXN_MAX]; /* success ops, replayed into the cache */
	char *cmp_keys[TXN_MAX];
	char *read_keys[TXN_MAX]; /* ctrl_txn_read's */
	size_t n_reads;
	size_t bytes; /* keys and values, as etcd counts the request */
	int err;      /* -ENOMEM, or -E2BIG: an op did not fit (a bug) */
	bool answered; /* etcd answered (else: error, timeout, not sent) */
	size_t resv_cmp, resv_ok, resv_bytes; /* kept for batch_send */
	struct ctrl_req *reqs[TXN_REQS];
	int phase[TXN_REQS]; /* status phase written per request, -1 none */
	size_t n_reqs;
	struct ctrl_host *hosts[TXN_HOSTS];
	size_t n_hosts;
	/* ctrl_txn_cmp_no_asg's compares: the host, the end of its range
	 * (malloc'd) and the index of its read-back in ko. */
	struct tb_noasg {
		struct ctrl_host *h;
		char *end;
		size_t ko;
	} noasg[TXN_HOSTS];
	size_t n_noasg;
	char what[160]; /* for the log */
	void *arg;      /* the builder's, for done (drain.c: a host) */
};

/* Upward notifications of the lower layers (cache, watch, txn), set by
 * service.c to the slots layer's functions: the lower layers never call
 * up directly. */
struct ctrl_hooks {
	/* P/controllers/ changed, or the cache finished a list. */
	void (*balance)(struct ctrl *c);
	/* A candidacy key of slot i under our lease that we do not campaign
	 * with (left behind): delete it. */
	void (*withdraw)(struct ctrl *c, unsigned i);
	/* A candidacy key without a lease (rewritten in place) at mod:
	 * nothing will ever delete it and etcd's campaigns wait behind it,
	 * so delete it (may be NULL). */
	void (*stray)(struct ctrl *c, const char *key, int64_t mod);
	/* A txn of slot i failed on its fence: we no longer lead it. */
	void (*fenced)(struct ctrl *c, unsigned i, const char *why);
	/* Sends a txn of txn.c; NULL: etcd_kv_txn on c->etcd.  The seam
	 * through which a test answers the txns itself (test_commit.c). */
	int (*txn)(struct ctrl *c, const struct etcd_txn_req *req,
		   etcd_txn_cb cb, void *arg);
};

/* A bid listed before any record of its request (cache.c). */
struct ctrl_lbid {
	char host[FS_NAME_MAX + 1], id[FS_NAME_MAX + 1];
};

struct ctrl {
	struct ev_loop *loop;
	const struct ctrl_config *cfg;
	etcd_client *etcd;
	char name[FS_NAME_MAX + 1];
	char *prefix; /* "P/" */
	size_t prefix_len;
	unsigned k;
	struct fs_weights w;
	struct ctrl_host **harr; /* every host entry (host.c frees unused ones) */
	size_t n_harr, cap_harr;
	struct ctrl_host *host_gc; /* entries that may be unused (host.c) */
	size_t cursor;           /* where the next cached pick starts looking */
	char stale_reason[64];   /* a stale host's, for the explain */
	double band;             /* partition_band, 0 with one slot */

	int64_t lease;
	etcd_keepalive *ka;
	bool session_up, starting;
	bool meta_wait;        /* P/meta unreadable: reading it again */
	int64_t meta_bad_rev;  /* its revision, said once */
	char session_err[256]; /* why the session is not up, or "" */
	ev_timer session_timer;

	bool cache_ready;
	bool listing, list_first; /* pages of a list are arriving */
	uint64_t list_seq;        /* lists started */
	uint64_t done_seq;        /* the last list that completed */
	uint64_t want_seq;        /* a list waited for (hold_seq), or 0 */
	unsigned alloc_bad_n;     /* hosts with alloc_bad (pass.c rebuilds) */
	struct ctrl_wch wch[W_N];
	uint64_t list_gen;
	int64_t list_rev; /* revision of the last list, for the sweep */
	/* bids listed with no record of their request, given a slot by
	 * the sweep once the list is in (cache.c listed_bids_take) */
	struct ctrl_lbid *lbids;
	size_t n_lbids;
	ev_timer relist_timer;

	struct ctrl_map hosts, reqs, ctrls;
	struct ctrl_map badkeys; /* badkey.c: request keys that are no id */
	bool badkeys_dirty;
	struct ctrl_slot *slots;
	struct ctrl_queue queue;
	struct ctrl_req *dirty_head;
	struct ctrl_req *ready_head, **ready_tail;
	struct ctrl_txn **sbatch; /* per slot: status writes being batched */
	struct ctrl_txn **gbatch; /* per slot: leftover bid deletes */
	struct ctrl_txn **rbatch; /* per slot: round puts being batched */
	unsigned rounds_sending;  /* rounds batched or in a txn in flight */
	int64_t cap_gen;
	/* the present hosts' lease renewals per second (host.c) */
	double ka_rate;
	size_t ka_hosts;
	bool ka_warned;
	bool pass_all;
	unsigned inflight;
	unsigned rounds_open;

	ev_prepare prepare;
	ev_timer pass_timer;

	fs_httpd *http;
	struct ctrl_metrics m;
	struct ctrl_hooks hooks;

	int fatal;
	char fatal_msg[512];
};

/* Led, and the cache holds the slot's statuses and assignments. */
static inline bool slot_mine(const struct ctrl *c, unsigned i)
{
	return i < c->k && c->slots[i].state == SLOT_LEADER &&
	       c->slots[i].need_seq <= c->done_seq;
}

/* ---- key.c: names under the prefix (calls nothing) -------------------- */

/* Malloc'd, or NULL. */
char *ctrl_keyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Splits "<kind>/<a>[/<b>]" after the prefix; 0, or -1 if it is not one
 * of ours (kind < 16 bytes, a and b <= FS_NAME_MAX). */
int ctrl_key_split(const struct ctrl *c, const char *key, char *kind,
		   char *a, char *b);
/* The same, of len bytes that may hold NULs (etcd's keys): a key with a
 * NUL byte is not one of ours. */
int ctrl_key_splitn(const struct ctrl *c, const char *key, size_t len,
		    char *kind, char *a, char *b);
/* For "P/requests/<x>" where x is not a valid id (empty, a '/', over
 * FS_NAME_MAX bytes, a NUL, a byte outside [a-z0-9._-]): x (borrowed
 * from key) and its length; else NULL. */
const char *ctrl_key_bad_request(const struct ctrl *c, const char *key,
				 size_t len, size_t *ret_len);
/* Bytes of a key under the prefix, at most (kind + two names). */
size_t ctrl_key_max(const struct ctrl *c);

/* ---- badkey.c: request keys that cannot be ids (calls key.c, etcd) -- */

/* The put or delete of P/requests/<id> where id (len bytes, may hold
 * NULs) is no valid id (ctrl_key_bad_request). */
void ctrl_badkey_put(struct ctrl *c, const char *id, size_t len, int64_t mod);
void ctrl_badkey_del(struct ctrl *c, const char *id, size_t len, int64_t rev);
/* After a list: the bad keys it did not see are gone. */
void ctrl_badkey_sweep(struct ctrl *c);
/* Writes (or deletes) the P/status/_invalid/<hash> records of the led
 * slots that are not yet in etcd: once per pass (pass.c). */
void ctrl_badkey_flush(struct ctrl *c);
void ctrl_badkey_free_all(struct ctrl *c);

/* ---- host.c: host records (calls map.c) ------------------------------- */

/* Borrowed (the cache owns it), or NULL (absent and !create, or ENOMEM). */
struct ctrl_host *ctrl_host_get(struct ctrl *c, const char *name,
				bool create);
void ctrl_host_pend_clear(struct ctrl_host *h);
/* Something may no longer refer to h (a record, alloc or hostctl gone, a
 * lock, invitation, candidate or assignment dropped): looked at by
 * ctrl_host_gc.  Takes NULL. */
void ctrl_host_unref(struct ctrl *c, struct ctrl_host *h);
/* One more (+1) or one less (-1) cached assignment on host name. */
void ctrl_host_asg(struct ctrl *c, const char *name, int d);
/*
 * Frees the entries ctrl_host_unref named that nothing refers to: no
 * record, alloc or hostctl, no lock (a commit or rebuild in flight, a
 * batch being built), invitation, candidate or assignment.  Host-name
 * churn grew the cache without bound, and every cached pick scanned the
 * dead entries.  Run at the end of a pass: no caller holds an entry
 * across it but through those references.
 */
void ctrl_host_gc(struct ctrl *c);
/* h's record comes (h->present and h->rec as they are now) or goes:
 * sign +1 or -1 to the fleet's lease renewals per second. */
void ctrl_host_keepalives_add(struct ctrl *c, const struct ctrl_host *h,
			      int sign);
/* Warns once, while the fleet's renewals exceed
 * controller.max_host_keepalives_per_s, with the TTL that would do. */
void ctrl_host_keepalives_check(struct ctrl *c);
/* Marks stale the present hosts whose record was not rewritten within
 * scheduling.host_stale_after_s (now: ev_now), unless it is 0; returns
 * how many became stale. */
size_t ctrl_host_stale_scan(struct ctrl *c, double now);
/* Placeable and holding its VMs: present and not stale. */
static inline bool ctrl_host_live(const struct ctrl_host *h)
{
	return h && h->present && !h->stale;
}
/* h's alloc is unreadable or known not to be the sum of its assignments
 * (bad), or is again (!bad).  While bad, h holds one lock of its own
 * (h->locked: no commit or release touches it, place.c sees it busy)
 * and pass.c has alloc.c rebuild it. */
void ctrl_host_alloc_bad(struct ctrl *c, struct ctrl_host *h, bool bad);
void ctrl_host_free_all(struct ctrl *c);
/* Forgets h->moving (P/drain/<host>'s ids). */
void ctrl_host_moves_clear(struct ctrl_host *h);

/* ---- req.c: request records and their lists (calls host.c) ----------- */

struct ctrl_req *ctrl_req_get(struct ctrl *c, const char *id, bool create);
/* Drops the round, bids, candidates and explain of r; the bids' keys
 * go to r->stale (they may still exist). */
void ctrl_req_round_reset(struct ctrl_req *r);
/* Frees r->cands, dropping the references they hold on their hosts
 * (each candidate whose data is a host holds one: h->refs). */
void ctrl_req_cands_clear(struct ctrl_req *r);
/* A txn that landed deleted r's round key and its bids: forget them. */
void ctrl_req_round_closed(struct ctrl_req *r);
/* host's bid key for r is to be deleted (0, or -ENOMEM). */
int ctrl_req_stale_add(struct ctrl_req *r, const char *host);
/* r->inv: host's invitation may exist (0 or -ENOMEM) / is gone. */
int ctrl_req_inv_add(struct ctrl_req *r, const char *host);
void ctrl_req_inv_remove(struct ctrl_req *r, const char *host);
bool ctrl_req_inv_has(const struct ctrl_req *r, const char *host);
/* Abandons whatever r was doing (slot lost, request gone), but a txn in
 * flight (its answer resets it). */
void ctrl_req_abort(struct ctrl_req *r);
/* r's assignment or VM record on host, or NULL (borrowed). */
struct ctrl_asg *ctrl_req_asg(struct ctrl_req *r, const char *host);
struct ctrl_vm *ctrl_req_vm(struct ctrl_req *r, const char *host);
void ctrl_req_asg_remove(struct ctrl_req *r, size_t i);
/* r's value now puts it in slot (its group's, docs/DESIGN.md "Placement
 * protocol" 1): out of a slot we lead, its work and its statuses and
 * assignments go (their next coordinator lists them); into one, after a
 * rewrite (was_present), r waits for a list that reads them (want_seq,
 * started by pass.c). */
void ctrl_req_reslot(struct ctrl_req *r, unsigned slot, bool was_present);
/* Drops r's status and assignments (not watched: only a slot's
 * coordinator keeps them) and their revisions. */
void ctrl_req_forget_led(struct ctrl_req *r);
/* The slot of request id's keys: its record's, else fs_slot_of(id). */
unsigned ctrl_req_slot_of(struct ctrl *c, const char *id);
void ctrl_req_vm_remove(struct ctrl_req *r, size_t i);
/* Parses r's value if not yet parsed at its revision (also for a slot
 * we do not lead: preempt.c reads other slots' VMs' priorities); returns
 * r->valid. */
bool ctrl_req_parse(struct ctrl_req *r);
void ctrl_req_xvictim_drop(struct ctrl_req *r);
/* Frees r if nothing refers to it any more. */
void ctrl_req_maybe_free(struct ctrl *c, struct ctrl_req *r);
/* Marks r for reconcile at the next pass (c->dirty_head, pass.c). */
void ctrl_req_dirty(struct ctrl_req *r);
/* Appends r to the ready list (commit.c drains it). */
void ctrl_req_ready_push(struct ctrl *c, struct ctrl_req *r);
bool ctrl_req_avoids(const struct ctrl_req *r, const char *host);
/* What placing r asks of a host (place.c), borrowing from r and c. */
void ctrl_req_place(const struct ctrl *c, const struct ctrl_req *r,
		    struct ctrl_place *p);
void ctrl_req_free_all(struct ctrl *c);

/* ---- cache.c: records from puts and deletes (calls key, host, req) --- */

/* The put of key at revision mod (create: its create revision, 0 for our
 * own writes), applied when newer than what the cache holds. */
void ctrl_cache_put(struct ctrl *c, const char *key, const char *val,
		    size_t len, int64_t create, int64_t mod);
void ctrl_cache_del(struct ctrl *c, const char *key, int64_t rev);
/* A put or delete as etcd sent it (list, watch): the key is key_len
 * bytes that may hold NULs, and liveness records count only under a
 * lease (docs/DESIGN.md "Key layout"). */
void ctrl_cache_kv_put(struct ctrl *c, const struct etcd_kv *kv);
void ctrl_cache_kv_del(struct ctrl *c, const struct etcd_kv *kv, int64_t rev);
/* Our own status put (own taken: no JSON parsed back). */
void ctrl_cache_status(struct ctrl *c, const char *key, const char *id,
		       const char *val, size_t len, struct ctrl_status *own,
		       int64_t mod);
/* Our own assign put (own taken). */
void ctrl_cache_assign(struct ctrl *c, const char *key, const char *host,
		       const char *id, const char *val, size_t len,
		       struct fs_need *own, int64_t mod);
/* The need of the assignment value val of request id, and its
 * request_rev and attempt (0 when absent; may be NULL): 0 or -EINVAL. */
int ctrl_cache_asg_need(const char *id, const char *val, size_t len,
			struct fs_need *need, int64_t *ret_rrev,
			int64_t *ret_attempt);
/* After a list: what it did not see (and nothing newer wrote) is gone. */
void ctrl_cache_sweep(struct ctrl *c);
/* Name of the controller leading slot s as the cache says, or NULL. */
const char *ctrl_cache_slot_leader(const struct ctrl_slot *s);

/* ---- watch.c: list+watch of the prefix (calls cache.c) -------------- */

void ctrl_watch_init(struct ctrl *c);
/* Lists the prefix now (the watches restart from its revision). */
void ctrl_watch_list(struct ctrl *c);
/* A list in after seconds (coalesced). */
void ctrl_watch_relist(struct ctrl *c, double after);
bool ctrl_watch_ok(const struct ctrl *c);
void ctrl_watch_cancel(struct ctrl *c);

/* ---- txn.c: fenced txns (calls cache, watch, req, host, key) -------- */

/* A new txn of slot; done (may be NULL) is called for each of its
 * requests when it ends.  NULL on ENOMEM. */
struct ctrl_txn *ctrl_txn_new(struct ctrl *c, enum txn_kind kind,
			      unsigned slot, ctrl_txn_done_fn *done);
void ctrl_txn_free(struct ctrl_txn *t);
/* Reads key back on failure, without comparing it.  Takes key. */
void ctrl_txn_read(struct ctrl_txn *t, char *key);
/* Compare target of key == rev, and read it back on failure.  Takes key. */
void ctrl_txn_cmp(struct ctrl_txn *t, char *key, enum etcd_cmp_target tgt,
		  int64_t rev);
/* h holds no assignment: create revision 0 over P/assign/<h>/ (true of
 * an empty range only), for a commit on an alloc the cache says is
 * absent.  When it fails (the host holds assignments that no alloc
 * sums), h's alloc is marked bad: rebuilt from them before any commit. */
void ctrl_txn_cmp_no_asg(struct ctrl_txn *t, struct ctrl_host *h);
/* The slot's election key compare: first in every txn. */
void ctrl_txn_fence(struct ctrl_txn *t);
/* Takes key and val (val NULL = delete). */
void ctrl_txn_op(struct ctrl_txn *t, char *key, char *val, int64_t lease);
/* Hands st (malloc'd, taken) to the status put just added, for the
 * replay (struct tb_str). */
void ctrl_txn_keep_status(struct ctrl_txn *t, struct ctrl_status *st);
/* Hands a copy of need's size and spread group to the assign put just
 * added, for the replay (the selector is not needed there). */
void ctrl_txn_keep_need(struct ctrl_txn *t, const struct fs_need *need);
/* Malloc'd statuses for ctrl_txn_keep_status: a deep copy, or s moved
 * (s left empty); NULL on ENOMEM (the replay then parses the JSON). */
struct ctrl_status *ctrl_txn_status_dup(const struct ctrl_status *s);
struct ctrl_status *ctrl_txn_status_take(struct ctrl_status *s);
void ctrl_txn_status_drop(struct ctrl_status *st);
/* Room in t for cmps more compares or reads, ops more success ops and
 * bytes more bytes of keys and values? */
bool ctrl_txn_room(const struct ctrl_txn *t, size_t cmps, size_t ops,
		   size_t bytes);
/* Ops that close r's round (the round key, one per bid and one per
 * invitation), and adding them to t (those that do not fit go to the
 * slot's leftover txn). */
size_t ctrl_txn_round_ops(const struct ctrl_req *r);
void ctrl_txn_round_close(struct ctrl *c, struct ctrl_txn *t,
			  struct ctrl_req *r);
/* The deletes of r's invitations (r->inv) into t, or when t is NULL or
 * full into the slot's leftover txn. */
void ctrl_txn_invites_del(struct ctrl *c, struct ctrl_txn *t,
			  struct ctrl_req *r);
/* Sends t (fenced: the caller put ctrl_txn_fence first); its end comes
 * through t->done, even when it cannot be sent. */
void ctrl_txn_send(struct ctrl_txn *t);
/* Sends the batch *bp of one slot, if any (named "<verb> N <things>"). */
void ctrl_txn_batch_flush(struct ctrl_txn **bp, const char *verb,
			  const char *things);
/* Sends the leftover bid deletes of slot i, if any. */
void ctrl_txn_gc_flush(struct ctrl *c, unsigned i);
/* Deletes key (taken) in slot's fenced txn of leftover deletes, sent at
 * the end of the pass (best effort). */
void ctrl_txn_gc_del(struct ctrl *c, unsigned slot, char *key);

/* ---- core.c: struct ctrl made and freed (calls key, host, req, txn) - */

/* Fills a zeroed c from cfg (borrowed for c's lifetime): 0, -EINVAL
 * (message in err) or -ENOMEM.  No I/O: c->etcd stays NULL. */
int ctrl_core_init(struct ctrl *c, struct ev_loop *loop,
		   const struct ctrl_config *cfg, char *err, size_t errlen);
/* Frees what c holds (records, slots, unsent batches), not c. */
void ctrl_core_clear(struct ctrl *c);

/* ---- report.c: status writes (calls txn, req, key) ------------------ */

const char *ctrl_report_coord(struct ctrl *c, unsigned slot);
/* A status as r's: reset to phase p for r's current revision; its
 * reason; the attempts and avoid list of the current revision carried. */
void ctrl_report_init(struct ctrl_status *s, enum ctrl_phase p,
		      const struct ctrl_req *r);
void ctrl_report_reason(struct ctrl_status *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ctrl_report_carry(struct ctrl_status *s, const struct ctrl_req *r);
/* The same from status st (of the current revision): attempt,
 * replaced_on, avoid. */
void ctrl_report_carry_st(struct ctrl_status *s, const struct ctrl_status *st);
/* ex moved into s's explain (ex left empty: s owns what it held). */
void ctrl_report_explain_take(struct ctrl_status *s, struct ctrl_explain *ex);
/* ---- preempt.c -------------------------------------------------------- */
/* r fits nowhere (ex: why): when preemption is on, evicts VMs of lower
 * priority on one host in the txn that places r.  1 when that txn was
 * sent (ex taken, r in it); 0 when nothing may be evicted; -EAGAIN when
 * VMs that could be were busy now (or the txn could not be sent). */
int ctrl_preempt(struct ctrl *c, struct ctrl_req *r, struct ctrl_explain *ex);
/* The VM of r's assignment a on a live host is gone (r->vm_gone_rev):
 * reads back r's status and a, compared in a txn of no ops, so that a
 * preemption by another slot's coordinator (which deleted both) reaches
 * the cache and r is placed again. */
void ctrl_preempt_check(struct ctrl *c, struct ctrl_req *r, struct ctrl_asg *a);
/* ctrl_preempt, else r unschedulable ("no host fits", ex), planned
 * again at the next pass when its victims were only busy (-EAGAIN). */
void ctrl_preempt_or_wait(struct ctrl *c, struct ctrl_req *r,
			  struct ctrl_explain *ex);
/* s as JSON (coordinator filled in), malloc'd, or NULL. */
char *ctrl_report_json(struct ctrl *c, struct ctrl_req *r,
		       struct ctrl_status *s);
/* Writes status s (taken) for r, batched per slot (ctrl_report_flush). */
void ctrl_report_status(struct ctrl *c, struct ctrl_req *r,
			struct ctrl_status *s, const char *what);
/* As ctrl_report_status, but only while key absent (taken; NULL: no
 * write) does not exist: compared in the same txn, read back if it does
 * (a status reset because the cache lost an assignment that etcd has). */
void ctrl_report_status_absent(struct ctrl *c, struct ctrl_req *r,
			       struct ctrl_status *s, const char *what,
			       char *absent);
/* Writes r unschedulable with the explain ex (taken). */
void ctrl_report_unschedulable(struct ctrl *c, struct ctrl_req *r,
			       struct ctrl_explain *ex, const char *why);
/* Deletes the status of a deleted request that holds nothing. */
void ctrl_report_forget(struct ctrl *c, struct ctrl_req *r);
void ctrl_report_flush(struct ctrl *c);

/* ---- release.c: reservations returned (calls report, txn, host) ------ */

/* Returns assignment a of r and replaces its status by s (taken; NULL:
 * deleted), in one fenced txn. */
void ctrl_release(struct ctrl *c, struct ctrl_req *r, struct ctrl_asg *a,
		  struct ctrl_status *s, const char *why);
/* The same txn built but not sent (NULL: nothing to send now, s taken
 * anyway), for a caller that adds to it (drain.c): it sets r->act to
 * ACT_TXN and sends it. */
struct ctrl_txn *ctrl_release_txn(struct ctrl *c, struct ctrl_req *r,
				  struct ctrl_asg *a, struct ctrl_status *s,
				  const char *why);

/* ---- alloc.c: allocs rebuilt (calls txn, cache, host, key) ----------- */

/* Rebuilds every alloc_bad host's alloc from its assignments, fenced
 * (one read and one CAS each; skipped while one is in flight). */
void ctrl_alloc_rebuild_all(struct ctrl *c);

/* ---- rounds.c: bid rounds (calls place, report, txn, req, host) ------ */

/* Starts placing r (popped from the queue): a round, or the ready list. */
void ctrl_round_start(struct ctrl *c, struct ctrl_req *r);
/* The round of r ended (all bids in, or timeout): rank the bids. */
void ctrl_round_close(struct ctrl *c, struct ctrl_req *r, bool timeout);
/* Open rounds at most. */
unsigned ctrl_round_max(const struct ctrl *c);
/* Deletes r's bid keys that no open round holds (r->stale). */
void ctrl_round_gc(struct ctrl *c, struct ctrl_req *r);
/* True while r waits before its next round (invited hosts were silent);
 * r is marked dirty when the wait is over. */
bool ctrl_round_backoff(struct ctrl *c, struct ctrl_req *r);
/* Sends every slot's batch of round puts. */
void ctrl_round_flush(struct ctrl *c);

/* ---- commit.c: batched commits (calls place, report, txn, req, host) - */

/* Forms fenced batches, one per slot, out of the ready list. */
void ctrl_commit_flush(struct ctrl *c);

/* ---- drain.c: a draining host's VMs moved (calls place, release,
 * report, txn, req, host, key) ------------------------------------------ */

/* Is a the replacement assignment of r's move in progress (its status
 * still names the original host, moving_to a's host)? */
bool ctrl_drain_replacement(const struct ctrl_req *r,
			    const struct ctrl_asg *a);
/* r is placed (status scheduled or running on a's host h, present):
 * carries a move of r in progress a step on, or starts one when h is
 * draining.  True when r has nothing else to do this pass. */
bool ctrl_drain_step(struct ctrl *c, struct ctrl_req *r, struct ctrl_asg *a,
		     struct ctrl_host *h);
/* Ids in P/drain/<host> of the led slots whose move is over (the
 * request deleted mid-move, say) are removed, by CAS: once per pass. */
void ctrl_drain_sweep(struct ctrl *c);
/* VMs of the led slots on draining hosts, not yet moved (gauge). */
unsigned ctrl_drain_pending(const struct ctrl *c);

/* ---- reconcile.c (calls drain, rounds, release, report, req, host) -- */

/* Decides r's next step from the cache and starts it. */
void ctrl_reconcile(struct ctrl *c, struct ctrl_req *r);

/* ---- slots.c: elections and balance (calls watch, cache, req, key) --- */

/* Spreads slots over the live controllers; campaigns as needed. */
void ctrl_slots_balance(struct ctrl *c);
/* Slot i is no longer ours (why is logged). */
void ctrl_slot_drop(struct ctrl *c, unsigned i, const char *why);
/* Deletes our candidacy key of slot i if it still holds our lease. */
void ctrl_slot_withdraw(struct ctrl *c, unsigned i);
/* Deletes a candidacy key that has no lease, if unchanged since mod. */
void ctrl_slot_stray(struct ctrl *c, const char *key, int64_t mod);
unsigned ctrl_slots_held(const struct ctrl *c);

/* ---- session.c: lease and registration (calls slots, watch, key) ---- */

void ctrl_session_init(struct ctrl *c);
void ctrl_session_start(struct ctrl *c);

/* ---- metrics.c: /healthz and /metrics (calls slots, watch) ---------- */

/* Why the controller cannot work right now, or NULL when it can. */
const char *ctrl_health(const struct ctrl *c);
/* Prometheus text, malloc'd, or NULL. */
char *ctrl_metrics_text(const struct ctrl *c);

/* ---- pass.c: the loop's pass (calls reconcile, rounds, commit, ...) -- */

/* Reconciles what changed, starts queued requests, flushes batches. */
void ctrl_pass(struct ctrl *c);

#endif
