"""test_webadmin_api.py: the WebAdmin over HTTP(S): pages, login, sessions, CSRF, rate limit,
authorization of domain administrators, every API operation, /metrics, live listener changes."""

import http.client
import json
import re
import socket
import ssl
import time

import pytest

import rawxmpp
from conftest import _finish, _start
from starling import Server, free_ports

PW = "Web-secret-1"


class Web:
    """A browser-like client of one WebAdmin socket: keeps the session cookie and CSRF token."""

    def __init__(self, port, tls=False):
        self.port = port
        self.tls = tls
        self.cookie = None
        self.csrf = None
        self.last_headers = {}

    def _conn(self):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method, path, body=None, headers=None):
        c = self._conn()
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = "sid=" + self.cookie
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        self.last_headers = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, data

    def call(self, op, args=None, csrf=True, extra_headers=None):
        """POST /api; returns (HTTP status, decoded JSON)."""
        h = {"Content-Type": "application/json"}
        if csrf and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        h.update(extra_headers or {})
        status, data = self.request("POST", "/api", json.dumps({"op": op, "args": args or {}}), h)
        body = json.loads(data)
        cookie = self.last_headers.get("set-cookie")
        if cookie:
            m = re.match(r"sid=([^;]*)", cookie)
            self.cookie = m.group(1) or None
        return status, body

    def ok(self, op, args=None):
        status, body = self.call(op, args)
        assert status == 200 and body["ok"], (op, args, status, body)
        return body["result"]

    def login(self, user, password):
        status, body = self.call("login", {"user": user, "password": password})
        if status == 200:
            self.csrf = body["result"]["csrf"]
        return status, body


@pytest.fixture(scope="module")
def srv():
    s = _start({"server.log_level": "All Info"}, webadmin=True)
    yield s
    _finish(s)


@pytest.fixture
def admin(srv):
    w = Web(srv.web_port)
    status, body = w.login("postmaster", srv.postmaster_password)
    assert status == 200, body
    return w


def start_own(**opts):
    s = Server(opts, webadmin=True)
    s.start()
    return s


# ---- pages ------------------------------------------------------------------------------------

def test_start_of_the_sockets_logs_no_option_warning(srv):
    """libmicrohttpd wanted its logger as the first option and said so, at Problems level, for
    every WebAdmin socket at every start."""
    assert srv.wait_log(r"ADMIN WebAdmin listening on .*/tls")
    warnings = [line for line in srv.log_text().splitlines()
                if re.match(r"^\S+ [013] ADMIN", line) and "option" in line]
    assert warnings == [], "\n".join(warnings)


def test_pages_are_served_with_security_headers(srv):
    w = Web(srv.web_port)
    status, data = w.request("GET", "/")
    assert status == 200
    assert b"<title>Starling WebAdmin</title>" in data
    assert w.last_headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in w.last_headers["content-security-policy"]
    assert w.last_headers["x-content-type-options"] == "nosniff"
    for path, ctype in (("/app.js", "text/javascript"), ("/app.css", "text/css"),
                        ("/monitors.js", "text/javascript"), ("/favicon.svg", "image/svg+xml")):
        status, data = w.request("GET", path)
        assert status == 200 and len(data) > 100, path
        assert w.last_headers["content-type"].startswith(ctype), path
    assert w.request("GET", "/nothing.html")[0] == 404
    assert w.request("GET", "/../starling.conf")[0] == 404
    assert w.request("DELETE", "/")[0] == 405
    assert w.request("GET", "/api")[0] == 405


def test_https_socket_serves_the_same_pages(srv):
    w = Web(srv.web_tls_port, tls=True)
    status, data = w.request("GET", "/")
    assert status == 200 and b"Starling WebAdmin" in data


# ---- login, cookies, sessions ------------------------------------------------------------------

def test_login_cookie_flags_over_http(srv):
    w = Web(srv.web_port)
    status, body = w.login("postmaster@localhost", srv.postmaster_password)
    assert status == 200, body
    cookie = w.last_headers["set-cookie"]
    assert re.match(r"sid=[0-9a-f]{64};", cookie), cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Max-Age=" in cookie
    assert "Secure" not in cookie
    r = body["result"]
    assert r["jid"] == "postmaster@localhost" and r["role"] == "server"
    assert re.fullmatch(r"[0-9a-f]{64}", r["csrf"]) and r["csrf"] != w.cookie


