/* adhoc.c: XEP-0050 ad-hoc commands of the server, with the XEP-0133 service administration
 * commands (add user, delete user, change password, online users, announce) for admins, and a
 * ping command for every user. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "accounts/accounts.h"
#include "accounts/signup.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "core/stamp.h"
#include "services/services_int.h"
#include "signal/router.h"
#include "store/store_fast.h"
#include "xml/ns.h"

#define ADMIN_NODE(x) NS_ADMIN "#" x

/* Open command sessions live on the worker that serves the requester (a client's stanzas are
 * routed from its home worker), in the services module's slot; freed when the worker stops. */
#define ADHOC_SESSIONS 32
#define ADHOC_SESSION_TTL 600
#define ADHOC_JID_MAX 1024
#define ADHOC_TEXT_MAX 65536

struct adhoc_session {
    char id[33];
    const struct command *cmd;
    char requester[ADHOC_JID_MAX];
    time_t created;
};

/* This worker's ADHOC_SESSIONS sessions. */
static struct adhoc_session *sessions(void)
{
    struct services_worker *sw = services__worker();
    if (sw->adhoc == NULL) {
        sw->adhoc = xcalloc(ADHOC_SESSIONS, sizeof(*sw->adhoc));
    }
    return sw->adhoc;
}

struct command;

/* One run of a command: the request, the submitted form (NULL for a single-stage command). */
struct run {
    struct service_ctx *ctx;
    const struct command *cmd;
    const struct xml_node *form;
    const char *sessionid;
};

struct command {
    const char *node;
    const char *name;
    /* The form of the first stage; NULL: the command runs at once. */
    void (*form)(struct xml_node *x);
    int (*run)(struct run *r);
    bool anyone; /* any requester may run it, not only admins */
};

/* ---- replies ---- */

static struct xml_node *command_el(const struct command *cmd, const char *sessionid,
                                   const char *status)
{
    struct xml_node *c = xml_node_new(NS_COMMANDS, "command");
    xml_node_set_attr(c, "node", cmd->node);
    if (sessionid) {
        xml_node_set_attr(c, "sessionid", sessionid);
    }
    xml_node_set_attr(c, "status", status);
    return c;
}

static int completed_note(struct run *r, const char *note)
{
    struct xml_node *c = command_el(r->cmd, r->sessionid, "completed");
    struct xml_node *n = xml_node_add_child(c, NULL, "note");
    xml_node_set_attr(n, "type", "info");
    xml_node_add_text(n, note, strlen(note));
    return service_reply_result(r->ctx, c);
}

static int bad(struct service_ctx *ctx, const char *app_condition)
{
    return services__reply_error_app(ctx, "modify", "bad-request", NS_COMMANDS, app_condition);
}

/* ---- sessions ---- */

static void requester_of(const struct signal *req, struct buf *out)
{
    buf_init(out, ADHOC_JID_MAX - 1);
    jid_full(&req->from, out);
}

static struct adhoc_session *session_new(const struct command *cmd, const char *requester)
{
    time_t now = time(NULL);
    struct adhoc_session *all = sessions();
    struct adhoc_session *slot = &all[0];
    for (size_t i = 0; i < ADHOC_SESSIONS; i++) {
        struct adhoc_session *s = &all[i];
        if (s->id[0] == '\0' || now - s->created > ADHOC_SESSION_TTL) {
            slot = s;
            break;
        }
        if (s->created < slot->created) {
            slot = s; /* all busy: the oldest goes */
        }
    }
    unsigned char rnd[16];
    RAND_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(slot->id + 2 * i, 3, "%02x", rnd[i]);
    }
    slot->cmd = cmd;
    snprintf(slot->requester, sizeof(slot->requester), "%s", requester);
    slot->created = now;
    return slot;
}

static struct adhoc_session *session_find(const char *id, const struct command *cmd,
                                          const char *requester)
{
    time_t now = time(NULL);
    struct adhoc_session *all = sessions();
    for (size_t i = 0; i < ADHOC_SESSIONS; i++) {
        struct adhoc_session *s = &all[i];
        if (s->id[0] != '\0' && strcmp(s->id, id) == 0 && s->cmd == cmd &&
            strcmp(s->requester, requester) == 0 && now - s->created <= ADHOC_SESSION_TTL) {
            return s;
        }
    }
    return NULL;
}

/* ---- rights and addresses ---- */

