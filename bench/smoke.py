"""smoke.py: CI smoke of the harness: each scenario Starling supports, once, at tiny size, against a
freshly started starlingd (free loopback ports, temporary data folder, removed afterwards), and s2s
between two of them found through the harness's dnsmasq (skipped when dnsmasq is not installed).
Fails on harness errors (no result, a failed login, lost sessions), never on speed."""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

# (name, loadgen arguments, which port, extra settings)
RUNS = [
    ("login", ["-s", "login", "-n", "10", "-c", "5"], "port"),
    ("login-direct", ["-s", "login", "--tls", "direct", "-n", "10", "-c", "5"], "tls"),
    ("login-plain", ["-s", "login", "--plain", "-n", "10", "-c", "5"], "port"),
    ("login-resume", ["-s", "login", "--tls-resume", "-n", "10", "-c", "5"], "port"),
    ("login-fast", ["-s", "login", "--fast", "-n", "10", "-c", "5"], "port"),
    ("idle", ["-s", "idle", "-n", "20", "-c", "10", "--hold", "0.5", "--per-addr", "7"], "port"),
    ("msg", ["-s", "msg", "-n", "5", "-w", "4"], "port"),
    ("msg-rate", ["-s", "msg", "-n", "5", "-w", "4", "-r", "500"], "port"),
    ("roster-setup", ["-s", "roster-setup", "-n", "12", "-c", "12", "--contacts", "4"], "port"),
    ("presence", ["-s", "presence", "-n", "12", "-c", "12", "--contacts", "4"], "port"),
    ("muc", ["-s", "muc", "-n", "6", "--senders", "2", "--room", "smoke@conference.localhost"],
     "port"),
    ("pep-setup", ["-s", "pep-setup", "-n", "5", "-c", "6", "--first", "12"], "port"),
    ("pep", ["-s", "pep", "-n", "5", "-w", "2", "-c", "6", "--first", "12"], "port"),
    ("idle-sm", ["-s", "idle", "--sm", "-n", "20", "-c", "10", "--hold", "0.5", "--per-addr", "7"],
     "port"),
    ("resume", ["-s", "resume", "-n", "10", "-c", "5", "--hold", "0.3"], "port"),
]
# A figure that must not be zero for the run to count (the feature was actually exercised).
REQUIRED = {"login-resume": "tls_resumed", "login-fast": "fast_logins"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(benchlib.REPO, "build"))
    a = ap.parse_args()
    loadgen = os.path.join(a.build, "loadgen")
    work = tempfile.mkdtemp(prefix="starling-bench-smoke-")
    srv = None
    failures = []
    t0 = time.monotonic()
    done = 0
    try:
        srv = benchlib.Starling(work, a.build)
        srv.start(benchlib.bench_cert(work), {"server.workers": "2", "muc.message_rate": "0"})
        srv.provision(20)
        for name, args, which in RUNS:
            port = srv.tls_port if which == "tls" else None
            if not one(loadgen, srv, name, args, port, failures):
                if srv.proc.poll() is not None:
                    failures.append("starlingd exited (%s)%s" % (srv.proc.returncode,
                                                                 benchlib.tail(srv.log_path)))
                    break
        srv.stop()
        srv = None
        done = len(RUNS)
        # The archive scenario (bench/mam.py) at its smoke size: its own servers.
        mam = subprocess.run([sys.executable, os.path.join(benchlib.BENCH, "mam.py"), "--smoke",
                              "--build", a.build], capture_output=True, text=True, timeout=120)
        print("bench-smoke %-13s %s" % ("mam", "ok" if mam.returncode == 0 else "FAIL"))
        if mam.returncode != 0:
            failures.append("mam: " + (mam.stderr or mam.stdout)[-800:])
        done += 1
        done += msg_archive(a.build, work, failures)
        done += fast_login(a.build, failures)
        if shutil.which("dnsmasq") or os.access("/usr/sbin/dnsmasq", os.X_OK):
            srv = benchlib.Federation("starling", os.path.join(work, "s2s"), a.build)
            srv.options["server.workers"] = "2"
            srv.start(benchlib.bench_cert(work))
            srv.provision(10)
            one(loadgen, srv, "s2s", ["-s", "s2s", "-n", "5", "-w", "4"], None, failures)
            done += 1
        else:
            print("bench-smoke s2s           skipped: dnsmasq is not installed")
        # ws: WebSocket vs TCP (bench/ws.py starts its own starlingd).
        r = subprocess.run([sys.executable, os.path.join(benchlib.BENCH, "ws.py"), "--build",
                            a.build, "-n", "6", "-c", "2", "-m", "20", "-w", "1"],
                           capture_output=True, text=True, timeout=120)
        print("bench-smoke %-13s %s %s" % ("ws", "ok  " if r.returncode == 0 else "FAIL",
                                           " ".join(r.stdout.split("\n")[2:4])))
        if r.returncode != 0:
            failures.append("ws: rc=%d %s" % (r.returncode, r.stderr.strip()[-400:]))
        done += 1
    except benchlib.BenchError as e:
        failures.append(str(e))
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("bench-smoke: " + f, file=sys.stderr)
    print("bench-smoke: %d scenarios, %s in %.1f s" % (done, "FAILED" if failures else "ok",
                                                       time.monotonic() - t0))
    return 1 if failures else 0


