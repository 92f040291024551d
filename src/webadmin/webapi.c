/* webapi.c: the WebAdmin's /api: login and sessions, CSRF, who may do what, then the admin ops. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "auth/creds.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/version.h"
#include "jid/jid.h"
#include "store/store.h"
#include "webadmin/admin.h"
#include "webadmin/web_int.h"

#define NAME_MAX_LEN 1024
#define REASON_MAX 512

static json_t *reply_error(struct web_request *rq, unsigned status, const char *code,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static json_t *reply_error(struct web_request *rq, unsigned status, const char *code,
                           const char *fmt, ...)
{
    char text[REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    rq->status = status;
    json_t *r = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", text, "code", code);
    return r != NULL ? r : json_pack("{s:b, s:s, s:s}", "ok", 0, "error", "error", "code", code);
}

static json_t *reply_ok(struct web_request *rq, json_t *result)
{
    rq->status = 200;
    return json_pack("{s:b, s:o}", "ok", 1, "result", result != NULL ? result : json_null());
}

/* The HTTP status of an admin error code word. */
static unsigned status_of(const char *code)
{
    static const struct {
        const char *code;
        unsigned status;
    } map[] = {
        { "inval", 400 }, { "notfound", 404 }, { "exists", 409 }, { "denied", 403 },
        { "auth", 401 },  { "limit", 413 },    { "again", 503 },
    };
    for (size_t i = 0; code != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].code, code) == 0) {
            return map[i].status;
        }
    }
    return 500;
}

/* ---- identities ---- */

/* Splits "local@domain" (or "local", meaning the main domain) into its prepared parts and the
 * canonical domain; under the admin's lock. */
static int resolve_user(struct store *st, const char *user, const char *main_domain,
                        struct buf *local, struct buf *domain)
{
    struct jid j = { 0 };
    struct buf text;
    int rc;
    buf_init(&text, 2 * NAME_MAX_LEN);
    rc = strchr(user, '@') != NULL ? buf_append_c(&text, user)
                                   : buf_printf(&text, "%s@%s", user, main_domain);
    if (rc == 0 && (jid_parse(&j, buf_strv(&text)) != 0 || j.local == NULL || j.resource)) {
        rc = ERR_NOTFOUND;
    }
    if (rc == 0) {
        rc = store_domain_resolve(st, j.domain, domain);
    }
    if (rc == 0) {
        buf_reset(local);
        rc = buf_append_c(local, j.local);
    }
    jid_cleanup(&j);
    buf_cleanup(&text);
    return rc;
}

/* Fills the role of `who` (whose jid is set) from the account's settings: ERR_AUTH when the
 * account is gone or disabled, ERR_DENIED when it administers nothing. Under the lock. */
static int load_role(struct store *st, struct web_identity *who)
{
    struct account_cfg acc;
    const char *at = strchr(who->jid, '@');
    if (at == NULL || accounts_account_get(st, who->jid, &acc) != 0 || acc.disabled) {
        return ERR_AUTH;
    }
    who->server_admin = acc.admin;
    snprintf(who->domain, sizeof(who->domain), "%s", at + 1);
    return acc.admin || acc.domain_admin ? 0 : ERR_DENIED;
}

/* Checks a password; fills `who`. ERR_AUTH (unknown user, wrong password, disabled) or
 * ERR_DENIED (not an administrator). */
