#!/usr/bin/env python3
"""TLS interoperability with clients other than wolfSSL's and Python's
defaults (the project's TLS interop issue):

- Erlang/OTP 25 (Debian's erlang-ssl) with TLS 1.3 only and middlebox
  compatibility mode on (its default) must complete the handshake after
  STARTTLS: it sends a legacy session id and aborts with "unexpected_msg
  encrypted_extensions in hello_middlebox_assert" unless the server sends a
  dummy change_cipher_spec after ServerHello (RFC 8446 D.4).
- Every clean close sends close_notify before the socket closes: a peer's
  </stream:stream>, a stream error, server shutdown.  Python's ssl module
  raises SSLEOFError on an EOF without close_notify, the same "unexpected
  eof" that libstrophe and openssl s_client report.
- A client offering only FFDHE groups (which this server does not do) gets
  a fatal alert, not a HelloRetryRequest without a key_share (TLS 1.3) or a
  P-256 key exchange it did not offer (TLS 1.2).

Run: test_tls_interop.py --xmppd BUILD/xmppd --xmppctl BUILD/xmppctl"""
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import DOMAIN, LOCALHOST, RawClient, Server  # noqa: E402

XMPPD, XMPPCTL = harness.binaries()

# STARTTLS by hand over gen_tcp, then ssl:connect on the same socket with
# TLS 1.3 only; middlebox_comp_mode is left at its default (true).  Prints
# one line: "ok VERSION" or "error REASON".
ERL_CLIENT = r"""
{ok, [[PortS]]} = init:get_argument(xport),
{ok, [[Ca]]} = init:get_argument(xca),
Port = list_to_integer(PortS),
Out = fun(F, A) -> io:format(F, A), erlang:halt() end,
ReadUntil = fun Loop(S, Acc, Needle) ->
    case binary:match(Acc, Needle) of
        nomatch ->
            case gen_tcp:recv(S, 0, 5000) of
                {ok, D} -> Loop(S, <<Acc/binary, D/binary>>, Needle);
                E -> Out("error tcp ~p ~p~n", [E, Acc])
            end;
        _ -> Acc
    end
end,
{ok, _} = application:ensure_all_started(ssl),
{ok, S} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}]),
ok = gen_tcp:send(S, <<"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
                       "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>">>),
_ = ReadUntil(S, <<>>, <<"</stream:features>">>),
ok = gen_tcp:send(S, <<"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>">>),
_ = ReadUntil(S, <<>>, <<"<proceed">>),
case ssl:connect(S, [{versions, ['tlsv1.3']}, {middlebox_comp_mode, true},
                     {verify, verify_none}, {cacertfile, Ca},
                     {server_name_indication, "localhost"}], 10000) of
    {ok, T} ->
        {ok, Info} = ssl:connection_information(T, [protocol]),
        ok = ssl:send(T, <<"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
                           "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>">>),
        {ok, Data} = ssl:recv(T, 0, 5000),
        Out("ok ~p ~s~n", [proplists:get_value(protocol, Info), Data]);
    {error, R} ->
        Out("error ~p~n", [R])
end.
"""


def strict_eof_context(cafile):
    """Python's default contexts set OP_IGNORE_UNEXPECTED_EOF, which reads
    an EOF without close_notify as a clean end; clear it."""
    ctx = harness.client_ssl_context(cafile)
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


def have(cmd):
    return shutil.which(cmd) is not None


class TlsInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(XMPPD, XMPPCTL, name="tlsinterop").start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.check_clean_exit(unittest.TestCase())
        finally:
            cls.srv.cleanup()

    # -- Erlang/OTP, TLS 1.3 middlebox compatibility -------------------------

    def test_erlang_tls13_middlebox(self):
        self.assertTrue(have("erl"), "erl not installed (scripts/install-deps.sh: erlang-base, erlang-ssl)")
        with tempfile.TemporaryDirectory() as home:
            # erl wants a writable HOME for its cookie; keep it private.
            env = dict(os.environ, HOME=home)
            r = subprocess.run(["erl", "-noshell", "-xport", str(self.srv.port("c2s")),
                                "-xca", self.srv.cert, "-eval", ERL_CLIENT],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=60, env=env)
        out = r.stdout.strip()
        self.assertTrue(out.startswith("ok 'tlsv1.3'"), "Erlang client: %r" % out)
        self.assertIn("<stream:features>", out)

    # -- close_notify on every clean close -----------------------------------

    def _tls_client(self, mode):
        """A RawClient whose TLS socket reports an EOF without close_notify
        as SSLEOFError, as libstrophe and s_client do."""
        if mode == "starttls":
            c = RawClient(self.srv.port("c2s"), cafile=self.srv.cert)
            c.open_stream()
            c.starttls_negotiate()
        else:
            c = RawClient(self.srv.port(mode), cafile=self.srv.cert)
        c.sock = strict_eof_context(self.srv.cert).wrap_socket(
            c.sock, server_hostname=DOMAIN, suppress_ragged_eofs=False)
        c.open_stream()
        return c

    def _read_to_clean_eof(self, c):
        """Reads until the TLS stream ends; fails on EOF without close_notify."""
        data = b""
        c.sock.settimeout(5)
        while True:
            try:
                d = c.sock.recv(4096)
            except ssl.SSLEOFError as e:
                self.fail("EOF without close_notify (%s) after %r" % (e, data[-200:]))
            if not d:
                return data.decode("utf-8", "replace")
            data += d

    def test_close_notify_after_stream_end(self):
        for mode in ("starttls", "dtls"):
            with self.subTest(mode=mode):
                c = self._tls_client(mode)
                c.send("</stream:stream>")
                text = self._read_to_clean_eof(c)
                self.assertIn("</stream:stream>", text)
                c.close()

    def test_close_notify_after_stream_error(self):
        c = self._tls_client("starttls")
        c.send("<message><body>x</body></message>")  # before auth: not-authorized
        text = self._read_to_clean_eof(c)
        self.assertIn("<stream:error>", text)
        c.close()

    def test_close_notify_tls_inside_tls(self):
        c = self._tls_client("dtls_in")
        c.starttls_negotiate()
        c.start_inner_tls()
        c.open_stream()
        c.send("</stream:stream>")
        obj, inc, _ = c.inner
        deadline = time.monotonic() + 5
        inner_end = None
        while inner_end is None:
            try:
                # b"" is CPython's answer to close_notify; an EOF without
                # it raises SSLEOFError
                if not obj.read(65536):
                    inner_end = "close_notify"
            except ssl.SSLWantReadError:
                # harness: moves outer plaintext into the inner BIO; False
                # at the outer layer's end (an SSLEOFError there is caught
                # by the harness, so the outer end is checked below)
                if not c._fill_inner(deadline):
                    inner_end = "outer ended first"
            except ssl.SSLZeroReturnError:
                inner_end = "close_notify"
            except ssl.SSLEOFError as e:
                inner_end = "eof without close_notify: %s" % e
        self.assertEqual(inner_end, "close_notify")
        # the outer layer ends with its own close_notify too
        c.sock.settimeout(5)
        while True:
            try:
                if not c.sock.recv(4096):
                    break
            except ssl.SSLEOFError as e:
                self.fail("outer TLS: EOF without close_notify (%s)" % e)
        c.close()

    # -- FFDHE-only clients --------------------------------------------------

    def _s_client(self, *args):
        self.assertTrue(have("openssl"), "openssl not installed")
        r = subprocess.run(["openssl", "s_client", "-connect",
                            "%s:%d" % (LOCALHOST, self.srv.port("dtls")),
                            "-servername", DOMAIN, "-CAfile", self.srv.cert] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        return r.returncode, r.stdout

    def _assert_refused(self, version_flag):
        rc, out = self._s_client(version_flag, "-groups", "ffdhe2048")
        self.assertNotEqual(rc, 0, out)
        # a proper alert, not a silent close or a bad HelloRetryRequest
        self.assertRegex(out, r"alert (handshake failure|insufficient security)", out)
        self.assertNotIn("Server Temp Key", out)

    def test_ffdhe_only_tls13(self):
        self._assert_refused("-tls1_3")

    def test_ffdhe_only_tls12(self):
        self._assert_refused("-tls1_2")

    def test_ecdhe_groups_still_work(self):
        for flag, group in (("-tls1_3", "X25519"), ("-tls1_3", "P-256"),
                            ("-tls1_3", "P-384"), ("-tls1_2", "P-256")):
            with self.subTest(version=flag, group=group):
                rc, out = self._s_client(flag, "-groups", group)
                self.assertEqual(rc, 0, out)
                self.assertIn("Verify return code: 0 (ok)", out)

    def test_ffdhe_first_then_ecdhe(self):
        # A client that lists FFDHE first but also offers P-256 gets P-256
        # (for TLS 1.3 after a HelloRetryRequest that names it).
        for flag in ("-tls1_3", "-tls1_2"):
            with self.subTest(version=flag):
                rc, out = self._s_client(flag, "-groups", "ffdhe2048:P-256")
                self.assertEqual(rc, 0, out)
                self.assertRegex(out, r"(Server Temp Key|Peer Temp Key): ECDH, (P-256|prime256v1)")


if __name__ == "__main__":
    harness.run_tests(__name__)
