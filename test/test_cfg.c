/*
 * Tests of config/: table-driven documents (valid and invalid side by
 * side, every invalid one with its exact message), --set, defaults, help,
 * dump round trip, secrets, schema checks and allocation failures.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/config.h"
#include "config/cfg.h"
#include "controller/service.h"

struct tcfg {
	struct cfg_etcd etcd;
	struct cfg_log log;
	char *host;
	bool debug;
	int64_t vcpu;
	int64_t candidates;
	double w_cpu;
	int bidding;
	struct cfg_strmap labels;
	int untouched; /* not in the schema: a load must leave it alone */
};

static const char *const biddings[] = {"broadcast", "sample", "cached", NULL};

static const struct cfg_key tkeys[] = {
    CFG_ETCD_KEYS(struct tcfg, etcd),
    CFG_LOG_KEYS(struct tcfg, log),
    CFG_KEY_STRING("agent.host", struct tcfg, host, "\"\"", "host name"),
    CFG_KEY_BOOL("agent.debug", struct tcfg, debug, "false", "debug"),
    CFG_KEY_INT_AUTO("agent.capacity.vcpu", struct tcfg, vcpu, "auto", 1, 4096,
		     "vCPUs offered"),
    CFG_KEY_STRMAP("agent.labels", struct tcfg, labels, "{}", "labels"),
    CFG_KEY_INT("scheduling.candidates", struct tcfg, candidates, "3", 1, 64,
		"hosts invited per round"),
    CFG_KEY_DOUBLE("scheduling.weights.cpu", struct tcfg, w_cpu, "1", 0, 1000,
		   "weight of cpu"),
    CFG_KEY_ENUM("scheduling.bidding", struct tcfg, bidding, "sample", biddings,
		 "how candidates are found"),
};

static const struct cfg_schema tschema = CFG_SCHEMA(tkeys);

/* Renders one value of a loaded tcfg as text, for table comparisons. */
static void render(const struct tcfg *c, const char *path, char *buf,
		   size_t size)
{
	const struct cfg_key *k = cfg_key_find(&tschema, path);
	const char *p = (const char *)c + k->offset;
	const struct cfg_strlist *l = (const void *)p;
	const struct cfg_strmap *m = (const void *)p;
	size_t i, o = 0;

	assert_non_null(k);
	switch (k->type) {
	case CFG_BOOL:
		snprintf(buf, size, "%s", *(const bool *)p ? "true" : "false");
		break;
	case CFG_INT:
	case CFG_INT_AUTO:
		snprintf(buf, size, "%" PRId64, *(const int64_t *)p);
		break;
	case CFG_DOUBLE:
		snprintf(buf, size, "%g", *(const double *)p);
		break;
	case CFG_STRING:
		snprintf(buf, size, "%s", *(char *const *)p);
		break;
	case CFG_ENUM:
		snprintf(buf, size, "%s", k->choices[*(const int *)p]);
		break;
	case CFG_STRLIST:
		o = (size_t)snprintf(buf, size, "[");
		for (i = 0; i < l->n; i++)
			o += (size_t)snprintf(buf + o, size - o, "%s%s",
					      i ? "," : "", l->v[i]);
		snprintf(buf + o, size - o, "]");
		break;
	case CFG_STRMAP:
		o = (size_t)snprintf(buf, size, "{");
		for (i = 0; i < m->n; i++)
			o += (size_t)snprintf(buf + o, size - o, "%s%s:%s",
					      i ? "," : "", m->v[i].key,
					      m->v[i].value);
		snprintf(buf + o, size - o, "}");
		break;
	}
}

struct expect {
	const char *path, *value;
};

struct valid_case {
	const char *name;
	const char *doc; /* NULL = defaults only */
	const char *sets[4];
	struct expect want[6];
};

