#!/usr/bin/env python3
"""The body of bench/compare.sh: runs the same xmppload scenarios against
xmppd, Prosody and ejabberd, one server at a time, each from a private temp
dir on its own loopback port, and writes the comparison table and plots.

compare.sh installs the packages, builds the binaries and raises the fd
limit, then runs this file; run `bench/compare.sh --help` for the options.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# the DNS server the interop tests point Prosody and ejabberd at (it needs
# nothing else of the test tree)
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "integration"))
from procstat import Sampler, tree_pids  # noqa: E402
from loopback_dns import LoopbackDns  # noqa: E402
import rosters  # noqa: E402

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITER = 4096
DOMAIN = "localhost"


def log(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------- accounts

def _scram(args):
    """SCRAM credentials of one account: (i, salt, sha1 (stored, server),
    sha256 (stored, server)); the salt is a UUID string, as Prosody makes."""
    i, pw_fmt = args
    pw = (pw_fmt % i).encode()
    salt = str(uuid.uuid4()).encode()
    out = {}
    for name in ("sha1", "sha256"):
        sp = hashlib.pbkdf2_hmac(name, pw, salt, ITER)
        ck = hmac.new(sp, b"Client Key", name).digest()
        out[name] = (hashlib.new(name, ck).digest(), hmac.new(sp, b"Server Key", name).digest())
    return i, salt, out


def make_credentials(n, pw_fmt):
    t = time.monotonic()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        creds = list(ex.map(_scram, [(i, pw_fmt) for i in range(1, n + 1)], chunksize=256))
    log(f"  computed SCRAM-SHA-1/-256 credentials ({ITER} iterations) for {n} accounts "
        f"in {time.monotonic() - t:.1f} s")
    return creds


# ---------------------------------------------------------------- servers

def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_port(port, timeout, proc):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def kill_tree(root, grace=10.0):
    """SIGTERM then SIGKILL to root's tree (pids collected before signalling)."""
    pids = [p for p in tree_pids(root)]
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 3.0)):
        alive = []
        for p in pids:
            try:
                os.kill(p, sig)
                alive.append(p)
            except ProcessLookupError:
                pass
        end = time.monotonic() + wait
        while alive and time.monotonic() < end:
            alive = [p for p in alive if _running(p)]
            time.sleep(0.1)
        if not alive:
            return


class Server:
    name = "?"

    def __init__(self, args, base, port):
        self.args, self.port = args, port
        # XMPP over WebSocket (wss://, TLS from the first byte) on a port
        # of its own, only when a -ws scenario runs (the socket scenarios
        # keep the configuration they always had): base + 5, after the
        # federation pair's + 1..+ 4 (xmppd 25227, Prosody 25237,
        # ejabberd 25247).
        self.ws = uses_ws(args)
        self.ws_port = port + WS_PORT_OFFSET
        self.dir = os.path.join(base, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.pidfile = os.path.join(base, "pids")
        # (users, roster size, online contacts) now in the server's storage
        self.rosters = (0, 0, None)

    def set_rosters(self, n, k, online=None):
        """Makes the stored rosters the ring of k contacts over user1..userN
        (online None) or the idle-roster layout (k items, `online` of them
        online users; bench/lib/rosters.py), or none (k = 0), before the
        next start."""
        if (n, k, online) == self.rosters or (k == 0 and self.rosters[1] == 0):
            return
        t = time.monotonic()
        rows = self.write_rosters(n, k, online)
        what = (f"rosters of {k} contacts for {n} users" if online is None else
                f"idle-roster rosters ({k} items, {online} online) for {n} online users and "
                f"{3 * n} offline")
        if rows is not None:
            log(f"  {self.name}: {what} ({rows} items) in {time.monotonic() - t:.1f} s")
        self.rosters = (n, k, online)

    def ws_ready(self):
        """After start(): the WebSocket listener accepts too (if any)."""
        return not self.ws or wait_port(self.ws_port, 30, self.proc)

    def note_pid(self):
        with open(self.pidfile, "a") as f:
            f.write(f"{self.proc.pid}\n")

    def clear_offline(self):
        """Drops the offline messages a previous run left in the server's
        storage, before a start: a run that lost messages (the server
        behind, xmppload gone at the end of the drain) has them delivered
        after its users logged out, the server stores them, and the next
        run's logins get them, with the old run's timestamps and sequence
        numbers (Prosody's pair at 5000 msg/s: p50 48 s in a 37 s run,
        duplicates, and more work for an overloaded pair).  Every run
        starts from the same storage instead.  ejabberd: the bench's
        configuration has no mod_offline, nothing to drop."""

    def logfile(self):
        return open(os.path.join(self.dir, "stdout.log"), "ab")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            kill_tree(self.proc.pid)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None

    def version(self):
        return "?"


class Xmppd(Server):
    name = "xmppd"
    domain = DOMAIN

    def ini_extra(self):
        """More ini sections (the federation pair's s2s set-up)."""
        return ""

    def setup(self, creds, cert, key):
        a, dom = self.args, self.domain
        os.makedirs(os.path.join(self.dir, "certs"), exist_ok=True)
        shutil.copy(cert, os.path.join(self.dir, f"certs/{dom}.pem"))
        shutil.copy(key, os.path.join(self.dir, f"certs/{dom}.key"))
        self.ini = os.path.join(self.dir, "server.ini")
        # The same private ini as bench/smoke.sh and bench/instructions.sh
        # (bench/lib/private-xmppd.sh), plus the limits a big run needs.
        subprocess.run(["sh", "-c", '. "$0"; private_ini "$1" "$2" "$3" bench/compare.sh',
                        os.path.join(BENCH, "lib/private-xmppd.sh"), self.ini, str(self.port),
                        str(a.xmppd_threads)], check=True)
        if dom != DOMAIN:
            # the same ini for another domain (the federation pair)
            t = open(self.ini).read()
            t = t.replace(f"[host {DOMAIN}]", f"[host {dom}]").replace(
                f"certs/{DOMAIN}.", f"certs/{dom}.")
            open(self.ini, "w").write(t)
        with open(self.ini, "a") as f:
            f.write(f"""[limits]
max_connections = 1000000
idle_sleep = {a.xmppd_idle_sleep}
""" + self.ini_extra() + (f"""[listener web]
type = https
address = 127.0.0.1
port = {self.ws_port}
""" if self.ws else ""))
        # The first account through xmppctl (creates the schema), the rest
        # inserted in one transaction with the same credential layout:
        # xmppctl takes ~45 ms per account, too slow for 10,000.
        subprocess.run([a.xmppctl, "-c", self.ini, "adduser", f"user1@{dom}"],
                       input=(a.password_format % 1 + "\n").encode(), check=True,
                       stdout=subprocess.DEVNULL)
        db = sqlite3.connect(os.path.join(self.dir, "data/xmppd.sqlite"))
        now = int(time.time())
        with db:
            db.executemany(
                "INSERT INTO users (domain, localpart, sha1_salt, sha1_iter, sha1_stored,"
                " sha1_server, sha256_salt, sha256_iter, sha256_stored, sha256_server, created)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(dom, a.user_format % i, salt, ITER, c["sha1"][0], c["sha1"][1],
                  salt, ITER, c["sha256"][0], c["sha256"][1], now)
                 for (i, salt, c) in creds if i != 1])
        n = db.execute("SELECT count(*) FROM users WHERE domain=?", (dom,)).fetchone()[0]
        db.close()
        log(f"  xmppd: {n} accounts @{dom} in {self.dir}/data/xmppd.sqlite")

    def write_rosters(self, n, k, online=None):
        # Bench-only shortcut (xmppctl has no roster command yet): the rows
        # go straight into the SQLite store while xmppd is stopped.
        return rosters.xmppd(os.path.join(self.dir, "data/xmppd.sqlite"), n, k,
                             self.args.user_format, DOMAIN, online=online)

    def clear_offline(self):
        db = sqlite3.connect(os.path.join(self.dir, "data/xmppd.sqlite"))
        try:
            with db:
                db.execute("DELETE FROM offline")
        except sqlite3.OperationalError:
            pass  # no such table (yet): nothing stored
        finally:
            db.close()

    def start(self):
        self.clear_offline()
        self.proc = subprocess.Popen(pinned([self.args.xmppd, "-c", self.ini],
                                            self.args.server_cpus), cwd=self.dir,
                                     stdout=self.logfile(), stderr=subprocess.STDOUT)
        self.note_pid()
        return wait_port(self.port, 20, self.proc)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                kill_tree(self.proc.pid, 1)
        self.proc = None

    def version(self):
        r = subprocess.run(["git", "-C", BENCH, "describe", "--always", "--dirty"],
                           capture_output=True, text=True)
        return "git " + (r.stdout.strip() or "?")


class XmppdFed(Xmppd):
    """One xmppd of the federation pair: its own domain, c2s port and s2s
    listener (STARTTLS, loopback), a certificate for its domain from the
    run's test CA (make_pki), which it trusts for its peer ([s2s] ca_file),
    and an [s2s_route] to the other one's s2s port, so no DNS is asked.
    Everything else is the ini of the Xmppd above."""

    def __init__(self, args, base, port, domain, s2s_port, peer_domain, peer_s2s_port, ca):
        super().__init__(args, base, port)
        self.ws = False
        self.domain, self.s2s_port = domain, s2s_port
        self.peer_domain, self.peer_s2s_port, self.ca = peer_domain, peer_s2s_port, ca
        self.dir = os.path.join(base, f"xmppd-{domain}")
        os.makedirs(self.dir, exist_ok=True)

    def ini_extra(self):
        # The listener's per-connection read rate (default 16384 bytes/s
        # after a 128 KiB burst, docs/configuration.md) applies to an s2s
        # link too, which carries every user's traffic between the two
        # servers: at the default the link, not the server, would be
        # measured (about 130 messages/s each way once the burst is spent).
        rate = self.args.federation_s2s_rate
        return f"""[listener s2s]
type = s2s
mode = starttls
address = 127.0.0.1
port = {self.s2s_port}
""" + (f"rate = {rate}\n" if rate >= 0 else "") + f"""[s2s]
ca_file = {self.ca}
[s2s_route {self.peer_domain}]
address = 127.0.0.1
port = {self.peer_s2s_port}
"""

    def start(self):
        return super().start() and wait_port(self.s2s_port, 20, self.proc)


