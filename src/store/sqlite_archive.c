/* sqlite_archive.c: the store's "archive" area (see store_archive.h): archived messages, their
 * full-text index and the archiving preferences. */
#include "store/store_archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"

/* The preferences' table, the same on both backends (WITHOUT ROWID is dropped on PostgreSQL). */
#define ARCHIVE_PREFS                                                                              \
    "CREATE TABLE archive_prefs ("                                                                 \
    "  domain TEXT NOT NULL,"                                                                      \
    "  name TEXT NOT NULL,"                                                                        \
    "  mode TEXT NOT NULL,"                                                                        \
    "  always TEXT NOT NULL,"                                                                      \
    "  never TEXT NOT NULL,"                                                                       \
    "  PRIMARY KEY (domain, name)"                                                                 \
    ") WITHOUT ROWID;"

static const char *const migrations[] = {
    /* v1. The full-text index is filled by store_archive_add_many, one statement per batch
     * (FTS5 flushes its pending terms at every statement's savepoint: a trigger per row would
     * write an index segment per row); rows leave it through the delete trigger. No foreign key: a room's archive has no account; triggers remove an archive with its
     * account or room instead. The indexes serve "the last N (with X)" and paging by id both
     * ways; start/end are id ranges (ids are times). */
    "CREATE TABLE archive_msg ("
    "  id INTEGER PRIMARY KEY,"
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  peer TEXT NOT NULL,"
    "  peer_res TEXT NOT NULL DEFAULT '',"
    "  outgoing INTEGER NOT NULL,"
    "  stanza TEXT NOT NULL,"
    "  body TEXT"
    ");"
    "CREATE INDEX archive_msg_owner ON archive_msg(domain, name, id);"
    "CREATE INDEX archive_msg_peer ON archive_msg(domain, name, peer, id);"
    "CREATE VIRTUAL TABLE archive_fts USING fts5(body, content='archive_msg',"
    "  content_rowid='id');"
    "CREATE TRIGGER archive_msg_ad AFTER DELETE ON archive_msg WHEN old.body IS NOT NULL BEGIN"
    "  INSERT INTO archive_fts(archive_fts, rowid, body) VALUES ('delete', old.id, old.body);"
    "END;" ARCHIVE_PREFS "CREATE TRIGGER archive_account_gone AFTER DELETE ON accounts BEGIN"
    "  DELETE FROM archive_msg WHERE domain = old.domain AND name = old.name;"
    "  DELETE FROM archive_prefs WHERE domain = old.domain AND name = old.name;"
    "END;"
    "CREATE TRIGGER archive_room_gone AFTER DELETE ON muc_rooms BEGIN"
    "  DELETE FROM archive_msg WHERE domain = substr(old.jid, instr(old.jid, '@') + 1)"
    "    AND name = substr(old.jid, 1, instr(old.jid, '@') - 1);"
    "END;",
};

/* PostgreSQL's text of the same migrations (docs/internals/store-pg.md): the full-text index is
 * a generated tsvector column with a GIN index, so it needs neither the FTS5 table, its delete
 * trigger nor store_archive_add_many's indexing statement; the triggers removing an archive with
 * its account or room are trigger functions. */
static const char *const pg_migrations[] = {
    /* v1 */
    "CREATE TABLE archive_msg ("
    "  id BIGINT PRIMARY KEY,"
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  peer TEXT NOT NULL,"
    "  peer_res TEXT NOT NULL DEFAULT '',"
    "  outgoing BIGINT NOT NULL,"
    "  stanza TEXT NOT NULL,"
    "  body TEXT,"
    "  body_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(body, ''))) STORED"
    ");"
    "CREATE INDEX archive_msg_owner ON archive_msg(domain, name, id);"
    "CREATE INDEX archive_msg_peer ON archive_msg(domain, name, peer, id);"
    "CREATE INDEX archive_msg_fts ON archive_msg USING GIN (body_tsv);" ARCHIVE_PREFS
    "CREATE FUNCTION archive_account_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  DELETE FROM archive_msg WHERE domain = OLD.domain AND name = OLD.name;"
    "  DELETE FROM archive_prefs WHERE domain = OLD.domain AND name = OLD.name;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER archive_account_gone AFTER DELETE ON accounts"
    "  FOR EACH ROW EXECUTE FUNCTION archive_account_gone();"
    "CREATE FUNCTION archive_room_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  DELETE FROM archive_msg WHERE domain = substr(OLD.jid, strpos(OLD.jid, '@') + 1)"
    "    AND name = substr(OLD.jid, 1, greatest(strpos(OLD.jid, '@') - 1, 0));"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER archive_room_gone AFTER DELETE ON muc_rooms"
    "  FOR EACH ROW EXECUTE FUNCTION archive_room_gone();",
};

