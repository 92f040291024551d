/* sqlite_archive.c: the store's "archive" area (see store_archive.h): archived messages, their
 * full-text index and the archiving preferences. */
#include "store/store_archive.h"

#include <limits.h>
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

/* v2's tables and conversion, shared by both backends' texts. */
#define V2_IDX_TABLE                                                                               \
    "CREATE TABLE archive_idx ("                                                                   \
    "  owner INTEGER NOT NULL,"                                                                    \
    "  id INTEGER NOT NULL,"                                                                       \
    "  peer INTEGER NOT NULL,"                                                                     \
    "  peer_res TEXT NOT NULL DEFAULT '',"                                                         \
    "  outgoing INTEGER NOT NULL,"                                                                 \
    "  sid INTEGER NOT NULL,"                                                                      \
    "  PRIMARY KEY (owner, id)"                                                                    \
    ") WITHOUT ROWID;"
#define V2_TABLES                                                                                  \
    "CREATE TABLE archive_jid ("                                                                   \
    "  id INTEGER PRIMARY KEY,"                                                                    \
    "  domain TEXT NOT NULL,"                                                                      \
    "  name TEXT NOT NULL,"                                                                        \
    "  UNIQUE (domain, name)"                                                                      \
    ");"                                                                                           \
    "CREATE TABLE archive_stanza ("                                                                \
    "  id INTEGER PRIMARY KEY,"                                                                    \
    "  stanza TEXT NOT NULL,"                                                                      \
    "  body TEXT"                                                                                  \
    ");" V2_IDX_TABLE
#define V2_CONVERT                                                                                 \
    "INSERT INTO archive_jid(domain, name) SELECT DISTINCT domain, name FROM archive_msg;"         \
    "INSERT INTO archive_jid(domain, name) SELECT DISTINCT '', peer FROM archive_msg;"             \
    "INSERT INTO archive_stanza(id, stanza, body) SELECT id, stanza, body FROM archive_msg;"       \
    "INSERT INTO archive_idx(id, owner, peer, peer_res, outgoing, sid)"                            \
    "  SELECT m.id, o.id, p.id, m.peer_res, m.outgoing, m.id FROM archive_msg m"                   \
    "  JOIN archive_jid o ON o.domain = m.domain AND o.name = m.name"                              \
    "  JOIN archive_jid p ON p.domain = '' AND p.name = m.peer;"
/* The table is ordered by owner (the last N, paging, time ranges); indexes by owner and peer
 * ("the last N with X") and by stanza (a full-text match's rows; an orphaned stanza's
 * removal). */
