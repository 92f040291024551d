"""benchlib.py: starts Starling, Prosody and ejabberd on loopback ports, provisions accounts, runs loadgen."""

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PEERS = os.path.join(BENCH, "peers")
DOMAIN = "localhost"
PASSWORD = "benchpass"
USER_FMT = "bench%d"
ITERATIONS = 4096


class BenchError(Exception):
    pass


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_accepts(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1.0)
    except OSError:
        return False
    s.close()
    return True


def wait_ports(proc, ports, timeout, what, log_path=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError("%s exited with %s during start-up%s" % (what, proc.returncode,
                             tail(log_path)))
        if all(port_accepts(p) for p in ports):
            return
        time.sleep(0.1)
    raise BenchError("%s did not open its ports within %d s%s" % (what, timeout, tail(log_path)))


def tail(path, n=15):
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8", "replace").splitlines()
    return ":\n" + "\n".join(lines[-n:])


def bench_cert(workdir):
    d = os.path.join(workdir, "cert")
    subprocess.run([os.path.join(PEERS, "cert.sh"), d, DOMAIN], check=True)
    return os.path.join(d, "bench.crt"), os.path.join(d, "bench.key"), os.path.join(d, "bench.pem")


def scram_keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    stored = hashlib.sha1(client_key).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha1).digest()
    return stored, server