def openssl(*a):
    subprocess.run(["openssl"] + list(a), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


def make_pki(d, domains):
    """A test CA and one P-256 leaf certificate per domain (DNS SAN) that it
    signs, in d: returns (ca.pem, {domain: (cert, key)}).  The same openssl
    commands as tests/integration/s2s_pki.py."""
    os.makedirs(d, exist_ok=True)
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=xmppd bench federation CA",
            "-addext", "basicConstraints=critical,CA:true",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    leaves = {}
    for dom in domains:
        cert, key = os.path.join(d, dom + ".pem"), os.path.join(d, dom + ".key")
        openssl("req", "-x509", "-CA", ca, "-CAkey", ca_key, "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                "-subj", "/CN=" + dom, "-addext", "subjectAltName=DNS:" + dom,
                "-addext", "basicConstraints=critical,CA:false")
        leaves[dom] = (cert, key)
    return ca, leaves


def pinned(cmd, cpus):
    """cmd run on the given CPUs (taskset list, e.g. "0" or "1-3"), or as
    is when cpus is empty.  Children inherit the mask."""
    return (["taskset", "-c", cpus] + cmd) if cpus else cmd


def cpu_count(cpus):
    n = 0
    for part in cpus.split(","):
        a, _, b = part.partition("-")
        n += (int(b) - int(a) + 1) if b else 1
    return n


def _drop(user, home):
    return ["setpriv", "--reuid", user, "--regid", user, "--init-groups",
            "env", f"HOME={home}"]


def _pkg_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    return r.stdout.strip() or "?"


def _prosody_encode(s):
    """Prosody's datamanager path encoding: every non-alphanumeric byte as
    %xx (a.example's data lives in data/a%2eexample)."""
    return "".join(c if c.isalnum() else "%%%02x" % ord(c) for c in s)


class Prosody(Server):
    name = "prosody"
    domain = DOMAIN

    def subst(self):
        """Placeholders of prosody.cfg.lua.in besides the paths and ports:
        the single server has no s2s at all."""
        return {"@S2S@": "", "@S2S_PORTS@": "", "@CAFILE@": "",
                "@MODULES_DISABLED@": '"s2s", "s2s_auth_certs"'}

    def setup(self, creds, cert, key):
        d, dom = self.dir, self.domain
        shutil.copy(cert, os.path.join(d, f"{dom}.pem"))
        shutil.copy(key, os.path.join(d, f"{dom}.key"))
        self.cfg = os.path.join(d, "prosody.cfg.lua")
        t = open(os.path.join(BENCH, "configs/prosody.cfg.lua.in")).read()
        # @S2S@ first: the federation pair's block has placeholders too
        sub = self.subst()
        t = t.replace("@S2S@", sub.pop("@S2S@"))
        # WebSocket: mod_websocket on https_ports (loopback), with the same
        # certificate; nothing of it unless a -ws scenario runs.
        sub.update({"@HTTPS_PORTS@": str(self.ws_port) if self.ws else "",
                    "@WS_MODULES@": ', "websocket"' if self.ws else ""})
        sub.update({"@DIR@": d, "@PORT@": str(self.port), "@CERT@": f"{d}/{dom}.pem",
                    "@KEY@": f"{d}/{dom}.key", "@HOST@": dom})
        for k, v in sub.items():
            t = t.replace(k, v)
        open(self.cfg, "w").write(t)
        # Prosody's internal_hashed store, written directly (prosodyctl
        # register takes ~0.15 s per account); same layout prosodyctl writes.
        acc = os.path.join(d, "data", _prosody_encode(dom), "accounts")
        os.makedirs(acc, exist_ok=True)
        for (i, salt, c) in creds:
            with open(os.path.join(acc, _prosody_encode(self.args.user_format % i) + ".dat"),
                      "w") as f:
                f.write('return {\n\t["stored_key"] = "%s";\n\t["server_key"] = "%s";\n'
                        '\t["salt"] = "%s";\n\t["iteration_count"] = %d;\n};\n'
                        % (c["sha256"][0].hex(), c["sha256"][1].hex(), salt.decode(), ITER))
        pw = pwd.getpwnam("prosody")
        for root, dirs, files in os.walk(d):
            for x in dirs + files:
                os.chown(os.path.join(root, x), pw.pw_uid, pw.pw_gid)
        os.chown(d, pw.pw_uid, pw.pw_gid)
        log(f"  prosody: {len(creds)} accounts in {acc}")

    def write_rosters(self, n, k, online=None):
        # Prosody's internal storage, one Lua table per user, written while
        # it is stopped (prosodyctl has no bulk roster command; mod_admin_shell
        # needs a running server and one call per item).
        data = os.path.join(self.dir, "data")
        rows = rosters.prosody(data, n, k, self.args.user_format, DOMAIN, online=online)
        pw = pwd.getpwnam("prosody")
        for root, dirs, files in os.walk(data):
            for x in dirs + files:
                os.chown(os.path.join(root, x), pw.pw_uid, pw.pw_gid)
        return rows

    def clear_offline(self):
        # mod_offline is one of Prosody's auto-loaded modules
        # (core/modulemanager.lua): data/HOST/offline/USER.list
        off = os.path.join(self.dir, "data", _prosody_encode(self.domain), "offline")
        if os.path.isdir(off):
            for f in os.listdir(off):
                os.unlink(os.path.join(off, f))

    def start(self):
        self.clear_offline()
        self.proc = subprocess.Popen(pinned(_drop("prosody", self.dir) +
                                            ["prosody", "--config", self.cfg, "-F"],
                                            self.args.server_cpus), cwd=self.dir,
                                     stdout=self.logfile(), stderr=subprocess.STDOUT)
        self.note_pid()
        return wait_port(self.port, 30, self.proc)

    def version(self):
        return _pkg_version("prosody")


class ProsodyFed(Prosody):
    """One Prosody of the federation pair, as XmppdFed is for xmppd: its own
    domain, c2s port and s2s port (STARTTLS required, loopback), a
    certificate for its domain from the run's test CA, which it trusts for
    its peer (ssl.cafile) and requires (s2s_secure_auth); the peer found
    through the harness's DNS server (configs/prosody-s2s.cfg.lua.in).
    Everything else is the single Prosody's configuration."""

    def __init__(self, args, base, port, domain, s2s_port, peer_domain, ca, dns):
        super().__init__(args, base, port)
        self.ws = False
        self.domain, self.s2s_port, self.peer_domain = domain, s2s_port, peer_domain
        self.ca, self.dns = ca, dns
        self.dir = os.path.join(base, f"prosody-{domain}")
        os.makedirs(self.dir, exist_ok=True)

    def subst(self):
        ca = os.path.join(self.dir, "ca.pem")
        shutil.copy(self.ca, ca)
        s2s = open(os.path.join(BENCH, "configs/prosody-s2s.cfg.lua.in")).read()
        for k, v in (("@S2S_PORT@", str(self.s2s_port)), ("@PEER@", self.peer_domain),
                     ("@DNS@", self.dns.address)):
            s2s = s2s.replace(k, v)
        return {"@S2S@": s2s, "@S2S_PORTS@": str(self.s2s_port),
                "@CAFILE@": f', cafile = "{ca}"', "@MODULES_DISABLED@": ""}

    def start(self):
        return super().start() and wait_port(self.s2s_port, 30, self.proc)


class Ejabberd(Server):
    name = "ejabberd"
    domain = DOMAIN

    def subst(self):
        """Placeholders of ejabberd.yml.in besides the paths and ports: the
        single server has no s2s at all."""
        return {"@S2S@": "s2s_access: none", "@S2S_LISTEN@": ""}

    def inetrc(self):
        # empty: the Erlang resolver's defaults (node names on localhost)
        return ""

    def setup(self, creds, cert, key):
        d, dom = self.dir, self.domain
        for sub in ("etc", "spool", "logs"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        shutil.copy(cert, os.path.join(d, f"{dom}.pem"))
        shutil.copy(key, os.path.join(d, f"{dom}.key"))
        if not getattr(self, "node", None):
            self.node = "xmppbench%d@localhost" % os.getpid()
        self.cookie = base64.b32encode(os.urandom(15)).decode()
        self.dist = getattr(self, "dist", None) or self.args.ejabberd_dist_port
        subst = self.subst()
        # WebSocket: an ejabberd_http listener with TLS from the first byte
        # serving ejabberd_http_ws, only when a -ws scenario runs.
        subst["@WS_LISTEN@"] = f"""  -
    port: {self.ws_port}
    ip: "127.0.0.1"
    module: ejabberd_http
    tls: true
    request_handlers:
      /xmpp-websocket: ejabberd_http_ws
""" if self.ws else ""
        subst.update({"@DIR@": d, "@PORT@": str(self.port), "@CERT@": f"{d}/{dom}.pem",
                      "@KEY@": f"{d}/{dom}.key", "@NODE@": self.node, "@HOST@": dom,
                      "@DISTPORT@": str(self.dist), "@COOKIE@": self.cookie})
        for tpl, out in (("ejabberd.yml.in", "etc/ejabberd.yml"),
                         ("ejabberdctl.cfg.in", "etc/ejabberdctl.cfg")):
            t = open(os.path.join(BENCH, "configs", tpl)).read()
            # the s2s parts first: they have placeholders too
            for k in ("@S2S@", "@S2S_LISTEN@", "@WS_LISTEN@"):
                t = t.replace(k, subst[k])
            for k, v in subst.items():
                t = t.replace(k, v)
            open(os.path.join(d, out), "w").write(t)
        open(os.path.join(d, "etc/inetrc"), "w").write(self.inetrc())
        pw = pwd.getpwnam("ejabberd")
        os.chmod(os.path.join(d, "etc/ejabberdctl.cfg"), 0o600)
        for root, dirs, files in os.walk(d):
            for x in dirs + files:
                os.chown(os.path.join(root, x), pw.pw_uid, pw.pw_gid)
        os.chown(d, pw.pw_uid, pw.pw_gid)
        # user<first>..user<last> (creds are in account order)
        self.account_range = (creds[0][0], creds[-1][0])

    def ctl(self):
        return _drop("ejabberd", self.dir) + ["ejabberdctl", "--config-dir", self.dir + "/etc",
                                               "--spool", self.dir + "/spool",
                                               "--logs", self.dir + "/logs"]

    def erl_eval(self, expr, timeout):
        """Evaluates an Erlang expression on a hidden node next to ours."""
        cmd = _drop("ejabberd", self.dir) + [
            "erl", "-sname", "benchctl%d@localhost" % os.getpid(), "-hidden", "-noinput",
            "-setcookie", self.cookie, "-erl_epmd_port", str(self.dist), "-start_epmd",
            "false", "-dist_listen", "false", "-kernel", "inet_dist_use_interface",
            "{127,0,0,1}", "-eval", expr + ", halt()."]
        return subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=timeout)

    def create_accounts(self):
        # ejabberd hashes the passwords itself (SCRAM-SHA-256, its fixed 4096
        # iterations); one rpc for all accounts instead of one ejabberdctl
        # register (an Erlang node start, ~1 s) per account.
        (lo, hi), a = self.account_range, self.args
        n = hi - lo + 1
        uf, pf = a.user_format.replace("%d", '" ++ integer_to_list(I) ++ "'), \
            a.password_format.replace("%d", '" ++ integer_to_list(I) ++ "')
        expr = ('R = rpc:call(%s, lists, map, [fun(I) -> ejabberd_auth:try_register('
                'list_to_binary("%s"), <<"%s">>, list_to_binary("%s")) end, '
                'lists:seq(%d, %d)], 1800000), '
                'case R of L when is_list(L) -> io:format("ok=~p~n", '
                '[length([x || ok <- L]) + length([x || {error, exists} <- L])]); '
                'E -> io:format("error=~p~n", [E]) end' % (self.node, uf, self.domain, pf, lo, hi))
        t = time.monotonic()
        r = self.erl_eval(expr, 1900)
        ok = ("ok=%d" % n) in r.stdout
        log(f"  ejabberd: {n} accounts @{self.domain} via ejabberd_auth:try_register in "
            f"{time.monotonic() - t:.1f} s: {'ok' if ok else r.stdout[-300:] + r.stderr[-300:]}")
        return ok

    def write_rosters(self, n, k, online=None):
        # Mnesia needs the node running: written at the next start, which
        # then restarts the node so the run starts from rosters loaded from
        # disc, as it would after any restart.
        self.roster_pending = (n, k, online)
        return None

    def _write_rosters_live(self):
        n, k, online = self.roster_pending
        t = time.monotonic()
        r = self.erl_eval(rosters.ejabberd_expr(self.node, n, k, self.args.user_format, DOMAIN,
                                                online=online)
                          if k else
                          'Node = \'%s\', {atomic, ok} = rpc:call(Node, mnesia, clear_table, [roster]), '
                          '{atomic, ok} = rpc:call(Node, mnesia, clear_table, [roster_version]), '
                          'io:format("rows=0~n")' % self.node, 900)
        ok = ("rows=%d" % (rosters.items(n, k, online) if k else 0)) in r.stdout
        log(f"  ejabberd: rosters of {k} contacts for {n} users"
            f"{'' if online is None else f' ({online} online; and {3 * n} offline users)'} via mnesia:dirty_write in "
            f"{time.monotonic() - t:.1f} s: {'ok' if ok else (r.stdout[-300:] + r.stderr[-300:])}")
        self.roster_pending = None
        return ok

    def _start_node(self):
        self.proc = subprocess.Popen(pinned(self.ctl() + ["foreground"], self.args.server_cpus),
                                     cwd=self.dir,
                                     stdout=self.logfile(), stderr=subprocess.STDOUT)
        self.note_pid()
        return wait_port(self.port, 60, self.proc)

    def start(self):
        if not self._start_node():
            return False
        if not getattr(self, "accounts_done", False):
            self.accounts_done = self.create_accounts()
            if not self.accounts_done:
                return False
        if getattr(self, "roster_pending", None):
            if not self._write_rosters_live():
                return False
            self.stop()
            return self._start_node()
        return True

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                subprocess.run(self.ctl() + ["stop"], cwd=self.dir, timeout=30,
                               capture_output=True)
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        super().stop()

    def version(self):
        return _pkg_version("ejabberd")


class EjabberdFed(Ejabberd):
    """One ejabberd node of the federation pair, as XmppdFed is for xmppd:
    its own domain, c2s port, s2s_in listener (loopback) and Erlang node
    (name, cookie, distribution port); a certificate for its domain from
    the run's test CA, which it trusts for its peer (s2s_cafile); STARTTLS
    required and no mod_s2s_dialback, so the link authenticates with SASL
    EXTERNAL (configs/ejabberd-s2s.yml.in).  The peer is found through the
    harness's DNS server, named in the Erlang resolver's inetrc.
    Everything else is the single ejabberd's configuration."""

    def __init__(self, args, base, port, domain, s2s_port, peer_domain, ca, dns, dist):
        super().__init__(args, base, port)
        self.ws = False
        self.domain, self.s2s_port, self.peer_domain = domain, s2s_port, peer_domain
        self.ca, self.dns, self.dist = ca, dns, dist
        self.dir = os.path.join(base, f"ejabberd-{domain}")
        os.makedirs(self.dir, exist_ok=True)
        # two nodes at once: names of their own (no epmd; each has its own
        # distribution port)
        self.node = "xmppbench%d%s@localhost" % (os.getpid(), domain.split(".")[0])

    def subst(self):
        ca = os.path.join(self.dir, "ca.pem")
        shutil.copy(self.ca, ca)
        s2s = open(os.path.join(BENCH, "configs/ejabberd-s2s.yml.in")).read()
        for k, v in (("@S2S_PORT@", str(self.s2s_port)), ("@PEER@", self.peer_domain),
                     ("@CA@", ca)):
            s2s = s2s.replace(k, v)
        # The s2s listener, an item of the listen: list (a YAML key cannot
        # be given twice, so it is not in ejabberd-s2s.yml.in); no shaper,
        # as on c2s: one link carries every user's messages.
        listen = (f"  -\n    port: {self.s2s_port}\n    ip: \"127.0.0.1\"\n"
                  "    module: ejabberd_s2s_in\n    shaper: none\n")
        return {"@S2S@": s2s.strip("\n"), "@S2S_LISTEN@": listen}

    def inetrc(self):
        # The Erlang resolver (ejabberdctl exports ERL_INETRC as
        # CONFIG_DIR/inetrc): a hosts file of our own that only knows
        # localhost (the node names need it), then the harness's DNS server
        # for the peer's SRV record; neither /etc/resolv.conf nor /etc/hosts
        # (as tests/integration/test_s2s_ejabberd.py).  resolv_conf is "",
        # not an empty file: inet_db reads a resolv.conf again ~5 s after
        # the start and takes its (no) nameservers in place of ours, and
        # without the line it reads /etc/resolv.conf; the first federated
        # run, which starts later (accounts), got "DNS lookup failed:
        # enoname" on both links and no query reached our server.
        d = os.path.join(self.dir, "etc")
        open(os.path.join(d, "hosts"), "w").write("127.0.0.1 localhost\n")
        return (f'{{resolv_conf, ""}}.\n{{hosts_file, "{d}/hosts"}}.\n'
                f"{{nameserver, {{127,0,0,1}}, {self.dns.port}}}.\n{{lookup, [file, dns]}}.\n")

    def _start_node(self):
        return super()._start_node() and wait_port(self.s2s_port, 60, self.proc)


# The WebSocket scenarios: the socket scenario of the same name run over
# XMPP over WebSocket (RFC 7395, wss://) on each server's WebSocket port.
WS_SCENARIOS = ("login-ws", "idle-ws", "chat-ws")
WS_PORT_OFFSET = 5


def uses_ws(args):
    return any(x in args.scenarios for x in WS_SCENARIOS)


def base_scen(scen):
    """login-ws -> login: the socket scenario a WebSocket one repeats."""
    return scen[:-3] if scen.endswith("-ws") else scen


SERVERS = {"xmppd": (Xmppd, "xmppd_port"), "prosody": (Prosody, "prosody_port"),
           "ejabberd": (Ejabberd, "ejabberd_port")}


# ---------------------------------------------------------------- scenarios

class Samplers:
    """Several servers' Samplers read as one (the federation pair): CPU and
    RSS summed; rss_max is the sum of each one's peak."""

    def __init__(self, pids):
        self.ss = [Sampler(p) for p in pids]

    def start(self):
        for x in self.ss:
            x.start()
        return self

    def stop(self):
        for x in self.ss:
            x.stop()

    @property
    def comms(self):
        return set().union(*(x.comms for x in self.ss))

    def cpu_at(self, t):
        return sum(x.cpu_at(t) for x in self.ss)

    def switches_at(self, t):
        return sum(x.switches_at(t) for x in self.ss)

    def rss_at(self, t):
        return sum(x.rss_at(t) for x in self.ss)

    def rss_max(self, t0, t1):
        return sum(x.rss_max(t0, t1) for x in self.ss)


def run_load(args, srv, scen, users, extra, timeout, tag, host=DOMAIN, ca=None, also=(),
             ws=False):
    """Runs one xmppload invocation against srv (already started) while the
    server's tree is sampled (and those of the servers in `also`, summed:
    the federation pair).  Returns a dict with the generator's JSON and
    the server-side figures over the right windows.  ws: over WebSocket
    (wss://) on the server's WebSocket port instead of c2s with STARTTLS."""
    conn = (["--port", str(srv.ws_port), "--transport", "websocket"] if ws else
            ["--port", str(srv.port), "--mode", "starttls"])
    cmd = [args.xmppload, scen, "--host", host, "--server-ip", "127.0.0.1"] + conn + [
           "--mech", args.mech,
           "--ca", ca or args.cert, "--users", str(users), "--user-format", args.user_format,
           "--password-format", args.password_format, "--timeout", str(args.login_timeout),
           "--max-pending", str(args.max_pending), "--json", "--allow-loss"] + extra
    if args.source_ips and users > args.source_ips_above:
        cmd += ["--source-ips", args.source_ips]
    if args.gen_threads:
        cmd += ["--threads", str(args.gen_threads)]
    elif args.gen_cpus:
        cmd += ["--threads", str(cpu_count(args.gen_cpus))]
    cmd = pinned(cmd, args.gen_cpus)
    logpath = os.path.join(args.results_run, f"{srv.name}-{tag}.log")
    samp = Samplers([srv.proc.pid] + [o.proc.pid for o in also]).start()
    time.sleep(1.0)  # baseline: the server started and idle
    t_base = time.monotonic()
    rss_base = samp.rss_at(t_base)
    t0 = time.monotonic()
    with open(logpath, "w") as lf:
        lf.write(" ".join(cmd) + "\n")
        lf.flush()
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=lf, text=True,
                               timeout=timeout)
            out, rc = p.stdout, p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
    t_end = time.monotonic()
    time.sleep(0.3)
    samp.stop()
    res = {"cmd": " ".join(cmd), "rc": rc, "log": logpath, "rss_base": rss_base,
           "server_procs": sorted(samp.comms)}
    try:
        j = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        log(f"    {srv.name} {tag}: no JSON from xmppload (exit {rc}); see {logpath}")
        res["json"] = None
        return res
    res["json"] = j
    r = j.get("results", {})
    login_s = r.get("login_phase_s", 0.0)
    t_login_end = t0 + login_s
    res["cpu_total"] = samp.cpu_at(t_end) - samp.cpu_at(t0)
    res["cpu_login"] = samp.cpu_at(t_login_end) - samp.cpu_at(t0)
    if scen == "idle":
        # The hold proper; xmppload's held_s also counts the final ping
        # round, which wakes every session.
        held = args.idle_duration
        # RSS while every session is held (after the login phase): the
        # peak, and at the end, after xmppd's idle_sleep has passed (the
        # figure the memory target is about: what an idle session costs).
        res["rss_held"] = samp.rss_max(t_login_end + 0.5, t_login_end + held - 0.3)
        res["rss_settled"] = samp.rss_at(t_login_end + held - 0.3)
    if scen == "presence":
        # The changes proper: from the first change (after the logins and
        # the initial presences settled) to the end of the drain.
        t_p0 = t_login_end + r.get("settle_s", 0.0)
        t_p1 = t_p0 + r.get("presence_s", 0.0)
        res["cpu_presence"] = samp.cpu_at(t_p1) - samp.cpu_at(t_p0)
        res["rss_presence"] = samp.rss_max(t_p0, t_p1)
    if scen in ("chat", "hostile"):
        # federation: the chat starts after the s2s links came up
        t_c0 = t_login_end + r.get("link_warmup_s", 0.0)
        chat_s = r.get("chat_s", 0.0)
        res["cpu_chat"] = samp.cpu_at(t_c0 + chat_s) - samp.cpu_at(t_c0)
        res["switches_chat"] = samp.switches_at(t_c0 + chat_s) - samp.switches_at(t_c0)
        res["rss_chat"] = samp.rss_max(t_c0, t_c0 + chat_s)
    res["wall"] = t_end - t0
    return res


