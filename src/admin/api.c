/* api.c: the admin JSON API: one request object in, one response object out. */
#include "admin/admin.h"
#include "admin/certinstall.h"
#include "admin/features.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "accounts/signup.h"
#include "auth/creds.h"
#include "auth/lockout.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "jid/jid.h"
#include "pubsub/pubsub.h"
#include "store/store_pubsub.h"
#include "store/store.h"
#include "store/store_archive.h"
#include "store/store_fast.h"
#include "store/store_im.h"
#include "store/store_login.h"
#include "store/store_register.h"
#include "archive/archive.h"
#include "admin/access.h"

#define ADMIN_ERR_MAX 512
/* Longest prepared name handled here: a bare JID is local@domain. */
#define ADMIN_NAME_MAX (2 * JID_PART_MAX + 1)

struct admin {
    pthread_mutex_t lock;
    struct store *st;
    struct admin_hooks hooks;
    struct admin_sock *sock;
};

/* The state of one request while its op runs. */
struct op_ctx {
    struct admin *a;
    const json_t *args;
    json_t *result;          /* set by the op on success; NULL gives JSON null */
    char err[ADMIN_ERR_MAX]; /* the reason on failure; empty gives err_str(code) */
};

typedef int op_fn(struct op_ctx *c);

struct op {
    const char *name;
    op_fn *fn;
    const char *const *args; /* accepted argument names, NULL-terminated */
    enum admin_scope scope;  /* what it touches: who may run it (access.c) */
    const char *target;      /* the argument naming its domain or account, if any */
};

struct admin_sock **admin__sock_slot(struct admin *a)
{
    return &a->sock;
}

/* ---- small helpers ---- */

static int fail(struct op_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct op_ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    return code;
}

/* A required string argument. */
static int arg_str(struct op_ctx *c, const char *name, const char **out)
{
    json_t *v = json_object_get(c->args, name);
    if (v == NULL) {
        return fail(c, ERR_INVAL, "missing argument: %s", name);
    }
    if (!json_is_string(v)) {
        return fail(c, ERR_INVAL, "argument %s must be a string", name);
    }
    *out = json_string_value(v);
    return 0;
}

/* The text form of a setting value: a string, true/false ("yes"/"no") or an integer. */
static int value_text(struct op_ctx *c, const char *key, const json_t *v, struct buf *out)
{
    buf_reset(out);
    if (json_is_string(v)) {
        return buf_append_c(out, json_string_value(v));
    }
    if (json_is_boolean(v)) {
        return buf_append_c(out, json_is_true(v) ? "yes" : "no");
    }
    if (json_is_integer(v)) {
        return buf_printf(out, "%lld", (long long)json_integer_value(v));
    }
    return fail(c, ERR_INVAL, "value of %s must be a string, a boolean or an integer", key);
}

/* The text of a store failure: the database's message for ERR_STORE. */
static const char *store_reason(struct admin *a, int rc)
{
    const char *msg = rc == ERR_STORE || rc == ERR_NOSPACE ? store_last_error(a->st) : "";
    return msg[0] != '\0' ? msg : err_str(rc);
}

/* The canonical domain of `name` (a prepared domain or alias) into `out`; ERR_NOTFOUND. */
static int resolve_domain(struct op_ctx *c, const char *name, struct buf *out)
{
    int rc = store_domain_resolve(c->a->st, name, out);
    if (rc == ERR_NOTFOUND) {
        return fail(c, rc, "unknown domain: %s", name);
    }
    if (rc != 0) {
        return fail(c, rc, "%s: %s", name, store_reason(c->a, rc));
    }
    return 0;
}

/* Reads the domain argument `argname`, nameprep'd into `out`; with `resolve`, an alias gives its
 * domain and an unknown name ERR_NOTFOUND. */
static int domain_arg(struct op_ctx *c, const char *argname, bool resolve, struct buf *out)
{
    const char *name;
    struct buf prepped;
    int rc = arg_str(c, argname, &name);
    if (rc != 0) {
        return rc;
    }
    buf_init(&prepped, ADMIN_NAME_MAX);
    if (name[0] == '\0' || jid_nameprep(strv_c(name), &prepped) != 0) {
        rc = fail(c, ERR_INVAL, "invalid domain name: %s", name);
    } else if (resolve) {
        rc = resolve_domain(c, buf_cstr(&prepped), out);
    } else {
        buf_reset(out);
        rc = buf_append_strv(out, buf_strv(&prepped));
    }
    buf_cleanup(&prepped);
    return rc;
}

/* Reads the "jid" argument into its prepared bare form "local@domain", the domain resolved when
 * it is an alias (so hooks see the canonical address). */
static int account_arg(struct op_ctx *c, struct buf *out)
{
    const char *text;
    struct jid j = { 0 };
    struct buf dom;
    int rc = arg_str(c, "jid", &text);
    if (rc != 0) {
        return rc;
    }
    if (jid_parse(&j, strv_c(text)) != 0) {
        return fail(c, ERR_INVAL, "invalid JID: %s", text);
    }
    buf_init(&dom, ADMIN_NAME_MAX);
    buf_reset(out);
    if (j.local == NULL || j.resource != NULL) {
        rc = fail(c, ERR_INVAL, "not an account address (local@domain): %s", text);
    } else if (store_domain_resolve(c->a->st, j.domain, &dom) == 0) {
        rc = buf_printf(out, "%s@%s", j.local, buf_cstr(&dom));
    } else {
        /* Unknown domain: the accounts module says so with its own reason. */
        rc = buf_printf(out, "%s@%s", j.local, j.domain);
    }
    if (rc == ERR_LIMIT) {
        rc = fail(c, ERR_INVAL, "JID too long: %s", text);
    }
    buf_cleanup(&dom);
    jid_cleanup(&j);
    return rc;
}

/* Copies a module's reason into the context; keeps ours when it gave none. */
static int from_module(struct op_ctx *c, int rc, const char *reason, const char *fallback_fmt,
                       const char *subject)
{
    if (reason[0] != '\0') {
        snprintf(c->err, sizeof(c->err), "%s", reason);
    } else if (fallback_fmt != NULL && rc == ERR_NOTFOUND) {
        snprintf(c->err, sizeof(c->err), fallback_fmt, subject);
    } else {
        snprintf(c->err, sizeof(c->err), "%s: %s", subject, err_str(rc));
    }
    return rc;
}

static bool secret_key(const char *key)
{
    return strstr(key, "pass") != NULL && strcmp(key, "password_storage") != 0;
}

static void notify_domain(struct admin *a, const char *domain)
{
    if (a->hooks.domain_changed != NULL) {
        a->hooks.domain_changed(a->hooks.ud, domain);
    }
}

static void notify_account(struct admin *a, const char *jid)
{
    if (a->hooks.account_changed != NULL) {
        a->hooks.account_changed(a->hooks.ud, jid);
    }
}

/* store_row_fn collectors. */
static int collect_name(void *ud, const char *a, const char *b)
{
    (void)b;
    json_array_append_new(ud, json_string(a));
    return 0;
}

static int collect_kv(void *ud, const char *a, const char *b)
{
    json_object_set_new(ud, a, b != NULL ? json_string(b) : json_null());
    return 0;
}

struct account_collect {
    json_t *list;
    const char *domain;
    struct buf jid;
};

static int collect_account(void *ud, const char *a, const char *b)
{
    struct account_collect *ac = ud;
    (void)b;
    buf_reset(&ac->jid);
    if (buf_printf(&ac->jid, "%s@%s", a, ac->domain) == 0) {
        json_array_append_new(ac->list, json_string(buf_cstr(&ac->jid)));
    }
    return 0;
}

/* ---- domains ---- */

/* domain.add and domain.remove: one name, no alias resolution. */
typedef int domain_fn(struct store *st, const char *name, char *err, size_t errlen);

static int domain_change(struct op_ctx *c, domain_fn *fn, const char *what)
{
    struct buf dom;
    char reason[ADMIN_ERR_MAX] = "";
    buf_init(&dom, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "name", false, &dom);
    if (rc == 0) {
        rc = fn(c->a->st, buf_cstr(&dom), reason, sizeof(reason));
        if (rc != 0) {
            from_module(c, rc, reason, "unknown domain: %s", buf_cstr(&dom));
        } else {
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "domain %s: %s", what, buf_cstr(&dom));
            notify_domain(c->a, buf_cstr(&dom));
        }
    }
    buf_cleanup(&dom);
    return rc;
}

static int op_domain_add(struct op_ctx *c)
{
    return domain_change(c, accounts_domain_add, "added");
}

static int op_domain_remove(struct op_ctx *c)
{
    return domain_change(c, accounts_domain_remove, "removed");
}

static int op_domain_list(struct op_ctx *c)
{
    json_t *list = json_array();
    int rc = store_domain_list(c->a->st, collect_name, list);
    if (rc != 0) {
        json_decref(list);
        return fail(c, rc, "cannot list domains: %s", store_reason(c->a, rc));
    }
    c->result = list;
    return 0;
}

static int op_domain_show(struct op_ctx *c)
{
    struct buf dom;
    buf_init(&dom, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "name", true, &dom);
    if (rc == 0) {
        json_t *obj = json_object();
        rc = accounts_domain_show(c->a->st, buf_cstr(&dom), collect_kv, obj);
        if (rc != 0) {
            from_module(c, rc, "", "unknown domain: %s", buf_cstr(&dom));
            json_decref(obj);
        } else {
            c->result = obj;
        }
    }
    buf_cleanup(&dom);
    return rc;
}

