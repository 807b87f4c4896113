#!/usr/bin/python3
"""The HTTP gateway's HTTP/1.1 layer (issue 13, step 1 of
docs/internals/gateway.md), with raw sockets: `type = http` and `type =
https` listeners served by a gateway thread of their own.

- keep-alive: two requests on one connection get two answers; pipelined
  requests are answered in order; HTTP/1.0 and Connection: close end the
  connection after the answer; HEAD gets the header section only;
- nothing is mounted yet: 404; an unknown method 501;
- bad requests get their status and a close, and each says why in the
  log: a garbage request line 400, a header section over [http]
  max_header_bytes 431, a body over max_body_bytes 413 (announced, and
  chunked), a target over max_target_bytes 414, HTTP/2.0 505, an
  HTTP/1.1 request without Host 400 (RFC 9112 3.2); meanwhile
  another client is served;
- the pre-auth timeout closes an idle connection without a word, and
  answers a request cut short with 408;
- https: TLS from the first byte, with ALPN http/1.1;
- GET /metrics where a listener enables it: Prometheus text whose every
  family has its HELP and TYPE, every thread's part in it, counters that
  move when a message is routed and connections counted by kind; HEAD
  too, POST 405, 404 where not enabled, 403 for a peer outside
  metrics_allow (loopback by default);
- the c2s listener still works beside them, the log says how many
  gateway threads run, and xmppctl sessions (which asks every thread)
  answers.

Run: /usr/bin/python3 test_http.py --xmppd PATH --xmppctl PATH
"""

import os
import re
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import LOCALHOST, Server  # noqa: E402

XMPPD = XMPPCTL = None
SRV = None
PREAUTH_TIMEOUT = 2


def setUpModule():
    global SRV
    SRV = Server(XMPPD, XMPPCTL, users={"alice": "pw-alice", "bob": "pw-bob"}, name="http",
                 sections={"http": {"max_header_bytes": 2048, "max_body_bytes": 4096,
                                    "max_target_bytes": 256},
                           "limits": {"preauth_timeout": PREAUTH_TIMEOUT}},
                 listeners={"dtls": {"mode": "direct_tls"},
                            "web": {"type": "http", "metrics": "true"},
                            "webs": {"type": "https"},
                            "webm": {"type": "http", "metrics": "true",
                                     "metrics_allow": "10.0.0.0/8, 192.0.2.1"}})
    SRV.start()


def tearDownModule():
    # a clean exit: code 0, no error or sanitizer lines (leaks included)
    try:
        SRV.check_clean_exit(unittest.TestCase())
    finally:
        SRV.cleanup()


class Conn:
    """A raw HTTP/1.1 client connection that reads whole responses."""

    def __init__(self, listener="web", tls=False):
        self.sock = socket.create_connection((LOCALHOST, SRV.port(listener)), timeout=10)
        if tls:
            ctx = ssl.create_default_context(cafile=SRV.cafile)
            ctx.set_alpn_protocols(["http/1.1"])
            self.sock = ctx.wrap_socket(self.sock, server_hostname=SRV.domain)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("closed; had %r" % self.buf)
        self.buf += data

    def response(self, head=False):
        """(status, {lower-case header: value}, body) of the next response."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = top.decode().split("\r\n")
        status = int(lines[0].split(" ")[1])
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        n = 0 if head else int(hdrs["content-length"])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def closed(self, timeout=5):
        """True when the server closes the connection (and sent nothing more)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False
        self.buf += data
        return not data

    def close(self):
        self.sock.close()


def get(path="/", extra=""):
    return "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % (path, extra)


