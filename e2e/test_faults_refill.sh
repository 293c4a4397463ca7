#!/usr/bin/env bash
# Fill every host, delete half the requests, submit as many again: the
# freed capacity is reused exactly (all placed, alloc = assignments within
# allocatable), and one request more than the capacity is unschedulable.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
FLEET_VMS=20
faults_fleet 2
e2e_burst r 1 160
wait_for 60 "160 running (every host full)" running_is 160
e2e_check 10
mapfile -t half < <(seq -f 'r-%05g' 1 2 160)
del_requests "${half[@]}"
wait_for 30 "80 statuses left" statuses_are 80
e2e_burst n 1 80
wait_for 60 "160 running again" running_is 160
e2e_check 20
E put "$P/requests/over" "$(spec 1 1024)" >/dev/null
wait_for 20 "over unschedulable" phase_is over unschedulable
ok "capacity reused exactly: 160 running, the 161st unschedulable"
e2e_check 10
e2e_quiet 3
