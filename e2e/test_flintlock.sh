#!/usr/bin/env bash
# The flintlock executor end to end, against two fake flintlockds
# (test/tools/fake_flintlockd.py, upstream's behaviour): one served as a
# production host is (gRPC, TLS, mTLS, a basic token), one --insecure
# with its HTTP gateway.  For each: etcdctl put of a valid spec -> placed
# -> CreateMicroVM on its fake -> running -> etcdctl del -> DeleteMicroVM
# -> the VM gone from the fake.  And a request naming a namespace the host
# does not allow fails before any call to flintlockd.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
FAKE=test/tools/fake_flintlockd.py
test/tools/mkcerts.sh "$E2E_TMP/certs"
C=$E2E_TMP/certs
printf 's3cr3t\n' >"$E2E_TMP/token"

# --check-config: the endpoint per transport, TLS files, at file:line:col.
check() { # check WANT YAML: --check-config fails saying WANT
	printf '%s\n' "$2" >"$E2E_TMP/bad.yaml"
	out=$("$B/flintsched-agent" -c "$E2E_TMP/bad.yaml" --check-config 2>&1) &&
		fail "--check-config accepted: $2"
	[[ $out == *"$1"* ]] || fail "--check-config said: $out (want: $1)"
}
check "bad.yaml:4:15: executor.flintlock.endpoint: want http://host:port" \
	"$(printf 'executor:\n  flintlock:\n    transport: http\n    endpoint: 127.0.0.1:8090')"
check "bad.yaml:3:15: executor.flintlock.endpoint: want host:port for transport grpc" \
	"$(printf 'executor:\n  flintlock:\n    endpoint: http://127.0.0.1:8090')"
check "executor.flintlock.tls.cert: a client certificate needs executor.flintlock.tls.key" \
	"$(printf 'executor:\n  flintlock:\n    tls: {ca: %s, cert: %s}' "$C/ca.pem" "$C/client.pem")"
check 'executor.flintlock.tls.ca: cannot read "/nonexistent/ca.pem"' \
	"$(printf 'executor:\n  flintlock:\n    tls: {ca: /nonexistent/ca.pem}')"
"$B/flintsched-agent" --check-config --set executor.flintlock.tls.ca="$C/ca.pem" \
	--set executor.flintlock.tls.cert="$C/client.pem" \
	--set executor.flintlock.tls.key="$C/client.key" >/dev/null || fail "a valid TLS setup"
ok "--check-config: endpoint per transport, TLS files and pairs, at file:line:col"

e2e_etcd_start

# fake NAME ARGS...: starts a fake; its ports in $E2E_TMP/NAME.ready.
fake() {
	local name=$1; shift
	e2e_spawn "$name" "$PY" "$FAKE" --basic-auth-token s3cr3t \
		--ready-file "$E2E_TMP/$name.ready" "$@"
	wait_for 20 "$name ready" test -s "$E2E_TMP/$name.ready"
}
port() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$E2E_TMP/$1.ready" "$2"; }
fake fl-tls --tls-cert "$C/server.pem" --tls-key "$C/server.key" \
	--tls-client-ca "$C/ca.pem" --tls-client-validate
fake fl-gw --insecure --http-port 0

# state NAME: the fake's /state.  vm_state NAME NS ID: its VM's state, "".
state() { curl -sf "http://127.0.0.1:$(port "$1" control)/state"; }
vm_state() {
	state "$1" | $PY -c '
import json, sys
d = json.load(sys.stdin)
print("".join(v["state"] for v in d["vms"] if v["namespace"] == sys.argv[1] and v["id"] == sys.argv[2]))' "$2" "$3"
}
vm_gone() { [ -z "$(vm_state "$1" default "$2")" ]; }
calls() { # calls NAME METHOD: how many calls of METHOD the fake answered
	state "$1" | $PY -c '
import json, sys
print(sum(1 for c in json.load(sys.stdin)["calls"] if c["method"] == sys.argv[1]))' "$2"
}

