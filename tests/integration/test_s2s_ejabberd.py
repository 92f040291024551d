"""test_s2s_ejabberd.py: interop with Debian's ejabberd 23.01 in both directions.

One ejabberd (e.interop, chat service conference.e.interop, on 127.0.0.4) runs for the whole
module as a plain process of the test: its own configuration, spool, log folder and certificate
in a temporary folder, and its own epmd on a free port (never the system service, never 4369).
Two Starlings (both on 127.0.0.1, see below) federate with it:
  s.interop: both sides trust a test CA whose certificates name the chat services
             -> SASL EXTERNAL both ways;
  d.interop: no s2s CA and a self-signed certificate -> dialback both ways.
ejabberd finds the Starlings through a dnsmasq of ours on 127.0.0.1:<free port> (SRV
_xmpp-server._tcp.<domain> -> localhost:<port>), which Erlang's resolver is told to ask by an
inetrc file (ERL_INETRC); the SRV target's address comes from getaddrinfo(), hence "localhost".
The machine's resolver configuration is not touched. The Starlings reach ejabberd by static
routes.

Scenarios: 1:1 messages both ways; presence subscription both ways (rosters, available and
unavailable); iq (ping, version, disco) both ways; an ejabberd user joins a Starling room, both
talk, the room relays an invitation; a Starling user joins an ejabberd room and they talk; the
authentication mechanism of every stream (SASL EXTERNAL, dialback) as both servers report it.
"""

import atexit
import functools
import glob
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

import pytest

import rawxmpp
from rawxmpp import NS_CLIENT, q
from s2s_helpers import (PASSWORD, S2SCA, in_conns, login, out_conns, start,
                         subscribe_both_ways, wait_message, wait_until)
from starling import free_ports
from test_s2s import chat, is_presence
from test_s2s_muc import invite, join, meet, say, wait_groupchat, wait_invite

pytestmark = pytest.mark.own_server

DOM_E, HOST_E = "e.interop", "127.0.0.4"   # ejabberd
# Both Starlings on 127.0.0.1: ejabberd resolves an SRV target with getaddrinfo() (net module),
# not with Erlang's resolver, so the target is "localhost" (/etc/hosts).
DOM_S, HOST_S = "s.interop", "127.0.0.1"   # Starling, CA-issued certificates: SASL EXTERNAL
DOM_D, HOST_D = "d.interop", "127.0.0.1"   # Starling, self-signed certificate: dialback
MUC_E, MUC_S, MUC_D = ("conference." + d for d in (DOM_E, DOM_S, DOM_D))
# Debian installs ejabberd's application in /usr/lib/<multiarch>/ejabberd-<version>/ (ERL_LIBS).
_APP = sorted(glob.glob("/usr/lib/*/ejabberd-*/ebin/ejabberd.app"))
EJABBERD_LIBS = os.path.dirname(os.path.dirname(os.path.dirname(_APP[-1]))) if _APP else None
START_TIMEOUT = 60

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
_missing = [b for b in ("erl", "epmd") if shutil.which(b) is None]
if EJABBERD_LIBS is None:
    _missing.insert(0, "ejabberd")
if not os.access(DNSMASQ, os.X_OK):
    _missing.append("dnsmasq")
if _missing:
    pytestmark = [pytestmark, pytest.mark.skip(
        reason="not installed: %s (scripts/deps/s2s.test)" % ", ".join(_missing))]

# Process groups of ours still running (ejabberd's erl/beam, epmd, dnsmasq), killed at exit if
# an interrupted run skipped the fixture's teardown.
_GROUPS = set()


@atexit.register
def _kill_leftovers():
    for pgid in list(_GROUPS):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _spawn(argv, log_path, **kw):
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, **kw)
    _GROUPS.add(proc.pid)
    return proc


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _stop(proc, timeout=10):
    """SIGTERM to the process group we started (erl and its beam, epmd, dnsmasq), SIGKILL to
    whatever of it is left after `timeout` seconds."""
    if proc is None:
        return
    deadline = time.monotonic() + timeout
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        while time.monotonic() < deadline:
            proc.poll()  # reaps the leader: a zombie would keep the group alive
            if not _group_alive(proc.pid):
                break
            time.sleep(0.1)
        deadline = time.monotonic() + 5
    proc.wait(5)
    _GROUPS.discard(proc.pid)