def test_login_cookie_is_secure_over_https(srv):
    w = Web(srv.web_tls_port, tls=True)
    status, body = w.login("postmaster", srv.postmaster_password)
    assert status == 200, body
    assert "; Secure" in w.last_headers["set-cookie"]
    assert w.ok("whoami")["jid"] == "postmaster@localhost"


def test_wrong_password_and_unknown_user_are_refused(srv):
    w = Web(srv.web_port)
    for user, pw in (("postmaster", "wrong"), ("nobody@localhost", "x"), ("postmaster@nowhere", "x"),
                     ("not a jid@@", "x")):
        status, body = w.login(user, pw)
        assert status == 401 and body["code"] == "auth", (user, body)
        assert "set-cookie" not in w.last_headers
    status, body = w.call("login", {"user": "postmaster"})
    assert status == 400
    # A failed login is no more than 4 of the 5 allowed: the right password still works.
    assert w.login("postmaster", srv.postmaster_password)[0] == 200


def test_ordinary_user_cannot_log_in(srv, admin):
    admin.ok("account.add", {"jid": "plain@localhost", "password": PW})
    w = Web(srv.web_port)
    status, body = w.login("plain@localhost", PW)
    assert status == 403 and body["code"] == "denied", body
    assert w.cookie is None
    assert srv.wait_log(r"WebAdmin login failed for plain@localhost: not an administrator")


def test_api_needs_a_session(srv):
    w = Web(srv.web_port)
    for op in ("whoami", "domain.list", "settings.set", "logout"):
        status, body = w.call(op, {})
        assert status == 401 and body["code"] == "auth", (op, body)
    w.cookie = "0" * 64
    status, body = w.call("domain.list")
    assert status == 401


def test_logout_ends_the_session(srv):
    w = Web(srv.web_port)
    w.login("postmaster", srv.postmaster_password)
    old = w.cookie
    status, body = w.call("logout")
    assert status == 200 and body["ok"]
    assert "Max-Age=0" in w.last_headers["set-cookie"]
    w.cookie = old
    assert w.call("whoami")[0] == 401


def test_bad_requests(srv, admin):
    status, data = admin.request("POST", "/api", "{not json", {"Content-Type": "application/json",
                                                               "X-CSRF-Token": admin.csrf})
    assert status == 400 and json.loads(data)["code"] == "inval"
    status, data = admin.request("POST", "/api", json.dumps({"args": {}}),
                                 {"X-CSRF-Token": admin.csrf})
    assert status == 400
    status, body = admin.call("no.such.op")
    assert status == 404 and body["error"].startswith("unknown op")
    status, data = admin.request("POST", "/api", "x" * (2 * 1024 * 1024),
                                 {"X-CSRF-Token": admin.csrf})
    assert status == 413


# ---- CSRF and origin ----------------------------------------------------------------------------

def test_csrf_token_is_required(srv, admin):
    for csrf in (None, "0" * 64, admin.csrf[:-1]):
        h = {"X-CSRF-Token": csrf} if csrf else {}
        status, body = admin.call("domain.add", {"name": "csrf.test"}, csrf=False, extra_headers=h)
        assert status == 403 and body["code"] == "csrf", body
        status, body = admin.call("settings.set", {"key": "xmpp.receiving.channels", "value": 7},
                                  csrf=False, extra_headers=h)
        assert status == 403 and body["code"] == "csrf", body
    assert "csrf.test" not in admin.ok("domain.list")
    assert admin.ok("settings.get", {"key": "xmpp.receiving.channels"}) != "7"
    assert srv.wait_log(r"domain\.add refused: missing or wrong CSRF token")


def test_cross_origin_requests_are_refused(srv, admin):
    status, _ = admin.request("POST", "/api", json.dumps({"op": "domain.list"}),
                              {"X-CSRF-Token": admin.csrf, "Origin": "http://evil.example"})
    assert status == 403
    status, data = admin.request("POST", "/api", json.dumps({"op": "domain.list"}),
                                 {"X-CSRF-Token": admin.csrf,
                                  "Origin": "http://127.0.0.1:%d" % srv.web_port})
    assert status == 200, data


# ---- every operation -----------------------------------------------------------------------

