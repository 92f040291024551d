/* test_accounts.c: domains, aliases, typed settings, password storage policy, SASL lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "accounts/invite_page.h"
#include "accounts/signup.h"
#include "auth/lockout.h"
#include "core/err.h"
#include "core/module.h"
#include "testutil.h"

struct fixture {
    char dir[64];
    char path[128];
    struct store *st;
    char err[256];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/starling-accounts-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/starling.db", f->dir);
    f->st = store_open(f->path, f->err, sizeof(f->err));
    if (f->st == NULL) {
        fprintf(stderr, "store_open: %s\n", f->err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Collects show rows as "key=value;". */
struct collect {
    char text[2048];
};

static int collect_row(void *ud, const char *a, const char *b)
{
    struct collect *c = ud;
    size_t len = strlen(c->text);
    snprintf(c->text + len, sizeof(c->text) - len, "%s=%s;", a, b ? b : "");
    return 0;
}

/* The value of `key` in a collect text (into a static buffer). */
static const char *row_value(const struct collect *c, const char *key)
{
    static char value[512];
    char pat[64];
    snprintf(pat, sizeof(pat), "%s=", key);
    const char *p = c->text;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, pat, strlen(pat)) == 0) {
            const char *v = p + strlen(pat);
            const char *end = strchr(v, ';');
            snprintf(value, sizeof(value), "%.*s", (int)(end - v), v);
            return value;
        }
        p = strchr(p, ';');
        p = p ? p + 1 : NULL;
    }
    return NULL;
}

/* Decodes the stored credentials of domain/name. */
static void stored_creds(struct fixture *f, const char *domain, const char *name,
                         struct auth_creds *out)
{
    struct buf b;
    buf_init(&b, 16384);
    assert_int_equal(store_account_credentials(f->st, domain, name, &b), 0);
    assert_int_equal(auth_creds_decode(buf_strv(&b), out), 0);
    buf_cleanup(&b);
}

static void test_domain_add(void **state)
{
    struct fixture *f = *state;
    struct domain_cfg d;
    assert_int_equal(accounts_domain_add(f->st, "LocalHost", f->err, sizeof(f->err)), 0);
    assert_int_equal(store_domain_exists(f->st, "localhost"), 1);
    assert_int_equal(accounts_domain_add(f->st, "localhost.", f->err, sizeof(f->err)), ERR_EXISTS);
    assert_non_null(strstr(f->err, "localhost"));
    assert_int_equal(accounts_domain_add(f->st, "bad name", f->err, sizeof(f->err)), ERR_INVAL);
    assert_non_null(strstr(f->err, "invalid"));
    assert_int_equal(accounts_domain_add(f->st, "", f->err, sizeof(f->err)), ERR_INVAL);
    char longname[300];
    memset(longname, 'a', sizeof(longname));
    for (int i = 60; i < 290; i += 61) {
        longname[i] = '.';
    }
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(accounts_domain_add(f->st, longname, f->err, sizeof(f->err)), ERR_INVAL);

    assert_int_equal(accounts_domain_get(f->st, "LOCALHOST", &d), 0);
    assert_string_equal(d.name, "localhost");
    assert_int_equal(d.n_login_methods, 8);
    assert_string_equal(d.login_methods[0], "SCRAM-SHA-1");
    assert_string_equal(d.login_methods[7], "EXTERNAL");
    assert_int_equal(d.password_storage, PW_STORAGE_SCRAM);
    assert_false(d.auto_signup);
    assert_false(d.allow_modify_password);
    assert_true(d.xmpp_enabled);
    assert_int_equal(accounts_domain_get(f->st, "nope.example", &d), ERR_NOTFOUND);
    assert_int_equal(accounts_domain_get(f->st, "bad name", &d), ERR_INVAL);

    assert_int_equal(accounts_domain_remove(f->st, "LOCALHOST", f->err, sizeof(f->err)), 0);
    assert_int_equal(store_domain_exists(f->st, "localhost"), 0);
    assert_int_equal(accounts_domain_remove(f->st, "localhost", f->err, sizeof(f->err)),
                     ERR_NOTFOUND);
    assert_non_null(strstr(f->err, "no domain"));
}

