/* stream.c: the stream's life: header, features, STARTTLS, errors, element dispatch by state. */
#include "xmpp/stream_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "xml/ns.h"
#include "xmpp/s2s.h"
#include "xmpp/xmpp.h"

static int on_stream_open(void *ud, const struct xml_node *header, const char *default_ns);
static int on_element(void *ud, struct xml_node *el);
static int on_stream_close(void *ud);
static const struct conn_ops stream_conn_ops;

static xstream_feature_fn *g_features[XSTREAM_MAX_FEATURES];
static int g_nfeatures;

void xstream_add_feature(xstream_feature_fn *fn)
{
    if (g_nfeatures < XSTREAM_MAX_FEATURES) {
        g_features[g_nfeatures++] = fn;
    }
}

static const struct xml_stream_cbs parser_cbs = {
    .stream_open = on_stream_open,
    .element = on_element,
    .stream_close = on_stream_close,
};

const struct settings *xstream__cfg(void)
{
    return worker_ctx()->cfg;
}

static void auth_timeout(void *ud)
{
    struct xstream *st = ud;
    if (st->state != XS_BOUND) {
        xstream_error(st, "connection-timeout", "authentication took too long");
    }
}

static void new_parser(struct xstream *st)
{
    const struct settings *cfg = xstream__cfg();
    struct xml_limits lim = {
        .max_stanza_size = (size_t)cfg->xmpp.receiving.max_stanza_size,
        .max_depth = cfg->xmpp.receiving.max_depth,
        .max_attrs = XML_DEFAULT_MAX_ATTRS,
    };
    st->parser = xml_stream_new(&lim, &parser_cbs, st);
}

struct xstream *xstream_new(struct conn *c)
{
    struct xstream *st = xcalloc(1, sizeof(*st));
    st->c = c;
    c->ops = &stream_conn_ops;
    c->owner = st;
    st->move_to = -1;
    new_parser(st);
    st->a = xcalloc(1, sizeof(*st->a));
    for (int i = 0; i < SASL_CB_COUNT; i++) {
        buf_init(&st->a->cb[i], 256);
    }
    buf_init(&st->a->delayed, 4096);
    loop_timer_init(&st->a->delay_timer);
    unsigned char rnd[16];
    RAND_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(st->id + 2 * i, 3, "%02x", rnd[i]);
    }
    int timeout = xstream__cfg()->xmpp.receiving.auth_timeout;
    loop_timer_start(c->loop, &c->timer, (uint64_t)timeout * 1000u, auth_timeout, st);
    return st;
}

void xstream_free(struct xstream *st)
{
    if (st == NULL) {
        return;
    }
    xstream__auth_free(st);
    s2s_in_free(st);
    xml_stream_free(st->parser);
    free(st->user);
    free(st->bare);
    free(st->client);
    c2s_session_free(st->sess);
    free(st->pending_resource);
    free(st->pending_iq_id);
    free(st);
}

int xstream__write(struct xstream *st, const char *data, size_t len)
{
    if (log_conn_enabled(&st->c->log, LOG_ALLINFO)) {
        log_conn(&st->c->log, LOG_ALLINFO, "out: %.*s", (int)len, data);
    }
    return conn_write(st->c, data, len);
}

void xstream__set(char **dst, const char *fmt, ...)
{
    struct buf b;
    buf_init(&b, 8192);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    free(*dst);
    *dst = strv_dup(buf_strv(&b));
    buf_cleanup(&b);
}

int xstream__write_c(struct xstream *st, const char *text)
{
    return xstream__write(st, text, strlen(text));
}

