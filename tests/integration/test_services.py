"""test_services.py: the server's own services: disco (server, accounts, caps node), XEP-0115
caps in the stream features, ping routing, version, time, last activity, vcard-temp with the
photo hash, private XML storage and XEP-0157 contact addresses."""

import base64
import datetime
import hashlib
import re
import time

import pytest

import rawxmpp
from rawxmpp import NS_CLIENT, NS_STANZAS, q, stanza_error

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_DATA = "jabber:x:data"
NS_VCARD = "vcard-temp"
NS_PRIVATE = "jabber:iq:private"
NS_LAST = "jabber:iq:last"
NS_TIME = "urn:xmpp:time"
NS_PING = "urn:xmpp:ping"
NS_VERSION = "jabber:iq:version"
NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_XML = "http://www.w3.org/XML/1998/namespace"

SERVER_OPTIONS = {
    "server.contact.abuse": "mailto:abuse@localhost, xmpp:abuse@localhost",
    "server.contact.admin": "xmpp:postmaster@localhost",
    "services.vcard.max_size": "4096",
    "services.private.max_size": "2048",
}

USERS = ["alice", "bob", "carol", "dave"]
PASSWORD = "secret-pw-1"


@pytest.fixture(scope="module")
def accounts(server):
    for u in USERS:
        server.add_account("%s@localhost" % u, PASSWORD)
    return server


def login(server, user, resource="res"):
    return rawxmpp.login(server, user, PASSWORD, resource=resource)


def ok(el):
    assert el.get("type") == "result", rawxmpp.dump(el)
    return el


def err(el):
    assert el.get("type") == "error", rawxmpp.dump(el)
    return stanza_error(el)


def features_of(info):
    return {f.get("var") for f in info.findall(q(NS_DISCO_INFO, "feature"))}


def caps_ver(info):
    """XEP-0115 §5.1 computed here, independently of the server."""
    ids = []
    for i in info.findall(q(NS_DISCO_INFO, "identity")):
        ids.append((i.get("category", ""), i.get("type", ""), i.get("{%s}lang" % NS_XML, ""),
                    i.get("name", "")))
    s = "".join("%s/%s/%s/%s<" % t for t in sorted(ids))
    s += "".join("%s<" % f for f in sorted(features_of(info)))
    forms = []
    for x in info.findall(q(NS_DATA, "x")):
        fields = {}
        form_type = None
        for f in x.findall(q(NS_DATA, "field")):
            values = [v.text or "" for v in f.findall(q(NS_DATA, "value"))]
            if f.get("var") == "FORM_TYPE":
                if f.get("type") == "hidden":
                    form_type = values[0]
            else:
                fields[f.get("var")] = sorted(values)
        if form_type is not None:
            forms.append((form_type, fields))
    for form_type, fields in sorted(forms, key=lambda t: t[0]):
        s += form_type + "<"
        for var in sorted(fields):
            s += var + "<" + "".join(v + "<" for v in fields[var])
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def disco_info(c, to, node=None):
    n = " node='%s'" % node if node else ""
    return c.iq("get", "<query xmlns='%s'%s/>" % (NS_DISCO_INFO, n), to=to)


# ---- XEP-0030 -----------------------------------------------------------------------------------

def test_server_disco_info(accounts):
    c = login(accounts, "alice")
    r = ok(disco_info(c, "localhost"))
    query = r.find(q(NS_DISCO_INFO, "query"))
    ident = query.find(q(NS_DISCO_INFO, "identity"))
    assert (ident.get("category"), ident.get("type")) == ("server", "im")
    feats = features_of(query)
    for f in (NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION, NS_TIME, NS_LAST, NS_VCARD,
              NS_PRIVATE, NS_COMMANDS):
        assert f in feats, (f, feats)
    # Clients look for blocking and carbons on the server, not on their account.
    for f in ("urn:xmpp:blocking", "urn:xmpp:carbons:2"):
        assert f in feats, (f, feats)
    c.close()


def test_account_disco_info(accounts):
    c = login(accounts, "alice")
    r = ok(disco_info(c, "bob@localhost"))
    query = r.find(q(NS_DISCO_INFO, "query"))
    ident = query.find(q(NS_DISCO_INFO, "identity"))
    assert (ident.get("category"), ident.get("type")) == ("account", "registered")
    feats = features_of(query)
    for f in (NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_LAST, NS_VCARD):
        assert f in feats, (f, feats)
    # What only the server itself answers is not an account's feature.
    for f in (NS_VERSION, NS_TIME, NS_COMMANDS):
        assert f not in feats, (f, feats)
    # No contact-address form on an account.
    assert query.find(q(NS_DATA, "x")) is None
    c.close()


