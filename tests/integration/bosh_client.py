"""A raw BOSH client (XEP-0124, XEP-0206) for the gateway's tests: requests
are written by hand on connections the test chooses, and answers read when
the test wants them, so that held requests, repeated and out-of-order rids
can be driven exactly."""

import random
import re
import socket
import ssl
import xml.etree.ElementTree as ET

from harness import DOMAIN, LOCALHOST

HTTPBIND_NS = "http://jabber.org/protocol/httpbind"
XBOSH_NS = "urn:xmpp:xbosh"


class HttpConn:
    """One HTTP/1.1 connection: post() writes a request, response() reads
    the next answer: (status, {lower-case header: value}, body str)."""

    def __init__(self, port, tls=False, cafile=None, timeout=10):
        self.sock = socket.create_connection((LOCALHOST, port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context(cafile=cafile)
            self.sock = ctx.wrap_socket(self.sock, server_hostname=DOMAIN)
        self.buf = b""

    def post(self, body, path="/http-bind", origin=None, method="POST", extra=""):
        data = body.encode() if isinstance(body, str) else body
        req = ("%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml; charset=utf-8\r\n"
               "Content-Length: %d\r\n" % (method, path, len(data)))
        if origin:
            req += "Origin: %s\r\n" % origin
        self.sock.sendall((req + extra + "\r\n").encode() + data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("closed; had %r" % self.buf)
        self.buf += d

    def response(self, timeout=10.0):
        while b"\r\n\r\n" not in self.buf:
            self._fill(timeout)
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = top.decode().split("\r\n")
        status = int(lines[0].split(" ")[1])
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill(timeout)
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body.decode()

    def ready(self, timeout=0.2):
        """True when an answer (or a close) is waiting to be read."""
        if self.buf:
            return True
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not d:
            return True
        self.buf += d
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def body(sid=None, rid=None, content="", **attrs):
    a = {"xmlns": HTTPBIND_NS}
    if sid is not None:
        a["sid"] = sid
    if rid is not None:
        a["rid"] = str(rid)
    a.update(attrs)
    s = "<body " + " ".join("%s='%s'" % (k, v) for k, v in a.items())
    return s + ("/>" if not content else ">%s</body>" % content)


def parse(text):
    return ET.fromstring(text)


class Session:
    """A BOSH session over two connections (hold = 1, as browsers do)."""

    def __init__(self, port, tls=False, cafile=None, wait=10, hold=1, origin=None):
        self.port, self.tls, self.cafile, self.origin = port, tls, cafile, origin
        self.conns = [HttpConn(port, tls, cafile), HttpConn(port, tls, cafile)]
        self.rid = random.randint(1000, 1 << 40)
        self.sid = None
        self.create_attrs = dict(to=DOMAIN, wait=str(wait), hold=str(hold), ver="1.6")
        self.create_attrs["xml:lang"] = "en"
        self.create_attrs["xmpp:version"] = "1.0"
        self.create_attrs["xmlns:xmpp"] = XBOSH_NS

    def next_rid(self):
        self.rid += 1
        return self.rid

    def create(self):
        """The creation request; its answer's root element."""
        c = self.conns[0]
        c.post(body(rid=self.rid, **self.create_attrs), origin=self.origin)
        status, hdrs, text = c.response()
        assert status == 200, (status, text)
        root = parse(text)
        self.sid = root.get("sid")
        self.created = root
        self.created_text = text
        return root

    def send(self, content="", conn=0, **attrs):
        """Writes the next request on conn; returns its rid."""
        rid = self.next_rid()
        self.conns[conn].post(body(self.sid, rid, content, **attrs), origin=self.origin)
        return rid

    def answer(self, conn=0, timeout=10.0):
        status, hdrs, text = self.conns[conn].response(timeout)
        assert status == 200, (status, text)
        return text

    def request(self, content="", conn=0, timeout=10.0, **attrs):
        """A request and its answer, on one connection (the other is idle)."""
        self.send(content, conn, **attrs)
        return self.answer(conn, timeout)

    def close(self):
        for c in self.conns:
            c.close()


def children(text):
    """The answer's child elements as strings (each parsed alone)."""
    root = parse(text)
    return [ET.tostring(el, encoding="unicode") for el in root]


def text_of(xml, tag):
    mo = re.search(r"<(?:\w+:)?%s[^>]*>([^<]*)</(?:\w+:)?%s>" % (tag, tag), xml)
    return mo.group(1) if mo else ""
