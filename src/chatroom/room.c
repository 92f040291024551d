/* room.c: a room task: occupants, joining and leaving, presence broadcast, messages, private
 * messages, invitations and the iq dispatch of XEP-0045. Runs on the room's home worker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "chatroom/muc_int.h"
#include "core/log.h"
#include "core/server.h"
#include "signal/router.h"
#include "xml/ns.h"

/* ---- lifecycle ---- */

struct muc_room *muc__room_new(const struct jid *bare)
{
    struct muc_room *r = xcalloc(1, sizeof(*r));
    jid_copy(&r->bare, bare);
    struct buf b;
    buf_init(&b, 4096);
    jid_bare(bare, &b);
    r->jid = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    muc__config_defaults(&r->cfg);
    muc__hist_resize(r, r->cfg.history);
    return r;
}

static void occupant_free(struct muc_occupant *o)
{
    free(o->nick);
    jid_cleanup(&o->real);
    if (o->presence) {
        xml_node_unref(o->presence);
    }
    free(o);
}

void muc__room_free(struct muc_room *r)
{
    while (r->occupants) {
        struct muc_occupant *o = r->occupants;
        r->occupants = o->next;
        occupant_free(o);
    }
    while (r->affs) {
        struct muc_aff_entry *a = r->affs;
        r->affs = a->next;
        free(a->jid);
        free(a->nick);
        free(a->reason);
        free(a);
    }
    muc__hist_clear(r);
    free(r->hist);
    free(r->subject);
    free(r->subject_from);
    jid_cleanup(&r->bare);
    free(r->jid);
    free(r);
}

bool muc__maybe_stop(struct muc_room *r)
{
    if (r->occupants == NULL && (!r->cfg.persistent || r->locked || r->destroyed)) {
        muc__room_forget(r);
        return true;
    }
    return false;
}

/* ---- small helpers ---- */

void muc__reply_error(const struct signal *req, const char *type, const char *condition)
{
    router_reply_error(req, type, condition);
}

void muc__reply_result(const struct signal *req, struct xml_node *payload)
{
    router_submit(signal_result_new(req, payload));
}

static bool type_is(const struct signal *sig, const char *t)
{
    return sig->type && strcmp(sig->type, t) == 0;
}

static void room_jid(const struct muc_room *r, const char *nick, struct jid *out)
{
    memset(out, 0, sizeof(*out));
    out->local = xstrdup(r->bare.local);
    out->domain = xstrdup(r->bare.domain);
    out->resource = nick ? xstrdup(nick) : NULL;
}

/* A signal carrying `stanza` (the caller's reference is taken) from room/from_nick (the room
 * itself when NULL), its `to` not set. */
static struct signal *from_room(struct muc_room *r, const char *from_nick, enum signal_method m,
                                struct xml_node *stanza)
{
    struct signal *s = signal_new(m);
    room_jid(r, from_nick, &s->from);
    const char *type = xml_node_attr(stanza, "type");
    const char *id = xml_node_attr(stanza, "id");
    s->type = type ? xstrdup(type) : NULL;
    s->id = id ? xstrdup(id) : NULL;
    if (m == SIGNAL_NOTIFY && type && (strcmp(type, "subscribe") == 0)) {
        s->method = SIGNAL_SUBSCRIBE;
    }
    s->xmpp_data = stanza;
    return s;
}

/* Sends `stanza` (the caller's reference is taken) from room/from_nick (the room itself when
 * NULL) to `to`. */
void muc__send(struct muc_room *r, const char *from_nick, const struct jid *to,
               enum signal_method m, struct xml_node *stanza)
{
    struct signal *s = from_room(r, from_nick, m, stanza);
    jid_copy(&s->to, to);
    router_submit(s);
}

static void add_text_child(struct xml_node *parent, const char *ns, const char *name,
                           const char *text)
{
    struct xml_node *n = xml_node_add_child(parent, ns, name);
    if (text) {
        xml_node_add_text(n, text, strlen(text));
    }
}

static void add_status(struct xml_node *x, int code)
{
    char c[16];
    snprintf(c, sizeof(c), "%d", code);
    xml_node_set_attr(xml_node_add_child(x, NULL, "status"), "code", c);
}

void muc__occupant_id(const struct muc_room *r, const struct jid *real, char out[64])
{
    struct buf bare;
    buf_init(&bare, 4096);
    jid_bare(real, &bare);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), r->cfg.secret, (int)strlen(r->cfg.secret), (const unsigned char *)bare.p,
         bare.len, mac, &maclen);
    buf_cleanup(&bare);
    EVP_EncodeBlock((unsigned char *)out, mac, 30); /* 40 characters, no padding */
    out[40] = '\0';
}