#define V2_INDEXES                                                                                 \
    "CREATE INDEX archive_idx_peer ON archive_idx(owner, peer, id);"                               \
    "CREATE INDEX archive_idx_sid ON archive_idx(sid);"

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
    /* v2 (docs/internals/archive.md): one stored stanza per message (archive_stanza, keyed by
     * the id of its first index row), shared by the index rows of its owners (archive_idx, one
     * per archive), integer owner and peer keys (archive_jid: an owner is (domain, name), a
     * peer ('', its bare JID or a room occupant's nick)); the full-text index is filled in
     * batches, up to archive_fts_state.done (store_archive_index_pending). The old rows are
     * converted; their full-text index is rebuilt in batches after the upgrade. */
    V2_TABLES
    "CREATE TABLE archive_fts_state (one INTEGER PRIMARY KEY, done INTEGER NOT NULL);"
    "INSERT INTO archive_fts_state VALUES (0, 0);" V2_CONVERT "DROP TRIGGER archive_msg_ad;"
    "DROP TRIGGER archive_account_gone;"
    "DROP TRIGGER archive_room_gone;"
    "DROP TABLE archive_fts;"
    "DROP TABLE archive_msg;" V2_INDEXES
    "CREATE VIRTUAL TABLE archive_fts USING fts5(body, content='archive_stanza',"
    "  content_rowid='id');"
    "CREATE TRIGGER archive_idx_ad AFTER DELETE ON archive_idx BEGIN"
    "  DELETE FROM archive_stanza WHERE id = old.sid"
    "    AND NOT EXISTS (SELECT 1 FROM archive_idx WHERE sid = old.sid);"
    "END;"
    "CREATE TRIGGER archive_stanza_ad AFTER DELETE ON archive_stanza WHEN old.body IS NOT NULL"
    "  AND old.id <= (SELECT done FROM archive_fts_state) BEGIN"
    "  INSERT INTO archive_fts(archive_fts, rowid, body) VALUES ('delete', old.id, old.body);"
    "END;"
    "CREATE TRIGGER archive_account_gone AFTER DELETE ON accounts BEGIN"
    "  DELETE FROM archive_idx WHERE owner = (SELECT id FROM archive_jid"
    "    WHERE domain = old.domain AND name = old.name);"
    "  DELETE FROM archive_prefs WHERE domain = old.domain AND name = old.name;"
    "END;"
    "CREATE TRIGGER archive_room_gone AFTER DELETE ON muc_rooms BEGIN"
    "  DELETE FROM archive_idx WHERE owner = (SELECT id FROM archive_jid"
    "    WHERE domain = substr(old.jid, instr(old.jid, '@') + 1)"
    "    AND name = substr(old.jid, 1, instr(old.jid, '@') - 1));"
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
    /* v2: the tables of SQLite's v2; the tsvector column moves to the stored stanza. */
    "CREATE TABLE archive_jid ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  UNIQUE (domain, name)"
    ");"
    "CREATE TABLE archive_stanza ("
    "  id BIGINT PRIMARY KEY,"
    "  stanza TEXT NOT NULL,"
    "  body TEXT,"
    "  body_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(body, ''))) STORED"
    ");" V2_IDX_TABLE V2_CONVERT "DROP TRIGGER archive_account_gone ON accounts;"
    "DROP FUNCTION archive_account_gone();"
    "DROP TRIGGER archive_room_gone ON muc_rooms;"
    "DROP FUNCTION archive_room_gone();"
    "DROP TABLE archive_msg;" V2_INDEXES
    "CREATE INDEX archive_stanza_fts ON archive_stanza USING GIN (body_tsv);"
    "CREATE FUNCTION archive_idx_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  DELETE FROM archive_stanza WHERE id = OLD.sid"
    "    AND NOT EXISTS (SELECT 1 FROM archive_idx WHERE sid = OLD.sid);"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER archive_idx_gone AFTER DELETE ON archive_idx"
    "  FOR EACH ROW EXECUTE FUNCTION archive_idx_gone();"
    "CREATE FUNCTION archive_account_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  DELETE FROM archive_idx WHERE owner = (SELECT id FROM archive_jid"
    "    WHERE domain = OLD.domain AND name = OLD.name);"
    "  DELETE FROM archive_prefs WHERE domain = OLD.domain AND name = OLD.name;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER archive_account_gone AFTER DELETE ON accounts"
    "  FOR EACH ROW EXECUTE FUNCTION archive_account_gone();"
    "CREATE FUNCTION archive_room_gone() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  DELETE FROM archive_idx WHERE owner = (SELECT id FROM archive_jid"
    "    WHERE domain = substr(OLD.jid, strpos(OLD.jid, '@') + 1)"
    "    AND name = substr(OLD.jid, 1, greatest(strpos(OLD.jid, '@') - 1, 0)));"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER archive_room_gone AFTER DELETE ON muc_rooms"
    "  FOR EACH ROW EXECUTE FUNCTION archive_room_gone();",
};

STORE_AREA_PG(archive, migrations, pg_migrations);

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

/* ---- statements with typed arguments ---- */

/* An argument: a number or a text (NULL: SQL NULL). */
struct arg {
    bool num;
    long long n;
    const char *s;
};
#define NUM(x) ((struct arg){ .num = true, .n = (x) })
#define TXT(x) ((struct arg){ .num = false, .s = (x) })
#define ARGS_MAX 8

/* Runs `sql` with `a`: typed bindings on the cached statement (no text-to-integer conversion),
 * or, on PostgreSQL and with fault injection on (the injected failures apply), as text through
 * store__run. */
static int run_args(struct store *st, const char *sql, const struct arg *a, int n)
{
    if (store__fault_on() || store__is_postgresql(st)) {
        char nums[ARGS_MAX][24];
        const char *text[ARGS_MAX];
        for (int i = 0; i < n; i++) {
            snprintf(nums[i], sizeof(nums[i]), "%lld", a[i].n);
            text[i] = a[i].num ? nums[i] : a[i].s;
        }
        return store__run(st, sql, text, n, NULL);
    }
    sqlite3_stmt *s = store__prepare(st, sql, STORE_NO_ARGS);
    if (s == NULL) {
        return ERR_STORE;
    }
    int rc = SQLITE_OK;
    for (int i = 0; i < n && rc == SQLITE_OK; i++) {
        rc = a[i].num ? sqlite3_bind_int64(s, i + 1, a[i].n)
             : a[i].s ? sqlite3_bind_text(s, i + 1, a[i].s, -1, SQLITE_STATIC)
                      : sqlite3_bind_null(s, i + 1);
    }
    rc = rc == SQLITE_OK ? sqlite3_step(s) : rc;
    int ret = rc == SQLITE_DONE ? 0 : store__fail(st, "archive write");
    store__finish(s);
    return ret;
}

