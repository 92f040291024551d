/* fuzz_admin_api.c: libFuzzer target for the admin API's JSON requests: the WebAdmin's /api
 * (sessions, CSRF, who may do what, then the admin ops) as each kind of caller, and the control
 * socket's dispatcher, against a temporary store put back after every input. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "accounts/accounts.h"
#include "accounts/accounts_int.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/settings.h"
#include "store/store.h"
#include "admin/admin.h"
#include "webadmin/http.h"
#include "webadmin/web_int.h"
#include "fuzz_check.h"
#include "fuzz_db.h"

/* Input layout: requests separated by '\n'; a request's first byte picks the caller
 * (byte % ROLE_COUNT), the rest is the JSON body. At most MAX_REQUESTS per input. */
enum role {
    ROLE_SERVER,   /* postmaster@example.com, a server administrator, over HTTP */
    ROLE_DOMAIN,   /* admin@example.com, administrator of example.com */
    ROLE_OTHER,    /* admin@other.org, administrator of other.org */
    ROLE_USER,     /* user@example.com, an ordinary account holding a session cookie */
    ROLE_ANON,     /* no session */
    ROLE_BAD_CSRF, /* the server administrator's session with a wrong X-CSRF-Token */
    ROLE_SOCKET,   /* the control socket (starlingctl): admin_handle without a session */
    ROLE_COUNT,
};
#define MAX_REQUESTS 32
#define PEER "192.0.2.7"
#define MAIN_DOMAIN "example.com"

/* The WebAdmin's assets are generated at build time (mk/webadmin.mk); none are served here. */
const struct web_asset web_assets[] = { { NULL, NULL, 0 } };

static struct fuzz_db snapshot;
static struct admin *admin;
static struct webadmin *web;
static struct settings *cfg;
static struct web_session sessions[ROLE_COUNT];
static enum role current;
static bool trace; /* FUZZ_ADMIN_TRACE set: each request and response on stderr */

struct account {
    const char *jid;
    const char *password;
    const char *key; /* a yes/no setting, or NULL */
};

static const struct account accounts[] = {
    { "postmaster@" MAIN_DOMAIN, "pm-secret", "admin" },
    { "admin@" MAIN_DOMAIN, "da-secret", "domain_admin" },
    { "user@" MAIN_DOMAIN, "user-secret", NULL },
    { "other@" MAIN_DOMAIN, "other-secret", NULL },
    { "admin@other.org", "oa-secret", "domain_admin" },
    { "user@other.org", "ou-secret", NULL },
};

/* ---- who may change what ---- */

/* The domain a caller administers: NULL for every domain, "" for none. */
static const char *scope_of(enum role r)
{
    switch (r) {
    case ROLE_SERVER:
    case ROLE_SOCKET:
        return NULL;
    case ROLE_DOMAIN:
        return MAIN_DOMAIN;
    case ROLE_OTHER:
        return "other.org";
    default:
        return "";
    }
}

static void digest_rows(sqlite3 *db, const char *sql, const char *param, struct buf *out)
{
    sqlite3_stmt *q = NULL;
    FUZZ_CHECK(sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK);
    if (param != NULL) {
        sqlite3_bind_text(q, 1, param, -1, SQLITE_TRANSIENT);
    }
    while (sqlite3_step(q) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(q); i++) {
            const unsigned char *v = sqlite3_column_text(q, i);
            buf_printf(out, "%s\x1f", v != NULL ? (const char *)v : "");
        }
        buf_append_char(out, '\n');
    }
    sqlite3_finalize(q);
}

/* The accounts a caller with `scope` must leave alone, fixed before its request: every account
 * outside its domain or holding an administrator's right, except its own (a domain
 * administrator acts on the ordinary accounts of its own domain and on itself only). */
static void protect_accounts(const char *scope, const char *self)
{
    sqlite3_stmt *q = NULL;
    fuzz_db_exec(&snapshot, "CREATE TEMP TABLE IF NOT EXISTS fuzz_protected (domain, name); "
                            "DELETE FROM fuzz_protected");
    FUZZ_CHECK(
        sqlite3_prepare_v2(snapshot.db,
                           "INSERT INTO fuzz_protected SELECT domain, name FROM accounts a "
                           "WHERE a.domain <> ?1 OR EXISTS (SELECT 1 FROM account_settings x "
                           "WHERE x.domain = a.domain AND x.name = a.name AND x.key IN "
                           "('admin', 'domain_admin') AND x.value = 'yes') EXCEPT "
                           "SELECT ?3, ?2",
                           -1, &q, NULL) == SQLITE_OK);
    sqlite3_bind_text(q, 1, scope, -1, SQLITE_TRANSIENT);
    const char *at = self != NULL ? strchr(self, '@') : NULL;
    if (at != NULL) {
        sqlite3_bind_text(q, 2, self, (int)(at - self), SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 3, at + 1, -1, SQLITE_TRANSIENT);
    }
    FUZZ_CHECK(sqlite3_step(q) == SQLITE_DONE);
    sqlite3_finalize(q);
}

