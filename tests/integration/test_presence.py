#!/usr/bin/env python3
"""RFC 6121 presence subscriptions (3) and presence exchange (4), against a
real xmppd: the subscription handshake with its roster pushes and the
stamping of subscription stanzas with the bare JID (3.1), a request kept
for a contact who is offline (3.1.3), pre-approval (3.4), unsubscribing
(3.3) and cancelling (3.2), removing a contact from the roster (2.5.2), a
denial, a repeated request answered by the server; presence broadcast only
to subscribers, probes at initial presence (4.2, 4.3), unavailable
presence at logout and when the TCP connection is lost (4.5), directed
presence and its unavailable at the end of the session (4.6), [im]
max_directed_presences; presence between an account's own resources.
Raw XML for the details (parsed with ElementTree), slixmpp once for a real
client.  Each case uses its own accounts; the two parties of a
subscription sit on different mux threads (consecutive connections go to
the two threads in turn, checked with harness.mux_of).

A broadcast presence is serialized once for every recipient, so it has no
'to': it is never checked here."""
import asyncio
import itertools
import os
import re
import socket
import struct
import sys
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, STANZA_NS, Server, connect_client, disconnect_all, local_port, make_client, mux_of  # noqa: E402

XMPPD = XMPPCTL = None
PW = "pw-presence"
ROSTER_NS = "jabber:iq:roster"
PREAPPROVAL_NS = "urn:xmpp:features:pre-approval"
USERS = {u: PW for u in (
    "olga", "olgab",                          # own resources
    "alice1", "bob1", "alice2", "bob2", "carol2", "alice3", "bob3", "alice4", "dave4",
    "alice5", "bob5", "alice6", "bob6", "alice7", "bob7", "alice8", "carol8",
    "alice8b", "carol8b", "feat9", "bob9", "erin9", "alice10", "bob10",
    "alice11", "bob11", "frank12", "gina12", "alice13", "bob13", "sxa14", "sxb14",
    "alice16", "bob16", "carol16")}
QUIET = 1.0          # how long "nothing arrives" is watched
IDS = itertools.count(1)

# a complete top-level stanza in the received text (quotes made ' by qtext)
STANZA = re.compile(r"<(presence|iq|message)\b[^>]*?(?:/>|>.*?</\1>)", re.S)


harness.module_server(globals(), users=USERS, name="presence")


def bare(user):
    return "%s@%s" % (user, DOMAIN)


def local(tag):
    return tag.rsplit("}", 1)[-1]


def bare_of(jid):
    return (jid or "").split("/", 1)[0]


def stanzas(c, start=0):
    """The complete stanzas c received after text offset start, parsed."""
    out = []
    for m in STANZA.finditer(c.qtext()[start:]):
        try:
            out.append(ET.fromstring(m.group(0)))
        except ET.ParseError as e:
            raise AssertionError("unparsable stanza (%s): %s" % (e, m.group(0)))
    return out


def push_items(c, start=0):
    """The <item/>s of the roster pushes c received after start."""
    items = []
    for el in stanzas(c, start):
        if local(el.tag) == "iq" and el.get("type") == "set":
            q = el.find("{%s}query" % ROSTER_NS)
            if q is not None:
                items.extend(q.findall("{%s}item" % ROSTER_NS))
    return items


def wait_for(c, pred, start=0, timeout=5.0, items=stanzas):
    """The first of items(c, start) for which pred holds, reading on for
    up to timeout seconds; None if none came."""
    end = time.monotonic() + timeout
    while True:
        for el in items(c, start):
            if pred(el):
                return el
        if c.closed or time.monotonic() >= end:
            return None
        c.read_until("\x00never", timeout=0.1)


def presence_from(frm, ptype=None, bare_match=False):
    """A predicate: a presence of type ptype (None: available) from frm (or,
    with bare_match, from any JID whose bare JID is frm)."""
    def pred(el):
        if local(el.tag) != "presence" or el.get("type") != ptype:
            return False
        return bare_of(el.get("from")) == frm if bare_match else el.get("from") == frm
    return pred


def any_presence_of(user_bare):
    """A predicate: a presence of any type from the account or one of its
    resources."""
    return lambda el: local(el.tag) == "presence" and bare_of(el.get("from")) == user_bare