def test_domain_operations(srv, admin):
    assert admin.ok("domain.add", {"name": "Web.Example"}) is None
    assert "web.example" in admin.ok("domain.list")
    assert admin.call("domain.add", {"name": "web.example"})[0] == 409
    admin.ok("domain.set", {"name": "web.example",
                            "settings": {"auto_signup": True, "aliases": "alias.web.example",
                                         "login_methods": "SCRAM-SHA-256,PLAIN"}})
    shown = admin.ok("domain.show", {"name": "alias.web.example"})
    assert shown["auto_signup"] == "yes" and shown["aliases"] == "alias.web.example"
    assert shown["login_methods"] == "SCRAM-SHA-256,PLAIN"
    status, body = admin.call("domain.set", {"name": "web.example",
                                             "settings": {"password_storage": "plain"}})
    assert status == 400 and body["code"] == "inval"
    assert admin.call("domain.show", {"name": "missing.example"})[0] == 404
    admin.ok("domain.remove", {"name": "web.example"})
    assert "web.example" not in admin.ok("domain.list")
    assert srv.wait_log(r"ADMIN\(127\.0\.0\.1\) WebAdmin postmaster@localhost: domain\.add "
                        r"\{\"name\":\"Web\.Example\"\}: done")


def test_account_operations(srv, admin):
    admin.ok("account.add", {"jid": "carol@localhost", "password": PW})
    assert "carol@localhost" in admin.ok("account.list", {"domain": "localhost"})
    admin.ok("account.set", {"jid": "carol@localhost",
                             "settings": {"real_name": "Carol", "domain_admin": "yes"}})
    shown = admin.ok("account.show", {"jid": "carol@localhost"})
    assert shown["real_name"] == "Carol" and shown["domain_admin"] == "yes"
    admin.ok("account.passwd", {"jid": "carol@localhost", "password": "Other-secret-2"})
    c = rawxmpp.login(srv, "carol", "Other-secret-2")
    c.close()
    assert admin.call("account.sessions", {"jid": "zed@localhost"})[0] == 404
    assert admin.call("account.disconnect", {"jid": "zed@localhost"})[0] == 404
    admin.ok("account.remove", {"jid": "carol@localhost"})
    assert admin.call("account.show", {"jid": "carol@localhost"})[0] == 404
    # The password never reaches the log.
    assert "Other-secret-2" not in srv.log_text()
    assert srv.wait_log(r"WebAdmin postmaster@localhost: account\.passwd "
                        r"\{\"jid\":\"carol@localhost\",\"password\":\"\*\*\*\"\}: done")


