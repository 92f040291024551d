"""test_store_faults.py: issue 12, "store first, answer after". The server runs with the store's
fault hook (STARLING_STORE_FAIL=@FILE, docs/internals/store.md): writing a spec into FILE makes
chosen writes fail as a full disk (error=full) or a generic database error. Every write path must
then answer the error (resource-constraint or internal-server-error, type wait), push and send
nothing, change nothing (also after a restart), and write a Failures-level (1) log record."""

import contextlib
import json
import os
import re
import shutil
import tempfile

import pytest

import rawxmpp
from rawxmpp import NS_CLIENT, q, dump, stanza_error
from starling import Server, StartError
from imclient import (NS_BLOCKING, NS_ROSTER, fresh, login, is_push, is_presence, is_message,
                      nothing, settle, roster, item_state, push_item, PASSWORD,
                      subscribe_clients)
import muchelp
from test_register import can_login

# The fault hook sits in the store's front (docs/internals/store.md), before either backend: these
# tests run on PostgreSQL too.

FULL = ("wait", "resource-constraint")
GENERIC = ("wait", "internal-server-error")
NS_VCARD = "vcard-temp"
NS_PRIVATE = "jabber:iq:private"
NS_REG = "jabber:iq:register"
J = "%s@localhost"


def _start(srv):
    """Starts (or restarts) srv with the fault hook reading srv.fault_path."""
    old = os.environ.get("STARLING_STORE_FAIL")
    os.environ["STARLING_STORE_FAIL"] = "@" + srv.fault_path
    try:
        srv.start()
    finally:
        if old is None:
            del os.environ["STARLING_STORE_FAIL"]
        else:
            os.environ["STARLING_STORE_FAIL"] = old
    srv.stopped = False


@pytest.fixture(scope="module")
def fsrv():
    spec_dir = tempfile.mkdtemp(prefix="starling-fault-")
    srv = Server({"register.rate_limit": "0", "register.min_password_length": "6"})
    srv.fault_path = os.path.join(spec_dir, "spec")
    try:
        _start(srv)
    except StartError as e:
        srv.cleanup()
        shutil.rmtree(spec_dir, ignore_errors=True)
        pytest.fail(str(e), pytrace=False)
    for setting in ("allow_modify_password=yes", "allow_cancel=yes", "auto_signup=yes"):
        srv.ctl_ok("domain", "set", "localhost", setting)
    yield srv
    try:
        problems = srv.stop()
    finally:
        srv.cleanup()
        shutil.rmtree(spec_dir, ignore_errors=True)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def arm(srv, spec):
    tmp = srv.fault_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(spec)
    os.replace(tmp, srv.fault_path)


def disarm(srv):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(srv.fault_path)


@contextlib.contextmanager
def faulty(srv, spec):
    arm(srv, spec)
    try:
        yield
    finally:
        disarm(srv)


def failures_logged(srv, text):
    """A Failures-level (1) record containing text."""
    return srv.wait_log(r"^\S+ 1 \S+ .*" + re.escape(text), timeout=3.0) is not None


def restart(srv):
    assert srv.stop() == []
    _start(srv)


# ---- rosters -------------------------------------------------------------------------------


def roster_set(c, jid, name=None, remove=False):
    attrs = " subscription='remove'" if remove else (" name='%s'" % name if name else "")
    return c.iq("set", "<query xmlns='%s'><item jid='%s'%s/></query>" % (NS_ROSTER, jid, attrs))


