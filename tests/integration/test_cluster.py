"""test_cluster.py: three Starling nodes (127.0.0.2-4) on one PostgreSQL database and one
nats-server, all started here on loopback (issue 19): each account's sessions live on its home
node (other nodes answer <see-other-host/>), messages and presence cross nodes over NATS, a node
killed with -9 leaves, and its users log in again on the nodes that remain."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import pgfixture
import rawxmpp
import starling
import muchelp
from imclient import PASSWORD, is_message, is_presence, subscribe_clients
from rawxmpp import NS_CLIENT, NS_BIND, q

NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hugo", "iris", "jack",
         "kate", "liam"]

pytestmark = [
    pytest.mark.skipif(not (pgfixture.available() and shutil.which("nats-server")),
                       reason="needs postgresql-15 and nats-server (scripts/deps/cluster.test)"),
    # The nodes run on PostgreSQL whatever STARLING_STORE says: the suite's PostgreSQL pass
    # (mk/cluster.mk, the same build as the first pass) would run them a second time unchanged.
    pytest.mark.skipif(starling.ON_POSTGRESQL,
                       reason="cluster tests use PostgreSQL in every pass: run once per build"),
]


class Nats:
    def __init__(self):
        self.port = starling.free_ports(1)[0]
        self.dir = tempfile.mkdtemp(prefix="starling-nats-")
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(self.port)],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not starling.Server._port_accepts(self.port):
            assert self.proc.poll() is None and time.monotonic() < deadline, "nats-server"
            time.sleep(0.05)
        self.url = "nats://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    nats = Nats()
    pg = pgfixture.shared()
    dbname, conninfo = pg.database("cluster")
    nodes = []
    try:
        for i, host in enumerate(HOSTS):
            srv = starling.Server({"store.backend": "postgresql",
                                   "store.postgresql.conninfo": conninfo,
                                   "cluster.node_id": "n%d" % (i + 1),
                                   "cluster.nats_url": nats.url}, host=host)
            srv.start()
            nodes.append(srv)
        # Every node sees the three (heartbeats every 300 ms).
        time.sleep(1.0)
        for name in USERS:
            nodes[0].ctl_ok("account", "add", "%s@localhost" % name, "--password", PASSWORD)
        yield nodes
    finally:
        stop_all(nodes, nats, pg, dbname)


def stop_all(nodes, nats, pg, dbname):
    """Stops the nodes still running (their stop checks asserted), nats-server, and drops the
    database."""
    problems = []
    for srv in nodes:
        if srv.running():
            problems += srv.stop()
        srv.cleanup()
    nats.stop()
    pg.drop(dbname)
    assert problems == [], problems


def node_at(nodes, address):
    for srv in nodes:
        if "%s:%d" % (srv.host, srv.port) == address:
            return srv
    raise AssertionError("see-other-host to an unknown address %s" % address)


def authed_on(srv, user):
    """A new stream on `srv`: STARTTLS, PLAIN as `user`, restarted; not bound."""
    c = rawxmpp.RawClient(srv.port, host=srv.host)
    c.open(to="localhost")
    c.starttls(to="localhost")
    kind, data = c.plain(user, PASSWORD)
    assert kind == "success", data
    c.restart(to="localhost")
    return c


def login_on(srv, user, resource):
    """Logs in on `srv`: (client, None), or (None, address) when `srv` sends the client to the
    account's home node with <see-other-host/>."""
    c = authed_on(srv, user)
    c.send("<iq type='set' id='bind1'><bind xmlns='%s'><resource>%s</resource></bind></iq>"
           % (NS_BIND, resource))
    el = c.wait_for(lambda e: e.tag in (q(NS_CLIENT, "iq"), q(rawxmpp.NS_STREAM, "error")))
    if el.tag == q(NS_CLIENT, "iq"):
        assert el.get("type") == "result", rawxmpp.dump(el)
        c.jid = "%s@localhost/%s" % (user, resource)
        c.user = user
        return c, None
    other = el.find(q(NS_STREAMS_ERR, "see-other-host"))
    assert other is not None, rawxmpp.dump(el)
    c.close()
    return None, other.text


