"""test_s2s_prosody.py: interop with Debian's Prosody in both directions.

Prosody runs as the test's own process on 127.0.0.5 with a configuration, data folder and
certificates the test writes. It has no static routes: it finds Starling's domain (s.interop) through
dnsmasq on 127.0.0.6:53 (SRV _xmpp-server._tcp.s.interop -> 127.0.0.2:<port>), which it is told to
ask by a resolv.conf bind-mounted over /etc/resolv.conf inside a private mount namespace
(`unshare -m`): the machine's real resolver configuration is never touched. Starling reaches
Prosody by a static route.

Authentication paths (asserted, and written to the test log):
  test_prosody_dialback:  no CA on either side  -> Starling->Prosody dialback,
                                                   Prosody->Starling dialback
  test_prosody_external:  both trust a test CA  -> Starling->Prosody SASL EXTERNAL,
                                                   Prosody->Starling SASL EXTERNAL or dialback
                                                   with a valid certificate (whichever Prosody
                                                   chooses; recorded)
"""

import os
import shutil
import signal
import subprocess
import time

import pytest

import rawxmpp
from s2s_helpers import (PASSWORD, S2SCA, in_conns, login, out_conns, start, wait_message,
                         wait_until)
from starling import free_ports
from test_s2s_muc import invite, meet, wait_invite

pytestmark = pytest.mark.own_server

# Not under .test: libunbound (Prosody's resolver) answers NXDOMAIN for the RFC 6761 names
# itself, without asking any server.
DOM_S, HOST_S = "s.interop", "127.0.0.2"
DOM_P, HOST_P = "p.interop", "127.0.0.5"
DNS_HOST = "127.0.0.6"
MUC_S, MUC_P = "conference." + DOM_S, "rooms." + DOM_P  # Starling's and Prosody's chat services

need = [b for b in ("prosody", "unshare", "mount") if shutil.which(b) is None]
if shutil.which("dnsmasq") is None and not os.path.exists("/usr/sbin/dnsmasq"):
    need.append("dnsmasq")