/* Is the requester an account of this server with the admin right? */
static bool is_admin(const struct signal *req)
{
    if (req->from.local == NULL || !router_is_local_domain(req->from.domain, NULL)) {
        return false;
    }
    struct buf bare;
    buf_init(&bare, 4096);
    jid_bare(&req->from, &bare);
    struct account_cfg acc;
    bool admin = accounts_account_get(worker_ctx()->store, buf_cstr(&bare), &acc) == 0 &&
                 acc.admin && !acc.disabled;
    buf_cleanup(&bare);
    return admin;
}

/* A submitted account JID of the domain the command was sent to, as "local@domain". */
static int account_of(const struct run *r, const char *text, struct buf *out)
{
    struct jid j = { 0 };
    if (text == NULL || jid_parse(&j, strv_c(text)) != 0) {
        return ERR_INVAL;
    }
    struct buf canon;
    buf_init(&canon, 1024);
    int rc = ERR_INVAL;
    if (j.local && !j.resource && router_is_local_domain(j.domain, &canon) &&
        strcmp(buf_cstr(&canon), r->ctx->req->to.domain) == 0) {
        buf_reset(out);
        rc = buf_printf(out, "%s@%s", j.local, buf_cstr(&canon));
    }
    buf_cleanup(&canon);
    jid_cleanup(&j);
    return rc;
}

static void kick_on_home(struct worker *w, void *arg)
{
    (void)w;
    router_account_end(arg, "not-authorized", NULL);
    free(arg);
}

/* The account's sessions end, as after `starlingctl account remove`. */
/* The removed account's cached photo hash goes with it (services/vcard.c). */
static void forget_photo(const char *bare)
{
    const char *at = strchr(bare, '@');
    char local[1024];
    if (at != NULL && (size_t)(at - bare) < sizeof(local)) {
        snprintf(local, sizeof(local), "%.*s", (int)(at - bare), bare);
        services_vcard_forget(local, at + 1);
    }
}

static void kick(const char *bare)
{
    worker_post(worker_home(strv_c(bare)), kick_on_home, xstrdup(bare));
}

/* ---- add-user, delete-user, change-user-password ---- */

/* XEP-0133 §4.1: given_name and surname become the account's real name. */
static void set_real_name(struct run *r, const char *jid)
{
    struct buf given, sur, name;
    buf_init(&given, 256);
    buf_init(&sur, 256);
    buf_init(&name, 600);
    const char *g = services__form_value(r->form, "given_name", &given);
    const char *s = services__form_value(r->form, "surname", &sur);
    bool has_g = g && g[0], has_s = s && s[0];
    if (has_g || has_s) {
        char err[256];
        buf_printf(&name, "%s%s%s", has_g ? g : "", has_g && has_s ? " " : "", has_s ? s : "");
        accounts_account_set(worker_ctx()->store, jid, "real_name", buf_cstr(&name), err,
                             sizeof(err));
    }
    buf_cleanup(&given);
    buf_cleanup(&sur);
    buf_cleanup(&name);
}

static void form_add_user(struct xml_node *x)
{
    services__field_add(x, "accountjid", "jid-single", "The Jabber ID for the account to be added",
                        NULL);
    services__field_add(x, "password", "text-private", "The password for this account", NULL);
    services__field_add(x, "password-verify", "text-private", "Retype password", NULL);
    services__field_add(x, "email", "text-single", "Email address", NULL);
    services__field_add(x, "given_name", "text-single", "Given name", NULL);
    services__field_add(x, "surname", "text-single", "Family name", NULL);
}

static int run_add_user(struct run *r)
{
    struct buf v, pw, jid;
    buf_init(&v, ADHOC_TEXT_MAX);
    buf_init(&pw, ADHOC_TEXT_MAX);
    buf_init(&jid, 4096);
    char err[256] = "";
    int code;
    const char *password = services__form_value(r->form, "password", &pw);
    bool jid_ok = account_of(r, services__form_value(r->form, "accountjid", &v), &jid) == 0;
    const char *verify = services__form_value(r->form, "password-verify", &v);
    if (!jid_ok || password == NULL || password[0] == '\0' ||
        (verify != NULL && strcmp(verify, password) != 0)) {
        code = bad(r->ctx, "bad-payload");
    } else {
        int rc =
            accounts_account_add(worker_ctx()->store, buf_cstr(&jid), password, err, sizeof(err));
        if (rc == ERR_EXISTS) {
            code = service_reply_error(r->ctx, "cancel", "conflict");
        } else if (rc == ERR_STORE || rc == ERR_NOSPACE) {
            code = service_reply_store_error(r->ctx, rc, "new account");
        } else if (rc != 0) {
            code = service_reply_error(r->ctx, "modify", "not-acceptable");
        } else {
            set_real_name(r, buf_cstr(&jid));
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "account added by %s@%s (ad-hoc): %s",
                    r->ctx->req->from.local, r->ctx->req->from.domain, buf_cstr(&jid));
            code = completed_note(r, "The account was added.");
        }
    }
    buf_cleanup(&v);
    buf_cleanup(&pw);
    buf_cleanup(&jid);
    return code;
}

