/*
 * cordon HOST, drain HOST [--max-parallel N] [--deadline D], uncordon
 * HOST: the operator's key P/hostctl/<host> (docs/DESIGN.md "Host
 * lifecycle keys").  cordon and drain put it; uncordon deletes it.
 */
#include "ctl/ctl.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <time.h>
#include <unistd.h>

static void rfc3339(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int host_known(struct ctl *x, const char *host)
{
	struct ctl_view v;
	int rc = ctl_view_load(x, &v, CTL_V_HOSTS);

	if (rc)
		return rc;
	if (!ctl_view_host(&v, host))
		rc = ctl_errorf(CTL_EXIT_INPUT,
				"no host %s (see flintschedctl hosts)", host);
	ctl_view_clear(&v);
	return rc;
}

int ctl_cmd_hostctl(struct ctl *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"max-parallel", required_argument, NULL, 'm'},
	    {"deadline", required_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	bool drain = strcmp(argv[0], "drain") == 0;
	bool uncordon = strcmp(argv[0], "uncordon") == 0;
	const char *deadline = NULL, *host, *by;
	char dl[40] = "", now[40], *key = NULL, *val = NULL;
	long long maxp = 1;
	struct etcd_error e;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			maxp = strtoll(optarg, NULL, 10);
			if (!drain || maxp < 1 || maxp > 1000)
				return ctl_errorf(
				    CTL_EXIT_INPUT,
				    "--max-parallel: drain only, 1..1000");
			break;
		case 'd':
			if (!drain)
				return ctl_errorf(CTL_EXIT_INPUT,
						  "--deadline: drain only");
			deadline = optarg;
			break;
		default:
			return ctl_errorf(CTL_EXIT_INPUT,
					  "see flintschedctl %s --help",
					  argv[0]);
		}
	}
	if (optind + 1 != argc)
		return ctl_errorf(CTL_EXIT_INPUT, "%s: give one HOST", argv[0]);
	host = argv[optind];
	if (!fs_name_valid(host))
		return ctl_errorf(CTL_EXIT_INPUT,
				  "%s: not a host name (see flintschedctl "
				  "hosts)",
				  argv[0]);
	if (deadline) {
		int64_t d = ctl_duration_ms(deadline, false);

		if (d > 0)
			rfc3339(x->now_ms + d, dl, sizeof(dl));
		else if (ctl_time_parse(deadline) >= 0)
			snprintf(dl, sizeof(dl), "%s", deadline);
		else
			return ctl_errorf(CTL_EXIT_INPUT,
					  "--deadline %s: give a duration "
					  "(30m, 2h) or an RFC 3339 UTC time "
					  "(2026-12-01T18:00:00Z)",
					  deadline);
	}
	key = ctl_key(x, "hostctl/%s", host);
	if (!key)
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	if (uncordon) {
		int64_t n = 0;

		rc = 0;
		if (etcd_sync_delete(x->etcd, key, false, &n, &e) < 0)
			rc = ctl_etcd_fail(x, "uncordoning", key, &e);
		else
			printf("host %s %s\n", host,
			       n ? "uncordoned" : "was not cordoned");
		free(key);
		return rc;
	}
	rc = host_known(x, host);
	if (rc) {
		free(key);
		return rc;
	}
	by = x->user ? x->user : getenv("USER");
	if (!by) {
		const struct passwd *pw = getpwuid(getuid());

		by = pw ? pw->pw_name : "";
	}
	rfc3339(x->now_ms, now, sizeof(now));
	{
		json_t *j = json_pack("{s:s, s:s, s:s}", "state",
				      drain ? "drain" : "cordoned", "by",
				      by ? by : "", "updated", now);

		if (j && drain) {
			json_object_set_new(j, "max_parallel",
					    json_integer(maxp));
			if (*dl)
				json_object_set_new(j, "deadline",
						    json_string(dl));
		}
		val = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(j);
	}
	if (!val) {
		free(key);
		return ctl_errorf(CTL_EXIT_INPUT, "out of memory");
	}
	if (etcd_sync_put(x->etcd, key, val, strlen(val), 0, NULL, &e) < 0) {
		rc =
		    ctl_etcd_fail(x, drain ? "draining" : "cordoning", key, &e);
	} else if (drain) {
		printf("host %s draining (max %lld at a time%s%s)\n", host,
		       maxp, *dl ? ", deadline " : "", dl);
	} else {
		printf("host %s cordoned\n", host);
	}
	free(key);
	free(val);
	return rc;
}
