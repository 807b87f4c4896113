#!/usr/bin/env python3
"""XEP-0163 personal eventing against a real xmppd: publish (with
publish-options as preconditions), items for the owner and for others as
the node's access model allows (presence, open, whitelist), retract,
configure, delete; events only to sessions that advertised NODE+notify in
a XEP-0115 feature set the server asked for and verified (a hash that
does not match is not used); the last item at login; XEP-0402 bookmarks
and XEP-0048 bookmarks in private XML storage kept in step
(urn:xmpp:bookmarks:1#compat).  Raw XML with a client that answers the
server's disco#info query the way a client does, and slixmpp's
xep_0084/xep_0115 and xep_0048 as real clients."""
import asyncio
import base64
import hashlib
import itertools
import os
import re
import sys
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, connect_client, disconnect_all, jid, make_client, mux_of, wait_stanzas  # noqa: E402

XMPPD = XMPPCTL = None
PW = "pw-pep"
CLIENT = "jabber:client"
PUBSUB = "http://jabber.org/protocol/pubsub"
EVENT = PUBSUB + "#event"
OWNER = PUBSUB + "#owner"
ERRORS = PUBSUB + "#errors"
DISCO = "http://jabber.org/protocol/disco#info"
CAPS = "http://jabber.org/protocol/caps"
ROSTER = "jabber:iq:roster"
AVATAR_META = "urn:xmpp:avatar:metadata"
BOOKMARKS = "urn:xmpp:bookmarks:1"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
USERS = {u: PW for u in (
    "ann", "ben", "cid", "dan", "eve", "fay", "gus", "hal", "ivy", "jon", "kim",
    "sxa", "sxb", "bma", "bmb", "lia", "mel", "ned", "oli", "ida")}
QUIET = 1.0
IDS = itertools.count(1)

harness.module_server(globals(), users=USERS, sections={"im": {"max_pep_nodes": 20, "max_caps_cache": 4, "max_pep_bytes": 65536}}, name="pep")


def nid(prefix="q"):
    return "%s%d" % (prefix, next(IDS))


