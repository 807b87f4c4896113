# bench/lib/private-xmppd.sh: the steps every bench script takes to run a
# private xmppd (sourced by bench/smoke.sh and bench/instructions.sh; POSIX
# sh, so smoke.sh stays /bin/sh).  bench/lib/compare.py does the same in
# Python, with a bulk insert of accounts instead of one xmppctl per account.

# private_ini FILE PORT THREADS WRITER: a loopback-only STARTTLS c2s
# listener on PORT, SQLite store and certificate beside FILE, 4096 SCRAM
# iterations (as the peers in compare.sh use), warnings only in the log,
# and the load generators' addresses (127.0.0.0/26: xmppload's default
# --source-ips and 127.0.0.1) exempt from the per-address connection
# limits.  xmppload's attackers come from 127.0.0.64-127, outside that
# network, and meet the default limits.
private_ini() {
	# The store's directory: xmppd never creates one (a missing directory
	# is taken for a typo); xmppctl adduser creates the database in it,
	# as bench/lib/compare.py relies on.
	mkdir -p -m 700 "$(dirname "$1")/data"
	cat >"$1" <<INI
; private xmppd config written by $4
[server]
threads = $3
log_level = warn
[sasl]
scram_iterations = 4096
[limits]
; the legitimate load comes from a few loopback addresses: per-address
; limits would measure themselves, not the server
exempt_networks = 127.0.0.0/26
max_preauth_connections = 10000000
[im]
; the peers in compare.sh run without a message archive (no mod_mam), so
; xmppd does too unless ARCHIVE=true (bench/README.md: what it costs)
archive = ${ARCHIVE:-false}
[storage]
path = data/xmppd.sqlite
[host localhost]
certificate = certs/localhost.pem
key = certs/localhost.key
[listener c2s]
type = c2s
mode = starttls
address = 127.0.0.1
port = $2
require_encryption = true
INI
}

# private_setup XMPPCTL INI N: the database (xmppctl init), the certificate
# for localhost and the
# accounts user1..userN@localhost with passwords pass1..passN.  Four
# xmppctl at a time: SQLite (WAL, busy timeout) serialises the writes, the
# PBKDF2 runs in parallel.  The xargs placeholder {} cannot collide with
# the paths: they are passed as arguments, not substituted.
private_setup() {
	"$1" -c "$2" init >"$2.init.log" 2>&1 ||
		{ cat "$2.init.log" >&2; return 1; }
	"$1" -c "$2" cert generate localhost >"$2.cert.log" 2>&1 ||
		{ cat "$2.cert.log" >&2; return 1; }
	seq 1 "$3" | xargs -P 4 -I {} sh -c \
		'echo pass{} | "$0" -c "$1" adduser user{}@localhost > /dev/null' "$1" "$2"
}

# private_wait_port PORT PID [TRIES]: true once 127.0.0.1:PORT accepts a
# connection; false if PID exits first or after TRIES x 0.2 s (300).
private_wait_port() {
	_tries=${3:-300}
	while [ "$_tries" -gt 0 ]; do
		if python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.5)" 2>/dev/null; then
			return 0
		fi
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.2
		_tries=$((_tries - 1))
	done
	return 1
}
