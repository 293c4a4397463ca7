/*
 * Reconcile (agent_int.h): the assignment watch's callbacks, the VM
 * states listed once at start before it, and each VM driven towards its
 * assignment through the executor, once its status confirms it (a VM is
 * created only for what a coordinator placed: confirm.c).  Calls
 * confirm.c, vm.c, host.c, swatch.c and executor.h below it; the executor
 * and confirm.c answer through their callbacks.
 */
#include "agent/agent_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/spec.h"

static void vm_drive(struct vm *v);

static void vm_created(void *arg, const char *err, const char *uid)
{
	struct vm *v = arg;
	struct host *h = v->h;

	v->busy = false;
	if (uid && *uid && (!v->uid || strcmp(v->uid, uid) != 0)) {
		char *u = strdup(uid);

		if (u) {
			free(v->uid);
			v->uid = u;
		} else {
			fs_error("%s: out of memory keeping VM %s's uid",
				 h->name, v->id);
		}
	}
	if (err) {
		fs_warn("%s: creating VM %s failed: %s", h->name, v->id, err);
		agent_vm_state_write(v, VM_FAILED, err);
	} else {
		fs_info("%s: VM %s created%s%s", h->name, v->id,
			v->uid ? ", uid " : "", v->uid ? v->uid : "");
		agent_vm_state_write(v, VM_RUNNING, NULL);
	}
	agent_host_maybe_report(h, false);
	vm_drive(v); /* unassigned meanwhile? */
}

static void vm_deleted(void *arg, const char *err, const char *uid)
{
	struct vm *v = arg;
	struct host *h = v->h;

	(void)uid;
	v->busy = false;
	if (err) {
		/* Keep the state: the next restart's reconciliation retries. */
		fs_warn("%s: deleting VM %s failed: %s", h->name, v->id, err);
		if (!v->assigned) {
			agent_vm_forget(v);
			return;
		}
		if (v->state_request_rev &&
		    v->state_request_rev != v->request_rev) {
			/* The old revision's VM stays: the new one failed
			 * here (the coordinator places it elsewhere). */
			agent_vm_state_write(v, VM_FAILED, err);
			return;
		}
	} else {
		fs_info("%s: VM %s deleted", h->name, v->id);
		if (!v->assigned) {
			agent_vm_state_write(v, VM_NONE, NULL);
			agent_vm_forget(v);
			agent_host_maybe_report(h, false);
			return;
		}
		v->state = VM_NONE;
		free(v->uid); /* the next create is a new VM */
		v->uid = NULL;
	}
	vm_drive(v); /* re-assigned meanwhile */
}