/* Applies the "settings" argument with `set` in order, stopping at the first error. Returns the
 * number applied in *applied so the caller notifies even after a partial change. */
typedef int set_fn(struct store *st, const char *name, const char *key, const char *value,
                   char *err, size_t errlen);

static int apply_settings(struct op_ctx *c, const char *what, const char *name, set_fn *set,
                          int *applied)
{
    json_t *settings = json_object_get(c->args, "settings");
    const char *key;
    json_t *v;
    struct buf val;
    int rc = 0;
    *applied = 0;
    if (settings == NULL) {
        return fail(c, ERR_INVAL, "missing argument: settings");
    }
    if (!json_is_object(settings)) {
        return fail(c, ERR_INVAL, "argument settings must be an object");
    }
    if (json_object_size(settings) == 0) {
        return fail(c, ERR_INVAL, "no settings given");
    }
    buf_init(&val, ADMIN_LINE_MAX);
    json_object_foreach(settings, key, v)
    {
        char reason[ADMIN_ERR_MAX] = "";
        rc = value_text(c, key, v, &val);
        if (rc != 0) {
            break;
        }
        rc = set(c->a->st, name, key, buf_cstr(&val), reason, sizeof(reason));
        if (rc != 0) {
            if (reason[0] != '\0') {
                fail(c, rc, "%s: %s", key, reason);
            } else {
                fail(c, rc, "%s: %s", key, err_str(rc));
            }
            break;
        }
        (*applied)++;
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "%s %s set: %s=%s", what, name, key,
                secret_key(key) ? "***" : buf_cstr(&val));
    }
    buf_cleanup(&val);
    return rc;
}

static int op_domain_set(struct op_ctx *c)
{
    struct buf dom;
    int applied = 0;
    buf_init(&dom, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "name", true, &dom);
    if (rc == 0) {
        rc = apply_settings(c, "domain", buf_cstr(&dom), accounts_domain_set, &applied);
    }
    if (applied > 0) {
        notify_domain(c->a, buf_cstr(&dom));
    }
    buf_cleanup(&dom);
    return rc;
}

/* ---- accounts ---- */

/* Finishes a change of one account: the reason on failure, else a log record and the hook. */
static int account_done(struct op_ctx *c, int rc, const char *reason, const char *jid,
                        const char *what)
{
    if (rc != 0) {
        return from_module(c, rc, reason, "unknown account: %s", jid);
    }
    log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "account %s: %s", what, jid);
    notify_account(c->a, jid);
    return 0;
}

static int op_account_add(struct op_ctx *c)
{
    const char *password;
    char reason[ADMIN_ERR_MAX] = "";
    struct buf jid;
    int rc = arg_str(c, "password", &password);
    if (rc != 0) {
        return rc;
    }
    buf_init(&jid, ADMIN_NAME_MAX);
    rc = account_arg(c, &jid);
    if (rc == 0) {
        rc = accounts_account_add(c->a->st, buf_cstr(&jid), password, reason, sizeof(reason));
        rc = account_done(c, rc, reason, buf_cstr(&jid), "added");
    }
    buf_cleanup(&jid);
    return rc;
}

static int op_account_remove(struct op_ctx *c)
{
    char reason[ADMIN_ERR_MAX] = "";
    struct buf jid;
    buf_init(&jid, ADMIN_NAME_MAX);
    int rc = account_arg(c, &jid);
    if (rc == 0) {
        rc = accounts_account_remove(c->a->st, buf_cstr(&jid), reason, sizeof(reason));
        rc = account_done(c, rc, reason, buf_cstr(&jid), "removed");
    }
    buf_cleanup(&jid);
    return rc;
}

static int op_account_passwd(struct op_ctx *c)
{
    const char *password;
    char reason[ADMIN_ERR_MAX] = "";
    struct buf jid;
    int rc = arg_str(c, "password", &password);
    if (rc != 0) {
        return rc;
    }
    buf_init(&jid, ADMIN_NAME_MAX);
    rc = account_arg(c, &jid);
    if (rc == 0) {
        rc = accounts_account_passwd(c->a->st, buf_cstr(&jid), password, reason, sizeof(reason));
        rc = account_done(c, rc, reason, buf_cstr(&jid), "password changed");
    }
    buf_cleanup(&jid);
    return rc;
}

static int op_account_list(struct op_ctx *c)
{
    struct account_collect ac;
    struct buf dom;
    buf_init(&dom, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "domain", true, &dom);
    if (rc != 0) {
        buf_cleanup(&dom);
        return rc;
    }
    ac.list = json_array();
    ac.domain = buf_cstr(&dom);
    buf_init(&ac.jid, ADMIN_NAME_MAX);
    rc = store_account_list(c->a->st, buf_cstr(&dom), collect_account, &ac);
    if (rc != 0) {
        fail(c, rc, "cannot list accounts of %s: %s", buf_cstr(&dom), store_reason(c->a, rc));
        json_decref(ac.list);
    } else {
        c->result = ac.list;
    }
    buf_cleanup(&ac.jid);
    buf_cleanup(&dom);
    return rc;
}

/* The account's activity (issue 20), what was recorded of it: "last_login" (seconds),
 * "last_login_address" and "last_seen" (its last unavailable presence). */
static void show_activity(struct store *st, const char *jid, json_t *obj)
{
    const char *at = strrchr(jid, '@');
    struct buf local, from;
    long long when = 0;
    buf_init(&local, ADMIN_NAME_MAX);
    buf_init(&from, 128);
    if (at != NULL && buf_append(&local, jid, (size_t)(at - jid)) == 0 &&
        store_login_get(st, at + 1, buf_cstr(&local), &when, &from) == 0) {
        json_object_set_new(obj, "last_login", json_integer((json_int_t)when));
        json_object_set_new(obj, "last_login_address", json_string(buf_cstr(&from)));
    }
    long long seen = 0;
    if (at != NULL && store_im_last_get(st, at + 1, buf_cstr(&local), &seen, NULL) == 0) {
        json_object_set_new(obj, "last_seen", json_integer((json_int_t)seen));
    }
    buf_cleanup(&local);
    buf_cleanup(&from);
}

static int op_account_show(struct op_ctx *c)
{
    struct buf jid;
    json_t *obj;
    buf_init(&jid, ADMIN_NAME_MAX);
    int rc = account_arg(c, &jid);
    if (rc != 0) {
        goto fail;
    }
    obj = json_object();
    rc = accounts_account_show(c->a->st, buf_cstr(&jid), collect_kv, obj);
    if (rc != 0) {
        from_module(c, rc, "", "unknown account: %s", buf_cstr(&jid));
        json_decref(obj);
        goto fail;
    }
    show_activity(c->a->st, buf_cstr(&jid), obj);
    c->result = obj;
fail:
    buf_cleanup(&jid);
    return rc;
}

static int op_account_set(struct op_ctx *c)
{
    struct buf jid;
    int applied = 0;
    buf_init(&jid, ADMIN_NAME_MAX);
    int rc = account_arg(c, &jid);
    if (rc == 0) {
        rc = apply_settings(c, "account", buf_cstr(&jid), accounts_account_set, &applied);
    }
    if (applied > 0) {
        notify_account(c->a, buf_cstr(&jid));
    }
    buf_cleanup(&jid);
    return rc;
}

/* ---- server settings and connections ---- */

static int op_settings_get(struct op_ctx *c)
{
    json_t *key = json_object_get(c->args, "key");
    json_t *all;
    if (key != NULL && !json_is_string(key)) {
        return fail(c, ERR_INVAL, "argument key must be a string");
    }
    if (c->a->hooks.settings_get == NULL) {
        return fail(c, ERR_INTERNAL, "settings are not available");
    }
    all = c->a->hooks.settings_get(c->a->hooks.ud);
    if (!json_is_object(all)) {
        json_decref(all);
        return fail(c, ERR_INTERNAL, "settings are not available");
    }
    if (key == NULL) {
        c->result = all;
        return 0;
    }
    json_t *v = json_object_get(all, json_string_value(key));
    if (v == NULL) {
        json_decref(all);
        return fail(c, ERR_NOTFOUND, "unknown setting: %s", json_string_value(key));
    }
    c->result = json_incref(v);
    json_decref(all);
    return 0;
}

static int op_settings_set(struct op_ctx *c)
{
    const char *key;
    json_t *value;
    struct buf val;
    char reason[ADMIN_ERR_MAX] = "";
    int rc = arg_str(c, "key", &key);
    if (rc != 0) {
        return rc;
    }
    value = json_object_get(c->args, "value");
    if (value == NULL) {
        return fail(c, ERR_INVAL, "missing argument: value");
    }
    if (c->a->hooks.settings_set == NULL) {
        return fail(c, ERR_INTERNAL, "settings cannot be changed here");
    }
    buf_init(&val, ADMIN_LINE_MAX);
    rc = value_text(c, key, value, &val);
    if (rc == 0) {
        rc = c->a->hooks.settings_set(c->a->hooks.ud, key, buf_cstr(&val), reason, sizeof(reason));
        if (rc != 0) {
            from_module(c, rc, reason, "unknown setting: %s", key);
        } else {
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "setting changed: %s=%s", key,
                    secret_key(key) ? "***" : buf_cstr(&val));
        }
    }
    buf_cleanup(&val);
    return rc;
}

/* The result of an op that only asks the server core (a hook): taken when it has the expected
 * JSON type (an array, or else an object); a missing hook or a wrong answer is an error. */
