#!/usr/bin/env bash
# mkcerts.sh DIR: throwaway TLS material for tests, made with openssl:
#   DIR/ca.pem DIR/ca.key           a CA (10 days)
#   DIR/server.pem DIR/server.key   a server certificate signed by it, for
#                                   127.0.0.1 and localhost (SAN), serverAuth
#   DIR/etcd-server.pem DIR/etcd-server.key
#                                   the same with clientAuth too: etcd's
#                                   JSON gateway dials etcd's gRPC port
#                                   with the server's own certificate, which
#                                   --client-cert-auth then checks
#   DIR/client.pem DIR/client.key   a client certificate signed by it,
#                                   CN flintsched-test, clientAuth
#   DIR/client-nocn.pem DIR/client-nocn.key
#                                   the same without a CommonName (subject
#                                   O=flintsched only): etcd's JSON gateway
#                                   takes it with a password (CVE-2018-16886)
#   DIR/other-ca.pem DIR/other-client.pem DIR/other-client.key
#                                   a second CA and a client certificate of
#                                   its own, for "wrong CA is refused" tests
# EC P-256 keys (fast to make). Prints nothing on success.
set -euo pipefail
d=${1:?usage: mkcerts.sh DIR}
mkdir -p "$d"
cd "$d"
ossl() { openssl "$@" 2>/dev/null; }
key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() { # ca NAME
	key "$1.key"
	ossl req -x509 -new -key "$1.key" -subj "/CN=$1 test CA" -days 10 \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign -out "$1.pem"
}
leaf() { # leaf NAME CA SUBJECT EXTFILE-LINES (SUBJECT: a CN, or /O=... as is)
	local subj="/CN=$3"
	[ "${3#/}" = "$3" ] || subj=$3
	key "$1.key"
	ossl req -new -key "$1.key" -subj "$subj" -out "$1.csr"
	printf '%s\n' "$4" > "$1.ext"
	ossl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
		-days 10 -extfile "$1.ext" -out "$1.pem"
	rm -f "$1.csr" "$1.ext"
}
ca ca
leaf server ca localhost "$(printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
	'extendedKeyUsage=serverAuth' 'keyUsage=critical,digitalSignature')"
leaf etcd-server ca localhost "$(printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
	'extendedKeyUsage=serverAuth,clientAuth' 'keyUsage=critical,digitalSignature')"
leaf client ca flintsched-test "$(printf '%s\n' 'extendedKeyUsage=clientAuth' \
	'keyUsage=critical,digitalSignature')"
leaf client-nocn ca /O=flintsched "$(printf '%s\n' 'extendedKeyUsage=clientAuth' \
	'keyUsage=critical,digitalSignature')"
ca other-ca
leaf other-client other-ca intruder "$(printf '%s\n' 'extendedKeyUsage=clientAuth' \
	'keyUsage=critical,digitalSignature')"
rm -f ./*.srl
