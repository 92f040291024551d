"""test_store_pg_hang.py: a PostgreSQL that stops answering (its processes frozen with SIGSTOP,
as a hung server or a network that drops packets without a word would leave it): a store call
fails within store.postgresql.timeout instead of holding its worker, the next calls fail at once
while the database stays silent, the node keeps serving what needs no store, and once the
database answers again the store works again (docs/internals/store-pg.md)."""

import os
import signal
import time

import pytest

import pgfixture
import starling
from imclient import fresh, login
from rawxmpp import dump

pytestmark = pytest.mark.skipif(not pgfixture.available(),
                                reason="needs postgresql-15 (scripts/deps/cluster.test)")

PRIVATE_GET = "<query xmlns='jabber:iq:private'><note xmlns='x:hang'/></query>"
PRIVATE_SET = "<query xmlns='jabber:iq:private'><note xmlns='x:hang'>kept</note></query>"
TIMEOUT_S = 2


def postgres_pids(cluster):
    """The postmaster (first line of postmaster.pid) and its children (/proc's parent ids)."""
    with open(os.path.join(cluster.data, "postmaster.pid")) as f:
        master = int(f.readline())
    pids = [master]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, the last ')' ends it.
        if int(stat[stat.rindex(")") + 2:].split()[1]) == master:
            pids.append(int(entry))
    return pids


@pytest.fixture
def own_pg():
    """A PostgreSQL of this test alone (it is frozen), stopped afterwards."""
    cluster = pgfixture.PostgresCluster().start()
    try:
        yield cluster
    finally:
        for pid in postgres_pids(cluster) if cluster.started else []:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        cluster.stop()


def test_silent_database_fails_calls_in_time_then_recovers(own_pg):
    _db, conninfo = own_pg.database("hang")
    srv = starling.Server({"store.backend": "postgresql",
                           "store.postgresql.conninfo": conninfo,
                           "store.postgresql.timeout": str(TIMEOUT_S)}).start()
    try:
        user = fresh(srv, "hang")
        c = login(srv, user)
        r = c.iq("set", PRIVATE_SET)
        assert r.get("type") == "result", dump(r)
        frozen = postgres_pids(own_pg)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            # The call that meets the silent database fails after the timeout, with a wait
            # error (the request may succeed later), not after TCP's quarter of an hour.
            t = time.monotonic()
            r = c.iq("get", PRIVATE_GET, timeout=TIMEOUT_S + 10)
            took = time.monotonic() - t
            assert r.get("type") == "error", dump(r)
            assert r.find("{jabber:client}error").get("type") == "wait", dump(r)
            assert TIMEOUT_S - 0.5 < took < TIMEOUT_S + 3, took
            # The worker is free again: what needs no store is answered at once ...
            t = time.monotonic()
            r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost", timeout=5)
            assert r.get("type") == "result" and time.monotonic() - t < 1.0, dump(r)
            # ... and the next store call fails at once instead of waiting again.
            t = time.monotonic()
            r = c.iq("get", PRIVATE_GET, timeout=5)
            assert r.get("type") == "error" and time.monotonic() - t < 1.0, dump(r)
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        # The database answers again: after at most one timeout period a new connection is
        # made and the stored data is there.
        deadline = time.monotonic() + TIMEOUT_S + 10
        while True:
            r = c.iq("get", PRIVATE_GET, timeout=TIMEOUT_S + 5)
            if r.get("type") == "result":
                break
            assert time.monotonic() < deadline, dump(r)
            time.sleep(0.3)
        assert "kept" in dump(r), dump(r)
        c.close()
    finally:
        assert srv.stop() == []
        srv.cleanup()
