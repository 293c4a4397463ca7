/*
 * tcpproxy — a TCP forwarder on 127.0.0.1 for fault injection between a
 * client and a real server: it holds the server's answers back for a
 * while (a slow network, a round trip longer than the server's work), or
 * drops everything both ways while keeping the connections open (a peer
 * gone silent).  Runs in a thread of its own, so the test's loop may
 * block on the client side.  No cmocka here: callers assert.
 *
 *   struct tcpproxy *p = tcpproxy_start(h->client_port);
 *   ... connect to 127.0.0.1:tcpproxy_port(p) ...
 *   tcpproxy_set_delay(p, 1.0);
 *   tcpproxy_stop(p);
 */
#ifndef FLINTSCHED_TEST_TCPPROXY_H
#define FLINTSCHED_TEST_TCPPROXY_H

#include <stdbool.h>

struct tcpproxy;

/* Listens on a free loopback port; each connection accepted is forwarded
 * to 127.0.0.1:target_port.  NULL (message on stderr) on failure. */
struct tcpproxy *tcpproxy_start(int target_port);
int tcpproxy_port(const struct tcpproxy *p);
/* Every chunk the server sends from now on reaches the client seconds
 * later (in order).  0 = at once. */
void tcpproxy_set_delay(struct tcpproxy *p, double seconds);
/* While on, whatever either side sends is read and dropped. */
void tcpproxy_set_blackhole(struct tcpproxy *p, bool on);
/* Closes every connection, stops the thread, frees.  Accepts NULL;
 * returns NULL. */
struct tcpproxy *tcpproxy_stop(struct tcpproxy *p);

#endif
