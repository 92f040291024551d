"""test_pubsub_clients.py: personal eventing with real client libraries: slixmpp (xep_0060, 0163,
0172, 0084, 0048/0049/0223 plugins with XEP-0115 caps) and aioxmpp (entity caps, PEP, avatars):
nicknames and avatars exchanged between contacts, old-format bookmarks seen in the new format
and back, an OMEMO device list readable by a stranger."""

import asyncio
import base64
import hashlib

import pytest

import slix
from imclient import fresh, befriend, PASSWORD
from slix import run

NICK = "http://jabber.org/protocol/nick"
BM2 = "urn:xmpp:bookmarks:1"
AXOLOTL_DEVICES = "eu.siacs.conversations.axolotl.devicelist"
OMEMO2_DEVICES = "urn:xmpp:omemo:2:devices"


async def pep_client(server, user, resource="slix"):
    c = slix.Client(server, "%s@localhost/%s" % (user, resource), PASSWORD, mech="PLAIN")
    for p in ("xep_0030", "xep_0115", "xep_0060", "xep_0163", "xep_0172", "xep_0084",
              "xep_0049", "xep_0048", "xep_0223"):
        c.xmpp.register_plugin(p)
    c.events = {}
    for ev in ("user_nick_publish", "avatar_metadata_publish"):
        c.events[ev] = asyncio.Queue()
        c.xmpp.add_event_handler(ev, c.events[ev].put_nowait)
    assert await c.connect() == "session"
    return c


async def next_event(c, name, frm, timeout=8.0):
    loop = asyncio.get_event_loop()
    deadline = loop.time() + timeout
    while True:
        msg = await asyncio.wait_for(c.events[name].get(), deadline - loop.time())
        if msg["from"].bare == frm:
            return msg


def test_slixmpp_contacts_exchange_nicknames_and_avatars(server):
    alice, bob = fresh(server, "sa"), fresh(server, "sb")
    befriend(server, alice, bob)

    async def go():
        a = await pep_client(server, alice)
        b = await pep_client(server, bob)
        try:
            # Presence with XEP-0115 caps that list nick+notify and avatar metadata+notify.
            b.xmpp.send_presence()
            a.xmpp.send_presence()
            await asyncio.sleep(0.5)
            await a.xmpp["xep_0172"].publish_nick("Alice Liddell")
            msg = await next_event(b, "user_nick_publish", "%s@localhost" % alice)
            assert msg["pubsub_event"]["items"]["item"]["nick"]["nick"] == "Alice Liddell"
            await b.xmpp["xep_0172"].publish_nick("Bob")
            msg = await next_event(a, "user_nick_publish", "%s@localhost" % bob)
            assert msg["pubsub_event"]["items"]["item"]["nick"]["nick"] == "Bob"
            # XEP-0084: data, then metadata; the contact fetches the data by its id.
            png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
            av_id = hashlib.sha1(png).hexdigest()
            await a.xmpp["xep_0084"].publish_avatar(png)
            await a.xmpp["xep_0084"].publish_avatar_metadata(
                items=[{"id": av_id, "type": "image/png", "bytes": len(png)}])
            msg = await next_event(b, "avatar_metadata_publish", "%s@localhost" % alice)
            info = msg["pubsub_event"]["items"]["item"]["avatar_metadata"]["info"]
            assert info["id"] == av_id
            got = await b.xmpp["xep_0084"].retrieve_avatar("%s@localhost" % alice, av_id)
            data = got["pubsub"]["items"]["item"]["avatar_data"]["value"]
            assert data == png
            # A client that comes online later gets the last nick at once.
            b2 = await pep_client(server, bob, "later")
            try:
                b2.xmpp.send_presence()
                msg = await next_event(b2, "user_nick_publish", "%s@localhost" % alice)
                assert msg["pubsub_event"]["items"]["item"]["nick"]["nick"] == "Alice Liddell"
            finally:
                await b2.close()
        finally:
            await a.close()
            await b.close()
    run(go(), timeout=60)


