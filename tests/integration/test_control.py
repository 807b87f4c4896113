#!/usr/bin/python3
"""The control socket ([admin] socket) and xmppctl's commands for a running
server: sessions, kick, roster.

- sessions lists every bound session with its listener, bind time, TLS
  version and whether it sleeps, whichever mux thread holds it;
- kick closes one session (full JID) or all of an account with a stream
  error <policy-violation/>; the others stay;
- roster add/list/remove change the stored roster, and a logged-in
  resource that asked for its roster gets the pushes;
- the socket is 0600, another user cannot connect, a socket directory
  others may write to and a path that is not a socket stop the server
  with a clear line, a socket left by kill -9 is replaced, a clean stop
  removes it;
- xmppctl against a stopped server, bad commands, a line too long, too
  many connections: clean errors, non-zero exit.

Run: test_control.py --xmppd BUILD/xmppd --xmppctl BUILD/xmppctl"""
import datetime
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DOMAIN, Server, RawClient, binaries, run_tests, stream_error_condition, top_stanzas  # noqa: E402

XMPPD, XMPPCTL = binaries(sys.argv)
PW = "pw-ctl"
SRV = None


def ctl(srv, *args, user=None):
    """(exit code, stdout, stderr) of xmppctl -c INI args..."""
    pre, exe, tmp = None, XMPPCTL, None
    if user is not None:
        def pre():
            os.setgid(user)
            os.setuid(user)
        # the build tree may sit below a directory only we can enter (a
        # fresh clone in a mktemp dir): the other user runs a copy
        tmp = tempfile.mkdtemp(prefix="xmppctl-")
        os.chmod(tmp, 0o711)
        exe = os.path.join(tmp, "xmppctl")
        shutil.copy(XMPPCTL, exe)
        os.chmod(exe, 0o755)
    try:
        r = subprocess.run([exe, "-c", srv.ini] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60, preexec_fn=pre)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return r.returncode, r.stdout, r.stderr


def sock_path(srv):
    return os.path.join(srv.dir, "data", "xmppd.sock")


def sessions(srv):
    rc, out, err = ctl(srv, "sessions")
    assert rc == 0, (rc, out, err)
    return {f[0]: f[1:] for f in (l.split("\t") for l in out.splitlines())}


def starttls_login(srv, user, resource):
    """A client on the STARTTLS listener (c2s), logged in and bound."""
    c = RawClient(srv.port("c2s"), cafile=srv.cert)
    c.open_stream()
    c.starttls_negotiate()
    c.start_tls()
    c.open_stream()
    got = c.login_plain(user, PW, resource=resource)
    assert "<jid>%s@%s/%s</jid>" % (user, DOMAIN, resource) in got, got
    return c


