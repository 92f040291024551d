/* presence.c: RFC 6121 §3-4 on the account's home worker: sessions' presence, broadcasts,
 * probes, directed presence, and the subscription stanzas of both directions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/archive.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "accounts/signup.h"
#include "core/stamp.h"
#include "im/homestate.h"
#include "im/im_int.h"
#include "xml/ns.h"

static bool type_is(const char *type, const char *t)
{
    return type && strcmp(type, t) == 0;
}

static int parse_priority(const struct xml_node *el)
{
    const struct xml_node *p = xml_node_child(el, NS_CLIENT, "priority");
    int prio = 0;
    if (p) {
        struct buf b;
        buf_init(&b, 32);
        xml_node_text(p, &b);
        char *end = NULL;
        long v = strtol(buf_cstr(&b), &end, 10);
        if (end && *end == '\0' && b.len > 0 && v >= -128 && v <= 127) {
            prio = (int)v;
        }
        buf_cleanup(&b);
    }
    return prio;
}

static bool any_available(const struct jid *user)
{
    for (struct router_session *s = im__sessions(user); s; s = s->next) {
        if (s->available) {
            return true;
        }
    }
    return false;
}

/* ---- the user's presence to others ---- */

struct bcast_ctx {
    const struct im_session *is;
    struct xml_node *stanza;
    const char *type;
    bool probe;
    int rows;
    struct jid *to_probe; /* probed once the user's own resources have the presence */
    size_t n_probe;
    struct im_directed **directed; /* final unavailable: recipients the broadcast covers */
};

/* A subscriber got the broadcast: directed presence it was sent needs no second unavailable
 * (one per contact at logout, RFC 6121 §4.6.3 with §4.5.2). */
static void directed_drop_covered(struct im_directed **pp, const struct jid *contact)
{
    while (*pp) {
        struct im_directed *d = *pp;
        if (jid_bare_eq(&d->to, contact)) {
            *pp = d->next;
            jid_cleanup(&d->to);
            free(d);
        } else {
            pp = &d->next;
        }
    }
}

static int bcast_item(void *ud, const struct store_roster_item *it)
{
    struct bcast_ctx *bc = ud;
    bc->rows++;
    bool from = (it->sub & STORE_SUB_FROM) != 0;
    bool to = bc->probe && (it->sub & STORE_SUB_TO);
    struct jid contact;
    if ((!from && !to) || jid_parse(&contact, strv_c(it->contact)) != 0) {
        return 0;
    }
    if (!im__blocked(&bc->is->full, &contact)) {
        if (from) {
            router_submit(im__signal(SIGNAL_NOTIFY, &bc->is->full, &contact, bc->type, bc->stanza));
            if (bc->directed) {
                directed_drop_covered(bc->directed, &contact);
            }
        }
        if (to) {
            bc->to_probe = xrealloc(bc->to_probe, (bc->n_probe + 1) * sizeof(*bc->to_probe));
            bc->to_probe[bc->n_probe++] = contact; /* moved: cleaned up once probed */
            return 0;
        }
    }
    jid_cleanup(&contact);
    return 0;
}

/* To the subscribers (From, Both) and to the user's own available resources (RFC 6121 §4.2.2,
 * §4.4.2, §4.5.2); with `probe` (initial presence), also probes to the contacts the user is
 * subscribed to (§4.3.1), from the same reading of the roster. */
static void broadcast(struct im_session *is, struct xml_node *stanza, const char *type, bool probe)
{
    struct bcast_ctx bc = { .is = is, .stanza = stanza, .type = type, .probe = probe };
    if (type_is(type, "unavailable")) {
        bc.directed = &is->directed;
    }
    const char *domain = is->full.domain, *local = is->full.local;
    if (local != NULL && !im_known_empty(domain, local, IM_HINT_ROSTER)) {
        int rc = store_im_roster_list(im__store(), domain, local, -1, bcast_item, &bc);
        if (rc == 0 && bc.rows == 0) {
            im_note_empty(domain, local, IM_HINT_ROSTER);
        }
    }
    for (struct router_session *s = im__sessions(&is->full); s; s = s->next) {
        if (s->available || s == is->rs) {
            struct im_session *other = im__session(s);
            s->deliver(s->ud, im__signal(SIGNAL_NOTIFY, &is->full, &other->full, type, stanza));
        }
    }
    if (bc.n_probe > 0) {
        struct jid bare;
        im__bare(&is->full, &bare);
        for (size_t i = 0; i < bc.n_probe; i++) {
            router_submit(im__signal(SIGNAL_NOTIFY, &bare, &bc.to_probe[i], "probe", NULL));
            jid_cleanup(&bc.to_probe[i]);
        }
        jid_cleanup(&bare);
    }
    free(bc.to_probe);
}