static void test_aliases(void **state)
{
    struct fixture *f = *state;
    struct domain_cfg d;
    struct buf b;
    struct collect c = { "" };
    buf_init(&b, 1024);
    assert_int_equal(accounts_domain_add(f->st, "example.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_domain_add(f->st, "other.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_domain_set(f->st, "example.com", "aliases",
                                         "WWW.Example.com, chat.example.com", f->err,
                                         sizeof(f->err)),
                     0);
    assert_int_equal(store_domain_resolve(f->st, "www.example.com", &b), 0);
    assert_string_equal(buf_cstr(&b), "example.com");
    /* Reading and setting through an alias reach the domain. */
    assert_int_equal(accounts_domain_get(f->st, "Chat.Example.COM", &d), 0);
    assert_string_equal(d.name, "example.com");
    assert_int_equal(
        accounts_domain_set(f->st, "chat.example.com", "xmpp", "no", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_domain_get(f->st, "example.com", &d), 0);
    assert_false(d.xmpp_enabled);
    assert_int_equal(accounts_domain_show(f->st, "example.com", collect_row, &c), 0);
    assert_string_equal(row_value(&c, "aliases"), "chat.example.com,www.example.com");

    /* Replacing: the old aliases go. */
    assert_int_equal(accounts_domain_set(f->st, "example.com", "aliases", "xmpp.example.com",
                                         f->err, sizeof(f->err)),
                     0);
    assert_int_equal(store_domain_resolve(f->st, "www.example.com", &b), ERR_NOTFOUND);
    assert_int_equal(store_domain_resolve(f->st, "xmpp.example.com", &b), 0);

    /* A clash fails as a whole: the previous aliases stay. */
    assert_int_equal(accounts_domain_set(f->st, "example.com", "aliases", "a.example.com,other.com",
                                         f->err, sizeof(f->err)),
                     ERR_EXISTS);
    assert_non_null(strstr(f->err, "other.com"));
    assert_int_equal(store_domain_resolve(f->st, "xmpp.example.com", &b), 0);
    assert_int_equal(store_domain_resolve(f->st, "a.example.com", &b), ERR_NOTFOUND);
    assert_int_equal(accounts_domain_set(f->st, "example.com", "aliases", "ok.com,bad alias",
                                         f->err, sizeof(f->err)),
                     ERR_INVAL);
    assert_int_equal(store_domain_resolve(f->st, "ok.com", &b), ERR_NOTFOUND);
    /* An alias cannot be added as a domain, nor removed as one. */
    assert_int_equal(accounts_domain_add(f->st, "xmpp.example.com", f->err, sizeof(f->err)),
                     ERR_EXISTS);
    assert_int_equal(accounts_domain_remove(f->st, "xmpp.example.com", f->err, sizeof(f->err)),
                     ERR_NOTFOUND);
    assert_non_null(strstr(f->err, "alias of example.com"));
    assert_int_equal(store_domain_exists(f->st, "example.com"), 1);

    /* Empty removes them all. */
    assert_int_equal(
        accounts_domain_set(f->st, "example.com", "aliases", "", f->err, sizeof(f->err)), 0);
    assert_int_equal(store_domain_resolve(f->st, "xmpp.example.com", &b), ERR_NOTFOUND);
    assert_int_equal(
        accounts_domain_set(f->st, "nope.com", "aliases", "x.com", f->err, sizeof(f->err)),
        ERR_NOTFOUND);
    buf_cleanup(&b);
}

static void test_domain_set(void **state)
{
    struct fixture *f = *state;
    struct domain_cfg d;
    assert_int_equal(accounts_domain_add(f->st, "d.com", f->err, sizeof(f->err)), 0);

    assert_int_equal(accounts_domain_set(f->st, "d.com", "login_methods",
                                         "plain, scram-sha-256,PLAIN", f->err, sizeof(f->err)),
                     0);
    assert_int_equal(accounts_domain_get(f->st, "d.com", &d), 0);
    assert_int_equal(d.n_login_methods, 2);
    assert_string_equal(d.login_methods[0], "PLAIN");
    assert_string_equal(d.login_methods[1], "SCRAM-SHA-256");
    assert_true(accounts_login_method_enabled(&d, "SCRAM-SHA-256"));
    assert_true(accounts_login_method_enabled(&d, "scram-sha-256-plus"));
    assert_true(accounts_login_method_enabled(&d, "Plain"));
    assert_false(accounts_login_method_enabled(&d, "SCRAM-SHA-1"));
    assert_false(accounts_login_method_enabled(&d, "SCRAM-SHA-1-PLUS"));
    assert_false(accounts_login_method_enabled(&d, "PLAIN-PLUS-PLUS"));
    assert_false(accounts_login_method_enabled(&d, "-PLUS"));

    f->err[0] = '\0';
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "login_methods", "PLAIN,NTLM", f->err, sizeof(f->err)),
        ERR_INVAL);
    assert_non_null(strstr(f->err, "NTLM"));
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "login_methods", " , ", f->err, sizeof(f->err)),
        ERR_INVAL);
    assert_int_equal(accounts_domain_get(f->st, "d.com", &d), 0);
    assert_int_equal(d.n_login_methods, 2);
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "login_methods", "default", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_domain_get(f->st, "d.com", &d), 0);
    assert_int_equal(d.n_login_methods, 8);

    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "auto_signup", "YES", f->err, sizeof(f->err)), 0);
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "allow_modify_password", "yes", f->err, sizeof(f->err)),
        0);
    assert_int_equal(accounts_domain_set(f->st, "d.com", "xmpp", "no", f->err, sizeof(f->err)), 0);
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "password_storage", "Clear", f->err, sizeof(f->err)),
        0);
    assert_int_equal(accounts_domain_get(f->st, "d.com", &d), 0);
    assert_true(d.auto_signup);
    assert_true(d.allow_modify_password);
    assert_false(d.xmpp_enabled);
    assert_int_equal(d.password_storage, PW_STORAGE_CLEAR);

    /* Bad values and unknown keys, each with a reason. */
    const char *bad[][2] = {
        { "auto_signup", "maybe" },       { "xmpp", "" },       { "password_storage", "md5" },
        { "allow_modify_password", "1" }, { "colour", "blue" }, { "colour", "default" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->err[0] = '\0';
        assert_int_equal(
            accounts_domain_set(f->st, "d.com", bad[i][0], bad[i][1], f->err, sizeof(f->err)),
            ERR_INVAL);
        assert_true(strlen(f->err) > 0);
        assert_null(strchr(f->err, '\n'));
    }
    assert_int_equal(accounts_domain_set(f->st, "d.com", "xmpp", NULL, f->err, sizeof(f->err)),
                     ERR_INVAL);
    assert_int_equal(accounts_domain_get(f->st, "d.com", &d), 0);
    assert_true(d.auto_signup);

    /* "default" unsets. */
    assert_int_equal(accounts_domain_set(f->st, "d.com", "xmpp", "default", f->err, sizeof(f->err)),
                     0);
    assert_int_equal(accounts_domain_get(f->st, "d.com", &d), 0);
    assert_true(d.xmpp_enabled);
    assert_int_equal(accounts_domain_set(f->st, "nope.com", "xmpp", "no", f->err, sizeof(f->err)),
                     ERR_NOTFOUND);
    assert_int_equal(accounts_domain_set(f->st, "bad name", "xmpp", "no", f->err, sizeof(f->err)),
                     ERR_INVAL);
}