def child_text(el, name):
    ch = el.find("{jabber:client}" + name)
    if ch is None:
        ch = el.find(name)
    return None if ch is None else (ch.text or "")


def summary(c, start=0):
    return c.qtext()[start:][-1500:]


class PresenceCase(unittest.TestCase):
    """Helpers that wait with a timeout and fail with what was received."""

    def online(self, user, resource="res", presence="<presence/>", roster=True, srv=None):
        """user logged in on the direct-TLS listener; a roster get (so that
        pushes come) when roster, then presence (initial presence) if not
        None.  Closed at the end of the test."""
        srv = srv or SRV
        c = srv.login(user, PW, resource)
        self.addCleanup(c.close)
        c.bare = bare(user)
        c.jid = "%s/%s" % (c.bare, resource)
        if roster:
            iq_id = "rg%d" % next(IDS)
            r = c.ask("<iq type='get' id='%s'><query xmlns='%s'/></iq>" % (iq_id, ROSTER_NS), iq_id)
            self.assertIn("type='result'", r)
        if presence is not None:
            m = c.mark()
            c.send(presence)
            # its own presence comes back first (RFC 6121 4.2.2): read
            # it, so that a later mark starts after it
            self.expect(c, m, presence_from(c.jid, ET.fromstring(presence).get("type")),
                        "own presence of " + c.jid)
        return c

    def apart(self, c1, c2, srv=None):
        """c1 and c2 are served by different mux threads."""
        srv = srv or SRV
        m1 = mux_of(srv, c1.sock.getsockname()[1])[0]
        m2 = mux_of(srv, c2.sock.getsockname()[1])[0]
        self.assertIsNotNone(m1)
        self.assertNotEqual(m1, m2, "%s and %s on the same mux thread" % (c1.jid, c2.jid))

    def pair(self, u1, u2, r1="res", r2="res"):
        a = self.online(u1, r1)
        b = self.online(u2, r2)
        self.apart(a, b)
        return a, b

    def roster(self, c):
        """{jid: attributes} from a roster get."""
        iq_id = "rg%d" % next(IDS)
        r = c.ask("<iq type='get' id='%s'><query xmlns='%s'/></iq>" % (iq_id, ROSTER_NS), iq_id)
        el = ET.fromstring(r)
        self.assertEqual(el.get("type"), "result", r)
        q = el.find("{%s}query" % ROSTER_NS)
        items = q.findall("{%s}item" % ROSTER_NS) if q is not None else []
        return {it.get("jid"): dict(it.attrib) for it in items}

    def expect_push(self, c, start, jid, subscription, ask=None, approved=None, timeout=5.0):
        """A roster push to c (after start) of jid with this subscription and
        ask (None: no ask attribute); approved checked when given."""
        def ok(it):
            return (it.get("jid") == jid and it.get("subscription") == subscription
                    and it.get("ask") == ask and (approved is None or it.get("approved") == approved))
        it = wait_for(c, ok, start, timeout, items=push_items)
        self.assertIsNotNone(it, "%s: no roster push for %s subscription=%r ask=%r%s; pushes seen: %s"
                             % (c.jid, jid, subscription, ask,
                                "" if approved is None else " approved=%r" % approved,
                                [dict(x.attrib) for x in push_items(c, start)] or summary(c, start)))
        return it

    def expect_no_push(self, c, start, wait=QUIET):
        it = wait_for(c, lambda x: True, start, wait, items=push_items)
        self.assertIsNone(it, "%s: unexpected roster push %s" % (c.jid, None if it is None else it.attrib))

    def expect(self, c, start, pred, what, timeout=5.0):
        el = wait_for(c, pred, start, timeout)
        self.assertIsNotNone(el, "%s: no %s; received: %s" % (c.jid, what, summary(c, start)))
        return el

    def expect_none(self, c, start, pred, what, wait=QUIET):
        el = wait_for(c, pred, start, wait)
        self.assertIsNone(el, "%s: unexpected %s: %s" % (
            c.jid, what, None if el is None else ET.tostring(el).decode()))

    def expect_subscription_stanza(self, c, start, from_bare, ptype):
        """A presence of type ptype from from_bare's account, stamped with
        exactly the bare JID (RFC 6121 3.1.2, 3.2.2, 3.3.2)."""
        el = self.expect(c, start, presence_from(from_bare, ptype, bare_match=True),
                         "<presence type='%s'> from %s" % (ptype, from_bare))
        self.assertEqual(el.get("from"), from_bare, "not stamped with the bare JID: %s"
                         % ET.tostring(el).decode())
        return el

    def befriend(self, a, b):
        """Set-up: a mutual ('both') subscription between a's and b's
        accounts, both online, available and interested."""
        ma, mb = a.mark(), b.mark()
        a.send("<presence to='%s' type='subscribe'/>" % b.bare)
        self.expect(b, mb, presence_from(a.bare, "subscribe", True), "set-up: subscribe from " + a.bare)
        b.send("<presence to='%s' type='subscribed'/>" % a.bare)
        b.send("<presence to='%s' type='subscribe'/>" % a.bare)
        self.expect(a, ma, presence_from(b.bare, "subscribe", True), "set-up: subscribe from " + b.bare)
        a.send("<presence to='%s' type='subscribed'/>" % b.bare)
        self.expect_push(a, ma, b.bare, "both")
        self.expect_push(b, mb, a.bare, "both")
        # each has the other's presence (sent after the approval), so that
        # nothing of the set-up arrives after the test's next mark
        self.expect(a, ma, presence_from(b.jid), "set-up: presence of " + b.jid)
        self.expect(b, mb, presence_from(a.jid), "set-up: presence of " + a.jid)

    def reset(self, c):
        """Drop the TCP connection: RST, no </stream:stream>, no TLS
        close_notify."""
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()


