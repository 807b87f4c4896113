#!/usr/bin/python3
"""SASL under abuse (RFC 6120 6.4, 6.5): every refused <auth/> or
<response/> counts toward the per-stream attempt limit and leaves no state
behind; a wrong password is answered only after the configured delay, which
doubles per failure from the same address; a channel-binding mismatch is
logged as such, at warning, not as a wrong password.

Run: /usr/bin/python3 test_sasl_abuse.py --xmppd PATH --xmppctl PATH
"""

import base64
import hashlib
import hmac
import os
import re
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import RawClient, Server, stream_error_condition  # noqa: E402

XMPPD = XMPPCTL = None
SRV = None
PW = "pw-sasl-abuse"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
DELAY_MS = 300        # auth_failure_delay_ms: long enough to tell from 0
MAX_ATTEMPTS = 7      # [sasl] max_auth_attempts (default 10)


def setUpModule():
    global SRV
    SRV = Server(XMPPD, XMPPCTL, users={"alice": PW},
                 sections={"sasl": {"auth_failure_delay_ms": DELAY_MS,
                                    "auth_failure_delay_max_ms": 4 * DELAY_MS,
                                    "max_auth_attempts": MAX_ATTEMPTS}},
                 name="sasl")
    SRV.start()


def tearDownModule():
    if SRV is not None:
        SRV.cleanup()


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def tls_client():
    c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
    feats = c.open_stream()
    return c, feats


def auth(c, mech, payload=None):
    body = "=" if payload == "" else (b64(payload) if payload is not None else "")
    c.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (SASL_NS, mech, body))


def read_sasl_answer(c, m, timeout=5.0):
    pat = re.compile(r"<challenge[^>]*>[^<]*</challenge>|<challenge[^>]*/>|<failure.*?</failure>|"
                     r"<success[^>]*>|</stream:stream>", re.S)
    return c.read_until(pat, timeout, start=m)[m:]


FAILURE_OR_END = re.compile(r"<failure.*?</failure>(?!.*<failure)|</stream:stream>", re.S)


