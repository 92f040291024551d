/* services/roster.c: RFC 6121 §2 jabber:iq:roster, answered on the owner's home worker (the
 * logic is the IM core's, im/roster.c). */
#include "services/services.h"
#include "im/im.h"

static int roster_set(struct service_ctx *ctx)
{
    return im_roster_set(ctx);
}

static int roster_get(struct service_ctx *ctx)
{
    return im_roster_get(ctx);
}

const struct service service_roster = {
    .name = "roster",
    .iq = (const struct service_iq[]){{NS_ROSTER, "query", .get = roster_get, .set = roster_set,
                                       .scopes = SERVICE_SCOPE_ACCOUNT},
                                      {0}},
    .features = NULL,
};
