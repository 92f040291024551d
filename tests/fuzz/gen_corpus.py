#!/usr/bin/env python3
"""gen_corpus.py: writes the committed seed corpus of the fuzz targets (tests/fuzz/corpus/).

Run from anywhere: python3 tests/fuzz/gen_corpus.py. The SCRAM seeds are complete successful
exchanges computed for the fixed account of fuzz_sasl.c (keep the constants below in step).
"""
import base64
import hashlib
import hmac
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# fuzz_sasl.c constants.
F_TLS, F_CB, F_SECURE_REQUIRED, F_DISABLED = 1, 2, 4, 8
F_CLEAR_ONLY, F_SCRAM_ONLY, F_NO_INITIAL, F_STORE_DOWN = 16, 32, 64, 128
SEP = b"\x1e"
PASSWORD = b"pencil"
SALT = b"starling-fuzz-16"
ITERATIONS = 64
SERVER_NONCE = "fuzzserverNONCE"
CB_BYTES = [bytes(0x40 + 16 * t + i for i in range(32)) for t in range(3)]  # unique, exporter, sep
HASHES = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}


def b64(data):
    return base64.b64encode(data).decode()


def scram_exchange(hash_name, gs2=b"n,,", cb_data=b"", cnonce="rOprNGfwEbeRWgbNEkqO"):
    """client-first and client-final of a successful exchange with the fuzz account."""
    h = HASHES[hash_name]
    first_bare = "n=user,r=" + cnonce
    server_first = "r=%s%s,s=%s,i=%d" % (cnonce, SERVER_NONCE, b64(SALT), ITERATIONS)
    final_wo_proof = "c=%s,r=%s%s" % (b64(gs2 + cb_data), cnonce, SERVER_NONCE)
    salted = hashlib.pbkdf2_hmac(h, PASSWORD, SALT, ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", h).digest()
    stored_key = hashlib.new(h, client_key).digest()
    auth_message = ",".join([first_bare, server_first, final_wo_proof]).encode()
    signature = hmac.new(stored_key, auth_message, h).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    return gs2 + first_bare.encode(), (final_wo_proof + ",p=" + b64(proof)).encode()


def creds_text(password, hashes=("SHA-1", "SHA-256", "SHA-512"), iterations=4096,
               salt=b"0123456789abcdef"):
    fields = ["clear=" + b64(password)] if password is not None else []
    for name in hashes:
        h = HASHES[name]
        salted = hashlib.pbkdf2_hmac(h, password or b"x", salt, iterations)
        client_key = hmac.new(salted, b"Client Key", h).digest()
        stored = hashlib.new(h, client_key).digest()
        server = hmac.new(salted, b"Server Key", h).digest()
        fields.append("scram-%s=%d:%s:%s:%s" % (name.lower(), iterations, b64(salt), b64(stored),
                                                b64(server)))
    return ";".join(fields).encode()


STREAM_OPEN = (b"<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' "
               b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>")
C2S_SESSION = (
    STREAM_OPEN
    + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    + STREAM_OPEN
    + b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
      b"biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=</auth>\n"
    + STREAM_OPEN
    + b"<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
      b"<resource>balcony</resource></bind></iq>\n  \n"
      b"<presence><show>away</show><status xml:lang='fr'>absent &amp; occup\xc3\xa9</status>"
      b"<priority>5</priority></presence>"
      b"<message to='romeo@example.net/orchard' type='chat' id='m1'>"
      b"<body>Art thou not Romeo, and a Montague? &lt;3 &#x263A; &#9731;</body>"
      b"<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>"
      b"<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
      b"<iq type='get' id='p1' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>"
      b"</stream:stream>"
)
S2S_SESSION = (
    b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
    b"xmlns:db='jabber:server:dialback' from='example.net' to='example.com' version='1.0'>"
    b"<db:result from='example.net' to='example.com'>b4835385f37fe2895af6c196b59097b16862406db80559"
    b"</db:result><db:verify from='example.com' to='example.net' id='417GAF25'>key</db:verify>"
    b"<message from='a@example.net' to='b@example.com'><body>hi</body></message>"
    b"<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
    b"</stream:error></stream:stream>"
)
NAMESPACES = (
    STREAM_OPEN
    + b"<message xmlns:x='urn:example:x' x:attr='1' xml:lang='de'>"
      b"<x:data x:kind=\"quoted 'value'\" plain='a&#10;b&#9;c&#13;'>"
      b"<![CDATA[<not a tag> & raw]]>text<y xmlns='urn:example:y' xmlns:z='urn:z' z:a='1' z:b='2'/>"
      b"</x:data><body xmlns=''>no namespace</body></message>"
      b"<iq type='result' id='v1'><query xmlns='jabber:iq:version'><name>Starling</name>"
      b"<version>0.1</version></query></iq>"
)


def header(slices=(0, 0, 0, 0), stop=0, suspend=0):
    return bytes(list(slices) + [stop, suspend])


def xml_seeds():
    big = b"A" * 5000
    deep = b"".join(b"<e%d>" % i for i in range(20)) + b"".join(
        b"</e%d>" % i for i in reversed(range(20)))
    return {
        "c2s-whole": header() + C2S_SESSION,
        "c2s-bytewise": header((1, 1, 1, 1)) + C2S_SESSION,
        "c2s-restarts": header((0, 0, 0, 0), stop=0x06) + C2S_SESSION,
        "c2s-suspend-slices": header((7, 13, 0xF1, 3), suspend=0x5A) + C2S_SESSION,
        "s2s-dialback": header((64, 0, 0, 0), stop=0x80, suspend=0x01) + S2S_SESSION,
        "namespaces": header((5, 200, 0, 1)) + NAMESPACES,
        "too-large": header((0xF2, 0, 0, 0)) + STREAM_OPEN + b"<message><body>" + big
        + b"</body></message>",
        "too-deep": header() + STREAM_OPEN + b"<iq>" + deep + b"</iq>",
        "restricted": header((3, 0, 0, 0)) + STREAM_OPEN
        + b"<!-- c --><?pi x?><message><body>&unknown;</body></message>",
        "doctype": header() + b"<?xml version='1.0' encoding='ISO-8859-1'?><!DOCTYPE x [<!ENTITY a "
        b"'b'>]><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
    }


def jid_seeds():
    return {
        "full": b"juliet@example.com/balcony",
        "domain": b"example.com",
        "case": b"Romeo@Example.NET./Orchard Wall",
        "ipv6": b"user@[2001:DB8:0:0::1]/res",
        "ipv4": b"192.168.0.1",
        "unicode": "ñandú@señor.example/Ñ 🎉 ǅ".encode(),
        "separators": b"a@b@c.example/d/e@f",
        "idn": b"user@xn--bcher-kva.example/\xef\xbc\x8fslash",
        "fullwidth": "ｕｓｅｒ@ＥＸＡＭＰＬＥ．ｃｏｍ/ｒｅｓ".encode(),
    }


def sasl_seeds():
    seeds = {
        "plain": bytes([F_TLS]) + b"\0user\0pencil",
        "plain-authzid": bytes([0]) + b"user@example.com\0user@example.com\0pencil",
        "plain-secure": bytes([F_SECURE_REQUIRED | F_SCRAM_ONLY]) + b"\0user\0pencil",
        "login": bytes([F_NO_INITIAL | F_TLS]) + b"user" + SEP + b"pencil",
        "external": bytes([F_TLS | F_CB]) + b"user@example.com",
        "digest-md5": bytes([F_NO_INITIAL | F_CLEAR_ONLY]) + b'username="user",realm="example.com",'
        b'nonce="OA6MG9tEQGm2hh",cnonce="OA6MHXh6VqTrRk",nc=00000001,qop=auth,'
        b'digest-uri="xmpp/example.com",response=d388dad90d4bbd760a152321f2143af7,charset=utf-8'
        + SEP,
        "cram-md5": bytes([F_NO_INITIAL]) + b"user b913a602c7eda7a495b4e6e7334d3890",
        "scram-y-authzid": bytes([0]) + b"y,a=admin@example.com,n=user,r=abc" + SEP
        + b"c=" + b64(b"y,a=admin@example.com,").encode() + b",r=abc" + SERVER_NONCE.encode()
        + b",p=AAAA",
    }
    for name in HASHES:
        first, final = scram_exchange(name)
        seeds["scram-" + name.lower()] = bytes([0]) + first + SEP + final
    first, final = scram_exchange("SHA-256", b"p=tls-exporter,,", CB_BYTES[1])
    seeds["scram-sha-256-plus"] = bytes([F_TLS | F_CB | F_NO_INITIAL]) + first + SEP + final
    return seeds


def creds_seeds():
    return {
        "full": creds_text(b"pencil"),
        "clear-only": creds_text(b"pencil", hashes=()),
        "scram-256-only": creds_text(None, hashes=("SHA-256",), iterations=10000),
        "reordered": b";".join(reversed(creds_text(b"p\xc3\xa4ss", iterations=1).split(b";"))),
        "empty": b"",
        "empty-clear": b"clear=",
        "bad": b"clear=cGVuY2ls;scram-sha-1=0:AA==:AA==:AA==",
    }


# fuzz_stanza.c: chunks separated by 0x1e, each one's first byte the session (byte % 3).
ALICE, DESK, BOB = 0, 1, 2  # alice@example.com/fuzz, alice@example.com/desk, bob@example.com/phone
MUC = b"room@conference.example.com"
FORM = b"jabber:x:data"
PS = b"http://jabber.org/protocol/pubsub"


def chunks(*parts):
    return SEP.join(bytes([who]) + xml for who, xml in parts)


def iq(kind, ident, payload, to=None):
    attrs = b" to='%s'" % to if to else b""
    return b"<iq type='%s' id='%s'%s>%s</iq>" % (kind, ident, attrs, payload)


def q(ns, inner=b"", name=b"query", attrs=b""):
    return b"<%s xmlns='%s'%s>%s</%s>" % (name, ns, attrs, inner, name)


def stanza_seeds():
    roster_item = b"<item jid='bob@example.com' name='Bob'><group>Friends</group></item>"
    room_cfg = (b"<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
                b"http://jabber.org/protocol/muc#roomconfig</value></field>"
                b"<field var='muc#roomconfig_persistentroom'><value>1</value></field>"
                b"<field var='muc#roomconfig_membersonly'><value>1</value></field>"
                b"<field var='muc#roomconfig_roomname'><value>Room</value></field></x>")
    return {
        "message-chat": chunks(
            (ALICE, b"<message to='bob@example.com' type='chat' id='m1'><body>hi</body>"
             b"<thread>t1</thread></message>"),
            (BOB, b"<message to='alice@example.com/fuzz' type='chat'><body>hello</body></message>"),
            (ALICE, b"<message to='bob@example.com/nowhere'><body>full jid</body></message>"
             b"<message to='nobody@example.com'><body>no account</body></message>"
             b"<message to='example.com'><body>server</body></message>"
             b"<message to='remote.example.net'><body>remote</body></message>")),
        "message-offline": chunks(
            (ALICE, b"<message to='carol@example.com' type='chat'><subject>s</subject>"
             b"<body>stored</body></message><message to='carol@example.com' type='headline'>"
             b"<body>dropped</body></message><message to='carol@example.com' type='groupchat'>"
             b"<body>x</body></message>")),
        "roster": chunks(
            (ALICE, iq(b"get", b"r1", q(b"jabber:iq:roster"))),
            (ALICE, iq(b"set", b"r2", q(b"jabber:iq:roster", roster_item))),
            (ALICE, iq(b"get", b"r3", q(b"jabber:iq:roster", attrs=b" ver=''"))),
            (ALICE, iq(b"set", b"r4", q(b"jabber:iq:roster",
                                        b"<item jid='bob@example.com' subscription='remove'/>"))),
            (ALICE, iq(b"set", b"r5", q(b"jabber:iq:roster",
                                        b"<item jid='alice@example.com'/><item jid='x@y'/>")))),
        "subscription": chunks(
            (ALICE, b"<presence to='bob@example.com' type='subscribe'/>"),
            (BOB, iq(b"get", b"r", q(b"jabber:iq:roster"))
             + b"<presence to='alice@example.com' type='subscribed'/>"
             b"<presence to='alice@example.com' type='subscribe'/>"),
            (ALICE, b"<presence to='bob@example.com' type='subscribed'/><presence>"
             b"<show>away</show><status>out</status><priority>5</priority></presence>"),
            (BOB, b"<presence type='unavailable'/><presence to='alice@example.com' type='probe'/>"),
            (ALICE, b"<presence to='bob@example.com' type='unsubscribe'/>"
             b"<presence to='bob@example.com' type='unsubscribed'/>")),
        "invitations": chunks(
            (ALICE, iq(b"set", b"i1", b"<command xmlns='http://jabber.org/protocol/commands' "
                                     b"node='urn:xmpp:invite#invite' action='execute'/>",
                       b"example.com")),
            (BOB, b"<presence to='alice@example.com' type='subscribe'><preauth "
             b"xmlns='urn:xmpp:pars:0' token='not-a-token'/></presence>"),
            (ALICE, iq(b"set", b"d1", b"<command xmlns='http://jabber.org/protocol/commands' "
                                     b"node='devices' action='execute'/>", b"example.com"))),
        "presence-directed": chunks(
            (ALICE, b"<presence/><presence to='carol@example.com'/><presence to='bob@example.com/"
             b"phone'><status>directed</status></presence>"),
            (ALICE, b"<presence to='remote.example.net/x'/><presence type='unavailable'/>"
             b"<presence type='error' to='bob@example.com'/><presence type='bogus'/>")),
        "blocking": chunks(
            (ALICE, iq(b"set", b"b1", q(b"urn:xmpp:blocking", b"<item jid='bob@example.com'/>",
                                        b"block"))),
            (BOB, b"<message to='alice@example.com'><body>blocked?</body></message>"),
            (ALICE, iq(b"get", b"b2", q(b"urn:xmpp:blocking", name=b"blocklist"))
             + b"<message to='bob@example.com'><body>to blocked</body></message>"),
            (ALICE, iq(b"set", b"b3", q(b"urn:xmpp:blocking", name=b"unblock")))),
        "carbons": chunks(
            (DESK, iq(b"set", b"c1", q(b"urn:xmpp:carbons:2", name=b"enable"))),
            (ALICE, b"<message to='bob@example.com' type='chat'><body>copied</body></message>"),
            (BOB, b"<message to='alice@example.com' type='chat'><body>back</body></message>"
             b"<message to='alice@example.com' type='chat'><private xmlns='urn:xmpp:carbons:2'/>"
             b"<body>p</body></message>"),
            (DESK, iq(b"set", b"c2", q(b"urn:xmpp:carbons:2", name=b"disable")))),
        "private-vcard": chunks(
            (ALICE, iq(b"set", b"p1", q(b"jabber:iq:private",
                                        b"<storage xmlns='storage:bookmarks'><conference jid='"
                                        + MUC + b"'/></storage>"))),
            (ALICE, iq(b"get", b"p2", q(b"jabber:iq:private",
                                        b"<storage xmlns='storage:bookmarks'/>"))),
            (ALICE, iq(b"set", b"v1", b"<vCard xmlns='vcard-temp'><FN>Alice</FN><NICKNAME>al"
                       b"</NICKNAME></vCard>")),
            (BOB, iq(b"get", b"v2", b"<vCard xmlns='vcard-temp'/>", b"alice@example.com")),
            (ALICE, iq(b"get", b"v3", b"<vCard xmlns='vcard-temp'/>"))),
        "services": chunks(
            (ALICE, iq(b"get", b"d1", q(b"http://jabber.org/protocol/disco#info"),
                       b"example.com")
             + iq(b"get", b"d2", q(b"http://jabber.org/protocol/disco#items"), b"example.com")
             + iq(b"get", b"d3", q(b"http://jabber.org/protocol/disco#info"),
                  b"bob@example.com")
             + iq(b"get", b"d4", q(b"http://jabber.org/protocol/disco#items"),
                  b"alice@example.com")),
            (ALICE, iq(b"get", b"s1", b"<ping xmlns='urn:xmpp:ping'/>", b"example.com")
             + iq(b"get", b"s2", b"<time xmlns='urn:xmpp:time'/>", b"example.com")
             + iq(b"get", b"s3", q(b"jabber:iq:version"), b"example.com")
             + iq(b"get", b"s4", q(b"jabber:iq:last"), b"example.com")
             + iq(b"get", b"s5", q(b"jabber:iq:last"), b"carol@example.com")
             + iq(b"get", b"s6", q(b"urn:unknown"), b"example.com")
             + iq(b"set", b"s7", b"<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>")
             + iq(b"set", b"s8", b"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>")),
            (BOB, iq(b"get", b"s9", b"<ping xmlns='urn:xmpp:ping'/>", b"alice@example.com/fuzz")),
            (ALICE, iq(b"result", b"s9", b"", b"bob@example.com/phone")
             + iq(b"error", b"x", b"<error type='cancel'/>", b"bob@example.com/phone"))),
        "adhoc": chunks(
            (ALICE, iq(b"get", b"a1", q(b"http://jabber.org/protocol/disco#items",
                                        attrs=b" node='http://jabber.org/protocol/commands'"),
                       b"example.com")),
            (ALICE, iq(b"set", b"a2", q(b"http://jabber.org/protocol/commands", name=b"command",
                                        attrs=b" node='ping' action='execute'"),
                       b"example.com"))),
        "register": chunks(
            (ALICE, iq(b"get", b"g1", q(b"jabber:iq:register"))),
            (ALICE, iq(b"set", b"g2", q(b"jabber:iq:register",
                                        b"<username>alice</username><password>new-secret"
                                        b"</password>"))),
            (BOB, iq(b"set", b"g3", q(b"jabber:iq:register", b"<remove/>")))),
        "muc": chunks(
            (ALICE, b"<presence to='" + MUC + b"/al'><x xmlns='http://jabber.org/protocol/muc'>"
             b"<history maxstanzas='5'/></x></presence>"),
            (ALICE, iq(b"get", b"o1", q(b"http://jabber.org/protocol/muc#owner"), MUC)),
            (ALICE, iq(b"set", b"o2", q(b"http://jabber.org/protocol/muc#owner", room_cfg), MUC)),
            (BOB, b"<presence to='" + MUC + b"/bobby'><x xmlns='http://jabber.org/protocol/muc'/>"
             b"</presence>"),
            (ALICE, iq(b"set", b"o3", q(b"http://jabber.org/protocol/muc#admin",
                                        b"<item jid='bob@example.com' affiliation='member'/>"),
                       MUC)),
            (BOB, b"<presence to='" + MUC + b"/bobby'><x xmlns='http://jabber.org/protocol/muc'/>"
             b"</presence><message to='" + MUC + b"' type='groupchat'><body>hi all</body>"
             b"</message>"),
            (ALICE, b"<message to='" + MUC + b"' type='groupchat'><subject>Topic</subject>"
             b"</message><message to='" + MUC + b"/bobby' type='chat'><body>pm</body></message>"
             b"<message to='" + MUC + b"'><x xmlns='http://jabber.org/protocol/muc#user'><invite "
             b"to='carol@example.com'><reason>come</reason></invite></x></message>"),
            (ALICE, iq(b"set", b"o4", q(b"http://jabber.org/protocol/muc#admin",
                                        b"<item nick='bobby' role='none'><reason>out</reason>"
                                        b"</item>"), MUC)
             + iq(b"get", b"o5", q(b"http://jabber.org/protocol/muc#admin",
                                   b"<item affiliation='member'/>"), MUC)
             + iq(b"get", b"o6", q(b"http://jabber.org/protocol/disco#info"), MUC)
             + iq(b"get", b"o7", q(b"http://jabber.org/protocol/disco#items"),
                  b"conference.example.com")),
            (ALICE, iq(b"set", b"o8", q(b"http://jabber.org/protocol/muc#owner",
                                        b"<destroy jid='other@conference.example.com'><reason>"
                                        b"bye</reason></destroy>"), MUC)
             + b"<presence to='" + MUC + b"/al' type='unavailable'/>")),
        "errors": chunks(
            (ALICE, b"<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"
             b"<message type='bogus'/><iq type='get' id='e' to='a@@b'/>"
             b"<message to='bob@example.com' type='error' id='x'><error type='cancel'>"
             b"<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"),
            (ALICE, b"<foo xmlns='jabber:client'/>")),
        "pubsub": chunks(
            (ALICE, b"<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
             b"node='n' ver='v'/></presence>"
             + iq(b"set", b"p1", q(PS, b"<publish node='urn:n'><item id='i'><x xmlns='u'/>"
                                  b"</item></publish><publish-options><x xmlns='jabber:x:data' "
                                  b"type='submit'><field var='pubsub#access_model'><value>open"
                                  b"</value></field><field var='pubsub#max_items'><value>max"
                                  b"</value></field></x></publish-options>", b"pubsub"))
             + iq(b"get", b"p2", q(PS, b"<items node='urn:n' max_items='1'/>", b"pubsub"))),
            (BOB, iq(b"get", b"p3", q(PS, b"<items node='urn:n'/>", b"pubsub"),
                     b"alice@example.com")
             + iq(b"set", b"p4", q(PS, b"<subscribe node='urn:n' jid='bob@example.com/phone'/>",
                                   b"pubsub"), b"alice@example.com")
             + iq(b"set", b"p5", q(PS, b"<create node='board'/>", b"pubsub"),
                  b"pubsub.example.com")),
            (ALICE, iq(b"set", b"p6", q(PS + b"#owner", b"<configure node='urn:n'>"
                                        b"<x xmlns='jabber:x:data' type='submit'><field "
                                        b"var='pubsub#access_model'><value>whitelist</value>"
                                        b"</field></x></configure>", b"pubsub"))
             + iq(b"set", b"p7", q(b"jabber:iq:private", b"<storage xmlns='storage:bookmarks'>"
                                   b"<conference jid='r@conference.example.com' autojoin='1'>"
                                   b"<nick>a</nick></conference></storage>"))
             + iq(b"set", b"p8", q(PS, b"<retract node='urn:n' notify='1'><item id='i'/>"
                                   b"</retract>", b"pubsub"))
             + iq(b"set", b"p9", q(PS + b"#owner", b"<delete node='urn:n'/>", b"pubsub")))),
        "stream-close": chunks((ALICE, b"<presence/></stream:stream>"),
                               (BOB, b"<message to='alice@example.com/fuzz'><body>late</body>"
                                b"</message>")),
    }


# fuzz_admin_api.c: requests separated by newlines, each one's first byte the caller.
SERVER, DOMAIN_ADMIN, OTHER_ADMIN, USER, ANON, BAD_CSRF, SOCKET = range(7)


def requests(*parts):
    import json
    return b"\n".join(bytes([who]) + json.dumps({"op": op, "args": args}).encode()
                      for who, op, args in parts)


def admin_api_seeds():
    pm, da, user = "postmaster@example.com", "admin@example.com", "user@example.com"
    seeds = {
        "server-domains": requests(
            (SERVER, "domain.list", {}), (SERVER, "domain.add", {"name": "new.example"}),
            (SERVER, "domain.set", {"name": "new.example", "settings": {
                "aliases": "n.example", "login_methods": "SCRAM-SHA-256,PLAIN",
                "password_storage": "clear", "auto_signup": True, "chat_service": "none"}}),
            (SERVER, "domain.show", {"name": "n.example"}),
            (SERVER, "domain.certificate", {"name": "example.com"}),
            (SERVER, "domain.remove", {"name": "new.example"})),
        "server-accounts": requests(
            (SERVER, "account.add", {"jid": "new@example.com", "password": "pw-pw-pw"}),
            (SERVER, "account.set", {"jid": "new@example.com", "settings": {
                "admin": True, "disabled": "no", "real_name": "N\u00e9w"}}),
            (SERVER, "account.show", {"jid": "new@example.com"}),
            (SERVER, "account.list", {"domain": "example.com"}),
            (SERVER, "account.passwd", {"jid": "new@example.com", "password": "other-pw"}),
            (SERVER, "account.sessions", {"jid": user}), (SERVER, "account.roster", {"jid": user}),
            (SERVER, "account.disconnect", {"jid": user}), (SERVER, "presence", {"jid": user}),
            (SERVER, "account.remove", {"jid": "new@example.com"})),
        "server-misc": requests(
            (SERVER, "settings.get", {"key": "server.main_domain"}),
            (SERVER, "settings.set", {"key": "xmpp.receiving.require_tls", "value": False}),
            (SERVER, "connections", {}), (SERVER, "queues", {}), (SERVER, "stats", {}),
            (SERVER, "stats.history", {}), (SERVER, "logs.list", {}),
            (SERVER, "logs.read", {"file": "x", "tags": "ADMIN,XMPPS", "level": 3,
                                   "text": "login", "limit": 5}),
            (SERVER, "send", {"from": pm, "to": user, "text": "hello"}),
            (SERVER, "invite", {"domain": "example.com", "lifetime": 3600}),
            (SERVER, "invite", {"domain": "example.com", "uses": 3, "inviter": user}),
            (SERVER, "invite.list", {"domain": "example.com"}),
            (SERVER, "invite.revoke", {"domain": "example.com", "token": "nope"}),
            (SERVER, "account.devices", {"jid": user}),
            (SERVER, "account.device_revoke", {"jid": user, "agent": "a"}),
            (SERVER, "whoami", {}), (SERVER, "logout", {}), (SERVER, "whoami", {})),
        "domain-admin": requests(
            (DOMAIN_ADMIN, "whoami", {}), (DOMAIN_ADMIN, "domain.list", {}),
            (DOMAIN_ADMIN, "connections", {}),
            (DOMAIN_ADMIN, "account.add", {"jid": "n2@example.com", "password": "pw-pw-pw"}),
            (DOMAIN_ADMIN, "account.set", {"jid": "n2@example.com", "settings": {
                "disabled": True}}),
            (DOMAIN_ADMIN, "account.passwd", {"jid": user, "password": "changed-pw"}),
            (DOMAIN_ADMIN, "account.passwd", {"jid": pm, "password": "takeover"}),
            (DOMAIN_ADMIN, "account.set", {"jid": pm, "settings": {"disabled": True}}),
            (DOMAIN_ADMIN, "account.set", {"jid": user, "settings": {"admin": True}}),
            (DOMAIN_ADMIN, "account.remove", {"jid": "user@other.org"}),
            (DOMAIN_ADMIN, "domain.set", {"name": "example.com", "settings": {
                "auto_signup": True}}),
            (DOMAIN_ADMIN, "domain.set", {"name": "alias.other.org", "settings": {
                "auto_signup": True}}),
            (DOMAIN_ADMIN, "invite", {"domain": "example.com"}),
            (DOMAIN_ADMIN, "settings.set", {"key": "server.workers", "value": 3}),
            (DOMAIN_ADMIN, "account.disconnect", {"jid": pm})),
        "other-admin": requests(
            (OTHER_ADMIN, "account.list", {"domain": "alias.other.org"}),
            (OTHER_ADMIN, "account.show", {"jid": "user@alias.other.org"}),
            (OTHER_ADMIN, "account.remove", {"jid": "admin@other.org"}),
            (OTHER_ADMIN, "account.show", {"jid": da})),
        "refused": requests(
            (USER, "whoami", {}), (USER, "account.list", {"domain": "example.com"}),
            (ANON, "account.list", {"domain": "example.com"}),
            (BAD_CSRF, "whoami", {}), (BAD_CSRF, "account.remove", {"jid": user}),
            (ANON, "login", {"user": "user", "password": "user-secret"}),
            (ANON, "login", {"user": "postmaster", "password": "wrong"}),
            (ANON, "login", {"user": "admin@example.com", "password": "da-secret"})),
        "socket": requests(
            (SOCKET, "domain.add", {"name": "sock.example"}),
            (SOCKET, "account.add", {"jid": "s@sock.example", "password": "pw-pw-pw"}),
            (SOCKET, "account.list", {"domain": "sock.example"}),
            (SOCKET, "nonexistent", {}), (SOCKET, "account.add", {"jid": 5, "extra": None})),
    }
    seeds["malformed"] = (bytes([SERVER]) + b'{"op": "domain.list", "op": "x"}\n'
                          + bytes([SERVER]) + b'["op"]\n' + bytes([SERVER]) + b'{"op": 1}\n'
                          + bytes([SERVER]) + b'{"op": "domain.add", "args": []}\n'
                          + bytes([SOCKET]) + b'{"op": "account.show", "args": {"jid": "\\u0000@x"}}'
                          + b"\n" + bytes([SERVER]) + b'{"op": "domain.show", "args": {"name": '
                          b'"\xff\xfe"}}')
    return seeds


def main():
    for target, seeds in (("xml_stream", xml_seeds()), ("jid", jid_seeds()),
                          ("sasl", sasl_seeds()), ("creds", creds_seeds()),
                          ("stanza", stanza_seeds()), ("admin_api", admin_api_seeds())):
        d = os.path.join(CORPUS, target)
        os.makedirs(d, exist_ok=True)
        for name in os.listdir(d):
            # regress-*: inputs that once crashed a target, committed as found (not generated).
            if not name.startswith("regress-"):
                os.remove(os.path.join(d, name))
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