static const struct valid_case valid_cases[] = {
    {"defaults only",
     NULL,
     {NULL},
     {{"etcd.endpoints", "[http://127.0.0.1:2379]"},
      {"etcd.prefix", "/flintsched"},
      {"etcd.request_timeout_ms", "5000"},
      {"log.level", "info"},
      {"agent.capacity.vcpu", "-1"},
      {"scheduling.bidding", "sample"}}},
    {"empty mapping means defaults",
     "{}\n",
     {NULL},
     {{"etcd.username", ""},
      {"etcd.tls.ca", ""},
      {"agent.labels", "{}"},
      {"scheduling.candidates", "3"},
      {"scheduling.weights.cpu", "1"},
      {"agent.debug", "false"}}},
    {"block style, every type",
     "# agent\n"
     "etcd:\n"
     "  endpoints:\n"
     "    - http://10.0.0.1:2379\n"
     "    - https://10.0.0.2:2379\n"
     "  tls:\n"
     "    ca: /etc/ca.pem\n"
     "  request_timeout_ms: 100\n"
     "log:\n"
     "  level: debug\n"
     "agent:\n"
     "  host: node-3\n"
     "  debug: yes\n"
     "  capacity:\n"
     "    vcpu: 16\n"
     "  labels:\n"
     "    zone: a\n"
     "    rack: \"r1\"\n"
     "scheduling:\n"
     "  candidates: 64\n"
     "  weights: {cpu: 0.25}\n"
     "  bidding: cached\n",
     {NULL},
     {{"etcd.endpoints", "[http://10.0.0.1:2379,https://10.0.0.2:2379]"},
      {"etcd.tls.ca", "/etc/ca.pem"},
      {"etcd.request_timeout_ms", "100"},
      {"agent.labels", "{zone:a,rack:r1}"},
      {"agent.capacity.vcpu", "16"},
      {"scheduling.weights.cpu", "0.25"}}},
    {"flow style",
     "{etcd: {endpoints: [http://a:1, http://b:2], prefix: /x}, "
     "log: {level: error}, agent: {debug: On}}",
     {NULL},
     {{"etcd.endpoints", "[http://a:1,http://b:2]"},
      {"etcd.prefix", "/x"},
      {"log.level", "error"},
      {"agent.debug", "true"}}},
    {"quoted and plain numbers are strings for a string key",
     "agent:\n  host: 123\n  labels: {n: 1, t: true}\n",
     {NULL},
     {{"agent.host", "123"}, {"agent.labels", "{n:1,t:true}"}}},
    {"explicit document markers, CRLF, UTF-8 text",
     "---\r\nagent:\r\n  host: \"n\xc3\xb6"
     "de\"\r\n...\r\n",
     {NULL},
     {{"agent.host", "n\xc3\xb6"
		     "de"}}},
    {"auto, bounds, number forms",
     "agent: {capacity: {vcpu: auto}}\n"
     "scheduling: {candidates: 1, weights: {cpu: 1e3}}\n",
     {NULL},
     {{"agent.capacity.vcpu", "-1"},
      {"scheduling.candidates", "1"},
      {"scheduling.weights.cpu", "1000"}}},
    {"--set overrides file and each other",
     "log: {level: warn}\netcd: {prefix: /a}\n",
     {"log.level=debug", "etcd.prefix=/b", "etcd.prefix=/c"},
     {{"log.level", "debug"}, {"etcd.prefix", "/c"}}},
    {"--set flow list and map",
     NULL,
     {"etcd.endpoints=[http://a:1,http://b:2]", "agent.labels={zone: a}",
      "agent.capacity.vcpu=8", "scheduling.weights.cpu=0.5"},
     {{"etcd.endpoints", "[http://a:1,http://b:2]"},
      {"agent.labels", "{zone:a}"},
      {"agent.capacity.vcpu", "8"},
      {"scheduling.weights.cpu", "0.5"}}},
    {"--set empty value, whole section, bool",
     "etcd: {username: root}\n",
     {"etcd.username=", "etcd.tls={ca: /c.pem, key: /k.pem}",
      "agent.debug=true"},
     {{"etcd.username", ""},
      {"etcd.tls.ca", "/c.pem"},
      {"etcd.tls.key", "/k.pem"},
      {"etcd.tls.cert", ""},
      {"agent.debug", "true"}}},
};

static void test_valid(void **state)
{
	const struct valid_case *c;
	struct tcfg cfg;
	struct cfg_error err;
	char got[512];
	size_t i, j, n_sets;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		c = &valid_cases[i];
		memset(&cfg, 0, sizeof(cfg));
		cfg.untouched = 42;
		for (n_sets = 0; n_sets < 4 && c->sets[n_sets]; n_sets++)
			;
		rc = cfg_load_buffer(&tschema, &cfg, "t.yaml", c->doc,
				     c->doc ? strlen(c->doc) : 0, c->sets,
				     n_sets, &err);
		if (rc != 0)
			fail_msg("%s: %s", c->name, err.message);
		for (j = 0; j < 6 && c->want[j].path; j++) {
			render(&cfg, c->want[j].path, got, sizeof(got));
			if (strcmp(got, c->want[j].value))
				fail_msg("%s: %s = \"%s\", want \"%s\"",
					 c->name, c->want[j].path, got,
					 c->want[j].value);
		}
		assert_int_equal(cfg.untouched, 42);
		cfg_free(&tschema, &cfg);
		assert_null(cfg.host);
		assert_null(cfg.etcd.endpoints.v);
	}
}

struct invalid_case {
	const char *doc; /* NULL = no file */
	const char *sets[3];
	const char *message;
};

