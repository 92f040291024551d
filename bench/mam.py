"""mam.py: the message-archive benchmark (XEP-0313, issue 16) against Starling.

1. An archive of M messages across C conversations of one account (bench0 with bench-peer<k>),
   seeded straight into the store's tables with SQLite (the schema is the server's own: it is
   started once to create it), FTS index included.
2. Over XMPP (STARTTLS + PLAIN, one client): "the last 50 with X" for random X (p50/p99 of Q
   queries), paging back through 1,000 messages of one conversation (20 pages of 50, <before/>),
   and full-text queries (a word in about 1 message in 1,000).
3. Message throughput with archiving on and off (loadgen msg, archive.enabled yes/no).

Prints one Markdown table; --json FILE keeps the figures. --smoke: tiny sizes (bench-smoke)."""

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "tests", "integration"))
import benchlib  # noqa: E402
import rawxmpp  # noqa: E402
from rawxmpp import q  # noqa: E402

NS_MAM = "urn:xmpp:mam:2"
WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed",
         "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna"]
RARE = "zeppelin"  # in 1 message of 1,000


def seed(db, owner, messages, conversations):
    """Writes the archive rows; returns the seconds it took."""
    t0 = time.monotonic()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    base = int(time.time() * 1e6) - messages * 1000
    rnd = random.Random(16)

    def rows():
        for i in range(messages):
            peer = "bench-peer%d@localhost" % (i % conversations)
            words = [rnd.choice(WORDS) for _ in range(8)]
            if i % 1000 == 500:
                words[3] = RARE
            body = " ".join(words)
            out = i % 2 == 0
            frm, to = ((owner + "/r", peer) if out else (peer + "/phone", owner))
            stanza = ("<message xmlns='jabber:client' from='%s' to='%s' type='chat' id='%08x'>"
                      "<body>%s</body></message>" % (frm, to, i, body))
            yield (base + i * 1000, peer, "" if out else "phone", 1 if out else 0, stanza, body)
    # The archive's tables (schema version 2, docs/internals/archive.md): the owner and the
    # peers as integer keys, one stored stanza and one index row per message.
    con.execute("BEGIN")
    con.execute("INSERT INTO archive_jid(domain, name) VALUES ('localhost', ?)",
                (owner.split("@")[0],))
    own = con.execute("SELECT last_insert_rowid()").fetchone()[0]
    con.executemany("INSERT INTO archive_jid(domain, name) VALUES ('', ?)",
                    (("bench-peer%d@localhost" % p,) for p in range(conversations)))
    keys = dict(con.execute("SELECT name, id FROM archive_jid WHERE domain = ''"))
    for mid, peer, res, out, stanza, body in rows():
        con.execute("INSERT INTO archive_stanza(id, stanza, body) VALUES (?,?,?)",
                    (mid, stanza, body))
        con.execute("INSERT INTO archive_idx(id, owner, peer, peer_res, outgoing, sid)"
                    " VALUES (?,?,?,?,?,?)", (mid, own, keys[peer], res, out, mid))
    con.execute("COMMIT")
    # The server fills the full-text index in batches; a seed indexes everything at once.
    con.execute("INSERT INTO archive_fts(archive_fts) VALUES ('rebuild')")
    con.execute("UPDATE archive_fts_state SET done = (SELECT max(id) FROM archive_stanza)")
    con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return time.monotonic() - t0


def query(c, fields="", rsm=""):
    """One query; returns (seconds, results, fin)."""
    iq_id = uuid.uuid4().hex[:10]
    form = ""
    if fields:
        form = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
                "<value>%s</value></field>%s</x>" % (NS_MAM, fields))
    t0 = time.monotonic()
    c.send("<iq type='set' id='%s'><query xmlns='%s' queryid='%s'>%s%s</query></iq>"
           % (iq_id, NS_MAM, iq_id, form, rsm))
    results = []
    while True:
        el = c.next()
        if el.tag == q(rawxmpp.NS_CLIENT, "iq") and el.get("id") == iq_id:
            if el.get("type") != "result":
                raise benchlib.BenchError("query failed: %s" % rawxmpp.dump(el))
            return time.monotonic() - t0, results, el.find(q(NS_MAM, "fin"))
        r = el.find(q(NS_MAM, "result"))
        if r is not None:
            results.append(r.get("id"))


def field(var, value):
    return "<field var='%s'><value>%s</value></field>" % (var, value)


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))] * 1000


