"""test_pubsub.py: XEP-0060 on accounts' bare JIDs (XEP-0163 personal eventing), raw clients:
disco, publish/retrieve, publish-options preconditions, access models, +notify notifications
through XEP-0115 capabilities, the owner's operations, the limits and the XEP's error tables."""

import pytest

import imclient
from imclient import fresh, login, befriend
from pephelp import (NS_PUBSUB, NS_OWNER, NS_DATA, NS_EVENT, form, publish, items, item_ids, ok,
                     error, caps_presence, wait_event, no_event, event_item)
from rawxmpp import q, dump

SERVER_OPTIONS = {
    "pubsub.max_nodes": "5",
    "pubsub.max_items": "10",
    "pubsub.max_payload_size": "2048",
}

NICK = "http://jabber.org/protocol/nick"
DEVICES = "eu.siacs.conversations.axolotl.devicelist"


def nick(name):
    return "<nick xmlns='%s'>%s</nick>" % (NICK, name)


def test_disco_identity_and_features(server):
    a = fresh(server, "pd")
    c = login(server, a)
    r = ok(c.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                to="%s@localhost" % a))
    qn = r.find(q("http://jabber.org/protocol/disco#info", "query"))
    ids = [(i.get("category"), i.get("type")) for i in qn.findall(q(qn.tag[1:].split("}")[0],
                                                                      "identity"))]
    assert ("pubsub", "pep") in ids
    feats = {f.get("var") for f in qn if f.tag.endswith("feature")}
    for f in ("publish", "publish-options", "access-whitelist", "item-ids", "auto-create",
              "retrieve-items", "purge-nodes", "delete-nodes", "last-published"):
        assert NS_PUBSUB + "#" + f in feats
    assert "urn:xmpp:bookmarks:1#compat" in feats
    assert NS_PUBSUB + "#subscription-options" in feats
    assert NS_PUBSUB + "#retrieve-default-sub" in feats
    c.close()


def test_publish_retrieve_item_ids_and_max_items(server):
    a = fresh(server, "pp")
    c = login(server, a)
    bare = "%s@localhost" % a
    r = ok(publish(c, "urn:test:n", "<x xmlns='urn:test'>1</x>", options={
        "pubsub#max_items": "max"}))
    first = r.find(q(NS_PUBSUB, "pubsub") + "/" + q(NS_PUBSUB, "publish") + "/" +
                   q(NS_PUBSUB, "item")).get("id")
    assert first
    ok(publish(c, "urn:test:n", "<x xmlns='urn:test'>2</x>", item_id="two"))
    ok(publish(c, "urn:test:n", "<x xmlns='urn:test'>3</x>", item_id="three"))
    assert item_ids(ok(items(c, bare, "urn:test:n"))) == [first, "two", "three"]
    assert item_ids(ok(items(c, bare, "urn:test:n", max_items=2))) == ["two", "three"]
    got = ok(items(c, bare, "urn:test:n", ids=["two"]))
    assert item_ids(got) == ["two"]
    assert "2" in dump(got)
    # Re-publishing an id replaces it and makes it the newest.
    ok(publish(c, "urn:test:n", "<x xmlns='urn:test'>1b</x>", item_id=first))
    assert item_ids(ok(items(c, bare, "urn:test:n"))) == ["two", "three", first]
    # 'max' is the pubsub.max_items setting (10): the oldest go.
    for i in range(12):
        ok(publish(c, "urn:test:n", "<x xmlns='urn:test'>%d</x>" % i, item_id="i%d" % i))
    ids = item_ids(ok(items(c, bare, "urn:test:n")))
    assert len(ids) == 10 and ids[-1] == "i11" and ids[0] == "i2"
    c.close()


def test_publish_options_preconditions(server):
    a = fresh(server, "po")
    c = login(server, a)
    opts = {"pubsub#persist_items": "true", "pubsub#access_model": "whitelist"}
    ok(publish(c, "urn:test:p", "<x xmlns='urn:test'/>", "one", options=opts))
    # Met again ("1" for "true" is the same value).
    ok(publish(c, "urn:test:p", "<x xmlns='urn:test'/>", "two",
               options={"pubsub#persist_items": "1", "pubsub#access_model": "whitelist"}))
    # Not met: the node is whitelist, not open.
    e = error(publish(c, "urn:test:p", "<x xmlns='urn:test'/>", "three",
                      options={"pubsub#access_model": "open"}))
    assert e == ("cancel", "conflict", "precondition-not-met")
    # Unknown field and bad value: not met either.
    e = error(publish(c, "urn:test:p", "<x xmlns='urn:test'/>", "four",
                      options={"pubsub#no_such_thing": "1"}))
    assert e == ("cancel", "conflict", "precondition-not-met")
    e = error(publish(c, "urn:test:new", "<x xmlns='urn:test'/>", "x",
                      options={"pubsub#max_items": "lots"}))
    assert e == ("cancel", "conflict", "precondition-not-met")
    # The refused publishes stored nothing.
    assert item_ids(ok(items(c, "%s@localhost" % a, "urn:test:p"))) == ["two"]
    c.close()


def test_access_models(server):
    owner, friend, stranger = fresh(server, "ao"), fresh(server, "af"), fresh(server, "as")
    befriend(server, owner, friend)
    o = login(server, owner)
    f = login(server, friend)
    s = login(server, stranger)
    ob = "%s@localhost" % owner
    ok(publish(o, NICK, nick("Owner")))  # default access model: presence
    ok(publish(o, DEVICES, "<list xmlns='eu.siacs.conversations.axolotl'><device id='1'/></list>",
               "current", options={"pubsub#access_model": "open"}))
    ok(publish(o, "urn:test:wl", "<x xmlns='urn:test'/>", "a",
               options={"pubsub#access_model": "whitelist"}))
    ok(publish(o, "urn:test:roster", "<x xmlns='urn:test'/>", "a",
               options={"pubsub#access_model": "roster",
                        "pubsub#roster_groups_allowed": "Friends"}))
    # A contact with a presence subscription reads the presence node; a stranger may not.
    assert len(item_ids(ok(items(f, ob, NICK)))) == 1
    assert error(items(s, ob, NICK)) == ("auth", "not-authorized",
                                         "presence-subscription-required")
    # The OMEMO device list is open: anyone reads it.
    assert item_ids(ok(items(s, ob, DEVICES))) == ["current"]
    # Whitelist: only the owner and affiliated JIDs.
    assert error(items(f, ob, "urn:test:wl")) == ("cancel", "not-allowed", "closed-node")
    ok(o.iq("set", "<pubsub xmlns='%s'><affiliations node='urn:test:wl'>"
                   "<affiliation jid='%s@localhost' affiliation='member'/></affiliations></pubsub>"
            % (NS_OWNER, stranger)))
    assert item_ids(ok(items(s, ob, "urn:test:wl"))) == ["a"]
    # Roster: the friend is not in the group Friends.
    assert error(items(f, ob, "urn:test:roster")) == ("auth", "not-authorized",
                                                      "not-in-roster-group")
    ok(o.iq("set", "<query xmlns='jabber:iq:roster'><item jid='%s@localhost'>"
                   "<group>Friends</group></item></query>" % friend))
    imclient.settle(o)
    assert item_ids(ok(items(f, ob, "urn:test:roster"))) == ["a"]
    for c in (o, f, s):
        c.close()


