"""test_register.py: XEP-0077 in-band registration, password change, cancellation and anti-abuse."""

import re
import time

import pytest

import rawxmpp
from rawxmpp import NS_CLIENT, NS_STANZAS, q, stanza_error

NS_REG = "jabber:iq:register"
NS_REG_FEATURE = "http://jabber.org/features/iq-register"
NS_XDATA = "jabber:x:data"

SERVER_OPTIONS = {"register.rate_limit": "0", "register.min_password_length": "6"}


def reg_query(user=None, password=None, extra=""):
    parts = ""
    if user is not None:
        parts += "<username>%s</username>" % user
    if password is not None:
        parts += "<password>%s</password>" % password
    return "<query xmlns='%s'>%s%s</query>" % (NS_REG, parts, extra)


def register(server, user, password, domain="localhost", extra=""):
    """Registers over a fresh TLS stream; returns the iq answer."""
    c, _feats = rawxmpp.connect(server, to=domain)
    try:
        return c.iq("set", reg_query(user, password, extra))
    finally:
        c.close()


def can_login(server, user, password):
    c, _ = rawxmpp.connect(server)
    try:
        kind, _data = c.plain(user, password)
        return kind == "success"
    finally:
        c.close()


@pytest.fixture(scope="module", autouse=True)
def open_signup(server):
    server.ctl_ok("domain", "set", "localhost", "auto_signup=yes")
    yield


def test_feature_advertised_only_when_on(server):
    c, feats = rawxmpp.connect(server)
    assert feats.find(q(NS_REG_FEATURE, "register")) is not None
    c.close()
    # Before TLS (required by default) the feature is not offered and the iq is refused.
    c = rawxmpp.RawClient(server.port)
    feats = c.open()
    assert feats.find(q(NS_REG_FEATURE, "register")) is None
    r = c.iq("set", reg_query("notls", "password1"))
    assert stanza_error(r) == ("cancel", "policy-violation")
    c.close()
    server.ctl_ok("domain", "set", "localhost", "auto_signup=no")
    try:
        c, feats = rawxmpp.connect(server)
        assert feats.find(q(NS_REG_FEATURE, "register")) is None
        r = c.iq("get", reg_query())
        assert stanza_error(r) == ("cancel", "service-unavailable")
        r = c.iq("set", reg_query("offuser", "password1"))
        assert stanza_error(r) == ("cancel", "service-unavailable")
        c.close()
    finally:
        server.ctl_ok("domain", "set", "localhost", "auto_signup=yes")


def test_get_form(server):
    c, _ = rawxmpp.connect(server)
    r = c.iq("get", reg_query())
    assert r.get("type") == "result", rawxmpp.dump(r)
    qq = r.find(q(NS_REG, "query"))
    assert qq.find(q(NS_REG, "username")) is not None
    assert qq.find(q(NS_REG, "password")) is not None
    x = qq.find(q(NS_XDATA, "x"))
    vars_ = [f.get("var") for f in x.findall(q(NS_XDATA, "field"))]
    assert "username" in vars_ and "password" in vars_ and "FORM_TYPE" in vars_
    c.close()


def test_register_then_login(server):
    r = register(server, "newbie", "secret123")
    assert r.get("type") == "result", rawxmpp.dump(r)
    assert can_login(server, "newbie", "secret123")
    # The same name again: conflict.
    r = register(server, "Newbie", "secret456")
    assert stanza_error(r) == ("cancel", "conflict")


def test_register_with_data_form(server):
    form = ("<x xmlns='%s' type='submit'>"
            "<field var='FORM_TYPE'><value>%s</value></field>"
            "<field var='username'><value>formuser</value></field>"
            "<field var='password'><value>formpass1</value></field></x>" % (NS_XDATA, NS_REG))
    r = register(server, None, None, extra=form)
    assert r.get("type") == "result", rawxmpp.dump(r)
    assert can_login(server, "formuser", "formpass1")


def test_missing_fields_and_bad_names(server):
    assert stanza_error(register(server, "only", None)) == ("modify", "not-acceptable")
    assert stanza_error(register(server, "bad user", "password1")) == ("modify", "jid-malformed")


def test_password_rules(server):
    assert stanza_error(register(server, "shortpw", "abc")) == ("modify", "not-acceptable")
    assert not can_login(server, "shortpw", "abc")


