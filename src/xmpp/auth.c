/* auth.c: the stream's authentication: SASL (one table of mechanisms in auth/) and legacy
 * jabber:iq:auth (XEP-0078). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/legacy.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "jid/jid.h"
#include "store/store.h"
#include "tls/tls.h"
#include "xml/ns.h"
#include "xmpp/stream_internal.h"
#include "xmpp/xmpp.h"

#define MAX_MECHS 16
#define MAX_FAILURE_DELAY_MS 8000

static const char *const cb_names[SASL_CB_COUNT] = {
    [SASL_CB_TLS_UNIQUE] = "tls-unique",
    [SASL_CB_TLS_EXPORTER] = "tls-exporter",
    [SASL_CB_TLS_SERVER_END_POINT] = "tls-server-end-point",
};

static int get_creds(void *ud, const char *username, struct auth_creds *out)
{
    struct xstream *st = ud;
    snprintf(st->a->login_name, sizeof(st->a->login_name), "%s", username);
    if (accounts_login_locked(&xstream__cfg()->auth, username, st->domain) > 0) {
        return ERR_LIMIT; /* locked: temporary-auth-failure before any password is looked at */
    }
    return accounts_lookup_creds(worker_ctx()->store, st->domain, username, out);
}

/* sasl_cb_fn: the link's binding data of type `t`, computed on first use and kept for the
 * stream (it does not change once TLS is up). */
static int get_cb(void *ud, enum sasl_cb_type t, struct sasl_cb_data *out)
{
    struct xstream *st = ud;
    struct buf *b = &st->a->cb[t];
    if (b->len == 0 &&
        (st->c->tls == NULL || tls_conn_channel_binding(st->c->tls, cb_names[t], b) != 0)) {
        buf_reset(b);
        return ERR_NOTFOUND;
    }
    out->data = (const unsigned char *)b->p;
    out->len = b->len;
    return 0;
}

/* The domain's Login Methods as the SASL table's policy. */
static void policy_of(const struct xstream *st, struct sasl_policy *pol, const char **names)
{
    int n = st->a->dom.n_login_methods;
    for (int i = 0; i < n && i < ACCOUNTS_MAX_METHODS; i++) {
        names[i] = st->a->dom.login_methods[i];
    }
    names[n] = NULL;
    pol->allowed = names;
    pol->clear_stored = st->a->dom.password_storage == PW_STORAGE_CLEAR;
}

/* Fills the SASL parameters from the link: TLS, channel bindings, client certificate. */
static void prepare_params(struct xstream *st)
{
    struct sasl_params *p = &st->a->sp;
    memset(p, 0, sizeof(*p));
    st->a->login_name[0] = '\0';
    p->domain = st->domain;
    p->get_creds = get_creds;
    p->ud = st;
    p->cb_none_mutual = st->cb_none_mutual;
    struct tls_conn *tls = st->c->tls;
    p->tls = tls != NULL;
    if (tls == NULL) {
        return;
    }
    p->tls_version = tls_conn_version(tls);
    /* Only which bindings the link has, for the features; a value is computed when a
     * mechanism checks it (get_cb), at most once per stream. */
    p->get_cb = get_cb;
    for (int i = 0; i < SASL_CB_COUNT; i++) {
        if (st->a->cb[i].len > 0 || tls_conn_channel_binding_offered(tls, cb_names[i])) {
            p->cb_types |= 1u << i;
        }
    }
    if (st->a->cert_ids == NULL) {
        char **ids = NULL;
        if (tls_conn_peer_ids(tls, &ids) > 0) {
            st->a->cert_ids = ids;
        } else if (ids) {
            tls_ids_free(ids);
        }
    }
    p->cert_ids = (const char *const *)st->a->cert_ids;
}

static bool tls_required_missing(const struct xstream *st)
{
    return xstream__cfg()->xmpp.receiving.require_tls && !conn_is_tls(st->c);
}

static bool legacy_digest_allowed(const struct xstream *st)
{
    return accounts_login_method_enabled(&st->a->dom, "CRAM-MD5") &&
           st->a->dom.password_storage == PW_STORAGE_CLEAR;
}

