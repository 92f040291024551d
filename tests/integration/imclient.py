"""imclient.py: raw-client helpers for the instant-messaging tests (rosters, presence, offline,
blocking, carbons): fresh accounts, logins, roster reads and stanza waits."""

import itertools
import socket
import struct
import time
import uuid

import rawxmpp
from rawxmpp import q, dump

PASSWORD = "im-secret-1"
NS_ROSTER = "jabber:iq:roster"
NS_BLOCKING = "urn:xmpp:blocking"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_DELAY = "urn:xmpp:delay"
NS_CLIENT = rawxmpp.NS_CLIENT
NS_STANZAS = rawxmpp.NS_STANZAS

_seq = itertools.count(1)


def fresh(server, prefix):
    """A new account name (local part) with its account created."""
    name = "%s%d%s" % (prefix, next(_seq), uuid.uuid4().hex[:4])
    server.add_account("%s@localhost" % name, PASSWORD)
    return name


def login(server, user, resource="r", presence=None, roster=False):
    """A logged-in raw client; roster=True asks for the roster (an interested resource);
    presence: a presence payload string to send as initial presence (and wait for its echo)."""
    c = rawxmpp.login(server, user, PASSWORD, resource=resource)
    c.user = user
    c.bare = "%s@localhost" % user
    if roster:
        r = c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER)
        assert r.get("type") == "result", dump(r)
    if presence is not None:
        c.send("<presence>%s</presence>" % presence)
        c.wait_for(lambda e: is_presence(e, frm=c.jid, type_=None), what="own presence echo")
    return c


def is_presence(el, frm=None, type_="any", to=None):
    if el.tag != q(NS_CLIENT, "presence"):
        return False
    if frm is not None and el.get("from") != frm:
        return False
    if to is not None and el.get("to") != to:
        return False
    if type_ != "any" and el.get("type") != type_:
        return False
    return True


def is_message(el, body=None, frm=None):
    if el.tag != q(NS_CLIENT, "message"):
        return False
    if body is not None and el.findtext(q(NS_CLIENT, "body")) != body:
        return False
    if frm is not None and el.get("from") != frm:
        return False
    return True


def is_push(el, jid=None):
    if el.tag != q(NS_CLIENT, "iq") or el.get("type") != "set":
        return False
    item = el.find(q(NS_ROSTER, "query") + "/" + q(NS_ROSTER, "item"))
    return item is not None and (jid is None or item.get("jid") == jid)


def push_item(c, jid, timeout=5):
    """Waits for a roster push about jid, answers it, and returns its <item/>."""
    el = c.wait_for(lambda e: is_push(e, jid), timeout, "roster push for %s" % jid)
    c.send("<iq type='result' id='%s'/>" % el.get("id"))
    return el.find(q(NS_ROSTER, "query") + "/" + q(NS_ROSTER, "item"))


def roster(c, ver=None):
    """The roster as {jid: (subscription, ask, name, [groups], approved)} and the result."""
    attr = "" if ver is None else " ver='%s'" % ver
    r = c.iq("get", "<query xmlns='%s'%s/>" % (NS_ROSTER, attr))
    assert r.get("type") == "result", dump(r)
    items = {}
    query = r.find(q(NS_ROSTER, "query"))
    for it in (query.findall(q(NS_ROSTER, "item")) if query is not None else []):
        items[it.get("jid")] = (it.get("subscription"), it.get("ask"), it.get("name"),
                                [g.text for g in it.findall(q(NS_ROSTER, "group"))],
                                it.get("approved"))
    return items, r


def item_state(c, jid):
    """(subscription, ask) of jid in c's roster, ("none", None) when absent."""
    items, _ = roster(c)
    sub = items.get(jid)
    return (sub[0], sub[1]) if sub else ("none", None)


def nothing(c, pred, timeout=0.6, what="stanza"):
    """Asserts that no element matching pred arrives within timeout (others are dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            el = c.next(left)
        except AssertionError:
            return
        assert not pred(el), "unexpected %s: %s" % (what, dump(el))


def settle(*clients, timeout=0.3):
    """Reads and drops whatever arrives for a short while (pushes are answered)."""
    for c in clients:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                el = c.next(left)
            except AssertionError:
                break
            if is_push(el):
                c.send("<iq type='result' id='%s'/>" % el.get("id"))


def subscribe_clients(a, b, timeout=0.3):
    """Mutual subscription between the logged-in clients a and b (a's roster then says 'both')."""
    for x, y in ((a, b), (b, a)):
        x.send("<presence to='%s' type='subscribe'/>" % y.bare)
    settle(a, b, timeout=timeout)
    for x, y in ((a, b), (b, a)):
        x.send("<presence to='%s' type='subscribed'/>" % y.bare)
    settle(a, b, timeout=timeout)
    assert item_state(a, b.bare) == ("both", None)


def befriend(server, a_name, b_name):
    """Mutual subscription between the accounts a_name and b_name, each logged in for it and out
    again (interested resources, so the pushes are answered)."""
    a = login(server, a_name, "setup", roster=True)
    b = login(server, b_name, "setup", roster=True)
    try:
        subscribe_clients(a, b)
        assert item_state(b, a.bare) == ("both", None)
    finally:
        a.close()
        b.close()


def error_condition(el):
    return rawxmpp.stanza_error(el)


def drop(c):
    """An abrupt loss: the socket is reset, no closing tag."""
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    c.close()
