/* private.c: XEP-0049 private XML storage: an account keeps elements for itself, one per
 * (namespace, element name), within a per-account quota. */
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "services/services_int.h"
#include "store/store_services.h"
#include "xml/ns.h"

/* Elements one set may carry. */
#define PRIVATE_MAX_ELEMENTS 32

/* §3: data must be namespaced, and jabber:* namespaces are the protocol's, not storable. */
static bool storable(const struct xml_node *el)
{
    return el->ns != NULL && el->ns[0] != '\0' && strncmp(el->ns, "jabber:", 7) != 0;
}

static services_private_fn *g_private_hook;

void services_set_private_hook(services_private_fn *fn)
{
    g_private_hook = fn;
}

static int store_failed(struct service_ctx *ctx, struct store *st)
{
    log_rec(LOG_TAG_XMPPS, LOG_PROBLEMS, 0, NULL, "private XML of %s@%s: %s", ctx->req->to.local,
            ctx->req->to.domain, store_last_error(st));
    return service_reply_error(ctx, "wait", "internal-server-error");
}

static int private_get(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    const struct xml_node *el = xml_node_first_element(ctx->query);
    if (el == NULL || !storable(el)) {
        return service_reply_error(ctx, "modify", "not-acceptable");
    }
    if (xml_node_next_element(el) != NULL) {
        /* §3: one namespace per get. */
        return service_reply_error(ctx, "modify", "bad-request");
    }
    struct worker_ctx *wc = worker_ctx();
    const struct jid *t = &ctx->req->to;
    struct buf xml;
    buf_init(&xml, SERVICES_STORED_MAX);
    int rc = store_private_get(wc->store, t->domain, t->local, el->ns, el->name, &xml);
    struct xml_node *q = xml_node_new(NS_PRIVATE, "query");
    if (rc == 0) {
        struct xml_node *stored = services__parse(xml.p, xml.len);
        if (stored) {
            xml_node_append_copy(q, stored);
            xml_node_unref(stored);
        }
    } else if (rc == ERR_NOTFOUND) {
        /* Nothing stored: the empty element as asked. */
        xml_node_add_child(q, el->ns, el->name);
    }
    buf_cleanup(&xml);
    if (rc != 0 && rc != ERR_NOTFOUND) {
        xml_node_unref(q);
        return store_failed(ctx, wc->store);
    }
    return service_reply_result(ctx, q);
}

/* The new total of the account's private XML once `texts` replace what their keys hold. */
static int new_total(struct store *st, const struct jid *t, const struct xml_node **els,
                     struct buf *texts, size_t n, long long *total)
{
    int rc = store_private_size(st, t->domain, t->local, NULL, NULL, total);
    struct buf old;
    buf_init(&old, SERVICES_STORED_MAX);
    for (size_t i = 0; i < n && rc == 0; i++) {
        int g = store_private_get(st, t->domain, t->local, els[i]->ns, els[i]->name, &old);
        if (g == 0) {
            *total -= (long long)old.len;
        } else if (g != ERR_NOTFOUND) {
            rc = g;
        }
        *total += (long long)texts[i].len;
    }
    buf_cleanup(&old);
    return rc;
}

static int private_set(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    const struct xml_node *els[PRIVATE_MAX_ELEMENTS];
    size_t n = 0;
    for (const struct xml_node *el = xml_node_first_element(ctx->query); el;
         el = xml_node_next_element(el)) {
        if (!storable(el) || n == PRIVATE_MAX_ELEMENTS) {
            return service_reply_error(ctx, "modify", "not-acceptable");
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp(els[i]->ns, el->ns) == 0 && strcmp(els[i]->name, el->name) == 0) {
                return service_reply_error(ctx, "modify", "bad-request");
            }
        }
        els[n++] = el;
    }
    if (n == 0) {
        return service_reply_error(ctx, "modify", "not-acceptable");
    }
    struct worker_ctx *wc = worker_ctx();
    const struct jid *t = &ctx->req->to;
    long long max = wc->cfg->services.private_max_size;
    struct buf texts[PRIVATE_MAX_ELEMENTS];
    size_t made = 0;
    int code = 0;
    for (; made < n; made++) {
        buf_init(&texts[made], (size_t)max);
        if (services__serialize(els[made], (size_t)max, &texts[made]) != 0) {
            made++;
            code = service_reply_error(ctx, "modify", "not-acceptable");
            break;
        }
    }
    long long total = 0;
    if (code == 0) {
        int rc = new_total(wc->store, t, els, texts, n, &total);
        if (rc != 0) {
            code = store_failed(ctx, wc->store);
        } else if (total > max) {
            code = service_reply_error(ctx, "modify", "not-acceptable");
        }
    }
    if (code == 0) {
        int rc = store_group_begin(wc->store);
        if (rc == 0) {
            for (size_t i = 0; i < n && rc == 0; i++) {
                rc = store_private_set(wc->store, t->domain, t->local, els[i]->ns, els[i]->name,
                                       buf_cstr(&texts[i]));
            }
            rc = store_group_end(wc->store, rc);
        }
        code = rc == 0 ? service_reply_result(ctx, NULL)
                       : service_reply_store_error(ctx, rc, "private XML");
        for (size_t i = 0; rc == 0 && g_private_hook != NULL && i < n; i++) {
            g_private_hook(t, els[i]);
        }
    }
    for (size_t i = 0; i < made; i++) {
        buf_cleanup(&texts[i]);
    }
    return code;
}

const struct service service_private = {
    .name = "private",
    .iq = (const struct service_iq[]){ { NS_PRIVATE, "query", .get = private_get,
                                         .set = private_set, .scopes = SERVICE_SCOPE_ACCOUNT },
                                       { 0 } },
    .features = (const char *[]){ NS_PRIVATE, NULL },
    .feature_scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT,
};
