#!/usr/bin/python3
"""Federation interop with Debian's Prosody (0.12), issue 12: xmppd serves
a.test, a private Prosody serves p.test; both present certificates from a
test CA (s2s_pki.Pki) that both trust, and require them: xmppd by default,
Prosody with s2s_secure_auth and s2s_require_encryption.  Prosody runs as
user prosody from its own config in a temp dir, on loopback ports of its
own; it finds a.test by DNS (SRV _xmpp-server._tcp.a.test) through
lua-unbound forwarding to a DNS server of this test on loopback
(loopback_dns.py); xmppd reaches p.test through [s2s_route p.test].

- a message from alice@a.test reaches bob@p.test (xmppd's outbound link,
  Prosody's inbound one: STARTTLS, then SASL EXTERNAL, since xmppd's
  dialback is off by default), and bob's reply comes back over Prosody's outbound
  link to xmppd's inbound one;
- an iq ping to the other server is answered, both ways;
- a presence subscription completes across the links (request,
  approval, roster pushes on both sides, the contact's presence);
- the secure default: a second Prosody (q.test) whose certificate comes
  from a CA xmppd does not trust is refused on its inbound link ("not
  trusted", <policy-violation/>) and on xmppd's outbound link to it; its
  message never arrives, and alice's message to it bounces;
- XEP-0288 with two more Prosodys that load mod_s2s_bidi: r.test opens
  its link to xmppd and asks for bidi, and xmppd answers on that link;
  xmppd opens its link to s.test, asks for bidi, and Prosody's answer
  comes back on it; neither pair gets a second link.

A missing prosody makes the test fail (not skip).  XMPPD_IT_KEEP=1 keeps
the temp dirs (prosody.log beside prosody.cfg.lua).

Run: /usr/bin/python3 test_s2s_prosody.py --xmppd PATH --xmppctl PATH
"""

import hashlib
import hmac
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import LOCALHOST, Server, free_ports  # noqa: E402
from loopback_dns import LoopbackDns  # noqa: E402
from s2s_pki import Pki, clean_up, set_up_module  # noqa: E402

XMPPD = XMPPCTL = None
A = P = Q = R = S = PKI = DNS = None
CONNECT_TIMEOUT = 5
STANZA_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"

PROSODY_CFG = """\
-- Private Prosody configuration of tests/integration/test_s2s_prosody.py.
-- Never the system config (/etc/prosody) or the default ports.
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
plugin_paths = {{}}
certificates = "{dir}/certs"
log = {{ debug = "{dir}/prosody.log" }}

network_backend = "epoll"
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s_port} }}
s2s_ports = {{ {s2s_port} }}
c2s_direct_tls_ports = {{ }}
s2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
component_ports = {{ }}
use_ipv6 = false

admins = {{ }}
-- The modules of Debian's default prosody.cfg.lua that matter between
-- servers, dialback included (xmppd's is off by default: Prosody must use SASL
-- EXTERNAL with certificates).
modules_enabled = {{ "roster", "saslauth", "tls", "dialback", "disco", "ping"{extra_modules} }}

c2s_require_encryption = true
allow_registration = false
authentication = "internal_hashed"
password_hash = "SHA-256"
storage = "internal"

-- Certificates are required between servers, both ways.
s2s_require_encryption = true
s2s_secure_auth = {secure_auth}
s2s_timeout = 15

ssl = {{ certificate = "{dir}/host.pem"; key = "{dir}/host.key"; cafile = "{dir}/ca.pem" }}

-- DNS only from the test's server on loopback: its forwarder, no
-- /etc/resolv.conf, no /etc/hosts, and .test (a zone unbound serves
-- empty by default, RFC 6761) looked up like any other.
unbound = {{
    resolvconf = false;
    hoststxt = false;
    forward = "{dns}";
    options = {{ ["local-zone:"] = "test. transparent" }};
}}

VirtualHost "{domain}"
"""


