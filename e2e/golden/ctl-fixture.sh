# shellcheck shell=bash
# Fixed records for the golden-output tests of e2e/test_ctl.sh, written
# under the prefix $G with `E put` (sourced; E and spec from e2e/lib.sh).
# The clock is FLINTSCHEDCTL_NOW=2026-12-01T12:00:00.000Z.
# req ID SPEC [STATUS]: the request, then its status with "request_rev"
# set to the request's mod revision (@REV@ in STATUS).
req() {
	local rev
	E put "$G/requests/$1" "$2" >/dev/null
	rev=$(E get "$G/requests/$1" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["mod_revision"])')
	[ -z "${3:-}" ] || E put "$G/status/$1" "${3//@REV@/$rev}" >/dev/null
}
host() { # NAME ZONE VCPU MEM MAXVMS UTILCPU UTILMEM UPDATED
	E put "$G/hosts/$1" "{\"host\":\"$1\",\"endpoint\":\"http://$1:9090\",\"labels\":{\"zone\":\"$2\"},\"capacity\":{\"vcpu\":$3,\"memory_mb\":$4,\"max_vms\":$5},\"allocatable\":{\"vcpu\":$3,\"memory_mb\":$4,\"max_vms\":$5},\"util\":{\"cpu\":$6,\"memory\":$7},\"vms\":0,\"agent_version\":\"0.1.0\",\"updated\":\"$8\"}" >/dev/null
}
host node-a a 8 16384 8 0.10 0.25 2026-12-01T11:59:30.000Z
host node-b b 16 32768 16 0.00 0.00 2026-12-01T11:55:00.000Z
host node-d a 8 16384 8 0.50 0.50 2026-12-01T09:00:00.000Z
E put "$G/alloc/node-a" '{"vcpu":2,"memory_mb":2048,"vms":1,"groups":{"web":1}}' >/dev/null
E put "$G/alloc/node-c" '{"vcpu":4,"memory_mb":4096,"vms":1}' >/dev/null
E put "$G/assign/node-a/web-1" "{\"request\":$(spec 2 2048),\"request_rev\":5,\"attempt\":1}" >/dev/null
E put "$G/assign/node-c/old-1" "{\"request\":$(spec 4 4096),\"request_rev\":5,\"attempt\":1}" >/dev/null
E put "$G/hostctl/node-d" '{"state":"cordoned","by":"alice","updated":"2026-12-01T11:00:00.000Z"}' >/dev/null
E put "$G/meta" '{"coordinators":1}' >/dev/null
req web-1 "$(spec 2 2048 '"scheduling":{"spread":"web"}')" \
	'{"phase":"running","host":"node-a","attempt":1,"score":0.175,"coordinator":"ctrl-a/slot-0","request_rev":@REV@,"reason":"running; placed on node-a: lowest score 0.175 of 3 bids","explain":{"hosts":3,"feasible":3,"bids":3,"rejected":{}},"updated":"2026-12-01T11:58:00.000Z"}'
req old-1 "$(spec 4 4096)" \
	'{"phase":"running","host":"node-c","attempt":1,"score":0.3,"coordinator":"ctrl-a/slot-0","request_rev":@REV@,"reason":"running","updated":"2026-12-01T10:00:00.000Z"}'
req db-1 "$(spec 32 16384 '"scheduling":{"selector":{"zone":"a"},"priority":10}')" \
	'{"phase":"unschedulable","host":"","attempt":0,"score":0,"coordinator":"ctrl-a/slot-0","request_rev":@REV@,"reason":"no host fits: insufficient memory (2 of 3 hosts), selector zone=a (1 of 3 hosts)","explain":{"hosts":3,"feasible":0,"bids":0,"rejected":{"insufficient memory":2,"selector zone=a":1}},"updated":"2026-12-01T11:59:55.000Z"}'
# A reason with a raw escape byte and a newline, as a hostile writer could
# leave it: shown escaped, never raw.
req bad-1 "$(spec 0 1024)" \
	"{\"phase\":\"rejected\",\"host\":\"\",\"attempt\":0,\"score\":0,\"coordinator\":\"ctrl-a/slot-0\",\"request_rev\":@REV@,\"reason\":\"vcpu: must be 1..64, got 0 \\u001b[31mred\\nline\",\"updated\":\"2026-12-01T11:00:00.000Z\"}"
req new-1 "$(spec 1 1024)"
# new-1 has no status yet but an open bid round with two bids.
E put "$G/rounds/new-1" '{"attempt":1,"need":{"vcpu":1,"memory_mb":1024},"deadline_ms":1796126401000,"hosts":["node-a","node-b"],"coordinator":"ctrl-a/slot-0"}' >/dev/null
E put "$G/bids/node-a/new-1" '{"attempt":1,"fits":true,"score":0.2,"free":{"vcpu":6,"memory_mb":14336,"vms":7},"reason":""}' >/dev/null
E put "$G/bids/node-b/new-1" '{"attempt":1,"fits":false,"score":0,"free":{"vcpu":16,"memory_mb":32768,"vms":16},"reason":"selector zone=a"}' >/dev/null
E put "$G/bids/node-b/new-10" '{"attempt":1,"fits":true,"score":0.9,"free":{"vcpu":16,"memory_mb":32768,"vms":16},"reason":""}' >/dev/null
# A status under a key that is no valid id (the controller rejects such a
# request by name): control and non-UTF-8 bytes, shown escaped, and -o json
# stays valid JSON.
E put "$G/status/$(printf 'ev\033il\377')" '{"phase":"rejected","host":"","attempt":0,"score":0,"request_rev":1,"reason":"id: not a valid request id","updated":"2026-12-01T11:59:00.000Z"}' >/dev/null
