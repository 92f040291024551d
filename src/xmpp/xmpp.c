/* xmpp.c: the XMPP module on each worker: start, stop, monitoring, ending sessions. */
#include "xmpp/xmpp.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/module.h"
#include "core/server.h"
#include "im/im.h"
#include "store/store.h"
#include "tls/tls.h"
#include "xml/xml.h"
#include "xmpp/c2s.h"
#include "xmpp/conn.h"
#include "xmpp/s2s.h"
#include "xmpp/stream.h"

struct xmpp_stats g_xmpp_stats;

/* One cache line per worker; only that worker's thread writes it. */
struct stanza_counts {
    _Alignas(64) atomic_ulong in;
    atomic_ulong out;
};
static struct stanza_counts g_stanzas[WORKERS_MAX];

void xmpp_count_stanza(int worker_id, bool in)
{
    if (worker_id < 0 || worker_id >= WORKERS_MAX) {
        return;
    }
    atomic_ulong *n = in ? &g_stanzas[worker_id].in : &g_stanzas[worker_id].out;
    /* A single writer: a plain increment, no locked read-modify-write. */
    atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static unsigned long stanzas_total(bool in)
{
    unsigned long sum = 0;
    for (int i = 0; i < WORKERS_MAX; i++) {
        sum +=
            atomic_load_explicit(in ? &g_stanzas[i].in : &g_stanzas[i].out, memory_order_relaxed);
    }
    return sum;
}

static void set_counter(json_t *obj, const char *name, unsigned long value)
{
    json_object_set_new(obj, name, json_integer((json_int_t)value));
}

void xmpp_stats_json(json_t *obj)
{
    set_counter(obj, "connections_accepted", atomic_load(&g_xmpp_stats.accepted));
    set_counter(obj, "connections_refused", atomic_load(&g_xmpp_stats.refused));
    set_counter(obj, "preauth_timeouts", atomic_load(&g_xmpp_stats.preauth_timeouts));
    set_counter(obj, "streams_throttled", atomic_load(&g_xmpp_stats.throttled));
    set_counter(obj, "logins", atomic_load(&g_xmpp_stats.logins));
    set_counter(obj, "auth_failures", atomic_load(&g_xmpp_stats.auth_failures));
    set_counter(obj, "stanzas_in", stanzas_total(true));
    set_counter(obj, "stanzas_out", stanzas_total(false));
    set_counter(obj, "stream_errors", atomic_load(&g_xmpp_stats.stream_errors));
    set_counter(obj, "idle_parsers_freed", atomic_load(&g_xmpp_stats.parsers_freed));
    set_counter(obj, "connections_open", (unsigned long)atomic_load(&g_server.connections));
}

#define IDLE_SWEEP_MS 1000
#define IDLE_TRIM_MIN 64

/* A connection that has read nothing for a sweep period frees its buffers (TLS records, about
 * 35 KB) and its stream's XML parser (about 9 KB); the next bytes make them again. Sessions
 * spend most of their life idle, while a busy one keeps all so a stanza costs no allocation. */
static void idle_sweep(void *ud)
{
    struct xmpp_worker *xw = ud;
    uint64_t now = loop_now_ms(xw->worker->loop);
    int newly_idle = 0;
    for (struct conn *c = xw->conns; c; c = c->next) {
        if (c->closed || now - c->last_read_ms < IDLE_SWEEP_MS) {
            continue;
        }
        if (now - c->last_read_ms < 2 * IDLE_SWEEP_MS) {
            newly_idle++;
        }
        conn_release_idle(c);
        if (c->st != NULL && xstream_sleep(c->st)) {
            atomic_fetch_add(&g_xmpp_stats.parsers_freed, 1);
        }
    }
    xml_arena_pool_trim(); /* at most a second's worth of freed stanza memory is kept */
    if (newly_idle >= IDLE_TRIM_MIN) {
        /* Many buffers freed at once leave holes the allocator keeps; give those pages back
         * (a few milliseconds, at most once a sweep, only when that many went quiet). */
        modules_trim_heap();
    }
    loop_timer_start(xw->worker->loop, &xw->idle_timer, IDLE_SWEEP_MS, idle_sweep, xw);
}

struct xmpp_worker *xmpp_worker_start(struct worker *w)
{
    struct xmpp_worker *xw = xcalloc(1, sizeof(*xw));
    xw->worker = w;
    loop_timer_init(&xw->idle_timer);
    loop_timer_start(w->loop, &xw->idle_timer, IDLE_SWEEP_MS, idle_sweep, xw);
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
    /* Sessions waiting for a resumption end too: their unacknowledged messages go to offline
     * storage (XEP-0198, sm.c). */
    c2s_detached_end_all(true);
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
    loop_timer_stop(xw->worker->loop, &xw->idle_timer);
    conn_worker_cleanup();
    c2s_thread_cleanup();
    free(xw);
}

static const char *kind_name(enum conn_kind k)
{
    switch (k) {
    case CONN_C2S:
        return "c2s";
    case CONN_S2S_IN:
        return "s2s";
    case CONN_S2S_OUT:
        return "s2s-out";
    case CONN_UNKNOWN:
        break;
    }
    return "unknown";
}

void xmpp_connections_json(struct xmpp_worker *xw, json_t *array)
{
    for (struct conn *c = xw->conns; c; c = c->next) {
        if (c->closed || c->kind == CONN_S2S_OUT) {
            continue; /* outgoing ones are listed with their queue's state below */
        }
        const char *jid = c->st ? xstream_jid(c->st) : NULL;
        const char *state = c->st ? xstream_state_name(c->st) : "new";
        struct buf pairs;
        buf_init(&pairs, 4096);
        if (c->st && c->kind == CONN_S2S_IN && strcmp(state, "closed") != 0 &&
            s2s_in_describe(c->st, &pairs) != NULL) {
            /* An incoming s2s stream shows its authenticated domain pairs. */
            state = "authenticated";
            jid = buf_cstr(&pairs);
        }
        bool tls_on = c->tls && tls_conn_handshake_done(c->tls);
        json_t *o =
            json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:i, s:I, s:I, s:I, s:I, "
                      "s:I, s:I}",
                      "id", (json_int_t)c->id, "kind", kind_name(c->kind), "state", state, "peer",
                      c->peer, "jid", jid, "tls", tls_on ? tls_conn_version(c->tls) : NULL,
                      "cipher", tls_on ? tls_conn_cipher(c->tls) : NULL, "mechanism",
                      c->st ? xstream_mechanism(c->st) : NULL, "since", (json_int_t)c->since,
                      "worker", c->worker_id, "stanzas_in", (json_int_t)c->stanzas_in,
                      "stanzas_out", (json_int_t)c->stanzas_out, "bytes_in",
                      (json_int_t)c->bytes_in, "bytes_out", (json_int_t)c->bytes_out, "sends",
                      (json_int_t)c->sends, "receives", (json_int_t)c->receives);
        buf_cleanup(&pairs);
        const char *client = c->st && c->kind == CONN_C2S ? xstream_client(c->st) : NULL;
        if (o && client) {
            json_object_set_new(o, "client", json_string(client));
        }
        if (o) {
            json_array_append_new(array, o);
        }
    }
    c2s_detached_json(xw->worker->id, array);
    s2s_out_connections_json(xw, array);
}
