/* Checks of values that parse but that a daemon would refuse at start
 * (struct cfg_key.check): etcd endpoints, the prefix, files, listen
 * addresses.  --check-config runs them as start does.  Never logs. */
#include "config/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cfg_check_endpoints(const void *value, char *msg, size_t len)
{
	const struct cfg_strlist *l = value;

	if (l->n == 0) {
		snprintf(msg, len, "at least one endpoint is needed, e.g. "
				   "[http://127.0.0.1:2379]");
		return -1;
	}
	for (size_t i = 0; i < l->n; i++) {
		const char *e = l->v[i], *host;

		host = strncmp(e, "http://", 7) == 0	? e + 7
		       : strncmp(e, "https://", 8) == 0 ? e + 8
							: NULL;
		if (!host || !*host || *host == '/' || *host == ':') {
			snprintf(msg, len,
				 "\"%.200s\" is not an http:// or https:// "
				 "URL with a host (e.g. http://127.0.0.1:2379)",
				 e);
			return -1;
		}
	}
	return 0;
}

int cfg_check_prefix(const void *value, char *msg, size_t len)
{
	const char *p = *(char *const *)value;

	if (p[0] != '/') {
		snprintf(msg, len,
			 "must start with '/' (e.g. /flintsched), got "
			 "\"%.200s\"",
			 p);
		return -1;
	}
	return 0;
}

int cfg_check_file(const void *value, char *msg, size_t len)
{
	const char *p = *(char *const *)value;
	struct stat st;
	char eb[128];

	if (!*p)
		return 0;
	if (stat(p, &st) < 0 || access(p, R_OK) < 0) {
		snprintf(msg, len, "%.300s: cannot read: %s", p,
			 cfg_strerror(errno, eb, sizeof(eb)));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(msg, len, "%.300s: not a regular file", p);
		return -1;
	}
	return 0;
}

int cfg_check_listen(const void *value, char *msg, size_t len)
{
	const char *p = *(char *const *)value, *colon = strrchr(p, ':');
	char host[64], *end;
	struct in_addr a;
	long port;

	if (!*p)
		return 0;
	if (!colon || (size_t)(colon - p) >= sizeof(host))
		goto bad;
	memcpy(host, p, (size_t)(colon - p));
	host[colon - p] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535 ||
	    inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &a) != 1)
		goto bad;
	return 0;
bad:
	snprintf(msg, len,
		 "want HOST:PORT with an IPv4 address (e.g. 127.0.0.1:9101), "
		 "got \"%.200s\"",
		 p);
	return -1;
}

int cfg_etcd_check(const struct cfg_etcd *e, struct cfg_check *ck)
{
	static const struct {
		const char *key;
		size_t off;
	} files[] = {
	    {"etcd.password_file", offsetof(struct cfg_etcd, password_file)},
	    {"etcd.tls.ca", offsetof(struct cfg_etcd, tls.ca)},
	    {"etcd.tls.cert", offsetof(struct cfg_etcd, tls.cert)},
	    {"etcd.tls.key", offsetof(struct cfg_etcd, tls.key)},
	};
	char msg[512];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (cfg_check_file((const char *)e + files[i].off, msg,
				   sizeof(msg)) < 0)
			return cfg_check_fail(ck, files[i].key, "%s", msg);
	if (*e->password_file && !*e->username)
		return cfg_check_fail(ck, "etcd.password_file",
				      "set without etcd.username: set both, "
				      "or neither");
	if (!*e->tls.cert != !*e->tls.key)
		return cfg_check_fail(ck,
				      *e->tls.cert ? "etcd.tls.cert"
						   : "etcd.tls.key",
				      "etcd.tls.cert and etcd.tls.key go "
				      "together: set both, or neither");
	return 0;
}

bool cfg_secret_exposed(const char *path)
{
	struct stat st;

	return path && *path && stat(path, &st) == 0 &&
	       (st.st_mode & (S_IRWXG | S_IRWXO));
}
