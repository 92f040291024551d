/* web.h: the user-facing HTTP listener (http.listener): RFC 7395 WebSocket at /xmpp-websocket
 * beneath the ordinary c2s stream, XEP-0156 host-meta. */
#ifndef STARLING_WEB_WEB_H
#define STARLING_WEB_WEB_H

struct conn;

/* Makes the HTTP owner of a connection accepted on an http.listener socket (set with
 * xmpp_set_http_start by main.c). */
void web_http_start(struct conn *c);

/* The module: http.* settings. */
struct module;
extern struct module web_module;

#endif
