/* ws.c: RFC 7395 XMPP over WebSocket: the upgrade, and a framing (struct conn_filter) between the
 * conn and the ordinary client stream: frames are unwrapped by libwslay, <open/> and <close/>
 * become the stream header and its end, and what the stream writes is cut into one frame per
 * top-level element. An idle WebSocket gets a ping from the server; without an answer in time it
 * closes (1001), so half-open connections behind proxies end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "xml/ns.h"
#include "xml/xml.h"
#include "web/web_int.h"
#include "xmpp/conn.h"
#include "xmpp/stream.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct ws {
    struct conn *c;
    wslay_event_context_ptr ev;
    const char *in; /* socket bytes being decoded */
    size_t in_len;
    struct buf *text; /* where decoded stream text goes (during decode) */
    struct buf out;   /* what the stream wrote that is not a whole element yet */
    struct buf frame; /* scratch: one outgoing frame */
    bool failed;
    struct loop_timer ping_timer; /* idle: ping after the interval; pinged: the pong's deadline */
    bool pinged;                  /* a ping went out and nothing came since */
};

/* ---- keepalive: server pings ---- */

static void ping_tick(void *ud);

/* Something came from the client: the connection is alive; the next ping after the interval. */
static void ping_rearm(struct ws *w)
{
    int interval = worker_ctx()->cfg->http.ws_ping_interval;
    w->pinged = false;
    if (interval > 0) {
        loop_timer_start(w->c->loop, &w->ping_timer, (uint64_t)interval * 1000u, ping_tick, w);
    }
}

static void ping_tick(void *ud)
{
    struct ws *w = ud;
    if (w->failed || w->c->closed || w->c->closing) {
        return;
    }
    if (w->pinged) {
        /* RFC 6455 7.4.1: 1001, the endpoint is going away (the peer is not there). */
        log_conn(&w->c->log, LOG_PROBLEMS, "WebSocket: no pong in time, closing");
        wslay_event_queue_close(w->ev, WSLAY_CODE_GOING_AWAY, NULL, 0);
        wslay_event_send(w->ev);
        w->failed = true;
        conn_close(w->c, "WebSocket pong timeout");
        return;
    }
    struct wslay_event_msg msg = { WSLAY_PING, (const uint8_t *)"starling", 8 };
    if (wslay_event_queue_msg(w->ev, &msg) != 0 || wslay_event_send(w->ev) != 0) {
        w->failed = true;
        conn_close(w->c, "WebSocket send failed");
        return;
    }
    w->pinged = true;
    loop_timer_start(w->c->loop, &w->ping_timer,
                     (uint64_t)worker_ctx()->cfg->http.ws_ping_timeout * 1000u, ping_tick, w);
}

/* ---- incoming: frames to stream text ---- */

/* <open/> becomes the header of a jabber:client stream, with the client's to, version and
 * xml:lang; <close/> its end; any other element goes as it is. */
static int translate_in(struct ws *w, const char *msg, size_t len)
{
    size_t sp = xml_space_prefix(msg, len);
    struct strv m = { msg + sp, len - sp };
    bool open = m.len > 5 && strncmp(m.p, "<open", 5) == 0;
    bool close = m.len > 6 && strncmp(m.p, "<close", 6) == 0;
    if (!open && !close) {
        return buf_append(w->text, msg, len);
    }
    struct xml_node *el = xml_parse_element(m, NULL, NULL);
    if (el == NULL || el->ns == NULL || strcmp(el->ns, NS_FRAMING) != 0) {
        xml_node_unref(el);
        return buf_append(w->text, msg, len);
    }
    int rc;
    if (close) {
        rc = buf_append_c(w->text, "</stream:stream>");
    } else {
        rc = buf_append_c(w->text,
                          "<stream:stream xmlns='" NS_CLIENT "' xmlns:stream='" NS_STREAM "'");
        static const char *const attrs[] = { "to", "from", "version", "id" };
        for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
            const char *v = xml_node_attr(el, attrs[i]);
            if (v != NULL) {
                buf_printf(w->text, " %s='", attrs[i]);
                xml_escape_append(w->text, strv_c(v), true);
                buf_append_c(w->text, "'");
            }
        }
        rc = buf_append_c(w->text, ">");
    }
    xml_node_unref(el);
    return rc;
}

