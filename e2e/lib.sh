# shellcheck shell=bash
# Shared by e2e/test_*.sh: a throwaway etcd on loopback, processes that
# are all stopped on exit, and bounded waits.  Source it, then call
# e2e_etcd_start.  Every process started through e2e_spawn is killed by
# PID on exit and the temp dir removed (set E2E_KEEP=1 to keep it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
B=${B:-build}
P=/flintsched
E2E_TMP=$(mktemp -d /tmp/flintsched-e2e.XXXXXX)
E2E_PIDS=()

e2e_cleanup() {
	local rc=$?
	for p in "${E2E_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${E2E_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$rc" -ne 0 ]; then
		echo "--- logs of the failed run ($E2E_TMP):"
		for f in "$E2E_TMP"/*.log; do
			[ -e "$f" ] || continue
			echo "--- $(basename "$f") (last 20 lines)"
			tail -20 "$f"
		done
	fi
	[ -n "${E2E_KEEP:-}" ] || rm -rf "$E2E_TMP"
	exit "$rc"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# e2e_spawn NAME CMD...: runs CMD in the background, log in $E2E_TMP/NAME.log;
# its PID is in $SPAWNED.
e2e_spawn() {
	local name=$1; shift
	"$@" >"$E2E_TMP/$name.log" 2>&1 &
	SPAWNED=$!
	E2E_PIDS+=("$SPAWNED")
}

E() { etcdctl --endpoints="$EP" "$@"; }

e2e_etcd_start() {
	ETCD_PPORT=$(free_port)
	EP=http://127.0.0.1:$(free_port)
	e2e_etcd_run
}

e2e_etcd_run() {
	e2e_spawn etcd etcd --name e2e --data-dir "$E2E_TMP/etcd" \
		--listen-client-urls "$EP" --advertise-client-urls "$EP" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PPORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PPORT" \
		--initial-cluster "e2e=http://127.0.0.1:$ETCD_PPORT" --log-level warn
	ETCD_PID=$SPAWNED
	wait_for 20 "etcd healthy" E endpoint health
}

# A crash: SIGKILL, the data dir stays for e2e_etcd_run.
e2e_etcd_kill() {
	kill -KILL "$ETCD_PID"
	wait "$ETCD_PID" 2>/dev/null || true
}

alive() { kill -0 "$1" 2>/dev/null; }

# count PREFIX: number of keys under $P/PREFIX.
count() { E get --prefix --keys-only "$P/$1" | grep -c . || true; }

# wait_for SECONDS WHAT CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
	local secs=$1 what=$2; shift 2
	local end=$((SECONDS + secs))
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "timed out after ${secs}s waiting for: $what"
}

# field KEY JQPATH: a top-level field of a JSON value in etcd ("" if none).
field() {
	E get --print-value-only "$1" | python3 -c '
import json, sys
raw = sys.stdin.read().strip()
v = json.loads(raw) if raw else {}
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v))' "$2"
}

phase_is() { [ "$(field "$P/status/$1" phase)" = "$2" ]; }

# spec VCPU MEM [MEMBERS]: a request a real flintlockd would accept (a
# kernel, a root volume, a TAP interface: FS_SPEC_EXAMPLE in
# common/spec.h), plus MEMBERS (e.g. '"scheduling":{...}').
spec() {
	printf '{"vcpu":%s,"memoryInMb":%s,"kernel":{"image":"ghcr.io/example/kernel:6.1","filename":"boot/vmlinux"},"rootVolume":{"id":"root","source":{"containerSource":"ghcr.io/example/ubuntu:22.04"}},"interfaces":[{"deviceId":"eth1","type":"TAP"}]%s}' \
		"$1" "$2" "${3:+,$3}"
}
