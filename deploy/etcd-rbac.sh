#!/usr/bin/env bash
# etcd-rbac.sh: creates the etcd users and roles of flintsched, so that each
# party can write only its own keys (docs/DESIGN.md "Least privilege").
#
#   etcd-rbac.sh [--prefix /flintsched] [--password-dir DIR]
#       [--controller NAME]... [--host NAME]... [--submitter NAME]...
#       [--operator NAME]... [-- ETCDCTL-OPTIONS...]
#
# Roles (one per party; a user gets the one of its kind):
#   flintsched-controller  reads all of P/; writes P/status/, P/alloc/,
#                          P/assign/, P/rounds/, P/invites/, P/bids/ (it
#                          deletes a round's bids), P/drain/ (a drain's
#                          moves), P/controllers/, P/election/, P/meta
#   flintsched-host-NAME   writes P/hosts/NAME, P/bids/NAME/, P/vms/NAME/;
#                          reads P/rounds/, P/invites/NAME/,
#                          P/assign/NAME/, P/alloc/NAME, P/status/ (a VM
#                          is created only when its status confirms the
#                          assignment)
#   flintsched-submitter   writes (and reads) P/requests/; reads P/status/
#                          and P/hosts/
#   flintsched-operator    the submitter's rights plus P/hostctl/ (cordon,
#                          drain)
#
# Passwords: with --password-dir, user NAME's password is the first line of
# DIR/NAME (the file its daemon reads as etcd.password_file); otherwise the
# script asks once per new user on the terminal.  An existing user keeps
# its password (its role is granted again).  Options after -- go to every
# etcdctl call (--endpoints, --user root, --cacert, ...), as do ETCDCTL_*
# variables.  Run it as etcd's root user, then `etcdctl auth enable` if
# auth is not on yet.  Running it again is harmless.
set -euo pipefail
P=/flintsched pwdir=""
controllers=() hosts=() submitters=() operators=() opts=()
usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) P=${2:?--prefix needs a value}; shift 2 ;;
	--password-dir) pwdir=${2:?--password-dir needs a value}; shift 2 ;;
	--controller) controllers+=("${2:?--controller needs a name}"); shift 2 ;;
	--host) hosts+=("${2:?--host needs a name}"); shift 2 ;;
	--submitter) submitters+=("${2:?--submitter needs a name}"); shift 2 ;;
	--operator) operators+=("${2:?--operator needs a name}"); shift 2 ;;
	--) shift; opts=("$@"); break ;;
	-h | --help) usage; exit 0 ;;
	*) echo "etcd-rbac.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
P=${P%/}
ctl() { etcdctl "${opts[@]}" "$@"; }

role() { # role NAME: creates it if absent
	ctl role get "$1" >/dev/null 2>&1 || ctl role add "$1" >/dev/null
}
grant() { # grant ROLE read|write|readwrite KEY [--prefix]
	ctl role grant-permission "$1" "$2" "$3" ${4:+--prefix=true} >/dev/null
}
user() { # user NAME ROLE: creates NAME (asking its password once), grants ROLE
	local pw=""
	if ! ctl user get "$1" >/dev/null 2>&1; then
		if [ -n "$pwdir" ]; then
			IFS= read -r pw <"$pwdir/$1" || [ -n "$pw" ] ||
				{ echo "etcd-rbac.sh: $pwdir/$1: no password" >&2; exit 1; }
		else
			IFS= read -rsp "password of etcd user $1: " pw </dev/tty; echo >&2
		fi
		printf '%s\n' "$pw" | ctl user add "$1" --interactive=false >/dev/null
	fi
	ctl user grant-role "$1" "$2" >/dev/null
}

r=flintsched-controller
role $r
grant $r read "$P/" prefix
for k in status/ alloc/ assign/ rounds/ invites/ bids/ drain/ controllers/ election/; do
	grant $r readwrite "$P/$k" prefix
done
grant $r readwrite "$P/meta"
for c in "${controllers[@]}"; do user "$c" $r; done

for h in "${hosts[@]}"; do
	r="flintsched-host-$h"
	role "$r"
	# its own keys
	grant "$r" readwrite "$P/hosts/$h"
	grant "$r" readwrite "$P/bids/$h/" prefix
	grant "$r" readwrite "$P/vms/$h/" prefix
	# what it reads
	grant "$r" read "$P/rounds/" prefix
	# its invitations to sample rounds (issue 17), no other host's
	grant "$r" read "$P/invites/$h/" prefix
	grant "$r" read "$P/assign/$h/" prefix
	# the status confirming an assignment before a create (statuses
	# say what submitters may read too: no spec, no secret)
	grant "$r" read "$P/status/" prefix
	# read by agents before they summed their own assignments
	grant "$r" read "$P/alloc/$h"
	user "$h" "$r"
done

submitter_role() { # submitter_role ROLE
	role "$1"
	grant "$1" readwrite "$P/requests/" prefix
	grant "$1" read "$P/status/" prefix
	grant "$1" read "$P/hosts/" prefix
}
submitter_role flintsched-submitter
for s in "${submitters[@]}"; do user "$s" flintsched-submitter; done
submitter_role flintsched-operator
grant flintsched-operator readwrite "$P/hostctl/" prefix
for o in "${operators[@]}"; do user "$o" flintsched-operator; done

echo "done: ${#controllers[@]} controller, ${#hosts[@]} host, ${#submitters[@]} submitter, ${#operators[@]} operator user(s)"
