/* sqlite_upload.c: the store's "upload" area (see store_int.h): XEP-0363 upload slots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"
#include "store/store_upload.h"

static const char *const migrations[] = {
    /* v1: a slot belongs to an account (removed with it); its file is put once. */
    "CREATE TABLE upload_slots ("
    "  token TEXT NOT NULL PRIMARY KEY,"
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  filename TEXT NOT NULL,"
    "  ctype TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL,"
    "  done INTEGER NOT NULL DEFAULT 0,"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX upload_slots_owner ON upload_slots(domain, name);"
    "CREATE INDEX upload_slots_expires ON upload_slots(expires);",
};

STORE_AREA(upload, migrations);

static const char SQL_ADD[] =
    "INSERT INTO upload_slots(token, domain, name, filename, ctype, secret, size, expires)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, CAST(?7 AS INTEGER), CAST(?8 AS INTEGER))";
static const char SQL_GET[] = "SELECT token, domain, name, filename, ctype, secret, size, expires,"
                              " done FROM upload_slots WHERE token = ?1";
static const char SQL_DONE[] = "UPDATE upload_slots SET done = 1 WHERE token = ?1";
static const char SQL_USED[] = "SELECT COALESCE(SUM(size), 0) FROM upload_slots"
                               " WHERE domain = ?1 AND name = ?2 AND expires > CAST(?3 AS INTEGER)";
static const char SQL_EXPIRED[] =
    "SELECT token FROM upload_slots WHERE expires <= CAST(?1 AS INTEGER) LIMIT CAST(?2 AS INTEGER)";
static const char SQL_EXISTS[] = "SELECT 1 FROM upload_slots WHERE token = ?1";
static const char SQL_DEL[] = "DELETE FROM upload_slots WHERE token = ?1";

int store_upload_add(struct store *st, const struct store_upload_slot *s)
{
    char size[32], expires[32];
    snprintf(size, sizeof(size), "%lld", s->size);
    snprintf(expires, sizeof(expires), "%lld", s->expires);
    return store__run(
        st, SQL_ADD,
        STORE_ARGS(s->token, s->domain, s->name, s->filename, s->ctype, s->secret, size, expires),
        NULL);
}

static void copy_col(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static int slot_row(void *ud, const char *const *cols, int ncols)
{
    struct store_upload_slot *s = ud;
    if (ncols < 9) {
        return ERR_STORE;
    }
    copy_col(s->token, sizeof(s->token), cols[0]);
    copy_col(s->domain, sizeof(s->domain), cols[1]);
    copy_col(s->name, sizeof(s->name), cols[2]);
    copy_col(s->filename, sizeof(s->filename), cols[3]);
    copy_col(s->ctype, sizeof(s->ctype), cols[4]);
    copy_col(s->secret, sizeof(s->secret), cols[5]);
    s->size = cols[6] ? strtoll(cols[6], NULL, 10) : 0;
    s->expires = cols[7] ? strtoll(cols[7], NULL, 10) : 0;
    s->done = cols[8] && cols[8][0] == '1';
    return 1;
}

int store_upload_get(struct store *st, const char *token, struct store_upload_slot *out)
{
    memset(out, 0, sizeof(*out));
    int rc = store__query_rows(st, SQL_GET, STORE_ARGS(token), slot_row, out);
    if (rc < 0) {
        return rc;
    }
    return rc == 1 ? 0 : ERR_NOTFOUND;
}

int store_upload_done(struct store *st, const char *token)
{
    return store__run(st, SQL_DONE, STORE_ARGS(token), NULL);
}

int store_upload_used(struct store *st, const char *domain, const char *name, long long now,
                      long long *used)
{
    char n[32];
    snprintf(n, sizeof(n), "%lld", now);
    *used = 0;
    return store__query_one(st, SQL_USED, STORE_ARGS(domain, name, n), NULL, used);
}

struct expired_ctx {
    store_upload_token_fn *fn;
    void *ud;
};

static int expired_row(void *ud, const char *const *cols, int ncols)
{
    struct expired_ctx *e = ud;
    return ncols >= 1 && cols[0] ? e->fn(e->ud, cols[0]) : 0;
}

int store_upload_expired(struct store *st, long long now, int max, store_upload_token_fn *fn,
                         void *ud)
{
    char n[32], m[32];
    snprintf(n, sizeof(n), "%lld", now);
    snprintf(m, sizeof(m), "%d", max);
    struct expired_ctx e = { fn, ud };
    return store__query_rows(st, SQL_EXPIRED, STORE_ARGS(n, m), expired_row, &e);
}

int store_upload_exists(struct store *st, const char *token)
{
    int rc = store__query_one(st, SQL_EXISTS, STORE_ARGS(token), NULL, NULL);
    return rc == ERR_NOTFOUND ? 0 : rc < 0 ? rc : 1;
}

int store_upload_delete(struct store *st, const char *token)
{
    return store__run(st, SQL_DEL, STORE_ARGS(token), NULL);
}
