/* flintlock executor: placeholder until the HTTP client lands. */
#include "agent/executor_int.h"

#include <errno.h>
#include <stdio.h>

int agent_flintlock_init(agent_executor *x, const struct agent_config *cfg,
			 char *err, size_t errlen)
{
	(void)x;
	(void)cfg;
	snprintf(err, errlen, "executor.type: flintlock not implemented yet");
	return -EINVAL;
}

void agent_flintlock_fini(agent_executor *x)
{
	(void)x;
}

void agent_flintlock_start(struct xop *op)
{
	xop_finish(op, "flintlock not implemented", NULL);
}

void agent_flintlock_abort(struct xop *op)
{
	(void)op;
}