def test_notifications_follow_caps_and_last_item_on_presence(server):
    alice, bob = fresh(server, "na"), fresh(server, "nb")
    befriend(server, alice, bob)
    feats = [NICK + "+notify", NICK]
    a = login(server, alice)
    a.send("<presence/>")
    ok(publish(a, NICK, nick("Alice")))
    # Bob comes online with caps asking for nick+notify: the server asks his features once and
    # sends Alice's last nick.
    b = login(server, bob)
    b.send("<presence>%s</presence>" % caps_presence(feats))
    ev = wait_event(b, NICK, frm="%s@localhost" % alice, features=feats)
    assert "Alice" in dump(ev)
    # A new publish reaches him at once.
    ok(publish(a, NICK, nick("Alice 2")))
    ev = wait_event(b, NICK, frm="%s@localhost" % alice, features=feats)
    assert "Alice 2" in dump(ev) and ev.get("type") == "headline"
    # pubsub#notification_type normal: the notification is a normal message.
    ok(a.iq("set", "<pubsub xmlns='%s'><configure node='%s'>%s</configure></pubsub>"
            % (NS_OWNER, NICK, form({"pubsub#notification_type": "normal"},
                                    NS_PUBSUB + "#node_config"))))
    ok(publish(a, NICK, nick("Alice normal")))
    ev = wait_event(b, NICK, frm="%s@localhost" % alice, features=feats)
    assert "Alice normal" in dump(ev) and ev.get("type") is None
    # A node he does not ask for stays quiet.
    ok(publish(a, "urn:test:quiet", "<x xmlns='urn:test'/>"))
    no_event(b, "urn:test:quiet", features=feats)
    # Retract with notify.
    ok(publish(a, NICK, nick("tmp"), item_id="tmp"))
    wait_event(b, NICK, features=feats)
    ok(a.iq("set", "<pubsub xmlns='%s'><retract node='%s' notify='true'><item id='tmp'/>"
                   "</retract></pubsub>" % (NS_PUBSUB, NICK)))
    ev = wait_event(b, NICK, features=feats)
    assert ev.find(q(NS_EVENT, "event") + "/" + q(NS_EVENT, "items") + "/" +
                   q(NS_EVENT, "retract")) is not None, dump(ev)
    # (The node keeps one item: the retract emptied it.)
    ok(publish(a, NICK, nick("Alice 3")))
    wait_event(b, NICK, features=feats)
    # A second resource with the same caps: resolved from the cache, last item at once.
    b2 = login(server, bob, resource="second")
    b2.send("<presence>%s</presence>" % caps_presence(feats))
    ev = wait_event(b2, NICK, features=[])
    assert "Alice 3" in dump(event_item(ev))
    for c in (a, b, b2):
        c.close()


def test_no_notification_without_subscription(server):
    alice, eve = fresh(server, "nx"), fresh(server, "ny")
    feats = [NICK + "+notify"]
    a = login(server, alice)
    e = login(server, eve)
    # Eve sends Alice directed presence with caps, but has no subscription.
    e.send("<presence to='%s@localhost'>%s</presence>" % (alice, caps_presence(feats)))
    imclient.settle(a)
    ok(publish(a, NICK, nick("secret")))
    no_event(e, NICK, features=feats)
    a.close()
    e.close()


