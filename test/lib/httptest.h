/*
 * Loopback helpers for tests: a free port to give a server, and a blocking
 * GET of a local endpoint (/healthz, /metrics, the fake flintlockd's call
 * log).  No cmocka here: callers assert on what these return.
 */
#ifndef FLINTSCHED_TEST_HTTPTEST_H
#define FLINTSCHED_TEST_HTTPTEST_H

#include <stddef.h>

/* A 127.0.0.1 port the kernel just handed out (racy in theory, fine for
 * tests), or -1. */
int httptest_free_port(void);

/* GETs url (5 s at most) into buf, NUL-terminated.  Returns the HTTP
 * status, or -1 if the transfer failed or the body does not fit in cap. */
long httptest_get(const char *url, char *buf, size_t cap);

#endif
