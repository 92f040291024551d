/* disco.c: XEP-0030 service discovery for the server and for accounts' bare JIDs. */
#include "services/services.h"

#include <string.h>

static void add_feature(void *ud, const char *feature)
{
    struct xml_node *q = ud;
    struct xml_node *f = xml_node_add_child(q, NULL, "feature");
    xml_node_set_attr(f, "var", feature);
}

static int info_get(struct service_ctx *ctx)
{
    if (xml_node_attr(ctx->query, "node") != NULL) {
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    struct xml_node *q = xml_node_new(NS_DISCO_INFO, "query");
    struct xml_node *id = xml_node_add_child(q, NULL, "identity");
    if (ctx->scope == SERVICE_SCOPE_SERVER) {
        xml_node_set_attr(id, "category", "server");
        xml_node_set_attr(id, "type", "im");
        xml_node_set_attr(id, "name", "Starling");
    } else {
        xml_node_set_attr(id, "category", "account");
        xml_node_set_attr(id, "type", "registered");
    }
    services_foreach_feature(ctx->scope, add_feature, q);
    return service_reply_result(ctx, q);
}

static int items_get(struct service_ctx *ctx)
{
    if (xml_node_attr(ctx->query, "node") != NULL) {
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    return service_reply_result(ctx, xml_node_new(NS_DISCO_ITEMS, "query"));
}

const struct service service_disco = {
    .name = "disco",
    .iq = (const struct service_iq[]){{NS_DISCO_INFO, "query", .get = info_get,
                                       .scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT},
                                      {NS_DISCO_ITEMS, "query", .get = items_get,
                                       .scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT},
                                      {0}},
    .features = (const char *[]){NS_DISCO_INFO, NS_DISCO_ITEMS, NULL},
};
