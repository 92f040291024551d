/* seats.h: on a node of a cluster, the seats this node's users hold in rooms that another node
 * owns, learned from the rooms' self-presence (XEP-0045 status 110) as it crosses NATS. When a
 * room's owner dies or restarts, the room comes back empty on its next owner; the occupants'
 * nodes tell their users at once (their own unavailable presence, status codes 110 and 332, as a
 * hand-over does) so that clients rejoin instead of silently missing the room
 * (docs/internals/cluster.md). One table per worker: the seats of the users homed on it. */
#ifndef STARLING_CLUSTER_SEATS_H
#define STARLING_CLUSTER_SEATS_H

#include <stdbool.h>
#include <stddef.h>

#include "jid/jid.h"
#include "signal/signal.h"

struct seats;

struct seats *seats_new(void);
void seats_free(struct seats *t);
size_t seats_count(const struct seats *t);

/* A presence a room of this server's chat service sent to one of this node's users (the caller
 * checked the room's domain): when it is the user's own presence in the room (status 110), an
 * available one notes the seat (nick, affiliation, occupant id) with the room's owner node and
 * that node's run, an unavailable one forgets it. Returns 1 noted, -1 forgotten, 0 neither. */
int seats_note(struct seats *t, const struct signal *sig, const char *owner, const char *run);

/* What becomes of a seat after a change of the live nodes. */
enum seat_fate {
    SEAT_KEEP, /* its room's owner is the same run of a live node */
    SEAT_DROP, /* its user is not here any more (no session, or homed elsewhere now) */
    SEAT_TELL, /* its room's owner is gone: tell the user, then forget the seat */
};
/* `owner`/`run`: the node that owned the room when the seat was noted; `occupant`: the user. */
typedef enum seat_fate seat_fate_fn(void *ud, const char *owner, const char *run,
                                    const struct jid *occupant);
/* The user's unavailable presence from the room, handed to `tell` (which takes it). */
typedef void seat_tell_fn(void *ud, struct signal *sig);

/* Asks `fate` for every seat; a SEAT_TELL seat's user gets its unavailable presence (status
 * codes 110 and 332, role none, its affiliation and occupant id, `reason`) through `tell`. The
 * seats not kept are forgotten. Returns how many were told. */
size_t seats_sweep(struct seats *t, seat_fate_fn *fate, seat_tell_fn *tell, void *ud,
                   const char *reason);

/* A user's own unavailable presence from a room (`room_nick`: the room, the user's nick as
 * resource) to its session `occupant`: role none, `affiliation`, status codes 110 and `code`
 * (332: the room's node stopped; 333: removed because of an error between the nodes), the
 * occupant id when not NULL, `reason` when not NULL. A new signal. */
struct signal *seats_gone_signal(const struct jid *room_nick, const struct jid *occupant,
                                 const char *affiliation, const char *occupant_id, int code,
                                 const char *reason);

#endif