static int verify_login(struct webadmin *w, const char *user, const char *password,
                        struct web_identity *who)
{
    char main_domain[256];
    struct buf local, domain;
    struct auth_creds creds;
    int rc;
    memset(&creds, 0, sizeof(creds));
    memset(who, 0, sizeof(*who));
    web_main_domain(w, main_domain, sizeof(main_domain));
    buf_init(&local, NAME_MAX_LEN);
    buf_init(&domain, NAME_MAX_LEN);
    struct store *st = admin__lock(web_admin(w));
    rc = resolve_user(st, user, main_domain, &local, &domain);
    if (rc == 0) {
        rc = accounts_lookup_creds(st, buf_cstr(&domain), buf_cstr(&local), &creds);
    }
    if (rc == 0 && (creds.disabled || auth_creds_verify_password(&creds, password) != 0)) {
        rc = ERR_AUTH;
    }
    if (rc == 0) {
        snprintf(who->jid, sizeof(who->jid), "%s@%s", buf_cstr(&local), buf_cstr(&domain));
        rc = load_role(st, who);
    } else {
        rc = ERR_AUTH;
    }
    admin__unlock(web_admin(w));
    auth_creds_cleanup(&creds);
    buf_cleanup(&local);
    buf_cleanup(&domain);
    return rc;
}

static void identity_json(json_t *obj, const struct web_identity *who, const char *csrf)
{
    json_object_set_new(obj, "jid", json_string(who->jid));
    json_object_set_new(obj, "role", json_string(who->server_admin ? "server" : "domain"));
    json_object_set_new(obj, "domain", who->server_admin ? json_null() : json_string(who->domain));
    json_object_set_new(obj, "csrf", json_string(csrf));
    json_object_set_new(obj, "server", json_pack("{s:s, s:s}", "name", STARLING_NAME, "version",
                                                 STARLING_VERSION));
}

static json_t *do_login(struct webadmin *w, struct web_request *rq, json_t *args)
{
    const char *user = json_string_value(json_object_get(args, "user"));
    const char *password = json_string_value(json_object_get(args, "password"));
    struct web_identity who;
    struct web_session s;
    int wait = web_login_blocked(rq->peer);
    if (wait > 0) {
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, rq->peer,
                "WebAdmin login refused: too many failed logins from this address");
        return reply_error(rq, 429, "limit",
                           "too many failed logins from %s; try again in %d seconds", rq->peer,
                           wait);
    }
    if (user == NULL || password == NULL || user[0] == '\0') {
        return reply_error(rq, 400, "inval", "user and password are required");
    }
    int rc = verify_login(w, user, password, &who);
    if (rc != 0) {
        web_login_failed(rq->peer);
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, rq->peer, "WebAdmin login failed for %.200s: %s",
                user, rc == ERR_DENIED ? "not an administrator" : "wrong name or password");
        if (rc == ERR_DENIED) {
            return reply_error(rq, 403, "denied", "%.200s is not an administrator", user);
        }
        return reply_error(rq, 401, "auth", "wrong user name or password");
    }
    web_login_succeeded(rq->peer);
    web_session_create(&who, &s);
    snprintf(rq->set_cookie, sizeof(rq->set_cookie),
             "sid=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s", s.id, WEB_SESSION_MAX_AGE,
             rq->secure ? "; Secure" : "");
    if (who.server_admin) {
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, rq->peer, "WebAdmin login: %s (server administrator)",
                who.jid);
    } else {
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, rq->peer,
                "WebAdmin login: %s (administrator of %s)", who.jid, who.domain);
    }
    json_t *result = json_object();
    identity_json(result, &who, s.csrf);
    return reply_ok(rq, result);
}

/* ---- what a domain administrator may do ---- */

/* True when `name` (a domain, alias or, with is_jid, an account address) is in who's domain. */
static bool in_own_domain(struct webadmin *w, const struct web_identity *who, const char *name,
                          bool is_jid)
{
    struct jid j = { 0 };
    struct buf prepped, canon;
    bool ok = false;
    buf_init(&prepped, NAME_MAX_LEN);
    buf_init(&canon, NAME_MAX_LEN);
    if (is_jid) {
        ok = jid_parse(&j, strv_c(name)) == 0 && j.local != NULL &&
             buf_append_c(&prepped, j.domain) == 0;
    } else {
        ok = jid_nameprep(strv_c(name), &prepped) == 0;
    }
    if (ok) {
        struct store *st = admin__lock(web_admin(w));
        ok = store_domain_resolve(st, buf_cstr(&prepped), &canon) == 0 &&
             strcmp(buf_cstr(&canon), who->domain) == 0;
        admin__unlock(web_admin(w));
    }
    jid_cleanup(&j);
    buf_cleanup(&prepped);
    buf_cleanup(&canon);
    return ok;
}

