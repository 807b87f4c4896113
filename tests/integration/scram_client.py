"""The client side of SASL SCRAM-SHA-1 without channel binding (RFC 5802),
for tests that log in over transports slixmpp does not speak (WebSocket,
BOSH): first() is the <auth/>'s payload, final() the <response/>'s."""

import base64
import hashlib
import hmac
import os


class ScramSha1:
    def __init__(self, user, password):
        self.user, self.password = user, password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=%s,r=%s" % (user, self.nonce)

    def first(self):
        return base64.b64encode(("n,," + self.first_bare).encode()).decode()

    def final(self, challenge_b64):
        server_first = base64.b64decode(challenge_b64).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(self.nonce), server_first
        final = "c=biws,r=" + attrs["r"]
        salted = hashlib.pbkdf2_hmac("sha1", self.password.encode(),
                                     base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
        stored = hashlib.sha1(client_key).digest()
        auth_msg = ",".join((self.first_bare, server_first, final)).encode()
        sig = hmac.new(stored, auth_msg, hashlib.sha1).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        return base64.b64encode((final + ",p=" + base64.b64encode(proof).decode())
                                .encode()).decode()
