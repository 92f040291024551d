/* settings.c: the one settings mechanism (the modules' rows), parsers, text forms and the file. */
#include "core/settings.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/module.h"

#define DEFAULT_S2S_PORT 5269
#define MAX_LINE 65536     /* a longer line in the settings file is an error */
#define MAX_FILE (1 << 20) /* the text of a saved settings file */
#define REASON_MAX 512

/* The one list of settings: its order is the order of the settings file and of the docs. */
/* The core's rows (server.*, log.*); every other module declares its own (core/module.h). */
const struct setting settings_core[] = {
    { .key = "server.workers",
      .type = SETTING_INT,
      SETTING_FIELD(server.workers),
      .min = 0,
      .max = 64,
      .def = "0",
      .desc = "Worker threads, each an event loop; 0 = one per CPU core" },
    { .key = "server.main_domain",
      .type = SETTING_DOMAIN,
      SETTING_FIELD(server.main_domain),
      .def = "localhost",
      .desc = "The main domain; it is created with its postmaster account on the first start",
      .values = "a domain name" },
    { .key = "server.log_level",
      .type = SETTING_LEVEL,
      SETTING_FIELD(server.log_level),
      .def = "Major",
      .desc = "Log level of the SYSTEM and ADMIN records" },
    { .key = "server.contact.abuse",
      .type = SETTING_STRING,
      SETTING_FIELD(server.contact.abuse),
      .def = "",
      .desc = "Addresses for abuse reports, published by service discovery (XEP-0157)",
      .values = "a comma list of URIs (mailto:, xmpp:, https:); empty = none" },
    { .key = "server.contact.admin",
      .type = SETTING_STRING,
      SETTING_FIELD(server.contact.admin),
      .def = "",
      .desc = "Addresses for the administrators, published by service discovery (XEP-0157)",
      .values = "a comma list of URIs (mailto:, xmpp:, https:); empty = none" },
    { .key = "server.contact.feedback",
      .type = SETTING_STRING,
      SETTING_FIELD(server.contact.feedback),
      .def = "",
      .desc = "Addresses for feedback, published by service discovery (XEP-0157)",
      .values = "a comma list of URIs (mailto:, xmpp:, https:); empty = none" },
    { .key = "server.contact.sales",
      .type = SETTING_STRING,
      SETTING_FIELD(server.contact.sales),
      .def = "",
      .desc = "Addresses for sales, published by service discovery (XEP-0157)",
      .values = "a comma list of URIs (mailto:, xmpp:, https:); empty = none" },
    { .key = "server.contact.security",
      .type = SETTING_STRING,
      SETTING_FIELD(server.contact.security),
      .def = "",
      .desc = "Addresses for security reports, published by service discovery (XEP-0157)",
      .values = "a comma list of URIs (mailto:, xmpp:, https:); empty = none" },
    { .key = "server.contact.status",
      .type = SETTING_STRING,
      SETTING_FIELD(server.contact.status),
      .def = "",
      .desc = "Addresses for service status information, published by service discovery (XEP-0157)",
      .values = "a comma list of URIs (mailto:, xmpp:, https:); empty = none" },
    { .key = "server.contact.support",
      .type = SETTING_STRING,
      SETTING_FIELD(server.contact.support),
      .def = "",
      .desc = "Addresses for support, published by service discovery (XEP-0157)",
      .values = "a comma list of URIs (mailto:, xmpp:, https:); empty = none" },
    { .key = "server.db_check_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(server.db_check_timeout),
      .min = 0,
      .max = 86400,
      .def = "30",
      .desc = "Seconds the start-up check of the database (quick_check) may take; past it the "
              "server starts unchecked and says so in the log; 0 = no check" },
    { .key = "log.keep_days",
      .type = SETTING_INT,
      SETTING_FIELD(log.keep_days),
      .min = 0,
      .max = 36500,
      .def = "30",
      .desc = "Days a System Log file is kept before it is deleted; 0 = keep all" },
    { .key = "log.max_file_size",
      .type = SETTING_LONG,
      SETTING_FIELD(log.max_file_size),
      .min = 4096,
      .max = 1099511627776L,
      .def = "104857600",
      .desc = "Size in bytes past which a new System Log file of the same day is started" },
    { .key = NULL },
};