void xstream__features_auth(struct xstream *st, struct buf *out)
{
    if (!conn_is_tls(st->c)) {
        buf_printf(out, "<starttls xmlns='%s'>%s</starttls>", NS_TLS,
                   xstream__cfg()->xmpp.receiving.require_tls ? "<required/>" : "");
        if (tls_required_missing(st)) {
            return;
        }
    }
    prepare_params(st);
    struct sasl_policy pol;
    const char *allowed[ACCOUNTS_MAX_METHODS + 1];
    policy_of(st, &pol, allowed);
    const char *mechs[MAX_MECHS];
    size_t n = sasl_mechs_offered(&pol, &st->a->sp, mechs, MAX_MECHS);
    buf_printf(out, "<mechanisms xmlns='%s'>", NS_SASL);
    for (size_t i = 0; i < n; i++) {
        buf_printf(out, "<mechanism>%s</mechanism>", mechs[i]);
    }
    buf_append_c(out, "</mechanisms>");
    bool any_cb = st->a->sp.cb_types != 0;
    if (any_cb) {
        /* XEP-0440: the channel-binding types this server supports on this link. */
        buf_printf(out, "<sasl-channel-binding xmlns='%s'>", NS_SASL_CB);
        for (int i = 0; i < SASL_CB_COUNT; i++) {
            if (sasl_cb_offered(&st->a->sp, i)) {
                buf_printf(out, "<channel-binding type='%s'/>", cb_names[i]);
            }
        }
        buf_append_c(out, "</sasl-channel-binding>");
    }
    xstream__sasl2_features(st, out, mechs, n, any_cb ? cb_names : NULL);
    buf_printf(out, "<auth xmlns='%s'/>", NS_IQ_AUTH_FEATURE);
}

static void send_sasl(struct xstream *st, const char *what, const struct buf *data)
{
    struct buf b;
    buf_init(&b, 65536);
    if (data == NULL) {
        buf_printf(&b, "<%s xmlns='%s'/>", what, NS_SASL);
    } else if (data->len == 0) {
        buf_printf(&b, "<%s xmlns='%s'>=</%s>", what, NS_SASL, what);
    } else {
        buf_printf(&b, "<%s xmlns='%s'>", what, NS_SASL);
        sasl_b64_encode((const unsigned char *)data->p, data->len, &b);
        buf_printf(&b, "</%s>", what);
    }
    /* SASL payloads never reach the log, so this bypasses xstream__write's protocol trace. */
    conn_write(st->c, b.p, b.len);
    buf_cleanup(&b);
}

void xstream__flush_delayed(struct xstream *st)
{
    if (st->a == NULL) {
        return;
    }
    loop_timer_stop(st->c->loop, &st->a->delay_timer);
    if (st->a->delayed.len == 0) {
        return;
    }
    xstream__write(st, st->a->delayed.p, st->a->delayed.len);
    buf_reset(&st->a->delayed);
    if (st->close_after_delayed) {
        st->close_after_delayed = false;
        xstream_error(st, "policy-violation", "too many authentication failures");
    }
}

static void delayed_fire(void *ud)
{
    xstream__flush_delayed(ud);
}

void xstream__auth_cleanup(struct xstream *st)
{
    if (st->sasl) {
        sasl_session_free(st->sasl);
        st->sasl = NULL;
    }
    xstream__sasl2_free(st);
    if (st->a == NULL) {
        return;
    }
    if (st->a->cert_ids) {
        tls_ids_free(st->a->cert_ids);
        st->a->cert_ids = NULL;
    }
    if (st->c && st->c->loop) {
        loop_timer_stop(st->c->loop, &st->a->delay_timer);
    }
}

void xstream__auth_free(struct xstream *st)
{
    xstream__auth_cleanup(st);
    if (st->a == NULL) {
        return;
    }
    for (int i = 0; i < SASL_CB_COUNT; i++) {
        buf_cleanup(&st->a->cb[i]);
    }
    buf_cleanup(&st->a->delayed);
    free(st->a);
    st->a = NULL;
}

