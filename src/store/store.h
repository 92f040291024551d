/* store.h: the only door to persistent data (domains, aliases, accounts and their settings). */
#ifndef STARLING_STORE_STORE_H
#define STARLING_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* One handle per worker thread; each opens its own connection to the same database file, and a
 * handle must only be used by one thread at a time. Names (domains, aliases, account names)
 * are stored exactly as given: callers pass them already prepared (jid_nameprep/jid_nodeprep).
 *
 * Every int-returning call gives 0 (or a count / 1 / 0 where stated) on success, ERR_NOTFOUND
 * or ERR_EXISTS where stated, ERR_NOSPACE when the database or its disk is full (SQLITE_FULL), and
 * ERR_STORE for another database failure, whose text
 * store_last_error() returns. Nothing is logged here. Calls that fill a `struct buf` replace its
 * content and fail with ERR_LIMIT when the value exceeds its maximum. */
struct store;

/* The backend of every later store_open() of the process (setting store.backend): SQLite (the
 * file `path`) or PostgreSQL (the libpq `conninfo`; store_open's `path` is then ignored). Call
 * before the first store_open(), from one thread. */
enum store_backend { STORE_BACKEND_SQLITE, STORE_BACKEND_POSTGRESQL };
void store_use_backend(enum store_backend backend, const char *conninfo);
/* PostgreSQL: the longest wait for a connection or for a statement's answer, in seconds
 * (store.postgresql.timeout); then the call fails with ERR_STORE. Before store_open(). */
void store_pg_timeout(int seconds);
/* True when the store is SQLite's file (the file calls below apply to it). */
bool store_is_sqlite(void);
/* PostgreSQL: 1 when the database already has the store's tables, 0 when it is empty (what a
 * first start finds), or a negative code (cannot connect: the reason in `err`). Changes nothing. */
int store_pg_has_schema(char *err, size_t errlen);

/* Opens (creating if needed) the database at `path`, sets WAL mode, synchronous=NORMAL, a busy
 * timeout and foreign keys, and applies pending schema migrations in one BEGIN IMMEDIATE
 * transaction, so that several threads may open the same file at once. On failure returns NULL
 * with a one-line reason in `err` (when errlen > 0). */
struct store *store_open(const char *path, char *err, size_t errlen);
void store_close(struct store *st);

/* The database file itself (sqlite_maint.c; no handle needed, usable from starlingctl).
 * store_file_prepare creates `path` if missing and narrows it and its -wal, -shm and -journal
 * files to mode 0600 whatever the umask (SQLite gives the side files the database's mode); call
 * it before the first store_open. ERR_IO with a reason in `err`. */
int store_file_prepare(const char *path, char *err, size_t errlen);
/* Runs PRAGMA quick_check on `path`, interrupted after `timeout_ms` (0: no limit). 0 when the
 * file is sound (an empty file is), ERR_STORE with SQLite's first complaint in `err` when it is
 * damaged or not a database, ERR_AGAIN when the time ran out before the end. */
int store_check(const char *path, int timeout_ms, char *err, size_t errlen);
/* An online, consistent copy of the database at `path` into the new file `dest` (SQLite backup
 * API over a read-only connection, in one read transaction; safe while starlingd runs). The copy
 * is written to `dest`.partial, checked, synced and renamed, and has mode 0600. */
int store_backup(const char *path, const char *dest, char *err, size_t errlen);
/* Gives back the handle's cached pages that no statement is using (they are re-read on demand);
 * for after a load peak. */
void store_release_memory(struct store *st);
/* The schema version of the open database (the number of applied migrations). */
int store_schema_version(struct store *st);
/* The message of the last failure on this handle ("" if none). Valid until the next call. */
const char *store_last_error(struct store *st);

/* An explicit write transaction (BEGIN IMMEDIATE) around several calls; not nestable. Calls made
 * inside it join it: a failed call does not roll it back, the caller decides. */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);

/* A group of calls that takes effect entirely or not at all, also inside store_begin() or
 * another group (a savepoint there; its own BEGIN IMMEDIATE ... COMMIT otherwise). Pass the
 * group's result to store_group_end(): 0 commits (releases), anything else rolls back; returns
 * that result, or the commit's error (the group is then rolled back too). */
int store_group_begin(struct store *st);
int store_group_end(struct store *st, int rc);