@pytest.mark.parametrize("kind,expected", [("full", FULL), ("generic", GENERIC)])
def test_roster_set_not_stored(fsrv, kind, expected):
    u = fresh(fsrv, "rs")
    a1 = login(fsrv, u, "one", roster=True)
    a2 = login(fsrv, u, "two", roster=True)
    try:
        r = roster_set(a1, "kept@example.net", "Kept")
        assert r.get("type") == "result", dump(r)
        push_item(a2, "kept@example.net")
        with faulty(fsrv, "table=im_roster*,error=%s" % kind):
            r = roster_set(a1, "new@example.net", "New")
            assert stanza_error(r) == expected, dump(r)
            # A change to an existing item fails alike.
            r = roster_set(a1, "kept@example.net", "Renamed")
            assert stanza_error(r) == expected, dump(r)
        nothing(a2, is_push)
        items, _ = roster(a1)
        assert sorted(items) == ["kept@example.net"]
        assert items["kept@example.net"][2] == "Kept"
        assert failures_logged(fsrv, "roster item not stored")
    finally:
        a1.close()
        a2.close()


def test_roster_remove_not_stored(fsrv):
    a = login(fsrv, fresh(fsrv, "rra"), "r", roster=True, presence="")
    b = login(fsrv, fresh(fsrv, "rrb"), "r", roster=True, presence="")
    a2 = login(fsrv, a.user, "two", roster=True)
    try:
        subscribe_clients(a, b)
        settle(a, b, a2)
        with faulty(fsrv, "table=im_roster*,error=full"):
            r = roster_set(a, b.bare, remove=True)
            assert stanza_error(r) == FULL, dump(r)
        # Nothing happened: no push, the contact was not unsubscribed.
        nothing(a2, is_push)
        nothing(b, lambda e: is_presence(e, frm=a.bare) and e.get("type") in
                ("unsubscribe", "unsubscribed", "unavailable"))
        assert item_state(a, b.bare) == ("both", None)
        assert item_state(b, a.bare) == ("both", None)
        assert failures_logged(fsrv, "roster removal not stored")
    finally:
        for c in (a, b, a2):
            c.close()


# ---- subscriptions -------------------------------------------------------------------------


def test_outbound_subscription_not_stored(fsrv):
    a = login(fsrv, fresh(fsrv, "soa"), "r", roster=True, presence="")
    b = login(fsrv, fresh(fsrv, "sob"), "r", roster=True, presence="")
    try:
        with faulty(fsrv, "table=im_roster*,error=full"):
            a.send("<presence to='%s' type='subscribe' id='s1'/>" % b.bare)
            err = a.wait_for(lambda e: is_presence(e, type_="error"), what="presence error")
            assert stanza_error(err) == FULL, dump(err)
            assert err.get("id") == "s1"
        nothing(b, lambda e: is_presence(e, type_="subscribe"))
        nothing(a, is_push)
        assert item_state(a, b.bare) == ("none", None)
        assert roster(a)[0] == {}
        assert failures_logged(fsrv, "subscription state not stored")
    finally:
        a.close()
        b.close()


def test_inbound_subscription_not_stored(fsrv):
    a = login(fsrv, fresh(fsrv, "sia"), "r", roster=True, presence="")
    b_name = fresh(fsrv, "sib")
    b = login(fsrv, b_name, "r", roster=True, presence="")
    try:
        # a's side is stored (ask=subscribe); b's pending request is not: a gets the error back,
        # b sees nothing, and b's later sessions get no request.
        with faulty(fsrv, "table=im_pending,error=generic"):
            a.send("<presence to='%s' type='subscribe'/>" % b.bare)
            err = a.wait_for(lambda e: is_presence(e, type_="error"), what="presence error")
            assert stanza_error(err) == GENERIC, dump(err)
        nothing(b, lambda e: is_presence(e, type_="subscribe"))
        b.close()
        b = login(fsrv, b_name, "again", presence="")
        nothing(b, lambda e: is_presence(e, type_="subscribe"))
        assert roster(b)[0] == {}
    finally:
        a.close()
        b.close()


# ---- blocking ------------------------------------------------------------------------------


def blocklist(c):
    r = c.iq("get", "<blocklist xmlns='%s'/>" % NS_BLOCKING)
    assert r.get("type") == "result", dump(r)
    return sorted(i.get("jid") for i in r.find(q(NS_BLOCKING, "blocklist")))


