/* conn.c: socket I/O for accepted and outgoing connections, TLS over memory BIOs (server or
 * client side), bounded output, deferred close; the owner hears of it through struct conn_ops. */
#include "xmpp/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/list.h"
#include "core/log.h"
#include "core/server.h"
#include "tls/tls.h"
#include "xml/xml.h"
#include "xmpp/xmpp.h"

#define CONN_READ_CHUNK 16384
#define CONN_CLOSE_GRACE_MS 2000
#define SHAPE_MIN_WAIT_MS 5

/* The pre-authentication stages, each with its own deadline (settings xmpp.receiving.*). */
enum conn_stage {
    STAGE_NONE,   /* not evaluated yet */
    STAGE_TLS,    /* a TLS handshake (direct TLS, or after STARTTLS): tls_timeout */
    STAGE_HEADER, /* waiting for the peer's stream header: header_timeout */
    STAGE_AUTH,   /* header received, not authenticated yet: sasl_timeout */
    STAGE_DONE,   /* authenticated: no more stage deadlines */
};

static void on_io(void *ud, uint32_t events);

void conn_set_kind(struct conn *c, enum conn_kind kind)
{
    c->kind = kind;
    c->log.tag = kind == CONN_S2S_OUT ? LOG_TAG_XMPPO
                 : kind == CONN_C2S   ? LOG_TAG_XMPPS
                                      : LOG_TAG_XMPPI;
}

/* ---- the owner's callbacks (none once it detached) ---- */

static void tell_closed(struct conn *c, const char *why)
{
    if (c->ops && c->ops->closed) {
        c->ops->closed(c->owner, why);
    }
}

static int owner_wants_move(const struct conn *c)
{
    return c->ops && c->ops->wants_move ? c->ops->wants_move(c->owner) : -1;
}

void conn_detach(struct conn *c)
{
    c->ops = NULL;
    c->owner = NULL;
}

static void link_conn(struct xmpp_worker *xw, struct conn *c)
{
    c->xw = xw;
    LIST_PUSH(xw->conns, c);
    xw->nconns++;
}

static void unlink_conn(struct conn *c)
{
    struct xmpp_worker *xw = c->xw;
    LIST_UNLINK(xw->conns, c);
    xw->nconns--;
}

static struct conn *conn_alloc(struct xmpp_worker *xw, int fd, unsigned long id, size_t out_max,
                               const char *peer)
{
    const struct settings *cfg = worker_ctx()->cfg;
    struct conn *c = xcalloc(1, sizeof(*c));
    c->id = id ? id : atomic_fetch_add(&g_server.next_conn_id, 1) + 1;
    c->fd = fd;
    c->worker_id = xw->worker->id;
    c->loop = xw->worker->loop;
    c->since = time(NULL);
    buf_init(&c->out, out_max);
    buf_init(&c->pending, (size_t)cfg->xmpp.receiving.max_stanza_size * 2);
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->log = (struct log_ctx){ .tag = LOG_TAG_XMPPI, .id = c->id, .peer = c->peer };
    loop_timer_init(&c->timer);
    loop_timer_init(&c->close_timer);
    loop_timer_init(&c->stage_timer);
    loop_timer_init(&c->shape_timer);
    c->tokens_at = loop_now_ms(c->loop);
    c->tokens = cfg->xmpp.receiving.c2s_burst;
    link_conn(xw, c);
    return c;
}

struct conn *conn_new(struct xmpp_worker *xw, int fd, bool tls_direct, const char *peer,
                      const char *addr)
{
    const struct settings *cfg = worker_ctx()->cfg;
    struct conn *c = conn_alloc(xw, fd, 0, (size_t)cfg->xmpp.receiving.send_queue_limit, peer);
    c->tls_direct = tls_direct;
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    if (tls_direct) {
        c->tls = tls_conn_new(g_server.tls);
    }
    loop_io_add(c->loop, &c->io, fd, EPOLLIN | EPOLLRDHUP, on_io, c);
    return c;
}

void conn_format_peer(const struct sockaddr *sa, char *peer, size_t plen, char *addr, size_t alen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
    }
    snprintf(peer, plen, "[%s]:%u", ip, port);
    if (addr != NULL) {
        snprintf(addr, alen, "%s", ip);
    }
}

