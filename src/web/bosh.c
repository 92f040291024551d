/* bosh.c: XEP-0124/0206 BOSH at /http-bind. A session is an ordinary client stream: the server
 * side of a socketpair is accepted like a TCP connection (conn + xstream: SASL, bind, routing and
 * moves as usual), the session holds the other side, writes the stanzas of the client's requests
 * into it and answers held requests with what the stream writes. A session lives on the worker
 * that made it; a request for it arriving elsewhere moves its HTTP connection there first. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "web/web_int.h"
#include "xml/ns.h"
#include "xml/xml.h"
#include "xmpp/conn.h"
#include "xmpp/stream.h"
#include "xmpp/xmpp.h"

/* The settings' upper bounds (http.bosh_hold, http.bosh_requests in module.c). */
#define BOSH_MAX_HOLD 8
#define BOSH_MAX_REQUESTS 16

struct bosh_held {
    struct conn *c;
    long long rid;
    char cors[512];
};

/* A past answer, kept to answer its request again when the client lost it (XEP-0124 14.3). */
struct bosh_cached {
    long long rid; /* 0: none */
    struct buf body;
};

struct bosh {
    struct bosh *next; /* the table */
    char sid[33];
    int worker_id;
    struct loop *loop;
    int fd; /* our side of the socketpair */
    struct loop_io io;
    struct buf to_stream; /* bytes for the stream not yet written */
    struct xml_stream *parser;
    struct buf pending; /* serialized elements for the next answer */
    struct bosh_held held[BOSH_MAX_HOLD + 1];
    int nheld;
    long long rid; /* the highest request's */
    int wait;
    int hold;     /* this session's, at most http.bosh_hold */
    int requests; /* this session's: http.bosh_requests, at least hold + 1 */
    int inactivity;
    struct bosh_cached cache[BOSH_MAX_REQUESTS]; /* by rid % requests */
    struct loop_timer wait_timer;
    struct loop_timer idle_timer; /* inactivity: no request held */
    char to[256];
    char stream_id[64];
    bool opened;     /* the stream's header came */
    bool ended;      /* the stream ended: answers say terminate */
    char error[64];  /* a stream error's condition */
    bool first_sent; /* the session creation answer went out */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bosh *table;

/* ---- the table ---- */

static void table_add(struct bosh *b)
{
    pthread_mutex_lock(&table_lock);
    b->next = table;
    table = b;
    pthread_mutex_unlock(&table_lock);
}

static void table_remove(struct bosh *b)
{
    pthread_mutex_lock(&table_lock);
    for (struct bosh **pp = &table; *pp; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
}

/* The session of `sid` and its worker (-1 when none). The pointer is used on that worker only. */
static struct bosh *table_find(struct strv sid, int *worker)
{
    pthread_mutex_lock(&table_lock);
    struct bosh *b = table;
    while (b && !strv_eq_c(sid, b->sid)) {
        b = b->next;
    }
    *worker = b ? b->worker_id : -1;
    pthread_mutex_unlock(&table_lock);
    return b;
}

/* ---- answers ---- */

static void body_open(struct bosh *b, struct buf *out, bool create)
{
    buf_append_c(out, "<body xmlns='" NS_HTTPBIND "' xmlns:stream='" NS_STREAM "'");
    if (create) {
        buf_printf(out,
                   " xmlns:xmpp='" NS_XBOSH "' sid='%s' wait='%d' hold='%d' requests='%d'"
                   " inactivity='%d' polling='%d' maxpause='%d' ver='1.11' from='%s'"
                   " authid='%s' xmpp:version='1.0' xmpp:restartlogic='true'",
                   b->sid, b->wait, b->hold, b->requests, b->inactivity,
                   worker_ctx()->cfg->http.bosh_polling, worker_ctx()->cfg->http.bosh_max_pause,
                   b->to, b->stream_id);
    }
    if (b->ended) {
        buf_printf(out, " type='terminate'%s%s%s", b->error[0] ? " condition='" : "",
                   b->error[0] ? "remote-stream-error" : "", b->error[0] ? "'" : "");
    }
    buf_append_c(out, ">");
}

static void answer(struct bosh *b, struct bosh_held *h)
{
    struct buf out;
    buf_init(&out, b->pending.len + 8192);
    bool create = !b->first_sent;
    b->first_sent = true;
    body_open(b, &out, create);
    buf_append(&out, b->pending.p, b->pending.len);
    buf_append_c(&out, "</body>");
    buf_reset(&b->pending);
    web__bosh_answered(h->c);
    web__respond(h->c, 200, "text/xml; charset=utf-8", h->cors, out.p, out.len);
    struct bosh_cached *k = &b->cache[h->rid % b->requests];
    buf_cleanup(&k->body);
    k->body = out; /* the cache keeps it */
    k->rid = h->rid;
}

static void idle_expired(void *ud);
static void bosh_free(struct bosh *b);

/* No request held: the inactivity time runs. */
static void go_idle(struct bosh *b)
{
    loop_timer_stop(b->loop, &b->wait_timer);
    loop_timer_start(b->loop, &b->idle_timer, (uint64_t)b->inactivity * 1000u, idle_expired, b);
}

/* Answers the oldest held request. */
static void answer_oldest(struct bosh *b)
{
    if (b->nheld == 0) {
        return;
    }
    struct bosh_held h = b->held[0];
    memmove(&b->held[0], &b->held[1], (size_t)(b->nheld - 1) * sizeof(b->held[0]));
    b->nheld--;
    answer(b, &h);
    if (b->nheld == 0) {
        go_idle(b);
    }
}

/* What the stream wrote goes to a held request (once the stream's features are known). */
static void flush(struct bosh *b)
{
    if ((b->pending.len > 0 && b->opened) || b->ended) {
        answer_oldest(b);
    }
    if (b->ended && b->nheld == 0) {
        bosh_free(b);
    }
}

/* ---- the stream side (socketpair) ---- */

static void append_element(struct bosh *b, const struct xml_node *el)
{
    if (el->ns && strcmp(el->ns, NS_STREAM) == 0) {
        /* stream:features and stream:error keep their prefix (declared on <body/>). */
        buf_printf(&b->pending, "<stream:%s>", el->name);
        struct xml_ser_opts o = { .parent_ns = NULL };
        for (const struct xml_node *n = el->first_child; n; n = n->next) {
            xml_serialize(&b->pending, n, &o);
        }
        buf_printf(&b->pending, "</stream:%s>", el->name);
        return;
    }
    struct xml_ser_opts o = { .parent_ns = NS_HTTPBIND };
    xml_serialize(&b->pending, el, &o);
}

static int on_open(void *ud, const struct xml_node *header, const char *default_ns)
{
    (void)default_ns;
    struct bosh *b = ud;
    const char *id = xml_node_attr(header, "id");
    snprintf(b->stream_id, sizeof(b->stream_id), "%s", id ? id : "");
    b->opened = true;
    return 0;
}

static int on_element(void *ud, struct xml_node *el)
{
    struct bosh *b = ud;
    append_element(b, el);
    bool restart = el->ns && strcmp(el->ns, NS_SASL) == 0 && strcmp(el->name, "success") == 0;
    if (el->ns && strcmp(el->ns, NS_STREAM) == 0 && strcmp(el->name, "error") == 0) {
        const struct xml_node *cond = xml_node_first_element(el);
        snprintf(b->error, sizeof(b->error), "%s", cond ? cond->name : "undefined-condition");
    }
    xml_node_unref(el);
    /* After SASL success the stream starts a new document. */
    return restart ? 1 : 0;
}

static int on_close(void *ud)
{
    struct bosh *b = ud;
    b->ended = true;
    return 1;
}

static const struct xml_stream_cbs parser_cbs = {
    .stream_open = on_open,
    .element = on_element,
    .stream_close = on_close,
};

static void new_parser(struct bosh *b)
{
    struct xml_limits lim = {
        .max_stanza_size = (size_t)worker_ctx()->cfg->xmpp.receiving.send_queue_limit,
        .max_depth = 256,
        .max_attrs = XML_DEFAULT_MAX_ATTRS,
    };
    xml_stream_free(b->parser);
    b->parser = xml_stream_new(&lim, &parser_cbs, b);
}

static void parse_output(struct bosh *b, const char *p, size_t len)
{
    while (len > 0 && !b->ended) {
        size_t used = 0;
        int rc = xml_stream_feed(b->parser, p, len, &used);
        if (rc < 0) {
            b->ended = true;
            break;
        }
        if (rc == 0) {
            break;
        }
        p += used;
        len -= used;
        if (!b->ended) {
            new_parser(b); /* a restart: a new header follows */
        }
    }
}

static void stream_write_some(struct bosh *b)
{
    while (b->to_stream.len > 0) {
        ssize_t n = send(b->fd, b->to_stream.p, b->to_stream.len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        buf_consume(&b->to_stream, (size_t)n);
    }
    loop_io_mod(b->loop, &b->io, EPOLLIN | (b->to_stream.len > 0 ? EPOLLOUT : 0));
}

static void on_stream_io(void *ud, uint32_t events)
{
    struct bosh *b = ud;
    if (events & EPOLLOUT) {
        stream_write_some(b);
    }
    char data[16384];
    for (;;) {
        ssize_t n = recv(b->fd, data, sizeof(data), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (n <= 0) {
            b->ended = true;
            break;
        }
        parse_output(b, data, (size_t)n);
    }
    flush(b);
}

static int to_stream(struct bosh *b, const char *p, size_t len)
{
    int rc = buf_append(&b->to_stream, p, len);
    stream_write_some(b);
    return rc;
}

/* ---- life ---- */

static void bosh_free(struct bosh *b)
{
    table_remove(b);
    for (int i = 0; i < b->nheld; i++) {
        web__bosh_answered(b->held[i].c);
        web__error(b->held[i].c, 404, "session ended");
    }
    loop_timer_stop(b->loop, &b->wait_timer);
    loop_timer_stop(b->loop, &b->idle_timer);
    loop_io_del(b->loop, &b->io);
    close(b->fd);
    xml_stream_free(b->parser);
    buf_cleanup(&b->to_stream);
    buf_cleanup(&b->pending);
    for (int i = 0; i < BOSH_MAX_REQUESTS; i++) {
        buf_cleanup(&b->cache[i].body);
    }
    log_rec(LOG_TAG_XMPPS, LOG_LOWLEVEL, 0, NULL, "BOSH session %s ended", b->sid);
    free(b);
}

static void idle_expired(void *ud)
{
    struct bosh *b = ud;
    if (b->nheld > 0) {
        return;
    }
    /* No request for `inactivity` seconds: the stream ends like a dropped TCP connection. */
    log_rec(LOG_TAG_XMPPS, LOG_LOWLEVEL, 0, NULL, "BOSH session %s inactive, ending", b->sid);
    bosh_free(b);
}

static void wait_expired(void *ud)
{
    struct bosh *b = ud;
    answer_oldest(b);
    if (b->nheld > 0) {
        loop_timer_start(b->loop, &b->wait_timer, (uint64_t)b->wait * 1000u, wait_expired, b);
    }
}

/* The client stream behind a new session: the server side of a socketpair, accepted like a
 * connection of the XMPP listener. */
static int open_stream(struct bosh *b, struct conn *http)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        return ERR_IO;
    }
    b->fd = sv[0];
    loop_io_add(b->loop, &b->io, b->fd, EPOLLIN, on_stream_io, b);
    char peer[96];
    snprintf(peer, sizeof(peer), "%s", http->peer);
    struct conn *c = conn_new(http->xw, sv[1], false, peer, http->addr);
    c->secure = conn_is_tls(http) || web__plain_secure(http);
    c->http = true;
    c->st = xstream_new(c);
    conn_stage_update(c);
    log_conn(&c->log, LOG_LOWLEVEL, "BOSH session %s", b->sid);
    return 0;
}

static void stream_header(struct bosh *b)
{
    struct buf h;
    buf_init(&h, 1024);
    buf_append_c(&h, "<stream:stream xmlns='" NS_CLIENT "' xmlns:stream='" NS_STREAM
                     "' version='1.0' to='");
    xml_escape_append(&h, strv_c(b->to), true);
    buf_append_c(&h, "'>");
    to_stream(b, h.p, h.len);
    buf_cleanup(&h);
}

/* A number the client asks for (attribute `name`), within 1..max; `max` when absent or more. */
static int asked(const struct xml_node *body, const char *name, int max)
{
    const char *v = xml_node_attr(body, name);
    long n = v ? strtol(v, NULL, 10) : max;
    return n < 1 || n > max ? max : (int)n;
}

/* The session's wait, hold, requests and inactivity: what the client asks, within the settings. */
static void negotiate(struct bosh *b, const struct xml_node *body)
{
    const struct settings_http *cfg = &worker_ctx()->cfg->http;
    b->wait = asked(body, "wait", cfg->bosh_max_wait);
    b->hold = asked(body, "hold", cfg->bosh_hold);
    b->requests = cfg->bosh_requests > b->hold ? cfg->bosh_requests : b->hold + 1;
    b->inactivity = cfg->bosh_inactivity;
}

static struct bosh *create(struct conn *http, const struct xml_node *body)
{
    const char *to = xml_node_attr(body, "to");
    if (to == NULL || strlen(to) >= 256) {
        return NULL;
    }
    struct bosh *b = xcalloc(1, sizeof(*b));
    unsigned char rnd[16];
    RAND_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(b->sid + 2 * i, 3, "%02x", rnd[i]);
    }
    snprintf(b->to, sizeof(b->to), "%s", to);
    negotiate(b, body);
    b->worker_id = http->worker_id;
    b->loop = http->loop;
    loop_timer_init(&b->wait_timer);
    loop_timer_init(&b->idle_timer);
    buf_init(&b->to_stream, (size_t)worker_ctx()->cfg->xmpp.receiving.max_stanza_size * 4);
    buf_init(&b->pending, (size_t)worker_ctx()->cfg->xmpp.receiving.send_queue_limit);
    new_parser(b);
    if (open_stream(b, http) != 0) {
        xml_stream_free(b->parser);
        free(b);
        return NULL;
    }
    table_add(b);
    stream_header(b);
    log_rec(LOG_TAG_XMPPS, LOG_LOWLEVEL, 0, http->peer, "BOSH session %s to %s", b->sid, b->to);
    return b;
}

/* ---- requests ---- */

static void hold(struct bosh *b, struct conn *c, long long rid, const char *cors)
{
    if (b->nheld == b->hold + 1) {
        answer_oldest(b);
    }
    struct bosh_held *h = &b->held[b->nheld++];
    h->c = c;
    h->rid = rid;
    snprintf(h->cors, sizeof(h->cors), "%s", cors);
    web__bosh_held(c, b);
    loop_timer_stop(b->loop, &b->idle_timer);
    if (b->nheld > b->hold) {
        answer_oldest(b); /* over `hold`: the older one goes back empty */
    }
    if (b->nheld == 1) {
        loop_timer_start(b->loop, &b->wait_timer, (uint64_t)b->wait * 1000u, wait_expired, b);
    }
}

/* The payload of a request: its children go into the stream (jabber:client stanzas without a
 * namespace of their own get none written: the stream's default). */
static void payload_to_stream(struct bosh *b, const struct xml_node *body)
{
    struct buf out;
    buf_init(&out, (size_t)worker_ctx()->cfg->xmpp.receiving.max_stanza_size * 4);
    for (const struct xml_node *n = body->first_child; n; n = n->next) {
        if (n->name == NULL) {
            continue; /* text between elements */
        }
        struct xml_ser_opts o = { .parent_ns = NS_CLIENT };
        xml_serialize(&out, n, &o);
    }
    if (out.len > 0) {
        to_stream(b, out.p, out.len);
    }
    buf_cleanup(&out);
}

static void refuse(struct conn *c, const char *cors, const char *condition)
{
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "<body xmlns='" NS_HTTPBIND "' type='terminate' condition='%s'/>", condition);
    web__respond(c, 200, "text/xml; charset=utf-8", cors, body, (size_t)n);
}

