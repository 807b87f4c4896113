#!/usr/bin/python3
"""Load: 200 concurrent TLS clients written with raw asyncio streams (no
slixmpp, for speed).  Half use STARTTLS, half direct TLS; three quarters
authenticate with SASL PLAIN, a quarter with SCRAM-SHA-256 (no channel
binding, a small client below).  Each binds and sends presence; then 100
pairs exchange one message each way.  Asserts that all 200 log in and all
messages arrive, within ~60 s, and prints figures.

Run: /usr/bin/python3 test_load.py --xmppd PATH --xmppctl PATH
"""

import asyncio
import base64
import hashlib
import hmac
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (BIND_NS, DOMAIN, LOCALHOST, SASL_NS, TLS_NS, Server,  # noqa: E402
                     client_ssl_context, plain_b64, stream_header)

XMPPD = XMPPCTL = None
N_CLIENTS = int(os.environ.get("XMPPD_IT_LOAD_CLIENTS", "200"))
BUDGET = 60.0
PW = "load-pw"


class Conn:
    """One raw XMPP client over asyncio streams."""

    def __init__(self, idx, port, direct_tls, ctx, mech):
        self.idx = idx
        self.user = "u%03d" % idx
        self.full = "%s@%s/r%d" % (self.user, DOMAIN, idx)
        self.port, self.direct_tls, self.ctx, self.mech = port, direct_tls, ctx, mech
        self.buf = ""
        self.pos = 0           # consumed up to here
        self.r = self.w = None

    async def read_until(self, pattern, timeout=30.0):
        """Wait for regex `pattern` after the consumed position; return the
        match and consume through it."""
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("%s: timed out waiting for %r; got %r" %
                                   (self.user, pattern, self.buf[self.pos:][-300:]))
            data = await asyncio.wait_for(self.r.read(65536), left)
            if not data:
                raise ConnectionError("%s: closed while waiting for %r; got %r" %
                                      (self.user, pattern, self.buf[self.pos:][-300:]))
            self.buf += data.decode("utf-8", "replace")

    def send(self, s):
        self.w.write(s.encode())

    async def open_stream(self):
        self.send(stream_header().decode())
        m = await self.read_until(r"<stream:features>(.*?)</stream:features>")
        return m.group(1)

    async def login(self):
        if self.direct_tls:
            self.r, self.w = await asyncio.open_connection(LOCALHOST, self.port, ssl=self.ctx,
                                                           server_hostname=DOMAIN)
        else:
            self.r, self.w = await asyncio.open_connection(LOCALHOST, self.port)
            feats = await self.open_stream()
            assert "<starttls" in feats, feats
            self.send("<starttls xmlns='%s'/>" % TLS_NS)
            await self.read_until(r"<proceed[^>]*/>")
            await self.w.start_tls(self.ctx, server_hostname=DOMAIN)
            self.buf, self.pos = "", 0
        feats = await self.open_stream()
        assert "<mechanism>%s</mechanism>" % self.mech in feats, feats
        if self.mech == "PLAIN":
            self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL_NS, plain_b64(self.user, PW)))
            m = await self.read_until(r"<(success|failure)\b")
            assert m.group(1) == "success", self.buf[-300:]
        else:
            await self.scram_sha256()
        self.buf, self.pos = "", 0
        feats = await self.open_stream()
        assert "<bind" in feats, feats
        self.send("<iq type='set' id='b%d'><bind xmlns='%s'><resource>r%d</resource></bind></iq>"
                  % (self.idx, BIND_NS, self.idx))
        m = await self.read_until(r"<jid>([^<]*)</jid>")
        assert m.group(1) == self.full, (m.group(1), self.full)
        self.send("<presence/>")
        await self.w.drain()

    async def scram_sha256(self):
        """SCRAM-SHA-256 with gs2 header 'n,,' (no channel binding)."""
        cnonce = base64.b64encode(os.urandom(18)).decode()
        bare = "n=%s,r=%s" % (self.user, cnonce)
        self.send("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>" %
                  (SASL_NS, base64.b64encode(("n,," + bare).encode()).decode()))
        m = await self.read_until(r"<(challenge|failure)[^>]*>([^<]*)<")
        assert m.group(1) == "challenge", self.buf[-300:]
        server_first = base64.b64decode(m.group(2)).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(cnonce), server_first
        salt, it = base64.b64decode(attrs["s"]), int(attrs["i"])
        salted = hashlib.pbkdf2_hmac("sha256", PW.encode(), salt, it)
        ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(ckey).digest()
        final_wo = "c=%s,r=%s" % (base64.b64encode(b"n,,").decode(), attrs["r"])
        auth_msg = ",".join([bare, server_first, final_wo]).encode()
        sig = hmac.new(stored, auth_msg, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(ckey, sig))
        final = final_wo + ",p=" + base64.b64encode(proof).decode()
        self.send("<response xmlns='%s'>%s</response>" % (SASL_NS, base64.b64encode(final.encode()).decode()))
        m = await self.read_until(r"<(success|failure)[^>]*>([^<]*)<|<(success)[^>]*/>")
        assert (m.group(1) or m.group(3)) == "success", self.buf[-300:]
        # verify the server signature (mutual authentication)
        skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        want = "v=" + base64.b64encode(hmac.new(skey, auth_msg, hashlib.sha256).digest()).decode()
        got = base64.b64decode(m.group(2) or "").decode()
        assert got == want, (got, want)

    async def close(self):
        if self.w is None:
            return
        try:
            self.send("</stream:stream>")
            await asyncio.wait_for(self.w.drain(), 2)
            self.w.close()
            await asyncio.wait_for(self.w.wait_closed(), 2)
        except Exception:
            pass


