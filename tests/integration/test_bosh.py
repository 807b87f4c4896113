#!/usr/bin/python3
"""BOSH (XEP-0124, XEP-0206) on the HTTP gateway (issue 13, step 4 of
docs/internals/gateway.md), with a raw BOSH client (bosh_client.py) and
socket clients on the other end:

- a session is created (sid, wait, hold, requests, inactivity, polling,
  ver, authid, xmpp:version, the features in the answer; no PLAIN
  without TLS), logs in with SCRAM, restarts with xmpp:restart, binds,
  and exchanges messages with a socket client both ways; a message for it
  answers the held request;
- hold = 1: a second request sends the first one back; a held request is
  answered empty at `wait`;
- a repeated rid gets the same answer again (a lost response resent);
- a request ahead of its turn waits for the gap, and the two are handled
  in rid order;
- a rid outside the window ends the session with item-not-found, as does
  an unknown sid;
- terminate ends the session; a session with no request for
  bosh_inactivity ends, and a contact that had its directed presence
  sees it go unavailable;
- over https: PLAIN, and secure='true';
- CORS: the preflight for an allowed origin, 403 for another; GET 405,
  a body that is not a <body/> 400; the server keeps serving;
- /metrics counts BOSH sessions.

Run: /usr/bin/python3 test_bosh.py --xmppd PATH --xmppctl PATH
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from bosh_client import HttpConn, Session, body, children, parse, text_of  # noqa: E402
from harness import BIND_NS, DOMAIN, SASL_NS, Server, plain_b64  # noqa: E402
from scram_client import ScramSha1  # noqa: E402

XMPPD = XMPPCTL = None
SRV = None
INACTIVITY = 5
ORIGIN = "http://app.example"
BODY_NS = "{http://jabber.org/protocol/httpbind}"


def setUpModule():
    global SRV
    SRV = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice", "bob": "pw-bob",
                                        "carol": "pw-carol", "dave": "pw-dave"},
                 name="bosh",
                 sections={"http": {"bosh_inactivity": INACTIVITY, "bosh_max_wait": 30,
                                    "origins": ORIGIN}},
                 listeners={"dtls": {"mode": "direct_tls"},
                            "web": {"type": "http", "metrics": "true"},
                            "webs": {"type": "https"}})
    SRV.start()


def tearDownModule():
    # a clean exit: code 0, no error or sanitizer lines (leaks included)
    try:
        SRV.check_clean_exit(unittest.TestCase())
    finally:
        SRV.cleanup()


def login(test, user, password, tls=False, resource="bosh", wait=10):
    """A bound session: SCRAM over http, PLAIN over https."""
    s = Session(SRV.port("webs" if tls else "web"), tls=tls, cafile=SRV.cafile, wait=wait)
    root = s.create()
    test.assertTrue(s.sid, s.created_text)
    feats = s.created_text
    if tls:
        got = s.request("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                        % (SASL_NS, plain_b64(user, password)))
    else:
        sc = ScramSha1(user, password)
        chal = s.request("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
                         % (SASL_NS, sc.first()))
        test.assertIn("<challenge", chal)
        got = s.request("<response xmlns='%s'>%s</response>"
                        % (SASL_NS, sc.final(text_of(chal, "challenge"))))
    test.assertIn("<success", got)
    got = s.request("", **{"xmpp:restart": "true", "xmlns:xmpp": "urn:xmpp:xbosh",
                           "to": DOMAIN})
    test.assertIn("<bind", got)
    got = s.request("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='%s'>"
                    "<resource>%s</resource></bind></iq>" % (BIND_NS, resource))
    test.assertIn("<jid>%s@%s/%s</jid>" % (user, DOMAIN, resource), got)
    return s, root, feats


class Bosh(unittest.TestCase):

    def test_01_session_login_and_chat(self):
        s, root, feats = login(self, "alice", "pw-alice")
        try:
            self.assertEqual(root.tag, BODY_NS + "body")
            self.assertEqual(root.get("wait"), "10")
            self.assertEqual(root.get("hold"), "1")
            self.assertEqual(root.get("requests"), "2")
            self.assertEqual(root.get("inactivity"), str(INACTIVITY))
            self.assertTrue(root.get("polling"))
            self.assertEqual(root.get("ver"), "1.6")
            self.assertEqual(root.get("from"), DOMAIN)
            self.assertTrue(root.get("authid"))
            self.assertEqual(root.get("{urn:xmpp:xbosh}version"), "1.0")
            self.assertEqual(root.get("secure"), "false")
            self.assertIn("SCRAM-SHA-1", feats)
            self.assertNotIn(">PLAIN<", feats)
            self.assertNotIn("starttls", feats)
            features = [el for el in root]
            self.assertEqual(features[0].tag, "{http://etherx.jabber.org/streams}features")

            bob = SRV.login("bob", "pw-bob", "sock", presence="<presence/>")
            try:
                # the request carrying a message is held: its answer comes
                # with output or at wait
                s.send("<presence xmlns='jabber:client'/><message xmlns='jabber:client' "
                       "to='bob@%s/sock' type='chat'><body>over bosh</body></message>" % DOMAIN)
                bob.read_until("over bosh", 5)
                # hold = 1: a second request sends the first back
                s.send("", conn=1)
                first = s.answer(0)
                self.assertEqual(parse(first).tag, BODY_NS + "body")
                bob.send("<message to='alice@%s/bosh' type='chat'><body>to the browser &amp; "
                         "back</body></message>" % DOMAIN)
                got = s.answer(1)
                msgs = [parse(c) for c in children(got)]
                bodies = [m.find("{jabber:client}body").text for m in msgs
                          if m.tag == "{jabber:client}message"]
                self.assertEqual(bodies, ["to the browser & back"])
                self.assertEqual(msgs[-1].get("from"), "bob@%s/sock" % DOMAIN)
                self.assertNotIn("error", bob.text())
            finally:
                bob.close()
        finally:
            s.close()


    def test_02_wait_repeat_and_order(self):
        s, _, _ = login(self, "carol", "pw-carol", wait=1)
        try:
            # nothing to say: answered empty at wait (1 s)
            t0 = time.monotonic()
            got = s.request("")
            self.assertGreaterEqual(time.monotonic() - t0, 0.7)
            self.assertEqual(len(children(got)), 0)
            self.assertIsNone(parse(got).get("type"))
            # a lost answer: the same rid again gets the same answer
            bob = SRV.login("bob", "pw-bob", "sock2", presence="<presence/>")
            try:
                rid = s.send("")
                bob.send("<message to='carol@%s/bosh'><body>once</body></message>" % DOMAIN)
                first = s.answer(0)
                self.assertIn("once", first)
                s.conns[1].post(body(s.sid, rid))
                status, _, again = s.conns[1].response()
                self.assertEqual((status, again), (200, first))
                # ahead of its turn: rid + 2 first, then rid + 1; the server
                # handles them in rid order
                r1, r2 = s.rid + 1, s.rid + 2
                m = bob.mark()
                s.conns[1].post(body(s.sid, r2, "<message xmlns='jabber:client' to='bob@%s/sock2'>"
                                     "<body>second</body></message>" % DOMAIN))
                time.sleep(0.3)
                self.assertNotIn("second", bob.text()[m:])  # waits for r1
                s.conns[0].post(body(s.sid, r1, "<message xmlns='jabber:client' to='bob@%s/sock2'>"
                                     "<body>first</body></message>" % DOMAIN))
                s.rid = r2
                bob.read_until("second", 5)
                got = bob.text()[m:]
                self.assertLess(got.index("first"), got.index("second"))
                s.answer(0)
                s.answer(1)
            finally:
                bob.close()
        finally:
            s.close()

    def test_03_window_and_unknown_sid(self):
        # a rid far behind the window ends the session at once (ejabberd
        # holds such a request forever, Prosody keeps the session)
        s, _, _ = login(self, "dave", "pw-dave", resource="behind")
        try:
            s.conns[1].post(body(s.sid, s.rid - 1000))
            got = parse(s.conns[1].response()[2])
            self.assertEqual((got.get("type"), got.get("condition")),
                             ("terminate", "item-not-found"))
            s.conns[0].post(body(s.sid, s.rid + 1))
            self.assertEqual(parse(s.conns[0].response()[2]).get("condition"), "item-not-found")
        finally:
            s.close()
        s, _, _ = login(self, "dave", "pw-dave")
        try:
            start = SRV.log_len()
            s.conns[1].post(body(s.sid, s.rid + 5))  # requests = 2: too far ahead
            status, _, got = s.conns[1].response()
            root = parse(got)
            self.assertEqual((root.get("type"), root.get("condition")),
                             ("terminate", "item-not-found"))
            SRV.wait_log(r"rid \d+ outside the window", start=start)
            # the session is gone
            s.conns[0].post(body(s.sid, s.rid + 1))
            status, _, got = s.conns[0].response()
            self.assertEqual(parse(got).get("condition"), "item-not-found")
            c = HttpConn(SRV.port("web"))
            c.post(body("no-such-session", 12345))
            status, _, got = c.response()
            self.assertEqual((status, parse(got).get("condition")), (200, "item-not-found"))
            c.close()
        finally:
            s.close()

    def test_04_terminate_and_inactivity(self):
        bob = SRV.login("bob", "pw-bob", "watch", presence="<presence/>")
        try:
            # terminate: the session ends at once
            s, _, _ = login(self, "alice", "pw-alice", resource="t1")
            m = bob.mark()
            s.send("<presence xmlns='jabber:client' to='bob@%s/watch'/>" % DOMAIN)
            bob.read_until("alice@%s/t1" % DOMAIN, 5)
            s.send("<presence xmlns='jabber:client' type='unavailable'/>", conn=1,
                   type="terminate")
            s.answer(0)
            got = s.answer(1)
            self.assertEqual(parse(got).get("type"), "terminate")
            bob.read_until(re.compile("type=.unavailable"), 5)
            s.close()
            # inactivity: no request for bosh_inactivity ends it, and bob,
            # who had its directed presence, sees it go unavailable
            s, _, _ = login(self, "alice", "pw-alice", resource="t2", wait=1)
            m = bob.mark()
            s.request("<presence xmlns='jabber:client' to='bob@%s/watch'/>" % DOMAIN)
            bob.read_until("alice@%s/t2" % DOMAIN, 5, start=m)
            m = bob.mark()
            start = SRV.log_len()
            t0 = time.monotonic()
            SRV.wait_log(r"BOSH session %s ended: no request within bosh_inactivity" % s.sid,
                         timeout=INACTIVITY + 5, start=start)
            self.assertGreaterEqual(time.monotonic() - t0, INACTIVITY - 1.5)
            bob.read_until(re.compile(r"from=.alice@localhost/t2.[^>]*type=.unavailable|"
                                      r"type=.unavailable.[^>]*from=.alice@localhost/t2"), 5,
                           start=m)
            s.conns[0].post(body(s.sid, s.rid + 1))
            self.assertEqual(parse(s.conns[0].response()[2]).get("condition"), "item-not-found")
            s.close()
        finally:
            bob.close()

    def test_05_https_plain(self):
        s, root, feats = login(self, "carol", "pw-carol", tls=True, resource="secure")
        try:
            self.assertEqual(root.get("secure"), "true")
            self.assertIn(">PLAIN<", feats)
        finally:
            s.close()

    def test_06_http_refusals_and_cors(self):
        c = HttpConn(SRV.port("web"))
        try:
            c.post("", method="OPTIONS", origin=ORIGIN,
                   extra="Access-Control-Request-Method: POST\r\n")
            status, hdrs, _ = c.response()
            self.assertEqual(status, 200)
            self.assertEqual(hdrs.get("access-control-allow-origin"), ORIGIN)
            self.assertIn("POST", hdrs.get("access-control-allow-methods"))
            self.assertIn("Content-Type", hdrs.get("access-control-allow-headers"))
        finally:
            c.close()
        for method, payload, origin, want, log in (
                ("OPTIONS", "", "http://evil.example", 403, "may not connect"),
                ("POST", body(rid=1, to=DOMAIN, wait=5, hold=1), "http://evil.example", 403,
                 "may not connect"),
                ("GET", "", None, 405, None),
                ("POST", "<notbody/>", None, 400, "bad BOSH request"),
                ("POST", "<body xmlns='http://jabber.org/protocol/httpbind' rid='1'",
                 None, 400, "bad BOSH request")):
            start = SRV.log_len()
            c = HttpConn(SRV.port("web"))
            try:
                c.post(payload, method=method, origin=origin)
                status, hdrs, text = c.response()
                self.assertEqual(status, want, (method, payload, text))
            finally:
                c.close()
            if log:
                SRV.wait_log(log, start=start)
        # an allowed origin gets its CORS header on every answer
        s = Session(SRV.port("web"), origin=ORIGIN)
        try:
            s.conns[0].post(body(rid=s.rid, **s.create_attrs), origin=ORIGIN)
            status, hdrs, text = s.conns[0].response()
            self.assertEqual(status, 200)
            self.assertEqual(hdrs.get("access-control-allow-origin"), ORIGIN)
            sid = parse(text).get("sid")
            self.assertTrue(sid)
            # a host not served here
            c = HttpConn(SRV.port("web"))
            c.post(body(rid=5, to="elsewhere.example", wait=5, hold=1))
            self.assertEqual(parse(c.response()[2]).get("condition"), "host-unknown")
            c.close()
        finally:
            s.close()

    def test_07_metrics_count_bosh(self):
        s, _, _ = login(self, "dave", "pw-dave", resource="m")
        try:
            text = harness.metrics_text(SRV.port("web"))
            mo = re.search(r'xmppd_connections\{kind="bosh",state="awake"\} (\d+)', text)
            self.assertIsNotNone(mo, text)
            self.assertGreaterEqual(int(mo.group(1)), 1)
        finally:
            s.close()


    def test_08_two_gateway_threads(self):
        """With [http] threads = 2 a session's requests come on connections
        of both threads (accepted sockets go round them): those for the
        other thread's session are handed over, and its answers back."""
        srv = Server(XMPPD, XMPPCTL, users={"erin": "pw-erin", "frank": "pw-frank"},
                     name="bosh2", sections={"http": {"threads": 2}},
                     listeners={"dtls": {"mode": "direct_tls"}, "web": {"type": "http"}})
        srv.start()
        try:
            s = Session(srv.port("web"))
            s.conns += [HttpConn(srv.port("web")), HttpConn(srv.port("web"))]
            s.create()
            sc = ScramSha1("erin", "pw-erin")
            got = s.request("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
                            % (SASL_NS, sc.first()), conn=1)
            got = s.request("<response xmlns='%s'>%s</response>"
                            % (SASL_NS, sc.final(text_of(got, "challenge"))), conn=2)
            self.assertIn("<success", got)
            got = s.request("", conn=3, **{"xmpp:restart": "true",
                                           "xmlns:xmpp": "urn:xmpp:xbosh", "to": DOMAIN})
            self.assertIn("<bind", got)
            got = s.request("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='%s'>"
                            "<resource>two</resource></bind></iq>" % BIND_NS, conn=1)
            self.assertIn("<jid>erin@%s/two</jid>" % DOMAIN, got)
            frank = srv.login("frank", "pw-frank", "sock", presence="<presence/>")
            try:
                for i in range(4):
                    # held on one connection or another; frank's message
                    # answers it, from the session's thread
                    s.send("", conn=i)
                    frank.send("<message to='erin@%s/two'><body>hop %d</body></message>"
                               % (DOMAIN, i))
                    self.assertIn("hop %d" % i, s.answer(i))
                s.send("<message xmlns='jabber:client' to='frank@%s/sock'><body>back</body>"
                       "</message>" % DOMAIN, conn=2)
                frank.read_until("back", 5)
                got = s.request("", conn=3, type="terminate")
                self.assertEqual(parse(got).get("type"), "terminate")
                s.answer(2)
            finally:
                frank.close()
            self.assertRegex(srv.log(), r"BOSH request for session %s handed to http[01]"
                             % s.sid)
            self.assertRegex(srv.log(), r"2 mux thread\(s\), 2 gateway thread\(s\)")
            s.close()
        finally:
            try:
                srv.check_clean_exit(self)
            finally:
                srv.cleanup()


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
