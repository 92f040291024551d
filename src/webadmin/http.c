/* http.c: the WebAdmin's HTTP(S) server on libmicrohttpd: sockets, pages, /api and /metrics. */
#include "webadmin/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "webadmin/conns.h"
#include "webadmin/web_int.h"

#define BODY_MAX (1024 * 1024) /* a larger API request is refused (413) */
#define CERT_MAX (1024 * 1024)
#define SAMPLE_INTERVAL 2 /* seconds between two samples of the counters */
#define SAMPLES_MAX 300   /* ten minutes of samples */
#define DAY_EVERY 30      /* one sample of 30 (a minute) is also kept for the day's charts */
#define DAY_MAX 1440      /* a day of those */

/* What a daemon is started with (webadmin.max_connections, …): a change restarts it. */
struct web_limits {
    int max_connections;
    int per_address;
    int idle_timeout;
    int request_timeout;
    int threads;
};

/* One socket of webadmin.listener, served by a daemon of its own. */
struct web_listener {
    struct webadmin *w;
    struct listen_socket ls;
    struct web_limits limits;
    struct web_conns *conns; /* its open connections, for the request deadline */
    struct MHD_Daemon *d;
    char *cert, *key; /* PEM, kept while the daemon runs */
    struct web_listener *next;
};

/* The webadmin.* settings in force. */
struct web_cfg {
    struct listener_cfg listener;
    int metrics;
    int session_timeout;
    char main_domain[256];
    struct web_limits limits;
};

struct webadmin {
    struct admin *a;
    char datadir[1024];
    char logdir[1100];
    pthread_mutex_t lock; /* cfg, next, pending, stop, samples */
    pthread_cond_t wake;
    pthread_t thread;
    bool thread_started;
    bool stop;
    bool pending; /* `next` waits for the thread */
    struct web_cfg cfg;
    struct web_cfg next;
    struct web_listener *listeners; /* the thread's (and start/free's) */
    json_t *samples;                /* array of sample objects, oldest first */
    json_t *day;                    /* one sample a minute over the last day, oldest first */
    unsigned long taken;            /* samples taken so far */
};

/* The state of one HTTP request while its body arrives. */
struct req {
    struct buf body;
    bool too_big;
};

/* ---- accessors for webapi.c ---- */

struct admin *web_admin(struct webadmin *w)
{
    return w->a;
}

const char *web_log_dir(struct webadmin *w)
{
    return w->logdir;
}

int web_session_timeout(struct webadmin *w)
{
    pthread_mutex_lock(&w->lock);
    int t = w->cfg.session_timeout;
    pthread_mutex_unlock(&w->lock);
    return t;
}

json_t *web_stats_history(struct webadmin *w)
{
    pthread_mutex_lock(&w->lock);
    json_t *copy = json_deep_copy(w->samples);
    json_t *day = json_deep_copy(w->day);
    pthread_mutex_unlock(&w->lock);
    return json_pack("{s:i, s:o, s:{s:i, s:o}}", "interval", SAMPLE_INTERVAL, "samples", copy,
                     "day", "interval", SAMPLE_INTERVAL * DAY_EVERY, "samples", day);
}

static void cfg_from_settings(struct web_cfg *c, const struct settings *s)
{
    c->listener = s->webadmin.listener;
    c->metrics = s->webadmin.metrics;
    c->session_timeout = s->webadmin.session_timeout;
    c->limits = (struct web_limits){
        .max_connections = s->webadmin.max_connections,
        .per_address = s->webadmin.per_address_limit,
        .idle_timeout = s->webadmin.idle_timeout,
        .request_timeout = s->webadmin.request_timeout,
        .threads = s->webadmin.threads,
    };
    snprintf(c->main_domain, sizeof(c->main_domain), "%s", s->server.main_domain);
}

/* ---- responses ---- */

static void security_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                            "base-uri 'none'; form-action 'self'");
}

