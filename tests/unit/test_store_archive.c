/* test_store_archive.c: the store's "archive" area: rows, the query mix (ranges both ways, a
 * peer, a resource, full-text), preferences, purge, stats, and the rows going with their
 * account or room. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "store/store.h"
#include "store/store_archive.h"
#include "store/store_int.h"

struct fixture {
    char dir[64];
    char path[128];
    struct store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/starling-archive-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/starling.db", f->dir);
    char err[256] = "";
    f->st = store_open(f->path, err, sizeof(err));
    if (f->st == NULL) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    assert_int_equal(store_domain_add(f->st, "example.com"), 0);
    assert_int_equal(store_account_add(f->st, "example.com", "alice", "x"), 0);
    assert_int_equal(store_account_add(f->st, "example.com", "bob", "x"), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    const char *suffix[] = { "", "-wal", "-shm", "-journal" };
    char p[160];
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static int add(struct store *st, long long id, const char *name, const char *peer, const char *res,
               const char *body)
{
    char stanza[256];
    snprintf(stanza, sizeof(stanza), "<message><body>%s</body></message>", body);
    struct store_archive_row r = { .id = id,
                                   .domain = "example.com",
                                   .name = name,
                                   .peer = peer,
                                   .peer_res = res,
                                   .outgoing = id % 2 == 0,
                                   .stanza = stanza,
                                   .body = body };
    return store_archive_add(st, &r);
}

struct got {
    long long ids[64];
    int n;
};

static int collect(void *ud, const struct store_archive_hit *h)
{
    struct got *g = ud;
    assert_int_equal(h->outgoing, h->id % 2 == 0);
    assert_non_null(strstr(h->stanza, "<body>"));
    assert_string_equal(h->peer, h->id == 11 ? "alice@example.com"
                                 : h->id % 2 ? "bob@example.com"
                                             : "carol@example.com");
    g->ids[g->n++] = h->id;
    return 0;
}

static struct got run(struct store *st, const char *peer, const char *res, const char *text,
                      long long lo, long long hi, bool desc, int limit)
{
    struct store_archive_query q = { .domain = "example.com",
                                     .name = "alice",
                                     .peer = peer,
                                     .peer_res = res,
                                     .text = text,
                                     .lo = lo,
                                     .hi = hi,
                                     .descending = desc,
                                     .limit = limit };
    struct got g = { .n = 0 };
    assert_int_equal(store_archive_query(st, &q, collect, &g), 0);
    return g;
}

/* alice: ids 1..10, peers bob (odd, resources r1/r2) and carol (even). */
static void fill(struct store *st)
{
    static const char *const words[] = { "alpha beta", "beta", "gamma", "alpha", "delta" };
    for (long long id = 1; id <= 10; id++) {
        const char *peer = id % 2 ? "bob@example.com" : "carol@example.com";
        assert_int_equal(add(st, id, "alice", peer, id % 4 == 1 ? "r1" : "r2", words[id % 5]), 0);
    }
    assert_int_equal(add(st, 11, "bob", "alice@example.com", "", "beta"), 0);
}

static void test_ranges_both_ways(void **state)
{
    struct fixture *f = *state;
    fill(f->st);
    struct got g = run(f->st, NULL, NULL, NULL, 0, LLONG_MAX, false, 3);
    assert_int_equal(g.n, 3);
    assert_true(g.ids[0] == 1 && g.ids[2] == 3);
    g = run(f->st, NULL, NULL, NULL, 0, LLONG_MAX, true, 3);
    assert_true(g.n == 3 && g.ids[0] == 10 && g.ids[2] == 8);
    g = run(f->st, NULL, NULL, NULL, 4, 6, false, 50);
    assert_true(g.n == 3 && g.ids[0] == 4 && g.ids[2] == 6);
    g = run(f->st, NULL, NULL, NULL, 0, LLONG_MAX, false, 50);
    assert_int_equal(g.n, 10); /* not bob's row */
}

