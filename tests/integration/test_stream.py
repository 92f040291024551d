"""test_stream.py: stream features, bind, session, server iqs, message routing, s2s refusal."""

import asyncio
import glob
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import pytest

import rawxmpp
import slix
import starling
from rawxmpp import (NS_BIND, NS_IQAUTH_FEATURE, NS_SASL, NS_SASL_CB, NS_SESSION, NS_STREAM,
                     NS_TLS, RawClient, dump, q)

PASSWORD = "Str3am-pass"


@pytest.fixture(scope="module", autouse=True)
def accounts(server):
    for user in ("alice", "bob"):
        server.add_account("%s@localhost" % user, PASSWORD)


def tags(features):
    return {c.tag for c in features}


def test_stream_header_and_features_before_tls(server):
    c = RawClient(server.port)
    feats = c.open()
    h = c.header_attrs
    assert c.header_tag == q(NS_STREAM, "stream")
    assert h.get("from") == "localhost", h
    assert h.get("version") == "1.0", h
    assert h.get("id"), "no stream id: %r" % h
    assert tags(feats) == {q(NS_TLS, "starttls")}, dump(feats)
    starttls = feats.find(q(NS_TLS, "starttls"))
    assert starttls.find(q(NS_TLS, "required")) is not None, dump(feats)
    c.close()


@pytest.mark.parametrize("direct", [False, True], ids=["starttls", "direct_tls"])
def test_features_after_tls(server, direct):
    c, feats = rawxmpp.connect(server, direct_tls=direct)
    assert c.tls_version == "TLSv1.3"
    t = tags(feats)
    assert q(NS_TLS, "starttls") not in t, dump(feats)
    assert q(NS_SASL, "mechanisms") in t, dump(feats)
    assert q(NS_IQAUTH_FEATURE, "auth") in t, dump(feats)
    assert q(NS_SASL_CB, "sasl-channel-binding") in t, dump(feats)
    assert q(NS_BIND, "bind") not in t, dump(feats)
    assert "PLAIN" in rawxmpp.mechanisms(feats)
    assert "EXTERNAL" not in rawxmpp.mechanisms(feats)
    c.close()


def test_features_after_sasl(server):
    c, _ = rawxmpp.connect(server)
    assert c.plain("alice", PASSWORD)[0] == "success"
    feats = c.restart()
    t = tags(feats)
    assert q(NS_BIND, "bind") in t, dump(feats)
    assert q(NS_SASL, "mechanisms") not in t, dump(feats)
    assert q(NS_TLS, "starttls") not in t, dump(feats)
    c.close()


def test_bind_with_resource(server):
    c = rawxmpp.login(server, "alice", PASSWORD, resource="Desk")
    assert c.jid == "alice@localhost/Desk"
    c.close()


def test_bind_without_resource(server):
    c = rawxmpp.login(server, "alice", PASSWORD, resource=None)
    bare, _, res = c.jid.partition("/")
    assert bare == "alice@localhost", c.jid
    assert res, "server did not generate a resource: %s" % c.jid
    c2 = rawxmpp.login(server, "alice", PASSWORD, resource=None)
    assert c2.jid != c.jid, "two generated resources are equal: %s" % c.jid
    c.close()
    c2.close()


def test_resource_conflict_replaces_old_session(server):
    old = rawxmpp.login(server, "alice", PASSWORD, resource="dup")
    new = rawxmpp.login(server, "alice", PASSWORD, resource="dup")
    assert new.jid == "alice@localhost/dup"
    old.expect_stream_error("conflict")
    r = new.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    assert r.get("type") == "result", dump(r)
    old.close()
    new.close()


def test_session_establishment(server):
    c, _ = rawxmpp.connect(server)
    assert c.plain("alice", PASSWORD)[0] == "success"
    feats = c.restart()
    c.bind("sess")
    sess = feats.find(q(NS_SESSION, "session"))
    assert sess is not None, "no session feature: %s" % dump(feats)
    r = c.iq("set", "<session xmlns='%s'/>" % NS_SESSION)
    assert r.get("type") == "result", dump(r)
    assert len(list(r)) == 0, "session result not empty: %s" % dump(r)
    c.close()


@pytest.fixture(scope="module")
def alice(server, accounts):
    c = rawxmpp.login(server, "alice", PASSWORD, resource="iqs")
    yield c
    c.close()


def test_disco_info(alice):
    ns = "http://jabber.org/protocol/disco#info"
    r = alice.iq("get", "<query xmlns='%s'/>" % ns, to="localhost")
    assert r.get("type") == "result", dump(r)
    assert r.get("from") == "localhost", dump(r)
    query = r.find(q(ns, "query"))
    assert query is not None, dump(r)
    ids = [(i.get("category"), i.get("type")) for i in query.findall(q(ns, "identity"))]
    assert ("server", "im") in ids, dump(r)
    feats = {f.get("var") for f in query.findall(q(ns, "feature"))}
    for var in (ns, "urn:xmpp:ping", "jabber:iq:version"):
        assert var in feats, "%s missing: %s" % (var, dump(r))


