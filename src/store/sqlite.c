/* sqlite.c: the SQLite (WAL) backend of store.h, with its schema migrations; each call goes to
 * the PostgreSQL backend (pg.c) instead when store.backend says so. */
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "store/pg_int.h"
#include "store/store_int.h"

#include <stdint.h>

/* Schema migrations, applied in order; migration i brings the schema to version i + 1
 * (PRAGMA user_version). Never edit a released entry: append a new one. */
static const char *const migrations[] = {
    /* v1: domains, aliases, accounts and their settings. */
    "CREATE TABLE domains ("
    "  name TEXT PRIMARY KEY NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE domain_aliases ("
    "  alias TEXT PRIMARY KEY NOT NULL,"
    "  domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX domain_aliases_domain ON domain_aliases(domain);"
    "CREATE TABLE domain_settings ("
    "  domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (domain, key)"
    ") WITHOUT ROWID;"
    "CREATE TABLE accounts ("
    "  domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  credentials TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (domain, name)"
    ") WITHOUT ROWID;"
    "CREATE TABLE account_settings ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (domain, name, key),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;",
    /* v2: schema versions of the store's areas (sqlite_<area>.c), each migrated on its own. */
    "CREATE TABLE store_schema ("
    "  area TEXT PRIMARY KEY NOT NULL,"
    "  version INTEGER NOT NULL"
    ") WITHOUT ROWID;",
};

/* The areas beyond the core tables, each in its own file with its own migrations (archive after
 * muc: it has a trigger on muc_rooms). */
/* clang-format off */
static const struct store_area *const areas[] = {
    &store_area_im,       /* sqlite_im.c */
    &store_area_services, /* sqlite_services.c */
    &store_area_register, /* sqlite_register.c */
    &store_area_muc,      /* sqlite_muc.c */
    &store_area_fast,     /* sqlite_fast.c (issue 18) */
    &store_area_archive,  /* sqlite_archive.c (issue 16) */
    &store_area_pubsub,   /* sqlite_pubsub.c (issue 14) */
    &store_area_upload,   /* sqlite_upload.c (issue 17) */
    &store_area_push,     /* sqlite_push.c (issue 15) */
    &store_area_cluster,  /* sqlite_cluster.c (issue 19) */
    &store_area_login,    /* sqlite_login.c (issue 20) */
};
/* clang-format on */
#define AREA_COUNT ((int)(sizeof(areas) / sizeof(areas[0])))

