/* sqlite_register.c: the store's "register" area (see store_int.h): tombstones of deleted
 * accounts, invitation tokens for in-band registration (XEP-0077, XEP-0401 style) and the
 * confusable skeletons of account names (the look-alike check). */
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "store/store_int.h"
#include "store/store_register.h"

static const char *const migrations[] = {
    /* v1: a tombstone keeps a deleted account's name from being registered again until a time;
     * an invitation lets one registration happen on a domain until it expires. */
    "CREATE TABLE register_tombstones ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  until INTEGER NOT NULL,"
    "  PRIMARY KEY (domain, name),"
    "  FOREIGN KEY (domain) REFERENCES domains(name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE register_invites ("
    "  token TEXT NOT NULL PRIMARY KEY,"
    "  domain TEXT NOT NULL,"
    "  expires INTEGER NOT NULL,"
    "  FOREIGN KEY (domain) REFERENCES domains(name) ON DELETE CASCADE"
    ") WITHOUT ROWID;",
    /* v2: each account's UTS #39 skeleton, so the look-alike check of a registration is one
     * indexed lookup instead of a pass over the domain's accounts. Rows go with the account. */
    "CREATE TABLE register_skeletons ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  skeleton TEXT NOT NULL,"
    "  PRIMARY KEY (domain, name),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX register_skeletons_skeleton ON register_skeletons(domain, skeleton);",
    /* v3 (issue 18, XEP-0401/0379/0445): an invitation may come from an account (its roster
     * is pre-authorised for the invitee) and be good for several uses; a used account
     * invitation leaves a grant that lets the new account's subscription to the inviter be
     * approved at once. */
    "ALTER TABLE register_invites ADD COLUMN inviter TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE register_invites ADD COLUMN uses INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE register_invites ADD COLUMN created INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE register_invite_grants ("
    "  token TEXT NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  inviter TEXT NOT NULL,"
    "  invitee TEXT NOT NULL,"
    "  expires INTEGER NOT NULL,"
    "  PRIMARY KEY (token, invitee),"
    "  FOREIGN KEY (domain) REFERENCES domains(name) ON DELETE CASCADE"
    ") WITHOUT ROWID;",
};

STORE_AREA(register, migrations);

static const char SQL_TOMB_ADD[] =
    "INSERT INTO register_tombstones(domain, name, until) VALUES (?1, ?2, CAST(?3 AS INTEGER))"
    " ON CONFLICT(domain, name) DO UPDATE SET until = excluded.until";
static const char SQL_TOMB_GET[] =
    "SELECT until FROM register_tombstones WHERE domain = ?1 AND name = ?2";
static const char SQL_TOMB_DEL[] =
    "DELETE FROM register_tombstones WHERE domain = ?1 AND name = ?2";
static const char SQL_INVITE_ADD[] =
    "INSERT INTO register_invites(token, domain, expires) VALUES (?1, ?2, CAST(?3 AS INTEGER))";
static const char SQL_INVITE_GET[] =
    "SELECT expires FROM register_invites WHERE token = ?1 AND domain = ?2";
static const char SQL_INVITE_USE[] =
    "UPDATE register_invites SET uses = uses - 1 WHERE token = ?1 AND uses > 0";
static const char SQL_INVITE_DEL_USED[] =
    "DELETE FROM register_invites WHERE token = ?1 AND uses <= 0";
static const char SQL_INVITE_NEW[] =
    "INSERT INTO register_invites(token, domain, expires, inviter, uses, created)"
    " VALUES (?1, ?2, CAST(?3 AS INTEGER), ?4, CAST(?5 AS INTEGER), CAST(?6 AS INTEGER))";
static const char SQL_INVITE_INFO[] =
    "SELECT inviter, uses, expires FROM register_invites WHERE token = ?1 AND domain = ?2";
static const char SQL_INVITE_LIST[] =
    "SELECT token, inviter, uses, created, expires FROM register_invites"
    " WHERE domain = ?1 AND expires > CAST(?2 AS INTEGER) ORDER BY created, token";
static const char SQL_INVITE_FIND[] =
    "SELECT domain, inviter, uses, created, expires FROM register_invites"
    " WHERE token = ?1 AND expires > CAST(?2 AS INTEGER)";
static const char SQL_INVITE_REVOKE[] =
    "DELETE FROM register_invites WHERE token = ?1 AND domain = ?2";