/* The presence of the user's other available resources, to a resource that just became
 * available. */
static void own_resources_to(struct im_session *is)
{
    for (struct router_session *s = im__sessions(&is->full); s; s = s->next) {
        if (s != is->rs && s->available && s->im && s->im->presence) {
            is->rs->deliver(is->rs->ud, im__signal(SIGNAL_NOTIFY, &s->im->full, &is->full, NULL,
                                                   s->im->presence));
        }
    }
}

static void directed_clear(struct im_session *is, bool send_unavailable)
{
    while (is->directed) {
        struct im_directed *d = is->directed;
        is->directed = d->next;
        if (send_unavailable) {
            router_submit(im__signal(SIGNAL_NOTIFY, &is->full, &d->to, "unavailable", NULL));
        }
        jid_cleanup(&d->to);
        free(d);
    }
}

static void note_last_seen(struct im_session *is, const struct xml_node *stanza)
{
    if (any_available(&is->full)) {
        return;
    }
    struct buf status;
    buf_init(&status, 4096);
    const struct xml_node *st = stanza ? xml_node_child(stanza, NS_CLIENT, "status") : NULL;
    if (st) {
        xml_node_text(st, &status);
    }
    if (is->full.local) {
        im_last_seen_unavailable(is->full.domain, is->full.local, buf_cstr(&status));
    }
    buf_cleanup(&status);
}

static im_presence_hook_fn *g_presence_hook;

void im_set_presence_hook(im_presence_hook_fn *fn)
{
    g_presence_hook = fn;
}

/* Tells the presence hook (personal eventing) about the availability of `from` to `user`. */
static void presence_hook(const struct jid *user, const struct jid *from, const struct xml_node *p)
{
    if (g_presence_hook != NULL && user->local != NULL && from->resource != NULL) {
        struct jid bare;
        im__bare(user, &bare);
        g_presence_hook(&bare, from, p);
        jid_cleanup(&bare);
    }
}

static im_session_hook_fn *g_session_hook;

void im_set_session_hook(im_session_hook_fn *fn)
{
    g_session_hook = fn;
}

static void become_unavailable(struct im_session *is, struct xml_node *stanza, bool notify)
{
    struct router_session *rs = is->rs;
    rs->available = false;
    presence_hook(&is->full, &is->full, NULL);
    if (g_session_hook != NULL) {
        g_session_hook(&is->full, false, notify);
    }
    if (notify) {
        struct xml_node *own = stanza;
        if (own == NULL) {
            own = xml_node_new(NS_CLIENT, "presence");
            xml_node_set_attr(own, "type", "unavailable");
        }
        broadcast(is, own, "unavailable", false);
        for (struct im_directed *d = is->directed; d; d = d->next) {
            router_submit(im__signal(SIGNAL_NOTIFY, &is->full, &d->to, "unavailable", own));
        }
        if (own != stanza) {
            xml_node_unref(own);
        }
    }
    directed_clear(is, false);
    if (is->presence) {
        xml_node_unref(is->presence);
        is->presence = NULL;
    }
    note_last_seen(is, stanza);
}

/* Presence without 'to' from the client (RFC 6121 §4.2, §4.4, §4.5). */
static im_presence_stamp_fn *g_presence_stamp;

void im_set_presence_stamp(im_presence_stamp_fn *fn)
{
    g_presence_stamp = fn;
}

/* XEP-0153/XEP-0398: an available presence without vcard-temp:x:update gets one with the
 * account's photo hash (a copy: the client's stanza is shared read-only). A new reference. */
static struct xml_node *stamped(const struct im_session *is, struct xml_node *el)
{
    if (g_presence_stamp == NULL || xml_node_child(el, NS_VCARD_UPDATE, "x") != NULL) {
        return xml_node_ref(el);
    }
    struct xml_node *x = g_presence_stamp(is->full.local, is->full.domain);
    if (x == NULL) {
        return xml_node_ref(el);
    }
    struct xml_node *copy = xml_node_copy(el);
    xml_node_append_copy(copy, x);
    xml_node_unref(x);
    /* The session keeps it while it lives: in an arena of its own size, not a 1 KB one. */
    struct xml_node *fit = xml_node_copy_fit(copy);
    xml_node_unref(copy);
    return fit;
}

