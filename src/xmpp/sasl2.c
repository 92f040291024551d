/* sasl2.c: XEP-0388 SASL2 on client streams, with XEP-0386 Bind 2 inline, XEP-0484 FAST tokens
 * (HT-SHA-256-*) and XEP-0474 SSDP for SCRAM. The SASL mechanisms, the failure accounting and the
 * lock-out are those of auth.c. docs/internals/sasl2.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "auth/ht.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "core/stamp.h"
#include "jid/jid.h"
#include "store/store_fast.h"
#include "xml/ns.h"
#include "xmpp/bind2.h"
#include "xmpp/stream_internal.h"

#define AGENT_MAX 128 /* longest user-agent id, software or device text kept */
#define TAG_MAX 64    /* longest Bind 2 tag used in a resource */
#define HT_MAX 4

struct sasl2_state {
    char *ssdp;  /* XEP-0474 list string of the offered mechanisms and bindings */
    bool active; /* a SASL2 exchange is under way (or its success waits for the move) */
    bool pending_success;
    /* The request. */
    char agent[AGENT_MAX + 1];
    char software[AGENT_MAX + 1];
    char device[AGENT_MAX + 1];
    struct xml_node *bind;    /* the client's Bind 2 <bind/>, or NULL */
    struct xml_node *request; /* the whole <authenticate/>, for other inline features */
    char token_mech[24];      /* <request-token mechanism=…/>, "" when none */
    bool fast;                /* authenticated with a FAST token */
    char fast_key[2 * AUTH_HT_MAC_LEN + 1];
    long long fast_count;
    bool fast_invalidate;
    bool fast_record;      /* the use of the token must be stored */
    struct buf additional; /* the mechanism's data for <success/> */
};

static struct sasl2_state *state_of(struct xstream *st)
{
    if (st->sasl2 == NULL) {
        st->sasl2 = xcalloc(1, sizeof(*st->sasl2));
        buf_init(&st->sasl2->additional, 4096);
    }
    return st->sasl2;
}

/* Forgets the request (not the offered lists). */
static void reset_request(struct sasl2_state *s)
{
    xml_node_unref(s->bind);
    s->bind = NULL;
    xml_node_unref(s->request);
    s->request = NULL;
    s->active = false;
    s->pending_success = false;
    s->agent[0] = s->software[0] = s->device[0] = s->token_mech[0] = '\0';
    s->fast = false;
    s->fast_invalidate = false;
    s->fast_record = false;
    s->fast_count = -1;
    OPENSSL_cleanse(s->fast_key, sizeof(s->fast_key));
    buf_reset(&s->additional);
}

void xstream__sasl2_free(struct xstream *st)
{
    struct sasl2_state *s = st->sasl2;
    if (s == NULL) {
        return;
    }
    reset_request(s);
    buf_cleanup(&s->additional);
    free(s->ssdp);
    free(s);
    st->sasl2 = NULL;
}

static bool fast_enabled(void)
{
    return xstream__cfg()->xmpp.receiving.fast_token_lifetime > 0;
}

static void append_text(struct buf *out, const char *text)
{
    xml_escape_append(out, strv_c(text), false);
}

void xstream__sasl2_features(struct xstream *st, struct buf *out, const char **mechs, size_t n,
                             const char *const *cb_names)
{
    struct sasl2_state *s = state_of(st);
    const char *cbs[SASL_CB_COUNT];
    size_t ncb = 0;
    for (int i = 0; cb_names != NULL && i < SASL_CB_COUNT; i++) {
        if (sasl_cb_offered(&st->a->sp, i)) {
            cbs[ncb++] = cb_names[i];
        }
    }
    struct buf h;
    buf_init(&h, 4096);
    if (auth_ssdp_string(mechs, n, cb_names ? cbs : NULL, ncb, &h) == 0) {
        free(s->ssdp);
        s->ssdp = strv_dup(buf_strv(&h));
    }
    buf_cleanup(&h);
    buf_printf(out, "<authentication xmlns='%s'>", NS_SASL2);
    for (size_t i = 0; i < n; i++) {
        buf_printf(out, "<mechanism>%s</mechanism>", mechs[i]);
    }
    buf_printf(out, "<inline><bind xmlns='%s'><inline>", NS_BIND2);
    for (size_t i = 0; i < xstream_bind2_count(); i++) {
        buf_printf(out, "<feature var='%s'/>", xstream_bind2_ns(i));
    }
    buf_append_c(out, "</inline></bind>");
    xstream__sasl2_inline_advertise(out);
    if (fast_enabled()) {
        const char *ht[HT_MAX];
        size_t nht = auth_ht_mechs(&st->a->sp, ht, HT_MAX);
        buf_printf(out, "<fast xmlns='%s'>", NS_FAST);
        for (size_t i = 0; i < nht; i++) {
            buf_printf(out, "<mechanism>%s</mechanism>", ht[i]);
        }
        buf_append_c(out, "</fast>");
    }
    buf_append_c(out, "</inline></authentication>");
}

