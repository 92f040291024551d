/* services.c: the table of server services and the iq dispatch to them. */
#include "services/services.h"
#include "services/services_int.h"

#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "signal/router.h"
#include "store/store.h"
#include "xml/ns.h"

/* Features of the stream and of modules that are not iq services but are real (disco lists
 * exactly what is implemented). */
static const char *const stream_features[] = { NS_IQ_AUTH, NULL };

/* The table; the last slots take the services of upper layers added at start (services_add).
 * Not reformatted: a service added on its own line does not reflow the table. */
#define SERVICES_EXTRA 4
/* clang-format off */
static const struct service *services[19 + SERVICES_EXTRA] = {
    &service_disco,   &service_ping,  &service_version,  &service_roster, &service_blocking,
    &service_carbons, &service_time,  &service_last,     &service_vcard,  &service_private,
    &service_contact, &service_adhoc, &service_register, &service_muc,
    &service_mam,
    &service_upload,
    &service_extdisco,
    &service_push,
    NULL,
};
/* clang-format on */

static services_result_fn *g_result_hook;

void services_add(const struct service *s)
{
    size_t n = 0;
    while (services[n] != NULL) {
        n++;
    }
    if (n + 1 < sizeof(services) / sizeof(services[0])) {
        services[n] = s;
    }
}

void services_set_result_hook(services_result_fn *fn)
{
    g_result_hook = fn;
}

void services_foreach(service_each_fn *fn, void *ud)
{
    for (size_t i = 0; services[i]; i++) {
        fn(ud, services[i]);
    }
}

static bool type_is(const struct signal *sig, const char *t)
{
    return sig->type && strcmp(sig->type, t) == 0;
}

static const struct service_iq *find_iq(const struct xml_node *q, enum service_scope scope,
                                        bool *ns_known)
{
    *ns_known = false;
    for (size_t i = 0; services[i]; i++) {
        for (const struct service_iq *h = services[i]->iq; h && h->ns; h++) {
            if (strcmp(h->ns, q->ns ? q->ns : "") != 0) {
                continue;
            }
            *ns_known = true;
            if (strcmp(h->name, q->name) == 0 && (h->scopes & scope)) {
                return h;
            }
        }
    }
    return NULL;
}

static int handle_iq(struct signal *sig, enum service_scope scope)
{
    if (!type_is(sig, "get") && !type_is(sig, "set")) {
        /* Results and errors addressed to the server end here; an account's may answer a push
         * notification sent on its behalf (XEP-0357) or the account's own request (e.g.
         * personal eventing's capabilities query). */
        if (scope == SERVICE_SCOPE_ACCOUNT) {
            services__push_answer(sig);
            if (g_result_hook != NULL) {
                g_result_hook(sig);
            }
        }
        return 0;
    }
    const struct xml_node *q = sig->xmpp_data ? xml_node_first_element(sig->xmpp_data) : NULL;
    struct service_ctx ctx = { .req = sig, .query = q, .scope = scope };
    if (q == NULL || xml_node_next_element(q) != NULL) {
        /* RFC 6120 §8.2.3: a get or set has exactly one payload element. */
        return service_reply_error(&ctx, "modify", "bad-request");
    }
    bool ns_known;
    const struct service_iq *h = find_iq(q, scope, &ns_known);
    if (h == NULL) {
        return service_reply_error(&ctx, "cancel", "service-unavailable");
    }
    service_iq_fn *fn = type_is(sig, "get") ? h->get : h->set;
    if (fn == NULL) {
        return service_reply_error(&ctx, "cancel",
                                   type_is(sig, "set") ? "not-allowed" : "feature-not-implemented");
    }
    return fn(&ctx);
}

int services_handle(struct signal *sig, enum service_scope scope)
{
    int code = 0;
    switch (sig->method) {
    case SIGNAL_INFO:
        code = handle_iq(sig, scope);
        break;
    case SIGNAL_MESSAGE:
        /* The server takes no messages yet; chat and normal ones bounce (RFC 6120 §10.3). */
        if (!type_is(sig, "error") && !type_is(sig, "headline") && !type_is(sig, "groupchat")) {
            router_reply_error(sig, "cancel", "service-unavailable");
        }
        code = ERR_NOTFOUND;
        break;
    case SIGNAL_SUBSCRIBE:
    case SIGNAL_NOTIFY:
        /* Presence to the server itself is accepted and has no effect. */
        break;
    }
    signal_free(sig);
    return code;
}

int service_reply_result(struct service_ctx *ctx, struct xml_node *payload)
{
    router_submit(signal_result_new(ctx->req, payload));
    return 0;
}

int service_reply_error(struct service_ctx *ctx, const char *type, const char *condition)
{
    router_reply_error(ctx->req, type, condition);
    return strcmp(condition, "service-unavailable") == 0 ? ERR_NOTFOUND : ERR_INVAL;
}

int service_reply_store_error(struct service_ctx *ctx, int rc, const char *what)
{
    struct worker_ctx *wc = worker_ctx();
    struct buf who;
    buf_init(&who, 4096);
    jid_bare(&ctx->req->to, &who);
    log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, buf_cstr(&who), "%s not stored: %s", what,
            wc && wc->store ? store_last_error(wc->store) : err_str(rc));
    buf_cleanup(&who);
    const char *type;
    const char *condition = signal_store_condition(rc, &type);
    return service_reply_error(ctx, type, condition);
}

void services_foreach_feature(enum service_scope scope, service_feature_fn *fn, void *ud)
{
    if (scope == SERVICE_SCOPE_SERVER) {
        for (size_t i = 0; stream_features[i]; i++) {
            fn(ud, stream_features[i]);
        }
    }
    for (size_t i = 0; services[i]; i++) {
        bool in_scope = false;
        for (const struct service_iq *h = services[i]->iq; h && h->ns; h++) {
            in_scope = in_scope || (h->scopes & scope);
        }
        if (services[i]->feature_scopes) {
            in_scope = (services[i]->feature_scopes & scope) != 0;
        }
        for (size_t j = 0; in_scope && services[i]->features && services[i]->features[j]; j++) {
            fn(ud, services[i]->features[j]);
        }
    }
}

static int from_router(struct signal *sig, bool account)
{
    return services_handle(sig, account ? SERVICE_SCOPE_ACCOUNT : SERVICE_SCOPE_SERVER);
}

void services_init(void)
{
    router_set_services(from_router);
}
