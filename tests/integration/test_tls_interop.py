#!/usr/bin/env python3
"""TLS interoperability with clients other than wolfSSL's and Python's
defaults (the project's TLS interop issue):

- Erlang/OTP 25 (Debian's erlang-ssl) with TLS 1.3 only and middlebox
  compatibility mode on (its default) must complete the handshake after
  STARTTLS: it sends a legacy session id and aborts with "unexpected_msg
  encrypted_extensions in hello_middlebox_assert" unless the server sends a
  dummy change_cipher_spec after ServerHello (RFC 8446 D.4).

Run: test_tls_interop.py --xmppd BUILD/xmppd --xmppctl BUILD/xmppctl"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server  # noqa: E402

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


if __name__ == "__main__":
    harness.run_tests(__name__)
