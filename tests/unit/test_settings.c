/* test_settings.c: unit tests of the settings mechanism over the modules' rows, parsers, text
 * forms and the settings file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/module.h"
#include "core/settings.h"
#include "accounts/accounts.h"
#include "archive/archive.h"
#include "auth/lockout.h"
#include "chatroom/chatroom.h"
#include "cluster/cluster.h"
#include "im/module.h"
#include "pubsub/pubsub.h"
#include "services/services.h"
#include "store/store.h"
#include "tls/tls.h"
#include "web/web.h"
#include "webadmin/http.h"
#include "xmpp/xmpp.h"

/* The modules in main.c's order: the listing order below is checked against docs/settings.md,
 * and the running server's against the same file (tests/integration/test_ctl.py). */
static struct module *const modules[] = {
    &core_module,     &xmpp_module,   &tls_module,      &im_module,       &webadmin_module,
    &services_module, &auth_module,   &accounts_module, &chatroom_module, &store_module,
    &archive_module,  &pubsub_module, &web_module,      &cluster_module,
};
#include "testutil.h"

static char *get(const struct settings *s, const char *key)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    assert_int_equal(settings_get(s, key, &b), 0);
    char *v = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return v;
}

static void assert_get(const struct settings *s, const char *key, const char *want)
{
    char *v = get(s, key);
    assert_string_equal(v, want);
    free(v);
}

static void set_ok(struct settings *s, const char *key, const char *value)
{
    char err[256] = "";
    int rc = settings_set(s, key, value, err, sizeof(err));
    if (rc != 0) {
        fail_msg("%s = \"%s\": %s", key, value, err);
    }
}

/* Sets a bad value: checks the error text and that nothing changed. */
static void set_bad(struct settings *s, const char *key, const char *value, const char *want)
{
    char err[256] = "";
    struct settings before = *s;
    assert_int_equal(settings_set(s, key, value, err, sizeof(err)), ERR_INVAL);
    assert_string_equal(err, want);
    assert_memory_equal(&before, s, sizeof(before));
}

static void test_defaults(void **state)
{
    (void)state;
    struct settings s;
    settings_defaults(&s);
    assert_int_equal(s.server.workers, 0);
    assert_string_equal(s.server.main_domain, "localhost");
    assert_int_equal(s.server.log_level, LOG_MAJOR);
    assert_int_equal(s.log.keep_days, 30);
    assert_int_equal(s.log.max_file_size, 104857600L);
    assert_int_equal(s.xmpp.listener.count, 3);
    assert_string_equal(s.xmpp.listener.sockets[0].address, "");
    assert_int_equal(s.xmpp.listener.sockets[0].port, 5222);
    assert_false(s.xmpp.listener.sockets[0].tls);
    assert_int_equal(s.xmpp.listener.sockets[1].port, 5269);
    assert_false(s.xmpp.listener.sockets[1].tls);
    assert_int_equal(s.xmpp.listener.sockets[2].port, 5223);
    assert_true(s.xmpp.listener.sockets[2].tls);
    assert_int_equal(s.xmpp.receiving.log_level, LOG_MAJOR);
    assert_int_equal(s.xmpp.receiving.channels, 10000);
    assert_int_equal(s.xmpp.receiving.per_address_limit, 100);
    assert_int_equal(s.xmpp.receiving.max_stanza_size, 262144);
    assert_int_equal(s.xmpp.receiving.max_depth, 64);
    assert_true(s.xmpp.receiving.require_tls);
    assert_int_equal(s.xmpp.receiving.auth_timeout, 60);
    assert_int_equal(s.xmpp.receiving.auth_failure_delay_ms, 1000);
    assert_int_equal(s.xmpp.receiving.max_auth_failures, 5);
    assert_int_equal(s.xmpp.receiving.send_queue_limit, 1048576);
    assert_int_equal(s.xmpp.receiving.ping_interval, 300);
    assert_int_equal(s.xmpp.receiving.sm_resume_timeout, 300);
    assert_int_equal(s.xmpp.receiving.sm_max_unacked, 1000);
    assert_false(s.services.push_include_body);
    assert_int_equal(s.xmpp.sending.log_level, LOG_MAJOR);
    assert_int_equal(s.xmpp.sending.max_connections, 1000);
    assert_int_equal(s.xmpp.sending.idle_timeout, 600);
    assert_int_equal(s.xmpp.sending.connect_timeout, 30);
    assert_int_equal(s.xmpp.sending.response_timeout, 60);
    assert_int_equal(s.xmpp.sending.route_count, 0);
    assert_string_equal(s.tls.client_ca_file, "");

    assert_get(&s, "xmpp.listener", "5222, 5269, 5223/tls");
    assert_get(&s, "xmpp.receiving.require_tls", "yes");
    assert_get(&s, "server.log_level", "Major");
    assert_get(&s, "xmpp.sending.routes", "");
    assert_get(&s, "log.max_file_size", "104857600");
}