class Load(unittest.TestCase):

    def test_200_clients_100_pairs(self):
        users = {"u%03d" % i: PW for i in range(N_CLIENTS)}
        srv = Server(XMPPD, XMPPCTL, users=users, name="load",
                     sections={"limits": {"preauth_timeout": 60,
                                          "exempt_networks": "127.0.0.1"}})  # all from here
        t0 = time.monotonic()
        try:
            srv.start()
            setup = time.monotonic() - t0
            figures = asyncio.run(asyncio.wait_for(self.scenario(srv), BUDGET))
            n_bound = len(re.findall(r": bound u\d{3}@localhost/r\d+$", srv.log(), re.M))
            self.assertEqual(n_bound, N_CLIENTS, "server log shows %d bound sessions" % n_bound)
            muxes = set(re.findall(r"\[(mux\d+)\] c\d+\.\d+: bound u", srv.log()))
            self.assertEqual(muxes, {"mux0", "mux1"})
            srv.check_clean_exit(self)
            print("load: set-up (accounts, certificate, start) %.1fs" % setup)
            for line in figures:
                print("load: " + line)
        finally:
            srv.cleanup()

    async def scenario(self, srv):
        ctx = client_ssl_context(srv.cert)
        conns = []
        for i in range(N_CLIENTS):
            direct = i % 2 == 1
            port = srv.port("dtls") if direct else srv.port("c2s")
            conns.append(Conn(i, port, direct, ctx, "SCRAM-SHA-256" if i % 4 == 2 else "PLAIN"))
        t0 = time.monotonic()
        res = await asyncio.gather(*(c.login() for c in conns), return_exceptions=True)
        t_login = time.monotonic() - t0
        errs = [(c.user, r) for c, r in zip(conns, res) if isinstance(r, BaseException)]
        self.assertEqual(errs, [], "%d of %d logins failed, first: %r" %
                         (len(errs), N_CLIENTS, errs[:3]))
        await asyncio.sleep(0.5)      # presence reaches the router

        half = N_CLIENTS // 2
        pairs = [(conns[i], conns[i + half]) for i in range(half)]

        async def exchange(a, b):
            body = "m %s to %s" % (a.user, b.user)
            a.send("<message to='%s' type='chat' id='x%d'><body>%s</body></message>" % (b.full, a.idx, body))
            m = await b.read_until(r"<message\b([^>]*)>\s*<body>%s</body>" % re.escape(body), 30)
            assert "from='%s'" % a.full in m.group(1) or 'from="%s"' % a.full in m.group(1), m.group(0)
            body2 = "re %s to %s" % (b.user, a.user)
            b.send("<message to='%s' type='chat'><body>%s</body></message>" % (a.full, body2))
            await a.read_until(r"<body>%s</body>" % re.escape(body2), 30)
            return 2

        t1 = time.monotonic()
        res = await asyncio.gather(*(exchange(a, b) for a, b in pairs), return_exceptions=True)
        t_msg = time.monotonic() - t1
        errs = [r for r in res if isinstance(r, BaseException)]
        delivered = sum(r for r in res if not isinstance(r, BaseException))
        self.assertEqual(errs, [], "%d of %d pairs failed, first: %r" % (len(errs), half, errs[:3]))
        self.assertEqual(delivered, 2 * half)
        t2 = time.monotonic()
        await asyncio.gather(*(c.close() for c in conns))
        t_close = time.monotonic() - t2
        return [
            "%d clients logged in (TLS + SASL + bind + presence) concurrently in %.2fs (%.1f logins/s)"
            % (N_CLIENTS, t_login, N_CLIENTS / t_login),
            "%d messages delivered (%d pairs, one each way) in %.2fs (%.0f messages/s)"
            % (delivered, half, t_msg, delivered / t_msg),
            "%d clients closed in %.2fs" % (N_CLIENTS, t_close),
        ]


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