def fmt_hist(h):
    return (h or {}).get("p50_ms"), (h or {}).get("p99_ms"), (h or {}).get("p999_ms")


def scenario_list(args):
    sc = []
    if "login" in args.scenarios:
        sc.append(("login", {"users": args.login_users, "rate": args.login_rate}))
    if "idle" in args.scenarios:
        for n in args.idle_sessions:
            sc.append(("idle", {"users": n}))
    if "chat" in args.scenarios:
        for r in args.chat_rates:
            sc.append(("chat", {"users": args.chat_users, "rate": r}))
    if "hostile" in args.scenarios:
        # The same chat without and then with the attackers, each on a
        # freshly started server, so the two differ by the attack alone.
        for n in (0, args.attackers):
            sc.append(("hostile", {"users": args.hostile_users, "rate": args.hostile_rate,
                                   "attackers": n}))
    # federation: the chat between two servers of a kind (xmppd with
    # xmppd, Prosody with Prosody, ejabberd with ejabberd), each message
    # across their s2s link, beside the same chat on one server
    # (run_federation).
    if "federation" in args.scenarios:
        for r in args.federation_rates:
            sc.append(("federation", {"users": args.federation_users, "rate": r}))
    # The roster scenarios: "roster" is the ring (users, contacts each) the
    # server's storage holds during the run (bench/lib/rosters.py); every
    # other scenario runs with no rosters.
    if "presence" in args.scenarios:
        for k in args.presence_roster_sizes:
            sc.append(("presence", {"users": args.presence_users, "rate": args.presence_rate,
                                    "roster": (args.presence_users, k)}))
    if "roster-login" in args.scenarios:
        sc.append(("roster-login", {"users": args.login_users, "rate": args.login_rate,
                                    "roster": (args.login_users, args.roster_login_size)}))
    # idle-roster: N sessions, each with a roster of K items of which C are
    # the other online users (the rest offline accounts user(N+1)..user(4N));
    # "servers" names who runs that size (the peers may run a smaller one).
    # WebSocket: the same sizes as login, idle and chat, over wss://.
    if "login-ws" in args.scenarios:
        sc.append(("login-ws", {"users": args.login_users, "rate": args.login_rate}))
    if "idle-ws" in args.scenarios:
        for n in args.idle_sessions:
            sc.append(("idle-ws", {"users": n}))
    if "chat-ws" in args.scenarios:
        for r in args.chat_rates:
            sc.append(("chat-ws", {"users": args.chat_users, "rate": r}))
    if "idle-roster" in args.scenarios:
        for n in sorted(set(args.idle_roster_sessions) | set(args.idle_roster_peer_sessions)):
            who = [s for s in args.servers if n in (args.idle_roster_sessions if s == "xmppd"
                                                    else args.idle_roster_peer_sessions)]
            sc.append(("idle-roster", {"users": n, "roster": (n, args.idle_roster_size),
                                       "online": args.idle_roster_online, "servers": who}))
    return sc


def tag_of(scen, p):
    return (f"{scen}-{p['users']}" + (f"-{p['rate']:g}" if "rate" in p else "") +
            (f"-a{p['attackers']}" if "attackers" in p else "") +
            (f"-k{p['roster'][1]}" if "roster" in p else ""))


def run_all(args):
    base = args.run_dir
    srv_objs = []
    port_attr = {"xmppd": args.xmppd_port, "prosody": args.prosody_port,
                 "ejabberd": args.ejabberd_port}
    for name in args.servers:
        cls, _ = SERVERS[name]
        for port in [port_attr[name]] + ([port_attr[name] + WS_PORT_OFFSET]
                                         if uses_ws(args) else []):
            if not port_free(port):
                log(f"compare: port {port} for {name} is in use; stopping")
                sys.exit(1)
        srv_objs.append(cls(args, base, port_attr[name]))
    if "ejabberd" in args.servers and not port_free(args.ejabberd_dist_port):
        log(f"compare: ejabberd distribution port {args.ejabberd_dist_port} in use")
        sys.exit(1)

    # federation: per server kind, two servers with their own domains,
    # ports and certificates from one test CA (make_pairs).
    pairs = {}
    if "federation" in args.scenarios:
        args.fed_ca, leaves = make_pki(os.path.join(base, "fedpki"), FED_DOMAINS)
        pairs = make_pairs(args, base)

    # hostile's flooder logs in as the account after its chat users.
    n_acc = max([args.login_users if "login" in args.scenarios else 1,
                 args.login_users if "login-ws" in args.scenarios else 1,
                 args.chat_users if "chat" in args.scenarios else 1,
                 args.chat_users if "chat-ws" in args.scenarios else 1,
                 args.hostile_users + 1 if "hostile" in args.scenarios else 1,
                 args.presence_users if "presence" in args.scenarios else 1,
                 args.login_users if "roster-login" in args.scenarios else 1,
                 2 * args.federation_users if "federation" in args.scenarios else 1] +
                [4 * n for n in (args.idle_roster_sessions + args.idle_roster_peer_sessions)
                 if "idle-roster" in args.scenarios] +
                (list(args.idle_sessions) if "idle" in args.scenarios or
                 "idle-ws" in args.scenarios else []))
    log(f"== accounts: user1..user{n_acc} on {DOMAIN}")
    creds = make_credentials(n_acc, args.password_format)
    for s in srv_objs:
        s.setup(creds, args.cert, args.key)
    n_fed = args.federation_users
    for name, pair in pairs.items():
        for i, s in enumerate(pair):
            # xmppd: every account on both (the first half logs in to one,
            # the rest to the other; the SQLite insert is quick); Prosody
            # and ejabberd: only the half that logs in to each, since
            # ejabberd hashes every account itself, ~15 ms on its one core.
            s.setup(creds if name == "xmppd" else creds[i * n_fed:(i + 1) * n_fed],
                    *leaves[s.domain])
    del creds

    results = {}   # (server, tag) -> res
    meta = {}
    for s in srv_objs:
        meta[s.name] = s.version()
        log(f"== {s.name} {meta[s.name]} on 127.0.0.1:{s.port}")
        for scen, p in scenario_list(args):
            if "servers" in p and s.name not in p["servers"]:
                continue
            tag = tag_of(scen, p)
            if scen == "federation":
                results.update(run_federation(args, s, pairs[s.name], p, tag))
                continue
            users = p["users"]
            extra, est = [], 0.0
            # Expected wall time, from the slowest peer's login cost (~25 ms
            # CPU per login on one core), to bound each run.
            login_est = users / 30.0 + 30
            if scen == "presence":
                login_est = max(login_est, users / args.presence_login_rate + 30)
            ws = scen in WS_SCENARIOS
            scen_b = base_scen(scen)
            xscen = scen_b
            if scen_b == "login":
                extra += ["--rate", f"{p['rate']:g}"]
                est = login_est
            elif scen == "roster-login":
                # The login scenario, each login getting its roster (checked:
                # K items) and sending initial presence to the contacts online.
                xscen = "login"
                extra += ["--rate", f"{p['rate']:g}", "--roster-get", "--roster-size",
                          str(p["roster"][1])]
                est = login_est
            elif scen == "presence":
                extra += ["--login-rate", f"{args.presence_login_rate:g}", "--roster-size",
                          str(p["roster"][1]), "--rate", f"{p['rate']:g}", "--duration",
                          f"{args.presence_duration:g}", "--drain", f"{args.chat_drain:g}",
                          "--settle", f"{args.presence_settle:g}"]
                est = login_est + args.presence_settle + args.presence_duration + args.chat_drain + 5
            elif scen_b == "idle":
                extra += ["--login-rate", f"{args.setup_login_rate:g}", "--duration",
                          f"{args.idle_duration:g}", "--drain", "10"]
                est = login_est + args.idle_duration + 10
            elif scen == "idle-roster":
                # The idle scenario, each login getting its roster (checked:
                # K items) before initial presence; sampled as idle is.
                xscen = "idle"
                extra += ["--login-rate", f"{args.idle_roster_login_rate:g}", "--duration",
                          f"{args.idle_duration:g}", "--drain", "10", "--roster-get",
                          "--roster-size", str(p["roster"][1])]
                est = max(login_est, users / args.idle_roster_login_rate + 30) + \
                    args.idle_duration + 10
            elif scen == "hostile":
                extra += ["--login-rate", f"{args.setup_login_rate:g}", "--rate",
                          f"{p['rate']:g}", "--duration", f"{args.hostile_duration:g}",
                          "--drain", f"{args.chat_drain:g}", "--attackers", str(p["attackers"]),
                          "--hold-conns", str(args.hold_conns)]
                if args.attack_kinds and p["attackers"]:
                    extra += ["--attack-kinds", args.attack_kinds]
                # The attacker thread on the server's CPU: on loopback its
                # system calls run the server's side of TCP, work a real
                # server does on its own CPUs; beside the chat worker they
                # delayed the measuring side instead (bench/xmppload/attack.c).
                if p["attackers"] and first_cpu(args.server_cpus) >= 0:
                    extra += ["--attack-cpu", str(first_cpu(args.server_cpus))]
                est = login_est + args.hostile_duration + args.chat_drain + 5
            else:
                extra += ["--login-rate", f"{args.setup_login_rate:g}", "--rate",
                          f"{p['rate']:g}", "--duration", f"{args.chat_duration:g}",
                          "--drain", f"{args.chat_drain:g}"]
                est = login_est + args.chat_duration + args.chat_drain + 5
            timeout = int(est * 2 + 60)
            n_runs = args.repeat if scen_b in ("login", "chat", "hostile", "roster-login") else 1
            runs = []
            rn, rk = p.get("roster", (0, 0))
            s.set_rosters(rn, rk, p.get("online"))
            for k in range(n_runs):
                rtag = tag if n_runs == 1 else f"{tag}-run{k + 1}"
                try:
                    if not s.start() or not s.ws_ready():
                        log(f"  {s.name}: did not start (see {s.dir}/stdout.log); skipping {rtag}")
                        continue
                    log(f"  {rtag}: running (bounded at {timeout} s)")
                    res = run_load(args, s, xscen, users, extra, timeout, rtag, ws=ws)
                finally:
                    s.stop()
                res["scen"], res["p"] = scen, p
                if n_runs > 1:
                    summarize_one(s.name, rtag, res)
                if res.get("json"):
                    runs.append(res)
            if not runs:
                results[(s.name, tag)] = {"json": None, "rc": "no-run", "scen": scen, "p": p}
                continue
            res = median_merge(runs)
            res["runs"] = len(runs)
            results[(s.name, tag)] = res
            summarize_one(s.name, tag + (f" (median of {len(runs)})" if len(runs) > 1 else ""), res)
    for d in getattr(args, "fed_dns", []):
        d.close()
    return results, meta


