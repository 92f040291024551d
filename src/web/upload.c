/* upload.c: XEP-0363 HTTP File Upload: the service upload.<domain> (a router component: disco,
 * slot requests with size, type and quota checks) and its HTTP side on the http.listener sockets
 * (PUT with the slot's bearer token, GET with safe headers), files under DATADIR/upload/, and the
 * clean-up of expired slots. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "signal/router.h"
#include "signal/signal.h"
#include "store/store_upload.h"
#include "web/web.h"
#include "web/web_int.h"
#include "xml/ns.h"
#include "xmpp/conn.h"

#define UPLOAD_PREFIX "upload."
#define UPLOAD_PATH "/upload/"

static const struct settings_http *cfg_http(void)
{
    return &worker_ctx()->cfg->http;
}

/* ---- the service ---- */

/* The service runs while it may take files and HTTP sockets can serve them. */
static bool enabled(void)
{
    return cfg_http()->upload_max_size > 0 && cfg_http()->listener.count > 0;
}

/* The local domain of `upload.<domain>` into `out`, or false. */
static bool service_domain(const char *domain, struct buf *out)
{
    size_t n = strlen(UPLOAD_PREFIX);
    return enabled() && strncmp(domain, UPLOAD_PREFIX, n) == 0 &&
           router_is_local_domain(domain + n, out);
}

static bool up_owns(const char *domain)
{
    struct buf b;
    buf_init(&b, 256);
    bool yes = service_domain(domain, &b);
    buf_cleanup(&b);
    return yes;
}

bool web_upload_service_of(const char *domain, struct buf *out)
{
    if (!enabled()) {
        return false;
    }
    return buf_printf(out, UPLOAD_PREFIX "%s", domain) == 0;
}

static void add_field(struct xml_node *x, const char *var, const char *type, const char *value)
{
    struct xml_node *f = xml_node_add_child(x, NS_XDATA, "field");
    xml_node_set_attr(f, "var", var);
    if (type) {
        xml_node_set_attr(f, "type", type);
    }
    struct xml_node *v = xml_node_add_child(f, NS_XDATA, "value");
    xml_node_add_text(v, value, strlen(value));
}

static struct xml_node *disco_info(void)
{
    struct xml_node *q = xml_node_new(NS_DISCO_INFO, "query");
    struct xml_node *id = xml_node_add_child(q, NS_DISCO_INFO, "identity");
    xml_node_set_attr(id, "category", "store");
    xml_node_set_attr(id, "type", "file");
    xml_node_set_attr(id, "name", "HTTP File Upload");
    static const char *const features[] = { NS_DISCO_INFO, NS_HTTP_UPLOAD };
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
        xml_node_set_attr(xml_node_add_child(q, NS_DISCO_INFO, "feature"), "var", features[i]);
    }
    struct xml_node *x = xml_node_add_child(q, NS_XDATA, "x");
    xml_node_set_attr(x, "type", "result");
    add_field(x, "FORM_TYPE", "hidden", NS_HTTP_UPLOAD);
    char max[32];
    snprintf(max, sizeof(max), "%ld", cfg_http()->upload_max_size);
    add_field(x, "max-file-size", NULL, max);
    return q;
}

/* An error answer with an application-specific child and/or a text. */
static void reply_error(const struct signal *req, const char *type, const char *condition,
                        struct xml_node *app, const char *text)
{
    struct signal *r = signal_error_new(req, type, condition);
    if (r == NULL) {
        xml_node_unref(app);
        return;
    }
    struct xml_node *err = NULL;
    for (struct xml_node *n = r->xmpp_data ? r->xmpp_data->first_child : NULL; n; n = n->next) {
        err = n->name && strcmp(n->name, "error") == 0 ? n : err;
    }
    if (err && text) {
        struct xml_node *t = xml_node_add_child(err, NS_STANZAS, "text");
        xml_node_add_text(t, text, strlen(text));
    }
    if (err && app) {
        xml_node_append_copy(err, app);
    }
    xml_node_unref(app);
    router_submit(r);
}

/* The base URL of the HTTP listener for the slot URLs: http.public_url, or the domain at the
 * first TLS socket (else the first socket). */