/* Moves v towards what its assignment asks. */
static void vm_drive(struct vm *v)
{
	struct host *h = v->h;
	agent *a = h->a;
	int r;

	if (v->busy || !a->vms_listed || v->zombie)
		return;
	/* A VM of another request revision on this host (the request was
	 * rewritten while we were down, and placed here again at attempt
	 * 1): the old VM goes first, whatever its state (a stale "failed"
	 * too), then the new one is created.  A state record without a
	 * request_rev (older agents) is taken as this revision's; a refused
	 * one is of no VM (nothing to delete). */
	if (v->assigned && v->state != VM_NONE && v->state != VM_REFUSED &&
	    v->state_request_rev &&
	    v->state_request_rev != v->request_rev) {
		fs_info("%s: VM %s is of request revision %" PRId64
			", assigned %" PRId64 ": replacing it",
			h->name, v->id, v->state_request_rev, v->request_rev);
		goto del;
	}
	if (v->assigned) {
		bool current = v->state_attempt == v->attempt;

		if (current && (v->state == VM_RUNNING || v->state == VM_FAILED))
			return;
		if (v->cf != CF_OK || v->cf_rrev != v->request_rev ||
		    v->cf_attempt != v->attempt) {
			agent_confirm_want(v); /* no-op while asked or refused */
			return;
		}
		/* CREATING of this attempt = outcome unknown (we died
		 * mid-create): the executor finds it by name, or creates. */
		fs_info("%s: creating VM %s (attempt %" PRId64 ") with %s",
			h->name, v->id, v->attempt, agent_executor_name(a->x));
		if ((!current || v->state != VM_CREATING) &&
		    agent_executor_has_effects(a->x))
			agent_vm_state_write(v, VM_CREATING, NULL);
		r = agent_executor_create(a->x, h->name, v->id, v->spec,
					  strlen(v->spec), v->uid, vm_created, v);
		if (r < 0) {
			agent_vm_state_write(v, VM_FAILED, strerror(-r));
			return;
		}
		v->busy = true;
		agent_host_maybe_report(h, false);
		return;
	}
	if (v->state == VM_REFUSED) /* nothing was created: the record goes */
		agent_vm_state_write(v, VM_NONE, NULL);
	if (v->state == VM_NONE) {
		agent_vm_forget(v);
		return;
	}
	fs_info("%s: deleting VM %s (no assignment)", h->name, v->id);
del:
	r = agent_executor_delete(a->x, h->name, v->id, v->spec ? v->spec : "",
				  v->spec ? strlen(v->spec) : 0, v->uid,
				  vm_deleted, v);
	if (r < 0) {
		fs_warn("%s: deleting VM %s: %s", h->name, v->id, strerror(-r));
		return;
	}
	v->busy = true;
}

void agent_reconcile_confirmed(struct vm *v, const char *refused)
{
	struct host *h = v->h;
	char msg[600];

	if (!refused) {
		vm_drive(v);
		return;
	}
	snprintf(msg, sizeof(msg),
		 "assignment not confirmed by its status: %s; nothing created",
		 refused);
	fs_warn("%s: assignment %s/assign/%s/%s refused: %s", h->name,
		h->a->prefix, h->name, v->id, msg);
	/* Said in the VM's record too, where etcdctl shows it, unless that
	 * record is a VM's that exists (of another attempt or revision). */
	if (v->state == VM_NONE || v->state == VM_REFUSED)
		agent_vm_state_write(v, VM_REFUSED, msg);
}

/* The assignment's spec (without scheduling), attempt, and what it takes
 * of the host: the coordinator validated the request before it committed
 * it, so a missing size counts as 0 rather than refusing the VM. */
static int assign_parse(const char *val, size_t len, char **ret_spec,
			int64_t *ret_attempt, int64_t *ret_rrev,
			struct fs_res *need, char **ret_group, char *err,
			size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(val, len, 0, &je), *req, *att, *g, *rr;
	char *spec, *group = NULL;

	if (!root || !json_is_object(root)) {
		snprintf(err, errlen, "invalid JSON: %s",
			 root ? "not an object" : je.text);
		json_decref(root);
		return -EINVAL;
	}
	req = json_object_get(root, "request");
	att = json_object_get(root, "attempt");
	if (!json_is_object(req)) {
		snprintf(err, errlen, "request: %s",
			 req ? "must be an object" : "missing");
		json_decref(root);
		return -EINVAL;
	}
	if (att && (!json_is_integer(att) || json_integer_value(att) < 1)) {
		snprintf(err, errlen, "attempt: must be an integer >= 1");
		json_decref(root);
		return -EINVAL;
	}
	fs_spec_res(req, need); /* as the coordinator counted it */
	/* The group P/alloc/<host> counts it in (fs_need_group): its hard
	 * group (anti_affinity / topology_spread), else its spread group. */
	g = json_object_get(json_object_get(json_object_get(req, "scheduling"),
					    "anti_affinity"),
			    "group");
	if (!json_is_string(g))
		g = json_object_get(
		    json_object_get(json_object_get(req, "scheduling"),
				    "topology_spread"),
		    "group");
	if (!json_is_string(g))
		g = json_object_get(json_object_get(req, "scheduling"),
				    "spread");
	if (json_is_string(g) && !(group = strdup(json_string_value(g)))) {
		json_decref(root);
		return -ENOMEM;
	}
	json_object_del(req, "scheduling");
	spec = json_dumps(req, JSON_COMPACT);
	*ret_attempt = att ? (int64_t)json_integer_value(att) : 1;
	rr = json_object_get(root, "request_rev");
	*ret_rrev = json_is_integer(rr) ? (int64_t)json_integer_value(rr) : 0;
	json_decref(root);
	if (!spec) {
		free(group);
		return -ENOMEM;
	}
	*ret_spec = spec;
	*ret_group = group;
	return 0;
}

