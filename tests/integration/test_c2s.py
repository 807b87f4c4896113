#!/usr/bin/python3
"""Client-to-server integration tests: a real xmppd, slixmpp clients that
verify the certificate, and raw sockets where the wire format matters.

Run: /usr/bin/python3 test_c2s.py --xmppd PATH --xmppctl PATH
(or with XMPPD / XMPPCTL in the environment).  Prints "N passed, M failed".
"""

import asyncio
import os
import re
import socket
import ssl
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (DOMAIN, RawClient, Server, connect_client, disconnect_all,  # noqa: E402
                     local_port, make_client, mux_of, stream_error_condition)

XMPPD = XMPPCTL = None
SRV = None
PW = "s3cret-pw"
USERS = {u: PW for u in ("alice", "bob", "carol", "dave", "erin", "frank",
                         "gina", "hank", "ivan", "judy", "kim", "leo")}
TEST_NS = "urn:xmppd:test:echo"


def setUpModule():
    global SRV
    SRV = Server(XMPPD, XMPPCTL, users=USERS, name="c2s")
    SRV.start()


def tearDownModule():
    if SRV is None:
        return
    try:
        if SRV.alive():
            rc = SRV.stop()
            if rc != 0:
                raise AssertionError("xmppd exit code %r at module tear-down" % rc)
        bad = SRV.problems()
        if bad:
            raise AssertionError("xmppd log has error/sanitizer lines:\n" + "\n".join(bad[:40]))
    finally:
        SRV.cleanup()


def jid(user, res=None):
    return "%s@%s" % (user, DOMAIN) + ("/" + res if res else "")


def inbox(xmpp):
    """Queue of every <message/> the client receives (errors included)."""
    # One raw handler: slixmpp's "message" and "message_error" events both
    # fire for an error that echoes the <body/>.
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
    q = asyncio.Queue()
    xmpp.register_handler(Callback("it-inbox", MatchXPath("{jabber:client}message"), q.put_nowait))
    return q


async def next_msg(q, timeout=5.0):
    return await asyncio.wait_for(q.get(), timeout)


async def no_msg(q, timeout=1.0):
    try:
        m = await asyncio.wait_for(q.get(), timeout)
        return m
    except asyncio.TimeoutError:
        return None


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


