/* roster.c: RFC 6121 §2 rosters with XEP-0237 versioning: items, pushes to interested
 * resources, and the jabber:iq:roster get/set answered on the owner's home worker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/server.h"
#include "services/services.h"
#include "im/homestate.h"
#include "im/im_int.h"
#include "xmpp/ns.h"

/* Groups on one item, beyond which a roster set is refused. */
#define ROSTER_MAX_GROUPS 64

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

int im__item_load(const struct jid *user, const char *contact, struct im_item *it)
{
    memset(it, 0, sizeof(*it));
    it->contact = xstrdup(contact);
    it->groups = xstrdup("");
    int rc = store_im_roster_get(im__store(), user->domain, user->local, contact, item_copy, it);
    if (rc == ERR_NOTFOUND) {
        rc = 0;
    }
    if (rc != 0) {
        im__item_free(it);
    }
    return rc;
}

void im__item_free(struct im_item *it)
{
    free(it->contact);
    free(it->name);
    free(it->groups);
    memset(it, 0, sizeof(*it));
}

static void add_item(struct xml_node *query, const struct store_roster_item *it)
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
            add_item(q, it);
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

int im__item_store(const struct jid *user, struct im_item *it, bool remove, long long *ver)
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

void im__item_push(const struct jid *user, const struct im_item *it, bool remove, long long ver)
{
    struct store_roster_item row = item_row(it, remove);
    push(user, &row, ver, NULL);
}

/* ---- jabber:iq:roster ---- */

static bool from_owner(const struct service_ctx *ctx)
{
    return jid_bare_eq(&ctx->req->from, &ctx->req->to) && ctx->req->from.resource != NULL;
}

static struct im_session *requester(const struct service_ctx *ctx)
{
    for (struct router_session *s = im__sessions(&ctx->req->to); s; s = s->next) {
        if (strcmp(s->resource, ctx->req->from.resource) == 0) {
            return im__session(s);
        }
    }
    return NULL;
}

static int add_row(void *ud, const struct store_roster_item *it)
{
    add_item(ud, it);
    return 0;
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

/* A client's 'ver' as a number (ours are decimal counters); -1 when it is not one of ours. */
static long long parse_ver(const char *v)
{
    if (v == NULL || *v == '\0' || strlen(v) > 18) {
        return -1;
    }
    long long n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        n = n * 10 + (*p - '0');
    }
    return n;
}

int im_roster_get(struct service_ctx *ctx)
{
    if (!from_owner(ctx)) {
        return service_reply_error(ctx, "auth", "forbidden");
    }
    const struct jid *user = &ctx->req->to;
    struct im_session *is = requester(ctx);
    if (is) {
        is->roster_requested = true;
    }
    long long current = 0;
    if (store_im_roster_version(im__store(), user->domain, user->local, &current) != 0) {
        return service_reply_error(ctx, "wait", "internal-server-error");
    }
    const char *ver_attr = xml_node_attr(ctx->query, "ver");
    long long known = parse_ver(ver_attr);
    if (ver_attr && known >= 0 && known <= current) {
        /* XEP-0237 / RFC 6121 §2.6.3: an empty result, then the changes as pushes. */
        int rc = service_reply_result(ctx, NULL);
        if (known < current && is) {
            struct since_ctx sc = {user, is};
            store_im_roster_list(im__store(), user->domain, user->local, known, push_row, &sc);
        }
        return rc;
    }
    /* The stream advertises versioning, so every full result carries the version (RFC 6121
     * §2.6.3), whether or not this request had one. */
    struct xml_node *q = xml_node_new(NS_ROSTER, "query");
    char v[32];
    snprintf(v, sizeof(v), "%lld", current);
    xml_node_set_attr(q, "ver", v);
    if (store_im_roster_list(im__store(), user->domain, user->local, -1, add_row, q) != 0) {
        xml_node_unref(q);
        return service_reply_error(ctx, "wait", "internal-server-error");
    }
    return service_reply_result(ctx, q);
}