class OwnResources(PresenceCase):

    def test_00_own_resources(self):
        """RFC 6121 4.2.2, 4.4.2, 4.5.2: an account's presence goes to its
        other available resources, and so does its unavailable when a
        connection is lost."""
        o1 = self.online("olga", "one")
        m1 = o1.mark()
        o2 = self.online("olga", "two")
        self.apart(o1, o2)
        self.expect(o1, m1, presence_from(o2.jid), "initial presence of the other resource")
        # and the new resource learns of the one already there
        self.expect(o2, 0, presence_from(o1.jid), "presence of the resource already online")
        m2 = o2.mark()
        o1.send("<presence><status>busy</status></presence>")
        p = self.expect(o2, m2, presence_from(o1.jid), "presence of the other resource")
        self.assertEqual(child_text(p, "status"), "busy")
        m2 = o2.mark()
        self.reset(o1)
        u = self.expect(o2, m2, presence_from(o1.jid, "unavailable"), "unavailable of the lost resource")
        self.assertEqual(u.get("to"), o2.jid, "the server's unavailable, addressed to its recipient")
        self.assertEqual(p.get("to"), o2.jid, "a broadcast, addressed to its recipient")

    def test_00b_delivered_presence_is_addressed(self):
        """A broadcast is the sender's bytes shared by every recipient;
        each copy still goes out with 'to' set to the receiving resource
        (RFC 6121 4.2.2's examples, as ejabberd does), escaped where the
        resourcepart needs it."""
        o1 = self.online("olgab", "one")
        m1 = o1.mark()
        # the resourcepart it's&co, as the bind request and result spell it
        o2 = self.online("olgab", "it&apos;s&amp;co", presence=None)
        o2.jid = "%s/it's&co" % o2.bare
        self.apart(o1, o2)
        m2 = o2.mark()
        o2.send("<presence/>")
        p = self.expect(o1, m1, presence_from(o2.jid), "initial presence of the other resource")
        self.assertEqual(p.get("to"), o1.jid)
        p = self.expect(o2, m2, presence_from(o1.jid), "presence of the resource already online")
        self.assertEqual(p.get("to"), o2.jid)
        echo = self.expect(o2, m2, presence_from(o2.jid), "its own presence, echoed")
        self.assertEqual(echo.get("to"), o2.jid)
        # a presence the client addressed keeps its own 'to'
        m1 = o1.mark()
        o2.send("<presence to='%s'><status>direct</status></presence>" % o1.jid.replace("'", "&apos;"))
        p = self.expect(o1, m1, lambda el: presence_from(o2.jid)(el) and child_text(el, "status") == "direct",
                        "directed presence")
        self.assertEqual(p.get("to"), o1.jid)


