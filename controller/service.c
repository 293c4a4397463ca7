/*
 * flintsched-controller's service.  The shape:
 *
 *  - session: one lease (kept alive), P/controllers/<name> under it,
 *    campaigns for P/election/slot-<i>.  Losing the lease drops every slot
 *    at once and starts a new session.
 *  - cache: one range of the whole prefix at one revision, then one watch
 *    from the next revision (re-listed on compaction).  Our own committed
 *    writes are applied to the cache at their revision as soon as the txn
 *    answers, so pipelined work never plans on stale data; every entry
 *    keeps its revision and older news is ignored.
 *  - reconcile: level-triggered, per request of a slot we lead.  Looks at
 *    request, status, assignments and VM state, and starts at most one
 *    action (a round, a commit, a release, a status write).  Every action
 *    is a txn fenced by the slot's election key; when it ends the request
 *    is reconciled again.  A failed txn reads back what it compared (the
 *    failure branch) so the retry sees the truth.
 *  - commit: ready placements are batched per txn (merged per host
 *    `alloc`, a host is in at most one txn in flight), so placements/s
 *    scale with etcd's txn/s rather than with round trips.
 */
#include "controller/service.h"

#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/httpd.h"
#include "common/log.h"
#include "common/model.h"
#include "controller/ctrl.h"
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

/* Upper bounds (seconds) of the placement latency histogram buckets. */
static const double lat_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
				    0.05,  0.1,    0.25,  0.5,  1,
				    2.5,   5,      10};
#define LAT_N (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

/* Counters served on /metrics (docs/DESIGN.md "Metrics"). */
struct ctrl_metrics {
	uint64_t placements, commit_txns, commit_conflicts, rounds;
	uint64_t rejected, unschedulable, lost, failed, released;
	uint64_t bids, round_timeouts, txns, txn_errors, relists;
	uint64_t lat_count, lat_bucket[LAT_N]; /* not cumulative */
	double lat_sum;
};

/* ---- cache records ---------------------------------------------------- */

struct ctrl_host {
	char name[FS_NAME_MAX + 1];
	bool present;
	int64_t rev;
	struct fs_host rec;
	bool alloc_present;
	int64_t alloc_rev;
	struct fs_alloc alloc;
	unsigned part;            /* fs_slot_of(name, K): preferred by that slot */
	unsigned locked;          /* commit txns in flight touching it */
	unsigned invites;         /* open sample rounds inviting it */
	struct fs_alloc *tent;    /* while building a batch */
	unsigned tent_picks;      /* placements on it in that batch */
	struct fs_alloc *pend;    /* its alloc if the txn in flight succeeds */
	uint64_t seen;
};

struct ctrl_asg {
	char host[FS_NAME_MAX + 1];
	int64_t rev;
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
	char *req_val;
	size_t req_len;
	int64_t parsed_rev;
	bool valid;
	struct ctrl_request parsed;
	char reason[256];
	uint64_t req_seen;

	bool st_present;
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
	struct ctrl_rbid *bids;
	size_t n_bids;
	ev_timer round_timer;
	ev_tstamp seen_at; /* when this revision of the request was seen */
	struct ctrl_explain explain;
	struct ctrl_cand *cands;
	size_t n_cands;
	int64_t tries;       /* commit conflicts / empty rounds so far */
	const char *pick;    /* chosen host during a commit txn */
	double pick_score;
	int64_t unsched_gen; /* capacity generation when found unschedulable */

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
	char *name;   /* P/election/slot-<i> */
	char *lk_key; /* our leader key */
	int64_t lk_rev, lk_lease;
	char coord[FS_NAME_MAX + 32]; /* "<name>/slot-<i>" */
	struct slot_cand *cands;      /* every controller's candidacy */
	size_t n_cands;
	ev_tstamp yielded_at;         /* 0, or when we yielded it */
	uint64_t need_seq; /* led: mine once the list of this seq is in */
};

/* The cache's watches: everything under the prefix but P/assign/,
 * P/status/ and P/rounds/, which only a slot's coordinator writes (fenced)
 * and which it replays into its cache from its own txns' answers (rounds
 * it keeps in memory only); not watching them spares etcd 3 of the 6
 * events a cached placement sent each controller, and 2 of a round's.
 * Their state for a slot is read by the first list that starts after the
 * slot is won (need_seq).  Bids are watched without deletes: the
 * coordinator deletes them itself, or their host's lease does (3 events
 * a sample placement). */
enum { W_ALLOC, W_BIDS, W_MID, W_VMS, W_N };
struct ctrl_wch {
	struct ctrl *c;
	etcd_watch *w;
	bool ok;
};

enum txn_kind { TXN_COMMIT, TXN_ROUND, TXN_STATUS, TXN_RELEASE };

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

struct ctrl_txn {
	struct ctrl *c;
	enum txn_kind kind;
	unsigned slot;
	int64_t lease;
	struct etcd_compare cmp[TXN_MAX];
	size_t n_cmp;
	struct etcd_op ok[TXN_MAX], ko[TXN_MAX];
	size_t n_ok, n_ko;
	struct tb_str ops[TXN_MAX]; /* success ops, replayed into the cache */
	char *cmp_keys[TXN_MAX];
	size_t bytes; /* keys and values, as etcd counts the request */
	int err;      /* -ENOMEM, or -E2BIG: an op did not fit (a bug) */
	bool answered; /* etcd answered (else: error, timeout, not sent) */
	size_t resv_cmp, resv_ok, resv_bytes; /* kept for batch_send */
	struct ctrl_req *reqs[TXN_REQS];
	int phase[TXN_REQS]; /* status phase written per request, -1 none */
	size_t n_reqs;
	struct ctrl_host *hosts[TXN_HOSTS];
	size_t n_hosts;
	char what[160]; /* for the log */
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
	struct ctrl_host **harr; /* every host, in creation order (never shrinks) */
	size_t n_harr, cap_harr;
	size_t cursor;           /* where the next cached pick starts looking */
	double band;             /* partition_band, 0 with one slot */

	int64_t lease;
	etcd_keepalive *ka;
	bool session_up, starting;
	ev_timer session_timer;

	bool cache_ready;
	bool listing, list_first; /* pages of a list are arriving */
	uint64_t list_seq;        /* lists started */
	uint64_t done_seq;        /* the last list that completed */
	struct ctrl_wch wch[W_N];
	uint64_t list_gen;
	int64_t list_rev; /* revision of the last list, for the sweep */
	ev_timer relist_timer;

	struct ctrl_map hosts, reqs, ctrls;
	struct ctrl_slot *slots;
	struct ctrl_queue queue;
	struct ctrl_req *dirty_head;
	struct ctrl_req *ready_head, **ready_tail;
	struct ctrl_txn **sbatch; /* per slot: status writes being batched */
	struct ctrl_txn **gbatch; /* per slot: leftover bid deletes */
	struct ctrl_txn **rbatch; /* per slot: round puts being batched */
	unsigned rounds_sending;  /* rounds batched or in a txn in flight */
	int64_t cap_gen;
	bool pass_all;
	unsigned inflight;
	unsigned rounds_open;

	ev_prepare prepare;
	ev_timer pass_timer;

	fs_httpd *http;
	struct ctrl_metrics m;

	int fatal;
	char fatal_msg[512];
};

static void req_dirty(struct ctrl_req *r);
static void slots_balance(struct ctrl *c);
static void slot_withdraw(struct ctrl *c, unsigned i);
static void slot_drop(struct ctrl *c, unsigned i, const char *why);
static void session_start(struct ctrl *c);
static void cache_list(struct ctrl *c);

static void set_fatal(struct ctrl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_fatal(struct ctrl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fatal_msg, sizeof(c->fatal_msg), fmt, ap);
	va_end(ap);
	c->fatal = -EIO;
	ev_break(c->loop, EVBREAK_ALL);
}

static char *keyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *keyf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Led, and the cache holds the slot's statuses and assignments. */
static bool slot_mine(const struct ctrl *c, unsigned i)
{
	return i < c->k && c->slots[i].state == SLOT_LEADER &&
	       c->slots[i].need_seq <= c->done_seq;
}

static bool watches_ok(const struct ctrl *c)
{
	for (int i = 0; i < W_N; i++)
		if (!c->wch[i].w || !c->wch[i].ok)
			return false;
	return true;
}

static void watches_cancel(struct ctrl *c)
{
	for (int i = 0; i < W_N; i++) {
		c->wch[i].w = etcd_watch_cancel(c->wch[i].w);
		c->wch[i].ok = false;
	}
}

/* A list soon (coalesced: slots won in one iteration share it). */
static void relist_soon(struct ctrl *c, double after)
{
	if (c->listing || ev_is_active(&c->relist_timer))
		return;
	ev_timer_set(&c->relist_timer, after, 0);
	ev_timer_start(c->loop, &c->relist_timer);
}

/* ---- cache ------------------------------------------------------------ */

static struct ctrl_host *host_get(struct ctrl *c, const char *name,
				  bool create)
{
	struct ctrl_host *h = ctrl_map_get(&c->hosts, name);

	if (h || !create || strlen(name) > FS_NAME_MAX)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	strcpy(h->name, name);
	h->part = fs_slot_of(name, c->k);
	if (c->n_harr == c->cap_harr) {
		size_t cap = c->cap_harr ? 2 * c->cap_harr : 64;
		struct ctrl_host **a = realloc(c->harr, cap * sizeof(*a));

		if (!a) {
			free(h);
			return NULL;
		}
		c->harr = a;
		c->cap_harr = cap;
	}
	if (ctrl_map_put(&c->hosts, name, h) < 0) {
		free(h);
		return NULL;
	}
	c->harr[c->n_harr++] = h;
	return h;
}

