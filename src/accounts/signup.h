/* signup.h: in-band registration policy (XEP-0077): names, passwords, rate, tombstones, invites. */
#ifndef STARLING_ACCOUNTS_SIGNUP_H
#define STARLING_ACCOUNTS_SIGNUP_H

#include <stdbool.h>
#include <time.h>

#include "core/buf.h"
#include "core/settings.h"
#include "store/store.h"

/* Does `name` (prepared) match one of the comma-separated names or '*' patterns of `list`?
 * Comparison is case-insensitive. */
bool signup_name_reserved(const char *list, const char *name);

/* The UTS #39 skeleton of `name` (UTF-8) into `out`: two names that look alike have the same
 * skeleton ("pοstmaster" with a Greek omicron and "postmaster"). ERR_INVAL for text ICU cannot
 * read, ERR_INTERNAL when ICU's data is missing. Thread-safe. */
int signup_skeleton(const char *name, struct buf *out);

/* Why a registration or password change is refused: an XMPP stanza error condition and a
 * one-line text for the user. */
struct signup_refusal {
    const char *type;      /* "cancel", "modify", "wait", "auth" */
    const char *condition; /* "conflict", "not-acceptable", "not-allowed", "resource-constraint" */
    char text[160];
};

/* Records the skeleton of account `name` of `domain` (a name ICU cannot read gets none), so
 * signup_check_name finds look-alikes with one lookup: 0 or an error code. */
int signup_skeleton_note(struct store *st, const char *domain, const char *name);
/* Records the skeletons of every account that has none (accounts from before the table, or
 * restored): the number recorded, or an error code. Run once at start. */
int signup_skeletons_fill(struct store *st);

/* Checks a new account name on `domain` (prepared local part): reserved (also when it only looks
 * like a reserved name), an existing account, a name that looks like an existing account's
 * (same skeleton), or a tombstone. 0 when acceptable, else ERR_DENIED with *why filled (ERR_STORE on a store
 * failure, also with *why). */
int signup_check_name(struct store *st, const struct settings *cfg, const char *domain,
                      const char *name, struct signup_refusal *why);
/* The password rules (register.min_password_length, at most AUTH_PASSWORD_MAX bytes). */
int signup_check_password(const struct settings *cfg, const char *password,
                          struct signup_refusal *why);

/* Registration rates (process-wide): per remote address (register.rate_limit), per domain
 * (register.domain_rate_limit) and for the whole server (register.global_rate_limit), each over
 * register.rate_period. signup_rate_allowed is true when one more registration on `domain`
 * (canonical) from `addr` is allowed now, else fills *why (wait, resource-constraint);
 * signup_rate_note records a registration that was made. */
bool signup_rate_allowed(const struct settings *cfg, const char *addr, const char *domain,
                         time_t now, struct signup_refusal *why);
void signup_rate_note(const struct settings *cfg, const char *addr, const char *domain, time_t now);

/* Keeps a deleted account's name from registration for register.tombstone_time. */
int signup_tombstone(struct store *st, const struct settings *cfg, const char *domain,
                     const char *name, time_t now);

/* Creates an invitation token for `domain` (prepared, existing) valid for `lifetime` seconds;
 * the token (URL-safe text) replaces the content of `token`. */
int signup_invite_create(struct store *st, const char *domain, long lifetime, struct buf *token);
/* The same from account `inviter` (local part; NULL: an administrator's invitation) for `uses`
 * registrations (at least 1). An account invitation also pre-authorises the invitee's roster
 * subscription to the inviter (XEP-0379). */
int signup_invite_new(struct store *st, const char *domain, const char *inviter, long lifetime,
                      int uses, struct buf *token);
/* XEP-0379: whether `token` pre-authorises `contact` (bare JID) to subscribe to the local account
 * `inviter` of `domain`: a grant left by a registration with the inviter's invitation, or one
 * use of an unexpired invitation of that inviter. Uses it up. */
bool signup_invite_roster(struct store *st, const char *domain, const char *inviter,
                          const char *contact, const char *token, time_t now);

/* Frees the process-wide rate table (at exit). */
void signup_shutdown(void);

struct xml_node;
/* XEP-0077: a field's value in a registration query, from the traditional child element or from
 * a submitted data form (empty when absent). */
void signup_field(const struct xml_node *q, const char *name, struct buf *out);

#endif
