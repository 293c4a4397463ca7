#!/usr/bin/env bash
# The whole flow with etcd auth and TLS on, users and roles made by
# deploy/etcd-rbac.sh, certificates by test/tools/mkcerts.sh: etcd
# requires a client certificate signed by the CA (--client-cert-auth),
# and every flintsched user presents one without a CommonName plus its
# password (the supported combination: etcd's JSON gateway refuses to
# authenticate a certificate with a CN, CVE-2018-16886).  Placements work;
# an agent's user cannot write another host's keys nor the scheduler's; a
# submitter can write only P/requests/.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

help=$(deploy/etcd-rbac.sh --help)
[[ $help == *--submitter*--operator*--password-dir* && $help != *"set -e"* ]] ||
	fail "etcd-rbac.sh --help: $help"
ok "etcd-rbac.sh --help names every option and no code"

C=$E2E_TMP/certs
bash test/tools/mkcerts.sh "$C"
PW=$E2E_TMP/pw
mkdir -p "$PW"
for u in root c1 h1 h2 sub op; do head -c 12 /dev/urandom | base64 >"$PW/$u"; done
chmod 600 "$PW"/*
pw() { cat "$PW/$1"; }

ETCD_PPORT=$(free_port)
EP=https://127.0.0.1:$(free_port)
e2e_spawn etcd etcd --name e2e --data-dir "$E2E_TMP/etcd" \
	--listen-client-urls "$EP" --advertise-client-urls "$EP" \
	--listen-peer-urls "http://127.0.0.1:$ETCD_PPORT" \
	--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PPORT" \
	--initial-cluster "e2e=http://127.0.0.1:$ETCD_PPORT" --log-level warn \
	--cert-file "$C/etcd-server.pem" --key-file "$C/etcd-server.key" \
	--client-cert-auth --trusted-ca-file "$C/ca.pem"
TLS=(--cacert "$C/ca.pem" --cert "$C/client-nocn.pem" --key "$C/client-nocn.key")
# as USER CMD...: etcdctl as USER (root before auth is on: anyone).
as() { local u=$1; shift; etcdctl --endpoints="$EP" "${TLS[@]}" --user "$u" --password "$(pw "$u")" "$@"; }
E() { etcdctl --endpoints="$EP" "${TLS[@]}" --user root --password "$(pw root)" "$@"; }
wait_for 20 "etcd healthy" etcdctl --endpoints="$EP" "${TLS[@]}" endpoint health

printf '%s\n' "$(pw root)" | etcdctl --endpoints="$EP" "${TLS[@]}" user add root --interactive=false >/dev/null
etcdctl --endpoints="$EP" "${TLS[@]}" user grant-role root root >/dev/null
etcdctl --endpoints="$EP" "${TLS[@]}" auth enable >/dev/null
out=$(deploy/etcd-rbac.sh --password-dir "$PW" --controller c1 --host h1 --host h2 \
	--submitter sub --operator op -- --endpoints="$EP" "${TLS[@]}" --user root --password "$(pw root)")
ok "etcd-rbac.sh: $out"
deploy/etcd-rbac.sh --password-dir "$PW" --host h1 -- --endpoints="$EP" "${TLS[@]}" \
	--user root --password "$(pw root)" >/dev/null || fail "etcd-rbac.sh twice"
ok "running it again is harmless"

AUTH=(--set "etcd.endpoints=[$EP]" --set etcd.tls.ca="$C/ca.pem"
	--set etcd.tls.cert="$C/client-nocn.pem" --set etcd.tls.key="$C/client-nocn.key")
e2e_spawn ctrl-c1 "$B/flintsched-controller" "${AUTH[@]}" --set etcd.username=c1 \
	--set etcd.password_file="$PW/c1" --set controller.name=c1 \
	--set controller.coordinators=1 --set controller.lease_ttl_s=3
for h in h1 h2; do
	e2e_spawn "agent-$h" "$B/flintsched-agent" "${AUTH[@]}" --set etcd.username=$h \
		--set etcd.password_file="$PW/$h" --set agent.host=$h --set agent.lease_ttl_s=3 \
		--set agent.capacity.vcpu=8 --set agent.capacity.memory_mb=16384 \
		--set executor.type=simulate
done
wait_for 20 "2 hosts" hosts_are 2
for i in 1 2 3 4; do as sub put "$P/requests/r$i" "$(spec 1 1024)" >/dev/null; done
wait_for 30 "4 running" running_is 4
as sub get "$P/status/r1" >/dev/null || fail "the submitter reads P/status/"
as sub get --prefix "$P/hosts/" >/dev/null || fail "the submitter reads P/hosts/"
ok "placements work with auth and TLS: $(e2e_phases)"
e2e_check 10

# denied USER KEY: a put of KEY as USER is refused by etcd.
denied() {
	local out rc=0
	out=$(as "$1" put "$2" x 2>&1) || rc=$?
	if [ "$rc" -eq 0 ] || [[ $out != *"permission denied"* ]]; then
		fail "$1 may write $2 (rc $rc: $out)"
	fi
}
for k in hosts/h2 bids/h2/r1 vms/h2/r1 alloc/h1 alloc/h2 assign/h1/r9 status/r1 \
	election/slot-0/x meta rounds/r1 invites/h1/r1 invites/h2/r1 requests/r9 controllers/h1 hostctl/h1; do
	denied h1 "$P/$k"
done
# Reads: its own invitations (sample rounds, issue 17), not another host's.
as h1 get --prefix "$P/invites/h1/" >/dev/null || fail "h1 reads its P/invites/h1/"
out=$(as h1 get --prefix "$P/invites/h2/" 2>&1) && fail "h1 reads P/invites/h2/: $out"
[[ $out == *"permission denied"* ]] || fail "h1 reading P/invites/h2/: $out"
ok "h1 reads its own invitations only"
as h1 put "$P/vms/h1/probe" '{"state":"running"}' >/dev/null || fail "h1 writes its own P/vms/h1/"
as h1 del "$P/vms/h1/probe" >/dev/null
ok "h1 writes its own keys only: not another host's hosts/ bids/ vms/, nor alloc/ assign/ status/ election/ meta rounds/ invites/ requests/ controllers/ hostctl/"
for k in status/r1 hosts/h1 alloc/h1 assign/h1/r9 vms/h1/r1 bids/h1/r1 rounds/r1 \
	election/slot-0/x meta controllers/sub hostctl/h1; do
	denied sub "$P/$k"
done
ok "the submitter writes P/requests/ only"
as op put "$P/hostctl/h1" cordoned >/dev/null || fail "the operator writes P/hostctl/"
as op put "$P/requests/op-1" "$(spec 1 1024)" >/dev/null || fail "the operator submits"
for k in status/r1 hosts/h1 alloc/h1 assign/h1/r9 meta; do denied op "$P/$k"; done
as op del "$P/hostctl/h1" >/dev/null
ok "the operator writes P/requests/ and P/hostctl/, nothing else"

# Documented limit (docs/DESIGN.md "Least privilege"): etcd 3.4 checks no
# permission on LeaseKeepAlive, so the submitter, who may read
# P/hosts/, can keep host h1's lease alive.  If this ever fails, etcd
# closed the hole: update DESIGN.md.
lease=$(as sub get "$P/hosts/h1" -w json | /usr/bin/python3 -c 'import json,sys; print("%x" % json.load(sys.stdin)["kvs"][0]["lease"])')
ka=$(as sub lease keep-alive --once "$lease" 2>&1) || true
[[ $ka == *"keepalived with TTL"* ]] ||
	fail "the submitter could not keep h1's lease alive ($ka): etcd now checks LeaseKeepAlive"
ok "etcd 3.4: the submitter keeps h1's lease alive: $ka (LeaseKeepAlive has no permission check)"

# A certificate with a CommonName: etcd's gateway refuses the password
# login (what every daemon would loop on), so it is not a supported setup.
code=$(curl -s -o "$E2E_TMP/cn.out" -w '%{http_code}' --cacert "$C/ca.pem" \
	--cert "$C/client.pem" --key "$C/client.key" -X POST "$EP/v3/auth/authenticate" \
	-d "{\"name\":\"sub\",\"password\":\"$(pw sub)\"}")
[ "$code" != 200 ] || fail "the gateway authenticated a client certificate with a CN"
ok "a client certificate with a CN is refused by the gateway: HTTP $code $(head -c 160 "$E2E_TMP/cn.out")"
# A daemon given one says why, with etcd's own words and the fix (it used
# to loop on a bare "authenticate: HTTP 400").
e2e_spawn agent-cn "$B/flintsched-agent" --set "etcd.endpoints=[$EP]" --set etcd.tls.ca="$C/ca.pem" \
	--set etcd.tls.cert="$C/client.pem" --set etcd.tls.key="$C/client.key" --set etcd.username=h1 \
	--set etcd.password_file="$PW/h1" --set agent.host=h1 --set executor.type=simulate
cn_logged() { grep -q "CommonName of client.*use one without a CN" "$E2E_TMP/agent-cn.log"; }
wait_for 20 "the agent logs etcd's CommonName refusal" cn_logged
ok "an agent with a CN certificate logs: $(grep -m1 -o 'HTTP 400: CommonName.*' "$E2E_TMP/agent-cn.log" | head -c 200)"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$C/ca.pem" \
	--cert "$C/client-nocn.pem" --key "$C/client-nocn.key" -X POST "$EP/v3/auth/authenticate" \
	-d "{\"name\":\"sub\",\"password\":\"$(pw sub)\"}")
[ "$code" = 200 ] || fail "the gateway refused a certificate without CN plus a password: HTTP $code"
ok "a client certificate without CN plus a password is accepted"
