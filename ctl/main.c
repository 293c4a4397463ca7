/* flintschedctl: global options, the subcommand table, --help, exit codes. */
#include "ctl/ctl.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cmd {
	const char *name;
	int (*fn)(struct ctl *x, int argc, char **argv);
	const char *args;
	const char *summary;
	const char *help; /* the subcommand's options, or NULL */
};

static const struct cmd cmds[] = {
    {"submit", ctl_cmd_submit, "FILE|- [--id ID] [--replace] [--wait]",
     "validate a request as the controller does, then write it",
     "  --id ID       the request id (default: the file name without .json)\n"
     "  --replace     overwrite an existing request (default: refuse)\n"
     "  --wait        wait for a final phase (running, unschedulable,\n"
     "                rejected, failed) and print it; exit 1 unless running\n"
     "  --wait-timeout S  give up waiting after S seconds (default 60)\n"},
    {"get", ctl_cmd_get, "ID", "one request: phase, host, size, age, reason",
     NULL},
    {"list", ctl_cmd_list, "[--phase P] [--host H] [--selector k=v]",
     "every request, one line each",
     "  --phase P     only requests in phase P (pending, running, ...)\n"
     "  --host H      only requests placed on host H\n"
     "  --selector k=v  only requests whose scheduling.selector has k=v\n"},
    {"hosts", ctl_cmd_hosts, "[HOST]",
     "the fleet: state, capacity, allocated, free, use, VMs, labels", NULL},
    {"explain", ctl_cmd_explain, "ID [-v]",
     "why a request is where it is, in sentences",
     "  -v, --verbose  also each host's verdict, as plan computes it now\n"},
    {"plan", ctl_cmd_plan, "FILE|- [--id ID]",
     "dry run: where the request would go now, and why (writes nothing)",
     "  --id ID       the request id the tie-break hashes (default: from\n"
     "                the file name)\n"},
    {"watch", ctl_cmd_watch, "[ID]",
     "stream status changes (time, id, old -> new phase, host, reason)", NULL},
    {"delete", ctl_cmd_delete, "ID", "delete a request (and so its VM)", NULL},
    {"cordon", ctl_cmd_hostctl, "HOST",
     "no new placements on HOST (writes P/hostctl/HOST)", NULL},
    {"drain", ctl_cmd_hostctl, "HOST [--max-parallel N] [--deadline D]",
     "cordon HOST and move its VMs away (writes P/hostctl/HOST)",
     "  --max-parallel N  VMs moved at a time (default 1)\n"
     "  --deadline D      RFC 3339 time or a duration (30m, 2h) after which\n"
     "                    the rest move break-before-make\n"},
    {"uncordon", ctl_cmd_hostctl, "HOST",
     "back to normal (deletes P/hostctl/HOST)", NULL},
    {"top", ctl_cmd_top, "[--interval S] [--metrics URLS]",
     "the fleet in one screen: hosts by use, phases, placements/s",
     "  --interval S  seconds to measure placements/s over (default 2;\n"
     "                0 = no rate)\n"
     "  --metrics URLS  the controllers' /metrics (http.listen), comma\n"
     "                separated: placements/s from their\n"
     "                placements_total instead of the status watch\n"},
};
#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char global_help[] =
    "Global options (before or after the subcommand):\n"
    "  -c, --config FILE   read the etcd section of a controller or agent\n"
    "                      config (the daemons' own schema)\n"
    "      --endpoints URLS  comma separated (env ETCDCTL_ENDPOINTS)\n"
    "      --user NAME:PASSWORD  etcd user (env ETCDCTL_USER)\n"
    "      --cacert FILE   CA bundle (env ETCDCTL_CACERT)\n"
    "      --cert FILE     client certificate (env ETCDCTL_CERT)\n"
    "      --key FILE      its private key (env ETCDCTL_KEY)\n"
    "      --prefix P      key prefix (default /flintsched, or etcd.prefix)\n"
    "      --timeout D     per etcd request: seconds or 500ms, 5s\n"
    "                      (default etcd.request_timeout_ms, 5 s)\n"
    "  -o, --output FMT    table (default), wide (more columns) or json\n"
    "      --version, -h, --help\n"
    "Flags win over -c FILE; the ETCDCTL_* variables apply without -c.\n\n"
    "Exit codes: 0 done; 1 invalid input, unknown id or host, or refused\n"
    "(exists, not found, not running after --wait); 2 etcd unreachable,\n"
    "timed out, or permission denied.\n"
    "Environment: NO_COLOR disables colour (only ever on a terminal);\n"
    "FLINTSCHEDCTL_NOW (RFC 3339) fixes the clock that ages count from.\n";