#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Every statement the store runs, prepared once per handle on first use. */
#define STMT_TABLE(X)                                                                              \
    X(DOMAIN_ADD, "INSERT INTO domains(name) SELECT ?1"                                            \
                  " WHERE NOT EXISTS (SELECT 1 FROM domain_aliases WHERE alias = ?1)")             \
    X(DOMAIN_REMOVE, "DELETE FROM domains WHERE name = ?1")                                        \
    X(DOMAIN_EXISTS, "SELECT 1 FROM domains WHERE name = ?1")                                      \
    X(DOMAIN_LIST, "SELECT name FROM domains ORDER BY name")                                       \
    X(ALIAS_ADD, "INSERT INTO domain_aliases(alias, domain) SELECT ?2, ?1"                         \
                 " WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = ?2)")                      \
    X(ALIAS_REMOVE, "DELETE FROM domain_aliases WHERE alias = ?1")                                 \
    X(ALIAS_LIST, "SELECT alias FROM domain_aliases WHERE domain = ?1 ORDER BY alias")             \
    X(DOMAIN_RESOLVE, "SELECT name FROM domains WHERE name = ?1"                                   \
                      " UNION ALL SELECT domain FROM domain_aliases WHERE alias = ?1 LIMIT 1")     \
    X(DSET_GET, "SELECT value FROM domain_settings WHERE domain = ?1 AND key = ?2")                \
    X(DSET_SET, "INSERT INTO domain_settings(domain, key, value) VALUES (?1, ?2, ?3)"              \
                " ON CONFLICT(domain, key) DO UPDATE SET value = excluded.value")                  \
    X(DSET_DEL, "DELETE FROM domain_settings WHERE domain = ?1 AND key = ?2")                      \
    X(DSET_LIST, "SELECT key, value FROM domain_settings WHERE domain = ?1 ORDER BY key")          \
    X(ACC_ADD, "INSERT INTO accounts(domain, name, credentials, created)"                          \
               " VALUES (?1, ?2, ?3, CAST(?4 AS INTEGER))")                                        \
    X(ACC_REMOVE, "DELETE FROM accounts WHERE domain = ?1 AND name = ?2")                          \
    X(ACC_EXISTS, "SELECT 1 FROM accounts WHERE domain = ?1 AND name = ?2")                        \
    X(ACC_CREDS, "SELECT credentials FROM accounts WHERE domain = ?1 AND name = ?2")               \
    X(ACC_SET_CREDS, "UPDATE accounts SET credentials = ?3 WHERE domain = ?1 AND name = ?2")       \
    X(ACC_CREATED, "SELECT created FROM accounts WHERE domain = ?1 AND name = ?2")                 \
    X(ACC_LIST, "SELECT name FROM accounts WHERE domain = ?1 ORDER BY name")                       \
    X(ACC_COUNT, "SELECT count(*) FROM accounts WHERE domain = ?1")                                \
    X(ASET_GET, "SELECT value FROM account_settings WHERE domain = ?1 AND name = ?2 AND key = ?3") \
    X(ASET_SET, "INSERT INTO account_settings(domain, name, key, value) VALUES (?1, ?2, ?3, ?4)"   \
                " ON CONFLICT(domain, name, key) DO UPDATE SET value = excluded.value")            \
    X(ASET_DEL, "DELETE FROM account_settings WHERE domain = ?1 AND name = ?2 AND key = ?3")       \
    X(ASET_LIST, "SELECT key, value FROM account_settings WHERE domain = ?1 AND name = ?2"         \
                 " ORDER BY key")

enum stmt_id {
#define STMT_ENUM(name, sql) S_##name,
    STMT_TABLE(STMT_ENUM)
#undef STMT_ENUM
        S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
#define STMT_SQL(name, sql) [S_##name] = sql,
    STMT_TABLE(STMT_SQL)
#undef STMT_SQL
};

#define STORE_CACHE_SLOTS 512

struct store {
    sqlite3 *db;
    struct pg *pg; /* the PostgreSQL connection instead of `db` (store.backend = postgresql) */
    /* Every statement, prepared once per handle, keyed by the address of its SQL text. */
    struct {
        const char *sql;
        sqlite3_stmt *s;
    } cache[STORE_CACHE_SLOTS];
    char err[256];
    int group_depth;    /* open store_group_begin() calls */
    bool group_owns_tx; /* the outermost group began the transaction (BEGIN IMMEDIATE) */
    bool migrating;     /* the fault hook leaves the schema migrations alone */
};