FED_DOMAINS = ("a.example", "b.example")


def fed_ports(args, name):
    """The federation pair's ports of one server kind, next to its single
    server's: c2s on + 1 and + 2, s2s on + 3 and + 4 (xmppd 25223-25226,
    Prosody 25233-25236, ejabberd 25243-25246); ejabberd's two Erlang
    nodes also take the distribution ports after the single node's
    (25250, 25251)."""
    base = {"xmppd": args.xmppd_port, "prosody": args.prosody_port,
            "ejabberd": args.ejabberd_port}[name]
    c2s, s2s = [base + 1, base + 2], [base + 3, base + 4]
    dist = [args.ejabberd_dist_port + 1, args.ejabberd_dist_port + 2] if name == "ejabberd" else []
    return c2s, s2s, dist


def make_pairs(args, base):
    """{server kind: [server of a.example, server of b.example]} for the
    kinds in --servers.  xmppd reaches its peer through an [s2s_route];
    Prosody and ejabberd have no such setting and find the peer's s2s port
    by an SRV lookup, answered by a DNS server of the harness on loopback
    (tests/integration/loopback_dns.py, one per kind, closed at the end)."""
    pairs, args.fed_dns = {}, []
    for name in args.servers:
        c2s, s2s, dist = fed_ports(args, name)
        for port in c2s + s2s + dist:
            if not port_free(port):
                log(f"compare: port {port} for the {name} federation pair is in use; stopping")
                sys.exit(1)
        if name == "xmppd":
            pairs[name] = [XmppdFed(args, base, c2s[i], FED_DOMAINS[i], s2s[i],
                                    FED_DOMAINS[1 - i], s2s[1 - i], args.fed_ca) for i in (0, 1)]
        elif name == "prosody":
            # Prosody resolves the SRV target's name itself (lua-unbound):
            # the domain, with an A record
            dns = LoopbackDns({**{("_xmpp-server._tcp." + d, "SRV"): [(0, 0, s2s[i], d)]
                                  for i, d in enumerate(FED_DOMAINS)},
                               **{(d, "A"): ["127.0.0.1"] for d in FED_DOMAINS}})
            args.fed_dns.append(dns)
            pairs[name] = [ProsodyFed(args, base, c2s[i], FED_DOMAINS[i], s2s[i],
                                      FED_DOMAINS[1 - i], args.fed_ca, dns) for i in (0, 1)]
        elif name == "ejabberd":
            # ejabberd asks the Erlang resolver (inetrc) for the SRV record
            # but the system's getaddrinfo for the target's address, which
            # knows no a.example: the target is the address itself
            # (tests/integration/test_s2s_ejabberd.py)
            dns = LoopbackDns({("_xmpp-server._tcp." + d, "SRV"): [(0, 0, s2s[i], "127.0.0.1")]
                               for i, d in enumerate(FED_DOMAINS)})
            args.fed_dns.append(dns)
            pairs[name] = [EjabberdFed(args, base, c2s[i], FED_DOMAINS[i], s2s[i],
                                       FED_DOMAINS[1 - i], args.fed_ca, dns, dist[i])
                           for i in (0, 1)]
    return pairs


def run_federation(args, s, pair, p, tag):
    """The federation scenario for s (any kind) and pair (two of its
    kind): per repetition, the local chat on s (the reference: p's users
    on one server at p's rate) and then the federated chat: the pair
    started, p's users logged in to each (user1..userN to the first,
    user(N+1)..user(2N) to the second, xmppload --peer-host), every
    message to a user of the other server, both servers' CPU summed.
    The two alternate, so a change in the machine's load falls on both.
    Returns {(server, tag): federated result, (server, tag + "-local"):
    local result}, each the median of its runs."""
    users, a, b = p["users"], pair[0], pair[1]
    dur = args.federation_duration
    extra = ["--login-rate", f"{args.federation_login_rate:g}", "--rate", f"{p['rate']:g}",
             "--duration", f"{dur:g}", "--drain", f"{args.chat_drain:g}"]
    timeout = int((2 * users / min(30.0, args.federation_login_rate) + 30 + 10 + dur +
                   args.chat_drain + 5) * 2 + 60)
    fed, loc, ratios = [], [], []
    for k in range(args.federation_repeat):
        sfx = f"-run{k + 1}" if args.federation_repeat > 1 else ""
        lres = None
        try:
            if s.start():
                log(f"  {tag}-local{sfx}: running (bounded at {timeout} s)")
                lres = run_load(args, s, "chat", users, extra, timeout, f"{tag}-local{sfx}")
            else:
                log(f"  {s.name}: did not start (see {s.dir}/stdout.log)")
        finally:
            s.stop()
        if lres:
            lres["scen"], lres["p"] = "federation-local", p
            if sfx:
                summarize_one(s.name, f"{tag}-local{sfx}", lres)
            if lres.get("json"):
                loc.append(lres)
        fres = None
        try:
            if a.start() and b.start():
                log(f"  {tag}{sfx}: running (bounded at {timeout} s)")
                fres = run_load(args, a, "chat", 2 * users,
                                extra + ["--peer-host", b.domain, "--peer-port", str(b.port)],
                                timeout, f"{tag}{sfx}", host=a.domain, ca=args.fed_ca, also=[b])
            else:
                log(f"  federation pair did not start (see {a.dir}/stdout.log, {b.dir}/stdout.log)")
            if getattr(a, "dns", None):
                # what the pair asked the harness's DNS server so far
                log("    DNS queries: " + ", ".join(f"{n} {t} x{c}" for (n, t), c in
                                                    sorted(a.dns.asked.items())))
        finally:
            b.stop()
            a.stop()
        if fres:
            fres["scen"], fres["p"] = "federation", p
            if sfx:
                summarize_one(s.name, f"{tag}{sfx}", fres)
            if fres.get("json"):
                fed.append(fres)
                try:
                    ratios.append((fres["cpu_chat"] / fres["json"]["results"]["delivered"]) /
                                  (lres["cpu_chat"] / lres["json"]["results"]["delivered"]))
                except (TypeError, KeyError, ZeroDivisionError):
                    pass
    out = {}
    for key, runs, scen in ((tag, fed, "federation"), (tag + "-local", loc, "federation-local")):
        if not runs:
            out[(s.name, key)] = {"json": None, "rc": "no-run", "scen": scen, "p": p}
            continue
        res = median_merge(runs)
        res["runs"] = len(runs)
        out[(s.name, key)] = res
        summarize_one(s.name, key + (f" (median of {len(runs)})" if len(runs) > 1 else ""), res)
    if ratios:
        out[(s.name, tag)]["cpu_ratio_runs"] = ratios
        log(f"    {s.name} {tag}: CPU per message federated / local, per run: " +
            ", ".join(f"{x:.2f}" for x in ratios))
    return out


def median_merge(runs):
    """One result from repeated runs: every number is the median of that
    number over the runs (each figure on its own, so the row of a table is
    not one run's); anything else is the first run's."""
    first = runs[0]
    if all(isinstance(r, dict) for r in runs):
        return {k: median_merge([r[k] for r in runs if k in r]) for k in first}
    if all(isinstance(r, int) and not isinstance(r, bool) for r in runs):
        return statistics.median_low(runs)  # counts stay whole numbers
    if all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in runs):
        return statistics.median(runs)
    return first


def summarize_one(name, tag, res):
    j = res.get("json")
    if not j:
        return
    r = j["results"]
    res = dict(res, scen=base_scen(res["scen"]))  # a -ws run prints as its socket scenario
    line = f"    {name} {tag}: logins {r.get('logins_ok')} ok / {r.get('login_failures')} failed"
    if res["scen"] in ("login", "roster-login", "presence"):
        line += f", {r.get('logins_per_s')}/s, server CPU {1000 * res['cpu_login'] / max(1, r.get('logins_ok', 0)):.2f} ms/login"
    if "roster_items_min" in r:
        line += (f", rosters {r['roster_items_min']}..{r['roster_items_max']} items "
                 f"({r.get('rosters_wrong_size')} wrong)")
    if res["scen"] == "presence":
        lat = r.get("latency", {})
        line += (f", initial {r.get('initial_deliveries')} of {r.get('initial_expected')}; "
                 f"changes {r.get('changes_sent')}, delivered {r.get('delivered')} of "
                 f"{r.get('expected')} owed ({r.get('delivered_per_s')}/s), lost {r.get('lost')}, "
                 f"dups {r.get('duplicates')}, errors {r.get('errors')}, p50 {lat.get('p50_ms')} "
                 f"p99 {lat.get('p99_ms')} ms, CPU {res['cpu_presence']:.2f} s, RSS peak "
                 f"{res['rss_presence'] / 2**20:.1f} MiB")
    if res["scen"] == "idle-roster":
        line += (f", presences from contacts {r.get('presences_from_contacts')} (owed "
                 f"{r.get('logins_ok', 0) * res['p']['online']}), with a type "
                 f"{r.get('other_presences')}")
    if res["scen"] in ("idle", "idle-roster"):
        per = (res["rss_held"] - res["rss_base"]) / max(1, r.get("logins_ok", 1)) / 1024
        settled = (res["rss_settled"] - res["rss_base"]) / max(1, r.get("logins_ok", 1)) / 1024
        line += (f", RSS peak {res['rss_held'] / 2**20:.1f} MiB ({per:.1f} KiB/session), "
                 f"at the end {res['rss_settled'] / 2**20:.1f} MiB ({settled:.1f} KiB/session), "
                 f"alive {r.get('alive')}")
    if res["scen"] in ("chat", "hostile", "federation", "federation-local"):
        lat = r.get("latency", {})
        line += (f", sent {r.get('sent')} delivered {r.get('delivered')} lost {r.get('lost')}, "
                 f"p50 {lat.get('p50_ms')} p99 {lat.get('p99_ms')} ms, CPU {res['cpu_chat']:.2f} s, "
                 f"RSS peak {res['rss_chat'] / 2**20:.1f} MiB")
    if res["scen"] in ("federation", "federation-local") and r.get("delivered"):
        line += (f", errors {r.get('errors')}, CPU per 1000 delivered "
                 f"{1000 * res['cpu_chat'] / r['delivered']:.4f} s")
    if res["scen"] == "federation":
        line += (f" (both servers), s2s links up in {r.get('link_warmup_s')} s "
                 f"({r.get('link_pings_answered')} of {r.get('link_pings')} pings answered)")
    fl = r.get("attack", {}).get("flood", {})
    if fl.get("run"):
        line += (f"; flooder {fl.get('delivered')} of {fl.get('sent')} delivered, "
                 f"victim {'connected' if fl.get('victim_connected') else 'DISCONNECTED'}")
    log(line)


# ---------------------------------------------------------------- report

