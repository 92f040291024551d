"""test_sasl2.py: XEP-0388 SASL2, XEP-0386 Bind 2 (carbons inline), XEP-0484 FAST tokens and
XEP-0474 SSDP by raw socket (sasl2.py), with the bad-input cases of issue 18."""

import ssl
import time
import uuid

import pytest

import rawxmpp
import sasl2
from rawxmpp import NS_BIND, NS_CLIENT, NS_STREAM, q
from sasl2 import NS_CARBONS, NS_SASL2, authenticate_xml, next_sasl2

PW = "Sasl2-pa55"
BIND_CARBONS = "<tag>Tester</tag><enable xmlns='%s'/>" % NS_CARBONS


@pytest.fixture(scope="module", autouse=True)
def accounts(server):
    for name in ("alice", "bob", "carol", "dave", "erin", "frank", "gone"):
        server.add_account("%s@localhost" % name, PW)


def tls_client(server, tls_max=None):
    c, feats = rawxmpp.connect(server, tls_max=tls_max)
    return c, sasl2.Offer(feats)


def scram_bind(server, user, agent=None, bind=BIND_CARBONS, request_token=None,
               mech="SCRAM-SHA-256", tls_max=None):
    c, offer = tls_client(server, tls_max=tls_max)
    r = sasl2.scram_login(c, offer, mech, user, PW, agent=agent, software="pytest",
                          device="ci box", bind=bind, request_token=request_token)
    assert r.kind == "success", rawxmpp.dump(r.el)
    assert r.verified
    return c, r


def ping(c):
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>")
    assert r.get("type") == "result", rawxmpp.dump(r)


def test_offer_lists_mechanisms_bind2_and_fast(server):
    c, offer = tls_client(server, tls_max=ssl.TLSVersion.TLSv1_3)
    feats_mechs = offer.mechanisms
    assert "SCRAM-SHA-256" in feats_mechs and "SCRAM-SHA-256-PLUS" in feats_mechs
    assert NS_CARBONS in offer.bind2
    assert "HT-SHA-256-NONE" in offer.fast and "HT-SHA-256-ENDP" in offer.fast
    assert "HT-SHA-256-EXPR" in offer.fast and "HT-SHA-256-UNIQ" not in offer.fast
    c.close()


def test_not_offered_before_tls(server):
    c = rawxmpp.RawClient(server.port)
    feats = c.open()
    assert feats.find(q(NS_SASL2, "authentication")) is None
    c.close()


def test_scram_bind2_with_carbons_inline(server):
    agent = str(uuid.uuid4())
    a, r = scram_bind(server, "alice", agent=agent)
    jid = r.jid
    assert jid.startswith("alice@localhost/Tester.") and len(jid.split(".")[-1]) == 8, jid
    assert r.bound is not None
    ping(a)
    # Carbons are on: a message bob sends to alice's other resource is copied to this one.
    other = rawxmpp.login(server, "alice", PW, resource="other")
    bob = rawxmpp.login(server, "bob", PW, resource="b")
    bob.send("<message to='alice@localhost/other' type='chat' id='m1'><body>hi</body></message>")
    got = other.wait_for(lambda e: e.tag == q(NS_CLIENT, "message"))
    assert got.find(q(NS_CLIENT, "body")).text == "hi"
    carbon = a.wait_for(lambda e: e.tag == q(NS_CLIENT, "message"), what="a carbon")
    assert carbon.find(q(NS_CARBONS, "received")) is not None, rawxmpp.dump(carbon)
    # The same device gets the same resource again (and replaces the old session).
    a2, r2 = scram_bind(server, "alice", agent=agent)
    assert r2.jid == jid
    assert a.stream_error() == "conflict"
    for c in (a2, other, bob):
        c.close()


def test_without_bind2_the_stream_goes_on_to_resource_binding(server):
    c, r = scram_bind(server, "carol", bind=None, mech="SCRAM-SHA-1")
    assert r.jid == "carol@localhost"
    feats = c.expect(q(NS_STREAM, "features"))
    assert feats.find(q(NS_BIND, "bind")) is not None
    assert c.bind("classic") == "carol@localhost/classic"
    ping(c)
    c.close()


