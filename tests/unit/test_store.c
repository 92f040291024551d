/* test_store.c: the SQLite store: migrations, every call, cascades, several handles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "store/store.h"
#include "store/store_fast.h"
#include "store/store_im.h"
#include "store/store_int.h"

struct fixture {
    char dir[64];
    char path[128];
    struct store *st;
};

static void remove_db(struct fixture *f)
{
    const char *suffix[] = { "", "-wal", "-shm", "-journal" };
    char p[160];
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/starling-store-XXXXXX");
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
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    remove_db(f);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Collects list rows as "a" or "a=b", comma-separated. */
struct collect {
    char text[1024];
    int rows;
    int stop_after;
};

static int collect_row(void *ud, const char *a, const char *b)
{
    struct collect *c = ud;
    size_t len = strlen(c->text);
    snprintf(c->text + len, sizeof(c->text) - len, "%s%s%s%s", len ? "," : "", a, b ? "=" : "",
             b ? b : "");
    c->rows++;
    return c->stop_after != 0 && c->rows >= c->stop_after ? 42 : 0;
}

/* A count from a raw connection to the file, to see what the store really holds. */
static int raw_count(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int n = -1;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW) {
        n = sqlite3_column_int(s, 0);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static const char *raw_text(const char *path, const char *sql, char *out, size_t outlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    out[0] = '\0';
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW) {
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

static void test_migrate_new(void **state)
{
    struct fixture *f = *state;
    char text[64];
    assert_int_equal(store_schema_version(f->st), 2);
    assert_int_equal(raw_count(f->path, "PRAGMA user_version"), 2);
    /* Every area records its own version (0 for an area with no tables yet). */
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM store_schema"),
                     raw_count(f->path, "SELECT count(*) FROM store_schema WHERE version >= 0"));
    assert_string_equal(raw_text(f->path, "PRAGMA journal_mode", text, sizeof(text)), "wal");
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                        " AND name IN ('domains', 'domain_aliases', "
                                        "'domain_settings', 'accounts', 'account_settings')"),
                     5);
    assert_string_equal(store_last_error(f->st), "");
}

static void test_migrate_existing(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_int_equal(store_domain_add(f->st, "example.com"), 0);
    store_close(f->st);
    /* Reopening an up-to-date file keeps the data and the version. */
    f->st = store_open(f->path, err, sizeof(err));
    assert_non_null(f->st);
    assert_int_equal(store_schema_version(f->st), 2);
    assert_int_equal(store_domain_exists(f->st, "example.com"), 1);
    store_close(f->st);

    /* A file from a newer server is refused, with a reason. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    f->st = store_open(f->path, err, sizeof(err));
    assert_null(f->st);
    assert_non_null(strstr(err, "99"));

    /* An existing SQLite file at version 0 (another table in it) is migrated. */
    remove_db(f);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE other(x); INSERT INTO other VALUES (7)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    f->st = store_open(f->path, err, sizeof(err));
    assert_non_null(f->st);
    assert_int_equal(store_schema_version(f->st), 2);
    assert_int_equal(store_domain_add(f->st, "example.com"), 0);
    assert_int_equal(raw_count(f->path, "SELECT x FROM other"), 7);

    /* A path that cannot be created. */
    err[0] = '\0';
    assert_null(store_open("/nonexistent-dir/x/starling.db", err, sizeof(err)));
    assert_true(strlen(err) > 0);
}

static void test_domains(void **state)
{
    struct fixture *f = *state;
    struct collect c = { 0 };
    assert_int_equal(store_domain_add(f->st, "b.example"), 0);
    assert_int_equal(store_domain_add(f->st, "a.example"), 0);
    assert_int_equal(store_domain_add(f->st, "a.example"), ERR_EXISTS);
    assert_true(strlen(store_last_error(f->st)) > 0);
    assert_int_equal(store_domain_exists(f->st, "a.example"), 1);
    assert_int_equal(store_domain_exists(f->st, "c.example"), 0);
    assert_int_equal(store_domain_list(f->st, collect_row, &c), 0);
    assert_string_equal(c.text, "a.example,b.example");
    assert_int_equal(store_domain_remove(f->st, "a.example"), 0);
    assert_int_equal(store_domain_remove(f->st, "a.example"), ERR_NOTFOUND);
    assert_int_equal(store_domain_exists(f->st, "a.example"), 0);
    /* Names are stored as given: the store does not prepare them. */
    assert_int_equal(store_domain_add(f->st, "B.example"), 0);
    assert_int_equal(store_domain_exists(f->st, "B.example"), 1);

    /* A callback's non-zero return stops the list and is returned. */
    memset(&c, 0, sizeof(c));
    c.stop_after = 1;
    assert_int_equal(store_domain_list(f->st, collect_row, &c), 42);
    assert_int_equal(c.rows, 1);
}

