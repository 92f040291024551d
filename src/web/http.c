/* http.c: the HTTP owner of a connection on an http.listener socket: reads requests (HTTP/1.1,
 * keep-alive), routes them (WebSocket upgrade, host-meta, CORS preflight), answers errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "web/web.h"
#include "web/web_int.h"
#include "xmpp/conn.h"

/* An HTTP connection is closed after this long without a byte from the client (or, during a
 * download, without the client taking a chunk). */
#define WEB_IDLE_MS 75000
/* A download goes out in chunks of this size, each when the send queue is empty. */
#define WEB_CHUNK 65536

struct web_http {
    struct conn *c;
    struct buf in;          /* the request being read */
    bool done;              /* the connection closes after the current answer */
    bool requested;         /* a whole request head came: the pre-authentication deadlines end */
    void *sink;             /* an upload PUT receiving its body */
    long long left;         /* bytes of that body still to come */
    void *bosh;             /* the BOSH session holding our request */
    int move_to;            /* the worker of the BOSH session of our request, or -1 */
    struct web_download dl; /* a download being sent */
    bool close_after;       /* the connection closes after the download */
};

static const char *status_text(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 426:
        return "Upgrade Required";
    case 416:
        return "Range Not Satisfiable";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    default:
        return "Error";
    }
}

static void head_to(struct buf *b, int status, const char *ctype, const char *extra, long long clen)
{
    buf_printf(b, "HTTP/1.1 %d %s\r\n", status, status_text(status));
    if (ctype) {
        buf_printf(b, "Content-Type: %s\r\n", ctype);
    }
    if (status != 101 && status != 204) {
        buf_printf(b, "Content-Length: %lld\r\n", clen);
    }
    buf_append_c(b, "X-Content-Type-Options: nosniff\r\n");
    if (extra) {
        buf_append_c(b, extra);
    }
    buf_append_c(b, "\r\n");
}

void web__respond_head(struct conn *c, int status, const char *ctype, const char *extra,
                       long long clen)
{
    struct buf b;
    buf_init(&b, WEB_MAX_HEAD);
    head_to(&b, status, ctype, extra, clen);
    conn_write(c, b.p, b.len);
    buf_cleanup(&b);
}

void web__respond(struct conn *c, int status, const char *ctype, const char *extra,
                  const char *body, size_t len)
{
    struct buf b;
    buf_init(&b, WEB_MAX_HEAD + len);
    head_to(&b, status, ctype, extra, (long long)len);
    if (len > 0) {
        buf_append(&b, body, len);
    }
    conn_write(c, b.p, b.len);
    buf_cleanup(&b);
}

void web__error_with(struct conn *c, int status, const char *text, const char *extra)
{
    char body[256], head[1024];
    int n = snprintf(body, sizeof(body), "%d %s%s%s\n", status, status_text(status),
                     text ? ": " : "", text ? text : "");
    snprintf(head, sizeof(head), "Connection: close\r\n%s", extra ? extra : "");
    web__respond(c, status, "text/plain; charset=utf-8", head, body, (size_t)n);
}

void web__error(struct conn *c, int status, const char *text)
{
    web__error_with(c, status, text, NULL);
}

/* Whether the comma list `value` holds `item` (case-insensitive, blanks around items). */
static bool list_has(struct strv value, struct strv item)
{
    while (value.len > 0) {
        const char *comma = memchr(value.p, ',', value.len);
        size_t n = comma ? (size_t)(comma - value.p) : value.len;
        struct strv one = strv_trim((struct strv){ value.p, n });
        if (one.len == item.len && one.len > 0 && strncasecmp(one.p, item.p, one.len) == 0) {
            return true;
        }
        value.p += comma ? n + 1 : n;
        value.len -= comma ? n + 1 : n;
    }
    return false;
}

bool web__has_token(struct strv value, const char *token)
{
    return list_has(value, strv_c(token));
}

bool web__plain_secure(const struct conn *c)
{
    int plain = worker_ctx()->cfg->http.plain_secure;
    bool loopback = strncmp(c->addr, "127.", 4) == 0 || strcmp(c->addr, "::1") == 0 ||
                    strncmp(c->addr, "::ffff:127.", 11) == 0;
    return plain == PLAIN_SECURE_YES || (plain == PLAIN_SECURE_LOOPBACK && loopback);
}

