"""test_check.py (issue 20): `starlingctl check` against a good set-up (a CA-signed certificate
naming the domain and its chat service, SRV records served by a test resolver of ours on
loopback, the server listening) and against broken ones: one finding line with its fix each."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

import pytest

from starling import ON_POSTGRESQL, free_ports

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
DOMAIN = "good.test"
SERVICE = "conference.good.test"


def openssl(*args):
    subprocess.run(["openssl"] + list(args), capture_output=True, check=True)


def make_leaf(folder, name, sans, ca, days=365):
    key, csr, crt = (os.path.join(folder, name + ext) for ext in (".key", ".csr", ".crt"))
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=" + sans[0], "-keyout", key, "-out", csr)
    ext = os.path.join(folder, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + s for s in sans) + "\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-days", str(days), "-extfile", ext, "-out", crt)
    return crt, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    ca = os.path.join(d, "ca")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "365", "-subj", "/CN=Check Test CA", "-keyout", ca + ".key",
            "-out", ca + ".crt")
    return {
        "dir": d, "ca": ca + ".crt",
        "good": make_leaf(d, "good", [DOMAIN, SERVICE], ca),
        "no_service": make_leaf(d, "noservice", [DOMAIN], ca),
        "short": make_leaf(d, "short", [DOMAIN, SERVICE], ca, days=10),
        "other": make_leaf(d, "other", [DOMAIN, SERVICE], ca),
    }


def install_cert(datadir, crt, key):
    certs = os.path.join(datadir, "certs")
    os.makedirs(certs, mode=0o700, exist_ok=True)
    shutil.copy(crt, os.path.join(certs, DOMAIN + ".crt"))
    shutil.copy(key, os.path.join(certs, DOMAIN + ".key"))
    os.chmod(os.path.join(certs, DOMAIN + ".key"), 0o600)


class Resolver:
    """dnsmasq on 127.0.0.1:<free port> answering for .test only (nothing forwarded)."""

    def __init__(self, folder, srv_records, hosts):
        self.port = free_ports(1)[0]
        argv = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
                "--port=%d" % self.port, "--user=" + pwd.getpwuid(os.getuid()).pw_name,
                "--local=/test/", "--pid-file=" + os.path.join(folder, "dnsmasq.pid")]
        argv += ["--srv-host=%s,%s,%d,0,0" % r for r in srv_records]
        argv += ["--host-record=%s,127.0.0.1" % h for h in hosts]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self._answers() and time.monotonic() < deadline:
            assert self.proc.poll() is None, "dnsmasq exited"
            time.sleep(0.1)

    def _answers(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


needs_dnsmasq = pytest.mark.skipif(not os.access(DNSMASQ, os.X_OK),
                                   reason="dnsmasq not installed (scripts/deps/ops.test)")


def server_options(srv):
    """The -o overrides the server runs with, for the check to see the same settings."""
    argv = srv.argv()
    return [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "-o"]


def check(srv, *extra, dns=None):
    args = ["check"]
    for o in server_options(srv) + list(extra):
        args += ["-o", o]
    if dns is None:
        args.append("--no-dns")
    else:
        args += ["-o", "xmpp.sending.dns_servers=127.0.0.1:%d" % dns.port]
    r = srv.ctl(*args, timeout=60)
    return r.returncode, r.stdout.splitlines()


def findings(lines, kind):
    return [l for l in lines if l.startswith(kind + ":")]


@pytest.fixture
def good_server(make_server, pki):
    crt, key = pki["good"]
    return make_server({"server.main_domain": DOMAIN, "tls.s2s_ca_file": pki["ca"]},
                       prepare=lambda d: install_cert(d, crt, key))


def good_records(srv):
    return [("_xmpp-client._tcp." + DOMAIN, "xmpp." + DOMAIN, srv.port),
            ("_xmpp-server._tcp." + DOMAIN, "xmpp." + DOMAIN, srv.port),
            ("_xmpps-client._tcp." + DOMAIN, "xmpp." + DOMAIN, srv.tls_port),
            ("_xmpp-server._tcp." + SERVICE, "xmpp." + DOMAIN, srv.port)]


@needs_dnsmasq
def test_good_setup_passes(good_server, tmp_path):
    dns = Resolver(str(tmp_path), good_records(good_server), ["xmpp." + DOMAIN])
    try:
        rc, lines = check(good_server, dns=dns)
    finally:
        dns.stop()
    assert rc == 0 and lines[-1] == "All checks passed.", "\n".join(lines)


@needs_dnsmasq
def test_missing_and_wrong_dns_records(good_server, tmp_path):
    # No record for the chat service; the client SRV names a port nothing listens on; the
    # server SRV's target has no address.
    records = [("_xmpp-client._tcp." + DOMAIN, "xmpp." + DOMAIN, 5999),
               ("_xmpp-server._tcp." + DOMAIN, "gone." + DOMAIN, good_server.port)]
    dns = Resolver(str(tmp_path), records, ["xmpp." + DOMAIN])
    try:
        rc, lines = check(good_server, dns=dns)
    finally:
        dns.stop()
    text = "\n".join(lines)
    assert rc == 1, text
    assert any("remote servers cannot find %s" % SERVICE in l and "Fix: add" in l
               for l in findings(lines, "error")), text
    assert any("_xmpp-server._tcp.%s points to gone.%s, which has no address" % (DOMAIN, DOMAIN)
               in l for l in findings(lines, "error")), text
    assert any("points to port 5999" in l for l in findings(lines, "warning")), text


def test_certificate_problems(good_server, pki):
    d = good_server.datadir
    # The key of another certificate.
    shutil.copy(pki["other"][1], os.path.join(d, "certs", DOMAIN + ".key"))
    rc, lines = check(good_server)
    assert rc == 1 and any("is not the certificate's" in l for l in findings(lines, "error"))
    # A certificate that does not name the chat service, and one expiring in 10 days.
    install_cert(d, *pki["no_service"])
    rc, lines = check(good_server)
    assert any("does not name %s" % SERVICE in l and "Fix:" in l
               for l in findings(lines, "error")), lines
    install_cert(d, *pki["short"])
    rc, lines = check(good_server)
    assert rc == 0 and any("expires in" in l for l in findings(lines, "warning")), lines
    # Without the CA the chain does not verify.
    install_cert(d, *pki["good"])
    rc, lines = check(good_server, "tls.s2s_ca_file=")
    assert rc == 1 and any("does not verify" in l for l in findings(lines, "error")), lines


def test_permissions_ports_and_settings_file(good_server):
    d = good_server.datadir
    os.chmod(d, 0o777)
    try:
        rc, lines = check(good_server)
    finally:
        os.chmod(d, 0o700)
    assert rc == 1 and any("writable by others" in l and "chmod 700" in l
                           for l in findings(lines, "error")), lines
    if not ON_POSTGRESQL:  # SQLite's database file (on PostgreSQL no file is in the folder)
        os.chmod(os.path.join(d, "starling.db"), 0o644)
        rc, lines = check(good_server)
        os.chmod(os.path.join(d, "starling.db"), 0o600)
        assert any("starling.db is readable" in l for l in findings(lines, "error")), lines
    # The running server does not listen on a socket the settings name.
    spare = free_ports(1)[0]
    rc, lines = check(good_server, "xmpp.listener=127.0.0.1:%d, 127.0.0.1:%d" % (
        good_server.port, spare))
    assert any("nothing accepts connections on 127.0.0.1 port %d" % spare in l
               for l in findings(lines, "error")), lines
    # A clear-text WebAdmin on every address is a warning for a public deployment.
    rc, lines = check(good_server, "webadmin.listener=%d" % free_ports(1)[0])
    assert any("webadmin.listener" in l and "clear" in l for l in findings(lines, "warning"))
    # A settings file that does not parse: its line and the fix.
    with open(os.path.join(d, "starling.conf"), "a") as f:
        f.write("no.such.key = 1\n")
    rc, lines = check(good_server)
    assert rc == 1 and lines[0].startswith("error: ") and "unknown setting" in lines[0]
    assert "Fix:" in lines[0]


def test_port_used_by_another_program(tmp_path):
    """Before the server runs: a port another program holds is an error."""
    from starling import STARLINGCTL
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        r = subprocess.run([STARLINGCTL, "-d", str(tmp_path / "data"), "check", "--no-dns",
                            "-o", "xmpp.listener=127.0.0.1:%d" % port,
                            "-o", "webadmin.listener="], capture_output=True, text=True,
                           timeout=60)
    finally:
        busy.close()
    assert r.returncode == 1
    assert "port %d on 127.0.0.1 is used by another program" % port in r.stdout, r.stdout