/* What a caller with `scope` must not change: the domains, the aliases and settings of other
 * domains, and the protected accounts with their credentials and settings. */
static void protected_state(const char *scope, struct buf *out)
{
    sqlite3 *db = snapshot.db;
    buf_reset(out);
    digest_rows(db, "SELECT name FROM domains ORDER BY name", NULL, out);
    digest_rows(db, "SELECT alias, domain FROM domain_aliases ORDER BY alias", NULL, out);
    digest_rows(db,
                "SELECT domain, key, value FROM domain_settings WHERE domain <> ?1 "
                "ORDER BY domain, key",
                scope, out);
    digest_rows(db,
                "SELECT p.domain, p.name, a.credentials, s.key, s.value FROM fuzz_protected p "
                "LEFT JOIN accounts a ON a.domain = p.domain AND a.name = p.name "
                "LEFT JOIN account_settings s ON s.domain = p.domain AND s.name = p.name "
                "ORDER BY p.domain, p.name, s.key",
                NULL, out);
}

/* ---- the server's side of the admin API (hooks) ---- */

static bool is_protected_jid(const char *jid)
{
    const char *scope = scope_of(current);
    const char *at = jid != NULL ? strchr(jid, '@') : NULL;
    if (scope == NULL) {
        return false;
    }
    if (at == NULL || strcmp(at + 1, scope) != 0) {
        return true;
    }
    bool self = (current == ROLE_DOMAIN && strcmp(jid, "admin@" MAIN_DOMAIN) == 0) ||
                (current == ROLE_OTHER && strcmp(jid, "admin@other.org") == 0);
    for (size_t i = 0; !self && i < sizeof(accounts) / sizeof(accounts[0]); i++) {
        if (accounts[i].key != NULL && strcmp(accounts[i].jid, jid) == 0) {
            return true;
        }
    }
    return false;
}

static int hook_settings_set(void *ud, const char *key, const char *value, char *err, size_t errlen)
{
    (void)ud;
    FUZZ_CHECK(scope_of(current) == NULL);
    return settings_set(cfg, key, value, err, errlen);
}

static json_t *hook_settings_get(void *ud)
{
    (void)ud;
    return json_pack("{s:s, s:s}", "server.main_domain", cfg->server.main_domain,
                     "xmpp.receiving.require_tls", cfg->xmpp.receiving.require_tls ? "yes" : "no");
}

static json_t *hook_connections(void *ud)
{
    (void)ud;
    return json_pack("[{s:I, s:s, s:s, s:s, s:s}, {s:I, s:s, s:s, s:s, s:s}]", "id", (json_int_t)1,
                     "kind", "c2s", "state", "bound", "peer", "[::1]:1", "jid",
                     "user@" MAIN_DOMAIN "/r", "id", (json_int_t)2, "kind", "c2s", "state", "bound",
                     "peer", "[::1]:2", "jid", "user@other.org/r");
}

static json_t *hook_queues(void *ud)
{
    (void)ud;
    return json_array();
}

static void hook_changed(void *ud, const char *name)
{
    (void)ud;
    FUZZ_CHECK(name != NULL && name[0] != '\0');
}

static int hook_send(void *ud, const char *from, const char *to, const char *text, char *err,
                     size_t errlen)
{
    (void)ud;
    (void)err;
    (void)errlen;
    FUZZ_CHECK(scope_of(current) == NULL);
    FUZZ_CHECK(from != NULL && to != NULL && text != NULL);
    return 0;
}

static json_t *hook_stats(void *ud)
{
    (void)ud;
    return json_pack("{s:i, s:i}", "connections", 2, "stanzas_in", 5);
}

static json_t *hook_certificate(void *ud, const char *domain)
{
    (void)ud;
    return strcmp(domain, MAIN_DOMAIN) == 0 ? json_pack("{s:s}", "subject", "CN=" MAIN_DOMAIN)
                                            : NULL;
}

static json_t *hook_presence(void *ud, const char *jid)
{
    (void)ud;
    return json_pack("{s:s, s:b, s:[]}", "jid", jid, "available", 0, "resources");
}

