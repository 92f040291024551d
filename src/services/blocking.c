/* services/blocking.c: XEP-0191 blocking command, the blocklist get and block/unblock sets
 * answered on the owner's home worker; the list's effects are the IM core's (im/blocking.c). */
#include <stdlib.h>
#include <string.h>

#include "core/server.h"
#include "im/im.h"
#include "services/services_int.h"

static int list_item(void *ud, const char *a, const char *b)
{
    (void)b;
    struct xml_node *item = xml_node_add_child(ud, NULL, "item");
    xml_node_set_attr(item, "jid", a);
    return 0;
}

static int blocklist_get(struct service_ctx *ctx)
{
    if (!services__from_own_resource(ctx->req)) {
        return service_reply_error(ctx, "auth", "forbidden");
    }
    const struct jid *u = &ctx->req->to;
    im_session_flag(u, ctx->req->from.resource, IM_FLAG_BLOCKLIST, true);
    struct xml_node *q = xml_node_new(NS_BLOCKING, "blocklist");
    if (store_im_block_list(worker_ctx()->store, u->domain, u->local, list_item, q) != 0) {
        xml_node_unref(q);
        return service_reply_error(ctx, "wait", "internal-server-error");
    }
    return service_reply_result(ctx, q);
}

static void free_items(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i]);
    }
    free(items);
}

/* The JIDs of a block/unblock request, prepared, in `out`; a stanza error condition when one
 * is not a JID. */
static const char *read_items(const struct xml_node *q, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct buf full;
    buf_init(&full, 4096);
    const char *cond = NULL;
    for (const struct xml_node *c = xml_node_first_element(q); c && !cond;
         c = xml_node_next_element(c)) {
        if (strcmp(c->name, "item") != 0) {
            continue;
        }
        const char *j = xml_node_attr(c, "jid");
        struct jid parsed;
        if (j == NULL || jid_parse(&parsed, strv_c(j)) != 0) {
            cond = "jid-malformed";
            continue;
        }
        jid_full(&parsed, &full);
        *out = xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = xstrdup(buf_cstr(&full));
        jid_cleanup(&parsed);
    }
    buf_cleanup(&full);
    return cond;
}

/* Stores the change, answers, then pushes and applies it (a change not stored has no effect). */
static int change(struct service_ctx *ctx, bool unblock, char **items, size_t n)
{
    struct im_block_change c = { .user = &ctx->req->to,
                                 .unblock = unblock,
                                 .items = items,
                                 .n = n };
    int rc = im_block_store(&c);
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, unblock ? "unblock" : "block");
    }
    rc = service_reply_result(ctx, NULL);
    im_block_apply(&c);
    return rc;
}

static int block_set(struct service_ctx *ctx)
{
    if (!services__from_own_resource(ctx->req)) {
        return service_reply_error(ctx, "auth", "forbidden");
    }
    const struct jid *u = &ctx->req->to;
    char **items;
    size_t n;
    const char *cond = read_items(ctx->query, &items, &n);
    if (cond == NULL && n == 0) {
        cond = "bad-request";
    }
    if (cond) {
        free_items(items, n);
        return service_reply_error(ctx, "modify", cond);
    }
    struct worker_ctx *wc = worker_ctx();
    int have = store_im_block_count(wc->store, u->domain, u->local);
    if (have < 0 || (size_t)have + n > (size_t)wc->cfg->im.max_blocklist_items) {
        free_items(items, n);
        return service_reply_error(ctx, "cancel",
                                   have < 0 ? "internal-server-error" : "not-allowed");
    }
    return change(ctx, false, items, n);
}

static int unblock_set(struct service_ctx *ctx)
{
    if (!services__from_own_resource(ctx->req)) {
        return service_reply_error(ctx, "auth", "forbidden");
    }
    char **items;
    size_t n;
    const char *cond = read_items(ctx->query, &items, &n);
    if (cond) {
        free_items(items, n);
        return service_reply_error(ctx, "modify", cond);
    }
    return change(ctx, true, items, n);
}

const struct service service_blocking = {
    .name = "blocking",
    .iq =
        (const struct service_iq[]){
            { NS_BLOCKING, "blocklist", .get = blocklist_get, .scopes = SERVICE_SCOPE_ACCOUNT },
            { NS_BLOCKING, "block", .set = block_set, .scopes = SERVICE_SCOPE_ACCOUNT },
            { NS_BLOCKING, "unblock", .set = unblock_set, .scopes = SERVICE_SCOPE_ACCOUNT },
            { 0 } },
    /* Clients look for these in the server's disco#info (the account's lists them too). */
    .feature_scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT,
    .features = (const char *[]){ NS_BLOCKING, NULL },
};
