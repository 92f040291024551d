"""test_bad_input.py: hostile input gets the exact stream error or SASL failure, breaks nothing."""

import socket
import struct
import time

import pytest

import rawxmpp
from rawxmpp import NS_CLIENT, NS_SASL, RawClient, dump, header, q

SERVER_OPTIONS = {"xmpp.receiving.ping_interval": "0"}

PW = "Bad-input-pw"
HDR = header()
HDR_NODECL = header(decl=False)
SNS = "http://etherx.jabber.org/streams"

_count = {"n": 0}


@pytest.fixture(scope="module", autouse=True)
def accounts(server):
    server.add_account("alice@localhost", PW)
    server.add_account("bob@localhost", PW)


@pytest.fixture(scope="module")
def witness(server, accounts):
    """A client that stays logged in for the whole module: it must survive everything."""
    c = rawxmpp.login(server, "bob", PW, resource="witness")
    yield c
    c.close()


def ping(c):
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    assert r.get("type") == "result", dump(r)


def full_login_works(server):
    c = rawxmpp.login(server, "alice", PW, resource="check")
    ping(c)
    c.end()
    c.close()


@pytest.fixture(autouse=True)
def still_serving(request, server, witness):
    """After each test: new connections get a header and features; every 6th test a full
    login and the witness's ping must work too."""
    yield
    if request.node.get_closest_marker("own_server"):
        return
    assert server.running(), "starlingd died:\n" + server.stderr_tail()
    # Several connections, so that each worker (SO_REUSEPORT spreads them) is very likely hit.
    for _ in range(6):
        c = RawClient(server.port)
        feats = c.open()
        assert feats.find(q(rawxmpp.NS_TLS, "starttls")) is not None
        c.close()
    _count["n"] += 1
    if _count["n"] % 6 == 0:
        full_login_works(server)
        ping(witness)


def fresh(server, send_header=True):
    c = RawClient(server.port)
    if send_header:
        c.open()
    return c


def hostile(server, payload, cond, send_header=True):
    """Sends payload on a clear-text connection (after our header and the server's features
    when send_header) and asserts the stream error `cond`, </stream:stream> and the close."""
    c = fresh(server, send_header)
    c.send_flood(payload)
    c.expect_stream_error(cond)
    c.close()


def logged_in(server):
    return rawxmpp.login(server, "alice", PW, resource="bad%d" % time.monotonic_ns())


# ---- before or instead of the stream header ----------------------------------------------------

LOL = ("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
       + "".join("<!ENTITY lol%d '%s'>" % (i, ("&lol%s;" % ("" if i == 1 else i - 1)) * 10)
                 for i in range(1, 10))
       + "]>" + HDR_NODECL + "<message><body>&lol9;</body></message>")

HEADER_CASES = [
    ("doctype", "<?xml version='1.0'?><!DOCTYPE stream:stream>" + HDR_NODECL, "restricted-xml"),
    ("internal_entity",
     "<?xml version='1.0'?><!DOCTYPE s [<!ENTITY x 'y'>]>" + HDR_NODECL, "restricted-xml"),
    ("billion_laughs", LOL, "restricted-xml"),
    ("external_entity", "<?xml version='1.0'?><!DOCTYPE s SYSTEM 'file:///etc/passwd'>"
     + HDR_NODECL, "restricted-xml"),
    ("comment_in_prolog", "<?xml version='1.0'?><!-- hi -->" + HDR_NODECL, "restricted-xml"),
    ("pi_in_prolog", "<?xml version='1.0'?><?evil data?>" + HDR_NODECL, "restricted-xml"),
    ("garbage_before_stream", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n" + HDR,
     "not-well-formed"),
    ("text_before_root", "hello" + HDR_NODECL, "not-well-formed"),
    ("wrong_stream_namespace", "<stream:stream xmlns='jabber:client' "
     "xmlns:stream='http://example.com/streams' to='localhost' version='1.0'>",
     "invalid-namespace"),
    ("root_not_stream", "<stream:hello xmlns='jabber:client' xmlns:stream='%s' to='localhost' "
     "version='1.0'>" % SNS, "invalid-namespace"),
    ("root_in_client_namespace", "<stream xmlns='jabber:client' to='localhost' version='1.0'>",
     "invalid-namespace"),
    ("content_namespace_bogus", header(xmlns="jabber:bogus"), "invalid-namespace"),
    ("content_namespace_missing", "<stream:stream xmlns:stream='%s' to='localhost' "
     "version='1.0'>" % SNS, "invalid-namespace"),
    ("undeclared_stream_prefix", "<stream:stream xmlns='jabber:client' to='localhost' "
     "version='1.0'>", "bad-namespace-prefix"),
    ("version_2", header(version="2.0"), "unsupported-version"),
    ("unknown_host", header(to="unknown.example"), "host-unknown"),
    ("missing_to", header(to=None), "host-unknown"),
    ("encoding_utf16_declared", "<?xml version='1.0' encoding='UTF-16'?>" + HDR_NODECL,
     "unsupported-encoding"),
    ("encoding_latin1_declared", "<?xml version='1.0' encoding='ISO-8859-1'?>" + HDR_NODECL,
     "unsupported-encoding"),
    ("nul_in_header", "<stream:stream xmlns='jabber:client' xmlns:stream='%s' to='local\0host' "
     "version='1.0'>" % SNS, "not-well-formed"),
]


