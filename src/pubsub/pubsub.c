/* pubsub.c: the pubsub iq service on accounts' bare JIDs (XEP-0163), its disco identity and
 * features, the hooks it sets below it, and helpers shared by the files of src/pubsub/. */
#include <string.h>

#include "core/err.h"
#include "im/im.h"
#include "pubsub/pubsub_int.h"
#include "signal/router.h"
#include "xml/ns.h"

int pubsub__error(struct service_ctx *ctx, const char *type, const char *condition, const char *app,
                  const char *feature)
{
    struct signal *err = signal_error_new(ctx->req, type, condition);
    if (err == NULL) {
        return ERR_INVAL;
    }
    /* A fresh tree with one reference: ours to complete before it is routed. */
    struct xml_node *e = xml_node_child(err->xmpp_data, NULL, "error");
    if (e != NULL && app != NULL) {
        struct xml_node *a = xml_node_add_child(e, NS_PUBSUB_ERRORS, app);
        if (feature != NULL) {
            xml_node_set_attr(a, "feature", feature);
        }
    }
    router_submit(err);
    if (strcmp(condition, "item-not-found") == 0) {
        return ERR_NOTFOUND;
    }
    return strcmp(condition, "forbidden") == 0 ? ERR_DENIED : ERR_INVAL;
}

void pubsub__host(const struct jid *owner, struct buf *out)
{
    buf_reset(out);
    jid_bare(owner, out);
}

int pubsub__serialize(const struct xml_node *n, size_t max, struct buf *out)
{
    buf_cleanup(out);
    buf_init(out, max);
    return xml_serialize(out, n, NULL);
}

struct xml_node *pubsub__parse(const char *text)
{
    struct xml_limits lim = { .max_depth = 1000, .max_attrs = 1000 };
    return xml_parse_element(strv_c(text), NULL, &lim);
}

void pubsub__item_append(struct xml_node *items, const char *id, const char *publisher,
                         const char *payload)
{
    struct xml_node *it = xml_node_add_child(items, NULL, "item");
    xml_node_set_attr(it, "id", id);
    if (publisher[0]) {
        xml_node_set_attr(it, "publisher", publisher);
    }
    struct xml_node *p = payload[0] ? pubsub__parse(payload) : NULL;
    if (p) {
        xml_node_append_copy(it, p);
        xml_node_unref(p);
    }
}

struct xml_node *pubsub__event_message(const struct pubsub_config *c, const struct xml_node *child)
{
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    if (c == NULL || !c->normal) {
        xml_node_set_attr(m, "type", "headline");
    }
    struct xml_node *ev = xml_node_add_child(m, NS_PUBSUB_EVENT, "event");
    xml_node_append_copy(ev, child);
    return m;
}

void pubsub__send_message(const struct jid *from, const char *to, struct xml_node *msg)
{
    struct signal *s = signal_new(SIGNAL_MESSAGE);
    if (jid_copy(&s->from, from) != 0 || jid_parse(&s->to, strv_c(to)) != 0) {
        signal_free(s);
        return;
    }
    const char *type = xml_node_attr(msg, "type");
    s->type = type ? xstrdup(type) : NULL;
    s->xmpp_data = xml_node_ref(msg);
    router_submit(s);
}

static void pep_identity(struct xml_node *query, enum service_scope scope)
{
    if (scope == SERVICE_SCOPE_ACCOUNT) {
        struct xml_node *id = xml_node_add_child(query, NULL, "identity");
        xml_node_set_attr(id, "category", "pubsub");
        xml_node_set_attr(id, "type", "pep");
    }
}

#define PS NS_PUBSUB "#"
/* Exactly what node.c and notify.c implement (XEP-0060 §10 features). */
static const char *const pep_features[] = {
    NS_PUBSUB,
    PS "access-open",
    PS "access-presence",
    PS "access-roster",
    PS "access-whitelist",
    PS "auto-create",
    PS "auto-subscribe",
    PS "config-node",
    PS "config-node-max",
    PS "create-and-configure",
    PS "create-nodes",
    PS "delete-items",
    PS "delete-nodes",
    PS "filtered-notifications",
    PS "item-ids",
    PS "last-published",
    PS "manage-subscriptions",
    PS "member-affiliation",
    PS "modify-affiliations",
    PS "outcast-affiliation",
    PS "persistent-items",
    PS "presence-notifications",
    PS "publish",
    PS "publish-options",
    PS "publisher-affiliation",
    PS "purge-nodes",
    PS "retract-items",
    PS "retrieve-affiliations",
    PS "retrieve-default",
    PS "retrieve-default-sub",
    PS "retrieve-items",
    PS "retrieve-subscriptions",
    PS "subscribe",
    PS "subscription-options",
    NS_BOOKMARKS2_COMPAT,
    NULL,
};

/* Features of PEP alone: what needs the account's presence and roster, and its conversions. */
static bool pep_only(const char *f)
{
    static const char *const only[] = { PS "access-presence",        PS "access-roster",
                                        PS "auto-subscribe",         PS "filtered-notifications",
                                        PS "presence-notifications", NS_BOOKMARKS2_COMPAT };
    for (size_t i = 0; i < sizeof(only) / sizeof(only[0]); i++) {
        if (strcmp(f, only[i]) == 0) {
            return true;
        }
    }
    return false;
}

void pubsub__service_features(struct xml_node *query)
{
    /* The service's own: subscriptions an owner approves. */
    xml_node_set_attr(xml_node_add_child(query, NULL, "feature"), "var", PS "access-authorize");
    xml_node_set_attr(xml_node_add_child(query, NULL, "feature"), "var", PS "get-pending");
    for (size_t i = 0; pep_features[i]; i++) {
        if (!pep_only(pep_features[i])) {
            xml_node_set_attr(xml_node_add_child(query, NULL, "feature"), "var", pep_features[i]);
        }
    }
}

static const struct service service_pubsub = {
    .name = "pubsub",
    .iq =
        (const struct service_iq[]){ { NS_PUBSUB, "pubsub", .get = pubsub__get, .set = pubsub__set,
                                       .scopes = SERVICE_SCOPE_ACCOUNT },
                                     { NS_PUBSUB_OWNER, "pubsub", .get = pubsub__owner_get,
                                       .set = pubsub__owner_set, .scopes = SERVICE_SCOPE_ACCOUNT },
                                     { 0 } },
    .features = pep_features,
    .identities = pep_identity,
    .items = pubsub__server_items,
    .feature_scopes = SERVICE_SCOPE_ACCOUNT,
};

void pubsub_init(void)
{
    router_register_component(&pubsub_component);
    services_add(&service_pubsub);
    services_set_result_hook(pubsub__result);
    services_set_private_hook(pubsub__private_stored);
    im_set_presence_hook(pubsub__presence);
    services_set_vcard_hook(pubsub__vcard_stored);
}