def is_block_push(el):
    return el.tag == q(NS_CLIENT, "iq") and el.get("type") == "set" and (
        el.find(q(NS_BLOCKING, "block")) is not None or
        el.find(q(NS_BLOCKING, "unblock")) is not None)


def test_block_and_unblock_not_stored(fsrv):
    u = fresh(fsrv, "bl")
    a1 = login(fsrv, u, "one")
    a2 = login(fsrv, u, "two")
    other = login(fsrv, fresh(fsrv, "blo"), "r")
    try:
        assert blocklist(a1) == [] and blocklist(a2) == []
        r = a1.iq("set", "<block xmlns='%s'><item jid='old@example.net'/></block>" % NS_BLOCKING)
        assert r.get("type") == "result"
        a2.wait_for(is_block_push, what="block push")
        with faulty(fsrv, "table=im_blocklist,error=full"):
            # Several items: all or nothing.
            r = a1.iq("set", "<block xmlns='%s'><item jid='x@example.net'/><item jid='%s'/>"
                             "</block>" % (NS_BLOCKING, other.bare))
            assert stanza_error(r) == FULL, dump(r)
            r = a1.iq("set", "<unblock xmlns='%s'><item jid='old@example.net'/></unblock>"
                      % NS_BLOCKING)
            assert stanza_error(r) == FULL, dump(r)
            r = a1.iq("set", "<unblock xmlns='%s'/>" % NS_BLOCKING)
            assert stanza_error(r) == FULL, dump(r)
        nothing(a2, is_block_push)
        assert blocklist(a1) == ["old@example.net"]
        # The block that was refused has no effect: other's message gets through.
        other.send("<message to='%s' type='chat'><body>still here</body></message>" % a1.jid)
        a1.wait_for(lambda e: is_message(e, body="still here"), what="message")
        assert failures_logged(fsrv, "block not stored")
        assert failures_logged(fsrv, "unblock not stored")
    finally:
        for c in (a1, a2, other):
            c.close()


# ---- offline storage -----------------------------------------------------------------------


@pytest.mark.parametrize("kind,expected", [("full", FULL), ("generic", GENERIC)])
def test_offline_message_not_stored(fsrv, kind, expected):
    a = login(fsrv, fresh(fsrv, "ofa"), "r")
    b_name = fresh(fsrv, "ofb")
    try:
        with faulty(fsrv, "table=im_offline,error=%s" % kind):
            a.send("<message to='%s' type='chat' id='m1'><body>lost?</body></message>" % J % b_name)
            err = a.wait_for(lambda e: e.tag == q(NS_CLIENT, "message")
                             and e.get("type") == "error", what="message error")
            # Not service-unavailable: the sender may try again later.
            assert stanza_error(err) == expected, dump(err)
        a.send("<message to='%s' type='chat' id='m2'><body>kept</body></message>" % J % b_name)
        nothing(a, lambda e: e.get("type") == "error")
        b = login(fsrv, b_name, "r", presence="")
        try:
            m = b.wait_for(lambda e: is_message(e), what="offline message")
            assert m.findtext(q(NS_CLIENT, "body")) == "kept"
            nothing(b, is_message)
        finally:
            b.close()
        assert failures_logged(fsrv, "offline message for %s@localhost" % b_name)
    finally:
        a.close()


def test_offline_message_not_removed_is_delivered_again(fsrv):
    a = login(fsrv, fresh(fsrv, "ora"), "r")
    b_name = fresh(fsrv, "orb")
    try:
        a.send("<message to='%s' type='chat'><body>twice</body></message>" % J % b_name)
        nothing(a, lambda e: e.get("type") == "error")
        # Delivered, but its removal fails: it is kept (logged) and comes again, never lost.
        with faulty(fsrv, "table=im_offline,error=generic"):
            b = login(fsrv, b_name, "one", presence="")
            b.wait_for(lambda e: is_message(e, body="twice"), what="offline message")
            b.close()
            assert failures_logged(fsrv, "not removed (delivered again later)")
        b = login(fsrv, b_name, "two", presence="")
        b.wait_for(lambda e: is_message(e, body="twice"), what="offline message again")
        b.close()
        b = login(fsrv, b_name, "three", presence="")
        nothing(b, is_message)
        b.close()
    finally:
        a.close()


