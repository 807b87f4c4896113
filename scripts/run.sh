#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running server:
# installs the packages, builds (wolfSSL from Debian's source, cached), makes
# the database and the localhost certificate if missing and starts xmppd
# with server.ini and its SQLite store.  Ctrl-C (SIGINT) stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
# The database is made once, on the first start: xmppd itself never creates
# one, so a typo in [storage] path stops it instead of starting it empty.
# (init leaves an existing database alone.)
./build/xmppctl -c server.ini init
if [ ! -f certs/localhost.pem ] || [ ! -f certs/localhost.key ]; then
  ./build/xmppctl -c server.ini cert generate localhost
fi
./build/xmppctl -c server.ini check || true
exec ./build/xmppd -c server.ini
