"""Integration-test harness for xmppd.

Starts a real xmppd in a temporary directory with a generated configuration,
certificate and accounts, and offers small helpers to talk to it:

- Server: temp dir, free loopback ports, ini, `xmppctl init`, `cert generate`,
  `xmppctl adduser`, start (wait for "ready"), stop with SIGTERM (exit code 0,
  log free of error lines and sanitizer reports).  The process is only ever
  signalled through the pid this class started.
- RawClient: a plain or TLS socket that can send bytes and read until a
  substring appears (or a timeout), upgrade to TLS (STARTTLS), and run a
  second TLS session inside the first (TLS inside TLS, via ssl.MemoryBIO).
- make_client(): a slixmpp ClientXMPP that verifies the server certificate
  and connects over STARTTLS or direct TLS.

The binaries come from the environment (XMPPD, XMPPCTL) or the command line
(--xmppd PATH --xmppctl PATH), see binaries().
"""

import asyncio
import base64
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

LOCALHOST = "127.0.0.1"
DOMAIN = "localhost"
STREAM_NS = "http://etherx.jabber.org/streams"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
STANZA_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
STREAMS_ERR_NS = "urn:ietf:params:xml:ns:xmpp-streams"

if os.environ.get("XMPPD_IT_VERBOSE") != "1":
    # slixmpp logs expected failures (bad certificate, wrong password) loudly
    import logging
    logging.getLogger("slixmpp").setLevel(logging.CRITICAL)

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "UndefinedBehaviorSanitizer")
ERROR_LINE = re.compile(r"^\S+ error ", re.M)


def binaries(argv=None):
    """Return (xmppd, xmppctl) from --xmppd/--xmppctl in argv (removed from
    it) or the XMPPD/XMPPCTL environment variables."""
    argv = sys.argv if argv is None else argv
    found = {"--xmppd": os.environ.get("XMPPD"), "--xmppctl": os.environ.get("XMPPCTL")}
    i = 1
    while i < len(argv):
        if argv[i] in found and i + 1 < len(argv):
            found[argv[i]] = argv[i + 1]
            del argv[i:i + 2]
        else:
            i += 1
    xmppd, xmppctl = found["--xmppd"], found["--xmppctl"]
    for name, path in (("xmppd", xmppd), ("xmppctl", xmppctl)):
        if not path or not os.access(path, os.X_OK):
            raise SystemExit("harness: %s binary not given or not executable: %r "
                             "(set %s or pass --%s)" % (name, path, name.upper(), name))
    return xmppd, xmppctl