bool xstream__sasl2_active(const struct xstream *st)
{
    return st->sasl2 != NULL && st->sasl2->active;
}

const char *xstream__sasl2_ssdp(const struct xstream *st)
{
    return xstream__sasl2_active(st) ? st->sasl2->ssdp : NULL;
}

void xstream__sasl2_failure(struct xstream *st, const char *condition, const char *text,
                            struct buf *out)
{
    buf_printf(out, "<failure xmlns='%s'><%s xmlns='%s'/>", NS_SASL2, condition, NS_SASL);
    if (text && text[0]) {
        buf_append_c(out, "<text>");
        append_text(out, text);
        buf_append_c(out, "</text>");
    }
    buf_append_c(out, "</failure>");
    if (st->sasl2) {
        reset_request(st->sasl2);
    }
}

/* <NAME xmlns=sasl2>base64</NAME>, the payload kept out of the protocol trace. */
static void send_data(struct xstream *st, const char *name, const struct buf *data)
{
    struct buf b;
    buf_init(&b, 65536);
    buf_printf(&b, "<%s xmlns='%s'>", name, NS_SASL2);
    if (data && data->len > 0) {
        sasl_b64_encode((const unsigned char *)data->p, data->len, &b);
    }
    buf_printf(&b, "</%s>", name);
    conn_write(st->c, b.p, b.len);
    buf_cleanup(&b);
}

void xstream__sasl2_challenge(struct xstream *st, const struct buf *data)
{
    send_data(st, "challenge", data);
}

/* A failure of the request itself (before any mechanism ran): answered at once, not counted. */
static void request_failure(struct xstream *st, const char *condition, const char *why)
{
    state_of(st)->active = true;
    xstream__auth_failure(st, condition, SASL_FAIL_MALFORMED, why, NULL);
}

static void child_text(const struct xml_node *el, const char *ns, const char *name, char *out,
                       size_t size)
{
    const struct xml_node *c = xml_node_child(el, ns, name);
    struct buf b;
    buf_init(&b, 4096);
    out[0] = '\0';
    if (c && xml_node_text(c, &b) == 0 && b.len < size) {
        snprintf(out, size, "%s", buf_cstr(&b));
    }
    buf_cleanup(&b);
}

/* Reads <user-agent/>, <bind/> and <request-token/> of <authenticate/>. NULL or why not. */
static const char *read_request(struct sasl2_state *s, const struct xml_node *auth)
{
    s->request = xml_node_ref((struct xml_node *)auth);
    const struct xml_node *ua = xml_node_child(auth, NS_SASL2, "user-agent");
    if (ua) {
        const char *id = xml_node_attr(ua, "id");
        if (id == NULL || id[0] == '\0' || strlen(id) > AGENT_MAX) {
            return "the user-agent id must have 1 to 128 characters";
        }
        snprintf(s->agent, sizeof(s->agent), "%s", id);
        child_text(ua, NS_SASL2, "software", s->software, sizeof(s->software));
        child_text(ua, NS_SASL2, "device", s->device, sizeof(s->device));
    }
    const struct xml_node *bind = xml_node_child(auth, NS_BIND2, "bind");
    if (bind) {
        s->bind = xml_node_ref((struct xml_node *)bind);
    }
    const struct xml_node *rt = xml_node_child(auth, NS_FAST, "request-token");
    if (rt) {
        const char *m = xml_node_attr(rt, "mechanism");
        if (m == NULL || auth_ht_mech_cb(m) == ERR_NOTFOUND) {
            return "request-token names no FAST mechanism";
        }
        if (s->agent[0] == '\0') {
            return "a FAST token needs a user-agent id";
        }
        snprintf(s->token_mech, sizeof(s->token_mech), "%s", m);
    }
    return NULL;
}

