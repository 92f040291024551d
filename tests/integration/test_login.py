"""test_login.py: every SASL mechanism (slixmpp and by hand), channel binding, legacy auth."""

import ssl
import time

import pytest

import rawxmpp
import scram
import slix
from rawxmpp import NS_CLIENT, NS_IQAUTH, RawClient, dump, q

SERVER_OPTIONS = {"xmpp.receiving.max_auth_failures": "3"}

PW = "Login-pa55 w0rd"          # a space inside: exercises SASLprep/escaping paths
NOCRAM_METHODS = "SCRAM-SHA-256,PLAIN"

ALL_MECHS = {"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-512",
             "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN"}
PLAIN_MECHS = ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "DIGEST-MD5", "CRAM-MD5",
               "PLAIN", "LOGIN"]
PLUS_MECHS = ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS"]
TRANSPORTS = [False, True]
TRANSPORT_IDS = ["starttls", "direct_tls"]
TLS12 = ssl.TLSVersion.TLSv1_2


@pytest.fixture(scope="module", autouse=True)
def setup(server):
    # Storage first, accounts after: CRAM-MD5/DIGEST-MD5/digest need the clear password.
    server.ctl_ok("domain", "set", "localhost", "password_storage=clear")
    server.add_account("alice@localhost", PW)
    server.ctl_ok("domain", "add", "nocram.test")
    server.ctl_ok("domain", "set", "nocram.test", "password_storage=clear",
                  "login_methods=" + NOCRAM_METHODS)
    server.add_account("bob@nocram.test", PW)
    server.ctl_ok("domain", "add", "scram.test")
    server.add_account("carol@scram.test", PW)


def legacy_fields(server, domain, user):
    c, _ = rawxmpp.connect(server, to=domain)
    r = c.iq("get", "<query xmlns='%s'><username>%s</username></query>" % (NS_IQAUTH, user),
             to=domain)
    c.close()
    assert r.get("type") == "result", dump(r)
    query = r.find(q(NS_IQAUTH, "query"))
    assert query is not None, dump(r)
    return {rawxmpp.local(c.tag) for c in query}


# ---- what is offered --------------------------------------------------------------------------

@pytest.mark.parametrize("direct", TRANSPORTS, ids=TRANSPORT_IDS)
def test_offered_mechanisms_clear_storage(server, direct):
    c, feats = rawxmpp.connect(server, direct_tls=direct)
    mechs = rawxmpp.mechanisms(feats)
    c.close()
    assert len(mechs) == len(set(mechs)), "duplicates: %s" % mechs
    assert set(mechs) == ALL_MECHS, "offered %s" % mechs


def test_channel_binding_types_tls13(server):
    c, feats = rawxmpp.connect(server)
    assert c.tls_version == "TLSv1.3"
    c.close()
    assert sorted(rawxmpp.cb_types(feats) or []) == ["tls-exporter", "tls-server-end-point"], \
        dump(feats)


def test_channel_binding_types_tls12(server):
    c, feats = rawxmpp.connect(server, direct_tls=True, tls_max=TLS12)
    assert c.tls_version == "TLSv1.2"
    c.close()
    assert sorted(rawxmpp.cb_types(feats) or []) == ["tls-server-end-point", "tls-unique"], \
        dump(feats)


def _conn_of(server, port):
    mine = [e for e in server.connections() if e.get("peer") == "[127.0.0.1]:%d" % port]
    assert len(mine) == 1, mine
    return mine[0]


def test_tls13_ticket_leaves_with_the_features(server):
    """A client whose Finished arrives alone (most do: the handshake, then the stream header)
    gets the session ticket in the same send as the features that answer its header, not in
    a send of its own; every later step of the login is one send for one request (issue 21)."""
    c = RawClient(server.port)
    c.open()
    c.send("<starttls xmlns='%s'/>" % rawxmpp.NS_TLS)
    c.expect(q(rawxmpp.NS_TLS, "proceed"))
    c._wrap_tls()
    assert c.tls_version == "TLSv1.3"
    time.sleep(0.3)  # the server has read the Finished, alone
    e = _conn_of(server, c.local_port)
    # features, <proceed/>, the handshake flight: no fourth send for the ticket alone.
    assert e["sends"] == 3 and e["receives"] >= 4, e
    feats = c.open()
    assert "SCRAM-SHA-1" in rawxmpp.mechanisms(feats)
    assert c.sock.session is not None and c.sock.session.has_ticket
    assert _conn_of(server, c.local_port)["sends"] == 4
    kind, _ = c.scram("SCRAM-SHA-256", "alice", PW)
    assert kind == "success"
    c.restart()
    c.bind("tickets")
    e = _conn_of(server, c.local_port)
    # challenge, success, features, bind result
    assert e["sends"] == 8, e
    c.close()