def login_home(nodes, user, resource="r", start=0):
    """Logs in through the node `start`, following <see-other-host/>; (client, its node)."""
    srv = nodes[start]
    for _ in range(3):
        c, address = login_on(srv, user, resource)
        if c is not None:
            return c, srv
        srv = node_at(nodes, address)
    raise AssertionError("see-other-host loop for %s" % user)


def test_each_account_has_one_home_and_others_redirect(cluster):
    homes = {}
    for user in ("alice", "bob", "carol", "dave", "erin", "frank"):
        first, node = login_home(cluster, user, start=0)
        first.close()
        # Whichever node a client reaches first, it ends on the same home node.
        for start in (1, 2):
            c, again = login_home(cluster, user, start=start)
            c.close()
            assert again is node, user
        homes[user] = node
    # Six accounts over three nodes: more than one node is somebody's home.
    assert len({id(n) for n in homes.values()}) >= 2, homes


def pair_on_two_nodes(cluster):
    """Two logged-in users whose home nodes differ."""
    clients = {}
    for user in ("alice", "bob", "carol", "dave", "erin", "frank"):
        c, node = login_home(cluster, user)
        clients[user] = (c, node)
    users = list(clients)
    for a in users:
        for b in users:
            if clients[a][1] is not clients[b][1]:
                for u in users:
                    if u not in (a, b):
                        clients[u][0].close()
                return clients[a][0], clients[b][0]
    raise AssertionError("all six accounts on one node")


def test_message_and_presence_across_nodes(cluster):
    a, b = pair_on_two_nodes(cluster)
    a.send("<presence/>")
    b.send("<presence/>")
    # A message to the bare JID and one to the full JID, both ways.
    a.send("<message to='%s@localhost' type='chat'><body>over nats</body></message>" % b.user)
    m = b.wait_for(lambda e: is_message(e, body="over nats"), 10, "the cross-node message")
    assert m.get("from") == a.jid, rawxmpp.dump(m)
    b.send("<message to='%s' type='chat'><body>and back</body></message>" % a.jid)
    a.wait_for(lambda e: is_message(e, body="and back"), 10, "the reply")
    # Subscription and presence between the two home nodes.
    a.send("<presence type='subscribe' to='%s@localhost'/>" % b.user)
    b.wait_for(lambda e: is_presence(e, type_="subscribe"), 10, "the subscription request")
    b.send("<presence type='subscribed' to='%s@localhost'/>" % a.user)
    a.wait_for(lambda e: is_presence(e, frm=b.jid, type_=None), 10, "b's presence")
    b.send("<presence><status>busy elsewhere</status></presence>")
    p = a.wait_for(lambda e: is_presence(e, frm=b.jid, type_=None)
                   and e.findtext(q(NS_CLIENT, "status")) == "busy elsewhere", 10,
                   "b's new presence")
    assert p is not None
    b.close()
    a.wait_for(lambda e: is_presence(e, frm=b.jid, type_="unavailable"), 10, "b unavailable")
    a.close()


def test_offline_message_to_a_user_of_another_node(cluster):
    a, b = pair_on_two_nodes(cluster)
    b.close()
    time.sleep(0.3)
    a.send("<message to='%s@localhost' type='chat'><body>kept for later</body></message>"
           % b.user)
    time.sleep(0.5)
    a.close()
    c, _node = login_home(cluster, b.user, resource="again")
    c.send("<presence/>")
    c.wait_for(lambda e: is_message(e, body="kept for later"), 10, "the stored message")
    c.close()


def status(srv, jid=None):
    return json.loads(srv.ctl_ok("cluster", "status", *([jid] if jid else [])))


def node_named(nodes, node_id):
    return next(n for n in nodes if n.options["cluster.node_id"] == node_id)


def test_cluster_status_lists_the_nodes_and_homes(cluster):
    for srv in cluster:
        st = status(srv)
        assert st["self"] == srv.options["cluster.node_id"]
        assert sorted(n["id"] for n in st["nodes"]) == ["n1", "n2", "n3"], st
        addresses = {n["id"]: n["address"] for n in st["nodes"]}
        assert addresses[st["self"]] == "%s:%d" % (srv.host, srv.port)
    # Every node names the same home for a JID, and a client is sent there.
    home = status(cluster[0], "kate@localhost")["home"]
    assert all(status(s, "kate@localhost")["home"] == home for s in cluster)
    _c, node = login_home(cluster, "kate")
    _c.close()
    assert node is node_named(cluster, home)