/* ---- a batch's keys: interned JIDs, shared stanzas ---- */

/* An open-addressing table from a pair of strings to a number, for one batch. */
struct keyslot {
    const char *a, *b;
    unsigned long long hash;
    long long val;
    bool used;
};
struct keymap {
    struct keyslot *slots;
    size_t mask;
    size_t used;
};

static void keymap_init(struct keymap *km, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) {
        cap *= 2;
    }
    km->slots = xcalloc(cap, sizeof(*km->slots));
    km->mask = cap - 1;
    km->used = 0;
}

/* Mixes the string `s` into `h`, eight bytes at a time (a batch hashes every stanza's whole
 * text); the equality itself is strcmp's. */
static unsigned long long mix(unsigned long long h, const char *s)
{
    size_t n = strlen(s);
    unsigned long long w;
    for (; n >= 8; n -= 8, s += 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, s, n);
    /* the tail's length ends the string: ("a","bc") is not ("ab","c") */
    h = (h ^ w ^ ((unsigned long long)n << 56)) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 32);
}

/* The slot of (a, b): used when the batch has it already, else the free slot for it. */
static struct keyslot *keymap_slot(struct keymap *km, const char *a, const char *b)
{
    unsigned long long h = mix(mix(14695981039346656037ULL, a), b);
    for (size_t i = h & km->mask;; i = (i + 1) & km->mask) {
        struct keyslot *k = &km->slots[i];
        if (!k->used) {
            *k = (struct keyslot){ a, b, h, 0, false };
            return k;
        }
        if (k->hash == h && strcmp(k->a, a) == 0 && strcmp(k->b, b) == 0) {
            return k;
        }
    }
}

static const char SQL_JID_GET[] = "SELECT id FROM archive_jid WHERE domain = ?1 AND name = ?2";
static const char SQL_JID_ADD[] = "INSERT OR IGNORE INTO archive_jid(domain, name) VALUES (?1, ?2)";

/* Fills the free slot `k` from keymap_slot (then no slot pointer of `km` stays valid: the table
 * grows past half full). */
static void keymap_use(struct keymap *km, struct keyslot *k, long long val)
{
    k->used = true;
    k->val = val;
    if (++km->used * 2 <= km->mask + 1) {
        return;
    }
    struct keymap old = *km;
    keymap_init(km, old.mask + 1);
    for (size_t i = 0; i <= old.mask; i++) {
        if (old.slots[i].used) {
            size_t j = old.slots[i].hash & km->mask;
            while (km->slots[j].used) {
                j = (j + 1) & km->mask;
            }
            km->slots[j] = old.slots[i];
            km->used++;
        }
    }
    free(old.slots);
}

/* The writer's keys across batches: a keymap whose strings it owns ("domain\0name" in one
 * allocation per key). archive_jid rows are never deleted, so a committed key stays right. */
struct store_archive_keys {
    struct keymap km;
};

/* Past this many keys the cache starts again (bounded memory). */
#define KEYS_MAX 65536

struct store_archive_keys *store_archive_keys_new(void)
{
    struct store_archive_keys *c = xcalloc(1, sizeof(*c));
    keymap_init(&c->km, 64);
    return c;
}

void store_archive_keys_forget(struct store_archive_keys *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i <= c->km.mask; i++) {
        if (c->km.slots[i].used) {
            free((char *)c->km.slots[i].a);
        }
    }
    free(c->km.slots);
    keymap_init(&c->km, 64);
}

void store_archive_keys_free(struct store_archive_keys *c)
{
    if (c != NULL) {
        store_archive_keys_forget(c);
        free(c->km.slots);
        free(c);
    }
}

/* Makes the free slot `k` of the writer's cache own its strings. */
static void keys_own(struct keyslot *k)
{
    size_t la = strlen(k->a), lb = strlen(k->b);
    char *p = xmalloc(la + lb + 2);
    memcpy(p, k->a, la + 1);
    memcpy(p + la + 1, k->b, lb + 1);
    k->a = p;
    k->b = p + la + 1;
}

/* The integer key of (domain, name), added when new; looked up once per batch, or once while
 * the writer's cache (`owned`) keeps it. */
static int jid_key(struct store *st, struct keymap *km, bool owned, const char *domain,
                   const char *name, long long *key)
{
    struct keyslot *k = keymap_slot(km, domain, name);
    if (k->used) {
        *key = k->val;
        return 0;
    }
    int rc = store__query_one(st, SQL_JID_GET, STORE_ARGS(domain, name), NULL, key);
    if (rc == ERR_NOTFOUND) {
        rc = store__run(st, SQL_JID_ADD, STORE_ARGS(domain, name), NULL);
        rc = rc == 0 ? store__query_one(st, SQL_JID_GET, STORE_ARGS(domain, name), NULL, key) : rc;
    }
    if (rc == 0) {
        if (owned) {
            keys_own(k);
        }
        keymap_use(km, k, *key);
    }
    return rc;
}