/* Whether request `rid` is held now (its answer not sent yet). */
static bool is_held(const struct bosh *b, long long rid)
{
    for (int i = 0; i < b->nheld; i++) {
        if (b->held[i].rid == rid) {
            return true;
        }
    }
    return false;
}

/* A request made again (rid not above the last): its cached answer again, or, when it was never
 * answered (its connection dropped while held), held anew. Returns false when it is neither:
 * outside the window of the last `requests` rids, or held already. */
static bool repeated_request(struct bosh *b, struct conn *c, long long rid, const char *cors)
{
    if (rid <= b->rid - b->requests || is_held(b, rid)) {
        return false;
    }
    const struct bosh_cached *k = &b->cache[rid % b->requests];
    if (k->rid == rid) {
        log_conn(&c->log, LOG_LOWLEVEL, "BOSH session %s: rid %lld again, answered from the cache",
                 b->sid, rid);
        web__respond(c, 200, "text/xml; charset=utf-8", cors, k->body.p, k->body.len);
        return true;
    }
    hold(b, c, rid, cors);
    flush(b);
    return true;
}

/* A request for an existing session, on its worker. */
static void session_request(struct bosh *b, struct conn *c, const struct xml_node *body,
                            long long rid, const char *cors)
{
    if (rid <= b->rid && repeated_request(b, c, rid, cors)) {
        return;
    }
    if (rid <= b->rid || rid > b->rid + b->requests) {
        log_conn(&c->log, LOG_PROBLEMS, "BOSH session %s: rid %lld out of window (last %lld)",
                 b->sid, rid, b->rid);
        refuse(c, cors, "item-not-found");
        b->ended = true;
        to_stream(b, "</stream:stream>", 16);
        flush(b);
        return;
    }
    b->rid = rid;
    const char *type = xml_node_attr(body, "type");
    if (xml_node_attr_ns(body, NS_XBOSH, "restart") != NULL) {
        stream_header(b);
    }
    payload_to_stream(b, body);
    if (type && strcmp(type, "terminate") == 0) {
        to_stream(b, "</stream:stream>", 16);
    }
    const char *pause = xml_node_attr(body, "pause");
    if (pause) {
        /* Pause: every request goes back at once; the session waits up to maxpause. */
        hold(b, c, rid, cors);
        while (b->nheld > 0) {
            answer_oldest(b);
        }
        long secs = strtol(pause, NULL, 10);
        long max = worker_ctx()->cfg->http.bosh_max_pause;
        secs = secs < 1 || secs > max ? max : secs;
        loop_timer_start(b->loop, &b->idle_timer, (uint64_t)secs * 1000u, idle_expired, b);
        return;
    }
    hold(b, c, rid, cors);
    flush(b);
}

