/* s2s_out.c: outgoing server-to-server: one queue per (target domain, source domain) on its home
 * worker, each owning at most one connection (resolve, connect, TLS, SASL EXTERNAL or dialback,
 * send, idle close), retries with back-off, bounces after the queue timeout. */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/evp.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "signal/router.h"
#include "tls/tls.h"
#include "xml/xml.h"
#include "xmpp/conn.h"
#include "xmpp/convert.h"
#include "xmpp/ns.h"
#include "xmpp/s2s_int.h"
#include "xmpp/xmpp.h"

#define QUEUE_MAX_STANZAS 10000
#define QUEUE_MAX_BYTES (16L * 1024 * 1024)
#define OUT_MAX_BYTES (4L * 1024 * 1024)
#define READ_CHUNK 16384
#define BACKOFF_FIRST_MS 1000u
#define BACKOFF_MAX_MS 60000u
#define VERIFY_MAX 256

enum qstate { Q_IDLE, Q_CONNECTING, Q_CONNECTED, Q_RETRY };

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

struct item {
    struct item *next;
    struct signal *sig;
    char *xml;
    size_t len;
    uint64_t since_ms;
};

struct verify {
    struct verify *next;
    char id[128];
    char key[S2S_KEY_LEN + 1];
    int worker;
    unsigned long conn;
    bool sent;
    uint64_t since_ms;
};

struct s2s_out;

struct queue {
    struct queue *prev, *next;
    struct s2s_worker *sw;
    char target[S2S_DOMAIN_MAX];
    char source[S2S_DOMAIN_MAX];
    enum qstate state;
    struct item *head, *tail;
    int count;
    long bytes;
    struct verify *verifies;
    int nverifies;
    struct s2s_out *out;
    struct loop_timer timer; /* retry, or forgetting an idle queue */
    uint64_t backoff_ms;
    const char *cond; /* the stanza error of the last failure, for bounces */
    char error[160];
};

struct s2s_out {
    struct s2s_out *prev, *next; /* the worker's connections */
    struct queue *q;
    struct s2s_worker *sw;
    unsigned long id;
    int fd;
    enum ostate state;
    struct loop_io io;
    bool io_added;
    struct loop_timer timer; /* connect timeout, then idle timeout */
    struct loop_defer defer;
    struct s2s_dns_query *dq;
    struct s2s_addr addrs[S2S_MAX_ADDRS];
    int naddrs, idx;
    struct tls_conn *tls;
    struct buf out;
    struct xml_stream *parser;
    bool sasl_done;
    bool verified;      /* the remote's certificate validated for the target */
    bool tls_wait_hello; /* <proceed/> read, no handshake byte yet: whitespace is dropped */
    bool offers_db;     /* the remote offered dialback */
    bool can_verify;    /* db:verify may be sent (after TLS features) */
    bool legacy;        /* the remote's header had no version */
    char stream_id[128];
    char peer[64];
    char mechanism[32];
    time_t since;
    unsigned long stanzas_in, stanzas_out;
    unsigned long long bytes_in, bytes_out;
};

struct s2s_worker {
    struct xmpp_worker *xw;
    struct loop *loop;
    struct s2s_dns *dns;
    struct queue *queues;
    struct s2s_out *outs;
    bool stopping; /* closes no longer reconnect or bounce */
};

static atomic_int g_out_count;

static void q_connect(struct queue *q);
static void q_flush(struct queue *q);
static void q_after_close(struct queue *q, const char *cond, bool not_found);
static void out_close(struct s2s_out *o, const char *reason, const char *cond, bool not_found);
static int out_write(struct s2s_out *o, const char *data, size_t len);

static const struct settings *cfg(void)
{
    return worker_ctx()->cfg;
}

static struct s2s_worker *self_sw(void)
{
    struct worker_ctx *wc = worker_ctx();
    return wc && wc->xmpp ? wc->xmpp->s2s : NULL;
}

/* ---- queues ---- */

static struct queue *q_find(struct s2s_worker *sw, const char *target, const char *source)
{
    for (struct queue *q = sw->queues; q; q = q->next) {
        if (strcmp(q->target, target) == 0 && strcmp(q->source, source) == 0) {
            return q;
        }
    }
    return NULL;
}

static struct queue *q_get(struct s2s_worker *sw, const char *target, const char *source)
{
    struct queue *q = q_find(sw, target, source);
    if (q) {
        return q;
    }
    q = xcalloc(1, sizeof(*q));
    q->sw = sw;
    s2s__fmt(q->target, sizeof(q->target), "%s", target);
    s2s__fmt(q->source, sizeof(q->source), "%s", source);
    loop_timer_init(&q->timer);
    q->backoff_ms = BACKOFF_FIRST_MS;
    q->next = sw->queues;
    if (sw->queues) {
        sw->queues->prev = q;
    }
    sw->queues = q;
    return q;
}

