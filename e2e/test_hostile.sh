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
grep -q 'coordinators=-1' "$E2E_TMP/ctrl-c1.log" && fail "garbage P/meta read as K=-1: $(logs | tail -3)"
E put "$P/meta" '{"coordinators":1}' >/dev/null
e2e_spawn agent-h1 "$B/flintsched-agent" --set "etcd.endpoints=[$EP]" \
	--set agent.host=h1 --set agent.capacity.vcpu=8 \
	--set agent.capacity.memory_mb=16384 --set agent.capacity.max_vms=8 \
	--set executor.type=simulate
E put "$P/requests/m-1" "$(spec 1 1024)" >/dev/null
wait_for 20 "m-1 running once P/meta is repaired" phase_is m-1 running
ok "garbage in P/meta: named, waited out, and the controller goes on once it is fixed"

# ---- items 19, 20: request keys that cannot be ids ---------------------
# put64 KEY VALUE: a put through the JSON gateway, KEY given as printf
# escapes (so that it may hold a NUL byte or invalid UTF-8).
put64() {
	local k v
	k=$(printf "$1" | base64 -w0)
	v=$(printf '%s' "$2" | base64 -w0)
	curl -sf "$EP/v3/kv/put" -d "{\"key\":\"$k\",\"value\":\"$v\"}" >/dev/null
}
del64() {
	curl -sf "$EP/v3/kv/deleterange" -d "{\"key\":\"$(printf "$1" | base64 -w0)\"}" >/dev/null
}
E put "$P/requests/nulvictim" "$(spec 1 1024)" >/dev/null
wait_for 20 "nulvictim running" phase_is nulvictim running
long64=$(printf 'a%.0s' $(seq 64)); long1000=$(printf 'b%.0s' $(seq 1000))
BAD=("$P/requests/a/b" "$P/requests/$long64" "$P/requests/$long1000"
	"$P/requests//double" "$P/requests/bad\\xff\\xfeutf8" "$P/requests/nulvictim\\0x")
for k in "${BAD[@]}"; do put64 "$k" 'garbage'; done
invalid() { E get --prefix --print-value-only "$P/status/_invalid/" | grep -c rejected || true; }
wait_for 20 "6 invalid-key records" bash -c "[ \$(etcdctl --endpoints=$EP get --prefix --print-value-only $P/status/_invalid/ | grep -c rejected) -eq 6 ]"
phase_is nulvictim running || fail "a key with a NUL byte touched nulvictim: $(E get --print-value-only "$P/status/nulvictim")"
recs=$(E get --prefix --print-value-only "$P/status/_invalid/")
grep -q 'nulvictim\\\\x00x' <<<"$recs" || fail "the NUL key is named escaped: $recs"
grep -q '"reason": *"[^"]*64 bytes' <<<"$recs" || fail "the 64-byte id's reason says its length"
rev1=$(E get "$P/status/_invalid/" --prefix -w json | python3 -c 'import json,sys; print(sorted(k["mod_revision"] for k in json.load(sys.stdin)["kvs"]))')
sleep 4.5 # two passes: nothing is rewritten
rev2=$(E get "$P/status/_invalid/" --prefix -w json | python3 -c 'import json,sys; print(sorted(k["mod_revision"] for k in json.load(sys.stdin)["kvs"]))')
[ "$rev1" = "$rev2" ] || fail "invalid-key records rewritten: $rev1 -> $rev2"
[ "$(grep -c 'is not a valid request id' "$E2E_TMP/ctrl-c1.log")" -eq 6 ] ||
	fail "one log line per invalid key: $(grep 'is not a valid request id' "$E2E_TMP/ctrl-c1.log")"
for k in "${BAD[@]}"; do del64 "$k"; done
wait_for 20 "invalid-key records deleted with their keys" bash -c "[ -z \"\$(etcdctl --endpoints=$EP get --prefix --keys-only $P/status/_invalid/)\" ]"
phase_is nulvictim running || fail "deleting the NUL key touched nulvictim"
ok "keys that cannot be ids: one rejected record each under P/status/_invalid/, written once, deleted with the key; a NUL byte is not an end"

# ---- item 5: liveness is a lease, not a record --------------------------
hostrec() { # hostrec NAME VCPU
	printf '{"host":"%s","endpoint":"127.0.0.1:9090","labels":{},"capacity":{"vcpu":%s,"memory_mb":262144,"max_vms":100},"allocatable":{"vcpu":%s,"memory_mb":262144,"max_vms":100},"util":{"cpu":0,"memory":0},"vms":0,"agent_version":"x","updated":"2026-01-01T00:00:00.000Z"}' "$1" "$2" "$2"
}
LEASE=$(E lease grant 60 | awk '{print $2}')
E put "$P/hosts/forged" "$(hostrec forged 64)" >/dev/null             # no lease
E put --lease="$LEASE" "$P/hosts/other" "$(hostrec h1 64)" >/dev/null   # names h1
E put "$P/controllers/ghost" '{"name":"ghost"}' >/dev/null              # no lease
for i in 1 2 3 4; do E put "$P/requests/f-$i" "$(spec 1 1024)" >/dev/null; done
for i in 1 2 3 4; do wait_for 20 "f-$i running" phase_is "f-$i" running; done
for i in 1 2 3 4; do
	[ "$(field "$P/status/f-$i" host)" = h1 ] ||
		fail "f-$i placed on a host without a live lease of its own: $(E get --print-value-only "$P/status/f-$i")"
done
grep -q 'host forged joined\|host other joined' "$E2E_TMP/ctrl-c1.log" && fail "a leaseless or misnamed host record counted as a host"
grep -q 'controller ghost is live' "$E2E_TMP/ctrl-c1.log" && fail "a leaseless registration counted as a controller"
ok "a host record without a lease, or naming another host, is no host; a registration without a lease is no controller"

# An election key rewritten in place (its lease dropped) must not hold
# the slot for ever once its holder dies.
e2e_spawn ctrl-c2 "$B/flintsched-controller" "${CTRL_ARGS[@]}" --set controller.name=c2
C2=$SPAWNED
wait_for 10 "c2 campaigns" bash -c "[ \$(etcdctl --endpoints=$EP get --prefix --keys-only $P/election/slot-0/ | grep -c .) -eq 2 ]"
cands=$(E get --prefix --keys-only --sort-by=CREATE --order=ASCEND "$P/election/slot-0/")
LK=$(head -1 <<<"$cands")
E put "$LK" c1 >/dev/null # in place: same create revision, no lease
kill -KILL "$CTRL"
E put "$P/requests/g-1" "$(spec 1 1024)" >/dev/null
wait_for 25 "g-1 placed by c2 after c1 died" phase_is g-1 running
ok "an election key without a lease does not hold a slot once its controller is gone"
