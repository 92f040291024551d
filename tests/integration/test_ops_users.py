"""test_ops_users.py (issue 20): the admin ops users.online, announce / announce.all (the
XEP-0133 announcement code of services/adhoc.c) and features, over starlingctl."""

import json
import socket
import struct
import time

import pytest

import rawxmpp
import sasl2
from rawxmpp import NS_CLIENT, q
from test_send import admin_request

PASSWORD = "ops-users-pw-1"


@pytest.fixture(scope="module")
def srv(server):
    server.ctl_ok("domain", "add", "other.test")
    for jid in ("ann@localhost", "ben@localhost", "cy@other.test"):
        server.add_account(jid, PASSWORD)
    return server


def login(server, user, resource, domain="localhost"):
    c = rawxmpp.login(server, user, PASSWORD, resource=resource, domain=domain)
    c.send("<presence/>")
    return c


def is_headline(e):
    return e.tag == q(NS_CLIENT, "message") and e.get("type") == "headline"


def test_users_online_lists_sessions_of_the_domain(srv):
    a1 = login(srv, "ann", "desk")
    a2 = login(srv, "ann", "phone")
    try:
        time.sleep(0.3)
        rows = json.loads(srv.ctl_ok("users", "online", "localhost", "--json"))
        mine = sorted((r["jid"], r["resource"]) for r in rows)
        assert mine == [("ann@localhost", "desk"), ("ann@localhost", "phone")]
        assert all("127.0.0.1" in r["peer"] and r["since"] > 0 for r in rows)
        text = srv.ctl_ok("users", "online", "localhost")
        assert "ann@localhost/desk [127.0.0.1]:" in text
        assert json.loads(srv.ctl_ok("users", "online", "other.test", "--json")) == []
    finally:
        a1.close()
        a2.close()
    r = srv.ctl("users", "online", "nowhere.test")
    assert r.returncode == 1


def online_row(srv, jid):
    rows = json.loads(srv.ctl_ok("users", "online", "localhost", "--json"))
    return next((r for r in rows if r["jid"] + "/" + r["resource"] == jid), None)


def test_users_online_shows_the_client_software(srv):
    """The caps node of the session's presence, and the SASL2 <software/> (preferred)."""
    caps = "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='%s' ver='x='/>"
    plain = login(srv, "ann", "caps")
    c, feats = rawxmpp.connect(srv)
    try:
        assert online_row(srv, "ann@localhost/caps")["client"] is None
        plain.send("<presence>%s</presence>" % (caps % "https://conversations.im"))
        srv.ctl_ok("settings", "get", "xmpp.s2s_blocked")  # a round trip after the presence
        assert online_row(srv, "ann@localhost/caps")["client"] == "https://conversations.im"
        r = sasl2.scram_login(c, sasl2.Offer(feats), "SCRAM-SHA-256", "ben", PASSWORD,
                              agent="d6a3f0c4-ops", software="Dino 0.4", device="laptop",
                              bind="<tag>lap</tag>")
        assert r.kind == "success", rawxmpp.dump(r.el)
        ben = r.jid
        assert online_row(srv, ben)["client"] == "Dino 0.4"
        # A caps node in its presence does not replace the login's software name.
        c.send("<presence>%s</presence>" % (caps % "https://dino.im"))
        srv.ctl_ok("settings", "get", "xmpp.s2s_blocked")
        assert online_row(srv, ben)["client"] == "Dino 0.4"
        assert "Dino 0.4" in srv.ctl_ok("users", "online", "localhost")
    finally:
        plain.close()
        c.close()


def test_users_online_marks_a_detached_session(srv):
    """A stream-management session waiting for its client is a row with state "detached" and
    no address, and the text output says so instead of printing a null address."""
    c = login(srv, "ann", "sm")
    c.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    c.wait_for(lambda e: e.tag == q("urn:xmpp:sm:3", "enabled"), what="<enabled/>")
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    c.close()
    deadline = time.time() + 5
    row = None
    while time.time() < deadline:
        row = online_row(srv, "ann@localhost/sm")
        if row and row.get("state") == "detached":
            break
        time.sleep(0.1)
    assert row and row["state"] == "detached" and row["peer"] is None, row
    assert "ann@localhost/sm (detached) -" in srv.ctl_ok("users", "online", "localhost")


def test_announce_to_a_domain_and_to_the_server(srv):
    ann = login(srv, "ann", "desk")
    ben = login(srv, "ben", "desk")
    try:
        time.sleep(0.3)
        out = srv.ctl_ok("announce", "localhost", "Maintenance at 22:00", "--subject", "Notice")
        assert out.strip() == "recipients = 2"
        for c in (ann, ben):
            m = c.wait_for(is_headline, what="the announcement")
            assert m.get("from") == "localhost"
            assert m.find(q(NS_CLIENT, "body")).text == "Maintenance at 22:00"
            assert m.find(q(NS_CLIENT, "subject")).text == "Notice"
        out = srv.ctl_ok("announce", "--all", "Everyone")
        assert out.strip() == "recipients = 2"  # nobody of other.test is online
        assert ann.wait_for(is_headline, what="the server-wide one").find(
            q(NS_CLIENT, "body")).text == "Everyone"
        assert srv.wait_log(r"ADMIN .*announcement to 2 online users of localhost")
    finally:
        ann.close()
        ben.close()
    bad = srv.ctl("announce", "localhost", "")
    assert bad.returncode == 1 and "1..65536" in bad.stderr


