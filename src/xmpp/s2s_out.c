/* s2s_out.c: the connection of an outgoing server-to-server queue, a state machine over a
 * client conn (conn.c): resolve, connect, TLS, SASL EXTERNAL or dialback, send, idle close. The
 * queue (s2s_queue.c) decides about retries and bounces. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "tls/tls.h"
#include "xml/xml.h"
#include "xmpp/conn.h"
#include "xml/ns.h"
#include "xmpp/s2s_int.h"
#include "xmpp/xmpp.h"

#define OUT_MAX_BYTES (4L * 1024 * 1024)

enum ostate {
    O_RESOLVING,
    O_CONNECTING,
    O_HEADER,   /* our header sent, waiting for the remote's header and features */
    O_STARTTLS, /* <starttls/> sent */
    O_SASL,     /* <auth mechanism='EXTERNAL'/> sent */
    O_DIALBACK, /* <db:result/> sent */
    O_READY,    /* authenticated: stanzas flow */
    O_CLOSED,
};

struct s2s_out {
    struct s2s_out *prev, *next; /* the worker's connections */
    struct s2s_queue *q;
    struct s2s_worker *sw;
    struct conn *c; /* the transport; NULL while resolving and between addresses */
    unsigned long id;
    struct log_ctx log; /* XMPPO, id, peer (the target domain until connected) */
    enum ostate state;
    struct loop_timer timer; /* connect timeout, then idle timeout */
    struct loop_defer defer;
    struct s2s_dns_query *dq;
    struct s2s_addr addrs[S2S_MAX_ADDRS];
    int naddrs, idx;
    struct xml_stream *parser;
    bool counted; /* counted in g_out_count (a socket is open) */
    bool sasl_done;
    bool verified;   /* the remote's certificate validated for the target */
    bool offers_db;  /* the remote offered dialback */
    bool can_verify; /* db:verify may be sent (after TLS features) */
    bool legacy;     /* the remote's header had no version */
    char stream_id[128];
    char peer[64];
    char mechanism[32];
    time_t since;
    unsigned long stanzas_in, stanzas_out;
};

static atomic_int g_out_count;

static void out_close(struct s2s_out *o, const char *reason, const char *cond, bool not_found);
static int out_write(struct s2s_out *o, const char *data, size_t len);

static const struct settings *cfg(void)
{
    return s2s__cfg();
}

/* ---- dialback verifications asked through the queue ---- */

static void out_send_verifies(struct s2s_out *o)
{
    struct s2s_queue *q = o->q;
    for (struct s2s_verify *v = q->verifies; v; v = v->next) {
        if (v->sent) {
            continue;
        }
        struct buf b;
        buf_init(&b, 2048);
        buf_append_c(&b, "<db:verify from='");
        xml_escape_append(&b, strv_c(q->source), true);
        buf_append_c(&b, "' to='");
        xml_escape_append(&b, strv_c(q->target), true);
        buf_append_c(&b, "' id='");
        xml_escape_append(&b, strv_c(v->id), true);
        buf_append_c(&b, "'>");
        xml_escape_append(&b, strv_c(v->key), false);
        buf_append_c(&b, "</db:verify>");
        out_write(o, b.p, b.len);
        buf_cleanup(&b);
        v->sent = true;
    }
}

void s2s__out_send_verifies(struct s2s_out *o)
{
    if (o->can_verify && (o->state == O_DIALBACK || o->state == O_READY)) {
        out_send_verifies(o);
    }
}

/* The remote answered a db:verify we sent. */
static void out_verify_answer(struct s2s_out *o, const struct xml_node *el)
{
    const char *id = xml_node_attr(el, "id");
    const char *type = xml_node_attr(el, "type");
    struct s2s_queue *q = o->q;
    for (struct s2s_verify **pp = &q->verifies; *pp; pp = &(*pp)->next) {
        struct s2s_verify *v = *pp;
        if (v->sent && id && strcmp(v->id, id) == 0) {
            *pp = v->next;
            q->nverifies--;
            bool valid = type && strcmp(type, "valid") == 0;
            s2s__in_verified_post(v->worker, v->conn, q->target, q->source, valid,
                                  valid ? NULL : "the authoritative server said invalid");
            free(v);
            return;
        }
    }
}

/* ---- the connection ---- */

