#!/bin/sh
# bench/smoke.sh: the CI smoke run of the load generator (issue 3, item 6).
#
#   smoke.sh XMPPD XMPPCTL XMPPLOAD
#
# Starts a private xmppd in a temp dir (its own ini, certificate, SQLite
# store, a free loopback port), creates SMOKE_USERS accounts (200), runs
# `xmppload login` and then `xmppload chat` (1000 msg/s for 10 s) and fails
# if either exits non-zero: a failed login, or delivered != sent after the
# drain.  Figures are printed, never judged: this test catches breakage of
# the harness, the scenarios or the server, not slowness.  The server is
# stopped with SIGTERM through the pid we started and must exit 0.
# SMOKE_KEEP=1 keeps the temp dir (ini, log) for a look afterwards.
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 XMPPD XMPPCTL XMPPLOAD" >&2
	exit 2
fi
XMPPD=$1
XMPPCTL=$2
XMPPLOAD=$3
USERS=${SMOKE_USERS:-200}
RATE=${SMOKE_RATE:-1000}
DURATION=${SMOKE_DURATION:-10}

DIR=$(mktemp -d "${TMPDIR:-/tmp}/xmppload-smoke.XXXXXX")
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	if [ "${SMOKE_KEEP:-0}" = 1 ]; then
		echo "smoke: kept $DIR"
	else
		rm -rf "$DIR"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A free loopback port: bind to 0 and read it back (python3 is in the image
# for the integration tests anyway).
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

INI=$DIR/server.ini
# shellcheck source=bench/lib/private-xmppd.sh
. "$(dirname "$0")/lib/private-xmppd.sh"
private_ini "$INI" "$PORT" 2 bench/smoke.sh
echo "smoke: creating $USERS accounts"
private_setup "$XMPPCTL" "$INI" "$USERS"

"$XMPPD" -c "$INI" > "$DIR/xmppd.log" 2>&1 &
PID=$!
if ! private_wait_port "$PORT" "$PID" 100; then
	echo "smoke: xmppd did not start" >&2
	cat "$DIR/xmppd.log" >&2
	exit 1
fi

# Prints a few figures from xmppload's JSON object.
figures() {
	python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
r, g = o["results"], o["generator"]
out = ["%s: ok=%s logins=%d/%d" % (o["scenario"], o["ok"], r["logins_ok"], o["params"]["users"]),
       "login p50=%.2fms p99=%.2fms" % (r["login_time"]["p50_ms"], r["login_time"]["p99_ms"])]
if o["scenario"] == "chat":
    out.append("sent=%d delivered=%d lost=%d latency p50=%.3fms p99=%.3fms p99.9=%.3fms" % (
        r["sent"], r["delivered"], r["lost"], r["latency"]["p50_ms"],
        r["latency"]["p99_ms"], r["latency"]["p999_ms"]))
out.append("generator cpu=%.2fs (%.2f cores in the measured phase)" % (
    g["cpu_s"], g["phase_cores_used"]))
print("smoke: " + "; ".join(out))
if o["scenario"] == "chat" and r["delivered"] != r["sent"]:
    sys.exit("smoke: delivered != sent")
'
}

COMMON="--host localhost --server-ip 127.0.0.1 --port $PORT --mode starttls \
--ca $DIR/certs/localhost.pem --users $USERS --threads 2 --json"

echo "smoke: login, $USERS users, SCRAM-SHA-256"
# shellcheck disable=SC2086
rc=0
"$XMPPLOAD" login $COMMON --mech SCRAM-SHA-256 --rate 200 > "$DIR/login.json" || rc=$?
figures < "$DIR/login.json" || true
[ $rc -eq 0 ] || { echo "smoke: xmppload login failed ($rc)" >&2; exit 1; }

echo "smoke: chat, $USERS users, $RATE msg/s for $DURATION s"
# shellcheck disable=SC2086
"$XMPPLOAD" chat $COMMON --mech SCRAM-SHA-256-PLUS --rate "$RATE" --duration "$DURATION" \
	--drain 2 > "$DIR/chat.json" || rc=$?
figures < "$DIR/chat.json" || true
[ $rc -eq 0 ] || { echo "smoke: xmppload chat failed ($rc)" >&2; exit 1; }

kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
if [ $rc -ne 0 ]; then
	echo "smoke: xmppd exited with $rc" >&2
	tail -20 "$DIR/xmppd.log" >&2
	exit 1
fi
echo "smoke: passed"
