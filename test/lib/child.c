/* child.h: a test's helper server, started, waited for, stopped. */
#include "test/lib/child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pid_t child_start(const char *const *argv, const char *log, char *line,
		  size_t cap, int timeout_ms)
{
	int fds[2];
	pid_t pid;
	FILE *in;

	line[0] = '\0';
	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)
			     : -1;

		/* Dies with the test, even one cut short by a failed
		 * assert (else it would hold run.sh's pipe open). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0)
			dup2(fd, 2);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	if (timeout_ms > 0) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};

		if (poll(&pfd, 1, timeout_ms) != 1) {
			close(fds[0]);
			return pid;
		}
	}
	in = fdopen(fds[0], "r");
	if (!in) {
		close(fds[0]);
		return pid;
	}
	/* Blocks until it listens (or dies: EOF). */
	if (!fgets(line, (int)cap, in))
		line[0] = '\0';
	fclose(in);
	return pid;
}

int child_stop(pid_t pid, double timeout_s)
{
	struct timespec nap = {0, 50 * 1000 * 1000};

	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	for (double t = 0; t < timeout_s; t += 0.05) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return 0;
		nanosleep(&nap, NULL);
	}
	fprintf(stderr, "helper %d ignored SIGTERM: killed\n", (int)pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 1;
}
