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

#include <jansson.h>

#include "jid/jid.h"
#include "signal/router.h"

struct xstream;
struct c2s_sm;
struct csi_held;

struct c2s_session {
    struct xstream *st;       /* the stream it runs on */
    struct router_session rs; /* rs.ud is the session */
    struct jid jid;           /* the bound full JID */
    char *bare;               /* "local@domain" (rs.bare) */
    char *full;               /* "local@domain/resource" */
    char *resource;           /* rs.resource */
    bool registered;          /* in the router */
    bool ended;               /* its end is under way (c2s__session_end) */
    bool ping_outstanding;    /* keepalive: a ping was sent, no bytes came since */
    uint64_t ping_sent_ms;    /* keepalive: when that ping was sent (loop_clock_ms) */
    unsigned ping_seq;
    struct c2s_sm *sm;     /* XEP-0198 state once enabled (sm.c), else NULL */
    bool inactive;         /* XEP-0352: the client said <inactive/> */
    struct csi_held *held; /* XEP-0352: what waits for <active/> (csi.c) */
    unsigned push_count;   /* XEP-0357: messages notified since the connection was lost */
};

/* NULL-safe. The session must have left the router (c2s__closed). */
void c2s_session_free(struct c2s_session *s);

/* XEP-0198 sessions waiting for a resumption on the calling worker (sm.c): ended (unacked
 * messages to offline storage) at shutdown; listed for monitoring. */
void c2s_detached_end_all(bool stopping);
void c2s_detached_json(int worker, json_t *array);
/* Several nodes (issue 19): asked when a client binds a resource; false when the account's
 * home node is another one, whose client address ("host:port") is then in `address`: the
 * stream ends with <see-other-host/> pointing there. Set at start-up; NULL: always here. */
typedef bool c2s_placement_fn(const struct jid *account, char *address, size_t size);
void c2s_set_placement(c2s_placement_fn *fn);
/* Frees this worker thread's stanza buffer (at worker stop). */
void c2s_thread_cleanup(void);

#endif
