/*
 * flintschedctl — the operator's command line (docs/DESIGN.md
 * "flintschedctl").  One binary; one file per concern:
 *
 *  - main.c:        global options, dispatch, --help, exit codes
 *  - conn.c:        the etcd connection (flags, ETCDCTL_*, -c FILE) and
 *                   the messages for etcd errors
 *  - view.c:        one consistent read of the records a command shows
 *  - table.c:       aligned tables, colour on a terminal only
 *  - text.c:        escaping of untrusted strings, ages, the clock
 *  - place.c:       plan's verdict from the controller's placement unit
 *  - cmd_*.c:       one subcommand (or a family) each
 *
 * Exit codes (CTL_EXIT_*): 0 done; 1 invalid input, unknown id or host,
 * refused (exists, not found); 2 etcd unreachable, timed out or
 * permission denied.  Commands print their own errors on stderr and
 * return the code.
 */
#ifndef FLINTSCHED_CTL_H
#define FLINTSCHED_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/model.h"
#include "controller/ctrl.h"
#include "agent/config.h"
#include "controller/service.h"
#include "etcdclient/etcd.h"

enum { CTL_EXIT_OK = 0, CTL_EXIT_INPUT = 1, CTL_EXIT_ETCD = 2 };

enum ctl_output { CTL_OUT_TABLE, CTL_OUT_WIDE, CTL_OUT_JSON };

struct ctl {
	struct ev_loop *loop;
	etcd_client *etcd;
	char *endpoints; /* "http://a:2379,http://b:2379", for messages */
	char *user;	 /* etcd user or NULL, for messages */
	char *prefix;	 /* "/flintsched" (no trailing slash) */
	enum ctl_output out;
	bool colour;	/* stdout is a terminal and not -o json */
	int64_t now_ms; /* FLINTSCHEDCTL_NOW, else the clock */
	/* The controller's scheduling settings (strategy, weights, band)
	 * for plan: from -c FILE when it is a controller config, else the
	 * controller's defaults. */
	struct ctrl_config sched;
	bool sched_loaded;
	struct agent_config *agent_cfg; /* -c FILE was an agent config */
};

/* ---- conn.c ----------------------------------------------------------- */

struct ctl_conn_opts {
	const char *config;    /* -c FILE or NULL */
	const char *endpoints; /* --endpoints, comma separated, or NULL */
	const char *user;      /* --user NAME[:PASSWORD] */
	const char *cacert, *cert, *key;
	const char *prefix;
	double timeout_s; /* 0 = config / default */
};

/* Fills x->etcd, x->endpoints, x->prefix, x->sched.  Prints what went
 * wrong and returns an exit code on failure, 0 on success. */
int ctl_conn_open(struct ctl *x, const struct ctl_conn_opts *o);
void ctl_conn_close(struct ctl *x);
/* Prints "flintschedctl: <what>: <why>; <what to do>" for an etcd error
 * on key (may be NULL) and returns CTL_EXIT_ETCD. */
int ctl_etcd_fail(const struct ctl *x, const char *what, const char *key,
		  const struct etcd_error *e);