STORE_AREA_PG(archive, migrations, pg_migrations);

static const char SQL_ADD_ACCOUNT[] =
    "INSERT INTO archive_msg(id, domain, name, peer, peer_res, outgoing, stanza, body)"
    " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8"
    " WHERE EXISTS (SELECT 1 FROM accounts WHERE domain = ?2 AND name = ?3)";
static const char SQL_ADD_ROOM[] =
    "INSERT INTO archive_msg(id, domain, name, peer, peer_res, outgoing, stanza, body)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
/* PostgreSQL types the bare parameters of a SELECT list as text: the numbers are cast. */
static const char SQL_ADD_ACCOUNT_PG[] =
    "INSERT INTO archive_msg(id, domain, name, peer, peer_res, outgoing, stanza, body)"
    " SELECT CAST(?1 AS INTEGER), ?2, ?3, ?4, ?5, CAST(?6 AS INTEGER), ?7, ?8"
    " WHERE EXISTS (SELECT 1 FROM accounts WHERE domain = ?2 AND name = ?3)";

int store_archive_tune_writer(struct store *st, int cache_mb, int checkpoint_pages)
{
    if (store__is_postgresql(st)) {
        return 0; /* SQLite's page cache and WAL: nothing to tune on PostgreSQL */
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d; PRAGMA wal_autocheckpoint = %d",
             cache_mb * 1024, checkpoint_pages);
    if (sqlite3_exec(store__db(st), sql, NULL, NULL, NULL) != SQLITE_OK) {
        return store__fail(st, "archive writer pragmas");
    }
    return 0;
}

static const char SQL_INDEX[] =
    "INSERT INTO archive_fts(rowid, body) SELECT id, body FROM archive_msg"
    " WHERE id IN (SELECT value FROM json_each(?1)) AND body IS NOT NULL";

static const char SQL_INSERT[] =
    "INSERT INTO archive_msg(id, domain, name, peer, peer_res, outgoing, stanza, body)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_ACCOUNT_EXISTS[] = "SELECT 1 FROM accounts WHERE domain = ?1 AND name = ?2";

/* Fault injection on: the row goes through store__run (the injected failures apply). */
static int add_checked(struct store *st, const struct store_archive_row *r)
{
    char id[24];
    snprintf(id, sizeof(id), "%lld", r->id);
    int changes = 0;
    const char *account_sql = store__is_postgresql(st) ? SQL_ADD_ACCOUNT_PG : SQL_ADD_ACCOUNT;
    int rc = store__run(st, r->room ? SQL_ADD_ROOM : account_sql,
                        STORE_ARGS(id, r->domain, r->name, r->peer, r->peer_res ? r->peer_res : "",
                                   r->outgoing ? "1" : "0", r->stanza, r->body),
                        &changes);
    if (rc == 0 && changes == 0) {
        rc = ERR_NOTFOUND;
    }
    return rc;
}

/* The row with typed bindings on the cached statement (no text-to-integer conversions). */
static int add_plain(struct store *st, const struct store_archive_row *r)
{
    sqlite3_stmt *s = store__prepare(st, SQL_INSERT, STORE_NO_ARGS);
    if (s == NULL) {
        return ERR_STORE;
    }
    const char *text[] = { r->domain, r->name, r->peer, r->peer_res ? r->peer_res : "" };
    int rc = sqlite3_bind_int64(s, 1, r->id);
    for (int i = 0; i < 4 && rc == SQLITE_OK; i++) {
        rc = sqlite3_bind_text(s, i + 2, text[i], -1, SQLITE_STATIC);
    }
    rc = rc == SQLITE_OK ? sqlite3_bind_int(s, 6, r->outgoing) : rc;
    rc = rc == SQLITE_OK ? sqlite3_bind_text(s, 7, r->stanza, -1, SQLITE_STATIC) : rc;
    rc = rc == SQLITE_OK ? (r->body ? sqlite3_bind_text(s, 8, r->body, -1, SQLITE_STATIC)
                                    : sqlite3_bind_null(s, 8))
                         : rc;
    rc = rc == SQLITE_OK ? sqlite3_step(s) : rc;
    int ret = rc == SQLITE_DONE ? 0 : store__fail(st, "archive insert");
    store__finish(s);
    return ret;
}

