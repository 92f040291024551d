/* test_admin.c: the admin JSON API on a temporary database with fake hooks, and its Unix socket. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "auth/lockout.h"
#include "admin/admin.h"
#include "testutil.h"

#define SECRET "S3cret-Passw0rd"

/* ---- fake server hooks: they record every call ---- */

struct fake {
    char domains[32][128];
    int ndomains;
    char accounts[32][128];
    int naccounts;
    char set_key[128];
    char set_value[128];
    int nset;
    int ncalls_get;
};

static void fake_domain_changed(void *ud, const char *domain)
{
    struct fake *f = ud;
    assert_true(f->ndomains < 32);
    snprintf(f->domains[f->ndomains++], sizeof(f->domains[0]), "%s", domain);
}

static void fake_account_changed(void *ud, const char *jid)
{
    struct fake *f = ud;
    assert_true(f->naccounts < 32);
    snprintf(f->accounts[f->naccounts++], sizeof(f->accounts[0]), "%s", jid);
}

static json_t *fake_settings_get(void *ud)
{
    struct fake *f = ud;
    f->ncalls_get++;
    return json_pack("{s:s, s:s, s:s}", "server.workers", "2", "server.main_domain", "localhost",
                     "xmpp.receiving.channels", "100");
}

static int fake_settings_set(void *ud, const char *key, const char *value, char *err, size_t errlen)
{
    struct fake *f = ud;
    if (strcmp(key, "server.workers") != 0) {
        snprintf(err, errlen, "unknown setting: %s", key);
        return ERR_NOTFOUND;
    }
    if (strspn(value, "0123456789") != strlen(value) || value[0] == '\0') {
        snprintf(err, errlen, "server.workers: not a number: %s", value);
        return ERR_INVAL;
    }
    snprintf(f->set_key, sizeof(f->set_key), "%s", key);
    snprintf(f->set_value, sizeof(f->set_value), "%s", value);
    f->nset++;
    return 0;
}

static json_t *fake_connections(void *ud)
{
    (void)ud;
    return json_pack("[{s:i, s:s, s:s, s:s, s:n, s:n, s:i}]", "id", 7, "kind", "c2s", "state",
                     "auth", "peer", "127.0.0.1:4000", "jid", "tls", "since", 1700000000);
}

/* ---- fixture: a temporary folder, a fresh database per test ---- */

struct fixture {
    char dir[64];
    char db[128];
    char logdir[128];
    struct fake fake;
    struct admin *a;
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    char err[256] = "";
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/starling-admin-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->db, sizeof(fx->db), "%s/starling.db", fx->dir);
    snprintf(fx->logdir, sizeof(fx->logdir), "%s/SystemLogs", fx->dir);
    struct log_options lo = { .dir = fx->logdir, .to_stderr = false };
    assert_int_equal(log_open(&lo), 0);
    log_set_level(LOG_TAG_ADMIN, LOG_ALLINFO);
    struct admin_hooks hooks = {
        .settings_set = fake_settings_set,
        .settings_get = fake_settings_get,
        .connections = fake_connections,
        .domain_changed = fake_domain_changed,
        .account_changed = fake_account_changed,
        .ud = &fx->fake,
    };
    fx->a = admin_new(fx->db, &hooks, err, sizeof(err));
    assert_non_null(fx->a);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    admin_free(fx->a);
    log_close();
    test_rmtree(fx->dir);
    free(fx);
    return 0;
}

/* ---- request helpers ---- */

/* Runs op with args (stolen; NULL: none) and returns the whole response. */
static json_t *call(struct admin *a, const char *op, json_t *args)
{
    json_t *req = args != NULL ? json_pack("{s:s, s:o}", "op", op, "args", args)
                               : json_pack("{s:s}", "op", op);
    assert_non_null(req);
    json_t *resp = admin_handle(a, req);
    json_decref(req);
    assert_non_null(resp);
    return resp;
}

/* Asserts success and returns the result (new reference). */
static json_t *ok(struct admin *a, const char *op, json_t *args)
{
    json_t *resp = call(a, op, args);
    if (!json_is_true(json_object_get(resp, "ok"))) {
        fail_msg("%s failed: %s", op, json_string_value(json_object_get(resp, "error")));
    }
    json_t *result = json_incref(json_object_get(resp, "result"));
    assert_non_null(result);
    json_decref(resp);
    return result;
}

static void ok_void(struct admin *a, const char *op, json_t *args)
{
    json_t *r = ok(a, op, args);
    assert_true(json_is_null(r));
    json_decref(r);
}

/* Asserts failure with `code` and an error text that contains `needle`. */
static void check_error(json_t *resp, const char *code, const char *needle)
{
    assert_true(json_is_false(json_object_get(resp, "ok")));
    const char *e = json_string_value(json_object_get(resp, "error"));
    assert_non_null(e);
    assert_null(strchr(e, '\n'));
    if (strstr(e, needle) == NULL) {
        fail_msg("error '%s' lacks '%s'", e, needle);
    }
    assert_string_equal(json_string_value(json_object_get(resp, "code")), code);
    assert_null(json_object_get(resp, "result"));
}

static void err(struct admin *a, const char *op, json_t *args, const char *code, const char *needle)
{
    json_t *resp = call(a, op, args);
    check_error(resp, code, needle);
    json_decref(resp);
}

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL) {
        fail_msg("no string %s", key);
    }
    return s;
}

/* ---- domains ---- */