def test_plus_with_channel_binding_and_plain(server):
    c, offer = tls_client(server)
    r = sasl2.scram_login(c, offer, "SCRAM-SHA-512-PLUS", "dave", PW,
                          cb_type="tls-server-end-point", bind="")
    assert r.kind == "success" and r.verified and r.jid.startswith("dave@localhost/starling.")
    c.close()
    c, offer = tls_client(server)
    c.send(authenticate_xml("PLAIN", b"\0dave\0" + PW.encode()))
    kind, el = next_sasl2(c)
    assert kind == "success"
    c.close()


def test_wrong_password_fails_with_text_free_failure(server):
    c, offer = tls_client(server)
    r = sasl2.scram_login(c, offer, "SCRAM-SHA-256", "dave", "wrong")
    assert r.kind == "failure" and r.condition == "not-authorized"
    assert sasl2.failure_text(r.el) is None  # nothing that tells a wrong password apart
    # The stream stays usable for another attempt.
    r = sasl2.scram_login(c, offer, "SCRAM-SHA-256", "dave", PW)
    assert r.kind == "success"
    c.close()


def test_ssdp_detects_a_stripped_mechanism_list(server):
    c, offer = tls_client(server)
    r = sasl2.scram_login(c, offer, "SCRAM-SHA-256", "dave", PW, ssdp_check=False)
    assert r.kind == "success"
    assert r.d == sasl2.ssdp_d("SCRAM-SHA-256", offer.mechanisms, offer.cb_types)
    # What a client would have seen behind a man in the middle stripping -PLUS and the
    # channel-binding list: the hash no longer matches, so the client aborts.
    stripped = [m for m in offer.mechanisms if not m.endswith("-PLUS")]
    assert r.d != sasl2.ssdp_d("SCRAM-SHA-256", stripped, None)
    assert r.d != sasl2.ssdp_d("SCRAM-SHA-256", offer.mechanisms, ["tls-server-end-point"])
    c.close()


def test_legacy_sasl_scram_has_no_ssdp(server):
    c, feats = rawxmpp.connect(server)
    import scram
    client = scram.ScramClient("SCRAM-SHA-256", "dave", PW)
    c.sasl_auth("SCRAM-SHA-256", client.first())
    kind, data = c.sasl_next()
    assert kind == "challenge" and b",d=" not in data
    c.close()


def fast_token(server, user, agent, mech="HT-SHA-256-NONE"):
    c, r = scram_bind(server, user, agent=agent, request_token=mech)
    token, expiry = r.token
    assert token and len(token) >= 64 and expiry and expiry.endswith("Z"), rawxmpp.dump(r.el)
    c.close()
    return token


@pytest.mark.parametrize("mech", ["HT-SHA-256-NONE", "HT-SHA-256-ENDP", "HT-SHA-256-EXPR"])
def test_fast_token_then_one_round_trip_login(server, mech):
    agent = str(uuid.uuid4())
    token = fast_token(server, "erin", agent, mech)
    c, offer = tls_client(server, tls_max=ssl.TLSVersion.TLSv1_3)
    assert mech in offer.fast
    # One round trip: <authenticate/> with the token and Bind 2, answered by <success/>.
    r = sasl2.fast_login(c, mech, "erin", token, agent, bind=BIND_CARBONS)
    assert r.kind == "success", rawxmpp.dump(r.el)
    assert r.verified and r.jid.startswith("erin@localhost/Tester.")
    ping(c)
    c.close()


def test_fast_token_bound_to_agent_and_secret(server):
    agent = str(uuid.uuid4())
    token = fast_token(server, "erin", agent)
    c, _ = tls_client(server)
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", "erin", token, str(uuid.uuid4()))
    assert r.kind == "failure" and r.condition == "not-authorized"
    # Another secret: the last character changed to one it is not (an "x" kept it the same
    # when the token happened to end with one).
    other = token[:-1] + ("x" if token[-1] != "x" else "y")
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", "erin", other, agent)
    assert r.kind == "failure" and r.condition == "not-authorized"
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", "erin", token, agent)
    assert r.kind == "success"
    c.close()


def test_fast_token_refused_after_password_change(server):
    agent = str(uuid.uuid4())
    token = fast_token(server, "frank", agent)
    server.ctl_ok("account", "passwd", "frank@localhost", PW)
    c, _ = tls_client(server)
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", "frank", token, agent)
    assert r.kind == "failure" and r.condition == "not-authorized"
    c.close()


