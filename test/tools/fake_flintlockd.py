#!/usr/bin/python3
"""fake_flintlockd.py: a stand-in for a real flintlockd, for tests.

It serves what flintlockd (liquidmetal-dev/flintlock 7112122) serves: the
gRPC service microvm.services.api.v1alpha1.MicroVM (CreateMicroVM,
DeleteMicroVM, GetMicroVM, ListMicroVMs, ListMicroVMsStream) with TLS,
optional mTLS and the basic token, and the grpc-gateway HTTP/JSON routes,
with upstream's server semantics (uid made by the server, duplicate creates
make a second VM, defaults, validation messages, firecracker's capability
checks, meta-data, async create and delete).  Everything listens on
127.0.0.1 only.  Run it with Debian's /usr/bin/python3 (python3-grpcio,
python3-protobuf, protobuf-compiler).

Command line
  --grpc-port N          gRPC port (0 = any free port; default 0)
  --insecure             plaintext h2c gRPC (else --tls-cert/--tls-key needed)
  --tls-cert F --tls-key F   server certificate and key (PEM)
  --tls-client-ca F      CA for client certificates
  --tls-client-validate  require a client certificate signed by that CA (mTLS);
                         needs --tls-client-ca, as upstream
  --basic-auth-token T   require metadata "authorization: Basic base64(T)"
  --http-port N          also serve the HTTP/JSON gateway (plain HTTP, like
                         flintlockd --enable-http) on N (0 = any free port);
                         off unless given
  --control-port N       the control endpoint below (0 = any; default 0)
  --ready-file F         when every port listens, write
                         {"grpc": N, "http": N|null, "control": N} to F
                         (atomically: written to F.tmp, then renamed)
  --create-delay S       seconds a new VM stays PENDING (default 0.2)
  --delete-delay S       seconds a deleted VM stays listed DELETING (default 0.2)
  --fail-id ID           creates of VMs with this id end FAILED (repeatable)
  --drop-create ID       the next create of this id is committed, then
                         answered by resetting the connection (over gRPC:
                         every open gRPC connection) (repeatable; each use
                         arms one create)
  --seed NS/ID[/STATE]   start with this VM (STATE pending|created|failed|
                         deleting, default created) (repeatable)
  --providers LIST       providers available (default "firecracker",
                         also "cloudhypervisor"); the first is the default
On stdout, once every port listens: one line
  ready grpc=N http=N|- control=N
Runs until SIGTERM/SIGINT.  Exits with status 3 and a "CRASH" line on
stderr when a spec would crash the real flintlockd (interfaces[].overrides
without bridge_name: upstream dereferences a nil pointer and dies).

Control endpoint (HTTP, 127.0.0.1:control-port, JSON answers)
  GET  /state             {"vms": [{"namespace","id","uid","state",
                          "version","vcpu","memory_in_mb"}...],
                          "calls": [{"api": "grpc"|"http", "method":
                          "CreateMicroVM"..., "id", "uid", "code"}...]}
                          (code = gRPC status code, -1 = dropped)
  POST /fail?id=ID        like --fail-id
  POST /unfail?id=ID      undo it
  POST /drop-create?id=ID like --drop-create
  POST /delays?create=S&delete=S   change either delay
  POST /seed?namespace=NS&id=ID&state=STATE  add a VM; answers {"uid": U}
  POST /reset             forget every VM and call; back to the command
                          line's settings (and its --seed VMs, new uids)

gRPC connections go through a small TCP relay in front of the grpc server
so that a create can be answered by resetting its connection: python grpc
has no way to drop one.  The relay carries TLS unchanged.

Known departures from the real server: TLS 1.2 is accepted (python grpc
cannot set a minimum version; upstream requires 1.3); no reflection
service; status maps (volumes, networkInterfaces, kernelMount) stay empty
after CREATED; the HTTP gateway is served even with TLS on (upstream's
gateway only works with --insecure, since it dials gRPC without TLS); the
gateway's POST /microvm.services.api.v1alpha1.MicroVM/ListMicroVMsStream
is not served; image references are checked with a port of containerd's
reference.Parse that covers the common cases only.
"""

import argparse
import base64
import binascii
import importlib.util
import ipaddress
import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types as stdlib_types
import urllib.parse
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf import (any_pb2, descriptor_pb2, empty_pb2,
                             field_mask_pb2, json_format, timestamp_pb2)

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE = "microvm.services.api.v1alpha1.MicroVM"


def log(msg):
    print("fake_flintlockd: " + msg, file=sys.stderr, flush=True)


# --- protos: generated at start-up ----------------------------------------
# Generated into a temp dir each start rather than by a Makefile rule: the
# fake is then self-contained (a C test, a shell script or a person can
# run it from the source tree with nothing built first) and never runs
# against stale modules; protoc takes a few tens of milliseconds.  Debian's
# protobuf-compiler ships no well-known .proto files (they are in
# libprotobuf-dev), so the ones the protos import are handed to protoc as
# a descriptor set taken from python3-protobuf itself.

