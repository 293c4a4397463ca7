/* The agent service (agent.h). */
#include "agent/agent.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "agent/executor.h"
#include "agent/metrics.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/model.h"
#include "common/spec.h"
#include "etcdclient/etcd.h"

#define KEY_MAX 512
#define VQ_BATCH 64 /* VM states or bids per txn */
#define METRICS_PERIOD_S 5.0
#define RETRY_MIN_S 0.5
#define RETRY_MAX_S 5.0

enum vm_state { VM_NONE, VM_CREATING, VM_RUNNING, VM_FAILED };
static const char *const vm_state_names[] = {"none", "creating", "running",
					     "failed"};

/* One assignment and/or VM state of a host. */
struct vm {
	struct vm *next;
	struct host *h;
	char id[FS_NAME_MAX + 1];
	bool assigned;      /* P/assign/<host>/<id> exists */
	char *spec;         /* the request's MicroVMSpec (no scheduling) */
	int64_t attempt;    /* of the assignment */
	struct fs_res need; /* vcpu, memory_mb, vms = 1 */
	char *group;        /* scheduling.spread, or NULL */
	bool counted;       /* need is in h->alloc */
	enum vm_state state;
	int64_t state_attempt;
	char *uid;
	char *error;
	bool busy;          /* executor op in flight */
	bool st_inflight, st_dirty; /* P/vms write in flight / again after */
	bool queued;        /* on a->vq, to be written at the next flush */
	struct vm *q_next;
	bool zombie;        /* forgotten while a write was queued/in flight */
	bool seen;          /* re-list mark */
};

struct host {
	agent *a;
	unsigned idx;
	char name[FS_NAME_MAX + 1];
	int64_t lease;
	bool registering, registered;
	etcd_keepalive *ka;
	ev_timer retry;
	double backoff;
	struct fs_host rec;  /* what we would write now */
	struct fs_host last; /* what we wrote last */
	bool have_last;
	int64_t last_ms;
	bool put_inflight, put_again;
	struct fs_alloc alloc; /* the sum over the assignments (vm_count) */
	struct vm *vms;
};

/* A bid waiting for the end of the loop iteration. */
struct bidq {
	char *key;
	char *val;
	int64_t lease;
};

struct round {
	struct round *next;
	char *id;
	struct fs_round r;
	unsigned char *answered; /* per host */
	bool seen;
};

struct swatch;
typedef void (*swatch_kv_fn)(agent *a, const char *key, const char *val,
			     size_t len, bool deleted);
typedef void (*swatch_mark_fn)(agent *a, bool begin);

/* A list-then-watch of one key or prefix that re-lists on compaction. */
struct swatch {
	agent *a;
	const char *what;
	char key[KEY_MAX];
	bool prefix;
	swatch_kv_fn on_kv;
	swatch_mark_fn on_mark;
	void (*on_synced)(agent *a);
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
	struct host *hosts;
	unsigned n_hosts;
	struct round *rounds;
	struct swatch w_rounds, w_assign;
	bool vms_listed;
	ev_timer metrics;
	struct agent_cpu_sample cpu_prev;
	bool have_cpu;
	double util_cpu, util_mem;
	int64_t det_cpus, det_mem_mb;
	bool stopping;
	unsigned revokes;
	void (*stop_done)(void *);
	void *stop_arg;
	ev_timer stop_timer;
	fs_httpd *http;
	uint64_t n_bids; /* bids written */
	/* VM states to write: flushed once per loop iteration, many VMs (of
	 * all simulated hosts) per txn. */
	struct vm *vq, **vq_tail;
	ev_prepare vq_flush;
	ev_timer vq_retry;
	/* Bids, flushed with the VM states: many hosts' bids per txn. */
	struct bidq *bq;
	size_t n_bq, cap_bq;
};

static void host_register(struct host *h);
static void host_put_record(struct host *h);
static void host_bid_all(struct host *h);
static void vm_drive(struct vm *v);

/* ---- small helpers ---------------------------------------------------- */

static double backoff_next(double *b)
{
	double cur = *b < RETRY_MIN_S ? RETRY_MIN_S : *b;

	*b = cur * 2 > RETRY_MAX_S ? RETRY_MAX_S : cur * 2;
	return cur;
}

static const char *err_str(const struct etcd_error *err)
{
	return err->message[0] ? err->message : etcd_strerror(err->code);
}

static struct host *host_find(agent *a, const char *name, size_t len)
{
	const char *base = a->base;
	size_t bl = strlen(base);
	unsigned long i = 0;

	if (a->n_sim == 0) {
		if (len == strlen(a->hosts[0].name) &&
		    memcmp(name, a->hosts[0].name, len) == 0)
			return &a->hosts[0];
		return NULL;
	}
	/* <base>-<index> */
	if (len < bl + 2 || memcmp(name, base, bl) != 0 || name[bl] != '-')
		return NULL;
	for (size_t k = bl + 1; k < len; k++) {
		if (name[k] < '0' || name[k] > '9' || i > 100000000)
			return NULL;
		i = i * 10 + (unsigned long)(name[k] - '0');
	}
	if (i >= a->n_hosts)
		return NULL;
	return &a->hosts[i];
}

/* "P/<family>/<host>/<id>" -> host, id (id may be NULL for P/alloc/). */
static struct host *key_split(agent *a, const char *key, size_t fam_len,
			      const char **ret_id)
{
	const char *p = key + strlen(a->prefix) + 1 + fam_len + 1;
	const char *slash = strchr(p, '/');
	size_t hl = slash ? (size_t)(slash - p) : strlen(p);

	if (ret_id)
		*ret_id = slash ? slash + 1 : NULL;
	return host_find(a, p, hl);
}

/* ---- host record ------------------------------------------------------ */

static int labels_from_cfg(const struct cfg_strmap *m, struct fs_labels *l)
{
	fs_labels_clear(l);
	if (!m->n)
		return 0;
	l->v = calloc(m->n, sizeof(*l->v));
	if (!l->v)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		l->v[i].key = strdup(m->v[i].key);
		l->v[i].value = strdup(m->v[i].value);
		l->n = i + 1;
		if (!l->v[i].key || !l->v[i].value)
			return -ENOMEM;
	}
	return 0;
}

static int labels_copy(const struct fs_labels *src, struct fs_labels *dst)
{
	struct cfg_strpair *p = calloc(src->n ? src->n : 1, sizeof(*p));
	struct cfg_strmap m = {p, src->n};
	int r;

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < src->n; i++) {
		p[i].key = src->v[i].key;
		p[i].value = src->v[i].value;
	}
	r = labels_from_cfg(&m, dst);
	free(p);
	return r;
}

