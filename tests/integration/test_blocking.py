#!/usr/bin/env python3
"""XEP-0191 blocking command against a real xmppd: the feature, the
blocklist get, block and unblock with pushes to every resource that asked
for the list, and what blocking does both ways: a blocked contact's
messages and iqs get service-unavailable, its presence is dropped, the
account's own messages to it get not-acceptable with <blocked/>, presence
stops both ways (with unavailable at the moment of blocking) and starts
again at unblocking; an offline account keeps nothing from a blocked
sender; a full-JID entry blocks that resource only; unblock with no item
empties the list; errors; [im] max_blocklist_items; slixmpp's xep_0191."""
import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, connect_client, disconnect_all, jid, make_client, top_stanzas, wait_stanzas as got  # noqa: E402

XMPPD = XMPPCTL = None
PW = "pw-block"
BLOCK = "urn:xmpp:blocking"
BLOCK_ERR = "urn:xmpp:blocking:errors"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
CLIENT = "jabber:client"
USERS = {u: PW for u in ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "sx", "sy")}
QUIET = 1.0


harness.module_server(globals(), users=USERS, sections={"im": {"max_blocklist_items": 3}},
                 name="blocking")




def is_(kind, frm=None, ptype="any", body=None):
    def pred(el):
        if el.tag != "{%s}%s" % (CLIENT, kind):
            return False
        if frm is not None and el.get("from") != frm:
            return False
        if ptype != "any" and el.get("type") != ptype:
            return False
        if body is not None:
            b = el.find("{%s}body" % CLIENT)
            if b is None or b.text != body:
                return False
        return True
    return pred


def push_of(kind):
    def pred(el):
        return (el.tag == "{%s}iq" % CLIENT and el.get("type") == "set"
                and el.find("{%s}%s" % (BLOCK, kind)) is not None)
    return pred