/* Queues a response; `data` is copied; `cookie` is a Set-Cookie value or NULL. */
static enum MHD_Result respond(struct MHD_Connection *mc, unsigned status, const char *type,
                               const void *data, size_t len, const char *cache, const char *cookie)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }
    security_headers(resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
    if (cookie != NULL && cookie[0] != '\0') {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    }
    enum MHD_Result r = MHD_queue_response(mc, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result respond_text(struct MHD_Connection *mc, unsigned status, const char *text)
{
    return respond(mc, status, "text/plain; charset=utf-8", text, strlen(text), "no-store", NULL);
}

static enum MHD_Result respond_json(struct MHD_Connection *mc, unsigned status, json_t *obj,
                                    const char *cookie)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    enum MHD_Result r;
    if (text == NULL) {
        return respond_text(mc, 500, "response not representable\n");
    }
    r = respond(mc, status, "application/json", text, strlen(text), "no-store", cookie);
    free(text);
    return r;
}

/* ---- pages ---- */

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(dot, types[i].ext) == 0) {
            return types[i].type;
        }
    }
    return "application/octet-stream";
}

static enum MHD_Result serve_asset(struct MHD_Connection *mc, const char *url)
{
    const char *path = strcmp(url, "/") == 0 ? "/index.html" : url;
    for (const struct web_asset *as = web_assets; as->path != NULL; as++) {
        if (strcmp(as->path, path) == 0) {
            return respond(mc, 200, content_type(path), as->data, as->len, "no-cache", NULL);
        }
    }
    return respond_text(mc, 404, "not found\n");
}

/* ---- /metrics ---- */

static bool is_loopback(const char *peer)
{
    return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0;
}

/* Counters only grow; these names are levels (gauges). */
static bool gauge_name(const char *name)
{
    static const char *const parts[] = { "open", "queue", "uptime", "online", "active" };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (strstr(name, parts[i]) != NULL) {
            return true;
        }
    }
    return false;
}

/* OpenMetrics text (https://openmetrics.io): every numeric counter of the stats op. */
static void metrics_text(json_t *stats, struct buf *out)
{
    const char *key;
    json_t *v;
    json_object_foreach(stats, key, v)
    {
        if (!json_is_integer(v) && !json_is_real(v)) {
            continue;
        }
        bool gauge = gauge_name(key);
        double val = json_number_value(v);
        buf_printf(out, "# TYPE starling_%s %s\n", key, gauge ? "gauge" : "counter");
        buf_printf(out, "starling_%s%s %.0f\n", key, gauge ? "" : "_total", val);
    }
    buf_append_c(out, "# EOF\n");
}

static enum MHD_Result serve_metrics(struct webadmin *w, struct MHD_Connection *mc,
                                     const char *peer)
{
    pthread_mutex_lock(&w->lock);
    int mode = w->cfg.metrics;
    pthread_mutex_unlock(&w->lock);
    if (mode == SETTINGS_METRICS_OFF) {
        return respond_text(mc, 404, "metrics are off (webadmin.metrics)\n");
    }
    if (mode == SETTINGS_METRICS_LOCAL && !is_loopback(peer)) {
        return respond_text(mc, 403, "metrics are served to loopback addresses only\n");
    }
    json_t *req = json_pack("{s:s}", "op", "stats");
    json_t *resp = admin_handle(w->a, req);
    json_t *stats = json_object_get(resp, "result");
    struct buf out;
    enum MHD_Result r;
    buf_init(&out, BODY_MAX);
    if (!json_is_object(stats)) {
        r = respond_text(mc, 503, "counters are not available\n");
    } else {
        metrics_text(stats, &out);
        r = respond(mc, 200, "application/openmetrics-text; version=1.0.0; charset=utf-8", out.p,
                    out.len, "no-store", NULL);
    }
    buf_cleanup(&out);
    json_decref(resp);
    json_decref(req);
    return r;
}

/* ---- requests ---- */

static void peer_of(struct MHD_Connection *mc, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, outlen, "?");
    if (ci == NULL || ci->client_addr == NULL) {
        return;
    }
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)outlen);
        } else {
            inet_ntop(AF_INET6, a6, out, (socklen_t)outlen);
        }
    }
}

