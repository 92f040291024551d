/* fuzz_db.h: a temporary SQLite store for the fuzz targets, put back to a snapshot after each
 * input so that every input runs against the same data (header-only: one copy per target). */
#ifndef STARLING_TESTS_FUZZ_DB_H
#define STARLING_TESTS_FUZZ_DB_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/buf.h"
#include "fuzz_check.h"

/* The snapshot of every table lives beside it as fuzz_saved_<table>. */
#define FUZZ_DB_SAVED "fuzz_saved_"

struct fuzz_db {
    sqlite3 *db;
    struct buf restore; /* the SQL that puts every table back */
};

static char fuzz_db_dir[1024];

/* Removes a temporary data directory with what the store and the log left in it. */
static inline void fuzz_db_remove(const char *dir)
{
    static const char *const files[] = { "starling.db", "starling.db-wal", "starling.db-shm",
                                         NULL };
    char path[1200];
    for (size_t i = 0; files[i] != NULL; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/SystemLogs", dir);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char file[1500];
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        unlink(file);
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(path);
    rmdir(dir);
}

static inline void fuzz_db_remove_dir(void)
{
    fuzz_db_remove(fuzz_db_dir);
}

/* libFuzzer often ends with _Exit (a crash, -runs reached), so atexit does not always run: the
 * directories of processes that are gone are removed at the next start. */
static inline void fuzz_db_remove_stale(const char *tmp)
{
    DIR *d = opendir(tmp);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        int pid = 0;
        if (sscanf(e->d_name, "starling-fuzz-%d-", &pid) == 1 && pid > 0 &&
            kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            char dir[1200];
            snprintf(dir, sizeof(dir), "%s/%s", tmp, e->d_name);
            fuzz_db_remove(dir);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
}

/* A fresh temporary data directory in $TMPDIR, else in /dev/shm when there is one (a store on
 * tmpfs makes every commit cheap), else in /tmp; `dir` receives its path. */
static inline void fuzz_db_tempdir(char *dir, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0') {
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    }
    fuzz_db_remove_stale(tmp);
    snprintf(dir, len, "%s/starling-fuzz-%d-XXXXXX", tmp, (int)getpid());
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    snprintf(fuzz_db_dir, sizeof(fuzz_db_dir), "%s", dir);
    atexit(fuzz_db_remove_dir);
}

static inline void fuzz_db_exec(struct fuzz_db *f, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(f->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "fuzz_db: %s: %s\n", sql, err != NULL ? err : "?");
        abort();
    }
}

/* Is `name` a virtual table or the shadow table of one ("<vtable>_<suffix>")? */
static inline bool fuzz_db_virtual(sqlite3 *db, const char *name)
{
    sqlite3_stmt *q = NULL;
    bool found = false;
    FUZZ_CHECK(sqlite3_prepare_v2(db,
                                  "SELECT 1 FROM sqlite_master WHERE type = 'table' AND sql LIKE "
                                  "'CREATE VIRTUAL TABLE%' AND (name = ?1 OR ?1 LIKE name || '\\_%'"
                                  " ESCAPE '\\')",
                                  -1, &q, NULL) == SQLITE_OK);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return found;
}

/* Saves every table whose name is not in `keep` (NULL-terminated; NULL keeps none): restored
 * by fuzz_db_restore. The store must be set up (migrations applied) and idle. */
static inline void fuzz_db_snapshot(struct fuzz_db *f, const char *path, const char *const *keep)
{
    sqlite3_stmt *q = NULL;
    struct buf save;
    FUZZ_CHECK(sqlite3_open_v2(path, &f->db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    sqlite3_busy_timeout(f->db, 10000);
    fuzz_db_exec(f, "PRAGMA synchronous = OFF");
    buf_init(&f->restore, 1 << 20);
    buf_init(&save, 1 << 20);
    FUZZ_CHECK(sqlite3_prepare_v2(f->db,
                                  "SELECT name FROM sqlite_master WHERE type = 'table' AND name "
                                  "NOT LIKE 'sqlite_%' ORDER BY name",
                                  -1, &q, NULL) == SQLITE_OK);
    buf_append_c(&f->restore, "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE;");
    buf_append_c(&save, "BEGIN IMMEDIATE;");
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        /* A virtual table (the archive's FTS5 index) and its shadow tables are not copied: the
         * content table's delete trigger takes the restored-away rows out of the index (the
         * snapshot is taken before any archive row exists, so it has none to put back). */
        bool kept = strcmp(name, "store_schema") == 0 || fuzz_db_virtual(f->db, name);
        for (size_t i = 0; keep != NULL && keep[i] != NULL; i++) {
            kept = kept || strcmp(name, keep[i]) == 0;
        }
        if (kept) {
            continue;
        }
        buf_printf(&save, "CREATE TABLE \"" FUZZ_DB_SAVED "%s\" AS SELECT * FROM \"%s\";", name,
                   name);
        buf_printf(&f->restore,
                   "DELETE FROM \"%s\"; INSERT INTO \"%s\" SELECT * FROM \"" FUZZ_DB_SAVED "%s\";",
                   name, name, name);
    }
    sqlite3_finalize(q);
    buf_append_c(&save, "COMMIT;");
    buf_append_c(&f->restore, "COMMIT;");
    fuzz_db_exec(f, buf_cstr(&save));
    buf_cleanup(&save);
}

/* Puts every saved table back as it was at the snapshot. */
static inline void fuzz_db_restore(struct fuzz_db *f)
{
    fuzz_db_exec(f, buf_cstr(&f->restore));
}

#endif
