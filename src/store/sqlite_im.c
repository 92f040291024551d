/* sqlite_im.c: the store's "im" area (see store_int.h): rosters, pending subscriptions, offline
 * messages, blocklists and last presence. */
#include "store/store_im.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

static const char *const migrations[] = {
    /* v1 */
    "CREATE TABLE im_roster ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  contact TEXT NOT NULL,"
    "  item_name TEXT,"
    "  groups TEXT NOT NULL DEFAULT '',"
    "  sub INTEGER NOT NULL DEFAULT 0,"
    "  ask INTEGER NOT NULL DEFAULT 0,"
    "  approved INTEGER NOT NULL DEFAULT 0,"
    "  removed INTEGER NOT NULL DEFAULT 0,"
    "  ver INTEGER NOT NULL,"
    "  PRIMARY KEY (domain, name, contact),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX im_roster_ver ON im_roster(domain, name, ver);"
    "CREATE TABLE im_roster_version ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  ver INTEGER NOT NULL,"
    "  PRIMARY KEY (domain, name),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE im_pending ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  contact TEXT NOT NULL,"
    "  stanza TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY (domain, name, contact),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE im_offline ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  sender TEXT NOT NULL,"
    "  stamp INTEGER NOT NULL,"
    "  stanza TEXT NOT NULL,"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ");"
    "CREATE INDEX im_offline_account ON im_offline(domain, name, id);"
    "CREATE TABLE im_blocklist ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  jid TEXT NOT NULL,"
    "  PRIMARY KEY (domain, name, jid),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE im_last ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  stamp INTEGER NOT NULL,"
    "  status TEXT,"
    "  PRIMARY KEY (domain, name),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;",
};

STORE_AREA(im, migrations);

#define ITEM_COLS "contact, item_name, groups, sub, ask, approved, removed, ver"

static const char SQL_ROSTER_ALL[] =
    "SELECT " ITEM_COLS " FROM im_roster WHERE domain = ?1 AND name = ?2 AND removed = 0"
    " ORDER BY contact";
static const char SQL_ROSTER_SINCE[] =
    "SELECT " ITEM_COLS " FROM im_roster WHERE domain = ?1 AND name = ?2 AND ver > ?3"
    " ORDER BY ver";
static const char SQL_ROSTER_GET[] =
    "SELECT " ITEM_COLS " FROM im_roster WHERE domain = ?1 AND name = ?2 AND contact = ?3"
    " AND removed = 0";
static const char SQL_VER_BUMP[] =
    "INSERT INTO im_roster_version(domain, name, ver) VALUES (?1, ?2, 1)"
    " ON CONFLICT(domain, name) DO UPDATE SET ver = im_roster_version.ver + 1";
static const char SQL_VER_GET[] =
    "SELECT ver FROM im_roster_version WHERE domain = ?1 AND name = ?2";
static const char SQL_ROSTER_PUT[] =
    "INSERT INTO im_roster(domain, name, contact, item_name, groups, sub, ask, approved, removed,"
    " ver) VALUES (?1, ?2, ?3, NULLIF(?4, char(1)), ?5, ?6, ?7, ?8, 0, ?9)"
    " ON CONFLICT(domain, name, contact) DO UPDATE SET item_name = excluded.item_name,"
    " groups = excluded.groups, sub = excluded.sub, ask = excluded.ask,"
    " approved = excluded.approved, removed = 0, ver = excluded.ver";
static const char SQL_ROSTER_REMOVE[] =
    "UPDATE im_roster SET removed = 1, sub = 0, ask = 0, approved = 0, item_name = NULL,"
    " groups = '', ver = ?4 WHERE domain = ?1 AND name = ?2 AND contact = ?3 AND removed = 0";
static const char SQL_ROSTER_EXISTS[] =
    "SELECT 1 FROM im_roster WHERE domain = ?1 AND name = ?2 AND contact = ?3 AND removed = 0";
static const char SQL_ROSTER_COUNT[] =
    "SELECT count(*) FROM im_roster WHERE domain = ?1 AND name = ?2 AND removed = 0";

static const char SQL_PENDING_SET[] =
    "INSERT INTO im_pending(domain, name, contact, stanza, seq) VALUES (?1, ?2, ?3, ?4,"
    " (SELECT coalesce(max(seq), 0) + 1 FROM im_pending WHERE domain = ?1 AND name = ?2))"
    " ON CONFLICT(domain, name, contact) DO UPDATE SET stanza = excluded.stanza";
