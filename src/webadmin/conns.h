/* conns.h: internal to src/webadmin: the open HTTP connections of one socket, so a request that
 * takes too long as a whole (not only between two bytes) is cut. */
#ifndef STARLING_WEBADMIN_CONNS_H
#define STARLING_WEBADMIN_CONNS_H

#include <microhttpd.h>

struct web_conns;

struct web_conns *web_conns_new(void);
/* After the daemon stopped (no more callbacks); NULL is accepted. */
void web_conns_free(struct web_conns *cs);

/* MHD_OPTION_NOTIFY_CONNECTION callback, `cls` being the web_conns: tracks each connection
 * from its start to its close. Runs on the daemon's threads. */
void web_conns_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);

/* A request on `mc` was answered: the connection's clock starts again for the next one. */
void web_conns_request_done(struct MHD_Connection *mc);

/* Shuts down (both ways; the daemon then closes it) every connection whose current request
 * began more than `deadline` seconds ago; returns how many. From any thread: the list is behind
 * a mutex, and a connection leaves it before its socket is closed. */
int web_conns_sweep(struct web_conns *cs, int deadline);

#endif
