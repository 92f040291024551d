"""pgfixture.py: a throwaway PostgreSQL cluster (initdb + pg_ctl in a temporary folder, trust
authentication, a Unix socket in that folder and a free loopback port), for the tests that run
starlingd on the PostgreSQL store (STARLING_STORE=postgresql) and the cluster tests.

initdb refuses to run as root, so as root the cluster runs as the user "nobody"."""

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time

PG_BIN = os.environ.get("STARLING_PG_BIN") or (sorted(glob.glob("/usr/lib/postgresql/*/bin"))
                                               or ["/usr/lib/postgresql/15/bin"])[-1]


def available():
    return os.access(os.path.join(PG_BIN, "initdb"), os.X_OK)


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class PostgresCluster:
    """One postgres server; database(name) creates a fresh database and returns its conninfo."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="starling-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = None
        self.started = False
        self.lock = threading.Lock()
        self.count = 0
        self.as_user = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self.as_user = ["runuser", "-u", "nobody", "--"]

    def _run(self, *argv, check=True):
        return subprocess.run(self.as_user + list(argv), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=check,
                              timeout=120, cwd=self.dir)

    def start(self):
        self._run(os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust", "-U",
                  "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
        for attempt in range(5):
            self.port = _free_port()
            opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=400 "
                    "-c shared_buffers=32MB" % (self.port, self.dir))
            r = self._run(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l",
                          os.path.join(self.dir, "log"), "-o", opts, "-w", "-t", "60", "start",
                          check=False)
            if r.returncode == 0:
                self.started = True
                atexit.register(self.stop)
                return self
            time.sleep(0.2 * (attempt + 1))
        raise RuntimeError("pg_ctl start failed: %s\n%s" % (r.stdout.decode(errors="replace"),
                                                              self.log_tail()))

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def psql(self, sql, db="postgres", null=""):
        """Runs `sql`; the output has one line a row, fields separated by \\x1f."""
        return subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                               "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", db,
                               "-At", "-F", "\x1f", "-P", "null=" + null, "-c", sql],
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
                              timeout=60).stdout.decode()

    def conninfo(self, db):
        return "host=%s port=%d user=postgres dbname=%s" % (self.dir, self.port, db)

    def database(self, prefix="starling"):
        """A new empty database (C collation, UTF8): its conninfo."""
        with self.lock:
            self.count += 1
            name = "%s_%d_%d" % (prefix, os.getpid(), self.count)
        self.psql("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' "
                  "LC_CTYPE 'C'" % name)
        return name, self.conninfo(name)

    def drop(self, name):
        try:
            self.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        except (subprocess.SubprocessError, OSError):
            pass

    def stop(self):
        if self.started:
            self.started = False
            self._run(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "immediate",
                      "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


_SHARED = None
_SHARED_LOCK = threading.Lock()


def shared():
    """The process's one cluster, started on first use and stopped at exit."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = PostgresCluster().start()
        return _SHARED