/* Calls fn on every row of every module, in table order; stops at a non-zero return. */
typedef int row_fn(const struct setting *d, void *ud);

static int each_row(row_fn *fn, void *ud)
{
    for (size_t m = 0; m < modules_count(); m++) {
        const struct setting *rows = modules_get(m)->settings;
        for (size_t i = 0; rows != NULL && rows[i].key != NULL; i++) {
            int rc = fn(&rows[i], ud);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

static void *field(struct settings *s, const struct setting *d)
{
    return (char *)s + d->offset;
}

static const void *cfield(const struct settings *s, const struct setting *d)
{
    return (const char *)s + d->offset;
}

struct find_ctx {
    const char *key;
    const struct setting *found;
};

static int find_row(const struct setting *d, void *ud)
{
    struct find_ctx *fc = ud;
    if (strcmp(d->key, fc->key) == 0) {
        fc->found = d;
        return 1;
    }
    return 0;
}

static const struct setting *find(const char *key)
{
    struct find_ctx fc = { key, NULL };
    each_row(find_row, &fc);
    return fc.found;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Copies v into dst[cap] as a C string; false when it does not fit. */
static bool copy_strv(char *dst, size_t cap, struct strv v)
{
    if (v.len >= cap) {
        return false;
    }
    if (v.len > 0) {
        memcpy(dst, v.p, v.len);
    }
    dst[v.len] = '\0';
    return true;
}

/* ---- Numbers, booleans, strings ---- */

static int parse_number(const char *text, long min, long max, long *out, char *err, size_t errlen)
{
    char tmp[32];
    struct strv v = strv_trim(strv_c(text));
    bool ok = copy_strv(tmp, sizeof(tmp), v) && v.len > 0;
    char *end = NULL;
    long n = 0;
    if (ok) {
        errno = 0;
        n = strtol(tmp, &end, 10);
        ok = *end == '\0' && (isdigit((unsigned char)tmp[0]) || tmp[0] == '-' || tmp[0] == '+');
    }
    if (!ok) {
        err_set(err, errlen, "\"%s\" is not a number (%ld..%ld)", text, min, max);
        return ERR_INVAL;
    }
    if (errno == ERANGE || n < min || n > max) {
        err_set(err, errlen, "%s is out of range (%ld..%ld)", tmp, min, max);
        return ERR_INVAL;
    }
    *out = n;
    return 0;
}

static int parse_bool(const char *text, bool *out, char *err, size_t errlen)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };
    struct strv v = strv_trim(strv_c(text));
    for (size_t i = 0; i < 4; i++) {
        if (strv_case_eq(v, strv_c(yes[i]))) {
            *out = true;
            return 0;
        }
        if (strv_case_eq(v, strv_c(no[i]))) {
            *out = false;
            return 0;
        }
    }
    err_set(err, errlen, "\"%s\" is not yes or no", text);
    return ERR_INVAL;
}

static int parse_level(const char *text, int *out, char *err, size_t errlen)
{
    if (log_level_parse(text, out) != 0) {
        err_set(err, errlen,
                "\"%s\" is not a log level (None, Crash, Failures, Major, Problems, Low-Level, "
                "All Info, or -1..5)",
                text);
        return ERR_INVAL;
    }
    return 0;
}

static bool has_control(struct strv v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

/* A host or domain name: labels of letters, digits, '-' and '_' (UTF-8 allowed for IDNs),
 * separated by single dots. */
static bool valid_domain(struct strv v)
{
    if (v.len == 0 || v.len > 253 || v.p[0] == '.' || v.p[v.len - 1] == '.') {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        bool ok = isalnum(c) || c == '-' || c == '_' || c >= 0x80 || c == '.';
        if (!ok || (c == '.' && v.p[i + 1] == '.')) {
            return false;
        }
    }
    return true;
}

static void lower_ascii(char *s)
{
    for (; *s; s++) {
        *s = (char)tolower((unsigned char)*s);
    }
}

static int parse_string(const struct setting *d, const char *text, char *dst, char *err,
                        size_t errlen)
{
    struct strv v = strv_c(text);
    if (d->type == SETTING_DOMAIN) {
        v = strv_trim(v);
        if (!valid_domain(v)) {
            err_set(err, errlen, "\"%s\" is not a domain name", text);
            return ERR_INVAL;
        }
    }
    if (has_control(v)) {
        err_set(err, errlen, "the value contains control characters");
        return ERR_INVAL;
    }
    if (!copy_strv(dst, d->size, v)) {
        err_set(err, errlen, "the value is too long (at most %zu bytes)", d->size - 1);
        return ERR_INVAL;
    }
    if (d->type == SETTING_DOMAIN) {
        lower_ascii(dst);
    }
    return 0;
}

/* ---- Listener ---- */

/* Parses a port: digits only, 1..65535. */
static bool parse_port(struct strv v, uint16_t *port)
{
    long n = 0;
    if (v.len == 0 || v.len > 5) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        if (!isdigit((unsigned char)v.p[i])) {
            return false;
        }
        n = n * 10 + (v.p[i] - '0');
    }
    if (n < 1 || n > 65535) {
        return false;
    }
    *port = (uint16_t)n;
    return true;
}

/* Normalizes an IP address of family af into dst (64 bytes); false if it is not one. */
static bool parse_ip(int af, struct strv v, char *dst)
{
    char tmp[64];
    unsigned char bin[16];
    if (!copy_strv(tmp, sizeof(tmp), v) || inet_pton(af, tmp, bin) != 1) {
        return false;
    }
    return inet_ntop(af, bin, dst, 64) != NULL;
}

static void append_socket(struct buf *out, const struct listen_socket *ls)
{
    if (ls->address[0] == '\0') {
        buf_printf(out, "%u", (unsigned)ls->port);
    } else if (strchr(ls->address, ':') != NULL) {
        buf_printf(out, "[%s]:%u", ls->address, (unsigned)ls->port);
    } else {
        buf_printf(out, "%s:%u", ls->address, (unsigned)ls->port);
    }
    if (ls->tls) {
        buf_append_c(out, "/tls");
    }
}

/* Parses one `[address:]port[/tls]`. */
static int parse_socket(struct strv item, struct listen_socket *ls, char *err, size_t errlen)
{
    int shown = item.len > 100 ? 100 : (int)item.len;
    struct strv v = item;
    memset(ls, 0, sizeof(*ls));
    const char *slash = memchr(v.p, '/', v.len);
    if (slash != NULL) {
        struct strv opt = { slash + 1, (size_t)(v.p + v.len - slash - 1) };
        if (!strv_case_eq(opt, STRV("tls"))) {
            err_set(err, errlen, "\"%.*s\": the only option after \"/\" is \"tls\"", shown, item.p);
            return ERR_INVAL;
        }
        ls->tls = true;
        v.len = (size_t)(slash - v.p);
    }
    struct strv port = v;
    if (v.len > 0 && v.p[0] == '[') {
        const char *close = memchr(v.p, ']', v.len);
        if (close == NULL || close + 1 == v.p + v.len || close[1] != ':') {
            err_set(err, errlen, "\"%.*s\": expected [IPv6 address]:port", shown, item.p);
            return ERR_INVAL;
        }
        struct strv addr = { v.p + 1, (size_t)(close - v.p - 1) };
        if (!parse_ip(AF_INET6, addr, ls->address)) {
            err_set(err, errlen, "\"%.*s\": not an IPv6 address", shown, item.p);
            return ERR_INVAL;
        }
        port = (struct strv){ close + 2, (size_t)(v.p + v.len - close - 2) };
    } else {
        const char *colon = memchr(v.p, ':', v.len);
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(v.p + v.len - colon - 1)) != NULL) {
            err_set(err, errlen, "\"%.*s\": write IPv6 addresses in brackets, e.g. [::1]:5222",
                    shown, item.p);
            return ERR_INVAL;
        }
        if (colon != NULL) {
            struct strv addr = { v.p, (size_t)(colon - v.p) };
            if (!parse_ip(AF_INET, addr, ls->address)) {
                err_set(err, errlen, "\"%.*s\": not an IPv4 address", shown, item.p);
                return ERR_INVAL;
            }
            port = (struct strv){ colon + 1, (size_t)(v.p + v.len - colon - 1) };
        }
    }
    if (!parse_port(port, &ls->port)) {
        err_set(err, errlen, "\"%.*s\": the port must be a number 1..65535", shown, item.p);
        return ERR_INVAL;
    }
    return 0;
}