static const char *ostate_name(enum ostate s)
{
    static const char *const names[] = { "resolving", "connecting", "stream", "starttls",
                                         "sasl",      "dialback",   "ready",  "closed" };
    return names[s];
}

static int out_write(struct s2s_out *o, const char *data, size_t len)
{
    if (o->state == O_CLOSED || o->c == NULL) {
        return ERR_CLOSED;
    }
    if (log_conn_enabled(&o->log, LOG_ALLINFO)) {
        log_conn(&o->log, LOG_ALLINFO, "out: %.*s", (int)len, data);
    }
    /* On failure the conn is closed already and out_closed has run. */
    return conn_write(o->c, data, len);
}

static void out_free(void *ud)
{
    struct s2s_out *o = ud;
    struct s2s_worker *sw = o->sw;
    if (o->prev) {
        o->prev->next = o->next;
    } else {
        sw->outs = o->next;
    }
    if (o->next) {
        o->next->prev = o->prev;
    }
    xml_stream_free(o->parser);
    free(o);
}

/* Lets the transport go: flushed first after a normal end, dropped at once after a failure. */
static void drop_conn(struct s2s_out *o, bool flush)
{
    struct conn *c = o->c;
    if (c == NULL) {
        return;
    }
    o->c = NULL;
    conn_detach(c);
    if (flush) {
        conn_close(c, NULL);
    } else {
        conn_abandon(c);
    }
    if (o->counted) {
        o->counted = false;
        atomic_fetch_sub(&g_out_count, 1);
    }
}

/* Ends the connection. `cond` NULL: a normal close (idle, or by the peer with nothing lost);
 * else the failure's stanza error condition for the queue. */
static void out_close(struct s2s_out *o, const char *reason, const char *cond, bool not_found)
{
    if (o->state == O_CLOSED) {
        return;
    }
    struct s2s_queue *q = o->q;
    o->state = O_CLOSED;
    s2s__dns_cancel(o->dq);
    o->dq = NULL;
    loop_timer_stop(o->sw->loop, &o->timer);
    drop_conn(o, cond == NULL);
    loop_defer(o->sw->loop, &o->defer, out_free, o);
    log_conn(&o->log, cond ? LOG_PROBLEMS : LOG_LOWLEVEL, "%s -> %s: connection closed: %s",
             q ? q->source : "", q ? q->target : "", reason);
    if (q == NULL) {
        return;
    }
    q->out = NULL;
    o->q = NULL;
    if (cond) {
        s2s__fmt(q->error, sizeof(q->error), "%s", reason);
    }
    /* Verifications sent on this connection go again on the next one. */
    for (struct s2s_verify *v = q->verifies; v; v = v->next) {
        v->sent = false;
    }
    s2s__queue_closed(q, cond, not_found);
}

static void send_header(struct s2s_out *o)
{
    struct s2s_queue *q = o->q;
    struct buf b;
    buf_init(&b, 2048);
    buf_append_c(&b, "<?xml version='1.0'?><stream:stream xmlns='" NS_SERVER
                     "' xmlns:stream='" NS_STREAM "' xmlns:db='" NS_DIALBACK "' from='");
    xml_escape_append(&b, strv_c(q->source), true);
    buf_append_c(&b, "' to='");
    xml_escape_append(&b, strv_c(q->target), true);
    buf_append_c(&b, "' version='1.0' xml:lang='en'>");
    o->state = O_HEADER;
    o->stream_id[0] = '\0';
    out_write(o, b.p, b.len);
    buf_cleanup(&b);
}

static void on_timeout(void *ud)
{
    struct s2s_out *o = ud;
    if (o->state == O_READY) {
        /* Idle: nothing was sent for idle_timeout. */
        if (o->q && (o->q->head || o->q->verifies)) {
            s2s__out_sent(o);
            return;
        }
        out_write(o, "</stream:stream>", 16);
        out_close(o, "idle", NULL, false);
        return;
    }
    out_close(o, "timed out setting up the stream", "remote-server-timeout", false);
}

bool s2s__out_ready(const struct s2s_out *o)
{
    return o != NULL && o->state == O_READY;
}

void s2s__out_send(struct s2s_out *o, const char *xml, size_t len)
{
    o->stanzas_out++;
    out_write(o, xml, len);
}

void s2s__out_sent(struct s2s_out *o)
{
    if (o->state == O_READY) {
        loop_timer_start(o->sw->loop, &o->timer, (uint64_t)cfg()->xmpp.sending.idle_timeout * 1000u,
                         on_timeout, o);
    }
}