def figures(results, servers, args):
    """rows: (scenario label, metric, unit, lower_is_better, {server: value})"""
    rows = []
    for scen, p in scenario_list(args):
        tag = tag_of(scen, p)
        vals = {}
        for s in servers:
            res = results.get((s, tag))
            if res and res.get("json"):
                vals[s] = res
        n_runs = max([r.get("runs", 1) for r in vals.values()] or [1])
        med = f", median of {n_runs} runs" if n_runs > 1 else ""

        def m(fn, at=None):
            """fn over each server's result of this scenario (at=tag: of
            that scenario instead, e.g. the socket run beside a -ws one)."""
            out = {}
            for s in servers:
                res = vals.get(s) if at is None else results.get((s, at))
                if not res or not res.get("json"):
                    continue
                try:
                    v = fn(res, res["json"]["results"])
                except (KeyError, TypeError, ZeroDivisionError):
                    v = None
                out[s] = v
            return out
        ws = scen in WS_SCENARIOS
        over = " over WebSocket (wss://)" if ws else ""
        sock = tag_of(base_scen(scen), p)  # the socket run of the same size
        scen = base_scen(scen)
        if scen == "login":
            lab = f"login{over}: {p['users']} users at {p['rate']:g}/s ({args.mech})" + med
            rows.append((lab, "logins/s achieved", "/s", False, m(lambda x, r: r["logins_per_s"])))
            rows.append((lab, "login failures", "", True, m(lambda x, r: r["login_failures"])))
            rows.append((lab, "login time p50", "ms", True, m(lambda x, r: r["login_time"]["p50_ms"])))
            rows.append((lab, "login time p99", "ms", True, m(lambda x, r: r["login_time"]["p99_ms"])))
            rows.append((lab, "server CPU per login", "ms", True,
                         m(lambda x, r: 1000 * x["cpu_login"] / r["logins_ok"])))
        elif scen == "idle":
            lab = f"idle{over}: {p['users']} sessions held {args.idle_duration:g} s"
            rows.append((lab, "sessions alive", "", False, m(lambda x, r: r["alive"])))
            rows.append((lab, "server RSS, peak while held", "MiB", True,
                         m(lambda x, r: x["rss_held"] / 2**20)))
            rows.append((lab, "RSS per session, peak (peak - idle server)", "KiB", True,
                         m(lambda x, r: (x["rss_held"] - x["rss_base"]) / r["logins_ok"] / 1024)))
            rows.append((lab, "RSS per session at the end (after xmppd's idle_sleep)", "KiB", True,
                         m(lambda x, r: (x["rss_settled"] - x["rss_base"]) / r["logins_ok"] / 1024)))
            if ws:
                rows.append((lab, "RSS per session at the end over the socket (the idle run "
                             "of this size)", "KiB", True,
                             m(lambda x, r: (x["rss_settled"] - x["rss_base"]) / r["logins_ok"]
                               / 1024, at=sock)))
        elif scen == "idle-roster":
            n, k, c = p["users"], p["roster"][1], p["online"]
            lab = (f"idle with a roster: {n:,} sessions held {args.idle_duration:g} s, rosters of "
                   f"{k} (both) of which {c} online contacts and {k - c} offline accounts, "
                   f"logged in at {args.idle_roster_login_rate:g}/s with roster get + initial "
                   "presence")
            if len(p["servers"]) < len(servers):
                lab += f" (run by {', '.join(p['servers'])} only)"
            rows.append((lab, "sessions alive", "", False, m(lambda x, r: r["alive"])))
            rows.append((lab, "rosters of the wrong size", "", True,
                         m(lambda x, r: r["rosters_wrong_size"])))
            rows.append((lab, "presences from contacts received (of owed)", "", True,
                         m(lambda x, r: f"{r['presences_from_contacts']:,} of "
                                        f"{r['logins_ok'] * c:,}")))
            rows.append((lab, "server RSS at the end", "MiB", True,
                         m(lambda x, r: x["rss_settled"] / 2**20)))
            rows.append((lab, "RSS per session, peak (peak - idle server)", "KiB", True,
                         m(lambda x, r: (x["rss_held"] - x["rss_base"]) / r["logins_ok"] / 1024)))
            rows.append((lab, "RSS per session with its roster at the end (after xmppd's "
                         "idle_sleep)", "KiB", True,
                         m(lambda x, r: (x["rss_settled"] - x["rss_base"]) / r["logins_ok"] / 1024)))
        elif scen == "hostile":
            rows += hostile_rows(results, servers, args, p, m, med)
        elif scen == "federation":
            rows += federation_rows(results, servers, args, p, m, med)
        elif scen == "roster-login":
            lab = (f"login with a roster: {p['users']} users at {p['rate']:g}/s, rosters of "
                   f"{p['roster'][1]} mutual contacts; each login gets its roster and sends "
                   "initial presence" + med)
            rows.append((lab, "logins/s achieved", "/s", False, m(lambda x, r: r["logins_per_s"])))
            rows.append((lab, "login failures", "", True, m(lambda x, r: r["login_failures"])))
            rows.append((lab, "rosters of the wrong size", "", True,
                         m(lambda x, r: r["rosters_wrong_size"])))
            rows.append((lab, "login time p50 (to the roster)", "ms", True,
                         m(lambda x, r: r["login_time"]["p50_ms"])))
            rows.append((lab, "login time p99 (to the roster)", "ms", True,
                         m(lambda x, r: r["login_time"]["p99_ms"])))
            rows.append((lab, "server CPU per login", "ms", True,
                         m(lambda x, r: 1000 * x["cpu_login"] / r["logins_ok"])))
        elif scen == "presence":
            lab = (f"presence: {p['users']} users, rosters of {p['roster'][1]} mutual contacts, "
                   f"{p['rate']:g} presence changes/s for {args.presence_duration:g} s "
                   f"(owed {p['rate'] * p['roster'][1]:,.0f} deliveries/s)" + med)
            rows.append((lab, "deliveries/s", "/s", False, m(lambda x, r: r["delivered_per_s"])))
            rows.append((lab, "lost (of owed)", "", True,
                         m(lambda x, r: f"{r['lost']} of {r['expected']}")))
            rows.append((lab, "duplicates / errors / stray", "", True,
                         m(lambda x, r: f"{r['duplicates']} / {r['errors']} / {r['stray']}")))
            rows.append((lab, "initial presences at login (of owed)", "", True,
                         m(lambda x, r: f"{r['initial_deliveries']} of {r['initial_expected']}")))
            rows.append((lab, "latency p50", "ms", True, m(lambda x, r: r["latency"]["p50_ms"])))
            rows.append((lab, "latency p99", "ms", True, m(lambda x, r: r["latency"]["p99_ms"])))
            rows.append((lab, "latency p99.9", "ms", True, m(lambda x, r: r["latency"]["p999_ms"])))
            rows.append((lab, "server CPU per 1000 deliveries", "CPU-s", True,
                         m(lambda x, r: 1000 * x["cpu_presence"] / r["delivered"])))
            rows.append((lab, "server cores busy", "", True,
                         m(lambda x, r: x["cpu_presence"] / r["presence_s"])))
            rows.append((lab, "server RSS, peak during the changes", "MiB", True,
                         m(lambda x, r: x["rss_presence"] / 2**20)))
            rows.append((lab, "server CPU per login (roster get + initial presence, set-up "
                         f"at {args.presence_login_rate:g}/s)", "ms", True,
                         m(lambda x, r: 1000 * x["cpu_login"] / r["logins_ok"])))
        else:
            lab = (f"chat{over}: {p['users']} users, offered {p['rate']:g} msg/s for "
                   f"{args.chat_duration:g} s" + med)
            rows.append((lab, "delivered/s", "/s", False, m(lambda x, r: r["delivered_per_s"])))
            rows.append((lab, "lost (of sent)", "", True,
                         m(lambda x, r: f"{r['lost']} of {r['sent']}")))
            rows.append((lab, "latency p50", "ms", True, m(lambda x, r: r["latency"]["p50_ms"])))
            rows.append((lab, "latency p99", "ms", True, m(lambda x, r: r["latency"]["p99_ms"])))
            rows.append((lab, "latency p99.9", "ms", True, m(lambda x, r: r["latency"]["p999_ms"])))
            rows.append((lab, "server CPU per 1000 delivered", "CPU-s", True,
                         m(lambda x, r: 1000 * x["cpu_chat"] / r["delivered"])))
            rows.append((lab, "server cores busy", "", True,
                         m(lambda x, r: x["cpu_chat"] / r["chat_s"])))
            rows.append((lab, "server RSS", "MiB", True, m(lambda x, r: x["rss_chat"] / 2**20)))
            if ws:
                per_ws = m(lambda x, r: 1000 * x["cpu_chat"] / r["delivered"])
                per_sock = m(lambda x, r: 1000 * x["cpu_chat"] / r["delivered"], at=sock)
                rows.append((lab, "server CPU per 1000 delivered over the socket (the chat "
                             "run of this size)", "CPU-s", True, per_sock))
                rows.append((lab, WS_RATIO_ROW, "", True,
                             {k: (per_ws[k] / per_sock[k]
                                  if isinstance(per_ws.get(k), (int, float)) and
                                  isinstance(per_sock.get(k), (int, float)) and per_sock[k]
                                  else None) for k in per_ws}))
    return rows


WS_RATIO_ROW = "CPU per message, WebSocket / socket"


def federation_rows(results, servers, args, p, m, med):
    """Rows of one federation rate: the federated chat (both servers'
    CPU and RSS summed), the same chat on one server, and the ratio of
    their CPU per message (the median of the per-run ratios)."""
    tag = tag_of("federation", p)

    def ml(fn):
        """m() over the local reference runs."""
        out = {}
        for s in servers:
            res = results.get((s, tag + "-local"))
            if res and res.get("json"):
                try:
                    out[s] = fn(res, res["json"]["results"])
                except (KeyError, TypeError, ZeroDivisionError):
                    out[s] = None
        return out

    def mf(fn):
        """m() with the local reference too: fn(res, results JSON, why the
        same server's local run did not keep up or None)."""
        out = {}
        for s in servers:
            res, lr = results.get((s, tag)), results.get((s, tag + "-local"))
            if not (res and res.get("json")):
                continue
            try:
                lwhy = (fed_overload(lr["json"]["results"])
                        if lr and lr.get("json") else None)
                out[s] = fn(res, res["json"]["results"], lwhy)
            except (KeyError, TypeError, ZeroDivisionError):
                out[s] = None
        return out
    n, dur = p["users"], args.federation_duration
    lab = (f"federation: {n:,} users on each of two servers of a kind ({FED_DOMAINS[0]}, "
           f"{FED_DOMAINS[1]}, linked by s2s), offered {p['rate']:g} msg/s for "
           f"{dur:g} s, every message to a user of the other server" + med)
    # The CPU figures of a run that did not keep up are shown with the
    # reason and left out of the ratio to the best peer (fed_overload).
    rows = [(lab, "delivered/s", "/s", False, m(lambda x, r: r["delivered_per_s"])),
            (lab, "lost (of sent)", "", True, m(lambda x, r: f"{r['lost']} of {r['sent']}")),
            (lab, "latency p50", "ms", True, m(lambda x, r: r["latency"]["p50_ms"])),
            (lab, "latency p99", "ms", True, m(lambda x, r: r["latency"]["p99_ms"])),
            (lab, "latency p99.9", "ms", True, m(lambda x, r: r["latency"]["p999_ms"])),
            (lab, FED_CPU_ROW, "CPU-s", True,
             m(lambda x, r: overload_flag(1000 * x["cpu_chat"] / r["delivered"],
                                          fed_overload(r)))),
            (lab, "CPU per message, federated / local (median of the runs' ratios)", "x",
             True, mf(lambda x, r, lwhy: overload_flag(statistics.median(x["cpu_ratio_runs"]),
                                                       fed_overload(r) or
                                                       (lwhy and "local: " + lwhy)))),
            (lab, FED_SWITCH_ROW, "", True,
             m(lambda x, r: x["switches_chat"] / r["delivered"])),
            (lab, "server cores busy, both servers", "", True,
             m(lambda x, r: x["cpu_chat"] / r["chat_s"])),
            (lab, "server RSS, both servers", "MiB", True, m(lambda x, r: x["rss_chat"] / 2**20))]
    llab = (f"federation's reference, local chat: {n:,} users on one server, offered "
            f"{p['rate']:g} msg/s for {dur:g} s" + med)
    rows += [(llab, "delivered/s", "/s", False, ml(lambda x, r: r["delivered_per_s"])),
             (llab, "lost (of sent)", "", True, ml(lambda x, r: f"{r['lost']} of {r['sent']}")),
             (llab, "latency p50", "ms", True, ml(lambda x, r: r["latency"]["p50_ms"])),
             (llab, "latency p99", "ms", True, ml(lambda x, r: r["latency"]["p99_ms"])),
             (llab, "latency p99.9", "ms", True, ml(lambda x, r: r["latency"]["p999_ms"])),
             (llab, "server CPU per 1000 delivered", "CPU-s", True,
              ml(lambda x, r: overload_flag(1000 * x["cpu_chat"] / r["delivered"],
                                            fed_overload(r)))),
             (llab, "server context switches per delivered", "", True,
              ml(lambda x, r: x["switches_chat"] / r["delivered"])),
             (llab, "server cores busy", "", True, ml(lambda x, r: x["cpu_chat"] / r["chat_s"]))]
    return rows


FED_CPU_ROW = "server CPU per 1000 delivered, both servers"
# Wake-ups and preemptions of every thread of both servers (/proc), per
# message: a figure that does not change with the machine's speed or load
# the way CPU seconds do.
FED_SWITCH_ROW = "server context switches per delivered, both servers"


def fed_overload(r):
    """Why a federation run (or its local reference) did not keep up with
    the offered rate, or None.  The CPU is taken over xmppload's chat_s,
    the chat and the drain up to the last delivery, so a server that fell
    behind but delivered everything within the drain is charged all its
    work (at its ceiling, where it batches most: its cheapest price per
    message, the conservative one to compare xmppd with).  One that lost
    messages or bounced them is not: the window ended at the drain's
    deadline with work outstanding, and the CPU spent on the lost ones is
    divided among the delivered: Prosody's pair at 5000 msg/s on one core
    delivered 715/s and lost 86 %, and came out at 2.8 CPU-s per 1000
    delivered against 0.9 at 1000 msg/s.  Such a run stays in the table,
    marked, and out of the ratio to the best peer."""
    if r.get("lost") or r.get("errors"):
        return f"{r.get('lost')} lost, {r.get('errors')} errors"
    return None


def overload_flag(v, why):
    """v, or when why says the run did not keep up, v as text with the
    reason (a string: ratio() skips it)."""
    return v if not why else f"{fmtv(v)} (overloaded: {why})"


