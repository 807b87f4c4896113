"""Raw servers for the s2s integration tests: ReceivingPeer takes an
xmppd's outbound link through STARTTLS, SASL EXTERNAL and XEP-0288;
InitiatingPeer opens a link to an xmppd the same way.  Either then lets
the test read and write on the established stream as it likes."""

import re
import socket
import ssl
import time

from harness import LOCALHOST


class RawStream:
    """One raw stream of a test's fake server: self.conn and what it read."""

    def __init__(self):
        self.sock = None
        self.conn = None
        self.buf = ""

    def read_until(self, pattern, timeout=10):
        """What came since the last call, up to and including pattern."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while not rx.search(self.buf):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("peer: no %r in %r" % (pattern, self.buf))
            self.conn.settimeout(left)
            data = self.conn.recv(65536)
            if not data:
                raise AssertionError("peer: closed before %r; got %r" % (pattern, self.buf))
            self.buf += data.decode("utf-8", "replace")
        end = rx.search(self.buf).end()
        got, self.buf = self.buf[:end], self.buf[end:]
        return got

    def send(self, xml):
        self.conn.sendall(xml.encode())

    def close(self):
        for s in (self.conn, self.sock):
            if s:
                try:
                    s.close()
                except OSError:
                    pass


class ReceivingPeer(RawStream):
    """A raw receiving server for domain on a loopback port, driven step
    by step by the test that made A connect to it: STARTTLS with a
    certificate from the test CA, SASL EXTERNAL and the XEP-0288 feature,
    so that A's outbound link becomes bidirectional and the peer can send
    on it whatever it likes."""

    def __init__(self, cert, domain):
        super().__init__()
        self.cert = cert
        self.domain = domain
        self.sock = socket.socket()
        self.sock.bind((LOCALHOST, 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]

    def header(self, features):
        self.read_until(r"<stream:stream[^>]*>")
        self.conn.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                           "xmlns:stream='http://etherx.jabber.org/streams' id='p%d' from='%s' "
                           "version='1.0'><stream:features>%s</stream:features>"
                           % (time.monotonic_ns(), self.domain, features)).encode())

    def accept_link(self, bidi=True):
        """Takes A's connection through to an established link,
        bidirectional unless bidi is False; returns what A sent before its
        <auth/> (where <bidi/> must be)."""
        self.sock.settimeout(10)
        self.conn, _ = self.sock.accept()
        self.header("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>")
        self.read_until(r"<starttls[^>]*/>")
        self.conn.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.cert)
        self.conn.settimeout(10)
        self.conn = ctx.wrap_socket(self.conn, server_side=True)
        self.buf = ""
        self.header("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                    "<mechanism>EXTERNAL</mechanism></mechanisms>" +
                    ("<bidi xmlns='urn:xmpp:features:bidi'/>" if bidi else ""))
        before_auth = self.read_until(r"<auth[^>]*>[^<]*</auth>")
        self.conn.sendall(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        self.buf = ""
        self.header("")
        return before_auth

    def records(self, count_pattern, n, timeout=10):
        """What A sends next, record by record (an SSL socket's recv
        returns one TLS record's plaintext at most): a list of (arrival
        time.monotonic(), text) until n matches of count_pattern came."""
        deadline = time.monotonic() + timeout
        out, seen = [], len(re.findall(count_pattern, self.buf))
        if self.buf:
            out.append((time.monotonic(), self.buf))
            self.buf = ""
        while seen < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("peer: %d of %d %r in %r" % (seen, n, count_pattern, out))
            self.conn.settimeout(left)
            data = self.conn.recv(65536)
            if not data:
                raise AssertionError("peer: closed after %r" % out)
            text = data.decode("utf-8", "replace")
            out.append((time.monotonic(), text))
            seen += len(re.findall(count_pattern, text))
        return out


class InitiatingPeer(RawStream):
    """A raw server for domain that opens a link to an xmppd: STARTTLS,
    its certificate from the test CA, XEP-0288's <bidi/> when offered,
    then SASL EXTERNAL, as an xmppd or a Prosody with mod_s2s_bidi does."""

    def __init__(self, cert, ca, domain):
        super().__init__()
        self.cert, self.ca, self.domain = cert, ca, domain

    def _header(self, to):
        self.conn.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                           "xmlns:stream='http://etherx.jabber.org/streams' from='%s' to='%s' "
                           "version='1.0'>" % (self.domain, to)).encode())
        return self.read_until(r"</stream:features>")

    def connect(self, port, to):
        """Brings the link to `to` on port up; returns the features of the
        authenticated stream."""
        self.conn = socket.create_connection((LOCALHOST, port), timeout=10)
        self._header(to)
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.read_until(r"<proceed[^>]*/>")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca)
        ctx.load_cert_chain(*self.cert)
        self.conn = ctx.wrap_socket(self.conn, server_hostname=to)
        self.buf = ""
        features = self._header(to)
        if "urn:xmpp:features:bidi" in features:
            self.send("<bidi xmlns='urn:xmpp:bidi'/>")
        self.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
        self.read_until(r"<success[^>]*/>")
        self.buf = ""
        return self._header(to)