/*
 * Keeps h->alloc equal to the sum over the host's assignments, as
 * P/alloc/<host> is (the coordinator writes both in one txn), so that the
 * agent needs no watch of P/alloc/: one watch event less per placement.
 */
static void vm_count(struct vm *v, bool on)
{
	if (v->counted == on)
		return;
	if (fs_alloc_add(&v->h->alloc, &v->need, v->group, on ? 1 : -1) < 0) {
		fs_warn("%s: out of memory counting %s; bids may be off",
			v->h->name, v->id);
		return;
	}
	v->counted = on;
}

void agent_reconcile_assign_kv(agent *a, struct host *scope,
			       const char *key, const char *val, size_t len,
			       bool deleted)
{
	const char *id;
	struct host *h = agent_host_of_key(a, key, strlen("assign"), &id);
	struct vm *v;
	char err[256], *spec = NULL, *group = NULL;
	int64_t attempt = 0, rrev = 0;
	struct fs_res need = {0};

	if (!h || !id || !fs_name_valid(id) || (scope && h != scope))
		return;
	if (deleted) {
		v = agent_vm_find(h, id, false);
		if (!v || !v->assigned)
			return;
		v->assigned = false;
		vm_count(v, false);
		v->seen = true;
		fs_info("%s: assignment of %s removed", h->name, id);
		vm_drive(v);
		return;
	}
	if (assign_parse(val, len, &spec, &attempt, &rrev, &need, &group, err,
			 sizeof(err)) < 0) {
		fs_warn("%s: malformed assignment skipped: %s", key, err);
		return;
	}
	v = agent_vm_find(h, id, true);
	if (!v) {
		free(spec);
		free(group);
		return;
	}
	v->seen = true;
	if (v->assigned && v->attempt == attempt && v->request_rev == rrev) {
		free(spec); /* re-list: nothing new */
		free(group);
		return;
	}
	vm_count(v, false);
	free(v->spec);
	free(v->group);
	v->spec = spec;
	v->group = group;
	v->need = need;
	v->attempt = attempt;
	v->request_rev = rrev;
	v->assigned = true;
	vm_count(v, true);
	fs_info("%s: assigned %s (attempt %" PRId64 ")", h->name, id, attempt);
	vm_drive(v);
}

void agent_reconcile_assign_mark(agent *a, struct host *scope, bool begin)
{
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct vm *v, *next;

		if (scope && scope != &a->hosts[i])
			continue;
		for (v = a->hosts[i].vms; v; v = next) {
			next = v->next;
			if (begin) {
				v->seen = false;
			} else if (!v->seen && v->assigned) {
				v->assigned = false;
				vm_count(v, false);
				vm_drive(v);
			}
		}
	}
}

/* ---- startup: VM states first, then assignments ----------------------- */

/* The VM state listing again in a second (w_assign's timer is ours
 * until it succeeds). */
static void vms_list_later(agent *a)
{
	ev_timer_stop(a->loop, &a->w_assign.retry);
	ev_timer_set(&a->w_assign.retry, 1.0, 0);
	ev_timer_start(a->loop, &a->w_assign.retry);
}

