/* admin.c: the chat rooms seen and acted on by the administrator (admin ops muc.*, issue 20):
 * each function runs on the room's home worker (or, for the list, on every worker). */
#include <string.h>

#include "chatroom/chatroom.h"
#include "chatroom/muc_int.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "store/store.h"
#include "store/store_muc.h"

struct list_ctx {
    const char *service;
    json_t *out;
};

/* The time of the room's last message in its history, 0 when none is kept. */
static long long last_activity(const struct muc_room *r)
{
    if (r->hist_len == 0 || r->hist == NULL) {
        return 0;
    }
    int last = (r->hist_start + r->hist_len - 1) % r->hist_cap;
    return (long long)r->hist[last].when;
}

static void list_room(void *ud, struct muc_room *r)
{
    struct list_ctx *c = ud;
    if (r->destroyed || strcmp(r->bare.domain, c->service) != 0) {
        return;
    }
    json_array_append_new(c->out,
                          json_pack("{s:s, s:s?, s:b, s:b, s:i, s:I}", "jid", r->jid, "name",
                                    r->cfg.name[0] ? r->cfg.name : NULL, "persistent",
                                    r->cfg.persistent, "locked", r->locked, "occupants",
                                    r->noccupants, "last_activity", last_activity(r)));
}

void chatroom_rooms_json(const char *service, json_t *out)
{
    struct list_ctx c = { service, out };
    muc__rooms_foreach(list_room, &c);
}

static json_t *occupants_json(const struct muc_room *r)
{
    json_t *a = json_array();
    for (const struct muc_occupant *o = r->occupants; o; o = o->next) {
        struct buf real;
        buf_init(&real, 4096);
        jid_full(&o->real, &real);
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}", "nick", o->nick, "jid",
                                           buf_cstr(&real), "role", muc__role_name(o->role),
                                           "affiliation", muc__aff_name(muc__aff_of(r, &o->real))));
        buf_cleanup(&real);
    }
    return a;
}

static json_t *affiliations_json(const struct muc_room *r)
{
    json_t *a = json_array();
    for (const struct muc_aff_entry *e = r->affs; e; e = e->next) {
        json_array_append_new(a, json_pack("{s:s, s:s, s:s?, s:s?}", "jid", e->jid, "affiliation",
                                           muc__aff_name(e->aff), "nick", e->nick, "reason",
                                           e->reason));
    }
    return a;
}

json_t *chatroom_room_json(const char *room)
{
    struct muc_room *r = muc__room_get(room);
    if (r == NULL || r->destroyed) {
        return NULL;
    }
    struct buf cfg;
    buf_init(&cfg, 1 << 16);
    muc__config_text(r, &cfg);
    /* The occupant-id key stays in the room (XEP-0421: ids must not be linkable elsewhere). */
    buf_cstr(&cfg); /* NUL-terminated from here */
    char *secret = strstr(cfg.p, "\nsecret=");
    if (secret != NULL) {
        char *end = strchr(secret + 1, '\n');
        size_t tail = end ? strlen(end) : 0;
        memmove(secret, end ? end : secret + strlen(secret), tail + 1);
        cfg.len = strlen(cfg.p);
    }
    json_t *o = json_pack("{s:s, s:b, s:b, s:s%, s:s?, s:o, s:o, s:I}", "jid", r->jid, "persistent",
                          r->cfg.persistent, "locked", r->locked, "config", cfg.p, cfg.len,
                          "subject", r->subject, "occupants", occupants_json(r), "affiliations",
                          affiliations_json(r), "last_activity", last_activity(r));
    buf_cleanup(&cfg);
    muc__maybe_stop(r);
    return o;
}

int chatroom_admin_kick(const char *room, const char *nick, const char *reason)
{
    struct muc_room *r = muc__room_get(room);
    struct muc_occupant *o = r ? muc__occ_by_nick(r, nick) : NULL;
    if (o == NULL) {
        if (r) {
            muc__maybe_stop(r);
        }
        return ERR_NOTFOUND;
    }
    muc__kick_nick(r, o, 307, NULL, reason);
    log_rec(LOG_TAG_XMPPS, LOG_MAJOR, 0, r->jid, "%s kicked by the administrator", nick);
    muc__maybe_stop(r);
    return 0;
}

int chatroom_admin_ban(const char *room, const char *bare, const char *reason)
{
    struct muc_room *r = muc__room_get(room);
    if (r == NULL) {
        return ERR_NOTFOUND;
    }
    int rc = muc__aff_set(r, bare, AFF_OUTCAST, NULL, reason);
    if (rc == 0) {
        struct muc_occupant *o = r->occupants;
        while (o != NULL) {
            struct buf b;
            buf_init(&b, 4096);
            jid_bare(&o->real, &b);
            bool hit = strcmp(buf_cstr(&b), bare) == 0;
            buf_cleanup(&b);
            if (hit) {
                muc__kick_nick(r, o, 301, NULL, reason);
                o = r->occupants; /* the list changed */
            } else {
                o = o->next;
            }
        }
        log_rec(LOG_TAG_XMPPS, LOG_MAJOR, 0, r->jid, "%s banned by the administrator", bare);
    }
    muc__maybe_stop(r);
    return rc;
}

int chatroom_admin_destroy(const char *room, const char *reason)
{
    struct muc_room *r = muc__room_get(room);
    if (r == NULL || r->destroyed) {
        return ERR_NOTFOUND;
    }
    int rc = store_muc_room_delete(worker_ctx()->store, r->jid);
    if (rc == 0) {
        muc__destroy(r, NULL, reason, NULL);
    }
    muc__maybe_stop(r);
    return rc;
}