static void item_free(struct item *it)
{
    if (it->sig) {
        signal_free(it->sig);
    }
    free(it->xml);
    free(it);
}

static void q_free(struct queue *q)
{
    struct s2s_worker *sw = q->sw;
    loop_timer_stop(sw->loop, &q->timer);
    while (q->head) {
        struct item *it = q->head;
        q->head = it->next;
        item_free(it);
    }
    while (q->verifies) {
        struct verify *v = q->verifies;
        q->verifies = v->next;
        free(v);
    }
    if (q->prev) {
        q->prev->next = q->next;
    } else {
        sw->queues = q->next;
    }
    if (q->next) {
        q->next->prev = q->prev;
    }
    free(q);
}

static void key_of(const char *target, const char *source, struct buf *key)
{
    buf_printf(key, "%s|%s", target, source);
}

/* Bounces one stanza to its sender (RFC 6120 §8.3.3.18, .19, §10.4.3): messages and iqs get
 * the error; errors and iq results never do (router_reply_error), and presence is not bounced
 * (docs/s2s.md says why). */
static bool bounce(struct signal *sig, const char *cond)
{
    bool answered = (sig->method == SIGNAL_MESSAGE || sig->method == SIGNAL_INFO) &&
                    !(sig->type && strcmp(sig->type, "error") == 0) &&
                    !(sig->method == SIGNAL_INFO && sig->type && strcmp(sig->type, "result") == 0);
    if (answered) {
        bool wait = strcmp(cond, "remote-server-timeout") == 0 ||
                    strcmp(cond, "resource-constraint") == 0;
        router_reply_error(sig, wait ? "wait" : "cancel", cond);
    }
    return answered;
}

/* Bounces the stanzas older than the queue timeout (all of them when `all`). */
static void q_expire(struct queue *q, const char *cond, bool all)
{
    uint64_t now = loop_now_ms(q->sw->loop);
    uint64_t limit = (uint64_t)cfg()->xmpp.sending.queue_timeout * 1000u;
    int n = 0, dropped = 0;
    while (q->head && (all || now - q->head->since_ms >= limit)) {
        struct item *it = q->head;
        q->head = it->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->count--;
        q->bytes -= (long)it->len;
        if (bounce(it->sig, cond)) {
            n++;
        } else {
            dropped++;
        }
        item_free(it);
    }
    if (n + dropped > 0) {
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL,
                "%s -> %s: %d stanza(s) bounced (%s), %d presence or error stanza(s) dropped%s%s",
                q->source, q->target, n, cond, dropped, q->error[0] ? ": " : "", q->error);
    }
    uint64_t vlimit = (uint64_t)cfg()->xmpp.sending.response_timeout * 1000u;
    for (struct verify **pp = &q->verifies; *pp;) {
        struct verify *v = *pp;
        if (all || now - v->since_ms >= vlimit) {
            *pp = v->next;
            q->nverifies--;
            s2s__in_verified_post(v->worker, v->conn, q->target, q->source, false,
                                  q->error[0] ? q->error : "no answer from the server");
            free(v);
        } else {
            pp = &v->next;
        }
    }
}

static void q_forget(void *ud)
{
    struct queue *q = ud;
    if (q->state == Q_IDLE && q->head == NULL && q->verifies == NULL && q->out == NULL) {
        q_free(q);
    }
}

static void q_idle(struct queue *q)
{
    q->state = Q_IDLE;
    /* An idle queue stays listed for a while, then goes; a new stanza makes it again. */
    loop_timer_start(q->sw->loop, &q->timer, (uint64_t)cfg()->xmpp.sending.idle_timeout * 1000u,
                     q_forget, q);
}

static void q_retry(void *ud)
{
    struct queue *q = ud;
    q_expire(q, q->cond ? q->cond : "remote-server-timeout", false);
    if (q->head == NULL && q->verifies == NULL) {
        q_idle(q);
        return;
    }
    q_connect(q);
}