static const char SQL_PENDING_GET[] =
    "SELECT stanza FROM im_pending WHERE domain = ?1 AND name = ?2 AND contact = ?3";
static const char SQL_PENDING_DEL[] =
    "DELETE FROM im_pending WHERE domain = ?1 AND name = ?2 AND contact = ?3";
static const char SQL_PENDING_LIST[] =
    "SELECT contact, stanza FROM im_pending WHERE domain = ?1 AND name = ?2 ORDER BY seq";

static const char SQL_OFFLINE_ADD[] =
    "INSERT INTO im_offline(domain, name, sender, stamp, stanza) SELECT ?1, ?2, ?3, ?4, ?5"
    " WHERE (SELECT count(*) FROM im_offline WHERE domain = ?1 AND name = ?2)"
    " < CAST(?6 AS INTEGER)";
static const char SQL_OFFLINE_LIST[] =
    "SELECT id, stamp, stanza FROM im_offline WHERE domain = ?1 AND name = ?2 ORDER BY id";
static const char SQL_OFFLINE_DEL[] = "DELETE FROM im_offline WHERE id = ?1";
static const char SQL_OFFLINE_COUNT[] =
    "SELECT count(*) FROM im_offline WHERE domain = ?1 AND name = ?2";

static const char SQL_BLOCK_ADD[] =
    "INSERT OR IGNORE INTO im_blocklist(domain, name, jid) VALUES (?1, ?2, ?3)";
static const char SQL_BLOCK_DEL[] =
    "DELETE FROM im_blocklist WHERE domain = ?1 AND name = ?2 AND jid = ?3";
static const char SQL_BLOCK_CLEAR[] = "DELETE FROM im_blocklist WHERE domain = ?1 AND name = ?2";
static const char SQL_BLOCK_LIST[] =
    "SELECT jid FROM im_blocklist WHERE domain = ?1 AND name = ?2 ORDER BY jid";
static const char SQL_BLOCK_COUNT[] =
    "SELECT count(*) FROM im_blocklist WHERE domain = ?1 AND name = ?2";

static const char SQL_LAST_SET[] =
    "INSERT INTO im_last(domain, name, stamp, status) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT(domain, name) DO UPDATE SET stamp = excluded.stamp, status = excluded.status";
static const char SQL_LAST_GET[] =
    "SELECT stamp, status FROM im_last WHERE domain = ?1 AND name = ?2";

struct item_ctx {
    store_roster_fn *fn;
    void *ud;
};

static int item_row(void *ud, const char *const *cols, int ncols)
{
    struct item_ctx *ic = ud;
    if (ncols < 8) {
        return ERR_STORE;
    }
    struct store_roster_item it = {
        .contact = cols[0],
        .name = cols[1],
        .groups = cols[2] ? cols[2] : "",
        .sub = cols[3] ? (int)strtol(cols[3], NULL, 10) : 0,
        .ask = cols[4] && strcmp(cols[4], "0") != 0,
        .approved = cols[5] && strcmp(cols[5], "0") != 0,
        .removed = cols[6] && strcmp(cols[6], "0") != 0,
        .ver = cols[7] ? strtoll(cols[7], NULL, 10) : 0,
    };
    return ic->fn(ic->ud, &it);
}

int store_im_roster_list(struct store *st, const char *domain, const char *name, long long since,
                         store_roster_fn *fn, void *ud)
{
    struct item_ctx ic = { fn, ud };
    if (since < 0) {
        return store__query_rows(st, SQL_ROSTER_ALL, STORE_ARGS(domain, name), item_row, &ic);
    }
    char num[32];
    snprintf(num, sizeof(num), "%lld", since);
    return store__query_rows(st, SQL_ROSTER_SINCE, STORE_ARGS(domain, name, num), item_row, &ic);
}

struct found_ctx {
    struct item_ctx ic;
    bool found;
};

static int found_row(void *ud, const char *const *cols, int ncols)
{
    struct found_ctx *fc = ud;
    fc->found = true;
    return item_row(&fc->ic, cols, ncols);
}

int store_im_roster_get(struct store *st, const char *domain, const char *name, const char *contact,
                        store_roster_fn *fn, void *ud)
{
    struct found_ctx fc = { { fn, ud }, false };
    int rc =
        store__query_rows(st, SQL_ROSTER_GET, STORE_ARGS(domain, name, contact), found_row, &fc);
    if (rc == 0 && !fc.found) {
        rc = ERR_NOTFOUND;
    }
    return rc;
}