def free_ports(n):
    """n distinct, currently free TCP ports on the loopback.  All n sockets
    are bound (to port 0) before any is closed: one at a time, the kernel
    may hand out the same port twice, and two listeners then clash."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((LOCALHOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def stream_header(to=DOMAIN, version="1.0", xmlns="jabber:client",
                  stream_ns=STREAM_NS, decl=True):
    """An opening <stream:stream> tag as bytes; pass None to omit an
    attribute."""
    attrs = []
    if to is not None:
        attrs.append("to='%s'" % to)
    if xmlns is not None:
        attrs.append("xmlns='%s'" % xmlns)
    if stream_ns is not None:
        attrs.append("xmlns:stream='%s'" % stream_ns)
    if version is not None:
        attrs.append("version='%s'" % version)
    head = "<?xml version='1.0'?>" if decl else ""
    return (head + "<stream:stream " + " ".join(attrs) + ">").encode()


def plain_b64(user, password, authzid=""):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, user, password)).encode()).decode()


def stream_error_condition(text):
    """The condition element name inside <stream:error>, or None."""
    m = re.search(r"<stream:error>\s*<([A-Za-z-]+)[^>]*xmlns=['\"]%s['\"]" %
                  re.escape(STREAMS_ERR_NS), text)
    if m:
        return m.group(1)
    m = re.search(r"<stream:error>\s*<([A-Za-z-]+)", text)
    return m.group(1) if m else None


def stream_id(text):
    """The id attribute of the stream header in text, or None."""
    m = re.search(r"<stream:stream [^>]*\bid='([^']*)'", text)
    return m.group(1) if m else None


class Server:
    """One xmppd process with its own temp dir, config, certificate and
    accounts."""

    def login(self, user, password, resource, presence=None):
        """A RawClient on the direct-TLS listener, logged in with PLAIN and
        bound to resource; presence (XML) is sent after the bind if given."""
        c = RawClient(self.port("dtls"), tls=True, cafile=self.cafile, server_name=self.domain)
        c.open_stream(to=self.domain)
        got = c.login_plain(user, password, resource=resource)
        assert "<jid>%s@%s/%s</jid>" % (user, self.domain, resource) in got, got
        if presence is not None:
            c.send(presence)
        return c

    def __init__(self, xmppd, xmppctl, users=None, sections=None,
                 listeners=None, name="xmppd", keep=False, nofile=None, domain=DOMAIN,
                 cert_files=None, cafile=None):
        """users: {"alice": "password"} (domain localhost).
        sections: {"limits": {"max_depth": 5}, ...} merged over the defaults.
        listeners: {"NAME": {"mode": ..., ...}}; the port is picked here.
        By default: c2s (starttls), dtls (direct_tls), dtls_in (direct_tls with
        allow_starttls_inside_tls = true).
        domain: the one [host] (users are added there); cert_files: (pem,
        key) to serve for it instead of a self-signed certificate that
        xmppctl generates, with cafile the CA that issued them (clients
        verify against cafile; by default the self-signed certificate)."""
        self.xmppd, self.xmppctl = xmppd, xmppctl
        self.nofile = nofile      # (soft, hard) RLIMIT_NOFILE for xmppd, or None
        self.users = dict(users or {})
        self.dir = tempfile.mkdtemp(prefix="xmppd-it-%s-" % name)
        self.keep = keep or os.environ.get("XMPPD_IT_KEEP") == "1"
        self.ini = os.path.join(self.dir, "server.ini")
        self.domain = domain
        self.cert_files = cert_files
        self.cert = os.path.join(self.dir, "certs", "%s.pem" % domain)
        self.key = os.path.join(self.dir, "certs", "%s.key" % domain)
        self.cafile = cafile or self.cert
        self.log_path = os.path.join(self.dir, "xmppd.log")
        self.proc = None
        self.returncode = None
        self._log_fh = None
        cfg = {
            "server": {"threads": 2, "log_level": "debug"},
            "sasl": {"auth_failure_delay_ms": 20, "auth_failure_delay_max_ms": 100,
                     "scram_iterations": 4096},
            "limits": {},
            "storage": {"path": "data/xmppd.sqlite"},
            # no test asks a DNS server off this machine: a domain that is
            # not served here and has no [s2s_route] fails fast, as one
            # whose DNS server refuses (UDP to a closed loopback port)
            "s2s": {"dns_servers": "127.0.0.1:1"},
            "host " + domain: {"certificate": "certs/%s.pem" % domain,
                               "key": "certs/%s.key" % domain},
        }
        for sec, kv in (sections or {}).items():
            cfg.setdefault(sec, {}).update(kv)
        if listeners is None:
            listeners = {
                "c2s": {"mode": "starttls"},
                "dtls": {"mode": "direct_tls"},
                "dtls_in": {"mode": "direct_tls", "allow_starttls_inside_tls": "true"},
            }
        self.ports = {}
        for (lname, kv), port in zip(listeners.items(), free_ports(len(listeners))):
            self.ports[lname] = port
            sec = {"type": "c2s", "address": LOCALHOST, "port": port}
            sec.update(kv)
            cfg["listener " + lname] = sec
        self.cfg = cfg
        self._write_ini()
        # The database, as scripts/run.sh makes it on a first start (xmppd
        # creates none), so that a config-only Server passes xmppctl check
        # too; start() repeats it (it is idempotent) after any ini change.
        subprocess.run([self.xmppctl, "-c", self.ini, "init"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)

    # -- set-up -------------------------------------------------------------

    def _write_ini(self):
        lines = []
        for sec, kv in self.cfg.items():
            lines.append("[%s]" % sec)
            for k, v in kv.items():
                if isinstance(v, bool):
                    v = "true" if v else "false"
                lines.append("%s = %s" % (k, v))
            lines.append("")
        with open(self.ini, "w") as f:
            f.write("\n".join(lines))

    def _ctl(self, args, stdin=None):
        r = subprocess.run([self.xmppctl, "-c", self.ini] + args, input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60, text=True)
        if r.returncode != 0:
            raise RuntimeError("xmppctl %s failed (%d): %s" % (" ".join(args), r.returncode, r.stdout))
        return r.stdout

    def add_users(self, users, parallel=4):
        """xmppctl adduser for each {user: password}; a few at a time (the
        store is SQLite in WAL mode with a busy timeout)."""
        from concurrent.futures import ThreadPoolExecutor

        def add(item):
            user, pw = item
            for attempt in range(3):
                try:
                    return self._ctl(["adduser", user if "@" in user else
                                      "%s@%s" % (user, self.domain)], stdin=pw + "\n")
                except RuntimeError:
                    if attempt == 2:
                        raise
                    time.sleep(0.2)
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as ex:
            list(ex.map(add, users.items()))

    def start(self, timeout=20):
        # xmppd creates no database: a missing one is a config error.
        self._ctl(["init"])
        if self.cert_files:
            os.makedirs(os.path.dirname(self.cert), exist_ok=True)
            shutil.copyfile(self.cert_files[0], self.cert)
            shutil.copyfile(self.cert_files[1], self.key)
        else:
            self._ctl(["cert", "generate", self.domain])
        if not os.path.exists(self.cert):
            raise RuntimeError("xmppctl cert generate did not write %s" % self.cert)
        self.add_users(self.users)
        return self.launch(timeout, append=False)

    def launch(self, timeout=20, append=True):
        """Starts xmppd on what start() set up (again, after stop() or
        kill(): the database and certificate are kept; the log goes on)."""
        self._log_fh = open(self.log_path, "ab" if append else "wb")
        since = len(self.log()) if append else 0  # an earlier run's "ready" does not count
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        nofile = self.nofile

        def limits():
            if nofile:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        self.proc = subprocess.Popen([self.xmppd, "-c", self.ini], stdin=subprocess.DEVNULL,
                                     stdout=self._log_fh, stderr=self._log_fh, env=env,
                                     preexec_fn=limits if nofile else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready:" in self.log()[since:]:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("xmppd exited with %d before ready; log:\n%s" %
                                   (self.proc.returncode, self.log()))
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("xmppd not ready within %ss; log:\n%s" % (timeout, self.log()))

    # -- observation --------------------------------------------------------

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=5.0, start=0):
        """Wait until regex `pattern` matches the log (from char offset
        `start`); return the match or None."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log(), start)
            if m or time.monotonic() >= deadline:
                return m
            time.sleep(0.05)

    def log_len(self):
        return len(self.log())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def problems(self):
        """Lines that make a run fail: sanitizer reports and error-level
        log lines."""
        text = self.log()
        bad = [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKERS)]
        bad += [m.group(0) + text[m.end():text.find("\n", m.end())] for m in ERROR_LINE.finditer(text)]
        return bad

    def port(self, name):
        return self.ports[name]

    # -- tear-down ----------------------------------------------------------

    def stop(self, timeout=20):
        """SIGTERM the process we started; return its exit code (None if it
        had to be killed)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self.returncode = None
                self._close()
                return None
        self.returncode = self.proc.returncode
        self._close()
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def _close(self):
        if self._log_fh:
            self._log_fh.close()
            self._log_fh = None

    def check_clean_exit(self, testcase):
        """stop() and assert exit code 0 and a clean log."""
        rc = self.stop()
        testcase.assertEqual(rc, 0, "xmppd exit code %r; log tail:\n%s" % (rc, self.log()[-4000:]))
        bad = self.problems()
        testcase.assertEqual(bad, [], "xmppd log has error/sanitizer lines:\n" + "\n".join(bad[:40]))

    def cleanup(self):
        self.kill()
        self._close()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def module_server(ns, users, sections=None, name="it"):
    """The setUpModule and tearDownModule of a test module that shares one
    Server among its tests: ns is the module's globals(), which must hold
    XMPPD and XMPPCTL by the time the tests run; the server is ns["SRV"],
    started before the first test and checked for a clean exit (then
    removed) after the last."""
    def set_up():
        ns["SRV"] = Server(ns["XMPPD"], ns["XMPPCTL"], users=users, sections=sections,
                           name=name)
        ns["SRV"].start()

    def tear_down():
        import unittest
        srv = ns.get("SRV")
        if srv is None:
            return
        try:
            srv.check_clean_exit(unittest.TestCase())
        finally:
            srv.cleanup()
    ns["SRV"] = None
    ns["setUpModule"], ns["tearDownModule"] = set_up, tear_down


def jid(user, res=None):
    """user@DOMAIN, with /res when given."""
    return "%s@%s%s" % (user, DOMAIN, "/" + res if res else "")


def wait_stanzas(c, start, pred, timeout=5.0, want=1):
    """The top-level stanzas c received after text offset start for which
    pred holds (top_stanzas), reading on until there are want of them or
    timeout seconds have passed; what there is then."""
    end = time.monotonic() + timeout
    while True:
        out = [el for el in top_stanzas(c.qtext()[start:]) if pred(el)]
        if len(out) >= want or time.monotonic() >= end:
            return out
        c.read_until("\x00never", timeout=0.1)


_TAG = re.compile(r"<(/?)(message|presence|iq)\b[^>]*?(/?)>", re.S)


def top_stanzas(text):
    """The complete top-level stanzas in text (what a RawClient received,
    from any offset at a stanza boundary), parsed with ElementTree in the
    jabber:client namespace.  Stanzas nested in others (a forwarded
    message in a carbon, XEP-0297) stay inside their parent."""
    import xml.etree.ElementTree as ET
    out, depth, begin = [], 0, None
    for m in _TAG.finditer(text):
        closing, self_closing = m.group(1) == "/", m.group(3) == "/"
        if closing:
            depth -= 1
            if depth == 0 and begin is not None:
                out.append(text[begin:m.end()])
                begin = None
            depth = max(depth, 0)
        elif self_closing:
            if depth == 0:
                out.append(m.group(0))
        else:
            if depth == 0:
                begin = m.start()
            depth += 1
    parsed = []
    for x in out:
        wrapped = "<w xmlns='jabber:client'>%s</w>" % x
        try:
            parsed.append(ET.fromstring(wrapped)[0])
        except ET.ParseError as e:
            raise AssertionError("unparsable stanza (%s): %s" % (e, x))
    return parsed


def client_ssl_context(cafile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class RawClient:
    """A blocking socket client (plain, STARTTLS-upgraded or direct TLS) with
    read-until helpers.  Keeps every byte received in self.received."""

    def __init__(self, port, tls=False, cafile=None, host=LOCALHOST, timeout=10, source=None,
                 server_name=DOMAIN):
        """source: the local address to connect from (another 127.x.y.z
        looks like another client address to the server); server_name:
        the SNI and the name the server's certificate must carry."""
        self.cafile = cafile
        self.server_name = server_name
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.received = b""
        self.closed = False
        self.inner = None          # (SSLObject, incoming BIO, outgoing BIO)
        if tls:
            self.start_tls()

    # -- TLS ----------------------------------------------------------------

    def start_tls(self):
        """Wrap the socket in TLS (direct TLS, or after <proceed/>)."""
        ctx = client_ssl_context(self.cafile)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.server_name)
        return self.sock

    def start_inner_tls(self, timeout=10):
        """Run a second TLS session inside the current (outer) one."""
        ctx = client_ssl_context(self.cafile)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_side=False, server_hostname=self.server_name)
        self.inner = (obj, inc, out)
        deadline = time.monotonic() + timeout
        while True:
            try:
                obj.do_handshake()
                self._flush_inner()
                return obj
            except ssl.SSLWantReadError:
                self._flush_inner()
                if not self._fill_inner(deadline):
                    raise TimeoutError("inner TLS handshake did not complete")

    def _flush_inner(self):
        obj, inc, out = self.inner
        data = out.read()
        if data:
            self.sock.sendall(data)

    def _fill_inner(self, deadline):
        """Read outer-layer bytes into the inner BIO; False on timeout/EOF."""
        obj, inc, out = self.inner
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return False
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLError, OSError):
            data = b""
        if not data:
            inc.write_eof()
            self.closed = True
            return False
        inc.write(data)
        return True

    # -- I/O ----------------------------------------------------------------

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.inner:
            self.inner[0].write(data)
            self._flush_inner()
        else:
            self.sock.sendall(data)

    def _recv_some(self, deadline):
        """Append newly received bytes; return False on timeout or EOF."""
        if self.inner:
            obj = self.inner[0]
            while True:
                try:
                    data = obj.read(65536)
                    if not data:
                        self.closed = True
                        return False
                    self.received += data
                    return True
                except ssl.SSLWantReadError:
                    if not self._fill_inner(deadline):
                        return False
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    self.closed = True
                    return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return False
        try:
            data = self.sock.recv(65536)
        except ssl.SSLWantReadError:
            return True
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
            data = b""
        if not data:
            self.closed = True
            return False
        self.received += data
        return True

    def read_until(self, needle, timeout=5.0, start=None):
        """Read until `needle` (str/bytes or compiled regex on text) is in the
        text received since `start` (default: everything); return the whole
        received text.  Returns on timeout/EOF without raising."""
        if isinstance(needle, bytes):
            needle = needle.decode()
        deadline = time.monotonic() + timeout
        while True:
            text = self.received.decode("utf-8", "replace")
            hay = text if start is None else text[start:]
            if hasattr(needle, "search"):
                if needle.search(hay):
                    return text
            elif needle in hay:
                return text
            if self.closed or not self._recv_some(deadline):
                return self.received.decode("utf-8", "replace")

    def read_until_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.closed and self._recv_some(deadline):
            pass
        return self.received.decode("utf-8", "replace")

    def qtext(self):
        """Everything received, as text, with attribute quotes made '
        (the server writes ", tests are easier to read with ')."""
        return self.received.decode("utf-8", "replace").replace('"', "'")

    def ask(self, xml, iq_id, timeout=5.0):
        """Sends xml (an iq with id iq_id) and returns its reply, quotes
        made ' as in qtext(); AssertionError when none comes."""
        start = len(self.qtext())
        self.send(xml)
        pat = re.compile(r"<iq[^>]*id='%s'[^>]*(?:/>|>.*?</iq>)" % re.escape(iq_id), re.S)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = pat.search(self.qtext()[start:])
            if m:
                return m.group(0)
            self.read_until("\x00never", timeout=0.1)
        raise AssertionError("no reply to %s: %s" % (iq_id, self.qtext()[start:][-500:]))

    def mark(self):
        """Offset for read_until(start=...): what comes after now."""
        return len(self.received.decode("utf-8", "replace"))

    def text(self):
        return self.received.decode("utf-8", "replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- XMPP conveniences --------------------------------------------------

    def open_stream(self, timeout=5.0, **kw):
        m = self.mark()
        self.send(stream_header(**kw))
        return self.read_until("</stream:features>", timeout, start=m)[m:]

    def starttls_negotiate(self, timeout=5.0):
        """After features offering STARTTLS: <starttls/> → <proceed/> → TLS."""
        m = self.mark()
        self.send("<starttls xmlns='%s'/>" % TLS_NS)
        got = self.read_until("<proceed", timeout, start=m)[m:]
        if "<proceed" not in got:
            raise AssertionError("no <proceed/> after <starttls/>: %r" % got)
        self.received = b""
        return got

    def login_plain(self, user, password, resource="raw", timeout=10.0):
        """SASL PLAIN + stream restart + bind; returns the bind result text."""
        m = self.mark()
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL_NS, plain_b64(user, password)))
        got = self.read_until(re.compile("<success|<failure"), timeout, start=m)[m:]
        if "<success" not in got:
            raise AssertionError("PLAIN failed: %r" % got)
        feats = self.open_stream(timeout, to=self.server_name)
        if "<bind" not in feats:
            raise AssertionError("no bind feature after auth: %r" % feats)
        m = self.mark()
        self.send("<iq type='set' id='bind1'><bind xmlns='%s'><resource>%s</resource></bind></iq>"
                  % (BIND_NS, resource))
        return self.read_until("</iq>", timeout, start=m)[m:]


