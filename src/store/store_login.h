/* store_login.h: the store's "login" area (issue 20): when and from which address each account
 * last authenticated, written behind in batches by its home worker (im/homestate.c) and removed
 * with the account. */
#ifndef STARLING_STORE_STORE_LOGIN_H
#define STARLING_STORE_STORE_LOGIN_H

#include "core/buf.h"
#include "store/store.h"

/* Records the account's last login (`stamp` in seconds, `address` "[ip]:port" or ""); 0, or
 * ERR_NOTFOUND when the account does not exist. */
int store_login_set(struct store *st, const char *domain, const char *name, long long stamp,
                    const char *address);
/* The last login: `stamp` and `address` (may be NULL); ERR_NOTFOUND when none was recorded. */
int store_login_get(struct store *st, const char *domain, const char *name, long long *stamp,
                    struct buf *address);

#endif
