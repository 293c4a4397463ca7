/*
 * /healthz and /metrics of the agent (agent_int.h): 200 when every host
 * is registered under a live lease, else 503; Prometheus text.  Reads the
 * agent's structs and calls nothing of agent/.
 */
#include "agent/agent_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int agent_http_handle(void *arg, const char *path, char **body,
		      const char **type)
{
	agent *a = arg;
	unsigned reg = 0;
	int64_t vms = 0;

	for (unsigned i = 0; i < a->n_hosts; i++) {
		reg += a->hosts[i].registered;
		vms += a->hosts[i].rec.vms;
	}
	if (strcmp(path, "/healthz") == 0) {
		bool ok = reg == a->n_hosts && !a->stopping;
		if (asprintf(body, "%s: %u of %u host(s) registered\n",
			     ok ? "ok" : "unhealthy", reg, a->n_hosts) < 0)
			*body = NULL;
		return ok ? 200 : 503;
	}
	if (strcmp(path, "/metrics") == 0) {
		*type = "text/plain; version=0.0.4";
		if (asprintf(body,
			     "# HELP flintsched_agent_hosts hosts served\n"
			     "# TYPE flintsched_agent_hosts gauge\n"
			     "flintsched_agent_hosts %u\n"
			     "# HELP flintsched_agent_hosts_registered hosts "
			     "registered under a live lease\n"
			     "# TYPE flintsched_agent_hosts_registered gauge\n"
			     "flintsched_agent_hosts_registered %u\n"
			     "# HELP flintsched_agent_vms VMs running\n"
			     "# TYPE flintsched_agent_vms gauge\n"
			     "flintsched_agent_vms %" PRId64 "\n"
			     "# HELP flintsched_agent_bids_total bids written\n"
			     "# TYPE flintsched_agent_bids_total counter\n"
			     "flintsched_agent_bids_total %" PRIu64 "\n"
			     "# HELP flintsched_agent_assignments_refused_total "
			     "assignments their status did not confirm "
			     "(nothing created)\n"
			     "# TYPE flintsched_agent_assignments_refused_total "
			     "counter\n"
			     "flintsched_agent_assignments_refused_total %" PRIu64
			     "\n"
			     "# HELP flintsched_agent_util measured use, 0..1\n"
			     "# TYPE flintsched_agent_util gauge\n"
			     "flintsched_agent_util{resource=\"cpu\"} %.4f\n"
			     "flintsched_agent_util{resource=\"memory\"} %.4f\n",
			     a->n_hosts, reg, vms, a->n_bids, a->n_refused,
			     a->util_cpu,
			     a->util_mem) < 0)
			*body = NULL;
		return 200;
	}
	*body = strdup("not found: try /healthz or /metrics\n");
	return 404;
}
