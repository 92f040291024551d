/* store_register.h: the store's "register" area: tombstones of deleted accounts, invitations. */
#ifndef STARLING_STORE_STORE_REGISTER_H
#define STARLING_STORE_STORE_REGISTER_H

#include "store/store.h"

/* Times are Unix seconds. Names are prepared by the caller. */

/* Records that `name` of `domain` may not be registered before `until` (replaces an older one). */
int store_tombstone_add(struct store *st, const char *domain, const char *name, long long until);
/* 1 when a tombstone later than `now` exists, 0 when none (expired ones are removed), or an error
 * code. */
int store_tombstone_active(struct store *st, const char *domain, const char *name, long long now);

/* An invitation token for `domain`, valid until `expires`; ERR_EXISTS when the token is taken,
 * ERR_NOTFOUND when the domain does not exist. */
int store_invite_add(struct store *st, const char *token, const char *domain, long long expires);
/* 1 when `token` is a valid invitation for `domain` at `now`, else 0 (or an error code). */
int store_invite_valid(struct store *st, const char *token, const char *domain, long long now);
/* Consumes a valid token: 0, or ERR_NOTFOUND when it is unknown, expired or for another domain. */
int store_invite_take(struct store *st, const char *token, const char *domain, long long now);

#endif
