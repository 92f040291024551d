/* ping.c: XEP-0199, the server answers pings addressed to it (and to accounts' bare JIDs). */
#include "services/services.h"
#include "xml/ns.h"

static int ping_get(struct service_ctx *ctx)
{
    return service_reply_result(ctx, NULL);
}

const struct service service_ping = {
    .name = "ping",
    .iq = (const struct service_iq[]){ { NS_PING, "ping", .get = ping_get,
                                         .scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT },
                                       { 0 } },
    .features = (const char *[]){ NS_PING, NULL },
};
