#!/usr/bin/env bash
# bench/instructions.sh: the repeatable figure (issue 3, item 3).
#
#   bench/instructions.sh [--login-users 200] [--chat-users 50]
#                         [--messages 2000] [--mech SCRAM-SHA-256]
#
# Runs xmppd under `valgrind --tool=callgrind` (one mux thread, so the
# figure does not depend on how the kernel spreads connections) three times
# from a private temp dir on a loopback port, with xmppload (NOT under
# valgrind) as the client:
#
#   baseline  start, wait until the port answers, 2 s idle, SIGTERM: B
#   login     the same, with a burst of LOGIN_USERS logins (STARTTLS,
#             TLS 1.3, SCRAM-SHA-256, bind, initial presence), then the
#             generator disconnects them: L
#   chat      the same, with CHAT_USERS logged-in users exchanging MESSAGES
#             messages (100 msg/s offered): C
#
# and prints, from the total instructions executed (callgrind's Ir, every
# server thread, start to exit):
#
#   instructions per login          (L - B) / logins
#   instructions per routed message (C - B - CHAT_USERS * per login) / delivered
#
# Ir counts do not drift with the machine's load the way wall-clock and CPU
# seconds do on shared machines, so this is the figure to compare between
# commits (expect about +-1% between runs: timer wake-ups and how many
# stanzas one read batches vary a little).  The result also goes to
# bench/results/instructions-DATE.md and instructions-latest.md.
#
# Environment: BUILD_DIR (build), XMPPD / XMPPCTL / XMPPLOAD binaries,
# KEEP=1 keeps the temp dir (callgrind.out files for callgrind_annotate),
# ARCHIVE=true runs xmppd with its message archive on (the default of a
# real deployment; off here by default, as compare.sh's peers run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
LOGIN_USERS=200
CHAT_USERS=50
MESSAGES=2000
MECH=SCRAM-SHA-256
PORT=${PORT:-25262}
while [ $# -gt 0 ]; do
	case "$1" in
	--login-users) LOGIN_USERS=$2; shift 2 ;;
	--chat-users) CHAT_USERS=$2; shift 2 ;;
	--messages) MESSAGES=$2; shift 2 ;;
	--mech) MECH=$2; shift 2 ;;
	--port) PORT=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "instructions: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
RATE=100
DURATION=$(( (MESSAGES + RATE - 1) / RATE ))

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
	echo "instructions: installing valgrind"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends valgrind
fi

XMPPD=${XMPPD:-$BUILD_DIR/xmppd}
XMPPCTL=${XMPPCTL:-$BUILD_DIR/xmppctl}
if [ -z "${XMPPLOAD:-}" ]; then
	XMPPLOAD=$BUILD_DIR/bench/xmppload
	[ -x "$XMPPLOAD" ] || [ ! -x "$BUILD_DIR/xmppload" ] || XMPPLOAD=$BUILD_DIR/xmppload
