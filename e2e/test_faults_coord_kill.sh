#!/usr/bin/env bash
# kill -9 of a coordinator during a burst of 500 submissions, on a
# 3-member etcd: its slot moves to another controller after its lease
# TTL, every request is placed exactly once and the checker passes.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
faults_fleet 2
victim=$(coordinator 0)
e2e_burst_bg r 1 500 100
kill9 "${CTRL_PID[$victim]}"
ok "killed coordinator $victim of slot 0 with $(count status/) statuses written"
wait "$BURST" || fail "the burst could not submit"
wait_for 90 "500 running" running_is 500
[ "$(coordinator 0)" != "$victim" ] || fail "slot 0 still led by the dead $victim"
ok "500 running; slot 0 now led by $(coordinator 0)"
e2e_check 20