@pytest.mark.parametrize("payload,cond", [(p, c) for _, p, c in HEADER_CASES],
                         ids=[i for i, _, _ in HEADER_CASES])
def test_bad_header(server, payload, cond):
    hostile(server, payload, cond, send_header=False)


def test_utf16_encoded_stream(server):
    data = ("<?xml version='1.0' encoding='UTF-16'?>" + HDR_NODECL).encode("utf-16")
    hostile(server, data, "unsupported-encoding", send_header=False)


def test_tls_client_hello_on_clear_socket(server):
    hello = bytes.fromhex("16030100c4010000c00303") + b"\x00" * 32 + b"\x00\x00\x02\x13\x01"
    hostile(server, hello, "not-well-formed", send_header=False)


# ---- inside the stream (clear text, before TLS) -------------------------------------------------

IN_STREAM_CASES = [
    ("comment", "<!-- sneaky -->", "restricted-xml"),
    ("processing_instruction", "<?php echo 1; ?>", "restricted-xml"),
    ("undefined_entity", "<message><body>&foo;</body>", "restricted-xml"),
    ("mismatched_end_tag", "<message><body>x</message>", "not-well-formed"),
    ("mismatched_stream_end", "</stream:streams>", "not-well-formed"),
    ("duplicate_attribute", "<message to='a@localhost' to='b@localhost'>", "not-well-formed"),
    ("unquoted_attribute", "<message to=bob>", "not-well-formed"),
    ("cdata_end_in_text", "<message><body>a]]>b", "not-well-formed"),
    ("lt_in_attribute", "<message id='a<b'>", "not-well-formed"),
    ("bad_tag_start", "< message/>", "not-well-formed"),
    ("utf8_ff", b"<message><body>\xff\xfe</body>", "not-well-formed"),
    ("utf8_overlong", b"<message><body>\xc0\xaf</body>", "not-well-formed"),
    ("utf8_surrogate", b"<message><body>\xed\xa0\x80</body>", "not-well-formed"),
    ("utf8_truncated", b"<message><body>\xe2\x28\xa1</body>", "not-well-formed"),
    ("utf8_above_10ffff", b"<message><body>\xf4\x90\x80\x80</body>", "not-well-formed"),
    ("utf8_in_tag_name", b"<mess\xffage>", "not-well-formed"),
    ("nul_byte", b"<message><body>a\x00b</body>", "not-well-formed"),
    ("control_char", b"<message><body>a\x01b</body>", "not-well-formed"),
    ("char_ref_to_nul", "<message><body>&#0;</body>", "not-well-formed"),
    ("undeclared_element_prefix", "<foo:message/>", "bad-namespace-prefix"),
    ("undeclared_attribute_prefix", "<message foo:bar='1'/>", "bad-namespace-prefix"),
    # RFC 6120 §6.4.1 / §7.1: no stanza is processed before authentication.
    ("stanza_before_tls", "<message to='bob@localhost'><body>x</body></message>",
     "not-authorized"),
    ("iq_before_tls", "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>",
     "not-authorized"),
    ("many_attributes", "<message " + " ".join("a%d='x'" % i for i in range(10000)) + "/>",
     "policy-violation"),
    ("many_namespace_decls", "<message " + " ".join("xmlns:p%d='urn:x:%d'" % (i, i)
                                                   for i in range(5000)) + "/>",
     "policy-violation"),
    ("deep_nesting_before_tls", "<message>" + "<a>" * 10000, "policy-violation"),
]


@pytest.mark.parametrize("payload,cond", [(p, c) for _, p, c in IN_STREAM_CASES],
                         ids=[i for i, _, _ in IN_STREAM_CASES])
def test_bad_in_stream(server, payload, cond):
    hostile(server, payload, cond)


# ---- after TLS, before authentication ------------------------------------------------------------

def test_stanza_after_tls_before_auth_is_not_authorized(server):
    c, _ = rawxmpp.connect(server)
    c.send("<message to='bob@localhost'><body>sneak</body></message>")
    c.expect_stream_error("not-authorized")
    c.close()


