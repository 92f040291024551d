"""test_adhoc.py: XEP-0050 ad-hoc commands and the XEP-0133 administration commands (add user,
delete user, change password, online users count and list, announce) for admins only, and the
ping command for every user."""

import time
import xml.sax.saxutils

import pytest

import rawxmpp
from rawxmpp import NS_CLIENT, q, stanza_error

NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_DATA = "jabber:x:data"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
ADMIN = "http://jabber.org/protocol/admin#"
NODES = ["add-user", "delete-user", "change-user-password", "get-online-users-num",
         "get-online-users-list", "announce"]
PASSWORD = "admin-pw-1"

SERVER_OPTIONS = {"server.workers": "3"}


@pytest.fixture(scope="module")
def srv(server):
    for u in ("boss", "joe", "amy", "ann"):
        server.add_account("%s@localhost" % u, PASSWORD)
    server.ctl_ok("account", "set", "boss@localhost", "admin=yes")
    server.ctl_ok("domain", "add", "other.test")
    return server


def login(server, user, resource="r", password=PASSWORD):
    return rawxmpp.login(server, user, password, resource=resource)


def command(c, node, action=None, sessionid=None, inner=""):
    attrs = " node='%s%s'" % (ADMIN, node)
    if action:
        attrs += " action='%s'" % action
    if sessionid:
        attrs += " sessionid='%s'" % sessionid
    return c.iq("set", "<command xmlns='%s'%s>%s</command>" % (NS_COMMANDS, attrs, inner),
                to="localhost")


def form(fields, type_="submit"):
    out = ["<x xmlns='%s' type='%s'>" % (NS_DATA, type_),
           "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/admin"
           "</value></field>"]
    for var, vals in fields.items():
        vals = vals if isinstance(vals, list) else [vals]
        out.append("<field var='%s'>%s</field>" % (var, "".join(
            "<value>%s</value>" % xml.sax.saxutils.escape(v) for v in vals)))
    out.append("</x>")
    return "".join(out)


def cmd_el(r):
    assert r.get("type") == "result", rawxmpp.dump(r)
    return r.find(q(NS_COMMANDS, "command"))


def start(c, node):
    """First stage: returns (sessionid, form vars)."""
    el = cmd_el(command(c, node, "execute"))
    assert el.get("status") == "executing", rawxmpp.dump(el)
    assert el.get("node") == ADMIN + node
    x = el.find(q(NS_DATA, "x"))
    assert x.get("type") == "form"
    assert el.find(q(NS_COMMANDS, "actions")) is not None
    return el.get("sessionid"), [f.get("var") for f in x.findall(q(NS_DATA, "field"))]


def run(c, node, fields):
    sid, _ = start(c, node)
    return command(c, node, "complete", sid, form(fields))


def completed(r):
    el = cmd_el(r)
    assert el.get("status") == "completed", rawxmpp.dump(el)
    return el


def app_error(r):
    """(stanza condition, XEP-0050 condition)."""
    assert r.get("type") == "error", rawxmpp.dump(r)
    e = r.find(q(NS_CLIENT, "error"))
    app = [rawxmpp.local(ch.tag) for ch in e if rawxmpp.ns_of(ch.tag) == NS_COMMANDS]
    return stanza_error(r)[1], (app[0] if app else None)


def result_values(el, var):
    x = el.find(q(NS_DATA, "x"))
    assert x is not None and x.get("type") == "result", rawxmpp.dump(el)
    for f in x.findall(q(NS_DATA, "field")):
        if f.get("var") == var:
            return [v.text for v in f.findall(q(NS_DATA, "value"))]
    raise AssertionError("no field %s in %s" % (var, rawxmpp.dump(el)))


def can_login(server, user, password):
    c, _ = rawxmpp.connect(server)
    kind, _data = c.plain(user, password)
    c.close()
    return kind == "success"


INVITE = "urn:xmpp:invite#invite"
INVITE_ADMIN = "urn:xmpp:invite#create-account"


# ---- discovery ----------------------------------------------------------------------------------

