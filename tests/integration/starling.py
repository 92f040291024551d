"""starling.py: starts and stops a real starlingd for the integration tests; runs starlingctl."""

import atexit
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("STARLING_BUILD") or os.path.join(REPO, "build")
STARLINGD = os.path.join(BUILD, "starlingd")
STARLINGCTL = os.path.join(BUILD, "starlingctl")

# STARLING_STORE=postgresql: every server runs on its own fresh database of one throwaway
# PostgreSQL cluster (pgfixture.py), one database per data folder.
STORE = os.environ.get("STARLING_STORE", "sqlite")
ON_POSTGRESQL = STORE == "postgresql"
_PG_DATABASES = {}  # realpath of a data folder -> (database name, conninfo)

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

# Every server started by this process, so an interrupted run still kills them (atexit).
_LIVE = set()


def _kill_leftovers():
    for srv in list(_LIVE):
        srv.kill()


atexit.register(_kill_leftovers)


def free_ports(n):
    """Returns n distinct free loopback TCP ports (bound to port 0, then released)."""
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


def _tail(path, n=40):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return "(no output file)"
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-n:])


class StartError(Exception):
    pass


def store_options(datadir):
    """The -o overrides that put the server of `datadir` on the chosen store ({} for SQLite)."""
    if not ON_POSTGRESQL:
        return {}
    import pgfixture
    key = os.path.realpath(datadir)
    if key not in _PG_DATABASES:
        _PG_DATABASES[key] = pgfixture.shared().database()
    return {"store.backend": "postgresql",
            "store.postgresql.conninfo": _PG_DATABASES[key][1]}


def share_store(src, dst):
    """The data folder `dst` (a copy of `src`) uses the database of `src`: on PostgreSQL the
    database is not in the folder, so copying the folder does not copy it."""
    entry = _PG_DATABASES.get(os.path.realpath(src))
    if entry is not None:
        _PG_DATABASES[os.path.realpath(dst)] = entry


def sqlite_only(fn):
    """Marks a test of SQLite's file itself (permissions, backup, damage, fault injection)."""
    import pytest
    return pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite's database file: not on "
                              "PostgreSQL (STARLING_STORE=postgresql)")(fn)


def drop_store(datadir):
    """Drops the PostgreSQL database of `datadir`, if it has one."""
    entry = _PG_DATABASES.pop(os.path.realpath(datadir), None)
    if entry is not None:
        import pgfixture
        pgfixture.shared().drop(entry[0])


