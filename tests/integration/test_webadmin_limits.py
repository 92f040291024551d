"""test_webadmin_limits.py: slow HTTP clients cannot lock administrators out of the WebAdmin:
per-address cap, a deadline for a whole request, and capacity beyond the cap (issue 12)."""

import socket
import time

import pytest

from conftest import _finish, _start
from test_lockout import WebFrom

PARTIAL = b"POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture
def srv():
    s = _start({"webadmin.per_address_limit": "4", "webadmin.request_timeout": "4",
                "webadmin.idle_timeout": "30", "server.log_level": "All Info"}, webadmin=True)
    yield s
    _finish(s)


def slow_client(port, source):
    """A connection that has sent the start of a request and then nothing."""
    c = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    c.sendall(PARTIAL)
    return c


def closed_by_server(c, timeout):
    """True when the server closes (or resets) the connection within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if c.recv(4096) == b"":
                return True
        except socket.timeout:
            return False
        except OSError:
            return True
    return False


def admin_login_works(srv, source):
    w = WebFrom(srv.web_port, source)
    t0 = time.monotonic()
    status, body = w.login("postmaster", srv.postmaster_password)
    assert status == 200, body
    assert w.ok("domain.list")
    return time.monotonic() - t0


def test_per_address_cap(srv):
    held = [slow_client(srv.web_port, "127.0.0.21") for _ in range(4)]
    try:
        # The fifth connection from that address is closed at once.
        extra = slow_client(srv.web_port, "127.0.0.21")
        assert closed_by_server(extra, 3)
        extra.close()
        # An administrator elsewhere is not affected.
        assert admin_login_works(srv, "127.0.0.22") < 3
    finally:
        for c in held:
            c.close()


def test_many_slow_clients_from_many_addresses_do_not_lock_admins_out(srv):
    # 80 slow connections (more than the old pool of 64) from 20 addresses, each at its cap.
    held = [slow_client(srv.web_port, "127.0.1.%d" % (1 + i // 4)) for i in range(80)]
    try:
        assert admin_login_works(srv, "127.0.0.23") < 3
    finally:
        for c in held:
            c.close()


def test_a_request_trickled_byte_by_byte_is_cut_at_the_deadline(srv):
    c = slow_client(srv.web_port, "127.0.0.24")
    t0 = time.monotonic()
    cut = False
    try:
        # One byte a second never lets the idle timeout (30 s) fire; the deadline (4 s) does.
        while time.monotonic() - t0 < 15:
            try:
                c.sendall(b"X")
            except OSError:
                cut = True
                break
            c.settimeout(1)
            try:
                if c.recv(4096) == b"":
                    cut = True
                    break
            except socket.timeout:
                pass
            except OSError:
                cut = True
                break
    finally:
        c.close()
    elapsed = time.monotonic() - t0
    assert cut, "the trickling connection was never closed"
    assert 3 <= elapsed < 10, elapsed
    assert srv.wait_log(r"connection\(s\) closed: a request took more than "
                        r"webadmin\.request_timeout")
    # A normal request on a fresh connection is answered.
    assert admin_login_works(srv, "127.0.0.24") < 3


def test_limits_change_live(srv):
    w = WebFrom(srv.web_port, "127.0.0.25")
    assert w.login("postmaster", srv.postmaster_password)[0] == 200
    w.ok("settings.set", {"key": "webadmin.per_address_limit", "value": 2})
    time.sleep(3)  # the WebAdmin's thread restarts the daemons
    held = [slow_client(srv.web_port, "127.0.0.26") for _ in range(2)]
    try:
        extra = slow_client(srv.web_port, "127.0.0.26")
        assert closed_by_server(extra, 3)
        extra.close()
    finally:
        for c in held:
            c.close()
    assert admin_login_works(srv, "127.0.0.27") < 3


def test_a_limits_change_lets_requests_in_flight_finish(srv):
    """A change of the WebAdmin's limits restarts its HTTP daemon; a request already under way
    (here: its body still coming) is answered first, not cut off (the answer to the request
    that made the change would otherwise be lost)."""
    body = b'{"op": "domain.list"}'
    c = socket.create_connection(("127.0.0.1", srv.web_port), timeout=5,
                                 source_address=("127.0.0.28", 0))
    c.sendall(b"POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body[:5])
    w = WebFrom(srv.web_port, "127.0.0.29")
    assert w.login("postmaster", srv.postmaster_password)[0] == 200
    w.ok("settings.set", {"key": "webadmin.per_address_limit", "value": 5})
    time.sleep(0.3)
    c.sendall(body[5:])
    c.settimeout(5)
    answer = b""
    try:
        while b"\r\n" not in answer:
            chunk = c.recv(4096)
            if not chunk:
                break
            answer += chunk
    finally:
        c.close()
    assert answer.startswith(b"HTTP/1.1 "), answer
    assert srv.wait_log(r"WebAdmin listening on .*5 per address", timeout=10)
