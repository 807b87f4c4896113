#!/usr/bin/env python3
"""One desktop client, driven the way a person uses it: profanity (Debian's
0.13) runs in a private tmux server, logs in over STARTTLS, adds a contact
and asks for its presence; the contact (a raw XML client) approves and
asks back, profanity accepts; the screen then shows the contact online
with a 'both' subscription, and a message goes each way.  Every check
reads what the screen shows (tmux capture-pane)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, RawClient  # noqa: E402

XMPPD = XMPPCTL = None
USERS = {"pro": "pw-pro", "bob": "pw-bob"}


harness.module_server(globals(), users=USERS, name="profanity")


class Tmux:
    """A tmux server of our own (its own socket name), so that nothing
    else on the machine is touched; killed at the end."""

    def __init__(self, home):
        self.sock = "xmppd-profanity-%d" % os.getpid()
        self.home = home

    def run(self, *args):
        return subprocess.run(["tmux", "-L", self.sock] + list(args), check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def start(self, cmd):
        env = "HOME=%s XDG_CONFIG_HOME=%s/.config XDG_DATA_HOME=%s/.local/share" % (
            (self.home,) * 3)
        self.run("new-session", "-d", "-s", "p", "-x", "200", "-y", "50", "env %s %s" % (env, cmd))

    def keys(self, text):
        self.run("send-keys", "-t", "p", "-l", text)
        self.run("send-keys", "-t", "p", "Enter")

    def screen(self):
        return self.run("capture-pane", "-p", "-t", "p")

    def wait(self, pattern, timeout=10.0):
        pat = re.compile(pattern)
        end = time.monotonic() + timeout
        while True:
            s = self.screen()
            if pat.search(s):
                return s
            if time.monotonic() >= end:
                raise AssertionError("screen never showed %r:\n%s" % (pattern, s))
            time.sleep(0.2)

    def kill(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=10)


class Profanity(unittest.TestCase):

    def test_add_contact_presence_and_messages(self):
        home = tempfile.mkdtemp(prefix="xmppd-prof-home-")
        self.addCleanup(shutil.rmtree, home, True)
        tm = Tmux(home)
        self.addCleanup(tm.kill)
        tm.start("profanity")
        tm.wait(r"/connect")
        # STARTTLS on the c2s listener; 'trust': the test certificate is
        # self-signed (the certificate checks are integration.tls_certs')
        tm.keys("/connect pro@%s server 127.0.0.1 port %d tls trust"
                % (DOMAIN, SRV.port("c2s")))
        tm.wait(r"Enter password")
        tm.keys(USERS["pro"])
        tm.wait(r"pro@%s/\S+ logged in successfully" % re.escape(DOMAIN))

        bob = RawClient(SRV.port("dtls"), tls=True, cafile=SRV.cert)
        self.addCleanup(bob.close)
        bob.open_stream()
        bob.login_plain("bob", USERS["bob"], resource="desk")
        bob.send("<presence><status>at my desk</status></presence>")
        bob.read_until("<presence", timeout=5)

        mark = bob.mark()
        tm.keys("/roster add bob@%s" % DOMAIN)
        tm.wait(r"Roster item added: bob@")
        tm.keys("/sub request bob@%s" % DOMAIN)
        bob.read_until(re.compile(r"type=[\"']subscribe[\"']"), timeout=10, start=mark)
        self.assertRegex(bob.qtext()[mark:], r"<presence[^>]*from='pro@%s'" % re.escape(DOMAIN))
        bob.send("<presence to='pro@%s' type='subscribed'/>" % DOMAIN)
        bob.send("<presence to='pro@%s' type='subscribe'/>" % DOMAIN)
        # profanity sees bob come online, and is asked in turn
        tm.wait(r"bob@%s \(desk\) is online" % re.escape(DOMAIN))
        tm.wait(r"Received authorization request from bob@")
        tm.keys("/sub allow bob@%s" % DOMAIN)
        tm.wait(r"Accepted subscription for bob@")
        tm.keys("/roster")
        tm.wait(r"bob@%s - both" % re.escape(DOMAIN))

        # a message each way, as the chat window shows them
        mark = bob.mark()
        tm.keys("/msg bob@%s hello from the terminal" % DOMAIN)
        bob.read_until("hello from the terminal", timeout=10, start=mark)
        self.assertRegex(bob.qtext()[mark:], r"<message[^>]*from='pro@%s/" % re.escape(DOMAIN))
        bob.send("<message to='pro@%s' type='chat'><body>hi from bob</body></message>" % DOMAIN)
        s = tm.wait(r"bob@%s/desk: hi from bob" % re.escape(DOMAIN))
        self.assertIn("me: hello from the terminal", s)
        self.assertRegex(s, r"bob@%s \[online\]" % re.escape(DOMAIN))

        # bob leaves: profanity shows it
        bob.send("<presence type='unavailable'/></stream:stream>")
        tm.keys("/win 1")
        tm.wait(r"bob@%s \(desk\) has logged out|bob@%s \(desk\) is offline"
                % (re.escape(DOMAIN), re.escape(DOMAIN)))
        tm.keys("/quit")


if __name__ == "__main__":
    XMPPD, XMPPCTL = harness.binaries()
    harness.run_tests(__name__)