def test_secrets_shared_through_the_store(cluster):
    # One dialback secret and one fake-salt secret for all nodes: the first node stored them.
    conninfo = cluster[0].options["store.postgresql.conninfo"]
    db = dict(kv.split("=", 1) for kv in conninfo.split())["dbname"]
    rows = pgfixture.shared().psql("SELECT name, length(value) FROM cluster_secrets ORDER BY name",
                                   db=db).splitlines()
    assert rows == ["dialback\x1f64", "fake_salt\x1f64"], rows


def one_user_per_node(cluster):
    picked = {}
    for user in USERS:
        picked.setdefault(status(cluster[0], user + "@localhost")["home"], user)
    assert len(picked) == 3, picked
    return [picked[n] for n in ("n1", "n2", "n3")]


def test_room_with_occupants_on_three_nodes(cluster):
    users = one_user_per_node(cluster)
    clients = []
    for user in users:
        c, _node = login_home(cluster, user, resource="muc")
        c.send("<presence/>")
        clients.append(c)
    room = "hall"
    muchelp.create(clients[0], room, users[0], persistentroom=1, roomname="Hall")
    for c, user in zip(clients[1:], users[1:]):
        muchelp.join(c, room, user)
    # Each occupant sees the others' presence, and every message reaches all three nodes.
    for c, user in zip(clients, users):
        muchelp.say(c, room, "from %s" % user)
    for c in clients:
        want = {"from %s" % u for u in users}
        # Messages from different nodes may arrive in any order.
        while want:
            el = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "message")
                            and e.findtext(q(NS_CLIENT, "body")) in want, 10, str(want))
            want.discard(el.findtext(q(NS_CLIENT, "body")))
    # cluster status: every node's sessions and rooms, as its heartbeats report them.
    owner = status(cluster[0], muchelp.room_jid(room))["home"]
    for srv in cluster:
        deadline = time.monotonic() + 3
        while True:
            nodes = {n["id"]: n for n in status(srv)["nodes"]}
            ok = all(nodes[n]["sessions"] >= 1 for n in ("n1", "n2", "n3")) and \
                nodes[owner]["rooms"] >= 1
            if ok or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert ok, nodes
    # Only the owner holds the room.
    assert all(n["rooms"] == 0 for n in status(cluster[0])["nodes"] if n["id"] != owner)
    for c in clients:
        c.close()


def test_room_message_crosses_once_per_node(cluster):
    # A room owned by one node, its occupants on another (several users, so homed on both of
    # that node's workers): each groupchat message crosses NATS as one frame carrying that
    # node's occupants ("grouped" counts them), each occupant gets each message once, in order,
    # and a presence the room sends afterwards arrives after them.
    room = "crossing"
    owner = status(cluster[0], muchelp.room_jid(room))["home"]
    homes = {u: status(cluster[0], u + "@localhost")["home"] for u in USERS}
    speaker = next(u for u in USERS if homes[u] == owner)
    far = next(n for n in ("n1", "n2", "n3") if n != owner)
    listeners = [u for u in USERS if homes[u] == far][:3]
    assert len(listeners) >= 2, homes
    s, _ = login_home(cluster, speaker, resource="x")
    s.send("<presence/>")
    muchelp.create(s, room, speaker, roomname="Crossing")
    others = []
    for u in listeners:
        c, _ = login_home(cluster, u, resource="x")
        c.send("<presence/>")
        muchelp.join(c, room, u)
        others.append(c)
    src = node_named(cluster, owner)
    before = status(src)["grouped"]
    for i in range(3):
        muchelp.say(s, room, "m%d" % i)
    s.send("<presence type='unavailable' to='%s/%s'/>" % (muchelp.room_jid(room), speaker))
    gone = "%s/%s" % (muchelp.room_jid(room), speaker)
    for c in others:
        got = []
        while True:
            el = c.wait_for(lambda e: (e.tag == q(NS_CLIENT, "message")
                                       and e.findtext(q(NS_CLIENT, "body")) is not None)
                            or muchelp.is_presence_from(e, gone, "unavailable"), 10, "m0-m2")
            if el.tag == q(NS_CLIENT, "presence"):
                break
            got.append(el.findtext(q(NS_CLIENT, "body")))
        assert got == ["m0", "m1", "m2"], got
    assert status(src)["grouped"] - before == 3 * len(listeners)
    for c in others + [s]:
        c.close()