def test_reserved_names(server):
    for name in ("admin", "Administrator", "postmaster", "abuse", "hostmaster", "info",
                 "webadmin", "mailer-daemon"):
        assert stanza_error(register(server, name, "password1")) == ("cancel", "not-acceptable")
    default = server.ctl_ok("settings", "get", "register.reserved_names").strip()
    server.ctl_ok("settings", "set", "register.reserved_names", "bad*, evil")
    try:
        assert stanza_error(register(server, "badguy", "password1")) == (
            "cancel", "not-acceptable")
        assert stanza_error(register(server, "evil", "password1")) == ("cancel", "not-acceptable")
        assert register(server, "admin2", "password1").get("type") == "result"
    finally:
        server.ctl("settings", "set", "register.reserved_names", default)


def test_lookalike_names_are_refused(server):
    # A Greek omicron in "postmaster", "rn" for "m": they look like reserved names.
    for name in ("p\u03bfstmaster", "adrnin", "r\u043eot"):
        assert stanza_error(register(server, name, "password1")) == ("cancel", "not-acceptable"), name
    # A Cyrillic "а" in an existing account's name: refused as a conflict, and no account made.
    server.add_account("carla@localhost", "password1")
    r = register(server, "\u0441arla", "password1")
    assert stanza_error(r) == ("cancel", "conflict")
    assert "looks like" in (r.findtext(".//{%s}text" % NS_STANZAS) or "")
    assert not can_login(server, "\u0441arla", "password1")
    # A name unlike any other is still taken.
    assert register(server, "carlos", "password1").get("type") == "result"


def login_as(server, user, password):
    return rawxmpp.login(server, user, password)


def test_password_change_allowed_and_refused(server):
    server.add_account("changer@localhost", "oldpass1")
    c = login_as(server, "changer", "oldpass1")
    r = c.iq("set", reg_query("changer", "newpass1"), to="localhost")
    assert stanza_error(r) == ("cancel", "not-allowed")
    server.ctl_ok("domain", "set", "localhost", "allow_modify_password=yes")
    try:
        r = c.iq("set", reg_query("changer", "tiny"), to="localhost")
        assert stanza_error(r) == ("modify", "not-acceptable")
        r = c.iq("set", reg_query("changer", "newpass1"), to="localhost")
        assert r.get("type") == "result", rawxmpp.dump(r)
        assert can_login(server, "changer", "newpass1")
        assert not can_login(server, "changer", "oldpass1")
        # Another account's name: not allowed.
        r = c.iq("set", reg_query("someoneelse", "newpass2"))
        assert stanza_error(r) == ("cancel", "not-allowed")
        # The per-account override wins over the domain.
        server.ctl_ok("account", "set", "changer@localhost", "allow_modify_password=no")
        r = c.iq("set", reg_query("changer", "newpass3"), to="localhost")
        assert stanza_error(r) == ("cancel", "not-allowed")
    finally:
        server.ctl_ok("domain", "set", "localhost", "allow_modify_password=default")
    # Registration info of a logged-in account.
    r = c.iq("get", reg_query())
    assert r.find(q(NS_REG, "query") + "/" + q(NS_REG, "registered")) is not None
    c.close()


def test_cancel_and_tombstone(server):
    server.add_account("leaver@localhost", "leavepass")
    c = login_as(server, "leaver", "leavepass")
    server.ctl_ok("domain", "set", "localhost", "allow_cancel=no")
    r = c.iq("set", reg_query(extra="<remove/>"))
    assert stanza_error(r) == ("cancel", "not-allowed")
    server.ctl_ok("domain", "set", "localhost", "allow_cancel=yes")
    r = c.iq("set", reg_query(extra="<remove/>"))
    assert r.get("type") == "result", rawxmpp.dump(r)
    assert c.stream_error() == "not-authorized"
    # The user did it: the text must not blame an administrator (it once did).
    tail = bytes(c.raw)[-400:].decode()
    assert "cancelled in-band" in tail and "administrator" not in tail, tail
    c.close()
    assert not can_login(server, "leaver", "leavepass")
    # The name rests in a tombstone: it cannot be registered again now.
    r = register(server, "leaver", "password1")
    assert stanza_error(r) == ("cancel", "conflict")


