#!/usr/bin/python3
"""fscheck: the invariants of flintsched's etcd state (docs/DESIGN.md).

Reads the output of `etcdctl get --prefix P/ -w json` (one snapshot, so
every rule is checked at one revision) from FILE or stdin and prints one
line per violation:

    VIOLATION <rule>: <key>: <what is wrong>

then exits 1; exits 0 with "ok: ..." when the state is clean, 2 when the
input cannot be read.  --allow RULE (repeatable) prints RULE's violations
as "WAIVED <rule>: ..." and does not fail on them: for a defect that is
known and open, so that a scenario still guards every other rule.
Rules (each line names one):

  status-missing      a request key has no P/status/<id> (a key that is no
                      valid id: no P/status/_invalid/<FNV-1a 64 of the id>)
  status-orphan       a status without its request (deleting a request
                      releases its status)
  status-invalid      a status that is not a JSON object with a known phase
  assign-missing      a scheduled/running request without an assignment
  assign-duplicate    one id assigned on two or more hosts, but a drain's
                      move: two, the status on one and moving_to the other
  assign-host         a scheduled/running request whose status names
                      another host than its assignment
  assign-orphan       an assignment without its request
  assign-no-host      an assignment on a host with no host record
  alloc-sum           P/alloc/<host> is not the sum of P/assign/<host>/
  alloc-over          a host's assignments exceed its allocatable
  vm-orphan           P/vms/<host>/<id> without P/assign/<host>/<id>
                      (skipped with --no-vms: before agents reconciled)
  round-orphan        a round or invitation (P/invites/<host>/<id>) without a
                      lease, or whose request is gone
                      or already at an outcome (scheduled/running/rejected)
  bid-orphan          a bid without its round or invitation, or its host's lease
  lease-missing       a host record, controller registration or election
                      key without a lease (liveness is the lease)
  host-name           a host record under a key that is not its name
  drain-moves         a move (two assignments) not counted in
                      P/drain/<host>, or more moves counted there than
                      its drain's max_parallel, or P/drain/ unreadable

Why Python and not C on etcdclient's blocking layer: the checker is a test
oracle, so it should share no code with what it checks (a C checker would
parse with common/model.c, the parser under test); etcdctl reads the whole
prefix at one revision, which the rules need; and the JSON it reads is
small (a few MB for thousands of requests).  Only the standard library is
used, so any python3 runs it.
"""
import base64
import json
import re
import sys

NAME = re.compile(rb"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?\Z")
PHASES = {"pending", "scheduled", "running", "failed", "unschedulable",
          "rejected", "lost"}
PLACED = {"scheduled", "running"}
VCPU_DEFAULT, MEMORY_DEFAULT = 2, 1024  # flintlockd's, as common/spec.h


def show(b, cap=160):
    """A key as printable text: control and non-ASCII bytes as \\xHH,
    cut after cap bytes (a 1,000-byte id would fill the screen)."""
    s = "".join(chr(c) if 0x20 <= c < 0x7f and c != 0x5c else
                "\\x%02x" % c for c in b[:cap])
    return s + ("...(%d bytes)" % len(b) if len(b) > cap else "")