def _accepts(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _wait_ports(proc, addrs, timeout, what, tail):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "%s exited with %s:\n%s" % (what, proc.returncode, tail())
        if all(_accepts(h, p) for h, p in addrs):
            return
        time.sleep(0.1)
    raise AssertionError("%s did not open %s within %d s:\n%s" % (what, addrs, timeout, tail()))


def _tail(*paths, n=60):
    """The last n lines of each file (n=None: all), each after a "==> path" line."""
    text = ""
    for p in paths:
        try:
            with open(p, errors="replace") as f:
                lines = f.readlines()
            text += "==> %s\n%s" % (p, "".join(lines[-n:] if n else lines))
        except OSError:
            pass
    return text


class Dnsmasq:
    """dnsmasq on 127.0.0.1:<free port> answering for the .interop names only: for each
    {domain: port}, SRV _xmpp-server._tcp.<domain> -> localhost:port; nothing is forwarded."""

    def __init__(self, folder, records):
        self.port = free_ports(1)[0]
        self.log = os.path.join(folder, "dnsmasq.log")
        argv = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
                "--port=%d" % self.port, "--user=" + pwd.getpwuid(os.getuid()).pw_name,
                "--local=/interop/",
                "--pid-file=" + os.path.join(folder, "dnsmasq.pid"),
                "--log-facility=" + self.log, "--log-queries"]
        for domain, port in sorted(records.items()):
            argv.append("--srv-host=_xmpp-server._tcp.%s,localhost,%d,0,0" % (domain, port))
        out = os.path.join(folder, "dnsmasq.out")
        self.proc = _spawn(argv, out)
        _wait_ports(self.proc, [("127.0.0.1", self.port)], 10, "dnsmasq",
                    lambda: _tail(out, self.log))

    def stop(self):
        _stop(self.proc, 5)


EJABBERD_YML = """
hosts:
  - "{dom}"
loglevel: info
certfiles:
  - "{pem}"
ca_file: "{ca}"
listen:
  - port: {c2s}
    ip: "{host}"
    module: ejabberd_c2s
    starttls_required: true
  - port: {s2s}
    ip: "{host}"
    module: ejabberd_s2s_in
  - port: {api}
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /api: mod_http_api
s2s_use_starttls: required
outgoing_s2s_families:
  - ipv4
auth_method: internal
acl:
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  c2s:
    allow: all
  register:
    deny: all
  local:
    allow: all
shaper_rules:
  c2s_shaper: none
  s2s_shaper: none
api_permissions:
  "test loopback":
    from:
      - mod_http_api
    who:
      access:
        allow:
          - acl: loopback
    what: "*"
modules:
  mod_disco: {{}}
  mod_ping: {{}}
  mod_version: {{}}
  mod_last: {{}}
  mod_offline: {{}}
  mod_s2s_dialback: {{}}
  mod_roster:
    versioning: true
  mod_http_api: {{}}
  mod_admin_extra: {{}}
  mod_muc:
    host: "{muc}"
    access: all
    access_create: all
    history_size: 0
    default_room_options:
      mam: false
      persistent: false
"""