def test_tombstone_expires(make_server):
    srv = make_server({"register.tombstone_time": "1", "register.min_password_length": "6"})
    srv.ctl_ok("domain", "set", "localhost", "auto_signup=yes")
    srv.add_account("gone@localhost", "gonepass")
    c = login_as(srv, "gone", "gonepass")
    assert c.iq("set", reg_query(extra="<remove/>")).get("type") == "result"
    c.close()
    time.sleep(1.5)
    assert register(srv, "gone", "newpass1").get("type") == "result"


def test_rate_limit(make_server):
    srv = make_server({"register.rate_limit": "2", "register.rate_period": "3600",
                       "register.min_password_length": "6"})
    srv.ctl_ok("domain", "set", "localhost", "auto_signup=yes")
    assert register(srv, "r1", "password1").get("type") == "result"
    assert register(srv, "r2", "password1").get("type") == "result"
    r = register(srv, "r3", "password1")
    assert stanza_error(r) == ("wait", "resource-constraint")
    assert not can_login(srv, "r3", "password1")


def test_domain_and_server_rates(make_server):
    # Each registration from its own address: the per-address rate never triggers, the
    # domain's and then the server's do.
    srv = make_server({"register.rate_limit": "1", "register.domain_rate_limit": "3",
                       "register.global_rate_limit": "5", "register.min_password_length": "6"})
    srv.ctl_ok("domain", "set", "localhost", "auto_signup=yes")
    srv.ctl_ok("domain", "add", "other.test")
    srv.ctl_ok("domain", "set", "other.test", "auto_signup=yes")

    def reg_from(i, user, domain="localhost"):
        c = rawxmpp.RawClient(srv.port, source="127.0.0.%d" % (50 + i), sni=domain)
        try:
            c.open(to=domain)
            c.starttls(to=domain)
            return c.iq("set", reg_query(user, "password1"))
        finally:
            c.close()

    for i in range(3):
        assert reg_from(i, "d%d" % i).get("type") == "result"
    r = reg_from(3, "d3")
    assert stanza_error(r) == ("wait", "resource-constraint")
    assert "domain" in r.findtext(".//{%s}text" % NS_STANZAS)
    for i in range(2):
        assert reg_from(10 + i, "e%d" % i, "other.test").get("type") == "result"
    r = reg_from(12, "e2", "other.test")
    assert stanza_error(r) == ("wait", "resource-constraint")
    assert "server" in r.findtext(".//{%s}text" % NS_STANZAS)
    assert srv.wait_log(r"registration of e2@other.test refused: too many registrations on this server")


def test_invitation_token(server):
    server.ctl_ok("domain", "set", "localhost", "signup_invite_only=yes")
    try:
        r = register(server, "invitee", "password1")
        assert stanza_error(r) == ("cancel", "not-allowed")
        out = server.ctl_ok("invite", "localhost")
        token = re.search(r"^token = (\S+)$", out, re.M).group(1)
        assert re.search(r"^uri = xmpp:localhost\?register;preauth=", out, re.M)
        # A wrong token is refused by the XEP-0401 pre-auth step.
        c, _ = rawxmpp.connect(server)
        r = c.iq("set", "<preauth xmlns='urn:xmpp:pars:0' token='nope'/>")
        assert stanza_error(r) == ("cancel", "item-not-found")
        r = c.iq("set", "<preauth xmlns='urn:xmpp:pars:0' token='%s'/>" % token)
        assert r.get("type") == "result", rawxmpp.dump(r)
        r = c.iq("set", reg_query("invitee", "password1"))
        assert r.get("type") == "result", rawxmpp.dump(r)
        c.close()
        # A token is good for one registration only.
        r = register(server, "invitee2", "password1",
                     extra="<x xmlns='%s' type='submit'><field var='token'><value>%s</value>"
                           "</field></x>" % (NS_XDATA, token))
        assert stanza_error(r) == ("cancel", "not-allowed")
        token2 = re.search(r"^token = (\S+)$", server.ctl_ok("invite", "localhost"),
                           re.M).group(1)
        r = register(server, "invitee2", "password1",
                     extra="<x xmlns='%s' type='submit'><field var='token'><value>%s</value>"
                           "</field></x>" % (NS_XDATA, token2))
        assert r.get("type") == "result", rawxmpp.dump(r)
        assert server.ctl("invite", "nosuch.example").returncode == 1
    finally:
        server.ctl_ok("domain", "set", "localhost", "signup_invite_only=no")