static void own_presence(struct im_session *is, struct signal *sig)
{
    struct router_session *rs = is->rs;
    struct xml_node *el = sig->xmpp_data;
    if (sig->type == NULL && el) {
        el = stamped(is, el);
        bool initial = !rs->available;
        rs->available = true;
        rs->priority = parse_priority(el);
        if (is->presence) {
            xml_node_unref(is->presence);
        }
        is->presence = xml_node_ref(el);
        broadcast(is, el, NULL, initial);
        presence_hook(&is->full, &is->full, el);
        if (initial && g_session_hook != NULL) {
            g_session_hook(&is->full, true, true);
        }
        if (initial) {
            own_resources_to(is);
            im__pending_deliver(rs);
        }
        if (rs->priority >= 0) {
            im__offline_deliver(rs);
        }
        xml_node_unref(el);
    } else if (type_is(sig->type, "unavailable") && rs->available) {
        become_unavailable(is, el, true);
    }
    signal_free(sig);
}

/* Directed presence (RFC 6121 §4.6): remembered so that the recipient learns when the session
 * goes away. */
static void directed_presence(struct im_session *is, const struct signal *sig)
{
    if (sig->type && !type_is(sig->type, "unavailable")) {
        return;
    }
    struct im_directed **pp = &is->directed;
    while (*pp && !jid_eq(&(*pp)->to, &sig->to)) {
        pp = &(*pp)->next;
    }
    /* Kept whatever the session's own availability: a client may join a room before its
     * initial presence, and the room must still learn when the session ends. */
    if (sig->type == NULL && *pp == NULL) {
        struct im_directed *d = xcalloc(1, sizeof(*d));
        jid_copy(&d->to, &sig->to);
        *pp = d;
    } else if (sig->type != NULL && *pp != NULL) {
        struct im_directed *d = *pp;
        *pp = d->next;
        jid_cleanup(&d->to);
        free(d);
    }
}

static bool to_own_server(const struct im_session *is, const struct signal *sig)
{
    return sig->to.domain && strcmp(sig->to.domain, is->full.domain) == 0 &&
           (sig->to.local == NULL ||
            (is->full.local && strcmp(sig->to.local, is->full.local) == 0));
}

/* A subscription stanza whose state change could not be stored: its sender gets the error
 * (to the session `rs` when it is the user's own, else back to the contact). */
static void refuse_unstored(struct router_session *rs, const struct signal *sig, int rc)
{
    const char *type;
    const char *cond = signal_store_condition(rc, &type);
    if (rs == NULL) {
        router_reply_error(sig, type, cond);
        return;
    }
    struct signal *err = signal_error_new(sig, type, cond);
    if (err != NULL) {
        rs->deliver(rs->ud, err);
    }
}

void im_client_stanza(struct router_session *rs, struct signal *sig)
{
    struct im_session *is = im__session(rs);
    const char *to_attr = sig->xmpp_data ? xml_node_attr(sig->xmpp_data, "to") : NULL;
    if (sig->method == SIGNAL_NOTIFY && to_attr == NULL) {
        own_presence(is, sig);
        return;
    }
    if (sig->method == SIGNAL_SUBSCRIBE && to_attr == NULL) {
        /* A subscription with oneself is meaningless: nothing to do. */
        signal_free(sig);
        return;
    }
    if (!type_is(sig->type, "error") && !to_own_server(is, sig) &&
        im__blocked(&is->full, &sig->to)) {
        im__refuse_blocked(rs, sig);
        signal_free(sig);
        return;
    }
    switch (sig->method) {
    case SIGNAL_SUBSCRIBE: {
        enum sub_event ev;
        struct jid user, contact;
        im__bare(&is->full, &user);
        im__bare(&sig->to, &contact);
        int rc = sub_event_of(sig->type, true, &ev)
                     ? im__subscription(&user, &contact, ev, sig->xmpp_data)
                     : 0;
        if (rc != 0) {
            refuse_unstored(rs, sig, rc);
        }
        jid_cleanup(&user);
        jid_cleanup(&contact);
        signal_free(sig);
        return;
    }
    case SIGNAL_NOTIFY:
        directed_presence(is, sig);
        break;
    case SIGNAL_MESSAGE:
        im__carbons_sent(rs, sig);
        archive_message(sig, true);
        break;
    case SIGNAL_INFO:
        break;
    }
    router_submit(sig);
}

