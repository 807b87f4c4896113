"""A test PKI for the s2s integration tests: a CA that the servers under
test trust, leaf certificates it issues for server domains, and a second
CA that nobody trusts, all made with openssl in a temporary directory for
one run."""

import os
import shutil
import subprocess
import tempfile


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


class Pki:
    """A test CA and leaf certificates for server domains, and a second CA
    that xmppd does not trust."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xmppd-it-s2s-pki-")
        self.ca, self.ca_key = self._ca("ca")
        self.rogue, self.rogue_key = self._ca("rogue")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name):
        cert, key = self.path(name + ".pem"), self.path(name + ".key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj",
                "/CN=xmppd test CA %s" % name, "-addext", "basicConstraints=critical,CA:true",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return cert, key

    def leaf(self, name, san, ca="ca"):
        """A certificate for san (an openssl subjectAltName value) signed by
        the CA named ca; returns (cert, key)."""
        cert, key = self.path(name + ".pem"), self.path(name + ".key")
        ca_cert, ca_key = (self.ca, self.ca_key) if ca == "ca" else (self.rogue, self.rogue_key)
        openssl("req", "-x509", "-CA", ca_cert, "-CAkey", ca_key, "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                "-subj", "/CN=%s" % name, "-addext", "subjectAltName=" + san,
                "-addext", "basicConstraints=critical,CA:false")
        return cert, key

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def route_to_each_other(a, b, listener="s2s"):
    """[s2s_route] on each of two harness Servers for the other's domain,
    to its listener; the ini files are written again."""
    a.cfg["s2s_route " + b.domain] = {"address": "127.0.0.1", "port": b.port(listener)}
    b.cfg["s2s_route " + a.domain] = {"address": "127.0.0.1", "port": a.port(listener)}
    a._write_ini()
    b._write_ini()


def end_all(servers, pki, others=()):
    """tearDownModule of a federation test: each server must have exited
    cleanly (the first failure is raised after everything is cleaned up);
    then the servers' temp dirs, the PKI and others (anything with
    close()) go."""
    import unittest
    try:
        for srv in servers:
            if srv is not None:
                srv.check_clean_exit(unittest.TestCase())
    finally:
        for srv in servers:
            if srv is not None:
                srv.cleanup()
        for o in others:
            if o is not None:
                o.close()
        if pki is not None:
            pki.cleanup()


def clean_up(*things):
    """What a federation test with peer servers made (servers' temp dirs,
    its DNS server, its PKI): cleanup(), else close(), of each that is not
    None."""
    for t in things:
        if t is not None:
            (getattr(t, "cleanup", None) or t.close)()


def set_up_module(set_up, clean_up_fn):
    """setUpModule around set_up: unittest does not run tearDownModule when
    setUpModule fails, so what was started is cleaned up before raising."""
    try:
        set_up()
    except BaseException:
        clean_up_fn()
        raise
