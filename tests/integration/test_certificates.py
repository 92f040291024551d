"""test_certificates.py (issue 20): domain.certificate.set (starlingctl certificate install):
an uploaded PEM certificate and key are checked (key match, names of the domain and its chat
service, validity) before they replace the domain's files, and served at once."""

import hashlib
import os
import socket
import ssl
import subprocess

import pytest

from test_check import DOMAIN, SERVICE, make_leaf, openssl, pki  # noqa: F401 (fixture)


def served_fingerprint(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=DOMAIN) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def file_fingerprint(path):
    der = subprocess.run(["openssl", "x509", "-in", path, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


@pytest.fixture
def srv(make_server, pki):  # noqa: F811
    return make_server({"server.main_domain": DOMAIN, "tls.s2s_ca_file": pki["ca"]})


def install(srv, crt, key):
    return srv.ctl("certificate", "install", DOMAIN, crt, key)


def test_good_certificate_is_served_at_once(srv, pki):  # noqa: F811
    live = os.path.join(srv.datadir, "certs", DOMAIN + ".crt")
    before = file_fingerprint(live)
    assert served_fingerprint(srv.tls_port) == before  # the generated one
    crt, key = pki["good"]
    r = install(srv, crt, key)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    assert file_fingerprint(live) == file_fingerprint(crt)
    assert served_fingerprint(srv.tls_port) == file_fingerprint(crt)
    key_path = os.path.join(srv.datadir, "certs", DOMAIN + ".key")
    assert os.stat(key_path).st_mode & 0o077 == 0
    assert srv.wait_log(r"ADMIN .*certificate of %s replaced" % DOMAIN)
    assert not [f for f in os.listdir(os.path.join(srv.datadir, "certs")) if "upload" in f]


def test_bad_uploads_are_refused_and_change_nothing(srv, pki):  # noqa: F811
    live = os.path.join(srv.datadir, "certs", DOMAIN + ".crt")
    before = file_fingerprint(live)
    cases = [
        ((pki["good"][0], pki["other"][1]), "is not the certificate's"),
        (pki["no_service"], "does not name " + SERVICE),
        ((pki["good"][1], pki["good"][1]), "not PEM"),
    ]
    for (crt, key), why in cases:
        r = install(srv, crt, key)
        assert r.returncode == 1 and why in r.stderr, (why, r.stderr)
        assert file_fingerprint(live) == before
    assert served_fingerprint(srv.tls_port) == before


def test_warnings_for_a_short_validity_and_an_unknown_chain(make_server, pki):  # noqa: F811
    srv = make_server({"server.main_domain": DOMAIN})  # no s2s CA: the system's roots
    r = install(srv, *pki["short"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(l.startswith("warning: ") and "expires in" in l for l in lines), lines
    assert any("the chain does not verify" in l for l in lines), lines