static void hex(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        snprintf(out + 2 * i, 3, "%02x", in[i]);
    }
}

static int unhex(const char *in, unsigned char *out, size_t len)
{
    if (strlen(in) != 2 * len) {
        return ERR_INVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned v = 0;
        if (sscanf(in + 2 * i, "%2x", &v) != 1) {
            return ERR_INVAL;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* The FAST check: one of the agent's stored tokens must give the client's HMAC. */
struct fast_match {
    const struct sasl_cb_data *cb;
    const unsigned char *mac;
    const char *mech;
    char key[2 * AUTH_HT_MAC_LEN + 1];
    unsigned char raw[AUTH_HT_MAC_LEN];
    long long count;
    bool found;
    bool current; /* the match is the agent's current token */
    int rows;     /* the agent's unexpired tokens */
};

static int fast_row(void *ud, const char *const *cols, int ncols)
{
    struct fast_match *m = ud;
    unsigned char key[AUTH_HT_MAC_LEN];
    m->rows++;
    if (m->found || ncols < 5 || unhex(cols[0], key, sizeof(key)) != 0) {
        return 0;
    }
    if (auth_ht_verify(key, m->cb, m->mac)) {
        m->current = strcmp(cols[4], "1") == 0;
        snprintf(m->key, sizeof(m->key), "%s", cols[0]);
        memcpy(m->raw, key, sizeof(key));
        m->count = strtoll(cols[3], NULL, 10);
        m->found = true;
    }
    OPENSSL_cleanse(key, sizeof(key));
    return 0; /* all rows are counted: whether a previous token is left to drop */
}

/* The local part of an HT authcid ("user" or "user@domain"), prepared; false when not ours. */
static bool fast_user(struct xstream *st, const char *authcid, struct buf *user)
{
    const char *at = strchr(authcid, '@');
    char name[1024];
    snprintf(name, sizeof(name), "%s", authcid);
    if (at != NULL) {
        if (strcasecmp(at + 1, st->domain) != 0) {
            return false;
        }
        name[at - authcid] = '\0';
    }
    size_t len = strlen(name);
    if (len >= sizeof(st->a->login_name)) {
        return false;
    }
    memcpy(st->a->login_name, name, len + 1); /* its failures count for it (auth.c) */
    return jid_nodeprep(strv_c(name), user) == 0;
}

/* Why the token login of `user` is refused before the HMAC is looked at, or NULL. */
static const char *fast_account_problem(struct xstream *st, const char *user)
{
    if (accounts_login_locked(&xstream__cfg()->auth, user, st->domain) > 0) {
        return "temporary-auth-failure";
    }
    struct auth_creds creds;
    memset(&creds, 0, sizeof(creds));
    int rc = accounts_lookup_creds(worker_ctx()->store, st->domain, user, &creds);
    bool disabled = rc == 0 && creds.disabled;
    auth_creds_cleanup(&creds);
    if (rc == ERR_NOTFOUND || rc == 0) {
        return disabled ? "account-disabled" : NULL;
    }
    return "temporary-auth-failure";
}

static void fast_count_of(struct sasl2_state *s, const struct xml_node *auth)
{
    const struct xml_node *f = xml_node_child(auth, NS_FAST, "fast");
    const char *count = f ? xml_node_attr(f, "count") : NULL;
    const char *inv = f ? xml_node_attr(f, "invalidate") : NULL;
    s->fast_count = -1;
    if (count) {
        char *end = NULL;
        long long v = strtoll(count, &end, 10);
        s->fast_count = (end && *end == '\0' && v >= 0) ? v : -2;
    }
    s->fast_invalidate = inv && (strcmp(inv, "true") == 0 || strcmp(inv, "1") == 0);
}

/* HT-SHA-256-*: one round trip with a token issued earlier to this user agent. */
static void fast_auth(struct xstream *st, const char *mech, int cbtype, const struct xml_node *auth)
{
    struct sasl2_state *s = st->sasl2;
    const struct xml_node *ir = xml_node_child(auth, NS_SASL2, "initial-response");
    struct buf text, in, authcid, user;
    buf_init(&text, 65536);
    buf_init(&in, 65536);
    buf_init(&authcid, 1024);
    buf_init(&user, 1024);
    unsigned char mac[AUTH_HT_MAC_LEN];
    xstream__auth_prepare(st);
    struct sasl_cb_data cbd = { NULL, 0 };
    const struct sasl_cb_data *cb = cbtype >= 0 ? &cbd : NULL;
    if (!fast_enabled() ||
        (cb != NULL && sasl_cb_get(&st->a->sp, (enum sasl_cb_type)cbtype, &cbd) != 0)) {
        xstream__auth_failure(st, "invalid-mechanism", SASL_FAIL_OTHER,
                              "a FAST mechanism not offered here", NULL);
        goto done;
    }
    if (s->agent[0] == '\0') {
        xstream__auth_failure(st, "malformed-request", SASL_FAIL_MALFORMED,
                              "FAST needs the user-agent id the token was issued to", NULL);
        goto done;
    }
    if (ir == NULL || xml_node_text(ir, &text) != 0 || sasl_b64_decode(buf_strv(&text), &in) != 0 ||
        auth_ht_parse((const unsigned char *)in.p, in.len, &authcid, mac) != 0) {
        xstream__auth_failure(st, "malformed-request", SASL_FAIL_MALFORMED,
                              "the HT initial response is missing or malformed", NULL);
        goto done;
    }
    fast_count_of(s, auth);
    if (!fast_user(st, buf_cstr(&authcid), &user)) {
        xstream__auth_failure(st, "not-authorized", SASL_FAIL_UNKNOWN_USER, NULL,
                              buf_cstr(&authcid));
        goto done;
    }
    const char *problem = fast_account_problem(st, buf_cstr(&user));
    if (problem && strcmp(problem, "account-disabled") != 0) {
        xstream__auth_failure(st, problem, SASL_FAIL_OTHER, "account locked or store failure",
                              buf_cstr(&user));
        goto done;
    }
    struct fast_match m = { .cb = cb, .mac = mac, .mech = mech, .count = -1 };
    store_fast_tokens(worker_ctx()->store, st->domain, buf_cstr(&user), s->agent,
                      (long long)time(NULL), fast_row, &m);
    if (!m.found) {
        xstream__auth_failure(st, "not-authorized", SASL_FAIL_CREDENTIALS, "FAST token not valid",
                              buf_cstr(&user));
        goto done;
    }
    if (s->fast_count == -2 || (s->fast_count >= 0 && s->fast_count <= m.count)) {
        xstream__auth_failure(st, "not-authorized", SASL_FAIL_CREDENTIALS,
                              "FAST count not above the last one (replay?)", buf_cstr(&user));
        goto done;
    }
    if (problem) {
        xstream__auth_failure(st, problem, SASL_FAIL_OTHER, "account disabled", buf_cstr(&user));
        goto done;
    }
    s->fast = true;
    /* A store write only when there is something to record: a count, or a previous token
     * that goes now that the current one was used. */
    s->fast_record = s->fast_count >= 0 || !m.current || m.rows > 1;
    snprintf(s->fast_key, sizeof(s->fast_key), "%s", m.key);
    unsigned char resp[AUTH_HT_MAC_LEN];
    buf_reset(&in);
    if (auth_ht_mac(m.raw, "Responder", cb, resp) == 0) {
        buf_append(&in, (const char *)resp, sizeof(resp));
    }
    OPENSSL_cleanse(m.raw, sizeof(m.raw));
    xstream__auth_success(st, buf_cstr(&user), mech);
    xstream__sasl2_succeeded(st, &in);
done:
    OPENSSL_cleanse(in.p ? in.p : "", in.p ? in.len : 0);
    buf_cleanup(&text);
    buf_cleanup(&in);
    buf_cleanup(&authcid);
    buf_cleanup(&user);
}

static void authenticate(struct xstream *st, const struct xml_node *el)
{
    struct sasl2_state *s = state_of(st);
    if (st->state != XS_NEGOTIATE || s->active) {
        request_failure(st, "malformed-request", "an authentication is already under way");
        return;
    }
    reset_request(s);
    const char *why = read_request(s, el);
    if (why) {
        request_failure(st, "malformed-request", why);
        return;
    }
    s->active = true;
    const char *mech = xml_node_attr(el, "mechanism");
    if (mech == NULL) {
        xstream__auth_failure(st, "invalid-mechanism", SASL_FAIL_OTHER, "no mechanism named", NULL);
        return;
    }
    if (xstream__auth_tls_missing(st)) {
        xstream__auth_failure(st, "encryption-required", SASL_FAIL_OTHER, "TLS is required first",
                              NULL);
        return;
    }
    int cb = auth_ht_mech_cb(mech);
    if (cb != ERR_NOTFOUND) {
        fast_auth(st, mech, cb, el);
        return;
    }
    /* No <initial-response/>: the mechanism starts with an empty challenge. */
    xstream__sasl_start(st, mech, xml_node_child(el, NS_SASL2, "initial-response"));
}

void xstream__sasl2_element(struct xstream *st, struct xml_node *el)
{
    if (strcmp(el->name, "authenticate") == 0) {
        authenticate(st, el);
    } else if (strcmp(el->name, "response") == 0 && xstream__sasl2_active(st) &&
               st->state == XS_SASL) {
        xstream__sasl_response(st, el);
    } else if (strcmp(el->name, "abort") == 0 && xstream__sasl2_active(st)) {
        xstream__sasl_abort(st);
    } else {
        /* <response/> without an exchange, <next/> or <task-data/> (no task is offered), or an
         * unknown element. */
        request_failure(st, "malformed-request", "unexpected SASL2 element");
    }
}

/* XEP-0386: the tag (or "starling"), a dot and 8 hex digits of SHA-256(bare, agent) — the same
 * resource for the same device — or random ones without a user-agent id. */
static void bind2_resource(struct xstream *st, struct buf *out)
{
    struct sasl2_state *s = st->sasl2;
    char tag[TAG_MAX * 4 + 1];
    child_text(s->bind, NS_BIND2, "tag", tag, sizeof(tag));
    struct buf prepped;
    buf_init(&prepped, 1024);
    if (tag[0] == '\0' || jid_resourceprep(strv_c(tag), &prepped) != 0 || prepped.len == 0 ||
        prepped.len > TAG_MAX) {
        buf_reset(&prepped);
        buf_append_c(&prepped, "starling");
    }
    unsigned char d[SHA256_DIGEST_LENGTH];
    if (s->agent[0]) {
        struct buf b;
        buf_init(&b, 2048);
        buf_printf(&b, "%s", st->bare);
        buf_append(&b, "", 1);
        buf_append_c(&b, s->agent);
        SHA256((const unsigned char *)b.p, b.len, d);
        buf_cleanup(&b);
    } else {
        RAND_bytes(d, sizeof(d));
    }
    char suffix[9];
    hex(d, 4, suffix);
    buf_printf(out, "%s.%s", buf_cstr(&prepped), suffix);
    buf_cleanup(&prepped);
}

/* Binds inline and runs the requested inline features; their answers go to `bound`. */
static void bind2(struct xstream *st, struct buf *bound)
{
    struct buf res;
    buf_init(&res, 2048);
    bind2_resource(st, &res);
    c2s__bind_resource(st, buf_cstr(&res), NULL, false);
    buf_cleanup(&res);
    if (st->state != XS_BOUND) {
        return;
    }
    for (const struct xml_node *c = xml_node_first_element(st->sasl2->bind); c != NULL;
         c = xml_node_next_element(c)) {
        if (c->ns && strcmp(c->ns, NS_BIND2) == 0) {
            continue; /* <tag/> */
        }
        int rc = xstream_bind2_run(st->sess, c, bound);
        if (rc != 0) {
            log_conn(&st->c->log, LOG_PROBLEMS, "Bind 2 inline <%s xmlns='%s'/> refused: %s",
                     c->name, c->ns ? c->ns : "", err_str(rc));
        }
    }
}

/* A new token for the agent, as <token/> in `out`. */
static void issue_token(struct xstream *st, struct buf *out)
{
    struct sasl2_state *s = st->sasl2;
    const struct settings *cfg = xstream__cfg();
    char token[AUTH_HT_TOKEN_LEN + 1];
    unsigned char key[AUTH_HT_MAC_LEN];
    char keyhex[2 * AUTH_HT_MAC_LEN + 1];
    if (auth_ht_token_new(token, sizeof(token), key) != 0) {
        return;
    }
    hex(key, sizeof(key), keyhex);
    time_t now = time(NULL);
    long long expires = (long long)now + cfg->xmpp.receiving.fast_token_lifetime;
    int rc = store_fast_token_add(worker_ctx()->store, st->domain, st->user, s->agent, keyhex,
                                  s->token_mech, (long long)now, expires,
                                  cfg->xmpp.receiving.fast_max_devices);
    if (rc == 0) {
        char stamp[STAMP_MAX];
        buf_printf(out, "<token xmlns='%s' expiry='%s' token='%s'/>", NS_FAST,
                   stamp_format((time_t)expires, stamp, sizeof(stamp)), token);
        log_conn(&st->c->log, LOG_MAJOR, "FAST token issued to %s for user agent %s", st->bare,
                 s->agent);
    } else {
        log_conn(&st->c->log, LOG_PROBLEMS, "FAST token for %s not stored: %s", st->bare,
                 err_str(rc));
    }
    OPENSSL_cleanse(token, sizeof(token));
    OPENSSL_cleanse(key, sizeof(key));
}

/* The FAST and user-agent bookkeeping of a success: the used token, a new one if asked. */
static void tokens_after_success(struct xstream *st, struct buf *out)
{
    struct sasl2_state *s = st->sasl2;
    struct store *store = worker_ctx()->store;
    if (s->agent[0]) {
        store_fast_agent_seen(store, st->domain, st->user, s->agent, s->software, s->device,
                              (long long)time(NULL));
    }
    if (s->fast) {
        if (s->fast_invalidate) {
            store_fast_revoke(store, st->domain, st->user, s->agent, NULL);
            store_fast_agent_seen(store, st->domain, st->user, s->agent, s->software, s->device,
                                  (long long)time(NULL));
        } else if (s->fast_record) {
            store_fast_token_used(store, st->domain, st->user, s->agent, s->fast_key,
                                  s->fast_count);
        }
    }
    if (s->token_mech[0] && fast_enabled()) {
        issue_token(st, out);
    }
}

/* On the account's worker: Bind 2, tokens, then <success/>. */
static void finish(struct xstream *st)
{
    struct sasl2_state *s = st->sasl2;
    struct buf bound, token, b;
    buf_init(&bound, 65536);
    buf_init(&token, 4096);
    buf_init(&b, 131072);
    tokens_after_success(st, &token);
    int rc = s->request ? xstream__sasl2_inline_run(st, s->request, &token) : 0;
    if (rc < 0) {
        log_conn(&st->c->log, LOG_PROBLEMS, "a SASL2 inline feature failed: %s", err_str(rc));
    }
    bool bind_here = s->bind && rc != XSTREAM_SASL2_BOUND; /* not when resumed (XEP-0198) */
    if (bind_here) {
        bind2(st, &bound);
    }
    buf_printf(&b, "<success xmlns='%s'>", NS_SASL2);
    if (s->additional.len > 0) {
        buf_append_c(&b, "<additional-data>");
        sasl_b64_encode((const unsigned char *)s->additional.p, s->additional.len, &b);
        buf_append_c(&b, "</additional-data>");
    }
    buf_append_c(&b, "<authorization-identifier>");
    append_text(&b, st->state == XS_BOUND ? st->sess->full : st->bare);
    buf_append_c(&b, "</authorization-identifier>");
    if (bind_here && st->state == XS_BOUND) {
        buf_printf(&b, "<bound xmlns='%s'>", NS_BIND2);
        buf_append(&b, bound.p, bound.len);
        buf_append_c(&b, "</bound>");
    }
    buf_append(&b, token.p, token.len);
    buf_append_c(&b, "</success>");
    conn_write(st->c, b.p, b.len); /* the token stays out of the protocol trace */
    OPENSSL_cleanse(token.p ? token.p : "", token.p ? token.len : 0);
    buf_cleanup(&bound);
    buf_cleanup(&token);
    buf_cleanup(&b);
    xstream__set_client(st, st->sasl2->software, true);
    xstream__sasl2_free(st); /* a session keeps nothing of its login */
    xstream__sasl2_inline_after(st);
    if (st->state == XS_AUTHED) {
        /* Without Bind 2 the stream goes on (no restart) with the features of XS_AUTHED. */
        xstream__features(st);
    }
}

void xstream__sasl2_succeeded(struct xstream *st, const struct buf *additional)
{
    struct sasl2_state *s = st->sasl2;
    buf_reset(&s->additional);
    buf_append(&s->additional, additional->p, additional->len);
    if (st->move_to >= 0) {
        s->pending_success = true;
        return;
    }
    finish(st);
}

void xstream__sasl2_moved(struct xstream *st)
{
    if (st->sasl2 != NULL && st->sasl2->pending_success) {
        st->sasl2->pending_success = false;
        finish(st);
    }
}
