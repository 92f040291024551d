"""test_channels.py: xmpp.receiving.channels changed live with starlingctl caps connections."""

import os
import re
import time

import rawxmpp
from rawxmpp import NS_STREAM, RawClient, q


def wait_no_connections(srv, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not srv.connections():
            return True
        time.sleep(0.1)
    return False


def refused(srv, port, tls=False):
    """Connects; returns (refused?, client). Refused = header + <resource-constraint/> + close."""
    try:
        c = RawClient(port, tls=tls)
    except OSError:
        # TLS socket closed during the handshake: refused without a stream error.
        return True, None
    # The server may refuse right after accept(), before our header: listen first.
    c._recv_some(0.5)
    if not c.eof and c.header_attrs is None:
        c.send(rawxmpp.header())
    try:
        el = c.next(5)
    except rawxmpp.Closed:
        return True, c
    if el.tag == q(NS_STREAM, "error"):
        assert rawxmpp.condition(el, rawxmpp.NS_STREAMS_ERR) == "resource-constraint", \
            rawxmpp.dump(el)
        assert c.wait_closed(5), "refused connection not closed"
        assert c.stream_ended, "no </stream:stream> after resource-constraint"
        return True, c
    assert el.tag == q(NS_STREAM, "features"), rawxmpp.dump(el)
    return False, c


def test_channels_limit_applied_live(make_server):
    srv = make_server()
    assert wait_no_connections(srv), srv.connections()
    srv.ctl_ok("settings", "set", "xmpp.receiving.channels", "2")
    assert srv.ctl_ok("settings", "get", "xmpp.receiving.channels").strip() == "2"
    conf = open(os.path.join(srv.datadir, "starling.conf")).read()
    assert re.search(r"^\s*xmpp\.receiving\.channels\s*=\s*2\s*$", conf, re.M), conf

    a = RawClient(srv.port)
    a.open()
    b = RawClient(srv.tls_port, tls=True)
    b.open()

    third = RawClient(srv.port)
    third_port = third.local_port
    third._recv_some(0.5)
    if not third.eof and third.header_attrs is None:
        third.send(rawxmpp.header())
    third.expect_stream_error("resource-constraint")
    third.close()

    # The refusal is in the log, with the refused peer's address.
    line = srv.wait_log(r"\]?:%d\b.*(channel|limit|refus|resource|too many)" % third_port, 5)
    assert line, "no log record of the refusal of port %d; log tail:\n%s" % (
        third_port, srv.stderr_tail(30))

    # A /tls socket is capped too.
    was_refused, t = refused(srv, srv.tls_port, tls=True)
    assert was_refused
    if t:
        t.close()

    # Free a slot: a new connection gets in (allow the server a moment to notice the close).
    a.end()
    a.wait_closed(5)
    a.close()
    deadline = time.monotonic() + 5
    accepted = False
    while time.monotonic() < deadline and not accepted:
        was_refused, c = refused(srv, srv.port)
        if was_refused:
            c.close()
            time.sleep(0.2)
            continue
        accepted = True
        c.close()
    assert accepted, "no connection accepted after a slot was freed"
    b.close()

    # Raising the limit again applies live too.
    srv.ctl_ok("settings", "set", "xmpp.receiving.channels", "100")
    clients = [RawClient(srv.port) for _ in range(5)]
    for c in clients:
        c.open()
    for c in clients:
        c.close()


def test_channels_persist_across_restart(make_server):
    srv = make_server()
    srv.ctl_ok("settings", "set", "xmpp.receiving.channels", "7")
    problems = srv.stop()
    assert problems == [], problems
    # Same data folder, new process: the value comes from the settings file.
    from starling import Server
    srv2 = Server(datadir=srv.datadir)
    problems = []
    try:
        srv2.start()
        assert srv2.ctl_ok("settings", "get", "xmpp.receiving.channels").strip() == "7"
        assert "password:" not in srv2.stdout_text(), \
            "postmaster password printed again on the second start: %r" % srv2.stdout_text()
    finally:
        problems = srv2.stop()
        srv2.cleanup()
    assert problems == [], problems


def test_settings_override_is_not_persisted(make_server):
    srv = make_server({"xmpp.receiving.max_stanza_size": "123456"})
    assert srv.ctl_ok("settings", "get", "xmpp.receiving.max_stanza_size").strip() == "123456"
    conf = open(os.path.join(srv.datadir, "starling.conf")).read()
    assert not re.search(r"^\s*xmpp\.receiving\.max_stanza_size\s*=\s*123456\s*$", conf, re.M)
