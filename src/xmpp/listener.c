/* listener.c: the XMPP listener: one socket per configured address for the whole process, shared
 * by every worker (EPOLLEXCLUSIVE); Channels and per-address limits at accept time. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "xml/ns.h"
#include "xmpp/conn.h"
#include "xmpp/stream.h"
#include "xmpp/xmpp.h"

struct listen_entry {
    struct listen_entry *next;
    struct listen_socket cfg;
    bool http; /* an http.listener socket: its connections start with xmpp_http_start */
    int fd;
    struct loop_io io;
    struct xmpp_worker *xw;
};

/* Per-address accounting: connections and recent authentication failures. A small table under
 * one mutex: touched only at accept, close and login, never per stanza. */
struct addr_entry {
    struct addr_entry *next;
    int conns;
    int unauth; /* of conns, those not yet authenticated */
    int failures;
    uint64_t failures_at;
    char addr[48];
};

#define ADDR_BUCKETS 1024
#define ACCEPT_BATCH 16
#define FAILURE_MEMORY_MS 60000

static pthread_mutex_t addr_lock = PTHREAD_MUTEX_INITIALIZER;
static struct addr_entry *addr_table[ADDR_BUCKETS];

static struct addr_entry **addr_find(const char *addr)
{
    size_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++) {
        h = h * 33 + *p;
    }
    struct addr_entry **pp = &addr_table[h % ADDR_BUCKETS];
    while (*pp && strcmp((*pp)->addr, addr) != 0) {
        pp = &(*pp)->next;
    }
    return pp;
}

static struct addr_entry *addr_get(const char *addr)
{
    struct addr_entry **pp = addr_find(addr);
    if (*pp == NULL) {
        *pp = xcalloc(1, sizeof(**pp));
        snprintf((*pp)->addr, sizeof((*pp)->addr), "%s", addr);
    }
    return *pp;
}

static void addr_maybe_drop(struct addr_entry **pp, uint64_t now)
{
    struct addr_entry *e = *pp;
    if (e->failures > 0 && now - e->failures_at > FAILURE_MEMORY_MS) {
        e->failures = 0;
    }
    if (e->conns == 0 && e->unauth == 0 && e->failures == 0) {
        *pp = e->next;
        free(e);
    }
}

/* Counts one more in the address's counter `which` (conns or unauth) unless it is at `limit`. */
static bool addr_take(const char *addr, size_t which, int limit)
{
    pthread_mutex_lock(&addr_lock);
    struct addr_entry *e = addr_get(addr);
    int *n = (int *)((char *)e + which);
    bool ok = limit <= 0 || *n < limit;
    if (ok) {
        (*n)++;
    }
    addr_maybe_drop(addr_find(addr), loop_clock_ms());
    pthread_mutex_unlock(&addr_lock);
    return ok;
}

static void addr_give(const char *addr, size_t which)
{
    pthread_mutex_lock(&addr_lock);
    struct addr_entry **pp = addr_find(addr);
    if (*pp) {
        int *n = (int *)((char *)*pp + which);
        if (*n > 0) {
            (*n)--;
        }
        addr_maybe_drop(pp, loop_clock_ms());
    }
    pthread_mutex_unlock(&addr_lock);
}

bool xmpp_addr_acquire(const char *addr, int limit)
{
    return addr_take(addr, offsetof(struct addr_entry, conns), limit);
}

void xmpp_addr_release(const char *addr)
{
    addr_give(addr, offsetof(struct addr_entry, conns));
}

bool xmpp_addr_acquire_unauth(const char *addr, int limit)
{
    return addr_take(addr, offsetof(struct addr_entry, unauth), limit);
}

void xmpp_addr_release_unauth(const char *addr)
{
    addr_give(addr, offsetof(struct addr_entry, unauth));
}

int xmpp_addr_auth_failed(const char *addr)
{
    pthread_mutex_lock(&addr_lock);
    struct addr_entry *e = addr_get(addr);
    uint64_t now = loop_clock_ms();
    if (now - e->failures_at > FAILURE_MEMORY_MS) {
        e->failures = 0;
    }
    e->failures++;
    e->failures_at = now;
    int n = e->failures;
    pthread_mutex_unlock(&addr_lock);
    return n;
}

void xmpp_addr_auth_succeeded(const char *addr)
{
    pthread_mutex_lock(&addr_lock);
    struct addr_entry **pp = addr_find(addr);
    if (*pp) {
        (*pp)->failures = 0;
        addr_maybe_drop(pp, loop_clock_ms());
    }
    pthread_mutex_unlock(&addr_lock);
}

