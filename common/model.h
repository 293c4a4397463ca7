/*
 * The records that cross etcd between agents and coordinators, as
 * docs/DESIGN.md defines them: host record, allocation, round, bid — their
 * JSON form, parsing and formatting in one place — and the score both sides
 * compute (the agent for its bid, the coordinator in `cached` mode), so the
 * two can never disagree.
 *
 * Parsing is strict about types and lenient about unknown fields (newer
 * agents may add some).  Parse functions return 0, or -EINVAL with a
 * message naming the field in err[errlen]; they never log.  Format
 * functions return a malloc'd NUL-terminated JSON string, or NULL.
 * *_clear() frees what a parse allocated and accepts a zeroed struct.
 */
#ifndef FLINTSCHED_MODEL_H
#define FLINTSCHED_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_NAME_MAX 63 /* request ids and host names */

/* [a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])? */
bool fs_name_valid(const char *s);
/* A config check (struct cfg_key.check) of a name key (controller.name,
 * agent.host): a valid name or "" (the host name); a stored char *. */
int fs_name_check(const void *value, char *msg, size_t len);
/* s as a bounded, printable, quoted string for a message: at most max of
 * its bytes, then ...; quote and backslash escaped, control and non-ASCII
 * bytes as \xHH (so that a reason stays short, one line and valid UTF-8
 * whatever a user wrote).  Writes buf[0..n), returns buf. */
char *fs_quote(char *buf, size_t n, const char *s, size_t max);
/* The same of len bytes of s, which may hold NULs (etcd keys). */
char *fs_quote_n(char *buf, size_t n, const char *s, size_t len, size_t max);
/* The core of both, and of flintschedctl's table cells (quote false: no
 * quotes, and a backslash too as \x5c, so that the text is unambiguous
 * without them). */
char *fs_escape_n(char *buf, size_t n, const char *s, size_t len,
		  size_t max, bool quote);
#define FS_QUOTE_MAX 48 /* bytes of a user's string echoed in a reason */
/* Formats a reason into reason[0..len) (if not NULL) and returns
 * -EINVAL: `return fs_fail(reason, len, "vcpu: ...", ...);`. */