fi
# Always brought up to date, as in compare.sh: the report names the
# checkout's commit (XMPPD_PREBUILT=1 skips this).
if [ -z "${XMPPD_PREBUILT:-}" ]; then
	echo "instructions: building xmppd, xmppctl, xmppload in $BUILD_DIR"
	[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$BUILD_DIR" -j"$(nproc)" --target xmppd xmppctl xmppload >/dev/null
	[ -x "$XMPPLOAD" ] || XMPPLOAD=$BUILD_DIR/bench/xmppload
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/xmppd-instr.XXXXXX")
PID=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		sleep 5
		kill -KILL "$PID" 2>/dev/null || true
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "instructions: kept $DIR"; else rm -rf "$DIR"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# shellcheck source=bench/lib/private-xmppd.sh
. "$ROOT/bench/lib/private-xmppd.sh"
private_ini "$DIR/server.ini" "$PORT" 1 bench/instructions.sh
N=$(( LOGIN_USERS > CHAT_USERS ? LOGIN_USERS : CHAT_USERS ))
echo "instructions: creating $N accounts"
private_setup "$XMPPCTL" "$DIR/server.ini" "$N"

# run NAME [xmppload args...]: one server life under callgrind; sets IR.
# (Not called through $(...): the EXIT trap must see PID.)
run() {
	local name=$1; shift
	valgrind --tool=callgrind --callgrind-out-file="$DIR/callgrind.out.$name" \
		"$XMPPD" -c "$DIR/server.ini" >"$DIR/$name.server.log" 2>&1 &
	PID=$!
	private_wait_port "$PORT" "$PID" || { echo "instructions: xmppd did not start under valgrind:" >&2; tail "$DIR/$name.server.log" >&2; exit 1; }
	sleep 2
	if [ $# -gt 0 ]; then
		timeout 900 "$XMPPLOAD" "$@" --host localhost --server-ip 127.0.0.1 --port "$PORT" \
			--mode starttls --mech "$MECH" --ca "$DIR/certs/localhost.pem" \
			--user-format 'user%d' --password-format 'pass%d' --threads 1 --json \
			--timeout 300 >"$DIR/$name.json" 2>"$DIR/$name.gen.log" ||
			{ echo "instructions: xmppload $name failed:" >&2; cat "$DIR/$name.gen.log" >&2; exit 1; }
		sleep 1
	fi
	kill -TERM "$PID"
	local i
	for i in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
	wait "$PID" || { echo "instructions: xmppd exited non-zero in $name:" >&2; tail "$DIR/$name.server.log" >&2; exit 1; }
	PID=
	# "totals:" (or "summary:") is the Ir of every thread over the run.
	IR=$(awk '/^(totals|summary):/ {print $2; exit}' "$DIR/callgrind.out.$name")
	[ -n "$IR" ] || { echo "instructions: no Ir total in callgrind.out.$name" >&2; exit 1; }
}

jget() { python3 -c "import json,sys; print(json.load(open('$1'))['results']['$2'])"; }

echo "instructions: baseline (start, 2 s idle, stop) under callgrind"
run baseline
B=$IR
echo "instructions: login burst: $LOGIN_USERS logins, $MECH"
run login login --users "$LOGIN_USERS" --rate 20 --max-pending 20
L=$IR
LOGINS=$(jget "$DIR/login.json" logins_ok)
echo "instructions: chat: $CHAT_USERS users, $MESSAGES messages at $RATE/s"
run chat chat --users "$CHAT_USERS" --login-rate 20 --max-pending 20 --rate "$RATE" \
	--duration "$DURATION" --drain 20
C=$IR
DELIVERED=$(jget "$DIR/chat.json" delivered)
SENT=$(jget "$DIR/chat.json" sent)
CHAT_LOGINS=$(jget "$DIR/chat.json" logins_ok)

report=$(python3 - "$B" "$L" "$C" "$LOGINS" "$DELIVERED" "$SENT" "$CHAT_LOGINS" "$MECH" \
	"$LOGIN_USERS" "$CHAT_USERS" "$MESSAGES" <<'PY'
import sys
B, L, C = (int(x) for x in sys.argv[1:4])
logins, delivered, sent, chat_logins = (int(x) for x in sys.argv[4:8])
mech, lu, cu, msgs = sys.argv[8:12]
per_login = (L - B) / logins
per_msg = (C - B - chat_logins * per_login) / delivered
print(f"| run | server Ir (all threads) | count | Ir per item |")
print(f"|---|---|---|---|")
print(f"| baseline: start, 2 s idle, stop | {B:,} | | |")
print(f"| login burst: {lu} x {mech} + TLS 1.3 + bind + presence | {L:,} | {logins} logins | **{per_login:,.0f} per login** |")
print(f"| chat: {cu} users, {msgs} messages | {C:,} | {delivered} delivered of {sent} | **{per_msg:,.0f} per routed message** |")
print()
print(f"instructions per login: {per_login:,.0f}")
print(f"instructions per routed message: {per_msg:,.0f}  (chat Ir - baseline - {chat_logins} logins x per-login, / delivered)")
PY
)
commit=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "?")
date=$(date +%Y-%m-%d-%H%M)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
vg=$(valgrind --version)
out="$ROOT/bench/results/instructions-$date.md"
mkdir -p "$ROOT/bench/results"
{
	echo "# xmppd instruction counts — $date"
	echo
	echo "Command: \`${ARCHIVE:+ARCHIVE=$ARCHIVE }bench/instructions.sh --login-users $LOGIN_USERS --chat-users $CHAT_USERS --messages $MESSAGES --mech $MECH\`  "
	echo "xmppd: git $commit, threads = 1; $vg; $cpu, Linux $(uname -r)"
	echo
	echo "$report"
} >"$out"
cp "$out" "$ROOT/bench/results/instructions-latest.md"
echo
cat "$out"
echo
echo "instructions: wrote $out"
