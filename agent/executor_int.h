/*
 * Inside the executors: the ops table every implementation provides, the
 * executor handle and one op (struct xop) per create/delete in flight.
 * Included by executor.c (dispatch, on top), the implementations
 * (executor_simulate.c, executor_exec.c, flintlock.c) and executor_op.c
 * (the op bookkeeping, at the bottom); nothing else includes it but tests.
 */
#ifndef FLINTSCHED_AGENT_EXECUTOR_INT_H
#define FLINTSCHED_AGENT_EXECUTOR_INT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <ev.h>

#include "agent/executor.h"
#include "etcdclient/evcurl.h"

struct fl_transport_ops;
struct fl_reply;
struct grpc_channel;
struct grpc_call;

enum xop_action { XOP_CREATE, XOP_DELETE };

struct xop {
	struct xop *prev, *next;
	agent_executor *x;
	enum xop_action action;
	char *host, *id, *spec, *uid, *ns;
	size_t spec_len;
	agent_executor_cb cb;
	void *arg;
	ev_timer timer;   /* simulate: soon; exec: timeout; flintlock: wait */
	/* exec */
	pid_t pid;
	ev_child child;
	FILE *out, *err;
	/* flintlock */
	CURL *easy;       /* http transport */
	struct curl_slist *hdrs;
	char *body;       /* response */
	size_t body_len;
	struct grpc_call *call; /* grpc transport: the call in flight */
	/* The transport's caller, for its answer (flintlock_int.h). */
	void (*fl_cb)(struct xop *op, const struct fl_reply *r);
	int step;         /* FL_* */
	bool adopted;     /* uid from an earlier attempt, not our POST */
	char errbuf[CURL_ERROR_SIZE];
	int tries;
	double deadline;  /* ev_now + create timeout */
	double backoff;
};

/*
 * One implementation.  executor.c calls these; an implementation ends an
 * op only through xop_finish() (executor_op.c), which calls the agent's
 * callback: it calls nothing above itself.
 */
struct executor_ops {
	const char *name;
	bool has_effects; /* see agent_executor_has_effects() */
	/* Copies what it needs of cfg into x; NULL = nothing to set up. */
	int (*init)(agent_executor *x, const struct agent_config *cfg,
		    char *err, size_t errlen);
	/* Frees what init set up; NULL = nothing. */
	void (*fini)(agent_executor *x);
	/* op is linked and owned by x; 0 = the op ends later through
	 * xop_finish() (never from inside start); < 0 = not started, the
	 * caller frees op. */
	int (*start)(struct xop *op);
	/* The executor is freed with op in flight: stop what it runs (no
	 * callback); the caller frees op.  NULL = nothing to stop. */
	void (*abort)(struct xop *op);
};

extern const struct executor_ops executor_simulate_ops;
extern const struct executor_ops executor_exec_ops;
extern const struct executor_ops executor_flintlock_ops;

struct agent_executor {
	struct ev_loop *loop;
	int type;
	const struct executor_ops *impl;
	struct xop *ops;
	unsigned n_ops;
	/* exec */
	char *create_cmd, *delete_cmd;
	double exec_timeout;
	/* flintlock (flintlock_int.h) */
	const struct fl_transport_ops *fl;
	evcurl *curl;
	struct grpc_channel *grpc;
	char *endpoint, *auth, *ns;
	char **allowed_ns; /* executor.flintlock.allowed_namespaces */
	size_t n_allowed_ns;
	bool tls, client_cert; /* for the hints of TLS failures */
	long timeout_ms;
	double create_timeout;
	int retries;
	double poll_min, poll_max;
};

/* executor_op.c.  A new op with copies of the strings, linked into x
 * (not started): NULL when out of memory. */
struct xop *xop_new(agent_executor *x, enum xop_action action,
		    const char *host, const char *id, const char *spec,
		    size_t spec_len, const char *uid, agent_executor_cb cb,
		    void *arg);
/* Unlinks op from x and stops its timer and child watcher. */
void xop_unlink(struct xop *op);
/* Frees an unlinked op (NULL is fine). */
void xop_free(struct xop *op);
/* Ends op: unlinks it, calls back, frees it. */
void xop_finish(struct xop *op, const char *err, const char *uid);

#endif
