#!/usr/bin/env python3
"""RFC 6121 2 rosters, against a real xmppd with its SQLite store: get,
set and remove; pushes to every resource that asked for the roster (the
two resources on different mux threads); versioning (an up-to-date get is
answered empty); the errors of RFC 6121 2.3.3; [im] max_roster_items,
max_roster_text and max_roster_groups;
and a roster that survives a restart.  slixmpp adds and reads a contact
the way a client does; raw XML checks the details."""
import asyncio
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, RawClient, Server, connect_client, disconnect_all, make_client  # noqa: E402

XMPPD = XMPPCTL = None
PW = "pw-roster"
USERS = {u: PW for u in ("alice", "bob", "carol", "dave", "erin", "fay", "gus", "hal")}


TEXT_MAX, GROUPS_MAX = 50000, 3
harness.module_server(globals(), users=USERS,
                      sections={"im": {"max_roster_items": 3, "max_roster_text": TEXT_MAX,
                                       "max_roster_groups": GROUPS_MAX}},
                      name="roster")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


def pushes(c, start, n, timeout=5.0):
    """The first n roster pushes received after text offset start."""
    pat = re.compile(r"<iq[^>]*type='set'[^>]*>\s*<query xmlns='jabber:iq:roster'.*?</iq>", re.S)
    import time
    end = time.monotonic() + timeout
    while True:
        found = pat.findall(c.qtext()[start:])
        if len(found) >= n or time.monotonic() > end:
            return found
        c.read_until("\x00never", timeout=0.1)


def get_roster(c, iq_id, ver=None):
    v = "" if ver is None else " ver='%s'" % ver
    return c.ask("<iq type='get' id='%s'><query xmlns='jabber:iq:roster'%s/></iq>" % (iq_id, v),
               iq_id)


def set_item(c, iq_id, jid, name=None, groups=(), sub=None):
    attrs = "jid='%s'" % jid + (" name='%s'" % name if name else "") + \
        (" subscription='%s'" % sub if sub else "")
    g = "".join("<group>%s</group>" % x for x in groups)
    return c.ask("<iq type='set' id='%s'><query xmlns='jabber:iq:roster'><item %s>%s</item>"
               "</query></iq>" % (iq_id, attrs, g), iq_id)


def wait_gone(user, res):
    """Until the session user/res is closed on the server's side (a
    throttled session reads its FIN late): the account is then offline,
    unless it has others, and its next bind reads its roster again."""
    assert SRV.wait_log(r"closed \(.*\) session %s@%s/%s$" % (user, re.escape(DOMAIN), re.escape(res)),
                        10), "session %s/%s not closed" % (user, res)


def authenticated(user):
    """A raw client past SASL and the stream restart, not bound yet (so
    that a test can pipeline the bind with what follows)."""
    r = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
    r.open_stream()
    mk = r.mark()
    r.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
           % (harness.SASL_NS, harness.plain_b64(user, PW)))
    r.read_until("<success", 5, start=mk)
    r.open_stream()
    return r


def ver_of(reply):
    m = re.search(r"<query xmlns='jabber:iq:roster' ver='(\d+)'", reply)
    return m.group(1) if m else None