static bool is_own_child(const struct xml_node *c)
{
    if (c->name == NULL || c->ns == NULL) {
        return false;
    }
    return strcmp(c->ns, NS_MUC) == 0 || strcmp(c->ns, NS_MUC_USER) == 0 ||
           strcmp(c->ns, NS_OCCUPANT_ID) == 0 ||
           (strcmp(c->ns, NS_SID) == 0 && strcmp(c->name, "stanza-id") == 0);
}

/* A new stanza named like `src` with its type/xml:lang and its children except the MUC and
 * occupant-id ones (which only the room may write). */
static struct xml_node *clean_copy(const struct xml_node *src, const char *name)
{
    struct xml_node *n = xml_node_new(NS_CLIENT, name);
    if (src == NULL) {
        return n;
    }
    const char *type = xml_node_attr(src, "type");
    const char *id = xml_node_attr(src, "id");
    const char *lang = xml_node_attr_ns(src, NS_XML, "lang");
    if (type) {
        xml_node_set_attr(n, "type", type);
    }
    if (id) {
        xml_node_set_attr(n, "id", id);
    }
    if (lang) {
        xml_node_set_attr_ns(n, NS_XML, "lang", lang);
    }
    for (const struct xml_node *c = src->first_child; c; c = c->next) {
        if (c->name && !is_own_child(c)) {
            xml_node_append_copy(n, c);
        }
    }
    return n;
}

static void add_occupant_id(const struct muc_room *r, struct xml_node *st, const struct jid *real)
{
    char id[64];
    muc__occupant_id(r, real, id);
    xml_node_set_attr(xml_node_add_child(st, NS_OCCUPANT_ID, "occupant-id"), "id", id);
}

/* ---- occupants ---- */

struct muc_occupant *muc__occ_by_nick(struct muc_room *r, const char *nick)
{
    for (struct muc_occupant *o = r->occupants; o; o = o->next) {
        if (strcmp(o->nick, nick) == 0) {
            return o;
        }
    }
    return NULL;
}

struct muc_occupant *muc__occ_by_real(struct muc_room *r, const struct jid *real)
{
    for (struct muc_occupant *o = r->occupants; o; o = o->next) {
        if (jid_eq(&o->real, real)) {
            return o;
        }
    }
    return NULL;
}

static struct muc_occupant *occ_by_bare(struct muc_room *r, const struct jid *who)
{
    for (struct muc_occupant *o = r->occupants; o; o = o->next) {
        if (jid_bare_eq(&o->real, who)) {
            return o;
        }
    }
    return NULL;
}

/* XEP-0045 multi-session nicknames: the sessions of one bare JID may share a nick.
 * Each session is an occupant record; the records with one nick form that nick's group. */
bool muc__same_nick(const struct muc_occupant *a, const struct muc_occupant *b)
{
    return strcmp(a->nick, b->nick) == 0;
}

struct muc_occupant *muc__occ_other_session(struct muc_room *r, const struct muc_occupant *o)
{
    for (struct muc_occupant *p = r->occupants; p; p = p->next) {
        if (p != o && muc__same_nick(p, o)) {
            return p;
        }
    }
    return NULL;
}

bool muc__occ_first_of_nick(const struct muc_room *r, const struct muc_occupant *o)
{
    for (const struct muc_occupant *p = r->occupants; p && p != o; p = p->next) {
        if (muc__same_nick(p, o)) {
            return false;
        }
    }
    return true;
}

int muc__nick_count(const struct muc_room *r)
{
    int n = 0;
    for (const struct muc_occupant *o = r->occupants; o; o = o->next) {
        n += muc__occ_first_of_nick(r, o);
    }
    return n;
}

void muc__remove_occupant(struct muc_room *r, struct muc_occupant *o)
{
    for (struct muc_occupant **pp = &r->occupants; *pp; pp = &(*pp)->next) {
        if (*pp == o) {
            *pp = o->next;
            r->noccupants--;
            occupant_free(o);
            return;
        }
    }
}

void muc__remove_nick(struct muc_room *r, const char *nick)
{
    struct muc_occupant *o = muc__occ_by_nick(r, nick);
    while (o) {
        muc__remove_occupant(r, o);
        o = muc__occ_by_nick(r, nick);
    }
}