# What xmppd's configuration lets an attacker pin, for the RSS budget of the
# hostile run: preauth_max_stanza (16 KiB) of unparsed input per
# pre-authentication connection, as much again for that connection's own
# state (socket, record, parser), and one max_output_buffer (1 MiB) queued
# for the flooder's victim.  Defaults of docs/configuration.md.
PREAUTH_CONN_BYTES = 2 * 16384
VICTIM_QUEUE_BYTES = 1048576


def rss_budget(args, base_rss):
    if args.hostile_rss_budget:
        return args.hostile_rss_budget * 2**20
    if base_rss is None:
        return None
    return base_rss + (3 * args.attackers + args.hold_conns) * PREAUTH_CONN_BYTES + VICTIM_QUEUE_BYTES


def hostile_rows(results, servers, args, p, m, med):
    """Rows of one hostile run: the chat figures, server RSS and CPU; with
    attackers also the ratio to the run without, what the server did with
    each kind, the flood, and (xmppd) the RSS budget."""
    n = p["attackers"]
    btag = tag_of("hostile", dict(p, attackers=0))

    def base(s):
        b = results.get((s, btag))
        return b if b and b.get("json") else None

    def ms(fn):
        """m() with the server's name: fn(server, res, results JSON)."""
        out = {}
        for s in servers:
            res = results.get((s, tag_of("hostile", p)))
            if not (res and res.get("json")):
                continue
            try:
                out[s] = fn(s, res, res["json"]["results"])
            except (KeyError, TypeError, ZeroDivisionError):
                out[s] = None
        return out
    if n:
        lab = (f"hostile: {p['users']} users chatting at {p['rate']:g} msg/s for "
               f"{args.hostile_duration:g} s, WITH {n} attackers per kind, {args.hold_conns} held "
               "connections and a flooder" + med)
        if args.attack_kinds:
            lab = (f"hostile: {p['users']} users chatting at {p['rate']:g} msg/s for "
                   f"{args.hostile_duration:g} s, WITH only {args.attack_kinds} ({n} per kind)" + med)
    else:
        lab = (f"hostile: {p['users']} users chatting at {p['rate']:g} msg/s for "
               f"{args.hostile_duration:g} s, without attackers" + med)
    rows = [(lab, "lost (of sent)", "", True, m(lambda x, r: f"{r['lost']} of {r['sent']}")),
            (lab, "latency p50", "ms", True, m(lambda x, r: r["latency"]["p50_ms"])),
            (lab, "latency p99", "ms", True, m(lambda x, r: r["latency"]["p99_ms"]))]
    if n:
        def p99_ratio(s, x, r):
            return r["latency"]["p99_ms"] / base(s)["json"]["results"]["latency"]["p99_ms"]
        rows.append((lab, "latency p99, with / without attackers", "x", True, ms(p99_ratio)))
    rows += [(lab, "server cores busy", "", True, m(lambda x, r: x["cpu_chat"] / r["chat_s"])),
             (lab, "server RSS peak", "MiB", True, m(lambda x, r: x["rss_chat"] / 2**20))]
    if not n:
        return rows

    def rss_within(s, x, r):
        if s != "xmppd":
            return None
        budget = rss_budget(args, base(s)["rss_chat"] if base(s) else None)
        if budget is None:
            return None
        return f"{'yes' if x['rss_chat'] <= budget else 'NO'} (budget {budget / 2**20:.1f} MiB)"
    rows.append((lab, "xmppd RSS within its limits' budget", "", True, ms(rss_within)))
    for kind, what in (("amplify", "amplifying <a/> stanzas"), ("slow_token", "slow token"),
                       ("conn_flood", "connection flood"), ("sasl_loop", "SASL loops")):
        rows.append((lab, f"{what}: connections opened / closed by server", "", True,
                     m(lambda x, r, k=kind: f"{r['attack'][k]['opened']} / "
                                            f"{r['attack'][k]['closed_by_server']}")))
    rows.append((lab, "SASL loop elements sent", "", True,
                 m(lambda x, r: r["attack"]["sasl_loop"]["elements"])))
    rows.append((lab, "flooder: delivered of sent", "", True,
                 m(lambda x, r: f"{r['attack']['flood']['delivered']} of "
                                f"{r['attack']['flood']['sent']}")))
    rows.append((lab, "flooder disconnected", "", True,
                 m(lambda x, r: "yes" if r["attack"]["flood"]["flooder_disconnected"] else "no")))
    rows.append((lab, "victim stayed connected", "", True,
                 m(lambda x, r: "yes" if r["attack"]["flood"]["victim_connected"] else "NO")))
    return rows


def fmtv(v):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if abs(v) >= 0.01 or v == 0 else f"{v:.2g}"


def ratio(vals, lower_better):
    x = vals.get("xmppd")
    peers = [v for k, v in vals.items() if k != "xmppd" and isinstance(v, (int, float))]
    if not isinstance(x, (int, float)) or not peers:
        return "–"
    best = min(peers) if lower_better else max(peers)
    if best == 0:
        return "–"
    return f"{x / best:.3g}"


def write_report(results, meta, args, bounds):
    servers = args.servers
    rows = figures(results, servers, args)
    date = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    out = []
    out.append(f"# xmppd vs Prosody vs ejabberd — {date}\n")
    out.append("Command: `" + args.command_line + "`\n")
    out.append("Servers: " + ", ".join(f"{s} {meta.get(s, '?')}" for s in servers) + "  ")
    out.append(f"Machine: {bounds['machine']}  ")
    out.append(f"Bounds: {bounds['text']}  ")
    out.append("CPU pinning: " + (f"every server on CPU {args.server_cpus} (taskset; xmppd's threads = auto "
                                  f"then starts one mux thread per pinned CPU), xmppload on CPU {args.gen_cpus}"
                                  + (f"; the hostile scenario's attacker thread on CPU {first_cpu(args.server_cpus)} "
                                     "at SCHED_IDLE (its system calls run the server's side of loopback TCP)"
                                     if "hostile" in args.scenarios else "")
                                  if args.server_cpus else "none (servers and generator share all CPUs)") + "\n")
    out.append("Ratio = xmppd / best peer (below 1 is better for xmppd where lower is better; "
               "above 1 is better where higher is better).\n")
    hdr = "| scenario | figure | unit | " + " | ".join(servers) + " | xmppd / best peer |"
    out.append(hdr)
    out.append("|" + "---|" * (4 + len(servers)))
    last = None
    for (lab, fig, unit, lower, vals) in rows:
        out.append(f"| {lab if lab != last else ''} | {fig} | {unit} | " +
                   " | ".join(fmtv(vals.get(s)) for s in servers) + " | " +
                   (ratio(vals, lower) if "xmppd" in servers and not fig.startswith("lost") and
                    fig not in ("login failures", "sessions alive", "rosters of the wrong size",
                                "duplicates / errors / stray") and
                    not fig.startswith("initial presences") and fig != WS_RATIO_ROW and
                    not fig.startswith("presences from contacts") else "") + " |")
        last = lab
    out.append("")
    cb = crypto_bound(args)
    if cb:
        per_login = None
        for (lab, fig, unit, lower, vals) in rows:
            if fig == "server CPU per login":
                per_login = vals.get("xmppd")
        out.append(f"Crypto bound of one login on this machine: **{cb['crypto_bound_ms']:.3f} ms** of CPU "
                   f"(P-256 key share {cb['p256_keygen_ms']:.3f} + ECDH {cb['p256_ecdh_ms']:.3f} + "
                   f"ECDSA signature {cb['p256_sign_ms']:.3f} + TLS 1.3 key schedule "
                   f"{cb['key_schedule_ms']:.3f} + SCRAM-SHA-256 proof check {cb['scram_sha256_ms']:.3f} ms; "
                   "`bench/cryptobound`, the same wolfCrypt build as xmppd)" +
                   (f"; xmppd's server CPU per login is {per_login / cb['crypto_bound_ms']:.1f} times the bound."
                    if per_login else ".") + "\n")
    floors = send_floors(args, rows)
    if floors:
        out.append("Kernel floor of one presence delivery on this machine (`bench/sendfloor`: a program "
                   "that does nothing but send() 200-byte records, one TLS record's size, to the "
                   "scenario's connections over loopback, K at a time at the scenario's rate, "
                   "its reader asleep on the generator's CPU; the sender's CPU per send(), which on "
                   "loopback includes the receiver's TCP input and wake-up): " +
                   "; ".join(f"rosters of {k}: {f['us_per_write']:.2f} µs, i.e. "
                             f"{f['us_per_write'] / 1000:.4f} CPU-s per 1000 deliveries"
                             for k, f in sorted(floors.items())) + ".\n")
    tg = targets_text(rows, floors)
    if tg:
        out.append(tg + "\n")
    fs = fed_summary(rows, servers)
    if fs:
        out.append(fs + "\n")
    st = stall_text(bounds.get("stalls", {}))
    if st:
        out.append("Host wake-up stalls on the idle machine (`bench/stallmeter`: "
                   f"{args.stall_seconds:g} s of 100 µs sleeps per pinned CPU). A stall delays every "
                   "message in flight: one that arrives in the first L - X ms of an L ms stall waits more "
                   "than X, so when stalls over 2 ms add up to 1% of the time (10 ms a second), a p99 "
                   "under 2 ms is out of reach whatever the server does; the p99 floor is that delay "
                   "from the stalls alone: " + st + ".\n")
    out.append("Server processes sampled: " + "; ".join(
        f"{s}: " + ", ".join(sorted({c for (n, _), r in results.items() if n == s
                                      for c in r.get("server_procs", [])}))
        for s in servers) + "\n")
    out.append("Rosters (presence, roster-login): a ring over user1..userN, user i's contacts "
               "the K/2 users either side (mod N), all subscription 'both', written into each "
               "server's storage before the run by `bench/lib/rosters.py` (xmppd: rows in its "
               "SQLite store while stopped, a bench-only shortcut until xmppctl has a roster "
               "command; Prosody: data/HOST/roster/USER.dat files while stopped; ejabberd: "
               "mnesia:dirty_write of #roster{} records through one rpc, then a restart); "
               "xmppload checks that every roster it gets has K items.\n")
    if "idle-roster" in args.scenarios:
        k, c = args.idle_roster_size, args.idle_roster_online
        h, mo = c // 2, k - c
        out.append(f"Rosters (idle-roster, `rosters.idle_layout`): user1..userN log in, "
                   f"user(N+1)..user(4N) exist and stay offline. Online user i (0-based) has "
                   f"{k} items, all 'both': its ring neighbours i-{h}..i-1, i+1..i+{h}"
                   + (" and the user opposite, i+N/2" if c % 2 else "") +
                   f" (mod N), i.e. {c} online contacts in a symmetric relation, and the {mo} "
                   f"offline users of offline indices 3i..3i+{mo - 1} (mod 3N); each offline user "
                   f"has the {mo // 3} online users that list it, so every item is mutual (4N "
                   f"accounts, {k + mo}N items in all). Every login gets its roster (xmppload checks "
                   f"{k} items) and sends initial presence, so each session is owed one presence "
                   f"from each of its {c} online contacts. RSS per session = (RSS at the end of the "
                   "hold - RSS of the idle server before the logins) / sessions; xmppd runs with "
                   f"[limits] idle_sleep = {args.xmppd_idle_sleep}, as in the idle scenario.\n")
    if "federation" in args.scenarios:
        out.append(fed_text(args))
    out.append("Commands behind the figures (one xmppload run each; the server was started "
               "fresh before each):\n")
    for (n, tag), r in sorted(results.items()):
        if r.get("cmd"):
            out.append(f"- {n} {tag}: `{r['cmd']}`")
    out.append("")
    out.append("Per-run generator logs and JSON: `" + os.path.relpath(args.results_run, os.path.dirname(BENCH)) + "/`\n")
    plots = make_plots(results, args, date)
    for title, png in plots:
        out.append(f"![{title}]({os.path.basename(png)})\n")
    md = "\n".join(out)
    res_dir = os.path.join(BENCH, "results")
    path = os.path.join(res_dir, f"compare-{date}.md")
    open(path, "w").write(md)
    shutil.copy(path, os.path.join(res_dir, "latest.md"))
    # the raw data, for a later look
    with open(os.path.join(args.results_run, "results.json"), "w") as f:
        json.dump({f"{k[0]}/{k[1]}": v for k, v in results.items()}, f, indent=1, default=str)
    log("\n" + md)
    log(f"\ncompare: wrote {path} and {res_dir}/latest.md")


