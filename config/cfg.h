/*
 * config — YAML configuration loading with libyaml, driven by one table.
 *
 * A binary declares its configuration as a C struct and one table of
 * `struct cfg_key`, one entry per key: dotted path, type, where the value
 * lives in the struct, default, range and help text.  The table is the only
 * place a key is described; loading, `--set`, `--help` and `--print-defaults`
 * all read it.
 *
 *	struct agent_config {
 *		struct cfg_etcd etcd;
 *		struct cfg_log log;
 *		char *host;
 *		int64_t vcpu;                 // CFG_AUTO (-1) = detect
 *		double overcommit_cpu;
 *		int executor;                 // index into executor_types
 *		struct cfg_strmap labels;
 *	};
 *
 *	static const char *const executor_types[] = {
 *		"flintlock", "exec", "simulate", NULL};
 *
 *	static const struct cfg_key agent_keys[] = {
 *		CFG_ETCD_KEYS(struct agent_config, etcd),
 *		CFG_LOG_KEYS(struct agent_config, log),
 *		CFG_KEY_STRING("agent.host", struct agent_config, host, "",
 *			       "host name; empty = gethostname()"),
 *		CFG_KEY_INT_AUTO("agent.capacity.vcpu", struct agent_config,
 *				 vcpu, "auto", 1, 4096, "vCPUs offered"),
 *		CFG_KEY_DOUBLE("agent.overcommit.cpu", struct agent_config,
 *			       overcommit_cpu, "1.0", 0.1, 16, "vCPU ratio"),
 *		CFG_KEY_ENUM("executor.type", struct agent_config, executor,
 *			     "flintlock", executor_types, "how VMs are made"),
 *		CFG_KEY_STRMAP("agent.labels", struct agent_config, labels,
 *			       "{}", "labels matched by selectors"),
 *	};
 *	static const struct cfg_schema agent_schema = CFG_SCHEMA(agent_keys);
 *
 *	struct agent_config cfg;
 *	struct cfg_error err;
 *	if (cfg_load(&agent_schema, &cfg, path, sets, n_sets, &err) < 0) {
 *		fprintf(stderr, "%s\n", err.message);
 *		exit(1);
 *	}
 *	...
 *	cfg_free(&agent_schema, &cfg);
 *
 * Composition: a schema is one flat array.  The shared sections of
 * DESIGN.md ("Config") come as macros expanding to table entries,
 * CFG_ETCD_KEYS(type, member) and CFG_LOG_KEYS(type, member), where `member`
 * is a `struct cfg_etcd` / `struct cfg_log` inside the binary's struct.
 * Every CFG_KEY_* macro checks at compile time that the member has the C
 * type its key type stores (a mismatch is a _Generic error), so write
 * entries with the macros rather than by hand.
 *
 * Key types and the C type of the member they fill:
 *
 *	CFG_BOOL      bool       true|false|yes|no|on|off (any case)
 *	CFG_INT       int64_t    decimal integer in imin..imax
 *	CFG_INT_AUTO  int64_t    `auto` (stored as CFG_AUTO, -1) or an integer
 *	                         in imin..imax (imin must be >= 0)
 *	CFG_DOUBLE    double     finite number in dmin..dmax
 *	CFG_STRING    char *     any scalar; quote it to keep `123` or `true`
 *	                         as text; never NULL after a load
 *	CFG_ENUM      int        one of `choices` (NULL-terminated), stored as
 *	                         its index, so a C enum in the same order
 *	                         can be compared with it
 *	CFG_STRLIST   struct cfg_strlist   sequence of scalars, [a, b] or block
 *	CFG_STRMAP    struct cfg_strmap    mapping of scalar -> scalar, in the
 *	                         order written
 *
 * Integers, doubles and bools must be plain (unquoted) scalars: "5000" in
 * quotes is a string, and is reported as one.  A null value (`key:` with
 * nothing after it, `~`, `null`) is an error for every type; write "" for an
 * empty string, [] and {} for empty collections.
 *
 * Defaults: `def` is YAML flow text, exactly what `--set key=` would take
 * ("5000", "[http://127.0.0.1:2379]", "{}", "auto", "info").  Defaults go
 * through the same parser and checks as the file, so a bad default is
 * reported (as `default: key: ...`) by cfg_load and cfg_schema_check.  A
 * NULL `def` means the zero value (false, 0, "", empty list or map), which
 * must then lie within the key's range; an enum needs a `def`.
 *
 * Sections: a path "etcd.tls.ca" makes `etcd` and `etcd.tls` sections
 * (mappings).  A path may not be both a key and a section.  Unknown keys in
 * a section are errors with a did-you-mean suggestion.
 *
 * Loading order: defaults, then the file, then each `--set` in order; later
 * ones win.  A key written in the file replaces its default whole (a list
 * is not appended to).
 *
 * The file must hold exactly one YAML document whose top level is a
 * mapping.  An empty file (or one of only comments) is an error — an empty
 * config is almost always a deployment mistake; write `{}` for "all
 * defaults".  Anchors, aliases and tags are rejected (they buy nothing in a
 * config and aliases allow exponential expansion).  Duplicate keys are
 * errors.  The file must be UTF-8 and at most CFG_MAX_FILE_SIZE bytes.
 *
 * `--set` overrides: "path=value", value being YAML flow text as for
 * defaults: `etcd.endpoints=[http://a:2379,http://b:2379]`,
 * `agent.labels={zone: a, rack: r1}`, `log.level=debug`.  An empty value
 * (`etcd.username=`) is the empty string.  The path may also name a section,
 * whose value is then a mapping: `etcd.tls={ca: /c.pem, cert: /x, key: /k}`.
 *
 * Errors: every function that can fail returns 0 or a negative errno and,
 * when `err` is not NULL, fills it with one line ready to print:
 *
 *	agent.yaml:12:3: scheduling.candidates: must be 1..64, got 0
 *	agent.yaml:4:3: etcd.endpoint: unknown key (did you mean
 *	    etcd.endpoints?)
 *	--set: log.level: must be one of error|warn|info|debug, got "verbose"
 *	default: etcd.request_timeout_ms: must be 100..600000, got 50
 *	agent.yaml: cannot read: No such file or directory
 *
 * Lines and columns are 1-based; columns count characters.  Loading stops
 * at the first error.  Codes: -EINVAL for an invalid document, value,
 * `--set` or schema; -ENOMEM; -EFBIG for a file over the size limit; the
 * errno of open()/read() (-ENOENT, -EACCES, -EISDIR, ...) for a file that
 * cannot be read.
 *
 * Ownership: strings, lists and maps written into the caller's struct are
 * owned by it and released only by cfg_free() (they come from the
 * allocator set with cfg_set_alloc_funcs()).  The library never prints,
 * logs or exits, keeps no state besides the allocator hooks, and is safe
 * to use from several threads on different structs.
 */