static void test_domains(void **state)
{
    struct fixture *fx = *state;
    struct admin *a = fx->a;
    json_t *r;

    ok_void(a, "domain.add", json_pack("{s:s}", "name", "Example.COM"));
    assert_int_equal(fx->fake.ndomains, 1);
    assert_string_equal(fx->fake.domains[0], "example.com");
    err(a, "domain.add", json_pack("{s:s}", "name", "example.com"), "exists", "example.com");
    assert_int_equal(fx->fake.ndomains, 1);
    ok_void(a, "domain.add", json_pack("{s:s}", "name", "b.test"));

    r = ok(a, "domain.list", NULL);
    assert_int_equal(json_array_size(r), 2);
    assert_string_equal(json_string_value(json_array_get(r, 0)), "b.test");
    assert_string_equal(json_string_value(json_array_get(r, 1)), "example.com");
    json_decref(r);

    r = ok(a, "domain.show", json_pack("{s:s}", "name", "example.com"));
    assert_string_equal(str(r, "password_storage"), "scram");
    assert_non_null(json_object_get(r, "login_methods"));
    assert_non_null(json_object_get(r, "aliases"));
    /* The accounts module's order is kept: login_methods comes first. */
    assert_string_equal(json_object_iter_key(json_object_iter(r)), "login_methods");
    json_decref(r);

    /* Settings applied in order; JSON true becomes "yes". */
    ok_void(a, "domain.set",
            json_pack("{s:s, s:{s:s, s:s, s:b, s:s}}", "name", "example.com", "settings",
                      "password_storage", "clear", "login_methods", "SCRAM-SHA-256,PLAIN",
                      "auto_signup", 1, "aliases", "alias.test"));
    assert_int_equal(fx->fake.ndomains, 3);
    assert_string_equal(fx->fake.domains[2], "example.com");
    /* An alias names its domain for show and set. */
    r = ok(a, "domain.show", json_pack("{s:s}", "name", "alias.test"));
    assert_string_equal(str(r, "password_storage"), "clear");
    assert_string_equal(str(r, "auto_signup"), "yes");
    assert_non_null(strstr(str(r, "login_methods"), "PLAIN"));
    assert_null(strstr(str(r, "login_methods"), "CRAM-MD5"));
    assert_string_equal(str(r, "aliases"), "alias.test");
    json_decref(r);

    /* Stops at the first error: xmpp=no applied, then the bad key fails, the rest is skipped. */
    json_t *args = json_object();
    json_t *set = json_object();
    json_object_set_new(set, "xmpp", json_string("no"));
    json_object_set_new(set, "no_such_key", json_string("1"));
    json_object_set_new(set, "auto_signup", json_string("no"));
    json_object_set_new(args, "name", json_string("example.com"));
    json_object_set_new(args, "settings", set);
    err(a, "domain.set", args, "inval", "no_such_key");
    assert_int_equal(fx->fake.ndomains, 4); /* a partial change is still notified */
    r = ok(a, "domain.show", json_pack("{s:s}", "name", "example.com"));
    assert_string_equal(str(r, "xmpp"), "no");
    assert_string_equal(str(r, "auto_signup"), "yes");
    json_decref(r);

    err(a, "domain.set", json_pack("{s:s, s:{s:[]}}", "name", "example.com", "settings", "xmpp"),
        "inval", "xmpp");
    err(a, "domain.set", json_pack("{s:s, s:{}}", "name", "example.com", "settings"), "inval",
        "no settings");
    err(a, "domain.set", json_pack("{s:s, s:s}", "name", "example.com", "settings", "x"), "inval",
        "settings must be an object");
    err(a, "domain.set",
        json_pack("{s:s, s:{s:s}}", "name", "nowhere.test", "settings", "xmpp", "no"), "notfound",
        "unknown domain: nowhere.test");
    err(a, "domain.show", json_pack("{s:s}", "name", "nowhere.test"), "notfound",
        "unknown domain: nowhere.test");
    err(a, "domain.add", json_pack("{s:s}", "name", ""), "inval", "invalid domain name");
    err(a, "domain.add", json_pack("{s:s}", "name", "bad domain!"), "inval", "invalid domain");
    int before = fx->fake.ndomains;
    err(a, "domain.remove", json_pack("{s:s}", "name", "nowhere.test"), "notfound", "nowhere.test");
    assert_int_equal(fx->fake.ndomains, before);

    ok_void(a, "domain.remove", json_pack("{s:s}", "name", "b.test"));
    assert_string_equal(fx->fake.domains[fx->fake.ndomains - 1], "b.test");
    r = ok(a, "domain.list", json_object());
    assert_int_equal(json_array_size(r), 1);
    json_decref(r);
}

/* ---- accounts ---- */

