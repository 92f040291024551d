/* services/carbons.c: XEP-0280 message carbons enable/disable for the requesting session (the
 * copies are made by the IM core, im/carbons.c). */
#include "im/im.h"
#include "services/services_int.h"

static int set(struct service_ctx *ctx, bool enable)
{
    if (!services__from_own_resource(ctx->req)) {
        return service_reply_error(ctx, "auth", "forbidden");
    }
    if (im_session_flag(&ctx->req->to, ctx->req->from.resource, IM_FLAG_CARBONS, enable) != 0) {
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    return service_reply_result(ctx, NULL);
}

static int enable_set(struct service_ctx *ctx)
{
    return set(ctx, true);
}

static int disable_set(struct service_ctx *ctx)
{
    return set(ctx, false);
}

const struct service service_carbons = {
    .name = "carbons",
    .iq =
        (const struct service_iq[]){
            { NS_CARBONS, "enable", .set = enable_set, .scopes = SERVICE_SCOPE_ACCOUNT },
            { NS_CARBONS, "disable", .set = disable_set, .scopes = SERVICE_SCOPE_ACCOUNT },
            { 0 } },
    /* Clients look for these in the server's disco#info (the account's lists them too). */
    .feature_scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT,
    .features = (const char *[]){ NS_CARBONS, NULL },
};