static struct ctrl_req *req_get(struct ctrl *c, const char *id, bool create)
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
	if (ctrl_map_put(&c->reqs, id, r) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

static void round_reset(struct ctrl_req *r)
{
	struct ctrl *c = r->c;

	if (r->round_open && c->rounds_open)
		c->rounds_open--;
	r->round_open = false;
	ev_timer_stop(c->loop, &r->round_timer);
	for (size_t i = 0; i < r->n_invited; i++) {
		struct ctrl_host *h = host_get(c, r->invited[i], false);

		if (h && h->invites)
			h->invites--;
		free(r->invited[i]);
	}
	free(r->invited);
	r->invited = NULL;
	r->n_invited = 0;
	free(r->bids);
	r->bids = NULL;
	r->n_bids = 0;
	free(r->cands);
	r->cands = NULL;
	r->n_cands = 0;
	ctrl_explain_clear(&r->explain);
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
static void req_abort(struct ctrl_req *r)
{
	struct ctrl *c = r->c;

	if (r->act == ACT_TXN)
		return; /* the txn's answer resets it */
	if (r->act == ACT_QUEUED)
		ctrl_queue_remove(&c->queue, &r->q);
	if (r->act == ACT_READY)
		ready_unlink(c, r);
	round_reset(r);
	r->act = ACT_NONE;
}

static void asg_remove(struct ctrl_req *r, size_t i)
{
	fs_need_clear(&r->asg[i].need);
	r->asg[i] = r->asg[--r->n_asg];
}

static void vm_remove(struct ctrl_req *r, size_t i)
{
	free(r->vms[i].error);
	r->vms[i] = r->vms[--r->n_vms];
}

static void req_free(struct ctrl_req *r)
{
	req_abort(r);
	free(r->req_val);
	ctrl_request_clear(&r->parsed);
	ctrl_status_clear(&r->st);
	while (r->n_asg)
		asg_remove(r, r->n_asg - 1);
	free(r->asg);
	while (r->n_vms)
		vm_remove(r, r->n_vms - 1);
	free(r->vms);
	free(r);
}

/* Forgets a request nobody refers to any more (only on news from the
 * watch, which is in revision order, so nothing older can follow). */
static void req_maybe_free(struct ctrl *c, struct ctrl_req *r)
{
	if (r->req_present || r->st_present || r->n_asg || r->n_vms ||
	    r->act != ACT_NONE || r->dirty)
		return;
	ctrl_map_del(&c->reqs, r->id);
	req_free(r);
}

/* Splits "<kind>/<a>[/<b>]" after the prefix. */
static int key_split(const struct ctrl *c, const char *key, char *kind,
		     char *a, char *b)
{
	const char *p, *s1, *s2;
	size_t n;

	if (strncmp(key, c->prefix, c->prefix_len) != 0)
		return -1;
	p = key + c->prefix_len;
	s1 = strchr(p, '/');
	if (!s1) {
		if (strlen(p) >= 16)
			return -1;
		strcpy(kind, p);
		a[0] = b[0] = '\0';
		return 0;
	}
	n = (size_t)(s1 - p);
	if (n >= 16)
		return -1;
	memcpy(kind, p, n);
	kind[n] = '\0';
	s2 = strchr(s1 + 1, '/');
	if (!s2) {
		if (strlen(s1 + 1) > FS_NAME_MAX)
			return -1;
		strcpy(a, s1 + 1);
		b[0] = '\0';
		return 0;
	}
	n = (size_t)(s2 - s1 - 1);
	if (n > FS_NAME_MAX || strlen(s2 + 1) > FS_NAME_MAX ||
	    strchr(s2 + 1, '/'))
		return -1;
	memcpy(a, s1 + 1, n);
	a[n] = '\0';
	strcpy(b, s2 + 1);
	return 0;
}

/* {"request": {...spec...}, "request_rev", "attempt"} -> need */
static int asg_parse(const char *id, const char *val, size_t len,
		     struct fs_need *need)
{
	json_t *root = json_loadb(val, len, 0, NULL), *rq;
	struct ctrl_request p;
	char reason[256], *s;
	int rc = -EINVAL;

	rq = root ? json_object_get(root, "request") : NULL;
	if (!json_is_object(rq))
		goto out;
	s = json_dumps(rq, JSON_COMPACT);
	if (!s)
		goto out;
	rc = ctrl_request_parse(id, s, strlen(s), &p, reason, sizeof(reason));
	free(s);
	if (rc == 0)
		*need = p.need; /* priority is not needed */
out:
	json_decref(root);
	return rc;
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
	slot_cand_del(s, lease);
	v = realloc(s->cands, (s->n_cands + 1) * sizeof(*v));
	if (!v)
		return;
	s->cands = v;
	v += s->n_cands++;
	strcpy(v->lease, lease);
	v->crev = create;
	snprintf(v->name, sizeof(v->name), "%.*s",
		 (int)(len < FS_NAME_MAX ? len : FS_NAME_MAX), val);
}

/* Name of the controller leading slot s as the cache says, or NULL. */
static const char *slot_leader(const struct ctrl_slot *s)
{
	const struct slot_cand *best = NULL;

	for (size_t i = 0; i < s->n_cands; i++)
		if (!best || s->cands[i].crev < best->crev)
			best = &s->cands[i];
	return best ? best->name : NULL;
}

/* P/status/<id> at mod: own (taken) is what the controller wrote, else
 * val is parsed.  Cached for led slots only: not watched (ctrl_wch), it
 * would go stale. */
static void cache_status(struct ctrl *c, const char *key, const char *id,
			 const char *val, size_t len, struct ctrl_status *own,
			 int64_t mod)
{
	struct ctrl_status st = {0};
	struct ctrl_req *r = NULL;
	char err[256];

	if (c->slots[fs_slot_of(id, c->k)].state != SLOT_LEADER ||
	    !(r = req_get(c, id, true)))
		goto out;
	r->st_seen = c->list_gen;
	if (mod <= r->st_rev)
		goto out;
	if (own) {
		st = *own;
		memset(own, 0, sizeof(*own));
	} else if (ctrl_status_parse(val, len, &st, err, sizeof(err)) < 0) {
		/* Someone wrote garbage: treat as no status, rewrite. */
		fs_warn("ignoring %s: %s", key, err);
		memset(&st, 0, sizeof(st));
	}
	ctrl_status_clear(&r->st);
	r->st = st;
	r->st_present = true;
	r->st_rev = mod;
	req_dirty(r);
out:
	if (own)
		ctrl_status_clear(own);
}

/* P/assign/<host>/<id> at mod: own (taken) is the need the controller
 * assigned, else val is parsed.  Led slots only, as statuses. */
static void cache_assign(struct ctrl *c, const char *key, const char *host,
			 const char *id, const char *val, size_t len,
			 struct fs_need *own, int64_t mod)
{
	struct ctrl_req *r;
	struct ctrl_asg *v;
	size_t i;

	if (c->slots[fs_slot_of(id, c->k)].state != SLOT_LEADER ||
	    !(r = req_get(c, id, true)))
		goto out;
	for (i = 0; i < r->n_asg; i++)
		if (strcmp(r->asg[i].host, host) == 0)
			break;
	if (i < r->n_asg) {
		r->asg[i].seen = c->list_gen;
		if (mod <= r->asg[i].rev)
			goto out;
		asg_remove(r, i);
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
		v->need = *own;
		memset(own, 0, sizeof(*own));
	} else if (asg_parse(id, val, len, &v->need) < 0) {
		fs_warn("assignment %s: cannot read its request", key);
	}
	r->n_asg++;
	req_dirty(r);
out:
	if (own)
		fs_need_clear(own);
}

static void cache_put(struct ctrl *c, const char *key, const char *val,
		      size_t len, int64_t create, int64_t mod)
{
	char kind[16], a[FS_NAME_MAX + 1], b[FS_NAME_MAX + 1], err[256];
	struct ctrl_host *h;
	struct ctrl_req *r;

	if (key_split(c, key, kind, a, b) < 0)
		return;
	if (strcmp(kind, "hosts") == 0 && !b[0]) {
		struct fs_host rec;
		bool was;

		if (!(h = host_get(c, a, true)))
			return;
		h->seen = c->list_gen;
		if (mod <= h->rev)
			return;
		if (fs_host_parse(val, len, &rec, err, sizeof(err)) < 0) {
			fs_warn("ignoring host record %s: %s", key, err);
			return;
		}
		was = h->present;
		if (was && (rec.allocatable.vcpu > h->rec.allocatable.vcpu ||
			    rec.allocatable.memory_mb >
				    h->rec.allocatable.memory_mb ||
			    rec.allocatable.vms > h->rec.allocatable.vms))
			capacity_changed(c);
		fs_host_clear(&h->rec);
		h->rec = rec;
		h->present = true;
		h->rev = mod;
		if (!was) {
			fs_info("host %s joined", a);
			capacity_changed(c);
		}
	} else if (strcmp(kind, "alloc") == 0 && !b[0]) {
		struct fs_alloc al;

		if (!(h = host_get(c, a, true)))
			return;
		h->seen = c->list_gen;
		if (mod <= h->alloc_rev)
			return;
		if (fs_alloc_parse(val, len, &al, err, sizeof(err)) < 0) {
			fs_warn("ignoring %s: %s", key, err);
			return;
		}
		if (h->alloc_present && al.used.vms < h->alloc.used.vms)
			capacity_changed(c);
		fs_alloc_clear(&h->alloc);
		h->alloc = al;
		h->alloc_present = true;
		h->alloc_rev = mod;
	} else if (strcmp(kind, "requests") == 0 && !b[0]) {
		char *v;

		if (!(r = req_get(c, a, true)))
			return;
		r->req_seen = c->list_gen;
		if (mod <= r->req_rev)
			return;
		v = malloc(len + 1);
		if (!v)
			return;
		memcpy(v, val, len);
		v[len] = '\0';
		free(r->req_val);
		r->req_val = v;
		r->req_len = len;
		r->req_present = true;
		r->req_rev = mod;
		r->seen_at = ev_now(c->loop);
		r->q.create_rev = create ? create : r->q.create_rev;
		req_dirty(r);
	} else if (strcmp(kind, "status") == 0 && !b[0]) {
		cache_status(c, key, a, val, len, NULL, mod);
	} else if (strcmp(kind, "assign") == 0 && b[0]) {
		cache_assign(c, key, a, b, val, len, NULL, mod);
	} else if (strcmp(kind, "vms") == 0 && b[0]) {
		struct ctrl_vm *v;
		json_t *root;
		const char *s;
		size_t i;

		if (!(r = req_get(c, b, true)))
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
		req_dirty(r);
	} else if (strcmp(kind, "bids") == 0 && b[0]) {
		struct fs_bid bid;
		struct ctrl_rbid *v;
		size_t i;

		r = req_get(c, b, false);
		/* A bid may overtake the answer to our round put (watch
		 * stream vs. txn response): keep it, or the round waits for
		 * its timeout. */
		if (!r || !((r->act == ACT_ROUND && r->round_open) ||
			    (r->act == ACT_TXN && r->round_sending)))
			return;
		if (fs_bid_parse(val, len, &bid, err, sizeof(err)) < 0) {
			fs_warn("ignoring bid %s: %s", key, err);
			return;
		}
		if (bid.attempt != r->round_attempt)
			return;
		if (r->invited) {
			for (i = 0; i < r->n_invited; i++)
				if (strcmp(r->invited[i], a) == 0)
					break;
			if (i == r->n_invited)
				return;
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
		req_dirty(r);
	} else if (strcmp(kind, "election") == 0 && b[0]) {
		unsigned i;
		char mine[32];

		snprintf(mine, sizeof(mine), "%llx",
			 (unsigned long long)c->lease);
		if (sscanf(a, "slot-%u", &i) != 1 || i >= c->k)
			return;
		slot_cand_put(&c->slots[i], b, create, val, len);
		if (c->lease && strcmp(b, mine) == 0 &&
		    c->slots[i].state == SLOT_NONE)
			slot_withdraw(c, i);
	} else if (strcmp(kind, "controllers") == 0 && !b[0]) {
		if (!ctrl_map_get(&c->ctrls, a)) {
			ctrl_map_put(&c->ctrls, a, (void *)1);
			fs_info("controller %s is live (%zu live)", a,
				c->ctrls.n);
			slots_balance(c);
		}
	}
}

static void cache_del(struct ctrl *c, const char *key, int64_t rev)
{
	char kind[16], a[FS_NAME_MAX + 1], b[FS_NAME_MAX + 1];
	struct ctrl_host *h;
	struct ctrl_req *r;

	if (key_split(c, key, kind, a, b) < 0)
		return;
	if (strcmp(kind, "hosts") == 0 && !b[0]) {
		h = host_get(c, a, false);
		if (!h || rev <= h->rev)
			return;
		h->rev = rev;
		if (h->present) {
			fs_warn("host %s left (lease expired or agent "
				"stopped); its VMs are rescheduled",
				a);
			c->pass_all = true;
		}
		h->present = false;
		fs_host_clear(&h->rec);
	} else if (strcmp(kind, "alloc") == 0 && !b[0]) {
		h = host_get(c, a, false);
		if (!h || rev <= h->alloc_rev)
			return;
		if (h->alloc_present)
			capacity_changed(c);
		h->alloc_rev = rev;
		h->alloc_present = false;
		fs_alloc_clear(&h->alloc);
	} else if (strcmp(kind, "requests") == 0 && !b[0]) {
		r = req_get(c, a, false);
		if (!r || rev <= r->req_rev)
			return;
		r->req_rev = rev;
		r->req_present = false;
		free(r->req_val);
		r->req_val = NULL;
		r->req_len = 0;
		req_dirty(r);
	} else if (strcmp(kind, "status") == 0 && !b[0]) {
		r = req_get(c, a, false);
		if (!r || rev <= r->st_rev)
			return;
		r->st_rev = rev;
		r->st_present = false;
		ctrl_status_clear(&r->st);
		req_dirty(r);
	} else if (strcmp(kind, "assign") == 0 && b[0]) {
		r = req_get(c, b, false);
		if (!r)
			return;
		for (size_t i = 0; i < r->n_asg; i++) {
			if (strcmp(r->asg[i].host, a) == 0 &&
			    rev > r->asg[i].rev) {
				asg_remove(r, i);
				req_dirty(r);
				break;
			}
		}
	} else if (strcmp(kind, "vms") == 0 && b[0]) {
		r = req_get(c, b, false);
		if (!r)
			return;
		for (size_t i = 0; i < r->n_vms; i++) {
			if (strcmp(r->vms[i].host, a) == 0 &&
			    rev > r->vms[i].rev) {
				vm_remove(r, i);
				req_dirty(r);
				break;
			}
		}
	} else if (strcmp(kind, "election") == 0 && b[0]) {
		unsigned i;

		if (sscanf(a, "slot-%u", &i) == 1 && i < c->k)
			slot_cand_del(&c->slots[i], b);
	} else if (strcmp(kind, "controllers") == 0 && !b[0]) {
		if (ctrl_map_del(&c->ctrls, a)) {
			fs_info("controller %s is gone (%zu live)", a,
				c->ctrls.n);
			slots_balance(c);
		}
	}
}

/* ---- txn builder ------------------------------------------------------ */

static struct ctrl_txn *txn_new(struct ctrl *c, enum txn_kind kind,
				unsigned slot)
{
	struct ctrl_txn *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->c = c;
	t->kind = kind;
	t->slot = slot;
	for (size_t i = 0; i < TXN_REQS; i++)
		t->phase[i] = -1;
	return t;
}

static void txn_free(struct ctrl_txn *t)
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
	free(t);
}

/* Compare target of key == rev, and read it back on failure.  Takes key. */
static void tb_cmp(struct ctrl_txn *t, char *key, enum etcd_cmp_target tgt,
		   int64_t rev)
{
	if (!key || t->n_cmp >= TXN_MAX) {
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

static void tb_fence(struct ctrl_txn *t)
{
	struct ctrl_slot *s = &t->c->slots[t->slot];

	tb_cmp(t, strdup(s->lk_key ? s->lk_key : ""), ETCD_CMP_CREATE,
	       s->lk_rev);
}

/* Takes key and val (val NULL = delete). */
static void tb_op(struct ctrl_txn *t, char *key, char *val, int64_t lease)
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

static void status_drop(struct ctrl_status *st)
{
	if (st)
		ctrl_status_clear(st);
	free(st);
}

/* The put just added to t (tb_op), or NULL if it did not go in. */
static struct tb_str *tb_last_put(struct ctrl_txn *t)
{
	if (t->err || !t->n_ok || t->ops[t->n_ok - 1].del)
		return NULL;
	return &t->ops[t->n_ok - 1];
}

/* Hands st (malloc'd, taken) to the status put just added, for the
 * replay (struct tb_str). */
static void tb_keep_status(struct ctrl_txn *t, struct ctrl_status *st)
{
	struct tb_str *o = st ? tb_last_put(t) : NULL;

	if (o)
		o->st = st;
	else
		status_drop(st);
}

/* Hands a copy of need's size and spread group to the assign put just
 * added, for the replay (the selector is not needed there). */
static void tb_keep_need(struct ctrl_txn *t, const struct fs_need *need)
{
	struct tb_str *o = tb_last_put(t);
	struct fs_need *n;

	if (!o || !(n = calloc(1, sizeof(*n))))
		return;
	n->res = need->res;
	if (need->spread && !(n->spread = strdup(need->spread))) {
		free(n);
		return;
	}
	o->need = n;
}

/* A malloc'd deep copy of s for tb_keep_status, or NULL (the replay then
 * parses the JSON). */
static struct ctrl_status *status_dup(const struct ctrl_status *s)
{
	struct ctrl_status *d = calloc(1, sizeof(*d));

	if (d && ctrl_status_copy(d, s) < 0) {
		free(d);
		d = NULL;
	}
	return d;
}

/* s moved into malloc'd memory for tb_keep_status (s left empty), or
 * NULL with s untouched: for a status its caller is done with, where
 * status_dup would copy it only for the caller to clear it. */
static struct ctrl_status *status_take(struct ctrl_status *s)
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
static bool tb_room(const struct ctrl_txn *t, size_t cmps, size_t ops,
		    size_t bytes)
{
	return t->n_cmp + t->resv_cmp + cmps <= TXN_MAX &&
	       t->n_ok + t->resv_ok + ops <= TXN_MAX &&
	       t->bytes + t->resv_bytes + bytes <= TXN_BYTES;
}

/* Bytes of a key under the prefix, at most (kind + two names). */
static size_t key_max(const struct ctrl *c)
{
	return c->prefix_len + 16 + 2 * (FS_NAME_MAX + 1);
}

/* Bytes of the alloc value of h after a batch, at most. */
static size_t alloc_max(const struct fs_alloc *a)
{
	size_t n = 160;

	for (size_t i = 0; a && i < a->n_groups; i++)
		n += 32 + strlen(a->groups[i].name);
	return n + 64; /* a group the batch adds */
}

static void txn_send(struct ctrl_txn *t);

/* Sends the leftover deletes of slot i, if any. */
static void gc_flush_slot(struct ctrl *c, unsigned i)
{
	struct ctrl_txn *t = c->gbatch[i];

	if (!t)
		return;
	c->gbatch[i] = NULL;
	snprintf(t->what, sizeof(t->what), "delete %zu leftover bid(s)",
		 t->n_ok);
	txn_send(t);
}

/*
 * Deletes key (taken) as coordinator of slot, in one fenced txn per slot
 * and loop iteration: the bid deletes that do not fit in the txn that
 * closes their round (a broadcast round over more hosts than a txn
 * holds ops).  Best effort: a bid left behind is harmless (the agent
 * ignores bids of closed rounds) and goes with its host's lease.
 */
static void gc_del(struct ctrl *c, unsigned slot, char *key)
{
	struct ctrl_txn *t = c->gbatch[slot];

	if (!key)
		return;
	if (t && !tb_room(t, 0, 1, strlen(key)))
		gc_flush_slot(c, slot);
	t = c->gbatch[slot];
	if (!t) {
		t = txn_new(c, TXN_STATUS, slot);
		if (!t) {
			free(key);
			return;
		}
		tb_fence(t);
		c->gbatch[slot] = t;
	}
	tb_op(t, key, NULL, 0);
}

/* Ops that close r's round: the round key and one per bid. */
static size_t round_ops(const struct ctrl_req *r)
{
	return r->round_attempt || r->n_bids ? 1 + r->n_bids : 0;
}

/* Adds the deletes closing r's round to t, keeping the ops that do not
 * fit for the leftover txn. */
static void tb_round_close(struct ctrl *c, struct ctrl_txn *t,
			   struct ctrl_req *r)
{
	size_t kb = key_max(c);

	if (!round_ops(r))
		return;
	tb_op(t, keyf("%srounds/%s", c->prefix, r->id), NULL, 0);
	for (size_t i = 0; i < r->n_bids; i++) {
		char *k = keyf("%sbids/%s/%s", c->prefix, r->bids[i].host,
			       r->id);

		if (tb_room(t, 0, 1, kb))
			tb_op(t, k, NULL, 0);
		else
			gc_del(c, r->slot, k);
	}
}

static void txn_done(struct ctrl_txn *t, bool ok, int64_t rev);

static void on_txn(void *arg, const struct etcd_error *err,
		   const struct etcd_txn_result *res)
{
	struct ctrl_txn *t = arg;
	struct ctrl *c = t->c;

	if (c->inflight)
		c->inflight--;
	if (err) {
		c->m.txn_errors++;
		if (err->code != ETCD_ECANCELED) {
			fs_warn("%s: etcd error: %s (%s); will retry at the "
				"next pass",
				t->what, etcd_strerror(err->code),
				err->message);
			/* It may have landed unseen, and its status and
			 * assign writes are not watched: read them back. */
			relist_soon(c, 1.0);
		}
		txn_done(t, false, 0);
		return;
	}
	t->answered = true;
	if (res->succeeded) {
		for (size_t i = 0; i < t->n_ok; i++) {
			struct tb_str *o = &t->ops[i];
			char kind[16], a[FS_NAME_MAX + 1], b[FS_NAME_MAX + 1];

			if (o->del)
				cache_del(c, o->key, res->header.revision);
			else if (o->st && !key_split(c, o->key, kind, a, b))
				cache_status(c, o->key, a, NULL, 0, o->st,
					     res->header.revision);
			else if (o->need && !key_split(c, o->key, kind, a, b))
				cache_assign(c, o->key, a, b, NULL, 0, o->need,
					     res->header.revision);
			else
				cache_put(c, o->key, o->val, o->len, 0,
					  res->header.revision);
		}
	} else {
		if (t->kind == TXN_COMMIT)
			c->m.commit_conflicts++;
		for (size_t i = 0; i < res->n_responses && i < t->n_ko; i++) {
			const struct etcd_op_result *o = &res->responses[i];

			if (o->type != ETCD_OP_RANGE)
				continue;
			if (o->u.range.n_kvs) {
				const struct etcd_kv *kv = &o->u.range.kvs[0];

				cache_put(c, kv->key, kv->value,
					  kv->value_len, kv->create_revision,
					  kv->mod_revision);
			} else {
				cache_del(c, t->ko[i].u.range.key,
					  res->header.revision);
			}
		}
		/* The fence is always the first compare. */
		if (t->n_ko && res->n_responses &&
		    res->responses[0].type == ETCD_OP_RANGE) {
			const struct etcd_range_result *rr =
				&res->responses[0].u.range;
			struct ctrl_slot *s = &c->slots[t->slot];

			if (s->state == SLOT_LEADER &&
			    (rr->n_kvs == 0 ||
			     rr->kvs[0].create_revision != s->lk_rev))
				slot_drop(c, t->slot,
					  "our election key is gone (fenced)");
		}
	}
	txn_done(t, res->succeeded, res->header.revision);
}

/* Sends t (fenced: the caller put tb_fence first).  On failure to send,
 * completes it as failed. */
static void txn_send(struct ctrl_txn *t)
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
	rc = etcd_kv_txn(c->etcd, &req, on_txn, t);
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

/* ---- actions ---------------------------------------------------------- */

static const char *coord_name(struct ctrl *c, unsigned slot)
{
	return c->slots[slot].coord;
}

static char *status_json(struct ctrl *c, struct ctrl_req *r,
			 struct ctrl_status *s)
{
	if (!s->coordinator)
		s->coordinator = strdup(coord_name(c, r->slot));
	s->updated[0] = '\0';
	return ctrl_status_format(s);
}

/* Sends the batch *bp (status writes or round puts of one slot), if
 * any; a batch of several is named "<verb> N <things> (<first id> ...)". */
static void batch_flush(struct ctrl_txn **bp, const char *verb,
			const char *things)
{
	struct ctrl_txn *t = *bp;

	if (!t)
		return;
	*bp = NULL;
	if (t->n_reqs > 1)
		snprintf(t->what, sizeof(t->what), "%s %zu %s (%s ...)", verb,
			 t->n_reqs, things, t->reqs[0]->id);
	txn_send(t);
}

static void status_flush_slot(struct ctrl *c, unsigned i)
{
	batch_flush(&c->sbatch[i], "write", "statuses");
}

static void status_flush(struct ctrl *c)
{
	for (unsigned i = 0; i < c->k; i++)
		status_flush_slot(c, i);
}

/*
 * Writes status s (taken) for r, fenced, comparing the status and request
 * revisions.  Status writes of a slot (running, rejected, unschedulable)
 * are batched into one txn per loop iteration, each with its own
 * compares: a txn is etcd's unit of cost, and one per status doubled the
 * txns of a placement.  A failed compare fails the batch; every request
 * in it is then reconciled again from what the failure branch read back.
 */
static void act_status(struct ctrl *c, struct ctrl_req *r,
		       struct ctrl_status *s, const char *what)
{
	struct ctrl_txn *t = c->sbatch[r->slot];
	size_t kb = key_max(c), ops = 1 + round_ops(r);
	char *js = status_json(c, r, s);

	if (!js) {
		ctrl_status_clear(s);
		return;
	}
	if (t && (t->n_reqs >= TXN_REQS ||
		  !tb_room(t, 2, ops, strlen(js) + 2 * kb + ops * kb))) {
		status_flush_slot(c, r->slot);
		t = NULL;
	}
	if (!t) {
		t = txn_new(c, TXN_STATUS, r->slot);
		if (!t) {
			free(js);
			ctrl_status_clear(s);
			return;
		}
		tb_fence(t);
		c->sbatch[r->slot] = t;
	}
	if (t->n_reqs == 0)
		snprintf(t->what, sizeof(t->what), "%s %s", what, r->id);
	t->phase[t->n_reqs] = (int)s->phase;
	tb_cmp(t, keyf("%sstatus/%s", c->prefix, r->id), ETCD_CMP_MOD,
	       r->st_present ? r->st_rev : 0);
	tb_cmp(t, keyf("%srequests/%s", c->prefix, r->id), ETCD_CMP_MOD,
	       r->req_present ? r->req_rev : 0);
	tb_op(t, keyf("%sstatus/%s", c->prefix, r->id), js, 0);
	tb_keep_status(t, status_take(s));
	tb_round_close(c, t, r);
	ctrl_status_clear(s);
	t->reqs[t->n_reqs++] = r;
	r->act = ACT_TXN;
}

/* Deletes the status (the request is gone and holds nothing). */
static void act_forget(struct ctrl *c, struct ctrl_req *r)
{
	struct ctrl_txn *t = txn_new(c, TXN_STATUS, r->slot);

	if (!t)
		return;
	snprintf(t->what, sizeof(t->what), "forget deleted request %s",
		 r->id);
	tb_fence(t);
	tb_cmp(t, keyf("%sstatus/%s", c->prefix, r->id), ETCD_CMP_MOD,
	       r->st_rev);
	tb_cmp(t, keyf("%srequests/%s", c->prefix, r->id), ETCD_CMP_MOD, 0);
	tb_op(t, keyf("%sstatus/%s", c->prefix, r->id), NULL, 0);
	tb_op(t, keyf("%srounds/%s", c->prefix, r->id), NULL, 0);
	t->reqs[t->n_reqs++] = r;
	r->act = ACT_TXN;
	txn_send(t);
}

/*
 * Returns assignment a of r: alloc(host) -= need by CAS (deleted when it
 * reaches zero VMs), the assignment deleted, and the status replaced by
 * s (taken; NULL = delete the status) — all in one fenced txn.
 */
static void act_release(struct ctrl *c, struct ctrl_req *r,
			struct ctrl_asg *a, struct ctrl_status *s,
			const char *why)
{
	struct ctrl_txn *t = txn_new(c, TXN_RELEASE, r->slot);
	struct ctrl_host *h = host_get(c, a->host, true);
	struct fs_alloc al = {0};
	char *js = NULL, *av = NULL;

	if (!t || !h)
		goto fail;
	snprintf(t->what, sizeof(t->what), "release %s from %s (%s)", r->id,
		 a->host, why);
	tb_fence(t);
	tb_cmp(t, keyf("%sstatus/%s", c->prefix, r->id), ETCD_CMP_MOD,
	       r->st_present ? r->st_rev : 0);
	tb_cmp(t, keyf("%sassign/%s/%s", c->prefix, a->host, r->id),
	       ETCD_CMP_MOD, a->rev);
	tb_cmp(t, keyf("%salloc/%s", c->prefix, a->host), ETCD_CMP_MOD,
	       h->alloc_present ? h->alloc_rev : 0);
	if (h->alloc_present) {
		char *tmp = fs_alloc_format(&h->alloc);

		/* copy via format/parse: fs_alloc has no copy function */
		if (!tmp || fs_alloc_parse(tmp, strlen(tmp), &al, NULL, 0) < 0) {
			free(tmp);
			goto fail;
		}
		free(tmp);
		fs_alloc_add(&al, &a->need.res, a->need.spread, -1);
		if (al.used.vms <= 0 || !h->present) {
			tb_op(t, keyf("%salloc/%s", c->prefix, a->host), NULL,
			      0);
		} else {
			if (al.used.vcpu < 0)
				al.used.vcpu = 0;
			if (al.used.memory_mb < 0)
				al.used.memory_mb = 0;
			av = fs_alloc_format(&al);
			if (!av)
				goto fail;
			tb_op(t, keyf("%salloc/%s", c->prefix, a->host), av,
			      0);
		}
	}
	tb_op(t, keyf("%sassign/%s/%s", c->prefix, a->host, r->id), NULL, 0);
	if (s) {
		js = status_json(c, r, s);
		if (!js)
			goto fail;
		t->phase[0] = (int)s->phase;
		tb_op(t, keyf("%sstatus/%s", c->prefix, r->id), js, 0);
		tb_keep_status(t, status_take(s));
	} else {
		tb_op(t, keyf("%sstatus/%s", c->prefix, r->id), NULL, 0);
	}
	fs_alloc_clear(&al);
	ctrl_status_clear(s);
	t->reqs[t->n_reqs++] = r;
	r->act = ACT_TXN;
	txn_send(t);
	return;
fail:
	fs_alloc_clear(&al);
	ctrl_status_clear(s);
	free(t);
}

static void status_init(struct ctrl_status *s, enum ctrl_phase p,
			const struct ctrl_req *r)
{
	memset(s, 0, sizeof(*s));
	s->phase = p;
	s->request_rev = r->req_rev;
}

static void status_reason(struct ctrl_status *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void status_reason(struct ctrl_status *s, const char *fmt, ...)
{
	va_list ap;

	free(s->reason);
	s->reason = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s->reason, fmt, ap) < 0)
		s->reason = NULL;
	va_end(ap);
}

/* Carries the attempt count and avoid list of the current revision. */
static void status_carry(struct ctrl_status *s, const struct ctrl_req *r)
{
	if (!r->st_present || r->st.request_rev != r->req_rev)
		return;
	s->attempt = r->st.attempt;
	for (size_t i = 0; i < r->st.n_avoid; i++)
		ctrl_status_avoid_add(s, r->st.avoid[i]);
}

static bool req_avoids(const struct ctrl_req *r, const char *host)
{
	return r->st_present && r->st.request_rev == r->req_rev &&
	       ctrl_status_avoids(&r->st, host);
}

static void act_unschedulable(struct ctrl *c, struct ctrl_req *r,
			      struct ctrl_explain *ex, const char *why)
{
	struct ctrl_status s;
	const char *top = "no hosts";
	int64_t best = 0;

	status_init(&s, CTRL_UNSCHEDULABLE, r);
	status_carry(&s, r);
	s.has_explain = true;
	s.explain = *ex;
	memset(ex, 0, sizeof(*ex));
	for (size_t i = 0; i < s.explain.n_rejected; i++) {
		if (s.explain.rejected[i].count > best) {
			best = s.explain.rejected[i].count;
			top = s.explain.rejected[i].reason;
		}
	}
	status_reason(&s, "%s: %s (%lld of %lld hosts)", why, top,
		      (long long)best, (long long)s.explain.hosts);
	/* Only say it when it is news. */
	if (!r->st_present || r->st.phase != CTRL_UNSCHEDULABLE ||
	    r->st.request_rev != r->req_rev)
		fs_info("%s unschedulable: %s", r->id, s.reason);
	r->unsched_gen = c->cap_gen;
	act_status(c, r, &s, "mark unschedulable");
}

/* Scores every live host from the cache: fills r->cands with the ones
 * that fit and r->explain with the others. */
struct plan_ctx {
	struct ctrl *c;
	struct ctrl_req *r;
	int rc;
};

/* What one more VM of need adds to a host's score (spread; the size of
 * a step for binpack too): its weighted share of the host. */
static double vm_step(const struct fs_host *h, const struct fs_need *need,
		      const struct fs_weights *w)
{
	const struct fs_res *cap = &h->allocatable;
	double sum = w->cpu + w->memory + w->vms, d = 0;

	if (sum <= 0)
		return 0;
	if (cap->vcpu > 0)
		d += w->cpu * (double)need->res.vcpu / (double)cap->vcpu;
	if (cap->memory_mb > 0)
		d += w->memory * (double)need->res.memory_mb /
		     (double)cap->memory_mb;
	if (cap->vms > 0)
		d += w->vms / (double)cap->vms;
	return d / sum;
}

/* What h holds if what is in flight lands: the batch being built on it,
 * else its commit in flight, else what is committed (NULL: nothing). */
static const struct fs_alloc *host_alloc_now(const struct ctrl_host *h)
{
	if (h->tent)
		return h->tent;
	if (h->pend)
		return h->pend;
	return h->alloc_present ? &h->alloc : NULL;
}

/* What a host outside r's partition adds to its score (partition_band). */
static double host_band(const struct ctrl *c, const struct ctrl_host *h,
			const struct ctrl_req *r)
{
	return h->part == r->slot ? 0 : c->band;
}

static void plan_each(void *arg, const char *key, void *val)
{
	struct plan_ctx *p = arg;
	struct ctrl *c = p->c;
	struct ctrl_req *r = p->r;
	struct ctrl_host *h = val;
	struct fs_bid b;
	struct ctrl_cand *v;

	(void)key;
	if (!h->present || p->rc < 0)
		return;
	r->explain.hosts++;
	if (req_avoids(r, h->name)) {
		p->rc = ctrl_explain_add(&r->explain, "VM failed there before");
		return;
	}
	fs_score(&h->rec, host_alloc_now(h), &r->parsed.need, &c->w,
		 (enum fs_strategy)c->cfg->strategy, &b);
	if (!b.fits) {
		p->rc = ctrl_explain_add(&r->explain, b.reason);
		return;
	}
	/* Each open invitation counts as one more VM of this size, so that
	 * the rounds opened in one pass invite different hosts.  Not as
	 * 1/candidates of one (its odds were the winner random): the least
	 * loaded of a round's hosts wins it, so the lowest hosts gathered
	 * several invitations, won them all, and 10,000 placements on 500
	 * hosts spread 19-22 VMs (now 19-21). */
	if (h->invites)
		b.score += (double)h->invites *
			   vm_step(&h->rec, &r->parsed.need, &c->w);
	b.score += host_band(c, h, r);
	r->explain.feasible++;
	if (!r->cands) {
		/* one allocation for the scan, not one per host */
		r->cands = malloc(c->hosts.n * sizeof(*r->cands));
		if (!r->cands) {
			p->rc = -ENOMEM;
			return;
		}
	}
	v = r->cands;
	v[r->n_cands++] = (struct ctrl_cand){
		.host = h->name, .score = b.score,
		.tiebreak = fs_tiebreak(r->id, h->name), .data = h};
}

static void ready_push(struct ctrl *c, struct ctrl_req *r)
{
	r->act = ACT_READY;
	r->ready_next = NULL;
	*c->ready_tail = r;
	c->ready_tail = &r->ready_next;
}

static void on_round_timeout(struct ev_loop *loop, ev_timer *w, int revents);

static void round_flush_slot(struct ctrl *c, unsigned i)
{
	batch_flush(&c->rbatch[i], "open", "rounds");
}

/*
 * Opens a bid round for r among r->cands (sample) or every host.  The
 * round puts of a slot are batched into one fenced txn per loop iteration
 * (a put needs no compare but the fence): one txn per round was most of a
 * sample placement's etcd requests from the controller.
 */
static void act_round(struct ctrl *c, struct ctrl_req *r, bool broadcast)
{
	struct ctrl_txn *t = c->rbatch[r->slot];
	struct fs_round rd = {0};
	char *js;

	if (!broadcast) {
		size_t n = ctrl_cand_lowest(r->cands, r->n_cands,
					    (size_t)c->cfg->candidates);

		r->invited = calloc(n ? n : 1, sizeof(char *));
		if (!r->invited)
			return;
		for (size_t i = 0; i < n; i++) {
			struct ctrl_host *h = r->cands[i].data;

			r->invited[i] = strdup(r->cands[i].host);
			if (r->invited[i]) {
				r->n_invited++;
				h->invites++;
			}
		}
	} else {
		/* Every live host not avoided: DESIGN's "every live host". */
		r->invited = NULL;
	}
	r->round_attempt = (r->st_present && r->st.request_rev == r->req_rev
				    ? r->st.attempt
				    : 0) +
			   1 + r->tries * 1000;
	rd.attempt = r->round_attempt;
	rd.hosts = r->invited;
	rd.n_hosts = r->n_invited;
	rd.deadline_ms = fs_now_ms() + c->cfg->bid_timeout_ms;
	rd.need = r->parsed.need;
	rd.coordinator = (char *)coord_name(c, r->slot);
	/* The agents score bids as this coordinator scores its cache: with
	 * the defaults instead (spread, weights 1/1/1), bids outranked the
	 * cache's scores (vms weighs 0.5), so that stale bids decided and
	 * 10,000 broadcast placements on 50 hosts spread 56-63 VMs. */
	rd.strategy = (enum fs_strategy)c->cfg->strategy;
	rd.weights = c->w;
	js = fs_round_format(&rd);
	if (!js)
		return;
	if (t && (t->n_reqs >= TXN_REQS ||
		  !tb_room(t, 0, 1, strlen(js) + key_max(c)))) {
		round_flush_slot(c, r->slot);
		t = NULL;
	}
	if (!t) {
		t = txn_new(c, TXN_ROUND, r->slot);
		if (!t) {
			free(js);
			return;
		}
		tb_fence(t);
		snprintf(t->what, sizeof(t->what), "open round for %s", r->id);
		c->rbatch[r->slot] = t;
	}
	r->round_sending = true;
	c->rounds_sending++;
	tb_op(t, keyf("%srounds/%s", c->prefix, r->id), js, c->lease);
	t->reqs[t->n_reqs++] = r;
	r->act = ACT_TXN;
}

/* The round of r ended (all bids in, or the timeout): rank the bids. */
static void round_close(struct ctrl *c, struct ctrl_req *r, bool timeout)
{
	struct ctrl_explain ex = {0};
	size_t nb = 0, expect;

	ev_timer_stop(c->loop, &r->round_timer);
	if (r->round_open && c->rounds_open)
		c->rounds_open--;
	r->round_open = false;
	ex.hosts = r->explain.hosts;
	ex.feasible = r->explain.feasible;
	ex.bids = (int64_t)r->n_bids;
	free(r->cands);
	r->cands = NULL;
	r->n_cands = 0;
	r->cands = calloc(r->n_bids ? r->n_bids : 1, sizeof(*r->cands));
	for (size_t i = 0; r->cands && i < r->n_bids; i++) {
		struct ctrl_host *h = host_get(c, r->bids[i].host, false);

		if (!r->bids[i].bid.fits || !h || !h->present ||
		    req_avoids(r, h->name)) {
			ctrl_explain_add(&ex, r->bids[i].bid.fits
						      ? "host gone"
						      : r->bids[i].bid.reason);
			continue;
		}
		r->cands[nb++] = (struct ctrl_cand){
			.host = h->name, .score = r->bids[i].bid.score,
			.tiebreak = fs_tiebreak(r->id, h->name), .data = h};
	}
	r->n_cands = nb;
	expect = r->invited ? r->n_invited : (size_t)r->explain.feasible;
	for (size_t i = r->n_bids; timeout && i < expect; i++)
		ctrl_explain_add(&ex, "no bid before timeout");
	if (timeout && r->n_bids < expect)
		c->m.round_timeouts++;
	if (timeout && r->n_bids < expect)
		fs_info("%s: round closed at timeout with %zu of %zu bids",
			r->id, r->n_bids, expect);
	if (nb == 0) {
		r->tries++;
		if (r->tries < c->cfg->max_attempts) {
			/* Cache said yes, hosts said no: plan again. */
			ctrl_explain_clear(&ex);
			ctrl_explain_clear(&r->explain);
			r->act = ACT_NONE;
			req_dirty(r);
			return;
		}
		ctrl_explain_clear(&r->explain);
		act_unschedulable(c, r, &ex, "no host bid to take it");
		return;
	}
	ctrl_explain_clear(&r->explain);
	r->explain = ex;
	ctrl_cand_sort(r->cands, r->n_cands);
	ready_push(c, r);
}

static void on_round_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctrl_req *r = w->data;

	(void)loop;
	(void)revents;
	if (r->act == ACT_ROUND && r->round_open)
		round_close(r->c, r, true);
}

/* Starts placing r (popped from the queue). */
static void place_start(struct ctrl *c, struct ctrl_req *r)
{
	struct plan_ctx p = {c, r, 0};

	round_reset(r);
	r->plan_req_rev = r->req_rev;
	r->plan_st_rev = r->st_present ? r->st_rev : 0;
	if (c->cfg->bidding == CTRL_BID_CACHED) {
		/* No scan here: batch_add scans once, when r joins a batch
		 * (pick_cached), and counts the explain then. */
		ready_push(c, r);
		return;
	}
	ctrl_map_each(&c->hosts, plan_each, &p);
	if (p.rc < 0) {
		round_reset(r);
		r->act = ACT_NONE;
		return;
	}
	if (r->n_cands == 0) {
		struct ctrl_explain ex = r->explain;

		memset(&r->explain, 0, sizeof(r->explain));
		act_unschedulable(c, r, &ex, "no host fits");
		ctrl_explain_clear(&ex);
		return;
	}
	switch ((enum ctrl_bidding)c->cfg->bidding) {
	case CTRL_BID_CACHED: /* above */
	case CTRL_BID_SAMPLE:
		act_round(c, r, false);
		break;
	case CTRL_BID_BROADCAST:
		act_round(c, r, true);
		break;
	}
}

/* ---- commit batches --------------------------------------------------- */

static void host_pend_clear(struct ctrl_host *h)
{
	if (h->pend) {
		fs_alloc_clear(h->pend);
		free(h->pend);
		h->pend = NULL;
	}
}

static struct fs_alloc *alloc_dup(const struct ctrl_host *h)
{
	struct fs_alloc *a = calloc(1, sizeof(*a));
	char *tmp;

	if (!a)
		return NULL;
	if (!h->alloc_present)
		return a;
	tmp = fs_alloc_format(&h->alloc);
	if (!tmp || fs_alloc_parse(tmp, strlen(tmp), a, NULL, 0) < 0) {
		free(tmp);
		free(a);
		return NULL;
	}
	free(tmp);
	return a;
}

static char *assign_json(const struct ctrl_req *r, int64_t attempt)
{
	return keyf("{\"request\":%.*s,\"request_rev\":%lld,\"attempt\":%lld}",
		    (int)r->req_len, r->req_val, (long long)r->req_rev,
		    (long long)attempt);
}

/*
 * cached: the best of r's feasible hosts now, scored from the cache plus
 * the placements already in the batch being built (h->tent) or in the
 * commit in flight (h->pend).  Ranking at plan time instead sent every
 * request planned in one pass to the same few hosts (a batch's own
 * placements did not count), so that spread did not spread (max - min
 * 24 VMs of 20 per host).  A host with a commit in flight cannot join
 * another txn until it answers (its alloc revision is unknown): when it
 * is the best, r waits for it (*busy) rather than going to a worse host;
 * skipping such hosts sent whole batches to the one host left out of the
 * batch in flight.
 *
 * Among equal scores, hosts of the request's own partition
 * (fs_slot_of(host) == slot) come first, then the (request, host) hash:
 * coordinators all compute the same scores from the same cache, so
 * without this they pick the same hosts and their commits fail on each
 * other's alloc compares; ties, the common case on identical hosts,
 * split by partition.  Returns NULL (*busy when only busy hosts fit).
 */
struct pick_ctx {
	struct ctrl *c;
	struct ctrl_req *r;
	struct ctrl_host *best;
	double bs;    /* best's score plus its partition band */
	double bscore; /* best's score */
	uint32_t btb; /* best's tiebreak, computed on the first tie */
	bool btb_ok, bpart, bfree;
	bool wait; /* fits on what is committed, not with what is pending */
	int rc;
};

static void pick_each(void *arg, const char *key, void *val)
{
	struct pick_ctx *p = arg;
	struct ctrl *c = p->c;
	struct ctrl_req *r = p->r;
	struct ctrl_host *h = val;
	const struct fs_alloc *al, *committed;
	enum fs_strategy st = (enum fs_strategy)c->cfg->strategy;
	struct fs_bid b;
	bool part, free_, better, tie = false;
	uint32_t tb = 0;
	double score;

	(void)key;
	if (!h->present || p->rc < 0)
		return;
	r->explain.hosts++;
	if (req_avoids(r, h->name)) {
		p->rc = ctrl_explain_add(&r->explain, "VM failed there before");
		return;
	}
	committed = h->alloc_present ? &h->alloc : NULL;
	al = host_alloc_now(h);
	fs_score(&h->rec, al, &r->parsed.need, &c->w, st, &b);
	if (!b.fits) {
		if (al != committed && !p->wait) {
			struct fs_bid b0;

			fs_score(&h->rec, committed, &r->parsed.need, &c->w,
				 st, &b0);
			p->wait = b0.fits;
		}
		p->rc = ctrl_explain_add(&r->explain, b.reason);
		return;
	}
	r->explain.feasible++;
	part = h->part == r->slot;
	free_ = !h->locked;
	score = b.score + host_band(c, h, r);
	if (!p->best || score < p->bs) {
		better = true;
	} else if (score > p->bs) {
		better = false;
	} else if (free_ != p->bfree) {
		better = free_;
	} else if (part != p->bpart) {
		better = part;
	} else {
		tb = fs_tiebreak(r->id, h->name);
		if (!p->btb_ok) {
			p->btb = fs_tiebreak(r->id, p->best->name);
			p->btb_ok = true;
		}
		better = tb < p->btb;
		tie = true;
	}
	if (better) {
		p->best = h;
		p->bs = score;
		p->bscore = b.score;
		p->bpart = part;
		p->bfree = free_;
		p->btb = tb;
		p->btb_ok = tie;
	}
}

/*
 * cached: the best live host now, scored from the cache plus the
 * placements already in the batch being built (h->tent) or in the commit
 * in flight (h->pend); fills r->explain on the way (one scan of the hosts
 * per placement, no candidate array).  Ranking at plan time instead sent
 * every request planned in one pass to the same few hosts (a batch's own
 * placements did not count), so that spread did not spread (max - min 24
 * VMs of 20 per host).  A host with a commit in flight cannot join
 * another txn until it answers (its alloc revision is unknown): when it
 * is the best, r waits for it (*busy) rather than going to a worse host;
 * skipping such hosts sent whole batches to the one host left out of the
 * batch in flight.  *busy too when nothing fits only because of pending
 * placements.
 *
 * Among equal scores, hosts of the request's own partition
 * (fs_slot_of(host) == slot) come first, then the (request, host) hash:
 * coordinators all compute the same scores from the same cache, so
 * without this they pick the same hosts and their commits fail on each
 * other's alloc compares; ties, the common case on identical hosts,
 * split by partition.  Returns NULL when no host is to be had now.
 */
static struct ctrl_host *pick_cached(struct ctrl *c, struct ctrl_req *r,
				     bool *busy, double *ret_score)
{
	struct pick_ctx p = {.c = c, .r = r};
	size_t n = c->n_harr, i, want = (size_t)c->cfg->score_hosts;

	ctrl_explain_clear(&r->explain);
	memset(&r->explain, 0, sizeof(r->explain));
	if (c->cursor >= n)
		c->cursor = 0;
	for (i = 0; i < n && p.rc >= 0; i++) {
		pick_each(&p, NULL, c->harr[(c->cursor + i) % n]);
		if (want && (size_t)r->explain.feasible >= want) {
			i++;
			break;
		}
	}
	c->cursor = n ? (c->cursor + i) % n : 0;
	if (p.rc < 0 || (p.best && p.best->locked) || (!p.best && p.wait)) {
		*busy = true;
		return NULL;
	}
	*ret_score = p.bscore;
	return p.best;
}

/* batch_add's answers. */
enum { BATCH_ADDED, BATCH_WAIT, BATCH_FULL, BATCH_NOFIT };

/* Adds r to batch t if one of its candidates still fits: BATCH_ADDED;
 * BATCH_WAIT when its best hosts are busy (in a txn in flight),
 * BATCH_FULL when t has no room left for it (send t, then try again),
 * BATCH_NOFIT when nothing fits any more. */
static int batch_add(struct ctrl *c, struct ctrl_txn *t, struct ctrl_req *r)
{
	struct ctrl_host *h = NULL;
	struct fs_bid b;
	size_t i, kb = key_max(c), cmps, ops, bytes;
	bool busy = false;
	double score = 0;
	int64_t attempt;
	struct ctrl_status s, *own;
	char *js, *aj;

	if (t->n_reqs >= (size_t)c->cfg->batch || t->n_reqs >= TXN_REQS)
		return BATCH_FULL;
	if (!r->round_attempt) {
		h = pick_cached(c, r, &busy, &score);
		if (!h)
			return busy ? BATCH_WAIT : BATCH_NOFIT;
		if (!h->tent) {
			if (t->n_hosts >= TXN_HOSTS)
				return t->n_reqs ? BATCH_FULL : BATCH_WAIT;
			h->tent = alloc_dup(h);
			if (!h->tent)
				return BATCH_WAIT;
			h->tent_picks = 0;
			t->hosts[t->n_hosts++] = h;
		}
	}
	if (r->round_attempt) {
		/* The bidders, ranked by the larger of their bid and the
		 * cache's score with what is pending on them (bids do not
		 * see the placements of other open rounds): the best one
		 * that fits, or wait for it if its commit is in flight. */
		struct ctrl_host *best = NULL;
		double bs = 0;

		for (i = 0; i < r->n_cands; i++) {
			struct ctrl_host *x = r->cands[i].data;
			double sc;

			if (!x->present || req_avoids(r, x->name))
				continue;
			fs_score(&x->rec, host_alloc_now(x), &r->parsed.need,
				 &c->w, (enum fs_strategy)c->cfg->strategy, &b);
			if (!b.fits)
				continue;
			sc = b.score > r->cands[i].score ? b.score
							 : r->cands[i].score;
			sc += host_band(c, x, r);
			if (!best || sc < bs) {
				best = x;
				bs = sc;
				score = r->cands[i].score;
			}
		}
		if (!best)
			return BATCH_NOFIT;
		if (best->locked)
			return BATCH_WAIT;
		h = best;
		if (!h->tent) {
			if (t->n_hosts >= TXN_HOSTS)
				return t->n_reqs ? BATCH_FULL : BATCH_WAIT;
			h->tent = alloc_dup(h);
			if (!h->tent)
				return BATCH_WAIT;
			h->tent_picks = 0;
			t->hosts[t->n_hosts++] = h;
		}
	}
	attempt = (r->st_present && r->st.request_rev == r->req_rev
			   ? r->st.attempt
			   : 0) +
		  1;
	status_init(&s, CTRL_SCHEDULED, r);
	status_carry(&s, r);
	s.attempt = attempt;
	strcpy(s.host, h->name);
	s.score = score;
	s.has_explain = true;
	s.explain = r->explain;
	status_reason(&s, "placed on %s: lowest score %.3f of %zu %s", h->name,
		      score,
		      r->round_attempt ? r->n_cands
				       : (size_t)r->explain.feasible,
		      r->round_attempt ? "bids" : "feasible hosts");
	js = status_json(c, r, &s);
	own = status_dup(&s);
	memset(&s.explain, 0, sizeof(s.explain)); /* still r's */
	ctrl_status_clear(&s);
	aj = assign_json(r, attempt);
	if (!js || !aj) {
		free(js);
		free(aj);
		status_drop(own);
		return BATCH_WAIT;
	}
	/* What r adds: 2 compares and 2 puts, the alloc compare and put of
	 * a host new to the batch, and the deletes closing its round (in
	 * an empty batch those that do not fit go to the leftover txn). */
	cmps = 2 + (h->tent_picks == 0);
	ops = 2 + (h->tent_picks == 0);
	bytes = strlen(js) + strlen(aj) + 4 * kb +
		(h->tent_picks == 0 ? 3 * kb + alloc_max(h->tent) : 0);
	if (t->n_reqs == 0 ? !tb_room(t, cmps, ops + (round_ops(r) > 0),
				      bytes + kb)
			   : !tb_room(t, cmps, ops + round_ops(r),
				      bytes + round_ops(r) * kb)) {
		free(js);
		free(aj);
		status_drop(own);
		return t->n_reqs ? BATCH_FULL : BATCH_NOFIT;
	}
	if (fs_alloc_add(h->tent, &r->parsed.need.res, r->parsed.need.spread,
			 1) < 0) {
		free(js);
		free(aj);
		status_drop(own);
		return BATCH_WAIT;
	}
	if (h->tent_picks++ == 0) {
		t->resv_cmp++;
		t->resv_ok++;
		t->resv_bytes += 3 * kb + alloc_max(h->tent);
	}
	tb_cmp(t, keyf("%sstatus/%s", c->prefix, r->id), ETCD_CMP_MOD,
	       r->st_present ? r->st_rev : 0);
	tb_cmp(t, keyf("%srequests/%s", c->prefix, r->id), ETCD_CMP_MOD,
	       r->req_rev);
	tb_op(t, keyf("%sstatus/%s", c->prefix, r->id), js, 0);
	tb_keep_status(t, own);
	tb_op(t, keyf("%sassign/%s/%s", c->prefix, h->name, r->id), aj, 0);
	tb_keep_need(t, &r->parsed.need);
	tb_round_close(c, t, r);
	r->pick = h->name;
	r->pick_score = score;
	t->reqs[t->n_reqs++] = r;
	return BATCH_ADDED;
}

static void batch_send(struct ctrl *c, struct ctrl_txn *t)
{
	size_t used = 0;

	t->resv_cmp = t->resv_ok = t->resv_bytes = 0;
	/* alloc compares and puts for the hosts that got something */
	for (size_t i = 0; i < t->n_hosts; i++) {
		struct ctrl_host *h = t->hosts[i];
		if (h->tent_picks) {
			tb_cmp(t, keyf("%salloc/%s", c->prefix, h->name),
			       ETCD_CMP_MOD,
			       h->alloc_present ? h->alloc_rev : 0);
			tb_op(t, keyf("%salloc/%s", c->prefix, h->name),
			      fs_alloc_format(h->tent), 0);
			h->locked++;
			t->hosts[used++] = h;
			host_pend_clear(h);
			h->pend = h->tent; /* until the answer */
		} else {
			fs_alloc_clear(h->tent);
			free(h->tent);
		}
		h->tent = NULL;
		h->tent_picks = 0;
	}
	t->n_hosts = used;
	for (size_t j = 0; j < t->n_reqs; j++)
		t->reqs[j]->act = ACT_TXN;
	snprintf(t->what, sizeof(t->what), "commit %zu placement(s) (%s ...)",
		 t->n_reqs, t->reqs[0]->id);
	txn_send(t);
}

/* Forms fenced batches, one per slot, out of the ready list. */
static void commit_flush(struct ctrl *c)
{
	for (unsigned s = 0; s < c->k; s++) {
		struct ctrl_txn *t = NULL;
		struct ctrl_req **p, *r;

		if (!slot_mine(c, s))
			continue;
		p = &c->ready_head;
		while ((r = *p)) {
			int rc;

			if (r->slot != s) {
				p = &r->ready_next;
				continue;
			}
			if (c->inflight >= (unsigned)c->cfg->max_inflight)
				break;
			if (!t) {
				t = txn_new(c, TXN_COMMIT, s);
				if (!t)
					return;
				tb_fence(t);
			}
			rc = batch_add(c, t, r);
			if (rc == BATCH_FULL) {
				batch_send(c, t);
				t = NULL;
				continue; /* retry r in a new batch */
			}
			if (rc == BATCH_WAIT) {
				p = &r->ready_next;
				continue;
			}
			*p = r->ready_next; /* unlink */
			r->ready_next = NULL;
			if (rc == BATCH_NOFIT && !r->round_attempt) {
				/* cached: the scan just made says no host
				 * fits, even without pending placements. */
				struct ctrl_explain ex = r->explain;

				memset(&r->explain, 0, sizeof(r->explain));
				round_reset(r);
				r->act = ACT_NONE;
				act_unschedulable(c, r, &ex, "no host fits");
				ctrl_explain_clear(&ex);
			} else if (rc == BATCH_NOFIT) {
				/* Nothing fits any more: plan again. */
				r->tries++;
				round_reset(r);
				r->act = ACT_NONE;
				req_dirty(r);
			}
		}
		c->ready_tail = &c->ready_head;
		while (*c->ready_tail)
			c->ready_tail = &(*c->ready_tail)->ready_next;
		if (t && t->n_reqs) {
			batch_send(c, t);
		} else if (t) {
			for (size_t i = 0; i < t->n_hosts; i++) {
				fs_alloc_clear(t->hosts[i]->tent);
				free(t->hosts[i]->tent);
				t->hosts[i]->tent = NULL;
				t->hosts[i]->tent_picks = 0;
			}
			txn_free(t);
		}
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
			while (b < LAT_N && d > lat_bounds[b])
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
			host_pend_clear(t->hosts[i]);
	}
	if (ok)
		metrics_txn_ok(c, t);
	for (size_t i = 0; i < t->n_reqs; i++) {
		struct ctrl_req *r = t->reqs[i];

		r->act = ACT_NONE;
		switch (t->kind) {
		case TXN_ROUND:
			r->round_sending = false;
			if (c->rounds_sending)
				c->rounds_sending--;
			if (ok && slot_mine(c, r->slot) && r->req_present &&
			    r->req_rev == r->plan_req_rev) {
				r->act = ACT_ROUND;
				r->round_open = true;
				c->rounds_open++;
				r->round_timer.data = r;
				ev_timer_init(&r->round_timer,
					      on_round_timeout,
					      (double)c->cfg->bid_timeout_ms /
						      1000.0,
					      0);
				ev_timer_start(c->loop, &r->round_timer);
				req_dirty(r); /* bids may all be in already */
				break;
			}
			round_reset(r);
			break;
		case TXN_COMMIT:
			if (ok) {
				fs_info("placed %s on %s (score %.3f, attempt "
					"%lld, rev %lld)",
					r->id, r->pick, r->pick_score,
					(long long)(r->st_present
							    ? r->st.attempt
							    : 0),
					(long long)rev);
				r->tries = 0;
				round_reset(r);
				break;
			}
			r->tries++;
			if (t->answered && slot_mine(c, r->slot) &&
			    r->tries < c->cfg->max_attempts &&
			    r->req_rev == r->plan_req_rev &&
			    (r->st_present ? r->st_rev : 0) ==
				    r->plan_st_rev) {
				/* A host's alloc moved: next bid that fits. */
				ready_push(c, r);
				break;
			}
			round_reset(r);
			break;
		case TXN_STATUS:
			if (ok) {
				round_reset(r);
				r->round_attempt = 0;
			}
			break;
		case TXN_RELEASE:
			if (ok)
				fs_info("%s", t->what);
			break;
		}
		r->pick = NULL;
		if (t->kind == TXN_COMMIT && ok)
			r->round_attempt = 0;
		/* Without an answer (etcd down or slow, or a txn that could
		 * not be sent) the request waits for the next pass
		 * (PASS_INTERVAL_S) rather than retrying at once. */
		if (r->act == ACT_NONE && (ok || t->answered))
			req_dirty(r);
	}
	txn_free(t);
}

/* ---- reconcile -------------------------------------------------------- */

static struct ctrl_asg *asg_find(struct ctrl_req *r, const char *host)
{
	for (size_t i = 0; i < r->n_asg; i++)
		if (strcmp(r->asg[i].host, host) == 0)
			return &r->asg[i];
	return NULL;
}

static struct ctrl_vm *vm_find(struct ctrl_req *r, const char *host)
{
	for (size_t i = 0; i < r->n_vms; i++)
		if (strcmp(r->vms[i].host, host) == 0)
			return &r->vms[i];
	return NULL;
}

static void enqueue(struct ctrl *c, struct ctrl_req *r)
{
	r->q.priority = r->parsed.priority;
	if (ctrl_queue_push(&c->queue, &r->q) == 0)
		r->act = ACT_QUEUED;
}

/* Decides r's next step from the cache.  See the file comment. */
static void req_reconcile(struct ctrl *c, struct ctrl_req *r)
{
	bool cur, placed;
	struct ctrl_status s;

	if (r->act == ACT_TXN || r->act == ACT_READY)
		return;
	if (!slot_mine(c, r->slot)) {
		req_abort(r);
		return;
	}
	if (r->act == ACT_ROUND) {
		size_t expect = r->invited ? r->n_invited
					   : (size_t)r->explain.feasible;

		if (!r->req_present || r->req_rev != r->plan_req_rev) {
			req_abort(r);
		} else {
			if (r->round_open && r->n_bids >= expect)
				round_close(c, r, false);
			return;
		}
	}
	if (!r->req_present) {
		req_abort(r);
		if (r->n_asg)
			act_release(c, r, &r->asg[0], NULL,
				    "request deleted");
		else if (r->st_present)
			act_forget(c, r);
		return;
	}
	if (r->parsed_rev != r->req_rev) {
		ctrl_request_clear(&r->parsed);
		r->valid = ctrl_request_parse(r->id, r->req_val, r->req_len,
					      &r->parsed, r->reason,
					      sizeof(r->reason)) == 0;
		r->parsed_rev = r->req_rev;
		r->tries = 0;
	}
	if (!r->valid) {
		req_abort(r);
		if (r->st_present && r->st.phase == CTRL_REJECTED &&
		    r->st.request_rev == r->req_rev && !r->n_asg)
			return;
		status_init(&s, CTRL_REJECTED, r);
		status_reason(&s, "%s", r->reason);
		if (r->n_asg) {
			act_release(c, r, &r->asg[0], &s,
				    "request rewritten invalid");
			return;
		}
		fs_info("rejected %s: %s", r->id, r->reason);
		act_status(c, r, &s, "reject");
		return;
	}
	cur = r->st_present && r->st.request_rev == r->req_rev;
	placed = cur && (r->st.phase == CTRL_SCHEDULED ||
			 r->st.phase == CTRL_RUNNING);
	/* Assignments the status does not stand for are released first. */
	for (size_t i = 0; i < r->n_asg; i++) {
		if (placed && strcmp(r->asg[i].host, r->st.host) == 0)
			continue;
		req_abort(r);
		status_init(&s, CTRL_PENDING, r);
		status_carry(&s, r);
		status_reason(&s, "%s", cur ? "stray assignment released"
					    : "request rewritten; placing "
					      "the new version");
		act_release(c, r, &r->asg[i], &s,
			    cur ? "stray" : "request rewritten");
		return;
	}
	if (placed) {
		struct ctrl_asg *a = asg_find(r, r->st.host);
		struct ctrl_host *h = host_get(c, r->st.host, false);
		struct ctrl_vm *vm = vm_find(r, r->st.host);

		if (r->act == ACT_QUEUED)
			req_abort(r);
		if (!a) {
			/* Someone deleted the assignment: place again. */
			fs_warn("%s: status says %s on %s but the assignment "
				"is gone; placing again",
				r->id, ctrl_phase_name(r->st.phase),
				r->st.host);
			status_init(&s, CTRL_PENDING, r);
			status_carry(&s, r);
			status_reason(&s, "assignment on %s vanished",
				      r->st.host);
			act_status(c, r, &s, "reset");
			return;
		}
		if (!h || !h->present) {
			status_init(&s, CTRL_LOST, r);
			status_carry(&s, r);
			strcpy(s.host, r->st.host);
			status_reason(&s,
				      "host %s left (lease expired); "
				      "rescheduling",
				      r->st.host);
			fs_warn("%s lost with host %s; rescheduling", r->id,
				r->st.host);
			act_release(c, r, a, &s, "host lost");
			return;
		}
		if (!vm || vm->rev <= a->rev)
			return;
		if (strcmp(vm->state, "running") == 0 &&
		    r->st.phase == CTRL_SCHEDULED) {
			if (ctrl_status_copy(&s, &r->st) < 0)
				return;
			s.phase = CTRL_RUNNING;
			if (r->st.reason && strncmp(r->st.reason, "placed ", 7) == 0)
				status_reason(&s, "running; %s", r->st.reason);
			else
				status_reason(&s, "running on %s", s.host);
			fs_info("%s running on %s", r->id, s.host);
			act_status(c, r, &s, "mark running");
		} else if (strcmp(vm->state, "failed") == 0) {
			status_init(&s, CTRL_FAILED, r);
			status_carry(&s, r);
			ctrl_status_avoid_add(&s, r->st.host);
			if (s.attempt >= c->cfg->max_attempts) {
				status_reason(&s,
					      "failed on %lld host(s), "
					      "max_attempts %lld reached; "
					      "last error on %s: %s",
					      (long long)s.attempt,
					      (long long)c->cfg->max_attempts,
					      r->st.host,
					      vm->error ? vm->error : "?");
				fs_warn("%s failed terminally: %s", r->id,
					s.reason);
			} else {
				status_reason(&s,
					      "failed on %s: %s; "
					      "rescheduling (attempt %lld of "
					      "%lld)",
					      r->st.host,
					      vm->error ? vm->error : "?",
					      (long long)s.attempt + 1,
					      (long long)c->cfg->max_attempts);
				fs_warn("%s %s", r->id, s.reason);
			}
			act_release(c, r, a, &s, "VM failed");
		}
		return;
	}
	if (cur) {
		switch (r->st.phase) {
		case CTRL_FAILED:
			if (r->st.attempt >= c->cfg->max_attempts)
				return; /* terminal */
			break;
		case CTRL_UNSCHEDULABLE:
			if (r->unsched_gen == c->cap_gen ||
			    r->unsched_gen == -1) {
				/* Seen first from the list (recovery): try
				 * once, then wait for capacity news. */
				if (r->unsched_gen == -1)
					break;
				return;
			}
			break;
		case CTRL_REJECTED:
		case CTRL_PENDING:
		case CTRL_LOST:
		case CTRL_SCHEDULED:
		case CTRL_RUNNING:
			break;
		}
	}
	if (r->act == ACT_NONE)
		enqueue(c, r);
}

static void req_dirty(struct ctrl_req *r)
{
	if (r->dirty)
		return;
	r->dirty = true;
	r->dirty_next = r->c->dirty_head;
	r->c->dirty_head = r;
}

static void pass_each(void *arg, const char *key, void *val)
{
	struct ctrl *c = arg;
	struct ctrl_req *r = val;

	(void)key;
	/* Ours and idle, or a round of a slot no longer ours (to close). */
	if (slot_mine(c, r->slot) ? r->act == ACT_NONE : r->act == ACT_ROUND)
		req_dirty(r);
}

/* Open rounds at most, so that the hosts can bid on them all before
 * bid_timeout_ms: a broadcast round asks every host for a bid, and 512
 * rounds over 50 hosts (25,600 bids) timed out again and again. */
static unsigned rounds_max(const struct ctrl *c)
{
	size_t per = c->cfg->bidding == CTRL_BID_BROADCAST
			     ? c->n_harr
			     : (size_t)c->cfg->candidates;

	if (c->cfg->bidding == CTRL_BID_CACHED)
		return UINT_MAX;
	return per ? (unsigned)(ROUND_BIDS / per) + 1 : UINT_MAX;
}

/* Runs before the loop blocks: reconcile what changed, start queued
 * placements within the in-flight budget, flush commit batches.  A pass
 * starts PASS_START queued requests at most: a deep queue of requests
 * that fit nowhere (each a scan of every host) otherwise held the loop for
 * seconds a pass and took 4 times as long to drain.  Every request
 * started makes an etcd request whose answer runs the next pass (the
 * pass timer too). */
static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct ctrl *c = w->data;
	struct ctrl_req *r, *list, *gc = NULL;
	struct ctrl_qitem *it;
	unsigned started = 0;

	(void)loop;
	(void)revents;
	if (!c->cache_ready || c->listing)
		return;
	if (c->pass_all) {
		c->pass_all = false;
		ctrl_map_each(&c->reqs, pass_each, c);
	}
	while ((list = c->dirty_head)) {
		c->dirty_head = NULL;
		while ((r = list)) {
			list = r->dirty_next;
			r->dirty = false;
			req_reconcile(c, r);
			if (!r->req_present && !r->st_present && !r->n_asg &&
			    !r->n_vms && r->act == ACT_NONE && !r->dirty) {
				r->dirty_next = gc;
				gc = r;
			}
		}
	}
	while ((r = gc)) {
		gc = r->dirty_next;
		if (!r->dirty)
			req_maybe_free(c, r);
	}
	/* Open rounds count against the budget too: without that a burst
	 * opened a round per queued request, hosts could not bid in time,
	 * and rounds timed out and were opened again. */
	while (c->inflight + c->rounds_open + c->rounds_sending <
		       (unsigned)c->cfg->max_inflight &&
	       c->rounds_open + c->rounds_sending < rounds_max(c) &&
	       started++ < PASS_START && (it = ctrl_queue_pop(&c->queue))) {
		r = (struct ctrl_req *)((char *)it -
					offsetof(struct ctrl_req, q));
		r->act = ACT_NONE;
		if (slot_mine(c, r->slot) && r->req_present && r->valid)
			place_start(c, r);
	}
	for (unsigned i = 0; i < c->k; i++)
		round_flush_slot(c, i);
	commit_flush(c);
	status_flush(c);
	for (unsigned i = 0; i < c->k; i++)
		gc_flush_slot(c, i);
}

static void on_pass_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctrl *c = w->data;

	(void)loop;
	(void)revents;
	c->pass_all = true;
	slots_balance(c); /* retries failed campaigns */
}

