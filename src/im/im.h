/* im.h: the instant-messaging core of RFC 6121 on an account's home worker: rosters, presence
 * and subscriptions, message delivery rules, offline messages, blocking and carbons. */
#ifndef STARLING_IM_IM_H
#define STARLING_IM_IM_H

#include <stdbool.h>

#include <jansson.h>

#include "signal/router.h"
#include "signal/signal.h"
#include "store/store_im.h"
#include "xml/ns.h"


/* Every function runs on the home worker of the account concerned and takes ownership of the
 * signals it is given. */

/* ---- from the client session (xmpp/c2s.c) ---- */

/* A stanza from a bound client session `rs` (converted, 'to' defaulted to the bare JID): own
 * presence, directed presence, subscription requests and answers, the blocking and carbons
 * rules for outbound messages, then routing. */
void im_client_stanza(struct router_session *rs, struct signal *sig);
/* The session ends (closed, lost, replaced): unavailable presence to whoever had its presence,
 * unless the whole server is stopping. Its IM state is freed. Called for every bound session,
 * before it leaves the router: the account's last one also records its logout (XEP-0012). */
void im_session_ended(struct router_session *rs, bool server_stopping);

/* ---- from the router (signal/router.c), on the recipient's home worker ---- */

/* Registers the IM core's router hooks (router_set_im: the four functions below), at start-up. */
void im_init(void);

/* Drops or refuses (XEP-0191) a stanza from a JID the recipient blocked; true when it did. */
bool im_inbound_blocked(struct signal *sig);
/* Would im_inbound_blocked take `sig`? The same answer, without its side effects. */
bool im_inbound_blocks(const struct signal *sig);
/* Frees this worker's caches (at worker stop). */
void im_worker_stop(void);
/* Empties this worker's per-account caches (they refill on demand): after a load peak, so the
 * small entries of accounts gone offline do not pin the memory freed around them. */
void im_release_memory(void);
/* Presence (SUBSCRIBE or NOTIFY) for a local account; `sessions` is its session list (NULL
 * when none) and `exists` tells whether the account exists. */
void im_inbound_presence(struct router_session *sessions, struct signal *sig, bool exists);
/* A message no resource can take: stored offline (XEP-0160) when storable, else refused or
 * dropped as RFC 6121 §8.5.2.2 says. Returns 0 (stored, or dropped by design), ERR_NOTFOUND
 * (refused, or not worth storing) or the store's code when it could not be stored. */
int im_offline_message(struct signal *sig);
/* A message for the account, before delivery: archived when it should be (XEP-0313). */
void im_inbound_message(struct signal *sig);
/* XEP-0280: received copies of `sig`, about to be delivered to the `nto` sessions in `to`, for
 * the other carbons-enabled sessions of the account. */
void im_carbons_received(struct router_session *sessions, const struct signal *sig,
                         struct router_session *const *to, size_t nto);

/* ---- for the iq services (services/roster.c, blocking.c, carbons.c), answering the owner ---- */

/* What a session asked for: roster pushes (it requested the roster, RFC 6121 §2.1.6),
 * blocklist pushes (XEP-0191), message carbons (XEP-0280). */
enum im_flag {
    IM_FLAG_ROSTER,
    IM_FLAG_BLOCKLIST,
    IM_FLAG_CARBONS,
    IM_FLAG_ARCHIVE_SYNC, /* it queried the archive: no offline flood of archived messages */
};
/* Sets or clears `flag` on the session `resource` of `account`; ERR_NOTFOUND when the account
 * has no such session on this worker. */
int im_session_flag(const struct jid *account, const char *resource, enum im_flag flag, bool on);

/* Issue 18: a new account made with `inviter`'s invitation `token` (XEP-0401/0445) subscribes
 * to the inviter with XEP-0379 pre-authorisation and pre-approves the inviter's request, so both
 * become subscribed without a question. Runs where the registration happened (the new account
 * has no session yet). */
int im_invite_subscribe(const struct jid *invitee, const struct jid *inviter, const char *token);

