#!/usr/bin/env python3
"""What the server says about itself and answers for accounts (the IM
modules behind core/route/services.c): XEP-0030 disco of the server and of
one's own account, XEP-0199 ping, XEP-0092 version (and [im]
software_version = false, on a second server, which neither answers nor
lists it), XEP-0202 time, XEP-0012 uptime, and the RFC 6120 errors around
them (no payload, unknown node, someone else's account).  Asked
with slixmpp's own plugins where it has one, raw XML for the edge cases."""
import asyncio
import base64
import datetime
import hashlib
import os
import re
import sys
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, Server, connect_client, disconnect_all, make_client  # noqa: E402

XMPPD = XMPPCTL = None
SRV = None
PW = "pw-info"
STARTED = None


def setUpModule():
    global SRV, STARTED
    SRV = Server(XMPPD, XMPPCTL, users={"alice": PW, "bob": PW}, name="info")
    STARTED = time.monotonic()
    SRV.start()


def tearDownModule():
    if SRV is None:
        return
    try:
        SRV.check_clean_exit(unittest.TestCase())
    finally:
        SRV.cleanup()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))






def login(user, resource):
    return SRV.login(user, PW, resource)


def ask(c, xml, iq_id):
    return c.ask(xml, iq_id)


class ServerInfo(unittest.TestCase):

    def test_disco_version_time_uptime_with_slixmpp(self):
        async def go():
            c = make_client("alice@%s/s" % DOMAIN, PW, SRV.cert,
                            plugins=("xep_0030", "xep_0199", "xep_0092", "xep_0202", "xep_0012"))
            await connect_client(c, SRV.port("c2s"))
            try:
                info = await c["xep_0030"].get_info(jid=DOMAIN, timeout=5)
                feats = set(info["disco_info"]["features"])
                for ns in ("http://jabber.org/protocol/disco#info",
                           "http://jabber.org/protocol/disco#items", "urn:xmpp:ping",
                           "jabber:iq:version", "urn:xmpp:time", "jabber:iq:last"):
                    self.assertIn(ns, feats)
                self.assertIn(("server", "im"),
                              [(i[0], i[1]) for i in info["disco_info"]["identities"]])
                items = await c["xep_0030"].get_items(jid=DOMAIN, timeout=5)
                self.assertEqual(items["type"], "result")
                v = await c["xep_0092"].get_version(DOMAIN, timeout=5)
                self.assertEqual(v["software_version"]["name"], "xmppd")
                self.assertEqual(v["software_version"]["os"], "")  # not told
                # (slixmpp 1.8.3's xep_0202 appends a second Z to <utc/>
                # and cannot parse XEP-0202's own example: asked raw below)
                last = await c["xep_0012"].get_last_activity(DOMAIN, timeout=5)
                up = int(last["last_activity"]["seconds"])
                self.assertLessEqual(up, time.monotonic() - STARTED + 1)
                self.assertGreaterEqual(up, 0)
                # own account: identity and features, answered without a from
                own = await c["xep_0030"].get_info(jid="alice@%s" % DOMAIN, timeout=5)
                self.assertIn(("account", "registered"),
                              [(i[0], i[1]) for i in own["disco_info"]["identities"]])
                r = await c["xep_0199"].send_ping("alice@%s" % DOMAIN, timeout=5)
                self.assertEqual(r["type"], "result")
            finally:
                await disconnect_all(c)
        run(go())

    def test_entity_time(self):
        c = login("bob", "time")
        try:
            r = ask(c, "<iq type='get' id='t1' to='%s'><time xmlns='urn:xmpp:time'/></iq>"
                    % DOMAIN, "t1")
            utc = re.search(r"<utc>(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)</utc>", r).group(1)
            tzo = re.search(r"<tzo>([+-]\d\d:\d\d)</tzo>", r)
            self.assertIsNotNone(tzo, r)
            got = datetime.datetime.strptime(utc, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc)
            now = datetime.datetime.now(datetime.timezone.utc)
            self.assertLess(abs((got - now).total_seconds()), 5, r)
        finally:
            c.close()

    def test_uptime_grows(self):
        c = login("bob", "up")
        try:
            a = ask(c, "<iq type='get' id='u1' to='%s'><query xmlns='jabber:iq:last'/></iq>"
                    % DOMAIN, "u1")
            s1 = int(re.search(r"seconds='(\d+)'", a).group(1))
            time.sleep(2.1)
            b = ask(c, "<iq type='get' id='u2' to='%s'><query xmlns='jabber:iq:last'/></iq>"
                    % DOMAIN, "u2")
            s2 = int(re.search(r"seconds='(\d+)'", b).group(1))
            self.assertGreaterEqual(s2 - s1, 2)
            self.assertLessEqual(s2 - s1, 4)
        finally:
            c.close()

    def test_errors(self):
        c = login("bob", "err")
        try:
            # RFC 6120 8.2.3: a get without a payload
            r = ask(c, "<iq type='get' id='e1' to='%s'/>" % DOMAIN, "e1")
            self.assertIn("type='error'", r)
            self.assertIn("<bad-request", r)
            # XEP-0030: a node the server does not have
            r = ask(c, "<iq type='get' id='e2' to='%s'><query xmlns='http://jabber.org/"
                    "protocol/disco#info' node='nope'/></iq>" % DOMAIN, "e2")
            self.assertIn("<item-not-found", r)
            # someone else's account: disco and roster are the owner's
            r = ask(c, "<iq type='get' id='e3' to='alice@%s'><query xmlns='http://jabber.org/"
                    "protocol/disco#info'/></iq>" % DOMAIN, "e3")
            self.assertIn("<service-unavailable", r)
            r = ask(c, "<iq type='get' id='e4' to='alice@%s'><query xmlns='jabber:iq:roster'/>"
                    "</iq>" % DOMAIN, "e4")
            self.assertIn("<service-unavailable", r)
            # RFC 6121 8.5.1: the server answers a ping for an account
            # that exists (logged in or not), not for one that does not
            r = ask(c, "<iq type='get' id='p1' to='nobody@%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                    % DOMAIN, "p1")
            self.assertIn("<service-unavailable", r)
            r = ask(c, "<iq type='get' id='p2' to='alice@%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                    % DOMAIN, "p2")
            self.assertIn("type='result'", r)
            self.assertIn("from='alice@%s'" % DOMAIN, r)
            # version is the server's, not an account's
            r = ask(c, "<iq type='get' id='e5' to='alice@%s'><query xmlns='jabber:iq:version'/>"
                    "</iq>" % DOMAIN, "e5")
            self.assertIn("<service-unavailable", r)
            # own roster: answered by the server, without a from
            r = ask(c, "<iq type='get' id='e6'><query xmlns='jabber:iq:roster'/></iq>", "e6")
            self.assertIn("type='result'", r)
            self.assertNotIn("from=", r)
            # a set where only get is defined
            r = ask(c, "<iq type='set' id='e8' to='%s'><time xmlns='urn:xmpp:time'/></iq>"
                    % DOMAIN, "e8")
            self.assertIn("<bad-request", r)
            # a result addressed to the server is not answered; the stream goes on
            c.send("<iq type='result' id='e9' to='%s'/>" % DOMAIN)
            r = ask(c, "<iq type='get' id='e10' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                    % DOMAIN, "e10")
            self.assertIn("type='result'", r)
            self.assertNotRegex(c.received.decode("utf-8", "replace"), r"id=[\"']e9[\"']")
        finally:
            c.close()


CAPS_NS = "http://jabber.org/protocol/caps"
INFO_NS = "http://jabber.org/protocol/disco#info"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def caps_hash(query):
    """XEP-0115 5.1 computed here from a disco#info <query> element."""
    ids = sorted((i.get("category"), i.get("type"), i.get(XML_LANG) or "", i.get("name") or "")
                 for i in query.findall("{%s}identity" % INFO_NS))
    feats = sorted(f.get("var") for f in query.findall("{%s}feature" % INFO_NS))
    self_check = len(set(feats)) == len(feats)
    s = "".join("%s/%s/%s/%s<" % i for i in ids) + "".join(f + "<" for f in feats)
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode(), self_check


def advertised_caps(c):
    """(node, ver, hash) of the <c/> in the stream features a logged-in
    RawClient got after authenticating."""
    text = c.qtext()
    feats = text[text.index("<success"):]
    feats = feats[feats.index("<stream:features>"):feats.index("</stream:features>") + 18]
    m = re.search(r"<c xmlns='%s'[^>]*/>" % re.escape(CAPS_NS), feats)
    assert m, feats
    el = ET.fromstring(m.group(0))
    return el.get("node"), el.get("ver"), el.get("hash")


def info_query(c, iq_id, node=None):
    r = c.ask("<iq type='get' id='%s' to='%s'><query xmlns='%s'%s/></iq>"
              % (iq_id, DOMAIN, INFO_NS, " node='%s'" % node if node else ""), iq_id)
    iq = ET.fromstring("<w xmlns='jabber:client'>%s</w>" % r)[0]
    return iq, iq.find("{%s}query" % INFO_NS)


class Caps(unittest.TestCase):
    """XEP-0115: the stream features after authentication carry the hash
    of the server's disco#info; disco answers the caps node with the same
    info, and no other node."""

    def check(self, srv, user):
        c = srv.login(user, PW, "caps")
        try:
            node, ver, algo = advertised_caps(c)
            self.assertEqual(algo, "sha-1")
            self.assertTrue(node)
            iq, q = info_query(c, "c1")
            self.assertEqual(iq.get("type"), "result")
            want, unique = caps_hash(q)
            self.assertTrue(unique, "a feature listed twice")
            self.assertEqual(ver, want)
            # XEP-0115 6.2: node#ver gets the same info, the node echoed
            iq2, q2 = info_query(c, "c2", "%s#%s" % (node, ver))
            self.assertEqual(iq2.get("type"), "result")
            self.assertEqual(q2.get("node"), "%s#%s" % (node, ver))
            self.assertEqual(caps_hash(q2)[0], ver)
            # any other node (a stale hash, the bare node) is not found
            for i, other in enumerate(("%s#%s" % (node, "x" + ver[1:]), node)):
                r = c.ask("<iq type='get' id='n%d' to='%s'><query xmlns='%s' node='%s'/></iq>"
                          % (i, DOMAIN, INFO_NS, other), "n%d" % i)
                self.assertIn("<item-not-found", r)
            return ver
        finally:
            c.close()

    def test_caps_match_disco(self):
        on = self.check(SRV, "alice")
        srv = Server(XMPPD, XMPPCTL, users={"dave": PW}, name="info-caps",
                     sections={"im": {"software_version": "off"}}).start()
        try:
            off = self.check(srv, "dave")
        finally:
            try:
                srv.check_clean_exit(self)
            finally:
                srv.cleanup()
        # the hash follows the configuration: one feature less
        self.assertNotEqual(on, off)


DISCO_INFO = ("<iq type='get' id='%s' to='" + DOMAIN + "'>"
              "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
VERSION = ("<iq type='get' id='%s' to='" + DOMAIN + "'>"
           "<query xmlns='jabber:iq:version'/></iq>")


class VersionOff(unittest.TestCase):
    """[im] software_version = false: jabber:iq:version is answered
    service-unavailable, as an unknown payload is, and disco#info does not
    list it (the other features stay)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(XMPPD, XMPPCTL, users={"carol": PW}, name="info-nover",
                         sections={"im": {"software_version": False}}).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.check_clean_exit(unittest.TestCase())
        finally:
            cls.srv.cleanup()

    def test_not_answered_nor_listed(self):
        c = self.srv.login("carol", PW, "v")
        try:
            r = c.ask(VERSION % "v1", "v1")
            self.assertIn("type='error'", r)
            self.assertIn("<service-unavailable", r)
            self.assertNotIn("<name>", r)
            unknown = c.ask("<iq type='get' id='v2' to='%s'><query xmlns='urn:example:none'/>"
                            "</iq>" % DOMAIN, "v2")
            # the same answer as a payload nobody handles
            self.assertEqual(re.sub(r"id='v\d'", "", r).replace(
                "jabber:iq:version", "X"), re.sub(r"id='v\d'", "", unknown).replace(
                "urn:example:none", "X"))
            info = c.ask(DISCO_INFO % "v3", "v3")
            self.assertIn("type='result'", info)
            self.assertNotIn("jabber:iq:version", info)
            self.assertIn("urn:xmpp:ping", info)
            self.assertIn("urn:xmpp:time", info)
        finally:
            c.close()

    def test_on_by_default(self):
        c = login("alice", "von")
        try:
            self.assertIn("<name>xmppd</name>", c.ask(VERSION % "w1", "w1"))
            self.assertIn("var='jabber:iq:version'", c.ask(DISCO_INFO % "w2", "w2"))
        finally:
            c.close()


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
