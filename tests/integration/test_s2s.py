#!/usr/bin/python3
"""Federation between two xmppd processes on loopback (issue 12): A serves
a.test, B serves b.test and c.test, with certificates from a test CA that
both trust; each reaches the other through [s2s_route] (no DNS).

- a message from alice@a.test reaches bob@b.test over STARTTLS and SASL
  EXTERNAL (A's outbound link, B's inbound one), and bob's reply comes
  back over the same link (XEP-0288, both servers offer it by default): B
  opens none of its own; carol@c.test is reached over direct TLS (ALPN
  xmpp-server) on the same server;
- an iq to the remote server is answered across both links;
- a presence subscription completes across the links (request, approval,
  roster pushes on both sides), the contact's presence then reaches the
  subscriber, its end too, and a new session of the subscriber gets it by
  probe;
- messages sent while the link comes up wait, and arrive in order; the
  link is made once and then reused;
- a domain with no route is found through DNS: A asks a DNS server the
  test runs on loopback ([s2s] dns_servers), whose SRV records put direct
  TLS (_xmpps-server) ahead of STARTTLS (XEP-0368), so the real c-ares
  path runs end to end;
- what cannot be delivered bounces to its sender: a domain whose route
  leads to a closed port (remote-server-not-found), a peer that never
  answers (remote-server-timeout within [s2s] connect_timeout), a peer
  whose certificate does not name the domain, a peer that does not offer
  STARTTLS; each says why in A's log;
- what a local account has works for remote senders too: a message for an
  offline account waits in offline storage and is in both archives (MAM,
  the sender's on A and the recipient's on B) with the same body; once the
  recipient blocks the remote sender (XEP-0191), its messages bounce with
  service-unavailable across the links and are neither delivered nor
  kept, and the recipient's own messages to it are refused with
  not-acceptable;
- the initiating side of XEP-0288 against a raw receiving peer: A asks for
  bidi before SASL EXTERNAL, takes the peer's message and iq on its own
  link, and ends the link with <invalid-from/> when the peer sends from a
  domain it did not authenticate (nothing delivered);
- a peer's bidirectional link that arrives while A's own link to it is up
  waits on standby, and carries A's stanzas once A's link goes down: the
  next stanza opens no new connection.

Run: /usr/bin/python3 test_s2s.py --xmppd PATH --xmppctl PATH
"""

import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import LOCALHOST, Server, free_ports  # noqa: E402
from loopback_dns import LoopbackDns  # noqa: E402
from s2s_peer import InitiatingPeer, ReceivingPeer  # noqa: E402
from s2s_pki import Pki, end_all  # noqa: E402

