"""SASL EXTERNAL with TLS client certificates (RFC 6120 §6.4, XEP-0178 id-on-xmppAddr)."""
import os
import subprocess

import pytest

import rawxmpp
from rawxmpp import NS_SASL, RawClient, mechanisms, q

PW = "ext-secret"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA, a client certificate for alice@localhost signed by it, and a self-signed one."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Test CA",
            "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", cwd=d)
    (d / "alice.ext").write_text("subjectAltName=otherName:1.3.6.1.5.5.7.8.5;UTF8:alice@localhost\n"
                                 "extendedKeyUsage=clientAuth\n")
    openssl("req", *ec, "-keyout", "alice.key", "-out", "alice.csr", "-subj", "/CN=alice", cwd=d)
    openssl("x509", "-req", "-in", "alice.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "alice.pem", "-days", "2", "-extfile", "alice.ext", cwd=d)
    openssl("req", "-x509", *ec, "-keyout", "rogue.key", "-out", "rogue.pem", "-subj",
            "/CN=rogue", "-days", "2", "-addext",
            "subjectAltName=otherName:1.3.6.1.5.5.7.8.5;UTF8:alice@localhost", cwd=d)
    return d


def cert_client(port, cert, key, tls=True):
    class CertClient(RawClient):
        def _ssl_context(self):
            ctx = super()._ssl_context()
            ctx.load_cert_chain(cert, key)
            return ctx
    return CertClient(port, tls=tls)


@pytest.fixture
def ext_server(make_server, pki):
    srv = make_server({"tls.client_ca_file": str(pki / "ca.pem")})
    srv.ctl_ok("account", "add", "alice@localhost", "--password", PW)
    return srv


@pytest.mark.parametrize("direct_tls", [True, False], ids=["direct-tls", "starttls"])
def test_external_login_with_client_certificate(ext_server, pki, direct_tls):
    if direct_tls:
        c = cert_client(ext_server.tls_port, pki / "alice.pem", pki / "alice.key")
        feats = c.open()
    else:
        c = cert_client(ext_server.port, pki / "alice.pem", pki / "alice.key", tls=False)
        c.open()
        feats = c.starttls()
    try:
        assert "EXTERNAL" in mechanisms(feats)
        c.sasl_auth("EXTERNAL", b"")
        kind, data = c.sasl_next()
        assert kind == "success", data
        c.restart()
        jid = c.bind("cert")
        assert jid == "alice@localhost/cert"
    finally:
        c.close()


def test_external_with_explicit_authzid(ext_server, pki):
    c = cert_client(ext_server.tls_port, pki / "alice.pem", pki / "alice.key")
    try:
        c.open()
        c.sasl_auth("EXTERNAL", b"alice@localhost")
        assert c.sasl_next()[0] == "success"
    finally:
        c.close()


def test_external_for_another_identity_is_refused(ext_server, pki):
    ext_server.ctl_ok("account", "add", "bob@localhost", "--password", PW)
    c = cert_client(ext_server.tls_port, pki / "alice.pem", pki / "alice.key")
    try:
        c.open()
        c.sasl_auth("EXTERNAL", b"bob@localhost")
        kind, cond = c.sasl_next()
        assert kind == "failure" and cond in ("invalid-authzid", "not-authorized"), cond
    finally:
        c.close()


def test_untrusted_certificate_gets_no_external(ext_server, pki):
    c = cert_client(ext_server.tls_port, pki / "rogue.pem", pki / "rogue.key")
    try:
        feats = c.open()
        assert "EXTERNAL" not in mechanisms(feats)
        c.sasl_auth("EXTERNAL", b"")
        kind, cond = c.sasl_next()
        assert (kind, cond) == ("failure", "invalid-mechanism")
    finally:
        c.close()


def test_no_certificate_no_external(ext_server):
    c, feats = rawxmpp.connect(ext_server, direct_tls=True)
    try:
        assert "EXTERNAL" not in mechanisms(feats)
        assert "PLAIN" in mechanisms(feats)
    finally:
        c.close()


def test_client_ca_setting_is_live(make_server, pki):
    srv = make_server()
    srv.ctl_ok("account", "add", "alice@localhost", "--password", PW)
    c = cert_client(srv.tls_port, pki / "alice.pem", pki / "alice.key")
    try:
        assert "EXTERNAL" not in mechanisms(c.open())
    finally:
        c.close()
    srv.ctl_ok("settings", "set", "tls.client_ca_file", str(pki / "ca.pem"))
    c = cert_client(srv.tls_port, pki / "alice.pem", pki / "alice.key")
    try:
        assert "EXTERNAL" in mechanisms(c.open())
    finally:
        c.close()
    bad = srv.ctl("settings", "set", "tls.client_ca_file", "/nonexistent/ca.pem")
    assert bad.returncode == 1 and "ca.pem" in bad.stderr