static void base_url(const char *domain, struct buf *out)
{
    const struct settings_http *h = cfg_http();
    if (h->public_url[0]) {
        buf_append_c(out, h->public_url);
        return;
    }
    const struct listen_socket *s = NULL;
    for (int i = 0; i < h->listener.count; i++) {
        if (s == NULL || (!s->tls && h->listener.sockets[i].tls)) {
            s = &h->listener.sockets[i];
        }
    }
    buf_printf(out, "%s://%s:%u", s && !s->tls ? "http" : "https", domain, s ? s->port : 5281);
}

/* A file name safe in a URL path and a header: letters, digits, '.', '-', '_' (others '_'). */
static void safe_name(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < size && n < 128; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
    if (n == 0) {
        snprintf(out, size, "file");
    } else if (out[0] == '.') {
        out[0] = '_'; /* no hidden file names */
    }
}

/* A media type of token characters (type/subtype), else application/octet-stream. */
static void safe_type(const char *in, char *out, size_t size)
{
    const char *slash = in ? strchr(in, '/') : NULL;
    bool ok = slash != NULL && slash != in && slash[1] != '\0' && strlen(in) < size;
    for (const char *p = in; ok && *p; p++) {
        char c = *p;
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             strchr("!#$&^_.+-/", c) != NULL;
        ok = ok && (c != '/' || p == slash);
    }
    snprintf(out, size, "%s", ok ? in : "application/octet-stream");
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char rnd[32];
    RAND_bytes(rnd, (int)bytes);
    for (size_t i = 0; i < bytes; i++) {
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
    }
}

static struct xml_node *slot_node(const struct store_upload_slot *s, const char *domain)
{
    struct buf url;
    buf_init(&url, 2048);
    base_url(domain, &url);
    buf_printf(&url, UPLOAD_PATH "%s/%s", s->token, s->filename);
    struct xml_node *slot = xml_node_new(NS_HTTP_UPLOAD, "slot");
    struct xml_node *put = xml_node_add_child(slot, NS_HTTP_UPLOAD, "put");
    xml_node_set_attr(put, "url", buf_cstr(&url));
    struct xml_node *h = xml_node_add_child(put, NS_HTTP_UPLOAD, "header");
    xml_node_set_attr(h, "name", "Authorization");
    char bearer[80];
    snprintf(bearer, sizeof(bearer), "Bearer %s", s->secret);
    xml_node_add_text(h, bearer, strlen(bearer));
    xml_node_set_attr(xml_node_add_child(slot, NS_HTTP_UPLOAD, "get"), "url", buf_cstr(&url));
    buf_cleanup(&url);
    return slot;
}

static void request_slot(const struct signal *sig, const struct xml_node *req, const char *domain)
{
    const struct settings_http *h = cfg_http();
    if (sig->from.local == NULL || strcmp(sig->from.domain, domain) != 0) {
        reply_error(sig, "cancel", "not-allowed", NULL, "only accounts of this domain may upload");
        return;
    }
    const char *size_s = xml_node_attr(req, "size");
    const char *filename = xml_node_attr(req, "filename");
    char *end = NULL;
    long long size = size_s ? strtoll(size_s, &end, 10) : -1;
    if (filename == NULL || size_s == NULL || *end != '\0' || size <= 0) {
        reply_error(sig, "modify", "bad-request", NULL, "filename and a positive size expected");
        return;
    }
    if (size > h->upload_max_size) {
        struct xml_node *big = xml_node_new(NS_HTTP_UPLOAD, "file-too-large");
        char max[32];
        snprintf(max, sizeof(max), "%ld", h->upload_max_size);
        xml_node_add_text(xml_node_add_child(big, NS_HTTP_UPLOAD, "max-file-size"), max,
                          strlen(max));
        reply_error(sig, "modify", "not-acceptable", big, "file too large");
        return;
    }
    struct store *st = worker_ctx()->store;
    long long now = (long long)time(NULL), used = 0;
    if (store_upload_used(st, domain, sig->from.local, now, &used) != 0) {
        reply_error(sig, "wait", "internal-server-error", NULL, NULL);
        return;
    }
    if (h->upload_quota > 0 && used + size > h->upload_quota) {
        reply_error(sig, "wait", "resource-constraint", NULL, "upload quota exceeded");
        return;
    }
    struct store_upload_slot s = { .size = size, .expires = now + h->upload_expiry };
    random_hex(s.token, 16);
    random_hex(s.secret, 16);
    snprintf(s.domain, sizeof(s.domain), "%s", domain);
    snprintf(s.name, sizeof(s.name), "%s", sig->from.local);
    safe_name(filename, s.filename, sizeof(s.filename));
    safe_type(xml_node_attr(req, "content-type"), s.ctype, sizeof(s.ctype));
    if (store_upload_add(st, &s) != 0) {
        reply_error(sig, "wait", "internal-server-error", NULL, NULL);
        return;
    }
    log_rec(LOG_TAG_XMPPS, LOG_LOWLEVEL, 0, NULL, "upload slot %s for %s@%s: %lld bytes, %s",
            s.token, s.name, s.domain, size, s.ctype);
    router_submit(signal_result_new(sig, slot_node(&s, sig->to.domain)));
}

