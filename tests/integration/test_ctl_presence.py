"""test_ctl_presence.py: `starlingctl presence ACCOUNT` shows the aggregated presence computed on
the account's home worker: each resource with show/status/priority, or unavailable with the
last seen time and status."""

import json
import re

from imclient import fresh, login, is_presence


def test_presence_online_and_last_seen(server):
    u = fresh(server, "cp")
    jid = "%s@localhost" % u
    out = server.ctl_ok("presence", jid)
    assert out.startswith("%s unavailable" % jid), out
    a = login(server, u, "desk", presence="<show>away</show><status>lunch</status>"
                                          "<priority>3</priority>")
    b = login(server, u, "phone")
    try:
        data = json.loads(server.ctl_ok("presence", jid, "--json"))
        assert data["available"] is True, data
        res = {r["resource"]: r for r in data["resources"]}
        assert res["desk"]["show"] == "away" and res["desk"]["status"] == "lunch", data
        assert res["desk"]["priority"] == 3, data
        assert res["phone"]["available"] is False, data
        text = server.ctl_ok("presence", jid)
        assert text.splitlines()[0] == "%s available" % jid, text
        assert "desk show=away priority=3 status=lunch" in text, text
        a.send("<presence type='unavailable'><status>home now</status></presence>")
        a.wait_for(lambda e: is_presence(e, frm=a.jid, type_="unavailable"), what="echo")
    finally:
        a.close()
        b.close()
    data = json.loads(server.ctl_ok("presence", jid, "--json"))
    assert data["available"] is False, data
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["last_seen"]), data
    assert data["last_status"] == "home now", data
    text = server.ctl_ok("presence", jid)
    assert re.match(r"%s unavailable \(last seen \S+: home now\)" % re.escape(jid), text), text


def test_presence_unknown_account_and_usage(server):
    r = server.ctl("presence", "nobody-at-all@localhost")
    assert r.returncode == 1 and "unknown account" in r.stderr, (r.stdout, r.stderr)
    r = server.ctl("presence")
    assert r.returncode == 2, (r.stdout, r.stderr)
