/* push.c: XEP-0357 push notifications: an account registers app servers (JID, node,
 * publish-options); while one of its sessions cannot be reached (detached, XEP-0198) a message
 * for it triggers a notification with the urn:xmpp:push:summary form to each app server; an
 * error answer from an app server removes that registration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "services/services_int.h"
#include "signal/router.h"
#include "store/store_push.h"
#include "xml/ns.h"

#define PUSH_ID_PREFIX "starling-push-"
#define PUSH_NS_PUBSUB "http://jabber.org/protocol/pubsub"

static int push_enable(struct service_ctx *ctx)
{
    if (!services__from_own_resource(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    const char *service = xml_node_attr(ctx->query, "jid");
    const char *node = xml_node_attr(ctx->query, "node");
    struct jid app = { 0 };
    if (service == NULL || node == NULL || node[0] == '\0' ||
        jid_parse(&app, strv_c(service)) != 0) {
        jid_cleanup(&app);
        return service_reply_error(ctx, "modify", "bad-request");
    }
    jid_cleanup(&app);
    struct buf options;
    buf_init(&options, SERVICES_STORED_MAX);
    const struct xml_node *form = xml_node_child(ctx->query, NS_XDATA, "x");
    int rc = form ? services__serialize(form, SERVICES_STORED_MAX, &options) : 0;
    if (rc == 0) {
        const struct jid *t = &ctx->req->to;
        rc = store_push_enable(worker_ctx()->store, t->domain, t->local, service, node,
                               buf_cstr(&options));
    }
    buf_cleanup(&options);
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, "push registration");
    }
    return service_reply_result(ctx, NULL);
}

static int push_disable(struct service_ctx *ctx)
{
    if (!services__from_own_resource(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    const char *service = xml_node_attr(ctx->query, "jid");
    if (service == NULL) {
        return service_reply_error(ctx, "modify", "bad-request");
    }
    const struct jid *t = &ctx->req->to;
    int rc = store_push_disable(worker_ctx()->store, t->domain, t->local, service,
                                xml_node_attr(ctx->query, "node"));
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, "push registration");
    }
    return service_reply_result(ctx, NULL);
}

const struct service service_push = {
    .name = "push",
    .iq =
        (const struct service_iq[]){
            { NS_PUSH, "enable", .set = push_enable, .scopes = SERVICE_SCOPE_ACCOUNT },
            { NS_PUSH, "disable", .set = push_disable, .scopes = SERVICE_SCOPE_ACCOUNT },
            { 0 } },
    .features = (const char *[]){ NS_PUSH, NULL },
};

/* ---- notifications ---- */

struct notify_ctx {
    const struct jid *account;
    const char *sender;
    const char *body; /* NULL unless configured */
    unsigned count;
};

static void add_field(struct xml_node *form, const char *var, const char *value)
{
    services__field_add(form, var, NULL, NULL, value);
}

/* <pubsub><publish node=…><item><notification><x type=submit>…summary…</x></notification>
 * </item></publish><publish-options>…</publish-options></pubsub> */
static struct xml_node *notification(const struct notify_ctx *nc, const char *node,
                                     const char *options)
{
    struct xml_node *ps = xml_node_new(PUSH_NS_PUBSUB, "pubsub");
    struct xml_node *pub = xml_node_add_child(ps, NULL, "publish");
    xml_node_set_attr(pub, "node", node);
    struct xml_node *item = xml_node_add_child(pub, NULL, "item");
    struct xml_node *n = xml_node_add_child(item, NS_PUSH, "notification");
    struct xml_node *form = services__form_add(n, "submit", NS_PUSH_SUMMARY);
    char count[16];
    snprintf(count, sizeof(count), "%u", nc->count);
    add_field(form, "message-count", count);
    add_field(form, "last-message-sender", nc->sender);
    if (nc->body) {
        add_field(form, "last-message-body", nc->body);
    }
    struct xml_node *opts = options[0] ? services__parse(options, strlen(options)) : NULL;
    if (opts) {
        xml_node_append_copy(xml_node_add_child(ps, NULL, "publish-options"), opts);
        xml_node_unref(opts);
    }
    return ps;
}

static int notify_one(void *ud, const char *id, const char *service, const char *node,
                      const char *options)
{
    const struct notify_ctx *nc = ud;
    struct signal *sig = signal_new(SIGNAL_INFO);
    if (jid_parse(&sig->to, strv_c(service)) != 0 || jid_copy(&sig->from, nc->account) != 0) {
        signal_free(sig);
        return 0;
    }
    free(sig->from.resource);
    sig->from.resource = NULL;
    char sid[64];
    snprintf(sid, sizeof(sid), PUSH_ID_PREFIX "%s", id);
    sig->type = xstrdup("set");
    sig->id = xstrdup(sid);
    struct xml_node *iq = xml_node_new(NS_CLIENT, "iq");
    xml_node_set_attr(iq, "type", "set");
    xml_node_set_attr(iq, "id", sid);
    struct xml_node *ps = notification(nc, node, options);
    xml_node_append_copy(iq, ps);
    xml_node_unref(ps);
    sig->xmpp_data = iq;
    router_submit(sig);
    return 0;
}

void services_push_notify(const struct jid *account, const struct signal *msg, unsigned count)
{
    struct worker_ctx *wc = worker_ctx();
    struct buf sender, body;
    buf_init(&sender, 4096);
    buf_init(&body, 4096);
    jid_full(&msg->from, &sender);
    const struct xml_node *b =
        msg->xmpp_data ? xml_node_child(msg->xmpp_data, NS_CLIENT, "body") : NULL;
    if (b && wc->cfg->services.push_include_body) {
        xml_node_text(b, &body);
    }
    struct notify_ctx nc = { account, buf_cstr(&sender),
                             b && wc->cfg->services.push_include_body ? buf_cstr(&body) : NULL,
                             count };
    int rc = store_push_list(wc->store, account->domain, account->local, notify_one, &nc);
    if (rc != 0) {
        log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, NULL, "push registrations of %s@%s: %s",
                account->local, account->domain, store_last_error(wc->store));
    }
    buf_cleanup(&sender);
    buf_cleanup(&body);
}

void services__push_answer(const struct signal *sig)
{
    if (sig->type == NULL || strcmp(sig->type, "error") != 0 || sig->id == NULL ||
        strncmp(sig->id, PUSH_ID_PREFIX, strlen(PUSH_ID_PREFIX)) != 0 || sig->to.local == NULL) {
        return;
    }
    struct buf app;
    buf_init(&app, 4096);
    jid_full(&sig->from, &app);
    struct worker_ctx *wc = worker_ctx();
    if (store_push_remove_id(wc->store, sig->to.domain, sig->to.local,
                             sig->id + strlen(PUSH_ID_PREFIX), buf_cstr(&app)) == 0) {
        log_rec(LOG_TAG_XMPPS, LOG_MAJOR, 0, NULL,
                "push registration of %s@%s at %s removed: the app server answered an error",
                sig->to.local, sig->to.domain, buf_cstr(&app));
    }
    buf_cleanup(&app);
}
