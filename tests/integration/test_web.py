"""test_web.py: the user-facing HTTP listener (src/web): RFC 7395 XMPP over WebSocket and
XEP-0206 BOSH with the same c2s session as TCP (login, messages both ways with a TCP client),
host-meta (XEP-0156), CORS, XEP-0363 HTTP upload, XEP-0215 external services, and clean
refusals of bad upgrades, frames, requests, rids and bodies."""

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import xml.etree.ElementTree as ET

import pytest

import boshclient
import rawxmpp
import wsclient
from wsclient import NS_FRAMING, NS_SASL, NS_STREAM, q

PASSWORD = "web-pw-1"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"


@pytest.fixture(scope="module")
def srv(make_module_server):
    s = make_module_server({}, http=True)
    for u in ("alice", "bob", "carl"):
        s.add_account("%s@localhost" % u, PASSWORD)
    return s


def get(srv, path, extra="", tls=False, method="GET"):
    req = "%s %s HTTP/1.1\r\nHost: chat.example:5280\r\n%s\r\n" % (method, path, extra)
    return wsclient.http_request(srv.http_tls_port if tls else srv.http_port, req.encode(),
                                 tls=tls)


def test_host_meta_lists_the_websocket(srv):
    status, head, body = get(srv, "/.well-known/host-meta")
    assert status == 200
    assert "application/xrd+xml" in head
    assert "Access-Control-Allow-Origin: *" in head
    xrd = ET.fromstring(body)
    links = {l.get("rel"): l.get("href") for l in xrd}
    assert links["urn:xmpp:alt-connections:websocket"] == "ws://chat.example:5280/xmpp-websocket"
    assert links["urn:xmpp:alt-connections:xbosh"] == "http://chat.example:5280/http-bind"
    status, head, body = get(srv, "/.well-known/host-meta.json", tls=True)
    assert status == 200 and "application/json" in head
    links = {l["rel"]: l["href"] for l in json.loads(body)["links"]}
    assert links["urn:xmpp:alt-connections:websocket"] == "wss://chat.example:5280/xmpp-websocket"
    assert links["urn:xmpp:alt-connections:xbosh"] == "https://chat.example:5280/http-bind"


def test_cors_preflight(srv):
    status, head, _ = get(srv, "/.well-known/host-meta", method="OPTIONS",
                          extra="Origin: https://app.example\r\n"
                                "Access-Control-Request-Method: GET\r\n")
    assert status == 204
    assert "Access-Control-Allow-Origin: *" in head
    assert "Access-Control-Allow-Methods:" in head