static int64_t host_vm_count(const struct host *h)
{
	int64_t n = 0;

	for (const struct vm *v = h->vms; v; v = v->next)
		if (v->assigned && (v->state == VM_CREATING ||
				    v->state == VM_RUNNING))
			n++;
	return n;
}

/* Recomputes h->rec from config and metrics. */
static void host_rec_update(struct host *h)
{
	agent *a = h->a;
	const struct agent_config *c = a->cfg;
	struct agent_capacity_cfg cc = {
		c->cap_vcpu,	  c->cap_memory_mb,      c->cap_max_vms,
		c->reserved_vcpu, c->reserved_memory_mb, c->overcommit_cpu,
		c->overcommit_memory};

	agent_metrics_capacity(&cc, a->det_cpus, a->det_mem_mb,
			       &h->rec.capacity, &h->rec.allocatable);
	h->rec.util_cpu = a->util_cpu;
	h->rec.util_mem = a->util_mem;
	h->rec.vms = host_vm_count(h);
}

static void host_maybe_report(struct host *h, bool force)
{
	double interval = (double)h->a->cfg->report_interval_s;

	host_rec_update(h);
	/* Simulated hosts measure nothing: time alone is no reason to write. */
	if (h->a->n_sim)
		interval = 0;
	if (!h->registered)
		return;
	if (force || !h->have_last ||
	    agent_metrics_report_due(&h->last, h->last_ms, &h->rec,
				     fs_now_ms(), h->a->cfg->report_threshold,
				     (int64_t)interval))
		host_put_record(h);
}

static void host_put_done(void *arg, const struct etcd_error *err,
			  const struct etcd_put_result *res)
{
	struct host *h = arg;

	(void)res;
	h->put_inflight = false;
	if (h->a->stopping || (err && err->code == ETCD_ECANCELED))
		return;
	if (err) {
		fs_warn("%s: writing host record failed: %s", h->name,
			err_str(err));
		return; /* the next metrics tick or re-registration retries */
	}
	if (h->put_again) {
		h->put_again = false;
		host_maybe_report(h, false);
	}
}

static void host_put_record(struct host *h)
{
	char key[KEY_MAX], *val;
	struct etcd_put_req req = {0};

	if (h->put_inflight) {
		h->put_again = true;
		return;
	}
	fs_time_now(h->rec.updated, sizeof(h->rec.updated));
	val = fs_host_format(&h->rec);
	if (!val)
		return;
	snprintf(key, sizeof(key), "%s/hosts/%s", h->a->prefix, h->name);
	req.key = key;
	req.value = val;
	req.value_len = strlen(val);
	req.lease = h->lease;
	if (etcd_kv_put(h->a->etcd, &req, host_put_done, h) == 0) {
		h->put_inflight = true;
		/* Remember what was sent (labels deep-copied). */
		fs_labels_clear(&h->last.labels);
		h->last = h->rec;
		h->last.endpoint = NULL;
		h->last.agent_version = NULL;
		memset(&h->last.labels, 0, sizeof(h->last.labels));
		labels_copy(&h->rec.labels, &h->last.labels);
		h->have_last = true;
		h->last_ms = fs_now_ms();
		fs_debug("%s: host record written (vms %" PRId64
			 ", cpu %.2f, mem %.2f)",
			 h->name, h->rec.vms, h->rec.util_cpu,
			 h->rec.util_mem);
	}
	free(val);
}

/* ---- registration ----------------------------------------------------- */

static void host_retry_later(struct host *h)
{
	double d = backoff_next(&h->backoff);

	h->registering = false;
	if (h->a->stopping)
		return;
	ev_timer_stop(h->a->loop, &h->retry);
	ev_timer_set(&h->retry, d, 0);
	ev_timer_start(h->a->loop, &h->retry);
}

static void host_keepalive_cb(void *arg, enum etcd_keepalive_event ev,
			      const struct etcd_error *err, int64_t ttl)
{
	struct host *h = arg;

	(void)ttl;
	if (ev == ETCD_KEEPALIVE_ERROR) {
		fs_debug("%s: lease keepalive failed: %s", h->name,
			 err ? err_str(err) : "?");
		return;
	}
	if (ev != ETCD_KEEPALIVE_EXPIRED)
		return;
	fs_warn("%s: lease %" PRIx64 " expired%s%s; registering again",
		h->name, (uint64_t)h->lease, err ? ": " : "",
		err ? err_str(err) : "");
	h->ka = etcd_lease_keepalive_stop(h->ka);
	h->registered = false;
	h->lease = 0;
	h->have_last = false;
	h->backoff = 0;
	host_retry_later(h);
}

static void host_registered_cb(void *arg, const struct etcd_error *err,
			       const struct etcd_put_result *res)
{
	struct host *h = arg;
	int r;

	(void)res;
	h->put_inflight = false;
	if (h->a->stopping || (err && err->code == ETCD_ECANCELED))
		return;
	if (err) {
		fs_warn("%s: writing host record failed: %s; retrying",
			h->name, err_str(err));
		host_retry_later(h);
		return;
	}
	r = etcd_lease_keepalive_start(h->a->etcd, h->lease,
				       h->a->cfg->lease_ttl_s,
				       host_keepalive_cb, h, &h->ka);
	if (r < 0) {
		fs_warn("%s: keepalive: %s", h->name, etcd_strerror(r));
		host_retry_later(h);
		return;
	}
	h->registering = false;
	h->registered = true;
	h->backoff = 0;
	fs_info("%s: registered with lease %" PRIx64 " (ttl %" PRId64
		" s): %" PRId64 " vcpu, %" PRId64 " MiB, %" PRId64
		" VMs allocatable",
		h->name, (uint64_t)h->lease, h->a->cfg->lease_ttl_s,
		h->rec.allocatable.vcpu, h->rec.allocatable.memory_mb,
		h->rec.allocatable.vms);
	if (h->put_again) {
		h->put_again = false;
		host_maybe_report(h, false);
	}
	host_bid_all(h);
}

static void host_granted_cb(void *arg, const struct etcd_error *err,
			    int64_t id, int64_t ttl)
{
	struct host *h = arg;
	char key[KEY_MAX], *val;
	struct etcd_put_req req = {0};

	(void)ttl;
	if (h->a->stopping || (err && err->code == ETCD_ECANCELED))
		return;
	if (err) {
		fs_warn("%s: lease grant failed: %s; retrying", h->name,
			err_str(err));
		host_retry_later(h);
		return;
	}
	h->lease = id;
	host_rec_update(h);
	fs_time_now(h->rec.updated, sizeof(h->rec.updated));
	val = fs_host_format(&h->rec);
	if (!val) {
		host_retry_later(h);
		return;
	}
	snprintf(key, sizeof(key), "%s/hosts/%s", h->a->prefix, h->name);
	req.key = key;
	req.value = val;
	req.value_len = strlen(val);
	req.lease = id;
	if (etcd_kv_put(h->a->etcd, &req, host_registered_cb, h) < 0) {
		free(val);
		host_retry_later(h);
		return;
	}
	h->put_inflight = true;
	fs_labels_clear(&h->last.labels);
	h->last = h->rec;
	h->last.endpoint = NULL;
	h->last.agent_version = NULL;
	memset(&h->last.labels, 0, sizeof(h->last.labels));
	labels_copy(&h->rec.labels, &h->last.labels);
	h->have_last = true;
	h->last_ms = fs_now_ms();
	free(val);
}

