/* s2s_int.h: declarations shared by the files of the s2s part of the XMPP module. */
#ifndef STARLING_XMPP_S2S_INT_H
#define STARLING_XMPP_S2S_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/settings.h"
#include "xml/ns.h"
#include "xmpp/s2s.h"

struct signal;

#define S2S_DOMAIN_MAX 256
#define S2S_KEY_LEN 64 /* hex HMAC-SHA256 */

/* dialback.c: XEP-0185 keys from the secret in DATADIR/dialback.secret. */
int s2s__dialback_init(const char *datadir, char *err, size_t errlen);
/* out: S2S_KEY_LEN hex digits and a NUL. */
void s2s__dialback_key(const char *receiving, const char *originating, const char *stream_id,
                       char out[S2S_KEY_LEN + 1]);
bool s2s__dialback_check(const char *receiving, const char *originating, const char *stream_id,
                         const char *key);
/* snprintf that truncates silently (names are bounded, reasons may be cut). */
void s2s__fmt(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A domain name as it may appear in an s2s stream header or a dialback element. */
bool s2s__valid_domain(const char *d);

/* s2s_dns.c: asynchronous resolution with c-ares inside a worker's loop. */
struct s2s_addr {
    struct sockaddr_storage sa;
    socklen_t salen;
    bool tls; /* _xmpps-server (XEP-0368) or a /tls route: TLS from the first byte */
    uint16_t port;
    char host[S2S_DOMAIN_MAX];
};
#define S2S_MAX_ADDRS 16
/* Called from a deferred call, never inside s2s__dns_resolve. `error` is NULL on success (n > 0),
 * else a one-line reason; `not_found` tells that the domain has no server at all (NXDOMAIN, SRV
 * "."), as opposed to a resolver failure. */
typedef void s2s_dns_fn(void *ud, const struct s2s_addr *addrs, int n, const char *error,
                        bool not_found);
struct s2s_dns;
struct s2s_dns_query;
struct s2s_dns *s2s__dns_new(struct loop *loop, const char *servers, char *err, size_t errlen);
void s2s__dns_free(struct s2s_dns *d);
/* With `route` (may be NULL) the SRV step is skipped. */
struct s2s_dns_query *s2s__dns_resolve(struct s2s_dns *d, const char *domain,
                                       const struct s2s_route *route, s2s_dns_fn *fn, void *ud);
/* The callback will not be called. */
void s2s__dns_cancel(struct s2s_dns_query *q);

/* ---- outgoing: s2s_queue.c (queues, back-off, bounces) and s2s_out.c (the connection) ---- */

/* A queue's state. */
enum s2s_qstate { Q_IDLE, Q_CONNECTING, Q_CONNECTED, Q_RETRY };

/* One stanza waiting, serialized once; the signal is kept for a bounce. */
struct s2s_item {
    struct s2s_item *next;
    struct signal *sig;
    char *xml;
    size_t len;
    uint64_t since_ms;
    uint64_t journal; /* its number in the s2s_journal, 0 when none */
};

/* A db:verify asked by an incoming stream (authoritative server reached through our queue). */
struct s2s_verify {
    struct s2s_verify *next;
    char id[128];
    char key[S2S_KEY_LEN + 1];
    int worker;
    unsigned long conn;
    bool sent; /* on the current connection */
    uint64_t since_ms;
};

struct s2s_out;

/* One queue per (target domain, source domain), on its home worker; it owns at most one
 * connection (`out`). */
struct s2s_queue {
    struct s2s_queue *prev, *next;
    struct s2s_worker *sw;
    char target[S2S_DOMAIN_MAX];
    char source[S2S_DOMAIN_MAX];
    enum s2s_qstate state;
    struct s2s_item *head, *tail;
    int count;
    long bytes;
    struct s2s_verify *verifies;
    int nverifies;
    struct s2s_out *out;
    struct loop_timer timer; /* retry, or forgetting an idle queue */
    uint64_t backoff_ms;
    const char *cond; /* the stanza error of the last failure, for bounces */
    char error[160];
};

/* The outgoing s2s state of one worker. */
struct s2s_worker {
    struct xmpp_worker *xw;
    struct loop *loop;
    struct s2s_dns *dns;
    struct s2s_queue *queues;
    struct s2s_out *outs; /* its connections (s2s_out.c) */
    bool stopping;        /* closes no longer reconnect or bounce */
};

/* s2s_queue.c, called by the connection: */
const struct settings *s2s__cfg(void);
/* The connection of `q` ended: `cond` NULL for a normal close (idle, or by the peer with nothing
 * lost), else the failure's stanza error condition; `not_found` bounces everything at once. */
void s2s__queue_closed(struct s2s_queue *q, const char *cond, bool not_found);
/* The connection of `q` authenticated: the back-off resets and what waits is sent. */
void s2s__queue_ready(struct s2s_queue *q);
/* s2s_policy.c's helpers: the header's 'from' of an incoming stream is refused; every queue to
 * a refused target is dropped (bounced with not-allowed, its connection closed). */
bool s2s__in_remote_refused(const struct settings *cfg, struct xstream *st);
void s2s__queues_refuse(struct s2s_worker *sw, const struct settings *cfg);
void s2s__out_close_refused(struct s2s_out *o);
/* s2s_out.c: the worker's outgoing connection `id`, closed at the administrator's request. */
bool s2s__out_close_id(struct s2s_worker *sw, unsigned long id);

/* s2s_out.c, called by the queues: */
/* Opens the connection of `q` (resolve, connect, TLS, authenticate); sets q->out. */
void s2s__out_open(struct s2s_queue *q);
/* True when stanzas may be sent on `o` (NULL-safe). */
bool s2s__out_ready(const struct s2s_out *o);
/* Sends one serialized stanza on a ready connection. */
void s2s__out_send(struct s2s_out *o, const char *xml, size_t len);
/* A burst was sent: the idle timeout starts again. */
void s2s__out_sent(struct s2s_out *o);
/* Sends the queue's dialback verifications not sent yet, once the stream allows it. */
void s2s__out_send_verifies(struct s2s_out *o);
/* Ends every connection of the worker (server shutdown). */
void s2s__out_shutdown(struct s2s_worker *sw);
/* The connection's id for monitoring (its log records carry it). */
unsigned long s2s__out_id(const struct s2s_out *o);

/* s2s_queue.c: asks the queue (target, source) to verify a dialback key with the authoritative
 * server `target` (XEP-0220 §2.3); the answer goes to s2s__in_verified on `reply_worker`.
 * From any worker. */
void s2s__out_verify(const char *target, const char *source, const char *stream_id, const char *key,
                     int reply_worker, unsigned long reply_conn);
/* s2s_in.c: the answer, posted to `worker` for its incoming connection `conn_id`; `error`
 * (NULL when valid) says why it is not valid. From any worker. */
void s2s__in_verified_post(int worker, unsigned long conn_id, const char *remote, const char *local,
                           bool valid, const char *error);

#endif
