#!/usr/bin/python3
"""Administration: configuration errors as xmppd and xmppctl report them, the
database that only `xmppctl init` creates, and certificate reloads on SIGHUP.

- Every configuration error names file, line and key, a missing certificate
  or key file included, in `xmppd --check-config`, a normal start and
  `xmppctl check` (whose summary line counts them); all errors of a file
  come at once, one per line; an indented key right after a section header
  is refused.
- A [storage] path into a missing directory, or to a missing database, stops
  xmppd (naming the line) and creates nothing; `xmppctl init` creates both.
- SIGHUP with an expired certificate, one for another name, or a key that
  does not match: the host keeps its old certificate (a TLS client still
  gets it) and the log names the host and what is wrong; a good new
  certificate is then served.

Run: test_admin.py --xmppd BUILD/xmppd --xmppctl BUILD/xmppctl"""
import datetime
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DOMAIN, LOCALHOST, Server, binaries, run_tests  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

XMPPD, XMPPCTL = binaries(sys.argv)


def run(argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=60)
    return r.returncode, r.stdout


def line_of(path, pattern):
    """1-based number of the first line of the file matching regex pattern."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if re.search(pattern, line):
                return n
    raise AssertionError("%s: no line matches %r" % (path, pattern))


def write_cert(cert_path, key_path, name=DOMAIN, days=(-1, 90), key=None):
    """A self-signed P-256 certificate for name, valid from now+days[0] to
    now+days[1] (days); writes the key too unless key_path is None."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    if key_path:
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return cert.public_bytes(serialization.Encoding.DER)


