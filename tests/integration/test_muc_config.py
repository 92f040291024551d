"""test_muc_config.py: a new room from creation to configuration: the creator's subject, the
owner's muc#admin requests while the room is locked, the status codes of configuration changes
(XEP-0045 §10.2.1), notices of affiliation changes of users not in the room, the room secret,
and refused configuration values."""

import pytest

import rawxmpp
from muchelp import (NS_ADMIN, NS_OWNER, NS_USER, NS_XDATA, admin, codes, configure, create,
                     instant, item, join, join_error, owned_room, room_jid, user)
from rawxmpp import NS_CLIENT, q, stanza_error

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


def is_status_message(e):
    return (e.tag == q(NS_CLIENT, "message") and e.get("type") == "groupchat"
            and e.find(q(NS_USER, "x")) is not None and not e.findtext(q(NS_CLIENT, "body")))


def config_values(c, room):
    r = c.iq("get", "<query xmlns='%s'/>" % NS_OWNER, to=room_jid(room))
    assert r.get("type") == "result", rawxmpp.dump(r)
    return {f.get("var"): f.findtext(q(NS_XDATA, "value"))
            for f in r.iter(q(NS_XDATA, "field"))}


# ---- creation ------------------------------------------------------------------------------------

def test_creator_gets_subject_after_201(server):
    """Clients (slixmpp's join) wait for the subject as the end of the join: the creator of a
    locked room gets the empty subject right after its 201 self-presence."""
    a = user(server, "subjcreator")
    p = join(a, "newsubj", "Creator")
    assert {110, 201} <= codes(p)
    nxt = a.next()
    assert nxt.tag == q(NS_CLIENT, "message") and nxt.get("type") == "groupchat", \
        rawxmpp.dump(nxt)
    assert nxt.get("from") == room_jid("newsubj")
    subject = nxt.find(q(NS_CLIENT, "subject"))
    assert subject is not None and not subject.text
    a.close()


def test_owner_admin_requests_in_locked_room(server):
    o = user(server, "lockowner")
    b = user(server, "lockother")
    join(o, "lockadm", "Owner")
    # The lists can be read and changed before the room is configured...
    r = admin(o, "lockadm", "<item affiliation='outcast'/>", "get")
    assert r.get("type") == "result", rawxmpp.dump(r)
    assert list(r.iter(q(NS_ADMIN, "item"))) == []
    r = admin(o, "lockadm", "<item jid='lockother@localhost' affiliation='outcast'>"
                            "<reason>not welcome</reason></item>")
    assert r.get("type") == "result", rawxmpp.dump(r)
    r = admin(o, "lockadm", "<item affiliation='outcast'/>", "get")
    items = list(r.iter(q(NS_ADMIN, "item")))
    assert [(i.get("jid"), i.findtext(q(NS_ADMIN, "reason"))) for i in items] == \
        [("lockother@localhost", "not welcome")]
    r = admin(o, "lockadm", "<item affiliation='owner'/>", "get")
    assert [i.get("jid") for i in r.iter(q(NS_ADMIN, "item"))] == ["lockowner@localhost"]
    # ...but by the owner only, and the lock still keeps others out.
    r = admin(b, "lockadm", "<item affiliation='outcast'/>", "get")
    assert stanza_error(r) == ("cancel", "item-not-found")
    assert join_error(b, "lockadm", "Other") == ("cancel", "item-not-found")
    instant(o, "lockadm")
    assert join_error(b, "lockadm", "Other") == ("auth", "forbidden")
    o.close()
    b.close()


# ---- status codes of configuration changes ------------------------------------------------------

def test_first_configuration_status_codes(server):
    o = user(server, "codesowner")
    join(o, "codes1", "Owner")
    r = configure(o, "codes1", roomname="Codes", whois="anyone", enablelogging="1")
    assert r.get("type") == "result", rawxmpp.dump(r)
    m = o.wait_for(is_status_message, what="configuration notice")
    assert codes(m) == {104, 170, 172}
    o.close()


def test_configuration_change_status_codes(server):
    o = user(server, "codes2owner")
    p = user(server, "codes2part")
    create(o, "codes2", "Owner", whois="anyone", enablelogging="1")
    o.wait_for(is_status_message, what="first configuration notice")
    # A logged non-anonymous room says both in the self-presence.
    assert {100, 170} <= codes(join(p, "codes2", "Part"))
    steps = [({"enablelogging": "0"}, {171}),
             ({"whois": "moderators"}, {173}),
             ({"roomdesc": "About codes"}, {104}),
             ({"enablelogging": "1", "roomname": "Renamed"}, {104, 170})]
    for fields, expected in steps:
        r = configure(o, "codes2", **fields)
        assert r.get("type") == "result", rawxmpp.dump(r)
        m = p.wait_for(is_status_message, what="notice for %s" % fields)
        assert codes(m) == expected, (fields, rawxmpp.dump(m))
    o.close()
    p.close()


# ---- affiliation changes of users not in the room -----------------------------------------------