def test_disco_items(alice):
    ns = "http://jabber.org/protocol/disco#items"
    r = alice.iq("get", "<query xmlns='%s'/>" % ns, to="localhost")
    assert r.get("type") == "result", dump(r)
    query = r.find(q(ns, "query"))
    assert query is not None, dump(r)
    # The items are the domain's chat service (XEP-0045, chat_service default) and its
    # publish-subscribe service (XEP-0060).
    assert [i.get("jid") for i in query.findall(q(ns, "item"))] == ["conference.localhost",
                                                                    "pubsub.localhost"], dump(r)


def test_ping(alice):
    r = alice.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    assert r.get("type") == "result", dump(r)
    assert len(list(r)) == 0, dump(r)


def test_version(alice):
    ns = "jabber:iq:version"
    r = alice.iq("get", "<query xmlns='%s'/>" % ns, to="localhost")
    assert r.get("type") == "result", dump(r)
    query = r.find(q(ns, "query"))
    assert query is not None, dump(r)
    assert query.findtext(q(ns, "name")) == "Starling", dump(r)
    assert (query.findtext(q(ns, "version")) or "").strip(), dump(r)
    assert (query.findtext(q(ns, "os")) or "").strip(), dump(r)


def test_unknown_iq_is_service_unavailable(alice):
    r = alice.iq("get", "<query xmlns='urn:example:nothing-here'/>", to="localhost")
    assert r.get("type") == "error", dump(r)
    etype, cond = rawxmpp.stanza_error(r)
    assert cond == "service-unavailable", dump(r)
    assert etype == "cancel", dump(r)


def test_iq_ids_and_addresses_preserved(alice):
    r = alice.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost", id_="x&apos;&quot;&lt;1")
    assert r.get("id") == "x'\"<1", dump(r)
    assert r.get("to") in (None, alice.jid), dump(r)


def test_message_reaches_bob_bare_and_full(server):
    async def go():
        bob = await slix.login(server, "bob@localhost/phone", PASSWORD, mech="PLAIN")
        alice = await slix.login(server, "alice@localhost/x", PASSWORD, mech="SCRAM-SHA-256")
        try:
            assert bob.outcome == "session", bob.outcome
            assert alice.outcome == "session", alice.outcome
            bob.xmpp.send_presence()
            await asyncio.sleep(0.2)
            got = {}
            for to, body in (("bob@localhost", "hello bare"), ("bob@localhost/phone",
                                                                 "hello full")):
                alice.xmpp.send_message(mto=to, mbody=body, mtype="chat")
                m = await bob.wait_message(lambda m, b=body: m["body"] == b, 5)
                got[body] = m
            return {b: (str(m["from"]), m["type"], str(m["to"])) if m else None
                    for b, m in got.items()}
        finally:
            await alice.close()
            await bob.close()

    res = slix.run(go(), 40)
    for body in ("hello bare", "hello full"):
        assert res[body] is not None, "bob did not receive %r" % body
        frm, mtype, to = res[body]
        assert frm == "alice@localhost/x", res
        assert mtype == "chat", res


def test_message_to_offline_full_jid_does_not_break_sender(alice):
    alice.send("<message to='bob@localhost/nowhere' type='chat' id='m1'><body>x</body></message>")
    r = alice.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    assert r.get("type") == "result", dump(r)


def test_s2s_stream_is_handed_to_s2s(server):
    """A jabber:server stream is an incoming server connection (tests/integration/test_s2s.py
    covers it in depth): it gets STARTTLS, and a stanza before authentication is refused."""
    c = RawClient(server.port)
    c.send(rawxmpp.header(xmlns="jabber:server", extra=" from='remote.example'"))
    feats = c.expect(rawxmpp.q(rawxmpp.NS_STREAM, "features"))
    assert feats.find(rawxmpp.q(rawxmpp.NS_TLS, "starttls")) is not None
    c.send("<message from='x@remote.example' to='alice@localhost'><body>x</body></message>")
    c.expect_stream_error("not-authorized")
    c.close()


def test_end_of_stream_is_answered(server):
    c = rawxmpp.login(server, "alice", PASSWORD, resource="bye")
    c.end()
    c.wait_header()
    deadline_ok = c.wait_closed(5)
    assert c.stream_ended, "server did not close its stream: %r" % bytes(c.raw)[-300:]
    assert deadline_ok, "connection not closed after </stream:stream>"
    assert b"stream:error" not in bytes(c.raw)
    c.close()