struct collected {
    int count;
    char keys[128][64];
};

static void collect(void *ud, const char *key, const char *value, const char *description)
{
    struct collected *c = ud;
    assert_true(c->count < 128);
    assert_true(strlen(key) < 64);
    memcpy(c->keys[c->count], key, strlen(key) + 1);
    c->count++;
    assert_non_null(value);
    assert_non_null(strstr(description, "Default: "));
    assert_null(strchr(description, '\n'));
}

static void test_foreach_and_get(void **state)
{
    (void)state;
    struct settings s;
    settings_defaults(&s);
    struct collected c = { 0 };
    settings_foreach(&s, collect, &c);
    assert_int_equal(c.count, 113);
    assert_string_equal(c.keys[0], "server.workers");
    assert_string_equal(c.keys[c.count - 1], "cluster.client_address");
    /* Every key listed can be read and set back to its own text form. */
    for (int i = 0; i < c.count; i++) {
        char *v = get(&s, c.keys[i]);
        struct settings copy = s;
        set_ok(&copy, c.keys[i], v);
        assert_memory_equal(&copy, &s, sizeof(s));
        free(v);
    }
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(settings_get(&s, "foo.bar", &b), ERR_NOTFOUND);
    buf_cleanup(&b);

    char err[128];
    assert_int_equal(settings_set(&s, "foo.bar", "1", err, sizeof(err)), ERR_NOTFOUND);
    assert_string_equal(err, "unknown setting \"foo.bar\"");
    assert_int_equal(settings_set(&s, "foo.bar", "1", NULL, 0), ERR_NOTFOUND);

    struct settings *d = settings_dup(&s);
    assert_memory_equal(d, &s, sizeof(s));
    settings_free(d);
}

static void test_numbers(void **state)
{
    (void)state;
    struct settings s;
    settings_defaults(&s);
    set_ok(&s, "xmpp.receiving.channels", "0");
    assert_int_equal(s.xmpp.receiving.channels, 0);
    set_ok(&s, "xmpp.receiving.channels", " 1000000 ");
    assert_int_equal(s.xmpp.receiving.channels, 1000000);
    set_ok(&s, "log.max_file_size", "5000000000");
    assert_int_equal(s.log.max_file_size, 5000000000L);
    assert_get(&s, "log.max_file_size", "5000000000");
    set_ok(&s, "server.workers", "64");
    assert_get(&s, "server.workers", "64");

    set_bad(&s, "xmpp.receiving.channels", "abc",
            "xmpp.receiving.channels: \"abc\" is not a number (0..1000000)");
    set_bad(&s, "xmpp.receiving.channels", "",
            "xmpp.receiving.channels: \"\" is not a number (0..1000000)");
    set_bad(&s, "xmpp.receiving.channels", "12x",
            "xmpp.receiving.channels: \"12x\" is not a number (0..1000000)");
    set_bad(&s, "xmpp.receiving.channels", "1 2",
            "xmpp.receiving.channels: \"1 2\" is not a number (0..1000000)");
    set_bad(&s, "xmpp.receiving.channels", "0x10",
            "xmpp.receiving.channels: \"0x10\" is not a number (0..1000000)");
    set_bad(&s, "xmpp.receiving.channels", "1000001",
            "xmpp.receiving.channels: 1000001 is out of range (0..1000000)");
    set_bad(&s, "xmpp.receiving.channels", "-1",
            "xmpp.receiving.channels: -1 is out of range (0..1000000)");
    set_bad(&s, "xmpp.receiving.channels", "99999999999999999999",
            "xmpp.receiving.channels: 99999999999999999999 is out of range (0..1000000)");
    set_bad(&s, "server.workers", "65", "server.workers: 65 is out of range (0..64)");
    set_bad(&s, "xmpp.receiving.max_stanza_size", "1023",
            "xmpp.receiving.max_stanza_size: 1023 is out of range (1024..67108864)");
    set_bad(&s, "xmpp.receiving.max_depth", "3",
            "xmpp.receiving.max_depth: 3 is out of range (4..1000)");
    set_bad(&s, "xmpp.receiving.max_depth", "1001",
            "xmpp.receiving.max_depth: 1001 is out of range (4..1000)");
}

