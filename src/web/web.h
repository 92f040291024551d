/* web.h: the user-facing HTTP listener (http.listener): RFC 7395 WebSocket at /xmpp-websocket
 * beneath the ordinary c2s stream, XEP-0156 host-meta. */
#ifndef STARLING_WEB_WEB_H
#define STARLING_WEB_WEB_H

struct conn;

/* Makes the HTTP owner of a connection accepted on an http.listener socket (set with
 * xmpp_set_http_start by main.c). */
void web_http_start(struct conn *c);

/* XEP-0363: registers the upload.<domain> router component (at start-up); the upload service
 * of a local domain for the server's disco#items (services_set_upload_service); removes the
 * files of expired slots (on a worker; returns how many, or an error code). */
void web_upload_register(void);
struct buf;
bool web_upload_service_of(const char *domain, struct buf *out);
int web_upload_cleanup(void);

/* At worker stop, after the XMPP module freed the connections: the BOSH sessions of the
 * worker are freed. */
void web_bosh_worker_stop(int worker_id);

/* The module: http.* settings, the hourly clean-up of expired uploads on worker 0. */
struct module;
extern struct module web_module;

#endif