static const struct invalid_case invalid_cases[] = {
    /* unknown keys */
    {"etcd:\n  endpoint: [http://x:1]\n",
     {NULL},
     "t.yaml:2:3: etcd.endpoint: unknown key (did you mean "
     "etcd.endpoints?)"},
    {"etdc: {}\n",
     {NULL},
     "t.yaml:1:1: etdc: unknown key (did you mean etcd?)"},
    {"etcd:\n  zzzzzz: 1\n", {NULL}, "t.yaml:2:3: etcd.zzzzzz: unknown key"},
    {"prefix: /x\n",
     {NULL},
     "t.yaml:1:1: prefix: unknown key (did you mean etcd.prefix?)"},
    {"etcd.prefix: /x\n",
     {NULL},
     "t.yaml:1:1: etcd.prefix: unknown key; keys are not dotted in a "
     "file, nest them in sections"},
    {"etcd:\n  tls: {ca: x, kye: y}\n",
     {NULL},
     "t.yaml:2:16: etcd.tls.kye: unknown key (did you mean "
     "etcd.tls.key?)"},
    /* wrong types */
    {"scheduling:\n  candidates: abc\n",
     {NULL},
     "t.yaml:2:15: scheduling.candidates: expected integer, got string "
     "\"abc\""},
    {"scheduling:\n  candidates: \"5\"\n",
     {NULL},
     "t.yaml:2:15: scheduling.candidates: expected integer, got string "
     "\"5\""},
    {"scheduling: {candidates: 1.5}\n",
     {NULL},
     "t.yaml:1:26: scheduling.candidates: expected integer, got 1.5"},
    {"scheduling: {weights: {cpu: .nan}}\n",
     {NULL},
     "t.yaml:1:29: scheduling.weights.cpu: expected number, got string "
     "\".nan\""},
    {"agent: {debug: maybe}\n",
     {NULL},
     "t.yaml:1:16: agent.debug: expected true or false, got string "
     "\"maybe\""},
    {"agent: {debug: 1}\n",
     {NULL},
     "t.yaml:1:16: agent.debug: expected true or false, got 1"},
    {"agent: {capacity: {vcpu: automatic}}\n",
     {NULL},
     "t.yaml:1:26: agent.capacity.vcpu: expected integer or auto, got "
     "string \"automatic\""},
    {"etcd: [a]\n", {NULL}, "t.yaml:1:7: etcd: expected mapping, got sequence"},
    {"etcd: {endpoints: http://x:1}\n",
     {NULL},
     "t.yaml:1:19: etcd.endpoints: expected sequence, got string "
     "\"http://x:1\""},
    {"etcd: {endpoints: [http://x:1, {a: b}]}\n",
     {NULL},
     "t.yaml:1:32: etcd.endpoints[1]: expected string, got mapping"},
    {"agent: {labels: {zone: [a]}}\n",
     {NULL},
     "t.yaml:1:24: agent.labels.zone: expected string, got sequence"},
    {"agent: {labels: [a]}\n",
     {NULL},
     "t.yaml:1:17: agent.labels: expected mapping, got sequence"},
    {"agent:\n  host:\n",
     {NULL},
     "t.yaml:2:8: agent.host: expected string, got null"},
    {"agent: {host: \"a\\0b\"}\n",
     {NULL},
     "t.yaml:1:15: agent.host: contains a NUL character"},
    /* ranges */
    {"scheduling:\n  candidates: 0\n",
     {NULL},
     "t.yaml:2:15: scheduling.candidates: must be 1..64, got 0"},
    {"scheduling:\n  candidates: 99999999999999999999\n",
     {NULL},
     "t.yaml:2:15: scheduling.candidates: must be 1..64, got "
     "99999999999999999999"},
    {"scheduling: {weights: {cpu: 1000.5}}\n",
     {NULL},
     "t.yaml:1:29: scheduling.weights.cpu: must be 0..1000, got 1000.5"},
    {"agent: {capacity: {vcpu: 0}}\n",
     {NULL},
     "t.yaml:1:26: agent.capacity.vcpu: must be 1..4096 or auto, got 0"},
    {"log: {level: verbose}\n",
     {NULL},
     "t.yaml:1:14: log.level: must be one of error|warn|info|debug, got "
     "\"verbose\""},
    {"etcd: {request_timeout_ms: 99}\n",
     {NULL},
     "t.yaml:1:28: etcd.request_timeout_ms: must be 100..600000, got 99"},
    /* duplicates */
    {"etcd:\n  prefix: /a\n  prefix: /b\n",
     {NULL},
     "t.yaml:3:3: etcd.prefix: duplicate key (first at line 2)"},
    {"log: {}\nlog: {}\n",
     {NULL},
     "t.yaml:2:1: log: duplicate key (first at line 1)"},
    {"agent:\n  labels: {a: x, a: y}\n",
     {NULL},
     "t.yaml:2:18: agent.labels.a: duplicate key (first at line 2)"},
    /* documents */
    {"", {NULL}, "t.yaml: file is empty; write {} to use all defaults"},
    {"# nothing here\n\n",
     {NULL},
     "t.yaml: file is empty; write {} to use all defaults"},
    {"- etcd\n",
     {NULL},
     "t.yaml:1:1: the top level must be a mapping of sections, got "
     "sequence"},
    {"hello\n",
     {NULL},
     "t.yaml:1:1: the top level must be a mapping of sections, got "
     "string \"hello\""},
    {"{}\n---\n{}\n",
     {NULL},
     "t.yaml:2:1: a second YAML document; a config file holds one"},
    {"? [a]\n: b\n", {NULL}, "t.yaml:1:3: expected a key name, got sequence"},
    /* syntax */
    {"etcd:\n  prefix: [a\n",
     {NULL},
     "t.yaml:3:1: syntax error: did not find expected ',' or ']' (while "
     "parsing a flow sequence at line 2)"},
    {"etcd:\n\tprefix: x\n",
     {NULL},
     "t.yaml:2:1: syntax error: found character that cannot start any "
     "token (while scanning for the next token at line 2)"},
    {"etcd:\n  prefix: a: b\n",
     {NULL},
     "t.yaml:2:12: syntax error: mapping values are not allowed in this "
     "context"},
    /* encoding */
    {"agent:\n  host: \"ab\xff\"\n",
     {NULL},
     "t.yaml:2:12: invalid UTF-8: byte 0xFF cannot start a character"},
    {"agent:\n  host: \"\xc3(\"\n",
     {NULL},
     "t.yaml:2:11: invalid UTF-8: byte 0x28 cannot continue a character"},
    {"agent:\n  host: x\x01y\n",
     {NULL},
     "t.yaml:2:10: control character 0x01 is not allowed"},
    /* anchors, aliases, tags */
    {"etcd: &e {prefix: /x}\n",
     {NULL},
     "t.yaml:1:7: anchors (&e) are not supported"},
    {"log: *l\n", {NULL}, "t.yaml:1:6: aliases (*l) are not supported"},
    {"agent: {host: !!str 123}\n",
     {NULL},
     "t.yaml:1:15: tags (tag:yaml.org,2002:str) are not supported; quote "
     "the value to make it a string"},
    /* --set */
    {NULL,
     {"log.level=verbose"},
     "--set: log.level: must be one of error|warn|info|debug, got "
     "\"verbose\""},
    {NULL,
     {"etcd.endpont=[http://x:1]"},
     "--set: etcd.endpont: unknown key (did you mean etcd.endpoints?)"},
    {NULL, {"log.level"}, "--set: expected path=value, got \"log.level\""},
    {NULL, {"=x"}, "--set: expected path=value, got \"=x\""},
    {NULL,
     {"etcd.endpoints=[http://x:1"},
     "--set: etcd.endpoints: invalid value: syntax error: did not find "
     "expected ',' or ']' (while parsing a flow sequence at line 1) at "
     "its end"},
    {NULL,
     {"etcd.tls={ca: x, crt: y}"},
     "--set: etcd.tls.crt: unknown key (did you mean etcd.tls.cert?)"},
    {NULL,
     {"scheduling.candidates=65"},
     "--set: scheduling.candidates: must be 1..64, got 65"},
    {NULL,
     {"agent.labels=zone"},
     "--set: agent.labels: expected mapping, got string \"zone\""},
    {"log: {level: info}\n",
     {"log.level=debug", "agent.debug=2"},
     "--set: agent.debug: expected true or false, got 2"},
};