static void test_bool_level_string(void **state)
{
    (void)state;
    struct settings s;
    settings_defaults(&s);
    static const char *const no[] = { "no", "NO", "false", "Off", "0", " no " };
    static const char *const yes[] = { "yes", "True", "ON", "1" };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        s.xmpp.receiving.require_tls = true;
        set_ok(&s, "xmpp.receiving.require_tls", no[i]);
        assert_false(s.xmpp.receiving.require_tls);
        assert_get(&s, "xmpp.receiving.require_tls", "no");
    }
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        s.xmpp.receiving.require_tls = false;
        set_ok(&s, "xmpp.receiving.require_tls", yes[i]);
        assert_true(s.xmpp.receiving.require_tls);
    }
    set_bad(&s, "xmpp.receiving.require_tls", "maybe",
            "xmpp.receiving.require_tls: \"maybe\" is not yes or no");
    set_bad(&s, "xmpp.receiving.require_tls", "2",
            "xmpp.receiving.require_tls: \"2\" is not yes or no");

    set_ok(&s, "xmpp.receiving.log_level", "all_info");
    assert_int_equal(s.xmpp.receiving.log_level, LOG_ALLINFO);
    assert_get(&s, "xmpp.receiving.log_level", "All Info");
    set_ok(&s, "xmpp.sending.log_level", "-1");
    assert_int_equal(s.xmpp.sending.log_level, LOG_NONE);
    assert_get(&s, "xmpp.sending.log_level", "None");
    set_ok(&s, "server.log_level", "4");
    assert_get(&s, "server.log_level", "Low-Level");
    set_bad(&s, "server.log_level", "loud",
            "server.log_level: \"loud\" is not a log level (None, Crash, Failures, Major, "
            "Problems, Low-Level, All Info, or -1..5)");

    set_ok(&s, "server.main_domain", "Example.COM");
    assert_string_equal(s.server.main_domain, "example.com");
    set_ok(&s, "server.main_domain", "xn--bcher-kva.example");
    set_bad(&s, "server.main_domain", "", "server.main_domain: \"\" is not a domain name");
    set_bad(&s, "server.main_domain", "a b", "server.main_domain: \"a b\" is not a domain name");
    set_bad(&s, "server.main_domain", "a..b", "server.main_domain: \"a..b\" is not a domain name");
    set_bad(&s, "server.main_domain", "user@host",
            "server.main_domain: \"user@host\" is not a domain name");

    set_ok(&s, "tls.client_ca_file", "/etc/ssl/my ca.pem");
    assert_string_equal(s.tls.client_ca_file, "/etc/ssl/my ca.pem");
    set_ok(&s, "tls.client_ca_file", "");
    assert_string_equal(s.tls.client_ca_file, "");
    set_bad(&s, "tls.client_ca_file", "a\nb",
            "tls.client_ca_file: the value contains control characters");
    char longpath[600];
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    set_bad(&s, "tls.client_ca_file", longpath,
            "tls.client_ca_file: the value is too long (at most 511 bytes)");
}