static void test_aliases(void **state)
{
    struct fixture *f = *state;
    struct buf b;
    struct collect c = { 0 };
    buf_init(&b, 1024);
    assert_int_equal(store_domain_add(f->st, "example.com"), 0);
    assert_int_equal(store_domain_add(f->st, "other.com"), 0);
    assert_int_equal(store_alias_add(f->st, "example.com", "www.example.com"), 0);
    assert_int_equal(store_alias_add(f->st, "example.com", "chat.example.com"), 0);
    /* Taken by an alias, by a domain, missing domain. */
    assert_int_equal(store_alias_add(f->st, "other.com", "www.example.com"), ERR_EXISTS);
    assert_int_equal(store_alias_add(f->st, "example.com", "other.com"), ERR_EXISTS);
    assert_int_equal(store_alias_add(f->st, "example.com", "example.com"), ERR_EXISTS);
    assert_int_equal(store_alias_add(f->st, "missing.com", "x.com"), ERR_NOTFOUND);
    assert_int_equal(store_domain_add(f->st, "www.example.com"), ERR_EXISTS);
    /* An alias is not a domain. */
    assert_int_equal(store_domain_exists(f->st, "www.example.com"), 0);

    assert_int_equal(store_domain_resolve(f->st, "www.example.com", &b), 0);
    assert_string_equal(buf_cstr(&b), "example.com");
    assert_int_equal(store_domain_resolve(f->st, "other.com", &b), 0);
    assert_string_equal(buf_cstr(&b), "other.com");
    assert_int_equal(store_domain_resolve(f->st, "nope.com", &b), ERR_NOTFOUND);

    assert_int_equal(store_alias_list(f->st, "example.com", collect_row, &c), 0);
    assert_string_equal(c.text, "chat.example.com,www.example.com");
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_alias_list(f->st, "other.com", collect_row, &c), 0);
    assert_int_equal(c.rows, 0);
    assert_int_equal(store_alias_list(f->st, "nope.com", collect_row, &c), ERR_NOTFOUND);

    assert_int_equal(store_alias_remove(f->st, "www.example.com"), 0);
    assert_int_equal(store_alias_remove(f->st, "www.example.com"), ERR_NOTFOUND);
    assert_int_equal(store_domain_resolve(f->st, "www.example.com", &b), ERR_NOTFOUND);
    /* Once free, the name can become a domain. */
    assert_int_equal(store_domain_add(f->st, "www.example.com"), 0);

    /* A too small buffer. */
    struct buf small;
    buf_init(&small, 4);
    assert_int_equal(store_domain_resolve(f->st, "chat.example.com", &small), ERR_LIMIT);
    buf_cleanup(&small);
    buf_cleanup(&b);
}

