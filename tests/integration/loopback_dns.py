"""A tiny authoritative DNS server on a loopback UDP port for the interop
tests: a peer server (Prosody, ejabberd) that finds xmppd's domain by DNS
is pointed at it instead of the machine's resolver, so that no test needs
/etc/hosts, /etc/resolv.conf or the network.  The federation pairs of
bench/compare.sh use it too (bench/lib/compare.py imports it from here);
it needs nothing of the test harness.

It answers from a small zone given as {(name, type): [rdata, ...]} with
type "A", "AAAA" or "SRV" (rdata of SRV: (priority, weight, port,
target)).  A name present in the zone with another type gets an empty
answer (NODATA); any other name gets NXDOMAIN.  Queries are counted per
(name, type) in `asked`, so a test can tell that the peer did ask.
Stops with close() (and is a daemon thread, so it never outlives the
test process).
"""

import socket
import struct
import threading

LOCALHOST = "127.0.0.1"

TYPES = {"A": 1, "AAAA": 28, "SRV": 33}
NAMES = {v: k for k, v in TYPES.items()}


def _encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def _decode_name(pkt, off):
    labels = []
    while True:
        n = pkt[off]
        if n == 0:
            return ".".join(labels), off + 1
        if n & 0xC0:      # no compression in questions we expect; refuse
            raise ValueError("compressed name in question")
        labels.append(pkt[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


class LoopbackDns:
    def __init__(self, zone, ttl=30):
        self.zone = {(n.lower().rstrip("."), t): list(v) for (n, t), v in zone.items()}
        self.names = {n for (n, _) in self.zone}
        self.ttl = ttl
        self.asked = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCALHOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.address = "%s@%d" % (LOCALHOST, self.port)   # unbound's forwarder syntax
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _rdata(self, qtype, value):
        if qtype == 1:
            return socket.inet_pton(socket.AF_INET, value)
        if qtype == 28:
            return socket.inet_pton(socket.AF_INET6, value)
        prio, weight, port, target = value
        return struct.pack("!HHH", prio, weight, port) + _encode_name(target)

    def answer(self, pkt):
        qid, flags, qd, _an, _ns, _ar = struct.unpack("!HHHHHH", pkt[:12])
        if qd != 1:
            return None
        name, off = _decode_name(pkt, 12)
        qtype, qclass = struct.unpack("!HH", pkt[off:off + 4])
        question = pkt[12:off + 4]
        key = name.lower().rstrip(".")
        self.asked[(key, NAMES.get(qtype, qtype))] = self.asked.get((key, NAMES.get(qtype, qtype)), 0) + 1
        records = self.zone.get((key, NAMES.get(qtype)), []) if qclass == 1 else []
        rcode = 0 if key in self.names else 3          # NXDOMAIN
        answers = b""
        for value in records:
            rdata = self._rdata(qtype, value)
            answers += (b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, self.ttl, len(rdata)) + rdata)
        # QR, AA, RD copied, RA
        rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
        head = struct.pack("!HHHHHH", qid, rflags, 1, len(records), 0, 0)
        return head + question + answers

    def _run(self):
        while not self._stop:
            try:
                pkt, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self.answer(pkt)
            except (ValueError, IndexError, struct.error):
                reply = None
            if reply:
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()
