#!/usr/bin/python3
"""Server dialback (XEP-0220) as the fallback [s2s] dialback = true allows:
two xmppd (a.test, b.test) whose certificates the other does not trust
(another CA), so SASL EXTERNAL is never offered and every link comes up by
dialback, each key checked with the authoritative server over a
verification stream.

- a message crosses both ways; each side logs the method, answers the
  other's <db:verify/> as the authoritative server, and xmppctl s2s says
  "dialback" (b.test has [s2s] bidi = false: a link each way);
- between two servers that both do XEP-0288 (a.test, c.test), the one
  link that dialback authenticated carries both ways;
- a peer that claims a.test with a key a.test never made gets
  type='invalid' and <not-authorized/> (b.test asked a.test, which said
  invalid);
- before TLS nothing of dialback is offered or taken: a plaintext
  <db:result/> ends the stream, and b.test connects nowhere for it.

Run: /usr/bin/python3 test_s2s_dialback.py --xmppd PATH --xmppctl PATH
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, stream_error_condition  # noqa: E402
from s2s_pki import Pki, end_all, route_to_each_other  # noqa: E402
from test_s2s_in import Peer  # noqa: E402

XMPPD = XMPPCTL = None
A = B = C = PKI = None


def setUpModule():
    global A, B, C, PKI
    PKI = Pki()
    listeners = {"dtls": {"mode": "direct_tls"}, "s2s": {"type": "s2s", "mode": "starttls"}}
    # each trusts only the test CA; their own certificates come from the other one
    s2s = {"s2s": {"ca_file": PKI.ca, "dialback": True}}
    A = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice"}, name="s2s-db-a", domain="a.test",
               cert_files=PKI.leaf("a", "DNS:a.test", ca="rogue"), cafile=PKI.rogue,
               sections=s2s, listeners=listeners)
    # B does not do XEP-0288: a link each way, each by dialback
    B = Server(XMPPD, XMPPCTL, users={"bob": "pw-bob"}, name="s2s-db-b", domain="b.test",
               cert_files=PKI.leaf("b", "DNS:b.test", ca="rogue"), cafile=PKI.rogue,
               sections={"s2s": dict(s2s["s2s"], bidi=False)}, listeners=listeners)
    # C does (the default), as A does: one link for both ways
    C = Server(XMPPD, XMPPCTL, users={"carol": "pw-carol"}, name="s2s-db-c", domain="c.test",
               cert_files=PKI.leaf("c", "DNS:c.test", ca="rogue"), cafile=PKI.rogue,
               sections=s2s, listeners=listeners)
    route_to_each_other(A, B)
    route_to_each_other(A, C)
    A.start()
    B.start()
    C.start()


def tearDownModule():
    end_all((A, B, C), PKI)


class Dialback(unittest.TestCase):

    def test_01_message_both_ways(self):
        alice = A.login("alice", "pw-alice", "d1", presence="<presence/>")
        bob = B.login("bob", "pw-bob", "d1", presence="<presence/>")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        m = bob.mark()
        alice.send("<message to='bob@b.test/d1' type='chat' id='x1'><body>by dialback</body></message>")
        self.assertIn("by dialback", bob.read_until("by dialback", timeout=10, start=m)[m:])
        m = alice.mark()
        bob.send("<message to='alice@a.test/d1' type='chat' id='x2'><body>and back</body></message>")
        self.assertIn("and back", alice.read_until("and back", timeout=10, start=m)[m:])
        for srv, local, remote in ((A, "a", "b"), (B, "b", "a")):
            self.assertTrue(srv.wait_log(r"s2s-out %s\.test -> %s\.test: certificate not trusted: .*"
                                         r"dialback \(\[s2s\] dialback = true\) decides" % (local, remote)))
            self.assertTrue(srv.wait_log(r"s2s-out %s\.test -> %s\.test: link up \(outbound to .*, "
                                         r"dialback\)" % (local, remote)))
            self.assertTrue(srv.wait_log(r"s2s-in %s\.test -> %s\.test: authenticated by dialback"
                                         % (remote, local)))
            # as the authoritative server, each said its own key was valid
            self.assertTrue(srv.wait_log(r"dialback: asked whether a key for %s\.test -> %s\.test "
                                         r"is ours: valid" % (local, remote)))
        out = A._ctl(["s2s"])
        self.assertRegex(out, r"(?m)^a\.test\tb\.test\tout\t.*\tdialback\t")
        self.assertRegex(out, r"(?m)^a\.test\tb\.test\tin\t.*\tdialback\t")

    def test_04_bidirectional_by_dialback(self):
        alice = A.login("alice", "pw-alice", "d4", presence="<presence/>")
        carol = C.login("carol", "pw-carol", "d4", presence="<presence/>")
        self.addCleanup(alice.close)
        self.addCleanup(carol.close)
        m = carol.mark()
        alice.send("<message to='carol@c.test/d4' type='chat' id='y1'><body>one link</body></message>")
        self.assertIn("one link", carol.read_until("one link", timeout=10, start=m)[m:])
        m = alice.mark()
        carol.send("<message to='alice@a.test/d4' type='chat' id='y2'><body>both ways</body></message>")
        self.assertIn("both ways", alice.read_until("both ways", timeout=10, start=m)[m:])
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> c\.test: link up \(outbound to .*, "
                                   r"dialback, bidirectional\)"))
        self.assertTrue(C.wait_log(r"s2s-in a\.test -> c\.test: link up \(inbound, .*dialback, "
                                   r"bidirectional\)"))
        # (C connects to A only to verify the key)
        self.assertNotRegex(C.log(), r"s2s-out c\.test -> a\.test: link up")
        self.assertRegex(C._ctl(["s2s"]), r"(?m)^c\.test\ta\.test\tin\+bidi\t.*\tdialback\t")

    def test_02_forged_key_refused(self):
        mark = B.log_len()
        p = Peer(B.port("s2s"), PKI.rogue, cert=PKI.leaf("mallory", "DNS:a.test", ca="rogue"))
        p.server_name = "b.test"
        self.addCleanup(p.close)
        feats = p.header(to="b.test", frm="a.test")
        self.assertIn("<starttls", feats)
        self.assertNotIn("urn:xmpp:features:dialback", feats)   # not before TLS
        p.starttls_negotiate()
        p.start_tls()
        feats = p.header(to="b.test", frm="a.test")
        self.assertIn("<dialback xmlns='urn:xmpp:features:dialback'", feats.replace('"', "'"))
        self.assertNotIn("EXTERNAL", feats)
        m = p.mark()
        p.send("<db:result from='a.test' to='b.test'>%s</db:result>" % ("0" * 64))
        got = p.read_until_closed(timeout=10)[m:].replace('"', "'")
        self.assertRegex(got, r"<db:result[^>]*type='invalid'")
        self.assertEqual(stream_error_condition(got), "not-authorized")
        self.assertTrue(B.wait_log(r"dialback refused", start=mark))
        self.assertTrue(A.wait_log(r"dialback: asked whether a key for a\.test -> b\.test is ours: "
                                   r"invalid"))

    def test_03_plaintext_db_result(self):
        mark = B.log_len()
        p = Peer(B.port("s2s"), PKI.rogue)
        self.addCleanup(p.close)
        p.header(to="b.test", frm="c.test")
        p.send("<db:result from='c.test' to='b.test'>%s</db:result>" % ("0" * 64))
        self.assertEqual(stream_error_condition(p.read_until_closed()), "policy-violation")
        time.sleep(0.3)
        self.assertNotRegex(B.log()[mark:], r"c\.test: (dialback: asking|connecting)")


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
