/*
 * Internal to etcdclient: the stream-message decoders of watch.c and
 * election.c, callable on a json_t without the network (unit tests,
 * fuzzing), and a test knob.  Not installed.
 *
 * Decoders never abort, whatever the input: malformed input returns
 * ETCD_EPROTO (or ETCD_ENOMEM) with err filled.  Decoded memory lives in
 * the arena; err is caller-owned.
 */
#ifndef FLINTSCHED_ETCD_WATCH_ELECTION_H
#define FLINTSCHED_ETCD_WATCH_ELECTION_H

#include "internal.h"

/* One line of a /v3/watch stream: {"result":{...}} or {"error":...}.
 * Returns 0 and sets u->kind:
 *  - ETCD_WATCH_CREATED   "created": true (events, if any, are kept too);
 *  - ETCD_WATCH_EVENTS    events[0..n) with n > 0;
 *  - ETCD_WATCH_PROGRESS  a header and nothing else;
 *  - ETCD_WATCH_COMPACTED "canceled" with "compact_revision": err->code is
 *                         ETCD_ECOMPACTED, err->compact_revision is set;
 *  - ETCD_WATCH_FAILED    canceled without compaction, or an error line:
 *                         err says why (u->err = err).
 * Returns ETCD_EPROTO / ETCD_ENOMEM (err filled) for malformed input. */
int etcd_watch_decode(const json_t *msg, struct etcd_arena *a,
		      struct etcd_watch_update *u, struct etcd_error *err);

/* One line of a /v3/election/observe stream: {"result":{"header","kv"}}
 * (or "kvs":[kv]).  Returns 0 and *kv; 1 when the message carries no kv
 * (nothing to report); ETCD_E* with err filled for an error line or
 * malformed input. */
int etcd_observe_decode(const json_t *msg, struct etcd_arena *a,
			struct etcd_kv *kv, struct etcd_error *err);

/* The "leader" object of a campaign answer into lk (strings in the arena).
 * Returns 0, ETCD_EPROTO or ETCD_ENOMEM. */
int etcd_leader_key_decode(const json_t *resp, struct etcd_arena *a,
			   struct etcd_leader_key *lk);

/* Seconds without any traffic on a watch stream after which the watch
 * probes etcd (default 30).  For tests. */
void etcd_watch_set_idle_timeout(etcd_watch *w, double seconds);

/* Seconds between probes of a pending campaign's member (default 5).
 * For tests. */
void etcd_campaign_set_probe_interval(etcd_campaign *camp, double seconds);
/* Seconds between probes of an observe stream's member (default 30).
 * For tests. */
void etcd_observe_set_probe_interval(etcd_observe *obs, double seconds);

#endif
