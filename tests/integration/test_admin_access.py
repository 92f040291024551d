"""test_admin_access.py: who may run which admin op on what, over HTTP (the WebAdmin) and over the
control socket ("as": a JID): every op × server administrator, domain administrator of the
domain, domain administrator of another domain, ordinary user (issue 12, access control)."""

import json
import os
import socket

import pytest

from conftest import _finish, _start
from test_webadmin_api import Web

PW = "Access-secret-1"
NEW = "New-secret-2"

SRV, DA, OTHER, USER = "server", "domain", "other-domain", "user"
ACTORS = {SRV: "root@a.test", DA: "boss@a.test", OTHER: "chief@b.test", USER: "joe@a.test"}
ACCOUNTS = ["root@a.test", "boss@a.test", "deputy@a.test", "plain@a.test", "joe@a.test",
            "chief@b.test", "other@b.test"]
READ_ONLY = {"domain.list", "domain.show", "domain.certificate", "account.list", "account.show",
             "account.sessions", "account.roster", "account.pep", "pubsub.nodes", "presence", "settings.get", "connections",
             "queues", "stats", "logins.failed", "logs.list", "logs.read", "stats.history",
             "account.disconnect",
             "send", "invite", "invite.list", "account.devices",
             "users.online", "announce", "announce.all",
             "domain.certificate.set", "features", "muc.rooms", "muc.room", "muc.kick",
             "muc.ban", "muc.destroy", "s2s.close", "queue.flush", "queue.drop",
             "account.overview"}


def account_rows(target, allowed):
    return [
        ("account.show", {"jid": target}, allowed),
        ("account.passwd", {"jid": target, "password": NEW}, allowed),
        ("account.set", {"jid": target, "settings": {"real_name": "X"}}, allowed),
        ("account.set", {"jid": target, "settings": {"disabled": "yes"}}, allowed),
        ("account.set", {"jid": target, "settings": {"password": NEW}}, allowed),
        ("account.sessions", {"jid": target}, allowed),
        ("account.roster", {"jid": target}, allowed),
        ("account.pep", {"jid": target}, allowed),
        ("account.disconnect", {"jid": target}, allowed),
        ("account.devices", {"jid": target}, allowed),
        ("account.device_revoke", {"jid": target}, allowed),
        ("presence", {"jid": target}, allowed),
        ("account.remove", {"jid": target}, allowed),
    ]