def pause(pid, timeout=5.0):
    """SIGSTOP, then waits until every thread of the process is stopped (the signal reaches a
    thread running on another core a little later)."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for task in glob.glob("/proc/%d/task/*/stat" % pid):
            try:
                with open(task) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.005)
    raise AssertionError("starlingd did not stop")


def test_peer_gone_after_its_end_of_stream_is_no_problem(server):
    """sendxmpp sends </stream:stream> and closes with our data unread, so the socket is reset
    under our closing </stream:stream>: the failed write is Low-Level, not a Problems record.
    The server is paused meanwhile, so the reset is there before it reads the end of stream."""
    ports = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(rawxmpp.header().encode())
        time.sleep(0.2)  # the server's header and features arrive and stay unread
        pause(server.proc.pid)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(b"</stream:stream>")
            ports.append(s.getsockname()[1])
            s.close()
            time.sleep(0.05)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
    for port in ports:
        assert server.wait_log(r":%d\) write failed" % port), port
    records = [line for line in server.log_text().splitlines()
               if "failed" in line and any(":%d)" % p in line for p in ports)]
    problems = [line for line in records if re.match(r"^\S+ [013] ", line)]
    assert problems == [], "\n".join(problems)


def test_client_that_answers_pings_at_once_stays(make_server):
    """mcabber answers the server's keepalive ping within the millisecond; the check a period
    later must count that answer instead of finding the client idle a whole period again."""
    srv = make_server({"xmpp.receiving.ping_interval": "1"})
    srv.add_account("dan@localhost", PASSWORD)
    c = rawxmpp.login(srv, "dan", PASSWORD, resource="prompt")
    answered = 0
    deadline = time.monotonic() + 6.5
    while time.monotonic() < deadline:
        try:
            el = c.next(timeout=max(0.1, deadline - time.monotonic()))
        except AssertionError as e:
            if isinstance(e, rawxmpp.Closed):
                raise
            break  # the time is up with no element pending
        if el.tag == q(rawxmpp.NS_CLIENT, "iq") and el.get("type") == "get":
            c.send("<iq type='result' id='%s' to='%s'/>" % (el.get("id"), el.get("from")))
            answered += 1
    assert answered >= 3, "only %d pings in 6.5 s with a 1 s interval" % answered
    assert not c.stream_ended and not c.eof, bytes(c.raw)[-500:]
    assert srv.wait_log(r"no answer to ping", timeout=0.2) is None
    c.close()
    silent = rawxmpp.login(srv, "dan", PASSWORD, resource="silent")
    assert silent.expect_stream_error("connection-timeout", timeout=5)
    silent.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_closes_streams_and_exits_zero(make_server, sig):
    srv = make_server()
    srv.add_account("carol@localhost", PASSWORD)
    c = rawxmpp.login(srv, "carol", PASSWORD, resource="term")
    pre = RawClient(srv.port)
    pre.open()
    srv.proc.send_signal(sig)
    for conn in (c, pre):
        assert conn.wait_closed(10), "connection still open after the signal"
        assert conn.stream_ended, "no </stream:stream> on signal: %r" % bytes(conn.raw)[-300:]
        conn.close()
    srv.proc.wait(10)
    problems = srv.stop()
    assert problems == [], "\n".join(problems)
    assert srv.exit_code == 0
    # The stop is recorded once by SYSTEM; each stream's system-shutdown is no Problem.
    records = [line for line in srv.log_text().splitlines() if "system-shutdown" in line]
    assert len(records) >= 2, records
    assert [line for line in records if re.match(r"^\S+ [013] ", line)] == []


def test_first_start_creates_data_folder(make_server):
    srv = make_server()
    d = srv.datadir
    files = ["starling.conf", "certs/localhost.crt", "certs/localhost.key", "admin.sock"]
    if not starling.ON_POSTGRESQL:
        files.append("starling.db")
    for rel in files:
        assert os.path.exists(os.path.join(d, rel)), "%s missing in %s" % (rel, os.listdir(d))
    logs = glob.glob(os.path.join(d, "SystemLogs", "*.log"))
    assert any(re.search(r"/\d{4}-\d{2}-\d{2}[^/]*\.log$", p) for p in logs), logs
    assert any("ready" in open(p, errors="replace").read() for p in logs), logs
    lines = [ln for ln in srv.stdout_text().splitlines() if "password:" in ln]
    assert len(lines) == 1, srv.stdout_text()
    assert re.fullmatch(r"postmaster@localhost password: \S{8,}", lines[0].strip()), lines[0]
    assert srv.ctl_ok("account", "list", "localhost").split() == ["postmaster@localhost"]


def test_port_in_use_exits_1_with_one_line():
    tmp = tempfile.mkdtemp(prefix="starling-it-")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    free = starling.free_ports(1)[0]
    try:
        r = subprocess.run([starling.STARLINGD, "-d", tmp, "-o",
                            "xmpp.listener=127.0.0.1:%d, 127.0.0.1:%d/tls" % (free, port),
                            "-o", "server.workers=2"],
                           capture_output=True, text=True, timeout=20)
    finally:
        busy.close()
        shutil.rmtree(tmp, ignore_errors=True)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert r.stderr.strip(), "no message on stderr"
    last = r.stderr.strip().splitlines()[-1]
    assert str(port) in last or "in use" in last.lower(), r.stderr[-2000:]
