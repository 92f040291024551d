"""compare.py: runs one scenario against Starling, Prosody and ejabberd, one server at a time, and
prints one table (medians of the runs, Starling's advantage over each peer); see bench/compare.sh."""

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

# Per scenario: loadgen arguments (defaults, overridable), accounts needed, the figures shown as
# (RESULT key, label, True when higher is better).
SCENARIOS = {
    "login": {
        "args": lambda a: ["-s", "login", "-n", str(a.n or 500), "-c", str(a.c or 50)],
        "accounts": lambda a: a.n or 500,
        "metrics": [("logins_per_s", "logins/s", True), ("login_p50_ms", "login p50 ms", False),
                    ("login_p99_ms", "login p99 ms", False),
                    ("cpu_us_per_login", "server CPU µs/login", False),
                    ("login_failures", "failures", None)],
        "note": "STARTTLS + SCRAM-SHA-1 + bind + initial presence, then </stream:stream>",
    },
    "login-direct": {
        "args": lambda a: ["-s", "login", "--tls", "direct", "-n", str(a.n or 500),
                           "-c", str(a.c or 50)],
        "accounts": lambda a: a.n or 500,
        "metrics": None,  # same as login
        "note": "direct TLS (XEP-0368 port) + SCRAM-SHA-1",
        "port": "tls",
    },
    "login-plain": {
        "args": lambda a: ["-s", "login", "--plain", "-n", str(a.n or 500),
                           "-c", str(a.c or 50)],
        "accounts": lambda a: a.n or 500,
        "metrics": None,
        "note": "STARTTLS + SASL PLAIN (the server checks the password against its SCRAM keys)",
    },
    "login-tcp": {
        "args": lambda a: ["-s", "login", "--tls", "none", "-n", str(a.n or 500),
                           "-c", str(a.c or 50)],
        "accounts": lambda a: a.n or 500,
        "metrics": None,
        "note": "plain TCP (TLS not required by the server) + SCRAM-SHA-1",
        "server_extra": {"require_tls": "no"},
    },
    "login-resume": {
        "args": lambda a: ["-s", "login", "--tls-resume", "-n", str(a.n or 500),
                           "-c", str(a.c or 50)],
        "accounts": lambda a: a.n or 500,
        "metrics": "login+", "extra_metrics": [("tls_resumed", "TLS resumptions", None),
                                                 ("tls_tickets", "tickets received", None),
                                                 ("logins", "logins", None)],
        "note": "as login, each client resuming TLS with its account's last session ticket "
                "(RFC 8446 PSK with (EC)DHE; TLS 1.2: RFC 5077 ticket); how many logins did "
                "resume is shown",
    },
    "login-fast": {
        "args": lambda a: ["-s", "login", "--fast", "-n", str(a.n or 500),
                           "-c", str(a.c or 50)],
        "accounts": lambda a: a.n or 500,
        "metrics": "login+", "extra_metrics": [("fast_logins", "FAST logins", None)],
        "note": "STARTTLS + SASL2 (XEP-0388) with a XEP-0484 FAST token (HT-SHA-256-NONE, one "
                "round trip) + Bind 2 + initial presence, then </stream:stream>; the tokens are "
                "fetched during the warm-up by a SASL2 PLAIN login with <request-token/>; a "
                "server without SASL2 and FAST shows n/a",
    },
    "login-fast-resume": {
        "args": lambda a: ["-s", "login", "--fast", "--tls-resume", "-n", str(a.n or 500),
                           "-c", str(a.c or 50)],
        "accounts": lambda a: a.n or 500,
        "metrics": "login+", "extra_metrics": [("fast_logins", "FAST logins", None),
                                                 ("tls_resumed", "TLS resumptions", None)],
        "note": "login-fast with TLS resumed from each account's last session ticket: what a "
                "reconnecting modern client costs",
    },
    "idle": {
        "args": lambda a: ["-s", "idle", "-n", str(a.n or 10000), "-c", str(a.c or 200),
                           "--hold", str(a.hold)],
        "accounts": lambda a: a.n or 10000,
        "metrics": [("kb_per_session", "server RSS KB/session", False),
                    ("rss_before_kb", "RSS before (KB)", None),
                    ("rss_loaded_kb", "RSS loaded (KB)", None),
                    ("rss_after_kb", "RSS after all closed (KB)", None),
                    ("churn_ratio", "RSS after / before", False),
                    ("logins_per_s", "logins/s while loading", True)],
        "note": "N authenticated STARTTLS sessions held, then all closed; a fresh server "
                "process for every run (RSS is measured from its start)",
        "fresh": True,
    },
    "idle-sm": {
        "args": lambda a: ["-s", "idle", "--sm", "-n", str(a.n or 10000), "-c", str(a.c or 200),
                           "--hold", str(a.hold)],
        "accounts": lambda a: a.n or 10000,
        "metrics": [("kb_per_session", "server RSS KB/session", False),
                    ("rss_before_kb", "RSS before (KB)", None),
                    ("rss_loaded_kb", "RSS loaded (KB)", None),
                    ("rss_after_kb", "RSS after all closed (KB)", None),
                    ("churn_ratio", "RSS after / before", False),
                    ("logins_per_s", "logins/s while loading", True)],
        "note": "as idle, each session with XEP-0198 stream management and resumption enabled "
                "after binding; a fresh server process for every run",
        "fresh": True,
    },
    "resume": {
        # 45 sessions per source address: a resuming client's new connection may be accepted
        # before the server has seen its old one close, and Starling's per-address limit (100)
        # counts both.
        "args": lambda a: ["-s", "resume", "-n", str(a.n or 1000), "-c", str(a.c or 50),
                           "--hold", str(a.hold), "--per-addr", "45"],
        "accounts": lambda a: a.n or 1000,
        "metrics": [("resume_p50_ms", "resume p50 ms", False),
                    ("resume_p99_ms", "resume p99 ms", False),
                    ("resumes_per_s", "resumptions/s", True),
                    ("resume_failures", "failed resumptions", None)],
        "note": "N sessions with XEP-0198 resumption; each loses its connection (closed without "
                "a closing tag) and resumes on a new one: latency from the new TCP connect "
                "through STARTTLS and SCRAM to <resumed/>",
    },
    "msg": {
        "args": lambda a: ["-s", "msg", "-n", str(a.n or 100), "-w", str(a.w or 10)] +
        (["-r", str(a.rate)] if a.rate else []),
        "accounts": lambda a: 2 * (a.n or 100),
        "metrics": [("delivered_per_s", "delivered/s", True), ("lat_p50_ms", "p50 ms", False),
                    ("lat_p99_ms", "p99 ms", False), ("lat_p999_ms", "p99.9 ms", False),
                    ("cpu_us_per_delivery", "server CPU µs/message", False)],
        "note": "N pairs, each client keeps W chat messages in flight to its partner",
    },
    "msg-archive": {
        "args": lambda a: SCENARIOS["msg"]["args"](a),
        "accounts": lambda a: 2 * (a.n or 100),
        "metrics": [("delivered_per_s", "delivered/s, archive on", True),
                    ("lat_p50_ms", "p50 ms, archive on", False),
                    ("lat_p99_ms", "p99 ms, archive on", False),
                    ("cpu_us_per_delivery", "server CPU µs/message, archive on", False),
                    ("off_delivered_per_s", "delivered/s, archive off", True),
                    ("off_cpu_us_per_delivery", "server CPU µs/message, archive off", False),
                    ("archive_tput_cost_pct", "archive cost: throughput lost %", None),
                    ("archive_cpu_cost_us", "archive cost: CPU µs/message added", False),
                    ("archive_cpu_cost_pct", "archive cost: CPU/message added %", None),
                    ("archived_bench0", "bench0's archive after the runs (items)", None)],
        "note": "msg (N pairs, W chat messages in flight each) with every server archiving "
                "every message of both parties (Starling archive.enabled=yes; Prosody mod_mam, "
                "default_archive_policy = true, internal storage; ejabberd mod_mam, "
                "default: always, mnesia), each run alternated with a plain msg run (archive "
                "off, the server restarted in between) of the same server: the cost rows are "
                "medians of the per-pair ratios",
        "server_extra": {"archive": "yes"},
        "starling_extra": {"archive.enabled": "yes"},
        "alternate": True,
    },
    "presence": {
        "args": lambda a: ["-s", "presence", "-n", str(a.n or 1000), "-c", str(a.c or 100),
                           "--contacts", "20"],
        "accounts": lambda a: a.n or 1000,
        "setup": lambda a: ["-s", "roster-setup", "-n", str(a.n or 1000), "-c",
                            str(a.c or 100), "--contacts", "20"],
        "metrics": [("logins_per_s", "logins/s", True), ("presences_per_s", "presences/s", True),
                    ("login_p99_ms", "login p99 ms", False),
                    ("cpu_us_per_login", "server CPU µs/login", False)],
        "note": "N users with 20 mutual contacts log in (roster get + initial presence)",
    },
    "muc": {
        "args": lambda a: ["-s", "muc", "-n", str(a.n or 100), "--senders", str(a.senders),
                           "-w", str(a.w or 1), "-c", str(a.c or 50)],
        "accounts": lambda a: a.n or 100,
        "metrics": [("delivered_per_s", "deliveries/s", True), ("lat_p50_ms", "p50 ms", False),
                    ("lat_p99_ms", "p99 ms", False),
                    ("cpu_us_per_delivery", "server CPU µs/delivery", False)],
        "note": "one room, N occupants, S senders with W groupchat messages in flight each",
        "room": True,
        # Starling limits each occupant to 120 messages a minute by default (the peers have no
        # such limit), and keeps 50 messages of history (the peers are set to none).
        "starling_extra": {"muc.message_rate": "0", "muc.history_length": "0"},
    },
    "pep": {
        "args": lambda a: ["-s", "pep", "-n", str(a.n or 100), "-w", str(a.w or 10),
                           "-c", str(a.c or 101)],
        # The publisher is account 0, its contacts 1..N.
        "accounts": lambda a: (a.n or 100) + 1,
        "setup": lambda a: ["-s", "pep-setup", "-n", str(a.n or 100), "-c", str(a.c or 101)],
        "metrics": [("delivered_per_s", "notifications/s", True),
                    ("lat_p50_ms", "p50 ms", False), ("lat_p99_ms", "p99 ms", False),
                    ("cpu_us_per_delivery", "server CPU µs/notification", False)],
        "note": "one account publishes to its PEP node (XEP-0163) with W publishes in flight; "
                "its N contacts (mutual subscriptions) advertise <node>+notify in their XEP-0115 "
                "capabilities and each receives every item",
    },
    "s2s": {
        "args": lambda a: ["-s", "s2s", "-n", str(a.n or 50), "-w", str(a.w or 10)] +
        (["-r", str(a.rate)] if a.rate else []),
        # Clients 2i log in on the first instance, 2i+1 on the second, with their own index.
        "accounts": lambda a: 2 * (a.n or 50),
        "metrics": [("delivered_per_s", "delivered/s", True), ("lat_p50_ms", "p50 ms", False),
                    ("lat_p99_ms", "p99 ms", False), ("lat_p999_ms", "p99.9 ms", False),
                    ("cpu_us_per_delivery", "server CPU µs/message (both instances)", False),
                    ("failures", "failures", None)],
        "note": "two instances of each server (a.bench.interop, b.bench.interop) federated "
                "with each other on loopback, each finding the other through a dnsmasq of the "
                "harness (SRV records); N pairs, one client of each pair on each instance, each "
                "keeping W chat messages in flight to its partner over s2s; server CPU is the "
                "sum of both instances'",
        "federated": True,
    },
}
for _s in SCENARIOS.values():
    if _s["metrics"] is None:
        _s["metrics"] = SCENARIOS["login"]["metrics"]
    elif _s["metrics"] == "login+":  # login's figures, then the scenario's own before failures
        _s["metrics"] = SCENARIOS["login"]["metrics"][:-1] + _s["extra_metrics"] + \
            SCENARIOS["login"]["metrics"][-1:]