def test_commands_listed_for_admins_only(srv):
    boss = login(srv, "boss")
    r = boss.iq("get", "<query xmlns='%s' node='%s'/>" % (NS_DISCO_ITEMS, NS_COMMANDS),
                to="localhost")
    items = r.find(q(NS_DISCO_ITEMS, "query")).findall(q(NS_DISCO_ITEMS, "item"))
    assert sorted(i.get("node") for i in items) == sorted(
        [ADMIN + n for n in NODES] + ["ping", INVITE, INVITE_ADMIN, "devices", "revoke-device"])
    assert all(i.get("jid") == "localhost" and i.get("name") for i in items)
    r = boss.iq("get", "<query xmlns='%s' node='%sadd-user'/>" % (NS_DISCO_INFO, ADMIN),
                to="localhost")
    query = r.find(q(NS_DISCO_INFO, "query"))
    ident = query.find(q(NS_DISCO_INFO, "identity"))
    assert (ident.get("category"), ident.get("type")) == ("automation", "command-node")
    feats = {f.get("var") for f in query.findall(q(NS_DISCO_INFO, "feature"))}
    assert feats == {NS_COMMANDS, NS_DATA}
    joe = login(srv, "joe")
    r = joe.iq("get", "<query xmlns='%s' node='%s'/>" % (NS_DISCO_ITEMS, NS_COMMANDS),
               to="localhost")
    assert r.get("type") == "result"
    # An ordinary user sees the commands it may run: ping, inviting someone (XEP-0401) and its
    # own devices (SASL2 user agents, FAST tokens), no admin command.
    items = r.find(q(NS_DISCO_ITEMS, "query")).findall(q(NS_DISCO_ITEMS, "item"))
    assert [(i.get("node"), i.get("jid")) for i in items] == [
        ("ping", "localhost"), (INVITE, "localhost"), ("devices", "localhost"),
        ("revoke-device", "localhost")]
    boss.close()
    joe.close()


def test_ping_command_for_every_user(srv):
    """XEP-0050: the ping command runs for an ordinary user and answers at once."""
    joe = login(srv, "joe")
    r = joe.iq("get", "<query xmlns='%s' node='ping'/>" % NS_DISCO_INFO, to="localhost")
    ident = r.find(q(NS_DISCO_INFO, "query")).find(q(NS_DISCO_INFO, "identity"))
    assert (ident.get("category"), ident.get("type")) == ("automation", "command-node")
    r = joe.iq("set", "<command xmlns='%s' node='ping' action='execute'/>" % NS_COMMANDS,
               to="localhost")
    el = completed(r)
    assert el.get("node") == "ping"
    note = el.find(q(NS_COMMANDS, "note"))
    assert note is not None and note.text.startswith("Pong"), rawxmpp.dump(el)
    joe.close()


@pytest.mark.parametrize("node", NODES)
def test_non_admin_forbidden(srv, node):
    joe = login(srv, "joe")
    r = command(joe, node, "execute")
    assert stanza_error(r) == ("cancel", "forbidden")
    joe.close()


def test_unknown_command(srv):
    boss = login(srv, "boss")
    r = command(boss, "no-such-command", "execute")
    assert stanza_error(r) == ("cancel", "item-not-found")
    boss.close()


# ---- sessions -----------------------------------------------------------------------------------

def test_session_cancel_and_bad_sessionid(srv):
    boss = login(srv, "boss")
    sid, fields = start(boss, "add-user")
    assert {"accountjid", "password", "password-verify"} <= set(fields)
    el = cmd_el(command(boss, "add-user", "cancel", sid))
    assert el.get("status") == "canceled" and el.get("sessionid") == sid
    # A canceled session is gone.
    r = command(boss, "add-user", "complete", sid,
                form({"accountjid": "ghost@localhost", "password": "x1", "password-verify": "x1"}))
    assert app_error(r) == ("bad-request", "bad-sessionid")
    assert not can_login(srv, "ghost", "x1")
    r = command(boss, "add-user", "complete", "0123456789abcdef", form({}))
    assert app_error(r) == ("bad-request", "bad-sessionid")
    # A session belongs to its node and its requester's full JID.
    sid, _ = start(boss, "add-user")
    r = command(boss, "delete-user", "complete", sid, form({"accountjids": "joe@localhost"}))
    assert app_error(r) == ("bad-request", "bad-sessionid")
    other = login(srv, "boss", "other")
    r = command(other, "add-user", "complete", sid,
                form({"accountjid": "ghost@localhost", "password": "x1", "password-verify": "x1"}))
    assert app_error(r) == ("bad-request", "bad-sessionid")
    # No next stage; no form at all.
    r = command(boss, "add-user", "next", sid)
    assert app_error(r) == ("bad-request", "bad-action")
    r = command(boss, "add-user", "complete", sid)
    assert app_error(r) == ("bad-request", "bad-payload")
    r = command(boss, "add-user", "dance")
    assert app_error(r) == ("bad-request", "malformed-action")
    boss.close()
    other.close()


# ---- XEP-0133 commands --------------------------------------------------------------------------