/* Per-account lock-out (accounts_login_*): a wrong password or an unknown name counts for the
 * account looked up, whatever the address; a locked account is refused in get_creds. */
static void account_failure(struct xstream *st, const char *condition, const char *who)
{
    if (who == NULL && st->a->login_name[0] != '\0') {
        who = st->a->login_name;
    }
    if (who == NULL || strcmp(condition, "not-authorized") != 0) {
        return;
    }
    int lock = accounts_login_failed(&xstream__cfg()->auth, who, st->domain);
    if (lock > 0) {
        log_conn_tag(&st->c->log, LOG_TAG_XMPPI, LOG_MAJOR,
                     "account %s (domain %s) locked for %d s after repeated failed logins", who,
                     st->domain, lock);
    }
}

/* Whether a failure of this kind counts as a password guess (per stream and per address, with
 * back-off). A channel-binding refusal comes before any password check: it is answered at once
 * and costs nothing, so a client negotiating its way to a binding it shares with us (or to "y",
 * see docs/internals/sasl.md) is not slowed down. */
static bool failure_is_guess(enum sasl_fail_kind kind)
{
    return kind != SASL_FAIL_CHANNEL_BINDING;
}

/* A failed attempt: the answer to a guess is held back longer with each failure from the
 * address; the log record names the reason. */
static void sasl_failure(struct xstream *st, const char *condition, enum sasl_fail_kind kind,
                         const char *why, const char *who)
{
    const struct settings *cfg = xstream__cfg();
    if (failure_is_guess(kind)) {
        account_failure(st, condition, who);
    }
    if (st->sasl) {
        sasl_session_free(st->sasl);
        st->sasl = NULL;
    }
    st->state = XS_NEGOTIATE;
    atomic_fetch_add(&g_xmpp_stats.auth_failures, 1);
    log_conn_tag(&st->c->log, LOG_TAG_XMPPI, LOG_PROBLEMS, "SASL failure (%s): %s%s%s%s%s",
                 condition, sasl_fail_kind_name(kind), why && why[0] ? ": " : "", why ? why : "",
                 who ? " for " : "", who ? who : "");
    buf_reset(&st->a->delayed);
    if (xstream__sasl2_active(st)) {
        /* XEP-0388: the reason as <text/> only when it tells nothing about the password. */
        xstream__sasl2_failure(st, condition, failure_is_guess(kind) ? NULL : why, &st->a->delayed);
    } else {
        buf_printf(&st->a->delayed, "<failure xmlns='%s'><%s/></failure>", NS_SASL, condition);
    }
    if (!failure_is_guess(kind)) {
        xstream__flush_delayed(st);
        return;
    }
    st->auth_failures++;
    int recent = xmpp_addr_auth_failed(st->c->addr);
    st->close_after_delayed = st->auth_failures >= cfg->xmpp.receiving.max_auth_failures;
    long delay = cfg->xmpp.receiving.auth_failure_delay_ms;
    for (int i = 1; i < recent && delay < MAX_FAILURE_DELAY_MS; i++) {
        delay *= 2;
    }
    if (delay > MAX_FAILURE_DELAY_MS) {
        delay = MAX_FAILURE_DELAY_MS;
    }
    if (delay <= 0) {
        xstream__flush_delayed(st);
        return;
    }
    loop_timer_start(st->c->loop, &st->a->delay_timer, (uint64_t)delay, delayed_fire, st);
}

/* The failure of the current SASL session, classified by the mechanism. */
static void session_failure(struct xstream *st)
{
    const char *who = sasl_session_username(st->sasl);
    char name[256];
    char why[192];
    snprintf(name, sizeof(name), "%s", who ? who : "");
    snprintf(why, sizeof(why), "%s", sasl_session_failure_reason(st->sasl));
    if (sasl_session_cb_type_unoffered(st->sasl)) {
        st->cb_none_mutual = true;
    }
    sasl_failure(st, sasl_session_failure(st->sasl), sasl_session_failure_kind(st->sasl), why,
                 name[0] ? name : NULL);
}

