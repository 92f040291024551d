/* webapi.c: the WebAdmin's /api: login and sessions, CSRF, who may do what, then the admin ops. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/version.h"
#include "admin/admin.h"
#include "webadmin/web_int.h"

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
        { "auth", 401 },  { "limit", 413 },    { "again", 503 },  { "nospace", 507 },
    };
    for (size_t i = 0; code != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].code, code) == 0) {
            return map[i].status;
        }
    }
    return 500;
}

/* ---- identities: the admin API's session.* ops (src/admin/api.c) ---- */

/* The error of an admin reply as a code: ERR_LIMIT (the account is locked), ERR_DENIED (not an
 * administrator), ERR_AUTH for every other failure. */
static int reply_code(const json_t *resp)
{
    const char *code = json_string_value(json_object_get(resp, "code"));
    if (code != NULL && strcmp(code, "limit") == 0) {
        return ERR_LIMIT;
    }
    return code != NULL && strcmp(code, "denied") == 0 ? ERR_DENIED : ERR_AUTH;
}

/* Runs one session.* op as the server's owner; fills `who` from its answer. */
static int session_op(struct webadmin *w, json_t *req, struct web_identity *who)
{
    json_t *resp = req != NULL ? admin_handle(web_admin(w), req) : NULL;
    json_t *result = json_object_get(resp, "result");
    const char *jid = json_string_value(json_object_get(result, "jid"));
    const char *role = json_string_value(json_object_get(result, "role"));
    const char *domain = json_string_value(json_object_get(result, "domain"));
    int rc = 0;
    if (!json_is_true(json_object_get(resp, "ok"))) {
        rc = reply_code(resp);
    } else if (jid == NULL || role == NULL || domain == NULL) {
        rc = ERR_AUTH;
    } else {
        memset(who, 0, sizeof(*who));
        snprintf(who->jid, sizeof(who->jid), "%s", jid);
        who->server_admin = strcmp(role, "server") == 0;
        snprintf(who->domain, sizeof(who->domain), "%s", domain);
    }
    json_decref(resp);
    json_decref(req);
    return rc;
}

/* Checks a password (session.login); fills `who`. ERR_AUTH (unknown user, wrong password,
 * disabled), ERR_LIMIT (the account is locked) or ERR_DENIED (not an administrator). */
static int verify_login(struct webadmin *w, struct web_request *rq, const char *user,
                        const char *password, struct web_identity *who)
{
    memset(who, 0, sizeof(*who));
    return session_op(w,
                      json_pack("{s:s, s:{s:s, s:s, s:s?}}", "op", "session.login", "args", "user",
                                user, "password", password, "peer", rq->peer),
                      who);
}

/* Reads the role of a session's account again (session.check): ERR_AUTH when the account is
 * gone or disabled, ERR_DENIED when it administers nothing any more. */
static int load_role(struct webadmin *w, struct web_identity *who)
{
    return session_op(
        w, json_pack("{s:s, s:{s:s}}", "op", "session.check", "args", "jid", who->jid), who);
}

static void identity_json(json_t *obj, const struct web_identity *who, const char *csrf)
{
    json_object_set_new(obj, "jid", json_string(who->jid));
    json_object_set_new(obj, "role", json_string(who->server_admin ? "server" : "domain"));
    json_object_set_new(obj, "domain", who->server_admin ? json_null() : json_string(who->domain));
    json_object_set_new(obj, "csrf", json_string(csrf));
    json_object_set_new(
        obj, "server", json_pack("{s:s, s:s}", "name", STARLING_NAME, "version", STARLING_VERSION));
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
    int rc = verify_login(w, rq, user, password, &who);
    if (rc == ERR_LIMIT) {
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, rq->peer,
                "WebAdmin login refused for %.200s: the account is locked after failed logins",
                user);
        return reply_error(rq, 429, "limit",
                           "too many failed logins for this account; try again later");
    }
    if (rc != 0) {
        web_login_failed(rq->peer);
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, rq->peer, "WebAdmin login failed for %.200s: %s", user,
                rc == ERR_DENIED ? "not an administrator" : "wrong name or password");
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
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, rq->peer, "WebAdmin login: %s (administrator of %s)",
                who.jid, who.domain);
    }
    json_t *result = json_object();
    identity_json(result, &who, s.csrf);
    return reply_ok(rq, result);
}

/* ---- what a domain administrator may do ---- */

/* The WebAdmin's own ops (the System Log, the counters' history) are for server administrators;
 * the admin API's ops are checked by admin_handle_as (access.c), one rule for every door. */
static bool http_only(const char *op)
{
    return strcmp(op, "stats.history") == 0 || strcmp(op, "logs.list") == 0 ||
           strcmp(op, "logs.read") == 0;
}

/* ---- the record of who did what ---- */

static bool read_only(const char *op)
{
    static const char *const exact[] = { "connections", "stats",        "queues",
                                         "presence",    "users.online", "cluster.status" };
    static const char *const suffixes[] = { ".list",     ".show",    ".get",
                                            ".sessions", ".history", ".read" };
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
    json_object_foreach(copy, key, v)
    {
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

static void log_action(const struct web_request *rq, const struct web_identity *who, const char *op,
                       const json_t *args, json_t *resp)
{
    json_t *m = masked(args, op);
    char *text = json_dumps(m, JSON_COMPACT);
    bool ok = json_is_true(json_object_get(resp, "ok"));
    const char *error = json_string_value(json_object_get(resp, "error"));
    log_rec(LOG_TAG_ADMIN, ok ? LOG_MAJOR : LOG_PROBLEMS, 0, rq->peer,
            "WebAdmin %s: %s %.1000s: %s", who->jid, op, text != NULL ? text : "{}",
            ok ? "done" : (error ? error : "failed"));
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
    resp = admin_handle_as(web_admin(w), who->jid, req);
    if (json_is_true(json_object_get(resp, "ok"))) {
        rq->status = 200;
    } else {
        rq->status = status_of(json_string_value(json_object_get(resp, "code")));
    }
    return resp;
}

static json_t *with_session(struct webadmin *w, struct web_request *rq, const char *op, json_t *req,
                            json_t *args)
{
    struct web_session s;
    if (rq->sid == NULL || web_session_find(rq->sid, web_session_timeout(w), &s) != 0) {
        return reply_error(rq, 401, "auth", "not logged in (or the session expired)");
    }
    int rc = load_role(w, &s.who);
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
    if (http_only(op) && !s.who.server_admin) {
        log_rec(LOG_TAG_ADMIN, LOG_PROBLEMS, 0, rq->peer, "WebAdmin %s: %s refused: %s", s.who.jid,
                op, "only a server administrator may use it");
        return reply_error(rq, 403, "denied", "only a server administrator may use %.100s", op);
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
