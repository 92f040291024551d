/* affiliations.c: affiliations and roles (XEP-0045 §8–§10): the muc#admin lists and changes,
 * kicks, bans, voice, moderators, and room registration of reserved nicknames (§7.10). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatroom/muc_int.h"
#include "store/store_muc.h"
#include "core/log.h"
#include "core/server.h"
#include "xml/ns.h"

static const char *const aff_names[] = { "outcast", "none", "member", "admin", "owner" };
static const char *const role_names[] = { "none", "visitor", "participant", "moderator" };

const char *muc__aff_name(enum muc_aff a)
{
    return aff_names[a];
}

const char *muc__role_name(enum muc_role r)
{
    return role_names[r];
}

static int aff_parse(const char *s)
{
    for (int i = 0; s && i < 5; i++) {
        if (strcmp(s, aff_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static int role_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++) {
        if (strcmp(s, role_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

struct muc_aff_entry *muc__aff_find(struct muc_room *r, const char *bare)
{
    for (struct muc_aff_entry *a = r->affs; a; a = a->next) {
        if (strcmp(a->jid, bare) == 0) {
            return a;
        }
    }
    return NULL;
}

enum muc_aff muc__aff_of(const struct muc_room *r, const struct jid *who)
{
    struct buf bare;
    buf_init(&bare, 4096);
    jid_bare(who, &bare);
    enum muc_aff aff = AFF_NONE;
    bool found = false;
    for (const struct muc_aff_entry *a = r->affs; a; a = a->next) {
        if (strcmp(a->jid, buf_cstr(&bare)) == 0) {
            aff = a->aff;
            found = true;
            break;
        }
    }
    /* A whole domain may be banned (or given an affiliation) by its name. */
    for (const struct muc_aff_entry *a = r->affs; !found && a; a = a->next) {
        if (strcmp(a->jid, who->domain) == 0) {
            aff = a->aff;
            break;
        }
    }
    buf_cleanup(&bare);
    return aff;
}

bool muc__store_condition(const char *condition)
{
    return strcmp(condition, "resource-constraint") == 0 ||
           strcmp(condition, "internal-server-error") == 0;
}

/* Stores the change of muc__aff_set() before it is made. */
static int aff_store(struct muc_room *r, const char *bare, enum muc_aff aff, const char *nick,
                     const char *reason, const struct muc_aff_entry *cur)
{
    struct store *st = worker_ctx()->store;
    const char *keep_nick = nick ? (nick[0] ? nick : NULL) : (cur ? cur->nick : NULL);
    bool none = aff == AFF_NONE;
    int rc =
        store_muc_aff_set(st, r->jid, bare, none ? NULL : aff_names[aff], none ? NULL : keep_nick,
                          none || reason == NULL || reason[0] == '\0' ? NULL : reason);
    if (rc != 0) {
        log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, r->jid, "affiliation of %s not stored: %s", bare,
                store_last_error(st));
    }
    return rc;
}

int muc__aff_set(struct muc_room *r, const char *bare, enum muc_aff aff, const char *nick,
                 const char *reason)
{
    struct muc_aff_entry **pp = &r->affs;
    while (*pp && strcmp((*pp)->jid, bare) != 0) {
        pp = &(*pp)->next;
    }
    if (r->cfg.persistent && !r->locked) {
        int rc = aff_store(r, bare, aff, nick, reason, *pp);
        if (rc != 0) {
            return rc;
        }
    }
    if (aff == AFF_NONE) {
        if (*pp) {
            struct muc_aff_entry *a = *pp;
            *pp = a->next;
            free(a->jid);
            free(a->nick);
            free(a->reason);
            free(a);
        }
    } else {
        if (*pp == NULL) {
            *pp = xcalloc(1, sizeof(**pp));
            (*pp)->jid = xstrdup(bare);
        }
        struct muc_aff_entry *a = *pp;
        a->aff = aff;
        /* `nick` and `reason` may be the entry's own strings: copy before freeing. */
        if (nick) {
            char *n = nick[0] ? xstrdup(nick) : NULL;
            free(a->nick);
            a->nick = n;
        }
        char *why = reason && reason[0] ? xstrdup(reason) : NULL;
        free(a->reason);
        a->reason = why;
    }
    return 0;
}

