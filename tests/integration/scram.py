"""scram.py: a small SCRAM client (RFC 5802/7677, SHA-1/256/512, -PLUS) and channel bindings."""

import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import os
import sys

HASHES = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}


def _saslname(name):
    return name.replace("=", "=3D").replace(",", "=2C")


def _parse(msg):
    out = {}
    for item in msg.split(","):
        if len(item) >= 2 and item[1] == "=":
            out[item[0]] = item[2:]
    return out


class ScramError(Exception):
    pass


class ScramClient:
    """One SCRAM exchange. mech: "SCRAM-SHA-256" or "SCRAM-SHA-256-PLUS" (…-1, …-512).

    cb_type / cb_data: channel binding for -PLUS ("tls-exporter", "tls-unique",
    "tls-server-end-point"). gs2_flag forces the gs2 flag ("n", "y" or "p=<type>") for
    negative tests; by default it is "p=<cb_type>" for -PLUS and "n" otherwise.
    """

    def __init__(self, mech, username, password, cb_type=None, cb_data=b"", gs2_flag=None,
                 nonce=None, authzid=""):
        plus = mech.endswith("-PLUS")
        base = mech[:-5] if plus else mech
        if base not in HASHES:
            raise ValueError("unsupported SCRAM mechanism %s" % mech)
        self.mech = mech
        self.hash = HASHES[base]
        self.username = username
        self.password = password
        self.cb_data = cb_data or b""
        if gs2_flag is None:
            if plus:
                if not cb_type:
                    raise ValueError("-PLUS needs a channel binding type")
                gs2_flag = "p=" + cb_type
            else:
                gs2_flag = "n"
        self.gs2_header = (gs2_flag + "," + ("a=" + _saslname(authzid) if authzid else "")
                           + ",").encode()
        self.cnonce = nonce or base64.b64encode(os.urandom(18)).decode()
        self.client_first_bare = "n=%s,r=%s" % (_saslname(username), self.cnonce)
        self.server_signature = None

    def _hmac(self, key, msg):
        return hmac.new(key, msg, self.hash).digest()

    def first(self):
        """client-first-message (bytes)."""
        return self.gs2_header + self.client_first_bare.encode()

    def final(self, server_first):
        """client-final-message (bytes) for the server-first-message (bytes)."""
        text = server_first.decode()
        attrs = _parse(text)
        if "m" in attrs:
            raise ScramError("server sent the reserved m= attribute")
        for key in ("r", "s", "i"):
            if key not in attrs:
                raise ScramError("server-first-message without %s=: %r" % (key, text))
        nonce = attrs["r"]
        if not nonce.startswith(self.cnonce) or len(nonce) <= len(self.cnonce):
            raise ScramError("server nonce does not extend the client nonce: %r" % text)
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        if iterations < 1:
            raise ScramError("bad iteration count %d" % iterations)
        salted = hashlib.pbkdf2_hmac(self.hash, self.password.encode(), salt, iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hash, client_key).digest()
        cbind = base64.b64encode(self.gs2_header + self.cb_data).decode()
        without_proof = "c=%s,r=%s" % (cbind, nonce)
        auth_message = ",".join([self.client_first_bare, text, without_proof]).encode()
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = self._hmac(salted, b"Server Key")
        self.server_signature = self._hmac(server_key, auth_message)
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify(self, server_final):
        """True when server-final-message carries the expected v= signature."""
        attrs = _parse(server_final.decode())
        if "v" not in attrs:
            return False
        return hmac.compare_digest(base64.b64decode(attrs["v"]), self.server_signature)


# ---- channel binding data --------------------------------------------------------------------

def tls_unique(sslsock):
    """RFC 5929 tls-unique (meaningful on TLS 1.2 only)."""
    return sslsock.get_channel_binding("tls-unique")


