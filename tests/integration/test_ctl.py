"""test_ctl.py: starlingctl domain/account/settings/connections commands and their errors."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import rawxmpp
from rawxmpp import RawClient
from starling import STARLINGCTL

PW = "Ctl-secret-1"


def kv(text):
    """'key = value' lines -> dict."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assert " = " in line or line.rstrip().endswith(" ="), "not a 'key = value' line: %r" % line
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out


def assert_fails(r, code=1):
    assert r.returncode == code, "expected exit %d, got %d (stdout %r, stderr %r)" % (
        code, r.returncode, r.stdout, r.stderr)
    if code == 1:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, "expected a one-line message, got %r" % r.stderr
        assert lines[0].startswith("starlingctl: "), lines[0]
        assert len(lines[0]) > len("starlingctl: ") + 3, lines[0]
    else:
        assert r.stderr.strip(), "usage error without a message"


def can_login(server, user, password, domain="localhost"):
    c, _ = rawxmpp.connect(server, to=domain)
    kind, cond = c.plain(user, password)
    c.close()
    return kind == "success"


# ---- domains ----------------------------------------------------------------------------------

def test_domain_lifecycle(server):
    assert "localhost" in server.ctl_ok("domain", "list").split()
    server.ctl_ok("domain", "add", "ctl.test")
    assert "ctl.test" in server.ctl_ok("domain", "list").split()
    show = kv(server.ctl_ok("domain", "show", "ctl.test"))
    for key in ("login_methods", "password_storage", "auto_signup", "allow_modify_password",
                "xmpp", "aliases"):
        assert key in show, "domain show lacks %s: %r" % (key, show)
    assert show["password_storage"] == "scram"
    methods = [m.strip() for m in show["login_methods"].split(",")]
    assert methods == ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN", "LOGIN",
                       "CRAM-MD5", "DIGEST-MD5", "EXTERNAL"], show["login_methods"]

    server.ctl_ok("domain", "set", "ctl.test", "password_storage=clear",
                  "login_methods=SCRAM-SHA-256,PLAIN", "aliases=alias.ctl.test")
    show = kv(server.ctl_ok("domain", "show", "ctl.test"))
    assert show["password_storage"] == "clear", show
    assert [m.strip() for m in show["login_methods"].split(",")] == ["SCRAM-SHA-256", "PLAIN"]
    assert "alias.ctl.test" in show["aliases"], show

    # The new domain serves streams; after removal it is unknown.
    c = RawClient(server.port)
    c.open(to="ctl.test")
    c.close()
    server.ctl_ok("domain", "remove", "ctl.test")
    assert "ctl.test" not in server.ctl_ok("domain", "list").split()
    c = RawClient(server.port)
    c.send(rawxmpp.header(to="ctl.test"))
    c.expect_stream_error("host-unknown")
    c.close()


def test_domain_errors(server):
    assert_fails(server.ctl("domain", "show", "unknown.example"))
    assert_fails(server.ctl("domain", "remove", "unknown.example"))
    assert_fails(server.ctl("domain", "set", "unknown.example", "password_storage=clear"))
    assert_fails(server.ctl("domain", "set", "localhost", "no_such_key=1"))
    assert_fails(server.ctl("domain", "set", "localhost", "password_storage=rot13"))
    assert_fails(server.ctl("domain", "set", "localhost", "login_methods=NOT-A-MECH"))
    server.ctl_ok("domain", "add", "dup.test")
    assert_fails(server.ctl("domain", "add", "dup.test"))
    server.ctl_ok("domain", "remove", "dup.test")
    assert_fails(server.ctl("domain", "add", "bad domain..name"))


# ---- accounts ---------------------------------------------------------------------------------

def test_account_lifecycle(server):
    server.ctl_ok("account", "add", "dora@localhost", "--password", PW)
    assert "dora@localhost" in server.ctl_ok("account", "list", "localhost").split()
    show = kv(server.ctl_ok("account", "show", "dora@localhost"))
    for key in ("admin", "secure_method_required", "disabled", "real_name"):
        assert key in show, "account show lacks %s: %r" % (key, show)
    assert show["admin"] == "no" and show["disabled"] == "no", show
    assert can_login(server, "dora", PW)

    server.ctl_ok("account", "set", "dora@localhost", "real_name=Dora Explorer", "admin=yes")
    show = kv(server.ctl_ok("account", "show", "dora@localhost"))
    assert show["real_name"] == "Dora Explorer", show
    assert show["admin"] == "yes", show

    server.ctl_ok("account", "passwd", "dora@localhost", "New-" + PW)
    assert can_login(server, "dora", "New-" + PW)
    assert not can_login(server, "dora", PW)

    server.ctl_ok("account", "set", "dora@localhost", "disabled=yes")
    assert kv(server.ctl_ok("account", "show", "dora@localhost"))["disabled"] == "yes"
    assert not can_login(server, "dora", "New-" + PW)
    server.ctl_ok("account", "set", "dora@localhost", "disabled=no")
    assert can_login(server, "dora", "New-" + PW)

    server.ctl_ok("account", "remove", "dora@localhost")
    assert "dora@localhost" not in server.ctl_ok("account", "list", "localhost").split()
    assert not can_login(server, "dora", "New-" + PW)