class SaslAbuse(unittest.TestCase):

    def loop_until_closed(self, c, send_one, what):
        """Calls send_one until the server ends the stream; returns how many
        SASL failures came back before the stream error."""
        failures = 0
        for i in range(MAX_ATTEMPTS + 5):
            m = c.mark()
            try:
                send_one(c)
                # each round ends with a failure (or the stream error)
                got = c.read_until(FAILURE_OR_END, 5, start=m)[m:]
            except (OSError, ssl.SSLError):   # closed while we were still sending
                got = c.read_until_closed(5)[m:]
            failures += got.count("<failure")
            if "</stream:stream>" in got or c.closed:
                self.assertEqual(stream_error_condition(got), "policy-violation", got[-300:])
                return failures
        self.fail("%s: stream still open after %d attempts (%d failures): %r"
                  % (what, MAX_ATTEMPTS + 5, failures, c.text()[-400:]))

    def test_auth_in_the_wrong_state_counts(self):
        # <auth/> with no initial response starts an exchange (empty
        # challenge); a second <auth/> inside it is refused, and so on.
        c, _ = tls_client()
        try:
            def one(c):
                auth(c, "SCRAM-SHA-256")
                auth(c, "SCRAM-SHA-256", "n,,n=alice,r=abcdefghijklmnop")
            failures = self.loop_until_closed(c, one, "<auth/> inside an exchange")
            self.assertLessEqual(failures, MAX_ATTEMPTS)
            self.assertGreater(failures, 0)
        finally:
            c.close()

    def test_unoffered_mechanism_counts(self):
        c, _ = tls_client()
        try:
            failures = self.loop_until_closed(
                c, lambda c: auth(c, "DIGEST-MD5", "x"), "unoffered mechanism")
            self.assertEqual(failures, MAX_ATTEMPTS)
            self.assertIn("<invalid-mechanism/>", c.text())
        finally:
            c.close()

    def test_response_without_exchange_and_abort_count(self):
        c, _ = tls_client()
        try:
            def one(c):
                c.send("<response xmlns='%s'>%s</response>" % (SASL_NS, b64("x")))
                c.send("<abort xmlns='%s'/>" % SASL_NS)
            failures = self.loop_until_closed(c, one, "<response/> and <abort/>")
            self.assertLessEqual(failures, MAX_ATTEMPTS)
        finally:
            c.close()

    def test_state_is_reset_by_a_new_auth(self):
        # A half-done SCRAM exchange, refused, then a clean PLAIN login on
        # the same stream works: nothing of the first exchange is left.
        c, _ = tls_client()
        try:
            m = c.mark()
            auth(c, "SCRAM-SHA-256", "n,,n=alice,r=abcdefghijklmnop")
            self.assertIn("<challenge", read_sasl_answer(c, m))
            m = c.mark()
            auth(c, "PLAIN", "\0alice\0" + PW)      # wrong state: refused
            self.assertIn("<malformed-request/>", read_sasl_answer(c, m))
            self.assertIn("<jid>alice@localhost/reset</jid>",
                          c.login_plain("alice", PW, resource="reset"))
        finally:
            c.close()

    def test_failure_delay_is_applied_and_grows(self):
        # A fresh source address, so that no earlier failure doubles it.
        c = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert, source="127.0.0.7")
        try:
            c.open_stream()
            took = []
            for _ in range(2):
                m = c.mark()
                t0 = time.monotonic()
                auth(c, "PLAIN", "\0alice\0wrong-password")
                got = read_sasl_answer(c, m)
                took.append(time.monotonic() - t0)
                self.assertIn("<not-authorized/>", got)
            print("failure delays: %.0f ms, %.0f ms (configured %d ms, doubling)"
                  % (took[0] * 1000, took[1] * 1000, DELAY_MS))
            self.assertGreaterEqual(took[0], DELAY_MS / 1000.0)
            self.assertGreaterEqual(took[1], 2 * DELAY_MS / 1000.0)
        finally:
            c.close()

    def test_channel_binding_mismatch_is_logged_as_such(self):
        c, feats = tls_client()
        try:
            self.assertIn("SCRAM-SHA-256-PLUS", feats, "-PLUS not offered over TLS 1.3")
            mark = SRV.log_len()
            gs2 = "p=tls-exporter,,"
            first_bare = "n=alice,r=clientnonce0123456789"
            m = c.mark()
            auth(c, "SCRAM-SHA-256-PLUS", gs2 + first_bare)
            got = read_sasl_answer(c, m)
            ch = re.search(r"<challenge[^>]*>([^<]*)</challenge>", got)
            self.assertIsNotNone(ch, got)
            server_first = base64.b64decode(ch.group(1)).decode()
            nonce = re.search(r"r=([^,]*)", server_first).group(1)
            # binding data of some other TLS session: 32 bytes that are not ours
            cbind = b64(gs2.encode() + os.urandom(32))
            final = "c=%s,r=%s,p=%s" % (cbind, nonce, b64(os.urandom(32)))
            m = c.mark()
            c.send("<response xmlns='%s'>%s</response>" % (SASL_NS, b64(final)))
            got = read_sasl_answer(c, m)
            self.assertIn("<not-authorized/>", got)
            line = SRV.wait_log(r"warn .*authentication failed for alice@localhost .*channel binding mismatch",
                                3, mark)
            self.assertIsNotNone(line, "no distinct warning for a channel-binding mismatch")
            self.assertNotIn("wrong password", line.group(0))
        finally:
            c.close()

    def test_zz_clean_exit(self):
        self.assertTrue(SRV.alive())
        SRV.check_clean_exit(self)


