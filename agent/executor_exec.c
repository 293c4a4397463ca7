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
#include <sys/syscall.h>
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

#define EXEC_DEFAULT_PATH                                                      \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define EXEC_N_ENV 6

/* The command's whole environment (executor.h), built before fork: the
 * child may only call async-signal-safe functions (libcurl's resolver
 * threads may hold malloc's locks at fork).  0 or -ENOMEM. */
static int exec_env(const struct xop *op, char *env[EXEC_N_ENV + 1])
{
	const char *path = getenv("PATH");
	int n = 0;

	memset(env, 0, (EXEC_N_ENV + 1) * sizeof(*env));
	if (asprintf(&env[n++], "PATH=%s",
		     path && *path ? path : EXEC_DEFAULT_PATH) < 0 ||
	    asprintf(&env[n++], "FLINTSCHED_ACTION=%s",
		     op->action == XOP_CREATE ? "create" : "delete") < 0 ||
	    asprintf(&env[n++], "FLINTSCHED_VM_ID=%s", op->id) < 0 ||
	    asprintf(&env[n++], "FLINTSCHED_HOST=%s", op->host) < 0 ||
	    asprintf(&env[n++], "FLINTSCHED_NAMESPACE=%s",
		     op->ns ? op->ns : "default") < 0 ||
	    asprintf(&env[n++], "FLINTSCHED_VM_UID=%s",
		     op->uid ? op->uid : "") < 0) {
		env[n - 1] = NULL; /* undefined after a failed asprintf */
		return -ENOMEM;
	}
	return 0;
}

static void exec_env_free(char *env[EXEC_N_ENV + 1])
{
	for (int i = 0; i < EXEC_N_ENV; i++)
		free(env[i]);
}

/* In the child: every descriptor from 3 up closed (the agent's etcd
 * and HTTP sockets, other commands' output files).  Async-signal-safe;
 * max_fd computed before fork for kernels without close_range. */
static void exec_close_from3(long max_fd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	for (long fd = 3; fd < max_fd; fd++)
		close((int)fd);
}

static int exec_start(struct xop *op)
{
	agent_executor *x = op->x;
	const char *cmd = op->action == XOP_CREATE ? x->create_cmd
						   : x->delete_cmd;
	char *env[EXEC_N_ENV + 1];
	char *const argv[] = {"sh", "-c", (char *)cmd, NULL};
	long max_fd = sysconf(_SC_OPEN_MAX);
	FILE *in = NULL;
	pid_t pid;
	int r = -EIO;

	if (!cmd || !*cmd) {
		/* Nothing configured: the delete is a no-op. */
		if (op->action == XOP_DELETE) {
			ev_timer_init(&op->timer, noop_done, 0, 0);
			ev_timer_start(x->loop, &op->timer);
			return 0;
		}
		return -EINVAL;
	}
	if (exec_env(op, env) < 0) {
		exec_env_free(env);
		return -ENOMEM;
	}
	if (max_fd < 0 || max_fd > 65536)
		max_fd = 65536;
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
		if (dup2(fileno(in), 0) < 0 || dup2(fileno(op->out), 1) < 0 ||
		    dup2(fileno(op->err), 2) < 0)
			_exit(127);
		exec_close_from3(max_fd);
		execve("/bin/sh", argv, env);
		_exit(127);
	}
	fclose(in);
	exec_env_free(env);
	op->pid = pid;
	ev_child_init(&op->child, exec_child_cb, pid, 0);
	op->child.data = op;
	ev_child_start(x->loop, &op->child);
	ev_timer_init(&op->timer, exec_timeout_cb, x->exec_timeout, 0);
	ev_timer_start(x->loop, &op->timer);
	return 0;
fail:
	r = errno ? -errno : -EIO;
	if (in)
		fclose(in);
	exec_env_free(env);
	return r;
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
