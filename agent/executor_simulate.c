/*
 * The simulate executor (executor.h): every op succeeds at the next loop
 * iteration.  Calls down into executor_op.c only.
 */
#include "agent/executor_int.h"

#include <stdio.h>

static void sim_done(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct xop *op = w->data;
	char uid[96];

	(void)loop;
	(void)revents;
	snprintf(uid, sizeof(uid), "sim-%s", op->id);
	xop_finish(op, NULL, op->action == XOP_CREATE ? uid : NULL);
}

static int sim_start(struct xop *op)
{
	ev_timer_init(&op->timer, sim_done, 0, 0);
	ev_timer_start(op->x->loop, &op->timer);
	return 0;
}

const struct executor_ops executor_simulate_ops = {
	.name = "simulate",
	.has_effects = false,
	.start = sim_start,
};