unsigned long s2s__out_id(const struct s2s_out *o)
{
    return o->id;
}

static void ready(struct s2s_out *o, const char *mechanism)
{
    struct s2s_queue *q = o->q;
    s2s__fmt(o->mechanism, sizeof(o->mechanism), "%s", mechanism);
    o->state = O_READY;
    log_conn(&o->log, LOG_MAJOR, "%s -> %s: authenticated (%s)%s", q->source, q->target, mechanism,
             o->verified ? ", certificate valid" : "");
    s2s__queue_ready(q);
}

static void start_dialback(struct s2s_out *o)
{
    struct s2s_queue *q = o->q;
    char key[S2S_KEY_LEN + 1];
    s2s__dialback_key(q->target, q->source, o->stream_id, key);
    struct buf b;
    buf_init(&b, 1024);
    buf_append_c(&b, "<db:result from='");
    xml_escape_append(&b, strv_c(q->source), true);
    buf_append_c(&b, "' to='");
    xml_escape_append(&b, strv_c(q->target), true);
    buf_printf(&b, "'>%s</db:result>", key);
    o->state = O_DIALBACK;
    out_write(o, b.p, b.len);
    buf_cleanup(&b);
}

static bool offers_external(const struct xml_node *features)
{
    const struct xml_node *m = xml_node_child(features, NS_SASL, "mechanisms");
    for (const struct xml_node *c = m ? xml_node_first_element(m) : NULL; c;
         c = xml_node_next_element(c)) {
        struct buf t;
        buf_init(&t, 64);
        xml_node_text(c, &t);
        bool ext = strcmp(buf_cstr(&t), "EXTERNAL") == 0;
        buf_cleanup(&t);
        if (ext) {
            return true;
        }
    }
    return false;
}

/* Returns non-zero when the parser must stop (restart or close). */
static int on_features(struct s2s_out *o, const struct xml_node *el)
{
    struct s2s_queue *q = o->q;
    if (!conn_is_tls(o->c)) {
        if (xml_node_child(el, NS_TLS, "starttls") == NULL) {
            out_close(o, "the remote server offers no TLS", "remote-server-not-found", false);
            return 1;
        }
        o->state = O_STARTTLS;
        out_write(o, "<starttls xmlns='" NS_TLS "'/>", strlen("<starttls xmlns='" NS_TLS "'/>"));
        return 0;
    }
    o->can_verify = true;
    o->offers_db = xml_node_child(el, NS_DIALBACK_FEATURE, "dialback") != NULL;
    if (o->sasl_done) {
        ready(o, "SASL EXTERNAL");
    } else if (offers_external(el)) {
        /* The remote offers EXTERNAL when our certificate validated there (XEP-0178). */
        char b64[4 * S2S_DOMAIN_MAX / 3 + 8];
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)q->source,
                        (int)strlen(q->source));
        struct buf b;
        buf_init(&b, 1024);
        buf_printf(&b, "<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>", NS_SASL, b64);
        o->state = O_SASL;
        out_write(o, b.p, b.len);
        buf_cleanup(&b);
    } else if (o->offers_db && cfg()->xmpp.sending.dialback) {
        start_dialback(o);
    } else {
        out_close(o,
                  o->offers_db ? "dialback is disabled and SASL EXTERNAL is not offered"
                               : "no authentication method in common",
                  "remote-server-not-found", false);
        return 1;
    }
    if (o->state == O_DIALBACK || o->state == O_READY) {
        /* Not during SASL: its success restarts the stream under what would follow. */
        out_send_verifies(o);
    }
    return o->state == O_CLOSED;
}

static void log_in(struct s2s_out *o, const struct xml_node *el)
{
    if (!log_conn_enabled(&o->log, LOG_ALLINFO)) {
        return;
    }
    struct buf b;
    buf_init(&b, 65536);
    struct xml_ser_opts so = { .parent_ns = NS_SERVER };
    xml_serialize(&b, el, &so);
    log_conn(&o->log, LOG_ALLINFO, "in: %s", buf_cstr(&b));
    buf_cleanup(&b);
}

static bool is(const struct xml_node *el, const char *ns, const char *name)
{
    return el->ns && strcmp(el->ns, ns) == 0 && strcmp(el->name, name) == 0;
}

