#!/usr/bin/python3
"""Inbound server-to-server links (s2s/s2s_in.c): a raw peer server speaks
jabber:server to xmppd's s2s listeners over Python's TLS stack, presenting
certificates that a test CA made for this run (openssl).

- STARTTLS (required: nothing else is offered before it) and direct TLS
  with ALPN xmpp-server; SASL EXTERNAL (XEP-0178) offered only when the
  peer's certificate verifies against [s2s] ca_file and names the 'from'
  domain; a message then reaches a local user as jabber:client, and one for
  an offline user waits in offline storage;
- refused: a certificate for another domain, one from an untrusted CA, no
  certificate, a plaintext peer, an authzid that is not 'from', our own
  domain as 'from';
- on an authenticated link: a forged 'from' domain gets <invalid-from/>, a
  'to' outside the stream's domain <host-unknown/>, a stanza without 'to'
  <improper-addressing/>; none of them is delivered;
- [s2s] max_stanza_size applies to server links, not [limits]'s;
- a peer that does not authenticate within [limits] preauth_timeout is
  cut off, as a client would be.

Run: /usr/bin/python3 test_s2s_in.py --xmppd PATH --xmppctl PATH
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from s2s_pki import Pki  # noqa: E402
from harness import DOMAIN, SASL_NS, RawClient, Server, stream_error_condition  # noqa: E402

XMPPD = XMPPCTL = None
SRV = None
PKI = None
REMOTE = "b.test"
S2S_LIMIT = 8192
PREAUTH = 3


class Peer(RawClient):
    """A raw peer server: jabber:server stream headers, TLS with a client
    certificate (cert, key), checking ours against the server's own."""

    def __init__(self, port, cafile, cert=None, direct=False, **kw):
        self.client_cert = cert
        self.direct = direct
        super().__init__(port, tls=direct, cafile=cafile, **kw)

    def start_tls(self):
        ctx = harness.client_ssl_context(self.cafile)
        if self.client_cert:
            ctx.load_cert_chain(*self.client_cert)
        if self.direct:
            ctx.set_alpn_protocols(["xmpp-server"])
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.server_name)
        return self.sock

    def header(self, frm=REMOTE, to=DOMAIN):
        m = self.mark()
        attrs = ("xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
                 "xmlns:db='jabber:server:dialback' version='1.0'")
        if frm is not None:
            attrs += " from='%s'" % frm
        if to is not None:
            attrs += " to='%s'" % to
        self.send("<?xml version='1.0'?><stream:stream %s>" % attrs)
        return self.read_until(re.compile("</stream:features>|</stream:stream>"), start=m)[m:]

    def secure(self, frm=REMOTE):
        """STARTTLS (unless direct) and the header after it; returns the
        features (or the error) that follow."""
        if not self.direct:
            feats = self.header(frm)
            assert "<starttls" in feats and "<required/>" in feats, feats
            assert "EXTERNAL" not in feats, feats
            self.starttls_negotiate()
            self.start_tls()
        return self.header(frm)

    def external(self, authzid="="):
        m = self.mark()
        self.send("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>" % (SASL_NS, authzid))
        return self.read_until(re.compile("<success|</failure>|</stream:stream>"), start=m)[m:]

    def link(self, frm=REMOTE):
        """Authenticated and restarted: returns the final features."""
        feats = self.secure(frm)
        assert "<mechanism>EXTERNAL</mechanism>" in feats, feats
        got = self.external()
        assert "<success" in got, got
        self.received = b""
        return self.header(frm)


def logged_in(user, resource):
    return SRV.login(user, "pw-" + user, resource, presence="<presence/>")


def setUpModule():
    global SRV, PKI
    PKI = Pki()
    SRV = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice", "olga": "pw-olga"}, name="s2sin",
                 sections={"s2s": {"ca_file": PKI.ca, "max_stanza_size": S2S_LIMIT},
                           "limits": {"max_stanza_size": 65536, "preauth_timeout": PREAUTH}},
                 listeners={"dtls": {"mode": "direct_tls"},
                            "s2s": {"type": "s2s", "mode": "starttls"},
                            "s2s_tls": {"type": "s2s", "mode": "direct_tls"}})
    SRV.start()
    PKI.good = PKI.leaf("b", "DNS:b.test")
    PKI.wrong = PKI.leaf("wrong", "DNS:wrong.test")
    PKI.untrusted = PKI.leaf("untrusted", "DNS:b.test", ca="rogue")