int xstream__write_node(struct xstream *st, const struct xml_node *n)
{
    struct buf out;
    buf_init(&out, (size_t)xstream__cfg()->xmpp.receiving.send_queue_limit);
    struct xml_ser_opts o = { .parent_ns = NS_CLIENT };
    int rc = xml_serialize(&out, n, &o);
    if (rc == 0) {
        rc = xstream__write(st, out.p, out.len);
        if (st->state == XS_BOUND && st->sess && c2s__sm_enabled(st->sess)) {
            c2s__sm_sent(st->sess, NULL, out.p, out.len); /* counted and kept (XEP-0198) */
        }
    }
    buf_cleanup(&out);
    return rc;
}

static void append_attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s='", name);
    xml_escape_append(b, strv_c(value), true);
    buf_append_c(b, "'");
}

/* Our stream header; `from` is the name the client asked for when it is ours. */
static void send_header(struct xstream *st, const char *ns)
{
    if (st->header_sent) {
        return;
    }
    st->header_sent = true;
    struct buf b;
    buf_init(&b, 4096);
    buf_append_c(&b, "<?xml version='1.0'?><stream:stream");
    append_attr(&b, "xmlns", ns);
    append_attr(&b, "xmlns:stream", NS_STREAM);
    append_attr(&b, "id", st->id);
    const char *from = st->to_name[0] ? st->to_name : xstream__cfg()->server.main_domain;
    append_attr(&b, "from", from);
    if (!st->legacy) {
        append_attr(&b, "version", "1.0");
    }
    append_attr(&b, "xml:lang", "en");
    buf_append_c(&b, ">");
    xstream__write(st, b.p, b.len);
    buf_cleanup(&b);
}

/* Ends the stream with <condition/>; `level` is the System Log level of the record. */
/* `content`: the condition element's text (see-other-host's address), NULL: empty. */
static void stream_error_at(struct xstream *st, const char *condition, const char *text,
                            enum log_level level, const char *content)
{
    send_header(st, NS_CLIENT);
    xstream__flush_delayed(st);
    struct buf b;
    buf_init(&b, 4096);
    if (content != NULL) {
        buf_printf(&b, "<stream:error><%s xmlns='%s'>", condition, NS_STREAMS);
        xml_escape_append(&b, strv_c(content), false);
        buf_printf(&b, "</%s>", condition);
    } else {
        buf_printf(&b, "<stream:error><%s xmlns='%s'/>", condition, NS_STREAMS);
    }
    if (text) {
        buf_printf(&b, "<text xmlns='%s' xml:lang='en'>", NS_STREAMS);
        xml_escape_append(&b, strv_c(text), false);
        buf_append_c(&b, "</text>");
    }
    buf_append_c(&b, "</stream:error></stream:stream>");
    xstream__write(st, b.p, b.len);
    buf_cleanup(&b);
    atomic_fetch_add(&g_xmpp_stats.stream_errors, 1);
    log_conn(&st->c->log, level, "stream error %s%s%s", condition, text ? ": " : "",
             text ? text : "");
    st->state = XS_CLOSED;
    st->stop = true;
    conn_close(st->c, NULL);
}

void xstream_error(struct xstream *st, const char *condition, const char *text)
{
    if (st->state == XS_CLOSED) {
        return;
    }
    stream_error_at(st, condition, text, LOG_PROBLEMS, NULL);
}

void xstream_see_other_host(struct xstream *st, const char *address, const char *text)
{
    if (st->state == XS_CLOSED) {
        return;
    }
    stream_error_at(st, "see-other-host", text, LOG_MAJOR, address);
}

void xstream_error_before_tls(struct xstream *st)
{
    /* Our header of the first document was sent already: the error continues that stream. */
    st->header_sent = true;
    xstream_error(st, "policy-violation", "data after <starttls/> before the TLS handshake");
}

void xstream_shutdown(struct xstream *st)
{
    if (st->state == XS_CLOSED) {
        return;
    }
    /* Our own orderly stop, recorded once by SYSTEM: not a problem of each stream. */
    stream_error_at(st, "system-shutdown", NULL, LOG_LOWLEVEL, NULL);
}

