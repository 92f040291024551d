"""Admin API views used by the WebAdmin: an account's roster and a domain's certificate."""
import json
import os
import socket
import time

import rawxmpp
from rawxmpp import NS_CLIENT, q

PW = "views-secret"


def admin(server, op, **args):
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(server.datadir, "admin.sock"))
    f = s.makefile("rwb")
    f.write((json.dumps({"op": op, "args": args}) + "\n").encode())
    f.flush()
    r = json.loads(f.readline())
    s.close()
    return r


def test_account_roster_lists_items_with_groups(server):
    server.add_account("rosa@localhost", PW)
    server.add_account("tom@localhost", PW)
    c = rawxmpp.login(server, "rosa", PW)
    try:
        r = c.iq("set", "<query xmlns='jabber:iq:roster'><item jid='tom@localhost' name='Tom'>"
                        "<group>Friends</group><group>Work</group></item></query>")
        assert r.get("type") == "result"
    finally:
        c.close()
    res = admin(server, "account.roster", jid="Rosa@LOCALHOST")
    assert res["ok"], res
    assert res["result"] == [{"jid": "tom@localhost", "name": "Tom", "subscription": "none",
                              "ask": False, "approved": False, "groups": ["Friends", "Work"]}]
    empty = admin(server, "account.roster", jid="tom@localhost")
    assert empty["ok"] and empty["result"] == []
    missing = admin(server, "account.roster", jid="nobody@localhost")
    assert not missing["ok"] and missing["code"] == "notfound"


def test_domain_certificate_describes_the_generated_certificate(server):
    res = admin(server, "domain.certificate", name="localhost")
    assert res["ok"], res
    cert = res["result"]
    assert "CN=localhost" in cert["subject"]
    assert cert["self_signed"] is True
    assert "localhost" in cert["names"].split(", ")
    assert cert["not_before"] <= time.time() < cert["not_after"]
    assert len(cert["fingerprint_sha256"].split(":")) == 32
    missing = admin(server, "domain.certificate", name="unknown.example")
    assert not missing["ok"] and missing["code"] == "notfound"
