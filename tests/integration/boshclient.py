"""boshclient.py: a small XEP-0124/0206 client (stdlib) for protocol tests: one request at a
time over keep-alive HTTP/1.1 connections, the payload of each answer parsed."""

import base64
import http.client
import random
import xml.etree.ElementTree as ET

NS_HTTPBIND = "http://jabber.org/protocol/httpbind"
NS_XBOSH = "urn:xmpp:xbosh"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_STREAM = "http://etherx.jabber.org/streams"


def q(ns, name):
    return "{%s}%s" % (ns, name)


class BoshClient:
    def __init__(self, port, to="localhost", wait=2, timeout=10):
        self.port = port
        self.to = to
        self.wait = wait
        self.timeout = timeout
        self.rid = random.randint(1 << 20, 1 << 30)
        self.sid = None
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.inbox = []

    def post(self, payload="", attrs=None, rid=None):
        """Sends one <body/>; returns (HTTP status, the answer's <body/> element)."""
        self.rid = rid if rid is not None else self.rid + 1
        a = {"rid": str(self.rid)}
        if self.sid:
            a["sid"] = self.sid
        a.update(attrs or {})
        text = "<body xmlns='%s' xmlns:xmpp='%s'%s>%s</body>" % (
            NS_HTTPBIND, NS_XBOSH, "".join(" %s='%s'" % kv for kv in a.items()), payload)
        self.conn.request("POST", "/http-bind", body=text.encode(),
                          headers={"Content-Type": "text/xml; charset=utf-8"})
        res = self.conn.getresponse()
        data = res.read()
        self.last_headers = res.getheaders()
        if res.status != 200:
            return res.status, None
        body = ET.fromstring(data)
        self.inbox.extend(list(body))
        return res.status, body

    def create(self):
        status, body = self.post(attrs={"to": self.to, "wait": str(self.wait), "hold": "1",
                                        "ver": "1.6", "xmpp:version": "1.0",
                                        "xml:lang": "en"})
        assert status == 200, status
        self.sid = body.get("sid")
        assert self.sid, ET.tostring(body)
        return body

    def next(self, pred=lambda e: True, tries=10):
        """The next payload element matching pred, polling with empty requests."""
        for _ in range(tries):
            for i, el in enumerate(self.inbox):
                if pred(el):
                    return self.inbox.pop(i)
            status, body = self.post()
            assert status == 200 and body.get("type") != "terminate", ET.tostring(body)
        raise AssertionError("no matching element; have %s" % [e.tag for e in self.inbox])

    def login(self, user, password, resource="bosh"):
        self.create()
        self.next(lambda e: e.tag == q(NS_STREAM, "features"))
        cred = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        self.post("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, cred))
        self.next(lambda e: e.tag == q(NS_SASL, "success"))
        self.post(attrs={"xmpp:restart": "true", "to": self.to})
        self.next(lambda e: e.tag == q(NS_STREAM, "features"))
        self.post("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='%s'>"
                  "<resource>%s</resource></bind></iq>" % (NS_BIND, resource))
        iq = self.next(lambda e: e.get("id") == "b1")
        assert iq.get("type") == "result", ET.tostring(iq)
        self.jid = iq.find(".//" + q(NS_BIND, "jid")).text
        return self.jid