def load_protos():
    tmp = tempfile.mkdtemp(prefix="fake_flintlockd.")
    wkt = descriptor_pb2.FileDescriptorSet()
    for mod in (empty_pb2, any_pb2, timestamp_pb2, field_mask_pb2):
        mod.DESCRIPTOR.CopyToProto(wkt.file.add())
    wkt_path = os.path.join(tmp, "wkt.pb")
    with open(wkt_path, "wb") as f:
        f.write(wkt.SerializeToString())
    proto_dir = os.path.join(HERE, "proto")
    rc = subprocess.run(
        ["protoc", "--descriptor_set_in=" + wkt_path, "-I", proto_dir,
         "--python_out=" + tmp, "types/microvm.proto",
         "services/microvm/v1alpha1/microvms.proto"],
        stderr=subprocess.PIPE, text=True, check=False)
    errs = [ln for ln in rc.stderr.splitlines() if "is unused" not in ln]
    if rc.returncode != 0:
        sys.exit("fake_flintlockd: protoc failed:\n" + "\n".join(errs))

    def load(name, rel):
        spec = importlib.util.spec_from_file_location(name, os.path.join(tmp, rel))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    t = load("flintlock_types_pb2", "types/microvm_pb2.py")
    # microvms_pb2 says "from types import microvm_pb2": upstream's import
    # path "types/..." collides with python's stdlib module "types", which
    # is already loaded; lending it the attribute satisfies that import.
    stdlib_types.microvm_pb2 = t
    s = load("flintlock_microvms_pb2", "services/microvm/v1alpha1/microvms_pb2.py")
    for root, dirs, files in os.walk(tmp, topdown=False):
        for n in files:
            os.unlink(os.path.join(root, n))
        for n in dirs:
            os.rmdir(os.path.join(root, n))
    os.rmdir(tmp)
    return t, s


T, S = load_protos()
STATE_NAMES = {T.MicroVMStatus.PENDING: "pending", T.MicroVMStatus.CREATED: "created",
               T.MicroVMStatus.FAILED: "failed", T.MicroVMStatus.DELETING: "deleting"}
STATE_BY_NAME = {v: k for k, v in STATE_NAMES.items()}

# --- gRPC codes -------------------------------------------------------------
OK, UNKNOWN, INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED = 0, 2, 3, 5, 16
CODE_OF = {c.value[0]: c for c in grpc.StatusCode}
# grpc-gateway v2 runtime.HTTPStatusFromCode
HTTP_OF = {0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403,
           8: 429, 9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503,
           15: 500, 16: 401}


class ApiError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Crash(Exception):
    """A request that makes the real flintlockd panic."""


# --- validation, ported from core/models tags and pkg/validation ------------

def go_parse_mac(s):
    """net.ParseMAC: 6, 8 or 20 octets, ':' '-' or '.' separated."""
    if len(s) < 14:
        return False
    if s[2] in ":-":
        if (len(s) + 1) % 3 != 0:
            return False
        n = (len(s) + 1) // 3
        if n not in (6, 8, 20):
            return False
        for i in range(n):
            part = s[3 * i:3 * i + 2]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", part):
                return False
            if i < n - 1 and s[3 * i + 2] != s[2]:
                return False
        return True
    if s[4] == ".":
        if (len(s) + 1) % 5 != 0:
            return False
        n = 2 * (len(s) + 1) // 5
        if n not in (6, 8, 20):
            return False
        for i in range(0, n, 2):
            j = 5 * i // 2
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", s[j:j + 4]):
                return False
            if j + 4 < len(s) and s[j + 4] != ".":
                return False
        return True
    return False


def go_parse_ip(s):
    if "%" in s or not s:
        return False
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def go_parse_cidr(s):
    """net.ParseCIDR: an address, '/', a decimal prefix length in range."""
    addr, sep, bits = s.partition("/")
    if not sep or not re.fullmatch(r"[0-9]+", bits) or not go_parse_ip(addr):
        return False
    limit = 32 if ":" not in addr else 128
    return int(bits) <= limit


def image_uri_ok(ref):
    """containerd/reference.Parse: url.Parse("dummy://" + ref) needs a host."""
    if "://" in ref:
        return False
    rest = ref.split("#", 1)[0].split("?", 1)[0]
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    host = authority
    if host == "":
        return False
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return False
        port = host[end + 1:]
        if port and not re.fullmatch(r":[0-9]*", port):
            return False
    elif ":" in host:
        if not re.fullmatch(r":[0-9]*", host[host.rfind(":"):]):
            return False
    if re.search(r"[^A-Za-z0-9\-._~!$&'()*+,;=:\[\]<>\"%\x80-\U0010ffff]", host):
        return False
    if re.search(r"%(?![0-9A-Fa-f]{2})", rest):
        return False
    return True


