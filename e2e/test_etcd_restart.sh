#!/usr/bin/env bash
# etcd crashes under a running cluster and comes back after the leases
# have expired: controllers and agents retry with backoff (no crash),
# re-register, re-elect, and scheduling resumes; nothing placed twice.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_etcd_start
CTRLS=() AGENT=
for n in a b; do
	e2e_spawn "ctrl-$n" "$B/flintsched-controller" --set "etcd.endpoints=[$EP]" \
		--set controller.name="ctrl-$n" --set controller.lease_ttl_s=3 \
		--set controller.coordinators=2 --set etcd.request_timeout_ms=1000
	CTRLS+=("$SPAWNED")
done
e2e_spawn agent "$B/flintsched-agent" --simulate 4 --set "etcd.endpoints=[$EP]" \
	--set agent.host=node --set agent.lease_ttl_s=3 \
	--set agent.capacity.vcpu=32 --set agent.capacity.memory_mb=65536 \
	--set etcd.request_timeout_ms=1000
AGENT=$SPAWNED
wait_for 10 "4 hosts" bash -c "[ \$(etcdctl --endpoints=$EP get --prefix --keys-only $P/hosts/ | grep -c .) -eq 4 ]"

submit() { # submit FROM TO
	for i in $(seq "$1" "$2"); do
		E put "$P/requests/vm-$i" "$(spec 1 1024)" >/dev/null
	done
}
running() { [ "$(count status/ )" -ge "$1" ] && ! E get --prefix --print-value-only "$P/status/" | grep -v '"phase":"running"' | grep -q .; }

submit 1 10
wait_for 20 "10 running" running 10
ok "10 placed before the crash"

e2e_etcd_kill
sleep 5 # the outage itself: longer than every lease TTL (3 s)
for p in "${CTRLS[@]}" "$AGENT"; do alive "$p" || fail "process $p died while etcd was down"; done
e2e_etcd_run
ok "etcd back after 5 s; every process survived the outage"

wait_for 20 "4 hosts re-registered" bash -c "[ \$(etcdctl --endpoints=$EP get --prefix --keys-only $P/hosts/ | grep -c .) -eq 4 ]"
submit 11 20
wait_for 30 "20 running" running 20
# Exactly once: one assignment per request, allocations add up.
[ "$(count assign/)" -eq 20 ] || fail "20 assignments, got $(count assign/)"
total=$(E get --prefix --print-value-only "$P/alloc/" | python3 -c '
import json, sys
print(sum(json.loads(l).get("vms", 0) for l in sys.stdin if l.strip()))')
[ "$total" -eq 20 ] || fail "allocations hold 20 VMs, got $total"
ok "scheduling resumed: 20 placed exactly once"