static void host_register(struct host *h)
{
	if (h->registering || h->registered || h->a->stopping)
		return;
	h->registering = true;
	if (etcd_lease_grant(h->a->etcd, h->a->cfg->lease_ttl_s, 0,
			     host_granted_cb, h) < 0)
		host_retry_later(h);
}

static void host_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	host_register(w->data);
}

/* ---- bidding ---------------------------------------------------------- */

static void bid_put_done(void *arg, const struct etcd_error *err,
			 const struct etcd_put_result *res)
{
	char *key = arg;

	(void)res;
	if (err && err->code != ETCD_ECANCELED)
		fs_warn("bid %s not written: %s", key, err_str(err));
	free(key);
}

static void vq_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents);

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
	ev_prepare_start(a->loop, &a->vq_flush);
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
			 b->n, err_str(err));
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

static void bq_flush(agent *a)
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

static void host_bid(struct host *h, struct round *rd)
{
	struct fs_bid b;
	char *key, *val;

	if (!h->registered || rd->answered[h->idx])
		return;
	if (!fs_round_invites(&rd->r, h->name))
		return;
	if (rd->r.deadline_ms && rd->r.deadline_ms < fs_now_ms())
		return;
	/* Scored against what is committed and measured now. */
	host_rec_update(h);
	/* The coordinator's weights and strategy, carried by the round. */
	fs_score(&h->rec, &h->alloc, &rd->r.need, &rd->r.weights,
		 rd->r.strategy, &b);
	b.attempt = rd->r.attempt;
	val = fs_bid_format(&b);
	key = malloc(KEY_MAX);
	if (!val || !key)
		goto out;
	snprintf(key, KEY_MAX, "%s/bids/%s/%s", h->a->prefix, h->name, rd->id);
	if (bid_queue(h->a, key, val, h->lease) == 0) {
		rd->answered[h->idx] = 1;
		h->a->n_bids++;
		fs_debug("%s: bid on %s attempt %" PRId64 ": %s %.4f%s%s",
			 h->name, rd->id, b.attempt, b.fits ? "fits" : "no",
			 b.score, b.fits ? "" : ", ", b.reason);
		return; /* the queue owns key and val */
	}
out:
	free(key);
	free(val);
}

static void host_bid_all(struct host *h)
{
	for (struct round *rd = h->a->rounds; rd; rd = rd->next) {
		rd->answered[h->idx] = 0;
		host_bid(h, rd);
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

static void round_remove(agent *a, struct round *rd)
{
	for (struct round **p = &a->rounds; *p; p = &(*p)->next) {
		if (*p == rd) {
			*p = rd->next;
			round_free(rd);
			return;
		}
	}
}

static void rounds_kv(agent *a, const char *key, const char *val, size_t len,
		      bool deleted)
{
	const char *id = key + strlen(a->prefix) + strlen("/rounds/");
	struct round *rd;
	struct fs_round r = {0};
	char err[256];

	for (rd = a->rounds; rd; rd = rd->next)
		if (strcmp(rd->id, id) == 0)
			break;
	if (deleted) {
		if (rd)
			round_remove(a, rd);
		return;
	}
	if (!fs_name_valid(id)) {
		fs_warn("%s: skipped: round id is not a valid name", key);
		return;
	}
	if (fs_round_parse(val, len, &r, err, sizeof(err)) < 0) {
		fs_warn("%s: malformed round skipped: %s", key, err);
		if (rd)
			round_remove(a, rd);
		return;
	}
	if (rd) {
		rd->seen = true;
		if (rd->r.attempt == r.attempt) {
			fs_round_clear(&r);
			return; /* re-list of a round already answered */
		}
		fs_round_clear(&rd->r);
		memset(rd->answered, 0, a->n_hosts);
	} else {
		rd = calloc(1, sizeof(*rd));
		if (!rd || !(rd->id = strdup(id)) ||
		    !(rd->answered = calloc(a->n_hosts, 1))) {
			fs_error("%s: out of memory", key);
			fs_round_clear(&r);
			round_free(rd);
			return;
		}
		rd->seen = true;
		rd->next = a->rounds;
		a->rounds = rd;
	}
	rd->r = r;
	if (rd->r.hosts) {
		for (size_t i = 0; i < rd->r.n_hosts; i++) {
			struct host *h = host_find(a, rd->r.hosts[i],
						   strlen(rd->r.hosts[i]));
			if (h)
				host_bid(h, rd);
		}
	} else {
		for (unsigned i = 0; i < a->n_hosts; i++)
			host_bid(&a->hosts[i], rd);
	}
}

static void rounds_mark(agent *a, bool begin)
{
	struct round *rd, *next;

	for (rd = a->rounds; rd; rd = next) {
		next = rd->next;
		if (begin)
			rd->seen = false;
		else if (!rd->seen)
			round_remove(a, rd);
	}
}

/* ---- VMs -------------------------------------------------------------- */

static struct vm *vm_find(struct host *h, const char *id, bool create)
{
	struct vm *v;

	for (v = h->vms; v; v = v->next)
		if (strcmp(v->id, id) == 0)
			return v;
	if (!create)
		return NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->h = h;
	snprintf(v->id, sizeof(v->id), "%s", id);
	v->next = h->vms;
	h->vms = v;
	return v;
}

static void vm_free(struct vm *v)
{
	free(v->error);
	free(v->group);
	free(v->spec);
	free(v->uid);
	free(v);
}

static void vm_forget(struct vm *v)
{
	struct host *h = v->h;

	for (struct vm **p = &h->vms; *p; p = &(*p)->next) {
		if (*p == v) {
			*p = v->next;
			if (v->st_inflight || v->queued)
				v->zombie = true; /* freed after its write */
			else
				vm_free(v);
			return;
		}
	}
}

/*
 * P/vms writes.  A VM has at most one write in flight (two puts of one key
 * on two connections could land in either order); what changes meanwhile
 * is written after it.  Writes are queued and flushed once per loop
 * iteration as txns of up to VQ_BATCH VMs, so that a burst of assignments
 * (a coordinator commits many at once) costs a few etcd requests, not one
 * per VM.
 */

struct vq_batch {
	agent *a;
	size_t n;
	struct vm *v[VQ_BATCH];
};

static void vm_state_flush(struct vm *v)
{
	agent *a = v->h->a;

	if (v->st_inflight) {
		v->st_dirty = true;
		return;
	}
	v->st_dirty = false;
	if (v->queued)
		return;
	v->queued = true;
	v->q_next = NULL;
	*a->vq_tail = v;
	a->vq_tail = &v->q_next;
	ev_prepare_start(a->loop, &a->vq_flush);
}

static void vq_done(void *arg, const struct etcd_error *err,
		    const struct etcd_txn_result *res)
{
	struct vq_batch *b = arg;
	agent *a = b->a;
	bool retry = false;

	(void)res;
	if (err && err->code != ETCD_ECANCELED)
		fs_warn("%zu VM state(s) not written (%s/vms/%s/%s, ...): %s; "
			"retrying",
			b->n, a->prefix, b->v[0]->h->name, b->v[0]->id,
			err_str(err));
	for (size_t i = 0; i < b->n; i++) {
		struct vm *v = b->v[i];

		v->st_inflight = false;
		if (v->zombie && !(err && !a->stopping &&
				   err->code != ETCD_ECANCELED)) {
			vm_free(v);
			continue;
		}
		if (a->stopping || (err && err->code == ETCD_ECANCELED))
			continue;
		if (err) { /* keep the state; write it again in a while */
			vm_state_flush(v);
			retry = true;
		} else if (v->st_dirty) {
			vm_state_flush(v);
		}
	}
	if (retry) {
		ev_prepare_stop(a->loop, &a->vq_flush);
		if (!ev_is_active(&a->vq_retry))
			ev_timer_start(a->loop, &a->vq_retry);
	}
	free(b);
}

/* One put (or delete, for state NONE) of v's key into op; the value is
 * malloc'd into *val. */
static int vm_state_op(struct vm *v, struct etcd_op *op, char *key,
		       char **val)
{
	agent *a = v->h->a;
	char ts[32];

	snprintf(key, KEY_MAX, "%s/vms/%s/%s", a->prefix, v->h->name, v->id);
	*val = NULL;
	if (v->state == VM_NONE) {
		op->type = ETCD_OP_DELETE;
		op->u.del = (struct etcd_delete_req){.key = key};
		return 0;
	}
	fs_time_now(ts, sizeof(ts));
	json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:s}", "state",
			      vm_state_names[v->state], "error",
			      v->error ? v->error : "", "uid",
			      v->uid ? v->uid : "", "attempt",
			      (json_int_t)v->state_attempt, "updated", ts);
	if (o)
		*val = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!*val)
		return -ENOMEM;
	op->type = ETCD_OP_PUT;
	op->u.put = (struct etcd_put_req){.key = key, .value = *val,
					  .value_len = strlen(*val)};
	return 0;
}