def key(ns, field, tag):
    return ("Key: '%s' Error:Field validation for '%s' failed on the '%s' tag"
            % (ns, field, tag))


def volume_is_zero(v):
    return (v is None or (not v.id and not v.is_read_only and not v.partition_id
                          and not v.size_in_mb and not v.mount_point
                          and not v.HasField("source")))


def has_virtiofs(v):
    return v.HasField("source") and v.source.HasField("virtiofs_source")


def validate(spec):
    """go-playground/validator v10.23 over models.MicroVM, in its order."""
    errs = []
    p = "MicroVM.Spec."
    k = spec.kernel
    kernel_given = (k.image or len(k.cmdline) or k.filename or k.add_network_config)
    if kernel_given:
        if not k.image:
            errs.append(key(p + "Kernel.Image", "Image", "required"))
        elif not image_uri_ok(k.image):
            errs.append(key(p + "Kernel.Image", "Image", "imageURI"))
        if not k.filename:
            errs.append(key(p + "Kernel.Filename", "Filename", "required"))
    if spec.HasField("initrd") and not image_uri_ok(spec.initrd.image):
        errs.append(key(p + "Initrd.Image", "Image", "imageURI"))
    for name, val, lo, hi in (("VCPU", spec.vcpu, 1, 64),
                              ("MemoryInMb", spec.memory_in_mb, 1024, 32768)):
        if val == 0:
            errs.append(key(p + name, name, "required"))
        elif val < lo:
            errs.append(key(p + name, name, "gte"))
        elif val > hi:
            errs.append(key(p + name, name, "lte"))
    if len(spec.interfaces) == 0:
        errs.append(key(p + "NetworkInterfaces", "NetworkInterfaces", "required"))
    for i, nif in enumerate(spec.interfaces):
        q = "%sNetworkInterfaces[%d]." % (p, i)
        d = nif.device_id
        if not d:
            errs.append(key(q + "GuestDeviceName", "GuestDeviceName", "required"))
        elif "/" in d or "@" in d:
            errs.append(key(q + "GuestDeviceName", "GuestDeviceName", "excludesall"))
        elif not re.fullmatch(r"[a-z][a-z0-9_]*", d):
            errs.append(key(q + "GuestDeviceName", "GuestDeviceName", "guestDeviceName"))
        if nif.guest_mac and not go_parse_mac(nif.guest_mac):
            errs.append(key(q + "GuestMAC", "GuestMAC", "mac"))
        if nif.type not in (T.NetworkInterface.MACVTAP, T.NetworkInterface.TAP):
            errs.append(key(q + "Type", "Type", "oneof"))
        if nif.HasField("address"):
            a = nif.address
            if not go_parse_cidr(a.address):
                errs.append(key(q + "StaticAddress.Address", "Address", "cidr"))
            if a.HasField("gateway") and not go_parse_cidr(a.gateway):
                errs.append(key(q + "StaticAddress.Gateway", "Gateway", "cidr"))
            for j, n in enumerate(a.nameservers):
                if not go_parse_ip(n):
                    f = "Nameservers[%d]" % j
                    errs.append(key(q + "StaticAddress." + f, f, "ip"))
    if spec.HasField("root_volume") and has_virtiofs(spec.root_volume):
        errs.append(key(p + "RootVolume", "RootVolume", "novirtiofs"))
    vols = spec.additional_volumes
    if sum(1 for v in vols if has_virtiofs(v)) > 1:
        errs.append(key(p + "AdditionalVolumes", "AdditionalVolumes", "onlyOneVirtioFS"))
    elif any(has_virtiofs(v) and v.source.HasField("container_source") for v in vols):
        errs.append(key(p + "AdditionalVolumes", "AdditionalVolumes", "multipleVolSources"))
    if not spec.HasField("initrd") and volume_is_zero(
            spec.root_volume if spec.HasField("root_volume") else None):
        errs.append(key(p + "root_volume", "root_volume", "volumeOrInitrdRequired"))
    return errs


# --- the server's state -----------------------------------------------------

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid():
    ms = int(time.time() * 1000)
    n = (ms << 80) | random.getrandbits(80)
    return "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(26)))


def clean_image(s):
    """infrastructure/grpc/sanitize.go: trim, drop control characters."""
    return "".join(c for c in s.strip() if ord(c) >= 0x20 and ord(c) != 0x7f
                   and not (0x80 <= ord(c) <= 0x9f))


CAPS = {"firecracker": {"metadata-service", "vsock"},
        "cloudhypervisor": {"auto-start", "macvtap", "virtiofs", "vsock"}}


class VM:
    def __init__(self, spec, state):
        self.spec = spec          # MicroVMSpec as the server answers it
        self.state = state
        self.version = 1
        self.retry = 0
        self.gone_at = None       # time.monotonic() when a DELETING VM vanishes


