/* upload.c: lists the domain's HTTP upload service (XEP-0363, src/web/upload.c) in the server's
 * disco#items. */
#include "services/services.h"
#include "services/services_int.h"

/* Set once at start, before the workers run (web_upload_service_of). */
static services_chat_service_fn *g_upload_service;

void services_set_upload_service(services_chat_service_fn *fn)
{
    g_upload_service = fn;
}

static void upload_items(const struct service_ctx *ctx, service_item_fn *fn, void *ud)
{
    services__hooked_item(g_upload_service, ctx, "HTTP File Upload", fn, ud);
}

const struct service service_upload = {
    .name = "upload",
    .items = upload_items,
};