/* The account is known: the stream restarts, and the connection moves to its home worker. */
static void authenticated(struct xstream *st, const char *user, const char *how)
{
    xstream__set(&st->user, "%s", user);
    snprintf(st->mechanism, sizeof(st->mechanism), "%s", how);
    atomic_fetch_add(&g_xmpp_stats.logins, 1);
    if (!xstream__sasl2_active(st)) {
        xstream__sasl2_free(st); /* SASL or XEP-0078: the SASL2 offer is of no more use */
    }
    xstream__set(&st->bare, "%s@%s", user, st->domain);
    st->c->log.account = st->bare;
    st->state = XS_AUTHED;
    xmpp_addr_auth_succeeded(st->c->addr);
    accounts_login_succeeded(user, st->domain);
    log_conn(&st->c->log, LOG_MAJOR, "%s logged in with %s", st->bare, how);
    int home = worker_home(strv_c(st->bare));
    if (home != worker_self()->id) {
        st->move_to = home;
    }
}

/* Prepares the authenticated authcid into a local part and checks the authzid. */
static const char *finish_sasl(struct xstream *st, struct buf *user)
{
    const char *name = sasl_session_username(st->sasl);
    if (name == NULL || jid_nodeprep(strv_c(name), user) != 0) {
        return "not-authorized";
    }
    if (accounts_account_exists(worker_ctx()->store, st->domain, buf_cstr(user)) != 1) {
        return "not-authorized";
    }
    const char *authzid = sasl_session_authzid(st->sasl);
    if (authzid && authzid[0]) {
        struct jid z;
        if (jid_parse(&z, strv_c(authzid)) != 0) {
            return "invalid-authzid";
        }
        bool same = z.local && strcmp(z.local, buf_cstr(user)) == 0 && z.resource == NULL &&
                    strcmp(z.domain, st->domain) == 0;
        jid_cleanup(&z);
        if (!same) {
            /* Acting for another account is not offered. */
            return "invalid-authzid";
        }
    }
    return NULL;
}

/* One step with the data in `el`'s text (NULL: no initial response). */
static void sasl_run(struct xstream *st, const struct xml_node *el, bool initial)
{
    struct buf text, in, out;
    buf_init(&text, 65536);
    buf_init(&in, 65536);
    buf_init(&out, 65536);
    if (el != NULL && xml_node_text(el, &text) != 0) {
        /* Over the size limit: never treated as a shorter (or empty) response. */
        sasl_failure(st, "malformed-request", SASL_FAIL_MALFORMED, "SASL data over the size limit",
                     NULL);
        goto done;
    }
    bool has_data = text.len > 0 || !initial;
    int rc = 0;
    if (text.len == 1 && text.p[0] == '=') {
        buf_reset(&text);
    } else if (text.len > 0 && sasl_b64_decode(buf_strv(&text), &in) != 0) {
        rc = ERR_INVAL;
    }
    if (rc != 0) {
        sasl_failure(st, "incorrect-encoding", SASL_FAIL_MALFORMED, "bad base64", NULL);
        goto done;
    }
    rc = sasl_step(st->sasl, (const unsigned char *)in.p, in.len, has_data, &out);
    if (rc == SASL_CONTINUE) {
        st->state = XS_SASL;
        if (xstream__sasl2_active(st)) {
            xstream__sasl2_challenge(st, &out);
        } else {
            send_sasl(st, "challenge", out.len ? &out : NULL);
        }
        goto done;
    }
    if (rc != SASL_DONE) {
        session_failure(st);
        goto done;
    }
    struct buf user;
    buf_init(&user, 1024);
    const char *bad = finish_sasl(st, &user);
    if (bad) {
        bool unknown = strcmp(bad, "not-authorized") == 0;
        sasl_failure(st, bad, unknown ? SASL_FAIL_UNKNOWN_USER : SASL_FAIL_OTHER,
                     unknown ? NULL : "another authorization identity", buf_cstr(&user));
        buf_cleanup(&user);
        goto done;
    }
    bool sasl2 = xstream__sasl2_active(st);
    if (!sasl2) {
        send_sasl(st, "success", out.len ? &out : NULL);
    }
    char how[64];
    snprintf(how, sizeof(how), "%s", sasl_mech_name(st->sasl_mech));
    sasl_session_free(st->sasl);
    st->sasl = NULL;
    authenticated(st, buf_cstr(&user), how);
    buf_cleanup(&user);
    if (sasl2) {
        /* XEP-0388: no restart; <success/> (with Bind 2) on the account's worker. */
        xstream__sasl2_succeeded(st, &out);
    } else {
        xstream__restart(st);
    }
done:
    buf_cleanup(&text);
    buf_cleanup(&in);
    buf_cleanup(&out);
}