static void test_invalid(void **state)
{
	const struct invalid_case *c;
	struct tcfg cfg, before;
	struct cfg_error err;
	size_t i, n_sets;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		c = &invalid_cases[i];
		memset(&cfg, 0xA5, sizeof(cfg));
		memcpy(&before, &cfg, sizeof(cfg));
		memset(&err, 0, sizeof(err));
		for (n_sets = 0; n_sets < 3 && c->sets[n_sets]; n_sets++)
			;
		rc = cfg_load_buffer(&tschema, &cfg, "t.yaml", c->doc,
				     c->doc ? strlen(c->doc) : 0, c->sets,
				     n_sets, &err);
		if (rc != -EINVAL || strcmp(err.message, c->message))
			fail_msg("case %zu: rc %d\n got: %s\nwant: %s", i, rc,
				 err.message, c->message);
		/* On failure the destination is not touched. */
		assert_memory_equal(&cfg, &before, sizeof(cfg));
	}
}

/* Error fields, not only the message. */
static void test_error_fields(void **state)
{
	static const char doc[] = "scheduling:\n  candidates: 0\n";
	struct tcfg cfg;
	struct cfg_error err;

	(void)state;
	assert_int_equal(cfg_load_buffer(&tschema, &cfg, "agent.yaml", doc,
					 strlen(doc), NULL, 0, &err),
			 -EINVAL);
	assert_string_equal(err.message, "agent.yaml:2:15: "
					 "scheduling.candidates: must be "
					 "1..64, got 0");
	assert_string_equal(err.file, "agent.yaml");
	assert_string_equal(err.key, "scheduling.candidates");
	assert_int_equal(err.line, 2);
	assert_int_equal(err.col, 15);
	/* err may be NULL. */
	assert_int_equal(cfg_load_buffer(&tschema, &cfg, "agent.yaml", doc,
					 strlen(doc), NULL, 0, NULL),
			 -EINVAL);
}

