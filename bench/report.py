#!/usr/bin/env python3
"""make bench's report: reads the per-scenario JSON that bench/run.sh left in
RES, writes bench.json, prints the table (every figure, targets of issue 6
marked PASS / MISS) and the data files bench/plot.gp draws.

usage: report.py RES bench.json OUTDIR elapsed_s smoke "sizes"
"""
import json
import math
import os
import sys

res, out_json, out_dir, elapsed, smoke, sizes = sys.argv[1:7]


def load(name):
    p = os.path.join(res, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def lines(name):
    p = os.path.join(res, name)
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return [float(x) for x in f if x.strip()]


def verdict(ok):
    if ok is None:
        return "n/a"
    return "PASS" if ok else "MISS"


rows = []  # (section, figure, value, target, verdict)


def row(section, figure, value, target="", ok=None):
    rows.append((section, figure, value, target, verdict(ok) if target else ""))


R = {"sizes": dict(kv.split("=") for kv in sizes.split()),
     "smoke": smoke == "1", "elapsed_s": int(elapsed)}
for k in list(R["sizes"]):
    R["sizes"][k] = int(R["sizes"][k]) if R["sizes"][k].isdigit() else R["sizes"][k]

# 1. raw etcd
raw = {}
for mode in ("txn", "put"):
    for c in (1, 16, 64):
        j = load("raw-%s-%d.json" % (mode, c))
        raw["%s_c%d" % (mode, c)] = j
        row("1 raw etcd", "%s/s c=%d" % (mode, c),
            "%.0f/s  p50 %.2f ms  p99 %.2f ms" % (j["ops_per_s"], j["p50_ms"], j["p99_ms"]))
R["raw"] = raw
raw16 = raw["txn_c16"]["ops_per_s"]
raw_p50 = raw["txn_c1"]["p50_ms"]

# 1. key cost: etcd CPU per txn = fixed + keys x per_key + events x
# per_event, least squares over the runs (each put of a watched run is
# one event)
pts = []
for w in (0, 1):
    for k in (1, 2, 4, 6):
        j = load("keycost-%d-%d.json" % (k, w))
        if j and j.get("ops"):
            pts.append((k, k * w, 1000 * j["etcd_cpu_s"] / j["ops"], j["ops_per_s"]))
            row("1 key cost", "txn of %d compare+put, %d watcher" % (k, w),
                "%.0f txn/s = %.0f keys/s, etcd CPU %.3f ms per txn" % (j["ops_per_s"], j["ops_per_s"] * k,
                                                                       pts[-1][2]))


def lsq3(p):
    """(a, b, c) minimising sum (a + b*x + c*y - z)^2 over p = [(x, y, z, _)]"""
    s = [[0.0] * 4 for _ in range(3)]
    for x, y, z, _ in p:
        v = (1.0, x, y)
        for i in range(3):
            for j in range(3):
                s[i][j] += v[i] * v[j]
            s[i][3] += v[i] * z
    for i in range(3):  # Gauss-Jordan
        piv = max(range(i, 3), key=lambda r: abs(s[r][i]))
        s[i], s[piv] = s[piv], s[i]
        if abs(s[i][i]) < 1e-12:
            return None
        for r in range(3):
            if r != i:
                f = s[r][i] / s[i][i]
                s[r] = [a - f * b for a, b in zip(s[r], s[i])]
    return tuple(s[i][3] / s[i][i] for i in range(3))


fit = lsq3(pts) if len(pts) >= 4 else None
if fit:
    R["key_cost"] = {"txn_ms": fit[0], "key_ms": fit[1], "event_ms": fit[2], "points": pts}
    row("1 key cost", "etcd CPU: per txn + per compare+put + per watch event",
        "%.3f + %.3f + %.3f ms; a placement's 6 keys and 6 events in batched txns: %.2f ms" % (
            fit[0], fit[1], fit[2], 6 * (fit[1] + fit[2])))


def raw_next_to(name):
    """raw txn/s at c=16 measured just before scenario name (same etcd,
    minutes apart from step 1 on a shared machine), else step 1's."""
    j = load("raw-adj-%s.json" % name)
    return j["ops_per_s"] if j and j.get("ops_per_s") else raw16

# 2. throughput, 5. writes per placement, 6. fairness
R["modes"] = {}
for mode in ("cached", "sample", "broadcast"):
    t = load("tput-%s.json" % mode)
    m = {"throughput": t, "metrics": load("metrics-tput-%s.json" % mode),
         "hosts": int(open(os.path.join(res, "hosts-%s.txt" % mode)).read())}
    yard = raw_next_to(mode)
    ratio = t["placements_per_s"] / yard
    m["raw_txn_c16_adjacent"] = yard
    m["ratio_to_raw_txn_c16"] = ratio
    fig = "%s placements/s (%d req, %d hosts)" % (mode, t["requests"], m["hosts"])
    val = "%.0f/s = %.2f x raw txn c16 (%.0f/s)" % (t["placements_per_s"], ratio, yard)
    if t["placed"] < t["requests"]:
        val += " (%d of %d placed)" % (t["placed"], t["requests"])
    if mode == "cached":
        row("2 throughput", fig, val, "placements/s >= 0.7 x raw txn/s at concurrency 16",
            ratio >= 0.7)
        row("2 throughput", "cached, batched commits", "%.2f x" % ratio,
            ">= 1.5 x raw txn/s", ratio >= 1.5)
        k = load("raw-keys-%s.json" % mode)
        if k:
            m["raw_txn_6_keys_1_watcher"] = k
            m["ratio_to_raw_txn_6_keys"] = t["placements_per_s"] / k["ops_per_s"]
            row("2 throughput", "cached / etcd's rate for a placement's 6 keys",
                "%.2f x (txns of 6 compare+put, 1 watcher, c=16: %.0f/s = %.2f x raw txn c16)" % (
                    m["ratio_to_raw_txn_6_keys"], k["ops_per_s"], k["ops_per_s"] / yard))
    elif mode == "sample":
        row("2 throughput", fig, val, "placements/s >= 0.25 x raw txn/s", ratio >= 0.25)
    else:
        row("2 throughput", fig, val)
    t1 = load("tput1-%s.json" % mode)
    if t1:
        m["throughput_one_put_each"] = t1
        row("2 throughput", "%s, requests put one by one (%d)" % (mode, t1["requests"]),
            "%.0f/s = %.2f x raw txn c16" % (t1["placements_per_s"], t1["placements_per_s"] / yard))
    # 5. writes per placement
    w = t["writes_per_placement"]
    m["writes_per_placement"] = w
    if mode == "sample":
        c = R["sizes"]["candidates"]
        row("5 cost", "sample writes/placement", "%.2f" % w,
            "<= candidates + 3 = %d etcd writes per placement" % (c + 3), w <= c + 3)
    else:
        row("5 cost", "%s writes/placement" % mode, "%.2f" % w)
    # 6. fairness
    vms = [int(x) for x in lines("alloc-%s.txt" % mode)]
    vms += [0] * max(0, m["hosts"] - len(vms))
    if vms:
        mean = sum(vms) / len(vms)
        sd = math.sqrt(sum((v - mean) ** 2 for v in vms) / len(vms))
        spread = max(vms) - min(vms)
        m["fairness"] = {"hosts": len(vms), "vms": sum(vms), "max": max(vms), "min": min(vms),
                         "max_minus_min": spread, "cv": sd / mean if mean else 0}
        row("6 fairness", "%s: VMs/host max-min, CV" % mode,
            "%d - %d = %d, CV %.3f (%d VMs on %d hosts)" % (max(vms), min(vms), spread,
                                                            m["fairness"]["cv"], sum(vms), len(vms)),
            "max - min <= 2 VMs", spread <= 2)
    R["modes"][mode] = m

# 3. latency at half the max
for mode, mult in (("cached", 3), ("sample", 8)):
    j = load("lat-%s.json" % mode)
    rate = load("rate-%s.json" % mode)["rate"]
    r50 = j["p50_ms"] / raw_p50
    R["modes"][mode]["latency"] = dict(j, rate=rate, ratio_p50_to_raw_txn_p50=r50,
                                       ratio_p99_to_p50=j["p99_ms"] / j["p50_ms"] if j["p50_ms"] else None)
    row("3 latency", "%s @ %.0f/s (half the one-by-one max) p50/p90/p99" % (mode, rate),
        "%.2f / %.2f / %.2f ms (%d placed)" % (j["p50_ms"], j["p90_ms"], j["p99_ms"], j["placed"]))
    row("3 latency", "%s p50 / raw txn p50 (c=1, %.2f ms)" % (mode, raw_p50), "%.1f x" % r50,
        "p50 latency <= %d x raw txn p50" % mult, r50 <= mult)
    q = j["p99_ms"] / j["p50_ms"] if j["p50_ms"] else float("inf")
    row("3 latency", "%s p99 / p50" % mode, "%.1f x" % q, "p99 <= 5 x p50", q <= 5)
    lt = load("light-%s.json" % mode)
    if lt:
        R["modes"][mode]["latency_light"] = dict(lt, rate=R["sizes"]["light_rate"],
                                                 ratio_p50_to_raw_txn_p50=lt["p50_ms"] / raw_p50)
        row("3 latency", "%s @ %d/s (light load) p50/p90/p99" % (mode, R["sizes"]["light_rate"]),
            "%.2f / %.2f / %.2f ms = p50 %.1f x raw txn p50" % (
                lt["p50_ms"], lt["p90_ms"], lt["p99_ms"], lt["p50_ms"] / raw_p50))

# 4. coordinators
R["coordinators"] = {}
prev = None


def coord_runs(k):
    """(placements/s, rep) of each run of K, in run order."""
    runs = []
    rep = 1
    while True:
        j = load("coord-%d-%d.json" % (k, rep))
        if not j:
            return runs
        runs.append((j["placements_per_s"], rep))
        rep += 1


# The ratios' yardstick: the mean of the raw txn/s measured next to
# every coordinator run.
yards = [raw_next_to("coord-%d-%d" % (k, rep)) for k in (1, 2, 4) for _, rep in coord_runs(k)]
yard = sum(yards) / len(yards) if yards else raw16
for k in (1, 2, 4):
    # The best of the runs of K.  Runs of all K interleave, so drift
    # hits each K alike; compared in placements/s, since the yardstick
    # measured next to each run is itself as noisy as the difference.
    runs = coord_runs(k)
    best = max(runs)[1]
    run = "coord-%d-%d" % (k, best)
    t = load(run + ".json")
    mets = load("metrics-%s.json" % run) or []
    per = load("percontroller-%s.json" % run) or {}
    txns = [x.get("commit_txns_total") for x in mets]
    confl = [x.get("commit_conflicts_total") for x in mets]
    rate = None
    if txns and all(v is not None for v in txns + confl) and sum(txns) > 0:
        rate = sum(confl) / sum(txns)
    tp = t["placements_per_s"]
    tr = tp / yard
    R["coordinators"][k] = {"throughput": t, "metrics": mets, "placements_per_controller": per,
                            "conflict_rate": rate, "raw_txn_c16_adjacent": yard,
                            "ratio_to_raw_txn_c16": tr,
                            "placements_per_s_of_runs": [r for r, _ in runs]}
    row("4 coordinators", "K=%d: 3 controllers placements/s" % k,
        "%.0f/s = %.2f x raw txn c16 (%.0f/s, mean of the runs'); runs %s/s" % (
            tp, tr, yard, " ".join("%.0f" % r for r, _ in runs)),
        "adding coordinators never lowers throughput" if prev is not None else "",
        tp >= prev if prev is not None else None)
    row("4 coordinators", "K=%d: CAS conflict rate" % k,
        "%.2f%% (%d/%d)" % (100 * rate, sum(confl), sum(txns)) if rate is not None
        else "n/a (no /metrics)", "conflict rate <= 5%", rate <= 0.05 if rate is not None else None)
    row("4 coordinators", "K=%d: placements per controller" % k,
        " ".join("%s=%d" % kv for kv in sorted(per.items())) or "-")
    prev = tp

# 5. idle
idle = load("idle.json")
R["idle"] = idle
row("5 cost", "idle writes/host/min (%d hosts, %.0f s)" % (idle["hosts"], idle["seconds"]),
    "%.3f (%d writes)" % (idle["per_host_per_min"], idle["writes"]),
    "idle host: <= 2 etcd writes per minute", idle["per_host_per_min"] <= 2)

# 7. memory
mem = load("mem.json")
mem["controller_metrics"] = load("metrics-mem.json")
R["memory"] = mem
row("7 memory", "controller VmHWM, %d hosts + %d pending" % (mem["hosts"], mem["requests"]),
    "%.1f MiB (%d statuses in %d s)" % (mem["controller_hwm_mib"], mem["statuses_written"],
                                         mem["seconds_to_status_all"]),
    "controller RSS <= 256 MiB at 10,000 hosts and 100,000 pending requests",
    mem["controller_hwm_mib"] <= 256)
row("7 memory", "agent VmHWM, --simulate %d" % mem["agent_simulate"],
    "%.1f MiB" % mem["agent_hwm_mib"])

# 8. placement constraints (issue 18): rates as ratios of the unconstrained
cons = {k: load("cons-%s.json" % k) for k in ("none", "anti", "spread")}
R["constraints"] = cons
if all(cons.values()):
    base = cons["none"]["placements_per_s"]
    row("8 constraints", "cached, unconstrained (3 zones)", "%.0f/s" % base)
    for k, what in (("anti", "anti_affinity, groups of 3"), ("spread", "topology_spread, 3 zones")):
        ratio = cons[k]["placements_per_s"] / base if base else 0
        cons[k]["ratio"] = ratio
        row("8 constraints", "cached, %s" % what,
            "%.0f/s = %.2fx (%d of %d placed)" % (cons[k]["placements_per_s"], ratio,
                                                 cons[k]["placed"], cons[k]["requests"]),
            ">= 0.5x the unconstrained rate (issue 18)", ratio >= 0.5)
# 9. scale: per-host watches, 100 -> 2,000 hosts
R["scale"] = {}
scale_hosts = sorted({int(f.split("-")[2].split(".")[0]) for f in os.listdir(res)
                      if f.startswith("scale-") and f.endswith("-etcd.json")})
for mode in ("sample", "cached"):
    pts = []
    for h in scale_hosts:
        t = load("scale-%s-%d.json" % (mode, h))
        e = load("scale-%s-%d-etcd.json" % (mode, h))
        if not t or not e:
            continue
        n = t["placed"] or 1
        cpu = e["cpu_s"] - e["idle_cpu_per_s"] * e["window_s"]
        p = {"hosts": h, "throughput": t, "etcd": e,
             "placements_per_s": t["placements_per_s"],
             "events_per_placement": e["events"] / n,
             "etcd_cpu_ms_per_placement": 1000 * max(cpu, 0) / n,
             "etcd_cpu_ms_per_placement_gross": 1000 * e["cpu_s"] / n,
             "etcd_idle_cpu_per_s": e["idle_cpu_per_s"]}
        pts.append(p)
        val = "%.0f/s, %.1f events, etcd CPU %.2f ms (%.2f ms with the idle fleet's %.0f%%)" % (
            p["placements_per_s"], p["events_per_placement"], p["etcd_cpu_ms_per_placement"],
            p["etcd_cpu_ms_per_placement_gross"], 100 * e["idle_cpu_per_s"])
        if t["placed"] < t["requests"]:
            val += " (%d of %d placed)" % (t["placed"], t["requests"])
        row("9 scale", "%s, %d hosts, per-host watches: per placement" % (mode, h), val)
    R["scale"][mode] = pts
sp = R["scale"].get("sample", [])
if len(sp) >= 2:
    lo, hi = sp[0], sp[-1]
    ev = hi["events_per_placement"] / lo["events_per_placement"] if lo["events_per_placement"] else 0
    tp = hi["placements_per_s"] / lo["placements_per_s"] if lo["placements_per_s"] else 0
    R["scale_targets"] = {"events_ratio": ev, "placements_ratio": tp}
    row("9 scale", "sample events/placement, %d vs %d hosts" % (hi["hosts"], lo["hosts"]),
        "%.1f vs %.1f = %.2f x" % (hi["events_per_placement"], lo["events_per_placement"], ev),
        "within 20%% from %d to %d hosts" % (lo["hosts"], hi["hosts"]), abs(ev - 1) <= 0.2)
    row("9 scale", "sample placements/s, %d vs %d hosts (best of %s runs each)" % (
        hi["hosts"], lo["hosts"], R["sizes"].get("scale_reps", 1)),
        "%.0f vs %.0f/s = %.2f x" % (hi["placements_per_s"], lo["placements_per_s"], tp),
        ">= 0.8 x the rate at %d hosts, same run" % lo["hosts"], tp >= 0.8)
with open(os.path.join(out_dir, "scale.dat"), "w") as f:
    f.write("# hosts sample_pps cached_pps sample_events cached_events sample_cpu_ms cached_cpu_ms\n")
    cp = {p["hosts"]: p for p in R["scale"].get("cached", [])}
    for p in sp:
        c = cp.get(p["hosts"])
        f.write("%d %.1f %s %.2f %s %.3f %s\n" % (
            p["hosts"], p["placements_per_s"], "%.1f" % c["placements_per_s"] if c else "NaN",
            p["events_per_placement"], "%.2f" % c["events_per_placement"] if c else "NaN",
            p["etcd_cpu_ms_per_placement"], "%.3f" % c["etcd_cpu_ms_per_placement"] if c else "NaN"))
# 10. controller cost: where more coordinators pay (issue 17 item 4)
R["controller_cost"] = {}
etcd_rate = R["modes"]["cached"]["throughput"]["placements_per_s"]
for k in (1, 2, 4):
    t = load("ctl-%d.json" % k)
    cpu = load("ctl-%d-cpu.json" % k)
    if not t or not cpu:
        continue
    mets = load("metrics-ctl-%d.json" % k) or []
    ctrls = []
    for i, name in enumerate(cpu["names"]):
        m = mets[i] if i < len(mets) else {}
        placing = cpu.get("cpu_placing_s", cpu["cpu_s"])[i]
        ctrls.append({"name": name, "cpu_s": cpu["cpu_s"][i], "cpu_placing_s": placing,
                      "cpu_share_placing": placing / t["seconds"] if t["seconds"] else 0,
                      "slots": m.get("slots_held"), "placements": m.get("placements_total")})
    total_cpu = sum(c["cpu_s"] for c in ctrls)
    placed = t["placed"]
    # One coordinator's rate: placements per CPU-second of a controller
    # that holds one slot (the slowest of them), its CPU including what
    # following every other slot's placements costs it; on K machines of
    # their own the K coordinators give K times that, until etcd's rate.
    ones = [c["placements"] / c["cpu_s"] for c in ctrls
            if c["slots"] == 1 and c["placements"] and c["cpu_s"] > 0]
    one = min(ones) if ones else None
    proj = min(etcd_rate, k * one) if one else None
    R["controller_cost"][k] = {"throughput": t, "window_s": cpu["window_s"], "controllers": ctrls,
                               "metrics": mets,
                               "placements_per_controller_cpu_s": placed / total_cpu if total_cpu else None,
                               "one_coordinator_per_cpu_s": one, "etcd_rate": etcd_rate,
                               "projected_placements_per_s": proj}
    h = cpu.get("hosts", 0)
    val = "%.0f/s" % t["placements_per_s"]
    if placed < t["requests"]:
        val += " (%d of %d placed)" % (placed, t["requests"])
    row("10 ctrl cost", "K=%d: placements/s (%d req, %d hosts, score_hosts 0)" % (k, t["requests"], h), val)
    row("10 ctrl cost", "K=%d: controller CPU s, %% of a core placing (slots, placed)" % k,
        "  ".join("%s %.2f s, %.0f%% (%s, %s)" % (c["name"], c["cpu_s"], 100 * c["cpu_share_placing"],
                                                 c["slots"], c["placements"]) for c in ctrls))
    row("10 ctrl cost", "K=%d: placements per controller CPU-second" % k,
        "%.0f (all 3 controllers); one coordinator: %s" % (
            placed / total_cpu if total_cpu else 0, "%.0f" % one if one else "n/a"))
    row("10 ctrl cost", "K=%d: projected, controllers on own machines" % k,
        "min(etcd %.0f/s, %d x %s) = %s" % (etcd_rate, k, "%.0f/s" % one if one else "n/a",
                                             "%.0f/s" % proj if proj else "n/a"))
unplaced = os.path.join(res, "unplaced.txt")
R["unplaced"] = open(unplaced).read().split("\n")[:-1] if os.path.exists(unplaced) else []
for u in R["unplaced"]:
    row("0 complete", "scenario did not place all it submitted", u, "every scenario places all", False)

R["table"] = [dict(zip(("section", "figure", "value", "target", "verdict"), r)) for r in rows]
with open(out_json, "w") as f:
    json.dump(R, f, indent=1)

# Table
w1 = max(len(r[1]) for r in rows)
w2 = max(len(r[2]) for r in rows)
print()
print("flintsched bench%s (%s s) sizes: %s" % (" SMOKE" if smoke == "1" else "", elapsed, sizes))
print("%-14s %-*s %-*s %-5s %s" % ("SECTION", w1, "FIGURE", w2, "VALUE", "", "TARGET (issue 6)"))
for s, f_, v, t, ok in rows:
    print("%-14s %-*s %-*s %-5s %s" % (s, w1, f_, w2, v, ok, t))
print("%d PASS, %d MISS, %d n/a" % (sum(r[4] == "PASS" for r in rows),
                                    sum(r[4] == "MISS" for r in rows),
                                    sum(r[4] == "n/a" for r in rows)))

# Chart data
with open(os.path.join(out_dir, "throughput.dat"), "w") as f:
    f.write('"raw txn c=1" %.1f\n' % raw["txn_c1"]["ops_per_s"])
    f.write('"raw txn c=16" %.1f\n' % raw16)
    f.write('"raw txn c=64" %.1f\n' % raw["txn_c64"]["ops_per_s"])
    f.write('"raw put c=16" %.1f\n' % raw["put_c16"]["ops_per_s"])
    for mode in ("cached", "sample", "broadcast"):
        f.write('"%s" %.1f\n' % (mode, R["modes"][mode]["throughput"]["placements_per_s"]))
    for k in (1, 2, 4):
        f.write('"cached 3 ctrl K=%d" %.1f\n' % (k, R["coordinators"][k]["throughput"]["placements_per_s"]))
with open(os.path.join(out_dir, "throughput.env"), "w") as f:
    f.write("%.1f\n%.3f\n" % (raw16, raw_p50))
for name in ("paced-cached", "paced-sample", "tput-cached", "tput-sample", "tput-broadcast"):
    v = lines("lat-%s.txt" % name)
    with open(os.path.join(out_dir, "cdf-%s.dat" % name), "w") as f:
        n = len(v)
        step = max(1, n // 2000)
        for i in range(0, n, step):
            f.write("%.3f %.5f\n" % (v[i], (i + 1) / n))
        if n:
            f.write("%.3f 1.0\n" % v[-1])