def test_slixmpp_old_bookmarks_seen_in_new_format_and_back(server):
    user = fresh(server, "sk")

    async def go():
        c = await pep_client(server, user)
        try:
            from slixmpp.plugins.xep_0048 import Bookmarks
            from slixmpp import ET
            bm = Bookmarks()
            bm.add_conference("room@conference.localhost", "Alice", name="The Room",
                              autojoin=True)
            await c.xmpp["xep_0048"].set_bookmarks(bm, method="xep_0049")
            own = c.xmpp.boundjid.bare
            r = await c.xmpp["xep_0060"].get_items(own, BM2)
            items = list(r["pubsub"]["items"])
            assert [i["id"] for i in items] == ["room@conference.localhost"]
            conf = items[0].xml.find("{%s}conference" % BM2)
            assert conf.get("name") == "The Room" and conf.get("autojoin") == "true"
            assert conf.findtext("{%s}nick" % BM2) == "Alice"
            # A XEP-0402 client adds a room; the old-format client sees it.
            payload = ET.fromstring("<conference xmlns='%s' name='Other' autojoin='true'>"
                                    "<nick>Al</nick></conference>" % BM2)
            form = c.xmpp["xep_0004"].make_form(ftype="submit")
            form.add_field(var="FORM_TYPE", ftype="hidden",
                           value="http://jabber.org/protocol/pubsub#publish-options")
            form.add_field(var="pubsub#persist_items", value="true")
            form.add_field(var="pubsub#access_model", value="whitelist")
            form.add_field(var="pubsub#max_items", value="max")
            form.add_field(var="pubsub#send_last_published_item", value="never")
            await c.xmpp["xep_0060"].publish(own, BM2, id="other@conference.localhost",
                                             payload=payload, options=form)
            r = await c.xmpp["xep_0048"].get_bookmarks(method="xep_0049")
            confs = {str(x["jid"]): x for x in r["private"]["bookmarks"]["conferences"]}
            assert set(confs) == {"room@conference.localhost", "other@conference.localhost"}
            assert confs["other@conference.localhost"]["nick"] == "Al"
            # XEP-0048 over XEP-0223 (persistent, whitelisted PEP node) works as such.
            bm3 = Bookmarks()
            bm3.add_conference("pep@conference.localhost", "P", autojoin=False)
            await c.xmpp["xep_0048"].set_bookmarks(bm3, method="xep_0223")
            r = await c.xmpp["xep_0048"].get_bookmarks(method="xep_0223")
            item = r["pubsub"]["items"]["item"]
            assert "pep@conference.localhost" in str(item)
        finally:
            await c.close()
    run(go(), timeout=60)


@pytest.mark.parametrize("node,payload", [
    (AXOLOTL_DEVICES, "<list xmlns='eu.siacs.conversations.axolotl'><device id='4223'/></list>"),
    (OMEMO2_DEVICES, "<devices xmlns='urn:xmpp:omemo:2'><device id='4223'/></devices>"),
])
def test_slixmpp_omemo_device_list_readable_by_a_stranger(server, node, payload):
    owner, stranger = fresh(server, "so"), fresh(server, "st")

    async def go():
        o = await pep_client(server, owner)
        s = await pep_client(server, stranger)
        try:
            from slixmpp import ET
            form = o.xmpp["xep_0004"].make_form(ftype="submit")
            form.add_field(var="FORM_TYPE", ftype="hidden",
                           value="http://jabber.org/protocol/pubsub#publish-options")
            form.add_field(var="pubsub#access_model", value="open")
            form.add_field(var="pubsub#max_items", value="max")
            await o.xmpp["xep_0060"].publish(o.xmpp.boundjid.bare, node, id="current",
                                             payload=ET.fromstring(payload), options=form)
            r = await s.xmpp["xep_0060"].get_items("%s@localhost" % owner, node)
            assert "4223" in str(r)
            # Publishing again with the same options meets them (what Conversations does).
            await o.xmpp["xep_0060"].publish(o.xmpp.boundjid.bare, node, id="current",
                                             payload=ET.fromstring(payload), options=form)
        finally:
            await o.close()
            await s.close()
    run(go(), timeout=60)


async def aio_client(server, user, resource):
    import aioxmpp
    import aioxmpp.connector
    client = aioxmpp.PresenceManagedClient(
        aioxmpp.JID.fromstr("%s@localhost/%s" % (user, resource)),
        aioxmpp.make_security_layer(PASSWORD, no_verify=True),
        override_peer=[("127.0.0.1", server.port, aioxmpp.connector.STARTTLSConnector())])
    return client


