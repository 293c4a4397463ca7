/*
 * A real etcd for tests: started on 127.0.0.1 with free ports and a temp
 * data dir, stopped (and the dir removed) by etcd_harness_stop().  Needs
 * the `etcd` binary on PATH (Debian's etcd-server).
 *
 *   struct etcd_harness *h = etcd_harness_start(NULL);
 *   ... h->endpoint is "http://127.0.0.1:PORT" ...
 *   etcd_harness_stop(h);
 *
 * Restart keeps the data dir and ports (for watch-across-restart tests);
 * kill/pause simulate a crash or a stall.  Options may be NULL.
 */
#ifndef FLINTSCHED_TEST_ETCD_HARNESS_H
#define FLINTSCHED_TEST_ETCD_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

struct etcd_harness_opts {
	const char *const *extra_args; /* NULL-terminated, appended */
	bool quiet;                    /* default: etcd's log to a file */
	/* TLS: with cert_file and key_file the client URL is https (health
	 * is then checked on a plain-http metrics port); trusted_ca_file with
	 * client_cert_auth requires client certificates. */
	const char *cert_file, *key_file, *trusted_ca_file;
	bool client_cert_auth;
};

struct etcd_harness {
	pid_t pid;
	int client_port, peer_port;
	int health_port;     /* client_port, or the metrics port with TLS */
	char endpoint[64];   /* http(s)://127.0.0.1:<client_port> */
	char dir[256];       /* temp dir holding data/ and etcd.log */
	char **argv;
	bool paused;         /* stopped by etcd_harness_pause() */
};

/* Starts etcd and waits until /health answers (up to 20 s).  Returns NULL
 * (with a message on stderr) on failure. */
struct etcd_harness *etcd_harness_start(const struct etcd_harness_opts *o);
/* SIGTERM, wait, remove the temp dir, free.  Accepts NULL; returns NULL. */
struct etcd_harness *etcd_harness_stop(struct etcd_harness *h);
/* SIGKILL and wait; the data dir stays. Returns 0 or -1. */
int etcd_harness_kill(struct etcd_harness *h);
/* Starts again on the same ports and data dir; waits for health. */
int etcd_harness_restart(struct etcd_harness *h);
/* SIGSTOP (returns once every thread of etcd has stopped) / SIGCONT. */
int etcd_harness_pause(struct etcd_harness *h, bool paused);
/* A cluster of n members (m0, m1, ...) on loopback, each with its own
 * client and peer port and data dir, started together and healthy (a
 * leader elected) on return; NULL with a message on stderr on failure.
 * Each member is a harness of its own: pause, kill or restart one to
 * inject a fault; etcd_harness_ctl() talks to that member alone.  o
 * (may be NULL) applies to every member. */
#define ETCD_CLUSTER_MAX 5
struct etcd_cluster {
	size_t n;
	struct etcd_harness *m[ETCD_CLUSTER_MAX];
	const char *endpoints[ETCD_CLUSTER_MAX]; /* m[i]->endpoint */
};
struct etcd_cluster *etcd_cluster_start(size_t n,
					const struct etcd_harness_opts *o);
/* Index of the member that is raft leader now (as it says), or -1. */
int etcd_cluster_leader(struct etcd_cluster *cl);
/* Reorders m[] and endpoints[] so that the leader is last and m[0] a
 * follower (stopping m[0] then elects no new leader, which keeps a test
 * of a stalled member free of "leader changed" answers).  0 or -1. */
int etcd_cluster_leader_last(struct etcd_cluster *cl);
/* Stops every member; accepts NULL; returns NULL. */
struct etcd_cluster *etcd_cluster_stop(struct etcd_cluster *cl);

/* Runs etcdctl against this etcd: argv after "etcdctl --endpoints=...".
 * Returns its exit status; its stdout (up to cap-1 bytes) into out. */
int etcd_harness_ctl(struct etcd_harness *h, char *out, size_t cap, ...);

#endif