def test_non_occupant_affiliation_notices(server):
    o = user(server, "affnowner")
    p = user(server, "affnpart")
    create(o, "affn", "Owner", whois="anyone", membersonly="1")
    admin(o, "affn", "<item jid='affnpart@localhost' affiliation='member'/>")
    join(p, "affn", "Part")
    # A ban of someone not in the room: 301 with the reason, to the occupants.
    r = admin(o, "affn", "<item jid='troll@example.net' affiliation='outcast'>"
                         "<reason>spam</reason></item>")
    assert r.get("type") == "result", rawxmpp.dump(r)
    m = p.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and 301 in codes(e))
    assert m.get("from") == room_jid("affn")
    it = item(m)
    assert (it.get("jid"), it.get("affiliation")) == ("troll@example.net", "outcast")
    assert it.findtext(q(NS_USER, "reason")) == "spam"
    # A member not in the room removed from a members-only room: 321.
    admin(o, "affn", "<item jid='absent@example.net' affiliation='member'/>")
    admin(o, "affn", "<item jid='absent@example.net' affiliation='none'/>")
    m = p.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and 321 in codes(e))
    assert (item(m).get("jid"), item(m).get("affiliation")) == ("absent@example.net", "none")
    o.close()
    p.close()


def test_non_occupant_notice_hides_jid_from_participants(server):
    """In a semi-anonymous room the notice (it names a JID) goes to moderators only."""
    o = owned_room(server, "affsowner", "affs")
    p = user(server, "affspart")
    join(p, "affs", "Part")
    seen = []
    o.send("<iq type='set' id='ban1' to='%s'><query xmlns='%s'>"
           "<item jid='troll@example.net' affiliation='outcast'/></query></iq>"
           % (room_jid("affs"), NS_ADMIN))
    o.wait_for(lambda e: seen.append(e) or e.get("id") == "ban1")
    assert [e for e in seen if 301 in codes(e)], "the moderator is told"
    # The participant sees the next groupchat message and no notice before it.
    seen = []
    o.send("<message type='groupchat' to='%s'><body>marker</body></message>" % room_jid("affs"))
    p.wait_for(lambda e: seen.append(e) or e.findtext(q(NS_CLIENT, "body")) == "marker")
    assert not [e for e in seen if 301 in codes(e)], [rawxmpp.dump(e) for e in seen]
    o.close()
    p.close()


# ---- the room secret and refused values ---------------------------------------------------------

def test_secret_alone_protects_the_room(server):
    o = user(server, "secowner")
    x = user(server, "secguest")
    create(o, "secretonly", "Owner", roomsecret="sesame")
    r = o.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=room_jid("secretonly"))
    feats = [f.get("var") for f in r.iter(q(NS_DISCO_INFO, "feature"))]
    assert "muc_passwordprotected" in feats
    assert config_values(o, "secretonly")["muc#roomconfig_passwordprotectedroom"] == "1"
    assert join_error(x, "secretonly", "X") == ("auth", "not-authorized")
    join(x, "secretonly", "X", password="sesame")
    # A secret for a room said to be unprotected is a contradiction: refused.
    r = configure(o, "secretonly", passwordprotectedroom="0", roomsecret="other")
    assert stanza_error(r) == ("modify", "not-acceptable")
    # Unprotecting (without a secret) clears the secret.
    r = configure(o, "secretonly", passwordprotectedroom="0")
    assert r.get("type") == "result", rawxmpp.dump(r)
    assert not config_values(o, "secretonly")["muc#roomconfig_roomsecret"]
    o.close()
    x.close()


INVALID = [
    {"maxusers": "-5abc"},
    {"maxusers": "12x"},
    {"whois": "everybody"},
    {"roomsecret": "s" * 300},
    {"roomname": "n" * 300},
    {"roomdesc": "d" * 2000},
    {"membersonly": "yes"},
    {"allowpm": "friends"},
    {"muc#maxhistoryfetch": "-1"},
    {"passwordprotectedroom": "1"},
]


@pytest.mark.parametrize("n", range(len(INVALID)))
def test_invalid_values_refused(server, n):
    fields = INVALID[n]
    o = user(server, "badvalowner")
    room = "badval%d" % n
    create(o, room, "Owner", roomname="Kept", maxusers="20")
    before = config_values(o, room)
    r = configure(o, room, **dict(fields, roomdesc=fields.get("roomdesc", "changed")))
    assert stanza_error(r) == ("modify", "not-acceptable"), rawxmpp.dump(r)
    # Nothing of a refused form is applied.
    assert config_values(o, room) == before
    o.close()


def test_slixmpp_creator_join_completes(server):
    """Debian's slixmpp 1.8 join_muc_wait() returns only once the subject arrived: the creator
    of a new room must get it (it timed out before)."""
    import slix
    server.ctl("account", "add", "slixcreator@localhost", "--password", "password1")

    async def go():
        c = slix.Client(server, "slixcreator@localhost/s", "password1", mech="PLAIN")
        c.xmpp.register_plugin("xep_0045")
        assert await c.connect() == "session"
        try:
            c.xmpp.send_presence()
            presence, subject, _, _ = await c.xmpp.plugin["xep_0045"].join_muc_wait(
                room_jid("slixroom"), "Creator", maxstanzas=0, timeout=5)
            return ({int(s) for s in presence["muc"]["status_codes"]}, subject["subject"],
                    str(subject["from"]))
        finally:
            await c.close()
    codes_, subject, frm = slix.run(go())
    assert 201 in codes_ and subject == "" and frm == room_jid("slixroom")