static void form_delete_user(struct xml_node *x)
{
    services__field_add(x, "accountjids", "jid-multi", "The Jabber ID(s) to delete", NULL);
}

/* The <value/>s of a jid-multi field, at most `max`, copied into `out`. */
static size_t field_values(const struct xml_node *form, const char *var, char **out, size_t max)
{
    size_t n = 0;
    for (const struct xml_node *f = form ? xml_node_first_element(form) : NULL; f;
         f = xml_node_next_element(f)) {
        const char *v = xml_node_attr(f, "var");
        if (strcmp(f->name, "field") != 0 || v == NULL || strcmp(v, var) != 0) {
            continue;
        }
        for (const struct xml_node *val = xml_node_first_element(f); val && n < max;
             val = xml_node_next_element(val)) {
            struct buf b;
            buf_init(&b, 4096);
            if (strcmp(val->name, "value") == 0 && xml_node_text(val, &b) == 0 && b.len > 0) {
                out[n++] = xstrdup(buf_cstr(&b));
            }
            buf_cleanup(&b);
        }
    }
    return n;
}

#define ADHOC_MAX_JIDS 100

static int delete_checked(struct run *r, char **jids, size_t n)
{
    struct store *st = worker_ctx()->store;
    struct buf bare;
    buf_init(&bare, 4096);
    int code = 0;
    /* All or nothing: every address is checked before the first removal. */
    for (size_t i = 0; i < n && code == 0; i++) {
        if (account_of(r, jids[i], &bare) != 0) {
            code = bad(r->ctx, "bad-payload");
        } else if (accounts_account_get(st, buf_cstr(&bare), &(struct account_cfg){ 0 }) != 0) {
            code = service_reply_error(r->ctx, "cancel", "item-not-found");
        }
    }
    for (size_t i = 0; i < n && code == 0; i++) {
        char err[256];
        account_of(r, jids[i], &bare);
        int rc = accounts_account_remove(st, buf_cstr(&bare), err, sizeof(err));
        if (rc == 0) {
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "account removed by %s@%s (ad-hoc): %s",
                    r->ctx->req->from.local, r->ctx->req->from.domain, buf_cstr(&bare));
            forget_photo(buf_cstr(&bare));
            kick(buf_cstr(&bare));
        } else if (rc == ERR_STORE || rc == ERR_NOSPACE) {
            code = service_reply_store_error(r->ctx, rc, "account removal");
        }
    }
    buf_cleanup(&bare);
    return code != 0 ? code : completed_note(r, "The accounts were deleted.");
}

static int run_delete_user(struct run *r)
{
    char *jids[ADHOC_MAX_JIDS];
    size_t n = field_values(r->form, "accountjids", jids, ADHOC_MAX_JIDS);
    int code = n == 0 ? bad(r->ctx, "bad-payload") : delete_checked(r, jids, n);
    for (size_t i = 0; i < n; i++) {
        free(jids[i]);
    }
    return code;
}

static void form_change_password(struct xml_node *x)
{
    services__field_add(x, "accountjid", "jid-single", "The Jabber ID for this account", NULL);
    services__field_add(x, "password", "text-private", "The password for this account", NULL);
}

