/* xmpp.c: the XMPP module on each worker: start, stop, monitoring, ending sessions. */
#include "xmpp/xmpp.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/server.h"
#include "tls/tls.h"
#include "xmpp/conn.h"
#include "xmpp/s2s.h"
#include "xmpp/stream.h"

struct xmpp_stats g_xmpp_stats;

static void set_counter(json_t *obj, const char *name, unsigned long value)
{
    json_object_set_new(obj, name, json_integer((json_int_t)value));
}

void xmpp_stats_json(json_t *obj)
{
    set_counter(obj, "connections_accepted", atomic_load(&g_xmpp_stats.accepted));
    set_counter(obj, "connections_refused", atomic_load(&g_xmpp_stats.refused));
    set_counter(obj, "logins", atomic_load(&g_xmpp_stats.logins));
    set_counter(obj, "auth_failures", atomic_load(&g_xmpp_stats.auth_failures));
    set_counter(obj, "stanzas_in", atomic_load(&g_xmpp_stats.stanzas_in));
    set_counter(obj, "stanzas_out", atomic_load(&g_xmpp_stats.stanzas_out));
    set_counter(obj, "stream_errors", atomic_load(&g_xmpp_stats.stream_errors));
    set_counter(obj, "connections_open", (unsigned long)atomic_load(&g_server.connections));
}

#define TRIM_PERIOD_MS 1000
#define TRIM_MIN_DROP 256

/* After many connections have come and gone, the allocator keeps their memory for reuse; once
 * the count has fallen to half its recent peak (and by a fair number), it is given back. The
 * check runs on worker 0 only: malloc_trim covers the whole process. */
static void trim_check(void *ud)
{
    struct xmpp_worker *xw = ud;
    int now = atomic_load(&g_server.connections);
    int peak = atomic_load(&g_server.connections_peak);
    if (peak - now >= TRIM_MIN_DROP && now <= peak / 2) {
        malloc_trim(0);
        log_rec(LOG_TAG_SYSTEM, LOG_LOWLEVEL, 0, NULL,
                "connections fell from %d to %d: freed memory returned to the system", peak, now);
        atomic_store(&g_server.connections_peak, now);
    }
    loop_timer_start(xw->worker->loop, &xw->trim_timer, TRIM_PERIOD_MS, trim_check, xw);
}

struct xmpp_worker *xmpp_worker_start(struct worker *w)
{
    struct xmpp_worker *xw = xcalloc(1, sizeof(*xw));
    xw->worker = w;
    loop_timer_init(&xw->trim_timer);
    if (w->id == 0) {
        loop_timer_start(w->loop, &xw->trim_timer, TRIM_PERIOD_MS, trim_check, xw);
    }
    return xw;
}

void xmpp_worker_quiesce(struct xmpp_worker *xw)
{
    xw->stopping = true;
    xmpp_listeners_close(xw);
    /* Streams end with a stream error and their closing tag; what cannot be flushed at once
     * is dropped with the socket. Session ends (presence to contacts) are posted while every
     * loop still runs. */
    for (struct conn *c = xw->conns; c; c = c->next) {
        if (c->st && !c->closed) {
            xstream_shutdown(c->st);
        }
    }
}

void xmpp_worker_stop(struct xmpp_worker *xw)
{
    xmpp_worker_quiesce(xw);
    /* The loop has stopped: run what the closes queued (flushes, frees) before freeing the
     * connections that are left. */
    loop_run_deferred(xw->worker->loop);
    while (xw->conns) {
        conn_free_now(xw->conns);
    }
    loop_timer_stop(xw->worker->loop, &xw->trim_timer);
    free(xw);
}

static const char *kind_name(enum conn_kind k)
{
    switch (k) {
    case CONN_C2S:
        return "c2s";
    case CONN_S2S_IN:
        return "s2s";
    case CONN_UNKNOWN:
        break;
    }
    return "unknown";
}

void xmpp_connections_json(struct xmpp_worker *xw, json_t *array)
{
    for (struct conn *c = xw->conns; c; c = c->next) {
        if (c->closed) {
            continue;
        }
        const char *jid = c->st ? xstream_jid(c->st) : NULL;
        bool tls_on = c->tls && tls_conn_handshake_done(c->tls);
        json_t *o =
            json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:i, s:I, s:I, s:I, s:I}",
                      "id", (json_int_t)c->id, "kind", kind_name(c->kind), "state",
                      c->st ? xstream_state_name(c->st) : "new", "peer", c->peer, "jid", jid, "tls",
                      tls_on ? tls_conn_version(c->tls) : NULL, "cipher",
                      tls_on ? tls_conn_cipher(c->tls) : NULL, "mechanism",
                      c->st ? xstream_mechanism(c->st) : NULL, "since", (json_int_t)c->since,
                      "worker", c->worker_id, "stanzas_in", (json_int_t)c->stanzas_in,
                      "stanzas_out", (json_int_t)c->stanzas_out, "bytes_in",
                      (json_int_t)c->bytes_in, "bytes_out", (json_int_t)c->bytes_out);
        if (o) {
            json_array_append_new(array, o);
        }
    }
    s2s_out_connections_json(xw, array);
}

void xmpp_kick_account(struct xmpp_worker *xw, const char *bare, const char *condition)
{
    for (struct conn *c = xw->conns; c; c = c->next) {
        const char *jid = c->st ? xstream_jid(c->st) : NULL;
        if (jid == NULL || c->closed) {
            continue;
        }
        size_t n = strlen(bare);
        if (strncmp(jid, bare, n) == 0 && (jid[n] == '\0' || jid[n] == '/')) {
            xstream_error(c->st, condition, "the account was changed by an administrator");
        }
    }
}