/* Fault injection for tests (docs/internals/store.md): fails chosen writes of every handle of
 * the process as if the database failed. `spec` is comma-separated key=value items:
 * table=NAME[|NAME...] (writes to those tables, a trailing '*' matching a prefix; "commit" names
 * the commit of a transaction; default every write), error=full (ERR_NOSPACE, as SQLITE_FULL) or
 * error=generic (ERR_STORE, the default), after=N (let N matching writes through first), count=N
 * (fail N then; default all), nth=N (fail only the Nth matching write). NULL, "" or "off"
 * disarms. ERR_INVAL for a bad spec (the previous one stays). Counters restart at each call.
 * The environment variable STARLING_STORE_FAIL, read at the first store_open(), sets a spec, or
 * with "@FILE" a file holding it, re-read whenever it changes (removed: disarmed). */
int store_fault_set(const char *spec);

/* Row callback of the list calls. Name lists: `a` is the name and `b` NULL; key/value lists:
 * `a` is the key and `b` the value. A non-zero return stops the listing and is returned by it.
 * The rows are read before the first callback, so the callback may call the store itself. */
typedef int store_row_fn(void *ud, const char *a, const char *b);

/* ERR_EXISTS if a domain or an alias has that name. */
int store_domain_add(struct store *st, const char *domain);
/* Removes the domain with its aliases, settings, accounts and account settings; ERR_NOTFOUND. */
int store_domain_remove(struct store *st, const char *domain);
/* 1 if `domain` is a domain (not an alias), 0 if not, or negative. */
int store_domain_exists(struct store *st, const char *domain);
/* Every domain, ordered by name. */
int store_domain_list(struct store *st, store_row_fn *fn, void *ud);

/* ERR_EXISTS if `alias` is taken by a domain or an alias; ERR_NOTFOUND if no such domain. */
int store_alias_add(struct store *st, const char *domain, const char *alias);
/* ERR_NOTFOUND if no such alias. */
int store_alias_remove(struct store *st, const char *alias);
/* The aliases of `domain`, ordered by name; ERR_NOTFOUND if no such domain. */
int store_alias_list(struct store *st, const char *domain, store_row_fn *fn, void *ud);
/* `name` is a domain or an alias: its canonical domain into `domain`; ERR_NOTFOUND. */
int store_domain_resolve(struct store *st, const char *name, struct buf *domain);

/* ERR_NOTFOUND if unset (or no such domain). */
int store_domain_setting_get(struct store *st, const char *domain, const char *key,
                             struct buf *value);
/* Sets, or with `value` NULL deletes (unset is not an error), a setting; ERR_NOTFOUND if no
 * such domain. */
int store_domain_setting_set(struct store *st, const char *domain, const char *key,
                             const char *value);
/* Ordered by key; ERR_NOTFOUND if no such domain. */
int store_domain_settings_list(struct store *st, const char *domain, store_row_fn *fn, void *ud);

/* `credentials` is an opaque text (see auth_creds_encode). ERR_EXISTS; ERR_NOTFOUND (domain). */
int store_account_add(struct store *st, const char *domain, const char *name,
                      const char *credentials);
/* Removes the account and its settings; ERR_NOTFOUND. */
int store_account_remove(struct store *st, const char *domain, const char *name);
/* 1, 0, or negative. */
int store_account_exists(struct store *st, const char *domain, const char *name);
/* ERR_NOTFOUND if no such account. */
int store_account_credentials(struct store *st, const char *domain, const char *name,
                              struct buf *out);
int store_account_set_credentials(struct store *st, const char *domain, const char *name,
                                  const char *credentials);
/* Creation time (seconds since the epoch); ERR_NOTFOUND. */
int store_account_created(struct store *st, const char *domain, const char *name, long long *out);
/* Account names of `domain`, ordered by name; ERR_NOTFOUND if no such domain. */
int store_account_list(struct store *st, const char *domain, store_row_fn *fn, void *ud);
/* The number of accounts of `domain`, or ERR_NOTFOUND if no such domain. */
int store_account_count(struct store *st, const char *domain);

/* Same contracts as the domain settings, for the account domain+name. */
int store_account_setting_get(struct store *st, const char *domain, const char *name,
                              const char *key, struct buf *value);
int store_account_setting_set(struct store *st, const char *domain, const char *name,
                              const char *key, const char *value);
int store_account_settings_list(struct store *st, const char *domain, const char *name,
                                store_row_fn *fn, void *ud);

/* The store: the release of its handles' page caches in the module table (core/module.h). */
struct module;
extern struct module store_module;

#endif