/* ---- watch and list --------------------------------------------------- */

static void sweep_host(void *arg, const char *key, void *val)
{
	struct ctrl *c = arg;
	struct ctrl_host *h = val;
	char *k;

	(void)key;
	/* Gone from the list, unless written after it: our own commits'
	 * answers may land between the list's revision and its answer. */
	if (h->present && h->seen != c->list_gen && h->rev <= c->list_rev) {
		k = keyf("%shosts/%s", c->prefix, h->name);
		if (k)
			cache_del(c, k, h->rev + 1);
		free(k);
	}
	if (h->alloc_present && h->seen != c->list_gen &&
	    h->alloc_rev <= c->list_rev) {
		k = keyf("%salloc/%s", c->prefix, h->name);
		if (k)
			cache_del(c, k, h->alloc_rev + 1);
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
		req_dirty(r);
	}
	if (r->st_present && r->st_seen != c->list_gen &&
	    r->st_rev <= c->list_rev) {
		r->st_present = false;
		r->st_rev++;
		req_dirty(r);
	}
	for (size_t i = r->n_asg; i-- > 0;)
		if (r->asg[i].seen != c->list_gen &&
		    r->asg[i].rev <= c->list_rev)
			asg_remove(r, i);
	for (size_t i = r->n_vms; i-- > 0;)
		if (r->vms[i].seen != c->list_gen &&
		    r->vms[i].rev <= c->list_rev)
			vm_remove(r, i);
}