def test_aioxmpp_contacts_exchange_nicknames_and_avatars(server):
    pytest.importorskip("aioxmpp")
    import aioxmpp
    import aioxmpp.avatar
    import aioxmpp.pep
    import aioxmpp.pubsub.xso
    import aioxmpp.xso as xso

    alice, bob = fresh(server, "aa"), fresh(server, "ab")
    befriend(server, alice, bob)

    class Nick(xso.XSO):
        TAG = (NICK, "nick")
        text = xso.Text(default=None)
    aioxmpp.pubsub.xso.as_payload_class(Nick)

    async def go():
        a = await aio_client(server, alice, "aio")
        b = await aio_client(server, bob, "aio")
        got_nick = asyncio.get_event_loop().create_future()
        got_avatar = asyncio.get_event_loop().create_future()
        # Bob's interests: +notify for the nick and the avatar metadata, in his caps.
        b_pep = b.summon(aioxmpp.pep.PEPClient)
        claim = b_pep.claim_pep_node(NICK, notify=True)

        def on_nick(jid, node, item, message=None):
            if jid.bare() == aioxmpp.JID.fromstr("%s@localhost" % alice) and \
                    isinstance(item.registered_payload, Nick) and not got_nick.done():
                got_nick.set_result(item.registered_payload.text)
        claim.on_item_publish.connect(on_nick)
        b_av = b.summon(aioxmpp.avatar.AvatarService)

        def on_meta(jid, metadata):
            if jid == aioxmpp.JID.fromstr("%s@localhost" % alice) and not got_avatar.done():
                got_avatar.set_result(metadata)
        b_av.on_metadata_changed.connect(on_meta)
        a_pep = a.summon(aioxmpp.pep.PEPClient)
        a_av = a.summon(aioxmpp.avatar.AvatarService)
        a.presence = aioxmpp.PresenceState(True)
        b.presence = aioxmpp.PresenceState(True)
        async with a.connected(), b.connected():
            await asyncio.sleep(0.5)
            n = Nick()
            n.text = "Alice via aioxmpp"
            await a_pep.publish(NICK, n)
            assert await asyncio.wait_for(got_nick, 10) == "Alice via aioxmpp"
            png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
            aset = aioxmpp.avatar.AvatarSet()
            aset.add_avatar_image("image/png", image_bytes=png)
            await a_av.publish_avatar_set(aset)
            metadata = await asyncio.wait_for(got_avatar, 10)
            descs = [d for d in metadata if d.mime_type == "image/png"]
            assert descs and descs[0].normalized_id == hashlib.sha1(png).hexdigest()
            assert await descs[0].get_image_bytes() == png
    run(go(), timeout=60)


def deliver_value(iq):
    for f in iq.xml.iter("{jabber:x:data}field"):
        if f.get("var") == "pubsub#deliver":
            return f.find("{jabber:x:data}value").text
    return None


def test_slixmpp_subscription_options(server):
    owner, sub = fresh(server, "sr"), fresh(server, "ss")

    async def go():
        o = await pep_client(server, owner)
        s = await pep_client(server, sub)
        svc = "pubsub.localhost"
        try:
            await o.xmpp["xep_0060"].create_node(svc, "slixopts")
            await s.xmpp["xep_0060"].subscribe(svc, "slixopts")
            got = await s.xmpp["xep_0060"].get_subscription_options(svc, "slixopts",
                                                                     s.xmpp.boundjid.bare)
            assert deliver_value(got) == "1"
            form = s.xmpp["xep_0004"].make_form("submit")
            form.add_field(var="FORM_TYPE", ftype="hidden",
                           value="http://jabber.org/protocol/pubsub#subscribe_options")
            form.add_field(var="pubsub#deliver", ftype="boolean", value=False)
            # xep_0060's set_subscription_options sends its form in an iq of type get (a
            # slixmpp bug): the same stanza, built with the plugin's classes, as a set.
            iq = s.xmpp.Iq(sto=svc, stype="set")
            iq["pubsub"]["options"]["node"] = "slixopts"
            iq["pubsub"]["options"]["jid"] = s.xmpp.boundjid.bare
            iq["pubsub"]["options"].append(form)
            await iq.send()
            got = await s.xmpp["xep_0060"].get_subscription_options(svc, "slixopts",
                                                                     s.xmpp.boundjid.bare)
            assert deliver_value(got) == "0"
        finally:
            await o.close()
            await s.close()

    run(go())
