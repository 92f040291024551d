/* c2s.c: the client session: resource binding, stanzas to signals, signals to the client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "jid/jid.h"
#include "im/homestate.h"
#include "im/im.h"
#include "services/services.h"
#include "xml/ns.h"
#include "xmpp/convert.h"
#include "xmpp/stream_internal.h"
#include "xmpp/xmpp.h"

/* A message a person wrote: a body, and not an error or a headline. */
static bool wants_push(const struct signal *sig)
{
    if (sig->method != SIGNAL_MESSAGE || sig->xmpp_data == NULL ||
        (sig->type && (strcmp(sig->type, "error") == 0 || strcmp(sig->type, "headline") == 0))) {
        return false;
    }
    return xml_node_child(sig->xmpp_data, NS_CLIENT, "body") != NULL;
}

/* The text of the stanza being written, kept per worker thread between stanzas (no allocation
 * per delivery). A write can end a session and with it deliver to another one on this thread
 * (c2s__send inside c2s__send): the inner call then uses a buffer of its own. */
static __thread struct buf t_send;
static __thread bool t_send_busy;

void c2s_thread_cleanup(void)
{
    buf_cleanup(&t_send);
}

static void write_signal(struct xstream *st, const struct signal *sig)
{
    size_t max = (size_t)xstream__cfg()->xmpp.receiving.send_queue_limit;
    struct buf own;
    struct buf *out = &own;
    if (!t_send_busy) {
        out = &t_send;
        t_send_busy = true;
        if (t_send.max != max) {
            buf_cleanup(&t_send);
            buf_init(&t_send, max);
        }
    } else {
        buf_init(&own, max);
    }
    buf_reset(out);
    if (convert_signal_xml(sig, out) == 0) {
        xstream__write(st, out->p, out->len);
        st->c->stanzas_out++;
        xmpp_count_stanza(st->c->worker_id, false);
    }
    if (out == &t_send) {
        buf_reset(&t_send);
        if (t_send.cap > 65536) {
            buf_release(&t_send); /* a large stanza's buffer is not kept */
        }
        t_send_busy = false;
    } else {
        buf_cleanup(&own);
    }
}

void c2s__send(struct c2s_session *s, struct signal *sig)
{
    struct xstream *st = s->st;
    if (st != NULL && st->state == XS_BOUND) {
        write_signal(st, sig);
    }
    if ((st == NULL || s->inactive) && s->sm != NULL && !s->ended && wants_push(sig)) {
        /* Detached, or in the background (XEP-0352 inactive): the phone learns through its
         * app server (XEP-0357). */
        services_push_notify(&s->jid, sig, ++s->push_count);
    }
    if (s->sm != NULL) {
        /* Kept until acknowledged, also while detached or closing (XEP-0198). */
        c2s__sm_sent(s, sig, NULL, 0);
        return;
    }
    signal_free(sig);
}

/* The router hands a signal for this session. */
static void deliver(void *ud, struct signal *sig)
{
    struct c2s_session *s = ud;
    if (c2s__csi_hold(s, sig)) {
        return;
    }
    /* Something urgent goes out: what was held goes first, in order. */
    c2s__csi_flush(s);
    c2s__send(s, sig);
}

bool c2s__is_session(const struct router_session *rs)
{
    return rs->deliver == deliver;
}

static void generated_resource(char *out, size_t len)
{
    unsigned char rnd[8];
    RAND_bytes(rnd, sizeof(rnd));
    int n = snprintf(out, len, "starling-");
    for (size_t i = 0; i < sizeof(rnd) && (size_t)n + 2 < len; i++) {
        n += snprintf(out + n, len - (size_t)n, "%02x", rnd[i]);
    }
}