# ---- vCard and private XML -----------------------------------------------------------------


def vcard_fn(c):
    r = c.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD)
    assert r.get("type") == "result", dump(r)
    return r.findtext(q(NS_VCARD, "vCard") + "/" + q(NS_VCARD, "FN"))


def test_vcard_not_stored(fsrv):
    c = login(fsrv, fresh(fsrv, "vc"), "r")
    try:
        r = c.iq("set", "<vCard xmlns='%s'><FN>Old Name</FN></vCard>" % NS_VCARD)
        assert r.get("type") == "result", dump(r)
        with faulty(fsrv, "table=vcards,error=full"):
            r = c.iq("set", "<vCard xmlns='%s'><FN>New Name</FN></vCard>" % NS_VCARD)
            assert stanza_error(r) == FULL, dump(r)
        assert vcard_fn(c) == "Old Name"
        assert failures_logged(fsrv, "vCard not stored")
    finally:
        c.close()


def private_get(c, ns, name):
    r = c.iq("get", "<query xmlns='%s'><%s xmlns='%s'/></query>" % (NS_PRIVATE, name, ns))
    assert r.get("type") == "result", dump(r)
    el = r.find(q(NS_PRIVATE, "query") + "/" + q(ns, name))
    return el.findtext(q(ns, "v"))


def test_private_xml_all_or_nothing(fsrv):
    c = login(fsrv, fresh(fsrv, "px"), "r")
    try:
        # Two elements in one set: the second write fails, so neither is kept.
        with faulty(fsrv, "table=private_xml,nth=2,error=generic"):
            r = c.iq("set", "<query xmlns='%s'><a xmlns='urn:t:a'><v>1</v></a>"
                            "<b xmlns='urn:t:b'><v>2</v></b></query>" % NS_PRIVATE)
            assert stanza_error(r) == GENERIC, dump(r)
        assert private_get(c, "urn:t:a", "a") is None
        assert private_get(c, "urn:t:b", "b") is None
        assert failures_logged(fsrv, "private XML not stored")
    finally:
        c.close()


# ---- registration (XEP-0077) ---------------------------------------------------------------


def test_password_change_and_cancel_not_stored(fsrv):
    name = fresh(fsrv, "pw")
    c = rawxmpp.login(fsrv, name, PASSWORD)
    try:
        with faulty(fsrv, "table=accounts,error=full"):
            r = c.iq("set", "<query xmlns='%s'><username>%s</username><password>newpass1"
                            "</password></query>" % (NS_REG, name), to="localhost")
            assert stanza_error(r) == FULL, dump(r)
            r = c.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REG)
            assert stanza_error(r) == FULL, dump(r)
        # The account and its tombstone go together: a failed tombstone keeps the account.
        with faulty(fsrv, "table=register_tombstones,error=generic"):
            r = c.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REG)
            assert stanza_error(r) == GENERIC, dump(r)
        assert can_login(fsrv, name, PASSWORD)
        assert not can_login(fsrv, name, "newpass1")
        assert failures_logged(fsrv, "password change failed")
        assert failures_logged(fsrv, "account removal failed")
    finally:
        c.close()


def test_inband_registration_not_stored(fsrv):
    c, _feats = rawxmpp.connect(fsrv)
    try:
        with faulty(fsrv, "table=accounts,error=full"):
            r = c.iq("set", "<query xmlns='%s'><username>ibr1</username><password>password1"
                            "</password></query>" % NS_REG)
            assert stanza_error(r) == FULL, dump(r)
    finally:
        c.close()
    assert not can_login(fsrv, "ibr1", "password1")
    assert fsrv.ctl("account", "show", "ibr1@localhost").returncode != 0