/* Session-end bookkeeping: when `rs` is the account's last session in the router, its logout is
 * recorded (XEP-0012), written behind with the last unavailable presence of the same moment. */
static void last_session_ended(const struct router_session *rs)
{
    const char *at = rs->bare ? strchr(rs->bare, '@') : NULL;
    if (at == NULL || worker_ctx() == NULL || router_sessions(rs->bare) != rs || rs->next) {
        return;
    }
    struct buf local;
    buf_init(&local, 2048);
    buf_append(&local, rs->bare, (size_t)(at - rs->bare));
    im_last_seen_logout(at + 1, buf_cstr(&local));
    buf_cleanup(&local);
}

void im_session_ended(struct router_session *rs, bool server_stopping)
{
    struct im_session *is = rs->im;
    if (is == NULL) {
        last_session_ended(rs);
        return;
    }
    if (rs->available) {
        become_unavailable(is, NULL, !server_stopping);
    }
    /* What is left was sent while unavailable (rooms joined before initial presence): those
     * recipients learn of the end too, or the session stays a ghost occupant. */
    directed_clear(is, !server_stopping);
    if (is->presence) {
        xml_node_unref(is->presence);
    }
    jid_cleanup(&is->full);
    free(is);
    rs->im = NULL;
    last_session_ended(rs);
}

struct gone_ctx {
    const struct jid *full;
    struct xml_node *stanza;
};

static int gone_item(void *ud, const struct store_roster_item *it)
{
    struct gone_ctx *g = ud;
    struct jid contact;
    if ((it->sub & STORE_SUB_FROM) == 0 || jid_parse(&contact, strv_c(it->contact)) != 0) {
        return 0;
    }
    if (!im__blocked(g->full, &contact)) {
        router_submit(im__signal(SIGNAL_NOTIFY, g->full, &contact, "unavailable", g->stanza));
    }
    jid_cleanup(&contact);
    return 0;
}

void im_presence_gone(const struct jid *full)
{
    if (full->local == NULL) {
        return;
    }
    struct gone_ctx g = { full, xml_node_new(NS_CLIENT, "presence") };
    xml_node_set_attr(g.stanza, "type", "unavailable");
    int rc = store_im_roster_list(im__store(), full->domain, full->local, -1, gone_item, &g);
    if (rc != 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL,
                "%s@%s/%s: roster not read (%s): its contacts were not told it went away",
                full->local, full->domain, full->resource ? full->resource : "", err_str(rc));
    }
    xml_node_unref(g.stanza);
}

static void collect_available(void *ud, const struct router_session *s)
{
    if (s->available && s->im != NULL && s->im->presence != NULL) {
        buf_append(ud, &s->im, sizeof(s->im));
    }
}

void im_presence_announce_again(void)
{
    struct buf list;
    buf_init(&list, 1 << 28);
    router_sessions_foreach(collect_available, &list);
    for (size_t off = 0; off + sizeof(struct im_session *) <= list.len;
         off += sizeof(struct im_session *)) {
        struct im_session *is;
        memcpy(&is, list.p + off, sizeof(is));
        broadcast(is, is->presence, NULL, false);
        if (g_session_hook != NULL) {
            g_session_hook(&is->full, true, true);
        }
    }
    buf_cleanup(&list);
}

/* ---- presence for the account ---- */

void im__send_presence_to(const struct jid *user, const struct jid *to, bool available)
{
    for (struct router_session *s = im__sessions(user); s; s = s->next) {
        if (s->available) {
            struct im_session *is = im__session(s);
            router_submit(im__signal(SIGNAL_NOTIFY, &is->full, to, available ? NULL : "unavailable",
                                     available ? is->presence : NULL));
        }
    }
}

void im__send_probe(const struct jid *user, const struct jid *to)
{
    router_submit(im__signal(SIGNAL_NOTIFY, user, to, "probe", NULL));
}

static void deliver_available(struct router_session *sessions, const struct signal *sig)
{
    for (struct router_session *s = sessions; s; s = s->next) {
        if (s->available) {
            s->deliver(s->ud, signal_dup(sig));
        }
    }
}