enum muc_role muc__default_role(const struct muc_room *r, enum muc_aff a)
{
    if (a >= AFF_ADMIN) {
        return ROLE_MODERATOR;
    }
    if (a == AFF_MEMBER || !r->cfg.moderated) {
        return ROLE_PARTICIPANT;
    }
    return ROLE_VISITOR;
}

const char *muc__reserved_nick_owner(struct muc_room *r, const char *nick)
{
    for (struct muc_aff_entry *a = r->affs; a; a = a->next) {
        if (a->nick && strcmp(a->nick, nick) == 0) {
            return a->jid;
        }
    }
    return NULL;
}

/* ---- muc#admin ---- */

static void text_of(const struct xml_node *parent, const char *name, struct buf *out)
{
    buf_reset(out);
    const struct xml_node *n = xml_node_child(parent, NULL, name);
    if (n) {
        xml_node_text(n, out);
    }
}

static void admin_get(struct muc_room *r, const struct signal *sig, const struct xml_node *item)
{
    struct muc_occupant *asker = muc__occ_by_real(r, &sig->from);
    enum muc_aff my = muc__aff_of(r, &sig->from);
    int aff = aff_parse(xml_node_attr(item, "affiliation"));
    int role = role_parse(xml_node_attr(item, "role"));
    struct xml_node *q = xml_node_new(NS_MUC_ADMIN, "query");
    if (aff >= 0) {
        if (my < AFF_ADMIN && !(my == AFF_MEMBER && aff == AFF_MEMBER && r->cfg.members_only)) {
            xml_node_unref(q);
            muc__reply_error(sig, "auth", "forbidden");
            return;
        }
        for (struct muc_aff_entry *a = r->affs; a; a = a->next) {
            if ((int)a->aff != aff) {
                continue;
            }
            struct xml_node *it = xml_node_add_child(q, NULL, "item");
            xml_node_set_attr(it, "affiliation", aff_names[a->aff]);
            xml_node_set_attr(it, "jid", a->jid);
            if (a->nick) {
                xml_node_set_attr(it, "nick", a->nick);
            }
            if (a->reason) {
                struct xml_node *rs = xml_node_add_child(it, NULL, "reason");
                xml_node_add_text(rs, a->reason, strlen(a->reason));
            }
        }
    } else if (role == ROLE_MODERATOR || role == ROLE_PARTICIPANT || role == ROLE_VISITOR) {
        if (asker == NULL || asker->role != ROLE_MODERATOR) {
            xml_node_unref(q);
            muc__reply_error(sig, "auth", "forbidden");
            return;
        }
        for (struct muc_occupant *o = r->occupants; o; o = o->next) {
            if ((int)o->role != role || !muc__occ_first_of_nick(r, o)) {
                continue;
            }
            struct xml_node *it = xml_node_add_child(q, NULL, "item");
            xml_node_set_attr(it, "role", role_names[o->role]);
            xml_node_set_attr(it, "affiliation", aff_names[muc__aff_of(r, &o->real)]);
            xml_node_set_attr(it, "nick", o->nick);
            struct buf j;
            buf_init(&j, 4096);
            jid_full(&o->real, &j);
            xml_node_set_attr(it, "jid", buf_cstr(&j));
            buf_cleanup(&j);
        }
    } else {
        xml_node_unref(q);
        muc__reply_error(sig, "modify", "bad-request");
        return;
    }
    muc__reply_result(sig, q);
}

/* Can an actor with `my` affiliation (and role) give `target` (now `cur`) affiliation `to`? */
static const char *aff_change_denied(enum muc_aff my, enum muc_aff cur, enum muc_aff to)
{
    if (my == AFF_OWNER) {
        return NULL;
    }
    if (my == AFF_ADMIN && cur < AFF_ADMIN && to < AFF_ADMIN) {
        return NULL;
    }
    return "not-allowed";
}

static int owners_count(const struct muc_room *r)
{
    int n = 0;
    for (const struct muc_aff_entry *a = r->affs; a; a = a->next) {
        n += a->aff == AFF_OWNER;
    }
    return n;
}

static bool occ_is(const struct muc_occupant *o, const char *bare)
{
    struct buf b;
    buf_init(&b, 4096);
    jid_bare(&o->real, &b);
    bool match = strcmp(buf_cstr(&b), bare) == 0;
    buf_cleanup(&b);
    return match;
}