def test_invitation_kept_when_account_not_stored(fsrv):
    fsrv.ctl_ok("domain", "set", "localhost", "signup_invite_only=yes")
    try:
        token = re.search(r"^token = (\S+)$", fsrv.ctl_ok("invite", "localhost"),
                          re.M).group(1)
        form = ("<x xmlns='jabber:x:data' type='submit'><field var='token'><value>%s</value>"
                "</field></x>" % token)
        query = ("<query xmlns='%s'><username>%%s</username><password>password1</password>%s"
                 "</query>" % (NS_REG, form))
        c, _feats = rawxmpp.connect(fsrv)
        with faulty(fsrv, "table=accounts,error=generic"):
            r = c.iq("set", query % "inv1")
            assert stanza_error(r) == GENERIC, dump(r)
        c.close()
        # The token was not used up by the registration that failed.
        c, _feats = rawxmpp.connect(fsrv)
        r = c.iq("set", query % "inv1")
        assert r.get("type") == "result", dump(r)
        c.close()
        assert can_login(fsrv, "inv1", "password1")
    finally:
        fsrv.ctl_ok("domain", "set", "localhost", "signup_invite_only=no")


def test_adhoc_account_commands_not_stored(fsrv):
    from test_adhoc import run
    fsrv.add_account("fboss@localhost", PASSWORD)
    fsrv.ctl_ok("account", "set", "fboss@localhost", "admin=yes")
    victim = J % fresh(fsrv, "adv")
    boss = rawxmpp.login(fsrv, "fboss", PASSWORD)
    try:
        with faulty(fsrv, "table=accounts,error=full"):
            r = run(boss, "add-user", {"accountjid": "adnew@localhost", "password": "pw123456",
                                       "password-verify": "pw123456"})
            assert stanza_error(r) == FULL, dump(r)
            r = run(boss, "change-user-password", {"accountjid": victim, "password": "other123"})
            assert stanza_error(r) == FULL, dump(r)
            r = run(boss, "delete-user", {"accountjids": victim})
            assert stanza_error(r) == FULL, dump(r)
    finally:
        boss.close()
    assert can_login(fsrv, victim.split("@")[0], PASSWORD)
    assert not can_login(fsrv, "adnew", "pw123456")
    assert failures_logged(fsrv, "account removal not stored")


# ---- MUC configuration and affiliations ----------------------------------------------------


def room_name(c, room):
    r = c.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>",
             to=muchelp.room_jid(room))
    ident = r.find(q("http://jabber.org/protocol/disco#info", "query") + "/" +
                   q("http://jabber.org/protocol/disco#info", "identity"))
    return ident.get("name")


def configure(c, room, **fields):
    body = "".join("<field var='muc#roomconfig_%s'><value>%s</value></field>" % kv
                   for kv in fields.items())
    return c.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'>"
                "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value>"
                "</field>%s</x></query>" % (muchelp.NS_OWNER, muchelp.NS_XDATA, body),
                to=muchelp.room_jid(room))


def member_jids(c, room):
    r = muchelp.admin(c, room, "<item affiliation='member'/>", "get")
    assert r.get("type") == "result", dump(r)
    return sorted(i.get("jid") for i in r.iter(q(muchelp.NS_ADMIN, "item")))


def test_muc_config_and_affiliations_not_stored(fsrv):
    o = muchelp.user(fsrv, "fowner")
    m = muchelp.user(fsrv, "fmember")
    try:
        muchelp.create(o, "faulty", "Owner", persistentroom="1", roomname="Before")
        with faulty(fsrv, "table=muc_rooms,error=full"):
            r = configure(o, "faulty", persistentroom="1", roomname="After")
            assert stanza_error(r) == FULL, dump(r)
        assert room_name(o, "faulty") == "Before"
        with faulty(fsrv, "table=muc_affiliations,error=generic"):
            r = muchelp.admin(o, "faulty", "<item jid='fmember@localhost' affiliation='member'/>")
            assert stanza_error(r) == GENERIC, dump(r)
            # The owner list of the form is refused alike, and the configuration with it.
            r = configure(o, "faulty", roomname="After", roomowners="fmember@localhost")
            assert stanza_error(r) == GENERIC, dump(r)
        nothing(m, lambda e: e.tag == q(NS_CLIENT, "message") and 101 in muchelp.codes(e))
        assert member_jids(o, "faulty") == []
        assert room_name(o, "faulty") == "Before"
        assert failures_logged(fsrv, "cannot store the room")
        assert failures_logged(fsrv, "affiliation of fmember@localhost not stored")
    finally:
        o.close()
        m.close()


