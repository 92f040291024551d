/* im.h: the instant-messaging core of RFC 6121 on an account's home worker: rosters, presence
 * and subscriptions, message delivery rules, offline messages, blocking and carbons. */
#ifndef STARLING_IM_IM_H
#define STARLING_IM_IM_H

#include <stdbool.h>

#include <jansson.h>

#include "signal/router.h"
#include "signal/signal.h"

#define NS_ROSTER "jabber:iq:roster"
#define NS_ROSTERVER_FEATURE "urn:xmpp:features:rosterver"
#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_DELAY "urn:xmpp:delay"
#define NS_HINTS "urn:xmpp:hints"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"

/* Every function runs on the home worker of the account concerned and takes ownership of the
 * signals it is given. */

/* ---- from the client session (xmpp/c2s.c) ---- */

/* A stanza from a bound client session `rs` (converted, 'to' defaulted to the bare JID): own
 * presence, directed presence, subscription requests and answers, the blocking and carbons
 * rules for outbound messages, then routing. */
void im_client_stanza(struct router_session *rs, struct signal *sig);
/* The session ends (closed, lost, replaced): unavailable presence to whoever had its presence,
 * unless the whole server is stopping. Its IM state is freed. */
void im_session_ended(struct router_session *rs, bool server_stopping);

/* ---- from the router (signal/router.c), on the recipient's home worker ---- */

/* Drops or refuses (XEP-0191) a stanza from a JID the recipient blocked; true when it did. */
bool im_inbound_blocked(struct signal *sig);
/* Frees this worker's caches (at worker stop). */
void im_worker_stop(void);
/* Empties this worker's per-account caches (they refill on demand): after a load peak, so the
 * small entries of accounts gone offline do not pin the memory freed around them. */
void im_release_memory(void);
/* Presence (SUBSCRIBE or NOTIFY) for a local account; `sessions` is its session list (NULL
 * when none) and `exists` tells whether the account exists. */
void im_inbound_presence(struct router_session *sessions, struct signal *sig, bool exists);
/* A message no resource can take: stored offline (XEP-0160) when storable, else refused or
 * dropped as RFC 6121 §8.5.2.2 says. Returns a router code. */
int im_offline_message(struct signal *sig);
/* XEP-0280: received copies of `sig`, about to be delivered to the `nto` sessions in `to`, for
 * the other carbons-enabled sessions of the account. */
void im_carbons_received(struct router_session *sessions, const struct signal *sig,
                         struct router_session *const *to, size_t nto);

/* ---- services (services/roster.c, blocking.c, carbons.c), answering the owner ---- */

struct service_ctx;
int im_roster_get(struct service_ctx *ctx);
int im_roster_set(struct service_ctx *ctx);
int im_blocklist_get(struct service_ctx *ctx);
int im_block_set(struct service_ctx *ctx);
int im_unblock_set(struct service_ctx *ctx);
int im_carbons_set(struct service_ctx *ctx, bool enable);

/* ---- administration ---- */

/* The aggregated presence of an account (prepared bare JID), as a JSON object
 * {"jid","available","resources":[{"resource","show","status","priority"}],"last_seen",
 * "last_status"} (new reference). */
json_t *im_presence_json(const char *bare);

#endif
