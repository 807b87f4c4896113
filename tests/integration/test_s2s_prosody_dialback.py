#!/usr/bin/python3
"""Dialback interop with Debian's Prosody (0.12): xmppd (a.test, [s2s]
dialback = true) and a private Prosody (p.test, s2s_secure_auth = false)
whose certificates the other does not trust (they come from another CA),
so neither side can offer SASL EXTERNAL and every link comes up by
dialback (XEP-0220), inside TLS:

- alice@a.test -> bob@p.test: xmppd sends <db:result/>, Prosody asks
  xmppd's authoritative side (a verification stream to a.test, found
  through the test's DNS server), which says valid;
- bob's reply: Prosody sends <db:result/>, xmppd asks Prosody over a
  verification stream of its own ([s2s_route p.test]) and takes the link;
- each side's log says dialback, and xmppctl s2s lists both links so.

Prosody runs as in test_s2s_prosody.py (its Prosody class).

Run: /usr/bin/python3 test_s2s_prosody_dialback.py --xmppd PATH --xmppctl PATH
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_s2s_prosody as tp  # noqa: E402
from harness import LOCALHOST, Server  # noqa: E402
from loopback_dns import LoopbackDns  # noqa: E402
from s2s_pki import Pki, clean_up, set_up_module  # noqa: E402

XMPPD = XMPPCTL = None
A = P = PKI = DNS = None


def _set_up():
    global A, P, PKI, DNS
    PKI = Pki()
    # both certificates from the CA neither side trusts
    a_cert = PKI.leaf("a", "DNS:a.test", ca="rogue")
    p_cert = PKI.leaf("p", "DNS:p.test", ca="rogue")
    A = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice"}, name="s2s-pdb-a", domain="a.test",
               cert_files=a_cert, cafile=PKI.rogue,
               sections={"s2s": {"ca_file": PKI.ca, "dialback": True,
                                 "connect_timeout": tp.CONNECT_TIMEOUT}},
               listeners={"dtls": {"mode": "direct_tls"},
                          "s2s": {"type": "s2s", "mode": "starttls"}})
    DNS = LoopbackDns({("_xmpp-server._tcp.a.test", "SRV"): [(0, 0, A.port("s2s"), "a.test")],
                       ("a.test", "A"): [LOCALHOST]})
    P = tp.Prosody("p.test", p_cert, PKI.ca, DNS.address, {"bob": "pw-bob"}, name="s2s-pdb-p",
                   client_ca=PKI.rogue, secure_auth=False)
    A.cfg["s2s_route p.test"] = {"address": LOCALHOST, "port": P.s2s_port}
    A._write_ini()
    A.start()
    P.start()


def _clean_up():
    clean_up(A, P, DNS, PKI)


def setUpModule():
    set_up_module(_set_up, _clean_up)


def tearDownModule():
    tc = unittest.TestCase()
    try:
        if P is not None:
            rc = P.stop()
            tc.assertEqual(rc, 0, "prosody exit code %r:\n%s" % (rc, P.log()[-3000:]))
            bad = P.problems()
            tc.assertEqual(bad, [], "prosody log has error lines:\n%s" % "\n".join(bad[:40]))
        if A is not None:
            A.check_clean_exit(tc)
    finally:
        _clean_up()


class ProsodyDialback(unittest.TestCase):

    def test_message_both_ways_by_dialback(self):
        alice = A.login("alice", "pw-alice", "pd", presence="<presence/>")
        bob = P.login("bob", "pw-bob", "pd", presence="<presence/>")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        m = bob.mark()
        alice.send(tp.message("bob@p.test/pd", "dialback to prosody", "d1"))
        self.assertIn("dialback to prosody",
                      bob.read_until("dialback to prosody", timeout=15, start=m)[m:])
        m = alice.mark()
        bob.send(tp.message("alice@a.test/pd", "dialback from prosody", "d2"))
        self.assertIn("dialback from prosody",
                      alice.read_until("dialback from prosody", timeout=15, start=m)[m:])
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> p\.test: link up \(outbound to .*, "
                                   r"dialback\)"))
        self.assertTrue(A.wait_log(r"s2s-in p\.test -> a\.test: authenticated by dialback"))
        # Prosody asked us whether our key was ours
        self.assertTrue(A.wait_log(r"dialback: asked whether a key for a\.test -> p\.test is ours: "
                                   r"valid"))
        out = A._ctl(["s2s"])
        self.assertRegex(out, r"(?m)^a\.test\tp\.test\tout\t.*\tdialback\t")
        self.assertRegex(out, r"(?m)^a\.test\tp\.test\tin\t.*\tdialback\t")


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    tp.XMPPD, tp.XMPPCTL = XMPPD, XMPPCTL
    harness.run_tests(__name__)