def test_unknown_path_and_malformed_requests(srv):
    assert get(srv, "/nothing-here")[0] == 404
    status, _, _ = wsclient.http_request(srv.http_port, b"BLAH\r\n\r\n")
    assert status == 400
    status, _, _ = wsclient.http_request(srv.http_port, b"GET / HTTP/9.9\r\n\r\n")
    assert status == 400
    status, _, _ = wsclient.http_request(srv.http_port,
                                         b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
    assert status == 431
    # The listener still serves after all that.
    assert get(srv, "/.well-known/host-meta")[0] == 200


def test_websocket_and_tcp_clients_exchange_messages(srv):
    w = wsclient.WSClient(srv.http_port)
    assert w.login("alice", PASSWORD, resource="browser") == "alice@localhost/browser"
    w.send("<presence xmlns='jabber:client'/>")
    t = rawxmpp.login(srv, "bob", PASSWORD, resource="tcp")
    t.send("<presence/>")
    w.wait_for(lambda e: e.tag == q("jabber:client", "presence"), what="bob's presence")
    t.send("<message to='alice@localhost' type='chat'><body>to the browser &amp; back</body>"
           "</message>")
    m = w.wait_for(lambda e: e.tag == q("jabber:client", "message"), what="the message")
    assert m.get("from") == "bob@localhost/tcp"
    assert m.find(q("jabber:client", "body")).text == "to the browser & back"
    w.send("<message xmlns='jabber:client' to='bob@localhost' type='chat'>"
           "<body>hello TCP</body></message>")
    m = t.wait_for(lambda e: e.tag == q("jabber:client", "message"), what="the answer")
    assert m.get("from") == "alice@localhost/browser"
    assert m.find(q("jabber:client", "body")).text == "hello TCP"
    # The iq round trip (roster) works like on TCP.
    w.send("<iq xmlns='jabber:client' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    r = w.wait_for(lambda e: e.get("id") == "r1", what="the roster")
    assert r.get("type") == "result"
    # <close/> ends the stream: the server answers <close/> and a close frame.
    w.send("<close xmlns='%s'/>" % NS_FRAMING)
    op, payload = w.recv_frame()
    assert op == wsclient.OP_TEXT and ET.fromstring(payload).tag == q(NS_FRAMING, "close")
    assert w.close_code() == 1000
    w.close()
    t.close()


def test_websocket_over_tls(srv):
    w = wsclient.WSClient(srv.http_tls_port, tls=True)
    _, features = w.open()
    mechs = [m.text for m in features.iter(q(NS_SASL, "mechanism"))]
    # Real TLS beneath: channel binding is offered, STARTTLS is not.
    assert "SCRAM-SHA-256-PLUS" in mechs
    assert features.find("{urn:ietf:params:xml:ns:xmpp-tls}starttls") is None
    w.close()
    w = wsclient.WSClient(srv.http_tls_port, tls=True)
    assert w.login("carl", PASSWORD).startswith("carl@localhost/")
    w.close()


def test_wrong_password_over_websocket(srv):
    w = wsclient.WSClient(srv.http_port)
    w.open()
    w.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
           % (NS_SASL, base64.b64encode(b"\0alice\0wrong").decode()))
    res = w.recv()
    assert res.tag == q(NS_SASL, "failure")
    w.close()


def test_refused_upgrades(srv):
    with pytest.raises(wsclient.HTTPError) as e:
        wsclient.WSClient(srv.http_port, protocol=None)
    assert e.value.status == 400
    status, _, body = get(srv, "/xmpp-websocket")
    assert status == 426 and b"websocket" in body
    assert get(srv, "/xmpp-websocket", method="POST")[0] == 405


def test_origin_policy(srv):
    srv.ctl_ok("settings", "set", "http.websocket_origins", "https://good.example")
    try:
        with pytest.raises(wsclient.HTTPError) as e:
            wsclient.WSClient(srv.http_port, origin="https://evil.example")
        assert e.value.status == 403
        w = wsclient.WSClient(srv.http_port, origin="https://good.example")
        w.open()
        w.close()
        w = wsclient.WSClient(srv.http_port)  # a native client sends no Origin
        w.open()
        w.close()
    finally:
        srv.ctl_ok("settings", "set", "http.websocket_origins", "*")


def test_bad_frames_close_cleanly(srv):
    # Binary data: close 1003 (RFC 7395 section 3.2: text frames only).
    w = wsclient.WSClient(srv.http_port)
    w.send_frame(wsclient.OP_BINARY, b"\x00\x01")
    assert w.close_code() == 1003
    w.close()
    # Unmasked client frame: a protocol error (1002).
    w = wsclient.WSClient(srv.http_port)
    w.send_frame(wsclient.OP_TEXT, "<open xmlns='%s' to='localhost'/>" % NS_FRAMING, mask=False)
    assert w.close_code() == 1002
    w.close()
    # Larger than http.websocket_max_message: 1009.
    w = wsclient.WSClient(srv.http_port)
    w.open()
    w.send("<message xmlns='jabber:client'><body>%s</body></message>" % ("x" * 300000))
    assert w.close_code() == 1009
    w.close()
    # Bad XML in a frame: a stream error, <close/>, then the close frame.
    w = wsclient.WSClient(srv.http_port)
    w.open()
    w.send("<iq xmlns='jabber:client' type='get'><unclosed></iq>")
    err = w.recv()
    assert err.tag == q(NS_STREAM, "error")
    assert w.recv().tag == q(NS_FRAMING, "close")
    assert w.close_code() == 1000
    w.close()
    assert get(srv, "/.well-known/host-meta")[0] == 200


def test_ping_pong_and_fragments(srv):
    w = wsclient.WSClient(srv.http_port)
    w.send_frame(wsclient.OP_PING, b"are you there")
    op, payload = w.recv_frame()
    assert (op, payload) == (wsclient.OP_PONG, b"are you there")
    # An <open/> in two fragments is one message.
    text = "<open xmlns='%s' to='localhost' version='1.0'/>" % NS_FRAMING
    w.send_frame(wsclient.OP_TEXT, text[:10], fin=False)
    w.send_frame(0, text[10:], fin=True)
    assert w.recv().tag == q(NS_FRAMING, "open")
    w.close()


def test_server_pings_idle_websocket_and_closes_without_pong(make_server):
    """An idle WebSocket gets the server's ping; answered, it lives on; unanswered, the server
    closes it with 1001 (a half-open connection behind a proxy is noticed)."""
    s = make_server({"http.websocket_ping_interval": "1", "http.websocket_ping_timeout": "1"},
                    http=True)
    s.add_account("gil@localhost", PASSWORD)
    w = wsclient.WSClient(s.http_port)
    assert w.login("gil", PASSWORD) == "gil@localhost/ws"  # moved to the account's worker
    for _ in range(3):
        op, payload = w.recv_frame(timeout=5)
        assert op == wsclient.OP_PING, op
        w.send_frame(wsclient.OP_PONG, payload)
    # Pings go on and the session is there: a message still comes.
    t = rawxmpp.login(s, "gil", PASSWORD, resource="tcp")
    t.send("<message to='gil@localhost/ws' type='chat'><body>still here</body></message>")
    m = w.wait_for(lambda e: e.tag == q("jabber:client", "message"), timeout=5)
    assert m.findtext(q("jabber:client", "body")) == "still here"
    t.close()
    # Now silent: a ping, then after the timeout the close frame 1001 and the end.
    start = time.monotonic()
    op, _ = w.recv_frame(timeout=5)
    while op != wsclient.OP_PING:
        op, _ = w.recv_frame(timeout=5)
    assert w.close_code(timeout=5) == 1001
    assert time.monotonic() - start < 5
    with pytest.raises((EOFError, ConnectionError)):
        w.recv_frame(timeout=5)
    w.close()
    assert s.stop() == []


def test_unknown_host_in_open(srv):
    w = wsclient.WSClient(srv.http_port)
    w.send("<open xmlns='%s' to='nowhere.example' version='1.0'/>" % NS_FRAMING)
    assert w.recv().tag == q(NS_FRAMING, "open")
    err = w.recv()
    assert err.tag == q(NS_STREAM, "error")
    assert err.find(q(NS_STREAMS_ERR, "host-unknown")) is not None
    assert w.recv().tag == q(NS_FRAMING, "close")
    w.close()


def test_plain_websocket_not_trusted_needs_tls(make_server):
    s = make_server({"http.plain_secure": "no"}, http=True)
    w = wsclient.WSClient(s.http_port)
    _, features = w.open()
    # Clear text that does not count as secure: no mechanism before TLS (require_tls).
    assert [m.text for m in features.iter(q(NS_SASL, "mechanism"))] == []
    w.close()


# ---- XEP-0363 HTTP File Upload ----------------------------------------------------------------

NS_UPLOAD = "urn:xmpp:http:upload:0"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"


@pytest.fixture(scope="module")
def up(make_module_server):
    s = make_module_server({"http.upload_max_size": "100000", "http.upload_quota": "150000"},
                           http=True)
    s.ctl_ok("settings", "set", "http.public_url", "http://127.0.0.1:%d" % s.http_port)
    for u in ("ann", "ben", "cat"):
        s.add_account("%s@localhost" % u, PASSWORD)
    return s


def slot_request(c, filename, size, ctype="application/octet-stream"):
    return c.iq("get", "<request xmlns='%s' filename='%s' size='%d' content-type='%s'/>"
                % (NS_UPLOAD, filename, size, ctype), to="upload.localhost")


def slot_urls(r):
    slot = r.find(q(NS_UPLOAD, "slot"))
    put = slot.find(q(NS_UPLOAD, "put"))
    headers = {h.get("name"): h.text for h in put.findall(q(NS_UPLOAD, "header"))}
    return put.get("url"), headers, slot.find(q(NS_UPLOAD, "get")).get("url")


def http_to(url, method, body=b"", headers=None):
    host, _, path = url.split("://", 1)[1].partition("/")
    port = int(host.rsplit(":", 1)[1])
    lines = ["%s /%s HTTP/1.1" % (method, path), "Host: %s" % host]
    lines += ["%s: %s" % kv for kv in (headers or {}).items()]
    if method == "PUT":
        lines.append("Content-Length: %d" % len(body))
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    return wsclient.http_request(port, raw)


def test_upload_service_in_disco(up):
    c = rawxmpp.login(up, "ann", PASSWORD)
    items = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to="localhost")
    assert "upload.localhost" in [i.get("jid") for i in items.iter(q(NS_DISCO_ITEMS, "item"))]
    info = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="upload.localhost")
    feats = [f.get("var") for f in info.iter(q(NS_DISCO_INFO, "feature"))]
    assert NS_UPLOAD in feats
    fields = {f.get("var"): f.findtext("{jabber:x:data}value")
              for f in info.iter("{jabber:x:data}field")}
    assert fields["FORM_TYPE"] == NS_UPLOAD and fields["max-file-size"] == "100000"
    c.close()