/* Arguments of a statement: a compound literal and its length. */
#define ARGS(...)                                                                                  \
    (const char *const[]){ __VA_ARGS__ },                                                          \
        (int)(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

static void set_err(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(struct store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof(st->err), fmt, ap);
    va_end(ap);
}

/* SQLITE_FULL (the disk, or max_page_count) is ERR_NOSPACE: callers answer "try later". */
static int db_code(struct store *st)
{
    return (sqlite3_errcode(st->db) & 0xff) == SQLITE_FULL ? ERR_NOSPACE : ERR_STORE;
}

static int db_fail(struct store *st, const char *what)
{
    set_err(st, "%s: %s", what, sqlite3_errmsg(st->db));
    return db_code(st);
}

/* The injected failure of a write to `target`, if the fault hook says so (fault.c). */
static int injected(struct store *st, const char *target)
{
    int code = st->migrating ? 0 : store__fault(target);
    if (code != 0) {
        set_err(st, "injected fault on %s: %s", target[0] ? target : "write",
                code == ERR_NOSPACE ? "database or disk is full" : "disk I/O error");
    }
    return code;
}

static void finish(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Runs a statement that returns no rows (see store__run for the error codes). */
static int run(struct store *st, enum stmt_id id, const char *const *args, int n, int *changes)
{
    return store__run(st, stmt_sql[id], args, n, changes);
}

/* Runs a query of one row (see store__query_one). */
static int query_one(struct store *st, enum stmt_id id, const char *const *args, int n,
                     struct buf *out, long long *num)
{
    return store__query_one(st, stmt_sql[id], args, n, out, num);
}

/* 1 if the query returns a row, 0 if not, or ERR_STORE. */
static int query_exists(struct store *st, enum stmt_id id, const char *const *args, int n)
{
    int rc = query_one(st, id, args, n, NULL, NULL);
    if (rc == ERR_NOTFOUND) {
        return 0;
    }
    return rc == 0 ? 1 : rc;
}

struct list_ctx {
    store_row_fn *fn;
    void *ud;
};

static int list_row(void *ud, const char *const *cols, int ncols)
{
    struct list_ctx *lc = ud;
    return lc->fn(lc->ud, cols[0], ncols > 1 ? cols[1] : NULL);
}

/* Reads all rows (one or two text columns) first, then calls `fn` for each, so that `fn` may use
 * the store (and this very statement) again. */
static int query_list(struct store *st, enum stmt_id id, const char *const *args, int n,
                      store_row_fn *fn, void *ud)
{
    struct list_ctx lc = { .fn = fn, .ud = ud };
    return store__query_rows(st, stmt_sql[id], args, n, list_row, &lc);
}

static int exec_sql(struct store *st, const char *sql, const char *what)
{
    if (st->pg != NULL) {
        return pg__exec(st->pg, sql, what);
    }
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(st, "%s: %s", what, msg != NULL ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return db_code(st);
    }
    return 0;
}

static int read_user_version(struct store *st, int *version)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK) {
        return db_fail(st, "schema version");
    }
    int ret = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *version = sqlite3_column_int(s, 0);
    } else {
        ret = db_fail(st, "schema version");
    }
    sqlite3_finalize(s);
    return ret;
}

/* Switches to WAL. Changing the journal mode needs a moment of exclusive access, which another
 * handle opening the same new file at the same time may hold, so retry while busy. */
static int set_wal(struct store *st)
{
    for (int attempt = 0; attempt < 500; attempt++) {
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(s);
        }
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(s, 0);
            bool ok = mode != NULL && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0);
            sqlite3_finalize(s);
            if (!ok) {
                set_err(st, "cannot enable WAL (journal mode %s)", mode ? mode : "?");
                return ERR_STORE;
            }
            return 0;
        }
        int code = sqlite3_errcode(st->db) & 0xff;
        sqlite3_finalize(s);
        if (code != SQLITE_BUSY && code != SQLITE_LOCKED) {
            return db_fail(st, "journal_mode");
        }
        sqlite3_sleep(10);
    }
    return db_fail(st, "journal_mode");
}

static const char SQL_AREA_VERSION[] = "SELECT version FROM store_schema WHERE area = ?1";
static const char SQL_AREA_SET[] = "INSERT INTO store_schema(area, version) VALUES (?1, ?2)"
                                   " ON CONFLICT(area) DO UPDATE SET version = excluded.version";

/* Brings one area to its newest schema (inside migrate's transaction). */
static int migrate_area(struct store *st, const struct store_area *area)
{
    long long version = 0;
    int rc = store__query_one(st, SQL_AREA_VERSION, STORE_ARGS(area->name), NULL, &version);
    if (rc != 0 && rc != ERR_NOTFOUND) {
        return rc;
    }
    if (version > area->count) {
        set_err(st, "store area %s has schema version %lld, newer than this server's (%d)",
                area->name, version, area->count);
        return ERR_STORE;
    }
    for (int v = (int)version; v < area->count; v++) {
        char what[96];
        char num[16];
        snprintf(what, sizeof(what), "migration of %s to version %d", area->name, v + 1);
        snprintf(num, sizeof(num), "%d", v + 1);
        if (exec_sql(st, area->migrations[v], what) != 0 ||
            store__run(st, SQL_AREA_SET, STORE_ARGS(area->name, num), NULL) != 0) {
            return ERR_STORE;
        }
    }
    return 0;
}

