/* sqlite_push.c: the store's "push" area (see store_int.h): XEP-0357 push registrations. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "store/store_int.h"
#include "store/store_push.h"

static const char *const migrations[] = {
    /* v1: one row per (account, app server, node), removed with its account. */
    "CREATE TABLE push_registrations ("
    "  id INTEGER PRIMARY KEY,"
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  service TEXT NOT NULL,"
    "  node TEXT NOT NULL,"
    "  options TEXT NOT NULL,"
    "  UNIQUE (domain, name, service, node),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ");",
};

STORE_AREA(push, migrations);

static const char SQL_ENABLE[] =
    "INSERT INTO push_registrations(domain, name, service, node, options)"
    " VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(domain, name, service, node) DO UPDATE SET options = excluded.options";
static const char SQL_DISABLE_NODE[] = "DELETE FROM push_registrations"
                                       " WHERE domain = ?1 AND name = ?2 AND service = ?3"
                                       " AND node = ?4";
static const char SQL_DISABLE_ALL[] = "DELETE FROM push_registrations"
                                      " WHERE domain = ?1 AND name = ?2 AND service = ?3";
static const char SQL_REMOVE_ID[] = "DELETE FROM push_registrations"
                                    " WHERE domain = ?1 AND name = ?2 AND id = ?3"
                                    " AND service = ?4";
static const char SQL_LIST[] = "SELECT id, service, node, options FROM push_registrations"
                               " WHERE domain = ?1 AND name = ?2 ORDER BY id";

int store_push_enable(struct store *st, const char *domain, const char *name, const char *service,
                      const char *node, const char *options)
{
    return store__run(st, SQL_ENABLE, STORE_ARGS(domain, name, service, node, options), NULL);
}

int store_push_disable(struct store *st, const char *domain, const char *name, const char *service,
                       const char *node)
{
    if (node == NULL) {
        return store__run(st, SQL_DISABLE_ALL, STORE_ARGS(domain, name, service), NULL);
    }
    return store__run(st, SQL_DISABLE_NODE, STORE_ARGS(domain, name, service, node), NULL);
}

int store_push_remove_id(struct store *st, const char *domain, const char *name, const char *id,
                         const char *service)
{
    int changes = 0;
    int rc = store__run(st, SQL_REMOVE_ID, STORE_ARGS(domain, name, id, service), &changes);
    return rc == 0 && changes == 0 ? ERR_NOTFOUND : rc;
}

struct list_ctx {
    store_push_fn *fn;
    void *ud;
};

static int list_row(void *ud, const char *const *cols, int ncols)
{
    struct list_ctx *lc = ud;
    if (ncols < 4) {
        return 0;
    }
    return lc->fn(lc->ud, cols[0], cols[1], cols[2], cols[3] ? cols[3] : "");
}

int store_push_list(struct store *st, const char *domain, const char *name, store_push_fn *fn,
                    void *ud)
{
    struct list_ctx lc = { fn, ud };
    return store__query_rows(st, SQL_LIST, STORE_ARGS(domain, name), list_row, &lc);
}
