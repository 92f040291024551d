/* services/blocking.c: XEP-0191 blocking command, answered on the owner's home worker (the
 * logic is the IM core's, im/blocking.c). */
#include "services/services.h"
#include "im/im.h"

static int blocklist_get(struct service_ctx *ctx)
{
    return im_blocklist_get(ctx);
}

static int block_set(struct service_ctx *ctx)
{
    return im_block_set(ctx);
}

static int unblock_set(struct service_ctx *ctx)
{
    return im_unblock_set(ctx);
}

const struct service service_blocking = {
    .name = "blocking",
    .iq = (const struct service_iq[]){{NS_BLOCKING, "blocklist", .get = blocklist_get,
                                       .scopes = SERVICE_SCOPE_ACCOUNT},
                                      {NS_BLOCKING, "block", .set = block_set,
                                       .scopes = SERVICE_SCOPE_ACCOUNT},
                                      {NS_BLOCKING, "unblock", .set = unblock_set,
                                       .scopes = SERVICE_SCOPE_ACCOUNT},
                                      {0}},
    /* Clients look for these in the server's disco#info (the account's lists them too). */
    .feature_scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT,
    .features = (const char *[]){NS_BLOCKING, NULL},
};
