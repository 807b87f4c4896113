#!/usr/bin/python3
"""Out of file descriptors (issue 10, finding 3): xmppd runs with an
open-files limit of 64 (soft 48, which it raises to the hard limit) and 80
clients connect at once.  The server must not spin: its CPU stays near idle
while the clients wait, it logs at most about one line per second about it,
and once the clients leave, a legitimate client logs in.

Run: /usr/bin/python3 test_fd_exhaustion.py --xmppd PATH --xmppctl PATH
"""

import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import RawClient, Server  # noqa: E402

XMPPD = XMPPCTL = None
SRV = None
PW = "pw-fds"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SOFT, HARD = 48, 64
CLIENTS = 80
HOLD = 3.0


def setUpModule():
    global SRV
    SRV = Server(XMPPD, XMPPCTL, users={"alice": PW}, name="fds", nofile=(SOFT, HARD),
                 listeners={"c2s": {"mode": "starttls"}, "dtls": {"mode": "direct_tls"}})
    SRV.start()


def tearDownModule():
    if SRV is not None:
        SRV.cleanup()


def cpu_seconds():
    with open("/proc/%d/stat" % SRV.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class FdExhaustion(unittest.TestCase):

    def test_1_limit_raised_and_warned(self):
        self.assertIsNotNone(SRV.wait_log(r"open-files limit raised from %d to %d" % (SOFT, HARD), 2))
        self.assertIsNotNone(SRV.wait_log(r"max_connections = 100000, but the open-files limit "
                                          r"\(ulimit -n\) is %d" % HARD, 2))

    def test_2_no_spin_when_out_of_descriptors(self):
        mark = SRV.log_len()
        socks = []
        try:
            for _ in range(CLIENTS):
                socks.append(socket.create_connection((harness.LOCALHOST, SRV.port("c2s")), timeout=5))
            time.sleep(0.5)       # let the server take what it can
            cpu0, t0 = cpu_seconds(), time.monotonic()
            time.sleep(HOLD)
            cpu = cpu_seconds() - cpu0
            took = time.monotonic() - t0
            log = SRV.log()[mark:]
        finally:
            for s in socks:
                s.close()
        lines = re.findall(r"out of file descriptors .*", log)
        print("%d clients against %d descriptors: server CPU %.2f s in %.1f s, %d log lines "
              "about it" % (CLIENTS, HARD, cpu, took, len(lines)))
        self.assertTrue(lines, "no log line about the descriptor shortage")
        self.assertIn("not accepted in the last second", lines[0])
        # 65a6e37: 140% CPU and two million log lines in 3 s
        self.assertLess(cpu, 0.25 * took)
        # one per second per mux thread, plus the first of each
        self.assertLessEqual(len(lines), 2 * (int(took) + 2))
        self.assertTrue(SRV.alive())

    def test_3_served_once_descriptors_are_free(self):
        deadline = time.monotonic() + 10
        while True:
            try:
                c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert, timeout=5)
                try:
                    c.open_stream()
                    self.assertIn("<jid>alice@localhost/back</jid>",
                                  c.login_plain("alice", PW, resource="back"))
                    return
                finally:
                    c.close()
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def test_zz_clean_exit(self):
        self.assertTrue(SRV.alive())
        SRV.check_clean_exit(self)


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
