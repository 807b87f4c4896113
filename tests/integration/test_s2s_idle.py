#!/usr/bin/python3
"""Idle server links sleep, then close, and the next stanza opens a new
one: two xmppd (a.test, b.test) with [limits] idle_sleep = 1 and [s2s]
idle_timeout = 4.

- a link idle for a second sleeps on both ends (xmppctl s2s says asleep),
  and a message wakes it and crosses;
- after a message, both of A's links to B's side go quiet and are closed
  (each side its own: A's outbound, B's inbound, and the reverse pair),
  logged, and xmppctl s2s lists none;
- a second message makes a new link and arrives.

Run: /usr/bin/python3 test_s2s_idle.py --xmppd PATH --xmppctl PATH
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server  # noqa: E402
from s2s_pki import Pki, end_all, route_to_each_other  # noqa: E402

XMPPD = XMPPCTL = None
A = B = PKI = None
IDLE = 4


def setUpModule():
    global A, B, PKI
    PKI = Pki()
    listeners = {"dtls": {"mode": "direct_tls"}, "s2s": {"type": "s2s", "mode": "starttls"}}
    s2s = {"s2s": {"ca_file": PKI.ca, "idle_timeout": IDLE}, "limits": {"idle_sleep": 1}}
    A = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice"}, name="s2s-idle-a", domain="a.test",
               cert_files=PKI.leaf("a", "DNS:a.test"), cafile=PKI.ca, sections=s2s,
               listeners=listeners)
    B = Server(XMPPD, XMPPCTL, users={"bob": "pw-bob"}, name="s2s-idle-b", domain="b.test",
               cert_files=PKI.leaf("b", "DNS:b.test"), cafile=PKI.ca, sections=s2s,
               listeners=listeners)
    route_to_each_other(A, B)
    A.start()
    B.start()


def tearDownModule():
    end_all((A, B), PKI)


def links(srv):
    return [l for l in srv._ctl(["s2s"]).splitlines() if "\t" in l]


class Idle(unittest.TestCase):

    def test_1_sleeping_link_wakes(self):
        alice = A.login("alice", "pw-alice", "s1", presence="<presence/>")
        bob = B.login("bob", "pw-bob", "s1", presence="<presence/>")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        m = bob.mark()
        alice.send("<message to='bob@b.test/s1' type='chat' id='w1'><body>awake</body></message>")
        self.assertIn("awake", bob.read_until("awake", timeout=10, start=m)[m:])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not (
                all(l.endswith("\tasleep") for l in links(A) + links(B)) and links(A)):
            time.sleep(0.1)
        self.assertTrue(links(A) and all(l.endswith("\tasleep") for l in links(A)), links(A))
        self.assertTrue(links(B) and all(l.endswith("\tasleep") for l in links(B)), links(B))
        m = bob.mark()
        alice.send("<message to='bob@b.test/s1' type='chat' id='w2'><body>woken</body></message>")
        self.assertIn("woken", bob.read_until("woken", timeout=10, start=m)[m:])
        # the same link, not a new one
        self.assertEqual(len(re.findall(r"s2s-out a\.test -> b\.test: link up", A.log())), 1)

    def test_2_idle_link_closes_and_reopens(self):
        alice = A.login("alice", "pw-alice", "i1", presence="<presence/>")
        bob = B.login("bob", "pw-bob", "i1", presence="<presence/>")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        m = bob.mark()
        alice.send("<message to='bob@b.test/i1' type='chat' id='x1'><body>first</body></message>")
        self.assertIn("first", bob.read_until("first", timeout=10, start=m)[m:])
        ups = len(re.findall(r"s2s-out a\.test -> b\.test: link up", A.log()))
        self.assertEqual(len(links(A)), 1)   # out to b.test
        self.assertEqual(len(links(B)), 1)   # in from a.test
        t0 = time.monotonic()
        # either end may close first (both are as idle): one says so, and
        # both ends are gone
        idle = r"link (a|b)\.test: idle for %ds \(\[s2s\] idle_timeout\): closing" % IDLE
        deadline = time.monotonic() + IDLE + 12
        while time.monotonic() < deadline and not (re.search(idle, A.log()) or
                                                   re.search(idle, B.log())):
            time.sleep(0.1)
        self.assertTrue(re.search(idle, A.log()) or re.search(idle, B.log()))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (links(A) or links(B)):
            time.sleep(0.1)
        self.assertEqual(links(A), [])
        self.assertEqual(links(B), [])
        self.assertGreater(time.monotonic() - t0, IDLE - 1.5)
        m = bob.mark()
        alice.send("<message to='bob@b.test/i1' type='chat' id='x2'><body>second</body></message>")
        self.assertIn("second", bob.read_until("second", timeout=10, start=m)[m:])
        self.assertEqual(len(re.findall(r"s2s-out a\.test -> b\.test: link up", A.log())), ups + 1)


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