static void features(struct xstream *st)
{
    struct buf b;
    buf_init(&b, 8192);
    /* Room for the usual lists at once (up to ~1.5 KB after TLS), not five reallocations. */
    (void)buf_reserve(&b, 2047);
    buf_append_c(&b, "<stream:features>");
    if (st->state == XS_AUTHED) {
        buf_printf(&b, "<bind xmlns='%s'/><session xmlns='%s'><optional/></session>", NS_BIND,
                   NS_SESSION);
        /* XEP-0237 roster versioning (im/roster.c). */
        buf_append_c(&b, "<ver xmlns='" NS_ROSTERVER_FEATURE "'/>");
        /* XEP-0198 stream management and XEP-0352 client state indication (sm.c, csi.c). */
        buf_append_c(&b, "<sm xmlns='" NS_SM "'/><csi xmlns='" NS_CSI "'/>");
    } else {
        xstream__features_auth(st, &b);
        xstream__register_feature(st, &b);
    }
    if (conn_is_tls(st->c) || !xstream__cfg()->xmpp.receiving.require_tls) {
        /* Other modules' (XEP-0115 caps); before a required STARTTLS, <starttls/> stays the
         * only feature. */
        for (int i = 0; i < g_nfeatures; i++) {
            g_features[i](&b);
        }
    }
    buf_append_c(&b, "</stream:features>");
    xstream__write(st, b.p, b.len);
    buf_cleanup(&b);
}

void xstream__features(struct xstream *st)
{
    features(st);
}

/* Each worker keeps the settings of the domains it recently served: every login opens three
 * streams (plain, TLS, authenticated) and each needs them. An entry is good while the domain
 * generation is unchanged (bumped by every administrative change of domains). */
#define DOMAIN_CACHE_SIZE 8

struct domain_cache_entry {
    bool used;
    unsigned gen;
    struct domain_cfg cfg;
};

static __thread struct domain_cache_entry t_domain_cache[DOMAIN_CACHE_SIZE];
static __thread unsigned t_domain_cache_next;

static int domain_cfg_get(const char *name, struct domain_cfg *out)
{
    unsigned gen = atomic_load(&g_server.domains_gen);
    for (int i = 0; i < DOMAIN_CACHE_SIZE; i++) {
        struct domain_cache_entry *e = &t_domain_cache[i];
        if (e->used && e->gen == gen && strcmp(e->cfg.name, name) == 0) {
            *out = e->cfg;
            return 0;
        }
    }
    int rc = accounts_domain_get(worker_ctx()->store, name, out);
    if (rc == 0 && strcmp(out->name, name) == 0) {
        struct domain_cache_entry *e = &t_domain_cache[t_domain_cache_next++ % DOMAIN_CACHE_SIZE];
        e->used = true;
        e->gen = gen;
        e->cfg = *out;
    }
    return rc;
}

/* Whether `to` of a restarted stream names the host of the first one (the same name, or a name
 * of the same local domain). */
static bool same_host(const struct xstream *st, const char *to)
{
    if (strcmp(st->to_name, to) == 0) {
        return true;
    }
    struct buf canonical;
    buf_init(&canonical, sizeof(st->domain) - 1);
    bool same =
        router_is_local_domain(to, &canonical) && strcmp(buf_cstr(&canonical), st->domain) == 0;
    buf_cleanup(&canonical);
    return same;
}