static void hook_disconnect(void *ud, const char *jid)
{
    (void)ud;
    FUZZ_CHECK(!is_protected_jid(jid));
}

static const struct admin_hooks hooks = {
    .settings_set = hook_settings_set,
    .settings_get = hook_settings_get,
    .connections = hook_connections,
    .queues = hook_queues,
    .domain_changed = hook_changed,
    .account_changed = hook_changed,
    .send_message = hook_send,
    .stats = hook_stats,
    .certificate = hook_certificate,
    .presence = hook_presence,
    .disconnect = hook_disconnect,
};

/* ---- set-up ---- */

static void make_store(const char *path)
{
    char err[512] = "";
    struct store *st = store_open(path, err, sizeof(err));
    FUZZ_CHECK(st != NULL);
    FUZZ_CHECK(accounts_domain_add(st, MAIN_DOMAIN, err, sizeof(err)) == 0);
    FUZZ_CHECK(accounts_domain_add(st, "other.org", err, sizeof(err)) == 0);
    FUZZ_CHECK(
        accounts_domain_set(st, "other.org", "aliases", "alias.other.org", err, sizeof(err)) == 0);
    for (size_t i = 0; i < sizeof(accounts) / sizeof(accounts[0]); i++) {
        const struct account *a = &accounts[i];
        FUZZ_CHECK(accounts_account_add(st, a->jid, a->password, err, sizeof(err)) == 0);
        if (a->key != NULL) {
            FUZZ_CHECK(accounts_account_set(st, a->jid, a->key, "yes", err, sizeof(err)) == 0);
        }
    }
    store_close(st);
}

/* A few records in SystemLogs for logs.list and logs.read. */
static void make_logs(const char *datadir)
{
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s/SystemLogs", datadir);
    struct log_options lo = { .dir = dir, .max_file_size = 1 << 20 };
    FUZZ_CHECK(log_open(&lo) == 0);
    log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, PEER, "WebAdmin login: postmaster@" MAIN_DOMAIN);
    log_rec(LOG_TAG_XMPPS, LOG_PROBLEMS, 7, "[::1]:5", "stream error not-authorized");
    log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "disk full");
    log_close();
}

static void quiet_log(void)
{
    for (int t = 0; t < LOG_TAG_COUNT; t++) {
        log_set_level((enum log_tag)t, LOG_NONE);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char datadir[1024], db[1100], err[512] = "";
    trace = getenv("FUZZ_ADMIN_TRACE") != NULL;
    fuzz_db_tempdir(datadir, sizeof(datadir));
    snprintf(db, sizeof(db), "%s/starling.db", datadir);
    make_store(db);
    make_logs(datadir);
    quiet_log();
    fuzz_db_snapshot(&snapshot, db, NULL);
    cfg = xcalloc(1, sizeof(*cfg));
    settings_defaults(cfg);
    snprintf(cfg->server.main_domain, sizeof(cfg->server.main_domain), "%s", MAIN_DOMAIN);
    admin = admin_new(db, &hooks, err, sizeof(err));
    FUZZ_CHECK(admin != NULL);
    web = webadmin_new(admin, datadir);
    /* Takes the main domain and the session timeout; no socket is opened before a start. */
    webadmin_reconfigure(web, cfg);
    return 0;
}

/* Fresh logins for every caller that has one (a request may have logged one out); the previous
 * input's are removed (clearing the whole table each time would cost megabytes per input). */
static void open_sessions(void)
{
    static const struct {
        enum role role;
        const char *jid;
        bool server_admin;
        const char *domain;
    } who[] = {
        { ROLE_SERVER, "postmaster@" MAIN_DOMAIN, true, MAIN_DOMAIN },
        { ROLE_DOMAIN, "admin@" MAIN_DOMAIN, false, MAIN_DOMAIN },
        { ROLE_OTHER, "admin@other.org", false, "other.org" },
        { ROLE_USER, "user@" MAIN_DOMAIN, false, MAIN_DOMAIN },
    };
    for (int r = 0; r < ROLE_COUNT; r++) {
        if (sessions[r].id[0] != '\0') {
            web_session_remove(sessions[r].id);
        }
    }
    web_login_succeeded(PEER);
    for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
        struct web_identity id;
        memset(&id, 0, sizeof(id));
        snprintf(id.jid, sizeof(id.jid), "%s", who[i].jid);
        id.server_admin = who[i].server_admin;
        snprintf(id.domain, sizeof(id.domain), "%s", who[i].domain);
        web_session_create(&id, &sessions[who[i].role]);
    }
    sessions[ROLE_BAD_CSRF] = sessions[ROLE_SERVER];
}