static void on_watch(void *arg, const struct etcd_watch_update *u)
{
	struct ctrl_wch *wc = arg;
	struct ctrl *c = wc->c;

	switch (u->kind) {
	case ETCD_WATCH_EVENTS:
		wc->ok = true;
		for (size_t i = 0; i < u->n_events; i++) {
			const struct etcd_event *e = &u->events[i];

			if (e->type == ETCD_EVENT_PUT)
				cache_put(c, e->kv.key, e->kv.value,
					  e->kv.value_len,
					  e->kv.create_revision,
					  e->kv.mod_revision);
			else
				cache_del(c, e->kv.key, e->kv.mod_revision);
		}
		break;
	case ETCD_WATCH_COMPACTED:
	case ETCD_WATCH_FAILED:
		fs_warn("watch of %s ended (%s); listing again", c->prefix,
			u->err ? u->err->message : "?");
		watches_cancel(c); /* wc is gone: return at once */
		c->m.relists++;
		relist_soon(c, u->kind == ETCD_WATCH_COMPACTED ? 0.0 : 1.0);
		return;
	case ETCD_WATCH_RECONNECTING:
		wc->ok = false;
		fs_warn("watch of %s: %s; resuming", c->prefix,
			u->err ? u->err->message : "connection lost");
		break;
	case ETCD_WATCH_CREATED:
	case ETCD_WATCH_PROGRESS:
		wc->ok = true;
		break;
	}
}