/* "P/<fmt...>" in a new string, or NULL. */
char *ctl_key(const struct ctl *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* What follows "P/<dir>" in key (dir ends in '/': "assign/"), or NULL
 * when key is not under it. */
const char *ctl_key_tail(const struct ctl *x, const char *key, const char *dir);

/* ---- text.c ----------------------------------------------------------- */

/* s for a terminal: printable ASCII as is, every other byte \xHH, at
 * most max bytes of s then "..." (max 0 = no bound).  Writes buf[0..n). */
char *ctl_esc(char *buf, size_t n, const char *s, size_t max);
/* Unix ms of an RFC 3339 UTC time ("2026-11-23T17:40:00.123Z"), or -1. */
int64_t ctl_time_parse(const char *s);
/* "12s", "5m", "3h", "4d", or "-" when t is unknown.  buf >= 16. */
char *ctl_age(char *buf, size_t n, int64_t now_ms, const char *rfc3339);
/* "500ms", "5s", "30m", "2h", "1d" (and, with bare_seconds, "2.5" as
 * seconds) in ms, or -1. */
int64_t ctl_duration_ms(const char *s, bool bare_seconds);
/* Ms since the epoch: FLINTSCHEDCTL_NOW (RFC 3339) if set, else now. */
int64_t ctl_now_ms(void);
/* Writes "msg\n" to stderr after "flintschedctl: ".  Returns code. */
int ctl_errorf(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- table.c ---------------------------------------------------------- */

typedef struct ctl_table ctl_table;

enum ctl_colour {
	CTL_C_NONE,
	CTL_C_GREEN,
	CTL_C_YELLOW,
	CTL_C_RED,
	CTL_C_BLUE,
	CTL_C_DIM
};

/* A table of ncols columns with the given headers (borrowed). */
ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
/* Appends a cell to the current row (a row is full after ncols cells):
 * text escaped with ctl_esc (bounded at 120 bytes), then copied. */
int ctl_table_cell(ctl_table *t, enum ctl_colour c, const char *text);
int ctl_table_cellf(ctl_table *t, enum ctl_colour c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Columns padded to their widest cell, two spaces apart, the last one
 * not padded; colours only when colour is true.  Returns 0 or -EIO. */
int ctl_table_print(const ctl_table *t, FILE *out, bool colour);
size_t ctl_table_rows(const ctl_table *t);
ctl_table *ctl_table_free(ctl_table *t);
/* The colour of a phase (running green, pending yellow, ...). */
enum ctl_colour ctl_phase_colour(const char *phase);

/* ---- view.c ----------------------------------------------------------- */

enum ctl_hoststate {
	CTL_H_LIVE,
	CTL_H_DISCONNECTED,
	CTL_H_CORDONED,
	CTL_H_DRAINING,
	CTL_H_GONE
};

/* P/hostctl/<host> (docs/DESIGN.md "Host lifecycle keys"). */
struct ctl_hostctl {
	bool present;
	char state[16]; /* "cordoned" | "drain" */
	int64_t max_parallel;
	char deadline[40];
	char by[64];
	char updated[32];
};

struct ctl_vhost {
	char name[FS_NAME_MAX + 1];
	bool rec_present;
	struct fs_host rec;
	int64_t rec_mod_rev;
	bool alloc_present;
	struct fs_alloc alloc;
	struct ctl_hostctl ctl;
	size_t n_assign; /* P/assign/<host>/ keys */
};

struct ctl_vreq {
	char *id;
	bool req_present;
	char *req; /* the request's JSON, NUL-terminated */
	size_t req_len;
	int64_t req_mod_rev;
	bool parsed_ok; /* ctrl_request_parse accepted it */
	struct ctrl_request parsed;
	bool st_present;
	char *st_raw;
	struct ctrl_status st;
	char *assigned_host; /* host of P/assign/<host>/<id>, or NULL */
};

struct ctl_view {
	int64_t revision;
	struct ctl_vhost *hosts; /* sorted by name */
	size_t n_hosts;
	struct ctl_vreq *reqs; /* sorted by id */
	size_t n_reqs;
	int64_t coordinators; /* P/meta, 0 if absent */
};

enum {
	CTL_V_HOSTS = 1, /* hosts, alloc, hostctl, assignment counts */
	CTL_V_REQS = 2,	 /* requests and statuses */
};

/* Reads what `what` asks at one revision.  Returns 0, or prints the etcd
 * error and returns CTL_EXIT_ETCD. */
int ctl_view_load(struct ctl *x, struct ctl_view *v, unsigned what);
/* Only the request id (and its status, assignment): returns 0, or
 * CTL_EXIT_INPUT (printed: unknown id), or CTL_EXIT_ETCD. */
int ctl_view_load_req(struct ctl *x, struct ctl_view *v, const char *id);
/* Every P/assign/ key with its value, at v's revision (plan's victims):
 * 0 and *ret (etcd_sync_range_free), or CTL_EXIT_ETCD (printed). */
int ctl_view_assigns(struct ctl *x, const struct ctl_view *v,
		     struct etcd_sync_range **ret);
void ctl_view_clear(struct ctl_view *v);
struct ctl_vhost *ctl_view_host(const struct ctl_view *v, const char *name);
struct ctl_vreq *ctl_view_req(const struct ctl_view *v, const char *id);
enum ctl_hoststate ctl_vhost_state(const struct ctl_vhost *h);
const char *ctl_hoststate_name(enum ctl_hoststate s);
/* The phase a request shows: its status's, "pending" without one. */
const char *ctl_vreq_phase(const struct ctl_vreq *r);
/* Parses a P/hostctl value.  0 or -EINVAL with err. */
int ctl_hostctl_parse(const char *json, size_t len, struct ctl_hostctl *out,
		      char *err, size_t errlen);

/* ---- commands ---------------------------------------------------------- */

/* argv[0] is the subcommand name; options after it are its own. */
int ctl_cmd_submit(struct ctl *x, int argc, char **argv);
int ctl_cmd_get(struct ctl *x, int argc, char **argv);
int ctl_cmd_list(struct ctl *x, int argc, char **argv);
int ctl_cmd_hosts(struct ctl *x, int argc, char **argv);
int ctl_cmd_explain(struct ctl *x, int argc, char **argv);
int ctl_cmd_plan(struct ctl *x, int argc, char **argv);
int ctl_cmd_watch(struct ctl *x, int argc, char **argv);
int ctl_cmd_delete(struct ctl *x, int argc, char **argv);
int ctl_cmd_hostctl(struct ctl *x, int argc, char **argv);
int ctl_cmd_top(struct ctl *x, int argc, char **argv);

/* Reads FILE (or "-") and checks it with the controller's parser; the id
 * is opt_id or FILE's base name without .json.  Returns 0 (*ret_buf,
 * *ret_len, *ret_req to release), or prints why and returns
 * CTL_EXIT_INPUT. */
int ctl_request_load(const char *path, const char *opt_id, char *id,
		     size_t idlen, char **ret_buf, size_t *ret_len,
		     struct ctrl_request *ret_req);
/* A request as -o json shows it: {"id","phase","request","status",...}. */
struct json_t *ctl_vreq_json(const struct ctl_vreq *r);
/* Reads FILE (or stdin for "-") into a new NUL-terminated buffer.
 * Returns 0 or prints the error and returns CTL_EXIT_INPUT. */
int ctl_read_input(const char *path, char **ret, size_t *ret_len);
/* A JSON string of s (valid UTF-8 as is, else ctl_esc'd), new reference. */
struct json_t *ctl_json_str(const char *s);
/* Prints j (consumed) as indented JSON on stdout; returns an exit code. */
struct json_t;
int ctl_print_json(struct json_t *j);

#endif