static int bump_version(struct store *st, const char *domain, const char *name, long long *ver)
{
    int rc = store__run(st, SQL_VER_BUMP, STORE_ARGS(domain, name), NULL);
    if (rc == 0) {
        rc = store__query_one(st, SQL_VER_GET, STORE_ARGS(domain, name), NULL, ver);
    }
    return rc;
}

static int roster_put(struct store *st, const char *domain, const char *name,
                      const struct store_roster_item *it, long long *ver)
{
    long long v = 0;
    int rc = bump_version(st, domain, name, &v);
    if (rc != 0) {
        return rc;
    }
    char sub[8], ask[4], appr[4], num[32];
    snprintf(sub, sizeof(sub), "%d", it->sub & 3);
    snprintf(ask, sizeof(ask), "%d", it->ask ? 1 : 0);
    snprintf(appr, sizeof(appr), "%d", it->approved ? 1 : 0);
    snprintf(num, sizeof(num), "%lld", v);
    /* char(1) stands for SQL NULL: the arguments are all bound as text. */
    rc = store__run(st, SQL_ROSTER_PUT,
                    STORE_ARGS(domain, name, it->contact, it->name ? it->name : "\x01",
                               it->groups ? it->groups : "", sub, ask, appr, num),
                    NULL);
    if (rc == 0 && ver) {
        *ver = v;
    }
    return rc;
}

/* The version bump and the item change go together or not at all. */
int store_im_roster_put(struct store *st, const char *domain, const char *name,
                        const struct store_roster_item *it, long long *ver)
{
    int rc = store_group_begin(st);
    if (rc == 0) {
        rc = store_group_end(st, roster_put(st, domain, name, it, ver));
    }
    return rc;
}

static int roster_remove(struct store *st, const char *domain, const char *name,
                         const char *contact, long long *ver)
{
    int rc = store__query_one(st, SQL_ROSTER_EXISTS, STORE_ARGS(domain, name, contact), NULL, NULL);
    if (rc != 0) {
        return rc;
    }
    long long v = 0;
    rc = bump_version(st, domain, name, &v);
    if (rc != 0) {
        return rc;
    }
    char num[32];
    snprintf(num, sizeof(num), "%lld", v);
    rc = store__run(st, SQL_ROSTER_REMOVE, STORE_ARGS(domain, name, contact, num), NULL);
    if (rc == 0 && ver) {
        *ver = v;
    }
    return rc;
}

int store_im_roster_remove(struct store *st, const char *domain, const char *name,
                           const char *contact, long long *ver)
{
    int rc = store_group_begin(st);
    if (rc == 0) {
        rc = store_group_end(st, roster_remove(st, domain, name, contact, ver));
    }
    return rc;
}

static int count_of(struct store *st, const char *sql, const char *domain, const char *name)
{
    long long n = 0;
    int rc = store__query_one(st, sql, STORE_ARGS(domain, name), NULL, &n);
    return rc != 0 ? rc : (int)n;
}

int store_im_roster_count(struct store *st, const char *domain, const char *name)
{
    return count_of(st, SQL_ROSTER_COUNT, domain, name);
}

int store_im_roster_version(struct store *st, const char *domain, const char *name, long long *ver)
{
    *ver = 0;
    int rc = store__query_one(st, SQL_VER_GET, STORE_ARGS(domain, name), NULL, ver);
    return rc == ERR_NOTFOUND ? 0 : rc;
}

int store_im_pending_set(struct store *st, const char *domain, const char *name,
                         const char *contact, const char *stanza)
{
    return store__run(st, SQL_PENDING_SET, STORE_ARGS(domain, name, contact, stanza), NULL);
}

int store_im_pending_get(struct store *st, const char *domain, const char *name,
                         const char *contact, struct buf *stanza)
{
    return store__query_one(st, SQL_PENDING_GET, STORE_ARGS(domain, name, contact), stanza, NULL);
}

int store_im_pending_remove(struct store *st, const char *domain, const char *name,
                            const char *contact, bool *removed)
{
    int changes = 0;
    int rc = store__run(st, SQL_PENDING_DEL, STORE_ARGS(domain, name, contact), &changes);
    if (removed) {
        *removed = rc == 0 && changes > 0;
    }
    return rc;
}

struct kv_ctx {
    store_row_fn *fn;
    void *ud;
};