static void usage(FILE *out)
{
	fprintf(out, "usage: flintschedctl [global options] COMMAND [args]\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(out, "  %-9s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(out,
		"\n%s\nflintschedctl COMMAND --help for a command's "
		"options; man flintschedctl for more.\n",
		global_help);
}

static void cmd_usage(const struct cmd *c, FILE *out)
{
	fprintf(out, "usage: flintschedctl %s %s\n  %s\n", c->name, c->args,
		c->summary);
	if (c->help)
		fprintf(out, "\nOptions:\n%s", c->help);
	fprintf(out, "\n%s", global_help);
}

static const struct cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

/* Global options taking a value, as they appear anywhere on the line. */
static const struct {
	const char *lng, *shrt;
} gopts[] = {
    {"--config", "-c"}, {"--endpoints", NULL}, {"--user", NULL},
    {"--cacert", NULL}, {"--cert", NULL},      {"--key", NULL},
    {"--prefix", NULL}, {"--timeout", NULL},   {"--output", "-o"},
};

static void gopt_set(struct ctl_conn_opts *o, const char **out, size_t i,
		     const char *v)
{
	const char **slots[] = {&o->config, &o->endpoints, &o->user,
				&o->cacert, &o->cert,	   &o->key,
				&o->prefix, NULL,	   out};

	if (slots[i])
		*slots[i] = v;
	else
		o->timeout_s = (double)ctl_duration_ms(v, true) / 1000;
}

/* Takes the global options out of argv; returns -1 on a missing value. */
static int take_globals(int *argc, char **argv, struct ctl_conn_opts *o,
			const char **out)
{
	int n = 1;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		bool hit = false;

		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[n++] = argv[i++];
			break;
		}
		for (size_t g = 0; g < sizeof(gopts) / sizeof(gopts[0]); g++) {
			size_t l = strlen(gopts[g].lng);

			if (strncmp(a, gopts[g].lng, l) == 0 && a[l] == '=') {
				gopt_set(o, out, g, a + l + 1);
				hit = true;
			} else if (strcmp(a, gopts[g].lng) == 0 ||
				   (gopts[g].shrt &&
				    strcmp(a, gopts[g].shrt) == 0)) {
				if (i + 1 >= *argc) {
					ctl_errorf(CTL_EXIT_INPUT,
						   "%s needs a value", a);
					return -1;
				}
				gopt_set(o, out, g, argv[++i]);
				hit = true;
			}
			if (hit)
				break;
		}
		if (!hit)
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	*argc = n;
	return 0;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	struct ctl_conn_opts o = {0};
	struct ctl x = {0};
	const char *output = NULL;
	const struct cmd *c;
	int rc;

	if (take_globals(&argc, argv, &o, &output) < 0)
		return CTL_EXIT_INPUT;
	if (o.timeout_s < 0)
		return ctl_errorf(CTL_EXIT_INPUT,
				  "--timeout: give seconds (5), or a duration "
				  "(500ms, 5s)");
	if (argc < 2) {
		usage(stderr);
		return CTL_EXIT_INPUT;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		c = argc > 2 ? cmd_find(argv[2]) : NULL;
		if (c)
			cmd_usage(c, stdout);
		else
			usage(stdout);
		return CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("flintschedctl %s\n", FLINTSCHED_VERSION);
		return CTL_EXIT_OK;
	}
	c = cmd_find(argv[1]);
	if (!c) {
		ctl_errorf(CTL_EXIT_INPUT,
			   "unknown command \"%s\" (see flintschedctl --help)",
			   argv[1]);
		return CTL_EXIT_INPUT;
	}
	if (wants_help(argc - 1, argv + 1)) {
		cmd_usage(c, stdout);
		return CTL_EXIT_OK;
	}
	if (!output || strcmp(output, "table") == 0)
		x.out = CTL_OUT_TABLE;
	else if (strcmp(output, "wide") == 0)
		x.out = CTL_OUT_WIDE;
	else if (strcmp(output, "json") == 0)
		x.out = CTL_OUT_JSON;
	else
		return ctl_errorf(CTL_EXIT_INPUT,
				  "-o %s: use table, wide or json", output);
	x.colour = x.out != CTL_OUT_JSON && isatty(STDOUT_FILENO) &&
		   !getenv("NO_COLOR");
	x.now_ms = ctl_now_ms();
	signal(SIGPIPE, SIG_IGN);
	rc = ctl_conn_open(&x, &o);
	if (rc)
		return rc;
	rc = c->fn(&x, argc - 1, argv + 1);
	if (fflush(stdout) != 0 && rc == 0)
		rc = CTL_EXIT_INPUT;
	ctl_conn_close(&x);
	return rc;
}
