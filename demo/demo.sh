#!/usr/bin/env bash
# make demo: a whole flintsched cluster on loopback, for a look.
#   local etcd (temp dir, free port) + 3 controllers + 2 agents simulating
#   8 hosts (zones a and b); a dozen requests submitted with etcdctl (one
#   invalid, one too large); a table of where each went and why.
# Everything started here is stopped on exit (trap), the temp dir removed.
#
# make demo FLINTLOCK=1 (or DEMO_EXECUTOR=flintlock): 4 agents, one host
#   each, every one creating its VMs on its own fake flintlockd
#   (test/tools/fake_flintlockd.py) over gRPC with TLS, mTLS and a token,
#   as a production host would; the table then shows each fake's VMs.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# -- dependencies ---------------------------------------------------------
need_deps=0
for b in etcd etcdctl pkg-config cc; do command -v "$b" >/dev/null || need_deps=1; done
pkg-config --exists libcurl jansson yaml-0.1 2>/dev/null || need_deps=1
[ -e /usr/include/ev.h ] || need_deps=1
if [ "$need_deps" = 1 ]; then
	say "installing dependencies"
	if [ -x scripts/install-deps.sh ]; then
		./scripts/install-deps.sh
	else
		SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
		$SUDO apt-get update -qq
		$SUDO apt-get install -y -qq build-essential pkg-config etcd-server \
			etcd-client libcurl4-openssl-dev libjansson-dev libyaml-dev \
			libev-dev libmicrohttpd-dev libcmocka-dev
	fi
fi

say "building"
make -s all >/dev/null