static int element(struct s2s_out *o, struct xml_node *el)
{
    struct s2s_queue *q = o->q;
    log_in(o, el);
    if (is(el, NS_STREAM, "features")) {
        return on_features(o, el);
    }
    if (is(el, NS_TLS, "proceed") && o->state == O_STARTTLS) {
        if (conn_start_tls_client(o->c, q->source, q->target, true) != 0) {
            out_close(o, "TLS unavailable", "remote-server-not-found", false);
            return 1;
        }
        send_header(o);
        return 1; /* the rest is TLS: a new document */
    }
    if (is(el, NS_SASL, "success") && o->state == O_SASL) {
        o->sasl_done = true;
        send_header(o);
        return 1;
    }
    if (is(el, NS_SASL, "failure") && o->state == O_SASL) {
        if (o->offers_db && cfg()->xmpp.sending.dialback) {
            log_conn(&o->log, LOG_LOWLEVEL,
                     "SASL EXTERNAL refused, trying "
                     "dialback");
            start_dialback(o);
            out_send_verifies(o); /* held back while SASL was under way */
            return 0;
        }
        out_close(o, "SASL EXTERNAL refused", "remote-server-not-found", false);
        return 1;
    }
    if (is(el, NS_DIALBACK, "result") && o->state == O_DIALBACK) {
        const char *type = xml_node_attr(el, "type");
        if (type && strcmp(type, "valid") == 0) {
            ready(o, "dialback");
            return 0;
        }
        out_close(o, "dialback refused by the remote server", "remote-server-not-found", false);
        return 1;
    }
    if (is(el, NS_DIALBACK, "verify")) {
        out_verify_answer(o, el);
        return 0;
    }
    if (is(el, NS_STREAM, "error")) {
        const struct xml_node *c = xml_node_first_element(el);
        char why[200];
        s2s__fmt(why, sizeof(why), "stream error from the remote server: %s", c ? c->name : "?");
        out_close(o, why, o->state == O_READY ? NULL : "remote-server-not-found", false);
        return 1;
    }
    if (is(el, NS_TLS, "failure")) {
        out_close(o, "STARTTLS refused", "remote-server-not-found", false);
        return 1;
    }
    /* Stanzas on our outgoing stream (no bidi negotiated) are not accepted. */
    log_conn(&o->log, LOG_PROBLEMS, "unexpected <%s/> ignored", el->name);
    return 0;
}

static int cb_open(void *ud, const struct xml_node *header, const char *default_ns)
{
    struct s2s_out *o = ud;
    const char *id = xml_node_attr(header, "id");
    if (default_ns == NULL || strcmp(default_ns, NS_SERVER) != 0) {
        out_close(o, "the remote stream is not jabber:server", "remote-server-not-found", false);
        return 1;
    }
    s2s__fmt(o->stream_id, sizeof(o->stream_id), "%s", id ? id : "");
    o->legacy = xml_node_attr(header, "version") == NULL;
    if (o->legacy && !conn_is_tls(o->c)) {
        /* A pre-1.0 server sends no features: dialback in the clear is all it knows. */
        out_close(o, "the remote server does not speak XMPP 1.0 (no TLS)",
                  "remote-server-not-found", false);
        return 1;
    }
    return 0;
}

static int cb_element(void *ud, struct xml_node *el)
{
    struct s2s_out *o = ud;
    int rc = o->state == O_CLOSED ? 1 : element(o, el);
    xml_node_unref(el);
    return rc != 0 || o->state == O_CLOSED ? 1 : 0;
}

static int cb_close(void *ud)
{
    struct s2s_out *o = ud;
    if (o->state == O_READY) {
        out_write(o, "</stream:stream>", 16);
        out_close(o, "closed by the remote server", NULL, false);
    } else {
        out_close(o, "stream closed by the remote server", "remote-server-not-found", false);
    }
    return 1;
}

static const struct xml_stream_cbs out_cbs = {
    .stream_open = cb_open,
    .element = cb_element,
    .stream_close = cb_close,
};

/* ---- the transport's callbacks (struct conn_ops) ---- */