def _scram_sha256(password, iterations=4096):
    salt = str(uuid.uuid4()).encode()
    sp = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    ck = hmac.new(sp, b"Client Key", "sha256").digest()
    return (hashlib.sha256(ck).hexdigest(), hmac.new(sp, b"Server Key", "sha256").hexdigest(),
            salt.decode(), iterations)


def _prosody_encode(s):
    """Prosody's datamanager path encoding: every non-alphanumeric byte as %xx."""
    return "".join(c if c.isalnum() else "%%%02x" % ord(c) for c in s)


class Prosody:
    """One private Prosody: config, certificate, accounts and data in a temp
    dir owned by user prosody; runs as that user in the foreground; stopped
    by pid."""

    def __init__(self, domain, cert_files, cafile, dns, users, name="prosody", client_ca=None,
                 secure_auth=True, bidi=False):
        """cafile: the CA Prosody trusts for peer servers; client_ca: the one
        its own certificate comes from, which the test's clients check
        (cafile by default); bidi: load mod_s2s_bidi (XEP-0288)."""
        self.binary = shutil.which("prosody")
        if not self.binary:
            raise RuntimeError("prosody not installed (scripts/install-deps.sh installs it)")
        try:
            self.pw = pwd.getpwnam("prosody")
        except KeyError:
            raise RuntimeError("no user prosody (Debian's prosody package makes it)")
        self.domain = domain
        self.cafile = cafile
        self.client_ca = client_ca or cafile
        self.keep = os.environ.get("XMPPD_IT_KEEP") == "1"
        self.dir = tempfile.mkdtemp(prefix="xmppd-it-%s-" % name)
        self.c2s_port, self.s2s_port = free_ports(2)
        self.cfg = os.path.join(self.dir, "prosody.cfg.lua")
        self.log_path = os.path.join(self.dir, "prosody.log")
        self.out_path = os.path.join(self.dir, "prosody.out")
        self.proc = None
        self.returncode = None
        shutil.copyfile(cert_files[0], os.path.join(self.dir, "host.pem"))
        shutil.copyfile(cert_files[1], os.path.join(self.dir, "host.key"))
        shutil.copyfile(cafile, os.path.join(self.dir, "ca.pem"))
        with open(self.cfg, "w") as f:
            f.write(PROSODY_CFG.format(dir=self.dir, c2s_port=self.c2s_port,
                                       s2s_port=self.s2s_port, dns=dns, domain=domain,
                                       secure_auth="true" if secure_auth else "false",
                                       # XEP-0288: Prosody 0.12's module, not in its defaults
                                       extra_modules=', "s2s_bidi"' if bidi else ""))
        # internal_hashed accounts, in the layout prosodyctl register writes
        acc = os.path.join(self.dir, "data", _prosody_encode(domain), "accounts")
        os.makedirs(acc)
        os.makedirs(os.path.join(self.dir, "certs"))   # where Prosody looks for more certificates
        for user, password in users.items():
            stored, server, salt, it = _scram_sha256(password)
            with open(os.path.join(acc, _prosody_encode(user) + ".dat"), "w") as f:
                f.write('return {\n\t["stored_key"] = "%s";\n\t["server_key"] = "%s";\n'
                        '\t["salt"] = "%s";\n\t["iteration_count"] = %d;\n};\n'
                        % (stored, server, salt, it))
        for root, dirs, files in os.walk(self.dir):
            for x in dirs + files:
                os.chown(os.path.join(root, x), self.pw.pw_uid, self.pw.pw_gid)
        os.chown(self.dir, self.pw.pw_uid, self.pw.pw_gid)
        os.chmod(os.path.join(self.dir, "host.key"), 0o600)

    def start(self, timeout=20):
        out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(
            ["setpriv", "--reuid", "prosody", "--regid", "prosody", "--init-groups",
             "env", "HOME=" + self.dir, self.binary, "--config", self.cfg, "-F"],
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prosody exited with %d before listening:\n%s\n%s" %
                                   (self.proc.returncode, self.output()[-3000:], self.log()[-3000:]))
            if all(self._listening(p) for p in (self.c2s_port, self.s2s_port)):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("prosody not listening within %ss:\n%s" % (timeout, self.log()[-3000:]))

    @staticmethod
    def _listening(port):
        try:
            socket.create_connection((LOCALHOST, port), timeout=1).close()
            return True
        except OSError:
            return False

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def output(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=5.0, start=0):
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log(), start)
            if m or time.monotonic() >= deadline:
                return m
            time.sleep(0.05)

    def wait_quiet(self, quiet=0.3, timeout=3.0):
        """Wait until the log has not grown for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        size, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            n = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
            if n != size:
                size, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.05)

    def problems(self):
        """Prosody's error lines (its log format: DATE SOURCE\\tLEVEL\\tTEXT)
        and Lua tracebacks."""
        text = self.log() + self.output()
        return [l for l in text.splitlines() if "\terror\t" in l or "stack traceback" in l]

    def login(self, user, password, resource, presence=None):
        """A RawClient on Prosody's c2s port: STARTTLS (the certificate checked
        against the test CA), PLAIN, bind."""
        c = harness.RawClient(self.c2s_port, cafile=self.client_ca, server_name=self.domain)
        feats = c.open_stream(to=self.domain)
        assert "starttls" in feats, feats
        c.starttls_negotiate()
        c.start_tls()
        c.open_stream(to=self.domain)
        got = c.login_plain(user, password, resource=resource)
        assert "<jid>%s@%s/%s</jid>" % (user, self.domain, resource) in got.replace('"', "'"), got
        if presence is not None:
            c.send(presence)
        return c

    def stop(self, timeout=15):
        """SIGTERM the process started here (setpriv and env exec it: the pid
        is Prosody's); SIGKILL after timeout.  Returns its exit code."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            # Let it finish what it is doing (a client that has just gone
            # away: Prosody 0.12 can trip over a session that its shutdown
            # destroys while the disconnect is still being handled).
            self.wait_quiet()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.returncode = self.proc.returncode
        self.proc = None
        return self.returncode

    def cleanup(self):
        self.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def _set_up():
    global A, P, Q, R, S, PKI, DNS
    PKI = Pki()
    a_cert = PKI.leaf("a", "DNS:a.test")
    p_cert = PKI.leaf("p", "DNS:p.test")
    q_rogue = PKI.leaf("q-rogue", "DNS:q.test", ca="rogue")
    A = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice", "dave": "pw-dave"},
               name="s2s-prosody-a", domain="a.test", cert_files=a_cert, cafile=PKI.ca,
               sections={"s2s": {"ca_file": PKI.ca, "connect_timeout": CONNECT_TIMEOUT}},
               listeners={"dtls": {"mode": "direct_tls"},
                          "s2s": {"type": "s2s", "mode": "starttls"}})
    DNS = LoopbackDns({("_xmpp-server._tcp.a.test", "SRV"): [(0, 0, A.port("s2s"), "a.test")],
                       ("a.test", "A"): [LOCALHOST]})
    P = Prosody("p.test", p_cert, PKI.ca, DNS.address,
                {"bob": "pw-bob", "erin": "pw-erin"}, name="s2s-prosody-p")
    # q.test: a Prosody whose certificate comes from a CA xmppd does not trust
    Q = Prosody("q.test", q_rogue, PKI.ca, DNS.address, {"mallory": "pw-mallory"},
                name="s2s-prosody-q", client_ca=PKI.rogue)
    # r.test, s.test: Prosodys with mod_s2s_bidi (XEP-0288); r.test opens
    # the link to xmppd, xmppd the one to s.test
    R = Prosody("r.test", PKI.leaf("r", "DNS:r.test"), PKI.ca, DNS.address, {"rita": "pw-rita"},
                name="s2s-prosody-r", bidi=True)
    S = Prosody("s.test", PKI.leaf("s", "DNS:s.test"), PKI.ca, DNS.address, {"sam": "pw-sam"},
                name="s2s-prosody-s", bidi=True)
    A.cfg["s2s_route p.test"] = {"address": LOCALHOST, "port": P.s2s_port}
    A.cfg["s2s_route q.test"] = {"address": LOCALHOST, "port": Q.s2s_port}
    A.cfg["s2s_route r.test"] = {"address": LOCALHOST, "port": R.s2s_port}
    A.cfg["s2s_route s.test"] = {"address": LOCALHOST, "port": S.s2s_port}
    A._write_ini()
    A.start()
    P.start()
    Q.start()
    R.start()
    S.start()