def fed_text(args):
    """The report's paragraph on how the federation pairs ran."""
    pp = {s: fed_ports(args, s) for s in args.servers}
    a, b = FED_DOMAINS
    each = []
    if "xmppd" in pp:
        c2s, s2s, _ = pp["xmppd"]
        each.append(
            f"xmppd: {a} on 127.0.0.1:{c2s[0]} and {b} on :{c2s[1]}, each with a STARTTLS s2s "
            f"listener (:{s2s[0]}, :{s2s[1]}), the CA as [s2s] ca_file (SASL EXTERNAL) and an "
            "[s2s_route] to the other (no DNS); "
            + (f"the s2s listener's read rate {args.federation_s2s_rate} bytes/s per "
               "connection (0 = unlimited; the default, 16384 after a 128 KiB burst, "
               "would cap the link that carries all users' messages); "
               if args.federation_s2s_rate >= 0 else "the s2s listener's default read "
               "rate (16384 bytes/s per connection after a 128 KiB burst); ") +
            "otherwise the same ini as the single xmppd")
    if "prosody" in pp:
        c2s, s2s, _ = pp["prosody"]
        each.append(
            f"Prosody: c2s on :{c2s[0]} and :{c2s[1]}, s2s on :{s2s[0]} and :{s2s[1]}, "
            "s2s_require_encryption and s2s_secure_auth with the CA as ssl.cafile, no "
            "mod_dialback (SASL EXTERNAL both ways), the peer found by SRV and A records "
            "from a DNS server of the harness on loopback (lua-unbound's forwarder; Prosody "
            "has no static s2s route); otherwise the single Prosody's configuration "
            "(bench/configs/prosody.cfg.lua.in with prosody-s2s.cfg.lua.in)")
    if "ejabberd" in pp:
        c2s, s2s, dist = pp["ejabberd"]
        each.append(
            f"ejabberd: c2s on :{c2s[0]} and :{c2s[1]}, ejabberd_s2s_in on :{s2s[0]} and "
            f":{s2s[1]} (shaper none), two Erlang nodes (distribution ports {dist[0]}, "
            f"{dist[1]}), s2s_use_starttls required with the CA as s2s_cafile, no "
            "mod_s2s_dialback (SASL EXTERNAL both ways), the peer found by an SRV record "
            "from the same kind of DNS server (the Erlang resolver's inetrc); otherwise the "
            "single ejabberd's configuration (ejabberd.yml.in with ejabberd-s2s.yml.in)")
    return (f"Federation: per server kind a pair of its own, {a} and {b}, each with a "
            "certificate for its domain from a test CA made for the run (openssl, P-256) and "
            "TLS and that certificate required on its s2s link. " + "; ".join(each) +
            ". xmppd holds the accounts user1..user2N on both, Prosody and ejabberd only "
            "the half that logs in to each. The two servers of a pair run on the server "
            "CPU" + (f" ({args.server_cpus})" if args.server_cpus else "") +
            ", together, and their CPU is summed. One xmppload logs user1..userN in to "
            f"{a} and user(N+1)..user(2N) to {b} (`--peer-host`) at "
            f"{args.federation_login_rate:g}/s; one ping from a user to the other domain "
            "brings both s2s links up before the measured phase, then every message goes "
            "to a random user of the other server. Each repetition runs the local chat (N "
            "users on the single server of the kind, same rate) and then the federated one, "
            "alternating, so that a change in the machine's load falls on both; 'federated "
            "/ local' is the median of the per-run ratios of CPU per delivered message. "
            "The CPU is counted over the chat and the drain up to the last delivery, so a "
            "pair that fell behind (latency, server cores busy near 1) but delivered "
            f"everything within the {args.chat_drain:g} s drain is charged all its work; "
            "one that lost messages or bounced them did not keep up: its window ended with "
            "work outstanding and the CPU of the lost messages is divided among the "
            "delivered, so its CPU figure is marked 'overloaded' and it is no 'best peer'.\n")


def targets_text(rows, floors=None):
    """xmppd's roster targets (issue 11 item 14), reported, never asserted:
    CPU per presence delivery at most 1/10 of the best peer's, at most 1 ms
    of server CPU per login with a roster, at most 4 KiB of RSS per idle
    session with its roster (100 items, 25 online) at 10,000 sessions; and
    the federation targets (issue 12 item 10): CPU per federated message at
    most 1.5 times a local one's, and at most 1/5 of the best peer's."""
    parts = []
    for (lab, fig, unit, lower, vals) in rows:
        x = vals.get("xmppd")
        if not isinstance(x, (int, float)):
            continue
        if fig == "server CPU per 1000 deliveries":
            peers = [v for k, v in vals.items() if k != "xmppd" and isinstance(v, (int, float))]
            if peers:
                r = x / min(peers)
                k = presence_k(lab)
                floor = (floors or {}).get(k)
                below = (f"; the target, {min(peers) / 10:.4f} CPU-s per 1000 deliveries, is "
                         f"below the kernel floor of the send() alone, "
                         f"{floor['us_per_write'] / 1000:.4f}"
                         if floor and min(peers) / 10 < floor["us_per_write"] / 1000 else "")
                parts.append(f"{lab.split(',')[1].strip()}: xmppd's CPU per presence delivery is "
                             f"{r:.3g} of the best peer's (target at most 0.1: "
                             f"{'met' if r <= 0.1 else 'NOT met'}{below})")
        if fig.startswith("CPU per message, federated / local"):
            parts.append(f"at {lab.split('offered ')[1].split(' for')[0]}, xmppd's CPU per "
                         f"federated message (both servers) is {x:.3g} times a local one's "
                         f"(target at most 1.5: {'met' if x <= 1.5 else 'NOT met'})")
        if fig == FED_CPU_ROW:
            # only the peer pairs that kept up (a number, not overload_flag's text)
            rate = lab.split("offered ")[1].split(" for")[0]
            peers = {k: v for k, v in vals.items() if k != "xmppd" and isinstance(v, (int, float))}
            left = [k for k, v in vals.items() if k != "xmppd" and isinstance(v, str)]
            out = (f"; {' and '.join(left)} did not keep up at this rate and "
                   f"{'is' if len(left) == 1 else 'are'} left out" if left else "")
            if peers:
                best = min(peers, key=peers.get)
                r = x / peers[best]
                parts.append(f"at {rate}, xmppd's CPU per federated message is {r:.3g} of the best "
                             f"peer pair's ({best}; target at most 0.2: "
                             f"{'met' if r <= 0.2 else 'NOT met'}){out}")
            elif left:
                parts.append(f"at {rate}, no peer pair kept up, so xmppd's CPU per federated "
                             f"message is not compared there{out}")
        if fig == WS_RATIO_ROW:
            parts.append(f"at {lab.split('offered ')[1].split(' for')[0]}, xmppd's CPU per chat "
                         f"message over WebSocket is {x:.3g} times over the socket (target at "
                         f"most 1.3: {'met' if x <= 1.3 else 'NOT met'})")
        if fig.startswith("RSS per session at the end (after") and lab.startswith("idle over WebSocket"):
            n = int(lab.split("): ")[1].split("sessions")[0].replace(",", ""))
            parts.append(f"xmppd's RSS per idle WebSocket session at {n:,} sessions is {x:.3g} KiB "
                         "(target at most 4 KiB at 10,000 sessions: "
                         + (f"{'met' if x <= 4 else 'NOT met'})" if n >= 10000 else
                            "not judged at this size)"))
        if fig == "server CPU per login" and lab.startswith("login with a roster"):
            parts.append(f"xmppd's server CPU per login with a roster is {x:.3g} ms (target at most "
                         f"1 ms: {'met' if x <= 1 else 'NOT met'})")
        if fig.startswith("RSS per session with its roster at the end"):
            n = int(lab.split(":")[1].split("sessions")[0].replace(",", ""))
            parts.append(f"xmppd's RSS per idle session with its roster ({lab.split('rosters of ')[1].split(',')[0]}) "
                         f"at {n:,} sessions is {x:.3g} KiB (target at most 4 KiB at 10,000 sessions: "
                         + (f"{'met' if x <= 4 else 'NOT met'})" if n >= 10000 else
                            "not judged at this size)"))
    return ("Targets for xmppd (reported, not asserted): " + "; ".join(parts) + ".") if parts else ""


def fed_summary(rows, servers):
    """One line per federation rate: each pair's CPU-s per 1000 federated
    messages (both servers summed) and xmppd / the best peer pair that kept
    up, the figures of the issue's target (issue 12 item 10) without the
    rest of the table."""
    def rate_of(lab):
        return lab.split("offered ")[1].split(" for")[0]
    switches = {rate_of(lab): vals for (lab, fig, _, _, vals) in rows if fig == FED_SWITCH_ROW}
    lines = []
    for (lab, fig, unit, lower, vals) in rows:
        if fig != FED_CPU_ROW:
            continue
        rate = rate_of(lab)
        each = ", ".join(f"{s} {fmtv(vals[s])}" for s in servers if s in vals)
        r = ratio(vals, True) if "xmppd" in vals else "–"
        sw = switches.get(rate, {})
        sws = ", ".join(f"{s} {sw[s]:.2f}" for s in servers
                        if isinstance(sw.get(s), (int, float)))
        lines.append(f"- at {rate}: {each}; xmppd / best peer pair {r}" +
                     (f" (context switches per federated message: {sws})" if sws else ""))
    if not lines:
        return ""
    return ("Federation, CPU-s per 1000 federated messages, both servers of a pair summed "
            "(a pair that did not keep up is marked and not a 'best peer'):\n\n" + "\n".join(lines))


def presence_k(label):
    """K of a presence row's label ("presence: N users, rosters of K ...")."""
    m = re.search(r"rosters of (\d+) mutual", label)
    return int(m.group(1)) if m else None


def first_cpu(cpus):
    """The first CPU of a taskset list ("0", "1-3", "2,5"), or -1."""
    head = (cpus or "").split(",")[0].split("-")[0]
    return int(head) if head.isdigit() else -1


def send_floors(args, rows):
    """{K: sendfloor JSON} for each presence row of the report (K the
    roster size): the kernel's price of the send()s the scenario owes,
    measured with the scenario's connections, burst and rate.  {} without
    the binary or without presence rows."""
    if not args.sendfloor or not os.path.exists(args.sendfloor):
        return {}
    out = {}
    for (lab, fig, unit, lower, vals) in rows:
        if fig != "server CPU per 1000 deliveries":
            continue
        k = presence_k(lab)
        m = re.search(r"presence: (\d+) users.*owed ([\d,]+) deliveries/s", lab)
        if not k or not m or k in out:
            continue
        cmd = [args.sendfloor, "--conns", m.group(1), "--size", "200",
               "--rate", m.group(2).replace(",", ""), "--burst", str(k), "--seconds", "3",
               "--sender-cpu", str(first_cpu(args.server_cpus)),
               "--reader-cpu", str(first_cpu(args.gen_cpus)), "--json"]
        f = json_of(cmd, "kernel floor")
        if f:
            out[k] = f
    return out


def stall_meter(args):
    """The host's wake-up stalls on each pinned CPU, measured at once on
    all of them while no server runs: {cpu: stallmeter JSON}, {} without
    the binary."""
    if not args.stallmeter or not os.path.exists(args.stallmeter):
        return {}
    cpus = [c for c in (args.server_cpus.split(",")[:1] + args.gen_cpus.split(",")[:1]) if c]
    if not cpus:
        cpus = ["any"]
    log(f"compare: stallmeter {args.stall_seconds:g} s on CPU {', '.join(cpus)}")
    procs = {}
    for c in cpus:
        cmd = [args.stallmeter, "--seconds", f"{args.stall_seconds:g}", "--json"]
        procs[c] = subprocess.Popen(cmd if c == "any" else pinned(cmd, c),
                                    stdout=subprocess.PIPE, text=True)
    out = {}
    for c, pr in procs.items():
        try:
            so, _ = pr.communicate(timeout=args.stall_seconds + 30)
            out[c] = json.loads(so.strip().splitlines()[-1])
        except (subprocess.SubprocessError, ValueError, IndexError):
            pr.kill()
            log(f"compare: stallmeter on CPU {c} failed")
    return out


def stall_text(stalls):
    """One sentence per stallmeter run for the report."""
    parts = []
    for when in ("before", "after"):
        for cpu, m in stalls.get(when, {}).items():
            parts.append(f"{when} the scenarios, CPU {cpu}: {m['late_over_1ms_per_s']:.2f}/s late by over "
                         f"1 ms ({m['late_over_2ms_per_s']:.2f}/s over 2 ms), longest {m['longest_ms']:.1f} ms, "
                         f"lateness p99 {m['lateness_p99_ms']:.3f} ms" +
                         (f", p99 floor {m['p99_floor_ms']:.2f} ms" if "p99_floor_ms" in m else ""))
    return "; ".join(parts)


