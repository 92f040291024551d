"""test_memory_release.py: once the connection count falls far from its peak, every worker runs
the modules' release_memory (core/module.c, docs/internals/modules.md), and the server goes on."""

import socket
import time

import pytest

from imclient import fresh, login

pytestmark = pytest.mark.own_server

PEAK = 300


def open_sockets(srv, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        socks.append(s)
    return socks


def wait_open(srv, at_least, timeout=20):
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n = len(srv.connections())
        if n >= at_least:
            return n
        time.sleep(0.2)
    pytest.fail("only %d connections open, expected %d" % (n, at_least))


def test_release_after_connections_fall(make_server):
    srv = make_server({
        "server.log_level": "Low-Level",
        "xmpp.receiving.per_address_limit": "0",
        "xmpp.receiving.unauth_per_address": "0",
        "xmpp.receiving.header_timeout": "60",
    })
    # A login first: the account cache and the IM core have something to release.
    user = fresh(srv, "mem")
    c = login(srv, user, presence="")
    socks = open_sockets(srv, PEAK)
    try:
        wait_open(srv, PEAK - 10)
    finally:
        for s in socks:
            s.close()
    srv.wait_log(r"connections fell from \d+ to \d+: freed memory returned to the system",
                 timeout=15)
    # Every worker released and trimmed; the logged-in client still works, and a new login too.
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>")
    assert r.get("type") == "result"
    c.close()
    login(srv, user).close()