class Subscriptions(PresenceCase):

    def test_01_subscribe_both_ways(self):
        """RFC 6121 3.1: request, approval, and the same the other way."""
        a, b = self.pair("alice1", "bob1")
        time.sleep(0.3)  # initial presences settle
        ma, mb = a.mark(), b.mark()
        a.send("<presence to='%s' type='subscribe'/>" % b.bare)
        self.expect_push(a, ma, b.bare, "none", ask="subscribe")
        self.expect_subscription_stanza(b, mb, a.bare, "subscribe")
        # a pending inbound request is not a roster item (RFC 6121 3.1.3)
        self.expect_no_push(b, mb)

        ma, mb = a.mark(), b.mark()
        b.send("<presence to='%s' type='subscribed'/>" % a.bare)
        self.expect_push(b, mb, a.bare, "from")
        self.expect_push(a, ma, b.bare, "to")
        self.expect_subscription_stanza(a, ma, b.bare, "subscribed")
        self.expect(a, ma, presence_from(b.jid), "current presence of " + b.jid)
        # RFC 6121 3.1.5: 'subscribed' first, then the contact's presence
        got = stanzas(a, ma)
        first = [i for i, el in enumerate(got) if presence_from(b.bare, "subscribed")(el)]
        then = [i for i, el in enumerate(got) if presence_from(b.jid)(el)]
        self.assertLess(first[0], then[0], "bob's presence came before 'subscribed': %s" % summary(a, ma))

        ma, mb = a.mark(), b.mark()
        b.send("<presence to='%s' type='subscribe'/>" % a.bare)
        self.expect_push(b, mb, a.bare, "from", ask="subscribe")
        self.expect_subscription_stanza(a, ma, b.bare, "subscribe")
        ma, mb = a.mark(), b.mark()
        a.send("<presence to='%s' type='subscribed'/>" % b.bare)
        self.expect_push(a, ma, b.bare, "both")
        self.expect_push(b, mb, a.bare, "both")
        self.expect_subscription_stanza(b, mb, a.bare, "subscribed")
        self.expect(b, mb, presence_from(a.jid), "current presence of " + a.jid)

        ra, rb = self.roster(a), self.roster(b)
        self.assertEqual(ra.get(b.bare, {}).get("subscription"), "both", ra)
        self.assertNotIn("ask", ra.get(b.bare, {}))
        self.assertEqual(rb.get(a.bare, {}).get("subscription"), "both", rb)
        self.assertNotIn("ask", rb.get(a.bare, {}))

    def test_02_presence_only_after_approval(self):
        """RFC 6121 4.4.2: presence goes to subscribers only."""
        a, b = self.pair("alice2", "bob2")
        c = self.online("carol2")
        time.sleep(0.3)
        mc = c.mark()
        ma, mb = a.mark(), b.mark()
        a.send("<presence to='%s' type='subscribe'/>" % b.bare)
        self.expect(b, mb, presence_from(a.bare, "subscribe", True), "subscribe from " + a.bare)
        ma = a.mark()
        b.send("<presence><show>away</show></presence>")
        self.expect_none(a, ma, presence_from(b.bare, None, True), "presence of bob before approval")

        ma = a.mark()
        b.send("<presence to='%s' type='subscribed'/>" % a.bare)
        p = self.expect(a, ma, presence_from(b.jid), "current presence of bob after approval")
        self.assertEqual(child_text(p, "show"), "away", ET.tostring(p).decode())
        ma = a.mark()
        b.send("<presence><status>x</status></presence>")
        p = self.expect(a, ma, presence_from(b.jid), "presence change of bob")
        self.assertEqual(child_text(p, "status"), "x")
        self.expect_none(c, mc, any_presence_of(b.bare), "presence of bob at carol (no subscription)")

    def test_03_pushes_on_two_resources(self):
        """RFC 6121 2.1.6: every interested resource gets every push."""
        a1 = self.online("alice3", "one")
        a2 = self.online("alice3", "two")
        b = self.online("bob3")
        self.apart(a1, a2)
        self.apart(a2, b)
        time.sleep(0.3)
        m1, m2, mb = a1.mark(), a2.mark(), b.mark()
        a1.send("<presence to='%s' type='subscribe'/>" % b.bare)
        for c, m in ((a1, m1), (a2, m2)):
            self.expect_push(c, m, b.bare, "none", ask="subscribe")
        self.expect(b, mb, presence_from(a1.bare, "subscribe", True), "subscribe from " + a1.bare)
        m1, m2 = a1.mark(), a2.mark()
        b.send("<presence to='%s' type='subscribed'/>" % a1.bare)
        for c, m in ((a1, m1), (a2, m2)):
            self.expect_push(c, m, b.bare, "to")
            self.expect_subscription_stanza(c, m, b.bare, "subscribed")
            self.expect(c, m, presence_from(b.jid), "presence of " + b.jid)

    def test_04_request_kept_while_offline(self):
        """RFC 6121 3.1.3: a request to a contact with no available
        resource is delivered when the contact comes online."""
        a = self.online("alice4")
        ma = a.mark()
        a.send("<presence to='%s' type='subscribe'/>" % bare("dave4"))
        self.expect_push(a, ma, bare("dave4"), "none", ask="subscribe")
        time.sleep(0.3)
        d = self.online("dave4", presence=None)
        self.apart(a, d)
        self.assertNotIn(a.bare, self.roster(d), "a pending request is not a roster item")
        md = d.mark()
        d.send("<presence/>")
        self.expect_subscription_stanza(d, md, a.bare, "subscribe")
        self.assertNotIn(a.bare, self.roster(d), "a pending request is not a roster item")
        ma, md = a.mark(), d.mark()
        d.send("<presence to='%s' type='subscribed'/>" % a.bare)
        self.expect_push(d, md, a.bare, "from")
        self.expect_push(a, ma, d.bare, "to")
        self.expect_subscription_stanza(a, ma, d.bare, "subscribed")
        self.assertEqual(self.roster(d).get(a.bare, {}).get("subscription"), "from")

    def test_05_probe_at_initial_presence(self):
        """RFC 6121 4.2, 4.3: initial presence brings the contacts' current
        presence (the server probes them) and goes to the subscribers."""
        a, b = self.pair("alice5", "bob5")
        self.befriend(a, b)
        ma = a.mark()
        b.send("<presence><status>here</status></presence>")
        self.expect(a, ma, presence_from(b.jid), "presence change of bob")
        mb = b.mark()
        a.send("<presence type='unavailable'/></stream:stream>")
        self.expect(b, mb, presence_from(a.jid, "unavailable"), "alice's unavailable")
        a.close()
        time.sleep(0.3)
        a2 = self.online("alice5", "again", presence=None)
        self.apart(a2, b)
        ma, mb = a2.mark(), b.mark()
        a2.send("<presence/>")
        p = self.expect(a2, ma, presence_from(b.jid), "bob's current presence at initial presence")
        self.assertEqual(child_text(p, "status"), "here")
        self.assertEqual(p.get("to"), a2.jid, "a probe's answer, addressed to the new resource")
        p = self.expect(b, mb, presence_from(a2.jid), "alice's initial presence")
        self.assertEqual(p.get("to"), b.jid, "a broadcast, addressed to the contact's resource")

    def test_06_unavailable_at_logout(self):
        """RFC 6121 4.5.2: unavailable presence goes to the subscribers."""
        a, b = self.pair("alice6", "bob6")
        self.befriend(a, b)
        ma = a.mark()
        b.send("<presence type='unavailable'/></stream:stream>")
        self.expect(a, ma, presence_from(b.jid, "unavailable"), "bob's unavailable")
        b.close()

    def test_07_unavailable_on_lost_connection(self):
        """RFC 6121 4.5.3.1 (and RFC 6120 7.7.2.1): the server sends
        unavailable on the user's behalf when the connection is lost."""
        a, b = self.pair("alice7", "bob7")
        self.befriend(a, b)
        ma = a.mark()
        self.reset(b)
        self.expect(a, ma, presence_from(b.jid, "unavailable"), "bob's unavailable after a reset")