/* Two sockets clash when they would bind the same port on the same (or every) address. */
static bool sockets_clash(const struct listen_socket *a, const struct listen_socket *b)
{
    if (a->port != b->port) {
        return false;
    }
    return a->address[0] == '\0' || b->address[0] == '\0' || strcmp(a->address, b->address) == 0;
}

/* Calls fn on each comma-separated item, trimmed; an empty item is an error. */
typedef int item_fn(void *ud, struct strv item, char *err, size_t errlen);

static int each_item(const char *text, item_fn *fn, void *ud, char *err, size_t errlen)
{
    struct strv all = strv_trim(strv_c(text));
    if (all.len == 0) {
        return 0;
    }
    const char *p = all.p;
    const char *end = all.p + all.len;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        struct strv item = strv_trim((struct strv){ p, (size_t)(stop - p) });
        if (item.len == 0) {
            err_set(err, errlen, "empty item in the list");
            return ERR_INVAL;
        }
        int rc = fn(ud, item, err, errlen);
        if (rc != 0) {
            return rc;
        }
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

static int listener_item(void *ud, struct strv item, char *err, size_t errlen)
{
    struct listener_cfg *cfg = ud;
    struct listen_socket ls;
    int rc = parse_socket(item, &ls, err, errlen);
    if (rc != 0) {
        return rc;
    }
    for (int i = 0; i < cfg->count; i++) {
        if (sockets_clash(&cfg->sockets[i], &ls)) {
            struct buf a, b;
            buf_init(&a, 128);
            buf_init(&b, 128);
            append_socket(&a, &ls);
            append_socket(&b, &cfg->sockets[i]);
            err_set(err, errlen, "\"%s\" duplicates \"%s\"", buf_cstr(&a), buf_cstr(&b));
            buf_cleanup(&a);
            buf_cleanup(&b);
            return ERR_INVAL;
        }
    }
    if (cfg->count >= SETTINGS_MAX_SOCKETS) {
        err_set(err, errlen, "more than %d sockets", SETTINGS_MAX_SOCKETS);
        return ERR_INVAL;
    }
    cfg->sockets[cfg->count++] = ls;
    return 0;
}

int settings_parse_listener(const char *text, struct listener_cfg *out, char *err, size_t errlen)
{
    struct listener_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    int rc = each_item(text, listener_item, &cfg, err, errlen);
    if (rc == 0) {
        *out = cfg;
    }
    return rc;
}

static void append_listener(struct buf *out, const struct listener_cfg *cfg)
{
    for (int i = 0; i < cfg->count; i++) {
        if (i > 0) {
            buf_append_c(out, ", ");
        }
        append_socket(out, &cfg->sockets[i]);
    }
}

/* ---- Routes ---- */

struct routes {
    struct s2s_route r[SETTINGS_MAX_ROUTES];
    int count;
};

/* Parses `domain=host[:port]`; host is a name, an IPv4 address or [IPv6]. */
static int route_item(void *ud, struct strv item, char *err, size_t errlen)
{
    struct routes *rs = ud;
    int shown = item.len > 100 ? 100 : (int)item.len;
    struct s2s_route r;
    memset(&r, 0, sizeof(r));
    r.port = DEFAULT_S2S_PORT;
    const char *eq = memchr(item.p, '=', item.len);
    if (eq == NULL) {
        err_set(err, errlen, "\"%.*s\": expected domain=host:port", shown, item.p);
        return ERR_INVAL;
    }
    struct strv dom = strv_trim((struct strv){ item.p, (size_t)(eq - item.p) });
    struct strv dest = strv_trim((struct strv){ eq + 1, (size_t)(item.p + item.len - eq - 1) });
    if (dest.len > 4 && strncasecmp(dest.p + dest.len - 4, "/tls", 4) == 0) {
        r.tls = true;
        dest.len -= 4;
    }
    if (!valid_domain(dom) || !copy_strv(r.domain, sizeof(r.domain), dom)) {
        err_set(err, errlen, "\"%.*s\": not a domain name before \"=\"", shown, item.p);
        return ERR_INVAL;
    }
    lower_ascii(r.domain);
    struct strv host = dest;
    struct strv port = STRV_NULL;
    bool ok;
    if (dest.len > 0 && dest.p[0] == '[') {
        const char *close = memchr(dest.p, ']', dest.len);
        ok = close != NULL;
        if (ok) {
            struct strv after = { close + 1, (size_t)(dest.p + dest.len - close - 1) };
            host = (struct strv){ dest.p + 1, (size_t)(close - dest.p - 1) };
            ok = parse_ip(AF_INET6, host, r.host) && (after.len == 0 || after.p[0] == ':');
            port = after.len ? (struct strv){ after.p + 1, after.len - 1 } : STRV_NULL;
        }
    } else {
        const char *colon = memchr(dest.p, ':', dest.len);
        if (colon != NULL) {
            host = (struct strv){ dest.p, (size_t)(colon - dest.p) };
            port = (struct strv){ colon + 1, (size_t)(dest.p + dest.len - colon - 1) };
        }
        ok = valid_domain(host) && copy_strv(r.host, sizeof(r.host), host);
        lower_ascii(r.host);
    }
    if (!ok) {
        err_set(err, errlen, "\"%.*s\": not a host name or address after \"=\"", shown, item.p);
        return ERR_INVAL;
    }
    if (port.p != NULL && !parse_port(port, &r.port)) {
        err_set(err, errlen, "\"%.*s\": the port must be a number 1..65535", shown, item.p);
        return ERR_INVAL;
    }
    for (int i = 0; i < rs->count; i++) {
        if (strcmp(rs->r[i].domain, r.domain) == 0) {
            err_set(err, errlen, "two routes for \"%s\"", r.domain);
            return ERR_INVAL;
        }
    }
    if (rs->count >= SETTINGS_MAX_ROUTES) {
        err_set(err, errlen, "more than %d routes", SETTINGS_MAX_ROUTES);
        return ERR_INVAL;
    }
    rs->r[rs->count++] = r;
    return 0;
}

static void append_routes(struct buf *out, const struct s2s_route *r, int count)
{
    for (int i = 0; i < count; i++) {
        const char *fmt = strchr(r[i].host, ':') ? "%s%s=[%s]:%u%s" : "%s%s=%s:%u%s";
        buf_printf(out, fmt, i > 0 ? ", " : "", r[i].domain, r[i].host, (unsigned)r[i].port,
                   r[i].tls ? "/tls" : "");
    }
}

/* ---- The table's operations ---- */

/* Parses `text` for `d` and stores the value only when it is valid. */
static int set_value(struct settings *s, const struct setting *d, const char *text, char *err,
                     size_t errlen)
{
    void *f = field(s, d);
    long n;
    int rc;
    switch (d->type) {
    case SETTING_INT:
    case SETTING_LONG:
        rc = parse_number(text, d->min, d->max, &n, err, errlen);
        if (rc == 0 && d->type == SETTING_INT) {
            *(int *)f = (int)n;
        } else if (rc == 0) {
            *(long *)f = n;
        }
        return rc;
    case SETTING_BOOL:
        return parse_bool(text, (bool *)f, err, errlen);
    case SETTING_LEVEL:
        return parse_level(text, (int *)f, err, errlen);
    case SETTING_STRING:
    case SETTING_DOMAIN: {
        char tmp[512];
        _Static_assert(sizeof(tmp) >= sizeof(((struct settings *)0)->tls.client_ca_file),
                       "tmp must hold the largest string setting");
        rc = parse_string(d, text, tmp, err, errlen);
        if (rc == 0) {
            /* Zero the tail too: equal settings are equal byte for byte. */
            memset(f, 0, d->size);
            memcpy(f, tmp, strlen(tmp) + 1);
        }
        return rc;
    }
    case SETTING_LISTENER:
        return settings_parse_listener(text, (struct listener_cfg *)f, err, errlen);
    case SETTING_CHOICE:
        for (int i = 0; d->choices[i] != NULL; i++) {
            if (strv_case_eq(strv_trim(strv_c(text)), strv_c(d->choices[i]))) {
                *(int *)f = i;
                return 0;
            }
        }
        err_set(err, errlen, "\"%s\" is not one of: %s", text, d->values);
        return ERR_INVAL;
    case SETTING_ROUTES: {
        struct routes *rs = xcalloc(1, sizeof(*rs));
        rc = each_item(text, route_item, rs, err, errlen);
        if (rc == 0) {
            memcpy(f, rs->r, sizeof(rs->r));
            *(int *)((char *)s + d->aux) = rs->count;
        }
        free(rs);
        return rc;
    }
    }
    return ERR_INTERNAL;
}

static void append_value(const struct settings *s, const struct setting *d, struct buf *out)
{
    const void *f = cfield(s, d);
    switch (d->type) {
    case SETTING_INT:
        buf_printf(out, "%d", *(const int *)f);
        break;
    case SETTING_LONG:
        buf_printf(out, "%ld", *(const long *)f);
        break;
    case SETTING_BOOL:
        buf_append_c(out, *(const bool *)f ? "yes" : "no");
        break;
    case SETTING_LEVEL:
        buf_append_c(out, log_level_name(*(const int *)f));
        break;
    case SETTING_STRING:
    case SETTING_DOMAIN:
        buf_append_c(out, (const char *)f);
        break;
    case SETTING_LISTENER:
        append_listener(out, (const struct listener_cfg *)f);
        break;
    case SETTING_CHOICE:
        buf_append_c(out, d->choices[*(const int *)f]);
        break;
    case SETTING_ROUTES:
        append_routes(out, (const struct s2s_route *)f, *(const int *)((const char *)s + d->aux));
        break;
    }
}

/* The full description: meaning, accepted values and default. */
static void append_description(const struct setting *d, struct buf *out)
{
    buf_printf(out, "%s. Values: ", d->desc);
    if (d->values != NULL) {
        buf_append_c(out, d->values);
    } else if (d->type == SETTING_INT || d->type == SETTING_LONG) {
        buf_printf(out, "%ld..%ld", d->min, d->max);
    } else if (d->type == SETTING_BOOL) {
        buf_append_c(out, "yes or no");
    } else if (d->type == SETTING_LEVEL) {
        buf_append_c(out, "None, Crash, Failures, Major, Problems, Low-Level, All Info (or -1..5)");
    } else {
        buf_append_c(out, "text");
    }
    if (d->def[0] == '\0') {
        buf_append_c(out, ". Default: empty.");
    } else {
        buf_printf(out, ". Default: %s.", d->def);
    }
}

static int set_default(const struct setting *d, void *ud)
{
    char err[REASON_MAX];
    if (set_value(ud, d, d->def, err, sizeof(err)) != 0) {
        /* A bad default is a programming error, caught by the unit tests. */
        fprintf(stderr, "settings: bad default of %s: %s\n", d->key, err);
        abort();
    }
    return 0;
}

void settings_defaults(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    each_row(set_default, s);
}

struct settings *settings_dup(const struct settings *s)
{
    struct settings *copy = xmalloc(sizeof(*copy));
    *copy = *s;
    return copy;
}

void settings_free(struct settings *s)
{
    free(s);
}

int settings_set(struct settings *s, const char *key, const char *value, char *err, size_t errlen)
{
    char reason[REASON_MAX];
    const struct setting *d = find(key);
    if (d == NULL) {
        err_set(err, errlen, "unknown setting \"%s\"", key);
        return ERR_NOTFOUND;
    }
    int rc = set_value(s, d, value ? value : "", reason, sizeof(reason));
    if (rc != 0) {
        err_set(err, errlen, "%s: %s", key, reason);
    }
    return rc;
}

int settings_get(const struct settings *s, const char *key, struct buf *out)
{
    const struct setting *d = find(key);
    if (d == NULL) {
        return ERR_NOTFOUND;
    }
    /* Built apart so that `out` gets the whole value or nothing. */
    struct buf value;
    buf_init(&value, MAX_FILE);
    append_value(s, d, &value);
    int rc = buf_append_strv(out, buf_strv(&value));
    buf_cleanup(&value);
    return rc;
}

struct foreach_ctx {
    const struct settings *s;
    settings_each_fn *fn;
    void *ud;
    struct buf value, desc;
};

static int foreach_row(const struct setting *d, void *ud)
{
    struct foreach_ctx *fc = ud;
    buf_reset(&fc->value);
    buf_reset(&fc->desc);
    append_value(fc->s, d, &fc->value);
    append_description(d, &fc->desc);
    fc->fn(fc->ud, d->key, buf_cstr(&fc->value), buf_cstr(&fc->desc));
    return 0;
}

void settings_foreach(const struct settings *s, settings_each_fn *fn, void *ud)
{
    struct foreach_ctx fc = { .s = s, .fn = fn, .ud = ud };
    buf_init(&fc.value, MAX_FILE);
    buf_init(&fc.desc, 4096);
    each_row(foreach_row, &fc);
    buf_cleanup(&fc.value);
    buf_cleanup(&fc.desc);
}

/* ---- The settings file ---- */

/* Parses the value part of a line: a double-quoted string with \" and \\ escapes, or bare text
 * up to a '#' comment. Writes the value into out. */
static int parse_file_value(struct strv v, struct buf *out, char *err, size_t errlen)
{
    v = strv_trim(v);
    if (v.len == 0 || v.p[0] != '"') {
        const char *hash = memchr(v.p, '#', v.len);
        if (hash != NULL) {
            v.len = (size_t)(hash - v.p);
        }
        buf_append_strv(out, strv_trim(v));
        return 0;
    }
    size_t i = 1;
    for (; i < v.len && v.p[i] != '"'; i++) {
        char c = v.p[i];
        if (c == '\\' && i + 1 < v.len && (v.p[i + 1] == '"' || v.p[i + 1] == '\\')) {
            c = v.p[++i];
        }
        buf_append_char(out, c);
    }
    if (i >= v.len) {
        err_set(err, errlen, "unterminated quoted value");
        return ERR_INVAL;
    }
    struct strv rest = strv_trim((struct strv){ v.p + i + 1, v.len - i - 1 });
    if (rest.len > 0 && rest.p[0] != '#') {
        err_set(err, errlen, "unexpected text after the quoted value");
        return ERR_INVAL;
    }
    return 0;
}

/* Applies one line of the file to s; blank lines and comments do nothing. */
static int load_line(struct settings *s, struct strv line, char *err, size_t errlen)
{
    line = strv_trim(line);
    if (line.len == 0 || line.p[0] == '#') {
        return 0;
    }
    if (memchr(line.p, '\0', line.len) != NULL) {
        err_set(err, errlen, "the line contains a NUL byte");
        return ERR_INVAL;
    }
    const char *eq = memchr(line.p, '=', line.len);
    struct strv key = strv_trim((struct strv){ line.p, eq ? (size_t)(eq - line.p) : 0 });
    if (eq == NULL || key.len == 0) {
        err_set(err, errlen, "expected \"key = value\"");
        return ERR_INVAL;
    }
    struct buf value;
    buf_init(&value, MAX_LINE);
    char *k = strv_dup(key);
    int rc = parse_file_value((struct strv){ eq + 1, (size_t)(line.p + line.len - eq - 1) }, &value,
                              err, errlen);
    if (rc == 0) {
        rc = settings_set(s, k, buf_cstr(&value), err, errlen);
        rc = rc == ERR_NOTFOUND ? ERR_INVAL : rc;
    }
    free(k);
    buf_cleanup(&value);
    return rc;
}

int settings_load(struct settings *s, const char *path, char *err, size_t errlen)
{
    char reason[REASON_MAX];
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        err_set(err, errlen, "%s: %s", path, strerror(errno));
        return ERR_IO;
    }
    /* Work on a copy so that a bad line leaves `s` as it was. */
    struct settings *tmp = settings_dup(s);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        struct strv v = { line, (size_t)n };
        while (v.len > 0 && (v.p[v.len - 1] == '\n' || v.p[v.len - 1] == '\r')) {
            v.len--;
        }
        if (v.len > MAX_LINE) {
            err_set(reason, sizeof(reason), "the line is too long");
            rc = ERR_INVAL;
        } else {
            rc = load_line(tmp, v, reason, sizeof(reason));
        }
        if (rc != 0) {
            err_set(err, errlen, "%s:%d: %s", path, lineno, reason);
            goto fail;
        }
    }
    if (ferror(f)) {
        err_set(err, errlen, "%s: read error", path);
        rc = ERR_IO;
        goto fail;
    }
    *s = *tmp;