static void vq_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	agent *a = w->data;

	(void)revents;
	ev_prepare_stop(loop, w);
	if (a->n_bq && !a->stopping)
		bq_flush(a);
	while (a->vq && !a->stopping) {
		struct vq_batch *b = calloc(1, sizeof(*b));
		char keys[VQ_BATCH][KEY_MAX];
		char *vals[VQ_BATCH] = {0};
		struct etcd_op ops[VQ_BATCH];
		int r = 0;

		if (!b) {
			ev_timer_start(loop, &a->vq_retry);
			return;
		}
		b->a = a;
		while (a->vq && b->n < VQ_BATCH && r == 0) {
			struct vm *v = a->vq;

			r = vm_state_op(v, &ops[b->n], keys[b->n],
					&vals[b->n]);
			if (r < 0)
				break;
			a->vq = v->q_next;
			if (!a->vq)
				a->vq_tail = &a->vq;
			v->queued = false;
			v->st_inflight = true;
			b->v[b->n++] = v;
		}
		struct etcd_txn_req txn = {.success = ops, .n_success = b->n};
		if (b->n > 0)
			r = etcd_kv_txn(a->etcd, &txn, vq_done, b);
		for (size_t i = 0; i < b->n; i++)
			free(vals[i]);
		if (b->n == 0 || r < 0) {
			struct etcd_error e = {.code = r};

			snprintf(e.message, sizeof(e.message), "%s",
				 strerror(r < 0 && r > -4096 ? -r : ENOMEM));
			if (b->n > 0)
				vq_done(b, &e, NULL); /* requeues, arms retry */
			else
				free(b);
			if (!ev_is_active(&a->vq_retry))
				ev_timer_start(loop, &a->vq_retry);
			return;
		}
	}
}

static void vq_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	agent *a = w->data;

	(void)revents;
	if (a->vq)
		ev_prepare_start(loop, &a->vq_flush);
}

/* P/vms/<host>/<id>; state NONE deletes the key (the VM is gone). */
static void vm_state_write(struct vm *v, enum vm_state st, const char *error)
{
	v->state = st;
	v->state_attempt = v->attempt;
	free(v->error);
	v->error = error ? strdup(error) : NULL;
	vm_state_flush(v);
}

static void vm_created(void *arg, const char *err, const char *uid)
{
	struct vm *v = arg;
	struct host *h = v->h;

	v->busy = false;
	if (uid && *uid && (!v->uid || strcmp(v->uid, uid) != 0)) {
		free(v->uid);
		v->uid = strdup(uid);
	}
	if (err) {
		fs_warn("%s: creating VM %s failed: %s", h->name, v->id, err);
		vm_state_write(v, VM_FAILED, err);
	} else {
		fs_info("%s: VM %s created%s%s", h->name, v->id,
			v->uid ? ", uid " : "", v->uid ? v->uid : "");
		vm_state_write(v, VM_RUNNING, NULL);
	}
	host_maybe_report(h, false);
	vm_drive(v); /* unassigned meanwhile? */
}

static void vm_deleted(void *arg, const char *err, const char *uid)
{
	struct vm *v = arg;
	struct host *h = v->h;

	(void)uid;
	v->busy = false;
	if (err) {
		/* Keep the state: the next restart's reconciliation retries. */
		fs_warn("%s: deleting VM %s failed: %s", h->name, v->id, err);
		if (!v->assigned) {
			vm_forget(v);
			return;
		}
	} else {
		fs_info("%s: VM %s deleted", h->name, v->id);
		if (!v->assigned) {
			vm_state_write(v, VM_NONE, NULL);
			vm_forget(v);
			host_maybe_report(h, false);
			return;
		}
		v->state = VM_NONE;
	}
	vm_drive(v); /* re-assigned meanwhile */
}

