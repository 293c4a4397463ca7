/* libFuzzer target: arbitrary bytes as an etcd gateway answer, through
 * every decoder of etcdclient (as client.c would after json_loadb). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "etcdclient/internal.h"
#include "etcdclient/watch_election.h"

/* Touch what a caller would read, so that bad pointers show up. */
static size_t touch_kvs(const struct etcd_kv *kvs, size_t n)
{
	size_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		sum += strlen(kvs[i].key) + kvs[i].key_len;
		if (kvs[i].value_len > 0)
			sum += (unsigned char)kvs[i].value[kvs[i].value_len - 1];
		sum += (unsigned char)kvs[i].value[kvs[i].value_len];
	}
	return sum;
}

static size_t touch_txn(const struct etcd_txn_result *t)
{
	size_t sum = 0;

	for (size_t i = 0; i < t->n_responses; i++) {
		const struct etcd_op_result *op = &t->responses[i];
		switch (op->type) {
		case ETCD_OP_RANGE:
			sum += touch_kvs(op->u.range.kvs, op->u.range.n_kvs);
			break;
		case ETCD_OP_PUT:
			if (op->u.put.prev_kv != NULL)
				sum += touch_kvs(op->u.put.prev_kv, 1);
			break;
		case ETCD_OP_DELETE:
			sum += touch_kvs(op->u.del.prev_kvs,
					 op->u.del.n_prev_kvs);
			break;
		case ETCD_OP_TXN:
			sum += touch_txn(op->u.txn);
			break;
		}
	}
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)data, size, 0, &jerr);
	struct etcd_arena a = {0};
	volatile size_t sink = 0;

	if (j == NULL)
		return 0;

	struct etcd_range_result rr;
	if (etcd_decode_range(j, &a, &rr) == 0)
		sink += touch_kvs(rr.kvs, rr.n_kvs);
	etcd_arena_clear(&a);

	struct etcd_put_result pr;
	if (etcd_decode_put(j, &a, &pr) == 0 && pr.prev_kv != NULL)
		sink += touch_kvs(pr.prev_kv, 1);
	etcd_arena_clear(&a);

	struct etcd_delete_result dr;
	if (etcd_decode_delete(j, &a, &dr) == 0)
		sink += touch_kvs(dr.prev_kvs, dr.n_prev_kvs);
	etcd_arena_clear(&a);

	struct etcd_txn_result tr;
	if (etcd_decode_txn(j, &a, &tr) == 0)
		sink += touch_txn(&tr);
	etcd_arena_clear(&a);

	int64_t id, ttl;
	(void)etcd_decode_lease_grant(j, &id, &ttl);
	(void)etcd_decode_keepalive(j, &ttl);

	struct etcd_lease_ttl_result lr;
	if (etcd_decode_lease_ttl(j, &a, &lr) == 0)
		for (size_t i = 0; i < lr.n_keys; i++)
			sink += strlen(lr.keys[i]);
	etcd_arena_clear(&a);

	struct etcd_watch_update wu;
	struct etcd_error we;
	if (etcd_watch_decode(j, &a, &wu, &we) == 0)
		for (size_t i = 0; i < wu.n_events; i++) {
			sink += touch_kvs(&wu.events[i].kv, 1);
			if (wu.events[i].prev_kv != NULL)
				sink += touch_kvs(wu.events[i].prev_kv, 1);
		}
	etcd_arena_clear(&a);

	struct etcd_kv okv;
	if (etcd_observe_decode(j, &a, &okv, &we) == 0)
		sink += touch_kvs(&okv, 1);
	etcd_arena_clear(&a);

	struct etcd_leader_key lk;
	if (etcd_leader_key_decode(j, &a, &lk) == 0)
		sink += strlen(lk.name) + strlen(lk.key);
	etcd_arena_clear(&a);

	struct etcd_header h;
	(void)etcd_decode_header(json_object_get(j, "header"), &h);

	struct etcd_error e;
	etcd_decode_error(j, 400, &e);
	sink += strlen(e.message);

	json_decref(j);
	(void)sink;
	return 0;
}
