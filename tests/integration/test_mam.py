#!/usr/bin/env python3
"""XEP-0313 message archive management against a real xmppd: the features
and the form; 120 messages exchanged, then paged through 50 at a time
(XEP-0059: first/last, complete at the end, the newest page with an empty
<before/>), filtered by 'with', 'start'/'end' and the #extended
'after-id'/'before-id'; the XEP-0359 stanza-id a recipient sees is the id
its archive gives the message, and a forged one in the server's name is
removed; a message for an offline account is in its archive with the same
id it is delivered with later; <no-store/> is honoured; an unknown anchor
is item-not-found; [im] max_archive_page caps a page; the archive
survives kill -9; slixmpp's xep_0313 pages through it.  XEP-0441
preferences: default never with one contact always archives only that
contact's messages (all delivered), get returns what was set, bad sets and
[im] max_archive_prefs_jids are refused.  Retention: a server started with
[im] archive_expires_after = 1 over a store holding older messages (written
with sqlite3 while it is stopped) deletes them shortly after it starts."""
import asyncio
import os
import re
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, Server, connect_client, disconnect_all, jid, make_client, top_stanzas, wait_stanzas as got  # noqa: E402

XMPPD = XMPPCTL = None
PW = "pw-mam"
MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
SID = "urn:xmpp:sid:0"
FWD = "urn:xmpp:forward:0"
CLIENT = "jabber:client"
USERS = {u: PW for u in ("alice", "bob", "carol", "dave", "erin", "sx", "sy",
                         "pa", "pb", "pc", "pd")}
MAX_PREFS_JIDS = 4
IDS = iter(range(1, 1 << 30))


harness.module_server(globals(), users=USERS,
                      sections={"im": {"max_archive_page": 60,
                                       "max_archive_prefs_jids": MAX_PREFS_JIDS}},
                      name="mam")




def body(m):
    b = m.find("{%s}body" % CLIENT)
    return None if b is None else b.text


def field(var, value):
    return "<field var='%s'><value>%s</value></field>" % (var, value)


