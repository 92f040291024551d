"""test_mam.py: XEP-0313 message archive for accounts: what is archived (both directions,
stanza-ids, hints, types, encrypted payloads), queries with the form fields of urn:xmpp:mam:2
and #extended, XEP-0059 paging both ways with an exact complete flag, item-not-found, flip-page,
preferences, full-text search (XEP-0431), metadata, the offline interplay, the archive removed
with its account and kept across a restart, one stored copy of a message between two local
accounts, RSM counts, the upgrade of an archive of schema version 1."""

import os
import re
import time
import uuid

import pytest

import rawxmpp
from rawxmpp import q, dump
from starling import ON_POSTGRESQL
from imclient import NS_CLIENT, fresh, login, is_message, nothing

NS_MAM = "urn:xmpp:mam:2"
NS_SID = "urn:xmpp:sid:0"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FWD = "urn:xmpp:forward:0"
NS_XDATA = "jabber:x:data"
J = "%s@localhost"


def chat(c, to, body, extra="", type_="chat"):
    c.send("<message to='%s' type='%s' id='%s'><body>%s</body>%s</message>"
           % (to, type_, uuid.uuid4().hex[:8], body, extra))


def sync(c):
    """A round trip: what c sent before has been routed."""
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    assert r.get("type") == "result", dump(r)


def form(fields):
    if not fields:
        return ""
    out = ["<x xmlns='jabber:x:data' type='submit'>",
           "<field var='FORM_TYPE' type='hidden'><value>%s</value></field>" % NS_MAM]
    for var, value in fields.items():
        values = value if isinstance(value, list) else [value]
        out.append("<field var='%s'>%s</field>" % (var, "".join("<value>%s</value>" % v
                                                                for v in values)))
    out.append("</x>")
    return "".join(out)


def mam(c, fields=None, max_=None, after=None, before=None, flip=False, to=None):
    """Runs a query; returns (items, fin or the error iq): items are (id, body, from, msg)."""
    qid = uuid.uuid4().hex[:8]
    rsm = ""
    if max_ is not None or after is not None or before is not None:
        rsm = "<set xmlns='%s'>" % NS_RSM
        if max_ is not None:
            rsm += "<max>%d</max>" % max_
        if after is not None:
            rsm += "<after>%s</after>" % after
        if before is not None:
            rsm += "<before>%s</before>" % before if before else "<before/>"
        rsm += "</set>"
    payload = "<query xmlns='%s' queryid='%s'>%s%s%s</query>" % (
        NS_MAM, qid, form(fields), rsm, "<flip-page/>" if flip else "")
    iq_id = uuid.uuid4().hex[:8]
    c.send("<iq type='set' id='%s'%s>%s</iq>" % (iq_id, " to='%s'" % to if to else "", payload))
    items = []
    while True:
        el = c.next()
        if el.tag == q(NS_CLIENT, "iq") and el.get("id") == iq_id:
            if el.get("type") != "result":
                return items, el
            fin = el.find(q(NS_MAM, "fin"))
            assert fin is not None, dump(el)
            return items, fin
        r = el.find(q(NS_MAM, "result"))
        if r is None:
            continue
        assert r.get("queryid") == qid, dump(el)
        m = r.find(q(NS_FWD, "forwarded") + "/" + q(NS_CLIENT, "message"))
        assert m is not None, dump(el)
        assert r.find(q(NS_FWD, "forwarded") + "/" + q("urn:xmpp:delay", "delay")) is not None
        items.append((r.get("id"), m.findtext(q(NS_CLIENT, "body")), m.get("from"), m))


def bodies(items):
    return [b for _, b, _, _ in items]


def complete(fin):
    return fin.get("complete") in ("true", "1")


def rsm_first_last(fin):
    s = fin.find(q(NS_RSM, "set"))
    return s.findtext(q(NS_RSM, "first")), s.findtext(q(NS_RSM, "last"))


def pair(server, prefix):
    a = login(server, fresh(server, prefix + "a"), presence="")
    b = login(server, fresh(server, prefix + "b"), presence="")
    return a, b