def test_owner_operations(server):
    a = fresh(server, "ow")
    other = fresh(server, "ox")
    c = login(server, a)
    x = login(server, other)
    bare = "%s@localhost" % a
    ok(c.iq("set", "<pubsub xmlns='%s'><create node='urn:test:c'/><configure>%s</configure>"
                   "</pubsub>" % (NS_PUBSUB, form({"pubsub#access_model": "open",
                                                   "pubsub#max_items": "3"},
                                                  NS_PUBSUB + "#node_config"))))
    e = error(c.iq("set", "<pubsub xmlns='%s'><create node='urn:test:c'/></pubsub>" % NS_PUBSUB))
    assert e[1] == "conflict"
    r = ok(c.iq("get", "<pubsub xmlns='%s'><configure node='urn:test:c'/></pubsub>" % NS_OWNER))
    text = dump(r)
    assert "pubsub#access_model" in text and ">open<" in text
    ok(c.iq("set", "<pubsub xmlns='%s'><configure node='urn:test:c'>%s</configure></pubsub>"
            % (NS_OWNER, form({"pubsub#access_model": "presence"},
                              NS_PUBSUB + "#node_config"))))
    assert error(items(x, bare, "urn:test:c"))[1] == "not-authorized"
    # A bad value is refused with not-acceptable and changes nothing.
    e = error(c.iq("set", "<pubsub xmlns='%s'><configure node='urn:test:c'>%s</configure>"
                          "</pubsub>" % (NS_OWNER, form({"pubsub#access_model": "sometimes"},
                                                        NS_PUBSUB + "#node_config"))))
    assert e[:2] == ("modify", "not-acceptable")
    ok(c.iq("get", "<pubsub xmlns='%s'><default/></pubsub>" % NS_OWNER))
    ok(publish(c, "urn:test:c", "<x xmlns='urn:test'/>", "1"))
    ok(c.iq("set", "<pubsub xmlns='%s'><purge node='urn:test:c'/></pubsub>" % NS_OWNER))
    assert item_ids(ok(items(c, bare, "urn:test:c"))) == []
    # Another account may not configure, delete or publish here.
    assert error(x.iq("set", "<pubsub xmlns='%s'><delete node='urn:test:c'/></pubsub>"
                      % NS_OWNER, to=bare))[1] == "forbidden"
    assert error(publish(x, "urn:test:c", "<x xmlns='urn:test'/>", to=bare))[1] == "forbidden"
    ok(c.iq("set", "<pubsub xmlns='%s'><delete node='urn:test:c'/></pubsub>" % NS_OWNER))
    assert error(items(c, bare, "urn:test:c"))[1] == "item-not-found"
    # Subscribe / unsubscribe and the subscriptions list.
    ok(publish(c, "urn:test:open", "<x xmlns='urn:test'>v</x>", "last",
               options={"pubsub#access_model": "open"}))
    r = ok(x.iq("set", "<pubsub xmlns='%s'><subscribe node='urn:test:open' jid='%s'/></pubsub>"
                % (NS_PUBSUB, x.jid), to=bare))
    assert "subscribed" in dump(r)
    ev = wait_event(x, "urn:test:open")
    assert event_item(ev).get("id") == "last"
    ok(publish(c, "urn:test:open", "<x xmlns='urn:test'>w</x>", "next"))
    assert event_item(wait_event(x, "urn:test:open")).get("id") == "next"
    r = ok(c.iq("get", "<pubsub xmlns='%s'><subscriptions node='urn:test:open'/></pubsub>"
                % NS_OWNER))
    assert x.jid in dump(r)
    ok(x.iq("set", "<pubsub xmlns='%s'><unsubscribe node='urn:test:open' jid='%s'/></pubsub>"
            % (NS_PUBSUB, x.jid), to=bare))
    e = error(x.iq("set", "<pubsub xmlns='%s'><unsubscribe node='urn:test:open' jid='%s'/>"
                          "</pubsub>" % (NS_PUBSUB, x.jid), to=bare))
    assert e == ("cancel", "unexpected-request", "not-subscribed")
    e = error(x.iq("set", "<pubsub xmlns='%s'><subscribe node='urn:test:open' jid='%s'/>"
                          "</pubsub>" % (NS_PUBSUB, bare), to=bare))
    assert e == ("modify", "bad-request", "invalid-jid")
    c.close()
    x.close()


def test_error_tables_and_limits(server):
    a = fresh(server, "er")
    c = login(server, a)
    bare = "%s@localhost" % a
    assert error(items(c, bare, "urn:none")) == ("cancel", "item-not-found", None)
    r = c.iq("set", "<pubsub xmlns='%s'><publish/></pubsub>" % NS_PUBSUB)
    assert error(r) == ("modify", "bad-request", "nodeid-required")
    r = c.iq("set", "<pubsub xmlns='%s'><publish node='urn:t'><item><a xmlns='u'/>"
                    "<b xmlns='u'/></item></publish></pubsub>" % NS_PUBSUB)
    assert error(r) == ("modify", "bad-request", "invalid-payload")
    r = c.iq("set", "<pubsub xmlns='%s'><publish node='urn:t'><item id='1'/></publish></pubsub>"
             % NS_PUBSUB)
    assert error(r) == ("modify", "bad-request", "payload-required")
    r = c.iq("set", "<pubsub xmlns='%s'><publish node='urn:t'><item id='1'><a xmlns='u'/></item>"
                    "<item id='2'><a xmlns='u'/></item></publish></pubsub>" % NS_PUBSUB)
    assert error(r) == ("modify", "bad-request", "invalid-payload")
    # Payload past pubsub.max_payload_size (2048).
    r = publish(c, "urn:t", "<a xmlns='u'>%s</a>" % ("z" * 3000))
    assert error(r) == ("modify", "not-acceptable", "payload-too-big")
    r = c.iq("set", "<pubsub xmlns='%s'><retract node='urn:t'/></pubsub>" % NS_PUBSUB)
    assert error(r) == ("modify", "bad-request", "item-required")
    r = c.iq("set", "<pubsub xmlns='%s'><retract node='urn:none'><item id='x'/></retract>"
                    "</pubsub>" % NS_PUBSUB)
    assert error(r)[1] == "item-not-found"
    r = c.iq("set", "<pubsub xmlns='%s'><frobnicate node='x'/></pubsub>" % NS_PUBSUB)
    assert error(r)[1] == "bad-request"
    r = c.iq("get", "<pubsub xmlns='%s'><options node='x' jid='%s'/></pubsub>" % (NS_PUBSUB,
                                                                                  c.jid))
    assert error(r) == ("cancel", "item-not-found", None)  # options of a node that is not there
    r = c.iq("set", "<pubsub xmlns='%s'><create/></pubsub>" % NS_PUBSUB)
    assert error(r) == ("modify", "not-acceptable", "nodeid-required")
    r = c.iq("get", "<pubsub xmlns='%s'><items node='x' max_items='-3'/></pubsub>" % NS_PUBSUB)
    assert error(r)[1] == "bad-request"
    # Unknown node types and malformed forms: clean errors.
    r = c.iq("set", "<pubsub xmlns='%s'><create node='coll'/><configure>%s</configure></pubsub>"
             % (NS_PUBSUB, form({"pubsub#node_type": "collection"}, NS_PUBSUB + "#node_config")))
    assert error(r)[:2] == ("modify", "not-acceptable")
    r = c.iq("set", "<pubsub xmlns='%s'><create node='coll'/><configure><x xmlns='%s' "
                    "type='submit'><field var='pubsub#max_items'><value>1</value><value>x</value>"
                    "</field></x></configure></pubsub>" % (NS_PUBSUB, NS_DATA))
    assert error(r)[:2] == ("modify", "not-acceptable")
    r = c.iq("set", "<pubsub xmlns='%s'><publish node='urn:f'><item><a xmlns='u'/></item>"
                    "</publish><publish-options><x xmlns='%s' type='submit'><field/>"
                    "<field var='pubsub#title'/></x></publish-options></pubsub>"
             % (NS_PUBSUB, NS_DATA))
    ok(r)  # a field without var or values asks for nothing: the node is made with defaults
    r = c.iq("set", "<pubsub xmlns='%s'><configure node='urn:f'><x xmlns='%s'/></configure>"
                    "</pubsub>" % (NS_OWNER, NS_DATA))
    assert error(r)[:2] == ("modify", "bad-request")  # a form without a type
    # pubsub.max_nodes (5; urn:f is the first): the sixth node is refused.
    for i in range(4):
        ok(publish(c, "urn:lim:%d" % i, "<a xmlns='u'/>"))
    r = publish(c, "urn:lim:5", "<a xmlns='u'/>")
    assert error(r) == ("cancel", "not-allowed", "max-nodes-exceeded")
    # The server still answers.
    ok(items(c, bare, "urn:lim:0"))
    c.close()


