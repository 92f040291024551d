"""test_pubsub_admin.py: the pubsub nodes in the admin API over the WebAdmin's HTTP door: an
account's PEP nodes (names, item counts, sizes) and the service's nodes, listed and deleted."""

import pytest

import rawxmpp
from conftest import _finish, _start
from pephelp import NS_PUBSUB, NS_EVENT, publish, items, ok, error, wait_event, no_event
from rawxmpp import q, dump
from test_webadmin_api import Web

PW = "Pep-admin-1"


@pytest.fixture(scope="module")
def srv():
    s = _start({}, webadmin=True)
    yield s
    _finish(s)


def test_account_pep_nodes_and_service_nodes_deleted_by_an_administrator(srv):
    srv.add_account("pia@localhost", PW)
    c = rawxmpp.login(srv, "pia", PW, resource="r")
    ok(publish(c, "http://jabber.org/protocol/nick",
               "<nick xmlns='http://jabber.org/protocol/nick'>Pia</nick>"))
    ok(publish(c, "urn:test:many", "<x xmlns='urn:test'>12345</x>", "a",
               options={"pubsub#max_items": "max"}))
    ok(publish(c, "urn:test:many", "<x xmlns='urn:test'>67890</x>", "b"))
    ok(publish(c, "board", "<x xmlns='urn:test'>notice</x>", "n1", to="pubsub.localhost"))
    w = Web(srv.web_port)
    status, body = w.login("postmaster", srv.postmaster_password)
    assert status == 200, body
    nodes = {n["node"]: n for n in w.ok("account.pep", {"jid": "pia@localhost"})}
    assert set(nodes) == {"http://jabber.org/protocol/nick", "urn:test:many"}
    assert nodes["urn:test:many"]["items"] == 2
    assert nodes["urn:test:many"]["bytes"] > 2 * len("<x xmlns='urn:test'>12345</x>") - 4
    svc = w.ok("pubsub.nodes", {"domain": "localhost"})
    assert svc["service"] == "pubsub.localhost"
    assert [(n["node"], n["items"]) for n in svc["nodes"]] == [("board", 1)]
    assert w.ok("pubsub.delete", {"domain": "localhost", "node": "board"}) is None
    assert w.ok("pubsub.nodes", {"domain": "localhost"})["nodes"] == []
    status, body = w.call("pubsub.delete", {"domain": "localhost", "node": "board"})
    assert not body["ok"] and body["code"] == "notfound"
    # The service no longer knows the node.
    assert error(items(c, "pubsub.localhost", "board"))[1] == "item-not-found"
    c.close()


def test_service_node_deleted_by_an_administrator_notifies_subscribers(srv):
    srv.add_account("pio@localhost", PW)
    srv.add_account("pis@localhost", PW)
    o = rawxmpp.login(srv, "pio", PW, resource="r")
    x = rawxmpp.login(srv, "pis", PW, resource="r")
    svc = "pubsub.localhost"
    ok(o.iq("set", "<pubsub xmlns='%s'><create node='gone'/></pubsub>" % NS_PUBSUB, to=svc))
    ok(x.iq("set", "<pubsub xmlns='%s'><subscribe node='gone' jid='pis@localhost/r'/></pubsub>"
            % NS_PUBSUB, to=svc))
    w = Web(srv.web_port)
    status, body = w.login("postmaster", srv.postmaster_password)
    assert status == 200, body
    assert w.ok("pubsub.delete", {"domain": "localhost", "node": "gone"}) is None
    ev = wait_event(x, "gone", frm=svc)
    assert ev.find(q(NS_EVENT, "event") + "/" + q(NS_EVENT, "delete")) is not None, dump(ev)
    no_event(o, "gone")  # the owner holds no subscription
    o.close()
    x.close()