static char *write_temp(const char *text, size_t len)
{
	char *path = strdup("/tmp/test_cfg_XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_file(void **state)
{
	static const char doc[] = "etcd:\n  prefix: /f\n";
	const char *sets[] = {"log.level=warn"};
	struct tcfg cfg;
	struct cfg_error err;
	char *path, want[512];

	(void)state;
	path = write_temp(doc, strlen(doc));
	assert_int_equal(cfg_load(&tschema, &cfg, path, sets, 1, &err), 0);
	assert_string_equal(cfg.etcd.prefix, "/f");
	assert_int_equal(cfg.log.level, CFG_LOG_WARN);
	cfg_free(&tschema, &cfg);
	cfg_free(&tschema, &cfg); /* twice is harmless */
	cfg_free(&tschema, NULL);

	/* An error names the file as given. */
	assert_int_equal(cfg_load(&tschema, &cfg, path,
				  (const char *const[]){"log.level=x"}, 1,
				  &err),
			 -EINVAL);
	assert_string_equal(err.message, "--set: log.level: must be one of "
					 "error|warn|info|debug, got \"x\"");
	unlink(path);
	free(path);

	assert_int_equal(
	    cfg_load(&tschema, &cfg, "/nonexistent/a.yaml", NULL, 0, &err),
	    -ENOENT);
	assert_string_equal(err.message, "/nonexistent/a.yaml: cannot read: "
					 "No such file or directory");
	assert_int_equal(cfg_load(&tschema, &cfg, "/tmp", NULL, 0, &err),
			 -EISDIR);
	assert_string_equal(err.message, "/tmp: cannot read: Is a directory");

	/* An empty file is an error that names it. */
	path = write_temp("", 0);
	assert_int_equal(cfg_load(&tschema, &cfg, path, NULL, 0, &err),
			 -EINVAL);
	snprintf(want, sizeof(want),
		 "%s: file is empty; write {} to use all defaults", path);
	assert_string_equal(err.message, want);
	unlink(path);
	free(path);

	/* NULL path: defaults only. */
	assert_int_equal(cfg_load(&tschema, &cfg, NULL, NULL, 0, &err), 0);
	assert_int_equal(cfg.etcd.request_timeout_ms, 5000);
	cfg_free(&tschema, &cfg);
}

static void test_file_too_large(void **state)
{
	struct tcfg cfg;
	struct cfg_error err;
	size_t len = CFG_MAX_FILE_SIZE + 1;
	char *big = malloc(len), *path;

	(void)state;
	assert_non_null(big);
	memset(big, '#', len);
	path = write_temp(big, len);
	free(big);
	assert_int_equal(cfg_load(&tschema, &cfg, path, NULL, 0, &err), -EFBIG);
	assert_non_null(strstr(err.message, "file too large"));
	unlink(path);
	free(path);
}

static void test_set(void **state)
{
	struct tcfg cfg;
	struct cfg_error err;

	(void)state;
	assert_int_equal(cfg_load(&tschema, &cfg, NULL, NULL, 0, &err), 0);
	assert_int_equal(
	    cfg_set(&tschema, &cfg, "etcd.endpoints=[http://a:1]", &err), 0);
	assert_int_equal(cfg.etcd.endpoints.n, 1);
	assert_string_equal(cfg.etcd.endpoints.v[0], "http://a:1");
	assert_int_equal(cfg_set(&tschema, &cfg, "agent.host=h1", &err), 0);
	assert_int_equal(cfg_set(&tschema, &cfg, "agent.host=h2", &err), 0);
	assert_string_equal(cfg.host, "h2");

	/* A failing section set changes nothing, even the keys before. */
	assert_int_equal(cfg_set(&tschema, &cfg,
				 "etcd={prefix: /p, request_timeout_ms: 1}",
				 &err),
			 -EINVAL);
	assert_string_equal(err.message, "--set: etcd.request_timeout_ms: "
					 "must be 100..600000, got 1");
	assert_string_equal(cfg.etcd.prefix, "/flintsched");
	assert_int_equal(cfg_set(&tschema, &cfg, "etcd={prefix: /p}", &err), 0);
	assert_string_equal(cfg.etcd.prefix, "/p");
	assert_int_equal(cfg_set(&tschema, &cfg, NULL, &err), -EINVAL);
	cfg_free(&tschema, &cfg);
}

static void test_help(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(cfg_print_help(&tschema, f), 0);
	fclose(f);
	assert_non_null(
	    strstr(text, "etcd.request_timeout_ms  integer 100..600000, "
			 "default 5000\n"
			 "    timeout of one etcd request, milliseconds\n"));
	assert_non_null(strstr(text, "etcd.endpoints  list of strings, "
				     "default [http://127.0.0.1:2379]\n"));
	assert_non_null(strstr(text, "log.level  one of error|warn|info|debug, "
				     "default info\n"));
	assert_non_null(strstr(text, "agent.capacity.vcpu  integer 1..4096 or "
				     "auto, default auto\n"));
	assert_non_null(strstr(text, "scheduling.weights.cpu  number 0..1000, "
				     "default 1\n"));
	assert_non_null(strstr(text, "agent.labels  map of strings, default "
				     "{}\n"));
	assert_non_null(strstr(text, "agent.debug  bool, default false\n"));
	free(text);
}

static char *dump_text(const struct tcfg *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(cfg_dump(&tschema, cfg, f), 0);
	fclose(f);
	return text;
}

static void test_dump(void **state)
{
	static const char doc[] =
	    "etcd: {endpoints: [http://a:1, 'http://x y'], username: \"true\","
	    " password_file: \"\\\"q\\\"\"}\n"
	    "agent: {host: \"~\", labels: {zone: a, 'k:1': '- v'},"
	    " capacity: {vcpu: 3}}\n"
	    "scheduling: {weights: {cpu: 0.1}, bidding: broadcast}\n";
	struct tcfg a, b;
	struct cfg_error err;
	char *ta, *tb;

	(void)state;
	assert_int_equal(cfg_load_buffer(&tschema, &a, "t.yaml", doc,
					 strlen(doc), NULL, 0, &err),
			 0);
	ta = dump_text(&a);
	assert_int_equal(cfg_load_buffer(&tschema, &b, "dump", ta, strlen(ta),
					 NULL, 0, &err),
			 0);
	tb = dump_text(&b);
	assert_string_equal(ta, tb);
	assert_string_equal(b.host, "~");
	assert_string_equal(b.etcd.username, "true");
	assert_string_equal(b.etcd.password_file, "\"q\"");
	assert_string_equal(b.labels.v[1].key, "k:1");
	assert_string_equal(b.labels.v[1].value, "- v");
	assert_true(b.w_cpu == 0.1);
	assert_non_null(strstr(ta, "etcd:\n  endpoints: [\"http://a:1\", "
				   "\"http://x y\"]\n"));
	free(ta);
	free(tb);
	cfg_free(&tschema, &a);
	cfg_free(&tschema, &b);
}

static void test_secret(void **state)
{
	struct cfg_error err;
	char *secret = (char *)"unchanged", *path, want[512];

	(void)state;
	path = write_temp("s3cret\n", 7);
	assert_int_equal(
	    cfg_read_secret("etcd.password_file", path, &secret, &err), 0);
	assert_string_equal(secret, "s3cret");
	secret = cfg_secret_free(secret);
	assert_null(secret);
	unlink(path);
	free(path);

	path = write_temp("tok\r\n", 5);
	assert_int_equal(cfg_read_secret(NULL, path, &secret, &err), 0);
	assert_string_equal(secret, "tok");
	secret = cfg_secret_free(secret);
	unlink(path);
	free(path);

	path = write_temp("a b", 3); /* no newline, inner space kept */
	assert_int_equal(cfg_read_secret(NULL, path, &secret, &err), 0);
	assert_string_equal(secret, "a b");
	secret = cfg_secret_free(secret);
	unlink(path);
	free(path);

	secret = (char *)"unchanged";
	path = write_temp("\n", 1);
	assert_int_equal(cfg_read_secret("executor.flintlock.token_file", path,
					 &secret, &err),
			 -EINVAL);
	snprintf(want, sizeof(want),
		 "%s: executor.flintlock.token_file: file is empty", path);
	assert_string_equal(err.message, want);
	assert_string_equal(secret, "unchanged");
	unlink(path);
	free(path);

	path = write_temp("a\0b\n", 4);
	assert_int_equal(cfg_read_secret("k", path, &secret, &err), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s: k: contains a NUL byte; a secret is text", path);
	assert_string_equal(err.message, want);
	unlink(path);
	free(path);

	assert_int_equal(cfg_read_secret("etcd.password_file",
					 "/nonexistent/pw", &secret, &err),
			 -ENOENT);
	assert_string_equal(err.message,
			    "/nonexistent/pw: etcd.password_file: cannot "
			    "read: No such file or directory");
	assert_int_equal(
	    cfg_read_secret("etcd.password_file", "", &secret, &err), -EINVAL);
	assert_null(cfg_secret_free(NULL));
}

/* Schema mistakes are caught by cfg_schema_check and by cfg_load. */
struct bad {
	int64_t a, b;
	int e;
};

static const char *const no_choices[] = {NULL};

static void test_schema(void **state)
{
	static const struct cfg_key bad_default[] = {
	    CFG_KEY_INT("x.n", struct bad, a, "0", 1, 64, "n")};
	static const struct cfg_key twice[] = {
	    CFG_KEY_INT("x.n", struct bad, a, "1", 1, 64, "n"),
	    CFG_KEY_INT("x.n", struct bad, b, "1", 1, 64, "n")};
	static const struct cfg_key key_and_section[] = {
	    CFG_KEY_INT("x", struct bad, a, "1", 1, 64, "n"),
	    CFG_KEY_INT("x.n", struct bad, b, "1", 1, 64, "n")};
	static const struct cfg_key bad_path[] = {
	    CFG_KEY_INT("x..n", struct bad, a, "1", 1, 64, "n")};
	static const struct cfg_key overlap[] = {
	    CFG_KEY_INT("x.a", struct bad, a, "1", 1, 64, "n"),
	    CFG_KEY_INT("x.b", struct bad, a, "1", 1, 64, "n")};
	static const struct cfg_key zero_out_of_range[] = {
	    CFG_KEY_INT("x.n", struct bad, a, NULL, 1, 64, "n")};
	static const struct cfg_key enum_empty[] = {
	    CFG_KEY_ENUM("x.e", struct bad, e, "a", no_choices, "e")};
	static const struct cfg_key bad_yaml_default[] = {
	    CFG_KEY_INT("x.n", struct bad, a, "[1", 1, 64, "n")};
	static const struct {
		struct cfg_schema s;
		const char *message;
	} cases[] = {
	    {CFG_SCHEMA(bad_default), "default: x.n: must be 1..64, got 0"},
	    {CFG_SCHEMA(twice), "schema: x.n: declared twice"},
	    {CFG_SCHEMA(key_and_section), "schema: x: is both a key and a "
					  "section"},
	    {CFG_SCHEMA(bad_path), "schema: x..n: path must be dot-separated "
				   "words of [A-Za-z0-9_-]"},
	    {CFG_SCHEMA(overlap), "schema: x.b: overlaps another key's member"},
	    {CFG_SCHEMA(zero_out_of_range), "default: x.n: must be 1..64, got "
					    "no default (0)"},
	    {CFG_SCHEMA(enum_empty), "schema: x.e: an enum needs choices and "
				     "a default"},
	    {CFG_SCHEMA(bad_yaml_default),
	     "default: x.n: invalid value: syntax error: did not find "
	     "expected ',' or ']' (while parsing a flow sequence at line 1) "
	     "at its end"},
	};
	struct cfg_error err;
	struct bad b;
	size_t i;

	(void)state;
	assert_int_equal(cfg_schema_check(&tschema, &err), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(cfg_schema_check(&cases[i].s, &err), -EINVAL);
		if (strcmp(err.message, cases[i].message))
			fail_msg("case %zu:\n got: %s\nwant: %s", i,
				 err.message, cases[i].message);
		assert_int_equal(cfg_load(&cases[i].s, &b, NULL, NULL, 0, &err),
				 -EINVAL);
		assert_string_equal(err.message, cases[i].message);
	}
}

/* Deep nesting and long keys fail with a message, not a crash. */
static void test_limits(void **state)
{
	struct tcfg cfg;
	struct cfg_error err;
	char doc[4096];
	size_t i, o = 0;

	(void)state;
	o += (size_t)snprintf(doc, sizeof(doc), "agent: {labels: {a: ");
	for (i = 0; i < 100; i++)
		doc[o++] = '[';
	doc[o] = '\0';
	assert_int_equal(
	    cfg_load_buffer(&tschema, &cfg, "t.yaml", doc, o, NULL, 0, &err),
	    -EINVAL);
	assert_string_equal(err.message,
			    "t.yaml:1:82: nesting deeper than 64 levels");

	o = (size_t)snprintf(doc, sizeof(doc), "etcd: {");
	for (i = 0; i < 300; i++)
		doc[o++] = 'k';
	o += (size_t)snprintf(doc + o, sizeof(doc) - o, ": 1}");
	assert_int_equal(
	    cfg_load_buffer(&tschema, &cfg, "t.yaml", doc, o, NULL, 0, &err),
	    -EINVAL);
	assert_int_equal(strncmp(err.message, "t.yaml:1:8: etcd.kkkk", 21), 0);
	assert_non_null(strstr(err.message, ": unknown key"));
}

/* Allocation failure injection: the n-th allocation fails, for every n. */
static long alloc_budget = -1;

static void *failing_malloc(size_t size)
{
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	return malloc(size);
}

static void *failing_realloc(void *p, size_t size)
{
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	return realloc(p, size);
}

static void test_alloc_failure(void **state)
{
	static const char doc[] =
	    "etcd: {endpoints: [http://a:1, http://b:2], prefix: /p}\n"
	    "agent: {host: h, labels: {zone: a, rack: b}}\n";
	const char *sets[] = {"agent.labels={x: y}", "etcd.tls={ca: c}"};
	struct tcfg cfg;
	struct cfg_error err;
	char *secret, *path;
	long n;
	int rc;

	(void)state;
	path = write_temp("pw\n", 3);
	cfg_set_alloc_funcs(failing_malloc, failing_realloc, NULL);
	for (n = 0;; n++) {
		alloc_budget = n;
		rc = cfg_load_buffer(&tschema, &cfg, "t.yaml", doc, strlen(doc),
				     sets, 2, &err);
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_non_null(strstr(err.message, "out of memory"));
	}
	assert_true(n > 10);
	for (n = 0;; n++) {
		alloc_budget = n;
		rc = cfg_set(&tschema, &cfg, "etcd={endpoints: [a, b]}", &err);
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_int_equal(cfg.etcd.endpoints.n, 2);
		assert_string_equal(cfg.etcd.endpoints.v[0], "http://a:1");
	}
	assert_string_equal(cfg.etcd.endpoints.v[0], "a");
	for (n = 0;; n++) {
		alloc_budget = n;
		rc = cfg_read_secret("k", path, &secret, &err);
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
	}
	alloc_budget = -1;
	cfg_set_alloc_funcs(NULL, NULL, NULL);
	assert_string_equal(secret, "pw");
	cfg_secret_free(secret);
	cfg_free(&tschema, &cfg);
	unlink(path);
	free(path);
}

/* issue 13 item 25: what start refuses, --check-config (cfg_load) refuses
 * too, with the file position of the value. */
static void test_daemon_checks(void **state)
{
	static const struct {
		int agent;
		const char *yaml, *want;
	} cases[] = {
	    {0, "etcd:\n  endpoints: [127.0.0.1:2379]\n",
	     "d.yaml:2:14: etcd.endpoints: \"127.0.0.1:2379\" is not an http"},
	    {0, "etcd:\n  endpoints: [ftp://a:21]\n", "d.yaml:2:14: etcd.endpoints"},
	    {0, "etcd:\n  endpoints: []\n", "d.yaml:2:14: etcd.endpoints: at least one"},
	    {0, "etcd:\n  endpoints: ['']\n", "d.yaml:2:14: etcd.endpoints"},
	    {0, "etcd:\n  endpoints: ['http://']\n", "d.yaml:2:14: etcd.endpoints"},
	    {0, "etcd:\n  prefix: flintsched\n", "d.yaml:2:11: etcd.prefix: must start with '/'"},
	    {0, "etcd:\n  username: u\n  password_file: /nonexistent/pw\n",
	     "d.yaml:3:18: etcd.password_file: /nonexistent/pw: cannot read"},
	    {0, "etcd:\n  tls: {ca: /nonexistent/ca.pem}\n", "d.yaml:2:13: etcd.tls.ca"},
	    {0, "etcd:\n  tls: {cert: /dev/null}\n", "etcd.tls.cert: /dev/null: not a regular file"},
	    {0, "etcd:\n  password_file: /etc/hostname\n",
	     "d.yaml:2:18: etcd.password_file: set without etcd.username"},
	    {0, "controller:\n  name: Ctrl_A\n", "d.yaml:2:9: controller.name: \"Ctrl_A\" is not a valid name"},
	    {0, "http:\n  listen: localhost:80\n", "d.yaml:2:11: http.listen: want HOST:PORT"},
	    {0, "http:\n  listen: 127.0.0.1\n", "http.listen: want HOST:PORT"},
	    {1, "agent:\n  host: Node/1\n", "d.yaml:2:9: agent.host: \"Node/1\" is not a valid name"},
	    {1, "executor:\n  type: exec\n", "d.yaml:2:9: executor.type: exec needs executor.exec.create"},
	    {0, "controller:\n  name: ctrl-a\nhttp:\n  listen: 127.0.0.1:9101\n", NULL},
	    {1, "executor:\n  type: exec\n  exec: {create: /bin/true}\n", NULL},
	};
	union {
		struct ctrl_config c;
		struct agent_config a;
	} u;
	struct cfg_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cfg_schema *s = cases[i].agent ? &agent_config_schema
							    : &ctrl_config_schema;
		int rc = cfg_load_buffer(s, &u, "d.yaml", cases[i].yaml,
					 strlen(cases[i].yaml), NULL, 0, &err);

		if (!cases[i].want) {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err.message);
			cfg_free(s, &u);
			continue;
		}
		if (rc == 0 || !strstr(err.message, cases[i].want))
			fail_msg("case %zu: rc %d, got \"%s\", want \"%s\"", i,
				 rc, rc ? err.message : "", cases[i].want);
	}
}

/* A 3 MB name is refused, not cut to 63 characters. */
static void test_daemon_long_name(void **state)
{
	size_t n = 3 * 1024 * 1024;
	char *set = malloc(n + 32);
	struct ctrl_config c;
	struct cfg_error err;
	const char *sets[1];

	(void)state;
	assert_non_null(set);
	strcpy(set, "controller.name=");
	memset(set + strlen(set), 'a', n);
	set[16 + n] = '\0';
	sets[0] = set;
	assert_int_not_equal(cfg_load(&ctrl_config_schema, &c, NULL, sets, 1,
				      &err),
			     0);
	assert_non_null(strstr(err.message, "controller.name"));
	assert_non_null(strstr(err.message, "not a valid name"));
	free(set);
}

/* A FIFO as the config file is refused at once, not waited on. */
static void test_config_fifo(void **state)
{
	char path[] = "/tmp/test_cfg_fifo.XXXXXX";
	struct ctrl_config c;
	struct cfg_error err;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_not_equal(cfg_load(&ctrl_config_schema, &c, path, NULL, 0,
				      &err),
			     0);
	assert_non_null(strstr(err.message, path));
	unlink(path);
}

/* A schema's check: host "bad" is refused where it was written. */
static int tcheck(const void *cfg, struct cfg_check *ck)
{
	const struct tcfg *c = cfg;

	if (!strcmp(c->host, "bad"))
		return cfg_check_fail(ck, "agent.host", "not %s", "\"bad\"");
	return 0;
}

static const struct cfg_schema tschema_checked =
	CFG_SCHEMA_CHECK(tkeys, tcheck);

static void test_schema_check(void **state)
{
	static const char doc[] = "agent:\n  debug: true\n  host: bad\n";
	struct tcfg cfg;
	struct cfg_error err;
	const char *sets[] = {"agent.host=bad"};
	const char *ok[] = {"agent.host=good"};

	(void)state;
	memset(&cfg, 0x5a, sizeof(cfg));
	assert_int_equal(cfg_load_buffer(&tschema_checked, &cfg, "c.yaml", doc,
					 strlen(doc), NULL, 0, &err),
			 -EINVAL);
	assert_string_equal(err.message, "c.yaml:3:9: agent.host: not \"bad\"");
	assert_int_equal(err.line, 3);
	/* dst untouched on failure */
	assert_int_equal(cfg.untouched, 0x5a5a5a5a);
	assert_int_equal((int)cfg.candidates, 0x5a5a5a5a);
	assert_int_equal(cfg_load_buffer(&tschema_checked, &cfg, "c.yaml",
					 NULL, 0, sets, 1, &err),
			 -EINVAL);
	assert_string_equal(err.message, "--set: agent.host: not \"bad\"");
	assert_int_equal(cfg_load_buffer(&tschema_checked, &cfg, "c.yaml", doc,
					 strlen(doc), ok, 1, &err),
			 0);
	assert_string_equal(cfg.host, "good");
	cfg_free(&tschema_checked, &cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_schema_check),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_error_fields),
	    cmocka_unit_test(test_file),
	    cmocka_unit_test(test_file_too_large),
	    cmocka_unit_test(test_set),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_dump),
	    cmocka_unit_test(test_secret),
	    cmocka_unit_test(test_schema),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_alloc_failure),
	    cmocka_unit_test(test_daemon_checks),
	    cmocka_unit_test(test_daemon_long_name),
	    cmocka_unit_test(test_config_fifo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