static void test_domain_show(void **state)
{
    struct fixture *f = *state;
    struct collect c = { "" };
    assert_int_equal(accounts_domain_add(f->st, "d.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_domain_show(f->st, "d.com", collect_row, &c), 0);
    assert_string_equal(c.text,
                        "login_methods=SCRAM-SHA-1,SCRAM-SHA-256,SCRAM-SHA-512,PLAIN,LOGIN,"
                        "CRAM-MD5,DIGEST-MD5,EXTERNAL;password_storage=scram;auto_signup=no;"
                        "allow_modify_password=no;xmpp=yes;chat_service=conference.d.com;allow_"
                        "cancel=yes;signup_invite_only=no;aliases=;archive_keep_days=default;"
                        "s2s_blocked=;s2s_allowed=;");
    /* The archive's retention (docs/archive.md): days, 0 = forever, "default" = the server's. */
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "archive_keep_days", "90", f->err, sizeof(f->err)), 0);
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "archive_keep_days", "-1", f->err, sizeof(f->err)),
        ERR_INVAL);
    c.text[0] = '\0';
    assert_int_equal(accounts_domain_show(f->st, "d.com", collect_row, &c), 0);
    assert_non_null(strstr(c.text, "archive_keep_days=90;"));
    /* Federation lists (issue 20): names prepared, joined by ", "; "" or default removes. */
    assert_int_equal(accounts_domain_set(f->st, "d.com", "s2s_blocked",
                                         " Spam.Example,,bad.example ", f->err, sizeof(f->err)),
                     0);
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "s2s_allowed", "a@b.com", f->err, sizeof(f->err)),
        ERR_INVAL);
    c.text[0] = '\0';
    assert_int_equal(accounts_domain_show(f->st, "d.com", collect_row, &c), 0);
    assert_non_null(strstr(c.text, "s2s_blocked=spam.example, bad.example;s2s_allowed=;"));
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "s2s_blocked", "default", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_domain_set(f->st, "d.com", "login_methods", "SCRAM-SHA-512", f->err,
                                         sizeof(f->err)),
                     0);
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "password_storage", "clear", f->err, sizeof(f->err)),
        0);
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "aliases", "e.com", f->err, sizeof(f->err)), 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(accounts_domain_show(f->st, "e.com", collect_row, &c), 0);
    assert_string_equal(c.text,
                        "login_methods=SCRAM-SHA-512;password_storage=clear;"
                        "auto_signup=no;allow_modify_password=no;xmpp=yes;chat_service=conference."
                        "d.com;allow_cancel=yes;signup_invite_only=no;aliases=e.com;"
                        "archive_keep_days=90;s2s_blocked=;s2s_allowed=;");
    assert_int_equal(accounts_domain_show(f->st, "x.com", collect_row, &c), ERR_NOTFOUND);
}

static void test_account_scram(void **state)
{
    struct fixture *f = *state;
    struct auth_creds c;
    assert_int_equal(accounts_domain_add(f->st, "localhost", f->err, sizeof(f->err)), 0);
    assert_int_equal(
        accounts_account_add(f->st, "Alice@LOCALHOST", "secret", f->err, sizeof(f->err)), 0);
    assert_int_equal(store_account_exists(f->st, "localhost", "alice"), 1);
    stored_creds(f, "localhost", "alice", &c);
    assert_null(c.clear);
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        assert_true(c.scram[h].set);
        assert_int_equal(c.scram[h].iterations, AUTH_SCRAM_ITERATIONS);
    }
    assert_int_equal(auth_creds_verify_password(&c, "secret"), 0);
    assert_int_equal(auth_creds_verify_password(&c, "Secret"), ERR_AUTH);
    auth_creds_cleanup(&c);

    assert_int_equal(accounts_account_add(f->st, "alice@localhost", "x", f->err, sizeof(f->err)),
                     ERR_EXISTS);
    assert_non_null(strstr(f->err, "alice@localhost"));
    assert_int_equal(accounts_account_add(f->st, "bob@nope.com", "x", f->err, sizeof(f->err)),
                     ERR_NOTFOUND);
    assert_int_equal(accounts_account_add(f->st, "localhost", "x", f->err, sizeof(f->err)),
                     ERR_INVAL);
    assert_int_equal(accounts_account_add(f->st, "bob@localhost/res", "x", f->err, sizeof(f->err)),
                     ERR_INVAL);
    assert_int_equal(accounts_account_add(f->st, "b b@localhost", "x", f->err, sizeof(f->err)),
                     ERR_INVAL);
    assert_int_equal(accounts_account_add(f->st, "bob@localhost", "", f->err, sizeof(f->err)),
                     ERR_INVAL);
    char longpw[AUTH_PASSWORD_MAX + 2];
    memset(longpw, 'p', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    assert_int_equal(accounts_account_add(f->st, "bob@localhost", longpw, f->err, sizeof(f->err)),
                     ERR_INVAL);
    assert_int_equal(store_account_exists(f->st, "localhost", "bob"), 0);
}