static int hook_result(struct op_ctx *c, json_t *value, bool array, const char *what)
{
    if (array ? !json_is_array(value) : !json_is_object(value)) {
        json_decref(value);
        return fail(c, ERR_INTERNAL, "%s are not available", what);
    }
    c->result = value;
    return 0;
}

static int op_connections(struct op_ctx *c)
{
    struct admin_hooks *h = &c->a->hooks;
    return hook_result(c, h->connections ? h->connections(h->ud) : NULL, true, "connections");
}

static int op_queues(struct op_ctx *c)
{
    struct admin_hooks *h = &c->a->hooks;
    return hook_result(c, h->queues ? h->queues(h->ud) : NULL, true, "queues");
}

static int op_cluster_status(struct op_ctx *c)
{
    struct admin_hooks *h = &c->a->hooks;
    json_t *jid = json_object_get(c->args, "jid");
    if (jid != NULL && !json_is_string(jid)) {
        return fail(c, ERR_INVAL, "argument jid must be a string");
    }
    json_t *v = h->cluster ? h->cluster(h->ud, jid ? json_string_value(jid) : NULL) : NULL;
    if (v == NULL) {
        /* One server alone (cluster.node_id empty): no nodes. */
        v = json_pack("{s:n, s:[]}", "self", "nodes");
    }
    return hook_result(c, v, false, "cluster");
}

static int op_stats(struct op_ctx *c)
{
    struct admin_hooks *h = &c->a->hooks;
    return hook_result(c, h->stats ? h->stats(h->ud) : NULL, false, "counters");
}

/* ---- the message archive (XEP-0313, src/archive) ---- */

/* The optional "domain" argument, resolved; `*domain` NULL when absent (every domain). */
static int archive_domain(struct op_ctx *c, struct buf *dom, const char **domain)
{
    *domain = NULL;
    if (json_object_get(c->args, "domain") == NULL) {
        return 0;
    }
    int rc = domain_arg(c, "domain", true, dom);
    *domain = rc == 0 ? buf_cstr(dom) : NULL;
    return rc;
}

static int op_archive_stats(struct op_ctx *c)
{
    struct buf dom;
    buf_init(&dom, ADMIN_NAME_MAX);
    const char *domain;
    long long count = 0, oldest = 0, newest = 0;
    int rc = archive_domain(c, &dom, &domain);
    if (rc == 0 && (rc = store_archive_stats(c->a->st, domain, &count, &oldest, &newest)) != 0) {
        fail(c, rc, "archive statistics: %s", store_reason(c->a, rc));
    }
    if (rc == 0) {
        c->result = json_pack("{s:s, s:I, s:I, s:I}", "domain", domain ? domain : "*", "messages",
                              (json_int_t)count, "oldest", (json_int_t)(oldest / 1000000), "newest",
                              (json_int_t)(newest / 1000000));
    }
    buf_cleanup(&dom);
    return rc;
}

/* Removes the messages older than "older_than_days" days (0: all), in small transactions so
 * that the workers' and the archive writer's writes go on between them; without it, asks the
 * archive's writer thread for a retention pass now (each domain's archive_keep_days). */
static int op_archive_purge(struct op_ctx *c)
{
    struct buf dom;
    buf_init(&dom, ADMIN_NAME_MAX);
    const char *domain;
    int rc = archive_domain(c, &dom, &domain);
    json_t *days = json_object_get(c->args, "older_than_days");
    if (rc == 0 && days == NULL) {
        archive_purge_now();
        c->result = json_pack("{s:s}", "purge", "started");
    } else if (rc == 0 && (!json_is_integer(days) || json_integer_value(days) < 0)) {
        rc = fail(c, ERR_INVAL, "older_than_days must be a number of days, 0 or more");
    } else if (rc == 0) {
        long long before = archive_new_id() - (long long)json_integer_value(days) * 86400000000LL;
        long long total = 0;
        int removed;
        do {
            rc = store_archive_purge(c->a->st, domain, before, 1000, &removed);
            total += removed;
        } while (rc == 0 && removed > 0);
        if (rc != 0) {
            fail(c, rc, "archive purge: %s", store_reason(c->a, rc));
        } else {
            c->result = json_pack("{s:I}", "removed", (json_int_t)total);
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "archive purge: %lld messages removed",
                    total);
        }
    }
    buf_cleanup(&dom);
    return rc;
}

/* 1 when the account "local@domain" (prepared, canonical domain) exists, 0 when not, or an
 * error code. */
static int store_account_exists_jid(struct op_ctx *c, const char *bare)
{
    const char *at = strchr(bare, '@');
    char *local;
    int rc;
    if (at == NULL) {
        return 0;
    }
    local = strv_dup((struct strv){ bare, (size_t)(at - bare) });
    rc = store_account_exists(c->a->st, at + 1, local);
    free(local);
    return rc;
}

/* True when the connection's "jid" (full or bare) belongs to the account `bare`. */
static bool conn_of_account(json_t *conn, const char *bare)
{
    const char *jid = json_string_value(json_object_get(conn, "jid"));
    size_t n = strlen(bare);
    return jid != NULL && strncmp(jid, bare, n) == 0 && (jid[n] == '\0' || jid[n] == '/');
}

static int roster_item_json(void *ud, const struct store_roster_item *it)
{
    static const char *const subs[] = { "none", "to", "from", "both" };
    json_t *groups = json_array();
    for (const char *g = it->groups; g && *g;) {
        const char *nl = strchr(g, '\n');
        size_t len = nl ? (size_t)(nl - g) : strlen(g);
        json_array_append_new(groups, json_stringn(g, len));
        g += len + (nl ? 1 : 0);
    }
    json_array_append_new(ud, json_pack("{s:s, s:s?, s:s, s:b, s:b, s:o}", "jid", it->contact,
                                        "name", it->name, "subscription", subs[it->sub & 3], "ask",
                                        it->ask, "approved", it->approved, "groups", groups));
    return 0;
}

/* account.roster: the account's contacts, as the roster store keeps them. */
static int op_account_roster(struct op_ctx *c)
{
    struct buf jid;
    buf_init(&jid, ADMIN_NAME_MAX);
    int rc = account_arg(c, &jid);
    if (rc == 0 && store_account_exists_jid(c, buf_cstr(&jid)) != 1) {
        rc = fail(c, ERR_NOTFOUND, "unknown account: %s", buf_cstr(&jid));
    }
    if (rc == 0) {
        char *at = strchr(jid.p, '@');
        *at = '\0';
        json_t *items = json_array();
        rc = store_im_roster_list(c->a->st, at + 1, jid.p, -1, roster_item_json, items);
        if (rc != 0) {
            json_decref(items);
            rc = fail(c, rc, "cannot read the roster: %s", store_last_error(c->a->st));
        } else {
            c->result = items;
        }
    }
    buf_cleanup(&jid);
    return rc;
}

/* A pubsub node as JSON: {"node","items","bytes"} (issue 14). */
static int pubsub_node_json(void *ud, const char *node, const char *config, long long items,
                            long long bytes)
{
    (void)config;
    json_array_append_new(ud, json_pack("{s:s, s:I, s:I}", "node", node, "items", (json_int_t)items,
                                        "bytes", (json_int_t)bytes));
    return 0;
}

/* account.pep: the account's personal eventing nodes (XEP-0163) with their item counts and
 * payload sizes. */
static int op_account_pep(struct op_ctx *c)
{
    struct buf jid;
    buf_init(&jid, ADMIN_NAME_MAX);
    int rc = account_arg(c, &jid);
    if (rc == 0 && store_account_exists_jid(c, buf_cstr(&jid)) != 1) {
        rc = fail(c, ERR_NOTFOUND, "unknown account: %s", buf_cstr(&jid));
    }
    if (rc == 0) {
        json_t *nodes = json_array();
        rc = store_pubsub_node_list(c->a->st, buf_cstr(&jid), pubsub_node_json, nodes);
        if (rc != 0) {
            json_decref(nodes);
            rc = fail(c, rc, "cannot read the nodes: %s", store_last_error(c->a->st));
        } else {
            c->result = nodes;
        }
    }
    buf_cleanup(&jid);
    return rc;
}

/* pubsub.nodes: the nodes of a domain's service pubsub.<domain>: {"service","nodes":[…]}. */
static int op_pubsub_nodes(struct op_ctx *c)
{
    struct buf dom, svc;
    buf_init(&dom, ADMIN_NAME_MAX);
    buf_init(&svc, ADMIN_NAME_MAX + 16);
    int rc = domain_arg(c, "domain", true, &dom);
    if (rc == 0) {
        pubsub_service_of(buf_cstr(&dom), &svc);
        json_t *nodes = json_array();
        rc = store_pubsub_node_list(c->a->st, buf_cstr(&svc), pubsub_node_json, nodes);
        if (rc != 0) {
            json_decref(nodes);
            rc = fail(c, rc, "cannot read the nodes: %s", store_last_error(c->a->st));
        } else {
            c->result = json_pack("{s:s, s:o}", "service", buf_cstr(&svc), "nodes", nodes);
        }
    }
    buf_cleanup(&dom);
    buf_cleanup(&svc);
    return rc;
}

static int pubsub_subscriber_json(void *ud, const char *jid, const char *value)
{
    if (strcmp(value, "subscribed") == 0) {
        json_array_append_new(ud, json_string(jid));
    }
    return 0;
}

/* pubsub.delete: removes a node of a domain's service with its items; its subscribers are told
 * like by an owner's delete (read before the node goes). */
