#!/usr/bin/env bash
# The fake flintlockd's own test (test/tools/test_fake_flintlockd.py): gRPC
# with TLS, mTLS and a token, the HTTP gateway, errors, async states, a
# dropped create, the crash on overrides without bridge_name.  Needs
# Debian's python3-grpcio, python3-protobuf and protobuf-compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 -W error::ResourceWarning test/tools/test_fake_flintlockd.py