struct conn *conn_connect(struct xmpp_worker *xw, const struct sockaddr *sa, unsigned salen,
                          unsigned long id, size_t out_max, const struct conn_ops *ops, void *owner)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return NULL;
    }
    if (connect(fd, sa, (socklen_t)salen) != 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        errno = err;
        return NULL;
    }
    char peer[64];
    conn_format_peer(sa, peer, sizeof(peer), NULL, 0);
    struct conn *c = conn_alloc(xw, fd, id, out_max, peer);
    conn_set_kind(c, CONN_S2S_OUT);
    c->client = true;
    c->connecting = true;
    c->stage = STAGE_DONE;
    c->ops = ops;
    c->owner = owner;
    loop_io_add(c->loop, &c->io, fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, on_io, c);
    return c;
}

bool conn_is_tls(const struct conn *c)
{
    return c->tls != NULL || c->secure;
}

void conn_set_filter(struct conn *c, const struct conn_filter *f, void *ctx)
{
    c->filter = f;
    c->filter_ctx = ctx;
}

static void update_events(struct conn *c)
{
    if (c->closed) {
        return;
    }
    /* A throttled connection is not watched for input at all, not even for the peer's
     * half-close, which would otherwise wake the loop again and again. */
    uint32_t ev = c->throttled ? 0 : EPOLLRDHUP;
    if (c->connecting) {
        ev |= EPOLLOUT;
    }
    if (!c->closing && !c->throttled) {
        ev |= EPOLLIN;
    }
    if (c->out.len > 0) {
        ev |= EPOLLOUT;
    }
    loop_io_mod(c->loop, &c->io, ev);
}

static void stop_timers(struct conn *c)
{
    loop_timer_stop(c->loop, &c->timer);
    loop_timer_stop(c->loop, &c->close_timer);
    loop_timer_stop(c->loop, &c->stage_timer);
    loop_timer_stop(c->loop, &c->shape_timer);
}

static void free_deferred(void *ud)
{
    struct conn *c = ud;
    conn_free_now(c);
}

/* Drops the socket now; the memory goes in a deferred call. `why` (NULL for a close we
 * asked for) goes to the owner. */
static void hard_close(struct conn *c, const char *why)
{
    if (c->closed) {
        return;
    }
    c->closed = true;
    loop_io_del(c->loop, &c->io);
    stop_timers(c);
    close(c->fd);
    c->fd = -1;
    tell_closed(c, why);
    loop_defer(c->loop, &c->defer, free_deferred, c);
}

void conn_abandon(struct conn *c)
{
    conn_detach(c);
    hard_close(c, NULL);
}

void conn_free_now(struct conn *c)
{
    loop_defer_cancel(c->loop, &c->flush_defer);
    loop_defer_cancel(c->loop, &c->defer);
    if (!c->closed) {
        c->closed = true;
        loop_io_del(c->loop, &c->io);
        stop_timers(c);
        close(c->fd);
        tell_closed(c, NULL);
    }
    if (c->unauth_counted) {
        xmpp_addr_release_unauth(c->addr);
    }
    if (c->counted) {
        atomic_fetch_sub(&g_server.connections, 1);
        xmpp_addr_release(c->addr);
    }
    unlink_conn(c);
    if (c->ops && c->ops->free) {
        c->ops->free(c->owner);
    }
    if (c->filter && c->filter->free) {
        c->filter->free(c->filter_ctx);
    }
    if (c->tls) {
        tls_conn_free(c->tls);
    }
    buf_cleanup(&c->out);
    buf_cleanup(&c->pending);
    free(c);
}

int conn_send_buf(int fd, struct buf *out, unsigned long long *sent, unsigned long *calls)
{
    while (out->len > 0) {
        ssize_t n = send(fd, out->p, out->len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            return ERR_CLOSED;
        }
        buf_consume(out, (size_t)n);
        *sent += (unsigned long long)n;
        (*calls)++;
    }
    if (out->len == 0 && out->cap > 65536) {
        /* A burst's big buffer is not kept; the usual size is, until the connection is idle. */
        buf_release(out);
    }
    return 0;
}

void conn_release_idle(struct conn *c)
{
    if (c->closed) {
        return;
    }
    if (c->out.len == 0) {
        buf_release(&c->out);
    }
    if (c->pending.len == 0) {
        buf_release(&c->pending);
    }
    if (c->tls != NULL) {
        tls_conn_release_idle(c->tls);
    }
}