static void test_peer_resource_text(void **state)
{
    struct fixture *f = *state;
    fill(f->st);
    struct got g = run(f->st, "bob@example.com", NULL, NULL, 0, LLONG_MAX, true, 2);
    assert_true(g.n == 2 && g.ids[0] == 9 && g.ids[1] == 7);
    g = run(f->st, "bob@example.com", "r1", NULL, 0, LLONG_MAX, false, 50);
    assert_true(g.n == 3 && g.ids[0] == 1 && g.ids[1] == 5 && g.ids[2] == 9);
    /* words[id % 5]: "beta" is in ids 1, 5, 6, 10 ("alpha beta" 5, 10; "beta" 1, 6). */
    g = run(f->st, NULL, NULL, "beta", 0, LLONG_MAX, false, 50);
    assert_true(g.n == 4 && g.ids[0] == 1 && g.ids[1] == 5 && g.ids[2] == 6 && g.ids[3] == 10);
    g = run(f->st, NULL, NULL, "alpha beta", 0, LLONG_MAX, false, 50);
    assert_true(g.n == 2 && g.ids[0] == 5 && g.ids[1] == 10);
    g = run(f->st, "carol@example.com", NULL, "beta", 0, LLONG_MAX, false, 50);
    assert_true(g.n == 2 && g.ids[0] == 6 && g.ids[1] == 10);
    /* FTS5 syntax in the words is read as words. */
    g = run(f->st, NULL, NULL, "\"beta OR NEAR(", 0, LLONG_MAX, false, 50);
    assert_int_equal(g.n, 0);
}

static void test_get_and_owner(void **state)
{
    struct fixture *f = *state;
    fill(f->st);
    struct got g = { .n = 0 };
    assert_int_equal(store_archive_get(f->st, "example.com", "alice", 3, collect, &g), 0);
    assert_true(g.n == 1 && g.ids[0] == 3);
    assert_int_equal(store_archive_get(f->st, "example.com", "alice", 11, NULL, NULL),
                     ERR_NOTFOUND);
    assert_int_equal(store_archive_get(f->st, "example.com", "bob", 11, NULL, NULL), 0);
    /* No row for an account that does not exist; a room's rows need none. */
    assert_int_equal(add(f->st, 12, "nobody", "x@example.com", "", "b"), ERR_NOTFOUND);
    /* A batch skips such rows and indexes the others' bodies in one statement. */
    struct store_archive_row rows[3] = {
        { .id = 20,
          .domain = "example.com",
          .name = "alice",
          .peer = "carol@example.com",
          .outgoing = true,
          .stanza = "<message><body>zulu</body></message>",
          .body = "zulu" },
        { .id = 21,
          .domain = "example.com",
          .name = "gone",
          .peer = "carol@example.com",
          .outgoing = true,
          .stanza = "<message><body>zulu</body></message>",
          .body = "zulu" },
        { .id = 22,
          .domain = "example.com",
          .name = "alice",
          .peer = "carol@example.com",
          .outgoing = true,
          .stanza = "<message><body>zulu yankee</body></message>",
          .body = "zulu yankee" },
    };
    const struct store_archive_row *ptrs[3] = { &rows[0], &rows[1], &rows[2] };
    size_t added = 0;
    assert_int_equal(store_archive_add_many(f->st, ptrs, 3, &added), 0);
    assert_int_equal(added, 2);
    struct got z = run(f->st, NULL, NULL, "zulu", 0, LLONG_MAX, false, 50);
    assert_true(z.n == 2 && z.ids[0] == 20 && z.ids[1] == 22);
}

static void test_prefs(void **state)
{
    struct fixture *f = *state;
    struct buf m, a, n;
    buf_init(&m, 16);
    buf_init(&a, 1024);
    buf_init(&n, 1024);
    assert_int_equal(store_archive_prefs_get(f->st, "example.com", "alice", &m, &a, &n),
                     ERR_NOTFOUND);
    assert_int_equal(
        store_archive_prefs_set(f->st, "example.com", "alice", "roster", "b@x\n", "c@x\nd@x\n"), 0);
    assert_int_equal(store_archive_prefs_get(f->st, "example.com", "alice", &m, &a, &n), 0);
    assert_string_equal(buf_cstr(&m), "roster");
    assert_string_equal(buf_cstr(&a), "b@x\n");
    assert_string_equal(buf_cstr(&n), "c@x\nd@x\n");
    buf_cleanup(&m);
    buf_cleanup(&a);
    buf_cleanup(&n);
}

