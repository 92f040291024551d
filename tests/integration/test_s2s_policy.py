"""test_s2s_policy.py (issue 20): the federation block and allow lists (xmpp.s2s_blocked,
xmpp.s2s_allowed) applied live: open links to and from a blocked domain close at once, its new
streams are refused (policy-violation), stanzas to it bounce with not-allowed; unblocking
federates again."""

import json

import pytest

from rawxmpp import NS_STANZAS
from s2s_helpers import (DOM_A, DOM_B, HOST_A, HOST_B, PASSWORD, in_conns, link, login,
                         out_conns, start, wait_message, wait_until)

pytestmark = pytest.mark.own_server


def chat(src, dst_jid, body):
    src.send("<message to='%s' type='chat' id='m-%s'><body>%s</body></message>"
             % (dst_jid, body, body))


def linked_pair(make_server):
    """a.test and b.test linked by static routes, alice and bob logged in."""
    a = start(make_server, DOM_A, HOST_A)
    b = start(make_server, DOM_B, HOST_B)
    link(a, b)
    a.add_account("alice@" + DOM_A, PASSWORD)
    b.add_account("bob@" + DOM_B, PASSWORD)
    return a, b, login(a, "alice"), login(b, "bob")


def test_block_list_applied_live(make_server):
    a, b, alice, bob = linked_pair(make_server)
    try:
        chat(alice, "bob@b.test", "before")
        wait_message(bob, "before")
        chat(bob, "alice@a.test/r1", "back")
        wait_message(alice, "back")
        assert out_conns(a) and any(c["kind"] == "s2s" for c in in_conns(a))

        # b.test blocked on a.test: both links close at once.
        a.ctl_ok("settings", "set", "xmpp.s2s_blocked", "example.org, b.test")
        wait_until(lambda: not out_conns(a) and not in_conns(a), what="a.test links to close")
        assert a.wait_log(r"policy-violation|refused by xmpp\.s2s_blocked")

        # A stanza to it bounces with not-allowed; one from it is refused at the stream.
        chat(alice, "bob@b.test", "blocked-out")
        err = wait_message(alice, type_="error", timeout=10)
        assert err.find("{jabber:client}error/{%s}not-allowed" % NS_STANZAS) is not None
        chat(bob, "alice@a.test/r1", "blocked-in")
        assert b.wait_log(r"policy-violation", timeout=10)
        assert not [c for c in in_conns(a) if "b.test" in (c.get("jid") or "")]

        # An allow list without b.test refuses it too; emptied, federation works again.
        a.ctl_ok("settings", "set", "xmpp.s2s_blocked", "")
        a.ctl_ok("settings", "set", "xmpp.s2s_allowed", "c.test")
        chat(alice, "bob@b.test", "not-allowed-either")
        err = wait_message(alice, type_="error", timeout=10)
        assert err.find("{jabber:client}error/{%s}not-allowed" % NS_STANZAS) is not None
        a.ctl_ok("settings", "set", "xmpp.s2s_allowed", "")
        chat(alice, "bob@b.test", "again")
        wait_message(bob, "again", timeout=20)
    finally:
        alice.close()
        bob.close()


def test_close_link_flush_and_drop_queue(make_server):
    """starlingctl s2s close / queue flush / queue drop (ops s2s.close, queue.flush,
    queue.drop): a link ends at once; stanzas waiting for an unreachable server are bounced at
    once instead of after the queue timeout."""
    from starling import free_ports
    a, b, alice, bob = linked_pair(make_server)
    try:
        chat(alice, "bob@b.test", "first")
        wait_message(bob, "first")
        out = out_conns(a)[0]
        a.ctl_ok("s2s", "close", str(out["id"]))
        wait_until(lambda: not [c for c in out_conns(a) if c["id"] == out["id"]],
                   what="the closed link to go")
        assert a.wait_log(r"closed by the administrator")
        chat(alice, "bob@b.test", "second")  # a new link carries it
        wait_message(bob, "second", timeout=20)
        assert a.ctl("s2s", "close", "999999").returncode == 1

        # c.test: routed to a port where nothing listens; its stanza waits to be retried.
        dead = free_ports(1)[0]
        a.ctl_ok("settings", "set", "xmpp.sending.routes", "%s=%s:%d, c.test=127.0.0.9:%d"
                 % (DOM_B, HOST_B, b.port, dead))
        chat(alice, "nobody@c.test", "stuck")
        wait_until(lambda: any(x["target"] == "c.test" and x["stanzas"] == 1
                               for x in json.loads(a.ctl_ok("queues", "--json"))),
                   what="the stanza to wait in c.test's queue")
        a.ctl_ok("queue", "flush", "c.test", DOM_A)
        a.ctl_ok("queue", "drop", "c.test", DOM_A)
        err = wait_message(alice, type_="error", timeout=5)
        assert err.find("{jabber:client}error/{%s}remote-server-not-found" % NS_STANZAS) \
            is not None
        q = [x for x in json.loads(a.ctl_ok("queues", "--json")) if x["target"] == "c.test"]
        assert q and q[0]["stanzas"] == 0
        assert a.ctl("queue", "drop", "nowhere.test", DOM_A).returncode == 1
    finally:
        alice.close()
        bob.close()