/* §9: an affiliation change of a user not in the room is told to that user (101). */
static void tell_absent_user(struct muc_room *r, const char *bare, enum muc_aff aff)
{
    struct jid to;
    if (!strchr(bare, '@') || jid_parse(&to, strv_c(bare)) != 0) {
        return;
    }
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    struct xml_node *x = xml_node_add_child(m, NS_MUC_USER, "x");
    struct xml_node *it = xml_node_add_child(x, NULL, "item");
    xml_node_set_attr(it, "affiliation", aff_names[aff]);
    xml_node_set_attr(it, "jid", bare);
    xml_node_set_attr(xml_node_add_child(x, NULL, "status"), "code", "101");
    muc__send(r, NULL, &to, SIGNAL_MESSAGE, m);
    jid_cleanup(&to);
}

/* XEP-0045 (1.34.7, "Notifications of Changes"): the occupants may learn of an affiliation
 * change of someone not in the room by a message from the room with the item; as in Prosody,
 * with 301 for a ban and 321 for someone who may no longer enter a members-only room. The item
 * names a JID, so in a semi-anonymous room only moderators get it. */
static void tell_occupants(struct muc_room *r, const char *bare, enum muc_aff aff,
                           const char *reason)
{
    int code = 0;
    if (aff == AFF_OUTCAST) {
        code = 301;
    } else if (r->cfg.members_only && aff < AFF_MEMBER) {
        code = 321;
    }
    for (struct muc_occupant *to = r->occupants; to; to = to->next) {
        if (!r->cfg.non_anonymous && to->role != ROLE_MODERATOR) {
            continue;
        }
        struct xml_node *m = xml_node_new(NS_CLIENT, "message");
        struct xml_node *x = xml_node_add_child(m, NS_MUC_USER, "x");
        struct xml_node *it = xml_node_add_child(x, NULL, "item");
        xml_node_set_attr(it, "affiliation", aff_names[aff]);
        xml_node_set_attr(it, "role", "none");
        xml_node_set_attr(it, "jid", bare);
        if (reason && reason[0]) {
            struct xml_node *rs = xml_node_add_child(it, NULL, "reason");
            xml_node_add_text(rs, reason, strlen(reason));
        }
        if (code) {
            char c[8];
            snprintf(c, sizeof(c), "%d", code);
            xml_node_set_attr(xml_node_add_child(x, NULL, "status"), "code", c);
        }
        muc__send(r, NULL, &to->real, SIGNAL_MESSAGE, m);
    }
}

/* The presence change of every occupant of `bare` after an affiliation change (each nick
 * once, whatever number of sessions share it), or the notices when `bare` is not in the room. */
static void apply_aff(struct muc_room *r, const char *bare, enum muc_aff aff, const char *actor,
                      const char *reason)
{
    bool present = false;
    bool out = aff == AFF_OUTCAST || (r->cfg.members_only && aff < AFF_MEMBER);
    struct muc_occupant *o = r->occupants;
    while (o) {
        if (!occ_is(o, bare)) {
            o = o->next;
            continue;
        }
        present = true;
        if (out) {
            muc__kick_nick(r, o, aff == AFF_OUTCAST ? 301 : 321, actor, reason);
            o = r->occupants; /* the list changed: start over */
            continue;
        }
        if (muc__occ_first_of_nick(r, o)) {
            muc__set_nick_role(r, o, muc__default_role(r, aff));
            muc__broadcast_presence(r, o, false, NULL, 0, actor, reason, NULL);
        }
        o = o->next;
    }
    if (!present) {
        tell_occupants(r, bare, aff, reason);
        tell_absent_user(r, bare, aff);
    }
}

/* A result, or the error for the store's code `rc`. */
static void reply_stored(const struct signal *sig, int rc)
{
    if (rc == 0) {
        muc__reply_result(sig, NULL);
        return;
    }
    const char *type;
    const char *cond = signal_store_condition(rc, &type);
    muc__reply_error(sig, type, cond);
}

