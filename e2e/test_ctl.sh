#!/usr/bin/env bash
# flintschedctl against a real etcd, a controller and simulated agents:
# golden tables from fixed records (under their own prefix, with a fixed
# clock), then every subcommand on a live cluster, the exit codes, and the
# errors (unreachable etcd, permission denied).  UPDATE_GOLDEN=1 rewrites
# e2e/golden/*.txt from this run.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

CTL=$B/flintschedctl
e2e_etcd_start
# etcdctl refuses ETCDCTL_ENDPOINTS beside --endpoints, so it is set for
# flintschedctl only (CTL_EP overrides it).
ctl() { ETCDCTL_ENDPOINTS=${CTL_EP:-$EP} "$CTL" "$@"; }

# run OUTVAR RC_WANT CMD...: runs CMD (stdout+stderr to $E2E_TMP/out),
# fails unless it exits RC_WANT.
run() {
	local want=$1 rc=0; shift
	"$@" >"$E2E_TMP/out" 2>&1 || rc=$?
	[ "$rc" -eq "$want" ] || fail "exit $rc (want $want): $* :: $(cat "$E2E_TMP/out")"
	if grep -q "Sanitizer" "$E2E_TMP/out"; then fail "sanitizer report: $*: $(cat "$E2E_TMP/out")"; fi
}
has() { grep -qF -- "$1" "$E2E_TMP/out" || fail "want \"$1\" in: $(cat "$E2E_TMP/out")"; }

# -- 1. golden tables: fixed records in, exact text out ---------------------
G=/golden
# shellcheck source=e2e/golden/ctl-fixture.sh
. e2e/golden/ctl-fixture.sh
export FLINTSCHEDCTL_NOW=2026-12-01T12:00:00.000Z
golden() { # NAME ARGS...: stdout of flintschedctl --prefix $G ARGS vs e2e/golden/ctl-NAME.txt
	local name=$1 rc=0; shift
	ctl --prefix "$G" "$@" >"$E2E_TMP/g-$name.raw" 2>&1 || rc=$?
	sed "s|$EP|ENDPOINT|g" "$E2E_TMP/g-$name.raw" >"$E2E_TMP/g-$name.txt"
	echo "exit $rc" >>"$E2E_TMP/g-$name.txt"
	if [ -n "${UPDATE_GOLDEN:-}" ]; then
		cp "$E2E_TMP/g-$name.txt" "e2e/golden/ctl-$name.txt"
	fi
	diff -u "e2e/golden/ctl-$name.txt" "$E2E_TMP/g-$name.txt" ||
		fail "golden $name differs"
}
spec 1 1024 '"scheduling":{"selector":{"zone":"a"}}' >"$E2E_TMP/edge-1.json"
spec 64 1024 >"$E2E_TMP/big-1.json"
golden hosts hosts
golden hosts-wide hosts -o wide
golden host-a hosts node-a
golden list list
golden list-wide -o wide list
golden list-running list --phase running
golden get get web-1
golden explain-db explain db-1
golden explain-bad explain bad-1
golden explain-new explain new-1
golden plan plan "$E2E_TMP/edge-1.json"
golden plan-nowhere plan "$E2E_TMP/big-1.json"
golden top top --interval 0
ok "golden tables (hosts, list, get, explain, plan, top)"

ctl --prefix "$G" -o json list >"$E2E_TMP/list.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [r["id"] for r in d]==["bad-1","db-1","ev\\x1bil\\xff","new-1","old-1","web-1"], [r["id"] for r in d]' "$E2E_TMP/list.json" ||
	fail "-o json list"
if grep -q $'\x1b' "$E2E_TMP/list.json" "$E2E_TMP"/g-*.raw; then fail "raw ESC in output"; fi
script -qec "env ETCDCTL_ENDPOINTS=$EP $CTL --prefix $G hosts" /dev/null >"$E2E_TMP/tty.txt"
grep -q $'\x1b\[32mlive' "$E2E_TMP/tty.txt" || fail "colour on a terminal: $(cat -v "$E2E_TMP/tty.txt")"
script -qec "env ETCDCTL_ENDPOINTS=$EP $CTL --prefix $G -o json hosts" /dev/null >"$E2E_TMP/tty.json"
if grep -q $'\x1b' "$E2E_TMP/tty.json"; then fail "colour in -o json"; fi
ok "-o json, escaping, colour only on a terminal and never in json"
unset FLINTSCHEDCTL_NOW

# -- 2. the command line itself ----------------------------------------------
for c in submit get list hosts explain plan watch delete cordon drain uncordon top; do
	run 0 ctl "$c" --help
	has "usage: flintschedctl $c"
	has "Exit codes"