/* The router (router_account_end): the account was removed or disabled. */
static void end(struct router_session *rs, const char *condition, const char *text)
{
    struct c2s_session *s = rs->ud;
    if (c2s__sm_end_from_outside(s)) {
        return; /* a detached session: ended and freed */
    }
    if (s->st != NULL && strcmp(condition, "see-other-host") == 0 && text != NULL) {
        /* The cluster moved the account's home (`text` is the new home's address). */
        xstream_see_other_host(s->st, text, "this account is now served by another node");
    } else if (s->st != NULL) {
        xstream_error(s->st, condition,
                      text ? text : "the account was changed by an administrator");
    }
}

void c2s_session_free(struct c2s_session *s)
{
    if (s == NULL) {
        return;
    }
    c2s__sm_free(s);
    c2s__csi_free(s);
    jid_cleanup(&s->jid);
    free(s->bare);
    free(s->full);
    free(s->resource);
    free(s);
}

/* A session for the bound resource, or NULL when the full JID is not valid. */
static struct c2s_session *session_new(struct xstream *st, const char *resource)
{
    struct c2s_session *s = xcalloc(1, sizeof(*s));
    s->st = st;
    xstream__set(&s->bare, "%s", st->bare);
    xstream__set(&s->full, "%s/%s", st->bare, resource);
    xstream__set(&s->resource, "%s", resource);
    if (jid_parse(&s->jid, strv_c(s->full)) != 0) {
        c2s_session_free(s);
        return NULL;
    }
    s->rs.bare = s->bare;
    s->rs.resource = s->resource;
    s->rs.deliver = deliver;
    s->rs.end = end;
    s->rs.ud = s;
    return s;
}

static c2s_placement_fn *g_placement;

void c2s_set_placement(c2s_placement_fn *fn)
{
    g_placement = fn;
}

bool c2s__elsewhere(struct xstream *st, char *address, size_t size)
{
    if (g_placement == NULL || st->user == NULL) {
        return false;
    }
    struct jid account = { .local = st->user, .domain = st->domain };
    return !g_placement(&account, address, size);
}

void c2s__bind_resource(struct xstream *st, const char *resource, const struct xml_node *iq,
                        bool legacy)
{
    struct c2s_session *s = session_new(st, resource);
    if (s == NULL) {
        if (iq) {
            xstream__iq_error(st, iq, "modify", "bad-request", "invalid resource");
        }
        return;
    }
    char home[300];
    if (g_placement != NULL && !g_placement(&s->jid, home, sizeof(home))) {
        /* The account's sessions live on its home node (docs/internals/cluster.md). */
        c2s_session_free(s);
        xstream_see_other_host(st, home, "this account is served by another node");
        return;
    }
    c2s_session_free(st->sess); /* a stream binds once: NULL */
    st->sess = s;
    struct router_session *replaced = NULL;
    router_session_add(&s->rs, &replaced);
    s->registered = true;
    st->state = XS_BOUND;
    c2s__keepalive_start(st);
    /* The account's last login (issue 20): noted here, on its home worker, written behind. */
    im_last_login(st->domain, st->user, st->c->peer);
    if (replaced) {
        /* RFC 6120 §7.7.2.2: the new session wins; the old one ends with <conflict/>. */
        struct c2s_session *old = replaced->ud;
        old->registered = false;
        if (c2s__sm_end_from_outside(old)) {
            /* it was detached: ended and freed */
        } else if (old->st != NULL) {
            xstream_error(old->st, "conflict", "replaced by a new session with the same resource");
        }
    }
    if (legacy) {
        struct buf b;
        buf_init(&b, 1024);
        buf_append_c(&b, "<iq type='result' id='");
        xml_escape_append(&b, strv_c(st->pending_iq_id), true);
        buf_append_c(&b, "'/>");
        xstream__write(st, b.p, b.len);
        buf_cleanup(&b);
    } else if (iq != NULL) {
        struct xml_node *bind = xml_node_new(NS_BIND, "bind");
        struct xml_node *jid = xml_node_add_child(bind, NULL, "jid");
        xml_node_add_text(jid, s->full, strlen(s->full));
        xstream__iq_result(st, iq, bind);
    }
    log_conn(&st->c->log, LOG_MAJOR, "session started for %s", s->full);
}

