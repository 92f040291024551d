/* router.h: delivers signals to account sessions, server services, named tasks or remote domains. */
#ifndef STARLING_SIGNAL_ROUTER_H
#define STARLING_SIGNAL_ROUTER_H

#include <stdbool.h>

#include "core/buf.h"
#include "signal/signal.h"

/* Takes ownership of the signal. Called on the delivering module's callback: the signal is
 * the router's to give away, so the callee frees it (signal_free) when done. */
typedef void router_deliver_fn(void *ud, struct signal *sig);
/* Lends a signal for the duration of the call (a room's fan-out): the router keeps it, and the
 * callee copies it (signal_dup) when it must keep it past the call. */
typedef void router_lend_fn(void *ud, const struct signal *sig);
struct router_session;
/* Ends a session from outside (its account was removed or disabled): the protocol module closes
 * it (a stream error `condition` of RFC 6120 §4.9.3), and removes it from the router as usual,
 * then or later. */
/* `text` is the stream error's text, NULL for the session's own default. */
typedef void router_end_fn(struct router_session *s, const char *condition, const char *text);

struct im_session;

/* A client session as the router knows it: registered on the account's home worker by the
 * protocol module that owns it (caller-owned storage, valid until router_session_remove). */
struct router_session {
    const char *bare; /* "local@domain", owned by the registering module */
    const char *resource;
    int priority;
    bool available; /* sent initial presence */
    router_deliver_fn *deliver;
    router_end_fn *end;
    void *ud;
    router_lend_fn *lend;        /* optional: without it a lent signal is copied for `deliver` */
    struct im_session *im;       /* the IM core's state (im/im.h), NULL until used */
    struct router_session *next; /* internal: the account's other sessions */
};

struct router_worker;
struct router_worker *router_worker_new(void);
void router_worker_free(struct router_worker *rw);

/* Registers a session on the current worker, which must be the account's home worker. When a
 * session with the same resource exists it is unregistered and returned in *replaced, and the
 * caller ends it (stream error <conflict/>). */
void router_session_add(struct router_session *s, struct router_session **replaced);
void router_session_remove(struct router_session *s);
/* Number of sessions registered on all workers of this process (any thread). */
long router_sessions_total(void);
/* Number of sessions of an account on this worker. */
int router_session_count(const char *bare);
/* The sessions of an account (bare JID) on this worker, its home worker; NULL when none. The
 * list is walked through ->next and is valid until the next session is added or removed. */
struct router_session *router_sessions(const char *bare);
/* The same for an account's address (its resource ignored), found from its parts without
 * printing its bare JID; NULL also for an address without a localpart. */
struct router_session *router_sessions_of(const struct jid *account);
/* Calls fn for every session registered on the calling worker (e.g. to list online users
 * across workers: post to each one). fn must not add or remove sessions. */
typedef void router_session_fn(void *ud, const struct router_session *s);
void router_sessions_foreach(router_session_fn *fn, void *ud);

/* Ends every session of an account (bare JID) through its `end` operation. On the account's
 * home worker. `text` as for router_end_fn. */
void router_account_end(const char *bare, const char *condition, const char *text);

/* Routes a signal from any worker thread; takes ownership. Delivery failures come back to the
 * sender as an error signal (never for an error stanza). Returns what is known at once, from
 * the error table of core/err.h: 0 when delivered or handed on (to another worker, a component,
 * the remote hook); ERR_NOTFOUND when nobody takes it (no such resource, no remote route, no
 * available resource and not stored); ERR_INVAL without a destination domain; an IM or service
 * handler's own code (e.g. the store's when an offline message is not stored). */
int router_submit(struct signal *sig);

/* Frees the calling thread's scratch buffer (at thread end). */
void router_thread_cleanup(void);

/* Builds and routes the error answer to `req` (from/to swapped, original payload kept). */
void router_reply_error(const struct signal *req, const char *type, const char *condition);

/* A component owns the addresses of domains that are not account domains (e.g. a chat service
 * on conference.example.com). It is asked in registration order after the local domains. */
struct router_component {
    const char *name;
    /* Does the component serve this (prepared) domain? Called on any worker. */
    bool (*owns)(const char *domain);
    /* Takes ownership of the signal; runs on the calling worker (post to a home worker
     * inside when the component's entities live elsewhere). */
    int (*deliver)(struct signal *sig);
};
/* At start-up, before the workers run. At most ROUTER_MAX_COMPONENTS. */
#define ROUTER_MAX_COMPONENTS 16
void router_register_component(const struct router_component *c);
/* Signals for domains that are neither local nor a component's go here (server-to-server);
 * without it they bounce with remote-server-not-found. Set at start-up. */
typedef int router_remote_fn(struct signal *sig);
void router_set_remote(router_remote_fn *fn);

/* The modules above the router, reached through hooks set at start-up before the workers run
 * (the router includes nothing above it). Without them: iq to the server or to an account's
 * bare JID is answered <service-unavailable/>, presence to accounts is dropped, a message no
 * resource takes is refused, and nothing is blocked or copied. */

/* The server's own services (services/services.c): an INFO for the server's domain
 * (`account` false) or for an account's bare JID, answered on the account's behalf. Takes
 * ownership. */
typedef int router_services_fn(struct signal *sig, bool account);
void router_set_services(router_services_fn *fn);