def test_upload_put_then_get_is_byte_identical(up):
    c = rawxmpp.login(up, "ann", PASSWORD)
    data = bytes(range(256)) * 100 + b"\x00end"
    r = slot_request(c, "photo of me.png", len(data), "image/png")
    assert r.get("type") == "result", rawxmpp.dump(r)
    put, headers, get_url = slot_urls(r)
    assert put == get_url and put.endswith("/photo_of_me.png")
    # Without the slot's Authorization header: refused; with it: created.
    assert http_to(put, "PUT", data, {"Content-Type": "image/png"})[0] == 403
    status, head, _ = http_to(put, "PUT", data, dict(headers, **{"Content-Type": "image/png",
                                                                  "Origin": "https://app.example"}))
    assert status == 201
    assert "Access-Control-Allow-Origin: *" in head  # a web client may read the answer
    # Once only.
    assert http_to(put, "PUT", data, headers)[0] == 409
    status, head, body = http_to(get_url, "GET", headers={"Origin": "https://app.example"})
    assert status == 200 and body == data
    assert "Content-Type: image/png" in head
    assert "X-Content-Type-Options: nosniff" in head
    assert "Content-Security-Policy: default-src 'none'; sandbox" in head
    assert "Content-Disposition: inline" in head
    assert "Access-Control-Allow-Origin: *" in head
    # Another name under the same token, or an unknown token: not found.
    assert http_to(get_url.replace("photo_of_me", "other"), "GET")[0] == 404
    assert http_to(get_url.replace("/upload/", "/upload/00"), "GET")[0] == 404
    c.close()