static void test_accounts(void **state)
{
    struct fixture *fx = *state;
    struct admin *a = fx->a;
    json_t *r;

    ok_void(a, "domain.add", json_pack("{s:s}", "name", "example.com"));
    ok_void(
        a, "domain.set",
        json_pack("{s:s, s:{s:s}}", "name", "example.com", "settings", "aliases", "alias.test"));

    ok_void(a, "account.add",
            json_pack("{s:s, s:s}", "jid", "Alice@Example.com", "password", SECRET));
    assert_int_equal(fx->fake.naccounts, 1);
    assert_string_equal(fx->fake.accounts[0], "alice@example.com");
    /* Through the alias: the hook sees the canonical address. */
    ok_void(a, "account.add", json_pack("{s:s, s:s}", "jid", "bob@alias.test", "password", "pw"));
    assert_string_equal(fx->fake.accounts[1], "bob@example.com");
    err(a, "account.add", json_pack("{s:s, s:s}", "jid", "alice@example.com", "password", "x"),
        "exists", "");
    err(a, "account.add", json_pack("{s:s}", "jid", "carol@example.com"), "inval",
        "missing argument: password");
    err(a, "account.add", json_pack("{s:s, s:s}", "jid", "x@nowhere.test", "password", "x"),
        "notfound", "");
    err(a, "account.add", json_pack("{s:s, s:s}", "jid", "example.com", "password", "x"), "inval",
        "local@domain");
    err(a, "account.add", json_pack("{s:s, s:s}", "jid", "a@example.com/res", "password", "x"),
        "inval", "local@domain");
    err(a, "account.add", json_pack("{s:s, s:s}", "jid", "a b@@", "password", "x"), "inval",
        "invalid JID");
    assert_int_equal(fx->fake.naccounts, 2);

    r = ok(a, "account.list", json_pack("{s:s}", "domain", "example.com"));
    assert_int_equal(json_array_size(r), 2);
    assert_string_equal(json_string_value(json_array_get(r, 0)), "alice@example.com");
    assert_string_equal(json_string_value(json_array_get(r, 1)), "bob@example.com");
    json_decref(r);
    err(a, "account.list", json_pack("{s:s}", "domain", "nowhere.test"), "notfound",
        "unknown domain: nowhere.test");

    r = ok(a, "account.show", json_pack("{s:s}", "jid", "alice@example.com"));
    assert_string_equal(str(r, "admin"), "no");
    assert_string_equal(str(r, "disabled"), "no");
    assert_non_null(json_object_get(r, "real_name"));
    char *dump = json_dumps(r, 0);
    assert_null(strstr(dump, SECRET));
    free(dump);
    json_decref(r);

    ok_void(a, "account.set",
            json_pack("{s:s, s:{s:b, s:s}}", "jid", "alice@example.com", "settings", "admin", 1,
                      "real_name", "Alice A."));
    assert_string_equal(fx->fake.accounts[fx->fake.naccounts - 1], "alice@example.com");
    r = ok(a, "account.show", json_pack("{s:s}", "jid", "alice@example.com"));
    assert_string_equal(str(r, "admin"), "yes");
    assert_string_equal(str(r, "real_name"), "Alice A.");
    json_decref(r);
    err(a, "account.set",
        json_pack("{s:s, s:{s:s}}", "jid", "alice@example.com", "settings", "admin", "maybe"),
        "inval", "admin");
    err(a, "account.set",
        json_pack("{s:s, s:{s:f}}", "jid", "alice@example.com", "settings", "admin", 1.5), "inval",
        "must be a string");

    int before = fx->fake.naccounts;
    ok_void(a, "account.passwd",
            json_pack("{s:s, s:s}", "jid", "alice@example.com", "password", SECRET "2"));
    assert_int_equal(fx->fake.naccounts, before + 1);
    err(a, "account.passwd", json_pack("{s:s, s:s}", "jid", "zed@example.com", "password", "x"),
        "notfound", "");

    ok_void(a, "account.remove", json_pack("{s:s}", "jid", "bob@example.com"));
    err(a, "account.remove", json_pack("{s:s}", "jid", "bob@example.com"), "notfound", "");
    err(a, "account.show", json_pack("{s:s}", "jid", "bob@example.com"), "notfound",
        "bob@example.com");
    r = ok(a, "account.list", json_pack("{s:s}", "domain", "alias.test"));
    assert_int_equal(json_array_size(r), 1);
    json_decref(r);

    /* Every change was logged, and no password ever was. */
    log_close();
    DIR *d = opendir(fx->logdir);
    assert_non_null(d);
    struct dirent *de;
    struct buf all;
    buf_init(&all, 1 << 20);
    while ((de = readdir(d)) != NULL) {
        char path[512];
        char chunk[4096];
        size_t n;
        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", fx->logdir, de->d_name);
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
            assert_int_equal(buf_append(&all, chunk, n), 0);
        }
        fclose(fp);
    }
    closedir(d);
    assert_non_null(strstr(buf_cstr(&all), "account added: alice@example.com"));
    assert_non_null(strstr(buf_cstr(&all), "account password changed: alice@example.com"));
    assert_non_null(strstr(buf_cstr(&all), "ADMIN"));
    assert_null(strstr(buf_cstr(&all), SECRET));
    buf_cleanup(&all);
}

/* ---- settings and connections ---- */

static void test_settings_and_connections(void **state)
{
    struct fixture *fx = *state;
    struct admin *a = fx->a;
    json_t *r;

    r = ok(a, "settings.get", NULL);
    assert_int_equal(json_object_size(r), 3);
    assert_string_equal(str(r, "server.workers"), "2");
    assert_string_equal(json_object_iter_key(json_object_iter(r)), "server.workers");
    json_decref(r);
    r = ok(a, "settings.get", json_pack("{s:s}", "key", "server.main_domain"));
    assert_string_equal(json_string_value(r), "localhost");
    json_decref(r);
    err(a, "settings.get", json_pack("{s:s}", "key", "nope"), "notfound", "unknown setting: nope");
    err(a, "settings.get", json_pack("{s:i}", "key", 3), "inval", "key must be a string");

    ok_void(a, "settings.set", json_pack("{s:s, s:s}", "key", "server.workers", "value", "4"));
    assert_int_equal(fx->fake.nset, 1);
    assert_string_equal(fx->fake.set_value, "4");
    ok_void(a, "settings.set", json_pack("{s:s, s:i}", "key", "server.workers", "value", 8));
    assert_string_equal(fx->fake.set_value, "8");
    err(a, "settings.set", json_pack("{s:s, s:s}", "key", "server.workers", "value", "many"),
        "inval", "not a number");
    err(a, "settings.set", json_pack("{s:s, s:s}", "key", "bogus", "value", "1"), "notfound",
        "unknown setting: bogus");
    err(a, "settings.set", json_pack("{s:s}", "key", "server.workers"), "inval",
        "missing argument: value");
    assert_int_equal(fx->fake.nset, 2);

    r = ok(a, "connections", NULL);
    assert_int_equal(json_array_size(r), 1);
    assert_string_equal(str(json_array_get(r, 0), "kind"), "c2s");
    assert_true(json_is_null(json_object_get(json_array_get(r, 0), "jid")));
    json_decref(r);
}

