"""test_preauth_limits.py: limits that hold under abuse (issue 12): each pre-authentication stage
has its own short deadline, unauthenticated connections are capped per address, and one stream's
byte rate is shaped (slowed by back-pressure, nothing dropped)."""

import socket
import time

import pytest

import rawxmpp
from imclient import fresh, login
from rawxmpp import RawClient, q, NS_CLIENT

pytestmark = pytest.mark.own_server

STAGES = {
    "xmpp.receiving.header_timeout": "1",
    "xmpp.receiving.tls_timeout": "1",
    "xmpp.receiving.sasl_timeout": "2",
    "xmpp.receiving.auth_timeout": "60",
}


def wait_no_connections(srv, timeout=5):
    """The harness's readiness probes leave connections the server closes a moment later."""
    deadline = time.monotonic() + timeout
    while srv.connections() and time.monotonic() < deadline:
        time.sleep(0.05)


def closed_within(c, low, high):
    t0 = time.monotonic()
    assert c.wait_closed(high + 3), "connection still open after %.1f s" % (high + 3)
    took = time.monotonic() - t0
    assert low <= took <= high, "closed after %.2f s, expected %.1f..%.1f" % (took, low, high)
    return took


def test_partial_stream_header_times_out(make_server):
    srv = make_server(STAGES)
    c = RawClient(srv.port)
    t0 = time.monotonic()
    c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' to='localhost' ")
    assert c.expect_stream_error("connection-timeout", 8) == "connection-timeout"
    took = time.monotonic() - t0
    assert 0.8 <= took <= 4, took
    assert srv.wait_log(r"no complete stream header in time")


def test_silent_connection_times_out(make_server):
    srv = make_server(STAGES)
    c = RawClient(srv.port)
    closed_within(c, 0.8, 4)


def test_stalled_direct_tls_handshake_times_out(make_server):
    srv = make_server(STAGES)
    s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    try:
        s.sendall(b"\x16\x03\x01\x00\xff\x01")  # the start of a ClientHello, then nothing
        t0 = time.monotonic()
        assert s.recv(4096) == b""
        took = time.monotonic() - t0
    finally:
        s.close()
    assert 0.8 <= took <= 4, took
    assert srv.wait_log(r"TLS handshake not finished in time")


def test_stalled_starttls_handshake_times_out(make_server):
    srv = make_server(STAGES)
    c = RawClient(srv.port)
    c.open()
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    c.expect(q(rawxmpp.NS_TLS, "proceed"))
    closed_within(c, 0.8, 4)


def test_no_authentication_after_header_times_out(make_server):
    srv = make_server(STAGES)
    c = RawClient(srv.port)
    c.open()
    c.starttls()  # a new stage: its deadline starts afresh
    t0 = time.monotonic()
    assert c.expect_stream_error("connection-timeout", 8) == "connection-timeout"
    took = time.monotonic() - t0
    assert 1.8 <= took <= 5, took


def test_authenticated_session_outlives_the_stage_deadlines(make_server):
    srv = make_server(STAGES)
    name = fresh(srv, "stay")
    c = login(srv, name)
    time.sleep(3.5)
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    assert r.get("type") == "result", rawxmpp.dump(r)
    c.close()


def test_unauthenticated_connections_capped_per_address(make_server):
    srv = make_server({"xmpp.receiving.unauth_per_address": "3"})
    name = fresh(srv, "cap")
    wait_no_connections(srv)
    # Authenticated sessions do not count against the cap.
    logged = [login(srv, name, resource="r%d" % i) for i in range(3)]
    idle = [RawClient(srv.port) for _ in range(3)]
    for c in idle:
        c.open()
    over = RawClient(srv.port)
    assert over.expect_stream_error("policy-violation", 5) == "policy-violation"
    assert "unauthenticated" in bytes(over.raw).decode()
    assert srv.wait_log(r"limit of unauthenticated connections per address \(3\)")
    # One of them logs in: a place is free again.
    idle[0].starttls()
    kind, _ = idle[0].plain(name, "im-secret-1")
    assert kind == "success"
    deadline = time.monotonic() + 5
    while True:
        again = RawClient(srv.port)
        feats = None
        try:
            feats = again.open()
        except (AssertionError, OSError):
            pass
        if feats is not None:
            break
        again.close()
        assert time.monotonic() < deadline, "no place freed after a login"
        time.sleep(0.1)
    for c in logged + idle + [again, over]:
        c.close()