def test_features_of_a_domain(srv):
    f = json.loads(srv.ctl_ok("features", "localhost"))
    assert f["domain"] == "localhost"
    names = {x["feature"]: x["name"] for x in f["server"]}
    assert names.get("urn:xmpp:ping") == "XMPP Ping (XEP-0199)"
    assert all(x["feature"] for x in f["account"])
    sw = {s["what"]: s for s in f["switches"]}
    assert sw["Multi-user chat (XEP-0045)"]["on"] is True
    assert sw["Multi-user chat (XEP-0045)"]["value"] == "conference.localhost"
    assert sw["In-band registration (XEP-0077)"]["on"] is False
    # Server settings behind what clients look for: no http.listener socket in tests, so no
    # upload and no WebSocket; the archive and stream resumption are on by default.
    assert sw["HTTP file upload (XEP-0363)"]["on"] is False
    assert sw["HTTP file upload (XEP-0363)"]["setting"] == "http.listener"
    assert sw["Message archive (XEP-0313)"]["on"] is True
    assert sw["Stream management and resumption (XEP-0198)"]["on"] is True
    acc = {x["feature"]: x["name"] for x in f["account"]}
    assert acc.get("urn:xmpp:mam:2") == "Message archive (XEP-0313)"
    srv.ctl_ok("settings", "set", "archive.enabled", "no")
    try:
        sw = {s["what"]: s for s in json.loads(srv.ctl_ok("features", "localhost"))["switches"]}
        assert sw["Message archive (XEP-0313)"]["on"] is False
    finally:
        srv.ctl_ok("settings", "set", "archive.enabled", "yes")
    srv.ctl_ok("domain", "set", "localhost", "auto_signup=yes")
    try:
        f = json.loads(srv.ctl_ok("features", "localhost"))
        sw = {s["what"]: s for s in f["switches"]}
        assert sw["In-band registration (XEP-0077)"]["on"] is True
    finally:
        srv.ctl_ok("domain", "set", "localhost", "auto_signup=no")
    assert srv.ctl("features", "nowhere.test").returncode == 1


def test_account_overview_search_last_seen_offline(srv):
    srv.ctl_ok("send", "localhost", "ben@localhost", "while you were away")
    c = login(srv, "ann", "desk")
    c.close()
    rows = admin_request(srv, {"op": "account.overview", "args": {"domain": "localhost"}})["result"]
    by = {r["jid"]: r for r in rows}
    assert by["ben@localhost"]["offline"] >= 1
    deadline = time.monotonic() + 5
    while by["ann@localhost"]["last_seen"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = admin_request(srv, {"op": "account.overview", "args": {"domain": "localhost"}})["result"]
        by = {r["jid"]: r for r in rows}
    assert by["ann@localhost"]["last_seen"] > 0  # ann logged out: last seen now
    found = admin_request(srv, {"op": "account.overview", "args": {"domain": "localhost", "search": "BE"}})["result"]
    assert [r["jid"] for r in found] == ["ben@localhost"]


def test_last_login_time_and_address_written_behind(srv):
    """The last successful login per account: noted at the binding, written with the batched
    last-seen records (not by the login itself), shown by account.overview and account.show,
    and removed with the account."""
    srv.add_account("lou@localhost", PASSWORD)
    before = int(time.time())
    c = login(srv, "lou", "desk")
    bound = time.monotonic()
    rows = srv.db_rows("SELECT stamp, address FROM account_logins WHERE name = 'lou'")
    if time.monotonic() - bound < 0.2:  # the batch waits 250 ms after its first record
        assert rows == [], rows
    try:
        deadline = time.monotonic() + 5
        while not rows and time.monotonic() < deadline:
            time.sleep(0.05)
            rows = srv.db_rows("SELECT stamp, address FROM account_logins WHERE name = 'lou'")
        assert rows and rows[0][0] >= before and rows[0][1].startswith("[127.0.0.1]:"), rows
        over = admin_request(srv, {"op": "account.overview",
                                   "args": {"domain": "localhost", "search": "lou"}})["result"]
        over = [r for r in over if r["jid"] == "lou@localhost"]
        assert over[0]["last_login"] == rows[0][0], over
        assert over[0]["last_login_address"] == rows[0][1], over
        show = admin_request(srv, {"op": "account.show", "args": {"jid": "lou@localhost"}})["result"]
        assert show["last_login"] == rows[0][0] and show["last_login_address"] == rows[0][1]
        # Never logged in: 0 in the table, nothing in account.show.
        srv.add_account("lounever@localhost", PASSWORD)
        never = admin_request(srv, {"op": "account.overview",
                                    "args": {"domain": "localhost", "search": "lounever"}})["result"]
        assert never[0]["last_login"] == 0 and never[0]["last_login_address"] == "", never
        shown = admin_request(srv, {"op": "account.show", "args": {"jid": "lounever@localhost"}})
        assert "last_login" not in shown["result"], shown
    finally:
        c.close()
    srv.ctl_ok("account", "remove", "lou@localhost")
    assert srv.db_rows("SELECT 1 FROM account_logins WHERE name = 'lou'") == []