def test_both_directions_with_stanza_id(server):
    a, b = pair(server, "sd")
    chat(a, b.bare, "hello", extra="<origin-id xmlns='%s' id='o1'/>" % NS_SID)
    m = b.wait_for(lambda e: is_message(e, "hello"), what="message")
    sid = m.find(q(NS_SID, "stanza-id"))
    assert sid is not None and sid.get("by") == b.bare and sid.get("id"), dump(m)
    assert m.find(q(NS_SID, "origin-id")).get("id") == "o1"
    chat(b, a.bare, "hi back")
    a.wait_for(lambda e: is_message(e, "hi back"), what="reply")
    items, fin = mam(b)
    assert bodies(items) == ["hello", "hi back"] and complete(fin), (items, dump(fin))
    assert items[0][0] == sid.get("id")
    assert items[1][3].get("from").startswith(b.bare)
    items, fin = mam(a)
    assert bodies(items) == ["hello", "hi back"] and complete(fin)
    a.close()
    b.close()


def test_forged_stanza_id_stripped(server):
    a, b = pair(server, "fg")
    chat(a, b.bare, "forged", extra="<stanza-id xmlns='%s' by='%s' id='fake'/>" % (NS_SID, b.bare))
    m = b.wait_for(lambda e: is_message(e, "forged"), what="message")
    ids = [s.get("id") for s in m.findall(q(NS_SID, "stanza-id")) if s.get("by") == b.bare]
    assert len(ids) == 1 and ids[0] != "fake", dump(m)
    a.close()
    b.close()


def test_what_is_not_archived(server):
    a, b = pair(server, "na")
    b.bare_full = b.jid
    chat(a, b.bare, "nostore", extra="<no-store xmlns='urn:xmpp:hints'/>")
    chat(a, b.bare, "noperm", extra="<no-permanent-store xmlns='urn:xmpp:hints'/>")
    chat(a, b.bare, "head", type_="headline")
    a.send("<message to='%s' type='chat'><composing xmlns='http://jabber.org/protocol/"
           "chatstates'/></message>" % b.bare)
    a.send("<message to='%s' type='error'><body>err</body></message>" % b.bare)
    # A store hint keeps even a message without a body; an OMEMO payload is kept without one.
    a.send("<message to='%s' type='chat' id='st'><store xmlns='urn:xmpp:hints'/>"
           "<x xmlns='urn:example:data'>d</x></message>" % b.bare)
    a.send("<message to='%s' type='chat' id='om'><encrypted xmlns='eu.siacs.conversations.axolotl'>"
           "<header sid='1'/><payload>AAAA</payload></encrypted></message>" % b.bare)
    chat(a, b.bare, "kept")
    b.wait_for(lambda e: is_message(e, "kept"), what="last message")
    items, fin = mam(b)
    assert [m.get("id") if body is None else body for _, body, _, m in items] == \
        ["st", "om", "kept"], [dump(m) for *_, m in items]
    assert complete(fin)
    a.close()
    b.close()


def fill(server, prefix, n):
    a, b = pair(server, prefix)
    for i in range(n):
        chat(a, b.bare, "m%02d" % i)
    sync(a)
    return a, b


def test_paging_forward_exact_complete(server):
    a, b = fill(server, "pf", 10)
    items, fin = mam(b, max_=4)
    assert bodies(items) == ["m00", "m01", "m02", "m03"] and not complete(fin)
    first, last = rsm_first_last(fin)
    assert first == items[0][0] and last == items[-1][0]
    items, fin = mam(b, max_=4, after=last)
    assert bodies(items) == ["m04", "m05", "m06", "m07"] and not complete(fin)
    items, fin = mam(b, max_=2, after=rsm_first_last(fin)[1])
    # Exactly the last two: complete although the page is full.
    assert bodies(items) == ["m08", "m09"] and complete(fin), dump(fin)
    items, fin = mam(b, max_=2, after=items[-1][0])
    assert items == [] and complete(fin)
    a.close()
    b.close()