static int run_change_password(struct run *r)
{
    struct buf v, pw, jid;
    buf_init(&v, 4096);
    buf_init(&pw, ADHOC_TEXT_MAX);
    buf_init(&jid, 4096);
    int code;
    const char *password = services__form_value(r->form, "password", &pw);
    if (account_of(r, services__form_value(r->form, "accountjid", &v), &jid) != 0 ||
        password == NULL || password[0] == '\0') {
        code = bad(r->ctx, "bad-payload");
    } else {
        char err[256];
        int rc = accounts_account_passwd(worker_ctx()->store, buf_cstr(&jid), password, err,
                                         sizeof(err));
        if (rc == ERR_NOTFOUND) {
            code = service_reply_error(r->ctx, "cancel", "item-not-found");
        } else if (rc == ERR_STORE || rc == ERR_NOSPACE) {
            code = service_reply_store_error(r->ctx, rc, "password");
        } else if (rc != 0) {
            code = service_reply_error(r->ctx, "modify", "not-acceptable");
        } else {
            log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL,
                    "account password changed by %s@%s (ad-hoc): %s", r->ctx->req->from.local,
                    r->ctx->req->from.domain, buf_cstr(&jid));
            code = completed_note(r, "The password was changed.");
        }
    }
    buf_cleanup(&v);
    buf_cleanup(&pw);
    buf_cleanup(&jid);
    return code;
}

/* ---- online users: every worker lists its sessions, the requester's worker merges ---- */

enum online_use { ONLINE_NUM, ONLINE_LIST, ONLINE_ANNOUNCE };

struct online_query {
    enum online_use use;
    int origin;
    int pending;
    char domain[1024];
    struct signal *req; /* a copy of the request, answered when every worker has told */
    const struct command *cmd;
    char *sessionid;
    size_t max_items; /* ONLINE_LIST: 0 = all */
    char *subject;    /* ONLINE_ANNOUNCE */
    char *body;
    char **jids; /* bare JIDs, duplicates until merged */
    size_t n, cap;
};

struct online_part {
    struct online_query *q;
    char **jids;
    size_t n, cap;
};

static void push_jid(char ***v, size_t *n, size_t *cap, char *jid)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = xrealloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = jid;
}

static void collect_session(void *ud, const struct router_session *s)
{
    struct online_part *p = ud;
    const char *at = strrchr(s->bare, '@');
    if (at && strcmp(at + 1, p->q->domain) == 0) {
        push_jid(&p->jids, &p->n, &p->cap, xstrdup(s->bare));
    }
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void online_finish(struct online_query *q);

static void merge_part(struct worker *w, void *arg)
{
    (void)w;
    struct online_part *p = arg;
    struct online_query *q = p->q;
    for (size_t i = 0; i < p->n; i++) {
        push_jid(&q->jids, &q->n, &q->cap, p->jids[i]);
    }
    free(p->jids);
    free(p);
    if (--q->pending == 0) {
        online_finish(q);
    }
}

static void gather_part(struct worker *w, void *arg)
{
    (void)w;
    struct online_part *p = xcalloc(1, sizeof(*p));
    p->q = arg;
    router_sessions_foreach(collect_session, p);
    worker_post(p->q->origin, merge_part, p);
}

static void online_free(struct online_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->jids[i]);
    }
    free(q->jids);
    free(q->sessionid);
    free(q->subject);
    free(q->body);
    signal_free(q->req);
    free(q);
}

/* Sends the announcement to one online user: a headline reaches all of its available
 * resources (RFC 6121 §8.5.2.1.1) and is never stored offline. */
static void announce_to(const struct online_query *q, const char *bare)
{
    services_announce_one(q->domain, bare, q->subject, q->body);
}

void services_announce_one(const char *from, const char *bare, const char *subject,
                           const char *body)
{
    struct signal *m = signal_new(SIGNAL_MESSAGE);
    if (jid_parse(&m->to, strv_c(bare)) != 0 || jid_parse(&m->from, strv_c(from)) != 0) {
        signal_free(m);
        return;
    }
    m->type = xstrdup("headline");
    struct xml_node *st = xml_node_new(NS_CLIENT, "message");
    xml_node_set_attr(st, "type", "headline");
    if (subject && subject[0]) {
        struct xml_node *s = xml_node_add_child(st, NULL, "subject");
        xml_node_add_text(s, subject, strlen(subject));
    }
    struct xml_node *b = xml_node_add_child(st, NULL, "body");
    xml_node_add_text(b, body, strlen(body));
    m->body = xstrdup(body);
    m->xmpp_data = st;
    router_submit(m);
}