/* Reads the groups of a roster set item into "a\nb\n"; a stanza error condition on failure. */
static const char *read_groups(const struct xml_node *item, size_t max_len, struct buf *out)
{
    int n = 0;
    struct buf g;
    buf_init(&g, max_len + 1);
    const char *cond = NULL;
    for (const struct xml_node *c = xml_node_first_element(item); c && !cond;
         c = xml_node_next_element(c)) {
        if (strcmp(c->name, "group") != 0 || c->ns == NULL || strcmp(c->ns, NS_ROSTER) != 0) {
            continue;
        }
        buf_reset(&g);
        if (xml_node_text(c, &g) != 0 || g.len > max_len) {
            cond = "not-acceptable";
        } else if (g.len == 0 || memchr(g.p, '\n', g.len) != NULL) {
            cond = "not-acceptable";
        } else if (++n > ROSTER_MAX_GROUPS) {
            cond = "not-acceptable";
        } else {
            /* RFC 6121 §2.3.3: a group named twice is a bad request. */
            for (const char *p = buf_cstr(out); *p && !cond;) {
                const char *nl = strchr(p, '\n');
                if ((size_t)(nl - p) == g.len && memcmp(p, g.p, g.len) == 0) {
                    cond = "bad-request";
                }
                p = nl + 1;
            }
            buf_append(out, g.p, g.len);
            buf_append_char(out, '\n');
        }
    }
    buf_cleanup(&g);
    return cond;
}

static int roster_remove(struct service_ctx *ctx, const struct jid *user, const struct jid *contact,
                         struct im_item *it)
{
    struct store *st = im__store();
    bool pending_in = false;
    long long ver = 0;
    /* Stored first: a removal that is not stored is answered with an error and has no effect. */
    int rc = store_group_begin(st);
    if (rc == 0) {
        rc = store_im_pending_remove(st, user->domain, user->local, it->contact, &pending_in);
        if (rc == 0) {
            rc = im__item_store(user, it, true, &ver);
        }
        rc = store_group_end(st, rc);
    }
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, "roster removal");
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
    rc = service_reply_result(ctx, NULL);
    im__item_push(user, it, true, ver);
    return rc;
}

static int roster_update(struct service_ctx *ctx, const struct jid *user,
                         const struct xml_node *item, struct im_item *it)
{
    const struct settings *cfg = im__cfg();
    size_t max_len = (size_t)cfg->im.max_item_length;
    const char *name = xml_node_attr(item, "name");
    if (name && strlen(name) > max_len) {
        return service_reply_error(ctx, "modify", "not-acceptable");
    }
    struct buf groups;
    buf_init(&groups, (size_t)ROSTER_MAX_GROUPS * (max_len + 1) + 1);
    const char *cond = read_groups(item, max_len, &groups);
    if (cond) {
        buf_cleanup(&groups);
        return service_reply_error(ctx, "modify", cond);
    }
    if (!it->exists) {
        int n = store_im_roster_count(im__store(), user->domain, user->local);
        if (n < 0 || n >= cfg->im.max_roster_items) {
            buf_cleanup(&groups);
            return service_reply_error(ctx, "cancel", n < 0 ? "internal-server-error"
                                                             : "not-allowed");
        }
    }
    free(it->name);
    it->name = name && *name ? xstrdup(name) : NULL;
    free(it->groups);
    it->groups = xstrdup(buf_cstr(&groups));
    buf_cleanup(&groups);
    long long ver = 0;
    int rc = im__item_store(user, it, false, &ver);
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, "roster item");
    }
    rc = service_reply_result(ctx, NULL);
    im__item_push(user, it, false, ver);
    return rc;
}

int im_roster_set(struct service_ctx *ctx)
{
    if (!from_owner(ctx)) {
        return service_reply_error(ctx, "auth", "forbidden");
    }
    const struct xml_node *item = xml_node_first_element(ctx->query);
    if (item == NULL || strcmp(item->name, "item") != 0 || xml_node_next_element(item) != NULL) {
        /* RFC 6121 §2.3.3: exactly one item. */
        return service_reply_error(ctx, "modify", "bad-request");
    }
    const char *jid_attr = xml_node_attr(item, "jid");
    struct jid contact;
    if (jid_attr == NULL || jid_parse(&contact, strv_c(jid_attr)) != 0) {
        return service_reply_error(ctx, "modify", "bad-request");
    }
    struct jid user, cbare;
    im__bare(&ctx->req->to, &user);
    im__bare(&contact, &cbare);
    jid_cleanup(&contact);
    char *cb = im__bare_str(&cbare);
    struct im_item it;
    int rc;
    if (im__item_load(&user, cb, &it) != 0) {
        rc = service_reply_error(ctx, "wait", "internal-server-error");
    } else {
        const char *sub = xml_node_attr(item, "subscription");
        if (sub && strcmp(sub, "remove") == 0) {
            rc = it.exists ? roster_remove(ctx, &user, &cbare, &it)
                           : service_reply_error(ctx, "cancel", "item-not-found");
        } else {
            rc = roster_update(ctx, &user, item, &it);
        }
        im__item_free(&it);
    }
    free(cb);
    jid_cleanup(&user);
    jid_cleanup(&cbare);
    return rc;
}
