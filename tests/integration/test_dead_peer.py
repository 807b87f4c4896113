#!/usr/bin/python3
"""Dead peers (issue 10, finding 6): a client that vanishes without a FIN
or RST is found by TCP keepalive within the configured time, without its
sleeping session being woken by the probes; an authenticated connection
that never binds a resource is closed after preauth_timeout.

The test runs in a network namespace of its own (it re-executes itself
under `unshare --net`), where it can take the loopback interface down to
make both ends vanish, as a phone that loses its network does.

Run (as root): /usr/bin/python3 test_dead_peer.py --xmppd PATH --xmppctl PATH
"""

import os
import re
import subprocess
import sys
import time
import unittest

if os.environ.get("XMPPD_IT_NETNS") != "1":
    # a private network namespace: its own loopback, nothing else
    os.environ["XMPPD_IT_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "--net", sys.executable] + sys.argv)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import RawClient, Server, stream_error_condition  # noqa: E402

XMPPD = XMPPCTL = None
SRV = None
PW = "pw-dead"
IDLE, INTERVAL, PROBES = 2, 1, 2     # dead within 2 + 2 x 1 s
PREAUTH = 3


def lo(state):
    subprocess.run(["ip", "link", "set", "lo", state], check=True)


def setUpModule():
    global SRV
    lo("up")
    SRV = Server(XMPPD, XMPPCTL, users={"alice": PW, "bob": PW}, name="dead",
                 sections={"limits": {"tcp_keepalive": IDLE, "tcp_keepalive_interval": INTERVAL,
                                      "tcp_keepalive_probes": PROBES, "tcp_user_timeout": 5,
                                      "idle_sleep": 1, "preauth_timeout": PREAUTH}})
    SRV.start()


def tearDownModule():
    if SRV is not None:
        SRV.cleanup()


def conn_id(mark, jid):
    m = SRV.wait_log(r"(c\d+\.\d+): bound " + re.escape(jid), 5, mark)
    assert m, "no bind line for %s" % jid
    return m.group(1)


class DeadPeer(unittest.TestCase):

    def test_1_authenticated_but_never_bound(self):
        mark = SRV.log_len()
        c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        try:
            c.open_stream()
            m = c.mark()
            c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                   % harness.plain_b64("alice", PW))
            self.assertIn("<success", c.read_until("<success", 5, start=m))
            feats = c.open_stream()
            self.assertIn("<bind", feats)
            t0 = time.monotonic()
            got = c.read_until_closed(PREAUTH + 5)       # and never bind
            took = time.monotonic() - t0
        finally:
            c.close()
        self.assertEqual(stream_error_condition(got), "connection-timeout", got[-300:])
        self.assertLess(took, PREAUTH + 2)
        self.assertIsNotNone(SRV.wait_log(r"authenticated but no resource bound within %ds" % PREAUTH,
                                          2, mark))

    def test_2_vanished_peer_found_by_keepalive(self):
        mark = SRV.log_len()
        c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        try:
            c.open_stream()
            self.assertIn("<jid>bob@localhost/phone</jid>", c.login_plain("bob", PW, resource="phone"))
            cid = conn_id(mark, "bob@localhost/phone")
            self.assertIsNotNone(SRV.wait_log(re.escape(cid) + r": idle, asleep", 5, mark),
                                 "session did not go to sleep")
            # the kernel probes the idle connection and bob's kernel answers;
            # the session sleeps on through it
            asleep_at = SRV.log_len()
            time.sleep(IDLE + 2 * INTERVAL + 1)
            self.assertNotRegex(SRV.log()[asleep_at:], re.escape(cid) + r": (woken|closed)")
            # now bob's network goes away without a word
            lo("down")
            t0 = time.monotonic()
            m = SRV.wait_log(re.escape(cid) + r": closed \(([^)]*)\)", IDLE + PROBES * INTERVAL + 6,
                             asleep_at)
            took = time.monotonic() - t0
            lo("up")
        finally:
            lo("up")
            c.close()
        self.assertIsNotNone(m, "vanished peer not noticed")
        print("vanished peer noticed after %.1f s (%s); configured %d + %d x %d s"
              % (took, m.group(1), IDLE, PROBES, INTERVAL))
        self.assertIn("timed out", m.group(1))
        self.assertLess(took, IDLE + PROBES * INTERVAL + 4)

    def test_3_still_serving(self):
        c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        try:
            c.open_stream()
            self.assertIn("<jid>alice@localhost/after</jid>", c.login_plain("alice", PW, resource="after"))
        finally:
            c.close()

    def test_zz_clean_exit(self):
        self.assertTrue(SRV.alive())
        SRV.check_clean_exit(self)


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