static void listener_ok(const char *text, const char *normalized, int count)
{
    struct listener_cfg cfg;
    char err[256] = "";
    int rc = settings_parse_listener(text, &cfg, err, sizeof(err));
    if (rc != 0) {
        fail_msg("\"%s\": %s", text, err);
    }
    assert_int_equal(cfg.count, count);
    struct settings s;
    settings_defaults(&s);
    set_ok(&s, "xmpp.listener", text);
    assert_get(&s, "xmpp.listener", normalized);
    assert_memory_equal(&s.xmpp.listener, &cfg, sizeof(cfg));
}

static void listener_bad(const char *text, const char *want)
{
    struct listener_cfg cfg;
    memset(&cfg, 0x5a, sizeof(cfg));
    struct listener_cfg before = cfg;
    char err[256] = "";
    assert_int_equal(settings_parse_listener(text, &cfg, err, sizeof(err)), ERR_INVAL);
    assert_string_equal(err, want);
    assert_memory_equal(&before, &cfg, sizeof(cfg));
}

static void test_listener(void **state)
{
    (void)state;
    listener_ok("5222, 5269, 5223/tls", "5222, 5269, 5223/tls", 3);
    listener_ok("5222,5269,5223/TLS", "5222, 5269, 5223/tls", 3);
    listener_ok("127.0.0.1:5222", "127.0.0.1:5222", 1);
    listener_ok("  [::1]:5223/tls  ", "[::1]:5223/tls", 1);
    listener_ok("[0:0:0:0:0:0:0:1]:5222", "[::1]:5222", 1);
    listener_ok("[::]:5222", "[::]:5222", 1);
    listener_ok("", "", 0);
    listener_ok("   ", "", 0);
    listener_ok("127.0.0.1:5222,10.0.0.1:5222,[::1]:5222",
                "127.0.0.1:5222, 10.0.0.1:5222, [::1]:5222", 3);
    listener_ok("1, 65535/tls", "1, 65535/tls", 2);

    struct listener_cfg cfg;
    assert_int_equal(settings_parse_listener("10.1.2.3:5223/tls, [fe80::1]:5222", &cfg, NULL, 0),
                     0);
    assert_string_equal(cfg.sockets[0].address, "10.1.2.3");
    assert_int_equal(cfg.sockets[0].port, 5223);
    assert_true(cfg.sockets[0].tls);
    assert_string_equal(cfg.sockets[1].address, "fe80::1");
    assert_false(cfg.sockets[1].tls);

    listener_bad("0", "\"0\": the port must be a number 1..65535");
    listener_bad("65536", "\"65536\": the port must be a number 1..65535");
    listener_bad("abc", "\"abc\": the port must be a number 1..65535");
    listener_bad("-5222", "\"-5222\": the port must be a number 1..65535");
    listener_bad("5222/ssl", "\"5222/ssl\": the only option after \"/\" is \"tls\"");
    listener_bad("5222,,5269", "empty item in the list");
    listener_bad("5222,", "empty item in the list");
    listener_bad("5222, 5222/tls", "\"5222/tls\" duplicates \"5222\"");
    listener_bad("5222, 127.0.0.1:5222", "\"127.0.0.1:5222\" duplicates \"5222\"");
    listener_bad("[::1]:5222, [0::1]:5222", "\"[::1]:5222\" duplicates \"[::1]:5222\"");
    listener_bad("::1:5222", "\"::1:5222\": write IPv6 addresses in brackets, e.g. [::1]:5222");
    listener_bad("[::1]5222", "\"[::1]5222\": expected [IPv6 address]:port");
    listener_bad("[::1]", "\"[::1]\": expected [IPv6 address]:port");
    listener_bad("[::1:5222", "\"[::1:5222\": expected [IPv6 address]:port");
    listener_bad("[1.2.3.4]:5222", "\"[1.2.3.4]:5222\": not an IPv6 address");
    listener_bad("localhost:5222", "\"localhost:5222\": not an IPv4 address");
    listener_bad("1.2.3.256:5222", "\"1.2.3.256:5222\": not an IPv4 address");
    listener_bad(":5222", "\":5222\": not an IPv4 address");
    listener_bad("1.2.3.4:", "\"1.2.3.4:\": the port must be a number 1..65535");

    /* At most SETTINGS_MAX_SOCKETS sockets. */
    struct buf b;
    buf_init(&b, 4096);
    for (int i = 0; i < SETTINGS_MAX_SOCKETS; i++) {
        buf_printf(&b, "%s%d", i ? "," : "", 6000 + i);
    }
    assert_int_equal(settings_parse_listener(buf_cstr(&b), &cfg, NULL, 0), 0);
    assert_int_equal(cfg.count, SETTINGS_MAX_SOCKETS);
    buf_printf(&b, ",7000");
    listener_bad(buf_cstr(&b), "more than 16 sockets");
    buf_cleanup(&b);

    struct settings s;
    settings_defaults(&s);
    set_bad(&s, "xmpp.listener", "5222,5222", "xmpp.listener: \"5222\" duplicates \"5222\"");
}

