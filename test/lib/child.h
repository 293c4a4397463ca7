/*
 * child — a helper server of a test (the python fakes of test/tools/):
 * started with its stdout on a pipe and its stderr appended to a log,
 * killed with the test even when an assert cuts it short, waited for
 * until it prints its first line ("ready ...", "port N"), and stopped
 * with SIGTERM, then SIGKILL if it does not exit (a python grpc server
 * may hang at exit; the test must not).
 */
#ifndef FLINTSCHED_TEST_CHILD_H
#define FLINTSCHED_TEST_CHILD_H

#include <stddef.h>
#include <sys/types.h>

/* Runs argv (NULL-terminated, argv[0] a path); its stderr goes to log
 * (appended; NULL: the test's).  Waits at most timeout_ms (<= 0: no
 * bound) for its first stdout line, copied into line.  Returns its pid,
 * or -1 when it could not be started (line ""); a child that exits or
 * says nothing in time is still returned, with line "", for child_stop. */
pid_t child_start(const char *const *argv, const char *log, char *line,
		  size_t cap, int timeout_ms);
/* SIGTERM, then SIGKILL after timeout_s; reaps it.  Returns 0 when it
 * exited on SIGTERM, 1 when it had to be killed, -1 when pid <= 0. */
int child_stop(pid_t pid, double timeout_s);

#endif
