/*
 * libFuzzer target for config/: the input is loaded as a YAML config
 * against a schema with every key type, then — when it loads — dumped and
 * loaded again, which must succeed and dump the same text.  The input is
 * also tried as one `--set` assignment.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"

struct fcfg {
	struct cfg_etcd etcd;
	struct cfg_log log;
	char *host;
	bool debug;
	int64_t vcpu;
	int64_t candidates;
	double w_cpu;
	int bidding;
	struct cfg_strmap labels;
};

static const char *const biddings[] = {"broadcast", "sample", "cached", NULL};

static const struct cfg_key fkeys[] = {
    CFG_ETCD_KEYS(struct fcfg, etcd),
    CFG_LOG_KEYS(struct fcfg, log),
    CFG_KEY_STRING("agent.host", struct fcfg, host, "\"\"", "host"),
    CFG_KEY_BOOL("agent.debug", struct fcfg, debug, "false", "debug"),
    CFG_KEY_INT_AUTO("agent.capacity.vcpu", struct fcfg, vcpu, "auto", 1, 4096,
		     "vcpu"),
    CFG_KEY_STRMAP("agent.labels", struct fcfg, labels, "{}", "labels"),
    CFG_KEY_INT("scheduling.candidates", struct fcfg, candidates, "3", 1, 64,
		"candidates"),
    CFG_KEY_DOUBLE("scheduling.weights.cpu", struct fcfg, w_cpu, "1", 0, 1000,
		   "w"),
    CFG_KEY_ENUM("scheduling.bidding", struct fcfg, bidding, "sample", biddings,
		 "bidding"),
};

static const struct cfg_schema fschema = CFG_SCHEMA(fkeys);

static char *dump(const struct fcfg *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		abort();
	if (cfg_dump(&fschema, c, f) != 0)
		abort();
	fclose(f);
	return text;
}

static void round_trip(const struct fcfg *a)
{
	struct cfg_error err;
	struct fcfg b;
	char *ta, *tb;
	size_t la, lb;

	ta = dump(a, &la);
	if (cfg_load_buffer(&fschema, &b, "dump", ta, la, NULL, 0, &err)) {
		fprintf(stderr, "reload failed: %s\n--\n%s--\n", err.message,
			ta);
		abort();
	}
	tb = dump(&b, &lb);
	if (la != lb || memcmp(ta, tb, la)) {
		fprintf(stderr, "dump differs:\n%s--\n%s--\n", ta, tb);
		abort();
	}
	free(ta);
	free(tb);
	cfg_free(&fschema, &b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_error err;
	struct fcfg c;
	const char *set;
	char *text;

	if (cfg_load_buffer(&fschema, &c, "fuzz.yaml", (const char *)data, size,
			    NULL, 0, &err) == 0) {
		round_trip(&c);
		cfg_free(&fschema, &c);
	}

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	set = text;
	if (cfg_load_buffer(&fschema, &c, NULL, NULL, 0, &set, 1, &err) == 0) {
		round_trip(&c);
		cfg_free(&fschema, &c);
	}
	free(text);
	return 0;
}
