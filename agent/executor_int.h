/* Inside the executors: one op per create/delete in flight. */
#ifndef FLINTSCHED_AGENT_EXECUTOR_INT_H
#define FLINTSCHED_AGENT_EXECUTOR_INT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <ev.h>

#include "agent/executor.h"
#include "etcdclient/evcurl.h"

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
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;       /* response */
	size_t body_len;
	int step;         /* FL_* */
	bool adopted;     /* uid from an earlier attempt, not our POST */
	char errbuf[CURL_ERROR_SIZE];
	int tries;
	double deadline;  /* ev_now + create timeout */
	double backoff;
};

struct agent_executor {
	struct ev_loop *loop;
	int type;
	struct xop *ops;
	unsigned n_ops;
	/* exec */
	char *create_cmd, *delete_cmd;
	double exec_timeout;
	/* flintlock */
	evcurl *curl;
	char *endpoint, *auth, *ns;
	long timeout_ms;
	double create_timeout;
	int retries;
	double poll_min, poll_max;
};

/* Ends op: unlinks it, calls back, frees it. */
void xop_finish(struct xop *op, const char *err, const char *uid);

int agent_flintlock_init(agent_executor *x, const struct agent_config *cfg,
			 char *err, size_t errlen);
void agent_flintlock_fini(agent_executor *x);
void agent_flintlock_start(struct xop *op);
void agent_flintlock_abort(struct xop *op);

#endif