bool web__origin_allowed(const char *list, struct strv origin)
{
    return strcmp(list, "*") == 0 || list_has(strv_c(list), origin);
}

/* ---- reading a request ---- */

/* The value of header `name` in the head's header lines, or an empty view. */
static void read_headers(struct web_req *r, struct strv lines)
{
    static const struct {
        const char *name;
        size_t off;
    } wanted[] = {
        { "host", offsetof(struct web_req, host) },
        { "origin", offsetof(struct web_req, origin) },
        { "upgrade", offsetof(struct web_req, upgrade) },
        { "connection", offsetof(struct web_req, connection) },
        { "sec-websocket-key", offsetof(struct web_req, ws_key) },
        { "sec-websocket-version", offsetof(struct web_req, ws_version) },
        { "sec-websocket-protocol", offsetof(struct web_req, ws_protocol) },
        { "access-control-request-method", offsetof(struct web_req, acr_method) },
        { "authorization", offsetof(struct web_req, authorization) },
        { "content-type", offsetof(struct web_req, content_type) },
        { "content-length", offsetof(struct web_req, clen_text) },
        { "range", offsetof(struct web_req, range) },
    };
    while (lines.len > 0) {
        const char *eol = memchr(lines.p, '\n', lines.len);
        size_t n = eol ? (size_t)(eol - lines.p) + 1 : lines.len;
        struct strv line = { lines.p, n };
        lines.p += n;
        lines.len -= n;
        while (line.len > 0 && (line.p[line.len - 1] == '\n' || line.p[line.len - 1] == '\r')) {
            line.len--;
        }
        const char *colon = memchr(line.p, ':', line.len);
        if (colon == NULL) {
            continue;
        }
        struct strv name = { line.p, (size_t)(colon - line.p) };
        struct strv value = strv_trim((struct strv){ colon + 1, line.len - name.len - 1 });
        for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
            if (name.len == strlen(wanted[i].name) &&
                strncasecmp(name.p, wanted[i].name, name.len) == 0) {
                *(struct strv *)((char *)r + wanted[i].off) = value;
            }
        }
    }
}

/* Parses the request line and headers of `head` (up to the blank line). */
static int parse_head(struct strv head, struct web_req *r)
{
    memset(r, 0, sizeof(*r));
    const char *eol = memchr(head.p, '\n', head.len);
    if (eol == NULL) {
        return ERR_PROTO;
    }
    struct strv line = { head.p, (size_t)(eol - head.p) };
    if (line.len > 0 && line.p[line.len - 1] == '\r') {
        line.len--;
    }
    const char *sp1 = memchr(line.p, ' ', line.len);
    if (sp1 == NULL) {
        return ERR_PROTO;
    }
    const char *rest = sp1 + 1;
    size_t rest_len = line.len - (size_t)(rest - line.p);
    const char *sp2 = memchr(rest, ' ', rest_len);
    if (sp2 == NULL || sp1 == line.p || sp2 == rest || rest[0] != '/') {
        return ERR_PROTO;
    }
    struct strv version = { sp2 + 1, rest_len - (size_t)(sp2 + 1 - rest) };
    if (!strv_eq_c(version, "HTTP/1.1") && !strv_eq_c(version, "HTTP/1.0")) {
        return ERR_PROTO;
    }
    r->http10 = strv_eq_c(version, "HTTP/1.0");
    r->method = (struct strv){ line.p, (size_t)(sp1 - line.p) };
    r->path = (struct strv){ rest, (size_t)(sp2 - rest) };
    const char *q = memchr(r->path.p, '?', r->path.len);
    if (q) {
        r->path.len = (size_t)(q - r->path.p);
    }
    read_headers(r, (struct strv){ eol + 1, head.len - (size_t)(eol + 1 - head.p) });
    return 0;
}

/* The CORS headers of an answer to a page of `origin` (none when not allowed). */
static void cors_headers(const struct web_req *r, struct buf *extra)
{
    const char *list = worker_ctx()->cfg->http.cors_origins;
    if (list[0] == '\0' || r->origin.len == 0) {
        return;
    }
    if (strcmp(list, "*") == 0) {
        buf_append_c(extra, "Access-Control-Allow-Origin: *\r\n");
    } else if (web__origin_allowed(list, r->origin)) {
        buf_append_c(extra, "Access-Control-Allow-Origin: ");
        buf_append_strv(extra, r->origin);
        buf_append_c(extra, "\r\nVary: Origin\r\n");
    }
}

