"""test_negotiation.py: whitespace between negotiation steps, restarted streams, XML 1.1,
oversize SASL data and channel-binding negotiation (issues 11 and 12), by raw socket."""

import base64
import socket
import ssl
import time

import pytest

import rawxmpp
import scram
from rawxmpp import NS_CLIENT, NS_SASL, NS_STREAM, NS_TLS, RawClient, header, q

PW = "Negot-pa55"
T = 15.0  # long enough for a doubled back-off of earlier counted failures from 127.0.0.1
# A real back-off (unlike the suite's default of 0) and a low failure limit: a channel-binding
# refusal must cost neither.
SERVER_OPTIONS = {"xmpp.receiving.auth_failure_delay": "1500",
                  "xmpp.receiving.max_auth_failures": "2"}


@pytest.fixture(scope="module", autouse=True)
def accounts(server):
    server.add_account("alice@localhost", PW)
    server.ctl_ok("domain", "add", "other.test")
    server.add_account("alice@other.test", PW)


def scram_first(mech, user, gs2):
    return ("%sn=%s,r=abcdefghijklmnop" % (gs2, user)).encode()


def plain(user, pw):
    return base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()


def proceed(server, after=""):
    """A clear-text stream that sent <starttls/> (and `after` with it) and got <proceed/>."""
    c = RawClient(server.port, timeout=T)
    c.open()
    c.send("<starttls xmlns='%s'/>%s" % (NS_TLS, after))
    c.expect(q(NS_TLS, "proceed"))
    return c


def bind_and_chat(c):
    c.bind("neg")
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>")
    assert r.get("type") == "result", rawxmpp.dump(r)


# ---- whitespace between top-level elements ---------------------------------------------------

@pytest.mark.parametrize("ws", ["\n", " \r\n\t"], ids=["newline", "mixed"])
def test_whitespace_after_starttls_is_not_tls_input(server, ws):
    # go-sendxmpp writes "<starttls .../>\n": the newline must not reach OpenSSL.
    c = proceed(server, ws)
    c._wrap_tls()
    feats = c.open()
    assert "PLAIN" in rawxmpp.mechanisms(feats)
    c.sasl_auth("PLAIN", ("\0alice\0%s" % PW).encode())
    assert c.sasl_next() == ("success", b"")
    c.restart()
    bind_and_chat(c)
    c.close()


def test_whitespace_after_starttls_in_a_later_packet(server):
    c = proceed(server)
    c.send("\n")            # its own TCP segment, before the ClientHello
    time.sleep(0.2)
    c._wrap_tls()
    feats = c.open()
    assert "PLAIN" in rawxmpp.mechanisms(feats)
    c.close()


def test_data_after_starttls_is_a_stream_error(server):
    # Anything but whitespace sent with <starttls/> (before <proceed/>) is neither stream nor
    # handshake: the server ends the stream instead of handing it to OpenSSL.
    c = proceed(server, "<iq type='get' id='x'/>")
    assert c.expect_stream_error("policy-violation") is not None
    c.close()
    server.wait_log(r"data after <starttls/> before the TLS handshake")


@pytest.mark.parametrize("direct", [False, True], ids=["starttls", "direct_tls"])
def test_whitespace_and_declaration_before_restarted_stream(server, direct):
    # go-sendxmpp on direct TLS: "</auth>\n<?xml version='1.0'?>\n<stream:stream ...>".
    c, _ = rawxmpp.connect(server, direct_tls=direct, timeout=T)
    c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>\n" % (NS_SASL, plain("alice", PW)))
    assert c.sasl_next() == ("success", b"")
    c._reset_parser()
    c.send("\n<?xml version='1.0'?>\n" + header(decl=False))
    c.wait_header()
    c.expect(q(NS_STREAM, "features"))
    bind_and_chat(c)
    c.close()


def test_whitespace_before_restart_in_the_same_packet(server):
    c, _ = rawxmpp.connect(server, timeout=T)
    c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>\r\n  \n<?xml version='1.0'?>%s"
           % (NS_SASL, plain("alice", PW), header(decl=False)))
    # The answers (success, then the new header and features) may come in one read: look at
    # the bytes rather than through one document's parser.
    got = bytearray()
    deadline = time.monotonic() + 5
    c.sock.settimeout(0.2)
    while time.monotonic() < deadline and b"urn:ietf:params:xml:ns:xmpp-bind" not in got:
        try:
            got += c.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            pass
    tail = bytes(got).split(b"<success", 1)[-1]
    assert b"stream:error" not in tail, tail
    assert b"urn:ietf:params:xml:ns:xmpp-bind" in tail, tail
    c.close()


def test_whitespace_before_first_header(server):
    c = RawClient(server.port, timeout=T)
    c.send("\r\n ")
    feats = c.open()
    assert feats.find(q(NS_TLS, "starttls")) is not None
    c.close()


