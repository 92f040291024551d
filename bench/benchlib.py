"""benchlib.py: starts Starling, Prosody and ejabberd on loopback ports, provisions accounts, runs
loadgen. For s2s, Federation runs two instances of one server (S2S_DOMAINS) that find each other through a
dnsmasq of ours (SRV _xmpp-server._tcp on a free loopback port; system files are never touched)."""

import hashlib
import hmac
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PEERS = os.path.join(BENCH, "peers")
DOMAIN = "localhost"
# Not under .test: libunbound (Prosody's resolver) answers NXDOMAIN for the RFC 6761 names itself.
S2S_DOMAINS = ("a.bench.interop", "b.bench.interop")
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
    subprocess.run([os.path.join(PEERS, "cert.sh"), d, DOMAIN] + list(S2S_DOMAINS), check=True)
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


def stop_proc(proc, timeout=15):
    """SIGTERM to the process group of proc (started with start_new_session), SIGKILL if it
    outlives timeout."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


class Dnsmasq:
    """dnsmasq on 127.0.0.1:port answering for the zones of S2S_DOMAINS only: for each of
    `records` {domain: (s2s port, SRV target)}, SRV _xmpp-server._tcp.D -> target:port, and when
    the target is D itself, A D -> 127.0.0.1 (AAAA: no data); other names of the zones are
    NXDOMAIN; nothing is forwarded."""

    def __init__(self, workdir, port, records):
        self.workdir = workdir
        self.port = port
        self.records = dict(records)
        self.proc = None
        self.log_path = os.path.join(workdir, "dnsmasq.log")

    def start(self):
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.access(exe, os.X_OK):
            raise BenchError("dnsmasq is not installed (package dnsmasq-base)")
        zones = sorted({d.split(".", 1)[1] for d in self.records})
        argv = [exe, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
                "--port=%d" % self.port,
                "--pid-file=" + os.path.join(self.workdir, "dnsmasq.pid"), "--user=%s" % pwd_name(),
                "--log-facility=" + self.log_path, "--log-queries"]
        argv += ["--local=/%s/" % z for z in zones]
        for d, (p, target) in sorted(self.records.items()):
            argv.append("--srv-host=_xmpp-server._tcp.%s,%s,%d,0,0" % (d, target, p))
            if target == d:
                argv.append("--host-record=%s,127.0.0.1" % d)
        with open(os.path.join(self.workdir, "dnsmasq.out"), "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=out, start_new_session=True)
        wait_ports(self.proc, [self.port], 10, "dnsmasq",
                   os.path.join(self.workdir, "dnsmasq.out"))

    def stop(self):
        stop_proc(self.proc, 5)
        self.proc = None


def pwd_name():
    return pwd.getpwuid(os.getuid()).pw_name


class Server:
    """Common part: name, version, ports, the process, the pids whose CPU and RSS are measured.
    s2s: `domain` is the instance's domain, `dns_port` the resolver it asks for its peer
    (set before start), `s2s_port` where it accepts server connections."""

    name = "?"
    features = ("login", "idle", "msg")
    nports = 2
    srv_target = None  # s2s: the SRV target naming this server's host (None: its domain)

    def __init__(self, workdir, domain=DOMAIN):
        self.workdir = workdir
        self.domain = domain
        self.proc = None
        self.port = self.tls_port = self.s2s_port = None
        self.dns_port = None
        self.log_path = None
        self.accounts = 0

    def assign_ports(self, ports):
        self.port, self.tls_port = ports[:2]
        self.s2s_port = self.port

    def pids(self):
        return [self.proc.pid]

    def loadgen_target(self, port=None):
        """loadgen options naming this server (its c2s port unless `port`), its domain and the
        processes whose CPU is measured."""
        return ["-p", str(port or self.port), "-D", self.domain,
                "--pid", ",".join(str(p) for p in self.pids())]

    def s2s_summary(self):
        """How the s2s streams of this instance were secured and authenticated, or None."""
        return None

    def stop(self):
        stop_proc(self.proc)
        self.proc = None

    def supports(self, scenario):
        return scenario in self.features


class Starling(Server):
    name = "Starling"
    features = ("login", "login-plain", "idle", "msg", "presence", "muc", "idle-sm", "resume")

    def __init__(self, workdir, build, options=None, domain=DOMAIN):
        super().__init__(workdir, domain)
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

    def start(self, cert=None, extra=None, ports=None):
        self.assign_ports(ports or free_ports(self.nports))
        os.makedirs(os.path.join(self.datadir, "certs"), exist_ok=True)
        if cert is not None:
            shutil.copy2(cert[0], os.path.join(self.datadir, "certs", self.domain + ".crt"))
            shutil.copy2(cert[1], os.path.join(self.datadir, "certs", self.domain + ".key"))
        # Server connections arrive on the client listener (the stream namespace decides).
        # No shapers and no cap on logins in progress per address, as in the peers'
        # configurations (bench/peers/): the scenarios measure throughput from few addresses.
        opts = {"xmpp.listener": "127.0.0.1:%d, 127.0.0.1:%d/tls" % (self.port, self.tls_port),
                "webadmin.listener": "",
                "http.listener": "",
                "xmpp.receiving.c2s_rate": "0",
                "xmpp.receiving.s2s_rate": "0",
                "xmpp.receiving.unauth_per_address": "0"}
        if self.domain != DOMAIN:
            opts["server.main_domain"] = self.domain
        if self.dns_port:
            opts["xmpp.sending.dns_servers"] = "127.0.0.1:%d" % self.dns_port
        opts.update(self.options)
        opts.update(extra or {})
        argv = [os.path.join(self.bindir, "starlingd"), "-d", self.datadir]
        for k, v in opts.items():
            argv += ["-o", "%s=%s" % (k, v)]
        self.log_path = os.path.join(self.workdir, "starlingd.err")
        with open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen(pinned(argv, "server"), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, start_new_session=True)
        wait_ports(self.proc, [self.port, self.tls_port], 20, "starlingd", self.log_path)

    def provision(self, n):
        """Adds accounts bench<accounts>..bench<n-1> over the admin socket, pipelined."""
        if n <= self.accounts:
            return
        sock = socket.socket(socket.AF_UNIX)
        path = os.path.join(self.datadir, "admin.sock")
        # The XMPP ports are held before the store opens: the admin socket may come later
        # (a first start on PostgreSQL creates the schema first).
        deadline = time.monotonic() + 20
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        sock.connect(path)
        f = sock.makefile("rwb")
        batch = 500
        i = self.accounts
        while i < n:
            j = min(n, i + batch)
            for k in range(i, j):
                req = {"op": "account.add",
                       "args": {"jid": (USER_FMT % k) + "@" + self.domain,
                                "password": PASSWORD}}
                f.write((json.dumps(req) + "\n").encode())
            f.flush()
            for k in range(i, j):
                r = json.loads(f.readline())
                if not r.get("ok") and r.get("code") != "exists":
                    raise BenchError("account.add %d: %s" % (k, r))
            i = j
        sock.close()
        self.accounts = n

    def s2s_summary(self):
        r = subprocess.run([os.path.join(self.bindir, "starlingctl"), "-d", self.datadir,
                            "connections", "--json"], capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            return None
        out = []
        for c in json.loads(r.stdout):
            if c.get("kind") in ("s2s", "s2s-out"):
                out.append("%s %s %s" % ("out" if c["kind"] == "s2s-out" else "in",
                                         c.get("tls") or "no TLS", c.get("mechanism") or "?"))
        return ", ".join(sorted(set(out))) or None


class Prosody(Server):
    name = "Prosody"
    features = ("login", "login-plain", "idle", "msg", "presence", "muc", "idle-sm", "resume")

    nports = 4

    def __init__(self, workdir, domain=DOMAIN):
        super().__init__(workdir, domain)
        self.http_port = None  # mod_websocket (bench/ws.py)
        self.version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "prosody"],
                                      capture_output=True, text=True).stdout.strip()
        self.datadir = os.path.join(workdir, "data")

    def assign_ports(self, ports):
        self.port, self.tls_port, self.s2s_port, self.http_port = ports[:4]

    def start(self, cert, extra=None, ports=None):
        self.assign_ports(ports or free_ports(self.nports))
        require_tls = "false" if (extra or {}).get("require_tls") == "no" else "true"
        with open(os.path.join(PEERS, "prosody.cfg.lua.in")) as f:
            cfg = f.read()
        # s2s: libunbound asks our dnsmasq only (no resolv.conf, no hosts file), and the log
        # says how each s2s stream was secured (info: a few lines per connection).
        unbound = ""
        level = "error"
        if self.dns_port:
            self.check_unbound()
            unbound = ('unbound = { resolvconf = false; hoststxt = false; '
                       'forward = "127.0.0.1@%d" }' % self.dns_port)
            level = "info"
        for k, v in {"@DIR@": self.workdir, "@PORT@": self.port, "@TLS_PORT@": self.tls_port,
                     "@S2S_PORT@": self.s2s_port, "@HTTP_PORT@": self.http_port,
                     "@DOMAIN@": self.domain, "@CERT@": cert[0],
                     "@KEY@": cert[1], "@REQUIRE_TLS@": require_tls, "@UNBOUND@": unbound,
                     "@LOGLEVEL@": level, **self.mam_config(extra)}.items():
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
        ports = [self.port, self.tls_port] + ([self.s2s_port] if self.dns_port else [])
        wait_ports(self.proc, ports, 30, "prosody", self.log_path)

    @staticmethod
    def check_unbound():
        """s2s: the `unbound` setting is read by net.unbound only. Without lua-unbound Prosody
        falls back to its old resolver (net.dns), which ignores it and asks the nameservers of
        /etc/resolv.conf, which know nothing of the bench domains: every s2s connection fails
        and every message bounces. Refuse to start rather than measure that."""
        lua = "lua5.4"
        try:
            with open(shutil.which("prosody") or "/usr/bin/prosody") as f:
                words = [w for w in f.readline()[2:].split() if "lua" in w]
                lua = words[-1] if words else lua
        except OSError:
            pass
        try:
            ok = subprocess.run([lua, "-e", 'require "lunbound"'], capture_output=True,
                                timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if not ok:
            raise BenchError("Prosody s2s needs lua-unbound (%s cannot load lunbound); without "
                             "it Prosody resolves through /etc/resolv.conf, not the bench's "
                             "dnsmasq: run bench/peers/install.sh" % lua)

    @staticmethod
    def mam_config(extra):
        """extra {"archive": "yes"} (compare.py msg-archive): mod_mam with its defaults (the
        storage is the global "internal" one: one list file per user, at most 10,000 items,
        storage_archive_item_limit), every message archived unless the user says otherwise."""
        on = (extra or {}).get("archive") == "yes"
        return {"@MAM_MODULE@": '"mam"; ' if on else "",
                "@MAM_CONFIG@": "default_archive_policy = true" if on else ""}

    def s2s_summary(self):
        """From the info log: TLS per s2s session ("Stream encrypted (TLSv1.3 with ...)") and,
        for incoming ones, SASL EXTERNAL when it was accepted ("Accepting SASL EXTERNAL
        identity"), else dialback (the only other way mod_s2s completes a stream)."""
        log = os.path.join(self.workdir, "prosody.log")
        tls, done = {}, {}
        external = False
        try:
            with open(log, errors="replace") as f:
                for line in f:
                    m = re.match(r"\S+ +\d+ [\d:]+ (s2s(?:in|out)\w+)\t\w+\t(.*)", line)
                    if m is None:
                        external |= "Accepting SASL EXTERNAL identity" in line
                        continue
                    sess, text = m.groups()
                    e = re.match(r"Stream encrypted \((\S+)", text)
                    if e:
                        tls[sess] = e.group(1)
                    if re.match(r"(Incoming|Outgoing) s2s connection \S+ complete", text):
                        done[sess] = sess.startswith("s2sin")
        except OSError:
            return None
        out = set()
        for sess, incoming in done.items():
            if incoming:
                out.add("in %s %s" % (tls.get(sess, "no TLS"),
                                      "SASL EXTERNAL" if external else "dialback"))
            else:
                out.add("out %s" % tls.get(sess, "no TLS"))
        return ", ".join(sorted(out)) or None

    def provision(self, n):
        """Writes the account files as mod_auth_internal_hashed does (SCRAM-SHA-1, 4096)."""
        d = os.path.join(self.datadir, self.domain.replace(".", "%2e"), "accounts")
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
    features = ("login", "login-plain", "idle", "msg", "presence", "muc", "idle-sm", "resume")

    nports = 5
    instances = 0
    # ejabberd looks up SRV records with Erlang's resolver (inet_res, our dnsmasq) but the
    # targets' addresses with the system's getaddrinfo(), which knows "localhost" (/etc/hosts).
    srv_target = "localhost"

    def __init__(self, workdir, domain=DOMAIN):
        super().__init__(workdir, domain)
        self.version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "ejabberd"],
                                      capture_output=True, text=True).stdout.strip()
        self.spool = os.path.join(workdir, "spool")
        Ejabberd.instances += 1
        self.node = "bench%d-%d@localhost" % (os.getpid(), Ejabberd.instances)
        self.beam = None
        self.epmd = None
        self.logfile = os.path.join(workdir, "log", "ejabberd.log")

    def assign_ports(self, ports):
        self.port, self.tls_port, self.s2s_port, self.api_port, self.epmd_port = ports[:5]

    def start(self, cert, extra=None, ports=None):
        self.assign_ports(ports or free_ports(self.nports))
        require_tls = "false" if (extra or {}).get("require_tls") == "no" else "true"
        with open(os.path.join(PEERS, "ejabberd.yml.in")) as f:
            cfg = f.read()
        for k, v in {"@PORT@": self.port, "@TLS_PORT@": self.tls_port,
                     "@S2S_PORT@": self.s2s_port, "@API_PORT@": self.api_port,
                     "@DOMAIN@": self.domain, "@CERTKEY@": cert[2],
                     "@REQUIRE_TLS@": require_tls,
                     # compare.py msg-archive: mod_mam on its default db (mnesia), every
                     # message archived unless the user says otherwise.
                     "@MAM_MODULE@": ("  mod_mam:\n    db_type: mnesia\n    default: always"
                                      if (extra or {}).get("archive") == "yes" else ""),
                     # s2s: the log says how each s2s stream was secured (a few lines each).
                     "@LOGLEVEL@": "info" if self.dns_port else "error"}.items():
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
                    "EJABBERD_LOG_PATH": self.logfile, "HOME": self.workdir,
                    "ERL_EPMD_PORT": str(self.epmd_port)})
        if self.dns_port:
            # s2s: Erlang's resolver (inet_res, which ejabberd's SRV and A lookups use) asks
            # our dnsmasq only; resolv.conf is not read.
            inetrc = os.path.join(self.workdir, "inetrc")
            with open(inetrc, "w") as f:
                f.write('{resolv_conf, ""}.\n{nameserver, {127,0,0,1}, %d}.\n' % self.dns_port)
            env["ERL_INETRC"] = inetrc
        # A private epmd on a free loopback port, ours to stop (erl would otherwise leave a
        # system-wide one behind on 4369).
        with open(os.path.join(self.workdir, "epmd.out"), "ab") as out:
            self.epmd = subprocess.Popen(["epmd", "-address", "127.0.0.1", "-port",
                                          str(self.epmd_port)], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out, start_new_session=True)
        wait_ports(self.epmd, [self.epmd_port], 10, "epmd")
        # The same Erlang VM options as ejabberdctl (kernel poll, 250000 processes), run as a
        # plain process of ours instead of the system service.
        argv = ["erl", "-sname", self.node, "+K", "true", "+P", "250000", "-noinput",
                "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                "-mnesia", "dir", '"%s"' % self.spool, "-ejabberd", "log_path",
                '"%s"' % self.logfile, "-s", "ejabberd"]
        self.log_path = os.path.join(self.workdir, "ejabberd.out")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         env=env, start_new_session=True, cwd=self.workdir)
        ports = [self.port, self.tls_port, self.api_port] + ([self.s2s_port]
                                                              if self.dns_port else [])
        wait_ports(self.proc, ports, 60, "ejabberd", self.logfile)
        self.beam = self._find_beam()

    def stop(self):
        super().stop()
        stop_proc(self.epmd, 5)
        self.epmd = None

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

    def s2s_summary(self):
        """From the info log: "(tls|<pid>) Accepted inbound|outbound s2s MECH authentication"."""
        out = set()
        try:
            with open(self.logfile, errors="replace") as f:
                for line in f:
                    m = re.search(r"\((\w+)\|<[^>]*>\) Accepted (inbound|outbound) s2s (\S+) "
                                  r"authentication", line)
                    if m:
                        out.add("%s %s %s" % ("in" if m.group(2) == "inbound" else "out",
                                              "TLS" if m.group(1) == "tls" else "no TLS",
                                              m.group(3)))
        except OSError:
            return None
        return ", ".join(sorted(out)) or None

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
                self._api("register", {"user": USER_FMT % k, "host": self.domain,
                                       "password": PASSWORD})
            except urllib.error.HTTPError as e:
                body = e.read().decode("utf-8", "replace")
                if "already" not in body:
                    raise BenchError("ejabberd register %d: %s %s" % (k, e.code, body))
        self.accounts = max(self.accounts, n)