static void test_routes(void **state)
{
    (void)state;
    struct settings s;
    settings_defaults(&s);
    set_ok(&s, "xmpp.sending.routes",
           "a.example=127.0.0.1:5270, B.Example = host.b.example ,"
           "c.example=[::1]:5269");
    assert_int_equal(s.xmpp.sending.route_count, 3);
    assert_string_equal(s.xmpp.sending.routes[0].domain, "a.example");
    assert_string_equal(s.xmpp.sending.routes[0].host, "127.0.0.1");
    assert_int_equal(s.xmpp.sending.routes[0].port, 5270);
    assert_string_equal(s.xmpp.sending.routes[1].domain, "b.example");
    assert_string_equal(s.xmpp.sending.routes[1].host, "host.b.example");
    assert_int_equal(s.xmpp.sending.routes[1].port, 5269);
    assert_string_equal(s.xmpp.sending.routes[2].host, "::1");
    assert_get(&s, "xmpp.sending.routes",
               "a.example=127.0.0.1:5270, b.example=host.b.example:5269, c.example=[::1]:5269");
    set_ok(&s, "xmpp.sending.routes", "");
    assert_int_equal(s.xmpp.sending.route_count, 0);

    set_bad(&s, "xmpp.sending.routes", "a.example",
            "xmpp.sending.routes: \"a.example\": expected domain=host:port");
    set_bad(&s, "xmpp.sending.routes", "=host:5269",
            "xmpp.sending.routes: \"=host:5269\": not a domain name before \"=\"");
    set_bad(&s, "xmpp.sending.routes", "a.example=",
            "xmpp.sending.routes: \"a.example=\": not a host name or address after \"=\"");
    set_bad(&s, "xmpp.sending.routes", "a.example=[::1",
            "xmpp.sending.routes: \"a.example=[::1\": not a host name or address after \"=\"");
    set_bad(&s, "xmpp.sending.routes", "a.example=h:0",
            "xmpp.sending.routes: \"a.example=h:0\": the port must be a number 1..65535");
    set_bad(&s, "xmpp.sending.routes", "a.example=h:1, A.EXAMPLE=h:2",
            "xmpp.sending.routes: two routes for \"a.example\"");
}

/* ---- The settings file ---- */

static char *path_in(const char *dir, const char *name)
{
    struct buf b;
    buf_init(&b, 4096);
    buf_printf(&b, "%s/%s", dir, name);
    char *p = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    struct buf b;
    buf_init(&b, 1 << 20);
    char chunk[1024];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        buf_append(&b, chunk, n);
    }
    fclose(f);
    char *s = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return s;
}