/* True when `name` is the address of an account holding an administrator's right (server or
 * domain) other than `who` itself: a domain administrator changes only ordinary accounts and its
 * own. */
static bool privileged_other(struct webadmin *w, const struct web_identity *who, const char *name)
{
    struct jid j = { 0 };
    struct buf canon, bare;
    struct account_cfg acc;
    bool privileged = false;
    buf_init(&canon, NAME_MAX_LEN);
    buf_init(&bare, 2 * NAME_MAX_LEN);
    if (jid_parse(&j, strv_c(name)) == 0 && j.local != NULL) {
        struct store *st = admin__lock(web_admin(w));
        if (store_domain_resolve(st, j.domain, &canon) == 0 &&
            buf_printf(&bare, "%s@%s", j.local, buf_cstr(&canon)) == 0 &&
            strcmp(buf_cstr(&bare), who->jid) != 0 &&
            accounts_account_get(st, buf_cstr(&bare), &acc) == 0) {
            privileged = acc.admin || acc.domain_admin;
        }
        admin__unlock(web_admin(w));
    }
    jid_cleanup(&j);
    buf_cleanup(&canon);
    buf_cleanup(&bare);
    return privileged;
}

static bool read_only(const char *op);

struct scoped_op {
    const char *op;
    const char *arg;     /* the argument naming the domain or account; NULL: results filtered */
    bool is_jid;
    const char *denied_key; /* a key of "settings" reserved to server administrators */
};

static const struct scoped_op domain_admin_ops[] = {
    { "domain.list", NULL, false, NULL },
    { "connections", NULL, false, NULL },
    { "domain.show", "name", false, NULL },
    { "domain.set", "name", false, "aliases" },
    { "account.list", "domain", false, NULL },
    { "account.add", "jid", true, NULL },
    { "account.remove", "jid", true, NULL },
    { "account.passwd", "jid", true, NULL },
    { "account.show", "jid", true, NULL },
    { "account.set", "jid", true, "admin" },
    { "account.sessions", "jid", true, NULL },
    { "account.roster", "jid", true, NULL },
    { "domain.certificate", "name", false, NULL },
    { "account.disconnect", "jid", true, NULL },
    { "presence", "jid", true, NULL },
    { "invite", "domain", false, NULL },
};

/* 0, or ERR_DENIED with the reason. */
static int authorize(struct webadmin *w, const struct web_identity *who, const char *op,
                     json_t *args, char *why, size_t whylen)
{
    const struct scoped_op *so = NULL;
    if (who->server_admin) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(domain_admin_ops) / sizeof(domain_admin_ops[0]); i++) {
        if (strcmp(domain_admin_ops[i].op, op) == 0) {
            so = &domain_admin_ops[i];
        }
    }
    if (so == NULL) {
        snprintf(why, whylen, "only a server administrator may use %.100s", op);
        return ERR_DENIED;
    }
    if (so->arg != NULL) {
        const char *name = json_string_value(json_object_get(args, so->arg));
        if (name != NULL && !in_own_domain(w, who, name, so->is_jid)) {
            snprintf(why, whylen, "%.200s is not in your domain %s", name, who->domain);
            return ERR_DENIED;
        }
        if (name != NULL && so->is_jid && !read_only(op) && privileged_other(w, who, name)) {
            snprintf(why, whylen, "%.200s is an administrator: only a server administrator may "
                     "change it", name);
            return ERR_DENIED;
        }
    }
    if (so->denied_key != NULL &&
        json_object_get(json_object_get(args, "settings"), so->denied_key) != NULL) {
        snprintf(why, whylen, "only a server administrator may change %s", so->denied_key);
        return ERR_DENIED;
    }
    return 0;
}

