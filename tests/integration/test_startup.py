"""test_startup.py: start-up and data safety (issue 12): a lost database is not a first start, a
damaged one is refused, a read-only data directory and a busy data directory or port give one
clear line, the database files are 0600 whatever the umask, starlingctl backup and restore."""

import os
import re
import shutil
import sqlite3
import stat
import subprocess

import pytest

import starling
from imclient import fresh, login

pytestmark = pytest.mark.own_server


def run_starlingd(datadir, options=None, timeout=30, wrap=None):
    """Runs starlingd in the foreground, expecting it to stop by itself (a refused start)."""
    port, tls_port = starling.free_ports(2)
    opts = {"xmpp.listener": "127.0.0.1:%d, 127.0.0.1:%d/tls" % (port, tls_port),
            "server.workers": "2", "webadmin.listener": ""}
    opts.update(starling.store_options(datadir))
    opts.update(options or {})
    argv = [starling.STARLINGD, "-d", datadir]
    for k, v in opts.items():
        argv += ["-o", "%s=%s" % (k, v)]
    if wrap:
        argv = wrap + argv
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail("starlingd did not stop by itself: %r" % (e.stderr or b"")[-2000:])


def refused(r, *words, first_start=False):
    """Exit 1, no postmaster password (unless the directory was new), and the last stderr line
    names every word."""
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    bad = [ln for ln in r.stderr.splitlines() if any(m in ln for m in starling.SANITIZER_MARKERS)]
    assert not bad, r.stderr[-4000:]
    if not first_start:
        assert "password:" not in r.stdout, "a new postmaster password was printed: %r" % r.stdout
    lines = r.stderr.strip().splitlines()
    assert lines, "no message on stderr"
    last = lines[-1]
    assert last.startswith("starlingd: "), last
    for w in words:
        assert w.lower() in last.lower(), "%r not in %r" % (w, last)
    return last


def stopped_copy(make_server, tmp_path):
    """A data directory initialised by a real first start, with one extra account, server
    stopped; returns (datadir, account name)."""
    srv = make_server()
    name = fresh(srv, "keep")
    problems = srv.stop()
    assert problems == [], problems
    d = str(tmp_path / "data")
    shutil.copytree(srv.datadir, d, ignore=shutil.ignore_patterns("admin.sock"))
    starling.share_store(srv.datadir, d)
    return d, name


@starling.sqlite_only
@pytest.mark.parametrize("how", ["missing", "empty"])
def test_lost_database_is_not_a_first_start(make_server, tmp_path, how):
    d, _name = stopped_copy(make_server, tmp_path)
    db = os.path.join(d, "starling.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    if how == "empty":
        open(db, "wb").close()
    r = run_starlingd(d)
    refused(r, "starling.db", how, "starling.conf", "backup")
    assert not os.path.exists(db) or os.path.getsize(db) == 0, "the database was recreated"


def test_empty_directory_is_a_first_start(tmp_path):
    # The complement: an existing empty directory (and an empty database file without a settings
    # file) still gets a first start.
    d = tmp_path / "fresh"
    d.mkdir()
    open(d / "starling.db", "wb").close()
    srv = starling.Server(datadir=str(d))
    try:
        srv.start()
        assert srv.postmaster_password
        assert os.path.exists(d / "starling.conf")
        assert srv.stop() == []
    finally:
        srv.cleanup()


@starling.sqlite_only
def test_damaged_database_refused(make_server, tmp_path):
    d, _name = stopped_copy(make_server, tmp_path)
    db = os.path.join(d, "starling.db")
    assert not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0
    size = os.path.getsize(db)
    assert size >= 4096 * 6, size
    with open(db, "r+b") as f:
        f.seek(4096 * 2)
        f.write(b"\xa5" * (size - 4096 * 2))
    r = run_starlingd(d)
    refused(r, "damaged", "backup")


@starling.sqlite_only
def test_database_that_is_not_sqlite_refused(make_server, tmp_path):
    d, _name = stopped_copy(make_server, tmp_path)
    with open(os.path.join(d, "starling.db"), "r+b") as f:
        f.write(b"this is not a database at all" * 200)
    r = run_starlingd(d)
    refused(r, "damaged")


def _readonly_wrap(d):
    """How to run starlingd on `d` made read-only: chmod for an ordinary user; for root (who
    ignores modes) a read-only bind mount in a private mount namespace."""
    if os.geteuid() != 0:
        os.chmod(d, 0o555)
        return None
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            "mount --bind -o ro '%s' '%s' && ! touch '%s/x' 2>/dev/null"
                            % (d, d, d)], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a read-only directory here (root without mount namespaces)")
    return ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', d]


def test_readonly_data_directory_one_clear_line(make_server, tmp_path):
    d, _name = stopped_copy(make_server, tmp_path)
    wrap = _readonly_wrap(d)
    try:
        r = run_starlingd(d, wrap=wrap)
    finally:
        os.chmod(d, 0o700)
    last = refused(r, d)
    assert "not writable" in last or "read-only" in last.lower(), last
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_second_instance_same_datadir_refused(make_server):
    srv = make_server()
    r = run_starlingd(srv.datadir)
    refused(r, "in use by another starlingd", "pid %d" % srv.proc.pid)
    # The first one is untouched.
    assert srv.running()
    assert "postmaster@localhost" in srv.ctl_ok("account", "list", "localhost")