def test_disco_items(accounts):
    c = login(accounts, "alice")
    r = ok(c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to="localhost"))
    assert r.find(q(NS_DISCO_ITEMS, "query")) is not None
    r = ok(c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to="bob@localhost"))
    assert list(r.find(q(NS_DISCO_ITEMS, "query"))) == []
    r = c.iq("get", "<query xmlns='%s' node='no-such-node'/>" % NS_DISCO_ITEMS, to="localhost")
    assert err(r) == ("cancel", "item-not-found")
    r = disco_info(c, "localhost", node="no-such-node")
    assert err(r) == ("cancel", "item-not-found")
    c.close()


# ---- XEP-0157 -----------------------------------------------------------------------------------

def serverinfo_form(query):
    for x in query.findall(q(NS_DATA, "x")):
        for f in x.findall(q(NS_DATA, "field")):
            if f.get("var") == "FORM_TYPE" and f.get("type") == "hidden":
                v = f.find(q(NS_DATA, "value"))
                if v is not None and v.text == "http://jabber.org/network/serverinfo":
                    return {g.get("var"): [v.text for v in g.findall(q(NS_DATA, "value"))]
                            for g in x.findall(q(NS_DATA, "field"))}
    return None


def test_contact_addresses(accounts):
    c = login(accounts, "alice")
    query = ok(disco_info(c, "localhost")).find(q(NS_DISCO_INFO, "query"))
    form = serverinfo_form(query)
    assert form is not None, rawxmpp.dump(query)
    assert query.find(q(NS_DATA, "x")).get("type") == "result"
    assert form["abuse-addresses"] == ["mailto:abuse@localhost", "xmpp:abuse@localhost"]
    # XEP-0157 §3: every address field is typed list-multi.
    x = query.find(q(NS_DATA, "x"))
    types = {f.get("var"): f.get("type") for f in x.findall(q(NS_DATA, "field"))}
    assert types.pop("FORM_TYPE") == "hidden"
    assert set(types.values()) == {"list-multi"}, types
    assert form["admin-addresses"] == ["xmpp:postmaster@localhost"]
    assert "support-addresses" not in form
    # A live change shows at once, and changes the capabilities hash.
    before = caps_ver(query)
    accounts.ctl_ok("settings", "set", "server.contact.support", "https://localhost/help")
    try:
        query = ok(disco_info(c, "localhost")).find(q(NS_DISCO_INFO, "query"))
        assert serverinfo_form(query)["support-addresses"] == ["https://localhost/help"]
        assert caps_ver(query) != before
    finally:
        accounts.ctl_ok("settings", "set", "server.contact.support", "")
    c.close()


# ---- XEP-0115 -----------------------------------------------------------------------------------

def caps_of(features):
    c = features.find(q(NS_CAPS, "c"))
    assert c is not None, rawxmpp.dump(features)
    assert c.get("hash") == "sha-1"
    assert c.get("node") == "https://starling.example/"
    return c.get("ver")


def test_caps_in_stream_features_follow_a_live_settings_change(accounts):
    """The features' ver is kept per worker for the settings in force (issue 21): a live change
    of what disco#info shows (a contact address) must give new streams the new ver at once."""
    c, feats = rawxmpp.connect(accounts)
    before = caps_of(feats)
    c.close()
    accounts.ctl_ok("settings", "set", "server.contact.status", "https://localhost/status")
    try:
        for _ in range(4):  # new connections land on every worker
            c, feats = rawxmpp.connect(accounts)
            after = caps_of(feats)
            kind, data = c.plain("alice", PASSWORD)
            assert kind == "success", data
            c.restart()
            c.bind("capslive")
            query = ok(disco_info(c, "localhost")).find(q(NS_DISCO_INFO, "query"))
            c.close()
            assert after != before
            assert after == caps_ver(query)
    finally:
        accounts.ctl_ok("settings", "set", "server.contact.status", "")
    c, feats = rawxmpp.connect(accounts)
    assert caps_of(feats) == before
    c.close()


def test_caps_in_stream_features(accounts):
    c, feats = rawxmpp.connect(accounts)
    pre = caps_of(feats)
    kind, data = c.plain("alice", PASSWORD)
    assert kind == "success", data
    post = caps_of(c.restart())
    assert pre == post
    c.bind("caps")
    query = ok(disco_info(c, "localhost")).find(q(NS_DISCO_INFO, "query"))
    assert post == caps_ver(query), "the ver is not the hash of the server's disco#info"
    # XEP-0115 §6.2: the node#ver is answered with the same identity and features.
    r = ok(disco_info(c, "localhost", node="https://starling.example/#" + post))
    nq = r.find(q(NS_DISCO_INFO, "query"))
    assert nq.get("node") == "https://starling.example/#" + post
    assert features_of(nq) == features_of(query)
    assert caps_ver(nq) == post
    r = disco_info(c, "localhost", node="https://starling.example/#AAAA")
    assert err(r) == ("cancel", "item-not-found")
    c.close()