/* The domain part of a JID "local@domain/resource" equals `domain`. */
static bool jid_in_domain(const char *jid, const char *domain)
{
    const char *at = jid != NULL ? strchr(jid, '@') : NULL;
    size_t n = strlen(domain);
    if (at == NULL) {
        return false;
    }
    return strncmp(at + 1, domain, n) == 0 && (at[1 + n] == '\0' || at[1 + n] == '/');
}

/* A domain administrator sees only their domain in lists of the whole server. */
static void filter_result(const struct web_identity *who, const char *op, json_t *result)
{
    size_t i = 0;
    if (who->server_admin || !json_is_array(result)) {
        return;
    }
    while (i < json_array_size(result)) {
        json_t *item = json_array_get(result, i);
        bool keep = true;
        if (strcmp(op, "domain.list") == 0) {
            keep = json_is_string(item) && strcmp(json_string_value(item), who->domain) == 0;
        } else if (strcmp(op, "connections") == 0) {
            keep = jid_in_domain(json_string_value(json_object_get(item, "jid")), who->domain);
        }
        if (keep) {
            i++;
        } else {
            json_array_remove(result, i);
        }
    }
}

/* ---- the record of who did what ---- */

static bool read_only(const char *op)
{
    static const char *const exact[] = { "connections", "stats", "queues", "presence" };
    static const char *const suffixes[] = { ".list", ".show", ".get", ".sessions", ".history",
                                            ".read" };
    size_t n = strlen(op);
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        if (strcmp(op, exact[i]) == 0) {
            return true;
        }
    }
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t m = strlen(suffixes[i]);
        if (n > m && strcmp(op + n - m, suffixes[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* A copy of the arguments with every password replaced by "***". */
static json_t *masked(const json_t *args, const char *op)
{
    json_t *copy = json_deep_copy(args);
    const char *key;
    json_t *v;
    json_object_foreach(copy, key, v) {
        if (strstr(key, "pass") != NULL && strcmp(key, "password_storage") != 0) {
            json_object_set_new(copy, key, json_string("***"));
        } else if (json_is_object(v)) {
            json_t *inner = masked(v, op);
            json_object_set_new(copy, key, inner);
        }
    }
    /* settings.set {"key": "…pass…", "value": …} */
    const char *k = json_string_value(json_object_get(copy, "key"));
    if (k != NULL && strstr(k, "pass") != NULL && json_object_get(copy, "value") != NULL) {
        json_object_set_new(copy, "value", json_string("***"));
    }
    return copy;
}

static void log_action(const struct web_request *rq, const struct web_identity *who,
                       const char *op, const json_t *args, json_t *resp)
{
    json_t *m = masked(args, op);
    char *text = json_dumps(m, JSON_COMPACT);
    bool ok = json_is_true(json_object_get(resp, "ok"));
    const char *error = json_string_value(json_object_get(resp, "error"));
    log_rec(LOG_TAG_ADMIN, ok ? LOG_MAJOR : LOG_PROBLEMS, 0, rq->peer,
            "WebAdmin %s: %s %.1000s: %s", who->jid, op, text != NULL ? text : "{}", ok ? "done" : (error ? error : "failed"));
    free(text);
    json_decref(m);
}

/* ---- dispatch ---- */

static json_t *http_only_op(struct webadmin *w, struct web_request *rq, const char *op,
                            json_t *args, bool *handled)
{
    *handled = true;
    if (strcmp(op, "stats.history") == 0) {
        return reply_ok(rq, web_stats_history(w));
    }
    if (strcmp(op, "logs.list") == 0) {
        return reply_ok(rq, web_logs_list(web_log_dir(w)));
    }
    if (strcmp(op, "logs.read") == 0) {
        char err[REASON_MAX] = "";
        json_t *out = NULL;
        int rc = web_logs_read(web_log_dir(w), args, &out, err, sizeof(err));
        if (rc != 0) {
            return reply_error(rq, rc == ERR_NOTFOUND ? 404 : 400,
                               rc == ERR_NOTFOUND ? "notfound" : "inval", "%s", err);
        }
        return reply_ok(rq, out);
    }
    *handled = false;
    return NULL;
}

/* Runs an authorized op: the WebAdmin's own ops, else the admin API's. */
static json_t *run_op(struct webadmin *w, struct web_request *rq, const struct web_identity *who,
                      const char *op, json_t *req, json_t *args)
{
    bool handled;
    json_t *resp = http_only_op(w, rq, op, args, &handled);
    if (handled) {
        return resp;
    }
    resp = admin_handle(web_admin(w), req);
    if (json_is_true(json_object_get(resp, "ok"))) {
        filter_result(who, op, json_object_get(resp, "result"));
        rq->status = 200;
    } else {
        rq->status = status_of(json_string_value(json_object_get(resp, "code")));
    }
    return resp;
}

static json_t *with_session(struct webadmin *w, struct web_request *rq, const char *op,
                            json_t *req, json_t *args)
{
    struct web_session s;
    char why[REASON_MAX];
    if (rq->sid == NULL || web_session_find(rq->sid, web_session_timeout(w), &s) != 0) {
        return reply_error(rq, 401, "auth", "not logged in (or the session expired)");
    }
    struct store *st = admin__lock(web_admin(w));
    int rc = load_role(st, &s.who);
    admin__unlock(web_admin(w));
    if (rc != 0) {
        web_session_remove(s.id);
        return reply_error(rq, 401, "auth", "%s may no longer administer this server", s.who.jid);
    }
    if (strcmp(op, "whoami") == 0) {
        json_t *result = json_object();
        identity_json(result, &s.who, s.csrf);
        return reply_ok(rq, result);
    }
    if (rq->csrf == NULL || !web_token_eq(rq->csrf, s.csrf)) {
        log_rec(LOG_TAG_ADMIN, LOG_PROBLEMS, 0, rq->peer,
                "WebAdmin %s: %s refused: missing or wrong CSRF token", s.who.jid, op);
        return reply_error(rq, 403, "csrf", "missing or wrong X-CSRF-Token header");
    }
    if (strcmp(op, "logout") == 0) {
        web_session_remove(s.id);
        snprintf(rq->set_cookie, sizeof(rq->set_cookie),
                 "sid=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
                 rq->secure ? "; Secure" : "");
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, rq->peer, "WebAdmin logout: %s", s.who.jid);
        return reply_ok(rq, NULL);
    }
    if (authorize(w, &s.who, op, args, why, sizeof(why)) != 0) {
        log_rec(LOG_TAG_ADMIN, LOG_PROBLEMS, 0, rq->peer, "WebAdmin %s: %s refused: %s",
                s.who.jid, op, why);
        return reply_error(rq, 403, "denied", "%s", why);
    }
    json_t *resp = run_op(w, rq, &s.who, op, req, args);
    if (!read_only(op)) {
        log_action(rq, &s.who, op, args, resp);
    }
    return resp;
}

json_t *web_api(struct webadmin *w, struct web_request *rq)
{
    json_error_t jerr;
    json_t *req = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *resp;
    if (req == NULL) {
        return reply_error(rq, 400, "inval", "invalid JSON at column %d: %s", jerr.column,
                           jerr.text);
    }
    const char *op = json_string_value(json_object_get(req, "op"));
    json_t *args = json_object_get(req, "args");
    if (!json_is_object(req) || op == NULL) {
        resp = reply_error(rq, 400, "inval", "the request must be {\"op\": …, \"args\": {…}}");
    } else if (args != NULL && !json_is_object(args) && !json_is_null(args)) {
        resp = reply_error(rq, 400, "inval", "args must be an object");
    } else {
        json_t *a = json_is_object(args) ? json_incref(args) : json_object();
        if (strcmp(op, "login") == 0) {
            resp = do_login(w, rq, a);
        } else {
            resp = with_session(w, rq, op, req, a);
        }
        json_decref(a);
    }
    json_decref(req);
    return resp;
}