def scram_plus_login(c, user, password, cb_type, cb_data):
    """A SCRAM-SHA-256-PLUS exchange written out here (RFC 5802, 7677), so
    that the test controls the channel-binding type and data; returns the
    server's final answer."""
    gs2 = "p=%s,," % cb_type
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, cnonce)
    m = c.mark()
    auth(c, "SCRAM-SHA-256-PLUS", gs2 + first_bare)
    got = read_sasl_answer(c, m)
    ch = re.search(r"<challenge[^>]*>([^<]*)</challenge>", got)
    if not ch:
        return got
    server_first = base64.b64decode(ch.group(1)).decode()
    f = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(f["s"]), int(f["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    final_bare = "c=%s,r=%s" % (b64(gs2.encode() + cb_data), f["r"])
    auth_msg = ",".join((first_bare, server_first, final_bare)).encode()
    sig = hmac.new(stored, auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    m = c.mark()
    c.send("<response xmlns='%s'>%s</response>" % (SASL_NS, b64(final_bare + ",p=" + b64(proof))))
    return read_sasl_answer(c, m)


class ServerEndPoint(unittest.TestCase):
    """tls-server-end-point (RFC 5929): -PLUS on TLS 1.2 as well as 1.3,
    advertised with XEP-0440 beside tls-exporter."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(XMPPD, XMPPCTL, users={"alice": PW}, name="end-point",
                         sections={"sasl": {"auth_failure_delay_ms": 0,
                                            "auth_failure_delay_max_ms": 0}})
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def client(self, max_version):
        c = RawClient(self.srv.port("dtls"), cafile=self.srv.cert)
        ctx = harness.client_ssl_context(self.srv.cert)
        ctx.maximum_version = max_version
        c.sock = ctx.wrap_socket(c.sock, server_hostname=harness.DOMAIN)
        feats = c.open_stream()
        # our generated certificate is signed with ECDSA-SHA256: SHA-256
        end_point = hashlib.sha256(c.sock.getpeercert(binary_form=True)).digest()
        return c, feats, end_point

    def test_tls12_and_tls13(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            c, feats, end_point = self.client(version)
            try:
                self.assertIn("<mechanism>SCRAM-SHA-256-PLUS</mechanism>", feats, version)
                self.assertIn("<channel-binding type='tls-server-end-point'/>", feats)
                if version == ssl.TLSVersion.TLSv1_3:
                    self.assertIn("<channel-binding type='tls-exporter'/>", feats)
                else:
                    self.assertNotIn("tls-exporter", feats)
                got = scram_plus_login(c, "alice", PW, "tls-server-end-point", end_point)
                self.assertIn("<success", got, "%s: %r" % (version, got[-300:]))
            finally:
                c.close()

    def test_other_certificate_is_refused(self):
        c, _, end_point = self.client(ssl.TLSVersion.TLSv1_2)
        mark = self.srv.log_len()
        try:
            got = scram_plus_login(c, "alice", PW, "tls-server-end-point",
                                   hashlib.sha256(b"another certificate").digest())
            self.assertIn("<not-authorized/>", got)
            self.assertIsNotNone(self.srv.wait_log(r"warn .*channel binding mismatch", 3, mark))
        finally:
            c.close()

    def test_zz_clean_exit(self):
        self.srv.check_clean_exit(self)


class FakeIterations(unittest.TestCase):
    """An unknown user's SCRAM challenge shows an iteration count that real
    accounts use, also after [sasl] scram_iterations changed: the accounts
    here were made with 4096, then the server runs with 8192."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(XMPPD, XMPPCTL, users={"alice": PW, "bob": PW}, name="fake-iter",
                         sections={"sasl": {"scram_iterations": 4096}})
        cls.srv.start()
        cls.srv.stop()
        cls.srv.users = {}
        cls.srv.cfg["sasl"]["scram_iterations"] = 8192
        cls.srv._write_ini()
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def server_first(self, user):
        c = RawClient(self.srv.port("dtls"), tls=True, cafile=self.srv.cert)
        try:
            c.open_stream()
            m = c.mark()
            auth(c, "SCRAM-SHA-256", "n,,n=%s,r=abcdefghijklmnop" % user)
            got = read_sasl_answer(c, m)
            ch = re.search(r"<challenge[^>]*>([^<]*)</challenge>", got)
            self.assertIsNotNone(ch, got)
            f = dict(kv.split("=", 1) for kv in base64.b64decode(ch.group(1)).decode().split(","))
            return f["i"], f["s"]
        finally:
            c.close()

    def test_unknown_users_look_like_real_ones(self):
        real = self.server_first("alice")
        self.assertEqual(real[0], "4096")
        fakes = [self.server_first("nobody%d" % i) for i in range(6)]
        print("iterations: alice %s, unknown users %s (scram_iterations now 8192)"
              % (real[0], ", ".join(i for i, _ in fakes)))
        # 65a6e37 answered every unknown name with the configured 8192
        self.assertEqual({i for i, _ in fakes}, {"4096"})
        # and the same name gets the same answer each time
        self.assertEqual(self.server_first("nobody0"), fakes[0])

    def test_zz_clean_exit(self):
        self.srv.check_clean_exit(self)


class PlainTiming(unittest.TestCase):
    """PLAIN's PBKDF2 runs on the storage thread, for unknown users too: a
    wrong password and an unknown user take the same time, and a mux
    thread keeps serving others meanwhile."""

    ITER = 100000   # makes one PBKDF2 take tens of milliseconds

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(XMPPD, XMPPCTL, users={"alice": PW, "bob": PW},
                         sections={"sasl": {"auth_failure_delay_ms": 0,
                                            "auth_failure_delay_max_ms": 0,
                                            "scram_iterations": cls.ITER},
                                   "server": {"threads": 1}},
                         name="plain-timing")
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def failure_time(self, user):
        c = RawClient(self.srv.port("dtls"), tls=True, cafile=self.srv.cert)
        try:
            c.open_stream()
            m = c.mark()
            t0 = time.monotonic()
            auth(c, "PLAIN", "\0%s\0wrong-password" % user)
            got = read_sasl_answer(c, m, timeout=20)
            took = time.monotonic() - t0
            self.assertIn("<not-authorized/>", got)
            return took
        finally:
            c.close()

    def test_unknown_user_takes_as_long(self):
        known = sorted(self.failure_time("alice") for _ in range(5))[2]
        unknown = sorted(self.failure_time("nobody%d" % i) for i in range(5))[2]
        PlainTiming.known = known
        print("PLAIN failure with %d iterations: wrong password %.1f ms, unknown user %.1f ms"
              % (self.ITER, known * 1000, unknown * 1000))
        # 65a6e37 answered an unknown user without any PBKDF2 (~1 ms against
        # ~100): the medians of five must be of the same order (the bounds
        # leave room for a busy machine)
        self.assertGreater(unknown, 0.4 * known)
        self.assertLess(unknown, 2.5 * known + 0.01)

    def test_mux_thread_serves_others_meanwhile(self):
        # one mux thread: bob's pings are answered while PLAIN checks run
        bob = RawClient(self.srv.port("dtls"), tls=True, cafile=self.srv.cert)
        try:
            bob.open_stream()
            bob.login_plain("bob", PW, resource="pinger")
            others = []
            for i in range(4):
                c = RawClient(self.srv.port("dtls"), tls=True, cafile=self.srv.cert)
                c.open_stream()
                auth(c, "PLAIN", "\0alice\0wrong-password")
                others.append(c)
            worst = 0.0
            for i in range(5):
                m = bob.mark()
                t0 = time.monotonic()
                bob.send("<iq type='get' id='p%d' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>" % i)
                got = bob.read_until(re.compile(r"id=[\"']p%d[\"']" % i), 10, start=m)
                self.assertRegex(got[m:], r"id=[\"']p%d[\"']" % i)
                worst = max(worst, time.monotonic() - t0)
            for c in others:
                c.close()
        finally:
            bob.close()
        print("ping round trips while 4 PLAIN checks run: worst %.1f ms" % (worst * 1000))
        # on the mux thread the four checks would hold a ping up to 4 x one
        # PBKDF2 (~100 ms each)
        self.assertLess(worst, max(0.1, 0.5 * getattr(PlainTiming, "known", 0.1)))


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