/* Moves v towards what its assignment asks. */
static void vm_drive(struct vm *v)
{
	struct host *h = v->h;
	agent *a = h->a;
	int r;

	if (v->busy || !a->vms_listed)
		return;
	if (v->assigned) {
		bool current = v->state_attempt == v->attempt;

		if (current && (v->state == VM_RUNNING || v->state == VM_FAILED))
			return;
		/* CREATING of this attempt = outcome unknown (we died
		 * mid-create): the executor finds it by name, or creates. */
		fs_info("%s: creating VM %s (attempt %" PRId64 ") with %s",
			h->name, v->id, v->attempt, agent_executor_name(a->x));
		if ((!current || v->state != VM_CREATING) &&
		    agent_executor_has_effects(a->x))
			vm_state_write(v, VM_CREATING, NULL);
		r = agent_executor_create(a->x, h->name, v->id, v->spec,
					  strlen(v->spec), v->uid, vm_created, v);
		if (r < 0) {
			vm_state_write(v, VM_FAILED, strerror(-r));
			return;
		}
		v->busy = true;
		host_maybe_report(h, false);
		return;
	}
	if (v->state == VM_NONE) {
		vm_forget(v);
		return;
	}
	fs_info("%s: deleting VM %s (no assignment)", h->name, v->id);
	r = agent_executor_delete(a->x, h->name, v->id, v->spec ? v->spec : "",
				  v->spec ? strlen(v->spec) : 0, v->uid,
				  vm_deleted, v);
	if (r < 0) {
		fs_warn("%s: deleting VM %s: %s", h->name, v->id, strerror(-r));
		return;
	}
	v->busy = true;
}

/* The assignment's spec (without scheduling), attempt, and what it takes
 * of the host: the coordinator validated the request before it committed
 * it, so a missing size counts as 0 rather than refusing the VM. */
static int assign_parse(const char *val, size_t len, char **ret_spec,
			int64_t *ret_attempt, struct fs_res *need,
			char **ret_group, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(val, len, 0, &je), *req, *att, *g;
	char *spec, *group = NULL;

	if (!root || !json_is_object(root)) {
		snprintf(err, errlen, "invalid JSON: %s",
			 root ? "not an object" : je.text);
		json_decref(root);
		return -EINVAL;
	}
	req = json_object_get(root, "request");
	att = json_object_get(root, "attempt");
	if (!json_is_object(req)) {
		snprintf(err, errlen, "request: %s",
			 req ? "must be an object" : "missing");
		json_decref(root);
		return -EINVAL;
	}
	if (att && (!json_is_integer(att) || json_integer_value(att) < 1)) {
		snprintf(err, errlen, "attempt: must be an integer >= 1");
		json_decref(root);
		return -EINVAL;
	}
	fs_spec_res(req, need); /* as the coordinator counted it */
	g = json_object_get(json_object_get(req, "scheduling"), "spread");
	if (json_is_string(g) && !(group = strdup(json_string_value(g)))) {
		json_decref(root);
		return -ENOMEM;
	}
	json_object_del(req, "scheduling");
	spec = json_dumps(req, JSON_COMPACT);
	*ret_attempt = att ? (int64_t)json_integer_value(att) : 1;
	json_decref(root);
	if (!spec) {
		free(group);
		return -ENOMEM;
	}
	*ret_spec = spec;
	*ret_group = group;
	return 0;
}

/*
 * Keeps h->alloc equal to the sum over the host's assignments, as
 * P/alloc/<host> is (the coordinator writes both in one txn), so that the
 * agent needs no watch of P/alloc/: one watch event less per placement.
 */
static void vm_count(struct vm *v, bool on)
{
	if (v->counted == on)
		return;
	if (fs_alloc_add(&v->h->alloc, &v->need, v->group, on ? 1 : -1) < 0) {
		fs_warn("%s: out of memory counting %s; bids may be off",
			v->h->name, v->id);
		return;
	}
	v->counted = on;
}

static void assign_kv(agent *a, const char *key, const char *val, size_t len,
		      bool deleted)
{
	const char *id;
	struct host *h = key_split(a, key, strlen("assign"), &id);
	struct vm *v;
	char err[256], *spec = NULL, *group = NULL;
	int64_t attempt = 0;
	struct fs_res need = {0};

	if (!h || !id || !fs_name_valid(id))
		return;
	if (deleted) {
		v = vm_find(h, id, false);
		if (!v || !v->assigned)
			return;
		v->assigned = false;
		vm_count(v, false);
		v->seen = true;
		fs_info("%s: assignment of %s removed", h->name, id);
		vm_drive(v);
		return;
	}
	if (assign_parse(val, len, &spec, &attempt, &need, &group, err,
			 sizeof(err)) < 0) {
		fs_warn("%s: malformed assignment skipped: %s", key, err);
		return;
	}
	v = vm_find(h, id, true);
	if (!v) {
		free(spec);
		free(group);
		return;
	}
	v->seen = true;
	if (v->assigned && v->attempt == attempt) {
		free(spec); /* re-list: nothing new */
		free(group);
		return;
	}
	vm_count(v, false);
	free(v->spec);
	free(v->group);
	v->spec = spec;
	v->group = group;
	v->need = need;
	v->attempt = attempt;
	v->assigned = true;
	vm_count(v, true);
	fs_info("%s: assigned %s (attempt %" PRId64 ")", h->name, id, attempt);
	vm_drive(v);
}

static void assign_mark(agent *a, bool begin)
{
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct vm *v, *next;

		for (v = a->hosts[i].vms; v; v = next) {
			next = v->next;
			if (begin) {
				v->seen = false;
			} else if (!v->seen && v->assigned) {
				v->assigned = false;
				vm_count(v, false);
				vm_drive(v);
			}
		}
	}
}

/* ---- list-then-watch -------------------------------------------------- */

static void swatch_list(struct swatch *s);

static void swatch_retry(struct swatch *s)
{
	etcd_watch_cancel(s->w);
	s->w = NULL;
	if (s->a->stopping)
		return;
	ev_timer_stop(s->a->loop, &s->retry);
	ev_timer_set(&s->retry, 1.0, 0);
	ev_timer_start(s->a->loop, &s->retry);
}

static void swatch_cb(void *arg, const struct etcd_watch_update *u)
{
	struct swatch *s = arg;

	switch (u->kind) {
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events; i++) {
			const struct etcd_event *e = &u->events[i];

			s->on_kv(s->a, e->kv.key, e->kv.value, e->kv.value_len,
				 e->type == ETCD_EVENT_DELETE);
		}
		break;
	case ETCD_WATCH_COMPACTED:
		fs_warn("watch on %s compacted at %" PRId64 "; re-listing",
			s->key, u->err ? u->err->compact_revision : 0);
		swatch_retry(s);
		break;
	case ETCD_WATCH_FAILED:
		fs_warn("watch on %s failed: %s; re-listing", s->key,
			u->err ? err_str(u->err) : "?");
		swatch_retry(s);
		break;
	case ETCD_WATCH_RECONNECTING:
		fs_debug("watch on %s reconnecting: %s", s->key,
			 u->err ? err_str(u->err) : "?");
		break;
	default:
		break;
	}
}