# ---- XEP-0199, XEP-0092, XEP-0202 ---------------------------------------------------------------

def test_ping_server_and_account(accounts):
    c = login(accounts, "alice")
    ok(c.iq("get", "<ping xmlns='%s'/>" % NS_PING, to="localhost"))
    ok(c.iq("get", "<ping xmlns='%s'/>" % NS_PING, to="bob@localhost"))
    c.close()


def test_ping_routed_to_full_jid(accounts):
    a = login(accounts, "alice", "pinger")
    b = login(accounts, "bob", "pinged")
    a.send("<iq type='get' id='p1' to='%s'><ping xmlns='%s'/></iq>" % (b.jid, NS_PING))
    got = b.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "p1")
    assert got.get("from") == a.jid and got.get("type") == "get"
    assert got.find(q(NS_PING, "ping")) is not None
    b.send("<iq type='result' id='p1' to='%s'/>" % a.jid)
    res = a.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "p1")
    assert res.get("type") == "result" and res.get("from") == b.jid
    # A resource that does not exist: service-unavailable from the server.
    r = a.iq("get", "<ping xmlns='%s'/>" % NS_PING, to="bob@localhost/nobody")
    assert err(r) == ("cancel", "service-unavailable")
    a.close()
    b.close()


def test_version(accounts):
    c = login(accounts, "alice")
    r = ok(c.iq("get", "<query xmlns='%s'/>" % NS_VERSION, to="localhost"))
    assert r.find(q(NS_VERSION, "query") + "/" + q(NS_VERSION, "name")).text == "Starling"
    c.close()


def test_time(accounts):
    c = login(accounts, "alice")
    r = ok(c.iq("get", "<time xmlns='%s'/>" % NS_TIME, to="localhost"))
    t = r.find(q(NS_TIME, "time"))
    tzo = t.find(q(NS_TIME, "tzo")).text
    utc = t.find(q(NS_TIME, "utc")).text
    assert re.fullmatch(r"[+-]\d\d:\d\d", tzo), tzo
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", utc), utc
    stamp = datetime.datetime.strptime(utc[:19], "%Y-%m-%dT%H:%M:%S")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - stamp).total_seconds()) < 60
    # Entity time of an account is its clients' business, not the server's.
    r = c.iq("get", "<time xmlns='%s'/>" % NS_TIME, to="bob@localhost")
    assert err(r) == ("cancel", "service-unavailable")
    c.close()


# ---- XEP-0012 -----------------------------------------------------------------------------------

def last_seconds(el):
    return int(ok(el).find(q(NS_LAST, "query")).get("seconds"))


def test_last_server_uptime(accounts):
    c = login(accounts, "alice")
    s1 = last_seconds(c.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="localhost"))
    assert 0 <= s1 < 3600
    time.sleep(1.1)
    s2 = last_seconds(c.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="localhost"))
    assert s2 >= s1 + 1
    c.close()


def test_last_account_self_and_forbidden(accounts):
    c = login(accounts, "carol", "one")
    c.send("<presence/>")
    # Online (an available resource): 0 seconds, asked by the account itself.
    assert last_seconds(c.iq("get", "<query xmlns='%s'/>" % NS_LAST)) == 0
    assert last_seconds(c.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="carol@localhost")) == 0
    # §4: someone without a subscription to carol's presence may not know.
    d = login(accounts, "dave")
    r = d.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="carol@localhost")
    assert err(r) == ("auth", "forbidden")
    c.close()
    d.close()


def logout_time(server, user):
    rows = server.db_rows("SELECT logout FROM last_activity WHERE domain = 'localhost'"
                          " AND name = ?", (user,))
    return rows[0][0] if rows else None


def test_last_logout_recorded_when_last_session_ends(accounts):
    c1 = login(accounts, "carol", "r1")
    c2 = login(accounts, "carol", "r2")
    # Earlier sessions' records are written behind, at most 250 ms after they ended.
    time.sleep(0.4)
    before = logout_time(accounts, "carol")
    c1.end()
    c1.wait_closed(5)
    time.sleep(0.3)
    # Another session is still there: no logout yet.
    assert logout_time(accounts, "carol") == before
    c2.end()
    c2.wait_closed(5)
    deadline = time.monotonic() + 5
    while logout_time(accounts, "carol") in (None, before) and time.monotonic() < deadline:
        time.sleep(0.1)
    t = logout_time(accounts, "carol")
    assert t is not None and abs(t - time.time()) < 10