def test_node_killed_its_users_log_in_elsewhere(cluster):
    homes = {}
    for user in USERS:
        c, node = login_home(cluster, user)
        c.close()
        homes[user] = node
    # The node that owns the room "hall" (created by the test above) dies.
    victim = node_named(cluster, status(cluster[0], muchelp.room_jid("hall"))["home"])
    orphans = [u for u, n in homes.items() if n is victim]
    assert orphans
    # A user of a node that stays sits in the room: its node learned the seat from the room's
    # self-presence (status 110) as it crossed NATS.
    seated_user = next(u for u, n in homes.items() if n is not victim)
    seated, _ = login_home(cluster, seated_user, resource="seat")
    seated.send("<presence/>")
    muchelp.join(seated, "hall", seated_user)
    # A room of a node that stays, with an occupant whose session is on the node that dies.
    ids = [n.options["cluster.node_id"] for n in cluster]
    stay = next("stay%d" % i for i in range(1000) if rendezvous_home(
        muchelp.room_jid("stay%d" % i), ids) != victim.options["cluster.node_id"])
    muchelp.create(seated, stay, seated_user, persistentroom=1, roomname="Stay")
    ghost_user = orphans[0]
    ghost, _ = login_home(cluster, ghost_user, resource="ghost")
    ghost.send("<presence/>")
    # ... and a contact of the seated user (mutual subscription, across nodes).
    ghost.bare, seated.bare = ghost_user + "@localhost", seated_user + "@localhost"
    subscribe_clients(seated, ghost, timeout=0.5)
    muchelp.join(ghost, stay, ghost_user)
    seated.wait_for(lambda e: muchelp.is_presence_from(
        e, "%s/%s" % (muchelp.room_jid(stay), ghost_user)), 10, "the ghost-to-be joined")
    victim.proc.kill()
    victim.proc.wait(5)
    ghost.close()
    # Once the others see the node gone (1.5 s), in either order:
    # - the room "hall" came back empty on another node: the seated user is told at once that
    #   it left (its own unavailable presence, 110 and 332, as when a room is handed over);
    # - the occupant whose session died with its node, without a word, is removed from "stay"
    #   by the room's node (status 333) instead of staying there as a ghost;
    # - its contacts are told it went away (a node that remains took over the dead node's
    #   registry of available sessions), instead of seeing it online for ever.
    want = {"hall": "%s/%s" % (muchelp.room_jid("hall"), seated_user),
            "stay": "%s/%s" % (muchelp.room_jid(stay), ghost_user),
            "contact": "%s@localhost/ghost" % ghost_user}
    got = {}
    while len(got) < 3:
        el = seated.wait_for(lambda e: any(muchelp.is_presence_from(e, f, "unavailable")
                                           for f in want.values()), 10, str(want))
        got[next(k for k, f in want.items() if el.get("from") == f)] = muchelp.codes(el)
    assert {110, 332} <= got["hall"], got
    assert 333 in got["stay"], got
    time.sleep(0.5)  # every node dropped the victim (the heartbeats time out after 1.5 s)
    alive = [n for n in cluster if n is not victim]
    back = muchelp.join(seated, "hall", seated_user)
    assert 201 not in muchelp.codes(back), rawxmpp.dump(back)
    for user in orphans:
        c, node = login_home(alive, user)
        assert node is not victim
        c.close()
    # Stored data survived: the users of the dead node still exchange messages.
    x, _ = login_home(alive, orphans[0], resource="x")
    other = next(u for u in homes if u != orphans[0])
    y, _ = login_home(alive, other, resource="y")
    x.send("<presence/>")
    y.send("<presence/>")
    y.send("<message to='%s' type='chat'><body>still here</body></message>" % x.jid)
    x.wait_for(lambda e: is_message(e, body="still here"), 10, "a message after the failure")
    # The room moved with its stored state: joining it finds it (no new room, status 201) with
    # its configuration, on a node that remains.
    st = status(alive[0], muchelp.room_jid("hall"))
    assert st["home"] != victim.options["cluster.node_id"]
    assert sorted(n["id"] for n in st["nodes"]) == sorted(
        n.options["cluster.node_id"] for n in alive)
    me = muchelp.join(x, "hall", "back")
    assert 201 not in muchelp.codes(me), rawxmpp.dump(me)
    r = x.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>",
             to=muchelp.room_jid("hall"))
    ident = r.find(q("http://jabber.org/protocol/disco#info", "query") + "/"
                   + q("http://jabber.org/protocol/disco#info", "identity"))
    assert ident is not None and ident.get("name") == "Hall", rawxmpp.dump(r)
    # The user whose ghost was removed comes back into "stay" under the same nick.
    muchelp.join(x, stay, ghost_user)
    seated.wait_for(lambda e: muchelp.is_presence_from(
        e, "%s/%s" % (muchelp.room_jid(stay), ghost_user)), 10, "the user back in the room")
    # The rejoined occupant and the new one share the moved room.
    muchelp.say(x, "hall", "after the failure")
    seated.wait_for(lambda e: is_message(e, body="after the failure"), 10,
                    "a message in the room on its new node")
    x.close()
    y.close()
    seated.close()


