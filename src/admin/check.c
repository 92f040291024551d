/* check.c: starlingd --check: what would stop the server, or its users and peers, from working. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "core/err.h"
#include "admin/check.h"
#include "store/store.h"
#include "tls/certcheck.h"
#include "tls/tls.h"

#define EXPIRY_WARN_DAYS 30

void check__finding(struct check_report *r, bool error, const char *fix, const char *fmt, ...)
{
    va_list ap;
    fputs(error ? "error: " : "warning: ", r->out);
    va_start(ap, fmt);
    vfprintf(r->out, fmt, ap);
    va_end(ap);
    fprintf(r->out, ". Fix: %s\n", fix);
    if (error) {
        r->errors++;
    } else {
        r->warnings++;
    }
}

/* A secret file: only its owner may read it. */
static void check_private_file(struct check_report *r, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && (sb.st_mode & 077) != 0) {
        char fix[1400];
        snprintf(fix, sizeof(fix), "chmod 600 %s", path);
        check__finding(r, true, fix, "%s is readable or writable by others (mode %03o)", path,
                       (unsigned)(sb.st_mode & 0777));
    }
}

static void check_datadir(struct check_report *r, const struct check_opts *o)
{
    struct stat sb;
    char fix[1400];
    if (stat(o->datadir, &sb) != 0) {
        bool absent = errno == ENOENT;
        snprintf(fix, sizeof(fix), "create it (mkdir -m 700 %s) owned by the server's user%s",
                 o->datadir, absent ? ", or let the first start create it" : "");
        check__finding(r, !absent, fix, "data directory %s: %s", o->datadir, strerror(errno));
        return;
    }
    if (access(o->datadir, W_OK | X_OK) != 0) {
        snprintf(fix, sizeof(fix), "chown the directory to the server's user (uid %ld)",
                 (long)geteuid());
        check__finding(r, true, fix, "data directory %s is not writable by uid %ld", o->datadir,
                       (long)geteuid());
    }
    if ((sb.st_mode & 022) != 0) {
        snprintf(fix, sizeof(fix), "chmod 700 %s", o->datadir);
        check__finding(r, true, fix, "data directory %s is writable by others (mode %03o)",
                       o->datadir, (unsigned)(sb.st_mode & 0777));
    } else if ((sb.st_mode & 007) != 0) {
        snprintf(fix, sizeof(fix), "chmod 700 %s", o->datadir);
        check__finding(r, false, fix, "data directory %s is readable by others (mode %03o)",
                       o->datadir, (unsigned)(sb.st_mode & 0777));
    }
    static const char *const secrets[] = { "starling.db", "secret", "postmaster-password" };
    char path[1400];
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", o->datadir, secrets[i]);
        check_private_file(r, path);
    }
    check_private_file(r, o->conf_path);
}