def json_of(cmd, what):
    """The JSON object on the last line a bench helper (cryptobound,
    sendfloor) prints, or None, logged, when it fails; `what` names the
    figure missing from the report then."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        log(f"compare: {' '.join(cmd)} failed; no {what} in the report")
        return None


def crypto_bound(args):
    """The cryptobound figures as a dict, or None without the binary."""
    if not args.cryptobound or not os.path.exists(args.cryptobound):
        return None
    return json_of([args.cryptobound, "--json"], "crypto bound")


def make_plots(results, args, date):
    if not shutil.which("gnuplot"):
        log("compare: gnuplot missing, no plots")
        return []
    res_dir = os.path.join(BENCH, "results")
    plot_dir = os.path.join(BENCH, "plot")
    servers = args.servers
    made = []
    dat = os.path.join(args.results_run, "plot")
    os.makedirs(dat, exist_ok=True)

    def gp(script, png, **vars_):
        e = "; ".join(f"{k}='{v}'" for k, v in vars_.items())
        r = subprocess.run(["gnuplot", "-e", e, os.path.join(plot_dir, script)],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            log(f"compare: gnuplot {script}: {r.stderr.strip()[:400]}")
            return False
        return os.path.exists(png)

    def rss_plot():
        # RSS against sessions: one line per server
        with open(os.path.join(dat, "rss.dat"), "w") as f:
            f.write("# sessions " + " ".join(servers) + "  (MiB, '-' = no figure)\n")
            f.write("0 " + " ".join(fmt_num(first_base(results, s)) for s in servers) + "\n")
            for n in args.idle_sessions:
                row = [str(n)]
                for s in servers:
                    res = results.get((s, f"idle-{n}"))
                    row.append(fmt_num(res["rss_settled"] / 2**20) if res and res.get("json") else "-")
                f.write(" ".join(row) + "\n")
        png = os.path.join(res_dir, f"rss-{date}.png")
        if gp("rss.gp", png, datafile=f.name, outfile=png, servers=" ".join(servers)):
            made.append(("Server RSS against idle sessions", png))

    def chat_plots():
        # Latency and CPU per 1000 messages: one cluster per (chat rate), bars per server
        with open(os.path.join(dat, "latency.dat"), "w") as f, \
                open(os.path.join(dat, "cpu.dat"), "w") as g:
            f.write("# label server p50 p99 p999 (ms)\n")
            g.write("# label " + " ".join(servers) + " (CPU-s per 1000 delivered)\n")
            for r in args.chat_rates:
                tag = f"chat-{args.chat_users}-{r:g}"
                crow = [f'"{r:g} msg/s"']
                for s in servers:
                    res = results.get((s, tag))
                    if res and res.get("json"):
                        lat = res["json"]["results"].get("latency", {})
                        f.write(f'"{s} {r:g}/s" {fmt_num(lat.get("p50_ms"))} '
                                f'{fmt_num(lat.get("p99_ms"))} {fmt_num(lat.get("p999_ms"))}\n')
                        d = res["json"]["results"].get("delivered", 0)
                        crow.append(fmt_num(1000 * res["cpu_chat"] / d) if d else "-")
                    else:
                        crow.append("-")
                g.write(" ".join(crow) + "\n")
        png = os.path.join(res_dir, f"latency-{date}.png")
        if gp("latency.gp", png, datafile=f.name, outfile=png):
            made.append(("Message latency p50 / p99 / p99.9 (log scale)", png))
        png = os.path.join(res_dir, f"cpu-{date}.png")
        if gp("cpu.gp", png, datafile=g.name, outfile=png, servers=" ".join(servers)):
            made.append(("Server CPU-seconds per 1000 delivered messages", png))

    # Only the plots of the scenarios that ran (a --scenarios hostile run has none).
    if "idle" in args.scenarios:
        rss_plot()
    if "chat" in args.scenarios:
        chat_plots()
    for _, p in made:
        shutil.copy(p, os.path.join(res_dir, os.path.basename(p).rsplit("-", 4)[0] + "-latest.png"))
    return made


def first_base(results, s):
    for (n, tag), r in results.items():
        if n == s and tag.startswith("idle") and r.get("json"):
            return r["rss_base"] / 2**20
    return None


def fmt_num(v):
    return "-" if v is None else f"{v:.4g}"


# ---------------------------------------------------------------- main

def ints(s):
    return [int(x) for x in s.split(",") if x]


def floats(s):
    return [float(x) for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser(prog="bench/compare.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="xmppd,prosody,ejabberd")
    ap.add_argument("--repeat", type=int,
                    help="runs of each login and chat scenario per server, reported as the "
                         "median of each figure (full: 3, --quick: 1)")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--login-users", type=int)
    ap.add_argument("--login-rate", type=float)
    ap.add_argument("--idle-sessions", type=ints, help="comma list, e.g. 1000,5000,10000")
    ap.add_argument("--idle-duration", type=float)
    ap.add_argument("--chat-users", type=int)
    ap.add_argument("--chat-rates", type=floats, help="comma list of offered msg/s")
    ap.add_argument("--chat-duration", type=float)
    ap.add_argument("--chat-drain", type=float, default=5)
    ap.add_argument("--scenarios",
                    default="login,idle,chat,hostile,presence,roster-login,idle-roster,federation",
                    help="comma list of login, idle, chat, hostile, presence, roster-login, "
                         "idle-roster, federation (all of these), login-ws, idle-ws, chat-ws "
                         "(over WebSocket, wss://; only when named)")
    ap.add_argument("--no-ws-reference", action="store_true",
                    help="idle-ws and chat-ws without the socket idle and chat runs of the same "
                         "sizes beside them (which run by default when not named)")
    ap.add_argument("--federation-users", type=int,
                    help="federation: users on each of the two servers (full 1000, --quick 100); "
                         "the local reference chat has as many on one server")
    ap.add_argument("--federation-rates", type=floats,
                    help="federation: comma list of offered msg/s (full 1000,5000: at 1000 "
                         "every pair delivers everything on one core; at 5000 Prosody's loses "
                         "most and ejabberd's runs seconds late; --quick 1000)")
    ap.add_argument("--federation-login-rate", type=float, default=200,
                    help="federation: logins/s before the chat (below --setup-login-rate: at "
                         "500/s ejabberd on one core falls behind and resets connections)")
    ap.add_argument("--federation-duration", type=float,
                    help="federation: seconds of chat per run (full 10, --quick 5)")
    ap.add_argument("--federation-s2s-rate", type=int, default=0,
                    help="federation: xmppd's s2s listener 'rate' in bytes/s per connection "
                         "(0 = unlimited; -1 = xmppd's default, 16384, which caps the link)")
    ap.add_argument("--federation-repeat", type=int,
                    help="federation: runs of each of the federated and the local chat, "
                         "alternating (full 3, --quick 1); the table shows medians")
    ap.add_argument("--presence-users", type=int, help="presence: users (all online)")
    ap.add_argument("--presence-roster-sizes", type=ints,
                    help="presence: comma list of roster sizes K (even), one run each")
    ap.add_argument("--presence-rate", type=float, help="presence: presence changes/s, all users")
    ap.add_argument("--presence-duration", type=float, help="presence: seconds of changes")
    ap.add_argument("--presence-settle", type=float, default=20,
                    help="presence: longest wait for the initial presences after the logins")
    ap.add_argument("--presence-login-rate", type=float, default=100,
                    help="presence: logins/s before the changes (below --setup-login-rate: at "
                         "500/s with rosters ejabberd on one core falls behind and drops "
                         "connections)")
    ap.add_argument("--roster-login-size", type=int, default=100,
                    help="roster-login: contacts per roster (the login scenario with rosters)")
    ap.add_argument("--idle-roster-sessions", type=ints,
                    help="idle-roster: comma list of session counts N for xmppd (4N accounts; "
                         "full 10000, --quick 500)")
    ap.add_argument("--idle-roster-peer-sessions", type=ints,
                    help="idle-roster: session counts for Prosody and ejabberd (default: "
                         "--idle-roster-sessions)")
    ap.add_argument("--idle-roster-size", type=int, default=100,
                    help="idle-roster: roster items per online user")
    ap.add_argument("--idle-roster-online", type=int, default=25,
                    help="idle-roster: of which online contacts (odd: the ring plus the user "
                         "opposite; the rest, a multiple of 3, offline accounts)")
    ap.add_argument("--idle-roster-login-rate", type=float, default=200,
                    help="idle-roster: logins/s (roster get + initial presence) before the hold")
    ap.add_argument("--hostile-users", type=int, help="hostile: chat users")
    ap.add_argument("--hostile-rate", type=float, help="hostile: offered msg/s")
    ap.add_argument("--hostile-duration", type=float, help="hostile: seconds of chat and attack")
    ap.add_argument("--attackers", type=int,
                    help="hostile: connections per pre-auth attacker kind (amplifying stanzas, "
                         "slow token, SASL loops)")
    ap.add_argument("--hold-conns", type=int, help="hostile: connections the connection flood holds")
    ap.add_argument("--attack-kinds",
                    help="hostile: only these attacker kinds (xmppload's --attack-kinds: "
                         "amplify,slow_token,conn_flood,sasl_loop,flooder; default all), to "
                         "tell what each costs the chat")
    ap.add_argument("--hostile-rss-budget", type=float,
                    help="hostile: xmppd's RSS budget in MiB (default: its RSS without attackers + "
                         "32 KiB per attacker connection + 1 MiB for the victim's queue)")
    ap.add_argument("--setup-login-rate", type=float, default=500,
                    help="login rate before idle/chat phases")
    ap.add_argument("--max-pending", type=int, default=200)
    ap.add_argument("--login-timeout", type=float, default=120)
    ap.add_argument("--mech", default="SCRAM-SHA-256")
    ap.add_argument("--user-format", default="user%d")
    ap.add_argument("--password-format", default="pass%d")
    ap.add_argument("--source-ips", default="127.0.0.2-127.0.0.9")
    ap.add_argument("--source-ips-above", type=int, default=20000,
                    help="use --source-ips only above this many sessions")
    ap.add_argument("--gen-threads", type=int, default=0)
    ap.add_argument("--server-cpus", default=None,
                    help="taskset CPU list for every server (default: the first CPU we may use, "
                         "when there are 2 or more; 'none' = no pinning)")
    ap.add_argument("--gen-cpus", default=None,
                    help="taskset CPU list for xmppload (default: the other CPUs)")
    ap.add_argument("--xmppd-threads", default="auto")
    ap.add_argument("--xmppd-port", type=int, default=25222)
    ap.add_argument("--xmppd-idle-sleep", type=int, default=10,
                    help="xmppd's [limits] idle_sleep in seconds; keep it below --idle-duration")
    ap.add_argument("--prosody-port", type=int, default=25232)
    ap.add_argument("--ejabberd-port", type=int, default=25242)
    ap.add_argument("--ejabberd-dist-port", type=int, default=25249)
    ap.add_argument("--xmppd", required=True)
    ap.add_argument("--xmppctl", required=True)
    ap.add_argument("--xmppload", required=True)
    ap.add_argument("--cryptobound", default="",
                    help="bench/cryptobound binary: the crypto bound printed beside the login figure")
    ap.add_argument("--sendfloor", default="",
                    help="bench/sendfloor binary: the kernel's price of a delivery printed beside the presence figures")
    ap.add_argument("--stallmeter", default="",
                    help="bench/stallmeter binary: the host's wake-up stalls printed beside the chat latency")
    ap.add_argument("--stall-seconds", type=float, default=10,
                    help="length of each stallmeter run (before the first scenario and after the last)")
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--bounds", default="")
    ap.add_argument("--machine", default="")
    ap.add_argument("--command-line", default="bench/compare.sh")
    args = ap.parse_args()

    q = args.quick
    dflt = {"login_users": (200, 1000), "login_rate": (100, 200),
            "idle_sessions": ([200, 500], [1000, 5000, 10000]), "idle_duration": (15, 25),
            "chat_users": (100, 1000), "chat_rates": ([500, 2000], [2000, 10000]),
            "chat_duration": (5, 20), "repeat": (1, 3),
            "hostile_users": (200, 1000), "hostile_rate": (1000, 2000),
            "hostile_duration": (10, 20), "attackers": (10, 20), "hold_conns": (100, 200),
            "presence_users": (200, 1000), "presence_roster_sizes": ([20], [50, 200]),
            "presence_rate": (100, 200), "presence_duration": (5, 20),
            "idle_roster_sessions": ([500], [10000]),
            "federation_users": (100, 1000), "federation_rates": ([1000], [1000, 5000]),
            "federation_duration": (5, 10), "federation_repeat": (1, 3)}
    for k, (qv, fv) in dflt.items():
        if getattr(args, k) is None:
            setattr(args, k, qv if q else fv)
    # the CPUs we may use (not necessarily 0..n-1 in a container)
    mine = sorted(os.sched_getaffinity(0))
    if args.server_cpus is None:
        args.server_cpus = str(mine[0]) if len(mine) >= 2 else "none"
    if args.server_cpus == "none":
        args.server_cpus, args.gen_cpus = "", (args.gen_cpus or "")
    elif args.gen_cpus is None:
        args.gen_cpus = ",".join(str(c) for c in mine[1:]) or "none"
    if args.gen_cpus == "none":
        args.gen_cpus = ""
    if args.idle_roster_peer_sessions is None:
        args.idle_roster_peer_sessions = list(args.idle_roster_sessions)
    args.servers = [s for s in args.servers.split(",") if s]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for s in args.scenarios:
        if s not in ("login", "idle", "chat", "hostile", "presence", "roster-login", "idle-roster",
                     "federation") + WS_SCENARIOS:
            ap.error(f"unknown scenario {s}")
    # idle-ws and chat-ws are reported beside the socket runs of the same
    # sizes (RSS per session; CPU per message and the WebSocket / socket
    # ratio): those run too unless --no-ws-reference.
    if not args.no_ws_reference:
        for w in ("idle-ws", "chat-ws"):
            if w in args.scenarios and base_scen(w) not in args.scenarios:
                args.scenarios.insert(args.scenarios.index(w), base_scen(w))
    if "idle-roster" in args.scenarios:
        for n in set(args.idle_roster_sessions) | set(args.idle_roster_peer_sessions):
            try:  # the layout's own checks, before any server is set up
                next(rosters.idle_layout(n, args.idle_roster_size, args.idle_roster_online))
            except ValueError as e:
                ap.error(f"idle-roster: {e}")
    for s in args.servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s}")
    args.cert = os.path.join(args.run_dir, "cert/localhost.pem")
    args.key = os.path.join(args.run_dir, "cert/localhost.key")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    args.results_run = os.path.join(BENCH, "results", "runs", stamp)
    os.makedirs(args.results_run, exist_ok=True)

    log(f"compare: servers {','.join(args.servers)}; login {args.login_users}@{args.login_rate:g}/s; "
        f"idle {args.idle_sessions} for {args.idle_duration:g} s; chat {args.chat_users} users at "
        f"{args.chat_rates} msg/s for {args.chat_duration:g} s; hostile {args.hostile_users} users "
        f"at {args.hostile_rate:g} msg/s for {args.hostile_duration:g} s with {args.attackers} "
        f"attackers per kind and {args.hold_conns} held connections; presence "
        f"{args.presence_users} users with rosters of {args.presence_roster_sizes} at "
        f"{args.presence_rate:g} changes/s for {args.presence_duration:g} s; roster-login with "
        f"{args.roster_login_size} contacts; idle-roster {args.idle_roster_sessions} sessions "
        f"(peers {args.idle_roster_peer_sessions}) with rosters of {args.idle_roster_size}, "
        f"{args.idle_roster_online} online; federation {args.federation_users} users per server at "
        f"{args.federation_rates} msg/s for {args.federation_duration:g} s, "
        f"{args.federation_repeat} runs; scenarios "
        f"{','.join(args.scenarios)}; {args.mech}; TLS via STARTTLS (-ws: wss://, TLS from the "
        "first byte)")
    stalls = {"before": stall_meter(args)}
    results, meta = run_all(args)
    stalls["after"] = stall_meter(args)
    write_report(results, meta, args, {"text": args.bounds, "machine": args.machine, "stalls": stalls})


if __name__ == "__main__":
    main()