def make_server(name, workdir, build, domain=DOMAIN):
    os.makedirs(workdir, exist_ok=True)
    if name == "starling":
        return Starling(workdir, build, domain=domain)
    if name == "prosody":
        return Prosody(workdir, domain)
    if name == "ejabberd":
        return Ejabberd(workdir, domain)
    raise BenchError("unknown server %s" % name)


class Federation:
    """Two instances of one server, S2S_DOMAINS[0] and [1], federated with each other on loopback.
    Both find the other through one dnsmasq of ours (SRV _xmpp-server._tcp.D -> 127.0.0.1:its
    s2s port), the same way for all three servers; no static routes. Looks like a Server to
    compare.py: loadgen's senders log in on the first, the receivers on the second, and the CPU
    measured is that of both instances."""

    def __init__(self, kind, workdir, build):
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        self.a = make_server(kind, os.path.join(workdir, "a"), build, S2S_DOMAINS[0])
        self.b = make_server(kind, os.path.join(workdir, "b"), build, S2S_DOMAINS[1])
        self.name, self.version = self.a.name, self.a.version
        self.options = getattr(self.a, "options", None)
        self.dns = None

    @property
    def port(self):
        return self.a.port

    def start(self, cert, extra=None):
        if self.options is not None:
            self.b.options = self.options
        na, nb = self.a.nports, self.b.nports
        # Every port at once, so that none of them is handed out twice.
        ports = free_ports(1 + na + nb)
        self.a.assign_ports(ports[1:1 + na])
        self.b.assign_ports(ports[1 + na:])
        self.a.dns_port = self.b.dns_port = ports[0]
        try:
            self.dns = Dnsmasq(self.workdir, ports[0], {
                s.domain: (s.s2s_port, s.srv_target or s.domain) for s in (self.a, self.b)})
            self.dns.start()
            self.a.start(cert, extra, ports[1:1 + na])
            self.b.start(cert, extra, ports[1 + na:])
        except BaseException:
            self.stop()
            raise

    def provision(self, n):
        self.a.provision(n)
        self.b.provision(n)

    def pids(self):
        return self.a.pids() + self.b.pids()

    def loadgen_target(self, port=None):
        return self.a.loadgen_target(port) + [
            "--host2", "127.0.0.1", "--port2", str(self.b.port), "--domain2", self.b.domain,
            "--pid2", ",".join(str(p) for p in self.b.pids())]

    def s2s_summary(self):
        parts = []
        for s in (self.a, self.b):
            try:
                v = s.s2s_summary() or "not found"
            except (OSError, ValueError, subprocess.SubprocessError) as e:
                v = "not found (%s)" % e
            parts.append("%s: %s" % (s.domain, v))
        return "; ".join(parts)

    def stop(self):
        for s in (self.b, self.a):
            try:
                s.stop()
            except Exception:  # stop the others anyway
                pass
        if self.dns is not None:
            self.dns.stop()
            self.dns = None


RESULT_RE = re.compile(r'(\w+)=("[^"]*"|\S+)')

# CPU lists (taskset -c) for Starling and for the load generator; None = not pinned.
PIN = {"server": None, "loadgen": None}


def pinned(argv, what):
    return (["taskset", "-c", PIN[what]] if PIN[what] else []) + argv


def run_loadgen(loadgen, server, args, timeout, port=None):
    """Runs one loadgen against server (its c2s port unless `port`); returns (exit code, dict of
    the RESULT line, stderr text)."""
    argv = ([loadgen] + server.loadgen_target(port) +
            ["-u", USER_FMT, "-P", PASSWORD, "--timeout", str(timeout)] + args)
    p = subprocess.run(pinned(argv, "loadgen"), capture_output=True, text=True,
                       timeout=timeout + 60)
    res = {}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            for k, v in RESULT_RE.findall(line[7:]):
                res[k] = v.strip('"')
    return p.returncode, res, p.stderr