fail:
    free(line);
    fclose(f);
    settings_free(tmp);
    return rc;
}

/* A value is quoted when reading it bare would change it. */
static void append_file_value(struct buf *out, const char *v)
{
    size_t len = strlen(v);
    bool quote =
        len == 0 || is_blank(v[0]) || is_blank(v[len - 1]) || strchr(v, '#') != NULL || v[0] == '"';
    if (!quote) {
        buf_append(out, v, len);
        return;
    }
    buf_append_char(out, '"');
    for (; *v; v++) {
        if (*v == '"' || *v == '\\') {
            buf_append_char(out, '\\');
        }
        buf_append_char(out, *v);
    }
    buf_append_char(out, '"');
}

static void save_item(void *ud, const char *key, const char *value, const char *description)
{
    struct buf *out = ud;
    buf_printf(out, "# %s\n%s = ", description, key);
    append_file_value(out, value);
    buf_append_c(out, "\n\n");
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return ERR_IO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 0 : (slash == path ? 1 : (size_t)(slash - path));
    char *dir = slash == NULL ? xstrdup(".") : strv_dup((struct strv){ path, len });
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) {
        return ERR_IO;
    }
    int rc = fsync(fd) == 0 ? 0 : ERR_IO;
    close(fd);
    return rc;
}