/* Without hooks the server-side ops fail cleanly and the store ops still work. */
static void test_no_hooks(void **state)
{
    struct fixture *fx = *state;
    char path[160];
    char e[256] = "";
    snprintf(path, sizeof(path), "%s/other.db", fx->dir);
    struct admin *a = admin_new(path, NULL, e, sizeof(e));
    assert_non_null(a);
    err(a, "settings.get", NULL, "internal", "not available");
    err(a, "settings.set", json_pack("{s:s, s:s}", "key", "k", "value", "v"), "internal",
        "cannot be changed");
    err(a, "connections", NULL, "internal", "not available");
    ok_void(a, "domain.add", json_pack("{s:s}", "name", "x.test"));
    admin_free(a);

    snprintf(path, sizeof(path), "%s/no/such/dir/x.db", fx->dir);
    e[0] = '\0';
    assert_null(admin_new(path, NULL, e, sizeof(e)));
    assert_true(e[0] != '\0');
}

/* Malformed requests. */
static void test_bad_requests(void **state)
{
    struct fixture *fx = *state;
    struct admin *a = fx->a;
    json_t *req;
    json_t *resp;

    err(a, "domain.destroy", NULL, "notfound", "unknown op: domain.destroy");
    err(a, "domain.add", NULL, "inval", "missing argument: name");
    err(a, "domain.add", json_object(), "inval", "missing argument: name");
    err(a, "domain.add", json_pack("{s:i}", "name", 5), "inval", "name must be a string");
    err(a, "domain.add", json_pack("{s:s, s:s}", "name", "x.test", "extra", "1"), "inval",
        "unknown argument for domain.add: extra");
    err(a, "account.show", json_pack("{s:b}", "jid", 1), "inval", "jid must be a string");
    err(a, "account.list", json_pack("{}"), "inval", "missing argument: domain");

    req = json_pack("[s]", "domain.list");
    resp = admin_handle(a, req);
    check_error(resp, "inval", "must be a JSON object");
    json_decref(resp);
    json_decref(req);

    req = json_pack("{s:i}", "op", 3);
    resp = admin_handle(a, req);
    check_error(resp, "inval", "missing op");
    json_decref(resp);
    json_decref(req);

    req = json_pack("{s:s, s:[]}", "op", "domain.list", "args");
    resp = admin_handle(a, req);
    check_error(resp, "inval", "args must be an object");
    json_decref(resp);
    json_decref(req);

    /* "args": null is the same as no args. */
    req = json_pack("{s:s, s:n}", "op", "domain.list", "args");
    resp = admin_handle(a, req);
    assert_true(json_is_true(json_object_get(resp, "ok")));
    json_decref(resp);
    json_decref(req);

    assert_int_equal(fx->fake.ndomains, 0);
    assert_int_equal(fx->fake.naccounts, 0);
}

/* ---- the Unix socket ---- */

static int sock_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void sock_send(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Reads one line (5 s timeout) into `line`; returns false on EOF before a line. */
static bool sock_line(int fd, struct buf *line, struct buf *pending)
{
    for (;;) {
        const char *nl = memchr(buf_cstr(pending), '\n', pending->len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - buf_cstr(pending));
            buf_reset(line);
            assert_int_equal(buf_append(line, buf_cstr(pending), n), 0);
            buf_consume(pending, n + 1);
            return true;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&pfd, 1, 5000), 1);
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) {
            return false;
        }
        assert_int_equal(buf_append(pending, chunk, (size_t)n), 0);
    }
}

static json_t *sock_json(int fd, struct buf *pending)
{
    struct buf line;
    json_error_t je;
    buf_init(&line, 1 << 20);
    assert_true(sock_line(fd, &line, pending));
    json_t *j = json_loads(buf_cstr(&line), 0, &je);
    assert_non_null(j);
    buf_cleanup(&line);
    return j;
}