def ping(c, iq_id):
    return c.ask("<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                 % (iq_id, DOMAIN), iq_id)


def setUpModule():
    global SRV
    SRV = Server(XMPPD, XMPPCTL, name="ctl",
                 users={u: PW for u in ("alice", "bob", "carol", "dave", "erin")},
                 sections={"limits": {"idle_sleep": 2}}).start()


def tearDownModule():
    if SRV is None:
        return
    try:
        SRV.check_clean_exit(unittest.TestCase())
        # a clean stop removes the socket
        assert not os.path.exists(sock_path(SRV)), "socket left behind"
        rc, out, err = ctl(SRV, "sessions")
        assert rc == 1 and "xmppd is not running" in err, (rc, out, err)
    finally:
        SRV.cleanup()


class Control(unittest.TestCase):

    def test_socket_mode(self):
        st = os.lstat(sock_path(SRV))
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.geteuid())
        self.assertFalse(os.lstat(os.path.dirname(sock_path(SRV))).st_mode & stat.S_IWOTH)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to act as another user")
    def test_other_user_refused(self):
        # let "nobody" reach the socket, so that its own mode is what refuses
        dirs = [SRV.dir, os.path.dirname(sock_path(SRV))]
        modes = [stat.S_IMODE(os.stat(d).st_mode) for d in dirs]
        try:
            for d in dirs:
                os.chmod(d, 0o711)
            rc, out, err = ctl(SRV, "sessions", user=65534)
            self.assertEqual(rc, 1, out)
            self.assertIn("permission denied", err)
            # and past xmppctl's own checks, the kernel says no
            pid = os.fork()
            if pid == 0:
                code = 3
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(sock_path(SRV))
                    code = 0
                except PermissionError:
                    code = 1
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.WEXITSTATUS(status), 1, "another user could connect")
        finally:
            for d, m in zip(dirs, modes):
                os.chmod(d, m)

    def test_sessions(self):
        a = SRV.login("alice", PW, "laptop")       # direct TLS
        b = starttls_login(SRV, "bob", "phone x")  # STARTTLS, a space in the resource
        try:
            t0 = datetime.datetime.now(datetime.timezone.utc)
            got = sessions(SRV)
            ja, jb = "alice@%s/laptop" % DOMAIN, "bob@%s/phone x" % DOMAIN
            self.assertIn(ja, got, got)
            self.assertIn(jb, got, got)
            self.assertEqual(got[ja][0], "dtls")
            self.assertEqual(got[jb][0], "c2s")
            self.assertEqual(got[ja][2], "TLSv1.3")
            self.assertEqual(got[jb][2], "TLSv1.3")
            for j in (ja, jb):
                since = datetime.datetime.strptime(got[j][1], "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=datetime.timezone.utc)
                self.assertLess(abs((t0 - since).total_seconds()), 30, got[j])
                self.assertEqual(got[j][3], "awake")
            # idle_sleep = 2: both fall asleep, and a ping wakes alice
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                got = sessions(SRV)
                if got[ja][3] == got[jb][3] == "asleep":
                    break
                time.sleep(0.3)
            self.assertEqual((got[ja][3], got[jb][3]), ("asleep", "asleep"), got)
            self.assertIn("type='result'", ping(a, "w1"))
            self.assertEqual(sessions(SRV)[ja][3], "awake")
            # sorted by JID
            rc, out, _ = ctl(SRV, "sessions")
            lines = out.splitlines()
            self.assertEqual(lines, sorted(lines))
        finally:
            a.close()
            b.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (ja in sessions(SRV) or jb in sessions(SRV)):
            time.sleep(0.1)
        self.assertNotIn(ja, sessions(SRV))

    def test_kick(self):
        c1 = SRV.login("carol", PW, "r1", presence="<presence/>")
        c2 = SRV.login("carol", PW, "r2", presence="<presence/>")
        other = SRV.login("alice", PW, "stays")
        try:
            rc, out, err = ctl(SRV, "kick", "carol@%s/r1" % DOMAIN)
            self.assertEqual(rc, 0, err)
            self.assertIn("kicked 1 session(s) of carol@%s/r1" % DOMAIN, out)
            text = c1.read_until_closed(timeout=5)
            self.assertEqual(stream_error_condition(text), "policy-violation", text)
            self.assertIn("kicked by the server administrator", text)
            self.assertTrue(c1.closed)
            # the other resource saw r1 go unavailable, and goes on
            c2.read_until("unavailable", timeout=5)
            gone = [p for p in top_stanzas(c2.text()) if p.tag.endswith("presence")
                    and p.get("from") == "carol@%s/r1" % DOMAIN]
            self.assertTrue(gone and gone[-1].get("type") == "unavailable", c2.text()[-800:])
            self.assertIn("type='result'", ping(c2, "k1"))
            got = sessions(SRV)
            self.assertNotIn("carol@%s/r1" % DOMAIN, got)
            self.assertIn("carol@%s/r2" % DOMAIN, got)
            # a bare JID: every session of the account
            rc, out, err = ctl(SRV, "kick", "carol@" + DOMAIN)
            self.assertEqual(rc, 0, err)
            self.assertIn("kicked 1 session(s)", out)
            self.assertEqual(stream_error_condition(c2.read_until_closed(timeout=5)),
                             "policy-violation")
            self.assertIn("type='result'", ping(other, "k2"))
            self.assertIn("alice@%s/stays" % DOMAIN, sessions(SRV))
            # nobody there
            rc, out, err = ctl(SRV, "kick", "carol@" + DOMAIN)
            self.assertEqual(rc, 1)
            self.assertIn("no session of carol@" + DOMAIN, err)
        finally:
            for c in (c1, c2, other):
                c.close()

    def test_roster(self):
        d = SRV.login("dave", PW, "pc")
        try:
            r = d.ask("<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>", "g1")
            self.assertIn("type='result'", r)
            m = d.mark()
            rc, out, err = ctl(SRV, "roster", "dave@" + DOMAIN, "add", "Erin@" + DOMAIN,
                               "Erin", "E.")
            self.assertEqual(rc, 0, err)
            self.assertIn("added erin@%s to the roster of dave@%s" % (DOMAIN, DOMAIN), out)
            push = d.read_until("</iq>", timeout=5, start=m)[m:].replace('"', "'")
            self.assertRegex(push, r"<iq[^>]*type='set'")
            self.assertRegex(push, r"<item[^>]*jid='erin@%s'" % DOMAIN)
            self.assertIn("name='Erin E.'", push)
            self.assertIn("subscription='none'", push)
            rc, out, err = ctl(SRV, "roster", "dave@" + DOMAIN, "list")
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, "erin@%s\tnone\tErin E.\t\n" % DOMAIN)
            # the client sees the same
            r = d.ask("<iq type='get' id='g2'><query xmlns='jabber:iq:roster'/></iq>", "g2")
            self.assertIn("jid='erin@%s'" % DOMAIN, r)
            # a new name, the rest kept
            rc, out, err = ctl(SRV, "roster", "dave@" + DOMAIN, "add", "erin@" + DOMAIN, "E")
            self.assertEqual(rc, 0, err)
            self.assertIn("updated", out)
            m = d.mark()
            rc, out, err = ctl(SRV, "roster", "dave@" + DOMAIN, "remove", "erin@" + DOMAIN)
            self.assertEqual(rc, 0, err)
            push = d.read_until("remove", timeout=5, start=m)[m:].replace('"', "'")
            self.assertRegex(push, r"<item[^>]*jid='erin@%s'[^>]*subscription='remove'"
                             % DOMAIN)
            rc, out, err = ctl(SRV, "roster", "dave@" + DOMAIN, "list")
            self.assertEqual((rc, out), (0, ""))
            rc, out, err = ctl(SRV, "roster", "dave@" + DOMAIN, "remove", "erin@" + DOMAIN)
            self.assertEqual(rc, 1)
            self.assertIn("not in the roster", err)
            # offline accounts too; nobody's account is an error
            rc, out, err = ctl(SRV, "roster", "erin@" + DOMAIN, "add", "dave@" + DOMAIN)
            self.assertEqual(rc, 0, err)
            rc, out, err = ctl(SRV, "roster", "erin@" + DOMAIN, "list")
            self.assertEqual(out, "dave@%s\tnone\t\t\n" % DOMAIN)
            rc, out, err = ctl(SRV, "roster", "nobody@" + DOMAIN, "list")
            self.assertEqual(rc, 1)
            self.assertIn("no account nobody@" + DOMAIN, err)
            rc, out, err = ctl(SRV, "roster", "nobody@" + DOMAIN, "add", "x@y")
            self.assertEqual(rc, 1)
            self.assertIn("no account", err)
        finally:
            d.close()

    def test_bad_commands(self):
        for args, want in ((["kick", "not a jid@"], "is not a JID"),
                           (["kick", "someone@example.org"], "example.org is not a host"),
                           (["roster", "dave@" + DOMAIN, "list", "x"], "usage"),
                           (["roster", "dave@%s/r" % DOMAIN, "list"], "not an account JID"),
                           (["roster", "dave@" + DOMAIN, "add", "a@b/c"], "bare JID")):
            rc, out, err = ctl(SRV, *args)
            self.assertEqual(rc, 1, (args, out, err))
            self.assertIn(want, err, args)
            self.assertEqual(out, "")

    def test_raw_limits(self):
        # a line too long
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock_path(SRV))
        s.sendall(b"x" * 5000)
        self.assertIn(b"error: command longer than 4096 bytes", s.recv(1000))
        s.close()
        # at most 4 connections at once; the fifth is told so
        held = []
        try:
            for _ in range(4):
                h = socket.socket(socket.AF_UNIX)
                h.connect(sock_path(SRV))
                held.append(h)
            time.sleep(0.2)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(sock_path(SRV))
            self.assertIn(b"too many control connections", s.recv(1000))
            s.close()
        finally:
            for h in held:
                h.close()
        # then one is served again
        deadline = time.monotonic() + 5
        while True:
            rc, out, err = ctl(SRV, "sessions")
            if rc == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(rc, 0, err)
        # a connection that says nothing is closed after 5 s
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(sock_path(SRV))
        t = time.monotonic()
        self.assertIn(b"error: no command line", s.recv(1000))
        self.assertGreater(time.monotonic() - t, 4)
        s.close()