static void swatch_listed(void *arg, const struct etcd_error *err,
			  const struct etcd_range_result *res)
{
	struct swatch *s = arg;
	struct etcd_watch_req req = {0};

	if (err && err->code == ETCD_ECANCELED)
		return;
	if (s->a->stopping)
		return;
	if (err) {
		fs_warn("listing %s failed: %s; retrying", s->key,
			err_str(err));
		swatch_retry(s);
		return;
	}
	if (s->on_mark)
		s->on_mark(s->a, true);
	for (size_t i = 0; i < res->n_kvs; i++)
		s->on_kv(s->a, res->kvs[i].key, res->kvs[i].value,
			 res->kvs[i].value_len, false);
	if (s->on_mark)
		s->on_mark(s->a, false);
	req.key = s->key;
	req.prefix = s->prefix;
	req.start_revision = res->header.revision + 1;
	if (etcd_watch_start(s->a->etcd, &req, swatch_cb, s, &s->w) < 0) {
		swatch_retry(s);
		return;
	}
	fs_debug("watching %s from revision %" PRId64, s->key,
		 req.start_revision);
	if (!s->synced_once && s->on_synced) {
		s->synced_once = true;
		s->on_synced(s->a);
	}
}

static void swatch_list(struct swatch *s)
{
	struct etcd_range_req req = {0};

	req.key = s->key;
	req.prefix = s->prefix;
	if (etcd_kv_range(s->a->etcd, &req, swatch_listed, s) < 0)
		swatch_retry(s);
}

static void swatch_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	swatch_list(w->data);
}

static void swatch_init(agent *a, struct swatch *s, const char *what,
			const char *fmt, const char *arg, bool prefix,
			swatch_kv_fn kv, swatch_mark_fn mark)
{
	s->a = a;
	s->what = what;
	snprintf(s->key, sizeof(s->key), fmt, a->prefix, arg);
	s->prefix = prefix;
	s->on_kv = kv;
	s->on_mark = mark;
	ev_timer_init(&s->retry, swatch_retry_cb, 1.0, 0);
	s->retry.data = s;
}

/* ---- startup: VM states first, then assignments ----------------------- */

static void vms_listed_cb(void *arg, const struct etcd_error *err,
			  const struct etcd_range_result *res)
{
	agent *a = arg;

	if (a->stopping || (err && err->code == ETCD_ECANCELED))
		return;
	if (err) {
		/* Without it we could create twice: wait for etcd. */
		fs_warn("listing VM states failed: %s; retrying",
			err_str(err));
		ev_timer_stop(a->loop, &a->w_assign.retry);
		ev_timer_set(&a->w_assign.retry, 1.0, 0);
		ev_timer_start(a->loop, &a->w_assign.retry);
		return;
	}
	for (size_t i = 0; i < res->n_kvs; i++) {
		const struct etcd_kv *kv = &res->kvs[i];
		const char *id;
		struct host *h = key_split(a, kv->key, strlen("vms"), &id);
		json_t *o, *st, *uid, *att;
		struct vm *v;

		if (!h || !id || !fs_name_valid(id))
			continue;
		o = json_loadb(kv->value, kv->value_len, 0, NULL);
		st = json_object_get(o, "state");
		if (!json_is_string(st)) {
			fs_warn("%s: malformed VM state skipped", kv->key);
			json_decref(o);
			continue;
		}
		v = vm_find(h, id, true);
		if (!v) {
			json_decref(o);
			continue;
		}
		for (int k = VM_CREATING; k <= VM_FAILED; k++)
			if (strcmp(json_string_value(st), vm_state_names[k]) ==
			    0)
				v->state = (enum vm_state)k;
		if (v->state == VM_NONE) /* "deleted" or unknown */
			v->state = VM_FAILED;
		uid = json_object_get(o, "uid");
		if (json_is_string(uid) && *json_string_value(uid))
			v->uid = strdup(json_string_value(uid));
		att = json_object_get(o, "attempt");
		v->state_attempt = json_is_integer(att)
					   ? (int64_t)json_integer_value(att)
					   : 1;
		json_decref(o);
	}
	a->vms_listed = true;
	fs_info("%zu VM state record(s) found; reconciling with assignments",
		res->n_kvs);
	/* Now the assignments: the list's mark/sweep drives every VM. */
	ev_timer_stop(a->loop, &a->w_assign.retry);
	ev_timer_init(&a->w_assign.retry, swatch_retry_cb, 1.0, 0);
	a->w_assign.retry.data = &a->w_assign;
	swatch_list(&a->w_assign);
}

static void vms_list(agent *a)
{
	struct etcd_range_req req = {0};
	char key[KEY_MAX];

	if (a->n_sim)
		snprintf(key, sizeof(key), "%s/vms/", a->prefix);
	else
		snprintf(key, sizeof(key), "%s/vms/%s/", a->prefix,
			 a->hosts[0].name);
	req.key = key;
	req.prefix = true;
	if (etcd_kv_range(a->etcd, &req, vms_listed_cb, a) < 0) {
		ev_timer_set(&a->w_assign.retry, 1.0, 0);
		ev_timer_start(a->loop, &a->w_assign.retry);
	}
}

static void vms_list_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	vms_list(w->data);
}

/* After the assignment list: VMs whose state has no assignment. */
static void assign_synced(agent *a)
{
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct vm *v, *next;

		for (v = a->hosts[i].vms; v; v = next) {
			next = v->next;
			if (!v->assigned)
				vm_drive(v);
		}
	}
}

/* ---- metrics ---------------------------------------------------------- */

static void metrics_sample(agent *a)
{
	const char *root = a->cfg->proc_root;
	struct agent_cpu_sample s;
	int64_t total, avail, cpus;

	if (agent_metrics_read_cpus(root, &cpus) == 0)
		a->det_cpus = cpus;
	if (agent_metrics_read_mem(root, &total, &avail) == 0) {
		a->det_mem_mb = total;
		a->util_mem = total > 0 ? 1.0 - (double)avail / (double)total
					: 0;
	}
	if (agent_metrics_read_stat(root, &s) == 0) {
		if (a->have_cpu)
			a->util_cpu = agent_metrics_cpu_util(&a->cpu_prev, &s);
		a->cpu_prev = s;
		a->have_cpu = true;
	}
	if (a->n_sim) {
		/* Virtual hosts: configured (or the machine's) capacity,
		 * no measured load. */
		a->util_cpu = 0;
		a->util_mem = 0;
	}
}

static void metrics_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	agent *a = w->data;

	(void)loop;
	(void)revents;
	metrics_sample(a);
	host_maybe_report(&a->hosts[0], false);
}