static int op_pubsub_delete(struct op_ctx *c)
{
    struct buf dom, svc, config;
    buf_init(&dom, ADMIN_NAME_MAX);
    buf_init(&svc, ADMIN_NAME_MAX + 16);
    buf_init(&config, 64 * 1024);
    json_t *subs = json_array();
    const char *node = NULL;
    int rc = domain_arg(c, "domain", true, &dom);
    if (rc == 0) {
        rc = arg_str(c, "node", &node);
    }
    if (rc == 0) {
        pubsub_service_of(buf_cstr(&dom), &svc);
        if (store_pubsub_node_get(c->a->st, buf_cstr(&svc), node, &config) == 0) {
            store_pubsub_sub_list(c->a->st, buf_cstr(&svc), node, pubsub_subscriber_json, subs);
        }
        rc = store_pubsub_node_delete(c->a->st, buf_cstr(&svc), node);
        if (rc == ERR_NOTFOUND) {
            rc = fail(c, rc, "no node %s on %s", node, buf_cstr(&svc));
        } else if (rc != 0) {
            rc = fail(c, rc, "cannot delete the node: %s", store_last_error(c->a->st));
        } else if (c->a->hooks.pubsub_deleted != NULL) {
            c->a->hooks.pubsub_deleted(c->a->hooks.ud, buf_cstr(&svc), node, buf_cstr(&config),
                                       subs);
        }
    }
    json_decref(subs);
    buf_cleanup(&dom);
    buf_cleanup(&svc);
    buf_cleanup(&config);
    return rc;
}

/* domain.certificate: what the domain's certificate says (the server reads the file). */
static int op_domain_certificate(struct op_ctx *c)
{
    struct buf name;
    buf_init(&name, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "name", true, &name);
    if (rc == 0 && c->a->hooks.certificate == NULL) {
        rc = fail(c, ERR_INTERNAL, "certificates are not available");
    }
    if (rc == 0) {
        c->result = c->a->hooks.certificate(c->a->hooks.ud, buf_cstr(&name));
        if (c->result == NULL) {
            rc = fail(c, ERR_NOTFOUND, "no certificate for %s", buf_cstr(&name));
        }
    }
    buf_cleanup(&name);
    return rc;
}

/* domain.certificate.set: PEM certificate and key, checked, then live (issue 20). */
static int op_domain_certificate_set(struct op_ctx *c)
{
    const char *cert, *key;
    struct domain_cfg d;
    struct buf name;
    buf_init(&name, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "name", true, &name);
    if (rc == 0) {
        rc = arg_str(c, "cert", &cert);
    }
    if (rc == 0) {
        rc = arg_str(c, "key", &key);
    }
    if (rc == 0 && (strlen(cert) > CERT_PEM_MAX || strlen(key) > CERT_PEM_MAX)) {
        rc = fail(c, ERR_LIMIT, "the certificate and the key are at most %d bytes each",
                  CERT_PEM_MAX);
    } else if (rc == 0 && c->a->hooks.certificate_install == NULL) {
        rc = fail(c, ERR_INTERNAL, "certificates are not available");
    } else if (rc == 0 && accounts_domain_get(c->a->st, buf_cstr(&name), &d) != 0) {
        rc = fail(c, ERR_NOTFOUND, "unknown domain: %s", buf_cstr(&name));
    }
    if (rc == 0) {
        /* A chat service under the domain uses the domain's certificate: it must name it. */
        const char *dot = strchr(d.chat_service, '.');
        bool under = dot != NULL && strcmp(dot + 1, buf_cstr(&name)) == 0;
        json_t *warnings = json_array();
        rc = c->a->hooks.certificate_install(c->a->hooks.ud, buf_cstr(&name),
                                             under ? d.chat_service : "", cert, key, warnings,
                                             c->err, sizeof(c->err));
        if (rc == 0) {
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "certificate of %s replaced",
                    buf_cstr(&name));
            c->result = json_pack("{s:o}", "warnings", warnings);
        } else {
            json_decref(warnings);
        }
    }
    buf_cleanup(&name);
    return rc;
}

/* account.sessions: the account's connections, in the form of the connections op. */
static int op_account_sessions(struct op_ctx *c)
{
    struct buf jid;
    json_t *all, *mine, *conn;
    size_t i;
    buf_init(&jid, ADMIN_NAME_MAX);
    int rc = account_arg(c, &jid);
    if (rc == 0 && store_account_exists_jid(c, buf_cstr(&jid)) != 1) {
        rc = fail(c, ERR_NOTFOUND, "unknown account: %s", buf_cstr(&jid));
    }
    if (rc == 0 && c->a->hooks.connections == NULL) {
        rc = fail(c, ERR_INTERNAL, "connections are not available");
    }
    if (rc == 0) {
        all = c->a->hooks.connections(c->a->hooks.ud);
        mine = json_array();
        json_array_foreach(all, i, conn)
        {
            if (conn_of_account(conn, buf_cstr(&jid))) {
                json_array_append(mine, conn);
            }
        }
        json_decref(all);
        c->result = mine;
    }
    buf_cleanup(&jid);
    return rc;
}

/* account.disconnect: ends every session of the account (its streams get a stream error). */
static int op_account_disconnect(struct op_ctx *c)
{
    struct buf jid;
    buf_init(&jid, ADMIN_NAME_MAX);
    int rc = account_arg(c, &jid);
    if (rc == 0 && store_account_exists_jid(c, buf_cstr(&jid)) != 1) {
        rc = fail(c, ERR_NOTFOUND, "unknown account: %s", buf_cstr(&jid));
    }
    if (rc == 0 && c->a->hooks.disconnect == NULL) {
        rc = fail(c, ERR_INTERNAL, "sessions cannot be ended here");
    }
    if (rc == 0) {
        c->a->hooks.disconnect(c->a->hooks.ud, buf_cstr(&jid));
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "account disconnected: %s", buf_cstr(&jid));
    }
    buf_cleanup(&jid);
    return rc;
}

/* ---- presence ---- */

/* {"jid"}: the account's online resources with show/status/priority, or its last seen time. */
static int op_presence(struct op_ctx *c)
{
    struct buf jid;
    json_t *obj;
    buf_init(&jid, ADMIN_NAME_MAX);
    int rc = account_arg(c, &jid);
    if (rc == 0 && store_account_exists_jid(c, buf_cstr(&jid)) != 1) {
        rc = fail(c, ERR_NOTFOUND, "unknown account: %s", buf_cstr(&jid));
    }
    if (rc == 0 && c->a->hooks.presence == NULL) {
        rc = fail(c, ERR_INTERNAL, "presence is not available");
    }
    if (rc == 0) {
        obj = c->a->hooks.presence(c->a->hooks.ud, buf_cstr(&jid));
        if (!json_is_object(obj)) {
            json_decref(obj);
            rc = fail(c, ERR_INTERNAL, "presence is not available");
        } else {
            c->result = obj;
        }
    }
    buf_cleanup(&jid);
    return rc;
}

/* ---- messages ---- */

/* Longest text `send` takes, in bytes. */
#define ADMIN_SEND_MAX 65536

/* {"from","to","text"}: a chat message routed like any other, born outside XMPP. */
static int op_send(struct op_ctx *c)
{
    const char *from, *to, *text;
    int rc = arg_str(c, "from", &from);
    if (rc == 0) {
        rc = arg_str(c, "to", &to);
    }
    if (rc == 0) {
        rc = arg_str(c, "text", &text);
    }
    if (rc != 0) {
        return rc;
    }
    struct jid jf = { 0 }, jt = { 0 };
    if (jid_parse(&jf, strv_c(from)) != 0) {
        rc = fail(c, ERR_INVAL, "invalid JID: %s", from);
    } else if (jid_parse(&jt, strv_c(to)) != 0) {
        rc = fail(c, ERR_INVAL, "invalid JID: %s", to);
    } else if (text[0] == '\0' || strlen(text) > ADMIN_SEND_MAX) {
        rc = fail(c, ERR_INVAL, "the text must be 1..%d bytes", ADMIN_SEND_MAX);
    } else if (c->a->hooks.send_message == NULL) {
        rc = fail(c, ERR_INTERNAL, "sending is not available");
    } else {
        rc = c->a->hooks.send_message(c->a->hooks.ud, from, to, text, c->err, sizeof(c->err));
        if (rc == 0) {
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "message sent from %s to %s", from, to);
        }
    }
    jid_cleanup(&jf);
    jid_cleanup(&jt);
    return rc;
}

/* ---- online users and announcements (issue 20) ---- */

/* The c2s connections whose account is of `domain`: {"id","jid","resource","peer","tls",
 * "since","client","state"} ("detached": an XEP-0198 session waiting for its client, no
 * peer), sorted by the connection table's order. */
static json_t *online_of(json_t *conns, const char *domain)
{
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(conns, i, c)
    {
        const char *kind = json_string_value(json_object_get(c, "kind"));
        const char *jid = json_string_value(json_object_get(c, "jid"));
        const char *at = jid ? strchr(jid, '@') : NULL;
        const char *slash = at ? strchr(at, '/') : NULL;
        if (kind == NULL || strcmp(kind, "c2s") != 0 || slash == NULL ||
            (size_t)(slash - at - 1) != strlen(domain) ||
            strncmp(at + 1, domain, strlen(domain)) != 0) {
            continue;
        }
        json_t *row = json_pack("{s:O, s:s%, s:s, s:O?, s:O?, s:O}", "id", json_object_get(c, "id"),
                                "jid", jid, (size_t)(slash - jid), "resource", slash + 1, "peer",
                                json_object_get(c, "peer"), "tls", json_object_get(c, "tls"),
                                "since", json_object_get(c, "since"));
        if (row != NULL) {
            json_t *client = json_object_get(c, "client");
            json_object_set(row, "client", client ? client : json_null());
            json_object_set(row, "state", json_object_get(c, "state"));
            json_array_append_new(out, row);
        }
    }
    return out;
}

