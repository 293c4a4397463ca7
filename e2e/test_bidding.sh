#!/usr/bin/env bash
# Bidding rounds as the protocol runs them: broadcast invites every host
# and places on the lowest bid; a host that does not answer in time is
# noted in the status; sample invites `candidates` hosts, each with its own
# key P/invites/<host>/<id>.  And P/meta pins
# the number of coordinator slots: a controller configured otherwise
# refuses to start with a clear message.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_etcd_start
# Three hosts, each its own process so that one can be stopped.
declare -A PID
for h in n1 n2 n3; do
	e2e_spawn "agent-$h" "$B/flintsched-agent" --set "etcd.endpoints=[$EP]" \
		--set agent.host=$h --set agent.lease_ttl_s=30 \
		--set agent.capacity.vcpu=8 --set agent.capacity.memory_mb=16384 \
		--set agent.capacity.max_vms=8 --set executor.type=simulate
	PID[$h]=$SPAWNED
done
ctrl() { # ctrl NAME BIDDING
	e2e_spawn "ctrl-$1" "$B/flintsched-controller" --set "etcd.endpoints=[$EP]" \
		--set controller.name="$1" --set controller.coordinators=1 \
		--set scheduling.bidding="$2" --set scheduling.candidates=2 \
		--set scheduling.bid_timeout_ms=1500 --set controller.lease_ttl_s=3
	CTRL=$SPAWNED
}
ctrl c1 broadcast
wait_for 10 "3 hosts" bash -c "[ \$(etcdctl --endpoints=$EP get --prefix --keys-only $P/hosts/ | grep -c .) -eq 3 ]"

E put "$P/requests/b-1" "$(spec 2 1024)" >/dev/null
wait_for 15 "b-1 running" phase_is b-1 running
[ "$(field "$P/status/b-1" explain.bids)" = 3 ] ||
	fail "broadcast: 3 bids, got $(E get --print-value-only "$P/status/b-1")"
# The round and its bids are gone with the commit.
[ "$(count rounds/)" -eq 0 ] || fail "round deleted at commit"
[ "$(count bids/)" -eq 0 ] || fail "bids deleted at commit"
ok "broadcast: every host bids, the round is cleaned up at commit"

# A silent host: its bid never comes; the round closes at the timeout.
kill -STOP "${PID[n3]}"
E put "$P/requests/b-2" "$(spec 1 1024)" >/dev/null
wait_for 15 "b-2 running" phase_is b-2 running
[ "$(field "$P/status/b-2" explain.bids)" = 2 ] || fail "2 bids with n3 stopped"
[ "$(field "$P/status/b-2" explain.rejected)" = '{"no bid before timeout": 1}' ] ||
	fail "silent host noted: $(E get --print-value-only "$P/status/b-2")"
[ "$(field "$P/status/b-2" host)" != n3 ] || fail "not placed on the silent host"
kill -CONT "${PID[n3]}"
ok "a host that does not bid in time is noted, and not chosen"

# sample: 2 candidates invited out of 3.
kill -TERM "$CTRL"; wait "$CTRL" 2>/dev/null || true
ctrl c2 sample
E put "$P/requests/s-1" "$(spec 1 1024)" >/dev/null
wait_for 15 "s-1 running" phase_is s-1 running
[ "$(field "$P/status/s-1" explain.bids)" = 2 ] || fail "sample: 2 bids"
# A sample round is one invitation per invited host, which only that
# host watches (issue 17), gone with the commit like the bids.
[ "$(count invites/)" -eq 0 ] || fail "invitations deleted at commit"
[ "$(count rounds/)" -eq 0 ] || fail "sample puts no round key"
[ "$(count bids/)" -eq 0 ] || fail "sample: bids deleted at commit"
ok "sample: candidates hosts invited, each by its own key, cleaned up at commit"

# P/meta pins K = 1: a controller with K = 2 refuses to start.
rc=0
out=$(timeout 20 "$B/flintsched-controller" --set "etcd.endpoints=[$EP]" \
	--set controller.name=c3 --set controller.coordinators=2 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "K mismatch exits 1, got $rc: $out"
[[ $out == *"coordinators"* ]] || fail "K mismatch names the key: $out"
ok "P/meta pins the slot count: $(echo "$out" | grep -m1 coordinators | sed 's/.*error *//')"
