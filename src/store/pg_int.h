/* pg_int.h: the PostgreSQL backend (pg.c) as seen by the store's front (sqlite.c), which
 * dispatches each store.h and store_int.h call here when store.backend is postgresql.
 * Not for use outside src/store/. See docs/internals/store-pg.md. */
#ifndef STARLING_STORE_PG_INT_H
#define STARLING_STORE_PG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "store/store_int.h"

struct pg;

/* Connects with `conninfo` (libpq); failures are described in `err` (the handle's error buffer,
 * written by every later call too). NULL on failure. */
struct pg *pg__open(const char *conninfo, char *err, size_t errsize);
/* store.postgresql.timeout: the longest wait for a connection or an answer (seconds). */
void pg__set_timeout(int seconds);
void pg__close(struct pg *pg);
/* Applies the core migrations (`core`, `ncore`) and then each area's, in one transaction under
 * an advisory lock, so that several handles may open the same new database at once. */
int pg__migrate(struct pg *pg, const char *const *core, int ncore,
                const struct store_area *const *areas, int nareas);
/* 1 when the store's tables exist (the core version's table), 0 when not. */
int pg__has_schema(struct pg *pg);
/* The number of applied core migrations. */
int pg__schema_version(struct pg *pg);
/* A statement (or several) without parameters, by the simple protocol, SQL translated. */
int pg__exec(struct pg *pg, const char *sql, const char *what);
/* True when no transaction is open on the connection. */
bool pg__idle(struct pg *pg);
/* True when the open transaction failed (PostgreSQL then refuses everything but a rollback). */
bool pg__tx_failed(struct pg *pg);

/* The store_int.h helpers (same contracts). */
int pg__run(struct pg *pg, const char *sql, const char *const *args, int n, int *changes);
int pg__query_one(struct pg *pg, const char *sql, const char *const *args, int n, struct buf *out,
                  long long *num);
int pg__query_rows(struct pg *pg, const char *sql, const char *const *args, int n,
                   store_rows_fn *fn, void *ud);

/* The SQLite-dialect text `sql` in PostgreSQL's dialect: ?N placeholders become $N and the few
 * differing words are rewritten (docs/internals/store-pg.md lists them). `*max_param` (may be
 * NULL) gets the highest placeholder number. */
void pg__translate(const char *sql, struct buf *out, int *max_param);

#endif