static void test_domain_settings(void **state)
{
    struct fixture *f = *state;
    struct buf b;
    struct collect c = { 0 };
    buf_init(&b, 1024);
    assert_int_equal(store_domain_add(f->st, "d.com"), 0);
    assert_int_equal(store_domain_setting_get(f->st, "d.com", "xmpp", &b), ERR_NOTFOUND);
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "xmpp", "no"), 0);
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "auto_signup", "yes"), 0);
    assert_int_equal(store_domain_setting_get(f->st, "d.com", "xmpp", &b), 0);
    assert_string_equal(buf_cstr(&b), "no");
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "xmpp", "yes"), 0);
    assert_int_equal(store_domain_setting_get(f->st, "d.com", "xmpp", &b), 0);
    assert_string_equal(buf_cstr(&b), "yes");
    /* The empty string is a value, not a deletion. */
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "empty", ""), 0);
    assert_int_equal(store_domain_setting_get(f->st, "d.com", "empty", &b), 0);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(store_domain_settings_list(f->st, "d.com", collect_row, &c), 0);
    assert_string_equal(c.text, "auto_signup=yes,empty=,xmpp=yes");
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "xmpp", NULL), 0);
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "xmpp", NULL), 0);
    assert_int_equal(store_domain_setting_get(f->st, "d.com", "xmpp", &b), ERR_NOTFOUND);

    assert_int_equal(store_domain_setting_set(f->st, "x.com", "xmpp", "no"), ERR_NOTFOUND);
    assert_int_equal(store_domain_setting_set(f->st, "x.com", "xmpp", NULL), ERR_NOTFOUND);
    assert_int_equal(store_domain_setting_get(f->st, "x.com", "xmpp", &b), ERR_NOTFOUND);
    assert_int_equal(store_domain_settings_list(f->st, "x.com", collect_row, &c), ERR_NOTFOUND);
    buf_cleanup(&b);
}

static void test_accounts(void **state)
{
    struct fixture *f = *state;
    struct buf b;
    struct collect c = { 0 };
    long long created = 0;
    buf_init(&b, 1024);
    assert_int_equal(store_domain_add(f->st, "d.com"), 0);
    assert_int_equal(store_domain_add(f->st, "e.com"), 0);
    assert_int_equal(store_account_count(f->st, "d.com"), 0);
    time_t before = time(NULL);
    assert_int_equal(store_account_add(f->st, "d.com", "bob", "creds-bob"), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "alice", "creds-alice"), 0);
    assert_int_equal(store_account_add(f->st, "e.com", "alice", "creds-e"), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "alice", "x"), ERR_EXISTS);
    assert_int_equal(store_account_add(f->st, "nope.com", "alice", "x"), ERR_NOTFOUND);
    assert_int_equal(store_account_exists(f->st, "d.com", "alice"), 1);
    assert_int_equal(store_account_exists(f->st, "d.com", "carol"), 0);
    assert_int_equal(store_account_count(f->st, "d.com"), 2);
    assert_int_equal(store_account_count(f->st, "nope.com"), ERR_NOTFOUND);

    assert_int_equal(store_account_created(f->st, "d.com", "alice", &created), 0);
    assert_true(created >= (long long)before && created <= (long long)time(NULL));
    assert_int_equal(store_account_created(f->st, "d.com", "carol", &created), ERR_NOTFOUND);

    assert_int_equal(store_account_credentials(f->st, "d.com", "alice", &b), 0);
    assert_string_equal(buf_cstr(&b), "creds-alice");
    assert_int_equal(store_account_credentials(f->st, "e.com", "alice", &b), 0);
    assert_string_equal(buf_cstr(&b), "creds-e");
    assert_int_equal(store_account_credentials(f->st, "d.com", "carol", &b), ERR_NOTFOUND);
    assert_int_equal(store_account_set_credentials(f->st, "d.com", "alice", "new"), 0);
    assert_int_equal(store_account_credentials(f->st, "d.com", "alice", &b), 0);
    assert_string_equal(buf_cstr(&b), "new");
    assert_int_equal(store_account_set_credentials(f->st, "d.com", "carol", "x"), ERR_NOTFOUND);

    assert_int_equal(store_account_list(f->st, "d.com", collect_row, &c), 0);
    assert_string_equal(c.text, "alice,bob");
    assert_int_equal(store_account_list(f->st, "nope.com", collect_row, &c), ERR_NOTFOUND);

    assert_int_equal(store_account_remove(f->st, "d.com", "bob"), 0);
    assert_int_equal(store_account_remove(f->st, "d.com", "bob"), ERR_NOTFOUND);
    assert_int_equal(store_account_count(f->st, "d.com"), 1);
    assert_int_equal(store_account_exists(f->st, "e.com", "alice"), 1);
    buf_cleanup(&b);
}