def test_paging_backward_from_the_end(server):
    a, b = fill(server, "pb", 7)
    items, fin = mam(b, max_=3, before="")
    assert bodies(items) == ["m04", "m05", "m06"] and not complete(fin)
    items, fin = mam(b, max_=3, before=items[0][0])
    assert bodies(items) == ["m01", "m02", "m03"] and not complete(fin)
    items, fin = mam(b, max_=3, before=items[0][0])
    assert bodies(items) == ["m00"] and complete(fin)
    items, fin = mam(b, max_=3, before="", flip=True)
    assert bodies(items) == ["m06", "m05", "m04"], bodies(items)
    a.close()
    b.close()


def rsm_count_index(fin):
    s = fin.find(q(NS_RSM, "set"))
    first = s.find(q(NS_RSM, "first"))
    return int(s.findtext(q(NS_RSM, "count"))), None if first is None else first.get("index")


def test_rsm_count_and_index(server):
    """XEP-0059 <count/> of the whole result set (the form's filters, not the page) and the
    first item's index on forward pages."""
    a, b = fill(server, "rc", 10)
    chat(b, a.bare, "reply words")
    sync(b)
    items, fin = mam(b, max_=4)
    assert len(items) == 4 and rsm_count_index(fin) == (11, "0"), dump(fin)
    items, fin = mam(b, max_=4, after=items[-1][0])
    assert bodies(items) == ["m04", "m05", "m06", "m07"] and rsm_count_index(fin) == (11, "4")
    items, fin = mam(b, max_=3, before="")
    assert len(items) == 3 and rsm_count_index(fin)[0] == 11
    items, fin = mam(b, {"with": a.bare, "after-id": items[0][0]}, max_=1)
    assert len(items) == 1 and rsm_count_index(fin) == (2, "0"), dump(fin)
    items, fin = mam(b, {"{urn:xmpp:fulltext:0}fulltext": "words"})
    assert bodies(items) == ["reply words"] and rsm_count_index(fin) == (1, "0")
    items, fin = mam(b, {"{urn:xmpp:fulltext:0}fulltext": "nowhere"})
    assert items == [] and rsm_count_index(fin) == (0, None) and complete(fin)
    a.close()
    b.close()


def owner_rows(server, *users):
    """(stored stanzas, index rows) of these accounts' archives."""
    marks = ", ".join("?" for _ in users)
    return server.db_rows("SELECT count(DISTINCT i.sid), count(*) FROM archive_idx i"
                          " JOIN archive_jid o ON o.id = i.owner"
                          " WHERE o.domain = 'localhost' AND o.name IN (%s)" % marks, users)[0]


def test_one_stored_copy_per_message(server):
    """A message between two local accounts is stored once, with an index row in each archive;
    the stored copy goes with the last archive that has it."""
    a, b = fill(server, "oc", 5)
    assert len(mam(b)[0]) == 5  # a query waits for the writer
    assert owner_rows(server, a.user, b.user) == (5, 10)
    sids = [r[0] for r in server.db_rows(
        "SELECT i.sid FROM archive_idx i JOIN archive_jid o ON o.id = i.owner"
        " WHERE o.domain = 'localhost' AND o.name = ?", (b.user,))]
    a.close()
    server.ctl_ok("account", "remove", a.bare)
    items, fin = mam(b)
    assert bodies(items) == ["m%02d" % i for i in range(5)] and complete(fin)
    assert all(m.find(q(NS_SID, "stanza-id")).get("by") == b.bare for *_, m in items)
    assert owner_rows(server, b.user) == (5, 5)
    b.close()
    server.ctl_ok("account", "remove", b.bare)
    marks = ", ".join("?" for _ in sids)
    assert server.db_rows("SELECT count(*) FROM archive_stanza WHERE id IN (%s)" % marks,
                          sids) == [(0,)]


