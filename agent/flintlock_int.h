/*
 * Inside the flintlock executor: the small interface between its state
 * machine (flintlock.c) and its two transports to flintlockd, gRPC
 * (flintlock_grpc.c, the real API) and the HTTP/JSON gateway
 * (flintlock_http.c).  A transport knows how to send list / create /
 * delete and how to read the answer into a struct fl_reply; what the
 * answer means (adopt, wait, retry, fail) is flintlock.c's alone, so that
 * both transports behave the same.  Included by those three files and
 * tests only.
 */
#ifndef FLINTSCHED_AGENT_FLINTLOCK_INT_H
#define FLINTSCHED_AGENT_FLINTLOCK_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/executor_int.h"
#include "agent/flintlock_pb.h"

/* An op's step (op->step): the call in flight or the next one. */
enum fl_step { FL_LIST, FL_CREATE, FL_DELETE, FL_REFUSE, FL_DONE };

/* One answer, as the state machine reads it.  Borrowed by the callback. */
struct fl_reply {
	/* enum grpc_code: flintlockd's own (over HTTP the gateway's
	 * {"code": N} body), or, when transport, the transport's. */
	int code;
	/* The code is not flintlockd's: the call failed on the way
	 * (connect, TLS, reset, timeout, an answer that does not parse). */
	bool transport;
	/* false only when the request provably never reached flintlockd:
	 * then it may be sent again, even a create. */
	bool sent;
	long http_status; /* 0 when none */
	char message[512];
	struct flpb_vm vm;	  /* create: the VM made */
	const struct flpb_vm *vms; /* list */
	size_t n_vms;
};

typedef void (*fl_reply_cb)(struct xop *op, const struct fl_reply *r);

/*
 * A transport.  Every call returns 0 (cb runs exactly once, later, from
 * the loop, unless cancel() comes first) or a negative errno (cb will not
 * run; -EINVAL with a reason in op->errbuf).  One call per op at a time.
 */
struct fl_transport_ops {
	const char *name;
	/* Sets up x->fl_* from cfg (after flintlock.c has set the common
	 * fields); err gets a reason on -EINVAL. */
	int (*init)(agent_executor *x, const struct agent_config *cfg,
		    char *err, size_t errlen);
	void (*fini)(agent_executor *x);
	/* VMs of namespace op->ns named op->id (ns never empty). */
	int (*list)(struct xop *op, fl_reply_cb cb);
	/* CreateMicroVM of op->spec with id op->id, namespace op->ns. */
	int (*create)(struct xop *op, fl_reply_cb cb);
	/* DeleteMicroVM of op->uid. */
	int (*remove)(struct xop *op, fl_reply_cb cb);
	/* Drops the call in flight, if any (no callback). */
	void (*cancel)(struct xop *op);
};

extern const struct fl_transport_ops fl_grpc_ops;
extern const struct fl_transport_ops fl_http_ops;

#endif