static const char SQL_INVITE_DEL_INVITER[] =
    "DELETE FROM register_invites WHERE domain = ?1 AND inviter = ?2 AND inviter <> ''";
static const char SQL_GRANT_DEL_INVITER[] =
    "DELETE FROM register_invite_grants WHERE domain = ?1 AND inviter = ?2";
static const char SQL_GRANT_ADD[] =
    "INSERT INTO register_invite_grants(token, domain, inviter, invitee, expires)"
    " VALUES (?1, ?2, ?3, ?4, CAST(?5 AS INTEGER)) ON CONFLICT(token, invitee) DO UPDATE SET"
    " domain = excluded.domain, inviter = excluded.inviter, expires = excluded.expires";
static const char SQL_GRANT_TAKE[] =
    "DELETE FROM register_invite_grants WHERE token = ?1 AND domain = ?2 AND inviter = ?3"
    " AND invitee = ?4 AND expires > CAST(?5 AS INTEGER)";
static const char SQL_SKEL_SET[] =
    "INSERT INTO register_skeletons(domain, name, skeleton) VALUES (?1, ?2, ?3)"
    " ON CONFLICT(domain, name) DO UPDATE SET skeleton = excluded.skeleton";
static const char SQL_SKEL_OTHER[] = "SELECT 1 FROM register_skeletons"
                                     " WHERE domain = ?1 AND skeleton = ?2 AND name <> ?3 LIMIT 1";
static const char SQL_SKEL_MISSING[] =
    "SELECT a.domain, a.name FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM register_skeletons s"
    " WHERE s.domain = a.domain AND s.name = a.name) ORDER BY a.domain, a.name";
static const char SQL_INVITE_PURGE[] =
    "DELETE FROM register_invites WHERE expires <= CAST(?1 AS INTEGER)";

int store_tombstone_add(struct store *st, const char *domain, const char *name, long long until)
{
    char u[32];
    snprintf(u, sizeof(u), "%lld", until);
    return store__run(st, SQL_TOMB_ADD, STORE_ARGS(domain, name, u), NULL);
}

