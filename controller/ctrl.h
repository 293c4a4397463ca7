/*
 * controller — the pure parts of flintsched-controller, shared by the
 * service (controller/core.h and the files behind it) and the unit tests.
 *
 *  - request.c: validation of P/requests/<id> into what scheduling needs
 *  - status.c:  the P/status/<id> record (format and parse)
 *  - queue.c:   the pending queue (highest priority first, then oldest)
 *  - pick.c:    candidate ranking (sort, best, lowest k)
 *  - map.c:     a string-keyed hash map (the watch caches)
 *  - place.c:   feasibility and scoring of hosts for one request, from
 *               the cached host records (struct ctrl_host)
 *
 * Nothing here does I/O or logs.  Functions return 0 or a negative errno;
 * *_clear() functions accept a zeroed struct.
 */
#ifndef FLINTSCHED_CTRL_H
#define FLINTSCHED_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"

/* ---- request.c -------------------------------------------------------- */

/* Largest request value accepted (a spec is a few KiB; anything near this
 * is a mistake, and every byte is copied into the assignment). */
#define CTRL_REQUEST_MAX (256 * 1024)

/* Largest scheduling.gang.size: a gang is placed in one txn, each
 * member 3 compares (status, request, the alloc of a host new to the
 * txn) and 3 puts (status, assign, alloc) at most, within etcd's 128
 * per branch with the fence (docs/DESIGN.md "Placement constraints"). */
#define CTRL_GANG_MAX 32

struct ctrl_request {
	struct fs_need need; /* res.vms = 1 */
	int64_t priority;    /* scheduling.priority, default 0 */
	int64_t lost_after_s; /* scheduling.lost_after_s, -1 = the config's */
	char *gang;          /* scheduling.gang.name, or NULL */
	int64_t gang_size;   /* scheduling.gang.size */
	bool preemptible;    /* scheduling.preemptible, default true */
};

/*
 * Validates the value json[0..len) of P/requests/<id>.  On success fills
 * *out (release with ctrl_request_clear()).  On failure returns -EINVAL
 * (-ENOMEM on allocation failure) and writes to reason a sentence naming
 * the field, the problem and the fix:
 *   "memoryInMb: must be a positive integer, got 0"
 *   "scheduling.zone: unknown key (allowed: selector, spread, priority,
 *    lost_after_s)"
 * json may be NULL when len > CTRL_REQUEST_MAX: only the size is read
 * (the cache keeps no value that large).
 */
int ctrl_request_parse(const char *id, const char *json, size_t len,
		       struct ctrl_request *out, char *reason,
		       size_t reasonlen);
void ctrl_request_clear(struct ctrl_request *r);
/*
 * The request held by the value val[0..len) of an assignment of request
 * id ({"request": {...}, "request_rev", "attempt"}), parsed as
 * ctrl_request_parse does, and its request_rev and attempt (0 when
 * absent; each may be NULL): what alloc counts for it, and its priority
 * and preemptible (the controller's cache, plan's victims).  0, -EINVAL
 * or -ENOMEM.
 */
int ctrl_request_of_asg(const char *id, const char *val, size_t len,
			struct ctrl_request *out, int64_t *ret_rrev,
			int64_t *ret_attempt);
/*
 * The coordinator slot of request id with value json[0..len) (nested:
 * the value of an assignment, the spec under "request"): fs_slot_of() of
 * its gang's name (scheduling.gang.name), else its group
 * (anti_affinity.group, else topology_spread.group) when it names a
 * valid one, so that one
 * coordinator places every member of a group; else of its id.  Cheap for
 * a request without either (no JSON parse).  json may be NULL.
 */
unsigned ctrl_request_slot(const char *id, const char *json, size_t len,
			   bool nested, unsigned k);

/* ---- status.c --------------------------------------------------------- */

enum ctrl_phase {
	CTRL_PENDING,
	CTRL_SCHEDULED,
	CTRL_RUNNING,
	CTRL_FAILED,
	CTRL_UNSCHEDULABLE,
	CTRL_REJECTED,
	CTRL_LOST,
};

const char *ctrl_phase_name(enum ctrl_phase p);
/* Returns 0 and *ret, or -EINVAL. */
int ctrl_phase_parse(const char *s, enum ctrl_phase *ret);

struct ctrl_reject_count {
	char *reason;
	int64_t count;
};

/* Why a request went where it went (or nowhere). */
struct ctrl_explain {
	int64_t hosts;    /* host records seen */
	int64_t feasible; /* hosts that fit */
	int64_t bids;     /* bids received */
	struct ctrl_reject_count *rejected; /* per reason, first-seen order */
	size_t n_rejected;
};