def test_muc_destroy_not_stored(fsrv):
    o = muchelp.user(fsrv, "downer2")
    try:
        muchelp.create(o, "stays", "Owner", persistentroom="1", roomname="Stays")
        with faulty(fsrv, "table=muc_rooms,error=full"):
            r = o.iq("set", "<query xmlns='%s'><destroy/></query>" % muchelp.NS_OWNER,
                     to=muchelp.room_jid("stays"))
            assert stanza_error(r) == FULL, dump(r)
        nothing(o, lambda e: muchelp.is_presence_from(e, muchelp.room_jid("stays") + "/Owner",
                                                      "unavailable"))
        assert room_name(o, "stays") == "Stays"
        assert failures_logged(fsrv, "cannot remove the room")
    finally:
        o.close()


# ---- administration ------------------------------------------------------------------------


def test_admin_setting_not_stored(fsrv):
    jid = J % fresh(fsrv, "adm")
    fsrv.ctl_ok("account", "set", jid, "real_name=Before")
    with faulty(fsrv, "table=account_settings,error=full"):
        r = fsrv.ctl("account", "set", jid, "real_name=After")
        assert r.returncode != 0
        assert "full" in (r.stdout + r.stderr), r.stdout + r.stderr
    assert "Before" in fsrv.ctl_ok("account", "show", jid)
    assert failures_logged(fsrv, "account.set not stored")


# ---- last activity (written behind) ---------------------------------------------------------


def test_last_seen_kept_and_retried(fsrv):
    name = fresh(fsrv, "ls")
    with faulty(fsrv, "table=im_last|last_activity,error=full"):
        c = login(fsrv, name, "r", presence="")
        c.send("<presence type='unavailable'><status>gone fishing</status></presence>")
        c.close()
        assert fsrv.wait_log(r"^\S+ 1 \S+ .*last seen records not saved", timeout=5.0)
    # Kept, and saved by the retry once the store takes writes again: still there after a
    # restart, which reads it from the store.
    assert fsrv.wait_log(r"last seen records saved again", timeout=10.0)
    restart(fsrv)
    data = json.loads(fsrv.ctl_ok("presence", J % name, "--json"))
    assert data.get("last_status") == "gone fishing", data


# ---- after a restart -----------------------------------------------------------------------


def test_state_unchanged_after_restart(fsrv):
    u = fresh(fsrv, "rst")
    c = login(fsrv, u, "r", roster=True)
    r = roster_set(c, "friend@example.net", "Friend")
    assert r.get("type") == "result"
    r = c.iq("set", "<block xmlns='%s'><item jid='spam.example'/></block>" % NS_BLOCKING)
    assert r.get("type") == "result"
    with faulty(fsrv, "table=im_roster*|im_blocklist,error=full"):
        assert stanza_error(roster_set(c, "friend@example.net", remove=True)) == FULL
        assert stanza_error(roster_set(c, "other@example.net")) == FULL
        r = c.iq("set", "<unblock xmlns='%s'/>" % NS_BLOCKING)
        assert stanza_error(r) == FULL
    c.close()
    restart(fsrv)
    c = login(fsrv, u, "r2")
    try:
        items, _ = roster(c)
        assert sorted(items) == ["friend@example.net"]
        assert items["friend@example.net"][2] == "Friend"
        assert blocklist(c) == ["spam.example"]
    finally:
        c.close()
