/* asgtest.h: the confirming status of a hand-written assignment. */
#include "test/lib/asgtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int asgtest_status(const char *key, const char *val, char *skey,
		   size_t skcap, char *st, size_t stcap)
{
	const char *fam = strstr(key, "/assign/"), *host, *id;
	const char *rr = strstr(val, "\"request_rev\":");
	const char *at = strstr(val, "\"attempt\":");
	int n;

	if (!fam)
		return -1;
	host = fam + strlen("/assign/");
	id = strchr(host, '/');
	if (!id || !id[1])
		return -1;
	n = snprintf(skey, skcap, "%.*s/status/%s", (int)(fam - key), key,
		     id + 1);
	if (n < 0 || (size_t)n >= skcap)
		return -1;
	n = snprintf(st, stcap,
		     "{\"phase\":\"scheduled\",\"host\":\"%.*s\","
		     "\"attempt\":%lld,\"request_rev\":%lld}",
		     (int)(id - host), host,
		     at ? atoll(at + strlen("\"attempt\":")) : 1,
		     rr ? atoll(rr + strlen("\"request_rev\":")) : 0);
	return n < 0 || (size_t)n >= stcap ? -1 : 0;
}
