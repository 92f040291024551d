"""test_login_cache.py: a login reads nothing from the store when it can avoid it. Each thread
keeps the account records it has used (credentials, flags, existence), so every change must
reach the next login on every worker: a password changed with starlingctl, the WebAdmin API or
XEP-0077, an account disabled, removed or made again. The home worker knows which stores of an
account are empty, so what is stored after such a reading (offline messages, subscription
requests, roster items) must still be delivered; and it writes the last-seen records of the IM
core and of XEP-0012 behind, in batches, so both must be right at once and land together."""

import time

import pytest

import rawxmpp
from imclient import PASSWORD, fresh, is_message, is_presence, login, settle, item_state, befriend
from rawxmpp import NS_CLIENT, dump, q

# With 2 workers a connection lands on either (SO_REUSEPORT): this many logins make both
# workers read the account into their caches (a miss in both has odds of 2 in 2**8).
WARM = 8
J = "%s@localhost"
NS_LAST = "jabber:iq:last"
NS_REGISTER = "jabber:iq:register"


def attempt(server, user, password, mech):
    """One login (TLS + SASL); the outcome: "success" or the failure condition."""
    c, _ = rawxmpp.connect(server)
    try:
        if mech == "PLAIN":
            kind, data = c.plain(user, password)
        else:
            kind, data = c.scram(mech, user, password)
        if kind == "success":
            return "success"
        return data
    finally:
        c.close()


def outcomes(server, user, password, n=WARM):
    """The outcomes of n logins, alternating SCRAM-SHA-1 and PLAIN (checked against the keys)."""
    return {attempt(server, user, password, "SCRAM-SHA-1" if i % 2 == 0 else "PLAIN")
            for i in range(n)}


def assert_password(server, user, good, bad):
    assert outcomes(server, user, good) == {"success"}
    assert "success" not in outcomes(server, user, bad), "old password still accepted"


@pytest.mark.parametrize("workers", [1, 2])
def test_password_change_by_ctl_takes_effect_at_next_login(make_server, workers):
    srv = make_server({"server.workers": str(workers)})
    srv.add_account("pat@localhost", "Old-pass-1")
    assert outcomes(srv, "pat", "Old-pass-1") == {"success"}
    srv.ctl_ok("account", "passwd", "pat@localhost", "New-pass-2")
    assert_password(srv, "pat", "New-pass-2", "Old-pass-1")
    srv.ctl_ok("account", "set", "pat@localhost", "password=Third-pass-3")
    assert_password(srv, "pat", "Third-pass-3", "New-pass-2")


def test_each_account_its_own_record(make_server):
    """Many accounts through the same caches: none is answered with another's keys."""
    srv = make_server()
    names = ["acc%d" % i for i in range(12)]  # acc1, acc10, acc11: prefixes of each other
    for n in names:
        srv.add_account(J % n, "Pw-of-" + n)
    for n in names:
        assert outcomes(srv, n, "Pw-of-" + n, 4) == {"success"}
    for i, n in enumerate(names):
        other = names[(i + 1) % len(names)]
        assert outcomes(srv, n, "Pw-of-" + other, 4) == {"not-authorized"}


def test_disabled_removed_and_recreated_account(make_server):
    srv = make_server()
    srv.add_account("dan@localhost", "Dan-pass-1")
    assert outcomes(srv, "dan", "Dan-pass-1") == {"success"}
    srv.ctl_ok("account", "set", "dan@localhost", "disabled=yes")
    assert outcomes(srv, "dan", "Dan-pass-1") == {"account-disabled"}
    srv.ctl_ok("account", "set", "dan@localhost", "disabled=no")
    assert outcomes(srv, "dan", "Dan-pass-1") == {"success"}
    srv.ctl_ok("account", "remove", "dan@localhost")
    assert outcomes(srv, "dan", "Dan-pass-1") == {"not-authorized"}
    # The same name made again: its own password, none of the old one's.
    srv.add_account("dan@localhost", "Dan-pass-2")
    assert_password(srv, "dan", "Dan-pass-2", "Dan-pass-1")


