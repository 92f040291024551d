"""test_cluster_s2s.py: a node killed with -9 while its outgoing server-to-server queue holds a
stanza (docs/cluster.md, "Failure modes"): the queued stanza is in the shared store's journal,
and the node that remains takes the dead node's rows over and sends them. Two nodes of domain
a.test on one PostgreSQL and one nats-server, a second Starling as the remote domain b.test,
reached through a relay that first accepts and says nothing (the remote unreachable), then
forwards (the remote reachable again)."""

import time

import pgfixture
import s2s_helpers
import starling
from rawxmpp import NS_CLIENT, q
from test_cluster import HOSTS, Nats, pytestmark, status, stop_all  # noqa: F401 (skip mark)
from test_cluster_partition import Relay

DOMAIN = "a.test"
REMOTE = "b.test"
USERS = ["alice", "amy", "anna", "ava", "abby", "ada"]


def journal(db):
    rows = pgfixture.shared().psql("SELECT node, target, source FROM cluster_s2s_queue "
                                   "ORDER BY node", db=db)
    return [r.split("\x1f") for r in rows.splitlines()]


def login(srv, user):
    c = s2s_helpers.login(_as_domain(srv), user)
    c.jid = "%s@%s/r1" % (user, DOMAIN)
    return c


def _as_domain(srv):
    srv.domain = DOMAIN
    return srv


def test_killed_nodes_queued_s2s_stanza_is_sent_by_the_node_that_remains(make_server):
    # The remote domain, on SQLite (its own store) unless the suite runs on PostgreSQL.
    # On 127.0.0.1: the relay forwards there.
    remote = s2s_helpers.start(make_server, REMOTE, "127.0.0.1")
    remote.ctl_ok("account", "add", "bob@" + REMOTE, "--password", s2s_helpers.PASSWORD)
    relay = Relay(None)  # the remote does not answer yet
    nats = Nats()
    pg = pgfixture.shared()
    db, conninfo = pg.database("clusters2s")
    nodes = []
    try:
        def node(i):
            srv = starling.Server(s2s_helpers.base_options(DOMAIN, {
                "store.backend": "postgresql", "store.postgresql.conninfo": conninfo,
                "cluster.node_id": "n%d" % (i + 1), "cluster.nats_url": nats.url,
                "xmpp.sending.routes": "%s=127.0.0.1:%d" % (REMOTE, relay.port)}),
                host=HOSTS[i])
            nodes.append(srv)
            srv.start()
            return srv

        for i in range(2):
            node(i)
        time.sleep(1.0)
        users = [u for u in USERS if status(nodes[0], "%s@%s" % (u, DOMAIN))["home"] == "n1"]
        assert users, "no account hashes to n1"
        victim, survivor = nodes
        user = users[0]
        victim.ctl_ok("account", "add", "%s@%s" % (user, DOMAIN),
                      "--password", s2s_helpers.PASSWORD)
        # The remote reaches a.test (dialback) on the node that remains.
        s2s_helpers.set_route(remote, "%s=%s:%d" % (DOMAIN, survivor.host, survivor.port))
        bob = s2s_helpers.login(remote, "bob")
        a = login(victim, user)
        a.send("<message to='bob@%s' type='chat'><body>queued before the crash</body>"
               "</message>" % REMOTE)
        # Waiting in n1's queue, and in the journal.
        s2s_helpers.wait_until(lambda: journal(db) == [["n1", REMOTE, DOMAIN]], 10,
                               "the stanza journaled by n1")
        victim.proc.kill()
        victim.proc.wait(5)
        a.close()
        relay.target = remote.port  # from now on the relay forwards: the remote is reachable
        # n2 sees n1 leave (1.5 s without heartbeats), takes its rows and sends the stanza.
        el = s2s_helpers.wait_message(bob, "queued before the crash", timeout=20)
        assert el.get("from") == "%s@%s/r1" % (user, DOMAIN)
        assert el.get("type") == "chat"
        s2s_helpers.wait_until(lambda: journal(db) == [], 10, "the journal emptied")
        # Exactly once: the next message bob gets is a new one, sent now through n2.
        a2 = login(survivor, user)
        a2.send("<message to='bob@%s' type='chat'><body>after the crash</body></message>"
                % REMOTE)
        el = bob.wait_for(lambda e: e.tag == q(NS_CLIENT, "message"), 10, "the next message")
        assert el.findtext(q(NS_CLIENT, "body")) == "after the crash"
        a2.close()
        assert "taken over" in survivor.log_text()
        # n1 again: a node stopped (SIGTERM) while its queue waits leaves the stanza to n2 too.
        relay.target = None  # new connections get no answer again (n2's stays open)
        n1 = node(0)
        time.sleep(1.0)
        assert status(n1, "%s@%s" % (user, DOMAIN))["home"] == "n1"
        a3 = login(n1, user)
        a3.send("<message to='bob@%s' type='chat'><body>queued before the stop</body>"
                "</message>" % REMOTE)
        s2s_helpers.wait_until(lambda: journal(db) == [["n1", REMOTE, DOMAIN]], 10,
                               "the stanza journaled by the new n1")
        assert n1.stop() == []
        s2s_helpers.wait_message(bob, "queued before the stop", timeout=20)
        s2s_helpers.wait_until(lambda: journal(db) == [], 10, "the journal emptied")
        assert "left to another node" in n1.log_text()
        bob.close()
    finally:
        relay.cut()
        stop_all(nodes, nats, pg, db)