class Archive(unittest.TestCase):

    def online(self, user, res="r"):
        c = SRV.login(user, PW, res)
        self.addCleanup(c.close)
        m = c.mark()
        c.send("<presence/>")
        c.read_until("<presence", start=m)
        return c

    def query(self, c, fields=(), rsm="", expect="result"):
        """Runs one query; returns (results as (id, forwarded message,
        stamp), the <fin/> element)."""
        n = next(IDS)
        qid, iq_id = "q%d" % n, "mq%d" % n
        form = ""
        if fields:
            form = ("<x xmlns='jabber:x:data' type='submit'>%s%s</x>"
                    % (field("FORM_TYPE", MAM), "".join(field(k, v) for k, v in fields)))
        start = c.mark()
        r = c.ask("<iq type='set' id='%s'><query xmlns='%s' queryid='%s'>%s%s</query></iq>"
                  % (iq_id, MAM, qid, form, rsm), iq_id, timeout=10)
        self.assertIn("type='%s'" % expect, r)
        if expect != "result":
            return r, None
        res = []
        for el in top_stanzas(c.qtext()[start:]):
            rr = el.find("{%s}result" % MAM)
            if el.tag != "{%s}message" % CLIENT or rr is None:
                continue
            self.assertEqual(rr.get("queryid"), qid)
            self.assertEqual(el.get("from"), c.bare)
            fw = rr.find("{%s}forwarded" % FWD)
            delay = fw.find("{urn:xmpp:delay}delay")
            self.assertIsNotNone(delay)
            res.append((rr.get("id"), fw.find("{%s}message" % CLIENT), delay.get("stamp")))
        fin = top_stanzas(r)[0].find("{%s}fin" % MAM)
        self.assertIsNotNone(fin, r)
        return res, fin

    def test_features_and_form(self):
        c = self.online("erin")
        r = c.ask("<iq type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", "d")
        for f in (MAM, MAM + "#extended", SID):
            self.assertIn("var='%s'" % f, r)
        r = c.ask("<iq type='get' id='f'><query xmlns='%s'/></iq>" % MAM, "f")
        for var in ("FORM_TYPE", "with", "start", "end", "before-id", "after-id"):
            self.assertIn("var='%s'" % var, r)
        r = c.ask("<iq type='get' id='p'><prefs xmlns='%s'/></iq>" % MAM, "p")
        self.assertIn("default='always'", r)

    def test_paging_filters_and_ids(self):
        a = self.online("alice")
        b = self.online("bob")
        a.bare, b.bare = jid("alice"), jid("bob")
        mb = b.mark()
        # alice's 60, then (once bob has them) bob's 60: two clients on two
        # threads have no order between them otherwise
        for i in range(120):
            if i == 60:
                got(b, mb, lambda el: body(el) == "m059")
            src, dst = (a, b) if i < 60 else (b, a)
            src.send("<message to='%s' type='chat'><body>m%03d</body></message>" % (dst.bare, i))
        # what alice received carries the id of alice's archive, by alice
        recv = got(a, 0, lambda el: el.tag == "{%s}message" % CLIENT and body(el) == "m118")
        self.assertTrue(recv)
        sid = recv[0].find("{%s}stanza-id" % SID)
        self.assertIsNotNone(sid)
        self.assertEqual(sid.get("by"), a.bare)
        got(a, 0, lambda el: body(el) == "m119")
        time.sleep(0.5)

        bodies, ids, last = [], [], None
        for page in range(3):
            rsm = "<set xmlns='%s'><max>50</max>%s</set>" % (RSM, "<after>%s</after>" % last if last else "")
            res, fin = self.query(a, rsm=rsm)
            bodies += [body(m) for _, m, _ in res]
            ids += [i for i, _, _ in res]
            last = res[-1][0] if res else last
            self.assertEqual(fin.get("complete"), "true" if page == 2 else None, "page %d" % page)
            s = fin.find("{%s}set" % RSM)
            self.assertEqual(s.find("{%s}first" % RSM).text, res[0][0])
            self.assertEqual(s.find("{%s}last" % RSM).text, res[-1][0])
        self.assertEqual(bodies, ["m%03d" % i for i in range(120)], "every message once, in order")
        self.assertEqual(len(set(ids)), 120)
        # alice's archived m118 has the id alice saw, and bob's archive
        # holds the same conversation under ids of its own
        self.assertEqual(dict(zip(bodies, ids))["m118"], sid.get("id"))
        res, _ = self.query(b, rsm="<set xmlns='%s'><max>5</max><before/></set>" % RSM)
        self.assertEqual([body(m) for _, m, _ in res], ["m%03d" % i for i in range(115, 120)])

        # the newest page, then the one before it
        res, fin = self.query(a, rsm="<set xmlns='%s'><max>50</max><before/></set>" % RSM)
        self.assertEqual([body(m) for _, m, _ in res], ["m%03d" % i for i in range(70, 120)])
        res2, _ = self.query(a, rsm="<set xmlns='%s'><max>50</max><before>%s</before></set>"
                             % (RSM, res[0][0]))
        self.assertEqual([body(m) for _, m, _ in res2], ["m%03d" % i for i in range(20, 70)])
        # #extended: after-id / before-id as form fields
        res3, _ = self.query(a, fields=[("after-id", ids[9]), ("before-id", ids[14])])
        self.assertEqual([body(m) for _, m, _ in res3], ["m%03d" % i for i in range(10, 14)])
        # start/end from the stamps the archive gave
        stamps = {body(m): st for _, m, st in res + res2}
        res4, _ = self.query(a, fields=[("start", stamps["m100"]), ("end", stamps["m104"])])
        got_b = [body(m) for _, m, _ in res4]
        self.assertTrue(set(["m100", "m104"]) <= set(got_b) and all("m099" < x < "m105" for x in got_b),
                        got_b)
        # an unknown anchor
        r, _ = self.query(a, rsm="<set xmlns='%s'><after>nosuchid</after></set>" % RSM,
                          expect="error")
        self.assertIn("item-not-found", r)
        # [im] max_archive_page = 60 caps a page
        res5, _ = self.query(a, rsm="<set xmlns='%s'><max>1000</max></set>" % RSM)
        self.assertEqual(len(res5), 60)
        # bad form values
        r, _ = self.query(a, fields=[("start", "yesterday")], expect="error")
        self.assertIn("bad-request", r)

    def test_with_offline_spoof_and_no_store(self):
        c = self.online("carol")
        e = self.online("erin", "w")
        c.bare, e.bare = jid("carol"), jid("erin")
        # to dave, offline: archived for dave with the id it will carry
        c.send("<message to='%s' type='chat'><body>while-away</body></message>" % jid("dave"))
        # a forged stanza-id in erin's name is removed
        c.send("<message to='%s' type='chat'><body>forged</body><stanza-id xmlns='%s' by='%s' id='fake'/></message>"
               % (e.bare, SID, e.bare))
        # no-store: delivered, not archived
        c.send("<message to='%s' type='chat'><body>secret</body><no-store xmlns='urn:xmpp:hints'/></message>" % e.bare)
        c.send("<message to='%s' type='chat'><body>to-erin</body></message>" % e.bare)
        f = got(e, 0, lambda el: body(el) == "forged")
        self.assertTrue(f)
        sids = f[0].findall("{%s}stanza-id" % SID)
        self.assertEqual(len(sids), 1)
        self.assertNotEqual(sids[0].get("id"), "fake")
        got(e, 0, lambda el: body(el) == "to-erin")
        time.sleep(0.5)
        res, _ = self.query(c, fields=[("with", jid("erin"))])
        self.assertEqual([body(m) for _, m, _ in res], ["forged", "to-erin"])
        res, _ = self.query(c, fields=[("with", jid("dave"))])
        self.assertEqual([body(m) for _, m, _ in res], ["while-away"])
        d = self.online("dave")
        d.bare = jid("dave")
        m = got(d, 0, lambda el: body(el) == "while-away")
        self.assertTrue(m, "the offline message")
        res, _ = self.query(d)
        self.assertEqual([body(x) for _, x, _ in res], ["while-away"])
        self.assertEqual(m[0].find("{%s}stanza-id" % SID).get("id"), res[0][0])

    def test_survives_kill(self):
        a = self.online("sy")
        a.bare = jid("sy")
        a.send("<message to='%s' type='chat'><body>durable</body></message>" % jid("carol"))
        time.sleep(0.5)
        a.close()
        SRV.kill()
        SRV.launch()
        a = self.online("sy", "again")
        a.bare = jid("sy")
        res, _ = self.query(a)
        self.assertIn("durable", [body(m) for _, m, _ in res])

    def test_backlog_limit(self):
        """[im] max_archive_backlog = 2: a burst of 20 messages in one write
        is delivered in full while the store works through the first
        writes; the archive keeps what fit, and the log says why the rest
        is missing."""
        srv = Server(XMPPD, XMPPCTL, users={"p": PW, "q": PW},
                     sections={"im": {"max_archive_backlog": 2}}, name="mambacklog")
        try:
            srv.start()
            p = srv.login("p", PW, "r", "<presence/>")
            q = srv.login("q", PW, "r", "<presence/>")
            p.bare = jid("p")
            time.sleep(0.3)
            p.send("".join("<message to='%s' type='chat'><body>b%02d</body></message>"
                           % (jid("q"), i) for i in range(20)))
            rx = got(q, 0, lambda el: el.tag == "{%s}message" % CLIENT, want=20)
            self.assertEqual(sorted(body(m) for m in rx), ["b%02d" % i for i in range(20)])
            self.assertIsNotNone(srv.wait_log(r"not archived .*max_archive_backlog", 5))
            time.sleep(0.3)
            res, fin = self.query(p, rsm="<set xmlns='%s'><max>100</max></set>" % RSM)
            self.assertTrue(0 < len(res) < 20, len(res))
            for c in (p, q):
                c.close()
            srv.check_clean_exit(self)
        finally:
            srv.cleanup()

    def prefs_of(self, r):
        """(default, always JIDs, never JIDs) of the <prefs/> in iq r."""
        p = top_stanzas(r)[0].find("{%s}prefs" % MAM)
        self.assertIsNotNone(p, r)
        lst = lambda name: [j.text for j in p.findall("{%s}%s/{%s}jid" % (MAM, name, MAM))]
        return p.get("default"), lst("always"), lst("never")

    def test_prefs(self):
        """XEP-0441: default never, pb always: of pb's and pc's messages to
        pa only pb's are in pa's archive, both are delivered, and the
        senders' own archives (no preferences) keep theirs."""
        a, b, c = self.online("pa"), self.online("pb"), self.online("pc")
        for x, u in ((a, "pa"), (b, "pb"), (c, "pc")):
            x.bare = jid(u)
        r = a.ask("<iq type='get' id='pg0'><prefs xmlns='%s'/></iq>" % MAM, "pg0")
        self.assertEqual(self.prefs_of(r), ("always", [], []))
        # set: the answer is what is stored (normalised, bare, once each)
        r = a.ask("<iq type='set' id='ps1'><prefs xmlns='%s' default='never'>"
                  "<always><jid>PB@%s/res</jid><jid>%s</jid></always>"
                  "<never><jid>%s</jid></never></prefs></iq>"
                  % (MAM, DOMAIN, jid("pb"), jid("pd")), "ps1")
        self.assertIn("type='result'", r)
        self.assertEqual(self.prefs_of(r), ("never", [jid("pb")], [jid("pd")]))
        r = a.ask("<iq type='get' id='pg1'><prefs xmlns='%s'/></iq>" % MAM, "pg1")
        self.assertEqual(self.prefs_of(r), ("never", [jid("pb")], [jid("pd")]))

        mb, mc = b.mark(), c.mark()
        b.send("<message to='%s' type='chat'><body>from-pb</body></message>" % a.bare)
        c.send("<message to='%s' type='chat'><body>from-pc</body></message>" % a.bare)
        a.send("<message to='%s' type='chat'><body>to-pb</body></message>" % b.bare)
        a.send("<message to='%s' type='chat'><body>to-pc</body></message>" % c.bare)
        rx = got(a, 0, lambda el: body(el) in ("from-pb", "from-pc"), want=2)
        self.assertEqual(sorted(body(m) for m in rx), ["from-pb", "from-pc"], "both delivered")
        self.assertTrue(got(b, mb, lambda el: body(el) == "to-pb"))
        self.assertTrue(got(c, mc, lambda el: body(el) == "to-pc"))
        time.sleep(0.5)
        res, _ = self.query(a)
        self.assertEqual(sorted(body(m) for _, m, _ in res), ["from-pb", "to-pb"])
        res, _ = self.query(c)
        self.assertEqual(sorted(body(m) for _, m, _ in res), ["from-pc", "to-pc"])
        # refused by the preferences: a debug line, nothing louder
        self.assertIsNotNone(SRV.wait_log(r"not archived for pa@[^:]*: archive preferences", 2))
        self.assertIsNone(SRV.wait_log(r"not archived for pa@[^:]*: (?!archive preferences)", 0))

        # refused sets leave the stored preferences alone
        for i, payload, cond in (
                (2, "<prefs xmlns='%s' default='sometimes'/>" % MAM, "bad-request"),
                (3, "<prefs xmlns='%s'/>" % MAM, "bad-request"),
                (4, "<prefs xmlns='%s' default='always'><always><jid>%s</jid></always>"
                    "<never><jid>%s</jid></never></prefs>" % (MAM, jid("pc"), jid("pc")),
                 "bad-request"),
                (5, "<prefs xmlns='%s' default='always'><never><jid>@bad@</jid></never></prefs>"
                    % MAM, "jid-malformed"),
                (6, "<prefs xmlns='%s' default='roster'><never>%s</never></prefs>"
                    % (MAM, "".join("<jid>u%d@%s</jid>" % (k, DOMAIN)
                                    for k in range(MAX_PREFS_JIDS + 1))),
                 "policy-violation")):
            r = a.ask("<iq type='set' id='ps%d'>%s</iq>" % (i, payload), "ps%d" % i)
            self.assertIn("type='error'", r)
            self.assertIn(cond, r)
        r = a.ask("<iq type='get' id='pg2'><prefs xmlns='%s'/></iq>" % MAM, "pg2")
        self.assertEqual(self.prefs_of(r), ("never", [jid("pb")], [jid("pd")]))
        # someone else's preferences are not theirs to read
        r = b.ask("<iq type='get' to='%s' id='pg3'><prefs xmlns='%s'/></iq>" % (a.bare, MAM), "pg3")
        self.assertIn("type='error'", r)
        # back to the defaults: everything archived again
        r = a.ask("<iq type='set' id='ps7'><prefs xmlns='%s' default='always'/></iq>" % MAM, "ps7")
        self.assertEqual(self.prefs_of(r), ("always", [], []))
        c.send("<message to='%s' type='chat'><body>from-pc-2</body></message>" % a.bare)
        got(a, 0, lambda el: body(el) == "from-pc-2")
        time.sleep(0.5)
        res, _ = self.query(a, fields=[("with", jid("pc"))])
        self.assertEqual([body(m) for _, m, _ in res], ["from-pc-2"])

    def test_retention(self):
        """[im] archive_expires_after = 1: messages archived more than a
        day ago (written into the stopped server's store) are gone shortly
        after it starts, a batch at a time; newer ones stay."""
        srv = Server(XMPPD, XMPPCTL, users={"ra": PW, "rb": PW},
                     sections={"im": {"archive_expires_after": 1}}, name="mamexpire")
        try:
            # start() without the launch: the store, certificate, accounts
            srv._ctl(["init"])
            srv._ctl(["cert", "generate", DOMAIN])
            srv.add_users(srv.users)
            now_us = int(time.time() * 1e6)
            day = 86400 * 10 ** 6
            old = 600  # more than two expiry batches (STORE_MAM_EXPIRE_BATCH 250)
            rows = [(DOMAIN, "ra", jid("rb"), now_us - 3 * day + i, "old%04d" % i,
                     ("<message xmlns='jabber:client' to='%s' from='%s/r' type='chat'>"
                      "<body>old %d</body></message>" % (jid("ra"), jid("rb"), i)).encode())
                    for i in range(old)]
            rows.append((DOMAIN, "ra", jid("rb"), now_us - day + 3600 * 10 ** 6, "recent",
                         ("<message xmlns='jabber:client' to='%s' from='%s/r' type='chat'>"
                          "<body>recent</body></message>" % (jid("ra"), jid("rb"))).encode()))
            db = sqlite3.connect(os.path.join(srv.dir, "data", "xmppd.sqlite"))
            with db:
                db.executemany("INSERT INTO archive (domain, localpart, with_jid, stamp,"
                               " stanza_id, xml) VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.close()
            srv.launch(append=False)
            m = srv.wait_log(r"archive retention: (\d+) messages expired \(\[im\] archive_expires_after = 1\)", 10)
            self.assertIsNotNone(m, srv.log()[-3000:])
            self.assertEqual(int(m.group(1)), old)
            a = srv.login("ra", PW, "r", "<presence/>")
            a.bare = jid("ra")
            res, fin = self.query(a, rsm="<set xmlns='%s'><max>100</max></set>" % RSM)
            self.assertEqual([(i, body(x)) for i, x, _ in res], [("recent", "recent")])
            self.assertEqual(fin.get("complete"), "true")
            a.close()
            srv.check_clean_exit(self)
        finally:
            srv.cleanup()

    def test_slixmpp(self):
        async def go():
            x = make_client(jid("sx", "slix"), PW, SRV.cert)
            x.register_plugin("xep_0313")
            y = self.online("carol", "sl")
            try:
                await connect_client(x, SRV.port("c2s"))
                for i in range(7):
                    y.send("<message to='%s' type='chat'><body>s%d</body></message>" % (jid("sx"), i))
                await asyncio.sleep(0.8)
                seen = []
                async for page in x.plugin["xep_0313"].retrieve(rsm={"max": 3}, iterator=True):
                    for msg in page["mam"]["results"]:
                        seen.append(msg["mam_result"]["forwarded"]["stanza"]["body"])
                self.assertEqual(seen, ["s%d" % i for i in range(7)])
            finally:
                await disconnect_all(x)
        asyncio.run(asyncio.wait_for(go(), 60))


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