def test_account_removal_removes_nodes(server):
    a = fresh(server, "rm")
    c = login(server, a)
    ok(publish(c, NICK, nick("gone")))
    c.close()
    server.ctl_ok("account", "remove", "%s@localhost" % a)
    server.add_account("%s@localhost" % a, imclient.PASSWORD)
    c = login(server, a)
    assert error(items(c, "%s@localhost" % a, NICK))[1] == "item-not-found"
    c.close()


BM2 = "urn:xmpp:bookmarks:1"


def private_bookmarks(c):
    r = ok(c.iq("get", "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/>"
                       "</query>"))
    st = r.find(q("jabber:iq:private", "query") + "/" + q("storage:bookmarks", "storage"))
    return st


def test_bookmarks_conversion_both_ways(server):
    a, other = fresh(server, "bm"), fresh(server, "bo")
    c = login(server, a)
    x = login(server, other)
    bare = "%s@localhost" % a
    # XEP-0048 in private XML → XEP-0402 items.
    ok(c.iq("set", "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>"
                   "<conference jid='one@conference.localhost' name='One' autojoin='true'>"
                   "<nick>Al</nick></conference>"
                   "<conference jid='two@conference.localhost' name='Two'/>"
                   "<url name='Site' url='https://example.org/'/>"
                   "</storage></query>"))
    r = ok(items(c, bare, BM2))
    assert sorted(item_ids(r)) == ["one@conference.localhost", "two@conference.localhost"]
    text = dump(r)
    assert "autojoin=\"true\"" in text and ">Al<" in text and "name=\"One\"" in text
    # The node is private (whitelist): another account cannot read it.
    assert error(items(x, bare, BM2))[1] == "not-allowed"
    # XEP-0402 publish → XEP-0048 storage, the <url/> kept.
    ok(publish(c, BM2, "<conference xmlns='%s' name='Three' autojoin='false'><nick>A3</nick>"
                       "</conference>" % BM2, "three@conference.localhost",
               options={"pubsub#persist_items": "true", "pubsub#access_model": "whitelist",
                        "pubsub#max_items": "max", "pubsub#send_last_published_item": "never"}))
    st = private_bookmarks(c)
    rooms = {e.get("jid"): e for e in st.findall(q("storage:bookmarks", "conference"))}
    assert set(rooms) == {"one@conference.localhost", "two@conference.localhost",
                          "three@conference.localhost"}
    assert rooms["three@conference.localhost"].findtext(q("storage:bookmarks", "nick")) == "A3"
    assert rooms["one@conference.localhost"].get("autojoin") == "true"
    assert st.find(q("storage:bookmarks", "url")) is not None
    # Retract → gone from the storage; a storage without a room → its item retracted.
    ok(c.iq("set", "<pubsub xmlns='%s'><retract node='%s'><item id='two@conference.localhost'/>"
                   "</retract></pubsub>" % (NS_PUBSUB, BM2)))
    st = private_bookmarks(c)
    assert {e.get("jid") for e in st.findall(q("storage:bookmarks", "conference"))} == {
        "one@conference.localhost", "three@conference.localhost"}
    ok(c.iq("set", "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>"
                   "<conference jid='one@conference.localhost' name='One'/></storage></query>"))
    assert item_ids(ok(items(c, bare, BM2))) == ["one@conference.localhost"]
    c.close()
    x.close()


AV_DATA = "urn:xmpp:avatar:data"
AV_META = "urn:xmpp:avatar:metadata"


def publish_avatar(c, png):
    """XEP-0084: the data, then the metadata of a PNG; its id."""
    import base64
    import hashlib
    pid = hashlib.sha1(png).hexdigest()
    ok(publish(c, AV_DATA, "<data xmlns='%s'>%s</data>" % (AV_DATA, base64.b64encode(png).decode()),
               pid))
    ok(publish(c, AV_META, "<metadata xmlns='%s'><info id='%s' bytes='%d' type='image/png'/>"
                           "</metadata>" % (AV_META, pid, len(png)), pid))
    return pid


def test_vcard_avatar_conversion_and_photo_hash_in_presence(server):
    import base64
    import hashlib
    alice, bob = fresh(server, "va"), fresh(server, "vb")
    befriend(server, alice, bob)
    feats = [AV_META + "+notify"]
    ab = "%s@localhost" % alice
    b = login(server, bob)
    b.send("<presence>%s</presence>" % caps_presence(feats))
    a = login(server, alice)
    png1 = b"\x89PNG\r\n\x1a\n" + b"one" * 50
    # vCard PHOTO → XEP-0084 data and metadata, announced to the contact.
    ok(a.iq("set", "<vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE>"
                   "<BINVAL>%s</BINVAL></PHOTO></vCard>" % base64.b64encode(png1).decode()))
    ev = wait_event(b, AV_META, frm=ab, features=feats)
    info = event_item(ev).find(q(AV_META, "metadata") + "/" + q(AV_META, "info"))
    id1 = hashlib.sha1(png1).hexdigest()
    assert info.get("id") == id1 and info.get("bytes") == str(len(png1))
    assert info.get("type") == "image/png"
    r = ok(items(b, ab, AV_DATA, ids=[id1]))
    data = r.find(".//" + q(AV_DATA, "data")).text
    assert base64.b64decode(data) == png1
    # XEP-0084 publish → the vCard's PHOTO (other fields kept).
    png2 = b"\x89PNG\r\n\x1a\n" + b"two" * 60
    id2 = publish_avatar(a, png2)
    r = ok(a.iq("get", "<vCard xmlns='vcard-temp'/>"))
    v = r.find(q("vcard-temp", "vCard"))
    assert v.findtext(q("vcard-temp", "FN")) == "Alice"
    binval = v.find(q("vcard-temp", "PHOTO") + "/" + q("vcard-temp", "BINVAL")).text
    assert base64.b64decode(binval) == png2
    # XEP-0153: Alice's available presence carries the photo hash.
    a.send("<presence/>")
    pres = b.wait_for(lambda e: imclient.is_presence(e, frm=a.jid, type_=None),
                      what="alice's presence")
    photo = pres.find(q("vcard-temp:x:update", "x") + "/" + q("vcard-temp:x:update", "photo"))
    assert photo is not None and photo.text == id2
    # An empty metadata (avatar disabled) removes the PHOTO.
    ok(publish(a, AV_META, "<metadata xmlns='%s'/>" % AV_META, "none"))
    r = ok(a.iq("get", "<vCard xmlns='vcard-temp'/>"))
    assert r.find(".//" + q("vcard-temp", "PHOTO")) is None
    a.close()
    b.close()