/* Orders indexes of `rows` by owner (domain, name). */
static int by_owner(const void *a, const void *b, void *rows)
{
    const struct store_archive_row *const *r = rows;
    const struct store_archive_row *x = r[*(const size_t *)a];
    const struct store_archive_row *y = r[*(const size_t *)b];
    int c = strcmp(x->domain, y->domain);
    return c != 0 ? c : strcmp(x->name, y->name);
}

/* keep[i]: row i is a room's, or its account exists. One lookup per account of the batch
 * instead of one per row (inside the batch's transaction: the answer holds for all of them). */
static int owners_exist(struct store *st, const struct store_archive_row *const *rows, size_t n,
                        bool *keep)
{
    size_t *order = xcalloc(n, sizeof(*order));
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
    }
    qsort_r(order, n, sizeof(*order), by_owner, (void *)rows);
    int rc = 0;
    bool exists = false;
    for (size_t k = 0; k < n && rc == 0; k++) {
        const struct store_archive_row *r = rows[order[k]];
        if (k == 0 || by_owner(&order[k - 1], &order[k], (void *)rows) != 0) {
            rc = store__query_one(st, SQL_ACCOUNT_EXISTS, STORE_ARGS(r->domain, r->name), NULL,
                                  NULL);
            exists = rc == 0;
            rc = rc == ERR_NOTFOUND ? 0 : rc;
        }
        keep[order[k]] = r->room || exists;
    }
    free(order);
    return rc;
}

static int add_rows(struct store *st, const struct store_archive_row *const *rows, size_t n,
                    bool *keep)
{
    /* PostgreSQL too: add_plain's typed bindings are SQLite's. */
    if (store__fault_on() || store__is_postgresql(st)) {
        for (size_t i = 0; i < n; i++) {
            int r = add_checked(st, rows[i]);
            keep[i] = r == 0;
            if (r != 0 && r != ERR_NOTFOUND) {
                return r;
            }
        }
        return 0;
    }
    int rc = owners_exist(st, rows, n, keep);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = keep[i] ? add_plain(st, rows[i]) : 0;
    }
    return rc;
}

int store_archive_add_many(struct store *st, const struct store_archive_row *const *rows, size_t n,
                           size_t *added)
{
    *added = 0;
    if (n == 0) {
        return 0;
    }
    bool *keep = xcalloc(n, sizeof(*keep));
    int rc = add_rows(st, rows, n, keep);
    struct buf ids;
    buf_init(&ids, 24 * n + 16);
    buf_append_c(&ids, "[");
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (keep[i]) {
            (*added)++;
            if (rows[i]->body) {
                buf_printf(&ids, "%s%lld", ids.len > 1 ? "," : "", rows[i]->id);
            }
        }
    }
    free(keep);
    buf_append_c(&ids, "]");
    /* PostgreSQL's generated tsvector column indexes each row as it is written. */
    if (rc == 0 && ids.len > 2 && !store__is_postgresql(st)) {
        rc = store__run(st, SQL_INDEX, STORE_ARGS(buf_cstr(&ids)), NULL);
    }
    buf_cleanup(&ids);
    return rc;
}

int store_archive_add(struct store *st, const struct store_archive_row *r)
{
    size_t added;
    int rc = store_archive_add_many(st, &r, 1, &added);
    return rc == 0 && added == 0 ? ERR_NOTFOUND : rc;
}

#define SEL                                                                                        \
    "SELECT id, outgoing, stanza, peer, peer_res FROM archive_msg WHERE domain = ?1 AND name = ?2"
#define RANGE " AND id >= CAST(?3 AS INTEGER) AND id <= CAST(?4 AS INTEGER)"
#define PEER " AND peer = ?5 AND (?6 = '' OR peer_res = ?6)"
/* Over a whole archive the matching ids are gathered first (a rare word: few); with one peer its
 * rows are walked in order and each is looked up in the index (its common words would gather
 * most of the archive). */
#define FTS(n) " AND id IN (SELECT rowid FROM archive_fts WHERE archive_fts MATCH ?" n ")"
#define FTS_EACH(n)                                                                                \
    " AND EXISTS (SELECT 1 FROM archive_fts WHERE archive_fts MATCH ?" n                           \
    " AND archive_fts.rowid = archive_msg.id)"