void muc__kick_nick(struct muc_room *r, struct muc_occupant *o, int code, const char *actor,
                    const char *reason)
{
    char *nick = xstrdup(o->nick);
    muc__broadcast_presence(r, o, true, &code, 1, actor, reason, NULL);
    muc__remove_nick(r, nick);
    free(nick);
}

void muc__set_nick_role(struct muc_room *r, struct muc_occupant *o, enum muc_role role)
{
    for (struct muc_occupant *p = r->occupants; p; p = p->next) {
        if (muc__same_nick(p, o)) {
            p->role = role;
        }
    }
}

/* The presence of occupant `s` as occupant `to` sees it. */
static struct xml_node *presence_of(struct muc_room *r, struct muc_occupant *s,
                                    struct muc_occupant *to, bool unavailable, const int *codes,
                                    int ncodes, const char *actor, const char *reason,
                                    const char *new_nick)
{
    struct xml_node *p = clean_copy(s->presence, "presence");
    xml_node_set_attr(p, "id", NULL);
    xml_node_set_attr(p, "type", unavailable ? "unavailable" : NULL);
    struct xml_node *x = xml_node_add_child(p, NS_MUC_USER, "x");
    struct xml_node *item = xml_node_add_child(x, NULL, "item");
    xml_node_set_attr(item, "affiliation", muc__aff_name(muc__aff_of(r, &s->real)));
    xml_node_set_attr(item, "role", muc__role_name(unavailable && !new_nick ? ROLE_NONE : s->role));
    bool self = muc__same_nick(to, s); /* every session of a shared nick is that occupant */
    if (r->cfg.non_anonymous || to->role == ROLE_MODERATOR || self) {
        struct buf full;
        buf_init(&full, 4096);
        jid_full(&s->real, &full);
        xml_node_set_attr(item, "jid", buf_cstr(&full));
        buf_cleanup(&full);
    }
    if (new_nick) {
        xml_node_set_attr(item, "nick", new_nick);
    }
    if (actor) {
        xml_node_set_attr(xml_node_add_child(item, NULL, "actor"), "nick", actor);
    }
    if (reason && reason[0]) {
        add_text_child(item, NULL, "reason", reason);
    }
    for (int i = 0; i < ncodes; i++) {
        add_status(x, codes[i]);
    }
    if (self) {
        add_status(x, 110);
    }
    add_occupant_id(r, p, &s->real);
    return p;
}

void muc__send_presence_to(struct muc_room *r, struct muc_occupant *subject,
                           struct muc_occupant *to, bool unavailable, const int *codes, int ncodes,
                           const char *actor, const char *reason)
{
    struct xml_node *p =
        presence_of(r, subject, to, unavailable, codes, ncodes, actor, reason, NULL);
    muc__send(r, subject->nick, &to->real, SIGNAL_NOTIFY, p);
}

void muc__broadcast_presence(struct muc_room *r, struct muc_occupant *o, bool unavailable,
                             const int *codes, int ncodes, const char *actor, const char *reason,
                             struct muc_occupant *skip)
{
    for (struct muc_occupant *to = r->occupants; to; to = to->next) {
        if (to != skip) {
            muc__send_presence_to(r, o, to, unavailable, codes, ncodes, actor, reason);
        }
    }
}

void muc__status_message(struct muc_room *r, const int *codes, int ncodes)
{
    for (struct muc_occupant *to = r->occupants; to; to = to->next) {
        struct xml_node *m = xml_node_new(NS_CLIENT, "message");
        xml_node_set_attr(m, "type", "groupchat");
        struct xml_node *x = xml_node_add_child(m, NS_MUC_USER, "x");
        for (int i = 0; i < ncodes; i++) {
            add_status(x, codes[i]);
        }
        muc__send(r, NULL, &to->real, SIGNAL_MESSAGE, m);
    }
}

static void send_subject(struct muc_room *r, struct muc_occupant *to)
{
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    xml_node_set_attr(m, "type", "groupchat");
    add_text_child(m, NULL, "subject", r->subject ? r->subject : "");
    const char *from = r->subject_from && r->subject_from[0] && muc__occ_by_nick(r, r->subject_from)
                           ? r->subject_from
                           : NULL;
    muc__send(r, from, &to->real, SIGNAL_MESSAGE, m);
}

/* ---- presence ---- */

static const char *join_password(const struct xml_node *x)
{
    const struct xml_node *pw = x ? xml_node_child(x, NS_MUC, "password") : NULL;
    return pw && pw->first_child && pw->first_child->text ? pw->first_child->text : "";
}

