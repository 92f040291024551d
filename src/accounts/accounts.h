/* accounts.h: domains and accounts with their typed settings, on top of the store. */
#ifndef STARLING_ACCOUNTS_ACCOUNTS_H
#define STARLING_ACCOUNTS_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/creds.h"
#include "core/settings.h"
#include "store/store.h"

/* Names given to these calls are prepared here (jid_nameprep / jid_parse), so "Alice@LOCALHOST"
 * and "alice@localhost" are the same account, and a domain may be named by one of its aliases
 * wherever an existing domain is expected (except accounts_domain_remove).
 *
 * Calls with `err` write a one-line reason there (when errlen > 0) on failure: ERR_INVAL for a
 * bad name, unknown key or bad value, ERR_NOTFOUND, ERR_EXISTS, ERR_STORE (the store's message).
 * Calls that write several rows use their own store transaction, so none of these may be called
 * inside store_begin()/store_commit(). */

enum pw_storage { PW_STORAGE_SCRAM, PW_STORAGE_CLEAR };

#define ACCOUNTS_MAX_METHODS 16
#define ACCOUNTS_NAME_MAX 255

struct domain_cfg {
    char name[ACCOUNTS_NAME_MAX + 1]; /* the canonical (prepared) domain name */
    /* key login_methods: comma list of SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-512, PLAIN, LOGIN,
     * CRAM-MD5, DIGEST-MD5, EXTERNAL (all by default), kept upper case */
    char login_methods[ACCOUNTS_MAX_METHODS][24];
    int n_login_methods;
    enum pw_storage password_storage; /* key password_storage = scram|clear, default scram */
    bool auto_signup;                 /* key auto_signup = yes|no, default no (XEP-0077) */
    bool allow_modify_password;       /* key allow_modify_password = yes|no, default no */
    bool xmpp_enabled;                /* key xmpp = yes|no, default yes */
    /* key chat_service = a domain name or "none", default conference.<domain> (XEP-0045);
     * empty when none */
    char chat_service[ACCOUNTS_NAME_MAX + 1];
    bool allow_cancel;       /* key allow_cancel = yes|no, default yes (XEP-0077 <remove/>) */
    bool signup_invite_only; /* key signup_invite_only = yes|no, default no: a token is needed */
};

struct account_cfg {
    bool admin;        /* key admin = yes|no, default no */
    bool domain_admin; /* key domain_admin = yes|no, default no: administers its own domain */
    bool secure_method_required;           /* key secure_method_required = yes|no, default no */
    bool disabled;                         /* key disabled = yes|no, default no */
    int auto_signup;                       /* yes|no|default: 1, 0, or -1 = the domain's setting */
    int allow_modify_password;             /* yes|no|default: 1, 0, or -1 = the domain's setting */
    char real_name[ACCOUNTS_NAME_MAX + 1]; /* key real_name, UTF-8 text, default "" */
};

/* The domain's own federation lists (domain keys s2s_blocked / s2s_allowed, issue 20; ""
 * when unset): comma-separated remote domains, applied with xmpp.s2s_blocked / s2s_allowed.
 * `domain` canonical. 0 or the store's code. */
int accounts_domain_s2s_lists(struct store *st, const char *domain, struct buf *blocked,
                              struct buf *allowed);

/* True when `mech` (case-insensitive) is enabled; "X-PLUS" is enabled by "X". */
bool accounts_login_method_enabled(const struct domain_cfg *d, const char *mech);

/* Adds a domain (name nameprep'd, at most ACCOUNTS_NAME_MAX bytes); ERR_EXISTS if a domain or an
 * alias has that name. */
int accounts_domain_add(struct store *st, const char *name, char *err, size_t errlen);
/* Removes a domain with everything in it; `name` must be the domain itself, not an alias. */
int accounts_domain_remove(struct store *st, const char *name, char *err, size_t errlen);
/* Fills `out` with the effective settings (defaults for the unset keys); `name` may be an alias.
 * ERR_NOTFOUND, ERR_INVAL (bad name), ERR_STORE. */
int accounts_domain_get(struct store *st, const char *name, struct domain_cfg *out);
/* Validates and stores one domain setting: login_methods, password_storage, auto_signup,
 * allow_modify_password, xmpp, chat_service, allow_cancel, signup_invite_only (the value
 * "default" unsets any of these), or aliases (a comma list
 * that replaces all aliases; empty removes them). Switching password_storage to scram strips the
 * clear passwords of every account of the domain in the same transaction. */
