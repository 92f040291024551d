/* muc.c: lists the domain's chat service (XEP-0045) in the server's disco#items. */
#include "chatroom/chatroom.h"
#include "services/services.h"

static void muc_items(const struct service_ctx *ctx, service_item_fn *fn, void *ud)
{
    struct buf svc;
    buf_init(&svc, 1024);
    if (chatroom_service_of(ctx->req->to.domain, &svc)) {
        fn(ud, buf_cstr(&svc), NULL, "Chatrooms");
    }
    buf_cleanup(&svc);
}

const struct service service_muc = {
    .name = "muc",
    .items = muc_items,
};