def test_fast_count_replay_and_rotation(server):
    agent = str(uuid.uuid4())
    old = fast_token(server, "frank", agent)
    c, _ = tls_client(server)
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", "frank", old, agent, fast={"count": "5"},
                         request_token="HT-SHA-256-NONE")
    assert r.kind == "success"
    new, _ = r.token
    assert new and new != old
    c.close()
    c, _ = tls_client(server)
    # The same count again is a replay.
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", "frank", old, agent, fast={"count": "5"})
    assert r.kind == "failure"
    # The old token still works until the new one is used; then it is gone.
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", "frank", old, agent, fast={"count": "6"})
    assert r.kind == "success"
    c.close()
    c, _ = tls_client(server)
    assert sasl2.fast_login(c, "HT-SHA-256-NONE", "frank", new, agent).kind == "success"
    c.close()
    c, _ = tls_client(server)
    assert sasl2.fast_login(c, "HT-SHA-256-NONE", "frank", old, agent,
                            fast={"count": "7"}).kind == "failure"
    c.close()


def test_fast_token_gone_with_the_account(server):
    agent = str(uuid.uuid4())
    token = fast_token(server, "gone", agent)
    server.ctl_ok("account", "remove", "gone@localhost")
    server.add_account("gone@localhost", PW)
    c, _ = tls_client(server)
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", "gone", token, agent)
    assert r.kind == "failure" and r.condition == "not-authorized"
    c.close()


BAD = [
    ("unknown mechanism", authenticate_xml("X-NOPE", b"abc"), "invalid-mechanism"),
    ("no mechanism", "<authenticate xmlns='%s'/>" % NS_SASL2, "invalid-mechanism"),
    ("bad base64", "<authenticate xmlns='%s' mechanism='PLAIN'><initial-response>@@@"
     "</initial-response></authenticate>" % NS_SASL2, "incorrect-encoding"),
    ("response first", "<response xmlns='%s'>AAAA</response>" % NS_SASL2, "malformed-request"),
    ("next task first", "<next xmlns='%s' task='X'/>" % NS_SASL2, "malformed-request"),
    ("task-data first", "<task-data xmlns='%s'/>" % NS_SASL2, "malformed-request"),
    ("unknown element", "<whatever xmlns='%s'/>" % NS_SASL2, "malformed-request"),
    ("HT without initial response", authenticate_xml("HT-SHA-256-NONE", agent="x"),
     "malformed-request"),
    ("HT without user agent", authenticate_xml("HT-SHA-256-NONE", b"erin\0" + b"x" * 32),
     "malformed-request"),
    ("HT short", authenticate_xml("HT-SHA-256-NONE", b"erin\0xx", agent="x"),
     "malformed-request"),
    ("empty agent id", authenticate_xml("PLAIN", b"\0erin\0" + PW.encode(), agent=""),
     "malformed-request"),
    ("long agent id", authenticate_xml("PLAIN", b"\0erin\0" + PW.encode(), agent="a" * 200),
     "malformed-request"),
    ("token for no mechanism", authenticate_xml("PLAIN", b"\0erin\0" + PW.encode(), agent="a",
                                                request_token="HT-MD5"), "malformed-request"),
    ("token without agent", authenticate_xml("PLAIN", b"\0erin\0" + PW.encode(),
                                             request_token="HT-SHA-256-NONE"),
     "malformed-request"),
]