# (op, args, the actors allowed to run it). The server administrator may run everything.
ROWS = [
    ("domain.add", {"name": "c.test"}, {SRV}),
    ("domain.remove", {"name": "a.test"}, {SRV}),
    ("domain.list", {}, {SRV, DA, OTHER}),
    ("domain.show", {"name": "a.test"}, {SRV, DA}),
    ("domain.show", {"name": "b.test"}, {SRV, OTHER}),
    ("domain.set", {"name": "a.test", "settings": {"auto_signup": "yes"}}, {SRV, DA}),
    ("domain.set", {"name": "b.test", "settings": {"auto_signup": "yes"}}, {SRV, OTHER}),
    ("domain.set", {"name": "a.test", "settings": {"aliases": "a2.test"}}, {SRV}),
    ("domain.set", {"name": "a.test", "settings": {"chat_service": "rooms.a.test"}}, {SRV, DA}),
    ("domain.set", {"name": "a.test", "settings": {"chat_service": "b.test"}}, {SRV}),
    ("domain.certificate", {"name": "a.test"}, {SRV, DA}),
    ("account.list", {"domain": "a.test"}, {SRV, DA}),
    ("account.list", {"domain": "b.test"}, {SRV, OTHER}),
    ("account.add", {"jid": "new@a.test", "password": NEW}, {SRV, DA}),
    ("account.add", {"jid": "new@b.test", "password": NEW}, {SRV, OTHER}),
    ("invite", {"domain": "a.test"}, {SRV, DA}),
    ("pubsub.nodes", {"domain": "a.test"}, {SRV, DA}),
    ("pubsub.nodes", {"domain": "b.test"}, {SRV, OTHER}),
    ("invite", {"domain": "b.test"}, {SRV, OTHER}),
    ("invite.list", {"domain": "a.test"}, {SRV, DA}),
    ("invite.list", {"domain": "b.test"}, {SRV, OTHER}),
    *account_rows("plain@a.test", {SRV, DA}),
    *account_rows("root@a.test", {SRV}),          # a server administrator
    *account_rows("deputy@a.test", {SRV}),        # another domain administrator of a.test
    *account_rows("other@b.test", {SRV, OTHER}),
    *account_rows("boss@a.test", {SRV, DA}),      # the domain administrator's own account
    ("account.set", {"jid": "plain@a.test", "settings": {"admin": "yes"}}, {SRV}),
    ("account.set", {"jid": "boss@a.test", "settings": {"admin": "yes"}}, {SRV}),
    ("account.set", {"jid": "plain@a.test", "settings": {"domain_admin": "yes"}}, {SRV, DA}),
    ("account.set", {"jid": "deputy@a.test", "settings": {"domain_admin": "no"}}, {SRV}),
    ("settings.get", {}, {SRV}),
    ("settings.set", {"key": "webadmin.session_timeout", "value": "1800"}, {SRV}),
    ("connections", {}, {SRV, DA, OTHER}),
    ("logins.failed", {}, {SRV, DA, OTHER}),
    ("queues", {}, {SRV}),
    ("stats", {}, {SRV}),
    ("cluster.status", {}, {SRV}),
    ("send", {"from": "plain@a.test", "to": "joe@a.test", "text": "hi"}, {SRV}),
    # issue 20: online users and announcements
    ("users.online", {"domain": "a.test"}, {SRV, DA}),
    ("users.online", {"domain": "b.test"}, {SRV, OTHER}),
    ("announce", {"domain": "a.test", "text": "hi"}, {SRV, DA}),
    ("announce", {"domain": "b.test", "text": "hi"}, {SRV, OTHER}),
    ("announce.all", {"text": "hi"}, {SRV}),
    ("features", {"domain": "a.test"}, {SRV, DA}),
    ("muc.rooms", {"domain": "a.test"}, {SRV, DA}),
    ("muc.rooms", {"domain": "b.test"}, {SRV, OTHER}),
    # No such room: "notfound" once the access rule let it through.
    ("muc.room", {"domain": "a.test", "room": "r"}, {SRV, DA}),
    ("muc.kick", {"domain": "a.test", "room": "r", "nick": "n"}, {SRV, DA}),
    ("muc.ban", {"domain": "b.test", "room": "r", "jid": "x@y.test"}, {SRV, OTHER}),
    ("muc.destroy", {"domain": "a.test", "room": "r"}, {SRV, DA}),
    ("account.overview", {"domain": "a.test"}, {SRV, DA}),
    ("account.overview", {"domain": "b.test", "search": "o"}, {SRV, OTHER}),
    ("s2s.close", {"id": 999999}, {SRV}),
    ("queue.flush", {"target": "x.test", "source": "a.test"}, {SRV}),
    ("queue.drop", {"target": "x.test", "source": "a.test"}, {SRV}),
    ("features", {"domain": "b.test"}, {SRV, OTHER}),
    # Not PEM: refused by the checks ("inval") once the access rule let it through.
    ("domain.certificate.set", {"name": "a.test", "cert": "C", "key": "K"}, {SRV, DA}),
    ("domain.certificate.set", {"name": "b.test", "cert": "C", "key": "K"}, {SRV, OTHER}),
    # The WebAdmin's login ops are the server's own (owner scope): no account runs them.
    ("session.login", {"user": "root@a.test", "password": PW}, set()),
    ("session.check", {"jid": "root@a.test"}, set()),
]
HTTP_ROWS = [
    ("logs.list", {}, {SRV}),
    ("stats.history", {}, {SRV}),
]


class Ctl:
    """The control socket: one JSON request per line."""

    def __init__(self, srv):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(os.path.join(srv.datadir, "admin.sock"))
        self.rfile = self.sock.makefile("rb")

    def call(self, op, args=None, as_jid=None):
        req = {"op": op, "args": args or {}}
        if as_jid is not None:
            req["as"] = as_jid
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        return json.loads(self.rfile.readline())

    def ok(self, op, args=None):
        r = self.call(op, args)
        assert r["ok"], (op, args, r)
        return r["result"]

    def close(self):
        self.rfile.close()
        self.sock.close()


def build_world(ctl):
    for d in ("a.test", "b.test", "c.test"):
        ctl.call("domain.remove", {"name": d})
    for d in ("a.test", "b.test"):
        ctl.ok("domain.add", {"name": d})
    for jid in ACCOUNTS:
        ctl.ok("account.add", {"jid": jid, "password": PW})
    ctl.ok("account.set", {"jid": "root@a.test", "settings": {"admin": "yes"}})
    for jid in ("boss@a.test", "deputy@a.test", "chief@b.test"):
        ctl.ok("account.set", {"jid": jid, "settings": {"domain_admin": "yes"}})


@pytest.fixture(scope="module")
def srv():
    s = _start({"webadmin.session_timeout": "1800", "server.log_level": "All Info"},
               webadmin=True)
    yield s
    _finish(s)


def check(op, args, actor, allowed, ok, code, status=None):
    where = "%s %s as %s" % (op, json.dumps(args), actor)
    if actor in allowed:
        # A permitted op runs; a domain's certificate may simply not exist.
        assert ok or (op in ("domain.certificate", "muc.room", "muc.kick", "muc.ban",
                             "muc.destroy", "s2s.close", "queue.flush", "queue.drop")
                      and code == "notfound") or (
            op == "domain.certificate.set" and code == "inval"), (where, code)
    else:
        assert not ok and code == "denied", (where, code)
        assert status in (None, 403), (where, status)


def run_matrix(rows, ctl, do_call):
    build_world(ctl)
    for op, args, allowed in rows:
        for actor in (SRV, DA, OTHER, USER):
            ok, code, status = do_call(actor, op, args)
            check(op, args, actor, allowed, ok, code, status)
            if ok and op not in READ_ONLY:
                build_world(ctl)