static void test_purge_stats_and_cascades(void **state)
{
    struct fixture *f = *state;
    fill(f->st);
    long long count, oldest, newest;
    assert_int_equal(store_archive_stats(f->st, "example.com", &count, &oldest, &newest), 0);
    assert_true(count == 11 && oldest == 1 && newest == 11);
    int removed = 0;
    assert_int_equal(store_archive_purge(f->st, "example.com", 5, 3, &removed), 0);
    assert_int_equal(removed, 3); /* a small batch: 1, 2, 3 */
    assert_int_equal(store_archive_purge(f->st, NULL, 5, 100, &removed), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(store_archive_purge(f->st, "other.org", 100, 100, &removed), 0);
    assert_int_equal(removed, 0);
    /* The full-text index forgot them too. */
    struct got g = run(f->st, NULL, NULL, "beta", 0, LLONG_MAX, false, 50);
    assert_true(g.n == 3 && g.ids[0] == 5);
    /* The account goes, and its archive and prefs with it. */
    assert_int_equal(store_archive_prefs_set(f->st, "example.com", "alice", "never", "", ""), 0);
    assert_int_equal(store_account_remove(f->st, "example.com", "alice"), 0);
    assert_int_equal(store_archive_stats(f->st, "example.com", &count, &oldest, &newest), 0);
    assert_int_equal(count, 1);
    g = run(f->st, NULL, NULL, "beta", 0, LLONG_MAX, false, 50);
    assert_int_equal(g.n, 0);
    /* A room's archive goes with the room. */
    struct store_archive_row r = { .id = 20,
                                   .domain = "conference.example.com",
                                   .name = "lobby",
                                   .peer = "nick",
                                   .room = true,
                                   .stanza = "<message/>" };
    assert_int_equal(store_archive_add(f->st, &r), 0);
    sqlite3_exec(store__db(f->st),
                 "INSERT INTO muc_rooms VALUES ('lobby@conference.example.com',"
                 " 'conference.example.com', '', '', '')",
                 NULL, NULL, NULL);
    assert_int_equal(store_archive_stats(f->st, "conference.example.com", &count, &oldest, &newest),
                     0);
    assert_int_equal(count, 1);
    sqlite3_exec(store__db(f->st), "DELETE FROM muc_rooms", NULL, NULL, NULL);
    assert_int_equal(store_archive_stats(f->st, "conference.example.com", &count, &oldest, &newest),
                     0);
    assert_int_equal(count, 0);
}

static void exec_ok(struct store *st, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(store__db(st), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, msg ? msg : "?");
    }
    sqlite3_free(msg);
    assert_int_equal(rc, SQLITE_OK);
}

/* A database written by the archive's schema version 1 (one row per archive, text keys) is
 * converted at the next start: its rows are queryable, found by full text, and go with their
 * account. */