def test_sasl_not_base64_keeps_stream(server):
    c, _ = rawxmpp.connect(server)
    c.send("<auth xmlns='%s' mechanism='PLAIN'>!!not*base64!!</auth>" % NS_SASL)
    assert c.sasl_next() == ("failure", "incorrect-encoding")
    assert c.plain("alice", PW) == ("success", b"")
    c.restart()
    assert c.bind("b64").startswith("alice@localhost/")
    c.close()


def test_sasl_auth_without_mechanism(server):
    c, _ = rawxmpp.connect(server)
    c.send("<auth xmlns='%s'/>" % NS_SASL)
    assert c.sasl_next() == ("failure", "invalid-mechanism")
    assert c.plain("alice", PW) == ("success", b"")
    c.close()


def test_sasl_unknown_mechanism(server):
    c, _ = rawxmpp.connect(server)
    c.sasl_auth("X-NOT-A-MECH", b"abc")
    assert c.sasl_next() == ("failure", "invalid-mechanism")
    c.sasl_auth("EXTERNAL", b"")          # not offered without a client certificate
    assert c.sasl_next() == ("failure", "invalid-mechanism")
    c.close()


def test_sasl_response_without_auth(server):
    c, _ = rawxmpp.connect(server)
    c.sasl_response(b"n,,n=alice,r=abc")
    assert c.sasl_next() == ("failure", "malformed-request")
    c.close()


def test_sasl_plain_without_separators(server):
    c, _ = rawxmpp.connect(server)
    c.sasl_auth("PLAIN", b"alice" + PW.encode())
    assert c.sasl_next() == ("failure", "malformed-request")
    c.close()


def test_sasl_abort(server):
    c, _ = rawxmpp.connect(server)
    c.sasl_auth("SCRAM-SHA-256", b"n,,n=alice,r=abcdefgh")
    kind, _ = c.sasl_next()
    assert kind == "challenge"
    c.send("<abort xmlns='%s'/>" % NS_SASL)
    assert c.sasl_next() == ("failure", "aborted")
    assert c.plain("alice", PW) == ("success", b"")
    c.close()


def test_sasl_scram_garbage_client_first(server):
    c, _ = rawxmpp.connect(server)
    c.sasl_auth("SCRAM-SHA-256", b"\x00\x01garbage,,,=")
    kind, cond = c.sasl_next()
    assert (kind, cond) == ("failure", "malformed-request")
    c.close()


# ---- after login ------------------------------------------------------------------------------

def test_unknown_stream_namespace_element_after_login(server):
    c = logged_in(server)
    c.send("<stream:foo/>")
    c.expect_stream_error("unsupported-stanza-type")
    c.close()


def test_unknown_client_element_after_login(server):
    c = logged_in(server)
    c.send("<foo/>")
    c.expect_stream_error("unsupported-stanza-type")
    c.close()


# The three size/depth limits run each on a server of their own: if one wedges a worker, the
# failure stays in that test instead of cascading through the module.

def own_logged_in(make_server):
    srv = make_server({"xmpp.receiving.ping_interval": "0"})
    srv.add_account("alice@localhost", PW)
    return srv, rawxmpp.login(srv, "alice", PW, resource="big")


def assert_other_clients_work(srv):
    c = rawxmpp.login(srv, "alice", PW, resource="after")
    ping(c)
    c.close()


@pytest.mark.own_server
def test_10mb_stanza_is_policy_violation(make_server):
    srv, c = own_logged_in(make_server)
    c.send_flood("<message to='bob@localhost'><body>" + "A" * (10 * 1024 * 1024))
    c.expect_stream_error("policy-violation", timeout=15)
    c.close()
    assert_other_clients_work(srv)


@pytest.mark.own_server
def test_huge_attribute_value_is_policy_violation(make_server):
    srv, c = own_logged_in(make_server)
    c.send_flood("<message to='bob@localhost' id='" + "B" * (11 * 1024 * 1024))
    c.expect_stream_error("policy-violation", timeout=15)
    c.close()
    assert_other_clients_work(srv)


@pytest.mark.own_server
def test_10000_nested_elements_is_policy_violation(make_server):
    srv, c = own_logged_in(make_server)
    c.send_flood("<message to='bob@localhost'>" + "<x>" * 10000)
    c.expect_stream_error("policy-violation")
    c.close()
    assert_other_clients_work(srv)


@pytest.mark.own_server
@pytest.mark.parametrize("size", [20000, 200000])
def test_large_stanza_below_limit_is_delivered(make_server, size):
    """A stanza spanning several TLS records but under max_stanza_size is processed."""
    srv, c = own_logged_in(make_server)
    body = "C" * size
    c.send_flood("<message to='alice@localhost/big' type='chat'><body>%s</body></message>" % body)
    m = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "message"), 10, "the large message")
    assert m.findtext(q(NS_CLIENT, "body")) == body
    ping(c)
    c.close()
    assert_other_clients_work(srv)


