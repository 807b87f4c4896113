#!/usr/bin/env python3
"""XEP-0198 resumption with another real client library: xmpp.js
(@xmpp/client from npm, version pinned in tests/integration/js/package.json
and package-lock.json, installed there by scripts/install-deps.sh with
`npm ci`).  tests/integration/js/sm_resume.mjs logs in over direct TLS,
lets the library enable stream management with resumption and counts the
messages it gets by their bodies; a raw client sends m1..m10, the script
drops its TCP connection (no close_notify, no </stream:stream>) as m3
arrives, m11..m20 are sent while it is gone, then the library reconnects
and resumes.  Asserted: the session was resumed (no second bind, same full
JID, <resumed/> and no <failed/>), each of the 20 messages came exactly
once and in order, the server log shows the detach with unacknowledged
stanzas, the hand-over and the resumption, and nothing was left for
offline storage (the client's acknowledgements matched).

The node binary comes from XMPPD_IT_NODE (set by CMake from
find_program) or PATH; a missing node or @xmpp/client is a failure, not a
skip."""
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN  # noqa: E402

XMPPD = XMPPCTL = None
USERS = {"js": "pw-js", "sender": "pw-sender"}
WINDOW = 30          # [im] sm_resume_timeout: ample, the test resumes well within it
N = 20               # messages in all
FIRST = 10           # sent before the cut (m1..m10); the rest while it is gone
CUT_AFTER = 3        # the script drops its connection as m3 arrives
JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
SCRIPT = os.path.join(JS_DIR, "sm_resume.mjs")
NODE_TIMEOUT = 60

harness.module_server(globals(), users=USERS, name="sm-xmppjs",
                      sections={"im": {"sm_resume_timeout": WINDOW}})


def node_binary():
    node = os.environ.get("XMPPD_IT_NODE") or ""
    if not node or node.endswith("-NOTFOUND"):
        node = shutil.which("node") or shutil.which("nodejs")
    return node


