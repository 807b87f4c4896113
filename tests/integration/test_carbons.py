#!/usr/bin/env python3
"""XEP-0280 message carbons against a real xmppd: a resource that enabled
them gets <received/> copies of the account's one-to-one messages that
went to another resource (to the full JID, or to the bare JID when another
resource has the higher priority) and <sent/> copies of what its other
resources send, wrapped in XEP-0297 <forwarded/> and from the bare JID;
none for a resource that did not enable them or disabled them again, none
of headlines, groupchat or messages without a body, none of messages
marked <private/> (XEP-0280 7) or <no-copy/> (XEP-0334).  The account's
resources are on different mux threads.  slixmpp's xep_0280 receives a
copy the way a client does."""
import asyncio
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, connect_client, disconnect_all, jid, make_client, mux_of, wait_stanzas  # noqa: E402

XMPPD = XMPPCTL = None
PW = "pw-carbons"
CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"
CLIENT = "jabber:client"
USERS = {u: PW for u in ("alice", "bob", "carol", "dave", "sx")}
QUIET = 1.0


harness.module_server(globals(), users=USERS, name="carbons")



def wait_messages(c, start, pred, timeout=5.0):
    return wait_stanzas(c, start, lambda el: el.tag == "{%s}message" % CLIENT and pred(el),
                        timeout)


def carbon_of(m, kind):
    """The forwarded message inside carbon m of kind received/sent, or None."""
    w = m.find("{%s}%s" % (CARBONS, kind))
    if w is None:
        return None
    return w.find("{%s}forwarded/{%s}message" % (FORWARD, CLIENT))


def body(m):
    b = m.find("{%s}body" % CLIENT)
    return None if b is None else b.text