def test_pair_stored_once_across_batches(make_server, monkeypatch):
    """A message between two local accounts is serialized by its sender's side and reused by
    its recipient's: stored once even when the writer writes each row in its own batch, and
    both archives answer with their own stanza-ids (the recipient's added back)."""
    monkeypatch.setenv("STARLING_ARCHIVE_BATCH_MAX", "1")
    srv = make_server()
    a, b = pair(srv, "sb")
    sids = []
    for i in range(3):
        chat(a, b.bare, "p%d" % i)
        m = b.wait_for(lambda e, i=i: is_message(e, "p%d" % i), what="message")
        sids.append(m.find(q(NS_SID, "stanza-id")).get("id"))
    items, fin = mam(b)
    assert bodies(items) == ["p0", "p1", "p2"] and complete(fin), (items, dump(fin))
    assert [i for i, *_ in items] == sids
    for rid, _, _, m in items:
        got = [(s.get("by"), s.get("id")) for s in m.findall(q(NS_SID, "stanza-id"))]
        assert got == [(b.bare, rid)], dump(m)
    assert owner_rows(srv, a.user, b.user) == (3, 6)
    assert srv.db_rows("SELECT count(*) FROM archive_stanza") == [(3,)]
    items, fin = mam(a)
    assert bodies(items) == ["p0", "p1", "p2"] and complete(fin)
    assert not set(i for i, *_ in items) & set(sids)
    assert all(m.find(q(NS_SID, "stanza-id")) is None for *_, m in items)
    a.close()
    b.close()


def test_alias_recipient_archives_its_own_text(make_server):
    """A message to an alias of the domain: the router makes `to` canonical after the sender's
    side archived it, so the recipient's side does not take the sender's text (its `to` is
    the alias) but archives the message as delivered."""
    srv = make_server()
    srv.ctl_ok("domain", "set", "localhost", "aliases=alias.localhost")
    a, b = pair(srv, "al")
    chat(a, "%s@alias.localhost" % b.user, "via alias")
    m = b.wait_for(lambda e: is_message(e, "via alias"), what="message")
    sid = m.find(q(NS_SID, "stanza-id")).get("id")
    items, _ = mam(b)
    assert [(i, body) for i, body, _, _ in items] == [(sid, "via alias")]
    assert items[0][3].get("to") == m.get("to") and m.get("to").startswith(b.bare), dump(m)
    items, _ = mam(a)
    assert bodies(items) == ["via alias"]
    assert items[0][3].get("to") == "%s@alias.localhost" % b.user, dump(items[0][3])
    assert owner_rows(srv, a.user, b.user) == (2, 2)
    a.close()
    b.close()


def test_prefs_never_on_one_side_archives_the_other(server):
    """Preferences are each owner's: the recipient archives a message its sender's archive
    refused, and the other way round."""
    a, b = pair(server, "p1")
    assert prefs(a, "<prefs xmlns='%s' default='never'/>" % NS_MAM).get("type") == "result"
    chat(a, b.bare, "to b")
    m = b.wait_for(lambda e: is_message(e, "to b"), what="message")
    assert m.find(q(NS_SID, "stanza-id")).get("by") == b.bare, dump(m)
    chat(b, a.bare, "to a")
    m = a.wait_for(lambda e: is_message(e, "to a"), what="message")
    assert m.find(q(NS_SID, "stanza-id")) is None, dump(m)
    items, _ = mam(b)
    assert bodies(items) == ["to b", "to a"]
    assert items[0][3].find(q(NS_SID, "stanza-id")).get("by") == b.bare
    assert bodies(mam(a)[0]) == []
    assert owner_rows(server, a.user, b.user) == (2, 2)
    a.close()
    b.close()


