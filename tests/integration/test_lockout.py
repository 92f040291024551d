"""test_lockout.py: per-account failed-login counting and lock-out (auth.lock_*) for XMPP SASL,
legacy authentication and the WebAdmin, across addresses and accounts (issue 12)."""

import http.client
import time

import pytest

import rawxmpp
from conftest import _finish, _start
from rawxmpp import NS_IQAUTH
from test_admin_access import Ctl
from test_webadmin_api import Web

PW = "Lockout-secret-1"
LOCK_TIME = 3


@pytest.fixture(scope="module")
def srv():
    s = _start({"auth.lock_after": "3", "auth.lock_time": str(LOCK_TIME), "auth.lock_max": "60",
                "server.log_level": "All Info"}, webadmin=True)
    for name in ("victim", "mallory", "legacy-victim", "webvictim", "webhelper"):
        s.add_account(name + "@localhost", PW)
    s.ctl_ok("account", "set", "webvictim@localhost", "admin=yes")
    s.ctl_ok("account", "set", "webhelper@localhost", "admin=yes")
    yield s
    _finish(s)


def plain(srv, user, password):
    c, _ = rawxmpp.connect(srv)
    try:
        return c.plain(user, password)
    finally:
        c.close()


def failed_logins(srv):
    ctl = Ctl(srv)
    try:
        return {x["jid"]: x for x in ctl.ok("logins.failed")}
    finally:
        ctl.close()


def test_xmpp_alternating_with_own_account_does_not_reset(srv):
    # The attacker alternates guesses for the victim with logins of its own account, which
    # reset the per-address back-off: the victim's failures still add up.
    for i in range(3):
        assert plain(srv, "victim", "guess%d" % i) == ("failure", "not-authorized")
        assert plain(srv, "mallory", PW) == ("success", b"")
    # Locked: the right password and a wrong one get the same answer.
    assert plain(srv, "victim", PW) == ("failure", "temporary-auth-failure")
    assert plain(srv, "victim", "guess9") == ("failure", "temporary-auth-failure")
    assert plain(srv, "mallory", PW) == ("success", b"")
    entry = failed_logins(srv)["victim@localhost"]
    assert entry["failures"] == 3 and 0 < entry["locked"] <= LOCK_TIME, entry
    assert srv.wait_log(r"account victim .*locked for %d s" % LOCK_TIME)
    # Refusals while locked were not counted; once the lock is over the password works and
    # the account's own success forgets its failures.
    time.sleep(LOCK_TIME + 0.5)
    assert plain(srv, "victim", PW) == ("success", b"")
    assert "victim@localhost" not in failed_logins(srv)


def test_scram_failures_count_too(srv):
    for i in range(3):
        c, _ = rawxmpp.connect(srv)
        kind, cond = c.scram("SCRAM-SHA-256", "victim", "wrong%d" % i)
        c.close()
        assert (kind, cond) == ("failure", "not-authorized"), (i, kind, cond)
    c, _ = rawxmpp.connect(srv)
    assert c.scram("SCRAM-SHA-256", "victim", PW) == ("failure", "temporary-auth-failure")
    c.close()
    time.sleep(LOCK_TIME + 0.5)
    assert plain(srv, "victim", PW) == ("success", b"")


def legacy(srv, user, password):
    c, _ = rawxmpp.connect(srv)
    try:
        r = c.iq("set", "<query xmlns='%s'><username>%s</username><password>%s</password>"
                 "<resource>r</resource></query>" % (NS_IQAUTH, user, password), to="localhost")
        if r.get("type") == "result":
            return "ok"
        err = r.find("{jabber:client}error")
        return rawxmpp.local(list(err)[0].tag)
    finally:
        c.close()


def test_legacy_auth_counts_and_is_locked(srv):
    for i in range(3):
        assert legacy(srv, "legacy-victim", "bad%d" % i) == "not-authorized"
    assert legacy(srv, "legacy-victim", PW) == "policy-violation"
    # SASL and legacy share the account's count.
    assert plain(srv, "legacy-victim", PW) == ("failure", "temporary-auth-failure")
    time.sleep(LOCK_TIME + 0.5)
    assert legacy(srv, "legacy-victim", PW) == "ok"


class WebFrom(Web):
    """A WebAdmin client whose connections come from one loopback address."""

    def __init__(self, port, source):
        super().__init__(port)
        self.source = source

    def _conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                          source_address=(self.source, 0))


def test_webadmin_guesses_from_many_addresses_lock_the_account(srv):
    # One guess from each of several addresses: no address reaches its own limit (5), but the
    # account does (3). A success of another account from the same addresses changes nothing.
    for i in range(3):
        w = WebFrom(srv.web_port, "127.0.0.%d" % (10 + i))
        assert w.login("webvictim", "guess%d" % i)[0] == 401
        assert WebFrom(srv.web_port, "127.0.0.%d" % (10 + i)).login("webhelper", PW)[0] == 200
    status, body = WebFrom(srv.web_port, "127.0.0.30").login("webvictim", PW)
    assert status == 429 and body["code"] == "limit", body
    assert "account" in body["error"]
    assert srv.wait_log(r"WebAdmin login refused for webvictim: the account is locked")
    # The lock is the account's, whatever the door: XMPP is refused too.
    assert plain(srv, "webvictim", PW) == ("failure", "temporary-auth-failure")
    # The monitor shows it, over HTTP as well.
    admin = WebFrom(srv.web_port, "127.0.0.31")
    assert admin.login("webhelper", PW)[0] == 200
    locked = {x["jid"]: x for x in admin.ok("logins.failed")}
    assert locked["webvictim@localhost"]["locked"] > 0, locked
    time.sleep(LOCK_TIME + 0.5)
    assert WebFrom(srv.web_port, "127.0.0.32").login("webvictim", PW)[0] == 200
    assert "webvictim@localhost" not in failed_logins(srv)
