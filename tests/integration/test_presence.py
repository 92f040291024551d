"""test_presence.py: RFC 6121 §3-4 with several accounts and resources: the subscription
handshake, the state transitions of Appendix A (checked against an independent model of both
ends), pre-approval, the stored request at login, presence broadcast, probes, directed presence,
priorities and unavailable presence on abrupt disconnection."""

import socket

import pytest

import rawxmpp
from rawxmpp import q, dump
from imclient import (PASSWORD, NS_ROSTER, fresh, login, is_presence, push_item, roster,
                      nothing, settle, item_state, befriend)

J = "%s@localhost"


# ---- an independent model of Appendix A, for both ends of a local pair ---------------------

class Side:
    def __init__(self):
        self.to = False      # receives the other's presence
        self.frm = False     # the other receives its presence
        self.ask = False     # Pending Out
        self.pin = False     # Pending In
        self.approved = False

    def view(self):
        sub = {(False, False): "none", (True, False): "to", (False, True): "from",
               (True, True): "both"}[(self.to, self.frm)]
        return sub, ("subscribe" if self.ask else None)


def model_out(s, t):
    """Outbound processing at the sender; returns True when the stanza is routed."""
    if t == "subscribe":
        if not s.to:
            s.ask = True
        return True
    if t == "unsubscribe":
        s.to = False
        s.ask = False
        return True
    if t == "subscribed":
        if s.pin:
            s.frm, s.pin, s.approved = True, False, False
            return True
        if not s.frm:
            s.approved = True
        return False
    if t == "unsubscribed":
        routed = s.frm or s.pin or not s.approved
        s.frm, s.pin, s.approved = False, False, False
        return routed
    raise ValueError(t)


def model_in(s, t, sender):
    """Inbound processing at the receiver; may answer (auto-subscribed) to the sender."""
    if t == "subscribe":
        if s.frm:
            model_in(sender, "subscribed", s)
        elif s.approved:
            s.frm, s.approved = True, False
            model_in(sender, "subscribed", s)
        else:
            s.pin = True
    elif t == "subscribed":
        if s.ask:
            s.to, s.ask = True, False
    elif t == "unsubscribe":
        if s.frm or s.pin:
            s.frm, s.pin = False, False
    elif t == "unsubscribed":
        if s.to or s.ask:
            s.to, s.ask = False, False


def model_send(sender, receiver, t):
    if model_out(sender, t):
        model_in(receiver, t, sender)


# How to reach each state of Appendix A, as (sender, type) steps: "u" is the user whose state is
# named, "c" the contact.
SETUPS = {
    "None": [],
    "None + Pending Out": [("u", "subscribe")],
    "None + Pending In": [("c", "subscribe")],
    "None + Pending Out/In": [("u", "subscribe"), ("c", "subscribe")],
    "To": [("u", "subscribe"), ("c", "subscribed")],
    "To + Pending In": [("u", "subscribe"), ("c", "subscribed"), ("c", "subscribe")],
    "From": [("c", "subscribe"), ("u", "subscribed")],
    "From + Pending Out": [("c", "subscribe"), ("u", "subscribed"), ("u", "subscribe")],
    "Both": [("u", "subscribe"), ("c", "subscribed"), ("c", "subscribe"), ("u", "subscribed")],
}
EVENTS = [(who, t) for who in ("u", "c")
          for t in ("subscribe", "subscribed", "unsubscribe", "unsubscribed")]


@pytest.mark.parametrize("event", EVENTS, ids=["%s-%s" % e for e in EVENTS])
@pytest.mark.parametrize("state", list(SETUPS))
def test_subscription_state_table(server, state, event):
    """Every state of Appendix A × every subscription stanza from either end: both rosters
    (subscription and ask, i.e. the user's Pending In as well) match the model."""
    u_name, c_name = fresh(server, "tu"), fresh(server, "tc")
    u, c = login(server, u_name, roster=True), login(server, c_name, roster=True)
    try:
        model = {"u": Side(), "c": Side()}
        clients = {"u": u, "c": c}
        jids = {"u": J % u_name, "c": J % c_name}

        def send(who, t):
            other = "c" if who == "u" else "u"
            clients[who].send("<presence to='%s' type='%s'/>" % (jids[other], t))
            model_send(model[who], model[other], t)

        for who, t in SETUPS[state] + [event]:
            send(who, t)
            # A round trip on each stream orders everything the step caused before the next.
            settle(u, c, timeout=0.05)
            for cl in (u, c):
                cl.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
        settle(u, c, timeout=0.1)
        got_u = item_state(u, jids["c"])
        got_c = item_state(c, jids["u"])
        assert got_u == model["u"].view(), "user: %s, model %s" % (got_u, model["u"].view())
        assert got_c == model["c"].view(), "contact: %s, model %s" % (got_c, model["c"].view())
    finally:
        u.close()
        c.close()