static void q_after_close(struct queue *q, const char *cond, bool not_found)
{
    if (q->sw->stopping) {
        q->state = Q_IDLE;
        return;
    }
    if (cond == NULL) {
        /* A clean close: what is left waits for a new connection. */
        q->backoff_ms = BACKOFF_FIRST_MS;
        if (q->head || q->verifies) {
            q_connect(q);
        } else {
            q_idle(q);
        }
        return;
    }
    q->cond = cond;
    q_expire(q, cond, not_found);
    if (q->head == NULL && q->verifies == NULL) {
        q_idle(q);
        return;
    }
    uint64_t delay = q->backoff_ms;
    q->backoff_ms = q->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : q->backoff_ms * 2;
    if (q->head) {
        /* Never wait past the moment the oldest stanza must be bounced. */
        uint64_t now = loop_now_ms(q->sw->loop);
        uint64_t deadline = q->head->since_ms + (uint64_t)cfg()->xmpp.sending.queue_timeout * 1000u;
        uint64_t left = deadline > now ? deadline - now : 0;
        if (left + 10 < delay) {
            delay = left + 10;
        }
    }
    q->state = Q_RETRY;
    loop_timer_start(q->sw->loop, &q->timer, delay, q_retry, q);
}

static void enqueue(struct s2s_worker *sw, struct signal *sig)
{
    struct buf text;
    buf_init(&text, (size_t)cfg()->xmpp.receiving.max_stanza_size * 4);
    if (convert_signal_xml(sig, &text) != 0) {
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL, "%s -> %s: stanza too large, bounced",
                sig->from.domain, sig->to.domain);
        bounce(sig, "resource-constraint");
        signal_free(sig);
        buf_cleanup(&text);
        return;
    }
    struct queue *q = q_get(sw, sig->to.domain, sig->from.domain);
    if (q->count >= QUEUE_MAX_STANZAS || q->bytes + (long)text.len > QUEUE_MAX_BYTES) {
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL, "%s -> %s: queue full, stanza bounced",
                q->source, q->target);
        bounce(sig, "resource-constraint");
        signal_free(sig);
        buf_cleanup(&text);
        return;
    }
    struct item *it = xcalloc(1, sizeof(*it));
    it->sig = sig;
    it->len = text.len;
    it->xml = strv_dup(buf_strv(&text));
    it->since_ms = loop_now_ms(sw->loop);
    buf_cleanup(&text);
    if (q->tail) {
        q->tail->next = it;
    } else {
        q->head = it;
    }
    q->tail = it;
    q->count++;
    q->bytes += (long)it->len;
    if (q->state == Q_IDLE) {
        loop_timer_stop(sw->loop, &q->timer);
        q_connect(q);
    } else if (q->state == Q_CONNECTED) {
        q_flush(q);
    }
}

static void enqueue_msg(struct worker *w, void *arg)
{
    (void)w;
    struct s2s_worker *sw = self_sw();
    if (sw == NULL || sw->stopping) {
        /* The server is stopping: like the stanzas still queued, dropped with a record (the
         * other workers may no longer take a bounce). */
        struct signal *sig = arg;
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL, "%s -> %s: stanza dropped at shutdown",
                sig->from.domain ? sig->from.domain : "", sig->to.domain);
        signal_free(sig);
        return;
    }
    enqueue(sw, arg);
}

/* The router's hook: a signal for a domain that is neither local nor a component's. Every
 * domain the server hosts (service domains too) sends through its own queue per (target,
 * source). */
static int route_remote(struct signal *sig)
{
    bool ours = router_is_hosted_domain(sig->from.domain);
    if (!ours || !s2s__valid_domain(sig->to.domain)) {
        /* Only stanzas of our own domains leave; anything else is a routing loop or a bug. The
         * sender still learns of it (never an error in reply to an error). */
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL, "not sent to %s: %s", sig->to.domain,
                ours ? "not a valid domain name" : "the sender's domain is not hosted here");
        bounce(sig, ours ? "remote-server-not-found" : "not-allowed");
        signal_free(sig);
        return ERR_NOTFOUND;
    }
    struct buf key;
    buf_init(&key, 2 * S2S_DOMAIN_MAX + 2);
    key_of(sig->to.domain, sig->from.domain, &key);
    int home = worker_home(buf_strv(&key));
    buf_cleanup(&key);
    struct worker *self = worker_self();
    if (self && self->id == home && self_sw()) {
        enqueue(self_sw(), sig);
    } else {
        worker_post(home, enqueue_msg, sig);
    }
    return 0;
}

/* ---- dialback verification requests (authoritative server asked through our queue) ---- */

struct verify_req {
    char target[S2S_DOMAIN_MAX];
    char source[S2S_DOMAIN_MAX];
    char id[128];
    char key[S2S_KEY_LEN + 1];
    int worker;
    unsigned long conn;
};