#ifndef FLINTSCHED_CFG_H
#define FLINTSCHED_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_type {
	CFG_BOOL,
	CFG_INT,
	CFG_INT_AUTO,
	CFG_DOUBLE,
	CFG_STRING,
	CFG_ENUM,
	CFG_STRLIST,
	CFG_STRMAP,
};

/* Value of a CFG_INT_AUTO key set to `auto`. */
#define CFG_AUTO INT64_C(-1)

/* Files larger than this are refused with -EFBIG. */
#define CFG_MAX_FILE_SIZE (4 * 1024 * 1024)

struct cfg_strlist {
	char **v; /* n strings, each owned */
	size_t n;
};

struct cfg_strpair {
	char *key;
	char *value;
};

struct cfg_strmap {
	struct cfg_strpair *v; /* n pairs, keys unique, in document order */
	size_t n;
};

struct cfg_key {
	const char *path; /* dotted: "etcd.tls.ca" */
	enum cfg_type type;
	size_t offset;		    /* of the member in the caller's struct */
	const char *def;	    /* YAML flow text, NULL = zero value */
	const char *help;	    /* one line, shown by cfg_print_help() */
	int64_t imin, imax;	    /* CFG_INT, CFG_INT_AUTO */
	double dmin, dmax;	    /* CFG_DOUBLE */
	const char *const *choices; /* CFG_ENUM, NULL-terminated */
	/* Optional: what start would refuse in a value of the right type
	 * (an endpoint without a scheme, a missing file).  Gets a pointer
	 * to the value as stored (char **, struct cfg_strlist *, ...);
	 * returns 0, or -1 with a sentence in msg, reported at the value's
	 * position as "file:line:col: key: msg".  Runs on defaults too. */
	int (*check)(const void *value, char *msg, size_t len);
};

