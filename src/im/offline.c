/* offline.c: XEP-0160 offline messages (stored when no resource can take them, delivered in
 * order with XEP-0203 delay stamps) and the pending subscription requests delivered at login. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "im/homestate.h"
#include "im/im_int.h"
#include "xml/ns.h"

static bool type_is(const struct signal *sig, const char *t)
{
    return sig->type && strcmp(sig->type, t) == 0;
}

static bool is_ns(const struct xml_node *c, const char *ns)
{
    return c->ns && strcmp(c->ns, ns) == 0;
}

/* Worth keeping for later (XEP-0160 §3, XEP-0334 hints): a body or subject, an explicit
 * <store/> hint, or any payload other than chat states, hints and a thread. */
static bool worth_storing(const struct signal *sig, bool *no_store)
{
    *no_store = false;
    if (sig->xmpp_data == NULL) {
        return sig->body != NULL && sig->body[0] != '\0';
    }
    bool useful = false, store_hint = false;
    for (const struct xml_node *c = xml_node_first_element(sig->xmpp_data); c;
         c = xml_node_next_element(c)) {
        if (is_ns(c, NS_HINTS)) {
            if (strcmp(c->name, "no-store") == 0 || strcmp(c->name, "no-permanent-store") == 0) {
                *no_store = true;
            } else if (strcmp(c->name, "store") == 0) {
                store_hint = true;
            }
        } else if (is_ns(c, NS_CLIENT) &&
                   (strcmp(c->name, "body") == 0 || strcmp(c->name, "subject") == 0)) {
            useful = true;
        } else if (!is_ns(c, NS_CHATSTATES) && !is_ns(c, NS_CLIENT)) {
            useful = true;
        }
    }
    return store_hint || (useful && !*no_store);
}

int im_offline_message(struct signal *sig)
{
    /* RFC 6121 §8.5.2.2: headline and error are dropped, groupchat refused. */
    if (type_is(sig, "error") || type_is(sig, "headline")) {
        signal_free(sig);
        return 0;
    }
    if (type_is(sig, "groupchat")) {
        router_reply_error(sig, "cancel", "service-unavailable");
        signal_free(sig);
        return ERR_NOTFOUND;
    }
    bool no_store;
    if (!worth_storing(sig, &no_store)) {
        /* Chat states and other transient notices to an offline user are not kept; a message
         * that forbids storage is refused so that its sender knows. */
        if (no_store) {
            router_reply_error(sig, "cancel", "service-unavailable");
        }
        signal_free(sig);
        return ERR_NOTFOUND;
    }
    int quota = im__cfg()->im.offline_quota;
    struct buf text, from;
    buf_init(&text, 1 << 22);
    buf_init(&from, 4096);
    jid_full(&sig->from, &from);
    int rc = ERR_LIMIT;
    if (quota > 0 && signal_wire_serialize(sig, &text) == 0) {
        im_note_filled(sig->to.domain, sig->to.local, IM_HINT_OFFLINE);
        rc = store_im_offline_add(im__store(), sig->to.domain, sig->to.local, buf_cstr(&from),
                                  (long long)time(NULL), buf_cstr(&text), quota);
    }
    if (rc == ERR_LIMIT) {
        /* The account's quota (XEP-0160 §3): refused for good. */
        log_rec(LOG_TAG_XMPPS, LOG_PROBLEMS, 0, NULL,
                "offline message for %s@%s from %s not stored: quota reached", sig->to.local,
                sig->to.domain, buf_cstr(&from));
        router_reply_error(sig, "cancel", "service-unavailable");
    } else if (rc != 0) {
        /* The store failed: the sender may try again later (resource-constraint on a full
         * disk), which "service-unavailable" would not tell. */
        const char *type;
        const char *cond = signal_store_condition(rc, &type);
        log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, NULL,
                "offline message for %s@%s from %s not stored: %s", sig->to.local, sig->to.domain,
                buf_cstr(&from), store_last_error(im__store()));
        router_reply_error(sig, type, cond);
    }
    buf_cleanup(&text);
    buf_cleanup(&from);
    signal_free(sig);
    return rc;
}

