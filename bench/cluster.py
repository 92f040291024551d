"""cluster.py: issue 19 measurements on loopback (not part of make test).

  latency  message round trips between two users on the same node and on two different nodes
           of a three-node cluster (one PostgreSQL, one nats-server): p50/p99 in ms
  store    the cost of the PostgreSQL store against SQLite on one node: loadgen's login and
           presence scenarios (store reads and roster writes) and msg (no store), one run each

Usage: python3 bench/cluster.py latency|store [--build build] [-n 2000] [-t 10]
The servers, the database cluster and nats-server are started here and stopped afterwards.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def round_trips(a, b, n, tag):
    """n ping-pong messages a -> b -> a; the round-trip times in ms."""
    from imclient import is_message
    times = []
    for i in range(n):
        body = "%s-%d" % (tag, i)
        t = time.perf_counter()
        a.send("<message to='%s' type='chat'><body>%s</body></message>" % (b.jid, body))
        b.wait_for(lambda e: is_message(e, body=body), 10)
        b.send("<message to='%s' type='chat'><body>%s</body></message>" % (a.jid, body))
        a.wait_for(lambda e: is_message(e, body=body), 10)
        times.append((time.perf_counter() - t) * 1000)
    return times


def latency(args):
    import pgfixture
    import starling
    from imclient import PASSWORD
    from test_cluster import HOSTS, Nats, login_home, status
    os.environ["STARLING_BUILD"] = args.build
    nats = Nats()
    pg = pgfixture.PostgresCluster().start()
    nodes = []
    try:
        _db, conninfo = pg.database("bench")
        for i, host in enumerate(HOSTS):
            srv = starling.Server({"store.backend": "postgresql",
                                   "store.postgresql.conninfo": conninfo,
                                   "cluster.node_id": "n%d" % (i + 1),
                                   "cluster.nats_url": nats.url}, host=host)
            srv.start()
            nodes.append(srv)
        time.sleep(1.0)
        users = ["u%d" % i for i in range(12)]
        for u in users:
            nodes[0].ctl_ok("account", "add", "%s@localhost" % u, "--password", PASSWORD)
        homes = {u: status(nodes[0], u + "@localhost")["home"] for u in users}
        same = [u for u in users if homes[u] == homes[users[0]]][:2]
        other = next(u for u in users if homes[u] != homes[users[0]])
        clients = {}
        for u in (same[0], same[1], other):
            c, _node = login_home(nodes, u, resource="bench")
            c.send("<presence/>")
            clients[u] = c
        time.sleep(0.5)
        for label, (x, y) in (("same node", (same[0], same[1])),
                              ("two nodes", (same[0], other))):
            round_trips(clients[x], clients[y], 50, "warm" + label[:4])
            t = round_trips(clients[x], clients[y], args.n, label[:4])
            print("%-10s n=%d round trip p50 %.3f ms p99 %.3f ms mean %.3f ms"
                  % (label, args.n, statistics.median(t), percentile(t, 0.99),
                     statistics.mean(t)))
        for c in clients.values():
            c.close()
    finally:
        for srv in nodes:
            srv.stop()
            srv.cleanup()
        nats.stop()
        pg.stop()


def store(args):
    import pgfixture
    pg = pgfixture.PostgresCluster().start()
    try:
        for scenario in ("login", "presence", "msg"):
            for backend in ("sqlite", "postgresql"):
                cmd = [sys.executable, os.path.join(HERE, "compare.py"), scenario,
                       "--servers", "starling", "--runs", "1", "-t", str(args.t),
                       "--build", args.build, "--tag", "store-%s-%s" % (scenario, backend)]
                if backend == "postgresql":
                    _db, conninfo = pg.database("bench")
                    cmd += ["--starling-option", "store.backend=postgresql",
                            "--starling-option", "store.postgresql.conninfo=" + conninfo]
                print("== %s on %s" % (scenario, backend), flush=True)
                subprocess.run(cmd, check=False)
    finally:
        pg.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["latency", "store"])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("-t", type=float, default=10)
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    os.environ["STARLING_BUILD"] = args.build
    {"latency": latency, "store": store}[args.what](args)


if __name__ == "__main__":
    main()