struct cfg_check;

struct cfg_schema {
	const struct cfg_key *keys;
	size_t n_keys;
	/* Checks that span keys or need more than a range (a value that
	 * must parse as an address, files that must exist), run by
	 * cfg_load() once every key is loaded, with `cfg` the caller's
	 * struct filled in.  Returns 0, or what cfg_check_fail() returned.
	 * NULL: none. */
	int (*check)(const void *cfg, struct cfg_check *ck);
};

#define CFG_SCHEMA(keys_)                                                      \
	{                                                                      \
		.keys = (keys_), .n_keys = sizeof(keys_) / sizeof((keys_)[0])  \
	}
#define CFG_SCHEMA_CHECK(keys_, check_)                                        \
	{                                                                      \
		.keys = (keys_), .n_keys = sizeof(keys_) / sizeof((keys_)[0]), \
		.check = (check_)                                              \
	}

/*
 * From a schema's check: reports that key `path` is wrong, at the place
 * its value came from ("agent.yaml:31:15: executor.flintlock.endpoint:
 * want host:port, got ..."; "--set: ..."; "default: ..."), and returns
 * -EINVAL for the check to return.
 */
int cfg_check_fail(struct cfg_check *ck, const char *path, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));

/* Checks for the shared etcd section and common keys (config/check.c):
 * endpoints http:// or https:// with a host, one at least; a prefix that
 * starts with '/'; a file that exists, is a regular file and is
 * readable ("" = unset passes); an IPv4 HOST:PORT ("" = off passes). */
int cfg_check_endpoints(const void *value, char *msg, size_t len);
int cfg_check_prefix(const void *value, char *msg, size_t len);
int cfg_check_file(const void *value, char *msg, size_t len);
int cfg_check_listen(const void *value, char *msg, size_t len);
/* The etcd section's checks that depend on more than one key (a
 * password file without a user, a client certificate without its key)
 * or on the machine (each file exists and is readable: cfg_check_file);
 * for a daemon's schema check to call, so that tests of the generic
 * loader need no real files. */
struct cfg_etcd;
int cfg_etcd_check(const struct cfg_etcd *e, struct cfg_check *ck);
/* True if the secret file at path can be read or written by others
 * than its owner (a warning for --check-config and start to print). */
bool cfg_secret_exposed(const char *path);

struct cfg_error {
	int line, col;	   /* 1-based; 0 when the error has no position */
	char file[256];	   /* file name, "--set", "default" or "schema" */
	char key[128];	   /* dotted key path, "" when none */
	char message[768]; /* the whole line: "file:line:col: key: what" */
};

/* offsetof(T, m), refusing to compile unless member m has type ctype_. */
#define CFG_OFFSETOF_(T, m, ctype_)                                            \
	_Generic(((T *)0)->m, ctype_ : offsetof(T, m))

#define CFG_KEY_BOOL(p_, T, m, d_, h_)                                         \
	{                                                                      \
		.path = (p_), .type = CFG_BOOL,                                \
		.offset = CFG_OFFSETOF_(T, m, bool), .def = (d_), .help = (h_) \
	}

#define CFG_KEY_INT(p_, T, m, d_, lo_, hi_, h_)                                \
	{                                                                      \
		.path = (p_), .type = CFG_INT,                                 \
		.offset = CFG_OFFSETOF_(T, m, int64_t), .def = (d_),           \
		.help = (h_), .imin = (lo_), .imax = (hi_)                     \
	}

#define CFG_KEY_INT_AUTO(p_, T, m, d_, lo_, hi_, h_)                           \
	{                                                                      \
		.path = (p_), .type = CFG_INT_AUTO,                            \
		.offset = CFG_OFFSETOF_(T, m, int64_t), .def = (d_),           \
		.help = (h_), .imin = (lo_), .imax = (hi_)                     \
	}

