/* extdisco.c: XEP-0215 external service discovery: the STUN/TURN services configured for a
 * domain (services.external), with time-limited TURN credentials made from a shared secret the
 * way coturn's use-auth-secret checks them (username "expiry:user", password
 * base64(HMAC-SHA1(secret, username))). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/server.h"
#include "services/services.h"
#include "services/services_int.h"
#include "xml/ns.h"

/* One entry of services.external: "domain=type:host:port[/transport]". */
struct ext_service {
    char domain[256];
    char type[16];
    char host[256];
    char port[8];
    char transport[8];
};

/* Parses the next entry of the comma list at *p; false at its end. Bad entries are skipped. */
static bool next_entry(const char **p, struct ext_service *e)
{
    while (**p) {
        const char *s = *p + strspn(*p, " \t,");
        size_t len = strcspn(s, ",");
        *p = s + len;
        char item[600];
        if (len == 0 || len >= sizeof(item)) {
            continue;
        }
        snprintf(item, sizeof(item), "%.*s", (int)len, s);
        memset(e, 0, sizeof(*e));
        /* domain=type:host:port[/transport] */
        int n = sscanf(item, " %255[^= ] = %15[a-z] : %255[^:] : %7[0-9] / %7[a-z]", e->domain,
                       e->type, e->host, e->port, e->transport);
        if (n >= 4) {
            if (n == 4) {
                snprintf(e->transport, sizeof(e->transport), "%s",
                         strcmp(e->type, "turns") == 0 || strcmp(e->type, "stuns") == 0 ? "tcp"
                                                                                        : "udp");
            }
            return true;
        }
    }
    return false;
}

static bool is_turn(const struct ext_service *e)
{
    return strcmp(e->type, "turn") == 0 || strcmp(e->type, "turns") == 0;
}

/* username = "<expiry>:<user>", password = base64(HMAC-SHA1(secret, username)). */
static void add_credentials(struct xml_node *svc, const char *secret, const char *user, int ttl)
{
    long long expires = (long long)time(NULL) + ttl;
    char name[640];
    snprintf(name, sizeof(name), "%lld:%s", expires, user);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)name, strlen(name), mac,
         &maclen);
    char pw[64];
    EVP_EncodeBlock((unsigned char *)pw, mac, (int)maclen);
    struct tm tm;
    time_t t = (time_t)expires;
    gmtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    xml_node_set_attr(svc, "username", name);
    xml_node_set_attr(svc, "password", pw);
    xml_node_set_attr(svc, "expires", stamp);
    xml_node_set_attr(svc, "restricted", "1");
}

/* The services of the requester's domain, those of type `type` (NULL: all) and host `host`
 * (NULL: any), into `out`; returns how many. */
static int list_services(struct service_ctx *ctx, struct xml_node *out, const char *type,
                         const char *host)
{
    const struct settings *cfg = worker_ctx()->cfg;
    const char *domain = ctx->req->to.domain;
    char user[600];
    snprintf(user, sizeof(user), "%s@%s", ctx->req->from.local ? ctx->req->from.local : "",
             ctx->req->from.domain ? ctx->req->from.domain : "");
    int n = 0;
    struct ext_service e;
    for (const char *p = cfg->services.external; next_entry(&p, &e);) {
        if ((strcmp(e.domain, "*") != 0 && strcmp(e.domain, domain) != 0) ||
            (type && strcmp(type, e.type) != 0) || (host && strcmp(host, e.host) != 0)) {
            continue;
        }
        struct xml_node *s = xml_node_add_child(out, NS_EXTDISCO, "service");
        xml_node_set_attr(s, "type", e.type);
        xml_node_set_attr(s, "host", e.host);
        xml_node_set_attr(s, "port", e.port);
        xml_node_set_attr(s, "transport", e.transport);
        if (is_turn(&e) && cfg->services.turn_secret[0]) {
            add_credentials(s, cfg->services.turn_secret, user, cfg->services.turn_ttl);
        }
        n++;
    }
    return n;
}

static bool from_local_account(const struct service_ctx *ctx)
{
    const struct signal *r = ctx->req;
    return r->from.local != NULL && r->from.domain != NULL &&
           strcmp(r->from.domain, r->to.domain) == 0;
}

static int services_get(struct service_ctx *ctx)
{
    if (!from_local_account(ctx)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    struct xml_node *out = xml_node_new(NS_EXTDISCO, "services");
    const char *type = xml_node_attr(ctx->query, "type");
    list_services(ctx, out, type, NULL);
    return service_reply_result(ctx, out);
}

static int credentials_get(struct service_ctx *ctx)
{
    if (!from_local_account(ctx)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    const struct xml_node *want = xml_node_child(ctx->query, NS_EXTDISCO, "service");
    const char *host = want ? xml_node_attr(want, "host") : NULL;
    if (host == NULL) {
        return service_reply_error(ctx, "modify", "bad-request");
    }
    struct xml_node *out = xml_node_new(NS_EXTDISCO, "credentials");
    if (list_services(ctx, out, xml_node_attr(want, "type"), host) == 0) {
        xml_node_unref(out);
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    return service_reply_result(ctx, out);
}

const struct service service_extdisco = {
    .name = "extdisco",
    .iq =
        (const struct service_iq[]){
            { NS_EXTDISCO, "services", .get = services_get, .scopes = SERVICE_SCOPE_SERVER },
            { NS_EXTDISCO, "credentials", .get = credentials_get, .scopes = SERVICE_SCOPE_SERVER },
            { 0 } },
    .features = (const char *[]){ NS_EXTDISCO, NULL },
};