int store_tombstone_active(struct store *st, const char *domain, const char *name, long long now)
{
    long long until = 0;
    int rc = store__query_one(st, SQL_TOMB_GET, STORE_ARGS(domain, name), NULL, &until);
    if (rc == ERR_NOTFOUND) {
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    if (until > now) {
        return 1;
    }
    rc = store__run(st, SQL_TOMB_DEL, STORE_ARGS(domain, name), NULL);
    return rc < 0 ? rc : 0;
}

int store_invite_add(struct store *st, const char *token, const char *domain, long long expires)
{
    char e[32];
    snprintf(e, sizeof(e), "%lld", expires);
    return store__run(st, SQL_INVITE_ADD, STORE_ARGS(token, domain, e), NULL);
}

int store_invite_valid(struct store *st, const char *token, const char *domain, long long now)
{
    long long expires = 0;
    int rc = store__query_one(st, SQL_INVITE_GET, STORE_ARGS(token, domain), NULL, &expires);
    if (rc == ERR_NOTFOUND) {
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    return expires > now ? 1 : 0;
}

int store_invite_take(struct store *st, const char *token, const char *domain, long long now)
{
    char n[32];
    snprintf(n, sizeof(n), "%lld", now);
    store__run(st, SQL_INVITE_PURGE, STORE_ARGS(n), NULL);
    int rc = store_invite_valid(st, token, domain, now);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        return ERR_NOTFOUND;
    }
    int changes = 0;
    rc = store__run(st, SQL_INVITE_USE, STORE_ARGS(token), &changes);
    if (rc < 0) {
        return rc;
    }
    /* Another worker may have used the last use in between: only one decrement wins it. */
    if (changes != 1) {
        return ERR_NOTFOUND;
    }
    rc = store__run(st, SQL_INVITE_DEL_USED, STORE_ARGS(token), NULL);
    return rc < 0 ? rc : 0;
}

int store_invite_new(struct store *st, const struct store_invite *inv)
{
    char e[32], u[32], c[32];
    snprintf(e, sizeof(e), "%lld", inv->expires);
    snprintf(u, sizeof(u), "%d", inv->uses);
    snprintf(c, sizeof(c), "%lld", inv->created);
    return store__run(
        st, SQL_INVITE_NEW,
        STORE_ARGS(inv->token, inv->domain, e, inv->inviter ? inv->inviter : "", u, c), NULL);
}

struct info_ctx {
    struct buf *inviter;
    long long uses;
    long long expires;
    bool found;
};

static int info_row(void *ud, const char *const *cols, int ncols)
{
    struct info_ctx *ic = ud;
    if (ncols < 3) {
        return 0;
    }
    buf_reset(ic->inviter);
    buf_append_c(ic->inviter, cols[0] ? cols[0] : "");
    ic->uses = strtoll(cols[1] ? cols[1] : "0", NULL, 10);
    ic->expires = strtoll(cols[2] ? cols[2] : "0", NULL, 10);
    ic->found = true;
    return 1;
}

int store_invite_inviter(struct store *st, const char *token, const char *domain, long long now,
                         struct buf *inviter)
{
    struct info_ctx ic = { .inviter = inviter };
    int rc = store__query_rows(st, SQL_INVITE_INFO, STORE_ARGS(token, domain), info_row, &ic);
    if (rc < 0) {
        return rc;
    }
    return ic.found && ic.uses > 0 && ic.expires > now ? 0 : ERR_NOTFOUND;
}

int store_invite_list(struct store *st, const char *domain, long long now, store_invite_row_fn *fn,
                      void *ud)
{
    char n[32];
    snprintf(n, sizeof(n), "%lld", now);
    return store__query_rows(st, SQL_INVITE_LIST, STORE_ARGS(domain, n), fn, ud);
}

int store_invite_find(struct store *st, const char *token, long long now, store_invite_row_fn *fn,
                      void *ud)
{
    char n[32];
    snprintf(n, sizeof(n), "%lld", now);
    return store__query_rows(st, SQL_INVITE_FIND, STORE_ARGS(token, n), fn, ud);
}

int store_invite_revoke(struct store *st, const char *token, const char *domain)
{
    int changes = 0;
    int rc = store__run(st, SQL_INVITE_REVOKE, STORE_ARGS(token, domain), &changes);
    return rc < 0 ? rc : changes == 1 ? 0 : ERR_NOTFOUND;
}

int store_invite_remove_inviter(struct store *st, const char *domain, const char *inviter)
{
    int rc = store__run(st, SQL_INVITE_DEL_INVITER, STORE_ARGS(domain, inviter), NULL);
    return rc ? rc : store__run(st, SQL_GRANT_DEL_INVITER, STORE_ARGS(domain, inviter), NULL);
}

int store_invite_grant_add(struct store *st, const char *token, const char *domain,
                           const char *inviter, const char *invitee, long long expires)
{
    char e[32];
    snprintf(e, sizeof(e), "%lld", expires);
    return store__run(st, SQL_GRANT_ADD, STORE_ARGS(token, domain, inviter, invitee, e), NULL);
}

int store_invite_grant_take(struct store *st, const char *token, const char *domain,
                            const char *inviter, const char *invitee, long long now)
{
    char n[32];
    snprintf(n, sizeof(n), "%lld", now);
    int changes = 0;
    int rc =
        store__run(st, SQL_GRANT_TAKE, STORE_ARGS(token, domain, inviter, invitee, n), &changes);
    return rc < 0 ? rc : changes == 1 ? 0 : ERR_NOTFOUND;
}

int store_skeleton_set(struct store *st, const char *domain, const char *name, const char *skeleton)
{
    return store__run(st, SQL_SKEL_SET, STORE_ARGS(domain, name, skeleton), NULL);
}

int store_skeleton_other(struct store *st, const char *domain, const char *skeleton,
                         const char *name)
{
    int rc = store__query_one(st, SQL_SKEL_OTHER, STORE_ARGS(domain, skeleton, name), NULL, NULL);
    if (rc == ERR_NOTFOUND) {
        return 0;
    }
    return rc < 0 ? rc : 1;
}

struct missing_ctx {
    store_skeleton_missing_fn *fn;
    void *ud;
};

static int missing_row(void *ud, const char *const *cols, int ncols)
{
    struct missing_ctx *mc = ud;
    (void)ncols;
    return mc->fn(mc->ud, cols[0], cols[1]);
}

int store_skeleton_missing(struct store *st, store_skeleton_missing_fn *fn, void *ud)
{
    struct missing_ctx mc = { fn, ud };
    return store__query_rows(st, SQL_SKEL_MISSING, STORE_NO_ARGS, missing_row, &mc);
}
