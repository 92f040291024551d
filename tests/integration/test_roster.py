"""test_roster.py: RFC 6121 §2 rosters: get/set/remove, groups, pushes to interested
resources only, limits, errors, and XEP-0237 versioning with incremental pushes."""

import rawxmpp
from rawxmpp import q, dump
from imclient import NS_ROSTER, fresh, login, push_item, roster, nothing, is_push

SERVER_OPTIONS = {"im.max_roster_items": "3", "im.max_roster_item_length": "20"}


def rset(c, inner):
    return c.iq("set", "<query xmlns='%s'>%s</query>" % (NS_ROSTER, inner))


def test_set_get_groups_and_pushes_to_interested_only(server):
    u = fresh(server, "ro")
    a = login(server, u, "a", roster=True)
    b = login(server, u, "b", roster=True)
    c = login(server, u, "c")            # never asked for the roster: not interested
    try:
        r = rset(a, "<item jid='friend@example.net' name='Friend'><group>Work</group>"
                    "<group>Pals</group></item>")
        assert r.get("type") == "result", dump(r)
        for x in (a, b):
            item = push_item(x, "friend@example.net")
            assert item.get("name") == "Friend" and item.get("subscription") == "none", dump(item)
            groups = sorted(g.text for g in item.findall(q(NS_ROSTER, "group")))
            assert groups == ["Pals", "Work"], dump(item)
        nothing(c, is_push)
        items, _ = roster(b)
        assert items["friend@example.net"][:4] == ("none", None, "Friend", ["Work", "Pals"])
        r = rset(b, "<item jid='friend@example.net'/>")
        assert r.get("type") == "result", dump(r)
        items, _ = roster(a)
        assert items["friend@example.net"][2] is None and items["friend@example.net"][3] == []
        r = rset(a, "<item jid='friend@example.net' subscription='remove'/>")
        assert r.get("type") == "result", dump(r)
        b.wait_for(lambda e: is_push(e, "friend@example.net") and e.find(
            q(NS_ROSTER, "query") + "/" + q(NS_ROSTER, "item")).get("subscription") == "remove",
            what="removal push")
        assert "friend@example.net" not in roster(a)[0]
        r = rset(a, "<item jid='friend@example.net' subscription='remove'/>")
        assert rawxmpp.stanza_error(r)[1] == "item-not-found", dump(r)
    finally:
        for x in (a, b, c):
            x.close()


def test_bad_roster_sets(server):
    a = login(server, fresh(server, "rb"), roster=True)
    try:
        cases = [
            ("<item jid='x@example.net'/><item jid='y@example.net'/>", "bad-request"),
            ("", "bad-request"),
            ("<item/>", "bad-request"),
            ("<item jid='x@example.net'><group>G</group><group>G</group></item>", "bad-request"),
            ("<item jid='x@example.net'><group></group></item>", "not-acceptable"),
            ("<item jid='x@example.net' name='%s'/>" % ("n" * 21), "not-acceptable"),
            ("<item jid='x@example.net'><group>%s</group></item>" % ("g" * 21), "not-acceptable"),
        ]
        for inner, cond in cases:
            r = rset(a, inner)
            assert r.get("type") == "error" and rawxmpp.stanza_error(r)[1] == cond, (inner, dump(r))
        assert roster(a)[0] == {}
    finally:
        a.close()


def test_roster_size_limit(server):
    a = login(server, fresh(server, "rl"), roster=True)
    try:
        for i in range(3):
            assert rset(a, "<item jid='c%d@example.net'/>" % i).get("type") == "result"
        r = rset(a, "<item jid='c9@example.net'/>")
        assert rawxmpp.stanza_error(r)[1] == "not-allowed", dump(r)
        # Updating an existing item is still allowed at the limit.
        assert rset(a, "<item jid='c1@example.net' name='one'/>").get("type") == "result"
    finally:
        a.close()


def test_roster_of_someone_else_is_forbidden(server):
    a = login(server, fresh(server, "rf"))
    other = fresh(server, "rg")
    try:
        r = a.iq("get", "<query xmlns='%s'/>" % NS_ROSTER, to="%s@localhost" % other)
        assert rawxmpp.stanza_error(r)[1] == "forbidden", dump(r)
    finally:
        a.close()


def test_versioning_incremental_pushes(server):
    u = fresh(server, "rv")
    a = login(server, u, "a", roster=True)
    items, r = roster(a, ver="")
    ver0 = r.find(q(NS_ROSTER, "query")).get("ver")
    assert ver0 is not None, dump(r)
    rset(a, "<item jid='v1@example.net'/>")
    rset(a, "<item jid='v2@example.net'/>")
    _, r = roster(a, ver="")
    ver2 = r.find(q(NS_ROSTER, "query")).get("ver")
    rset(a, "<item jid='v3@example.net'/>")
    rset(a, "<item jid='v1@example.net' subscription='remove'/>")
    a.close()
    b = login(server, u, "b")
    # Up to date: an empty result, no pushes.
    _, r2 = roster(b, ver=None)
    full = r2.find(q(NS_ROSTER, "query"))
    assert sorted(i.get("jid") for i in full) == ["v2@example.net", "v3@example.net"]
    r = b.iq("get", "<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, ver2))
    assert r.get("type") == "result" and r.find(q(NS_ROSTER, "query")) is None, dump(r)
    got = {}
    for _ in range(2):
        el = b.wait_for(is_push, what="incremental push")
        item = el.find(q(NS_ROSTER, "query") + "/" + q(NS_ROSTER, "item"))
        got[item.get("jid")] = item.get("subscription")
        assert el.find(q(NS_ROSTER, "query")).get("ver"), dump(el)
    assert got == {"v3@example.net": "none", "v1@example.net": "remove"}, got
    _, r = roster(b, ver="")
    cur = r.find(q(NS_ROSTER, "query")).get("ver")
    r = b.iq("get", "<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, cur))
    assert r.find(q(NS_ROSTER, "query")) is None, dump(r)
    nothing(b, is_push)
    # An unknown version gives the whole roster.
    r = b.iq("get", "<query xmlns='%s' ver='bogus'/>" % NS_ROSTER)
    assert len(r.find(q(NS_ROSTER, "query"))) == 2, dump(r)
    b.close()


def test_roster_versioning_stream_feature(server):
    c, _ = rawxmpp.connect(server)
    u = fresh(server, "rs")
    kind, _ = c.plain(u, "im-secret-1")
    feats = c.restart()
    assert feats.find(q("urn:xmpp:features:rosterver", "ver")) is not None, dump(feats)
    c.close()


def test_roster_result_without_ver_carries_ver(server):
    """The stream advertises versioning, so a full result carries 'ver' even when the request
    had none (the pushes always did); it is the version the pushes continue from."""
    u = fresh(server, "rn")
    a = login(server, u, "a", roster=True)
    rset(a, "<item jid='n1@example.net'/>")
    _, versioned = roster(a, ver="")
    current = versioned.find(q(NS_ROSTER, "query")).get("ver")
    r = a.iq("get", "<query xmlns='%s'/>" % NS_ROSTER)
    query = r.find(q(NS_ROSTER, "query"))
    assert query is not None and query.get("ver") == current and current, dump(r)
    assert [i.get("jid") for i in query] == ["n1@example.net"]
    a.close()