static int join_check(struct muc_room *r, const struct signal *sig, const struct xml_node *x,
                      enum muc_aff aff)
{
    const char *nick = sig->to.resource;
    /* A lock keeps out everyone but the owners until the room is configured (§10.1.1). */
    if (r->locked && aff != AFF_OWNER) {
        muc__reply_error(sig, "cancel", "item-not-found");
        return -1;
    }
    if (aff == AFF_OUTCAST) {
        muc__reply_error(sig, "auth", "forbidden");
        return -1;
    }
    if (r->cfg.members_only && aff < AFF_MEMBER) {
        muc__reply_error(sig, "auth", "registration-required");
        return -1;
    }
    if (r->cfg.password_protected && strcmp(join_password(x), r->cfg.password) != 0) {
        muc__reply_error(sig, "auth", "not-authorized");
        return -1;
    }
    struct muc_occupant *holder_occ = muc__occ_by_nick(r, nick);
    if (holder_occ && !jid_bare_eq(&holder_occ->real, &sig->from)) {
        muc__reply_error(sig, "cancel", "conflict");
        return -1;
    }
    int limit = muc__cfg()->muc.max_occupants;
    if (r->cfg.max_users > 0 && r->cfg.max_users < limit) {
        limit = r->cfg.max_users;
    }
    /* Another session joining a nick already there takes no new place. */
    if (holder_occ == NULL && muc__nick_count(r) >= limit && aff < AFF_ADMIN) {
        muc__reply_error(sig, "wait", "service-unavailable");
        return -1;
    }
    const char *holder = muc__reserved_nick_owner(r, nick);
    if (holder) {
        struct buf bare;
        buf_init(&bare, 4096);
        jid_bare(&sig->from, &bare);
        bool mine = strcmp(holder, buf_cstr(&bare)) == 0;
        buf_cleanup(&bare);
        if (!mine) {
            muc__reply_error(sig, "cancel", "conflict");
            return -1;
        }
    }
    return 0;
}

static void join(struct muc_room *r, const struct signal *sig)
{
    const struct xml_node *x = xml_node_child(sig->xmpp_data, NS_MUC, "x");
    bool created = false;
    if (r->fresh) {
        struct buf bare;
        buf_init(&bare, 4096);
        jid_bare(&sig->from, &bare);
        muc__aff_set(r, buf_cstr(&bare), AFF_OWNER, NULL, NULL);
        buf_cleanup(&bare);
        r->fresh = false;
        created = true;
        /* A client that does not speak MUC gets an instant room (XEP-0045 §10.1.1). */
        r->locked = x != NULL;
    }
    enum muc_aff aff = muc__aff_of(r, &sig->from);
    if (!created && join_check(r, sig, x, aff) != 0) {
        return;
    }
    struct muc_occupant *o = xcalloc(1, sizeof(*o));
    o->nick = xstrdup(sig->to.resource);
    jid_copy(&o->real, &sig->from);
    o->role = muc__default_role(r, aff);
    o->presence = xml_node_ref(sig->xmpp_data);
    /* Existing occupants to the newcomer (each nick once, its own nick's other sessions
     * not: its self-presence stands for them), then the newcomer to everyone, itself last. */
    for (struct muc_occupant *e = r->occupants; e; e = e->next) {
        if (muc__occ_first_of_nick(r, e) && !muc__same_nick(e, o)) {
            muc__send_presence_to(r, e, o, false, NULL, 0, NULL, NULL);
        }
    }
    o->next = r->occupants;
    r->occupants = o;
    r->noccupants++;
    int codes[4];
    int n = 0;
    if (r->cfg.non_anonymous) {
        codes[n++] = 100;
    }
    if (r->cfg.logging) {
        codes[n++] = 170;
    }
    if (created) {
        codes[n++] = 201;
    }
    muc__broadcast_presence(r, o, false, NULL, 0, NULL, NULL, o);
    muc__send_presence_to(r, o, o, false, codes, n, NULL, NULL);
    /* XEP-0045 ("Entering a Room"): presences, then the history, then the subject, which
     * clients take as the end of the join; the creator of a locked room gets its (empty)
     * subject too. */
    muc__hist_send(r, o, x ? xml_node_child(x, NS_MUC, "history") : NULL);
    send_subject(r, o);
    muc__directory_update(r);
    log_rec(LOG_TAG_XMPPS, LOG_LOWLEVEL, 0, r->jid, "%s joined%s", o->nick,
            created ? " (room created)" : "");
}

