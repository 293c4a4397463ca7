/* Executors (executor.h): dispatch, simulate, exec. */
#include "agent/executor_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void xop_free(struct xop *op)
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

static void xop_unlink(struct xop *op)
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

/* ---- simulate --------------------------------------------------------- */

static void sim_done(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct xop *op = w->data;
	char uid[96];

	(void)loop;
	(void)revents;
	snprintf(uid, sizeof(uid), "sim-%s", op->id);
	xop_finish(op, NULL, op->action == XOP_CREATE ? uid : NULL);
}

/* ---- exec ------------------------------------------------------------- */

/* Last non-empty line (or first, when first) of f, into buf. */
static void file_line(FILE *f, bool first, char *buf, size_t len)
{
	char line[512];

	buf[0] = '\0';
	if (!f)
		return;
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		snprintf(buf, len, "%s", line);
		if (first)
			break;
	}
}

static void exec_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct xop *op = w->data;
	char msg[600], line[512], uid[256] = "";
	int st = w->rstatus;

	(void)loop;
	(void)revents;
	op->pid = 0; /* reaped */
	ev_child_stop(loop, w);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		if (op->action == XOP_CREATE)
			file_line(op->out, true, uid, sizeof(uid));
		xop_finish(op, NULL, uid[0] ? uid : op->uid);
		return;
	}
	file_line(op->err, false, line, sizeof(line));
	if (WIFEXITED(st))
		snprintf(msg, sizeof(msg), "%s command exited %d%s%s",
			 op->action == XOP_CREATE ? "create" : "delete",
			 WEXITSTATUS(st), line[0] ? ": " : "", line);
	else
		snprintf(msg, sizeof(msg), "%s command killed by signal %d%s%s",
			 op->action == XOP_CREATE ? "create" : "delete",
			 WIFSIGNALED(st) ? WTERMSIG(st) : 0,
			 line[0] ? ": " : "", line);
	xop_finish(op, msg, NULL);
}

static void exec_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct xop *op = w->data;
	char msg[128];

	(void)loop;
	(void)revents;
	/* The whole process group: sh and whatever it started. */
	kill(-op->pid, SIGKILL);
	snprintf(msg, sizeof(msg), "%s command timed out after %.0f s",
		 op->action == XOP_CREATE ? "create" : "delete",
		 op->x->exec_timeout);
	/* Reaped by libev's SIGCHLD handler once our watcher is gone. */
	xop_finish(op, msg, NULL);
}