def test_add_user(srv):
    boss = login(srv, "boss")
    r = run(boss, "add-user", {"accountjid": "newbie@localhost", "password": "n3w-pw",
                               "password-verify": "n3w-pw", "given_name": "New",
                               "surname": "Bie"})
    completed(r)
    assert can_login(srv, "newbie", "n3w-pw")
    assert "real_name = New Bie" in srv.ctl_ok("account", "show", "newbie@localhost")
    # Again: the account exists.
    r = run(boss, "add-user", {"accountjid": "newbie@localhost", "password": "n3w-pw",
                               "password-verify": "n3w-pw"})
    assert stanza_error(r) == ("cancel", "conflict")
    # Passwords that differ, a missing password, an address of another domain.
    r = run(boss, "add-user", {"accountjid": "x2@localhost", "password": "a1",
                               "password-verify": "b2"})
    assert app_error(r) == ("bad-request", "bad-payload")
    r = run(boss, "add-user", {"accountjid": "x2@localhost"})
    assert app_error(r) == ("bad-request", "bad-payload")
    r = run(boss, "add-user", {"accountjid": "x2@other.test", "password": "a1",
                               "password-verify": "a1"})
    assert app_error(r) == ("bad-request", "bad-payload")
    assert not can_login(srv, "x2", "a1")
    boss.close()


def test_change_user_password(srv):
    srv.add_account("pat@localhost", "old-pw-1")
    boss = login(srv, "boss")
    completed(run(boss, "change-user-password", {"accountjid": "pat@localhost",
                                                 "password": "new-pw-2"}))
    assert can_login(srv, "pat", "new-pw-2")
    assert not can_login(srv, "pat", "old-pw-1")
    r = run(boss, "change-user-password", {"accountjid": "nobody@localhost",
                                           "password": "new-pw-2"})
    assert stanza_error(r) == ("cancel", "item-not-found")
    boss.close()


def test_delete_user(srv):
    srv.add_account("gone1@localhost", "pw-gone-1")
    srv.add_account("gone2@localhost", "pw-gone-2")
    victim = login(srv, "gone1", password="pw-gone-1")
    boss = login(srv, "boss")
    # All or nothing: an unknown address in the list deletes nobody.
    r = run(boss, "delete-user", {"accountjids": ["gone2@localhost", "nobody@localhost"]})
    assert stanza_error(r) == ("cancel", "item-not-found")
    assert can_login(srv, "gone2", "pw-gone-2")
    completed(run(boss, "delete-user", {"accountjids": ["gone1@localhost", "gone2@localhost"]}))
    # The deleted account's session ends, and it cannot log in again.
    assert victim.stream_error(5) is not None
    assert not can_login(srv, "gone1", "pw-gone-1")
    assert not can_login(srv, "gone2", "pw-gone-2")
    assert "gone1@localhost" not in srv.ctl_ok("account", "list", "localhost")
    boss.close()


def online_now(boss):
    el = completed(command(boss, "get-online-users-num", "execute"))
    return int(result_values(el, "onlineusersnum")[0])


def test_online_users_count_and_list(srv):
    boss = login(srv, "boss", "main")
    base = online_now(boss)
    # Several accounts, two resources for one: sessions on several workers, counted once each.
    clients = [login(srv, "amy", "a1"), login(srv, "amy", "a2"), login(srv, "ann", "n1")]
    n = online_now(boss)
    assert n == base + 2, (base, n)
    sid, fields = start(boss, "get-online-users-list")
    assert "max_items" in fields
    el = completed(command(boss, "get-online-users-list", "complete", sid,
                           form({"max_items": "none"})))
    jids = result_values(el, "onlineuserjids")
    assert {"amy@localhost", "ann@localhost", "boss@localhost"} <= set(jids)
    assert len(jids) == len(set(jids)) == n
    el = completed(run(boss, "get-online-users-list", {"max_items": "25"}))
    assert len(result_values(el, "onlineuserjids")) == min(n, 25)
    for c in clients:
        c.close()
    deadline = time.monotonic() + 5
    while online_now(boss) != base and time.monotonic() < deadline:
        time.sleep(0.1)
    assert online_now(boss) == base
    boss.close()


def test_announce(srv):
    boss = login(srv, "boss", "ann")
    amy = login(srv, "amy", "listen")
    ann1 = login(srv, "ann", "one")
    ann2 = login(srv, "ann", "two")
    for c in (amy, ann1, ann2):
        c.send("<presence/>")
    time.sleep(0.3)
    completed(run(boss, "announce", {"subject": "Maintenance",
                                     "announcement": ["Down at 22:00.", "Back soon."]}))
    for c in (amy, ann1, ann2):
        m = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "message"), what="announcement")
        assert m.get("type") == "headline" and m.get("from") == "localhost"
        assert m.find(q(NS_CLIENT, "subject")).text == "Maintenance"
        assert m.find(q(NS_CLIENT, "body")).text == "Down at 22:00.\nBack soon."
    r = run(boss, "announce", {"subject": "empty"})
    assert app_error(r) == ("bad-request", "bad-payload")
    for c in (boss, amy, ann1, ann2):
        c.close()
