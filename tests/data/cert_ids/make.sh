#!/bin/sh
# Remakes the certificates unit.test_cert_ids reads (self-signed, valid for
# 100 years; only their subjectAltName matters there).  Run from anywhere:
#   sh tests/data/cert_ids/make.sh
set -eu
cd "$(dirname "$0")"
key=$(mktemp)
trap 'rm -f "$key"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$key"
mk() { # file, subject, subjectAltName or "" for none, extra -addext or ""
  set -- "$1" "$2" "$3" "${4:-}"
  if [ -n "$3" ]; then
    openssl req -new -x509 -key "$key" -days 36500 -subj "$2" -addext "subjectAltName=$3" ${4:+-addext "$4"} -out "$1"
  else
    openssl req -new -x509 -key "$key" -days 36500 -subj "$2" ${4:+-addext "$4"} -out "$1"
  fi
}
mk dns.pem /CN=ignored.example "DNS:example.org,DNS:*.wild.example,DNS:Mixed.Case.Example"
mk srv.pem /CN=srv.example "otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server.srv.example,otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpps-server.tls.example,otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-client.client.example"
mk xmppaddr.pem /CN=xmppaddr.example "otherName:1.3.6.1.5.5.7.8.5;UTF8:user@person.example,otherName:1.3.6.1.5.5.7.8.5;UTF8:server.example"
mk cn_only.pem /CN=cn.example ""
mk other_kinds.pem /CN=other.example "email:admin@mail.example,URI:xmpp:uri.example,IP:192.0.2.1,otherName:1.2.3.4;UTF8:unknown.example,DNS:last.example" "basicConstraints=critical,CA:FALSE"
# the SAN extension marked critical (an empty subject requires it)
openssl req -new -x509 -key "$key" -days 36500 -subj "/" -addext "subjectAltName=critical,DNS:critical.example" -out critical.pem
# internationalized names: A-labels in DNS-IDs (one a wildcard), UTF-8 in an
# XmppAddr (through a config file: on the command line openssl would take
# the UTF-8 bytes for Latin-1 and encode them twice)
cnf=$(mktemp)
trap 'rm -f "$key" "$cnf"' EXIT
printf '%s\n' '[req]' 'distinguished_name = dn' '[dn]' '[ext]' 'subjectAltName = @alt' '[alt]' \
  'DNS.1 = xn--caf-dma.example' 'DNS.2 = *.xn--mnchen-3ya.example' \
  'otherName.1 = 1.3.6.1.5.5.7.8.5;FORMAT:UTF8,UTF8:bücher.example' > "$cnf"
openssl req -new -x509 -key "$key" -days 36500 -subj /CN=idn.example -config "$cnf" -extensions ext -out idn.pem
