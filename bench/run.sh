#!/usr/bin/env bash
# make bench: flintsched against etcd's own limit, in one run, on loopback.
#
# Starts its own etcd (free port, temp dir), then measures, each scenario
# under a fresh etcd prefix with its own agents and controllers:
#   1 raw etcd txn/s and put/s (etcd_raw) at concurrency 1, 16, 64; etcd
#     CPU per txn of 1..6 keys, with and without a watcher (key cost)
#   2 placement throughput per bidding mode (cached, sample, broadcast); the
#     requests go in as txns of SUBMIT_BATCH puts, so that submitting them
#     does not take the etcd capacity the scheduler is measured against
#   3 submit->scheduled latency at half the max reached with requests put one
#     by one (as the paced latency run puts them), cached and sample
#   4 3 controllers with K = 1, 2, 4 coordinator slots
#   5 etcd writes per placement, and per idle host per minute
#   6 fairness of spread on identical hosts
#   7 controller and agent peak RSS at scale
#   9 scale: sample and cached at 100, 500 and 2,000 hosts, each with its
#     own watches (--per-host-watches, as real agents): placements/s, etcd
#     watch events sent per placement (etcd's own /metrics) and etcd CPU
#     per placement (/proc/<pid>/stat, less the idle fleet's rate)
#  10 controller cost: 3 controllers, K = 1, 2, 4 on step 7's 10,000
#     simulated hosts with score_hosts 0: placements per controller
#     CPU-second, each controller's CPU, the projection for controllers
#     on machines of their own (run right after step 7's agent RSS)
# and prints a table, writes $B/bench.json and PNG charts into $B/bench/.
# BENCH_SMOKE=1 uses tiny sizes (< 60 s).  Every size is an env var (below).
# A scenario that does not place all it submitted fails the bench (exit 1,
# the scenario named), after the table.
# Every process started here is stopped by PID on exit; the temp dir removed.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
OUT=$B/bench
SMOKE=${BENCH_SMOKE:-0}
T_START=$(date +%s)

# -- sizes ---------------------------------------------------------------
if [ "$SMOKE" = 1 ]; then
	d_raw=300 d_hosts=20 d_bhosts=10 d_cached=300 d_sample=100 d_bcast=30
	d_lat_s=2 d_coord=200 d_idle=3 d_mhosts=200 d_mreq=2000 d_asim=200
	d_shosts="10 30" d_sreq=60 d_sidle=0.5 d_creps=3 d_sreps=1
	d_ctl=100
else
	# Trimmed to finish in 10 minutes on 2 shared cores (issue 17 item
	# 6; README says which figure each trim left stable): broadcast
	# 10,000 -> 3,000 requests, sample 10,000 -> 5,000, coordinators
	# 5,000 -> 3,000 requests and 3 -> 2 runs per K, idle 30 -> 15 s.
	d_raw=3000 d_hosts=500 d_bhosts=50 d_cached=10000 d_sample=5000
	d_bcast=3000 d_lat_s=8 d_coord=3000 d_idle=15 d_mhosts=10000
	d_mreq=100000 d_asim=10000 d_creps=2
	d_shosts="100 500 2000" d_sreq=2000 d_sidle=2 d_sreps=2
	d_ctl=1500
fi
RAW_OPS=${BENCH_RAW_OPS:-$d_raw}              # ops per etcd_raw run
HOSTS=${BENCH_HOSTS:-$d_hosts}                # simulated hosts (cached, sample, coordinators)
BHOSTS=${BENCH_BROADCAST_HOSTS:-$d_bhosts}    # simulated hosts in broadcast
N_CACHED=${BENCH_REQUESTS:-$d_cached}         # requests, cached
N_SAMPLE=${BENCH_SAMPLE_REQUESTS:-$d_sample}  # requests, sample
N_BCAST=${BENCH_BROADCAST_REQUESTS:-$d_bcast} # requests, broadcast
CANDIDATES=${BENCH_CANDIDATES:-3}
INFLIGHT=${BENCH_INFLIGHT:-4}                 # submit's puts (txns) in flight
SUBMIT_BATCH=${BENCH_SUBMIT_BATCH:-64}        # requests per submit txn (1 = one put each)
LAT_S=${BENCH_LATENCY_SECONDS:-$d_lat_s}      # length of a paced run
LIGHT_RATE=${BENCH_LIGHT_RATE:-20}            # requests/s of the light-load latency run
N_COORD=${BENCH_COORD_REQUESTS:-$d_coord}     # requests per K
COORD_REPS=${BENCH_COORD_REPS:-$d_creps}      # runs per K (the best is kept)
IDLE_S=${BENCH_IDLE_SECONDS:-$d_idle}         # idle window
MEM_HOSTS=${BENCH_MEM_HOSTS:-$d_mhosts}       # host records (fill) for controller RSS
MEM_REQ=${BENCH_MEM_REQUESTS:-$d_mreq}        # pending requests for controller RSS
AGENT_SIM=${BENCH_AGENT_SIM:-$d_asim}         # --simulate N for agent RSS
SUBMIT_TIMEOUT=${BENCH_SUBMIT_TIMEOUT:-120}    # one submit run at most
SCALE_HOSTS=${BENCH_SCALE_HOSTS:-$d_shosts}    # host counts of the scale step
N_SCALE=${BENCH_SCALE_REQUESTS:-$d_sreq}      # requests per scale run
SCALE_IDLE_S=${BENCH_SCALE_IDLE_SECONDS:-$d_sidle} # idle etcd CPU window before each
SCALE_REPS=${BENCH_SCALE_REPS:-$d_sreps}       # sample runs per host count, interleaved (the best is kept)
SCALE_TTL=${BENCH_SCALE_LEASE_TTL:-auto}        # the scale step's agent.lease_ttl_s (keepalives every ttl/3); auto: below
SCALE_KA=${BENCH_SCALE_KEEPALIVES:-50}          # auto: max(30, 3 x hosts / this), the controller's max_host_keepalives_per_s
N_CTL=${BENCH_CTL_REQUESTS:-$d_ctl}           # requests per K of the controller-cost step (on AGENT_SIM hosts)