def test_account_errors(server):
    assert_fails(server.ctl("account", "add", "x@unknown.example", "--password", "p"))
    assert_fails(server.ctl("account", "show", "nobody@localhost"))
    assert_fails(server.ctl("account", "remove", "nobody@localhost"))
    assert_fails(server.ctl("account", "passwd", "nobody@localhost", "p"))
    assert_fails(server.ctl("account", "list", "unknown.example"))
    server.ctl_ok("account", "add", "erin@localhost", "--password", PW)
    assert_fails(server.ctl("account", "add", "erin@localhost", "--password", PW))
    assert_fails(server.ctl("account", "set", "erin@localhost", "colour=blue"))
    assert_fails(server.ctl("account", "set", "erin@localhost", "admin=perhaps"))
    assert_fails(server.ctl("account", "add", "a@b@localhost", "--password", "p"))
    server.ctl_ok("account", "remove", "erin@localhost")


# ---- settings ---------------------------------------------------------------------------------

def test_settings_get_all_and_one(server):
    allv = kv(server.ctl_ok("settings", "get"))
    for key in ("server.workers", "server.main_domain", "xmpp.listener",
                "xmpp.receiving.channels", "xmpp.receiving.auth_failure_delay"):
        assert key in allv, "settings get lacks %s" % key
    assert server.ctl_ok("settings", "get", "server.workers").strip() == "2"
    assert server.ctl_ok("settings", "get", "xmpp.receiving.auth_failure_delay").strip() == "0"
    assert server.ctl_ok("settings", "get", "server.main_domain").strip() == "localhost"


def _doc_keys():
    """The keys of docs/settings.md's tables, in their order."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "settings.md")
    with open(path, encoding="utf-8") as f:
        return re.findall(r"^\| `([a-z0-9_.]+)` \|", f.read(), re.M)


def test_settings_order_follows_the_module_table(server):
    """Each module declares its own rows; main.c's table puts them in the documented order, in
    the file the server writes and in settings get alike."""
    with open(os.path.join(server.datadir, "starling.conf"), encoding="utf-8") as f:
        written = [k for k in kv(f.read())]
    assert written == _doc_keys()
    listed = [line.partition("=")[0].strip()
              for line in server.ctl_ok("settings", "get").splitlines() if line.strip()]
    assert listed == written


def test_settings_set_and_errors(server):
    server.ctl_ok("settings", "set", "xmpp.receiving.max_auth_failures", "4")
    assert server.ctl_ok("settings", "get", "xmpp.receiving.max_auth_failures").strip() == "4"
    conf = open(os.path.join(server.datadir, "starling.conf")).read()
    assert re.search(r"^\s*xmpp\.receiving\.max_auth_failures\s*=\s*4\s*$", conf, re.M)
    assert_fails(server.ctl("settings", "get", "no.such.key"))
    assert_fails(server.ctl("settings", "set", "no.such.key", "1"))
    assert_fails(server.ctl("settings", "set", "xmpp.receiving.channels", "many"))
    assert_fails(server.ctl("settings", "set", "xmpp.receiving.log_level", "Loud"))


def test_usage_errors_exit_2(server):
    assert_fails(server.ctl(), code=2)
    assert_fails(server.ctl("frobnicate"), code=2)
    assert_fails(server.ctl("domain"), code=2)
    assert_fails(server.ctl("account", "add", "x@localhost"), code=2)   # no --password


def test_no_server_running_exit_1():
    tmp = tempfile.mkdtemp(prefix="starling-it-")
    try:
        r = subprocess.run([STARLINGCTL, "-d", tmp, "domain", "list"],
                           capture_output=True, text=True, timeout=20)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert_fails(r)


# ---- connections ------------------------------------------------------------------------------

def test_connections_lists_logged_in_client(server):
    server.add_account("frank@localhost", PW)
    c = rawxmpp.login(server, "frank", PW, resource="ctl")
    pre = RawClient(server.port)
    pre.open()
    time.sleep(0.2)
    try:
        lines = server.ctl_ok("connections").splitlines()
        mine = [ln for ln in lines if "frank@localhost/ctl" in ln]
        assert len(mine) == 1, lines
        f = mine[0].split()
        assert len(f) == 7, mine[0]
        cid, kind, _state, peer, jid, tls, secs = f
        assert kind == "c2s"
        assert peer == "[127.0.0.1]:%d" % c.local_port, mine[0]
        assert jid == "frank@localhost/ctl"
        assert tls.startswith("TLSv1."), mine[0]
        assert int(secs) >= 0 and cid
        anon = [ln for ln in lines if ":%d " % pre.local_port in ln]
        assert len(anon) == 1, lines
        af = anon[0].split()
        assert af[4] == "-" and af[5] == "-", anon[0]

        data = json.loads(server.ctl_ok("connections", "--json"))
        assert isinstance(data, list)
        entry = [e for e in data if e.get("jid") == "frank@localhost/ctl"]
        assert len(entry) == 1, data
        e = entry[0]
        assert set(e) >= {"id", "kind", "state", "peer", "jid", "tls", "since"}, e
        assert e["kind"] == "c2s"
        assert e["peer"] == "[127.0.0.1]:%d" % c.local_port
        assert e["tls"] in ("TLSv1.3", "TLSv1.2")
        assert abs(e["since"] - time.time()) < 120
        other = [x for x in data if x.get("peer") == "[127.0.0.1]:%d" % pre.local_port]
        assert len(other) == 1 and other[0]["jid"] is None and other[0]["tls"] is None, data
    finally:
        c.close()
        pre.close()


@pytest.mark.parametrize("args", [("domain", "list"), ("settings", "get")])
def test_ctl_is_quick(server, args):
    t0 = time.monotonic()
    server.ctl_ok(*args)
    assert time.monotonic() - t0 < 3