static const char SQL_ACCOUNT_EXISTS[] = "SELECT 1 FROM accounts WHERE domain = ?1 AND name = ?2";

/* keep[i]: row i is a room's, or its account exists. One lookup per account of the batch
 * (inside the batch's transaction: the answer holds for all of its rows). */
static int owners_exist(struct store *st, const struct store_archive_row *const *rows, size_t n,
                        bool *keep)
{
    struct keymap km;
    keymap_init(&km, 64);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct store_archive_row *r = rows[i];
        struct keyslot *k = keymap_slot(&km, r->domain, r->name);
        if (!k->used && !r->room) {
            rc = store__query_one(st, SQL_ACCOUNT_EXISTS, STORE_ARGS(r->domain, r->name), NULL,
                                  NULL);
            bool exists = rc == 0;
            keymap_use(&km, k, exists);
            keep[i] = exists;
            rc = rc == ERR_NOTFOUND ? 0 : rc;
            continue;
        }
        keep[i] = r->room || (k->used && k->val);
    }
    free(km.slots);
    return rc;
}

static const char SQL_STANZA_ADD[] =
    "INSERT INTO archive_stanza(id, stanza, body) VALUES (?1, ?2, ?3)";
static const char SQL_IDX_ADD[] =
    "INSERT INTO archive_idx(id, owner, peer, peer_res, outgoing, sid)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_FTS_DONE[] = "SELECT done FROM archive_fts_state";
/* Stanzas written below the full-text index's mark (a clock set back): indexed at once. */
static const char SQL_FTS_IDS[] =
    "INSERT INTO archive_fts(rowid, body) SELECT id, body FROM archive_stanza"
    " WHERE id IN (SELECT value FROM json_each(?1)) AND body IS NOT NULL";

/* A batch being written. */
struct batch {
    const struct store_archive_row *const *rows;
    struct keymap *jids; /* the batch's own, or the writer's cache's */
    struct keymap stanzas;
    bool owned;                    /* jids is the writer's cache: a new key's strings are copied */
    long long *owner, *peer, *sid; /* per row: keys and stored stanza */
    long long fts_done;            /* SQLite: the full-text index's mark; LLONG_MIN on PostgreSQL */
    struct buf late;               /* stanzas at or below it, a JSON array */
};

/* Writes `r`'s stanza as a new stored stanza, keyed by the row's id. */
static int stanza_write(struct store *st, struct batch *b, const struct store_archive_row *r)
{
    const struct arg a[] = { NUM(r->id), TXT(r->stanza), TXT(r->body) };
    int rc = run_args(st, SQL_STANZA_ADD, a, 3);
    if (rc == 0 && r->body && r->id <= b->fts_done) {
        buf_printf(&b->late, "%s%lld", b->late.len > 1 ? "," : "", r->id);
    }
    return rc;
}

static const char SQL_STANZA_HAS[] = "SELECT 1 FROM archive_stanza WHERE id = ?1";

/* 0 when the stored stanza `sid` exists, ERR_NOTFOUND when not (typed on SQLite). */
static int stanza_exists(struct store *st, long long sid)
{
    if (store__fault_on() || store__is_postgresql(st)) {
        char num[24];
        snprintf(num, sizeof(num), "%lld", sid);
        return store__query_one(st, SQL_STANZA_HAS, STORE_ARGS(num), NULL, NULL);
    }
    sqlite3_stmt *s = store__prepare(st, SQL_STANZA_HAS, STORE_NO_ARGS);
    if (s == NULL) {
        return ERR_STORE;
    }
    int rc = sqlite3_bind_int64(s, 1, sid);
    rc = rc == SQLITE_OK ? sqlite3_step(s) : rc;
    int ret = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? ERR_NOTFOUND : store__fail(st, "archive");
    store__finish(s);
    return ret;
}

/* The stored stanza of a row with a shared one: the batch's, the one a committed batch wrote
 * while it exists (a removal between the batches may have taken it), else written now. */
static int shared_sid(struct store *st, struct batch *b, const struct store_archive_row *r,
                      long long *sid)
{
    struct store_archive_shared *sh = r->shared;
    if (sh->pending != 0) {
        *sid = sh->pending;
        return 0;
    }
    int rc = sh->sid != 0 ? stanza_exists(st, sh->sid) : ERR_NOTFOUND;
    if (rc != ERR_NOTFOUND) {
        *sid = sh->sid;
        return rc;
    }
    rc = stanza_write(st, b, r);
    if (rc == 0) {
        sh->pending = r->id;
        *sid = r->id;
    }
    return rc;
}