/* Applies the missing migrations in one write transaction: a second handle opening at the same
 * moment waits on BEGIN IMMEDIATE and then finds the schema current. */
static int migrate(struct store *st)
{
    int version = 0;
    st->migrating = true;
    if (exec_sql(st, "BEGIN IMMEDIATE", "migration") != 0) {
        return ERR_STORE;
    }
    if (read_user_version(st, &version) != 0) {
        goto fail;
    }
    if (version > MIGRATION_COUNT) {
        set_err(st, "database schema version %d is newer than this server's (%d)", version,
                MIGRATION_COUNT);
        goto fail;
    }
    for (int v = version; v < MIGRATION_COUNT; v++) {
        char what[64];
        char pragma[64];
        snprintf(what, sizeof(what), "migration to schema version %d", v + 1);
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (exec_sql(st, migrations[v], what) != 0 || exec_sql(st, pragma, what) != 0) {
            goto fail;
        }
    }
    for (int a = 0; a < AREA_COUNT; a++) {
        if (migrate_area(st, areas[a]) != 0) {
            goto fail;
        }
    }
    if (exec_sql(st, "COMMIT", "migration") != 0) {
        goto fail;
    }
    st->migrating = false;
    return 0;

fail:
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    st->migrating = false;
    return ERR_STORE;
}

static void copy_err(char *err, size_t errlen, const char *msg)
{
    if (errlen > 0) {
        snprintf(err, errlen, "%s", msg);
    }
}

static enum store_backend g_backend = STORE_BACKEND_SQLITE;
static char g_conninfo[1024];

void store_use_backend(enum store_backend backend, const char *conninfo)
{
    g_backend = backend;
    snprintf(g_conninfo, sizeof(g_conninfo), "%s", conninfo != NULL ? conninfo : "");
}

void store_pg_timeout(int seconds)
{
    pg__set_timeout(seconds);
}

bool store_is_sqlite(void)
{
    return g_backend == STORE_BACKEND_SQLITE;
}

int store_pg_has_schema(char *err, size_t errlen)
{
    struct pg *pg = pg__open(g_conninfo, err, errlen);
    if (pg == NULL) {
        return ERR_STORE;
    }
    int rc = pg__has_schema(pg);
    pg__close(pg);
    return rc;
}

/* store_open() on PostgreSQL: a connection, then the migrations. */
static int open_pg(struct store *st)
{
    st->pg = pg__open(g_conninfo, st->err, sizeof(st->err));
    if (st->pg == NULL) {
        return ERR_STORE;
    }
    st->migrating = true;
    int rc = pg__migrate(st->pg, migrations, MIGRATION_COUNT, areas, AREA_COUNT);
    st->migrating = false;
    return rc;
}

static pthread_once_t g_fault_once = PTHREAD_ONCE_INIT;
static char g_fault_err[256];

static void fault_init(void)
{
    store__fault_init_env(g_fault_err, sizeof(g_fault_err));
    store__sqlite_global();
}

struct store *store_open(const char *path, char *err, size_t errlen)
{
    pthread_once(&g_fault_once, fault_init);
    if (g_fault_err[0] != '\0') {
        copy_err(err, errlen, g_fault_err);
        return NULL;
    }
    struct store *st = xcalloc(1, sizeof(*st));
    if (g_backend == STORE_BACKEND_POSTGRESQL) {
        if (open_pg(st) != 0) {
            goto fail;
        }
        st->err[0] = '\0';
        return st;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        if (st->db != NULL) {
            db_fail(st, path);
        } else {
            set_err(st, "%s: cannot open database", path);
        }
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, 5000);
    if (set_wal(st) != 0 || exec_sql(st, "PRAGMA synchronous=NORMAL", "synchronous") != 0 ||
        exec_sql(st, "PRAGMA foreign_keys=ON", "foreign_keys") != 0 || migrate(st) != 0) {
        goto fail;
    }
    st->err[0] = '\0';
    return st;

fail:
    copy_err(err, errlen, st->err);
    store_close(st);
    return NULL;
}