static const char *set_aff_item(struct muc_room *r, const struct signal *sig,
                                const struct xml_node *item, enum muc_aff aff, const char *actor)
{
    enum muc_aff my = muc__aff_of(r, &sig->from);
    const char *jtext = xml_node_attr(item, "jid");
    const char *nick = xml_node_attr(item, "nick");
    struct jid target = { 0 };
    if (jtext) {
        if (jid_parse(&target, strv_c(jtext)) != 0) {
            return "jid-malformed";
        }
    } else if (nick && muc__occ_by_nick(r, nick)) {
        jid_copy(&target, &muc__occ_by_nick(r, nick)->real);
    } else {
        return "bad-request";
    }
    struct buf bare;
    buf_init(&bare, 4096);
    jid_bare(&target, &bare);
    jid_cleanup(&target);
    const struct muc_aff_entry *cur_e = muc__aff_find(r, buf_cstr(&bare));
    enum muc_aff cur = cur_e ? cur_e->aff : AFF_NONE;
    const char *denied = aff_change_denied(my, cur, aff);
    if (denied == NULL && cur == AFF_OWNER && aff != AFF_OWNER && owners_count(r) <= 1) {
        denied = "conflict"; /* §10.6: the last owner stays */
    }
    if (denied == NULL) {
        struct buf reason;
        buf_init(&reason, 4096);
        text_of(item, "reason", &reason);
        int rc = muc__aff_set(r, buf_cstr(&bare), aff, NULL, buf_cstr(&reason));
        if (rc == 0) {
            apply_aff(r, buf_cstr(&bare), aff, actor, buf_cstr(&reason));
        } else {
            const char *type;
            denied = signal_store_condition(rc, &type);
        }
        buf_cleanup(&reason);
    }
    buf_cleanup(&bare);
    return denied;
}

static const char *set_role_item(struct muc_room *r, const struct signal *sig,
                                 const struct xml_node *item, enum muc_role role,
                                 struct muc_occupant *actor)
{
    const char *nick = xml_node_attr(item, "nick");
    struct muc_occupant *t = nick ? muc__occ_by_nick(r, nick) : NULL;
    if (t == NULL) {
        return nick ? "item-not-found" : "bad-request";
    }
    enum muc_aff my = muc__aff_of(r, &sig->from);
    enum muc_aff theirs = muc__aff_of(r, &t->real);
    if (actor == NULL || actor->role != ROLE_MODERATOR) {
        return "forbidden";
    }
    /* Moderator status is an admin's to give or take (§9.6, §9.7); nobody acts on someone
     * with a higher affiliation, and admins and owners keep their moderator role. */
    if ((role == ROLE_MODERATOR || t->role == ROLE_MODERATOR) && my < AFF_ADMIN) {
        return "not-allowed";
    }
    if (theirs > my || (theirs >= AFF_ADMIN && role != ROLE_MODERATOR)) {
        return "not-allowed";
    }
    struct buf reason;
    buf_init(&reason, 4096);
    text_of(item, "reason", &reason);
    if (role == ROLE_NONE) {
        muc__kick_nick(r, t, 307, actor->nick, buf_cstr(&reason));
    } else {
        muc__set_nick_role(r, t, role);
        muc__broadcast_presence(r, t, false, NULL, 0, actor->nick, buf_cstr(&reason), NULL);
    }
    buf_cleanup(&reason);
    return NULL;
}

static void admin_set(struct muc_room *r, const struct signal *sig, const struct xml_node *q)
{
    struct muc_occupant *actor = muc__occ_by_real(r, &sig->from);
    const char *actor_nick = actor ? actor->nick : NULL;
    const char *err = NULL;
    bool any = false;
    for (const struct xml_node *item = xml_node_first_element(q); item && err == NULL;
         item = xml_node_next_element(item)) {
        if (strcmp(item->name, "item") != 0) {
            continue;
        }
        any = true;
        int aff = aff_parse(xml_node_attr(item, "affiliation"));
        int role = role_parse(xml_node_attr(item, "role"));
        if (aff >= 0) {
            err = set_aff_item(r, sig, item, (enum muc_aff)aff, actor_nick);
        } else if (role >= 0) {
            err = set_role_item(r, sig, item, (enum muc_role)role, actor);
        } else {
            err = "bad-request";
        }
    }
    if (!any) {
        err = "bad-request";
    }
    if (err) {
        const char *type =
            strcmp(err, "forbidden") == 0 || strcmp(err, "not-allowed") == 0 ? "cancel" : "modify";
        if (strcmp(err, "forbidden") == 0) {
            type = "auth";
        }
        if (muc__store_condition(err)) {
            type = "wait";
        }
        muc__reply_error(sig, type, err);
        return;
    }
    muc__reply_result(sig, NULL);
    muc__directory_update(r);
}