class Roster(unittest.TestCase):

    def test_1_set_push_get_version_remove(self):
        a1 = SRV.login("alice", PW, "one")
        a2 = SRV.login("alice", PW, "two")
        try:
            self.assertIn("urn:xmpp:features:rosterver", a1.qtext())
            empty = get_roster(a1, "g0")
            self.assertIn("type='result'", empty)
            v0 = ver_of(empty)
            self.assertIsNotNone(v0, empty)
            get_roster(a2, "g0b")
            m1, m2 = len(a1.qtext()), len(a2.qtext())
            r = set_item(a1, "s1", "Bob@%s" % DOMAIN.upper(), name="Bob", groups=("Friends", "Work"))
            self.assertIn("type='result'", r)
            # a push to both resources, with the item as stored
            for c, m in ((a1, m1), (a2, m2)):
                p = pushes(c, m, 1)
                self.assertEqual(len(p), 1, c.qtext()[m:])
                self.assertIn("jid='bob@%s'" % DOMAIN, p[0])  # normalised
                self.assertIn("name='Bob'", p[0])
                self.assertIn("subscription='none'", p[0])
                self.assertIn("<group>Friends</group>", p[0])
                self.assertIn("<group>Work</group>", p[0])
                v1 = ver_of(p[0])
                self.assertNotEqual(v1, v0)
            full = get_roster(a1, "g1")
            self.assertIn("jid='bob@%s'" % DOMAIN, full)
            self.assertEqual(ver_of(full), v1)
            # up to date: an empty result; an older version: the roster
            same = get_roster(a1, "g2", ver=v1)
            self.assertIn("type='result'", same)
            self.assertNotIn("<query", same)
            old = get_roster(a1, "g3", ver=v0)
            self.assertIn("jid='bob@%s'" % DOMAIN, old)
            # a ver this server did not write (empty, the current one with a
            # leading zero or a space) is not current: the whole roster
            for k, odd in enumerate(("", "0" + v1, v1 + " ")):
                r = get_roster(a1, "g3o%d" % k, ver=odd)
                self.assertIn("jid='bob@%s'" % DOMAIN, r)
                self.assertEqual(ver_of(r), v1)
            # a change replaces the item (still one of it)
            set_item(a1, "s2", "bob@%s" % DOMAIN, name="Robert", groups=("Work",))
            full = get_roster(a2, "g4")
            self.assertEqual(full.count("jid='bob@%s'" % DOMAIN), 1, full)
            self.assertIn("name='Robert'", full)
            self.assertNotIn("Friends", full)
            # remove: a push with subscription='remove' (the result comes
            # before the push, so the last one may still be on its way),
            # then gone
            m1 = len(a1.qtext())
            r = set_item(a1, "s3", "bob@%s" % DOMAIN, sub="remove")
            self.assertIn("type='result'", r)
            a1.read_until("subscription='remove'".replace("'", "\""), timeout=5, start=m1)
            p = [x for x in pushes(a1, m1, 2) if "subscription='remove'" in x]
            self.assertEqual(len(p), 1, a1.qtext()[m1:])
            self.assertNotEqual(ver_of(p[0]), v1)
            self.assertNotIn("bob@", get_roster(a2, "g5"))
            r = set_item(a1, "s4", "bob@%s" % DOMAIN, sub="remove")
            self.assertIn("<item-not-found", r)
        finally:
            a1.close()
            a2.close()

    def test_2_bad_requests(self):
        c = SRV.login("carol", PW, "x")
        try:
            two = c.ask("<iq type='set' id='b1'><query xmlns='jabber:iq:roster'><item jid='a@%s'/>"
                      "<item jid='b@%s'/></query></iq>" % (DOMAIN, DOMAIN), "b1")
            self.assertIn("<bad-request", two)
            self.assertIn("<not-acceptable", set_item(c, "b2", "a@%s" % DOMAIN, groups=("",)))
            self.assertIn("<bad-request", set_item(c, "b3", "a@%s" % DOMAIN, groups=("g", "g")))
            self.assertIn("<jid-malformed", set_item(c, "b4", "a@b@c"))
            self.assertIn("<bad-request", set_item(c, "b5", "a@%s/res" % DOMAIN))
            self.assertIn("<bad-request", c.ask("<iq type='set' id='b6'><query "
                                                 "xmlns='jabber:iq:roster'/></iq>", "b6"))
            # someone else's roster is not ours to read
            r = c.ask("<iq type='get' id='b7' to='alice@%s'><query xmlns='jabber:iq:roster'/>"
                    "</iq>" % DOMAIN, "b7")
            self.assertIn("<service-unavailable", r)
            # nothing was stored by any of them
            self.assertNotIn("<item", get_roster(c, "b8"))
        finally:
            c.close()

    def test_2b_text_and_group_limits(self):
        """RFC 6121 2.3.3: a name or a group name over [im] max_roster_text,
        or more groups than [im] max_roster_groups, is not-acceptable (and
        logged); at the limits it is stored."""
        c = SRV.login("hal", PW, "x")
        try:
            m = SRV.log_len()
            ok = set_item(c, "t1", "a@%s" % DOMAIN, name="n" * TEXT_MAX,
                          groups=tuple("g%d" % i for i in range(GROUPS_MAX)))
            self.assertIn("type='result'", ok)
            r = set_item(c, "t2", "b@%s" % DOMAIN, name="n" * (TEXT_MAX + 1))
            self.assertIn("<not-acceptable", r)
            self.assertIsNotNone(SRV.wait_log(r"hal@%s/x: roster item name of %d bytes refused "
                                              r"\(\[im\] max_roster_text = %d\)"
                                              % (re.escape(DOMAIN), TEXT_MAX + 1, TEXT_MAX), 3,
                                              start=m))
            r = set_item(c, "t3", "b@%s" % DOMAIN, groups=("g" * (TEXT_MAX + 1),))
            self.assertIn("<not-acceptable", r)
            r = set_item(c, "t4", "b@%s" % DOMAIN, groups=("G" * TEXT_MAX, "h"))
            self.assertIn("type='result'", r)
            r = set_item(c, "t5", "c@%s" % DOMAIN,
                         groups=tuple("g%d" % i for i in range(GROUPS_MAX + 1)))
            self.assertIn("<not-acceptable", r)
            self.assertIsNotNone(SRV.wait_log(r"hal@%s/x: roster item in more than %d groups "
                                              r"refused" % (re.escape(DOMAIN), GROUPS_MAX), 3,
                                              start=m))
            roster = get_roster(c, "t6")
            self.assertIn("n" * TEXT_MAX, roster)
            self.assertIn("<group>%s</group>" % ("G" * TEXT_MAX), roster)
            self.assertNotIn("c@%s" % DOMAIN, roster)
            self.assertEqual(len(re.findall(r"<item ", roster)), 2, roster[:300])
        finally:
            c.close()

    def test_3_max_roster_items(self):
        c = SRV.login("dave", PW, "x")
        try:
            for i in range(3):
                self.assertIn("type='result'", set_item(c, "m%d" % i, "c%d@%s" % (i, DOMAIN)))
            r = set_item(c, "m3", "c3@%s" % DOMAIN)
            self.assertIn("<policy-violation", r)
            # replacing one that is there is still fine
            self.assertIn("type='result'", set_item(c, "m4", "c1@%s" % DOMAIN, name="One"))
            roster = get_roster(c, "m5")
            self.assertEqual(len(re.findall(r"<item ", roster)), 3, roster)
            self.assertNotIn("c3@", roster)
        finally:
            c.close()
        self.assertIsNotNone(SRV.wait_log(r"roster of dave@%s full \(\[im\] max_roster_items = 3\)"
                                          % re.escape(DOMAIN), 3))

    def test_3b_get_shares_the_login_load(self):
        """At bind the router reads the account's roster for presence; a
        roster get that comes while that read is in flight (here: sent in
        the same write as the bind, so held behind it and handled right
        after) is answered from it, with every item's name and groups,
        instead of a second read of the same rows."""
        c = SRV.login("fay", PW, "setup")
        self.assertIn("type='result'", set_item(c, "s1", "g1@example.org", "Gee", ("Work", "Friends")))
        self.assertIn("type='result'", set_item(c, "s2", "h1@example.org"))
        ver = ver_of(get_roster(c, "s3"))
        c.close()
        wait_gone("fay", "setup")
        joined = None
        # the load must still be in flight when the get comes: nearly
        # always, but the storage thread may win a race, so a few logins
        for attempt in range(6):
            res = "pipe%d" % attempt
            m = SRV.log_len()
            r = authenticated("fay")
            mk = r.mark()
            r.send("<iq type='set' id='b'><bind xmlns='%s'><resource>%s</resource></bind></iq>"
                   "<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>"
                   % (harness.BIND_NS, res))
            r.read_until(re.compile(r"<iq[^>]*id=[\"']g[\"'].*?</iq>", re.S), 5, start=mk)
            got = r.qtext()[mk:]
            g = re.search(r"<iq[^>]*id='g'.*?</iq>", got, re.S)
            self.assertIsNotNone(g, got)
            g = g.group(0)
            self.assertIn("type='result'", g)
            self.assertEqual(ver_of(g), ver, g)
            self.assertRegex(g, r"<item[^>]*jid='g1@example.org'[^>]*>")
            self.assertIn("name='Gee'", g)
            self.assertIn("<group>Work</group>", g)
            self.assertIn("<group>Friends</group>", g)
            self.assertRegex(g, r"<item[^>]*jid='h1@example.org'")
            r.close()
            wait_gone("fay", res)
            joined = SRV.wait_log(r"fay@%s/%s: roster get answered from the login.s roster read"
                                  % (re.escape(DOMAIN), res), 0.5, start=m)
            if joined:
                break
        self.assertIsNotNone(joined, "no get answered from the login's roster load in 6 logins")

    def test_3bb_set_then_get_in_order(self):
        """RFC 6120 10.1: a get after a set in the same stream sees the
        set, also while the login's roster read is in flight (bind, set
        and get in one write) or kept."""
        for n, wait in ((1, False), (2, True)):
            res = "order%d" % n
            r = authenticated("fay")
            mk = r.mark()
            bind = ("<iq type='set' id='b'><bind xmlns='%s'><resource>%s</resource></bind></iq>"
                    % (harness.BIND_NS, res))
            rest = ("<iq type='set' id='s'><query xmlns='jabber:iq:roster'>"
                    "<item jid='o%d@example.org' name='O'/></query></iq>"
                    "<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>" % n)
            if wait:  # the read done and kept before the set comes
                r.send(bind)
                r.read_until("</bind>", 5, start=mk)
                time.sleep(0.2)
                r.send(rest)
            else:
                r.send(bind + rest)
            r.read_until(re.compile(r"<iq[^>]*id=[\"']g[\"'].*?</iq>", re.S), 5, start=mk)
            g = re.search(r"<iq[^>]*id='g'.*?</iq>", r.qtext()[mk:], re.S).group(0)
            self.assertIn("o%d@example.org" % n, g)
            r.send("<iq type='set' id='x'><query xmlns='jabber:iq:roster'><item jid='o%d@example.org' "
                   "subscription='remove'/></query></iq>" % n)
            r.read_until(re.compile(r"id=[\"']x[\"']"), 5, start=mk)
            r.close()
            wait_gone("fay", res)

    def test_3c_first_get_from_the_login_read(self):
        """The login's roster read is kept for the client's first get,
        once: a second get reads the store; a change in between, or
        available presence first, and the get reads the store too; a get
        with the current ver is answered empty from it."""
        c = SRV.login("fay", PW, "setup3c")
        set_item(c, "t1", "g1@example.org", "Gee", ("Work", "Friends"))
        ver = ver_of(get_roster(c, "t2"))
        c.close()
        pat = r"fay@%s/%s: roster get answered from the login.s roster read"
        last = ["setup3c"]

        def login(res):
            wait_gone("fay", last[0])  # the account offline: the next bind reads its roster
            last[0] = res
            m = SRV.log_len()
            return SRV.login("fay", PW, res), m

        def from_read(res, m):
            return SRV.wait_log(pat % (re.escape(DOMAIN), res), 0.5, start=m)

        # the first get after bind, then a second one
        a, m = login("c1")
        time.sleep(0.2)  # the load is done: kept, not joined
        g = get_roster(a, "a1")
        self.assertEqual(ver_of(g), ver, g)
        self.assertIn("name='Gee'", g)
        self.assertIn("<group>Friends</group>", g)
        self.assertIsNotNone(from_read("c1", m), "first get not from the login's read")
        m2 = SRV.log_len()
        g2 = get_roster(a, "a2")
        self.assertEqual(ver_of(g2), ver, g2)
        self.assertIsNone(from_read("c1", m2), "the login's read used twice")
        a.close()

        # a change between bind and get: the get reads the store
        b, m = login("c2")
        time.sleep(0.2)
        self.assertIn("type='result'", set_item(b, "b1", "k1@example.org", "Kay"))
        g = get_roster(b, "b2")
        self.assertIn("k1@example.org", g)
        self.assertNotEqual(ver_of(g), ver, g)
        self.assertIsNone(from_read("c2", m), "a stale login read answered")
        self.assertIn("type='result'", set_item(b, "b3", "k1@example.org", sub="remove"))
        ver = ver_of(get_roster(b, "b4"))
        b.close()

        # available presence first: the read is dropped
        c, m = login("c3")
        time.sleep(0.2)
        c.send("<presence/>")
        time.sleep(0.2)
        g = get_roster(c, "c1")
        self.assertIn("g1@example.org", g)
        self.assertIsNone(from_read("c3", m), "kept past available presence")
        c.close()

        # a get with the current ver: empty, from the login's read
        d, m = login("c4")
        time.sleep(0.2)
        g = get_roster(d, "d1", ver=ver)
        self.assertIn("type='result'", g)
        self.assertNotIn("<item", g)
        self.assertIsNotNone(from_read("c4", m))
        d.close()

    def test_3d_large_roster_not_kept(self):
        """A roster over 128 KiB (an account's names make it as large as
        it likes) is not kept from the login's read: the first get reads
        the store, and gets all of it."""
        c = SRV.login("gus", PW, "setup")
        # 140 KiB in one item, within [im] max_roster_text and max_roster_groups
        big = "N" * TEXT_MAX
        groups = "".join("<group>%d%s</group>" % (i, "G" * 30000) for i in range(GROUPS_MAX))
        c.send("<iq type='set' id='big'><query xmlns='jabber:iq:roster'><item jid='b1@example.org' "
               "name='%s'>%s</item></query></iq>" % (big, groups))
        # stored (read at the input rate: a few seconds) before the account goes offline
        g = c.ask("<iq type='get' id='g0'><query xmlns='jabber:iq:roster'/></iq>", "g0", timeout=15)
        self.assertIn(big, g)
        c.close()
        wait_gone("gus", "setup")
        m = SRV.log_len()
        a = SRV.login("gus", PW, "d1")
        time.sleep(0.2)
        g = a.ask("<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>", "g", timeout=15)
        self.assertIn(big, g)
        self.assertIsNone(SRV.wait_log(r"gus@%s/d1: roster get answered from the login.s roster read"
                                       % re.escape(DOMAIN), 0.5, start=m))
        a.close()

    def test_4_slixmpp_and_restart(self):
        async def add():
            c = make_client("erin@%s/sx" % DOMAIN, PW, SRV.cert)
            await connect_client(c, SRV.port("c2s"))
            try:
                await c.get_roster()
                await c.update_roster("alice@%s" % DOMAIN, name="Alice", groups=["Team"])
                await c.get_roster()
                self.assertIn("alice@%s" % DOMAIN, c.client_roster)
                self.assertEqual(c.client_roster["alice@%s" % DOMAIN]["name"], "Alice")
            finally:
                await disconnect_all(c)
        run(add())
        # kill -9 and start again: the roster is on disk
        SRV.kill()
        SRV.launch()
        c = SRV.login("erin", PW, "after")
        try:
            r = get_roster(c, "r1")
            self.assertIn("jid='alice@%s'" % DOMAIN, r)
            self.assertIn("name='Alice'", r)
            self.assertIn("<group>Team</group>", r)
        finally:
            c.close()


