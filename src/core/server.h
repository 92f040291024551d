/* server.h: the process-wide context and each worker's context, shared by all modules. */
#ifndef STARLING_CORE_SERVER_H
#define STARLING_CORE_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "core/module.h"
#include "core/settings.h"
#include "core/worker.h"

struct store;
struct tls_store;
struct router_worker;
struct xmpp_worker;

/* Process-wide, read-mostly state. Mutable parts are atomics or are changed only by posting to
 * the workers. */
struct server {
    char datadir[1024];
    char db_path[1100];
    struct tls_store *tls;
    time_t started;
    /* Bumped on every change of domains/aliases/domain settings: workers refresh their caches. */
    atomic_uint domains_gen;
    /* Connections open right now, for the Channels limit. */
    atomic_int connections;
    /* Highest value of `connections` since the last memory release (core/module.c). */
    atomic_int connections_peak;
    atomic_ulong next_conn_id;
};

extern struct server g_server;

/* Each worker's state; reached through worker_self()->ctx. */
struct worker_ctx {
    struct worker *worker;
    struct store *store;
    /* The settings in force on this worker: replaced (not modified) by a settings broadcast. */
    const struct settings *cfg;
    struct router_worker *router;
    struct xmpp_worker *xmpp;
    /* The context is whole (store, router): the modules were started and are stopped. */
    bool started;
    /* One pointer per module of the table, owned by that module (core/module.h: module_slot). */
    void *slots[MODULES_MAX];
};

static inline struct worker_ctx *worker_ctx(void)
{
    struct worker *w = worker_self();
    return w ? (struct worker_ctx *)w->ctx : NULL;
}

#endif