/* Writes what is queued; returns ERR_CLOSED when the socket failed. */
static int flush_out(struct conn *c)
{
    if (c->tls) {
        int trc = tls_conn_take_output(c->tls, &c->out);
        if (trc != 0) {
            return trc == ERR_TLS ? ERR_TLS : ERR_LIMIT;
        }
    }
    int rc = conn_send_buf(c->fd, &c->out, &c->bytes_out, &c->sends);
    if (rc != 0) {
        return rc;
    }
    return 0;
}

static void after_io(struct conn *c)
{
    if (c->closed) {
        return;
    }
    int rc = flush_out(c);
    if (rc == ERR_CLOSED) {
        /* A closing stream's last bytes may find the peer gone: a client that sends
         * </stream:stream> and closes with data unread resets the socket. Not a problem. */
        int level = c->closing ? LOG_LOWLEVEL : LOG_PROBLEMS;
        log_conn(&c->log, level, "write failed: %s", strerror(errno));
        hard_close(c, "write failed");
        return;
    }
    if (rc == ERR_TLS) {
        log_conn(&c->log, LOG_PROBLEMS, "TLS write failed: %s", tls_conn_error(c->tls));
        hard_close(c, "TLS write failed");
        return;
    }
    if (rc == ERR_LIMIT) {
        log_conn(&c->log, LOG_PROBLEMS, "send queue limit reached, closing");
        hard_close(c, "send queue limit reached");
        return;
    }
    if (c->closing && c->out.len == 0) {
        shutdown(c->fd, SHUT_WR);
        hard_close(c, NULL);
        return;
    }
    if (c->out.len == 0 && !c->closing && c->ops && c->ops->writable) {
        c->ops->writable(c->owner);
    }
    update_events(c);
}

static void deferred_flush(void *ud)
{
    after_io(ud);
}

int conn_write(struct conn *c, const char *data, size_t len)
{
    if (c->filter != NULL && !c->closed) {
        return c->filter->encode(c->filter_ctx, data, len);
    }
    return conn_write_raw(c, data, len);
}

int conn_write_raw(struct conn *c, const char *data, size_t len)
{
    if (c->closed) {
        return ERR_CLOSED;
    }
    int rc;
    if (c->tls) {
        /* Sealed by the flush below: one record for the iteration's writes. */
        rc = tls_conn_write(c->tls, data, len);
    } else {
        rc = buf_append(&c->out, data, len);
    }
    if (rc != 0) {
        log_conn(&c->log, LOG_PROBLEMS, "send queue limit reached, closing");
        c->closing = true;
        buf_reset(&c->out);
        hard_close(c, "send queue limit reached");
        return ERR_LIMIT;
    }
    /* Everything written during this loop iteration goes out at its end in one TLS record and
     * one send; EPOLLOUT is armed only if the socket cannot take it all. */
    loop_defer(c->loop, &c->flush_defer, deferred_flush, c);
    return 0;
}

int conn_start_tls(struct conn *c)
{
    if (c->tls) {
        return ERR_PROTO;
    }
    c->tls = tls_conn_new(g_server.tls);
    c->tls_wait_hello = c->tls != NULL;
    return c->tls ? 0 : ERR_TLS;
}

int conn_start_tls_client(struct conn *c, const char *local, const char *remote, bool after_proceed)
{
    if (c->tls) {
        return ERR_PROTO;
    }
    c->tls = tls_conn_new_client(g_server.tls, local, remote);
    c->tls_wait_hello = c->tls != NULL && after_proceed;
    return c->tls ? 0 : ERR_TLS;
}

/* Drops the whitespace that may follow <starttls/> (whitespace between top-level elements, e.g.
 * go-sendxmpp's newline) until the first handshake byte; a TLS record never starts with it.
 * Returns how many bytes of `data` to skip. */
static size_t skip_before_hello(struct conn *c, const char *data, size_t len)
{
    size_t n = c->tls_wait_hello ? xml_space_prefix(data, len) : 0;
    if (n < len) {
        c->tls_wait_hello = false;
    }
    return n;
}

static void close_timeout(void *ud)
{
    struct conn *c = ud;
    hard_close(c, NULL);
}

void conn_close(struct conn *c, const char *reason)
{
    if (c->closing || c->closed) {
        return;
    }
    if (c->filter && c->filter->closing) {
        c->filter->closing(c->filter_ctx);
    }
    c->closing = true;
    if (reason) {
        log_conn(&c->log, LOG_LOWLEVEL, "closing: %s", reason);
    }
    if (c->tls) {
        tls_conn_shutdown(c->tls);
    }
    loop_timer_start(c->loop, &c->close_timer, CONN_CLOSE_GRACE_MS, close_timeout, c);
    after_io(c);
}

