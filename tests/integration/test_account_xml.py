#!/usr/bin/env python3
"""Documents an account keeps on the server: XEP-0049 private XML
(bookmarks saved by one client and read by another, only by the account
itself, [im] max_private_items) and XEP-0054 vcard-temp (set by the
account, read by anyone, item-not-found for none, kept across a
restart).  slixmpp's xep_0054 plugin for the vCard; raw XML for the rest."""
import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, Server, connect_client, disconnect_all, make_client  # noqa: E402

XMPPD = XMPPCTL = None
PW = "pw-docs"
USERS = {u: PW for u in ("alice", "bob", "carol")}
BM = "<storage xmlns='storage:bookmarks'><conference jid='room@conf.%s' autojoin='true' " \
     "name='Room &amp; Co'><nick>al</nick></conference></storage>" % DOMAIN


harness.module_server(globals(), users=USERS, sections={"im": {"max_private_items": 2}},
                 name="docs")

def text(c):
    return c.qtext()


def login(user, resource):
    return SRV.login(user, PW, resource)


def ask(c, xml, iq_id):
    return c.ask(xml, iq_id)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))








def private(c, iq_id, typ, inner):
    return ask(c, "<iq type='%s' id='%s'><query xmlns='jabber:iq:private'>%s</query></iq>"
               % (typ, iq_id, inner), iq_id)


class AccountXml(unittest.TestCase):

    def test_1_bookmarks_between_clients(self):
        a1 = login("alice", "laptop")
        try:
            empty = private(a1, "p1", "get", "<storage xmlns='storage:bookmarks'/>")
            self.assertIn("type='result'", empty)
            self.assertIn("<storage xmlns='storage:bookmarks'/>", empty)
            self.assertIn("type='result'", private(a1, "p2", "set", BM))
        finally:
            a1.close()
        a2 = login("alice", "phone")
        try:
            r = private(a2, "p3", "get", "<storage xmlns='storage:bookmarks'/>")
            self.assertIn("jid='room@conf.%s'" % DOMAIN, r)
            self.assertIn("name='Room &amp; Co'", r)
            self.assertIn("<nick>al</nick>", r)
            self.assertNotIn("from=", r.split(">")[0])
            # another namespace is another document
            r = private(a2, "p4", "get", "<notes xmlns='storage:rosternotes'/>")
            self.assertIn("<notes xmlns='storage:rosternotes'/>", r)
        finally:
            a2.close()

    def test_2_private_errors_and_limit(self):
        b = login("bob", "x")
        try:
            # someone else's private storage
            r = ask(b, "<iq type='get' id='e1' to='alice@%s'><query xmlns='jabber:iq:private'>"
                    "<storage xmlns='storage:bookmarks'/></query></iq>" % DOMAIN, "e1")
            self.assertIn("<forbidden", r)
            self.assertIn("<not-acceptable", private(b, "e2", "get", "<x xmlns='jabber:client'/>"))
            self.assertIn("<bad-request", private(b, "e3", "get", ""))
            self.assertIn("<bad-request", private(b, "e4", "set", "<a xmlns='u:a'/><b xmlns='u:b'/>"))
            # [im] max_private_items = 2: a third key is refused, a
            # replacement is not
            self.assertIn("type='result'", private(b, "l1", "set", "<a xmlns='u:a'>1</a>"))
            self.assertIn("type='result'", private(b, "l2", "set", "<b xmlns='u:b'>1</b>"))
            self.assertIn("<not-acceptable", private(b, "l3", "set", "<c xmlns='u:c'>1</c>"))
            self.assertIn("type='result'", private(b, "l4", "set", "<a xmlns='u:a'>2</a>"))
            self.assertIn(">2</a>", private(b, "l5", "get", "<a xmlns='u:a'/>"))
        finally:
            b.close()

    def test_3_vcard(self):
        async def go():
            c = make_client("carol@%s/v" % DOMAIN, PW, SRV.cert,
                            plugins=("xep_0030", "xep_0054"))
            await connect_client(c, SRV.port("c2s"))
            try:
                vc = c["xep_0054"].make_vcard()
                vc["FN"] = "Carol Example"
                vc["NICKNAME"] = "caz"
                await c["xep_0054"].publish_vcard(vc, timeout=5)
                got = await c["xep_0054"].get_vcard(timeout=5, cached=False)
                self.assertEqual(got["vcard_temp"]["FN"], "Carol Example")
            finally:
                await disconnect_all(c)
        run(go())
        b = login("bob", "reader")
        try:
            r = ask(b, "<iq type='get' id='v1' to='carol@%s'><vCard xmlns='vcard-temp'/></iq>"
                    % DOMAIN, "v1")
            self.assertIn("<FN>Carol Example</FN>", r)
            self.assertIn("from='carol@%s'" % DOMAIN, r)
            # none stored: an error for someone else, an empty vCard for oneself
            r = ask(b, "<iq type='get' id='v2' to='alice@%s'><vCard xmlns='vcard-temp'/></iq>"
                    % DOMAIN, "v2")
            self.assertIn("<item-not-found", r)
            r = ask(b, "<iq type='get' id='v3'><vCard xmlns='vcard-temp'/></iq>", "v3")
            self.assertIn("<vCard xmlns='vcard-temp'/>", r)
            # nobody sets someone else's
            r = ask(b, "<iq type='set' id='v4' to='carol@%s'><vCard xmlns='vcard-temp'>"
                    "<FN>Mallory</FN></vCard></iq>" % DOMAIN, "v4")
            self.assertIn("<forbidden", r)
            # an account that does not exist
            r = ask(b, "<iq type='get' id='v5' to='nobody@%s'><vCard xmlns='vcard-temp'/></iq>"
                    % DOMAIN, "v5")
            self.assertIn("<service-unavailable", r)
        finally:
            b.close()
        # on disk: after kill -9 and a restart
        SRV.kill()
        SRV.launch()
        b = login("bob", "again")
        try:
            r = ask(b, "<iq type='get' id='v6' to='carol@%s'><vCard xmlns='vcard-temp'/></iq>"
                    % DOMAIN, "v6")
            self.assertIn("<FN>Carol Example</FN>", r)
            self.assertIn("<NICKNAME>caz</NICKNAME>", r)
        finally:
            b.close()


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