/* Counts one host rejected for reason.  Returns 0 or -ENOMEM. */
int ctrl_explain_add(struct ctrl_explain *e, const char *reason);
void ctrl_explain_clear(struct ctrl_explain *e);

struct ctrl_status {
	enum ctrl_phase phase;
	char host[FS_NAME_MAX + 1]; /* "" when not placed */
	int64_t attempt;            /* placements made for request_rev */
	double score;
	char *coordinator;          /* "ctrl-a/slot-1", may be NULL */
	int64_t request_rev;        /* mod revision of the request placed */
	char request_hash[17];      /* its value's FNV-1a 64 in hex, or "" */
	char *reason;               /* may be NULL */
	bool has_explain;
	struct ctrl_explain explain;
	char **avoid;               /* hosts where it failed */
	size_t n_avoid;
	char updated[32];
	/* Optional, absent when empty (docs/DESIGN.md "Status"): the host
	 * of the replacement while a drain moves the VM off host
	 * (make-before-break); the host whose VM this placement replaced
	 * after that host was lost (its agent deletes the old VM when it
	 * comes back). */
	char moving_to[FS_NAME_MAX + 1];
	char replaced_on[FS_NAME_MAX + 1];
};

/* The FNV-1a 64 of a request value, as 16 hex digits (status's
 * request_hash): a re-put of the same bytes is no rewrite. */
void ctrl_request_hash(const char *val, size_t len, char out[17]);
/* Malloc'd JSON ("updated" = now if empty), or NULL. */
char *ctrl_status_format(const struct ctrl_status *s);
/* Lenient about unknown fields; -EINVAL on wrong types. */
int ctrl_status_parse(const char *json, size_t len, struct ctrl_status *s,
		      char *err, size_t errlen);
/* Returns 0 or -ENOMEM; no-op if host already listed. */
int ctrl_status_avoid_add(struct ctrl_status *s, const char *host);
bool ctrl_status_avoids(const struct ctrl_status *s, const char *host);
void ctrl_status_clear(struct ctrl_status *s);
/* Deep copy; returns 0 or -ENOMEM (dst untouched on failure). */
int ctrl_status_copy(struct ctrl_status *dst, const struct ctrl_status *src);

/* ---- queue.c ---------------------------------------------------------- */

/* Embed in the queued object; qpos is managed by the queue. */
struct ctrl_qitem {
	int64_t priority;   /* higher first */
	int64_t create_rev; /* then lower first (older) */
	size_t qpos;        /* CTRL_QPOS_NONE when not queued */
};

#define CTRL_QPOS_NONE SIZE_MAX

struct ctrl_queue {
	struct ctrl_qitem **v;
	size_t n, cap;
};

/* a goes before b? */
bool ctrl_queue_before(const struct ctrl_qitem *a, const struct ctrl_qitem *b);
/* Adds it (no-op if queued).  Returns 0 or -ENOMEM. */
int ctrl_queue_push(struct ctrl_queue *q, struct ctrl_qitem *it);
/* The first item, removed; NULL when empty. */
struct ctrl_qitem *ctrl_queue_pop(struct ctrl_queue *q);
struct ctrl_qitem *ctrl_queue_peek(const struct ctrl_queue *q);
/* Removes it if queued. */
void ctrl_queue_remove(struct ctrl_queue *q, struct ctrl_qitem *it);
void ctrl_queue_clear(struct ctrl_queue *q);

/* ---- pick.c ----------------------------------------------------------- */

struct ctrl_cand {
	const char *host; /* borrowed */
	double score;
	uint32_t tiebreak; /* fs_tiebreak(request, host) */
	void *data;        /* caller's */
};

/* Sorts best first: lowest score, ties by lowest tiebreak. */
void ctrl_cand_sort(struct ctrl_cand *c, size_t n);
/* Index of the best candidate, or -1 when n == 0. */
long ctrl_cand_best(const struct ctrl_cand *c, size_t n);

/* Moves the best min(k, n) of the n candidates to the front, best first
 * (a partial selection sort: k is small), and returns that count. */
size_t ctrl_cand_lowest(struct ctrl_cand *c, size_t n, size_t k);

/* ---- place.c ---------------------------------------------------------- */

/* A host as the controller's cache holds it (P/hosts/<name> and
 * P/alloc/<name>), with what is in flight on it.  The cache (cache.c)
 * fills it; placement only reads it. */