done
run 0 ctl --version; has "flintschedctl 0."
run 1 ctl frobnicate; has 'unknown command "frobnicate"'
run 1 ctl -o yaml list; has "-o yaml: use table, wide or json"
ok "--help for every subcommand, unknown command and output exit 1"

# Unreachable etcd: a closed port answers at once; a port that accepts but
# never answers is cut by --timeout.  Both exit 2 naming the endpoint.
closed=$(free_port)
start=$SECONDS
run 2 ctl --endpoints "http://127.0.0.1:$closed" list
has "cannot reach etcd at http://127.0.0.1:$closed"
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(60)' >"$E2E_TMP/mute.port" &
mute=$!; E2E_PIDS+=("$mute")
wait_for 5 "mute listener" test -s "$E2E_TMP/mute.port"
run 2 ctl --endpoints "http://127.0.0.1:$(cat "$E2E_TMP/mute.port")" --timeout 1 hosts
has "timed out"
[ $((SECONDS - start)) -le 8 ] || fail "unreachable etcd took $((SECONDS - start)) s"
kill "$mute"
ok "unreachable etcd: exit 2 with the endpoint and the error, within the timeout"

# -- 3. a live cluster ---------------------------------------------------------
MPORT=$(free_port)
e2e_spawn ctrl "$B/flintsched-controller" --set "etcd.endpoints=[$EP]" \
	--set controller.name=ctrl-a --set controller.coordinators=1 \
	--set scheduling.bid_timeout_ms=300 --set "http.listen=127.0.0.1:$MPORT"
e2e_spawn agent "$B/flintsched-agent" --simulate 4 --set "etcd.endpoints=[$EP]" \
	--set agent.host=zonea --set "agent.labels={zone: a}" \
	--set agent.capacity.vcpu=8 --set agent.capacity.memory_mb=16384 \
	--set agent.capacity.max_vms=8 --set executor.type=simulate \
	--set agent.proc_root="$PWD/test/data/proc/a"
wait_for 20 "4 hosts live" bash -c "[ \$(ETCDCTL_ENDPOINTS=$EP $CTL hosts | grep -c ' live ') -eq 4 ]"

cat >"$E2E_TMP/ctrl.yaml" <<YAML
etcd:
  endpoints: [$EP]
controller:
  name: x
YAML
cat >"$E2E_TMP/agent.yaml" <<YAML
etcd:
  endpoints: [$EP]
agent:
  host: y
YAML
printf 'etcd:\n  endpoint: [x]\n' >"$E2E_TMP/bad.yaml"
CTL_EP=http://127.0.0.1:$closed run 0 ctl -c "$E2E_TMP/ctrl.yaml" hosts
CTL_EP=http://127.0.0.1:$closed run 0 ctl -c "$E2E_TMP/agent.yaml" hosts
run 1 ctl -c "$E2E_TMP/bad.yaml" hosts; has "etcd.endpoint: unknown key"
run 0 ctl --endpoints "http://127.0.0.1:$closed,$EP" hosts
ok "-c FILE (controller or agent config), --endpoints with failover, ETCDCTL_ENDPOINTS"

# submit: the controller's parser, create-if-absent, --replace, --wait.
spec 0 1024 >"$E2E_TMP/bad-1.json"
run 1 ctl submit "$E2E_TMP/bad-1.json"
has "vcpu: must be 1..64, got 0"
[ "$(count requests/bad-1)" -eq 0 ] || fail "invalid request written"
printf '{"vcpu":2,"memoryInMb":2048,"scheduling":{"zone":"a"}' >"$E2E_TMP/trunc-1.json"
run 1 ctl submit "$E2E_TMP/trunc-1.json"; has "invalid JSON"
spec 2 2048 '"scheduling":{"zone":"a"}' | run 1 ctl submit --id sched-1 -
has "scheduling.zone: unknown key"
spec 2 2048 '"scheduling":{"spread":"web"}' >"$E2E_TMP/web-1.json"
run 0 ctl submit --wait "$E2E_TMP/web-1.json"
has "web-1 running on zonea-"
run 1 ctl submit "$E2E_TMP/web-1.json"
has "request web-1 exists"; has "--replace"
run 0 ctl submit --replace "$E2E_TMP/web-1.json"
ok "submit: invalid file exit 1 naming the field, existing id refused, --replace, --wait"

# plan agrees with the controller on a quiet cluster (sample bidding: the
# agents' bids and the controller's ranking, against plan's fs_score).
for i in 1 2 3 4 5; do
	spec $((i % 3 + 1)) 1024 '"scheduling":{"spread":"web"}' >"$E2E_TMP/p-$i.json"
	want=$(ctl -o json plan "$E2E_TMP/p-$i.json" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["winner"])')
	run 0 ctl submit --wait "$E2E_TMP/p-$i.json"
	got=$(field "$P/status/p-$i" host)
	[ "$want" = "$got" ] || fail "plan said $want, the controller placed p-$i on $got"