/* Held by a running starlingd (main.c's lock_datadir). */
static bool server_running(const char *datadir)
{
    char path[1400];
    snprintf(path, sizeof(path), "%s/starling.lock", datadir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

static int socket_addr(const struct listen_socket *ls, bool connect_to, struct sockaddr_storage *ss,
                       socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    const char *a = ls->address[0] ? ls->address : (connect_to ? "127.0.0.1" : "0.0.0.0");
    if (inet_pton(AF_INET, a, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(ls->port);
        *len = sizeof(*v4);
        return AF_INET;
    }
    if (inet_pton(AF_INET6, a, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(ls->port);
        *len = sizeof(*v6);
        return AF_INET6;
    }
    return -1;
}

/* Running server: each socket accepts a connection; stopped: each could be bound. */
static void check_socket(struct check_report *r, const char *key, const struct listen_socket *ls,
                         bool running)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int family = socket_addr(ls, running, &ss, &len);
    char fix[256];
    if (family < 0) {
        return; /* a host name: the settings parser does not produce one */
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    const char *where = ls->address[0] ? ls->address : "*";
    if (running && connect(fd, (struct sockaddr *)&ss, len) != 0) {
        snprintf(fix, sizeof(fix),
                 "look for the reason in the System Log (tag XMPPI/SYSTEM), or "
                 "change %s",
                 key);
        check__finding(r, true, fix, "%s: nothing accepts connections on %s port %u (%s)", key,
                       where, ls->port, strerror(errno));
    } else if (!running) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, len) != 0 && errno == EADDRINUSE) {
            snprintf(fix, sizeof(fix),
                     "stop the other program (ss -ltnp 'sport = :%u') or change "
                     "%s",
                     ls->port, key);
            check__finding(r, true, fix, "%s: port %u on %s is used by another program", key,
                           ls->port, where);
        } else if (errno == EACCES) {
            snprintf(fix, sizeof(fix),
                     "run starlingd with CAP_NET_BIND_SERVICE (the systemd "
                     "unit grants it) or choose a port above 1023");
            check__finding(r, true, fix, "%s: port %u needs a privilege this user lacks", key,
                           ls->port);
        }
    }
    close(fd);
}

static bool is_loopback(const char *a)
{
    return strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 || strcmp(a, "localhost") == 0;
}

static void check_ports(struct check_report *r, const struct check_opts *o)
{
    bool running = server_running(o->datadir);
    const struct listener_cfg *x = &o->cfg->xmpp.listener;
    const struct listener_cfg *w = &o->cfg->webadmin.listener;
    for (int i = 0; i < x->count; i++) {
        check_socket(r, "xmpp.listener", &x->sockets[i], running);
    }
    for (int i = 0; i < w->count; i++) {
        check_socket(r, "webadmin.listener", &w->sockets[i], running);
        if (!w->sockets[i].tls && !is_loopback(w->sockets[i].address)) {
            check__finding(r, false,
                           "serve the WebAdmin over HTTPS only, or bind the clear-text port "
                           "to loopback: webadmin.listener = \"127.0.0.1:8010, 9010/tls\"",
                           "webadmin.listener: port %u serves the WebAdmin's passwords in clear "
                           "text on %s",
                           w->sockets[i].port,
                           w->sockets[i].address[0] ? w->sockets[i].address : "every address");
        }
    }
}

/* A public name: DNS says something about it (not "localhost" or a one-label name). */
static bool public_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot != NULL && strcmp(dot, ".localhost") != 0 && strcmp(dot, ".local") != 0;
}

/* The file holding `name`'s certificate: its own, or its parent domain's (SNI falls back). */
static void cert_paths(const char *datadir, const char *name, const char *parent, char *crt,
                       char *key, size_t size)
{
    snprintf(crt, size, "%s/certs/%s.crt", datadir, name);
    snprintf(key, size, "%s/certs/%s.key", datadir, name);
    if (parent != NULL && access(crt, F_OK) != 0) {
        snprintf(crt, size, "%s/certs/%s.crt", datadir, parent);
        snprintf(key, size, "%s/certs/%s.key", datadir, parent);
    }
}

static void check_validity(struct check_report *r, const char *crt, const struct tls_cert_info *ci)
{
    time_t now = time(NULL);
    if (ci->not_after < now) {
        check__finding(r, true, "renew the certificate and run systemctl reload starling",
                       "%s expired %lld days ago", crt, (long long)(now - ci->not_after) / 86400);
    } else if (ci->not_after < now + EXPIRY_WARN_DAYS * 86400) {
        check__finding(r, false, "renew the certificate and run systemctl reload starling",
                       "%s expires in %lld days", crt, (long long)(ci->not_after - now) / 86400);
    }
    if (ci->not_before > now) {
        check__finding(r, true, "check the system clock, or the certificate's validity dates",
                       "%s is not valid yet", crt);
    }
}

static void check_cert(struct check_report *r, const struct check_opts *o, const char *name,
                       const char *parent)
{
    char crt[1400], key[1400], fix[1600];
    cert_paths(o->datadir, name, parent, crt, key, sizeof(crt));
    struct tls_cert_info ci;
    int rc = tls_cert_describe(crt, &ci);
    if (rc == ERR_NOTFOUND) {
        snprintf(fix, sizeof(fix),
                 "put a certificate naming %s in %s (and its key beside it), or "
                 "let the server generate a self-signed one at start",
                 name, crt);
        check__finding(r, parent == NULL && !o->before_first_start, fix, "%s has no certificate",
                       name);
        return;
    }
    if (rc != 0) {
        snprintf(fix, sizeof(fix), "replace %s with a PEM certificate followed by its chain", crt);
        check__finding(r, true, fix, "%s is not a PEM certificate", crt);
        return;
    }
    if (!public_name(name)) {
        return; /* "localhost": a development set-up, no peer checks it */
    }
    if (tls_cert_covers(crt, name) != 1) {
        snprintf(fix, sizeof(fix), "get a certificate whose subjectAltName lists %s (or *.%s)",
                 name, parent ? parent : name);
        check__finding(r, true, fix, "%s does not name %s (it names: %s)", crt, name,
                       ci.names[0] ? ci.names : ci.subject);
    }
    check_validity(r, crt, &ci);
    struct tls_cert_check cc;
    /* Peers verify with their roots: the s2s CA file when the federation has its own. */
    const char *ca = o->cfg->tls.s2s_ca_file;
    if (tls_cert_check_files(crt, key, strcmp(ca, "system") == 0 ? "" : ca, &cc) != 0) {
        return;
    }
    if (!cc.key_matches) {
        snprintf(fix, sizeof(fix), "put the certificate's own private key in %s", key);
        check__finding(r, true, fix, "%s", cc.key_error);
    }
    if (ci.self_signed) {
        check__finding(r, false,
                       "get a certificate from a public CA (e.g. Let's Encrypt) naming the "
                       "domain and its services, and put it in the certs folder",
                       "%s for %s is self-signed: clients and servers will not trust it", crt,
                       name);
    } else if (!cc.chain_ok) {
        snprintf(fix, sizeof(fix), "append the intermediate certificates to %s", crt);
        check__finding(r, true, fix, "%s does not verify: %s", crt, cc.chain_error);
    }
}

