/* service.c: the publish-subscribe service pubsub.<domain> of each local domain (XEP-0060), a
 * component of the router like the chat service: its nodes live on the home worker of its
 * domain and are answered by the same engine as the accounts' PEP nodes (node.c). */
#include <string.h>

#include "core/err.h"
#include "core/server.h"
#include "core/worker.h"
#include "pubsub/pubsub_int.h"
#include "signal/router.h"
#include "store/store_pubsub.h"
#include "xml/ns.h"

static bool owns(const char *domain)
{
    size_t n = strlen(PUBSUB_SERVICE_PREFIX);
    if (strncmp(domain, PUBSUB_SERVICE_PREFIX, n) != 0) {
        return false;
    }
    struct buf canon;
    buf_init(&canon, 1024);
    bool local =
        router_is_local_domain(domain + n, &canon) && strcmp(buf_cstr(&canon), domain + n) == 0;
    buf_cleanup(&canon);
    return local;
}

static int disco_info(struct service_ctx *ctx)
{
    const char *node = xml_node_attr(ctx->query, "node");
    struct xml_node *q = xml_node_new(NS_DISCO_INFO, "query");
    struct xml_node *id = xml_node_add_child(q, NULL, "identity");
    xml_node_set_attr(id, "category", "pubsub");
    if (node != NULL) {
        struct buf text;
        buf_init(&text, 64 * 1024);
        int rc = store_pubsub_node_get(worker_ctx()->store, ctx->req->to.domain, node, &text);
        buf_cleanup(&text);
        if (rc != 0) {
            xml_node_unref(q);
            return rc == ERR_NOTFOUND ? service_reply_error(ctx, "cancel", "item-not-found")
                                      : service_reply_store_error(ctx, rc, "pubsub node");
        }
        xml_node_set_attr(q, "node", node);
        xml_node_set_attr(id, "type", "leaf");
        xml_node_set_attr(xml_node_add_child(q, NULL, "feature"), "var", NS_PUBSUB);
        return service_reply_result(ctx, q);
    }
    xml_node_set_attr(id, "type", "service");
    xml_node_set_attr(id, "name", "Publish-Subscribe");
    static const char *const disco[] = { NS_DISCO_INFO, NS_DISCO_ITEMS, NS_COMMANDS };
    for (size_t i = 0; i < 3; i++) {
        xml_node_set_attr(xml_node_add_child(q, NULL, "feature"), "var", disco[i]);
    }
    pubsub__service_features(q);
    return service_reply_result(ctx, q);
}

static int item_row(void *ud, const char *node, const char *config, long long items,
                    long long bytes)
{
    (void)config;
    (void)items;
    (void)bytes;
    struct service_ctx *ctx = ud;
    struct xml_node *q = (struct xml_node *)ctx->query;
    struct xml_node *it = xml_node_add_child(q, NULL, "item");
    xml_node_set_attr(it, "jid", ctx->req->to.domain);
    xml_node_set_attr(it, "node", node);
    return 0;
}

static int disco_items(struct service_ctx *ctx)
{
    const char *node = xml_node_attr(ctx->query, "node");
    if (node != NULL && strcmp(node, NS_COMMANDS) == 0) {
        /* XEP-0050: the one ad-hoc command, §8.7's. */
        struct xml_node *q = xml_node_new(NS_DISCO_ITEMS, "query");
        xml_node_set_attr(q, "node", NS_COMMANDS);
        struct xml_node *it = xml_node_add_child(q, NULL, "item");
        xml_node_set_attr(it, "jid", ctx->req->to.domain);
        xml_node_set_attr(it, "node", PUBSUB_GET_PENDING);
        xml_node_set_attr(it, "name", "Get pending subscription requests");
        return service_reply_result(ctx, q);
    }
    if (node != NULL) {
        /* Leaf nodes only: a node has no child nodes. */
        return service_reply_result(ctx, xml_node_new(NS_DISCO_ITEMS, "query"));
    }
    struct xml_node *q = xml_node_new(NS_DISCO_ITEMS, "query");
    struct service_ctx list = { .req = ctx->req, .query = q };
    int rc = store_pubsub_node_list(worker_ctx()->store, ctx->req->to.domain, item_row, &list);
    if (rc < 0) {
        xml_node_unref(q);
        return service_reply_store_error(ctx, rc, "pubsub nodes");
    }
    return service_reply_result(ctx, q);
}