/* The list comes in pages (etcd_kv_list) at one revision: a prefix of
 * 100,000 requests never sits in memory as one answer.  Nothing is
 * scheduled from the cache until the last page is in (c->listing). */
static void on_list(void *arg, const struct etcd_error *err,
		    const struct etcd_range_result *res, bool last)
{
	struct ctrl *c = arg;
	/* alloc/; bids/ (puts); [controllers/, rounds/); vms/ */
	static const char *const wfrom[W_N] = {"alloc/", "bids/",
					       "controllers/", "vms/"};
	char *from[W_N], *to = NULL;
	int rc = 0;

	if (err) {
		fs_warn("listing %s failed: %s; retrying", c->prefix,
			err->message);
		c->listing = false;
		relist_soon(c, 1.0);
		return;
	}
	if (c->list_first) {
		c->list_first = false;
		c->list_gen++;
		for (unsigned i = 0; i < c->k; i++)
			c->slots[i].n_cands = 0; /* the list has them all */
	}
	for (size_t i = 0; i < res->n_kvs; i++)
		cache_put(c, res->kvs[i].key, res->kvs[i].value,
			  res->kvs[i].value_len, res->kvs[i].create_revision,
			  res->kvs[i].mod_revision);
	if (!last)
		return;
	c->listing = false;
	c->list_rev = res->header.revision;
	c->done_seq = c->list_seq;
	ctrl_map_each(&c->hosts, sweep_host, c);
	ctrl_map_each(&c->reqs, sweep_req, c);
	for (int i = 0; i < W_N; i++)
		from[i] = keyf("%s%s", c->prefix, wfrom[i]);
	to = keyf("%srounds/", c->prefix);
	for (int i = 0; i < W_N; i++) {
		struct etcd_watch_req wr = {
			.key = from[i], .prefix = i != W_MID,
			.range_end = i == W_MID ? to : NULL,
			.no_delete = i == W_BIDS,
			.start_revision = res->header.revision + 1};

		c->wch[i].c = c;
		c->wch[i].ok = true; /* until the watch says otherwise */
		if (rc == 0 && (!from[i] || !to))
			rc = -ENOMEM;
		if (rc == 0)
			rc = etcd_watch_start(c->etcd, &wr, on_watch,
					      &c->wch[i], &c->wch[i].w);
	}
	for (int i = 0; i < W_N; i++)
		free(from[i]);
	free(to);
	if (rc < 0) {
		fs_warn("cannot watch %s: %s", c->prefix, etcd_strerror(rc));
		watches_cancel(c);
		relist_soon(c, 1.0);
		return;
	}
	for (unsigned i = 0; i < c->k; i++)
		if (c->slots[i].state == SLOT_LEADER &&
		    c->slots[i].need_seq > c->done_seq)
			relist_soon(c, 0.0); /* won while this list ran */
	if (!c->cache_ready)
		fs_info("cache of %s loaded at revision %lld: %zu hosts, %zu "
			"requests",
			c->prefix, (long long)res->header.revision,
			c->hosts.n, c->reqs.n);
	c->cache_ready = true;
	c->pass_all = true;
	slots_balance(c);
}