/* Checks the client's header (RFC 6120 §4.7) and answers with ours and the features. */
static int on_stream_open(void *ud, const struct xml_node *header, const char *default_ns)
{
    struct xstream *st = ud;
    const char *to = xml_node_attr(header, "to");
    bool restarted = st->to_name[0] != '\0';
    const char *version = xml_node_attr(header, "version");
    bool server_ns = default_ns && strcmp(default_ns, NS_SERVER) == 0;
    st->legacy = version == NULL;
    if (to && st->to_name[0] == '\0') {
        struct buf canonical;
        buf_init(&canonical, sizeof(st->domain) - 1);
        if (router_is_local_domain(to, &canonical)) {
            snprintf(st->to_name, sizeof(st->to_name), "%s", to);
            snprintf(st->domain, sizeof(st->domain), "%s", buf_cstr(&canonical));
        }
        buf_cleanup(&canonical);
    }
    if (default_ns == NULL || (!server_ns && strcmp(default_ns, NS_CLIENT) != 0)) {
        xstream_error(st, "invalid-namespace", "the content namespace must be jabber:client");
        return 1;
    }
    if (version) {
        /* RFC 6120 §4.7.5: major.minor; a higher major version than 1 is not spoken here. */
        char *end = NULL;
        long major = strtol(version, &end, 10);
        if (end == version || (*end != '.' && *end != '\0') || major > 1) {
            xstream_error(st, "unsupported-version", "this server speaks XMPP 1.0");
            return 1;
        }
        st->legacy = major < 1;
    }
    if (server_ns) {
        conn_set_kind(st->c, CONN_S2S_IN);
        return s2s_in_stream_open(st, header);
    }
    if (to == NULL || st->domain[0] == '\0') {
        xstream_error(st, "host-unknown",
                      to ? "this server does not serve that domain"
                         : "the stream header has no 'to' address");
        return 1;
    }
    if (restarted && !same_host(st, to)) {
        /* RFC 6120 section 4.3.3 / 6.4.6: a restarted stream (after STARTTLS or SASL) is to the
         * same host; the authentication belongs to the first one. */
        xstream_error(st, "host-unknown", "a restarted stream must name the host of the first");
        return 1;
    }
    conn_set_kind(st->c, CONN_C2S);
    if (domain_cfg_get(st->domain, &st->a->dom) != 0) {
        xstream_error(st, "internal-server-error", "domain settings unavailable");
        return 1;
    }
    if (!st->a->dom.xmpp_enabled) {
        xstream_error(st, "host-unknown", "XMPP is disabled for this domain");
        return 1;
    }
    send_header(st, NS_CLIENT);
    if (st->state == XS_HEADER) {
        st->state = XS_NEGOTIATE;
    }
    if (!st->legacy) {
        features(st);
    }
    log_conn(&st->c->log, LOG_LOWLEVEL, "stream opened to %s%s", st->to_name,
             conn_is_tls(st->c) ? " over TLS" : "");
    return 0;
}

static int on_stream_close(void *ud)
{
    struct xstream *st = ud;
    if (st->state != XS_CLOSED) {
        st->peer_closed = true; /* a clean end: a stream-managed session is not kept (sm.c) */
        xstream__flush_delayed(st);
        xstream__write_c(st, "</stream:stream>");
        st->state = XS_CLOSED;
        conn_close(st->c, "stream closed by peer");
    }
    return 1;
}

void xstream__restart(struct xstream *st)
{
    /* A new document follows: the parser restarts after the current element. */
    st->header_sent = false;
    st->stop = true;
}

void xstream__starttls(struct xstream *st, bool allowed)
{
    if (!allowed || conn_is_tls(st->c)) {
        xstream__write_c(st, "<failure xmlns='" NS_TLS "'/></stream:stream>");
        st->state = XS_CLOSED;
        conn_close(st->c, "STARTTLS not possible now");
        return;
    }
    xstream__write_c(st, "<proceed xmlns='" NS_TLS "'/>");
    if (conn_start_tls(st->c) != 0) {
        st->state = XS_CLOSED;
        conn_close(st->c, "TLS unavailable");
        return;
    }
    log_conn(&st->c->log, LOG_LOWLEVEL, "STARTTLS");
    xstream__restart(st);
}

static bool is(const struct xml_node *el, const char *ns, const char *name)
{
    return el->ns && strcmp(el->ns, ns) == 0 && strcmp(el->name, name) == 0;
}

