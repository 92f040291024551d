"""Realistic and long JIDs through login, presence and messages (short test names once hid a
buffer sized for the address of a string rather than its length)."""
import rawxmpp
from rawxmpp import NS_CLIENT, q

PW = "long-names-secret"
LONG = "someone.with.a.rather.long.name.for.a.test"


def test_long_jid_presence_and_message(server):
    server.add_account(LONG + "@localhost", PW)
    server.add_account("receiver.with.long.name@localhost", PW)
    a = rawxmpp.login(server, LONG, PW, resource="a-resource-name-that-is-long-too-0123456789")
    b = rawxmpp.login(server, "receiver.with.long.name", PW, resource="desk")
    try:
        a.send("<presence/>")
        own = a.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence"), 5, "own presence")
        assert own.get("from") == a.jid
        b.send("<presence/>")
        b.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence"), 5, "own presence")
        a.send("<message to='receiver.with.long.name@localhost' type='chat'><body>hi</body>"
               "</message>")
        m = b.wait_for(lambda e: e.tag == q(NS_CLIENT, "message"), 5, "message")
        assert m.get("from") == a.jid
        assert m.find(q(NS_CLIENT, "body")).text == "hi"
    finally:
        a.close()
        b.close()
