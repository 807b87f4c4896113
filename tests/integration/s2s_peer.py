"""A raw receiving server for the s2s integration tests: it takes an
xmppd's outbound link through STARTTLS, SASL EXTERNAL and XEP-0288, and
then lets the test read and write on the established stream as it likes."""

import re
import socket
import ssl
import time

from harness import LOCALHOST


class ReceivingPeer:
    """A raw receiving server for domain on a loopback port, driven step
    by step by the test that made A connect to it: STARTTLS with a
    certificate from the test CA, SASL EXTERNAL and the XEP-0288 feature,
    so that A's outbound link becomes bidirectional and the peer can send
    on it whatever it likes."""

    def __init__(self, cert, domain):
        self.cert = cert
        self.domain = domain
        self.sock = socket.socket()
        self.sock.bind((LOCALHOST, 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
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

    def header(self, features):
        self.read_until(r"<stream:stream[^>]*>")
        self.conn.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                           "xmlns:stream='http://etherx.jabber.org/streams' id='p%d' from='%s' "
                           "version='1.0'><stream:features>%s</stream:features>"
                           % (time.monotonic_ns(), self.domain, features)).encode())

    def accept_link(self):
        """Takes A's connection through to an established bidi link;
        returns what A sent before its <auth/> (where <bidi/> must be)."""
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
                    "<mechanism>EXTERNAL</mechanism></mechanisms>"
                    "<bidi xmlns='urn:xmpp:features:bidi'/>")
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

    def send(self, xml):
        self.conn.sendall(xml.encode())

    def close(self):
        for s in (self.conn, self.sock):
            if s:
                try:
                    s.close()
                except OSError:
                    pass
