#!/usr/bin/python3
"""A real browser on the HTTP gateway (step 5 of docs/internals/gateway.md):
Debian's Chromium, headless, driven by playwright-core
(tests/integration/js/browser_chat.mjs), loads a page this test serves
from http://127.0.0.1:PORT (tests/integration/js/browser_chat.html with
strophe.js's browser build from node_modules); strophe.js and
playwright-core are pinned in tests/integration/js/package.json and
package-lock.json, installed there by scripts/install-deps.sh (`npm ci`).

Over WebSocket (RFC 7395, ws://, the page's origin allowed by [http]
origins): strophe logs alice in with SCRAM (WebCrypto: the page is a
secure context; no PLAIN without TLS), lets the server pick her resource,
sends presence and a chat message to bob, a socket client, who answers the
full JID it came from; the page records every message body, closes with
<close/> and reports.  Asserted: the page's status is ok, it received
exactly bob's reply (non-ASCII and XML specials intact both ways), its
bound JID is alice@localhost/<resource>, the one WebSocket negotiated the
xmpp subprotocol and was closed with the server's 1000; in the
frames Chromium saw, each message from the server parses alone and the
first is <open/>; bob got the browser's text from that JID; the server log
shows the WebSocket session, its SCRAM login and bind, and the end of the
stream by the page's <close/>; the server exits cleanly.

The node binary comes from XMPPD_IT_NODE (set by CMake from find_program)
or PATH, Chromium from XMPPD_IT_CHROMIUM or /usr/bin/chromium; a missing
node, chromium, strophe.js or playwright-core is a failure, not a skip.

Run: /usr/bin/python3 test_browser.py --xmppd PATH --xmppctl PATH
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, LOCALHOST, Server  # noqa: E402

XMPPD = XMPPCTL = None
SRV = None
PAGES = None
FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"
USERS = {"alice": "pw-alice", "bob": "pw-bob"}
JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
SCRIPT = os.path.join(JS_DIR, "browser_chat.mjs")
PAGE = os.path.join(JS_DIR, "browser_chat.html")
STROPHE = os.path.join(JS_DIR, "node_modules", "strophe.js", "dist", "strophe.umd.cjs")
PLAYWRIGHT = os.path.join(JS_DIR, "node_modules", "playwright-core", "package.json")
PAGE_TIMEOUT_MS = 20000      # the page gives up (and reports) after this
SCRIPT_TIMEOUT_MS = 30000    # browser_chat.mjs waits this long for the page's result
NODE_TIMEOUT = 90            # the whole node process, launch and close included


def node_binary():
    node = os.environ.get("XMPPD_IT_NODE") or ""
    if not node or node.endswith("-NOTFOUND"):
        node = shutil.which("node") or shutil.which("nodejs")
    return node


def chromium_binary():
    return os.environ.get("XMPPD_IT_CHROMIUM") or "/usr/bin/chromium"


class PageServer:
    """The page and strophe.js over HTTP on 127.0.0.1 (a secure context for
    the browser), each path mapped to one file; anything else is 404.  The
    requests it served are kept in self.requests."""

    FILES = {
        "/browser_chat.html": (PAGE, "text/html; charset=utf-8"),
        "/strophe.js": (STROPHE, "text/javascript; charset=utf-8"),
    }

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10             # a stuck connection does not hold a thread

            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                outer.requests.append(path)
                entry = outer.FILES.get(path)
                if entry is None:
                    self.send_error(404)
                    return
                with open(entry[0], "rb") as f:
                    body = f.read()
                self.send_response(200)
                self.send_header("Content-Type", entry[1])
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((LOCALHOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.origin = "http://%s:%d" % (LOCALHOST, self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, name="page-server",
                                       daemon=True)
        self.thread.start()

    def url(self, **params):
        return "%s/browser_chat.html?%s" % (self.origin, urllib.parse.urlencode(params))

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def setUpModule():
    global SRV, PAGES
    # the page's origin must be known before the server starts: [http] origins
    PAGES = PageServer()
    SRV = Server(XMPPD, XMPPCTL, users=USERS, name="browser",
                 sections={"http": {"origins": PAGES.origin}},
                 listeners={"dtls": {"mode": "direct_tls"}, "web": {"type": "http"}})
    SRV.start()


def tearDownModule():
    try:
        if PAGES is not None:
            PAGES.stop()
    finally:
        if SRV is not None:
            try:
                SRV.check_clean_exit(unittest.TestCase())
            finally:
                SRV.cleanup()


class BrowserChat(unittest.TestCase):

    def setUp(self):
        node = node_binary()
        self.assertTrue(node and os.access(node, os.X_OK),
                        "node not found (XMPPD_IT_NODE=%r, PATH): scripts/install-deps.sh "
                        "installs it" % os.environ.get("XMPPD_IT_NODE"))
        self.node = node
        chromium = chromium_binary()
        self.assertTrue(os.access(chromium, os.X_OK),
                        "%s not found: scripts/install-deps.sh installs Debian's chromium"
                        % chromium)
        self.chromium = chromium
        for path in (STROPHE, PLAYWRIGHT):
            self.assertTrue(os.path.isfile(path),
                            "%s is missing: run scripts/install-deps.sh (npm ci in %s)"
                            % (path, JS_DIR))

    def chat(self, transport, service):
        """The page logs alice in over transport at service, chats with bob
        (a socket client) and closes.  Returns (the page's result, the node
        script's stderr, the server log's length before the page came)."""
        tag = "%s-%d" % (transport, int(time.time() * 1000) % 100000)
        text = "hello from chromium over %s & <strophe> é ✓ [%s]" % (transport, tag)
        reply = "bob's reply <&> ünïcödé ✓ [%s]" % tag
        bob = SRV.login("bob", USERS["bob"], "sock", presence="<presence/>")
        self.addCleanup(bob.close)
        pos = SRV.log_len()
        url = PAGES.url(transport=transport, service=service, jid="alice@" + DOMAIN,
                        password=USERS["alice"], peer="bob@%s/sock" % DOMAIN, text=text,
                        timeout=PAGE_TIMEOUT_MS)
        trace_path = os.path.join(SRV.dir, "browser-%s.log" % transport)
        trace = open(trace_path, "wb")
        self.addCleanup(trace.close)
        m = bob.mark()
        served = len(PAGES.requests)
        proc = subprocess.Popen([self.node, SCRIPT, "--url", url,
                                 "--timeout", str(SCRIPT_TIMEOUT_MS), "--chromium", self.chromium],
                                cwd=JS_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=trace)

        def kill():
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        self.addCleanup(kill)

        def browser_trace(tail=8000):
            trace.flush()
            with open(trace_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-tail:]

        # bob waits for the browser's message (as long as the script runs)
        def from_browser():
            return [el for el in harness.top_stanzas(bob.qtext()[m:])
                    if el.tag == "{jabber:client}message"
                    and el.findtext("{jabber:client}body") == text]
        deadline = time.monotonic() + NODE_TIMEOUT
        while True:
            msgs = from_browser()
            if msgs or proc.poll() is not None or time.monotonic() >= deadline:
                if not msgs:
                    bob.read_until("\x00never", timeout=0.5)   # what was on the way
                    msgs = from_browser()
                break
            bob.read_until("\x00never", timeout=0.2)
        got = msgs[0] if msgs else None
        self.assertIsNotNone(got, "bob got no message from the browser (node exit %r); bob got:\n%s"
                             "\nbrowser:\n%s\nserver log:\n%s"
                             % (proc.poll(), bob.qtext()[m:], browser_trace(),
                                SRV.log()[pos:][-4000:]))
        sender = got.get("from")
        self.assertRegex(sender or "", r"^alice@%s/[^/]+$" % re.escape(DOMAIN), bob.qtext()[m:])
        self.assertEqual(got.get("type"), "chat")
        mr = bob.mark()
        bob.send("<message to='%s' type='chat'><body>%s</body></message>"
                 % (sender, reply.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")))
        try:
            out, _ = proc.communicate(timeout=NODE_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=10)
            self.fail("browser_chat.mjs still running after %ds; browser:\n%s"
                      % (NODE_TIMEOUT, browser_trace()))
        lines = out.decode("utf-8", "replace").strip().splitlines()
        self.assertTrue(lines, "browser_chat.mjs printed nothing (exit %d); browser:\n%s"
                        % (proc.returncode, browser_trace()))
        try:
            result = json.loads(lines[-1])
        except ValueError:
            self.fail("browser_chat.mjs printed no JSON (exit %d): %r; browser:\n%s"
                      % (proc.returncode, lines[-1], browser_trace()))
        with open(os.path.join(SRV.dir, "browser-%s.json" % transport), "w") as f:
            json.dump(result, f, indent=1, ensure_ascii=False)   # kept with XMPPD_IT_KEEP=1
        info = "result: %s\nbrowser:\n%s\nserver log:\n%s" % (
            json.dumps({k: v for k, v in result.items() if k != "log"}, ensure_ascii=False),
            browser_trace(), SRV.log()[pos:][-6000:])
        self.assertEqual(result.get("status"), "ok", info)
        self.assertEqual(proc.returncode, 0, info)
        self.assertEqual(result["received"], [reply], info)
        self.assertEqual(result["jid"], sender, info)
        self.assertNotIn("<error", bob.qtext()[m:], info)     # nothing bounced to bob
        self.assertNotIn("<message", bob.qtext()[mr:], info)  # nothing more from the page
        # the page and strophe.js, once each (no favicon request)
        self.assertEqual(sorted(PAGES.requests[served:]), ["/browser_chat.html", "/strophe.js"],
                         PAGES.requests)
        return result, browser_trace(), pos

    def test_websocket(self):
        service = "ws://%s:%d/xmpp-websocket" % (LOCALHOST, SRV.port("web"))
        t0 = time.monotonic()
        result, trace, pos = self.chat("websocket", service)
        elapsed = time.monotonic() - t0
        info = "result: %s\nbrowser:\n%s" % (json.dumps(result, ensure_ascii=False), trace)
        jid = result["jid"]
        self.assertRegex(jid, r"^alice@%s/[^/\s]+$" % re.escape(DOMAIN), info)
        # no PLAIN over ws://: strophe used SCRAM, computed with WebCrypto
        self.assertIn(result.get("mechanism"), ("SCRAM-SHA-256", "SCRAM-SHA-1"), info)
        # one WebSocket, the xmpp subprotocol, closed with 1000 after <close/>
        self.assertEqual(len(result["sockets"]), 1, info)
        sock = result["sockets"][0]
        self.assertEqual(sock["url"], service, info)
        self.assertEqual(sock["protocol"], "xmpp", info)
        # the code is the server's close frame's (1000), and the close is
        # clean: after its close frame the server half-closes and reads to
        # the browser's end (RFC 6455 7.1.1), so the browser's own close
        # frame is not answered with a reset
        self.assertEqual((sock["close"]["code"], sock["close"]["reason"]), (1000, ""), info)
        self.assertTrue(sock["close"]["wasClean"], info)
        # the frames as Chromium saw them: each message from the server a
        # document of its own, the first <open/>, no stream error; the
        # page's last is <close/>.  (strophe closes its socket right after
        # sending <close/>: the server's answer, and anything else still on
        # the way, reaches the browser in the CLOSING state and is dropped
        # there, so it is not asserted here; the close code 1000 above is
        # the server's close frame, and the log below shows the <close/>.)
        self.assertEqual([w["url"] for w in result["websockets"]], [service], info)
        self.assertTrue(result["websockets"][0]["closed"], info)
        frames = result["websockets"][0]["frames"]
        incoming = [f["data"] for f in frames if f["dir"] == "in"]
        outgoing = [f["data"] for f in frames if f["dir"] == "out"]
        parsed = []
        for data in incoming:
            try:
                parsed.append(ET.fromstring(data))
            except ET.ParseError as e:
                self.fail("a message from the server is not a document of its own (%s): %r"
                          % (e, data))
        self.assertEqual(parsed[0].tag, "{%s}open" % FRAMING_NS, incoming[:1])
        self.assertFalse([d for d in incoming if "stream:error" in d], incoming)
        self.assertEqual(ET.fromstring(outgoing[-1]).tag, "{%s}close" % FRAMING_NS, outgoing[-3:])
        # the server's side: the WebSocket session, its SCRAM login and bind
        log = SRV.log()[pos:]
        ws = re.search(r"(c\d+\.\d+): WebSocket from 127\.0\.0\.1\S*: XMPP \(RFC 7395\)", log)
        self.assertTrue(ws, log[-6000:])
        conn = re.escape(ws.group(1))
        self.assertTrue(SRV.wait_log(r"%s: authenticated alice@%s \(%s\)$"
                                     % (conn, re.escape(DOMAIN), re.escape(result["mechanism"])),
                                     5, pos), log[-6000:])
        self.assertTrue(SRV.wait_log(r"%s: bound %s$" % (conn, re.escape(jid)), 5, pos),
                        log[-6000:])
        # the page's <close/> ended the stream (not the close frame after it)
        self.assertTrue(SRV.wait_log(r"%s: closing: stream closed by peer$" % conn, 5, pos),
                        log[-6000:])
        self.assertTrue(SRV.wait_log(r"%s: closed .*session %s$" % (conn, re.escape(jid)),
                                     5, pos), log[-6000:])
        self.assertNotRegex(log, r"WebSocket handshake from .* refused")
        self.assertNotRegex(log, r"WebSocket error from")
        print("browser: Chromium %s, playwright-core %s, strophe.js %s; %s as %s with %s; "
              "closed %d, clean %s; %.1fs"
              % (result.get("browser"), result.get("playwright"), result.get("strophe"),
                 result["transport"], jid, result["mechanism"], sock["close"]["code"],
                 sock["close"]["wasClean"], elapsed))

    def test_bosh(self):
        service = "http://%s:%d/http-bind" % (LOCALHOST, SRV.port("web"))
        result, trace, pos = self.chat("bosh", service)
        info = "result: %s\nbrowser:\n%s" % (json.dumps(result, ensure_ascii=False), trace)
        jid = result["jid"]
        self.assertRegex(jid, r"^alice@%s/[^/\s]+$" % re.escape(DOMAIN), info)
        self.assertIn(result.get("mechanism"), ("SCRAM-SHA-256", "SCRAM-SHA-1"), info)
        self.assertEqual(result["sockets"], [], info)  # no WebSocket: BOSH
        # the server's side: the session, its login and bind, and its end
        # when the page disconnected (type='terminate')
        log = SRV.log()[pos:]
        mo = re.search(r"BOSH session (\w+) from 127\.0\.0\.1\S* as (c\d+\.\d+)", log)
        self.assertTrue(mo, log[-6000:])
        sid, conn = mo.group(1), re.escape(mo.group(2))
        self.assertTrue(SRV.wait_log(r"%s: authenticated alice@%s \(%s\)$"
                                     % (conn, re.escape(DOMAIN), re.escape(result["mechanism"])),
                                     5, pos), log[-6000:])
        self.assertTrue(SRV.wait_log(r"%s: bound %s$" % (conn, re.escape(jid)), 5, pos),
                        log[-6000:])
        self.assertTrue(SRV.wait_log(r"BOSH session %s terminated by the client" % sid, 5, pos),
                        log[-6000:])
        self.assertTrue(SRV.wait_log(r"%s: closed .*session %s$" % (conn, re.escape(jid)),
                                     5, pos), log[-6000:])
        self.assertNotRegex(log, r"bad BOSH request|BOSH: this origin may not")


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