def rendezvous_home(key, node_ids):
    """src/cluster/cluster.c's home(): FNV-1a-64 over "id\\0key", a 64-bit mix, the highest
    score wins (ties: the smaller id). To pick a room that a node about to join will own."""
    mask = (1 << 64) - 1

    def score(node_id):
        h = 1469598103934665603
        for b in node_id.encode() + b"\0" + key.encode():
            h = ((h ^ b) * 1099511628211) & mask
        h ^= h >> 33
        h = (h * 0xff51afd7ed558ccd) & mask
        h ^= h >> 33
        h = (h * 0xc4ceb9fe1a85ec53) & mask
        return h ^ (h >> 33)
    return max(sorted(node_ids), key=score)


def test_node_joins_sessions_and_rooms_move_to_it(cluster):
    alive = [n for n in cluster if n.running()]
    ids = [n.options["cluster.node_id"] for n in alive]
    # Everybody logged in on their current home node.
    clients = {}
    for user in USERS:
        c, node = login_home(alive, user, resource="before")
        clients[user] = (c, node)
    # A persistent room that the new node will own, its occupants on nodes that stay.
    room = next("moving%d" % i for i in range(1000)
                if rendezvous_home(muchelp.room_jid("moving%d" % i), ids + ["n4"]) == "n4")
    assert rendezvous_home(muchelp.room_jid(room), ids) == status(
        alive[0], muchelp.room_jid(room))["home"]
    stay = [u for u in USERS if rendezvous_home(u + "@localhost", ids + ["n4"]) != "n4"][:2]
    occupants = [clients[u][0] for u in stay]
    for c in occupants:
        c.send("<presence/>")
    muchelp.create(occupants[0], room, stay[0], persistentroom=1, roomname="Moving")
    muchelp.join(occupants[1], room, stay[1])
    old_owner = node_named(alive, status(alive[0], muchelp.room_jid(room))["home"])
    rooms_before = status(old_owner)["nodes"]
    nats_url = alive[0].options["cluster.nats_url"]
    n4 = starling.Server({"store.backend": "postgresql",
                          "store.postgresql.conninfo": alive[0].options[
                              "store.postgresql.conninfo"],
                          "cluster.node_id": "n4", "cluster.nats_url": nats_url},
                         host="127.0.0.5")
    cluster.append(n4)  # stopped by the fixture
    n4.start()
    time.sleep(1.0)
    moved = [u for u in USERS if status(alive[0], u + "@localhost")["home"] == "n4"]
    assert moved, "no account hashes to the new node"
    for user in moved:
        # The session on the old home ends with see-other-host naming the new node.
        c, _old = clients.pop(user)
        el = c.wait_for(lambda e: e.tag == q(rawxmpp.NS_STREAM, "error"), 10,
                        "see-other-host for %s" % user)
        other = el.find(q(NS_STREAMS_ERR, "see-other-host"))
        assert other is not None and other.text == "127.0.0.5:%d" % n4.port, rawxmpp.dump(el)
        c.close()
        c, node = login_home([n for n in cluster if n.running()], user, resource="after")
        assert node is n4
        c.close()
    # The old owner handed the room over: each occupant is told it was removed (332, with 110)
    # and the old owner holds the room no more; a rejoin finds it, stored, on the new node.
    for c, nick in zip(occupants, stay):
        el = c.wait_for(lambda e: muchelp.is_presence_from(e, "%s/%s" % (muchelp.room_jid(room),
                                                                          nick), "unavailable"),
                        10, "the room's unavailable presence for %s" % nick)
        assert {110, 332} <= muchelp.codes(el), rawxmpp.dump(el)
    me = next(n for n in rooms_before if n["self"])
    after = next(n for n in status(old_owner)["nodes"] if n["self"])
    assert after["rooms"] == me["rooms"] - 1, (rooms_before, after)
    for c, nick in zip(occupants, stay):
        el = muchelp.join(c, room, nick)
        assert 201 not in muchelp.codes(el), rawxmpp.dump(el)
    assert next(n for n in status(n4)["nodes"] if n["self"])["rooms"] == 1
    muchelp.say(occupants[0], room, "on n4")
    occupants[1].wait_for(lambda e: is_message(e, body="on n4"), 10, "a message in the moved room")
    # The others keep their sessions.
    for user, (c, _node) in clients.items():
        r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>")
        assert r.get("type") == "result", user
        c.close()


