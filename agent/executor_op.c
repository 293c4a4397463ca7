/*
 * Executor ops (executor_int.h): one struct xop per create/delete in
 * flight, its list in the executor, and how it ends.  The bottom of the
 * executor: calls only libev, libcurl and libc.
 */
#include "agent/executor_int.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void xop_free(struct xop *op)
{
	if (!op)
		return;
	if (op->out)
		fclose(op->out);
	if (op->err)
		fclose(op->err);
	if (op->hdrs)
		curl_slist_free_all(op->hdrs);
	if (op->easy)
		curl_easy_cleanup(op->easy);
	free(op->body);
	free(op->host);
	free(op->id);
	free(op->spec);
	free(op->uid);
	free(op->ns);
	free(op);
}

void xop_unlink(struct xop *op)
{
	agent_executor *x = op->x;

	if (op->prev)
		op->prev->next = op->next;
	else
		x->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	x->n_ops--;
	ev_timer_stop(x->loop, &op->timer);
	if (op->pid > 0)
		ev_child_stop(x->loop, &op->child);
}

void xop_finish(struct xop *op, const char *err, const char *uid)
{
	xop_unlink(op);
	op->cb(op->arg, err, uid);
	xop_free(op);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The spec's top-level namespace, "default" when absent, unreadable or
 * not a short string (parsed: a nested "namespace" must not count). */
static char *spec_namespace(const char *spec, size_t len)
{
	json_t *root = len ? json_loadb(spec, len, 0, NULL) : NULL;
	const char *ns = json_string_value(json_object_get(root, "namespace"));
	char *r = strdup(ns && *ns && strlen(ns) < 64 ? ns : "default");

	json_decref(root);
	return r;
}

struct xop *xop_new(agent_executor *x, enum xop_action action,
		    const char *host, const char *id, const char *spec,
		    size_t spec_len, const char *uid, agent_executor_cb cb,
		    void *arg)
{
	struct xop *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->x = x;
	op->action = action;
	op->cb = cb;
	op->arg = arg;
	op->host = strdup(host);
	op->id = strdup(id);
	op->uid = dup_or_null(uid && *uid ? uid : NULL);
	op->spec = malloc(spec_len + 1);
	op->spec_len = spec_len;
	if (!op->host || !op->id || !op->spec || (uid && *uid && !op->uid)) {
		xop_free(op);
		return NULL;
	}
	if (spec_len)
		memcpy(op->spec, spec, spec_len);
	op->spec[spec_len] = '\0';
	op->ns = spec_namespace(op->spec, spec_len);
	if (!op->ns) {
		xop_free(op);
		return NULL;
	}
	ev_init(&op->timer, NULL);
	op->timer.data = op;
	op->next = x->ops;
	if (x->ops)
		x->ops->prev = op;
	x->ops = op;
	x->n_ops++;
	return op;
}
