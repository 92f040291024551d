"""cluster.py: issue 19 measurements on loopback (not part of make test).

  latency  message round trips between two users on the same node and on two different nodes
           of a three-node cluster (one PostgreSQL, one nats-server): p50/p99 in ms
  store    the cost of the PostgreSQL store against SQLite on one node: loadgen's login and
           presence scenarios (store reads and roster writes) and msg (no store), one run each
  throughput  loadgen's msg and muc scenarios against 1, 2 and 3 nodes (127.0.0.2-4; with --pin
           node i pinned to CPU i mod 2 by taskset), all clients connecting to the first node and
           following <see-other-host/> to their home node; runs alternate between the node
           counts; per run the nodes' CPU and nats-server's CPU per delivered message;
           --scenarios presence: logins with 20 contacts and an initial presence, then logouts
           (on a cluster each available session is a row of the registry of sessions)

Usage: python3 bench/cluster.py latency|store|throughput [--build build] [-n 2000] [-t 10]
       [--runs 3] [--nodes 1,2,3] [--scenarios msg,muc,presence] [--users 1000] [--pin]
       [--archive]
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


def provision(srv, n):
    """Accounts bench0..bench<n-1> through the admin socket, pipelined (as benchlib does)."""
    import json
    import socket
    import benchlib
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(os.path.join(srv.datadir, "admin.sock"))
    f = sock.makefile("rwb")
    for k in range(n):
        req = {"op": "account.add", "args": {"jid": (benchlib.USER_FMT % k) + "@localhost",
                                             "password": benchlib.PASSWORD}}
        f.write((json.dumps(req) + "\n").encode())
    f.flush()
    for k in range(n):
        r = json.loads(f.readline())
        assert r.get("ok") or r.get("code") == "exists", r
    sock.close()


def start_nodes(count, nats, conninfo, pin=False, archive=False):
    import starling
    from test_cluster import HOSTS
    nodes = []
    for i in range(count):
        srv = starling.Server({"store.backend": "postgresql",
                               "store.postgresql.conninfo": conninfo,
                               "cluster.node_id": "n%d" % (i + 1),
                               "cluster.nats_url": nats.url,
                               # As bench/benchlib.py starts Starling: no shapers, default logs.
                               "xmpp.receiving.log_level": "Major",
                               "xmpp.receiving.c2s_rate": "0",
                               "xmpp.receiving.unauth_per_address": "0",
                               "muc.message_rate": "0", "muc.history_length": "0",
                               # The archive's writes (one PostgreSQL round trip per row on
                               # this store) are measured elsewhere; --archive keeps them.
                               "archive.enabled": "yes" if archive else "no"},
                              host=HOSTS[i])
        srv.start()
        nodes.append(srv)
        if pin:
            subprocess.run(["taskset", "-a", "-p", "-c", str(i % 2), str(srv.proc.pid)],
                           check=False, stdout=subprocess.DEVNULL)
    time.sleep(1.0)
    return nodes


SCENARIO_ARGS = {
    "msg": lambda a: ["-s", "msg", "-n", str(a.pairs), "-w", "10"],
    "muc": lambda a: ["-s", "muc", "-n", str(a.occupants), "--senders", "5", "-w", "1",
                      "-c", "50"],
    # Logins with a roster of 20 mutual contacts and an initial presence, and the logouts: on
    # a cluster each available session is also a row of the registry (an INSERT and a DELETE).
    "presence": lambda a: ["-s", "presence", "-n", str(a.users), "-c", "100", "--contacts", "20"],
}
# Run once before the measured run, on the same nodes.
SCENARIO_SETUP = {
    "presence": lambda a: ["-s", "roster-setup", "-n", str(a.users), "-c", "100",
                           "--contacts", "20"],
}
ACCOUNTS = {
    "msg": lambda a: 2 * a.pairs,
    "muc": lambda a: a.occupants,
    "presence": lambda a: a.users,
}


def throughput_run(args, count, scenario, nats, conninfo, run):
    import benchlib
    nodes = start_nodes(count, nats, conninfo, args.pin, args.archive)
    try:
        provision(nodes[0], ACCOUNTS[scenario](args))
        loadgen = os.path.join(args.build, "loadgen")
        common = [loadgen, "-H", nodes[0].host, "-p", str(nodes[0].port), "-D", "localhost",
                  "--pid", ",".join(str(n.proc.pid) for n in nodes),
                  "--pid2", str(nats.proc.pid),
                  "-u", benchlib.USER_FMT, "-P", benchlib.PASSWORD, "--timeout", "120"]
        if scenario in SCENARIO_SETUP:
            subprocess.run(common + SCENARIO_SETUP[scenario](args), capture_output=True,
                           timeout=300, check=True)
        argv = common + ["-t", str(args.t), "--warmup", str(args.warmup)] + \
            SCENARIO_ARGS[scenario](args)
        if scenario == "muc":
            argv += ["--room", "bench%d-%d-%d@conference.localhost" % (os.getpid(), count, run)]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        res = {}
        for line in p.stdout.splitlines():
            if line.startswith("RESULT "):
                res = dict((k, v.strip('"')) for k, v in benchlib.RESULT_RE.findall(line[7:]))
        if not res:
            print("   loadgen: %s" % p.stderr.strip()[-300:], flush=True)
        return p.returncode, res
    finally:
        for srv in nodes:
            srv.stop()
            srv.cleanup()


def throughput(args):
    import pgfixture
    from test_cluster import Nats
    counts = [int(x) for x in args.nodes.split(",")]
    nats = Nats()
    pg = pgfixture.PostgresCluster().start()
    table = {}
    failed = 0
    try:
        for scenario in args.scenarios.split(","):
            for run in range(args.runs):
                for count in counts:
                    # A fresh database per run: the first node makes the first start.
                    _db, conninfo = pg.database("bench%d%s%d" % (count, scenario, run))
                    rc, res = throughput_run(args, count, scenario, nats, conninfo, run)
                    line = " ".join("%s=%s" % kv for kv in sorted(res.items()))
                    print("%s nodes=%d run=%d rc=%d %s" % (scenario, count, run + 1, rc, line),
                          flush=True)
                    if res.get("delivered_per_s"):
                        table.setdefault((scenario, count), []).append(res)
                    if rc != 0 or (count > 1 and scenario != "presence"
                                   and not res.get("redirects")):
                        failed += 1
        print()
        print("| scenario | nodes | runs | delivered/s (median, min–max) | nodes' CPU µs/delivery "
              "| nats-server CPU µs/delivery | p50 / p99 ms |")
        print("|---|---|---|---|---|---|---|")
        for (scenario, count), runs in sorted(table.items()):
            rate = [float(r["delivered_per_s"]) for r in runs]
            total = [float(r.get("server_cpu_s", "nan")) for r in runs]
            nats_cpu = [float(r.get("pid2_cpu_s", "0")) for r in runs]
            dl = [float(r["delivered"]) for r in runs]
            node_us = [(t - n) * 1e6 / d for t, n, d in zip(total, nats_cpu, dl)]
            nats_us = [n * 1e6 / d for n, d in zip(nats_cpu, dl)]
            p50 = statistics.median(float(r["lat_p50_ms"]) for r in runs)
            p99 = statistics.median(float(r["lat_p99_ms"]) for r in runs)
            print("| %s | %d | %d | %.0f (%.0f–%.0f) | %.2f (%.2f–%.2f) | %.2f | %.2f / %.2f |"
                  % (scenario, count, len(runs), statistics.median(rate), min(rate), max(rate),
                     statistics.median(node_us), min(node_us), max(node_us),
                     statistics.median(nats_us), p50, p99))
    finally:
        nats.stop()
        pg.stop()
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["latency", "store", "throughput"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pin", action="store_true")
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--archive", action="store_true")
    ap.add_argument("--smoke", action="store_true",
                    help="throughput: one tiny msg run on two nodes (bench-smoke); exit 1 when "
                         "it fails or no login was redirected")
    ap.add_argument("--nodes", default="1,2,3")
    ap.add_argument("--scenarios", default="msg,muc")
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--occupants", type=int, default=100)
    ap.add_argument("--users", type=int, default=1000, help="presence: users")
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("-t", type=float, default=10)
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    os.environ["STARLING_BUILD"] = args.build
    if args.smoke:
        import shutil
        import pgfixture
        if not (pgfixture.available() and shutil.which("nats-server")):
            print("skipped: needs postgresql and nats-server")
            return 0
        args.runs, args.nodes, args.scenarios, args.t, args.pairs = 1, "2", "msg", 0.5, 5
        args.warmup = 0.3
    return {"latency": latency, "store": store, "throughput": throughput}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