def test_domain_without_cram_offers_neither_cram_nor_digest(server):
    c, feats = rawxmpp.connect(server, to="nocram.test")
    mechs = rawxmpp.mechanisms(feats)
    c.close()
    assert set(mechs) == {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"}, mechs
    fields = legacy_fields(server, "nocram.test", "bob")
    assert "digest" not in fields, fields
    assert {"username", "password", "resource"} <= fields, fields


def test_scram_storage_offers_no_cram_or_digest_md5(server):
    c, feats = rawxmpp.connect(server, to="scram.test")
    mechs = rawxmpp.mechanisms(feats)
    c.close()
    assert "CRAM-MD5" not in mechs and "DIGEST-MD5" not in mechs, mechs
    assert {"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"} <= set(mechs), mechs
    fields = legacy_fields(server, "scram.test", "carol")
    assert "digest" not in fields, fields


def test_disallowed_mechanism_is_invalid_mechanism(server):
    c, _ = rawxmpp.connect(server, to="nocram.test")
    c.sasl_auth("SCRAM-SHA-1", scram.ScramClient("SCRAM-SHA-1", "bob", PW).first())
    kind, cond = c.sasl_next()
    c.close()
    assert (kind, cond) == ("failure", "invalid-mechanism")


# ---- slixmpp logins ---------------------------------------------------------------------------

@pytest.mark.parametrize("direct", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("mech", PLAIN_MECHS)
def test_login_slixmpp(server, mech, direct):
    r = slix.login_outcome(server, "alice@localhost/sl", PW, mech=mech, direct_tls=direct)
    assert mech in (r["mechs"] or []), "%s not offered: %s" % (mech, r["mechs"])
    assert r["outcome"] == "session", r
    assert r["jid"] == "alice@localhost/sl", r


@pytest.mark.parametrize("direct", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("mech", PLUS_MECHS)
def test_login_slixmpp_scram_plus_tls_unique(server, mech, direct):
    r = slix.login_outcome(server, "alice@localhost/plus", PW, mech=mech, direct_tls=direct,
                           tls_max=TLS12)
    assert r["tls"] == "TLSv1.2", r
    assert mech in (r["mechs"] or []), "%s not offered: %s" % (mech, r["mechs"])
    assert r["outcome"] == "session", r


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_login_slixmpp_other_domains(server, mech):
    r = slix.login_outcome(server, "carol@scram.test/x", PW, mech=mech)
    assert r["outcome"] == "session", r
    r = slix.login_outcome(server, "bob@nocram.test/x", PW,
                           mech=mech if mech != "SCRAM-SHA-512" else "SCRAM-SHA-256")
    assert r["outcome"] == "session", r


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-256", "DIGEST-MD5", "CRAM-MD5", "LOGIN"])
def test_wrong_password_slixmpp(server, mech):
    r = slix.login_outcome(server, "alice@localhost/w", PW + "x", mech=mech)
    assert r["outcome"] == "failed_auth", r
    assert r["condition"] == "not-authorized", r


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-512", "DIGEST-MD5"])
def test_unknown_user_slixmpp(server, mech):
    r = slix.login_outcome(server, "nobody@localhost/w", PW, mech=mech)
    assert r["outcome"] == "failed_auth", r
    assert r["condition"] == "not-authorized", r


# ---- SCRAM by hand: channel bindings ----------------------------------------------------------

CB_CASES = [
    ("tls-exporter", None, False),
    ("tls-server-end-point", None, False),
    ("tls-server-end-point", TLS12, True),
    ("tls-unique", TLS12, False),
    ("tls-unique", TLS12, True),
]


@pytest.mark.parametrize("mech", PLUS_MECHS)
@pytest.mark.parametrize("cb,tls_max,direct", CB_CASES,
                         ids=["exporter-1.3", "endpoint-1.3", "endpoint-1.2-direct",
                              "unique-1.2", "unique-1.2-direct"])
def test_scram_plus_by_hand(server, mech, cb, tls_max, direct):
    c, feats = rawxmpp.connect(server, direct_tls=direct, tls_max=tls_max)
    assert cb in (rawxmpp.cb_types(feats) or []), "%s not advertised: %s" % (cb, dump(feats))
    try:
        kind, verified = c.scram(mech, "alice", PW, cb_type=cb)
    except OSError as e:
        c.close()
        pytest.skip("channel binding data unavailable in this Python: %s" % e)
    assert kind == "success", "%s with %s failed: %s" % (mech, cb, verified)
    assert verified, "server signature (v=) did not verify"
    c.restart()
    assert c.bind("cb").startswith("alice@localhost/")
    c.close()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_without_binding_by_hand(server, mech):
    c, _ = rawxmpp.connect(server)
    kind, verified = c.scram(mech, "alice", PW)
    assert (kind, verified) == ("success", True)
    c.close()


def test_scram_plus_wrong_binding_data_fails(server):
    c, _ = rawxmpp.connect(server)
    kind, cond = c.scram("SCRAM-SHA-256-PLUS", "alice", PW, cb_type="tls-server-end-point",
                         cb_data=b"\0" * 32)
    c.close()
    assert (kind, cond) == ("failure", "not-authorized")


def test_scram_plus_binding_of_other_connection_fails(server):
    other, _ = rawxmpp.connect(server)
    try:
        data = scram.tls_exporter(other.sock)
    except OSError as e:
        other.close()
        pytest.skip("tls-exporter unavailable: %s" % e)
    c, _ = rawxmpp.connect(server)
    kind, cond = c.scram("SCRAM-SHA-512-PLUS", "alice", PW, cb_type="tls-exporter",
                         cb_data=data)
    other.close()
    c.close()
    assert (kind, cond) == ("failure", "not-authorized")


def test_scram_plus_unadvertised_binding_type_fails(server):
    c, feats = rawxmpp.connect(server)       # TLS 1.3: tls-unique is not offered
    assert "tls-unique" not in (rawxmpp.cb_types(feats) or [])
    kind, cond = c.scram("SCRAM-SHA-256-PLUS", "alice", PW, cb_type="tls-unique")
    c.close()
    assert kind == "failure", (kind, cond)


def test_scram_y_flag_rejected_when_plus_offered(server):
    # RFC 5802 section 6: "y" = client supports binding but thinks the server does not; a server
    # that offers -PLUS must then fail the exchange (downgrade detection).
    c, feats = rawxmpp.connect(server)
    assert "SCRAM-SHA-256-PLUS" in rawxmpp.mechanisms(feats)
    kind, cond = c.scram("SCRAM-SHA-256", "alice", PW, gs2_flag="y")
    c.close()
    assert kind == "failure", (kind, cond)


def test_scram_wrong_password_and_unknown_user_by_hand(server):
    for user, pw in (("alice", PW + "!"), ("ghost", PW)):
        c, _ = rawxmpp.connect(server)
        kind, cond = c.scram("SCRAM-SHA-256", user, pw)
        c.close()
        assert (kind, cond) == ("failure", "not-authorized"), (user, kind, cond)


def test_plain_wrong_password_and_unknown_user_by_hand(server):
    c, _ = rawxmpp.connect(server)
    assert c.plain("alice", "nope") == ("failure", "not-authorized")
    assert c.plain("ghost", PW) == ("failure", "not-authorized")
    c.close()


def test_postmaster_password_from_stdout(server):
    pw = server.postmaster_password
    assert pw, "no 'postmaster@localhost password: …' line on stdout: %r" % server.stdout_text()
    c, _ = rawxmpp.connect(server)
    assert c.plain("postmaster", pw) == ("success", b"")
    c.close()


def test_max_auth_failures_closes_stream(server):
    # Below the limit the stream stays usable ...
    c, _ = rawxmpp.connect(server)
    assert c.plain("alice", "bad1") == ("failure", "not-authorized")
    assert c.plain("alice", "bad2") == ("failure", "not-authorized")
    assert c.plain("alice", PW) == ("success", b"")
    c.close()
    # ... and the third failure (max_auth_failures=3) ends it.
    c, _ = rawxmpp.connect(server)
    for i in range(3):
        kind, cond = c.plain("alice", "bad%d" % i)
        assert (kind, cond) == ("failure", "not-authorized"), (i, kind, cond)
    assert c.wait_closed(5), "stream still open after 3 failures: %r" % bytes(c.raw)[-500:]
    c.close()


def test_auth_failure_delay_zero_is_fast(server):
    c, _ = rawxmpp.connect(server)
    t0 = time.monotonic()
    assert c.plain("alice", "bad")[0] == "failure"
    c.close()
    assert time.monotonic() - t0 < 1.5


# ---- legacy authentication (XEP-0078) ---------------------------------------------------------

def test_legacy_auth_fields_with_clear_storage(server):
    fields = legacy_fields(server, "localhost", "alice")
    assert fields == {"username", "password", "resource", "digest"}, fields


def legacy_set(c, inner, domain="localhost"):
    return c.iq("set", "<query xmlns='%s'>%s</query>" % (NS_IQAUTH, inner), to=domain)


def test_legacy_auth_plain(server):
    c, _ = rawxmpp.connect(server)
    r = legacy_set(c, "<username>alice</username><password>%s</password>"
                   "<resource>legacy</resource>" % PW)
    assert r.get("type") == "result", dump(r)
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    assert r.get("type") == "result", dump(r)
    c.send("<message to='alice@localhost/legacy' type='chat'><body>me</body></message>")
    m = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "message"), what="message to self")
    assert m.findtext(q(NS_CLIENT, "body")) == "me", dump(m)
    assert m.get("from") == "alice@localhost/legacy", dump(m)
    c.close()


def test_legacy_auth_digest(server):
    c, _ = rawxmpp.connect(server)
    assert c.stream_id
    digest = rawxmpp.legacy_digest(c.stream_id, PW)
    r = legacy_set(c, "<username>alice</username><digest>%s</digest>"
                   "<resource>legacyd</resource>" % digest)
    assert r.get("type") == "result", dump(r)
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    assert r.get("type") == "result", dump(r)
    c.close()


def test_legacy_auth_wrong_password(server):
    c, _ = rawxmpp.connect(server)
    r = legacy_set(c, "<username>alice</username><password>wrong</password>"
                   "<resource>legacy</resource>")
    c.close()
    assert r.get("type") == "error", dump(r)
    assert rawxmpp.stanza_error(r)[1] == "not-authorized", dump(r)


def test_legacy_auth_wrong_digest(server):
    c, _ = rawxmpp.connect(server)
    r = legacy_set(c, "<username>alice</username><digest>%s</digest><resource>l</resource>"
                   % rawxmpp.legacy_digest("other-id", PW))
    c.close()
    assert r.get("type") == "error", dump(r)
    assert rawxmpp.stanza_error(r)[1] == "not-authorized", dump(r)


def test_legacy_digest_refused_when_not_offered(server):
    c, _ = rawxmpp.connect(server, to="scram.test")
    r = legacy_set(c, "<username>carol</username><digest>%s</digest><resource>l</resource>"
                   % rawxmpp.legacy_digest(c.stream_id, PW), domain="scram.test")
    c.close()
    assert r.get("type") == "error", dump(r)


def test_legacy_auth_plain_on_scram_domain(server):
    c, _ = rawxmpp.connect(server, to="scram.test")
    r = legacy_set(c, "<username>carol</username><password>%s</password>"
                   "<resource>l</resource>" % PW, domain="scram.test")
    assert r.get("type") == "result", dump(r)
    c.close()


def test_plain_before_tls_is_encryption_required(server):
    c = RawClient(server.port)
    c.open()
    kind, cond = c.plain("alice", PW)
    c.close()
    assert (kind, cond) == ("failure", "encryption-required")
