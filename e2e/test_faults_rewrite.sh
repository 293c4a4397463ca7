#!/usr/bin/env bash
# Requests rewritten while they are being scheduled (1 vCPU -> 2 vCPU
# right after the first put) and requests deleted right after their
# submission: each rewritten one runs at its latest revision, each deleted
# one leaves no status, assignment or VM (issue 13 items 29, 34).
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
faults_fleet 2
S1=$(spec 1 1024) S2=$(spec 2 1024)
for i in $(seq 1 100); do
	id=$(printf 'w-%03d' "$i")
	E put "$P/requests/$id" "$S1" >/dev/null
	E put "$P/requests/$id" "$S2" >/dev/null
	E put "$P/requests/d-$i" "$S1" >/dev/null
	E del "$P/requests/d-$i" >/dev/null
done
wait_for 60 "100 running" running_is 100
stale=$(E get --prefix "$P/assign/" --print-value-only | grep -c '"vcpu":1,' || true)
[ "$stale" -eq 0 ] || fail "$stale assignments of the first revision"
ok "100 rewritten requests run their second revision; 100 deleted"
e2e_check 20
e2e_quiet 3