static bool is_stanza(const struct xml_node *el)
{
    return el->ns && strcmp(el->ns, NS_CLIENT) == 0 &&
           (strcmp(el->name, "message") == 0 || strcmp(el->name, "presence") == 0 ||
            strcmp(el->name, "iq") == 0);
}

static bool is_legacy_auth(const struct xml_node *el)
{
    if (!is(el, NS_CLIENT, "iq")) {
        return false;
    }
    const struct xml_node *q = xml_node_first_element(el);
    return q && q->ns && strcmp(q->ns, NS_IQ_AUTH) == 0;
}

static bool is_iq_child(const struct xml_node *el, const char *ns, const char *name)
{
    if (!is(el, NS_CLIENT, "iq")) {
        return false;
    }
    const struct xml_node *q = xml_node_first_element(el);
    return q && is(q, ns, name);
}

static void element_negotiate(struct xstream *st, struct xml_node *el)
{
    if (is(el, NS_TLS, "starttls")) {
        xstream__starttls(st, st->state == XS_NEGOTIATE);
    } else if (is(el, NS_SASL, "auth")) {
        xstream__sasl_auth(st, el);
    } else if (el->ns && strcmp(el->ns, NS_SASL2) == 0) {
        xstream__sasl2_element(st, el);
    } else if (is_legacy_auth(el)) {
        xstream__legacy_auth(st, el);
    } else if (is_iq_child(el, NS_REGISTER, "query")) {
        xstream__register(st, el);
    } else if (is_iq_child(el, NS_PARS, "preauth")) {
        xstream__register_preauth(st, el);
    } else if (is_stanza(el)) {
        xstream_error(st, "not-authorized", "authenticate first");
    } else if (is(el, NS_SASL, "response") || is(el, NS_SASL, "abort")) {
        xstream__write_c(st, "<failure xmlns='" NS_SASL "'><malformed-request/></failure>");
    } else {
        xstream_error(st, "unsupported-stanza-type", NULL);
    }
}

static void element_sasl(struct xstream *st, struct xml_node *el)
{
    if (is(el, NS_SASL, "response")) {
        xstream__sasl_response(st, el);
    } else if (is(el, NS_SASL, "abort")) {
        xstream__sasl_abort(st);
    } else if (el->ns && strcmp(el->ns, NS_SASL2) == 0) {
        xstream__sasl2_element(st, el);
    } else if (is_stanza(el)) {
        xstream_error(st, "not-authorized", "authenticate first");
    } else {
        xstream_error(st, "unsupported-stanza-type", NULL);
    }
}

static void element_authed(struct xstream *st, struct xml_node *el)
{
    if (is_iq_child(el, NS_BIND, "bind")) {
        c2s__bind(st, el);
    } else if (is(el, NS_SM, "resume")) {
        c2s__sm_resume(st, el);
    } else if (is(el, NS_SM, "enable")) {
        /* XEP-0198 §3: after binding a resource. */
        xstream__write_c(st, "<failed xmlns='" NS_SM "'><unexpected-request xmlns='" NS_STANZAS
                             "'/></failed>");
    } else if (is_stanza(el)) {
        xstream_error(st, "not-authorized", "bind a resource first");
    } else {
        xstream_error(st, "unsupported-stanza-type", NULL);
    }
}

