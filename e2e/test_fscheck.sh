#!/usr/bin/env bash
# The invariant checker (test/tools/fscheck.py) on states planted by hand
# in a real etcd: a clean state passes, and each kind of violation fails
# it with that rule and the offending key named.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_etcd_start
CHECK() { E get --prefix "$P/" -w json | /usr/bin/python3 test/tools/fscheck.py --prefix "$P" "$@"; }
S=$(spec 2 2048 '"scheduling":{"spread":"web"}')
st() { printf '{"phase":"%s","host":"%s","attempt":1,"request_rev":1,"reason":""}' "$1" "$2"; }
asg() { printf '{"request":%s,"request_rev":1,"attempt":1}' "$S"; }

# A placed request r1 on h1 and r2 on h2, a pending r3 with its open
# round and h1's bid; hosts, controller and election under leases.
clean() {
	E del --prefix "$P/" >/dev/null
	L=$(E lease grant 300 | awk '{print $2}')
	{
		for h in h1 h2; do
			printf '%s\t%s\n' "$P/hosts/$h" "{\"host\":\"$h\",\"allocatable\":{\"vcpu\":4,\"memory_mb\":4096,\"max_vms\":2}}"
		done
		printf '%s\t%s\n' "$P/controllers/c1" '{"name":"c1"}' "$P/election/slot-0/1234" c1 \
			"$P/rounds/r3" '{"attempt":1}' "$P/bids/h1/r3" '{"attempt":1,"fits":true}'
	} | put_many "$L"
	{
		printf '%s\t%s\n' "$P/meta" '{"coordinators":1}'
		for r in r1:h1 r2:h2; do
			id=${r%:*} h=${r#*:}
			printf '%s\t%s\n' "$P/requests/$id" "$S" "$P/status/$id" "$(st running "$h")" \
				"$P/assign/$h/$id" "$(asg)" \
				"$P/alloc/$h" '{"vcpu":2,"memory_mb":2048,"vms":1,"groups":{"web":1}}' \
				"$P/vms/$h/$id" '{"state":"running","attempt":1}'
		done
		printf '%s\t%s\n' "$P/requests/r3" "$S" "$P/status/r3" "$(st pending "")"
	} | put_many
}

clean
out=$(CHECK) || fail "a clean state fails the checker: $out"
ok "clean state: $out"

# expect RULE KEY DESCRIPTION CMD...: after clean and CMD, the checker
# exits 1 naming RULE on KEY.
expect() {
	local rule=$1 key=$2 what=$3 rc=0; shift 3
	clean
	"$@" >/dev/null
	out=$(CHECK) || rc=$?
	[ "$rc" -eq 1 ] || fail "$what: checker exit 1, got $rc: $out"
	echo "$out" | grep -qF "VIOLATION $rule: $P/$key:" ||
		fail "$what: no '$rule' on $P/$key in: $out"
	ok "$what: $(echo "$out" | grep -F "VIOLATION $rule: $P/$key:" | head -1)"
}
plant_second_assign() { E put "$P/assign/h2/r1" "$(asg)" && E put "$P/alloc/h2" '{"vcpu":4,"memory_mb":4096,"vms":2,"groups":{"web":2}}'; }
plant_over() {
	E put "$P/assign/h1/r3" "$(asg)" && E put "$P/assign/h1/r4" "$(asg)" &&
		E put "$P/requests/r4" "$S" && E put "$P/status/r4" "$(st running h1)" &&
		E put "$P/status/r3" "$(st running h1)" && E del "$P/rounds/r3" && E del "$P/bids/h1/r3" &&
		E put "$P/alloc/h1" '{"vcpu":6,"memory_mb":6144,"vms":3,"groups":{"web":3}}'
}
# A drain's move of r1 from h1 to h2: two assignments, the status on h1
# with moving_to h2, counted in P/drain/h1 (max_parallel 1).
plant_move() {
	plant_second_assign &&
		E put "$P/status/r1" '{"phase":"running","host":"h1","moving_to":"h2","attempt":1,"request_rev":1}' &&
		E put "$P/hostctl/h1" '{"state":"drain","max_parallel":1}' &&
		E put "$P/drain/h1" '{"moves":["r1"]}'
}
plant_move_uncounted() { plant_move && E del "$P/drain/h1"; }
plant_moves_over() { plant_move && E put "$P/drain/h1" '{"moves":["r1","r2"]}'; }
plant_unleased_host() { E put "$P/hosts/h3" '{"host":"h3"}'; }

expect status-missing requests/r1 "a request without a status" E del "$P/status/r1"
expect status-missing 'requests/a\x00b' "a request key with a NUL byte, no status" \
	put_raw "$P/requests/a\\x00b" "$S"
expect status-orphan status/gone "a status without its request" E put "$P/status/gone" "$(st rejected "")"
expect status-invalid status/r1 "a status that is not JSON" E put "$P/status/r1" garbage
expect assign-missing status/r1 "running without an assignment" E del "$P/assign/h1/r1"
expect assign-duplicate requests/r1 "one id assigned on two hosts" plant_second_assign
expect drain-moves status/r1 "a move not counted in P/drain/" plant_move_uncounted
expect drain-moves drain/h1 "more moves than max_parallel" plant_moves_over
expect assign-host status/r2 "status names another host" E put "$P/status/r2" "$(st running h1)"
expect assign-orphan assign/h1/ghost "an assignment without a request" E put "$P/assign/h1/ghost" "$(asg)"
expect assign-no-host assign/h2/r2 "an assignment on a host with no record" E del "$P/hosts/h2"
expect alloc-sum alloc/h1 "alloc is not the sum of the assignments" E put "$P/alloc/h1" '{"vcpu":4,"memory_mb":2048,"vms":1,"groups":{"web":1}}'
expect alloc-sum alloc/h1 "alloc missing under an assignment" E del "$P/alloc/h1"
expect alloc-sum alloc/h1 "alloc unreadable" E put "$P/alloc/h1" '{"vcpu":'
expect alloc-sum alloc/h2 "alloc's spread groups differ" E put "$P/alloc/h2" '{"vcpu":2,"memory_mb":2048,"vms":1,"groups":{"db":1}}'
expect alloc-over hosts/h1 "assignments beyond allocatable" plant_over
expect vm-orphan vms/h1/old "a VM without an assignment" E put "$P/vms/h1/old" '{"state":"running","attempt":1}'
expect round-orphan rounds/r3 "a round without a lease" E put "$P/rounds/r3" '{"attempt":1}'
expect round-orphan rounds/r1 "a round for a placed request" E put --lease="$L" "$P/rounds/r1" '{"attempt":1}'
expect round-orphan rounds/gone "a round whose request is gone" E put --lease="$L" "$P/rounds/gone" '{"attempt":1}'
expect round-orphan invites/h1/r1 "an invitation for a placed request" E put --lease="$L" "$P/invites/h1/r1" '{"attempt":1}'
expect round-orphan invites/h2/gone "an invitation whose request is gone" E put --lease="$L" "$P/invites/h2/gone" '{"attempt":1}'
expect bid-orphan bids/h2/r1 "a bid without its round" E put --lease="$L" "$P/bids/h2/r1" '{"attempt":1}'
expect bid-orphan bids/h1/r3 "a bid without a lease" E put "$P/bids/h1/r3" '{"attempt":1}'
expect lease-missing hosts/h3 "a host record without a lease" plant_unleased_host
expect lease-missing election/slot-0/1234 "an election key rewritten without its lease" E put "$P/election/slot-0/1234" c1
expect host-name hosts/h2 "a host record naming another host" E put --lease="$L" "$P/hosts/h2" '{"host":"h1"}'

# A drain's move counted within max_parallel is no duplicate.
clean
plant_move >/dev/null
out=$(CHECK) || fail "a drain's move fails the checker: $out"
ok "a drain's move (two assignments, counted): $out"

# --no-vms: before agents reconciled a VM record may outlive its assignment.
clean
E put "$P/vms/h1/old" '{"state":"running"}' >/dev/null
CHECK --no-vms >/dev/null || fail "--no-vms still checks P/vms/"
ok "--no-vms skips the VM records"

# --allow RULE: a known defect's rule is printed as WAIVED, not failed on.
clean
E put --lease="$L" "$P/bids/h2/r1" '{"attempt":1}' >/dev/null
out=$(CHECK --allow bid-orphan) || fail "--allow bid-orphan still fails: $out"
echo "$out" | grep -q '^WAIVED bid-orphan: ' || fail "--allow: no WAIVED line: $out"
out=$(CHECK --allow vm-orphan) && fail "--allow of another rule passed a bid-orphan"
ok "--allow RULE waives RULE only"