static int up_deliver(struct signal *sig)
{
    const struct xml_node *q = sig->xmpp_data ? xml_node_first_element(sig->xmpp_data) : NULL;
    bool get = sig->type && strcmp(sig->type, "get") == 0;
    bool answerable =
        sig->method == SIGNAL_INFO && sig->type && (get || strcmp(sig->type, "set") == 0);
    struct buf domain;
    buf_init(&domain, 256);
    if (!answerable) {
        /* Results, errors, messages and presence for the service are dropped. */
    } else if (!service_domain(sig->to.domain, &domain) || sig->to.local != NULL || q == NULL) {
        router_reply_error(sig, "cancel", "service-unavailable");
    } else if (get && q->ns && strcmp(q->ns, NS_DISCO_INFO) == 0) {
        router_submit(signal_result_new(sig, disco_info()));
    } else if (get && q->ns && strcmp(q->ns, NS_DISCO_ITEMS) == 0) {
        router_submit(signal_result_new(sig, xml_node_new(NS_DISCO_ITEMS, "query")));
    } else if (get && q->ns && strcmp(q->ns, NS_HTTP_UPLOAD) == 0 &&
               strcmp(q->name, "request") == 0) {
        request_slot(sig, q, buf_cstr(&domain));
    } else {
        router_reply_error(sig, "cancel", "service-unavailable");
    }
    buf_cleanup(&domain);
    signal_free(sig);
    return 0;
}

static const struct router_component upload_component = {
    .name = "upload",
    .owns = up_owns,
    .deliver = up_deliver,
};

void web_upload_register(void)
{
    router_register_component(&upload_component);
}

/* ---- files ---- */

static void file_path(const char *token, const char *suffix, char *out, size_t size)
{
    snprintf(out, size, "%s/upload/%s%s", g_server.datadir, token, suffix);
}