void c2s__bind(struct xstream *st, struct xml_node *iq)
{
    const char *type = xml_node_attr(iq, "type");
    if (type == NULL || strcmp(type, "set") != 0) {
        xstream__iq_error(st, iq, "modify", "bad-request", NULL);
        return;
    }
    const struct xml_node *bind = xml_node_first_element(iq);
    const struct xml_node *r = xml_node_child(bind, NS_BIND, "resource");
    struct buf raw, prepped;
    buf_init(&raw, 4096);
    buf_init(&prepped, 4096);
    if (r) {
        xml_node_text(r, &raw);
    }
    if (raw.len == 0) {
        char gen[64];
        generated_resource(gen, sizeof(gen));
        buf_append_c(&prepped, gen);
    } else if (jid_resourceprep(buf_strv(&raw), &prepped) != 0 || prepped.len == 0) {
        xstream__iq_error(st, iq, "modify", "bad-request", "the resource is not valid");
        goto done;
    }
    c2s__bind_resource(st, buf_cstr(&prepped), iq, false);
done:
    buf_cleanup(&raw);
    buf_cleanup(&prepped);
}

/* Answers what a bound client asks of its own stream. Returns true when handled. */
static bool stream_iq(struct xstream *st, const struct xml_node *el)
{
    if (strcmp(el->name, "iq") != 0) {
        return false;
    }
    const struct xml_node *q = xml_node_first_element(el);
    if (q == NULL || q->ns == NULL) {
        return false;
    }
    if (strcmp(q->ns, NS_SESSION) == 0) {
        xstream__iq_result(st, el, NULL);
        return true;
    }
    if (strcmp(q->ns, NS_BIND) == 0) {
        xstream__iq_error(st, el, "cancel", "not-allowed", "a resource is already bound");
        return true;
    }
    return false;
}

static void stanza_error(struct xstream *st, const struct xml_node *el, const char *condition)
{
    const char *type = xml_node_attr(el, "type");
    if (type && strcmp(type, "error") == 0) {
        return;
    }
    struct xml_node *r = xml_node_new(NS_CLIENT, el->name);
    xml_node_set_attr(r, "type", "error");
    const char *id = xml_node_attr(el, "id");
    if (id) {
        xml_node_set_attr(r, "id", id);
    }
    struct xml_node *e = xml_node_add_child(r, NULL, "error");
    xml_node_set_attr(e, "type", "modify");
    xml_node_add_child(e, NS_STANZAS, condition);
    xstream__write_node(st, r);
    xml_node_unref(r);
}

void c2s__stanza(struct xstream *st, struct xml_node *el)
{
    if (el->ns && strcmp(el->ns, NS_SM) == 0) {
        c2s__sm_element(st, el);
        return;
    }
    if (el->ns && strcmp(el->ns, NS_CSI) == 0) {
        c2s__csi_element(st, el);
        return;
    }
    if (el->ns == NULL || strcmp(el->ns, NS_CLIENT) != 0 ||
        (strcmp(el->name, "message") != 0 && strcmp(el->name, "presence") != 0 &&
         strcmp(el->name, "iq") != 0)) {
        xstream_error(st, "unsupported-stanza-type", NULL);
        return;
    }
    c2s__sm_received(st->sess);
    if (strcmp(el->name, "presence") == 0 && xml_node_attr(el, "to") == NULL) {
        const struct xml_node *caps = xml_node_child(el, NS_CAPS, "c");
        xstream__set_client(st, caps ? xml_node_attr(caps, "node") : NULL, false);
    }
    if (xml_node_attr(el, "to") == NULL && stream_iq(st, el)) {
        return;
    }
    struct signal *sig = NULL;
    const char *condition = NULL;
    if (convert_stanza(el, &st->sess->jid, &sig, &condition) != 0) {
        stanza_error(st, el, condition);
        return;
    }
    /* Presence, subscriptions, blocking and carbons first (im/im.h), then the router. */
    im_client_stanza(&st->sess->rs, sig);
}

