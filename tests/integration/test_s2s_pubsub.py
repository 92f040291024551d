"""test_s2s_pubsub.py: the service pubsub.b.test and a PEP node of b.test reached from a.test over
server-to-server: a remote user subscribes to a node of the service and is notified, and reads an
open PEP node (an OMEMO device list) of a b.test account."""

import pytest

from pephelp import NS_PUBSUB, publish, items, item_ids, ok, wait_event, event_item
from rawxmpp import dump
from s2s_helpers import DOM_A, DOM_B, HOST_A, HOST_B, PASSWORD, login, set_route, start

pytestmark = pytest.mark.own_server

PS_B = "pubsub." + DOM_B


def test_remote_user_subscribes_to_service_node_and_reads_open_pep_node(make_server):
    a = start(make_server, DOM_A, HOST_A)
    b = start(make_server, DOM_B, HOST_B)
    set_route(a, "%s=%s:%d, %s=%s:%d" % (DOM_B, b.host, b.port, PS_B, b.host, b.port))
    set_route(b, "%s=%s:%d" % (DOM_A, a.host, a.port))
    a.add_account("alice@" + DOM_A, PASSWORD)
    b.add_account("bob@" + DOM_B, PASSWORD)
    alice = login(a, "alice")
    bob = login(b, "bob")
    ok(publish(bob, "news", "<entry xmlns='http://www.w3.org/2005/Atom'>one</entry>", "e1",
               to=PS_B))
    r = alice.iq("set", "<pubsub xmlns='%s'><subscribe node='news' jid='%s'/></pubsub>"
                 % (NS_PUBSUB, alice.jid), to=PS_B, timeout=30)
    assert r.get("type") == "result", dump(r)
    # The last item on subscription, then a new one, over the s2s stream back to a.test.
    assert event_item(wait_event(alice, "news", frm=PS_B, timeout=30)).get("id") == "e1"
    ok(publish(bob, "news", "<entry xmlns='http://www.w3.org/2005/Atom'>two</entry>", "e2",
               to=PS_B))
    assert event_item(wait_event(alice, "news", frm=PS_B, timeout=30)).get("id") == "e2"
    # A remote stranger reads an open PEP node.
    ok(publish(bob, "eu.siacs.conversations.axolotl.devicelist",
               "<list xmlns='eu.siacs.conversations.axolotl'><device id='7'/></list>", "current",
               options={"pubsub#access_model": "open"}))
    r = items(alice, "bob@" + DOM_B, "eu.siacs.conversations.axolotl.devicelist")
    assert item_ids(ok(r)) == ["current"]
    alice.close()
    bob.close()