class C2S(unittest.TestCase):

    # -- logins ---------------------------------------------------------------

    def test_01_login_starttls_verified(self):
        # Certificate verification is really on: a context that does not trust
        # the generated certificate must fail the handshake.
        raw = socket.create_connection(("127.0.0.1", SRV.port("dtls")), timeout=5)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # no CA loaded
        with self.assertRaises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname=DOMAIN)
        raw.close()
        # ... and a name the certificate does not carry fails too.
        raw = socket.create_connection(("127.0.0.1", SRV.port("dtls")), timeout=5)
        with self.assertRaises(ssl.SSLCertVerificationError):
            harness.client_ssl_context(SRV.cert).wrap_socket(raw, server_hostname="not-localhost.example")
        raw.close()

        async def go():
            # slixmpp with a CA bundle that does not hold our certificate: refused
            other_ca = "/etc/ssl/certs/ca-certificates.crt"
            if os.path.exists(other_ca):
                bad = make_client(jid("alice", "untrusted"), PW, other_ca)
                with self.assertRaises(RuntimeError) as cm:
                    await connect_client(bad, SRV.port("c2s"), timeout=10)
                self.assertIn("ssl_invalid_chain", str(cm.exception))
            c = make_client(jid("alice", "st"), PW, SRV.cert)
            mark = SRV.log_len()
            await connect_client(c, SRV.port("c2s"))
            try:
                self.assertTrue(c.it_tls, "slixmpp saw no TLS certificate")
                self.assertEqual(str(c.boundjid), jid("alice", "st"))
                mux, cid = mux_of(SRV, local_port(c))
                self.assertIsNotNone(cid)
                self.assertIsNotNone(SRV.wait_log(r"%s: TLS 1\.[23] established \(layer 0, sni=localhost" % re.escape(cid), 3, mark))
                self.assertIsNotNone(SRV.wait_log(r"%s: authenticated alice@localhost" % re.escape(cid), 3, mark))
                self.assertIsNotNone(SRV.wait_log(r"%s: bound alice@localhost/st$" % re.escape(cid), 3, mark))
            finally:
                await disconnect_all(c)
        run(go())

    def test_02_login_direct_tls(self):
        async def go():
            c = make_client(jid("bob", "dt"), PW, SRV.cert)
            mark = SRV.log_len()
            await connect_client(c, SRV.port("dtls"), direct_tls=True)
            try:
                self.assertEqual(str(c.boundjid), jid("bob", "dt"))
                mux, cid = mux_of(SRV, local_port(c))
                m = SRV.wait_log(r"%s: accepted from \S+ on listener dtls$" % re.escape(cid), 3, mark)
                self.assertIsNotNone(m, "connection not seen on the direct TLS listener")
                self.assertIsNotNone(SRV.wait_log(r"%s: bound bob@localhost/dt$" % re.escape(cid), 3, mark))
                # ping the server over the session to prove it is usable
                iq = await c["xep_0199"].send_ping(DOMAIN, timeout=5)
                self.assertEqual(iq["type"], "result")
            finally:
                await disconnect_all(c)
        run(go())

    def _scram(self, mech):
        async def go():
            c = make_client(jid("carol", mech), PW, SRV.cert, mech=mech, no_channel_binding=True)
            mark = SRV.log_len()
            await connect_client(c, SRV.port("c2s"))
            try:
                self.assertEqual(c["feature_mechanisms"].mech.name, mech)
                mux, cid = mux_of(SRV, local_port(c))
                m = SRV.wait_log(r"%s: authenticated carol@localhost \(([^)]*)\)" % re.escape(cid), 3, mark)
                self.assertIsNotNone(m, "no 'authenticated' log line")
                self.assertIn(mech, m.group(1))
                self.assertNotIn("PLUS", m.group(1))
                self.assertEqual([e for e, _ in c.it_events], ["auth_success"])
            finally:
                await disconnect_all(c)
        run(go())

    def test_03_scram_sha256_without_channel_binding(self):
        self._scram("SCRAM-SHA-256")

    def test_04_scram_sha1_without_channel_binding(self):
        self._scram("SCRAM-SHA-1")

    def test_05_plain(self):
        async def go():
            c = make_client(jid("dave", "plain"), PW, SRV.cert, mech="PLAIN")
            mark = SRV.log_len()
            await connect_client(c, SRV.port("c2s"))
            try:
                self.assertEqual(c["feature_mechanisms"].mech.name, "PLAIN")
                mux, cid = mux_of(SRV, local_port(c))
                m = SRV.wait_log(r"%s: authenticated dave@localhost \(([^)]*)\)" % re.escape(cid), 3, mark)
                self.assertIsNotNone(m)
                self.assertIn("PLAIN", m.group(1))
            finally:
                await disconnect_all(c)
        run(go())

    def test_06_wrong_password(self):
        async def go():
            for mech in ("PLAIN", "SCRAM-SHA-256"):
                c = make_client(jid("erin", "bad"), "wrong-password", SRV.cert, mech=mech,
                                no_channel_binding=True)
                mark = SRV.log_len()
                with self.assertRaises(RuntimeError) as cm:
                    await connect_client(c, SRV.port("c2s"), timeout=10)
                self.assertIn("failed_all_auth", str(cm.exception))
                fails = [s for e, s in c.it_events if e == "failed_auth"]
                self.assertEqual(len(fails), 1, c.it_events)
                self.assertIn("<not-authorized", fails[0])
                self.assertNotIn("auth_success", [e for e, _ in c.it_events])
                m = SRV.wait_log(r"authentication failed for erin@localhost from 127\.0\.0\.1\S* \(([^)]*)\)",
                                 3, mark)
                self.assertIsNotNone(m, "no failure line in the server log")
                self.assertIn(mech, m.group(1))
                await disconnect_all(c)
        run(go())

    # -- routing ----------------------------------------------------------------

    def test_07_message_and_iq_across_mux_threads(self):
        async def go():
            a = make_client(jid("frank", "a"), PW, SRV.cert)
            b = make_client(jid("gina", "b"), PW, SRV.cert)
            qa, qb = inbox(a), inbox(b)

            def echo(iq):
                r = iq.reply()
                r.append(ET.fromstring("<query xmlns='%s'><echo>%s by %s</echo></query>" %
                                       (TEST_NS, iq.xml.find("{%s}query/{%s}n" % (TEST_NS, TEST_NS)).text,
                                        b.boundjid.full)))
                r.send()
            from slixmpp.xmlstream.handler import Callback
            from slixmpp.xmlstream.matcher import MatchXPath
            b.register_handler(Callback("echo", MatchXPath("{jabber:client}iq/{%s}query" % TEST_NS), echo))
            await asyncio.gather(connect_client(a, SRV.port("c2s")), connect_client(b, SRV.port("c2s")))
            try:
                ma, _ = mux_of(SRV, local_port(a))
                mb, _ = mux_of(SRV, local_port(b))
                self.assertEqual({ma, mb}, {"mux0", "mux1"}, "clients not on both mux threads")
                await asyncio.sleep(0.3)
                a.send_message(mto=b.boundjid.full, mbody="hello across threads", mtype="chat")
                m = await next_msg(qb)
                self.assertEqual(m["body"], "hello across threads")
                self.assertEqual(str(m["from"]), jid("frank", "a"))
                self.assertEqual(m["type"], "chat")
                b.send_message(mto=a.boundjid.full, mbody="and back", mtype="chat")
                m = await next_msg(qa)
                self.assertEqual((m["body"], str(m["from"])), ("and back", jid("gina", "b")))
                # RFC 6121 8.5.3.1: b shares no presence with a yet, so a
                # request to b's full JID is answered as if b were offline
                from slixmpp.exceptions import IqError
                with self.assertRaises(IqError) as cm:
                    await a["xep_0199"].send_ping(b.boundjid.full, timeout=5)
                self.assertEqual(cm.exception.condition, "service-unavailable")
                b.send_presence(pto=a.boundjid.full)  # directed presence: now it does
                await asyncio.sleep(0.3)
                # ping to the other's full JID: answered by that client
                r = await a["xep_0199"].send_ping(b.boundjid.full, timeout=5)
                self.assertEqual(r["type"], "result")
                self.assertEqual(str(r["from"]), jid("gina", "b"))
                # custom iq, answered by b's handler with a payload only it knows
                iq = a.make_iq_get(ito=b.boundjid.full)
                iq.append(ET.fromstring("<query xmlns='%s'><n>42</n></query>" % TEST_NS))
                r = await iq.send(timeout=5)
                self.assertEqual(r["type"], "result")
                self.assertEqual(str(r["from"]), jid("gina", "b"))
                echo_el = r.xml.find("{%s}query/{%s}echo" % (TEST_NS, TEST_NS))
                self.assertIsNotNone(echo_el, str(r))
                self.assertEqual(echo_el.text, "42 by " + jid("gina", "b"))
            finally:
                await disconnect_all(a, b)
        run(go())

    def test_08_bare_jid_goes_to_highest_priority(self):
        async def go():
            hi = make_client(jid("hank", "hi"), PW, SRV.cert)
            lo = make_client(jid("hank", "lo"), PW, SRV.cert)
            s = make_client(jid("ivan", "s"), PW, SRV.cert)
            qhi, qlo = inbox(hi), inbox(lo)
            await connect_client(hi, SRV.port("c2s"), priority=5)
            await connect_client(lo, SRV.port("c2s"), priority=1)
            await connect_client(s, SRV.port("dtls"), direct_tls=True)
            try:
                await asyncio.sleep(0.5)    # let the router see both presences
                for i in range(3):
                    s.send_message(mto=jid("hank"), mbody="to bare %d" % i)
                for i in range(3):
                    m = await next_msg(qhi)
                    self.assertEqual(m["body"], "to bare %d" % i)
                    self.assertEqual(str(m["to"]), jid("hank"))   # 'to' is not rewritten
                    self.assertEqual(str(m["from"]), jid("ivan", "s"))
                extra = await no_msg(qlo, 1.0)
                self.assertIsNone(extra, "priority-1 resource got %s" % extra)
                # a full JID still reaches the low-priority resource
                s.send_message(mto=jid("hank", "lo"), mbody="direct")
                m = await next_msg(qlo)
                self.assertEqual(m["body"], "direct")
                self.assertIsNone(await no_msg(qhi, 0.5))
            finally:
                await disconnect_all(hi, lo, s)
        run(go())

    def test_09_message_to_nonexistent_user(self):
        async def go():
            c = make_client(jid("judy", "x"), PW, SRV.cert)
            q = inbox(c)
            await connect_client(c, SRV.port("c2s"))
            try:
                c.send_message(mto="nobody-here@localhost", mbody="anyone?", mtype="chat")
                m = await next_msg(q)
                self.assertEqual(m["type"], "error")
                self.assertEqual(m["error"]["condition"], "service-unavailable")
                self.assertEqual(str(m["from"]), "nobody-here@localhost")
                # an existing account with no available resource keeps it
                # (XEP-0160, tests/integration/test_offline.py): no error
                c.send_message(mto=jid("ivan"), mbody="offline?", mtype="chat")
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(q.get(), 1.0)
                # a domain that is not ours
                c.send_message(mto="someone@remote.example", mbody="far away", mtype="chat")
                m = await next_msg(q)
                self.assertEqual((m["type"], m["error"]["condition"]), ("error", "remote-server-not-found"))
                self.assertEqual(str(m["from"]), "someone@remote.example")
                # an iq to a nonexistent user: error too
                from slixmpp.exceptions import IqError
                iq = c.make_iq_get(queryxmlns=TEST_NS, ito="nobody-here@localhost/r")
                with self.assertRaises(IqError) as cm:
                    await iq.send(timeout=5)
                self.assertEqual(cm.exception.iq["error"]["condition"], "service-unavailable")
            finally:
                await disconnect_all(c)
        run(go())

    def test_10_iq_unknown_namespace_and_disco_on_server(self):
        from slixmpp.exceptions import IqError

        async def go():
            c = make_client(jid("kim", "x"), PW, SRV.cert)
            await connect_client(c, SRV.port("c2s"))
            try:
                iq = c.make_iq_get(queryxmlns="urn:example:nothing-here", ito=DOMAIN)
                with self.assertRaises(IqError) as cm:
                    await iq.send(timeout=5)
                e = cm.exception.iq
                self.assertEqual(e["type"], "error")
                self.assertEqual(e["error"]["condition"], "service-unavailable")
                self.assertEqual(str(e["from"]), DOMAIN)
                # disco#info on the server
                info = await c["xep_0030"].get_info(jid=DOMAIN, timeout=5)
                self.assertEqual(info["type"], "result")
                feats = info["disco_info"]["features"]
                self.assertIn("http://jabber.org/protocol/disco#info", feats)
                self.assertIn("urn:xmpp:ping", feats)
                cats = [(i[0], i[1]) for i in info["disco_info"]["identities"]]
                self.assertIn(("server", "im"), cats)
                # ping and version answered too
                r = await c["xep_0199"].send_ping(DOMAIN, timeout=5)
                self.assertEqual(r["type"], "result")
                v = c.make_iq_get(queryxmlns="jabber:iq:version", ito=DOMAIN)
                r = await v.send(timeout=5)
                name = r.xml.find("{jabber:iq:version}query/{jabber:iq:version}name")
                self.assertIsNotNone(name, str(r))
            finally:
                await disconnect_all(c)
        run(go())

    def test_11_forged_from_is_replaced(self):
        async def go():
            a = make_client(jid("leo", "real"), PW, SRV.cert)
            b = make_client(jid("alice", "rcv"), PW, SRV.cert)
            qb = inbox(b)
            await asyncio.gather(connect_client(a, SRV.port("c2s")), connect_client(b, SRV.port("c2s")))
            try:
                mark = SRV.log_len()
                for forged in ("bob@localhost/evil", "admin@localhost", "localhost"):
                    a.send_message(mto=b.boundjid.full, mbody="from " + forged, mfrom=forged)
                    m = await next_msg(qb)
                    self.assertEqual(m["body"], "from " + forged)
                    self.assertEqual(str(m["from"]), jid("leo", "real"))
                self.assertIsNotNone(SRV.wait_log(r"'from' bob@localhost/evil replaced by leo@localhost/real",
                                                  3, mark))
            finally:
                await disconnect_all(a, b)
        run(go())

    def test_12_resource_conflict_kicks_old_session(self):
        async def go():
            old = make_client(jid("bob", "same"), PW, SRV.cert)
            new = make_client(jid("bob", "same"), PW, SRV.cert)
            peer = make_client(jid("carol", "peer"), PW, SRV.cert)
            qold, qnew, qpeer = inbox(old), inbox(new), inbox(peer)
            errors = asyncio.Queue()
            old.add_event_handler("stream_error", errors.put_nowait)
            old_gone = asyncio.get_event_loop().create_future()
            old.add_event_handler("disconnected",
                                  lambda e: old_gone.done() or old_gone.set_result(True))
            old.auto_reconnect = False
            await connect_client(peer, SRV.port("dtls"), direct_tls=True)
            await connect_client(old, SRV.port("c2s"))
            old_port = local_port(old)
            mark = SRV.log_len()
            await connect_client(new, SRV.port("c2s"))
            try:
                # consecutive connections: the two sessions sit on different mux threads
                self.assertNotEqual(mux_of(SRV, old_port)[0], mux_of(SRV, local_port(new))[0])
                err = await asyncio.wait_for(errors.get(), 5)
                self.assertEqual(err["condition"], "conflict")
                await asyncio.wait_for(old_gone, 5)
                self.assertIsNotNone(SRV.wait_log(r"resource conflict on bob@localhost/same", 3, mark))
                await asyncio.sleep(0.3)
                # the new session works both ways
                peer.send_message(mto=jid("bob", "same"), mbody="to the new one")
                m = await next_msg(qnew)
                self.assertEqual(m["body"], "to the new one")
                new.send_message(mto=peer.boundjid.full, mbody="new here")
                m = await next_msg(qpeer)
                self.assertEqual((m["body"], str(m["from"])), ("new here", jid("bob", "same")))
                self.assertTrue(qold.empty(), "old session still received a message")
            finally:
                await disconnect_all(new, peer, old)
        run(go())

    # -- raw wire checks ---------------------------------------------------------

    def test_13_require_encryption_plaintext(self):
        c = RawClient(SRV.port("c2s"), cafile=SRV.cert)
        try:
            feats = c.open_stream()
            self.assertIn("<stream:features>", feats)
            # RFC 6120 4.7.3: a unique, unpredictable stream id (128 random bits, in hex)
            id1 = harness.stream_id(feats)
            self.assertRegex(id1, r"^[0-9a-f]{32}$")
            self.assertRegex(feats, r"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\s*<required/>")
            self.assertNotIn("<mechanisms", feats)
            self.assertNotIn("<bind", feats)
            m = c.mark()
            c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                   % harness.plain_b64("alice", PW))
            got = c.read_until(re.compile(r"<failure|<stream:error"), 5, start=m)[m:]
            self.assertRegex(got, r"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>")
            self.assertNotIn("<success", got)
            # The stream survives: STARTTLS still works afterwards and then login does.
            c.starttls_negotiate()
            c.start_tls()
            feats = c.open_stream()
            self.assertIn("<mechanisms", feats)
            self.assertNotIn("<starttls", feats)
            id2 = harness.stream_id(feats)
            self.assertRegex(id2, r"^[0-9a-f]{32}$")
            self.assertNotEqual(id1, id2)
            res = c.login_plain("alice", PW, resource="afterstarttls")
            self.assertIn("<jid>alice@localhost/afterstarttls</jid>", res)
        finally:
            c.close()

    def test_13b_starttls_command_injection_discarded(self):
        # Plaintext pipelined after <starttls/> in the same packet must not be
        # acted on inside the TLS session (cf. CVE-2011-0411).
        c = RawClient(SRV.port("c2s"), cafile=SRV.cert)
        try:
            c.open_stream()
            c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                   "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                   % harness.plain_b64("alice", PW))
            got = c.read_until("<proceed", 5)
            self.assertIn("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", got)
            c.received = b""
            # The server discards the injected plaintext and completes the
            # handshake; a failed handshake is a failure of this test too.
            c.start_tls()
            after = c.read_until(re.compile("<success|<failure"), 1.0)
            self.assertNotIn("<success", after, "injected plaintext <auth/> was processed inside TLS")
            self.assertNotIn("<failure", after)
            feats = c.open_stream()
            self.assertIn("<mechanisms", feats, "stream is not back at the pre-auth state")
        finally:
            c.close()

    def test_13c_malformed_to_is_jid_malformed(self):
        # raw, so that no client library rewrites or rejects the address
        c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        try:
            c.open_stream()
            self.assertIn("<jid>alice@localhost/jm</jid>", c.login_plain("alice", PW, resource="jm"))
            for i, to in enumerate(("a@b@localhost", "@localhost", "user@", "user@local host",
                                    "x" * 1100 + "@localhost")):
                m = c.mark()
                c.send("<message to='%s' id='jm%d' type='chat'><body>x</body></message>" % (to, i))
                got = c.read_until(re.compile(r"</message>"), 5, start=m)[m:]
                self.assertRegex(got, r"<message[^>]*type=['\"]error['\"]", "to=%r: %r" % (to[:40], got[:300]))
                self.assertRegex(got, r"id=['\"]jm%d['\"]" % i)
                self.assertRegex(got, r"<jid-malformed xmlns=['\"]urn:ietf:params:xml:ns:xmpp-stanzas['\"]",
                                 "to=%r: %r" % (to[:40], got[:300]))
            # the stream is still usable
            m = c.mark()
            c.send("<iq type='get' id='after' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
            self.assertRegex(c.read_until("</iq>", 5, start=m)[m:] + c.read_until("/>", 0.1, start=m)[m:],
                             r"id=['\"]after['\"]")
        finally:
            c.close()

    def test_13d_message_to_closing_session_not_lost(self):
        """A message racing the recipient's stream close either reaches the
        recipient before its stream ends or, the resource gone, is kept
        offline for the account (RFC 6121 8.5.3.2.1, XEP-0160) and reaches
        its next initial presence: never lost.  Which of the two reaches
        the router first is a race, so it runs many times; the server's
        log shows how many took the hand-back path ("came back
        undelivered")."""
        a = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        mark = SRV.log_len()
        delivered, kept = 0, []
        try:
            a.open_stream()
            self.assertIn("<jid>kim@localhost/k</jid>", a.login_plain("kim", PW, resource="k"))
            for i in range(40):
                b = RawClient(SRV.port("c2s"), cafile=SRV.cert)
                try:
                    b.open_stream()
                    b.starttls_negotiate()
                    b.start_tls()
                    b.open_stream()
                    b.login_plain("leo", PW, resource="l%d" % i)
                    b.send("</stream:stream>")
                    a.send("<message to='leo@localhost/l%d' id='race%d' type='chat'>"
                           "<body>race %d</body></message>" % (i, i, i))
                    got_b = b.read_until_closed(5)
                finally:
                    b.close()
                if "<body>race %d</body>" % i in got_b:
                    delivered += 1
                else:
                    kept.append(i)
            self.assertNotRegex(a.read_until("\x00never", 0.5), r"type=['\"]error['\"]")
            # the next initial presence of the account gets the others
            c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
            try:
                c.open_stream()
                c.login_plain("leo", PW, resource="after")
                c.send("<presence/>")
                got = ""
                if kept:
                    got = c.read_until(re.compile(r"<body>race %d</body>" % kept[-1]), 10)
                later = [int(x) for x in re.findall(r"<body>race (\d+)</body>", got)]
                # each race is its own conversation: the set matters, not the order
                self.assertEqual(sorted(later), kept, got[-500:])
            finally:
                c.close()
            print("closing-session race: %d delivered before the close, %d kept offline, "
                  "%d of them handed back by a closing session"
                  % (delivered, len(kept),
                     len(re.findall("came back undelivered", SRV.log()[mark:]))))
            self.assertEqual(delivered + len(kept), 40)
        finally:
            a.close()

    def test_14_stanza_before_auth_over_tls(self):
        c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        try:
            c.open_stream()
            c.send("<message to='alice@localhost'><body>sneaky</body></message>")
            got = c.read_until_closed(5)
            self.assertEqual(stream_error_condition(got), "not-authorized", got)
            self.assertTrue(c.closed)
        finally:
            c.close()

    def test_15_direct_tls_without_starttls_inside(self):
        c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        try:
            feats = c.open_stream()
            self.assertIn("<stream:features>", feats)
            self.assertNotIn("starttls", feats)
            self.assertIn("<mechanism>PLAIN</mechanism>", feats)
            self.assertIn("<mechanism>SCRAM-SHA-256</mechanism>", feats)
            # asking anyway is refused, not honoured
            m = c.mark()
            c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            got = c.read_until_closed(5)[m:]
            self.assertNotIn("<proceed", got)
            # RFC 6120 5.4.2.2: <failure/> in the TLS namespace, then the stream is closed
            self.assertRegex(got, r"^<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'\s*/>")
            self.assertTrue(got.rstrip().endswith("</stream:stream>"), got)
            self.assertTrue(c.closed, "connection left open after refused STARTTLS")
        finally:
            c.close()

    def test_16_tls_inside_tls(self):
        mark = SRV.log_len()
        c = RawClient(SRV.port("dtls_in"), tls=True, cafile=SRV.cert)
        try:
            feats = c.open_stream()
            self.assertRegex(feats, r"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'")
            self.assertIn("<mechanisms", feats)
            c.starttls_negotiate()
            inner = c.start_inner_tls()
            self.assertIsNotNone(inner.version())
            cert = inner.getpeercert()
            self.assertIn((("commonName", "localhost"),), cert.get("subject", ()) or (), cert)
            feats = c.open_stream()
            self.assertIn("<stream:features>", feats)
            self.assertIn("<mechanism>PLAIN</mechanism>", feats)
            self.assertNotIn("<starttls", feats)
            res = c.login_plain("judy", PW, resource="nested")
            self.assertRegex(res, r"<iq[^>]*type=['\"]result['\"]")
            self.assertIn("<jid>judy@localhost/nested</jid>", res)
            _, cid = mux_of(SRV, c.sock.getsockname()[1])
            self.assertIsNotNone(SRV.wait_log(r"%s: TLS 1\.\d established \(layer 1" % re.escape(cid), 3, mark),
                                 "no inner TLS layer in the log")
            # a stanza through the inner session is answered
            m = c.mark()
            c.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
            got = c.read_until("</iq>", 5, start=m)
            self.assertRegex(got[m:], r"<iq[^>]*id=['\"]p1['\"]")
            self.assertRegex(got[m:], r"<iq[^>]*type=['\"]result['\"]")
        finally:
            c.close()

    # -- last: shutdown -----------------------------------------------------------

    def test_17_fin_after_a_request_gets_the_answer_and_the_closing_tag(self):
        # The client sends a request and its FIN together (a half-close):
        # the answer, our </stream:stream> and close_notify go out before
        # the socket closes (65a6e37 closed at once and lost the answer).
        c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        try:
            c.open_stream()
            self.assertIn("<jid>alice@localhost/fin</jid>", c.login_plain("alice", PW, resource="fin"))
            m = c.mark()
            c.send("<iq type='get' id='fin1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
            socket.socket.shutdown(c.sock, socket.SHUT_WR)   # FIN below the TLS layer
            got = c.read_until_closed(5)[m:]
        finally:
            c.close()
        self.assertRegex(got, r"<iq[^>]*id=[\"']fin1[\"']", got[-300:])
        self.assertTrue(got.rstrip().endswith("</stream:stream>"), got[-300:])

    def test_99_sigterm_system_shutdown(self):
        a = RawClient(SRV.port("c2s"), cafile=SRV.cert)
        b = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        n = RawClient(SRV.port("dtls_in"), tls=True, cafile=SRV.cert)
        try:
            n.open_stream()
            n.starttls_negotiate()
            n.start_inner_tls()
            n.open_stream()
            self.assertIn("<jid>leo@localhost/nested-down</jid>", n.login_plain("leo", PW, resource="nested-down"))
            a.open_stream()
            a.starttls_negotiate()
            a.start_tls()
            a.open_stream()
            self.assertIn("<jid>kim@localhost/down</jid>", a.login_plain("kim", PW, resource="down"))
            b.open_stream()                        # pre-auth stream
            SRV.check_clean_exit(self)
            for c in (a, b, n):
                got = c.read_until_closed(5)
                self.assertEqual(stream_error_condition(got), "system-shutdown", got[-500:])
                self.assertTrue(got.rstrip().endswith("</stream:stream>"), got[-200:])
            self.assertFalse(SRV.alive())
        finally:
            a.close()
            b.close()
            n.close()


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
