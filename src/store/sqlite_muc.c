/* sqlite_muc.c: the store's "muc" area (see store_int.h): persistent rooms (XEP-0045) with
 * their configuration, subject and affiliations. */
#include <string.h>

#include "core/err.h"
#include "store/store_int.h"
#include "store/store_muc.h"

static const char *const migrations[] = {
    /* v1: rooms by bare JID; affiliations go with their room. */
    "CREATE TABLE muc_rooms ("
    "  jid TEXT NOT NULL PRIMARY KEY,"
    "  service TEXT NOT NULL,"
    "  config TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  subject_from TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX muc_rooms_service ON muc_rooms(service, jid);"
    "CREATE TABLE muc_affiliations ("
    "  room TEXT NOT NULL,"
    "  jid TEXT NOT NULL,"
    "  affiliation TEXT NOT NULL,"
    "  nick TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  PRIMARY KEY (room, jid),"
    "  FOREIGN KEY (room) REFERENCES muc_rooms(jid) ON DELETE CASCADE"
    ") WITHOUT ROWID;",
};

STORE_AREA(muc, migrations);

static const char SQL_ROOM_PUT[] =
    "INSERT INTO muc_rooms(jid, service, config, subject, subject_from)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(jid) DO UPDATE SET config = excluded.config,"
    " subject = excluded.subject, subject_from = excluded.subject_from";
static const char SQL_ROOM_GET[] =
    "SELECT config, subject, subject_from FROM muc_rooms WHERE jid = ?1";
static const char SQL_ROOM_DEL[] = "DELETE FROM muc_rooms WHERE jid = ?1";
static const char SQL_ROOM_LIST[] =
    "SELECT jid, config FROM muc_rooms WHERE service = ?1 ORDER BY jid";
static const char SQL_AFF_SET[] =
    "INSERT INTO muc_affiliations(room, jid, affiliation, nick, reason)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(room, jid) DO UPDATE SET"
    " affiliation = excluded.affiliation, nick = excluded.nick, reason = excluded.reason";
static const char SQL_AFF_DEL[] = "DELETE FROM muc_affiliations WHERE room = ?1 AND jid = ?2";
static const char SQL_AFF_LIST[] =
    "SELECT jid, affiliation, nick, reason FROM muc_affiliations WHERE room = ?1 ORDER BY jid";

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

int store_muc_room_put(struct store *st, const char *room, const char *config, const char *subject,
                       const char *subject_from)
{
    const char *at = strchr(room, '@');
    const char *service = at ? at + 1 : room;
    return store__run(st, SQL_ROOM_PUT,
                      STORE_ARGS(room, service, config, or_empty(subject), or_empty(subject_from)),
                      NULL);
}

struct room_row {
    struct buf *config;
    struct buf *subject;
    struct buf *subject_from;
    int found;
};

static int room_row(void *ud, const char *const *cols, int ncols)
{
    struct room_row *r = ud;
    struct buf *outs[3] = { r->config, r->subject, r->subject_from };
    for (int i = 0; i < 3 && i < ncols; i++) {
        if (outs[i]) {
            buf_reset(outs[i]);
            if (buf_append_c(outs[i], or_empty(cols[i])) != 0) {
                return ERR_LIMIT;
            }
        }
    }
    r->found = 1;
    return 0;
}

int store_muc_room_get(struct store *st, const char *room, struct buf *config, struct buf *subject,
                       struct buf *subject_from)
{
    struct room_row r = { config, subject, subject_from, 0 };
    int rc = store__query_rows(st, SQL_ROOM_GET, STORE_ARGS(room), room_row, &r);
    if (rc < 0) {
        return rc;
    }
    return r.found ? 0 : ERR_NOTFOUND;
}

int store_muc_room_delete(struct store *st, const char *room)
{
    return store__run(st, SQL_ROOM_DEL, STORE_ARGS(room), NULL);
}

struct list_ctx {
    store_muc_room_fn *fn;
    store_muc_aff_fn *afn;
    void *ud;
};

static int list_row(void *ud, const char *const *cols, int ncols)
{
    struct list_ctx *l = ud;
    if (ncols < 2) {
        return ERR_STORE;
    }
    return l->fn(l->ud, or_empty(cols[0]), or_empty(cols[1]));
}

int store_muc_room_list(struct store *st, const char *service, store_muc_room_fn *fn, void *ud)
{
    struct list_ctx l = { fn, NULL, ud };
    return store__query_rows(st, SQL_ROOM_LIST, STORE_ARGS(service), list_row, &l);
}

int store_muc_aff_set(struct store *st, const char *room, const char *jid, const char *aff,
                      const char *nick, const char *reason)
{
    if (aff == NULL) {
        return store__run(st, SQL_AFF_DEL, STORE_ARGS(room, jid), NULL);
    }
    return store__run(st, SQL_AFF_SET, STORE_ARGS(room, jid, aff, or_empty(nick), or_empty(reason)),
                      NULL);
}

static int aff_row(void *ud, const char *const *cols, int ncols)
{
    struct list_ctx *l = ud;
    if (ncols < 4) {
        return ERR_STORE;
    }
    return l->afn(l->ud, or_empty(cols[0]), or_empty(cols[1]), or_empty(cols[2]),
                  or_empty(cols[3]));
}

int store_muc_aff_list(struct store *st, const char *room, store_muc_aff_fn *fn, void *ud)
{
    struct list_ctx l = { NULL, fn, ud };
    return store__query_rows(st, SQL_AFF_LIST, STORE_ARGS(room), aff_row, &l);
}