def archived(figure):
    """compare.py's archived_bench0: a count, "more than 10000" (past Starling's count cap) or
    None."""
    words = str(figure or "0").split()
    return int(words[-1]) if words and words[-1].isdigit() else 0


def msg_archive(build, work, failures):
    """compare.py msg-archive against Starling alone (archive off and on, alternated), and
    mam.py --peers starling (the archive filled through the protocol, then queried), both at a
    tiny size: 2 when run."""
    out = os.path.join(work, "results")
    r = subprocess.run([sys.executable, os.path.join(benchlib.BENCH, "compare.py"),
                        "msg-archive", "--servers", "starling", "--build", build, "-n", "5",
                        "-w", "4", "-t", "0.5", "--warmup", "0.3", "--runs", "1", "--out", out,
                        "--tag", "smoke-msg-archive"],
                       capture_output=True, text=True, timeout=120)
    run = {}
    try:
        with open(os.path.join(out, "%s-smoke-msg-archive.json"
                               % datetime.date.today().isoformat())) as f:
            run = json.load(f)["runs"]["Starling"][0]
    except (OSError, ValueError, KeyError, IndexError):
        pass
    ok = (r.returncode == 0 and run.get("failures") == "0" and "off_delivered_per_s" in run
          and archived(run.get("archived_bench0")) > 0)
    print("bench-smoke %-13s %s archived_bench0=%s cost=%s%%" % (
        "msg-archive", "ok  " if ok else "FAIL", run.get("archived_bench0"),
        run.get("archive_tput_cost_pct")))
    if not ok:
        failures.append("msg-archive: rc=%d %s" % (r.returncode, r.stderr.strip()[-400:]))
    r = subprocess.run([sys.executable, os.path.join(benchlib.BENCH, "mam.py"), "--build", build,
                        "--peers", "starling", "--messages", "40", "--conversations", "4",
                        "--queries", "5"], capture_output=True, text=True, timeout=120)
    ok = r.returncode == 0 and "| archived | 40 |" in r.stdout
    print("bench-smoke %-13s %s" % ("mam-peers", "ok" if ok else "FAIL"))
    if not ok:
        failures.append("mam --peers: rc=%d %s" % (r.returncode, (r.stderr or r.stdout)[-400:]))
    return 2


def fast_login(build, failures):
    """bench/fast_login.py (SASL2 SCRAM against FAST, issue 18) at a tiny size: 1 when run."""
    import subprocess
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "fast_login.py"), "--build", build, "-n", "3"],
                       capture_output=True, text=True, timeout=120)
    ok = r.returncode == 0 and "fast_cpu_us=" in r.stdout
    print("bench-smoke %-13s %s %s" % ("fast-login", "ok  " if ok else "FAIL", r.stdout.strip()))
    if not ok:
        failures.append("fast-login: rc=%d %s" % (r.returncode, r.stderr.strip()[-400:]))
    return 1


def one(loadgen, srv, name, args, port, failures):
    """One tiny loadgen run; appends to failures and returns False when it went wrong."""
    rc, res, err = benchlib.run_loadgen(loadgen, srv, args + ["-t", "1", "--warmup", "0.3"], 30,
                                        port)
    need = REQUIRED.get(name)
    ok = bool(rc == 0 and res.get("scenario") and res.get("login_failures") == "0"
              and res.get("bounced") == "0" and (need is None or res.get(need, "0") != "0"))
    print("bench-smoke %-13s %s %s" % (name, "ok  " if ok else "FAIL",
                                       " ".join("%s=%s" % kv for kv in res.items())))
    if not ok:
        failures.append("%s: rc=%d %s" % (name, rc, err.strip()[-400:]))
    return ok


if __name__ == "__main__":
    sys.exit(main())
