/* store_int.h: the door of the store's area files (sqlite_<area>.c) into the backend (SQLite,
 * or PostgreSQL through pg.c: see docs/internals/store-pg.md). Not for use outside src/store/. */
#ifndef STARLING_STORE_STORE_INT_H
#define STARLING_STORE_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>

#include "store/store.h"

/* An area's tables: its migrations, applied in order (migration i brings the area to version
 * i + 1, recorded in the store_schema table). Never edit a released entry: append a new one. */
struct store_area {
    const char *name;
    const char *const *migrations;
    int count;
    /* PostgreSQL's text of the same migrations when translating `migrations` is not enough
     * (docs/internals/store-pg.md); NULL: the translation of `migrations`. */
    const char *const *pg_migrations;
};

/* Defines the area `store_area_<area>` from the array `list` of its migrations. */
#define STORE_AREA(area, list)                                                                     \
    const struct store_area store_area_##area = {                                                  \
        .name = #area,                                                                             \
        .migrations = (list),                                                                      \
        .count = (int)(sizeof(list) / sizeof((list)[0])),                                          \
    }

/* The same, with PostgreSQL's own text `pg_list` of each migration (as many as `list`). */
#define STORE_AREA_PG(area, list, pg_list)                                                         \
    _Static_assert(sizeof(list) == sizeof(pg_list), #area ": one PostgreSQL text per migration");  \
    const struct store_area store_area_##area = {                                                  \
        .name = #area,                                                                             \
        .migrations = (list),                                                                      \
        .count = (int)(sizeof(list) / sizeof((list)[0])),                                          \
        .pg_migrations = (pg_list),                                                                \
    }

/* Every area, defined in its own file. */
extern const struct store_area store_area_im;       /* sqlite_im.c: rosters, offline, blocking */
extern const struct store_area store_area_services; /* sqlite_services.c: vCards, private XML, … */
extern const struct store_area store_area_register; /* sqlite_register.c: tombstones, invites */
extern const struct store_area store_area_muc;      /* sqlite_muc.c: chat rooms */
extern const struct store_area store_area_archive;  /* sqlite_archive.c: XEP-0313 archives */
extern const struct store_area store_area_pubsub;   /* sqlite_pubsub.c: pubsub nodes, PEP */
extern const struct store_area store_area_upload;   /* sqlite_upload.c: XEP-0363 slots */
extern const struct store_area store_area_fast;     /* sqlite_fast.c: FAST tokens, agents */
extern const struct store_area store_area_push;     /* sqlite_push.c: XEP-0357 registrations */
extern const struct store_area store_area_cluster;  /* sqlite_cluster.c: shared secrets */
extern const struct store_area store_area_login;    /* sqlite_login.c: last logins */

/* Arguments of a statement as text: a compound literal and its length. */
#define STORE_ARGS(...)                                                                            \
    (const char *const[]){ __VA_ARGS__ },                                                          \
        (int)(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))
#define STORE_NO_ARGS NULL, 0

#define STORE_MAX_COLUMNS 16

/* SQLite only (NULL on PostgreSQL): the statement for `sql` (a string with static storage: its
 * address is the cache key), prepared once per handle, with `args` bound as text. NULL on error
 * (store_last_error). Area files use the helpers below, which work on both backends. */
sqlite3_stmt *store__prepare(struct store *st, const char *sql, const char *const *args, int n);
/* Resets a statement from store__prepare after a hand-made step loop. */
void store__finish(sqlite3_stmt *s);
/* A statement without rows. Constraint failures: ERR_EXISTS (key taken) or ERR_NOTFOUND (parent
 * row missing). `changes` (may be NULL) gets the number of changed rows. */
int store__run(struct store *st, const char *sql, const char *const *args, int n, int *changes);
/* One row: its first column into `out` (text) and/or `num`. ERR_NOTFOUND when no row. */
int store__query_one(struct store *st, const char *sql, const char *const *args, int n,
                     struct buf *out, long long *num);
/* Every row (up to STORE_MAX_COLUMNS text columns, NULL for SQL NULL), copied out before `fn`
 * runs, so `fn` may use the store again. A non-zero return from `fn` stops and is returned. */
typedef int store_rows_fn(void *ud, const char *const *cols, int ncols);
int store__query_rows(struct store *st, const char *sql, const char *const *args, int n,
                      store_rows_fn *fn, void *ud);
/* SQLite only: the handle's connection (NULL on PostgreSQL). */
sqlite3 *store__db(struct store *st);
/* True when the handle runs on PostgreSQL: an area file picks its PostgreSQL text of a
 * statement the common dialect cannot express (full-text search). */
bool store__is_postgresql(struct store *st);
int store__fail(struct store *st, const char *what);

/* fault.c: the fault-injection hook (store_fault_set). The code to fail a write to `target`
 * (a table name, or "commit") with, or 0; costs one atomic load while the hook is off. */
int store__fault(const char *target);
/* False while the hook is off (the fast path of every write). */
bool store__fault_on(void);
/* Reads STARLING_STORE_FAIL once at the first store_open(): a spec, or "@FILE" whose content is
 * the spec, re-read whenever the file changes. ERR_INVAL (reason in `err`) for a bad spec. */
int store__fault_init_env(char *err, size_t errlen);
/* SQLite's process-wide configuration (sqlite_maint.c), before its first handle: no memory
 * statistics (nothing reads them; with them every SQLite allocation of every thread takes
 * one global mutex). Once; refused, harmlessly, when SQLite has started already. */
void store__sqlite_global(void);
/* The table a write statement changes ("" when not recognised), for the hook's table filter. */
void store__write_target(const char *sql, char *out, size_t size);

#endif