/* TOKEN and NAME of a path /upload/TOKEN/NAME; false when it is not one. */
static bool parse_path(struct strv path, char token[64], char name[256])
{
    size_t n = strlen(UPLOAD_PATH);
    if (path.len <= n || strncmp(path.p, UPLOAD_PATH, n) != 0) {
        return false;
    }
    struct strv rest = { path.p + n, path.len - n };
    const char *slash = memchr(rest.p, '/', rest.len);
    if (slash == NULL || slash == rest.p || (size_t)(slash - rest.p) >= 64) {
        return false;
    }
    size_t tl = (size_t)(slash - rest.p), nl = rest.len - tl - 1;
    for (size_t i = 0; i < tl; i++) {
        char c = rest.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    if (nl == 0 || nl >= 256) {
        return false;
    }
    snprintf(token, 64, "%.*s", (int)tl, rest.p);
    snprintf(name, 256, "%.*s", (int)nl, slash + 1);
    return true;
}

/* The slot of a request path; the HTTP status of a failure (answered), or 0. */
static int find_slot(struct conn *c, const struct web_req *r, struct store_upload_slot *s)
{
    char token[64], name[256];
    if (!parse_path(r->path, token, name) || store_upload_get(worker_ctx()->store, token, s) != 0 ||
        strcmp(name, s->filename) != 0 || s->expires <= (long long)time(NULL)) {
        web__error(c, 404, NULL);
        return 404;
    }
    return 0;
}

struct upload_put {
    int fd;
    char cors[512]; /* CORS header lines of the answer */
    long long left;
    char token[64];
    char part[1200];
};

static bool bearer_ok(struct strv auth, const char *secret)
{
    size_t n = strlen("Bearer ");
    size_t sl = strlen(secret);
    return auth.len == n + sl && strncmp(auth.p, "Bearer ", n) == 0 &&
           CRYPTO_memcmp(auth.p + n, secret, sl) == 0;
}

int web__upload_put_start(struct conn *c, const struct web_req *r, const char *cors, void **sink)
{
    struct store_upload_slot s;
    if (find_slot(c, r, &s) != 0) {
        return 404;
    }
    if (!bearer_ok(r->authorization, s.secret)) {
        web__error_with(c, 403, "the slot's Authorization header is required", cors);
        return 403;
    }
    if (s.done) {
        web__error_with(c, 409, "this slot has its file already", cors);
        return 409;
    }
    if (r->content_length != s.size) {
        web__error_with(c, r->content_length > s.size ? 413 : 400,
                        "Content-Length differs from the slot's size", cors);
        return 413;
    }
    if (r->content_type.len > 0 && !strv_eq_c(r->content_type, s.ctype)) {
        web__error_with(c, 400, "Content-Type differs from the slot's", cors);
        return 400;
    }
    struct upload_put *u = xcalloc(1, sizeof(*u));
    u->left = s.size;
    snprintf(u->cors, sizeof(u->cors), "%s", cors);
    snprintf(u->token, sizeof(u->token), "%s", s.token);
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/upload", g_server.datadir);
    mkdir(dir, 0700);
    file_path(s.token, ".part", u->part, sizeof(u->part));
    u->fd = open(u->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (u->fd < 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "upload: cannot create %s: %s", u->part,
                strerror(errno));
        free(u);
        web__error_with(c, 500, NULL, cors);
        return 500;
    }
    *sink = u;
    c->unshaped = true; /* a granted slot: its body comes at the network's speed */
    return 0;
}

int web__upload_put_data(void *sink, const char *p, size_t n)
{
    struct upload_put *u = sink;
    while (n > 0) {
        ssize_t w = write(u->fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return ERR_IO;
        }
        p += w;
        n -= (size_t)w;
        u->left -= w;
    }
    return 0;
}

void web__upload_put_end(struct conn *c, void *sink, bool complete)
{
    struct upload_put *u = sink;
    c->unshaped = false;
    bool ok = complete && u->left == 0 && close(u->fd) == 0;
    if (!complete || !ok) {
        if (complete) {
            web__error(c, 500, NULL);
        } else {
            close(u->fd);
        }
        unlink(u->part);
        free(u);
        return;
    }
    char final[1200];
    file_path(u->token, "", final, sizeof(final));
    if (rename(u->part, final) != 0 || store_upload_done(worker_ctx()->store, u->token) != 0) {
        unlink(u->part);
        web__error(c, 500, NULL);
    } else {
        web__respond(c, 201, "text/plain; charset=utf-8", u->cors, "created\n", 8);
    }
    free(u);
}

/* Types a browser would render as a document or run: served as attachments. */
static bool active_type(const char *t)
{
    static const char *const active[] = {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/css",
        "application/pdf",
        "text/xsl",
        "application/octet-stream",
    };
    for (size_t i = 0; i < sizeof(active) / sizeof(active[0]); i++) {
        if (strcasecmp(t, active[i]) == 0) {
            return true;
        }
    }
    return strncasecmp(t, "text/", 5) != 0 && strncasecmp(t, "image/", 6) != 0 &&
           strncasecmp(t, "audio/", 6) != 0 && strncasecmp(t, "video/", 6) != 0;
}

/* A single range "bytes=a-b", "bytes=a-" or "bytes=-n" of a file of `size` bytes: 1 with
 * [*from, *to] set, 0 when the header is absent or not one byte range (the whole file is sent),
 * -1 when it cannot be satisfied (416). */
static int parse_range(struct strv v, long long size, long long *from, long long *to)
{
    if (v.len < 7 || strncasecmp(v.p, "bytes=", 6) != 0 || v.len > 64 ||
        memchr(v.p, ',', v.len) != NULL) {
        return 0;
    }
    char text[72];
    snprintf(text, sizeof(text), "%.*s", (int)(v.len - 6), v.p + 6);
    char *dash = strchr(text, '-');
    if (dash == NULL) {
        return 0;
    }
    *dash = '\0';
    char *end = NULL;
    long long a = -1, b = -1;
    if (text[0] != '\0') {
        a = strtoll(text, &end, 10);
        if (*end != '\0' || a < 0) {
            return 0;
        }
    }
    if (dash[1] != '\0') {
        b = strtoll(dash + 1, &end, 10);
        if (*end != '\0' || b < 0) {
            return 0;
        }
    }
    if (a < 0 && b < 0) {
        return 0;
    }
    if (a < 0) { /* the last b bytes */
        a = b >= size ? 0 : size - b;
        b = size - 1;
    } else if (b < 0 || b >= size) {
        b = size - 1;
    }
    if (a >= size || a > b) {
        return -1;
    }
    *from = a;
    *to = b;
    return 1;
}

/* The file of a finished slot, open, or -1 (404 sent). */
static int open_done(struct conn *c, const struct store_upload_slot *s)
{
    char path[1200];
    file_path(s->token, "", path, sizeof(path));
    int fd = s->done ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size != s->size) {
        if (fd >= 0) {
            close(fd);
        }
        web__error(c, 404, NULL);
        return -1;
    }
    return fd;
}