def setUpModule():
    set_up_module(_set_up, _clean_up)


def _clean_up():
    clean_up(A, P, Q, R, S, DNS, PKI)


def tearDownModule():
    tc = unittest.TestCase()
    try:
        for peer in (P, Q, R, S):
            if peer is not None:
                rc = peer.stop()
                tc.assertEqual(rc, 0, "prosody %s exit code %r:\n%s" %
                               (peer.domain, rc, peer.log()[-3000:]))
                bad = peer.problems()
                tc.assertEqual(bad, [], "prosody %s log has error lines:\n%s" %
                               (peer.domain, "\n".join(bad[:40])))
        if A is not None:
            A.check_clean_exit(tc)
    finally:
        _clean_up()


def message(to, body, mid):
    return "<message to='%s' type='chat' id='%s'><body>%s</body></message>" % (to, mid, body)


def attrs_rx(tag, **attrs):
    """A regex for a start tag `tag` with the given attributes in any order
    (quotes ' or ")."""
    look = "".join(r"(?=[^>]*\b%s=['\"]%s['\"])" % (k.rstrip("_"), re.escape(v))
                   for k, v in attrs.items())
    return re.compile(r"<%s\b%s[^>]*>" % (tag, look))


def error_for(client, mid, start, timeout):
    """The condition of the error stanza with id mid, or None."""
    pat = attrs_rx("message", id=mid, type="error")
    got = client.read_until(pat, timeout=timeout, start=start)[start:]
    m = pat.search(got)
    if not m:
        return None
    c = re.search(r"<([a-z-]+) xmlns=.%s./>" % re.escape(STANZA_NS), got[m.start():])
    return c.group(1) if c else "?"


