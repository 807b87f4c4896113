#!/usr/bin/python3
"""Idle sessions go to sleep and wake up (issue 3, memory target):

500 TLS sessions (half STARTTLS, half direct TLS) log in, then stay silent
past [limits] idle_sleep.  The server must put every one to sleep (TLS state
exported, XML parser freed), its RSS must drop by a real amount per session,
and then every session exchanges a message with a partner: the first bytes
from a sleeping client, and the first delivery to a sleeping one, wake it.
A session with TLS inside direct TLS sleeps and wakes too.

Run: /usr/bin/python3 test_idle_sleep.py --xmppd PATH --xmppctl PATH
"""

import asyncio
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_load  # noqa: E402  (its raw asyncio client)
from harness import DOMAIN, RawClient, Server, client_ssl_context  # noqa: E402

XMPPD = XMPPCTL = None
N = int(os.environ.get("XMPPD_IT_IDLE_CLIENTS", "500"))
# Long enough that the plain build's logins (~3 s for 500) finish before the
# first session sleeps, so "awake" RSS is measured with everyone awake; under
# sanitizers logins are slower and early sessions may sleep first, which is
# why sleeps are counted over the whole log.
IDLE = 8
IDLE_PAIR = 4  # the TLS-inside-TLS case: two sessions log in well within it


def sanitized(binary):
    """True for an ASan/TSan build: their allocators keep freed memory in
    quarantine or shadow, so RSS says nothing about what xmppd freed."""
    with open(binary, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class IdleSleep(unittest.TestCase):

    def test_500_sessions_sleep_and_wake(self):
        users = {"u%03d" % i: test_load.PW for i in range(N)}
        srv = Server(XMPPD, XMPPCTL, users=users, name="idle",
                     sections={"limits": {"idle_sleep": IDLE, "preauth_timeout": 120,
                                          # all from 127.0.0.1
                                          "exempt_networks": "127.0.0.1"}})
        try:
            srv.start()
            asyncio.run(asyncio.wait_for(self.scenario(srv), 120))
            srv.check_clean_exit(self)
        finally:
            srv.cleanup()

    async def scenario(self, srv):
        ctx = client_ssl_context(srv.cert)
        conns = [test_load.Conn(i, srv.port("dtls") if i % 2 else srv.port("c2s"), i % 2 == 1, ctx, "PLAIN")
                 for i in range(N)]
        sem = asyncio.Semaphore(50)

        async def login(c):
            async with sem:
                await c.login()
        res = await asyncio.gather(*(login(c) for c in conns), return_exceptions=True)
        errs = [r for r in res if isinstance(r, BaseException)]
        self.assertEqual(errs, [], "%d logins failed: %r" % (len(errs), errs[:3]))
        # everyone's presence has come back: the sessions are quiet now
        await asyncio.gather(*(c.read_until(r"<presence\b[^>]*/?>") for c in conns))
        await asyncio.sleep(0.3)
        awake = rss_kib(srv.proc.pid)

        # Silent clients get no traffic (no rosters: presence goes to the
        # account's own resources only), so each sleeps exactly once.
        deadline = time.monotonic() + IDLE + 30
        slept = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            slept = len(re.findall(r": idle, asleep$", srv.log(), re.M))
            if slept >= N:
                break
        self.assertEqual(slept, N, "only %d of %d sessions went to sleep" % (slept, N))
        await asyncio.sleep(0.5)
        asleep = rss_kib(srv.proc.pid)
        drop = (awake - asleep) * 1024 / N
        print("idle: RSS %d KiB with %d sessions awake, %d KiB asleep: %.0f bytes per session returned"
              % (awake, N, asleep, drop))
        # The parser (~13 KB) and TLS state (~3.5 KB) are freed per session,
        # but the heap is fragmented: measured ~3.5-4 KB of RSS per session
        # comes back.  Assert half of that, on builds where RSS means it.
        if sanitized(XMPPD):
            print("idle: sanitizer build: RSS not asserted (freed memory stays in the allocator's quarantine)")
        else:
            self.assertGreater(drop, 2048, "RSS fell by only %.0f bytes per session" % drop)

        # every session wakes: pairs exchange one message each way
        half = N // 2

        async def exchange(a, b):
            a.send("<message to='%s' type='chat'><body>wake %d</body></message>" % (b.full, a.idx))
            await b.read_until(r"<body>wake %d</body>" % a.idx, 30)
            b.send("<message to='%s' type='chat'><body>woke %d</body></message>" % (a.full, b.idx))
            await a.read_until(r"<body>woke %d</body>" % b.idx, 30)
            return 2
        res = await asyncio.gather(*(exchange(conns[i], conns[i + half]) for i in range(half)),
                                   return_exceptions=True)
        errs = [r for r in res if isinstance(r, BaseException)]
        self.assertEqual(errs, [], "%d pairs failed after waking: %r" % (len(errs), errs[:3]))
        self.assertEqual(sum(res), 2 * half)
        await asyncio.gather(*(c.close() for c in conns))

    def test_tls_inside_tls_sleeps_and_wakes(self):
        srv = Server(XMPPD, XMPPCTL, users={"alice": "pw-a", "bob": "pw-b"}, name="idle-tit",
                     sections={"limits": {"idle_sleep": IDLE_PAIR}})
        try:
            srv.start()
            inner = RawClient(srv.port("dtls_in"), tls=True, cafile=srv.cert)
            feats = inner.open_stream()
            self.assertIn("<starttls", feats)
            inner.starttls_negotiate()
            inner.start_inner_tls()
            inner.open_stream()
            self.assertIn("<jid>alice@localhost/in</jid>", inner.login_plain("alice", "pw-a", resource="in"))
            inner.send("<presence/>")
            bob = RawClient(srv.port("c2s"), cafile=srv.cert)
            bob.open_stream()
            bob.starttls_negotiate()
            bob.start_tls()
            bob.open_stream()
            self.assertIn("<jid>bob@localhost/b</jid>", bob.login_plain("bob", "pw-b", resource="b"))
            inner.read_until("<presence", 5)
            mark = srv.log_len()
            # both idle past idle_sleep: both asleep
            self.assertIsNotNone(srv.wait_log(r"idle, asleep", IDLE_PAIR + 10, mark))
            time.sleep(1)
            self.assertGreaterEqual(len(re.findall(r"idle, asleep", srv.log()[mark:])), 2)
            # a delivery wakes the TLS-inside-TLS session's two layers
            m = inner.mark()
            bob.send("<message to='alice@%s/in' type='chat'><body>inner wake</body></message>" % DOMAIN)
            self.assertIn("inner wake", inner.read_until("inner wake", 10, start=m)[m:])
            # and its own bytes through both layers wake it after another sleep
            mark = srv.log_len()
            self.assertIsNotNone(srv.wait_log(r"idle, asleep", IDLE_PAIR + 10, mark))
            m = bob.mark()
            inner.send("<message to='bob@%s/b' type='chat'><body>from inside</body></message>" % DOMAIN)
            self.assertIn("from inside", bob.read_until("from inside", 10, start=m)[m:])
            inner.close()
            bob.close()
            srv.check_clean_exit(self)
        finally:
            srv.cleanup()

    def test_openssl_key_update_after_sleep(self):
        """A real TLS 1.3 client (OpenSSL's s_client, STARTTLS) sends a
        KeyUpdate asking for ours ("K") after its session went to sleep;
        the woken session must follow both directions (RFC 8446 4.6.3):
        the ping after it is answered and the session stays up."""
        srv = Server(XMPPD, XMPPCTL, users={"alice": "pw-a"}, name="idle-ku",
                     sections={"limits": {"idle_sleep": IDLE_PAIR}})
        cli = None
        try:
            srv.start()
            cli = OpenSSLClient(srv.port("c2s"), srv.cert)
            cli.send(harness.stream_header())
            cli.read_until("</stream:features>")
            cli.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                     % harness.plain_b64("alice", "pw-a"))
            cli.read_until("<success")
            cli.send(harness.stream_header())
            cli.read_until("</stream:features>")
            cli.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                     "<resource>ossl</resource></bind></iq>")
            cli.read_until("alice@localhost/ossl")
            for gen in range(2):
                mark = srv.log_len()
                self.assertIsNotNone(srv.wait_log(r"idle, asleep", IDLE_PAIR + 10, mark),
                                     "the session did not go to sleep")
                cli.key_update()
                cli.send("<iq type='get' id='ku%d'><ping xmlns='urn:xmpp:ping'/></iq>" % gen)
                cli.read_until('<iq type="result" id="ku%d"' % gen)
            self.assertNotIn("tls: server session", srv.log())
            cli.close()
            cli = None
            srv.check_clean_exit(self)
        finally:
            if cli:
                cli.close()
            srv.cleanup()