static void test_save_load(void **state)
{
    (void)state;
    char *dir = test_tmpdir("settings");
    char *path = path_in(dir, "starling.conf");
    struct settings s, t;
    settings_defaults(&s);
    set_ok(&s, "server.workers", "4");
    set_ok(&s, "server.main_domain", "chat.example");
    set_ok(&s, "xmpp.listener", "127.0.0.1:5222, [::1]:5223/tls");
    set_ok(&s, "xmpp.receiving.require_tls", "no");
    set_ok(&s, "xmpp.sending.routes", "a.example=127.0.0.1:5270");
    set_ok(&s, "tls.client_ca_file", " /path/with #hash and \"quotes\" and \\ ");
    set_ok(&s, "xmpp.sending.log_level", "None");
    assert_int_equal(settings_save(&s, path), 0);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *tmp = path_in(dir, "starling.conf.tmp");
    assert_int_not_equal(stat(tmp, &st), 0);

    char *text = read_file(path);
    assert_true(text[0] == '#');
    assert_non_null(strstr(text, "\nserver.workers = 4\n"));
    assert_non_null(strstr(text, "\n# Worker threads"));
    assert_non_null(strstr(text, "\nxmpp.listener = 127.0.0.1:5222, [::1]:5223/tls\n"));
    assert_non_null(strstr(text, "\ntls.client_ca_file = "
                                 "\" /path/with #hash and \\\"quotes\\\" and \\\\ \"\n"));
    assert_non_null(strstr(text, "\nxmpp.sending.log_level = None\n"));
    free(text);

    settings_defaults(&t);
    char err[256] = "";
    assert_int_equal(settings_load(&t, path, err, sizeof(err)), 0);
    assert_memory_equal(&s, &t, sizeof(s));

    /* Saving over an existing file replaces it. */
    set_ok(&s, "tls.client_ca_file", "");
    assert_int_equal(settings_save(&s, path), 0);
    text = read_file(path);
    assert_non_null(strstr(text, "\ntls.client_ca_file = \"\"\n"));
    free(text);
    assert_int_equal(settings_load(&t, path, err, sizeof(err)), 0);
    assert_string_equal(t.tls.client_ca_file, "");

    /* A missing file is not an error and changes nothing. */
    char *missing = path_in(dir, "missing.conf");
    settings_defaults(&t);
    assert_int_equal(settings_load(&t, missing, err, sizeof(err)), 0);
    settings_defaults(&s);
    assert_memory_equal(&s, &t, sizeof(s));

    /* A folder that does not exist cannot be saved to. */
    char *bad = path_in(dir, "no/such/dir.conf");
    assert_int_equal(settings_save(&s, bad), ERR_IO);

    unlink(path);
    rmdir(dir);
    free(bad);
    free(missing);
    free(tmp);
    free(path);
    free(dir);
}

