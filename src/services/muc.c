/* muc.c: lists the domain's chat service (XEP-0045) in the server's disco#items. */
#include "services/services.h"
#include "services/services_int.h"

/* Set once at start, before the workers run (chatroom_service_of). */
static services_chat_service_fn *g_chat_service;

void services_set_chat_service(services_chat_service_fn *fn)
{
    g_chat_service = fn;
}

static void muc_items(const struct service_ctx *ctx, service_item_fn *fn, void *ud)
{
    services__hooked_item(g_chat_service, ctx, "Chatrooms", fn, ud);
}

const struct service service_muc = {
    .name = "muc",
    .items = muc_items,
};