def test_photo_hash_in_presence_follows_vcard_and_avatar_changes(server):
    """The hash is cached per account (no store read per presence): every change shows at once."""
    import base64
    import hashlib
    alice, bob = fresh(server, "vc"), fresh(server, "vd")
    befriend(server, alice, bob)
    b = login(server, bob)
    b.send("<presence/>")
    a = login(server, alice)

    def presence_photo():
        a.send("<presence/>")
        pres = b.wait_for(lambda e: imclient.is_presence(e, frm=a.jid, type_=None),
                          what="alice's presence")
        x = pres.find(q("vcard-temp:x:update", "x") + "/" + q("vcard-temp:x:update", "photo"))
        assert x is not None, dump(pres)
        return x.text or ""

    assert presence_photo() == ""
    assert presence_photo() == ""  # cached: still none
    png1 = b"\x89PNG\r\n\x1a\n" + b"cache" * 40
    ok(a.iq("set", "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL>"
                   "</PHOTO></vCard>" % base64.b64encode(png1).decode()))
    assert presence_photo() == hashlib.sha1(png1).hexdigest()
    id2 = publish_avatar(a, b"\x89PNG\r\n\x1a\n" + b"again" * 40)
    assert presence_photo() == id2
    ok(a.iq("set", "<vCard xmlns='vcard-temp'><FN>No photo</FN></vCard>"))
    assert presence_photo() == ""
    a.close()
    b.close()