/* RFC 6121 §4.3.2: the contact's server answers a probe with the last presence of each
 * available resource, or the last unavailable presence, only to a subscriber. */
static void answer_probe(struct router_session *sessions, struct signal *sig)
{
    struct jid user, prober;
    im__bare(&sig->to, &user);
    im__bare(&sig->from, &prober);
    struct im_item it;
    bool allowed = jid_bare_eq(&user, &prober);
    char *pb = im__bare_str(&prober);
    if (!allowed && im_item_load(&user, pb, &it) == 0) {
        allowed = it.exists && (it.sub & SUB_FROM);
        im_item_free(&it);
    }
    free(pb);
    if (!allowed) {
        if (!jid_bare_eq(&user, &prober)) {
            router_submit(im__signal(SIGNAL_SUBSCRIBE, &user, &prober, "unsubscribed", NULL));
        }
    } else {
        bool sent = false;
        for (struct router_session *s = sessions; s; s = s->next) {
            if (s->available && s->im && s->im->presence &&
                (sig->to.resource == NULL || strcmp(sig->to.resource, s->resource) == 0)) {
                router_submit(
                    im__signal(SIGNAL_NOTIFY, &s->im->full, &sig->from, NULL, s->im->presence));
                sent = true;
            }
        }
        if (!sent) {
            struct xml_node *p = xml_node_new(NS_CLIENT, "presence");
            xml_node_set_attr(p, "type", "unavailable");
            long long stamp = 0, logout = 0;
            struct buf status;
            buf_init(&status, 4096);
            if (im_last_seen_get(user.domain, user.local, &stamp, &status, &logout) == 0 &&
                stamp != 0) {
                if (status.len) {
                    struct xml_node *st = xml_node_add_child(p, NULL, "status");
                    xml_node_add_text(st, status.p, status.len);
                }
                xml_node_add_delay(p, user.domain, (time_t)stamp);
            }
            buf_cleanup(&status);
            router_submit(im__signal(SIGNAL_NOTIFY, &user, &sig->from, "unavailable", p));
            xml_node_unref(p);
        }
    }
    jid_cleanup(&user);
    jid_cleanup(&prober);
}

void im_inbound_presence(struct router_session *sessions, struct signal *sig, bool exists)
{
    if (!exists) {
        /* RFC 6121 §3.1.3, §4.3.2: no such user. */
        if (type_is(sig->type, "subscribe") || type_is(sig->type, "probe")) {
            struct jid user, prober;
            im__bare(&sig->to, &user);
            im__bare(&sig->from, &prober);
            router_submit(im__signal(SIGNAL_SUBSCRIBE, &user, &prober, "unsubscribed", NULL));
            jid_cleanup(&user);
            jid_cleanup(&prober);
        }
        signal_free(sig);
        return;
    }
    if (sig->method == SIGNAL_SUBSCRIBE && type_is(sig->type, "error")) {
        /* The answer to one of the user's subscription stanzas (e.g. the contact's side could
         * not store it): presence to the bare JID, for the available resources (§8.5.2.1.1). */
        deliver_available(sessions, sig);
        signal_free(sig);
        return;
    }
    if (sig->method == SIGNAL_SUBSCRIBE) {
        enum sub_event ev;
        struct jid user, contact;
        im__bare(&sig->to, &user);
        im__bare(&sig->from, &contact);
        int rc = sub_event_of(sig->type, false, &ev) && !jid_bare_eq(&user, &contact)
                     ? im__subscription(&user, &contact, ev, sig->xmpp_data)
                     : 0;
        if (rc != 0) {
            refuse_unstored(NULL, sig, rc);
        }
        jid_cleanup(&user);
        jid_cleanup(&contact);
        signal_free(sig);
        return;
    }
    if (type_is(sig->type, "probe")) {
        answer_probe(sessions, sig);
        signal_free(sig);
        return;
    }
    if (sig->type == NULL || type_is(sig->type, "unavailable")) {
        presence_hook(&sig->to, &sig->from, sig->type == NULL ? sig->xmpp_data : NULL);
    }
    if (sig->to.resource) {
        /* RFC 6121 §8.5.3: to a full JID: that resource, or nobody. */
        for (struct router_session *s = sessions; s; s = s->next) {
            if (strcmp(s->resource, sig->to.resource) == 0) {
                s->deliver(s->ud, sig);
                return;
            }
        }
        signal_free(sig);
        return;
    }
    deliver_available(sessions, sig);
    signal_free(sig);
}

