/* sqlite_login.c: the store's "login" area (see store_int.h): each account's last login. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "store/store_int.h"
#include "store/store_login.h"

static const char *const migrations[] = {
    /* v1: one row per account, removed with it. */
    "CREATE TABLE account_logins ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  stamp INTEGER NOT NULL,"
    "  address TEXT NOT NULL,"
    "  PRIMARY KEY (domain, name),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ");",
};

STORE_AREA(login, migrations);

static const char SQL_SET[] = "INSERT INTO account_logins(domain, name, stamp, address)"
                              " SELECT ?1, ?2, CAST(?3 AS INTEGER), ?4 WHERE EXISTS"
                              " (SELECT 1 FROM accounts WHERE domain = ?1 AND name = ?2)"
                              " ON CONFLICT(domain, name) DO UPDATE"
                              " SET stamp = excluded.stamp, address = excluded.address";
static const char SQL_GET[] = "SELECT stamp, address FROM account_logins"
                              " WHERE domain = ?1 AND name = ?2";

int store_login_set(struct store *st, const char *domain, const char *name, long long stamp,
                    const char *address)
{
    char ts[32];
    int changes = 0;
    snprintf(ts, sizeof(ts), "%lld", stamp);
    int rc =
        store__run(st, SQL_SET, STORE_ARGS(domain, name, ts, address ? address : ""), &changes);
    return rc == 0 && changes == 0 ? ERR_NOTFOUND : rc;
}

struct get_ctx {
    long long *stamp;
    struct buf *address;
    bool found;
};

static int get_row(void *ud, const char *const *cols, int ncols)
{
    struct get_ctx *g = ud;
    g->found = true;
    *g->stamp = cols[0] ? strtoll(cols[0], NULL, 10) : 0;
    if (g->address != NULL) {
        buf_reset(g->address);
        if (ncols > 1 && cols[1] && buf_append_c(g->address, cols[1]) != 0) {
            return ERR_LIMIT;
        }
    }
    return 0;
}

int store_login_get(struct store *st, const char *domain, const char *name, long long *stamp,
                    struct buf *address)
{
    struct get_ctx g = { stamp, address, false };
    *stamp = 0;
    int rc = store__query_rows(st, SQL_GET, STORE_ARGS(domain, name), get_row, &g);
    return rc == 0 && !g.found ? ERR_NOTFOUND : rc;
}
