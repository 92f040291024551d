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
    struct strv authorization;
    struct strv content_type;
    struct strv clen_text;
    struct strv range;        /* Range: bytes=... */
    long long content_length; /* -1 when absent */
    struct strv body;         /* a complete body (not for upload PUTs, which stream) */
    bool http10;
};

#define WEB_MAX_BODY 65536

/* A file sent in chunks as the connection can take them (an upload GET). */
struct web_download {
    int fd; /* -1: none */
    long long off;
    long long left;
};

/* http.c: an answer's head alone, with Content-Length `clen` (its body follows, or HEAD). */
void web__respond_head(struct conn *c, int status, const char *ctype, const char *extra,
                       long long clen);
/* http.c: a complete answer; `extra` holds more header lines ("Name: value\r\n"), may be NULL. */
void web__respond(struct conn *c, int status, const char *ctype, const char *extra,
                  const char *body, size_t len);
/* A short error answer with a text body (and more header lines in `extra`, may be NULL); the
 * connection closes after it. */
void web__error(struct conn *c, int status, const char *text);
void web__error_with(struct conn *c, int status, const char *text, const char *extra);
/* invite.c: GET /invite/<token>, an invitation's landing page (accounts/invite_page.h). */
void web__invite_page(struct conn *c, const struct web_req *r);
/* Whether a clear-text connection counts as encrypted (http.plain_secure: a local proxy). */
bool web__plain_secure(const struct conn *c);
/* Whether `origin` is in the comma list `list` ("*" = any). */
bool web__origin_allowed(const char *list, struct strv origin);
/* Whether a comma list header `value` holds `token` (case-insensitive). */
bool web__has_token(struct strv value, const char *token);

/* ws.c: the RFC 7395 upgrade: answers 101 and puts the WebSocket framing and a client stream on
 * the connection. Returns 0, or the HTTP status of a refusal (already sent). */
int web__ws_upgrade(struct conn *c, const struct web_req *r);

/* upload.c: the HTTP side of XEP-0363. A PUT to a slot: checks the request and opens the file
 * (*sink), or answers a refusal and returns its status; then the body's bytes, then the end
 * (complete: all bytes came; answers 201). */
int web__upload_put_start(struct conn *c, const struct web_req *r, const char *cors, void **sink);
int web__upload_put_data(void *sink, const char *p, size_t n);
void web__upload_put_end(struct conn *c, void *sink, bool complete);
/* GET or HEAD of an uploaded file (a single Range: bytes= gets 206); `cors` holds header lines
 * to add. Returns 1 when the body follows from dl (the caller streams it), else 0. */
int web__upload_get(struct conn *c, const struct web_req *r, const char *cors,
                    struct web_download *dl);

/* bosh.c: XEP-0206 at /http-bind. A request (its <body/> in r->body) is answered or held; when
 * its session lives on another worker, *move_to names it and nothing was answered: the request
 * is made again there. Returns 0 or ERR_CLOSED. */
int web__bosh(struct conn *c, const struct web_req *r, const char *cors, int *move_to);
/* The held request's connection closed. */
void web__bosh_gone(void *session, struct conn *c);
/* http.c: the connection's request is held by a session / was answered. */
void web__bosh_held(struct conn *c, void *session);
void web__bosh_answered(struct conn *c);

/* hostmeta.c: XEP-0156 /.well-known/host-meta and host-meta.json. */
void web__host_meta(struct conn *c, const struct web_req *r, bool json);

#endif