class ProsodyInterop(unittest.TestCase):

    def test_01_message_both_ways(self):
        alice = A.login("alice", "pw-alice", "it1", presence="<presence/>")
        bob = P.login("bob", "pw-bob", "it1", presence="<presence/>")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        m = bob.mark()
        alice.send(message("bob@p.test/it1", "hello prosody", "m1"))
        want = attrs_rx("message", from_="alice@a.test/it1", to="bob@p.test/it1")
        got = bob.read_until("hello prosody", timeout=15, start=m)[m:]
        self.assertIn("<body>hello prosody</body>", got)
        self.assertRegex(got, want)
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> p\.test: link up \(outbound to "
                                   r"127\.0\.0\.1:%d, TLS 1\.[23], (?:[^,()]+, )?SASL EXTERNAL\)"
                                   % P.s2s_port), A.log()[-3000:])
        # Prosody accepted xmppd's certificate and SASL EXTERNAL, no dialback
        self.assertTrue(P.wait_log(r"Accepting SASL EXTERNAL identity from a\.test"), P.log()[-3000:])
        m = alice.mark()
        bob.send(message("alice@a.test/it1", "hello xmppd", "m2"))
        got = alice.read_until("hello xmppd", timeout=15, start=m)[m:]
        self.assertIn("<body>hello xmppd</body>", got)
        self.assertRegex(got, attrs_rx("message", from_="bob@p.test/it1"))
        self.assertTrue(A.wait_log(r"s2s-in p\.test -> a\.test: link up \(inbound, TLS 1\.[23], "
                                   r"(?:[^,()]+, )?SASL EXTERNAL\)"), A.log()[-3000:])
        self.assertTrue(P.wait_log(r"SASL EXTERNAL with a\.test succeeded"), P.log()[-3000:])
        # Prosody found a.test by its SRV record, on the test's DNS server
        self.assertGreaterEqual(DNS.asked.get(("_xmpp-server._tcp.a.test", "SRV"), 0), 1)
        self.assertNotRegex(P.log(), r"dialback key|db:result")

    def test_02_iq_ping_both_servers(self):
        alice = A.login("alice", "pw-alice", "it2")
        bob = P.login("bob", "pw-bob", "it2")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        got = alice.ask("<iq to='p.test' type='get' id='ping-p'><ping xmlns='urn:xmpp:ping'/></iq>",
                        "ping-p", timeout=15)
        self.assertRegex(got, attrs_rx("iq", type="result", from_="p.test", id="ping-p"))
        got = bob.ask("<iq to='a.test' type='get' id='ping-a'><ping xmlns='urn:xmpp:ping'/></iq>",
                      "ping-a", timeout=15)
        self.assertRegex(got, attrs_rx("iq", type="result", from_="a.test", id="ping-a"))
        # a full JID across: alice shares no presence with bob yet, so xmppd
        # answers for her resource as if it were offline (RFC 6121 8.5.3.1,
        # [im] iq_requires_presence), and the error crosses back
        got = bob.ask("<iq to='alice@a.test/it2' type='get' id='ping-c0'>"
                      "<ping xmlns='urn:xmpp:ping'/></iq>", "ping-c0", timeout=15)
        self.assertRegex(got, attrs_rx("iq", type="error", from_="alice@a.test/it2"))
        self.assertIn("<service-unavailable xmlns='%s'/>" % STANZA_NS, got)
        # after her directed presence to bob, his ping reaches her client
        mb = bob.mark()
        alice.send("<presence to='bob@p.test/it2'/>")
        directed = re.compile(r"<presence(?=[^>]*\bfrom=['\"]alice@a\.test/it2['\"])"
                              r"(?![^>]*\btype=)[^>]*>")
        self.assertRegex(bob.read_until(directed, timeout=15, start=mb)[mb:], directed)
        m = alice.mark()
        bob.send("<iq to='alice@a.test/it2' type='get' id='ping-c'><ping xmlns='urn:xmpp:ping'/></iq>")
        got = alice.read_until(attrs_rx("iq", id="ping-c"), timeout=15, start=m)[m:]
        self.assertRegex(got, attrs_rx("iq", type="get", from_="bob@p.test/it2", id="ping-c"))
        alice.send("<iq to='bob@p.test/it2' type='result' id='ping-c'/>")
        got = bob.ask("", "ping-c", timeout=15)
        self.assertRegex(got, attrs_rx("iq", type="result", from_="alice@a.test/it2"))

    def test_03_presence_subscription(self):
        dave = A.login("dave", "pw-dave", "d1", presence="<presence/>")
        erin = P.login("erin", "pw-erin", "e1", presence="<presence/>")
        self.addCleanup(dave.close)
        self.addCleanup(erin.close)
        # roster pushes go to resources that asked for the roster (RFC 6121 2.1.6)
        for c in (dave, erin):
            c.ask("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>", "r0", timeout=10)
        # dave (xmppd) asks erin (Prosody)
        me, md = erin.mark(), dave.mark()
        dave.send("<presence to='erin@p.test' type='subscribe'/>")
        got = dave.read_until(attrs_rx("item", jid="erin@p.test", ask="subscribe"),
                              timeout=10, start=md)[md:]
        self.assertRegex(got, attrs_rx("item", jid="erin@p.test", ask="subscribe"))
        req = attrs_rx("presence", from_="dave@a.test", type="subscribe")
        got = erin.read_until(req, timeout=15, start=me)[me:]
        self.assertRegex(got, req)
        # erin approves: dave's roster push says "to", erin's says "from"
        me, md = erin.mark(), dave.mark()
        erin.send("<presence to='dave@a.test' type='subscribed'/>")
        push_e = attrs_rx("item", jid="dave@a.test", subscription="from")
        self.assertRegex(erin.read_until(push_e, timeout=10, start=me)[me:], push_e)
        push_d = attrs_rx("item", jid="erin@p.test", subscription="to")
        self.assertRegex(dave.read_until(push_d, timeout=15, start=md)[md:], push_d)
        # erin's presence reaches dave (Prosody sends it after the approval)
        avail = re.compile(r"<presence(?=[^>]*\bfrom=['\"]erin@p\.test/e1['\"])(?![^>]*\btype=)[^>]*>")
        self.assertRegex(dave.read_until(avail, timeout=15, start=md)[md:], avail)
        # both rosters, asked again
        r = dave.ask("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>", "r1", timeout=10)
        self.assertRegex(r, attrs_rx("item", jid="erin@p.test", subscription="to"))
        r = erin.ask("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>", "r1", timeout=10)
        self.assertRegex(r, attrs_rx("item", jid="dave@a.test", subscription="from"))
        # a presence change of erin's is broadcast to her subscriber dave
        md = dave.mark()
        erin.send("<presence><show>away</show><status>at lunch</status></presence>")
        away = re.compile(r"<presence(?=[^>]*\bfrom=['\"]erin@p\.test/e1['\"])[^>]*>(?:(?!</presence>).)*"
                          r"<show>away</show>", re.S)
        self.assertRegex(dave.read_until(away, timeout=15, start=md)[md:], away)
        # a new session of dave probes p.test and gets erin's presence
        dave2 = A.login("dave", "pw-dave", "d2", presence="<presence/>")
        self.addCleanup(dave2.close)
        self.assertRegex(dave2.read_until(away, timeout=15), away)
        # erin goes offline: dave hears it
        md = dave.mark()
        erin.send("<presence type='unavailable'/>")
        gone = attrs_rx("presence", from_="erin@p.test/e1", type="unavailable")
        self.assertRegex(dave.read_until(gone, timeout=15, start=md)[md:], gone)

    def test_05_bidi_prosody_initiates(self):
        # XEP-0288 with Prosody's mod_s2s_bidi: Prosody opens the link,
        # asks for bidi, and xmppd answers on that same link
        alice = A.login("alice", "pw-alice", "it5", presence="<presence/>")
        rita = R.login("rita", "pw-rita", "it5", presence="<presence/>")
        self.addCleanup(alice.close)
        self.addCleanup(rita.close)
        m = alice.mark()
        rita.send(message("alice@a.test/it5", "from prosody, bidi", "b1"))
        got = alice.read_until("from prosody, bidi", timeout=15, start=m)[m:]
        self.assertRegex(got, attrs_rx("message", from_="rita@r.test/it5"))
        m = rita.mark()
        alice.send(message("rita@r.test/it5", "back on its link", "b2"))
        got = rita.read_until("back on its link", timeout=15, start=m)[m:]
        self.assertRegex(got, attrs_rx("message", from_="alice@a.test/it5"))
        self.assertTrue(A.wait_log(r"s2s-in r\.test -> a\.test: link up \(inbound, .*SASL EXTERNAL, "
                                   r"bidirectional\)"), A.log()[-3000:])
        self.assertNotRegex(A.log(), r"s2s-out a\.test -> r\.test")
        self.assertTrue(R.wait_log(r"Requesting bidirectional stream"), R.log()[-3000:])
        self.assertRegex(A._ctl(["s2s"]), r"(?m)^a\.test\tr\.test\tin\+bidi\t")

    def test_06_bidi_xmppd_initiates(self):
        # the other way round: xmppd opens the link to s.test and asks for
        # bidi; Prosody's answer comes back on it
        alice = A.login("alice", "pw-alice", "it6", presence="<presence/>")
        sam = S.login("sam", "pw-sam", "it6", presence="<presence/>")
        self.addCleanup(alice.close)
        self.addCleanup(sam.close)
        m = sam.mark()
        alice.send(message("sam@s.test/it6", "from xmppd, bidi", "c1"))
        got = sam.read_until("from xmppd, bidi", timeout=15, start=m)[m:]
        self.assertRegex(got, attrs_rx("message", from_="alice@a.test/it6"))
        m = alice.mark()
        sam.send(message("alice@a.test/it6", "back on ours", "c2"))
        got = alice.read_until("back on ours", timeout=15, start=m)[m:]
        self.assertRegex(got, attrs_rx("message", from_="sam@s.test/it6"))
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> s\.test: link up \(outbound to .*"
                                   r"SASL EXTERNAL, bidirectional\)"), A.log()[-3000:])
        self.assertNotRegex(A.log(), r"s2s-in s\.test -> a\.test")
        self.assertRegex(A._ctl(["s2s"]), r"(?m)^a\.test\ts\.test\tout\+bidi\t")
        # Prosody took the request (its debug log) and sent on the link
        self.assertTrue(S.wait_log(r"Requested bidirectional stream"), S.log()[-3000:])

    def test_04_untrusted_prosody_refused(self):
        alice = A.login("alice", "pw-alice", "it4", presence="<presence/>")
        mallory = Q.login("mallory", "pw-mallory", "m1", presence="<presence/>")
        self.addCleanup(alice.close)
        self.addCleanup(mallory.close)
        # inbound: q.test's certificate does not verify against [s2s] ca_file
        ma = alice.mark()
        mq = mallory.mark()
        mallory.send(message("alice@a.test/it4", "from an untrusted server", "u1"))
        self.assertTrue(A.wait_log(r"s2s-in.*q\.test.*certificate not trusted", timeout=15),
                        A.log()[-3000:])
        # Prosody gives up on the link and bounces the message to mallory
        bounced = error_for(mallory, "u1", mq, timeout=20)
        self.assertIsNotNone(bounced, mallory.text()[mq:][-2000:])
        self.assertNotIn("from an untrusted server", alice.read_until("from an untrusted",
                                                                        timeout=1, start=ma)[ma:])
        self.assertIsNone(A.wait_log(r"s2s-in q\.test -> a\.test: link up", timeout=0.1))
        # outbound: xmppd refuses q.test's certificate too; alice's message bounces
        ma = alice.mark()
        alice.send(message("mallory@q.test", "to an untrusted server", "u2"))
        self.assertEqual(error_for(alice, "u2", ma, timeout=CONNECT_TIMEOUT + 5),
                         "remote-server-not-found")
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> q\.test: link failed: .*not trusted"),
                        A.log()[-3000:])
        self.assertNotIn("to an untrusted server", mallory.read_until("to an untrusted",
                                                                        timeout=1, start=mq)[mq:])

    def test_09_prosody_shutdown_closes_links(self):
        """Last: Prosody stops and ends both links with <system-shutdown/>
        (RFC 6120 4.9.3.19): on xmppd's outbound link and on its inbound
        one.  Either side may send a stream error (RFC 6120 4.9); the
        receiver closes its end, it does not answer with one of its own."""
        alice = A.login("alice", "pw-alice", "it9", presence="<presence/>")
        bob = P.login("bob", "pw-bob", "it9", presence="<presence/>")
        self.addCleanup(alice.close)
        # both links up (they are, after test_01; made again if not)
        m = bob.mark()
        alice.send(message("bob@p.test/it9", "before shutdown", "s1"))
        self.assertIn("before shutdown", bob.read_until("before shutdown", timeout=15, start=m)[m:])
        m = alice.mark()
        bob.send(message("alice@a.test/it9", "bye", "s2"))
        self.assertIn("bye", alice.read_until("<body>bye</body>", timeout=15, start=m)[m:])
        mp = len(P.log())
        bob.close()
        self.assertTrue(P.wait_log(r"All resources of bob are now offline", start=mp))
        mark = A.log_len()
        self.assertEqual(P.stop(), 0, P.log()[-3000:])
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> p\.test: stream error from the peer: "
                                   r"system-shutdown", start=mark), A.log()[mark:])
        self.assertTrue(A.wait_log(r"closed \([^)]*\) session p\.test", start=mark), A.log()[mark:])
        time.sleep(0.5)
        answered = re.findall(r"^.*stream error <[a-z-]+/> to .*$", A.log()[mark:], re.M)
        self.assertEqual(answered, [], "xmppd answered the peer's stream error with its own")


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
