#!/bin/sh
# bench/presence-smoke.sh: the CI check of xmppload's presence scenario.
#
#   presence-smoke.sh XMPPD XMPPCTL XMPPLOAD
#
# Starts a private xmppd in a temp dir (bench/lib/private-xmppd.sh: its own
# ini, certificate, store, a free loopback port), creates PRESENCE_USERS
# accounts (40) and, with xmppd stopped, writes their rosters straight into
# the SQLite store (bench/lib/rosters.py: a ring of 10 mutual contacts each,
# the bench-only shortcut compare.sh uses too).  Then it runs `xmppload
# presence` (roster get and initial presence per login, then 100 presence
# changes/s for 3 s) and fails when the run breaks: a failed login, a roster
# of the wrong size, fewer initial presences than the ring owes, or a change
# not delivered to every online contact (lost, duplicated or an error); and
# when xmppd does not exit 0 on SIGTERM afterwards.  Latency is printed,
# never judged.  PRESENCE_KEEP=1 keeps the temp dir.
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 XMPPD XMPPCTL XMPPLOAD" >&2
	exit 2
fi
XMPPD=$1
XMPPCTL=$2
XMPPLOAD=$3
USERS=${PRESENCE_USERS:-40}
K=${PRESENCE_ROSTER:-10}
HERE=$(cd "$(dirname "$0")" && pwd)

DIR=$(mktemp -d "${TMPDIR:-/tmp}/xmppload-presence.XXXXXX")
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	if [ "${PRESENCE_KEEP:-0}" = 1 ]; then
		echo "presence-smoke: kept $DIR"
	else
		rm -rf "$DIR"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
INI=$DIR/server.ini
# shellcheck source=bench/lib/private-xmppd.sh
. "$HERE/lib/private-xmppd.sh"
private_ini "$INI" "$PORT" 2 bench/presence-smoke.sh
echo "presence-smoke: creating $USERS accounts"
private_setup "$XMPPCTL" "$INI" "$USERS"
python3 "$HERE/lib/rosters.py" xmppd "$DIR/data/xmppd.sqlite" "$USERS" "$K"

"$XMPPD" -c "$INI" > "$DIR/xmppd.log" 2>&1 &
PID=$!
if ! private_wait_port "$PORT" "$PID" 100; then
	echo "presence-smoke: xmppd did not start" >&2
	cat "$DIR/xmppd.log" >&2
	exit 1
fi

rc=0
"$XMPPLOAD" presence --host localhost --server-ip 127.0.0.1 --port "$PORT" \
	--ca "$DIR/certs/localhost.pem" --users "$USERS" --roster-size "$K" --threads 2 \
	--login-rate 200 --rate 100 --duration 3 --drain 2 --settle 5 --json \
	> "$DIR/presence.json" || rc=$?
python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
r = o["results"]
lat = r["latency"]
print("presence-smoke: ok=%s logins=%d/%d rosters %d..%d items; initial %d of %d; "
      "changes %d, delivered %d of %d owed (%.0f/s), lost %d, dups %d, errors %d, stray %d; "
      "latency p50=%.3fms p99=%.3fms" % (
      o["ok"], r["logins_ok"], o["params"]["users"], r["roster_items_min"], r["roster_items_max"],
      r["initial_deliveries"], r["initial_expected"], r["changes_sent"], r["delivered"],
      r["expected"], r["delivered_per_s"], r["lost"], r["duplicates"], r["errors"], r["stray"],
      lat["p50_ms"], lat["p99_ms"]))
bad = []
if r["changes_sent"] == 0: bad.append("no presence change sent")
if r["initial_deliveries"] < r["initial_expected"]: bad.append("initial presences missing")
if r["stray"]: bad.append("stray presences")
if bad: sys.exit("presence-smoke: " + ", ".join(bad))
' < "$DIR/presence.json" || rc=1
[ $rc -eq 0 ] || { echo "presence-smoke: failed ($rc)" >&2; tail -20 "$DIR/xmppd.log" >&2; exit 1; }

kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
if [ $rc -ne 0 ]; then
	echo "presence-smoke: xmppd exited with $rc" >&2
	tail -20 "$DIR/xmppd.log" >&2
	exit 1
fi
echo "presence-smoke: passed"