# -- slixmpp ------------------------------------------------------------------

def make_client(jid, password, cafile, mech=None, no_channel_binding=False,
                plugins=("xep_0199", "xep_0030")):
    """A slixmpp ClientXMPP that verifies the server certificate against
    `cafile` with hostname checking.  mech: force one SASL mechanism.
    no_channel_binding: SCRAM without channel binding (gs2 flag 'n')."""
    import slixmpp  # imported late: only tests that need it pay for it
    from pathlib import Path

    xmpp = slixmpp.ClientXMPP(jid, password, sasl_mech=mech)
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile)
    xmpp.ssl_context = ctx
    xmpp.ca_certs = Path(cafile)      # get_ssl_context() loads it (and no system CAs)
    xmpp.whitespace_keepalive = False
    for p in plugins:
        xmpp.register_plugin(p)
    if no_channel_binding:
        fm = xmpp["feature_mechanisms"]
        orig = fm.sasl_callback

        def creds(required, optional):
            r = orig(required, optional)
            if "channel_binding" in r:
                r["channel_binding"] = None
            return r
        fm.sasl_callback = creds
    # record what happened, for assertions
    xmpp.it_events = []
    xmpp.it_tls = False
    xmpp.add_event_handler("ssl_cert", lambda pem: setattr(xmpp, "it_tls", True))
    xmpp.add_event_handler("failed_auth", lambda s: xmpp.it_events.append(("failed_auth", str(s))))
    xmpp.add_event_handler("auth_success", lambda s: xmpp.it_events.append(("auth_success", str(s))))
    return xmpp


