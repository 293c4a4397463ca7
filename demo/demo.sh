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
#
# Last, every agent is restarted (SIGTERM, then started again, as
# `systemctl restart flintsched-agent` does) and the demo checks that no
# placement changed: the same assignments, statuses on the same hosts at
# the same attempts, and no VM created or deleted (it exits 1 if not).
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

# B=DIR (e2e/test_demo.sh): the binaries already built there; else build.
if [ -z "${B:-}" ]; then
	say "building"
	make -s all >/dev/null
fi
B=${B:-build}

# -- cluster --------------------------------------------------------------
TMP=$(mktemp -d /tmp/flintsched-demo.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# run_agent NAME ARGS...: an agent, its log appended to, its pid and
# arguments kept so that the restart below starts it again the same way.
declare -A AGENT_PID
run_agent() {
	local name=$1; shift
	printf '%q ' "$@" >"$TMP/agent-$name.cmd"
	./"$B"/flintsched-agent "$@" >>"$TMP/agent-$name.log" 2>&1 &
	PIDS+=($!)
	AGENT_PID[$name]=$!
}

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
# Up to 60 s: on a loaded machine a new etcd can take over 10 s to elect
# itself and commit ("failed to commit proposal: context deadline
# exceeded"); the demo once gave up after 100 quick tries.
deadline=$((SECONDS + 60))
until E --command-timeout=2s endpoint health >/dev/null 2>&1; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		tail -n 20 "$TMP/etcd.log" >&2
		E --command-timeout=2s endpoint health >&2 || true
		echo "demo: etcd on $EP did not become healthy in 60 s (its log above)" >&2
		exit 1
	fi
	sleep 0.2
done

FL=0
[ "${FLINTLOCK:-0}" = 1 ] || [ "${DEMO_EXECUTOR:-simulate}" = flintlock ] && FL=1
if [ "$FL" = 1 ]; then
	say "starting 3 controllers, 4 fake flintlockds (gRPC, TLS, mTLS, token) and 4 agents"
else
	say "starting 3 controllers and agents simulating 8 hosts"
fi
for n in a b c; do
	./"$B"/flintsched-controller --set "etcd.endpoints=[$EP]" \
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
		run_agent "$h" --set "etcd.endpoints=[$EP]" \
			--set agent.host=host-$h --set "agent.labels={zone: ${h%?}}" \
			--set agent.capacity.vcpu=8 --set agent.capacity.memory_mb=16384 \
			--set agent.capacity.max_vms=8 --set executor.type=flintlock \
			--set executor.flintlock.endpoint="127.0.0.1:$port" \
			--set executor.flintlock.tls.ca="$TMP/certs/ca.pem" \
			--set executor.flintlock.tls.cert="$TMP/certs/client.pem" \
			--set executor.flintlock.tls.key="$TMP/certs/client.key" \
			--set executor.flintlock.token_file="$TMP/token" \
			--set agent.lease_ttl_s=3
	done
else
	for z in a b; do
		run_agent "$z" --simulate 4 --set "etcd.endpoints=[$EP]" \
			--set agent.host=zone$z --set "agent.labels={zone: $z}" \
			--set agent.capacity.vcpu=8 --set agent.capacity.memory_mb=16384 \
			--set agent.capacity.max_vms=8 --set executor.type=simulate \
			--set agent.lease_ttl_s=3
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
C() { ./"$B"/flintschedctl --endpoints "$EP" "$@"; }
say "the same through flintschedctl: hosts"
C hosts
echo
say "flintschedctl list"
C list
echo
say "flintschedctl explain huge-1"
C explain huge-1
echo
# -- every agent restarted: no placement may change ------------------------
# What a placement is, one line per key: each assignment (its mod
# revision: rewritten = re-placed), each status's phase, host and attempt,
# each VM record (create and mod revision: created, deleted or rewritten).
placements() {
	E get --prefix $P/ -w json | python3 -c '
import base64, json, sys
pre = sys.argv[1] + "/"
for kv in json.load(sys.stdin).get("kvs", []):
    k = base64.b64decode(kv["key"]).decode()[len(pre):]
    kind = k.split("/", 1)[0]
    if kind == "assign":
        print("assign %s rev %s" % (k, kv.get("mod_revision")))
    elif kind == "status":
        s = json.loads(base64.b64decode(kv["value"]))
        print("status %s %s on %s attempt %s" % (k, s.get("phase"),
              s.get("host") or "-", s.get("attempt")))
    elif kind == "vms":
        print("vm %s created %s rev %s" % (k, kv.get("create_revision"),
              kv.get("mod_revision")))
' "$P" | sort
}
# The leases of the host records, one per line.
host_leases() {
	E get --prefix $P/hosts/ -w json | python3 -c '
import json, sys
for kv in json.load(sys.stdin).get("kvs", []):
    print("%x" % int(kv.get("lease", 0)))'
}
say "restarting every agent (SIGTERM, then start again): no placement may change"
placements >"$TMP/before"
host_leases >"$TMP/leases-before"
for name in "${!AGENT_PID[@]}"; do
	kill -TERM "${AGENT_PID[$name]}"
	wait "${AGENT_PID[$name]}" 2>/dev/null || true
	eval "set -- $(cat "$TMP/agent-$name.cmd")"
	run_agent "$name" "$@"
done
# Back: every host registered again under a new lease, and every old
# lease run out (the stopping agents let them expire rather than revoke
# them; its expiry was what rescheduled everything before issue 14).
for _ in $(seq 150); do
	host_leases >"$TMP/leases-after"
	[ "$(wc -l <"$TMP/leases-after")" -ge "$NHOSTS" ] &&
		! grep -qxFf "$TMP/leases-before" "$TMP/leases-after" && break
	sleep 0.1
done
while read -r l; do
	for _ in $(seq 150); do
		E lease timetolive "$l" 2>&1 | grep -q "already expired" && break
		sleep 0.1
	done
done <"$TMP/leases-before"
# and the controllers have seen all of it: a request put after the
# expiry is placed (its status written after everything the expiry
# caused, on the same watch)
E put $P/requests/after-restart "$(spec 1 1024)" >/dev/null
for _ in $(seq 150); do
	E get --print-value-only $P/status/after-restart | grep -q '"phase":"running"' && break
	sleep 0.1
done
placements | grep -v '/after-restart' >"$TMP/after"
if ! diff -u "$TMP/before" "$TMP/after"; then
	echo "FAIL: restarting the agents changed the placements above" >&2
	exit 1
fi
printf 'unchanged after restarting %s agent(s): %s assignment(s), %s status(es) (phase, host, attempt), %s VM record(s): nothing rescheduled, created or deleted\n' \
	"${#AGENT_PID[@]}" "$(grep -c '^assign ' "$TMP/after" || true)" \
	"$(grep -c '^status ' "$TMP/after" || true)" "$(grep -c '^vm ' "$TMP/after" || true)"
say "done; stopping everything"