static void test_account_clear(void **state)
{
    struct fixture *f = *state;
    struct auth_creds c;
    assert_int_equal(accounts_domain_add(f->st, "d.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "password_storage", "clear", f->err, sizeof(f->err)),
        0);
    assert_int_equal(accounts_account_add(f->st, "bob@d.com", "pw1", f->err, sizeof(f->err)), 0);
    stored_creds(f, "d.com", "bob", &c);
    assert_non_null(c.clear);
    assert_string_equal(c.clear, "pw1");
    assert_true(c.scram[SCRAM_SHA256].set);
    auth_creds_cleanup(&c);

    /* passwd and set password follow the policy too. */
    assert_int_equal(accounts_account_passwd(f->st, "BOB@d.com", "pw2", f->err, sizeof(f->err)), 0);
    stored_creds(f, "d.com", "bob", &c);
    assert_string_equal(c.clear, "pw2");
    auth_creds_cleanup(&c);
    assert_int_equal(
        accounts_account_set(f->st, "bob@d.com", "password", "pw3", f->err, sizeof(f->err)), 0);
    stored_creds(f, "d.com", "bob", &c);
    assert_string_equal(c.clear, "pw3");
    assert_int_equal(auth_creds_verify_password(&c, "pw3"), 0);
    auth_creds_cleanup(&c);
    assert_int_equal(accounts_account_passwd(f->st, "carol@d.com", "pw", f->err, sizeof(f->err)),
                     ERR_NOTFOUND);
    assert_int_equal(accounts_account_passwd(f->st, "bob@d.com", "", f->err, sizeof(f->err)),
                     ERR_INVAL);
}

static void test_switch_strips(void **state)
{
    struct fixture *f = *state;
    struct auth_creds c;
    struct buf b;
    buf_init(&b, 16384);
    assert_int_equal(accounts_domain_add(f->st, "d.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_domain_add(f->st, "keep.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "password_storage", "clear", f->err, sizeof(f->err)),
        0);
    assert_int_equal(
        accounts_domain_set(f->st, "keep.com", "password_storage", "clear", f->err, sizeof(f->err)),
        0);
    assert_int_equal(accounts_account_add(f->st, "a@d.com", "pa", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_account_add(f->st, "b@d.com", "pb", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_account_add(f->st, "k@keep.com", "pk", f->err, sizeof(f->err)), 0);
    /* An old record with a clear password only: keys must be derived before stripping. */
    memset(&c, 0, sizeof(c));
    c.clear = xstrdup("pc");
    assert_int_equal(auth_creds_encode(&c, &b), 0);
    auth_creds_cleanup(&c);
    assert_int_equal(store_account_add(f->st, "d.com", "c", buf_cstr(&b)), 0);

    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "password_storage", "scram", f->err, sizeof(f->err)),
        0);
    const char *names[] = { "a", "b", "c" };
    const char *pws[] = { "pa", "pb", "pc" };
    for (int i = 0; i < 3; i++) {
        stored_creds(f, "d.com", names[i], &c);
        assert_null(c.clear);
        for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
            assert_true(c.scram[h].set);
        }
        assert_int_equal(auth_creds_verify_password(&c, pws[i]), 0);
        auth_creds_cleanup(&c);
    }
    /* Another domain is untouched. */
    stored_creds(f, "keep.com", "k", &c);
    assert_non_null(c.clear);
    auth_creds_cleanup(&c);

    /* Unreadable credentials make the switch fail as a whole, leaving the policy as it was. */
    assert_int_equal(
        accounts_domain_set(f->st, "keep.com", "password_storage", "clear", f->err, sizeof(f->err)),
        0);
    assert_int_equal(store_account_add(f->st, "keep.com", "zbroken", "garbage"), 0);
    assert_int_equal(
        accounts_domain_set(f->st, "keep.com", "password_storage", "scram", f->err, sizeof(f->err)),
        ERR_STORE);
    assert_non_null(strstr(f->err, "zbroken@keep.com"));
    struct domain_cfg d;
    assert_int_equal(accounts_domain_get(f->st, "keep.com", &d), 0);
    assert_int_equal(d.password_storage, PW_STORAGE_CLEAR);
    stored_creds(f, "keep.com", "k", &c);
    assert_non_null(c.clear);
    auth_creds_cleanup(&c);
    /* The handle is usable afterwards (the transaction was rolled back). */
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_rollback(f->st), 0);
    buf_cleanup(&b);
}