static ssize_t cb_recv(wslay_event_context_ptr ev, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    struct ws *w = ud;
    if (w->in_len == 0) {
        wslay_event_set_error(ev, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < w->in_len ? len : w->in_len;
    memcpy(buf, w->in, n);
    w->in += n;
    w->in_len -= n;
    return (ssize_t)n;
}

static ssize_t cb_send(wslay_event_context_ptr ev, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    (void)flags;
    struct ws *w = ud;
    if (conn_write_raw(w->c, (const char *)data, len) != 0) {
        wslay_event_set_error(ev, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static void cb_msg(wslay_event_context_ptr ev, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud)
{
    struct ws *w = ud;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        /* RFC 7395 section 3.2: XMPP travels in text frames only. */
        log_conn(&w->c->log, LOG_PROBLEMS, "WebSocket: binary message refused");
        wslay_event_queue_close(ev, WSLAY_CODE_UNSUPPORTED_DATA, NULL, 0);
        w->failed = true;
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME || w->failed) {
        return; /* ping, pong and close are answered by wslay */
    }
    if (translate_in(w, (const char *)arg->msg, arg->msg_length) != 0) {
        wslay_event_queue_close(ev, WSLAY_CODE_MESSAGE_TOO_BIG, NULL, 0);
        w->failed = true;
    }
}

static int ws_decode(void *ctx, const char *data, size_t len, struct buf *text)
{
    struct ws *w = ctx;
    w->in = data;
    w->in_len = len;
    w->text = text;
    ping_rearm(w);
    int rc = wslay_event_recv(w->ev);
    w->text = NULL;
    if (rc == 0) {
        rc = wslay_event_send(w->ev);
    }
    if (rc != 0 || w->failed || !wslay_event_want_read(w->ev)) {
        if (!w->failed && wslay_event_get_close_received(w->ev) == 0) {
            log_conn(&w->c->log, LOG_PROBLEMS, "WebSocket protocol error, closing");
        }
        w->failed = true;
        return ERR_CLOSED;
    }
    return 0;
}

/* ---- outgoing: stream text to one frame per element ---- */

/* The length of the tag starting at p[0] == '<' up to its '>' (quotes skipped), 0 if cut. */
static size_t tag_length(const char *p, size_t len)
{
    char q = 0;
    for (size_t i = 1; i < len; i++) {
        if (q) {
            q = p[i] == q ? 0 : q;
        } else if (p[i] == '\'' || p[i] == '"') {
            q = p[i];
        } else if (p[i] == '>') {
            return i + 1;
        }
    }
    return 0;
}

/* The length of the element starting at p[0] == '<', 0 when it is not complete yet. */
static size_t element_length(const char *p, size_t len)
{
    int depth = 0;
    size_t i = 0;
    while (i < len) {
        if (p[i] != '<') {
            i++;
            continue;
        }
        const char *end = NULL;
        if (len - i >= 9 && memcmp(p + i, "<![CDATA[", 9) == 0) {
            end = memmem(p + i, len - i, "]]>", 3);
            if (end == NULL) {
                return 0;
            }
            i = (size_t)(end - p) + 3;
            continue;
        }
        size_t t = tag_length(p + i, len - i);
        if (t == 0) {
            return 0;
        }
        if (p[i + 1] == '/') {
            depth--;
        } else if (p[i + t - 2] != '/' && p[i + 1] != '?' && p[i + 1] != '!') {
            depth++;
        }
        i += t;
        if (depth <= 0) {
            return i;
        }
    }
    return 0;
}

/* Whether the start tag [p, p+len) declares a default namespace (an xmlns attribute). */
static bool declares_ns(const char *p, size_t len)
{
    char q = 0;
    for (size_t i = 1; i + 6 < len; i++) {
        if (q) {
            q = p[i] == q ? 0 : q;
        } else if (p[i] == '\'' || p[i] == '"') {
            q = p[i];
        } else if ((p[i] == ' ' || p[i] == '\t' || p[i] == '\n') &&
                   memcmp(p + i + 1, "xmlns", 5) == 0 && (p[i + 6] == '=' || p[i + 6] == ' ')) {
            return true;
        }
    }
    return false;
}

static int queue_frame(struct ws *w, const char *p, size_t len)
{
    struct wslay_event_msg msg = { WSLAY_TEXT_FRAME, (const uint8_t *)p, len };
    return wslay_event_queue_msg(w->ev, &msg) == 0 ? 0 : ERR_CLOSED;
}

/* Our stream header becomes <open/> with its id, from, version and xml:lang. */
static int frame_header(struct ws *w, const char *tag, size_t len)
{
    struct buf *f = &w->frame;
    buf_reset(f);
    buf_append_c(f, "<open xmlns='" NS_FRAMING "'");
    /* Our own header: attributes after the name, the namespace declarations dropped. */
    const char *p = tag + strlen("<stream:stream");
    const char *end = tag + len - 1;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq == NULL || eq + 1 >= end) {
            break;
        }
        char q = eq[1];
        const char *vend = memchr(eq + 2, q, (size_t)(end - eq - 2));
        if (vend == NULL) {
            break;
        }
        struct strv name = { p, (size_t)(eq - p) };
        if (!(name.len >= 5 && memcmp(name.p, "xmlns", 5) == 0)) {
            buf_append_c(f, " ");
            buf_append(f, p, (size_t)(vend + 1 - p));
        }
        p = vend + 1;
    }
    buf_append_c(f, "/>");
    return queue_frame(w, f->p, f->len);
}

/* An element of the stream: given the namespace it has in the stream when it has none of its
 * own (RFC 7395 section 3.3.3: each frame is a standalone document). */
static int frame_element(struct ws *w, const char *p, size_t len)
{
    size_t t = tag_length(p, len);
    if (declares_ns(p, t)) {
        return queue_frame(w, p, len);
    }
    size_t name = 1;
    while (name < t && p[name] != ' ' && p[name] != '/' && p[name] != '>') {
        name++;
    }
    struct buf *f = &w->frame;
    buf_reset(f);
    buf_append(f, p, name);
    if (name > 8 && memcmp(p + 1, "stream:", 7) == 0) {
        buf_append_c(f, " xmlns:stream='" NS_STREAM "'");
    } else {
        buf_append_c(f, " xmlns='" NS_CLIENT "'");
    }
    if (buf_append(f, p + name, len - name) != 0) {
        return ERR_LIMIT;
    }
    return queue_frame(w, f->p, f->len);
}

/* Cuts what is whole in w->out into frames. */
static int frame_out(struct ws *w)
{
    struct buf *o = &w->out;
    int rc = 0;
    while (rc == 0) {
        size_t sp = xml_space_prefix(o->p, o->len);
        buf_consume(o, sp);
        if (o->len == 0) {
            break;
        }
        if (o->p[0] != '<') {
            const char *lt = memchr(o->p, '<', o->len);
            buf_consume(o, lt ? (size_t)(lt - o->p) : o->len);
            continue;
        }
        size_t n;
        if (o->len >= 16 && memcmp(o->p, "</stream:stream>", 16) == 0) {
            n = 16;
            rc = queue_frame(w, "<close xmlns='" NS_FRAMING "'/>",
                             strlen("<close xmlns='" NS_FRAMING "'/>"));
        } else if (o->len > 1 && o->p[1] == '?') {
            n = tag_length(o->p, o->len); /* the XML declaration */
        } else if (o->len >= 14 && memcmp(o->p, "<stream:stream", 14) == 0) {
            n = tag_length(o->p, o->len);
            rc = n ? frame_header(w, o->p, n) : 0;
        } else {
            n = element_length(o->p, o->len);
            rc = n ? frame_element(w, o->p, n) : 0;
        }
        if (n == 0) {
            break;
        }
        buf_consume(o, n);
    }
    return rc;
}

static int ws_encode(void *ctx, const char *data, size_t len)
{
    struct ws *w = ctx;
    if (w->failed) {
        return ERR_CLOSED;
    }
    int rc = buf_append(&w->out, data, len);
    if (rc == 0) {
        rc = frame_out(w);
    }
    if (rc == 0 && wslay_event_send(w->ev) != 0) {
        rc = ERR_CLOSED;
    }
    if (rc != 0) {
        w->failed = true;
        conn_close(w->c, "WebSocket send failed");
    }
    return rc;
}

static void ws_closing(void *ctx)
{
    struct ws *w = ctx;
    if (!wslay_event_get_close_sent(w->ev)) {
        wslay_event_queue_close(w->ev, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
    }
    wslay_event_send(w->ev);
}

static void ws_free(void *ctx)
{
    struct ws *w = ctx;
    loop_timer_stop(w->c->loop, &w->ping_timer);
    wslay_event_context_free(w->ev);
    buf_cleanup(&w->out);
    buf_cleanup(&w->frame);
    free(w);
}

/* A move to another worker: the ping timer goes with it. */
static void ws_leaving(void *ctx)
{
    struct ws *w = ctx;
    loop_timer_stop(w->c->loop, &w->ping_timer);
}

static void ws_arrived(void *ctx)
{
    ping_rearm(ctx);
}

static const struct conn_filter ws_filter = {
    .decode = ws_decode,
    .encode = ws_encode,
    .closing = ws_closing,
    .free = ws_free,
    .leaving = ws_leaving,
    .arrived = ws_arrived,
};

/* ---- the upgrade ---- */

static void accept_key(struct strv key, char out[64])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char in[128];
    int n = snprintf(in, sizeof(in), "%.*s" WS_GUID, (int)key.len, key.p);
    SHA1((const unsigned char *)in, (size_t)n, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* Checks the upgrade request; the status of a refusal with its reason, or 0. */
static int check_upgrade(const struct web_req *r, const char **why)
{
    const struct settings_http *cfg = &worker_ctx()->cfg->http;
    if (!web__has_token(r->upgrade, "websocket") || !web__has_token(r->connection, "upgrade")) {
        *why = "this is the XMPP WebSocket endpoint (RFC 7395): Upgrade: websocket expected";
        return 426;
    }
    if (!strv_eq_c(r->ws_version, "13") || r->ws_key.len == 0 || r->ws_key.len > 64) {
        *why = "Sec-WebSocket-Version 13 and a Sec-WebSocket-Key expected";
        return 400;
    }
    if (!web__has_token(r->ws_protocol, "xmpp")) {
        *why = "the WebSocket subprotocol xmpp (RFC 7395) is required";
        return 400;
    }
    if (r->origin.len > 0 && !web__origin_allowed(cfg->ws_origins, r->origin)) {
        *why = "this origin may not open an XMPP WebSocket (http.websocket_origins)";
        return 403;
    }
    return 0;
}

int web__ws_upgrade(struct conn *c, const struct web_req *r)
{
    const struct settings *cfg = worker_ctx()->cfg;
    const char *why = NULL;
    int status = check_upgrade(r, &why);
    if (status != 0) {
        log_conn(&c->log, LOG_PROBLEMS, "WebSocket upgrade refused (%d): %s", status, why);
        web__error(c, status, why);
        return status;
    }
    char key[64];
    accept_key(r->ws_key, key);
    char extra[256];
    snprintf(extra, sizeof(extra),
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
             "Sec-WebSocket-Protocol: xmpp\r\n",
             key);
    web__respond(c, 101, NULL, extra, NULL, 0);
    struct ws *w = xcalloc(1, sizeof(*w));
    w->c = c;
    size_t max = (size_t)cfg->http.ws_max_message;
    buf_init(&w->out, (size_t)cfg->xmpp.receiving.send_queue_limit);
    buf_init(&w->frame, (size_t)cfg->xmpp.receiving.send_queue_limit);
    static const struct wslay_event_callbacks cbs = {
        .recv_callback = cb_recv,
        .send_callback = cb_send,
        .on_msg_recv_callback = cb_msg,
    };
    wslay_event_context_server_init(&w->ev, &cbs, w);
    wslay_event_config_set_max_recv_msg_length(w->ev, max);
    conn_set_filter(c, &ws_filter, w);
    loop_timer_init(&w->ping_timer);
    ping_rearm(w);
    c->secure = web__plain_secure(c);
    c->st = xstream_new(c);
    log_conn(&c->log, LOG_LOWLEVEL, "WebSocket opened%s", conn_is_tls(c) ? " (secure)" : "");
    return 0;
}