def subscribe(a, b, a_user, b_user):
    """a subscribes to b's presence and b approves (RFC 6121 §3)."""
    a.send("<presence type='subscribe' to='%s@localhost'/>" % b_user)
    b.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribe")
    b.send("<presence type='subscribed' to='%s@localhost'/>" % a_user)
    a.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribed")


def subscribed_pair(server, a_user, b_user, resource):
    """Two available sessions, a_user subscribed to b_user; b_user online for a_user (0 s)."""
    a = login(server, a_user, resource)
    b = login(server, b_user, resource)
    a.send("<presence/>")
    b.send("<presence/>")
    subscribe(a, b, a_user, b_user)
    assert last_seconds(a.iq("get", "<query xmlns='%s'/>" % NS_LAST,
                             to="%s@localhost" % b_user)) == 0
    return a, b


def test_last_logout_for_subscriber(accounts):
    """A contact subscribed to the account's presence learns the time since its logout (needs
    the roster and subscriptions of the IM core)."""
    a, b = subscribed_pair(accounts, "alice", "bob", "last")
    b.end()
    b.wait_closed(5)
    time.sleep(2.2)
    s = last_seconds(a.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="bob@localhost"))
    assert 2 <= s < 60, s
    a.close()


def test_last_connected_but_unavailable(accounts):
    """"Online" is an available resource, not a session: a connected account that went
    unavailable answers with the time and status of that unavailable presence."""
    for u in ("gina", "hank"):
        accounts.add_account("%s@localhost" % u, PASSWORD)
    a, b = subscribed_pair(accounts, "gina", "hank", "lastu")
    b.send("<presence type='unavailable'><status>gone fishing</status></presence>")
    time.sleep(2.2)
    r = ok(a.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="hank@localhost"))
    query = r.find(q(NS_LAST, "query"))
    assert 2 <= int(query.get("seconds")) < 60, rawxmpp.dump(r)
    assert query.text == "gone fishing"
    # Available again: 0 seconds, no status.
    b.send("<presence/>")
    b.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == b.jid
               and e.get("type") is None)
    r = ok(a.iq("get", "<query xmlns='%s'/>" % NS_LAST, to="hank@localhost"))
    query = r.find(q(NS_LAST, "query"))
    assert query.get("seconds") == "0" and not query.text
    a.close()
    b.close()


# ---- XEP-0054 / XEP-0153 ------------------------------------------------------------------------

PHOTO = bytes(range(256)) * 3


def vcard_xml(fn, photo=None):
    p = ""
    if photo is not None:
        b64 = base64.b64encode(photo).decode()
        # Line breaks inside BINVAL, as clients write them.
        b64 = "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
        p = "<PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO>" % b64
    return "<vCard xmlns='%s'><FN>%s</FN>%s</vCard>" % (NS_VCARD, fn, p)


def photo_hash(server, user):
    rows = server.db_rows("SELECT photo_hash FROM vcards WHERE domain = 'localhost' AND name = ?",
                          (user,))
    return rows[0][0] if rows else None


def test_vcard_set_own_get_anyones(accounts):
    a = login(accounts, "alice")
    b = login(accounts, "bob")
    # No vCard yet: an empty one.
    r = ok(b.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to="dave@localhost"))
    v = r.find(q(NS_VCARD, "vCard"))
    assert v is not None and list(v) == []
    # Set without 'to' (one's own), then anyone reads it.
    ok(a.iq("set", vcard_xml("Alice Liddell", PHOTO)))
    r = ok(b.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to="alice@localhost"))
    v = r.find(q(NS_VCARD, "vCard"))
    assert v.find(q(NS_VCARD, "FN")).text == "Alice Liddell"
    binval = v.find(q(NS_VCARD, "PHOTO") + "/" + q(NS_VCARD, "BINVAL")).text
    assert base64.b64decode("".join(binval.split())) == PHOTO
    # Own vCard with 'to' = own bare JID works as well, and replaces it.
    ok(a.iq("set", vcard_xml("Alice"), to="alice@localhost"))
    r = ok(a.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD))
    assert r.find(q(NS_VCARD, "vCard") + "/" + q(NS_VCARD, "FN")).text == "Alice"
    assert r.find(q(NS_VCARD, "vCard") + "/" + q(NS_VCARD, "PHOTO")) is None
    a.close()
    b.close()