static int op_users_online(struct op_ctx *c)
{
    struct admin_hooks *h = &c->a->hooks;
    struct buf dom;
    buf_init(&dom, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "domain", true, &dom);
    json_t *conns = NULL;
    if (rc == 0) {
        conns = h->connections ? h->connections(h->ud) : NULL;
        rc = hook_result(c, conns, true, "connections");
    }
    if (rc == 0) {
        c->result = online_of(conns, buf_cstr(&dom));
        json_decref(conns);
    }
    buf_cleanup(&dom);
    return rc;
}

/* A headline to every online user of the domain (`domain` given) or of the server. */
static int announce(struct op_ctx *c, bool whole_server)
{
    const char *text, *subject = NULL;
    struct buf dom;
    buf_init(&dom, ADMIN_NAME_MAX);
    int rc = whole_server ? 0 : domain_arg(c, "domain", true, &dom);
    if (rc == 0) {
        rc = arg_str(c, "text", &text);
    }
    const json_t *sv = json_object_get(c->args, "subject");
    if (rc == 0 && sv != NULL && !json_is_null(sv) && arg_str(c, "subject", &subject) != 0) {
        rc = ERR_INVAL;
    }
    if (rc == 0 && (text[0] == '\0' || strlen(text) > ADMIN_SEND_MAX)) {
        rc = fail(c, ERR_INVAL, "the text must be 1..%d bytes", ADMIN_SEND_MAX);
    } else if (rc == 0 && c->a->hooks.announce == NULL) {
        rc = fail(c, ERR_INTERNAL, "announcements are not available");
    }
    if (rc == 0) {
        const char *d = whole_server ? NULL : buf_cstr(&dom);
        int n = c->a->hooks.announce(c->a->hooks.ud, d, subject, text);
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "announcement to %d online users of %s", n,
                d ? d : "the server");
        c->result = json_pack("{s:i}", "recipients", n);
    }
    buf_cleanup(&dom);
    return rc;
}

static int op_announce(struct op_ctx *c)
{
    return announce(c, false);
}

static int op_announce_all(struct op_ctx *c)
{
    return announce(c, true);
}

static int op_features(struct op_ctx *c)
{
    struct buf dom;
    buf_init(&dom, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "domain", true, &dom);
    struct admin_hooks *h = &c->a->hooks;
    json_t *server = h->disco_features ? h->disco_features(h->ud, false) : json_array();
    json_t *account = h->disco_features ? h->disco_features(h->ud, true) : json_array();
    const struct settings *live = h->settings_live ? h->settings_live(h->ud) : NULL;
    struct settings *defaults = NULL;
    if (live == NULL) {
        defaults = xcalloc(1, sizeof(*defaults));
        settings_defaults(defaults);
        live = defaults;
    }
    if (rc == 0) {
        c->result = admin_features_json(c->a->st, live, buf_cstr(&dom), server, account);
        if (c->result == NULL) {
            rc = fail(c, ERR_NOTFOUND, "unknown domain: %s", buf_cstr(&dom));
        }
    }
    json_decref(server);
    json_decref(account);
    free(defaults);
    buf_cleanup(&dom);
    return rc;
}

/* ---- chat rooms (issue 20) ---- */

/* The domain's chat service and, when `room` is not NULL, the room argument as a prepared bare
 * JID of that service (a room name alone, or its JID). */
static int muc_args(struct op_ctx *c, struct buf *service, struct buf *room)
{
    struct domain_cfg d;
    struct buf dom;
    const char *r = NULL;
    buf_init(&dom, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "domain", true, &dom);
    if (rc == 0 && accounts_domain_get(c->a->st, buf_cstr(&dom), &d) != 0) {
        rc = fail(c, ERR_NOTFOUND, "unknown domain: %s", buf_cstr(&dom));
    } else if (rc == 0 && d.chat_service[0] == '\0') {
        rc = fail(c, ERR_NOTFOUND, "%s has no chat service", buf_cstr(&dom));
    } else if (rc == 0 && c->a->hooks.muc_rooms == NULL) {
        rc = fail(c, ERR_INTERNAL, "chat rooms are not available");
    }
    buf_cleanup(&dom);
    if (rc == 0) {
        buf_append_c(service, d.chat_service);
    }
    if (rc != 0 || room == NULL || (rc = arg_str(c, "room", &r)) != 0) {
        return rc;
    }
    struct buf text;
    struct jid j = { 0 };
    buf_init(&text, 4096);
    buf_printf(&text, strchr(r, '@') ? "%s" : "%s@%s", r, d.chat_service);
    if (jid_parse(&j, buf_strv(&text)) != 0 || j.local == NULL || j.resource != NULL ||
        strcmp(j.domain, d.chat_service) != 0) {
        rc = fail(c, ERR_INVAL, "not a room of %s: %s", d.chat_service, r);
    } else {
        jid_bare(&j, room);
    }
    jid_cleanup(&j);
    buf_cleanup(&text);
    return rc;
}

static int op_muc_rooms(struct op_ctx *c)
{
    struct buf service;
    buf_init(&service, ADMIN_NAME_MAX);
    int rc = muc_args(c, &service, NULL);
    if (rc == 0) {
        rc = hook_result(c, c->a->hooks.muc_rooms(c->a->hooks.ud, buf_cstr(&service)), true,
                         "rooms");
    }
    buf_cleanup(&service);
    return rc;
}

static int op_muc_room(struct op_ctx *c)
{
    struct buf service, room;
    buf_init(&service, ADMIN_NAME_MAX);
    buf_init(&room, 4096);
    int rc = muc_args(c, &service, &room);
    if (rc == 0) {
        c->result = c->a->hooks.muc_room(c->a->hooks.ud, buf_cstr(&room));
        if (c->result == NULL) {
            rc = fail(c, ERR_NOTFOUND, "no room %s", buf_cstr(&room));
        }
    }
    buf_cleanup(&service);
    buf_cleanup(&room);
    return rc;
}

/* muc.kick (target "nick"), muc.ban (target "jid"), muc.destroy (no target). */
static int muc_action(struct op_ctx *c, const char *action, const char *target_arg)
{
    struct buf service, room;
    const char *target = NULL, *reason = NULL;
    buf_init(&service, ADMIN_NAME_MAX);
    buf_init(&room, 4096);
    int rc = muc_args(c, &service, &room);
    if (rc == 0 && target_arg != NULL) {
        rc = arg_str(c, target_arg, &target);
    }
    const json_t *rv = json_object_get(c->args, "reason");
    if (rc == 0 && rv != NULL && !json_is_null(rv)) {
        rc = arg_str(c, "reason", &reason);
    }
    if (rc == 0) {
        rc = c->a->hooks.muc_action(c->a->hooks.ud, buf_cstr(&room), action, target, reason);
        if (rc == ERR_NOTFOUND) {
            fail(c, rc, "no %s in %s", target && strcmp(action, "kick") == 0 ? target : "such room",
                 buf_cstr(&room));
        } else if (rc == 0) {
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "room %s: %s%s%s", buf_cstr(&room), action,
                    target ? " " : "", target ? target : "");
        }
    }
    buf_cleanup(&service);
    buf_cleanup(&room);
    return rc;
}

static int op_muc_kick(struct op_ctx *c)
{
    return muc_action(c, "kick", "nick");
}

static int op_muc_ban(struct op_ctx *c)
{
    return muc_action(c, "ban", "jid");
}

static int op_muc_destroy(struct op_ctx *c)
{
    return muc_action(c, "destroy", NULL);
}

/* ---- federation links and queues (issue 20) ---- */

static int s2s_act(struct op_ctx *c, const char *action)
{
    const char *target = NULL, *source = NULL;
    json_int_t id = 0;
    int rc = 0;
    if (strcmp(action, "close") == 0) {
        const json_t *v = json_object_get(c->args, "id");
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            return fail(c, ERR_INVAL, "id must be a connection id");
        }
        id = json_integer_value(v);
    } else if ((rc = arg_str(c, "target", &target)) != 0 ||
               (rc = arg_str(c, "source", &source)) != 0) {
        return rc;
    }
    if (c->a->hooks.s2s_action == NULL) {
        return fail(c, ERR_INTERNAL, "federation is not available");
    }
    rc = c->a->hooks.s2s_action(c->a->hooks.ud, action, (unsigned long)id, target, source);
    if (rc == ERR_NOTFOUND) {
        return id ? fail(c, rc, "no server-to-server connection %lld", (long long)id)
                  : fail(c, rc, "no queue %s -> %s", source, target);
    }
    if (rc == 0) {
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "s2s %s %s%s%s", action,
                id ? "connection" : source, id ? "" : " -> ", id ? "" : target);
    }
    return rc;
}

static int op_s2s_close(struct op_ctx *c)
{
    return s2s_act(c, "close");
}

static int op_queue_flush(struct op_ctx *c)
{
    return s2s_act(c, "flush");
}

static int op_queue_drop(struct op_ctx *c)
{
    return s2s_act(c, "drop");
}

/* ---- the accounts table: search, last seen, offline messages (issue 20) ---- */

struct overview {
    struct store *st;
    const char *domain;
    const char *search; /* case-insensitive substring of the local part; "" = all */
    json_t *list;
};