class Store:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.providers = args.providers.split(",")
        self.reset()

    def reset(self):
        with self.lock:
            self.vms = []         # in creation order
            self.calls = []
            self.fail_ids = set(self.args.fail_id)
            self.drop_ids = list(self.args.drop_create)
            self.create_delay = self.args.create_delay
            self.delete_delay = self.args.delete_delay
            self.timers = []
        for s in self.args.seed:
            parts = s.split("/")
            if len(parts) not in (2, 3):
                sys.exit("fake_flintlockd: --seed wants NS/ID[/STATE]: " + s)
            self.seed(parts[0], parts[1], parts[2] if len(parts) == 3 else "created")

    def record(self, api, method, vid, uid, code):
        with self.lock:
            self.calls.append({"api": api, "method": method, "id": vid,
                               "uid": uid, "code": code})

    def _later(self, delay, fn):
        t = threading.Timer(delay, fn)
        t.daemon = True
        self.timers.append(t)
        t.start()

    def seed(self, ns, vid, state):
        if state not in STATE_BY_NAME:
            raise ApiError(INVALID_ARGUMENT, "unknown state " + state)
        spec = T.MicroVMSpec(id=vid, namespace=ns or "default", uid=new_ulid(),
                             vcpu=2, memory_in_mb=1024)
        spec.kernel.filename = ""
        spec.metadata["meta-data"] = base64.b64encode(
            ("instance_id: %s\n" % spec.uid).encode()).decode()
        vm = VM(spec, STATE_BY_NAME[state])
        with self.lock:
            self.vms.append(vm)
        return spec.uid

    # CreateMicroVM: infrastructure/grpc/server.go, convert.go,
    # core/application/commands.go, in their order.
    def create(self, req):
        if not req.HasField("microvm"):
            raise ApiError(INVALID_ARGUMENT,
                           "invalid create microvm request: MicroVMSpec required")
        src = req.microvm
        for part in (src.kernel,) + ((src.initrd,) if src.HasField("initrd") else ()):
            part.image = clean_image(part.image)
        for v in [src.root_volume] + list(src.additional_volumes):
            if v.source.HasField("container_source"):
                v.source.container_source = clean_image(v.source.container_source)
        if not src.id:
            raise ApiError(UNKNOWN, "converting request: creating vmid from spec: "
                           "name is required")
        for nif in src.interfaces:
            if nif.HasField("overrides") and not nif.overrides.HasField("bridge_name"):
                raise Crash("interfaces[].overrides without bridge_name: the real "
                            "flintlockd dereferences a nil pointer in "
                            "convertNetworkInterfaceToModel and dies")
        spec = T.MicroVMSpec()
        spec.CopyFrom(src)
        spec.namespace = spec.namespace or "default"
        spec.vcpu = spec.vcpu or 2
        spec.memory_in_mb = spec.memory_in_mb or 1024
        errs = validate(spec)
        if errs:
            raise ApiError(UNKNOWN, "creating microvm: an error occurred when attempting "
                           "to validate microvm spec: validation failures found: "
                           + "\n".join(errs))
        provider = spec.provider if spec.HasField("provider") and spec.provider \
            else self.providers[0]
        if provider not in self.providers:
            raise ApiError(UNKNOWN, "creating microvm: microvm provider %s isn't "
                           "available" % provider)
        uid = new_ulid()
        caps = CAPS.get(provider, set())
        if "macvtap" not in caps and any(
                n.type == T.NetworkInterface.MACVTAP for n in spec.interfaces):
            raise ApiError(UNKNOWN, "creating microvm: macvtap network interfaces not "
                           "supported by the microvm provider")
        if "virtiofs" not in caps and any(has_virtiofs(v) for v in spec.additional_volumes):
            raise ApiError(UNKNOWN, "creating microvm: virtiofs not supported by the "
                           "microvm provider")
        if spec.allow_guest_agent and "vsock" not in caps:
            raise ApiError(UNKNOWN, "creating microvm: guest agent (vsock) not "
                           "supported by the microvm provider")
        meta = dict(spec.metadata)
        add_instance_data(meta, uid)
        out = answer_spec(spec, uid, meta, "metadata-service" in caps)
        vm = VM(out, T.MicroVMStatus.PENDING)
        with self.lock:
            self.vms.append(vm)
            fail = spec.id in self.fail_ids
            drop = spec.id in self.drop_ids
            if drop:
                self.drop_ids.remove(spec.id)
            self._later(self.create_delay, lambda: self._settle(vm, fail))
        return vm, drop

    def _settle(self, vm, fail):
        with self.lock:
            if vm.state != T.MicroVMStatus.PENDING:
                return
            vm.state = T.MicroVMStatus.FAILED if fail else T.MicroVMStatus.CREATED
            vm.retry = 11 if fail else 0    # Retry > MaximumRetry (10) fails it
            vm.version += 1

    def delete(self, uid):
        if not uid:
            raise ApiError(INVALID_ARGUMENT, "invalid request")
        with self.lock:
            vm = self._by_uid(uid)
            if vm is None:
                raise ApiError(UNKNOWN, "deleting microvm: checking to see if spec "
                               "exists: microvm spec //%s not found" % uid)
            vm.state = T.MicroVMStatus.DELETING
            vm.retry = 0
            vm.version += 1
            if vm.gone_at is None:
                vm.gone_at = time.monotonic() + self.delete_delay
                self._later(self.delete_delay, self._expire)

    def _expire(self):
        with self.lock:
            now = time.monotonic()
            self.vms = [v for v in self.vms if v.gone_at is None or v.gone_at > now]

    def _by_uid(self, uid):
        for v in self.vms:
            if v.spec.uid == uid and (v.gone_at is None or v.gone_at > time.monotonic()):
                return v
        return None

    def get(self, uid):
        if not uid:
            raise ApiError(INVALID_ARGUMENT, "invalid request")
        with self.lock:
            vm = self._by_uid(uid)
            if vm is None:
                raise ApiError(UNKNOWN, "getting microvm: error attempting to locate "
                               "microvm with uid: %s: microvm spec //%s not found"
                               % (uid, uid))
            return self.message(vm)

    def list(self, namespace, name):
        """Empty filters are skipped (containerd repo convertQueryToFilter)."""
        with self.lock:
            return [self.message(v) for v in self.vms
                    if (v.gone_at is None or v.gone_at > time.monotonic())
                    and (not namespace or v.spec.namespace == namespace)
                    and (not name or v.spec.id == name)]

    def message(self, vm):
        m = T.MicroVM(version=vm.version)
        m.spec.CopyFrom(vm.spec)
        m.status.state = vm.state
        m.status.retry = vm.retry
        return m

    def dump(self):
        with self.lock:
            now = time.monotonic()
            return {"vms": [{"namespace": v.spec.namespace, "id": v.spec.id,
                             "uid": v.spec.uid, "state": STATE_NAMES[v.state],
                             "version": v.version, "vcpu": v.spec.vcpu,
                             "memory_in_mb": v.spec.memory_in_mb}
                            for v in self.vms if v.gone_at is None or v.gone_at > now],
                    "calls": list(self.calls)}