static int kv_row(void *ud, const char *const *cols, int ncols)
{
    struct kv_ctx *kc = ud;
    return kc->fn(kc->ud, cols[0], ncols > 1 ? cols[1] : NULL);
}

int store_im_pending_list(struct store *st, const char *domain, const char *name, store_row_fn *fn,
                          void *ud)
{
    struct kv_ctx kc = { fn, ud };
    return store__query_rows(st, SQL_PENDING_LIST, STORE_ARGS(domain, name), kv_row, &kc);
}

int store_im_offline_add(struct store *st, const char *domain, const char *name, const char *sender,
                         long long stamp, const char *stanza, int quota)
{
    char ts[32], q[32];
    snprintf(ts, sizeof(ts), "%lld", stamp);
    snprintf(q, sizeof(q), "%d", quota);
    int changes = 0;
    int rc =
        store__run(st, SQL_OFFLINE_ADD, STORE_ARGS(domain, name, sender, ts, stanza, q), &changes);
    if (rc == 0 && changes == 0) {
        rc = ERR_LIMIT;
    }
    return rc;
}

struct offline_ctx {
    store_offline_fn *fn;
    void *ud;
};

static int offline_row(void *ud, const char *const *cols, int ncols)
{
    struct offline_ctx *oc = ud;
    if (ncols < 3 || cols[0] == NULL || cols[2] == NULL) {
        return ERR_STORE;
    }
    return oc->fn(oc->ud, strtoll(cols[0], NULL, 10), cols[1] ? strtoll(cols[1], NULL, 10) : 0,
                  cols[2]);
}

int store_im_offline_list(struct store *st, const char *domain, const char *name,
                          store_offline_fn *fn, void *ud)
{
    struct offline_ctx oc = { fn, ud };
    return store__query_rows(st, SQL_OFFLINE_LIST, STORE_ARGS(domain, name), offline_row, &oc);
}

int store_im_offline_remove(struct store *st, long long id)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", id);
    return store__run(st, SQL_OFFLINE_DEL, STORE_ARGS(num), NULL);
}

int store_im_offline_count(struct store *st, const char *domain, const char *name)
{
    return count_of(st, SQL_OFFLINE_COUNT, domain, name);
}

int store_im_block_add(struct store *st, const char *domain, const char *name, const char *jid)
{
    return store__run(st, SQL_BLOCK_ADD, STORE_ARGS(domain, name, jid), NULL);
}

int store_im_block_remove(struct store *st, const char *domain, const char *name, const char *jid)
{
    return store__run(st, SQL_BLOCK_DEL, STORE_ARGS(domain, name, jid), NULL);
}

int store_im_block_clear(struct store *st, const char *domain, const char *name)
{
    return store__run(st, SQL_BLOCK_CLEAR, STORE_ARGS(domain, name), NULL);
}

int store_im_block_list(struct store *st, const char *domain, const char *name, store_row_fn *fn,
                        void *ud)
{
    struct kv_ctx kc = { fn, ud };
    return store__query_rows(st, SQL_BLOCK_LIST, STORE_ARGS(domain, name), kv_row, &kc);
}

int store_im_block_count(struct store *st, const char *domain, const char *name)
{
    return count_of(st, SQL_BLOCK_COUNT, domain, name);
}

int store_im_last_set(struct store *st, const char *domain, const char *name, long long stamp,
                      const char *status)
{
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", stamp);
    return store__run(st, SQL_LAST_SET, STORE_ARGS(domain, name, ts, status ? status : ""), NULL);
}

struct last_ctx {
    long long *stamp;
    struct buf *status;
    bool found;
};

static int last_row(void *ud, const char *const *cols, int ncols)
{
    struct last_ctx *lc = ud;
    lc->found = true;
    *lc->stamp = cols[0] ? strtoll(cols[0], NULL, 10) : 0;
    if (lc->status) {
        buf_reset(lc->status);
        if (ncols > 1 && cols[1] && buf_append_c(lc->status, cols[1]) != 0) {
            return ERR_LIMIT;
        }
    }
    return 0;
}

int store_im_last_get(struct store *st, const char *domain, const char *name, long long *stamp,
                      struct buf *status)
{
    struct last_ctx lc = { stamp, status, false };
    int rc = store__query_rows(st, SQL_LAST_GET, STORE_ARGS(domain, name), last_row, &lc);
    if (rc == 0 && !lc.found) {
        rc = ERR_NOTFOUND;
    }
    return rc;
}
