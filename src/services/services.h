/* services.h: protocol extensions answered by the server itself, one file each, in one table. */
#ifndef STARLING_SERVICES_SERVICES_H
#define STARLING_SERVICES_SERVICES_H

#include <stdbool.h>

#include "signal/signal.h"

/* Who the iq is addressed to: the server (its domain) or an account's bare JID, which the
 * server answers on the account's behalf. */
enum service_scope {
    SERVICE_SCOPE_SERVER = 1,
    SERVICE_SCOPE_ACCOUNT = 2,
};

struct service_ctx {
    const struct signal *req;     /* the INFO signal being answered */
    const struct xml_node *query; /* its payload element */
    enum service_scope scope;
};

/* A handler answers with exactly one of service_reply_* and returns its result (0, or a code
 * of core/err.h naming the error it answered). */
typedef int service_iq_fn(struct service_ctx *ctx);

struct service_iq {
    const char *ns;
    const char *name;
    service_iq_fn *get;
    service_iq_fn *set;
    unsigned scopes; /* mask of enum service_scope */
};

/* Returned by a disco node handler for a node that is not its own: nothing was sent. Positive,
 * so apart from the handlers' other results: 0 or a code of core/err.h. */
#define SERVICE_DECLINED 1

/* One disco#items entry: an address with an optional node and name. */
typedef void service_item_fn(void *ud, const char *jid, const char *node, const char *name);

struct service {
    const char *name;
    const struct service_iq *iq; /* terminated by an entry with ns NULL */
    const char *const *features; /* disco#info features, NULL-terminated */
    /* Optional XEP-0030 parts beyond features. `items`: what the server's disco#items lists
     * without a node (e.g. a conference domain), for the requester of `ctx`. `node_info` and
     * `node_items`: disco#info/#items with a node (xml_node_attr(ctx->query, "node")); each
     * answers and returns its code, or returns SERVICE_DECLINED for a node not its own.
     * `info_forms`: XEP-0128 data forms appended to the server's disco#info. */
    void (*items)(const struct service_ctx *ctx, service_item_fn *fn, void *ud);
    service_iq_fn *node_info;
    service_iq_fn *node_items;
    void (*info_forms)(struct xml_node *query);
    /* Optional: identities beyond the server's or account's own, added to disco#info. */
    void (*identities)(struct xml_node *query, enum service_scope scope);
    /* Where the features are listed; 0: the scopes of the iq handlers. A server lists e.g.
     * vcard-temp, which it answers for its accounts (XEP-0054 §5). */
    unsigned feature_scopes;
};

/* Handles a signal addressed to the server or to an account's bare JID; takes ownership. */
int services_handle(struct signal *sig, enum service_scope scope);
/* Registers services_handle as the router's services hook (router_set_services), at start-up. */
void services_init(void);
/* The chat service of a domain (its address in `out`; false when the domain has none), listed in
 * the server's disco#items. Registered at start by main.c: the chat rooms are the services'
 * sibling, so neither includes the other. */
typedef bool services_chat_service_fn(const char *domain, struct buf *out);
void services_set_chat_service(services_chat_service_fn *fn);
/* The same for the domain's HTTP upload service (XEP-0363, src/web), set by main.c. */
void services_set_upload_service(services_chat_service_fn *fn);
/* XEP-0133 announce, one recipient: a headline from `from` (a domain) with `subject` (NULL or
 * "": none) and `body` to every available resource of the bare JID `bare`, never stored
 * offline. Any thread (router_submit). The ad-hoc command and the admin API's announce use it. */
void services_announce_one(const char *from, const char *bare, const char *subject,
                           const char *body);

/* Answers with a result carrying `payload` (may be NULL; the reply takes the reference). */
int service_reply_result(struct service_ctx *ctx, struct xml_node *payload);
int service_reply_error(struct service_ctx *ctx, const char *type, const char *condition);
/* Answers a request whose store write failed with `rc`: a Failures-level System Log record
 * ("`what` of <account> not stored: <the store's reason>") and the error of
 * signal_store_condition() (resource-constraint when the store is full). */
int service_reply_store_error(struct service_ctx *ctx, int rc, const char *what);