static int on_element(void *ud, struct xml_node *el)
{
    struct xstream *st = ud;
    if (st->c->kind == CONN_S2S_IN) {
        return s2s_in_element(st, el);
    }
    if (log_conn_enabled(&st->c->log, LOG_ALLINFO) && !is(el, NS_SASL, "auth") &&
        !is(el, NS_SASL, "response") && !is_legacy_auth(el) && !is(el, NS_SASL2, "authenticate") &&
        !is(el, NS_SASL2, "response") && !is_iq_child(el, NS_REGISTER, "query")) {
        struct buf b;
        buf_init(&b, 65536);
        struct xml_ser_opts o = { .parent_ns = NS_CLIENT };
        xml_serialize(&b, el, &o);
        log_conn(&st->c->log, LOG_ALLINFO, "in: %s", buf_cstr(&b));
        buf_cleanup(&b);
    }
    xstream__flush_delayed(st);
    if (st->state == XS_BOUND) {
        st->c->stanzas_in++;
        xmpp_count_stanza(st->c->worker_id, true);
    }
    switch (st->state) {
    case XS_NEGOTIATE:
        element_negotiate(st, el);
        break;
    case XS_SASL:
        element_sasl(st, el);
        break;
    case XS_AUTHED:
        element_authed(st, el);
        break;
    case XS_BOUND:
        c2s__stanza(st, el);
        break;
    case XS_HEADER:
    case XS_CLOSED:
        break;
    }
    xml_node_unref(el);
    if (st->stop || st->state == XS_CLOSED) {
        return 1;
    }
    /* A move without a restart: the document goes on, on the account's worker. */
    return st->move_to >= 0 ? XML_SUSPENDED : 0;
}

size_t xstream_feed(struct xstream *st, const char *data, size_t len)
{
    if (st->state == XS_CLOSED) {
        return len;
    }
    if (log_conn_enabled(&st->c->log, LOG_ALLINFO) && st->state == XS_HEADER) {
        log_conn(&st->c->log, LOG_ALLINFO, "in: %.*s", (int)(len > 512 ? 512 : len), data);
    }
    size_t used = 0;
    while (used < len && st->state != XS_CLOSED) {
        size_t consumed = 0;
        st->stop = false;
        int rc = xml_stream_feed(st->parser, data + used, len - used, &consumed);
        if (rc < 0) {
            const char *cond = xml_stream_error(st->parser);
            xstream_error(st, cond ? cond : "internal-server-error", NULL);
            return len;
        }
        if (rc == 0) {
            return len;
        }
        used += consumed;
        if (rc == XML_SUSPENDED) {
            return used;
        }
        if (st->state == XS_CLOSED) {
            return len;
        }
        if (!st->header_sent) {
            /* Restart (STARTTLS or SASL success): the next bytes are a new document. */
            xml_stream_reset(st->parser);
        }
        if (st->move_to >= 0 || st->stop) {
            /* The transport changes or the connection moves: the caller feeds the rest. */
            return used;
        }
    }
    return len;
}

int xstream_wants_move(const struct xstream *st)
{
    return st->move_to;
}

void xstream_moved(struct xstream *st)
{
    st->move_to = -1;
    struct conn *c = st->c;
    if (st->state != XS_BOUND) {
        int timeout = xstream__cfg()->xmpp.receiving.auth_timeout;
        loop_timer_start(c->loop, &c->timer, (uint64_t)timeout * 1000u, auth_timeout, st);
    } else {
        c2s__keepalive_start(st);
    }
    xstream__sasl2_moved(st);
    if (st->pending_legacy_bind) {
        st->pending_legacy_bind = false;
        c2s__bind_resource(st, st->pending_resource, NULL, true);
    }
    /* What the client sent after the element that caused the move is parsed here, on the
     * account's worker. */
    int rc = xml_stream_resume(st->parser);
    if (rc < 0) {
        xstream_error(st, xml_stream_error(st->parser), NULL);
    } else if (rc == XML_STOPPED && !st->header_sent && st->state != XS_CLOSED) {
        xml_stream_reset(st->parser);
    }
}

bool xstream_sleep(struct xstream *st)
{
    if (st->state == XS_CLOSED || st->move_to >= 0 || xml_stream_asleep(st->parser)) {
        return false;
    }
    if (st->state == XS_BOUND && st->a && st->a->delayed.len == 0) {
        xstream__auth_free(st); /* negotiation is over: only a bound session's state stays */
    }
    return xml_stream_sleep(st->parser) == 0;
}

void xstream_on_closed(struct xstream *st)
{
    c2s__closed(st);
    if (st->state != XS_CLOSED) {
        st->state = XS_CLOSED;
    }
}