void store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    for (int i = 0; i < STORE_CACHE_SLOTS; i++) {
        sqlite3_finalize(st->cache[i].s);
    }
    sqlite3_close(st->db);
    pg__close(st->pg);
    free(st);
}

void store_release_memory(struct store *st)
{
    if (st->pg != NULL) {
        return; /* the server's memory, not ours */
    }
    sqlite3_db_release_memory(st->db);
}

int store_schema_version(struct store *st)
{
    if (st->pg != NULL) {
        return pg__schema_version(st->pg);
    }
    int version = 0;
    int rc = read_user_version(st, &version);
    return rc != 0 ? rc : version;
}

const char *store_last_error(struct store *st)
{
    return st->err;
}

int store_begin(struct store *st)
{
    return exec_sql(st, "BEGIN IMMEDIATE", "begin");
}

int store_commit(struct store *st)
{
    int rc = injected(st, "commit");
    if (rc == 0 && st->pg != NULL && pg__tx_failed(st->pg)) {
        /* PostgreSQL would turn this COMMIT into a ROLLBACK without an error. */
        set_err(st, "commit: the transaction failed earlier and was rolled back");
        exec_sql(st, "ROLLBACK", "rollback");
        return ERR_STORE;
    }
    return rc != 0 ? rc : exec_sql(st, "COMMIT", "commit");
}

/* True when no transaction is open on the handle. */
static bool autocommit(struct store *st)
{
    return st->pg != NULL ? pg__idle(st->pg) : sqlite3_get_autocommit(st->db) != 0;
}

/* A statement whose failure is not reported (undoing after a failure). */
static void exec_quiet(struct store *st, const char *sql)
{
    char keep[sizeof(st->err)];
    memcpy(keep, st->err, sizeof(keep));
    exec_sql(st, sql, "undo");
    memcpy(st->err, keep, sizeof(keep));
}

int store_group_begin(struct store *st)
{
    bool outer = st->group_depth == 0 && autocommit(st);
    int rc = exec_sql(st, outer ? "BEGIN IMMEDIATE" : "SAVEPOINT store_group", "group");
    if (rc == 0) {
        if (st->group_depth == 0) {
            st->group_owns_tx = outer;
        }
        st->group_depth++;
    }
    return rc;
}

/* Undoes the innermost group (or, for the outermost group that began it, the transaction). */
static void group_undo(struct store *st, bool owner)
{
    if (owner) {
        if (!autocommit(st)) {
            exec_quiet(st, "ROLLBACK");
        }
    } else {
        exec_quiet(st, "ROLLBACK TO store_group; RELEASE store_group");
    }
}

int store_group_end(struct store *st, int rc)
{
    bool owner = st->group_depth == 1 && st->group_owns_tx;
    st->group_depth--;
    if (rc == 0) {
        rc = owner ? store_commit(st) : exec_sql(st, "RELEASE store_group", "group");
    }
    if (rc != 0) {
        /* Keep the failure's text: the rollback must not replace it. */
        char why[sizeof(st->err)];
        memcpy(why, st->err, sizeof(why));
        group_undo(st, owner);
        memcpy(st->err, why, sizeof(why));
    }
    return rc;
}

int store_rollback(struct store *st)
{
    return exec_sql(st, "ROLLBACK", "rollback");
}

/* Turns "0 rows changed" into `code` with a message. */
static int changed_or(struct store *st, int rc, int changes, int code, const char *msg)
{
    if (rc == 0 && changes == 0) {
        set_err(st, "%s", msg);
        return code;
    }
    return rc;
}

