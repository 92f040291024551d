"""s2s_helpers.py: certificates, two-server set-ups and raw clients for the s2s tests."""

import os
import subprocess
import time

import rawxmpp
from rawxmpp import NS_CLIENT, q

DOM_A, DOM_B = "a.test", "b.test"
HOST_A, HOST_B = "127.0.0.2", "127.0.0.3"
PASSWORD = "s2s-secret-1"


def openssl(*args, cwd=None):
    subprocess.run(["openssl"] + list(args), check=True, cwd=cwd, capture_output=True)


class S2SCA:
    """A throw-away CA in `folder` that signs server certificates for test domains."""

    def __init__(self, folder):
        self.folder = folder
        self.crt = os.path.join(folder, "ca.crt")
        self.key = os.path.join(folder, "ca.key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.key, "-out", self.crt, "-days", "2",
                "-subj", "/CN=Starling s2s test CA")

    def issue(self, domain, crt_path, key_path, extra_names=()):
        """A certificate for `domain` (SAN DNS, plus `extra_names`), serverAuth + clientAuth."""
        csr = crt_path + ".csr"
        ext = crt_path + ".ext"
        san = ",".join("DNS:" + n for n in (domain,) + tuple(extra_names))
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n"
                    "basicConstraints=CA:FALSE\n" % san)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key_path, "-out", csr, "-subj", "/CN=%s" % domain)
        openssl("x509", "-req", "-in", csr, "-CA", self.crt, "-CAkey", self.key,
                "-CAcreateserial", "-out", crt_path, "-days", "2", "-extfile", ext)
        os.chmod(key_path, 0o600)
        os.unlink(csr)
        os.unlink(ext)

    def certs_for(self, domain, extra_names=()):
        """A `prepare` function for starling.Server: puts the domain's certificate in
        DATADIR/certs before the server starts (tls_store loads existing files)."""
        def prepare(datadir):
            certs = os.path.join(datadir, "certs")
            os.makedirs(certs, mode=0o700, exist_ok=True)
            crt = os.path.join(certs, domain + ".crt")
            if not os.path.exists(crt):
                self.issue(domain, crt, os.path.join(certs, domain + ".key"), extra_names)
        return prepare


def base_options(domain, extra=None):
    opts = {
        "server.main_domain": domain,
        "xmpp.sending.log_level": "All Info",
        "xmpp.receiving.ping_interval": "0",
    }
    opts.update(extra or {})
    return opts


def set_route(srv, routes):
    srv.ctl_ok("settings", "set", "xmpp.sending.routes", routes)


def link(a, b):
    """Static routes both ways between two started servers (ports are known only now)."""
    set_route(a, "%s=%s:%d" % (b.domain, b.host, b.port))
    set_route(b, "%s=%s:%d" % (a.domain, a.host, a.port))


def start(make_server, domain, host, ca=None, options=None, **kw):
    opts = base_options(domain, options)
    if ca is not None:
        opts.setdefault("tls.s2s_ca_file", ca.crt)
        kw.setdefault("prepare", ca.certs_for(domain))
    srv = make_server(opts, host=host, **kw)
    srv.domain = domain
    return srv


def login(srv, user, resource="r1", available=True):
    """A logged-in raw client of `srv` (STARTTLS, PLAIN, bind), available when asked."""
    c = rawxmpp.RawClient(srv.port, sni=srv.domain, host=srv.host)
    c.open(to=srv.domain)
    c.starttls(to=srv.domain)
    kind, _ = c.plain(user, PASSWORD)
    assert kind == "success"
    c.restart(to=srv.domain)
    c.bind(resource)
    if available:
        c.send("<presence/>")
    c.jid_bare = "%s@%s" % (user, srv.domain)
    return c


def wait_message(c, body=None, timeout=15, type_=None):
    def pred(e):
        if e.tag != q(NS_CLIENT, "message"):
            return False
        if type_ is not None and e.get("type") != type_:
            return False
        b = e.find(q(NS_CLIENT, "body"))
        return body is None or (b is not None and b.text == body)
    return c.wait_for(pred, timeout, "message %r" % body)


def subscribe_both_ways(a, a_full, b, b_full, timeout=30):
    """a subscribes to b's presence and b approves, then the other way round; each waits for
    the request, then for the other's available presence (a_full, b_full: the two sessions)."""
    from test_s2s import is_presence
    for x, x_full, y, y_full in ((a, a_full, b, b_full), (b, b_full, a, a_full)):
        x_bare, y_bare = x_full.split("/")[0], y_full.split("/")[0]
        x.send("<presence to='%s' type='subscribe'/>" % y_bare)
        y.wait_for(is_presence(x_bare, "subscribe"), timeout, "subscribe from " + x_bare)
        y.send("<presence to='%s' type='subscribed'/>" % x_bare)
        x.wait_for(is_presence(y_full, None), timeout, y_full + "'s presence")


def out_conns(srv):
    return [c for c in srv.connections() if c.get("kind") == "s2s-out"]


def in_conns(srv):
    return [c for c in srv.connections() if c.get("kind") == "s2s"]


def queues(srv):
    import json
    return json.loads(srv.ctl_ok("queues", "--json"))


def wait_until(pred, timeout=15, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)
