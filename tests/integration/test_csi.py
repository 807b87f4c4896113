#!/usr/bin/env python3
"""XEP-0352 client state indication against a real xmppd: the stream
feature after authentication; while a client is inactive, presence
updates for it are held, only the latest from each JID, and delivered
when it is active again; messages and subscription requests are not
delayed; [im] max_held_presences bounds what is held (one more delivers
the lot); a session that ends while inactive is cleaned up.  The
presence comes from other accounts' directed presence (RFC 6121 4.6), so
no subscriptions are needed."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, jid, top_stanzas, wait_stanzas as got  # noqa: E402

XMPPD = XMPPCTL = None
PW = "pw-csi"
CSI = "urn:xmpp:csi:0"
CLIENT = "jabber:client"
USERS = {u: PW for u in ("alice", "bob", "carol", "dave", "erin", "x1", "x2", "x3", "y")}
QUIET = 1.0


harness.module_server(globals(), users=USERS, sections={"im": {"max_held_presences": 2}},
                 name="csi")



def presences_from(frm):
    def pred(el):
        return el.tag == "{%s}presence" % CLIENT and el.get("from") == frm
    return pred


def status(el):
    s = el.find("{%s}status" % CLIENT)
    return None if s is None else s.text


class ClientState(unittest.TestCase):

    def online(self, user, res="r"):
        c = SRV.login(user, PW, res)
        self.addCleanup(c.close)
        m = c.mark()
        c.send("<presence/>")
        c.read_until("<presence", start=m)
        return c

    def test_feature(self):
        c = self.online("y")
        t = c.qtext()
        feats = t[t.index("<success"):]
        self.assertIn("<csi xmlns='%s'/>" % CSI, feats)

    def test_hold_latest_and_flush(self):
        a = self.online("alice")
        b = self.online("bob")
        c = self.online("carol")
        d = self.online("dave")
        a.send("<inactive xmlns='%s'/>" % CSI)
        time.sleep(0.2)
        m = a.mark()
        b.send("<presence to='%s'><status>one</status></presence>" % jid("alice", "r"))
        b.send("<presence to='%s'><status>two</status></presence>" % jid("alice", "r"))
        c.send("<presence to='%s'><status>x</status></presence>" % jid("alice", "r"))
        # a message is not delayed, nor a subscription request
        b.send("<message to='%s' type='chat'><body>now</body></message>" % jid("alice", "r"))
        d.send("<presence to='%s' type='subscribe'/>" % jid("alice"))
        msgs = got(a, m, lambda el: el.tag == "{%s}message" % CLIENT, 5)
        self.assertTrue(msgs, "message held while inactive: %s" % a.qtext()[m:])
        sub = got(a, m, lambda el: el.get("type") == "subscribe", 5)
        self.assertTrue(sub, "subscription request held while inactive")
        held = got(a, m, lambda el: presences_from(jid("bob", "r"))(el)
                   or presences_from(jid("carol", "r"))(el), QUIET)
        self.assertFalse(held, "presence delivered to an inactive client")

        m = a.mark()
        a.send("<active xmlns='%s'/>" % CSI)
        fb = got(a, m, presences_from(jid("bob", "r")), 5)
        fc = got(a, m, presences_from(jid("carol", "r")), 5)
        time.sleep(0.3)
        fb = got(a, m, presences_from(jid("bob", "r")), 0)
        self.assertEqual([status(p) for p in fb], ["two"], "only the latest from bob")
        self.assertEqual([status(p) for p in fc], ["x"])

        # active again: nothing is held
        m = a.mark()
        b.send("<presence to='%s'><status>three</status></presence>" % jid("alice", "r"))
        self.assertTrue(got(a, m, presences_from(jid("bob", "r")), 5))

    def test_unavailable_replaces(self):
        a = self.online("erin")
        b = self.online("bob", "u")
        b.send("<presence to='%s'><status>here</status></presence>" % jid("erin", "r"))
        self.assertTrue(got(a, 0, presences_from(jid("bob", "u")), 5))
        a.send("<inactive xmlns='%s'/>" % CSI)
        time.sleep(0.2)
        m = a.mark()
        b.send("<presence to='%s'><status>away</status></presence>" % jid("erin", "r"))
        b.send("<presence to='%s' type='unavailable'/>" % jid("erin", "r"))
        self.assertFalse(got(a, m, presences_from(jid("bob", "u")), QUIET))
        a.send("<active xmlns='%s'/>" % CSI)
        ps = got(a, m, presences_from(jid("bob", "u")), 5)
        time.sleep(0.3)
        ps = got(a, m, presences_from(jid("bob", "u")), 0)
        self.assertEqual([p.get("type") for p in ps], ["unavailable"])

    def test_limit(self):
        """[im] max_held_presences = 2: a third JID's update delivers the
        two held and itself."""
        a = self.online("alice", "lim")
        xs = [self.online(u) for u in ("x1", "x2", "x3")]
        a.send("<inactive xmlns='%s'/>" % CSI)
        time.sleep(0.2)
        m = a.mark()
        for x, u in zip(xs[:2], ("x1", "x2")):
            x.send("<presence to='%s'><status>s</status></presence>" % jid("alice", "lim"))
        self.assertFalse(got(a, m, lambda el: el.tag.endswith("presence")
                             and (el.get("from") or "").startswith("x"), QUIET))
        xs[2].send("<presence to='%s'><status>s</status></presence>" % jid("alice", "lim"))
        for u in ("x1", "x2", "x3"):
            self.assertTrue(got(a, m, presences_from(jid(u, "r")), 5), "%s not delivered" % u)
        # still inactive: the next one is held again
        m = a.mark()
        xs[0].send("<presence to='%s'><status>t</status></presence>" % jid("alice", "lim"))
        self.assertFalse(got(a, m, presences_from(jid("x1", "r")), QUIET))
        # the session ends while holding: nothing leaks (ASan), the server
        # goes on
        a.close()
        time.sleep(0.3)
        self.assertTrue(SRV.alive())


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
