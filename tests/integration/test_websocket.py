#!/usr/bin/python3
"""XMPP over WebSocket (RFC 7395 over RFC 6455) on the HTTP gateway (issue
13, step 3 of docs/internals/gateway.md), with a raw WebSocket client
(ws_client.py) and socket clients on the other end:

- a session over ws:// logs in with SCRAM (PLAIN is not offered without
  TLS, nor STARTTLS), binds, and chats with a socket client both ways;
  every message the server sends is a document of its own (parsed alone:
  namespaces declared on it, <open/> for the header, stream:features
  with xmlns:stream); <close/> is answered with <close/> and a close
  frame 1000;
- over wss:// (https listener): PLAIN, presence to a socket contact;
- the handshake's refusals, each with its status and log line: no xmpp
  subprotocol, another version (426 naming 13), a bad key, no Upgrade
  (426), POST (405), an origin [http] origins does not list (403); an
  allowed origin and no Origin are served;
- the frames' rules: an unmasked frame 1002, a binary one 1003, bad UTF-8
  1007, a message over max_websocket_message_bytes 1009 (before its
  payload is sent), each with a log line; a ping gets its pong; a message
  in fragments with a ping between them; a message holding half an
  element gets a stream error; a close frame without <close/> is
  answered and the connection ends;
- a stream error (an unknown host) comes as <open/>, the error, <close/>
  and a close frame;
- /metrics counts the WebSocket connection;
- an idle WebSocket session goes to sleep past [limits] idle_sleep, and a
  delivery to it, or its own next message, wakes it.

Run: /usr/bin/python3 test_websocket.py --xmppd PATH --xmppctl PATH
"""

import os
import re
import sys
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BIND_NS, DOMAIN, SASL_NS, Server, plain_b64  # noqa: E402
from scram_client import ScramSha1  # noqa: E402
from ws_client import (FRAMING_NS, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,  # noqa: E402
                       OP_TEXT, Closed, WsClient, frame)

XMPPD = XMPPCTL = None
SRV = None
MAX_MESSAGE = 8192
GOOD_ORIGIN = "http://good.example"
STREAM_NS = "http://etherx.jabber.org/streams"


def setUpModule():
    global SRV
    SRV = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice", "bob": "pw-bob",
                                        "carol": "pw-carol"}, name="ws",
                 sections={"http": {"max_websocket_message_bytes": MAX_MESSAGE,
                                    "origins": GOOD_ORIGIN + ", https://other.example"}},
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


def parse_alone(test, msg):
    """Each message is a whole document: parses by itself."""
    try:
        return ET.fromstring(msg)
    except ET.ParseError as e:
        test.fail("message is not a document of its own (%s): %r" % (e, msg))


def text_of(msg, tag):
    mo = re.search(r"<%s[^>]*>([^<]*)</%s>" % (tag, tag), msg)
    return mo.group(1) if mo else ""


def scram_sha1(ws, user, password):
    """SCRAM-SHA-1 without channel binding over ws; returns <success/>'s message."""
    sc = ScramSha1(user, password)
    ws.send_text("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>" % (SASL_NS, sc.first()))
    chal = ws.messages_until("challenge")[-1]
    ws.send_text("<response xmlns='%s'>%s</response>"
                 % (SASL_NS, sc.final(text_of(chal, "challenge"))))
    return ws.messages_until("success")[-1]


def bind(test, ws, resource):
    ws.open()
    got = ws.messages_until("</stream:features>")
    test.assertTrue(got[0].startswith("<open "), got)
    test.assertIn("<bind", got[-1])
    parse_alone(test, got[-1])
    ws.send_text("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='%s'>"
                 "<resource>%s</resource></bind></iq>" % (BIND_NS, resource))
    res = ws.messages_until("</iq>")[-1]
    test.assertEqual(parse_alone(test, res).get("type"), "result", res)
    return res