/* ERR_NOTFOUND unless `domain` exists (for calls whose statement would not notice). */
static int need_domain(struct store *st, const char *domain)
{
    int rc = query_exists(st, S_DOMAIN_EXISTS, ARGS(domain));
    if (rc == 0) {
        set_err(st, "no domain %s", domain);
        return ERR_NOTFOUND;
    }
    return rc < 0 ? rc : 0;
}

static int need_account(struct store *st, const char *domain, const char *name)
{
    int rc = query_exists(st, S_ACC_EXISTS, ARGS(domain, name));
    if (rc == 0) {
        set_err(st, "no account %s@%s", name, domain);
        return ERR_NOTFOUND;
    }
    return rc < 0 ? rc : 0;
}

int store_domain_add(struct store *st, const char *domain)
{
    int changes = 0;
    int rc = run(st, S_DOMAIN_ADD, ARGS(domain), &changes);
    return changed_or(st, rc, changes, ERR_EXISTS, "name taken by an alias");
}

int store_domain_remove(struct store *st, const char *domain)
{
    int changes = 0;
    int rc = run(st, S_DOMAIN_REMOVE, ARGS(domain), &changes);
    return changed_or(st, rc, changes, ERR_NOTFOUND, "no such domain");
}

int store_domain_exists(struct store *st, const char *domain)
{
    return query_exists(st, S_DOMAIN_EXISTS, ARGS(domain));
}

int store_domain_list(struct store *st, store_row_fn *fn, void *ud)
{
    return query_list(st, S_DOMAIN_LIST, NULL, 0, fn, ud);
}

int store_alias_add(struct store *st, const char *domain, const char *alias)
{
    int changes = 0;
    int rc = run(st, S_ALIAS_ADD, ARGS(domain, alias), &changes);
    return changed_or(st, rc, changes, ERR_EXISTS, "name taken by a domain");
}

int store_alias_remove(struct store *st, const char *alias)
{
    int changes = 0;
    int rc = run(st, S_ALIAS_REMOVE, ARGS(alias), &changes);
    return changed_or(st, rc, changes, ERR_NOTFOUND, "no such alias");
}

int store_alias_list(struct store *st, const char *domain, store_row_fn *fn, void *ud)
{
    int rc = need_domain(st, domain);
    return rc != 0 ? rc : query_list(st, S_ALIAS_LIST, ARGS(domain), fn, ud);
}

int store_domain_resolve(struct store *st, const char *name, struct buf *domain)
{
    return query_one(st, S_DOMAIN_RESOLVE, ARGS(name), domain, NULL);
}

int store_domain_setting_get(struct store *st, const char *domain, const char *key,
                             struct buf *value)
{
    return query_one(st, S_DSET_GET, ARGS(domain, key), value, NULL);
}

int store_domain_setting_set(struct store *st, const char *domain, const char *key,
                             const char *value)
{
    if (value != NULL) {
        return run(st, S_DSET_SET, ARGS(domain, key, value), NULL);
    }
    int rc = need_domain(st, domain);
    return rc != 0 ? rc : run(st, S_DSET_DEL, ARGS(domain, key), NULL);
}

int store_domain_settings_list(struct store *st, const char *domain, store_row_fn *fn, void *ud)
{
    int rc = need_domain(st, domain);
    return rc != 0 ? rc : query_list(st, S_DSET_LIST, ARGS(domain), fn, ud);
}

int store_account_add(struct store *st, const char *domain, const char *name,
                      const char *credentials)
{
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    return run(st, S_ACC_ADD, ARGS(domain, name, credentials, now), NULL);
}

int store_account_remove(struct store *st, const char *domain, const char *name)
{
    int changes = 0;
    int rc = run(st, S_ACC_REMOVE, ARGS(domain, name), &changes);
    return changed_or(st, rc, changes, ERR_NOTFOUND, "no such account");
}