int web__upload_get(struct conn *c, const struct web_req *r, const char *cors,
                    struct web_download *dl)
{
    struct store_upload_slot s;
    if (find_slot(c, r, &s) != 0) {
        return 0;
    }
    int fd = open_done(c, &s);
    if (fd < 0) {
        return 0;
    }
    long long from = 0, to = s.size - 1;
    int ranged = parse_range(r->range, s.size, &from, &to);
    struct buf extra;
    buf_init(&extra, 4096);
    if (ranged < 0) {
        buf_printf(&extra, "Content-Range: bytes */%lld\r\n%s", s.size, cors);
        web__error_with(c, 416, NULL, extra.p);
        buf_cleanup(&extra);
        close(fd);
        return 0;
    }
    buf_printf(&extra,
               "Content-Security-Policy: default-src 'none'; sandbox\r\n"
               "Content-Disposition: %s; filename=\"%s\"\r\n"
               "Accept-Ranges: bytes\r\n"
               "Cache-Control: private, max-age=86400\r\n%s",
               active_type(s.ctype) ? "attachment" : "inline", s.filename, cors);
    if (ranged > 0) {
        buf_printf(&extra, "Content-Range: bytes %lld-%lld/%lld\r\n", from, to, s.size);
    }
    long long len = s.size == 0 ? 0 : to - from + 1;
    web__respond_head(c, ranged > 0 ? 206 : 200, s.ctype, extra.p, len);
    buf_cleanup(&extra);
    if (strv_eq_c(r->method, "HEAD") || len == 0) {
        close(fd);
        return 0;
    }
    /* The body follows in chunks as the connection takes them (http.c). */
    *dl = (struct web_download){ .fd = fd, .off = from, .left = len };
    return 1;
}

/* ---- clean-up of expired slots ---- */

static int expire_one(void *ud, const char *token)
{
    int *n = ud;
    char path[1200];
    file_path(token, "", path, sizeof(path));
    unlink(path);
    file_path(token, ".part", path, sizeof(path));
    unlink(path);
    (*n)++;
    return store_upload_delete(worker_ctx()->store, token) < 0 ? ERR_STORE : 0;
}

/* Files whose slot is gone (its account was removed with its slots): removed. */
static int remove_orphans(void)
{
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/upload", g_server.datadir);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char token[64];
        size_t len = strcspn(e->d_name, ".");
        if (e->d_name[0] == '.' || len == 0 || len >= sizeof(token)) {
            continue;
        }
        snprintf(token, sizeof(token), "%.*s", (int)len, e->d_name);
        if (store_upload_exists(worker_ctx()->store, token) == 0 &&
            unlinkat(dirfd(d), e->d_name, 0) == 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

int web_upload_cleanup(void)
{
    int n = 0;
    int rc = store_upload_expired(worker_ctx()->store, (long long)time(NULL), 1000, expire_one, &n);
    int orphans = rc < 0 ? 0 : remove_orphans();
    if (n > 0 || orphans > 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_LOWLEVEL, 0, NULL,
                "upload: %d expired file(s) removed, %d of removed accounts", n, orphans);
    }
    return rc < 0 ? rc : n;
}