static void cache_list(struct ctrl *c)
{
	struct etcd_range_req rq = {.key = c->prefix, .prefix = true};
	int rc;

	watches_cancel(c); /* restarted from the list's revision */
	rc = etcd_kv_list(c->etcd, &rq, LIST_PAGE, on_list, c);
	c->listing = rc == 0;
	c->list_first = true;
	if (rc == 0)
		c->list_seq++;
	else
		relist_soon(c, 1.0);
}

static void on_relist(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	cache_list(w->data);
}

/* ---- slots ------------------------------------------------------------ */

static void slot_reqs_dirty(void *arg, const char *key, void *val)
{
	struct ctrl_req *r = val;

	(void)key;
	(void)arg;
	req_dirty(r);
}

/* A slot we no longer lead: its statuses and assignments will not be
 * kept up to date (not watched), so they go; the next win lists them. */
static void slot_forget(void *arg, const char *key, void *val)
{
	struct ctrl_slot *s = arg;
	struct ctrl_req *r = val;

	(void)key;
	if (&r->c->slots[r->slot] != s)
		return;
	if (r->st_present) {
		ctrl_status_clear(&r->st);
		memset(&r->st, 0, sizeof(r->st));
		r->st_present = false;
	}
	while (r->n_asg)
		asg_remove(r, r->n_asg - 1);
}

