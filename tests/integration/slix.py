"""slix.py: slixmpp 1.8 clients for the test server: one forced SASL mechanism, no cert checks."""

import asyncio
import logging
import ssl

import slixmpp
from slixmpp import ClientXMPP

log = logging.getLogger("slix-helper")


def run(coro, timeout=30.0):
    """Runs a coroutine on a fresh event loop (slixmpp objects must be created inside it)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


class Client:
    """A ClientXMPP with the outcome of its login recorded.

    outcome: "session" (session_start), "failed_auth" (SASL failure, condition in
    failure_condition), "no_mechanism" (forced mechanism not offered / refused by slixmpp),
    "disconnected", "stream_error" (condition in stream_error_condition) or None.
    """

    def __init__(self, server, jid, password, mech=None, direct_tls=False, tls_max=None,
                 host="127.0.0.1"):
        self.server = server
        self.host = host
        self.mech = mech
        self.direct_tls = direct_tls
        self.xmpp = ClientXMPP(jid, password, sasl_mech=mech)
        x = self.xmpp
        x.whitespace_keepalive = False
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if tls_max is not None:
            ctx.maximum_version = tls_max
        x.ssl_context = ctx
        # Connect to host:port (127.0.0.1 unless told) whatever the JID's domain is: no DNS, no SRV.
        port = server.tls_port if direct_tls else server.port

        async def _records(domain, port_=None):
            return [(domain, host, port)]
        x.get_dns_records = _records

        # slixmpp sends the gs2 flag "y" for a non-PLUS SCRAM whenever the socket is TLS; RFC 5802
        # makes a server that offers -PLUS reject that. With a forced non-PLUS mechanism we do
        # what a correct client does when it deliberately skips channel binding: "n".
        fm = x["feature_mechanisms"]
        default_cb = fm.sasl_callback
        plus = bool(mech and mech.endswith("-PLUS"))

        def _creds(required, optional):
            r = default_cb(required, optional)
            if "channel_binding" in r and not plus:
                r["channel_binding"] = None
            return r
        fm.sasl_callback = _creds

        self.outcome = None
        self.failure_condition = None
        self.stream_error_condition = None
        self.offered_mechs = None
        self.messages = []
        self.message_event = asyncio.Event()
        self.done = asyncio.get_event_loop().create_future()
        x.add_event_handler("session_start", self._on_session)
        x.add_event_handler("failed_auth", self._on_failed_auth)
        x.add_event_handler("failed_all_auth", self._on_failed_all)
        x.add_event_handler("no_auth", self._on_no_auth)
        x.add_event_handler("disconnected", self._on_disconnected)
        x.add_event_handler("stream_error", self._on_stream_error)
        x.add_event_handler("connection_failed", self._on_connection_failed)
        x.add_event_handler("message", self._on_message)
        x.add_event_handler("stream_negotiated", lambda *_: None)

        orig = fm._handle_sasl_auth

        def _record_mechs(features):
            self.offered_mechs = list(features["mechanisms"])
            return orig(features)
        x._stream_feature_handlers["mechanisms"] = (_record_mechs,
                                                    x._stream_feature_handlers["mechanisms"][1])

    def _finish(self, outcome):
        if self.outcome is None:
            self.outcome = outcome
        if not self.done.done():
            self.done.set_result(self.outcome)

    def _on_session(self, _event):
        self._finish("session")

    def _on_failed_auth(self, stanza):
        self.failure_condition = stanza["condition"]
        self._finish("failed_auth")

    def _on_failed_all(self, _event):
        self._finish("no_mechanism")

    def _on_no_auth(self, _event):
        self.outcome = "no_mechanism"
        self._finish("no_mechanism")

    def _on_disconnected(self, _event):
        self._finish("disconnected")

    def _on_stream_error(self, error):
        self.stream_error_condition = error["condition"]
        self._finish("stream_error")

    def _on_connection_failed(self, _event):
        self._finish("disconnected")
        self.xmpp.cancel_connection_attempt()

    def _on_message(self, msg):
        self.messages.append(msg)
        self.message_event.set()

    @property
    def jid(self):
        return self.xmpp.boundjid

    async def connect(self, timeout=15.0):
        """Connects and waits for the login outcome; returns it."""
        if self.direct_tls:
            self.xmpp.connect((self.host, self.server.tls_port), use_ssl=True,
                              force_starttls=False, disable_starttls=True)
        else:
            self.xmpp.connect((self.host, self.server.port), use_ssl=False,
                              force_starttls=True, disable_starttls=False)
        try:
            await asyncio.wait_for(asyncio.shield(self.done), timeout)
        except asyncio.TimeoutError:
            self.outcome = self.outcome or "timeout"
        return self.outcome

    def tls_version(self):
        sock = self.xmpp.socket
        return sock.version() if isinstance(sock, (ssl.SSLSocket, ssl.SSLObject)) else None

    async def wait_message(self, pred=lambda m: True, timeout=5.0):
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while True:
            for m in self.messages:
                if pred(m):
                    return m
            left = deadline - loop.time()
            if left <= 0:
                return None
            self.message_event.clear()
            try:
                await asyncio.wait_for(self.message_event.wait(), left)
            except asyncio.TimeoutError:
                return None

    async def close(self):
        x = self.xmpp
        try:
            x.cancel_connection_attempt()
            if x.transport is not None:
                fut = x.disconnect(wait=1.0)
                try:
                    await asyncio.wait_for(fut, 3.0)
                except (asyncio.TimeoutError, Exception):
                    pass
        finally:
            if x.transport is not None:
                x.abort()


async def login(server, jid, password, mech=None, direct_tls=False, tls_max=None, timeout=15.0,
                host="127.0.0.1"):
    """Connects one client to `host`; returns the Client (call close() when done)."""
    c = Client(server, jid, password, mech=mech, direct_tls=direct_tls, tls_max=tls_max, host=host)
    await c.connect(timeout)
    return c


def login_outcome(server, jid, password, mech=None, direct_tls=False, tls_max=None,
                  timeout=15.0):
    """Synchronous: logs in, records outcome, TLS version, offered mechanisms, then closes."""
    async def go():
        c = await login(server, jid, password, mech=mech, direct_tls=direct_tls,
                        tls_max=tls_max, timeout=timeout)
        result = {"outcome": c.outcome, "condition": c.failure_condition,
                  "stream_error": c.stream_error_condition, "tls": c.tls_version(),
                  "jid": str(c.jid), "mechs": c.offered_mechs}
        await c.close()
        return result
    return run(go(), timeout + 10)


__all__ = ["run", "Client", "login", "login_outcome", "slixmpp"]