class Ejabberd:
    """ejabberd as `erl -s ejabberd` with our own config, spool, log and epmd (the options
    ejabberdctl would pass, without the system service)."""

    def __init__(self, folder, ca):
        self.folder = folder
        self.c2s_port, self.s2s_port, self.api_port, self.epmd_port = free_ports(4)
        self.log = os.path.join(folder, "log", "ejabberd.log")
        self.out = os.path.join(folder, "ejabberd.out")
        self.spool = os.path.join(folder, "spool")
        os.makedirs(self.spool)
        os.makedirs(os.path.dirname(self.log))
        crt, key = os.path.join(folder, DOM_E + ".crt"), os.path.join(folder, DOM_E + ".key")
        ca.issue(DOM_E, crt, key, ("*." + DOM_E,))
        self.pem = os.path.join(folder, DOM_E + ".pem")
        with open(self.pem, "w") as f, open(crt) as c, open(key) as k:
            f.write(c.read() + k.read())
        os.chmod(self.pem, 0o600)
        self.conf = os.path.join(folder, "ejabberd.yml")
        with open(self.conf, "w") as f:
            f.write(EJABBERD_YML.format(dom=DOM_E, muc=MUC_E, pem=self.pem, ca=ca.crt, host=HOST_E,
                                        c2s=self.c2s_port, s2s=self.s2s_port, api=self.api_port))
        self.epmd = self.proc = None

    def start(self, dns_port):
        # Erlang's resolver (ejabberd's SRV look-ups) asks our dnsmasq only.
        inetrc = os.path.join(self.folder, "inetrc")
        with open(inetrc, "w") as f:
            f.write('{resolv_conf, ""}.\n{nameserver, {127,0,0,1}, %d}.\n' % dns_port)
        env = dict(os.environ, EJABBERD_CONFIG_PATH=self.conf, ERL_LIBS=EJABBERD_LIBS,
                   ERL_CRASH_DUMP="/dev/null", EJABBERD_LOG_PATH=self.log, HOME=self.folder,
                   ERL_EPMD_PORT=str(self.epmd_port), ERL_INETRC=inetrc)
        epmd_out = os.path.join(self.folder, "epmd.out")
        self.epmd = _spawn(["epmd", "-address", "127.0.0.1", "-port", str(self.epmd_port)],
                           epmd_out)
        _wait_ports(self.epmd, [("127.0.0.1", self.epmd_port)], 10, "epmd",
                    lambda: _tail(epmd_out))
        node = "ejabberd-it-%d@localhost" % os.getpid()
        argv = ["erl", "-sname", node, "-noinput", "-kernel", "inet_dist_use_interface",
                "{127,0,0,1}", "-mnesia", "dir", '"%s"' % self.spool,
                "-ejabberd", "log_path", '"%s"' % self.log, "-s", "ejabberd"]
        self.proc = _spawn(argv, self.out, env=env, cwd=self.folder)
        _wait_ports(self.proc, [(HOST_E, self.c2s_port), (HOST_E, self.s2s_port),
                                ("127.0.0.1", self.api_port)], START_TIMEOUT, "ejabberd",
                    self.tail)

    def api(self, command, **args):
        """An ejabberdctl command through mod_http_api; returns its decoded JSON answer."""
        req = urllib.request.Request("http://127.0.0.1:%d/api/%s" % (self.api_port, command),
                                     data=json.dumps(args).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def register(self, user, password):
        self.api("register", user=user, host=DOM_E, password=password)

    def offline_count(self, user):
        return self.api("get_offline_count", user=user, host=DOM_E)["value"]

    def tail(self, n=60):
        return _tail(self.out, self.log, n=n)

    def accepted(self):
        """What ejabberd's log says about each authenticated s2s stream:
        {(direction, mechanism, "from -> to")}."""
        return set(re.findall(r"Accepted (inbound|outbound) s2s (\S+) authentication "
                              r"(\S+ -> \S+)", _tail(self.log, n=None)))

    def wait_accepted(self, want, timeout=15):
        """Waits until ejabberd's log reports every stream of `want` (see accepted())."""
        deadline = time.monotonic() + timeout
        while not want <= self.accepted():
            assert time.monotonic() < deadline, "ejabberd's log: %s, not %s" % (
                sorted(self.accepted()), sorted(want - self.accepted()))
            time.sleep(0.1)

    def stop(self):
        _stop(self.proc, 15)
        _stop(self.epmd, 5)


class World:
    """Everything the module's tests share: the ejabberd, the two Starlings and their users."""

    def __init__(self, ejabberd, s, d):
        self.ejabberd, self.s, self.d = ejabberd, s, d
        self.clients = []

    def starling(self, srv, user):
        c = login(srv, user)
        self.clients.append(c)
        return c

    def ejabberd_user(self, user, resource="e1"):
        c = rawxmpp.RawClient(self.ejabberd.c2s_port, sni=DOM_E, host=HOST_E, timeout=15)
        self.clients.append(c)
        c.open(to=DOM_E)
        c.starttls(to=DOM_E)
        kind, _ = c.plain(user, PASSWORD)
        assert kind == "success"
        c.restart(to=DOM_E)
        c.bind(resource)
        c.send("<presence/>")
        c.jid_bare = "%s@%s" % (user, DOM_E)
        return c

    def diagnostics(self):
        text = _tail(self.ejabberd.log, n=80)
        for srv in (self.s, self.d):
            text += "\n==> %s\n" % srv.domain + "\n".join(
                l for l in srv.stderr_text().splitlines() if "XMPPO" in l or "XMPPI" in l)[-6000:]
        return text


@pytest.fixture(scope="module")
def world(make_module_server, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("ejabberd-interop"))
    ca = S2SCA(folder)
    s = start(make_module_server, DOM_S, HOST_S, ca=ca,
              prepare=ca.certs_for(DOM_S, ("*." + DOM_S,)))
    d = start(make_module_server, DOM_D, HOST_D, options={"tls.s2s_ca_file": ""})
    for user in ("alice", "amy", "carol", "sam"):
        s.add_account("%s@%s" % (user, DOM_S), PASSWORD)
    d.add_account("dave@" + DOM_D, PASSWORD)
    os.makedirs(os.path.join(folder, "ejabberd"))
    ejabberd = Ejabberd(os.path.join(folder, "ejabberd"), ca)
    for srv in (s, d):
        srv.ctl_ok("settings", "set", "xmpp.sending.routes", "%s=%s:%d, %s=%s:%d" % (
            DOM_E, HOST_E, ejabberd.s2s_port, MUC_E, HOST_E, ejabberd.s2s_port))
    dns = None
    try:
        dns = Dnsmasq(folder, {DOM_S: s.port, MUC_S: s.port, DOM_D: d.port, MUC_D: d.port})
        ejabberd.start(dns.port)
        for user in ("eve", "ed", "erin", "emil", "fay", "gus", "hal", "ivy"):
            ejabberd.register(user, PASSWORD)
        yield World(ejabberd, s, d)
    finally:
        ejabberd.stop()
        if dns is not None:
            dns.stop()


@pytest.fixture
def w(world):
    """The shared world; the clients a test logged in are closed after it."""
    yield world
    for c in world.clients:
        c.close()
    world.clients.clear()


def diagnosed(test):
    """On a failure, both servers' s2s log lines go to the test's output."""
    @functools.wraps(test)
    def run(w, **kw):
        try:
            test(w, **kw)
        except Exception:
            print(w.diagnostics())
            raise
    return run


def exchange(a, a_full, b, b_full, tag):
    chat(a, b_full, "to-b-" + tag)
    assert wait_message(b, "to-b-" + tag, timeout=30).get("from") == a_full
    chat(b, a_full, "to-a-" + tag)
    assert wait_message(a, "to-a-" + tag, timeout=30).get("from") == b_full


@pytest.mark.parametrize("secure", [True, False], ids=["external", "dialback"])
@diagnosed
def test_messages_both_ways(w, secure):
    """A Starling user and eve@e.interop exchange messages. With the test CA on both sides
    (s.interop) each server authenticates its stream to the other by SASL EXTERNAL; with a
    self-signed certificate and no s2s CA (d.interop), by dialback."""
    srv, user, mech, emech = ((w.s, "alice", "SASL EXTERNAL", "EXTERNAL") if secure
                              else (w.d, "dave", "dialback", "dialback"))
    c = w.starling(srv, user)
    eve = w.ejabberd_user("eve")
    exchange(c, "%s@%s/r1" % (user, srv.domain), eve, "eve@e.interop/e1", srv.domain)
    outs = wait_until(lambda: [o for o in out_conns(srv)
                               if o["jid"] == srv.domain + " -> " + DOM_E], 15, "the stream out")
    assert outs[0]["mechanism"] == mech, outs
    ins = wait_until(lambda: [i for i in in_conns(srv) if DOM_E + " -> " + srv.domain
                              in (i.get("jid") or "")], 15, "the stream in")
    assert ins[0]["mechanism"] == mech, ins
    w.ejabberd.wait_accepted({("inbound", emech, srv.domain + " -> " + DOM_E),
                              ("outbound", emech, DOM_E + " -> " + srv.domain)})


@diagnosed
def test_undeliverable_messages_come_back(w):
    """A message to an account the other server does not have comes back as an error, both
    ways (nothing is dropped silently)."""
    alice = w.starling(w.s, "alice")
    eve = w.ejabberd_user("eve")
    for c, to in ((alice, "nobody@" + DOM_E), (eve, "nobody@" + DOM_S)):
        c.send("<message to='%s' type='chat' id='lost'><body>anyone?</body></message>" % to)
        e = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("id") == "lost",
                       30, "the error for %s" % to)
        assert e.get("type") == "error" and e.get("from") == to, rawxmpp.dump(e)
        assert rawxmpp.stanza_error(e)[1] == "service-unavailable", rawxmpp.dump(e)