static void slot_drop(struct ctrl *c, unsigned i, const char *why)
{
	struct ctrl_slot *s = &c->slots[i];

	if (s->state == SLOT_LEADER)
		fs_warn("slot %u lost: %s", i, why);
	s->camp = etcd_campaign_cancel(s->camp);
	free(s->lk_key);
	s->lk_key = NULL;
	s->lk_rev = 0;
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

	free(x);
	s->camp = etcd_campaign_cancel(s->camp);
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
	relist_soon(c, 0.0);
	fs_info("slot %u acquired (election key %s, rev %lld)", i, lk->key,
		(long long)lk->rev);
	/* Its requests are looked at once that list is in (on_list's
	 * pass_all): until then the slot is not slot_mine(). */
	c->pass_all = true;
	slots_balance(c);
}

static void on_resign(void *arg, const struct etcd_error *err,
		      const struct etcd_header *hdr)
{
	(void)arg;
	(void)hdr;
	if (err && err->code != ETCD_ECANCELED)
		fs_warn("resign failed: %s (the key expires with the lease)",
			err->message);
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
static void slot_withdraw(struct ctrl *c, unsigned i)
{
	char *key = keyf("%s/%llx", c->slots[i].name,
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

/* Slots led by controller name, as the cache says. */
static unsigned slots_led_by(const struct ctrl *c, const char *name)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->k; i++) {
		const char *l = slot_leader(&c->slots[i]);

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
		struct etcd_leader_key lk;

		if (s->state != SLOT_LEADER || !slot_has_cand(s, y.starving))
			continue;
		lk = (struct etcd_leader_key){.name = s->name,
					      .key = s->lk_key,
					      .rev = s->lk_rev,
					      .lease = s->lk_lease};
		fs_info("slot %u: yielding to %s, which leads fewer than %u "
			"slot(s) (%u held)",
			i, y.starving, floor, held);
		etcd_election_resign(c->etcd, &lk, on_resign, NULL);
		slot_drop(c, i, "yielded to balance");
		s->yielded_at = ev_now(c->loop);
		return held - 1;
	}
	return held;
}

static void slots_balance(struct ctrl *c)
{
	size_t live = c->ctrls.n ? c->ctrls.n : 1;
	unsigned cap = (unsigned)((c->k + live - 1) / live), held = 0;

	if (!c->session_up || !c->cache_ready)
		return;
	for (unsigned i = 0; i < c->k; i++)
		held += c->slots[i].state == SLOT_LEADER;
	for (unsigned i = c->k; i-- > 0 && held > cap;) {
		struct ctrl_slot *s = &c->slots[i];
		struct etcd_leader_key lk;

		if (s->state != SLOT_LEADER)
			continue;
		lk = (struct etcd_leader_key){.name = s->name,
					      .key = s->lk_key,
					      .rev = s->lk_rev,
					      .lease = s->lk_lease};
		fs_info("slot %u: resigning to balance (%u held, at most %u "
			"with %zu controllers)",
			i, held, cap, live);
		etcd_election_resign(c->etcd, &lk, on_resign, NULL);
		slot_drop(c, i, "resigned to balance");
		held--;
	}
	held = slots_yield(c, held, cap, (unsigned)(c->k / live));
	for (unsigned i = 0; i < c->k; i++) {
		struct ctrl_slot *s = &c->slots[i];

		if (held < cap && s->state == SLOT_NONE && s->yielded_at &&
		    ev_now(c->loop) - s->yielded_at < YIELD_HOLD_S)
			continue;
		if (held >= cap && s->state == SLOT_CAMPAIGN) {
			s->camp = etcd_campaign_cancel(s->camp);
			s->state = SLOT_NONE;
			slot_withdraw(c, i);
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
			s->state = SLOT_CAMPAIGN;
		}
	}
}

/* ---- session ---------------------------------------------------------- */

static void session_retry(struct ctrl *c, double after)
{
	ev_timer_stop(c->loop, &c->session_timer);
	ev_timer_set(&c->session_timer, after, 0);
	ev_timer_start(c->loop, &c->session_timer);
}

static void session_end(struct ctrl *c, const char *why)
{
	for (unsigned i = 0; i < c->k; i++)
		slot_drop(c, i, why);
	c->ka = etcd_lease_keepalive_stop(c->ka);
	c->session_up = false;
	c->lease = 0;
}

static void on_keepalive(void *arg, enum etcd_keepalive_event ev,
			 const struct etcd_error *err, int64_t ttl)
{
	struct ctrl *c = arg;

	(void)ttl;
	if (ev == ETCD_KEEPALIVE_ERROR) {
		fs_warn("lease keepalive: %s", err ? err->message : "error");
		return;
	}
	if (ev != ETCD_KEEPALIVE_EXPIRED)
		return;
	fs_error("lease %llx expired: stepping down from every slot; "
		 "starting a new session",
		 (unsigned long long)c->lease);
	c->ka = NULL; /* the loop has stopped; free it */
	session_end(c, "lease expired");
	session_retry(c, 0.2);
}

static void on_register(void *arg, const struct etcd_error *err,
			const struct etcd_put_result *res)
{
	struct ctrl *c = arg;

	(void)res;
	c->starting = false;
	if (err) {
		fs_warn("registering %scontrollers/%s failed: %s", c->prefix,
			c->name, err->message);
		session_end(c, "registration failed");
		session_retry(c, 1.0);
		return;
	}
	c->session_up = true;
	fs_info("registered as %s (lease %llx)", c->name,
		(unsigned long long)c->lease);
	if (!c->cache_ready && !c->listing)
		cache_list(c);
	else
		slots_balance(c);
}

static void on_meta(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res);

static void session_register(struct ctrl *c)
{
	char *key = keyf("%scontrollers/%s", c->prefix, c->name);
	char *val = keyf("{\"name\":\"%s\",\"pid\":%ld,\"version\":\"%s\"}",
			 c->name, (long)getpid(), FLINTSCHED_VERSION);
	struct etcd_put_req p = {.key = key, .value = val,
				 .value_len = val ? strlen(val) : 0,
				 .lease = c->lease};
	int rc = key && val ? etcd_kv_put(c->etcd, &p, on_register, c)
			    : -ENOMEM;

	free(key);
	free(val);
	if (rc < 0) {
		session_end(c, "registration failed");
		session_retry(c, 1.0);
	}
}

static void on_grant(void *arg, const struct etcd_error *err, int64_t id,
		     int64_t ttl)
{
	struct ctrl *c = arg;
	char *mk, *mv;
	int rc;

	if (err) {
		c->starting = false;
		fs_warn("lease grant failed: %s; retrying", err->message);
		session_retry(c, 1.0);
		return;
	}
	c->lease = id;
	rc = etcd_lease_keepalive_start(c->etcd, id, ttl, on_keepalive, c,
					&c->ka);
	if (rc < 0) {
		c->starting = false;
		session_retry(c, 1.0);
		return;
	}
	/* P/meta pins K: create it if absent, else read it back. */
	mk = keyf("%smeta", c->prefix);
	mv = keyf("{\"coordinators\":%u}", c->k);
	if (!mk || !mv) {
		free(mk);
		free(mv);
		session_retry(c, 1.0);
		return;
	}
	{
		struct etcd_compare cmp = {.target = ETCD_CMP_CREATE,
					   .result = ETCD_CMP_EQUAL,
					   .key = mk, .number = 0};
		struct etcd_op ok = {.type = ETCD_OP_PUT,
				     .u.put = {.key = mk, .value = mv,
					       .value_len = strlen(mv)}};
		struct etcd_op ko = {.type = ETCD_OP_RANGE,
				     .u.range = {.key = mk}};
		struct etcd_txn_req t = {&cmp, 1, &ok, 1, &ko, 1};

		rc = etcd_kv_txn(c->etcd, &t, on_meta, c);
	}
	free(mk);
	free(mv);
	if (rc < 0)
		session_retry(c, 1.0);
}

static void on_meta(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res)
{
	struct ctrl *c = arg;

	if (err) {
		fs_warn("reading %smeta failed: %s; retrying", c->prefix,
			err->message);
		session_end(c, "meta");
		session_retry(c, 1.0);
		c->starting = false;
		return;
	}
	if (!res->succeeded && res->n_responses &&
	    res->responses[0].u.range.n_kvs) {
		const struct etcd_kv *kv = &res->responses[0].u.range.kvs[0];
		json_t *root = json_loadb(kv->value, kv->value_len, 0, NULL);
		json_t *k = json_object_get(root, "coordinators");
		long long have = json_is_integer(k) ? json_integer_value(k) : -1;

		json_decref(root);
		if (have != (long long)c->k) {
			set_fatal(c,
				  "%smeta pins coordinators=%lld but this "
				  "controller is configured with "
				  "controller.coordinators=%u; set it to %lld "
				  "(or stop every controller and delete "
				  "%smeta to change K)",
				  c->prefix, have, c->k, have, c->prefix);
			return;
		}
	} else if (res->succeeded) {
		fs_info("created %smeta with coordinators=%u", c->prefix,
			c->k);
	}
	session_register(c);
}

static void session_start(struct ctrl *c)
{
	int rc;

	if (c->starting || c->session_up)
		return;
	c->starting = true;
	rc = etcd_lease_grant(c->etcd, c->cfg->lease_ttl_s, 0, on_grant, c);
	if (rc < 0) {
		c->starting = false;
		session_retry(c, 1.0);
	}
}

static void on_session_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	session_start(w->data);
}

/* ---- /healthz and /metrics ------------------------------------------- */

/* Waiting to be placed: a present, valid request of a slot we lead whose
 * current revision is neither placed nor at a final outcome. */
