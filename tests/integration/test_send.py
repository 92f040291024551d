"""test_send.py: `starlingctl send` and the admin socket op "send": a MESSAGE signal born outside
XMPP reaches an XMPP client as an ordinary chat message, online at once, offline at next login."""

import json
import os
import socket
import time

import pytest

import rawxmpp
from rawxmpp import NS_CLIENT, q

PASSWORD = "send-pw-1"


@pytest.fixture(scope="module")
def srv(server):
    for u in ("alice", "bob", "carl"):
        server.add_account("%s@localhost" % u, PASSWORD)
    return server


def login(server, user, resource="r"):
    c = rawxmpp.login(server, user, PASSWORD, resource=resource)
    c.send("<presence/>")
    return c


def is_message(e):
    return e.tag == q(NS_CLIENT, "message")


def admin_request(server, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(os.path.join(server.datadir, "admin.sock"))
    s.sendall((json.dumps(req) + "\n").encode())
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)


def test_send_to_online_client(srv):
    c = login(srv, "alice", "desk")
    time.sleep(0.2)
    srv.ctl_ok("send", "localhost", "alice@localhost", "Hello from the console <&>")
    m = c.wait_for(is_message, what="the sent message")
    assert m.get("type") == "chat"
    assert m.get("from") == "localhost"
    assert m.get("to") in ("alice@localhost", c.jid)
    assert m.find(q(NS_CLIENT, "body")).text == "Hello from the console <&>"
    c.close()


def test_send_to_full_jid_and_from_account(srv):
    c1 = login(srv, "alice", "one")
    c2 = login(srv, "alice", "two")
    time.sleep(0.2)
    srv.ctl_ok("send", "bob@localhost", "alice@localhost/two", "only two")
    m = c2.wait_for(is_message, what="the sent message")
    assert m.get("from") == "bob@localhost" and m.get("to") == "alice@localhost/two"
    assert m.find(q(NS_CLIENT, "body")).text == "only two"
    # The other resource got nothing.
    c1.send("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    el = c1.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") or is_message(e))
    assert el.tag == q(NS_CLIENT, "iq"), rawxmpp.dump(el)
    c1.close()
    c2.close()


def test_admin_socket_op(srv):
    c = login(srv, "alice", "sock")
    time.sleep(0.2)
    r = admin_request(srv, {"op": "send", "args": {"from": "localhost", "to": "alice@localhost",
                                                   "text": "via the socket"}})
    assert r == {"ok": True, "result": None}
    m = c.wait_for(is_message, what="the sent message")
    assert m.find(q(NS_CLIENT, "body")).text == "via the socket"
    r = admin_request(srv, {"op": "send", "args": {"from": "localhost", "to": "a@b@c",
                                                   "text": "x"}})
    assert r["ok"] is False and r["code"] == "inval"
    r = admin_request(srv, {"op": "send", "args": {"from": "localhost", "to": "alice@localhost",
                                                   "text": ""}})
    assert r["ok"] is False and r["code"] == "inval"
    r = admin_request(srv, {"op": "send", "args": {"from": "localhost", "to": "alice@localhost"}})
    assert r["ok"] is False
    c.close()


def test_ctl_usage_errors(srv):
    r = srv.ctl("send", "localhost", "alice@localhost")
    assert r.returncode == 2
    r = srv.ctl("send", "localhost", "not a jid@@", "text")
    assert r.returncode == 1 and "invalid JID" in r.stderr


def test_send_to_offline_client_delivered_at_login(srv):
    """Needs the IM core's offline storage (XEP-0160): kept, then delivered at next login."""
    srv.ctl_ok("send", "localhost", "carl@localhost", "while you were away")
    time.sleep(0.5)
    c = login(srv, "carl", "back")
    m = c.wait_for(is_message, timeout=5, what="the stored message")
    assert m.get("type") == "chat"
    assert m.find(q(NS_CLIENT, "body")).text == "while you were away"
    c.close()
