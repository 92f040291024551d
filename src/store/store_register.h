/* store_register.h: the store's "register" area: tombstones of deleted accounts, invitations,
 * and the confusable skeletons of account names. */
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
/* Uses a valid token once (the row goes with its last use): 0, or ERR_NOTFOUND when it is
 * unknown, expired, used up or for another domain. */
int store_invite_take(struct store *st, const char *token, const char *domain, long long now);

/* Invitations of issue 18 (XEP-0401 / XEP-0379 / XEP-0445): from an account (`inviter`, its
 * local part on `domain`; NULL or "" for an administrator's), good for `uses` registrations. */
struct store_invite {
    const char *token;
    const char *domain;
    const char *inviter;
    int uses;
    long long created;
    long long expires;
};
int store_invite_new(struct store *st, const struct store_invite *inv);
/* 0 with the inviter ("" for none) when `token` is a usable invitation of `domain` at `now`,
 * ERR_NOTFOUND when not, or an error code. */
int store_invite_inviter(struct store *st, const char *token, const char *domain, long long now,
                         struct buf *inviter);
/* Calls fn(ud, cols, 5) for each unexpired invitation of the domain: token, inviter, uses left,
 * created, expires. */
typedef int store_invite_row_fn(void *ud, const char *const *cols, int ncols);
int store_invite_list(struct store *st, const char *domain, long long now, store_invite_row_fn *fn,
                      void *ud);
/* The unexpired invitation `token` of any domain: fn(ud, cols, 5) with domain, inviter, uses left,
 * created, expires (no call when none). */
int store_invite_find(struct store *st, const char *token, long long now, store_invite_row_fn *fn,
                      void *ud);
/* Removes an invitation: 0 or ERR_NOTFOUND. */
int store_invite_revoke(struct store *st, const char *token, const char *domain);
/* The invitations and grants of account `inviter` (its removal). */
int store_invite_remove_inviter(struct store *st, const char *domain, const char *inviter);
/* A used account invitation: `invitee` (local part) may have its subscription to `inviter`
 * approved once, until `expires`. */
int store_invite_grant_add(struct store *st, const char *token, const char *domain,
                           const char *inviter, const char *invitee, long long expires);
/* Uses up that grant: 0, or ERR_NOTFOUND when there is none (or it expired). */
int store_invite_grant_take(struct store *st, const char *token, const char *domain,
                            const char *inviter, const char *invitee, long long now);

/* The UTS #39 skeleton of an existing account's name (replaces an older one). ERR_NOTFOUND when
 * the account does not exist. The row is removed with the account. */
int store_skeleton_set(struct store *st, const char *domain, const char *name,
                       const char *skeleton);
/* 1 when an account of `domain` other than `name` has `skeleton`, 0 when none, or an error. */
int store_skeleton_other(struct store *st, const char *domain, const char *skeleton,
                         const char *name);
/* Calls `fn` for every account without a skeleton row (accounts made before the table existed);
 * rows are copied out first, so `fn` may use the store. A non-zero return from `fn` stops. */
typedef int store_skeleton_missing_fn(void *ud, const char *domain, const char *name);
int store_skeleton_missing(struct store *st, store_skeleton_missing_fn *fn, void *ud);

#endif