#define CFG_KEY_DOUBLE(p_, T, m, d_, lo_, hi_, h_)                             \
	{                                                                      \
		.path = (p_), .type = CFG_DOUBLE,                              \
		.offset = CFG_OFFSETOF_(T, m, double), .def = (d_),            \
		.help = (h_), .dmin = (lo_), .dmax = (hi_)                     \
	}

#define CFG_KEY_STRING(p_, T, m, d_, h_)                                       \
	{                                                                      \
		.path = (p_), .type = CFG_STRING,                              \
		.offset = CFG_OFFSETOF_(T, m, char *), .def = (d_),            \
		.help = (h_)                                                   \
	}

/* A string key with a check (struct cfg_key.check). */
#define CFG_KEY_STRING_CHECK(p_, T, m, d_, chk_, h_)                           \
	{                                                                      \
		.path = (p_), .type = CFG_STRING,                              \
		.offset = CFG_OFFSETOF_(T, m, char *), .def = (d_),            \
		.help = (h_), .check = (chk_)                                  \
	}

#define CFG_KEY_ENUM(p_, T, m, d_, choices_, h_)                               \
	{                                                                      \
		.path = (p_), .type = CFG_ENUM,                                \
		.offset = CFG_OFFSETOF_(T, m, int), .def = (d_), .help = (h_), \
		.choices = (choices_)                                          \
	}

#define CFG_KEY_STRLIST(p_, T, m, d_, h_)                                      \
	{                                                                      \
		.path = (p_), .type = CFG_STRLIST,                             \
		.offset = CFG_OFFSETOF_(T, m, struct cfg_strlist),             \
		.def = (d_), .help = (h_)                                      \
	}

#define CFG_KEY_STRMAP(p_, T, m, d_, h_)                                       \
	{                                                                      \
		.path = (p_), .type = CFG_STRMAP,                              \
		.offset = CFG_OFFSETOF_(T, m, struct cfg_strmap), .def = (d_), \
		.help = (h_)                                                   \
	}

/*
 * Shared sections (DESIGN.md "Config").  Embed the struct in the binary's
 * config struct and put the macro in its key table.
 */
struct cfg_etcd_tls {
	char *ca;   /* "" = system CAs (https endpoints) */
	char *cert; /* client certificate, "" = none */
	char *key;
};

struct cfg_etcd {
	struct cfg_strlist endpoints;
	char *prefix;
	char *username;	     /* "" = no etcd auth */
	char *password_file; /* read it with cfg_read_secret() */
	struct cfg_etcd_tls tls;
	int64_t request_timeout_ms;
};

enum cfg_log_level {
	CFG_LOG_ERROR,
	CFG_LOG_WARN,
	CFG_LOG_INFO,
	CFG_LOG_DEBUG,
};

struct cfg_log {
	int level; /* enum cfg_log_level */
};

/* "error", "warn", "info", "debug", NULL — in enum cfg_log_level order. */
extern const char *const cfg_log_levels[];

#define CFG_ETCD_KEYS(T, m)                                                    \
	{.path = "etcd.endpoints", .type = CFG_STRLIST,                        \
	 .offset = CFG_OFFSETOF_(T, m.endpoints, struct cfg_strlist),          \
	 .def = "[http://127.0.0.1:2379]",                                     \
	 .help = "etcd client URLs, tried in order on failure",                \
	 .check = cfg_check_endpoints},                                        \
	    CFG_KEY_STRING_CHECK("etcd.prefix", T, m.prefix, "/flintsched",    \
				 cfg_check_prefix,                             \
				 "prefix of every flintsched key"),            \
	    CFG_KEY_STRING("etcd.username", T, m.username, "\"\"",             \
			   "etcd user; empty = no authentication"),            \
	    CFG_KEY_STRING("etcd.password_file", T, m.password_file, "\"\"",   \
			   "file holding the etcd user's password"),           \
	    CFG_KEY_STRING("etcd.tls.ca", T, m.tls.ca, "\"\"",                 \
			   "CA bundle for https endpoints; empty = system"),   \
	    CFG_KEY_STRING("etcd.tls.cert", T, m.tls.cert, "\"\"",             \
			   "client certificate (PEM); empty = none"),          \
	    CFG_KEY_STRING("etcd.tls.key", T, m.tls.key, "\"\"",               \
			   "client certificate's private key (PEM)"),          \
	    CFG_KEY_INT("etcd.request_timeout_ms", T, m.request_timeout_ms,    \
			"5000", 100, 600000,                                   \
			"timeout of one etcd request, milliseconds")

