#!/bin/sh
# bench/hostile-smoke.sh: the CI check of xmppload's hostile scenario.
#
#   hostile-smoke.sh XMPPD XMPPCTL XMPPLOAD
#
# Starts a private xmppd in a temp dir (bench/lib/private-xmppd.sh: its own
# ini, certificate, store, a free loopback port), creates HOSTILE_USERS + 1
# accounts (the last is the flooder's), and runs `xmppload hostile` with
# small sizes: 50 users chatting at 200 msg/s for 3 s beside 3 connections
# of each pre-auth attacker kind, 20 held connections and the flooder.
# It fails when the run breaks: no JSON, a failed login, delivered != sent
# for the legitimate chat, an attacker kind that never connected, a flooder
# that sent nothing, or a victim that lost its session; and when xmppd does
# not exit 0 on SIGTERM afterwards.  Latency and RSS are printed, never
# judged.  HOSTILE_KEEP=1 keeps the temp dir.
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 XMPPD XMPPCTL XMPPLOAD" >&2
	exit 2
fi
XMPPD=$1
XMPPCTL=$2
XMPPLOAD=$3
USERS=${HOSTILE_USERS:-50}

DIR=$(mktemp -d "${TMPDIR:-/tmp}/xmppload-hostile.XXXXXX")
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	if [ "${HOSTILE_KEEP:-0}" = 1 ]; then
		echo "hostile: kept $DIR"
	else
		rm -rf "$DIR"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
INI=$DIR/server.ini
# shellcheck source=bench/lib/private-xmppd.sh
. "$(dirname "$0")/lib/private-xmppd.sh"
private_ini "$INI" "$PORT" 1 bench/hostile-smoke.sh
private_setup "$XMPPCTL" "$INI" $((USERS + 1))

"$XMPPD" -c "$INI" > "$DIR/xmppd.log" 2>&1 &
PID=$!
if ! private_wait_port "$PORT" "$PID" 100; then
	echo "hostile: xmppd did not start" >&2
	cat "$DIR/xmppd.log" >&2
	exit 1
fi

echo "hostile: $USERS users at 200 msg/s for 3 s beside 3 attackers per kind, 20 held, a flooder"
# --allow-loss: the checks below say what went wrong, not just that it did.
"$XMPPLOAD" hostile --host localhost --server-ip 127.0.0.1 --port "$PORT" --mode starttls \
	--ca "$DIR/certs/localhost.pem" --users "$USERS" --threads 1 --rate 200 --duration 3 \
	--drain 5 --attackers 3 --hold-conns 20 --json --allow-loss > "$DIR/hostile.json"

python3 - "$DIR/hostile.json" <<'EOF'
import json, sys
o = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
r = o["results"]
a, fl = r["attack"], r["attack"]["flood"]
print("hostile: logins %d/%d; chat sent=%d delivered=%d errors=%d p50=%.3fms p99=%.3fms" % (
    r["logins_ok"], o["params"]["users"], r["sent"], r["delivered"], r["errors"],
    r["latency"]["p50_ms"], r["latency"]["p99_ms"]))
for k in ("amplify", "slow_token", "conn_flood", "sasl_loop"):
    print("hostile: %s opened %d, closed by the server %d" % (k, a[k]["opened"], a[k]["closed_by_server"]))
print("hostile: flooder sent %d, delivered %d; victim connected: %s" % (
    fl.get("sent", 0), fl.get("delivered", 0), fl.get("victim_connected")))
bad = []
if r["login_failures"]:
    bad.append("%d logins failed" % r["login_failures"])
if r["sent"] == 0 or r["delivered"] != r["sent"] or r["errors"]:
    bad.append("chat delivered %d of %d sent, %d errors" % (r["delivered"], r["sent"], r["errors"]))
bad += ["%s never connected" % k for k in ("amplify", "slow_token", "conn_flood", "sasl_loop")
        if a[k]["opened"] == 0]
if not fl.get("run") or not fl.get("logged_in") or fl.get("sent", 0) == 0:
    bad.append("the flooder did not flood")
if not fl.get("victim_connected"):
    bad.append("the victim lost its session")
if bad:
    sys.exit("hostile: " + "; ".join(bad))
EOF

kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
if [ $rc -ne 0 ]; then
	echo "hostile: xmppd exited with $rc" >&2
	tail -20 "$DIR/xmppd.log" >&2
	exit 1
fi
echo "hostile: passed"