/* One roster item (RFC 6121 §2.1.2), as loaded from the store. */
struct im_item {
    bool exists;
    char *contact;
    char *name;
    char *groups; /* "a\nb\n" */
    int sub;      /* SUB_FROM | SUB_TO (im/substate.h) */
    bool ask;
    bool approved;
};
/* Loads `contact` (prepared bare JID) of `user`'s roster into `it` (it->exists false when it
 * is not there); a store code on failure, `it` then empty. */
int im_item_load(const struct jid *user, const char *contact, struct im_item *it);
void im_item_free(struct im_item *it);
/* Stores the item (or its removal, a tombstone) at a new roster version (*ver); nothing changes
 * on failure (the store's code, e.g. ERR_NOSPACE). Push it after storing: */
int im_item_store(const struct jid *user, struct im_item *it, bool remove, long long *ver);
/* The roster push of a stored change to every interested resource (RFC 6121 §2.1.6). */
void im_item_push(const struct jid *user, const struct im_item *it, bool remove, long long ver);
/* Removes a roster item (RFC 6121 §2.5): stores the removal with the contact's pending request,
 * then cancels the subscriptions both ways (unsubscribe, unsubscribed, unavailable presence).
 * Nothing is sent when the store fails (its code is returned). Push it after answering. */
int im_item_remove(const struct jid *user, const struct jid *contact, struct im_item *it,
                   long long *ver);
/* Appends the <item/> of a stored roster row to a jabber:iq:roster <query/>. */
void im_item_xml(struct xml_node *query, const struct store_roster_item *it);
/* XEP-0237: the changes after version `known` as roster pushes to the session `resource`. */
void im_roster_push_since(const struct jid *user, const char *resource, long long known);

/* A blocklist's JIDs (prepared). */
struct im_blocklist {
    char **jids;
    size_t n;
};
/* A block or unblock (XEP-0191) of `n` prepared JIDs (an unblock of none: the whole list);
 * `items` (a heap array of heap strings) belongs to the change. im_block_store stores it all
 * or nothing: on failure (a store code) nothing changed and the change is freed; after the
 * answer, im_block_apply pushes it to the interested resources, applies its effect on
 * presence, and frees it. */
struct im_block_change {
    const struct jid *user;
    bool unblock;
    char **items;
    size_t n;
    struct im_blocklist before; /* internal */
};
int im_block_store(struct im_block_change *c);
void im_block_apply(struct im_block_change *c);

/* ---- administration ---- */

/* The aggregated presence of an account (prepared bare JID), as a JSON object
 * {"jid","available","resources":[{"resource","show","status","priority"}],"last_seen",
 * "last_status"} (new reference). */
json_t *im_presence_json(const char *bare);

/* ---- personal eventing (set by main.c) ---- */

/* Availability seen by an account (`user`, bare) of a full JID `from`: one of its own sessions
 * or a contact's presence to it. `presence` is the available presence stanza, NULL when `from`
 * became unavailable. On the account's home worker. */
typedef void im_presence_hook_fn(const struct jid *user, const struct jid *from,
                                 const struct xml_node *presence);
void im_set_presence_hook(im_presence_hook_fn *fn);
/* A session (`full`) became available (initial presence), or stopped being available: by an
 * unavailable presence or at its end, `told` false when its contacts were not told (the server
 * stops). On the account's home worker. For a cluster's registry of available sessions. */
typedef void im_session_hook_fn(const struct jid *full, bool available, bool told);
void im_set_session_hook(im_session_hook_fn *fn);
/* On behalf of the session `full`, which ended without a word (its cluster node died): its
 * unavailable presence to the account's subscribers (From, Both) that it does not block, as its
 * end would have sent. Any worker (the roster is read from the store). */
void im_presence_gone(const struct jid *full);
/* After a partition between the nodes of a cluster healed (the other side was told that this
 * side's sessions went away): each available session of the calling worker sends its current
 * presence to its subscribers again, and the session hook hears it is available. */
void im_presence_announce_again(void);
/* The element added to a session's available presence that carries no vcard-temp:x:update
 * (XEP-0153 photo hash), or NULL; a new reference. On the account's home worker. */
typedef struct xml_node *im_presence_stamp_fn(const char *local, const char *domain);
void im_set_presence_stamp(im_presence_stamp_fn *fn);

#endif
