#!/usr/bin/env bash
# SIGSTOP of a coordinator past its lease TTL (3 s), submissions while it
# is stopped, SIGCONT: its slot moved, the new coordinator places what was
# submitted, the woken one commits nothing stale (fenced), and the idle
# cluster writes nothing (issue 13 item 2's txn storm).
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
faults_fleet 2
e2e_burst r 1 100
wait_for 60 "100 running" running_is 100
victim=$(coordinator 1)
kill -STOP "${CTRL_PID[$victim]}"
wait_for 20 "slot 1 led by another controller than $victim" slot_moved 1 "$victim"
ok "stopped $victim; slot 1 now led by $(coordinator 1)"
e2e_burst r 101 200
del_requests r-00001 r-00002 # the slot-1 ones among them are released by the new coordinator
wait_for 60 "198 running" running_is 198
kill -CONT "${CTRL_PID[$victim]}"
ok "198 running while $victim was stopped; SIGCONT"
e2e_burst r 201 250
wait_for 60 "248 running" running_is 248
alive "${CTRL_PID[$victim]}" || fail "$victim died after SIGCONT"
e2e_check 20
e2e_quiet 3