static void out_send_verifies(struct s2s_out *o)
{
    struct queue *q = o->q;
    for (struct verify *v = q->verifies; v; v = v->next) {
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

static void verify_msg(struct worker *w, void *arg)
{
    (void)w;
    struct verify_req *r = arg;
    struct s2s_worker *sw = self_sw();
    if (sw == NULL) {
        free(r);
        return;
    }
    struct queue *q = q_get(sw, r->target, r->source);
    if (q->nverifies >= VERIFY_MAX) {
        s2s__in_verified_post(r->worker, r->conn, r->target, r->source, false,
                              "too many dialback verifications waiting");
        free(r);
        return;
    }
    struct verify *v = xcalloc(1, sizeof(*v));
    s2s__fmt(v->id, sizeof(v->id), "%s", r->id);
    s2s__fmt(v->key, sizeof(v->key), "%s", r->key);
    v->worker = r->worker;
    v->conn = r->conn;
    v->since_ms = loop_now_ms(sw->loop);
    v->next = q->verifies;
    q->verifies = v;
    q->nverifies++;
    free(r);
    if (q->state == Q_IDLE) {
        loop_timer_stop(sw->loop, &q->timer);
        q_connect(q);
    } else if (q->out && q->out->can_verify &&
               (q->out->state == O_DIALBACK || q->out->state == O_READY)) {
        out_send_verifies(q->out);
    }
}

void s2s__out_verify(const char *target, const char *source, const char *stream_id,
                     const char *key, int reply_worker, unsigned long reply_conn)
{
    struct verify_req *r = xcalloc(1, sizeof(*r));
    s2s__fmt(r->target, sizeof(r->target), "%s", target);
    s2s__fmt(r->source, sizeof(r->source), "%s", source);
    s2s__fmt(r->id, sizeof(r->id), "%s", stream_id);
    s2s__fmt(r->key, sizeof(r->key), "%s", key);
    r->worker = reply_worker;
    r->conn = reply_conn;
    struct buf k;
    buf_init(&k, 2 * S2S_DOMAIN_MAX + 2);
    key_of(target, source, &k);
    worker_post(worker_home(buf_strv(&k)), verify_msg, r);
    buf_cleanup(&k);
}

/* The remote answered a db:verify we sent. */
static void out_verify_answer(struct s2s_out *o, const struct xml_node *el)
{
    const char *id = xml_node_attr(el, "id");
    const char *type = xml_node_attr(el, "type");
    struct queue *q = o->q;
    for (struct verify **pp = &q->verifies; *pp; pp = &(*pp)->next) {
        struct verify *v = *pp;
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
    static const char *const names[] = {"resolving", "connecting", "stream", "starttls",
                                        "sasl", "dialback", "ready", "closed"};
    return names[s];
}

static int out_flush(struct s2s_out *o)
{
    /* TLS output may exceed what `out` takes at once (ERR_AGAIN): send, then take the rest,
     * until the socket is full or nothing is left. */
    for (;;) {
        if (o->tls) {
            tls_conn_take_output(o->tls, &o->out);
        }
        if (o->out.len == 0) {
            break;
        }
        int rc = conn_send_buf(o->fd, &o->out, &o->bytes_out);
        if (rc != 0) {
            return rc;
        }
        if (o->out.len > 0 || o->tls == NULL) {
            break;
        }
    }
    if (o->io_added) {
        loop_io_mod(o->sw->loop, &o->io, EPOLLIN | EPOLLRDHUP | (o->out.len ? EPOLLOUT : 0));
    }
    return 0;
}

static int out_write(struct s2s_out *o, const char *data, size_t len)
{
    if (o->state == O_CLOSED) {
        return ERR_CLOSED;
    }
    if (log_enabled(LOG_TAG_XMPPO, LOG_ALLINFO)) {
        log_rec(LOG_TAG_XMPPO, LOG_ALLINFO, o->id, o->peer, "out: %.*s", (int)len, data);
    }
    int rc;
    if (o->tls) {
        rc = tls_conn_write(o->tls, data, len);
        if (rc == 0 && tls_conn_take_output(o->tls, &o->out) != 0 &&
            tls_conn_output_pending(o->tls) > (size_t)OUT_MAX_BYTES) {
            rc = ERR_LIMIT;
        }
    } else {
        rc = buf_append(&o->out, data, len);
    }
    if (rc != 0) {
        out_close(o, "send queue limit reached", "remote-server-timeout", false);
        return rc;
    }
    if (out_flush(o) != 0) {
        out_close(o, "write failed", "remote-server-timeout", false);
        return ERR_CLOSED;
    }
    return 0;
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
    tls_conn_free(o->tls);
    buf_cleanup(&o->out);
    free(o);
}

/* Ends the connection. `cond` NULL: a normal close (idle, or by the peer with nothing lost);
 * else the failure's stanza error condition for the queue. */
static void out_close(struct s2s_out *o, const char *reason, const char *cond, bool not_found)
{
    if (o->state == O_CLOSED) {
        return;
    }
    struct queue *q = o->q;
    bool was_ready = o->state == O_READY;
    o->state = O_CLOSED;
    s2s__dns_cancel(o->dq);
    o->dq = NULL;
    loop_timer_stop(o->sw->loop, &o->timer);
    if (o->fd >= 0) {
        if (o->io_added) {
            loop_io_del(o->sw->loop, &o->io);
            o->io_added = false;
        }
        close(o->fd);
        o->fd = -1;
        atomic_fetch_sub(&g_out_count, 1);
    }
    loop_defer(o->sw->loop, &o->defer, out_free, o);
    log_rec(LOG_TAG_XMPPO, cond ? LOG_PROBLEMS : LOG_LOWLEVEL, o->id, o->peer,
            "%s -> %s: connection closed: %s", q ? q->source : "", q ? q->target : "", reason);
    if (q == NULL) {
        return;
    }
    q->out = NULL;
    o->q = NULL;
    if (cond) {
        s2s__fmt(q->error, sizeof(q->error), "%s", reason);
    }
    /* Verifications sent on this connection go again on the next one. */
    for (struct verify *v = q->verifies; v; v = v->next) {
        v->sent = false;
    }
    (void)was_ready;
    q_after_close(q, cond, not_found);
}

static void send_header(struct s2s_out *o)
{
    struct queue *q = o->q;
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
            loop_timer_start(o->sw->loop, &o->timer,
                             (uint64_t)cfg()->xmpp.sending.idle_timeout * 1000u, on_timeout, o);
            return;
        }
        out_write(o, "</stream:stream>", 16);
        if (o->tls) {
            tls_conn_shutdown(o->tls);
        }
        out_flush(o);
        out_close(o, "idle", NULL, false);
        return;
    }
    out_close(o, "timed out setting up the stream", "remote-server-timeout", false);
}

static void arm_idle(struct s2s_out *o)
{
    loop_timer_start(o->sw->loop, &o->timer, (uint64_t)cfg()->xmpp.sending.idle_timeout * 1000u,
                     on_timeout, o);
}

static void q_flush(struct queue *q)
{
    struct s2s_out *o = q->out;
    if (o == NULL || o->state != O_READY) {
        return;
    }
    while (q->head && o->state == O_READY) {
        struct item *it = q->head;
        q->head = it->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->count--;
        q->bytes -= (long)it->len;
        o->stanzas_out++;
        out_write(o, it->xml, it->len);
        item_free(it);
    }
    if (o->state == O_READY) {
        arm_idle(o);
    }
}

static void ready(struct s2s_out *o, const char *mechanism)
{
    struct queue *q = o->q;
    s2s__fmt(o->mechanism, sizeof(o->mechanism), "%s", mechanism);
    o->state = O_READY;
    q->state = Q_CONNECTED;
    q->backoff_ms = BACKOFF_FIRST_MS;
    q->error[0] = '\0';
    q->cond = NULL;
    log_rec(LOG_TAG_XMPPO, LOG_MAJOR, o->id, o->peer, "%s -> %s: authenticated (%s)%s", q->source,
            q->target, mechanism, o->verified ? ", certificate valid" : "");
    q_flush(q);
}

static void start_dialback(struct s2s_out *o)
{
    struct queue *q = o->q;
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
    struct queue *q = o->q;
    if (o->tls == NULL) {
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
        out_close(o, o->offers_db ? "dialback is disabled and SASL EXTERNAL is not offered"
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
    if (!log_enabled(LOG_TAG_XMPPO, LOG_ALLINFO)) {
        return;
    }
    struct buf b;
    buf_init(&b, 65536);
    struct xml_ser_opts so = {.parent_ns = NS_SERVER};
    xml_serialize(&b, el, &so);
    log_rec(LOG_TAG_XMPPO, LOG_ALLINFO, o->id, o->peer, "in: %s", buf_cstr(&b));
    buf_cleanup(&b);
}

static bool is(const struct xml_node *el, const char *ns, const char *name)
{
    return el->ns && strcmp(el->ns, ns) == 0 && strcmp(el->name, name) == 0;
}

static int element(struct s2s_out *o, struct xml_node *el)
{
    struct queue *q = o->q;
    log_in(o, el);
    if (is(el, NS_STREAM, "features")) {
        return on_features(o, el);
    }
    if (is(el, NS_TLS, "proceed") && o->state == O_STARTTLS) {
        o->tls = tls_conn_new_client(g_server.tls, q->source, q->target);
        if (o->tls == NULL) {
            out_close(o, "TLS unavailable", "remote-server-not-found", false);
            return 1;
        }
        o->tls_wait_hello = true;
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
            log_rec(LOG_TAG_XMPPO, LOG_LOWLEVEL, o->id, o->peer, "SASL EXTERNAL refused, trying "
                    "dialback");
            start_dialback(o);
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
        s2s__fmt(why, sizeof(why), "stream error from the remote server: %s",
                 c ? c->name : "?");
        out_close(o, why, o->state == O_READY ? NULL : "remote-server-not-found", false);
        return 1;
    }
    if (is(el, NS_TLS, "failure")) {
        out_close(o, "STARTTLS refused", "remote-server-not-found", false);
        return 1;
    }
    /* Stanzas on our outgoing stream (no bidi negotiated) are not accepted. */
    log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, o->id, o->peer, "unexpected <%s/> ignored", el->name);
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
    if (o->legacy && o->tls == NULL) {
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

/* Whitespace may follow <proceed/> (between top-level elements) until the first handshake byte;
 * a TLS record never starts with it. Returns how many bytes of `data` to skip. */
static size_t skip_before_hello(struct s2s_out *o, const char *data, size_t len)
{
    size_t n = o->tls_wait_hello ? xml_space_prefix(data, len) : 0;
    if (n < len) {
        o->tls_wait_hello = false;
    }
    return n;
}

static void feed(struct s2s_out *o, const char *data, size_t len)
{
    while (len > 0 && o->state != O_CLOSED) {
        size_t used = 0;
        int rc = xml_stream_feed(o->parser, data, len, &used);
        if (rc < 0) {
            char why[128];
            s2s__fmt(why, sizeof(why), "bad XML from the remote server: %s",
                     xml_stream_error(o->parser) ? xml_stream_error(o->parser) : "?");
            out_close(o, why, "remote-server-not-found", false);
            return;
        }
        if (rc == 0 || o->state == O_CLOSED) {
            return;
        }
        /* A restart: after <proceed/> the rest is the TLS handshake, after <success/> a new
         * document. */
        xml_stream_reset(o->parser);
        data += used;
        len -= used;
        if (o->tls && !tls_conn_handshake_done(o->tls) && len > 0) {
            size_t skip = skip_before_hello(o, data, len);
            tls_conn_feed(o->tls, data + skip, len - skip);
            return;
        }
    }
}

static void on_readable(struct s2s_out *o)
{
    char data[READ_CHUNK];
    for (int round = 0; round < 4 && o->state != O_CLOSED; round++) {
        ssize_t n = recv(o->fd, data, sizeof(data), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            bool clean = o->state == O_READY && o->q && o->q->head == NULL;
            out_close(o, n == 0 ? "connection closed by the remote server" : strerror(errno),
                      clean ? NULL : "remote-server-timeout", false);
            return;
        }
        o->bytes_in += (unsigned long long)n;
        if (o->tls == NULL) {
            feed(o, data, (size_t)n);
            continue;
        }
        size_t skip = skip_before_hello(o, data, (size_t)n);
        if (tls_conn_feed(o->tls, data + skip, (size_t)n - skip) != 0) {
            out_close(o, "TLS input limit", "remote-server-timeout", false);
            return;
        }
        struct buf plain;
        buf_init(&plain, READ_CHUNK * 4);
        for (;;) {
            int rc = tls_conn_read(o->tls, &plain);
            bool full = plain.len >= plain.max;
            if (plain.len > 0) {
                feed(o, plain.p, plain.len);
                buf_reset(&plain);
            }
            if (rc != 0 && o->state != O_CLOSED) {
                char why[200];
                s2s__fmt(why, sizeof(why), "TLS: %s",
                         rc == ERR_CLOSED ? "closed by the remote server" : tls_conn_error(o->tls));
                out_close(o, why, "remote-server-timeout", false);
            }
            if (rc != 0 || o->state == O_CLOSED || !full) {
                break;
            }
        }
        buf_cleanup(&plain);
        if (o->state != O_CLOSED && o->tls && tls_conn_handshake_done(o->tls) && !o->verified) {
            o->verified = tls_conn_peer_verify_domain(o->tls, o->q->target);
        }
    }
}

static void try_connect(struct s2s_out *o);

static void connected(struct s2s_out *o)
{
    const struct s2s_addr *a = &o->addrs[o->idx];
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->sa.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->sa)->sin_addr, ip, sizeof(ip));
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, ip, sizeof(ip));
    }
    s2s__fmt(o->peer, sizeof(o->peer), "[%s]:%u", ip, (unsigned)a->port);
    log_rec(LOG_TAG_XMPPO, LOG_LOWLEVEL, o->id, o->peer, "%s -> %s: connected%s", o->q->source,
            o->q->target, a->tls ? " (direct TLS)" : "");
    o->parser = xml_stream_new(&(struct xml_limits){
                                   .max_stanza_size =
                                       (size_t)cfg()->xmpp.receiving.max_stanza_size,
                                   .max_depth = cfg()->xmpp.receiving.max_depth,
                               },
                               &out_cbs, o);
    if (a->tls) {
        o->tls = tls_conn_new_client(g_server.tls, o->q->source, o->q->target);
        if (o->tls == NULL) {
            out_close(o, "TLS unavailable", "remote-server-not-found", false);
            return;
        }
    }
    loop_io_mod(o->sw->loop, &o->io, EPOLLIN | EPOLLRDHUP);
    send_header(o);
}