def test_nats_unreachable_at_start_is_refused(cluster, tmp_path):
    port = starling.free_ports(1)[0]  # nothing listens there
    srv = starling.Server({"store.backend": "postgresql",
                           "store.postgresql.conninfo": cluster[0].options[
                               "store.postgresql.conninfo"],
                           "cluster.node_id": "n9",
                           "cluster.nats_url": "nats://127.0.0.1:%d" % port}, host="127.0.0.5")
    try:
        with pytest.raises(starling.StartError) as e:
            srv.start()
        assert "cluster" in str(e.value) and "127.0.0.1:%d" % port in str(e.value), str(e.value)
    finally:
        srv.cleanup()


NS_SM = "urn:xmpp:sm:3"


def sm_enable(c):
    c.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    el = c.wait_for(lambda e: e.tag in (q(NS_SM, "enabled"), q(NS_SM, "failed")), 10)
    assert el.tag == q(NS_SM, "enabled"), rawxmpp.dump(el)
    return el.get("id")


def resume_on(srv, user, previd, h):
    """Authenticates on `srv` and sends <resume/>: ("answer", element, client) with the client
    still open, or ("moved", address, None) when `srv` names the home node instead."""
    c = authed_on(srv, user)
    c.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, previd, h))
    el = c.wait_for(lambda e: e.tag in (q(NS_SM, "resumed"), q(NS_SM, "failed"),
                                        q(rawxmpp.NS_STREAM, "error")), 5, "resume answer")
    if el.tag == q(rawxmpp.NS_STREAM, "error"):
        other = el.find(q(NS_STREAMS_ERR, "see-other-host"))
        assert other is not None, rawxmpp.dump(el)
        c.close()
        return "moved", other.text, None
    return "answer", el, c


def resume_home(nodes, user, previd, h):
    """<resume/> through a node that is not the account's home: it names the home
    (<see-other-host/>), where the resumption is answered. (answer element, client)."""
    home = status(nodes[0], user + "@localhost")["home"]
    first = next(n for n in nodes if n.options["cluster.node_id"] != home)
    kind, address, _ = resume_on(first, user, previd, h)
    assert kind == "moved" and node_at(nodes, address) is node_named(nodes, home), address
    kind, el, c = resume_on(node_at(nodes, address), user, previd, h)
    return el, c


def test_resume_through_another_node_reaches_the_home_node(cluster):
    # A client whose connection broke comes back through the load balancer on another node:
    # that node sends it home, where the session waits, and the resumption succeeds there.
    alive = [n for n in cluster if n.running()]
    user = USERS[1]
    c, _node = login_home(alive, user, resource="lb")
    previd = sm_enable(c)
    c.close()  # no </stream:stream>: the session waits for a resumption
    el, c2 = resume_home(alive, user, previd, 0)
    assert el.tag == q(NS_SM, "resumed"), rawxmpp.dump(el)
    r = c2.iq("get", "<ping xmlns='urn:xmpp:ping'/>")
    assert r.get("type") == "result", rawxmpp.dump(r)
    c2.close()


