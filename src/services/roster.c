/* services/roster.c: RFC 6121 §2 jabber:iq:roster get/set with XEP-0237 versioning, answered
 * on the owner's home worker; items, pushes and removals are the IM core's (im/roster.c). */
#include <stdlib.h>
#include <string.h>

#include "core/server.h"
#include "im/im.h"
#include "im/substate.h"
#include "services/services_int.h"
#include "xml/ns.h"

/* Groups on one item, beyond which a roster set is refused. */
#define ROSTER_MAX_GROUPS 64

static int add_row(void *ud, const struct store_roster_item *it)
{
    im_item_xml(ud, it);
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

static int roster_get(struct service_ctx *ctx)
{
    if (!services__from_own_resource(ctx->req)) {
        return service_reply_error(ctx, "auth", "forbidden");
    }
    const struct jid *user = &ctx->req->to;
    struct store *st = worker_ctx()->store;
    bool has_session = im_session_flag(user, ctx->req->from.resource, IM_FLAG_ROSTER, true) == 0;
    long long current = 0;
    if (store_im_roster_version(st, user->domain, user->local, &current) != 0) {
        return service_reply_error(ctx, "wait", "internal-server-error");
    }
    const char *ver_attr = xml_node_attr(ctx->query, "ver");
    long long known = parse_ver(ver_attr);
    if (ver_attr && known >= 0 && known <= current) {
        /* XEP-0237 / RFC 6121 §2.6.3: an empty result, then the changes as pushes. */
        int rc = service_reply_result(ctx, NULL);
        if (known < current && has_session) {
            im_roster_push_since(user, ctx->req->from.resource, known);
        }
        return rc;
    }
    /* The stream advertises versioning, so every full result carries the version (RFC 6121
     * §2.6.3), whether or not this request had one. */
    struct xml_node *q = xml_node_new(NS_ROSTER, "query");
    struct buf v;
    buf_init(&v, 32);
    buf_printf(&v, "%lld", current);
    xml_node_set_attr(q, "ver", buf_cstr(&v));
    buf_cleanup(&v);
    if (store_im_roster_list(st, user->domain, user->local, -1, add_row, q) != 0) {
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
    long long ver = 0;
    int rc = im_item_remove(user, contact, it, &ver);
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, "roster removal");
    }
    rc = service_reply_result(ctx, NULL);
    im_item_push(user, it, true, ver);
    return rc;
}

static int roster_update(struct service_ctx *ctx, const struct jid *user,
                         const struct xml_node *item, struct im_item *it)
{
    const struct settings *cfg = worker_ctx()->cfg;
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
        int n = store_im_roster_count(worker_ctx()->store, user->domain, user->local);
        if (n < 0 || n >= cfg->im.max_roster_items) {
            buf_cleanup(&groups);
            return service_reply_error(ctx, "cancel",
                                       n < 0 ? "internal-server-error" : "not-allowed");
        }
    }
    free(it->name);
    it->name = name && *name ? xstrdup(name) : NULL;
    free(it->groups);
    it->groups = xstrdup(buf_cstr(&groups));
    buf_cleanup(&groups);
    long long ver = 0;
    int rc = im_item_store(user, it, false, &ver);
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, "roster item");
    }
    rc = service_reply_result(ctx, NULL);
    im_item_push(user, it, false, ver);
    return rc;
}

/* Applies a roster set of one item to the loaded `it`. */
static int roster_apply(struct service_ctx *ctx, const struct jid *user, const struct jid *cbare,
                        const struct xml_node *item, struct im_item *it)
{
    const char *sub = xml_node_attr(item, "subscription");
    if (sub && strcmp(sub, "remove") == 0) {
        return it->exists ? roster_remove(ctx, user, cbare, it)
                          : service_reply_error(ctx, "cancel", "item-not-found");
    }
    return roster_update(ctx, user, item, it);
}

static int roster_set(struct service_ctx *ctx)
{
    if (!services__from_own_resource(ctx->req)) {
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
    struct jid user = { 0 }, cbare = { 0 };
    jid_copy(&user, &ctx->req->to);
    jid_copy(&cbare, &contact);
    jid_cleanup(&contact);
    free(user.resource);
    free(cbare.resource);
    user.resource = cbare.resource = NULL;
    struct buf cb;
    buf_init(&cb, 4096);
    jid_bare(&cbare, &cb);
    struct im_item it;
    int rc;
    if (im_item_load(&user, buf_cstr(&cb), &it) != 0) {
        rc = service_reply_error(ctx, "wait", "internal-server-error");
    } else {
        rc = roster_apply(ctx, &user, &cbare, item, &it);
        im_item_free(&it);
    }
    buf_cleanup(&cb);
    jid_cleanup(&user);
    jid_cleanup(&cbare);
    return rc;
}

const struct service service_roster = {
    .name = "roster",
    .iq = (const struct service_iq[]){ { NS_ROSTER, "query", .get = roster_get, .set = roster_set,
                                         .scopes = SERVICE_SCOPE_ACCOUNT },
                                       { 0 } },
    .features = NULL,
};
