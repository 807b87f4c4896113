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
- multiplexing (XEP-0220 2.5): a raw peer adds pairs to its authenticated
  stream to c.test, one for C's other domain and one for another
  originating domain (b.test), each verified with its authoritative
  server; a forged key refuses that pair only; [s2s] max_link_pairs bounds
  them; each pair's stanzas arrive (content that does not use the db
  prefix its header declares as the peer wrote it), and a stanza of a pair not
  authenticated ends the stream with <host-unknown/>; before
  authentication a db:result for another domain ends it with
  <invalid-from/>; a trusted certificate that names the new domain
  authenticates its pair without a verification (XEP-0344); refused
  requests end the stream at [sasl] max_auth_attempts;
- a peer that claims a.test with a key a.test never made gets
  type='invalid' and <not-authorized/> (b.test asked a.test, which said
  invalid);
- before TLS nothing of dialback is offered or taken: a plaintext
  <db:result/> ends the stream, and b.test connects nowhere for it.

Run: /usr/bin/python3 test_s2s_dialback.py --xmppd PATH --xmppctl PATH
"""

import hashlib
import hmac
import os
import re
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
MAX_LINK_PAIRS = 3
MAX_AUTH_ATTEMPTS = 3   # C's; also what refused dialback requests may cost a stream


def dialback_key(srv, receiving, originating, stream_id):
    """The key srv (its secret, beside its database) gives originating's
    stream to receiving with that id (XEP-0185)."""
    with open(os.path.join(srv.dir, "data", "dialback-secret.key"), "rb") as f:
        secret = f.read()
    hkey = hashlib.sha256(secret).hexdigest().encode()
    msg = ("%s %s %s" % (receiving, originating, stream_id)).encode()
    return hmac.new(hkey, msg, hashlib.sha256).hexdigest()


def db_answer(peer, frm, to, start, timeout=10):
    """The type of C's <db:result from=frm to=to type=.../> after start."""
    pat = re.compile(r"<db:result(?=[^>]*\bfrom=['\"]%s['\"])(?=[^>]*\bto=['\"]%s['\"])"
                     r"[^>]*\btype=['\"]([a-z]+)['\"]" % (re.escape(frm), re.escape(to)))
    m = pat.search(peer.read_until(pat, timeout=timeout, start=start)[start:])
    return m.group(1) if m else None


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
    # C does (the default), as A does: one link for both ways.  It also
    # serves c2.test, and takes at most three pairs on one inbound link
    c2 = PKI.leaf("c2", "DNS:c2.test", ca="rogue")
    C = Server(XMPPD, XMPPCTL, users={"carol": "pw-carol", "cleo@c2.test": "pw-cleo"},
               name="s2s-db-c", domain="c.test",
               cert_files=PKI.leaf("c", "DNS:c.test", ca="rogue"), cafile=PKI.rogue,
               sections={"s2s": dict(s2s["s2s"], max_link_pairs=MAX_LINK_PAIRS),
                         "sasl": {"max_auth_attempts": MAX_AUTH_ATTEMPTS},
                         "host c2.test": {"certificate": c2[0], "key": c2[1]}},
               listeners=listeners)
    route_to_each_other(A, B)
    route_to_each_other(A, C)
    route_to_each_other(B, C)
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

    def test_05_multiplexing(self):
        # XEP-0220 2.5: more domain pairs on one authenticated stream, each
        # verified with its own authoritative server.  A raw peer speaks
        # for a.test and b.test with the keys their secrets give (read
        # from their data directories), and a certificate C does not trust
        carol = C.login("carol", "pw-carol", "m5", presence="<presence/>")
        self.addCleanup(carol.close)
        cleo = harness.RawClient(C.port("dtls"), tls=True, cafile=PKI.rogue, server_name="c2.test")
        self.addCleanup(cleo.close)
        cleo.open_stream(to="c2.test")
        cleo.login_plain("cleo", "pw-cleo", resource="m5")
        cleo.send("<presence/>")
        p = Peer(C.port("s2s"), PKI.rogue, cert=PKI.leaf("p-a", "DNS:a.test", ca="rogue"))
        p.server_name = "c.test"
        self.addCleanup(p.close)
        p.header(to="c.test", frm="a.test")
        p.starttls_negotiate()
        p.start_tls()
        got = p.header(to="c.test", frm="a.test")
        sid = re.search(r"<stream:stream[^>]*\bid=['\"]([^'\"]+)", got).group(1)

        def ask(frm, to, key):
            m = p.mark()
            p.send("<db:result from='%s' to='%s'>%s</db:result>" % (frm, to, key))
            return db_answer(p, to, frm, m)

        self.assertEqual(ask("a.test", "c.test", dialback_key(A, "c.test", "a.test", sid)), "valid")
        # another of C's domains, and another originating domain
        self.assertEqual(ask("a.test", "c2.test", dialback_key(A, "c2.test", "a.test", sid)), "valid")
        # a key b.test did not make: that pair only is refused, and the
        # stream goes on
        self.assertEqual(ask("b.test", "c.test", "0" * 64), "invalid")
        self.assertTrue(C.wait_log(r"dialback refused for b\.test -> c\.test"))
        self.assertTrue(B.wait_log(r"dialback: asked whether a key for b\.test -> c\.test is ours: "
                                   r"invalid"))
        self.assertEqual(ask("b.test", "c.test", dialback_key(B, "c.test", "b.test", sid)), "valid")
        self.assertTrue(B.wait_log(r"dialback: asked whether a key for b\.test -> c\.test is ours: "
                                   r"valid"))
        # three pairs is C's [s2s] max_link_pairs: a good key is refused too
        m = p.mark()
        p.send("<db:result from='b.test' to='c2.test'>%s</db:result>"
               % dialback_key(B, "c2.test", "b.test", sid))
        self.assertEqual(db_answer(p, "c2.test", "b.test", m), "error")
        self.assertIn("resource-constraint", p.qtext()[m:])
        out = C._ctl(["s2s"])
        for local, remote in (("c", "a"), ("c2", "a"), ("c", "b")):
            self.assertRegex(out, r"(?m)^%s\.test\t%s\.test\tin\t.*\tdialback\t" % (local, remote))
        # stanzas of each authenticated pair arrive
        mc, ml = carol.mark(), cleo.mark()
        p.send("<message from='amy@a.test/x' to='cleo@c2.test/m5' type='chat' id='x5'>"
               "<body>pair two</body></message>")
        # the peer's header declares the db prefix: content that does not
        # use it goes on as the peer wrote it, not serialized again (an
        # presence: a message for an account is rewritten with its archive
        # id)
        p.send("<presence from='amy@a.test/x' to='cleo@c2.test/m5'>"
               "<x:q xmlns:x='urn:x'>as sent</x:q></presence>")
        p.send("<message from='ben@b.test/x' to='carol@c.test/m5' type='chat' id='x6'>"
               "<body>pair three</body></message>")
        self.assertIn("pair two", cleo.read_until("pair two", timeout=10, start=ml)[ml:])
        got = cleo.read_until("as sent", timeout=10, start=ml)[ml:]
        self.assertIn("><x:q xmlns:x='urn:x'>as sent</x:q></presence>", got)
        self.assertIn("pair three", carol.read_until("pair three", timeout=10, start=mc)[mc:])
        # the refused pair's stanza ends the stream, undelivered
        m = p.mark()
        p.send("<message from='ben@b.test/x' to='cleo@c2.test/m5' type='chat' id='x7'>"
               "<body>not this pair</body></message>")
        got = p.read_until_closed(timeout=10)[m:]
        self.assertEqual(stream_error_condition(got), "host-unknown")
        self.assertNotIn("not this pair", cleo.qtext())

    def test_06_multiplexing_needs_an_authenticated_stream(self):
        # before the stream is authenticated, a db:result must be for the
        # header's domains
        p = Peer(C.port("s2s"), PKI.rogue, cert=PKI.leaf("p-b", "DNS:a.test", ca="rogue"))
        p.server_name = "c.test"
        self.addCleanup(p.close)
        p.header(to="c.test", frm="a.test")
        p.starttls_negotiate()
        p.start_tls()
        p.header(to="c.test", frm="a.test")
        m = p.mark()
        p.send("<db:result from='b.test' to='c.test'>%s</db:result>" % ("0" * 64))
        got = p.read_until_closed(timeout=10)[m:]
        self.assertEqual(stream_error_condition(got), "invalid-from")

    def test_07_certificate_covers_another_pair(self):
        # XEP-0344 2.4: a trusted certificate that names the new domain
        # too authenticates it without asking anyone (x.test has no
        # route from C: a verification could not even start)
        carol = C.login("carol", "pw-carol", "m7", presence="<presence/>")
        self.addCleanup(carol.close)
        p = Peer(C.port("s2s"), PKI.rogue, cert=PKI.leaf("p-ax", "DNS:a.test,DNS:x.test"))
        p.server_name = "c.test"
        self.addCleanup(p.close)
        p.header(to="c.test", frm="a.test")
        p.starttls_negotiate()
        p.start_tls()
        feats = p.header(to="c.test", frm="a.test")
        self.assertIn("<mechanism>EXTERNAL</mechanism>", feats)
        self.assertIn("<success", p.external())
        p.received = b""
        p.header(to="c.test", frm="a.test")
        m = p.mark()
        p.send("<db:result from='x.test' to='c.test'>%s</db:result>" % ("ab" * 32))
        self.assertEqual(db_answer(p, "c.test", "x.test", m), "valid")
        self.assertTrue(C.wait_log(r"also carries x\.test -> c\.test now \(its certificate names it\)"))
        mc = carol.mark()
        p.send("<message from='xena@x.test/x' to='carol@c.test/m7' type='chat' id='x8'>"
               "<body>covered</body></message>")
        self.assertIn("covered", carol.read_until("covered", timeout=10, start=mc)[mc:])

    def test_08_refused_requests_are_bounded(self):
        # each refused request for another pair may cost a verification
        # stream: [sasl] max_auth_attempts of them end the stream
        p = Peer(C.port("s2s"), PKI.rogue, cert=PKI.leaf("p-c", "DNS:a.test", ca="rogue"))
        p.server_name = "c.test"
        self.addCleanup(p.close)
        p.header(to="c.test", frm="a.test")
        p.starttls_negotiate()
        p.start_tls()
        got = p.header(to="c.test", frm="a.test")
        sid = re.search(r"<stream:stream[^>]*\bid=['\"]([^'\"]+)", got).group(1)
        m = p.mark()
        p.send("<db:result from='a.test' to='c.test'>%s</db:result>"
               % dialback_key(A, "c.test", "a.test", sid))
        self.assertEqual(db_answer(p, "c.test", "a.test", m), "valid")
        m = p.mark()
        for i in range(MAX_AUTH_ATTEMPTS - 1):
            p.send("<db:result from='d%d.test' to='c.test'>not-a-key</db:result>" % i)
            self.assertEqual(db_answer(p, "c.test", "d%d.test" % i, m), "error")
        self.assertNotIn("</stream:stream>", p.qtext()[m:])
        p.send("<db:result from='last.test' to='c.test'>not-a-key</db:result>")
        got = p.read_until_closed(timeout=10)[m:]
        self.assertEqual(stream_error_condition(got), "policy-violation")

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