class OpenSSLClient:
    """openssl s_client -starttls xmpp, TLS 1.3, driven through its stdin;
    interactive mode (no -quiet), so a line "K" sends a KeyUpdate with
    update_requested."""

    def __init__(self, port, cafile):
        import subprocess
        import threading
        self.proc = subprocess.Popen(
            ["openssl", "s_client", "-connect", "%s:%d" % (harness.LOCALHOST, port),
             "-starttls", "xmpp", "-xmpphost", DOMAIN, "-tls1_3", "-CAfile", cafile,
             "-verify_return_error", "-verify_hostname", DOMAIN],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.buf = b""
        self.cond = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()
        self.read_until("Verify return code: 0")

    def _reader(self):
        while True:
            data = self.proc.stdout.read1(65536)
            with self.cond:
                self.buf += data
                self.cond.notify_all()
            if not data:
                return

    def send(self, text):
        # one line per write: s_client reads commands at the start of a line
        data = text if isinstance(text, bytes) else text.encode()
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def key_update(self):
        self.send("K")
        self.read_until("KEYUPDATE")

    def read_until(self, needle, timeout=10.0):
        want = needle.encode()
        deadline = time.monotonic() + timeout
        with self.cond:
            while want not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.cond.wait(0.2)):
                    raise AssertionError("s_client: %r not seen in %r" % (needle, self.buf[-2000:]))
                self.cond.wait(min(left, 0.2))
            self.buf = self.buf[self.buf.index(want) + len(want):]

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
