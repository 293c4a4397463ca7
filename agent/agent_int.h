/*
 * Inside the agent service (agent.h): the structs every agent file shares
 * and the functions one file offers the files above it.  Layers, each
 * calling only downwards (upward notifications go through the function
 * pointers in struct agent and struct swatch, set by agent.c):
 *
 *   agent.c      wiring: new / start / reload / stop / free, the flush
 *   http.c       /healthz and /metrics (reads the structs only)
 *   reconcile.c  assignment watch, VM states listed at start, the executor
 *   confirm.c    assignments confirmed by their status before a create
 *   bid.c        rounds and invitations watches, bids and their batched
 *                writes
 *   vm.c         VM records and the batched P/vms/ state writes
 *   host.c       host table, host record, registration, /proc sampling
 *   swatch.c     list-then-watch of one key or prefix
 *
 * Below them: executor.h, metrics.h, etcdclient/, common/.
 */
#ifndef FLINTSCHED_AGENT_AGENT_INT_H
#define FLINTSCHED_AGENT_AGENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "agent/agent.h"
#include "agent/executor.h"
#include "agent/metrics.h"
#include "common/httpd.h"
#include "common/model.h"
#include "etcdclient/etcd.h"

#define KEY_MAX 512
#define VQ_BATCH 64 /* VM states or bids per txn */

/* VM_REFUSED: nothing created, the assignment is not confirmed by its
 * status (confirm.c); the record says why. */
enum vm_state { VM_NONE, VM_CREATING, VM_RUNNING, VM_FAILED, VM_REFUSED };

/* Whether P/status/<id> confirms the assignment (cf_rrev, cf_attempt). */
enum vm_confirm { CF_NONE, CF_WAIT, CF_OK, CF_REFUSED };

/* One assignment and/or VM state of a host. */
struct vm {
	struct vm *next;
	struct host *h;
	char id[FS_NAME_MAX + 1];
	bool assigned;      /* P/assign/<host>/<id> exists */
	char *spec;         /* the request's MicroVMSpec (no scheduling) */
	int64_t attempt;    /* of the assignment */
	int64_t request_rev; /* of the assignment: with attempt, which VM */
	struct fs_res need; /* vcpu, memory_mb, vms = 1 */
	char *group;        /* as fs_need_group(): the hard group, else spread */
	bool counted;       /* need is in h->alloc */
	enum vm_state state;
	int64_t state_attempt;
	int64_t state_request_rev; /* of the state record; 0: not recorded */
	char *uid;
	char *error;
	bool busy;          /* executor op in flight */
	bool st_inflight, st_dirty; /* P/vms write in flight / again after */
	bool queued;        /* on a->vq, to be written at the next flush */
	struct vm *q_next;
	bool zombie;        /* forgotten, kept until its queued write is done */
	bool seen;          /* re-list mark */
	enum vm_confirm cf; /* of the assignment (cf_rrev, cf_attempt) */
	int64_t cf_rrev, cf_attempt;
};

/* A confirmation to read (confirm.c): copies, so that a VM freed
 * meanwhile is only not found when the answer comes. */
struct agent_cfq {
	struct host *h;
	char id[FS_NAME_MAX + 1];
	int64_t rrev, attempt;
};

struct host {
	agent *a;
	unsigned idx;
	char name[FS_NAME_MAX + 1];
	int64_t lease;
	bool registering, registered;
	etcd_keepalive *ka;
	ev_timer retry;      /* registration, or a record write that failed */
	double backoff;
	struct fs_host rec;  /* what we would write now */
	struct fs_host last; /* what etcd has (our last write that succeeded) */
	bool have_last;
	struct fs_host sending; /* the write in flight (labels only owned) */
	bool have_sending;
	int64_t last_ms;
	bool put_inflight, put_again;
	struct fs_alloc alloc; /* the sum over the assignments (vm_count) */
	struct vm *vms;
	struct round *invites; /* P/invites/<host>/<id> (sample rounds) */
	/* With --per-host-watches: this host's own watches, as a real
	 * agent of this host alone would hold them (agent.c). */
	struct host_watches *w;
};

/* A bid waiting for the end of the loop iteration. */
struct bidq {
	char *key;
	char *val;
	int64_t lease;
};

/* A round: broadcast (P/rounds/<id>, on a->rounds, answered per host),
 * or one host's invitation (P/invites/<host>/<id>, on h->invites,
 * answered[0] only). */