XMPPD = XMPPCTL = None
A = B = PKI = None
CONNECT_TIMEOUT = 3
STANZA_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class SilentPeer:
    """A loopback port that accepts connections and then says nothing (or,
    with `plain`, answers a stream header with features that offer no
    STARTTLS); stops with the test module."""

    def __init__(self, plain=False):
        self.plain = plain
        self.sock = socket.socket()
        self.sock.bind((LOCALHOST, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            if self.plain:
                c.settimeout(5)
                try:
                    c.recv(4096)
                    c.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                              b"xmlns:stream='http://etherx.jabber.org/streams' id='x1' "
                              b"from='plain.test' version='1.0'><stream:features/>")
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


PEERS = {}
DNS = None


def setUpModule():
    global A, B, PKI, DNS
    PKI = Pki()
    a_cert = PKI.leaf("a", "DNS:a.test")
    b_cert = PKI.leaf("b", "DNS:b.test")
    c_cert = PKI.leaf("c", "DNS:c.test")
    PEERS["silent"] = SilentPeer()
    PEERS["plain"] = SilentPeer(plain=True)
    PEERS["bidi"] = ReceivingPeer(PKI.leaf("bidi", "DNS:bidi.test"), "bidi.test")
    PEERS["standby"] = ReceivingPeer(PKI.leaf("standby", "DNS:standby.test"), "standby.test")
    closed_port = free_ports(1)[0]
    s2s_listeners = {"dtls": {"mode": "direct_tls"},
                     "s2s": {"type": "s2s", "mode": "starttls"},
                     "s2s_tls": {"type": "s2s", "mode": "direct_tls"}}
    common = {"s2s": {"ca_file": PKI.ca, "connect_timeout": CONNECT_TIMEOUT}}
    d_cert = PKI.leaf("d", "DNS:d.test")
    r_cert = PKI.leaf("r", "DNS:rogue.test", ca="rogue")
    A = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice", "dave": "pw-dave"}, name="s2s-a", domain="a.test",
               cert_files=a_cert, cafile=PKI.ca, sections=dict(common),
               listeners=s2s_listeners)
    B = Server(XMPPD, XMPPCTL, users={"bob": "pw-bob", "erin": "pw-erin", "fiona": "pw-fiona",
                                      "carol@c.test": "pw-carol"},
               name="s2s-b", domain="b.test", cert_files=b_cert, cafile=PKI.ca,
               sections=dict(common, **{"host c.test": {"certificate": c_cert[0],
                                                        "key": c_cert[1]},
                                        # served with b.test's certificate: an impostor
                                        "host wrong.test": {"certificate": b_cert[0],
                                                            "key": b_cert[1]},
                                        # found by A through DNS only
                                        "host d.test": {"certificate": d_cert[0],
                                                        "key": d_cert[1]},
                                        # its certificate from a CA A does not trust
                                        "host rogue.test": {"certificate": r_cert[0],
                                                            "key": r_cert[1]}}),
               listeners=s2s_listeners)
    A.cfg["s2s_route b.test"] = {"address": LOCALHOST, "port": B.port("s2s")}
    A.cfg["s2s_route c.test"] = {"address": LOCALHOST, "port": B.port("s2s_tls"),
                                 "mode": "direct_tls"}
    # B serves wrong.test with a certificate for b.test
    A.cfg["s2s_route wrong.test"] = {"address": LOCALHOST, "port": B.port("s2s")}
    A.cfg["s2s_route rogue.test"] = {"address": LOCALHOST, "port": B.port("s2s")}
    A.cfg["s2s_route closed.test"] = {"address": LOCALHOST, "port": closed_port}
    A.cfg["s2s_route silent.test"] = {"address": LOCALHOST, "port": PEERS["silent"].port}
    A.cfg["s2s_route plain.test"] = {"address": LOCALHOST, "port": PEERS["plain"].port}
    A.cfg["s2s_route bidi.test"] = {"address": LOCALHOST, "port": PEERS["bidi"].port}
    A.cfg["s2s_route standby.test"] = {"address": LOCALHOST, "port": PEERS["standby"].port}
    B.cfg["s2s_route a.test"] = {"address": LOCALHOST, "port": A.port("s2s")}
    # d.test: direct TLS first (priority 5), STARTTLS as the fallback
    DNS = LoopbackDns({
        ("_xmpps-server._tcp.d.test", "SRV"): [(5, 0, B.port("s2s_tls"), "xmpp.d.test")],
        ("_xmpp-server._tcp.d.test", "SRV"): [(10, 0, B.port("s2s"), "xmpp.d.test")],
        ("xmpp.d.test", "A"): [LOCALHOST],
    })
    A.cfg["s2s"]["dns_servers"] = "%s:%d" % (LOCALHOST, DNS.port)
    B.cfg["s2s"]["dns_servers"] = "%s:%d" % (LOCALHOST, DNS.port)
    A._write_ini()
    B._write_ini()
    A.start()
    B.start()


def tearDownModule():
    end_all((A, B), PKI, list(PEERS.values()) + [DNS])


def login(srv, user, res):
    if "@" not in user:
        return srv.login(user, "pw-" + user, res, presence="<presence/>")
    local, domain = user.split("@")
    c = harness.RawClient(srv.port("dtls"), tls=True, cafile=srv.cafile, server_name=domain)
    c.open_stream(to=domain)
    got = c.login_plain(local, "pw-" + local, resource=res)
    assert "<jid>%s/%s</jid>" % (user, res) in got, got
    c.send("<presence/>")
    return c