@pytest.mark.parametrize("tls", [False, True])
def test_second_instance_same_port_refused(make_server, tmp_path, tls):
    # Before: SO_REUSEPORT let the second server bind the same port and take half the clients.
    srv = make_server()
    other = tmp_path / "other"
    port = srv.tls_port if tls else srv.port
    free = starling.free_ports(1)[0]
    listener = "127.0.0.1:%d, 127.0.0.1:%d/tls" % ((free, port) if tls else (port, free))
    r = run_starlingd(str(other), {"xmpp.listener": listener})
    refused(r, str(port), "in use")
    # Refused before anything was written: no first start happened in the other directory.
    for rel in ("starling.conf", "starling.db", "certs"):
        assert not os.path.exists(other / rel), rel
    name = fresh(srv, "still")
    for _ in range(8):
        c = login(srv, name)
        c.close()


@starling.sqlite_only
def test_database_files_0600_with_umask_000(make_server):
    old = os.umask(0)
    try:
        srv = make_server()
    finally:
        os.umask(old)
    name = fresh(srv, "mode")  # a write: the WAL exists
    c = login(srv, name)
    c.close()
    db = os.path.join(srv.datadir, "starling.db")
    seen = []
    for suffix in ("", "-wal", "-shm"):
        path = db + suffix
        assert os.path.exists(path), "%s missing" % path
        mode = stat.S_IMODE(os.stat(path).st_mode)
        seen.append((suffix, oct(mode)))
        assert mode == 0o600, seen


@starling.sqlite_only
def test_existing_database_narrowed_to_0600(make_server, tmp_path):
    d, name = stopped_copy(make_server, tmp_path)
    db = os.path.join(d, "starling.db")
    os.chmod(db, 0o644)
    srv = make_server(datadir=d)
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    login(srv, name).close()


@starling.sqlite_only
def test_backup_online_and_restore(make_server, tmp_path):
    srv = make_server()
    names = [fresh(srv, "bk") for _ in range(5)]
    out = str(tmp_path / "copy.db")
    r = srv.ctl("backup", out)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert not os.path.exists(out + ".partial")
    assert not os.path.exists(out + "-wal")
    db = sqlite3.connect(out)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        got = {row[0] for row in db.execute("SELECT name FROM accounts")}
    finally:
        db.close()
    assert set(names) <= got, (names, got)
    # An account added after the backup is not in it; the restore brings the copy back.
    late = fresh(srv, "late")
    conf = os.path.join(srv.datadir, "starling.conf")
    assert srv.stop() == []
    # Restore as docs/backup.md says: stop, replace starling.db, remove -wal and -shm, start.
    restore = str(tmp_path / "restored")
    os.mkdir(restore, 0o700)
    shutil.copy(conf, restore)
    shutil.copy(out, os.path.join(restore, "starling.db"))
    srv2 = make_server(datadir=restore)
    assert "password:" not in srv2.stdout_text()
    listed = srv2.ctl_ok("account", "list", "localhost").split()
    for n in names:
        assert "%s@localhost" % n in listed
        login(srv2, n).close()
    assert "%s@localhost" % late not in listed


@starling.sqlite_only
def test_backup_of_stopped_server_and_errors(make_server, tmp_path):
    d, name = stopped_copy(make_server, tmp_path)
    out = str(tmp_path / "b.db")
    r = subprocess.run([starling.STARLINGCTL, "-d", d, "backup", out], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(out)
    try:
        assert (name,) in db.execute("SELECT name FROM accounts").fetchall()
    finally:
        db.close()
    r = subprocess.run([starling.STARLINGCTL, "-d", str(tmp_path / "nowhere"), "backup", out],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "starling.db" in r.stderr, r.stderr
    r = subprocess.run([starling.STARLINGCTL, "-d", d, "backup", str(tmp_path / "no/dir/x.db")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "backup failed" in r.stderr, r.stderr
    r = subprocess.run([starling.STARLINGCTL, "-d", d, "backup"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2, r.stderr


def test_broken_main_domain_certificate_refused(make_server, tmp_path):
    # Before: the server started, and no client could start TLS (one log record, exit 0 later).
    d, _name = stopped_copy(make_server, tmp_path)
    with open(os.path.join(d, "certs", "localhost.crt"), "w") as f:
        f.write("not a certificate\n")
    r = run_starlingd(d)
    refused(r, "certificate", "localhost")


def _limits_of(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


def _with_soft_fd_limit(soft, start):
    import resource
    was = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, was[1]))
    try:
        return start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, was)


def test_descriptor_limit_is_raised_to_the_hard_limit(make_server):
    """A shell's soft limit of 256 descriptors would refuse the 250th client whatever the
    Channels setting says: the server raises its soft limit to the hard one at start."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("hard descriptor limit %d leaves nothing to raise" % hard)
    srv = _with_soft_fd_limit(256, lambda: make_server())
    soft, srv_hard = _limits_of(srv.proc.pid)
    assert soft == srv_hard and soft > 256, (soft, srv_hard)
    assert "descriptor limit" not in srv.log_text()


def test_channels_beyond_the_descriptor_limit_are_said(make_server):
    """Channels above what the (hard) descriptor limit holds: the System Log says so at start."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= 1000000 - 64:
        pytest.skip("no descriptor limit below the largest Channels value")
    srv = make_server(options={"xmpp.receiving.channels": "1000000"})
    assert re.search(r"channels is 1000000 but the descriptor limit is %d" % hard,
                     srv.log_text()), srv.log_text()[-2000:]