def test_unknown_ids_item_not_found(server):
    a, b = fill(server, "nf", 2)
    for kw in ({"after": "12345"}, {"before": "nope"}):
        items, err = mam(b, max_=5, **kw)
        assert err.get("type") == "error" and rawxmpp.stanza_error(err)[1] == "item-not-found"
    items, err = mam(b, {"after-id": "999"})
    assert rawxmpp.stanza_error(err)[1] == "item-not-found"
    # Another account's id is unknown here too.
    mine, _ = mam(a)
    assert len(mine) == 2
    items, err = mam(b, max_=5, after=mine[0][0])
    assert rawxmpp.stanza_error(err)[1] == "item-not-found", dump(err)
    assert bodies(mam(b)[0]) == ["m00", "m01"]
    a.close()
    b.close()


def test_filters_with_time_ids(server):
    a, b = pair(server, "fl")
    c = login(server, fresh(server, "flc"), presence="")
    chat(a, b.bare, "from a 1")
    sync(a)
    chat(c, b.bare, "from c 1")
    sync(c)
    time.sleep(1.1)
    mid = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(0.2)
    chat(a, b.bare, "from a 2")
    sync(a)
    items, fin = mam(b, {"with": a.bare})
    assert bodies(items) == ["from a 1", "from a 2"] and complete(fin)
    items, _ = mam(b, {"with": c.jid})   # a full JID: that resource only
    assert bodies(items) == ["from c 1"]
    items, _ = mam(b, {"start": mid})
    assert bodies(items) == ["from a 2"]
    items, _ = mam(b, {"end": mid})
    assert bodies(items) == ["from a 1", "from c 1"]
    every, _ = mam(b)
    ids = [i for i, *_ in every]
    items, _ = mam(b, {"after-id": ids[0], "before-id": ids[2]})
    assert bodies(items) == ["from c 1"]
    items, _ = mam(b, {"ids": [ids[2], ids[0]]})
    assert bodies(items) == ["from a 1", "from a 2"]   # archive order, whatever the field's
    items, err = mam(b, {"ids": [ids[0], "12345"]})
    assert rawxmpp.stanza_error(err)[1] == "item-not-found"
    items, err = mam(b, {"no-such-field": "x"})
    assert err.get("type") == "error" and rawxmpp.stanza_error(err)[1] == "bad-request"
    for x in (a, b, c):
        x.close()


def test_fulltext(server):
    a, b = pair(server, "ft")
    for text in ("the quick brown fox", "a lazy dog", "quick thinking", "Brown \"bears\""):
        chat(a, b.bare, text)
    sync(a)
    items, fin = mam(b, {"{urn:xmpp:fulltext:0}fulltext": "quick"})
    assert bodies(items) == ["the quick brown fox", "quick thinking"] and complete(fin)
    items, _ = mam(b, {"{urn:xmpp:fulltext:0}fulltext": "brown quick"})
    assert bodies(items) == ["the quick brown fox"]
    items, _ = mam(b, {"{urn:xmpp:fulltext:0}fulltext": "\"bears\" OR"})
    assert items == []
    items, _ = mam(b, {"{urn:xmpp:fulltext:0}fulltext": "bears", "with": a.bare})
    assert bodies(items) == ["Brown \"bears\""]
    a.close()
    b.close()


def prefs(c, payload=None):
    if payload is None:
        return c.iq("get", "<prefs xmlns='%s'/>" % NS_MAM)
    return c.iq("set", payload)


def test_prefs_never_always_roster(server):
    a, b = pair(server, "pr")
    c = login(server, fresh(server, "prc"), presence="")
    r = prefs(b)
    assert r.find(q(NS_MAM, "prefs")).get("default") == "always", dump(r)
    r = prefs(b, "<prefs xmlns='%s' default='never'><always><jid>%s</jid></always><never/>"
                 "</prefs>" % (NS_MAM, a.bare))
    assert r.get("type") == "result", dump(r)
    p = prefs(b).find(q(NS_MAM, "prefs"))
    assert p.get("default") == "never"
    assert [j.text for j in p.find(q(NS_MAM, "always"))] == [a.bare]
    chat(a, b.bare, "from a")
    chat(c, b.bare, "from c")
    got = [b.wait_for(is_message, what="message").findtext(q(NS_CLIENT, "body")) for _ in "ac"]
    assert sorted(got) == ["from a", "from c"]
    assert bodies(mam(b)[0]) == ["from a"]
    # roster: only contacts in the roster; never list wins.
    prefs(b, "<prefs xmlns='%s' default='roster'><never><jid>%s</jid></never></prefs>"
          % (NS_MAM, a.bare))
    b.iq("set", "<query xmlns='jabber:iq:roster'><item jid='%s'/></query>" % c.bare)
    chat(a, b.bare, "from a 2")
    sync(a)
    chat(c, b.bare, "from c 2")
    sync(c)
    assert bodies(mam(b)[0]) == ["from a", "from c 2"]
    r = prefs(b, "<prefs xmlns='%s' default='sometimes'/>" % NS_MAM)
    assert rawxmpp.stanza_error(r)[1] == "bad-request"
    for x in (a, b, c):
        x.close()