static void test_socket(void **state)
{
    struct fixture *fx = *state;
    char path[160];
    char e[256] = "";
    struct stat sb;
    struct buf pending;
    json_t *j;
    buf_init(&pending, 4 << 20);
    snprintf(path, sizeof(path), "%s/admin.sock", fx->dir);

    /* A stale socket file (nobody listening) is replaced. */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(stale);

    assert_int_equal(admin_socket_start(fx->a, path, e, sizeof(e)), 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(admin_socket_start(fx->a, path, e, sizeof(e)), ERR_EXISTS);

    /* A second server on the same path is refused while the first one answers. */
    char db2[160];
    snprintf(db2, sizeof(db2), "%s/second.db", fx->dir);
    struct admin *second = admin_new(db2, NULL, e, sizeof(e));
    assert_non_null(second);
    e[0] = '\0';
    assert_int_equal(admin_socket_start(second, path, e, sizeof(e)), ERR_EXISTS);
    assert_non_null(strstr(e, "in use"));
    admin_free(second);
    assert_int_equal(stat(path, &sb), 0);

    int fd = sock_connect(path);
    assert_true(fd >= 0);
    /* Two requests, a blank line and a bad one, in one write: answered in order. */
    const char *burst = "{\"op\":\"domain.add\",\"args\":{\"name\":\"sock.test\"}}\n"
                        "\r\n"
                        "{\"op\":\"domain.list\"}\n"
                        "{not json\n"
                        "{\"op\":\"domain.list\",\"op\":\"x\"}\n";
    sock_send(fd, burst, strlen(burst));
    j = sock_json(fd, &pending);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    j = sock_json(fd, &pending);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "result"), 0)),
                        "sock.test");
    json_decref(j);
    j = sock_json(fd, &pending);
    check_error(j, "inval", "invalid JSON");
    json_decref(j);
    j = sock_json(fd, &pending);
    check_error(j, "inval", "invalid JSON");
    json_decref(j);
    assert_int_equal(fx->fake.ndomains, 1);

    /* The connection stays usable after errors; a last line without newline is answered
     * once the client shuts down its side. */
    const char *last = "{\"op\":\"settings.get\",\"args\":{\"key\":\"server.workers\"}}";
    sock_send(fd, last, strlen(last));
    shutdown(fd, SHUT_WR);
    j = sock_json(fd, &pending);
    assert_string_equal(json_string_value(json_object_get(j, "result")), "2");
    json_decref(j);
    struct buf line;
    buf_init(&line, 1 << 20);
    assert_false(sock_line(fd, &line, &pending));
    close(fd);

    /* A line past ADMIN_LINE_MAX gets an error and the connection is closed. */
    fd = sock_connect(path);
    size_t big_len = ADMIN_LINE_MAX + 100;
    char *big = xmalloc(big_len);
    memset(big, ' ', big_len);
    sock_send(fd, big, big_len);
    free(big);
    buf_reset(&pending);
    j = sock_json(fd, &pending);
    check_error(j, "inval", "too long");
    json_decref(j);
    assert_false(sock_line(fd, &line, &pending));
    close(fd);

    /* At most ADMIN_MAX_CLIENTS clients; the next one is told why and closed. */
    int fds[ADMIN_MAX_CLIENTS];
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++) {
        fds[i] = sock_connect(path);
        assert_true(fds[i] >= 0);
        /* A round trip makes sure the server has accepted this one. */
        sock_send(fds[i], "{\"op\":\"domain.list\"}\n", 21);
        buf_reset(&pending);
        j = sock_json(fds[i], &pending);
        assert_true(json_is_true(json_object_get(j, "ok")));
        json_decref(j);
    }
    fd = sock_connect(path);
    assert_true(fd >= 0);
    buf_reset(&pending);
    j = sock_json(fd, &pending);
    check_error(j, "limit", "too many");
    json_decref(j);
    close(fd);
    close(fds[0]);
    /* A freed slot is usable again (the server notices the close before the next accept). */
    usleep(100 * 1000);
    fd = sock_connect(path);
    sock_send(fd, "{\"op\":\"domain.list\"}\n", 21);
    buf_reset(&pending);
    j = sock_json(fd, &pending);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    close(fd);

    /* Stop with clients still connected: they are closed and the file is gone. */
    admin_socket_stop(fx->a);
    assert_int_equal(stat(path, &sb), -1);
    assert_int_equal(errno, ENOENT);
    for (int i = 1; i < ADMIN_MAX_CLIENTS; i++) {
        char c;
        assert_int_equal(recv(fds[i], &c, 1, 0), 0);
        close(fds[i]);
    }
    assert_int_equal(sock_connect(path), -1);
    admin_socket_stop(fx->a); /* a second stop is a no-op */

    /* A path that is not a socket is left alone. */
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    e[0] = '\0';
    assert_int_equal(admin_socket_start(fx->a, path, e, sizeof(e)), ERR_EXISTS);
    assert_non_null(strstr(e, "not a socket"));
    assert_int_equal(stat(path, &sb), 0);

    /* Started again and left running: admin_free stops it. */
    unlink(path);
    assert_int_equal(admin_socket_start(fx->a, path, e, sizeof(e)), 0);
    buf_cleanup(&line);
    buf_cleanup(&pending);
}

/* ---- access control: every op × every kind of actor (docs/internals/admin-access.md) ---- */

static json_t *fake_object(void *ud)
{
    (void)ud;
    return json_pack("{s:i}", "n", 1);
}

static json_t *fake_array(void *ud)
{
    (void)ud;
    return json_array();
}

static json_t *fake_presence(void *ud, const char *jid)
{
    (void)ud;
    return json_pack("{s:s, s:b}", "jid", jid, "available", 0);
}

static json_t *fake_certificate(void *ud, const char *domain)
{
    (void)ud;
    return json_pack("{s:s}", "subject", domain);
}

static void fake_disconnect(void *ud, const char *jid)
{
    (void)ud;
    (void)jid;
}

static int fake_send(void *ud, const char *from, const char *to, const char *text, char *e,
                     size_t elen)
{
    (void)ud, (void)from, (void)to, (void)text, (void)e, (void)elen;
    return 0;
}

static int fake_announce(void *ud, const char *domain, const char *subject, const char *text)
{
    (void)ud, (void)domain, (void)subject, (void)text;
    return 0;
}

static int fake_cert_install(void *ud, const char *domain, const char *service, const char *cert,
                             const char *key, json_t *warnings, char *e, size_t elen)
{
    (void)ud, (void)domain, (void)service, (void)cert, (void)key, (void)warnings, (void)e,
        (void)elen;
    return 0;
}

static json_t *fake_muc_rooms(void *ud, const char *service)
{
    (void)ud, (void)service;
    return json_array();
}

static json_t *fake_muc_room(void *ud, const char *room)
{
    (void)ud;
    return json_pack("{s:s}", "jid", room);
}

static int fake_muc_action(void *ud, const char *room, const char *action, const char *target,
                           const char *reason)
{
    (void)ud, (void)room, (void)action, (void)target, (void)reason;
    return 0;
}

