#!/usr/bin/env bash
# Installs, on Debian 12, every package xmppd needs to build, run and be
# tested, and adds the deb-src line that `apt-get source wolfssl` needs.
# Idempotent: packages already present are left alone.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

src_list=/etc/apt/sources.list.d/xmppd-deb-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  # Mirror the machine's own binary sources, so source and binary versions match.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee "$src_list" >/dev/null
  else
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | $SUDO tee /etc/apt/sources.list.d/xmppd-deb-src.list >/dev/null
  fi
fi

pkgs=(
  build-essential cmake pkg-config dpkg-dev patch ca-certificates
  autoconf automake libtool   # build-wolfssl.sh runs wolfSSL's autogen.sh (autoreconf)
  libinih-dev liburcu-dev libexpat1-dev libsqlite3-dev libidn-dev
  libc-ares-dev               # s2s: asynchronous DNS (SRV, A/AAAA) on the mux threads' loops
  libjemalloc-dev libcmocka-dev libwolfssl-dev
  node-llhttp                 # the HTTP gateway's request parser: llhttp's C sources, compiled in
  clang-14 libclang-rt-14-dev
  python3 python3-slixmpp openssl
  profanity tmux              # integration.profanity drives a desktop client
  erlang-base erlang-crypto erlang-public-key erlang-asn1 erlang-ssl   # integration.tls_interop: an Erlang/OTP TLS 1.3 client
  chromium                    # integration.browser drives it headless through playwright-core (npm, below)
)
# integration.sm_xmppjs runs xmpp.js (npm's @xmpp/client) under Node.js: Debian's
# nodejs and npm (18 and 9 on Debian 12) unless a node and an npm are already
# there (a NodeSource nodejs carries its own npm and conflicts with Debian's).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi
# Peer servers of the federation interop tests (integration.s2s_prosody,
# integration.s2s_ejabberd), each run from a private config in a temp dir:
# their system services must never start or listen.  lua-unbound lets
# Prosody take its DNS from the test's own server on loopback.
servers=(prosody lua-unbound ejabberd)
installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
missing=()
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done
missing_servers=()
for p in "${servers[@]}"; do
  installed "$p" || missing_servers+=("$p")
done
# Always refresh the lists once so that apt-get source finds the deb-src entries.
$SUDO apt-get update -qq
if [ "${#missing[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "${#missing_servers[@]}" -gt 0 ]; then
  # A policy-rc.d that exits 101 for the install (as bench/compare.sh
  # does): invoke-rc.d starts none of their services.  One already there
  # (a container's) is set aside and put back afterwards.
  policy=/usr/sbin/policy-rc.d
  saved=""
  if [ -e "$policy" ]; then
    saved=$(mktemp)
    $SUDO cp -p "$policy" "$saved"
  fi
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  rc=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing_servers[@]}" || rc=$?
  if [ -n "$saved" ]; then
    $SUDO cp -p "$saved" "$policy"
    $SUDO rm -f "$saved"
  else
    $SUDO rm -f "$policy"
  fi
  [ "$rc" = 0 ] || exit "$rc"
  # Not at boot either, where systemd runs.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    for s in prosody ejabberd; do
      $SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true
    done
  fi
fi

# The npm packages of the integration tests, at the versions that
# tests/integration/js/package-lock.json fixes, into
# tests/integration/js/node_modules (the tests run offline).  Skipped when
# that lockfile was installed already.
js_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/js"
stamp="$js_dir/node_modules/.xmppd-installed-lock.json"
if ! cmp -s "$js_dir/package-lock.json" "$stamp"; then
  (cd "$js_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  cp "$js_dir/package-lock.json" "$stamp"
fi