static int overview_row(void *ud, const char *name, const char *unused)
{
    (void)unused;
    struct overview *o = ud;
    if (o->search[0] && strcasestr(name, o->search) == NULL) {
        return 0;
    }
    long long seen = 0;
    if (store_im_last_get(o->st, o->domain, name, &seen, NULL) != 0) {
        seen = 0;
    }
    int offline = store_im_offline_count(o->st, o->domain, name);
    long long login = 0;
    struct buf from;
    buf_init(&from, 128);
    if (store_login_get(o->st, o->domain, name, &login, &from) != 0) {
        login = 0;
        buf_reset(&from);
    }
    json_t *row = json_pack("{s:s++, s:I, s:I, s:s, s:i}", "jid", name, "@", o->domain, "last_seen",
                            (json_int_t)seen, "last_login", (json_int_t)login, "last_login_address",
                            buf_cstr(&from), "offline", offline < 0 ? 0 : offline);
    buf_cleanup(&from);
    if (row != NULL) {
        json_array_append_new(o->list, row);
    }
    return 0;
}

static int op_account_overview(struct op_ctx *c)
{
    struct buf dom;
    const char *search = "";
    buf_init(&dom, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "domain", true, &dom);
    const json_t *sv = json_object_get(c->args, "search");
    if (rc == 0 && sv != NULL && !json_is_null(sv)) {
        rc = arg_str(c, "search", &search);
    }
    if (rc == 0) {
        struct overview o = { c->a->st, buf_cstr(&dom), search, json_array() };
        rc = store_account_list(c->a->st, buf_cstr(&dom), overview_row, &o);
        if (rc != 0) {
            fail(c, rc, "cannot list accounts of %s: %s", buf_cstr(&dom), store_reason(c->a, rc));
            json_decref(o.list);
        } else {
            c->result = o.list;
        }
    }
    buf_cleanup(&dom);
    return rc;
}

/* ---- failed logins ---- */

static void lockout_json(void *ud, const char *key, int failures, long locked_s,
                         long last_failure_s)
{
    json_array_append_new(ud, json_pack("{s:s, s:i, s:I, s:I}", "jid", key, "failures", failures,
                                        "locked", (json_int_t)locked_s, "last_failure",
                                        (json_int_t)last_failure_s));
}

/* logins.failed: accounts with failed logins still remembered, and how long each is locked
 * (auth/lockout.h); a domain administrator sees its domain's. */
static int op_logins_failed(struct op_ctx *c)
{
    json_t *list = json_array();
    lockout_foreach(lockout_json, list);
    c->result = list;
    return 0;
}

/* ---- the WebAdmin's login (owner scope: for the server's own doors, not for accounts) ---- */

/* The main domain and the lock-out policy in force; the defaults without a settings hook. */
static void login_settings(struct admin *a, char *main_domain, size_t len,
                           struct settings_auth *policy)
{
    const struct settings *live = NULL;
    struct settings *defaults = NULL;
    if (a->hooks.settings_live != NULL) {
        live = a->hooks.settings_live(a->hooks.ud);
    }
    if (live == NULL) {
        defaults = xcalloc(1, sizeof(*defaults));
        settings_defaults(defaults);
        live = defaults;
    }
    snprintf(main_domain, len, "%s", live->server.main_domain);
    *policy = live->auth;
    free(defaults);
}

/* Splits "local@domain" (or "local", meaning the main domain) into its prepared local part and
 * the canonical domain. */
static int login_user(struct op_ctx *c, const char *user, const char *main_domain,
                      struct buf *local, struct buf *domain)
{
    struct jid j = { 0 };
    struct buf text;
    int rc;
    buf_init(&text, 2 * ADMIN_NAME_MAX);
    rc = strchr(user, '@') != NULL ? buf_append_c(&text, user)
                                   : buf_printf(&text, "%s@%s", user, main_domain);
    if (rc == 0 && (jid_parse(&j, buf_strv(&text)) != 0 || j.local == NULL || j.resource)) {
        rc = ERR_NOTFOUND;
    }
    if (rc == 0) {
        rc = store_domain_resolve(c->a->st, j.domain, domain);
    }
    if (rc == 0) {
        buf_reset(local);
        rc = buf_append_c(local, j.local);
    }
    jid_cleanup(&j);
    buf_cleanup(&text);
    return rc;
}

/* Checks the password of local@domain against the per-account lock-out (auth/lockout.h): ERR_LIMIT
 * while the account is locked (the password is not even looked at), else ERR_AUTH or 0; every
 * outcome is counted. */
static int login_password(struct op_ctx *c, const char *local, const char *domain,
                          const char *password, const char *peer,
                          const struct settings_auth *policy)
{
    struct auth_creds creds;
    int rc;
    if (accounts_login_locked(policy, local, domain) > 0) {
        return fail(c, ERR_LIMIT, "too many failed logins for this account; try again later");
    }
    memset(&creds, 0, sizeof(creds));
    rc = accounts_lookup_creds(c->a->st, domain, local, &creds);
    if (rc == 0 && auth_creds_verify_password(&creds, password) != 0) {
        rc = ERR_AUTH;
    }
    if (rc == 0) {
        accounts_login_succeeded(local, domain);
        rc = creds.disabled ? ERR_AUTH : 0;
    } else {
        int lock = accounts_login_failed(policy, local, domain);
        if (lock > 0) {
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, peer,
                    "account %s@%s locked for %d s after repeated failed logins", local, domain,
                    lock);
        }
        rc = ERR_AUTH;
    }
    auth_creds_cleanup(&creds);
    return rc != 0 ? fail(c, rc, "wrong user name or password") : 0;
}

/* The identity of the account `jid` (prepared bare JID, canonical domain) for a WebAdmin session:
 * {"jid","role":"server"|"domain","domain"}; ERR_AUTH when it is gone or disabled, ERR_DENIED
 * when it administers nothing. */
static int session_identity(struct op_ctx *c, const char *jid)
{
    struct account_cfg acc;
    const char *at = strchr(jid, '@');
    if (at == NULL || accounts_account_get(c->a->st, jid, &acc) != 0 || acc.disabled) {
        return fail(c, ERR_AUTH, "%.200s may not log in", jid);
    }
    if (!acc.admin && !acc.domain_admin) {
        return fail(c, ERR_DENIED, "%.200s is not an administrator", jid);
    }
    c->result = json_pack("{s:s, s:s, s:s}", "jid", jid, "role", acc.admin ? "server" : "domain",
                          "domain", at + 1);
    return 0;
}

/* session.login: a WebAdmin login; the per-address limit is the WebAdmin's, the per-account
 * lock-out is counted here for every door alike. */
static int op_session_login(struct op_ctx *c)
{
    const char *user = NULL, *password = NULL;
    const char *peer = json_string_value(json_object_get(c->args, "peer"));
    char main_domain[256];
    struct settings_auth policy;
    struct buf local, domain, jid;
    int rc = arg_str(c, "user", &user);
    if (rc == 0) {
        rc = arg_str(c, "password", &password);
    }
    if (rc != 0) {
        return rc;
    }
    login_settings(c->a, main_domain, sizeof(main_domain), &policy);
    buf_init(&local, ADMIN_NAME_MAX);
    buf_init(&domain, ADMIN_NAME_MAX);
    buf_init(&jid, ADMIN_NAME_MAX);
    rc = login_user(c, user, main_domain, &local, &domain);
    if (rc != 0) {
        rc = fail(c, ERR_AUTH, "wrong user name or password");
    } else {
        rc = login_password(c, buf_cstr(&local), buf_cstr(&domain), password, peer, &policy);
    }
    if (rc == 0) {
        rc = buf_printf(&jid, "%s@%s", buf_cstr(&local), buf_cstr(&domain));
    }
    if (rc == 0) {
        rc = session_identity(c, buf_cstr(&jid));
    }
    buf_cleanup(&local);
    buf_cleanup(&domain);
    buf_cleanup(&jid);
    return rc;
}

/* session.check: whether a logged-in account may still administer (read at every request). */
static int op_session_check(struct op_ctx *c)
{
    const char *jid = NULL;
    int rc = arg_str(c, "jid", &jid);
    return rc != 0 ? rc : session_identity(c, jid);
}

/* ---- dispatch ---- */

static const char *const args_none[] = { NULL };
static const char *const args_name[] = { "name", NULL };
static const char *const args_name_settings[] = { "name", "settings", NULL };
static const char *const args_jid[] = { "jid", NULL };
static const char *const args_jid_password[] = { "jid", "password", NULL };
static const char *const args_jid_settings[] = { "jid", "settings", NULL };
static const char *const args_domain[] = { "domain", NULL };
static const char *const args_key[] = { "key", NULL };
static const char *const args_key_value[] = { "key", "value", NULL };

/* The default lifetime of an invitation: the live register.invite_lifetime setting. */
static long invite_lifetime(struct op_ctx *c)
{
    long lifetime = 604800;
    if (c->a->hooks.settings_get) {
        json_t *all = c->a->hooks.settings_get(c->a->hooks.ud);
        const char *v = json_string_value(json_object_get(all, "register.invite_lifetime"));
        char *end = NULL;
        long n = v ? strtol(v, &end, 10) : 0;
        if (v && end && *end == '\0' && n > 0) {
            lifetime = n;
        }
        json_decref(all);
    }
    return lifetime;
}

/* invite's "uses": registrations the invitation is good for (1..1000, default 1). */
static int invite_uses(struct op_ctx *c, int *uses)
{
    json_t *u = json_object_get(c->args, "uses");
    if (u == NULL) {
        return 0;
    }
    if (!json_is_integer(u) || json_integer_value(u) < 1 || json_integer_value(u) > 1000) {
        return fail(c, ERR_INVAL, "uses must be an integer of 1..1000");
    }
    *uses = (int)json_integer_value(u);
    return 0;
}