static int fake_s2s_action(void *ud, const char *action, unsigned long id, const char *target,
                           const char *source)
{
    (void)ud, (void)action, (void)id, (void)target, (void)source;
    return 0;
}

/* The actors, as bits of a row's "allowed" mask. */
enum { SRV = 1, DA = 2, OTHER_DA = 4, USER = 8 };
static const struct {
    int bit;
    const char *jid;
} actors[] = {
    { SRV, "root@a.test" },       /* admin=yes, in the same domain as the others */
    { DA, "boss@a.test" },        /* domain_admin=yes of a.test */
    { OTHER_DA, "chief@b.test" }, /* domain_admin=yes of b.test */
    { USER, "joe@a.test" },       /* an ordinary account */
};

/* Two domains: a.test with a server administrator, two domain administrators and two ordinary
 * accounts; b.test with its domain administrator and one ordinary account. */
static void build_world(struct admin *a)
{
    static const char *const accts[] = { "root@a.test",  "boss@a.test", "deputy@a.test",
                                         "plain@a.test", "joe@a.test",  "chief@b.test",
                                         "other@b.test" };
    ok_void(a, "domain.add", json_pack("{s:s}", "name", "a.test"));
    ok_void(a, "domain.add", json_pack("{s:s}", "name", "b.test"));
    for (size_t i = 0; i < sizeof(accts) / sizeof(accts[0]); i++) {
        ok_void(a, "account.add", json_pack("{s:s, s:s}", "jid", accts[i], "password", SECRET));
    }
    ok_void(a, "account.set",
            json_pack("{s:s, s:{s:s}}", "jid", "root@a.test", "settings", "admin", "yes"));
    static const char *const das[] = { "boss@a.test", "deputy@a.test", "chief@b.test" };
    for (size_t i = 0; i < 3; i++) {
        ok_void(a, "account.set",
                json_pack("{s:s, s:{s:s}}", "jid", das[i], "settings", "domain_admin", "yes"));
    }
}

static void drop_world(struct admin *a)
{
    static const char *const doms[] = { "a.test", "b.test", "c.test" };
    for (size_t i = 0; i < 3; i++) {
        json_decref(call(a, "domain.remove", json_pack("{s:s}", "name", doms[i])));
    }
}

struct access_row {
    const char *op;
    const char *args; /* JSON text */
    int allowed;      /* the actors that may run it */
};

#define ACCOUNT_OPS(target, mask)                                                                  \
    { "account.show", "{\"jid\":\"" target "\"}", mask },                                          \
        { "account.passwd", "{\"jid\":\"" target "\",\"password\":\"New-pass-1\"}", mask },        \
        { "account.set", "{\"jid\":\"" target "\",\"settings\":{\"real_name\":\"X\"}}", mask },    \
        { "account.set", "{\"jid\":\"" target "\",\"settings\":{\"disabled\":\"yes\"}}", mask },   \
        { "account.sessions", "{\"jid\":\"" target "\"}", mask },                                  \
        { "account.roster", "{\"jid\":\"" target "\"}", mask },                                    \
        { "account.pep", "{\"jid\":\"" target "\"}", mask },                                       \
        { "account.disconnect", "{\"jid\":\"" target "\"}", mask },                                \
        { "presence", "{\"jid\":\"" target "\"}", mask },                                          \
    {                                                                                              \
        "account.remove", "{\"jid\":\"" target "\"}", mask                                         \
    }