def test_prefs_change_after_messages(server):
    """Preferences set after messages were archived apply to the next message (the workers
    remember accounts without preferences until a change)."""
    a, b = pair(server, "pc")
    chat(a, b.bare, "before")
    b.wait_for(lambda e: is_message(e, "before"), what="message")
    r = prefs(b, "<prefs xmlns='%s' default='never'/>" % NS_MAM)
    assert r.get("type") == "result", dump(r)
    chat(a, b.bare, "after")
    b.wait_for(lambda e: is_message(e, "after"), what="message")
    assert bodies(mam(b)[0]) == ["before"]
    assert bodies(mam(a)[0]) == ["before", "after"]
    a.close()
    b.close()


def test_other_account_archive_forbidden(server):
    a, b = pair(server, "fb")
    items, err = mam(a, to=b.bare)
    assert err.get("type") == "error" and rawxmpp.stanza_error(err)[1] == "forbidden", dump(err)
    a.close()
    b.close()


def test_offline_messages_archived_and_flood_skipped(server):
    a = login(server, fresh(server, "ofa"), presence="")
    bname = fresh(server, "ofb")
    chat(a, J % bname, "while away 1")
    chat(a, J % bname, "while away 2", extra="<no-store xmlns='urn:xmpp:hints'/>")
    sync(a)
    b = login(server, bname)
    b.bare = J % bname
    items, fin = mam(b)
    assert bodies(items) == ["while away 1"] and complete(fin)
    b.send("<presence/>")
    # Read from the archive before the initial presence: no offline copy of it.
    nothing(b, lambda e: is_message(e, "while away 1"), 0.8)
    b.close()
    # A client that does not use the archive gets its offline messages as before.
    cname = fresh(server, "ofc")
    chat(a, J % cname, "plain offline")
    sync(a)
    c = login(server, cname, presence="")
    m = c.wait_for(lambda e: is_message(e, "plain offline"), what="offline message")
    assert m.find(q(NS_SID, "stanza-id")) is not None, dump(m)
    c.close()
    a.close()


def test_metadata_and_disco(server):
    a, b = fill(server, "md", 3)
    every, _ = mam(b)
    r = b.iq("get", "<metadata xmlns='%s'/>" % NS_MAM)
    meta = r.find(q(NS_MAM, "metadata"))
    assert meta.find(q(NS_MAM, "start")).get("id") == every[0][0]
    assert meta.find(q(NS_MAM, "end")).get("id") == every[-1][0]
    r = b.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=b.bare)
    feats = {f.get("var") for f in r.iter(q("http://jabber.org/protocol/disco#info", "feature"))}
    assert {NS_MAM, NS_MAM + "#extended", "urn:xmpp:fulltext:0"} <= feats, feats
    a.close()
    b.close()


def test_removed_account_takes_its_archive(server):
    a, b = fill(server, "rm", 2)
    assert len(mam(a)[0]) == 2
    a.close()
    server.ctl_ok("account", "remove", a.bare)
    server.add_account(a.bare, "im-secret-1")
    a = login(server, a.user, presence="")
    items, fin = mam(a)
    assert items == [] and complete(fin)
    a.close()
    b.close()