async def connect_client(xmpp, port, direct_tls=False, timeout=15.0, presence=True,
                         priority=None):
    """Connect and wait for session_start (raises TimeoutError / RuntimeError).
    Sends initial presence unless presence=False."""
    loop = asyncio.get_event_loop()
    started = loop.create_future()
    failed = loop.create_future()

    def on_start(_):
        if not started.done():
            started.set_result(True)

    def on_fail(ev):
        if not failed.done():
            failed.set_result(ev)

    xmpp.add_event_handler("session_start", on_start)
    xmpp.add_event_handler("failed_all_auth", lambda e: on_fail("failed_all_auth"))
    xmpp.add_event_handler("disconnected", lambda e: on_fail("disconnected"))
    xmpp.add_event_handler("connection_failed", lambda e: on_fail("connection_failed: %s" % e))
    xmpp.add_event_handler("ssl_invalid_chain", lambda e: on_fail("ssl_invalid_chain: %s" % e))
    # Connect by name so that slixmpp uses "localhost" as the TLS server
    # name (SNI and certificate hostname check) for direct TLS and STARTTLS
    # alike; the name is resolved here to the IPv4 loopback the server binds.
    async def records(domain, port_=None):
        return [(DOMAIN, LOCALHOST, port)]
    xmpp.get_dns_records = records
    if direct_tls:
        xmpp.connect((DOMAIN, port), use_ssl=True, force_starttls=False)
    else:
        xmpp.connect((DOMAIN, port), use_ssl=False, force_starttls=True)
    done, _ = await asyncio.wait([started, failed], timeout=timeout,
                                 return_when=asyncio.FIRST_COMPLETED)
    if started.done():
        if presence:
            kw = {}
            if priority is not None:
                kw["ppriority"] = priority
            xmpp.send_presence(**kw)
        return xmpp
    reason = failed.result() if failed.done() else "timeout"
    xmpp.cancel_connection_attempt()
    if reason == "timeout" or reason.startswith("ssl_invalid_chain"):
        xmpp.disconnect(wait=0)
    raise RuntimeError("%s did not start a session: %s" % (xmpp.boundjid, reason))