static const struct access_row access_rows[] = {
    { "domain.add", "{\"name\":\"c.test\"}", SRV },
    { "domain.remove", "{\"name\":\"a.test\"}", SRV },
    { "domain.list", "{}", SRV | DA | OTHER_DA },
    { "domain.show", "{\"name\":\"a.test\"}", SRV | DA },
    { "domain.show", "{\"name\":\"b.test\"}", SRV | OTHER_DA },
    { "domain.set", "{\"name\":\"a.test\",\"settings\":{\"auto_signup\":\"yes\"}}", SRV | DA },
    { "domain.set", "{\"name\":\"b.test\",\"settings\":{\"auto_signup\":\"yes\"}}",
      SRV | OTHER_DA },
    { "domain.set", "{\"name\":\"a.test\",\"settings\":{\"aliases\":\"a2.test\"}}", SRV },
    { "domain.set", "{\"name\":\"a.test\",\"settings\":{\"chat_service\":\"rooms.a.test\"}}",
      SRV | DA },
    { "domain.set", "{\"name\":\"a.test\",\"settings\":{\"chat_service\":\"b.test\"}}", SRV },
    { "domain.set", "{\"name\":\"a.test\",\"settings\":{\"chat_service\":\"rooms.b.test\"}}", SRV },
    { "domain.certificate", "{\"name\":\"a.test\"}", SRV | DA },
    { "account.list", "{\"domain\":\"a.test\"}", SRV | DA },
    { "account.list", "{\"domain\":\"b.test\"}", SRV | OTHER_DA },
    { "account.add", "{\"jid\":\"new@a.test\",\"password\":\"New-pass-1\"}", SRV | DA },
    { "account.add", "{\"jid\":\"new@b.test\",\"password\":\"New-pass-1\"}", SRV | OTHER_DA },
    { "invite", "{\"domain\":\"a.test\"}", SRV | DA },
    { "invite", "{\"domain\":\"b.test\"}", SRV | OTHER_DA },
    { "pubsub.nodes", "{\"domain\":\"a.test\"}", SRV | DA },
    { "pubsub.nodes", "{\"domain\":\"b.test\"}", SRV | OTHER_DA },
    ACCOUNT_OPS("plain@a.test", SRV | DA),
    ACCOUNT_OPS("root@a.test", SRV),
    ACCOUNT_OPS("deputy@a.test", SRV),
    ACCOUNT_OPS("other@b.test", SRV | OTHER_DA),
    ACCOUNT_OPS("boss@a.test", SRV | DA), /* a domain administrator's own account */
    { "account.set", "{\"jid\":\"plain@a.test\",\"settings\":{\"admin\":\"yes\"}}", SRV },
    { "account.set", "{\"jid\":\"boss@a.test\",\"settings\":{\"admin\":\"yes\"}}", SRV },
    { "account.set", "{\"jid\":\"plain@a.test\",\"settings\":{\"domain_admin\":\"yes\"}}",
      SRV | DA },
    { "account.set", "{\"jid\":\"deputy@a.test\",\"settings\":{\"domain_admin\":\"no\"}}", SRV },
    { "account.set", "{\"jid\":\"root@a.test\",\"settings\":{\"password\":\"New-pass-1\"}}", SRV },
    { "settings.get", "{}", SRV },
    { "settings.set", "{\"key\":\"server.workers\",\"value\":\"2\"}", SRV },
    { "connections", "{}", SRV | DA | OTHER_DA },
    { "logins.failed", "{}", SRV | DA | OTHER_DA },
    { "queues", "{}", SRV },
    { "stats", "{}", SRV },
    { "cluster.status", "{}", SRV },
    { "send", "{\"from\":\"plain@a.test\",\"to\":\"joe@a.test\",\"text\":\"hi\"}", SRV },
    /* issue 20: online users and announcements */
    { "users.online", "{\"domain\":\"a.test\"}", SRV | DA },
    { "users.online", "{\"domain\":\"b.test\"}", SRV | OTHER_DA },
    { "announce", "{\"domain\":\"a.test\",\"text\":\"hi\"}", SRV | DA },
    { "announce", "{\"domain\":\"b.test\",\"text\":\"hi\"}", SRV | OTHER_DA },
    { "announce.all", "{\"text\":\"hi\"}", SRV },
    { "features", "{\"domain\":\"a.test\"}", SRV | DA },
    { "features", "{\"domain\":\"b.test\"}", SRV | OTHER_DA },
    { "muc.rooms", "{\"domain\":\"a.test\"}", SRV | DA },
    { "muc.rooms", "{\"domain\":\"b.test\"}", SRV | OTHER_DA },
    { "muc.room", "{\"domain\":\"a.test\",\"room\":\"r\"}", SRV | DA },
    { "muc.kick", "{\"domain\":\"a.test\",\"room\":\"r\",\"nick\":\"n\"}", SRV | DA },
    { "muc.ban", "{\"domain\":\"b.test\",\"room\":\"r\",\"jid\":\"x@y.test\"}", SRV | OTHER_DA },
    { "muc.destroy", "{\"domain\":\"a.test\",\"room\":\"r\"}", SRV | DA },
    { "account.overview", "{\"domain\":\"a.test\"}", SRV | DA },
    { "account.overview", "{\"domain\":\"b.test\",\"search\":\"o\"}", SRV | OTHER_DA },
    { "s2s.close", "{\"id\":7}", SRV },
    { "queue.flush", "{\"target\":\"x.test\",\"source\":\"a.test\"}", SRV },
    { "queue.drop", "{\"target\":\"x.test\",\"source\":\"a.test\"}", SRV },
    { "domain.certificate.set", "{\"name\":\"a.test\",\"cert\":\"C\",\"key\":\"K\"}", SRV | DA },
    { "domain.certificate.set", "{\"name\":\"b.test\",\"cert\":\"C\",\"key\":\"K\"}",
      SRV | OTHER_DA },
    /* The WebAdmin's login ops are the server's own: no account runs them. */
    { "session.login", "{\"user\":\"root@a.test\",\"password\":\"" SECRET "\"}", 0 },
    { "session.check", "{\"jid\":\"root@a.test\"}", 0 },
};

static void test_access_matrix(void **state)
{
    struct fixture *fx = *state;
    struct admin_hooks hooks = {
        .settings_set = fake_settings_set,
        .settings_get = fake_settings_get,
        .connections = fake_connections,
        .queues = fake_array,
        .stats = fake_object,
        .certificate = fake_certificate,
        .presence = fake_presence,
        .disconnect = fake_disconnect,
        .send_message = fake_send,
        .announce = fake_announce,
        .certificate_install = fake_cert_install,
        .muc_rooms = fake_muc_rooms,
        .muc_room = fake_muc_room,
        .muc_action = fake_muc_action,
        .s2s_action = fake_s2s_action,
        .ud = &fx->fake,
    };
    char e[256];
    admin_free(fx->a);
    fx->a = admin_new(fx->db, &hooks, e, sizeof(e));
    assert_non_null(fx->a);
    /* A refused op changes nothing, so the world is built anew only after one that ran. */
    build_world(fx->a);
    for (size_t r = 0; r < sizeof(access_rows) / sizeof(access_rows[0]); r++) {
        const struct access_row *row = &access_rows[r];
        for (size_t i = 0; i < sizeof(actors) / sizeof(actors[0]); i++) {
            json_t *req =
                json_pack("{s:s, s:o}", "op", row->op, "args", json_loads(row->args, 0, NULL));
            json_t *resp = admin_handle_as(fx->a, actors[i].jid, req);
            bool allowed = (row->allowed & actors[i].bit) != 0;
            const char *code = json_string_value(json_object_get(resp, "code"));
            if (allowed != json_is_true(json_object_get(resp, "ok"))) {
                fail_msg("%s %s as %s: expected %s, got %s (%s)", row->op, row->args, actors[i].jid,
                         allowed ? "ok" : "denied", code ? code : "ok",
                         json_string_value(json_object_get(resp, "error")));
            }
            if (!allowed) {
                assert_string_equal(code, "denied");
            }
            json_decref(req);
            json_decref(resp);
            if (allowed) {
                drop_world(fx->a);
                build_world(fx->a);
            }
        }
    }
}

