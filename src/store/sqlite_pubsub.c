/* sqlite_pubsub.c: the store's "pubsub" area (see store_int.h): publish-subscribe nodes, their
 * items, affiliations and subscriptions. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"
#include "store/store_pubsub.h"

static const char *const migrations[] = {
    /* v1: nodes by (host, node); an account's nodes go with it, everything else with its node.
     * Items carry a per-node sequence: the newest has the highest. */
    "CREATE TABLE pubsub_nodes ("
    "  host TEXT NOT NULL,"
    "  node TEXT NOT NULL,"
    "  domain TEXT,"
    "  name TEXT,"
    "  config TEXT NOT NULL,"
    "  PRIMARY KEY (host, node),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX pubsub_nodes_account ON pubsub_nodes(domain, name);"
    "CREATE TABLE pubsub_items ("
    "  host TEXT NOT NULL,"
    "  node TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  publisher TEXT NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  PRIMARY KEY (host, node, id),"
    "  FOREIGN KEY (host, node) REFERENCES pubsub_nodes(host, node) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX pubsub_items_seq ON pubsub_items(host, node, seq);"
    "CREATE TABLE pubsub_affiliations ("
    "  host TEXT NOT NULL,"
    "  node TEXT NOT NULL,"
    "  jid TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (host, node, jid),"
    "  FOREIGN KEY (host, node) REFERENCES pubsub_nodes(host, node) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE pubsub_subscriptions ("
    "  host TEXT NOT NULL,"
    "  node TEXT NOT NULL,"
    "  jid TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (host, node, jid),"
    "  FOREIGN KEY (host, node) REFERENCES pubsub_nodes(host, node) ON DELETE CASCADE"
    ") WITHOUT ROWID;",
    /* v2: a subscription's options (XEP-0060 §6.3), the pubsub module's own text form. */
    "ALTER TABLE pubsub_subscriptions ADD COLUMN options TEXT NOT NULL DEFAULT '';",
};

STORE_AREA(pubsub, migrations);

static const char SQL_NODE_PUT[] =
    "INSERT INTO pubsub_nodes(host, node, domain, name, config) VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(host, node) DO UPDATE SET config = excluded.config";
static const char SQL_NODE_PUT_SERVICE[] =
    "INSERT INTO pubsub_nodes(host, node, domain, name, config) VALUES (?1, ?2, NULL, NULL, ?3)"
    " ON CONFLICT(host, node) DO UPDATE SET config = excluded.config";
static const char SQL_NODE_GET[] = "SELECT config FROM pubsub_nodes WHERE host = ?1 AND node = ?2";
static const char SQL_NODE_DEL[] = "DELETE FROM pubsub_nodes WHERE host = ?1 AND node = ?2";
static const char SQL_NODE_COUNT[] = "SELECT COUNT(*) FROM pubsub_nodes WHERE host = ?1";
static const char SQL_NODE_LIST[] =
    "SELECT n.node, n.config, COUNT(i.id), COALESCE(SUM(length(CAST(i.payload AS BLOB))), 0)"
    " FROM pubsub_nodes n LEFT JOIN pubsub_items i ON i.host = n.host AND i.node = n.node"
    " WHERE n.host = ?1 GROUP BY n.host, n.node ORDER BY n.node";
static const char SQL_ITEM_PUT[] =
    "INSERT INTO pubsub_items(host, node, id, seq, publisher, payload) VALUES (?1, ?2, ?3,"
    " (SELECT COALESCE(MAX(seq), 0) + 1 FROM pubsub_items WHERE host = ?1 AND node = ?2), ?4, ?5)"
    " ON CONFLICT(host, node, id) DO UPDATE SET seq = excluded.seq,"
    " publisher = excluded.publisher, payload = excluded.payload";
static const char SQL_ITEM_TRIM[] =
    "DELETE FROM pubsub_items WHERE host = ?1 AND node = ?2 AND seq <= (SELECT seq FROM"
    " pubsub_items WHERE host = ?1 AND node = ?2 ORDER BY seq DESC LIMIT 1 OFFSET"
    " CAST(?3 AS INTEGER))";
static const char SQL_ITEM_DEL[] =
    "DELETE FROM pubsub_items WHERE host = ?1 AND node = ?2 AND id = ?3";
static const char SQL_ITEM_PURGE[] = "DELETE FROM pubsub_items WHERE host = ?1 AND node = ?2";
static const char SQL_ITEMS_ONE[] = "SELECT id, publisher, payload FROM pubsub_items"
                                    " WHERE host = ?1 AND node = ?2 AND id = ?3";