static void test_load_forms(void **state)
{
    (void)state;
    char *dir = test_tmpdir("settings");
    char *path = path_in(dir, "starling.conf");
    write_file(path, "# a comment\n"
                     "\n"
                     "   # an indented comment\n"
                     "server.workers=8\n"
                     "  xmpp.receiving.channels   =   500   # trailing comment\r\n"
                     "server.main_domain = \"quoted.example\"   # comment after quotes\n"
                     "tls.client_ca_file = \"  spaced # path \"\n"
                     "xmpp.listener = \"\"\n"
                     "xmpp.receiving.log_level = all info\n"
                     "server.workers = 9\n"
                     "xmpp.sending.routes =\n");
    struct settings s;
    settings_defaults(&s);
    char err[256] = "";
    assert_int_equal(settings_load(&s, path, err, sizeof(err)), 0);
    assert_int_equal(s.server.workers, 9); /* the last line of a key wins */
    assert_int_equal(s.xmpp.receiving.channels, 500);
    assert_string_equal(s.server.main_domain, "quoted.example");
    assert_string_equal(s.tls.client_ca_file, "  spaced # path ");
    assert_int_equal(s.xmpp.listener.count, 0);
    assert_int_equal(s.xmpp.receiving.log_level, LOG_ALLINFO);
    assert_int_equal(s.xmpp.sending.route_count, 0);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

static void load_bad(const char *content, const char *want_suffix)
{
    char *dir = test_tmpdir("settings");
    char *path = path_in(dir, "bad.conf");
    write_file(path, content);
    struct settings s, before;
    settings_defaults(&s);
    before = s;
    char err[512] = "";
    assert_int_equal(settings_load(&s, path, err, sizeof(err)), ERR_INVAL);
    struct buf want;
    buf_init(&want, 1024);
    buf_printf(&want, "%s:%s", path, want_suffix);
    assert_string_equal(err, buf_cstr(&want));
    buf_cleanup(&want);
    /* Lines before the bad one are not applied either. */
    assert_memory_equal(&s, &before, sizeof(s));
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

static void test_load_errors(void **state)
{
    (void)state;
    load_bad("server.workers = 2\nfoo.bar = 1\n", "2: unknown setting \"foo.bar\"");
    load_bad("# c\n\nserver.workers 2\n", "3: expected \"key = value\"");
    load_bad("= 2\n", "1: expected \"key = value\"");
    load_bad("server.workers = 2\nxmpp.receiving.channels = abc\n",
             "2: xmpp.receiving.channels: \"abc\" is not a number (0..1000000)");
    load_bad("server.main_domain = \"unterminated\n", "1: unterminated quoted value");
    load_bad("server.main_domain = \"a.example\" junk\n",
             "1: unexpected text after the quoted value");
    load_bad("\n\n\n\nxmpp.listener = 5222, 5222\n",
             "5: xmpp.listener: \"5222\" duplicates \"5222\"");
    load_bad("server.workers = 2\nserver.workers = 2 # ok\nxmpp.receiving.require_tls = sure\n",
             "3: xmpp.receiving.require_tls: \"sure\" is not yes or no");
}

struct doc_check {
    const char *text;
    int count;
    const char *prev_row; /* the row of the previous key: the docs list them in table order */
};

static void doc_has(void *ud, const char *key, const char *value, const char *description)
{
    struct doc_check *dc = ud;
    char want[600];
    (void)description;
    snprintf(want, sizeof(want), "| `%s` | ", key);
    const char *row = strstr(dc->text, want);
    if (row == NULL) {
        fail_msg("docs/settings.md has no row for %s", key);
    }
    if (value[0] == '\0') {
        snprintf(want, sizeof(want), "| `%s` | (empty) |", key);
    } else {
        snprintf(want, sizeof(want), "| `%s` | `%s` |", key, value);
    }
    if (strncmp(row, want, strlen(want)) != 0) {
        fail_msg("docs/settings.md: the default of %s is not %s", key, value);
    }
    if (dc->prev_row != NULL && row < dc->prev_row) {
        fail_msg("docs/settings.md lists %s before the key the table puts before it", key);
    }
    dc->prev_row = row;
    dc->count++;
}

/* The user documentation lists every setting with its default (run from the source tree). */
static void test_docs(void **state)
{
    (void)state;
    if (access("docs/settings.md", R_OK) != 0) {
        skip();
    }
    struct settings s;
    settings_defaults(&s);
    struct doc_check dc = { read_file("docs/settings.md"), 0, NULL };
    settings_foreach(&s, doc_has, &dc);
    assert_int_equal(dc.count, 113);
    free((char *)dc.text);
}

int main(void)
{
    modules_set(modules, sizeof(modules) / sizeof(modules[0]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_foreach_and_get),
        cmocka_unit_test(test_numbers),     cmocka_unit_test(test_bool_level_string),
        cmocka_unit_test(test_listener),    cmocka_unit_test(test_routes),
        cmocka_unit_test(test_save_load),   cmocka_unit_test(test_load_forms),
        cmocka_unit_test(test_load_errors), cmocka_unit_test(test_docs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
