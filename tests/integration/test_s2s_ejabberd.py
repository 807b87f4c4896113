#!/usr/bin/python3
"""Federation interop with Debian's ejabberd (23.01), issue 12: xmppd serves
a.test, a private ejabberd serves e.test; both present certificates from a
test CA (s2s_pki.Pki) that both trust and require STARTTLS between servers
(ejabberd: s2s_use_starttls required, s2s_cafile the test CA, no
mod_s2s_dialback, so certificates and SASL EXTERNAL are the only way in).
ejabberd runs as user ejabberd from its own config in a temp dir (a private
Erlang node, cookie and distribution port, no epmd), on loopback ports of
its own; it finds a.test by DNS (SRV _xmpp-server._tcp.a.test) from the
test's DNS server on loopback (loopback_dns.py), named in the Erlang
resolver's inetrc; xmppd reaches e.test through [s2s_route e.test].

- a message from alice@a.test reaches bob@e.test and bob's reply comes
  back (each side's outbound and inbound link);
- an iq ping to the other server is answered, both ways;
- a presence subscription completes across the links (request, approval,
  roster pushes on both sides, the contact's presence).

A missing ejabberd makes the test fail (not skip).  XMPPD_IT_KEEP=1 keeps
the temp dirs (ejabberd's logs under logs/).

Run: /usr/bin/python3 test_s2s_ejabberd.py --xmppd PATH --xmppctl PATH
"""

import base64
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import LOCALHOST, Server, free_ports  # noqa: E402
from loopback_dns import LoopbackDns  # noqa: E402
from s2s_pki import Pki, clean_up, set_up_module  # noqa: E402

XMPPD = XMPPCTL = None
A = E = PKI = DNS = None
CONNECT_TIMEOUT = 5
STANZA_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"

EJABBERD_YML = """\
## Private ejabberd configuration of tests/integration/test_s2s_ejabberd.py.
## Never the system config (/etc/ejabberd) or the default ports.
loglevel: debug
log_rotate_count: 0
hosts:
  - "{domain}"
certfiles:
  - "{dir}/host.pem"
  - "{dir}/host.key"
ca_file: "{dir}/ca.pem"
s2s_cafile: "{dir}/ca.pem"
## Certificates are required between servers: STARTTLS, and with no
## mod_s2s_dialback SASL EXTERNAL is the only authentication.
s2s_use_starttls: required
s2s_access: s2s
s2s_dns_timeout: 3
s2s_dns_retries: 1
s2s_timeout: 15
listen:
  -
    port: {c2s_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    shaper: none
  -
    port: {s2s_port}
    ip: "127.0.0.1"
    module: ejabberd_s2s_in
    shaper: none
auth_method: internal
default_db: mnesia
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  s2s:
    allow: all
modules:
  mod_disco: {{}}
  mod_ping: {{}}
  mod_roster: {{}}
"""

EJABBERDCTL_CFG = """\
## Private ejabberdctl settings: node, cookie and distribution port of
## our own, no epmd, no system node touched.
ERLANG_NODE={node}
ERL_DIST_PORT={dist}
ERL_EPMD_ADDRESS=127.0.0.1
INET_DIST_INTERFACE=127.0.0.1
ERL_OPTIONS="-setcookie {cookie}"
EJABBERD_PID_PATH={dir}/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
"""

# The Erlang resolver's configuration (ejabberdctl exports ERL_INETRC as
# CONFIG_DIR/inetrc): a hosts file of our own that only knows localhost (the
# node names need it), then DNS from the test's server; neither
# /etc/resolv.conf nor /etc/hosts.  No resolv.conf at all (""): with one
# named, inet_db looks at the file again at a lookup 5 s or more after the
# last check and, when its info changed (reading it moves its atime),
# loads it again, and its nameservers (none) replace the test's DNS
# server: every later lookup fails ("DNS lookup failed: enoname"), which
# made this test fail now and then.
INETRC = """\
{{resolv_conf, ""}}.
{{hosts_file, "{dir}/etc/hosts"}}.
{{nameserver, {{127,0,0,1}}, {dns_port}}}.
{{lookup, [file, dns]}}.
"""


