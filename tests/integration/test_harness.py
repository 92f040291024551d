"""test_harness.py: checks of the test tooling itself (SCRAM client, channel binding, raw and
slixmpp clients against a scripted dummy server); needs no starlingd."""

import base64
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading

import pytest

import rawxmpp
import scram
import slix

NS = rawxmpp


def test_scram_sha1_rfc5802_vector():
    c = scram.ScramClient("SCRAM-SHA-1", "user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
    assert c.first() == b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    final = c.final(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    assert final == (b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                     b"p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
    assert c.verify(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
    assert not c.verify(b"v=AAAApqV8S7suAoZWja4dJRkFsKQ=")


def test_scram_sha256_rfc7677_vector():
    c = scram.ScramClient("SCRAM-SHA-256", "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    final = c.final(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    assert final == (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                     b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    assert c.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def test_scram_plus_gs2_header():
    c = scram.ScramClient("SCRAM-SHA-512-PLUS", "a,b=c", "pw", cb_type="tls-exporter",
                          cb_data=b"\x01\x02", nonce="abc")
    assert c.first() == b"p=tls-exporter,,n=a=2Cb=3Dc,r=abc"
    final = c.final(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=1")
    cbind = base64.b64encode(b"p=tls-exporter,,\x01\x02").decode()
    assert final.startswith(("c=%s,r=abcdef,p=" % cbind).encode())


# ---- a scripted dummy server ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def cert():
    d = tempfile.mkdtemp(prefix="starling-it-cert-")
    crt, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "1", "-subj", "/CN=localhost"], check=True,
                   capture_output=True)
    yield crt, key
    shutil.rmtree(d, ignore_errors=True)


class Dummy:
    """Accepts connections on two loopback ports (clear + direct TLS) and plays a minimal
    server: STARTTLS, PLAIN (password "secret"), bind, session, ping; <bad/> -> stream error."""

    def __init__(self, cert):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*cert)
        self.socks = []
        self.threads = []
        self.stop = False
        for _ in range(2):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            s.settimeout(0.2)
            self.socks.append(s)
        self.port = self.socks[0].getsockname()[1]
        self.tls_port = self.socks[1].getsockname()[1]
        for i, s in enumerate(self.socks):
            t = threading.Thread(target=self._accept, args=(s, i == 1), daemon=True)
            t.start()
            self.threads.append(t)

    def close(self):
        self.stop = True
        for t in self.threads:
            t.join(2)
        for s in self.socks:
            s.close()

    def _accept(self, lsock, direct):
        while not self.stop:
            try:
                conn, _ = lsock.accept()
            except socket.timeout:
                continue
            t = threading.Thread(target=self._serve, args=(conn, direct), daemon=True)
            t.start()

    def _serve(self, conn, direct):
        conn.settimeout(5)
        buf = [b""]
        state = {"tls": False, "auth": False}

        def read_until(rx):
            while True:
                m = re.search(rx, buf[0], re.S)
                if m:
                    buf[0] = buf[0][m.end():]
                    return m
                data = conn.recv(65536)
                if not data:
                    raise EOFError
                buf[0] += data

        def features():
            if not state["tls"]:
                return ("<starttls xmlns='%s'><required/></starttls>" % NS.NS_TLS)
            if not state["auth"]:
                return ("<mechanisms xmlns='%s'><mechanism>PLAIN</mechanism></mechanisms>"
                        % NS.NS_SASL)
            return ("<bind xmlns='%s'/><session xmlns='%s'/>" % (NS.NS_BIND, NS.NS_SESSION))

        def open_stream():
            read_until(rb"<stream:stream[^>]*>")
            conn.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                          "xmlns:stream='%s' id='s1' from='localhost' version='1.0'>"
                          "<stream:features>%s</stream:features>"
                          % (NS.NS_STREAM, features())).encode())

        try:
            if direct:
                conn = self.ctx.wrap_socket(conn, server_side=True)
                state["tls"] = True
            open_stream()
            while True:
                m = read_until(rb"<(starttls|auth|iq|bad|/stream:stream)\b")
                kind = m.group(1)
                if kind == b"starttls":
                    read_until(rb"^.*?(/>|</starttls>)")
                    conn.sendall(("<proceed xmlns='%s'/>" % NS.NS_TLS).encode())
                    conn = self.ctx.wrap_socket(conn, server_side=True)
                    state["tls"] = True
                    buf[0] = b""
                    open_stream()
                elif kind == b"auth":
                    data = base64.b64decode(read_until(rb"^[^>]*>([^<]*)</auth>").group(1))
                    if data.split(b"\0")[2:] == [b"secret"]:
                        conn.sendall(("<success xmlns='%s'/>" % NS.NS_SASL).encode())
                        state["auth"] = True
                        open_stream()
                    else:
                        conn.sendall(("<failure xmlns='%s'><not-authorized/></failure>"
                                      % NS.NS_SASL).encode())
                elif kind == b"iq":
                    whole = read_until(rb"^[^>]*?/>|^.*?</iq>").group(0)
                    iq_id = re.search(rb"id=['\"]([^'\"]+)", whole).group(1).decode()
                    body = ""
                    if b"xmpp-bind" in whole:
                        body = ("<bind xmlns='%s'><jid>u@localhost/r</jid></bind>" % NS.NS_BIND)
                    conn.sendall(("<iq type='result' id='%s'>%s</iq>" % (iq_id, body)).encode())
                elif kind == b"bad":
                    conn.sendall(("<stream:error><not-well-formed xmlns='%s'/></stream:error>"
                                  "</stream:stream>" % NS.NS_STREAMS_ERR).encode())
                    break
                else:
                    conn.sendall(b"</stream:stream>")
                    break
        except (EOFError, OSError, ssl.SSLError, AttributeError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


@pytest.fixture
def dummy(cert):
    d = Dummy(cert)
    yield d
    d.close()


def test_raw_client_login_starttls_and_direct(dummy):
    for direct in (False, True):
        c = rawxmpp.login(dummy, "u", "secret", resource="r", direct_tls=direct)
        assert c.jid == "u@localhost/r"
        assert c.tls_version in ("TLSv1.2", "TLSv1.3")
        r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
        assert r.get("type") == "result"
        c.end()
        assert c.wait_closed()
        c.close()


def test_raw_client_failure_and_stream_error(dummy):
    c, feats = rawxmpp.connect(dummy)
    assert rawxmpp.mechanisms(feats) == ["PLAIN"]
    assert c.plain("u", "wrong") == ("failure", "not-authorized")
    c.send("<bad/>")
    c.expect_stream_error("not-well-formed")
    c.close()


def test_raw_client_tls_channel_binding_data(dummy):
    c, _ = rawxmpp.connect(dummy, tls_max=ssl.TLSVersion.TLSv1_2)
    assert c.tls_version == "TLSv1.2"
    assert len(scram.tls_unique(c.sock)) == 12
    assert len(scram.tls_server_end_point(c.sock)) == 32
    c.close()
    c, _ = rawxmpp.connect(dummy, direct_tls=True)
    assert c.tls_version == "TLSv1.3"
    try:
        exp = scram.tls_exporter(c.sock)
    except OSError as e:
        pytest.skip("tls-exporter unavailable through ctypes: %s" % e)
    assert len(exp) == 32 and exp != b"\0" * 32
    c.close()


@pytest.mark.parametrize("direct", [False, True], ids=["starttls", "direct_tls"])
def test_slixmpp_helper(dummy, direct):
    r = slix.login_outcome(dummy, "u@localhost/r", "secret", mech="PLAIN", direct_tls=direct)
    assert r["outcome"] == "session", r
    assert r["mechs"] == ["PLAIN"]
    r = slix.login_outcome(dummy, "u@localhost/r", "bad", mech="PLAIN", direct_tls=direct)
    assert r["outcome"] == "failed_auth" and r["condition"] == "not-authorized", r
