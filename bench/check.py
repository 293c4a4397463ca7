#!/usr/bin/env python3
"""make check's bench smoke: every scenario of `BENCH_SMOKE=1 make bench`
ran to the end and placed what it submitted.  Targets are not checked here
(tiny sizes on a shared machine say nothing of them); what is checked is
that the bench itself still works, so that `make bench` does not rot.

usage: check.py bench.json"""
import json
import sys

R = json.load(open(sys.argv[1]))
bad = []


def need(ok, what):
    if not ok:
        bad.append(what)


for mode in ("txn", "put"):
    for c in (1, 16, 64):
        j = R["raw"].get("%s_c%d" % (mode, c)) or {}
        need(j.get("ops_per_s", 0) > 0, "raw %s c=%d measured nothing" % (mode, c))
for mode in ("cached", "sample", "broadcast"):
    m = R["modes"].get(mode) or {}
    t = m.get("throughput") or {}
    need(t.get("requests", 0) > 0 and t.get("placed") == t.get("requests"),
         "%s: placed %s of %s" % (mode, t.get("placed"), t.get("requests")))
    need("fairness" in m, "%s: no fairness figures" % mode)
    if mode != "broadcast":
        for run in ("throughput_one_put_each", "latency", "latency_light"):
            j = m.get(run) or {}
            need(j.get("requests", 0) > 0 and j.get("placed") == j.get("requests"),
                 "%s %s: placed %s of %s" % (mode, run, j.get("placed"), j.get("requests")))
need("ratio_to_raw_txn_6_keys" in R["modes"].get("cached", {}), "cached: no 6-key yardstick")
for k in ("1", "2", "4"):
    j = R["coordinators"].get(k) or {}
    t = j.get("throughput") or {}
    need(t.get("placed") == t.get("requests") and t.get("requests", 0) > 0,
         "K=%s: placed %s of %s" % (k, t.get("placed"), t.get("requests")))
    need(j.get("conflict_rate") is not None, "K=%s: no conflict rate (no /metrics)" % k)
need(R.get("idle", {}).get("seconds", 0) > 0, "no idle window")
for mode in ("sample", "cached"):
    pts = (R.get("scale") or {}).get(mode) or []
    need(len(pts) >= 2, "scale %s: %d host counts measured" % (mode, len(pts)))
    for p in pts:
        t = p.get("throughput") or {}
        need(t.get("requests", 0) > 0 and t.get("placed") == t.get("requests"),
             "scale %s %d hosts: placed %s of %s" % (mode, p["hosts"], t.get("placed"), t.get("requests")))
        need(p.get("events_per_placement", 0) > 0, "scale %s %d hosts: no etcd events" % (mode, p["hosts"]))
need("scale_targets" in R, "scale: no targets checked")
for k in ("1", "2", "4"):
    j = (R.get("controller_cost") or {}).get(k) or {}
    t = j.get("throughput") or {}
    need(t.get("requests", 0) > 0 and t.get("placed") == t.get("requests"),
         "controller cost K=%s: placed %s of %s" % (k, t.get("placed"), t.get("requests")))
    need(len(j.get("controllers", [])) == 3, "controller cost K=%s: no CPU of 3 controllers" % k)
for u in R.get("unplaced", []):
    bad.append("not all placed: " + u)
mem = R.get("memory") or {}
need(mem.get("statuses_written") == mem.get("requests"),
     "memory: %s of %s statuses" % (mem.get("statuses_written"), mem.get("requests")))
need(mem.get("controller_hwm_mib", 0) > 0 and mem.get("agent_hwm_mib", 0) > 0, "memory: no RSS")
need(len(R.get("table", [])) >= 30, "table has %d rows" % len(R.get("table", [])))
for b in bad:
    print("bench smoke: " + b)
sys.exit(1 if bad else 0)
