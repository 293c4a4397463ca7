#!/usr/bin/python3
"""Checks test/tools/fake_flintlockd.py behaves as upstream flintlockd does.

Starts the fake with TLS + mTLS + a basic token (certificates from
mkcerts.sh) and its HTTP gateway, then drives it with python grpc as the
client and with plain HTTP.  Run by e2e/run.sh (via e2e/test_fake_flintlockd.sh)
or alone: /usr/bin/python3 test/tools/test_fake_flintlockd.py
"""
import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_flintlockd as fake  # noqa: E402  (compiles the protos)

T, S = fake.T, fake.S
TOKEN = "s3cret"
SVC = "/microvm.services.api.v1alpha1.MicroVM/"


def spec(vid, ns="ns1", **kw):
    s = T.MicroVMSpec(id=vid, namespace=ns, **kw)
    s.interfaces.add(device_id="eth1", type=T.NetworkInterface.TAP)
    s.root_volume.id = "root"
    s.root_volume.source.container_source = "ghcr.io/liquidmetal-dev/ubuntu:22.04"
    s.kernel.image = "ghcr.io/liquidmetal-dev/kernel:6.1"
    s.kernel.filename = "boot/vmlinux"
    return s


class Fake:
    def __init__(self, tmp, *extra):
        self.tmp = tmp
        c = lambda n: os.path.join(tmp, n)  # noqa: E731
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fake_flintlockd.py"),
             "--tls-cert", c("server.pem"), "--tls-key", c("server.key"),
             "--tls-client-ca", c("ca.pem"), "--tls-client-validate",
             "--basic-auth-token", TOKEN, "--http-port", "0",
             "--create-delay", "0.3", "--delete-delay", "0.3"] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()      # blocks until ready (or dead)
        if not line.startswith("ready "):
            raise RuntimeError("fake did not start: " + line + self.proc.stderr.read())
        f = dict(kv.split("=") for kv in line.split()[1:])
        self.grpc, self.http, self.control = int(f["grpc"]), int(f["http"]), int(f["control"])

    def channel(self, client="client", ca="ca"):
        def rd(n):
            with open(os.path.join(self.tmp, n), "rb") as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(
            rd(ca + ".pem"), rd(client + ".key") if client else None,
            rd(client + ".pem") if client else None)
        return grpc.secure_channel("127.0.0.1:%d" % self.grpc, creds)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def ctl(self, path, post=False):
        r = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control, path),
                                   data=b"" if post else None)
        with urllib.request.urlopen(r, timeout=10) as a:
            return json.load(a)

    def http_call(self, method, path, body=None, token=TOKEN):
        r = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http, path),
                                   data=body, method=method)
        if token is not None:
            r.add_header("Authorization", "Basic " + base64.b64encode(token.encode()).decode())
        try:
            with urllib.request.urlopen(r, timeout=10) as a:
                return a.status, json.load(a)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)


class Client:
    def __init__(self, ch, token=TOKEN):
        self.ch = ch
        self.md = [("authorization", "basic " + base64.b64encode(token.encode()).decode())]

    def call(self, name, req, resp_t):
        f = self.ch.unary_unary(SVC + name, request_serializer=type(req).SerializeToString,
                                response_deserializer=resp_t.FromString)
        return f(req, metadata=self.md, timeout=10)

    def create(self, s):
        return self.call("CreateMicroVM", S.CreateMicroVMRequest(microvm=s),
                         S.CreateMicroVMResponse).microvm

    def list(self, ns="", name=None):
        r = S.ListMicroVMsRequest(namespace=ns)
        if name is not None:
            r.name = name
        return list(self.call("ListMicroVMs", r, S.ListMicroVMsResponse).microvm)

    def delete(self, uid):
        return self.call("DeleteMicroVM", S.DeleteMicroVMRequest(uid=uid),
                         fake.empty_pb2.Empty)


class FakeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpd = tempfile.TemporaryDirectory()
        subprocess.run([os.path.join(HERE, "mkcerts.sh"), cls.tmpd.name], check=True)
        cls.f = Fake(cls.tmpd.name, "--fail-id", "doomed", "--seed", "other/seeded")
        cls.ch = cls.f.channel()
        cls.c = Client(cls.ch)

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        cls.f.stop()
        cls.tmpd.cleanup()

    def wait_state(self, uid, state, gone=False):
        """Polls the fake's state dump until uid reaches state (or is gone)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            vms = {v["uid"]: v for v in self.f.ctl("/state")["vms"]}
            if (gone and uid not in vms) or (not gone and vms.get(uid, {}).get("state") == state):
                return
            time.sleep(0.02)
        self.fail("%s never reached %s" % (uid, "gone" if gone else state))

    def test_create_list_delete(self):
        s = spec("vm1", labels={"a": "b"}, uid="client-uid")
        vm = self.c.create(s)
        self.assertNotEqual(vm.spec.uid, "client-uid")
        self.assertEqual(len(vm.spec.uid), 26)
        self.assertEqual(vm.status.state, T.MicroVMStatus.PENDING)
        self.assertEqual((vm.spec.vcpu, vm.spec.memory_in_mb), (2, 1024))
        self.assertEqual(len(vm.spec.labels), 0)
        self.assertEqual([n.device_id for n in vm.spec.interfaces], ["eth0", "eth1"])
        md = base64.b64decode(vm.spec.metadata["meta-data"]).decode()
        self.assertEqual(md, "instance_id: %s\n" % vm.spec.uid)
        again = self.c.create(spec("vm1"))
        self.assertNotEqual(again.spec.uid, vm.spec.uid)
        self.assertEqual({v.spec.uid for v in self.c.list("ns1", "vm1")},
                         {vm.spec.uid, again.spec.uid})
        self.wait_state(vm.spec.uid, "created")
        self.c.delete(vm.spec.uid)
        got = [v for v in self.c.list("ns1") if v.spec.uid == vm.spec.uid]
        self.assertEqual(got[0].status.state, T.MicroVMStatus.DELETING)
        self.c.delete(vm.spec.uid)                 # again: still fine
        self.wait_state(vm.spec.uid, None, gone=True)
        with self.assertRaises(grpc.RpcError) as e:
            self.c.delete(vm.spec.uid)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNKNOWN)
        self.assertEqual(e.exception.details(), "deleting microvm: checking to see if "
                         "spec exists: microvm spec //%s not found" % vm.spec.uid)
        with self.assertRaises(grpc.RpcError) as e:
            self.c.delete("")
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.c.delete(again.spec.uid)

    def test_list_all_namespaces_and_seed(self):
        ns = {v.spec.namespace for v in self.c.list("")}
        self.assertIn("other", ns)
        self.assertEqual([v.spec.id for v in self.c.list("other")], ["seeded"])

    def test_errors(self):
        cases = [
            (T.MicroVMSpec(namespace="x"), grpc.StatusCode.UNKNOWN,
             "converting request: creating vmid from spec: name is required"),
            (spec("v", vcpu=65), grpc.StatusCode.UNKNOWN,
             "creating microvm: an error occurred when attempting to validate microvm "
             "spec: validation failures found: Key: 'MicroVM.Spec.VCPU' "
             "Error:Field validation for 'VCPU' failed on the 'lte' tag"),
        ]
        mac = spec("m")
        mac.interfaces[0].type = T.NetworkInterface.MACVTAP
        cases.append((mac, grpc.StatusCode.UNKNOWN, "creating microvm: macvtap network "
                      "interfaces not supported by the microvm provider"))
        for s, code, msg in cases:
            with self.assertRaises(grpc.RpcError) as e:
                self.c.create(s)
            self.assertEqual((e.exception.code(), e.exception.details()), (code, msg))
        with self.assertRaises(grpc.RpcError) as e:
            self.c.call("CreateMicroVM", S.CreateMicroVMRequest(), S.CreateMicroVMResponse)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_failed(self):
        vm = self.c.create(spec("doomed"))
        self.wait_state(vm.spec.uid, "failed")

    def test_wrong_token_and_cert(self):
        with self.assertRaises(grpc.RpcError) as e:
            Client(self.ch, "nope").list()
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(e.exception.details(), "invalid auth token: failed basic "
                         "authentication. Check the token supplied")
        for client, ca in ((None, "ca"), ("other-client", "ca")):
            ch = self.f.channel(client, ca)
            with self.assertRaises(grpc.RpcError) as e:
                Client(ch).list()
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
            ch.close()

    def test_drop_create(self):
        self.f.ctl("/drop-create?id=lost", post=True)
        with self.assertRaises(grpc.RpcError) as e:
            self.c.create(spec("lost"))
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        vms = [v for v in self.f.ctl("/state")["vms"] if v["id"] == "lost"]
        self.assertEqual(len(vms), 1)                   # it exists all the same
        self.assertEqual([v.spec.uid for v in self.c.list("ns1", "lost")], [vms[0]["uid"]])

    def test_gateway(self):
        body = json.dumps({"id": "hv", "namespace": "gw", "memory_in_mb": 2048,
                           "interfaces": [{"deviceId": "eth1", "type": "TAP"}],
                           "initrd": {"image": "ghcr.io/x/initrd:1"}, "bogus": 1}).encode()
        st, out = self.f.http_call("POST", "/v1alpha1/microvm", body)
        self.assertEqual(st, 200, out)
        vm = out["microvm"]
        uid = vm["spec"]["uid"]
        self.assertEqual(vm["status"]["state"], "PENDING")
        self.assertEqual(vm["spec"]["memoryInMb"], 2048)
        self.assertIsNone(vm["spec"]["createdAt"])
        self.assertNotIn("provider", vm["spec"])
        self.assertIsNone(vm["status"]["kernelMount"])
        # GET /v1alpha1/microvm/{uid} is List with namespace = uid: empty
        self.assertEqual(self.f.http_call("GET", "/v1alpha1/microvm/" + uid),
                         (200, {"microvm": []}))
        st, out = self.f.http_call("GET", "/v1alpha1/microvm/gw?name=hv")
        self.assertEqual([v["spec"]["uid"] for v in out["microvm"]], [uid])
        st, out = self.f.http_call("POST", "/v1alpha1/microvm", b"{}")
        self.assertEqual((st, out), (500, {"code": 2, "details": [], "message":
                         "converting request: creating vmid from spec: name is required"}))
        st, out = self.f.http_call("POST", "/v1alpha1/microvm", b"")
        self.assertEqual((st, out["code"]), (400, 3))
        st, out = self.f.http_call("GET", "/v1alpha1/microvm/gw", token="bad")
        self.assertEqual((st, out["code"]), (401, 16))
        st, out = self.f.http_call("DELETE", "/v1alpha1/microvm/" + uid)
        self.assertEqual((st, out), (200, {}))
        st, out = self.f.http_call("DELETE", "/v1alpha1/microvm/NOPE")
        self.assertEqual((st, out["code"]), (500, 2))
        # a trailing slash lists the empty namespace: every namespace
        st, out = self.f.http_call("GET", "/v1alpha1/microvm/")
        self.assertIn("other", {v["spec"]["namespace"] for v in out["microvm"]})
        st, out = self.f.http_call("PUT", "/v1alpha1/microvm/x")
        self.assertEqual((st, out["code"]), (501, 12))

    def test_gateway_drop_create(self):
        self.f.ctl("/drop-create?id=lost-http", post=True)
        body = json.dumps({"id": "lost-http", "namespace": "gw",
                           "interfaces": [{"deviceId": "eth1", "type": "TAP"}],
                           "initrd": {"image": "ghcr.io/x/initrd:1"}}).encode()
        with self.assertRaises((ConnectionError, urllib.error.URLError,
                                http.client.HTTPException)):
            self.f.http_call("POST", "/v1alpha1/microvm", body)
        st, out = self.f.http_call("GET", "/v1alpha1/microvm/gw?name=lost-http")
        self.assertEqual(len(out["microvm"]), 1)

    def test_crash_on_overrides_without_bridge(self):
        f = Fake(self.tmpd.name)
        try:
            s = spec("boom")
            s.interfaces[0].overrides.SetInParent()
            ch = f.channel()
            with self.assertRaises(grpc.RpcError):
                Client(ch).create(s)
            ch.close()
            self.assertEqual(f.proc.wait(10), 3)
            self.assertIn("CRASH", f.proc.stderr.read())
        finally:
            if f.proc.poll() is None:
                f.stop()
            else:
                f.proc.stdout.close()
                f.proc.stderr.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