def offline_count(srv, domain, user):
    return srv.db_rows("SELECT COUNT(*) FROM im_offline WHERE domain = ? AND name = ?",
                       (domain, user))[0][0]


@diagnosed
def test_offline_messages_both_ways(w):
    """A message to an offline account of the other server is stored there and delivered,
    with its delay stamp, when the account logs in."""
    sam = w.starling(w.s, "sam")
    chat(sam, "ivy@" + DOM_E, "for-later-ivy")
    sam.end()
    wait_until(lambda: w.ejabberd.offline_count("ivy"), 30, "the message stored by ejabberd")
    ivy = w.ejabberd_user("ivy")
    m = wait_message(ivy, "for-later-ivy", timeout=30)
    assert m.get("from") == "sam@s.interop/r1" and m.find(q(NS_DELAY, "delay")) is not None
    chat(ivy, "sam@" + DOM_S, "for-later-sam")
    wait_until(lambda: offline_count(w.s, DOM_S, "sam"), 30, "the message stored by Starling")
    sam = w.starling(w.s, "sam")
    m = wait_message(sam, "for-later-sam", timeout=30)
    assert m.get("from") == "ivy@e.interop/e1" and m.find(q(NS_DELAY, "delay")) is not None


def subscription(c, jid):
    """The subscription state of `jid` in c's roster (None: no item)."""
    r = c.iq("get", "<query xmlns='jabber:iq:roster'/>", timeout=15)
    assert r.get("type") == "result", rawxmpp.dump(r)
    items = [i.get("subscription") for i in r.iter("{jabber:iq:roster}item")
             if i.get("jid") == jid]
    return items[0] if items else None