void xmpp_addr_table_free(void)
{
    pthread_mutex_lock(&addr_lock);
    for (size_t i = 0; i < ADDR_BUCKETS; i++) {
        while (addr_table[i]) {
            struct addr_entry *e = addr_table[i];
            addr_table[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_unlock(&addr_lock);
}

/* Over a limit: the peer gets a stream error it can read, then the socket closes. */
static void refuse(int fd, bool tls, const char *condition, const char *text)
{
    atomic_fetch_add(&g_xmpp_stats.refused, 1);
    /* On a TLS socket nothing readable can be sent before a handshake, which an over-limit
     * connection does not get: it is closed at once. */
    if (!tls) {
        const char *from = worker_ctx()->cfg->server.main_domain;
        char msg[1024];
        int n = snprintf(msg, sizeof(msg),
                         "<?xml version='1.0'?><stream:stream xmlns='" NS_CLIENT "' "
                         "xmlns:stream='" NS_STREAM "' id='refused' "
                         "from='%s' version='1.0'>"
                         "<stream:error><%s xmlns='" NS_STREAMS "'/>"
                         "<text xmlns='" NS_STREAMS "'>%s</text>"
                         "</stream:error></stream:stream>",
                         from, condition, text);
        ssize_t w = send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    shutdown(fd, SHUT_RDWR);
    close(fd);
}

/* An accepted socket on its way to the worker that runs it; counted in the limits already. */
struct accepted {
    int fd;
    bool tls;
    bool http;
    unsigned port;
    char peer[64];
    char addr[48];
};

static atomic_uint accept_rr;

/* The HTTP side (src/web), set by main.c: makes the owner of a connection accepted on an
 * http.listener socket. Without it those sockets are not opened. */
static xmpp_http_start_fn *g_http_start;

void xmpp_set_http_start(xmpp_http_start_fn *fn)
{
    g_http_start = fn;
}

static void start_accepted(struct worker *w, void *arg)
{
    struct accepted *a = arg;
    struct xmpp_worker *xw = ((struct worker_ctx *)w->ctx)->xmpp;
    if (xw->stopping) {
        /* Shutting down: the connection never starts. */
        close(a->fd);
        atomic_fetch_sub(&g_server.connections, 1);
        xmpp_addr_release_unauth(a->addr);
        xmpp_addr_release(a->addr);
        free(a);
        return;
    }
    struct conn *c = conn_new(xw, a->fd, a->tls, a->peer, a->addr);
    c->counted = true;
    c->unauth_counted = true;
    c->http = a->http;
    if (a->http) {
        g_http_start(c);
    } else {
        c->st = xstream_new(c);
    }
    conn_stage_update(c);
    log_conn(&c->log, LOG_LOWLEVEL, "connection accepted on port %u%s", a->port,
             a->tls ? " (TLS)" : "");
    free(a);
}

static void on_accept(void *ud, uint32_t events)
{
    (void)events;
    struct listen_entry *le = ud;
    const struct settings *cfg = worker_ctx()->cfg;
    /* A few per wake-up, so that one worker does not sit in accept() through a whole burst. */
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(le->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                log_rec(LOG_TAG_XMPPI, LOG_FAILURES, 0, NULL, "accept failed: %s", strerror(errno));
            }
            return;
        }
        char peer[64], addr[48];
        conn_format_peer((const struct sockaddr *)&ss, peer, sizeof(peer), addr, sizeof(addr));
        int limit = cfg->xmpp.receiving.channels;
        int open_now = atomic_fetch_add(&g_server.connections, 1);
        if (open_now >= limit) {
            atomic_fetch_sub(&g_server.connections, 1);
            log_rec(LOG_TAG_XMPPI, LOG_MAJOR, 0, peer,
                    "connection refused: Channels limit (%d) reached", limit);
            refuse(fd, le->cfg.tls || le->http, "resource-constraint",
                   "too many connections, retry later");
            continue;
        }
        if (!xmpp_addr_acquire(addr, cfg->xmpp.receiving.per_address_limit)) {
            atomic_fetch_sub(&g_server.connections, 1);
            log_rec(LOG_TAG_XMPPI, LOG_MAJOR, 0, peer,
                    "connection refused: per-address limit (%d) reached",
                    cfg->xmpp.receiving.per_address_limit);
            refuse(fd, le->cfg.tls || le->http, "policy-violation",
                   "too many connections from your address");
            continue;
        }
        if (!xmpp_addr_acquire_unauth(addr, cfg->xmpp.receiving.unauth_per_address)) {
            atomic_fetch_sub(&g_server.connections, 1);
            xmpp_addr_release(addr);
            log_rec(LOG_TAG_XMPPI, LOG_MAJOR, 0, peer,
                    "connection refused: limit of unauthenticated connections per address (%d) "
                    "reached",
                    cfg->xmpp.receiving.unauth_per_address);
            refuse(fd, le->cfg.tls || le->http, "policy-violation",
                   "too many unauthenticated connections from your address");
            continue;
        }
        int peak = atomic_load(&g_server.connections_peak);
        while (open_now + 1 > peak &&
               !atomic_compare_exchange_weak(&g_server.connections_peak, &peak, open_now + 1)) {
        }
        atomic_fetch_add(&g_xmpp_stats.accepted, 1);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct accepted *a = xcalloc(1, sizeof(*a));
        a->fd = fd;
        a->tls = le->cfg.tls;
        a->http = le->http;
        a->port = le->cfg.port;
        snprintf(a->peer, sizeof(a->peer), "%s", peer);
        snprintf(a->addr, sizeof(a->addr), "%s", addr);
        /* Round robin over the workers, as SO_REUSEPORT's hash spread them: the TLS handshake
         * and SASL run where the connection starts, and EPOLLEXCLUSIVE alone would wake the
         * same idle worker for every accept. */
        int n = workers_count();
        int self = le->xw->worker->id;
        int target = n > 1 ? (int)(atomic_fetch_add(&accept_rr, 1) % (unsigned)n) : self;
        if (target == self) {
            /* Ours: started now, not through our own inbox (a wake-up and two calls). */
            start_accepted(le->xw->worker, a);
        } else {
            worker_post(target, start_accepted, a);
        }
    }
}

static int open_socket(const struct listen_socket *ls, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    int family = AF_INET6;
    if (ls->address[0] == '\0') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_any;
        in6->sin6_port = htons(ls->port);
        sl = sizeof(*in6);
    } else if (strchr(ls->address, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ls->address, &in6->sin6_addr);
        in6->sin6_port = htons(ls->port);
        sl = sizeof(*in6);
    } else {
        family = AF_INET;
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        inet_pton(AF_INET, ls->address, &in->sin_addr);
        in->sin_port = htons(ls->port);
        sl = sizeof(*in);
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return ERR_IO;
    }
    int one = 1, zero = 0;
    /* SO_REUSEADDR only: binding over TIME_WAIT after a restart. Never SO_REUSEPORT, which would
     * let a second server bind the same port and take half of the clients (docs/internals/
     * listener.md): the workers share this one socket instead. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6 && ls->address[0] == '\0') {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s%s%s%u: %s",
                 ls->address[0] && family == AF_INET6 ? "[" : "", ls->address,
                 ls->address[0] ? (family == AF_INET6 ? "]:" : ":") : "", ls->port,
                 strerror(errno));
        close(fd);
        return ERR_IO;
    }
    return fd;
}

static bool same_socket(const struct listen_socket *a, const struct listen_socket *b)
{
    return a->port == b->port && a->tls == b->tls && strcmp(a->address, b->address) == 0;
}

/* The process's listening sockets, each opened by the first worker that needs it and closed by
 * the last that lets it go (a settings change reaches the workers one after the other). */
struct shared_socket {
    struct shared_socket *next;
    struct listen_socket cfg;
    int fd;
    int refs;
};

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared_socket *shared_sockets;

/* The socket for `ls`, bound now if no worker has it yet; a negative code with `err` set. */
static int shared_acquire(const struct listen_socket *ls, char *err, size_t errlen)
{
    pthread_mutex_lock(&shared_lock);
    struct shared_socket *sh = shared_sockets;
    while (sh && !same_socket(&sh->cfg, ls)) {
        sh = sh->next;
    }
    int fd;
    if (sh != NULL) {
        sh->refs++;
        fd = sh->fd;
    } else {
        fd = open_socket(ls, err, errlen);
        if (fd >= 0) {
            sh = xcalloc(1, sizeof(*sh));
            sh->cfg = *ls;
            sh->fd = fd;
            sh->refs = 1;
            sh->next = shared_sockets;
            shared_sockets = sh;
        }
    }
    pthread_mutex_unlock(&shared_lock);
    return fd;
}

static void shared_release(int fd)
{
    pthread_mutex_lock(&shared_lock);
    for (struct shared_socket **pp = &shared_sockets; *pp; pp = &(*pp)->next) {
        struct shared_socket *sh = *pp;
        if (sh->fd == fd) {
            if (--sh->refs == 0) {
                *pp = sh->next;
                close(sh->fd);
                free(sh);
            }
            break;
        }
    }
    pthread_mutex_unlock(&shared_lock);
}

static void close_entry(struct xmpp_worker *xw, struct listen_entry *le)
{
    loop_io_del(xw->worker->loop, &le->io);
    shared_release(le->fd);
    free(le);
}

/* The sockets of one kind: the XMPP listener's, or the HTTP listener's (http.listener). */
static const struct listener_cfg *kind_sockets(const struct settings *cfg, bool http)
{
    static const struct listener_cfg none;
    if (http) {
        return g_http_start ? &cfg->http.listener : &none;
    }
    return &cfg->xmpp.listener;
}

static int apply_kind(struct xmpp_worker *xw, bool http, char *err, size_t errlen);

int xmpp_listeners_apply(struct xmpp_worker *xw, char *err, size_t errlen)
{
    int rc = apply_kind(xw, false, err, errlen);
    int rc2 = apply_kind(xw, true, err, rc ? 0 : errlen);
    return rc ? rc : rc2;
}

static int apply_kind(struct xmpp_worker *xw, bool http, char *err, size_t errlen)
{
    const struct settings *cfg = worker_ctx()->cfg;
    const struct listener_cfg *lc = kind_sockets(cfg, http);
    bool enabled = cfg->xmpp.receiving.channels > 0 && !xw->stopping;
    /* Close what is gone. */
    for (struct listen_entry **pp = &xw->listeners; *pp;) {
        bool keep = (*pp)->http != http;
        for (int i = 0; enabled && i < lc->count; i++) {
            keep = keep || same_socket(&(*pp)->cfg, &lc->sockets[i]);
        }
        if (keep) {
            pp = &(*pp)->next;
            continue;
        }
        struct listen_entry *le = *pp;
        *pp = le->next;
        if (xw->worker->id == 0) {
            log_rec(LOG_TAG_XMPPI, LOG_MAJOR, 0, NULL, "listener socket on port %u closed",
                    le->cfg.port);
        }
        close_entry(xw, le);
    }
    /* Open what is new. */
    int rc = 0;
    for (int i = 0; enabled && i < lc->count; i++) {
        bool have = false;
        for (struct listen_entry *le = xw->listeners; le; le = le->next) {
            have = have || (le->http == http && same_socket(&le->cfg, &lc->sockets[i]));
        }
        if (have) {
            continue;
        }
        int fd = shared_acquire(&lc->sockets[i], err, errlen);
        if (fd < 0) {
            rc = fd;
            continue;
        }
        struct listen_entry *le = xcalloc(1, sizeof(*le));
        le->cfg = lc->sockets[i];
        le->http = http;
        le->fd = fd;
        le->xw = xw;
        /* EPOLLEXCLUSIVE: a new connection wakes one waiting worker, not all of them; the
         * others find nothing to accept (EAGAIN) if they look anyway. */
        loop_io_add(xw->worker->loop, &le->io, fd, EPOLLIN | EPOLLEXCLUSIVE, on_accept, le);
        le->next = xw->listeners;
        xw->listeners = le;
        if (xw->worker->id == 0) {
            log_rec(LOG_TAG_XMPPI, LOG_MAJOR, 0, NULL, "listening on %s%s%u%s%s", le->cfg.address,
                    le->cfg.address[0] ? ":" : "port ", le->cfg.port, le->cfg.tls ? " (TLS)" : "",
                    http ? " (HTTP)" : "");
        }
    }
    return rc;
}

static int held_fds[2 * SETTINGS_MAX_SOCKETS];
static int held_count;

int xmpp_listeners_hold(const struct settings *cfg, char *err, size_t errlen)
{
    for (int k = 0; k < 2; k++) {
        const struct listener_cfg *lc = kind_sockets(cfg, k == 1);
        for (int i = 0; cfg->xmpp.receiving.channels > 0 && i < lc->count; i++) {
            int fd = shared_acquire(&lc->sockets[i], err, errlen);
            if (fd < 0) {
                xmpp_listeners_unhold();
                return fd;
            }
            held_fds[held_count++] = fd;
        }
    }
    return 0;
}

void xmpp_listeners_unhold(void)
{
    while (held_count > 0) {
        shared_release(held_fds[--held_count]);
    }
}

void xmpp_listeners_close(struct xmpp_worker *xw)
{
    while (xw->listeners) {
        struct listen_entry *le = xw->listeners;
        xw->listeners = le->next;
        close_entry(xw, le);
    }
}