def flood(srv, options_rate, count, size):
    """A sends `count` messages of about `size` bytes to B as fast as TCP lets it; returns the
    seconds until B had them all, and checks that every one arrived, in order."""
    a_name, b_name = fresh(srv, "fa"), fresh(srv, "fb")
    b = login(srv, b_name, presence="")
    a = login(srv, a_name)
    body = "x" * size
    t0 = time.monotonic()
    data = "".join("<message to='%s@localhost' type='chat' id='m%d'><body>%d %s</body></message>"
                   % (b_name, i, i, body) for i in range(count))
    sent = a.send_flood(data)
    assert sent == len(data.encode()), "sender stopped after %d of %d bytes" % (sent, len(data))
    got = []
    deadline = t0 + 60
    while len(got) < count:
        el = b.wait_for(lambda e: e.tag == q(NS_CLIENT, "message"), deadline - time.monotonic(),
                        "message %d" % len(got))
        got.append(el)
    took = time.monotonic() - t0
    ids = [el.get("id") for el in got]
    assert ids == ["m%d" % i for i in range(count)], ids[:10]
    a.close()
    b.close()
    return took, len(data)


def test_flooding_client_is_slowed_to_its_rate_and_nothing_is_lost(make_server):
    rate, burst = 40000, 8192
    srv = make_server({"xmpp.receiving.c2s_rate": str(rate),
                       "xmpp.receiving.c2s_burst": str(burst)})
    took, total = flood(srv, rate, 120, 1000)
    print("shaped: %d bytes in %.2f s" % (total, took))
    expected = (total - burst) / rate  # about 2.8 s
    assert took >= expected * 0.85, "%d bytes in %.2f s: faster than %d B/s" % (total, took, rate)
    assert took <= expected * 2 + 2, "%d bytes in %.2f s: far slower than %d B/s" % (total, took,
                                                                                 rate)
    stats = srv.ctl_ok("settings", "get", "xmpp.receiving.c2s_rate")
    assert str(rate) in stats


def test_no_shaping_when_rate_is_zero(make_server):
    srv = make_server({"xmpp.receiving.c2s_rate": "0", "xmpp.receiving.c2s_burst": "8192"})
    took, total = flood(srv, 0, 120, 1000)
    assert took < (total - 8192) / 40000, "unshaped flood of %d bytes took %.2f s" % (total, took)


def test_incoming_server_stream_is_shaped_and_nothing_is_lost(make_server):
    import s2s_helpers as s2s
    rate, burst = 30000, 8192
    a = s2s.start(make_server, s2s.DOM_A, s2s.HOST_A)
    b = s2s.start(make_server, s2s.DOM_B, s2s.HOST_B,
                  options={"xmpp.receiving.s2s_rate": str(rate),
                           "xmpp.receiving.s2s_burst": str(burst)})
    s2s.link(a, b)
    a.add_account("alice@" + s2s.DOM_A, s2s.PASSWORD)
    b.add_account("bob@" + s2s.DOM_B, s2s.PASSWORD)
    alice = s2s.login(a, "alice")
    bob = s2s.login(b, "bob")
    alice.send("<message to='bob@b.test' type='chat'><body>warm-up</body></message>")
    s2s.wait_message(bob, "warm-up", timeout=30)
    time.sleep(burst / rate + 0.3)  # the bucket is full again
    count, body = 100, "y" * 1000
    data = "".join("<message to='bob@b.test' type='chat' id='s%d'><body>%d %s</body></message>"
                   % (i, i, body) for i in range(count))
    t0 = time.monotonic()
    assert alice.send_flood(data) == len(data)
    got = []
    while len(got) < count:
        el = bob.wait_for(lambda e: e.tag == q(NS_CLIENT, "message"), 60, "message %d" % len(got))
        got.append(el.get("id"))
    took = time.monotonic() - t0
    assert got == ["s%d" % i for i in range(count)], got[:10]
    # What b reads is a's re-serialisation (a little longer than what alice sent).
    expected = (len(data) - burst) / rate
    assert took >= expected * 0.85, "%d bytes over s2s in %.2f s: faster than %d B/s" % (
        len(data), took, rate)
    assert took <= expected * 2 + 3, took
    alice.close()
    bob.close()