/* A request with an Origin header must come from the page's own origin (scheme://Host). */
static bool origin_ok(struct MHD_Connection *mc)
{
    const char *origin = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Host");
    if (origin == NULL) {
        return true;
    }
    const char *sep = strstr(origin, "://");
    return host != NULL && sep != NULL && strcmp(sep + 3, host) == 0;
}

static enum MHD_Result serve_api(struct web_listener *l, struct MHD_Connection *mc, struct req *r,
                                 const char *peer)
{
    if (r->too_big) {
        return respond_text(mc, 413, "request too large\n");
    }
    if (!origin_ok(mc)) {
        return respond_text(mc, 403, "cross-origin request refused\n");
    }
    struct web_request rq = {
        .peer = peer,
        .sid = MHD_lookup_connection_value(mc, MHD_COOKIE_KIND, "sid"),
        .csrf = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-CSRF-Token"),
        .secure = l->ls.tls,
        .body = buf_cstr(&r->body),
        .body_len = r->body.len,
    };
    json_t *resp = web_api(l->w, &rq);
    enum MHD_Result res = respond_json(mc, rq.status, resp, rq.set_cookie);
    json_decref(resp);
    return res;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct web_listener *l = cls;
    struct req *r = *con_cls;
    char peer[INET6_ADDRSTRLEN + 1];
    (void)version;
    if (r == NULL) {
        r = xcalloc(1, sizeof(*r));
        buf_init(&r->body, BODY_MAX);
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!r->too_big && buf_append(&r->body, upload_data, *upload_size) != 0) {
            r->too_big = true;
            buf_cleanup(&r->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    peer_of(mc, peer, sizeof(peer));
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/api") == 0) {
        if (strcmp(method, "POST") != 0) {
            return respond_text(mc, 405, "POST a JSON request to /api\n");
        }
        return serve_api(l, mc, r, peer);
    }
    if (!get) {
        return respond_text(mc, 405, "method not allowed\n");
    }
    if (strcmp(url, "/metrics") == 0) {
        return serve_metrics(l->w, mc, peer);
    }
    return serve_asset(mc, url);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;
    (void)cls;
    (void)toe;
    web_conns_request_done(mc);
    if (r != NULL) {
        buf_cleanup(&r->body);
        free(r);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct web_listener *l = cls;
    char text[512];
    vsnprintf(text, sizeof(text), fmt, ap);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) {
        text[--n] = '\0';
    }
    log_rec(LOG_TAG_ADMIN, LOG_PROBLEMS, 0, NULL, "WebAdmin port %u: %s", (unsigned)l->ls.port,
            text);
}

/* ---- sockets and daemons ---- */

static void socket_name(const struct listen_socket *ls, char *out, size_t outlen)
{
    bool v6 = strchr(ls->address, ':') != NULL;
    snprintf(out, outlen, "%s%s%s%u%s", v6 ? "[" : "", ls->address,
             ls->address[0] ? (v6 ? "]:" : ":") : "", (unsigned)ls->port, ls->tls ? "/tls" : "");
}

/* Opens a listening socket like the XMPP listener: "" = every address (IPv6 and IPv4). */
static int open_socket(const struct listen_socket *ls, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int one = 1, zero = 0;
    int family = AF_INET6;
    memset(&ss, 0, sizeof(ss));
    if (ls->address[0] == '\0' || strchr(ls->address, ':') != NULL) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(ls->port);
        if (ls->address[0] == '\0') {
            in6->sin6_addr = in6addr_any;
        } else {
            inet_pton(AF_INET6, ls->address, &in6->sin6_addr);
        }
        sslen = sizeof(*in6);
    } else {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        family = AF_INET;
        in4->sin_family = AF_INET;
        in4->sin_port = htons(ls->port);
        inet_pton(AF_INET, ls->address, &in4->sin_addr);
        sslen = sizeof(*in4);
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && family == AF_INET6 && ls->address[0] == '\0') {
        /* No IPv6 on this host: every IPv4 address. */
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof(ss));
        family = AF_INET;
        in4->sin_family = AF_INET;
        in4->sin_port = htons(ls->port);
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        sslen = sizeof(*in4);
        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6 && ls->address[0] == '\0') {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 64) != 0) {
        char name[128];
        socket_name(ls, name, sizeof(name));
        snprintf(err, errlen, "WebAdmin socket %s: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "re");
    struct buf b;
    char chunk[4096];
    size_t n;
    if (f == NULL) {
        return NULL;
    }
    buf_init(&b, CERT_MAX);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(&b, chunk, n) != 0) {
            buf_cleanup(&b);
            fclose(f);
            return NULL;
        }
    }
    fclose(f);
    char *text = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return text;
}