/* ---- pre-authentication deadlines ---- */

static enum conn_stage current_stage(const struct conn *c)
{
    const struct conn_ops *ops = c->ops;
    if (ops && ops->authenticated && ops->authenticated(c->owner)) {
        return STAGE_DONE;
    }
    if (c->tls != NULL && !tls_conn_handshake_done(c->tls)) {
        return STAGE_TLS;
    }
    if (ops == NULL || ops->awaiting_header == NULL || ops->awaiting_header(c->owner)) {
        return STAGE_HEADER;
    }
    return STAGE_AUTH;
}

static void stage_expired(void *ud)
{
    struct conn *c = ud;
    if (c->closed || c->closing) {
        return;
    }
    atomic_fetch_add(&g_xmpp_stats.preauth_timeouts, 1);
    if (c->stage == STAGE_TLS || c->ops == NULL || c->ops->expired == NULL) {
        /* Nothing readable can be sent before the handshake ends. */
        log_conn(&c->log, LOG_PROBLEMS, "TLS handshake not finished in time, closing");
        hard_close(c, "TLS handshake not finished in time");
        return;
    }
    c->ops->expired(c->owner, c->stage == STAGE_HEADER ? "no complete stream header in time"
                                                       : "authentication took too long");
}

void conn_stage_update(struct conn *c)
{
    if (c->closed || c->stage == STAGE_DONE) {
        return;
    }
    enum conn_stage now = current_stage(c);
    if ((int)now == c->stage) {
        return;
    }
    c->stage = (int)now;
    loop_timer_stop(c->loop, &c->stage_timer);
    if (now == STAGE_DONE) {
        if (c->unauth_counted) {
            c->unauth_counted = false;
            xmpp_addr_release_unauth(c->addr);
        }
        return;
    }
    const struct settings *cfg = worker_ctx()->cfg;
    int secs = now == STAGE_TLS      ? cfg->xmpp.receiving.tls_timeout
               : now == STAGE_HEADER ? cfg->xmpp.receiving.header_timeout
                                     : cfg->xmpp.receiving.sasl_timeout;
    loop_timer_start(c->loop, &c->stage_timer, (uint64_t)secs * 1000u, stage_expired, c);
}

/* ---- traffic shaping: a token bucket of bytes per connection ---- */

static void shape_limits(const struct conn *c, long *rate, long *burst)
{
    const struct settings *cfg = worker_ctx()->cfg;
    bool s2s = c->kind == CONN_S2S_IN;
    if (c->client || c->unshaped) {
        /* Our own outgoing streams are not shaped (the rates are for what peers send us), nor
         * is a granted upload's body (conn.h). */
        *rate = 0;
        *burst = 0;
        return;
    }
    *rate = s2s ? cfg->xmpp.receiving.s2s_rate : cfg->xmpp.receiving.c2s_rate;
    *burst = s2s ? cfg->xmpp.receiving.s2s_burst : cfg->xmpp.receiving.c2s_burst;
}

/* Refills the bucket for the time gone by; true when the connection may be read now. */
static bool shape_allow(struct conn *c)
{
    long rate, burst;
    shape_limits(c, &rate, &burst);
    if (rate <= 0) {
        return true;
    }
    uint64_t now = loop_now_ms(c->loop);
    long long add = (long long)((now - c->tokens_at) * (uint64_t)rate / 1000u);
    if (add > 0) {
        c->tokens += add;
        /* Only the time the tokens stand for is used up: no fraction lost between reads. */
        c->tokens_at += (uint64_t)(add * 1000 / rate);
    }
    if (c->tokens >= burst) {
        c->tokens = burst;
        c->tokens_at = now;
    }
    return c->tokens > 0;
}

static void shape_resume(void *ud)
{
    struct conn *c = ud;
    c->throttled = false;
    update_events(c);
}

/* Over the rate: no reading (EPOLLIN off) until the bucket is positive again. The peer's bytes
 * wait in the socket buffer and TCP slows the sender down; nothing is dropped. */
static void shape_wait(struct conn *c)
{
    long rate, burst;
    shape_limits(c, &rate, &burst);
    uint64_t ms = rate > 0 && c->tokens < 1 ? (uint64_t)((1 - c->tokens) * 1000 / rate) + 1 : 0;
    if (!c->throttled) {
        atomic_fetch_add(&g_xmpp_stats.throttled, 1);
    }
    c->throttled = true;
    loop_timer_start(c->loop, &c->shape_timer, ms < SHAPE_MIN_WAIT_MS ? SHAPE_MIN_WAIT_MS : ms,
                     shape_resume, c);
}

