#!/usr/bin/env bash
# The agent as an operator drives it: SIGHUP reloads labels and capacity
# from its file without a restart (same lease); SIGTERM exits 0 without
# revoking the lease, so the host record stays until its TTL (a restart
# within it moves nothing).
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_etcd_start
conf() { # conf ZONE VCPU
	cat >"$E2E_TMP/agent.yaml" <<YAML
etcd: {endpoints: [$EP]}
agent:
  host: node-1
  lease_ttl_s: 30
  labels: {zone: $1}
  capacity: {vcpu: $2, memory_mb: 8192, max_vms: 8}
  reserved: {vcpu: 0, memory_mb: 0}
executor: {type: simulate}
YAML
}
conf a 4
e2e_spawn agent "$B/flintsched-agent" -c "$E2E_TMP/agent.yaml"
AGENT=$SPAWNED
wait_for 10 "host registered" bash -c "etcdctl --endpoints=$EP get $P/hosts/node-1 | grep -q node-1"
[ "$(field "$P/hosts/node-1" labels.zone)" = a ] || fail "zone a"
[ "$(field "$P/hosts/node-1" capacity.vcpu)" = 4 ] || fail "4 vCPU"
lease=$(E get "$P/hosts/node-1" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["lease"])')

conf b 12
kill -HUP "$AGENT"
wait_for 10 "labels reloaded" bash -c \
	"etcdctl --endpoints=$EP get --print-value-only $P/hosts/node-1 | grep -q '\"zone\":\"b\"'"
[ "$(field "$P/hosts/node-1" capacity.vcpu)" = 12 ] || fail "capacity reloaded to 12"
lease2=$(E get "$P/hosts/node-1" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["lease"])')
[ "$lease" = "$lease2" ] || fail "same lease after SIGHUP ($lease vs $lease2)"
alive "$AGENT" || fail "agent alive after SIGHUP"
ok "SIGHUP reloads labels and capacity in place"

# A broken file on SIGHUP keeps the running config.
printf 'agent:\n  labelz: {}\n' >"$E2E_TMP/agent.yaml"
kill -HUP "$AGENT"
wait_for 10 "reload error logged" grep -q "labelz" "$E2E_TMP/agent.log"
alive "$AGENT" || fail "agent survives a bad reload"
[ "$(field "$P/hosts/node-1" labels.zone)" = b ] || fail "config kept after a bad reload"
ok "a bad file on SIGHUP is reported and ignored"

kill -TERM "$AGENT"
rc=0; wait "$AGENT" || rc=$?
[ "$rc" -eq 0 ] || fail "exit 0 on SIGTERM, got $rc"
lease3=$(E get "$P/hosts/node-1" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["lease"])')
[ "$lease" = "$lease3" ] || fail "host record kept under its lease after SIGTERM ($lease vs $lease3)"
ok "SIGTERM exits 0 and leaves the lease (30 s TTL) to run out"