/* Row i's keys, and its stanza unless the batch wrote the same text already (or, shared, an
 * earlier batch). */
static int add_keys(struct store *st, struct batch *b, size_t i)
{
    const struct store_archive_row *r = b->rows[i];
    int rc = jid_key(st, b->jids, b->owned, r->domain, r->name, &b->owner[i]);
    rc = rc == 0 ? jid_key(st, b->jids, b->owned, "", r->peer, &b->peer[i]) : rc;
    if (rc != 0 || r->shared) {
        return rc == 0 ? shared_sid(st, b, r, &b->sid[i]) : rc;
    }
    struct keyslot *k = keymap_slot(&b->stanzas, r->stanza, "");
    b->sid[i] = k->used ? k->val : r->id;
    if (!k->used) {
        rc = stanza_write(st, b, r);
        if (rc == 0) {
            keymap_use(&b->stanzas, k, r->id);
        }
    }
    return rc;
}

void store_archive_shared_settle(const struct store_archive_row *const *rows, size_t n,
                                 bool committed)
{
    for (size_t i = 0; i < n; i++) {
        struct store_archive_shared *sh = rows[i]->shared;
        if (sh != NULL && sh->pending != 0) {
            sh->sid = committed ? sh->pending : sh->sid;
            sh->pending = 0;
        }
    }
}

static int add_index_row(struct store *st, struct batch *b, size_t i)
{
    const struct store_archive_row *r = b->rows[i];
    const struct arg a[] = { NUM(r->id),       NUM(b->owner[i]),
                             NUM(b->peer[i]),  TXT(r->peer_res ? r->peer_res : ""),
                             NUM(r->outgoing), NUM(b->sid[i]) };
    return run_args(st, SQL_IDX_ADD, a, 6);
}

/* Index rows in (owner, peer, id) order: the table's and the peer index's pages are then
 * written in sequence rather than all over. */
static int by_keys(const void *x, const void *y, void *ud)
{
    const struct batch *b = ud;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    long long d[] = { b->owner[i] - b->owner[j], b->peer[i] - b->peer[j],
                      b->rows[i]->id - b->rows[j]->id };
    for (size_t k = 0; k < 3; k++) {
        if (d[k] != 0) {
            return d[k] < 0 ? -1 : 1;
        }
    }
    return 0;
}

static int add_batch(struct store *st, struct batch *b, const bool *keep, size_t n, size_t *added)
{
    size_t *order = xcalloc(n, sizeof(*order));
    size_t m = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (keep[i]) {
            rc = add_keys(st, b, i);
            order[m++] = i;
        }
    }
    qsort_r(order, m, sizeof(*order), by_keys, b);
    for (size_t k = 0; k < m && rc == 0; k++) {
        rc = add_index_row(st, b, order[k]);
        *added += rc == 0;
    }
    free(order);
    return rc;
}

int store_archive_add_many(struct store *st, const struct store_archive_row *const *rows, size_t n,
                           size_t *added)
{
    return store_archive_add_many_keys(st, NULL, rows, n, added);
}

int store_archive_add_many_keys(struct store *st, struct store_archive_keys *keys,
                                const struct store_archive_row *const *rows, size_t n,
                                size_t *added)
{
    *added = 0;
    if (n == 0) {
        return 0;
    }
    if (keys != NULL && keys->km.used + 2 * n > KEYS_MAX) {
        store_archive_keys_forget(keys);
    }
    bool *keep = xcalloc(n, sizeof(*keep));
    struct keymap own;
    struct batch b = { .rows = rows, .fts_done = LLONG_MIN, .owned = keys != NULL };
    b.owner = xcalloc(3 * n, sizeof(long long));
    b.peer = b.owner + n;
    b.sid = b.peer + n;
    if (keys == NULL) {
        keymap_init(&own, 64);
    }
    b.jids = keys != NULL ? &keys->km : &own;
    keymap_init(&b.stanzas, n);
    buf_init(&b.late, 24 * n + 16);
    buf_append_c(&b.late, "[");
    int rc = owners_exist(st, rows, n, keep);
    if (rc == 0 && !store__is_postgresql(st)) {
        rc = store__query_one(st, SQL_FTS_DONE, STORE_NO_ARGS, NULL, &b.fts_done);
    }
    rc = rc == 0 ? add_batch(st, &b, keep, n, added) : rc;
    buf_append_c(&b.late, "]");
    if (rc == 0 && b.late.len > 2) {
        rc = store__run(st, SQL_FTS_IDS, STORE_ARGS(buf_cstr(&b.late)), NULL);
    }
    buf_cleanup(&b.late);
    if (keys == NULL) {
        free(own.slots);
    }
    free(b.stanzas.slots);
    free(b.owner);
    free(keep);
    return rc;
}