def read_answer(sock, buf=b"", head_only=False):
    """One HTTP answer from a keep-alive socket: (status, head text, body, the bytes after)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    length = 0 if head_only else int(
        [v for k, _, v in (ln.partition(":") for ln in text.split("\r\n")[1:])
         if k.strip().lower() == "content-length"][0])
    while len(rest) < length:
        chunk = sock.recv(1 << 20)
        assert chunk, "connection closed after %d of %d bytes" % (len(rest), length)
        rest += chunk
    return int(text.split(" ", 2)[1]), text, rest[:length], rest[length:]


def test_upload_large_download_streams_with_head_and_ranges(make_server):
    """A file far larger than the send queue limit comes back byte-identical (streamed from disk
    as the connection takes it); HEAD gives its length; single byte ranges get 206 (resumed
    downloads), a range past the end 416; keep-alive requests after a download are answered."""
    s = make_server({"http.upload_max_size": "4000000", "http.upload_quota": "0",
                     "xmpp.receiving.send_queue_limit": "65536",
                     # The default client byte rate: a granted upload's body is not held to it
                     # (3 MiB at 50 KiB/s would take a minute; http_to gives up after 5 s).
                     "xmpp.receiving.c2s_rate": "51200"}, http=True)
    s.ctl_ok("settings", "set", "http.public_url", "http://127.0.0.1:%d" % s.http_port)
    s.add_account("hal@localhost", PASSWORD)
    c = rawxmpp.login(s, "hal", PASSWORD)
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = slot_request(c, "big.bin", len(data))
    put, headers, get_url = slot_urls(r)
    assert http_to(put, "PUT", data, headers)[0] == 201
    status, head, body = http_to(get_url, "GET")
    assert status == 200 and len(body) == len(data) and body == data
    assert "Accept-Ranges: bytes" in head
    path = "/" + get_url.split("://", 1)[1].partition("/")[2]
    sock = wsclient.connect(s.http_port)
    sock.settimeout(10)
    # HEAD: the length, no body.
    sock.sendall(("HEAD %s HTTP/1.1\r\nHost: h\r\n\r\n" % path).encode())
    status, head, _, rest = read_answer(sock, head_only=True)
    assert status == 200 and ("Content-Length: %d" % len(data)) in head and rest == b""
    # Three ranges pipelined on one connection, then a whole download, then one past the end.
    reqs = ["bytes=100-199", "bytes=-10", "bytes=%d-" % (len(data) - 70000), None,
            "bytes=%d-" % len(data)]
    sock.sendall(b"".join(("GET %s HTTP/1.1\r\nHost: h\r\n%s\r\n" % (
        path, "Range: %s\r\n" % rg if rg else "")).encode() for rg in reqs))
    rest = b""
    status, head, body, rest = read_answer(sock, rest)
    assert status == 206 and body == data[100:200]
    assert "Content-Range: bytes 100-199/%d" % len(data) in head
    status, head, body, rest = read_answer(sock, rest)
    assert status == 206 and body == data[-10:]
    status, head, body, rest = read_answer(sock, rest)
    assert status == 206 and body == data[-70000:]
    status, head, body, rest = read_answer(sock, rest)
    assert status == 200 and body == data
    status, head, body, rest = read_answer(sock, rest)
    assert status == 416 and "Content-Range: bytes */%d" % len(data) in head
    sock.close()
    c.close()
    assert s.stop() == []


def test_upload_active_content_is_an_attachment(up):
    c = rawxmpp.login(up, "ben", PASSWORD)
    page = b"<html><script>alert(1)</script></html>"
    put, headers, get_url = slot_urls(slot_request(c, "page.html", len(page), "text/html"))
    assert http_to(put, "PUT", page, headers)[0] == 201
    status, head, body = http_to(get_url, "GET")
    assert status == 200 and body == page
    assert "Content-Disposition: attachment" in head
    c.close()


def test_upload_size_and_quota_errors(up):
    c = rawxmpp.login(up, "cat", PASSWORD)
    r = slot_request(c, "big.bin", 100001)
    assert rawxmpp.stanza_error(r) == ("modify", "not-acceptable")
    assert r.find(".//" + q(NS_UPLOAD, "max-file-size")).text == "100000"
    # A PUT bigger than its slot is refused.
    put, headers, _ = slot_urls(slot_request(c, "a.bin", 10))
    assert http_to(put, "PUT", b"x" * 11, headers)[0] == 413
    # Quota: 150000 bytes per account; 10 are reserved already.
    assert slot_request(c, "b.bin", 100000).get("type") == "result"
    r = slot_request(c, "c.bin", 50000)
    assert rawxmpp.stanza_error(r) == ("wait", "resource-constraint")
    assert slot_request(c, "d.bin", 49990).get("type") == "result"
    # Bad requests.
    r = c.iq("get", "<request xmlns='%s' filename='x' size='-3'/>" % NS_UPLOAD,
             to="upload.localhost")
    assert rawxmpp.stanza_error(r) == ("modify", "bad-request")
    c.close()


def test_upload_preflight_for_put(up):
    status, head, _ = wsclient.http_request(
        up.http_port, b"OPTIONS /upload/ab/x HTTP/1.1\r\nHost: h\r\nOrigin: https://app.example"
        b"\r\nAccess-Control-Request-Method: PUT\r\n\r\n")
    assert status == 204
    assert "PUT" in head and "Authorization" in head


def test_upload_expiry_and_cleanup(make_server):
    s = make_server({"http.upload_max_size": "1000"}, http=True)
    s.ctl_ok("settings", "set", "http.public_url", "http://127.0.0.1:%d" % s.http_port)
    s.add_account("dan@localhost", PASSWORD)
    s.add_account("eve@localhost", PASSWORD)
    e = rawxmpp.login(s, "eve", PASSWORD)
    eput, eheaders, _ = slot_urls(slot_request(e, "gone.txt", 4, "text/plain"))
    assert http_to(eput, "PUT", b"gone", eheaders)[0] == 201
    e.close()
    eve_file = os.path.join(s.datadir, "upload", eput.split("/upload/")[1].split("/")[0])
    s.ctl_ok("account", "remove", "eve@localhost")
    c = rawxmpp.login(s, "dan", PASSWORD)
    put, headers, get_url = slot_urls(slot_request(c, "old.txt", 3, "text/plain"))
    assert http_to(put, "PUT", b"old", headers)[0] == 201
    assert http_to(get_url, "GET")[2] == b"old"
    c.close()
    token = put.split("/upload/")[1].split("/")[0]
    path = os.path.join(s.datadir, "upload", token)
    assert os.path.exists(path)
    s.db_rows("UPDATE upload_slots SET expires = 1")
    assert http_to(get_url, "GET")[0] == 404
    # The clean-up (5 s after a start, then hourly) removes the file and the slot, and the file
    # of the removed account.
    assert os.path.exists(eve_file)
    s.stop()
    s.start()
    s.wait_log(r"upload: 1 expired file\(s\) removed, 1 of removed accounts", timeout=15)
    assert not os.path.exists(path)
    assert not os.path.exists(eve_file)


# ---- XEP-0215 external services (STUN/TURN) ---------------------------------------------------

NS_EXTDISCO = "urn:xmpp:extdisco:2"


def test_external_services_with_turn_credentials(srv):
    srv.ctl_ok("settings", "set", "services.external",
               "localhost=turn:turn.example.org:3478/udp, localhost=stun:stun.example.org:3478,"
               " other.example=turn:turn.other.example:3478, *=turns:relay.example.net:5349")
    srv.ctl_ok("settings", "set", "services.turn_secret", "coturn-secret")
    srv.ctl_ok("settings", "set", "services.turn_ttl", "600")
    try:
        c = rawxmpp.login(srv, "alice", PASSWORD)
        info = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
        assert NS_EXTDISCO in [f.get("var") for f in info.iter(q(NS_DISCO_INFO, "feature"))]
        r = c.iq("get", "<services xmlns='%s'/>" % NS_EXTDISCO, to="localhost")
        svcs = {(s.get("type"), s.get("host")): s for s in r.iter(q(NS_EXTDISCO, "service"))}
        assert set(svcs) == {("turn", "turn.example.org"), ("stun", "stun.example.org"),
                             ("turns", "relay.example.net")}
        stun = svcs[("stun", "stun.example.org")]
        assert stun.get("port") == "3478" and stun.get("transport") == "udp"
        assert stun.get("username") is None
        turn = svcs[("turn", "turn.example.org")]
        expiry, _, user = turn.get("username").partition(":")
        assert user == "alice@localhost"
        assert abs(int(expiry) - (time.time() + 600)) < 30
        # coturn's use-auth-secret check: base64(HMAC-SHA1(secret, username)).
        want = base64.b64encode(hmac.new(b"coturn-secret", turn.get("username").encode(),
                                         hashlib.sha1).digest()).decode()
        assert turn.get("password") == want
        assert turn.get("restricted") == "1" and turn.get("expires").endswith("Z")
        # Filtered by type; credentials for one host.
        r = c.iq("get", "<services xmlns='%s' type='stun'/>" % NS_EXTDISCO, to="localhost")
        assert [s.get("type") for s in r.iter(q(NS_EXTDISCO, "service"))] == ["stun"]
        r = c.iq("get", "<credentials xmlns='%s'><service type='turn' host='turn.example.org'/>"
                 "</credentials>" % NS_EXTDISCO, to="localhost")
        assert [s.get("host") for s in r.iter(q(NS_EXTDISCO, "service"))] == ["turn.example.org"]
        r = c.iq("get", "<credentials xmlns='%s'><service type='turn' host='nope.example'/>"
                 "</credentials>" % NS_EXTDISCO, to="localhost")
        assert rawxmpp.stanza_error(r) == ("cancel", "item-not-found")
        c.close()
    finally:
        srv.ctl_ok("settings", "set", "services.external", "")
        srv.ctl_ok("settings", "set", "services.turn_secret", "")


# ---- XEP-0206 BOSH ----------------------------------------------------------------------------

def test_bosh_and_tcp_clients_exchange_messages(srv):
    b = boshclient.BoshClient(srv.http_port)
    assert b.login("alice", PASSWORD, resource="bosh") == "alice@localhost/bosh"
    b.post("<presence xmlns='jabber:client'/>")
    t = rawxmpp.login(srv, "carl", PASSWORD, resource="tcp")
    t.send("<presence/>")
    time.sleep(0.2)
    t.send("<message to='alice@localhost/bosh' type='chat'><body>over BOSH &lt;3</body></message>")
    m = b.next(lambda e: e.tag == q("jabber:client", "message"))
    assert m.get("from") == "carl@localhost/tcp"
    assert m.find(q("jabber:client", "body")).text == "over BOSH <3"
    b.post("<message xmlns='jabber:client' to='carl@localhost' type='chat'><body>back</body>"
           "</message>")
    m = t.wait_for(lambda e: e.tag == q("jabber:client", "message"), what="the BOSH message")
    assert m.get("from") == "alice@localhost/bosh"
    # Terminate ends the session and its stream.
    status, body = b.post(attrs={"type": "terminate"})
    assert status == 200 and body.get("type") == "terminate"
    t.close()


def test_bosh_creation_answer_and_pause(srv):
    b = boshclient.BoshClient(srv.http_port, wait=1)
    body = b.create()
    assert body.get("wait") == "1" and body.get("hold") == "1" and body.get("requests") == "2"
    assert body.get("{%s}version" % boshclient.NS_XBOSH) == "1.0"
    assert body.get("ver") == "1.11" and body.get("inactivity")
    # An empty request comes back after `wait` at the latest.
    start = time.monotonic()
    b.next(lambda e: e.tag == q(NS_STREAM, "features"))
    status, _ = b.post()
    assert status == 200 and time.monotonic() - start < 5
    status, body = b.post(attrs={"pause": "5"})
    assert status == 200 and body.get("type") != "terminate"


def test_bosh_bad_rid_sid_and_body(srv):
    b = boshclient.BoshClient(srv.http_port)
    b.create()
    # A rid far beyond the window ends the session.
    status, body = b.post(rid=b.rid + 10)
    assert status == 200 and body.get("type") == "terminate"
    assert body.get("condition") == "item-not-found"
    # The session is gone.
    status, body = b.post()
    assert body.get("type") == "terminate" and body.get("condition") == "item-not-found"
    # An unknown sid, and bodies that are not BOSH.
    c = boshclient.BoshClient(srv.http_port)
    c.sid = "0123456789abcdef0123456789abcdef"
    status, body = c.post()
    assert body.get("type") == "terminate" and body.get("condition") == "item-not-found"
    for bad in (b"<body/>", b"<html>", b"<body xmlns='http://jabber.org/protocol/httpbind'/>"):
        req = (b"POST /http-bind HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n"
               % len(bad)) + bad
        assert wsclient.http_request(srv.http_port, req)[0] == 400
    # GET is not BOSH; the CORS preflight of browsers is answered.
    assert get(srv, "/http-bind")[0] == 405
    status, head, _ = get(srv, "/http-bind", method="OPTIONS",
                          extra="Origin: https://app.example\r\n"
                                "Access-Control-Request-Method: POST\r\n"
                                "Access-Control-Request-Headers: content-type\r\n")
    assert status == 204 and "POST" in head and "Content-Type" in head
    assert "Access-Control-Allow-Origin: *" in head


def test_bosh_repeated_request_gets_the_cached_answer(srv):
    """XEP-0124 14.3: a request made again (the client lost the answer) is answered again with
    the same answer, the session goes on; a rid older than the `requests` window ends it."""
    b = boshclient.BoshClient(srv.http_port, wait=1)
    b.login("carl", PASSWORD, resource="cache")
    # A request whose answer carries a stanza; the same rid again: the same bytes back.
    iq = "<iq xmlns='jabber:client' type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>"
    b.conn.request("POST", "/http-bind", body=(
        "<body xmlns='%s' rid='%d' sid='%s'>%s</body>" % (boshclient.NS_HTTPBIND, b.rid + 1,
                                                          b.sid, iq)).encode())
    first = b.conn.getresponse().read()
    b.rid += 1
    status, again = b.post(rid=b.rid)
    assert status == 200 and again.get("type") != "terminate"
    assert ET.tostring(again) == ET.tostring(ET.fromstring(first))
    assert again.find(q("jabber:client", "iq")) is not None or b.next(
        lambda e: e.tag == q("jabber:client", "iq")) is not None
    # The session is alive: the next rid works.
    status, body = b.post()
    assert status == 200 and body.get("type") != "terminate"
    # Far behind the window (requests = 2): the session ends.
    status, body = b.post(rid=b.rid - 5)
    assert body.get("type") == "terminate" and body.get("condition") == "item-not-found"


def test_bosh_request_dropped_while_held_can_be_made_again(srv):
    """A held request whose HTTP connection dropped (no answer went out) may be made again with
    the same rid: it is held anew, answered, and the session goes on."""
    b = boshclient.BoshClient(srv.http_port, wait=1)
    b.login("carl", PASSWORD, resource="dropped")
    body = ("<body xmlns='%s' rid='%d' sid='%s'/>" % (boshclient.NS_HTTPBIND, b.rid + 1,
                                                      b.sid)).encode()
    sock = wsclient.connect(srv.http_port)
    sock.sendall(b"POST /http-bind HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body))
    time.sleep(0.3)  # held now
    sock.close()
    time.sleep(0.2)
    status, again = b.post(rid=b.rid + 1)
    assert status == 200 and again.get("type") != "terminate"
    status, body = b.post()
    assert status == 200 and body.get("type") != "terminate"


def test_bosh_settings_in_the_creation_answer(make_server):
    s = make_server({"http.bosh_hold": "2", "http.bosh_requests": "3",
                     "http.bosh_inactivity": "30", "http.bosh_polling": "5",
                     "http.bosh_max_pause": "40", "http.bosh_max_wait": "20"}, http=True)
    b = boshclient.BoshClient(s.http_port, wait=300)
    status, body = b.post(attrs={"to": "localhost", "wait": "300", "hold": "9", "ver": "1.6",
                                 "xmpp:version": "1.0"})
    assert status == 200
    # More than allowed: the server's maximum.
    assert (body.get("wait"), body.get("hold"), body.get("requests")) == ("20", "2", "3")
    assert (body.get("inactivity"), body.get("polling"), body.get("maxpause")) == \
        ("30", "5", "40")
    c = boshclient.BoshClient(s.http_port, wait=3)
    status, body = c.post(attrs={"to": "localhost", "wait": "3", "hold": "1", "ver": "1.6"})
    assert (body.get("wait"), body.get("hold"), body.get("requests")) == ("3", "1", "3")
    assert s.stop() == []


def test_bosh_sessions_open_at_shutdown(make_server):
    """A stop with a BOSH session holding a request and another idle one: a clean exit."""
    s = make_server({}, http=True)
    s.add_account("fay@localhost", PASSWORD)
    idle = boshclient.BoshClient(s.http_port, wait=30)
    idle.login("fay", PASSWORD)
    held = boshclient.BoshClient(s.http_port, wait=30)
    held.create()
    held.next(lambda e: e.tag == q(NS_STREAM, "features"))
    t = threading.Thread(target=lambda: held.post(), daemon=True)
    t.start()
    time.sleep(0.5)
    assert s.stop() == []
    t.join(5)


NS_SM = "urn:xmpp:sm:3"


def _ws_auth(srv, user):
    """A WebSocket stream authenticated as `user` (SASL PLAIN) and restarted, not yet bound."""
    w = wsclient.WSClient(srv.http_port)
    w.open()
    cred = base64.b64encode(("\0%s\0%s" % (user, PASSWORD)).encode()).decode()
    w.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, cred))
    assert w.recv().tag == q(NS_SASL, "success")
    _, features = w.open()
    assert features.find(q(NS_SM, "sm")) is not None, ET.tostring(features)
    return w


def test_stream_management_over_websocket(srv):
    """XEP-0198 over RFC 7395 like over TCP: enable with resumption, the connection lost
    without a close, resumption on a new WebSocket with what was not acknowledged resent
    exactly once."""
    w = _ws_auth(srv, "carl")
    w.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:"
           "xmpp-bind'><resource>phone</resource></bind></iq>")
    assert w.recv().get("type") == "result"
    w.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    enabled = w.wait_for(lambda e: e.tag == q(NS_SM, "enabled"), what="<enabled/>")
    previd = enabled.get("id")
    assert previd and enabled.get("resume") == "true"
    t = rawxmpp.login(srv, "bob", PASSWORD, resource="sm")
    t.send("<message to='carl@localhost/phone' type='chat'><body>first</body></message>")
    m = w.wait_for(lambda e: e.tag == q("jabber:client", "message"), what="the first message")
    assert m.find(q("jabber:client", "body")).text == "first"
    w.close()  # lost: no <close/>, no close frame
    time.sleep(0.3)
    t.send("<message to='carl@localhost/phone' type='chat'><body>while away</body></message>")
    time.sleep(0.3)
    w2 = _ws_auth(srv, "carl")
    w2.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, previd))
    resumed = w2.wait_for(lambda e: e.tag == q(NS_SM, "resumed"), what="<resumed/>")
    assert resumed.get("previd") == previd
    # The client acknowledged nothing: both messages come again, in order, once each.
    bodies = []
    deadline = time.monotonic() + 5
    while len(bodies) < 2 and time.monotonic() < deadline:
        el = w2.recv(deadline - time.monotonic())
        if el.tag == q("jabber:client", "message"):
            bodies.append(el.find(q("jabber:client", "body")).text)
    assert bodies == ["first", "while away"]
    w2.send("<r xmlns='%s'/>" % NS_SM)
    with pytest.raises((TimeoutError, OSError)):
        w2.wait_for(lambda e: e.tag == q("jabber:client", "message"), timeout=1,
                    what="a third message")
    w2.close()
    t.close()
