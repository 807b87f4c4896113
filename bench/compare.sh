#!/usr/bin/env bash
# bench/compare.sh: the same xmppload scenarios against xmppd, Prosody and
# ejabberd, one server after another, on this machine (issue 3, item 2).
#
#   bench/compare.sh [--quick] [--servers xmppd,prosody,ejabberd] [options]
#
# What it does:
#   1. installs Debian's prosody, ejabberd and gnuplot-nox if missing, with a
#      policy-rc.d that forbids the packages to start their system services
#      (removed again afterwards); never touches /etc/prosody, /etc/ejabberd,
#      the system services or the default ports;
#   2. brings xmppd, xmppctl, xmppload, cryptobound, stallmeter and sendfloor in
#      $BUILD_DIR (default: build) up to date (XMPPD_PREBUILT=1 skips it);
#   3. makes one certificate for "localhost" (xmppctl cert generate) that all
#      three servers use, and the same accounts user1..userN / pass1..passN on
#      each: salted SCRAM-SHA-256 with 4096 iterations everywhere
#      (xmppd: + SCRAM-SHA-1, as xmppctl stores);
#   4. per server and scenario: starts the server from a private temp dir
#      (without the offline messages an earlier run left) on its own
#      loopback port (xmppd 25222, Prosody 25232, ejabberd 25242 with a
#      private Erlang node, cookie and distribution port 25249, no epmd),
#      TLS required on c2s; runs xmppload; samples the server's RSS and CPU
#      time (all its processes, /proc) every 100 ms; stops the server by pid;
#      Every server runs pinned to the first CPU it may use (CPU 0 here) and
#      xmppload to the other CPUs
#      (taskset; --server-cpus / --gen-cpus, 'none' to share all CPUs), so
#      that the generator does not take CPU from the server it measures and
#      each server gets the same core; xmppd's threads = auto then starts
#      one mux thread;
#   5. prints and writes the table to bench/results/compare-DATE.md (and
#      latest.md), the PNG plots beside it, and the raw generator logs/JSON
#      to bench/results/runs/DATE/.
#
# Scenarios (full / --quick):
#   login  1000 users at 200/s            / 200 at 100/s
#   idle   1000, 5000, 10000 sessions 25 s / 200, 500 for 15 s (xmppd with
#          idle_sleep = 10, so the end of the hold shows sleeping sessions)
#   chat   1000 users, 2000 and 10000 msg/s offered for 20 s
#                                          / 100 users, 500 and 2000 msg/s for 5 s
#   hostile 1000 users chatting at 2000 msg/s for 20 s, without and then with
#          attackers beside them: 20 connections per pre-auth kind (amplifying
#          <a/> stanzas, slow token, SASL loops), 200 held connections and an
#          authenticated flooder aimed at one chat user
#                                          / 200 users at 1000 msg/s for 10 s,
#                                            10 per kind, 100 held
#   presence 1000 users with rosters of 50, then 200 mutual contacts (a ring,
#          written into each server's storage before the run by
#          bench/lib/rosters.py), logged in at 100/s (roster get, initial
#          presence), then 200 presence changes/s for 20 s: each owed to
#          every online contact (10,000 and 40,000 deliveries/s)
#                                          / 200 users, rosters of 20, 100/s for 5 s
#   roster-login the login scenario (1000 users at 200/s) with rosters of 100
#          mutual contacts: each login gets its roster and sends initial
#          presence                        / 200 users at 100/s
#   idle-roster 10000 sessions held 25 s, each with a roster of 100 mutual
#          contacts of which 25 online (ring neighbours and the user opposite)
#          and 75 offline accounts (user10001..user40000), written into each
#          server's storage by bench/lib/rosters.py; logged in at 200/s with
#          roster get + initial presence; RSS per session at the end (xmppd
#          with idle_sleep = 10, as for idle); --idle-roster-peer-sessions
#          runs Prosody and ejabberd at another size
#                                          / 500 sessions for 15 s
#   federation per server kind a pair (xmppd with xmppd, Prosody with
#          Prosody, ejabberd with ejabberd: a.example, b.example) linked
#          by s2s (one link both ways where both do XEP-0288, as two xmppd
#          do; else one each way), TLS and certificates from a test CA made for
#          the run required (SASL EXTERNAL; Prosody and ejabberd find the
#          peer's port through a DNS server of the harness on loopback),
#          both on the server CPU, CPU summed: 1000 users on each, 1000
#          and 5000 msg/s for 10 s, every message to a user of the other
#          server; beside it the same chat with 1000 users on the single
#          server, alternating, 3 runs each; CPU per 1000 federated
#          messages per pair, xmppd / best peer pair and federated / local
#                                          / 100 users each, 1000 msg/s for 5 s
#   login-ws, idle-ws, chat-ws  login, idle and chat at the same sizes over
#          XMPP over WebSocket (RFC 7395, wss://: TLS from the first byte,
#          /xmpp-websocket, xmppload --transport websocket), each server's
#          WebSocket listener on its own loopback port, set up only for these
#          runs (xmppd [listener web] type = https on 25227, Prosody
#          mod_websocket on https port 25237, ejabberd ejabberd_http_ws with
#          tls on 25247); idle-ws and chat-ws bring the socket idle and chat
#          runs along (--no-ws-reference: not) and the table puts RSS per
#          idle session and CPU per 1000 messages over WebSocket beside the
#          socket's, with the WebSocket / socket CPU ratio. Targets for xmppd:
#          at most 4 KiB RSS per idle WebSocket session after idle_sleep at
#          10,000 sessions, chat CPU per message over WebSocket at most 1.3x
#          the socket's.
# --scenarios login,idle,chat,hostile,presence,roster-login,idle-roster,federation
# picks some (all of these by default; the -ws ones only when named).
# Login, chat, hostile and roster-login run three times per server in the full run (--repeat N;
# once with --quick) and the table shows the median of each figure: on a
# shared virtual machine one run's CPU and p99 figures move by +-20%.
# Every size is an option: bench/compare.sh --help.  Each xmppload run is
# bounded by a timeout; every server is stopped on exit (trap EXIT) by pid.
#
# The login table also gets the crypto bound of one login on this machine
# (bench/cryptobound: P-256 key share, ECDH, ECDSA signature, TLS 1.3 key
# schedule, SCRAM-SHA-256 proof check, timed with the same wolfCrypt build).
# The chat table gets the host's wake-up stalls (bench/stallmeter, 10 s of
# 100 us sleeps on each pinned CPU, on the idle machine before the first
# scenario and after the last): the floor under any p99 measured here.
#
# Environment: BUILD_DIR (build; brought up to date from this checkout on
# every run), XMPPD / XMPPCTL / XMPPLOAD / CRYPTOBOUND / STALLMETER / SENDFLOOR (binaries to use
# instead), XMPPD_PREBUILT=1 (skip the build), KEEP=1 keeps the private
# server dirs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac

