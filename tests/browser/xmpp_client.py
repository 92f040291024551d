"""xmpp_client.py: a slixmpp client for the browser tests: logs in, says "online <jid>", stays
connected until a line arrives on stdin (or stdin closes), then disconnects and says "offline".

Usage: xmpp_client.py PORT JID PASSWORD [HOST]; HOST (default 127.0.0.1) is the loopback
address to connect to (cluster.test.js: a node on 127.0.0.3)."""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import slix  # noqa: E402


class Target:
    def __init__(self, port):
        self.port = port
        self.tls_port = port


async def main(port, jid, password, host="127.0.0.1"):
    c = await slix.login(Target(port), jid, password, mech="SCRAM-SHA-256", host=host)
    if c.outcome != "session":
        print("failed", c.outcome, flush=True)
        await c.close()
        return 1
    print("online", c.jid, flush=True)
    # Announcements (issue 20) reach available resources: say so, and print each message.
    c.xmpp.add_event_handler("message", lambda m: print("message", m["type"], m["body"],
                                                        flush=True))
    # With an XEP-0115 caps node: the Online page shows it as the client (issue 20).
    c.xmpp.send_raw("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                    "node='https://slixmpp.test/browser' ver='x='/></presence>")
    # A chat room for the Group chat page (issue 20): joined (and so created) as "Alice";
    # being kicked shows as an unavailable presence from the room.
    c.xmpp.add_event_handler("presence_unavailable",
                             lambda p: print("unavailable", p["from"], flush=True))
    c.xmpp.send_raw("<presence to='lobby@conference.%s/Alice'>"
                    "<x xmlns='http://jabber.org/protocol/muc'/></presence>" % jid.split("@")[1].split("/")[0])
    loop = asyncio.get_event_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    await c.close()
    print("offline", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(slix.run(main(int(sys.argv[1]), *sys.argv[2:5]), timeout=300))
