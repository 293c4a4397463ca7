/* struct ctrl's state (controller/core.h) made from the config and freed:
 * prefix, slots, batches, records.  No I/O, so that a test can build one
 * without etcd.  Calls key.c, host.c, req.c, txn.c. */
#include "controller/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ctrl_core_init(struct ctrl *c, struct ev_loop *loop,
		   const struct ctrl_config *cfg, char *err, size_t errlen)
{
	size_t plen;

	c->loop = loop;
	c->cfg = cfg;
	c->k = (unsigned)cfg->coordinators;
	c->w = (struct fs_weights){cfg->w_cpu, cfg->w_memory, cfg->w_vms};
	c->band = c->k > 1 ? cfg->partition_band : 0;
	snprintf(c->stale_reason, sizeof(c->stale_reason),
		 "host record stale (not rewritten for over %lld s)",
		 (long long)cfg->host_stale_after_s);
	c->ready_tail = &c->ready_head;
	if (cfg->name && *cfg->name) {
		snprintf(c->name, sizeof(c->name), "%s", cfg->name);
	} else if (gethostname(c->name, sizeof(c->name)) < 0) {
		strcpy(c->name, "controller");
	}
	c->name[FS_NAME_MAX] = '\0';
	if (!fs_name_valid(c->name)) {
		snprintf(err, errlen,
			 "controller.name: \"%s\" is not a valid name "
			 "([a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])); set it in the "
			 "config",
			 c->name);
		return -EINVAL;
	}
	plen = strlen(cfg->etcd.prefix);
	while (plen && cfg->etcd.prefix[plen - 1] == '/')
		plen--;
	c->prefix = ctrl_keyf("%.*s/", (int)plen, cfg->etcd.prefix);
	if (!c->prefix)
		return -ENOMEM;
	c->prefix_len = strlen(c->prefix);
	c->slots = calloc(c->k, sizeof(*c->slots));
	c->sbatch = calloc(c->k, sizeof(*c->sbatch));
	c->gbatch = calloc(c->k, sizeof(*c->gbatch));
	c->rbatch = calloc(c->k, sizeof(*c->rbatch));
	if (!c->slots || !c->sbatch || !c->gbatch || !c->rbatch)
		return -ENOMEM;
	for (unsigned i = 0; i < c->k; i++) {
		c->slots[i].name =
		    ctrl_keyf("%selection/slot-%u", c->prefix, i);
		if (!c->slots[i].name)
			return -ENOMEM;
		snprintf(c->slots[i].coord, sizeof(c->slots[i].coord),
			 "%s/slot-%u", c->name, i);
	}
	return 0;
}

void ctrl_core_clear(struct ctrl *c)
{
	ctrl_req_free_all(c); /* first: requests hold references to hosts */
	ctrl_host_free_all(c);
	ctrl_badkey_free_all(c);
	ctrl_map_clear(&c->ctrls);
	ctrl_queue_clear(&c->queue);
	for (unsigned i = 0; c->slots && i < c->k; i++) {
		free(c->slots[i].name);
		free(c->slots[i].lk_key);
		free(c->slots[i].cands);
		free(c->slots[i].camp_arg); /* a campaign cancelled unanswered */
	}
	for (unsigned i = 0; i < c->k; i++) {
		/* never sent */
		if (c->sbatch)
			ctrl_txn_free(c->sbatch[i]);
		if (c->gbatch)
			ctrl_txn_free(c->gbatch[i]);
		if (c->rbatch)
			ctrl_txn_free(c->rbatch[i]);
	}
	free(c->slots);
	free(c->sbatch);
	free(c->gbatch);
	free(c->rbatch);
	free(c->lbids);
	free(c->prefix);
	c->slots = NULL;
	c->sbatch = c->gbatch = c->rbatch = NULL;
	c->prefix = NULL;
	c->lbids = NULL;
	c->n_lbids = 0;
}