def test_vcard_photo_hash_kept(accounts):
    """XEP-0153: the server keeps the SHA-1 of the decoded photo with the vCard."""
    c = login(accounts, "carol")
    ok(c.iq("set", vcard_xml("Carol", PHOTO)))
    assert photo_hash(accounts, "carol") == hashlib.sha1(PHOTO).hexdigest()
    ok(c.iq("set", vcard_xml("Carol")))
    assert photo_hash(accounts, "carol") == ""
    c.close()


def test_vcard_set_other_forbidden_and_size_limit(accounts):
    b = login(accounts, "bob")
    r = b.iq("set", vcard_xml("Mallory"), to="alice@localhost")
    assert err(r) == ("auth", "forbidden")
    big = vcard_xml("B" * 5000)
    r = b.iq("set", big)
    assert err(r) == ("modify", "not-acceptable")
    ok(b.iq("set", vcard_xml("Bob")))
    b.close()


# ---- XEP-0049 -----------------------------------------------------------------------------------

def private_query(inner):
    return "<query xmlns='%s'>%s</query>" % (NS_PRIVATE, inner)


def test_private_storage(accounts):
    c = login(accounts, "alice")
    prefs = "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>"
    ok(c.iq("set", private_query(prefs)))
    r = ok(c.iq("get", private_query("<exodus xmlns='exodus:prefs'/>")))
    el = r.find(q(NS_PRIVATE, "query") + "/" + q("exodus:prefs", "exodus"))
    assert el.find(q("exodus:prefs", "defaultnick")).text == "Hamlet"
    # Another element name in the same namespace is another slot: nothing stored there.
    r = ok(c.iq("get", private_query("<other xmlns='exodus:prefs'/>")))
    el = r.find(q(NS_PRIVATE, "query") + "/" + q("exodus:prefs", "other"))
    assert el is not None and list(el) == []
    # Replacing keeps one element.
    ok(c.iq("set", private_query("<exodus xmlns='exodus:prefs'><defaultnick>Ophelia"
                                 "</defaultnick></exodus>"), to="alice@localhost"))
    r = ok(c.iq("get", private_query("<exodus xmlns='exodus:prefs'/>")))
    nicks = r.findall(".//" + q("exodus:prefs", "defaultnick"))
    assert [n.text for n in nicks] == ["Ophelia"]
    c.close()


def test_private_refusals(accounts):
    c = login(accounts, "bob")
    # jabber:* namespaces are not storage (XEP-0049 §3).
    r = c.iq("set", private_query("<query xmlns='jabber:iq:roster'/>"))
    assert err(r) == ("modify", "not-acceptable")
    r = c.iq("get", private_query("<x xmlns='jabber:x:data'/>"))
    assert err(r) == ("modify", "not-acceptable")
    r = c.iq("set", private_query(""))
    assert err(r) == ("modify", "not-acceptable")
    r = c.iq("get", private_query("<a xmlns='urn:a'/><b xmlns='urn:b'/>"))
    assert err(r) == ("modify", "bad-request")
    # Someone else's storage.
    r = c.iq("get", private_query("<exodus xmlns='exodus:prefs'/>"), to="alice@localhost")
    assert err(r) == ("cancel", "forbidden")
    c.close()


def test_private_quota(accounts):
    c = login(accounts, "dave")
    ok(c.iq("set", private_query("<a xmlns='urn:q'>%s</a>" % ("x" * 1200))))
    # 1200 + 1200 bytes is over services.private.max_size (2048).
    r = c.iq("set", private_query("<b xmlns='urn:q'>%s</b>" % ("y" * 1200)))
    assert err(r) == ("modify", "not-acceptable")
    # Replacing the first element frees its bytes.
    ok(c.iq("set", private_query("<a xmlns='urn:q'>small</a>")))
    ok(c.iq("set", private_query("<b xmlns='urn:q'>%s</b>" % ("y" * 1200))))
    r = ok(c.iq("get", private_query("<a xmlns='urn:q'/>")))
    assert r.find(".//" + q("urn:q", "a")).text == "small"
    c.close()


def test_service_rows_go_with_the_account(accounts):
    accounts.add_account("erin@localhost", PASSWORD)
    c = login(accounts, "erin")
    ok(c.iq("set", vcard_xml("Erin")))
    ok(c.iq("set", private_query("<p xmlns='urn:erin'/>")))
    c.close()
    accounts.ctl_ok("account", "remove", "erin@localhost")
    for table in ("vcards", "private_xml", "last_activity"):
        n = accounts.db_rows("SELECT COUNT(*) FROM %s WHERE name = 'erin'" % table)[0][0]
        assert n == 0, table
