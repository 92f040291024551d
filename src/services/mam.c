/* mam.c: XEP-0313 message archive management for accounts: queries (archive/query.c does
 * the work), the archiving preferences and the archive's metadata. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/archive.h"
#include "core/err.h"
#include "core/server.h"
#include "core/stamp.h"
#include "im/im.h"
#include "services/services_int.h"
#include "store/store_archive.h"
#include "xml/ns.h"

static int mam_query_set(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    const struct jid *t = &ctx->req->to;
    struct xml_node *fin;
    int rc = archive_query(worker_ctx()->store, ctx->req, ctx->query, t->domain, t->local, false,
                           NULL, NULL, &fin);
    if (rc == ERR_NOTFOUND) {
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    if (rc == ERR_PROTO) {
        return service_reply_error(ctx, "modify", "bad-request");
    }
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, "archive query");
    }
    /* A session that read the archive before its initial presence needs no offline flood. */
    if (ctx->req->from.resource) {
        im_session_flag(&ctx->req->from, ctx->req->from.resource, IM_FLAG_ARCHIVE_SYNC, true);
    }
    return service_reply_result(ctx, fin);
}

/* The fields a query may use (XEP-0313 §5.1.2). */
static int mam_query_get(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    return service_reply_result(ctx, archive_query_form());
}

static void add_jid_list(struct xml_node *prefs, const char *name, const char *list)
{
    struct xml_node *l = xml_node_add_child(prefs, NS_MAM, name);
    for (const char *p = list; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            struct xml_node *j = xml_node_add_child(l, NS_MAM, "jid");
            xml_node_add_text(j, p, len);
        }
        p += len + (nl != NULL);
    }
}

static int reply_prefs(struct service_ctx *ctx, const char *mode, const char *always,
                       const char *never)
{
    struct xml_node *p = xml_node_new(NS_MAM, "prefs");
    xml_node_set_attr(p, "default", mode);
    add_jid_list(p, "always", always);
    add_jid_list(p, "never", never);
    return service_reply_result(ctx, p);
}

static int mam_prefs_get(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    struct store *st = worker_ctx()->store;
    const struct jid *t = &ctx->req->to;
    struct buf mode, always, never;
    buf_init(&mode, 16);
    buf_init(&always, 1 << 20);
    buf_init(&never, 1 << 20);
    int rc = store_archive_prefs_get(st, t->domain, t->local, &mode, &always, &never);
    if (rc == ERR_NOTFOUND) {
        rc = reply_prefs(ctx, "always", "", "");
    } else if (rc != 0) {
        rc = service_reply_store_error(ctx, rc, "archive preferences");
    } else {
        rc = reply_prefs(ctx, buf_cstr(&mode), buf_cstr(&always), buf_cstr(&never));
    }
    buf_cleanup(&mode);
    buf_cleanup(&always);
    buf_cleanup(&never);
    return rc;
}

/* The bare JIDs of an <always/> or <never/> list, each ended by '\n'. */
static int read_jid_list(const struct xml_node *l, struct buf *out)
{
    struct buf v, b;
    buf_init(&v, 3 * JID_PART_MAX + 2);
    buf_init(&b, 3 * JID_PART_MAX + 2);
    int rc = 0;
    for (const struct xml_node *j = l ? xml_node_first_element(l) : NULL; j && rc == 0;
         j = xml_node_next_element(j)) {
        struct jid parsed;
        buf_reset(&v);
        xml_node_text(j, &v);
        if (jid_parse(&parsed, buf_strv(&v)) != 0) {
            rc = ERR_PROTO;
            break;
        }
        jid_bare(&parsed, &b);
        jid_cleanup(&parsed);
        if (buf_append(out, b.p, b.len) != 0 || buf_append(out, "\n", 1) != 0) {
            rc = ERR_LIMIT;
        }
    }
    buf_cleanup(&v);
    buf_cleanup(&b);
    return rc;
}

static int mam_prefs_set(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    const char *mode = xml_node_attr(ctx->query, "default");
    if (mode == NULL || (strcmp(mode, "always") != 0 && strcmp(mode, "never") != 0 &&
                         strcmp(mode, "roster") != 0)) {
        return service_reply_error(ctx, "modify", "bad-request");
    }
    struct buf always, never;
    buf_init(&always, 1 << 20);
    buf_init(&never, 1 << 20);
    int rc = read_jid_list(xml_node_child(ctx->query, NS_MAM, "always"), &always);
    if (rc == 0) {
        rc = read_jid_list(xml_node_child(ctx->query, NS_MAM, "never"), &never);
    }
    const struct jid *t = &ctx->req->to;
    if (rc != 0) {
        rc = service_reply_error(ctx, "modify", "bad-request");
    } else if ((rc = store_archive_prefs_set(worker_ctx()->store, t->domain, t->local, mode,
                                             buf_cstr(&always), buf_cstr(&never))) != 0) {
        rc = service_reply_store_error(ctx, rc, "archive preferences");
    } else {
        archive_prefs_changed();
        rc = reply_prefs(ctx, mode, buf_cstr(&always), buf_cstr(&never));
    }
    buf_cleanup(&always);
    buf_cleanup(&never);
    return rc;
}

/* XEP-0313 §7.1: the first and last message of the archive. */
static int mam_metadata_get(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    const struct jid *t = &ctx->req->to;
    struct xml_node *meta;
    int rc = archive_metadata(worker_ctx()->store, t->domain, t->local, &meta);
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, "archive metadata");
    }
    return service_reply_result(ctx, meta);
}

const struct service service_mam = {
    .name = "mam",
    .iq = (const struct service_iq[]){ { NS_MAM, "query", .get = mam_query_get,
                                         .set = mam_query_set, .scopes = SERVICE_SCOPE_ACCOUNT },
                                       { NS_MAM, "prefs", .get = mam_prefs_get,
                                         .set = mam_prefs_set, .scopes = SERVICE_SCOPE_ACCOUNT },
                                       { NS_MAM, "metadata", .get = mam_metadata_get,
                                         .scopes = SERVICE_SCOPE_ACCOUNT },
                                       { 0 } },
    .features = (const char *[]){ NS_MAM, NS_MAM_EXTENDED, NS_FULLTEXT, NULL },
    .feature_scopes = SERVICE_SCOPE_ACCOUNT,
};