int store_account_exists(struct store *st, const char *domain, const char *name)
{
    return query_exists(st, S_ACC_EXISTS, ARGS(domain, name));
}

int store_account_credentials(struct store *st, const char *domain, const char *name,
                              struct buf *out)
{
    return query_one(st, S_ACC_CREDS, ARGS(domain, name), out, NULL);
}

int store_account_set_credentials(struct store *st, const char *domain, const char *name,
                                  const char *credentials)
{
    int changes = 0;
    int rc = run(st, S_ACC_SET_CREDS, ARGS(domain, name, credentials), &changes);
    return changed_or(st, rc, changes, ERR_NOTFOUND, "no such account");
}

int store_account_created(struct store *st, const char *domain, const char *name, long long *out)
{
    return query_one(st, S_ACC_CREATED, ARGS(domain, name), NULL, out);
}

int store_account_list(struct store *st, const char *domain, store_row_fn *fn, void *ud)
{
    int rc = need_domain(st, domain);
    return rc != 0 ? rc : query_list(st, S_ACC_LIST, ARGS(domain), fn, ud);
}

int store_account_count(struct store *st, const char *domain)
{
    long long n = 0;
    int rc = need_domain(st, domain);
    if (rc == 0) {
        rc = query_one(st, S_ACC_COUNT, ARGS(domain), NULL, &n);
    }
    return rc != 0 ? rc : (int)n;
}

int store_account_setting_get(struct store *st, const char *domain, const char *name,
                              const char *key, struct buf *value)
{
    return query_one(st, S_ASET_GET, ARGS(domain, name, key), value, NULL);
}

int store_account_setting_set(struct store *st, const char *domain, const char *name,
                              const char *key, const char *value)
{
    if (value != NULL) {
        return run(st, S_ASET_SET, ARGS(domain, name, key, value), NULL);
    }
    int rc = need_account(st, domain, name);
    return rc != 0 ? rc : run(st, S_ASET_DEL, ARGS(domain, name, key), NULL);
}

int store_account_settings_list(struct store *st, const char *domain, const char *name,
                                store_row_fn *fn, void *ud)
{
    int rc = need_account(st, domain, name);
    return rc != 0 ? rc : query_list(st, S_ASET_LIST, ARGS(domain, name), fn, ud);
}

/* ---- the area files' door (store_int.h) ------------------------------------------------- */

sqlite3 *store__db(struct store *st)
{
    return st->db;
}

bool store__is_postgresql(struct store *st)
{
    return st->pg != NULL;
}

int store__fail(struct store *st, const char *what)
{
    if (st->pg != NULL) {
        set_err(st, "%s failed", what);
        return ERR_STORE;
    }
    return db_fail(st, what);
}

sqlite3_stmt *store__prepare(struct store *st, const char *sql, const char *const *args, int n)
{
    if (st->pg != NULL) {
        set_err(st, "a raw SQLite statement on PostgreSQL: use store__run/store__query_*");
        return NULL;
    }
    size_t h = ((uintptr_t)sql >> 3) % STORE_CACHE_SLOTS;
    for (size_t probe = 0; probe < STORE_CACHE_SLOTS; probe++) {
        size_t i = (h + probe) % STORE_CACHE_SLOTS;
        if (st->cache[i].sql == sql || st->cache[i].sql == NULL) {
            if (st->cache[i].sql == NULL) {
                sqlite3_stmt *s = NULL;
                if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
                    SQLITE_OK) {
                    db_fail(st, "prepare");
                    return NULL;
                }
                st->cache[i].sql = sql;
                st->cache[i].s = s;
            }
            sqlite3_stmt *s = st->cache[i].s;
            for (int a = 0; a < n; a++) {
                if (sqlite3_bind_text(s, a + 1, args[a], -1, SQLITE_STATIC) != SQLITE_OK) {
                    db_fail(st, "bind");
                    sqlite3_clear_bindings(s);
                    return NULL;
                }
            }
            return s;
        }
    }
    set_err(st, "statement cache full");
    return NULL;
}