/* invite's "inviter": an account of the domain (its local part into `out`) whose roster the
 * invitation pre-authorises (XEP-0379); absent: an administrator's invitation. */
static int invite_inviter(struct op_ctx *c, const char *domain, struct buf *out)
{
    const char *text = NULL;
    if (json_object_get(c->args, "inviter") == NULL) {
        return 0;
    }
    int rc = arg_str(c, "inviter", &text);
    struct jid j = { 0 };
    if (rc == 0 && jid_parse(&j, strv_c(text)) != 0) {
        return fail(c, ERR_INVAL, "invalid inviter: %s", text);
    }
    if (rc == 0 && (j.local == NULL || j.resource || strcmp(j.domain, domain) != 0 ||
                    store_account_exists(c->a->st, domain, j.local) != 1)) {
        rc = fail(c, ERR_INVAL, "the inviter must be an account of %s", domain);
    }
    if (rc == 0) {
        buf_reset(out);
        buf_append_c(out, j.local);
    }
    jid_cleanup(&j);
    return rc;
}

static int invite_row_json(void *ud, const char *const *cols, int ncols)
{
    if (ncols >= 5) {
        json_array_append_new(ud, json_pack("{s:s, s:s, s:I, s:I, s:I}", "token", cols[0],
                                            "inviter", cols[1], "uses", strtoll(cols[2], NULL, 10),
                                            "created", strtoll(cols[3], NULL, 10), "expires",
                                            strtoll(cols[4], NULL, 10)));
    }
    return 0;
}

/* invite.list: the domain's unexpired invitations. */
static int op_invite_list(struct op_ctx *c)
{
    struct buf dom;
    buf_init(&dom, ADMIN_NAME_MAX);
    int rc = domain_arg(c, "domain", true, &dom);
    if (rc == 0) {
        json_t *list = json_array();
        rc = store_invite_list(c->a->st, buf_cstr(&dom), (long long)time(NULL), invite_row_json,
                               list);
        if (rc != 0) {
            json_decref(list);
            rc = fail(c, rc, "cannot read the invitations: %s", store_reason(c->a, rc));
        } else {
            c->result = list;
        }
    }
    buf_cleanup(&dom);
    return rc;
}

/* invite.revoke: an invitation of the domain stops working. */
static int op_invite_revoke(struct op_ctx *c)
{
    struct buf dom;
    buf_init(&dom, ADMIN_NAME_MAX);
    const char *token = NULL;
    int rc = domain_arg(c, "domain", true, &dom);
    rc = rc ? rc : arg_str(c, "token", &token);
    if (rc == 0) {
        rc = store_invite_revoke(c->a->st, token, buf_cstr(&dom));
        if (rc == ERR_NOTFOUND) {
            fail(c, rc, "no such invitation on %s", buf_cstr(&dom));
        } else if (rc != 0) {
            fail(c, rc, "cannot revoke: %s", store_reason(c->a, rc));
        } else {
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "invitation revoked on %s", buf_cstr(&dom));
        }
    }
    buf_cleanup(&dom);
    return rc;
}

static int device_json(void *ud, const char *const *cols, int ncols)
{
    if (ncols >= 6) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "agent", cols[0], "software", cols[1],
                              "device", cols[2], "last_seen", strtoll(cols[3], NULL, 10), "tokens",
                              strtoll(cols[4], NULL, 10));
        json_object_set_new(o, "token_expires",
                            cols[5] ? json_integer(strtoll(cols[5], NULL, 10)) : json_null());
        json_array_append_new(ud, o);
    }
    return 0;
}

/* The account argument split into local part and domain (in `jid`, at the '@'). */
static int existing_account(struct op_ctx *c, struct buf *jid, const char **domain)
{
    int rc = account_arg(c, jid);
    if (rc == 0 && store_account_exists_jid(c, buf_cstr(jid)) != 1) {
        rc = fail(c, ERR_NOTFOUND, "unknown account: %s", buf_cstr(jid));
    }
    if (rc == 0) {
        char *at = strchr(jid->p, '@');
        *at = '\0';
        *domain = at + 1;
    }
    return rc;
}

/* account.devices: the user agents (XEP-0388) the account logged in with, and their FAST
 * tokens. */
static int op_account_devices(struct op_ctx *c)
{
    struct buf jid;
    buf_init(&jid, ADMIN_NAME_MAX);
    const char *domain = NULL;
    int rc = existing_account(c, &jid, &domain);
    if (rc == 0) {
        json_t *list = json_array();
        rc = store_fast_agents(c->a->st, domain, jid.p, device_json, list);
        if (rc != 0) {
            json_decref(list);
            rc = fail(c, rc, "cannot read the devices: %s", store_reason(c->a, rc));
        } else {
            c->result = list;
        }
    }
    buf_cleanup(&jid);
    return rc;
}

/* account.device_revoke: ends the FAST tokens of one user agent ("agent") or of all. */
static int op_account_device_revoke(struct op_ctx *c)
{
    struct buf jid;
    buf_init(&jid, ADMIN_NAME_MAX);
    const char *domain = NULL;
    const char *agent = NULL;
    int rc = existing_account(c, &jid, &domain);
    if (rc == 0 && json_object_get(c->args, "agent") != NULL) {
        rc = arg_str(c, "agent", &agent);
    }
    int removed = 0;
    if (rc == 0) {
        rc = store_fast_revoke(c->a->st, domain, jid.p, agent, &removed);
        if (rc != 0) {
            fail(c, rc, "cannot revoke: %s", store_reason(c->a, rc));
        } else {
            c->result = json_pack("{s:i}", "revoked", removed);
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "%d FAST token(s) of %s@%s revoked", removed,
                    jid.p, domain);
        }
    }
    buf_cleanup(&jid);
    return rc;
}

/* invite: an invitation token for in-band registration on a domain (XEP-0401 style). */
static int op_invite(struct op_ctx *c)
{
    struct buf dom, token;
    buf_init(&dom, ADMIN_NAME_MAX);
    buf_init(&token, 256);
    int rc = domain_arg(c, "domain", true, &dom);
    long lifetime = 0;
    json_t *lt = json_object_get(c->args, "lifetime");
    if (rc == 0 && lt != NULL) {
        if (!json_is_integer(lt) || json_integer_value(lt) < 60 ||
            json_integer_value(lt) > 315360000) {
            rc = fail(c, ERR_INVAL, "lifetime must be an integer of 60..315360000 seconds");
        }
        lifetime = rc == 0 ? (long)json_integer_value(lt) : 0;
    }
    int uses = 1;
    rc = rc ? rc : invite_uses(c, &uses);
    struct buf inviter;
    buf_init(&inviter, ADMIN_NAME_MAX);
    rc = rc ? rc : invite_inviter(c, buf_cstr(&dom), &inviter);
    if (rc == 0) {
        if (lifetime == 0) {
            lifetime = invite_lifetime(c);
        }
        rc = signup_invite_new(c->a->st, buf_cstr(&dom), inviter.len ? buf_cstr(&inviter) : NULL,
                               lifetime, uses, &token);
        if (rc != 0) {
            fail(c, rc, "cannot create an invitation: %s", store_reason(c->a, rc));
        }
    }
    if (rc == 0) {
        char uri[1024];
        if (inviter.len) {
            snprintf(uri, sizeof(uri), "xmpp:%s@%s?roster;preauth=%s;ibr=y", buf_cstr(&inviter),
                     buf_cstr(&dom), buf_cstr(&token));
        } else {
            snprintf(uri, sizeof(uri), "xmpp:%s?register;preauth=%s", buf_cstr(&dom),
                     buf_cstr(&token));
        }
        c->result = json_pack("{s:s, s:s, s:I, s:s, s:i, s:s}", "token", buf_cstr(&token), "domain",
                              buf_cstr(&dom), "expires", (json_int_t)(time(NULL) + lifetime), "uri",
                              uri, "uses", uses, "inviter", buf_cstr(&inviter));
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "invitation created for %s", buf_cstr(&dom));
    }
    buf_cleanup(&inviter);
    buf_cleanup(&dom);
    buf_cleanup(&token);
    return rc;
}

#define SERVER ADMIN_SCOPE_SERVER, NULL
#define LIST ADMIN_SCOPE_LIST, NULL
#define DOMAIN(arg) ADMIN_SCOPE_DOMAIN, arg
#define ACCOUNT ADMIN_SCOPE_ACCOUNT, "jid"
#define OWNER ADMIN_SCOPE_OWNER, NULL