class Carbons(unittest.TestCase):

    def online(self, user, res, prio=0, carbons=True):
        c = SRV.login(user, PW, res)
        self.addCleanup(c.close)
        m = c.mark()
        c.send("<presence><priority>%d</priority></presence>" % prio)
        c.read_until("<presence", start=m)
        if carbons:
            r = c.ask("<iq type='set' id='cb'><enable xmlns='%s'/></iq>" % CARBONS, "cb")
            self.assertIn("type='result'", r)
        return c

    def expect_carbon(self, c, start, kind, text, inner_from, inner_to):
        got = wait_messages(c, start, lambda m: carbon_of(m, kind) is not None
                            and body(carbon_of(m, kind)) == text)
        self.assertTrue(got, "%s: no %s carbon of %r: %s" % (kind, kind, text, c.qtext()[start:][-800:]))
        m = got[0]
        self.assertEqual(m.get("from"), jid("alice"), "a carbon comes from the bare JID")
        inner = carbon_of(m, kind)
        self.assertEqual(inner.get("from"), inner_from)
        self.assertEqual(inner.get("to"), inner_to)
        self.assertEqual(m.get("type"), "chat")
        self.assertEqual(len(got), 1, "one copy, not %d" % len(got))

    def expect_no_carbon(self, c, start, text):
        def is_copy(m):
            return any(carbon_of(m, k) is not None and body(carbon_of(m, k)) == text
                       for k in ("received", "sent"))
        got = wait_messages(c, start, is_copy, timeout=QUIET)
        self.assertFalse(got, "unexpected carbon of %r" % text)

    def expect_direct(self, c, start, text):
        got = wait_messages(c, start, lambda m: body(m) == text)
        self.assertTrue(got, "no %r: %s" % (text, c.qtext()[start:][-500:]))

    def test_feature(self):
        c = self.online("carol", "disco", carbons=False)
        r = c.ask("<iq type='get' id='d1' to='%s'><query xmlns="
                  "'http://jabber.org/protocol/disco#info'/></iq>" % DOMAIN, "d1")
        self.assertIn("var='%s'" % CARBONS, r)
        # a get is not how one enables them
        r = c.ask("<iq type='get' id='cbg'><enable xmlns='%s'/></iq>" % CARBONS, "cbg")
        self.assertIn("type='error'", r)
        self.assertIn("bad-request", r)

    def test_received_sent_and_hints(self):
        a1 = self.online("alice", "one", prio=5)
        a2 = self.online("alice", "two", prio=1)
        a3 = self.online("alice", "three", prio=1, carbons=False)
        b = self.online("bob", "b", carbons=False)
        self.assertNotEqual(mux_of(SRV, a1.sock.getsockname()[1])[0],
                            mux_of(SRV, a2.sock.getsockname()[1])[0])
        time.sleep(0.3)

        # to a full JID: the other enabled resource gets a received copy
        m1, m2, m3 = a1.mark(), a2.mark(), a3.mark()
        b.send("<message to='%s' type='chat'><body>to-one</body></message>" % jid("alice", "one"))
        self.expect_direct(a1, m1, "to-one")
        self.expect_carbon(a2, m2, "received", "to-one", jid("bob", "b"), jid("alice", "one"))
        self.expect_no_carbon(a1, m1, "to-one")
        self.expect_no_carbon(a3, m3, "to-one")

        # to the bare JID: alice/one has the highest priority; two gets a copy
        m1, m2 = a1.mark(), a2.mark()
        b.send("<message to='%s' type='chat'><body>to-bare</body></message>" % jid("alice"))
        self.expect_direct(a1, m1, "to-bare")
        self.expect_carbon(a2, m2, "received", "to-bare", jid("bob", "b"), jid("alice"))

        # sent by alice/one: two gets a sent copy, one itself none
        m1, m2, mb = a1.mark(), a2.mark(), b.mark()
        a1.send("<message to='%s' type='chat'><body>from-one</body></message>" % jid("bob", "b"))
        self.expect_direct(b, mb, "from-one")
        self.expect_carbon(a2, m2, "sent", "from-one", jid("alice", "one"), jid("bob", "b"))
        self.expect_no_carbon(a1, m1, "from-one")

        # normal with a body is copied; private and no-copy are not
        m2, mb = a2.mark(), b.mark()
        a1.send("<message to='%s'><body>normal</body></message>" % jid("bob", "b"))
        got = wait_messages(a2, m2, lambda m: carbon_of(m, "sent") is not None
                            and body(carbon_of(m, "sent")) == "normal")
        self.assertTrue(got, "no carbon of a normal message with a body")
        for i, mark in enumerate(("<private xmlns='%s'/>" % CARBONS,
                                  "<no-copy xmlns='urn:xmpp:hints'/>")):
            m2, mb = a2.mark(), b.mark()
            a1.send("<message to='%s' type='chat'><body>hint%d</body>%s</message>"
                    % (jid("bob", "b"), i, mark))
            self.expect_direct(b, mb, "hint%d" % i)
            self.expect_no_carbon(a2, m2, "hint%d" % i)
        # a headline is not copied
        m1, m2 = a1.mark(), a2.mark()
        b.send("<message to='%s' type='headline'><body>news</body></message>" % jid("alice", "one"))
        self.expect_direct(a1, m1, "news")
        self.expect_no_carbon(a2, m2, "news")

        # disabled again: no more copies
        r = a2.ask("<iq type='set' id='cbd'><disable xmlns='%s'/></iq>" % CARBONS, "cbd")
        self.assertIn("type='result'", r)
        m1, m2 = a1.mark(), a2.mark()
        b.send("<message to='%s' type='chat'><body>after-disable</body></message>"
               % jid("alice", "one"))
        self.expect_direct(a1, m1, "after-disable")
        self.expect_no_carbon(a2, m2, "after-disable")

    def test_slixmpp(self):
        """slixmpp's xep_0280 enables carbons and raises carbon_received
        for a message to the account's other resource."""
        async def go():
            x = make_client(jid("sx", "slix"), PW, SRV.cert)
            x.register_plugin("xep_0280")
            got = asyncio.Queue()
            x.add_event_handler("carbon_received", got.put_nowait)
            try:
                await connect_client(x, SRV.port("c2s"))
                await x.plugin["xep_0280"].enable()
                other = SRV.login("sx", PW, "raw", "<presence/>")
                self.addCleanup(other.close)
                sender = self.online("dave", "d", carbons=False)
                await asyncio.sleep(0.3)
                sender.send("<message to='%s' type='chat'><body>for-raw</body></message>"
                            % jid("sx", "raw"))
                msg = await asyncio.wait_for(got.get(), 5)
                fwd = msg["carbon_received"]
                self.assertEqual(str(fwd["from"]), jid("dave", "d"))
                self.assertEqual(fwd["body"], "for-raw")
            finally:
                await disconnect_all(x)
        asyncio.run(asyncio.wait_for(go(), 60))


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