void xstream__iq_result(struct xstream *st, const struct xml_node *iq, struct xml_node *payload)
{
    struct xml_node *r = xml_node_new(NS_CLIENT, "iq");
    xml_node_set_attr(r, "type", "result");
    const char *id = xml_node_attr(iq, "id");
    if (id) {
        xml_node_set_attr(r, "id", id);
    }
    if (payload) {
        xml_node_append_copy(r, payload);
        xml_node_unref(payload);
    }
    xstream__write_node(st, r);
    xml_node_unref(r);
}

void xstream__iq_error(struct xstream *st, const struct xml_node *iq, const char *type,
                       const char *condition, const char *text)
{
    struct xml_node *r = xml_node_new(NS_CLIENT, "iq");
    xml_node_set_attr(r, "type", "error");
    const char *id = xml_node_attr(iq, "id");
    if (id) {
        xml_node_set_attr(r, "id", id);
    }
    struct xml_node *e = xml_node_add_child(r, NULL, "error");
    xml_node_set_attr(e, "type", type);
    xml_node_add_child(e, NS_STANZAS, condition);
    if (text) {
        struct xml_node *t = xml_node_add_child(e, NS_STANZAS, "text");
        xml_node_add_text(t, text, strlen(text));
    }
    xstream__write_node(st, r);
    xml_node_unref(r);
}

const char *xstream_state_name(const struct xstream *st)
{
    static const char *const names[] = { "header",        "negotiating", "sasl",
                                         "authenticated", "bound",       "closed" };
    return names[st->state];
}

void xstream__set_client(struct xstream *st, const char *name, bool from_login)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > 128 ||
        (st->client_from_login && !from_login) || (st->client && strcmp(st->client, name) == 0)) {
        return;
    }
    free(st->client);
    st->client = xstrdup(name);
    st->client_from_login = from_login;
}

const char *xstream_client(const struct xstream *st)
{
    return st->client;
}

const char *xstream_mechanism(const struct xstream *st)
{
    return st->mechanism[0] ? st->mechanism : NULL;
}

bool xstream_authenticated(const struct xstream *st)
{
    return st->mechanism[0] != '\0' || st->state == XS_AUTHED || st->state == XS_BOUND;
}

bool xstream_awaiting_header(const struct xstream *st)
{
    return !st->header_sent && st->state != XS_CLOSED;
}

const char *xstream_jid(const struct xstream *st)
{
    if (st->state == XS_BOUND) {
        return st->sess->full;
    }
    if (st->state == XS_AUTHED) {
        return st->bare;
    }
    return NULL;
}

/* ---- the stream as the owner of its transport (struct conn_ops) ---- */

static size_t op_read(void *owner, const char *data, size_t len)
{
    return xstream_feed(owner, data, len);
}

static void op_closed(void *owner, const char *why)
{
    (void)why; /* conn.c has logged it */
    xstream_on_closed(owner);
}

static void op_free(void *owner)
{
    xstream_free(owner);
}

static int op_wants_move(void *owner)
{
    return xstream_wants_move(owner);
}

static void op_moved(void *owner)
{
    xstream_moved(owner);
}

static bool op_authenticated(void *owner)
{
    return xstream_authenticated(owner);
}

static bool op_awaiting_header(void *owner)
{
    return xstream_awaiting_header(owner);
}

static void op_expired(void *owner, const char *text)
{
    xstream_error(owner, "connection-timeout", text);
}

static void op_tls_refused(void *owner)
{
    xstream_error_before_tls(owner);
}

static const struct conn_ops stream_conn_ops = {
    .read = op_read,
    .closed = op_closed,
    .free = op_free,
    .wants_move = op_wants_move,
    .moved = op_moved,
    .authenticated = op_authenticated,
    .awaiting_header = op_awaiting_header,
    .expired = op_expired,
    .tls_refused = op_tls_refused,
};