static void test_account_settings(void **state)
{
    struct fixture *f = *state;
    struct buf b;
    struct collect c = { 0 };
    buf_init(&b, 1024);
    assert_int_equal(store_domain_add(f->st, "d.com"), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "alice", "c"), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "bob", "c"), 0);
    assert_int_equal(store_account_setting_set(f->st, "d.com", "alice", "admin", "yes"), 0);
    assert_int_equal(store_account_setting_set(f->st, "d.com", "alice", "real_name", "Alice"), 0);
    assert_int_equal(store_account_setting_set(f->st, "d.com", "bob", "admin", "no"), 0);
    assert_int_equal(store_account_setting_get(f->st, "d.com", "alice", "admin", &b), 0);
    assert_string_equal(buf_cstr(&b), "yes");
    assert_int_equal(store_account_setting_get(f->st, "d.com", "bob", "admin", &b), 0);
    assert_string_equal(buf_cstr(&b), "no");
    assert_int_equal(store_account_setting_set(f->st, "d.com", "alice", "admin", "no"), 0);
    assert_int_equal(store_account_setting_get(f->st, "d.com", "alice", "admin", &b), 0);
    assert_string_equal(buf_cstr(&b), "no");
    assert_int_equal(store_account_settings_list(f->st, "d.com", "alice", collect_row, &c), 0);
    assert_string_equal(c.text, "admin=no,real_name=Alice");
    assert_int_equal(store_account_setting_set(f->st, "d.com", "alice", "admin", NULL), 0);
    assert_int_equal(store_account_setting_get(f->st, "d.com", "alice", "admin", &b), ERR_NOTFOUND);
    assert_int_equal(store_account_setting_set(f->st, "d.com", "carol", "admin", "yes"),
                     ERR_NOTFOUND);
    assert_int_equal(store_account_setting_set(f->st, "d.com", "carol", "admin", NULL),
                     ERR_NOTFOUND);
    assert_int_equal(store_account_settings_list(f->st, "d.com", "carol", collect_row, &c),
                     ERR_NOTFOUND);

    /* Removing an account removes its settings; a new account of that name starts clean. */
    assert_int_equal(store_account_remove(f->st, "d.com", "alice"), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "alice", "c"), 0);
    assert_int_equal(store_account_setting_get(f->st, "d.com", "alice", "real_name", &b),
                     ERR_NOTFOUND);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM account_settings"), 1);
    buf_cleanup(&b);
}

static void test_cascade(void **state)
{
    struct fixture *f = *state;
    struct collect c = { 0 };
    assert_int_equal(store_domain_add(f->st, "d.com"), 0);
    assert_int_equal(store_domain_add(f->st, "keep.com"), 0);
    assert_int_equal(store_alias_add(f->st, "d.com", "alias.d.com"), 0);
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "xmpp", "no"), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "alice", "c"), 0);
    assert_int_equal(store_account_setting_set(f->st, "d.com", "alice", "admin", "yes"), 0);
    assert_int_equal(store_account_add(f->st, "keep.com", "alice", "c"), 0);
    assert_int_equal(store_account_setting_set(f->st, "keep.com", "alice", "admin", "yes"), 0);

    assert_int_equal(store_domain_remove(f->st, "d.com"), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM domain_aliases"), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM domain_settings"), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM accounts"), 1);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM account_settings"), 1);

    /* The alias name is free again, and a re-created domain starts empty. */
    assert_int_equal(store_domain_add(f->st, "alias.d.com"), 0);
    assert_int_equal(store_domain_add(f->st, "d.com"), 0);
    assert_int_equal(store_account_count(f->st, "d.com"), 0);
    assert_int_equal(store_domain_settings_list(f->st, "d.com", collect_row, &c), 0);
    assert_int_equal(store_alias_list(f->st, "d.com", collect_row, &c), 0);
    assert_int_equal(c.rows, 0);
}