if need or os.geteuid() != 0:
    pytestmark = [pytestmark, pytest.mark.skip(
        reason="needs %s and root (unshare -m)" % (", ".join(need) or "")
    )]

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class Prosody:
    def __init__(self, folder, secure, ca=None):
        self.folder = folder
        self.c2s_port, self.s2s_port = free_ports(2)
        self.conf = os.path.join(folder, "prosody.cfg.lua")
        self.log = os.path.join(folder, "prosody.log")
        self.resolv = os.path.join(folder, "resolv.conf")
        data = os.path.join(folder, "data")
        certs = os.path.join(folder, "certs")
        os.makedirs(data, mode=0o750)
        os.makedirs(certs, mode=0o750)
        issuer = ca if ca is not None else S2SCA(folder)  # else a CA nobody trusts
        for name in (DOM_P, MUC_P):
            issuer.issue(name, os.path.join(certs, name + ".crt"),
                         os.path.join(certs, name + ".key"))
        with open(self.resolv, "w") as f:
            f.write("nameserver %s\n" % DNS_HOST)
        ssl = 'ssl = { cafile = "%s" }\n' % ca.crt if ca is not None else ""
        with open(self.conf, "w") as f:
            f.write("""
run_as_root = true
pidfile = "{folder}/prosody.pid"
data_path = "{data}"
certificates = "{certs}"
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{log}" }} }}
interfaces = {{ "{host}" }}
local_interfaces = {{ "{host}" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
c2s_direct_tls_ports = {{ }}
s2s_direct_tls_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_enabled = {{ "roster", "saslauth", "tls", "dialback", "disco", "ping" }}
modules_disabled = {{ "s2s_bidi" }}
authentication = "internal_plain"
storage = "internal"
unbound = {{ resolvconf = true }}
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = {secure}
{ssl}
VirtualHost "{dom}"

Component "{muc}" "muc"
""".format(folder=folder, data=data, certs=certs, log=self.log, host=HOST_P,
                       c2s=self.c2s_port, s2s=self.s2s_port, secure="true" if secure else "false",
                       ssl=ssl, dom=DOM_P, muc=MUC_P))
        self.proc = None

    def add_user(self, user, password):
        # internal_plain storage: DATA/<host, '.' as %2e>/accounts/<user>.dat
        accounts = os.path.join(self.folder, "data", DOM_P.replace(".", "%2e"), "accounts")
        os.makedirs(accounts, exist_ok=True)
        with open(os.path.join(accounts, user + ".dat"), "w") as f:
            f.write('return {\n\t["password"] = "%s";\n};\n' % password)

    def start(self):
        self.add_user("pat", PASSWORD)
        script = 'mount --bind "$1" /etc/resolv.conf && exec prosody --config "$2" -F'
        self.out = open(os.path.join(self.folder, "stdout"), "wb")
        self.proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script, "sh", self.resolv,
                                      self.conf], stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        import socket
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "prosody exited:\n" + self.tail()
            try:
                socket.create_connection((HOST_P, self.c2s_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("prosody did not start:\n" + self.tail())

    def tail(self, n=60):
        text = ""
        for p in (os.path.join(self.folder, "stdout"), self.log):
            try:
                with open(p, errors="replace") as f:
                    text += "".join(f.readlines()[-n:])
            except OSError:
                pass
        return text

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "out", None):
            self.out.close()


class Dnsmasq:
    def __init__(self, folder, starling_port):
        self.proc = subprocess.Popen(
            [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
             "--no-hosts", "--bind-interfaces", "--listen-address=" + DNS_HOST, "--port=53",
             "--user=root", "--pid-file=" + os.path.join(folder, "dnsmasq.pid"),
             "--log-facility=" + os.path.join(folder, "dnsmasq.log"), "--log-queries",
             "--srv-host=_xmpp-server._tcp.%s,%s,%d,0,0" % (DOM_S, DOM_S, starling_port),
             "--srv-host=_xmpp-server._tcp.%s,%s,%d,0,0" % (MUC_S, DOM_S, starling_port),
             "--host-record=%s,%s" % (DOM_S, HOST_S)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise AssertionError("dnsmasq failed: %s" % self.proc.stderr.read().decode())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stderr.close()


@pytest.fixture
def interop(make_server, tmp_path):
    made = []

    def setup(secure, ca=None):
        prosody = Prosody(str(tmp_path / "prosody"), secure, ca)
        opts = {"xmpp.sending.queue_timeout": "30"}
        if ca is None:
            opts["tls.s2s_ca_file"] = ""
        kw = {"prepare": ca.certs_for(DOM_S, ("*." + DOM_S,))} if ca is not None else {}
        s = start(make_server, DOM_S, HOST_S, ca=ca, options=opts, **kw)
        s.ctl_ok("settings", "set", "xmpp.sending.routes",
                 "%s=%s:%d, %s=%s:%d" % (DOM_P, HOST_P, prosody.s2s_port, MUC_P, HOST_P,
                                         prosody.s2s_port))
        s.add_account("alice@" + DOM_S, PASSWORD)
        dns = Dnsmasq(str(tmp_path), s.port)
        made.append(dns)
        made.append(prosody)
        prosody.start()
        return s, prosody

    yield setup
    for m in reversed(made):
        m.stop()


def pat_login(prosody):
    c = rawxmpp.RawClient(prosody.c2s_port, sni=DOM_P, host=HOST_P, timeout=15)
    c.open(to=DOM_P)
    c.starttls(to=DOM_P)
    kind, _ = c.plain("pat", PASSWORD)
    assert kind == "success"
    c.restart(to=DOM_P)
    c.bind("p1")
    c.send("<presence/>")
    return c


def exchange(s, prosody):
    alice = login(s, "alice")
    pat = pat_login(prosody)
    alice.send("<message to='pat@p.interop' type='chat' id='a1'><body>hi-pat</body></message>")
    m = wait_message(pat, "hi-pat", timeout=30)
    assert m.get("from") == "alice@s.interop/r1"
    pat.send("<message to='alice@s.interop/r1' type='chat' id='p1'><body>hi-alice</body></message>")
    m = wait_message(alice, "hi-alice", timeout=30)
    assert m.get("from") == "pat@p.interop/p1"
    return alice, pat


def subscribe_both_ways(alice, pat):
    from test_s2s import is_presence
    alice.send("<presence to='pat@p.interop' type='subscribe'/>")
    pat.wait_for(is_presence("alice@s.interop", "subscribe"), 30, "subscribe at prosody")
    pat.send("<presence to='alice@s.interop' type='subscribed'/>")
    alice.wait_for(is_presence("pat@p.interop", "subscribed"), 30, "subscribed from prosody")
    alice.wait_for(is_presence("pat@p.interop/p1", None), 30, "pat's presence")
    pat.send("<presence to='alice@s.interop' type='subscribe'/>")
    alice.wait_for(is_presence("pat@p.interop", "subscribe"), 30, "subscribe from prosody")
    alice.send("<presence to='pat@p.interop' type='subscribed'/>")
    pat.wait_for(is_presence("alice@s.interop/r1", None), 30, "alice's presence at prosody")

    # Prosody records the approval in pat's roster (it pushes the roster change rather than
    # forwarding <subscribed/> to a client that did not fetch its roster).
    def pat_sees_both():
        r = pat.iq("get", "<query xmlns='jabber:iq:roster'/>", timeout=10)
        items = r.findall("{jabber:iq:roster}query/{jabber:iq:roster}item")
        return [i for i in items if i.get("jid") == "alice@s.interop"
                and i.get("subscription") == "both"]
    wait_until(pat_sees_both, 30, "a mutual subscription in pat's roster")
    # And on Starling's side, alice's roster says both as well.
    r = alice.iq("get", "<query xmlns='jabber:iq:roster'/>", timeout=10)
    items = r.findall("{jabber:iq:roster}query/{jabber:iq:roster}item")
    assert [i.get("subscription") for i in items if i.get("jid") == "pat@p.interop"] == ["both"]


def auth_paths(s):
    out = [c.get("mechanism") for c in out_conns(s)]
    inc = [c.get("mechanism") for c in in_conns(s)]
    print("auth paths: Starling->Prosody %s, Prosody->Starling %s" % (out, inc))
    return out, inc


def exchange_both_ways(s, prosody):
    """Messages and subscriptions both ways, then the s2s connections' (out, in) auth paths;
    prints both servers' s2s logs when the exchange fails."""
    try:
        alice, pat = exchange(s, prosody)
        subscribe_both_ways(alice, pat)
    except AssertionError:
        print(prosody.tail())
        print("\n".join(l for l in s.log_text().splitlines() if "XMPPO" in l or "XMPPI" in l)[-6000:])
        raise
    out, inc = wait_until(lambda: (lambda o, i: (o, i) if o and i else None)(*auth_paths(s)),
                          10, "connections both ways")
    return alice, pat, out, inc


def test_prosody_dialback(interop):
    s, prosody = interop(secure=False)
    alice, pat, out, inc = exchange_both_ways(s, prosody)
    assert out == ["dialback"]
    assert "dialback" in inc
    alice.close()
    pat.close()


def test_prosody_external(interop, tmp_path):
    os.makedirs(str(tmp_path / "ca"))
    ca = S2SCA(str(tmp_path / "ca"))
    s, prosody = interop(secure=True, ca=ca)
    alice, pat, out, inc = exchange_both_ways(s, prosody)
    assert out == ["SASL EXTERNAL"]
    assert inc and inc[0] in ("SASL EXTERNAL", "dialback, certificate valid"), inc
    alice.close()
    pat.close()


# ---- Rooms across Starling and Prosody (XEP-0045) ----

@pytest.mark.parametrize("secure", [False, True], ids=["dialback", "external"])
def test_prosody_rooms(interop, tmp_path, secure):
    """pat@p.interop joins a room of Starling's chat service, pat and alice talk, and the room
    relays alice's invitation to pat; then alice joins a room of Prosody's muc component and
    they talk there. Secure: both trust a test CA whose certificates name the chat services,
    and Prosody requires authenticated certificates (s2s_secure_auth)."""
    ca = None
    if secure:
        os.makedirs(str(tmp_path / "ca"))
        ca = S2SCA(str(tmp_path / "ca"))
    s, prosody = interop(secure=secure, ca=ca)
    alice = login(s, "alice")
    pat = pat_login(prosody)
    try:
        room = "lounge@" + MUC_S
        meet(alice, "alice", pat, "pat", room, timeout=40)
        invite(alice, room, "pat@" + DOM_P, "join-us")
        assert wait_invite(pat, room, "join-us").get("from", "").startswith("alice@" + DOM_S)
        # The chat service authenticated its own stream to Prosody.
        outs = wait_until(lambda: [c for c in out_conns(s) if c["jid"] == MUC_S + " -> " + DOM_P],
                          15, "conference.s.interop -> p.interop")
        assert outs[0]["mechanism"] == ("SASL EXTERNAL" if secure else "dialback"), outs
        # A room of Prosody's muc component, created by pat; alice joins.
        meet(pat, "pat", alice, "alice", "den@" + MUC_P, timeout=40)
    except AssertionError:
        print(prosody.tail())
        print("\n".join(l for l in s.log_text().splitlines() if "XMPPO" in l or "XMPPI" in l)[-8000:])
        raise
    alice.close()
    pat.close()