def file_der(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def served_der(port):
    """The certificate a direct-TLS client gets for localhost (not verified:
    the point is which one it is)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((LOCALHOST, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=DOMAIN) as s:
            return s.getpeercert(binary_form=True)


class ConfigErrors(unittest.TestCase):
    def setUp(self):
        self.srv = Server(XMPPD, XMPPCTL, name="admincfg")  # config only
        self.assertEqual(run([XMPPCTL, "-c", self.srv.ini, "cert", "generate", DOMAIN])[0], 0)
        self.ini = self.srv.ini

    def tearDown(self):
        self.srv.cleanup()

    def edit(self, old, new):
        with open(self.ini) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(self.ini, "w") as f:
            f.write(text.replace(old, new, 1))

    def all_three(self):
        """(xmppd --check-config, xmppd, xmppctl check) as (rc, output)."""
        return [run([XMPPD, "--check-config", "-c", self.ini]),
                run([XMPPD, "-c", self.ini]),
                run([XMPPCTL, "-c", self.ini, "check"])]

    def test_valid_config_is_clean(self):
        rc, out = run([XMPPD, "--check-config", "-c", self.ini])
        self.assertEqual(rc, 0, out)
        rc, out = run([XMPPCTL, "-c", self.ini, "check"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.strip().splitlines()[-1], "OK: no problems, no warnings")

    def test_missing_certificate_names_file_line_key(self):
        self.edit("certificate = certs/localhost.pem", "certificate = certs/x.pem")
        line = line_of(self.ini, r"^certificate = certs/x\.pem")
        want = ("%s:%d: [host localhost] certificate: cannot read %s/certs/x.pem: "
                "No such file or directory" % (self.ini, line, self.srv.dir))
        for rc, out in self.all_three():
            self.assertEqual(rc, 1, out)
            self.assertIn(want, out)
        out = self.all_three()[2][1]
        self.assertEqual(out.strip().splitlines()[-1], "FAILED: 1 problem(s), 0 warning(s)")

    def test_missing_key_names_file_line_key(self):
        self.edit("key = certs/localhost.key", "key = certs/x.key")
        line = line_of(self.ini, r"^key = certs/x\.key")
        want = "%s:%d: [host localhost] key: cannot read %s/certs/x.key" % (
            self.ini, line, self.srv.dir)
        for rc, out in self.all_three():
            self.assertEqual(rc, 1, out)
            self.assertIn(want, out)

    def test_all_errors_at_once(self):
        self.edit("threads = 2", "threads = lots")
        self.edit("[limits]\n", "[limits]\nmax_depth = 1\nbogus = 2\n")
        self.edit("certificate = certs/localhost.pem", "certificate = certs/x.pem")
        lines = [line_of(self.ini, r"^threads = lots"), line_of(self.ini, r"^max_depth = 1"),
                 line_of(self.ini, r"^bogus = 2"), line_of(self.ini, r"^certificate = certs/x")]
        wants = ["%s:%d: [server] threads: expected auto or 1..256" % (self.ini, lines[0]),
                 "%s:%d: [limits] max_depth: out of range (2..1000)" % (self.ini, lines[1]),
                 "%s:%d: [limits] bogus: unknown key" % (self.ini, lines[2]),
                 "%s:%d: [host localhost] certificate: cannot read" % (self.ini, lines[3])]
        for rc, out in self.all_three():
            self.assertEqual(rc, 1, out)
            got = [l for l in out.splitlines() if self.ini + ":" in l]
            self.assertEqual(len(got), 4, out)
            for want, line in zip(wants, got):
                self.assertIn(want, line)
        out = self.all_three()[2][1]
        self.assertEqual(out.strip().splitlines()[-1], "FAILED: 4 problem(s), 0 warning(s)")

    def test_indented_key_after_header(self):
        self.edit("[server]\n", "[server]\n  log_level = debug\n")
        line = line_of(self.ini, r"^  log_level")
        for rc, out in self.all_three():
            self.assertEqual(rc, 1, out)
            self.assertIn("%s:%d: [server] log_level: indented line" % (self.ini, line), out)

    def test_storage_directory_typo(self):
        self.edit("path = data/xmppd.sqlite", "path = dta/xmppd.sqlite")
        line = line_of(self.ini, r"^path = dta")
        for rc, out in self.all_three():
            self.assertEqual(rc, 1, out)
            self.assertIn("%s:%d: [storage] path: directory %s/dta: No such file or directory"
                          % (self.ini, line, self.srv.dir), out)
        rc, out = run([XMPPCTL, "-c", self.ini, "adduser", "a@" + DOMAIN])
        self.assertEqual(rc, 1, out)
        self.assertFalse(os.path.exists(os.path.join(self.srv.dir, "dta")), "created anyway")
        rc, out = run([XMPPCTL, "-c", self.ini, "init"])
        self.assertEqual(rc, 0, out)
        self.assertTrue(os.path.exists(os.path.join(self.srv.dir, "dta/xmppd.sqlite")))
        self.assertEqual(run([XMPPD, "--check-config", "-c", self.ini])[0], 0)

    def test_storage_file_typo(self):
        self.edit("path = data/xmppd.sqlite", "path = data/xmpd.sqlite")
        line = line_of(self.ini, r"^path = data/xmpd")
        db = os.path.join(self.srv.dir, "data/xmpd.sqlite")
        for rc, out in self.all_three():
            self.assertEqual(rc, 1, out)
            self.assertIn("%s:%d: [storage] path: no database at %s" % (self.ini, line, db), out)
            self.assertIn("init", out)
        self.assertFalse(os.path.exists(db), "xmppd created the database")
        rc, out = run([XMPPCTL, "-c", self.ini, "listusers", DOMAIN])
        self.assertEqual(rc, 1, out)
        self.assertFalse(os.path.exists(db), "listusers created the database")
        # adduser creates it (a fresh install's first account), and says so
        r = subprocess.run([XMPPCTL, "-c", self.ini, "adduser", "a@" + DOMAIN], input="pw\n",
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("created a new database " + db, r.stdout)


class Reload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(XMPPD, XMPPCTL, name="adminhup").start()
        cls.cert_line = line_of(cls.srv.ini, r"^certificate = ")
        cls.key_line = line_of(cls.srv.ini, r"^key = ")

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.srv.stop()
            assert rc == 0, "xmppd exit code %r" % rc
        finally:
            cls.srv.cleanup()

    def setUp(self):
        self.port = self.srv.port("dtls")
        self.before = served_der(self.port)

    def hup(self, pattern):
        mark = self.srv.log_len()
        self.srv.proc.send_signal(signal.SIGHUP)
        m = self.srv.wait_log(pattern, timeout=10, start=mark)
        self.assertIsNotNone(m, "no %r in the log:\n%s" % (pattern, self.srv.log()[mark:]))
        self.assertIsNotNone(self.srv.wait_log(r"SIGHUP: reloading certificates", timeout=10,
                                               start=mark))
        return m.group(0)

    def assert_kept(self, line):
        self.assertTrue(self.srv.alive())
        # the mux threads swap sets through their inboxes: give them a moment
        for _ in range(3):
            self.assertEqual(served_der(self.port), self.before, line)

    def test_1_expired(self):
        write_cert(self.srv.cert, self.srv.key, days=(-30, -1))
        line = self.hup(r"warn .*SIGHUP: host localhost: keeping the old certificate: .*")
        self.assertIn("%s:%d: [host localhost] certificate: %s has expired" %
                      (self.srv.ini, self.cert_line, self.srv.cert), line)
        self.assert_kept(line)

    def test_2_other_name(self):
        write_cert(self.srv.cert, self.srv.key, name="other.example")
        line = self.hup(r"warn .*SIGHUP: host localhost: keeping the old certificate: .*")
        self.assertIn("certificate: %s does not name localhost" % self.srv.cert, line)
        self.assert_kept(line)

    def test_3_key_mismatch(self):
        write_cert(self.srv.cert, None)  # a new key, not written: the old key stays
        line = self.hup(r"warn .*SIGHUP: host localhost: keeping the old certificate: .*")
        self.assertIn("%s:%d: [host localhost] key: %s does not match certificate %s" %
                      (self.srv.ini, self.key_line, self.srv.key, self.srv.cert), line)
        self.assert_kept(line)

    def test_4_good_new_certificate(self):
        der = write_cert(self.srv.cert, self.srv.key)
        self.assertNotEqual(der, self.before)
        self.hup(r"SIGHUP: host localhost: certificate .* loaded")
        got = None
        for _ in range(50):  # the mux threads pick the new set up from their inboxes
            got = served_der(self.port)
            if got == der:
                break
        self.assertEqual(got, der, "the new certificate is not served")
        self.assertEqual(file_der(self.srv.cert), der)


if __name__ == "__main__":
    run_tests(__name__)
