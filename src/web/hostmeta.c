/* hostmeta.c: XEP-0156 /.well-known/host-meta (XRD) and host-meta.json (JRD): where a web client
 * finds the WebSocket endpoint of this listener. */
#include <stdio.h>
#include <string.h>

#include "core/server.h"
#include "web/web_int.h"
#include "xml/xml.h"
#include "xmpp/conn.h"

#define REL_WS "urn:xmpp:alt-connections:websocket"
#define REL_BOSH "urn:xmpp:alt-connections:xbosh"

/* The base URL with the scheme of `ws` (ws(s):// or http(s)://): http.public_url, or the
 * request's Host over this socket's scheme. */
static void base_url(const struct conn *c, const struct web_req *r, bool ws, struct buf *out)
{
    const char *base = worker_ctx()->cfg->http.public_url;
    const char *scheme = ws ? "ws" : "http";
    if (strncmp(base, "https://", 8) == 0) {
        buf_printf(out, "%ss://%s", scheme, base + 8);
    } else if (strncmp(base, "http://", 7) == 0) {
        buf_printf(out, "%s://%s", scheme, base + 7);
    } else {
        buf_printf(out, "%s%s://", scheme, c->tls ? "s" : "");
        /* A Host header with characters outside a host name is not echoed. */
        bool ok = r->host.len > 0;
        for (size_t i = 0; i < r->host.len; i++) {
            char ch = r->host.p[i];
            ok = ok &&
                 (ch == '.' || ch == ':' || ch == '-' || ch == '[' || ch == ']' ||
                  (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'));
        }
        buf_append_strv(out, ok ? r->host : strv_c(worker_ctx()->cfg->server.main_domain));
    }
}

void web__host_meta(struct conn *c, const struct web_req *r, bool json)
{
    struct buf url, bosh, body;
    buf_init(&url, 2048);
    buf_init(&bosh, 2048);
    buf_init(&body, 8192);
    base_url(c, r, true, &url);
    buf_append_c(&url, "/xmpp-websocket");
    base_url(c, r, false, &bosh);
    buf_append_c(&bosh, "/http-bind");
    if (json) {
        /* The URLs hold no quote or backslash: the host is checked above. */
        buf_printf(&body,
                   "{\"links\":[{\"rel\":\"" REL_WS "\",\"href\":\"%s\"},"
                   "{\"rel\":\"" REL_BOSH "\",\"href\":\"%s\"}]}\n",
                   buf_cstr(&url), buf_cstr(&bosh));
    } else {
        buf_append_c(&body, "<?xml version='1.0' encoding='utf-8'?>\n"
                            "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n"
                            "  <Link rel='" REL_WS "' href='");
        xml_escape_append(&body, buf_strv(&url), true);
        buf_append_c(&body, "'/>\n  <Link rel='" REL_BOSH "' href='");
        xml_escape_append(&body, buf_strv(&bosh), true);
        buf_append_c(&body, "'/>\n</XRD>\n");
    }
    struct buf extra;
    buf_init(&extra, 4096);
    const char *origins = worker_ctx()->cfg->http.cors_origins;
    if (strcmp(origins, "*") == 0) {
        buf_append_c(&extra, "Access-Control-Allow-Origin: *\r\n");
    } else if (r->origin.len > 0 && web__origin_allowed(origins, r->origin)) {
        buf_append_c(&extra, "Access-Control-Allow-Origin: ");
        buf_append_strv(&extra, r->origin);
        buf_append_c(&extra, "\r\nVary: Origin\r\n");
    }
    web__respond(c, 200, json ? "application/json" : "application/xrd+xml; charset=utf-8", extra.p,
                 body.p, strv_eq_c(r->method, "HEAD") ? 0 : body.len);
    buf_cleanup(&extra);
    buf_cleanup(&url);
    buf_cleanup(&bosh);
    buf_cleanup(&body);
}