static void change_nick(struct muc_room *r, struct muc_occupant *o, const struct signal *sig)
{
    const char *nick = sig->to.resource;
    const char *holder = muc__reserved_nick_owner(r, nick);
    struct buf bare;
    buf_init(&bare, 4096);
    jid_bare(&o->real, &bare);
    bool reserved_other = holder && strcmp(holder, buf_cstr(&bare)) != 0;
    buf_cleanup(&bare);
    if (muc__occ_by_nick(r, nick) || reserved_other) {
        muc__reply_error(sig, "cancel", "conflict");
        return;
    }
    if (muc__occ_other_session(r, o)) {
        /* One session cannot rename a nick its other sessions share. */
        muc__reply_error(sig, "modify", "not-acceptable");
        return;
    }
    int code303 = 303;
    for (struct muc_occupant *to = r->occupants; to; to = to->next) {
        struct xml_node *p = presence_of(r, o, to, true, &code303, 1, NULL, NULL, nick);
        muc__send(r, o->nick, &to->real, SIGNAL_NOTIFY, p);
    }
    free(o->nick);
    o->nick = xstrdup(nick);
    xml_node_unref(o->presence);
    o->presence = xml_node_ref(sig->xmpp_data);
    muc__broadcast_presence(r, o, false, NULL, 0, NULL, NULL, NULL);
}

static void leave(struct muc_room *r, struct muc_occupant *o, const struct signal *sig, int code)
{
    if (sig) {
        /* Its unavailable presence as sent, or none (a session that ended): never the show
         * and status of its last available one. */
        xml_node_unref(o->presence);
        o->presence = sig->xmpp_data ? xml_node_ref(sig->xmpp_data) : NULL;
    }
    struct muc_occupant *peer = muc__occ_other_session(r, o);
    if (peer) {
        /* The nick stays while another session holds it: this session alone is told it
         * left, and everyone sees the nick's presence as the remaining session has it. */
        muc__send_presence_to(r, o, o, true, code ? &code : NULL, code ? 1 : 0, NULL, NULL);
        muc__remove_occupant(r, o);
        muc__broadcast_presence(r, peer, false, NULL, 0, NULL, NULL, NULL);
        return;
    }
    muc__broadcast_presence(r, o, true, code ? &code : NULL, code ? 1 : 0, NULL, NULL, NULL);
    muc__remove_occupant(r, o);
    muc__directory_update(r);
}

void muc__leave_gone(struct muc_room *r, struct muc_occupant *o)
{
    leave(r, o, NULL, 333);
}

static void presence(struct muc_room *r, struct signal *sig)
{
    struct muc_occupant *o = muc__occ_by_real(r, &sig->from);
    if (type_is(sig, "error")) {
        /* An occupant's client bounced what the room sent: it is gone (status 333). */
        if (o) {
            leave(r, o, NULL, 333);
        }
        return;
    }
    if (type_is(sig, "probe")) {
        struct muc_occupant *t = sig->to.resource ? muc__occ_by_nick(r, sig->to.resource) : NULL;
        if (o && t) {
            muc__send_presence_to(r, t, o, false, NULL, 0, NULL, NULL);
        }
        return;
    }
    if (type_is(sig, "unavailable")) {
        if (o) {
            leave(r, o, sig, 0);
        }
        return;
    }
    if (sig->method != SIGNAL_NOTIFY || sig->type != NULL) {
        return;
    }
    if (sig->to.resource == NULL) {
        /* XEP-0045 §7.2.1: joining needs a nickname. */
        muc__reply_error(sig, "modify", "jid-malformed");
        return;
    }
    if (o == NULL) {
        join(r, sig);
    } else if (strcmp(o->nick, sig->to.resource) != 0) {
        change_nick(r, o, sig);
    } else {
        xml_node_unref(o->presence);
        o->presence = xml_node_ref(sig->xmpp_data);
        muc__broadcast_presence(r, o, false, NULL, 0, NULL, NULL, NULL);
    }
}

/* ---- messages ---- */

static bool rate_ok(struct muc_occupant *o)
{
    int limit = muc__cfg()->muc.message_rate;
    if (limit <= 0) {
        return true;
    }
    uint64_t now = loop_clock_ms();
    if (now - o->rate_start_ms >= 60000) {
        o->rate_start_ms = now;
        o->rate_count = 0;
    }
    return ++o->rate_count <= limit;
}

