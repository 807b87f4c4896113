#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_c2s (tests/fuzz/corpus/c2s/) and of
fuzz_s2s (tests/fuzz/corpus/s2s/: the seeds named s2s_*, whose
configuration byte has bit 5, an s2s listener).

The input format is described at the top of fuzz_c2s.c: a configuration
byte, then records (an op byte; DATA records carry a 16-bit little-endian
length and the bytes).  The SCRAM seeds carry valid client proofs: the
harness's stub store gives juliet@fuzz.test the password "pencil" with the
salt and iteration count below, and fixes the server nonce, so the whole
exchange is known in advance.

    tests/fuzz/gen_c2s_corpus.py [--check build-fuzz/tests/fuzz/fuzz_c2s]

--check runs each seed with FUZZ_C2S_VERBOSE=1 and checks that it gets as
far as it is meant to (its "expect" strings appear in the server's output).
"""
import base64
import hashlib
import hmac
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "c2s")
OUT_S2S = os.path.join(HERE, "corpus", "s2s")

SALT = b"fuzz_c2s salt..\0"  # as make_creds() in fuzz_c2s.c
ITER = 4096
SNONCE = "fuzz-server-nonce"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

# config byte
L_PLAIN, L_STARTTLS_REQ, L_DIRECT, L_DIRECT_INNER = 0, 1, 2, 3
TLS_CLIENT = 4
NO_PLAIN = 8
REGISTER = 16
S2S = 32
DIALBACK = 64


def data(b, conn=0, hold_store=False, hold_delay=False):
    if isinstance(b, str):
        b = b.encode()
    op = (conn << 7) | (4 if hold_store else 0) | (8 if hold_delay else 0)
    return bytes([op]) + struct.pack("<H", len(b)) + b


def split(b, step, conn=0):
    """The same bytes as several DATA records of step bytes each."""
    if isinstance(b, str):
        b = b.encode()
    return b"".join(data(b[i:i + step], conn) for i in range(0, len(b), step))


def timers(preauth=False, idle=False):
    return bytes([1 | (4 if preauth else 0) | (8 if idle else 0)])


def eof(conn=0, close_notify=False):
    return bytes([(conn << 7) | 2 | (4 if close_notify else 0)])


def control(sub, conn=0):
    """0 answer the store, 1 shutdown, 2 TLS reload, 3 EPOLLOUT, 4 KeyUpdate,
    5 the client stops (or resumes) reading, 6/7 the harness logs in with
    SCRAM-SHA-256-PLUS / SCRAM-SHA-1-PLUS"""
    return bytes([(conn << 7) | 3 | (sub << 2)])


HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='fuzz.test' version='1.0'>")
STARTTLS = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
CLOSE = "</stream:stream>"


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode() if s else "="


def auth(mech, payload=None):
    body = "" if payload is None else b64(payload)
    return f"<auth xmlns='{SASL}' mechanism='{mech}'>{body}</auth>"


def response(payload):
    return f"<response xmlns='{SASL}'>{b64(payload)}</response>"


class Scram:
    """The client side of one SCRAM exchange against the stub credential."""

    def __init__(self, hash_name, user="juliet", password="pencil", cnonce="clientnonce",
                 gs2="n,,"):
        self.h = hash_name
        self.gs2 = gs2
        self.bare = f"n={user},r={cnonce}"
        nonce = cnonce + SNONCE
        salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), SALT, ITER)
        client_key = hmac.new(salted, b"Client Key", hash_name).digest()
        stored_key = hashlib.new(hash_name, client_key).digest()
        server_first = f"r={nonce},s={base64.b64encode(SALT).decode()},i={ITER}"
        without_proof = f"c={base64.b64encode(gs2.encode()).decode()},r={nonce}"
        auth_msg = f"{self.bare},{server_first},{without_proof}"
        sig = hmac.new(stored_key, auth_msg.encode(), hash_name).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        self.first = gs2 + self.bare
        self.final = f"{without_proof},p={base64.b64encode(proof).decode()}"


def scram_login(mech="SCRAM-SHA-1", **kw):
    s = Scram("sha1" if mech.startswith("SCRAM-SHA-1") else "sha256", **kw)
    return auth(mech, s.first), response(s.final)


def iq_bind(res="balcony", iq_id="b1"):
    inner = f"<resource>{res}</resource>" if res else ""
    return (f"<iq type='set' id='{iq_id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            f"{inner}</bind></iq>")


SESSION = ("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>"
           "</iq>")
PRESENCE = "<presence><priority>5</priority></presence>"
MSG_SELF = ("<message to='juliet@fuzz.test/balcony' type='chat' id='m1'>"
            "<body>wherefore art thou</body></message>")
MSG_BARE = ("<message to='Juliet@FUZZ.test' type='chat' id='m2'><body>hi &amp; bye</body>"
            "<x xmlns='urn:example'><y a='1'/></x></message>")
MSG_OTHER = "<message to='romeo@fuzz.test' id='m3'><body>x</body></message>"
MSG_REMOTE = "<message to='nurse@elsewhere.example' id='m4'><body>x</body></message>"
MSG_BADJID = "<message to='a@@b' id='m5'/>"
PING = "<iq type='get' id='p1' to='fuzz.test'><ping xmlns='urn:xmpp:ping'/></iq>"
DISCO = ("<iq type='get' id='d1' to='fuzz.test'>"
         "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
ROSTER = "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
IQ_BAD = "<iq type='get' id='x1'/>"


def after_bind():
    return [SESSION, PRESENCE, MSG_SELF, MSG_BARE, MSG_OTHER, MSG_REMOTE, MSG_BADJID, PING,
            DISCO, ROSTER, IQ_BAD, "<presence type='unavailable'/>"]


SEEDS = {}


def seed(name, conf, records, expect=()):
    SEEDS[name] = (bytes([conf]) + b"".join(records), expect)


def plain_login(mech="SCRAM-SHA-1"):
    a, r = scram_login(mech)
    return [data(HEADER), data(a), data(r), data(HEADER), data(iq_bind())]


LOGIN_EXPECT = ("<success", "<jid>juliet@fuzz.test/balcony</jid>")

# full logins in plaintext (require_encryption = false), then the session
seed("scram_sha1_login", L_PLAIN,
     plain_login("SCRAM-SHA-1") + [data(x) for x in after_bind()] + [data(CLOSE)],
     LOGIN_EXPECT + ("wherefore art thou", "urn:xmpp:ping", "service-unavailable"))
a, r = scram_login("SCRAM-SHA-256")
seed("scram_sha256_login", L_PLAIN,
     [data(HEADER), data(a), data(r), data(HEADER), data(iq_bind("")), data(PRESENCE),
      data(PING), data(CLOSE)], ("<success", "<jid>juliet@fuzz.test/xmppd-"))
# no initial response: an empty challenge first
s = Scram("sha256")
seed("scram_empty_initial", L_PLAIN,
     [data(HEADER), data(auth("SCRAM-SHA-256")), data(response(s.first)),
      data(response(s.final)), data(HEADER), data(iq_bind())], LOGIN_EXPECT)
# authzid naming the same account, and another one
s = Scram("sha1", gs2="n,a=juliet@fuzz.test,")
seed("scram_authzid", L_PLAIN,
     [data(HEADER), data(auth("SCRAM-SHA-1", s.first)), data(response(s.final))], ("<success",))
s = Scram("sha1", gs2="n,a=romeo@fuzz.test,")
seed("scram_authzid_other", L_PLAIN,
     [data(HEADER), data(auth("SCRAM-SHA-1", s.first)), data(response(s.final))],
     ("invalid-authzid",))
# everything in one chunk, and the login split into small chunks
a, r = scram_login("SCRAM-SHA-1")
seed("pipelined_bind", L_PLAIN,
     [data(HEADER), data(a), data(r), data(HEADER + iq_bind() + MSG_SELF + PRESENCE + PING)],
     LOGIN_EXPECT + ("wherefore art thou",))
seed("split_login", L_PLAIN,
     [split(HEADER, 7), split(a, 5), split(r, 11), split(HEADER + iq_bind(), 3), split(MSG_SELF, 2)],
     LOGIN_EXPECT)
# (stanzas held while the bind is with the router: pipelined_bind, since
# the router answers the bind when the chunk has been read)
# wrong password: delayed failure, then the right one
bad = Scram("sha1", password="wrong")
seed("wrong_then_right", L_PLAIN,
     [data(HEADER), data(auth("SCRAM-SHA-1", bad.first)), data(response(bad.final)),
      data(a), data(r), data(HEADER), data(iq_bind())], ("not-authorized",) + LOGIN_EXPECT)
# a failure delay that has not fired yet, and a client that does not wait
seed("wrong_no_wait", L_PLAIN,
     [data(HEADER), data(auth("SCRAM-SHA-1", bad.first)),
      data(response(bad.final), hold_delay=True), data(a), timers()], ("policy-violation",))
# five wrong passwords close the stream
seed("five_failures", L_PLAIN,
     [data(HEADER)] + [data(auth("SCRAM-SHA-1", bad.first)), data(response(bad.final))] * 5,
     ("policy-violation",))
# unknown user: a fake challenge, then not-authorized
u = Scram("sha256", user="romeo")
seed("unknown_user", L_PLAIN,
     [data(HEADER), data(auth("SCRAM-SHA-256", u.first)), data(response(u.final))],
     ("<challenge", "not-authorized"))
# the store fails
br = Scram("sha256", user="broken")
seed("store_error", L_PLAIN,
     [data(HEADER), data(auth("SCRAM-SHA-256", br.first))], ("temporary-auth-failure",))
st = Scram("sha1", user="stopping")
seed("store_stopping", L_PLAIN,
     [data(HEADER), data(auth("SCRAM-SHA-1", st.first))], ("temporary-auth-failure",))
# elements while the lookup is out (the store's answer held back)
seed("while_pending", L_PLAIN,
     [data(HEADER), data(a, hold_store=True), data(r, hold_store=True), control(0)],
     ("policy-violation",))
seed("abort_while_pending", L_PLAIN,
     [data(HEADER), data(a, hold_store=True), data(f"<abort xmlns='{SASL}'/>")],
     ("policy-violation",))
seed("eof_while_pending", L_PLAIN, [data(HEADER), data(a, hold_store=True), eof()], ())
# malformed and out-of-order SASL
seed("sasl_malformed", L_PLAIN,
     [data(HEADER), data(response("x")), data(f"<abort xmlns='{SASL}'/>"),
      data(f"<auth xmlns='{SASL}' mechanism='SCRAM-SHA-1'>!!!notbase64</auth>"),
      data(auth("DIGEST-MD5", "x")), data(auth("PLAIN", "\0juliet\0pencil")),
      data(f"<auth xmlns='{SASL}'>biws</auth>"), data(auth("SCRAM-SHA-1", "n,,n=,r=x")),
      data(auth("SCRAM-SHA-1", "p=tls-exporter,,n=juliet,r=abc")),
      data(auth("SCRAM-SHA-1", "y,,n=juliet,r=abc")),
      data(f"<success xmlns='{SASL}'/>")],
     ("incorrect-encoding", "invalid-mechanism", "malformed-request"))
seed("sasl_response_garbage", L_PLAIN,
     [data(HEADER), data(a), data(response("c=biws,r=clientnoncefuzz-server-nonce,p=AAAA")),
      data(a), data(response("c=eSws,r=x,p=")), data(a), data(response("")),
      data(a), data(f"<abort xmlns='{SASL}'/>")], ("<failure",))
seed("too_many_attempts", L_PLAIN,
     [data(HEADER)] + [data(auth("X", "x"))] * 11, ("policy-violation",))
# stanzas before authentication, bind before auth, unknown elements
seed("preauth_stanzas", L_PLAIN,
     [data(HEADER), data(MSG_SELF)], ("not-authorized",))
seed("preauth_other_ns", L_PLAIN,
     [data(HEADER), data("<foo xmlns='urn:x'/>")], ("not-authorized",))
# bind problems after auth
seed("bind_errors", L_PLAIN,
     [data(HEADER), data(a), data(r), data(HEADER), data(MSG_SELF)], ("not-authorized",))
seed("bind_bad", L_PLAIN,
     [data(HEADER), data(a), data(r), data(HEADER),
      data("<iq type='get' id='g'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"),
      data("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>bad\u2028</resource></bind></iq>"),
      data("<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
           "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"),
      data(iq_bind()), data(iq_bind("again")), data("<foo xmlns='urn:x'/>")],
     ("bad-request", "not-allowed", "unsupported-stanza-type"))
# more than 32 stanzas behind the bind request
seed("held_overflow", L_PLAIN,
     [data(HEADER), data(a), data(r), data(HEADER + iq_bind() + MSG_SELF * 33)],
     ("too many stanzas before bind",))
# a header with 'from', answered with 'to'; a stanza with someone else's 'from'
seed("header_from", L_PLAIN,
     [data(HEADER.replace("to=", "from='juliet@fuzz.test' to=")), data(a), data(r),
      data(HEADER), data(iq_bind()),
      data("<message from='romeo@fuzz.test/x' to='juliet@fuzz.test/balcony'><body>f</body></message>")],
     ("to='juliet@fuzz.test'",))
# stream header problems
seed("header_bad_ns", L_PLAIN, [data(HEADER.replace("jabber:client", "jabber:server"))],
     ("invalid-namespace",))
seed("header_no_to", L_PLAIN, [data(HEADER.replace(" to='fuzz.test'", ""))], ("host-unknown",))
seed("header_other_host", L_PLAIN, [data(HEADER.replace("fuzz.test", "FUZZ.TEST."))], ())
seed("header_no_version", L_PLAIN, [data(HEADER.replace("' version='1.0'>", "'>"))],
     ("unsupported-version",))
seed("header_host_change", L_PLAIN,
     [data(HEADER), data(a), data(r), data(HEADER.replace("fuzz.test", "other.test"))],
     ("host-unknown",))
seed("header_doctype", L_PLAIN,
     [data("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>" + HEADER[21:])],
     ("restricted-xml",))
seed("not_xml", L_PLAIN, [data("GET / HTTP/1.1\r\nHost: fuzz.test\r\n\r\n")], ())
seed("close_early", L_PLAIN, [data(HEADER + CLOSE)], ())
seed("eof_early", L_PLAIN, [data(HEADER[:40]), eof()], ())
# pre-auth stanza limits
seed("big_preauth", L_PLAIN, [data(HEADER), data("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
                                                  % (SASL, "QUFB" * 5000))], ("policy-violation",))
# STARTTLS required: no SASL before it, and STARTTLS with a client that
# then sends no TLS (the harness speaks TLS only with config bit 2)
seed("starttls_required_auth", L_STARTTLS_REQ,
     [data(HEADER), data(a), data(MSG_SELF)], ("encryption-required", "policy-violation"))
seed("starttls_then_garbage", L_STARTTLS_REQ,
     [data(HEADER), data(STARTTLS + "<junk/>"), data("\x16\x03\x01\x00\x05hello")], ("<proceed",))
seed("starttls_twice_plain", L_PLAIN,
     [data(HEADER), data(a), data(r), data(HEADER), data(STARTTLS)], ())
seed("starttls_before_header", L_PLAIN, [data(STARTTLS)], ())
seed("direct_tls_garbage", L_DIRECT, [data(HEADER)], ())
# timers: pre-auth timeout, and an authenticated stream that never binds
seed("preauth_timeout", L_PLAIN, [data(HEADER), timers(preauth=True)], ("connection-timeout",))
seed("unbound_timeout", L_PLAIN,
     [data(HEADER), data(a), data(r), data(HEADER), timers(preauth=True)], ("connection-timeout",))
# the router's other answers: the server's iq handlers, iq results and
# errors to the server, other resources and accounts, directed presence,
# groupchat and headline messages, message errors
ROUTER = [
    "<iq type='get' id='i1' to='fuzz.test'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
    "<iq type='get' id='i2' to='fuzz.test'><query xmlns='jabber:iq:version'/></iq>",
    "<iq type='get' id='i3' to='fuzz.test/res'><query xmlns='urn:x:unknown'/></iq>",
    "<iq type='result' id='i4' to='fuzz.test'/>",
    "<iq type='error' id='i5' to='fuzz.test'/>",
    "<iq type='get' id='i6' to='juliet@fuzz.test'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='set' id='i7' to='juliet@fuzz.test'><query xmlns='urn:x:other'/></iq>",
    "<iq type='get' id='i8' to='juliet@fuzz.test/nowhere'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='result' id='i9' to='juliet@fuzz.test/nowhere'/>",
    "<iq type='get' id='i10' to='romeo@fuzz.test'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='get' id='i11' to='elsewhere.example'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq type='result' id='i12' to='elsewhere.example'/>",
    "<presence to='juliet@fuzz.test/balcony'/>",
    "<presence to='juliet@fuzz.test/nowhere' type='probe'/>",
    "<presence to='romeo@fuzz.test' type='subscribe'/>",
    "<presence to='elsewhere.example'/>",
    "<message to='fuzz.test' id='s'><body>to the server</body></message>",
    "<message to='fuzz.test' type='error' id='se'/>",
    "<message to='juliet@fuzz.test/nowhere' type='groupchat'><body>g</body></message>",
    "<message to='juliet@fuzz.test' type='groupchat'><body>g</body></message>",
    "<message to='juliet@fuzz.test/nowhere' type='error'/>",
    "<message to='juliet@fuzz.test' type='error'/>",
    "<message to='juliet@fuzz.test/nowhere' type='headline'><body>h</body></message>",
    "<message to='juliet@fuzz.test/nowhere'><body>to the bare</body></message>",
    "<message><body>no to</body></message>",
    "<iq type='get' id='i13'><ping xmlns='urn:xmpp:ping'/></iq>",
    "<presence type='unavailable'/>",
    "<message to='juliet@fuzz.test'><body>nobody available</body></message>",
]
seed("router_answers", L_PLAIN,
     plain_login() + [data(PRESENCE)] + [data(x) for x in ROUTER],
     # another domain: an s2s link is asked for, which the harness's due
     # timers end at once (its DNS never answers here): the bounce
     ("jabber:iq:version", "remote-server-timeout", "service-unavailable"))
seed("router_pipelined", L_PLAIN,
     plain_login() + [data(PRESENCE + "".join(ROUTER))], ("jabber:iq:version",))
# a bound session goes to sleep and wakes for its next stanza
seed("sleep_wake", L_PLAIN,
     plain_login() + [timers(idle=True), data(MSG_SELF), timers(idle=True), data(PING)],
     ("wherefore art thou", "p1"))
# a client that stops reading: the slow-reader policy closes it; another
# that stops for a while and resumes
BIG = ("<message to='juliet@fuzz.test/balcony' id='big'><body>" + "x" * 12000 +
       "</body></message>")
seed("slow_reader", L_PLAIN, plain_login() + [control(5)] + [data(BIG)] * 8,
     ("output buffer limit",))
seed("slow_reader_resumes", L_PLAIN,
     plain_login() + [control(5), data(BIG), data(BIG), control(5), data(PING)], ("p1",))
# shutdown and TLS reload
seed("shutdown", L_PLAIN, plain_login() + [control(2), control(1), data(MSG_SELF)],
     ("system-shutdown",))
# two connections: a message between them, then the same resource twice
b, s2 = scram_login("SCRAM-SHA-256")
two = [data(HEADER), data(a), data(r), data(HEADER), data(iq_bind()),
       data(HEADER, 1), data(b, 1), data(s2, 1), data(HEADER, 1), data(iq_bind("garden"), 1),
       data(PRESENCE), data(PRESENCE, 1),
       data("<message to='juliet@fuzz.test/garden' id='x'><body>to the garden</body></message>"),
       data("<message to='juliet@fuzz.test' id='y'><body>to all</body></message>", 1),
       data("<iq type='get' id='q' to='juliet@fuzz.test/balcony'><ping xmlns='urn:xmpp:ping'/></iq>", 1)]
seed("two_sessions", L_PLAIN, two + [data(CLOSE, 1), data(MSG_SELF)],
     ("to the garden", "to all"))
seed("conflict", L_PLAIN,
     [data(HEADER), data(a), data(r), data(HEADER), data(iq_bind()),
      data(HEADER, 1), data(b, 1), data(s2, 1), data(HEADER, 1), data(iq_bind(), 1),
      data(MSG_SELF)], ("conflict",))
seed("unbind_mid_delivery", L_PLAIN, two[:10] + [
    data("<message to='juliet@fuzz.test/garden' id='x'><body>late</body></message>"
         + CLOSE)], ())

# ---- with the harness as a TLS client (config bit 2) ----
plain_msg = "\0juliet\0pencil"
seed("tls_starttls_plain", L_STARTTLS_REQ | TLS_CLIENT,
     [data(HEADER), data(STARTTLS), data(HEADER), data(auth("PLAIN", plain_msg)), data(HEADER),
      data(iq_bind()), data(MSG_SELF), eof(close_notify=True)],
     ("<proceed", "PLAIN", "SCRAM-SHA-256-PLUS", "<success", "wherefore art thou"))
seed("tls_plain_wrong", L_STARTTLS_REQ | TLS_CLIENT,
     [data(HEADER), data(STARTTLS), data(HEADER), data(auth("PLAIN", "\0juliet\0pear")),
      data(auth("PLAIN", "juliet@fuzz.test\0juliet\0pencil")), data(auth("PLAIN", "\0romeo\0x")),
      data(auth("PLAIN", "x"))], ("not-authorized", "<success"))
# any local part beginning with "juliet" has the password: PLAIN reaches
# bind with the longest JID there is
seed("tls_plain_long_name", L_STARTTLS_REQ | TLS_CLIENT,
     [data(HEADER), data(STARTTLS), data(HEADER), data(auth("PLAIN", "\0juliet" + "x" * 1017 + "\0pencil")),
      data(HEADER), data(iq_bind("r" * 1023)), data(MSG_SELF)], ("<success",))
seed("tls_plain_disabled", L_STARTTLS_REQ | TLS_CLIENT | NO_PLAIN,
     [data(HEADER), data(STARTTLS), data(HEADER), data(auth("PLAIN", plain_msg))],
     ("invalid-mechanism",))
seed("tls_direct_scram", L_DIRECT | TLS_CLIENT,
     [data(HEADER)] + [data(x) for x in scram_login("SCRAM-SHA-256")] +
     [data(HEADER), data(iq_bind()), timers(idle=True), data(MSG_SELF), control(4),
      data(PING)], ("<success", "wherefore art thou", "p1"))
# -PLUS: the harness cannot compute this TLS session's binding, so these
# reach the channel-binding checks and fail there
seed("tls_plus_mismatch", L_DIRECT | TLS_CLIENT,
     [data(HEADER), data(auth("SCRAM-SHA-256-PLUS", "p=tls-exporter,,n=juliet,r=abc")),
      data(response("c=cD10bHMtZXhwb3J0ZXIsLAAAAA==,r=abcfuzz-server-nonce,p=AAAA")),
      data(auth("SCRAM-SHA-1", "y,,n=juliet,r=abc")),
      data(auth("SCRAM-SHA-1-PLUS", "p=tls-unique,,n=juliet,r=abc"))],
     ("<challenge", "<failure"))
# -PLUS done by the harness itself (CONTROL 6 and 7), which knows the
# binding of its TLS session
seed("tls_scram_sha256_plus", L_DIRECT | TLS_CLIENT,
     [data(HEADER), control(6), data(HEADER), data(iq_bind()), data(MSG_SELF)],
     ("<success", "wherefore art thou"))
seed("tls_scram_sha1_plus_starttls", L_STARTTLS_REQ | TLS_CLIENT,
     [data(HEADER), data(STARTTLS), data(HEADER), control(7), data(HEADER), data(iq_bind())],
     ("<success", "<jid>"))
seed("tls_inside_tls", L_DIRECT_INNER | TLS_CLIENT,
     [data(HEADER), data(STARTTLS), data(HEADER),
      data(auth("PLAIN", plain_msg)), data(HEADER), data(iq_bind()), data(MSG_SELF),
      eof(close_notify=True)], ("<proceed", "<success", "wherefore art thou"))
seed("tls_direct_no_starttls", L_DIRECT | TLS_CLIENT, [data(HEADER), data(STARTTLS)],
     ("urn:ietf:params:xml:ns:xmpp-tls'/>",))
seed("tls_preauth_timeout", L_STARTTLS_REQ | TLS_CLIENT,
     [data(HEADER), data(STARTTLS), data(HEADER), timers(preauth=True)], ("connection-timeout",))

# XEP-0077 (config bit 4: registration = open): the form, a new account,
# a taken name, a bad name (no token), a password the stub store refuses,
# then the fourth token of [limits] registrations_per_ip_per_hour (3), and
# two sets in one chunk (one in flight at a time); off: the stream ends


def reg_set(user, pw="pw", iq_id="r"):
    return ("<iq type='set' id='%s'><query xmlns='jabber:iq:register'><username>%s</username>"
            "<password>%s</password></query></iq>" % (iq_id, user, pw))


REG_GET = "<iq type='get' id='g'><query xmlns='jabber:iq:register'/></iq>"
seed("tls_register", L_DIRECT | TLS_CLIENT | REGISTER,
     [data(HEADER), data(REG_GET), data(reg_set("newbie")), data(reg_set("juliet")),
      data(reg_set("a@b")), data(reg_set("x", "badpw")), data(reg_set("y")),
      data(auth("PLAIN", plain_msg)), data(HEADER), data(iq_bind())],
     ("iq-register", "<instructions>", "<conflict", "<not-acceptable", "<policy-violation",
      "<success"))
seed("tls_register_pipelined", L_STARTTLS_REQ | TLS_CLIENT | REGISTER,
     [data(HEADER), data(STARTTLS), data(HEADER),
      data(reg_set("one", iq_id="1") + reg_set("two", iq_id="2")),
      data(reg_set("three", iq_id="3"), hold_store=True), data(auth("PLAIN", plain_msg))],
     ("<resource-constraint", "policy-violation"))
seed("tls_register_off", L_DIRECT | TLS_CLIENT, [data(HEADER), data(REG_GET)],
     ("not-authorized",))

# XEP-0198: enable, acks, an ack for too much; a resumable session whose
# connection drops (detached), another stream resuming with an id the
# seed cannot know (failed, then bind), and enable before bind
SM_ENABLE = "<enable xmlns='urn:xmpp:sm:3' resume='true'/>"
seed("sm_enable_acks", L_PLAIN,
     plain_login() + [data(SM_ENABLE), data(SM_ENABLE), data(PRESENCE), data(MSG_SELF),
                      data("<r xmlns='urn:xmpp:sm:3'/>"), data("<a xmlns='urn:xmpp:sm:3' h='1'/>"),
                      timers(idle=True), data("<a xmlns='urn:xmpp:sm:3' h='99'/>")],
     ("<enabled", "unexpected-request", "<a xmlns='urn:xmpp:sm:3' h='2'/>",
      "handled-count-too-high"))
a2, r2 = scram_login("SCRAM-SHA-1")
seed("sm_detach_resume", L_PLAIN,
     plain_login() + [data(SM_ENABLE), data(MSG_SELF), eof()] +
     [data(HEADER, conn=1), data(a2, conn=1), data(r2, conn=1), data(HEADER, conn=1),
      data("<enable xmlns='urn:xmpp:sm:3'/>", conn=1),
      data("<resume xmlns='urn:xmpp:sm:3' previd='00112233445566778899aabbccddeeff' h='0'/>",
           conn=1),
      data(iq_bind(), conn=1), data(MSG_SELF, conn=1)],
     ("<enabled", "<failed xmlns='urn:xmpp:sm:3'><item-not-found", "wherefore art thou"))


# ---- fuzz_s2s: the s2s-in role; the TLS client presents peer.test's
# certificate, which the server trusts ----

S2S_HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
              "xmlns:stream='http://etherx.jabber.org/streams' from='peer.test' "
              "to='fuzz.test' version='1.0'>")
EXTERNAL = f"<auth xmlns='{SASL}' mechanism='EXTERNAL'>=</auth>"
S2S_MSG = ("<message from='romeo@peer.test/orchard' to='juliet@fuzz.test' type='chat' id='s1'>"
           "<body>by any other name</body></message>")
S2S_LOGIN = [data(S2S_HEADER), data(STARTTLS), data(S2S_HEADER), data(EXTERNAL), data(S2S_HEADER)]

seed("s2s_external_message", L_STARTTLS_REQ | TLS_CLIENT | S2S, S2S_LOGIN + [data(S2S_MSG)],
     ("<required/>", "<mechanism>EXTERNAL</mechanism>", "<success", "link up"))
seed("s2s_direct_tls", L_DIRECT | TLS_CLIENT | S2S,
     [data(S2S_HEADER), data(EXTERNAL), data(S2S_HEADER), data(S2S_MSG),
      data("<iq from='romeo@peer.test/o' to='fuzz.test' type='get' id='p1'>"
           "<ping xmlns='urn:xmpp:ping'/></iq>"), data(CLOSE)],
     ("<mechanism>EXTERNAL</mechanism>", "<success", "link up"))
seed("s2s_forged_from", L_STARTTLS_REQ | TLS_CLIENT | S2S,
     S2S_LOGIN + [data(S2S_MSG.replace("peer.test", "other.test"))], ("invalid-from",))
seed("s2s_foreign_to", L_STARTTLS_REQ | TLS_CLIENT | S2S,
     S2S_LOGIN + [data(S2S_MSG.replace("fuzz.test", "else.test"))], ("host-unknown",))
seed("s2s_no_to", L_STARTTLS_REQ | TLS_CLIENT | S2S,
     S2S_LOGIN + [data("<message from='romeo@peer.test'><body>x</body></message>")],
     ("improper-addressing",))
seed("s2s_bad_stanzas", L_STARTTLS_REQ | TLS_CLIENT | S2S,
     S2S_LOGIN + [data("<iq from='romeo@peer.test' to='juliet@fuzz.test' type='get'/>"),
                  data("<message from='romeo@peer.test' to='a@@fuzz.test'/>"),
                  data("<presence from='romeo@peer.test' to='juliet@fuzz.test'/>"),
                  data("<foo xmlns='jabber:server'/>")],
     ("unsupported-stanza-type",))
seed("s2s_authzid", L_STARTTLS_REQ | TLS_CLIENT | S2S,
     [data(S2S_HEADER), data(STARTTLS), data(S2S_HEADER),
      data(auth("EXTERNAL", "other.test")), data(auth("PLAIN", "\0a\0b")),
      data(auth("EXTERNAL", "peer.test")), data(S2S_HEADER), data(S2S_MSG)],
     ("<invalid-authzid/>", "<invalid-mechanism/>", "<success", "link up"))
# XEP-0288: asked for before EXTERNAL; the link is then offered to the router
seed("s2s_bidi", L_STARTTLS_REQ | TLS_CLIENT | S2S,
     [data(S2S_HEADER), data(STARTTLS), data(S2S_HEADER), data("<bidi xmlns='urn:xmpp:bidi'/>"),
      data(EXTERNAL), data(S2S_HEADER), data(S2S_MSG)],
     ("<bidi xmlns='urn:xmpp:features:bidi'/>", "<success", "bidirectional"))
seed("s2s_plaintext", L_STARTTLS_REQ | S2S,
     [data(S2S_HEADER), data(EXTERNAL), data(S2S_MSG)], ("<required/>", "policy-violation"))
seed("s2s_optional_tls", L_PLAIN | S2S,
     [data(S2S_HEADER), data(EXTERNAL), data(f"<abort xmlns='{SASL}'/>"), data(S2S_MSG)],
     ("<invalid-mechanism/>", "<aborted/>", "not-authorized"))
seed("s2s_bad_headers", L_STARTTLS_REQ | S2S,
     [data(S2S_HEADER.replace("from='peer.test' ", "")), eof(),
      data(S2S_HEADER.replace("peer.test", "fuzz.test"), conn=1)], ("invalid-from",))
seed("s2s_client_ns", L_STARTTLS_REQ | S2S, [data(HEADER)], ("invalid-namespace",))

# dialback (bit 6): the key for 'peer.test -> fuzz.test' is whatever the
# fuzzer finds; a verify request is answered from the secret either way
S2S_DB_HEADER = S2S_HEADER.replace("to='fuzz.test' version=",
                                   "to='fuzz.test' xmlns:db='jabber:server:dialback' version=")
DB_RESULT = "<db:result from='peer.test' to='fuzz.test'>" + "ab" * 32 + "</db:result>"
DB_VERIFY = ("<db:verify from='peer.test' to='fuzz.test' id='0123456789abcdef'>" + "cd" * 32 +
             "</db:verify>")
seed("s2s_dialback", L_STARTTLS_REQ | TLS_CLIENT | S2S | DIALBACK,
     # the verification's timer held, so the second result finds it pending
     [data(S2S_DB_HEADER), data(STARTTLS), data(S2S_DB_HEADER), data(DB_VERIFY),
      data(DB_RESULT, hold_delay=True), data(DB_RESULT, hold_delay=True), data(S2S_MSG)],
     ("urn:xmpp:features:dialback", "type='invalid'", "dialback: verifying", "policy-violation"))
# multiplexing (XEP-0220 2.5) on a stream EXTERNAL authenticated: the
# certificate names only peer.test, so other.test's pair is verified, and
# a second request meanwhile waits
seed("s2s_dialback_more", L_STARTTLS_REQ | TLS_CLIENT | S2S | DIALBACK,
     [data(S2S_DB_HEADER), data(STARTTLS), data(S2S_DB_HEADER), data(EXTERNAL),
      data(S2S_DB_HEADER),
      data("<db:result from='other.test' to='fuzz.test'>" + "ab" * 32 + "</db:result>",
           hold_delay=True),
      data("<db:result from='third.test' to='fuzz.test'>" + "ab" * 32 + "</db:result>"),
      data("<db:result from='peer.test' to='elsewhere.test'>" + "ab" * 32 + "</db:result>"),
      data(S2S_MSG.replace("peer.test", "other.test"))],
     ("dialback: verifying other.test -> fuzz.test", "policy-violation", "item-not-found",
      "invalid-from"))
seed("s2s_dialback_plain", L_PLAIN | S2S | DIALBACK,
     [data(S2S_DB_HEADER), data(DB_RESULT)], ("not-authorized",))
seed("s2s_dialback_bad", L_STARTTLS_REQ | TLS_CLIENT | S2S | DIALBACK,
     [data(S2S_DB_HEADER), data(STARTTLS), data(S2S_DB_HEADER),
      data("<db:result from='other.test' to='fuzz.test'>00</db:result>"),
      data("<db:result to='fuzz.test'>00</db:result>")],
     ("invalid-from",))


def main():
    check = None
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check = sys.argv[2]
    elif len(sys.argv) != 1:
        sys.exit(__doc__)
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(OUT_S2S, exist_ok=True)
    bad = 0
    for name, (blob, expect) in sorted(SEEDS.items()):
        path = os.path.join(OUT_S2S if name.startswith("s2s_") else OUT, name)
        with open(path, "wb") as f:
            f.write(blob)
        if not check:
            continue
        env = dict(os.environ, FUZZ_C2S_VERBOSE="1")
        p = subprocess.run([check, path], env=env, capture_output=True, text=True,
                           errors="replace")
        out = p.stdout + p.stderr
        missing = [e for e in expect if e not in out]
        if p.returncode != 0 or missing:
            bad += 1
            print(f"{name}: exit {p.returncode}, missing {missing}")
    print(f"{len(SEEDS)} seeds in {OUT} and {OUT_S2S}" +
          (f", {bad} not as expected" if check else ""))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