def test_service_domain_nodes_and_owner_operations(server):
    owner, other = fresh(server, "sv"), fresh(server, "sw")
    o = login(server, owner)
    x = login(server, other)
    svc = "pubsub.localhost"
    # The server lists its service; the service says what it is.
    r = ok(o.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>", to="localhost"))
    assert svc in dump(r)
    r = ok(o.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=svc))
    text = dump(r)
    assert "category=\"pubsub\"" in text and "type=\"service\"" in text
    assert NS_PUBSUB + "#publish-options" in text and NS_PUBSUB + "#access-presence" not in text
    # Create with configuration; the creator owns the node.
    ok(o.iq("set", "<pubsub xmlns='%s'><create node='news'/><configure>%s</configure></pubsub>"
            % (NS_PUBSUB, form({"pubsub#title": "News", "pubsub#max_items": "2"},
                               NS_PUBSUB + "#node_config")), to=svc))
    assert error(o.iq("set", "<pubsub xmlns='%s'><create node='news'/></pubsub>" % NS_PUBSUB,
                      to=svc))[1] == "conflict"
    # Access models that need a roster are PEP's only.
    e = error(o.iq("set", "<pubsub xmlns='%s'><create node='p'/><configure>%s</configure>"
                          "</pubsub>" % (NS_PUBSUB, form({"pubsub#access_model": "presence"},
                                                         NS_PUBSUB + "#node_config")), to=svc))
    assert e[:2] == ("modify", "not-acceptable")
    # Someone else subscribes; the owner publishes; the subscriber is notified.
    ok(x.iq("set", "<pubsub xmlns='%s'><subscribe node='news' jid='%s'/></pubsub>"
            % (NS_PUBSUB, x.jid), to=svc))
    ok(publish(o, "news", "<entry xmlns='http://www.w3.org/2005/Atom'>hi</entry>", "e1", to=svc))
    ev = wait_event(x, "news", frm=svc)
    assert event_item(ev).get("id") == "e1"
    # Not an owner: may not publish, configure or delete.
    assert error(publish(x, "news", "<entry xmlns='http://www.w3.org/2005/Atom'/>", to=svc))[1] \
        == "forbidden"
    assert error(x.iq("get", "<pubsub xmlns='%s'><configure node='news'/></pubsub>" % NS_OWNER,
                      to=svc))[1] == "forbidden"
    # The owner makes the other a publisher; now the other may publish.
    ok(o.iq("set", "<pubsub xmlns='%s'><affiliations node='news'><affiliation jid='%s@localhost'"
                   " affiliation='publisher'/></affiliations></pubsub>" % (NS_OWNER, other),
            to=svc))
    ok(publish(x, "news", "<entry xmlns='http://www.w3.org/2005/Atom'>2</entry>", "e2", to=svc))
    ok(publish(o, "news", "<entry xmlns='http://www.w3.org/2005/Atom'>3</entry>", "e3", to=svc))
    assert item_ids(ok(items(x, svc, "news"))) == ["e2", "e3"]  # max_items 2
    r = ok(o.iq("get", "<pubsub xmlns='%s'><affiliations node='news'/></pubsub>" % NS_OWNER,
                to=svc))
    assert "owner" in dump(r) and "publisher" in dump(r)
    r = ok(x.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>", to=svc))
    assert "news" in dump(r)
    ok(o.iq("set", "<pubsub xmlns='%s'><purge node='news'/></pubsub>" % NS_OWNER, to=svc))
    assert item_ids(ok(items(x, svc, "news"))) == []
    ok(o.iq("set", "<pubsub xmlns='%s'><delete node='news'/></pubsub>" % NS_OWNER, to=svc))
    ev = wait_event(x, "news", frm=svc)
    assert ev.find(q(NS_EVENT, "event") + "/" + q(NS_EVENT, "delete")) is not None
    assert error(items(x, svc, "news"))[1] == "item-not-found"
    o.close()
    x.close()


def test_service_authorize_access_model(server):
    owner, other, third = fresh(server, "az"), fresh(server, "ay"), fresh(server, "ax")
    o = login(server, owner)
    o.send("<presence/>")  # the authorization request goes to the owner's bare JID
    x = login(server, other)
    t = login(server, third)
    svc = "pubsub.localhost"
    # PEP has nobody to approve subscribers: authorize is the service's.
    e = error(o.iq("set", "<pubsub xmlns='%s'><create node='urn:a'/><configure>%s</configure>"
                          "</pubsub>" % (NS_PUBSUB, form({"pubsub#access_model": "authorize"},
                                                         NS_PUBSUB + "#node_config"))))
    assert e[:2] == ("modify", "not-acceptable")
    ok(o.iq("set", "<pubsub xmlns='%s'><create node='club'/><configure>%s</configure></pubsub>"
            % (NS_PUBSUB, form({"pubsub#access_model": "authorize"},
                               NS_PUBSUB + "#node_config")), to=svc))
    ok(publish(o, "club", "<x xmlns='urn:test'>members only</x>", "m1", to=svc))
    r = ok(x.iq("set", "<pubsub xmlns='%s'><subscribe node='club' jid='%s'/></pubsub>"
                % (NS_PUBSUB, x.jid), to=svc))
    assert "subscription=\"pending\"" in dump(r)
    assert error(items(x, svc, "club")) == ("auth", "not-authorized", "pending-subscription")
    assert error(items(t, svc, "club")) == ("auth", "not-authorized", "not-subscribed")
    # The owner gets the authorization form and approves.
    req = o.wait_for(lambda e: e.tag == q("jabber:client", "message") and e.get("from") == svc,
                     what="authorization request")
    text = dump(req)
    assert "pubsub#subscribe_authorization" in text and x.jid in text
    o.send("<message to='%s'><x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>%s"
           "#subscribe_authorization</value></field><field var='pubsub#node'><value>club</value>"
           "</field><field var='pubsub#subscriber_jid'><value>%s</value></field><field "
           "var='pubsub#allow'><value>true</value></field></x></message>"
           % (svc, NS_DATA, NS_PUBSUB, x.jid))
    ev = wait_event(x, "club", frm=svc)
    sub = ev.find(q(NS_EVENT, "event") + "/" + q(NS_EVENT, "subscription"))
    assert sub is not None and sub.get("subscription") == "subscribed", dump(ev)
    assert item_ids(ok(items(x, svc, "club"))) == ["m1"]
    ok(publish(o, "club", "<x xmlns='urn:test'>news</x>", "m2", to=svc))
    assert event_item(wait_event(x, "club", frm=svc)).get("id") == "m2"
    # Someone who is not an owner cannot approve: the third's request stays pending.
    ok(t.iq("set", "<pubsub xmlns='%s'><subscribe node='club' jid='%s'/></pubsub>"
            % (NS_PUBSUB, t.jid), to=svc))
    x.send("<message to='%s'><x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>%s"
           "#subscribe_authorization</value></field><field var='pubsub#node'><value>club</value>"
           "</field><field var='pubsub#subscriber_jid'><value>%s</value></field><field "
           "var='pubsub#allow'><value>1</value></field></x></message>"
           % (svc, NS_DATA, NS_PUBSUB, t.jid))
    r = ok(o.iq("get", "<pubsub xmlns='%s'><subscriptions node='club'/></pubsub>" % NS_OWNER,
                to=svc))
    subs = {s.get("jid"): s.get("subscription") for s in r.iter(q(NS_OWNER, "subscription"))}
    assert subs == {x.jid: "subscribed", t.jid: "pending"}
    for c in (o, x, t):
        c.close()


# The publish-options of real clients (their source: Conversations' PublishOptions, Monal's
# MLOMEMO/bookmarks2 handling, Dino's and Gajim's (nbxmpp) OMEMO, bookmarks, avatar and nickname
# modules), each exactly as sent: every field must be a supported node configuration field, so a
# first publish creates the node and a second one with the same options meets them.
OPEN = {"pubsub#access_model": "open"}
OPEN_NOTIFY = {"pubsub#access_model": "open", "pubsub#notify_delete": "true"}
PRESENCE_NOTIFY = {"pubsub#access_model": "presence", "pubsub#notify_delete": "true"}
BOOKMARKS2 = {"pubsub#persist_items": "true", "pubsub#access_model": "whitelist",
              "pubsub#send_last_published_item": "never", "pubsub#max_items": "max"}
APP_OPTIONS = {
    "conversations": [
        ("eu.siacs.conversations.axolotl.devicelist", OPEN_NOTIFY),
        ("eu.siacs.conversations.axolotl.bundles:1", OPEN_NOTIFY),
        ("urn:xmpp:bookmarks:1", dict(BOOKMARKS2, **{"pubsub#notify_delete": "true"})),
        ("urn:xmpp:avatar:data", OPEN_NOTIFY),
        ("urn:xmpp:avatar:metadata", OPEN_NOTIFY),
        ("http://jabber.org/protocol/nick", PRESENCE_NOTIFY),
    ],
    "dino": [
        ("eu.siacs.conversations.axolotl.devicelist", OPEN),
        ("eu.siacs.conversations.axolotl.bundles:2", OPEN),
        ("urn:xmpp:omemo:2:devices", dict(OPEN, **{"pubsub#max_items": "max"})),
        ("urn:xmpp:omemo:2:bundles", dict(OPEN, **{"pubsub#max_items": "max"})),
        ("urn:xmpp:bookmarks:1", BOOKMARKS2),
        ("urn:xmpp:avatar:metadata", {"pubsub#access_model": "presence"}),
    ],
    "gajim": [
        ("eu.siacs.conversations.axolotl.devicelist", OPEN),
        ("eu.siacs.conversations.axolotl.bundles:3", OPEN),
        ("urn:xmpp:bookmarks:1", BOOKMARKS2),
        ("storage:bookmarks", {"pubsub#persist_items": "true",
                               "pubsub#access_model": "whitelist"}),
        ("urn:xmpp:avatar:metadata", {"pubsub#access_model": "open"}),
        ("http://jabber.org/protocol/nick", {"pubsub#access_model": "presence"}),
    ],
    "monal": [
        ("eu.siacs.conversations.axolotl.devicelist",
         {"pubsub#persist_items": "true", "pubsub#access_model": "open"}),
        ("eu.siacs.conversations.axolotl.bundles:4",
         {"pubsub#persist_items": "true", "pubsub#access_model": "open"}),
        ("urn:xmpp:bookmarks:1", {"pubsub#persist_items": "true",
                                  "pubsub#access_model": "whitelist", "pubsub#max_items": "max"}),
        ("urn:xmpp:avatar:metadata", {"pubsub#persist_items": "true",
                                      "pubsub#access_model": "presence",
                                      "pubsub#deliver_payloads": "true"}),
        ("http://jabber.org/protocol/nick", {"pubsub#persist_items": "true",
                                             "pubsub#access_model": "presence"}),
    ],
}


@pytest.mark.parametrize("app", sorted(APP_OPTIONS))
def test_real_clients_publish_options_are_met(server, app):
    c = None
    for n, (node, opts) in enumerate(APP_OPTIONS[app]):
        if n % 4 == 0:  # pubsub.max_nodes is 5 here
            if c is not None:
                c.close()
            c = login(server, fresh(server, "po" + app[:3]))
        payload = "<x xmlns='urn:test:%s'/>" % app
        ok(publish(c, node, payload, "current", options=opts))   # creates the node
        ok(publish(c, node, payload, "current", options=opts))   # the same options: met
        r = ok(c.iq("get", "<pubsub xmlns='%s'><configure node='%s'/></pubsub>" % (NS_OWNER, node)))
        for var, want in opts.items():
            f = [e for e in r.iter(q(NS_DATA, "field")) if e.get("var") == var]
            assert f, (app, node, var)
            got = f[0].find(q(NS_DATA, "value")).text
            assert got == {"true": "1", "false": "0"}.get(want, want), (app, node, var, got)
    c.close()



SUBOPTS = NS_PUBSUB + "#subscribe_options"


def options_iq(c, type_, node, jid, inner="", to="pubsub.localhost", subid=None):
    s = " subid='%s'" % subid if subid else ""
    return c.iq(type_, "<pubsub xmlns='%s'><options node='%s' jid='%s'%s>%s</options></pubsub>"
                % (NS_PUBSUB, node, jid, s, inner), to=to)


def form_values(el):
    return {f.get("var"): f.find(q(NS_DATA, "value")).text
            for f in el.iter(q(NS_DATA, "field")) if f.find(q(NS_DATA, "value")) is not None}


def test_subscription_options(server):
    owner, sub, other = fresh(server, "so"), fresh(server, "sp"), fresh(server, "sq")
    o, x, t = login(server, owner), login(server, sub), login(server, other)
    svc = "pubsub.localhost"
    r = ok(o.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=svc))
    assert NS_PUBSUB + "#subscription-options" in dump(r)
    ok(o.iq("set", "<pubsub xmlns='%s'><create node='opts'/></pubsub>" % NS_PUBSUB, to=svc))
    # §6.4 default options, of the service and of a node.
    r = ok(x.iq("get", "<pubsub xmlns='%s'><default/></pubsub>" % NS_PUBSUB, to=svc))
    vals = form_values(r)
    assert vals["FORM_TYPE"] == SUBOPTS and vals["pubsub#deliver"] == "1"
    assert {"pubsub#digest", "pubsub#include_body"} <= set(vals)
    assert error(x.iq("get", "<pubsub xmlns='%s'><default node='nope'/></pubsub>" % NS_PUBSUB,
                      to=svc))[1] == "item-not-found"
    # §6.3.4 errors before a subscription exists.
    assert error(options_iq(x, "get", "opts", x.jid)) == ("cancel", "unexpected-request",
                                                          "not-subscribed")
    assert error(options_iq(x, "get", "opts", "@bad@")) == ("modify", "bad-request",
                                                           "invalid-jid")
    assert error(options_iq(x, "get", "nope", x.jid))[1] == "item-not-found"
    ok(x.iq("set", "<pubsub xmlns='%s'><subscribe node='opts' jid='%s'/></pubsub>"
            % (NS_PUBSUB, x.jid), to=svc))
    # Someone else may not read or change them (the node's owner may).
    assert error(options_iq(t, "get", "opts", x.jid))[:2] == ("auth", "forbidden")
    ok(options_iq(o, "get", "opts", x.jid))
    assert error(options_iq(x, "get", "opts", x.jid, subid="123"))[2] == "invalid-subid"
    r = ok(options_iq(x, "get", "opts", x.jid))
    assert form_values(r)["pubsub#deliver"] == "1"
    # A form the service cannot take.
    e = error(options_iq(x, "set", "opts", x.jid,
                         form({"pubsub#digest": "true"}, SUBOPTS)))
    assert e == ("modify", "bad-request", "invalid-options")
    e = error(options_iq(x, "set", "opts", x.jid, form({"pubsub#nonsense": "1"}, SUBOPTS)))
    assert e[2] == "invalid-options"
    # deliver=false really stops the notifications; a body is added when asked.
    ok(options_iq(x, "set", "opts", x.jid, form({"pubsub#deliver": "false"}, SUBOPTS)))
    assert form_values(ok(options_iq(x, "get", "opts", x.jid)))["pubsub#deliver"] == "0"
    ok(publish(o, "opts", "<x xmlns='urn:test'>1</x>", "i1", to=svc))
    no_event(x, "opts")
    ok(options_iq(x, "set", "opts", x.jid,
                  form({"pubsub#deliver": "1", "pubsub#include_body": "1"}, SUBOPTS)))
    ok(publish(o, "opts", "<x xmlns='urn:test'>2</x>", "i2", to=svc))
    ev = wait_event(x, "opts", frm=svc)
    assert event_item(ev).get("id") == "i2"
    assert ev.find(q(imclient.NS_CLIENT, "body")) is not None, dump(ev)
    # §6.1.6 subscribe and configure at once: the third subscribes with delivery off.
    e = error(t.iq("set", "<pubsub xmlns='%s'><subscribe node='opts' jid='%s'/><options>%s"
                          "</options></pubsub>" % (NS_PUBSUB, t.jid,
                                                   form({"pubsub#digest": "1"}, SUBOPTS)), to=svc))
    assert e[2] == "invalid-options"
    assert error(options_iq(t, "get", "opts", t.jid))[2] == "not-subscribed"  # nothing stored
    ok(t.iq("set", "<pubsub xmlns='%s'><subscribe node='opts' jid='%s'/><options>%s</options>"
                   "</pubsub>" % (NS_PUBSUB, t.jid, form({"pubsub#deliver": "0"}, SUBOPTS)),
            to=svc))
    assert form_values(ok(options_iq(t, "get", "opts", t.jid)))["pubsub#deliver"] == "0"
    ok(publish(o, "opts", "<x xmlns='urn:test'>3</x>", "i3", to=svc))
    assert event_item(wait_event(x, "opts", frm=svc)).get("id") == "i3"
    no_event(t, "opts")
    for c in (o, x, t):
        c.close()