def queries(srv, conversations, nq):
    c = rawxmpp.login(srv, "bench0", benchlib.PASSWORD, resource="mam")
    out = {}
    rnd = random.Random(7)
    for _ in range(5):  # warm the page cache and the statements
        query(c, field("with", "bench-peer0@localhost"), "<set xmlns='%s'><max>50</max><before/>"
              "</set>" % rawxmpp_ns_rsm())
    lat = []
    for _ in range(nq):
        x = "bench-peer%d@localhost" % rnd.randrange(conversations)
        t, res, fin = query(c, field("with", x), "<set xmlns='%s'><max>50</max><before/></set>"
                            % rawxmpp_ns_rsm())
        if len(res) != min(50, srv.per_conversation):
            raise benchlib.BenchError("last 50 with %s: %d results" % (x, len(res)))
        lat.append(t)
    out["last50_p50_ms"] = pct(lat, 50)
    out["last50_p99_ms"] = pct(lat, 99)
    # Paging back through 1,000 messages of one conversation.
    x = "bench-peer1@localhost"
    before = ""
    got = 0
    t0 = time.monotonic()
    pages = []
    while got < min(1000, srv.per_conversation):
        rsm = "<set xmlns='%s'><max>50</max>%s</set>" % (
            rawxmpp_ns_rsm(), "<before>%s</before>" % before if before else "<before/>")
        t, res, fin = query(c, field("with", x), rsm)
        if not res:
            break
        pages.append(t)
        got += len(res)
        before = res[0]
    out["page_back_msgs"] = got
    out["page_back_total_ms"] = (time.monotonic() - t0) * 1000
    out["page_back_p99_ms"] = pct(pages, 99)
    # Full-text: a rare word over the whole archive (last 50 matches), and with one peer.
    ft = []
    for _ in range(max(5, nq // 10)):
        t, res, fin = query(c, field("{urn:xmpp:fulltext:0}fulltext", RARE),
                            "<set xmlns='%s'><max>50</max><before/></set>" % rawxmpp_ns_rsm())
        ft.append(t)
    out["fulltext_p50_ms"] = pct(ft, 50)
    out["fulltext_p99_ms"] = pct(ft, 99)
    out["fulltext_hits"] = len(res)
    if not res:
        raise benchlib.BenchError("full-text query: no result")
    ftw = []
    for i in range(max(5, nq // 10)):
        t, res, fin = query(c, field("with", "bench-peer%d@localhost" % (500 % conversations)) +
                            field("{urn:xmpp:fulltext:0}fulltext", "lorem ipsum"),
                            "<set xmlns='%s'><max>50</max><before/></set>" % rawxmpp_ns_rsm())
        ftw.append(t)
    out["fulltext_with_p50_ms"] = pct(ftw, 50)
    c.close()
    return out


def rawxmpp_ns_rsm():
    return "http://jabber.org/protocol/rsm"


def throughput(build, work, secs, enabled):
    loadgen = os.path.join(build, "loadgen")
    d = os.path.join(work, "tp-%s" % enabled)
    os.makedirs(d, exist_ok=True)
    srv = benchlib.Starling(d, build)
    try:
        srv.start(benchlib.bench_cert(work), {"server.workers": "2",
                                              "archive.enabled": enabled})
        srv.provision(200)
        rc, res, err = benchlib.run_loadgen(loadgen, srv, ["-s", "msg", "-n", "100", "-w", "10",
                                                           "-t", str(secs), "--warmup", "1"],
                                            secs + 30)
        if rc != 0 or "delivered_per_s" not in res:
            raise benchlib.BenchError("loadgen msg (archive %s): %s" % (enabled, err[-500:]))
        return float(res["delivered_per_s"]), float(res.get("lat_p99_ms", 0))
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(benchlib.REPO, "build"))
    ap.add_argument("--messages", type=int, default=1000000)
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--msg-secs", type=int, default=15)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.smoke:
        a.messages, a.conversations, a.queries, a.msg_secs = 2000, 10, 10, 0
    work = tempfile.mkdtemp(prefix="starling-bench-mam-")
    res = {"messages": a.messages, "conversations": a.conversations}
    srv = None
    try:
        srv = benchlib.Starling(work, a.build)
        srv.start(benchlib.bench_cert(work), {"server.workers": "2"})
        srv.provision(1)
        srv.stop()
        res["seed_s"] = seed(os.path.join(srv.datadir, "starling.db"), "bench0@localhost",
                             a.messages, a.conversations)
        srv.per_conversation = a.messages // a.conversations
        srv.start(benchlib.bench_cert(work), {"server.workers": "2"})
        res.update(queries(srv, a.conversations, a.queries))
        srv.stop()
        srv = None
        if a.msg_secs:
            on = throughput(a.build, work, a.msg_secs, "yes")
            off = throughput(a.build, work, a.msg_secs, "no")
            res["msg_on_per_s"], res["msg_on_p99_ms"] = on
            res["msg_off_per_s"], res["msg_off_p99_ms"] = off
            res["archive_cost_pct"] = 100.0 * (off[0] - on[0]) / off[0]
    except benchlib.BenchError as e:
        print("mam bench: %s" % e, file=sys.stderr)
        return 1
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("| figure | value |\n|---|---|")
    for k, v in res.items():
        print("| %s | %s |" % (k, ("%.2f" % v) if isinstance(v, float) else v))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