static int read_tls(struct conn *c, const char *data, size_t len);

/* A fatal TLS error: the reason goes to the log and to the owner. */
static void tls_failed(struct conn *c)
{
    char why[200];
    snprintf(why, sizeof(why), "TLS: %s", tls_conn_error(c->tls));
    log_conn(&c->log, LOG_PROBLEMS, "TLS failed: %s", tls_conn_error(c->tls));
    hard_close(c, why);
}

/* TLS was just turned on by what the owner read; `data` is what came after it in the same
 * read. */
static void tls_started(struct conn *c, const char *data, size_t len)
{
    size_t skip = skip_before_hello(c, data, len);
    if (skip == len) {
        return;
    }
    if (c->client) {
        /* After <proceed/>, the server's first handshake bytes may follow at once. */
        int rc = read_tls(c, data + skip, len - skip);
        if (rc != 0) {
            tls_failed(c);
        }
        return;
    }
    /* STARTTLS was just accepted: what came with <starttls/> was sent before our <proceed/>,
     * so it cannot be the handshake (RFC 6120 section 5.4.3.3). Only whitespace is allowed
     * there. */
    tls_conn_free(c->tls);
    c->tls = NULL;
    if (c->ops && c->ops->tls_refused) {
        c->ops->tls_refused(c->owner);
    }
}

static void feed_stream(struct conn *c, const char *data, size_t len);

/* Feeds the owner's text to it, which may ask to stop early (STARTTLS, a move). */
static void feed_owner(struct conn *c, const char *data, size_t len)
{
    const struct conn_filter *filter = c->filter;
    while (len > 0 && !c->closing && !c->closed && c->ops) {
        if (owner_wants_move(c) >= 0) {
            /* Kept for the account's worker, which parses it after the move. */
            if (buf_append(&c->pending, data, len) != 0) {
                conn_close(c, "too much pipelined data");
            }
            return;
        }
        size_t used = c->ops->read(c->owner, data, len);
        data += used;
        len -= used;
        if (len == 0 || c->closing || c->closed) {
            return;
        }
        if (c->filter != filter) {
            /* The owner just put a framing in place (a WebSocket upgrade): the rest is its. */
            feed_stream(c, data, len);
            return;
        }
        if (c->tls && !tls_conn_handshake_done(c->tls) && owner_wants_move(c) < 0) {
            tls_started(c, data, len);
            return;
        }
    }
}

/* Decrypted bytes and a framing's decoded text, one buffer each per worker thread (feeding the
 * stream never reads another connection on this thread, so neither is in use twice). */
static __thread struct buf t_plain;
static __thread struct buf t_text;

void conn_worker_cleanup(void)
{
    buf_cleanup(&t_plain);
    buf_cleanup(&t_text);
}

/* Socket plaintext: through the framing when there is one, then to the owner. */
static void feed_stream(struct conn *c, const char *data, size_t len)
{
    if (c->filter == NULL) {
        feed_owner(c, data, len);
        return;
    }
    struct buf *text = &t_text;
    if (text->max == 0) {
        buf_init(text, (size_t)1 << 24);
    }
    buf_reset(text);
    int rc = c->filter->decode(c->filter_ctx, data, len, text);
    if (text->len > 0) {
        feed_owner(c, text->p, text->len);
        buf_reset(text);
    }
    if (rc != 0 && !c->closed) {
        conn_close(c, "framing ended");
    }
}

static int read_tls(struct conn *c, const char *data, size_t len)
{
    if (tls_conn_feed(c->tls, data, len) != 0) {
        return ERR_TLS;
    }
    struct buf *plain = &t_plain;
    if (plain->max == 0) {
        buf_init(plain, CONN_READ_CHUNK * 4);
    }
    for (;;) {
        buf_reset(plain);
        int rc = tls_conn_read(c->tls, plain);
        /* A full buffer means more may be waiting inside TLS; otherwise TLS needs more bytes
         * from the socket (a partial record is not a reason to loop). */
        bool full = plain->len >= plain->max;
        if (plain->len > 0) {
            feed_stream(c, plain->p, plain->len);
            buf_reset(plain);
        }
        if (rc != 0) {
            return rc;
        }
        if (c->closed || c->closing || !full) {
            break;
        }
    }
    return 0;
}