int fs_fail(char *reason, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A JSON key as a step of a dotted path in a message: as is when plain
 * ([A-Za-z0-9_-], 1..48 bytes: "scheduling.zone"), else fs_quote()d
 * ("scheduling.\"a b\""). */
char *fs_key(char *buf, size_t n, const char *key);
uint32_t fs_fnv1a(const void *data, size_t len);
/* Partition of request id among k coordinator slots: fnv1a(id) % k. */
unsigned fs_slot_of(const char *id, unsigned k);
/* Tie-break between equal scores: a hash of (request, host). */
uint32_t fs_tiebreak(const char *request_id, const char *host);

struct fs_res {
	int64_t vcpu;
	int64_t memory_mb;
	int64_t vms; /* in capacity/allocatable: max_vms */
};

struct fs_label {
	char *key;
	char *value;
};

struct fs_labels {
	struct fs_label *v;
	size_t n;
};

/* Every selector label present with the same value in labels?  On a miss
 * writes "selector k=v" to miss (if not NULL). */
bool fs_labels_match(const struct fs_labels *labels,
		     const struct fs_labels *selector, char *miss,
		     size_t misslen);
void fs_labels_clear(struct fs_labels *l);

/* P/hosts/<host> */
struct fs_host {
	char host[FS_NAME_MAX + 1];
	char *endpoint;
	struct fs_labels labels;
	struct fs_res capacity;
	struct fs_res allocatable; /* capacity - reserved, x overcommit */
	double util_cpu;           /* 0..1 measured */
	double util_mem;
	int64_t vms;               /* VMs running now */
	char *agent_version;
	int64_t lease_ttl_s;       /* its lease's TTL; 0 = not said (older agents) */
	char updated[32];          /* RFC 3339 UTC, ms */
};
int fs_host_parse(const char *json, size_t len, struct fs_host *h, char *err,
		  size_t errlen);
char *fs_host_format(const struct fs_host *h);
void fs_host_clear(struct fs_host *h);

/* Count of VMs of one spread group on a host. */
struct fs_group {
	char *name;
	int64_t vms;
};

/* P/alloc/<host>: the sum over P/assign/<host>/, plus per spread group
 * VM counts ("groups": {"web": 2}) so spread scoring needs no extra read. */
struct fs_alloc {
	struct fs_res used;
	struct fs_group *groups;
	size_t n_groups;
};
int fs_alloc_parse(const char *json, size_t len, struct fs_alloc *a,
		   char *err, size_t errlen);
char *fs_alloc_format(const struct fs_alloc *a);
/* Adds (sign +1) or removes (sign -1) one VM of need in group (may be
 * NULL).  Returns 0 or -ENOMEM. */
int fs_alloc_add(struct fs_alloc *a, const struct fs_res *need,
		 const char *group, int sign);
int64_t fs_alloc_group_vms(const struct fs_alloc *a, const char *group);
void fs_alloc_clear(struct fs_alloc *a);

/* scheduling.constraints[i] (common/constraint.c): an expression on a
 * host label, as kube's node affinity (docs/DESIGN.md "VM request"). */
enum fs_op {
	FS_OP_IN,
	FS_OP_NOTIN,
	FS_OP_EXISTS,
	FS_OP_DOESNOTEXIST,
	FS_OP_GT,
	FS_OP_LT,
};
#define FS_CONSTRAINTS_MAX 16 /* per request, and values per constraint */
#define FS_LABEL_MAX 63       /* bytes of a constraint's key or value */

struct fs_constraint {
	char *key;
	enum fs_op op;
	char **values; /* In/NotIn: 1..; Gt/Lt: 1 integer; else none */
	size_t n_values;
	int64_t num; /* Gt/Lt: values[0] as an integer */
};

struct fs_constraints {
	struct fs_constraint *v;
	size_t n;
};

/* What a request needs, as a round and the score see it. */
struct fs_need {
	struct fs_res res;         /* vms = 1 */
	struct fs_labels selector;
	char *spread;              /* group name or NULL */
	struct fs_constraints constraints; /* all must hold */
	/* The hard group rules (issue 18), checked by the coordinator
	 * (controller/place.c), which alone sees the fleet's counts. */
	char *group;      /* anti_affinity / topology_spread group, or NULL */
	char *anti_scope; /* anti_affinity: "host" or a label key; NULL none */
	char *topo_key;   /* topology_spread: a label key; NULL none */
	int64_t max_skew; /* topology_spread: 1.. */
};
void fs_need_clear(struct fs_need *n);
/* The group whose VMs P/alloc/<host>.groups counts for need: its hard
 * group, else its spread group, else NULL (request.c makes them equal
 * when both are given). */
const char *fs_need_group(const struct fs_need *n);

/* "In", "NotIn", ...; fs_op_parse returns 0 and *ret, or -EINVAL. */
const char *fs_op_name(enum fs_op op);
int fs_op_parse(const char *s, enum fs_op *ret);
/* Does every constraint hold on labels?  On a miss writes "constraint
 * <key> <op>[ <values,...>]" to miss (if not NULL). */
bool fs_constraints_match(const struct fs_labels *labels,
			  const struct fs_constraints *cs, char *miss,
			  size_t misslen);
/* A label's value, or NULL. */
const char *fs_labels_get(const struct fs_labels *l, const char *key);
void fs_constraints_clear(struct fs_constraints *cs);

enum fs_strategy { FS_SPREAD, FS_BINPACK };

struct fs_weights {
	double cpu, memory, vms;
};

/* P/rounds/<id>: {"attempt":1,"hosts":["a","b"] (absent = every host),
 * "deadline_ms":<unix ms>,"need":{"vcpu","memory_mb"},
 * "selector":{...},"spread":"web","coordinator":"ctrl-a/slot-1",
 * "strategy":"spread","weights":{"cpu":1,"memory":1,"vms":1}}
 * strategy and weights are the coordinator's, so that bids score the way
 * the coordinator does; absent means spread and weights {1,1,1}. */
struct fs_round {
	int64_t attempt;
	char **hosts; /* NULL = broadcast */
	size_t n_hosts;
	int64_t deadline_ms;
	struct fs_need need;
	char *coordinator;
	enum fs_strategy strategy;
	struct fs_weights weights; /* all 0 = {1,1,1} */
};
int fs_round_parse(const char *json, size_t len, struct fs_round *r,
		   char *err, size_t errlen);
char *fs_round_format(const struct fs_round *r);
bool fs_round_invites(const struct fs_round *r, const char *host);
void fs_round_clear(struct fs_round *r);

/* P/bids/<host>/<id>: {"attempt","fits","score","free":{...},"reason"} */
struct fs_bid {
	int64_t attempt;
	bool fits;
	double score;
	struct fs_res free;
	char reason[128]; /* why not, when !fits */
};
int fs_bid_parse(const char *json, size_t len, struct fs_bid *b, char *err,
		 size_t errlen);
char *fs_bid_format(const struct fs_bid *b);

/*
 * The score of placing need on host h that already has alloc committed:
 * fits = the request fits allocatable (vcpu, memory, max_vms) and matches
 * the selector; otherwise reason names the first miss ("insufficient
 * memory", "insufficient vcpu", "max_vms reached", "selector zone=a").
 * Score (spread): weighted utilisation after placement, each dimension the
 * larger of the committed fraction and the measured one, normalised by the
 * weights' sum to 0..1, plus the number of VMs of need->spread already on
 * the host (so the emptiest host of the group wins first).  binpack uses
 * 1 - utilisation.  Lower is better.  Pure: no I/O.
 */
void fs_score(const struct fs_host *h, const struct fs_alloc *alloc,
	      const struct fs_need *need, const struct fs_weights *w,
	      enum fs_strategy strategy, struct fs_bid *out);

/* "2026-11-23T17:40:00.123Z" into buf (>= 32 bytes). */
void fs_time_now(char *buf, size_t len);
int64_t fs_now_ms(void);

#endif