#define ASC(n) " ORDER BY id ASC LIMIT CAST(?" n " AS INTEGER)"
#define DESC(n) " ORDER BY id DESC LIMIT CAST(?" n " AS INTEGER)"

/* The statements of the query mix; [descending][peer][text]. */
static const char *const SQL_QUERY[2][2][2] = {
    {
        { SEL RANGE ASC("5"), SEL RANGE FTS("5") ASC("6") },
        { SEL RANGE PEER ASC("7"), SEL RANGE PEER FTS_EACH("7") ASC("8") },
    },
    {
        { SEL RANGE DESC("5"), SEL RANGE FTS("5") DESC("6") },
        { SEL RANGE PEER DESC("7"), SEL RANGE PEER FTS_EACH("7") DESC("8") },
    },
};

/* PostgreSQL's full-text statements ([descending][peer]): the words of the text, all required
 * (plainto_tsquery ignores punctuation, so no user input is read as query syntax). */
#define TSQ(n) " AND body_tsv @@ plainto_tsquery('simple', ?" n ")"
static const char *const SQL_QUERY_PG[2][2] = {
    { SEL RANGE TSQ("5") ASC("6"), SEL RANGE PEER TSQ("7") ASC("8") },
    { SEL RANGE TSQ("5") DESC("6"), SEL RANGE PEER TSQ("7") DESC("8") },
};

struct rows_ctx {
    store_archive_fn *fn;
    void *ud;
};

static int each_row(void *ud, const char *const *cols, int ncols)
{
    struct rows_ctx *rc = ud;
    if (ncols < 5 || cols[0] == NULL || cols[2] == NULL) {
        return 0;
    }
    struct store_archive_hit h = {
        .id = strtoll(cols[0], NULL, 10),
        .outgoing = cols[1] && cols[1][0] == '1',
        .stanza = cols[2],
        .peer = cols[3] ? cols[3] : "",
        .peer_res = cols[4] ? cols[4] : "",
    };
    return rc->fn(rc->ud, &h);
}

/* The words of `text` as an FTS5 query: each one a quoted string (so that no user input is
 * read as FTS5 syntax), all required. */
static void fts_query(const char *text, struct buf *out)
{
    buf_reset(out);
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        buf_append(out, out->len ? " \"" : "\"", out->len ? 2 : 1);
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            buf_append(out, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
            p++;
        }
        buf_append(out, "\"", 1);
    }
}

int store_archive_query(struct store *st, const struct store_archive_query *q, store_archive_fn *fn,
                        void *ud)
{
    char lo[24], hi[24], limit[16];
    snprintf(lo, sizeof(lo), "%lld", q->lo);
    snprintf(hi, sizeof(hi), "%lld", q->hi);
    snprintf(limit, sizeof(limit), "%d", q->limit);
    struct buf text;
    buf_init(&text, 8192);
    bool fts = q->text != NULL;
    if (fts) {
        fts_query(q->text, &text);
        fts = text.len > 0;
    }
    const char *sql = SQL_QUERY[q->descending][q->peer != NULL][fts];
    struct rows_ctx rc = { fn, ud };
    const char *res = q->peer_res ? q->peer_res : "";
    const char *t = buf_cstr(&text);
    if (fts && store__is_postgresql(st)) {
        sql = SQL_QUERY_PG[q->descending][q->peer != NULL];
        t = q->text;
    }
    int ret;
    if (q->peer && fts) {
        ret = store__query_rows(
            st, sql, STORE_ARGS(q->domain, q->name, lo, hi, q->peer, res, t, limit), each_row, &rc);
    } else if (q->peer) {
        ret = store__query_rows(
            st, sql, STORE_ARGS(q->domain, q->name, lo, hi, q->peer, res, limit), each_row, &rc);
    } else if (fts) {
        ret = store__query_rows(st, sql, STORE_ARGS(q->domain, q->name, lo, hi, t, limit), each_row,
                                &rc);
    } else {
        ret = store__query_rows(st, sql, STORE_ARGS(q->domain, q->name, lo, hi, limit), each_row,
                                &rc);
    }
    buf_cleanup(&text);
    return ret;
}

static const char SQL_GET[] = "SELECT id, outgoing, stanza, peer, peer_res FROM archive_msg"
                              " WHERE id = CAST(?3 AS INTEGER) AND domain = ?1 AND name = ?2";

static int found_row(void *ud, const char *const *cols, int ncols)
{
    struct rows_ctx *rc = ud;
    int ret = rc->fn ? each_row(rc, cols, ncols) : 0;
    return ret != 0 ? ret : 1;
}

