/* Run a libev loop until a flag, a count or a timeout. */
#include "test/lib/evtest.h"

#include <stddef.h>

#include <ev.h>

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	*(bool *)w->data = true;
}

static bool run(struct ev_loop *loop, const bool *flag, const int *counter,
		int target, double timeout_s)
{
	bool expired = false;
	ev_timer guard;

	ev_now_update(loop);
	ev_timer_init(&guard, on_guard, timeout_s > 0 ? timeout_s : 0., 0.);
	guard.data = &expired;
	ev_timer_start(loop, &guard);
	for (;;) {
		if (flag != NULL && *flag)
			break;
		if (counter != NULL && *counter >= target)
			break;
		if (expired)
			break;
		ev_run(loop, EVRUN_ONCE);
	}
	ev_timer_stop(loop, &guard);
	if (flag != NULL)
		return *flag;
	if (counter != NULL)
		return *counter >= target;
	return true;
}

bool evtest_run_until(struct ev_loop *loop, const bool *flag, double timeout_s)
{
	return run(loop, flag, NULL, 0, timeout_s);
}

bool evtest_run_until_count(struct ev_loop *loop, const int *counter,
			    int target, double timeout_s)
{
	return run(loop, NULL, counter, target, timeout_s);
}

void evtest_run_for(struct ev_loop *loop, double seconds)
{
	run(loop, NULL, NULL, 0, seconds);
}