/* A signal for a stored stanza (its own from/to), to be delivered to one session. */
static struct signal *stored_signal(struct xml_node *el, enum signal_method m)
{
    const char *from = xml_node_attr(el, "from");
    const char *to = xml_node_attr(el, "to");
    struct signal *sig = signal_new(m);
    if (from == NULL || to == NULL || jid_parse(&sig->from, strv_c(from)) != 0 ||
        jid_parse(&sig->to, strv_c(to)) != 0) {
        signal_free(sig);
        return NULL;
    }
    const char *type = xml_node_attr(el, "type");
    const char *id = xml_node_attr(el, "id");
    sig->type = type ? xstrdup(type) : NULL;
    sig->id = id ? xstrdup(id) : NULL;
    sig->xmpp_data = xml_node_ref(el);
    return sig;
}

struct deliver_ctx {
    struct router_session *rs;
    const char *domain;
    bool kept;   /* a message could not be removed */
    bool synced; /* the session read the archive before its initial presence */
};

/* Did the account's archive keep this message (it carries the archive's stanza-id)? */
static bool in_archive(const struct xml_node *el, const char *bare)
{
    for (const struct xml_node *c = xml_node_first_element(el); c; c = xml_node_next_element(c)) {
        const char *by = xml_node_attr(c, "by");
        if (is_ns(c, NS_SID) && strcmp(c->name, "stanza-id") == 0 && by && strcmp(by, bare) == 0) {
            return true;
        }
    }
    return false;
}

static int deliver_stored(void *ud, long long id, long long stamp, const char *stanza)
{
    struct deliver_ctx *dc = ud;
    struct xml_node *el = xml_parse_element(strv_c(stanza), NS_CLIENT, NULL);
    /* A session that synchronised from the archive (XEP-0313 §7.1.2) has the archived ones. */
    if (el && dc->synced && in_archive(el, dc->rs->bare)) {
        xml_node_unref(el);
        el = NULL;
    }
    if (el) {
        struct xml_node *d = xml_node_add_delay(el, dc->domain, (time_t)stamp);
        xml_node_add_text(d, "Offline Storage", 15);
        struct signal *sig = stored_signal(el, SIGNAL_MESSAGE);
        xml_node_unref(el);
        if (sig) {
            dc->rs->deliver(dc->rs->ud, sig);
        }
    }
    /* Delivered (or unreadable): it goes either way, so that it never blocks the queue. One
     * that cannot be removed is delivered again at the next login: never lost. */
    if (store_im_offline_remove(im__store(), id) != 0) {
        if (!dc->kept) {
            log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, NULL,
                    "delivered offline messages of %s not removed (delivered again later): %s",
                    dc->rs->bare, store_last_error(im__store()));
        }
        dc->kept = true;
    }
    return 0;
}

/* Each login delivers both stores, and most of the time both are empty: once a reading found
 * one empty (or emptied it), the home worker knows it until something is stored there. */
void im__offline_deliver(struct router_session *rs)
{
    struct im_session *is = im__session(rs);
    const char *domain = is->full.domain, *local = is->full.local;
    if (local == NULL || im_known_empty(domain, local, IM_HINT_OFFLINE)) {
        return;
    }
    struct deliver_ctx dc = { rs, domain, false, is->archive_synced };
    if (store_im_offline_list(im__store(), domain, local, deliver_stored, &dc) == 0 && !dc.kept) {
        im_note_empty(domain, local, IM_HINT_OFFLINE);
    }
}

struct pending_ctx {
    struct router_session *rs;
    int rows;
};

static int deliver_pending(void *ud, const char *contact, const char *stanza)
{
    (void)contact;
    struct pending_ctx *pc = ud;
    struct router_session *rs = pc->rs;
    pc->rows++;
    struct xml_node *el = xml_parse_element(strv_c(stanza), NS_CLIENT, NULL);
    if (el) {
        struct signal *sig = stored_signal(el, SIGNAL_SUBSCRIBE);
        xml_node_unref(el);
        if (sig) {
            rs->deliver(rs->ud, sig);
        }
    }
    return 0;
}

void im__pending_deliver(struct router_session *rs)
{
    struct im_session *is = im__session(rs);
    const char *domain = is->full.domain, *local = is->full.local;
    if (local == NULL || im_known_empty(domain, local, IM_HINT_PENDING)) {
        return;
    }
    struct pending_ctx pc = { rs, 0 };
    if (store_im_pending_list(im__store(), domain, local, deliver_pending, &pc) == 0 &&
        pc.rows == 0) {
        im_note_empty(domain, local, IM_HINT_PENDING);
    }
}