static void on_readable(struct conn *c)
{
    char data[CONN_READ_CHUNK];
    for (int round = 0; round < 4 && !c->closed && !c->closing; round++) {
        if (!shape_allow(c)) {
            shape_wait(c);
            return;
        }
        ssize_t n = recv(c->fd, data, sizeof(data), 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            const char *why = strerror(errno);
            log_conn(&c->log, LOG_PROBLEMS, "read failed: %s", why);
            hard_close(c, why);
            return;
        }
        if (n == 0) {
            log_conn(&c->log, LOG_LOWLEVEL, "closed by peer");
            hard_close(c, "connection closed by the remote server");
            return;
        }
        c->last_read_ms = loop_now_ms(c->loop);
        c->bytes_in += (unsigned long long)n;
        c->receives++;
        c->tokens -= n;
        size_t skip = skip_before_hello(c, data, (size_t)n);
        if (skip == (size_t)n) {
            continue;
        }
        if (c->tls) {
            int rc = read_tls(c, data + skip, (size_t)n - skip);
            if (rc == ERR_CLOSED) {
                log_conn(&c->log, LOG_LOWLEVEL, "TLS closed by peer");
                conn_close(c, NULL);
                return;
            }
            if (rc != 0) {
                tls_failed(c);
                return;
            }
        } else {
            feed_stream(c, data, (size_t)n);
        }
        if (owner_wants_move(c) >= 0) {
            return;
        }
        if ((size_t)n < sizeof(data)) {
            /* A short read emptied the socket: no recv just to see EAGAIN (the descriptor is
             * level-triggered, so bytes arriving now wake the loop again). */
            return;
        }
    }
}

/* conn_connect: the TCP connect ended (EPOLLOUT) or failed. */
static void on_connect(struct conn *c, uint32_t events)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0 && !(events & EPOLLOUT) && !(events & (EPOLLERR | EPOLLHUP))) {
        return;
    }
    if (err == 0 && !(events & EPOLLOUT)) {
        err = ECONNREFUSED;
    }
    c->connecting = err != 0;
    if (err == 0) {
        update_events(c);
    }
    if (c->ops && c->ops->connected) {
        c->ops->connected(c->owner, err);
    }
}

static void on_io(void *ud, uint32_t events)
{
    struct conn *c = ud;
    if (c->closed) {
        return;
    }
    if (c->connecting) {
        on_connect(c, events);
        return;
    }
    if (events & EPOLLIN) {
        on_readable(c);
    } else if (events & (EPOLLERR | EPOLLHUP)) {
        hard_close(c, "connection error");
        return;
    }
    if (c->closed) {
        return;
    }
    conn_stage_update(c);
    int target = owner_wants_move(c);
    if (target >= 0 && !c->closing) {
        after_io(c);
        if (!c->closed) {
            conn_move(c, target);
        }
        return;
    }
    after_io(c);
}

/* The move: the old worker forgets the conn, the new one adopts it. Nothing else touches it in
 * between, so no lock is needed. */
static void adopt(struct worker *w, void *arg)
{
    struct conn *c = arg;
    struct worker_ctx *wc = w->ctx;
    c->worker_id = w->id;
    c->loop = w->loop;
    link_conn(wc->xmpp, c);
    loop_io_add(c->loop, &c->io, c->fd, EPOLLIN | EPOLLRDHUP, on_io, c);
    if (c->filter && c->filter->arrived) {
        c->filter->arrived(c->filter_ctx);
    }
    if (c->ops && c->ops->moved) {
        c->ops->moved(c->owner);
    }
    if (c->pending.len > 0 && !c->closed && !c->closing) {
        struct buf rest = c->pending;
        buf_init(&c->pending, rest.max);
        feed_owner(c, rest.p, rest.len); /* decoded already */
        buf_cleanup(&rest);
    }
    if (c->throttled && !c->closed) {
        shape_wait(c);
    }
    if (c->stage != STAGE_DONE) {
        c->stage = STAGE_NONE; /* its deadline starts afresh on this worker */
    }
    conn_stage_update(c);
    after_io(c);
}

void conn_move(struct conn *c, int worker_id)
{
    /* Nothing of this connection may run on the old worker once it is posted. */
    loop_defer_cancel(c->loop, &c->flush_defer);
    loop_io_del(c->loop, &c->io);
    stop_timers(c);
    if (c->filter && c->filter->leaving) {
        c->filter->leaving(c->filter_ctx);
    }
    unlink_conn(c);
    worker_post(worker_id, adopt, c);
}