/* ---- public ----------------------------------------------------------- */

static int read_password(const struct agent_config *c, char **ret, char *err,
			 size_t errlen)
{
	struct cfg_error ce;

	*ret = NULL;
	if (!c->etcd.password_file || !*c->etcd.password_file)
		return 0;
	if (cfg_read_secret("etcd.password_file", c->etcd.password_file, ret,
			    &ce) < 0) {
		snprintf(err, errlen, "%s", ce.message);
		return -EINVAL;
	}
	return 0;
}

/* ---- /healthz and /metrics -------------------------------------------- */

/* 200 when every host is registered under a live lease, else 503. */
static int agent_http(void *arg, const char *path, char **body,
		      const char **type)
{
	agent *a = arg;
	unsigned reg = 0;
	int64_t vms = 0;

	for (unsigned i = 0; i < a->n_hosts; i++) {
		reg += a->hosts[i].registered;
		vms += a->hosts[i].rec.vms;
	}
	if (strcmp(path, "/healthz") == 0) {
		bool ok = reg == a->n_hosts && !a->stopping;
		if (asprintf(body, "%s: %u of %u host(s) registered\n",
			     ok ? "ok" : "unhealthy", reg, a->n_hosts) < 0)
			*body = NULL;
		return ok ? 200 : 503;
	}
	if (strcmp(path, "/metrics") == 0) {
		*type = "text/plain; version=0.0.4";
		if (asprintf(body,
			     "# HELP flintsched_agent_hosts hosts served\n"
			     "# TYPE flintsched_agent_hosts gauge\n"
			     "flintsched_agent_hosts %u\n"
			     "# HELP flintsched_agent_hosts_registered hosts "
			     "registered under a live lease\n"
			     "# TYPE flintsched_agent_hosts_registered gauge\n"
			     "flintsched_agent_hosts_registered %u\n"
			     "# HELP flintsched_agent_vms VMs running\n"
			     "# TYPE flintsched_agent_vms gauge\n"
			     "flintsched_agent_vms %" PRId64 "\n"
			     "# HELP flintsched_agent_bids_total bids written\n"
			     "# TYPE flintsched_agent_bids_total counter\n"
			     "flintsched_agent_bids_total %" PRIu64 "\n"
			     "# HELP flintsched_agent_util measured use, 0..1\n"
			     "# TYPE flintsched_agent_util gauge\n"
			     "flintsched_agent_util{resource=\"cpu\"} %.4f\n"
			     "flintsched_agent_util{resource=\"memory\"} %.4f\n",
			     a->n_hosts, reg, vms, a->n_bids, a->util_cpu,
			     a->util_mem) < 0)
			*body = NULL;
		return 200;
	}
	*body = strdup("not found: try /healthz or /metrics\n");
	return 404;
}

int agent_new(struct ev_loop *loop, const struct agent_config *cfg,
	      unsigned n_sim, agent **ret_a, char *err, size_t errlen)
{
	agent *a = calloc(1, sizeof(*a));
	struct etcd_config ec = {0};
	char hn[256];
	int r = -ENOMEM;

	if (!a)
		return -ENOMEM;
	a->loop = loop;
	a->cfg = cfg;
	a->n_sim = n_sim;
	a->prefix = strdup(cfg->etcd.prefix);
	if (!a->prefix)
		goto fail;
	while (strlen(a->prefix) > 1 && a->prefix[strlen(a->prefix) - 1] == '/')
		a->prefix[strlen(a->prefix) - 1] = '\0';
	if (!*cfg->host) {
		if (gethostname(hn, sizeof(hn)) < 0)
			hn[0] = '\0';
		hn[sizeof(hn) - 1] = '\0';
		hn[strcspn(hn, ".")] = '\0';
	} else {
		snprintf(hn, sizeof(hn), "%s", cfg->host);
	}
	if (!fs_name_valid(hn) ||
	    (n_sim && strlen(hn) + 1 + 10 > FS_NAME_MAX)) {
		snprintf(err, errlen,
			 "agent.host: \"%s\" is not a valid host name "
			 "([a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?)",
			 hn);
		r = -EINVAL;
		goto fail;
	}
	if (cfg->http_listen && *cfg->http_listen &&
	    (r = fs_httpd_start(loop, cfg->http_listen, agent_http, a,
				&a->http, err, errlen)) < 0)
		goto fail;
	a->n_hosts = n_sim ? n_sim : 1;
	a->hosts = calloc(a->n_hosts, sizeof(*a->hosts));
	if (!a->hosts)
		goto fail;
	snprintf(a->base, sizeof(a->base), "%s", hn);
	metrics_sample(a);
	metrics_sample(a);
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct host *h = &a->hosts[i];

		h->a = a;
		h->idx = i;
		if (n_sim)
			snprintf(h->name, sizeof(h->name), "%s-%u", hn, i);
		else
			snprintf(h->name, sizeof(h->name), "%s", hn);
		snprintf(h->rec.host, sizeof(h->rec.host), "%s", h->name);
		h->rec.endpoint = strdup(
			*cfg->endpoint
				? cfg->endpoint
				: (cfg->executor == AGENT_EXEC_FLINTLOCK && !n_sim
					   ? cfg->fl_endpoint
					   : ""));
		h->rec.agent_version = strdup(FLINTSCHED_VERSION);
		if (!h->rec.endpoint || !h->rec.agent_version ||
		    labels_from_cfg(&cfg->labels, &h->rec.labels) < 0)
			goto fail;
		ev_timer_init(&h->retry, host_retry_cb, 0, 0);
		h->retry.data = h;
		host_rec_update(h);
	}
	r = read_password(cfg, &a->password, err, errlen);
	if (r < 0)
		goto fail;
	ec.endpoints = (const char *const *)cfg->etcd.endpoints.v;
	ec.n_endpoints = cfg->etcd.endpoints.n;
	ec.username = cfg->etcd.username;
	ec.password = a->password;
	ec.ca_file = cfg->etcd.tls.ca;
	ec.cert_file = cfg->etcd.tls.cert;
	ec.key_file = cfg->etcd.tls.key;
	ec.request_timeout_ms = (long)cfg->etcd.request_timeout_ms;
	r = etcd_client_new(loop, &ec, &a->etcd);
	if (r < 0) {
		snprintf(err, errlen, "etcd: cannot create client: %s",
			 etcd_strerror(r));
		goto fail;
	}
	r = agent_executor_new(loop, cfg,
			       n_sim ? AGENT_EXEC_SIMULATE : cfg->executor,
			       &a->x, err, errlen);
	if (r < 0)
		goto fail;
	if (n_sim) {
		swatch_init(a, &a->w_assign, "assignments", "%s/assign/%s",
			    "", true, assign_kv, assign_mark);
	} else {
		swatch_init(a, &a->w_assign, "assignments", "%s/assign/%s/",
			    a->hosts[0].name, true, assign_kv, assign_mark);
	}
	a->w_assign.on_synced = assign_synced;
	swatch_init(a, &a->w_rounds, "rounds", "%s/rounds/%s", "", true,
		    rounds_kv, rounds_mark);
	a->vq_tail = &a->vq;
	ev_prepare_init(&a->vq_flush, vq_flush_cb);
	a->vq_flush.data = a;
	ev_timer_init(&a->vq_retry, vq_retry_cb, 1.0, 0);
	a->vq_retry.data = a;
	ev_timer_init(&a->metrics, metrics_cb, METRICS_PERIOD_S,
		      METRICS_PERIOD_S);
	a->metrics.data = a;
	*ret_a = a;
	return 0;
