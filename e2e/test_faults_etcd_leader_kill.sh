#!/usr/bin/env bash
# kill -9 of the etcd leader of the 3-member cluster in the middle of a
# burst, restarted once a new leader is elected: every request placed
# exactly once, no VM created, deleted and created again (issue 13 item 30).
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
# The leader is m0, every daemon's first endpoint: the harsh case (the
# member their calls and streams are on is the one that goes).
e2e_make_leader 0
faults_fleet 2
e2e_history_start
e2e_burst_bg r 1 300 100
l=$(e2e_leader)
[ "$l" = 0 ] || ok "(leadership moved to m$l on its own since)"
e2e_member_kill "$l"
ok "killed etcd leader m$l with $(count status/) statuses written"
wait_for 20 "a new etcd leader" has_leader
e2e_member_run "$l"
wait_for 20 "m$l back" member_healthy "$l"
wait "$BURST" || fail "the burst could not submit"
wait_for 90 "300 running" running_is 300
e2e_check 20
e2e_history_stop
d=$(history_count DELETE vms/)
[ "$d" -eq 0 ] || fail "$d VM records deleted (a VM deleted and created again)"
e2e_quiet 3