static void test_transactions(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct store *other = store_open(f->path, err, sizeof(err));
    assert_non_null(other);

    /* A write through one handle is seen by the other. */
    assert_int_equal(store_domain_add(f->st, "one.com"), 0);
    assert_int_equal(store_domain_exists(other, "one.com"), 1);
    assert_int_equal(store_account_add(other, "one.com", "u", "c"), 0);
    assert_int_equal(store_account_exists(f->st, "one.com", "u"), 1);

    /* Uncommitted writes are invisible to the other handle; rollback discards them. */
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_domain_add(f->st, "two.com"), 0);
    assert_int_equal(store_domain_exists(f->st, "two.com"), 1);
    assert_int_equal(store_domain_exists(other, "two.com"), 0);
    /* A failed call inside the transaction does not end it. */
    assert_int_equal(store_domain_add(f->st, "one.com"), ERR_EXISTS);
    assert_int_equal(store_rollback(f->st), 0);
    assert_int_equal(store_domain_exists(f->st, "two.com"), 0);

    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_domain_add(f->st, "two.com"), 0);
    assert_int_equal(store_domain_add(f->st, "three.com"), 0);
    assert_int_equal(store_commit(f->st), 0);
    assert_int_equal(store_domain_exists(other, "two.com"), 1);
    assert_int_equal(store_domain_exists(other, "three.com"), 1);

    /* Commit without a transaction is a store error with a message. */
    assert_int_equal(store_commit(f->st), ERR_STORE);
    assert_true(strlen(store_last_error(f->st)) > 0);
    store_close(other);
}

/* A callback that uses the store while a listing runs. */
static int add_alias_row(void *ud, const char *a, const char *b)
{
    (void)b;
    struct store *st = ud;
    char alias[300];
    snprintf(alias, sizeof(alias), "www.%s", a);
    return store_alias_add(st, a, alias);
}

static void test_reentrant_list(void **state)
{
    struct fixture *f = *state;
    struct collect c = { 0 };
    assert_int_equal(store_domain_add(f->st, "a.com"), 0);
    assert_int_equal(store_domain_add(f->st, "b.com"), 0);
    assert_int_equal(store_domain_list(f->st, add_alias_row, f->st), 0);
    assert_int_equal(store_alias_list(f->st, "b.com", collect_row, &c), 0);
    assert_string_equal(c.text, "www.b.com");
}

struct opener {
    const char *path;
    int index;
    int rc;
};

static void *open_thread(void *arg)
{
    struct opener *o = arg;
    char err[256];
    char name[32];
    struct store *st = store_open(o->path, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "thread %d: %s\n", o->index, err);
        o->rc = -100;
        return NULL;
    }
    snprintf(name, sizeof(name), "t%d.com", o->index);
    o->rc = store_domain_add(st, name);
    if (o->rc == 0) {
        o->rc = store_schema_version(st) == 2 ? 0 : -101;
    }
    store_close(st);
    return NULL;
}

static void test_concurrent_open(void **state)
{
    struct fixture *f = *state;
    enum { THREADS = 8, ROUNDS = 5 };
    char path[128];
    snprintf(path, sizeof(path), "%s/concurrent.db", f->dir);
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t th[THREADS];
        struct opener o[THREADS];
        for (int i = 0; i < THREADS; i++) {
            o[i] = (struct opener){ path, i, -1 };
            assert_int_equal(pthread_create(&th[i], NULL, open_thread, &o[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(o[i].rc, 0);
        }
        assert_int_equal(raw_count(path, "SELECT count(*) FROM domains"), THREADS);
        assert_int_equal(raw_count(path, "PRAGMA user_version"), 2);
        struct fixture tmp;
        snprintf(tmp.path, sizeof(tmp.path), "%s", path);
        remove_db(&tmp);
    }
}


/* ---- the fault-injection hook (store_fault_set) ---- */

static int teardown_fault(void **state)
{
    store_fault_set(NULL);
    return teardown(state);
}

static void test_fault_spec(void **state)
{
    (void)state;
    const char *bad[] = { "nth=0",        "error=boom", "table=",  "count=-1",
                          "frobnicate=1", "nth",        "after=x", "table=a|b|c|d|e|f|g|h|i" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(store_fault_set(bad[i]), ERR_INVAL);
    }
    assert_int_equal(store_fault_set("table=im_roster*|commit,error=full,after=2,count=3"), 0);
    assert_int_equal(store_fault_set("off"), 0);
    assert_int_equal(store_fault_set(""), 0);
    assert_int_equal(store_fault_set(NULL), 0);
}

static void test_fault_target(void **state)
{
    (void)state;
    char t[64];
    store__write_target("INSERT OR IGNORE INTO im_blocklist(domain) VALUES (?1)", t, sizeof(t));
    assert_string_equal(t, "im_blocklist");
    store__write_target("UPDATE accounts SET credentials = ?3", t, sizeof(t));
    assert_string_equal(t, "accounts");
    store__write_target("DELETE FROM domains WHERE name = ?1", t, sizeof(t));
    assert_string_equal(t, "domains");
    store__write_target("INSERT INTO store_schema(area, version) VALUES (?1, ?2)", t, sizeof(t));
    assert_string_equal(t, "store_schema");
    store__write_target("SELECT 1", t, sizeof(t));
    assert_string_equal(t, "");
}

/* The Nth matching write fails as a full disk, once; other tables and writes are untouched. */
static void test_fault_nth(void **state)
{
    struct fixture *f = *state;
    struct buf v;
    buf_init(&v, 64);
    assert_int_equal(store_domain_add(f->st, "d.com"), 0);
    assert_int_equal(store_fault_set("table=domain_settings,nth=2,error=full"), 0);
    assert_int_equal(store_domain_add(f->st, "e.com"), 0); /* another table */
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "a", "1"), 0);
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "b", "2"), ERR_NOSPACE);
    assert_non_null(strstr(store_last_error(f->st), "full"));
    assert_int_equal(store_domain_setting_get(f->st, "d.com", "b", &v), ERR_NOTFOUND);
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "c", "3"), 0);
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "b", "2"), 0);
    assert_int_equal(store_domain_setting_get(f->st, "d.com", "b", &v), 0);
    assert_string_equal(buf_cstr(&v), "2");
    buf_cleanup(&v);
}