void muc__admin_iq(struct muc_room *r, const struct signal *sig, const struct xml_node *q)
{
    /* The lock keeps others out; the owner prepares the lists before opening the room. */
    if (r->locked && muc__aff_of(r, &sig->from) != AFF_OWNER) {
        muc__reply_error(sig, "cancel", "item-not-found");
        return;
    }
    bool get = sig->type && strcmp(sig->type, "get") == 0;
    const struct xml_node *item = xml_node_child(q, NS_MUC_ADMIN, "item");
    if (item == NULL) {
        muc__reply_error(sig, "modify", "bad-request");
    } else if (get) {
        admin_get(r, sig, item);
    } else {
        admin_set(r, sig, q);
    }
}

/* ---- room registration (§7.10): a reserved nickname, and membership ---- */

void muc__register_iq(struct muc_room *r, const struct signal *sig, const struct xml_node *q)
{
    struct buf bare, nick;
    buf_init(&bare, 4096);
    buf_init(&nick, 4096);
    jid_bare(&sig->from, &bare);
    struct muc_aff_entry *mine = muc__aff_find(r, buf_cstr(&bare));
    bool get = sig->type && strcmp(sig->type, "get") == 0;
    if (get) {
        struct xml_node *res = xml_node_new(NS_REGISTER, "query");
        if (mine && mine->aff >= AFF_MEMBER) {
            xml_node_add_child(res, NULL, "registered");
            if (mine->nick) {
                struct xml_node *u = xml_node_add_child(res, NULL, "username");
                xml_node_add_text(u, mine->nick, strlen(mine->nick));
            }
        }
        struct xml_node *x = xml_node_add_child(res, NS_XDATA, "x");
        xml_node_set_attr(x, "type", "form");
        struct xml_node *f = xml_node_add_child(x, NULL, "field");
        xml_node_set_attr(f, "var", "FORM_TYPE");
        xml_node_set_attr(f, "type", "hidden");
        struct xml_node *v = xml_node_add_child(f, NULL, "value");
        xml_node_add_text(v, NS_MUC_REGISTER, strlen(NS_MUC_REGISTER));
        f = xml_node_add_child(x, NULL, "field");
        xml_node_set_attr(f, "var", "muc#register_roomnick");
        xml_node_set_attr(f, "type", "text-single");
        xml_node_set_attr(f, "label", "Nickname");
        xml_node_add_child(f, NULL, "required");
        muc__reply_result(sig, res);
        goto done;
    }
    if (xml_node_child(q, NS_REGISTER, "remove")) {
        int rc = 0;
        if (mine && mine->aff == AFF_MEMBER) {
            rc = muc__aff_set(r, buf_cstr(&bare), AFF_NONE, NULL, NULL);
        }
        reply_stored(sig, rc);
        goto done;
    }
    const struct xml_node *x = xml_node_child(q, NS_XDATA, "x");
    for (const struct xml_node *f = x ? xml_node_first_element(x) : NULL; f;
         f = xml_node_next_element(f)) {
        const char *var = xml_node_attr(f, "var");
        const struct xml_node *v = xml_node_child(f, NS_XDATA, "value");
        if (var && v && strcmp(var, "muc#register_roomnick") == 0) {
            struct buf raw;
            buf_init(&raw, 4096);
            xml_node_text(v, &raw);
            if (jid_resourceprep(buf_strv(&raw), &nick) != 0) {
                buf_reset(&nick);
            }
            buf_cleanup(&raw);
        }
    }
    if (nick.len == 0) {
        muc__reply_error(sig, "modify", "not-acceptable");
        goto done;
    }
    const char *holder = muc__reserved_nick_owner(r, buf_cstr(&nick));
    if (holder && strcmp(holder, buf_cstr(&bare)) != 0) {
        muc__reply_error(sig, "cancel", "conflict");
        goto done;
    }
    if (mine && mine->aff == AFF_OUTCAST) {
        muc__reply_error(sig, "auth", "forbidden");
        goto done;
    }
    if (r->cfg.members_only && (mine == NULL || mine->aff < AFF_MEMBER)) {
        /* A members-only room's list is kept by its admins, not by self-registration. */
        muc__reply_error(sig, "cancel", "not-allowed");
        goto done;
    }
    reply_stored(sig, muc__aff_set(r, buf_cstr(&bare), mine ? mine->aff : AFF_MEMBER,
                                   buf_cstr(&nick), mine ? mine->reason : NULL));

done:
    buf_cleanup(&bare);
    buf_cleanup(&nick);
}