@diagnosed
def test_presence_subscription_both_ways(w):
    """amy@s.interop and ed@e.interop subscribe to each other: both rosters say `both`, each
    sees the other's available presence, then unavailable when the other leaves, then available
    again when the other comes back."""
    amy = w.starling(w.s, "amy")
    ed = w.ejabberd_user("ed")
    ed.iq("get", "<query xmlns='jabber:iq:roster'/>")  # an interested resource (RFC 6121 §2.1.6)
    subscribe_both_ways(amy, "amy@s.interop/r1", ed, "ed@e.interop/e1")
    assert subscription(amy, "ed@e.interop") == "both"
    wait_until(lambda: subscription(ed, "amy@s.interop") == "both",
               30, "a mutual subscription in ed's roster")

    # Unavailable and available again, both ways.
    ed.send("<presence type='unavailable'/>")
    amy.wait_for(is_presence("ed@e.interop/e1", "unavailable"), 30, "ed unavailable")
    ed.send("<presence><status>back</status></presence>")
    p = amy.wait_for(is_presence("ed@e.interop/e1", None), 30, "ed available again")
    assert p.findtext(q(NS_CLIENT, "status")) == "back"
    amy.send("<presence type='unavailable'/>")
    ed.wait_for(is_presence("amy@s.interop/r1", "unavailable"), 30, "amy unavailable")
    amy.send("<presence/>")
    ed.wait_for(is_presence("amy@s.interop/r1", None), 30, "amy available again")
    # New sessions: each server answers the other's presence probe.
    amy2 = w.starling(w.s, "amy")  # r1 again: replaces the first session
    amy2.wait_for(is_presence("ed@e.interop/e1", None), 30, "ed's presence for a new session")
    ed2 = w.ejabberd_user("ed", "e2")
    ed2.wait_for(is_presence("amy@s.interop/r1", None), 30, "amy's presence for a new session")


NS_PING, NS_VERSION = "urn:xmpp:ping", "jabber:iq:version"
NS_DELAY = "urn:xmpp:delay"
NS_INFO = "http://jabber.org/protocol/disco#info"
NS_ITEMS = "http://jabber.org/protocol/disco#items"


def ask(c, to, payload, what):
    r = c.iq("get", payload, to=to, timeout=30)
    assert r.get("type") == "result", "%s: %s" % (what, rawxmpp.dump(r))
    assert r.get("from") == to, rawxmpp.dump(r)
    return r


def features(r):
    return {f.get("var") for f in r.findall("{%s}query/{%s}feature" % (NS_INFO, NS_INFO))}


