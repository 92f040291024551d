"""test_s2s_dialback_verify.py: a dialback verification waiting for our outgoing stream to the
authoritative server is sent when that stream falls back from SASL EXTERNAL to dialback.

Found with ejabberd 23.01 (test_s2s_ejabberd.py): it offers EXTERNAL to every peer and refuses
an untrusted certificate afterwards; the db:verify held back during SASL was never sent, so
ejabberd's incoming stream waited until its idle timeout (and a user's room join failed with
remote-server-timeout). Here a raw peer, fake.test, plays both of ejabberd's roles."""

import re
import socket
import ssl
import time

import pytest

import rawxmpp
from rawxmpp import NS_SASL, NS_TLS, q
from s2s_helpers import DOM_B, HOST_B, S2SCA, start
from test_s2s import S2SRaw

pytestmark = pytest.mark.own_server

PEER = "fake.test"


def recv_until(sock, pattern, timeout=15):
    """Reads from sock until `pattern` (bytes regex) matches what was received; returns it all."""
    got = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.5)
    while re.search(pattern, got) is None:
        assert time.monotonic() < deadline, "timeout waiting for %r; got %r" % (pattern, got)
        try:
            data = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        assert data, "connection closed waiting for %r; got %r" % (pattern, got)
        got += data
    return got


def header(stream_id):
    return ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
            "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
            "id='%s' from='%s' to='%s' version='1.0'>" % (stream_id, PEER, DOM_B)).encode()


def test_verify_sent_after_external_refused(make_server, tmp_path):
    b = start(make_server, DOM_B, HOST_B)
    crt, key = str(tmp_path / "peer.crt"), str(tmp_path / "peer.key")
    S2SCA(str(tmp_path)).issue(PEER, crt, key)  # a CA b.test does not trust
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(15)
    b.ctl_ok("settings", "set", "xmpp.sending.routes",
             "%s=127.0.0.1:%d" % (PEER, lsock.getsockname()[1]))
    # fake.test's incoming stream to b.test asks for dialback: b.test must verify the key with
    # fake.test's authoritative server (our listening socket) over its outgoing stream.
    inbound = S2SRaw(b.port, host=HOST_B, sni=DOM_B, timeout=15)
    inbound.open_s2s(PEER, DOM_B)
    inbound.send("<starttls xmlns='%s'/>" % NS_TLS)
    inbound.expect(q(NS_TLS, "proceed"))
    inbound._wrap_tls()
    inbound.open_s2s(PEER, DOM_B)
    inbound.send("<db:result from='%s' to='%s'>%s</db:result>" % (PEER, DOM_B, "ab" * 32))
    conn, _ = lsock.accept()
    tls = None
    try:
        recv_until(conn, rb"<stream:stream[^>]*>")
        conn.sendall(header("o1") + b"<stream:features><starttls xmlns='%s'><required/>"
                     b"</starttls></stream:features>" % NS_TLS.encode())
        recv_until(conn, rb"<starttls")
        conn.sendall(b"<proceed xmlns='%s'/>" % NS_TLS.encode())
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        conn.settimeout(15)
        tls = ctx.wrap_socket(conn, server_side=True)
        recv_until(tls, rb"<stream:stream[^>]*>")
        # As ejabberd does: EXTERNAL offered before the client certificate is checked.
        tls.sendall(header("o2") + b"<stream:features><mechanisms xmlns='%s'><mechanism>"
                    b"EXTERNAL</mechanism></mechanisms><dialback xmlns='urn:xmpp:features:"
                    b"dialback'><errors/></dialback></stream:features>" % NS_SASL.encode())
        recv_until(tls, rb"<auth [^>]*EXTERNAL")
        tls.sendall(b"<failure xmlns='%s'><not-authorized/></failure>" % NS_SASL.encode())
        got = recv_until(tls, rb"<db:verify [^>]*>[^<]*</db:verify>")
        v = re.search(rb"<db:verify [^>]*id='([^']*)'[^>]*>([^<]*)</db:verify>", got)
        assert v.group(1).decode() == inbound.stream_id and v.group(2) == b"ab" * 32, got
        tls.sendall(b"<db:verify from='%s' to='%s' id='%s' type='valid'/>"
                    % (PEER.encode(), DOM_B.encode(), v.group(1)))
        r = inbound.expect("{jabber:server:dialback}result", timeout=15)
        assert r.get("type") == "valid", rawxmpp.dump(r)
    finally:
        for s in (tls, conn, lsock):
            if s is not None:
                s.close()
        inbound.close()
