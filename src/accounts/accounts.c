/* accounts.c: domain and account settings, parsed and validated, and password storage policy. */
#include "accounts/accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "accounts/accounts_int.h"
#include "accounts/signup.h"
#include "core/err.h"
#include "core/stamp.h"
#include "core/utf8.h"
#include "jid/jid.h"
#include "store/store_fast.h"
#include "store/store_register.h"

/* Ceilings of the buffers used here; the store's values are bounded by what we write. */
#define NAME_BUF_MAX 1024
#define VALUE_BUF_MAX 4096
#define CREDS_BUF_MAX 16384

static const char *const known_methods[] = {
    "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN",
    "LOGIN",       "CRAM-MD5",      "DIGEST-MD5",    "EXTERNAL",
};
#define KNOWN_METHOD_COUNT ((int)(sizeof(known_methods) / sizeof(known_methods[0])))

/* Reports a store failure of `what` in `err` and returns `rc`. */
static int store_fail(struct store *st, int rc, const char *what, char *err, size_t errlen)
{
    if (rc == ERR_STORE || rc == ERR_NOSPACE) {
        err_set(err, errlen, "%s: %s", what, store_last_error(st));
    } else {
        err_set(err, errlen, "%s: %s", what, err_str(rc));
    }
    return rc;
}

/* Parses yes|no (any case) into *out. */
static bool parse_yes_no(const char *v, bool *out)
{
    if (strcasecmp(v, "yes") == 0) {
        *out = true;
        return true;
    }
    if (strcasecmp(v, "no") == 0) {
        *out = false;
        return true;
    }
    return false;
}

static const char *yes_no(bool v)
{
    return v ? "yes" : "no";
}

static const char *tri_str(int v)
{
    return v < 0 ? "default" : yes_no(v != 0);
}

/* Strict UTF-8 without control characters (for free text such as real names). */
static bool text_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return false;
        }
        size_t n = utf8_decode(p + i, len - i, NULL);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

/* ---- domain names ---- */

/* Nameprep's `name` into `out`; ERR_INVAL when it is not a valid domain name. */
static int prep_domain(const char *name, struct buf *out)
{
    if (jid_nameprep(strv_c(name), out) != 0 || out->len > ACCOUNTS_NAME_MAX) {
        return ERR_INVAL;
    }
    return 0;
}

/* Prepares `name` and resolves an alias: the canonical domain into `out`. */
static int resolve_domain(struct store *st, const char *name, struct buf *out)
{
    struct buf prepped;
    buf_init(&prepped, NAME_BUF_MAX);
    int rc = prep_domain(name, &prepped);
    if (rc == 0) {
        rc = store_domain_resolve(st, buf_cstr(&prepped), out);
    }
    buf_cleanup(&prepped);
    return rc;
}

static int resolve_domain_err(struct store *st, const char *name, struct buf *out, char *err,
                              size_t errlen)
{
    int rc = resolve_domain(st, name, out);
    if (rc == ERR_INVAL) {
        err_set(err, errlen, "invalid domain name \"%s\"", name);
    } else if (rc == ERR_NOTFOUND) {
        err_set(err, errlen, "no domain %s", name);
    } else if (rc != 0) {
        store_fail(st, rc, name, err, errlen);
    }
    return rc;
}

/* ---- login methods ---- */

static int method_index(struct strv m)
{
    for (int i = 0; i < KNOWN_METHOD_COUNT; i++) {
        if (strv_case_eq(m, strv_c(known_methods[i]))) {
            return i;
        }
    }
    return -1;
}

/* Splits off the next comma-separated item of *rest (trimmed). */
static struct strv next_item(struct strv *rest)
{
    const char *comma = rest->len ? memchr(rest->p, ',', rest->len) : NULL;
    struct strv item = *rest;
    if (comma != NULL) {
        item.len = (size_t)(comma - rest->p);
        rest->p = comma + 1;
        rest->len -= item.len + 1;
    } else {
        rest->p += rest->len;
        rest->len = 0;
    }
    return strv_trim(item);
}

/* Parses a login_methods list into `d` (deduplicated, canonical names). */
static int parse_methods(const char *value, struct domain_cfg *d, char *err, size_t errlen)
{
    struct strv rest = strv_c(value);
    d->n_login_methods = 0;
    while (rest.len > 0) {
        struct strv item = next_item(&rest);
        if (item.len == 0) {
            continue;
        }
        int idx = method_index(item);
        if (idx < 0) {
            err_set(err, errlen, "unknown login method \"%.*s\"", (int)item.len, item.p);
            return ERR_INVAL;
        }
        if (accounts_login_method_enabled(d, known_methods[idx])) {
            continue;
        }
        snprintf(d->login_methods[d->n_login_methods++], sizeof(d->login_methods[0]), "%s",
                 known_methods[idx]);
    }
    if (d->n_login_methods == 0) {
        err_set(err, errlen, "login_methods needs at least one method");
        return ERR_INVAL;
    }
    return 0;
}