static size_t out_read(void *owner, const char *data, size_t len)
{
    struct s2s_out *o = owner;
    if (o->state == O_CLOSED) {
        return len;
    }
    struct tls_conn *tls = o->c->tls;
    if (tls && !o->verified && tls_conn_handshake_done(tls)) {
        o->verified = tls_conn_peer_verify_domain(tls, o->q->target);
    }
    size_t used = 0;
    int rc = xml_stream_feed(o->parser, data, len, &used);
    if (rc < 0) {
        char why[128];
        s2s__fmt(why, sizeof(why), "bad XML from the remote server: %s",
                 xml_stream_error(o->parser) ? xml_stream_error(o->parser) : "?");
        out_close(o, why, "remote-server-not-found", false);
        return len;
    }
    if (rc == 0 || o->state == O_CLOSED) {
        return len;
    }
    /* A restart: after <proceed/> the rest is the TLS handshake (the conn takes it), after
     * <success/> a new document. */
    xml_stream_reset(o->parser);
    return used;
}

static void out_closed(void *owner, const char *why)
{
    struct s2s_out *o = owner;
    o->c = NULL; /* the conn frees itself */
    if (o->counted) {
        o->counted = false;
        atomic_fetch_sub(&g_out_count, 1);
    }
    bool clean = o->state == O_READY && o->q && o->q->head == NULL;
    out_close(o, why ? why : "connection closed by the remote server",
              clean ? NULL : "remote-server-timeout", false);
}

static void try_connect(struct s2s_out *o);

static void connected(struct s2s_out *o)
{
    const struct s2s_addr *a = &o->addrs[o->idx];
    s2s__fmt(o->peer, sizeof(o->peer), "%s", o->c->peer);
    log_conn(&o->log, LOG_LOWLEVEL, "%s -> %s: connected%s", o->q->source, o->q->target,
             a->tls ? " (direct TLS)" : "");
    o->parser = xml_stream_new(
        &(struct xml_limits){
            .max_stanza_size = (size_t)cfg()->xmpp.receiving.max_stanza_size,
            .max_depth = cfg()->xmpp.receiving.max_depth,
        },
        &out_cbs, o);
    if (a->tls && conn_start_tls_client(o->c, o->q->source, o->q->target, false) != 0) {
        out_close(o, "TLS unavailable", "remote-server-not-found", false);
        return;
    }
    send_header(o);
}

static void out_connected(void *owner, int err)
{
    struct s2s_out *o = owner;
    if (err == 0) {
        connected(o);
        return;
    }
    const struct s2s_addr *a = &o->addrs[o->idx];
    log_conn(&o->log, LOG_LOWLEVEL, "%s -> %s: connect to %s port %u: %s", o->q->source,
             o->q->target, a->host, (unsigned)a->port, strerror(err));
    s2s__fmt(o->q->error, sizeof(o->q->error), "%s port %u: %s", a->host, (unsigned)a->port,
             strerror(err));
    drop_conn(o, false);
    o->idx++;
    try_connect(o);
}

static const struct conn_ops out_conn_ops = {
    .read = out_read,
    .closed = out_closed,
    .connected = out_connected,
};

static void try_connect(struct s2s_out *o)
{
    while (o->idx < o->naddrs) {
        const struct s2s_addr *a = &o->addrs[o->idx];
        if (atomic_fetch_add(&g_out_count, 1) >= cfg()->xmpp.sending.max_connections) {
            atomic_fetch_sub(&g_out_count, 1);
            out_close(o, "xmpp.sending.max_connections reached", "remote-server-timeout", false);
            return;
        }
        o->c = conn_connect(o->sw->xw, (const struct sockaddr *)&a->sa, (unsigned)a->salen, o->id,
                            (size_t)OUT_MAX_BYTES, &out_conn_ops, o);
        if (o->c) {
            o->counted = true;
            o->state = O_CONNECTING;
            return;
        }
        s2s__fmt(o->q->error, sizeof(o->q->error), "%s port %u: %s", a->host, (unsigned)a->port,
                 strerror(errno));
        atomic_fetch_sub(&g_out_count, 1);
        o->idx++;
    }
    char why[200];
    s2s__fmt(why, sizeof(why), "cannot connect: %s", o->q->error[0] ? o->q->error : "no address");
    out_close(o, why, "remote-server-not-found", false);
}

static void resolved(void *ud, const struct s2s_addr *addrs, int n, const char *error,
                     bool not_found)
{
    struct s2s_out *o = ud;
    o->dq = NULL;
    if (n == 0) {
        out_close(o, error ? error : "no address", "remote-server-not-found", not_found);
        return;
    }
    memcpy(o->addrs, addrs, (size_t)n * sizeof(addrs[0]));
    o->naddrs = n;
    o->idx = 0;
    try_connect(o);
}

