/*
 * asgtest — the status a coordinator's commit writes with an assignment,
 * for tests that write assignments by hand: an agent creates a VM only
 * when P/status/<id> names its host, the assignment's request revision
 * and its attempt (agent/confirm.c, docs/DESIGN.md "Agent").
 */
#ifndef FLINTSCHED_TEST_ASGTEST_H
#define FLINTSCHED_TEST_ASGTEST_H

#include <stddef.h>

/* For the assignment val at key "<P>/assign/<host>/<id>": the status key
 * "<P>/status/<id>" into skey and a status confirming it into st (its
 * "request_rev" and "attempt" from val, 0 and 1 when absent).  0, or -1
 * when key is not an assignment's or a buffer is too small. */
int asgtest_status(const char *key, const char *val, char *skey,
		   size_t skcap, char *st, size_t stcap);

#endif