void xstream__sasl_auth(struct xstream *st, struct xml_node *el)
{
    xstream__sasl_start(st, xml_node_attr(el, "mechanism"), el);
}

void xstream__sasl_start(struct xstream *st, const char *name, const struct xml_node *data)
{
    if (tls_required_missing(st)) {
        sasl_failure(st, "encryption-required", SASL_FAIL_OTHER, "TLS is required first", NULL);
        return;
    }
    prepare_params(st);
    st->a->sp.ssdp = xstream__sasl2_ssdp(st);
    struct sasl_policy pol;
    const char *allowed[ACCOUNTS_MAX_METHODS + 1];
    policy_of(st, &pol, allowed);
    const struct sasl_mech *m = name ? sasl_mech_find(name) : NULL;
    if (m == NULL || !sasl_mech_allowed(&pol, &st->a->sp, name)) {
        sasl_failure(st, "invalid-mechanism", SASL_FAIL_OTHER, "a mechanism not offered here",
                     NULL);
        return;
    }
    if (st->sasl) {
        sasl_session_free(st->sasl);
    }
    st->sasl = sasl_session_new(m, &st->a->sp);
    st->sasl_mech = m;
    sasl_run(st, data, true);
}

void xstream__sasl_response(struct xstream *st, struct xml_node *el)
{
    sasl_run(st, el, false);
}

void xstream__sasl_abort(struct xstream *st)
{
    sasl_failure(st, "aborted", SASL_FAIL_OTHER, "the client aborted", NULL);
}

/* XEP-0078 */
static void legacy_fields(struct xstream *st, const struct xml_node *iq, const struct xml_node *q)
{
    struct xml_node *r = xml_node_new(NS_IQ_AUTH, "query");
    struct xml_node *u = xml_node_add_child(r, NULL, "username");
    struct buf given;
    buf_init(&given, 1024);
    const struct xml_node *gu = xml_node_child(q, NS_IQ_AUTH, "username");
    if (gu && xml_node_text(gu, &given) == 0 && given.len) {
        xml_node_add_text(u, given.p, given.len);
    }
    buf_cleanup(&given);
    if (accounts_login_method_enabled(&st->a->dom, "PLAIN")) {
        xml_node_add_child(r, NULL, "password");
    }
    if (legacy_digest_allowed(st)) {
        xml_node_add_child(r, NULL, "digest");
    }
    xml_node_add_child(r, NULL, "resource");
    xstream__iq_result(st, iq, r);
}

static void child_text(const struct xml_node *q, const char *name, struct buf *out)
{
    const struct xml_node *n = xml_node_child(q, NS_IQ_AUTH, name);
    if (n) {
        xml_node_text(n, out);
    }
}

static const char *legacy_verify(struct xstream *st, const struct buf *user,
                                 const struct buf *password, const struct buf *digest)
{
    struct auth_creds creds;
    memset(&creds, 0, sizeof(creds));
    if (accounts_login_locked(&xstream__cfg()->auth, buf_cstr(user), st->domain) > 0) {
        return "policy-violation";
    }
    int rc = accounts_lookup_creds(worker_ctx()->store, st->domain, buf_cstr(user), &creds);
    if (rc != 0) {
        return "not-authorized";
    }
    const char *bad = NULL;
    if (creds.disabled) {
        bad = "not-allowed";
    } else if (digest->len) {
        if (!legacy_digest_allowed(st) ||
            auth_legacy_digest_verify(&creds, st->id, buf_cstr(digest)) != 0) {
            bad = "not-authorized";
        }
    } else if (!accounts_login_method_enabled(&st->a->dom, "PLAIN")) {
        bad = "not-acceptable";
    } else if (creds.secure_required && !conn_is_tls(st->c)) {
        bad = "policy-violation";
    } else if (auth_creds_verify_password(&creds, buf_cstr(password)) != 0) {
        bad = "not-authorized";
    }
    auth_creds_cleanup(&creds);
    return bad;
}