async def disconnect_all(*clients, timeout=3.0):
    waits = []
    for c in clients:
        if c is None:
            continue
        try:
            waits.append(asyncio.ensure_future(c.disconnect(wait=0.5)))
        except Exception:
            pass
    if waits:
        await asyncio.wait(waits, timeout=timeout)


def local_port(xmpp):
    """The client's local TCP port (to find its connection in the log)."""
    tr = xmpp.transport
    sn = tr.get_extra_info("sockname") if tr else None
    return sn[1] if sn else None


def mux_of(server, port, timeout=5.0):
    """'mux0'/'mux1' and connection id of the connection from local `port`:
    the last one accepted from it (the kernel reuses ephemeral ports, so
    an earlier connection of the same test server may have had it)."""
    pat = r"\[(mux\d+)\] (c\d+\.\d+): accepted from 127\.0\.0\.1:%d " % port
    if not server.wait_log(pat, timeout):
        return (None, None)
    last = None
    for last in re.finditer(pat, server.log(), re.M):
        pass
    return (last.group(1), last.group(2))


# -- unittest runner ------------------------------------------------------------

def metrics_text(port, timeout=5.0):
    """The Prometheus text of GET /metrics on an http listener's port (the
    answer closes the connection)."""
    s = socket.create_connection((LOCALHOST, port), timeout=timeout)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    return body.decode()


def run_tests(module_name):
    """Run the unittest TestCases of a module; print "N passed, M failed"
    (errors, skips and unexpected successes count as failed) and exit
    non-zero on any failure."""
    import unittest

    class Result(unittest.TextTestResult):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.passed = []

        def addSuccess(self, test):
            super().addSuccess(test)
            self.passed.append(test)

    mod = sys.modules[module_name]
    suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=Result, stream=sys.stdout)
    t0 = time.monotonic()
    res = runner.run(suite)
    failed = (len(res.failures) + len(res.errors) + len(res.skipped)
              + len(res.expectedFailures) + len(res.unexpectedSuccesses))
    passed = len(res.passed)
    print("elapsed %.1fs" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    sys.exit(0 if failed == 0 and passed > 0 else 1)