/* Every matching write fails (generic error) until the hook is disarmed; `after`/`count`. */
static void test_fault_every(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_domain_add(f->st, "d.com"), 0);
    assert_int_equal(store_fault_set("table=acc*"), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "u", "c"), ERR_STORE);
    assert_int_equal(store_account_add(f->st, "d.com", "u", "c"), ERR_STORE);
    assert_int_equal(store_account_exists(f->st, "d.com", "u"), 0);
    assert_int_equal(store_domain_add(f->st, "x.com"), 0);
    assert_int_equal(store_fault_set("table=accounts,after=1,count=2,error=full"), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "a", "c"), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "b", "c"), ERR_NOSPACE);
    assert_int_equal(store_account_add(f->st, "d.com", "b", "c"), ERR_NOSPACE);
    assert_int_equal(store_account_add(f->st, "d.com", "b", "c"), 0);
    assert_int_equal(store_fault_set(NULL), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "u", "c"), 0);
}

/* A failing commit (of a transaction or of a group) leaves nothing behind. */
static void test_fault_commit(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_fault_set("table=commit,error=full"), 0);
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_domain_add(f->st, "a.com"), 0);
    assert_int_equal(store_commit(f->st), ERR_NOSPACE);
    assert_int_equal(store_rollback(f->st), 0);
    assert_int_equal(store_domain_exists(f->st, "a.com"), 0);
    assert_int_equal(store_group_begin(f->st), 0);
    assert_int_equal(store_domain_add(f->st, "b.com"), 0);
    assert_int_equal(store_group_end(f->st, 0), ERR_NOSPACE);
    assert_int_equal(store_domain_exists(f->st, "b.com"), 0);
    /* Autocommit writes are not commits: untouched. */
    assert_int_equal(store_domain_add(f->st, "c.com"), 0);
    assert_int_equal(store_fault_set(NULL), 0);
    assert_int_equal(store_group_begin(f->st), 0);
    assert_int_equal(store_domain_add(f->st, "b.com"), 0);
    assert_int_equal(store_group_end(f->st, 0), 0);
    assert_int_equal(store_domain_exists(f->st, "b.com"), 1);
}