static void on_io(void *ud, uint32_t events)
{
    struct s2s_out *o = ud;
    if (o->state == O_CLOSED) {
        return;
    }
    if (o->state == O_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && (events & EPOLLOUT)) {
            connected(o);
            return;
        }
        if (err == 0 && !(events & (EPOLLERR | EPOLLHUP))) {
            return;
        }
        log_rec(LOG_TAG_XMPPO, LOG_LOWLEVEL, o->id, NULL, "%s -> %s: connect to %s port %u: %s",
                o->q->source, o->q->target, o->addrs[o->idx].host,
                (unsigned)o->addrs[o->idx].port, strerror(err ? err : ECONNREFUSED));
        s2s__fmt(o->q->error, sizeof(o->q->error), "%s port %u: %s", o->addrs[o->idx].host,
                 (unsigned)o->addrs[o->idx].port, strerror(err ? err : ECONNREFUSED));
        loop_io_del(o->sw->loop, &o->io);
        o->io_added = false;
        close(o->fd);
        o->fd = -1;
        atomic_fetch_sub(&g_out_count, 1);
        o->idx++;
        try_connect(o);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        on_readable(o);
    }
    if (o->state != O_CLOSED && out_flush(o) != 0) {
        out_close(o, "write failed", "remote-server-timeout", false);
    }
}

