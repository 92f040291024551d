/* lockout.h: per-account failed-login counting and lock-out, shared by every worker and the WebAdmin. */
#ifndef STARLING_AUTH_LOCKOUT_H
#define STARLING_AUTH_LOCKOUT_H

#include <stddef.h>

#include "core/settings.h"

/* An account is named by its key "local@domain": the nodeprep'd local part and the canonical
 * domain (accounts_login_key makes it from a login name). Failures of one account are counted whoever makes them, from any address; only a
 * success of that same account clears them (another account's success changes nothing).
 *
 * Policy (`cfg`, the auth.* settings, read at each call so a live change counts): after auth.lock_after
 * failures, each remembered until auth.lock_window seconds after the account's last failure, the
 * account is locked for auth.lock_time seconds, doubled by every further failure up to
 * auth.lock_max. While it is locked every login of the account is refused without looking at
 * the password (so the answer says nothing about a guess), and such refusals are not counted.
 *
 * Thread safety: one process-wide table behind one mutex. Logins start on the accepting worker,
 * not on the account's home worker, and the WebAdmin has threads of its own, so the state cannot
 * live on a home worker; the lock is taken only at the end of an authentication (a failure, a
 * success, the check before answering), which is rare next to stanza traffic and far cheaper
 * than the password hash that precedes it. The table holds at most LOCKOUT_MAX accounts:
 * expired entries are swept when it is full, and then the oldest entry of the new key's bucket
 * (buckets hashed with a per-process random seed) gives way. */

#define LOCKOUT_MAX 65536

/* Milliseconds until the account may try again; 0 when it may try now. */
long lockout_remaining_ms(const struct settings_auth *cfg, const char *key);

/* Counts a failed login (wrong password, unknown account) of `key`. Returns the seconds of the
 * lock this failure started, or 0 when the account is not locked by it. */
int lockout_failure(const struct settings_auth *cfg, const char *key);

/* A successful login of `key`: its failures are forgotten. */
void lockout_success(const char *key);

/* For the monitor: calls fn(ud, key, failures, seconds locked still, seconds since the last
 * failure) for every account with failures still remembered, in no particular order. The table
 * is locked meanwhile: fn must not call back into this module. */
typedef void lockout_each_fn(void *ud, const char *key, int failures, long locked_s,
                             long last_failure_s);
void lockout_foreach(lockout_each_fn *fn, void *ud);

/* Forgets everything (at exit, and between tests). */
void lockout_reset(void);

/* The auth module: auth.* settings (the lock-out policy) in the module table (core/module.h). */
struct module;
extern struct module auth_module;

#endif