def test_block_and_allow_lists_of_one_local_domain(make_server):
    """domain set DOMAIN s2s_blocked=… / s2s_allowed=… (issue 20): applied live in addition to
    the server-wide lists, only between that local domain and the remote one; another local
    domain of the same server still federates."""
    a, b, alice, bob = linked_pair(make_server)
    a.ctl_ok("domain", "add", "a2.test")
    a.add_account("carol@a2.test", PASSWORD)
    b.ctl_ok("settings", "set", "xmpp.sending.routes", "%s=%s:%d, a2.test=%s:%d"
             % (DOM_A, HOST_A, a.port, HOST_A, a.port))
    carol = login_to(a, "carol", "a2.test")
    try:
        chat(alice, "bob@b.test", "before")
        wait_message(bob, "before")
        chat(bob, "alice@a.test/r1", "back")
        wait_message(alice, "back")

        a.ctl_ok("domain", "set", DOM_A, "s2s_blocked=Example.org b.test")
        shown = a.ctl_ok("domain", "show", DOM_A)
        assert "s2s_blocked = example.org, b.test" in shown, shown
        assert "s2s_blocked = \n" in a.ctl_ok("domain", "show", "a2.test")
        wait_until(lambda: not [c for c in out_conns(a) if "a.test -> b.test" in c["jid"]],
                   what="the a.test -> b.test link to close")
        assert a.ctl("domain", "set", DOM_A, "s2s_blocked=not a@domain").returncode == 1

        # a.test's stanzas to b.test bounce; b.test's to a.test are refused at the stream.
        chat(alice, "bob@b.test", "blocked-out")
        err = wait_message(alice, type_="error", timeout=10)
        assert err.find("{jabber:client}error/{%s}not-allowed" % NS_STANZAS) is not None
        chat(bob, "alice@a.test/r1", "blocked-in")
        assert b.wait_log(r"policy-violation", timeout=10)
        # a2.test, on the same server, is not concerned.
        chat(carol, "bob@b.test", "from-a2")
        wait_message(bob, "from-a2", timeout=20)
        chat(bob, "carol@a2.test/r1", "to-a2")
        wait_message(carol, "to-a2", timeout=20)

        # An allow list of a.test without b.test refuses it too; back to default, it federates.
        a.ctl_ok("domain", "set", DOM_A, "s2s_blocked=default")
        a.ctl_ok("domain", "set", DOM_A, "s2s_allowed=c.test")
        chat(alice, "bob@b.test", "not-allowed-either")
        err = wait_message(alice, type_="error", timeout=10)
        assert err.find("{jabber:client}error/{%s}not-allowed" % NS_STANZAS) is not None
        a.ctl_ok("domain", "set", DOM_A, "s2s_allowed=")
        chat(alice, "bob@b.test", "again")
        wait_message(bob, "again", timeout=20)
    finally:
        alice.close()
        bob.close()
        carol.close()


def test_domain_lists_survive_a_restart(make_server):
    a = start(make_server, DOM_A, HOST_A)
    a.ctl_ok("domain", "set", DOM_A, "s2s_blocked=b.test")
    a.stop()
    a.start()
    a.add_account("alice@" + DOM_A, PASSWORD)
    alice = login(a, "alice")
    try:
        a.ctl_ok("settings", "set", "xmpp.sending.routes", "b.test=127.0.0.3:9")
        chat(alice, "bob@b.test", "after-restart")
        err = wait_message(alice, type_="error", timeout=10)
        assert err.find("{jabber:client}error/{%s}not-allowed" % NS_STANZAS) is not None
    finally:
        alice.close()


def login_to(srv, user, domain):
    """A logged-in client of another local domain of `srv`."""
    import rawxmpp
    c = rawxmpp.RawClient(srv.port, sni=domain, host=srv.host)
    c.open(to=domain)
    c.starttls(to=domain)
    kind, _ = c.plain(user, PASSWORD)
    assert kind == "success"
    c.restart(to=domain)
    c.bind("r1")
    c.send("<presence/>")
    return c
