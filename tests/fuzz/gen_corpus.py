#!/usr/bin/env python3
"""gen_corpus.py: writes the committed seed corpus of the fuzz targets (tests/fuzz/corpus/).

Run from anywhere: python3 tests/fuzz/gen_corpus.py. The SCRAM seeds are complete successful
exchanges computed for the fixed account of fuzz_sasl.c (keep the constants below in step).
"""
import base64
import hashlib
import hmac
import os
import shutil

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


def main():
    for target, seeds in (("xml_stream", xml_seeds()), ("jid", jid_seeds()),
                          ("sasl", sasl_seeds()), ("creds", creds_seeds())):
        d = os.path.join(CORPUS, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
