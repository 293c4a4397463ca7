#!/usr/bin/env bash
# Creates etcd users and roles so that each host agent can write only its
# own keys (docs/DESIGN.md: "everything an agent writes lives under its own
# host name") and controllers can write the scheduler's keys.
#
#   ETCDCTL_ENDPOINTS=https://etcd:2379 ./etcd-rbac.sh [--prefix /flintsched] \
#       --controller ctrl --host node-1 --host node-2 ...
#
# Passwords are read from stdin by etcdctl (one prompt per user).  Run as an
# etcd root user; `etcdctl auth enable` afterwards if auth is not on yet.
set -euo pipefail
P=/flintsched
controllers=() hosts=()
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) P=$2; shift 2 ;;
	--controller) controllers+=("$2"); shift 2 ;;
	--host) hosts+=("$2"); shift 2 ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "etcd-rbac.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
ctl() { etcdctl "$@"; }

ctl role add flintsched-controller >/dev/null || true
ctl role grant-permission flintsched-controller --prefix=true readwrite "$P/"
for c in "${controllers[@]}"; do
	ctl user add "$c" --interactive=true || true
	ctl user grant-role "$c" flintsched-controller
done

for h in "${hosts[@]}"; do
	r="flintsched-host-$h"
	ctl role add "$r" >/dev/null || true
	# its own keys
	ctl role grant-permission "$r" readwrite "$P/hosts/$h"
	ctl role grant-permission "$r" --prefix=true readwrite "$P/bids/$h/"
	ctl role grant-permission "$r" --prefix=true readwrite "$P/vms/$h/"
	# what it reads
	ctl role grant-permission "$r" --prefix=true read "$P/rounds/"
	ctl role grant-permission "$r" --prefix=true read "$P/assign/$h/"
	# read by agents before they summed their own assignments
	ctl role grant-permission "$r" read "$P/alloc/$h"
	ctl user add "$h" --interactive=true || true
	ctl user grant-role "$h" "$r"
done
echo "done: ${#controllers[@]} controller user(s), ${#hosts[@]} host user(s)"