static void try_connect(struct s2s_out *o)
{
    while (o->idx < o->naddrs) {
        const struct s2s_addr *a = &o->addrs[o->idx];
        if (atomic_fetch_add(&g_out_count, 1) >= cfg()->xmpp.sending.max_connections) {
            atomic_fetch_sub(&g_out_count, 1);
            out_close(o, "xmpp.sending.max_connections reached", "remote-server-timeout", false);
            return;
        }
        int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && (connect(fd, (const struct sockaddr *)&a->sa, a->salen) == 0 ||
                        errno == EINPROGRESS)) {
            o->fd = fd;
            o->state = O_CONNECTING;
            loop_io_add(o->sw->loop, &o->io, fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, on_io, o);
            o->io_added = true;
            return;
        }
        s2s__fmt(o->q->error, sizeof(o->q->error), "%s port %u: %s", a->host, (unsigned)a->port,
                 strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
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

static void q_connect(struct queue *q)
{
    struct s2s_worker *sw = q->sw;
    loop_timer_stop(sw->loop, &q->timer);
    struct s2s_out *o = xcalloc(1, sizeof(*o));
    o->q = q;
    o->sw = sw;
    o->fd = -1;
    o->id = atomic_fetch_add(&g_server.next_conn_id, 1) + 1;
    o->since = time(NULL);
    o->state = O_RESOLVING;
    buf_init(&o->out, (size_t)OUT_MAX_BYTES);
    loop_timer_init(&o->timer);
    s2s__fmt(o->peer, sizeof(o->peer), "%s", q->target);
    o->next = sw->outs;
    if (sw->outs) {
        sw->outs->prev = o;
    }
    sw->outs = o;
    q->out = o;
    q->state = Q_CONNECTING;
    loop_timer_start(sw->loop, &o->timer, (uint64_t)cfg()->xmpp.sending.connect_timeout * 1000u,
                     on_timeout, o);
    log_rec(LOG_TAG_XMPPO, LOG_LOWLEVEL, o->id, NULL, "%s -> %s: opening a connection",
            q->source, q->target);
    if (sw->dns == NULL) {
        out_close(o, "no DNS resolver", "remote-server-not-found", false);
        return;
    }
    o->dq = s2s__dns_resolve(sw->dns, q->target, find_route(q->target), resolved, o);
}

/* ---- per worker ---- */

void s2s_worker_start(struct xmpp_worker *xw)
{
    struct s2s_worker *sw = xcalloc(1, sizeof(*sw));
    sw->xw = xw;
    sw->loop = xw->worker->loop;
    char err[256];
    sw->dns = s2s__dns_new(sw->loop, cfg()->xmpp.sending.dns_servers, err, sizeof(err));
    if (sw->dns == NULL) {
        log_rec(LOG_TAG_XMPPO, LOG_FAILURES, 0, NULL, "%s", err);
    }
    xw->s2s = sw;
}

void s2s_worker_stop(struct xmpp_worker *xw)
{
    struct s2s_worker *sw = xw->s2s;
    if (sw == NULL) {
        return;
    }
    /* The queues stay attached while their connections close, so the log record names the
     * domain pair; `stopping` keeps them from reconnecting. */
    sw->stopping = true;
    for (struct s2s_out *o = sw->outs; o; o = o->next) {
        if (o->state == O_READY) {
            out_write(o, "</stream:stream>", 16);
        }
        out_close(o, "server shutdown", NULL, false);
    }
    while (sw->queues) {
        struct queue *q = sw->queues;
        if (q->count > 0) {
            log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL, "%s -> %s: %d stanza(s) dropped at "
                    "shutdown", q->source, q->target, q->count);
        }
        while (q->verifies) {
            struct verify *v = q->verifies;
            q->verifies = v->next;
            free(v);
        }
        q_free(q);
    }
    s2s__dns_free(sw->dns);
    loop_run_deferred(sw->loop);
    xw->s2s = NULL;
    free(sw);
}

/* ---- monitoring ---- */

static const char *qstate_name(enum qstate s)
{
    static const char *const names[] = {"idle", "connecting", "connected", "waiting to retry"};
    return names[s];
}

void s2s_queues_json(struct xmpp_worker *xw, json_t *array)
{
    struct s2s_worker *sw = xw->s2s;
    if (sw == NULL) {
        return;
    }
    uint64_t now = loop_clock_ms();
    for (struct queue *q = sw->queues; q; q = q->next) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:o, s:s?, s:i}", "target",
                              q->target, "source", q->source, "state", qstate_name(q->state),
                              "stanzas", q->count, "bytes", (json_int_t)q->bytes, "oldest",
                              (json_int_t)(q->head ? (now - q->head->since_ms) / 1000u : 0),
                              "connection",
                              q->out ? json_integer((json_int_t)q->out->id) : json_null(),
                              "error", q->error[0] ? q->error : NULL, "worker",
                              xw->worker->id);
        if (o) {
            json_array_append_new(array, o);
        }
    }
}

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
        bool tls_on = o->tls && tls_conn_handshake_done(o->tls);
        char jid[2 * S2S_DOMAIN_MAX + 8];
        s2s__fmt(jid, sizeof(jid), "%s -> %s", o->q->source, o->q->target);
        json_t *j = json_pack(
            "{s:I, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:I, s:i, s:I, s:I, s:I, s:I}", "id",
            (json_int_t)o->id, "kind", "s2s-out", "state", ostate_name(o->state), "peer",
            o->peer, "jid", jid, "tls", tls_on ? tls_conn_version(o->tls) : NULL, "cipher",
            tls_on ? tls_conn_cipher(o->tls) : NULL, "mechanism",
            o->mechanism[0] ? o->mechanism : NULL, "since", (json_int_t)o->since, "worker",
            xw->worker->id, "stanzas_in", (json_int_t)o->stanzas_in, "stanzas_out",
            (json_int_t)o->stanzas_out, "bytes_in", (json_int_t)o->bytes_in, "bytes_out",
            (json_int_t)o->bytes_out);
        if (j) {
            json_array_append_new(array, j);
        }
    }
}

/* ---- start-up ---- */

int s2s_global_init(const struct settings *c, char *err, size_t errlen)
{
    int rc = s2s__dialback_init(g_server.datadir, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (c->tls.s2s_ca_file[0]) {
        char why[256];
        rc = tls_store_set_s2s_ca(g_server.tls, c->tls.s2s_ca_file, why, sizeof(why));
        if (rc != 0) {
            s2s__fmt(err, errlen, "tls.s2s_ca_file: %s", why);
            return rc;
        }
    }
    router_set_remote(route_remote);
    return 0;
}