agent() { # agent HOST VIA SETS...
	local host=$1 via=$2; shift 2
	e2e_spawn "agent-$host" "$B/flintsched-agent" --set "etcd.endpoints=[$EP]" \
		--set agent.host="$host" --set agent.lease_ttl_s=3 \
		--set agent.proc_root="$PWD/test/data/proc/a" \
		--set "agent.labels={via: $via}" \
		--set agent.capacity.vcpu=8 --set agent.capacity.memory_mb=16384 \
		--set agent.capacity.max_vms=8 --set executor.type=flintlock \
		--set executor.flintlock.token_file="$E2E_TMP/token" "$@"
}
agent host-grpc grpc --set executor.flintlock.endpoint="127.0.0.1:$(port fl-tls grpc)" \
	--set executor.flintlock.tls.ca="$C/ca.pem" \
	--set executor.flintlock.tls.cert="$C/client.pem" \
	--set executor.flintlock.tls.key="$C/client.key"
agent host-http http --set executor.flintlock.transport=http \
	--set executor.flintlock.endpoint="http://127.0.0.1:$(port fl-gw http)"
e2e_spawn ctrl "$B/flintsched-controller" --set "etcd.endpoints=[$EP]" \
	--set controller.name=ctrl-a --set controller.coordinators=1 \
	--set controller.lease_ttl_s=3 --set scheduling.bidding=cached \
	--set scheduling.max_attempts=1
wait_for 10 "two hosts registered" bash -c \
	"[ \$(etcdctl --endpoints=$EP get --prefix --keys-only $P/hosts/ | grep -c .) -eq 2 ]"

# through VIA FAKE HOST: the whole life of one VM.
through() {
	local via=$1 f=$2 host=$3 id=vm-$1
	E put "$P/requests/$id" "$(spec 2 2048 "\"scheduling\":{\"selector\":{\"via\":\"$via\"}}")" >/dev/null
	wait_for 20 "$id running" phase_is "$id" running
	[ "$(field "$P/status/$id" host)" = "$host" ] || fail "$id on $host"
	[ "$(vm_state "$f" default "$id")" = created ] || fail "$id CREATED on $f: $(state "$f")"
	uid=$(field "$P/vms/$host/$id" uid)
	state "$f" | grep -q "\"uid\":\"$uid\"" || fail "$id's uid $uid is the fake's"
	ok "$via: etcdctl put -> placed on $host -> CreateMicroVM -> running (uid $uid)"
	E del "$P/requests/$id" >/dev/null
	wait_for 20 "$id deleted on $f" vm_gone "$f" "$id"
	[ "$(calls "$f" DeleteMicroVM)" = 1 ] || fail "one DeleteMicroVM on $f: $(state "$f")"
	[ "$(calls "$f" CreateMicroVM)" = 1 ] || fail "one CreateMicroVM on $f"
	[ "$(calls "$f" GetMicroVM)" = 0 ] || fail "no GetMicroVM on $f"
	wait_for 10 "$P/vms/$host/$id removed" bash -c \
		"[ -z \"\$(etcdctl --endpoints=$EP get --keys-only $P/vms/$host/$id)\" ]"
	ok "$via: etcdctl del -> DeleteMicroVM -> gone from the fake"
}
through grpc fl-tls host-grpc
through http fl-gw host-http

# A namespace the host does not allow: failed, nothing sent.
n0=$(state fl-tls | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["calls"]))')
E put "$P/requests/ns-1" "$(spec 1 1024 '"namespace":"victim","scheduling":{"selector":{"via":"grpc"}}')" >/dev/null
wait_for 20 "ns-1 failed" phase_is ns-1 failed
[[ $(field "$P/status/ns-1" reason) == *'namespace "victim" is not allowed on this host'* ]] ||
	fail "ns-1's reason names the namespace: $(E get --print-value-only "$P/status/ns-1")"
n1=$(state fl-tls | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["calls"]))')
[ "$n0" = "$n1" ] || fail "no call to flintlockd for ns-1 ($n0 -> $n1)"
ok "a namespace not in allowed_namespaces fails before any call"
