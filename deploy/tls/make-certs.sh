#!/bin/sh
# A private CA and the certificates for Temporal's frontend (TLS, mutual) and
# for the app as its client, written to DIR (default: deploy/tls/certs).
# test:cluster runs this script; so does an operator before `docker compose up`
# (bring your own PKI in production). Existing files are kept.
#   sh deploy/tls/make-certs.sh [DIR] [DAYS]
set -eu
dir=${1:-$(dirname "$0")/certs}
days=${2:-825}
mkdir -p "$dir"
cd "$dir"
[ -f ca.pem ] && [ -f server.pem ] && [ -f client.pem ] && exit 0

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca-key.pem
openssl req -x509 -new -key ca-key.pem -sha256 -days "$days" -subj "/CN=flowgate test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem 2>/dev/null

# The server's certificate also authenticates its own services to each other
# (internode, and its system worker as a client of the frontend).
key server-key.pem
openssl req -new -key server-key.pem -subj "/CN=temporal" -out server.csr 2>/dev/null
printf '%s\n' "subjectAltName=DNS:temporal,DNS:localhost,IP:127.0.0.1" "extendedKeyUsage=serverAuth,clientAuth" "keyUsage=critical,digitalSignature" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" -sha256 -extfile server.ext -out server.pem 2>/dev/null

key client-key.pem
openssl req -new -key client-key.pem -subj "/CN=flowgate" -out client.csr 2>/dev/null
printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature" > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" -sha256 -extfile client.ext -out client.pem 2>/dev/null

rm -f ./*.csr ./*.ext ca.srl
# The containers read them as their own users (temporal, node); the CA key stays private.
chmod 644 ./*.pem
chmod 600 ca-key.pem
