/* flintsched-controller: coordinator elections, bid rounds, CAS commits.
 * The binary: options and config, then the loop; calls service.c and
 * config.c. */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "config/cfg.h"
#include "controller/service.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: flintsched-controller [-c FILE] [--set key=value]... "
		"[--check-config]\n"
		"       flintsched-controller --version | --help\n\n"
		"  -c, --config FILE   YAML configuration (default: built-in "
		"defaults)\n"
		"      --set KEY=VAL   override one key for this run\n"
		"      --check-config  validate the configuration and exit 0/1\n"
		"      --version       print the version\n"
		"  -h, --help          this text and every configuration key\n\n"
		"Configuration keys:\n");
	cfg_print_help(&ctrl_config_schema, out);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	fs_info("signal %d: shutting down", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"set", required_argument, NULL, 's'},
		{"check-config", no_argument, NULL, 'k'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	const char **sets = NULL;
	size_t n_sets = 0;
	bool check = false;
	struct ctrl_config cfg;
	struct cfg_error cerr;
	char err[512], *password = NULL;
	struct ev_loop *loop;
	ev_signal sigterm, sigint;
	ctrl *c = NULL;
	int o, rc = 1;

	sets = calloc((size_t)argc + 1, sizeof(*sets));
	if (!sets)
		return 1;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': path = optarg; break;
		case 's': sets[n_sets++] = optarg; break;
		case 'k': check = true; break;
		case 'V':
			printf("flintsched-controller %s\n", FLINTSCHED_VERSION);
			free(sets);
			return 0;
		case 'h':
			usage(stdout);
			free(sets);
			return 0;
		default: /* getopt said what was wrong */
			fprintf(stderr, "try flintsched-controller --help\n");
			free(sets);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "flintsched-controller: unexpected argument "
				"\"%s\" (see --help)\n",
			argv[optind]);
		free(sets);
		return 2;
	}
	if (cfg_load(&ctrl_config_schema, &cfg, path, sets, n_sets, &cerr) <
	    0) {
		fprintf(stderr, "%s\n", cerr.message);
		free(sets);
		return 1;
	}
	free(sets);
	if (cfg_secret_exposed(cfg.etcd.password_file))
		fprintf(stderr,
			"warning: etcd.password_file %s can be read by other "
			"users: chmod 600 it\n",
			cfg.etcd.password_file);
	if (check) {
		printf("%s: configuration is valid\n", path ? path : "defaults");
		cfg_free(&ctrl_config_schema, &cfg);
		return 0;
	}
	fs_log_set_level((enum fs_log_level)cfg.log.level);
	fs_log_set_ident(*cfg.name ? cfg.name : "controller");
	if (*cfg.etcd.password_file &&
	    cfg_read_secret("etcd.password_file", cfg.etcd.password_file,
			    &password, &cerr) < 0) {
		fs_error("%s", cerr.message);
		cfg_free(&ctrl_config_schema, &cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	loop = ev_default_loop(0);
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sigint);
	if (ctrl_new(loop, &cfg, password, &c, err, sizeof(err)) < 0) {
		fs_error("%s", err);
		goto out;
	}
	ev_run(loop, 0);
	if (ctrl_fatal(c, err, sizeof(err))) {
		fs_error("%s", err);
		rc = 1;
	} else {
		rc = 0;
	}
	ev_signal_stop(loop, &sigterm);
	ev_signal_stop(loop, &sigint);
	c = ctrl_free(c);
out:
	password = cfg_secret_free(password);
	cfg_free(&ctrl_config_schema, &cfg);
	ev_loop_destroy(loop);
	return rc;
}