static void vms_listed_cb(void *arg, const struct etcd_error *err,
			  const struct etcd_range_result *res)
{
	agent *a = arg;

	if (a->stopping || (err && err->code == ETCD_ECANCELED))
		return;
	if (err) {
		/* Without it we could create twice: wait for etcd. */
		fs_warn("listing VM states failed: %s; retrying",
			agent_err_str(err));
		vms_list_later(a);
		return;
	}
	for (size_t i = 0; i < res->n_kvs; i++) {
		const struct etcd_kv *kv = &res->kvs[i];
		const char *id;
		struct host *h =
			agent_host_of_key(a, kv->key, strlen("vms"), &id);
		json_t *o, *st, *uid, *att;
		struct vm *v;

		if (!h || !id || !fs_name_valid(id))
			continue;
		o = json_loadb(kv->value, kv->value_len, 0, NULL);
		st = json_object_get(o, "state");
		if (!json_is_string(st)) {
			fs_warn("%s: malformed VM state skipped", kv->key);
			json_decref(o);
			continue;
		}
		v = agent_vm_find(h, id, true);
		if (!v) {
			json_decref(o);
			continue;
		}
		for (int k = VM_CREATING; k <= VM_REFUSED; k++)
			if (strcmp(json_string_value(st),
				   agent_vm_state_names[k]) == 0)
				v->state = (enum vm_state)k;
		if (v->state == VM_NONE) /* "deleted" or unknown */
			v->state = VM_FAILED;
		uid = json_object_get(o, "uid");
		if (json_is_string(uid) && *json_string_value(uid)) {
			free(v->uid); /* listed again after a failure */
			v->uid = strdup(json_string_value(uid));
			if (!v->uid) {
				/* A VM without its uid could be created
				 * twice: list again. */
				json_decref(o);
				fs_error("out of memory listing VM states; "
					 "retrying");
				vms_list_later(a);
				return;
			}
		}
		att = json_object_get(o, "attempt");
		v->state_attempt = json_is_integer(att)
					   ? (int64_t)json_integer_value(att)
					   : 1;
		att = json_object_get(o, "request_rev");
		v->state_request_rev = json_is_integer(att)
					       ? (int64_t)json_integer_value(att)
					       : 0;
		json_decref(o);
	}
	a->vms_listed = true;
	fs_info("%zu VM state record(s) found; reconciling with assignments",
		res->n_kvs);
	/* Now the assignments: the list's mark/sweep drives every VM. */
	if (!a->per_host) {
		agent_swatch_start(&a->w_assign);
		return;
	}
	ev_timer_stop(a->loop, &a->w_assign.retry);
	for (unsigned i = 0; i < a->n_hosts; i++)
		agent_swatch_start(&a->hosts[i].w->assign);
}

static void vms_list(agent *a)
{
	struct etcd_range_req req = {0};
	char key[KEY_MAX];

	if (a->n_sim)
		snprintf(key, sizeof(key), "%s/vms/", a->prefix);
	else
		snprintf(key, sizeof(key), "%s/vms/%s/", a->prefix,
			 a->hosts[0].name);
	req.key = key;
	req.prefix = true;
	if (etcd_kv_range(a->etcd, &req, vms_listed_cb, a) < 0)
		vms_list_later(a);
}

static void vms_list_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	vms_list(w->data);
}

/* After the assignment list: VMs whose state has no assignment. */
void agent_reconcile_assign_synced(agent *a, struct host *scope)
{
	for (unsigned i = 0; i < a->n_hosts; i++) {
		struct vm *v, *next;

		if (scope && scope != &a->hosts[i])
			continue;
		for (v = a->hosts[i].vms; v; v = next) {
			next = v->next;
			if (!v->assigned)
				vm_drive(v);
		}
	}
}

void agent_reconcile_start(agent *a)
{
	/* Until the VM states are listed, w_assign's retry timer lists
	 * them again (vms_listed_cb hands the timer back to the watch). */
	ev_timer_init(&a->w_assign.retry, vms_list_retry_cb, 1.0, 0);
	a->w_assign.retry.data = a;
	vms_list(a);
}