/* A service of an upper layer (personal eventing) joins the table: at start-up, before the
 * workers run. */
void services_add(const struct service *s);
/* Called with each iq result or error addressed to an account's bare JID (the answers to
 * requests made on the account's behalf); the signal stays the caller's. */
typedef void services_result_fn(const struct signal *sig);
void services_set_result_hook(services_result_fn *fn);
/* Called after private XML (XEP-0049) of an account was stored, with each stored element
 * (XEP-0411 bookmarks conversion); on the account's home worker. */
typedef void services_private_fn(const struct jid *account, const struct xml_node *el);
void services_set_private_hook(services_private_fn *fn);

/* Calls fn for each feature the server implements, for disco#info. */
typedef void service_feature_fn(void *ud, const char *feature);
void services_foreach_feature(enum service_scope scope, service_feature_fn *fn, void *ud);

/* Calls fn for each service of the table, in order. */
typedef void service_each_fn(void *ud, const struct service *s);
void services_foreach(service_each_fn *fn, void *ud);

/* The disco#info <query/> of the server (identity, features, XEP-0128 forms from the current
 * settings) or of an account; the caller holds the reference. */
struct xml_node *services_disco_info_new(enum service_scope scope);

/* XEP-0115: the node of the server's capabilities, the verification string (§5.1: SHA-1,
 * base64) of a disco#info <query/>, and the <c/> element for the stream features appended to
 * `out` (computed from the current disco#info). services_caps_ver fails with ERR_LIMIT past
 * out's maximum. */
#define SERVICES_CAPS_NODE "https://starling.example/"
int services_caps_ver(const struct xml_node *info, struct buf *out);
void services_caps_append(struct buf *out);

/* XEP-0153, for the presence path (on a worker): the hex SHA-1 of the account's vCard photo
 * (ERR_NOTFOUND when it has none), and <x xmlns='vcard-temp:x:update'><photo>HASH</photo></x>
 * (an empty <photo/> when none) to add to an available presence that carries no such element;
 * NULL on a store failure. */
int services_vcard_photo_hash(const char *local, const char *domain, struct buf *out);
struct xml_node *services_vcard_update_new(const char *local, const char *domain);
/* Empties the account's cached photo hash (services_vcard_update_new reads the store once again):
 * after its vCard changed, or the account was removed. Any thread. */
void services_vcard_forget(const char *local, const char *domain);

/* XEP-0398: called after an account stored its vCard (iq set), with the vCard; on the account's
 * home worker. */
typedef void services_vcard_fn(const struct jid *account, const struct xml_node *vcard);
void services_set_vcard_hook(services_vcard_fn *fn);
/* Replaces the PHOTO of the account's vCard (`b64` empty: removes it), with its photo hash; the
 * hook above is not called. A store code, or ERR_LIMIT past services.vcard.max_size. */
int services_vcard_set_photo(const char *local, const char *domain, const char *type,
                             struct strv b64);

extern const struct service service_disco;
extern const struct service service_ping;
extern const struct service service_version;
extern const struct service service_roster;   /* RFC 6121 §2 (IM core) */
extern const struct service service_blocking; /* XEP-0191 (IM core) */
extern const struct service service_carbons;  /* XEP-0280 (IM core) */
extern const struct service service_time;
extern const struct service service_upload;   /* XEP-0363 service in disco#items */
extern const struct service service_extdisco; /* XEP-0215 STUN/TURN */
extern const struct service service_last;
extern const struct service service_vcard;
extern const struct service service_private;
extern const struct service service_contact;
extern const struct service service_adhoc;
extern const struct service service_register;
extern const struct service service_muc;
extern const struct service service_mam;  /* XEP-0313 (archive) */
extern const struct service service_push; /* XEP-0357 (push.c) */

/* XEP-0357, on the account's home worker: a message `msg` reached a session of `account` that
 * cannot take it now (detached); `count` messages so far. Sends a summary notification to each
 * of the account's app servers. */
void services_push_notify(const struct jid *account, const struct signal *msg, unsigned count);

/* The services: services.* settings, per-worker state in the module table (core/module.h). */
struct module;
extern struct module services_module;

#endif