static const char SQL_ITEMS_LAST[] =
    "SELECT id, publisher, payload FROM (SELECT id, publisher, payload, seq FROM pubsub_items"
    " WHERE host = ?1 AND node = ?2 ORDER BY seq DESC LIMIT CAST(?3 AS INTEGER)) AS newest"
    " ORDER BY seq";
static const char SQL_AFF_SET[] =
    "INSERT INTO pubsub_affiliations(host, node, jid, value) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT(host, node, jid) DO UPDATE SET value = excluded.value";
static const char SQL_AFF_DEL[] =
    "DELETE FROM pubsub_affiliations WHERE host = ?1 AND node = ?2 AND jid = ?3";
static const char SQL_AFF_LIST[] = "SELECT jid, value FROM pubsub_affiliations"
                                   " WHERE host = ?1 AND node = ?2 ORDER BY jid";
static const char SQL_SUB_SET[] =
    "INSERT INTO pubsub_subscriptions(host, node, jid, value) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT(host, node, jid) DO UPDATE SET value = excluded.value";
static const char SQL_SUB_DEL[] =
    "DELETE FROM pubsub_subscriptions WHERE host = ?1 AND node = ?2 AND jid = ?3";
static const char SQL_SUB_LIST[] = "SELECT jid, value FROM pubsub_subscriptions"
                                   " WHERE host = ?1 AND node = ?2 ORDER BY jid";

static const char SQL_SUB_OPTIONS_GET[] = "SELECT jid, value, options FROM pubsub_subscriptions"
                                          " WHERE host = ?1 AND node = ?2 AND jid = ?3";
static const char SQL_SUB_OPTIONS_SET[] =
    "UPDATE pubsub_subscriptions SET options = ?4 WHERE host = ?1 AND node = ?2 AND jid = ?3";
static const char SQL_SUB_EACH[] = "SELECT jid, value, options FROM pubsub_subscriptions"
                                   " WHERE host = ?1 AND node = ?2 ORDER BY jid";

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static int changed(int rc, int changes)
{
    return rc == 0 && changes == 0 ? ERR_NOTFOUND : rc;
}

int store_pubsub_node_put(struct store *st, const char *host, const char *node, const char *domain,
                          const char *name, const char *config)
{
    if (domain == NULL || name == NULL) {
        return store__run(st, SQL_NODE_PUT_SERVICE, STORE_ARGS(host, node, config), NULL);
    }
    return store__run(st, SQL_NODE_PUT, STORE_ARGS(host, node, domain, name, config), NULL);
}

int store_pubsub_node_get(struct store *st, const char *host, const char *node, struct buf *config)
{
    return store__query_one(st, SQL_NODE_GET, STORE_ARGS(host, node), config, NULL);
}

int store_pubsub_node_delete(struct store *st, const char *host, const char *node)
{
    int n = 0;
    int rc = store__run(st, SQL_NODE_DEL, STORE_ARGS(host, node), &n);
    return changed(rc, n);
}

int store_pubsub_node_count(struct store *st, const char *host, long long *n)
{
    return store__query_one(st, SQL_NODE_COUNT, STORE_ARGS(host), NULL, n);
}

struct list_ctx {
    store_pubsub_sub_fn *sub_fn;
    store_pubsub_node_fn *node_fn;
    store_pubsub_item_fn *item_fn;
    store_pubsub_jid_fn *jid_fn;
    void *ud;
};

static long long num(const char *s)
{
    long long v = 0;
    for (; s && *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (*s - '0');
    }
    return v;
}

static int node_row(void *ud, const char *const *cols, int ncols)
{
    struct list_ctx *l = ud;
    if (ncols < 4) {
        return ERR_STORE;
    }
    return l->node_fn(l->ud, or_empty(cols[0]), or_empty(cols[1]), num(cols[2]), num(cols[3]));
}

int store_pubsub_node_list(struct store *st, const char *host, store_pubsub_node_fn *fn, void *ud)
{
    struct list_ctx l = { .node_fn = fn, .ud = ud };
    return store__query_rows(st, SQL_NODE_LIST, STORE_ARGS(host), node_row, &l);
}

int store_pubsub_item_put(struct store *st, const char *host, const char *node, const char *id,
                          const char *publisher, const char *payload, long long keep)
{
    int rc = store__run(st, SQL_ITEM_PUT, STORE_ARGS(host, node, id, publisher, payload), NULL);
    if (rc == 0 && keep >= 0) {
        char k[32];
        snprintf(k, sizeof(k), "%lld", keep);
        rc = store__run(st, SQL_ITEM_TRIM, STORE_ARGS(host, node, k), NULL);
    }
    return rc;
}

int store_pubsub_item_delete(struct store *st, const char *host, const char *node, const char *id)
{
    int n = 0;
    int rc = store__run(st, SQL_ITEM_DEL, STORE_ARGS(host, node, id), &n);
    return changed(rc, n);
}