def children(pid):
    """Direct children of pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


class Server:
    """Common part: name, version, ports, the process, the pids whose CPU and RSS are measured."""

    name = "?"
    features = ("login", "idle", "msg")

    def __init__(self, workdir):
        self.workdir = workdir
        self.proc = None
        self.port = self.tls_port = None
        self.log_path = None
        self.accounts = 0

    def pids(self):
        return [self.proc.pid]

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def supports(self, scenario):
        return scenario in self.features


class Starling(Server):
    name = "Starling"
    features = ("login", "login-plain", "idle", "msg", "presence", "muc")

    def __init__(self, workdir, build, options=None):
        super().__init__(workdir)
        # A private copy: the shared build directory may be relinked during a run.
        self.bindir = os.path.join(workdir, "bin")
        os.makedirs(self.bindir, exist_ok=True)
        for b in ("starlingd", "starlingctl"):
            src = os.path.join(build, b)
            deadline = time.monotonic() + 120
            while not os.access(src, os.X_OK) and time.monotonic() < deadline:
                time.sleep(1)  # being relinked by a concurrent make
            shutil.copy2(src, os.path.join(self.bindir, b))
        self.datadir = os.path.join(workdir, "data")
        self.options = dict(options or {})
        self.version = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                                      capture_output=True, text=True).stdout.strip() or "?"

    def start(self, cert=None, extra=None):
        self.port, self.tls_port = free_ports(2)
        os.makedirs(os.path.join(self.datadir, "certs"), exist_ok=True)
        if cert is not None:
            shutil.copy2(cert[0], os.path.join(self.datadir, "certs", DOMAIN + ".crt"))
            shutil.copy2(cert[1], os.path.join(self.datadir, "certs", DOMAIN + ".key"))
        opts = {"xmpp.listener": "127.0.0.1:%d, 127.0.0.1:%d/tls" % (self.port, self.tls_port),
                "webadmin.listener": ""}
        opts.update(self.options)
        opts.update(extra or {})
        argv = [os.path.join(self.bindir, "starlingd"), "-d", self.datadir]
        for k, v in opts.items():
            argv += ["-o", "%s=%s" % (k, v)]
        self.log_path = os.path.join(self.workdir, "starlingd.err")
        with open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         start_new_session=True)
        wait_ports(self.proc, [self.port, self.tls_port], 20, "starlingd", self.log_path)

    def provision(self, n):
        """Adds accounts bench<accounts>..bench<n-1> over the admin socket, pipelined."""
        if n <= self.accounts:
            return
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(os.path.join(self.datadir, "admin.sock"))
        f = sock.makefile("rwb")
        batch = 500
        i = self.accounts
        while i < n:
            j = min(n, i + batch)
            for k in range(i, j):
                req = {"op": "account.add",
                       "args": {"jid": (USER_FMT % k) + "@" + DOMAIN, "password": PASSWORD}}
                f.write((json.dumps(req) + "\n").encode())
            f.flush()
            for k in range(i, j):
                r = json.loads(f.readline())
                if not r.get("ok") and r.get("code") != "exists":
                    raise BenchError("account.add %d: %s" % (k, r))
            i = j
        sock.close()
        self.accounts = n


class Prosody(Server):
    name = "Prosody"
    features = ("login", "login-plain", "idle", "msg", "presence", "muc")

    def __init__(self, workdir):
        super().__init__(workdir)
        self.version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "prosody"],
                                      capture_output=True, text=True).stdout.strip()
        self.datadir = os.path.join(workdir, "data")

    def start(self, cert, extra=None):
        self.port, self.tls_port, self.s2s_port = free_ports(3)
        require_tls = "false" if (extra or {}).get("require_tls") == "no" else "true"
        with open(os.path.join(PEERS, "prosody.cfg.lua.in")) as f:
            cfg = f.read()
        for k, v in {"@DIR@": self.workdir, "@PORT@": self.port, "@TLS_PORT@": self.tls_port,
                     "@S2S_PORT@": self.s2s_port, "@DOMAIN@": DOMAIN, "@CERT@": cert[0],
                     "@KEY@": cert[1], "@REQUIRE_TLS@": require_tls}.items():
            cfg = cfg.replace(k, str(v))
        path = os.path.join(self.workdir, "prosody.cfg.lua")
        with open(path, "w") as f:
            f.write(cfg)
        os.makedirs(self.datadir, exist_ok=True)
        self.log_path = os.path.join(self.workdir, "prosody.out")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(["prosody", "-F", "--config", path],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True, cwd=self.workdir)
        wait_ports(self.proc, [self.port, self.tls_port], 30, "prosody", self.log_path)

    def provision(self, n):
        """Writes the account files as mod_auth_internal_hashed does (SCRAM-SHA-1, 4096)."""
        d = os.path.join(self.datadir, DOMAIN.replace(".", "%2e"), "accounts")
        os.makedirs(d, exist_ok=True)
        for k in range(self.accounts, n):
            salt = str(uuid.uuid4())
            stored, server = scram_keys(PASSWORD, salt.encode(), ITERATIONS)
            text = ('return {\n\t["iteration_count"] = %d;\n\t["salt"] = "%s";\n'
                    '\t["server_key"] = "%s";\n\t["stored_key"] = "%s";\n};\n'
                    % (ITERATIONS, salt, server.hex(), stored.hex()))
            with open(os.path.join(d, (USER_FMT % k) + ".dat"), "w") as f:
                f.write(text)
        self.accounts = max(self.accounts, n)


class Ejabberd(Server):
    name = "ejabberd"
    features = ("login", "login-plain", "idle", "msg", "presence", "muc")

    def __init__(self, workdir):
        super().__init__(workdir)
        self.version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "ejabberd"],
                                      capture_output=True, text=True).stdout.strip()
        self.spool = os.path.join(workdir, "spool")
        self.node = "bench%d@localhost" % os.getpid()
        self.beam = None

    def start(self, cert, extra=None):
        self.port, self.tls_port, self.s2s_port, self.api_port = free_ports(4)
        require_tls = "false" if (extra or {}).get("require_tls") == "no" else "true"
        with open(os.path.join(PEERS, "ejabberd.yml.in")) as f:
            cfg = f.read()
        for k, v in {"@PORT@": self.port, "@TLS_PORT@": self.tls_port,
                     "@S2S_PORT@": self.s2s_port, "@API_PORT@": self.api_port,
                     "@DOMAIN@": DOMAIN, "@CERTKEY@": cert[2],
                     "@REQUIRE_TLS@": require_tls}.items():
            cfg = cfg.replace(k, str(v))
        path = os.path.join(self.workdir, "ejabberd.yml")
        with open(path, "w") as f:
            f.write(cfg)
        os.makedirs(self.spool, exist_ok=True)
        logdir = os.path.join(self.workdir, "log")
        os.makedirs(logdir, exist_ok=True)
        env = dict(os.environ)
        env.update({"EJABBERD_CONFIG_PATH": path, "ERL_MAX_PORTS": "65536",
                    "ERL_LIBS": "/usr/lib/x86_64-linux-gnu", "ERL_CRASH_DUMP": "/dev/null",
                    "EJABBERD_LOG_PATH": os.path.join(logdir, "ejabberd.log"),
                    "HOME": self.workdir})
        # The same Erlang VM options as ejabberdctl (kernel poll, 250000 processes), run as a
        # plain process of ours instead of the system service.
        argv = ["erl", "-sname", self.node, "+K", "true", "+P", "250000", "-noinput",
                "-mnesia", "dir", '"%s"' % self.spool, "-ejabberd", "log_path",
                '"%s"' % os.path.join(logdir, "ejabberd.log"), "-s", "ejabberd"]
        self.log_path = os.path.join(self.workdir, "ejabberd.out")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         env=env, start_new_session=True, cwd=self.workdir)
        wait_ports(self.proc, [self.port, self.tls_port, self.api_port], 60, "ejabberd",
                   os.path.join(logdir, "ejabberd.log"))
        self.beam = self._find_beam()

    def _find_beam(self):
        """The beam.smp process (erl execs into it, or runs it as a child)."""
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip().startswith("beam"):
                        return pid
            except OSError:
                pass
            todo += children(pid)
        return self.proc.pid

    def pids(self):
        return [self.beam or self.proc.pid]

    def _api(self, cmd, args):
        req = urllib.request.Request("http://127.0.0.1:%d/api/%s" % (self.api_port, cmd),
                                     data=json.dumps(args).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def provision(self, n):
        """Registers the accounts through mod_http_api (what `ejabberdctl register` calls)."""
        for k in range(self.accounts, n):
            try:
                self._api("register", {"user": USER_FMT % k, "host": DOMAIN,
                                       "password": PASSWORD})
            except urllib.error.HTTPError as e:
                body = e.read().decode("utf-8", "replace")
                if "already" not in body:
                    raise BenchError("ejabberd register %d: %s %s" % (k, e.code, body))
        self.accounts = max(self.accounts, n)


def make_server(name, workdir, build):
    os.makedirs(workdir, exist_ok=True)
    if name == "starling":
        return Starling(workdir, build)
    if name == "prosody":
        return Prosody(workdir)
    if name == "ejabberd":
        return Ejabberd(workdir)
    raise BenchError("unknown server %s" % name)


RESULT_RE = re.compile(r'(\w+)=("[^"]*"|\S+)')


def run_loadgen(loadgen, server, args, timeout):
    """Runs one loadgen; returns (exit code, dict of the RESULT line, stderr text)."""
    argv = [loadgen, "-p", str(server.port), "-D", DOMAIN, "-u", USER_FMT, "-P", PASSWORD,
            "--pid", ",".join(str(p) for p in server.pids()), "--timeout", str(timeout)] + args
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 60)
    res = {}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            for k, v in RESULT_RE.findall(line[7:]):
                res[k] = v.strip('"')
    return p.returncode, res, p.stderr