def test_slixmpp_xep_0313_iterates_both_ways(server):
    import slix
    a, b = fill(server, "sx", 7)
    b.close()

    async def go():
        c = slix.Client(server, b.bare + "/slix", "im-secret-1", mech="PLAIN")
        c.xmpp.register_plugin("xep_0313")
        assert await c.connect() == "session"
        try:
            mam_ = c.xmpp.plugin["xep_0313"]
            forward = [m["mam_result"]["forwarded"]["stanza"]["body"]
                       async for m in mam_.iterate(rsm={"max": 3})]
            backward = [m["mam_result"]["forwarded"]["stanza"]["body"]
                        async for m in mam_.iterate(rsm={"max": 3}, reverse=True)]
            with_a = [m["mam_result"]["forwarded"]["stanza"]["body"]
                      async for m in mam_.iterate(with_jid=a.bare, rsm={"max": 50})]
            return forward, backward, with_a
        finally:
            await c.close()
    forward, backward, with_a = slix.run(go())
    want = ["m%02d" % i for i in range(7)]
    assert forward == want, forward
    assert backward == list(reversed(want)), backward
    assert with_a == want
    a.close()


def test_archive_survives_restart(make_server):
    from starling import Server
    srv = make_server()
    a, b = pair(srv, "rs")
    chat(a, b.bare, "before the restart")
    b.wait_for(lambda e: is_message(e, "before the restart"), what="message")
    a.close()
    b.close()
    assert srv.stop() == []
    srv2 = Server(datadir=srv.datadir)
    try:
        srv2.start()
        b = login(srv2, b.user, presence="")
        items, fin = mam(b)
        assert bodies(items) == ["before the restart"] and complete(fin)
        b.close()
    finally:
        problems = srv2.stop()
        srv2.cleanup()
    assert problems == [], problems


def test_ctl_archive_stats_and_purge(make_server):
    srv = make_server()
    a, b = pair(srv, "cp")
    for i in range(3):
        chat(a, b.bare, "old %d" % i)
    sync(a)
    mam(b)  # the archive is written
    out = srv.ctl_ok("archive", "stats", "localhost")
    assert re.search(r"^messages = 6$", out, re.M), out   # both sides of 3 messages
    # Messages of today are not older than a day: nothing removed.
    out = srv.ctl_ok("archive", "purge", "localhost", "--older-than", "1")
    assert re.search(r"^removed = 0$", out, re.M), out
    assert len(mam(b)[0]) == 3
    out = srv.ctl_ok("archive", "purge", "--older-than", "0")
    assert re.search(r"^removed = 6$", out, re.M), out
    items, fin = mam(b)
    assert items == [] and complete(fin)
    assert re.search(r"^messages = 0$", srv.ctl_ok("archive", "stats"), re.M)
    # The retention pass in the background, and the per-domain setting.
    assert "started" in srv.ctl_ok("archive", "purge")
    srv.ctl_ok("domain", "set", "localhost", "archive_keep_days=30")
    assert re.search(r"^archive_keep_days = 30$", srv.ctl_ok("domain", "show", "localhost"), re.M)
    r = srv.ctl("domain", "set", "localhost", "archive_keep_days=soon")
    assert r.returncode == 1
    r = srv.ctl("archive", "purge", "--older-than", "x")
    assert r.returncode == 2
    a.close()
    b.close()


