/* sqlite_services.c: the store's "services" area (see store_int.h): vCards, private XML storage
 * and the last logout of each account. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "store/store_int.h"
#include "store/store_services.h"

static const char *const migrations[] = {
    /* v1: vCards (XEP-0054, with the XEP-0153 photo hash), private XML (XEP-0049) and the last
     * logout (XEP-0012), each row removed with its account. */
    "CREATE TABLE vcards ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  xml TEXT NOT NULL,"
    "  photo_hash TEXT NOT NULL,"
    "  PRIMARY KEY (domain, name),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE private_xml ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  ns TEXT NOT NULL,"
    "  element TEXT NOT NULL,"
    "  xml TEXT NOT NULL,"
    "  PRIMARY KEY (domain, name, ns, element),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE last_activity ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  logout INTEGER NOT NULL,"
    "  status TEXT NOT NULL,"
    "  PRIMARY KEY (domain, name),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;",
};

STORE_AREA(services, migrations);

static const char SQL_VCARD_GET[] = "SELECT xml FROM vcards WHERE domain = ?1 AND name = ?2";
static const char SQL_VCARD_HASH[] =
    "SELECT photo_hash FROM vcards WHERE domain = ?1 AND name = ?2";
static const char SQL_VCARD_SET[] =
    "INSERT INTO vcards(domain, name, xml, photo_hash) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT(domain, name) DO UPDATE SET xml = excluded.xml,"
    " photo_hash = excluded.photo_hash";
static const char SQL_PRIVATE_GET[] = "SELECT xml FROM private_xml"
                                      " WHERE domain = ?1 AND name = ?2 AND ns = ?3"
                                      " AND element = ?4";
static const char SQL_PRIVATE_SET[] =
    "INSERT INTO private_xml(domain, name, ns, element, xml) VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(domain, name, ns, element) DO UPDATE SET xml = excluded.xml";
static const char SQL_PRIVATE_SIZE[] =
    "SELECT COALESCE(SUM(length(CAST(xml AS BLOB))), 0) FROM private_xml"
    " WHERE domain = ?1 AND name = ?2 AND NOT (ns = ?3 AND element = ?4)";
static const char SQL_LAST_SET[] =
    "INSERT INTO last_activity(domain, name, logout, status) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT(domain, name) DO UPDATE SET logout = excluded.logout,"
    " status = excluded.status";
static const char SQL_LAST_GET[] =
    "SELECT logout, status FROM last_activity WHERE domain = ?1 AND name = ?2";

int store_vcard_get(struct store *st, const char *domain, const char *name, struct buf *xml)
{
    return store__query_one(st, SQL_VCARD_GET, STORE_ARGS(domain, name), xml, NULL);
}

int store_vcard_photo_hash(struct store *st, const char *domain, const char *name, struct buf *hash)
{
    return store__query_one(st, SQL_VCARD_HASH, STORE_ARGS(domain, name), hash, NULL);
}

int store_vcard_set(struct store *st, const char *domain, const char *name, const char *xml,
                    const char *photo_hash)
{
    return store__run(st, SQL_VCARD_SET, STORE_ARGS(domain, name, xml, photo_hash), NULL);
}

int store_private_get(struct store *st, const char *domain, const char *name, const char *ns,
                      const char *element, struct buf *xml)
{
    return store__query_one(st, SQL_PRIVATE_GET, STORE_ARGS(domain, name, ns, element), xml, NULL);
}

int store_private_set(struct store *st, const char *domain, const char *name, const char *ns,
                      const char *element, const char *xml)
{
    return store__run(st, SQL_PRIVATE_SET, STORE_ARGS(domain, name, ns, element, xml), NULL);
}

int store_private_size(struct store *st, const char *domain, const char *name, const char *ns,
                       const char *element, long long *bytes)
{
    /* NUL never occurs in a namespace or an element name, so "" with "\x01" matches no row. */
    const char *n = ns ? ns : "";
    const char *e = element ? element : "\x01";
    *bytes = 0;
    return store__query_one(st, SQL_PRIVATE_SIZE, STORE_ARGS(domain, name, n, e), NULL, bytes);
}

int store_last_set(struct store *st, const char *domain, const char *name, long long when,
                   const char *status)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", when);
    return store__run(st, SQL_LAST_SET, STORE_ARGS(domain, name, num, status), NULL);
}

struct last_row {
    long long *when;
    struct buf *status;
    bool found;
    int rc;
};

static int last_row(void *ud, const char *const *cols, int ncols)
{
    struct last_row *r = ud;
    if (ncols < 2 || cols[0] == NULL) {
        return 0;
    }
    r->found = true;
    *r->when = strtoll(cols[0], NULL, 10);
    if (r->status) {
        buf_reset(r->status);
        if (cols[1] && buf_append_c(r->status, cols[1]) != 0) {
            r->rc = ERR_LIMIT;
        }
    }
    return 1;
}

int store_last_get(struct store *st, const char *domain, const char *name, long long *when,
                   struct buf *status)
{
    struct last_row r = { .when = when, .status = status };
    int rc = store__query_rows(st, SQL_LAST_GET, STORE_ARGS(domain, name), last_row, &r);
    if (rc < 0) {
        return rc;
    }
    if (!r.found) {
        return ERR_NOTFOUND;
    }
    return r.rc;
}