struct ctrl_host {
	char name[FS_NAME_MAX + 1];
	bool present;
	int64_t rev;
	double gone_at; /* when it was seen leave (ev_now), 0 = present or
			   not yet seen gone: the lost_after_s grace */
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
	bool alloc_bad;  /* alloc unreadable or not the sum: locked, rebuilt */
	bool rebuilding; /* alloc.c's read or write of it in flight */
	uint64_t seen;
	int cordon;       /* P/hostctl/<name>: enum ctrl_cordon */
	int64_t ctl_rev;  /* its mod revision, or of its delete */
	uint64_t ctl_seen;
	int64_t drain_max;     /* a drain's max_parallel (default 1) */
	double drain_deadline; /* its deadline (unix s), 0 = none */
	/* P/drain/<name> (drain.c): the requests whose make-before-break
	 * move off this host is in flight, written by CAS */
	char **moving;
	size_t n_moving;
	bool moves_present;
	int64_t moves_rev; /* its mod revision, or of its delete */
	uint64_t moves_seen;
	bool moves_busy;   /* a txn of ours writing it is in flight */
	/* What else refers to the entry (host.c frees it when nothing
	 * does): candidates pointing at it (r->cands), the cached
	 * assignments on it; its index in the cache's array; on the list
	 * of entries to look at (gc_next). */
	unsigned refs;
	unsigned n_asg;
	/* When a write of its record was last seen (ev_now), and whether
	 * that is longer ago than scheduling.host_stale_after_s: a stale
	 * host is placed on no more, and its VMs are as on a disconnected
	 * host (its lease may be kept alive by another user: etcd 3.4's
	 * LeaseKeepAlive checks no permission). */
	double rec_at;
	bool stale;
	size_t idx;
	bool gc;
	struct ctrl_host *gc_next;
};

/* What an operator's P/hostctl/<host> asks (docs/DESIGN.md "Host
 * lifecycle keys"): nothing new is placed on a cordoned or draining
 * host. */
enum ctrl_cordon { CTRL_HOST_NORMAL, CTRL_HOST_CORDONED, CTRL_HOST_DRAIN };

/* A request's group over the fleet, per value of one label (its
 * anti_affinity scope or topology_spread key): the VMs of the group on
 * hosts with that value, and whether a host with it passes the request's
 * label rules (live, not cordoned, selector, constraints). */
struct ctrl_gcount {
	const char *value; /* borrowed from a host record */
	int64_t vms;
	bool eligible;
};

struct ctrl_gview {
	struct ctrl_gcount *v;
	size_t n;
	int64_t min; /* lowest vms among eligible values (topology) */
};

struct ctrl_groups {
	struct ctrl_gview anti; /* by anti_scope, when not "host" */
	struct ctrl_gview topo; /* by topo_key */
};

/* What placing one request asks of a host (all borrowed). */
struct ctrl_place {
	const char *id;                  /* the request (tie-break hash) */
	const struct fs_need *need;
	unsigned slot;                   /* its partition */
	const struct ctrl_status *avoid; /* hosts where it failed, or NULL */
	struct fs_weights w;
	enum fs_strategy strategy;
	double band;                     /* partition_band (0 with K = 1) */
	const char *stale; /* a stale host's reason, NULL: "host record stale" */
	/* need's label-scoped group rules over the fleet
	 * (ctrl_place_groups), or NULL: such rules then reject nothing. */
	const struct ctrl_groups *groups;
};

/*
 * Counts need's group over hosts[0..n) (what is in flight included,
 * ctrl_place_alloc) for its label-scoped rules into *g (zeroed by the
 * caller; ctrl_groups_clear() frees it) and points p->groups at it.  A
 * request without such rules costs nothing.  Valid while the hosts and
 * their allocs stay as they are: build it again after each placement.
 * Returns 0 or -ENOMEM.
 */
int ctrl_place_groups(struct ctrl_place *p, struct ctrl_host *const *hosts,
		      size_t n, struct ctrl_groups *g);
void ctrl_groups_clear(struct ctrl_groups *g);

/* What h holds if what is in flight lands: the batch being built on it,
 * else its commit in flight, else what is committed (NULL: nothing). */
const struct fs_alloc *ctrl_place_alloc(const struct ctrl_host *h);
/* What a host outside p's partition adds to its score. */
double ctrl_place_band(const struct ctrl_place *p, const struct ctrl_host *h);

/*
 * Rates h as a bid round's candidate: a live host is counted in ex
 * (hosts; feasible, or rejected with its reason), and when it fits *ret
 * is filled (score with each open invitation of h counted as one more
 * VM of this size, plus the partition band; data = h).  Returns 1 when
 * it fits, 0 when not (or not live: not counted), -ENOMEM.
 */
int ctrl_place_rate(const struct ctrl_place *p, struct ctrl_host *h,
		    struct ctrl_explain *ex, struct ctrl_cand *ret);

struct ctrl_pick {
	struct ctrl_host *best; /* NULL: none to be had now */
	double score;           /* its score, without the band */
	bool busy; /* best has a commit in flight, or nothing fits only
		    * because of placements pending (wait, do not give up) */
};

