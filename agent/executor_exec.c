/*
 * The exec executor (executor.h): executor.exec.create / .delete run with
 * `sh -c` in a process group of their own, watched with ev_child and a
 * timeout.  Calls down into executor_op.c only.
 */
#include "agent/executor_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* No delete command configured: the delete succeeds at once (later). */
static void noop_done(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	xop_finish(w->data, NULL, NULL);
}

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
			ev_timer_init(&op->timer, noop_done, 0, 0);
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

static int exec_init(agent_executor *x, const struct agent_config *cfg,
		     char *err, size_t errlen)
{
	if (!cfg->exec_create || !*cfg->exec_create) {
		snprintf(err, errlen,
			 "executor.exec.create: required with "
			 "executor.type exec");
		return -EINVAL;
	}
	x->create_cmd = strdup(cfg->exec_create);
	x->delete_cmd = strdup(cfg->exec_delete ? cfg->exec_delete : "");
	x->exec_timeout = (double)cfg->exec_timeout_s;
	if (!x->create_cmd || !x->delete_cmd)
		return -ENOMEM;
	return 0;
}

static void exec_fini(agent_executor *x)
{
	free(x->create_cmd);
	free(x->delete_cmd);
	x->create_cmd = x->delete_cmd = NULL;
}

static void exec_abort(struct xop *op)
{
	if (op->pid > 0)
		kill(-op->pid, SIGKILL);
}

const struct executor_ops executor_exec_ops = {
	.name = "exec",
	.has_effects = true,
	.init = exec_init,
	.fini = exec_fini,
	.start = exec_start,
	.abort = exec_abort,
};
