/* s2s_dns.c: SRV (XEP-0368 _xmpps-server, RFC 6120 _xmpp-server) then A/AAAA lookups with
 * c-ares, driven by the worker's epoll loop. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <ares.h>
#include <arpa/nameser.h>

#include "core/buf.h"
#include "core/err.h"
#include "xmpp/s2s_int.h"

#define DNS_MAX_FDS 16
#define DNS_MAX_TARGETS 8
#define DEFAULT_PORT 5269

struct s2s_dns {
    struct loop *loop;
    ares_channel channel;
    struct loop_io io[DNS_MAX_FDS];
    bool used[DNS_MAX_FDS];
    struct loop_timer timer;
    struct s2s_dns_query *queries; /* every query not yet freed */
};

struct target {
    char host[S2S_DOMAIN_MAX];
    uint16_t port;
    bool tls;
    unsigned short priority;
    unsigned short weight;
    struct s2s_addr addrs[S2S_MAX_ADDRS];
    int naddrs;
};

struct s2s_dns_query {
    struct s2s_dns *d;
    struct s2s_dns_query *next;
    char domain[S2S_DOMAIN_MAX];
    s2s_dns_fn *fn;
    void *ud;
    int pending;   /* c-ares requests outstanding */
    bool srv_none; /* an SRV answer said "no service here" (target ".") */
    bool nxdomain;
    int srv_answers;
    struct target targets[DNS_MAX_TARGETS];
    int ntargets;
    char error[160];
    struct loop_defer defer;
};

static void rearm(struct s2s_dns *d);

static void on_fd(void *ud, uint32_t events)
{
    struct s2s_dns *d = ud;
    (void)events;
    /* Every registered fd is processed: c-ares reads what is ready and ignores the rest. */
    for (int i = 0; i < DNS_MAX_FDS; i++) {
        if (d->used[i]) {
            int fd = d->io[i].fd;
            ares_process_fd(d->channel, (d->io[i].events & EPOLLIN) ? fd : ARES_SOCKET_BAD,
                            (d->io[i].events & EPOLLOUT) ? fd : ARES_SOCKET_BAD);
        }
    }
    rearm(d);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct s2s_dns *d = data;
    int slot = -1;
    for (int i = 0; i < DNS_MAX_FDS; i++) {
        if (d->used[i] && d->io[i].fd == fd) {
            slot = i;
            break;
        }
    }
    uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
    if (slot >= 0 && ev == 0) {
        loop_io_del(d->loop, &d->io[slot]);
        d->used[slot] = false;
        return;
    }
    if (slot >= 0) {
        loop_io_mod(d->loop, &d->io[slot], ev);
        return;
    }
    if (ev == 0) {
        return;
    }
    for (int i = 0; i < DNS_MAX_FDS; i++) {
        if (!d->used[i]) {
            d->used[i] = true;
            loop_io_add(d->loop, &d->io[i], fd, ev, on_fd, d);
            return;
        }
    }
}

static void on_timer(void *ud)
{
    struct s2s_dns *d = ud;
    ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm(d);
}

static void rearm(struct s2s_dns *d)
{
    struct timeval max = { 1, 0 }, tv;
    struct timeval *t = ares_timeout(d->channel, &max, &tv);
    uint64_t ms = (uint64_t)t->tv_sec * 1000u + (uint64_t)t->tv_usec / 1000u;
    loop_timer_start(d->loop, &d->timer, ms ? ms : 1, on_timer, d);
}

struct s2s_dns *s2s__dns_new(struct loop *loop, const char *servers, char *err, size_t errlen)
{
    struct s2s_dns *d = xcalloc(1, sizeof(*d));
    d->loop = loop;
    loop_timer_init(&d->timer);
    struct ares_options o;
    memset(&o, 0, sizeof(o));
    o.sock_state_cb = sock_state;
    o.sock_state_cb_data = d;
    o.timeout = 2000;
    o.tries = 2;
    int rc = ares_init_options(&d->channel, &o,
                               ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc == ARES_SUCCESS && servers && servers[0]) {
        rc = ares_set_servers_ports_csv(d->channel, servers);
        if (rc != ARES_SUCCESS) {
            ares_destroy(d->channel);
        }
    }
    if (rc != ARES_SUCCESS) {
        s2s__fmt(err, errlen, "DNS resolver: %s", ares_strerror(rc));
        free(d);
        return NULL;
    }
    return d;
}

