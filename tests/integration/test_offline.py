#!/usr/bin/env python3
"""XEP-0160 offline messages, against a real xmppd with its SQLite store:
messages of type chat and normal to an account with no available
resource are kept and delivered in order, with a XEP-0203 <delay/>, at
the next initial presence with a non-negative priority, also after
kill -9 and a restart; over [im] max_offline_messages, or for an
account that does not exist, the sender gets service-unavailable; a
headline is not kept; a message is sent once, not again at the next
login.  Also RFC 6121 8.5.2.1.1: a headline to a bare JID reaches every
resource with a non-negative priority."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, Server  # noqa: E402

XMPPD = XMPPCTL = None
PW = "pw-offline"
USERS = {u: PW for u in ("alice", "bob", "carol", "dave", "erin", "fred")}


harness.module_server(globals(), users=USERS, sections={"im": {"max_offline_messages": 3}},
                 name="offline")


def wait_for(c, pattern, start=0, timeout=5.0):
    pat = re.compile(pattern, re.S)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = pat.search(c.qtext()[start:])
        if m:
            return m
        c.read_until("\x00never", timeout=0.1)
    return None


def msg(to, mid, body, mtype="chat"):
    t = " type='%s'" % mtype if mtype else ""
    return "<message to='%s' id='%s'%s><body>%s</body></message>" % (to, mid, t, body)


def messages(c, start=0):
    return re.findall(r"<message[^>]*>.*?</message>", c.qtext()[start:], re.S)


class Offline(unittest.TestCase):

    def test_1_stored_in_order_with_delay(self):
        a = SRV.login("alice", PW, "a", "<presence/>")
        try:
            a.send(msg("bob@%s" % DOMAIN, "m1", "one"))
            a.send(msg("bob@%s/gone" % DOMAIN, "m2", "two", mtype=None))  # normal, full JID
            a.send(msg("bob@%s" % DOMAIN, "h1", "news", mtype="headline"))
            a.send(msg("bob@%s" % DOMAIN, "m3", "three &amp; &lt;four&gt;"))
            # stored, not bounced
            self.assertIsNone(wait_for(a, r"type='error'", timeout=1.0), a.qtext())
        finally:
            a.close()
        b = SRV.login("bob", PW, "phone")
        try:
            # nothing before initial presence
            self.assertIsNone(wait_for(b, r"<message", timeout=0.5))
            start = len(b.qtext())
            b.send("<presence/>")
            self.assertIsNotNone(wait_for(b, r"id='m3'", start), b.qtext()[start:])
            got = messages(b, start)
            self.assertEqual([re.search(r"id='(\w+)'", m).group(1) for m in got],
                             ["m1", "m2", "m3"], got)
            for m in got:
                self.assertRegex(m, r"<delay xmlns='urn:xmpp:delay' from='%s' "
                                    r"stamp='\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'>" % DOMAIN)
                self.assertIn("from='alice@%s/a'" % DOMAIN, m)
            self.assertIn("<body>three &amp; &lt;four&gt;</body>", got[2])
            self.assertNotIn("news", b.qtext())
        finally:
            b.close()
        # sent once: the next login gets nothing
        time.sleep(0.3)
        b2 = SRV.login("bob", PW, "again", "<presence/>")
        try:
            self.assertIsNone(wait_for(b2, r"<message", timeout=1.0), b2.qtext())
        finally:
            b2.close()
        self.assertIsNotNone(SRV.wait_log(r"bob@%s/phone: 3 offline message\(s\) delivered"
                                          % re.escape(DOMAIN), 3))

    def test_2_quota_and_unknown_account(self):
        a = SRV.login("alice", PW, "q", "<presence/>")
        try:
            for i in range(4):
                a.send(msg("carol@%s" % DOMAIN, "q%d" % i, "n%d" % i))
            err = wait_for(a, r"<message[^>]*id='q3'[^>]*type='error'.*?</message>|"
                              r"<message[^>]*type='error'[^>]*id='q3'.*?</message>")
            self.assertIsNotNone(err, a.qtext())
            self.assertIn("<service-unavailable", err.group(0))
            for i in range(3):
                self.assertNotRegex(a.qtext(), r"id='q%d'[^>]*type='error'" % i)
            a.send(msg("nobody@%s" % DOMAIN, "x1", "hello?"))
            err = wait_for(a, r"<message[^>]*id='x1'.*?</message>")
            self.assertIsNotNone(err, a.qtext())
            self.assertIn("<service-unavailable", err.group(0))
        finally:
            a.close()
        self.assertIsNotNone(SRV.wait_log(r"offline queue of carol@%s full \(\[im\] "
                                          r"max_offline_messages = 3\)" % re.escape(DOMAIN), 3))
        c = SRV.login("carol", PW, "c", "<presence/>")
        try:
            self.assertIsNotNone(wait_for(c, r"id='q2'"), c.qtext())
            self.assertEqual(len(messages(c)), 3)
        finally:
            c.close()

    def test_3_negative_priority_waits(self):
        a = SRV.login("alice", PW, "n", "<presence/>")
        a.send(msg("dave@%s" % DOMAIN, "d1", "for later"))
        time.sleep(0.3)
        a.close()
        d = SRV.login("dave", PW, "low", "<presence><priority>-1</priority></presence>")
        try:
            self.assertIsNone(wait_for(d, r"<message", timeout=0.7))
        finally:
            d.close()
        time.sleep(0.2)
        d = SRV.login("dave", PW, "high", "<presence><priority>1</priority></presence>")
        try:
            self.assertIsNotNone(wait_for(d, r"id='d1'"), d.qtext())
        finally:
            d.close()

    def test_4_survives_kill_and_restart(self):
        a = SRV.login("alice", PW, "k", "<presence/>")
        a.send(msg("erin@%s" % DOMAIN, "k1", "before the crash"))
        time.sleep(0.5)  # the storage thread commits it
        a.close()
        SRV.kill()
        SRV.launch()
        e = SRV.login("erin", PW, "e", "<presence/>")
        try:
            m = wait_for(e, r"<message[^>]*id='k1'.*?</message>")
            self.assertIsNotNone(m, e.qtext())
            self.assertIn("before the crash", m.group(0))
            self.assertIn("urn:xmpp:delay", m.group(0))
        finally:
            e.close()

    def test_5_headline_to_every_resource(self):
        f1 = SRV.login("fred", PW, "one", "<presence><priority>1</priority></presence>")
        f2 = SRV.login("fred", PW, "two", "<presence><priority>0</priority></presence>")
        f3 = SRV.login("fred", PW, "neg", "<presence><priority>-1</priority></presence>")
        a = SRV.login("alice", PW, "h", "<presence/>")
        try:
            time.sleep(0.3)
            marks = [len(c.qtext()) for c in (f1, f2, f3)]
            a.send(msg("fred@%s" % DOMAIN, "hl", "extra", mtype="headline"))
            self.assertIsNotNone(wait_for(f1, r"id='hl'", marks[0]))
            self.assertIsNotNone(wait_for(f2, r"id='hl'", marks[1]))
            self.assertIsNone(wait_for(f3, r"id='hl'", marks[2], timeout=0.7))
            # a chat still goes to the highest priority only
            marks = [len(c.qtext()) for c in (f1, f2)]
            a.send(msg("fred@%s" % DOMAIN, "ch", "just one"))
            self.assertIsNotNone(wait_for(f1, r"id='ch'", marks[0]))
            self.assertIsNone(wait_for(f2, r"id='ch'", marks[1], timeout=0.7))
        finally:
            for c in (f1, f2, f3, a):
                c.close()


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