/* A group inside a transaction is a savepoint: its failure undoes only its own calls. */
static void test_group_nested(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_domain_add(f->st, "a.com"), 0);
    assert_int_equal(store_group_begin(f->st), 0);
    assert_int_equal(store_domain_add(f->st, "b.com"), 0);
    assert_int_equal(store_group_begin(f->st), 0);
    assert_int_equal(store_domain_add(f->st, "c.com"), 0);
    assert_int_equal(store_group_end(f->st, 0), 0);
    assert_int_equal(store_group_end(f->st, ERR_STORE), ERR_STORE);
    assert_int_equal(store_commit(f->st), 0);
    assert_int_equal(store_domain_exists(f->st, "a.com"), 1);
    assert_int_equal(store_domain_exists(f->st, "b.com"), 0);
    assert_int_equal(store_domain_exists(f->st, "c.com"), 0);
}

/* A roster write is one change: a failed item write leaves the roster version as it was. */
static void test_fault_roster_atomic(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_domain_add(f->st, "d.com"), 0);
    assert_int_equal(store_account_add(f->st, "d.com", "u", "c"), 0);
    struct store_roster_item it = { .contact = "x@y.com", .groups = "" };
    long long ver = -1;
    assert_int_equal(store_fault_set("table=im_roster,error=full"), 0);
    assert_int_equal(store_im_roster_put(f->st, "d.com", "u", &it, &ver), ERR_NOSPACE);
    assert_int_equal(store_im_roster_version(f->st, "d.com", "u", &ver), 0);
    assert_int_equal(ver, 0);
    assert_int_equal(store_im_roster_count(f->st, "d.com", "u"), 0);
    assert_int_equal(store_fault_set(NULL), 0);
    assert_int_equal(store_im_roster_put(f->st, "d.com", "u", &it, &ver), 0);
    assert_int_equal(ver, 1);
    assert_int_equal(store_fault_set("table=im_roster,error=generic"), 0);
    assert_int_equal(store_im_roster_remove(f->st, "d.com", "u", "x@y.com", &ver), ERR_STORE);
    assert_int_equal(store_fault_set(NULL), 0);
    assert_int_equal(store_im_roster_version(f->st, "d.com", "u", &ver), 0);
    assert_int_equal(ver, 1);
    assert_int_equal(store_im_roster_count(f->st, "d.com", "u"), 1);
}

/* A real SQLITE_FULL (the page limit reached) is ERR_NOSPACE, like the injected one. */
static void test_real_full(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_domain_add(f->st, "d.com"), 0);
    sqlite3 *db = store__db(f->st);
    assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1", NULL, NULL, NULL), SQLITE_OK);
    size_t len = 256 * 1024;
    char *big = malloc(len + 1);
    memset(big, 'x', len);
    big[len] = '\0';
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "big", big), ERR_NOSPACE);
    assert_int_equal(store_group_begin(f->st), 0);
    int rc = store_domain_setting_set(f->st, "d.com", "big", big);
    assert_int_equal(store_group_end(f->st, rc), ERR_NOSPACE);
    free(big);
    assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(store_domain_setting_set(f->st, "d.com", "small", "1"), 0);
}

/* ---- the "fast" area: FAST tokens and user agents ---- */

struct fast_rows {
    char text[1024];
    int rows;
};

static int fast_collect(void *ud, const char *const *cols, int ncols)
{
    struct fast_rows *r = ud;
    size_t len = strlen(r->text);
    for (int i = 0; i < ncols; i++) {
        len = strlen(r->text);
        snprintf(r->text + len, sizeof(r->text) - len, "%s%s", i ? ":" : (r->rows ? "," : ""),
                 cols[i] ? cols[i] : "-");
    }
    r->rows++;
    return 0;
}

static const char *fast_tokens(struct fixture *f, const char *agent, long long now,
                               struct fast_rows *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(store_fast_tokens(f->st, "a.example", "ann", agent, now, fast_collect, r), 0);
    return r->text;
}

