#!/usr/bin/env python3
"""XEP-0198 stream management against a real xmppd, with raw XML and
slixmpp's xep_0198 plugin: the stream feature, <enable/> (and its
failures), acks counted over messages, presence and iqs, <r/> from the
server, an ack for more than was sent; resumption after the socket is cut
(a TCP reset) on the other mux thread, with messages sent meanwhile: each
arrives exactly once, counted; wrong ids and another account's id fail;
the window expiring, [im] sm_max_unacked and a clean close: unacknowledged
messages come back as offline messages at the next login, exactly once;
and a server stopped with a session waiting to be resumed."""
import asyncio
import os
import re
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, SASL_NS, Server, RawClient, plain_b64  # noqa: E402

XMPPD = XMPPCTL = None
PW = "pw-sm"
USERS = {u: PW for u in ("alice", "bob", "carol", "dave", "erin", "fred", "gina", "hank",
                         "ivan", "sx", "zed")}
SM = "urn:xmpp:sm:3"
WINDOW = 3        # [im] sm_resume_timeout, seconds
MAX_UNACKED = 20  # [im] sm_max_unacked
REQUEST_AFTER = 3  # [im] sm_request_after


harness.module_server(globals(), users=USERS, name="sm",
                 sections={"im": {"sm_resume_timeout": WINDOW, "sm_max_unacked": MAX_UNACKED,
                                  "sm_request_after": REQUEST_AFTER}})


def jid(user, res=None):
    return "%s@%s%s" % (user, DOMAIN, "/" + res if res else "")


def wait_for(c, pattern, start=0, timeout=5.0):
    pat = re.compile(pattern, re.S)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = pat.search(c.qtext()[start:])
        if m:
            return m
        if c.closed:
            break
        c.read_until("\x00never", timeout=0.1)
    return pat.search(c.qtext()[start:])


def msg(to, mid, body="x"):
    return "<message to='%s' id='%s' type='chat'><body>%s</body></message>" % (to, mid, body)


def message_ids(c, start=0):
    return [m.get("id") for m in harness.top_stanzas(c.qtext()[start:]) if m.tag.endswith("message")]


def login(user, res, presence="<presence/>"):
    return SRV.login(user, PW, res, presence)


def authed(user):
    """A RawClient authenticated as user, on the stream after SASL (not bound)."""
    c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
    c.open_stream()
    m = c.mark()
    c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL_NS, plain_b64(user, PW)))
    got = c.read_until(re.compile("<success|<failure"), 10, start=m)[m:]
    assert "<success" in got, got
    c.features = c.open_stream()
    return c


def enable(c, resume=True):
    m = c.mark()
    c.send("<enable xmlns='%s'%s/>" % (SM, " resume='true'" if resume else ""))
    e = wait_for(c, r"<enabled[^>]*/>", m)
    assert e, c.qtext()[m:]
    rid = re.search(r"id='([^']*)'", e.group(0))
    return rid.group(1) if rid else None


def ack_h(c, start=0):
    """The h of the last <a/> received after start."""
    found = re.findall(r"<a xmlns='%s' h='(\d+)'/>" % SM, c.qtext()[start:])
    return int(found[-1]) if found else None


def cut(c):
    """Drops the connection with a TCP reset (SO_LINGER 0), no close_notify."""
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        raw = socket.socket(fileno=c.sock.detach()) if hasattr(c.sock, "detach") else c.sock
        raw.close()
    except OSError:
        c.sock.close()
    c.closed = True


def mux_of_conn(start):
    """('muxN', 'cN.M') of the connection accepted after log offset start."""
    m = SRV.wait_log(r"\[(mux\d+)\] (c\d+\.\d+): accepted from", 5, start)
    return (m.group(1), m.group(2)) if m else (None, None)


