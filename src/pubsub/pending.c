/* pending.c: XEP-0060 §8.7 on the service: the ad-hoc command pubsub#get-pending (XEP-0050),
 * with which an owner picks one of its authorize nodes and gets the authorization requests of its
 * pending subscribers sent again (answered like the first ones, node.c). Stateless: the form
 * names everything, the session id is only echoed. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/server.h"
#include "pubsub/pubsub_int.h"
#include "store/store_pubsub.h"
#include "xml/ns.h"

struct pending {
    struct store *st;
    const char *host;
    const char *owner; /* the requester's bare JID */
    struct xml_node *list;
    int n;
};

/* Is the requester an owner of `node` with the authorize access model? */
static int owner_row(void *ud, const char *jid, const char *value)
{
    struct pending *p = ud;
    return strcmp(jid, p->owner) == 0 && strcmp(value, "owner") == 0;
}

static bool owns_authorize_node(struct pending *p, const char *node, const char *config)
{
    struct pubsub_config c;
    pubsub__config_parse(&c, config);
    return c.access == PUBSUB_ACCESS_AUTHORIZE &&
           store_pubsub_aff_list(p->st, p->host, node, owner_row, p) == 1;
}

static int node_option(void *ud, const char *node, const char *config, long long items,
                       long long bytes)
{
    (void)items;
    (void)bytes;
    struct pending *p = ud;
    if (owns_authorize_node(p, node, config)) {
        struct xml_node *o = xml_node_add_child(p->list, NULL, "option");
        xml_node_add_text(xml_node_add_child(o, NULL, "value"), node, strlen(node));
        p->n++;
    }
    return 0;
}

static struct xml_node *command(const struct xml_node *req, const char *status)
{
    struct xml_node *c = xml_node_new(NS_COMMANDS, "command");
    xml_node_set_attr(c, "node", PUBSUB_GET_PENDING);
    const char *sid = xml_node_attr(req, "sessionid");
    char gen[32];
    if (sid == NULL) {
        snprintf(gen, sizeof(gen), "pending-%llx", (long long)time(NULL));
        sid = gen;
    }
    xml_node_set_attr(c, "sessionid", sid);
    xml_node_set_attr(c, "status", status);
    return c;
}

/* Step 1: the form listing the requester's authorize nodes. */
static int ask_node(struct service_ctx *ctx, struct pending *p)
{
    struct xml_node *c = command(ctx->query, "executing");
    struct xml_node *x = pubsub__form_new(c, NS_PUBSUB "#subscribe_authorization");
    p->list = xml_node_add_child(x, NULL, "field");
    xml_node_set_attr(p->list, "type", "list-single");
    xml_node_set_attr(p->list, "var", "pubsub#node");
    int rc = store_pubsub_node_list(p->st, p->host, node_option, p);
    if (rc < 0 || p->n == 0) {
        xml_node_unref(c);
        return rc < 0 ? service_reply_store_error(ctx, rc, "pubsub nodes")
                      : service_reply_error(ctx, "cancel", "item-not-found");
    }
    return service_reply_result(ctx, c);
}

struct resend {
    const struct service_ctx *ctx;
    const char *node;
};

static int resend_row(void *ud, const char *jid, const char *value)
{
    struct resend *r = ud;
    if (strcmp(value, "pending") == 0) {
        struct xml_node *m = pubsub__authorization_request(r->node, jid);
        struct buf to;
        buf_init(&to, 3 * 1024 + 3);
        jid_full(&r->ctx->req->from, &to);
        pubsub__send_message(&r->ctx->req->to, buf_cstr(&to), m);
        buf_cleanup(&to);
        xml_node_unref(m);
    }
    return 0;
}

/* Step 2: the chosen node's pending requests, sent again to the requester. */
static int resend_node(struct service_ctx *ctx, struct pending *p, const char *node)
{
    struct buf config;
    buf_init(&config, 64 * 1024);
    int rc = store_pubsub_node_get(p->st, p->host, node, &config);
    if (rc == 0 && !owns_authorize_node(p, node, buf_cstr(&config))) {
        rc = ERR_DENIED;
    }
    buf_cleanup(&config);
    if (rc == ERR_NOTFOUND) {
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    if (rc == ERR_DENIED) {
        return service_reply_error(ctx, "auth", "forbidden");
    }
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, "pubsub node");
    }
    /* The command completes first; the requests follow it. */
    rc = service_reply_result(ctx, command(ctx->query, "completed"));
    struct resend r = { ctx, node };
    store_pubsub_sub_list(p->st, p->host, node, resend_row, &r);
    return rc;
}

static const char *submitted_node(const struct xml_node *x, struct buf *out)
{
    for (const struct xml_node *f = x ? xml_node_first_element(x) : NULL; f;
         f = xml_node_next_element(f)) {
        const char *var = xml_node_attr(f, "var");
        const struct xml_node *v = xml_node_child(f, NS_XDATA, "value");
        if (var != NULL && strcmp(var, "pubsub#node") == 0 && v != NULL &&
            xml_node_text(v, out) == 0) {
            return buf_cstr(out);
        }
    }
    return NULL;
}

int pubsub__get_pending(struct service_ctx *ctx)
{
    const char *cmd = xml_node_attr(ctx->query, "node");
    const char *action = xml_node_attr(ctx->query, "action");
    if (cmd == NULL || strcmp(cmd, PUBSUB_GET_PENDING) != 0) {
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    if (action != NULL && strcmp(action, "cancel") == 0) {
        return service_reply_result(ctx, command(ctx->query, "canceled"));
    }
    struct buf owner, node;
    buf_init(&owner, 3 * 1024 + 2);
    buf_init(&node, 4096);
    jid_bare(&ctx->req->from, &owner);
    struct pending p = { worker_ctx()->store, ctx->req->to.domain, buf_cstr(&owner), NULL, 0 };
    const struct xml_node *x = xml_node_child(ctx->query, NS_XDATA, "x");
    const char *type = x ? xml_node_attr(x, "type") : NULL;
    const char *chosen = type && strcmp(type, "submit") == 0 ? submitted_node(x, &node) : NULL;
    int rc = chosen ? resend_node(ctx, &p, chosen) : ask_node(ctx, &p);
    buf_cleanup(&owner);
    buf_cleanup(&node);
    return rc;
}
