#!/usr/bin/env bash
# Builds wolfSSL from Debian's source package (Debian's security patches
# included) with the lean configuration xmppd uses, and installs it as a
# static library under a cache directory named after the package version and
# a hash of the configure flags, so a rebuild of xmppd (or a second build
# tree: plain, sanitizers) reuses it.
#
# Usage: build-wolfssl.sh [CACHE_ROOT]     prints the install prefix on stdout
# CACHE_ROOT defaults to $XMPPD_CACHE or ~/.cache/xmppd.
#
# Why lean: Debian's binary libwolfssl holds ~73 KB of heap per idle server
# session and does ~590 full TLS 1.3 handshakes per CPU-second; this build
# holds ~8.5 KB and does ~2,600 (figures from the core-server issue).
#
# Two patches of ours go on top.  scripts/wolfssl-traffic-secrets.patch: two
# functions that let a session put to sleep with wolfSSL_tls_export keep its
# TLS 1.3 traffic secrets, so that after waking it can still follow a peer's
# KeyUpdate (the export carries keys, not the secrets they derive from).
# scripts/wolfssl-middlebox-server.patch: with WOLFSSL_TLS13_MIDDLEBOX_COMPAT
# (RFC 8446 D.4; 5.5.4's configure has no switch for it, so it goes in
# CFLAGS) the server sends its dummy change_cipher_spec after ServerHello to
# a client that sent a legacy session id.  Unpatched, 5.5.4 only turns the
# mode on for its own client side, and strict clients such as Erlang/OTP 25
# abort with "unexpected_msg encrypted_extensions".
#
# wolfCrypt's random blocks come from getrandom() (CUSTOM_RAND_GENERATE_BLOCK
# = xmppd_random_block, tls/rng/getrandom_block.c, declared for wolfSSL's own
# files by the force-included scripts/wolfssl-random-block.h) instead of a
# Hash_DRBG seeded and self-tested for every connection: see that file.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
patches=("$here/wolfssl-traffic-secrets.patch" "$here/wolfssl-middlebox-server.patch")

cache_root="${1:-${XMPPD_CACHE:-$HOME/.cache/xmppd}}"

flags=(
  --enable-static --disable-shared --with-pic
  --disable-examples --disable-crypttests --disable-benchmark
  --enable-tls13 --enable-tlsv12 --disable-oldtls --disable-dtls
  --enable-sp --enable-sp-asm --enable-sp-math-all
  --enable-aesni --enable-intelasm
  --enable-curve25519 --enable-ecc --enable-supportedcurves
  --enable-sessionexport --enable-keying-material
  --enable-certgen --enable-certreq --enable-certext --enable-keygen
  --enable-sni --enable-alpn --enable-hkdf --enable-pwdbased
  --disable-dh --disable-sha3 --disable-md5 --disable-hashdrbg
)
# WOLFSSL_ALWAYS_VERIFY_CB: the verify callback sees a peer's chain that
# verified too (Debian's build defines it as well), so that an s2s session
# can keep the leaf it needs for the peer's identity (tls/tls_peer.c).
extra_cflags="-O2 -DWOLFSSL_TLS13_MIDDLEBOX_COMPAT -DWOLFSSL_ALT_NAMES -DWOLFSSL_CERT_NAME_ALL -DWOLFSSL_ALWAYS_VERIFY_CB -DCUSTOM_RAND_GENERATE_BLOCK=xmppd_random_block"
# Force-included by path; the cache key takes its content, not its path, so
# that every checkout shares one build.
rand_header="$here/wolfssl-random-block.h"

ver=$(apt-cache policy libwolfssl-dev 2>/dev/null | awk '/Candidate:/ {print $2}')
[ -n "$ver" ] && [ "$ver" != "(none)" ] || { echo "build-wolfssl: cannot find Debian's wolfssl version (run scripts/install-deps.sh)" >&2; exit 1; }
hash=$( { printf '%s\n' "$ver" "${flags[@]}" "$extra_cflags"; cat "${patches[@]}" "$rand_header"; } | sha256sum | cut -c1-12)
prefix="$cache_root/wolfssl-${ver//[^A-Za-z0-9.]/_}-$hash"

if [ -f "$prefix/lib/libwolfssl.a" ] && [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
{
  cd "$work"
  apt-get source -qq "wolfssl=$ver"
  cd wolfssl-*/
  for p in "${patches[@]}"; do patch -p1 <"$p"; done
  ./autogen.sh
  cp "$rand_header" "$work/xmppd-random-block.h"
  CFLAGS="$extra_cflags -include $work/xmppd-random-block.h" ./configure --prefix="$prefix" "${flags[@]}"
  make -j"$(nproc)"
  rm -rf "$prefix"
  make install
  touch "$prefix/.complete"
} >"$cache_root/build-wolfssl.log" 2>&1 || {
  echo "build-wolfssl: failed, see $cache_root/build-wolfssl.log" >&2
  tail -30 "$cache_root/build-wolfssl.log" >&2
  exit 1
}
echo "$prefix"
