#!/usr/bin/env bash
# etcd's history compacted to the current revision every 0.3 s during a
# burst: every watch (controllers', agents') is cancelled with "compacted"
# and must re-list; every request is placed exactly once.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
faults_fleet 2
e2e_burst r 1 300 &
BURST=$!
n=0
while alive "$BURST"; do
	E compact "$(revision)" >/dev/null 2>&1 && n=$((n + 1))
	sleep 0.3 # the cadence of the fault
done
wait "$BURST" || fail "the burst could not submit"
ok "compacted $n times during the burst"
wait_for 90 "300 running" running_is 300
e2e_check 20
e2e_quiet 3
