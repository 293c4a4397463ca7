/*
 * Executors: what turns an assignment into a VM.
 *
 *   simulate   instant success (demos, benchmarks, --simulate N)
 *   exec       runs executor.exec.create / .delete with `/bin/sh -c` in a
 *              process group of its own; the spec JSON on stdin, stdout
 *              and stderr to files, no other descriptor open; its whole
 *              environment is PATH (the agent's, or a default) and
 *              FLINTSCHED_ACTION (create/delete), FLINTSCHED_VM_ID,
 *              FLINTSCHED_HOST, FLINTSCHED_NAMESPACE (the spec's top-level
 *              "namespace", else "default") and FLINTSCHED_VM_UID ("" when
 *              none is known); exit 0 = success; the first line of the
 *              create command's stdout, if any, is kept as the VM uid; the
 *              last line of stderr is the error on failure
 *   flintlock  flintlockd's gRPC API (TLS, mTLS, token) or its HTTP
 *              gateway (flintlock.c; docs/DESIGN.md "Flintlock executor")
 *
 * Every operation calls its callback exactly once, later, from the loop
 * (never from inside the call) — unless the executor is freed first, which
 * drops pending callbacks.  Strings passed to the callback are borrowed.
 * Needs the default ev loop (ev_child) for `exec`.
 */
#ifndef FLINTSCHED_AGENT_EXECUTOR_H
#define FLINTSCHED_AGENT_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/config.h"

struct ev_loop;
typedef struct agent_executor agent_executor;

/* err NULL = success; uid may be NULL or "" when the executor has none. */
typedef void (*agent_executor_cb)(void *arg, const char *err,
				  const char *uid);

/* Copies what it needs from cfg; reads the flintlock token file.  Returns
 * 0, -EINVAL (message in err) or -ENOMEM. */
int agent_executor_new(struct ev_loop *loop, const struct agent_config *cfg,
		       int type, agent_executor **ret_x, char *err,
		       size_t errlen);
agent_executor *agent_executor_free(agent_executor *x);
const char *agent_executor_name(const agent_executor *x);
/* Whether creating a VM touches the world (flintlock, exec): then the
 * agent records "creating" before it starts, so that a restart knows the
 * outcome is unknown.  simulate touches nothing and skips that write. */
bool agent_executor_has_effects(const agent_executor *x);

/* spec: the request's MicroVMSpec JSON (borrowed, copied).  uid: the uid
 * known from an earlier attempt, or NULL. */
int agent_executor_create(agent_executor *x, const char *host, const char *id,
			  const char *spec, size_t spec_len, const char *uid,
			  agent_executor_cb cb, void *arg);
int agent_executor_delete(agent_executor *x, const char *host, const char *id,
			  const char *spec, size_t spec_len, const char *uid,
			  agent_executor_cb cb, void *arg);

/* For tests: operations in flight. */
unsigned agent_executor_active(const agent_executor *x);

#endif