int settings_save(const struct settings *s, const char *path)
{
    struct buf text;
    struct buf tmp_path;
    int fd = -1;
    int rc = ERR_IO;
    bool renamed = false;
    buf_init(&text, MAX_FILE);
    buf_init(&tmp_path, 4096);
    buf_append_c(&text,
                 "# Starling settings, written by the server.\n"
                 "# One \"key = value\" a line; '#' starts a comment; a value with spaces at\n"
                 "# either end or with '#' is written in double quotes (\\\" and \\\\ inside).\n"
                 "# docs/settings.md describes every setting.\n\n");
    settings_foreach(s, save_item, &text);
    if (buf_printf(&tmp_path, "%s.tmp", path) != 0) {
        goto fail;
    }
    fd = open(buf_cstr(&tmp_path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        goto fail;
    }
    /* fchmod: an older temp file may have had another mode, and umask may narrow 0600 anyway. */
    if (fchmod(fd, 0600) != 0 || write_all(fd, text.p, text.len) != 0 || fsync(fd) != 0) {
        goto fail;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || rename(buf_cstr(&tmp_path), path) != 0) {
        goto fail;
    }
    renamed = true;
    /* The rename is durable only once the directory entry is on disk. */
    rc = fsync_parent(path);
fail:
    if (fd >= 0) {
        close(fd);
    }
    if (!renamed && tmp_path.len > 0) {
        unlink(buf_cstr(&tmp_path));
    }
    buf_cleanup(&text);
    buf_cleanup(&tmp_path);
    return rc;
}