def test_handshake_pushes_and_presence(server):
    """§3.1: request, approval, pushes with ask and subscription, and presence flowing after."""
    a_name, b_name = fresh(server, "ha"), fresh(server, "hb")
    a = login(server, a_name, roster=True, presence="<status>here</status>")
    b = login(server, b_name, "phone", roster=True, presence="<show>dnd</show>")
    try:
        a.send("<presence to='%s' type='subscribe' id='s1'><status>add me</status></presence>"
               % (J % b_name))
        item = push_item(a, J % b_name)
        assert item.get("subscription") == "none" and item.get("ask") == "subscribe", dump(item)
        req = b.wait_for(lambda e: is_presence(e, type_="subscribe"), what="subscribe")
        assert req.get("from") == J % a_name, dump(req)
        assert req.findtext(q(rawxmpp.NS_CLIENT, "status")) == "add me", dump(req)
        b.send("<presence to='%s' type='subscribed'/>" % (J % a_name))
        item = push_item(b, J % a_name)
        assert item.get("subscription") == "from", dump(item)
        item = push_item(a, J % b_name)
        assert item.get("subscription") == "to" and item.get("ask") is None, dump(item)
        a.wait_for(lambda e: is_presence(e, type_="subscribed", frm=J % b_name), what="subscribed")
        # §3.1.5: the contact's available resources' presence follows the approval.
        p = a.wait_for(lambda e: is_presence(e, frm=J % b_name + "/phone", type_=None),
                       what="b's presence")
        assert p.findtext(q(rawxmpp.NS_CLIENT, "show")) == "dnd", dump(p)
        # b's presence updates reach a; a's do not reach b (b has no subscription to a).
        b.send("<presence><show>away</show></presence>")
        p = a.wait_for(lambda e: is_presence(e, frm=J % b_name + "/phone"), what="update")
        assert p.findtext(q(rawxmpp.NS_CLIENT, "show")) == "away", dump(p)
        a.send("<presence><status>changed</status></presence>")
        nothing(b, lambda e: is_presence(e, frm=a.jid))
    finally:
        a.close()
        b.close()


def test_pending_request_kept_and_delivered_at_login(server):
    """§3.1.3: a request to an offline user is stored whole and delivered on initial presence,
    again at each login until answered."""
    a_name, b_name = fresh(server, "pa"), fresh(server, "pb")
    a = login(server, a_name, roster=True)
    a.send("<presence to='%s' type='subscribe' id='keep1'><status>it is me</status>"
           "<nick xmlns='http://jabber.org/protocol/nick'>Alice A</nick></presence>" % (J % b_name))
    push_item(a, J % b_name)
    a.close()
    for _ in range(2):
        b = login(server, b_name)
        nothing(b, lambda e: is_presence(e, type_="subscribe"), 0.3)
        b.send("<presence/>")
        req = b.wait_for(lambda e: is_presence(e, type_="subscribe"), what="stored request")
        assert req.get("from") == J % a_name, dump(req)
        assert req.get("id") == "keep1", dump(req)
        assert req.findtext(q(rawxmpp.NS_CLIENT, "status")) == "it is me", dump(req)
        assert req.findtext(q("http://jabber.org/protocol/nick", "nick")) == "Alice A", dump(req)
        b.close()
    b = login(server, b_name, roster=True, presence="")
    b.send("<presence to='%s' type='subscribed'/>" % (J % a_name))
    push_item(b, J % a_name)
    b.close()
    b = login(server, b_name)
    b.send("<presence/>")
    nothing(b, lambda e: is_presence(e, type_="subscribe"))
    b.close()
    a = login(server, a_name)
    assert item_state(a, J % b_name) == ("to", None)
    a.close()


