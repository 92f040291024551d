/* chatroom.h: XEP-0045 multi-user chat as a named task: one task per room on its home worker. */
#ifndef STARLING_CHATROOM_CHATROOM_H
#define STARLING_CHATROOM_CHATROOM_H

#include <stdbool.h>

#include <jansson.h>

#include "signal/router.h"

/* The router component serving every local domain's chat service (domain setting
 * chat_service, default conference.<domain>). Registered at start-up. */
extern const struct router_component chatroom_component;

/* The chat service of local domain `domain` (canonical), written to `out`; false when the
 * domain has none. Uses the calling worker's cache. For disco#items of the domain. */
bool chatroom_service_of(const char *domain, struct buf *out);

/* Called on each worker as it stops: frees the rooms it hosts (persistent ones are stored
 * already). */
void chatroom_worker_stop(void);

/* On the calling worker: each room it holds for which `moved(room JID)` says that it now
 * belongs to another node (a cluster's membership changed) is handed over: a persistent room is
 * stored, each occupant gets its own unavailable presence with status 332 (removed by a system
 * shutdown, in XEP-0045's table of status codes: clients rejoin) and the room is unloaded, so
 * its next stanza loads it on its owner. Returns how many rooms were handed over. */
typedef bool chatroom_moved_fn(const char *room);
int chatroom_hand_over(chatroom_moved_fn *moved);

/* On the calling worker: every occupant of its rooms whose session `gone` says ended without a
 * word (a cluster node that held it died or restarted, so no unavailable presence came) leaves
 * as an occupant whose client bounced a stanza does: the others see its unavailable presence
 * with status 333. An empty temporary room then ends. Returns how many occupants left. */
typedef bool chatroom_gone_fn(void *ud, const struct jid *real);
/* Told of each occupant removed so: the room with its nick as resource, its session, its
 * affiliation and occupant id (XEP-0421), so that a node only believed dead can be told. */
typedef void chatroom_removed_fn(void *ud, const struct jid *room_nick, const struct jid *real,
                                 const char *affiliation, const char *occupant_id);
int chatroom_drop_gone(chatroom_gone_fn *gone, chatroom_removed_fn *removed, void *ud);

/* The administrator's view and actions (chatroom/admin.c, admin ops muc.*). Rooms live on
 * their home worker (worker_home of the room's bare JID): chatroom_rooms_json runs on every
 * worker and appends the rooms of `service` it hosts ({"jid","name","persistent","locked",
 * "occupants","last_activity"}); the others run on the room's home worker, loading a stored
 * room when needed. ERR_NOTFOUND for a room that does not exist (or a nick not in it). */
void chatroom_rooms_json(const char *service, json_t *out);
/* The rooms live in this process, on all workers and services (any thread). */
int chatroom_live_count(void);
/* {"jid","persistent","locked","config" (key = value lines),"subject","occupants":[{"nick",
 * "jid","role","affiliation"}],"affiliations":[{"jid","affiliation","nick","reason"}],
 * "last_activity"}, or NULL. */
json_t *chatroom_room_json(const char *room);
/* Kicks the occupant `nick` (status 307) with `reason` (NULL: none). */
int chatroom_admin_kick(const char *room, const char *nick, const char *reason);
/* Bans the bare JID (affiliation outcast, stored for a persistent room) and removes its
 * occupants (status 301). */
int chatroom_admin_ban(const char *room, const char *bare, const char *reason);
/* Destroys the room (XEP-0045 §10.9): occupants told with `reason`, removed from the store. */
int chatroom_admin_destroy(const char *room, const char *reason);

/* The chatroom module in the module table (core/module.h): muc.* settings, the stop above. */
struct module;
extern struct module chatroom_module;

#endif