class DirectedPresence(PresenceCase):

    def test_08a_directed_then_session_ends(self):
        """RFC 6121 4.6.2, 4.6.3: directed presence reaches a non-contact;
        when the session ends, it gets unavailable."""
        a, c = self.pair("alice8", "carol8")
        time.sleep(0.3)
        ma = a.mark()
        c.send("<presence to='%s'><status>hi</status></presence>" % a.jid)
        p = self.expect(a, ma, presence_from(c.jid), "carol's directed presence")
        self.assertEqual(child_text(p, "status"), "hi")
        ma = a.mark()
        c.send("</stream:stream>")
        c.read_until_closed(timeout=3)
        c.close()
        self.expect(a, ma, presence_from(c.jid, "unavailable"), "unavailable after carol's directed presence")

    def test_08b_directed_unavailable_is_the_end(self):
        """RFC 6121 4.6.3: after directed unavailable, the end of the
        session sends the recipient nothing more."""
        a, c = self.pair("alice8b", "carol8b")
        time.sleep(0.3)
        ma = a.mark()
        c.send("<presence to='%s'/>" % a.jid)
        self.expect(a, ma, presence_from(c.jid), "carol's directed presence")
        c.send("<presence to='%s' type='unavailable'/>" % a.jid)
        self.expect(a, ma, presence_from(c.jid, "unavailable"), "carol's directed unavailable")
        ma = a.mark()
        self.reset(c)
        self.expect_none(a, ma, any_presence_of(c.bare), "presence after directed unavailable",
                         wait=1.5)