fail:
	if (r == -ENOMEM && err && errlen)
		snprintf(err, errlen, "out of memory");
	agent_free(a);
	return r;
}

int agent_start(agent *a)
{
	fs_info("starting %u host(s) (%s executor), etcd %s, prefix %s",
		a->n_hosts, agent_executor_name(a->x),
		etcd_client_endpoint(a->etcd), a->prefix);
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct host *h = &a->hosts[i];

		/* Staggered so that N simulated hosts do not open N
		 * connections at once. */
		ev_timer_set(&h->retry, a->n_sim ? 0.004 * i : 0, 0);
		ev_timer_start(a->loop, &h->retry);
	}
	swatch_list(&a->w_rounds);
	/* VM states first, then assignments (vms_listed_cb). */
	ev_timer_init(&a->w_assign.retry, vms_list_retry_cb, 1.0, 0);
	a->w_assign.retry.data = a;
	vms_list(a);
	if (!a->n_sim)
		ev_timer_start(a->loop, &a->metrics);
	return 0;
}

void agent_reload(agent *a, const struct agent_config *cfg)
{
	a->cfg = cfg;
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct host *h = &a->hosts[i];

		if (labels_from_cfg(&cfg->labels, &h->rec.labels) < 0)
			fs_error("%s: out of memory reloading labels", h->name);
		host_maybe_report(h, false);
	}
	fs_info("configuration reloaded (labels, capacity)");
}

static void stop_finish(agent *a)
{
	void (*done)(void *) = a->stop_done;

	ev_timer_stop(a->loop, &a->stop_timer);
	a->stop_done = NULL;
	if (done)
		done(a->stop_arg);
}

static void revoke_done(void *arg, const struct etcd_error *err,
			const struct etcd_header *hdr)
{
	struct host *h = arg;
	agent *a = h->a;

	(void)hdr;
	if (err && err->code != ETCD_ECANCELED)
		fs_warn("%s: lease revoke failed: %s", h->name, err_str(err));
	if (a->revokes && --a->revokes == 0)
		stop_finish(a);
}

static void stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	agent *a = w->data;

	(void)loop;
	(void)revents;
	fs_warn("etcd did not confirm every lease revoke in time");
	a->revokes = 0;
	stop_finish(a);
}

void agent_stop(agent *a, double timeout_s, void (*done)(void *arg),
		void *arg)
{
	a->stopping = true;
	a->stop_done = done;
	a->stop_arg = arg;
	ev_timer_stop(a->loop, &a->metrics);
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct host *h = &a->hosts[i];

		ev_timer_stop(a->loop, &h->retry);
		h->ka = etcd_lease_keepalive_stop(h->ka);
		if (h->lease &&
		    etcd_lease_revoke(a->etcd, h->lease, revoke_done, h) == 0)
			a->revokes++;
		h->registered = false;
	}
	ev_timer_init(&a->stop_timer, stop_timeout_cb, timeout_s, 0);
	a->stop_timer.data = a;
	ev_timer_start(a->loop, &a->stop_timer);
	if (a->revokes == 0) {
		ev_timer_set(&a->stop_timer, 0, 0);
		ev_timer_again(a->loop, &a->stop_timer);
	}
}

static void swatch_fini(agent *a, struct swatch *s)
{
	s->w = etcd_watch_cancel(s->w);
	ev_timer_stop(a->loop, &s->retry);
}

agent *agent_free(agent *a)
{
	if (!a)
		return NULL;
	a->stopping = true;
	a->stop_done = NULL;
	a->revokes = 0;
	a->http = fs_httpd_stop(a->http);
	ev_prepare_stop(a->loop, &a->vq_flush);
	ev_timer_stop(a->loop, &a->vq_retry);
	/* Queued writes die with us; forgotten VMs live only on the queue. */
	for (struct vm *v = a->vq, *next; v; v = next) {
		next = v->q_next;
		v->queued = false;
		if (v->zombie && !v->st_inflight)
			vm_free(v);
	}
	a->vq = NULL;
	a->vq_tail = &a->vq;
	for (size_t i = 0; i < a->n_bq; i++) {
		free(a->bq[i].key);
		free(a->bq[i].val);
	}
	free(a->bq);
	a->bq = NULL;
	a->n_bq = 0;
	a->x = agent_executor_free(a->x);
	swatch_fini(a, &a->w_rounds);
	swatch_fini(a, &a->w_assign);
	ev_timer_stop(a->loop, &a->metrics);
	ev_timer_stop(a->loop, &a->stop_timer);
	for (unsigned i = 0; a->hosts && i < a->n_hosts; i++) {
		a->hosts[i].ka = etcd_lease_keepalive_stop(a->hosts[i].ka);
		ev_timer_stop(a->loop, &a->hosts[i].retry);
	}
	/* Runs pending callbacks with ECANCELED; they only free their own
	 * context because stopping is set. */
	a->etcd = etcd_client_free(a->etcd);
	for (unsigned i = 0; a->hosts && i < a->n_hosts; i++) {
		struct host *h = &a->hosts[i];

		while (h->vms) {
			struct vm *v = h->vms;

			h->vms = v->next;
			vm_free(v);
		}
		fs_host_clear(&h->rec);
		fs_labels_clear(&h->last.labels);
		fs_alloc_clear(&h->alloc);
	}
	while (a->rounds) {
		struct round *rd = a->rounds;

		a->rounds = rd->next;
		round_free(rd);
	}
	free(a->hosts);
	a->password = cfg_secret_free(a->password);
	free(a->prefix);
	free(a);
	return NULL;
}

unsigned agent_hosts_registered(const agent *a)
{
	unsigned n = 0;

	for (unsigned i = 0; i < a->n_hosts; i++)
		n += a->hosts[i].registered;
	return n;
}

const char *agent_host_name(const agent *a, unsigned i)
{
	return i < a->n_hosts ? a->hosts[i].name : NULL;
}
