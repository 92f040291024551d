"""fast_login.py: server CPU and wall time of a SASL2 login with SCRAM-SHA-256 (two round trips,
PBKDF2 keys looked up and proofs checked) against a XEP-0484 FAST login with an HT-SHA-256-NONE
token (one round trip, one HMAC), both with Bind 2, over STARTTLS, sequential logins of one
account. The server's CPU is read from /proc before and after each phase; TLS costs the same in
both. Not part of make test (bench-smoke runs it at a tiny size).

    python3 bench/fast_login.py [--build build] [-n 300] [--tcp]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import benchlib  # noqa: E402
import rawxmpp  # noqa: E402
import sasl2  # noqa: E402


class Target:
    def __init__(self, port):
        self.port = port


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


TCP = False  # --tcp: no TLS, so the figures are the authentication's alone


def connect(port):
    if TCP:
        c = rawxmpp.RawClient(port)
        return c, c.open()
    return rawxmpp.connect(Target(port))


def scram_login(port, user, agent, request_token=None):
    c, feats = connect(port)
    offer = sasl2.Offer(feats)
    r = sasl2.scram_login(c, offer, "SCRAM-SHA-256", user, benchlib.PASSWORD, agent=agent,
                          bind="<tag>bench</tag>", request_token=request_token)
    c.close()
    if r.kind != "success" or not r.verified:
        raise benchlib.BenchError("SCRAM login failed: %s" % rawxmpp.dump(r.el))
    return r


def fast_login(port, user, agent, token):
    c, _ = connect(port)
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", user, token, agent, bind="<tag>bench</tag>")
    c.close()
    if r.kind != "success" or not r.verified:
        raise benchlib.BenchError("FAST login failed: %s" % rawxmpp.dump(r.el))


def phase(srv, n, fn):
    cpu0, t0 = cpu_seconds(srv.proc.pid), time.monotonic()
    for _ in range(n):
        fn()
    return ((cpu_seconds(srv.proc.pid) - cpu0) / n * 1e6, (time.monotonic() - t0) / n * 1e3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(benchlib.REPO, "build"))
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--tcp", action="store_true", help="plain TCP (require_tls off)")
    a = ap.parse_args()
    global TCP
    TCP = a.tcp
    work = tempfile.mkdtemp(prefix="starling-bench-fast-")
    srv = None
    try:
        srv = benchlib.Starling(work, a.build)
        extra = {"server.workers": "1"}
        if a.tcp:
            extra["xmpp.receiving.require_tls"] = "no"
        srv.start(benchlib.bench_cert(work), extra)
        srv.provision(1)
        user = benchlib.USER_FMT % 0
        agent = str(uuid.uuid4())
        token, _ = scram_login(srv.port, user, agent, "HT-SHA-256-NONE").token
        scram_login(srv.port, user, agent)  # warm-up: caches, first PBKDF2
        fast_login(srv.port, user, agent, token)
        scram_cpu, scram_ms = phase(srv, a.n, lambda: scram_login(srv.port, user, agent))
        fast_cpu, fast_ms = phase(srv, a.n, lambda: fast_login(srv.port, user, agent, token))
        print("%s logins=%d scram_cpu_us=%.0f fast_cpu_us=%.0f scram_wall_ms=%.2f fast_wall_ms=%.2f"
              % ("tcp" if a.tcp else "starttls", a.n, scram_cpu, fast_cpu, scram_ms, fast_ms))
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
