"""test_cluster_partition.py: NATS unreachable from one node while it runs (docs/cluster.md,
"Failure modes"): two nodes on one PostgreSQL and one nats-server, the second reaching NATS
through a TCP relay the test cuts and restores. Cut off, the node believes it is alone and
serves whoever connects to it, storing messages for users it cannot reach; the other node drops
it; when the relay is back both see each other again."""

import json
import socket
import threading
import time

import pytest

import pgfixture
import starling
from imclient import PASSWORD, is_message, is_presence, subscribe_clients
from test_cluster import Nats, login_home, login_on, pytestmark, stop_all  # noqa: F401


class Relay:
    """A TCP relay 127.0.0.1:port -> target that can be cut (every connection closed, new ones
    refused) and restored; with target None it accepts connections and says nothing (a server
    that does not answer) until a target is set."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = starling.free_ports(1)[0]
        self.conns = []
        self.lock = threading.Lock()
        self.listener = None
        self.restore()

    def restore(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(8)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                a, _ = listener.accept()
            except OSError:
                return
            if self.target is None:
                # Holding: the connection is accepted and left silent.
                with self.lock:
                    self.conns.append(a)
                continue
            b = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.conns += [a, b]
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pipe, args=(x, y), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.conns = []


@pytest.fixture(scope="module")
def pair():
    nats = Nats()
    relay = Relay(nats.port)
    pg = pgfixture.shared()
    dbname, conninfo = pg.database("partition")
    nodes = []
    try:
        for node_id, host, port in (("p1", "127.0.0.2", nats.port), ("p2", "127.0.0.3", relay.port)):
            srv = starling.Server({"store.backend": "postgresql",
                                   "store.postgresql.conninfo": conninfo,
                                   "cluster.node_id": node_id,
                                   "cluster.nats_url": "nats://127.0.0.1:%d" % port}, host=host)
            srv.start()
            nodes.append(srv)
        time.sleep(1.0)
        for i in range(16):
            nodes[0].ctl_ok("account", "add", "w%d@localhost" % i, "--password", PASSWORD)
        yield nodes, relay
    finally:
        relay.cut()
        stop_all(nodes, nats, pg, dbname)


def live_ids(srv):
    return sorted(n["id"] for n in json.loads(srv.ctl_ok("cluster", "status"))["nodes"])


def home_of(srv, user):
    return json.loads(srv.ctl_ok("cluster", "status", user + "@localhost"))["home"]


def test_node_cut_off_from_nats_serves_alone_then_rejoins(pair):
    (p1, p2), relay = pair
    assert live_ids(p1) == live_ids(p2) == ["p1", "p2"]
    users = ["w%d" % i for i in range(16)]
    on_p1 = next(u for u in users if home_of(p1, u) == "p1")
    on_p2 = next(u for u in users if home_of(p1, u) == "p2")
    # Together: p2 sends a user of p1 there.
    c, address = login_on(p2, on_p1, "r")
    assert c is None and address == "%s:%d" % (p1.host, p1.port)
    # Two contacts, one on each side, both available.
    x_user = next(u for u in users if home_of(p1, u) == "p1" and u != on_p1)
    y_user = next(u for u in users if home_of(p1, u) == "p2" and u != on_p2)
    x, _ = login_home([p1, p2], x_user, resource="x")
    y, _ = login_home([p1, p2], y_user, resource="y")
    for c, u in ((x, x_user), (y, y_user)):
        c.bare = u + "@localhost"
        c.send("<presence/>")
    subscribe_clients(x, y, timeout=0.5)

    relay.cut()
    # Each side believes the other dead, takes over its registry of available sessions and
    # tells its users that the other side's contacts went away.
    for c, other in ((x, y), (y, x)):
        c.wait_for(lambda e: is_presence(e, frm=other.jid, type_="unavailable"), 10,
                   "%s told that %s went away" % (c.jid, other.jid))
    time.sleep(1.0)  # heartbeats time out after 1.5 s
    assert live_ids(p1) == ["p1"] and live_ids(p2) == ["p2"]
    # Alone, p2 serves p1's user itself, and p1 serves p2's.
    a, address = login_on(p2, on_p1, "cut")
    assert a is not None, address
    b, address = login_on(p1, on_p2, "cut")
    assert b is not None, address
    a.send("<presence/>")
    # A message across the cut is stored for later, not lost (b sent no initial presence: the
    # store is shared, so an available b would have been handed it by p1 at once).
    a.send("<message to='%s@localhost' type='chat'><body>across the cut</body></message>"
           % on_p2)
    time.sleep(0.5)
    a.close()
    b.close()

    relay.restore()
    deadline = time.monotonic() + 10
    while live_ids(p2) != ["p1", "p2"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_ids(p1) == live_ids(p2) == ["p1", "p2"]
    # Healed (the same runs as before the cut): the sessions on each side announce their
    # presence again, so the contacts across see each other available once more.
    for c, other in ((x, y), (y, x)):
        c.wait_for(lambda e: is_presence(e, frm=other.jid, type_=None), 10,
                   "%s sees %s available again" % (c.jid, other.jid))
    x.close()
    y.close()
    # Healed: p2's user, at home on p2 again, finds the message.
    b, node = login_home([p1, p2], on_p2, resource="healed")
    assert node is p2
    b.send("<presence/>")
    b.wait_for(lambda e: is_message(e, body="across the cut"), 10, "the stored message")
    b.close()
