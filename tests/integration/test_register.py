#!/usr/bin/env python3
"""XEP-0077 in-band registration: the stream feature only where a host has
registration = open and only on an encrypted stream, the form, a new
account that then logs in with SCRAM-SHA-1 and SCRAM-SHA-256 (slixmpp) and
PLAIN, conflict (also two registrations of one name at once),
not-acceptable names and passwords, one registration in flight per
connection, [limits] registrations_per_ip_per_hour (2 here: the third is
refused, with a log line), registration off (no feature, and a pre-auth
iq ends the stream as before), and after authentication: the form says
registered, a password change (the new password logs in, the old one no
longer), someone else's password refused, <remove/> ends the account and
its sessions.  slixmpp's xep_0077 registers one account and changes one
password; raw XML for the rest."""
import asyncio
import os
import re
import sys
import threading
import time
import unittest
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (DOMAIN, SASL_NS, RawClient, Server, connect_client,  # noqa: E402
                     disconnect_all, make_client, plain_b64, stream_error_condition)

XMPPD = XMPPCTL = None
OPEN = LIMIT = OFF = None
PW = "pw-reg"
FEATURE = "<register xmlns='http://jabber.org/features/iq-register'/>"
LISTENERS = {
    "c2s": {"mode": "starttls"},
    "dtls": {"mode": "direct_tls"},
    # plaintext allowed: registration must still not be offered there
    "plain": {"mode": "starttls", "require_encryption": "false"},
}


def setUpModule():
    global OPEN, LIMIT, OFF
    OPEN = Server(XMPPD, XMPPCTL, users={"alice": PW, "dora": PW}, name="reg-open",
                  listeners=LISTENERS,
                  sections={"host localhost": {"registration": "open"},
                            "limits": {"registrations_per_ip_per_hour": 1000}})
    LIMIT = Server(XMPPD, XMPPCTL, name="reg-limit",
                   sections={"host localhost": {"registration": "open"},
                             "limits": {"registrations_per_ip_per_hour": 2}})
    OFF = Server(XMPPD, XMPPCTL, users={"bob": PW, "carol": PW}, name="reg-off")
    for s in (OPEN, LIMIT, OFF):
        s.start()


def tearDownModule():
    for s in (OPEN, LIMIT, OFF):
        if s is None:
            continue
        try:
            s.check_clean_exit(unittest.TestCase())
        finally:
            s.cleanup()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


def tls_stream(srv):
    """A direct-TLS stream, opened: (client, features)."""
    c = RawClient(srv.port("dtls"), tls=True, cafile=srv.cert)
    return c, c.open_stream()


def reg_set(user, pw, iq_id, to=None):
    return ("<iq type='set' id='%s'%s><query xmlns='jabber:iq:register'>"
            "<username>%s</username><password>%s</password></query></iq>"
            % (iq_id, " to='%s'" % to if to else "", escape(user), escape(pw)))


def register(c, user, pw, iq_id="r1"):
    return c.ask(reg_set(user, pw, iq_id), iq_id)


def wait_reply(c, iq_id, timeout=5.0):
    """The reply to iq_id among everything received so far or soon."""
    pat = re.compile(r"<iq[^>]*id='%s'[^>]*(?:/>|>.*?</iq>)" % re.escape(iq_id), re.S)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = pat.search(c.qtext())
        if m:
            return m.group(0)
        c.read_until("\x00never", timeout=0.1)
    raise AssertionError("no reply to %s: %s" % (iq_id, c.qtext()[-500:]))


def plain_ok(srv, user, pw):
    """Whether SASL PLAIN with user and pw succeeds on a new stream."""
    c, _ = tls_stream(srv)
    try:
        m = c.mark()
        c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL_NS, plain_b64(user, pw)))
        got = c.read_until(re.compile("<success|<failure"), 5, start=m)[m:]
        return "<success" in got
    finally:
        c.close()


def scram_login(srv, user, pw, mech):
    """Logs in with slixmpp over STARTTLS with mech; True if a session starts."""
    async def go():
        x = make_client("%s@%s/s" % (user, DOMAIN), pw, srv.cert, mech=mech,
                        no_channel_binding=True)
        try:
            await connect_client(x, srv.port("c2s"), presence=False)
            return True
        except RuntimeError:
            return False
        finally:
            await disconnect_all(x)
    return run(go())


