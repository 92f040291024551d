/* sqlite_cluster.c: the store's "cluster" area (see store_int.h): shared secrets of the nodes. */
#include "store/store_cluster.h"

#include "store/store_int.h"

static const char *const migrations[] = {
    /* v1 */
    "CREATE TABLE cluster_secrets ("
    "  name TEXT NOT NULL PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;",
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