@pytest.mark.parametrize("what,xml,cond", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_failure(server, what, xml, cond):
    c, _ = tls_client(server)
    c.send(xml)
    kind, el = next_sasl2(c)
    assert kind == "failure" and sasl2.failure_condition(el) == cond, rawxmpp.dump(el)
    # Still a working stream: a good login follows.
    c.send(authenticate_xml("PLAIN", b"\0erin\0" + PW.encode(), bind=""))
    kind, el = next_sasl2(c)
    assert kind == "success", rawxmpp.dump(el)
    ping(c)
    c.close()


def test_second_authenticate_during_exchange_and_abort(server):
    c, _ = tls_client(server)
    import scram
    client = scram.ScramClient("SCRAM-SHA-256", "erin", PW)
    c.send(authenticate_xml("SCRAM-SHA-256", client.first()))
    kind, _ = next_sasl2(c)
    assert kind == "challenge"
    c.send(authenticate_xml("PLAIN", b"\0erin\0" + PW.encode()))
    kind, el = next_sasl2(c)
    assert kind == "failure" and sasl2.failure_condition(el) == "malformed-request"
    client = scram.ScramClient("SCRAM-SHA-256", "erin", PW)
    c.send(authenticate_xml("SCRAM-SHA-256", client.first()))
    assert next_sasl2(c)[0] == "challenge"
    c.send("<abort xmlns='%s'/>" % NS_SASL2)
    kind, el = next_sasl2(c)
    assert kind == "failure" and sasl2.failure_condition(el) == "aborted"
    c.close()


def test_no_crash_on_garbage_after_success(server):
    c, r = scram_bind(server, "erin", bind=None)
    c.expect(q(NS_STREAM, "features"))
    c.send(authenticate_xml("PLAIN", b"\0erin\0" + PW.encode()))
    assert c.stream_error() == "unsupported-stanza-type"
    assert server.running()


def test_devices_listed_and_revoked(server):
    import json
    agent = str(uuid.uuid4())
    token = fast_token(server, "bob", agent)
    rows = [json.loads(l) for l in server.ctl_ok("account", "devices", "bob@localhost").splitlines()]
    mine = [r for r in rows if r["agent"] == agent]
    assert mine and mine[0]["software"] == "pytest" and mine[0]["device"] == "ci box"
    assert mine[0]["tokens"] == 1 and mine[0]["token_expires"] > time.time()
    out = server.ctl_ok("account", "revoke-device", "bob@localhost", agent)
    assert "revoked = 1" in out
    c, _ = tls_client(server)
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", "bob", token, agent)
    assert r.kind == "failure" and r.condition == "not-authorized"
    c.close()
    rows = [json.loads(l) for l in server.ctl_ok("account", "devices", "bob@localhost").splitlines()]
    assert agent not in [r["agent"] for r in rows]


def test_user_lists_and_revokes_own_devices_by_adhoc(server):
    NS_CMD = "http://jabber.org/protocol/commands"
    NS_DATA = "jabber:x:data"
    agent = str(uuid.uuid4())
    token = fast_token(server, "carol", agent)
    c = rawxmpp.login(server, "carol", PW, resource="adhoc")
    r = c.iq("set", "<command xmlns='%s' node='devices' action='execute'/>" % NS_CMD,
             to="localhost")
    assert r.get("type") == "result", rawxmpp.dump(r)
    items = r.findall(".//{%s}item" % NS_DATA)
    rows = [{f.get("var"): f.findtext("{%s}value" % NS_DATA) for f in it} for it in items]
    mine = [x for x in rows if x["agent"] == agent]
    assert mine and mine[0]["software"] == "pytest" and mine[0]["fast-token-until"].endswith("Z")
    r = c.iq("set", "<command xmlns='%s' node='revoke-device' action='execute'/>" % NS_CMD,
             to="localhost")
    sid = r.find("{%s}command" % NS_CMD).get("sessionid")
    r = c.iq("set", "<command xmlns='%s' node='revoke-device' sessionid='%s'><x xmlns='%s' "
             "type='submit'><field var='agent'><value>%s</value></field></x></command>"
             % (NS_CMD, sid, NS_DATA, agent), to="localhost")
    assert "1 login token(s) revoked" in rawxmpp.dump(r)
    c.close()
    c, _ = tls_client(server)
    r = sasl2.fast_login(c, "HT-SHA-256-NONE", "carol", token, agent)
    assert r.kind == "failure" and r.condition == "not-authorized"
    c.close()


def test_pipelined_stanzas_after_fast_authenticate(server):
    # A reconnecting client sends its first stanzas with <authenticate/> (no round trip): they
    # are handled after the success, on the account's worker.
    agent = str(uuid.uuid4())
    token = fast_token(server, "dave", agent)
    for _ in range(4):  # different connections land on different workers
        c, _ = tls_client(server)
        c.send(authenticate_xml("HT-SHA-256-NONE", sasl2.ht_initial("dave", token), agent=agent,
                                bind=BIND_CARBONS, fast={})
               + "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq><presence/>")
        kind, el = next_sasl2(c)
        assert kind == "success", rawxmpp.dump(el)
        r = c.wait_for(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "p1")
        assert r.get("type") == "result"
        c.close()