def b64_bad_offset(text):
    """Roughly where Go's base64.StdEncoding reports a CorruptInputError."""
    for i, c in enumerate(text):
        if not (c.isascii() and (c.isalnum() or c in "+/=")):
            return i
    return len(text) - len(text) % 4


def add_instance_data(meta, uid):
    """commands.go addInstanceData: meta-data (base64 YAML) gets instance_id."""
    data = {}
    if meta.get("meta-data"):
        try:
            raw = base64.b64decode(meta["meta-data"], validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(UNKNOWN, "creating microvm: adding instance data: decoding "
                           "existing instance metadata: illegal base64 data at input "
                           "byte %d" % b64_bad_offset(meta["meta-data"]))
        try:
            import yaml
            data = yaml.safe_load(raw) or {}
            if not isinstance(data, dict):
                raise ValueError("not a map")
            data = {str(k): "" if v is None else str(v) for k, v in data.items()}
        except Exception as e:   # yaml errors of all kinds
            raise ApiError(UNKNOWN, "creating microvm: adding instance data: "
                           "unmarshalling exists instance metadata: %s" % e)
    if data.get("instance_id"):
        return
    data["instance_id"] = uid
    text = "".join("%s: %s\n" % (k, json.dumps(v) if re.search(r"[:#\s'\"]|^$", v)
                                 else v) for k, v in sorted(data.items()))
    meta["meta-data"] = base64.b64encode(text.encode()).decode()


def answer_spec(spec, uid, meta, metadata_service):
    """What convertModelToMicroVMSpec makes of the stored model."""
    o = T.MicroVMSpec(id=spec.id, namespace=spec.namespace, uid=uid, vcpu=spec.vcpu,
                      memory_in_mb=spec.memory_in_mb,
                      allow_guest_agent=spec.allow_guest_agent)
    o.kernel.image = spec.kernel.image
    o.kernel.cmdline.update(spec.kernel.cmdline)
    o.kernel.filename = spec.kernel.filename
    o.kernel.add_network_config = spec.kernel.add_network_config
    if spec.HasField("initrd"):
        o.initrd.image = spec.initrd.image
        o.initrd.filename = spec.initrd.filename
    ifaces = list(spec.interfaces)
    if metadata_service and not any(n.device_id == "eth0" for n in ifaces):
        eth0 = T.NetworkInterface(device_id="eth0", type=T.NetworkInterface.TAP,
                                  guest_mac="AA:FF:00:00:00:01")
        eth0.address.address = "169.254.0.1/16"
        ifaces.insert(0, eth0)
    for n in ifaces:
        c = o.interfaces.add(device_id=n.device_id, type=n.type, guest_mac=n.guest_mac)
        if n.HasField("address"):
            c.address.address = n.address.address
            if n.address.HasField("gateway"):
                c.address.gateway = n.address.gateway
            c.address.nameservers.extend(n.address.nameservers)
    if spec.HasField("root_volume") and not volume_is_zero(spec.root_volume):
        answer_volume(o.root_volume, spec.root_volume)
    for v in spec.additional_volumes:
        answer_volume(o.additional_volumes.add(), v)
    o.metadata.update(meta)
    return o


def answer_volume(o, v):
    o.id = v.id
    o.is_read_only = v.is_read_only
    o.partition_id = v.partition_id
    o.size_in_mb = v.size_in_mb
    o.source.SetInParent()
    if v.source.HasField("container_source"):
        o.source.container_source = v.source.container_source
    if v.source.HasField("virtiofs_source"):
        o.source.virtiofs_source = v.source.virtiofs_source


# --- grpc-gateway's JSON: protojson with EmitUnpopulated ---------------------

def gw_value(f, v):
    if f.type == f.TYPE_MESSAGE:
        return gw_json(v)
    if f.type == f.TYPE_ENUM:
        ev = f.enum_type.values_by_number.get(v)
        return ev.name if ev else v
    if f.type in (f.TYPE_INT64, f.TYPE_UINT64, f.TYPE_SINT64, f.TYPE_FIXED64,
                  f.TYPE_SFIXED64):
        return str(v)
    if f.type == f.TYPE_BYTES:
        return base64.b64encode(v).decode()
    return v


def gw_json(msg):
    d = msg.DESCRIPTOR
    if d.full_name == "google.protobuf.Timestamp":
        return json_format.MessageToDict(msg)
    out = {}
    for f in d.fields:
        if f.message_type and f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            m = getattr(msg, f.name)
            out[f.json_name] = {k: gw_value(vf, m[k]) for k in sorted(m)}
        elif f.label == f.LABEL_REPEATED:
            out[f.json_name] = [gw_value(f, x) for x in getattr(msg, f.name)]
        elif f.containing_oneof is not None and not msg.HasField(f.name):
            continue            # proto3 optional (a synthetic oneof): omitted
        elif f.type == f.TYPE_MESSAGE and not msg.HasField(f.name):
            out[f.json_name] = None
        else:
            out[f.json_name] = gw_value(f, getattr(msg, f.name))
    return out


# --- the basic token: pkg/auth/basic.go with go-grpc-middleware's AuthFromMD -

def check_token(expected, header):
    if not expected:
        return
    pre = "could not extract token from request header: rpc error: code = " \
          "Unauthenticated desc = "
    if not header:
        raise ApiError(UNAUTHENTICATED, pre + "Request unauthenticated with basic")
    parts = header.split(" ", 1)
    if len(parts) < 2:
        raise ApiError(UNAUTHENTICATED, pre + "Bad authorization string")
    if parts[0].lower() != "basic":
        raise ApiError(UNAUTHENTICATED, pre + "Request unauthenticated with basic")
    if parts[1] == "":
        raise ApiError(UNAUTHENTICATED, "invalid auth token: empty authentication token")
    if parts[1] != base64.b64encode(expected.encode()).decode():
        raise ApiError(UNAUTHENTICATED, "invalid auth token: failed basic "
                       "authentication. Check the token supplied")


# --- the relay in front of the grpc server ----------------------------------

class Relay:
    """Forwards 127.0.0.1:port to the grpc server; can reset every connection."""

    def __init__(self, port, backend):
        self.backend = backend
        self.lsock = socket.create_server(("127.0.0.1", port))
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            c, _ = self.lsock.accept()
            try:
                b = socket.create_connection(("127.0.0.1", self.backend))
            except OSError:
                c.close()
                continue
            pair = (c, b)
            with self.lock:
                self.pairs.add(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair):
        c, b = pair
        peer = {c: b, b: c}
        try:
            while True:
                r, _, _ = select.select([c, b], [], [])
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    peer[s].sendall(data)
        except (OSError, ValueError):
            pass
        with self.lock:
            self.pairs.discard(pair)
        for s in pair:
            try:
                s.close()
            except OSError:
                pass

    def reset_all(self):
        with self.lock:
            pairs = list(self.pairs)
            self.pairs.clear()
        for pair in pairs:
            for s in pair:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


# --- the gRPC service -------------------------------------------------------

class Service:
    def __init__(self, store, args):
        self.store = store
        self.args = args
        self.relay = None

    def _auth(self, ctx):
        md = dict(reversed(ctx.invocation_metadata()))   # first value wins
        check_token(self.args.basic_auth_token, md.get("authorization", ""))

    def _run(self, name, ctx, fn, vid=""):
        try:
            self._auth(ctx)
            return fn()
        except ApiError as e:
            self.store.record("grpc", name, vid, "", e.code)
            ctx.abort(CODE_OF[e.code], e.message)
        except Crash as e:
            crash(str(e))

    def create(self, req, ctx):
        def go():
            vm, drop = self.store.create(req)
            if drop:
                self.store.record("grpc", "CreateMicroVM", vm.spec.id, vm.spec.uid, -1)
                log("dropping the answer to the create of %s (uid %s)"
                    % (vm.spec.id, vm.spec.uid))
                self.relay.reset_all()
                ctx.abort(grpc.StatusCode.UNAVAILABLE, "dropped")
            self.store.record("grpc", "CreateMicroVM", vm.spec.id, vm.spec.uid, OK)
            return S.CreateMicroVMResponse(microvm=self.store.message(vm))
        return self._run("CreateMicroVM", ctx, go, req.microvm.id)

    def delete(self, req, ctx):
        def go():
            self.store.delete(req.uid)
            self.store.record("grpc", "DeleteMicroVM", "", req.uid, OK)
            return empty_pb2.Empty()
        return self._run("DeleteMicroVM", ctx, go)

    def get(self, req, ctx):
        def go():
            m = self.store.get(req.uid)
            self.store.record("grpc", "GetMicroVM", m.spec.id, req.uid, OK)
            return S.GetMicroVMResponse(microvm=m)
        return self._run("GetMicroVM", ctx, go)

    def list(self, req, ctx):
        def go():
            vms = self.store.list(req.namespace, req.name if req.HasField("name") else "")
            self.store.record("grpc", "ListMicroVMs", req.name, "", OK)
            return S.ListMicroVMsResponse(microvm=vms)
        return self._run("ListMicroVMs", ctx, go)

    def list_stream(self, req, ctx):
        def go():
            if not req.namespace:
                raise ApiError(INVALID_ARGUMENT, "invalid request")
            self.store.record("grpc", "ListMicroVMsStream", "", "", OK)
            return [S.ListMessage(microvm=m) for m in self.store.list(req.namespace, "")]
        yield from self._run("ListMicroVMsStream", ctx, go) or []

    def handler(self):
        def u(fn, req_t, resp_t):
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req_t.FromString,
                response_serializer=resp_t.SerializeToString)
        return grpc.method_handlers_generic_handler(SERVICE, {
            "CreateMicroVM": u(self.create, S.CreateMicroVMRequest, S.CreateMicroVMResponse),
            "DeleteMicroVM": u(self.delete, S.DeleteMicroVMRequest, empty_pb2.Empty),
            "GetMicroVM": u(self.get, S.GetMicroVMRequest, S.GetMicroVMResponse),
            "ListMicroVMs": u(self.list, S.ListMicroVMsRequest, S.ListMicroVMsResponse),
            "ListMicroVMsStream": grpc.unary_stream_rpc_method_handler(
                self.list_stream, request_deserializer=S.ListMicroVMsRequest.FromString,
                response_serializer=S.ListMessage.SerializeToString),
        })