static bool req_pending(const struct ctrl *c, const struct ctrl_req *r)
{
	if (!slot_mine(c, r->slot) || !r->req_present)
		return false;
	if (r->parsed_rev == r->req_rev && !r->valid)
		return false;
	if (!r->st_present || r->st.request_rev != r->req_rev)
		return true;
	switch (r->st.phase) {
	case CTRL_SCHEDULED:
	case CTRL_RUNNING:
	case CTRL_REJECTED:
	case CTRL_UNSCHEDULABLE:
		return false;
	case CTRL_FAILED:
		return r->st.attempt < c->cfg->max_attempts;
	case CTRL_PENDING:
	case CTRL_LOST:
		return true;
	}
	return true;
}

struct pending_ctx {
	const struct ctrl *c;
	uint64_t n;
};

static void pending_each(void *arg, const char *key, void *val)
{
	struct pending_ctx *p = arg;

	(void)key;
	p->n += req_pending(p->c, val);
}

static void hosts_each(void *arg, const char *key, void *val)
{
	(void)key;
	*(size_t *)arg += ((const struct ctrl_host *)val)->present;
}

static unsigned slots_held(const struct ctrl *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->k; i++)
		n += c->slots[i].state == SLOT_LEADER;
	return n;
}

/* Why the controller cannot work right now, or NULL when it can. */
static const char *ctrl_unhealthy(const struct ctrl *c)
{
	if (c->fatal)
		return c->fatal_msg;
	if (!c->session_up || !c->lease)
		return "no etcd session (lease and registration pending)";
	if (!c->cache_ready)
		return "cache not loaded yet (listing the prefix)";
	if (!watches_ok(c))
		return "watch of the prefix is down (reconnecting or "
		       "re-listing)";
	return NULL;
}

#define M_HEAD(f, name, type, help)                                          \
	fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n")

static char *metrics_text(const struct ctrl *c)
{
	const struct ctrl_metrics *m = &c->m;
	struct pending_ctx pc = {c, 0};
	char *text = NULL;
	size_t len = 0, n = 0;
	uint64_t cum = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	ctrl_map_each(&c->reqs, pending_each, &pc);
	M_HEAD(f, "flintsched_controller_up", "gauge",
	       "1 with a live session, a loaded cache and a watch");
	fprintf(f, "flintsched_controller_up %d\n", !ctrl_unhealthy(c));
	M_HEAD(f, "flintsched_controller_slots", "gauge",
	       "coordinator slots K");
	fprintf(f, "flintsched_controller_slots %u\n", c->k);
	M_HEAD(f, "flintsched_controller_slots_held", "gauge",
	       "coordinator slots this controller leads");
	fprintf(f, "flintsched_controller_slots_held %u\n", slots_held(c));
	M_HEAD(f, "flintsched_controller_pending", "gauge",
	       "requests of its slots waiting to be placed");
	fprintf(f, "flintsched_controller_pending %llu\n",
		(unsigned long long)pc.n);
	M_HEAD(f, "flintsched_controller_queued", "gauge",
	       "requests in the queue (not yet planned)");
	fprintf(f, "flintsched_controller_queued %zu\n", c->queue.n);
	M_HEAD(f, "flintsched_controller_cached_requests", "gauge",
	       "requests in the cache, of every slot (its memory)");
	fprintf(f, "flintsched_controller_cached_requests %zu\n", c->reqs.n);
	M_HEAD(f, "flintsched_controller_hosts", "gauge",
	       "live hosts in the cache");
	ctrl_map_each(&c->hosts, hosts_each, &n);
	fprintf(f, "flintsched_controller_hosts %zu\n", n);
	M_HEAD(f, "flintsched_controller_inflight_txns", "gauge",
	       "etcd txns in flight");
	fprintf(f, "flintsched_controller_inflight_txns %u\n", c->inflight);
	M_HEAD(f, "flintsched_controller_rounds_open", "gauge",
	       "bid rounds awaiting bids");
	fprintf(f, "flintsched_controller_rounds_open %u\n", c->rounds_open);
#define M_COUNTER(name, field, help)                                         \
	M_HEAD(f, "flintsched_controller_" name, "counter", help);           \
	fprintf(f, "flintsched_controller_" name " %llu\n",                  \
		(unsigned long long)(field))
	M_COUNTER("placements_total", m->placements,
		  "placements committed by this controller");
	M_COUNTER("commit_txns_total", m->commit_txns, "commit txns sent");
	M_COUNTER("commit_conflicts_total", m->commit_conflicts,
		  "commit txns whose compares failed");
	M_COUNTER("rounds_total", m->rounds, "bid rounds opened");
	M_COUNTER("bids_total", m->bids, "bids received in open rounds");
	M_COUNTER("round_timeouts_total", m->round_timeouts,
		  "rounds closed at bid_timeout_ms with bids missing");
	M_COUNTER("rejected_total", m->rejected,
		  "requests marked rejected (invalid)");
	M_COUNTER("unschedulable_total", m->unschedulable,
		  "requests marked unschedulable");
	M_COUNTER("lost_total", m->lost,
		  "placements lost with their host and released");
	M_COUNTER("failed_total", m->failed,
		  "placements whose VM failed, released");
	M_COUNTER("releases_total", m->released,
		  "reservations released (deleted, failed, lost, stray)");
	M_COUNTER("txns_total", m->txns, "etcd txns sent (every kind)");
	M_COUNTER("txn_errors_total", m->txn_errors,
		  "txns that got no answer from etcd");
	M_COUNTER("relists_total", m->relists,
		  "watch restarts by listing again");
#undef M_COUNTER
	M_HEAD(f, "flintsched_controller_placement_seconds", "histogram",
	       "from seeing the request revision to its commit");
	for (size_t i = 0; i < LAT_N; i++) {
		cum += m->lat_bucket[i];
		fprintf(f,
			"flintsched_controller_placement_seconds_bucket"
			"{le=\"%g\"} %llu\n",
			lat_bounds[i], (unsigned long long)cum);
	}
	fprintf(f,
		"flintsched_controller_placement_seconds_bucket{le=\"+Inf\"} "
		"%llu\n"
		"flintsched_controller_placement_seconds_sum %.6f\n"
		"flintsched_controller_placement_seconds_count %llu\n",
		(unsigned long long)m->lat_count, m->lat_sum,
		(unsigned long long)m->lat_count);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static int ctrl_http(void *arg, const char *path, char **body,
		     const char **type)
{
	struct ctrl *c = arg;
	const char *why;

	if (strcmp(path, "/healthz") == 0) {
		why = ctrl_unhealthy(c);
		if (why) {
			if (asprintf(body, "unhealthy: %s\n", why) < 0)
				*body = NULL;
			return 503;
		}
		if (asprintf(body,
			     "ok: %s registered (lease %llx), watching %s, "
			     "%u of %u coordinator slot(s) held\n",
			     c->name, (unsigned long long)c->lease, c->prefix,
			     slots_held(c), c->k) < 0)
			*body = NULL;
		return 200;
	}
	if (strcmp(path, "/metrics") == 0) {
		*type = "text/plain; version=0.0.4";
		*body = metrics_text(c);
		return *body ? 200 : 500;
	}
	*body = strdup("not found: try /healthz or /metrics\n");
	return 404;
}

/* ---- lifecycle -------------------------------------------------------- */

int ctrl_new(struct ev_loop *loop, const struct ctrl_config *cfg,
	     const char *password, ctrl **ret, char *err, size_t errlen)
{
	struct ctrl *c = calloc(1, sizeof(*c));
	struct etcd_config ec = {0};
	size_t plen;
	int rc = -ENOMEM;

	if (!c)
		goto fail;
	c->loop = loop;
	c->cfg = cfg;
	c->k = (unsigned)cfg->coordinators;
	c->w = (struct fs_weights){cfg->w_cpu, cfg->w_memory, cfg->w_vms};
	c->band = c->k > 1 ? cfg->partition_band : 0;
	c->ready_tail = &c->ready_head;
	if (cfg->name && *cfg->name) {
		snprintf(c->name, sizeof(c->name), "%s", cfg->name);
	} else if (gethostname(c->name, sizeof(c->name)) < 0) {
		strcpy(c->name, "controller");
	}
	c->name[FS_NAME_MAX] = '\0';
	if (!fs_name_valid(c->name)) {
		snprintf(err, errlen,
			 "controller.name: \"%s\" is not a valid name "
			 "([a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])); set it in the "
			 "config",
			 c->name);
		rc = -EINVAL;
		goto fail;
	}
	plen = strlen(cfg->etcd.prefix);
	while (plen && cfg->etcd.prefix[plen - 1] == '/')
		plen--;
	c->prefix = keyf("%.*s/", (int)plen, cfg->etcd.prefix);
	if (!c->prefix)
		goto fail;
	c->prefix_len = strlen(c->prefix);
	c->slots = calloc(c->k, sizeof(*c->slots));
	c->sbatch = calloc(c->k, sizeof(*c->sbatch));
	c->gbatch = calloc(c->k, sizeof(*c->gbatch));
	c->rbatch = calloc(c->k, sizeof(*c->rbatch));
	if (!c->slots || !c->sbatch || !c->gbatch || !c->rbatch)
		goto fail;
	for (unsigned i = 0; i < c->k; i++) {
		c->slots[i].name = keyf("%selection/slot-%u", c->prefix, i);
		if (!c->slots[i].name)
			goto fail;
		snprintf(c->slots[i].coord, sizeof(c->slots[i].coord),
			 "%s/slot-%u", c->name, i);
	}
	if (cfg->http_listen && *cfg->http_listen &&
	    (rc = fs_httpd_start(loop, cfg->http_listen, ctrl_http, c,
				 &c->http, err, errlen)) < 0)
		goto fail;
	ec.endpoints = (const char *const *)cfg->etcd.endpoints.v;
	ec.n_endpoints = cfg->etcd.endpoints.n;
	ec.username = cfg->etcd.username;
	ec.password = password;
	ec.ca_file = cfg->etcd.tls.ca;
	ec.cert_file = cfg->etcd.tls.cert;
	ec.key_file = cfg->etcd.tls.key;
	ec.request_timeout_ms = (long)cfg->etcd.request_timeout_ms;
	rc = etcd_client_new(loop, &ec, &c->etcd);
	if (rc < 0) {
		snprintf(err, errlen, "etcd client: %s", etcd_strerror(rc));
		rc = -EIO;
		goto fail;
	}
	ev_prepare_init(&c->prepare, on_prepare);
	c->prepare.data = c;
	ev_prepare_start(loop, &c->prepare);
	ev_timer_init(&c->pass_timer, on_pass_timer, PASS_INTERVAL_S,
		      PASS_INTERVAL_S);
	c->pass_timer.data = c;
	ev_timer_start(loop, &c->pass_timer);
	ev_init(&c->relist_timer, on_relist);
	c->relist_timer.data = c;
	ev_init(&c->session_timer, on_session_timer);
	c->session_timer.data = c;
	fs_info("starting: %u coordinator slots, bidding %s, prefix %s",
		c->k,
		cfg->bidding == CTRL_BID_CACHED	   ? "cached"
		: cfg->bidding == CTRL_BID_SAMPLE ? "sample"
						  : "broadcast",
		c->prefix);
	session_start(c);
	*ret = c;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (c) {
		c->http = fs_httpd_stop(c->http);
		if (c->slots)
			for (unsigned i = 0; i < c->k; i++)
				free(c->slots[i].name);
		free(c->slots);
		free(c->sbatch);
		free(c->gbatch);
		free(c->rbatch);
		free(c->prefix);
		free(c);
	}
	return rc;
}

int ctrl_fatal(const ctrl *c, char *err, size_t errlen)
{
	if (c->fatal)
		snprintf(err, errlen, "%s", c->fatal_msg);
	return c->fatal;
}

static void free_host(void *arg, const char *key, void *val)
{
	struct ctrl_host *h = val;

	(void)arg;
	(void)key;
	fs_host_clear(&h->rec);
	fs_alloc_clear(&h->alloc);
	host_pend_clear(h);
	free(h);
}

static void free_req(void *arg, const char *key, void *val)
{
	struct ctrl_req *r = val;

	(void)arg;
	(void)key;
	r->act = r->act == ACT_TXN ? ACT_NONE : r->act;
	req_free(r);
}

static void on_revoke(void *arg, const struct etcd_error *err,
		      const struct etcd_header *hdr)
{
	(void)err;
	(void)hdr;
	*(bool *)arg = true;
}

ctrl *ctrl_free(ctrl *c)
{
	bool done = false;
	ev_tstamp until;

	if (!c)
		return NULL;
	c->http = fs_httpd_stop(c->http);
	ev_prepare_stop(c->loop, &c->prepare);
	ev_timer_stop(c->loop, &c->pass_timer);
	ev_timer_stop(c->loop, &c->relist_timer);
	ev_timer_stop(c->loop, &c->session_timer);
	watches_cancel(c);
	for (unsigned i = 0; i < c->k; i++)
		c->slots[i].camp = etcd_campaign_cancel(c->slots[i].camp);
	c->ka = etcd_lease_keepalive_stop(c->ka);
	/* Revoking the lease frees our slots at once (no TTL wait). */
	if (c->lease &&
	    etcd_lease_revoke(c->etcd, c->lease, on_revoke, &done) == 0) {
		until = ev_now(c->loop) + 2.0;
		while (!done && ev_now(c->loop) < until)
			ev_run(c->loop, EVRUN_ONCE);
		if (done)
			fs_info("lease revoked; slots released");
	}
	c->etcd = etcd_client_free(c->etcd); /* cancels txns in flight */
	ctrl_map_each(&c->hosts, free_host, NULL);
	ctrl_map_clear(&c->hosts);
	free(c->harr);
	ctrl_map_each(&c->reqs, free_req, NULL);
	ctrl_map_clear(&c->reqs);
	ctrl_map_clear(&c->ctrls);
	ctrl_queue_clear(&c->queue);
	for (unsigned i = 0; i < c->k; i++) {
		free(c->slots[i].name);
		free(c->slots[i].lk_key);
		free(c->slots[i].cands);
		txn_free(c->sbatch[i]); /* never sent */
		txn_free(c->gbatch[i]);
		txn_free(c->rbatch[i]);
	}
	free(c->slots);
	free(c->sbatch);
	free(c->gbatch);
	free(c->rbatch);
	free(c->prefix);
	free(c);
	return NULL;
}
