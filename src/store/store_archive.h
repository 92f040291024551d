/* store_archive.h: the "archive" area of the store: archived messages of accounts and rooms
 * (XEP-0313), their full-text index (XEP-0431, SQLite FTS5) and the archiving preferences. */
#ifndef STARLING_STORE_STORE_ARCHIVE_H
#define STARLING_STORE_STORE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "store/store.h"

/* An archive belongs to an owner (domain, name): an account, or a room (its service domain and
 * its name). The rows of an account go when the account (or its domain) is removed, those of a
 * room when the room is destroyed (triggers on accounts and muc_rooms), a stored stanza with the
 * last row that refers to it. Ids are unique over the whole table and grow with time: the archiver makes them from the clock in microseconds
 * (src/archive/archive.c), so an id is also its message's time. Calls return 0 or a negative
 * code as described in store.h. */

/* A stored stanza that rows of several batches share (a message archived by both of its local
 * parties, the rows queued a moment apart): the writer's only (one thread). */
struct store_archive_shared {
    long long sid;     /* its key, once a batch that wrote it committed; 0: none */
    long long pending; /* its key written by the batch being written (0: none), until settled */
};

struct store_archive_row {
    long long id;
    const char *domain;
    const char *name;
    const char *peer;     /* the other party's bare JID (for a room: the occupant's nick) */
    const char *peer_res; /* its resource, "" when none */
    bool outgoing;
    bool room;          /* a room's archive: written whether or not an account has that name */
    const char *stanza; /* the message as archived (XML text) */
    const char *body;   /* its body for the full-text index, NULL when none */
    /* NULL, or the stored stanza shared with other rows carrying the same `shared` (the same
     * text): written once, looked up by key, never compared or hashed. */
    struct store_archive_shared *shared;
};

/* Tunes a handle that writes archive rows in large batches (the archive's writer thread): a
 * page cache of `cache_mb` MB, so that a batch's index pages are not spilled to the WAL in the
 * middle of its transaction, and a checkpoint every `checkpoint_pages` WAL pages. */
int store_archive_tune_writer(struct store *st, int cache_mb, int checkpoint_pages);

/* Adds a row; ERR_NOTFOUND (nothing written) when the row is an account's and the account is
 * gone. */
int store_archive_add(struct store *st, const struct store_archive_row *r);
/* Adds rows (those of accounts that are gone are skipped; *added counts the others). Rows
 * with the same `shared` share one stored stanza across batches (its committed key is checked
 * to still exist: a removal between two batches may have taken it); rows without one share a
 * stored stanza with the batch's rows of the same text. Their bodies reach the full-text index later (SQLite:
 * store_archive_index_pending; PostgreSQL: at once). Inside a transaction (store_begin) it is
 * all or nothing. */
int store_archive_add_many(struct store *st, const struct store_archive_row *const *rows, size_t n,
                           size_t *added);
/* The archive's integer JID keys kept across batches by one writer (one thread; bounded): a
 * batch looks up (or adds) a key the cache does not have yet. After a batch that was not
 * committed, store_archive_keys_forget (a key it added was rolled back). */
struct store_archive_keys;
struct store_archive_keys *store_archive_keys_new(void);
void store_archive_keys_forget(struct store_archive_keys *keys);
void store_archive_keys_free(struct store_archive_keys *keys);
/* store_archive_add_many with the writer's key cache (NULL: none, as store_archive_add_many). */
int store_archive_add_many_keys(struct store *st, struct store_archive_keys *keys,
                                const struct store_archive_row *const *rows, size_t n,
                                size_t *added);
/* After the transaction of a store_archive_add_many of `rows`: a shared stanza the batch wrote
 * keeps its key when it `committed`, else forgets it (rolled back). */
void store_archive_shared_settle(const struct store_archive_row *const *rows, size_t n,
                                 bool committed);
/* SQLite: adds at most `limit` (0: all) stored stanzas not yet in the full-text index to it, in
 * one transaction (a group when one is open); their number in *indexed. Full-text queries call
 * it first, so they see every row. Nothing to do on PostgreSQL. */
int store_archive_index_pending(struct store *st, int limit, int *indexed);

/* A query: the rows of one owner whose id lies in [lo, hi], optionally with one peer (and its
 * resource when peer_res is not NULL), optionally matching `text` (full-text: every word must
 * appear), ascending from lo or descending from hi, at most `limit` rows. */
struct store_archive_query {
    const char *domain;
    const char *name;
    const char *peer;     /* NULL: any */
    const char *peer_res; /* NULL: any */
    const char *text;     /* NULL: no full-text filter */
    long long lo, hi;
    bool descending;
    int limit;
};
/* One row found. */
struct store_archive_hit {
    long long id;
    bool outgoing;
    const char *stanza;
    const char *peer;
    const char *peer_res;
};
typedef int store_archive_fn(void *ud, const struct store_archive_hit *h);
int store_archive_query(struct store *st, const struct store_archive_query *q, store_archive_fn *fn,
                        void *ud);
/* The number of rows `q` selects without its limit (RSM <count/>), when it is at most `max`;
 * -1 when more, or when counting is not cheap (a peer's rows with a text). `descending` and
 * `limit` are not read. */
int store_archive_count(struct store *st, const struct store_archive_query *q, int max,
                        long long *count);
/* One row of an owner by id: ERR_NOTFOUND when it has none by that id. */
int store_archive_get(struct store *st, const char *domain, const char *name, long long id,
                      store_archive_fn *fn, void *ud);

/* Preferences (XEP-0313 §6): `mode` "always", "never" or "roster"; `always` and `never` hold
 * bare JIDs, each terminated by '\n'. ERR_NOTFOUND when the account never set them. */
int store_archive_prefs_get(struct store *st, const char *domain, const char *name,
                            struct buf *mode, struct buf *always, struct buf *never);
int store_archive_prefs_set(struct store *st, const char *domain, const char *name,
                            const char *mode, const char *always, const char *never);

/* Removes at most `limit` rows older than id `before` (of `domain` only, or of every domain
 * when NULL), oldest first; the number removed in *removed. */
int store_archive_purge(struct store *st, const char *domain, long long before, int limit,
                        int *removed);
/* Removes an owner's whole archive (e.g. a room destroyed). */
int store_archive_clear(struct store *st, const char *domain, const char *name);
/* Rows, oldest and newest id of a domain's archives (domain NULL: all); 0s when empty. */
int store_archive_stats(struct store *st, const char *domain, long long *count, long long *oldest,
                        long long *newest);

#endif