say() { printf '\033[1m==> [%ss] %s\033[0m\n' "$(($(date +%s) - T_START))" "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# -- dependencies ---------------------------------------------------------
for b in etcd etcdctl curl jq python3; do
	command -v "$b" >/dev/null || die "$b is missing (./scripts/install-deps.sh; apt-get install curl jq python3)"
done
if ! command -v gnuplot >/dev/null; then
	say "installing gnuplot-nox"
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	timeout 300 $SUDO apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null ||
		{ timeout 120 $SUDO apt-get update -qq && timeout 300 $SUDO apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null; } ||
		say "gnuplot-nox could not be installed: no charts"
fi
for x in "$B/flintsched-agent" "$B/flintsched-controller" "$B/bench/etcd_raw" "$B/bench/submit" "$B/bench/fill"; do
	[ -x "$x" ] || die "$x is missing: run make bench"
done

# -- processes ------------------------------------------------------------
TMP=$(mktemp -d /tmp/flintsched-bench.XXXXXX)
RES=$TMP/res
mkdir -p "$RES" "$OUT"
PIDS=()
stop_pid() { # pid...: TERM, wait up to 5 s, then KILL
	local p i
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for p in "$@"; do
		for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$p" 2>/dev/null; then kill -9 "$p" 2>/dev/null || true; fi
		wait "$p" 2>/dev/null || true
	done
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ ${#PIDS[@]} -gt 0 ] && stop_pid "${PIDS[@]}"
	if [ $rc -ne 0 ] && [ -d "$TMP" ]; then
		mkdir -p "$OUT/logs"
		cp "$TMP"/*.log "$OUT/logs/" 2>/dev/null || true
		rm -rf "$OUT/logs/res"
		cp -r "$RES" "$OUT/logs/res" 2>/dev/null || true
		echo "bench: failed; logs in $OUT/logs" >&2
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
CPORT=$(free_port); PPORT=$(free_port)
EP=http://127.0.0.1:$CPORT
E() { timeout 60 etcdctl --endpoints="$EP" --command-timeout=30s "$@"; }
count() { E get --prefix "$1" --keys-only --limit 1 -w json | jq -r '.count // 0'; }
revision() { E get /bench-rev-probe -w json | jq -r '.header.revision'; }
wait_count() { # prefix n seconds
	local i
	for i in $(seq $(($3 * 10))); do
		[ "$(count "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	die "timed out waiting for $2 keys under $1 (have $(count "$1"))"
}

say "starting etcd on $EP (data in $TMP)"
# Per-host watches hold 3 streams per simulated host, each a socket in
# etcd too: its soft open files limit up to the hard one.
[ "$(ulimit -Sn)" = unlimited ] || [ "$(ulimit -Sn)" -ge 20000 ] || ulimit -Sn "$(ulimit -Hn)" || true
etcd --name bench --data-dir "$TMP/etcd" \
	--listen-client-urls "$EP" --advertise-client-urls "$EP" \
	--listen-peer-urls "http://127.0.0.1:$PPORT" \
	--initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
	--initial-cluster "bench=http://127.0.0.1:$PPORT" \
	--quota-backend-bytes $((8 * 1024 * 1024 * 1024)) \
	--auto-compaction-mode revision --auto-compaction-retention 100000 \
	>"$TMP/etcd.log" 2>&1 &
ETCD_PID=$!
PIDS+=($!)
for _ in $(seq 100); do E endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
E endpoint health >/dev/null || die "etcd did not start"

# Room for 10,000 VMs of 1 vCPU and 1 GiB on the 50 hosts of broadcast.
AGENT_CAP=(--set agent.capacity.vcpu=512 --set agent.capacity.memory_mb=524288
	--set agent.capacity.max_vms=256 --set executor.type=simulate)
AGENT_PID=""
CTRL_PIDS=()
CTRL_PORTS=()
start_agent() { # prefix n name [agent options...]
	local prefix=$1 n=$2 name=$3
	shift 3
	"$B/flintsched-agent" --simulate "$n" --set "etcd.endpoints=[$EP]" \
		--set "etcd.prefix=$prefix" --set "agent.host=$name" "${AGENT_CAP[@]}" "$@" \
		>"$TMP/agent-${prefix#/}.log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
}
start_ctrl() { # prefix name K bidding [extra --set...]
	local prefix=$1 name=$2 k=$3 bidding=$4 port
	shift 4
	port=$(free_port)
	"$B/flintsched-controller" --set "etcd.endpoints=[$EP]" \
		--set "etcd.prefix=$prefix" --set "controller.name=$name" \
		--set "controller.coordinators=$k" --set "scheduling.bidding=$bidding" \
		--set "scheduling.candidates=$CANDIDATES" \
		--set "http.listen=127.0.0.1:$port" --set log.level=warn "$@" \
		>"$TMP/ctrl-${prefix#/}-$name.log" 2>&1 &
	CTRL_PIDS+=($!)
	CTRL_PORTS+=("$port")
	PIDS+=($!)
}
stop_all() {
	[ ${#CTRL_PIDS[@]} -gt 0 ] && stop_pid "${CTRL_PIDS[@]}"
	[ -n "$AGENT_PID" ] && stop_pid "$AGENT_PID"
	CTRL_PIDS=(); CTRL_PORTS=(); AGENT_PID=""
}
# Sum of a /metrics series (every label set); "null" when not served.
metric() { # port name
	local body
	body=$(curl -sf --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null) || body=""
	awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2; f = 1 }
		END { if (f) printf "%.0f\n", s; else print "null" }' <<<"$body"
}
scrape() { # out.json: every controller's counters
	local i port n
	{
		echo "["
		for i in "${!CTRL_PORTS[@]}"; do
			port=${CTRL_PORTS[$i]}
			[ "$i" -gt 0 ] && echo ","
			printf '{"name":"c%d"' "$i"
			for n in placements_total commit_txns_total commit_conflicts_total rounds_total \
				rejected_total unschedulable_total lost_total slots_held pending; do
				printf ',"%s":%s' "$n" "$(metric "$port" "flintsched_controller_$n")"
			done
			echo "}"
		done
		echo "]"
	} >"$1"
}
# Placements per controller, from each status's "coordinator" (name/slot).
per_controller() { # prefix out.json
	E get --prefix "$1/status/" -w json | jq '[.kvs // [] | .[] | .value | @base64d | fromjson
		| select(.phase == "scheduled" or .phase == "running") | .coordinator | split("/")[0]]
		| group_by(.) | map({(.[0]): length}) | add // {}' >"$2"
}
# VMs per host from P/alloc/ (hosts without an alloc key hold 0).
alloc_counts() { # prefix out.txt
	E get --prefix "$1/alloc/" -w json | jq -r '.kvs // [] | .[] | .value | @base64d | fromjson | .vms' >"$2"
}
wait_slots() { # prefix K: every slot has a leader
	local i s ok
	for i in $(seq 100); do
		ok=1
		for s in $(seq 0 $(($2 - 1))); do
			[ "$(count "$1/election/slot-$s/")" -ge 1 ] || ok=0
		done
		[ $ok = 1 ] && { sleep 0.5; return 0; }
		sleep 0.1
	done
	die "coordinator slots of $1 not all led"
}
# etcd's revision has not moved for 1 s (keepalives do not move it): the
# previous run's trailing work (VM states, "running" statuses) is done,
# so that a paced run measures its own placements and not that backlog.
wait_quiet() {
	local i r last=-1 same=0
	for i in $(seq 120); do
		r=$(revision)
		if [ "$r" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 4 ] && return 0
		else
			same=0 last=$r
		fi
		sleep 0.25
	done
	say "etcd still busy after 30 s; measuring anyway"
}
# Every controller holds its share of the K slots (floor or ceil of K/n,
# as the controllers balance them): without this wait a slot could move
# to its final controller in the middle of a run (K=4 once placed
# 2500/1746/754 instead of 2500/1250/1250).
wait_balanced() { # K
	local i p held lo hi ok sum n=${#CTRL_PORTS[@]}
	lo=$(($1 / n)); hi=$((($1 + n - 1) / n))
	for i in $(seq 300); do
		ok=1 sum=0
		for p in "${CTRL_PORTS[@]}"; do
			held=$(metric "$p" flintsched_controller_slots_held)
			[ "$held" = null ] && { ok=0; break; }
			sum=$((sum + held))
			{ [ "$held" -lt "$lo" ] || [ "$held" -gt "$hi" ]; } && ok=0
		done
		[ $ok = 1 ] && [ $sum = "$1" ] && return 0
		sleep 0.1
	done
	say "slots not balanced over $n controllers after 30 s; measuring anyway"
}
# Long commands run in the background and are waited for, so that a
# signal reaches the trap at once (bash defers traps during a foreground
# command); their PIDs are stopped on exit like every other.
bg() { # command...
	local p rc=0
	"$@" &
	p=$!
	PIDS+=("$p")
	wait "$p" || rc=$?
	return $rc
}
# A submit that times out still prints its figures (placed < requests):
# the table shows the shortfall instead of the run dying.
submit() { # prefix out.json [args...]
	local prefix=$1 out=$2
	shift 2
	bg timeout $((SUBMIT_TIMEOUT + 30)) "$B/bench/submit" --endpoint "$EP" --prefix "$prefix" \
		--timeout "$SUBMIT_TIMEOUT" "$@" >"$out" 2>"$out.err" ||
		{ cat "$out.err" >&2; say "submit $* did not finish (prefix $prefix)"; }
	jq -e .placed "$out" >/dev/null 2>&1 || die "submit $* printed no figures"
	# Every request placed, or the bench fails (after the table).
	jq -e '.placed == .requests' "$out" >/dev/null ||
		jq -r --arg s "$(basename "$out" .json)" '"\($s): placed \(.placed) of \(.requests)"' \
			"$out" >>"$RES/unplaced.txt"
}
# etcd's own counters: watch events sent (every watcher's copy of every
# event) and CPU seconds (utime + stime).
etcd_events() {
	curl -sf --max-time 5 "$EP/metrics" | awk '$1 == "etcd_debugging_mvcc_events_total" { printf "%.0f\n", $2 }'
}
CLK_TCK=$(getconf CLK_TCK)
cpu_of() { awk -v hz="$CLK_TCK" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$1/stat"; } # pid
etcd_cpu() { cpu_of "$ETCD_PID"; }
# After a scenario: its keys deleted, etcd compacted and defragmented, so
# that the next one starts on an etcd of the same size.  Without it the
# yardstick fell from about 3000 to 1500 txn/s over one run, and each K of
# step 4 ran on a bigger etcd than the K before it.
reset_etcd() { # prefix
	E del --prefix "$1/" >/dev/null
	E compaction --physical "$(revision)" >/dev/null
	E defrag >/dev/null
}
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# -- 1. raw etcd ------------------------------------------------------------
say "1. raw etcd through etcdclient: $RAW_OPS ops per run"
for mode in txn put; do
	for c in 1 16 64; do
		bg timeout 120 "$B/bench/etcd_raw" --endpoint "$EP" --mode "$mode" -c "$c" -n "$RAW_OPS" \
			>"$RES/raw-$mode-$c.json"
	done
done

# What each key and each watch event of a placement costs etcd (issue 17
# item 5): txns of 1, 2, 4 and 6 compare+put pairs, with no watcher and
# with one on the written prefix (one event per put), etcd's CPU
# (/proc/<pid>/stat) read around each run; report.py fits
# CPU per txn = fixed + keys x per-key + events x per-event.
say "1. key cost: txns of 1, 2, 4, 6 keys, 0 and 1 watchers, $((RAW_OPS / 2)) txns each"
for w in 0 1; do
	for k in 1 2 4 6; do
		c0=$(etcd_cpu)
		bg timeout 120 "$B/bench/etcd_raw" --endpoint "$EP" --mode txn -c 16 -n "$((RAW_OPS / 2))" \
			--batch "$k" --watchers "$w" >"$RES/keycost-$k-$w.raw"
		c1=$(etcd_cpu)
		jq --argjson c "$(jq -n --argjson a "$c0" --argjson b "$c1" '$b - $a')" \
			'. + {etcd_cpu_s: $c}' "$RES/keycost-$k-$w.raw" >"$RES/keycost-$k-$w.json"
	done
done

# The yardstick again, just before a scenario on the same etcd: on a shared
# machine etcd's speed drifts over the minutes between step 1 and a run.
raw_adjacent() { # name
	bg timeout 120 "$B/bench/etcd_raw" --endpoint "$EP" --mode txn -c 16 -n "$((2 * RAW_OPS))" \
		>"$RES/raw-adj-$1.json"
}
# What etcd can do at best with the keys a cached placement writes:
# request, status twice, assign, alloc and VM state, 6 compare+put pairs
# in one txn (a placement's are spread over several), each put seen by
# one watcher (a placement's 6 keys send 6 events: controller 3, agent 1,
# the user's watch 2).
raw_placement_keys() { # name
	bg timeout 120 "$B/bench/etcd_raw" --endpoint "$EP" --mode txn -c 16 -n "$RAW_OPS" \
		--batch 6 --watchers 1 >"$RES/raw-keys-$1.json"
}

# -- 2, 3, 5, 6. one scenario per bidding mode --------------------------------
mode_run() { # mode hosts requests
	local mode=$1 hosts=$2 n=$3 prefix=/b-$1 rate nlat r0 r1 t0 t1
	say "2. $mode: $n requests as fast as possible, $hosts simulated hosts"
	raw_adjacent "$mode"
	[ "$mode" = cached ] && raw_placement_keys "$mode"
	start_agent "$prefix" "$hosts" h
	wait_count "$prefix/hosts/" "$hosts" 120
	start_ctrl "$prefix" c0 1 "$mode"
	wait_slots "$prefix" 1
	submit "$prefix" "$RES/tput-$mode.json" -n "$n" -c "$INFLIGHT" --batch "$SUBMIT_BATCH" --tag t \
		--latencies "$RES/lat-tput-$mode.txt"
	scrape "$RES/metrics-tput-$mode.json"
	alloc_counts "$prefix" "$RES/alloc-$mode.txt"
	echo "$hosts" >"$RES/hosts-$mode.txt"
	if [ "$mode" != broadcast ]; then
		# The latency run puts requests one by one: its "half the
		# max" is half of what one-by-one puts reach.
		say "2. $mode: $((n / 2)) requests put one by one"
		wait_quiet
		submit "$prefix" "$RES/tput1-$mode.json" -n "$((n / 2))" -c 64 --tag u
		rate=$(jq -r '[.placements_per_s / 2, 1] | max' "$RES/tput1-$mode.json")
		nlat=$(jq -rn --argjson r "$rate" --argjson s "$LAT_S" '[($r * $s | floor), 20] | max')
		say "3. $mode: $nlat requests paced at $rate/s (half the max)"
		wait_quiet
		submit "$prefix" "$RES/lat-$mode.json" -n "$nlat" --rate "$rate" --tag l \
			--latencies "$RES/lat-paced-$mode.txt"
		jq -n --argjson r "$rate" '{rate: $r}' >"$RES/rate-$mode.json"
		# The same path under light load: what its dependent round
		# trips cost with no queue in front of them.
		nlat=$(jq -rn --argjson r "$LIGHT_RATE" --argjson s "$LAT_S" '[($r * $s | floor), 20] | max')
		say "3. $mode: $nlat requests paced at $LIGHT_RATE/s (light load)"
		wait_quiet
		submit "$prefix" "$RES/light-$mode.json" -n "$nlat" --rate "$LIGHT_RATE" --tag f
	fi
	if [ "$mode" = cached ]; then
		say "5. idle: $hosts hosts holding VMs, controller stopped, ${IDLE_S} s window"
		stop_pid "${CTRL_PIDS[@]}"; CTRL_PIDS=(); CTRL_PORTS=()
		sleep 3
		r0=$(revision); t0=$(date +%s.%N)
		sleep "$IDLE_S"
		r1=$(revision); t1=$(date +%s.%N)
		jq -n --argjson r0 "$r0" --argjson r1 "$r1" --argjson t0 "$t0" --argjson t1 "$t1" \
			--argjson h "$hosts" '{hosts: $h, seconds: ($t1 - $t0), writes: ($r1 - $r0),
			per_host_per_min: (($r1 - $r0) / $h / (($t1 - $t0) / 60))}' >"$RES/idle.json"
	fi
	stop_all
	reset_etcd "$prefix"
}
mode_run cached "$HOSTS" "$N_CACHED"
mode_run sample "$HOSTS" "$N_SAMPLE"
mode_run broadcast "$BHOSTS" "$N_BCAST"

# -- 4. coordinators ----------------------------------------------------------
# Each K three times, in the order 1 2 4 4 2 1 1 2 4, the best run of
# each kept and compared in placements/s: run-to-run noise here is 10-40%,
# the differences sought smaller, and a drift over the runs hits
# every K alike (1 2 4 1 2 4 put K=4 last in both halves).
for rep in $(seq "$COORD_REPS"); do
	ks="1 2 4"
	[ $((rep % 2)) = 0 ] && ks="4 2 1"
	for k in $ks; do
		run=coord-$k-$rep prefix=/b-coord-$k-$rep
		say "4. 3 controllers, K=$k (cached): $N_COORD requests, $HOSTS hosts (run $rep of $COORD_REPS)"
		raw_adjacent "$run"
		start_agent "$prefix" "$HOSTS" h
		wait_count "$prefix/hosts/" "$HOSTS" 120
		for n in a b c; do start_ctrl "$prefix" "ctrl-$n" "$k" cached; done
		wait_slots "$prefix" "$k"
		wait_balanced "$k"
		submit "$prefix" "$RES/$run.json" -n "$N_COORD" -c "$INFLIGHT" --batch "$SUBMIT_BATCH" --tag k
		scrape "$RES/metrics-$run.json"
		per_controller "$prefix" "$RES/percontroller-$run.json"
		stop_all
		reset_etcd "$prefix"
	done
done

# -- 9. scale -------------------------------------------------------------------
# Each host watches its own keys (--per-host-watches), as N real agents do:
# what a placement costs etcd as the fleet grows.  The events are etcd's
# own count of what it sent to watchers; its CPU is taken over the run and
# the trailing writes, less what the idle fleet (keepalives, watch probes)
# costs at the rate measured just before.  The agents' leases are sized
# as the controller's warning says (controller.max_host_keepalives_per_s,
# 50 by default): max(30 s, 3 x hosts / 50), so 30 s at 100 and 500
# hosts, 120 s at 2,000; the fleet then renews at most 50 leases/s
# whatever its size.  At the default 10 s the 2,000 hosts' 600
# keepalives/s alone took 32-37% of etcd's CPU on 2 cores before any
# placement, and at 30 s (200/s) the renewals' reads of etcd's write
# buffer took 15% of its CPU while placing (3% at 100 hosts).
# BENCH_SCALE_LEASE_TTL=10 measures the default.
scale_ttl() { # hosts
	if [ "$SCALE_TTL" != auto ]; then echo "$SCALE_TTL"; return; fi
	local t=$(( (3 * $1 + SCALE_KA - 1) / SCALE_KA ))
	[ "$t" -lt 30 ] && t=30
	echo "$t"
}
scale_run() { # mode hosts rep
	local mode=$1 hosts=$2 run=scale-$1-$2-r$3 prefix=/b-scale-$1-$2 e0 e1 c0 c1 c2 c3 t0 t1 t2 t3 ttl
	ttl=$(scale_ttl "$hosts")
	say "9. scale: $mode, $hosts hosts with per-host watches (leases of $ttl s), $N_SCALE requests"
	start_agent "$prefix" "$hosts" h --per-host-watches --set "agent.lease_ttl_s=$ttl"
	wait_count "$prefix/hosts/" "$hosts" 180
	start_ctrl "$prefix" c0 1 "$mode"
	wait_slots "$prefix" 1
	wait_quiet
	c0=$(etcd_cpu); t0=$(date +%s.%N)
	sleep "$SCALE_IDLE_S"
	c1=$(etcd_cpu); t1=$(date +%s.%N)
	e0=$(etcd_events); c2=$(etcd_cpu); t2=$(date +%s.%N)
	submit "$prefix" "$RES/$run.json" -n "$N_SCALE" -c "$INFLIGHT" --batch "$SUBMIT_BATCH" --tag s
	wait_quiet
	e1=$(etcd_events); c3=$(etcd_cpu); t3=$(date +%s.%N)
	jq -n --argjson h "$hosts" --arg m "$mode" --argjson e0 "$e0" --argjson e1 "$e1" \
		--argjson c0 "$c0" --argjson c1 "$c1" --argjson c2 "$c2" --argjson c3 "$c3" \
		--argjson t0 "$t0" --argjson t1 "$t1" --argjson t2 "$t2" --argjson t3 "$t3" \
		'{mode: $m, hosts: $h, events: ($e1 - $e0), cpu_s: ($c3 - $c2), window_s: ($t3 - $t2),
		  idle_cpu_per_s: (($c1 - $c0) / ($t1 - $t0))}' >"$RES/$run-etcd.json"
	stop_all
	reset_etcd "$prefix"
}
# Two sample runs per host count, the sizes interleaved, and the better
# of each kept (as step 4 keeps the best run of each K): one 2,000-request
# run lasts 3-6 s, and runs of one size alone spread 440-635/s.
for rep in $(seq 1 "$SCALE_REPS"); do
	for h in $SCALE_HOSTS; do
		scale_run sample "$h" "$rep"
		[ "$rep" = 1 ] && scale_run cached "$h" 1
	done
done
for h in $SCALE_HOSTS; do
	for mode in sample cached; do
		best=$(for f in "$RES"/scale-$mode-$h-r*-etcd.json; do
			r=${f%-etcd.json}
			[ -s "$r.json" ] && jq -r --arg r "$r" '"\(.placements_per_s) \($r)"' "$r.json"
		done | sort -g | tail -1 | cut -d' ' -f2-)
		[ -n "$best" ] || continue
		cp "$best.json" "$RES/scale-$mode-$h.json"
		cp "$best-etcd.json" "$RES/scale-$mode-$h-etcd.json"
	done
done

# -- 10. controller cost --------------------------------------------------------
# Where more coordinators pay (issue 17 item 4): on one etcd the
# coordinators share etcd's commit rate, so K buys controller CPU, not
# etcd throughput.  Here the controller is the cost: the $AGENT_SIM hosts
# of step 7's agent (registered once, kept for this step), with
# scheduling.score_hosts 0 (every host scored for every placement), every
# other request in a hard anti_affinity group of 3 (submit --sched mix),
# 3 controllers with K = 1, 2, 4.  Each controller's CPU is utime + stime
# from /proc/<pid>/stat, from just before the first put to the end of the
# trailing "running" statuses (and, for its share of a core, to the last
# "scheduled").  Between runs, with the controllers
# stopped, every key but the host records is deleted (two ranges, either
# side of P/hosts/).  The smoke skips the waits for a quiet etcd.
ctl_settle() { [ "$SMOKE" = 1 ] || wait_quiet; }
ctl_run() { # prefix hosts (an agent of that many hosts registered there)
	local prefix=$1 hosts=$2 k n p run c0 c1 cm t0 t1
	for k in 1 2 4; do
		run=ctl-$k
		say "10. controller cost: 3 controllers, K=$k, $N_CTL requests, $hosts hosts, score_hosts 0"
		for n in a b c; do
			start_ctrl "$prefix" "ctrl-$n" "$k" cached --set scheduling.score_hosts=0
		done
		wait_slots "$prefix" "$k"
		wait_balanced "$k"
		ctl_settle
		c0=(); for p in "${CTRL_PIDS[@]}"; do c0+=("$(cpu_of "$p")"); done
		t0=$(date +%s.%N)
		submit "$prefix" "$RES/$run.json" -n "$N_CTL" -c "$INFLIGHT" --batch "$SUBMIT_BATCH" \
			--tag "k$k" --sched mix
		cm=(); for p in "${CTRL_PIDS[@]}"; do cm+=("$(cpu_of "$p")"); done
		ctl_settle
		c1=(); for p in "${CTRL_PIDS[@]}"; do c1+=("$(cpu_of "$p")"); done
		t1=$(date +%s.%N)
		scrape "$RES/metrics-$run.json"
		jq -n --argjson k "$k" --argjson h "$hosts" --argjson t0 "$t0" --argjson t1 "$t1" \
			--argjson a "$(printf '%s\n' "${c0[@]}" | jq -s .)" \
			--argjson b "$(printf '%s\n' "${c1[@]}" | jq -s .)" \
			--argjson m "$(printf '%s\n' "${cm[@]}" | jq -s .)" \
			'{k: $k, hosts: $h, window_s: ($t1 - $t0), names: ["ctrl-a", "ctrl-b", "ctrl-c"],
			  cpu_s: [range($a | length) as $i | $b[$i] - $a[$i]],
			  cpu_placing_s: [range($a | length) as $i | $m[$i] - $a[$i]]}' >"$RES/$run-cpu.json"
		stop_pid "${CTRL_PIDS[@]}"; CTRL_PIDS=(); CTRL_PORTS=()
		E del "$prefix/" "$prefix/hosts/" >/dev/null
		E del "$prefix/hosts0" "${prefix}0" >/dev/null
		ctl_settle
	done
}

# -- 7. memory ------------------------------------------------------------------
prefix=/b-mem
say "7. controller RSS: $MEM_HOSTS host records, $MEM_REQ requests that fit no host"
bg timeout 300 "$B/bench/fill" --endpoint "$EP" --prefix "$prefix" --tag m --hosts "$MEM_HOSTS" \
	--lease-ttl 900 --host-vcpu 32 --host-mem 262144 >"$RES/fill-hosts.json"
bg timeout 300 "$B/bench/fill" --endpoint "$EP" --prefix "$prefix" --tag r --requests "$MEM_REQ" \
	--vcpu 64 --mem 1024 >"$RES/fill-requests.json"
start_ctrl "$prefix" c0 1 cached
cpid=${CTRL_PIDS[0]}
# Listed and looked at every request: each has a status (unschedulable).
t0=$(date +%s)
for _ in $(seq 1800); do
	[ "$(count "$prefix/status/")" -ge "$MEM_REQ" ] && break
	kill -0 "$cpid" 2>/dev/null || die "controller died (see its log)"
	[ $(($(date +%s) - t0)) -ge 120 ] && { say "status writes not finished after 120 s"; break; }
	sleep 0.5
done
mem_statuses=$(count "$prefix/status/")
mem_secs=$(($(date +%s) - t0))
scrape "$RES/metrics-mem.json"
ctrl_kb=$(hwm_kb "$cpid")
stop_all
# The controller's 100,000 requests and statuses deleted first, and the
# leases of the 10,000 hosts at 30 s: on a loaded machine the keepalives of
# 10,000 leases of 10 s against that etcd expired faster than the hosts
# registered (54,000 registrations, never all 10,000 in 180 s).  RSS
# does not depend on either.
reset_etcd "$prefix"
say "7. agent RSS: --simulate $AGENT_SIM"
start_agent /b-agentmem "$AGENT_SIM" s --set agent.lease_ttl_s=30
wait_count /b-agentmem/hosts/ "$AGENT_SIM" 180
sleep 2
agent_kb=$(hwm_kb "$AGENT_PID")
ctl_run /b-agentmem "$AGENT_SIM"
stop_all
reset_etcd /b-agentmem
jq -n --argjson h "$MEM_HOSTS" --argjson r "$MEM_REQ" --argjson st "$mem_statuses" \
	--argjson s "$mem_secs" --argjson c "$ctrl_kb" --argjson a "$agent_kb" --argjson n "$AGENT_SIM" \
	'{hosts: $h, requests: $r, statuses_written: $st, seconds_to_status_all: $s,
	  controller_hwm_mib: ($c / 1024), agent_simulate: $n, agent_hwm_mib: ($a / 1024)}' >"$RES/mem.json"

# -- 8. placement constraints (issue 18) --------------------------------------
# The cached rate with hard anti_affinity (groups of 3, host scope) and
# with one topology_spread group over 3 zones, each as a ratio of the
# unconstrained rate measured the same way in the same run: $HOSTS hosts
# in 3 agents (zone a, b, c), one controller, a fresh prefix per run.
cons_run() {
	local n=${BENCH_CONS_REQUESTS:-$N_CACHED} per=$((HOSTS / 3)) kind z prefix pids
	for kind in none anti spread; do
		prefix=/b-cons-$kind
		say "8. constraints ($kind): $n requests, $((per * 3)) hosts in 3 zones (cached)"
		pids=()
		for z in a b c; do
			"$B/flintsched-agent" --simulate "$per" --set "etcd.endpoints=[$EP]" \
				--set "etcd.prefix=$prefix" --set "agent.host=z$z" \
				--set "agent.labels={zone: $z}" "${AGENT_CAP[@]}" \
				>"$TMP/agent-cons-$kind-$z.log" 2>&1 &
			pids+=($!)
			PIDS+=($!)
		done
		wait_count "$prefix/hosts/" "$((per * 3))" 120
		start_ctrl "$prefix" c0 1 cached
		wait_slots "$prefix" 1
		if [ "$kind" = none ]; then
			submit "$prefix" "$RES/cons-$kind.json" -n "$n" -c "$INFLIGHT" --batch "$SUBMIT_BATCH" --tag t
		else
			submit "$prefix" "$RES/cons-$kind.json" -n "$n" -c "$INFLIGHT" --batch "$SUBMIT_BATCH" --tag t \
				--sched "$kind"
		fi
		alloc_counts "$prefix" "$RES/alloc-cons-$kind.txt"
		stop_all
		stop_pid "${pids[@]}"
		reset_etcd "$prefix"
	done
}
cons_run

# -- report -------------------------------------------------------------------
elapsed=$(($(date +%s) - T_START))
python3 bench/report.py "$RES" "$B/bench.json" "$OUT" "$elapsed" "$SMOKE" \
	"scale_requests=$N_SCALE scale_reps=$SCALE_REPS scale_lease_ttl=$SCALE_TTL raw_ops=$RAW_OPS hosts=$HOSTS broadcast_hosts=$BHOSTS cached=$N_CACHED sample=$N_SAMPLE broadcast=$N_BCAST candidates=$CANDIDATES inflight=$INFLIGHT submit_batch=$SUBMIT_BATCH latency_s=$LAT_S light_rate=$LIGHT_RATE coord=$N_COORD coord_reps=$COORD_REPS ctl_requests=$N_CTL idle_s=$IDLE_S mem_hosts=$MEM_HOSTS mem_requests=$MEM_REQ agent_simulate=$AGENT_SIM"
if command -v gnuplot >/dev/null; then
	gnuplot -e "dir='$OUT'" bench/plot.gp && say "charts: $OUT/throughput.png $OUT/latency.png $OUT/scale.png"
fi
say "done in ${elapsed} s; $B/bench.json"
if [ -s "$RES/unplaced.txt" ]; then
	sed 's/^/bench: not all placed: /' "$RES/unplaced.txt" >&2
	exit 1
fi