static void test_fast_tokens(void **state)
{
    struct fixture *f = *state;
    struct fast_rows r;
    assert_int_equal(store_domain_add(f->st, "a.example"), 0);
    assert_int_equal(store_account_add(f->st, "a.example", "ann", "x"), 0);
    assert_int_equal(store_fast_token_add(f->st, "a.example", "ann", "ua1", "k1", "HT-SHA-256-NONE",
                                          100, 200, 2),
                     0);
    assert_string_equal(fast_tokens(f, "ua1", 150, &r), "k1:HT-SHA-256-NONE:200:-1:1");
    assert_string_equal(fast_tokens(f, "ua1", 200, &r), ""); /* expired */
    assert_string_equal(fast_tokens(f, "ua2", 150, &r), ""); /* another agent */
    /* Rotation: k1 stays as previous until k2 is used. */
    assert_int_equal(store_fast_token_add(f->st, "a.example", "ann", "ua1", "k2", "HT-SHA-256-NONE",
                                          110, 300, 2),
                     0);
    assert_string_equal(fast_tokens(f, "ua1", 150, &r),
                        "k2:HT-SHA-256-NONE:300:-1:1,k1:HT-SHA-256-NONE:200:-1:0");
    assert_int_equal(store_fast_token_used(f->st, "a.example", "ann", "ua1", "k1", 7), 0);
    assert_string_equal(fast_tokens(f, "ua1", 150, &r),
                        "k2:HT-SHA-256-NONE:300:-1:1,k1:HT-SHA-256-NONE:200:7:0");
    assert_int_equal(store_fast_token_used(f->st, "a.example", "ann", "ua1", "k2", -1), 0);
    assert_string_equal(fast_tokens(f, "ua1", 150, &r), "k2:HT-SHA-256-NONE:300:-1:1");
    /* At most two agents hold tokens: the least recently issued loses them. */
    assert_int_equal(store_fast_token_add(f->st, "a.example", "ann", "ua2", "k3", "HT-SHA-256-ENDP",
                                          120, 300, 2),
                     0);
    assert_int_equal(store_fast_token_add(f->st, "a.example", "ann", "ua3", "k4", "HT-SHA-256-ENDP",
                                          130, 300, 2),
                     0);
    assert_string_equal(fast_tokens(f, "ua1", 150, &r), "");
    assert_string_equal(fast_tokens(f, "ua2", 150, &r), "k3:HT-SHA-256-ENDP:300:-1:1");
    /* Agents: listed with their token count and latest expiry; revoking one forgets it. */
    assert_int_equal(store_fast_agent_seen(f->st, "a.example", "ann", "ua2", "Dino", "laptop", 140),
                     0);
    assert_int_equal(store_fast_agent_seen(f->st, "a.example", "ann", "ua1", "Monal", "", 135), 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(store_fast_agents(f->st, "a.example", "ann", fast_collect, &r), 0);
    assert_string_equal(r.text, "ua2:Dino:laptop:140:1:300,ua1:Monal::135:0:-");
    int removed = 0;
    assert_int_equal(store_fast_revoke(f->st, "a.example", "ann", "ua2", &removed), 0);
    assert_int_equal(removed, 1);
    memset(&r, 0, sizeof(r));
    assert_int_equal(store_fast_agents(f->st, "a.example", "ann", fast_collect, &r), 0);
    assert_string_equal(r.text, "ua1:Monal::135:0:-");
    /* All of the account's tokens (a password change), then the account itself. */
    assert_int_equal(store_fast_revoke(f->st, "a.example", "ann", NULL, &removed), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(store_fast_token_add(f->st, "a.example", "ann", "ua1", "k5", "HT-SHA-256-NONE",
                                          150, 300, 2),
                     0);
    assert_int_equal(store_account_remove(f->st, "a.example", "ann"), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM fast_tokens"), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM fast_agents"), 0);
    assert_int_equal(raw_count(f->path, "SELECT version FROM store_schema WHERE area = 'fast'"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_existing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reentrant_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_open, setup, teardown),
        cmocka_unit_test(test_fault_spec),
        cmocka_unit_test(test_fault_target),
        cmocka_unit_test_setup_teardown(test_fault_nth, setup, teardown_fault),
        cmocka_unit_test_setup_teardown(test_fault_every, setup, teardown_fault),
        cmocka_unit_test_setup_teardown(test_fault_commit, setup, teardown_fault),
        cmocka_unit_test_setup_teardown(test_group_nested, setup, teardown_fault),
        cmocka_unit_test_setup_teardown(test_fault_roster_atomic, setup, teardown_fault),
        cmocka_unit_test_setup_teardown(test_real_full, setup, teardown_fault),
        cmocka_unit_test_setup_teardown(test_fast_tokens, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
