#!/usr/bin/python3
"""A small gRPC server for test/test_grpc.c (agent/grpc.c's transport).

Serves microvm.services.api.v1alpha1.MicroVM from the project's own
proto/ (compiled here with protoc --python_out into a temp dir) with
generic handlers, on 127.0.0.1 and a free port, which it prints as
"port N" once it listens.  Needs Debian's python3-grpcio and
python3-protobuf (run it with /usr/bin/python3) and protoc.

  --tls-cert F --tls-key F   TLS (else plaintext h2c)
  --client-ca F              require a client certificate signed by F
  --token T                  require authorization: Basic base64(T)

Behaviour by request, for the tests:
  CreateMicroVM   the spec back with a uid and state PENDING
  GetMicroVM      uid "error": UNKNOWN with a message that needs
                  percent-encoding; "missing": NOT_FOUND; "slow": no
                  answer until the client gives up; else CREATED
  ListMicroVMs    two VMs of the namespace ("a", "b"), or the one named
  DeleteMicroVM   google.protobuf.Empty
  /test.Peer/Get  the caller's address (raw bytes): one connection or many
"""
import argparse
import base64
import importlib.util
import os
import subprocess
import tempfile
import threading
from concurrent import futures

import grpc

ERROR_MESSAGE = "validation failed: 100% wrong\nvcpu \u2264 64 \u00e9t\u00e9"


def load_messages(proto_dir, out):
    """protoc --python_out, then load the two modules by path: upstream's
    import path types/microvm.proto makes the generated code say
    `from types import microvm_pb2`, and `types` is Python's own module,
    so the loaded module is hung on it for that import to find."""
    files = ["types/microvm.proto", "services/microvm/v1alpha1/microvms.proto"]
    subprocess.run(["protoc", "-I" + proto_dir, "--python_out=" + out] + files,
                   check=True)

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    import types
    types.microvm_pb2 = load("flintlock_types_microvm_pb2",
                             os.path.join(out, "types", "microvm_pb2.py"))
    svc = load("flintlock_microvms_pb2",
               os.path.join(out, "services/microvm/v1alpha1/microvms_pb2.py"))
    return types.microvm_pb2, svc


class Handler(grpc.GenericRpcHandler):
    def __init__(self, t, s, token):
        self.t, self.s = t, s
        self.auth = None
        if token is not None:
            self.auth = "basic " + base64.b64encode(token.encode()).decode()
        self.uids = 0
        self.lock = threading.Lock()
        pfx = "/microvm.services.api.v1alpha1.MicroVM/"
        self.methods = {
            pfx + "CreateMicroVM": (self.create, s.CreateMicroVMRequest),
            pfx + "GetMicroVM": (self.get, s.GetMicroVMRequest),
            pfx + "ListMicroVMs": (self.list, s.ListMicroVMsRequest),
            pfx + "DeleteMicroVM": (self.delete, s.DeleteMicroVMRequest),
        }

    def check(self, ctx):
        if self.auth is None:
            return
        md = dict(ctx.invocation_metadata())
        got = md.get("authorization", "")
        scheme, _, rest = got.partition(" ")
        if (scheme.lower() + " " + rest) != self.auth:
            ctx.abort(grpc.StatusCode.UNAUTHENTICATED,
                      "invalid token (got %r)" % got)

    def vm(self, spec, state):
        t = self.t
        return t.MicroVM(version=1, spec=spec,
                         status=t.MicroVMStatus(state=state, retry=0))

    def create(self, req, ctx):
        with self.lock:
            self.uids += 1
            uid = "01TESTUID%04d" % self.uids
        spec = self.t.MicroVMSpec()
        spec.CopyFrom(req.microvm)
        spec.uid = uid
        return self.s.CreateMicroVMResponse(
            microvm=self.vm(spec, self.t.MicroVMStatus.PENDING))

    def get(self, req, ctx):
        if req.uid == "error":
            ctx.abort(grpc.StatusCode.UNKNOWN, ERROR_MESSAGE)
        if req.uid == "missing":
            ctx.abort(grpc.StatusCode.NOT_FOUND, "microvm missing not found")
        if req.uid == "slow":
            gone = threading.Event()
            ctx.add_callback(gone.set)
            gone.wait(60)
            ctx.abort(grpc.StatusCode.INTERNAL, "too late")
        spec = self.t.MicroVMSpec(id="vm", namespace="ns", uid=req.uid)
        return self.s.GetMicroVMResponse(
            microvm=self.vm(spec, self.t.MicroVMStatus.CREATED))

    def list(self, req, ctx):
        names = [req.name] if req.HasField("name") else ["a", "b"]
        vms = [self.vm(self.t.MicroVMSpec(id=n, namespace=req.namespace,
                                          uid="01LIST" + n),
                       self.t.MicroVMStatus.CREATED) for n in names]
        return self.s.ListMicroVMsResponse(microvm=vms)

    def delete(self, req, ctx):
        from google.protobuf import empty_pb2
        return empty_pb2.Empty()

    def service(self, details):
        if details.method == "/test.Peer/Get":
            def peer(req, ctx):
                self.check(ctx)
                return ctx.peer().encode()
            return grpc.unary_unary_rpc_method_handler(peer)
        m = self.methods.get(details.method)
        if m is None:
            return None
        fn, req_type = m

        def call(req, ctx):
            self.check(ctx)
            return fn(req, ctx)
        return grpc.unary_unary_rpc_method_handler(
            call, request_deserializer=req_type.FromString,
            response_serializer=lambda r: r.SerializeToString())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto", default="proto")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    ap.add_argument("--token")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        t, s = load_messages(a.proto, out)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        server.add_generic_rpc_handlers([Handler(t, s, a.token)])
        if a.tls_cert:
            key = open(a.tls_key, "rb").read()
            cert = open(a.tls_cert, "rb").read()
            ca = open(a.client_ca, "rb").read() if a.client_ca else None
            creds = grpc.ssl_server_credentials(
                [(key, cert)], root_certificates=ca,
                require_client_auth=ca is not None)
            port = server.add_secure_port("127.0.0.1:0", creds)
        else:
            port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        print("port %d" % port, flush=True)
        server.wait_for_termination()  # until the test's SIGTERM


if __name__ == "__main__":
    main()
