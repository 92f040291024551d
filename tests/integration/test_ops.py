"""test_ops.py (issue 20): the first start's password file, -c/-l paths with a hand-written
settings file, sd_notify readiness, SIGHUP reload of the settings file and the certificates,
the CA files applied live."""

import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import time

import pytest

from starling import Server


def test_first_start_writes_the_password_file(make_server):
    srv = make_server()
    path = os.path.join(srv.datadir, "postmaster-password")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        assert f.read() == "postmaster@localhost %s\n" % srv.postmaster_password
    assert srv.wait_log(r"password of postmaster@localhost is in .*postmaster-password")


def test_domain_chosen_with_o_on_first_start_is_kept(make_server):
    srv = make_server({"server.main_domain": "picked.example"})
    with open(os.path.join(srv.datadir, "starling.conf")) as f:
        assert "server.main_domain = picked.example" in f.read().splitlines()
    assert srv.ctl_ok("domain", "list").split() == ["picked.example"]


class PathServer(Server):
    """A server started with -c FILE and -l DIR, as the systemd unit starts it."""

    def __init__(self, conf, logs, **kw):
        super().__init__(**kw)
        self.conf, self.logs = conf, logs

    def argv(self):
        return super().argv() + ["-c", self.conf, "-l", self.logs]


def test_hand_written_settings_file_chooses_the_domain(tmp_path):
    conf = tmp_path / "starling.conf"
    conf.write_text("# written by hand before the first start\n"
                    "server.main_domain = chosen.example\n")
    logs = tmp_path / "logs"
    srv = PathServer(str(conf), str(logs))
    try:
        srv.start()
        assert srv.ctl_ok("domain", "list").split() == ["chosen.example"]
        assert "postmaster@chosen.example" in srv.stdout_text()
        text = conf.read_text()
        assert text.startswith("# Starling settings, written by the server.")
        assert "server.main_domain = chosen.example" in text
        assert not os.path.exists(os.path.join(srv.datadir, "starling.conf"))
        assert any(logs.iterdir()), "no System Log file in the -l folder"
        assert srv.stop() == []
    finally:
        srv.cleanup()
    # The server's own file without its database is a lost database, not a first start (SQLite:
    # starling.db missing from the folder; PostgreSQL: the new server's database is empty).
    srv2 = PathServer(str(conf), str(logs))
    try:
        with pytest.raises(Exception, match="refusing to start"):
            srv2.start()
    finally:
        srv2.cleanup()


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield s
    s.close()


def recv_until(sock, word):
    seen = []
    while True:
        msg = sock.recv(4096).decode()
        seen.append(msg)
        if word in msg.split("\n"):
            return seen


def set_in_file(path, key, value):
    with open(path) as f:
        text = f.read()
    text, n = re.subn(r"^%s = .*$" % re.escape(key), "%s = %s" % (key, value), text, flags=re.M)
    assert n == 1
    with open(path, "w") as f:
        f.write(text)


def test_sd_notify_and_sighup_reload(make_server, notify_socket):
    srv = make_server()
    assert any("READY=1" in m for m in recv_until(notify_socket, "READY=1"))
    conf = os.path.join(srv.datadir, "starling.conf")
    key = "xmpp.sending.queue_timeout"
    assert srv.ctl_ok("settings", "get", key).strip() == "600"
    set_in_file(conf, key, "77")
    srv.proc.send_signal(signal.SIGHUP)
    msgs = recv_until(notify_socket, "READY=1")
    assert msgs[0].startswith("RELOADING=1\nMONOTONIC_USEC=")
    assert srv.ctl_ok("settings", "get", key).strip() == "77"
    # A file that does not parse changes nothing; the server says why.
    with open(conf, "a") as f:
        f.write("no.such.setting = 1\n")
    srv.proc.send_signal(signal.SIGHUP)
    recv_until(notify_socket, "READY=1")
    assert srv.wait_log(r"reload: .*unknown setting.*settings unchanged")
    assert srv.ctl_ok("settings", "get", key).strip() == "77"
    assert srv.stop() == []
    assert "STOPPING=1" in notify_socket.recv(4096).decode()


def server_fingerprint(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
    import hashlib
    return hashlib.sha256(der).hexdigest()


def file_fingerprint(path):
    der = subprocess.run(["openssl", "x509", "-in", path, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


def test_sighup_reloads_certificates(make_server, tmp_path):
    srv = make_server()
    crt = os.path.join(srv.datadir, "certs", "localhost.crt")
    key = os.path.join(srv.datadir, "certs", "localhost.key")
    assert server_fingerprint(srv.tls_port) == file_fingerprint(crt)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,DNS:*.localhost",
                    "-keyout", key, "-out", crt], capture_output=True, check=True)
    new = file_fingerprint(crt)
    assert server_fingerprint(srv.tls_port) != new  # not before the reload
    srv.proc.send_signal(signal.SIGHUP)
    assert srv.wait_log(r"reload: certificates read from")
    deadline = time.monotonic() + 5
    while server_fingerprint(srv.tls_port) != new and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server_fingerprint(srv.tls_port) == new


def test_s2s_ca_file_is_applied_live(make_server, tmp_path):
    srv = make_server()
    r = srv.ctl("settings", "set", "tls.s2s_ca_file", str(tmp_path / "missing.pem"))
    assert r.returncode == 1 and "tls.s2s_ca_file" in r.stderr
    assert srv.ctl_ok("settings", "get", "tls.s2s_ca_file").strip() == ""
    ca = tmp_path / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj", "/CN=Test CA",
                    "-keyout", str(tmp_path / "ca.key"), "-out", str(ca)],
                   capture_output=True, check=True)
    srv.ctl_ok("settings", "set", "tls.s2s_ca_file", str(ca))
    assert srv.ctl_ok("settings", "get", "tls.s2s_ca_file").strip() == str(ca)
