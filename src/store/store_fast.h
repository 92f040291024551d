/* store_fast.h: the store's "fast" area: XEP-0484 FAST tokens (kept as the SHA-256 of the token,
 * never the token) and the XEP-0388 user agents (devices) an account logged in with. Rows go with
 * their account. Times are Unix seconds; names are prepared by the caller. */
#ifndef STARLING_STORE_STORE_FAST_H
#define STARLING_STORE_STORE_FAST_H

#include "store/store.h"

/* Records that the account logged in from user agent `agent` (the XEP-0388 id) with `software`
 * and `device` (may be empty) at `now`. */
int store_fast_agent_seen(struct store *st, const char *domain, const char *name, const char *agent,
                          const char *software, const char *device, long long now);

/* Stores a new token (`key`: hex SHA-256) for the account's user agent, valid until `expires`.
 * The agent's previous current token stays valid (as "previous") until the new one is used, an
 * older previous one goes; past `max_agents` user agents with tokens, the least recently issued
 * lose theirs. */
int store_fast_token_add(struct store *st, const char *domain, const char *name, const char *agent,
                         const char *key, const char *mech, long long now, long long expires,
                         int max_agents);

/* Calls fn(ud, cols, 5) for each unexpired token of the agent: key, mechanism, expires, last
 * count (-1 = none), current (1) or previous (0). A non-zero return from `fn` stops. */
typedef int store_fast_rows_fn(void *ud, const char *const *cols, int ncols);
int store_fast_tokens(struct store *st, const char *domain, const char *name, const char *agent,
                      long long now, store_fast_rows_fn *fn, void *ud);

/* A token was used with `count` (-1 = none): recorded; when it is the current one, the agent's
 * previous token goes. */
int store_fast_token_used(struct store *st, const char *domain, const char *name, const char *agent,
                          const char *key, long long count);

/* Removes the tokens of one user agent (`agent` not NULL: also its device record) or all of
 * the account (NULL: the devices stay listed). `removed` (may be NULL) gets how many tokens
 * went. */
int store_fast_revoke(struct store *st, const char *domain, const char *name, const char *agent,
                      int *removed);

/* Calls fn(ud, cols, 6) for each user agent of the account, most recent first: agent,
 * software, device, last seen, tokens (count), latest token expiry (NULL when none). */
int store_fast_agents(struct store *st, const char *domain, const char *name,
                      store_fast_rows_fn *fn, void *ud);

#endif
