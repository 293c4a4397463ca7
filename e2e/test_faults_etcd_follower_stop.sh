#!/usr/bin/env bash
# SIGSTOP of an etcd follower that every daemon is connected to (the first
# of their endpoints) during a burst: their calls and streams (watches,
# keepalives, campaigns) must fail over to the other members (issue 13
# item 8), and every request is placed.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_cluster_start 3
# Make m0, every daemon's first endpoint, a follower.
e2e_make_follower 0
faults_fleet 2
e2e_burst r 1 100
wait_for 60 "100 running" running_is 100
e2e_member_stop 0
ok "stopped follower m0 (every daemon's first endpoint)"
EP=${M_URL[1]},${M_URL[2]} # etcdctl leaves m0 alone
e2e_burst r 101 200
wait_for 60 "200 running with m0 stopped" running_is 200
e2e_check 20
e2e_member_cont 0