class Http(unittest.TestCase):
    def conn(self, **kw):
        c = Conn(**kw)
        self.addCleanup(c.close)
        return c

    def test_01_keep_alive_and_pipelining(self):
        c = self.conn()
        c.send(get("/a"))
        status, hdrs, body = c.response()
        self.assertEqual(status, 404)
        self.assertNotIn("connection", hdrs)
        self.assertRegex(hdrs["date"], r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")
        self.assertEqual(body, b"Not Found\n")
        # the same connection serves the next one, and pipelined ones in order
        c.send(get("/b") + "HEAD /c HTTP/1.1\r\nHost: localhost\r\n\r\n" + get("/d"))
        self.assertEqual(c.response()[0], 404)
        status, hdrs, _ = c.response(head=True)
        self.assertEqual((status, hdrs["content-length"]), (404, "10"))
        self.assertEqual(c.response()[0], 404)
        self.assertEqual(c.buf, b"")
        # a request split into single bytes is one request
        for ch in get("/e"):
            c.send(ch)
        self.assertEqual(c.response()[0], 404)
        self.assertFalse(c.closed(timeout=0.3))

    def test_02_close_after_answer(self):
        for req in ("GET / HTTP/1.0\r\n\r\n", get("/", "Connection: close\r\n")):
            c = self.conn()
            c.send(req)
            status, hdrs, _ = c.response()
            self.assertEqual((status, hdrs.get("connection")), (404, "close"))
            self.assertTrue(c.closed())

    def test_03_methods(self):
        c = self.conn()
        c.send("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello")
        self.assertEqual(c.response()[0], 404)
        c.send("DELETE /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(c.response()[0], 501)
        self.assertFalse(c.closed(timeout=0.3))

    def refused(self, request, status, log):
        at = SRV.log_len()
        c = self.conn()
        c.send(request)
        got, hdrs, _ = c.response()
        self.assertEqual((got, hdrs.get("connection")), (status, "close"))
        self.assertTrue(c.closed())
        self.assertTrue(SRV.wait_log(r"HTTP %d to 127\.0\.0\.1:\d+: %s" % (status, log), start=at),
                        "no log line for %d" % status)

    def test_04_bad_requests(self):
        bystander = self.conn()
        self.refused("HELLO THERE\r\n\r\n", 400, "Invalid method")
        self.refused(get("/", "X-Pad: %s\r\n" % ("a" * 2100)), 431, "header section too large")
        # at the limit it passes: 2048 bytes of request line and headers
        c = self.conn()
        base = len(get("/", "X-Pad: \r\n"))
        c.send(get("/", "X-Pad: %s\r\n" % ("a" * (2048 - base))))
        self.assertEqual(c.response()[0], 404)
        self.refused("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4097\r\n\r\n", 413,
                     "Content-Length over the body limit")
        self.refused("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "800\r\n%s\r\n800\r\n%s\r\n1\r\nx\r\n0\r\n\r\n" % ("a" * 2048, "b" * 2048),
                     413, "chunked body over the body limit")
        self.refused(get("/" + "p" * 300), 414, "request target too long")
        self.refused("GET / HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 request without Host")
        self.refused("GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505,
                     "HTTP version not supported")
        # the other client was served throughout
        bystander.send(get("/still"))
        self.assertEqual(bystander.response()[0], 404)

    def test_05_timeouts(self):
        idle = self.conn()
        idle.send(get("/"))
        self.assertEqual(idle.response()[0], 404)
        cut = self.conn()
        cut.send("GET / HTTP/1.1\r\nHost: loc")
        t0 = time.monotonic()
        self.assertTrue(idle.closed(timeout=PREAUTH_TIMEOUT + 5))
        self.assertEqual(idle.buf, b"")  # closed without a word
        status, hdrs, _ = cut.response()
        self.assertEqual((status, hdrs.get("connection")), (408, "close"))
        self.assertTrue(cut.closed())
        self.assertLess(time.monotonic() - t0, PREAUTH_TIMEOUT + 3)

    def test_06_https(self):
        c = self.conn(listener="webs", tls=True)
        self.assertEqual(c.sock.selected_alpn_protocol(), "http/1.1")
        c.send(get("/"))
        self.assertEqual(c.response()[0], 404)
        c.send(get("/again"))
        self.assertEqual(c.response()[0], 404)

    def test_07_beside_c2s(self):
        self.assertTrue(SRV.wait_log(r"ready: 2 mux thread\(s\), 1 gateway thread\(s\)"))
        self.assertTrue(re.search(r"listening on 127\.0\.0\.1 port %d \(web, http, plaintext\)"
                                  % SRV.port("web"), SRV.log()))
        alice = SRV.login("alice", "pw-alice", "r")
        self.addCleanup(alice.close)
        alice.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        self.assertIn("p1", alice.read_until(r"id=.p1."))
        # the control socket asks every thread, the gateway's too, and
        # gets its answer while an HTTP connection is open there
        web = self.conn()
        web.send(get("/"))
        self.assertEqual(web.response()[0], 404)
        self.assertIn("alice@localhost/r", SRV._ctl(["sessions"]))

    def metrics(self, listener="web"):
        c = self.conn(listener=listener)
        c.send(get("/metrics"))
        status, hdrs, body = c.response()
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        self.assertEqual(hdrs.get("connection"), "close")
        self.assertTrue(c.closed())
        return parse_prometheus(self, body.decode())

    def test_08_metrics(self):
        m = self.metrics()
        # 2 mux threads, 1 gateway thread, the router, the storage: all answered
        self.assertEqual(m[("xmppd_metrics_parts", 'part="asked"')], 5)
        self.assertEqual(m[("xmppd_metrics_parts", 'part="answered"')], 5)
        for q in ("router", "mux0", "mux1", "http0", "storage"):
            self.assertIn(("xmppd_queue_depth_messages", 'queue="%s"' % q), m)
        # this very connection, on the gateway thread
        self.assertGreaterEqual(m[("xmppd_connections", 'kind="http",state="awake"')], 1)
        self.assertGreater(m[("process_resident_memory_bytes", "")], 1 << 20)
        # a session and a routed message move the figures
        alice = SRV.login("alice", "pw-alice", "m8")
        self.addCleanup(alice.close)
        before = m[("xmppd_stanzas_routed_total", "")]
        for i in range(3):
            alice.send("<message to='alice@localhost/m8' id='m%d'><body>x</body></message>" % i)
        alice.read_until(r"id=.m2.")
        m = self.metrics()
        self.assertGreaterEqual(m[("xmppd_stanzas_routed_total", "")], before + 3)
        self.assertGreaterEqual(m[("xmppd_connections", 'kind="c2s",state="awake"')], 1)
        self.assertGreaterEqual(m[("xmppd_sessions", "")], 1)

    def test_08b_metrics_counters(self):
        """TLS handshakes by version, SASL failures, offline stores, limits
        hit and the storage histogram move with what they count."""
        m0 = self.metrics()
        alice = SRV.login("alice", "pw-alice", "m8b")  # direct TLS 1.3, PLAIN
        self.addCleanup(alice.close)
        # a wrong password
        c = harness.RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cafile)
        self.addCleanup(c.close)
        c.open_stream(to=SRV.domain)
        c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
               % (harness.SASL_NS, harness.plain_b64("alice", "wrong")))
        c.read_until("<failure", 5)
        # a message for an account that is offline is stored
        alice.send("<message to='bob@localhost' id='off1'><body>later</body></message>")
        # a stanza over preauth_max_stanza
        x = harness.RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cafile)
        self.addCleanup(x.close)
        x.open_stream(to=SRV.domain)
        x.send("<foo>" + "x" * 40000)
        x.read_until("policy-violation", 5)
        deadline = time.monotonic() + 5
        while True:
            m = self.metrics()
            if m[("xmppd_offline_stored_total", "")] >= m0[("xmppd_offline_stored_total", "")] + 1 \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        tls13 = ("xmppd_tls_handshakes_total", 'version="1.3"')
        self.assertGreaterEqual(m[tls13], m0[tls13] + 3)
        self.assertIn(("xmppd_tls_handshakes_total", 'version="1.2"'), m)
        fails = ("xmppd_auth_failures_total", "")
        self.assertEqual(m[fails], m0[fails] + 1)
        off = ("xmppd_offline_stored_total", "")
        self.assertEqual(m[off], m0[off] + 1)
        xml = ("xmppd_limits_hit_total", 'limit="xml"')
        self.assertEqual(m[xml], m0[xml] + 1)
        for lim in ("connections", "output", "backlog", "websocket"):
            self.assertIn(("xmppd_limits_hit_total", 'limit="%s"' % lim), m)
        # the storage histogram: cumulative buckets, +Inf = count, which
        # grew by the logins' credential reads and the offline store
        h = "xmppd_storage_request_duration_seconds"
        buckets = sorted(((float(k[1].split('"')[1]) if "+Inf" not in k[1] else float("inf")), v)
                         for k, v in m.items() if k[0] == h + "_bucket")
        self.assertEqual(len(buckets), 7)
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertEqual(buckets[-1][1], m[(h + "_count", "")])
        self.assertGreaterEqual(m[(h + "_count", "")], m0[(h + "_count", "")] + 3)
        self.assertGreater(m[(h + "_sum", "")], 0)

    def test_09_metrics_methods_and_access(self):
        c = self.conn()
        c.send("HEAD /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        status, hdrs, _ = c.response(head=True)
        self.assertEqual(status, 200)
        self.assertGreater(int(hdrs["content-length"]), 100)
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b"")
        c = self.conn()
        c.send("POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
        status, hdrs, _ = c.response()
        self.assertEqual((status, hdrs.get("allow")), (405, "GET, HEAD"))
        # not enabled on that listener: no such resource
        c = self.conn(listener="webs", tls=True)
        c.send(get("/metrics"))
        self.assertEqual(c.response()[0], 404)
        # enabled, but loopback is not in its metrics_allow
        at = SRV.log_len()
        c = self.conn(listener="webm")
        c.send(get("/metrics"))
        self.assertEqual(c.response()[0], 403)
        self.assertTrue(SRV.wait_log(r"HTTP 403 to 127\.0\.0\.1:\d+: metrics: not for this "
                                     r"address", start=at))
        # a request pipelined after /metrics is not read: the answer closes
        c = self.conn()
        c.send(get("/metrics") + get("/after"))
        self.assertEqual(c.response()[0], 200)
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b"")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\d+(?:\.\d+)?)$')


def parse_prometheus(test, text):
    """{(name, labels): value} of Prometheus text, checking its form: every
    sample's family announced by HELP and TYPE before it, each family in
    one group."""
    out, typed, done, current, histograms = {}, set(), set(), None, set()
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            name = line.split(" ")[2]
            if line.startswith("# TYPE "):
                kind = line.split(" ")[3]
                test.assertIn(kind, ("gauge", "counter", "histogram"), line)
                typed.add(name)
                if kind == "histogram":
                    histograms.add(name)
            if name != current:
                test.assertNotIn(name, done, "family %s in two groups" % name)
                if current:
                    done.add(current)
                current = name
            continue
        mo = SAMPLE.match(line)
        test.assertIsNotNone(mo, "not a sample line: %r" % line)
        name = mo.group(1)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[:-len(suffix)] in histograms:
                family = name[:-len(suffix)]
        test.assertEqual(family, current, "sample outside its family: %r" % line)
        test.assertIn(family, typed)
        v = mo.group(3)
        out[(name, mo.group(2) or "")] = float(v) if "." in v else int(v)
    test.assertTrue(text.endswith("\n"))
    return out


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