NS_COMMANDS = "http://jabber.org/protocol/commands"
GET_PENDING = NS_PUBSUB + "#get-pending"


def is_auth_request(el, svc, subscriber):
    return (el.tag == q(imclient.NS_CLIENT, "message") and el.get("from") == svc
            and "pubsub#subscribe_authorization" in dump(el) and subscriber in dump(el))


def test_service_get_pending_command_and_pending_state(server):
    owner, other, third = fresh(server, "gp"), fresh(server, "gq"), fresh(server, "gr")
    o = login(server, owner)
    o.send("<presence/>")
    x, t = login(server, other), login(server, third)
    svc = "pubsub.localhost"
    r = ok(o.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=svc))
    assert GET_PENDING in dump(r) and NS_COMMANDS in dump(r)
    r = ok(o.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items' node='%s'/>"
                % NS_COMMANDS, to=svc))
    assert GET_PENDING in dump(r)
    ok(o.iq("set", "<pubsub xmlns='%s'><create node='vip'/><configure>%s</configure></pubsub>"
            % (NS_PUBSUB, form({"pubsub#access_model": "authorize"},
                               NS_PUBSUB + "#node_config")), to=svc))
    ok(o.iq("set", "<pubsub xmlns='%s'><create node='plain'/></pubsub>" % NS_PUBSUB, to=svc))
    ok(x.iq("set", "<pubsub xmlns='%s'><subscribe node='vip' jid='%s'/></pubsub>"
            % (NS_PUBSUB, x.jid), to=svc))
    o.wait_for(lambda e: is_auth_request(e, svc, x.jid), what="first authorization request")
    # §8.7: the owner asks for the pending requests; the form lists its authorize nodes only.
    r = ok(o.iq("set", "<command xmlns='%s' node='%s' action='execute'/>"
                % (NS_COMMANDS, GET_PENDING), to=svc))
    cmd = r.find(q(NS_COMMANDS, "command"))
    assert cmd.get("status") == "executing", dump(r)
    opts = [v.text for v in cmd.iter(q(NS_DATA, "value"))]
    assert "vip" in opts and "plain" not in opts
    sid = cmd.get("sessionid")
    r = ok(o.iq("set", "<command xmlns='%s' node='%s' sessionid='%s'><x xmlns='%s' type='submit'>"
                       "<field var='pubsub#node'><value>vip</value></field></x></command>"
                % (NS_COMMANDS, GET_PENDING, sid, NS_DATA), to=svc))
    assert r.find(q(NS_COMMANDS, "command")).get("status") == "completed"
    again = o.wait_for(lambda e: is_auth_request(e, svc, x.jid), what="re-sent request")
    assert "vip" in dump(again)
    # Someone who owns no authorize node: nothing to list; and may not ask for another's node.
    r = t.iq("set", "<command xmlns='%s' node='%s' action='execute'/>"
             % (NS_COMMANDS, GET_PENDING), to=svc)
    assert error(r)[1] == "item-not-found"
    r = t.iq("set", "<command xmlns='%s' node='%s'><x xmlns='%s' type='submit'><field "
                    "var='pubsub#node'><value>vip</value></field></x></command>"
             % (NS_COMMANDS, GET_PENDING, NS_DATA), to=svc)
    assert error(r)[:2] == ("auth", "forbidden")
    # The re-sent form approves like the first.
    o.send("<message to='%s'><x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>%s"
           "#subscribe_authorization</value></field><field var='pubsub#node'><value>vip</value>"
           "</field><field var='pubsub#subscriber_jid'><value>%s</value></field><field "
           "var='pubsub#allow'><value>1</value></field></x></message>"
           % (svc, NS_DATA, NS_PUBSUB, x.jid))
    wait_event(x, "vip", frm=svc)
    # The owner's subscription management: back to pending, then listed as such.
    ok(o.iq("set", "<pubsub xmlns='%s'><subscriptions node='vip'><subscription jid='%s' "
                   "subscription='pending'/></subscriptions></pubsub>" % (NS_OWNER, x.jid),
            to=svc))
    r = ok(o.iq("get", "<pubsub xmlns='%s'><subscriptions node='vip'/></pubsub>" % NS_OWNER,
                to=svc))
    subs = {s.get("jid"): s.get("subscription") for s in r.iter(q(NS_OWNER, "subscription"))}
    assert subs == {x.jid: "pending"}
    assert error(items(x, svc, "vip"))[2] == "pending-subscription"
    for c in (o, x, t):
        c.close()


def test_photo_hash_forgotten_with_the_account(server):
    """An account removed and made again under the same name has no photo: the cache forgot it."""
    import base64
    alice, bob = fresh(server, "ve"), fresh(server, "vf")
    ab = "%s@localhost" % alice
    for round_ in (1, 2):
        befriend(server, alice, bob)
        b = login(server, bob)
        b.send("<presence/>")
        a = login(server, alice)
        if round_ == 1:
            png = b"\x89PNG\r\n\x1a\n" + b"gone" * 40
            ok(a.iq("set", "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>%s"
                           "</BINVAL></PHOTO></vCard>" % base64.b64encode(png).decode()))
        a.send("<presence/>")
        pres = b.wait_for(lambda e: imclient.is_presence(e, frm=a.jid, type_=None),
                          what="alice's presence")
        photo = pres.find(q("vcard-temp:x:update", "x") + "/" + q("vcard-temp:x:update", "photo"))
        assert photo is not None, dump(pres)
        assert bool(photo.text) == (round_ == 1), dump(pres)
        a.close()
        b.close()
        if round_ == 1:
            server.ctl_ok("account", "remove", ab)
            server.add_account(ab, imclient.PASSWORD)