/* Every op with the scope that decides who may run it (docs/internals/admin-access.md). */
static const struct op ops[] = {
    { "domain.add", op_domain_add, args_name, SERVER },
    { "domain.remove", op_domain_remove, args_name, SERVER },
    { "domain.list", op_domain_list, args_none, LIST },
    { "domain.show", op_domain_show, args_name, DOMAIN("name") },
    { "domain.set", op_domain_set, args_name_settings, DOMAIN("name") },
    { "account.add", op_account_add, args_jid_password, ADMIN_SCOPE_NEW_ACCOUNT, "jid" },
    { "account.remove", op_account_remove, args_jid, ACCOUNT },
    { "account.passwd", op_account_passwd, args_jid_password, ACCOUNT },
    { "account.list", op_account_list, args_domain, DOMAIN("domain") },
    { "account.show", op_account_show, args_jid, ACCOUNT },
    { "account.set", op_account_set, args_jid_settings, ACCOUNT },
    { "settings.get", op_settings_get, args_key, SERVER },
    { "settings.set", op_settings_set, args_key_value, SERVER },
    { "connections", op_connections, args_none, LIST },
    { "queues", op_queues, args_none, SERVER },
    { "send", op_send, (const char *const[]){ "from", "to", "text", NULL }, SERVER },
    { "presence", op_presence, args_jid, ACCOUNT },
    { "invite", op_invite, (const char *const[]){ "domain", "lifetime", "uses", "inviter", NULL },
      DOMAIN("domain") },
    { "invite.list", op_invite_list, args_domain, DOMAIN("domain") },
    { "invite.revoke", op_invite_revoke, (const char *const[]){ "domain", "token", NULL },
      DOMAIN("domain") },
    { "account.devices", op_account_devices, args_jid, ACCOUNT },
    { "account.device_revoke", op_account_device_revoke,
      (const char *const[]){ "jid", "agent", NULL }, ACCOUNT },
    { "stats", op_stats, args_none, SERVER },
    { "cluster.status", op_cluster_status, (const char *const[]){ "jid", NULL }, SERVER },
    { "account.sessions", op_account_sessions, args_jid, ACCOUNT },
    { "account.roster", op_account_roster, args_jid, ACCOUNT },
    { "account.pep", op_account_pep, args_jid, ACCOUNT },
    { "pubsub.nodes", op_pubsub_nodes, args_domain, DOMAIN("domain") },
    { "pubsub.delete", op_pubsub_delete, (const char *const[]){ "domain", "node", NULL },
      DOMAIN("domain") },
    { "domain.certificate", op_domain_certificate, args_name, DOMAIN("name") },
    { "account.disconnect", op_account_disconnect, args_jid, ACCOUNT },
    { "logins.failed", op_logins_failed, args_none, LIST },
    { "domain.certificate.set", op_domain_certificate_set,
      (const char *const[]){ "name", "cert", "key", NULL }, DOMAIN("name") },
    { "users.online", op_users_online, args_domain, DOMAIN("domain") },
    { "features", op_features, args_domain, DOMAIN("domain") },
    { "account.overview", op_account_overview, (const char *const[]){ "domain", "search", NULL },
      DOMAIN("domain") },
    { "s2s.close", op_s2s_close, (const char *const[]){ "id", NULL }, SERVER },
    { "queue.flush", op_queue_flush, (const char *const[]){ "target", "source", NULL }, SERVER },
    { "queue.drop", op_queue_drop, (const char *const[]){ "target", "source", NULL }, SERVER },
    { "muc.rooms", op_muc_rooms, args_domain, DOMAIN("domain") },
    { "muc.room", op_muc_room, (const char *const[]){ "domain", "room", NULL }, DOMAIN("domain") },
    { "muc.kick", op_muc_kick, (const char *const[]){ "domain", "room", "nick", "reason", NULL },
      DOMAIN("domain") },
    { "muc.ban", op_muc_ban, (const char *const[]){ "domain", "room", "jid", "reason", NULL },
      DOMAIN("domain") },
    { "muc.destroy", op_muc_destroy, (const char *const[]){ "domain", "room", "reason", NULL },
      DOMAIN("domain") },
    { "announce", op_announce, (const char *const[]){ "domain", "subject", "text", NULL },
      DOMAIN("domain") },
    { "announce.all", op_announce_all, (const char *const[]){ "subject", "text", NULL }, SERVER },
    { "session.login", op_session_login, (const char *const[]){ "user", "password", "peer", NULL },
      OWNER },
    { "session.check", op_session_check, args_jid, OWNER },
    { "archive.stats", op_archive_stats, (const char *const[]){ "domain", NULL }, SERVER },
    { "archive.purge", op_archive_purge, (const char *const[]){ "domain", "older_than_days", NULL },
      SERVER },
    { NULL, NULL, NULL, ADMIN_SCOPE_SERVER, NULL },
};

#undef SERVER
#undef LIST
#undef DOMAIN
#undef ACCOUNT
#undef OWNER

/* "notfound" for ERR_NOTFOUND: a stable word a client (the WebAdmin) can map to a status. */
static const char *code_word(int code)
{
    switch (code) {
#define ERR_WORD(name, value, text)                                                                \
    case value:                                                                                    \
        return &(#name)[4]; /* past "ERR_" */
        ERR_TABLE(ERR_WORD)
#undef ERR_WORD
    default:
        return "INTERNAL";
    }
}

/* Cuts a UTF-8 sequence left incomplete at the end of `s` (our reasons are cut to a fixed size). */
static void utf8_trim_end(char *s)
{
    size_t len = strlen(s);
    size_t i = len;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
    }
    if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0) {
        return;
    }
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (len - (i - 1) < need) {
        s[i - 1] = '\0';
    }
}

static json_t *reply_error(int code, const char *msg)
{
    char text[ADMIN_ERR_MAX];
    char word[32];
    const char *w = code_word(code);
    size_t i = 0;
    for (; w[i] != '\0' && i + 1 < sizeof(word); i++) {
        word[i] = (char)tolower((unsigned char)w[i]);
    }
    word[i] = '\0';
    snprintf(text, sizeof(text), "%s", msg);
    utf8_trim_end(text);
    json_t *r = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", text, "code", word);
    if (r == NULL) {
        /* Not valid UTF-8 after all (a module's reason): fall back to the table's text. */
        r = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", err_str(code), "code", word);
    }
    return r;
}

static int check_args(struct op_ctx *c, const struct op *op)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)c->args, key, v)
    {
        bool known = false;
        for (const char *const *n = op->args; *n != NULL; n++) {
            if (strcmp(*n, key) == 0) {
                known = true;
            }
        }
        if (!known) {
            return fail(c, ERR_INVAL, "unknown argument for %s: %s", op->name, key);
        }
    }
    return 0;
}

/* Runs `op` for the account `as` (NULL: the server's owner) when the access rule allows it;
 * under the admin's lock. */
static int run_as(struct op_ctx *c, const struct op *op, const char *as)
{
    struct admin_actor who;
    int rc;
    admin__actor_load(c->a->st, as, &who);
    rc = admin__authorize(c->a->st, &who, op->name, op->scope, op->target, c->args, c->err,
                          sizeof(c->err));
    if (rc != 0) {
        log_rec(LOG_TAG_ADMIN, LOG_PROBLEMS, 0, NULL, "admin %s by %s refused: %s", op->name,
                as != NULL ? as : "the owner", c->err);
        return rc;
    }
    rc = op->fn(c);
    if (rc == 0 && op->scope == ADMIN_SCOPE_LIST) {
        admin__filter_result(&who, op->name, c->result);
    }
    return rc;
}

json_t *admin_handle(struct admin *a, const json_t *request)
{
    return admin_handle_as(a, NULL, request);
}

json_t *admin_handle_as(struct admin *a, const char *as, const json_t *request)
{
    struct op_ctx c = { .a = a };
    const struct op *op = NULL;
    json_t *opv;
    int rc;
    if (!json_is_object(request)) {
        return reply_error(ERR_INVAL, "request must be a JSON object");
    }
    opv = json_object_get(request, "op");
    if (!json_is_string(opv)) {
        return reply_error(ERR_INVAL, "missing op (a string)");
    }
    for (const struct op *o = ops; o->name != NULL; o++) {
        if (strcmp(o->name, json_string_value(opv)) == 0) {
            op = o;
        }
    }
    if (op == NULL) {
        json_t *r;
        struct buf msg;
        buf_init(&msg, 256);
        if (buf_printf(&msg, "unknown op: %s", json_string_value(opv)) != 0) {
            buf_reset(&msg);
            buf_append_c(&msg, "unknown op");
        }
        r = reply_error(ERR_NOTFOUND, buf_cstr(&msg));
        buf_cleanup(&msg);
        return r;
    }
    c.args = json_object_get(request, "args");
    if (c.args == NULL || json_is_null(c.args)) {
        c.args = json_object();
    } else if (!json_is_object(c.args)) {
        return reply_error(ERR_INVAL, "args must be an object");
    } else {
        json_incref((json_t *)c.args);
    }
    rc = check_args(&c, op);
    if (rc == 0) {
        pthread_mutex_lock(&a->lock);
        rc = run_as(&c, op, as);
        pthread_mutex_unlock(&a->lock);
    }
    json_decref((json_t *)c.args);
    if (rc == ERR_STORE || rc == ERR_NOSPACE) {
        /* Nothing was changed: the store refused the write (issue 12, store first). */
        log_rec(LOG_TAG_ADMIN, LOG_FAILURES, 0, NULL, "%s not stored: %s", op->name,
                c.err[0] != '\0' ? c.err : err_str(rc));
    }
    if (rc != 0) {
        json_decref(c.result);
        return reply_error(rc, c.err[0] != '\0' ? c.err : err_str(rc));
    }
    return json_pack("{s:b, s:o}", "ok", 1, "result", c.result != NULL ? c.result : json_null());
}

struct admin *admin_new(const char *db_path, const struct admin_hooks *hooks, char *err,
                        size_t errlen)
{
    struct store *st = store_open(db_path, err, errlen);
    if (st == NULL) {
        return NULL;
    }
    struct admin *a = xcalloc(1, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    a->st = st;
    if (hooks != NULL) {
        a->hooks = *hooks;
    }
    return a;
}

void admin_free(struct admin *a)
{
    if (a == NULL) {
        return;
    }
    admin_socket_stop(a);
    store_close(a->st);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