static void online_finish(struct online_query *q)
{
    qsort(q->jids, q->n, sizeof(q->jids[0]), cmp_cstr);
    size_t u = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (u > 0 && strcmp(q->jids[u - 1], q->jids[i]) == 0) {
            free(q->jids[i]);
        } else {
            q->jids[u++] = q->jids[i];
        }
    }
    q->n = u;
    struct service_ctx ctx = { .req = q->req,
                               .query = xml_node_first_element(q->req->xmpp_data),
                               .scope = SERVICE_SCOPE_SERVER };
    struct run r = { .ctx = &ctx, .cmd = q->cmd, .sessionid = q->sessionid };
    if (q->use == ONLINE_ANNOUNCE) {
        for (size_t i = 0; i < q->n; i++) {
            announce_to(q, q->jids[i]);
        }
        log_rec(LOG_TAG_ADMIN, LOG_MAJOR, 0, NULL, "announcement by %s@%s to %zu users of %s",
                q->req->from.local, q->req->from.domain, q->n, q->domain);
        completed_note(&r, "The announcement was sent.");
    } else {
        struct xml_node *c = command_el(q->cmd, q->sessionid, "completed");
        struct xml_node *x = services__form_add(c, "result", NS_ADMIN);
        if (q->use == ONLINE_NUM) {
            char num[32];
            snprintf(num, sizeof(num), "%zu", q->n);
            services__field_add(x, "onlineusersnum", NULL, "The number of online users", num);
        } else {
            struct xml_node *f = services__field_add(x, "onlineuserjids", "jid-multi",
                                                     "The list of all online users", NULL);
            for (size_t i = 0; i < q->n && (q->max_items == 0 || i < q->max_items); i++) {
                services__field_value(f, q->jids[i]);
            }
        }
        service_reply_result(&ctx, c);
    }
    online_free(q);
}

/* Starts the gathering; the answer is sent by online_finish on this worker. */
static int online_start(struct run *r, struct online_query *q)
{
    q->origin = worker_self()->id;
    q->pending = workers_count();
    snprintf(q->domain, sizeof(q->domain), "%s", r->ctx->req->to.domain);
    q->req = signal_dup(r->ctx->req);
    q->cmd = r->cmd;
    q->sessionid = r->sessionid ? xstrdup(r->sessionid) : NULL;
    for (int i = 0; i < q->pending; i++) {
        worker_post(i, gather_part, q);
    }
    return 0;
}

static int run_online_num(struct run *r)
{
    struct online_query *q = xcalloc(1, sizeof(*q));
    q->use = ONLINE_NUM;
    return online_start(r, q);
}

static void form_online_list(struct xml_node *x)
{
    struct xml_node *f = services__field_add(x, "max_items", "list-single",
                                             "Maximum number of items to report", "none");
    static const char *const choices[] = { "25", "50", "75", "100", "150", "200", "none" };
    for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
        struct xml_node *o = xml_node_add_child(f, NULL, "option");
        xml_node_set_attr(o, "label", choices[i]);
        services__field_value(o, choices[i]);
    }
}

static int run_online_list(struct run *r)
{
    struct buf v;
    buf_init(&v, 64);
    const char *max = services__form_value(r->form, "max_items", &v);
    long n = 0;
    if (max && strcmp(max, "none") != 0) {
        char *end = NULL;
        n = strtol(max, &end, 10);
        if (end == max || *end != '\0' || n <= 0) {
            buf_cleanup(&v);
            return bad(r->ctx, "bad-payload");
        }
    }
    buf_cleanup(&v);
    struct online_query *q = xcalloc(1, sizeof(*q));
    q->use = ONLINE_LIST;
    q->max_items = (size_t)n;
    return online_start(r, q);
}

static void form_announce(struct xml_node *x)
{
    services__field_add(x, "subject", "text-single", "Subject", NULL);
    services__field_add(x, "announcement", "text-multi", "Announcement", NULL);
}

/* A text-multi field: its values joined by line feeds. */
static char *multi_text(const struct xml_node *form, const char *var)
{
    char *lines[256];
    size_t n = field_values(form, var, lines, 256);
    struct buf b;
    buf_init(&b, ADHOC_TEXT_MAX);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            buf_append_char(&b, '\n');
        }
        buf_append_c(&b, lines[i]);
        free(lines[i]);
    }
    char *s = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return s;
}

static int run_announce(struct run *r)
{
    char *body = multi_text(r->form, "announcement");
    if (body[0] == '\0') {
        free(body);
        return bad(r->ctx, "bad-payload");
    }
    struct online_query *q = xcalloc(1, sizeof(*q));
    q->use = ONLINE_ANNOUNCE;
    q->body = body;
    q->subject = multi_text(r->form, "subject");
    return online_start(r, q);
}

