"""A raw WebSocket client (RFC 6455) for the gateway's tests: the opening
handshake with any headers, frames built by hand (masked or not, any
opcode, RSV bits, fragments), and the server's frames read back one by
one, so that tests can send what a browser never would."""

import base64
import hashlib
import os
import socket
import ssl
import struct

from harness import DOMAIN, LOCALHOST

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
FRAMING_NS = "urn:ietf:params:xml:ns:xmpp-framing"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, key=None):
    """One client frame's bytes."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    masked = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
    return head + key + masked


class Closed(Exception):
    pass


class WsClient:
    """handshake(): sends the upgrade request and reads the answer into
    status and headers (lower-case names); a 101 is checked for its
    accept value.  Then send_text / recv_frame / recv_text."""

    def __init__(self, port, tls=False, cafile=None, timeout=10):
        self.sock = socket.create_connection((LOCALHOST, port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context(cafile=cafile)
            ctx.set_alpn_protocols(["http/1.1"])
            self.sock = ctx.wrap_socket(self.sock, server_hostname=DOMAIN)
        self.buf = b""
        self.status, self.headers, self.body = None, {}, b""

    def handshake(self, path="/xmpp-websocket", protocol="xmpp", version="13", key=None,
                  origin=None, host="localhost", method="GET", upgrade="websocket",
                  connection="Upgrade", extra=""):
        # key: None for a fresh one, False for no Sec-WebSocket-Key at all
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        req = "%s %s HTTP/1.1\r\n" % (method, path)
        if host is not None:
            req += "Host: %s\r\n" % host
        if upgrade is not None:
            req += "Upgrade: %s\r\n" % upgrade
        if connection is not None:
            req += "Connection: %s\r\n" % connection
        if version is not None:
            req += "Sec-WebSocket-Version: %s\r\n" % version
        if key is not False:
            req += "Sec-WebSocket-Key: %s\r\n" % key
        if protocol is not None:
            req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        if origin is not None:
            req += "Origin: %s\r\n" % origin
        self.sock.sendall((req + extra + "\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = top.decode().split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        if self.status == 101:
            want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            assert self.headers.get("sec-websocket-accept") == want, self.headers
        else:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                self._fill()
            self.body, self.buf = self.buf[:n], self.buf[n:]
        return self.status

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError) as e:
            raise Closed(str(e))
        if not data:
            raise Closed("connection closed")
        self.buf += data

    def _need(self, n):
        while len(self.buf) < n:
            self._fill()

    def send(self, data):
        self.sock.sendall(data)

    def send_text(self, text):
        self.send(frame(OP_TEXT, text))

    def open(self, to=DOMAIN):
        self.send_text("<open xmlns='%s' to='%s' version='1.0'/>" % (FRAMING_NS, to))

    def recv_frame(self, timeout=5.0):
        """(fin, opcode, payload bytes) of the server's next frame; the
        server's frames must not be masked."""
        self.sock.settimeout(timeout)
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not (b1 & 0x80), "a server frame must not be masked"
        assert not (b0 & 0x70), "RSV bits set"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_text(self, timeout=5.0):
        """The next text message (pongs skipped); a close frame raises
        Closed with its code in .code."""
        while True:
            fin, op, payload = self.recv_frame(timeout)
            if op == OP_TEXT:
                assert fin, "the server sends whole messages"
                return payload.decode()
            if op == OP_CLOSE:
                e = Closed("close frame")
                e.code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise e
            assert op in (OP_PONG, OP_PING), op

    def messages_until(self, needle, timeout=5.0):
        """Text messages up to and including the first holding needle."""
        out = []
        while True:
            m = self.recv_text(timeout)
            out.append(m)
            if needle in m:
                return out

    def close_code(self, timeout=5.0):
        """Reads to the server's close frame (text messages skipped): its
        code, or None when the connection ends without one."""
        try:
            while True:
                _, op, payload = self.recv_frame(timeout)
                if op == OP_CLOSE:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
        except Closed:
            return None

    def eof(self, timeout=5.0):
        """True when the server closes the TCP connection with nothing
        more to read."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