def test_preapproval(server):
    """§3.4: subscribed before any request pre-approves; the later request is approved by the
    server, and the approval shows in the roster."""
    a_name, b_name = fresh(server, "aa"), fresh(server, "ab")
    a = login(server, a_name, roster=True, presence="")
    b = login(server, b_name, roster=True, presence="")
    try:
        b.send("<presence to='%s' type='subscribed'/>" % (J % a_name))
        item = push_item(b, J % a_name)
        assert item.get("approved") == "true" and item.get("subscription") == "none", dump(item)
        nothing(a, lambda e: is_presence(e, type_="subscribed"), 0.3)
        a.send("<presence to='%s' type='subscribe'/>" % (J % b_name))
        a.wait_for(lambda e: is_presence(e, type_="subscribed", frm=J % b_name), what="subscribed")
        item = push_item(b, J % a_name)
        assert item.get("subscription") == "from" and item.get("approved") is None, dump(item)
        nothing(b, lambda e: is_presence(e, type_="subscribe"), 0.3)
        assert item_state(a, J % b_name) == ("to", None)
    finally:
        a.close()
        b.close()


def test_initial_presence_probe_broadcast_and_own_resources(server):
    """§4.2, §4.3: initial presence goes to subscribers and own resources; probes bring the
    contacts' current presence of each resource; unavailable on logout."""
    a_name, b_name = fresh(server, "ia"), fresh(server, "ib")
    befriend(server, a_name, b_name)
    b1 = login(server, b_name, "one", presence="<priority>5</priority><status>b1</status>")
    b2 = login(server, b_name, "two", presence="<priority>-1</priority><status>b2</status>")
    b1.wait_for(lambda e: is_presence(e, frm=b2.jid), what="own other resource")
    a1 = login(server, a_name, "desk")
    try:
        a1.send("<presence><status>hi</status></presence>")
        seen = set()
        while seen != {b1.jid, b2.jid, a1.jid}:
            e = a1.wait_for(lambda e: is_presence(e, type_=None), what="presence")
            seen.add(e.get("from"))
        for b in (b1, b2):
            p = b.wait_for(lambda e: is_presence(e, frm=a1.jid), what="a's initial presence")
            assert p.findtext(q(rawxmpp.NS_CLIENT, "status")) == "hi", dump(p)
        # A second resource of a gets a1's presence (own resources) and the contacts' again.
        a2 = login(server, a_name, "laptop")
        a2.send("<presence/>")
        froms = set()
        while not {a1.jid, b1.jid, b2.jid} <= froms:
            froms.add(a2.wait_for(lambda e: is_presence(e, type_=None), what="p").get("from"))
        a1.wait_for(lambda e: is_presence(e, frm=a2.jid), what="a2 to a1")
        # Explicit unavailable with status reaches everyone.
        a2.send("<presence type='unavailable'><status>bye</status></presence>")
        for x in (a1, b1, b2):
            p = x.wait_for(lambda e: is_presence(e, frm=a2.jid, type_="unavailable"), what="u")
            assert p.findtext(q(rawxmpp.NS_CLIENT, "status")) == "bye", dump(p)
        a2.close()
    finally:
        for x in (a1, b1, b2):
            x.close()


def test_abrupt_disconnect_sends_unavailable(server):
    """§4.5: a session lost without a word still ends in unavailable presence for subscribers
    and directed-presence recipients."""
    a_name, b_name, d_name = fresh(server, "xa"), fresh(server, "xb"), fresh(server, "xd")
    befriend(server, a_name, b_name)
    b = login(server, b_name, presence="")
    d = login(server, d_name, presence="")
    a = login(server, a_name, presence="")
    b.wait_for(lambda e: is_presence(e, frm=a.jid, type_=None), what="a available")
    a.send("<presence to='%s'><status>psst</status></presence>" % (J % d_name))
    p = d.wait_for(lambda e: is_presence(e, frm=a.jid), what="directed")
    assert p.findtext(q(rawxmpp.NS_CLIENT, "status")) == "psst", dump(p)
    a_jid = a.jid
    a.sock.shutdown(socket.SHUT_RDWR)
    a.close()
    b.wait_for(lambda e: is_presence(e, frm=a_jid, type_="unavailable"), 10, "b: unavailable")
    d.wait_for(lambda e: is_presence(e, frm=a_jid, type_="unavailable"), 10, "d: unavailable")
    b.close()
    d.close()