def authed_on_other_thread(user, not_mux):
    """authed(user) on a mux thread other than not_mux (connection k goes to
    thread k mod 2: at most one extra try)."""
    for _ in range(3):
        pos = SRV.log_len()
        c = authed(user)
        mux, _conn = mux_of_conn(pos)
        if mux != not_mux:
            return c, mux
        c.close()
    raise AssertionError("no connection on another mux thread")


def resume(c, previd, h):
    m = c.mark()
    c.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (SM, previd, h))
    r = wait_for(c, r"<resumed[^>]*/>|<failed.*?</failed>|<failed[^>]*/>", m)
    assert r, c.qtext()[m:]
    return r.group(0), m


class StreamManagement(unittest.TestCase):

    def test_1_feature_enable_and_acks(self):
        c = authed("alice")
        self.addCleanup(c.close)
        self.assertIn("<sm xmlns='%s'/>" % SM, c.features.replace('"', "'"))
        # before bind: refused
        m = c.mark()
        c.send("<enable xmlns='%s'/>" % SM)
        self.assertTrue(wait_for(c, r"<failed xmlns='%s'><unexpected-request" % SM, m))
        m = c.mark()
        c.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               "<resource>acks</resource></bind></iq>")
        self.assertTrue(wait_for(c, r"<iq[^>]*id='b'", m))
        rid = enable(c)
        self.assertRegex(rid, r"^[0-9a-f]{32}$")  # 128 random bits
        self.assertTrue(wait_for(c, r"<enabled xmlns='%s' id='%s' resume='true' max='%d'/>"
                                 % (SM, rid, WINDOW)))
        # twice: refused
        m = c.mark()
        c.send("<enable xmlns='%s'/>" % SM)
        self.assertTrue(wait_for(c, r"<failed xmlns='%s'><unexpected-request" % SM, m))
        m = c.mark()
        c.send("<r xmlns='%s'/>" % SM)
        self.assertTrue(wait_for(c, r"<a xmlns='%s' h='0'/>" % SM, m))
        # a presence, an iq to the server, a message, an iq that bounces
        c.send("<presence/>")
        c.send("<iq type='get' id='p1' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>" % DOMAIN)
        c.send(msg(jid("zed"), "toz"))
        c.send("<iq type='get' id='p2' to='%s'><nope xmlns='urn:x'/></iq>" % jid("zed", "none"))
        self.assertTrue(wait_for(c, r"<iq(?=[^>]*id='p2')(?=[^>]*type='error')"), c.qtext())
        m = c.mark()
        c.send("<r xmlns='%s'/>" % SM)
        self.assertTrue(wait_for(c, r"<a xmlns='%s' h='4'/>" % SM, m), c.qtext()[m:])

    def test_2_server_asks_and_too_high(self):
        b = login("bob", "r")
        self.addCleanup(b.close)
        enable(b, resume=False)
        a = login("alice", "r2")
        self.addCleanup(a.close)
        m = b.mark()
        for i in range(REQUEST_AFTER):
            a.send(msg(jid("bob", "r"), "ask%d" % i))
        self.assertTrue(wait_for(b, r"<r xmlns='%s'/>" % SM, m), b.qtext()[m:])
        self.assertEqual(message_ids(b, m), ["ask%d" % i for i in range(REQUEST_AFTER)])
        b.send("<a xmlns='%s' h='%d'/>" % (SM, REQUEST_AFTER))
        # acknowledged: a clean close stores nothing
        # an ack for more than was sent ends the stream (XEP-0198 4)
        m = b.mark()
        b.send("<a xmlns='%s' h='%d'/>" % (SM, REQUEST_AFTER + 5))
        e = wait_for(b, r"<stream:error>.*</stream:error>", m)
        self.assertTrue(e, b.qtext()[m:])
        self.assertIn("<undefined-condition", e.group(0))
        self.assertIn("<handled-count-too-high xmlns='%s' h='%d' send-count='%d'/>"
                      % (SM, REQUEST_AFTER + 5, REQUEST_AFTER), e.group(0))
        b.read_until_closed(3)
        time.sleep(0.3)
        b2 = login("bob", "again")
        self.addCleanup(b2.close)
        self.assertIsNone(wait_for(b2, r"<message", timeout=1.0), b2.qtext())

    def test_3_resume_after_cut_on_other_thread(self):
        pos = SRV.log_len()
        b = login("carol", "phone")
        old_mux, old_conn = mux_of_conn(pos)
        rid = enable(b)
        a = login("alice", "sender")
        self.addCleanup(a.close)
        m = b.mark()
        for i in range(1, 4):
            a.send(msg(jid("carol", "phone"), "m%d" % i))
        self.assertTrue(wait_for(b, r"id='m3'", m))
        self.assertEqual(message_ids(b, m), ["m1", "m2", "m3"])
        b.send("<a xmlns='%s' h='1'/>" % SM)  # only m1
        b.send("<message to='%s' id='from-carol' type='chat'><body>hi</body></message>"
               % jid("alice", "sender"))
        self.assertTrue(wait_for(a, r"id='from-carol'"))
        time.sleep(0.2)
        pos = SRV.log_len()
        cut(b)
        self.assertTrue(SRV.wait_log(r"%s: carol@%s/phone waits %ds for resumption"
                                     % (re.escape(old_conn), DOMAIN, WINDOW), 5, pos))
        for i in range(4, 9):
            a.send(msg(jid("carol", "phone"), "m%d" % i))
        time.sleep(0.3)
        n, new_mux = authed_on_other_thread("carol", old_mux)
        self.addCleanup(n.close)
        self.assertNotEqual(new_mux, old_mux)
        got, m = resume(n, rid, 1)
        # the server handled carol's message (her presence came before <enable/>)
        self.assertEqual(got, "<resumed xmlns='%s' previd='%s' h='1'/>" % (SM, rid))
        self.assertTrue(wait_for(n, r"id='m8'", m), n.qtext()[m:])
        time.sleep(0.5)
        ids = message_ids(n, m)
        self.assertEqual(ids, ["m%d" % i for i in range(2, 9)], ids)  # each once, in order
        # the session goes on: counters continue (7 resent and new)
        m = n.mark()
        n.send("<r xmlns='%s'/>" % SM)
        self.assertTrue(wait_for(n, r"<a xmlns='%s' h='1'/>" % SM, m))
        n.send("<a xmlns='%s' h='8'/>" % SM)
        a.send(msg(jid("carol", "phone"), "m9"))
        self.assertTrue(wait_for(n, r"id='m9'", m))
        n.send("<a xmlns='%s' h='9'/>" % SM)
        # the old id is still the session's: the old connection is gone
        self.assertTrue(SRV.wait_log(r"carol@%s/phone handed over to %s" % (DOMAIN, new_mux), 3))
        n.send("</stream:stream>")
        n.read_until_closed(3)
        time.sleep(0.3)
        # nothing was stored offline: all acknowledged
        c2 = login("carol", "later")
        self.addCleanup(c2.close)
        self.assertIsNone(wait_for(c2, r"<message", timeout=1.0), c2.qtext())

    def test_4_wrong_id_and_other_account(self):
        d = login("dave", "d")
        rid = enable(d)
        cut(d)
        self.assertTrue(SRV.wait_log(r"dave@%s/d waits" % DOMAIN, 5))
        # an unknown id
        x = authed("dave")
        self.addCleanup(x.close)
        got, _ = resume(x, "0123456789abcdef0123456789abcdef", 0)
        self.assertIn("<item-not-found", got)
        # the client may bind after that
        m = x.mark()
        x.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               "<resource>fresh</resource></bind></iq>")
        self.assertTrue(wait_for(x, r"<jid>dave@%s/fresh</jid>" % DOMAIN, m))
        # another account with dave's id: refused like an unknown id
        e = authed("erin")
        self.addCleanup(e.close)
        got, _ = resume(e, rid, 0)
        self.assertIn("<item-not-found", got)
        # malformed
        e2 = authed("erin")
        self.addCleanup(e2.close)
        got, _ = resume(e2, "../../etc", 0)
        self.assertIn("<item-not-found", got)
        # dave's own id still resumes
        y = authed("dave")
        self.addCleanup(y.close)
        got, _ = resume(y, rid, 0)
        self.assertTrue(got.startswith("<resumed"), got)
        # one <resume/> per stream
        got, _ = resume(y, rid, 0)
        self.assertIn("<unexpected-request", got)
        y.send("</stream:stream>")

    def test_5_window_expires_to_offline(self):
        f = login("fred", "f")
        em = f.mark()
        enable(f)
        a = login("alice", "s5")
        self.addCleanup(a.close)
        watcher = login("fred", "watch", "<presence><priority>-1</priority></presence>")
        self.addCleanup(watcher.close)
        m = f.mark()
        for i in range(4):
            a.send(msg(jid("fred", "f"), "w%d" % i))
        self.assertTrue(wait_for(f, r"id='w3'", m))
        # h counts every stanza since <enable/> (the watcher's presence too)
        t = f.qtext()[em:]
        t = t[t.index("<enabled"):]
        after = [x.get("id") for x in harness.top_stanzas(t)]
        f.send("<a xmlns='%s' h='%d'/>" % (SM, after.index("w0") + 1))  # up to w0
        time.sleep(0.2)
        pos = SRV.log_len()
        wm = watcher.mark()
        cut(f)
        self.assertTrue(SRV.wait_log(r"fred@%s/f waits" % DOMAIN, 5, pos))
        a.send(msg(jid("fred", "f"), "w4"))  # queued while detached
        # presence stays while it is detached ...
        self.assertIsNone(wait_for(watcher, r"<presence(?=[^>]*from='fred@%s/f')(?=[^>]*unavailable)"
                                   % DOMAIN, wm, timeout=1.0))
        self.assertTrue(SRV.wait_log(r"detached session fred@%s/f ended: resumption window "
                                     r"expired" % DOMAIN, WINDOW + 5, pos))
        # ... and ends with it
        self.assertTrue(wait_for(watcher, r"<presence(?=[^>]*from='fred@%s/f')(?=[^>]*unavailable)"
                                 % DOMAIN, wm, timeout=3.0), watcher.qtext()[wm:])
        time.sleep(0.3)
        g = login("fred", "back")
        self.addCleanup(g.close)
        self.assertTrue(wait_for(g, r"id='w4'", timeout=5))
        time.sleep(0.5)
        ids = message_ids(g)
        self.assertEqual(ids, ["w1", "w2", "w3", "w4"], ids)
        self.assertTrue(all("urn:xmpp:delay" in x for x in
                            re.findall(r"<message.*?</message>", g.qtext(), re.S)))
        # and never again
        g.close()
        time.sleep(0.3)
        g2 = login("fred", "again")
        self.addCleanup(g2.close)
        self.assertIsNone(wait_for(g2, r"<message", timeout=1.0), g2.qtext())

    def test_6_max_unacked(self):
        e = login("gina", "g")
        enable(e, resume=False)
        a = login("alice", "s6")
        self.addCleanup(a.close)
        for i in range(MAX_UNACKED + 1):
            a.send(msg(jid("gina", "g"), "u%d" % i))
        err = wait_for(e, r"<stream:error>.*</stream:error>", timeout=5)
        self.assertTrue(err, e.qtext()[-500:])
        self.assertIn("<policy-violation", err.group(0))
        self.assertEqual(message_ids(e), ["u%d" % i for i in range(MAX_UNACKED)])
        e.read_until_closed(3)
        self.assertTrue(SRV.wait_log(r"\[im\] sm_max_unacked = %d" % MAX_UNACKED, 3))
        time.sleep(0.5)
        g = login("gina", "back")
        self.addCleanup(g.close)
        self.assertTrue(wait_for(g, r"id='u%d'" % MAX_UNACKED, timeout=5), g.qtext()[-300:])
        time.sleep(0.5)
        ids = message_ids(g)
        self.assertEqual(ids, ["u%d" % i for i in range(MAX_UNACKED + 1)], ids)

    def test_7_clean_close_ends_session(self):
        h = login("hank", "h")
        rid = enable(h)
        a = login("alice", "s7")
        self.addCleanup(a.close)
        m = h.mark()
        a.send(msg(jid("hank", "h"), "c1"))
        a.send(msg(jid("hank", "h"), "c2"))
        self.assertTrue(wait_for(h, r"id='c2'", m))
        pos = SRV.log_len()
        h.send("<a xmlns='%s' h='1'/></stream:stream>" % SM)
        h.read_until_closed(3)
        self.assertTrue(SRV.wait_log(r"closed \(closed after final flush\) session hank@", 3, pos)
                        or SRV.wait_log(r"closed \([^)]*\) session hank@%s/h$" % DOMAIN, 3, pos))
        self.assertNotIn("hank@%s/h waits" % DOMAIN, SRV.log()[pos:])
        x = authed("hank")
        self.addCleanup(x.close)
        got, _ = resume(x, rid, 1)
        self.assertIn("<item-not-found", got)
        g = login("hank", "back")
        self.addCleanup(g.close)
        self.assertTrue(wait_for(g, r"id='c2'", timeout=5))
        time.sleep(0.5)
        self.assertEqual(message_ids(g), ["c2"])

    def test_8_slixmpp_resumes(self):
        """slixmpp's xep_0198 enables resumption; after its connection is
        cut it reconnects and resumes, and gets what was sent meanwhile
        exactly once."""
        async def go():
            x = harness.make_client(jid("sx", "slix"), PW, SRV.cert)
            x.register_plugin("xep_0198")
            got = []
            x.add_event_handler("message", lambda s: got.append(s["id"]))
            resumed = asyncio.get_event_loop().create_future()
            x.add_event_handler("session_resumed",
                                lambda s: resumed.done() or resumed.set_result(True))
            enabled = asyncio.get_event_loop().create_future()
            x.add_event_handler("sm_enabled", lambda s: enabled.done() or enabled.set_result(s))
            await harness.connect_client(x, SRV.port("dtls"), direct_tls=True)
            await asyncio.wait_for(enabled, 5)
            a = login("alice", "s8")
            self.addCleanup(a.close)
            a.send(msg(jid("sx", "slix"), "s1"))
            for _ in range(50):
                if "s1" in got:
                    break
                await asyncio.sleep(0.1)
            self.assertEqual(got, ["s1"])
            pos = SRV.log_len()
            sock = x.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            x.transport.abort()
            for _ in range(50):
                if SRV.wait_log(r"sx@%s/slix waits" % DOMAIN, 0.01, pos):
                    break
                await asyncio.sleep(0.1)
            for i in range(2, 6):
                a.send(msg(jid("sx", "slix"), "s%d" % i))
            await asyncio.sleep(0.3)
            x.connect((DOMAIN, SRV.port("dtls")), use_ssl=True, force_starttls=False)
            await asyncio.wait_for(resumed, 10)
            for _ in range(50):
                if "s5" in got:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            self.assertEqual(got, ["s1", "s2", "s3", "s4", "s5"])
            await harness.disconnect_all(x)
        asyncio.run(asyncio.wait_for(go(), 60))

    def test_9_detached_at_shutdown(self):
        """Left waiting for the tear-down: the server stops with a detached
        session holding an unacknowledged message (no leak, no error)."""
        i = login("ivan", "i")
        enable(i)
        a = login("alice", "s9")
        self.addCleanup(a.close)
        a.send(msg(jid("ivan", "i"), "left"))
        self.assertTrue(wait_for(i, r"id='left'"))
        pos = SRV.log_len()
        cut(i)
        self.assertTrue(SRV.wait_log(r"ivan@%s/i waits" % DOMAIN, 5, pos))


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
