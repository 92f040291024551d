"""xmpp_peer.py: the TCP side of the Converse.js browser test (rawxmpp over a plain socket with
STARTTLS): logs in, prints "online <jid>", then follows commands read from stdin, one a line,
and prints what it receives:

  send <jid> <text>        a chat message            -> "message <from> <text>" when one arrives
  join <room> <nick>       enter a room              -> "groupchat <from> <text>" for room messages
  say <room> <text>        a groupchat message
  quit
"""

import os
import queue
import sys
import threading
import xml.sax.saxutils as su

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import rawxmpp  # noqa: E402
from rawxmpp import NS_CLIENT, q  # noqa: E402


class Target:
    def __init__(self, port):
        self.port = port
        self.tls_port = port


def stdin_reader(lines):
    for line in sys.stdin:
        lines.put(line.rstrip("\n"))
    lines.put("quit")


def handle(c, line):
    cmd, _, rest = line.partition(" ")
    if cmd == "send":
        to, _, text = rest.partition(" ")
        c.send("<message to='%s' type='chat'><body>%s</body></message>" % (to, su.escape(text)))
    elif cmd == "join":
        room, _, nick = rest.partition(" ")
        c.send("<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
               % (room, nick))
    elif cmd == "say":
        room, _, text = rest.partition(" ")
        c.send("<message to='%s' type='groupchat'><body>%s</body></message>"
               % (room, su.escape(text)))
    return cmd != "quit"


def report(el):
    if el.tag != q(NS_CLIENT, "message"):
        return
    body = el.find(q(NS_CLIENT, "body"))
    if body is None or body.text is None:
        return
    kind = "groupchat" if el.get("type") == "groupchat" else "message"
    print(kind, el.get("from"), body.text, flush=True)


def main(port, user, password):
    c = rawxmpp.login(Target(port), user, password, resource="tcp")
    c.send("<presence/>")
    print("online", user, flush=True)
    lines = queue.Queue()
    threading.Thread(target=stdin_reader, args=(lines,), daemon=True).start()
    running = True
    while running:
        while not lines.empty() and running:
            running = handle(c, lines.get())
        try:
            report(c.next(0.1))
        except rawxmpp.Closed:
            break
        except AssertionError:
            pass
    c.close()
    print("offline", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