def test_secure_method_required_reaches_cached_account(make_server):
    """The account flags are cached with the keys: a changed flag is seen at once."""
    srv = make_server({"xmpp.receiving.require_tls": "no"})
    srv.add_account("sam@localhost", "Sam-pass-1")

    def plain_without_tls():
        c = rawxmpp.RawClient(srv.port)
        try:
            c.open()
            kind, data = c.plain("sam", "Sam-pass-1")
            return "success" if kind == "success" else data
        finally:
            c.close()

    assert {plain_without_tls() for _ in range(WARM)} == {"success"}
    srv.ctl_ok("account", "set", "sam@localhost", "secure_method_required=yes")
    assert {plain_without_tls() for _ in range(WARM)} == {"encryption-required"}
    assert outcomes(srv, "sam", "Sam-pass-1") == {"success"}


def test_password_change_by_xep0077_and_webadmin(make_server):
    from test_webadmin_api import Web
    srv = make_server(webadmin=True)
    srv.ctl_ok("domain", "set", "localhost", "allow_modify_password=yes")
    srv.add_account("reg@localhost", "Reg-pass-1")
    assert outcomes(srv, "reg", "Reg-pass-1") == {"success"}
    # XEP-0077 §3.3, by the user on its own stream (on the account's home worker).
    c = rawxmpp.login(srv, "reg", "Reg-pass-1")
    r = c.iq("set", "<query xmlns='%s'><username>reg</username><password>Reg-pass-2</password>"
             "</query>" % NS_REGISTER, to="localhost")
    assert r.get("type") == "result", dump(r)
    c.close()
    assert_password(srv, "reg", "Reg-pass-2", "Reg-pass-1")
    # The WebAdmin API (its own thread, its own store handle).
    w = Web(srv.web_port)
    status, body = w.login("postmaster", srv.postmaster_password)
    assert status == 200, body
    w.ok("account.passwd", {"jid": "reg@localhost", "password": "Reg-pass-3"})
    assert_password(srv, "reg", "Reg-pass-3", "Reg-pass-2")
    w.ok("account.remove", {"jid": "reg@localhost"})
    assert outcomes(srv, "reg", "Reg-pass-3") == {"not-authorized"}


# ---- the home worker's empty-store hints --------------------------------------------------

def login_out(server, name, times=2):
    """Logins with initial presence and logouts: the home worker reads the stores, finds them
    empty and remembers it."""
    for _ in range(times):
        c = login(server, name, "hint", presence="")
        c.close()
    time.sleep(0.2)


def test_offline_message_after_an_empty_reading(server):
    u, s = fresh(server, "ou"), fresh(server, "os")
    login_out(server, u)
    sender = login(server, s)
    sender.send("<message to='%s' type='chat'><body>while you were out</body></message>" % (J % u))
    time.sleep(0.3)
    c = login(server, u, "back", presence="")
    c.wait_for(lambda e: is_message(e, body="while you were out"), what="offline message")
    c.close()
    # Delivered once; a later one arrives too.
    login_out(server, u, 1)
    sender.send("<message to='%s' type='chat'><body>and again</body></message>" % (J % u))
    time.sleep(0.3)
    c = login(server, u, "back", presence="")
    el = c.wait_for(lambda e: is_message(e), what="second offline message")
    assert is_message(el, body="and again"), dump(el)
    c.close()
    sender.close()


def test_subscription_request_after_an_empty_reading(server):
    u, s = fresh(server, "pu"), fresh(server, "ps")
    login_out(server, u)
    sender = login(server, s)
    sender.send("<presence to='%s' type='subscribe'/>" % (J % u))
    time.sleep(0.3)
    c = login(server, u, "back", presence="")
    c.wait_for(lambda e: is_presence(e, frm=J % s, type_="subscribe"), what="pending request")
    c.close()
    sender.close()


