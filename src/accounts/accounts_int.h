/* accounts_int.h: internals shared by the files of src/accounts/ (not a public API). */
#ifndef STARLING_ACCOUNTS_ACCOUNTS_INT_H
#define STARLING_ACCOUNTS_ACCOUNTS_INT_H

#include <stdbool.h>

#include "auth/creds.h"
#include "core/buf.h"

/* cache.c: each thread's cache of what a login reads about an account (its credentials and
 * flags, its existence) and of domain-name resolution, so that a login runs no store query.
 *
 * Every change of accounts, domains and aliases goes through accounts.c, which calls
 * accounts__changed() or accounts__changed_all() once the change is in the store. A reader
 * takes the generation of what it is about to read (accounts__gen) before reading the store and
 * files the result under it; an entry is used only while that generation is unchanged, so a
 * change made on any thread is seen by every thread's next lookup. */

/* The generation of the account (domain, name): it changes with every later change of that
 * account (and of some others that share its slot) and of any domain or alias. */
unsigned accounts__gen(const char *domain, const char *name);
/* The generation of the domains and aliases (name resolution). */
unsigned accounts__gen_all(void);
/* To be called after the account's row, credentials or settings changed (or may have). */
void accounts__changed(const char *domain, const char *name);
/* After a change of domains, aliases or domain settings: every entry goes stale. */
void accounts__changed_all(void);

/* The cached record of (domain, name) read under generation `gen`: with `out` NULL, true when
 * the account is known to exist; else true when its credentials are cached, copied into `out`
 * (caller's storage, released with auth_creds_cleanup). */
bool accounts__cache_get(const char *domain, const char *name, unsigned gen,
                         struct auth_creds *out);
/* Files what was read under `gen`: `creds` (copied) with its flags, or with NULL only that the
 * account exists. */
void accounts__cache_put(const char *domain, const char *name, unsigned gen,
                         const struct auth_creds *creds);
/* The canonical domain of the name `given` (as the caller gave it), resolved under the domain
 * generation `gen`; false when not cached. */
bool accounts__cache_domain_get(const char *given, unsigned gen, struct buf *canon);
void accounts__cache_domain_put(const char *given, unsigned gen, const char *canon);

#endif
