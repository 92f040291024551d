/* sqlite_maint.c: the database file itself: its mode, the start-up check, the online backup.
 *
 * Kept apart from sqlite.c (the store's queries) so that starlingctl can link it alone: it needs
 * SQLite and core, nothing else of the store. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "store/store_int.h"

#define DB_MODE 0600
#define CHECK_PROGRESS_OPS 10000 /* virtual machine steps between two deadline checks */
#define BACKUP_BUSY_TRIES 200    /* 10 s of 50 ms waits while the server checkpoints */

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Narrows an existing file to DB_MODE; a missing file is fine. */
static int narrow_mode(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        return 0;
    }
    if ((sb.st_mode & 0777) != DB_MODE && chmod(path, DB_MODE) != 0) {
        snprintf(err, errlen, "cannot chmod %s: %s", path, strerror(errno));
        return ERR_IO;
    }
    return 0;
}

int store_file_prepare(const char *path, char *err, size_t errlen)
{
    /* SQLite gives the -wal and -shm files the mode of the database file, whatever the umask:
     * creating that one 0600 first is enough for all three. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, DB_MODE);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return ERR_IO;
    }
    close(fd);
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char p[4200];
        snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
        int rc = narrow_mode(p, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

struct deadline {
    uint64_t at;
    bool expired;
};

static int check_progress(void *ud)
{
    struct deadline *d = ud;
    if (monotonic_ms() >= d->at) {
        d->expired = true;
        return 1; /* interrupts the statement */
    }
    return 0;
}

/* Runs quick_check; its first complaint goes to `err`. */
static int run_quick_check(sqlite3 *db, struct deadline *dl, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &s, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return dl->expired ? ERR_AGAIN : ERR_STORE;
    }
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(s, 0);
        if (r == NULL || strcmp(r, "ok") != 0) {
            snprintf(err, errlen, "%s", r ? r : "quick_check failed");
            for (char *p = err; *p; p++) {
                *p = *p == '\n' ? ' ' : *p; /* one line for the log and the terminal */
            }
            ret = ERR_STORE;
        }
    } else if (dl->expired) {
        snprintf(err, errlen, "the check did not finish in time");
        ret = ERR_AGAIN;
    } else {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        ret = ERR_STORE;
    }
    sqlite3_finalize(s);
    return ret;
}

static void sqlite_global_once(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void store__sqlite_global(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_global_once);
}

int store_check(const char *path, int timeout_ms, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int ret = ERR_STORE;
    store__sqlite_global();
    /* No SQLITE_OPEN_CREATE: the caller has made the file; an empty one checks fine. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", db ? sqlite3_errmsg(db) : "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    struct deadline dl = { .at = monotonic_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) };
    if (timeout_ms > 0) {
        sqlite3_progress_handler(db, CHECK_PROGRESS_OPS, check_progress, &dl);
    }
    ret = run_quick_check(db, &dl, err, errlen);
out:
    sqlite3_close(db);
    return ret;
}

/* Copies every page of `src` into `dst` in one step, that is in one read transaction of the
 * source: a consistent snapshot even while the server writes (WAL lets it go on meanwhile). */
static int copy_db(sqlite3 *src, sqlite3 *dst, char *err, size_t errlen)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(dst));
        return ERR_STORE;
    }
    int rc = SQLITE_OK;
    for (int tries = 0; tries < BACKUP_BUSY_TRIES; tries++) {
        rc = sqlite3_backup_step(b, -1);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
            break;
        }
        sqlite3_sleep(50);
    }
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "backup: %s", sqlite3_errstr(rc));
        return ERR_STORE;
    }
    return 0;
}

int store_backup(const char *path, const char *dest, char *err, size_t errlen)
{
    sqlite3 *src = NULL;
    sqlite3 *dst = NULL;
    int ret = ERR_STORE;
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.partial", dest);
    unlink(tmp);
    /* Read-only: the copy never writes the live database, and needs no lock on it beyond a
     * WAL read snapshot. */
    if (sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, src ? sqlite3_errmsg(src) : "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(src, 5000);
    if (store_file_prepare(tmp, err, errlen) != 0) {
        goto out;
    }
    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", tmp, dst ? sqlite3_errmsg(dst) : "cannot open");
        goto out;
    }
    if (copy_db(src, dst, err, errlen) != 0) {
        goto out;
    }
    /* The copy is one self-contained file: no -wal beside it. */
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", tmp, sqlite3_errmsg(dst));
        goto out;
    }
    struct deadline none = { .at = UINT64_MAX };
    if (run_quick_check(dst, &none, err, errlen) != 0) {
        goto out;
    }
    sqlite3_close(dst);
    dst = NULL;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0 || rename(tmp, dest) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", dest, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        goto out;
    }
    close(fd);
    ret = 0;
out:
    sqlite3_close(dst);
    sqlite3_close(src);
    if (ret != 0) {
        unlink(tmp);
    }
    return ret;
}