def load(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return None


def spec_need(spec):
    """(vcpu, memory_mb, group) that a request reserves (fs_spec_res)."""
    def num(*names):
        for n in names:
            v = spec.get(n)
            if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                return v
        return None
    vcpu = num("vcpu") or VCPU_DEFAULT
    mem = num("memoryInMb", "memory_in_mb") or MEMORY_DEFAULT
    sch = spec.get("scheduling")
    group = sch.get("spread") if isinstance(sch, dict) else None
    return vcpu, mem, group if isinstance(group, str) and group else None


class State:
    def __init__(self, doc, prefix):
        pre = prefix.rstrip("/").encode() + b"/"
        self.kv = {}  # kind -> {rest(bytes): (value bytes, lease)}
        for e in doc.get("kvs") or []:
            key = base64.b64decode(e.get("key", ""))
            if not key.startswith(pre):
                continue
            rest = key[len(pre):]
            kind, _, name = rest.partition(b"/")
            val = base64.b64decode(e.get("value", ""))
            self.kv.setdefault(kind.decode("latin-1"), {})[name] = (
                val, int(e.get("lease", 0) or 0))
        self.pre = pre

    def keys(self, kind):
        return self.kv.get(kind, {})

    def key(self, kind, name):
        return show(self.pre + kind.encode() + b"/" + name)


def invalid_status(name):
    """Where the status of a request key that is no valid id lives
    (docs/DESIGN.md): P/status/_invalid/<64-bit FNV-1a of the id bytes>."""
    h = 14695981039346656037
    for b in name:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return b"_invalid/%016x" % h


def check(st, vms=True):
    out = []

    def bad(rule, kind, name, what):
        out.append("VIOLATION %s: %s: %s" % (rule, st.key(kind, name), what))

    requests, statuses = st.keys("requests"), st.keys("status")
    invalid = {invalid_status(n) for n in requests if not NAME.match(n)}
    hosts = st.keys("hosts")
    phase = {}
    for name, (val, _) in statuses.items():
        s = load(val)
        if not isinstance(s, dict) or s.get("phase") not in PHASES:
            bad("status-invalid", "status", name,
                "not a status object with a known phase: %.80s" % show(val))
            continue
        phase[name] = s
        if name.startswith(b"_invalid/"):
            if name not in invalid:
                bad("status-orphan", "status", name,
                    "phase %s but no request key hashes to it" % s["phase"])
        elif name not in requests:
            bad("status-orphan", "status", name,
                "phase %s but no request %s" % (
                    s["phase"], st.key("requests", name)))
    for name in requests:
        want = name if NAME.match(name) else invalid_status(name)
        if want not in statuses:
            why = "" if want == name else (
                " (the id is not a valid name: its status belongs at %s)"
                % st.key("status", want))
            bad("status-missing", "requests", name, "no status" + why)

    # assignments: P/assign/<host>/<id>
    where = {}  # id -> [host]
    per_host = {}  # host -> [(id, need)]
    for name, (val, _) in st.keys("assign").items():
        host, _, rid = name.partition(b"/")
        where.setdefault(rid, []).append(host)
        a = load(val)
        spec = a.get("request") if isinstance(a, dict) else None
        if not isinstance(spec, dict):
            bad("assign-orphan", "assign", name,
                "unreadable assignment: %.80s" % show(val))
            continue
        per_host.setdefault(host, []).append((rid, spec_need(spec)))
        if rid not in requests:
            bad("assign-orphan", "assign", name,
                "no request %s" % st.key("requests", rid))
        if host not in hosts:
            bad("assign-no-host", "assign", name,
                "no host record %s" % st.key("hosts", host))
    drains = {}  # host -> [ids] of P/drain/<host>
    for host, (val, _) in st.keys("drain").items():
        d = load(val)
        mv = d.get("moves") if isinstance(d, dict) else None
        if not isinstance(mv, list):
            bad("drain-moves", "drain", host, "unreadable: %.80s" % show(val))
            continue
        drains[host] = [m.encode() for m in mv if isinstance(m, str)]
        ctl = load(st.keys("hostctl").get(host, (b"", 0))[0])
        if isinstance(ctl, dict) and ctl.get("state") == "drain":
            mp = ctl.get("max_parallel")
            mp = mp if isinstance(mp, int) and mp > 0 else 1
            if len(drains[host]) > mp:
                bad("drain-moves", "drain", host, "%d moves in flight, "
                    "max_parallel %d" % (len(drains[host]), mp))
    for rid, hs in where.items():
        if len(hs) > 1:
            ps = phase.get(rid, {})
            to = ps.get("moving_to")
            frm = ps.get("host")
            if len(hs) == 2 and ps.get("phase") in PLACED and to and \
                    frm != to and {to, frm} == {show(h) for h in hs}:
                if rid not in drains.get(frm.encode(), []):
                    bad("drain-moves", "status", rid, "moving from %s to "
                        "%s, not counted in %s" % (frm, to, st.key(
                            "drain", frm.encode())))
                continue
            bad("assign-duplicate", "requests", rid, "assigned on %d hosts: %s"
                % (len(hs), ", ".join(sorted(show(h) for h in hs))))
    for rid, s in phase.items():
        if s["phase"] not in PLACED or rid not in requests:
            continue
        hs = where.get(rid, [])
        if not hs:
            bad("assign-missing", "status", rid, "phase %s on %s, no "
                "assignment" % (s["phase"], s.get("host")))
        elif len(hs) == 1 and show(hs[0]) != s.get("host"):
            bad("assign-host", "status", rid, "status says host %s, the "
                "assignment is on %s" % (s.get("host"), show(hs[0])))

    # P/alloc/<host> = the sum of P/assign/<host>/, within allocatable
    allocs = st.keys("alloc")
    for host in sorted(set(per_host) | set(allocs)):
        want = {"vcpu": 0, "memory_mb": 0, "vms": 0}
        groups = {}
        for _, (vcpu, mem, group) in per_host.get(host, []):
            want["vcpu"] += vcpu
            want["memory_mb"] += mem
            want["vms"] += 1
            if group:
                groups[group] = groups.get(group, 0) + 1
        if host in allocs:
            a = load(allocs[host][0])
            if not isinstance(a, dict):
                bad("alloc-sum", "alloc", host, "unreadable: %.80s, "
                    "assignments sum to %s" % (show(allocs[host][0]), want))
                a = None
        else:
            a = {}
        if a is not None:
            got = {k: a.get(k, 0) for k in want}
            ag = {k: v for k, v in (a.get("groups") or {}).items() if v}
            if got != want or ag != groups:
                bad("alloc-sum", "alloc", host, "says %s groups %s, its %d "
                    "assignments sum to %s groups %s" % (
                        got, ag, len(per_host.get(host, [])), want, groups))
        h = load(hosts[host][0]) if host in hosts else None
        al = h.get("allocatable") if isinstance(h, dict) else None
        if isinstance(al, dict):
            for k, cap in (("vcpu", "vcpu"), ("memory_mb", "memory_mb"),
                           ("vms", "max_vms")):
                if isinstance(al.get(cap), int) and want[k] > al[cap]:
                    bad("alloc-over", "hosts", host, "assignments hold %s %d,"
                        " allocatable %s is %d" % (k, want[k], cap, al[cap]))

    if vms:
        assigned = set(st.keys("assign"))
        for name, (val, _) in st.keys("vms").items():
            if name not in assigned:
                v = load(val)
                bad("vm-orphan", "vms", name, "state %s, no assignment %s" % (
                    v.get("state") if isinstance(v, dict) else show(val),
                    st.key("assign", name)))

    def round_key(kind, name, rid, lease):
        s = phase.get(rid)
        if not lease:
            bad("round-orphan", kind, name, "no coordinator lease")
        elif rid not in requests:
            bad("round-orphan", kind, name, "its request is gone")
        elif s and s["phase"] in PLACED | {"rejected"}:
            bad("round-orphan", kind, name, "the request is already %s"
                % s["phase"])

    rounds = st.keys("rounds")
    for rid, (_, lease) in rounds.items():
        round_key("rounds", rid, rid, lease)
    # A sample round is one invitation per invited host (issue 17):
    # P/invites/<host>/<id>, owned like a round key by its coordinator.
    invited = set()
    for name, (_, lease) in st.keys("invites").items():
        rid = name.partition(b"/")[2]
        invited.add(rid)
        round_key("invites", name, rid, lease)
    for name, (_, lease) in st.keys("bids").items():
        host, _, rid = name.partition(b"/")
        if rid not in rounds and rid not in invited:
            bad("bid-orphan", "bids", name, "no round %s" %
                st.key("rounds", rid))
        elif not lease:
            bad("bid-orphan", "bids", name, "no host lease")

    for kind in ("hosts", "controllers", "election"):
        for name, (_, lease) in st.keys(kind).items():
            if not lease:
                bad("lease-missing", kind, name, "written without a lease")
    for name, (val, _) in hosts.items():
        h = load(val)
        if not NAME.match(name) or not isinstance(h, dict) or \
                h.get("host") != name.decode("latin-1"):
            bad("host-name", "hosts", name, "record names host %s" % (
                h.get("host") if isinstance(h, dict) else "(unreadable)"))
    return out


def main(argv):
    prefix, vms, path, allow = "/flintsched", True, None, set()
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--prefix" and args:
            prefix = args.pop(0)
        elif a == "--allow" and args:
            allow.add(args.pop(0))
        elif a == "--no-vms":
            vms = False
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        elif path is None and not a.startswith("-"):
            path = a
        else:
            print("fscheck: unknown argument %s (see --help)" % a,
                  file=sys.stderr)
            return 2
    try:
        raw = open(path).read() if path else sys.stdin.read()
        doc = json.loads(raw)
    except (OSError, ValueError) as e:
        print("fscheck: cannot read etcdctl's JSON: %s" % e, file=sys.stderr)
        return 2
    st = State(doc, prefix)
    out, waived = [], []
    for line in check(st, vms):
        rule = line.split(" ", 2)[1].rstrip(":")
        (waived if rule in allow else out).append(line)
    for line in out:
        print(line)
    if out:
        return 1
    for line in waived:
        print(line.replace("VIOLATION", "WAIVED", 1))
    print("ok: %d requests, %d assignments, %d hosts, revision %s: every "
          "invariant holds%s" % (len(st.keys("requests")), len(st.keys(
              "assign")), len(st.keys("hosts")),
              doc.get("header", {}).get("revision"),
              " but %d waived" % len(waived) if waived else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