/* A silent client is pinged after ping_interval; if nothing at all arrives within another
 * interval the connection is dead and the session ends. */
static void keepalive(void *ud)
{
    struct xstream *st = ud;
    struct conn *c = st->c;
    struct c2s_session *s = st->sess;
    int interval = xstream__cfg()->xmpp.receiving.ping_interval;
    if (st->state != XS_BOUND || interval <= 0) {
        return;
    }
    uint64_t now = loop_clock_ms();
    uint64_t period = (uint64_t)interval * 1000u;
    if (s->ping_outstanding) {
        /* Anything read since the ping answers it. The idle time alone cannot tell: a prompt
         * answer makes it a whole period again by the time this timer fires. */
        if (c->last_read_ms < s->ping_sent_ms) {
            log_conn(&c->log, LOG_PROBLEMS, "no answer to ping, closing");
            xstream_error(st, "connection-timeout", "no answer to ping");
            return;
        }
        s->ping_outstanding = false;
    }
    uint64_t idle = now - c->last_read_ms;
    if (idle < period) {
        loop_timer_start(c->loop, &c->timer, period - idle, keepalive, st);
        return;
    }
    if (c2s__sm_enabled(s)) {
        /* XEP-0198: an ack request instead of a ping; its answer is any read, as below. */
        c2s__sm_request(st);
        s->ping_outstanding = true;
        s->ping_sent_ms = now;
        loop_timer_start(c->loop, &c->timer, period, keepalive, st);
        return;
    }
    struct buf b;
    buf_init(&b, 4096);
    buf_printf(&b, "<iq type='get' id='starling-ping-%u' from='", ++s->ping_seq);
    xml_escape_append(&b, strv_c(st->domain), true);
    buf_append_c(&b, "' to='");
    xml_escape_append(&b, strv_c(s->full), true);
    buf_printf(&b, "'><ping xmlns='%s'/></iq>", NS_PING);
    xstream__write(st, b.p, b.len);
    buf_cleanup(&b);
    s->ping_outstanding = true;
    s->ping_sent_ms = now;
    loop_timer_start(c->loop, &c->timer, period, keepalive, st);
}

void c2s__keepalive_start(struct xstream *st)
{
    struct conn *c = st->c;
    loop_timer_stop(c->loop, &c->timer);
    int interval = xstream__cfg()->xmpp.receiving.ping_interval;
    st->sess->ping_outstanding = false;
    if (interval > 0) {
        c->last_read_ms = loop_clock_ms();
        loop_timer_start(c->loop, &c->timer, (uint64_t)interval * 1000u, keepalive, st);
    }
}

bool c2s__session_end(struct c2s_session *s, bool stopping)
{
    s->ended = true;
    /* The IM core's session end: unavailable presence for whoever had this session's, also
     * after an abrupt loss, and the last-activity bookkeeping of the account's last session. */
    im_session_ended(&s->rs, stopping);
    bool was = s->registered;
    if (s->registered) {
        s->registered = false;
        router_session_remove(&s->rs);
    }
    c2s__sm_drain(s);
    c2s__csi_free(s);
    return was;
}

void c2s__closed(struct xstream *st)
{
    struct c2s_session *s = st->sess;
    if (s == NULL) {
        return;
    }
    bool stopping = st->c->xw && st->c->xw->stopping;
    if (c2s__sm_detach(s, stopping || st->peer_closed)) {
        st->sess = NULL; /* the session lives on, detached (sm.c) */
        return;
    }
    s->st = NULL;
    if (c2s__session_end(s, stopping)) {
        log_conn(&st->c->log, LOG_MAJOR, "session ended for %s", s->full);
    }
}
