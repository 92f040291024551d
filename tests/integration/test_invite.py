"""test_invite.py: invitations of issue 18: XEP-0401 ad-hoc commands, XEP-0445 pre-authenticated
in-band registration, XEP-0379 pre-authenticated roster subscription (both directions),
starlingctl invite create/list/revoke, expiry, single and multiple use."""

import json
import re
import time
import os
import urllib.parse

import pytest

import rawxmpp
from rawxmpp import NS_CLIENT, q, stanza_error

PW = "Invite-pa55"
NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_DATA = "jabber:x:data"
NS_ROSTER = "jabber:iq:roster"
NS_PARS = "urn:xmpp:pars:0"
SERVER_OPTIONS = {"register.rate_limit": "0", "register.min_password_length": "6"}


@pytest.fixture(scope="module", autouse=True)
def setup(server):
    server.ctl_ok("domain", "set", "localhost", "auto_signup=yes", "signup_invite_only=yes")
    for name in ("ursula", "bert", "root"):
        server.add_account("%s@localhost" % name, PW)
    server.ctl_ok("account", "set", "root@localhost", "admin=yes")


def run_command(c, node):
    r = c.iq("set", "<command xmlns='%s' node='%s' action='execute'/>" % (NS_COMMANDS, node),
             to="localhost")
    return r


def form_values(r):
    out = {}
    for f in r.iter(q(NS_DATA, "field")):
        v = f.find(q(NS_DATA, "value"))
        out[f.get("var")] = v.text if v is not None else None
    return out


def preauth_of(uri):
    return re.search(r"preauth=([^;&]+)", uri).group(1)


def register(server, user, token, via_preauth=True):
    c, _ = rawxmpp.connect(server)
    try:
        if via_preauth:
            r = c.iq("set", "<preauth xmlns='%s' token='%s'/>" % (NS_PARS, token))
            if r.get("type") != "result":
                return r
            extra = ""
        else:
            extra = ("<x xmlns='%s' type='submit'><field var='token'><value>%s</value></field>"
                     "</x>" % (NS_DATA, token))
        return c.iq("set", "<query xmlns='jabber:iq:register'><username>%s</username>"
                    "<password>%s</password>%s</query>" % (user, PW, extra))
    finally:
        c.close()


def roster(c):
    r = c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER)
    return {i.get("jid"): (i.get("subscription"), i.get("ask"))
            for i in r.iter(q(NS_ROSTER, "item"))}


def wait_roster(c, jid, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = roster(c).get(jid)
        if got and got[0] == want:
            return got
        time.sleep(0.1)
    raise AssertionError("roster item %s: %r, wanted subscription %s" % (jid, got, want))


def test_account_invite_by_adhoc_then_registration_links_rosters(server):
    u = rawxmpp.login(server, "ursula", PW, resource="r")
    r = run_command(u, "urn:xmpp:invite#invite")
    assert r.get("type") == "result", rawxmpp.dump(r)
    cmd = r.find(q(NS_COMMANDS, "command"))
    assert cmd.get("status") == "completed"
    vals = form_values(cmd)
    assert vals["uri"].startswith("xmpp:ursula@localhost?roster;preauth=")
    assert vals["uri"].endswith(";ibr=y") and vals["expire"].endswith("Z")
    token = preauth_of(vals["uri"])
    r = register(server, "newbie", token)
    assert r.get("type") == "result", rawxmpp.dump(r)
    # Both subscriptions without a question: the inviter's roster, then the new account's.
    wait_roster(u, "newbie@localhost", "both")
    n = rawxmpp.login(server, "newbie", PW, resource="n")
    assert roster(n).get("ursula@localhost", (None,))[0] == "both"
    # Single use: the same invitation cannot make a second account.
    r = register(server, "newbie2", token)
    assert stanza_error(r) == ("cancel", "item-not-found")
    r = register(server, "newbie2", token, via_preauth=False)
    assert stanza_error(r) == ("cancel", "not-allowed")
    u.close()
    n.close()


def test_preauthenticated_subscription_both_directions(server):
    u = rawxmpp.login(server, "ursula", PW, resource="r2")
    u.send("<presence/>")
    token = preauth_of(form_values(run_command(u, "urn:xmpp:invite#invite"))["uri"])
    b = rawxmpp.login(server, "bert", PW, resource="b")
    b.send("<presence/>")
    b.send("<presence to='ursula@localhost' type='subscribe'><preauth xmlns='%s' token='%s'/>"
           "</presence>" % (NS_PARS, token))
    # ursula's server approves at once and asks for bert's presence in turn.
    got = b.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribe",
                     what="the inviter's subscription request")
    assert got.get("from") == "ursula@localhost"
    wait_roster(b, "ursula@localhost", "to")
    b.send("<presence to='ursula@localhost' type='subscribed'/>")
    wait_roster(u, "bert@localhost", "both")
    # The token was used: a second contact gets an ordinary (pending) request.
    n = rawxmpp.login(server, "newbie", PW, resource="n2")
    n.send("<presence to='ursula@localhost' type='unsubscribe'/>")
    time.sleep(0.3)
    n.send("<presence to='ursula@localhost' type='subscribe'><preauth xmlns='%s' token='%s'/>"
           "</presence>" % (NS_PARS, token))
    req = u.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribe",
                     what="a plain subscription request")
    assert req.get("from") == "newbie@localhost"
    for c in (u, b, n):
        c.close()