class StartUp(unittest.TestCase):
    """What stops the server, and what does not."""

    def refused(self, sections, want, make=None):
        srv = Server(XMPPD, XMPPCTL, name="ctl-refused", sections=sections)
        try:
            if make:
                make(srv)
            with self.assertRaises(RuntimeError):
                srv.start(timeout=10)
            m = re.search(r"^.* error .*control socket: .*$", srv.log(), re.M)
            self.assertIsNotNone(m, srv.log())
            self.assertIn(want, m.group(0))
            self.assertIn("[admin] socket", m.group(0))
            return srv
        finally:
            srv.cleanup()

    def test_world_writable_dir(self):
        def mk(srv):
            d = os.path.join(srv.dir, "pub")
            os.mkdir(d)
            os.chmod(d, 0o1777)
        self.refused({"admin": {"socket": "pub/x.sock"}}, "is writable by others (mode 1777)",
                     mk)

    def test_not_a_socket(self):
        def mk(srv):
            with open(os.path.join(srv.dir, "data", "xmppd.sock"), "w") as f:
                f.write("mine")
        self.refused({}, "exists and is not a socket", mk)

    def test_stale_socket_replaced_and_off(self):
        srv = Server(XMPPD, XMPPCTL, name="ctl-stale", users={"alice": PW}).start()
        try:
            srv.kill()  # kill -9: the socket file stays
            self.assertTrue(stat.S_ISSOCK(os.lstat(sock_path(srv)).st_mode))
            rc, out, err = ctl(srv, "sessions")
            self.assertEqual(rc, 1)
            self.assertIn("xmppd is not running", err)
            srv.launch()
            self.assertEqual(ctl(srv, "sessions")[0], 0)
            srv.check_clean_exit(self)
            # [admin] control = false: no socket, xmppctl says why
            srv.cfg["admin"] = {"control": False}
            srv._write_ini()
            srv.launch()
            self.assertFalse(os.path.exists(sock_path(srv)))
            rc, out, err = ctl(srv, "sessions")
            self.assertEqual(rc, 1)
            self.assertIn("[admin] control = false", err)
            srv.check_clean_exit(self)
        finally:
            srv.cleanup()

    def test_stopped_server(self):
        srv = Server(XMPPD, XMPPCTL, name="ctl-stopped")  # configured, never started
        try:
            for args in (["sessions"], ["kick", "a@" + DOMAIN], ["roster", "a@" + DOMAIN, "list"]):
                rc, out, err = ctl(srv, *args)
                self.assertEqual(rc, 1, args)
                self.assertEqual(out, "")
                self.assertIn("no control socket at %s: xmppd is not running" % sock_path(srv),
                              err)
        finally:
            srv.cleanup()


if __name__ == "__main__":
    run_tests(__name__)
