#!/usr/bin/python3
"""Dialback interop with Debian's ejabberd (23.01): xmppd (a.test, [s2s]
dialback = true) and a private ejabberd (e.test, mod_s2s_dialback,
s2s_use_starttls: required), both with certificates from s2s_pki's rogue
CA while each trusts only the test CA for s2s, so SASL EXTERNAL fails or is
not offered and every link can only come up by dialback (XEP-0220), inside
TLS.  ejabberd offers EXTERNAL on every TLS stream (and refuses it later
when it cannot verify the certificate), besides dialback.

- test_01, bob@e.test -> alice@a.test: ejabberd's outbound stream
  (mod_s2s_dialback: no certificate check) finds no EXTERNAL at xmppd,
  which does not trust its certificate, and sends <db:result/>; xmppd asks
  ejabberd over a verification stream of its own ([s2s_route e.test]) and
  takes the link;
- test_02, alice -> bob: xmppd takes ejabberd's untrusted certificate on
  ("dialback decides"); ejabberd refuses xmppd's EXTERNAL (it cannot
  verify xmppd's certificate) and xmppd must go on with <db:result/> on
  the same stream; ejabberd asks xmppd's authoritative side (a
  verification stream to a.test, found through the test's DNS server);
- each side's log says dialback (ejabberd: never EXTERNAL accepted), and
  xmppctl s2s lists both of xmppd's links with method dialback.

ejabberd runs as in test_s2s_ejabberd.py (its Ejabberd class, with
mod_s2s_dialback added to the private config).  A missing ejabberd makes
the test fail (not skip).  XMPPD_IT_KEEP=1 keeps the temp dirs.

Run: /usr/bin/python3 test_s2s_ejabberd_dialback.py --xmppd PATH --xmppctl PATH
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_s2s_ejabberd as te  # noqa: E402
from harness import LOCALHOST, Server  # noqa: E402
from loopback_dns import LoopbackDns  # noqa: E402
from s2s_pki import Pki, clean_up, set_up_module  # noqa: E402

XMPPD = XMPPCTL = None
A = E = PKI = DNS = None


class DialbackEjabberd(te.Ejabberd):
    """test_s2s_ejabberd's private ejabberd with mod_s2s_dialback on (its
    default access rule, all: every peer may use dialback, and ejabberd's
    outbound streams then skip the certificate check); s2s_use_starttls
    stays required, so dialback runs inside TLS.  The s2s CA (ca.pem) is
    cafile; client_ca is what c2s logins verify ejabberd's certificate
    against."""

    def __init__(self, *args, client_ca, **kw):
        super().__init__(*args, **kw)
        path = os.path.join(self.dir, "etc", "ejabberd.yml")
        with open(path) as f:
            yml = f.read()
        old = "  mod_roster: {}\n"
        assert yml.endswith(old), yml[-200:]
        yml = yml.replace("## Certificates are required between servers: STARTTLS, and with no\n"
                          "## mod_s2s_dialback SASL EXTERNAL is the only authentication.\n",
                          "## STARTTLS between servers; peers' certificates come from a CA\n"
                          "## not in s2s_cafile, so mod_s2s_dialback authenticates them.\n")
        yml += "  mod_s2s_dialback: {}\n"
        # idle links stay up for the whole test (xmppctl s2s lists them)
        assert "s2s_timeout: 15\n" in yml
        yml = yml.replace("s2s_timeout: 15\n", "s2s_timeout: 120\n")
        with open(path, "w") as f:   # rewritten in place: still ejabberd's file
            f.write(yml)
        self.cafile = client_ca


def _set_up():
    global A, E, PKI, DNS
    PKI = Pki()
    # both certificates from the CA neither side trusts for s2s
    a_cert = PKI.leaf("a", "DNS:a.test", ca="rogue")
    e_cert = PKI.leaf("e", "DNS:e.test", ca="rogue")
    A = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice"}, name="s2s-edb-a", domain="a.test",
               cert_files=a_cert, cafile=PKI.rogue,
               sections={"s2s": {"ca_file": PKI.ca, "dialback": True,
                                 "connect_timeout": te.CONNECT_TIMEOUT}},
               listeners={"dtls": {"mode": "direct_tls"},
                          "s2s": {"type": "s2s", "mode": "starttls"}})
    # the SRV target is the address itself (see test_s2s_ejabberd.py)
    DNS = LoopbackDns({("_xmpp-server._tcp.a.test", "SRV"): [(0, 0, A.port("s2s"), LOCALHOST)]})
    E = DialbackEjabberd("e.test", e_cert, PKI.ca, DNS.port, {"bob": "pw-bob"},
                         name="s2s-edb-e", client_ca=PKI.rogue)
    A.cfg["s2s_route e.test"] = {"address": LOCALHOST, "port": E.s2s_port}
    A._write_ini()
    A.start()
    E.start()


def _clean_up():
    clean_up(A, E, DNS, PKI)


def setUpModule():
    set_up_module(_set_up, _clean_up)


def tearDownModule():
    tc = unittest.TestCase()
    try:
        if E is not None:
            E.stop()
        if A is not None:
            A.check_clean_exit(tc)
    finally:
        _clean_up()


class EjabberdDialback(unittest.TestCase):
    """In this order: ejabberd's link to xmppd first (xmppd's inbound
    side), then xmppd's to ejabberd; the last test lists both."""

    def setUp(self):
        self.alice = A.login("alice", "pw-alice", "ed", presence="<presence/>")
        self.addCleanup(self.alice.close)
        self.bob = E.login("bob", "pw-bob", "ed", presence="<presence/>")
        self.addCleanup(self.bob.close)

    def logs(self, sender):
        """For a failure: what the sender got back (a bounce), both logs."""
        return "the sender got:\n%s\nxmppd:\n%s\nejabberd:\n%s" % (
            sender.text()[-1500:], A.log()[-4000:], E.log()[-4000:])

    def test_01_ejabberd_to_xmppd(self):
        # bob -> alice: ejabberd's outbound link (mod_s2s_dialback: no
        # certificate check), xmppd asks e.test over a verification stream
        m = self.alice.mark()
        self.bob.send(te.message("alice@a.test/ed", "dialback from ejabberd", "d1"))
        got = self.alice.read_until("dialback from ejabberd", timeout=20, start=m)[m:]
        self.assertIn("<body>dialback from ejabberd</body>", got, self.logs(self.bob))
        self.assertRegex(got, te.attrs_rx("message", from_="bob@e.test/ed", to="alice@a.test/ed"))
        # xmppd did not trust ejabberd's certificate, so it offered no
        # EXTERNAL: dialback was the only way in
        self.assertTrue(A.wait_log(r"s2s-in e\.test -> a\.test: certificate not trusted"),
                        A.log()[-3000:])
        # ejabberd tried EXTERNAL first and fell back to dialback
        self.assertTrue(E.wait_log(r"Failed outbound s2s EXTERNAL authentication e\.test -> a\.test"),
                        E.log()[-3000:])
        # xmppd asked e.test (its verification stream) and took the link
        self.assertTrue(A.wait_log(r"s2s-in e\.test -> a\.test: dialback: verifying with the "
                                   r"authoritative server of e\.test"), A.log()[-3000:])
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> e\.test: dialback: the authoritative "
                                   r"server says valid"), A.log()[-3000:])
        self.assertTrue(A.wait_log(r"s2s-in e\.test -> a\.test: authenticated by dialback"),
                        A.log()[-3000:])
        self.assertTrue(E.wait_log(r"Accepted outbound s2s dialback authentication "
                                   r"e\.test -> a\.test"), E.log()[-3000:])
        self.assertTrue(A.wait_log(r"s2s-in e\.test -> a\.test: link up \(inbound, TLS 1\.[23], "
                                   r"[^,()]+, dialback\)"), A.log()[-3000:])
        self.assertNotRegex(A.log(), r"s2s-in .*(?:authenticated by certificate|SASL EXTERNAL\))")
        out = A._ctl(["s2s"])
        self.assertRegex(out, r"(?m)^a\.test\te\.test\tin\t.*\tdialback\t", out)

    def test_02_xmppd_to_ejabberd(self):
        # alice -> bob: xmppd's outbound link, ejabberd asks a.test
        m = self.bob.mark()
        self.alice.send(te.message("bob@e.test/ed", "dialback to ejabberd", "d2"))
        got = self.bob.read_until("dialback to ejabberd", timeout=20, start=m)[m:]
        self.assertIn("<body>dialback to ejabberd</body>", got, self.logs(self.alice))
        self.assertRegex(got, te.attrs_rx("message", from_="alice@a.test/ed", to="bob@e.test/ed"))
        # ejabberd's certificate did not verify: without dialback no link
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> e\.test: certificate not trusted: .*: "
                                   r"dialback \(\[s2s\] dialback = true\) decides"),
                        A.log()[-3000:])
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> e\.test: link up \(outbound to "
                                   r"127\.0\.0\.1:%d, TLS 1\.[23], [^,()]+, dialback\)"
                                   % E.s2s_port), A.log()[-3000:])
        # ejabberd asked us (its verification stream) whether our key was ours
        self.assertTrue(A.wait_log(r"dialback: asked whether a key for a\.test -> e\.test is ours: "
                                   r"valid"), A.log()[-3000:])
        # ejabberd did not trust our certificate (EXTERNAL refused) ...
        self.assertTrue(E.wait_log(r"Failed inbound s2s EXTERNAL authentication a\.test -> e\.test "
                                   r"\(127\.0\.0\.1\): unable to verify"), E.log()[-3000:])
        # ... and took a.test by dialback, never by EXTERNAL
        self.assertTrue(E.wait_log(r"Accepted inbound s2s dialback authentication "
                                   r"a\.test -> e\.test"), E.log()[-3000:])
        self.assertNotRegex(E.log(), r"Accepted inbound s2s EXTERNAL authentication")
        out = A._ctl(["s2s"])
        self.assertRegex(out, r"(?m)^a\.test\te\.test\tout\t.*\tdialback\t", out)
        self.assertRegex(out, r"(?m)^a\.test\te\.test\tin\t.*\tdialback\t", out)
        self.assertGreaterEqual(DNS.asked.get(("_xmpp-server._tcp.a.test", "SRV"), 0), 1)


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    te.XMPPD, te.XMPPCTL = XMPPD, XMPPCTL
    harness.run_tests(__name__)