done
ok "plan names the host the controller then places on (5 of 5)"

# explain of an unschedulable request names the reason.
spec 64 2048 >"$E2E_TMP/huge-1.json"
run 1 ctl submit --wait "$E2E_TMP/huge-1.json"; has "huge-1 unschedulable"
run 0 ctl explain huge-1
has "huge-1 is unschedulable"; has "Rejected: insufficient vcpu on 4 hosts"; has "It waits for capacity"
run 0 ctl explain -v huge-1; has "insufficient vcpu"
run 1 ctl plan "$E2E_TMP/huge-1.json"; has "huge-1 fits nowhere: insufficient vcpu on 4 hosts"
run 1 ctl explain nope-1; has "no request nope-1"
ok "explain and plan of an unschedulable request name the reason; unknown id exit 1"

# get, list and its filters, hosts HOST.
run 0 ctl get web-1; has "web-1  running  zonea-"
run 0 ctl list --phase unschedulable; has "huge-1"
if grep -q web-1 "$E2E_TMP/out"; then fail "--phase filter"; fi
h=$(field "$P/status/web-1" host)
run 0 ctl list --host "$h"; has "web-1"
run 0 ctl hosts "$h"; has "web-1  running"
run 0 ctl list --selector zone=a
run 1 ctl list --phase sleeping; has "--phase sleeping"
run 1 ctl hosts nope-9; has "no host nope-9"
ok "get, list --phase/--host/--selector, hosts HOST"

# cordon, drain, uncordon on P/hostctl/<host>.
run 0 ctl cordon zonea-1
run 0 ctl hosts; grep -qE '^zonea-1 +cordoned ' "$E2E_TMP/out" || fail "hosts shows cordoned: $(cat "$E2E_TMP/out")"
[ "$(field "$P/hostctl/zonea-1" state)" = cordoned ] || fail "hostctl key"
run 0 ctl drain zonea-2 --max-parallel 2 --deadline 30m
[ "$(field "$P/hostctl/zonea-2" state)" = drain ] || fail "drain state"
[ "$(field "$P/hostctl/zonea-2" max_parallel)" = 2 ] || fail "drain max_parallel"
run 0 ctl hosts -o json
python3 -c 'import json,sys; d={h["host"]:h["state"] for h in json.load(open(sys.argv[1]))}; assert d["zonea-1"]=="cordoned" and d["zonea-2"]=="draining" and d["zonea-0"]=="live", d' "$E2E_TMP/out" ||
	fail "hosts -o json states"
run 1 ctl drain zonea-2 --deadline tomorrow; has "--deadline tomorrow"
run 1 ctl cordon nope-9; has "no host nope-9"
run 0 ctl uncordon zonea-1; run 0 ctl uncordon zonea-2
[ "$(count hostctl/)" -eq 0 ] || fail "uncordon deletes the key"
ok "cordon, drain, uncordon write and delete P/hostctl/<host>; hosts shows them"

# watch prints the transitions of a request placed while it runs.
ETCDCTL_ENDPOINTS=$EP "$CTL" watch >"$E2E_TMP/watch.out" 2>"$E2E_TMP/watch.err" &
wpid=$!; E2E_PIDS+=("$wpid")
wait_for 10 "watch started" grep -q "^watching" "$E2E_TMP/watch.err"
spec 1 1024 >"$E2E_TMP/w-1.json"
run 0 ctl submit "$E2E_TMP/w-1.json"
wait_for 20 "watch saw w-1 running" grep -qE ' w-1  scheduled -> running  zonea-' "$E2E_TMP/watch.out"
grep -qE ' w-1  - -> scheduled  zonea-' "$E2E_TMP/watch.out" || fail "watch: $(cat "$E2E_TMP/watch.out")"
run 0 ctl delete w-1
wait_for 20 "watch saw w-1 deleted" grep -qE ' w-1  running -> deleted' "$E2E_TMP/watch.out"
kill -INT "$wpid"; rc=0; wait "$wpid" || rc=$?
[ "$rc" -eq 0 ] || fail "watch exits 0 on SIGINT, got $rc"
run 1 ctl delete w-1; has "no request w-1"
ok "watch streams - -> scheduled -> running -> deleted; delete"