def answer_iqs(c, n, timeout=30):
    """The raw client answers the next `n` iq gets addressed to it (ping and version only)."""
    for _ in range(n):
        iq = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("type") == "get",
                        timeout, "an iq get")
        payload = ("<query xmlns='%s'><name>raw</name><version>1</version></query>" % NS_VERSION
                   if iq.find(q(NS_VERSION, "query")) is not None else "")
        c.send("<iq type='result' id='%s' to='%s'>%s</iq>" % (iq.get("id"), iq.get("from"),
                                                             payload))


@diagnosed
def test_iq_both_ways(w):
    """Ping, software version and service discovery across the two servers, to the servers
    themselves, to a bare JID (answered by the server) and to a full JID (answered by the
    client); an iq to an unknown remote user comes back as an error."""
    carol = w.starling(w.s, "carol")
    erin = w.ejabberd_user("erin")
    # Starling user -> ejabberd.
    ask(carol, DOM_E, "<ping xmlns='%s'/>" % NS_PING, "ping e.interop")
    v = ask(carol, DOM_E, "<query xmlns='%s'/>" % NS_VERSION, "version of e.interop")
    assert v.findtext("{%s}query/{%s}name" % (NS_VERSION, NS_VERSION)) == "ejabberd"
    assert NS_PING in features(ask(carol, DOM_E, "<query xmlns='%s'/>" % NS_INFO, "disco e"))
    items = ask(carol, DOM_E, "<query xmlns='%s'/>" % NS_ITEMS, "items of e.interop")
    assert MUC_E in {i.get("jid") for i in items.iter("{%s}item" % NS_ITEMS)}, rawxmpp.dump(items)
    info = ask(carol, MUC_E, "<query xmlns='%s'/>" % NS_INFO, "disco of conference.e.interop")
    assert "http://jabber.org/protocol/muc" in features(info)
    # ejabberd user -> Starling.
    ask(erin, DOM_S, "<ping xmlns='%s'/>" % NS_PING, "ping s.interop")
    v = ask(erin, DOM_S, "<query xmlns='%s'/>" % NS_VERSION, "version of s.interop")
    assert v.findtext("{%s}query/{%s}name" % (NS_VERSION, NS_VERSION))
    assert NS_PING in features(ask(erin, DOM_S, "<query xmlns='%s'/>" % NS_INFO, "disco s"))
    items = ask(erin, DOM_S, "<query xmlns='%s'/>" % NS_ITEMS, "items of s.interop")
    assert MUC_S in {i.get("jid") for i in items.iter("{%s}item" % NS_ITEMS)}, rawxmpp.dump(items)
    info = ask(erin, MUC_S, "<query xmlns='%s'/>" % NS_INFO, "disco of conference.s.interop")
    assert "http://jabber.org/protocol/muc" in features(info)
    # Bare JIDs: the account's server answers (ejabberd only to a subscriber; its refusal
    # comes back across).
    ask(erin, "carol@s.interop", "<query xmlns='%s'/>" % NS_INFO, "disco of carol's account")
    r = carol.iq("get", "<query xmlns='%s'/>" % NS_INFO, to="erin@e.interop", timeout=30)
    assert r.get("from") == "erin@e.interop", rawxmpp.dump(r)
    assert (r.get("type") == "result"
            or rawxmpp.stanza_error(r) == ("auth", "subscription-required")), rawxmpp.dump(r)
    # Full JIDs: the other client answers, the result comes back across.
    carol.send("<iq type='get' id='c-ping' to='erin@e.interop/e1'><ping xmlns='%s'/></iq>"
               % NS_PING)
    answer_iqs(erin, 1)
    r = carol.wait_for(lambda e: e.get("id") == "c-ping", 30, "erin's pong")
    assert r.get("type") == "result" and r.get("from") == "erin@e.interop/e1"
    erin.send("<iq type='get' id='e-ver' to='carol@s.interop/r1'><query xmlns='%s'/></iq>"
              % NS_VERSION)
    answer_iqs(carol, 1)
    r = erin.wait_for(lambda e: e.get("id") == "e-ver", 30, "carol's version")
    assert r.get("type") == "result" and r.get("from") == "carol@s.interop/r1"
    assert r.findtext("{%s}query/{%s}name" % (NS_VERSION, NS_VERSION)) == "raw"
    # An unknown remote account: an error comes back, both ways.
    for c, to in ((carol, "nobody@e.interop/x"), (erin, "nobody@s.interop/x")):
        r = c.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=to, timeout=30)
        assert r.get("type") == "error" and r.get("from") == to, rawxmpp.dump(r)
        assert rawxmpp.stanza_error(r)[1] in ("service-unavailable", "item-not-found",
                                              "recipient-unavailable"), rawxmpp.dump(r)


