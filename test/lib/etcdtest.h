/*
 * etcdtest — what the etcdclient integration tests share: a fixture (a
 * real etcd from etcd_harness, an ev loop, a client on it) and blocking
 * helpers that set up what a test needs (write a key, grant a lease).
 * The helpers fail the running cmocka test when etcd does not do what
 * they ask, so a test reads as its own steps and assertions.
 *
 * Group fixture, as a test binary's global state:
 *
 *   static struct etcdtest *T;
 *   static int group_setup(void **state)
 *   {
 *           int r = etcdtest_group_setup(state);
 *           T = *state;
 *           return r;
 *   }
 *   cmocka_run_group_tests(tests, group_setup, etcdtest_group_teardown);
 *
 * Per-test fixture, for tests that free their client or must start from
 * a clean loop: cmocka hands each test's setup the group state, and
 * etcdtest_setup() replaces it with a struct etcdtest of its own loop and
 * client on the group's etcd:
 *
 *   etcdtest_unit_test(test_x)
 *   static void test_x(void **state) { struct etcdtest *f = *state; ... }
 *
 * The blocking helpers use etcdclient's blocking layer (etcd_sync_*), so
 * the other watchers of the client's loop run while they wait.
 */
#ifndef FLINTSCHED_TEST_ETCDTEST_H
#define FLINTSCHED_TEST_ETCDTEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "etcdclient/etcd.h"
#include "test/lib/etcd_harness.h"

struct etcdtest {
	struct etcd_harness *harness; /* borrowed in a per-test fixture */
	struct ev_loop *loop;
	etcd_client *client;
	bool owns_harness;
	void *scratch[16]; /* etcdtest_calloc's, freed after the client */
	size_t n_scratch;
};

/* Initialises libcurl, starts an etcd (o may be NULL), a loop and a
 * client.  Returns 0, or -1 with a message on stderr; etcdtest_stop()
 * then undoes what was started. */
int etcdtest_start(struct etcdtest *t, const struct etcd_harness_opts *o);
/* Frees the client and the loop, stops the etcd if this fixture started
 * it.  Accepts a fixture that failed to start. */
void etcdtest_stop(struct etcdtest *t);

/* cmocka group fixture: *state = a started struct etcdtest (new). */
int etcdtest_group_setup(void **state);
int etcdtest_group_teardown(void **state);
/* cmocka per-test fixture: *state (the group's struct etcdtest) becomes
 * a new one with its own loop and client on the same etcd. */
int etcdtest_setup(void **state);
int etcdtest_teardown(void **state);
/* A test with the per-test fixture. */
#define etcdtest_unit_test(f) \
	cmocka_unit_test_setup_teardown(f, etcdtest_setup, etcdtest_teardown)

/* Zeroed memory that lives until the fixture stops, after its client is
 * freed: where a test keeps what its client's callbacks write (a
 * campaign's or a watch's outcome), so that a failed assertion, which
 * leaves the test's frame at once, leaves no callback pointing into it.
 * Fails the test if none is left. */
void *etcdtest_calloc(struct etcdtest *t, size_t size);

/* A client for h on loop; timeout_ms 0 = the default request timeout.
 * Fails the test if it cannot be created. */
etcd_client *etcdtest_client_new(struct ev_loop *loop,
				 const struct etcd_harness *h,
				 long timeout_ms);

/* A 3-member cluster (etcd_cluster_start) whose m[0] is a follower and
 * whose leader is last; fails the test if it cannot be started. */
struct etcd_cluster *etcdtest_cluster_start(void);
/* A client for every member of cl, in order; timeout_ms as above. */
etcd_client *etcdtest_cluster_client(struct ev_loop *loop,
				     const struct etcd_cluster *cl,
				     long timeout_ms);

/* Puts key = value (lease 0 = none); returns the revision of the put. */
int64_t etcdtest_put(etcd_client *c, const char *key, const char *value,
		     int64_t lease);
/* Deletes key; returns the revision of the delete. */
int64_t etcdtest_delete(etcd_client *c, const char *key);
/* Compacts up to rev, physically (old revisions are gone on return). */
void etcdtest_compact(etcd_client *c, int64_t rev);
/* Create revision of key, 0 if absent. */
int64_t etcdtest_create_revision(etcd_client *c, const char *key);
/* Grants a lease of ttl seconds with an id chosen by etcd; returns it. */
int64_t etcdtest_lease_grant(etcd_client *c, int64_t ttl);
void etcdtest_lease_revoke(etcd_client *c, int64_t id);

/* For decoder tests: calls check(j, arg) on every one-character mutation
 * of json (each position replaced by each of "\"0{}[]:,-9tn") that still
 * parses as JSON, and frees j afterwards.  Returns how many parsed. */
size_t etcdtest_json_mutations(const char *json,
			       void (*check)(const json_t *j, void *arg),
			       void *arg);

#endif