def crash(why):
    print("fake_flintlockd: CRASH: " + why, file=sys.stderr, flush=True)
    os._exit(3)


# --- the HTTP gateway (grpc-gateway v2.24 routes and error bodies) -----------

def send_json(handler, status, obj, headers=()):
    body = json.dumps(obj, separators=(",", ":")).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    for k, v in headers:
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class Gateway(BaseHTTPRequestHandler):
    store = None
    args = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    _send = send_json

    def _error(self, code, message):
        hdr = [("Www-Authenticate", message)] if code == UNAUTHENTICATED else []
        self._send(HTTP_OF.get(code, 500), {"code": code, "message": message,
                                            "details": []}, hdr)

    def _route(self):
        u = urllib.parse.urlsplit(self.path)
        segs = u.path[1:].split("/") if u.path.startswith("/") else None
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        m = self.command
        if segs is not None and segs[:2] == ["v1alpha1", "microvm"]:
            if len(segs) == 2:
                return ("CreateMicroVM", None, q) if m == "POST" else ("", 405, q)
            if len(segs) == 3:
                var = urllib.parse.unquote(segs[2])
                if m == "GET":
                    return "ListMicroVMs", var, q
                if m == "DELETE":
                    return "DeleteMicroVM", var, q
                return "", 405, q
        return "", 404, q

    def _handle(self):
        method, var, q = self._route()
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if not method:
            if var == 405:
                return self._error(12, "Method Not Allowed")
            return self._error(NOT_FOUND, "Not Found")
        vid, uid = "", ""
        try:
            if method == "CreateMicroVM":
                req = S.CreateMicroVMRequest()
                if body.strip():
                    req.microvm.SetInParent()   # "{}" is a spec, not none
                    try:
                        json_format.Parse(body, req.microvm, ignore_unknown_fields=True)
                    except json_format.ParseError as e:
                        raise ApiError(INVALID_ARGUMENT, str(e))
                vid = req.microvm.id
            check_token(self.args.basic_auth_token, self.headers.get("Authorization", ""))
            if method == "CreateMicroVM":
                vm, drop = self.store.create(req)
                vid, uid = vm.spec.id, vm.spec.uid
                if drop:
                    self.store.record("http", method, vid, uid, -1)
                    log("dropping the answer to the create of %s (uid %s)" % (vid, uid))
                    self.close_connection = True
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                out = gw_json(S.CreateMicroVMResponse(microvm=self.store.message(vm)))
            elif method == "DeleteMicroVM":
                uid = var
                self.store.delete(var)
                out = {}
            else:
                names = q.get("name")
                vid = names[0] if names else ""
                out = gw_json(S.ListMicroVMsResponse(microvm=self.store.list(var, vid)))
            self.store.record("http", method, vid, uid, OK)
            return self._send(200, out)
        except ApiError as e:
            self.store.record("http", method, vid, uid, e.code)
            return self._error(e.code, e.message)
        except Crash as e:
            crash(str(e))
        return None

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle


# --- the control endpoint ---------------------------------------------------

class Control(BaseHTTPRequestHandler):
    store = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    _send = send_json

    def do_GET(self):
        if urllib.parse.urlsplit(self.path).path == "/state":
            return self._send(200, self.store.dump())
        return self._send(404, {"error": "not found"})

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        st = self.store
        try:
            if u.path == "/fail":
                with st.lock:
                    st.fail_ids.add(q["id"])
            elif u.path == "/unfail":
                with st.lock:
                    st.fail_ids.discard(q["id"])
            elif u.path == "/drop-create":
                with st.lock:
                    st.drop_ids.append(q["id"])
            elif u.path == "/delays":
                with st.lock:
                    if "create" in q:
                        st.create_delay = float(q["create"])
                    if "delete" in q:
                        st.delete_delay = float(q["delete"])
            elif u.path == "/seed":
                return self._send(200, {"uid": st.seed(q.get("namespace", ""), q["id"],
                                                       q.get("state", "created"))})
            elif u.path == "/reset":
                st.reset()
            else:
                return self._send(404, {"error": "not found"})
        except (KeyError, ValueError, ApiError) as e:
            return self._send(400, {"error": "bad request: %s" % e})
        return self._send(200, {})


def serve_http(handler, port):
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def parse_args(argv):
    ap = argparse.ArgumentParser(description="A fake flintlockd for tests.")
    ap.add_argument("--grpc-port", type=int, default=0)
    ap.add_argument("--http-port", type=int)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--insecure", action="store_true")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca")
    ap.add_argument("--tls-client-validate", action="store_true")
    ap.add_argument("--basic-auth-token", default="")
    ap.add_argument("--ready-file")
    ap.add_argument("--create-delay", type=float, default=0.2)
    ap.add_argument("--delete-delay", type=float, default=0.2)
    ap.add_argument("--fail-id", action="append", default=[])
    ap.add_argument("--drop-create", action="append", default=[])
    ap.add_argument("--seed", action="append", default=[])
    ap.add_argument("--providers", default="firecracker")
    a = ap.parse_args(argv)
    # internal/config/validation.go, TLSConfig.Validate
    if a.insecure and (a.tls_cert or a.tls_key):
        ap.error("cannot use certificates when insecure is set")
    if not a.insecure:
        if not a.tls_cert or not a.tls_key:
            ap.error("TLS is on: --tls-cert and --tls-key are required (or --insecure)")
        if a.tls_client_validate and not a.tls_client_ca:
            ap.error("--tls-client-validate needs --tls-client-ca")
    return a


def main(argv):
    args = parse_args(argv)
    store = Store(args)
    svc = Service(store, args)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((svc.handler(),))
    if args.insecure:
        backend = server.add_insecure_port("127.0.0.1:0")
    else:
        def rd(p):
            with open(p, "rb") as f:
                return f.read()
        ca = rd(args.tls_client_ca) if args.tls_client_ca else None
        creds = grpc.ssl_server_credentials(
            [(rd(args.tls_key), rd(args.tls_cert))], root_certificates=ca,
            require_client_auth=args.tls_client_validate)
        backend = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    svc.relay = Relay(args.grpc_port, backend)
    Gateway.store, Gateway.args, Control.store = store, args, store
    http_port = serve_http(Gateway, args.http_port) if args.http_port is not None else None
    control_port = serve_http(Control, args.control_port)
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            json.dump({"grpc": svc.relay.port, "http": http_port,
                       "control": control_port}, f)
        os.rename(args.ready_file + ".tmp", args.ready_file)
    print("ready grpc=%d http=%s control=%d" % (
        svc.relay.port, "-" if http_port is None else http_port, control_port),
        flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