/* The IM core (im/im.h), called on the recipient's home worker. */
struct router_im {
    /* Drops or refuses a stanza from a JID the recipient blocked; true when it did (it then
     * owns the signal). */
    bool (*inbound_blocked)(struct signal *sig);
    /* Presence (SUBSCRIBE or NOTIFY) for an account; `sessions` its session list (NULL when
     * none), `exists` whether the account exists. Takes ownership. */
    void (*inbound_presence)(struct router_session *sessions, struct signal *sig, bool exists);
    /* A message no resource can take (offline storage or refusal); takes ownership. */
    int (*offline_message)(struct signal *sig);
    /* Copies of `sig` for the account's other sessions, about to be delivered to `to`. */
    void (*carbons_received)(struct router_session *sessions, const struct signal *sig,
                             struct router_session *const *to, size_t nto);
    /* A message for an existing account, before its delivery (the archive, XEP-0313); may
     * replace the signal's P-XMPP-Data. NULL: none. */
    void (*inbound_message)(struct signal *sig);
    /* Would inbound_blocked take `sig`? The same answer, without its side effects (for a
     * fan-out, which asks before it makes a copy). NULL: the fan-out copies every signal and
     * asks inbound_blocked. */
    bool (*inbound_blocks)(const struct signal *sig);
};
/* `im` is kept (static storage). */
void router_set_im(const struct router_im *im);

/* Several nodes (issue 19, docs/internals/cluster.md): for a signal to an account (or to an
 * address of a component, a room), asked before the home worker: returns true when the
 * address's home node is another node and the hook took the signal (it sent it there), false
 * to deliver here. Set at start-up; without it everything is delivered here. */
typedef bool router_cluster_fn(struct signal *sig);
void router_set_cluster(router_cluster_fn *fn);
/* A signal another node sent here because this node is the home of its address: delivered
 * here whatever this node's own view of the membership says (no ping-pong while the nodes'
 * views differ). Any thread; takes ownership. */
void router_submit_here(struct signal *sig);
/* The same on the calling worker (the cluster's receive path posts a batch of stanzas to each
 * home worker and submits them there): router_submit with the first decision "here". */
void router_submit_here_now(struct signal *sig);

/* ---- fan-out: one stanza to many addresses (a room's message to its occupants) ----
 * Each recipient is handled as router_submit would handle a copy of the stanza addressed to
 * it (the same checks, hooks and error answers), but the recipients that are accounts of this
 * node are grouped by home worker: one post per worker instead of one per recipient, and on
 * that worker a message of type groupchat for a session that is there is lent to it (no copy
 * of the signal, docs/internals/router.md). */

/* Where an address's sessions live, worked out once and kept by the caller beside the address
 * (a room keeps one per occupant). Zero-initialised: not known yet. Only router_fanout_add
 * reads and writes it; it is worked out again when the local domains change. */
struct router_route {
    unsigned gen; /* the generation it was worked out in; 0: never */
    int worker;   /* the home worker of an account of this node; -1: through router_submit */
    size_t hash;  /* jid_bare_hash of the address */
};

struct router_fanout;
/* A fan-out of `tmpl`: its method, from, type, id, body and P-XMPP-Data (its `to` is not
 * used). `tmpl` is borrowed; the fan-out takes its own reference on the P-XMPP-Data. On a
 * worker thread. */
struct router_fanout *router_fanout_new(const struct signal *tmpl);
/* Adds a recipient (borrowed; copied). `route` is the caller's cache for `to`, or NULL. A
 * recipient that is not an account's full JID on this node (another domain, another cluster
 * node, an alias) is routed at once with router_submit. */
void router_fanout_add(struct router_fanout *f, const struct jid *to, struct router_route *route);
/* Delivers to the recipients added: one post per other worker, then this worker's at once.
 * Frees `f`. */
void router_fanout_submit(struct router_fanout *f);

/* A cluster's part in a fan-out (set by the cluster at start, with router_set_cluster): the
 * recipients whose home is another node are grouped per node and handed over once per fan-out,
 * one stanza with the list of that node's recipients, instead of one stanza per recipient.
 * `node`: false when `to`'s home is this node, else true with the node's id in `id`. `group`:
 * at router_fanout_submit, on the worker, for each other node: `tmpl` (borrowed, its `to`
 * empty) and the `n` recipients, each as three NUL-terminated parts local, domain, resource,
 * packed in `parts`. */
struct router_cluster_fanout {
    bool (*node)(const struct jid *to, char *id, size_t size);
    void (*group)(const char *id, const struct signal *tmpl, struct strv parts, size_t n);
};
void router_set_cluster_fanout(const struct router_cluster_fanout *h);
/* A fan-out that another node grouped for this one (see above): every recipient is delivered
 * here, as router_submit_here would. Call before the first router_fanout_add. */
void router_fanout_here(struct router_fanout *f);

/* Is `domain` a local domain or alias? On success writes the canonical domain to `out`. Uses a
 * per-worker cache refreshed when g_server.domains_gen changes. */
bool router_is_local_domain(const char *domain, struct buf *out);
/* Is `domain` served by this server at all: a local domain, an alias, or a component's service
 * domain (the chat service, …)? Such a domain is local for server-to-server: remote servers may
 * open streams to it and its stanzas leave through their own queues. On a worker thread. */
bool router_is_hosted_domain(const char *domain);

#endif
