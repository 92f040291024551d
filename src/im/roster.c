/* roster.c: RFC 6121 §2 rosters with XEP-0237 versioning: items, their removal, and pushes to
 * interested resources (the jabber:iq:roster get/set is services/roster.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/server.h"
#include "im/homestate.h"
#include "im/im_int.h"
#include "xml/ns.h"

static unsigned g_push_seq;

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static int item_copy(void *ud, const struct store_roster_item *src)
{
    struct im_item *it = ud;
    it->exists = true;
    it->name = dup_or_null(src->name);
    free(it->groups);
    it->groups = xstrdup(src->groups ? src->groups : "");
    it->sub = src->sub;
    it->ask = src->ask;
    it->approved = src->approved;
    return 0;
}

int im_item_load(const struct jid *user, const char *contact, struct im_item *it)
{
    memset(it, 0, sizeof(*it));
    it->contact = xstrdup(contact);
    it->groups = xstrdup("");
    int rc = store_im_roster_get(im__store(), user->domain, user->local, contact, item_copy, it);
    if (rc == ERR_NOTFOUND) {
        rc = 0;
    }
    if (rc != 0) {
        im_item_free(it);
    }
    return rc;
}

void im_item_free(struct im_item *it)
{
    free(it->contact);
    free(it->name);
    free(it->groups);
    memset(it, 0, sizeof(*it));
}

void im_item_xml(struct xml_node *query, const struct store_roster_item *it)
{
    struct xml_node *item = xml_node_add_child(query, NULL, "item");
    xml_node_set_attr(item, "jid", it->contact);
    if (it->removed) {
        xml_node_set_attr(item, "subscription", "remove");
        return;
    }
    if (it->name) {
        xml_node_set_attr(item, "name", it->name);
    }
    xml_node_set_attr(item, "subscription", sub_attr(it->sub));
    if (it->ask) {
        xml_node_set_attr(item, "ask", "subscribe");
    }
    if (it->approved) {
        xml_node_set_attr(item, "approved", "true");
    }
    for (const char *g = it->groups; g && *g;) {
        const char *nl = strchr(g, '\n');
        size_t len = nl ? (size_t)(nl - g) : strlen(g);
        struct xml_node *group = xml_node_add_child(item, NULL, "group");
        xml_node_add_text(group, g, len);
        g += len + (nl ? 1 : 0);
    }
}

/* A roster push of one item to every interested resource of the user (RFC 6121 §2.1.6), or
 * only to `only`. */
static void push(const struct jid *user, const struct store_roster_item *it, long long ver,
                 const struct im_session *only)
{
    struct jid bare;
    im__bare(user, &bare);
    struct xml_node *iq = NULL;
    for (struct router_session *s = im__sessions(user); s; s = s->next) {
        if (s->im == NULL || !s->im->roster_requested || (only && s->im != only)) {
            continue;
        }
        if (iq == NULL) {
            char id[48], v[32];
            snprintf(id, sizeof(id), "roster-push-%u", ++g_push_seq);
            snprintf(v, sizeof(v), "%lld", ver);
            iq = xml_node_new(NS_CLIENT, "iq");
            xml_node_set_attr(iq, "type", "set");
            xml_node_set_attr(iq, "id", id);
            struct xml_node *q = xml_node_add_child(iq, NS_ROSTER, "query");
            xml_node_set_attr(q, "ver", v);
            im_item_xml(q, it);
        }
        s->deliver(s->ud, im__signal(SIGNAL_INFO, &bare, &s->im->full, "set", iq));
    }
    if (iq) {
        xml_node_unref(iq);
    }
    jid_cleanup(&bare);
}

static struct store_roster_item item_row(const struct im_item *it, bool remove)
{
    return (struct store_roster_item){
        .contact = it->contact,
        .name = it->name,
        .groups = it->groups,
        .sub = it->sub,
        .ask = it->ask,
        .approved = it->approved,
        .removed = remove,
    };
}

int im_item_store(const struct jid *user, struct im_item *it, bool remove, long long *ver)
{
    struct store *st = im__store();
    struct store_roster_item row = item_row(it, remove);
    im_note_filled(user->domain, user->local, IM_HINT_ROSTER);
    int rc = remove ? store_im_roster_remove(st, user->domain, user->local, it->contact, ver)
                    : store_im_roster_put(st, user->domain, user->local, &row, ver);
    if (rc == 0) {
        it->exists = !remove;
    }
    return rc;
}

void im_item_push(const struct jid *user, const struct im_item *it, bool remove, long long ver)
{
    struct store_roster_item row = item_row(it, remove);
    push(user, &row, ver, NULL);
}

struct since_ctx {
    const struct jid *user;
    const struct im_session *is;
};

static int push_row(void *ud, const struct store_roster_item *it)
{
    struct since_ctx *sc = ud;
    push(sc->user, it, it->ver, sc->is);
    return 0;
}

void im_roster_push_since(const struct jid *user, const char *resource, long long known)
{
    for (struct router_session *s = im__sessions(user); s; s = s->next) {
        if (strcmp(s->resource, resource) == 0) {
            struct since_ctx sc = { user, im__session(s) };
            store_im_roster_list(im__store(), user->domain, user->local, known, push_row, &sc);
            return;
        }
    }
}

int im_item_remove(const struct jid *user, const struct jid *contact, struct im_item *it,
                   long long *ver)
{
    struct store *st = im__store();
    bool pending_in = false;
    /* Stored first: a removal that is not stored has no effect. */
    int rc = store_group_begin(st);
    if (rc == 0) {
        rc = store_im_pending_remove(st, user->domain, user->local, it->contact, &pending_in);
        if (rc == 0) {
            rc = im_item_store(user, it, true, ver);
        }
        rc = store_group_end(st, rc);
    }
    if (rc != 0) {
        return rc;
    }
    /* RFC 6121 §2.5.2: cancel both directions with the contact. */
    if ((it->sub & SUB_TO) || it->ask) {
        router_submit(im__signal(SIGNAL_SUBSCRIBE, user, contact, "unsubscribe", NULL));
    }
    if ((it->sub & SUB_FROM) || pending_in) {
        if (it->sub & SUB_FROM) {
            im__send_presence_to(user, contact, false);
        }
        router_submit(im__signal(SIGNAL_SUBSCRIBE, user, contact, "unsubscribed", NULL));
    }
    return 0;
}