class PreApproval(PresenceCase):

    def test_09a_feature(self):
        """RFC 6121 3.4.1: the stream features after authentication
        advertise pre-approval."""
        c = self.online("feat9", presence=None, roster=False)
        t = c.qtext()
        after = t[t.index("<success"):]
        m = re.search(r"<stream:features>.*?</stream:features>", after, re.S)
        self.assertIsNotNone(m, after)
        self.assertRegex(m.group(0), r"<sub\s+xmlns='%s'\s*(/>|>\s*</sub>)" % re.escape(PREAPPROVAL_NS))

    def test_09b_preapproved(self):
        """RFC 6121 3.4.2, 3.4.3: 'subscribed' before the request
        pre-approves; the request is then approved by the server."""
        b, e = self.pair("bob9", "erin9")
        time.sleep(0.3)
        mb, me = b.mark(), e.mark()
        b.send("<presence to='%s' type='subscribed'/>" % e.bare)
        self.expect_push(b, mb, e.bare, "none", approved="true")
        self.expect_none(e, me, lambda el: True, "stanza after bob's pre-approval")
        mb, me = b.mark(), e.mark()
        e.send("<presence to='%s' type='subscribe'/>" % b.bare)
        self.expect_subscription_stanza(e, me, b.bare, "subscribed")
        self.expect_push(e, me, b.bare, "to")
        self.expect_push(b, mb, e.bare, "from")
        self.expect_none(b, mb, presence_from(e.bare, "subscribe", True), "subscribe (pre-approved)")


