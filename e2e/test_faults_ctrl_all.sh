#!/usr/bin/env bash
# kill -9 of every controller at once in the middle of a burst, then all
# started again: nothing placed twice, nothing lost.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
faults_fleet 2
e2e_burst_bg r 1 300 100
for c in c1 c2 c3; do kill9 "${CTRL_PID[$c]}"; done
ok "killed every controller with $(count status/) statuses written"
wait "$BURST" || fail "the burst could not submit"
for c in c1 c2 c3; do e2e_ctrl "$c"; done
wait_for 90 "300 running" running_is 300
e2e_check 20
e2e_quiet 3