static void test_lookup(void **state)
{
    struct fixture *f = *state;
    struct auth_creds c;
    assert_int_equal(accounts_domain_add(f->st, "localhost", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_domain_add(f->st, "other.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(
        accounts_domain_set(f->st, "localhost", "aliases", "alias.test", f->err, sizeof(f->err)),
        0);
    assert_int_equal(
        accounts_account_add(f->st, "alice@localhost", "wonder", f->err, sizeof(f->err)), 0);
    assert_int_equal(
        accounts_account_add(f->st, "alice@other.com", "other", f->err, sizeof(f->err)), 0);

    const char *ok[][2] = {
        { "localhost", "alice" },
        { "localhost", "Alice" },
        { "localhost", "Alice@LOCALHOST" },
        { "LocalHost", "alice@localhost" },
        { "localhost", "alice@alias.test" },
        { "alias.test", "alice" },
        { "alias.test", "alice@localhost" },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int rc = accounts_lookup_creds(f->st, ok[i][0], ok[i][1], &c);
        if (rc != 0) {
            fail_msg("lookup %s / %s gave %d", ok[i][0], ok[i][1], rc);
        }
        assert_int_equal(auth_creds_verify_password(&c, "wonder"), 0);
        assert_false(c.disabled);
        assert_false(c.secure_required);
        auth_creds_cleanup(&c);
    }
    const char *missing[][2] = {
        { "localhost", "bob" },
        { "localhost", "alice@other.com" },
        { "localhost", "" },
        { "localhost", "@localhost" },
        { "localhost", "a b" },
        { "localhost", "alice@" },
        { "nope.com", "alice" },
        { "bad host", "alice" },
        { "localhost", "alice@bad host" },
    };
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        int rc = accounts_lookup_creds(f->st, missing[i][0], missing[i][1], &c);
        if (rc != ERR_NOTFOUND) {
            fail_msg("lookup %s / %s gave %d", missing[i][0], missing[i][1], rc);
        }
        assert_null(c.clear);
        assert_false(c.scram[0].set);
    }

    /* The account flags come along. */
    assert_int_equal(
        accounts_account_set(f->st, "alice@localhost", "disabled", "yes", f->err, sizeof(f->err)),
        0);
    assert_int_equal(accounts_account_set(f->st, "alice@localhost", "secure_method_required", "yes",
                                          f->err, sizeof(f->err)),
                     0);
    assert_int_equal(accounts_lookup_creds(f->st, "localhost", "alice", &c), 0);
    assert_true(c.disabled);
    assert_true(c.secure_required);
    auth_creds_cleanup(&c);
    assert_int_equal(accounts_lookup_creds(f->st, "other.com", "alice", &c), 0);
    assert_false(c.disabled);
    assert_int_equal(auth_creds_verify_password(&c, "other"), 0);
    auth_creds_cleanup(&c);
}

static void test_account_settings(void **state)
{
    struct fixture *f = *state;
    struct account_cfg a;
    struct collect c = { "" };
    assert_int_equal(accounts_domain_add(f->st, "d.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(
        accounts_domain_set(f->st, "d.com", "aliases", "e.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_account_add(f->st, "u@d.com", "pw", f->err, sizeof(f->err)), 0);

    assert_int_equal(accounts_account_get(f->st, "U@e.com", &a), 0);
    assert_false(a.admin);
    assert_false(a.secure_method_required);
    assert_false(a.disabled);
    assert_int_equal(a.auto_signup, -1);
    assert_int_equal(a.allow_modify_password, -1);
    assert_string_equal(a.real_name, "");

    const char *sets[][2] = {
        { "admin", "yes" },
        { "secure_method_required", "Yes" },
        { "disabled", "yes" },
        { "auto_signup", "no" },
        { "allow_modify_password", "yes" },
        { "real_name", "Ünïcode Üser" },
    };
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        assert_int_equal(
            accounts_account_set(f->st, "u@d.com", sets[i][0], sets[i][1], f->err, sizeof(f->err)),
            0);
    }
    assert_int_equal(accounts_account_get(f->st, "u@d.com", &a), 0);
    assert_true(a.admin);
    assert_true(a.secure_method_required);
    assert_true(a.disabled);
    assert_int_equal(a.auto_signup, 0);
    assert_int_equal(a.allow_modify_password, 1);
    assert_string_equal(a.real_name, "Ünïcode Üser");

    assert_int_equal(accounts_account_show(f->st, "u@d.com", collect_row, &c), 0);
    assert_string_equal(row_value(&c, "admin"), "yes");
    assert_string_equal(row_value(&c, "auto_signup"), "no");
    assert_string_equal(row_value(&c, "real_name"), "Ünïcode Üser");
    assert_int_equal(strlen(row_value(&c, "created")), 20);
    assert_null(row_value(&c, "password"));
    assert_null(row_value(&c, "credentials"));
    assert_null(strstr(c.text, "scram"));

    /* Back to defaults. */
    assert_int_equal(
        accounts_account_set(f->st, "u@d.com", "auto_signup", "default", f->err, sizeof(f->err)),
        0);
    assert_int_equal(accounts_account_set(f->st, "u@d.com", "admin", "no", f->err, sizeof(f->err)),
                     0);
    assert_int_equal(
        accounts_account_set(f->st, "u@d.com", "real_name", "", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_account_get(f->st, "u@d.com", &a), 0);
    assert_int_equal(a.auto_signup, -1);
    assert_false(a.admin);
    assert_string_equal(a.real_name, "");
    memset(&c, 0, sizeof(c));
    assert_int_equal(accounts_account_show(f->st, "u@d.com", collect_row, &c), 0);
    assert_string_equal(row_value(&c, "auto_signup"), "default");

    /* Bad keys and values. */
    char longname[ACCOUNTS_NAME_MAX + 2];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    const char *bad[][2] = {
        { "admin", "default" },  { "disabled", "true" },  { "auto_signup", "sometimes" },
        { "real_name", "a\nb" }, { "real_name", "\xC3" }, { "real_name", longname },
        { "credentials", "x" },  { "created", "0" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->err[0] = '\0';
        assert_int_equal(
            accounts_account_set(f->st, "u@d.com", bad[i][0], bad[i][1], f->err, sizeof(f->err)),
            ERR_INVAL);
        assert_true(strlen(f->err) > 0);
    }
    assert_int_equal(
        accounts_account_set(f->st, "nobody@d.com", "admin", "yes", f->err, sizeof(f->err)),
        ERR_NOTFOUND);
    assert_non_null(strstr(f->err, "nobody@d.com"));
    assert_int_equal(
        accounts_account_set(f->st, "u@d.com/r", "admin", "yes", f->err, sizeof(f->err)),
        ERR_INVAL);
    assert_int_equal(accounts_account_get(f->st, "nobody@d.com", &a), ERR_NOTFOUND);
    assert_int_equal(accounts_account_get(f->st, "not valid", &a), ERR_NOTFOUND);
    assert_int_equal(accounts_account_show(f->st, "nobody@d.com", collect_row, &c), ERR_NOTFOUND);

    /* Removal, through an alias, takes the settings along. */
    assert_int_equal(accounts_account_remove(f->st, "U@E.COM", f->err, sizeof(f->err)), 0);
    assert_int_equal(store_account_exists(f->st, "d.com", "u"), 0);
    assert_int_equal(accounts_account_remove(f->st, "u@d.com", f->err, sizeof(f->err)),
                     ERR_NOTFOUND);
    assert_int_equal(accounts_account_add(f->st, "u@d.com", "pw", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_account_get(f->st, "u@d.com", &a), 0);
    assert_false(a.disabled);
}

static void test_domain_remove_cascades(void **state)
{
    struct fixture *f = *state;
    struct auth_creds c;
    assert_int_equal(accounts_domain_add(f->st, "d.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_account_add(f->st, "u@d.com", "pw", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_account_set(f->st, "u@d.com", "admin", "yes", f->err, sizeof(f->err)),
                     0);
    assert_int_equal(accounts_domain_remove(f->st, "d.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(accounts_lookup_creds(f->st, "d.com", "u", &c), ERR_NOTFOUND);
    assert_int_equal(accounts_domain_add(f->st, "d.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(store_account_count(f->st, "d.com"), 0);
}

/* ---- per-account lock-out after failed logins (auth/lockout.h through accounts_login_*) ---- */

static void count_one(void *ud, const char *key, int failures, long locked_s, long last_s)
{
    (void)key, (void)failures, (void)locked_s, (void)last_s;
    (*(int *)ud)++;
}

static int count_entries(void)
{
    int n = 0;
    lockout_foreach(count_one, &n);
    return n;
}

static void test_login_lockout(void **state)
{
    (void)state;
    struct settings_auth p = { .lock_after = 3,
                               .lock_time = 60,
                               .lock_max = 200,
                               .lock_window = 900 };
    lockout_reset();
    /* Failures of one account from anywhere add up; another account's success does not reset
     * them (the attack that alternated with its own account). */
    assert_int_equal(accounts_login_failed(&p, "Victim", "example.com"), 0);
    accounts_login_succeeded("mallory", "example.com");
    assert_int_equal(accounts_login_failed(&p, "victim@example.com", "example.com"), 0);
    accounts_login_succeeded("mallory", "example.com");
    assert_int_equal(accounts_login_locked(&p, "victim", "example.com"), 0);
    assert_int_equal(accounts_login_failed(&p, "VICTIM", "example.com"), 60);
    long left = accounts_login_locked(&p, "victim", "example.com");
    assert_true(left > 58 && left <= 60);
    /* Each further failure doubles the lock up to lock_max. */
    assert_int_equal(accounts_login_failed(&p, "victim", "example.com"), 120);
    assert_int_equal(accounts_login_failed(&p, "victim", "example.com"), 200);
    assert_int_equal(accounts_login_failed(&p, "victim", "example.com"), 200);
    /* Other accounts, and the same name on another domain, are not locked. */
    assert_int_equal(accounts_login_locked(&p, "mallory", "example.com"), 0);
    assert_int_equal(accounts_login_locked(&p, "victim", "example.org"), 0);
    assert_int_equal(count_entries(), 1);
    /* The account's own success clears it. */
    accounts_login_succeeded("victim", "example.com");
    assert_int_equal(accounts_login_locked(&p, "victim", "example.com"), 0);
    assert_int_equal(count_entries(), 0);
    /* lock_after = 0: nothing is counted. */
    p.lock_after = 0;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(accounts_login_failed(&p, "victim", "example.com"), 0);
    }
    assert_int_equal(accounts_login_locked(&p, "victim", "example.com"), 0);
    /* A name that does not prepare is not counted (and nothing crashes). */
    p.lock_after = 3;
    assert_int_equal(accounts_login_failed(&p, "bad\x01name", "example.com"), 0);
    lockout_reset();
}

/* The table is bounded: past LOCKOUT_MAX names the oldest give way, and a locked account among
 * recent failures stays locked. */
static void test_login_lockout_bounded(void **state)
{
    (void)state;
    struct settings_auth p = { .lock_after = 2,
                               .lock_time = 60,
                               .lock_max = 60,
                               .lock_window = 900 };
    char name[32];
    lockout_reset();
    for (int i = 0; i < LOCKOUT_MAX + 100; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        accounts_login_failed(&p, name, "example.com");
    }
    assert_int_equal(count_entries(), LOCKOUT_MAX);
    accounts_login_failed(&p, "victim", "example.com");
    accounts_login_failed(&p, "victim", "example.com");
    assert_true(accounts_login_locked(&p, "victim", "example.com") > 0);
    assert_int_equal(count_entries(), LOCKOUT_MAX);
    lockout_reset();
    assert_int_equal(count_entries(), 0);
}

/* ---- in-band registration: look-alike names and rates (issue 12) ---- */

static void test_signup_skeleton(void **state)
{
    (void)state;
    struct buf a, b;
    buf_init(&a, 1024);
    buf_init(&b, 1024);
    /* A Greek omicron, a Cyrillic a and "rn" for "m" look like the Latin letters. */
    assert_int_equal(signup_skeleton("p\xce\xbfstmaster", &a), 0);
    assert_int_equal(signup_skeleton("postmaster", &b), 0);
    assert_string_equal(buf_cstr(&a), buf_cstr(&b));
    assert_int_equal(signup_skeleton("\xd0\xb0lice", &a), 0);
    assert_int_equal(signup_skeleton("alice", &b), 0);
    assert_string_equal(buf_cstr(&a), buf_cstr(&b));
    assert_int_equal(signup_skeleton("adrnin", &a), 0);
    assert_int_equal(signup_skeleton("admin", &b), 0);
    assert_string_equal(buf_cstr(&a), buf_cstr(&b));
    assert_int_equal(signup_skeleton("bob", &a), 0);
    assert_string_not_equal(buf_cstr(&a), buf_cstr(&b));
    buf_cleanup(&a);
    buf_cleanup(&b);
}

static void test_signup_lookalikes_refused(void **state)
{
    struct fixture *f = *state;
    struct settings cfg;
    struct signup_refusal why;
    settings_defaults(&cfg);
    assert_int_equal(accounts_domain_add(f->st, "example.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(
        accounts_account_add(f->st, "alice@example.com", "Secret-123", f->err, sizeof(f->err)), 0);
    /* Reserved names, and names that only look like one. */
    assert_int_equal(signup_check_name(f->st, &cfg, "example.com", "postmaster", &why), ERR_DENIED);
    assert_int_equal(signup_check_name(f->st, &cfg, "example.com", "p\xce\xbfstmaster", &why),
                     ERR_DENIED);
    assert_string_equal(why.condition, "not-acceptable");
    assert_int_equal(signup_check_name(f->st, &cfg, "example.com", "adrninistrator", &why),
                     ERR_DENIED);
    assert_int_equal(signup_check_name(f->st, &cfg, "example.com", "webadmin", &why), ERR_DENIED);
    /* An existing account, and a name that looks like it. */
    assert_int_equal(signup_check_name(f->st, &cfg, "example.com", "alice", &why), ERR_DENIED);
    assert_string_equal(why.condition, "conflict");
    assert_int_equal(signup_check_name(f->st, &cfg, "example.com", "\xd0\xb0lice", &why),
                     ERR_DENIED);
    assert_string_equal(why.condition, "conflict");
    assert_non_null(strstr(why.text, "looks like"));
    /* Other names pass; a look-alike on another domain is no conflict. */
    assert_int_equal(signup_check_name(f->st, &cfg, "example.com", "bob", &why), 0);
    assert_int_equal(accounts_domain_add(f->st, "example.org", f->err, sizeof(f->err)), 0);
    assert_int_equal(signup_check_name(f->st, &cfg, "example.org", "\xd0\xb0lice", &why), 0);
}

/* Accounts added behind the accounts layer's back (a database from before the skeleton table)
 * get their skeleton from signup_skeletons_fill; a removed account's skeleton goes with it. */
static void test_signup_skeletons_filled_and_removed(void **state)
{
    struct fixture *f = *state;
    struct settings cfg;
    struct signup_refusal why;
    settings_defaults(&cfg);
    assert_int_equal(accounts_domain_add(f->st, "example.com", f->err, sizeof(f->err)), 0);
    assert_int_equal(store_account_add(f->st, "example.com", "carol", "x"), 0);
    assert_int_equal(signup_check_name(f->st, &cfg, "example.com", "c\xd0\xb0rol", &why), 0);
    assert_int_equal(signup_skeletons_fill(f->st), 1);
    assert_int_equal(signup_skeletons_fill(f->st), 0);
    assert_int_equal(signup_check_name(f->st, &cfg, "example.com", "c\xd0\xb0rol", &why),
                     ERR_DENIED);
    assert_string_equal(why.condition, "conflict");
    assert_int_equal(accounts_account_remove(f->st, "carol@example.com", f->err, sizeof(f->err)),
                     0);
    assert_int_equal(signup_check_name(f->st, &cfg, "example.com", "c\xd0\xb0rol", &why), 0);
}

static void test_signup_rates(void **state)
{
    (void)state;
    struct settings cfg;
    struct signup_refusal why;
    char addr[32];
    time_t now = 1700000000;
    settings_defaults(&cfg);
    cfg.reg.rate_limit = 2;
    cfg.reg.domain_rate_limit = 5;
    cfg.reg.global_rate_limit = 8;
    signup_shutdown();
    /* Five registrations from five addresses fill the domain's rate... */
    for (int i = 0; i < 5; i++) {
        snprintf(addr, sizeof(addr), "192.0.2.%d", i);
        assert_true(signup_rate_allowed(&cfg, addr, "a.example", now + i, &why));
        signup_rate_note(&cfg, addr, "a.example", now + i);
    }
    assert_false(signup_rate_allowed(&cfg, "192.0.2.99", "a.example", now + 5, &why));
    assert_string_equal(why.condition, "resource-constraint");
    assert_non_null(strstr(why.text, "domain"));
    /* ... another domain still has room until the server's rate is reached. */
    for (int i = 0; i < 3; i++) {
        snprintf(addr, sizeof(addr), "198.51.100.%d", i);
        assert_true(signup_rate_allowed(&cfg, addr, "b.example", now + 6, &why));
        signup_rate_note(&cfg, addr, "b.example", now + 6);
    }
    assert_false(signup_rate_allowed(&cfg, "203.0.113.1", "b.example", now + 7, &why));
    assert_non_null(strstr(why.text, "server"));
    /* The per-address rate still counts. */
    signup_shutdown();
    signup_rate_note(&cfg, "192.0.2.1", "a.example", now);
    signup_rate_note(&cfg, "192.0.2.1", "a.example", now);
    assert_false(signup_rate_allowed(&cfg, "192.0.2.1", "a.example", now, &why));
    assert_non_null(strstr(why.text, "address"));
    /* After the period everything is allowed again. */
    assert_true(
        signup_rate_allowed(&cfg, "192.0.2.1", "a.example", now + cfg.reg.rate_period + 1, &why));
    signup_shutdown();
}

/* The modules linked here, in main.c's order, for the defaults of their settings rows. */
static struct module *const modules[] = { &core_module, &auth_module, &accounts_module };

/* The invitation landing page: every value escaped, the xmpp: URI and the clients listed. */
static void test_invite_page(void **state)
{
    (void)state;
    struct buf html;
    buf_init(&html, 65536);
    struct invite_page inv = { .token = "tok-1_x",
                               .domain = "example.com",
                               .inviter = "<b>&'\"",
                               .expires = 1767225600 };
    assert_int_equal(invite_page_render(&inv, &html), 0);
    const char *t = buf_cstr(&html);
    assert_non_null(strstr(t, "&lt;b&gt;&amp;&#39;&quot;@example.com invites you"));
    assert_null(strstr(t, "<b>"));
    assert_null(strstr(t, "<script"));
    assert_non_null(strstr(t, "href=\"xmpp:&lt;b&gt;&amp;&#39;&quot;@example.com?roster;preauth="
                              "tok-1_x;ibr=y\""));
    assert_non_null(strstr(t, "2026-01-01T00:00:00Z"));
    assert_non_null(strstr(t, "Conversations"));
    assert_non_null(strstr(t, "Gajim"));
    inv.inviter = NULL;
    assert_int_equal(invite_page_render(&inv, &html), 0);
    assert_non_null(strstr(buf_cstr(&html), "href=\"xmpp:example.com?register;preauth=tok-1_x\""));
    assert_int_equal(invite_page_render(NULL, &html), 0);
    assert_non_null(strstr(buf_cstr(&html), "not valid"));
    buf_cleanup(&html);
}

int main(void)
{
    modules_set(modules, sizeof(modules) / sizeof(modules[0]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_domain_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_scram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_switch_strips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_remove_cascades, setup, teardown),
        cmocka_unit_test(test_login_lockout),
        cmocka_unit_test(test_login_lockout_bounded),
        cmocka_unit_test(test_signup_skeleton),
        cmocka_unit_test_setup_teardown(test_signup_lookalikes_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signup_skeletons_filled_and_removed, setup, teardown),
        cmocka_unit_test(test_signup_rates),
        cmocka_unit_test(test_invite_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