int store_archive_get(struct store *st, const char *domain, const char *name, long long id,
                      store_archive_fn *fn, void *ud)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", id);
    struct rows_ctx rc = { fn, ud };
    int ret = store__query_rows(st, SQL_GET, STORE_ARGS(domain, name, num), found_row, &rc);
    if (ret == 1) {
        return 0;
    }
    return ret == 0 ? ERR_NOTFOUND : ret;
}

static const char SQL_PREFS_GET[] =
    "SELECT mode, always, never FROM archive_prefs WHERE domain = ?1 AND name = ?2";
static const char SQL_PREFS_SET[] =
    "INSERT INTO archive_prefs(domain, name, mode, always, never) VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(domain, name) DO UPDATE SET mode = excluded.mode, always = excluded.always,"
    " never = excluded.never";

struct prefs_ctx {
    struct buf *out[3];
    int rc;
};

static int prefs_row(void *ud, const char *const *cols, int ncols)
{
    struct prefs_ctx *pc = ud;
    for (int i = 0; i < 3 && i < ncols; i++) {
        if (pc->out[i]) {
            buf_reset(pc->out[i]);
            if (cols[i] && buf_append(pc->out[i], cols[i], strlen(cols[i])) != 0) {
                pc->rc = ERR_LIMIT;
            }
        }
    }
    return 1;
}

int store_archive_prefs_get(struct store *st, const char *domain, const char *name,
                            struct buf *mode, struct buf *always, struct buf *never)
{
    struct prefs_ctx pc = { { mode, always, never }, 0 };
    int ret = store__query_rows(st, SQL_PREFS_GET, STORE_ARGS(domain, name), prefs_row, &pc);
    if (ret == 1) {
        return pc.rc;
    }
    return ret == 0 ? ERR_NOTFOUND : ret;
}

int store_archive_prefs_set(struct store *st, const char *domain, const char *name,
                            const char *mode, const char *always, const char *never)
{
    return store__run(st, SQL_PREFS_SET, STORE_ARGS(domain, name, mode, always, never), NULL);
}

static const char SQL_PURGE_DOMAIN[] =
    "DELETE FROM archive_msg WHERE id IN (SELECT id FROM archive_msg"
    " WHERE id < CAST(?2 AS INTEGER) AND domain = ?1 ORDER BY id LIMIT CAST(?3 AS INTEGER))";
static const char SQL_PURGE_ALL[] =
    "DELETE FROM archive_msg WHERE id IN (SELECT id FROM archive_msg"
    " WHERE id < CAST(?1 AS INTEGER) ORDER BY id LIMIT CAST(?2 AS INTEGER))";

int store_archive_purge(struct store *st, const char *domain, long long before, int limit,
                        int *removed)
{
    char b[24], l[16];
    snprintf(b, sizeof(b), "%lld", before);
    snprintf(l, sizeof(l), "%d", limit);
    *removed = 0;
    if (domain) {
        return store__run(st, SQL_PURGE_DOMAIN, STORE_ARGS(domain, b, l), removed);
    }
    return store__run(st, SQL_PURGE_ALL, STORE_ARGS(b, l), removed);
}

static const char SQL_CLEAR[] = "DELETE FROM archive_msg WHERE domain = ?1 AND name = ?2";

int store_archive_clear(struct store *st, const char *domain, const char *name)
{
    return store__run(st, SQL_CLEAR, STORE_ARGS(domain, name), NULL);
}

static const char SQL_STATS_DOMAIN[] = "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0)"
                                       " FROM archive_msg WHERE domain = ?1";
static const char SQL_STATS_ALL[] = "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0)"
                                    " FROM archive_msg";

static int stats_row(void *ud, const char *const *cols, int ncols)
{
    long long *v = ud;
    for (int i = 0; i < 3 && i < ncols; i++) {
        v[i] = cols[i] ? strtoll(cols[i], NULL, 10) : 0;
    }
    return 0;
}

int store_archive_stats(struct store *st, const char *domain, long long *count, long long *oldest,
                        long long *newest)
{
    long long v[3] = { 0, 0, 0 };
    int rc = domain ? store__query_rows(st, SQL_STATS_DOMAIN, STORE_ARGS(domain), stats_row, v)
                    : store__query_rows(st, SQL_STATS_ALL, STORE_NO_ARGS, stats_row, v);
    *count = v[0];
    *oldest = v[1];
    *newest = v[2];
    return rc;
}