void xstream__legacy_auth(struct xstream *st, struct xml_node *iq)
{
    const struct xml_node *q = xml_node_first_element(iq);
    const char *type = xml_node_attr(iq, "type");
    if (type && strcmp(type, "get") == 0) {
        legacy_fields(st, iq, q);
        return;
    }
    if (type == NULL || strcmp(type, "set") != 0) {
        xstream__iq_error(st, iq, "modify", "bad-request", NULL);
        return;
    }
    if (tls_required_missing(st)) {
        xstream__iq_error(st, iq, "cancel", "policy-violation", "TLS is required first");
        return;
    }
    struct buf user_raw, user, resource_raw, resource, password, digest;
    buf_init(&user_raw, 2048);
    buf_init(&user, 2048);
    buf_init(&resource_raw, 2048);
    buf_init(&resource, 2048);
    buf_init(&password, 4096);
    buf_init(&digest, 256);
    child_text(q, "username", &user_raw);
    child_text(q, "resource", &resource_raw);
    child_text(q, "password", &password);
    child_text(q, "digest", &digest);
    const char *bad = NULL;
    if (user_raw.len == 0 || resource_raw.len == 0 || (password.len == 0 && digest.len == 0)) {
        bad = "not-acceptable";
    } else if (jid_nodeprep(buf_strv(&user_raw), &user) != 0 ||
               jid_resourceprep(buf_strv(&resource_raw), &resource) != 0) {
        bad = "not-acceptable";
    } else {
        bad = legacy_verify(st, &user, &password, &digest);
    }
    if (bad) {
        const char *etype = strcmp(bad, "not-authorized") == 0   ? "auth"
                            : strcmp(bad, "not-acceptable") == 0 ? "modify"
                                                                 : "cancel";
        xstream__iq_error(st, iq, etype, bad, NULL);
        st->auth_failures++;
        xmpp_addr_auth_failed(st->c->addr);
        account_failure(st, bad, buf_cstr(&user));
        log_conn_tag(&st->c->log, LOG_TAG_XMPPI, LOG_PROBLEMS,
                     "legacy authentication failed (%s) for %s", bad, buf_cstr(&user_raw));
        if (st->auth_failures >= xstream__cfg()->xmpp.receiving.max_auth_failures) {
            xstream_error(st, "policy-violation", "too many authentication failures");
        }
    } else {
        const char *id = xml_node_attr(iq, "id");
        xstream__set(&st->pending_iq_id, "%s", id ? id : "");
        xstream__set(&st->pending_resource, "%s", buf_cstr(&resource));
        authenticated(st, buf_cstr(&user), digest.len ? "legacy digest" : "legacy password");
        if (st->move_to >= 0) {
            st->pending_legacy_bind = true;
        } else {
            c2s__bind_resource(st, st->pending_resource, NULL, true);
        }
    }
    buf_cleanup(&user_raw);
    buf_cleanup(&user);
    buf_cleanup(&resource_raw);
    buf_cleanup(&resource);
    OPENSSL_cleanse(password.p ? password.p : "", password.len);
    buf_cleanup(&password);
    buf_cleanup(&digest);
}

/* For SASL2 (sasl2.c): the same link parameters, accounting and success as SASL. */
void xstream__auth_prepare(struct xstream *st)
{
    prepare_params(st);
}

void xstream__auth_failure(struct xstream *st, const char *condition, enum sasl_fail_kind kind,
                           const char *why, const char *who)
{
    sasl_failure(st, condition, kind, why, who);
}

void xstream__auth_success(struct xstream *st, const char *user, const char *how)
{
    authenticated(st, user, how);
}

bool xstream__auth_tls_missing(const struct xstream *st)
{
    return tls_required_missing(st);
}
