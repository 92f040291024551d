/* sqlite_cluster.c: the store's "cluster" area (see store_int.h): shared secrets of the nodes,
 * the journal of their outgoing server-to-server queues, and their available sessions. */
#include "store/store_cluster.h"

#include <stdio.h>

#include "store/store_int.h"

static const char *const migrations[] = {
    /* v1 */
    "CREATE TABLE cluster_secrets ("
    "  name TEXT NOT NULL PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;",
    /* v2: stanzas waiting in a node's outgoing s2s queues (one row until written) */
    "CREATE TABLE cluster_s2s_queue ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  node TEXT NOT NULL,"
    "  run TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  target TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  stanza TEXT NOT NULL,"
    "  queued INTEGER NOT NULL"
    ");"
    "CREATE INDEX cluster_s2s_queue_node ON cluster_s2s_queue(node, queued, seq);",
    /* v3: the available client sessions of each node (one row per full JID while available) */
    "CREATE TABLE cluster_sessions ("
    "  jid TEXT NOT NULL PRIMARY KEY,"
    "  node TEXT NOT NULL,"
    "  run TEXT NOT NULL"
    ");"
    "CREATE INDEX cluster_sessions_node ON cluster_sessions(node);",
};

STORE_AREA(cluster, migrations);

static const char SQL_SECRET_ADD[] =
    "INSERT INTO cluster_secrets(name, value) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING";
static const char SQL_SECRET_GET[] = "SELECT value FROM cluster_secrets WHERE name = ?1";

int store_cluster_secret(struct store *st, const char *name, const char *fresh, struct buf *out)
{
    int rc = store__run(st, SQL_SECRET_ADD, STORE_ARGS(name, fresh), NULL);
    return rc != 0 ? rc : store__query_one(st, SQL_SECRET_GET, STORE_ARGS(name), out, NULL);
}

static const char SQL_S2S_ADD[] =
    "INSERT INTO cluster_s2s_queue(id, node, run, seq, target, source, stanza, queued) "
    "VALUES (?1, ?2, ?3, CAST(?4 AS INTEGER), ?5, ?6, ?7, CAST(?8 AS INTEGER))";
static const char SQL_S2S_DONE[] = "DELETE FROM cluster_s2s_queue WHERE id = ?1";
static const char SQL_S2S_CLAIM[] =
    "UPDATE cluster_s2s_queue SET node = ?2 WHERE node = ?1 AND run <> ?3";
static const char SQL_S2S_LIST[] = "SELECT id, stanza FROM cluster_s2s_queue WHERE node = ?1 "
                                   "ORDER BY queued, seq";

int store_cluster_s2s_add(struct store *st, const struct store_s2s_row *row)
{
    char seq[24];
    char queued[24];
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)row->seq);
    snprintf(queued, sizeof(queued), "%lld", row->queued_ms);
    return store__run(st, SQL_S2S_ADD,
                      STORE_ARGS(row->id, row->node, row->run, seq, row->target, row->source,
                                 row->stanza, queued),
                      NULL);
}

int store_cluster_s2s_done(struct store *st, const char *id)
{
    return store__run(st, SQL_S2S_DONE, STORE_ARGS(id), NULL);
}

int store_cluster_s2s_claim(struct store *st, const char *node, const char *but_run,
                            const char *claimer, int *claimed)
{
    return store__run(st, SQL_S2S_CLAIM, STORE_ARGS(node, claimer, but_run), claimed);
}

static const char SQL_S2S_NODES[] = "SELECT DISTINCT node FROM cluster_s2s_queue";

int store_cluster_s2s_nodes(struct store *st, store_s2s_fn *fn, void *ud)
{
    return store__query_rows(st, SQL_S2S_NODES, STORE_NO_ARGS, fn, ud);
}

int store_cluster_s2s_list(struct store *st, const char *claimer, store_s2s_fn *fn, void *ud)
{
    return store__query_rows(st, SQL_S2S_LIST, STORE_ARGS(claimer), fn, ud);
}

static const char SQL_SESSION_ADD[] =
    "INSERT INTO cluster_sessions(jid, node, run) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(jid) DO UPDATE SET node = excluded.node, run = excluded.run";
static const char SQL_SESSION_GONE[] = "DELETE FROM cluster_sessions WHERE jid = ?1 AND node = ?2";
static const char SQL_SESSION_CLAIM[] =
    "UPDATE cluster_sessions SET node = ?2 WHERE node = ?1 AND run <> ?3";
static const char SQL_SESSION_LIST[] = "SELECT jid FROM cluster_sessions WHERE node = ?1";
static const char SQL_SESSION_NODES[] = "SELECT DISTINCT node FROM cluster_sessions";

int store_cluster_session_add(struct store *st, const char *jid, const char *node, const char *run)
{
    return store__run(st, SQL_SESSION_ADD, STORE_ARGS(jid, node, run), NULL);
}

int store_cluster_session_gone(struct store *st, const char *jid, const char *node, int *removed)
{
    return store__run(st, SQL_SESSION_GONE, STORE_ARGS(jid, node), removed);
}

int store_cluster_session_claim(struct store *st, const char *node, const char *but_run,
                                const char *claimer, int *claimed)
{
    return store__run(st, SQL_SESSION_CLAIM, STORE_ARGS(node, claimer, but_run), claimed);
}

int store_cluster_session_list(struct store *st, const char *claimer, store_s2s_fn *fn, void *ud)
{
    return store__query_rows(st, SQL_SESSION_LIST, STORE_ARGS(claimer), fn, ud);
}

int store_cluster_session_nodes(struct store *st, store_s2s_fn *fn, void *ud)
{
    return store__query_rows(st, SQL_SESSION_NODES, STORE_NO_ARGS, fn, ud);
}