/* The ping command (as Prosody's): any user can check that the server answers commands. */
static int run_ping(struct run *r)
{
    char note[64];
    char stamp[STAMP_MAX];
    snprintf(note, sizeof(note), "Pong\n%s", stamp_format(time(NULL), stamp, sizeof(stamp)));
    return completed_note(r, note);
}

/* ---- XEP-0401 invitations (issue 18) ---- */

/* The completed command: the xmpp: URI to hand to the invitee and the expiry. */
static int invite_reply(struct run *r, const char *uri, time_t expires)
{
    struct xml_node *c = command_el(r->cmd, r->sessionid, "completed");
    struct xml_node *x = services__form_add(c, "result", NS_INVITE);
    services__field_add(x, "uri", "text-single", "Invitation URI", uri);
    char stamp[STAMP_MAX];
    services__field_add(x, "expire", "text-single", "Valid until",
                        stamp_format(expires, stamp, sizeof(stamp)));
    return service_reply_result(r->ctx, c);
}

/* Whether the requester is an account of a local domain (its canonical name into `dom`). */
static bool local_requester(const struct run *r, struct buf *dom)
{
    const struct signal *req = r->ctx->req;
    return req->from.local != NULL && router_is_local_domain(req->from.domain, dom);
}

/* An invitation on the requester's own domain: from the requester (roster pre-authorisation,
 * `account` false) or an administrator's that only allows registration. */
static int run_invitation(struct run *r, bool account)
{
    const struct signal *req = r->ctx->req;
    struct buf dom, token, uri;
    buf_init(&dom, 1024);
    buf_init(&token, 256);
    buf_init(&uri, 4096);
    int rc;
    if (!local_requester(r, &dom)) {
        rc = service_reply_error(r->ctx, "cancel", "forbidden");
        goto done;
    }
    long lifetime = worker_ctx()->cfg->reg.invite_lifetime;
    rc = signup_invite_new(worker_ctx()->store, buf_cstr(&dom), account ? NULL : req->from.local,
                           lifetime, 1, &token);
    if (rc != 0) {
        rc = service_reply_error(r->ctx, "wait", "internal-server-error");
        goto done;
    }
    if (account) {
        buf_printf(&uri, "xmpp:%s?register;preauth=%s", buf_cstr(&dom), buf_cstr(&token));
    } else {
        buf_printf(&uri, "xmpp:%s@%s?roster;preauth=%s;ibr=y", req->from.local, buf_cstr(&dom),
                   buf_cstr(&token));
    }
    rc = invite_reply(r, buf_cstr(&uri), time(NULL) + lifetime);
done:
    buf_cleanup(&dom);
    buf_cleanup(&token);
    buf_cleanup(&uri);
    return rc;
}

static int run_invite(struct run *r)
{
    return run_invitation(r, false);
}

static int run_create_account(struct run *r)
{
    return run_invitation(r, true);
}

/* ---- the requester's devices: SASL2 user agents and FAST tokens (issue 18) ---- */

static const char *const device_vars[] = { "agent", "software", "device", "last-seen",
                                           "fast-token-until" };

static int device_item(void *ud, const char *const *cols, int ncols)
{
    struct xml_node *item = xml_node_add_child(ud, NULL, "item");
    char stamp[STAMP_MAX];
    for (int i = 0; i < 5 && i < ncols; i++) {
        const char *v = cols[i == 4 ? 5 : i];
        if (i >= 3 && v != NULL) {
            v = stamp_format((time_t)strtoll(v, NULL, 10), stamp, sizeof(stamp));
        }
        services__field_add(item, device_vars[i], NULL, NULL, v ? v : "");
    }
    return 0;
}

/* The user agents the requester's account logged in with, and until when each holds a token. */
static int run_devices(struct run *r)
{
    struct buf dom;
    buf_init(&dom, 1024);
    int rc;
    if (!local_requester(r, &dom)) {
        rc = service_reply_error(r->ctx, "cancel", "forbidden");
        goto done;
    }
    struct xml_node *c = command_el(r->cmd, r->sessionid, "completed");
    struct xml_node *x = services__form_add(c, "result", NULL);
    struct xml_node *rep = xml_node_add_child(x, NULL, "reported");
    for (size_t i = 0; i < sizeof(device_vars) / sizeof(device_vars[0]); i++) {
        services__field_add(rep, device_vars[i], "text-single", device_vars[i], NULL);
    }
    store_fast_agents(worker_ctx()->store, buf_cstr(&dom), r->ctx->req->from.local, device_item, x);
    rc = service_reply_result(r->ctx, c);
done:
    buf_cleanup(&dom);
    return rc;
}

