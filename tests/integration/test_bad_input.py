#!/usr/bin/python3
"""Hostile and malformed input: every bad client gets its specific
<stream:error> condition and is disconnected, while a logged-in slixmpp pair
keeps chatting (checked after every bad client), and the server ends alive,
exits 0 on SIGTERM and has a sanitizer-clean log.

Run: /usr/bin/python3 test_bad_input.py --xmppd PATH --xmppctl PATH
"""

import asyncio
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (RawClient, Server, connect_client, disconnect_all,  # noqa: E402
                     make_client, stream_error_condition, stream_header)

XMPPD = XMPPCTL = None
SRV = None
LOOP = None
A = B = None            # the slixmpp pair that must keep working
QA = QB = None
PW = "pw-bad-input"
MAX_STANZA = 10000
HEADER = stream_header().decode()
HEADER_NODECL = stream_header(decl=False).decode()
COUNTER = [0]


def setUpModule():
    global SRV, LOOP, A, B, QA, QB
    SRV = Server(XMPPD, XMPPCTL, users={"alice": PW, "bob": PW, "carol": PW},
                 sections={"limits": {"max_stanza_size": MAX_STANZA, "preauth_timeout": 2,
                                      "max_depth": 32, "max_attributes": 64}},
                 name="bad")
    SRV.start()
    LOOP = asyncio.new_event_loop()
    asyncio.set_event_loop(LOOP)

    async def up():
        global A, B, QA, QB
        A = make_client("alice@localhost/pair", PW, SRV.cert)
        B = make_client("bob@localhost/pair", PW, SRV.cert)
        QA, QB = asyncio.Queue(), asyncio.Queue()
        A.add_event_handler("message", QA.put_nowait)
        B.add_event_handler("message", QB.put_nowait)
        await connect_client(A, SRV.port("c2s"))
        await connect_client(B, SRV.port("dtls"), direct_tls=True)
        await asyncio.sleep(0.2)
    LOOP.run_until_complete(up())


def tearDownModule():
    try:
        if LOOP is not None:
            LOOP.run_until_complete(disconnect_all(A, B))
        if SRV is not None and SRV.alive():
            rc = SRV.stop()
            if rc != 0:
                raise AssertionError("xmppd exit code %r at module tear-down" % rc)
            bad = SRV.problems()
            if bad:
                raise AssertionError("xmppd log has error/sanitizer lines:\n" + "\n".join(bad[:40]))
    finally:
        if SRV is not None:
            SRV.cleanup()
        if LOOP is not None:
            pending = asyncio.all_tasks(LOOP)
            for t in pending:
                t.cancel()
            LOOP.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            LOOP.close()


async def _expect(q, body, timeout):
    while True:
        m = await asyncio.wait_for(q.get(), timeout)
        if m["body"] == body:
            return m


def pair_still_chats(tc, why):
    """alice -> bob and bob -> alice, each message checked on arrival."""
    COUNTER[0] += 1
    n = COUNTER[0]

    async def go():
        body = "after %s #%d" % (why, n)
        A.send_message(mto=B.boundjid.full, mbody=body, mtype="chat")
        m = await _expect(QB, body, 5)
        tc.assertEqual(str(m["from"]), "alice@localhost/pair")
        body2 = "reply %s #%d" % (why, n)
        B.send_message(mto=A.boundjid.full, mbody=body2, mtype="chat")
        m = await _expect(QA, body2, 5)
        tc.assertEqual(str(m["from"]), "bob@localhost/pair")
    try:
        LOOP.run_until_complete(go())
    except asyncio.TimeoutError:
        tc.fail("the logged-in pair stopped chatting after %s" % why)