static const struct s2s_route *find_route(const char *domain)
{
    const struct settings *c = cfg();
    for (int i = 0; i < c->xmpp.sending.route_count; i++) {
        if (strcmp(c->xmpp.sending.routes[i].domain, domain) == 0) {
            return &c->xmpp.sending.routes[i];
        }
    }
    return NULL;
}

void s2s__out_open(struct s2s_queue *q)
{
    struct s2s_worker *sw = q->sw;
    struct s2s_out *o = xcalloc(1, sizeof(*o));
    o->q = q;
    o->sw = sw;
    o->id = atomic_fetch_add(&g_server.next_conn_id, 1) + 1;
    o->since = time(NULL);
    o->state = O_RESOLVING;
    loop_timer_init(&o->timer);
    s2s__fmt(o->peer, sizeof(o->peer), "%s", q->target);
    o->log = (struct log_ctx){ .tag = LOG_TAG_XMPPO, .id = o->id, .peer = o->peer };
    o->next = sw->outs;
    if (sw->outs) {
        sw->outs->prev = o;
    }
    sw->outs = o;
    q->out = o;
    loop_timer_start(sw->loop, &o->timer, (uint64_t)cfg()->xmpp.sending.connect_timeout * 1000u,
                     on_timeout, o);
    log_conn(&o->log, LOG_LOWLEVEL, "%s -> %s: opening a connection", q->source, q->target);
    if (sw->dns == NULL) {
        out_close(o, "no DNS resolver", "remote-server-not-found", false);
        return;
    }
    o->dq = s2s__dns_resolve(sw->dns, q->target, find_route(q->target), resolved, o);
}

void s2s__out_close_refused(struct s2s_out *o)
{
    if (o->state == O_READY) {
        out_write(o, "</stream:stream>", 16);
    }
    out_close(o, "refused by xmpp.s2s_blocked / xmpp.s2s_allowed", "not-allowed", true);
}

bool s2s__out_close_id(struct s2s_worker *sw, unsigned long id)
{
    for (struct s2s_out *o = sw->outs; o; o = o->next) {
        if (o->id == id && o->state != O_CLOSED) {
            if (o->state == O_READY) {
                out_write(o, "</stream:stream>", 16);
            }
            out_close(o, "closed by the administrator", NULL, false);
            return true;
        }
    }
    return false;
}

void s2s__out_shutdown(struct s2s_worker *sw)
{
    for (struct s2s_out *o = sw->outs; o; o = o->next) {
        if (o->state == O_READY) {
            out_write(o, "</stream:stream>", 16);
        }
        out_close(o, "server shutdown", NULL, false);
    }
}

/* ---- monitoring ---- */

void s2s_out_connections_json(struct xmpp_worker *xw, json_t *array)
{
    struct s2s_worker *sw = xw->s2s;
    if (sw == NULL) {
        return;
    }
    for (struct s2s_out *o = sw->outs; o; o = o->next) {
        if (o->state == O_CLOSED || o->q == NULL) {
            continue;
        }
        struct tls_conn *tls = o->c ? o->c->tls : NULL;
        bool tls_on = tls && tls_conn_handshake_done(tls);
        char jid[2 * S2S_DOMAIN_MAX + 8];
        s2s__fmt(jid, sizeof(jid), "%s -> %s", o->q->source, o->q->target);
        json_t *j = json_pack(
            "{s:I, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:I, s:i, s:I, s:I, s:I, s:I}", "id",
            (json_int_t)o->id, "kind", "s2s-out", "state", ostate_name(o->state), "peer", o->peer,
            "jid", jid, "tls", tls_on ? tls_conn_version(tls) : NULL, "cipher",
            tls_on ? tls_conn_cipher(tls) : NULL, "mechanism",
            o->mechanism[0] ? o->mechanism : NULL, "since", (json_int_t)o->since, "worker",
            xw->worker->id, "stanzas_in", (json_int_t)o->stanzas_in, "stanzas_out",
            (json_int_t)o->stanzas_out, "bytes_in", (json_int_t)(o->c ? o->c->bytes_in : 0),
            "bytes_out", (json_int_t)(o->c ? o->c->bytes_out : 0));
        if (j) {
            json_array_append_new(array, j);
        }
    }
}