class NodeClient:
    """sm_resume.mjs as a child process: JSON lines from its stdout in a
    queue, its stderr (the XML trace) in a file."""

    def __init__(self, node, args, trace_path):
        env = dict(os.environ)
        env["NODE_EXTRA_CA_CERTS"] = SRV.cert
        self.trace_path = trace_path
        self._trace = open(trace_path, "wb")
        self.proc = subprocess.Popen([node, SCRIPT] + args, cwd=JS_DIR, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._trace, text=True)
        self.lines = queue.Queue()
        self.events = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_event(self, names, timeout):
        """The next JSON line whose event is in names (others are kept in
        self.events); AssertionError on timeout or exit."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s from sm_resume.mjs within %ss; events %s; trace:\n%s"
                                     % (names, timeout, self.events, self.trace()))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("sm_resume.mjs ended (%s) before %s; events %s; trace:\n%s"
                                     % (self.proc.wait(5), names, self.events, self.trace()))
            try:
                ev = json.loads(line)
            except ValueError:
                self.events.append({"event": "non-json", "line": line})
                continue
            self.events.append(ev)
            if ev.get("event") in names:
                return ev

    def command(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def trace(self, tail=6000):
        self._trace.flush()
        with open(self.trace_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-tail:]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._trace.close()


def msg(i):
    return ("<message to='js@%s/node' id='m%d' type='chat'><body>m%d</body></message>"
            % (DOMAIN, i, i))


class XmppJsResume(unittest.TestCase):

    def test_resume_after_cut_counts_every_message_once(self):
        node = node_binary()
        self.assertTrue(node and os.access(node, os.X_OK),
                        "node not found (XMPPD_IT_NODE=%r, PATH): scripts/install-deps.sh "
                        "installs it" % os.environ.get("XMPPD_IT_NODE"))
        self.assertTrue(os.path.isfile(os.path.join(JS_DIR, "node_modules", "@xmpp", "client",
                                                    "package.json")),
                        "@xmpp/client is not installed in %s: run scripts/install-deps.sh "
                        "(npm ci there)" % JS_DIR)
        sender = SRV.login("sender", USERS["sender"], "s", "<presence/>")
        self.addCleanup(sender.close)
        pos = SRV.log_len()
        js = NodeClient(node, ["--service", "xmpps://%s:%d" % (DOMAIN, SRV.port("dtls")),
                               "--user", "js", "--password", USERS["js"], "--resource", "node",
                               "--count", str(N), "--cut-after", str(CUT_AFTER),
                               "--timeout", str(NODE_TIMEOUT - 10)],
                        os.path.join(SRV.dir, "xmppjs-trace.log"))
        self.addCleanup(js.close)
        online = js.next_event({"online", "error"}, 20)
        self.assertEqual(online["event"], "online", js.events)
        self.assertEqual(online["jid"], "js@%s/node" % DOMAIN)
        self.assertTrue(online["sm_enabled"], online)
        self.assertRegex(online["sm_id"], r"^[0-9a-f]{32}$")
        self.assertEqual(online["enabled"].get("resume"), "true", online)
        conn = SRV.wait_log(r"(c\d+\.\d+): bound js@%s/node$" % DOMAIN, 5, pos)
        self.assertTrue(conn, SRV.log()[pos:])
        self.assertTrue(SRV.wait_log(r"%s: stream management enabled" % re.escape(conn.group(1)),
                                     5, pos))
        # the server's presence echo is in before the messages start
        time.sleep(0.3)
        pos_cut = SRV.log_len()
        for i in range(1, FIRST + 1):
            sender.send(msg(i))
        cut = js.next_event({"cut"}, 10)
        self.assertEqual(cut["received_before"], CUT_AFTER, cut)
        js.next_event({"disconnected"}, 10)
        parked = SRV.wait_log(r"%s: js@%s/node waits %ds for resumption with (\d+) unacknowledged"
                              % (re.escape(conn.group(1)), DOMAIN, WINDOW), 10, pos_cut)
        self.assertTrue(parked, SRV.log()[pos_cut:])
        # the client acks only when asked (<r/> after 5): m1..m3 at least
        # were never acknowledged, so the resumption has to resend
        self.assertGreaterEqual(int(parked.group(1)), CUT_AFTER)
        for i in range(FIRST + 1, N + 1):
            sender.send(msg(i))
        # the deliveries reach the detached session's queue (the router
        # answers the sender nothing); a ping round trip orders after them
        m = sender.mark()
        sender.send("<iq type='get' id='order' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                    % DOMAIN)
        got = sender.read_until(re.compile(r"<iq[^>]*id=['\"]order['\"]"), 5, start=m)
        self.assertRegex(got[m:], r"<iq[^>]*id=['\"]order['\"]")
        time.sleep(0.3)
        pos_resume = SRV.log_len()
        js.command("resume")
        resumed = js.next_event({"resumed", "failed", "online_again", "error"}, 15)
        self.assertEqual(resumed["event"], "resumed", js.events)
        self.assertEqual(resumed["previd"], online["sm_id"])
        summary = js.next_event({"summary"}, NODE_TIMEOUT)
        rc = js.proc.wait(10)
        info = json.dumps(summary, indent=1)
        self.assertEqual(summary["reason"], "complete", info + js.trace())
        self.assertIsNotNone(summary["resumed"], info)
        self.assertEqual(summary["failed"], [], info)
        self.assertEqual(summary["online_events"], 1, "a new session, not a resumption: " + info)
        self.assertEqual(summary["jid_after"], summary["jid_before"], info)
        self.assertEqual(summary["duplicates"], [], info)
        self.assertEqual(summary["missing"], [], info)
        self.assertEqual(summary["unexpected"], [], info)
        self.assertEqual(summary["count"], N, info)
        self.assertEqual(summary["received"], ["m%d" % i for i in range(1, N + 1)], info)
        self.assertTrue(summary["ok"], info)
        self.assertEqual(rc, 0, info)
        # the server's side: resumed on a new connection, not bound again
        log = SRV.log()[pos_resume:]
        res = re.search(r"(c\d+\.\d+): resumed js@%s/node: (\d+) acknowledged, (\d+) resent, "
                        r"(\d+) held" % DOMAIN, log)
        self.assertTrue(res, log)
        self.assertNotEqual(res.group(1), conn.group(1))
        self.assertRegex(log, r"js@%s/node handed over to mux\d" % DOMAIN)
        self.assertNotRegex(log, r"bound js@%s/" % DOMAIN)
        self.assertNotRegex(log, r"detached session js@")
        print("xmpp.js: %s, %s, node %s; cut after %d (h %d), server: %s acknowledged, "
              "%s resent, %s held; parked with %s unacknowledged"
              % (summary["client"], summary["stream_management"], summary["node"],
                 summary["cut"]["received_before"], summary["cut"]["inbound"], res.group(2),
                 res.group(3), res.group(4), parked.group(1)))
        # the final <a/> covered everything: the clean close stored nothing
        time.sleep(0.3)
        again = SRV.login("js", USERS["js"], "later", "<presence/>")
        self.addCleanup(again.close)
        time.sleep(1.0)
        self.assertNotIn("<message", again.qtext(), again.qtext())


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