class StorageBudget(unittest.TestCase):
    """[limits] max_storage_requests_per_session: iqs that wait for the
    store are bounded per session; over the bound they are answered
    resource-constraint at once, and every one is answered."""

    def test_pipelined_gets(self):
        srv = Server(XMPPD, XMPPCTL, users={"alice": PW},
                     sections={"limits": {"max_storage_requests_per_session": 1}},
                     name="rosterbudget")
        srv.start()
        try:
            c = RawClient(srv.port("dtls"), tls=True, cafile=srv.cert)
            c.open_stream()
            c.login_plain("alice", PW, resource="p")
            start = len(c.qtext())
            n = 50
            # one write: the router takes them in one batch, before the
            # store has answered the first
            c.send("".join("<iq type='get' id='q%d'><query xmlns='jabber:iq:roster'/></iq>" % i
                           for i in range(n)))
            c.read_until(re.compile(r"id=[\"']q%d[\"']" % (n - 1)), timeout=10, start=start)
            import time
            end = time.monotonic() + 5
            while time.monotonic() < end:
                got = c.qtext()[start:]
                ids = re.findall(r"<iq[^>]*id='q(\d+)'", got)
                if len(ids) >= n:
                    break
                c.read_until("\x00never", timeout=0.1)
            self.assertEqual(sorted(int(i) for i in ids), list(range(n)), got[-600:])
            busy = got.count("<resource-constraint")
            self.assertGreaterEqual(busy, 1, got[-600:])
            self.assertGreaterEqual(got.count("type='result'"), 1)
            self.assertEqual(busy + got.count("type='result'"), n)
            c.close()
            self.assertIsNotNone(srv.wait_log(r"alice@%s/p: 1 storage requests waiting "
                                              r"\(\[limits\] max_storage_requests_per_session\)"
                                              % re.escape(DOMAIN), 3))
            srv.check_clean_exit(self)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