static int exec_start(struct xop *op)
{
	agent_executor *x = op->x;
	const char *cmd = op->action == XOP_CREATE ? x->create_cmd
						   : x->delete_cmd;
	FILE *in = NULL;
	pid_t pid;

	if (!cmd || !*cmd) {
		/* Nothing configured: the delete is a no-op. */
		if (op->action == XOP_DELETE) {
			ev_timer_init(&op->timer, sim_done, 0, 0);
			ev_timer_start(x->loop, &op->timer);
			return 0;
		}
		return -EINVAL;
	}
	in = tmpfile();
	op->out = tmpfile();
	op->err = tmpfile();
	if (!in || !op->out || !op->err)
		goto fail;
	if (op->spec_len && fwrite(op->spec, 1, op->spec_len, in) != op->spec_len)
		goto fail;
	if (fflush(in) != 0)
		goto fail;
	rewind(in);
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0) {
		sigset_t all;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		dup2(fileno(in), 0);
		dup2(fileno(op->out), 1);
		dup2(fileno(op->err), 2);
		setenv("FLINTSCHED_ACTION",
		       op->action == XOP_CREATE ? "create" : "delete", 1);
		setenv("FLINTSCHED_VM_ID", op->id, 1);
		setenv("FLINTSCHED_HOST", op->host, 1);
		setenv("FLINTSCHED_NAMESPACE", op->ns ? op->ns : "default", 1);
		setenv("FLINTSCHED_VM_UID", op->uid ? op->uid : "", 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	fclose(in);
	op->pid = pid;
	ev_child_init(&op->child, exec_child_cb, pid, 0);
	op->child.data = op;
	ev_child_start(x->loop, &op->child);
	ev_timer_init(&op->timer, exec_timeout_cb, x->exec_timeout, 0);
	ev_timer_start(x->loop, &op->timer);
	return 0;
fail:
	if (in)
		fclose(in);
	return -errno ? -errno : -EIO;
}

/* ---- dispatch --------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int agent_executor_new(struct ev_loop *loop, const struct agent_config *cfg,
		       int type, agent_executor **ret_x, char *err,
		       size_t errlen)
{
	agent_executor *x = calloc(1, sizeof(*x));
	int r = -ENOMEM;

	if (!x)
		return -ENOMEM;
	x->loop = loop;
	x->type = type;
	if (type == AGENT_EXEC_EXEC) {
		if (!cfg->exec_create || !*cfg->exec_create) {
			snprintf(err, errlen,
				 "executor.exec.create: required with "
				 "executor.type exec");
			r = -EINVAL;
			goto fail;
		}
		x->create_cmd = strdup(cfg->exec_create);
		x->delete_cmd = strdup(cfg->exec_delete ? cfg->exec_delete
							: "");
		x->exec_timeout = (double)cfg->exec_timeout_s;
		if (!x->create_cmd || !x->delete_cmd)
			goto fail;
	} else if (type == AGENT_EXEC_FLINTLOCK) {
		r = agent_flintlock_init(x, cfg, err, errlen);
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

		if (op->pid > 0)
			kill(-op->pid, SIGKILL);
		if (op->easy)
			agent_flintlock_abort(op);
		xop_unlink(op);
		xop_free(op);
	}
	if (x->type == AGENT_EXEC_FLINTLOCK)
		agent_flintlock_fini(x);
	free(x->create_cmd);
	free(x->delete_cmd);
	free(x);
	return NULL;
}

bool agent_executor_has_effects(const agent_executor *x)
{
	return x->type != AGENT_EXEC_SIMULATE;
}

const char *agent_executor_name(const agent_executor *x)
{
	static const char *const names[] = {"flintlock", "exec", "simulate"};

	return x->type >= 0 && x->type <= AGENT_EXEC_SIMULATE ? names[x->type]
							       : "?";
}

unsigned agent_executor_active(const agent_executor *x)
{
	return x->n_ops;
}

/* namespace of the spec, "default" when absent or unreadable. */
static char *spec_namespace(const char *spec, size_t len)
{
	const char *p, *q;
	char *ns;

	/* A cheap scan is enough here: flintlock's own validation
	 * runs later, and a wrong guess only affects the env var /
	 * list lookup, which the flintlock executor re-derives. */
	p = memmem(spec, len, "\"namespace\"", 11);
	if (p) {
		p += 11;
		while (p < spec + len && (*p == ' ' || *p == ':'))
			p++;
		if (p < spec + len && *p == '"') {
			q = memchr(p + 1, '"', (size_t)(spec + len - p - 1));
			if (q && q - p - 1 > 0 && q - p - 1 < 64) {
				ns = strndup(p + 1, (size_t)(q - p - 1));
				return ns;
			}
		}
	}
	return strdup("default");
}

static int op_start(agent_executor *x, enum xop_action action,
		    const char *host, const char *id, const char *spec,
		    size_t spec_len, const char *uid, agent_executor_cb cb,
		    void *arg)
{
	struct xop *op = calloc(1, sizeof(*op));
	int r;

	if (!op)
		return -ENOMEM;
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
		return -ENOMEM;
	}
	if (spec_len)
		memcpy(op->spec, spec, spec_len);
	op->spec[spec_len] = '\0';
	op->ns = spec_namespace(op->spec, spec_len);
	if (!op->ns) {
		xop_free(op);
		return -ENOMEM;
	}
	ev_init(&op->timer, NULL);
	op->timer.data = op;
	op->next = x->ops;
	if (x->ops)
		x->ops->prev = op;
	x->ops = op;
	x->n_ops++;
	switch (x->type) {
	case AGENT_EXEC_SIMULATE:
		ev_timer_init(&op->timer, sim_done, 0, 0);
		ev_timer_start(x->loop, &op->timer);
		return 0;
	case AGENT_EXEC_EXEC:
		r = exec_start(op);
		break;
	default:
		agent_flintlock_start(op);
		return 0;
	}
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
