#!/usr/bin/env bash
# The command-line contract of both binaries: --version, --help, exit codes,
# and config errors as file:line:col naming the key and the fix.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

for bin in flintsched-controller flintsched-agent; do
	"$B/$bin" --version | grep "^$bin [0-9]" >/dev/null || fail "$bin --version"
	"$B/$bin" --help | grep "etcd.endpoints" >/dev/null || fail "$bin --help lists keys"
	rc=0; "$B/$bin" --no-such-flag >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 2 ] || fail "$bin: unknown flag exits 2, got $rc"
done
ok "--version, --help, unknown flag"

"$B/flintsched-controller" --check-config -c deploy/controller.example.yaml >/dev/null ||
	fail "controller.example.yaml is valid"
"$B/flintsched-agent" --check-config -c deploy/agent.example.yaml >/dev/null ||
	fail "agent.example.yaml is valid"
ok "example configs pass --check-config"

# check_err BIN 'yaml' 'expected message': --check-config exits 1 and says so.
check_err() {
	local bin=$1 yaml=$2 want=$3 f="$E2E_TMP/c.yaml" out rc=0
	printf '%b' "$yaml" >"$f"
	out=$("$B/$bin" --check-config -c "$f" 2>&1) || rc=$?
	[ "$rc" -eq 1 ] || fail "$bin: bad config exits 1, got $rc: $out"
	case "$out" in
	*"$want"*) ;;
	*) fail "$bin: want \"$want\" in: $out" ;;
	esac
}
check_err flintsched-controller 'controller:\n  name: a\n  coordinatorz: 3\n' \
	"c.yaml:3:3: controller.coordinatorz: unknown key (did you mean controller.coordinators?)"
check_err flintsched-controller 'scheduling:\n  candidates: 0\n' \
	"c.yaml:2:15: scheduling.candidates: must be 1..64, got 0"
check_err flintsched-controller 'scheduling:\n  bidding: lottery\n' \
	"scheduling.bidding"
check_err flintsched-controller 'etcd:\n  endpoints: http://a\n' "etcd.endpoints"
check_err flintsched-controller 'scheduling:\n  host_stale_after_s: 5\n' \
	"c.yaml:2:23: scheduling.host_stale_after_s: must be 0 (off) or at least 30"
check_err flintsched-controller 'scheduling:\n  preemption:\n    max_victims: 33\n' \
	"c.yaml:3:18: scheduling.preemption.max_victims: must be 0..32, got 33"
check_err flintsched-agent 'agent:\n  capacity:\n    vcpu: lots\n' "agent.capacity.vcpu"
check_err flintsched-agent 'executor:\n  type: docker\n' "executor.type"
check_err flintsched-agent '' "file is empty"
ok "bad configs refused with file:line:col and the key"

rc=0; out=$("$B/flintsched-agent" --check-config --set agent.capacity.vcpu=-3 2>&1) || rc=$?
if [ "$rc" -ne 1 ] || [[ $out != *"--set: agent.capacity.vcpu"* ]]; then
	fail "--set error names the key: $out"
fi
rc=0; out=$("$B/flintsched-controller" --check-config -c "$E2E_TMP/missing.yaml" 2>&1) || rc=$?
if [ "$rc" -ne 1 ] || [[ $out != *"missing.yaml"* ]]; then
	fail "unreadable file named: $out"
fi
ok "--set errors and unreadable files"