/* ---- subscriptions ---- */

static int store_pending(const struct jid *user, const struct jid *contact, struct xml_node *stanza)
{
    struct signal *copy = im__signal(SIGNAL_SUBSCRIBE, contact, user, "subscribe", stanza);
    struct buf text;
    buf_init(&text, 1 << 20);
    char *cb = im__bare_str(contact);
    int rc = 0;
    if (signal_wire_serialize(copy, &text) == 0) {
        im_note_filled(user->domain, user->local, IM_HINT_PENDING);
        rc = store_im_pending_set(im__store(), user->domain, user->local, cb, buf_cstr(&text));
    }
    free(cb);
    buf_cleanup(&text);
    signal_free(copy);
    return rc;
}

/* The state a subscription step changes (the roster item, the pending request), stored together
 * before anything is sent: on failure nothing is stored and nothing happens. */
static int store_step(const struct jid *user, const struct jid *contact, const char *cb,
                      struct im_item *it, unsigned act, struct xml_node *stanza, long long *ver)
{
    struct store *st = im__store();
    if ((act & (SUB_PUSH | SUB_DROP_PENDING | SUB_STORE_PENDING)) == 0) {
        return 0;
    }
    int rc = store_group_begin(st);
    if (rc != 0) {
        return rc;
    }
    if (act & SUB_PUSH) {
        rc = im_item_store(user, it, false, ver);
    }
    if (rc == 0 && (act & SUB_DROP_PENDING)) {
        rc = store_im_pending_remove(st, user->domain, user->local, cb, NULL);
    }
    if (rc == 0 && (act & SUB_STORE_PENDING)) {
        rc = store_pending(user, contact, stanza);
    }
    return store_group_end(st, rc);
}

/* XEP-0379: the subscription request carries an invitation of `user` for `contact`. */
static bool preauthorised(const struct jid *user, const char *contact,
                          const struct xml_node *stanza)
{
    const struct xml_node *pa = stanza ? xml_node_child(stanza, NS_PARS, "preauth") : NULL;
    const char *token = pa ? xml_node_attr(pa, "token") : NULL;
    if (token == NULL || token[0] == '\0' || strlen(token) > 128) {
        return false;
    }
    return signup_invite_roster(im__store(), user->domain, user->local, contact, token, time(NULL));
}

int im__subscription(const struct jid *user, const struct jid *contact, enum sub_event ev,
                     struct xml_node *stanza)
{
    static const char *const types[] = { "subscribe", "subscribed", "unsubscribe", "unsubscribed" };
    const char *type = types[(ev - SUB_OUT_SUBSCRIBE) % 4];
    bool out = ev < SUB_IN_SUBSCRIBE;
    struct store *st = im__store();
    char *cb = im__bare_str(contact);
    struct im_item it;
    int rc = im_item_load(user, cb, &it);
    if (rc != 0) {
        free(cb);
        return rc;
    }
    struct buf pend;
    buf_init(&pend, 1 << 20);
    struct sub_state cur = {
        .sub = it.sub,
        .pending_out = it.ask,
        .approved = it.approved,
        .pending_in = store_im_pending_get(st, user->domain, user->local, cb, &pend) == 0,
    };
    buf_cleanup(&pend);
    bool preauth = ev == SUB_IN_SUBSCRIBE && !cur.approved && !(cur.sub & SUB_FROM) &&
                   preauthorised(user, cb, stanza);
    if (preauth) {
        cur.approved = true; /* XEP-0379: as if the user had pre-approved the contact */
    }
    unsigned act = 0;
    struct sub_state next = sub_step(cur, ev, &act);
    if (log_enabled(LOG_TAG_XMPPS, LOG_ALLINFO)) {
        log_rec(LOG_TAG_XMPPS, LOG_ALLINFO, 0, NULL, "%s@%s: %s %s %s: %s -> %s", user->local,
                user->domain, out ? "sends" : "receives", type, cb, sub_state_name(cur),
                sub_state_name(next));
    }
    if (act & SUB_PUSH) {
        it.sub = next.sub;
        it.ask = next.pending_out;
        it.approved = next.approved;
    }
    long long ver = 0;
    rc = store_step(user, contact, cb, &it, act, stanza, &ver);
    if (rc != 0) {
        log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, NULL,
                "%s@%s: %s %s %s: subscription state not stored: %s", user->local, user->domain,
                out ? "sends" : "receives", type, cb, store_last_error(st));
        im_item_free(&it);
        free(cb);
        return rc;
    }
    if (act & SUB_PUSH) {
        im_item_push(user, &it, false, ver);
    }
    if (act & SUB_ROUTE) {
        router_submit(im__signal(SIGNAL_SUBSCRIBE, user, contact, type, stanza));
    }
    if (act & SUB_DELIVER) {
        struct signal *sig = im__signal(SIGNAL_SUBSCRIBE, contact, user, type, stanza);
        deliver_available(im__sessions(user), sig);
        signal_free(sig);
    }
    if (act & SUB_AUTO_SUBSCRIBED) {
        router_submit(im__signal(SIGNAL_SUBSCRIBE, user, contact, "subscribed", NULL));
    }
    if (act & SUB_SEND_PRESENCE) {
        im__send_presence_to(user, contact, true);
    }
    if (act & SUB_SEND_UNAVAILABLE) {
        im__send_presence_to(user, contact, false);
    }
    bool ask_back = preauth && !(it.sub & SUB_TO) && !it.ask;
    im_item_free(&it);
    free(cb);
    if (ask_back) {
        /* Both directions: the inviter asks for the invitee's presence in turn. */
        return im__subscription(user, contact, SUB_OUT_SUBSCRIBE, NULL);
    }
    return 0;
}

