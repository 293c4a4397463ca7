#!/usr/bin/env bash
# SIGSTOP of the etcd leader for 10 s (a stall, not a crash) during a
# burst, then SIGCONT: no request placed twice (issue 13 item 27), none
# stranded, and the checker passes.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
faults_fleet 2
e2e_burst r 1 300 &
BURST=$!
wait_for 30 "100 statuses" statuses_ge 100
l=$(e2e_leader)
e2e_member_stop "$l"
ok "stopped etcd leader m$l with $(count status/) statuses written"
sleep 10 # the stall itself
e2e_member_cont "$l"
wait "$BURST" || fail "the burst could not submit"
wait_for 90 "300 running" running_is 300
e2e_check 20
e2e_quiet 3
