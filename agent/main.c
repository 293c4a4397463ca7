/* flintsched-agent: see agent/agent.h and docs/DESIGN.md. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <curl/curl.h>
#include <ev.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "common/log.h"

struct main_ctx {
	struct ev_loop *loop;
	agent *a;
	const char *path;
	const char **sets;
	size_t n_sets;
	struct agent_config *cfg;
	bool stopping;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: flintsched-agent [-c FILE] [--set key=value]... "
		"[--simulate N [--per-host-watches]]\n"
		"       flintsched-agent --check-config [-c FILE] [--set ...]\n"
		"\n"
		"Host agent of flintsched: registers this host in etcd under a "
		"lease,\n"
		"bids on placement rounds and creates the VMs assigned to it.\n"
		"\n"
		"  -c, --config FILE   YAML configuration (default: "
		"built-in defaults)\n"
		"      --set key=value override one key for this run "
		"(repeatable)\n"
		"      --check-config  validate the configuration, print the "
		"error, exit 0/1\n"
		"      --simulate N    run N virtual hosts <agent.host>-0..N-1 "
		"with the\n"
		"                      simulate executor (benchmarks, demos)\n"
		"      --per-host-watches  with --simulate: each host holds its "
		"own watches\n"
		"                      (3 streams per host), as N real agents "
		"would\n"
		"      --version       print the version\n"
		"  -h, --help          this text and every configuration key\n"
		"\n"
		"Signals: SIGTERM/SIGINT exit 0 and let the lease(s) run out "
		"(a restart within\nagent.lease_ttl_s moves nothing); "
		"SIGHUP reloads\nlabels and capacity from the file.\n"
		"\nConfiguration keys:\n");
	cfg_print_help(&agent_config_schema, out);
}

static struct agent_config *config_load(const char *path, const char **sets,
					size_t n_sets, struct cfg_error *err)
{
	struct agent_config *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err->message, sizeof(err->message), "out of memory");
		return NULL;
	}
	if (cfg_load(&agent_config_schema, c, path, sets, n_sets, err) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

static struct agent_config *config_free(struct agent_config *c)
{
	if (c) {
		cfg_free(&agent_config_schema, c);
		free(c);
	}
	return NULL;
}

/* Per-host watches hold 3 streams per host, each a socket: raises the
 * soft RLIMIT_NOFILE to the hard limit when the soft one is short, and
 * says so (a short limit showed as watches failing with "Couldn't
 * connect"). */
static void nofile_raise(unsigned long n_sim)
{
	rlim_t need = (rlim_t)(3 * n_sim + 256);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		fs_warn("--per-host-watches: %lu hosts need about %lu open "
			"files; the hard limit is %lu (raise it: ulimit -Hn)",
			n_sim, (unsigned long)need,
			(unsigned long)rl.rlim_max);
	fs_info("--per-host-watches: raising the open files limit from %lu "
		"to %lu",
		(unsigned long)rl.rlim_cur,
		rl.rlim_max == RLIM_INFINITY ? (unsigned long)need
					     : (unsigned long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		fs_warn("--per-host-watches: setrlimit(RLIMIT_NOFILE): %s",
			strerror(errno));
}

static void stopped(void *arg)
{
	struct main_ctx *m = arg;

	ev_break(m->loop, EVBREAK_ALL);
}

static void on_term(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct main_ctx *m = w->data;

	(void)loop;
	(void)revents;
	if (m->stopping) {
		fs_warn("second signal: exiting without waiting");
		ev_break(m->loop, EVBREAK_ALL);
		return;
	}
	m->stopping = true;
	fs_info("signal %d: exiting; the lease(s) run out with their TTL",
		w->signum);
	agent_stop(m->a, 3.0, stopped, m);
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct main_ctx *m = w->data;
	struct agent_config *c;
	struct cfg_error err;

	(void)loop;
	(void)revents;
	c = config_load(m->path, m->sets, m->n_sets, &err);
	if (!c) {
		fs_error("SIGHUP: keeping the old configuration: %s",
			 err.message);
		return;
	}
	agent_reload(m->a, c);
	config_free(m->cfg);
	m->cfg = c;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"set", required_argument, NULL, 's'},
		{"check-config", no_argument, NULL, 'k'},
		{"simulate", required_argument, NULL, 'S'},
		{"per-host-watches", no_argument, NULL, 'W'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct main_ctx m = {0};
	struct cfg_error cerr;
	bool check = false;
	unsigned flags = 0;
	unsigned long n_sim = 0;
	char err[512], *end;
	ev_signal s_term, s_int, s_hup;
	int c, rc = 1;

	m.sets = calloc((size_t)argc, sizeof(char *));
	if (!m.sets)
		return 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			m.path = optarg;
			break;
		case 's':
			m.sets[m.n_sets++] = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'S':
			errno = 0;
			n_sim = strtoul(optarg, &end, 10);
			if (errno || *end || n_sim < 1 || n_sim > 100000) {
				fprintf(stderr,
					"--simulate: must be 1..100000, got "
					"\"%s\"\n",
					optarg);
				rc = 2;
				goto out;
			}
			break;
		case 'W':
			flags |= AGENT_PER_HOST_WATCHES;
			break;
		case 'V':
			printf("flintsched-agent %s\n", FLINTSCHED_VERSION);
			rc = 0;
			goto out;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			fprintf(stderr, "try flintsched-agent --help\n");
			rc = 2; /* usage error, as the controller */
			goto out;
		}
	}
	if ((flags & AGENT_PER_HOST_WATCHES) && !n_sim) {
		fprintf(stderr, "--per-host-watches: only with --simulate N\n");
		rc = 2;
		goto out;
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument \"%s\"; try --help\n",
			argv[optind]);
		rc = 2;
		goto out;
	}
	m.cfg = config_load(m.path, m.sets, m.n_sets, &cerr);
	if (!m.cfg) {
		fprintf(stderr, "%s\n", cerr.message);
		goto out;
	}
	if (cfg_secret_exposed(m.cfg->etcd.password_file))
		fprintf(stderr,
			"warning: etcd.password_file %s can be read by other "
			"users: chmod 600 it\n",
			m.cfg->etcd.password_file);
	if (check) {
		printf("%s: ok\n", m.path ? m.path : "defaults");
		rc = 0;
		goto out;
	}
	fs_log_set_level((enum fs_log_level)m.cfg->log.level);
	fs_log_set_ident("agent");
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fs_error("curl_global_init failed");
		goto out;
	}
	if (flags & AGENT_PER_HOST_WATCHES)
		nofile_raise(n_sim);
	m.loop = ev_default_loop(0);
	if (agent_new(m.loop, m.cfg, (unsigned)n_sim, flags, &m.a, err,
		      sizeof(err)) < 0) {
		fs_error("%s", err);
		goto out_curl;
	}
	ev_signal_init(&s_term, on_term, SIGTERM);
	ev_signal_init(&s_int, on_term, SIGINT);
	ev_signal_init(&s_hup, on_hup, SIGHUP);
	s_term.data = s_int.data = s_hup.data = &m;
	ev_signal_start(m.loop, &s_term);
	ev_signal_start(m.loop, &s_int);
	ev_signal_start(m.loop, &s_hup);
	agent_start(m.a);
	ev_run(m.loop, 0);
	ev_signal_stop(m.loop, &s_term);
	ev_signal_stop(m.loop, &s_int);
	ev_signal_stop(m.loop, &s_hup);
	m.a = agent_free(m.a);
	fs_info("stopped");
	rc = 0;
out_curl:
	curl_global_cleanup();
out:
	config_free(m.cfg);
	free(m.sets);
	return rc;
}
