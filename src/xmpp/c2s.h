/* c2s.h: the client session of a bound resource: its router session, JID and keepalive state.
 *
 * Ownership: made by its stream when a resource is bound (c2s__bind_resource) and referred to by
 * the stream (st->sess), which frees it with itself. The session reaches its stream through `st`
 * only; nothing of it lives inside struct xstream, so that a session may later outlive its
 * connection (XEP-0198). */
#ifndef STARLING_XMPP_C2S_H
#define STARLING_XMPP_C2S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jid/jid.h"
#include "signal/router.h"

struct xstream;

struct c2s_session {
    struct xstream *st;       /* the stream it runs on */
    struct router_session rs; /* rs.ud is the session */
    struct jid jid;           /* the bound full JID */
    char *bare;               /* "local@domain" (rs.bare) */
    char *full;               /* "local@domain/resource" */
    char *resource;           /* rs.resource */
    bool registered;          /* in the router */
    bool ping_outstanding;    /* keepalive: a ping was sent, no bytes came since */
    uint64_t ping_sent_ms;    /* keepalive: when that ping was sent (loop_clock_ms) */
    unsigned ping_seq;
};

/* NULL-safe. The session must have left the router (c2s__closed). */
void c2s_session_free(struct c2s_session *s);

/* Several nodes (issue 19): asked when a client binds a resource; false when the account's
 * home node is another one, whose client address ("host:port") is then in `address`: the
 * stream ends with <see-other-host/> pointing there. Set at start-up; NULL: always here. */
typedef bool c2s_placement_fn(const struct jid *account, char *address, size_t size);
void c2s_set_placement(c2s_placement_fn *fn);

#endif