int im_invite_subscribe(const struct jid *invitee, const struct jid *inviter, const char *token)
{
    /* The new account pre-approves its inviter, then asks for the inviter's presence with the
     * invitation as XEP-0379 pre-authorisation: both subscriptions follow without a question. */
    int rc = im__subscription(invitee, inviter, SUB_OUT_SUBSCRIBED, NULL);
    if (rc != 0) {
        return rc;
    }
    struct xml_node *p = xml_node_new(NS_CLIENT, "presence");
    xml_node_set_attr(p, "type", "subscribe");
    struct xml_node *pa = xml_node_add_child(p, NS_PARS, "preauth");
    xml_node_set_attr(pa, "token", token);
    rc = im__subscription(invitee, inviter, SUB_OUT_SUBSCRIBE, p);
    xml_node_unref(p);
    return rc;
}

/* ---- administration ---- */

static json_t *session_json(const struct router_session *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "resource", json_string(s->resource));
    json_object_set_new(o, "available", json_boolean(s->available));
    json_object_set_new(o, "priority", json_integer(s->priority));
    const struct xml_node *p = s->available && s->im ? s->im->presence : NULL;
    struct buf t;
    buf_init(&t, 4096);
    const struct xml_node *show = p ? xml_node_child(p, NS_CLIENT, "show") : NULL;
    if (show) {
        xml_node_text(show, &t);
    }
    json_object_set_new(
        o, "show", json_string(s->available ? (t.len ? buf_cstr(&t) : "online") : "unavailable"));
    buf_reset(&t);
    const struct xml_node *status = p ? xml_node_child(p, NS_CLIENT, "status") : NULL;
    if (status) {
        xml_node_text(status, &t);
    }
    json_object_set_new(o, "status", json_string(buf_cstr(&t)));
    buf_cleanup(&t);
    return o;
}

json_t *im_presence_json(const char *bare)
{
    json_t *o = json_object();
    json_t *list = json_array();
    bool available = false;
    json_object_set_new(o, "jid", json_string(bare));
    for (struct router_session *s = router_sessions(bare); s; s = s->next) {
        available = available || s->available;
        json_array_append_new(list, session_json(s));
    }
    json_object_set_new(o, "available", json_boolean(available));
    json_object_set_new(o, "resources", list);
    struct jid j;
    if (!available && jid_parse(&j, strv_c(bare)) == 0) {
        long long stamp = 0, logout = 0;
        struct buf status;
        buf_init(&status, 4096);
        if (j.local && im_last_seen_get(j.domain, j.local, &stamp, &status, &logout) == 0 &&
            stamp != 0) {
            char ts[STAMP_MAX];
            json_object_set_new(o, "last_seen",
                                json_string(stamp_format((time_t)stamp, ts, sizeof(ts))));
            json_object_set_new(o, "last_status", json_string(buf_cstr(&status)));
        }
        buf_cleanup(&status);
        jid_cleanup(&j);
    }
    return o;
}