static void check_ca_file(struct check_report *r, const char *key, const char *path)
{
    if (path[0] == '\0' || strcmp(path, "system") == 0 || access(path, R_OK) == 0) {
        return;
    }
    char fix[700];
    snprintf(fix, sizeof(fix), "point %s at a readable PEM file of CA certificates, or empty it",
             key);
    check__finding(r, true, fix, "%s: %s: %s", key, path, strerror(errno));
}

struct domains {
    struct check_report *r;
    const struct check_opts *o;
    struct store *st;
    int n;
};

static int check_domain(void *ud, const char *name, const char *unused)
{
    (void)unused;
    struct domains *d = ud;
    struct domain_cfg dc;
    d->n++;
    check_cert(d->r, d->o, name, NULL);
    bool have = accounts_domain_get(d->st, name, &dc) == 0;
    if (have && dc.chat_service[0]) {
        const char *dot = strchr(dc.chat_service, '.');
        bool under = dot != NULL && strcmp(dot + 1, name) == 0;
        check_cert(d->r, d->o, dc.chat_service, under ? name : NULL);
    }
    if (d->o->dns && public_name(name)) {
        check__dns(d->r, d->o->cfg, name, false);
        if (have && dc.chat_service[0]) {
            check__dns(d->r, d->o->cfg, dc.chat_service, true);
        }
    }
    return 0;
}

/* Before the first start: the main domain is what there will be. */
static void check_first_start(struct check_report *r, const struct check_opts *o)
{
    struct check_opts first = *o;
    first.before_first_start = true;
    check_cert(r, &first, o->cfg->server.main_domain, NULL);
}

static void check_domains(struct check_report *r, const struct check_opts *o)
{
    struct stat sb;
    if (store_is_sqlite() && (stat(o->db_path, &sb) != 0 || sb.st_size == 0)) {
        check_first_start(r, o);
        return;
    }
    char err[512];
    struct domains d = { r, o, store_open(o->db_path, err, sizeof(err)), 0 };
    if (d.st == NULL) {
        check__finding(r, true, "restore the database from a backup (docs/backup.md)",
                       "cannot open %s: %s", o->db_path, err);
        return;
    }
    store_domain_list(d.st, check_domain, &d);
    store_close(d.st);
    if (d.n == 0 && !store_is_sqlite()) {
        /* PostgreSQL: an empty database is what the first start finds (opening it for the check
         * created the tables, as the first start would). */
        check_first_start(r, o);
    } else if (d.n == 0) {
        check__finding(r, true, "add one: starlingctl domain add example.org",
                       "the database holds no domain");
    }
}

int admin_check_run(const struct check_opts *o, FILE *out)
{
    struct check_report r = { out, 0, 0 };
    check_datadir(&r, o);
    check_ports(&r, o);
    check_ca_file(&r, "tls.client_ca_file", o->cfg->tls.client_ca_file);
    check_ca_file(&r, "tls.s2s_ca_file", o->cfg->tls.s2s_ca_file);
    check_domains(&r, o);
    if (!o->dns) {
        fputs("note: DNS records not checked (--no-dns)\n", out);
    }
    if (r.errors == 0 && r.warnings == 0) {
        fputs("All checks passed.\n", out);
    } else {
        fprintf(out, "%d error%s, %d warning%s.\n", r.errors, r.errors == 1 ? "" : "s", r.warnings,
                r.warnings == 1 ? "" : "s");
    }
    return r.errors;
}