/*
 * cached mode: the best of hosts[0..n) now (ctrl_place_alloc), scanning
 * from *cursor round the array and stopping after want feasible ones (0:
 * all); *cursor moves past the hosts looked at.  Lowest score plus band
 * first, then hosts without a commit in flight, then hosts of p's own
 * partition, then the (request, host) hash.  Every live host looked at
 * is counted in ex.  Returns 0 and *ret, or -ENOMEM.
 */
int ctrl_place_pick(const struct ctrl_place *p, struct ctrl_host *const *hosts,
		    size_t n, size_t *cursor, size_t want,
		    struct ctrl_explain *ex, struct ctrl_pick *ret);
/* A copy of what is committed on h (its alloc; empty when absent),
 * malloc'd, for h->tent; NULL on ENOMEM. */
struct fs_alloc *ctrl_place_alloc_dup(const struct ctrl_host *h);
/* need placed on h in the batch being built: added to h->tent (made by
 * ctrl_place_alloc_dup first), which ctrl_place_alloc then returns, so
 * that the next pick sees it (a gang's members, one after the other:
 * commit.c; plan's rating of a gang, ctl/place.c).  0 or -ENOMEM. */
int ctrl_place_tent_add(struct ctrl_host *h, const struct fs_need *need);

/*
 * Bid modes, at commit: of the bidders bids[0..n) (data = the host,
 * sorted best first), the live, not avoided one that still fits with
 * what is pending on it, ranked by the larger of its bid and the cache's
 * score, plus band.  Returns it and its bid's score in *ret_score, or
 * NULL when none fits.
 */
struct ctrl_host *ctrl_place_bidder(const struct ctrl_place *p,
				    const struct ctrl_cand *bids, size_t n,
				    double *ret_score);

/* ---- victim.c: preemption's victim choice ------------------------------ */

#define CTRL_VICTIMS_MAX 32 /* scheduling.preemption.max_victims at most */

/* A placed VM a request might evict (all borrowed). */
struct ctrl_victim {
	const char *id;
	struct ctrl_host *host;     /* where it is assigned */
	const struct fs_need *need; /* its size and group, as alloc counts it */
	int64_t priority;
	bool preemptible;
	bool gang; /* a gang member: never evicted (placed as a whole) */
	void *data; /* the caller's (preempt.c: the request) */
};

/* The chosen set: v[0..n) on one host, their priorities highest first. */
struct ctrl_victims {
	size_t n;
	const struct ctrl_victim *v[CTRL_VICTIMS_MAX];
	int64_t prio[CTRL_VICTIMS_MAX];
};

/* *v for the VM of request id (spec: its parsed request, need: what
 * its assignment on host holds; all borrowed, host and need may be NULL
 * for ctrl_victim_ok alone): the controller's own VMs (preempt.c) and
 * plan's (ctl/place.c) are judged alike. */
void ctrl_victim_of(struct ctrl_victim *v, const char *id,
		    const struct ctrl_request *spec, struct ctrl_host *host,
		    const struct fs_need *need, void *data);
/* May a request of priority evict v (preemptible, strictly lower, no
 * gang member)? */
bool ctrl_victim_ok(const struct ctrl_victim *v, int64_t priority);

/*
 * Of v[0..n), the set on one host that frees enough for p's need with
 * the fewest VMs (at most max), then the lowest priorities (the highest
 * evicted first), then the (request, host) hash; only hosts live, not
 * cordoned, stale or avoided, with nothing in flight on them.  A request
 * with label-scoped group rules (topology_spread, anti_affinity by a
 * label) does not preempt.  Returns 1 and *ret, 0 (no set), or -ENOMEM.
 */
int ctrl_victims_choose(const struct ctrl_place *p, int64_t priority,
			size_t max, const struct ctrl_victim *v, size_t n,
			struct ctrl_victims *ret);

/* ---- map.c ------------------------------------------------------------ */

struct ctrl_map_node;

struct ctrl_map {
	struct ctrl_map_node **b;
	size_t nb, n;
};

/* Borrowed value or NULL. */
void *ctrl_map_get(const struct ctrl_map *m, const char *key);
/* Inserts or replaces (the key is copied).  Returns 0 or -ENOMEM. */
int ctrl_map_put(struct ctrl_map *m, const char *key, void *val);
/* Removes and returns the value, or NULL. */
void *ctrl_map_del(struct ctrl_map *m, const char *key);
/* Calls fn for each entry; fn may not modify the map. */
void ctrl_map_each(const struct ctrl_map *m,
		   void (*fn)(void *arg, const char *key, void *val),
		   void *arg);
/* Frees the table (values are the caller's: free them first). */
void ctrl_map_clear(struct ctrl_map *m);

#endif