/* What a domain administrator gets from a whole-server list is its own domain only. */
static void test_access_lists_are_filtered(void **state)
{
    struct fixture *fx = *state;
    build_world(fx->a);
    json_t *req = json_pack("{s:s}", "op", "domain.list");
    json_t *resp = admin_handle_as(fx->a, "BOSS@A.TEST", req);
    json_t *list = json_object_get(resp, "result");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_array_get(list, 0)), "a.test");
    json_decref(resp);
    /* Failed logins: a domain administrator sees those of its domain's accounts. */
    struct settings_auth policy = { .lock_after = 5,
                                    .lock_time = 60,
                                    .lock_max = 60,
                                    .lock_window = 900 };
    lockout_reset();
    lockout_failure(&policy, "plain@a.test");
    lockout_failure(&policy, "other@b.test");
    json_t *lreq = json_pack("{s:s}", "op", "logins.failed");
    resp = admin_handle_as(fx->a, "boss@a.test", lreq);
    list = json_object_get(resp, "result");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(str(json_array_get(list, 0), "jid"), "plain@a.test");
    json_decref(resp);
    resp = admin_handle_as(fx->a, NULL, lreq);
    assert_int_equal(json_array_size(json_object_get(resp, "result")), 2);
    json_decref(resp);
    json_decref(lreq);
    lockout_reset();
    /* The owner (no "as") and a server administrator see every domain. */
    resp = admin_handle_as(fx->a, "root@a.test", req);
    assert_int_equal(json_array_size(json_object_get(resp, "result")), 2);
    json_decref(resp);
    /* A right taken away counts at the next request; a disabled or unknown account is no one. */
    ok_void(fx->a, "account.set",
            json_pack("{s:s, s:{s:s}}", "jid", "boss@a.test", "settings", "domain_admin", "no"));
    resp = admin_handle_as(fx->a, "boss@a.test", req);
    assert_string_equal(json_string_value(json_object_get(resp, "code")), "denied");
    json_decref(resp);
    ok_void(fx->a, "account.set",
            json_pack("{s:s, s:{s:s}}", "jid", "root@a.test", "settings", "disabled", "yes"));
    resp = admin_handle_as(fx->a, "root@a.test", req);
    assert_string_equal(json_string_value(json_object_get(resp, "code")), "denied");
    json_decref(resp);
    resp = admin_handle_as(fx->a, "nobody@a.test", req);
    assert_string_equal(json_string_value(json_object_get(resp, "code")), "denied");
    json_decref(resp);
    json_decref(req);
}

static struct settings g_login_cfg;

static const struct settings *fake_settings_live(void *ud)
{
    (void)ud;
    return &g_login_cfg;
}

/* session.login as the WebAdmin runs it: the identity of an administrator; the per-account
 * lock-out of the live auth.* settings; a bare name is an account of the main domain. */
static void test_session_login(void **state)
{
    struct fixture *fx = *state;
    struct admin_hooks hooks = { .settings_live = fake_settings_live };
    char e[256];
    /* The rows are not registered here (no module table): the values the login reads are set. */
    memset(&g_login_cfg, 0, sizeof(g_login_cfg));
    snprintf(g_login_cfg.server.main_domain, sizeof(g_login_cfg.server.main_domain), "a.test");
    g_login_cfg.auth = (struct settings_auth){ .lock_after = 2,
                                               .lock_time = 60,
                                               .lock_max = 60,
                                               .lock_window = 900 };
    admin_free(fx->a);
    fx->a = admin_new(fx->db, &hooks, e, sizeof(e));
    assert_non_null(fx->a);
    build_world(fx->a);
    lockout_reset();
    json_t *r =
        ok(fx->a, "session.login",
           json_pack("{s:s, s:s, s:s}", "user", "boss", "password", SECRET, "peer", "192.0.2.1"));
    assert_string_equal(str(r, "jid"), "boss@a.test");
    assert_string_equal(str(r, "role"), "domain");
    assert_string_equal(str(r, "domain"), "a.test");
    json_decref(r);
    r = ok(fx->a, "session.check", json_pack("{s:s}", "jid", "root@a.test"));
    assert_string_equal(str(r, "role"), "server");
    json_decref(r);
    err(fx->a, "session.login", json_pack("{s:s, s:s}", "user", "plain@a.test", "password", SECRET),
        "denied", "not an administrator");
    err(fx->a, "session.login", json_pack("{s:s, s:s}", "user", "nobody", "password", SECRET),
        "auth", "wrong user name or password");
    for (int i = 0; i < 2; i++) {
        err(fx->a, "session.login",
            json_pack("{s:s, s:s}", "user", "root@a.test", "password", "wrong"), "auth",
            "wrong user name or password");
    }
    /* Locked: even the right password is not looked at. */
    err(fx->a, "session.login", json_pack("{s:s, s:s}", "user", "root@a.test", "password", SECRET),
        "limit", "too many failed logins");
    ok_void(fx->a, "account.set",
            json_pack("{s:s, s:{s:s}}", "jid", "boss@a.test", "settings", "domain_admin", "no"));
    err(fx->a, "session.check", json_pack("{s:s}", "jid", "boss@a.test"), "denied",
        "not an administrator");
    err(fx->a, "session.check", json_pack("{s:s}", "jid", "gone@a.test"), "auth", "may not log in");
    lockout_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_and_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_matrix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_lists_are_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_login, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