def test_wrong_inviter_token_is_not_preauthorisation(server):
    u = rawxmpp.login(server, "ursula", PW, resource="r3")
    token = preauth_of(form_values(run_command(u, "urn:xmpp:invite#invite"))["uri"])
    b = rawxmpp.login(server, "bert", PW, resource="b3")
    root = rawxmpp.login(server, "root", PW, resource="x")
    root.send("<presence/>")
    # ursula's token does not pre-authorise a subscription to root.
    b.send("<presence to='root@localhost' type='subscribe'><preauth xmlns='%s' token='%s'/>"
           "</presence>" % (NS_PARS, token))
    req = root.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and
                        e.get("type") == "subscribe", what="a pending request")
    assert req.get("from") == "bert@localhost"
    assert roster(b).get("root@localhost", (None, None))[0] == "none"
    for c in (u, b, root):
        c.close()


def test_admin_invite_adhoc_and_ctl_multi_use_list_revoke(server):
    root = rawxmpp.login(server, "root", PW, resource="adm")
    vals = form_values(run_command(root, "urn:xmpp:invite#create-account"))
    assert vals["uri"].startswith("xmpp:localhost?register;preauth=")
    assert register(server, "adm1", preauth_of(vals["uri"])).get("type") == "result"
    # Not for ordinary users.
    b = rawxmpp.login(server, "bert", PW, resource="b4")
    r = run_command(b, "urn:xmpp:invite#create-account")
    assert stanza_error(r) == ("cancel", "forbidden")
    b.close()
    root.close()
    out = json.loads(server.ctl_ok("invite", "create", "localhost", "--uses", "2", "--json"))
    token = out["token"]
    assert out["uses"] == 2 and out["uri"] == "xmpp:localhost?register;preauth=" + token
    listed = [json.loads(l) for l in server.ctl_ok("invite", "list", "localhost").splitlines()]
    assert any(i["token"] == token and i["uses"] == 2 for i in listed)
    assert register(server, "multi1", token).get("type") == "result"
    assert register(server, "multi2", token).get("type") == "result"
    assert stanza_error(register(server, "multi3", token)) == ("cancel", "item-not-found")
    out = json.loads(server.ctl_ok("invite", "create", "localhost", "--inviter",
                                   "bert@localhost", "--json"))
    assert out["uri"].startswith("xmpp:bert@localhost?roster;preauth=")
    server.ctl_ok("invite", "revoke", "localhost", out["token"])
    assert stanza_error(register(server, "revoked1", out["token"])) == ("cancel",
                                                                         "item-not-found")
    assert server.ctl("invite", "revoke", "localhost", out["token"]).returncode != 0


def test_expired_invitation_is_refused(server):
    out = json.loads(server.ctl_ok("invite", "create", "localhost", "--json"))
    # Let the invitation's time pass (the store keeps Unix seconds).
    server.db_rows("UPDATE register_invites SET expires = 1 WHERE token = ?", (out["token"],))
    assert stanza_error(register(server, "late1", out["token"])) == ("cancel", "item-not-found")
    assert stanza_error(register(server, "late1", out["token"], via_preauth=False)) == (
        "cancel", "not-allowed")


def test_landing_page_served_by_the_http_listener(make_server):
    """The page is on the user-facing listener (http.listener), where the people invited can
    reach it; the WebAdmin (often loopback-only) does not serve it."""
    import http.client
    srv = make_server({}, webadmin=True, http=True)
    srv.add_account("inez@localhost", PW)
    out = json.loads(srv.ctl_ok("invite", "create", "localhost", "--inviter", "inez@localhost",
                                "--json"))

    def get(path, port=srv.http_port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode()
        conn.close()
        return r.status, r.getheader("Content-Type"), body

    status, ctype, body = get("/invite/" + out["token"])
    assert status == 200 and ctype.startswith("text/html")
    assert "inez@localhost invites you" in body and "<script" not in body
    assert get("/invite/" + out["token"], port=srv.web_port)[0] == 404
    assert 'href="xmpp:inez@localhost?roster;preauth=%s;ibr=y"' % out["token"] in body
    for client in ("Conversations", "Monal", "Dino", "Gajim", "Siskin"):
        assert client in body
    status, _, body = get("/invite/nope-not-a-token")
    assert status == 404 and "not valid" in body
    status, _, _ = get("/invite/<script>")
    assert status == 404
    srv.ctl_ok("invite", "revoke", "localhost", out["token"])
    assert get("/invite/" + out["token"])[0] == 404


def test_invitations_go_with_the_inviter(server):
    server.add_account("leaver@localhost", PW)
    out = json.loads(server.ctl_ok("invite", "create", "localhost", "--inviter",
                                   "leaver@localhost", "--json"))
    assert out["token"] in server.ctl_ok("invite", "list", "localhost")
    server.ctl_ok("account", "remove", "leaver@localhost")
    assert out["token"] not in server.ctl_ok("invite", "list", "localhost")
    assert stanza_error(register(server, "orphan1", out["token"])) == ("cancel", "item-not-found")