static void test_upgrade_from_version_1(void **state)
{
    struct fixture *f = *state;
    exec_ok(f->st, "DROP TRIGGER archive_idx_ad; DROP TRIGGER archive_stanza_ad;"
                   " DROP TRIGGER archive_account_gone; DROP TRIGGER archive_room_gone;"
                   " DROP TABLE archive_fts; DROP TABLE archive_fts_state; DROP TABLE archive_idx;"
                   " DROP TABLE archive_stanza; DROP TABLE archive_jid; DROP TABLE archive_prefs;");
    exec_ok(f->st, store_area_archive.migrations[0]);
    exec_ok(f->st, "UPDATE store_schema SET version = 1 WHERE area = 'archive'");
    exec_ok(f->st,
            "INSERT INTO archive_msg(id, domain, name, peer, peer_res, outgoing, stanza, body)"
            " VALUES (1, 'example.com', 'alice', 'bob@example.com', 'r1', 0,"
            "  '<message><body>old alpha</body></message>', 'old alpha'),"
            " (2, 'example.com', 'alice', 'carol@example.com', '', 1,"
            "  '<message><body>old beta</body></message>', 'old beta'),"
            " (3, 'example.com', 'alice', 'bob@example.com', 'r2', 0,"
            "  '<message><body>old gamma</body></message>', 'old gamma'),"
            " (11, 'example.com', 'bob', 'alice@example.com', '', 0,"
            "  '<message><body>beta</body></message>', 'beta');"
            "INSERT INTO archive_fts(archive_fts) VALUES ('rebuild');");
    store_close(f->st);
    char err[256] = "";
    f->st = store_open(f->path, err, sizeof(err));
    assert_non_null(f->st);
    long long version = 0;
    assert_int_equal(store__query_one(f->st, "SELECT version FROM store_schema WHERE area = ?1",
                                      STORE_ARGS("archive"), NULL, &version),
                     0);
    assert_int_equal(version, 2);
    struct got g = run(f->st, NULL, NULL, NULL, 0, LLONG_MAX, true, 50);
    assert_true(g.n == 3 && g.ids[0] == 3 && g.ids[2] == 1);
    g = run(f->st, "bob@example.com", "r2", NULL, 0, LLONG_MAX, false, 50);
    assert_true(g.n == 1 && g.ids[0] == 3);
    g = run(f->st, NULL, NULL, "old", 0, LLONG_MAX, false, 50);
    assert_int_equal(g.n, 3);
    g = run(f->st, "carol@example.com", NULL, "beta", 0, LLONG_MAX, false, 50);
    assert_true(g.n == 1 && g.ids[0] == 2);
    /* New rows after the upgrade, and the count of a query. */
    assert_int_equal(add(f->st, 4, "alice", "carol@example.com", "", "new beta"), 0);
    struct store_archive_query q = { .domain = "example.com",
                                     .name = "alice",
                                     .text = "beta",
                                     .lo = 0,
                                     .hi = LLONG_MAX };
    long long count = 0;
    assert_int_equal(store_archive_count(f->st, &q, 100, &count), 0);
    assert_int_equal(count, 2);
    /* Past the cap, or a peer's rows with a text: not counted. */
    assert_int_equal(store_archive_count(f->st, &q, 1, &count), 0);
    assert_int_equal(count, -1);
    q.peer = "carol@example.com";
    assert_int_equal(store_archive_count(f->st, &q, 100, &count), 0);
    assert_int_equal(count, -1);
    q.text = NULL;
    assert_int_equal(store_archive_count(f->st, &q, 100, &count), 0);
    assert_int_equal(count, 2);
    q.peer = "bob@example.com";
    q.peer_res = "r2";
    assert_int_equal(store_archive_count(f->st, &q, 100, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(store_account_remove(f->st, "example.com", "alice"), 0);
    long long oldest, newest;
    assert_int_equal(store_archive_stats(f->st, NULL, &count, &oldest, &newest), 0);
    assert_true(count == 1 && oldest == 11);
    assert_int_equal(
        store__query_one(f->st, "SELECT count(*) FROM archive_stanza", STORE_NO_ARGS, NULL, &count),
        0);
    assert_int_equal(count, 1);
}

/* Two owners' rows with the same stanza text share one stored stanza; the full-text index is
 * filled later, and a query indexes what is pending first. */
static void test_shared_stanza_and_pending_index(void **state)
{
    struct fixture *f = *state;
    const char *text = "<message><body>shared words</body></message>";
    struct store_archive_row rows[2] = {
        { .id = 30,
          .domain = "example.com",
          .name = "alice",
          .peer = "bob@example.com",
          .outgoing = true,
          .stanza = text,
          .body = "shared words" },
        { .id = 31,
          .domain = "example.com",
          .name = "bob",
          .peer = "alice@example.com",
          .peer_res = "phone",
          .stanza = text,
          .body = "shared words" },
    };
    const struct store_archive_row *ptrs[2] = { &rows[0], &rows[1] };
    size_t added = 0;
    assert_int_equal(store_archive_add_many(f->st, ptrs, 2, &added), 0);
    assert_int_equal(added, 2);
    long long n = 0;
    assert_int_equal(
        store__query_one(f->st, "SELECT count(*) FROM archive_stanza", STORE_NO_ARGS, NULL, &n), 0);
    assert_int_equal(n, 1);
    int indexed = -1;
    assert_int_equal(store_archive_index_pending(f->st, 0, &indexed), 0);
    assert_int_equal(indexed, 1);
    assert_int_equal(store_archive_index_pending(f->st, 0, &indexed), 0);
    assert_int_equal(indexed, 0);
    struct store_archive_query q = { .domain = "example.com",
                                     .name = "bob",
                                     .text = "words",
                                     .lo = 0,
                                     .hi = LLONG_MAX };
    assert_int_equal(store_archive_count(f->st, &q, 100, &n), 0);
    assert_int_equal(n, 1);
    /* The stanza stays while bob's row has it, and leaves the full-text index with it. */
    assert_int_equal(store_account_remove(f->st, "example.com", "alice"), 0);
    assert_int_equal(store_archive_count(f->st, &q, 100, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_account_remove(f->st, "example.com", "bob"), 0);
    assert_int_equal(
        store__query_one(f->st, "SELECT count(*) FROM archive_stanza", STORE_NO_ARGS, NULL, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store__query_one(f->st,
                                      "SELECT count(*) FROM archive_fts WHERE archive_fts MATCH ?1",
                                      STORE_ARGS("words"), NULL, &n),
                     0);
    assert_int_equal(n, 0);
}

/* Writes one row of alice's with `peer` through the writer's key cache, in its own
 * transaction, committed or rolled back as the writer does. */
static void cached_row(struct store *st, struct store_archive_keys *keys, long long id,
                       const char *name, const char *peer, bool commit, size_t want)
{
    struct store_archive_row r = { .id = id,
                                   .domain = "example.com",
                                   .name = name,
                                   .peer = peer,
                                   .peer_res = "",
                                   .outgoing = true,
                                   .stanza = "<message><body>k</body></message>",
                                   .body = "k" };
    const struct store_archive_row *ptr = &r;
    size_t added = 0;
    assert_int_equal(store_begin(st), 0);
    assert_int_equal(store_archive_add_many_keys(st, keys, &ptr, 1, &added), 0);
    assert_int_equal(added, want);
    if (commit) {
        assert_int_equal(store_commit(st), 0);
    } else {
        assert_int_equal(store_rollback(st), 0);
        store_archive_keys_forget(keys); /* as the writer does after a batch not committed */
    }
}

static int count_hits(void *ud, const struct store_archive_hit *h)
{
    (void)h;
    (*(int *)ud)++;
    return 0;
}

static int rows_with(struct store *st, const char *peer)
{
    struct store_archive_query q = { .domain = "example.com",
                                     .name = "alice",
                                     .peer = peer,
                                     .lo = 0,
                                     .hi = LLONG_MAX,
                                     .limit = 50 };
    int n = 0;
    assert_int_equal(store_archive_query(st, &q, count_hits, &n), 0);
    return n;
}

/* The writer's keys across batches: a key of a rolled-back batch is not reused (the next new
 * JID may get the same number), and a removed account's rows are still skipped. */
static void test_key_cache_across_batches(void **state)
{
    struct fixture *f = *state;
    struct store_archive_keys *keys = store_archive_keys_new();
    cached_row(f->st, keys, 1, "alice", "bob@example.com", true, 1);
    cached_row(f->st, keys, 2, "alice", "dave@example.com", false, 1);
    cached_row(f->st, keys, 3, "alice", "erin@example.com", true, 1);
    cached_row(f->st, keys, 4, "alice", "dave@example.com", true, 1);
    cached_row(f->st, keys, 5, "alice", "bob@example.com", true, 1);
    assert_int_equal(rows_with(f->st, "bob@example.com"), 2);
    assert_int_equal(rows_with(f->st, "dave@example.com"), 1);
    assert_int_equal(rows_with(f->st, "erin@example.com"), 1);
    assert_int_equal(store_account_remove(f->st, "example.com", "bob"), 0);
    cached_row(f->st, keys, 6, "bob", "alice@example.com", true, 0);
    cached_row(f->st, keys, 7, "alice", "bob@example.com", true, 1);
    assert_int_equal(rows_with(f->st, "bob@example.com"), 3);
    store_archive_keys_free(keys);
}

/* A batch larger than a multi-row statement's group: every row written, once, in its place. */
static void test_many_rows_one_batch(void **state)
{
    struct fixture *f = *state;
    enum { N = 75 };
    struct store_archive_row rows[N];
    const struct store_archive_row *ptrs[N];
    char text[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof(text[i]), "<message><body>m%d</body></message>", i);
        rows[i] = (struct store_archive_row){ .id = 100 + i,
                                              .domain = "example.com",
                                              .name = i % 3 ? "alice" : "bob",
                                              .peer = i % 2 ? "bob@example.com" : "dave@x",
                                              .peer_res = "",
                                              .outgoing = true,
                                              .stanza = text[i],
                                              .body = text[i] };
        ptrs[i] = &rows[i];
    }
    size_t added = 0;
    assert_int_equal(store_archive_add_many(f->st, ptrs, N, &added), 0);
    assert_int_equal(added, N);
    int alice = 0, with_bob = 0;
    for (int i = 0; i < N; i++) {
        alice += i % 3 != 0;
        with_bob += i % 3 != 0 && i % 2;
    }
    assert_int_equal(rows_with(f->st, NULL), alice);
    assert_int_equal(rows_with(f->st, "bob@example.com"), with_bob);
    long long count, oldest, newest;
    assert_int_equal(store_archive_stats(f->st, "example.com", &count, &oldest, &newest), 0);
    assert_true(count == N && oldest == 100 && newest == 100 + N - 1);
}

/* One side's row of a message between alice and bob with the shared stored stanza `sh`,
 * written in its own batch (transaction), committed or rolled back, then settled as the
 * writer does. */
static void shared_row(struct store *st, struct store_archive_shared *sh, long long id,
                       bool outgoing, bool commit)
{
    struct store_archive_row r = { .id = id,
                                   .domain = "example.com",
                                   .name = outgoing ? "alice" : "bob",
                                   .peer = outgoing ? "bob@example.com" : "alice@example.com",
                                   .peer_res = "",
                                   .outgoing = outgoing,
                                   .stanza = "<message><body>pair</body></message>",
                                   .body = "pair",
                                   .shared = sh };
    const struct store_archive_row *ptr = &r;
    size_t added = 0;
    assert_int_equal(store_begin(st), 0);
    assert_int_equal(store_archive_add_many(st, &ptr, 1, &added), 0);
    assert_int_equal(added, 1);
    assert_int_equal(commit ? store_commit(st) : store_rollback(st), 0);
    store_archive_shared_settle(&ptr, 1, commit);
}

static long long stanzas(struct store *st)
{
    long long n = -1;
    assert_int_equal(
        store__query_one(st, "SELECT count(*) FROM archive_stanza", STORE_NO_ARGS, NULL, &n), 0);
    return n;
}

static long long sid_of(struct store *st, long long id)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", id);
    long long sid = -1;
    assert_int_equal(store__query_one(st, "SELECT sid FROM archive_idx WHERE id = ?1",
                                      STORE_ARGS(num), NULL, &sid),
                     0);
    return sid;
}

/* A shared stored stanza across batches: written once by the first batch and remembered once
 * it committed; a rolled-back batch leaves no key behind; a remembered stanza removed since
 * (its only row's account removed) is written again. */
static void test_shared_stanza_across_batches(void **state)
{
    struct fixture *f = *state;
    struct store_archive_shared sh = { 0, 0 };
    shared_row(f->st, &sh, 40, true, true);
    assert_true(sh.sid == 40 && sh.pending == 0);
    shared_row(f->st, &sh, 41, false, true);
    assert_int_equal(stanzas(f->st), 1);
    assert_int_equal(sid_of(f->st, 41), 40);
    /* Rolled back: forgotten; the next batch writes its own. */
    struct store_archive_shared rb = { 0, 0 };
    shared_row(f->st, &rb, 50, true, false);
    assert_true(rb.sid == 0 && rb.pending == 0);
    shared_row(f->st, &rb, 51, false, true);
    assert_int_equal(rb.sid, 51);
    assert_int_equal(sid_of(f->st, 51), 51);
    assert_int_equal(stanzas(f->st), 2);
    /* Both rows in one batch: one stored stanza, no text compared. */
    struct store_archive_shared one = { 0, 0 };
    struct store_archive_row r[2] = {
        { .id = 60,
          .domain = "example.com",
          .name = "alice",
          .peer = "bob@example.com",
          .outgoing = true,
          .stanza = "<message><body>a</body></message>",
          .shared = &one },
        { .id = 61,
          .domain = "example.com",
          .name = "bob",
          .peer = "alice@example.com",
          .stanza = "<message><body>a</body></message>",
          .shared = &one },
    };
    const struct store_archive_row *ptrs[2] = { &r[0], &r[1] };
    size_t added = 0;
    assert_int_equal(store_archive_add_many(f->st, ptrs, 2, &added), 0);
    store_archive_shared_settle(ptrs, 2, true);
    assert_true(added == 2 && one.sid == 60 && sid_of(f->st, 61) == 60);
    assert_int_equal(stanzas(f->st), 3);
    /* The remembered stanza went with alice's row: bob's row gets its own. */
    struct store_archive_shared gone = { 0, 0 };
    shared_row(f->st, &gone, 70, true, true);
    assert_int_equal(store_account_remove(f->st, "example.com", "alice"), 0);
    shared_row(f->st, &gone, 71, false, true);
    assert_int_equal(gone.sid, 71);
    assert_int_equal(sid_of(f->st, 71), 71);
    assert_int_equal(stanzas(f->st), 4); /* those of bob's rows: 40, 51, 60, 71 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ranges_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_resource_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_and_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_stats_and_cascades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_version_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_stanza_and_pending_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_cache_across_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_rows_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_stanza_across_batches, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