/* Sends one groupchat message to every occupant and keeps it in the history. */
static void broadcast_message(struct muc_room *r, const char *nick, struct xml_node *m)
{
    muc__archive_message(r, nick, m);
    /* One signal for the room, handed to each occupant's worker once (router_fanout_new). */
    struct signal *all = from_room(r, nick, SIGNAL_MESSAGE, xml_node_ref(m));
    struct router_fanout *f = router_fanout_new(all);
    for (struct muc_occupant *to = r->occupants; to; to = to->next) {
        router_fanout_add(f, &to->real, &to->route);
    }
    router_fanout_submit(f);
    signal_free(all);
    if (xml_node_child(m, NULL, "body")) {
        muc__hist_add(r, m, nick);
    }
    xml_node_unref(m);
}

static void set_subject(struct muc_room *r, const char *nick, const struct xml_node *subject)
{
    struct buf text;
    buf_init(&text, 65536);
    xml_node_text(subject, &text);
    free(r->subject);
    free(r->subject_from);
    r->subject = xstrdup(buf_cstr(&text));
    r->subject_from = xstrdup(nick ? nick : "");
    buf_cleanup(&text);
    if (r->cfg.persistent && !r->locked) {
        muc__save(r);
    }
}

static void groupchat(struct muc_room *r, const struct signal *sig)
{
    struct muc_occupant *o = muc__occ_by_real(r, &sig->from);
    if (o == NULL) {
        muc__reply_error(sig, "modify", "not-acceptable");
        return;
    }
    if (o->role == ROLE_VISITOR) {
        muc__reply_error(sig, "auth", "forbidden");
        return;
    }
    if (!rate_ok(o)) {
        muc__reply_error(sig, "wait", "resource-constraint");
        return;
    }
    const struct xml_node *subject = xml_node_child(sig->xmpp_data, NS_CLIENT, "subject");
    const struct xml_node *body = xml_node_child(sig->xmpp_data, NS_CLIENT, "body");
    if (subject && body == NULL) {
        bool may =
            o->role == ROLE_MODERATOR || (r->cfg.change_subject && o->role >= ROLE_PARTICIPANT);
        if (!may) {
            muc__reply_error(sig, "auth", "forbidden");
            return;
        }
        set_subject(r, o->nick, subject);
    }
    struct xml_node *m = clean_copy(sig->xmpp_data, "message");
    add_occupant_id(r, m, &o->real);
    broadcast_message(r, o->nick, m);
}

/* A message from a non-XMPP producer (starlingctl send): posted as the occupant whose bare JID
 * sent it, or as the room itself when the sender is not in the room. */
static void producer_message(struct muc_room *r, const struct signal *sig)
{
    struct muc_occupant *o = occ_by_bare(r, &sig->from);
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    xml_node_set_attr(m, "type", "groupchat");
    add_text_child(m, NULL, "body", sig->body);
    if (o) {
        add_occupant_id(r, m, &o->real);
    }
    broadcast_message(r, o ? o->nick : NULL, m);
}

static void private_message(struct muc_room *r, const struct signal *sig)
{
    struct muc_occupant *o = muc__occ_by_real(r, &sig->from);
    if (o == NULL) {
        muc__reply_error(sig, "modify", "not-acceptable");
        return;
    }
    if (type_is(sig, "groupchat")) {
        muc__reply_error(sig, "modify", "bad-request");
        return;
    }
    struct muc_occupant *t = muc__occ_by_nick(r, sig->to.resource);
    if (t == NULL) {
        muc__reply_error(sig, "cancel", "item-not-found");
        return;
    }
    bool allowed = r->cfg.allow_pm == PM_ANYONE ||
                   (r->cfg.allow_pm == PM_PARTICIPANTS && o->role >= ROLE_PARTICIPANT) ||
                   (r->cfg.allow_pm == PM_MODERATORS && o->role == ROLE_MODERATOR);
    if (!allowed) {
        muc__reply_error(sig, "cancel", "not-allowed");
        return;
    }
    if (!rate_ok(o)) {
        muc__reply_error(sig, "wait", "resource-constraint");
        return;
    }
    struct xml_node *m = clean_copy(sig->xmpp_data, "message");
    xml_node_add_child(m, NS_MUC_USER, "x");
    add_occupant_id(r, m, &o->real);
    for (struct muc_occupant *s = r->occupants; s; s = s->next) {
        if (muc__same_nick(s, t)) {
            muc__send(r, o->nick, &s->real, SIGNAL_MESSAGE, xml_node_ref(m));
        }
    }
    xml_node_unref(m);
}

