"""muchelp.py: raw-client helpers for the multi-user chat (XEP-0045) tests."""

import uuid

import rawxmpp
from rawxmpp import NS_CLIENT, q

NS_MUC = "http://jabber.org/protocol/muc"
NS_USER = "http://jabber.org/protocol/muc#user"
NS_ADMIN = "http://jabber.org/protocol/muc#admin"
NS_OWNER = "http://jabber.org/protocol/muc#owner"
NS_XDATA = "jabber:x:data"
NS_DELAY = "urn:xmpp:delay"
NS_OID = "urn:xmpp:occupant-id:0"
SERVICE = "conference.localhost"


def user(server, name, password="password1", resource="r"):
    """A logged-in raw client for name@localhost (the account is created)."""
    server.ctl("account", "add", "%s@localhost" % name, "--password", password)
    c = rawxmpp.login(server, name, password, resource=resource)
    c.send("<presence/>")
    return c


def room_jid(room):
    return "%s@%s" % (room, SERVICE)


def codes(el):
    x = el.find(q(NS_USER, "x"))
    if x is None:
        return set()
    return {int(s.get("code")) for s in x.findall(q(NS_USER, "status"))}


def item(el):
    x = el.find(q(NS_USER, "x"))
    return None if x is None else x.find(q(NS_USER, "item"))


def is_presence_from(el, frm, type_=None):
    return (el.tag == q(NS_CLIENT, "presence") and el.get("from") == frm
            and el.get("type") == type_)


def join(c, room, nick, password=None, history=None, extra="", expect_ok=True):
    """Sends a MUC join; with expect_ok waits for the self-presence (status 110) and returns it."""
    inner = ""
    if password is not None:
        inner += "<password>%s</password>" % password
    if history is not None:
        inner += "<history %s/>" % history
    c.send("<presence to='%s/%s'><x xmlns='%s'>%s</x>%s</presence>"
           % (room_jid(room), nick, NS_MUC, inner, extra))
    if not expect_ok:
        return None
    return c.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence")
                      and e.get("from") == "%s/%s" % (room_jid(room), nick)
                      and 110 in codes(e), what="self-presence in %s" % room)


def join_error(c, room, nick, **kw):
    join(c, room, nick, expect_ok=False, **kw)
    el = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "error",
                    what="presence error")
    return rawxmpp.stanza_error(el)


def instant(c, room):
    """Accepts the default configuration of a newly created (locked) room."""
    r = c.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'/></query>"
             % (NS_OWNER, NS_XDATA), to=room_jid(room))
    assert r.get("type") == "result", rawxmpp.dump(r)


def configure(c, room, **config):
    """Submits a room configuration (muc#roomconfig_* short names); returns the answer."""
    fields = "".join("<field var='%s'><value>%s</value></field>"
                     % (k if k.startswith("muc#") else "muc#roomconfig_" + k, v)
                     for k, v in config.items())
    return c.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'>"
                "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value>"
                "</field>%s</x></query>" % (NS_OWNER, NS_XDATA, fields), to=room_jid(room))


def owned_room(server, owner, room, nick="Owner"):
    """A new user `owner` who creates `room` as an instant room; returns its client."""
    o = user(server, owner)
    join(o, room, nick)
    instant(o, room)
    return o


def create(c, room, nick, **config):
    """Creates a room and submits a configuration (muc#roomconfig_* short names)."""
    join(c, room, nick)
    r = configure(c, room, **config)
    assert r.get("type") == "result", rawxmpp.dump(r)


def say(c, room, text):
    mid = uuid.uuid4().hex[:8]
    c.send("<message type='groupchat' to='%s' id='%s'><body>%s</body></message>"
           % (room_jid(room), mid, text))
    return mid


def wait_groupchat(c, body, timeout=None):
    return c.wait_for(lambda e: e.tag == q(NS_CLIENT, "message")
                      and e.get("type") == "groupchat"
                      and (e.findtext(q(NS_CLIENT, "body")) == body), timeout,
                      what="groupchat %r" % body)


def admin(c, room, items, type_="set"):
    return c.iq(type_, "<query xmlns='%s'>%s</query>" % (NS_ADMIN, items), to=room_jid(room))