# -- cluster --------------------------------------------------------------
TMP=$(mktemp -d /tmp/flintsched-demo.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
CPORT=$(free_port); PPORT=$(free_port)
EP=http://127.0.0.1:$CPORT
P=/flintsched
E() { etcdctl --endpoints="$EP" "$@"; }

say "starting etcd on $EP (data in $TMP)"
etcd --name demo --data-dir "$TMP/etcd" \
	--listen-client-urls "$EP" --advertise-client-urls "$EP" \
	--listen-peer-urls "http://127.0.0.1:$PPORT" \
	--initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
	--initial-cluster "demo=http://127.0.0.1:$PPORT" >"$TMP/etcd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do E endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
E endpoint health >/dev/null

FL=0
[ "${FLINTLOCK:-0}" = 1 ] || [ "${DEMO_EXECUTOR:-simulate}" = flintlock ] && FL=1
if [ "$FL" = 1 ]; then
	say "starting 3 controllers, 4 fake flintlockds (gRPC, TLS, mTLS, token) and 4 agents"
else
	say "starting 3 controllers and agents simulating 8 hosts"
fi
for n in a b c; do
	./build/flintsched-controller --set "etcd.endpoints=[$EP]" \
		--set controller.name=ctrl-$n --set scheduling.bid_timeout_ms=300 \
		>"$TMP/ctrl-$n.log" 2>&1 &
	PIDS+=($!)
done
NHOSTS=8
if [ "$FL" = 1 ]; then
	NHOSTS=4
	test/tools/mkcerts.sh "$TMP/certs"
	printf 'demo-token\n' >"$TMP/token"
	for h in a1 a2 b1 b2; do
		/usr/bin/python3 test/tools/fake_flintlockd.py --basic-auth-token demo-token \
			--tls-cert "$TMP/certs/server.pem" --tls-key "$TMP/certs/server.key" \
			--tls-client-ca "$TMP/certs/ca.pem" --tls-client-validate \
			--ready-file "$TMP/fl-$h.ready" >"$TMP/fl-$h.log" 2>&1 &
		PIDS+=($!)
	done
	for h in a1 a2 b1 b2; do
		for _ in $(seq 100); do [ -s "$TMP/fl-$h.ready" ] && break; sleep 0.1; done
		port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc"])' "$TMP/fl-$h.ready")
		./build/flintsched-agent --set "etcd.endpoints=[$EP]" \
			--set agent.host=host-$h --set "agent.labels={zone: ${h%?}}" \
			--set agent.capacity.vcpu=8 --set agent.capacity.memory_mb=16384 \
			--set agent.capacity.max_vms=8 --set executor.type=flintlock \
			--set executor.flintlock.endpoint="127.0.0.1:$port" \
			--set executor.flintlock.tls.ca="$TMP/certs/ca.pem" \
			--set executor.flintlock.tls.cert="$TMP/certs/client.pem" \
			--set executor.flintlock.tls.key="$TMP/certs/client.key" \
			--set executor.flintlock.token_file="$TMP/token" \
			>"$TMP/agent-$h.log" 2>&1 &
		PIDS+=($!)
	done
else
	for z in a b; do
		./build/flintsched-agent --simulate 4 --set "etcd.endpoints=[$EP]" \
			--set agent.host=zone$z --set "agent.labels={zone: $z}" \
			--set agent.capacity.vcpu=8 --set agent.capacity.memory_mb=16384 \
			--set agent.capacity.max_vms=8 --set executor.type=simulate \
			>"$TMP/agent-$z.log" 2>&1 &
		PIDS+=($!)
	done
fi
for _ in $(seq 100); do
	[ "$(E get --prefix --keys-only $P/hosts/ | grep -c .)" -ge "$NHOSTS" ] && break
	sleep 0.1
done

say "submitting 12 requests with etcdctl put"
spec() { # vcpu mem [scheduling]: a spec a real flintlockd would accept
	printf '{"vcpu":%s,"memoryInMb":%s,"kernel":{"image":"ghcr.io/example/kernel:6.1","filename":"boot/vmlinux"},"rootVolume":{"id":"root","source":{"containerSource":"ghcr.io/example/ubuntu:22.04"}},"interfaces":[{"deviceId":"eth1","type":"TAP"}]%s}' \
		"$1" "$2" "${3:+,\"scheduling\":$3}"
}
E put $P/requests/web-1 "$(spec 2 2048 '{"spread":"web"}')" >/dev/null
E put $P/requests/web-2 "$(spec 2 2048 '{"spread":"web"}')" >/dev/null
E put $P/requests/web-3 "$(spec 2 2048 '{"spread":"web"}')" >/dev/null
E put $P/requests/db-1 "$(spec 4 8192 '{"selector":{"zone":"a"},"priority":10}')" >/dev/null
E put $P/requests/db-2 "$(spec 4 8192 '{"selector":{"zone":"b"},"priority":10}')" >/dev/null
E put $P/requests/cache-1 "$(spec 1 1024)" >/dev/null
E put $P/requests/cache-2 "$(spec 1 1024)" >/dev/null
E put $P/requests/batch-1 "$(spec 3 4096 '{"priority":-1}')" >/dev/null
E put $P/requests/batch-2 "$(spec 3 4096 '{"priority":-1}')" >/dev/null
E put $P/requests/edge-1 "$(spec 1 1024 '{"selector":{"zone":"a"}}')" >/dev/null
E put $P/requests/invalid-1 "$(spec 0 1024 '{"zone":"a"}')" >/dev/null
E put $P/requests/huge-1 "$(spec 8 32768)" >/dev/null

# Wait (bounded) until every request has a status in a settled phase.
for _ in $(seq 150); do
	n=$(E get --prefix --print-value-only $P/status/ |
		grep -cE '"phase":"(running|rejected|unschedulable|failed)"' || true)
	[ "$n" -ge 12 ] && break
	sleep 0.1
done

say "where each request went, and why (from $P/status/)"
E get --prefix $P/status/ -w json | python3 -c '
import base64, json, sys
d = json.load(sys.stdin)
rows = []
for kv in d.get("kvs", []):
    k = base64.b64decode(kv["key"]).decode().rsplit("/", 1)[1]
    s = json.loads(base64.b64decode(kv["value"]))
    rows.append((k, s.get("phase",""), s.get("host","") or "-",
                 "%.3f" % s.get("score",0) if s.get("host") else "-",
                 s.get("coordinator",""), s.get("reason","")))
fmt = "%-10s %-14s %-8s %-6s %-14s %s"
print(fmt % ("REQUEST","PHASE","HOST","SCORE","COORDINATOR","REASON"))
for r in sorted(rows):
    print(fmt % r)
'
echo
say "coordinator slots (etcdctl: lowest create revision leads each election)"
for i in 0 1 2; do
	printf 'slot-%s: %s\n' "$i" "$(E get --prefix $P/election/slot-$i --sort-by=create --order=ascend --limit 1 --print-value-only | head -1)"
done
echo
say "committed allocations"
E get --prefix $P/alloc/ | paste - -
if [ "$FL" = 1 ]; then
	say "the VMs each fake flintlockd holds (its control endpoint's /state)"
	for h in a1 a2 b1 b2; do
		port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"])' "$TMP/fl-$h.ready")
		curl -sf "http://127.0.0.1:$port/state" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("host-%s: %s" % (sys.argv[1], ", ".join("%s %s (%s)" % (v["id"], v["state"], v["uid"][:10]) for v in d["vms"]) or "none"))' "$h"
	done
fi
echo
C() { ./build/flintschedctl --endpoints "$EP" "$@"; }
say "the same through flintschedctl: hosts"
C hosts
echo
say "flintschedctl list"
C list
echo
say "flintschedctl explain huge-1"
C explain huge-1
say "done; stopping everything"