# Counted as failures in a run (loadgen's RESULT keys).
FAILURE_KEYS = ("login_failures", "conn_failures", "protocol_errors", "bounced", "lost")


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    model = sh("lscpu | sed -n 's/^Model name: *//p' | head -1") or platform.processor()
    mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
    return {
        "cpus": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "openssl": sh("openssl version"),
    }


def fmt(v, integer=False):
    if v is None:
        return "n/a"
    if integer:
        return "%d" % round(v)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def on_term(signum, frame):
    # finally: blocks stop the servers (they run in their own sessions).
    raise SystemExit(128 + signum)


def main():
    signal.signal(signal.SIGTERM, on_term)
    ap = argparse.ArgumentParser(description="Starling vs Prosody vs ejabberd, one scenario")
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("-n", type=int, help="size (accounts/sessions/pairs/occupants)")
    ap.add_argument("-c", type=int, help="concurrent logins")
    ap.add_argument("-w", type=int, help="messages in flight per sender")
    ap.add_argument("-t", type=float, default=20, help="measured seconds per run (20)")
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--hold", type=float, default=5)
    ap.add_argument("--rate", type=float, help="msg: cap the total rate (messages/s)")
    ap.add_argument("--senders", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--servers", default="starling,prosody,ejabberd")
    ap.add_argument("--build", default=os.path.join(benchlib.REPO, "build"))
    ap.add_argument("--workers", type=int, help="Starling server.workers (default: its default)")
    ap.add_argument("--out", default=os.path.join(benchlib.BENCH, "results"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--tag", help="results file name (default: the scenario)")
    ap.add_argument("--server-cpus", help="pin Starling to these CPUs (taskset -c list)")
    ap.add_argument("--loadgen-cpus", help="pin the load generator to these CPUs")
    ap.add_argument("--starling-option", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra -o setting for Starling (e.g. store.backend=postgresql)")
    a = ap.parse_args()
    benchlib.PIN["server"] = a.server_cpus
    benchlib.PIN["loadgen"] = a.loadgen_cpus

    sc = SCENARIOS[a.scenario]
    loadgen = os.path.join(a.build, "loadgen")
    subprocess.run(["make", "-s", "-C", benchlib.REPO, "BUILD=" + os.path.relpath(a.build,
                    benchlib.REPO), os.path.relpath(loadgen, benchlib.REPO)], check=True)
    work = tempfile.mkdtemp(prefix="starling-bench-")
    cert = benchlib.bench_cert(work)
    results = {}
    versions = {}
    notes = []
    servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    try:
        for name in servers:
            if sc.get("federated"):
                srv = benchlib.Federation(name, os.path.join(work, name), a.build)
            else:
                srv = benchlib.make_server(name, os.path.join(work, name), a.build)
            versions[srv.name] = srv.version
            runs = []
            results[srv.name] = runs
            extra = dict(sc.get("server_extra", {}))
            if srv.name == "Starling":
                if a.workers:
                    srv.options["server.workers"] = str(a.workers)
                if extra.get("require_tls") == "no":
                    extra = {"xmpp.receiving.require_tls": "no"}
                else:
                    extra = {}
                for k, v in sc.get("starling_extra", {}).items():
                    extra[k] = v
                    notes.append("Starling: %s=%s for this scenario" % (k, v))
                for kv in a.starling_option:
                    k, _, v = kv.partition("=")
                    extra[k] = v
                    notes.append("Starling: %s=%s (--starling-option)" % (k, v))
                if "archive.enabled" not in extra:
                    # The peers' configurations (bench/peers/) keep no archive; Starling's is
                    # on by default since issue 16, so it is turned off here to compare alike.
                    extra["archive.enabled"] = "no"
                    notes.append("Starling: archive.enabled=no (the peers keep no archive)")
                if a.scenario in ("idle", "idle-sm") and (a.n or 10000) + 200 > 10000:
                    # The default channel limit is 10000 connections.
                    extra["xmpp.receiving.channels"] = str((a.n or 10000) + 1000)
                    notes.append("Starling: xmpp.receiving.channels=%s (default 10000) to "
                                 "hold %d sessions" % (extra["xmpp.receiving.channels"],
                                                       a.n or 10000))
            probe = cpu_probe()
            notes.append("machine probe before %s: %.0f MB/s SHA-256 on one core" % (srv.name,
                                                                                   probe))
            print("== %s %s: starting (probe %.0f MB/s)" % (srv.name, srv.version, probe),
                  file=sys.stderr, flush=True)
            try:
                srv.start(cert, extra)
                t = time.monotonic()
                srv.provision(sc["accounts"](a))
                print("   %d accounts in %.1f s" % (sc["accounts"](a), time.monotonic() - t),
                      file=sys.stderr, flush=True)
                common = ["-t", str(a.t), "--warmup", str(a.warmup)]
                if "setup" in sc:
                    rc, res, err = benchlib.run_loadgen(loadgen, srv, sc["setup"](a) + common,
                                                        300)
                    if rc != 0:
                        raise benchlib.BenchError("setup failed: %s %s" % (
                            res.get("first_error", ""), err.strip()[-300:]))
                for i in range(a.runs):
                    if sc.get("fresh") and i > 0:
                        srv.stop()
                        srv.start(cert, extra)
                        time.sleep(2)
                    args = sc["args"](a) + common
                    port = srv.tls_port if sc.get("port") == "tls" else None
                    off = None
                    if sc.get("alternate"):
                        # The same scenario with the archive off, then on, restarted between.
                        srv.stop()
                        srv.start(cert, archive_off(srv.name, extra))
                        time.sleep(min(1.0, a.warmup))
                        off = run_once(loadgen, srv, args, a, port, "run %d, archive off"
                                       % (i + 1))
                        srv.stop()
                        srv.start(cert, extra)
                        time.sleep(min(1.0, a.warmup))
                    if sc.get("room"):
                        args += ["--room", "bench%d-%d@conference.%s" % (os.getpid(), i,
                                                                        benchlib.DOMAIN)]
                    rc, res = run_once(loadgen, srv, args, a, port, "run %d" % (i + 1))
                    if rc != 0:
                        notes.append("%s run %d incomplete: %s" % (
                            srv.name, i + 1, res.get("first_error", "see the figures")))
                    if off is not None:
                        add_cost(res, off[1])
                        if off[0] != 0:
                            notes.append("%s run %d (archive off) incomplete: %s" % (
                                srv.name, i + 1, off[1].get("first_error", "see the figures")))
                    runs.append(res)
                    if sc.get("federated") and i == 0:
                        notes.append("%s s2s streams (after run 1): %s" % (srv.name,
                                                                         srv.s2s_summary()))
                    time.sleep(1)
                if sc.get("alternate") and runs:
                    runs[-1]["archived_bench0"] = str(archive_count(srv, "bench0"))
            except benchlib.BenchError as e:
                notes.append("%s: n/a (%s)" % (srv.name, str(e).splitlines()[0][:200]))
                print("   n/a: %s" % e, file=sys.stderr, flush=True)
                results[srv.name] = []
            finally:
                srv.stop()
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    if a.server_cpus or a.loadgen_cpus:
        notes.append("Starling pinned to CPUs %s, the load generator to CPUs %s (taskset)"
                     % (a.server_cpus or "all", a.loadgen_cpus or "all"))
    table = render(a, sc, results, versions, notes)
    print(table)
    os.makedirs(a.out, exist_ok=True)
    base = os.path.join(a.out, "%s-%s" % (datetime.date.today().isoformat(),
                                          a.tag or a.scenario))
    path = base + ".md"
    with open(path, "w") as f:
        f.write(table)
    # The medians, for scripts (compare.sh all derives the half-peak msg rate from them).
    medians = {n: {key: median_of(results[n], key) for key, _, _ in sc["metrics"]}
               for n in results}
    with open(base + ".json", "w") as f:
        json.dump({"scenario": a.scenario, "argv": sys.argv[1:], "medians": medians,
                   "runs": results, "notes": notes}, f, indent=1)
    print("written to %s" % os.path.relpath(path, os.getcwd()), file=sys.stderr)
    return 0


def run_once(loadgen, srv, args, a, port, what):
    """One loadgen run; returns (rc, RESULT figures with "failures" added)."""
    rc, res, err = benchlib.run_loadgen(loadgen, srv, args, int(a.t + a.warmup + 240), port)
    if res:
        res["failures"] = str(sum(int(res.get(k, 0)) for k in FAILURE_KEYS))
    line = " ".join("%s=%s" % kv for kv in res.items())
    print("   %s: rc=%d %s" % (what, rc, line), file=sys.stderr, flush=True)
    if not res:
        raise benchlib.BenchError("loadgen printed no result: %s" % err.strip()[-300:])
    return rc, res


def archive_off(name, extra):
    """msg-archive's settings with the archive off (Starling: archive.enabled=no; the peers:
    their configurations without mod_mam)."""
    off = dict(extra)
    off.pop("archive", None)
    if name == "Starling":
        off["archive.enabled"] = "no"
    return off


def add_cost(on, off):
    """Adds the archive-off figures of the paired run and the archive's cost to on's."""
    for k in ("delivered_per_s", "cpu_us_per_delivery", "failures"):
        if k in off:
            on["off_" + k] = off[k]
    try:
        t_on, t_off = float(on["delivered_per_s"]), float(off["delivered_per_s"])
        on["archive_tput_cost_pct"] = "%.1f" % (100.0 * (t_off - t_on) / t_off)
        c_on, c_off = float(on["cpu_us_per_delivery"]), float(off["cpu_us_per_delivery"])
        on["archive_cpu_cost_us"] = "%.2f" % (c_on - c_off)
        on["archive_cpu_cost_pct"] = "%.1f" % (100.0 * (c_on - c_off) / c_off)
    except (KeyError, ValueError, ZeroDivisionError):
        pass


def archive_count(srv, user):
    """Items in user's archive by a XEP-0313 query with RSM <max>0</max> (the <count> of
    <fin/>): shows the archive was written. None when the server does not say."""
    sys.path.insert(0, os.path.join(benchlib.REPO, "tests", "integration"))
    try:
        import rawxmpp
        c = rawxmpp.login(srv, user, benchlib.PASSWORD, resource="count", domain=benchlib.DOMAIN)
        try:
            r = c.iq("set", "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/"
                     "protocol/rsm'><max>0</max></set></query>")
            n = r.find(".//{http://jabber.org/protocol/rsm}count")
            if n is not None:
                return int(n.text)
            # Starling leaves <count/> out past 10,000 matches (counting a large archive
            # costs more than the page): one item then shows the archive is not empty.
            r = c.iq("set", "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/"
                     "protocol/rsm'><max>1</max></set></query>")
            first = r.find(".//{http://jabber.org/protocol/rsm}first")
            return "more than 10000" if first is not None else None
        finally:
            c.close()
    except Exception as e:  # noqa: BLE001 - a figure for the notes, never a failure
        print("   archive count: %s" % e, file=sys.stderr, flush=True)
        return None


def cpu_probe():
    """MB/s of SHA-256 on one core: the machine's speed right now. On a shared host the same
    binary's CPU per message has been seen to double from one quarter of an hour to the next,
    so each server's figures carry the probe taken just before them."""
    data = b"\x5a" * (1 << 20)
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        h = hashlib.sha256()
        for _ in range(64):
            h.update(data)
        best = max(best, 64 / (time.perf_counter() - t))
    return best


def median_of(runs, key):
    vals = []
    for r in runs:
        try:
            vals.append(float(r[key]))
        except (KeyError, ValueError):
            pass
    return statistics.median(vals) if vals else None


def render(a, sc, results, versions, notes):
    names = list(results)
    peers = [n for n in names if n != "Starling"]
    m = machine()
    out = []
    out.append("# %s — %s\n" % (a.scenario, datetime.datetime.now().strftime("%Y-%m-%d %H:%M")))
    out.append("%s. Medians of %d runs of %g s each (after %g s warm-up).\n"
               % (sc["note"], a.runs, a.t, a.warmup))
    out.append("Command: `bench/compare.sh %s`\n" % " ".join(sys.argv[1:]))
    head = "| figure | " + " | ".join(names)
    if "Starling" in names:
        head += "".join(" | Starling vs %s" % p for p in peers)
    out.append(head + " |")
    out.append("|---" * (1 + len(names) + (len(peers) if "Starling" in names else 0)) + "|")
    for key, label, higher in sc["metrics"]:
        vals = {n: median_of(results[n], key) for n in names}
        row = "| %s | " % label + " | ".join(fmt(vals[n], key.endswith("failures"))
                                              for n in names)
        if "Starling" in names:
            for p in peers:
                s, v = vals.get("Starling"), vals.get(p)
                if higher is None or s is None or v is None or s == 0 or v == 0:
                    row += " | –"
                else:
                    row += " | %.2f×" % (s / v if higher else v / s)
        out.append(row + " |")
    out.append("")
    out.append("“Starling vs X” is Starling's advantage: X's figure divided into Starling's where "
               "more is better, Starling's divided into X's where less is better (>1 = Starling "
               "ahead).\n")
    out.append("Machine: %s CPUs (%s), %s RAM, kernel %s, %s, %s.\n"
               % (m["cpus"], m["cpu"], m["memory"], m["kernel"], m["os"], m["openssl"]))
    out.append("Versions: " + ", ".join("%s %s" % kv for kv in versions.items()) + ".\n")
    if notes:
        out.append("Notes:\n")
        for n in notes:
            out.append("- " + n)
        out.append("")
    out.append("<details><summary>all runs</summary>\n")
    for n in names:
        for i, r in enumerate(results[n]):
            out.append("- %s run %d: `%s`" % (n, i + 1, " ".join("%s=%s" % kv for kv in r.items())))
    out.append("\n</details>\n")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
