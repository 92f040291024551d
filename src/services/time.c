/* time.c: XEP-0202 entity time, the server's clock (UTC) and its time zone offset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/services.h"
#include "xml/ns.h"


static void add_text(struct xml_node *parent, const char *name, const char *text)
{
    struct xml_node *n = xml_node_add_child(parent, NULL, name);
    xml_node_add_text(n, text, strlen(text));
}

static int time_get(struct service_ctx *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm utc, loc;
    gmtime_r(&ts.tv_sec, &utc);
    localtime_r(&ts.tv_sec, &loc);
    char stamp[64], tzo[16];
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    long off = loc.tm_gmtoff;
    int aoff = (int)(labs(off) % 86400);
    snprintf(tzo, sizeof(tzo), "%c%02d:%02d", off < 0 ? '-' : '+', aoff / 3600, (aoff % 3600) / 60);
    struct xml_node *t = xml_node_new(NS_TIME, "time");
    add_text(t, "tzo", tzo);
    add_text(t, "utc", stamp);
    return service_reply_result(ctx, t);
}

const struct service service_time = {
    .name = "time",
    .iq =
        (const struct service_iq[]){
            { NS_TIME, "time", .get = time_get, .scopes = SERVICE_SCOPE_SERVER }, { 0 } },
    .features = (const char *[]){ NS_TIME, NULL },
};
