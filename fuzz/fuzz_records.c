/*
 * libFuzzer target: arbitrary bytes as every JSON record flintsched reads
 * from etcd — a user's request (P/requests/<id>), a status, and the host
 * record, allocation, round and bid that agents and coordinators exchange.
 * Whatever parses must format back and parse again to the same record.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/model.h"
#include "common/spec.h"
#include "controller/ctrl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char err[256];

	struct ctrl_request rq = {0};
	if (ctrl_request_parse("fuzz-1", s, size, &rq, err, sizeof(err)) == 0) {
		/* The agent must count the spec as the coordinator did. */
		json_t *spec = json_loadb(s, size, 0, NULL);
		struct fs_res res;
		if (!spec)
			abort();
		fs_spec_res(spec, &res);
		if (res.vcpu != rq.need.res.vcpu ||
		    res.memory_mb != rq.need.res.memory_mb)
			abort();
		json_decref(spec);
		ctrl_request_clear(&rq);
	} else if (err[0] == '\0') {
		abort(); /* a rejection must say why */
	} else {
		/* A reason goes into a status: printable ASCII only, whatever
		 * bytes the request held. */
		for (const char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				abort();
	}

	struct ctrl_status st = {0};
	if (ctrl_status_parse(s, size, &st, err, sizeof(err)) == 0)
		ctrl_status_clear(&st);

	struct fs_host h = {0};
	if (fs_host_parse(s, size, &h, err, sizeof(err)) == 0) {
		char *out = fs_host_format(&h);
		struct fs_host h2 = {0};
		if (out == NULL ||
		    fs_host_parse(out, strlen(out), &h2, err, sizeof(err)) != 0)
			abort();
		fs_host_clear(&h2);
		free(out);
		fs_host_clear(&h);
	}

	struct fs_alloc a = {0};
	if (fs_alloc_parse(s, size, &a, err, sizeof(err)) == 0) {
		char *out = fs_alloc_format(&a);
		struct fs_alloc a2 = {0};
		if (out == NULL ||
		    fs_alloc_parse(out, strlen(out), &a2, err, sizeof(err)) != 0 ||
		    a2.used.vcpu != a.used.vcpu || a2.n_groups != a.n_groups)
			abort();
		fs_alloc_clear(&a2);
		free(out);
		fs_alloc_clear(&a);
	}

	struct fs_round r = {0};
	if (fs_round_parse(s, size, &r, err, sizeof(err)) == 0) {
		char *out = fs_round_format(&r);
		struct fs_round r2 = {0};
		if (out == NULL ||
		    fs_round_parse(out, strlen(out), &r2, err, sizeof(err)) != 0 ||
		    r2.n_hosts != r.n_hosts || r2.attempt != r.attempt)
			abort();
		fs_round_clear(&r2);
		free(out);
		fs_round_clear(&r);
	}

	struct fs_bid b;
	if (fs_bid_parse(s, size, &b, err, sizeof(err)) == 0) {
		char *out = fs_bid_format(&b);
		free(out);
	}
	return 0;
}