def _der_read(data, pos):
    """Reads one DER TLV at pos; returns (tag, value_start, value_end)."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, pos, pos + length


def _oid_text(raw):
    first = raw[0]
    parts = [first // 40, first % 40]
    value = 0
    for b in raw[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


# Signature algorithm OID -> its hash (RFC 5929 section 4.1: MD5 and SHA-1 are replaced by SHA-256).
_SIG_HASH = {
    "1.2.840.113549.1.1.4": "sha256",    # md5WithRSAEncryption
    "1.2.840.113549.1.1.5": "sha256",    # sha1WithRSAEncryption
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.10045.4.1": "sha256",       # ecdsa-with-SHA1
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}


def cert_signature_oid(der):
    _tag, start, _end = _der_read(der, 0)              # Certificate SEQUENCE
    _tag, _s, tbs_end = _der_read(der, start)          # tbsCertificate
    _tag, alg_start, _alg_end = _der_read(der, tbs_end)  # signatureAlgorithm SEQUENCE
    tag, oid_start, oid_end = _der_read(der, alg_start)
    if tag != 0x06:
        raise ValueError("no OID in signatureAlgorithm")
    return _oid_text(der[oid_start:oid_end])


def tls_server_end_point(sslsock):
    """RFC 5929 tls-server-end-point: hash of the server certificate (DER)."""
    der = sslsock.getpeercert(binary_form=True)
    oid = cert_signature_oid(der)
    if oid not in _SIG_HASH:
        raise ValueError("tls-server-end-point undefined for signature algorithm %s" % oid)
    return hashlib.new(_SIG_HASH[oid], der).digest()


# tls-exporter (RFC 9266) needs SSL_export_keying_material, which Python's ssl module does not
# expose. We reach the SSL* of CPython's _ssl._SSLSocket object through ctypes: in CPython 3.x
# the object layout is { PyObject_HEAD; PyObject *Socket; SSL *ssl; ... }. The pointer is
# checked before use: SSL_get_finished() through it must equal get_channel_binding("tls-unique")
# (which CPython computes from its own SSL*), and SSL_version() must be a TLS version.

_libssl = None


def _load_libssl():
    global _libssl
    if _libssl is None:
        import _ssl  # noqa: F401  (makes sure libssl is loaded in this process)
        name = None
        try:
            with open("/proc/self/maps") as f:
                for line in f:
                    if "libssl.so" in line:
                        name = line.split()[-1]
                        break
        except OSError:
            pass
        name = name or ctypes.util.find_library("ssl")
        if not name:
            raise OSError("libssl not found")
        lib = ctypes.CDLL(name)
        lib.SSL_export_keying_material.restype = ctypes.c_int
        lib.SSL_export_keying_material.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
        lib.SSL_get_finished.restype = ctypes.c_size_t
        lib.SSL_get_finished.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.SSL_get_peer_finished.restype = ctypes.c_size_t
        lib.SSL_get_peer_finished.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.SSL_version.restype = ctypes.c_int
        lib.SSL_version.argtypes = [ctypes.c_void_p]
        _libssl = lib
    return _libssl


def _ssl_pointer(sslsock):
    sslobj = getattr(sslsock, "_sslobj", None)
    if sslobj is None:
        raise OSError("no _sslobj on the socket")
    # PyObject_HEAD (refcount, type) then PyObject *Socket, then SSL *ssl.
    offset = 3 * ctypes.sizeof(ctypes.c_void_p)
    return ctypes.c_void_p.from_address(id(sslobj) + offset).value


def tls_exporter(sslsock):
    """RFC 9266 tls-exporter: 32 bytes of EXPORTER-Channel-Binding, empty context.

    Raises OSError when the SSL* cannot be reached safely (then the caller skips)."""
    if sys.implementation.name != "cpython":
        raise OSError("tls-exporter via ctypes needs CPython")
    lib = _load_libssl()
    ptr = _ssl_pointer(sslsock)
    if not ptr:
        raise OSError("null SSL*")
    expected = sslsock.get_channel_binding("tls-unique")
    mine = ctypes.create_string_buffer(128)
    peers = ctypes.create_string_buffer(128)
    n = lib.SSL_get_finished(ptr, mine, 128)
    m = lib.SSL_get_peer_finished(ptr, peers, 128)
    if not expected or expected not in (mine.raw[:n], peers.raw[:m]):
        raise OSError("SSL* sanity check failed (finished message mismatch)")
    version = lib.SSL_version(ptr)
    if version not in (0x0301, 0x0302, 0x0303, 0x0304):
        raise OSError("SSL* sanity check failed (version %#x)" % version)
    label = b"EXPORTER-Channel-Binding"
    out = ctypes.create_string_buffer(32)
    if lib.SSL_export_keying_material(ptr, out, 32, label, len(label), None, 0, 0) != 1:
        raise OSError("SSL_export_keying_material failed")
    return out.raw


def channel_binding(sslsock, cb_type):
    if cb_type == "tls-unique":
        return tls_unique(sslsock)
    if cb_type == "tls-server-end-point":
        return tls_server_end_point(sslsock)
    if cb_type == "tls-exporter":
        return tls_exporter(sslsock)
    raise ValueError(cb_type)
