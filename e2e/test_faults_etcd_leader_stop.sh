#!/usr/bin/env bash
# SIGSTOP of the etcd leader for 10 s (a stall, not a crash) during a
# burst, then SIGCONT: no request placed twice (issue 13 item 27), none
# stranded, and the checker passes.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
# The leader is m0, every daemon's first endpoint: the harsh case (the
# member their calls and streams are on is the one that goes).
e2e_make_leader 0
faults_fleet 2
e2e_burst_bg r 1 300 100
l=$(e2e_leader)
[ "$l" = 0 ] || ok "(leadership moved to m$l on its own since)"
e2e_member_stop "$l"
ok "stopped etcd leader m$l with $(count status/) statuses written"
sleep 10 # the stall itself
e2e_member_cont "$l"
wait "$BURST" || fail "the burst could not submit"
wait_for 90 "300 running" running_is 300
e2e_check 20
e2e_quiet 3