def test_matrix_over_the_control_socket(srv):
    ctl = Ctl(srv)
    try:
        def do_call(actor, op, args):
            r = ctl.call(op, args, as_jid=ACTORS[actor])
            return r["ok"], r.get("code"), None
        run_matrix(ROWS, ctl, do_call)
        # Without "as" the socket is the server's owner; a bad "as" is refused.
        assert ctl.call("stats")["ok"]
        assert ctl.call("stats", as_jid="nobody@a.test")["code"] == "denied"
        # The owner runs the WebAdmin's login ops.
        assert ctl.ok("session.check", {"jid": "root@a.test"})["role"] == "server"
        assert ctl.ok("session.login", {"user": "boss@a.test", "password": PW})["domain"] == "a.test"
        bad = ctl.call("stats", as_jid=None)
        assert bad["ok"]
        ctl.sock.sendall(b'{"op":"stats","as":5}\n')
        assert json.loads(ctl.rfile.readline())["code"] == "inval"
    finally:
        ctl.close()
    assert srv.wait_log(r"admin account\.passwd by boss@a\.test refused: root@a\.test is an "
                        r"administrator")


def test_matrix_over_http(srv):
    ctl = Ctl(srv)
    webs = {}

    def web(actor):
        w = webs.get(actor)
        if w is None:
            w = Web(srv.web_port)
            status, body = w.login(ACTORS[actor], PW)
            assert status == 200, (actor, body)
            webs[actor] = w
        return w

    def do_call(actor, op, args):
        if actor == USER:
            # An ordinary user has no session to send an op with (its login is refused below;
            # refused logins count towards the address's lockout, so it is tried once).
            return False, "denied", 403
        status, body = web(actor).call(op, args)
        if status == 401:
            # The world was rebuilt (or the actor removed itself): log in again.
            webs.pop(actor)
            status, body = web(actor).call(op, args)
        ok = status == 200 and body["ok"]
        if ok and op not in READ_ONLY:
            webs.clear()
        return ok, body.get("code"), status

    try:
        build_world(ctl)
        status, body = Web(srv.web_port).login(ACTORS[USER], PW)
        assert status == 403 and body["code"] == "denied", body
        run_matrix(ROWS + HTTP_ROWS, ctl, do_call)
        # A domain administrator sees only its domain in whole-server lists.
        build_world(ctl)
        webs.clear()
        assert web(DA).ok("domain.list") == ["a.test"]
        assert web(OTHER).ok("domain.list") == ["b.test"]
        assert set(web(SRV).ok("domain.list")) >= {"a.test", "b.test", "localhost"}
    finally:
        ctl.close()


def test_domain_admin_of_the_main_domain_cannot_take_over_postmaster(srv):
    """The reported attack: domain_admin=yes in the main domain against postmaster."""
    ctl = Ctl(srv)
    try:
        ctl.call("account.remove", {"jid": "helper@localhost"})
        ctl.ok("account.add", {"jid": "helper@localhost", "password": PW})
        ctl.ok("account.set", {"jid": "helper@localhost", "settings": {"domain_admin": "yes"}})
        w = Web(srv.web_port)
        assert w.login("helper", PW)[0] == 200
        pm = "postmaster@localhost"
        for op, args in [("account.passwd", {"jid": pm, "password": NEW}),
                         ("account.set", {"jid": pm, "settings": {"disabled": "yes"}}),
                         ("account.set", {"jid": pm, "settings": {"password": NEW}}),
                         ("account.disconnect", {"jid": pm}),
                         ("account.remove", {"jid": pm}),
                         ("account.set", {"jid": "helper@localhost",
                                          "settings": {"admin": "yes"}})]:
            status, body = w.call(op, args)
            assert status == 403 and body["code"] == "denied", (op, body)
        # postmaster is untouched: its password still works and it is a server administrator.
        status, body = Web(srv.web_port).login("postmaster", srv.postmaster_password)
        assert status == 200 and body["result"]["role"] == "server", body
        assert ctl.ok("account.show", {"jid": pm})["disabled"] == "no"
        ctl.ok("account.remove", {"jid": "helper@localhost"})
    finally:
        ctl.close()


def test_starlingctl_as(srv):
    ctl = Ctl(srv)
    try:
        build_world(ctl)
    finally:
        ctl.close()
    r = srv.ctl("--as", "boss@a.test", "account", "passwd", "root@a.test", "Other-pass-9")
    assert r.returncode == 1 and "is an administrator" in r.stderr, (r.stdout, r.stderr)
    assert srv.ctl("--as", "boss@a.test", "account", "passwd", "plain@a.test",
                   "Other-pass-9").returncode == 0
    r = srv.ctl("--as", "boss@a.test", "domain", "list")
    assert r.returncode == 0 and r.stdout.split() == ["a.test"], r.stdout
    assert srv.ctl("--as", "joe@a.test", "domain", "list").returncode == 1