def test_roster_items_after_an_empty_reading(server):
    """Contacts added after the roster was found empty get the presence at logout and at the
    next login, and are probed."""
    u, v = fresh(server, "ru"), fresh(server, "rv")
    login_out(server, u)
    a = login(server, u, "desk", roster=True, presence="")
    b = login(server, v, "desk", roster=True, presence="")
    for x, y in ((a, v), (b, u)):
        x.send("<presence to='%s' type='subscribe'/>" % (J % y))
    settle(a, b, timeout=0.3)
    for x, y in ((a, v), (b, u)):
        x.send("<presence to='%s' type='subscribed'/>" % (J % y))
    settle(a, b, timeout=0.3)
    assert item_state(a, J % v) == ("both", None)
    a.close()
    b.wait_for(lambda e: is_presence(e, frm=a.jid, type_="unavailable"), what="unavailable")
    a = login(server, u, "desk")
    a.send("<presence><status>hello</status></presence>")
    b.wait_for(lambda e: is_presence(e, frm=a.jid, type_=None), what="presence at login")
    a.wait_for(lambda e: is_presence(e, frm=b.jid, type_=None), what="probe answer")
    a.close()
    b.close()


# ---- last seen: one batched write for the IM core and XEP-0012 ------------------------------

def last_rows(server, user):
    seen = (server.db_rows("SELECT stamp, status FROM im_last WHERE domain = 'localhost'"
                           " AND name = ?", (user,)) or [None])[0]
    logout = (server.db_rows("SELECT logout FROM last_activity WHERE domain = 'localhost'"
                             " AND name = ?", (user,)) or [None])[0]
    return seen, (logout[0] if logout else None)


def test_last_seen_told_at_once_and_written_together(server):
    a_name, b_name = fresh(server, "la"), fresh(server, "lb")
    befriend(server, a_name, b_name)
    a = login(server, a_name, "watch", presence="")
    b = login(server, b_name, "gone", presence="<status>out for lunch</status>")
    b.send("<presence type='unavailable'><status>out for lunch</status></presence>")
    a.wait_for(lambda e: is_presence(e, frm=b.jid, type_="unavailable"), what="unavailable")
    b.close()
    time.sleep(0.05)
    # Asked before the records reach the store: XEP-0012 and a probe already know.
    r = a.iq("get", "<query xmlns='%s'/>" % NS_LAST, to=J % b_name)
    assert r.get("type") == "result", dump(r)
    query = r.find(q(NS_LAST, "query"))
    assert 0 <= int(query.get("seconds")) < 5 and query.text == "out for lunch", dump(r)
    a.send("<presence to='%s' type='probe'/>" % (J % b_name))
    p = a.wait_for(lambda e: is_presence(e, frm=J % b_name, type_="unavailable"), what="probe")
    assert p.findtext(q(NS_CLIENT, "status")) == "out for lunch", dump(p)
    assert p.find(q("urn:xmpp:delay", "delay")) is not None, dump(p)
    a.close()
    # A session that ends without saying goodbye: both records carry the same moment.
    c = login(server, b_name, "again", presence="<status>bye</status>")
    c.close()
    deadline = time.monotonic() + 5
    seen, logout = last_rows(server, b_name)
    while (seen is None or seen[1] != "" or logout is None) and time.monotonic() < deadline:
        time.sleep(0.1)
        seen, logout = last_rows(server, b_name)
    assert seen is not None and logout is not None, (seen, logout)
    assert seen[0] == logout and abs(logout - time.time()) < 10, (seen, logout)


def test_last_seen_not_written_to_a_remade_account(server):
    """A record noted before the account was removed does not reach an account of the same name
    made afterwards."""
    name = fresh(server, "lr")
    c = login(server, name, "r", presence="<status>old life</status>")
    c.close()
    time.sleep(0.05)
    # Within the batching delay: the records are still pending when the name is made again.
    server.ctl_ok("account", "remove", J % name)
    server.add_account(J % name, PASSWORD)
    time.sleep(1.0)
    seen, logout = last_rows(server, name)
    assert seen is None and logout is None, (seen, logout)
