"""test_packaging.py (issue 20): `make install` into a DESTDIR tree, the systemd unit
(systemd-analyze verify), the man pages, and the Debian package built by dpkg-buildpackage
(contents, lintian, the extracted binaries run). `make packaging-check` runs this file."""

import os
import re
import shutil
import stat
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("STARLING_BUILD") or os.path.join(REPO, "build")


def make(*args, timeout=600):
    r = subprocess.run(["make", "-C", REPO, "BUILD=" + BUILD] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "make %s failed:\n%s\n%s" % (" ".join(args), r.stdout[-3000:],
                                                          r.stderr[-3000:])
    return r


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_make_install_destdir_tree(tmp_path):
    root = tmp_path / "root"
    make("install", "DESTDIR=%s" % root, "PREFIX=/usr")
    for rel, want in (("usr/sbin/starlingd", 0o755), ("usr/sbin/starlingctl", 0o755),
                      ("usr/share/man/man8/starlingd.8", 0o644),
                      ("usr/share/man/man8/starlingctl.8", 0o644),
                      ("usr/share/man/man5/starling.conf.5", 0o644),
                      ("usr/lib/systemd/system/starling.service", 0o644),
                      ("etc/starling/starling.conf", 0o600),
                      ("etc/starling", 0o750), ("var/lib/starling", 0o750),
                      ("var/log/starling", 0o750), ("usr/share/doc/starling/starlingd.md", 0o644)):
        path = root / rel
        assert path.exists(), rel
        assert mode(path) == want, "%s: mode %o, want %o" % (rel, mode(path), want)
    unit = (root / "usr/lib/systemd/system/starling.service").read_text()
    assert ("ExecStart=/usr/sbin/starlingd -d /var/lib/starling -c /etc/starling/starling.conf "
            "-l /var/log/starling") in unit
    for line in ("Type=notify", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "User=_starling",
                 "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in unit.splitlines(), line
    assert "@" not in re.sub(r"^#.*$", "", unit, flags=re.M), "a placeholder was left"
    # An existing settings file is never overwritten by a second install.
    conf = root / "etc/starling/starling.conf"
    conf.write_text("server.main_domain = mine.example\n")
    make("install", "DESTDIR=%s" % root, "PREFIX=/usr")
    assert conf.read_text() == "server.main_domain = mine.example\n"


def test_installed_tree_starts_from_its_settings_file(tmp_path):
    """The installed layout works: -c names the /etc file (hand-written, main domain chosen
    there), -l the log folder; --check reads the same file."""
    root = tmp_path / "root"
    make("install", "PREFIX=%s/usr" % root, "SYSCONFDIR=%s/etc" % root,
         "LOCALSTATEDIR=%s/var" % root)
    conf = root / "etc/starling/starling.conf"
    text = conf.read_text()
    assert "server.main_domain = localhost" in text
    conf.write_text(text.replace("server.main_domain = localhost",
                                 "server.main_domain = chosen.example"))
    r = subprocess.run([str(root / "usr/sbin/starlingctl"), "-d", str(root / "var/lib/starling"),
                        "check", "-c", str(conf), "--no-dns", "-o", "xmpp.listener=",
                        "-o", "webadmin.listener="],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "chosen.example has no certificate" in r.stdout  # before the first start: a warning


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not installed (scripts/deps/ops.test)")
def test_systemd_analyze_verify(tmp_path):
    root = tmp_path / "root"
    # Installed under the test's own prefix, so ExecStart names a binary that exists.
    make("install", "PREFIX=%s/usr" % root, "SYSCONFDIR=%s/etc" % root,
         "LOCALSTATEDIR=%s/var" % root)
    unit = root / "usr/lib/systemd/system/starling.service"
    env = dict(os.environ, MANPATH=str(root / "usr/share/man"))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_man_pages_render(tmp_path):
    make("man")
    for page in ("starlingd.8", "starlingctl.8", "starling.conf.5"):
        src = os.path.join(BUILD, "man", page)
        with open(src) as f:
            text = f.read()
        assert text.startswith(".TH "), page
        assert ".SH NAME" in text
        if shutil.which("groff"):
            r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", src],
                               capture_output=True, text=True, timeout=60)
            bad = [l for l in r.stderr.splitlines() if "cannot adjust" not in l]
            assert r.returncode == 0 and not bad, "\n".join(bad)
    with open(os.path.join(BUILD, "man", "starlingctl.8")) as f:
        ctl = f.read()
    assert "check" in ctl and "backup" in ctl  # the commands of docs/starlingctl.md
    with open(os.path.join(BUILD, "man", "starling.conf.5")) as f:
        conf = f.read()
    assert "server.main_domain" in conf and "xmpp.sending.dns_servers" in conf


DEB_TOOLS = ("dpkg-buildpackage", "dh", "git")


@pytest.mark.skipif(any(shutil.which(t) is None for t in DEB_TOOLS),
                    reason="needs dpkg-dev, debhelper and git (scripts/deps/ops.test)")
def test_debian_package(tmp_path):
    out = tmp_path / "deb"
    r = subprocess.run([os.path.join(REPO, "scripts", "build-deb"), str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    debs = list(out.glob("starling_*.deb"))
    assert len(debs) == 1
    listing = subprocess.run(["dpkg-deb", "-c", str(debs[0])], capture_output=True, text=True,
                             check=True).stdout
    paths = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    for p in ("/usr/sbin/starlingd", "/usr/sbin/starlingctl",
              "/lib/systemd/system/starling.service", "/usr/share/man/man8/starlingd.8.gz",
              "/usr/share/man/man8/starlingctl.8.gz", "/usr/share/man/man5/starling.conf.5.gz",
              "/usr/share/starling/starling.conf", "/usr/share/doc/starling/copyright"):
        assert p in paths, p
    assert not any(p.startswith("/etc/") for p in paths), "a conffile the server would rewrite"
    info = subprocess.run(["dpkg-deb", "-I", str(debs[0])], capture_output=True, text=True,
                          check=True).stdout
    assert "adduser" in info and "libssl3" in info
    scripts = subprocess.run(["dpkg-deb", "-e", str(debs[0]), str(tmp_path / "ctl")],
                             capture_output=True, text=True)
    assert scripts.returncode == 0
    postinst = (tmp_path / "ctl" / "postinst").read_text()
    assert "adduser --system" in postinst and "_starling" in postinst
    assert "deb-systemd-helper" in postinst  # dh_installsystemd enables the unit
    # A throwaway root: the package's files, run from there (an install with dpkg --root would
    # need a whole Debian system inside it).
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
    daemon = root / "usr/sbin/starlingd"
    r = subprocess.run([str(daemon), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "/var/lib/starling" in r.stdout  # the package's default -d
    data = tmp_path / "data"
    r = subprocess.run([str(root / "usr/sbin/starlingctl"), "-d", str(data), "check", "--no-dns",
                        "-c", str(root / "usr/share/starling/starling.conf"),
                        "-o", "xmpp.listener=", "-o", "webadmin.listener="],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