class Server:
    """One starlingd process with its own data folder and loopback ports.

    Attributes: port (clear-text / STARTTLS socket), tls_port (direct TLS socket), datadir,
    domain ("localhost"), options (the -o overrides), proc.
    With webadmin=True the WebAdmin listens on web_port (HTTP) and web_tls_port (HTTPS), both
    on 127.0.0.1; otherwise it opens no socket (webadmin.listener is empty).
    """

    def __init__(self, options=None, datadir=None, webadmin=False, host="127.0.0.1",
                 prepare=None, http=False):
        # host: the loopback address the XMPP sockets bind (s2s tests use 127.0.0.2, …);
        # prepare: called with the data folder before each start attempt (e.g. certificates).
        self.options = dict(options or {})
        self.host = host
        self.prepare = prepare
        self.webadmin = webadmin
        # http=True: the user-facing HTTP listener (WebSocket, host-meta) on http_port (HTTP)
        # and http_tls_port (HTTPS), 127.0.0.1; otherwise http.listener is empty.
        self.http = http
        self.http_port = None
        self.http_tls_port = None
        self.web_port = None
        self.web_tls_port = None
        self.own_datadir = datadir is None
        self.datadir = datadir or tempfile.mkdtemp(prefix="starling-it-")
        self.logdir = tempfile.mkdtemp(prefix="starling-it-out-")
        self.stdout_path = os.path.join(self.logdir, "stdout")
        self.stderr_path = os.path.join(self.logdir, "stderr")
        self.domain = "localhost"
        self.proc = None
        self.port = None
        self.tls_port = None
        self._postmaster_password = None
        self.exit_code = None
        self.stopped = False

    # ---- lifecycle ----------------------------------------------------------------------------

    def argv(self):
        opts = {
            "xmpp.listener": "%s:%d, %s:%d/tls" % (self.host, self.port, self.host,
                                                    self.tls_port),
            "server.workers": "2",
            "xmpp.receiving.auth_failure_delay": "0",
            # Tests try wrong passwords on purpose; test_lockout.py turns the lock-out on.
            "auth.lock_after": "0",
            "xmpp.receiving.log_level": "All Info",
            "webadmin.listener": "",
            "http.listener": "",
        }
        if self.http:
            opts["http.listener"] = "127.0.0.1:%d, 127.0.0.1:%d/tls" % (self.http_port,
                                                                      self.http_tls_port)
        if self.webadmin:
            opts["webadmin.listener"] = "127.0.0.1:%d, 127.0.0.1:%d/tls" % (self.web_port,
                                                                          self.web_tls_port)
        opts.update(store_options(self.datadir))
        opts.update(self.options)
        argv = [STARLINGD, "-d", self.datadir]
        for key, value in opts.items():
            argv += ["-o", "%s=%s" % (key, value)]
        return argv

    def start(self):
        if not os.access(STARLINGD, os.X_OK):
            raise StartError("%s does not exist or is not executable (set STARLING_BUILD)"
                             % STARLINGD)
        last = None
        for attempt in range(3):
            if attempt and self.own_datadir:
                # A failed first start may already have initialised the folder: start afresh.
                drop_store(self.datadir)
                shutil.rmtree(self.datadir, ignore_errors=True)
                self.datadir = tempfile.mkdtemp(prefix="starling-it-")
            if self.webadmin:
                self.port, self.tls_port, self.web_port, self.web_tls_port = free_ports(4)
            else:
                self.port, self.tls_port = free_ports(2)
            if self.http:
                self.http_port, self.http_tls_port = free_ports(2)
            if self.prepare is not None:
                self.prepare(self.datadir)
            try:
                self._start_once()
                return self
            except StartError as e:
                last = e
                # Retry only when another process grabbed one of our ports meanwhile.
                if "in use" not in str(e).lower():
                    break
        raise last

    def _start_once(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        for path in (self.stdout_path, self.stderr_path):
            open(path, "wb").close()
        # O_APPEND: our own appends (tests) and the server's writes never overwrite each other.
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=env, cwd=self.logdir)
        _LIVE.add(self)
        self.stopped = False  # a restart after stop(): this process is stopped and checked too
        deadline = time.monotonic() + START_TIMEOUT
        ready = False
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.exit_code = rc
                _LIVE.discard(self)
                raise StartError("starlingd exited with %d during start-up:\n%s"
                                 % (rc, _tail(self.stderr_path)))
            if not ready:
                ready = re.search(r"\bready\b", self.stderr_text()) is not None
            web_ready = not self.webadmin or "webadmin.listener" in self.options or (
                self._port_accepts(self.web_port) and self._port_accepts(self.web_tls_port))
            http_ready = not self.http or "http.listener" in self.options or (
                self._port_accepts(self.http_port) and self._port_accepts(self.http_tls_port))
            if (ready and self._port_accepts(self.port, self.host)
                    and self._port_accepts(self.tls_port, self.host) and web_ready
                    and http_ready):
                return
            time.sleep(0.05)
        self.kill()
        raise StartError("starlingd not ready after %.0f s (ready in log: %s):\n%s"
                         % (START_TIMEOUT, ready, _tail(self.stderr_path)))

    @staticmethod
    def _port_accepts(port, host="127.0.0.1"):
        try:
            s = socket.create_connection((host, port), timeout=1.0)
        except OSError:
            return False
        s.close()
        return True

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """Hard stop without checks (used on start failure and at interpreter exit)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        _LIVE.discard(self)

    def stop(self):
        """SIGTERM, SIGKILL after STOP_TIMEOUT s; returns a list of problems (empty when clean)."""
        problems = []
        if self.proc is None or self.stopped:
            return problems
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append("starlingd did not exit within %.0f s of SIGTERM; killed"
                                % STOP_TIMEOUT)
                self.proc.kill()
                self.proc.wait(5)
        _LIVE.discard(self)
        self.exit_code = self.proc.returncode
        if self.exit_code != 0 and not problems:
            problems.append("starlingd exited with code %d after SIGTERM" % self.exit_code)
        bad = self.sanitizer_lines()
        if bad:
            problems.append("sanitizer report in stderr:\n" + "\n".join(bad[:20]))
        if problems:
            problems.append("stderr tail:\n" + _tail(self.stderr_path))
        return problems

    def cleanup(self):
        self.kill()
        if self.own_datadir:
            drop_store(self.datadir)
            shutil.rmtree(self.datadir, ignore_errors=True)
        shutil.rmtree(self.logdir, ignore_errors=True)

    # ---- output -------------------------------------------------------------------------------

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout_text(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_tail(self, n=40):
        return _tail(self.stderr_path, n)

    def sanitizer_lines(self):
        return [line for line in self.stderr_text().splitlines()
                if any(m in line for m in SANITIZER_MARKERS)]

    def log_text(self):
        """stderr plus every file in DATADIR/SystemLogs."""
        parts = [self.stderr_text()]
        for path in sorted(glob.glob(os.path.join(self.datadir, "SystemLogs", "*"))):
            try:
                with open(path, "rb") as f:
                    parts.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(parts)

    def wait_log(self, pattern, timeout=5.0, flags=re.I):
        """Waits until a line of the log matches `pattern`; returns the line or None."""
        rx = re.compile(pattern, flags)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text().splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

    @property
    def postmaster_password(self):
        if self._postmaster_password is None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                m = re.search(r"^postmaster@(\S+) password: (\S+)\s*$", self.stdout_text(), re.M)
                if m:
                    self._postmaster_password = m.group(2)
                    break
                time.sleep(0.1)
        return self._postmaster_password

    # ---- starlingctl --------------------------------------------------------------------------

    def db_rows(self, sql, params=()):
        """Rows of a query (SQLite's dialect, ? placeholders) on this server's store, SQLite's
        file or its PostgreSQL database: a list of tuples, integers as int, NULL as None. A write
        (INSERT, UPDATE, DELETE) is committed."""
        if not ON_POSTGRESQL:
            import sqlite3
            db = sqlite3.connect(os.path.join(self.datadir, "starling.db"), timeout=10)
            try:
                rows = db.execute(sql, params).fetchall()
                db.commit()
                return rows
            finally:
                db.close()
        import pgfixture
        parts = sql.split("?")
        assert len(parts) == len(params) + 1, "one parameter per ?"
        text = parts[0]
        for value, rest in zip(params, parts[1:]):
            literal = str(value) if isinstance(value, int) else \
                "'" + str(value).replace("'", "''") + "'"
            text += literal + rest
        out = pgfixture.shared().psql(text, db=_PG_DATABASES[os.path.realpath(self.datadir)][0],
                                      null="\\N")
        rows = []
        for line in out.splitlines():
            rows.append(tuple(None if f == "\\N" else int(f) if re.fullmatch(r"-?\d+", f) else f
                              for f in line.split("\x1f")))
        return rows

    def ctl(self, *args, timeout=20):
        """Runs starlingctl -d DATADIR args...; returns the CompletedProcess (text mode)."""
        return subprocess.run([STARLINGCTL, "-d", self.datadir] + [str(a) for a in args],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)

    def ctl_ok(self, *args, timeout=20):
        """Like ctl() but asserts exit code 0; returns stdout."""
        r = self.ctl(*args, timeout=timeout)
        assert r.returncode == 0, ("starlingctl %s -> exit %d\nstdout: %s\nstderr: %s"
                                   % (" ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
        return r.stdout

    def add_account(self, jid, password):
        self.ctl_ok("account", "add", jid, "--password", password)

    def connections(self):
        """starlingctl connections --json, parsed."""
        import json
        return json.loads(self.ctl_ok("connections", "--json"))