static void listener_free(struct web_listener *l)
{
    if (l->d != NULL) {
        MHD_stop_daemon(l->d);
    }
    web_conns_free(l->conns);
    if (l->key != NULL) {
        memset(l->key, 0, strlen(l->key));
    }
    free(l->key);
    free(l->cert);
    free(l);
}

/* A daemon replaced by a settings change first stops accepting and lets the connections it has
 * end, for at most LISTENER_DRAIN_MS: the answer to the very request that changed the settings
 * must not be cut off by the restart it caused. A browser's idle keep-alive connection is then
 * closed at the deadline. */
#define LISTENER_DRAIN_MS 1000
#define LISTENER_DRAIN_STEP_MS 20

static void listener_drain(struct web_listener *l)
{
    if (l->d == NULL) {
        return;
    }
    MHD_socket fd = MHD_quiesce_daemon(l->d);
    for (int waited = 0; waited < LISTENER_DRAIN_MS; waited += LISTENER_DRAIN_STEP_MS) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (info == NULL || info->num_connections == 0) {
            break;
        }
        usleep(LISTENER_DRAIN_STEP_MS * 1000);
    }
    MHD_stop_daemon(l->d);
    l->d = NULL;
    if (fd != MHD_INVALID_SOCKET) {
        close(fd); /* quiesced: the listening socket is ours again */
    }
}

/* The daemon's options: an event loop on a few threads (a slow client costs a socket, not a
 * thread), the caps on connections in all and per address, the idle timeout, and the connection
 * list behind the request deadline. Fills `opt` (at least 12 items). */
static void daemon_options(struct web_listener *l, int fd, struct MHD_OptionItem *opt)
{
    const struct web_limits *lim = &l->limits;
    int n = 0;
    /* The logger first: libmicrohttpd warns (through its own logger) when it comes later. */
    opt[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, l };
    opt[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
    opt[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, lim->threads, NULL };
    opt[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, lim->max_connections, NULL };
    opt[n++] =
        (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT, lim->per_address, NULL };
    opt[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, lim->idle_timeout, NULL };
    opt[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL };
    opt[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)web_conns_notify,
                                        l->conns };
    if (l->ls.tls) {
        opt[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, l->key };
        opt[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, l->cert };
        opt[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
                                            "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" };
    }
    opt[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
}

/* Reads the HTTPS certificate and key of the main domain into `l`. */
static int load_certificate(struct webadmin *w, struct web_listener *l, const char *name,
                            const char *main_domain, char *err, size_t errlen)
{
    char path[2400];
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen, "WebAdmin socket %s: this libmicrohttpd has no HTTPS", name);
        return ERR_TLS;
    }
    snprintf(path, sizeof(path), "%s/certs/%s.crt", w->datadir, main_domain);
    l->cert = read_small_file(path);
    snprintf(path, sizeof(path), "%s/certs/%s.key", w->datadir, main_domain);
    l->key = read_small_file(path);
    if (l->cert == NULL || l->key == NULL) {
        snprintf(err, errlen, "WebAdmin socket %s: cannot read the certificate of %s", name,
                 main_domain);
        return ERR_TLS;
    }
    return 0;
}

