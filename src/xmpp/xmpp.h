/* xmpp.h: the XMPP module's interface to the server core: per-worker start/stop, settings,
 * monitoring. */
#ifndef STARLING_XMPP_XMPP_H
#define STARLING_XMPP_XMPP_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/settings.h"
#include "core/loop.h"
#include "core/worker.h"

struct conn;
struct listen_entry;

/* The XMPP module's state on one worker. */
struct xmpp_worker {
    struct worker *worker;
    struct conn *conns; /* every connection homed on this worker */
    int nconns;
    struct listen_entry *listeners;
    struct s2s_worker *s2s;       /* outgoing server-to-server queues (s2s_out.c) */
    struct loop_timer idle_timer; /* quiet streams give their parser back */
    bool stopping;
};

/* On each worker's thread. */
struct xmpp_worker *xmpp_worker_start(struct worker *w);
/* Shutdown, first step (loops still running): listeners closed, every stream ended. */
void xmpp_worker_quiesce(struct xmpp_worker *xw);
void xmpp_worker_stop(struct xmpp_worker *xw);

/* Re-reads the listener part of the worker's settings: opens new sockets, closes removed
 * ones, honours Channels = 0. Returns 0 or ERR_IO (with a reason in err) when a socket cannot
 * be opened. */
int xmpp_listeners_apply(struct xmpp_worker *xw, char *err, size_t errlen);

/* Connections accepted on the sockets of http.listener start with this (src/web, set by
 * main.c before the workers start): it makes the conn's owner. */
typedef void xmpp_http_start_fn(struct conn *c);
void xmpp_set_http_start(xmpp_http_start_fn *fn);

/* Closes every listening socket of the worker. */
void xmpp_listeners_close(struct xmpp_worker *xw);
/* At start-up, before anything is written: binds every socket of `cfg`'s listener for the
 * workers to share, so that an address already in use fails the start first. The main thread
 * holds these until xmpp_listeners_unhold (after the workers took theirs, or on failure). */
int xmpp_listeners_hold(const struct settings *cfg, char *err, size_t errlen);
void xmpp_listeners_unhold(void);
/* Frees the per-address table at exit. */
void xmpp_addr_table_free(void);

/* Appends this worker's connections to a JSON array (monitoring). */
void xmpp_connections_json(struct xmpp_worker *xw, json_t *array);

/* Process-wide counters (monitoring, metrics). */
struct xmpp_stats {
    atomic_ulong accepted;         /* connections accepted */
    atomic_ulong refused;          /* connections refused by Channels or the per-address limits */
    atomic_ulong preauth_timeouts; /* connections closed by a pre-authentication deadline */
    atomic_ulong throttled;        /* times a stream was paused by its byte rate (shaping) */
    atomic_ulong logins;           /* successful authentications */
    atomic_ulong auth_failures;    /* failed authentications */
    atomic_ulong stream_errors;    /* streams ended with a stream error */
    atomic_ulong parsers_freed; /* idle streams whose XML parser was freed (made anew on input) */
};
extern struct xmpp_stats g_xmpp_stats;
/* Counts a stanza received on an authenticated stream (`in`) or delivered to a client, on the
 * calling worker's own counters (summed when read: no cache line shared between workers for
 * what every stanza updates). */
void xmpp_count_stanza(int worker_id, bool in);
/* Adds the counters to a JSON object (name: value). */
void xmpp_stats_json(json_t *obj);


/* Per-remote-address accounting (process-wide, guarded by a mutex). */
bool xmpp_addr_acquire(const char *addr, int limit);
void xmpp_addr_release(const char *addr);
/* The address's not yet authenticated connections, under their own (smaller) limit. */
bool xmpp_addr_acquire_unauth(const char *addr, int limit);
void xmpp_addr_release_unauth(const char *addr);
/* Counts a failed login from the address; returns the failures seen recently (decaying). */
int xmpp_addr_auth_failed(const char *addr);
void xmpp_addr_auth_succeeded(const char *addr);

/* The XMPP module: xmpp.* settings, the worker life in the module table (core/module.h). */
struct module;
extern struct module xmpp_module;

#endif