static void preflight(struct conn *c, const struct web_req *r)
{
    struct buf extra;
    buf_init(&extra, 4096);
    cors_headers(r, &extra);
    buf_append_c(&extra, "Access-Control-Allow-Methods: GET, POST, PUT, OPTIONS\r\n"
                         "Access-Control-Allow-Headers: Content-Type, Authorization\r\n"
                         "Access-Control-Max-Age: 86400\r\n");
    web__respond(c, 204, NULL, extra.p, NULL, 0);
    buf_cleanup(&extra);
}

/* One request, complete in the buffer (an upload PUT: its head). Returns 1 when the connection
 * became a WebSocket, 2 when a PUT body follows, 3 when the request moves to another worker, 4
 * when a download's body follows, 0 to go on reading requests, ERR_CLOSED when it closes. */
static int route(struct web_http *h, const struct web_req *r)
{
    struct conn *c = h->c;
    bool get = strv_eq_c(r->method, "GET") || strv_eq_c(r->method, "HEAD");
    if (strv_eq_c(r->path, "/xmpp-websocket")) {
        if (!get) {
            web__error(c, 405, "use GET with Upgrade: websocket");
            return ERR_CLOSED;
        }
        return web__ws_upgrade(c, r) == 0 ? 1 : ERR_CLOSED;
    }
    if (strv_eq_c(r->method, "OPTIONS")) {
        preflight(c, r);
        return 0;
    }
    bool json = strv_eq_c(r->path, "/.well-known/host-meta.json");
    if (json || strv_eq_c(r->path, "/.well-known/host-meta")) {
        if (!get) {
            web__error(c, 405, NULL);
            return ERR_CLOSED;
        }
        web__host_meta(c, r, json);
        return 0;
    }
    if (strv_eq_c(r->path, "/http-bind")) {
        if (!strv_eq_c(r->method, "POST")) {
            web__error(c, 405, "BOSH (XEP-0206): POST a <body/>");
            return ERR_CLOSED;
        }
        struct buf extra;
        buf_init(&extra, 4096);
        cors_headers(r, &extra);
        int rc = web__bosh(c, r, buf_cstr(&extra), &h->move_to);
        buf_cleanup(&extra);
        return h->move_to >= 0 ? 3 : rc;
    }
    if (r->path.len > 8 && strncmp(r->path.p, "/invite/", 8) == 0 && get) {
        web__invite_page(c, r);
        return 0;
    }
    if (r->path.len > 8 && strncmp(r->path.p, "/upload/", 8) == 0) {
        struct buf extra;
        buf_init(&extra, 4096);
        cors_headers(r, &extra);
        int rc = 0;
        if (strv_eq_c(r->method, "PUT")) {
            rc = web__upload_put_start(c, r, buf_cstr(&extra), &h->sink) == 0 ? 2 : ERR_CLOSED;
        } else if (get) {
            rc = web__upload_get(c, r, buf_cstr(&extra), &h->dl) == 1 ? 4 : 0;
        } else {
            web__error_with(c, 405, NULL, buf_cstr(&extra));
            rc = ERR_CLOSED;
        }
        buf_cleanup(&extra);
        return rc;
    }
    web__error(c, 404, NULL);
    return ERR_CLOSED;
}

/* The head's length (with its blank line), 0 when more bytes are needed, a negative code when
 * it is too long. */
static long head_length(const struct buf *in)
{
    for (size_t i = 0; i + 1 < in->len; i++) {
        if (in->p[i] == '\n' && (in->p[i + 1] == '\n' || (in->p[i + 1] == '\r' && i + 2 < in->len &&
                                                          in->p[i + 2] == '\n'))) {
            return i > WEB_MAX_HEAD ? ERR_LIMIT : (long)(i + (in->p[i + 1] == '\n' ? 2 : 3));
        }
    }
    return in->len > WEB_MAX_HEAD ? ERR_LIMIT : 0;
}

static void download_end(struct web_http *h)
{
    if (h->dl.fd >= 0) {
        close(h->dl.fd);
        h->dl.fd = -1;
    }
}

