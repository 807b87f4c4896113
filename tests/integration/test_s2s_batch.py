#!/usr/bin/python3
"""Send batching on server links ([s2s] send_batch_us, mux/mux_batch.c),
seen from a raw receiving peer that counts TLS records (an SSL socket's
recv returns one record's plaintext at most).

- a.test's server has send_batch_us = 100000 (100 ms): of eight messages a client sends
  10 ms apart on a quiet link, the first goes at once in a record of its
  own; the seven after it wait and arrive together, in order, after the
  delay and before twice the delay (plus slack for a loaded machine);
- z.test's has send_batch_us = 0: the same eight messages arrive one record
  each (what the first case would see without batching).

Run: /usr/bin/python3 test_s2s_batch.py --xmppd PATH --xmppctl PATH
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import LOCALHOST, Server  # noqa: E402
from s2s_peer import ReceivingPeer  # noqa: E402
from s2s_pki import Pki, clean_up, end_all, set_up_module  # noqa: E402

XMPPD = XMPPCTL = None
PKI = None
SERVERS = {}  # "a": batching, "z": none
PEERS = {}
DELAY_S = 0.1
N = 8
GAP_S = 0.01
BODY = re.compile(r"<body>burst (\d+)</body>")


def set_up():
    global PKI
    PKI = Pki()
    PEERS["a"] = ReceivingPeer(PKI.leaf("pa", "DNS:pa.test"), "pa.test")
    PEERS["z"] = ReceivingPeer(PKI.leaf("pz", "DNS:pz.test"), "pz.test")
    for name, batch_us in (("a", int(DELAY_S * 1e6)), ("z", 0)):
        srv = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice"}, name="s2s-batch-" + name,
                     domain=name + ".test", cert_files=PKI.leaf(name, "DNS:%s.test" % name),
                     cafile=PKI.ca,
                     sections={"s2s": {"ca_file": PKI.ca, "send_batch_us": batch_us}},
                     listeners={"dtls": {"mode": "direct_tls"},
                                "s2s": {"type": "s2s", "mode": "starttls"}})
        srv.cfg["s2s_route p%s.test" % name] = {"address": LOCALHOST,
                                                "port": PEERS[name].port}
        SERVERS[name] = srv
        srv._write_ini()
        srv.start()


def setUpModule():
    set_up_module(set_up, lambda: clean_up(*SERVERS.values(), PKI, *PEERS.values()))


def tearDownModule():
    end_all(list(SERVERS.values()), PKI, list(PEERS.values()))


def burst(srv, peer, peer_domain):
    """A link up and quiet, then N messages GAP_S apart; returns the send
    time of the first and the records they came in, as (arrival, list of
    message numbers)."""
    alice = srv.login("alice", "pw-alice", "burst", presence="<presence/>")
    try:
        to = "x@%s/r" % peer_domain
        alice.send("<message to='%s' type='chat' id='up'><body>link up</body></message>" % to)
        peer.accept_link()
        peer.read_until("link up</body>")
        time.sleep(3 * DELAY_S)  # quiet: the next write may go at once
        first = time.monotonic()
        for i in range(N):
            alice.send("<message to='%s' type='chat' id='b%d'><body>burst %d</body></message>"
                       % (to, i, i))
            time.sleep(GAP_S)
        recs = [(t, [int(x) for x in BODY.findall(text)]) for t, text in peer.records(BODY, N)]
        # (the end of the first message's record may come first)
        return first, [r for r in recs if r[1]]
    finally:
        alice.close()


class Batching(unittest.TestCase):
    def test_01_a_busy_link_sends_what_follows_together(self):
        first, recs = burst(SERVERS["a"], PEERS["a"], "pa.test")
        got = [n for _, ns in recs for n in ns]
        self.assertEqual(got, list(range(N)), recs)
        self.assertEqual(recs[0][1], [0], "the first after a quiet spell goes alone: %r" % recs)
        self.assertLess(recs[0][0] - first, DELAY_S, "and at once")
        self.assertLessEqual(len(recs), 3, "the rest together: %r" % recs)
        waited = recs[-1][0] - first
        self.assertGreaterEqual(waited, DELAY_S * 0.9, "the rest waited for the delay")
        self.assertLess(waited, 2 * DELAY_S + 0.3, "and at most twice the delay")

    def test_02_without_batching_each_goes_alone(self):
        _, recs = burst(SERVERS["z"], PEERS["z"], "pz.test")
        got = [n for _, ns in recs for n in ns]
        self.assertEqual(got, list(range(N)), recs)
        self.assertGreaterEqual(len(recs), N - 3, "one record per message: %r" % recs)


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