/* ---- one request ---- */

static void check_response(const json_t *resp, const struct web_request *rq, bool web_call)
{
    FUZZ_CHECK(json_is_object(resp));
    const json_t *ok = json_object_get(resp, "ok");
    FUZZ_CHECK(json_is_boolean(ok));
    if (json_is_false(ok)) {
        FUZZ_CHECK(json_is_string(json_object_get(resp, "error")));
        FUZZ_CHECK(json_is_string(json_object_get(resp, "code")));
    } else {
        FUZZ_CHECK(json_object_get(resp, "result") != NULL);
    }
    if (web_call) {
        FUZZ_CHECK(json_is_true(ok) == (rq->status == 200));
        FUZZ_CHECK(rq->status >= 200 && rq->status < 600);
    }
    char *text = json_dumps(resp, JSON_COMPACT);
    FUZZ_CHECK(text != NULL); /* every answer can be sent */
    if (trace) {
        fprintf(stderr, "<- %u %s\n", rq->status, text);
    }
    free(text);
}

/* Which ops a caller without an administrator's session may run successfully. */
static void check_refused(enum role r, const char *body, size_t len, const json_t *resp)
{
    if (!json_is_true(json_object_get(resp, "ok"))) {
        return;
    }
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const char *op = json_string_value(json_object_get(req, "op"));
    bool allowed = op != NULL &&
                   (strcmp(op, "login") == 0 || (r == ROLE_BAD_CSRF && strcmp(op, "whoami") == 0));
    if (!allowed) {
        fprintf(stderr, "fuzz_admin_api: caller %d got ok for %.*s\n", (int)r, (int)len, body);
    }
    FUZZ_CHECK(allowed);
    json_decref(req);
}

static void run_request(enum role r, const char *body, size_t len)
{
    struct web_request rq;
    struct buf before, after;
    json_t *resp;
    const char *scope = scope_of(r);
    buf_init(&before, 1 << 22);
    buf_init(&after, 1 << 22);
    if (scope != NULL) {
        protect_accounts(scope, r == ROLE_DOMAIN  ? "admin@" MAIN_DOMAIN
                                : r == ROLE_OTHER ? "admin@other.org"
                                                  : NULL);
        protected_state(scope, &before);
    }
    if (trace) {
        fprintf(stderr, "-> [%d] %.*s\n", (int)r, (int)len, body);
    }
    current = r;
    memset(&rq, 0, sizeof(rq));
    rq.peer = PEER;
    rq.body = body;
    rq.body_len = len;
    if (r == ROLE_SOCKET) {
        /* As the control socket reads a line (ctlsock.c); what does not parse is answered
         * there without reaching the API. */
        json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        resp = req != NULL ? admin_handle(admin, req) : NULL;
        json_decref(req);
        if (resp != NULL) {
            check_response(resp, &rq, false);
        }
    } else {
        if (r != ROLE_ANON) {
            rq.sid = sessions[r].id;
            rq.csrf = r == ROLE_BAD_CSRF ? "0123456789abcdef" : sessions[r].csrf;
        }
        resp = web_api(web, &rq);
        check_response(resp, &rq, true);
        if (r == ROLE_USER || r == ROLE_ANON || r == ROLE_BAD_CSRF) {
            check_refused(r, body, len, resp);
        }
    }
    json_decref(resp);
    if (scope != NULL) {
        protected_state(scope, &after);
        if (before.len != after.len || memcmp(before.p, after.p, before.len) != 0) {
            fprintf(stderr, "fuzz_admin_api: caller %d changed what it may not:\n%s\n---\n%s\n",
                    (int)r, buf_cstr(&before), buf_cstr(&after));
        }
        FUZZ_CHECK(before.len == after.len && memcmp(before.p, after.p, before.len) == 0);
    }
    buf_cleanup(&before);
    buf_cleanup(&after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t start = 0;
    int n = 0;
    open_sessions();
    while (start < size && n < MAX_REQUESTS) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl != NULL ? (size_t)(nl - data) : size;
        if (end > start) {
            run_request((enum role)(data[start] % ROLE_COUNT), (const char *)data + start + 1,
                        end - start - 1);
        }
        start = end + 1;
        n++;
    }
    fuzz_db_restore(&snapshot);
    accounts__changed_all();
    settings_defaults(cfg);
    snprintf(cfg->server.main_domain, sizeof(cfg->server.main_domain), "%s", MAIN_DOMAIN);
    return 0;
}