static void http_free(struct web_http *h)
{
    download_end(h);
    if (h->bosh) {
        web__bosh_gone(h->bosh, h->c);
        h->bosh = NULL;
    }
    if (h->sink) {
        web__upload_put_end(h->c, h->sink, false);
        h->sink = NULL;
    }
    buf_cleanup(&h->in);
    free(h);
}

static void idle_expired(void *ud)
{
    struct web_http *h = ud;
    h->done = true;
    conn_close(h->c, "HTTP connection idle");
}

/* Ends the connection after an answer that says so (or a protocol error). */
static void finish(struct web_http *h, const char *why)
{
    h->done = true;
    conn_close(h->c, why);
}

/* Body bytes of an upload PUT; returns how many were used. */
static size_t feed_sink(struct web_http *h, const char *data, size_t len)
{
    size_t n = (long long)len < h->left ? len : (size_t)h->left;
    if (web__upload_put_data(h->sink, data, n) != 0) {
        web__upload_put_end(h->c, h->sink, false);
        h->sink = NULL;
        web__error(h->c, 500, NULL);
        finish(h, "upload write failed");
        return len;
    }
    h->left -= (long long)n;
    if (h->left == 0) {
        web__upload_put_end(h->c, h->sink, true);
        h->sink = NULL;
    }
    return n;
}

/* Parses the head of `n` bytes at the start of h->in; the status of a refusal (sent) or 0. */
static int read_head(struct web_http *h, long n, struct web_req *r)
{
    if (n < 0 || parse_head((struct strv){ h->in.p, (size_t)n }, r) != 0) {
        web__error(h->c, n < 0 ? 431 : 400, n < 0 ? NULL : "malformed request");
        return 400;
    }
    r->content_length = -1;
    if (r->clen_text.len > 0) {
        char num[24];
        char *end = NULL;
        snprintf(num, sizeof(num), "%.*s", (int)r->clen_text.len, r->clen_text.p);
        r->content_length = strtoll(num, &end, 10);
        if (r->clen_text.len >= sizeof(num) || *end != '\0' || r->content_length < 0) {
            web__error(h->c, 400, "bad Content-Length");
            return 400;
        }
    }
    bool put = strv_eq_c(r->method, "PUT");
    if (!put && r->content_length > WEB_MAX_BODY) {
        web__error(h->c, 413, NULL);
        return 413;
    }
    return 0;
}

/* Runs the complete requests in h->in. Returns -1, or after a WebSocket upgrade the length of
 * h->in's bytes up to the end of that request (what follows belongs to the framing). */
static long process(struct web_http *h)
{
    long eaten = 0;
    while (!h->done && h->move_to < 0 && h->bosh == NULL && h->sink == NULL && h->dl.fd < 0) {
        long n = head_length(&h->in);
        if (n == 0) {
            return -1;
        }
        struct web_req r;
        if (read_head(h, n, &r) != 0) {
            finish(h, "bad HTTP request");
            return -1;
        }
        h->requested = true;
        bool put = strv_eq_c(r.method, "PUT");
        size_t body = !put && r.content_length > 0 ? (size_t)r.content_length : 0;
        if (h->in.len < (size_t)n + body) {
            return -1; /* the rest of the body */
        }
        r.body = (struct strv){ h->in.p + n, body };
        int rc = route(h, &r);
        if (rc == 1) {
            return eaten + n;
        }
        if (rc == 3) {
            return -1; /* made again on the BOSH session's worker */
        }
        buf_consume(&h->in, (size_t)n + body);
        eaten += n + (long)body;
        if (rc == 2) {
            h->left = r.content_length;
            size_t k = h->left > 0 ? feed_sink(h, h->in.p, h->in.len) : 0;
            if (h->left == 0 && h->sink) {
                web__upload_put_end(h->c, h->sink, true);
                h->sink = NULL;
            }
            buf_consume(&h->in, k);
            eaten += (long)k;
            continue;
        }
        bool close = r.http10 || web__has_token(r.connection, "close");
        if (rc == 4) {
            h->close_after = close; /* after the download (op_writable) */
        } else if (rc != 0 || close) {
            finish(h, NULL);
        }
    }
    return -1;
}