void store__finish(sqlite3_stmt *s)
{
    finish(s);
}

static int step_write(struct store *st, sqlite3_stmt *s, int *changes)
{
    int rc = sqlite3_step(s);
    int ext = sqlite3_extended_errcode(st->db);
    int ret = 0;
    if (rc != SQLITE_DONE) {
        if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE) {
            set_err(st, "already exists");
            ret = ERR_EXISTS;
        } else if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) {
            set_err(st, "not found");
            ret = ERR_NOTFOUND;
        } else {
            ret = db_fail(st, "write");
        }
    } else if (changes != NULL) {
        *changes = sqlite3_changes(st->db);
    }
    finish(s);
    return ret;
}

int store__run(struct store *st, const char *sql, const char *const *args, int n, int *changes)
{
    if (store__fault_on()) {
        char target[64];
        store__write_target(sql, target, sizeof(target));
        int fault = injected(st, target);
        if (fault != 0) {
            return fault;
        }
    }
    if (st->pg != NULL) {
        return pg__run(st->pg, sql, args, n, changes);
    }
    sqlite3_stmt *s = store__prepare(st, sql, args, n);
    return s ? step_write(st, s, changes) : ERR_STORE;
}

int store__query_one(struct store *st, const char *sql, const char *const *args, int n,
                     struct buf *out, long long *num)
{
    if (st->pg != NULL) {
        return pg__query_one(st->pg, sql, args, n, out, num);
    }
    sqlite3_stmt *s = store__prepare(st, sql, args, n);
    if (s == NULL) {
        return ERR_STORE;
    }
    int ret = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (num != NULL) {
            *num = sqlite3_column_int64(s, 0);
        }
        if (out != NULL) {
            const unsigned char *t = sqlite3_column_text(s, 0);
            int len = sqlite3_column_bytes(s, 0);
            buf_reset(out);
            if (t != NULL && buf_append(out, t, (size_t)len) != 0) {
                set_err(st, "value longer than the buffer");
                ret = ERR_LIMIT;
            }
        }
    } else if (rc == SQLITE_DONE) {
        set_err(st, "not found");
        ret = ERR_NOTFOUND;
    } else {
        ret = db_fail(st, "read");
    }
    finish(s);
    return ret;
}

int store__query_rows(struct store *st, const char *sql, const char *const *args, int n,
                      store_rows_fn *fn, void *ud)
{
    if (st->pg != NULL) {
        return pg__query_rows(st->pg, sql, args, n, fn, ud);
    }
    sqlite3_stmt *s = store__prepare(st, sql, args, n);
    if (s == NULL) {
        return ERR_STORE;
    }
    int cols = sqlite3_column_count(s);
    if (cols > STORE_MAX_COLUMNS) {
        cols = STORE_MAX_COLUMNS;
    }
    /* Rows are copied out first so that `fn` may use the store (even this statement). */
    char **cells = NULL;
    size_t count = 0, cap = 0;
    int ret = 0;
    int rc;
    for (rc = sqlite3_step(s); rc == SQLITE_ROW; rc = sqlite3_step(s)) {
        if (count + (size_t)cols > cap) {
            cap = cap ? cap * 2 : 64;
            while (cap < count + (size_t)cols) {
                cap *= 2;
            }
            cells = xrealloc(cells, cap * sizeof(*cells));
        }
        for (int c = 0; c < cols; c++) {
            const char *t = (const char *)sqlite3_column_text(s, c);
            cells[count++] = t != NULL ? xstrdup(t) : NULL;
        }
    }
    if (rc != SQLITE_DONE) {
        ret = db_fail(st, "read");
    }
    finish(s);
    for (size_t i = 0; ret == 0 && cols > 0 && i < count; i += (size_t)cols) {
        ret = fn(ud, (const char *const *)&cells[i], cols);
    }
    for (size_t i = 0; i < count; i++) {
        free(cells[i]);
    }
    free(cells);
    return ret;
}