def tearDownModule():
    try:
        if SRV is not None:
            SRV.check_clean_exit(unittest.TestCase())
    finally:
        if SRV is not None:
            SRV.cleanup()
        if PKI is not None:
            PKI.cleanup()


class Authenticated(unittest.TestCase):

    def peer(self, direct=False, cert="good"):
        port = SRV.port("s2s_tls" if direct else "s2s")
        p = Peer(port, SRV.cert, cert=getattr(PKI, cert) if cert else None, direct=direct)
        self.addCleanup(p.close)
        return p

    def message_arrives(self, direct):
        alice = logged_in("alice", "in%d" % direct)
        self.addCleanup(alice.close)
        p = self.peer(direct=direct)
        feats = p.link()
        self.assertNotIn("<mechanisms", feats)
        body = "over %s" % ("direct TLS" if direct else "STARTTLS")
        m = alice.mark()
        p.send("<message from='bob@b.test/x' to='alice@localhost' type='chat' id='m%d'>"
               "<body>%s</body></message>" % (direct, body))
        got = alice.read_until(body, start=m)[m:].replace('"', "'")
        self.assertIn(body, got)
        self.assertIn("from='bob@b.test/x'", got)
        self.assertNotIn("jabber:server", got)
        self.assertTrue(SRV.wait_log(r"s2s-in b\.test -> localhost: link up \(inbound, TLS 1\.[23], "
                                     r"[A-Z0-9-]+, SASL EXTERNAL\)"))

    def test_01_starttls_external_message(self):
        self.message_arrives(direct=False)

    def test_02_direct_tls_external_message(self):
        self.message_arrives(direct=True)

    def test_03_offline_message_is_kept(self):
        p = self.peer()
        p.link()
        p.send("<message from='bob@b.test' to='olga@localhost' type='chat' id='off1'>"
               "<body>while you were away</body></message>")
        # the link stays up: the message was taken
        p.send("<message from='bob@b.test' to='olga@localhost' type='chat' id='off2'>"
               "<body>and another</body></message>")
        deadline = time.monotonic() + 5
        got = ""
        while time.monotonic() < deadline and "and another" not in got:
            olga = logged_in("olga", "back")
            got = olga.read_until("and another", timeout=1)
            olga.close()
        self.assertIn("while you were away", got)
        self.assertIn("and another", got)

    def test_04_forged_from_domain(self):
        alice = logged_in("alice", "forged")
        self.addCleanup(alice.close)
        p = self.peer()
        p.link()
        m = alice.mark()
        p.send("<message from='mallory@c.test' to='alice@localhost'><body>forged</body></message>")
        got = p.read_until_closed()
        self.assertEqual(stream_error_condition(got), "invalid-from")
        time.sleep(0.3)
        self.assertNotIn("forged", alice.text()[m:])

    def test_05_to_outside_the_stream(self):
        p = self.peer()
        p.link()
        p.send("<message from='bob@b.test' to='someone@elsewhere.test'><body>x</body></message>")
        self.assertEqual(stream_error_condition(p.read_until_closed()), "host-unknown")

    def test_06_no_to(self):
        p = self.peer()
        p.link()
        p.send("<message from='bob@b.test'><body>x</body></message>")
        self.assertEqual(stream_error_condition(p.read_until_closed()), "improper-addressing")

    def test_07_authzid_must_be_from(self):
        p = self.peer()
        feats = p.secure()
        self.assertIn("EXTERNAL", feats)
        import base64
        got = p.external(base64.b64encode(b"c.test").decode())
        self.assertIn("<invalid-authzid/>", got)
        got = p.external(base64.b64encode(b"b.test").decode())
        self.assertIn("<success", got)

    def test_08_s2s_stanza_limit(self):
        alice = logged_in("alice", "limit")
        self.addCleanup(alice.close)
        p = self.peer()
        p.link()
        m = alice.mark()
        small = "s" * (S2S_LIMIT // 2)
        p.send("<message from='bob@b.test' to='alice@localhost/limit'><body>%s</body></message>"
               % small)
        self.assertIn(small, alice.read_until(small, start=m)[m:])
        big = "b" * S2S_LIMIT
        p.send("<message from='bob@b.test' to='alice@localhost/limit'><body>%s</body></message>"
               % big)
        self.assertEqual(stream_error_condition(p.read_until_closed()), "policy-violation")
        self.assertNotIn(big, alice.text()[m:])


class Refused(unittest.TestCase):

    def refused(self, cert, why, direct=False):
        port = SRV.port("s2s_tls" if direct else "s2s")
        mark = SRV.log_len()
        p = Peer(port, SRV.cert, cert=getattr(PKI, cert) if cert else None, direct=direct)
        self.addCleanup(p.close)
        got = p.secure()
        self.assertNotIn("<mechanism", got)
        self.assertEqual(stream_error_condition(got + p.read_until_closed()), "policy-violation")
        self.assertTrue(SRV.wait_log(why, start=mark), why)

    def test_01_wrong_domain(self):
        self.refused("wrong", r"s2s-in b\.test -> localhost: certificate does not name b\.test")

    def test_02_untrusted_ca(self):
        self.refused("untrusted", r"s2s-in b\.test -> localhost: certificate not trusted")

    def test_03_no_certificate(self):
        self.refused(None, r"s2s-in b\.test -> localhost: no certificate from the peer")

    def test_04_wrong_domain_direct_tls(self):
        self.refused("wrong", r"certificate does not name b\.test", direct=True)

    def test_05_plaintext_peer(self):
        p = Peer(SRV.port("s2s"), SRV.cert)
        self.addCleanup(p.close)
        feats = p.header()
        self.assertIn("<required/>", feats)
        self.assertNotIn("mechanism", feats)
        p.send("<auth xmlns='%s' mechanism='EXTERNAL'>=</auth>" % SASL_NS)
        self.assertEqual(stream_error_condition(p.read_until_closed()), "policy-violation")

    def test_06_plaintext_stanza(self):
        alice = logged_in("alice", "plain")
        self.addCleanup(alice.close)
        m = alice.mark()
        p = Peer(SRV.port("s2s"), SRV.cert)
        self.addCleanup(p.close)
        p.header()
        p.send("<message from='bob@b.test' to='alice@localhost'><body>plaintext</body></message>")
        self.assertEqual(stream_error_condition(p.read_until_closed()), "policy-violation")
        time.sleep(0.3)
        self.assertNotIn("plaintext", alice.text()[m:])

    def test_07_our_own_domain_as_from(self):
        p = Peer(SRV.port("s2s"), SRV.cert)
        self.addCleanup(p.close)
        got = p.header(frm=DOMAIN)
        self.assertEqual(stream_error_condition(got + p.read_until_closed()), "invalid-from")

    def test_08_no_from(self):
        p = Peer(SRV.port("s2s"), SRV.cert)
        self.addCleanup(p.close)
        got = p.header(frm=None)
        self.assertEqual(stream_error_condition(got + p.read_until_closed()), "invalid-from")

    def test_09_client_namespace_on_s2s_port(self):
        p = Peer(SRV.port("s2s"), SRV.cert)
        self.addCleanup(p.close)
        p.send(harness.stream_header())
        self.assertEqual(stream_error_condition(p.read_until_closed()), "invalid-namespace")

    def test_11_preauth_timeout(self):
        # a peer that never authenticates holds its connection for
        # [limits] preauth_timeout, as a client would
        p = Peer(SRV.port("s2s"), SRV.cert)
        self.addCleanup(p.close)
        p.header()
        t0 = time.monotonic()
        got = p.read_until_closed(timeout=PREAUTH + 5)
        self.assertEqual(stream_error_condition(got), "connection-timeout")
        self.assertGreater(time.monotonic() - t0, PREAUTH - 1)

    def test_10_unknown_local_domain(self):
        p = Peer(SRV.port("s2s"), SRV.cert)
        self.addCleanup(p.close)
        got = p.header(to="nothere.test")
        self.assertEqual(stream_error_condition(got + p.read_until_closed()), "host-unknown")


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