def test_directed_presence_unavailable_cleanup(server):
    """§4.6: a directed unavailable ends the tracking; nothing more is sent at logout."""
    a_name, d_name = fresh(server, "da"), fresh(server, "dd")
    d = login(server, d_name, presence="")
    a = login(server, a_name, presence="")
    a.send("<presence to='%s'/>" % (J % d_name))
    d.wait_for(lambda e: is_presence(e, frm=a.jid, type_=None), what="directed")
    a.send("<presence to='%s' type='unavailable'/>" % (J % d_name))
    d.wait_for(lambda e: is_presence(e, frm=a.jid, type_="unavailable"), what="directed unav")
    a.close()
    nothing(d, lambda e: is_presence(e, type_="unavailable"))
    d.close()


def test_probe_of_offline_contact_gives_unavailable_with_last_status(server):
    """§4.3.2: a contact with no available resource answers a probe with its last unavailable
    presence (status and delay stamp)."""
    a_name, b_name = fresh(server, "oa"), fresh(server, "ob")
    befriend(server, a_name, b_name)
    b = login(server, b_name, presence="")
    b.send("<presence type='unavailable'><status>gone fishing</status></presence>")
    b.close()
    a = login(server, a_name)
    a.send("<presence/>")
    p = a.wait_for(lambda e: is_presence(e, frm=J % b_name, type_="unavailable"), what="probe")
    assert p.findtext(q(rawxmpp.NS_CLIENT, "status")) == "gone fishing", dump(p)
    d = p.find(q("urn:xmpp:delay", "delay"))
    assert d is not None and d.get("stamp"), dump(p)
    a.close()


def test_no_presence_without_subscription_and_unknown_contact(server):
    """Presence goes only where it is allowed: a probe from a non-subscriber reveals nothing;
    a subscription request to a non-existent account is answered with unsubscribed, which
    clears the pending request (§3.1.3)."""
    a_name, b_name = fresh(server, "na"), fresh(server, "nb")
    b = login(server, b_name, presence="")
    a = login(server, a_name, roster=True, presence="")
    try:
        a.send("<presence to='%s' type='probe'/>" % (J % b_name))
        nothing(a, lambda e: is_presence(e, frm=b.jid))
        a.send("<presence to='nobody-here@localhost' type='subscribe'/>")
        item = push_item(a, "nobody-here@localhost")
        assert item.get("ask") == "subscribe", dump(item)
        item = push_item(a, "nobody-here@localhost")
        assert item.get("ask") is None and item.get("subscription") == "none", dump(item)
        a.wait_for(lambda e: is_presence(e, frm="nobody-here@localhost", type_="unsubscribed"),
                   what="unsubscribed from unknown")
    finally:
        a.close()
        b.close()


def test_roster_remove_cancels_both_ways(server):
    """§2.5.2: removing an item unsubscribes and cancels: the contact sees none, and gets
    unavailable presence."""
    a_name, b_name = fresh(server, "ra"), fresh(server, "rb")
    befriend(server, a_name, b_name)
    b = login(server, b_name, roster=True, presence="")
    a = login(server, a_name, roster=True, presence="")
    b.wait_for(lambda e: is_presence(e, frm=a.jid, type_=None), what="a available")
    r = a.iq("set", "<query xmlns='%s'><item jid='%s' subscription='remove'/></query>"
             % (NS_ROSTER, J % b_name))
    assert r.get("type") == "result", dump(r)
    item = push_item(a, J % b_name)
    assert item.get("subscription") == "remove", dump(item)
    b.wait_for(lambda e: is_presence(e, frm=a.jid, type_="unavailable"), what="unavailable")
    settle(b, timeout=0.3)
    assert item_state(b, J % a_name) == ("none", None)
    assert J % b_name not in roster(a)[0]
    a.close()
    b.close()
