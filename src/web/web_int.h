/* web_int.h: what the files of src/web share: one parsed HTTP request and the answers. */
#ifndef STARLING_WEB_WEB_INT_H
#define STARLING_WEB_WEB_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct conn;

#define WEB_MAX_HEAD 16384

/* One request's line and the headers src/web reads (views into the connection's buffer). */
struct web_req {
    struct strv method;
    struct strv path; /* without the query */
    struct strv host;
    struct strv origin;
    struct strv upgrade;
    struct strv connection;
    struct strv ws_key;
    struct strv ws_version;
    struct strv ws_protocol;
    struct strv acr_method; /* Access-Control-Request-Method */
    bool http10;
};

/* http.c: a complete answer; `extra` holds more header lines ("Name: value\r\n"), may be NULL. */
void web__respond(struct conn *c, int status, const char *ctype, const char *extra,
                  const char *body, size_t len);
/* A short error answer with a text body. */
void web__error(struct conn *c, int status, const char *text);
/* Whether `origin` is in the comma list `list` ("*" = any). */
bool web__origin_allowed(const char *list, struct strv origin);
/* Whether a comma list header `value` holds `token` (case-insensitive). */
bool web__has_token(struct strv value, const char *token);

/* ws.c: the RFC 7395 upgrade: answers 101 and puts the WebSocket framing and a client stream on
 * the connection. Returns 0, or the HTTP status of a refusal (already sent). */
int web__ws_upgrade(struct conn *c, const struct web_req *r);

/* hostmeta.c: XEP-0156 /.well-known/host-meta and host-meta.json. */
void web__host_meta(struct conn *c, const struct web_req *r, bool json);

#endif