class Register(unittest.TestCase):

    def test_01_feature_and_form(self):
        c, feats = tls_stream(OPEN)
        try:
            self.assertIn(FEATURE, feats)
            r = c.ask("<iq type='get' id='g1'><query xmlns='jabber:iq:register'/></iq>", "g1")
            self.assertIn("type='result'", r)
            self.assertIn("<instructions>", r)
            self.assertIn("<username/>", r)
            self.assertIn("<password/>", r)
            self.assertNotIn("<registered", r)
            # to the server by name is the same
            r = c.ask("<iq type='get' id='g2' to='LocalHost'><query xmlns='jabber:iq:register'/>"
                      "</iq>", "g2")
            self.assertIn("<username/>", r)
            # another server is not this one's to answer for
            r = c.ask("<iq type='get' id='g3' to='example.org'><query "
                      "xmlns='jabber:iq:register'/></iq>", "g3")
            self.assertIn("<service-unavailable", r)
        finally:
            c.close()
        # STARTTLS required: only after TLS
        c = RawClient(OPEN.port("c2s"), cafile=OPEN.cert)
        try:
            feats = c.open_stream()
            self.assertIn("<starttls", feats)
            self.assertNotIn("iq-register", feats)
            c.starttls_negotiate()
            c.start_tls()
            self.assertIn(FEATURE, c.open_stream())
        finally:
            c.close()

    def test_02_plaintext_never(self):
        """A listener that allows plaintext still never offers it without
        TLS, and the iq is what it was before registration existed."""
        c = RawClient(OPEN.port("plain"), cafile=OPEN.cert)
        try:
            feats = c.open_stream()
            self.assertIn("<mechanisms", feats)
            self.assertNotIn("iq-register", feats)
            c.send(reg_set("sneaky", "pw", "p1"))
            c.read_until("</stream:stream>", 5)
            self.assertEqual(stream_error_condition(c.text()), "not-authorized")
        finally:
            c.close()
        self.assertFalse(plain_ok(OPEN, "sneaky", "pw"))

    def test_03_register_then_login(self):
        c, _ = tls_stream(OPEN)
        try:
            r = register(c, "Newbie", "s3cret pw")
            self.assertIn("type='result'", r)
            self.assertNotIn("s3cret", r)
            # the same stream then authenticates as the new account
            got = c.login_plain("newbie", "s3cret pw", resource="first")
            self.assertIn("<jid>newbie@%s/first</jid>" % DOMAIN, got)
        finally:
            c.close()
        self.assertTrue(OPEN.wait_log(r"registered newbie@localhost from 127\.0\.0\.1"))
        self.assertTrue(scram_login(OPEN, "newbie", "s3cret pw", "SCRAM-SHA-256"))
        self.assertTrue(scram_login(OPEN, "newbie", "s3cret pw", "SCRAM-SHA-1"))
        self.assertFalse(plain_ok(OPEN, "newbie", "wrong"))

    def test_04_conflict(self):
        c, _ = tls_stream(OPEN)
        try:
            self.assertIn("<conflict", register(c, "alice", "other", "c1"))
            self.assertIn("<conflict", register(c, "ALICE", "other", "c2"))
        finally:
            c.close()
        self.assertTrue(plain_ok(OPEN, "alice", PW))
        self.assertFalse(plain_ok(OPEN, "alice", "other"))
        # two registrations of one name at once: exactly one wins
        results = {}

        def one(k):
            cl, _ = tls_stream(OPEN)
            try:
                results[k] = register(cl, "twin", "pw-%d" % k, "t%d" % k)
            finally:
                cl.close()
        ts = [threading.Thread(target=one, args=(k,)) for k in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual(sorted("<conflict" in r for r in results.values()), [False, True],
                         results)
        winner = [k for k, r in results.items() if "type='result'" in r]
        self.assertEqual(len(winner), 1, results)
        self.assertTrue(plain_ok(OPEN, "twin", "pw-%d" % winner[0]))
        self.assertFalse(plain_ok(OPEN, "twin", "pw-%d" % (1 - winner[0])))

    def test_05_not_acceptable(self):
        c, _ = tls_stream(OPEN)
        try:
            bad = [("a@b", "pw"), ("a b", "pw"), ("a/b", "pw"), ("", "pw"), ("x" * 1024, "pw"),
                   ("okname", ""), ("okname", "p" * 1024)]
            for i, (u, p) in enumerate(bad):
                r = register(c, u, p, "n%d" % i)
                self.assertIn("<not-acceptable", r, (u[:20], p[:20]))
                self.assertNotIn("<password>", r)  # not echoed
            for i, q in enumerate(["<username>x</username>", "<password>x</password>", ""]):
                r = c.ask("<iq type='set' id='m%d'><query xmlns='jabber:iq:register'>%s"
                          "</query></iq>" % (i, q), "m%d" % i)
                self.assertIn("<not-acceptable", r)
            r = c.ask("<iq type='set' id='d1'><query xmlns='jabber:iq:register'>"
                      "<username>a</username><username>b</username><password>x</password>"
                      "</query></iq>", "d1")
            self.assertIn("<bad-request", r)
            # nothing to cancel before authentication
            r = c.ask("<iq type='set' id='rm'><query xmlns='jabber:iq:register'><remove/>"
                      "</query></iq>", "rm")
            self.assertIn("<not-allowed", r)
            # a password longest allowed is fine; the stream is still usable
            self.assertIn("type='result'", register(c, "longpw", "p" * 1023, "ok"))
        finally:
            c.close()
        self.assertTrue(plain_ok(OPEN, "longpw", "p" * 1023))
        self.assertFalse(plain_ok(OPEN, "okname", ""))

    def test_06_one_in_flight(self):
        """A second set while the first is with the store is refused;
        SASL while one is in flight ends the stream."""
        c, _ = tls_stream(OPEN)
        try:
            c.send(reg_set("first1", "pw", "f1") + reg_set("second1", "pw", "f2"))
            self.assertIn("<resource-constraint", wait_reply(c, "f2"))
            self.assertIn("type='result'", wait_reply(c, "f1"))
        finally:
            c.close()
        self.assertFalse(plain_ok(OPEN, "second1", "pw"))
        c, _ = tls_stream(OPEN)
        try:
            c.send(reg_set("first2", "pw", "f3") +
                   "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL_NS, plain_b64("alice", PW)))
            c.read_until("</stream:stream>", 5)
            self.assertEqual(stream_error_condition(c.text()), "policy-violation")
            self.assertNotIn("<success", c.text())
        finally:
            c.close()

    def test_07_rate_per_address(self):
        start = LIMIT.log_len()
        c, feats = tls_stream(LIMIT)
        try:
            self.assertIn(FEATURE, feats)
            self.assertIn("type='result'", register(c, "rate1", PW, "a"))
            self.assertIn("type='result'", register(c, "rate2", PW, "b"))
            r = register(c, "rate3", PW, "c")
            self.assertIn("<policy-violation", r)
        finally:
            c.close()
        self.assertTrue(LIMIT.wait_log(r"registration from 127\.0\.0\.1 refused: \[limits\] "
                                       r"registrations_per_ip_per_hour \(2\) reached", start=start))
        # a new connection from the address does not start over
        c, _ = tls_stream(LIMIT)
        try:
            self.assertIn("<policy-violation", register(c, "rate4", PW, "d"))
            # a bad name costs nothing and is still told so
            self.assertIn("<not-acceptable", register(c, "a@b", PW, "e"))
        finally:
            c.close()
        self.assertTrue(plain_ok(LIMIT, "rate2", PW))
        self.assertFalse(plain_ok(LIMIT, "rate3", PW))

    def test_08_off(self):
        c, feats = tls_stream(OFF)
        try:
            self.assertNotIn("iq-register", feats)
            c.send("<iq type='get' id='o1'><query xmlns='jabber:iq:register'/></iq>")
            c.read_until("</stream:stream>", 5)
            self.assertEqual(stream_error_condition(c.text()), "not-authorized")
            self.assertNotIn("<username/>", c.text())
        finally:
            c.close()
        c, _ = tls_stream(OFF)
        try:
            c.send(reg_set("intruder", "pw", "o2"))
            c.read_until("</stream:stream>", 5)
            self.assertEqual(stream_error_condition(c.text()), "not-authorized")
        finally:
            c.close()
        self.assertFalse(plain_ok(OFF, "intruder", "pw"))

    def test_09_password_change(self):
        """Works with registration off too: it is the account's own."""
        c = OFF.login("bob", PW, "pc")
        try:
            r = c.ask("<iq type='get' id='q1' to='%s'><query xmlns='jabber:iq:register'/></iq>"
                      % DOMAIN, "q1")
            self.assertIn("<registered/>", r)
            self.assertIn("<username>bob</username>", r)
            r = c.ask(reg_set("bob", "n3w pass", "pc1", to=DOMAIN), "pc1")
            self.assertIn("type='result'", r)
            self.assertIn("from='%s'" % DOMAIN, r)
        finally:
            c.close()
        self.assertTrue(OFF.wait_log(r"password of bob@localhost changed by bob@localhost/pc"))
        self.assertTrue(plain_ok(OFF, "bob", "n3w pass"))
        self.assertFalse(plain_ok(OFF, "bob", PW))
        self.assertTrue(scram_login(OFF, "bob", "n3w pass", "SCRAM-SHA-256"))
        self.assertTrue(scram_login(OFF, "bob", "n3w pass", "SCRAM-SHA-1"))
        self.assertFalse(scram_login(OFF, "bob", PW, "SCRAM-SHA-256"))
        self.assertFalse(scram_login(OFF, "bob", PW, "SCRAM-SHA-1"))

    def test_10_someone_elses_password(self):
        c = OFF.login("carol", PW, "x")
        try:
            r = c.ask(reg_set("bob", "hijack", "h1", to=DOMAIN), "h1")
            self.assertIn("<forbidden", r)
            # to someone else's bare JID: not answered for them either
            r = c.ask(reg_set("bob", "hijack", "h2", to="bob@" + DOMAIN), "h2")
            self.assertIn("type='error'", r)
            self.assertNotIn("type='result'", r)
            # a bad new password
            self.assertIn("<not-acceptable", c.ask(reg_set("carol", "", "h3"), "h3"))
        finally:
            c.close()
        self.assertFalse(plain_ok(OFF, "bob", "hijack"))
        self.assertTrue(plain_ok(OFF, "carol", PW))

    def test_11_slixmpp_registers_and_changes_password(self):
        async def go():
            x = make_client("slixy@%s/r" % DOMAIN, "first pw", OPEN.cert,
                            plugins=("xep_0030", "xep_0077"))

            async def on_register(_form):
                iq = x.Iq()
                iq["type"] = "set"
                iq["register"]["username"] = "slixy"
                iq["register"]["password"] = "first pw"
                await iq.send(timeout=10)
            x.add_event_handler("register", on_register)
            # slixmpp 1.8.3 holds back every stanza but bind and session
            # until a session has started, its own xep_0077 get and set
            # included, so its in-band registration never leaves the
            # client; this lets them through
            x._always_send_everything = True
            await connect_client(x, OPEN.port("c2s"), presence=False)
            try:
                await x["xep_0077"].change_password("second pw", timeout=10)
            finally:
                await disconnect_all(x)
        run(go())
        self.assertTrue(OPEN.wait_log(r"registered slixy@localhost from"))
        self.assertTrue(scram_login(OPEN, "slixy", "second pw", "SCRAM-SHA-256"))
        self.assertFalse(plain_ok(OPEN, "slixy", "first pw"))

    def test_12_remove(self):
        a = OPEN.login("dora", PW, "one")
        b = OPEN.login("dora", PW, "two")
        try:
            r = a.ask("<iq type='set' id='rm1'><query xmlns='jabber:iq:register'><remove/>"
                      "</query></iq>", "rm1")
            self.assertIn("type='result'", r)
            for cl in (a, b):
                cl.read_until("</stream:stream>", 5)
                self.assertEqual(stream_error_condition(cl.text()), "not-authorized")
        finally:
            a.close()
            b.close()
        self.assertTrue(OPEN.wait_log(r"account dora@localhost removed by dora@localhost/one"))
        self.assertFalse(plain_ok(OPEN, "dora", PW))
        # the name is free again
        c, _ = tls_stream(OPEN)
        try:
            self.assertIn("type='result'", register(c, "dora", "again"))
        finally:
            c.close()
        self.assertTrue(plain_ok(OPEN, "dora", "again"))


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
