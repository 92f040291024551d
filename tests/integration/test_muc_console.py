"""test_muc_console.py (issue 20): the administrator's chat room ops (muc.rooms, muc.room,
muc.kick, muc.ban, muc.destroy) over starlingctl: the occupants are told as XEP-0045 says."""

import json

import pytest

from muchelp import codes, create, join, owned_room, room_jid, say, user, wait_groupchat
from rawxmpp import NS_CLIENT, q

NS_USER = "http://jabber.org/protocol/muc#user"


def unavailable_from(c, frm):
    return c.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == frm
                      and e.get("type") == "unavailable", what="unavailable from %s" % frm)


def rooms(srv):
    return {r["jid"]: r for r in json.loads(srv.ctl_ok("muc", "rooms", "localhost"))}


def test_rooms_show_kick_ban_destroy(server):
    owner = owned_room(server, "mcowner", "lounge")
    keep = user(server, "mckeep")
    join(keep, "lounge", "Keep")
    pers = user(server, "mcpers")
    create(pers, "archive", "Pers", persistentroom="1")
    say(owner, "lounge", "hello")
    wait_groupchat(keep, "hello")
    try:
        listed = rooms(server)
        lounge = listed[room_jid("lounge")]
        assert lounge["occupants"] == 2 and lounge["persistent"] is False
        assert lounge["last_activity"] > 0
        assert listed[room_jid("archive")]["persistent"] is True

        room = json.loads(server.ctl_ok("muc", "show", "localhost", "lounge"))
        occ = {o["nick"]: o for o in room["occupants"]}
        assert occ["Owner"]["affiliation"] == "owner" and occ["Owner"]["role"] == "moderator"
        assert occ["Keep"]["jid"].startswith("mckeep@localhost/")
        assert any(a["jid"] == "mcowner@localhost" and a["affiliation"] == "owner"
                   for a in room["affiliations"])
        assert "persistent=0" in room["config"]
        assert "secret=" not in room["config"]  # the occupant-id key stays in the room

        # Kick: the occupant learns it (status 307) with the reason.
        server.ctl_ok("muc", "kick", "localhost", "lounge", "Keep", "be nice")
        p = unavailable_from(keep, room_jid("lounge") + "/Keep")
        assert 307 in codes(p)
        x = p.find(q(NS_USER, "x"))
        assert x.find(q(NS_USER, "item")).find(q(NS_USER, "reason")).text == "be nice"
        assert server.ctl("muc", "kick", "localhost", "lounge", "Nobody").returncode == 1

        # Ban: outcast, removed (301), cannot come back.
        join(keep, "lounge", "Keep")
        server.ctl_ok("muc", "ban", "localhost", "lounge", "mckeep@localhost", "spam")
        p = unavailable_from(keep, room_jid("lounge") + "/Keep")
        assert 301 in codes(p)
        room = json.loads(server.ctl_ok("muc", "show", "localhost", room_jid("lounge")))
        assert any(a["jid"] == "mckeep@localhost" and a["affiliation"] == "outcast"
                   for a in room["affiliations"])
        keep.send("<presence to='%s/Keep'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
                  % room_jid("lounge"))
        err = keep.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence")
                            and e.get("type") == "error", what="the banned join refused")
        assert err.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}forbidden") is not None

        # Destroy with a reason: occupants told, the room gone, a persistent one from the store.
        server.ctl_ok("muc", "destroy", "localhost", "lounge", "closing down")
        p = unavailable_from(owner, room_jid("lounge") + "/Owner")
        d = p.find(q(NS_USER, "x")).find(q(NS_USER, "destroy"))
        assert d is not None and d.find(q(NS_USER, "reason")).text == "closing down"
        server.ctl_ok("muc", "destroy", "localhost", "archive")
        listed = rooms(server)
        assert room_jid("lounge") not in listed and room_jid("archive") not in listed
        assert server.ctl("muc", "show", "localhost", "lounge").returncode == 1
        assert server.wait_log(r"ADMIN .*room lounge@conference\.localhost: destroy")
    finally:
        for c in (owner, keep, pers):
            c.close()


def test_room_of_another_service_refused(server):
    r = server.ctl("muc", "show", "localhost", "x@conference.elsewhere.test")
    assert r.returncode == 1 and "not a room of conference.localhost" in r.stderr