for a in "$@"; do
	if [ "$a" = -h ] || [ "$a" = --help ]; then
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		python3 "$ROOT/bench/lib/compare.py" --help --xmppd x --xmppctl x --xmppload x --run-dir x |
			sed -n '/^options:/,$p'
		exit 0
	fi
done

servers=xmppd,prosody,ejabberd
prev=
for a in "$@"; do
	[ "$prev" = --servers ] && servers=$a
	case "$a" in --servers=*) servers=${a#--servers=} ;; esac
	prev=$a
done

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# ---- 1. packages, without starting any system service
need=()
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
case ",$servers," in *,prosody,*) command -v prosody >/dev/null || need+=(prosody) ;; esac
case ",$servers," in *,ejabberd,*) command -v ejabberdctl >/dev/null || [ -x /usr/sbin/ejabberdctl ] || need+=(ejabberd) ;; esac
if [ "${#need[@]}" -gt 0 ]; then
	echo "compare: installing ${need[*]} (system services kept stopped by policy-rc.d)"
	policy=/usr/sbin/policy-rc.d
	if [ -e "$policy" ]; then
		echo "compare: $policy exists already; not replacing it" >&2
		placed=0
	else
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
		$SUDO chmod 755 "$policy"
		placed=1
	fi
	rc=0
	{ $SUDO apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"; } || rc=$?
	[ "$placed" = 1 ] && $SUDO rm -f "$policy"
	[ "$rc" = 0 ] || { echo "compare: apt-get failed ($rc)" >&2; exit 1; }
	# Keep them disabled at boot too where systemd is in use.
	if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
		for s in prosody ejabberd; do
			$SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true
		done
	fi
fi

# ---- 2. binaries
XMPPD=${XMPPD:-$BUILD_DIR/xmppd}
XMPPCTL=${XMPPCTL:-$BUILD_DIR/xmppctl}
if [ -z "${XMPPLOAD:-}" ]; then
	XMPPLOAD=$BUILD_DIR/bench/xmppload
	[ -x "$XMPPLOAD" ] || [ ! -x "$BUILD_DIR/xmppload" ] || XMPPLOAD=$BUILD_DIR/xmppload
fi
CRYPTOBOUND=${CRYPTOBOUND:-$BUILD_DIR/bench/cryptobound}
STALLMETER=${STALLMETER:-$BUILD_DIR/bench/stallmeter}
SENDFLOOR=${SENDFLOOR:-$BUILD_DIR/bench/sendfloor}
# Always brought up to date (an incremental build is quick when nothing
# changed): the report names the source's git commit, so the binaries must
# be built from it.  An earlier version built only when a binary was
# missing and measured a stale build under the new commit's name.
if [ -z "${XMPPD_PREBUILT:-}" ]; then
	echo "compare: building xmppd, xmppctl, xmppload, cryptobound, stallmeter, sendfloor in $BUILD_DIR"
	[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$BUILD_DIR" -j"$(nproc)" --target xmppd xmppctl xmppload cryptobound stallmeter sendfloor >/dev/null
fi
for b in "$XMPPD" "$XMPPCTL" "$XMPPLOAD" "$CRYPTOBOUND" "$STALLMETER" "$SENDFLOOR"; do
	[ -x "$b" ] || { echo "compare: $b missing" >&2; exit 1; }
done

# ---- 3. limits: file descriptors for the server and the generator
want_fd=1048576
ulimit -Hn "$want_fd" 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd=$(ulimit -n)
ports=$(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
bounds="$(nproc) CPUs (pinning below); open files per process $fd; ephemeral ports $ports per source address (sessions above --source-ips-above use 127.0.0.2-9); RAM $mem; one server at a time, loopback only"
machine="$cpu, $(nproc) CPUs, $mem, Linux $(uname -r), Debian $(cat /etc/debian_version)"
echo "compare: bounds: $bounds"

# ---- 4. private run dir, shared certificate, cleanup by pid
RUN=$(mktemp -d "${TMPDIR:-/tmp}/xmppd-compare.XXXXXX")
chmod 755 "$RUN"
PY=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$PY" ] && kill -0 "$PY" 2>/dev/null; then
		kill -TERM "$PY" 2>/dev/null || true
		wait "$PY" 2>/dev/null || true
	fi
	# Anything the helper started and did not stop: kill its whole tree.
	if [ -f "$RUN/pids" ]; then
		while read -r p; do
			if kill -0 "$p" 2>/dev/null; then
				kids=$(ps -o pid= --ppid "$p" 2>/dev/null || true)
				grand=
				for k in $kids; do grand="$grand $(ps -o pid= --ppid "$k" 2>/dev/null || true)"; done
				kill -TERM "$p" $kids $grand 2>/dev/null || true
				sleep 2
				kill -KILL "$p" $kids $grand 2>/dev/null || true
			fi
		done <"$RUN/pids"
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "compare: kept $RUN"; else rm -rf "$RUN"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$RUN/cert"
cat >"$RUN/cert.ini" <<INI
[host localhost]
certificate = cert/localhost.pem
key = cert/localhost.key
[listener c2s]
port = 25222
INI
"$XMPPCTL" -c "$RUN/cert.ini" cert generate localhost --out "$RUN/cert" >/dev/null 2>&1 ||
	"$XMPPCTL" -c "$RUN/cert.ini" cert generate localhost >/dev/null
[ -f "$RUN/cert/localhost.pem" ] || { echo "compare: certificate generation failed" >&2; exit 1; }
chmod 644 "$RUN/cert/localhost.key"  # read by the prosody/ejabberd users; temp dir only

python3 "$ROOT/bench/lib/compare.py" "$@" --xmppd "$XMPPD" --xmppctl "$XMPPCTL" \
	--xmppload "$XMPPLOAD" --cryptobound "$CRYPTOBOUND" --stallmeter "$STALLMETER" --sendfloor "$SENDFLOOR" --run-dir "$RUN" --bounds "$bounds" --machine "$machine" \
	--command-line "bench/compare.sh $*" &
PY=$!
wait "$PY"