def test_node_killed_resume_fails_promptly_then_bind_and_stored_messages(cluster):
    alive = [n for n in cluster if n.running()]
    homes = {u: status(alive[0], u + "@localhost")["home"] for u in USERS}
    victim = node_named(alive, homes[USERS[2]])
    user = USERS[2]
    friend = next(u for u in USERS if homes[u] != homes[user])
    c, node = login_home(alive, user, resource="sm")
    assert node is victim
    previd = sm_enable(c)
    c.send("<presence/>")
    f, _ = login_home(alive, friend, resource="f")
    f.send("<presence/>")
    f.send("<message to='%s' type='chat'><body>before</body></message>" % c.jid)
    c.wait_for(lambda e: is_message(e, body="before"), 10, "a message before the failure")
    victim.proc.kill()
    victim.proc.wait(5)
    c.close()
    time.sleep(2.0)  # the heartbeats time out after 1.5 s
    survivors = [n for n in alive if n is not victim]
    # Sent while the user has no session anywhere: stored offline on the new home node.
    f.send("<message to='%s' type='chat'><body>meanwhile</body></message>" % c.jid)
    time.sleep(0.3)
    # The session's state died with its node: the resumption fails at once, with
    # item-not-found, on the account's new home (reached through the other survivor when it
    # is not the home), and the same stream then binds a new session.
    t = time.monotonic()
    el, c2 = resume_home(survivors, user, previd, 1)
    assert time.monotonic() - t < 3.0
    assert el.tag == q(NS_SM, "failed"), rawxmpp.dump(el)
    assert el.find(q(rawxmpp.NS_STANZAS, "item-not-found")) is not None, rawxmpp.dump(el)
    c2.bind("again")
    c2.send("<presence/>")
    c2.wait_for(lambda e: is_message(e, body="meanwhile"), 10, "the message stored meanwhile")
    c2.close()
    f.close()


def test_node_restarted_its_rooms_occupants_rejoin(cluster):
    # A node killed and started again at once (a supervisor restarting it), before or after
    # the others' heartbeat timeout: its rooms came back empty, so their occupants on the other
    # nodes are told that they left (110 and 332) and rejoin. A restart faster than the timeout
    # is seen in the heartbeats (each start of a node has its own run).
    alive, ids, homes = running_nodes(cluster)
    owner = alive[0]
    owner_id = ids[0]
    room = next("restart%d" % i for i in range(1000)
                if rendezvous_home(muchelp.room_jid("restart%d" % i), ids) == owner_id)
    user = next(u for u in USERS if homes[u] != owner_id)
    user_node = node_named(alive, homes[user])
    c, _ = login_home(alive, user, resource="rs")
    c.send("<presence/>")
    muchelp.create(c, room, user, persistentroom=1, roomname="Restart")
    owner.proc.kill()
    owner.proc.wait(5)
    t = time.monotonic()
    owner.start()
    took = time.monotonic() - t
    el = c.wait_for(lambda e: muchelp.is_presence_from(
        e, "%s/%s" % (muchelp.room_jid(room), user), "unavailable"), 10,
        "the room's unavailable presence after its node restarted")
    assert {110, 332} <= muchelp.codes(el), rawxmpp.dump(el)
    # The user's node sees the node again (at its new address) before the rejoin.
    address = "%s:%d" % (owner.host, owner.port)
    deadline = time.monotonic() + 5
    while not any(n["id"] == owner_id and n["address"] == address
                  for n in status(user_node)["nodes"]):
        assert time.monotonic() < deadline, status(user_node)
        time.sleep(0.1)
    log = user_node.stderr_text()
    why = "restarted" if "node %s restarted" % owner_id in log else "left"
    assert why == "restarted" or took > 1.0, (took, why)
    back = muchelp.join(c, room, user)
    assert 201 not in muchelp.codes(back), rawxmpp.dump(back)
    muchelp.say(c, room, "again")
    c.wait_for(lambda e: is_message(e, body="again"), 10, "a message in the room after the restart")
    c.close()


def running_nodes(cluster):
    """The nodes still running (two at least), their ids, and each user's home among them."""
    alive = [n for n in cluster if n.running()]
    ids = [n.options["cluster.node_id"] for n in alive]
    assert len(alive) >= 2, ids
    return alive, ids, {u: status(alive[0], u + "@localhost")["home"] for u in USERS}