static struct web_listener *listener_start(struct webadmin *w, const struct listen_socket *ls,
                                           const struct web_cfg *cfg, char *err, size_t errlen)
{
    struct web_listener *l = xcalloc(1, sizeof(*l));
    struct MHD_OptionItem opt[16];
    char name[128];
    /* MHD_USE_ITC: a daemon being replaced can stop accepting first (listener_drain). */
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    l->w = w;
    l->ls = *ls;
    l->limits = cfg->limits;
    l->conns = web_conns_new();
    socket_name(ls, name, sizeof(name));
    if (ls->tls) {
        if (load_certificate(w, l, name, cfg->main_domain, err, errlen) != 0) {
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    int fd = open_socket(ls, err, errlen);
    if (fd < 0) {
        goto fail;
    }
    daemon_options(l, fd, opt);
    l->d = MHD_start_daemon(flags, ls->port, NULL, NULL, on_request, l, MHD_OPTION_ARRAY, opt,
                            MHD_OPTION_END);
    if (l->d == NULL) {
        close(fd);
        snprintf(err, errlen, "WebAdmin socket %s: the HTTP server did not start", name);
        goto fail;
    }
    log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL,
            "WebAdmin listening on %s (%s; %d connections, %d per address, %d threads)", name,
            ls->tls ? "HTTPS" : "HTTP", l->limits.max_connections, l->limits.per_address,
            l->limits.threads);
    return l;
fail:
    listener_free(l);
    return NULL;
}

static bool same_socket(const struct listen_socket *a, const struct listen_socket *b)
{
    return a->port == b->port && a->tls == b->tls && strcmp(a->address, b->address) == 0;
}

static bool same_limits(const struct web_limits *a, const struct web_limits *b)
{
    return a->max_connections == b->max_connections && a->per_address == b->per_address &&
           a->idle_timeout == b->idle_timeout && a->request_timeout == b->request_timeout &&
           a->threads == b->threads;
}

/* Closes the sockets that `cfg` no longer lists and opens the new ones. Returns 0, or the
 * error of the first socket that could not be opened (the others are still opened). */
static int reconcile(struct webadmin *w, const struct web_cfg *cfg, char *err, size_t errlen)
{
    struct web_listener **pp = &w->listeners;
    int rc = 0;
    while (*pp != NULL) {
        struct web_listener *l = *pp;
        bool keep = false;
        for (int i = 0; i < cfg->listener.count && !keep; i++) {
            keep = same_socket(&l->ls, &cfg->listener.sockets[i]) &&
                   same_limits(&l->limits, &cfg->limits);
        }
        if (keep) {
            pp = &l->next;
            continue;
        }
        char name[128];
        socket_name(&l->ls, name, sizeof(name));
        *pp = l->next;
        listener_drain(l);
        listener_free(l);
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "WebAdmin socket %s closed", name);
    }
    for (int i = 0; i < cfg->listener.count; i++) {
        const struct listen_socket *ls = &cfg->listener.sockets[i];
        bool running = false;
        for (struct web_listener *l = w->listeners; l != NULL && !running; l = l->next) {
            running = same_socket(&l->ls, ls);
        }
        if (running) {
            continue;
        }
        char why[512];
        struct web_listener *l = listener_start(w, ls, cfg, why, sizeof(why));
        if (l == NULL) {
            if (rc == 0) {
                snprintf(err, errlen, "%s", why);
                rc = ls->tls ? ERR_TLS : ERR_IO;
            }
            continue;
        }
        l->next = w->listeners;
        w->listeners = l;
    }
    return rc;
}

/* ---- the WebAdmin's thread: counters' samples and listener changes ---- */

static void take_sample(struct webadmin *w)
{
    json_t *req = json_pack("{s:s}", "op", "stats");
    json_t *resp = admin_handle(w->a, req);
    json_t *stats = json_object_get(resp, "result");
    if (json_is_object(stats)) {
        json_t *sample = json_deep_copy(stats);
        json_object_set_new(sample, "t", json_integer((json_int_t)time(NULL)));
        pthread_mutex_lock(&w->lock);
        if (json_array_size(w->samples) >= SAMPLES_MAX) {
            json_array_remove(w->samples, 0);
        }
        if (w->taken++ % DAY_EVERY == 0) {
            if (json_array_size(w->day) >= DAY_MAX) {
                json_array_remove(w->day, 0);
            }
            json_array_append_new(w->day, json_deep_copy(sample));
        }
        json_array_append_new(w->samples, sample);
        pthread_mutex_unlock(&w->lock);
    }
    json_decref(resp);
    json_decref(req);
}