@pytest.mark.parametrize("to", ["a@b@localhost", "@localhost", "x" * 1100 + "@localhost",
                                "alice@localhost/", "alice@local host"])
def test_malformed_to_jid_is_stanza_error(server, to):
    c = logged_in(server)
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=to)
    assert r.get("type") == "error", dump(r)
    assert rawxmpp.stanza_error(r)[1] == "jid-malformed", dump(r)
    ping(c)          # the stream survives a stanza error
    c.close()


def test_data_after_stream_close_is_ignored(server):
    c = logged_in(server)
    c.send("</stream:stream><message to='bob@localhost'><body>late</body></message>junk<<<")
    assert c.wait_closed(5), "server did not close"
    assert c.stream_ended, "no </stream:stream> from the server: %r" % bytes(c.raw)[-300:]
    assert b"stream:error" not in bytes(c.raw), bytes(c.raw)[-500:]
    c.close()


def test_bad_input_does_not_disturb_witness(server, witness):
    ping(witness)


# ---- transport-level abuse --------------------------------------------------------------------

def test_garbage_on_tls_socket_is_closed(server):
    s = socket.create_connection(("127.0.0.1", server.tls_port), timeout=5)
    s.sendall(HDR.encode() + b"<message/>" * 100)
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    s.close()
    assert b"<stream" not in data, "server spoke XML in clear on the TLS socket"


def test_abrupt_resets_and_aborted_handshakes(server):
    baseline = len(server.connections())
    for i in range(100):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        if i % 2:
            s.sendall(HDR.encode()[: 5 + i % 40])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", server.tls_port), timeout=5)
        s.sendall(bytes.fromhex("160301")[: 1 + i % 3])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    # The resets count against the per-address cap of unauthenticated connections
    # (xmpp.receiving.unauth_per_address) until the server has seen them.
    wait_drained(server, baseline)
    for _ in range(20):
        c, _ = rawxmpp.connect(server)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    assert wait_drained(server, baseline) <= baseline, server.connections()
    full_login_works(server)


def wait_drained(server, baseline, timeout=10.0):
    """Waits until the server lists at most `baseline` connections (closes are processed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = len(server.connections())
        if n <= baseline:
            return n
        time.sleep(0.1)
    return len(server.connections())


def test_1000_connect_disconnect_then_login(server):
    baseline = len(server.connections())
    for i in range(1000):
        s = socket.create_connection(("127.0.0.1", server.port if i % 4 else server.tls_port),
                                     timeout=5)
        s.close()
    # The per-address limit (default 100) may refuse us while the server still works through
    # the backlog of closes; once it has drained, everything must be back to normal.
    assert wait_drained(server, baseline) <= baseline, server.connections()
    time.sleep(0.3)
    full_login_works(server)


@pytest.mark.own_server
def test_half_open_sockets_closed_after_auth_timeout(make_server):
    srv = make_server({"xmpp.receiving.auth_timeout": "2"})
    t0 = time.monotonic()
    silent = RawClient(srv.port, timeout=10)
    partial = RawClient(srv.port, timeout=10)
    partial.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' to='loc")
    opened = RawClient(srv.port, timeout=10)       # header sent, then nothing (no TLS, no auth)
    opened.open()
    tls_stall = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    results = {}
    for name, c in (("silent", silent), ("partial_header", partial), ("no_auth", opened)):
        closed = c.wait_closed(8)
        results[name] = (closed, round(time.monotonic() - t0, 2))
        c.close()
    tls_stall.settimeout(8)
    try:
        tls_closed = tls_stall.recv(100) == b""
    except (ConnectionResetError, socket.timeout) as e:
        tls_closed = not isinstance(e, socket.timeout)
    results["tls_handshake_stall"] = (tls_closed, round(time.monotonic() - t0, 2))
    tls_stall.close()
    for name, (closed, elapsed) in results.items():
        assert closed, "%s: still open after %.1f s (auth_timeout=2): %s" % (name, elapsed,
                                                                           results)
        assert elapsed >= 1.5, "%s: closed too early (%.2f s): %s" % (name, elapsed, results)
    # A client that logs in in time is not affected.
    srv.add_account("zed@localhost", PW)
    c = rawxmpp.login(srv, "zed", PW)
    time.sleep(2.5)
    ping(c)
    c.close()


def test_zz_login_still_works_at_the_end(server, witness):
    full_login_works(server)
    ping(witness)
    assert server.running()
    assert not server.sanitizer_lines(), server.sanitizer_lines()
