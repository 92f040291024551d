/* archive.c: a room's message archive (XEP-0313 §5.1.1 on a MUC): groupchat messages stamped
 * with a stanza-id by the room and archived when the room is persistent and its configuration
 * enables archiving; queries to the room JID, with real JIDs only for those who may see them;
 * the join history refilled from the archive when a stored room is loaded. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "chatroom/muc_int.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "store/store_archive.h"
#include "xml/ns.h"

bool muc__archiving(const struct muc_room *r)
{
    return r->cfg.persistent && r->cfg.archiving && muc__cfg()->archive.enabled;
}

static bool worth(const struct xml_node *m, const struct xml_node **body)
{
    *body = NULL;
    bool useful = false;
    for (const struct xml_node *c = xml_node_first_element(m); c; c = xml_node_next_element(c)) {
        const char *ns = c->ns ? c->ns : "";
        if (strcmp(ns, NS_HINTS) == 0 &&
            (strcmp(c->name, "no-store") == 0 || strcmp(c->name, "no-permanent-store") == 0)) {
            return false;
        }
        if (strcmp(ns, NS_CLIENT) == 0 && strcmp(c->name, "body") == 0) {
            *body = c;
            useful = true;
        } else if ((strcmp(ns, NS_OMEMO) == 0 || strcmp(ns, NS_OMEMO_LEGACY) == 0) &&
                   strcmp(c->name, "encrypted") == 0) {
            useful = true;
        }
    }
    return useful;
}

void muc__archive_message(struct muc_room *r, const char *nick, struct xml_node *m)
{
    const struct xml_node *body;
    if (!muc__archiving(r) || !worth(m, &body)) {
        return;
    }
    long long id = archive_new_id();
    char num[24];
    snprintf(num, sizeof(num), "%lld", id);
    struct xml_node *sid = xml_node_add_child(m, NS_SID, "stanza-id");
    xml_node_set_attr(sid, "id", num);
    xml_node_set_attr(sid, "by", r->jid);
    struct buf from, text, btext, real;
    buf_init(&from, 4096);
    buf_init(&text, 1 << 22);
    buf_init(&btext, 1 << 20);
    buf_init(&real, 4096);
    buf_printf(&from, "%s%s%s", r->jid, nick ? "/" : "", nick ? nick : "");
    struct muc_occupant *o = nick ? muc__occ_by_nick(r, nick) : NULL;
    if (o) {
        jid_full(&o->real, &real);
    }
    if (body) {
        xml_node_text(body, &btext);
    }
    struct xml_ser_opts opts = { .parent_ns = NULL, .to = NULL, .from = buf_cstr(&from) };
    if (xml_serialize(&text, m, &opts) == 0) {
        archive_room_add(id, r->bare.domain, r->bare.local, nick ? nick : "", buf_cstr(&real),
                         buf_cstr(&text), body ? buf_cstr(&btext) : NULL);
    }
    buf_cleanup(&from);
    buf_cleanup(&text);
    buf_cleanup(&btext);
    buf_cleanup(&real);
}

/* Adds the sender's real JID (<x xmlns=muc#user><item jid/></x>) for a requester who may see
 * it: in a non-anonymous room, or a moderator. */
static void add_real_jid(void *ud, struct xml_node *msg, const char *peer, const char *peer_res)
{
    (void)peer;
    if (*(bool *)ud && peer_res[0]) {
        struct xml_node *x = xml_node_add_child(msg, NS_MUC_USER, "x");
        xml_node_set_attr(xml_node_add_child(x, NS_MUC_USER, "item"), "jid", peer_res);
    }
}

/* XEP-0313 §5.1.1: who may read a room's archive: whoever may enter it. */
static bool may_read(struct muc_room *r, const struct jid *who)
{
    enum muc_aff aff = muc__aff_of(r, who);
    if (aff == AFF_OUTCAST) {
        return false;
    }
    return !r->cfg.members_only || aff >= AFF_MEMBER || muc__occ_by_real(r, who) != NULL;
}

void muc__archive_iq(struct muc_room *r, const struct signal *sig, const struct xml_node *q)
{
    bool get = sig->type && strcmp(sig->type, "get") == 0;
    if (!may_read(r, &sig->from)) {
        muc__reply_error(sig, "auth", "forbidden");
        return;
    }
    if (strcmp(q->name, "query") != 0) {
        muc__reply_error(sig, "cancel", "service-unavailable");
        return;
    }
    if (get) {
        muc__reply_result(sig, archive_query_form());
        return;
    }
    struct muc_occupant *o = muc__occ_by_real(r, &sig->from);
    bool see_real = r->cfg.non_anonymous || (o && o->role == ROLE_MODERATOR) ||
                    muc__aff_of(r, &sig->from) >= AFF_ADMIN;
    struct xml_node *fin;
    int rc = archive_query(worker_ctx()->store, sig, q, r->bare.domain, r->bare.local, true,
                           add_real_jid, &see_real, &fin);
    if (rc == ERR_NOTFOUND) {
        muc__reply_error(sig, "cancel", "item-not-found");
    } else if (rc == ERR_PROTO) {
        muc__reply_error(sig, "modify", "bad-request");
    } else if (rc != 0) {
        const char *type;
        const char *cond = signal_store_condition(rc, &type);
        muc__reply_error(sig, type, cond);
    } else {
        muc__reply_result(sig, fin);
    }
}

static int hist_row(void *ud, const struct store_archive_hit *h)
{
    struct muc_room *r = ud;
    struct xml_node *m = xml_parse_element(strv_c(h->stanza), NS_CLIENT, NULL);
    if (m == NULL) {
        return 0;
    }
    xml_node_set_attr(m, "from", NULL);
    muc__hist_add(r, m, h->peer[0] ? h->peer : NULL);
    r->hist[(r->hist_start + r->hist_len - 1) % r->hist_cap].when = (time_t)(h->id / 1000000);
    xml_node_unref(m);
    return 0;
}

/* Called for each of the newest rows, newest first: the last call is the oldest. */
static int hist_oldest(void *ud, const struct store_archive_hit *h)
{
    *(long long *)ud = h->id;
    return 0;
}

void muc__archive_history(struct muc_room *r)
{
    if (!muc__archiving(r) || r->hist_cap == 0) {
        return;
    }
    archive_sync();
    struct store *st = worker_ctx()->store;
    /* The oldest of the newest hist_cap rows, then those rows forward from it. */
    struct store_archive_query q = { .domain = r->bare.domain,
                                     .name = r->bare.local,
                                     .lo = 0,
                                     .hi = LLONG_MAX,
                                     .descending = true,
                                     .limit = r->hist_cap };
    long long oldest = 0;
    if (store_archive_query(st, &q, hist_oldest, &oldest) != 0 || oldest == 0) {
        return;
    }
    q.descending = false;
    q.lo = oldest;
    store_archive_query(st, &q, hist_row, r);
}
