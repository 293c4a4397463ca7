#!/usr/bin/env bash
# Installs the Debian packages flintsched builds, tests and demos with.
# Does nothing when they are all present already; needs root otherwise.
set -euo pipefail
pkgs=(
	build-essential pkg-config        # compiler, make, library flags
	libcurl4-openssl-dev              # HTTP to etcd's gateway and flintlockd
	libjansson-dev                    # JSON
	libev-dev                         # event loop
	libyaml-dev                       # YAML config files
	libmicrohttpd-dev                 # /metrics, /healthz
	libcmocka-dev                     # unit tests
	protobuf-c-compiler libprotobuf-c-dev # Flintlock's gRPC messages in C (proto/)
	protobuf-compiler python3-protobuf python3-grpcio # fake flintlockd and gRPC test server (test/tools/)
	etcd-server etcd-client           # etcd and etcdctl, for tests and the demo
	clang libclang-rt-14-dev          # libFuzzer targets (make fuzz)
	openssl                           # throwaway TLS certificates in tests
	valgrind                          # leak checks
	procps                            # ps/pkill in e2e scripts
	python3                           # free ports and JSON fields in e2e scripts
	shellcheck                        # lint of the shell scripts (make lint)
	curl jq gnuplot-nox               # make bench: /metrics, JSON, charts
)
missing=()
for p in "${pkgs[@]}"; do
	[[ $p == \#* ]] && continue
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "installing: ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