static void query_free(struct s2s_dns_query *q)
{
    struct s2s_dns_query **pp = &q->d->queries;
    while (*pp && *pp != q) {
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = q->next;
    }
    free(q);
}

void s2s__dns_free(struct s2s_dns *d)
{
    if (d == NULL) {
        return;
    }
    for (struct s2s_dns_query *q = d->queries; q; q = q->next) {
        q->fn = NULL;
    }
    /* Outstanding requests end with ARES_EDESTRUCTION; their deferred deliveries run here. */
    ares_destroy(d->channel);
    for (int i = 0; i < DNS_MAX_FDS; i++) {
        if (d->used[i]) {
            loop_io_del(d->loop, &d->io[i]);
        }
    }
    loop_timer_stop(d->loop, &d->timer);
    while (d->queries) {
        struct s2s_dns_query *q = d->queries;
        loop_defer_cancel(d->loop, &q->defer);
        query_free(q);
    }
    free(d);
}

static void deliver(void *ud)
{
    struct s2s_dns_query *q = ud;
    struct s2s_addr all[S2S_MAX_ADDRS];
    int n = 0;
    for (int i = 0; i < q->ntargets; i++) {
        for (int j = 0; j < q->targets[i].naddrs && n < S2S_MAX_ADDRS; j++) {
            all[n++] = q->targets[i].addrs[j];
        }
    }
    bool not_found = q->srv_none || (q->nxdomain && n == 0);
    if (n == 0 && q->error[0] == '\0') {
        s2s__fmt(q->error, sizeof(q->error), "%s: %s", q->domain,
                 q->srv_none ? "the domain offers no XMPP service"
                             : "no address for the domain's servers");
    }
    char error[sizeof(q->error)];
    memcpy(error, q->error, sizeof(error));
    s2s_dns_fn *fn = q->fn;
    void *fud = q->ud;
    query_free(q);
    if (fn) {
        fn(fud, all, n, n > 0 ? NULL : error, not_found);
    }
}

static void finish_one(struct s2s_dns_query *q)
{
    if (--q->pending == 0) {
        loop_defer(q->d->loop, &q->defer, deliver, q);
    }
}

struct addr_req {
    struct s2s_dns_query *q;
    int target;
};

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    struct addr_req *r = arg;
    struct s2s_dns_query *q = r->q;
    struct target *t = &q->targets[r->target];
    free(r);
    if (status == ARES_SUCCESS && res) {
        for (struct ares_addrinfo_node *n = res->nodes; n && t->naddrs < S2S_MAX_ADDRS;
             n = n->ai_next) {
            struct s2s_addr *a = &t->addrs[t->naddrs];
            if (n->ai_addrlen > sizeof(a->sa)) {
                continue;
            }
            memset(a, 0, sizeof(*a));
            memcpy(&a->sa, n->ai_addr, n->ai_addrlen);
            a->salen = (socklen_t)n->ai_addrlen;
            a->tls = t->tls;
            a->port = t->port;
            if (a->sa.ss_family == AF_INET) {
                ((struct sockaddr_in *)&a->sa)->sin_port = htons(t->port);
            } else if (a->sa.ss_family == AF_INET6) {
                ((struct sockaddr_in6 *)&a->sa)->sin6_port = htons(t->port);
            } else {
                continue;
            }
            s2s__fmt(a->host, sizeof(a->host), "%s", t->host);
            t->naddrs++;
        }
    } else if (status == ARES_ENOTFOUND && q->ntargets == 1) {
        q->nxdomain = true;
    } else if (q->error[0] == '\0' && status != ARES_SUCCESS) {
        s2s__fmt(q->error, sizeof(q->error), "%s: %s", t->host, ares_strerror(status));
    }
    if (res) {
        ares_freeaddrinfo(res);
    }
    finish_one(q);
}

