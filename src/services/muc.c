/* muc.c: lists the domain's chat service (XEP-0045) in the server's disco#items. */
#include "services/services.h"

/* Set once at start, before the workers run (chatroom_service_of). */
static services_chat_service_fn *g_chat_service;

void services_set_chat_service(services_chat_service_fn *fn)
{
    g_chat_service = fn;
}

static void muc_items(const struct service_ctx *ctx, service_item_fn *fn, void *ud)
{
    if (g_chat_service == NULL) {
        return;
    }
    struct buf svc;
    buf_init(&svc, 1024);
    if (g_chat_service(ctx->req->to.domain, &svc)) {
        fn(ud, buf_cstr(&svc), NULL, "Chatrooms");
    }
    buf_cleanup(&svc);
}

const struct service service_muc = {
    .name = "muc",
    .items = muc_items,
};