int accounts_domain_set(struct store *st, const char *name, const char *key, const char *value,
                        char *err, size_t errlen);
/* Calls fn(ud, key, effective value) for login_methods, password_storage, auto_signup,
 * allow_modify_password, xmpp and aliases, in that order; a non-zero return stops and is
 * returned. */
int accounts_domain_show(struct store *st, const char *name, store_row_fn *fn, void *ud);

/* `jid` is "local@domain" (a resource is an error; the domain may be an alias). */
/* Creates the account; the credentials follow the domain's password_storage (clear keeps the
 * clear password beside the SCRAM keys, scram keeps the keys only). The password must be
 * 1..AUTH_PASSWORD_MAX bytes. */
int accounts_account_add(struct store *st, const char *jid, const char *password, char *err,
                         size_t errlen);
int accounts_account_remove(struct store *st, const char *jid, char *err, size_t errlen);
/* Replaces the password (an administrative change: allow_modify_password is not checked). */
int accounts_account_passwd(struct store *st, const char *jid, const char *password, char *err,
                            size_t errlen);
/* ERR_NOTFOUND (also for an invalid jid), ERR_STORE. */
int accounts_account_get(struct store *st, const char *jid, struct account_cfg *out);
/* Keys admin, domain_admin, secure_method_required, disabled = yes|no; auto_signup,
 * allow_modify_password = yes|no|default; real_name = text (empty unsets); password = like
 * accounts_account_passwd. */
int accounts_account_set(struct store *st, const char *jid, const char *key, const char *value,
                         char *err, size_t errlen);
/* Calls fn(ud, key, value) for admin, domain_admin, secure_method_required, disabled,
 * auto_signup, allow_modify_password (yes|no|default), real_name and created (UTC, ISO 8601);
 * never the credentials. */
int accounts_account_show(struct store *st, const char *jid, store_row_fn *fn, void *ud);

/* For SASL: `domain` is the domain the client connected to (a domain or an alias), `username`
 * the raw authcid: "user" or "user@domain" where that domain must be `domain` or one of its
 * aliases. Fills `out` (caller's storage, released with auth_creds_cleanup) with the stored
 * credentials and the account's secure_required/disabled flags. ERR_NOTFOUND if there is no such
 * account or a name is invalid; ERR_STORE (also for unreadable credentials). Whether the domain
 * accepts XMPP (xmpp_enabled) is for the caller to check. Answered from the calling thread's
 * cache when the account was looked up there before and nothing changed it since (every change
 * made through this module is seen by the next lookup on every thread). */
int accounts_lookup_creds(struct store *st, const char *domain, const char *username,
                          struct auth_creds *out);
/* store_account_exists (the canonical domain and the prepared name, as stored) through the same
 * cache: 1, 0, or negative. */
int accounts_account_exists(struct store *st, const char *domain, const char *name);
/* The name under which failed logins of `raw_user` ("user", or "user@anything": the part before
 * '@') on the canonical `domain` are counted (auth/lockout.h): "local@domain", the local part
 * nodeprep'd, into `out`. ERR_INVAL when the name does not prepare. */
int accounts_login_key(struct buf *out, const char *raw_user, const char *domain);
/* Per-account lock-out (auth/lockout.h) for a login name `user` as given ("user" or
 * "user@domain") on the canonical `domain`, from any thread. accounts_login_locked: seconds the
 * account is still locked, 0 when it may log in; accounts_login_failed: counts a failed login
 * (wrong password or unknown account) and returns the seconds of the lock it started, else 0;
 * accounts_login_succeeded: forgets the account's failures. */
long accounts_login_locked(const struct settings_auth *cfg, const char *user, const char *domain);
int accounts_login_failed(const struct settings_auth *cfg, const char *user, const char *domain);
void accounts_login_succeeded(const char *user, const char *domain);
/* A number that changes whenever the account (canonical domain, prepared name) is changed
 * through this module, and now and then for other changes: for callers that keep something
 * about an account and must notice that it was removed or replaced. */
unsigned accounts_generation(const char *domain, const char *name);
/* Empties the calling thread's cache of accounts (it refills on demand): after a load peak. */
void accounts_cache_release(void);

/* The accounts module: register.* settings, the account cache's release in the module table (core/module.h). */
struct module;
extern struct module accounts_module;

#endif
