#!/usr/bin/python3
"""Limits that protect the server from its clients:

- max_output_buffer: a client that stops reading while messages pile up for
  it is disconnected once more than max_output_buffer bytes wait for it; the
  sender and everyone else keep working (policy: disconnect, logged).
- max_connections: connections past the limit are closed at once, logged,
  and a slot frees up when a client leaves.

Run: /usr/bin/python3 test_limits.py --xmppd PATH --xmppctl PATH
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, RawClient, Server  # noqa: E402

XMPPD = XMPPCTL = None


def logged_in(srv, user, resource):
    c = RawClient(srv.port("c2s"), cafile=srv.cert)
    feats = c.open_stream()
    assert "<starttls" in feats, feats
    c.starttls_negotiate()
    c.start_tls()
    c.open_stream()
    res = c.login_plain(user, "pw-" + user, resource=resource)
    assert "type='result'" in res or 'type="result"' in res, res
    return c


class OutputLimit(unittest.TestCase):

    def setUp(self):
        # the input shaper off: alice must be able to outrun bob's reading
        self.srv = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice", "bob": "pw-bob", "carol": "pw-carol"},
                          sections={"limits": {"max_output_buffer": 65536}}, name="outlimit",
                          listeners={"c2s": {"mode": "starttls", "rate": 0}})
        self.srv.start()

    def tearDown(self):
        try:
            self.srv.check_clean_exit(self)
        finally:
            self.srv.cleanup()

    def test_slow_reader_is_disconnected_others_continue(self):
        bob = logged_in(self.srv, "bob", "slow")
        # bob now stops reading; once the kernel buffers on both sides are
        # full (a few MB on loopback), the rest waits in xmppd
        bob.send("<presence/>")
        alice = logged_in(self.srv, "alice", "fast")
        carol = logged_in(self.srv, "carol", "other")
        mark = self.srv.log_len()
        body = "x" * 60000
        sent = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            alice.send("<message to='bob@%s/slow' type='chat'><body>%s</body></message>" % (DOMAIN, body))
            sent += 1
            if sent % 20 == 0 and self.srv.wait_log(r"over max_output_buffer, disconnecting", 0.05, mark):
                break
        self.assertIsNotNone(self.srv.wait_log(r"over max_output_buffer, disconnecting", 10, mark),
                             "slow reader never disconnected after %d messages" % sent)
        self.assertIsNotNone(self.srv.wait_log(r"closed \(output buffer limit\) session bob@localhost/slow", 5, mark))
        # bob's connection is really gone: reading finds EOF
        # drain what the kernel still holds for bob, then EOF
        t0 = time.monotonic()
        bob.read_until_closed(timeout=30)
        self.assertTrue(bob.closed, "slow reader's socket still open after reading %d bytes in %.1fs"
                        % (len(bob.received), time.monotonic() - t0))
        # the sender and a third user keep chatting
        m = carol.mark()
        alice.send("<message to='carol@%s/other' type='chat' id='after'><body>still here</body></message>" % DOMAIN)
        got = carol.read_until("still here", timeout=10, start=m)
        self.assertIn("still here", got[m:])
        # after the disconnect, bob's full JID no longer routes: bounce
        m = alice.mark()
        alice.send("<iq to='bob@%s/slow' type='get' id='gone'><ping xmlns='urn:xmpp:ping'/></iq>" % DOMAIN)
        got = alice.read_until("service-unavailable", timeout=10, start=m)
        self.assertIn("service-unavailable", got[m:])
        for c in (alice, carol):
            c.close()


class ConnectionLimit(unittest.TestCase):

    def setUp(self):
        self.srv = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice"},
                          sections={"limits": {"max_connections": 3}}, name="connlimit")
        self.srv.start()

    def tearDown(self):
        try:
            self.srv.check_clean_exit(self)
        finally:
            self.srv.cleanup()

    def test_connections_past_the_limit_are_refused(self):
        port = self.srv.port("c2s")
        held = [RawClient(port, cafile=self.srv.cert) for _ in range(3)]
        for c in held:
            self.assertIn("<starttls", c.open_stream())
        mark = self.srv.log_len()
        extra = RawClient(port, cafile=self.srv.cert)
        extra.read_until_closed(timeout=5)
        self.assertTrue(extra.closed, "4th connection was not closed")
        self.assertIsNotNone(self.srv.wait_log(r"refusing connection: max_connections reached", 3, mark))
        # a slot frees up when one leaves
        held.pop().close()
        time.sleep(0.3)
        again = RawClient(port, cafile=self.srv.cert)
        self.assertIn("<starttls", again.open_stream())
        for c in held + [again]:
            c.close()


class RouterBacklog(unittest.TestCase):
    """[limits] max_router_backlog: while more stanzas wait for the router
    (or as deliveries in a mux thread's inbox), bound sessions are not read (10 ms at a time); nothing is lost.  The
    limit is set to 1 here so that any burst crosses it."""

    def setUp(self):
        self.srv = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice", "bob": "pw-bob"},
                          sections={"limits": {"max_router_backlog": 1}}, name="backlog",
                          listeners={"c2s": {"mode": "starttls", "rate": 0}})
        self.srv.start()

    def tearDown(self):
        try:
            self.srv.check_clean_exit(self)
        finally:
            self.srv.cleanup()

    def test_burst_paused_not_lost(self):
        alice = logged_in(self.srv, "alice", "a")
        bob = logged_in(self.srv, "bob", "b")
        mark = self.srv.log_len()
        n = 3000
        m = bob.mark()
        alice.send("".join("<message to='bob@%s/b' type='chat' id='m%d'><body>%d</body></message>"
                           % (DOMAIN, i, i) for i in range(n)))
        got = bob.read_until(re.compile(r"id=[\"']m%d[\"']" % (n - 1)), 30, start=m)[m:]
        ids = re.findall(r"id=[\"']m(\d+)[\"']", got)
        self.assertEqual([int(i) for i in ids], list(range(n)), "messages lost or reordered")
        self.assertIsNotNone(self.srv.wait_log(r"stanzas wait for the router or a mux thread "
                                               r"\(\[limits\] max_router_backlog = 1\)", 3, mark))
        for c in (alice, bob):
            c.close()


class PeerLimits(unittest.TestCase):
    """[limits] max_connections_per_ip and max_preauth_connections: over
    them a connection is refused at once with the RFC 6120 stream error
    (on a plaintext-first listener), and the count goes down as
    connections leave or authenticate."""

    def setUp(self):
        self.srv = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice"},
                          sections={"limits": {"max_connections_per_ip": 3,
                                               "max_preauth_connections": 5}},
                          name="peerlimit")
        self.srv.start()

    def tearDown(self):
        try:
            self.srv.check_clean_exit(self)
        finally:
            self.srv.cleanup()

    def refused(self, source, condition):
        c = RawClient(self.srv.port("c2s"), cafile=self.srv.cert, source=source)
        got = c.read_until_closed(timeout=5)
        self.assertTrue(c.closed, "connection over the limit left open")
        self.assertEqual(harness.stream_error_condition(got), condition, got[-300:])
        c.close()

    def test_per_address(self):
        port = self.srv.port("c2s")
        mark = self.srv.log_len()
        held = [RawClient(port, cafile=self.srv.cert, source="127.0.0.1") for _ in range(3)]
        for c in held:
            self.assertIn("<starttls", c.open_stream())
        self.refused("127.0.0.1", "policy-violation")
        self.assertIsNotNone(self.srv.wait_log(
            r"refusing connection: too many connections from your address \(1 in the last second, "
            r"the last from 127\.0\.0\.1; \[limits\] max_connections_per_ip\)", 3, mark))
        # another address is not affected
        other = RawClient(port, cafile=self.srv.cert, source="127.0.0.2")
        self.assertIn("<starttls", other.open_stream())
        # a slot frees up when one leaves
        held.pop().close()
        time.sleep(0.3)
        again = RawClient(port, cafile=self.srv.cert, source="127.0.0.1")
        self.assertIn("<starttls", again.open_stream())
        for c in held + [other, again]:
            c.close()

    def test_preauth(self):
        port = self.srv.port("c2s")
        held = []
        for i in range(5):
            c = RawClient(port, cafile=self.srv.cert, source="127.0.0.%d" % (10 + i))
            self.assertIn("<starttls", c.open_stream())
            held.append(c)
        self.refused("127.0.0.20", "resource-constraint")
        # one of them authenticates: it no longer counts as pre-auth
        held[0].close()
        time.sleep(0.3)
        d = RawClient(self.srv.port("dtls"), tls=True, cafile=self.srv.cert, source="127.0.0.21")
        d.open_stream()
        self.assertIn("<jid>alice@localhost/x</jid>", d.login_plain("alice", "pw-alice", resource="x"))
        c = RawClient(port, cafile=self.srv.cert, source="127.0.0.22")
        self.assertIn("<starttls", c.open_stream())
        self.refused("127.0.0.23", "resource-constraint")
        for x in held[1:] + [c, d]:
            x.close()


class ConnectionRate(unittest.TestCase):
    """[limits] connection_rate_per_ip and connection_burst_per_ip: new
    connections from one address beyond the burst are refused at accept
    with <policy-violation/> until the rate has earned another; other
    addresses and exempt_networks are not held."""

    def setUp(self):
        self.srv = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice"},
                          sections={"limits": {"connection_rate_per_ip": 2,
                                               "connection_burst_per_ip": 3,
                                               "exempt_networks": "127.0.0.5, 10.0.0.0/8"}},
                          name="connrate")
        self.srv.start()

    def tearDown(self):
        try:
            self.srv.check_clean_exit(self)
        finally:
            self.srv.cleanup()

    def opens(self, source):
        c = RawClient(self.srv.port("c2s"), cafile=self.srv.cert, source=source)
        got = c.open_stream()
        c.close()
        return got

    def test_rate(self):
        mark = self.srv.log_len()
        # the burst: three at once, each closed again (a close gives no
        # token back)
        for _ in range(3):
            self.assertIn("<starttls", self.opens("127.0.0.1"))
        got = self.opens("127.0.0.1")
        self.assertEqual(harness.stream_error_condition(got), "policy-violation", got[-300:])
        self.assertIn("too many new connections from your address", got)
        self.assertIsNotNone(self.srv.wait_log(
            r"refusing connection: too many new connections from your address; try again later "
            r"\(\d+ in the last second, the last from 127\.0\.0\.1; \[limits\] "
            r"connection_rate_per_ip\)", 3, mark))
        # another address has its own bucket
        self.assertIn("<starttls", self.opens("127.0.0.2"))
        # two a second: one more after half a second (0.6 s for slack)
        time.sleep(0.6)
        self.assertIn("<starttls", self.opens("127.0.0.1"))
        # an exempt address is not paced
        for _ in range(8):
            self.assertIn("<starttls", self.opens("127.0.0.5"))
        # and the one that was paced can still log in once it has a token
        time.sleep(0.6)
        d = RawClient(self.srv.port("dtls"), tls=True, cafile=self.srv.cert, source="127.0.0.1")
        d.open_stream()
        self.assertIn("<jid>alice@localhost/x</jid>", d.login_plain("alice", "pw-alice", resource="x"))
        d.close()

    def test_direct_tls_refused_without_handshake(self):
        for _ in range(3):
            c = RawClient(self.srv.port("dtls"), tls=True, cafile=self.srv.cert, source="127.0.0.3")
            c.close()
        # over the burst the socket is closed before any TLS: the
        # handshake fails at once instead of costing the server a key
        # exchange
        with self.assertRaises(OSError):
            RawClient(self.srv.port("dtls"), tls=True, cafile=self.srv.cert, source="127.0.0.3")


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