def test_sessions_and_disconnect(srv, admin):
    admin.ok("account.add", {"jid": "dave@localhost", "password": PW})
    c = rawxmpp.login(srv, "dave", PW, resource="phone")
    try:
        sessions = admin.ok("account.sessions", {"jid": "dave@localhost"})
        assert len(sessions) == 1, sessions
        s = sessions[0]
        assert s["jid"] == "dave@localhost/phone" and s["kind"] == "c2s"
        assert s["tls"] and s["mechanism"] == "PLAIN" and s["peer"].startswith("[127.0.0.1]:")
        conns = admin.ok("connections")
        assert any(x["jid"] == "dave@localhost/phone" for x in conns)
        admin.ok("account.disconnect", {"jid": "dave@localhost"})
        c.expect_stream_error("policy-violation")
    finally:
        c.close()
    deadline = time.monotonic() + 5
    while admin.ok("account.sessions", {"jid": "dave@localhost"}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert admin.ok("account.sessions", {"jid": "dave@localhost"}) == []
    assert srv.wait_log(r"WebAdmin postmaster@localhost: account\.disconnect")


def test_settings_operations(srv, admin):
    allv = admin.ok("settings.get")
    assert allv["webadmin.listener"].startswith("127.0.0.1:%d" % srv.web_port)
    assert allv["webadmin.metrics"] == "off" and allv["webadmin.session_timeout"] == "1800"
    admin.ok("settings.set", {"key": "xmpp.receiving.channels", "value": 321})
    assert admin.ok("settings.get", {"key": "xmpp.receiving.channels"}) == "321"
    assert srv.ctl_ok("settings", "get", "xmpp.receiving.channels").strip().endswith("321")
    status, body = admin.call("settings.set", {"key": "xmpp.receiving.channels", "value": "many"})
    assert status == 400 and "not a number" in body["error"]
    status, body = admin.call("settings.set", {"key": "webadmin.metrics", "value": "sometimes"})
    assert status == 400
    assert admin.call("settings.get", {"key": "no.such"})[0] == 404
    admin.ok("settings.set", {"key": "xmpp.receiving.channels", "value": 10000})


def test_stats_and_history(srv, admin):
    stats = admin.ok("stats")
    for key in ("connections_accepted", "connections_open", "logins", "auth_failures",
                "stanzas_in", "stanzas_out", "stream_errors", "uptime_seconds"):
        assert isinstance(stats[key], int), key
    time.sleep(2.5)
    h = admin.ok("stats.history")
    assert h["interval"] == 2 and len(h["samples"]) >= 2
    assert all("t" in s and "logins" in s for s in h["samples"])
    assert h["samples"][-1]["t"] >= h["samples"][0]["t"]
    # The day's charts (issue 20): one sample a minute, the first one at once.
    assert h["day"]["interval"] == 60 and len(h["day"]["samples"]) >= 1
    assert h["day"]["samples"][0]["t"] <= h["samples"][0]["t"] + 2


def test_cluster_status_of_a_server_alone(srv, admin):
    # The monitor's nodes panel stays hidden: a server without cluster.node_id has no nodes.
    assert admin.ok("cluster.status") == {"self": None, "nodes": []}


def test_logs_operations(srv, admin):
    files = admin.ok("logs.list")
    assert files and re.fullmatch(r"\d{4}-\d\d-\d\d(-\d+)?\.log", files[0]["name"])
    assert files[0]["size"] > 0
    r = admin.ok("logs.read", {"tags": ["SYSTEM"], "text": "ready", "limit": 10})
    assert r["records"] and all(x["tag"] == "SYSTEM" for x in r["records"])
    assert any("ready" in x["text"] for x in r["records"])
    r = admin.ok("logs.read", {"file": files[0]["name"], "tags": "XMPPI,XMPPS", "level": 5})
    assert all(x["tag"] in ("XMPPI", "XMPPS") for x in r["records"])
    r = admin.ok("logs.read", {"level": "Major", "limit": 3})
    assert len(r["records"]) <= 3 and all(x["level"] <= 2 for x in r["records"])
    r = admin.ok("logs.read", {"from": "23:59:59.999", "to": "23:59:59.999", "tags": ["NONE"]})
    assert r["records"] == [] and r["matched"] == 0
    for bad in ({"file": "../starling.conf"}, {"from": "noon"}, {"limit": 0}, {"level": 9},
                {"tags": 5}):
        status, body = admin.call("logs.read", bad)
        assert status == 400, (bad, body)
    assert admin.call("logs.read", {"file": "1999-01-01.log"})[0] == 404


# ---- domain administrators ---------------------------------------------------------------------

def test_domain_admin_sees_and_changes_only_their_domain(srv, admin):
    for d in ("a.test", "b.test"):
        admin.ok("domain.add", {"name": d})
    admin.ok("account.add", {"jid": "boss@a.test", "password": PW})
    admin.ok("account.add", {"jid": "other@b.test", "password": PW})
    admin.ok("account.set", {"jid": "boss@a.test", "settings": {"domain_admin": True}})
    w = Web(srv.web_port)
    status, body = w.login("boss@a.test", PW)
    assert status == 200, body
    assert body["result"]["role"] == "domain" and body["result"]["domain"] == "a.test"
    assert w.ok("domain.list") == ["a.test"]
    w.ok("account.add", {"jid": "new@a.test", "password": PW})
    assert "new@a.test" in w.ok("account.list", {"domain": "a.test"})
    w.ok("account.set", {"jid": "new@a.test", "settings": {"real_name": "New"}})
    w.ok("domain.set", {"name": "a.test", "settings": {"auto_signup": "yes"}})
    w.ok("account.sessions", {"jid": "new@a.test"})
    w.ok("connections")
    refused = [
        ("account.add", {"jid": "x@b.test", "password": PW}),
        ("account.show", {"jid": "other@b.test"}),
        ("account.remove", {"jid": "other@b.test"}),
        ("account.passwd", {"jid": "other@b.test", "password": PW}),
        ("account.list", {"domain": "b.test"}),
        ("account.disconnect", {"jid": "other@b.test"}),
        ("domain.show", {"name": "b.test"}),
        ("domain.set", {"name": "b.test", "settings": {"auto_signup": "yes"}}),
        ("domain.add", {"name": "c.test"}),
        ("domain.remove", {"name": "a.test"}),
        ("settings.get", {}),
        ("settings.set", {"key": "xmpp.receiving.channels", "value": 1}),
        ("account.set", {"jid": "new@a.test", "settings": {"admin": "yes"}}),
        ("domain.set", {"name": "a.test", "settings": {"aliases": "b2.test"}}),
        ("logs.read", {}),
        ("logs.list", {}),
        ("stats.history", {}),
        ("stats", {}),
    ]
    for op, args in refused:
        status, body = w.call(op, args)
        assert status == 403 and body["code"] == "denied", (op, body)
    assert admin.ok("account.show", {"jid": "new@a.test"})["admin"] == "no"
    assert "c.test" not in admin.ok("domain.list")
    assert "other@b.test" in admin.ok("account.list", {"domain": "b.test"})
    # Connections of other domains are not shown to a domain administrator.
    c = rawxmpp.login(srv, "other", PW, domain="b.test")
    try:
        assert any(x.get("jid", "").startswith("other@b.test") for x in admin.ok("connections"))
        assert not any((x.get("jid") or "").endswith("b.test") or "@b.test" in (x.get("jid") or "")
                       for x in w.ok("connections"))
    finally:
        c.close()
    # Taking the right away ends the session at the next request.
    admin.ok("account.set", {"jid": "boss@a.test", "settings": {"domain_admin": "no"}})
    assert w.call("domain.list")[0] == 401
    assert Web(srv.web_port).login("boss@a.test", PW)[0] == 403
    for d in ("a.test", "b.test"):
        admin.ok("domain.remove", {"name": d})


def test_domain_admin_cannot_change_other_administrators(srv, admin):
    """Issue 12: a domain administrator of the main domain could take over postmaster (found by
    fuzz_admin_api). It changes ordinary accounts of its domain and itself, no administrator."""
    main = srv.domain
    admin.ok("account.add", {"jid": "esc-da1@" + main, "password": PW})
    admin.ok("account.add", {"jid": "esc-da2@" + main, "password": PW})
    admin.ok("account.add", {"jid": "esc-plain@" + main, "password": PW})
    for j in ("esc-da1@" + main, "esc-da2@" + main):
        admin.ok("account.set", {"jid": j, "settings": {"domain_admin": True}})
    w = Web(srv.web_port)
    assert w.login("esc-da1@" + main, PW)[0] == 200
    try:
        for target in ("postmaster@" + main, "esc-da2@" + main):
            for op, args in (("account.passwd", {"password": "Taken-over-1"}),
                             ("account.set", {"settings": {"disabled": True}}),
                             ("account.disconnect", {}),
                             ("account.remove", {})):
                status, body = w.call(op, dict(args, jid=target))
                assert status == 403 and body["code"] == "denied", (op, target, body)
        # Not even reading another administrator (docs/admin-api.md); ordinary accounts and
        # itself stay its business.
        status, body = w.call("account.show", {"jid": "postmaster@" + main})
        assert status == 403 and body["code"] == "denied", body
        w.ok("account.passwd", {"jid": "esc-plain@" + main, "password": "Plain-new-1"})
        w.ok("account.set", {"jid": "esc-da1@" + main, "settings": {"real_name": "Me"}})
        # postmaster is untouched: its password still works and it is enabled.
        again = Web(srv.web_port)
        assert again.login("postmaster", srv.postmaster_password)[0] == 200
        assert admin.ok("account.show", {"jid": "esc-da2@" + main})["disabled"] == "no"
    finally:
        for j in ("esc-da1@" + main, "esc-da2@" + main, "esc-plain@" + main):
            admin.ok("account.remove", {"jid": j})


def test_removed_account_loses_its_session(srv, admin):
    admin.ok("account.add", {"jid": "temp-admin@localhost", "password": PW})
    admin.ok("account.set", {"jid": "temp-admin@localhost", "settings": {"admin": "yes"}})
    w = Web(srv.web_port)
    assert w.login("temp-admin", PW)[0] == 200
    assert w.ok("whoami")["role"] == "server"
    admin.ok("account.remove", {"jid": "temp-admin@localhost"})
    assert w.call("domain.list")[0] == 401


# ---- servers of their own: rate limit, metrics, listener changes, session timeout ---------------

def test_login_rate_limit_per_address(make_server):
    s = Server({}, webadmin=True)
    s.start()
    try:
        w = Web(s.web_port)
        for _ in range(5):
            assert w.login("postmaster", "wrong")[0] == 401
        status, body = w.login("postmaster", s.postmaster_password)
        assert status == 429 and body["code"] == "limit", body
        assert re.search(r"try again in \d+ seconds", body["error"])
        assert s.wait_log(r"WebAdmin login refused: too many failed logins")
    finally:
        problems = s.stop()
        s.cleanup()
    assert not problems, problems


def test_metrics_off_local_on(make_server):
    s = Server({}, webadmin=True)
    s.start()
    try:
        w = Web(s.web_port)
        assert w.request("GET", "/metrics")[0] == 404
        a = Web(s.web_port)
        a.login("postmaster", s.postmaster_password)
        a.ok("settings.set", {"key": "webadmin.metrics", "value": "local"})
        c = rawxmpp.login(s, "postmaster", s.postmaster_password)
        c.close()
        status, data = w.request("GET", "/metrics")
        assert status == 200, data
        assert w.last_headers["content-type"].startswith("application/openmetrics-text")
        text = data.decode()
        assert text.endswith("# EOF\n")
        assert "# TYPE starling_logins counter" in text
        assert re.search(r"^starling_logins_total [1-9]\d*$", text, re.M), text
        assert re.search(r"^starling_connections_open \d+$", text, re.M)
        assert "# TYPE starling_connections_open gauge" in text
        a.ok("settings.set", {"key": "webadmin.metrics", "value": "off"})
        assert w.request("GET", "/metrics")[0] == 404
    finally:
        problems = s.stop()
        s.cleanup()
    assert not problems, problems


def _accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _wait(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_listener_changes_apply_live_and_survive_restart(make_server):
    s = Server({}, webadmin=True)
    s.start()
    extra = free_ports(1)[0]
    try:
        a = Web(s.web_port)
        a.login("postmaster", s.postmaster_password)
        value = "127.0.0.1:%d, 127.0.0.1:%d/tls" % (s.web_port, extra)
        a.ok("settings.set", {"key": "webadmin.listener", "value": value})
        assert _wait(lambda: _accepts(extra))
        assert _wait(lambda: not _accepts(s.web_tls_port))
        t = Web(extra, tls=True)
        assert t.login("postmaster", s.postmaster_password)[0] == 200
        # The page that made the change still answers on its own socket.
        assert a.ok("settings.get", {"key": "webadmin.listener"}) == value
        assert s.wait_log(r"WebAdmin socket 127\.0\.0\.1:%d/tls closed" % s.web_tls_port)
        # A socket that cannot be opened is logged, and the others keep working.
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        try:
            a.ok("settings.set", {"key": "webadmin.listener",
                                  "value": value + ", 127.0.0.1:%d" % busy.getsockname()[1]})
            assert s.wait_log(r"WebAdmin socket 127\.0\.0\.1:%d: " % busy.getsockname()[1])
        finally:
            busy.close()
        a.ok("settings.set", {"key": "webadmin.listener", "value": value})
        assert s.stop() == []
        # The saved settings open the same sockets again (no -o override for them).
        s2 = Server({"webadmin.listener": value}, datadir=s.datadir, webadmin=True)
        s2.start()
        try:
            assert _accepts(extra) and _accepts(s.web_port)
            assert "webadmin.listener = " + value in open(s.datadir + "/starling.conf").read()
        finally:
            assert s2.stop() == []
            s2.cleanup()
    finally:
        s.stop()
        s.cleanup()


def test_session_idle_timeout_setting(make_server):
    s = Server({"webadmin.session_timeout": "60"}, webadmin=True)
    s.start()
    try:
        a = Web(s.web_port)
        a.login("postmaster", s.postmaster_password)
        assert a.ok("settings.get", {"key": "webadmin.session_timeout"}) == "60"
        assert a.call("settings.set", {"key": "webadmin.session_timeout", "value": 5})[0] == 400
        assert a.ok("whoami")["jid"] == "postmaster@localhost"
    finally:
        problems = s.stop()
        s.cleanup()
    assert not problems, problems


def test_no_webadmin_socket_when_listener_empty(make_server):
    s = make_server({"webadmin.listener": ""})
    assert s.ctl_ok("settings", "get", "webadmin.listener").strip() in ("", "webadmin.listener =")
    assert "WebAdmin listening" not in s.log_text()