static void lookup_addresses(struct s2s_dns_query *q)
{
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    q->pending = q->ntargets;
    for (int i = 0; i < q->ntargets; i++) {
        struct addr_req *r = xcalloc(1, sizeof(*r));
        r->q = q;
        r->target = i;
        ares_getaddrinfo(q->d->channel, q->targets[i].host, NULL, &hints, on_addrinfo, r);
    }
    rearm(q->d);
}

static int cmp_target(const void *a, const void *b)
{
    const struct target *x = a, *y = b;
    if (x->priority != y->priority) {
        return x->priority < y->priority ? -1 : 1;
    }
    if (x->tls != y->tls) {
        return x->tls ? -1 : 1; /* XEP-0368: direct TLS first at equal priority */
    }
    return (int)y->weight - (int)x->weight;
}

struct srv_req {
    struct s2s_dns_query *q;
    bool tls;
};

static void srv_done(struct s2s_dns_query *q)
{
    if (q->srv_none && q->srv_answers == 0) {
        loop_defer(q->d->loop, &q->defer, deliver, q);
        return;
    }
    if (q->ntargets == 0) {
        /* No SRV record: the domain itself on the default port (RFC 6120 §3.2.2). */
        s2s__fmt(q->targets[0].host, sizeof(q->targets[0].host), "%s", q->domain);
        q->targets[0].port = DEFAULT_PORT;
        q->ntargets = 1;
    } else {
        qsort(q->targets, (size_t)q->ntargets, sizeof(q->targets[0]), cmp_target);
    }
    q->nxdomain = false;
    lookup_addresses(q);
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct srv_req *r = arg;
    struct s2s_dns_query *q = r->q;
    bool tls = r->tls;
    free(r);
    if (status == ARES_SUCCESS) {
        struct ares_srv_reply *srv = NULL;
        if (ares_parse_srv_reply(abuf, alen, &srv) == ARES_SUCCESS) {
            for (struct ares_srv_reply *s = srv; s; s = s->next) {
                if (strcmp(s->host, ".") == 0 || s->host[0] == '\0') {
                    q->srv_none = true;
                    continue;
                }
                q->srv_answers++;
                if (q->ntargets < DNS_MAX_TARGETS) {
                    struct target *t = &q->targets[q->ntargets++];
                    s2s__fmt(t->host, sizeof(t->host), "%s", s->host);
                    t->port = s->port;
                    t->tls = tls;
                    t->priority = s->priority;
                    t->weight = s->weight;
                }
            }
            ares_free_data(srv);
        }
    } else if (status == ARES_EDESTRUCTION) {
        s2s__fmt(q->error, sizeof(q->error), "resolver stopped");
    }
    if (--q->pending == 0) {
        if (q->error[0]) {
            loop_defer(q->d->loop, &q->defer, deliver, q);
        } else {
            srv_done(q);
        }
    }
}

struct s2s_dns_query *s2s__dns_resolve(struct s2s_dns *d, const char *domain,
                                       const struct s2s_route *route, s2s_dns_fn *fn, void *ud)
{
    struct s2s_dns_query *q = xcalloc(1, sizeof(*q));
    q->d = d;
    q->fn = fn;
    q->ud = ud;
    s2s__fmt(q->domain, sizeof(q->domain), "%s", domain);
    q->next = d->queries;
    d->queries = q;
    if (route) {
        s2s__fmt(q->targets[0].host, sizeof(q->targets[0].host), "%s", route->host);
        q->targets[0].port = route->port;
        q->targets[0].tls = route->tls;
        q->ntargets = 1;
        lookup_addresses(q);
        return q;
    }
    static const char *const services[2] = { "_xmpps-server._tcp.", "_xmpp-server._tcp." };
    q->pending = 2;
    for (int i = 0; i < 2; i++) {
        char name[S2S_DOMAIN_MAX + 32];
        s2s__fmt(name, sizeof(name), "%s%s", services[i], domain);
        struct srv_req *r = xcalloc(1, sizeof(*r));
        r->q = q;
        r->tls = i == 0;
        ares_query(d->channel, name, ns_c_in, ns_t_srv, on_srv, r);
    }
    rearm(d);
    return q;
}

void s2s__dns_cancel(struct s2s_dns_query *q)
{
    if (q) {
        q->fn = NULL;
    }
}
