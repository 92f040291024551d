"""test_muc_fanout.py: a room's message fanned out to occupants homed on both workers (one post per
worker, the message lent to each session): every occupant gets it once, addressed to it; an
occupant that blocked the room gets nothing; one with stream management (XEP-0198) gets it again
on resumption; one that said it is inactive (XEP-0352) gets what was held for it first."""

import itertools
import uuid

import test_sm
from imclient import NS_CLIENT, PASSWORD, drop, nothing
from muchelp import join, room_jid, say, user, wait_groupchat
from rawxmpp import dump, q

NS_SM = "urn:xmpp:sm:3"
NS_CSI = "urn:xmpp:csi:0"
NS_BLOCKING = "urn:xmpp:blocking"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"

SERVER_OPTIONS = {"xmpp.receiving.ping_interval": "0"}

_seq = itertools.count()


def home_worker(bare, workers=2):
    """The account's home worker as the server computes it (core/worker.c: FNV-1a mod N)."""
    h = 1469598103934665603
    for b in bare.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % workers


def names_on(worker, n, prefix):
    """n fresh account names homed on `worker`."""
    out = []
    while len(out) < n:
        name = "%s%d%s" % (prefix, next(_seq), uuid.uuid4().hex[:4])
        if home_worker("%s@localhost" % name) == worker:
            out.append(name)
    return out


def is_groupchat(e):
    """A groupchat message with a body (not the subject sent on joining)."""
    return (e.tag == q(NS_CLIENT, "message") and e.get("type") == "groupchat"
            and e.find(q(NS_CLIENT, "body")) is not None)


def room_of(prefix, server, names):
    """A room with one occupant per name (the first creates it); returns (room, clients)."""
    room = "%s%s" % (prefix, uuid.uuid4().hex[:6])
    clients = []
    for i, name in enumerate(names):
        c = user(server, name)
        c.name = name
        join(c, room, "n%d" % i)
        if i == 0:
            c.iq("set", "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                 "<x xmlns='jabber:x:data' type='submit'/></query>", to=room_jid(room))
        clients.append(c)
    return room, clients


def test_every_occupant_on_both_workers_gets_it_once(server):
    names = names_on(0, 3, "fa") + names_on(1, 3, "fb")
    room, cs = room_of("fan", server, names)
    say(cs[0], room, "hello all")
    say(cs[4], room, "and again")
    # From two senders on two workers: in either order.
    for c in cs:
        got = {}
        for _ in range(2):
            m = c.wait_for(is_groupchat, what="groupchat")
            assert m.get("to") == "%s@localhost/r" % c.name, dump(m)
            got[m.findtext(q(NS_CLIENT, "body"))] = m.get("from")
        assert got == {"hello all": "%s/n0" % room_jid(room),
                       "and again": "%s/n4" % room_jid(room)}, got
        nothing(c, is_groupchat, 0.2)
    for c in cs:
        c.close()


def block(c, jid, verb="block"):
    r = c.iq("set", "<%s xmlns='%s'><item jid='%s'/></%s>" % (verb, NS_BLOCKING, jid, verb))
    assert r.get("type") == "result", dump(r)


def test_occupant_that_blocked_the_room_gets_nothing(server):
    names = names_on(0, 2, "ba") + names_on(1, 2, "bb")
    room, cs = room_of("blk", server, names)
    blocker_same, blocker_other = cs[1], cs[3]  # on the room's worker or not, one of each
    for b in (blocker_same, blocker_other):
        block(b, room_jid(room))
    say(cs[0], room, "not for you")
    for c in (cs[0], cs[2]):
        wait_groupchat(c, "not for you")
    for b in (blocker_same, blocker_other):
        nothing(b, is_groupchat, 0.5)
        block(b, room_jid(room), "unblock")
    say(cs[2], room, "for everyone")
    for c in cs:
        wait_groupchat(c, "for everyone")
    for c in cs:
        c.close()


def test_stream_management_occupant_gets_room_messages_again_on_resumption(server):
    [sm_name] = names_on(1, 1, "sm")
    [other] = names_on(0, 1, "so")
    room = "smr%s" % uuid.uuid4().hex[:6]
    o = user(server, other)
    join(o, room, "owner")
    o.iq("set", "<query xmlns='http://jabber.org/protocol/muc#owner'>"
         "<x xmlns='jabber:x:data' type='submit'/></query>", to=room_jid(room))
    server.ctl("account", "add", "%s@localhost" % sm_name, "--password", PASSWORD)
    a = test_sm.sm_login(server, sm_name)
    join(a, room, "mobile")
    say(o, room, "g1")
    wait_groupchat(a, "g1")
    drop(a)
    assert server.wait_log(r"%s@localhost/r: connection lost, session kept" % sm_name), \
        server.log_text()[-2000:]
    say(o, room, "g2")
    o.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    c, el = test_sm.resume(server, sm_name, a.previd, 0)
    assert el.tag == q(NS_SM, "resumed"), dump(el)
    got = [c.wait_for(is_groupchat, what="resent groupchat") for _ in range(2)]
    assert [e.findtext(q(NS_CLIENT, "body")) for e in got] == ["g1", "g2"], [dump(e) for e in got]
    nothing(c, is_groupchat, 0.3)
    say(o, room, "g3")
    wait_groupchat(c, "g3")
    c.close()
    o.close()


def test_inactive_occupant_gets_what_was_held_first(server):
    """XEP-0352: presence held for an inactive occupant goes out before a room message, which
    is urgent (a lent message takes the session's ordinary delivery then)."""
    names = names_on(0, 1, "ca") + names_on(1, 1, "cb")
    room, (speaker, quiet) = room_of("csi", server, names)
    quiet.send("<inactive xmlns='%s'/>" % NS_CSI)
    quiet.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    quiet_jid = "%s@localhost/r" % quiet.name
    speaker.send("<presence to='%s'><status>held</status></presence>" % quiet_jid)
    speaker.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    speaker_jid = "%s@localhost/r" % speaker.name
    is_from_speaker = lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == speaker_jid
    nothing(quiet, is_from_speaker, 0.5)
    say(speaker, room, "urgent")
    first = quiet.wait_for(lambda e: is_from_speaker(e) or is_groupchat(e), what="held presence")
    assert is_from_speaker(first) and first.findtext(q(NS_CLIENT, "status")) == "held", dump(first)
    wait_groupchat(quiet, "urgent")
    speaker.close()
    quiet.close()