/* XEP-0045 §7.8: the <message><x xmlns=muc#user><WHAT from='sender'/></x></message> relayed for
 * an invitation or a decline to the JID in `el`'s `to`. Returns the WHAT element (its tree is a
 * new message; *to and *from, the sender's bare JID, are the caller's to clean up), or NULL after
 * answering jid-malformed. */
static struct xml_node *user_notice(const struct signal *sig, const struct xml_node *el,
                                    const char *what, struct jid *to, struct buf *from)
{
    const char *to_text = xml_node_attr(el, "to");
    if (to_text == NULL || jid_parse(to, strv_c(to_text)) != 0) {
        muc__reply_error(sig, "modify", "jid-malformed");
        return NULL;
    }
    buf_init(from, 4096);
    jid_bare(&sig->from, from);
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    struct xml_node *x = xml_node_add_child(m, NS_MUC_USER, "x");
    struct xml_node *item = xml_node_add_child(x, NULL, what);
    xml_node_set_attr(item, "from", buf_cstr(from));
    return item;
}

/* XEP-0045 §7.8.2: a mediated invitation, sent on by the room; §7.8.3? declines go back. */
static void invite(struct muc_room *r, const struct signal *sig, const struct xml_node *inv)
{
    struct muc_occupant *o = muc__occ_by_real(r, &sig->from);
    enum muc_aff aff = muc__aff_of(r, &sig->from);
    if (o == NULL && aff < AFF_MEMBER) {
        muc__reply_error(sig, "modify", "not-acceptable");
        return;
    }
    if (r->cfg.members_only && aff < AFF_ADMIN && !r->cfg.allow_invites) {
        muc__reply_error(sig, "auth", "forbidden");
        return;
    }
    struct jid to;
    struct buf from;
    struct xml_node *i = user_notice(sig, inv, "invite", &to, &from);
    if (i == NULL) {
        return;
    }
    struct xml_node *x = i->parent;
    struct xml_node *m = x->parent;
    const struct xml_node *reason = xml_node_child(inv, NS_MUC_USER, "reason");
    struct buf rtext;
    buf_init(&rtext, 4096);
    if (reason) {
        xml_node_text(reason, &rtext);
        add_text_child(i, NULL, "reason", buf_cstr(&rtext));
    }
    if (r->cfg.password_protected) {
        add_text_child(x, NULL, "password", r->cfg.password);
    }
    struct buf body;
    buf_init(&body, 8192);
    buf_printf(&body, "%s invites you to the room %s%s%s", buf_cstr(&from), r->jid,
               rtext.len ? ": " : "", buf_cstr(&rtext));
    add_text_child(m, NULL, "body", buf_cstr(&body));
    if (r->cfg.members_only && muc__aff_of(r, &to) < AFF_MEMBER) {
        struct buf tb;
        buf_init(&tb, 4096);
        jid_bare(&to, &tb);
        muc__aff_set(r, buf_cstr(&tb), AFF_MEMBER, NULL, NULL);
        buf_cleanup(&tb);
    }
    muc__send(r, NULL, &to, SIGNAL_MESSAGE, m);
    jid_cleanup(&to);
    buf_cleanup(&from);
    buf_cleanup(&rtext);
    buf_cleanup(&body);
}

static void decline(struct muc_room *r, const struct signal *sig, const struct xml_node *dec)
{
    struct jid to;
    struct buf from;
    struct xml_node *d = user_notice(sig, dec, "decline", &to, &from);
    if (d == NULL) {
        return;
    }
    struct xml_node *m = d->parent->parent;
    const struct xml_node *reason = xml_node_child(dec, NS_MUC_USER, "reason");
    if (reason) {
        xml_node_append_copy(d, reason);
    }
    muc__send(r, NULL, &to, SIGNAL_MESSAGE, m);
    jid_cleanup(&to);
    buf_cleanup(&from);
}

static void message(struct muc_room *r, struct signal *sig)
{
    if (sig->xmpp_data == NULL) {
        if (sig->body) {
            producer_message(r, sig);
        }
        return;
    }
    if (type_is(sig, "error")) {
        struct muc_occupant *o = muc__occ_by_real(r, &sig->from);
        if (o) {
            leave(r, o, NULL, 333);
        }
        return;
    }
    if (sig->to.resource) {
        private_message(r, sig);
        return;
    }
    if (type_is(sig, "groupchat")) {
        groupchat(r, sig);
        return;
    }
    const struct xml_node *x = xml_node_child(sig->xmpp_data, NS_MUC_USER, "x");
    const struct xml_node *inv = x ? xml_node_child(x, NS_MUC_USER, "invite") : NULL;
    const struct xml_node *dec = x ? xml_node_child(x, NS_MUC_USER, "decline") : NULL;
    if (inv) {
        invite(r, sig, inv);
    } else if (dec) {
        decline(r, sig, dec);
    } else {
        muc__reply_error(sig, "modify", "not-acceptable");
    }
}