class Ejabberd:
    def __init__(self, domain, cert_files, cafile, dns_port, users, name="ejabberd"):
        self.binary = shutil.which("ejabberdctl") or (
            "/usr/sbin/ejabberdctl" if os.access("/usr/sbin/ejabberdctl", os.X_OK) else None)
        if not self.binary:
            raise RuntimeError("ejabberd not installed (scripts/install-deps.sh installs it)")
        try:
            self.pw = pwd.getpwnam("ejabberd")
        except KeyError:
            raise RuntimeError("no user ejabberd (Debian's ejabberd package makes it)")
        self.domain = domain
        self.cafile = cafile
        self.users = users
        self.keep = os.environ.get("XMPPD_IT_KEEP") == "1"
        self.dir = tempfile.mkdtemp(prefix="xmppd-it-%s-" % name)
        self.c2s_port, self.s2s_port, self.dist = free_ports(3)
        self.node = "xmppdit%d@localhost" % os.getpid()
        self.cookie = base64.b32encode(os.urandom(15)).decode()
        self.proc = None
        self.returncode = None
        for sub in ("etc", "spool", "logs"):
            os.makedirs(os.path.join(self.dir, sub))
        shutil.copyfile(cert_files[0], os.path.join(self.dir, "host.pem"))
        shutil.copyfile(cert_files[1], os.path.join(self.dir, "host.key"))
        shutil.copyfile(cafile, os.path.join(self.dir, "ca.pem"))
        files = {
            "etc/ejabberd.yml": EJABBERD_YML.format(dir=self.dir, domain=domain,
                                                    c2s_port=self.c2s_port, s2s_port=self.s2s_port),
            "etc/ejabberdctl.cfg": EJABBERDCTL_CFG.format(node=self.node, dist=self.dist,
                                                          cookie=self.cookie, dir=self.dir),
            "etc/inetrc": INETRC.format(dir=self.dir, dns_port=dns_port),
            "etc/hosts": "127.0.0.1 localhost\n",
        }
        for path, text in files.items():
            with open(os.path.join(self.dir, path), "w") as f:
                f.write(text)
        os.chmod(os.path.join(self.dir, "etc/ejabberdctl.cfg"), 0o600)
        os.chmod(os.path.join(self.dir, "host.key"), 0o600)
        for root, dirs, fs in os.walk(self.dir):
            for x in dirs + fs:
                os.chown(os.path.join(root, x), self.pw.pw_uid, self.pw.pw_gid)
        os.chown(self.dir, self.pw.pw_uid, self.pw.pw_gid)

    def ctl(self, *args):
        return ["setpriv", "--reuid", "ejabberd", "--regid", "ejabberd", "--init-groups",
                "env", "HOME=" + self.dir, self.binary, "--config-dir", self.dir + "/etc",
                "--spool", self.dir + "/spool", "--logs", self.dir + "/logs"] + list(args)

    def start(self, timeout=60):
        out = open(os.path.join(self.dir, "ejabberd.out"), "wb")
        self.proc = subprocess.Popen(self.ctl("foreground"), cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ejabberd exited with %d before listening:\n%s" %
                                   (self.proc.returncode, self.log()[-3000:]))
            if all(self._listening(p) for p in (self.c2s_port, self.s2s_port)):
                break
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("ejabberd not listening within %ss:\n%s" % (timeout, self.log()[-3000:]))
        # the ports listen a little before the node answers ejabberdctl
        for user, password in self.users.items():
            while True:
                r = subprocess.run(self.ctl("register", user, self.domain, password), cwd=self.dir,
                                   capture_output=True, text=True, timeout=60)
                if r.returncode == 0:
                    break
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("ejabberdctl register %s: %s%s" % (user, r.stdout, r.stderr))
                time.sleep(0.5)
        return self

    @staticmethod
    def _listening(port):
        try:
            socket.create_connection((LOCALHOST, port), timeout=1).close()
            return True
        except OSError:
            return False

    def log(self):
        text = ""
        for name in ("logs/ejabberd.log", "logs/error.log", "ejabberd.out"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                pass
        return text

    def wait_log(self, pattern, timeout=5.0):
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log())
            if m or time.monotonic() >= deadline:
                return m
            time.sleep(0.1)

    def login(self, user, password, resource, presence=None):
        c = harness.RawClient(self.c2s_port, cafile=self.cafile, server_name=self.domain)
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

    def stop(self, timeout=30):
        """SIGTERM to the process group of the foreground node (ejabberdctl's
        shell and the Erlang VM it runs: OTP stops cleanly on SIGTERM);
        SIGKILL after timeout."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self._killpg(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._killpg(signal.SIGKILL)
                self.proc.wait(10)
        # the shell may go first: wait for the VM (and its port programs)
        # too, so that nothing outlives the test
        deadline = time.monotonic() + timeout
        while self._killpg(0):
            if time.monotonic() > deadline:
                self._killpg(signal.SIGKILL)
                time.sleep(0.5)
                break
            time.sleep(0.1)
        self.returncode = self.proc.returncode
        self.proc = None
        return self.returncode

    def _killpg(self, sig):
        """Signal the process group started here; False when it is empty."""
        try:
            os.killpg(self.proc.pid, sig)
            return True
        except ProcessLookupError:
            return False

    def cleanup(self):
        self.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def _set_up():
    global A, E, PKI, DNS
    PKI = Pki()
    a_cert = PKI.leaf("a", "DNS:a.test")
    e_cert = PKI.leaf("e", "DNS:e.test")
    A = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice", "dave": "pw-dave"},
               name="s2s-ejabberd-a", domain="a.test", cert_files=a_cert, cafile=PKI.ca,
               sections={"s2s": {"ca_file": PKI.ca, "connect_timeout": CONNECT_TIMEOUT}},
               listeners={"dtls": {"mode": "direct_tls"},
                          "s2s": {"type": "s2s", "mode": "starttls"}})
    # ejabberd asks SRV records of the Erlang resolver (inetrc), but a
    # target's addresses of the system's (net:getaddrinfo, which knows no
    # a.test): the target is the address itself, which getaddrinfo takes
    # as it is.
    DNS = LoopbackDns({("_xmpp-server._tcp.a.test", "SRV"): [(0, 0, A.port("s2s"), LOCALHOST)]})
    E = Ejabberd("e.test", e_cert, PKI.ca, DNS.port, {"bob": "pw-bob", "erin": "pw-erin"},
                 name="s2s-ejabberd-e")
    A.cfg["s2s_route e.test"] = {"address": LOCALHOST, "port": E.s2s_port}
    A._write_ini()
    A.start()
    E.start()


def setUpModule():
    set_up_module(_set_up, _clean_up)


def _clean_up():
    clean_up(A, E, DNS, PKI)


def tearDownModule():
    tc = unittest.TestCase()
    try:
        if E is not None:
            E.stop()
        if A is not None:
            A.check_clean_exit(tc)
    finally:
        _clean_up()


def message(to, body, mid):
    return "<message to='%s' type='chat' id='%s'><body>%s</body></message>" % (to, mid, body)


def attrs_rx(tag, **attrs):
    look = "".join(r"(?=[^>]*\b%s=['\"]%s['\"])" % (k.rstrip("_"), re.escape(v))
                   for k, v in attrs.items())
    return re.compile(r"<%s\b%s[^>]*>" % (tag, look))


class EjabberdInterop(unittest.TestCase):

    def test_01_message_both_ways(self):
        alice = A.login("alice", "pw-alice", "it1", presence="<presence/>")
        bob = E.login("bob", "pw-bob", "it1", presence="<presence/>")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        m = bob.mark()
        alice.send(message("bob@e.test/it1", "hello ejabberd", "m1"))
        got = bob.read_until("hello ejabberd", timeout=15, start=m)[m:]
        self.assertIn("<body>hello ejabberd</body>", got)
        self.assertRegex(got, attrs_rx("message", from_="alice@a.test/it1", to="bob@e.test/it1"))
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> e\.test: link up \(outbound to "
                                   r"127\.0\.0\.1:%d, TLS 1\.[23], (?:[^,()]+, )?SASL EXTERNAL\)"
                                   % E.s2s_port), A.log()[-3000:])
        # ejabberd took xmppd's certificate for SASL EXTERNAL (no dialback here)
        self.assertTrue(E.wait_log(r"Accepted inbound s2s EXTERNAL authentication a\.test -> e\.test"),
                        E.log()[-3000:])
        m = alice.mark()
        bob.send(message("alice@a.test/it1", "hello xmppd", "m2"))
        got = alice.read_until("hello xmppd", timeout=15, start=m)[m:]
        why = "\n".join(l for l in E.log().splitlines() if "s2s" in l and
                        ("[warning]" in l or "[error]" in l))
        self.assertIn("<body>hello xmppd</body>", got, "ejabberd says:\n" + why[-3000:])
        self.assertRegex(got, attrs_rx("message", from_="bob@e.test/it1"))
        self.assertTrue(A.wait_log(r"s2s-in e\.test -> a\.test: link up \(inbound, TLS 1\.[23], "
                                   r"(?:[^,()]+, )?SASL EXTERNAL\)"), A.log()[-3000:])
        self.assertGreaterEqual(DNS.asked.get(("_xmpp-server._tcp.a.test", "SRV"), 0), 1)

    def test_02_iq_ping_both_servers(self):
        alice = A.login("alice", "pw-alice", "it2")
        bob = E.login("bob", "pw-bob", "it2")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        got = alice.ask("<iq to='e.test' type='get' id='ping-e'><ping xmlns='urn:xmpp:ping'/></iq>",
                        "ping-e", timeout=15)
        self.assertRegex(got, attrs_rx("iq", type="result", from_="e.test", id="ping-e"))
        got = bob.ask("<iq to='a.test' type='get' id='ping-a'><ping xmlns='urn:xmpp:ping'/></iq>",
                      "ping-a", timeout=15)
        self.assertRegex(got, attrs_rx("iq", type="result", from_="a.test", id="ping-a"))

    def test_03_presence_subscription(self):
        dave = A.login("dave", "pw-dave", "d1", presence="<presence/>")
        erin = E.login("erin", "pw-erin", "e1", presence="<presence/>")
        self.addCleanup(dave.close)
        self.addCleanup(erin.close)
        for c in (dave, erin):
            c.ask("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>", "r0", timeout=10)
        me, md = erin.mark(), dave.mark()
        dave.send("<presence to='erin@e.test' type='subscribe'/>")
        req = attrs_rx("presence", from_="dave@a.test", type="subscribe")
        self.assertRegex(erin.read_until(req, timeout=15, start=me)[me:], req)
        me, md = erin.mark(), dave.mark()
        erin.send("<presence to='dave@a.test' type='subscribed'/>")
        push_e = attrs_rx("item", jid="dave@a.test", subscription="from")
        self.assertRegex(erin.read_until(push_e, timeout=10, start=me)[me:], push_e)
        push_d = attrs_rx("item", jid="erin@e.test", subscription="to")
        self.assertRegex(dave.read_until(push_d, timeout=15, start=md)[md:], push_d)
        avail = re.compile(r"<presence(?=[^>]*\bfrom=['\"]erin@e\.test/e1['\"])(?![^>]*\btype=)[^>]*>")
        self.assertRegex(dave.read_until(avail, timeout=15, start=md)[md:], avail)
        r = dave.ask("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>", "r1", timeout=10)
        self.assertRegex(r, attrs_rx("item", jid="erin@e.test", subscription="to"))
        r = erin.ask("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>", "r1", timeout=10)
        self.assertRegex(r, attrs_rx("item", jid="dave@a.test", subscription="from"))
        md = dave.mark()
        erin.send("<presence type='unavailable'/>")
        gone = attrs_rx("presence", from_="erin@e.test/e1", type="unavailable")
        self.assertRegex(dave.read_until(gone, timeout=15, start=md)[md:], gone)


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