struct round {
	struct round *next;
	char *id;
	struct fs_round r;
	unsigned char *answered;
	bool seen;
};

/* A watch's callbacks get the watch's host: NULL when it watches the
 * keys of every host of the agent. */
typedef void (*swatch_kv_fn)(agent *a, struct host *h, const char *key,
			     const char *val, size_t len, bool deleted);
typedef void (*swatch_mark_fn)(agent *a, struct host *h, bool begin);

/* A list-then-watch of one key or prefix that re-lists on compaction. */
struct swatch {
	agent *a;
	struct host *h; /* whose keys; NULL: every host's */
	etcd_client *etcd; /* its list and watch go through it */
	const char *what;
	char key[KEY_MAX];
	bool prefix;
	swatch_kv_fn on_kv;
	swatch_mark_fn on_mark;
	void (*on_synced)(agent *a, struct host *h);
	etcd_watch *w;
	ev_timer retry;
	bool synced_once;
};

struct agent {
	struct ev_loop *loop;
	const struct agent_config *cfg;
	etcd_client *etcd;
	agent_executor *x;
	char *prefix;
	char base[FS_NAME_MAX + 1]; /* host name, or <base>-<i> simulated */
	char *password;
	unsigned n_sim;
	/* --per-host-watches: each simulated host holds its own rounds,
	 * invitations and assignment watches (struct host_watches), as
	 * n_sim real agents would; else one watch per family for all. */
	bool per_host;
	/* With per_host: the etcd clients the hosts' watches go through,
	 * WATCH_SHARD hosts each (struct host_watches).  One client for
	 * 6,000 streams spent the agent's CPU in libcurl looking for a free
	 * connection among them for every request (2,000 hosts never all
	 * registered); real agents have a client each. */
	etcd_client **wclients;
	unsigned n_wclients;
	struct host *hosts;
	unsigned n_hosts;
	/* host.c tells that a host (re-)registered: bid.c re-bids. */
	void (*on_registered)(struct host *h);
	struct round *rounds;
	struct swatch w_rounds, w_invites, w_assign;
	bool vms_listed;
	ev_timer metrics;
	struct agent_cpu_sample cpu_prev;
	bool have_cpu;
	double util_cpu, util_mem;
	int64_t det_cpus, det_mem_mb;
	bool stopping;
	void (*stop_done)(void *);
	void *stop_arg;
	ev_timer stop_timer;
	fs_httpd *http;
	uint64_t n_bids; /* bids written */
	/* Bids and VM states to write, flushed once per loop iteration by
	 * `flush` (agent.c's callback: bids, then VM states), many hosts'
	 * writes per txn.  Lower layers queue and start it. */
	ev_prepare flush;
	struct vm *vq, **vq_tail;
	ev_timer vq_retry; /* parks the queue after a failed write */
	double vq_backoff;
	struct bidq *bq;
	size_t n_bq, cap_bq;
	/* Confirmations to read (confirm.c), from cq_head on, flushed with
	 * the rest; their answers go up to reconcile.c (refused: why, or
	 * NULL when confirmed). */
	struct agent_cfq *cq;
	size_t n_cq, cap_cq, cq_head;
	bool cq_inflight; /* one read in flight at a time */
	ev_timer cq_retry;
	void (*on_confirmed)(struct vm *v, const char *refused);
	uint64_t n_refused; /* assignments refused */
};

static inline const char *agent_err_str(const struct etcd_error *err)
{
	return err->message[0] ? err->message : etcd_strerror(err->code);
}

/* The watches of one host with --per-host-watches. */
struct host_watches {
	struct swatch rounds, invites, assign;
};

/* ---- swatch.c --------------------------------------------------------- */

/* s watches fmt % (a->prefix, arg); nothing starts until agent_swatch_list. */
void agent_swatch_init(agent *a, struct swatch *s, const char *what,
		       const char *fmt, const char *arg, bool prefix,
		       swatch_kv_fn kv, swatch_mark_fn mark);
/* Lists (mark, every key, mark), then watches from the list's revision;
 * re-lists a second later on any failure. */
void agent_swatch_list(struct swatch *s);
/* agent_swatch_list with s's own retry timer (re)armed for failures:
 * after another user of the timer (the VM state listing) is done. */
void agent_swatch_start(struct swatch *s);
void agent_swatch_fini(agent *a, struct swatch *s);

