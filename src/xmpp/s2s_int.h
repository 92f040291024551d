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
    bool tls;       /* _xmpps-server (XEP-0368) or a /tls route: TLS from the first byte */
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

/* s2s_out.c: asks the queue (target, source) to verify a dialback key with the authoritative
 * server `target` (XEP-0220 §2.3); the answer goes to s2s__in_verified on `reply_worker`.
 * From any worker. */
void s2s__out_verify(const char *target, const char *source, const char *stream_id,
                     const char *key, int reply_worker, unsigned long reply_conn);
/* s2s_in.c: the answer, posted to `worker` for its incoming connection `conn_id`; `error`
 * (NULL when valid) says why it is not valid. From any worker. */
void s2s__in_verified_post(int worker, unsigned long conn_id, const char *remote,
                           const char *local, bool valid, const char *error);

#endif