def contacts_across(alive, homes, node_id, resources):
    """Two available users, mutual contacts: one homed on `node_id`, one elsewhere (clients
    logged in with `resources`, a .bare set on each): (on the node, elsewhere)."""
    on = next(u for u in USERS if homes[u] == node_id)
    off = next(u for u in USERS if homes[u] != node_id)
    clients = []
    for name, resource in zip((on, off), resources):
        c, _ = login_home(alive, name, resource=resource)
        c.bare = name + "@localhost"
        c.user = name
        c.send("<presence/>")
        clients.append(c)
    subscribe_clients(clients[1], clients[0], timeout=0.5)
    return clients


def test_node_paused_believed_dead_its_users_told_and_rejoin(cluster):
    # A node frozen for longer than the heartbeat timeout (SIGSTOP: a stalled machine, a long
    # pause) is taken for dead by the others, which remove its users from their rooms; when it
    # runs again (the same run) its users learn that they are out of the room and rejoin, and
    # their contacts see them available again.
    alive, ids, homes = running_nodes(cluster)
    frozen = alive[-1]
    frozen_id = frozen.options["cluster.node_id"]
    owner_id = next(i for i in ids if i != frozen_id)
    room = next("pause%d" % i for i in range(1000)
                if rendezvous_home(muchelp.room_jid("pause%d" % i), ids) == owner_id)
    u, w = contacts_across(alive, homes, frozen_id, ("paused", "watch"))
    u_user, w_user = u.user, w.user
    muchelp.create(w, room, w_user, persistentroom=1, roomname="Pause")
    muchelp.join(u, room, u_user)
    w.wait_for(lambda e: muchelp.is_presence_from(e, "%s/%s" % (muchelp.room_jid(room), u_user)),
               10, "the occupant joined")
    os.kill(frozen.proc.pid, signal.SIGSTOP)
    try:
        # The room's node removes the occupant it believes gone (333) ...
        el = w.wait_for(lambda e: muchelp.is_presence_from(
            e, "%s/%s" % (muchelp.room_jid(room), u_user), "unavailable"), 10,
            "the frozen node's occupant removed")
        assert 333 in muchelp.codes(el), rawxmpp.dump(el)
    finally:
        os.kill(frozen.proc.pid, signal.SIGCONT)
    # ... and once the node runs again, its user hears that it is out of the room.
    el = u.wait_for(lambda e: muchelp.is_presence_from(
        e, "%s/%s" % (muchelp.room_jid(room), u_user), "unavailable"), 10,
        "the occupant told that it left the room")
    assert 110 in muchelp.codes(el) and muchelp.codes(el) & {332, 333}, rawxmpp.dump(el)
    # The others see the node back (the same run: a partition healed): its user's presence is
    # announced again, and the user rejoins the room.
    w.wait_for(lambda e: is_presence(e, frm=u.jid, type_=None), 10,
               "the user's presence announced again")
    # Every node sees every other again before the rejoin (a node that had just woken may
    # still count the others out for a moment, and would take the room for its own).
    deadline = time.monotonic() + 5
    while not all(sorted(n["id"] for n in status(srv)["nodes"]) == sorted(ids) for srv in alive):
        assert time.monotonic() < deadline, [status(srv)["nodes"] for srv in alive]
        time.sleep(0.1)
    muchelp.join(u, room, u_user)
    muchelp.say(u, room, "back after the pause")
    w.wait_for(lambda e: is_message(e, body="back after the pause"), 10, "a message after the pause")
    for c in (u, w):
        c.close()


def test_node_stopped_its_users_contacts_are_told(cluster):
    # A node stopped by SIGTERM ends its sessions without telling their contacts (the server is
    # stopping); the node that takes over its registry of available sessions tells them.
    alive, ids, homes = running_nodes(cluster)
    leaving = alive[-1]
    a, b = contacts_across(alive, homes, leaving.options["cluster.node_id"], ("term", "watch"))
    a_user, b_user = a.user, b.user
    assert leaving.stop() == []
    a.close()
    el = b.wait_for(lambda e: is_presence(e, frm="%s@localhost/term" % a_user,
                                          type_="unavailable"), 10,
                    "the stopped node's user's unavailable presence")
    assert el.get("to", "").startswith(b_user + "@localhost"), rawxmpp.dump(el)
    b.close()