static void form_revoke_device(struct xml_node *x)
{
    services__field_add(x, "agent", "text-single", "User agent id (empty: every device)", NULL);
}

/* Ends the requester's FAST tokens: one user agent's, or all of them. */
static int run_revoke_device(struct run *r)
{
    struct buf dom, agent;
    buf_init(&dom, 1024);
    buf_init(&agent, 1024);
    int rc;
    const char *a = services__form_value(r->form, "agent", &agent);
    int removed = 0;
    if (!local_requester(r, &dom)) {
        rc = service_reply_error(r->ctx, "cancel", "forbidden");
    } else if (store_fast_revoke(worker_ctx()->store, buf_cstr(&dom), r->ctx->req->from.local,
                                 a && a[0] ? a : NULL, &removed) != 0) {
        rc = service_reply_error(r->ctx, "wait", "internal-server-error");
    } else {
        char note[64];
        snprintf(note, sizeof(note), "%d login token(s) revoked", removed);
        rc = completed_note(r, note);
    }
    buf_cleanup(&dom);
    buf_cleanup(&agent);
    return rc;
}

/* ---- the table and the protocol ---- */

static const struct command commands[] = {
    { ADMIN_NODE("add-user"), "Add a User", form_add_user, run_add_user, false },
    { ADMIN_NODE("delete-user"), "Delete a User", form_delete_user, run_delete_user, false },
    { ADMIN_NODE("change-user-password"), "Change User Password", form_change_password,
      run_change_password, false },
    { ADMIN_NODE("get-online-users-num"), "Get Number of Online Users", NULL, run_online_num,
      false },
    { ADMIN_NODE("get-online-users-list"), "Get List of Online Users", form_online_list,
      run_online_list, false },
    { ADMIN_NODE("announce"), "Send Announcement to Online Users", form_announce, run_announce,
      false },
    { "ping", "Ping", NULL, run_ping, true },
    { NS_INVITE "#invite", "Invite someone", NULL, run_invite, true },
    { NS_INVITE "#create-account", "Create an account invitation", NULL, run_create_account,
      false },
    { "devices", "List my devices", NULL, run_devices, true },
    { "revoke-device", "Revoke a device's login token", form_revoke_device, run_revoke_device,
      true },
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *node)
{
    for (size_t i = 0; node && i < COMMAND_COUNT; i++) {
        if (strcmp(commands[i].node, node) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static bool may_run(const struct signal *req, const struct command *cmd)
{
    return cmd->anyone || is_admin(req);
}

/* First stage: a new session and the command's form. */
static int start_session(struct service_ctx *ctx, const struct command *cmd, const char *requester)
{
    if (cmd->form == NULL) {
        struct run r = { .ctx = ctx, .cmd = cmd };
        return cmd->run(&r);
    }
    struct adhoc_session *s = session_new(cmd, requester);
    struct xml_node *c = command_el(cmd, s->id, "executing");
    struct xml_node *actions = xml_node_add_child(c, NULL, "actions");
    xml_node_set_attr(actions, "execute", "complete");
    xml_node_add_child(actions, NULL, "complete");
    struct xml_node *x = services__form_add(c, "form", NS_ADMIN);
    struct xml_node *title = xml_node_add_child(x, NULL, "title");
    xml_node_add_text(title, cmd->name, strlen(cmd->name));
    cmd->form(x);
    return service_reply_result(ctx, c);
}

/* Later stage: the submitted form completes the command, or the session is canceled. */
static int continue_session(struct service_ctx *ctx, const struct command *cmd,
                            struct adhoc_session *s, const char *action)
{
    char id[sizeof(s->id)];
    memcpy(id, s->id, sizeof(id));
    if (strcmp(action, "cancel") == 0) {
        s->id[0] = '\0';
        return service_reply_result(ctx, command_el(cmd, id, "canceled"));
    }
    if (strcmp(action, "execute") != 0 && strcmp(action, "complete") != 0) {
        /* One page per command: there is no next or previous stage. */
        return bad(ctx, "bad-action");
    }
    const struct xml_node *x = xml_node_child(ctx->query, NS_XDATA, "x");
    const char *type = x ? xml_node_attr(x, "type") : NULL;
    if (type && strcmp(type, "cancel") == 0) {
        s->id[0] = '\0';
        return service_reply_result(ctx, command_el(cmd, id, "canceled"));
    }
    if (type == NULL || strcmp(type, "submit") != 0) {
        return bad(ctx, "bad-payload");
    }
    s->id[0] = '\0';
    struct run r = { .ctx = ctx, .cmd = cmd, .form = x, .sessionid = id };
    return cmd->run(&r);
}

static int command_set(struct service_ctx *ctx)
{
    const struct command *cmd = find_command(xml_node_attr(ctx->query, "node"));
    if (cmd == NULL) {
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    if (!may_run(ctx->req, cmd)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    const char *action = xml_node_attr(ctx->query, "action");
    action = action ? action : "execute";
    if (strcmp(action, "execute") != 0 && strcmp(action, "complete") != 0 &&
        strcmp(action, "cancel") != 0 && strcmp(action, "next") != 0 &&
        strcmp(action, "prev") != 0) {
        return bad(ctx, "malformed-action");
    }
    struct buf requester;
    requester_of(ctx->req, &requester);
    const char *sid = xml_node_attr(ctx->query, "sessionid");
    int code;
    if (sid == NULL) {
        code = strcmp(action, "execute") == 0 ? start_session(ctx, cmd, buf_cstr(&requester))
                                              : bad(ctx, "bad-action");
    } else {
        struct adhoc_session *s = session_find(sid, cmd, buf_cstr(&requester));
        code = s ? continue_session(ctx, cmd, s, action) : bad(ctx, "bad-sessionid");
    }
    buf_cleanup(&requester);
    return code;
}

/* ---- discovery (XEP-0050 §2) ---- */

static int node_items(struct service_ctx *ctx)
{
    const char *node = xml_node_attr(ctx->query, "node");
    if (ctx->scope != SERVICE_SCOPE_SERVER || strcmp(node, NS_COMMANDS) != 0) {
        return SERVICE_DECLINED;
    }
    struct xml_node *q = xml_node_new(NS_DISCO_ITEMS, "query");
    xml_node_set_attr(q, "node", NS_COMMANDS);
    /* Only the commands the requester may run are listed. */
    bool admin = is_admin(ctx->req);
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        if (!admin && !commands[i].anyone) {
            continue;
        }
        struct xml_node *it = xml_node_add_child(q, NULL, "item");
        xml_node_set_attr(it, "jid", ctx->req->to.domain);
        xml_node_set_attr(it, "node", commands[i].node);
        xml_node_set_attr(it, "name", commands[i].name);
    }
    return service_reply_result(ctx, q);
}

static int node_info(struct service_ctx *ctx)
{
    const char *node = xml_node_attr(ctx->query, "node");
    if (ctx->scope != SERVICE_SCOPE_SERVER) {
        return SERVICE_DECLINED;
    }
    const struct command *cmd = find_command(node);
    if (cmd == NULL && strcmp(node, NS_COMMANDS) != 0) {
        return SERVICE_DECLINED;
    }
    struct xml_node *q = xml_node_new(NS_DISCO_INFO, "query");
    xml_node_set_attr(q, "node", node);
    struct xml_node *id = xml_node_add_child(q, NULL, "identity");
    xml_node_set_attr(id, "category", "automation");
    xml_node_set_attr(id, "type", cmd ? "command-node" : "command-list");
    xml_node_set_attr(id, "name", cmd ? cmd->name : "Commands");
    if (cmd) {
        struct xml_node *f = xml_node_add_child(q, NULL, "feature");
        xml_node_set_attr(f, "var", NS_COMMANDS);
        f = xml_node_add_child(q, NULL, "feature");
        xml_node_set_attr(f, "var", NS_XDATA);
    }
    return service_reply_result(ctx, q);
}

const struct service service_adhoc = {
    .name = "adhoc",
    .iq =
        (const struct service_iq[]){
            { NS_COMMANDS, "command", .set = command_set, .scopes = SERVICE_SCOPE_SERVER }, { 0 } },
    .features = (const char *[]){ NS_COMMANDS, NULL },
    .node_info = node_info,
    .node_items = node_items,
};