int store_archive_add(struct store *st, const struct store_archive_row *r)
{
    size_t added;
    int rc = store_archive_add_many(st, &r, 1, &added);
    return rc == 0 && added == 0 ? ERR_NOTFOUND : rc;
}

/* ---- the full-text index's pending tail (SQLite) ---- */

static const char SQL_FTS_TAIL[] =
    "SELECT max(id), count(*) FROM (SELECT id FROM archive_stanza"
    " WHERE id > CAST(?1 AS INTEGER) ORDER BY id LIMIT CAST(?2 AS INTEGER))";
static const char SQL_FTS_ADD[] =
    "INSERT INTO archive_fts(rowid, body) SELECT id, body FROM archive_stanza"
    " WHERE id > CAST(?1 AS INTEGER) AND id <= CAST(?2 AS INTEGER) AND body IS NOT NULL";
static const char SQL_FTS_MARK[] = "UPDATE archive_fts_state SET done = CAST(?1 AS INTEGER)";

static int two_numbers(void *ud, const char *const *cols, int ncols)
{
    long long *v = ud;
    for (int i = 0; i < 2 && i < ncols; i++) {
        v[i] = cols[i] ? strtoll(cols[i], NULL, 10) : 0;
    }
    return 0;
}

/* The first `limit` stanzas past the mark (-1: all): their last key and number in tail[]. */
static int fts_tail(struct store *st, long long done, int limit, long long *tail)
{
    char d[24], l[16];
    snprintf(d, sizeof(d), "%lld", done);
    snprintf(l, sizeof(l), "%d", limit);
    tail[0] = tail[1] = 0;
    return store__query_rows(st, SQL_FTS_TAIL, STORE_ARGS(d, l), two_numbers, tail);
}

static int index_tail(struct store *st, int limit, int *indexed)
{
    long long done = 0, tail[2];
    int rc = store__query_one(st, SQL_FTS_DONE, STORE_NO_ARGS, NULL, &done);
    rc = rc == 0 ? fts_tail(st, done, limit, tail) : rc;
    if (rc != 0 || tail[1] == 0) {
        return rc;
    }
    char from[24], to[24];
    snprintf(from, sizeof(from), "%lld", done);
    snprintf(to, sizeof(to), "%lld", tail[0]);
    rc = store__run(st, SQL_FTS_ADD, STORE_ARGS(from, to), NULL);
    rc = rc == 0 ? store__run(st, SQL_FTS_MARK, STORE_ARGS(to), NULL) : rc;
    *indexed = rc == 0 ? (int)tail[1] : 0;
    return rc;
}

int store_archive_index_pending(struct store *st, int limit, int *indexed)
{
    *indexed = 0;
    if (store__is_postgresql(st)) {
        return 0; /* the GIN index takes each row as it is written */
    }
    /* A read first: nothing pending (the common case) takes no write lock. */
    long long done = 0, tail[2];
    int rc = store__query_one(st, SQL_FTS_DONE, STORE_NO_ARGS, NULL, &done);
    rc = rc == 0 ? fts_tail(st, done, 1, tail) : rc;
    if (rc != 0 || tail[1] == 0) {
        return rc;
    }
    rc = store_group_begin(st);
    if (rc == 0) {
        rc = store_group_end(st, index_tail(st, limit > 0 ? limit : -1, indexed));
    }
    return rc;
}

/* ---- queries ---- */

/* `plus` "+" keeps SQLite from reading the owner's index (a whole archive's full-text query
 * starts from the matching stanzas instead). */
#define OWNER_IS(plus)                                                                             \
    " " plus "i.owner = (SELECT id FROM archive_jid WHERE domain = ?1 AND name = ?2)"
#define SEL                                                                                        \
    "SELECT i.id, i.outgoing, s.stanza, p.name, i.peer_res FROM archive_idx i"                     \
    " CROSS JOIN archive_stanza s CROSS JOIN archive_jid p"                                        \
    " WHERE s.id = i.sid AND p.id = i.peer AND" OWNER_IS("")
#define RANGE_(plus)                                                                               \
    " AND " plus "i.id >= CAST(?3 AS INTEGER) AND " plus "i.id <= CAST(?4 AS INTEGER)"
#define RANGE RANGE_("")
#define PEER                                                                                       \
    " AND i.peer = (SELECT id FROM archive_jid WHERE domain = '' AND name = ?5)"                   \
    " AND (?6 = '' OR i.peer_res = ?6)"
/* Over a whole archive the matching stanzas are gathered first (a rare word: few), and their
 * rows found by the stanza index; with one peer its rows are walked in order and each is looked
 * up in the full-text index (its common words would gather most of the archive). */
