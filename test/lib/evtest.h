/*
 * evtest — run a libev loop until something happens, with a timeout guard.
 * For tests: no sleeps standing in for synchronisation.
 *
 *   bool done = false;
 *   start_call(..., on_done, &done);           // callback sets done = true
 *   assert_true(evtest_run_until(loop, &done, 5.0));
 *
 * The guard is an ev_timer on the same loop, stopped before returning.
 */
#ifndef FLINTSCHED_TEST_EVTEST_H
#define FLINTSCHED_TEST_EVTEST_H

#include <stdbool.h>

struct ev_loop;

/* Runs loop iterations until *flag is true (returns true) or timeout_s
 * seconds passed (returns false).  Returns true at once if *flag is
 * already set. */
bool evtest_run_until(struct ev_loop *loop, const bool *flag, double timeout_s);

/* Same, until *counter >= target. */
bool evtest_run_until_count(struct ev_loop *loop, const int *counter,
			    int target, double timeout_s);

/* Runs the loop for exactly seconds (to check that something does NOT
 * happen within a window; never to wait for something). */
void evtest_run_for(struct ev_loop *loop, double seconds);

#endif
