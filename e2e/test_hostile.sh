#!/usr/bin/env bash
# Hostile and garbage input (issue 13): keys that cannot be request ids,
# keys with NUL bytes, garbage in P/meta, forged records without a lease,
# and log lines a user tries to forge.  Every request key ends with a
# status that explains it, and nothing loops.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_etcd_start
CTRL_ARGS=(--set "etcd.endpoints=[$EP]" --set controller.coordinators=1
	--set scheduling.bidding=cached --set controller.lease_ttl_s=3)
logs() { cat "$E2E_TMP/ctrl-c1.log"; }

# ---- item 22: garbage in P/meta ---------------------------------------
E put "$P/meta" 'not json at all' >/dev/null
e2e_spawn ctrl-c1 "$B/flintsched-controller" "${CTRL_ARGS[@]}" \
	--set controller.name=c1
CTRL=$SPAWNED
wait_for 10 "meta named unreadable" bash -c "grep -q 'meta is unreadable' '$E2E_TMP/ctrl-c1.log'"
sleep 2.5 # a session retry or two: the controller must still be there
alive "$CTRL" || fail "garbage in P/meta: the controller exited: $(logs | tail -3)"
logs | grep -q 'coordinators=-1' && fail "garbage P/meta read as K=-1: $(logs | tail -3)"
E put "$P/meta" '{"coordinators":1}' >/dev/null
e2e_spawn agent-h1 "$B/flintsched-agent" --set "etcd.endpoints=[$EP]" \
	--set agent.host=h1 --set agent.capacity.vcpu=8 \
	--set agent.capacity.memory_mb=16384 --set agent.capacity.max_vms=8 \
	--set executor.type=simulate
E put "$P/requests/m-1" "$(spec 1 1024)" >/dev/null
wait_for 20 "m-1 running once P/meta is repaired" phase_is m-1 running
ok "garbage in P/meta: named, waited out, and the controller goes on once it is fixed"