class Ending(PresenceCase):

    def test_10_unsubscribe_then_cancel(self):
        """RFC 6121 3.3 then 3.2.  From 'both', alice unsubscribes from
        bob's presence; the subscription left is bob's to alice's presence,
        which alice (the one he is subscribed to) then cancels with
        'unsubscribed': both end with 'none'."""
        a, b = self.pair("alice10", "bob10")
        self.befriend(a, b)
        ma, mb = a.mark(), b.mark()
        a.send("<presence to='%s' type='unsubscribe'/>" % b.bare)
        self.expect_push(a, ma, b.bare, "from")
        self.expect_push(b, mb, a.bare, "to")
        self.expect_subscription_stanza(b, mb, a.bare, "unsubscribe")
        # RFC 6121 3.3.3: the contact's server sends his unavailable
        self.expect(a, ma, presence_from(b.jid, "unavailable"), "bob's unavailable after unsubscribe")
        ma = a.mark()
        b.send("<presence><status>after</status></presence>")
        self.expect_none(a, ma, presence_from(b.jid), "bob's presence after alice unsubscribed")

        ma, mb = a.mark(), b.mark()
        a.send("<presence to='%s' type='unsubscribed'/>" % b.bare)
        self.expect_push(a, ma, b.bare, "none")
        self.expect_push(b, mb, a.bare, "none")
        self.expect_subscription_stanza(b, mb, a.bare, "unsubscribed")
        # RFC 6121 3.2.2: the cancelling side's unavailable goes out
        self.expect(b, mb, presence_from(a.jid, "unavailable"), "alice's unavailable after cancelling")
        mb = b.mark()
        a.send("<presence><status>alone</status></presence>")
        self.expect_none(b, mb, presence_from(a.jid), "alice's presence after she cancelled")
        self.assertEqual(self.roster(a).get(b.bare, {}).get("subscription"), "none")
        self.assertEqual(self.roster(b).get(a.bare, {}).get("subscription"), "none")

    def test_11_roster_remove(self):
        """RFC 6121 2.5.2: removing a 'both' contact unsubscribes and
        cancels."""
        a, b = self.pair("alice11", "bob11")
        self.befriend(a, b)
        ma, mb = a.mark(), b.mark()
        r = a.ask("<iq type='set' id='rm1'><query xmlns='%s'><item jid='%s' subscription='remove'/>"
                  "</query></iq>" % (ROSTER_NS, b.bare), "rm1")
        self.assertIn("type='result'", r)
        self.expect_push(a, ma, b.bare, "remove")
        self.expect_push(b, mb, a.bare, "none")
        self.expect_subscription_stanza(b, mb, a.bare, "unsubscribe")
        self.expect_subscription_stanza(b, mb, a.bare, "unsubscribed")
        self.expect(b, mb, presence_from(a.jid, "unavailable"), "alice's unavailable after the removal")
        # RFC 6121 3.3.3: the unsubscribe makes bob's server send his
        self.expect(a, ma, presence_from(b.jid, "unavailable"), "bob's unavailable after the removal")
        self.assertNotIn(b.bare, self.roster(a))

    def test_12_denial(self):
        """RFC 6121 3.2.1: 'unsubscribed' in answer to a request denies
        it."""
        f, g = self.pair("frank12", "gina12")
        time.sleep(0.3)
        mg = g.mark()
        f.send("<presence to='%s' type='subscribe'/>" % g.bare)
        self.expect(g, mg, presence_from(f.bare, "subscribe", True), "subscribe from " + f.bare)
        mf = f.mark()
        g.send("<presence to='%s' type='unsubscribed'/>" % f.bare)
        self.expect_push(f, mf, g.bare, "none")
        self.expect_subscription_stanza(f, mf, g.bare, "unsubscribed")
        self.assertNotIn(f.bare, self.roster(g))
        self.assertEqual(self.roster(f).get(g.bare, {}).get("ask"), None)

    def test_13_repeated_request(self):
        """RFC 6121 3.1.3: a request from a user already subscribed is
        answered by the contact's server, the contact is not asked again.
        The answer changes nothing on the user's side, so it is not
        delivered (Appendix A.3.3, state To); the contact's current
        presence is sent again instead, as Prosody does."""
        a, b = self.pair("alice13", "bob13")
        time.sleep(0.3)
        ma, mb = a.mark(), b.mark()
        a.send("<presence to='%s' type='subscribe'/>" % b.bare)
        self.expect(b, mb, presence_from(a.bare, "subscribe", True), "subscribe from " + a.bare)
        b.send("<presence to='%s' type='subscribed'/>" % a.bare)
        self.expect_push(a, ma, b.bare, "to")
        self.expect(a, ma, presence_from(b.jid), "bob's presence after the approval")
        ma, mb = a.mark(), b.mark()
        a.send("<presence to='%s' type='subscribe'/>" % b.bare)
        self.expect(a, ma, presence_from(b.jid), "bob's presence again")
        self.expect_none(b, mb, presence_from(a.bare, "subscribe", True), "second subscribe")
        self.expect_no_push(a, ma)