static int join_methods(const struct domain_cfg *d, struct buf *out)
{
    buf_reset(out);
    for (int i = 0; i < d->n_login_methods; i++) {
        int rc = buf_printf(out, "%s%s", i ? "," : "", d->login_methods[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

bool accounts_login_method_enabled(const struct domain_cfg *d, const char *mech)
{
    struct strv m = strv_c(mech);
    if (m.len > 5 && strncasecmp(m.p + m.len - 5, "-PLUS", 5) == 0) {
        m.len -= 5;
    }
    for (int i = 0; i < d->n_login_methods; i++) {
        if (strv_case_eq(m, strv_c(d->login_methods[i]))) {
            return true;
        }
    }
    return false;
}

/* ---- domain settings ---- */

static void domain_defaults(struct domain_cfg *d, const char *name)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", name);
    for (int i = 0; i < KNOWN_METHOD_COUNT; i++) {
        snprintf(d->login_methods[i], sizeof(d->login_methods[0]), "%s", known_methods[i]);
    }
    d->n_login_methods = KNOWN_METHOD_COUNT;
    d->password_storage = PW_STORAGE_SCRAM;
    d->xmpp_enabled = true;
    snprintf(d->chat_service, sizeof(d->chat_service), "conference.%.*s",
             (int)(sizeof(d->chat_service) - sizeof("conference.")), name);
    d->allow_cancel = true;
}

/* Applies one stored domain setting; a value that does not parse (the store was edited by hand)
 * leaves the default, since the setter never writes one. */
static int apply_domain_row(void *ud, const char *key, const char *value)
{
    struct domain_cfg *d = ud;
    if (strcmp(key, "login_methods") == 0) {
        struct domain_cfg tmp = *d;
        if (parse_methods(value, &tmp, NULL, 0) == 0) {
            *d = tmp;
        }
    } else if (strcmp(key, "password_storage") == 0) {
        if (strcmp(value, "clear") == 0) {
            d->password_storage = PW_STORAGE_CLEAR;
        } else if (strcmp(value, "scram") == 0) {
            d->password_storage = PW_STORAGE_SCRAM;
        }
    } else if (strcmp(key, "auto_signup") == 0) {
        parse_yes_no(value, &d->auto_signup);
    } else if (strcmp(key, "allow_modify_password") == 0) {
        parse_yes_no(value, &d->allow_modify_password);
    } else if (strcmp(key, "xmpp") == 0) {
        parse_yes_no(value, &d->xmpp_enabled);
    } else if (strcmp(key, "chat_service") == 0) {
        snprintf(d->chat_service, sizeof(d->chat_service), "%s",
                 strcmp(value, "none") == 0 ? "" : value);
    } else if (strcmp(key, "allow_cancel") == 0) {
        parse_yes_no(value, &d->allow_cancel);
    } else if (strcmp(key, "signup_invite_only") == 0) {
        parse_yes_no(value, &d->signup_invite_only);
    }
    return 0;
}

static int load_domain(struct store *st, const char *canonical, struct domain_cfg *out)
{
    domain_defaults(out, canonical);
    return store_domain_settings_list(st, canonical, apply_domain_row, out);
}

int accounts_domain_get(struct store *st, const char *name, struct domain_cfg *out)
{
    struct buf canon;
    buf_init(&canon, NAME_BUF_MAX);
    int rc = resolve_domain(st, name, &canon);
    if (rc == 0) {
        rc = load_domain(st, buf_cstr(&canon), out);
    }
    buf_cleanup(&canon);
    return rc;
}

int accounts_domain_add(struct store *st, const char *name, char *err, size_t errlen)
{
    struct buf prepped;
    buf_init(&prepped, NAME_BUF_MAX);
    int rc = prep_domain(name, &prepped);
    if (rc != 0) {
        err_set(err, errlen, "invalid domain name \"%s\"", name);
        goto done;
    }
    rc = store_domain_add(st, buf_cstr(&prepped));
    accounts__changed_all();
    if (rc == ERR_EXISTS) {
        err_set(err, errlen, "%s already exists as a domain or an alias", buf_cstr(&prepped));
    } else if (rc != 0) {
        store_fail(st, rc, "adding the domain", err, errlen);
    }

done:
    buf_cleanup(&prepped);
    return rc;
}

int accounts_domain_remove(struct store *st, const char *name, char *err, size_t errlen)
{
    struct buf prepped;
    struct buf canon;
    buf_init(&prepped, NAME_BUF_MAX);
    buf_init(&canon, NAME_BUF_MAX);
    int rc = prep_domain(name, &prepped);
    if (rc != 0) {
        err_set(err, errlen, "invalid domain name \"%s\"", name);
        goto done;
    }
    rc = store_domain_remove(st, buf_cstr(&prepped));
    accounts__changed_all();
    if (rc == ERR_NOTFOUND) {
        /* Say so when the name is an alias, rather than removing the domain behind it. */
        if (store_domain_resolve(st, buf_cstr(&prepped), &canon) == 0) {
            err_set(err, errlen, "%s is an alias of %s, not a domain", buf_cstr(&prepped),
                    buf_cstr(&canon));
        } else {
            err_set(err, errlen, "no domain %s", buf_cstr(&prepped));
        }
    } else if (rc != 0) {
        store_fail(st, rc, "removing the domain", err, errlen);
    }

done:
    buf_cleanup(&prepped);
    buf_cleanup(&canon);
    return rc;
}

/* Collects names into a comma list. */
static int join_row(void *ud, const char *a, const char *b)
{
    (void)b;
    struct buf *out = ud;
    int rc = out->len ? buf_append_char(out, ',') : 0;
    return rc != 0 ? rc : buf_append_c(out, a);
}

struct strip_ctx {
    struct store *st;
    const char *domain;
    char *err;
    size_t errlen;
};

/* Rewrites one account's credentials without the clear password. Should an old record hold a
 * clear password but lack a SCRAM key, the keys are derived from it first, so that no account
 * is left without a way to log in. */
static int strip_account_row(void *ud, const char *name, const char *unused)
{
    (void)unused;
    struct strip_ctx *ctx = ud;
    struct auth_creds c;
    struct auth_creds fresh;
    struct buf text;
    buf_init(&text, CREDS_BUF_MAX);
    memset(&c, 0, sizeof(c));
    int rc = store_account_credentials(ctx->st, ctx->domain, name, &text);
    if (rc != 0) {
        store_fail(ctx->st, rc, name, ctx->err, ctx->errlen);
        goto done;
    }
    if (auth_creds_decode(buf_strv(&text), &c) != 0) {
        err_set(ctx->err, ctx->errlen, "account %s@%s has unreadable credentials", name,
                ctx->domain);
        rc = ERR_STORE;
        goto done;
    }
    if (c.clear == NULL) {
        goto done;
    }
    bool complete = true;
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        complete = complete && c.scram[h].set;
    }
    if (!complete) {
        rc = auth_creds_from_password(c.clear, false, 0, &fresh);
        if (rc != 0) {
            err_set(ctx->err, ctx->errlen, "account %s@%s: cannot derive SCRAM keys", name,
                    ctx->domain);
            goto done;
        }
        auth_creds_cleanup(&c);
        c = fresh;
    }
    auth_creds_strip_clear(&c);
    buf_reset(&text);
    rc = auth_creds_encode(&c, &text);
    if (rc == 0) {
        rc = store_account_set_credentials(ctx->st, ctx->domain, name, buf_cstr(&text));
    }
    if (rc != 0) {
        store_fail(ctx->st, rc, name, ctx->err, ctx->errlen);
    }

done:
    auth_creds_cleanup(&c);
    buf_cleanup(&text);
    return rc;
}

/* Stores password_storage and, for scram, strips every clear password, all in one transaction. */
static int set_password_storage(struct store *st, const char *domain, const char *value, char *err,
                                size_t errlen)
{
    struct strip_ctx ctx = { st, domain, err, errlen };
    int rc = store_begin(st);
    if (rc != 0) {
        return store_fail(st, rc, "password_storage", err, errlen);
    }
    rc = store_domain_setting_set(st, domain, "password_storage", value);
    if (rc != 0) {
        store_fail(st, rc, "password_storage", err, errlen);
        goto fail;
    }
    struct domain_cfg d;
    rc = load_domain(st, domain, &d);
    if (rc != 0) {
        store_fail(st, rc, "password_storage", err, errlen);
        goto fail;
    }
    if (d.password_storage == PW_STORAGE_SCRAM) {
        rc = store_account_list(st, domain, strip_account_row, &ctx);
        if (rc != 0) {
            goto fail;
        }
    }
    rc = store_commit(st);
    if (rc != 0) {
        store_fail(st, rc, "password_storage", err, errlen);
        goto fail;
    }
    return 0;

fail:
    store_rollback(st);
    return rc;
}

static int remove_alias_row(void *ud, const char *alias, const char *unused)
{
    (void)unused;
    return store_alias_remove(ud, alias);
}

/* Replaces all aliases of `domain` with the comma list `value`, in one transaction. */
static int set_aliases(struct store *st, const char *domain, const char *value, char *err,
                       size_t errlen)
{
    struct buf alias;
    buf_init(&alias, NAME_BUF_MAX);
    struct strv rest = strv_c(value);
    int rc = store_begin(st);
    if (rc != 0) {
        store_fail(st, rc, "aliases", err, errlen);
        goto done;
    }
    rc = store_alias_list(st, domain, remove_alias_row, st);
    if (rc != 0) {
        store_fail(st, rc, "aliases", err, errlen);
        goto fail;
    }
    while (rest.len > 0) {
        struct strv item = next_item(&rest);
        if (item.len == 0) {
            continue;
        }
        char *name = strv_dup(item);
        rc = prep_domain(name, &alias);
        if (rc != 0) {
            err_set(err, errlen, "invalid alias \"%s\"", name);
        } else {
            rc = store_alias_add(st, domain, buf_cstr(&alias));
            if (rc == ERR_EXISTS) {
                err_set(err, errlen, "%s is already a domain or an alias", buf_cstr(&alias));
            } else if (rc != 0) {
                store_fail(st, rc, "aliases", err, errlen);
            }
        }
        free(name);
        if (rc != 0) {
            goto fail;
        }
    }
    rc = store_commit(st);
    if (rc != 0) {
        store_fail(st, rc, "aliases", err, errlen);
        goto fail;
    }
    goto done;

fail:
    store_rollback(st);
done:
    buf_cleanup(&alias);
    return rc;
}

/* A federation list (domain keys s2s_blocked / s2s_allowed, issue 20): domain names separated
 * by commas or spaces, each nameprep'd, joined by ", " into `out` ("" = none). */
static int s2s_list_value(const char *key, const char *value, struct buf *out, char *err,
                          size_t errlen)
{
    struct buf one;
    buf_init(&one, ACCOUNTS_NAME_MAX);
    int rc = 0;
    for (const char *p = value; *p && rc == 0;) {
        size_t n = strcspn(p, ", ");
        if (n > 0 &&
            (jid_nameprep((struct strv){ p, n }, &one) != 0 || strchr(buf_cstr(&one), '@'))) {
            err_set(err, errlen, "%s: \"%.*s\" is not a domain name", key, (int)n, p);
            rc = ERR_INVAL;
        } else if (n > 0) {
            rc = buf_printf(out, "%s%s", out->len ? ", " : "", buf_cstr(&one));
            if (rc != 0) {
                err_set(err, errlen, "%s: the list is too long", key);
            }
        }
        p += n;
        p += strspn(p, ", ");
    }
    buf_cleanup(&one);
    return rc;
}

static bool is_s2s_list_key(const char *key)
{
    return strcmp(key, "s2s_blocked") == 0 || strcmp(key, "s2s_allowed") == 0;
}

/* Sets or (value "" or "default") removes a federation list of the domain. */
static int set_s2s_list(struct store *st, const char *domain, const char *key, const char *value,
                        char *err, size_t errlen)
{
    struct buf list;
    buf_init(&list, 1 << 16);
    int rc = strcasecmp(value, "default") == 0 ? 0 : s2s_list_value(key, value, &list, err, errlen);
    if (rc == 0) {
        rc = store_domain_setting_set(st, domain, key, list.len ? buf_cstr(&list) : NULL);
        if (rc != 0) {
            store_fail(st, rc, key, err, errlen);
        }
    }
    buf_cleanup(&list);
    return rc;
}

int accounts_domain_s2s_lists(struct store *st, const char *domain, struct buf *blocked,
                              struct buf *allowed)
{
    buf_reset(blocked);
    buf_reset(allowed);
    int rc = store_domain_setting_get(st, domain, "s2s_blocked", blocked);
    if (rc == 0 || rc == ERR_NOTFOUND) {
        rc = store_domain_setting_get(st, domain, "s2s_allowed", allowed);
    }
    if (rc == ERR_NOTFOUND) {
        rc = 0;
    }
    return rc;
}

/* Validates a simple domain setting; on success `norm` is the value to store. */
static int domain_value(const char *key, const char *value, const char **norm, char *methods,
                        size_t methods_len, char *err, size_t errlen)
{
    bool b;
    if (strcmp(key, "login_methods") == 0) {
        struct domain_cfg d;
        struct buf out;
        domain_defaults(&d, "");
        int rc = parse_methods(value, &d, err, errlen);
        if (rc != 0) {
            return rc;
        }
        buf_init(&out, VALUE_BUF_MAX);
        join_methods(&d, &out);
        snprintf(methods, methods_len, "%s", buf_cstr(&out));
        buf_cleanup(&out);
        *norm = methods;
        return 0;
    }
    if (strcmp(key, "archive_keep_days") == 0) {
        /* XEP-0313 retention (src/archive/writer.c): days, 0 = forever. */
        char *end = NULL;
        long days = strtol(value, &end, 10);
        if (end == value || *end != '\0' || days < 0 || days > 36500) {
            err_set(err, errlen, "archive_keep_days must be a number of days, 0..36500");
            return ERR_INVAL;
        }
        snprintf(methods, methods_len, "%ld", days);
        *norm = methods;
        return 0;
    }
    if (strcmp(key, "password_storage") == 0) {
        if (strcasecmp(value, "scram") == 0 || strcasecmp(value, "clear") == 0) {
            *norm = strcasecmp(value, "scram") == 0 ? "scram" : "clear";
            return 0;
        }
        err_set(err, errlen, "password_storage must be scram or clear");
        return ERR_INVAL;
    }
    if (strcmp(key, "chat_service") == 0) {
        struct buf prepped;
        buf_init(&prepped, ACCOUNTS_NAME_MAX);
        int rc = 0;
        if (strcasecmp(value, "none") == 0) {
            *norm = "none";
        } else if (jid_nameprep(strv_c(value), &prepped) != 0) {
            err_set(err, errlen, "chat_service must be a domain name or none");
            rc = ERR_INVAL;
        } else {
            snprintf(methods, methods_len, "%s", buf_cstr(&prepped));
            *norm = methods;
        }
        buf_cleanup(&prepped);
        return rc;
    }
    if (strcmp(key, "auto_signup") == 0 || strcmp(key, "allow_modify_password") == 0 ||
        strcmp(key, "xmpp") == 0 || strcmp(key, "allow_cancel") == 0 ||
        strcmp(key, "signup_invite_only") == 0) {
        if (parse_yes_no(value, &b)) {
            *norm = yes_no(b);
            return 0;
        }
        err_set(err, errlen, "%s must be yes or no", key);
        return ERR_INVAL;
    }
    err_set(err, errlen, "unknown domain setting \"%s\"", key);
    return ERR_INVAL;
}

static bool domain_key_known(const char *key)
{
    static const char *const keys[] = {
        "login_methods", "password_storage", "auto_signup",        "allow_modify_password", "xmpp",
        "chat_service",  "allow_cancel",     "signup_invite_only", "archive_keep_days"
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(key, keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

int accounts_domain_set(struct store *st, const char *name, const char *key, const char *value,
                        char *err, size_t errlen)
{
    if (key == NULL || value == NULL) {
        err_set(err, errlen, "a key and a value are required");
        return ERR_INVAL;
    }
    struct buf canon;
    char methods[ACCOUNTS_MAX_METHODS * 24];
    const char *norm = NULL;
    buf_init(&canon, NAME_BUF_MAX);
    int rc = resolve_domain_err(st, name, &canon, err, errlen);
    if (rc != 0) {
        goto done;
    }
    const char *domain = buf_cstr(&canon);
    if (strcmp(key, "aliases") == 0) {
        rc = set_aliases(st, domain, value, err, errlen);
        goto done;
    }
    if (is_s2s_list_key(key)) {
        rc = set_s2s_list(st, domain, key, value, err, errlen);
        goto done;
    }
    if (strcasecmp(value, "default") == 0) {
        if (!domain_key_known(key)) {
            err_set(err, errlen, "unknown domain setting \"%s\"", key);
            rc = ERR_INVAL;
            goto done;
        }
        norm = NULL;
    } else {
        rc = domain_value(key, value, &norm, methods, sizeof(methods), err, errlen);
        if (rc != 0) {
            goto done;
        }
    }
    if (strcmp(key, "password_storage") == 0) {
        rc = set_password_storage(st, domain, norm, err, errlen);
        goto done;
    }
    rc = store_domain_setting_set(st, domain, key, norm);
    if (rc != 0) {
        store_fail(st, rc, key, err, errlen);
    }

done:
    /* Aliases and password_storage (which rewrites every account's credentials) included. */
    accounts__changed_all();
    buf_cleanup(&canon);
    return rc;
}

/* The domain's archive retention as set, or "default" (the server's archive.keep_days). */
static const char *archive_days(struct store *st, const char *domain, char *out, size_t size)
{
    struct buf v;
    buf_init(&v, 32);
    bool set = store_domain_setting_get(st, domain, "archive_keep_days", &v) == 0;
    snprintf(out, size, "%s", set ? buf_cstr(&v) : "default");
    buf_cleanup(&v);
    return out;
}

int accounts_domain_show(struct store *st, const char *name, store_row_fn *fn, void *ud)
{
    char keep[32];
    struct domain_cfg d;
    struct buf methods;
    struct buf aliases;
    buf_init(&methods, VALUE_BUF_MAX);
    buf_init(&aliases, 1 << 20);
    struct buf blocked, allowed;
    buf_init(&blocked, 1 << 16);
    buf_init(&allowed, 1 << 16);
    int rc = accounts_domain_get(st, name, &d);
    if (rc == 0) {
        rc = join_methods(&d, &methods);
    }
    if (rc == 0) {
        rc = store_alias_list(st, d.name, join_row, &aliases);
    }
    if (rc == 0) {
        rc = accounts_domain_s2s_lists(st, d.name, &blocked, &allowed);
    }
    if (rc != 0) {
        goto done;
    }
    const char *rows[][2] = {
        { "login_methods", buf_cstr(&methods) },
        { "password_storage", d.password_storage == PW_STORAGE_CLEAR ? "clear" : "scram" },
        { "auto_signup", yes_no(d.auto_signup) },
        { "allow_modify_password", yes_no(d.allow_modify_password) },
        { "xmpp", yes_no(d.xmpp_enabled) },
        { "chat_service", d.chat_service[0] ? d.chat_service : "none" },
        { "allow_cancel", yes_no(d.allow_cancel) },
        { "signup_invite_only", yes_no(d.signup_invite_only) },
        { "aliases", buf_cstr(&aliases) },
        { "archive_keep_days", archive_days(st, d.name, keep, sizeof(keep)) },
        { "s2s_blocked", buf_cstr(&blocked) },
        { "s2s_allowed", buf_cstr(&allowed) },
    };
    for (size_t i = 0; rc == 0 && i < sizeof(rows) / sizeof(rows[0]); i++) {
        rc = fn(ud, rows[i][0], rows[i][1]);
    }

done:
    buf_cleanup(&methods);
    buf_cleanup(&aliases);
    buf_cleanup(&blocked);
    buf_cleanup(&allowed);
    return rc;
}

/* ---- accounts ---- */

/* An account named by a JID: the canonical domain and the nodeprep'd name. */
struct account_ref {
    struct buf domain;
    struct jid jid;
};

static void ref_cleanup(struct account_ref *r)
{
    buf_cleanup(&r->domain);
    jid_cleanup(&r->jid);
}

/* Parses `jid` into `r` (always to be cleaned up). ERR_INVAL or ERR_NOTFOUND (domain), with a
 * reason in `err`. */
static int ref_parse(struct store *st, const char *jid, struct account_ref *r, char *err,
                     size_t errlen)
{
    buf_init(&r->domain, NAME_BUF_MAX);
    int rc = jid_parse(&r->jid, strv_c(jid));
    if (rc != 0 || r->jid.local == NULL || r->jid.resource != NULL) {
        err_set(err, errlen, "\"%s\" is not a valid account address (local@domain)", jid);
        return ERR_INVAL;
    }
    rc = store_domain_resolve(st, r->jid.domain, &r->domain);
    if (rc == ERR_NOTFOUND) {
        err_set(err, errlen, "no domain %s", r->jid.domain);
    } else if (rc != 0) {
        store_fail(st, rc, jid, err, errlen);
    }
    return rc;
}

/* Builds credentials for `password` under the domain's policy, in their store form. */
static int make_creds(struct store *st, const struct account_ref *r, const char *password,
                      struct buf *text, char *err, size_t errlen)
{
    struct domain_cfg d;
    struct auth_creds c;
    int rc = load_domain(st, buf_cstr(&r->domain), &d);
    if (rc != 0) {
        return store_fail(st, rc, "domain settings", err, errlen);
    }
    if (password == NULL || password[0] == '\0') {
        err_set(err, errlen, "the password must not be empty");
        return ERR_INVAL;
    }
    rc = auth_creds_from_password(password, d.password_storage == PW_STORAGE_CLEAR, 0, &c);
    if (rc == ERR_INVAL) {
        err_set(err, errlen, "the password is longer than %d bytes", AUTH_PASSWORD_MAX);
        return rc;
    }
    if (rc != 0) {
        err_set(err, errlen, "cannot compute the credentials: %s", err_str(rc));
        return rc;
    }
    buf_reset(text);
    rc = auth_creds_encode(&c, text);
    auth_creds_cleanup(&c);
    if (rc != 0) {
        err_set(err, errlen, "cannot encode the credentials: %s", err_str(rc));
    }
    return rc;
}

int accounts_account_add(struct store *st, const char *jid, const char *password, char *err,
                         size_t errlen)
{
    struct account_ref r;
    struct buf text;
    buf_init(&text, CREDS_BUF_MAX);
    int rc = ref_parse(st, jid, &r, err, errlen);
    if (rc == 0) {
        rc = make_creds(st, &r, password, &text, err, errlen);
    }
    if (rc == 0) {
        rc = store_group_begin(st);
        if (rc == 0) {
            rc = store_account_add(st, buf_cstr(&r.domain), r.jid.local, buf_cstr(&text));
            if (rc == 0) {
                rc = signup_skeleton_note(st, buf_cstr(&r.domain), r.jid.local);
            }
            rc = store_group_end(st, rc);
        }
        accounts__changed(buf_cstr(&r.domain), r.jid.local);
        if (rc == ERR_EXISTS) {
            err_set(err, errlen, "account %s@%s already exists", r.jid.local, buf_cstr(&r.domain));
        } else if (rc != 0) {
            store_fail(st, rc, "adding the account", err, errlen);
        }
    }
    buf_cleanup(&text);
    ref_cleanup(&r);
    return rc;
}

int accounts_account_remove(struct store *st, const char *jid, char *err, size_t errlen)
{
    struct account_ref r;
    int rc = ref_parse(st, jid, &r, err, errlen);
    if (rc == 0) {
        rc = store_account_remove(st, buf_cstr(&r.domain), r.jid.local);
        if (rc == 0) {
            /* Its invitations (XEP-0401) go with it; FAST rows go by foreign key. */
            rc = store_invite_remove_inviter(st, buf_cstr(&r.domain), r.jid.local);
        }
        accounts__changed(buf_cstr(&r.domain), r.jid.local);
        if (rc == ERR_NOTFOUND) {
            err_set(err, errlen, "no account %s@%s", r.jid.local, buf_cstr(&r.domain));
        } else if (rc != 0) {
            store_fail(st, rc, "removing the account", err, errlen);
        }
    }
    ref_cleanup(&r);
    return rc;
}

int accounts_account_passwd(struct store *st, const char *jid, const char *password, char *err,
                            size_t errlen)
{
    struct account_ref r;
    struct buf text;
    buf_init(&text, CREDS_BUF_MAX);
    int rc = ref_parse(st, jid, &r, err, errlen);
    if (rc == 0) {
        rc = make_creds(st, &r, password, &text, err, errlen);
    }
    if (rc == 0) {
        rc = store_account_set_credentials(st, buf_cstr(&r.domain), r.jid.local, buf_cstr(&text));
        if (rc == 0) {
            /* XEP-0484: a new password ends every FAST token of the account. */
            rc = store_fast_revoke(st, buf_cstr(&r.domain), r.jid.local, NULL, NULL);
        }
        accounts__changed(buf_cstr(&r.domain), r.jid.local);
        if (rc == ERR_NOTFOUND) {
            err_set(err, errlen, "no account %s@%s", r.jid.local, buf_cstr(&r.domain));
        } else if (rc != 0) {
            store_fail(st, rc, "setting the password", err, errlen);
        }
    }
    buf_cleanup(&text);
    ref_cleanup(&r);
    return rc;
}

static int parse_tri(const char *v, int *out)
{
    bool b;
    if (strcasecmp(v, "default") == 0) {
        *out = -1;
        return 0;
    }
    if (parse_yes_no(v, &b)) {
        *out = b ? 1 : 0;
        return 0;
    }
    return ERR_INVAL;
}

static int apply_account_row(void *ud, const char *key, const char *value)
{
    struct account_cfg *a = ud;
    if (strcmp(key, "admin") == 0) {
        parse_yes_no(value, &a->admin);
    } else if (strcmp(key, "domain_admin") == 0) {
        parse_yes_no(value, &a->domain_admin);
    } else if (strcmp(key, "secure_method_required") == 0) {
        parse_yes_no(value, &a->secure_method_required);
    } else if (strcmp(key, "disabled") == 0) {
        parse_yes_no(value, &a->disabled);
    } else if (strcmp(key, "auto_signup") == 0) {
        parse_tri(value, &a->auto_signup);
    } else if (strcmp(key, "allow_modify_password") == 0) {
        parse_tri(value, &a->allow_modify_password);
    } else if (strcmp(key, "real_name") == 0) {
        snprintf(a->real_name, sizeof(a->real_name), "%s", value);
    }
    return 0;
}

static int load_account(struct store *st, const char *domain, const char *name,
                        struct account_cfg *out)
{
    memset(out, 0, sizeof(*out));
    out->auto_signup = -1;
    out->allow_modify_password = -1;
    return store_account_settings_list(st, domain, name, apply_account_row, out);
}

int accounts_account_get(struct store *st, const char *jid, struct account_cfg *out)
{
    struct account_ref r;
    int rc = ref_parse(st, jid, &r, NULL, 0);
    if (rc == ERR_INVAL) {
        rc = ERR_NOTFOUND;
    }
    if (rc == 0) {
        rc = load_account(st, buf_cstr(&r.domain), r.jid.local, out);
    }
    ref_cleanup(&r);
    return rc;
}

/* Validates an account setting; `norm` gets the value to store (NULL: unset). */
static int account_value(const char *key, const char *value, const char **norm, char *err,
                         size_t errlen)
{
    bool b;
    int t;
    if (strcmp(key, "admin") == 0 || strcmp(key, "domain_admin") == 0 ||
        strcmp(key, "secure_method_required") == 0 || strcmp(key, "disabled") == 0) {
        if (parse_yes_no(value, &b)) {
            *norm = yes_no(b);
            return 0;
        }
        err_set(err, errlen, "%s must be yes or no", key);
        return ERR_INVAL;
    }
    if (strcmp(key, "auto_signup") == 0 || strcmp(key, "allow_modify_password") == 0) {
        if (parse_tri(value, &t) == 0) {
            *norm = t < 0 ? NULL : yes_no(t != 0);
            return 0;
        }
        err_set(err, errlen, "%s must be yes, no or default", key);
        return ERR_INVAL;
    }
    if (strcmp(key, "real_name") == 0) {
        if (strlen(value) > ACCOUNTS_NAME_MAX || !text_valid(value)) {
            err_set(err, errlen, "real_name must be UTF-8 text of at most %d bytes",
                    ACCOUNTS_NAME_MAX);
            return ERR_INVAL;
        }
        *norm = value[0] != '\0' ? value : NULL;
        return 0;
    }
    err_set(err, errlen, "unknown account setting \"%s\"", key);
    return ERR_INVAL;
}

int accounts_account_set(struct store *st, const char *jid, const char *key, const char *value,
                         char *err, size_t errlen)
{
    if (key == NULL || value == NULL) {
        err_set(err, errlen, "a key and a value are required");
        return ERR_INVAL;
    }
    if (strcmp(key, "password") == 0) {
        return accounts_account_passwd(st, jid, value, err, errlen);
    }
    const char *norm = NULL;
    struct account_ref r;
    int rc = ref_parse(st, jid, &r, err, errlen);
    if (rc == 0) {
        rc = account_value(key, value, &norm, err, errlen);
    }
    if (rc == 0) {
        rc = store_account_setting_set(st, buf_cstr(&r.domain), r.jid.local, key, norm);
        accounts__changed(buf_cstr(&r.domain), r.jid.local);
        if (rc == ERR_NOTFOUND) {
            err_set(err, errlen, "no account %s@%s", r.jid.local, buf_cstr(&r.domain));
        } else if (rc != 0) {
            store_fail(st, rc, key, err, errlen);
        }
    }
    ref_cleanup(&r);
    return rc;
}

int accounts_account_show(struct store *st, const char *jid, store_row_fn *fn, void *ud)
{
    struct account_ref r;
    struct account_cfg a;
    long long created = 0;
    char when[STAMP_MAX] = "";
    int rc = ref_parse(st, jid, &r, NULL, 0);
    if (rc == ERR_INVAL) {
        rc = ERR_NOTFOUND;
    }
    if (rc == 0) {
        rc = load_account(st, buf_cstr(&r.domain), r.jid.local, &a);
    }
    if (rc == 0) {
        rc = store_account_created(st, buf_cstr(&r.domain), r.jid.local, &created);
    }
    if (rc == 0) {
        stamp_format((time_t)created, when, sizeof(when));
        const char *rows[][2] = {
            { "admin", yes_no(a.admin) },
            { "domain_admin", yes_no(a.domain_admin) },
            { "secure_method_required", yes_no(a.secure_method_required) },
            { "disabled", yes_no(a.disabled) },
            { "auto_signup", tri_str(a.auto_signup) },
            { "allow_modify_password", tri_str(a.allow_modify_password) },
            { "real_name", a.real_name },
            { "created", when },
        };
        for (size_t i = 0; rc == 0 && i < sizeof(rows) / sizeof(rows[0]); i++) {
            rc = fn(ud, rows[i][0], rows[i][1]);
        }
    }
    ref_cleanup(&r);
    return rc;
}

/* ---- SASL lookup ---- */

/* resolve_domain through this thread's cache (a login resolves the same domain every time). */
static int resolve_domain_cached(struct store *st, const char *name, struct buf *out)
{
    unsigned gen = accounts__gen_all();
    if (accounts__cache_domain_get(name, gen, out)) {
        return 0;
    }
    int rc = resolve_domain(st, name, out);
    if (rc == 0) {
        accounts__cache_domain_put(name, gen, buf_cstr(out));
    }
    return rc;
}

/* Splits the authcid into the nodeprep'd name and checks its domain part, if any, against
 * `canon`. ERR_NOTFOUND for anything invalid. */
static int lookup_name(struct store *st, const char *canon, const char *username, struct buf *name)
{
    struct strv user = strv_c(username);
    const char *at = user.len ? memrchr(user.p, '@', user.len) : NULL;
    int rc = 0;
    if (at != NULL) {
        struct buf dom;
        buf_init(&dom, NAME_BUF_MAX);
        char *given = xstrdup(at + 1);
        rc = resolve_domain_cached(st, given, &dom);
        if (rc == 0 && strcmp(buf_cstr(&dom), canon) != 0) {
            rc = ERR_NOTFOUND;
        }
        free(given);
        buf_cleanup(&dom);
        user.len = (size_t)(at - user.p);
    }
    if (rc == 0 && jid_nodeprep(user, name) != 0) {
        rc = ERR_NOTFOUND;
    }
    return rc == ERR_INVAL ? ERR_NOTFOUND : rc;
}

int accounts_lookup_creds(struct store *st, const char *domain, const char *username,
                          struct auth_creds *out)
{
    struct buf canon;
    struct buf name;
    struct buf text;
    struct account_cfg a;
    unsigned gen = 0;
    buf_init(&canon, NAME_BUF_MAX);
    buf_init(&name, NAME_BUF_MAX);
    buf_init(&text, CREDS_BUF_MAX);
    memset(out, 0, sizeof(*out));

    int rc = resolve_domain_cached(st, domain, &canon);
    if (rc == ERR_INVAL) {
        rc = ERR_NOTFOUND;
    }
    if (rc == 0) {
        rc = lookup_name(st, buf_cstr(&canon), username, &name);
    }
    if (rc == 0) {
        /* Taken before the store is read: a change made meanwhile makes the entry stale. */
        gen = accounts__gen(buf_cstr(&canon), buf_cstr(&name));
        if (accounts__cache_get(buf_cstr(&canon), buf_cstr(&name), gen, out)) {
            goto done;
        }
        rc = store_account_credentials(st, buf_cstr(&canon), buf_cstr(&name), &text);
    }
    if (rc == 0) {
        rc = load_account(st, buf_cstr(&canon), buf_cstr(&name), &a);
    }
    if (rc == 0 && auth_creds_decode(buf_strv(&text), out) != 0) {
        rc = ERR_STORE;
    }
    if (rc == 0) {
        out->secure_required = a.secure_method_required;
        out->disabled = a.disabled;
        accounts__cache_put(buf_cstr(&canon), buf_cstr(&name), gen, out);
    }

done:
    buf_cleanup(&canon);
    buf_cleanup(&name);
    buf_cleanup(&text);
    return rc;
}

int accounts_account_exists(struct store *st, const char *domain, const char *name)
{
    unsigned gen = accounts__gen(domain, name);
    if (accounts__cache_get(domain, name, gen, NULL)) {
        return 1;
    }
    int rc = store_account_exists(st, domain, name);
    if (rc == 1) {
        accounts__cache_put(domain, name, gen, NULL);
    }
    return rc;
}

unsigned accounts_generation(const char *domain, const char *name)
{
    return accounts__gen(domain, name);
}

int accounts_login_key(struct buf *out, const char *raw_user, const char *domain)
{
    const char *at = strchr(raw_user, '@');
    size_t n = at != NULL ? (size_t)(at - raw_user) : strlen(raw_user);
    int rc = jid_nodeprep((struct strv){ raw_user, n }, out);
    if (rc == 0) {
        rc = buf_printf(out, "@%s", domain);
    }
    return rc == 0 ? 0 : ERR_INVAL;
}