def test_content_before_restarted_declaration_still_refused(server):
    # Only whitespace is tolerated: a character before the declaration is still not XML.
    c, _ = rawxmpp.connect(server, timeout=T)
    c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, plain("alice", PW)))
    assert c.sasl_next() == ("success", b"")
    c._reset_parser()
    c.send("x<?xml version='1.0'?>" + header(decl=False))
    assert c.stream_error() is not None
    c.close()


# ---- XML 1.1 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("quote", ["'", '"'])
def test_xml_1_1_declaration_is_refused(server, quote):
    c = RawClient(server.port, timeout=T)
    c.send("<?xml version=%s1.1%s?>%s" % (quote, quote, header(decl=False)))
    assert c.expect_stream_error("unsupported-version") is not None
    c.close()


def test_xml_1_0_declaration_with_encoding_still_accepted(server):
    c = RawClient(server.port, timeout=T)
    c.send("<?xml version='1.0' encoding='UTF-8'?>" + header(decl=False))
    c.wait_header()
    c.expect(q(NS_STREAM, "features"))
    c.close()


# ---- restarted stream to another host --------------------------------------------------------

def test_restart_after_sasl_naming_another_host_is_host_unknown(server):
    c, _ = rawxmpp.connect(server, timeout=T)
    assert c.plain("alice", PW) == ("success", b"")
    c._reset_parser()
    c.send(header(to="other.test"))
    assert c.expect_stream_error("host-unknown") is not None
    c.close()


def test_restart_after_starttls_naming_another_host_is_host_unknown(server):
    c = proceed(server)
    c._wrap_tls()
    c._reset_parser()
    c.send(header(to="other.test"))
    assert c.expect_stream_error("host-unknown") is not None
    c.close()


def test_restart_naming_the_same_host_is_fine(server):
    c, _ = rawxmpp.connect(server, timeout=T)
    assert c.plain("alice", PW) == ("success", b"")
    c.restart(to="localhost")
    bind_and_chat(c)
    c.close()


# ---- oversize SASL data -----------------------------------------------------------------------

def test_oversize_initial_response_is_malformed_request(server):
    c, _ = rawxmpp.connect(server, timeout=T)
    big = "A" * (100 * 1024)        # over the 64 KiB SASL text buffer, under the stanza limit
    c.send("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>" % (NS_SASL, big))
    assert c.sasl_next() == ("failure", "malformed-request")
    c.close()


def test_oversize_response_is_malformed_request(server):
    c, _ = rawxmpp.connect(server, timeout=T)
    c.sasl_auth("SCRAM-SHA-256", None)
    kind, _ = c.sasl_next()
    assert kind == "challenge"
    c.send("<response xmlns='%s'>%s</response>" % (NS_SASL, "A" * (100 * 1024)))
    assert c.sasl_next() == ("failure", "malformed-request")
    c.close()


# ---- channel-binding negotiation --------------------------------------------------------------

def timed_failure(c, mech, first):
    t0 = time.monotonic()
    c.sasl_auth(mech, first)
    kind, cond = c.sasl_next()
    return kind, cond, time.monotonic() - t0


def test_cb_refusals_are_immediate_and_not_counted(server):
    # slixmpp 1.8 under TLS 1.3: every -PLUS with tls-unique, then "y". With a 1.5 s back-off
    # and max_auth_failures=2, five refusals answered slowly (or counted) would end the stream.
    c, feats = rawxmpp.connect(server, timeout=T)
    assert c.tls_version == "TLSv1.3"
    assert "tls-unique" not in rawxmpp.cb_types(feats)
    for mech in ("SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"):
        kind, cond, took = timed_failure(c, mech, scram_first(mech, "alice", "p=tls-unique,,"))
        assert (kind, cond) == ("failure", "not-authorized"), mech
        assert took < 0.7, "%s refused after %.2f s" % (mech, took)
    for mech in ("SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS"):
        kind, cond, took = timed_failure(c, mech, scram_first(mech, "alice", "n,,"))
        assert kind == "failure" and took < 0.7, (mech, cond, took)
    # The stream is still open and a correct login works.
    kind, verified = c.scram("SCRAM-SHA-256-PLUS", "alice", PW, cb_type="tls-exporter")
    assert (kind, verified) == ("success", True)
    c.close()
    server.wait_log(r"client asked for tls-unique, not available under TLS 1\.3")


def test_y_after_unoffered_type_is_accepted(server):
    # XEP-0440: the client showed (p=tls-unique) it supports no type we offer; its "y" on the
    # next attempt means "no mutual binding", not a stripped -PLUS.
    c, _ = rawxmpp.connect(server, timeout=T)
    mech = "SCRAM-SHA-512-PLUS"
    kind, _cond, _ = timed_failure(c, mech, scram_first(mech, "alice", "p=tls-unique,,"))
    assert kind == "failure"
    kind, verified = c.scram("SCRAM-SHA-256", "alice", PW, gs2_flag="y")
    assert (kind, verified) == ("success", True)
    c.restart()
    bind_and_chat(c)
    c.close()


