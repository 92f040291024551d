/* version.c: XEP-0092, the server's software name, version and operating system. */
#include <sys/utsname.h>

#include "core/version.h"
#include "services/services.h"
#include "xml/ns.h"

static int version_get(struct service_ctx *ctx)
{
    struct xml_node *q = xml_node_new(NS_VERSION, "query");
    struct xml_node *name = xml_node_add_child(q, NULL, "name");
    xml_node_add_text(name, STARLING_NAME, sizeof(STARLING_NAME) - 1);
    struct xml_node *version = xml_node_add_child(q, NULL, "version");
    xml_node_add_text(version, STARLING_VERSION, sizeof(STARLING_VERSION) - 1);
    struct utsname u;
    if (uname(&u) == 0) {
        struct xml_node *os = xml_node_add_child(q, NULL, "os");
        struct buf b;
        buf_init(&b, 1024);
        buf_printf(&b, "%s %s", u.sysname, u.release);
        xml_node_add_text(os, buf_cstr(&b), b.len);
        buf_cleanup(&b);
    }
    return service_reply_result(ctx, q);
}

const struct service service_version = {
    .name = "version",
    .iq =
        (const struct service_iq[]){
            { NS_VERSION, "query", .get = version_get, .scopes = SERVICE_SCOPE_SERVER }, { 0 } },
    .features = (const char *[]){ NS_VERSION, NULL },
};