def caps_ver(features, identity=("client", "pc", "", "pep-test")):
    """XEP-0115 5.1 over one identity and features (no forms)."""
    s = "%s/%s/%s/%s<" % identity + "".join(f + "<" for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def disco_answer(iq_id, to, node, features, identity=("client", "pc", "", "pep-test")):
    feats = "".join("<feature var='%s'/>" % f for f in features)
    return ("<iq type='result' id='%s' to='%s'><query xmlns='%s' node='%s'>"
            "<identity category='%s' type='%s' name='%s'/>%s</query></iq>"
            % (iq_id, to, DISCO, node, identity[0], identity[1], identity[3], feats))


def events(c, start, node, timeout=5.0, want=1, item=None):
    """Headline messages with a pubsub event for node received after start
    (with an item of that id, when item is given).  Bytes the client had
    not read yet count as after any mark: an event that was on its way
    before the mark may be among them, hence item."""
    def ok(el):
        if el.tag != "{%s}message" % CLIENT:
            return False
        ev = el.find("{%s}event" % EVENT)
        if ev is None or not any(ch.get("node") == node for ch in ev):
            return False
        return item is None or item in event_item_ids([el])
    return wait_stanzas(c, start, ok, timeout=timeout, want=want)


def event_item_ids(msgs):
    out = []
    for m in msgs:
        for it in m.iter("{%s}item" % EVENT):
            out.append(it.get("id"))
    return out


class Pep(unittest.TestCase):

    def online(self, user, res="r", notify=(), answer_caps=True, bad_hash=False, presence=True,
               extra=None, asked=True):
        """user logged in; with notify, its presence carries caps listing
        NODE+notify for each (and the features extra; by default one of
        its own, so that the hash is new to the server), and the server's
        disco#info query is answered (with a hash that does not match when
        bad_hash).  asked False: the hash is one the server knows, and it
        must not ask."""
        if extra is None:
            extra = ["urn:example:feature:%d" % next(IDS)]
        c = SRV.login(user, PW, res)
        self.addCleanup(c.close)
        c.bare, c.jid = jid(user), jid(user, res)
        r = c.ask("<iq type='get' id='rg'><query xmlns='%s'/></iq>" % ROSTER, "rg")
        self.assertIn("type='result'", r)
        if not presence:
            return c
        features = [DISCO, CAPS] + ["%s+notify" % n for n in notify] + list(extra)
        node = "https://pep-test.example"
        ver = caps_ver(features) if not bad_hash else caps_ver(features + ["x"])
        m = c.mark()
        caps = "<c xmlns='%s' hash='sha-1' node='%s' ver='%s'/>" % (CAPS, node, ver) if notify else ""
        c.send("<presence>%s</presence>" % caps)
        got = wait_stanzas(c, m, lambda el: el.tag == "{%s}presence" % CLIENT and el.get("from") == c.jid)
        self.assertTrue(got, "own presence of %s" % c.jid)
        if notify:
            q = wait_stanzas(c, m, lambda el: el.tag == "{%s}iq" % CLIENT and el.get("type") == "get"
                             and el.find("{%s}query" % DISCO) is not None,
                             timeout=5.0 if asked else QUIET)
            if not asked:
                self.assertFalse(q, "%s: asked again for a known hash" % c.jid)
                return c
            self.assertTrue(q, "%s: the server did not ask for the features of its caps" % c.jid)
            iq = q[0]
            self.assertEqual(iq.get("from"), c.bare, "the caps query comes from the account")
            self.assertEqual(iq.find("{%s}query" % DISCO).get("node"), "%s#%s" % (node, ver))
            if answer_caps:
                c.send(disco_answer(iq.get("id"), iq.get("from"), "%s#%s" % (node, ver), features))
        return c

    def befriend(self, a, b):
        """Mutual subscription between a's and b's accounts."""
        ma, mb = a.mark(), b.mark()
        a.send("<presence to='%s' type='subscribe'/>" % b.bare)
        self.assertTrue(wait_stanzas(b, mb, lambda el: el.get("type") == "subscribe"))
        b.send("<presence to='%s' type='subscribed'/>" % a.bare)
        b.send("<presence to='%s' type='subscribe'/>" % a.bare)
        self.assertTrue(wait_stanzas(a, ma, lambda el: el.get("type") == "subscribe"))
        a.send("<presence to='%s' type='subscribed'/>" % b.bare)
        for c, other in ((a, b), (b, a)):
            got = wait_stanzas(c, ma if c is a else mb, lambda el: el.find(
                "{%s}query/{%s}item[@subscription='both']" % (ROSTER, ROSTER)) is not None)
            self.assertTrue(got, "%s: no push of both for %s" % (c.jid, other.bare))
        time.sleep(0.2)

    def subscribe_one_way(self, owner, watcher):
        """watcher subscribed to owner's presence (owner: from, watcher: to)."""
        mo, mw = owner.mark(), watcher.mark()
        watcher.send("<presence to='%s' type='subscribe'/>" % owner.bare)
        self.assertTrue(wait_stanzas(owner, mo, lambda el: el.get("type") == "subscribe"))
        owner.send("<presence to='%s' type='subscribed'/>" % watcher.bare)
        self.assertTrue(wait_stanzas(watcher, mw, lambda el: el.find(
            "{%s}query/{%s}item[@subscription='to']" % (ROSTER, ROSTER)) is not None))
        time.sleep(0.2)

    def publish(self, c, node, item_id, payload, options=None, expect="result"):
        i = nid("pub")
        opts = ""
        if options:
            fields = "".join("<field var='%s'><value>%s</value></field>" % kv for kv in options.items())
            opts = ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
                    "<field var='FORM_TYPE' type='hidden'><value>%s#publish-options</value></field>"
                    "%s</x></publish-options>" % (PUBSUB, fields))
        r = c.ask("<iq type='set' id='%s'><pubsub xmlns='%s'><publish node='%s'><item id='%s'>%s"
                  "</item></publish>%s</pubsub></iq>" % (i, PUBSUB, node, item_id, payload, opts), i)
        self.assertIn("type='%s'" % expect, r)
        return r

    def items(self, c, owner_bare, node, extra=""):
        i = nid("it")
        to = " to='%s'" % owner_bare if owner_bare else ""
        return c.ask("<iq type='get' id='%s'%s><pubsub xmlns='%s'><items node='%s'%s/></pubsub></iq>"
                     % (i, to, PUBSUB, node, extra), i)

    # ---------------------------------------------------------------------

    def test_01_disco_and_own_items(self):
        a = self.online("ann")
        r = a.ask("<iq type='get' id='di'><query xmlns='%s'/></iq>" % DISCO, "di")
        self.assertIn("category='pubsub'", r)
        self.assertIn("type='pep'", r)
        for f in ("#publish", "#publish-options", "#auto-create", "#last-published"):
            self.assertIn("var='%s%s'" % (PUBSUB, f), r)
        self.assertIn("var='%s#compat'" % BOOKMARKS, r)
        r = self.items(a, None, "urn:example:none")
        self.assertIn("item-not-found", r)
        r = self.publish(a, "urn:example:tune", "t1", "<tune xmlns='http://jabber.org/protocol/tune'>"
                         "<title>One</title></tune>")
        self.assertIn("<item id='t1'", r)
        # the default node keeps one item: a second id replaces the first
        self.publish(a, "urn:example:tune", "t2", "<tune xmlns='http://jabber.org/protocol/tune'>"
                     "<title>Two</title></tune>")
        r = self.items(a, None, "urn:example:tune")
        el = ET.fromstring(r)
        ids = [it.get("id") for it in el.iter("{%s}item" % PUBSUB)]
        self.assertEqual(ids, ["t2"], r)
        self.assertIn("<title>Two</title>", r)
        # a publish without a payload, and to someone else's account
        i = nid()
        r = a.ask("<iq type='set' id='%s'><pubsub xmlns='%s'><publish node='n'><item id='x'/>"
                  "</publish></pubsub></iq>" % (i, PUBSUB), i)
        self.assertIn("bad-request", r)
        self.assertIn("item-required", r)
        i = nid()
        r = a.ask("<iq type='set' id='%s' to='%s'><pubsub xmlns='%s'><publish node='n'><item id='x'>"
                  "<x xmlns='urn:x'/></item></publish></pubsub></iq>" % (i, jid("ben"), PUBSUB), i)
        self.assertIn("forbidden", r)

    def test_02_event_only_with_notify(self):
        a = self.online("cid", "pub")
        b = self.online("dan", "want", notify=[AVATAR_META])
        self.befriend(a, b)
        b2 = self.online("dan", "nowant")  # same account, no +notify
        e = self.online("eve", "stranger", notify=[AVATAR_META])  # no subscription
        self.assertNotEqual(mux_of(SRV, a.sock.getsockname()[1])[0],
                            mux_of(SRV, b.sock.getsockname()[1])[0])
        mb, mb2, me = b.mark(), b2.mark(), e.mark()
        meta = ("<metadata xmlns='%s'><info id='abc' bytes='10' type='image/png'/></metadata>"
                % AVATAR_META)
        self.publish(a, AVATAR_META, "abc", meta)
        got = events(b, mb, AVATAR_META)
        self.assertTrue(got, "no avatar event for the subscribed contact: %s" % b.qtext()[mb:][-600:])
        m = got[0]
        self.assertEqual(m.get("from"), a.bare)
        self.assertEqual(m.get("type"), "headline")
        self.assertEqual(event_item_ids(got), ["abc"])
        self.assertIsNotNone(m.find(".//{%s}info" % AVATAR_META))
        self.assertFalse(events(b2, mb2, AVATAR_META, timeout=QUIET), "sent to a session without +notify")
        self.assertFalse(events(e, me, AVATAR_META, timeout=QUIET), "sent to a non-contact")
        # the owner's own session wanting it gets it too
        a2 = self.online("cid", "own", notify=[AVATAR_META])
        time.sleep(0.3)
        ma2 = a2.mark()
        self.publish(a, AVATAR_META, "def", meta.replace("abc", "def"))
        self.assertTrue(events(a2, ma2, AVATAR_META, item="def"))
        # a second session with the same feature set: not asked again, served
        same = ["urn:example:same02"]
        b3 = self.online("dan", "same1", notify=[AVATAR_META], extra=same)
        time.sleep(0.3)  # its answer is in
        b4 = self.online("dan", "same2", notify=[AVATAR_META], extra=same, asked=False)
        time.sleep(0.3)
        m3, m4 = b3.mark(), b4.mark()
        self.publish(a, AVATAR_META, "ghi", meta.replace("abc", "ghi"))
        self.assertTrue(events(b3, m3, AVATAR_META, item="ghi"))
        self.assertTrue(events(b4, m4, AVATAR_META, item="ghi"))

    def test_03_last_item_at_login_and_unverified_caps(self):
        a = self.online("fay", "pub")
        b = self.online("gus", "first")
        self.befriend(a, b)
        self.publish(a, AVATAR_META, "m1", "<metadata xmlns='%s'/>" % AVATAR_META)
        self.publish(a, "urn:example:other", "o1", "<x xmlns='urn:example:other'/>")
        b.close()
        time.sleep(0.3)
        # coming online with +notify: the newest item of the wanted node only
        b = self.online("gus", "second", notify=[AVATAR_META])
        got = events(b, 0, AVATAR_META)
        self.assertEqual(event_item_ids(got), ["m1"], b.qtext()[-800:])
        self.assertEqual(got[0].get("from"), a.bare)
        self.assertFalse(events(b, 0, "urn:example:other", timeout=QUIET))
        # a feature set whose hash does not match is not believed
        b3 = self.online("gus", "liar", notify=[AVATAR_META], bad_hash=True)
        self.assertFalse(events(b3, 0, AVATAR_META, timeout=QUIET), "unverified caps were used")
        self.assertIn("does not hash to its caps", SRV.log())

    def test_04_access_models(self):
        owner = self.online("hal")
        sub = self.online("ivy")      # subscribed to hal's presence
        stranger = self.online("jon")
        self.subscribe_one_way(owner, sub)
        self.publish(owner, "urn:example:pres", "p", "<p xmlns='urn:example:pres'/>")
        self.publish(owner, "urn:example:open", "o", "<o xmlns='urn:example:open'/>",
                     options={"pubsub#access_model": "open"})
        self.publish(owner, "urn:example:wl", "w", "<w xmlns='urn:example:wl'/>",
                     options={"pubsub#access_model": "whitelist"})
        self.assertIn("<item id='p'", self.items(sub, owner.bare, "urn:example:pres"))
        r = self.items(stranger, owner.bare, "urn:example:pres")
        self.assertIn("not-authorized", r)
        self.assertIn("presence-subscription-required", r)
        self.assertIn("<item id='o'", self.items(stranger, owner.bare, "urn:example:open"))
        r = self.items(sub, owner.bare, "urn:example:wl")
        self.assertIn("not-allowed", r)
        self.assertIn("closed-node", r)
        self.assertIn("<item id='w'", self.items(owner, None, "urn:example:wl"))
        # XEP-0292 vCard4 over PEP: a node like any other
        self.publish(owner, "urn:xmpp:vcard4", "current",
                     "<vcard xmlns='urn:ietf:params:xml:ns:vcard-4.0'><fn><text>Hal</text></fn></vcard>")
        r = self.items(sub, owner.bare, "urn:xmpp:vcard4")
        self.assertIn("<text>Hal</text>", r)
        self.assertIn("presence-subscription-required", self.items(stranger, owner.bare, "urn:xmpp:vcard4"))

    def test_05_preconditions_configure_retract_delete(self):
        c = self.online("kim", "a", notify=["urn:example:cfg"])
        self.publish(c, "urn:example:cfg", "1", "<v xmlns='urn:example:cfg'>1</v>",
                     options={"pubsub#access_model": "whitelist", "pubsub#max_items": "max"})
        r = self.publish(c, "urn:example:cfg", "2", "<v xmlns='urn:example:cfg'>2</v>",
                         options={"pubsub#access_model": "open"}, expect="error")
        self.assertIn("conflict", r)
        self.assertIn("precondition-not-met", r)
        r = self.publish(c, "urn:example:cfg", "2", "<v xmlns='urn:example:cfg'>2</v>",
                         options={"pubsub#access_model": "roster"}, expect="error")
        self.assertIn("precondition-not-met", r)
        i = nid()
        r = c.ask("<iq type='get' id='%s'><pubsub xmlns='%s'><configure node='urn:example:cfg'/>"
                  "</pubsub></iq>" % (i, OWNER), i)
        self.assertRegex(r, r"var='pubsub#access_model'[^>]*>(<[^>]*>)*<value>whitelist</value>")
        self.assertRegex(r, r"var='pubsub#max_items'[^>]*><value>max</value>")
        i = nid()
        r = c.ask("<iq type='set' id='%s'><pubsub xmlns='%s'><configure node='urn:example:cfg'>"
                  "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
                  "<value>%s#node_config</value></field><field var='pubsub#access_model'>"
                  "<value>open</value></field></x></configure></pubsub></iq>" % (i, OWNER, PUBSUB), i)
        self.assertIn("type='result'", r)
        self.publish(c, "urn:example:cfg", "2", "<v xmlns='urn:example:cfg'>2</v>",
                     options={"pubsub#access_model": "open"})
        el = ET.fromstring(self.items(c, None, "urn:example:cfg"))
        self.assertEqual([it.get("id") for it in el.iter("{%s}item" % PUBSUB)], ["1", "2"])
        # retract, with its event
        m = c.mark()
        i = nid()
        r = c.ask("<iq type='set' id='%s'><pubsub xmlns='%s'><retract node='urn:example:cfg' notify='true'>"
                  "<item id='1'/></retract></pubsub></iq>" % (i, PUBSUB), i)
        self.assertIn("type='result'", r)
        got = wait_stanzas(c, m, lambda el: el.find(".//{%s}retract[@id='1']" % EVENT) is not None)
        self.assertTrue(got, "no retract event: %s" % c.qtext()[m:][-500:])
        i = nid()
        r = c.ask("<iq type='set' id='%s'><pubsub xmlns='%s'><retract node='urn:example:cfg'>"
                  "<item id='1'/></retract></pubsub></iq>" % (i, PUBSUB), i)
        self.assertIn("item-not-found", r)
        # delete
        i = nid()
        r = c.ask("<iq type='set' id='%s'><pubsub xmlns='%s'><delete node='urn:example:cfg'/>"
                  "</pubsub></iq>" % (i, OWNER), i)
        self.assertIn("type='result'", r)
        self.assertIn("item-not-found", self.items(c, None, "urn:example:cfg"))

    def test_06_max_nodes(self):
        # [im] max_pep_nodes = 20 in this server's configuration
        c = self.online("eve", "nodes")
        for k in range(20):
            self.publish(c, "urn:example:n%d" % k, "i", "<n xmlns='urn:example:n'/>")
        r = self.publish(c, "urn:example:n20", "i", "<n xmlns='urn:example:n'/>", expect="error")
        self.assertIn("not-allowed", r)
        self.assertIn("max_pep_nodes", SRV.log())
        # an existing node still takes items
        self.publish(c, "urn:example:n3", "j", "<n xmlns='urn:example:n'/>")

    def test_07_bookmarks_private_and_pep(self):
        a1 = self.online("bma", "legacy")
        a2 = self.online("bma", "modern", notify=[BOOKMARKS])
        time.sleep(0.3)
        m2 = a2.mark()
        i = nid()
        r = a1.ask("<iq type='set' id='%s'><query xmlns='jabber:iq:private'>"
                   "<storage xmlns='storage:bookmarks'>"
                   "<conference jid='Room1@muc.example' autojoin='true' name='One'><nick>ann</nick></conference>"
                   "<conference jid='room2@muc.example' name='Two'/>"
                   "</storage></query></iq>" % i, i)
        self.assertIn("type='result'", r)
        got = events(a2, m2, BOOKMARKS)
        self.assertEqual(sorted(event_item_ids(got)), ["room1@muc.example", "room2@muc.example"])
        el = ET.fromstring(self.items(a2, None, BOOKMARKS))
        items = {it.get("id"): it for it in el.iter("{%s}item" % PUBSUB)}
        self.assertEqual(sorted(items), ["room1@muc.example", "room2@muc.example"])
        conf = items["room1@muc.example"].find("{%s}conference" % BOOKMARKS)
        self.assertEqual(conf.get("autojoin"), "true")
        self.assertEqual(conf.findtext("{%s}nick" % BOOKMARKS), "ann")
        # a XEP-0402 client adds one: the legacy client sees three
        self.publish(a2, BOOKMARKS, "room3@muc.example",
                     "<conference xmlns='%s' name='Three'/>" % BOOKMARKS,
                     options={"pubsub#access_model": "whitelist", "pubsub#max_items": "max",
                              "pubsub#send_last_published_item": "never",
                              "pubsub#persist_items": "true"})
        i = nid()
        r = a1.ask("<iq type='get' id='%s'><query xmlns='jabber:iq:private'>"
                   "<storage xmlns='storage:bookmarks'/></query></iq>" % i, i)
        el = ET.fromstring(r)
        jids = [c.get("jid") for c in el.iter("{storage:bookmarks}conference")]
        self.assertEqual(jids, ["room1@muc.example", "room2@muc.example", "room3@muc.example"], r)
        # removing one through private XML retracts it
        m2 = a2.mark()
        i = nid()
        r = a1.ask("<iq type='set' id='%s'><query xmlns='jabber:iq:private'>"
                   "<storage xmlns='storage:bookmarks'><conference jid='room3@muc.example' name='Three'/>"
                   "</storage></query></iq>" % i, i)
        self.assertIn("type='result'", r)
        got = wait_stanzas(a2, m2, lambda el: el.find(".//{%s}retract" % EVENT) is not None)
        self.assertTrue(got)
        self.assertEqual(sorted(x.get("id") for x in got[0].iter("{%s}retract" % EVENT)),
                         ["room1@muc.example", "room2@muc.example"])
        # bookmarks are not for contacts (whitelist)
        b = self.online("bmb")
        self.befriend(a1, b)
        self.assertIn("closed-node", self.items(b, a1.bare, BOOKMARKS))

    def test_08_caps_cache_bound(self):
        # [im] max_caps_cache = 4 here: a fifth feature set in use at once
        # is kept for its session only, and still works
        node = "urn:example:cache"
        pub = self.online("lia", "pub")
        subs = [self.online("lia", "s%d" % k, notify=[node], extra=["urn:example:f%d" % k])
                for k in range(5)]
        time.sleep(0.5)
        marks = [c.mark() for c in subs]
        self.publish(pub, node, "x", "<x xmlns='urn:example:cache'/>")
        for c, m in zip(subs, marks):
            self.assertTrue(events(c, m, node, item="x"), c.jid)
        self.assertIn("caps cache full", SRV.log())
        # once they are gone, their entries make room for new ones
        for c in subs:
            c.close()
        time.sleep(0.5)
        again = [self.online("lia", "t%d" % k, notify=[node], extra=["urn:example:g%d" % k])
                 for k in range(4)]
        time.sleep(0.5)
        marks = [c.mark() for c in again]
        self.publish(pub, node, "y", "<x xmlns='urn:example:cache'/>")
        for c, m in zip(again, marks):
            self.assertTrue(events(c, m, node, item="y"), c.jid)

    def test_09_disco_items_lists_nodes(self):
        c = self.online("mel")
        self.publish(c, "urn:example:d1", "a", "<a xmlns='urn:example:d'/>")
        self.publish(c, "urn:example:d2", "a", "<a xmlns='urn:example:d'/>")
        r = c.ask("<iq type='get' id='dit' to='%s'><query xmlns='http://jabber.org/protocol/disco#items'/>"
                  "</iq>" % c.bare, "dit")
        el = ET.fromstring(r)
        nodes = sorted(it.get("node") for it in el.iter("{http://jabber.org/protocol/disco#items}item"))
        self.assertEqual(nodes, ["urn:example:d1", "urn:example:d2"], r)
        for it in el.iter("{http://jabber.org/protocol/disco#items}item"):
            self.assertEqual(it.get("jid"), c.bare)

    def test_10_xep0411_legacy_node_and_0402_checks(self):
        LEGACY = "storage:bookmarks"
        c = self.online("ned", "old", notify=[LEGACY])
        n = self.online("ned", "new", notify=[BOOKMARKS])
        time.sleep(0.3)
        mn = n.mark()
        # an old client publishes the whole document as the item 'current'
        r = self.publish(c, LEGACY, "current",
                         "<storage xmlns='storage:bookmarks'><conference jid='Lobby@MUC.example' "
                         "autojoin='1' name='Lobby'><nick>ned</nick></conference></storage>")
        self.assertIn("<item id='current'", r)
        self.assertTrue(events(n, mn, BOOKMARKS, item="lobby@muc.example"))
        el = ET.fromstring(self.items(n, None, BOOKMARKS))
        self.assertEqual([it.get("id") for it in el.iter("{%s}item" % PUBSUB)], ["lobby@muc.example"])
        # a XEP-0402 client adds a room; id normalised, payload checked
        self.publish(n, BOOKMARKS, "Hall@MUC.example", "<conference xmlns='%s' name='Hall'/>" % BOOKMARKS)
        r = self.publish(n, BOOKMARKS, "not a jid@", "<conference xmlns='%s'/>" % BOOKMARKS, expect="error")
        self.assertIn("invalid-payload", r)
        r = self.publish(n, BOOKMARKS, "x@muc.example", "<other xmlns='urn:x'/>", expect="error")
        self.assertIn("invalid-payload", r)
        # the old client reads the legacy node: both rooms, as one document
        r = self.items(c, None, LEGACY)
        el = ET.fromstring(r)
        items = list(el.iter("{%s}item" % PUBSUB))
        self.assertEqual([it.get("id") for it in items], ["current"], r)
        jids = [x.get("jid") for x in items[0].iter("{storage:bookmarks}conference")]
        self.assertEqual(jids, ["lobby@muc.example", "hall@muc.example"], r)
        # a private XML set reaches the old client as a legacy event
        mc = c.mark()
        i = nid()
        r = n.ask("<iq type='set' id='%s'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>"
                  "<conference jid='hall@muc.example' name='Hall'/></storage></query></iq>" % i, i)
        self.assertIn("type='result'", r)
        got = events(c, mc, LEGACY, item="current")
        self.assertTrue(got, c.qtext()[mc:][-600:])
        self.assertEqual([x.get("jid") for x in got[-1].iter("{storage:bookmarks}conference")],
                         ["hall@muc.example"])
        # contacts may not read it
        self.assertIn("closed-node", self.items(self.online("mel", "peek"), c.bare, LEGACY))

    def test_11_byte_quota(self):
        # [im] max_pep_bytes = 65536 here: 3 items of 20,000 bytes fit, a
        # fourth does not and changes nothing; a smaller one still fits
        c = self.online("oli")
        blob = "<d xmlns='urn:example:big'>%s</d>"
        for k in range(3):
            self.publish(c, "urn:example:big%d" % k, "i", blob % ("x" * 20000))
        r = self.publish(c, "urn:example:big3", "i", blob % ("y" * 20000), expect="error")
        self.assertIn("resource-constraint", r)
        self.assertIn("item-not-found", self.items(c, None, "urn:example:big3"))
        self.assertIn("max_pep_bytes", SRV.log())
        self.publish(c, "urn:example:big3", "i", blob % "small")
        # retracting frees room
        i = nid()
        r = c.ask("<iq type='set' id='%s'><pubsub xmlns='%s'><retract node='urn:example:big0'>"
                  "<item id='i'/></retract></pubsub></iq>" % (i, PUBSUB), i)
        self.assertIn("type='result'", r)
        self.publish(c, "urn:example:big4", "i", blob % ("z" * 20000))

    def test_12_items_by_id(self):
        # XEP-0060 6.5.8: items by id; children that are not pubsub
        # <item id/> ask for nothing, so a request with none left asks
        # for the whole node
        c = self.online("ida")
        for k in ("a", "b", "c"):
            self.publish(c, "urn:example:ids", k, "<v xmlns='urn:example:v'>%s</v>" % k,
                         options={"pubsub#max_items": "5"})

        def ids(extra_children):
            i = nid("it")
            r = c.ask("<iq type='get' id='%s'><pubsub xmlns='%s'><items node='urn:example:ids'>%s"
                      "</items></pubsub></iq>" % (i, PUBSUB, extra_children), i)
            self.assertIn("type='result'", r)
            return sorted(it.get("id") for it in ET.fromstring(r).iter("{%s}item" % PUBSUB))

        self.assertEqual(ids("<item id='b'/>"), ["b"])
        self.assertEqual(ids("<item id='b'/><item xmlns='urn:other' id='c'/><x id='a'/>"), ["b"])
        self.assertEqual(ids("<item id='c'/><item id='a'/><item id='zz'/>"), ["a", "c"])
        self.assertEqual(ids("<item/><item xmlns='urn:other' id='c'/>"), ["a", "b", "c"])