#define FTS(n) " AND i.sid IN (SELECT rowid FROM archive_fts WHERE archive_fts MATCH ?" n ")"
#define FTS_EACH(n)                                                                                \
    " AND EXISTS (SELECT 1 FROM archive_fts WHERE archive_fts MATCH ?" n                           \
    " AND archive_fts.rowid = i.sid)"
#define ASC(n) " ORDER BY i.id ASC LIMIT CAST(?" n " AS INTEGER)"
#define DESC(n) " ORDER BY i.id DESC LIMIT CAST(?" n " AS INTEGER)"

/* A whole archive's full-text page: the matching rows' keys first (the stanza index covers
 * them), then the page's stanzas (reading every match's stanza cost 18 ms instead of 4 for a
 * word in 1,000 of 1,000,000 messages). */
#define TEXT_PAGE(order_limit, dir)                                                                \
    "SELECT i.id, i.outgoing, s.stanza, p.name, i.peer_res FROM (SELECT i.owner AS o, i.id AS id"  \
    " FROM archive_idx i WHERE" OWNER_IS("+") RANGE_("+") FTS("5") order_limit                     \
        ") m"                                                                                      \
        " CROSS JOIN archive_idx i CROSS JOIN archive_stanza s CROSS JOIN archive_jid p"           \
        " WHERE i.owner = m.o AND i.id = m.id AND s.id = i.sid AND p.id = i.peer ORDER BY "        \
        "i.id " dir

/* The statements of the query mix; [descending][peer][text]. */
static const char *const SQL_QUERY[2][2][2] = {
    {
        { SEL RANGE ASC("5"), TEXT_PAGE(ASC("6"), "ASC") },
        { SEL RANGE PEER ASC("7"), SEL RANGE PEER FTS_EACH("7") ASC("8") },
    },
    {
        { SEL RANGE DESC("5"), TEXT_PAGE(DESC("6"), "DESC") },
        { SEL RANGE PEER DESC("7"), SEL RANGE PEER FTS_EACH("7") DESC("8") },
    },
};
/* Counts (RSM <count/>), of at most ?N rows (the last argument): [0] the range, [1] with a peer,
 * [2] with a peer and its resource, [3] with a text (a whole archive). A peer's rows with a text
 * are not counted: each would be looked up in the full-text index. */
#define CAP(n) " LIMIT CAST(?" n " AS INTEGER)) AS page"
#define COUNT_OF(rows) "SELECT count(*) FROM (SELECT 1 FROM archive_idx i WHERE" rows
#define PEER_ONLY " AND i.peer = (SELECT id FROM archive_jid WHERE domain = '' AND name = ?5)"
#define RES " AND i.peer_res = ?6"
static const char *const SQL_COUNT[4] = {
    COUNT_OF(OWNER_IS("") RANGE) CAP("5"),
    COUNT_OF(OWNER_IS("") RANGE PEER_ONLY) CAP("6"),
    COUNT_OF(OWNER_IS("") RANGE PEER_ONLY RES) CAP("7"),
    COUNT_OF(OWNER_IS("+") RANGE_("+") FTS("5")) CAP("6"),
};

/* PostgreSQL's full-text statements ([descending][peer], counts [peer]): the words of the text,
 * all required (plainto_tsquery ignores punctuation, so no user input is read as query
 * syntax). */
#define TSQ(n) " AND s.body_tsv @@ plainto_tsquery('simple', ?" n ")"
#define TSQ_IN(n)                                                                                  \
    " AND i.sid IN (SELECT id FROM archive_stanza WHERE body_tsv @@ plainto_tsquery('simple', ?" n \
    "))"
static const char *const SQL_QUERY_PG[2][2] = {
    { SEL RANGE TSQ("5") ASC("6"), SEL RANGE PEER TSQ("7") ASC("8") },
    { SEL RANGE TSQ("5") DESC("6"), SEL RANGE PEER TSQ("7") DESC("8") },
};
static const char SQL_COUNT_PG[] = COUNT_OF(OWNER_IS("") RANGE TSQ_IN("5")) CAP("6");

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

/* A query's arguments in the statements' order: owner, range, [peer, resource], [text],
 * [limit]; their number. `text` is NULL without a full-text filter. */
static int query_args(const struct store_archive_query *q, const char *text, bool limit,
                      char num[3][24], const char **args)
{
    snprintf(num[0], 24, "%lld", q->lo);
    snprintf(num[1], 24, "%lld", q->hi);
    snprintf(num[2], 24, "%d", q->limit);
    int n = 0;
    args[n++] = q->domain;
    args[n++] = q->name;
    args[n++] = num[0];
    args[n++] = num[1];
    if (q->peer) {
        args[n++] = q->peer;
        args[n++] = q->peer_res ? q->peer_res : "";
    }
    if (text) {
        args[n++] = text;
    }
    if (limit) {
        args[n++] = num[2];
    }
    return n;
}