run 0 ctl top --interval 0.3
has "hosts:    4 live"; has "placements:"
run 0 ctl top --interval 300ms --metrics "http://127.0.0.1:$MPORT/metrics"
has "placements: 0.0/s (the controllers' placements_total over 0.3 s)"
run 2 ctl top --interval 300ms --metrics "http://127.0.0.1:$closed/metrics"
has "--metrics http://127.0.0.1:$closed/metrics"
run 1 ctl top --interval soon; has "--interval soon"
ok "top: from the status watch, or from the controllers' /metrics"

# Bash completion: subcommands, and host names read from the cluster.
(
	PATH=$PWD/$B:$PATH ETCDCTL_ENDPOINTS=$EP
	export ETCDCTL_ENDPOINTS
	# shellcheck source=deploy/flintschedctl.bash
	. deploy/flintschedctl.bash
	COMP_WORDS=(flintschedctl dr); COMP_CWORD=1; _flintschedctl
	[ "${COMPREPLY[*]}" = drain ] || fail "completes dr: ${COMPREPLY[*]}"
	COMP_WORDS=(flintschedctl cordon zonea-); COMP_CWORD=2; _flintschedctl
	[ "${COMPREPLY[*]}" = "zonea-0 zonea-1 zonea-2 zonea-3" ] || fail "completes hosts: ${COMPREPLY[*]}"
	COMP_WORDS=(flintschedctl explain we); COMP_CWORD=2; _flintschedctl
	[ "${COMPREPLY[*]}" = web-1 ] || fail "completes ids: ${COMPREPLY[*]}"
)
ok "bash completion of subcommands, hosts and ids"

# TLS with client certificates: flags, and etcdctl's environment.
test/tools/mkcerts.sh "$E2E_TMP/certs"
C=$E2E_TMP/certs
# etcd 3.4's JSON gateway dials etcd's own gRPC port with the server's
# certificate as its client certificate, so with --client-cert-auth the
# server certificate needs clientAuth too (mkcerts.sh's has serverAuth).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/both.key" 2>/dev/null
openssl req -new -key "$C/both.key" -subj /CN=localhost -out "$C/both.csr" 2>/dev/null
printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
	'extendedKeyUsage=serverAuth,clientAuth' 'keyUsage=critical,digitalSignature' >"$C/both.ext"
openssl x509 -req -in "$C/both.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
	-days 1 -extfile "$C/both.ext" -out "$C/both.pem" 2>/dev/null
TEP=https://127.0.0.1:$(free_port)
TPP=$(free_port)
e2e_spawn etcd-tls etcd --name tls --data-dir "$E2E_TMP/etcd-tls" \
	--listen-client-urls "$TEP" --advertise-client-urls "$TEP" \
	--listen-peer-urls "http://127.0.0.1:$TPP" \
	--initial-advertise-peer-urls "http://127.0.0.1:$TPP" \
	--initial-cluster "tls=http://127.0.0.1:$TPP" --log-level warn \
	--cert-file "$C/both.pem" --key-file "$C/both.key" \
	--client-cert-auth --trusted-ca-file "$C/ca.pem"
wait_for 20 "TLS etcd healthy" etcdctl --endpoints="$TEP" --cacert "$C/ca.pem" \
	--cert "$C/client.pem" --key "$C/client.key" endpoint health
run 0 "$CTL" --endpoints "$TEP" --cacert "$C/ca.pem" --cert "$C/client.pem" --key "$C/client.key" list
ETCDCTL_ENDPOINTS=$TEP ETCDCTL_CACERT=$C/ca.pem ETCDCTL_CERT=$C/client.pem ETCDCTL_KEY=$C/client.key \
	run 0 "$CTL" hosts
run 2 "$CTL" --endpoints "$TEP" --cacert "$C/ca.pem" --timeout 2 list
has "cannot reach etcd at $TEP"
ok "TLS: --cacert/--cert/--key and ETCDCTL_CACERT/CERT/KEY; no client certificate exits 2"

# Permission denied: a user who may only read.
E user add root --new-user-password=rootpw >/dev/null
E user grant-role root root >/dev/null
E user add viewer --new-user-password=viewpw >/dev/null
E role add reader >/dev/null
E role grant-permission reader --prefix=true read "$P/" >/dev/null
E user grant-role viewer reader >/dev/null
E auth enable >/dev/null
run 0 ctl --user viewer:viewpw list; has "web-1"
spec 1 1024 >"$E2E_TMP/ro-1.json"
run 2 ctl --user viewer:viewpw submit "$E2E_TMP/ro-1.json"
has "permission denied on $P/requests/ro-1 for user viewer"
ETCDCTL_USER=viewer:viewpw run 2 ctl cordon zonea-0
has "permission denied on $P/hostctl/zonea-0"
run 2 ctl --user viewer:wrong list; has "viewer"
E --user root:rootpw auth disable >/dev/null
ok "permission denied: exit 2 naming the key and the user"
