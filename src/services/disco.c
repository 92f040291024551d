/* disco.c: XEP-0030 service discovery for the server and for accounts' bare JIDs. */
#include "core/server.h"
#include "services/services.h"
#include "xml/ns.h"

#include <string.h>


static void add_feature(void *ud, const char *feature)
{
    struct xml_node *q = ud;
    struct xml_node *f = xml_node_add_child(q, NULL, "feature");
    xml_node_set_attr(f, "var", feature);
}

struct identities_ctx {
    struct xml_node *query;
    enum service_scope scope;
};

static void add_identities(void *ud, const struct service *s)
{
    struct identities_ctx *c = ud;
    if (s->identities) {
        s->identities(c->query, c->scope);
    }
}

static void add_forms(void *ud, const struct service *s)
{
    if (s->info_forms) {
        s->info_forms(ud);
    }
}

struct xml_node *services_disco_info_new(enum service_scope scope)
{
    struct xml_node *q = xml_node_new(NS_DISCO_INFO, "query");
    struct xml_node *id = xml_node_add_child(q, NULL, "identity");
    if (scope == SERVICE_SCOPE_SERVER) {
        xml_node_set_attr(id, "category", "server");
        xml_node_set_attr(id, "type", "im");
        xml_node_set_attr(id, "name", "Starling");
    } else {
        xml_node_set_attr(id, "category", "account");
        xml_node_set_attr(id, "type", "registered");
    }
    struct identities_ctx ic = { q, scope };
    services_foreach(add_identities, &ic);
    services_foreach_feature(scope, add_feature, q);
    if (scope == SERVICE_SCOPE_SERVER) {
        services_foreach(add_forms, q);
    }
    return q;
}

/* The server's verification string, kept per thread for the settings it was computed under:
 * the disco#info it hashes depends on the services (registered before the workers start) and
 * on the live settings (server.contact.*), which a change replaces and never frees while the
 * server runs, so a new settings pointer is a new computation. Without a worker (tests, start
 * up) it is computed every time. */
struct caps_cache {
    const struct settings *cfg;
    size_t len;
    char ver[64]; /* base64 of a SHA-1: 28 characters */
};
static __thread struct caps_cache g_caps;

static int server_caps_ver(struct buf *out)
{
    struct worker_ctx *wc = worker_ctx();
    const struct settings *cfg = wc != NULL ? wc->cfg : NULL;
    if (cfg != NULL && cfg == g_caps.cfg) {
        buf_reset(out);
        return buf_append(out, g_caps.ver, g_caps.len);
    }
    struct xml_node *info = services_disco_info_new(SERVICE_SCOPE_SERVER);
    int rc = services_caps_ver(info, out);
    xml_node_unref(info);
    if (rc == 0 && cfg != NULL && out->len <= sizeof(g_caps.ver)) {
        memcpy(g_caps.ver, out->p, out->len);
        g_caps.len = out->len;
        g_caps.cfg = cfg;
    }
    return rc;
}

/* Is `node` the server's capabilities node with the current verification string? */
static bool is_caps_node(const char *node)
{
    size_t n = strlen(SERVICES_CAPS_NODE);
    if (strncmp(node, SERVICES_CAPS_NODE, n) != 0 || node[n] != '#') {
        return false;
    }
    struct buf ver;
    buf_init(&ver, 64);
    bool same = server_caps_ver(&ver) == 0 && strcmp(node + n + 1, buf_cstr(&ver)) == 0;
    buf_cleanup(&ver);
    return same;
}

/* XEP-0115 §6.3: the server's capabilities in its stream features. */
void services_caps_append(struct buf *out)
{
    struct buf ver;
    buf_init(&ver, 64);
    if (server_caps_ver(&ver) == 0) {
        buf_printf(out, "<c xmlns='%s' hash='sha-1' node='%s' ver='", NS_CAPS, SERVICES_CAPS_NODE);
        xml_escape_append(out, buf_strv(&ver), true);
        buf_append_c(out, "'/>");
    }
    buf_cleanup(&ver);
}

struct node_ask {
    struct service_ctx *ctx;
    bool items;
    int code;
};

static void ask_node(void *ud, const struct service *s)
{
    struct node_ask *a = ud;
    service_iq_fn *fn = a->items ? s->node_items : s->node_info;
    if (a->code == SERVICE_DECLINED && fn) {
        a->code = fn(a->ctx);
    }
}

/* A node of a service (ad-hoc commands, …), or item-not-found. */
static int node_request(struct service_ctx *ctx, bool items)
{
    struct node_ask a = { .ctx = ctx, .items = items, .code = SERVICE_DECLINED };
    services_foreach(ask_node, &a);
    if (a.code == SERVICE_DECLINED) {
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    return a.code;
}

static int info_get(struct service_ctx *ctx)
{
    const char *node = xml_node_attr(ctx->query, "node");
    if (node != NULL) {
        if (ctx->scope == SERVICE_SCOPE_SERVER && is_caps_node(node)) {
            /* XEP-0115 §6.2: the same info, answered on the node node#ver. */
            struct xml_node *q = services_disco_info_new(SERVICE_SCOPE_SERVER);
            xml_node_set_attr(q, "node", node);
            return service_reply_result(ctx, q);
        }
        return node_request(ctx, false);
    }
    return service_reply_result(ctx, services_disco_info_new(ctx->scope));
}

struct items_out {
    const struct service_ctx *ctx;
    struct xml_node *query;
};

static void add_item(void *ud, const char *jid, const char *node, const char *name)
{
    struct items_out *o = ud;
    struct xml_node *it = xml_node_add_child(o->query, NULL, "item");
    xml_node_set_attr(it, "jid", jid);
    if (node) {
        xml_node_set_attr(it, "node", node);
    }
    if (name) {
        xml_node_set_attr(it, "name", name);
    }
}

static void service_items(void *ud, const struct service *s)
{
    struct items_out *o = ud;
    if (s->items) {
        s->items(o->ctx, add_item, o);
    }
}

static int items_get(struct service_ctx *ctx)
{
    if (xml_node_attr(ctx->query, "node") != NULL) {
        return node_request(ctx, true);
    }
    struct items_out o = { .ctx = ctx, .query = xml_node_new(NS_DISCO_ITEMS, "query") };
    if (ctx->scope == SERVICE_SCOPE_SERVER) {
        /* The server's services (a conference domain, …); an account publishes no items
         * until personal eventing exists. */
        services_foreach(service_items, &o);
    }
    return service_reply_result(ctx, o.query);
}

const struct service service_disco = {
    .name = "disco",
    .iq = (const struct service_iq[]){ { NS_DISCO_INFO, "query", .get = info_get,
                                         .scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT },
                                       { NS_DISCO_ITEMS, "query", .get = items_get,
                                         .scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT },
                                       { 0 } },
    .features = (const char *[]){ NS_DISCO_INFO, NS_DISCO_ITEMS, NULL },
};