/* Cuts the connections whose request has taken longer than webadmin.request_timeout. The
 * listeners belong to this thread (and to start/free, which do not run beside it). */
static void sweep_slow(struct webadmin *w, int deadline)
{
    for (struct web_listener *l = w->listeners; l != NULL; l = l->next) {
        int n = web_conns_sweep(l->conns, deadline);
        if (n > 0) {
            log_rec(LOG_TAG_ADMIN, LOG_PROBLEMS, 0, NULL,
                    "WebAdmin port %u: %d connection(s) closed: a request took more than "
                    "webadmin.request_timeout (%d s)",
                    (unsigned)l->ls.port, n, deadline);
        }
    }
}

static void *web_thread(void *arg)
{
    struct webadmin *w = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        if (w->pending) {
            struct web_cfg cfg = w->next;
            char err[512];
            w->pending = false;
            pthread_mutex_unlock(&w->lock);
            if (reconcile(w, &cfg, err, sizeof(err)) != 0) {
                log_rec(LOG_TAG_ADMIN, LOG_FAILURES, 0, NULL, "%s", err);
            }
            pthread_mutex_lock(&w->lock);
            continue;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec ||
            (now.tv_sec == next.tv_sec && now.tv_nsec >= next.tv_nsec)) {
            int deadline = w->cfg.limits.request_timeout;
            pthread_mutex_unlock(&w->lock);
            take_sample(w);
            sweep_slow(w, deadline);
            pthread_mutex_lock(&w->lock);
            next.tv_sec += SAMPLE_INTERVAL;
            continue;
        }
        pthread_cond_timedwait(&w->wake, &w->lock, &next);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* ---- public ---- */

struct webadmin *webadmin_new(struct admin *a, const char *datadir)
{
    struct webadmin *w = xcalloc(1, sizeof(*w));
    pthread_condattr_t ca;
    w->a = a;
    snprintf(w->datadir, sizeof(w->datadir), "%s", datadir);
    snprintf(w->logdir, sizeof(w->logdir), "%s/SystemLogs", datadir);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    w->samples = json_array();
    w->day = json_array();
    return w;
}

int webadmin_start(struct webadmin *w, const struct settings *cfg, char *err, size_t errlen)
{
    struct web_cfg c;
    cfg_from_settings(&c, cfg);
    pthread_mutex_lock(&w->lock);
    w->cfg = c;
    pthread_mutex_unlock(&w->lock);
    int rc = reconcile(w, &c, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (pthread_create(&w->thread, NULL, web_thread, w) != 0) {
        snprintf(err, errlen, "cannot start the WebAdmin thread");
        return ERR_INTERNAL;
    }
    w->thread_started = true;
    return 0;
}

void webadmin_reconfigure(struct webadmin *w, const struct settings *cfg)
{
    struct web_cfg c;
    cfg_from_settings(&c, cfg);
    pthread_mutex_lock(&w->lock);
    bool changed = c.listener.count != w->cfg.listener.count ||
                   strcmp(c.main_domain, w->cfg.main_domain) != 0 ||
                   !same_limits(&c.limits, &w->cfg.limits);
    for (int i = 0; !changed && i < c.listener.count; i++) {
        changed = !same_socket(&c.listener.sockets[i], &w->cfg.listener.sockets[i]);
    }
    w->cfg = c;
    if (changed) {
        w->next = c;
        w->pending = true;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
}

void webadmin_free(struct webadmin *w)
{
    if (w == NULL) {
        return;
    }
    if (w->thread_started) {
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    while (w->listeners != NULL) {
        struct web_listener *l = w->listeners;
        w->listeners = l->next;
        listener_free(l);
    }
    web_session_clear();
    json_decref(w->samples);
    json_decref(w->day);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