def ws_login(test, user, password, tls=False):
    ws = WsClient(SRV.port("webs" if tls else "web"), tls=tls, cafile=SRV.cafile)
    test.assertEqual(ws.handshake(), 101)
    ws.open()
    feats = ws.messages_until("</stream:features>")
    if tls:
        ws.send_text("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                     % (SASL_NS, plain_b64(user, password)))
        test.assertIn("<success", ws.messages_until("success")[-1])
    else:
        test.assertIn("<success", scram_sha1(ws, user, password))
    bind(test, ws, "web")
    return ws, feats


class WebSocket(unittest.TestCase):

    def test_01_login_and_chat_over_ws(self):
        ws = WsClient(SRV.port("web"))
        self.assertEqual(ws.handshake(origin=GOOD_ORIGIN), 101)
        self.assertEqual(ws.headers.get("sec-websocket-protocol"), "xmpp")
        ws.open()
        got = ws.messages_until("</stream:features>")
        self.assertEqual(len(got), 2, got)
        op = parse_alone(self, got[0])
        self.assertEqual(op.tag, "{%s}open" % FRAMING_NS)
        self.assertEqual(op.get("from"), DOMAIN)
        self.assertEqual(op.get("version"), "1.0")
        self.assertTrue(op.get("id"))
        feats = parse_alone(self, got[1])
        self.assertEqual(feats.tag, "{%s}features" % STREAM_NS)
        self.assertIn("SCRAM-SHA-1", got[1])
        self.assertNotIn(">PLAIN<", got[1])     # no TLS: no PLAIN
        self.assertNotIn("starttls", got[1])    # RFC 7395: never STARTTLS
        success = scram_sha1(ws, "alice", "pw-alice")
        parse_alone(self, success)
        res = bind(self, ws, "web")
        self.assertIn("<jid>alice@%s/web</jid>" % DOMAIN, res)
        self.assertEqual(parse_alone(self, res).tag, "{jabber:client}iq")
        ws.send_text("<presence xmlns='jabber:client'/>")

        bob = SRV.login("bob", "pw-bob", "sock", presence="<presence/>")
        try:
            ws.send_text("<message xmlns='jabber:client' to='bob@%s/sock' type='chat'>"
                         "<body>from the web</body></message>" % DOMAIN)
            bob.read_until("from the web", 5)
            m = bob.mark()
            bob.send("<message to='alice@%s/web' type='chat'><body>to the web &amp; back"
                     "</body></message>" % DOMAIN)
            msgs = ws.messages_until("to the web")
            el = parse_alone(self, msgs[-1])
            self.assertEqual(el.tag, "{jabber:client}message")
            self.assertEqual(el.get("from"), "bob@%s/sock" % DOMAIN)
            self.assertEqual(el.find("{jabber:client}body").text, "to the web & back")
            self.assertNotIn("error", bob.text()[m:])
        finally:
            bob.close()
        ws.send_text("<close xmlns='%s'/>" % FRAMING_NS)
        last = ws.recv_text()
        self.assertEqual(parse_alone(self, last).tag, "{%s}close" % FRAMING_NS)
        self.assertEqual(ws.close_code(), 1000)
        self.assertTrue(ws.eof())
        ws.close()

    def test_02_login_over_wss_with_plain(self):
        ws, feats = ws_login(self, "carol", "pw-carol", tls=True)
        try:
            self.assertIn(">PLAIN<", feats[-1])
            alice = SRV.login("alice", "pw-alice", "sock2", presence="<presence/>")
            try:
                ws.send_text("<message xmlns='jabber:client' to='alice@%s/sock2'><body>wss hello"
                             "</body></message>" % DOMAIN)
                alice.read_until("wss hello", 5)
            finally:
                alice.close()
        finally:
            ws.close()

    def refused(self, status, log, **kw):
        start = SRV.log_len()
        ws = WsClient(SRV.port("web"))
        try:
            self.assertEqual(ws.handshake(**kw), status, (kw, ws.body))
            self.assertEqual(ws.headers.get("connection"), "close")
            self.assertTrue(ws.eof())
        finally:
            ws.close()
        SRV.wait_log(log, start=start)
        return ws

    def test_03_handshake_refusals(self):
        self.refused(400, "xmpp subprotocol is required", protocol="chat")
        self.refused(400, "xmpp subprotocol is required", protocol=None)
        ws = self.refused(426, "version 13 only", version="8")
        self.assertEqual(ws.headers.get("sec-websocket-version"), "13")
        self.refused(400, "not 16 bytes in base64", key="c2hvcnQ=")
        self.refused(400, "not 16 bytes in base64", key=False)
        ws = self.refused(426, "XMPP over WebSocket only", upgrade=None, connection=None)
        self.assertEqual(ws.headers.get("upgrade"), "websocket")
        self.refused(405, "GET only", method="POST", extra="Content-Length: 0\r\n")
        self.refused(403, "origin http://evil.example not allowed", origin="http://evil.example")
        self.refused(403, "not allowed", origin="null")
        # a browser offering several subprotocols gets xmpp alone (ejabberd
        # echoes them all, and the browser then fails the handshake)
        ws = WsClient(SRV.port("web"))
        self.assertEqual(ws.handshake(protocol="chat, xmpp, superchat"), 101)
        self.assertEqual(ws.headers.get("sec-websocket-protocol"), "xmpp")
        ws.close()
        # still serving; an allowed origin of the list, and no Origin at all
        for origin in ("https://other.example", None):
            ws = WsClient(SRV.port("web"))
            self.assertEqual(ws.handshake(origin=origin), 101)
            ws.open()
            self.assertIn("features", ws.messages_until("</stream:features>")[-1])
            ws.close()

    def frame_error(self, data, code, log, open_first=True):
        start = SRV.log_len()
        ws = WsClient(SRV.port("web"))
        try:
            self.assertEqual(ws.handshake(), 101)
            if open_first:
                ws.open()
                ws.messages_until("</stream:features>")
            ws.send(data)
            self.assertEqual(ws.close_code(), code)
            self.assertTrue(ws.eof())
        finally:
            ws.close()
        SRV.wait_log(log, start=start)

    def test_04_frame_errors(self):
        self.frame_error(frame(OP_TEXT, "<presence/>", mask=False), 1002,
                         r"WebSocket error .*: .*closing with 1002")
        self.frame_error(frame(OP_BINARY, b"\x00\x01"), 1003,
                         r"WebSocket error .*closing with 1003")
        self.frame_error(frame(OP_TEXT, b"<message><body>\xc0\xaf</body></message>"), 1007,
                         r"WebSocket error .*closing with 1007")
        self.frame_error(frame(OP_TEXT, "x", rsv=4), 1002, r"closing with 1002")
        # too big: refused at the frame's header, its payload never sent
        big = frame(OP_TEXT, b"x" * (MAX_MESSAGE + 1))
        self.frame_error(big[:14], 1009, r"WebSocket error .*closing with 1009")
        # exactly the limit in two fragments, and one byte more in three
        half = MAX_MESSAGE // 2
        self.frame_error(frame(OP_TEXT, b" " * half, fin=False)
                         + frame(OP_CONT, b" " * half, fin=False)
                         + frame(OP_CONT, b" ")[:6], 1009, r"closing with 1009")

    def test_05_ping_fragments_and_whole_elements(self):
        ws = WsClient(SRV.port("web"))
        try:
            self.assertEqual(ws.handshake(), 101)
            ws.send(frame(OP_PING, b"hello?"))
            fin, op, payload = ws.recv_frame()
            self.assertEqual((fin, op, payload), (True, OP_PONG, b"hello?"))
            # <open/> in three fragments, a ping between two of them, and
            # the bytes split across writes
            o = ("<open xmlns='%s' to='%s' version='1.0'/>" % (FRAMING_NS, DOMAIN)).encode()
            data = (frame(OP_TEXT, o[:7], fin=False) + frame(OP_PING, b"p")
                    + frame(OP_CONT, o[7:20], fin=False) + frame(OP_CONT, o[20:]))
            for i in range(0, len(data), 5):
                ws.send(data[i:i + 5])
                time.sleep(0.002)
            got = []
            while not got or "features" not in got[-1]:
                fin, op, payload = ws.recv_frame()
                if op == OP_PONG:
                    self.assertEqual(payload, b"p")
                    continue
                got.append(payload.decode())
            self.assertTrue(got[0].startswith("<open "), got)
            # half an element in one message: a stream error, then <close/>
            start = SRV.log_len()
            ws.send_text("<iq xmlns='jabber:client' type='get' id='x'>")
            msgs = ws.messages_until("stream:error")
            self.assertIn("<invalid-xml", msgs[-1])
            parse_alone(self, msgs[-1])
            self.assertEqual(parse_alone(self, ws.recv_text()).tag, "{%s}close" % FRAMING_NS)
            self.assertEqual(ws.close_code(), 1000)
            SRV.wait_log(r"stream error <invalid-xml/>", start=start)
        finally:
            ws.close()

    def test_06_close_frame_without_close_element(self):
        ws, _ = ws_login(self, "alice", "pw-alice")
        try:
            start = SRV.log_len()
            ws.send(frame(OP_CLOSE, b"\x03\xe9bye"))  # 1001 going away
            self.assertEqual(ws.close_code(), 1001)
            self.assertTrue(ws.eof())
            SRV.wait_log(r"WebSocket closed by .* \(code 1001\)", start=start)
        finally:
            ws.close()

    def test_07_stream_error_framing(self):
        ws = WsClient(SRV.port("web"))
        try:
            self.assertEqual(ws.handshake(), 101)
            ws.open(to="unknown.example")
            msgs = []
            with self.assertRaises(Closed) as cm:
                while True:
                    msgs.append(ws.recv_text())
            self.assertEqual(cm.exception.code, 1000)
            self.assertEqual(len(msgs), 3, msgs)
            self.assertEqual(parse_alone(self, msgs[0]).tag, "{%s}open" % FRAMING_NS)
            err = parse_alone(self, msgs[1])
            self.assertEqual(err.tag, "{%s}error" % STREAM_NS)
            self.assertIn("host-unknown", msgs[1])
            self.assertEqual(parse_alone(self, msgs[2]).tag, "{%s}close" % FRAMING_NS)
            # the client's first message must be <open/>
            ws2 = WsClient(SRV.port("web"))
            self.assertEqual(ws2.handshake(), 101)
            ws2.send_text("<presence xmlns='jabber:client'/>")
            msgs = ws2.messages_until("stream:error")
            self.assertIn("<invalid-xml", msgs[-1])
            ws2.close()
        finally:
            ws.close()

    def test_08_metrics_count_websocket(self):
        ws, _ = ws_login(self, "bob", "pw-bob")
        try:
            text = harness.metrics_text(SRV.port("web"))
            mo = re.search(r'xmppd_connections\{kind="websocket",state="awake"\} (\d+)', text)
            self.assertIsNotNone(mo, text)
            self.assertGreaterEqual(int(mo.group(1)), 1)
        finally:
            ws.close()

    def test_09_idle_session_sleeps_and_wakes(self):
        srv = Server(XMPPD, XMPPCTL, users={"dave": "pw-dave", "erin": "pw-erin"},
                     name="wsidle", sections={"limits": {"idle_sleep": 1}},
                     listeners={"dtls": {"mode": "direct_tls"},
                                "web": {"type": "http", "metrics": "true"}})
        srv.start()
        global SRV
        saved, SRV = SRV, srv
        try:
            ws, _ = ws_login(self, "dave", "pw-dave")
            ws.send_text("<presence xmlns='jabber:client'/>")
            srv.wait_log(r"(c\d+\.\d+): WebSocket from")
            conn = re.search(r"(c\d+\.\d+): WebSocket from", srv.log()).group(1)
            srv.wait_log(re.escape(conn) + r": idle, asleep", timeout=10)
            erin = srv.login("erin", "pw-erin", "sock", presence="<presence/>")
            try:
                # a delivery wakes it, and so do its own bytes
                erin.send("<message to='dave@%s/web'><body>wake up</body></message>" % DOMAIN)
                self.assertIn("wake up", ws.messages_until("wake up")[-1])
                srv.wait_log(re.escape(conn) + r": idle, asleep", timeout=10,
                             start=srv.log_len())
                ws.send_text("<message xmlns='jabber:client' to='erin@%s/sock'><body>awake"
                             "</body></message>" % DOMAIN)
                erin.read_until("awake", 5)
            finally:
                erin.close()
            ws.close()
        finally:
            SRV = saved
            try:
                srv.check_clean_exit(self)
            finally:
                srv.cleanup()


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