def wait_left(c, room, nick, timeout=30):
    """The room's unavailable presence for `nick`."""
    return c.wait_for(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "unavailable"
                      and e.get("from") == "%s/%s" % (room, nick), timeout,
                      "%s leaving %s" % (nick, room))


@pytest.mark.parametrize("secure", [True, False], ids=["external", "dialback"])
@diagnosed
def test_ejabberd_user_in_starling_room(w, secure):
    """An ejabberd user joins a room of Starling's chat service, the owner and the guest talk,
    the room relays the owner's invitation to another ejabberd user (XEP-0045 §7.8.2), and when
    the guest's session ends ejabberd's unavailable presence takes it out of the room. The chat
    service authenticates its own stream to ejabberd: SASL EXTERNAL (its certificate names it)
    or dialback (self-signed certificate)."""
    srv, owner, guest, invitee = ((w.s, "alice", "emil", "fay") if secure
                                  else (w.d, "dave", "gus", "hal"))
    service = "conference." + srv.domain
    room = "lounge@" + service
    o = w.starling(srv, owner)
    g = w.ejabberd_user(guest)
    inv = w.ejabberd_user(invitee)
    meet(o, owner, g, guest, room, timeout=40)
    invite(o, room, "%s@%s" % (invitee, DOM_E), "join-us")
    assert wait_invite(inv, room, "join-us").get("from", "").startswith(
        "%s@%s" % (owner, srv.domain))
    outs = wait_until(lambda: [c for c in out_conns(srv) if c["jid"] == service + " -> " + DOM_E],
                      15, "%s -> e.interop" % service)
    assert outs[0]["mechanism"] == ("SASL EXTERNAL" if secure else "dialback"), outs
    # The invitee accepts: the discussion history comes with its delay stamps, then the subject.
    join(inv, room, invitee, timeout=40)
    for nick in (guest, owner):
        m = wait_groupchat(inv, room, nick, "from-" + nick)
        assert m.find(q(NS_DELAY, "delay")) is not None, rawxmpp.dump(m)
    inv.wait_for(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("from") == room
                 and e.find(q(NS_CLIENT, "subject")) is not None, 30, "the subject")
    # A private message between occupants, through the room (XEP-0045 §7.5).
    g.send("<message type='chat' to='%s/%s' id='pm'><body>psst</body></message>"
           % (room, owner))
    pm = wait_message(o, "psst", timeout=30)
    assert pm.get("from") == "%s/%s" % (room, guest), rawxmpp.dump(pm)
    g.end()
    for c in (o, inv):
        wait_left(c, room, guest)


@diagnosed
def test_starling_user_in_ejabberd_room(w):
    """eve@e.interop creates a room of ejabberd's chat service; alice@s.interop (SASL
    EXTERNAL) and dave@d.interop (dialback) join and everyone hears everyone; the room relays
    eve's invitation to carol@s.interop; when dave's session ends, Starling's unavailable
    presence takes him out of the room."""
    eve = w.ejabberd_user("eve")
    alice = w.starling(w.s, "alice")
    room = "den@" + MUC_E
    meet(eve, "eve", alice, "alice", room, timeout=40)
    dave = w.starling(w.d, "dave")
    join(dave, room, "dave", timeout=40)
    say(dave, room, "from-dave")
    for c in (eve, alice):
        wait_groupchat(c, room, "dave", "from-dave")
    carol = w.starling(w.s, "carol")
    invite(eve, room, "carol@" + DOM_S, "come-in")
    assert wait_invite(carol, room, "come-in").get("from", "").startswith("eve@" + DOM_E)
    dave.end()
    for c in (eve, alice):
        wait_left(c, room, "dave")
    w.ejabberd.wait_accepted({("outbound", "EXTERNAL", MUC_E + " -> " + DOM_S),
                              ("outbound", "dialback", MUC_E + " -> " + DOM_D)})
    ins = [c for c in in_conns(w.s) if MUC_E + " -> " + DOM_S in (c.get("jid") or "")]
    assert ins and ins[0]["mechanism"] == "SASL EXTERNAL", in_conns(w.s)
