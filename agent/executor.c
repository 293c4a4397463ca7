/*
 * Executors (executor.h): the public API, dispatched through the ops
 * table of the configured implementation (executor_int.h).  Calls down
 * into the implementations (simulate, exec, flintlock) through their
 * tables and into executor_op.c; nothing calls up into it.
 */
#include "agent/executor_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* Indexed by AGENT_EXEC_*. */
static const struct executor_ops *const impls[] = {
	[AGENT_EXEC_FLINTLOCK] = &executor_flintlock_ops,
	[AGENT_EXEC_EXEC] = &executor_exec_ops,
	[AGENT_EXEC_SIMULATE] = &executor_simulate_ops,
};

int agent_executor_new(struct ev_loop *loop, const struct agent_config *cfg,
		       int type, agent_executor **ret_x, char *err,
		       size_t errlen)
{
	agent_executor *x;
	int r;

	if (type < 0 || (size_t)type >= sizeof(impls) / sizeof(impls[0])) {
		snprintf(err, errlen, "executor.type: unknown (%d)", type);
		return -EINVAL;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->loop = loop;
	x->type = type;
	x->impl = impls[type];
	if (x->impl->init) {
		r = x->impl->init(x, cfg, err, errlen);
		if (r < 0)
			goto fail;
	}
	*ret_x = x;
	return 0;
fail:
	agent_executor_free(x);
	return r;
}

agent_executor *agent_executor_free(agent_executor *x)
{
	if (!x)
		return NULL;
	while (x->ops) {
		struct xop *op = x->ops;

		if (x->impl->abort)
			x->impl->abort(op);
		xop_unlink(op);
		xop_free(op);
	}
	if (x->impl->fini)
		x->impl->fini(x);
	free(x);
	return NULL;
}

bool agent_executor_has_effects(const agent_executor *x)
{
	return x->impl->has_effects;
}

const char *agent_executor_name(const agent_executor *x)
{
	return x->impl->name;
}

unsigned agent_executor_active(const agent_executor *x)
{
	return x->n_ops;
}

static int op_start(agent_executor *x, enum xop_action action,
		    const char *host, const char *id, const char *spec,
		    size_t spec_len, const char *uid, agent_executor_cb cb,
		    void *arg)
{
	struct xop *op = xop_new(x, action, host, id, spec, spec_len, uid, cb,
				 arg);
	int r;

	if (!op)
		return -ENOMEM;
	r = x->impl->start(op);
	if (r < 0) {
		xop_unlink(op);
		xop_free(op);
	}
	return r;
}

int agent_executor_create(agent_executor *x, const char *host, const char *id,
			  const char *spec, size_t spec_len, const char *uid,
			  agent_executor_cb cb, void *arg)
{
	return op_start(x, XOP_CREATE, host, id, spec, spec_len, uid, cb, arg);
}

int agent_executor_delete(agent_executor *x, const char *host, const char *id,
			  const char *spec, size_t spec_len, const char *uid,
			  agent_executor_cb cb, void *arg)
{
	return op_start(x, XOP_DELETE, host, id, spec, spec_len, uid, cb, arg);
}