def test_background_retention_pass(make_server):
    """An old message (written into the store as the archive would have 40 days ago) goes with
    the domain's 30-day retention in the writer's background pass; today's stay."""
    srv = make_server()
    a, b = pair(srv, "bg")
    chat(a, b.bare, "today")
    sync(a)
    assert bodies(mam(b)[0]) == ["today"]
    old = int((time.time() - 40 * 86400) * 1e6)
    srv.db_rows("INSERT INTO archive_jid(domain, name) VALUES ('localhost', ?), ('', ?)"
                " ON CONFLICT DO NOTHING", (b.user, a.bare))
    srv.db_rows("INSERT INTO archive_stanza(id, stanza, body) VALUES (?, ?, 'long ago')",
                (old, "<message xmlns='jabber:client' from='%s' to='%s' "
                 "type='chat'><body>long ago</body></message>" % (a.bare, b.bare)))
    srv.db_rows("INSERT INTO archive_idx(id, owner, peer, peer_res, outgoing, sid)"
                " SELECT ?, o.id, p.id, '', 0, ? FROM archive_jid o, archive_jid p"
                " WHERE o.domain = 'localhost' AND o.name = ? AND p.domain = '' AND p.name = ?",
                (old, old, b.user, a.bare))
    assert bodies(mam(b)[0]) == ["long ago", "today"]
    srv.ctl_ok("domain", "set", "localhost", "archive_keep_days=30")
    assert "started" in srv.ctl_ok("archive", "purge")
    deadline = time.monotonic() + 10
    while bodies(mam(b)[0]) != ["today"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert bodies(mam(b)[0]) == ["today"]
    a.close()
    b.close()


# PostgreSQL's archive tables of schema version 1 (SQLite's upgrade: tests/unit/test_store_archive.c).
PG_ARCHIVE_V1 = [
    "DROP TRIGGER archive_idx_gone ON archive_idx",
    "DROP FUNCTION archive_idx_gone()",
    "DROP TABLE archive_idx",
    "DROP TABLE archive_stanza",
    "DROP TABLE archive_jid",
    "CREATE TABLE archive_msg (id BIGINT PRIMARY KEY, domain TEXT NOT NULL, name TEXT NOT NULL,"
    " peer TEXT NOT NULL, peer_res TEXT NOT NULL DEFAULT '', outgoing BIGINT NOT NULL,"
    " stanza TEXT NOT NULL, body TEXT, body_tsv tsvector GENERATED ALWAYS AS"
    " (to_tsvector('simple', coalesce(body, ''))) STORED)",
    "UPDATE store_schema SET version = 1 WHERE area = 'archive'",
]


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL's upgrade (SQLite's: a unit test)")
def test_upgrade_from_archive_version_1_on_postgresql(make_server):
    """Rows written by the archive's schema version 1 are converted at the next start: the
    last page, a peer's rows and full text find them; new messages join them."""
    from starling import Server
    srv = make_server()
    a, b = pair(srv, "up")
    a.close()
    b.close()
    assert srv.stop() == []
    for sql in PG_ARCHIVE_V1:
        srv.db_rows(sql)
    base = int((time.time() - 3600) * 1e6)
    for i in range(3):
        srv.db_rows("INSERT INTO archive_msg(id, domain, name, peer, peer_res, outgoing, stanza,"
                    " body) VALUES (?, 'localhost', ?, ?, 'old', 0, ?, ?)",
                    (base + i, b.user, a.bare, "<message xmlns='jabber:client' from='%s/old' to='%s'"
                     " type='chat'><body>old %d</body></message>" % (a.bare, b.bare, i),
                     "old %d" % i))
    srv2 = Server(datadir=srv.datadir)
    try:
        srv2.start()
        assert srv2.db_rows("SELECT version FROM store_schema WHERE area = 'archive'") == [(2,)]
        a = login(srv2, a.user, presence="")
        b = login(srv2, b.user, presence="")
        chat(a, b.bare, "new 3")
        b.wait_for(lambda e: is_message(e, "new 3"), what="message")
        items, fin = mam(b)
        assert bodies(items) == ["old 0", "old 1", "old 2", "new 3"] and complete(fin)
        assert bodies(mam(b, {"with": a.bare + "/old"})[0]) == ["old 0", "old 1", "old 2"]
        items, fin = mam(b, {"{urn:xmpp:fulltext:0}fulltext": "old"}, max_=2)
        assert bodies(items) == ["old 0", "old 1"] and rsm_count_index(fin) == (3, "0")
        a.close()
        b.close()
    finally:
        problems = srv2.stop()
        srv2.cleanup()
    assert problems == [], problems