def send_bad(payload, port="c2s", tls=False, timeout=6.0, chunks=None):
    """Open a connection, send payload (optionally in chunks), read until the
    server closes it; return (text, closed)."""
    c = RawClient(SRV.port(port), tls=tls, cafile=SRV.cert)
    try:
        if isinstance(payload, str):
            payload = payload.encode()
        try:
            if chunks:
                for i in range(0, len(payload), chunks):
                    c.send(payload[i:i + chunks])
            else:
                c.send(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server may close while we are still sending
        got = c.read_until_closed(timeout)
        return got, c.closed
    finally:
        c.close()


class BadInput(unittest.TestCase):

    def expect_error(self, payload, condition, port="c2s", tls=False, chunks=None, why=None):
        mark = SRV.log_len()
        got, closed = send_bad(payload, port=port, tls=tls, chunks=chunks)
        cond = stream_error_condition(got)
        if isinstance(condition, (tuple, set)):
            self.assertIn(cond, condition, "reply was: %r" % got[-600:])
        else:
            self.assertEqual(cond, condition, "reply was: %r" % got[-600:])
        self.assertRegex(got, r"<stream:error>\s*<%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'" % cond)
        self.assertTrue(got.rstrip().endswith("</stream:stream>"), "stream not closed: %r" % got[-200:])
        self.assertTrue(closed, "connection left open after <%s/>" % cond)
        self.assertIsNotNone(SRV.wait_log(r"stream error <%s/>" % cond, 3, mark))
        self.assertTrue(SRV.alive(), "xmppd died")
        pair_still_chats(self, why or self._testMethodName)
        return got

    # -- XML well-formedness and restrictions -----------------------------------

    def test_malformed_xml(self):
        self.expect_error(HEADER + "<message to='bob@localhost'><body>x</mess>", "not-well-formed")
        self.expect_error(HEADER + "<message to='bob@localhost' a='1' a='2'/>", "not-well-formed")
        # an undeclared entity is a well-formedness error in XML 1.0
        self.expect_error(HEADER + "<message>&undefined;</message>", "not-well-formed")
        self.expect_error(b"\xff\xfe<<<\x00\x01garbage>>>", "not-well-formed")

    def test_dtd_before_stream(self):
        self.expect_error("<?xml version='1.0'?><!DOCTYPE stream:stream [<!ELEMENT x ANY>]>" + HEADER_NODECL,
                          "restricted-xml")
        self.expect_error("<!DOCTYPE stream:stream SYSTEM 'http://example.org/x.dtd'>" + HEADER_NODECL,
                          "restricted-xml")

    def test_dtd_inside_stream(self):
        # A DOCTYPE after the root element has started is not even XML: expat
        # reports it as a syntax error, so not-well-formed is the right
        # answer; restricted-xml would be acceptable as well.
        self.expect_error(HEADER + "<!DOCTYPE foo [<!ELEMENT foo ANY>]>", ("not-well-formed", "restricted-xml"))
        self.expect_error(HEADER + "<message><!DOCTYPE foo></message>", ("not-well-formed", "restricted-xml"))

    def test_entity_declaration(self):
        self.expect_error("<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY e 'boom'>]>"
                          + HEADER_NODECL + "<message>&e;</message>", "restricted-xml")
        # external entity (XXE)
        self.expect_error("<?xml version='1.0'?><!DOCTYPE s [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
                          + HEADER_NODECL + "<message><body>&x;</body></message>", "restricted-xml")

    def test_processing_instruction_and_comment(self):
        self.expect_error(HEADER + "<?evil instruction?>", "restricted-xml")
        self.expect_error(HEADER + "<message><?pi inside?></message>", "restricted-xml")
        self.expect_error(HEADER + "<!-- a comment -->", "restricted-xml")

    def test_billion_laughs(self):
        ents = ["<!ENTITY lol 'lol'>"]
        for i in range(2, 10):
            ents.append("<!ENTITY lol%d '%s'>" % (i, ("&lol%s;" % ("" if i == 2 else i - 1)) * 10))
        payload = ("<?xml version='1.0'?><!DOCTYPE lolz [" + "".join(ents) + "]>" + HEADER_NODECL
                   + "<message><body>&lol9;</body></message>")
        self.expect_error(payload, "restricted-xml")
        # the same through direct TLS, and after the stream header (inside a stanza)
        self.expect_error(payload, "restricted-xml", port="dtls", tls=True)
        self.expect_error(HEADER + "<message><body>&lol9;</body></message>",
                          "not-well-formed", port="dtls", tls=True)

    # -- limits -----------------------------------------------------------------

    def test_oversized_stanza(self):
        # pre-auth, plaintext, one big stanza in many chunks
        big = "<message to='bob@localhost'><body>" + "a" * 20000 + "</body></message>"
        self.expect_error(HEADER + big, "policy-violation", chunks=1500)
        # an oversized stanza with no end tag at all (the limit is enforced while it streams in)
        self.expect_error(HEADER + "<message><body>" + "b" * 20000, "policy-violation")
        # authenticated over TLS: a stanza under the limit passes, one over it is fatal
        c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        try:
            c.open_stream()
            self.assertIn("<jid>carol@localhost/big</jid>", c.login_plain("carol", PW, "big"))
            body = "c" * (MAX_STANZA - 1000)

            async def wait_ok():
                return await _expect(QB, body, 5)
            c.send("<message to='bob@localhost/pair' type='chat'><body>%s</body></message>" % body)
            m = LOOP.run_until_complete(wait_ok())
            self.assertEqual(str(m["from"]), "carol@localhost/big")
            mark = c.mark()
            c.send("<message to='bob@localhost/pair' type='chat'><body>%s</body></message>" % ("d" * 20000))
            got = c.read_until_closed(5)[mark:]
            self.assertEqual(stream_error_condition(got), "policy-violation", got[-400:])
            self.assertTrue(c.closed)
        finally:
            c.close()
        pair_still_chats(self, "oversized stanza after auth")

        async def nothing_big():
            try:
                while True:
                    m = await asyncio.wait_for(QB.get(), 0.5)
                    if m["body"] and m["body"].startswith("ddd"):
                        return m
            except asyncio.TimeoutError:
                return None
        self.assertIsNone(LOOP.run_until_complete(nothing_big()), "oversized stanza was delivered")

    def test_too_deep(self):
        self.expect_error(HEADER + "<message>" + "<x>" * 100, "policy-violation")
        self.expect_error(HEADER + "<message>" + "<x>" * 40 + "</x>" * 40 + "</message>", "policy-violation")

    def test_too_many_attributes(self):
        attrs = " ".join("a%d='v'" % i for i in range(200))
        self.expect_error(HEADER + "<message %s/>" % attrs, "policy-violation")
        # on the stream header itself
        self.expect_error(HEADER[:-1] + " " + attrs + ">", "policy-violation")
        # namespace declarations count too
        nsd = " ".join("xmlns:p%d='urn:x:%d'" % (i, i) for i in range(200))
        self.expect_error(HEADER + "<message %s/>" % nsd, "policy-violation")

    # -- stream header ----------------------------------------------------------

    def test_bad_stream_namespace(self):
        self.expect_error(stream_header(stream_ns="urn:not:streams").decode(), "invalid-namespace")
        self.expect_error(stream_header(xmlns="jabber:server").decode(), "invalid-namespace")
        self.expect_error("<?xml version='1.0'?><stream xmlns='jabber:client' to='localhost' version='1.0'>",
                          "invalid-namespace")

    def test_unknown_host(self):
        self.expect_error(stream_header(to="example.org").decode(), "host-unknown")
        self.expect_error(stream_header(to="localhost.evil").decode(), "host-unknown")

    def test_version_missing_or_wrong(self):
        self.expect_error(stream_header(version=None).decode(), "unsupported-version")
        self.expect_error(stream_header(version="0.9").decode(), "unsupported-version")
        # RFC 6120 4.7.5: a higher version is answered with the server's own
        # (1.0), not an error; the client then decides.
        c = RawClient(SRV.port("c2s"), cafile=SRV.cert)
        try:
            feats = c.open_stream(version="2.0")
            self.assertRegex(feats, r"<stream:stream [^>]*version='1\.0'")
            self.assertIn("<starttls", feats)
            self.assertNotIn("<stream:error", feats)
        finally:
            c.close()

    def test_unsupported_stanza_type_after_auth(self):
        c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        try:
            c.open_stream()
            self.assertIn("<jid>carol@localhost/odd</jid>", c.login_plain("carol", PW, "odd"))
            c.send("<blurb xmlns='jabber:client'/>")
            got = c.read_until_closed(5)
            self.assertEqual(stream_error_condition(got), "unsupported-stanza-type", got[-400:])
            self.assertTrue(c.closed)
        finally:
            c.close()
        pair_still_chats(self, "unsupported stanza type")

    # -- timing and TLS garbage ------------------------------------------------

    def test_preauth_idle_timeout(self):
        mark = SRV.log_len()
        c = RawClient(SRV.port("c2s"), cafile=SRV.cert)
        d = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        try:
            c.open_stream()
            d.open_stream()
            t0 = harness.time.monotonic()
            got_c = c.read_until_closed(8)
            got_d = d.read_until_closed(8)
            took = harness.time.monotonic() - t0
            self.assertEqual(stream_error_condition(got_c), "connection-timeout", got_c[-300:])
            self.assertEqual(stream_error_condition(got_d), "connection-timeout", got_d[-300:])
            self.assertTrue(c.closed and d.closed)
            self.assertLess(took, 6.0)
            self.assertIsNotNone(SRV.wait_log(r"not authenticated within 2s", 2, mark))
        finally:
            c.close()
            d.close()
        # a silent TCP connection (no stream header at all) is also timed out
        s = socket.create_connection(("127.0.0.1", SRV.port("dtls")), timeout=8)
        try:
            s.settimeout(8)
            try:
                data = s.recv(100)
            except (ConnectionResetError, socket.timeout) as e:
                data = e
            self.assertEqual(data, b"", "silent connection not closed: %r" % (data,))
        finally:
            s.close()
        pair_still_chats(self, "pre-auth timeout")

    def test_garbage_before_tls_on_direct_tls_port(self):
        payloads = [
            os.urandom(4096),
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            HEADER.encode(),                                     # plaintext XMPP on the TLS port
            b"\x16\x03\x01\xff\xff" + os.urandom(300),           # record claiming 64 KiB
            b"\x16\x03\x03\x00\x30\x01\x00\x00\x2c\x03\x03" + b"\x00" * 37,   # truncated ClientHello
            b"\x80\x80\x01\x00\x02" + os.urandom(120),           # SSLv2-style hello
        ]
        for p in payloads:
            mark = SRV.log_len()
            s = socket.create_connection(("127.0.0.1", SRV.port("dtls")), timeout=5)
            try:
                try:
                    s.sendall(p)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                s.settimeout(5)
                data = b""
                try:
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except ConnectionResetError:
                    pass
                except socket.timeout:
                    self.fail("server kept a garbage TLS connection open: %r" % p[:20])
                # whatever came back (at most a TLS alert) is not XMPP
                self.assertNotIn(b"<stream", data)
            finally:
                s.close()
            self.assertIsNotNone(SRV.wait_log(r"TLS failure from|closed \(", 3, mark))
            self.assertTrue(SRV.alive())
        pair_still_chats(self, "TLS garbage")

    # -- the end ------------------------------------------------------------------

    def test_zz_server_alive_and_clean(self):
        self.assertTrue(SRV.alive())
        pair_still_chats(self, "everything")
        LOOP.run_until_complete(disconnect_all(A, B))
        SRV.check_clean_exit(self)


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