class Blocking(unittest.TestCase):

    def online(self, user, res="r", blocklist=True, presence=True):
        c = SRV.login(user, PW, res)
        self.addCleanup(c.close)
        c.bare, c.jid = jid(user), jid(user, res)
        if blocklist:
            r = c.ask("<iq type='get' id='bl0'><blocklist xmlns='%s'/></iq>" % BLOCK, "bl0")
            self.assertIn("type='result'", r)
        if presence:
            m = c.mark()
            c.send("<presence/>")
            self.assertTrue(got(c, m, is_("presence", c.jid)), "own presence")
        return c

    def friends(self, a, b):
        """A mutual subscription between a's and b's accounts."""
        ma, mb = a.mark(), b.mark()
        for x, y in ((a, b), (b, a)):
            x.send("<presence to='%s' type='subscribe'/>" % y.bare)
        self.assertTrue(got(b, mb, is_("presence", a.bare, "subscribe")))
        self.assertTrue(got(a, ma, is_("presence", b.bare, "subscribe")))
        for x, y in ((a, b), (b, a)):
            x.send("<presence to='%s' type='subscribed'/>" % y.bare)
        self.assertTrue(got(a, ma, is_("presence", b.jid, None)), "b's presence after approval")
        self.assertTrue(got(b, mb, is_("presence", a.jid, None)), "a's presence after approval")
        time.sleep(0.3)

    def block(self, c, *jids, kind="block", expect="result"):
        iq = "<iq type='set' id='b1'><%s xmlns='%s'>%s</%s></iq>" % (
            kind, BLOCK, "".join("<item jid='%s'/>" % j for j in jids), kind)
        r = c.ask(iq, "b1")
        self.assertIn("type='%s'" % expect, r)
        return r

    def blocklist(self, c):
        r = c.ask("<iq type='get' id='bl'><blocklist xmlns='%s'/></iq>" % BLOCK, "bl")
        el = top_stanzas(r)[0]
        return sorted(i.get("jid") for i in el.iter("{%s}item" % BLOCK))

    def test_feature_and_errors(self):
        c = self.online("gina")
        r = c.ask("<iq type='get' id='d' to='%s'><query xmlns="
                  "'http://jabber.org/protocol/disco#info'/></iq>" % DOMAIN, "d")
        self.assertIn("var='%s'" % BLOCK, r)
        self.assertEqual(self.blocklist(c), [])
        self.assertIn("bad-request", self.block(c, expect="error"))
        self.assertIn("jid-malformed", self.block(c, "a@@b", expect="error"))
        # [im] max_blocklist_items = 3: four in one go change nothing
        r = self.block(c, "x1@%s" % DOMAIN, "x2@%s" % DOMAIN, "x3@%s" % DOMAIN,
                       "x4@%s" % DOMAIN, expect="error")
        self.assertIn("policy-violation", r)
        self.assertEqual(self.blocklist(c), [])
        self.assertIsNotNone(SRV.wait_log(r"max_blocklist_items", 3))

    def test_block_both_ways_and_unblock(self):
        a1 = self.online("alice", "one")
        a2 = self.online("alice", "two")
        b = self.online("bob", "b")
        self.friends(a1, b)
        m1, m2, mb = a1.mark(), a2.mark(), b.mark()
        self.block(a1, b.bare)
        # pushes to both resources that asked for the list
        for c, m in ((a1, m1), (a2, m2)):
            p = got(c, m, push_of("block"))
            self.assertTrue(p, "no block push to %s" % c.jid)
            self.assertEqual([i.get("jid") for i in p[0].iter("{%s}item" % BLOCK)], [b.bare])
        # bob is told alice is gone
        self.assertTrue(got(b, mb, is_("presence", a1.jid, "unavailable")),
                        "no unavailable from the blocking account")
        self.assertEqual(self.blocklist(a1), [b.bare])

        # bob -> alice: service-unavailable, nothing delivered
        m1, mb = a1.mark(), b.mark()
        b.send("<message to='%s' type='chat' id='m1'><body>hi</body></message>" % a1.bare)
        err = got(b, mb, is_("message", ptype="error"))
        self.assertTrue(err, "no error for a message to a blocking account")
        self.assertIsNotNone(err[0].find(".//{%s}service-unavailable" % STANZAS))
        r = b.ask("<iq type='get' id='v1' to='%s'><query xmlns='jabber:iq:version'/></iq>"
                  % a1.jid, "v1")
        self.assertIn("service-unavailable", r)
        b.send("<presence><status>bob-changed</status></presence>")
        # alice -> bob: not-acceptable with <blocked/>
        a1.send("<message to='%s' type='chat' id='m2'><body>hey</body></message>" % b.bare)
        err = got(a1, m1, is_("message", ptype="error"))
        self.assertTrue(err, "no error for a message to a blocked contact")
        self.assertIsNotNone(err[0].find(".//{%s}not-acceptable" % STANZAS))
        self.assertIsNotNone(err[0].find(".//{%s}blocked" % BLOCK_ERR))
        a1.send("<presence><status>alice-changed</status></presence>")
        self.assertFalse(got(a1, m1, is_("message", body="hi"), QUIET))
        self.assertFalse(got(a1, m1, is_("presence", b.jid), 0))
        self.assertFalse(got(b, mb, is_("presence", a1.jid), 0))
        self.assertFalse(got(b, mb, is_("message", body="hey"), 0))

        # unblock: pushes, presence again both ways, messages flow
        m1, m2, mb = a1.mark(), a2.mark(), b.mark()
        self.block(a1, b.bare, kind="unblock")
        for c, m in ((a1, m1), (a2, m2)):
            self.assertTrue(got(c, m, push_of("unblock")), "no unblock push to %s" % c.jid)
        self.assertTrue(got(b, mb, is_("presence", a1.jid, None)), "alice's presence again")
        self.assertTrue(got(a1, m1, is_("presence", b.jid, None)), "bob's presence again")
        b.send("<message to='%s' type='chat'><body>again</body></message>" % a1.jid)
        self.assertTrue(got(a1, m1, is_("message", body="again")))
        self.assertEqual(self.blocklist(a1), [])

    def test_offline_and_full_jid(self):
        e = self.online("erin")
        self.block(e, jid("dave", "x"))
        self.block(e, jid("frank"))
        e.close()
        time.sleep(0.3)
        dx = self.online("dave", "x", blocklist=False)
        dy = self.online("dave", "y", blocklist=False)
        f = self.online("frank", blocklist=False)
        # erin is offline: dave/x and frank are refused, dave/y is kept
        for c, text in ((dx, "from-x"), (dy, "from-y"), (f, "from-frank")):
            c.send("<message to='%s' type='chat'><body>%s</body></message>" % (jid("erin"), text))
        for c in (dx, f):
            err = got(c, 0, is_("message", ptype="error"))
            self.assertTrue(err, "%s: no error from a blocking offline account" % c.jid)
            self.assertIsNotNone(err[0].find(".//{%s}service-unavailable" % STANZAS))
        self.assertFalse(got(dy, 0, is_("message", ptype="error"), QUIET))
        # an iq the server would answer for the offline account (its vCard,
        # its PEP): as if it did not exist for frank, answered for dave/y
        r = f.ask("<iq type='get' id='vc' to='%s'><vCard xmlns='vcard-temp'/></iq>" % jid("erin"), "vc")
        self.assertIn("service-unavailable", r)
        r = dy.ask("<iq type='get' id='vc' to='%s'><vCard xmlns='vcard-temp'/></iq>" % jid("erin"), "vc")
        self.assertNotIn("service-unavailable", r)
        e = self.online("erin", "back", blocklist=False)
        self.assertTrue(got(e, 0, is_("message", body="from-y")))
        time.sleep(0.5)
        self.assertFalse(got(e, 0, is_("message", body="from-x"), 0))
        self.assertFalse(got(e, 0, is_("message", body="from-frank"), 0))
        # unblock with no item empties the list
        self.assertEqual(self.blocklist(e), [jid("dave", "x"), jid("frank")])
        m = e.mark()
        self.block(e, kind="unblock")
        self.assertEqual(self.blocklist(e), [])
        self.assertTrue(got(e, m, push_of("unblock")))

    def test_slixmpp(self):
        async def go():
            x = make_client(jid("sx", "slix"), PW, SRV.cert)
            x.register_plugin("xep_0191")
            try:
                await connect_client(x, SRV.port("c2s"))
                await x.plugin["xep_0191"].block([jid("sy")])
                blocked = await x.plugin["xep_0191"].get_blocked()
                self.assertEqual([str(j) for j in blocked["blocklist"]["items"]], [jid("sy")])
                y = self.online("sy", blocklist=False)
                y.send("<message to='%s' type='chat'><body>nope</body></message>" % jid("sx", "slix"))
                await asyncio.sleep(0.3)
                err = got(y, 0, is_("message", ptype="error"))
                self.assertTrue(err)
                await x.plugin["xep_0191"].unblock([jid("sy")])
                blocked = await x.plugin["xep_0191"].get_blocked()
                self.assertEqual(list(blocked["blocklist"]["items"]), [])
            finally:
                await disconnect_all(x)
        asyncio.run(asyncio.wait_for(go(), 60))


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
