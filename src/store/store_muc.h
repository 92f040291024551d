/* store_muc.h: the store's "muc" area: persistent chat rooms and their affiliations. */
#ifndef STARLING_STORE_STORE_MUC_H
#define STARLING_STORE_STORE_MUC_H

#include "core/buf.h"
#include "store/store.h"

/* A room is named by its bare JID "room@service"; `config` is the chatroom module's own text
 * form, opaque here. */
int store_muc_room_put(struct store *st, const char *room, const char *config, const char *subject,
                       const char *subject_from);
/* ERR_NOTFOUND when the room is not stored. */
int store_muc_room_get(struct store *st, const char *room, struct buf *config, struct buf *subject,
                       struct buf *subject_from);
/* Removes the room and its affiliations. */
int store_muc_room_delete(struct store *st, const char *room);
/* Calls fn(ud, room, config) for each stored room of `service`, in name order. */
typedef int store_muc_room_fn(void *ud, const char *room, const char *config);
int store_muc_room_list(struct store *st, const char *service, store_muc_room_fn *fn, void *ud);

/* Sets the affiliation of `jid` (a bare JID) in a stored room; `aff` NULL removes it. `nick` and
 * `reason` may be NULL. ERR_NOTFOUND when the room is not stored. */
int store_muc_aff_set(struct store *st, const char *room, const char *jid, const char *aff,
                      const char *nick, const char *reason);
typedef int store_muc_aff_fn(void *ud, const char *jid, const char *aff, const char *nick,
                             const char *reason);
int store_muc_aff_list(struct store *st, const char *room, store_muc_aff_fn *fn, void *ud);

#endif