class RealClient(PresenceCase):

    def test_14_slixmpp(self):
        """Two slixmpp clients: one asks, the other authorizes and asks back
        (auto_authorize, auto_subscribe); both end with 'both' and see each
        other's presence changes."""
        async def go():
            x = make_client(bare("sxa14") + "/sx", PW, SRV.cert)
            y = make_client(bare("sxb14") + "/sx", PW, SRV.cert)
            x.roster.auto_authorize = True
            x.roster.auto_subscribe = True
            y.roster.auto_authorize = True
            y.roster.auto_subscribe = False
            seen = {x: asyncio.Queue(), y: asyncio.Queue()}
            x.add_event_handler("changed_status", seen[x].put_nowait)
            y.add_event_handler("changed_status", seen[y].put_nowait)
            try:
                await connect_client(x, SRV.port("c2s"))
                await connect_client(y, SRV.port("c2s"))
                self.assertNotEqual(mux_of(SRV, local_port(x))[0], mux_of(SRV, local_port(y))[0])
                await x.get_roster()
                await y.get_roster()
                y.send_presence_subscription(pto=x.boundjid.bare)
                xj, yj = x.boundjid.bare, y.boundjid.bare
                end = time.monotonic() + 8
                while time.monotonic() < end:
                    if (x.client_roster[yj]["subscription"] == "both"
                            and y.client_roster[xj]["subscription"] == "both"):
                        break
                    await asyncio.sleep(0.2)
                await x.get_roster()
                await y.get_roster()
                self.assertEqual(x.client_roster[yj]["subscription"], "both")
                self.assertEqual(y.client_roster[xj]["subscription"], "both")

                async def sees(watcher, sender, status):
                    sender.send_presence(pstatus=status)
                    end = time.monotonic() + 5
                    while time.monotonic() < end:
                        try:
                            p = await asyncio.wait_for(seen[watcher].get(), end - time.monotonic())
                        except asyncio.TimeoutError:
                            break
                        if str(p["from"]) == sender.boundjid.full and p["status"] == status:
                            return
                    self.fail("%s did not see %s's status %r" % (watcher.boundjid, sender.boundjid, status))
                await sees(y, x, "busy")
                await sees(x, y, "out to lunch")
            finally:
                await disconnect_all(x, y)
        asyncio.run(asyncio.wait_for(go(), 60))


class LastActivity(PresenceCase):

    def test_16_last_activity(self):
        """XEP-0012 3: an account's last activity is 0 while it is online,
        the seconds since its last session ended when it is not; only for
        contacts it lets see its presence (forbidden for others)."""
        a, b = self.pair("alice16", "bob16")
        c = self.online("carol16")
        self.befriend(a, b)
        def last(asker, iq_id):
            return asker.ask("<iq type='get' id='%s' to='%s'><query xmlns='jabber:iq:last'/></iq>"
                             % (iq_id, b.bare), iq_id)
        r = last(a, "l1")
        self.assertIn("type='result'", r)
        self.assertIn("seconds='0'", r)
        self.assertIn("forbidden", last(c, "l2"))
        b.send("<presence type='unavailable'/></stream:stream>")
        b.close()
        time.sleep(2.2)
        r = last(a, "l3")
        m = re.search(r"seconds='(\d+)'", r)
        self.assertIsNotNone(m, r)
        self.assertTrue(2 <= int(m.group(1)) < 30, r)
        self.assertIn("forbidden", last(c, "l4"))


class DirectedLimit(PresenceCase):

    def test_15_max_directed_presences(self):
        """[im] max_directed_presences: directed presence to one entity too
        many is answered resource-constraint (the server would have to
        remember it for the unavailable at the end of the session)."""
        users = {u: PW for u in ("sender", "t1", "t2", "t3")}
        srv = Server(XMPPD, XMPPCTL, users=users, sections={"im": {"max_directed_presences": 2}},
                     name="presencelimit")
        try:
            srv.start()
            ts = [self.online(t, "r", srv=srv) for t in ("t1", "t2", "t3")]
            s = self.online("sender", "s", srv=srv)
            time.sleep(0.3)
            marks = [t.mark() for t in ts]
            ms = s.mark()
            for t in ts:
                s.send("<presence to='%s'/>" % t.jid)
            for t, m in zip(ts[:2], marks[:2]):
                self.expect(t, m, presence_from(s.jid), "directed presence within the limit")
            err = self.expect(s, ms, lambda el: local(el.tag) == "presence" and el.get("type") == "error",
                              "presence error for the third")
            self.assertEqual(bare_of(err.get("from")), ts[2].bare, ET.tostring(err).decode())
            self.assertIsNotNone(err.find(".//{%s}resource-constraint" % STANZA_NS),
                                 ET.tostring(err).decode())
            self.expect_none(ts[2], marks[2], presence_from(s.jid), "directed presence over the limit")
            self.assertIsNotNone(srv.wait_log(r"max_directed_presences", 3),
                                 "no log line about max_directed_presences")
            for c in ts + [s]:
                c.close()
            srv.check_clean_exit(self)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