static bool is(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

/* One iq to the service, as the services' dispatcher does it for the server. */
static void service_iq(struct signal *sig)
{
    const struct xml_node *q = sig->xmpp_data ? xml_node_first_element(sig->xmpp_data) : NULL;
    struct service_ctx ctx = { .req = sig, .query = q, .scope = SERVICE_SCOPE_SERVER };
    bool get = is(sig->type, "get");
    if (!get && !is(sig->type, "set")) {
        return;
    }
    if (q == NULL || xml_node_next_element(q) != NULL) {
        service_reply_error(&ctx, "modify", "bad-request");
    } else if (is(q->ns, NS_PUBSUB) && is(q->name, "pubsub")) {
        get ? pubsub__get(&ctx) : pubsub__set(&ctx);
    } else if (is(q->ns, NS_PUBSUB_OWNER) && is(q->name, "pubsub")) {
        get ? pubsub__owner_get(&ctx) : pubsub__owner_set(&ctx);
    } else if (get && is(q->ns, NS_DISCO_INFO)) {
        disco_info(&ctx);
    } else if (get && is(q->ns, NS_DISCO_ITEMS)) {
        disco_items(&ctx);
    } else if (!get && is(q->ns, NS_COMMANDS) && is(q->name, "command")) {
        pubsub__get_pending(&ctx);
    } else if (get && is(q->ns, NS_PING)) {
        service_reply_result(&ctx, NULL);
    } else {
        service_reply_error(&ctx, "cancel", "service-unavailable");
    }
}

static void service_home(struct worker *w, void *arg)
{
    (void)w;
    struct signal *sig = arg;
    if (sig->method == SIGNAL_INFO && sig->to.resource == NULL) {
        service_iq(sig);
    } else if (sig->method == SIGNAL_MESSAGE && pubsub__authorization(sig)) {
        /* An owner's answer to a subscription request: nothing to reply. */
    } else if (sig->method != SIGNAL_NOTIFY && sig->method != SIGNAL_SUBSCRIBE &&
               !is(sig->type, "error") && !is(sig->type, "result")) {
        router_reply_error(sig, "cancel", "service-unavailable");
    }
    signal_free(sig);
}

/* The service's nodes live on the home worker of its domain, so one worker changes them. */
static int deliver(struct signal *sig)
{
    if (sig->to.local != NULL) {
        router_reply_error(sig, "cancel", "service-unavailable");
        signal_free(sig);
        return ERR_NOTFOUND;
    }
    int home = worker_home(strv_c(sig->to.domain));
    struct worker *self = worker_self();
    if (self && self->id == home) {
        service_home(self, sig);
    } else {
        worker_post(home, service_home, sig);
    }
    return 0;
}

const struct router_component pubsub_component = {
    .name = "pubsub",
    .owns = owns,
    .deliver = deliver,
};

/* The server's disco#items lists its domain's service. */
void pubsub__server_items(const struct service_ctx *ctx, service_item_fn *fn, void *ud)
{
    if (ctx->req->to.domain == NULL) {
        return;
    }
    struct buf svc;
    buf_init(&svc, 1100);
    if (pubsub_service_of(ctx->req->to.domain, &svc)) {
        fn(ud, buf_cstr(&svc), NULL, NULL);
    }
    buf_cleanup(&svc);
}

void pubsub_service_node_deleted(const char *service, const char *node, const char *config,
                                 const char *const *subscribers, size_t n)
{
    struct pubsub_config c;
    pubsub__config_parse(&c, config);
    struct jid from;
    if (!c.notify_delete || jid_parse(&from, strv_c(service)) != 0) {
        return;
    }
    struct xml_node *del = xml_node_new(NS_PUBSUB_EVENT, "delete");
    xml_node_set_attr(del, "node", node);
    struct xml_node *m = pubsub__event_message(&c, del);
    for (size_t i = 0; i < n; i++) {
        pubsub__send_message(&from, subscribers[i], m);
    }
    xml_node_unref(m);
    xml_node_unref(del);
    jid_cleanup(&from);
}
