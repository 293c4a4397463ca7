#!/usr/bin/env bash
# kill -9 of every agent with VMs placed, restarted within the lease TTL:
# no VM created twice or deleted, no placement moved (the hosts' records
# are back before their old leases end), and the checker passes.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
faults_fleet 2
e2e_burst r 1 200
wait_for 60 "200 running" running_is 200
e2e_history_start
for a in a1 a2 s; do kill9 "${AGENT_PID[$a]}"; done
e2e_agent a1 --set executor.type=simulate
e2e_agent a2 --set executor.type=simulate
e2e_agent s --simulate 6
wait_for 20 "8 hosts" hosts_are 8
e2e_burst r 201 250
wait_for 60 "250 running" running_is 250
e2e_check 20
e2e_history_stop
moved=$(history_count DELETE assign/) deleted=$(history_count DELETE vms/)
again=$(awk -v k="$P/vms/" 'prev == "PUT" && index($0, k) == 1 {split($0, a, "/"); n[$0]++} {prev = $0} END {for (x in n) if (n[x] > 1) c++; print c + 0}' "$E2E_TMP/history.log")
[ "$moved" -eq 0 ] || fail "$moved placements moved after the agents' restart"
[ "$deleted" -eq 0 ] || fail "$deleted VM records deleted after the agents' restart"
[ "$again" -eq 0 ] || fail "$again VM records written twice after the restart"
ok "agents restarted: 0 moved, 0 deleted, 0 written twice"
