#!/usr/bin/env bash
# A user's whole story told through etcdctl, against real processes:
# a VM that fails on one host is moved to another, avoiding the first; a
# deleted request gives its capacity back; a rejected request is placed
# once rewritten; an unschedulable one is placed when a big host joins.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_etcd_start
cat >"$E2E_TMP/fail.sh" <<'SH'
#!/bin/sh
echo "disk full on $FLINTSCHED_HOST" >&2
exit 1
SH
cat >"$E2E_TMP/ok.sh" <<'SH'
#!/bin/sh
[ "$FLINTSCHED_ACTION" = delete ] && exit 0
echo "uid-$FLINTSCHED_VM_ID"
SH
chmod +x "$E2E_TMP/fail.sh" "$E2E_TMP/ok.sh"

# agent NAME VCPU SCRIPT.  Measured use comes from a recorded /proc, not
# this machine's, so that scores depend on the capacities alone.
agent() {
	e2e_spawn "agent-$1" "$B/flintsched-agent" --set "etcd.endpoints=[$EP]" \
		--set agent.host="$1" --set agent.lease_ttl_s=3 \
		--set agent.proc_root="$PWD/test/data/proc/a" \
		--set agent.capacity.vcpu="$2" --set agent.capacity.memory_mb=65536 \
		--set agent.capacity.max_vms=32 --set executor.type=exec \
		--set executor.exec.create="$3" --set executor.exec.delete="$3"
}
agent flaky 32 "$E2E_TMP/fail.sh"
agent good 8 "$E2E_TMP/ok.sh"
e2e_spawn ctrl "$B/flintsched-controller" --set "etcd.endpoints=[$EP]" \
	--set controller.name=ctrl-a --set controller.coordinators=1 \
	--set controller.lease_ttl_s=3 --set scheduling.bidding=cached \
	--set scheduling.max_attempts=3
wait_for 10 "two hosts registered" bash -c \
	"[ \$(etcdctl --endpoints=$EP get --prefix --keys-only $P/hosts/ | grep -c .) -eq 2 ]"

# 1. The emptier host (flaky, 32 vCPU) wins, fails, and the VM moves.
E put "$P/requests/web-1" "$(spec 2 1024)" >/dev/null
wait_for 20 "web-1 running" phase_is web-1 running
[ "$(field "$P/status/web-1" host)" = good ] || fail "web-1 on good"
[ "$(field "$P/status/web-1" avoid)" = '["flaky"]' ] ||
	fail "web-1 avoids flaky: $(E get --print-value-only "$P/status/web-1")"
[ "$(field "$P/alloc/good" vcpu)" = 2 ] || fail "alloc/good holds web-1"
[ "$(field "$P/alloc/flaky" vcpu)" = "" ] || [ "$(field "$P/alloc/flaky" vcpu)" = 0 ] ||
	fail "flaky's reservation released: $(E get --print-value-only "$P/alloc/flaky")"
[ "$(field "$P/vms/good/web-1" uid)" = uid-web-1 ] || fail "exec's uid recorded"
ok "a VM failing on one host is rescheduled on another, avoiding it"

# 2. Deleting the request releases everything it held.
E del "$P/requests/web-1" >/dev/null
wait_for 10 "alloc/good released" bash -c \
	"v=\$(etcdctl --endpoints=$EP get --print-value-only $P/alloc/good); [ -z \"\$v\" ] || echo \"\$v\" | grep -q '\"vcpu\":0'"
wait_for 10 "assignment removed" bash -c \
	"[ -z \"\$(etcdctl --endpoints=$EP get --keys-only $P/assign/good/web-1)\" ]"
wait_for 10 "VM deleted by the agent" bash -c \
	"[ -z \"\$(etcdctl --endpoints=$EP get --keys-only $P/vms/good/web-1)\" ]"
ok "deleting a request releases its reservation, assignment and VM"

# 3. Garbage is rejected with a reason; rewriting it makes it schedulable.
E put "$P/requests/bad-1" "$(spec 0 1024)" >/dev/null
wait_for 10 "bad-1 rejected" phase_is bad-1 rejected
[[ $(field "$P/status/bad-1" reason) == *vcpu* ]] || fail "reason names vcpu"
E put "$P/requests/bad-2" 'not json at all' >/dev/null
wait_for 10 "bad-2 rejected" phase_is bad-2 rejected
E put "$P/requests/bad-3" '{"vcpu":1,"memoryInMb":1024,"kernel":{"image":"ghcr.io/k:1","filename":"vmlinux"},"rootVolume":{"id":"root","source":{"containerSource":"ghcr.io/os:1"}},"interfaces":[{"deviceId":"eth1"}]}' >/dev/null
wait_for 10 "bad-3 rejected" phase_is bad-3 rejected
[[ $(field "$P/status/bad-3" reason) == 'interfaces[0].type: must be "TAP"'* ]] ||
	fail "reason names interfaces[0].type: $(field "$P/status/bad-3" reason)"
E put "$P/requests/bad-1" "$(spec 1 1024)" >/dev/null
wait_for 20 "bad-1 running once rewritten" phase_is bad-1 running
ok "rejected with a reason, placed once rewritten"

# 4. Too big for every host: unschedulable with explain; placed when a big
#    host joins (not retried in a busy loop meanwhile).
E put "$P/requests/big-1" "$(spec 64 1024)" >/dev/null
wait_for 10 "big-1 unschedulable" phase_is big-1 unschedulable
[ "$(field "$P/status/big-1" explain.hosts)" = 2 ] || fail "explain counts 2 hosts"
r1=$(E get "$P/status/big-1" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["mod_revision"])')
sleep 2 # a window in which nothing may happen (the point of the check)
r2=$(E get "$P/status/big-1" -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["mod_revision"])')
[ "$r1" = "$r2" ] || fail "unschedulable status rewritten while nothing changed ($r1 -> $r2)"
agent huge 128 "$E2E_TMP/ok.sh"
wait_for 20 "big-1 running on huge" phase_is big-1 running
[ "$(field "$P/status/big-1" host)" = huge ] || fail "big-1 on huge"
ok "unschedulable until a host that fits joins"