static size_t op_read(void *owner, const char *data, size_t len)
{
    struct web_http *h = owner;
    struct conn *c = h->c;
    if (h->bosh == NULL) {
        loop_timer_start(c->loop, &c->timer, WEB_IDLE_MS, idle_expired, h);
    }
    size_t used = 0;
    if (h->done) {
        return len;
    }
    if (h->sink && h->in.len == 0) {
        used = feed_sink(h, data, len);
        if (h->sink || h->done || used == len) {
            return len;
        }
    }
    size_t before = h->in.len;
    if (buf_append(&h->in, data + used, len - used) != 0) {
        web__error(c, 431, NULL);
        finish(h, "HTTP request too large");
        return len;
    }
    long upgraded = process(h);
    if (upgraded >= 0) {
        /* A WebSocket now: the stream owns the conn and the framing reads the rest. */
        size_t n = used + (size_t)upgraded - before;
        http_free(h);
        return n;
    }
    return len;
}

/* The send queue is empty: the next chunk of a download; after the last, the next request. */
static void op_writable(void *owner)
{
    struct web_http *h = owner;
    if (h->dl.fd < 0 || h->done) {
        return;
    }
    /* Half the send queue's limit at most, so that a chunk (and its TLS records) always fits. */
    size_t size = h->c->out.max / 2 < WEB_CHUNK ? h->c->out.max / 2 : WEB_CHUNK;
    char *chunk = xmalloc(size);
    size_t want = h->dl.left < (long long)size ? (size_t)h->dl.left : size;
    ssize_t n = pread(h->dl.fd, chunk, want, (off_t)h->dl.off);
    if (n > 0) {
        conn_write(h->c, chunk, (size_t)n);
        h->dl.off += n;
        h->dl.left -= n;
        loop_timer_start(h->c->loop, &h->c->timer, WEB_IDLE_MS, idle_expired, h);
    }
    free(chunk);
    if (n <= 0) {
        log_conn(&h->c->log, LOG_PROBLEMS, "upload: the file ended early");
        download_end(h);
        finish(h, "upload file read failed");
        return;
    }
    if (h->dl.left > 0) {
        return;
    }
    download_end(h);
    if (h->close_after) {
        finish(h, NULL);
    } else if (process(h) >= 0) {
        http_free(h); /* a pipelined WebSocket upgrade: the stream owns the conn now */
    }
}

static int op_wants_move(void *owner)
{
    const struct web_http *h = owner;
    return h->move_to;
}

static void op_moved(void *owner)
{
    struct web_http *h = owner;
    h->move_to = -1;
    loop_timer_start(h->c->loop, &h->c->timer, WEB_IDLE_MS, idle_expired, h);
    process(h);
}

static void op_closed(void *owner, const char *why)
{
    (void)why;
    struct web_http *h = owner;
    if (h->bosh) {
        web__bosh_gone(h->bosh, h->c);
        h->bosh = NULL;
    }
}

void web__bosh_held(struct conn *c, void *session)
{
    struct web_http *h = c->owner;
    h->bosh = session;
    loop_timer_stop(c->loop, &c->timer);
}

void web__bosh_answered(struct conn *c)
{
    struct web_http *h = c->owner;
    h->bosh = NULL;
    loop_timer_start(c->loop, &c->timer, WEB_IDLE_MS, idle_expired, h);
}

static void op_free(void *owner)
{
    http_free(owner);
}

static void op_expired(void *owner, const char *text)
{
    (void)text;
    finish(owner, "HTTP connection idle");
}

static bool op_authenticated(void *owner)
{
    const struct web_http *h = owner;
    return h->requested;
}

static const struct conn_ops http_ops = {
    .read = op_read,
    .closed = op_closed,
    .wants_move = op_wants_move,
    .moved = op_moved,
    .free = op_free,
    .expired = op_expired,
    .authenticated = op_authenticated,
    .writable = op_writable,
};

void web_http_start(struct conn *c)
{
    struct web_http *h = xcalloc(1, sizeof(*h));
    h->c = c;
    h->move_to = -1;
    h->dl.fd = -1;
    buf_init(&h->in, WEB_MAX_HEAD + WEB_MAX_BODY + 1);
    c->ops = &http_ops;
    c->owner = h;
    loop_timer_start(c->loop, &c->timer, WEB_IDLE_MS, idle_expired, h);
}