class PepSlixmpp(unittest.TestCase):
    """Real clients: slixmpp's XEP-0084 avatar metadata reaching a contact
    whose slixmpp advertises +notify through XEP-0115, and XEP-0048
    bookmarks in private storage set by slixmpp and read as XEP-0402
    items."""

    def test_avatar_and_bookmarks(self):
        plugins = ["xep_0030", "xep_0060", "xep_0115", "xep_0163", "xep_0084", "xep_0048"]

        async def go():
            a = make_client(jid("sxa", "sx"), PW, SRV.cert, plugins=plugins)
            b = make_client(jid("sxb", "sx"), PW, SRV.cert, plugins=plugins)
            got = asyncio.get_running_loop().create_future()

            def on_meta(msg):
                if not got.done():
                    got.set_result(msg)
            b.add_event_handler("avatar_metadata_publish", on_meta)
            try:
                for c in (a, b):
                    await connect_client(c, SRV.port("c2s"))
                # mutual subscription
                for x, y in ((a, b), (b, a)):
                    x.send_presence_subscription(pto=y.boundjid.bare)
                    await asyncio.sleep(0.3)
                    y.send_presence(pto=x.boundjid.bare, ptype="subscribed")
                await asyncio.sleep(1.0)
                b.send_presence()
                await asyncio.sleep(1.0)   # the server asks for b's features
                await a.plugin["xep_0084"].publish_avatar_metadata(
                    items=[{"id": "f00d", "type": "image/png", "bytes": 123}])
                msg = await asyncio.wait_for(got, 10)
                info = msg["pubsub_event"]["items"]["item"]["avatar_metadata"]["info"]
                self.assertEqual(info["id"], "f00d")
                self.assertEqual(msg["from"].bare, a.boundjid.bare)
                # bookmarks through XEP-0049 private storage (XEP-0048)
                from slixmpp.plugins.xep_0048 import Bookmarks
                bm = Bookmarks()
                bm.add_conference("lounge@muc.example", "sxa", name="Lounge", autojoin=True)
                await a.plugin["xep_0048"].set_bookmarks(bm, method="xep_0049")
            finally:
                await disconnect_all(a, b)

        asyncio.run(asyncio.wait_for(go(), 60))
        # another client reads them as XEP-0402 items
        c = SRV.login("sxa", PW, "reader")
        self.addCleanup(c.close)
        r = c.ask("<iq type='get' id='bm'><pubsub xmlns='%s'><items node='%s'/></pubsub></iq>"
                  % (PUBSUB, BOOKMARKS), "bm")
        el = ET.fromstring(r)
        items = list(el.iter("{%s}item" % PUBSUB))
        self.assertEqual([it.get("id") for it in items], ["lounge@muc.example"], r)
        conf = items[0].find("{%s}conference" % BOOKMARKS)
        self.assertEqual(conf.get("name"), "Lounge")
        self.assertEqual(conf.get("autojoin"), "true")
        self.assertEqual(conf.findtext("{%s}nick" % BOOKMARKS), "sxa")


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