int web__bosh(struct conn *c, const struct web_req *r, const char *cors, int *move_to)
{
    *move_to = -1;
    struct xml_node *body = xml_parse_element(r->body, NULL, NULL);
    const char *rid_s = body ? xml_node_attr(body, "rid") : NULL;
    if (body == NULL || body->ns == NULL || strcmp(body->ns, NS_HTTPBIND) != 0 ||
        strcmp(body->name, "body") != 0 || rid_s == NULL) {
        xml_node_unref(body);
        web__error_with(c, 400, "a BOSH <body/> with a rid is expected", cors);
        return ERR_CLOSED;
    }
    long long rid = strtoll(rid_s, NULL, 10);
    const char *sid = xml_node_attr(body, "sid");
    int rc = 0;
    if (sid == NULL) {
        struct bosh *b = create(c, body);
        if (b == NULL) {
            refuse(c, cors, "improper-addressing");
        } else {
            b->rid = rid;
            hold(b, c, rid, cors);
            flush(b);
        }
    } else {
        int worker;
        struct bosh *b = table_find(strv_c(sid), &worker);
        if (b == NULL) {
            refuse(c, cors, "item-not-found");
        } else if (worker != c->worker_id) {
            *move_to = worker;
        } else {
            session_request(b, c, body, rid, cors);
        }
    }
    xml_node_unref(body);
    return rc;
}

void web__bosh_gone(void *session, struct conn *c)
{
    struct bosh *b = session;
    for (int i = 0; i < b->nheld; i++) {
        if (b->held[i].c == c) {
            memmove(&b->held[i], &b->held[i + 1], (size_t)(b->nheld - i - 1) * sizeof(b->held[0]));
            b->nheld--;
            break;
        }
    }
    if (b->nheld == 0) {
        go_idle(b); /* the client may make this request again */
    }
}

void web_bosh_worker_stop(int worker_id)
{
    for (;;) {
        pthread_mutex_lock(&table_lock);
        struct bosh *b = table;
        while (b && b->worker_id != worker_id) {
            b = b->next;
        }
        pthread_mutex_unlock(&table_lock);
        if (b == NULL) {
            return;
        }
        b->nheld = 0; /* their connections are gone already (the XMPP module stopped first) */
        bosh_free(b);
    }
}