def message(to, body, mid):
    return "<message to='%s' type='chat' id='%s'><body>%s</body></message>" % (to, mid, body)


def error_for(client, mid, start, timeout):
    """The condition of the error stanza with id mid, or None."""
    pat = re.compile(r"<message[^>]*id=.%s.[^>]*type=.error.|<message[^>]*type=.error.[^>]*id=.%s."
                     % (mid, mid))
    got = client.read_until(pat, timeout=timeout, start=start)[start:]
    m = pat.search(got)
    if not m:
        return None
    rest = got[m.start():]
    c = re.search(r"<([a-z-]+) xmlns=.%s./>" % re.escape(STANZA_NS), rest)
    return c.group(1) if c else "?"


class Federation(unittest.TestCase):

    def test_01_message_both_ways(self):
        alice = login(A, "alice", "fed1")
        bob = login(B, "bob", "fed1")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        m = bob.mark()
        alice.send(message("bob@b.test", "hello from a", "f1"))
        got = bob.read_until("hello from a", timeout=10, start=m)[m:].replace('"', "'")
        self.assertIn("hello from a", got)
        self.assertIn("from='alice@a.test/fed1'", got)
        m = alice.mark()
        bob.send(message("alice@a.test/fed1", "hello from b", "f2"))
        got = alice.read_until("hello from b", timeout=10, start=m)[m:].replace('"', "'")
        self.assertIn("hello from b", got)
        self.assertIn("from='bob@b.test/fed1'", got)
        # one link, both ways (XEP-0288, on by default at both ends): B
        # answers over the link A opened and opens none of its own
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> b\.test: link up \(outbound to "
                                   r"127\.0\.0\.1:\d+, TLS 1\.[23], [A-Z0-9-]+, SASL EXTERNAL, "
                                   r"bidirectional\)"))
        self.assertTrue(B.wait_log(r"s2s-in a\.test -> b\.test: link up \(inbound, .*, "
                                   r"bidirectional\)"))
        self.assertNotRegex(B.log(), r"s2s-out b\.test -> a\.test")
        self.assertNotRegex(A.log(), r"s2s-in b\.test -> a\.test")
        # xmppctl s2s lists it, each side its end
        out = A._ctl(["s2s"])
        self.assertRegex(out, r"(?m)^a\.test\tb\.test\tout\+bidi\t127\.0\.0\.1:%d\t\d{4}-\d\d-"
                              r"\d\dT[0-9:]+Z\tTLSv1\.[23]\tEXTERNAL\t(awake|asleep)$" % B.port("s2s"))
        self.assertNotRegex(out, r"(?m)^a\.test\tb\.test\tin")
        self.assertNotIn("alice", out)
        out = B._ctl(["s2s"])
        self.assertRegex(out, r"(?m)^b\.test\ta\.test\tin\+bidi\t")
        self.assertNotRegex(out, r"(?m)^b\.test\ta\.test\tout")

    def test_02_direct_tls(self):
        alice = login(A, "alice", "fed2")
        carol = login(B, "carol@c.test", "fed2")
        self.addCleanup(alice.close)
        self.addCleanup(carol.close)
        m = carol.mark()
        alice.send(message("carol@c.test", "over direct tls", "d1"))
        self.assertIn("over direct tls", carol.read_until("over direct tls", timeout=10, start=m)[m:])
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> c\.test: link up"))
        self.assertTrue(B.wait_log(r"TLS 1\.[23] established \(layer 0, sni=c\.test, "
                                   r"alpn=xmpp-server\)"))

    def test_03_iq_to_remote_server(self):
        alice = login(A, "alice", "fed3")
        self.addCleanup(alice.close)
        got = alice.ask("<iq to='b.test' type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>",
                        "ping1", timeout=10)
        self.assertIn("type='result'", got)
        self.assertIn("from='b.test'", got)

    def test_04_queue_in_order_one_link(self):
        # c.test's link may be up already; a fresh pair: B -> A is up too.
        # Use a.test -> b.test after it went down? Simpler: count links.
        alice = login(A, "alice", "fed4")
        bob = login(B, "bob", "fed4")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        m = bob.mark()
        for i in range(20):
            alice.send(message("bob@b.test/fed4", "n%02d" % i, "q%d" % i))
        got = bob.read_until("n19", timeout=10, start=m)[m:]
        seen = re.findall(r"<body>(n\d\d)</body>", got)
        self.assertEqual(seen, ["n%02d" % i for i in range(20)])
        self.assertEqual(len(re.findall(r"s2s-out a\.test -> b\.test: connecting", A.log())), 1)

    def test_09_presence_subscription(self):
        dave = login(A, "dave", "d1")
        erin = login(B, "erin", "e1")
        self.addCleanup(dave.close)
        self.addCleanup(erin.close)
        # roster pushes go to resources that asked for the roster (RFC 6121 2.1.6)
        for c in (dave, erin):
            c.ask("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>", "r0")
        m = erin.mark()
        dave.send("<presence to='erin@b.test' type='subscribe'/>")
        got = erin.read_until(re.compile(r"<presence[^>]*type=.subscribe."), timeout=10, start=m)
        got = got[m:].replace('"', "'")
        self.assertRegex(got, r"<presence[^>]*from='dave@a\.test'[^>]*type='subscribe'|"
                              r"<presence[^>]*type='subscribe'[^>]*from='dave@a\.test'")
        md = dave.mark()
        erin.send("<presence to='dave@a.test' type='subscribed'/>")
        push = re.compile(r"<item[^>]*jid=.erin@b\.test.[^>]*subscription=.to.|"
                          r"<item[^>]*subscription=.to.[^>]*jid=.erin@b\.test.")
        got = dave.read_until(push, timeout=10, start=md)[md:]
        self.assertRegex(got, push)
        # erin's presence follows her approval
        avail = re.compile(r"<presence[^>]*from=.erin@b\.test/e1.(?![^>]*type=)[^>]*>")
        got = dave.read_until(avail, timeout=10, start=md)[md:]
        self.assertRegex(got, avail)
        # erin's roster says dave is subscribed to her
        r = erin.ask("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>", "r1")
        self.assertRegex(r, r"jid='dave@a\.test'[^>]*subscription='from'|"
                            r"subscription='from'[^>]*jid='dave@a\.test'")
        # a new session of dave probes b.test and gets erin's presence
        dave2 = login(A, "dave", "d2")
        self.addCleanup(dave2.close)
        got = dave2.read_until(avail, timeout=10)
        self.assertRegex(got, avail)
        # erin goes offline: both of dave's sessions hear it
        m1, m2 = dave.mark(), dave2.mark()
        erin.send("<presence type='unavailable'/>")
        unavail = re.compile(r"<presence[^>]*from=.erin@b\.test/e1.[^>]*type=.unavailable.|"
                             r"<presence[^>]*type=.unavailable.[^>]*from=.erin@b\.test/e1.")
        self.assertRegex(dave.read_until(unavail, timeout=10, start=m1)[m1:], unavail)
        self.assertRegex(dave2.read_until(unavail, timeout=10, start=m2)[m2:], unavail)

    def test_10_found_through_dns(self):
        alice = login(A, "alice", "fed10")
        self.addCleanup(alice.close)
        B._ctl(["adduser", "dora@d.test"], stdin="pw-dora\n")
        dora = login(B, "dora@d.test", "dns")
        self.addCleanup(dora.close)
        m = dora.mark()
        alice.send(message("dora@d.test", "via SRV", "n1"))
        self.assertIn("via SRV", dora.read_until("via SRV", timeout=10, start=m)[m:])
        self.assertTrue(A.wait_log(r"a\.test -> d\.test: connecting \(DNS SRV\)"))
        self.assertTrue(A.wait_log(r"a\.test -> d\.test: trying xmpp\.d\.test port %d "
                                   r"\(direct TLS\)" % B.port("s2s_tls")))
        self.assertTrue(A.wait_log(r"a\.test -> d\.test: link up"))
        self.assertIn(("_xmpps-server._tcp.d.test", "SRV"), DNS.asked)
        self.assertIn(("_xmpp-server._tcp.d.test", "SRV"), DNS.asked)
        self.assertIn(("xmpp.d.test", "A"), DNS.asked)

    def test_11_check_says_what_dns_has(self):
        # xmppctl check asks DNS as xmppd does: d.test has both services,
        # b.test none (a warning; the test CA's chains make it fail anyway)
        out = subprocess.run([B.xmppctl, "-c", B.ini, "check"], capture_output=True, text=True,
                             timeout=60).stdout
        self.assertIn("_xmpps-server._tcp.d.test -> xmpp.d.test port %d (priority 5, weight 0)"
                      % B.port("s2s_tls"), out)
        self.assertIn("_xmpp-server._tcp.d.test -> xmpp.d.test port %d (priority 10, weight 0)"
                      % B.port("s2s"), out)
        self.assertIn("WARNING: missing: no SRV record under _xmpp-server._tcp.b.test or "
                      "_xmpps-server._tcp.b.test: other servers will try b.test port 5269", out)

    def test_05_closed_port_bounces(self):
        alice = login(A, "alice", "fed5")
        self.addCleanup(alice.close)
        m = alice.mark()
        t0 = time.monotonic()
        alice.send(message("x@closed.test", "nobody listens", "c1"))
        self.assertEqual(error_for(alice, "c1", m, timeout=CONNECT_TIMEOUT + 5),
                         "remote-server-not-found")
        self.assertLess(time.monotonic() - t0, CONNECT_TIMEOUT + 2)
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> closed\.test: link failed: connect to "
                                   r"127\.0\.0\.1:\d+: Connection refused"))

    def test_06_silent_peer_times_out(self):
        alice = login(A, "alice", "fed6")
        self.addCleanup(alice.close)
        m = alice.mark()
        t0 = time.monotonic()
        alice.send(message("x@silent.test", "anyone there", "s1"))
        alice.send("<iq to='x@silent.test/r' type='get' id='s2'><ping xmlns='urn:xmpp:ping'/></iq>")
        self.assertEqual(error_for(alice, "s1", m, timeout=CONNECT_TIMEOUT + 5),
                         "remote-server-timeout")
        took = time.monotonic() - t0
        self.assertGreater(took, CONNECT_TIMEOUT - 1)
        self.assertLess(took, CONNECT_TIMEOUT + 3)
        # (the two bounces may come in one read: look from m)
        iq = re.compile(r"<iq[^>]*id=.s2.[^>]*>.*?</iq>", re.S)
        got = alice.read_until(iq, timeout=2, start=m)[m:]
        self.assertIn("remote-server-timeout", iq.search(got).group(0))
        self.assertTrue(A.wait_log(r"silent\.test: link failed: not done within %ds" %
                                   CONNECT_TIMEOUT))

    def test_07_wrong_certificate(self):
        alice = login(A, "alice", "fed7")
        self.addCleanup(alice.close)
        m = alice.mark()
        alice.send(message("x@wrong.test", "to an impostor", "w1"))
        self.assertEqual(error_for(alice, "w1", m, timeout=CONNECT_TIMEOUT + 5),
                         "remote-server-not-found")
        self.assertTrue(A.wait_log(r"wrong\.test: link failed: certificate does not name "
                                   r"wrong\.test"))

    def test_07b_untrusted_certificate(self):
        alice = login(A, "alice", "fed7b")
        self.addCleanup(alice.close)
        m = alice.mark()
        alice.send(message("x@rogue.test", "to an unknown CA", "u1"))
        self.assertEqual(error_for(alice, "u1", m, timeout=CONNECT_TIMEOUT + 5),
                         "remote-server-not-found")
        self.assertTrue(A.wait_log(r"rogue\.test: link failed: certificate not trusted: "))

    def test_08_no_starttls(self):
        alice = login(A, "alice", "fed8")
        self.addCleanup(alice.close)
        m = alice.mark()
        alice.send(message("x@plain.test", "in the clear", "p1"))
        self.assertEqual(error_for(alice, "p1", m, timeout=CONNECT_TIMEOUT + 5),
                         "remote-server-not-found")
        self.assertTrue(A.wait_log(r"plain\.test: link failed: the peer does not offer STARTTLS"))

    def test_12_offline_archive_blocking(self):
        alice = login(A, "alice", "fed12")
        self.addCleanup(alice.close)
        # fiona has no session: the message waits for her on B
        m = alice.mark()
        alice.send(message("fiona@b.test", "while you were out", "o1"))
        self.assertIsNone(error_for(alice, "o1", m, timeout=2))
        self.assertTrue(B.wait_log(r"s2s-in a\.test -> b\.test: link up", timeout=10))
        fiona = login(B, "fiona", "f1")
        self.addCleanup(fiona.close)
        got = fiona.read_until("while you were out", timeout=10).replace('"', "'")
        self.assertRegex(got, r"<message[^>]*from='alice@a\.test/fed12'")
        self.assertIn("urn:xmpp:delay", got)
        # both archives have it, each from its own side
        for c, who, qid in ((fiona, "alice@a.test", "mq1"), (alice, "fiona@b.test", "mq2")):
            start = c.mark()
            r = c.ask("<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2' queryid='%s'>"
                      "<x xmlns='jabber:x:data' type='submit'>"
                      "<field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>"
                      "<field var='with'><value>%s</value></field></x></query></iq>"
                      % (qid, qid, who), qid, timeout=10)
            self.assertIn("type='result'", r)
            results = c.qtext()[start:]
            self.assertIn("while you were out", results)
            self.assertIn("queryid='%s'" % qid, results.replace('"', "'"))
        # fiona blocks alice: alice's messages bounce over the links
        r = fiona.ask("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'>"
                      "<item jid='alice@a.test'/></block></iq>", "b1", timeout=5)
        self.assertIn("type='result'", r)
        m, mf = alice.mark(), fiona.mark()
        alice.send(message("fiona@b.test/f1", "blocked one", "o2"))
        self.assertEqual(error_for(alice, "o2", m, timeout=10), "service-unavailable")
        # and to her bare JID (no offline copy either): the same
        alice.send(message("fiona@b.test", "blocked two", "o3"))
        self.assertEqual(error_for(alice, "o3", m, timeout=10), "service-unavailable")
        # fiona's own message to alice is refused at home
        fiona.send(message("alice@a.test", "to a blocked contact", "o4"))
        self.assertEqual(error_for(fiona, "o4", mf, timeout=10), "not-acceptable")
        # a message from dave (not blocked) comes after them: nothing of
        # alice's got through in between
        dave = login(A, "dave", "fed12")
        self.addCleanup(dave.close)
        dave.send(message("fiona@b.test/f1", "not blocked", "o5"))
        got = fiona.read_until("not blocked", timeout=10, start=mf)[mf:]
        self.assertNotIn("blocked one", got)
        self.assertNotIn("blocked two", got)
        # unblocked, alice's messages flow again; nothing was kept meanwhile
        r = fiona.ask("<iq type='set' id='b2'><unblock xmlns='urn:xmpp:blocking'>"
                      "<item jid='alice@a.test'/></unblock></iq>", "b2", timeout=5)
        self.assertIn("type='result'", r)
        mf = fiona.mark()
        alice.send(message("fiona@b.test/f1", "friends again", "o6"))
        got = fiona.read_until("friends again", timeout=10, start=mf)[mf:]
        self.assertIn("friends again", got)
        self.assertNotIn("blocked", got)
        fiona.close()
        fiona2 = login(B, "fiona", "f2")
        self.addCleanup(fiona2.close)
        fiona2.send(message("fiona@b.test/f2", "marker", "o7"))
        got = fiona2.read_until("marker", timeout=10)
        self.assertNotIn("blocked", got)

    def test_13_bidirectional_outbound_link_checks_what_comes_back(self):
        # XEP-0288 from the initiating side, against a raw peer: A asks for
        # bidi before it authenticates, then takes the peer's stanzas on
        # its own link, held to the pair as an inbound link's are
        alice = login(A, "alice", "fed13")
        self.addCleanup(alice.close)
        peer = PEERS["bidi"]
        alice.send(message("x@bidi.test/r", "out and back", "b1"))
        before_auth = peer.accept_link().replace('"', "'")
        self.assertIn("<bidi xmlns='urn:xmpp:bidi'/>", before_auth)
        got = peer.read_until(r"out and back</body></message>").replace('"', "'")
        self.assertIn("from='alice@a.test/fed13'", got)
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> bidi\.test: link up \(.*SASL EXTERNAL, "
                                   r"bidirectional\)"))
        m = alice.mark()
        peer.send("<message xmlns='jabber:server' from='x@bidi.test/r' to='alice@a.test/fed13' "
                  "type='chat' id='b2'><body>came back on the same link</body></message>")
        got = alice.read_until("came back on the same link", timeout=10, start=m)[m:]
        self.assertRegex(got.replace('"', "'"), r"<message[^>]*from='x@bidi\.test/r'")
        # an iq to A itself is answered on the same link
        peer.send("<iq from='bidi.test' to='a.test' type='get' id='bp'>"
                  "<ping xmlns='urn:xmpp:ping'/></iq>")
        got = peer.read_until(r"<iq[^>]*id=.bp.[^>]*/?>").replace('"', "'")
        self.assertIn("type='result'", got)
        # a 'from' the link did not authenticate ends it: nothing delivered
        peer.send("<message from='mallory@evil.test' to='alice@a.test/fed13' type='chat' "
                  "id='b3'><body>forged</body></message>")
        got = peer.read_until(r"</stream:stream>").replace('"', "'")
        self.assertIn("<invalid-from", got)
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> bidi\.test: stanza from "
                                   r"mallory@evil\.test: not of the authenticated domain"))
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> bidi\.test: link down"))
        m = alice.mark()
        alice.send(message("x@bidi.test/r", "after the end", "b4"))
        # the link is gone: the next stanza starts a new one (which the raw
        # peer does not take: it bounces after connect_timeout)
        self.assertEqual(error_for(alice, "b4", m, timeout=CONNECT_TIMEOUT + 5),
                         "remote-server-timeout")
        self.assertNotIn("forged", alice.qtext())

    def test_14_peer_bidi_link_takes_over_when_ours_goes_down(self):
        alice = login(A, "alice", "fed14")
        self.addCleanup(alice.close)
        out = PEERS["standby"]
        alice.send(message("x@standby.test/r", "on our link", "s1"))
        out.accept_link(bidi=False)
        out.read_until(r"on our link</body></message>")
        # the peer opens its own link, bidirectional, while ours is up
        inbound = InitiatingPeer(PKI.leaf("standby", "DNS:standby.test"), PKI.ca,
                                 "standby.test")
        self.addCleanup(inbound.close)
        features = inbound.connect(A.port("s2s"), "a.test").replace('"', "'")
        self.assertNotIn("<mechanisms", features)
        m = alice.mark()
        inbound.send("<message xmlns='jabber:server' from='x@standby.test/r' "
                     "to='alice@a.test/fed14' type='chat' id='s2'><body>on theirs</body></message>")
        alice.read_until("on theirs", timeout=10, start=m)
        # that message went through A's router after the link's offer:
        # ours still carries A's stanzas
        alice.send(message("x@standby.test/r", "still ours", "s3"))
        out.read_until(r"still ours</body></message>")
        # ours goes (the peer stops listening too: a new connection would
        # fail); the next stanza takes the peer's link
        log_at = A.log_len()
        out.close()
        self.assertTrue(A.wait_log(r"s2s-out a\.test -> standby\.test: link down",
                                   start=log_at))
        m = alice.mark()
        alice.send(message("x@standby.test/r", "on theirs now", "s4"))
        got = inbound.read_until(r"on theirs now</body></message>").replace('"', "'")
        self.assertIn("from='alice@a.test/fed14'", got)
        self.assertIsNone(A.wait_log(r"s2s-out a\.test -> standby\.test: connecting",
                                     timeout=0.5, start=log_at))
        self.assertIsNone(error_for(alice, "s4", m, timeout=0.5))


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