/* ---- host.c ----------------------------------------------------------- */

/* The host named name[0..len), NULL when not one of ours. */
struct host *agent_host_find(agent *a, const char *name, size_t len);
/* "P/<family>/<host>/<id>" -> host, id (id may be NULL for P/alloc/). */
struct host *agent_host_of_key(agent *a, const char *key, size_t fam_len,
			       const char **ret_id);
/* l = the labels of m (copies): 0 or -ENOMEM. */
int agent_host_labels(const struct cfg_strmap *m, struct fs_labels *l);
/* Recomputes h->rec from config and metrics. */
void agent_host_rec_update(struct host *h);
/* Writes the host record when it changed enough (or force). */
void agent_host_maybe_report(struct host *h, bool force);
/* h->retry's callback: registers h (lease, record, keepalive), or writes
 * its record again after a failed write. */
void agent_host_retry_cb(struct ev_loop *loop, ev_timer *w, int revents);
/* /proc into a's measured capacity and use. */
void agent_host_sample(agent *a);
/* a->metrics' callback: sample, then maybe report the real host. */
void agent_host_metrics_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* ---- vm.c ------------------------------------------------------------- */

extern const char *const agent_vm_state_names[];
/* h's VM of that id; create: a new one when absent (NULL: no memory). */
struct vm *agent_vm_find(struct host *h, const char *id, bool create);
void agent_vm_free(struct vm *v);
/* Unlinks v from its host; freed now, or after its queued write. */
void agent_vm_forget(struct vm *v);
/* P/vms/<host>/<id>; state NONE deletes the key (the VM is gone). */
void agent_vm_state_write(struct vm *v, enum vm_state st, const char *error);
/* Writes the queued VM states (from a->flush's callback). */
void agent_vm_flush(agent *a);
/* a->vq_retry's callback. */
void agent_vm_retry_cb(struct ev_loop *loop, ev_timer *w, int revents);
/* Drops the queue (the agent is freed): forgotten VMs on it are freed. */
void agent_vm_queue_fini(agent *a);

/* ---- confirm.c -------------------------------------------------------- */

/* Reads whether P/status/<id> confirms v's assignment (once per request
 * revision and attempt); the answer goes to a->on_confirmed. */
void agent_confirm_want(struct vm *v);
/* Sends the queued reads (from a->flush's callback). */
void agent_confirm_flush(agent *a);
/* a->cq_retry's callback. */
void agent_confirm_retry_cb(struct ev_loop *loop, ev_timer *w, int revents);
/* Drops the queue (the agent is freed). */
void agent_confirm_fini(agent *a);

/* ---- bid.c ------------------------------------------------------------ */

/* The rounds watch's callbacks (P/rounds/: broadcast rounds). */
void agent_bid_round_kv(agent *a, struct host *h, const char *key,
			const char *val, size_t len, bool deleted);
void agent_bid_round_mark(agent *a, struct host *h, bool begin);
/* The invitations watch's callbacks (P/invites/<host>/: sample rounds,
 * one key per invited host). */
void agent_bid_invite_kv(agent *a, struct host *h, const char *key,
			 const char *val, size_t len, bool deleted);
void agent_bid_invite_mark(agent *a, struct host *h, bool begin);
/* h (re-)registered: bid again on every open round. */
void agent_bid_host_all(struct host *h);
/* Writes the queued bids (from a->flush's callback). */
void agent_bid_flush(agent *a);
/* Frees queued bids and rounds. */
void agent_bid_fini(agent *a);

/* ---- reconcile.c ------------------------------------------------------ */

/* The assignment watch's callbacks. */
void agent_reconcile_assign_kv(agent *a, struct host *h, const char *key,
			       const char *val, size_t len, bool deleted);
void agent_reconcile_assign_mark(agent *a, struct host *h, bool begin);
void agent_reconcile_assign_synced(agent *a, struct host *h);
/* confirm.c's answer for v (refused: why, NULL: confirmed). */
void agent_reconcile_confirmed(struct vm *v, const char *refused);
/* VM states first, then the assignment watch (a->w_assign). */
void agent_reconcile_start(agent *a);

/* ---- http.c ----------------------------------------------------------- */

/* fs_httpd handler: /healthz and /metrics; arg is the agent. */
int agent_http_handle(void *arg, const char *path, char **body,
		      const char **type);

#endif