def test_y_alone_is_still_a_downgrade(server):
    # Without that evidence, "y" while -PLUS is offered is refused (RFC 5802 section 6) — at
    # once, without back-off — and the stream stays usable.
    c, _ = rawxmpp.connect(server, timeout=T)
    t0 = time.monotonic()
    kind, cond = c.scram("SCRAM-SHA-256", "alice", PW, gs2_flag="y")
    assert (kind, cond) == ("failure", "not-authorized")
    assert time.monotonic() - t0 < 0.7
    for _ in range(3):
        kind, cond = c.scram("SCRAM-SHA-1", "alice", PW, gs2_flag="y")
        assert (kind, cond) == ("failure", "not-authorized")
    assert c.plain("alice", PW) == ("success", b"")
    c.close()
    server.wait_log(r"SASL failure \(not-authorized\): channel binding: .*possible downgrade")


def test_wrong_password_still_backs_off_and_counts(server):
    c, _ = rawxmpp.connect(server, timeout=T)
    t0 = time.monotonic()
    assert c.plain("alice", "wrong") == ("failure", "not-authorized")
    assert time.monotonic() - t0 >= 1.2
    assert c.plain("alice", "wrong2") == ("failure", "not-authorized")
    assert c.wait_closed(10), "the 2nd wrong password (max_auth_failures=2) must end the stream"
    c.close()
    server.wait_log(r"SASL failure \(not-authorized\): wrong password for alice")


def test_failure_log_names_unknown_user_and_malformed(server):
    c, _ = rawxmpp.connect(server, timeout=T)
    kind, cond = c.scram("SCRAM-SHA-256", "nobody-here", PW)
    assert (kind, cond) == ("failure", "not-authorized")
    c.close()
    server.wait_log(r"SASL failure \(not-authorized\): unknown user")
    c, _ = rawxmpp.connect(server, timeout=T)
    c.sasl_auth("SCRAM-SHA-256", b"garbage")
    assert c.sasl_next() == ("failure", "malformed-request")
    c.close()
    server.wait_log(r"SASL failure \(malformed-request\): malformed request")


# ---- the same on an incoming server-to-server stream ------------------------------------------

def s2s_header(to="localhost"):
    return header(to=to, xmlns="jabber:server", decl=False,
                  extra=" from='remote.example' xmlns:db='jabber:server:dialback'")


def test_s2s_whitespace_after_starttls_and_before_restart(server):
    c = RawClient(server.port, timeout=T)
    c.send(s2s_header())
    c.wait_header()
    feats = c.expect(q(NS_STREAM, "features"))
    assert feats.find(q(NS_TLS, "starttls")) is not None, rawxmpp.dump(feats)
    c.send("<starttls xmlns='%s'/>\n" % NS_TLS)
    c.expect(q(NS_TLS, "proceed"))
    c._wrap_tls()
    c._reset_parser()
    c.send("\n<?xml version='1.0'?>\n" + s2s_header())
    c.wait_header()
    feats = c.expect(q(NS_STREAM, "features"))
    assert feats.find(q(NS_TLS, "starttls")) is None, rawxmpp.dump(feats)
    assert c.header_attrs.get("from") == "localhost", c.header_attrs
    c.close()


def _fake_peer_cert(tmp):
    import subprocess
    key, crt = tmp + "/peer.key", tmp + "/peer.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=fake.test", "-days", "1",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    return key, crt


def _recv_until(sock, marker, timeout=15):
    got = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.5)
    while marker not in got and time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        if not data:
            break
        got += data
    return got


def test_s2s_out_whitespace_after_proceed(server, tmp_path):
    # Our outgoing stream to a peer that writes "<proceed/>\n": the newline is not TLS input.
    key, crt = _fake_peer_cert(str(tmp_path))
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(15)
    port = lsock.getsockname()[1]
    server.ctl_ok("settings", "set", "xmpp.sending.routes", "fake.test=127.0.0.1:%d" % port)
    alice = rawxmpp.login(server, "alice", PW, timeout=T)
    alice.send("<message to='x@fake.test' type='chat'><body>hi</body></message>")
    conn, _ = lsock.accept()
    try:
        head = _recv_until(conn, b">")
        assert b"jabber:server" in head, head
        conn.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                     b"xmlns:stream='http://etherx.jabber.org/streams' id='f1' from='fake.test' "
                     b"version='1.0'><stream:features><starttls xmlns='%s'><required/></starttls>"
                     b"</stream:features>" % NS_TLS.encode())
        assert b"<starttls" in _recv_until(conn, b"<starttls")
        conn.sendall(b"<proceed xmlns='%s'/>\n" % NS_TLS.encode())
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        conn.settimeout(15)
        tls = ctx.wrap_socket(conn, server_side=True)
        # The handshake completed and the restarted stream header came over TLS.
        assert b"<stream:stream" in _recv_until(tls, b"<stream:stream")
        tls.close()
    finally:
        conn.close()
        lsock.close()
        alice.close()
        server.ctl_ok("settings", "set", "xmpp.sending.routes", "")
