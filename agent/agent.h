/*
 * The agent service: one or (with --simulate N) many hosts in one
 * process, sharing one etcd client, one executor and one watch per key
 * family (with AGENT_PER_HOST_WATCHES: each host its own watches).
 *
 *  registration  lease grant, P/hosts/<host> under it, keepalive; lease
 *                lost -> grant a new one when etcd answers again, re-put
 *                the record, re-bid open rounds
 *  metrics       (real host only) /proc sampled every few seconds; the
 *                record is re-written only when agent_metrics_report_due()
 *  bidding       watch P/rounds/ (broadcast) and P/invites/<host>/
 *                (sample); answer invitations with P/bids/<host>/<id>
 *                under the host's lease
 *  execution     watch P/assign/<host>/; create / delete through the
 *                executor; P/vms/<host>/<id> tells the outcome; at start
 *                the VM states are listed first so that nothing is created
 *                twice
 *
 * Watches re-list on compaction.  Malformed JSON is skipped with a warning
 * naming the key.  Logs with common/log.h.
 */
#ifndef FLINTSCHED_AGENT_AGENT_H
#define FLINTSCHED_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/config.h"

struct ev_loop;
typedef struct agent agent;

/*
 * cfg is borrowed and must stay valid until agent_free() or the next
 * agent_reload().  n_sim 0 = one real host (cfg host name, /proc
 * metrics, the configured executor); n_sim > 0 = hosts <host>-0..n-1 with
 * the simulate executor.  flags: AGENT_PER_HOST_WATCHES gives each
 * simulated host its own watches (rounds, its invitations, its
 * assignments), as n_sim real agents would hold them, instead of one
 * watch per key family shared by all (the cost etcd pays for a fleet).
 * Returns 0, or a negative errno with a message in err.
 */
#define AGENT_PER_HOST_WATCHES 1u
int agent_new(struct ev_loop *loop, const struct agent_config *cfg,
	      unsigned n_sim, unsigned flags, agent **ret_a, char *err,
	      size_t errlen);
/* Begins registration and the watches; the loop does the rest. */
int agent_start(agent *a);
/* SIGHUP: takes labels and capacity from cfg (same lifetime rule). */
void agent_reload(agent *a, const struct agent_config *cfg);
/* Stops the keepalives and calls done(arg) from the loop; the leases are
 * not revoked but run out with their TTL (a restart within it moves
 * nothing).  timeout_s bounds the wait (kept for callers; nothing is
 * awaited today). */
void agent_stop(agent *a, double timeout_s, void (*done)(void *arg),
		void *arg);
agent *agent_free(agent *a);

/* For tests and logs. */
unsigned agent_hosts_registered(const agent *a);
const char *agent_host_name(const agent *a, unsigned i);

#endif