#define CFG_LOG_KEYS(T, m)                                                     \
	CFG_KEY_ENUM("log.level", T, m.level, "info", cfg_log_levels,          \
		     "least severe message logged")

/*
 * Loads the configuration at `path` (NULL = defaults only) into `dst`, then
 * applies the `n_sets` overrides "path=value" of `sets` in order, then
 * runs the schema's check (cfg_set() does not run it).
 * `dst` is treated as uninitialised: on success every member named in the
 * schema is written (release them with cfg_free()), and other members are
 * left alone; on failure `dst` is not touched.
 */
int cfg_load(const struct cfg_schema *s, void *dst, const char *path,
	     const char *const *sets, size_t n_sets, struct cfg_error *err);

/*
 * cfg_load() from memory: `buf` holds `len` bytes of YAML (need not be
 * NUL-terminated), `name` is used in messages.  buf == NULL means defaults
 * only; an empty buffer is an error like an empty file.
 */
int cfg_load_buffer(const struct cfg_schema *s, void *dst, const char *name,
		    const char *buf, size_t len, const char *const *sets,
		    size_t n_sets, struct cfg_error *err);

/*
 * Applies one "path=value" override to a loaded `dst`, releasing the value
 * it replaces.  On failure `dst` is unchanged.
 */
int cfg_set(const struct cfg_schema *s, void *dst, const char *assignment,
	    struct cfg_error *err);

/*
 * Releases the strings, lists and maps of a loaded `dst` and zeroes those
 * members.  Accepts dst == NULL and a struct zeroed or already freed.
 */
void cfg_free(const struct cfg_schema *s, void *dst);

/*
 * Checks the table itself: paths well formed and unique, no path both key
 * and section, ranges sane, every default valid.  cfg_load() runs it too;
 * call it from a unit test to catch table mistakes at build time.
 */
int cfg_schema_check(const struct cfg_schema *s, struct cfg_error *err);

/* The key whose path is `path`, or NULL.  Borrowed from the table. */
const struct cfg_key *cfg_key_find(const struct cfg_schema *s,
				   const char *path);

/*
 * Writes, for `--help`, every key in table order:
 *
 *	etcd.request_timeout_ms  integer 100..600000, default 5000
 *	    timeout of one etcd request, milliseconds
 *
 * Returns 0, or -EIO when writing to `out` failed.
 */
int cfg_print_help(const struct cfg_schema *s, FILE *out);

/*
 * Writes the values of a loaded `src` as a YAML document that cfg_load()
 * reads back to the same values (nested sections, table order).  For
 * `--print-defaults`, load with path == NULL and dump.  Returns 0, -ENOMEM
 * or -EIO.
 */
int cfg_dump(const struct cfg_schema *s, const void *src, FILE *out);

/*
 * Reads a secret (password, token) from the file at `path` into a new
 * string in *ret_secret, without one trailing "\n" or "\r\n".  An empty
 * secret, a NUL byte or a file over 64 KiB is an error.  `key` (may be
 * NULL) names the config key in messages:
 *	/etc/fs/pw: etcd.password_file: cannot read: Permission denied
 * Release the secret with cfg_secret_free().
 */
int cfg_read_secret(const char *key, const char *path, char **ret_secret,
		    struct cfg_error *err);

/* Wipes and frees a secret from cfg_read_secret(); returns NULL. */
char *cfg_secret_free(char *secret);

/*
 * Replaces the allocator used for everything the library allocates
 * (defaults: malloc, realloc, free; NULL restores a default).  Process-wide
 * and not thread-safe: call it before any other cfg_ function, or from a
 * test to inject allocation failures.  libyaml's own allocations use
 * malloc regardless; its out-of-memory errors surface as -ENOMEM.
 */
void cfg_set_alloc_funcs(void *(*malloc_fn)(size_t),
			 void *(*realloc_fn)(void *, size_t),
			 void (*free_fn)(void *));

#endif