/* The full-text filter of `q` for `st` in `out` (SQLite: FTS5 words; PostgreSQL: the text), NULL
 * without one. Everything archived is indexed first (SQLite indexes in batches). */
static int text_filter(struct store *st, const struct store_archive_query *q, struct buf *out,
                       const char **text)
{
    *text = NULL;
    if (q->text == NULL) {
        return 0;
    }
    fts_query(q->text, out);
    if (out->len == 0) {
        return 0;
    }
    int indexed;
    *text = store__is_postgresql(st) ? q->text : buf_cstr(out);
    return store_archive_index_pending(st, 0, &indexed);
}

int store_archive_query(struct store *st, const struct store_archive_query *q, store_archive_fn *fn,
                        void *ud)
{
    struct buf words;
    buf_init(&words, 8192);
    const char *text;
    int ret = text_filter(st, q, &words, &text);
    if (ret == 0) {
        const char *sql = SQL_QUERY[q->descending][q->peer != NULL][text != NULL];
        if (text && store__is_postgresql(st)) {
            sql = SQL_QUERY_PG[q->descending][q->peer != NULL];
        }
        char num[3][24];
        const char *args[ARGS_MAX];
        int n = query_args(q, text, true, num, args);
        struct rows_ctx rc = { fn, ud };
        ret = store__query_rows(st, sql, args, n, each_row, &rc);
    }
    buf_cleanup(&words);
    return ret;
}

int store_archive_count(struct store *st, const struct store_archive_query *q, int max,
                        long long *count)
{
    *count = -1;
    if (q->peer && q->text) {
        return 0;
    }
    struct buf words;
    buf_init(&words, 8192);
    const char *text;
    int ret = text_filter(st, q, &words, &text);
    if (ret == 0) {
        int form = text ? 3 : q->peer == NULL ? 0 : q->peer_res == NULL ? 1 : 2;
        const char *sql = text && store__is_postgresql(st) ? SQL_COUNT_PG : SQL_COUNT[form];
        char num[3][24];
        const char *args[ARGS_MAX];
        snprintf(num[0], sizeof(num[0]), "%lld", q->lo);
        snprintf(num[1], sizeof(num[1]), "%lld", q->hi);
        snprintf(num[2], sizeof(num[2]), "%d", max + 1);
        int n = 0;
        const char *all[] = { q->domain, q->name, num[0], num[1], q->peer, q->peer_res, text };
        for (int i = 0; i < 7; i++) {
            if (i < 4 || (i == 4 && form >= 1 && form <= 2) || (i == 5 && form == 2) ||
                (i == 6 && form == 3)) {
                args[n++] = all[i];
            }
        }
        args[n++] = num[2];
        ret = store__query_one(st, sql, args, n, NULL, count);
        *count = ret == 0 && *count > max ? -1 : *count;
    }
    buf_cleanup(&words);
    return ret;
}

static const char SQL_GET[] = SEL " AND i.id = CAST(?3 AS INTEGER)";

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

/* The domain's owners: its accounts, or a chat service's rooms (peers have the domain ''). */
#define IN_DOMAIN(n) " IN (SELECT id FROM archive_jid WHERE domain = ?" n ")"
/* Each owner's oldest rows first (the table's order), without sorting a backlog. */
static const char SQL_PURGE_DOMAIN[] =
    "DELETE FROM archive_idx WHERE (owner, id) IN (SELECT owner, id FROM archive_idx"
    " WHERE owner" IN_DOMAIN("1") " AND id < CAST(?2 AS INTEGER) LIMIT CAST(?3 AS INTEGER))";
static const char SQL_PURGE_ALL[] =
    "DELETE FROM archive_idx WHERE (owner, id) IN (SELECT owner, id FROM archive_idx"
    " WHERE owner IN (SELECT id FROM archive_jid WHERE domain <> '')"
    " AND id < CAST(?1 AS INTEGER) LIMIT CAST(?2 AS INTEGER))";

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

static const char SQL_CLEAR[] = "DELETE FROM archive_idx WHERE owner ="
                                " (SELECT id FROM archive_jid WHERE domain = ?1 AND name = ?2)";

int store_archive_clear(struct store *st, const char *domain, const char *name)
{
    return store__run(st, SQL_CLEAR, STORE_ARGS(domain, name), NULL);
}

static const char SQL_STATS_DOMAIN[] = "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0)"
                                       " FROM archive_idx WHERE owner" IN_DOMAIN("1");
static const char SQL_STATS_ALL[] = "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0)"
                                    " FROM archive_idx";

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