/* ---- iq ---- */

static bool ns_is(const struct xml_node *q, const char *ns)
{
    return q && q->ns && strcmp(q->ns, ns) == 0;
}

static void disco_items(struct muc_room *r, const struct signal *sig)
{
    struct xml_node *q = xml_node_new(NS_DISCO_ITEMS, "query");
    struct muc_occupant *asker = muc__occ_by_real(r, &sig->from);
    if (asker && !r->locked) {
        for (struct muc_occupant *o = r->occupants; o; o = o->next) {
            if (!muc__occ_first_of_nick(r, o)) {
                continue;
            }
            struct xml_node *it = xml_node_add_child(q, NULL, "item");
            struct buf j;
            buf_init(&j, 4096);
            buf_printf(&j, "%s/%s", r->jid, o->nick);
            xml_node_set_attr(it, "jid", buf_cstr(&j));
            buf_cleanup(&j);
        }
    }
    muc__reply_result(sig, q);
}

/* An iq to an occupant: self-ping (XEP-0410) is answered here, others go to the occupant's
 * client and answers come back the same way. */
static void iq_to_occupant(struct muc_room *r, const struct signal *sig)
{
    struct muc_occupant *o = muc__occ_by_real(r, &sig->from);
    const struct xml_node *q = xml_node_first_element(sig->xmpp_data);
    bool request = type_is(sig, "get") || type_is(sig, "set");
    if (o == NULL) {
        if (request) {
            muc__reply_error(sig, "modify", "not-acceptable");
        }
        return;
    }
    struct muc_occupant *t = muc__occ_by_nick(r, sig->to.resource);
    if (request && t && muc__same_nick(t, o) && ns_is(q, NS_PING)) {
        muc__reply_result(sig, NULL);
        return;
    }
    if (t == NULL) {
        if (request) {
            muc__reply_error(sig, "cancel", "item-not-found");
        }
        return;
    }
    struct xml_node *iq = xml_node_copy(sig->xmpp_data);
    xml_node_set_attr(iq, "to", NULL);
    xml_node_set_attr(iq, "from", NULL);
    muc__send(r, o->nick, &t->real, SIGNAL_INFO, iq);
}

static void iq(struct muc_room *r, struct signal *sig)
{
    if (sig->to.resource) {
        iq_to_occupant(r, sig);
        return;
    }
    if (!type_is(sig, "get") && !type_is(sig, "set")) {
        return;
    }
    const struct xml_node *q = sig->xmpp_data ? xml_node_first_element(sig->xmpp_data) : NULL;
    bool get = type_is(sig, "get");
    if (q == NULL) {
        muc__reply_error(sig, "modify", "bad-request");
    } else if (get && ns_is(q, NS_DISCO_INFO)) {
        muc__disco_info(r, sig);
    } else if (get && ns_is(q, NS_DISCO_ITEMS)) {
        disco_items(r, sig);
    } else if (ns_is(q, NS_MUC_ADMIN)) {
        muc__admin_iq(r, sig, q);
    } else if (ns_is(q, NS_MUC_OWNER)) {
        muc__owner_iq(r, sig, q);
    } else if (ns_is(q, NS_REGISTER)) {
        muc__register_iq(r, sig, q);
    } else if (ns_is(q, NS_MAM)) {
        muc__archive_iq(r, sig, q);
    } else if (get && ns_is(q, NS_PING)) {
        muc__reply_result(sig, NULL);
    } else {
        muc__reply_error(sig, "cancel", "service-unavailable");
    }
}

void muc__room_signal(struct muc_room *r, struct signal *sig)
{
    switch (sig->method) {
    case SIGNAL_NOTIFY:
    case SIGNAL_SUBSCRIBE:
        /* An unavailable presence may come without XML: the IM core's notice that a session
         * ended (im/presence.c) is protocol-neutral. */
        if (sig->xmpp_data || type_is(sig, "unavailable")) {
            presence(r, sig);
        }
        break;
    case SIGNAL_MESSAGE:
        message(r, sig);
        break;
    case SIGNAL_INFO:
        if (sig->xmpp_data) {
            iq(r, sig);
        }
        break;
    }
    signal_free(sig);
}