int store_pubsub_item_purge(struct store *st, const char *host, const char *node)
{
    return store__run(st, SQL_ITEM_PURGE, STORE_ARGS(host, node), NULL);
}

static int item_row(void *ud, const char *const *cols, int ncols)
{
    struct list_ctx *l = ud;
    if (ncols < 3) {
        return ERR_STORE;
    }
    return l->item_fn(l->ud, or_empty(cols[0]), or_empty(cols[1]), or_empty(cols[2]));
}

int store_pubsub_items(struct store *st, const char *host, const char *node, const char *id,
                       long long max, store_pubsub_item_fn *fn, void *ud)
{
    struct list_ctx l = { .item_fn = fn, .ud = ud };
    if (id != NULL) {
        return store__query_rows(st, SQL_ITEMS_ONE, STORE_ARGS(host, node, id), item_row, &l);
    }
    char m[32];
    /* No limit: the largest number (PostgreSQL refuses SQLite's negative LIMIT). */
    snprintf(m, sizeof(m), "%lld", max < 0 ? LLONG_MAX : max);
    return store__query_rows(st, SQL_ITEMS_LAST, STORE_ARGS(host, node, m), item_row, &l);
}

int store_pubsub_aff_set(struct store *st, const char *host, const char *node, const char *jid,
                         const char *value)
{
    if (value == NULL) {
        return store__run(st, SQL_AFF_DEL, STORE_ARGS(host, node, jid), NULL);
    }
    return store__run(st, SQL_AFF_SET, STORE_ARGS(host, node, jid, value), NULL);
}

int store_pubsub_sub_set(struct store *st, const char *host, const char *node, const char *jid,
                         const char *value)
{
    if (value == NULL) {
        return store__run(st, SQL_SUB_DEL, STORE_ARGS(host, node, jid), NULL);
    }
    return store__run(st, SQL_SUB_SET, STORE_ARGS(host, node, jid, value), NULL);
}

static int jid_row(void *ud, const char *const *cols, int ncols)
{
    struct list_ctx *l = ud;
    if (ncols < 2) {
        return ERR_STORE;
    }
    return l->jid_fn(l->ud, or_empty(cols[0]), or_empty(cols[1]));
}

int store_pubsub_aff_list(struct store *st, const char *host, const char *node,
                          store_pubsub_jid_fn *fn, void *ud)
{
    struct list_ctx l = { .jid_fn = fn, .ud = ud };
    return store__query_rows(st, SQL_AFF_LIST, STORE_ARGS(host, node), jid_row, &l);
}

int store_pubsub_sub_list(struct store *st, const char *host, const char *node,
                          store_pubsub_jid_fn *fn, void *ud)
{
    struct list_ctx l = { .jid_fn = fn, .ud = ud };
    return store__query_rows(st, SQL_SUB_LIST, STORE_ARGS(host, node), jid_row, &l);
}

static int sub_row(void *ud, const char *const *cols, int ncols)
{
    struct list_ctx *l = ud;
    if (ncols < 3) {
        return ERR_STORE;
    }
    return l->sub_fn(l->ud, or_empty(cols[0]), or_empty(cols[1]), or_empty(cols[2]));
}

int store_pubsub_sub_each(struct store *st, const char *host, const char *node,
                          store_pubsub_sub_fn *fn, void *ud)
{
    struct list_ctx l = { .sub_fn = fn, .ud = ud };
    return store__query_rows(st, SQL_SUB_EACH, STORE_ARGS(host, node), sub_row, &l);
}

struct options_get {
    struct buf *value;
    struct buf *options;
    bool found;
};

static int options_row(void *ud, const char *jid, const char *value, const char *options)
{
    (void)jid;
    struct options_get *g = ud;
    g->found = true;
    buf_reset(g->value);
    buf_reset(g->options);
    buf_append_c(g->value, value);
    buf_append_c(g->options, options);
    return 1;
}

int store_pubsub_sub_options_get(struct store *st, const char *host, const char *node,
                                 const char *jid, struct buf *value, struct buf *options)
{
    struct options_get g = { value, options, false };
    struct list_ctx l = { .sub_fn = options_row, .ud = &g };
    int rc = store__query_rows(st, SQL_SUB_OPTIONS_GET, STORE_ARGS(host, node, jid), sub_row, &l);
    if (rc > 0) {
        rc = 0;
    }
    return rc == 0 && !g.found ? ERR_NOTFOUND : rc;
}

int store_pubsub_sub_options_set(struct store *st, const char *host, const char *node,
                                 const char *jid, const char *options)
{
    int n = 0;
    int rc = store__run(st, SQL_SUB_OPTIONS_SET, STORE_ARGS(host, node, jid, options), &n);
    return changed(rc, n);
}
