/* register.c: XEP-0077 in-band registration before authentication, and XEP-0401 pre-auth tokens. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accounts/signup.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "im/im.h"
#include "store/store_register.h"
#include "xml/ns.h"
#include "xmpp/stream_internal.h"


static bool tls_missing(const struct xstream *st)
{
    return xstream__cfg()->xmpp.receiving.require_tls && !conn_is_tls(st->c);
}

static bool open_for_signup(const struct xstream *st)
{
    return st->a->dom.auto_signup && !tls_missing(st);
}

void xstream__register_feature(struct xstream *st, struct buf *out)
{
    if (open_for_signup(st)) {
        buf_printf(out, "<register xmlns='%s'/>", NS_REGISTER_FEATURE);
    }
}

static void add_form_field(struct xml_node *x, const char *type, const char *var, const char *label,
                           bool required)
{
    struct xml_node *f = xml_node_add_child(x, NULL, "field");
    xml_node_set_attr(f, "type", type);
    xml_node_set_attr(f, "var", var);
    if (label) {
        xml_node_set_attr(f, "label", label);
    }
    if (required) {
        xml_node_add_child(f, NULL, "required");
    }
}

static void add_text(struct xml_node *parent, const char *name, const char *text)
{
    struct xml_node *n = xml_node_add_child(parent, NULL, name);
    if (text) {
        xml_node_add_text(n, text, strlen(text));
    }
}

static void register_get(struct xstream *st, const struct xml_node *iq)
{
    struct xml_node *q = xml_node_new(NS_REGISTER, "query");
    bool token = st->a->dom.signup_invite_only && st->a->reg_token[0] == '\0';
    const char *instr = token ? "Choose a user name and password; an invitation token is needed."
                              : "Choose a user name and password for your new account.";
    add_text(q, "instructions", instr);
    xml_node_add_child(q, NULL, "username");
    xml_node_add_child(q, NULL, "password");
    struct xml_node *x = xml_node_add_child(q, NS_XDATA, "x");
    xml_node_set_attr(x, "type", "form");
    add_text(x, "title", "Account registration");
    add_text(x, "instructions", instr);
    struct xml_node *ft = xml_node_add_child(x, NULL, "field");
    xml_node_set_attr(ft, "type", "hidden");
    xml_node_set_attr(ft, "var", "FORM_TYPE");
    add_text(ft, "value", NS_REGISTER);
    add_form_field(x, "text-single", "username", "User name", true);
    add_form_field(x, "text-private", "password", "Password", true);
    if (token) {
        add_form_field(x, "text-single", "token", "Invitation token", true);
    }
    xstream__iq_result(st, iq, q);
}

/* XEP-0401: <iq type='set'><preauth xmlns='urn:xmpp:pars:0' token='…'/></iq> before
 * registration; the token is checked now and used by the registration that follows. */
void xstream__register_preauth(struct xstream *st, struct xml_node *iq)
{
    const char *type = xml_node_attr(iq, "type");
    const struct xml_node *p = xml_node_first_element(iq);
    const char *token = xml_node_attr(p, "token");
    if (type == NULL || strcmp(type, "set") != 0 || token == NULL || token[0] == '\0' ||
        strlen(token) >= sizeof(st->a->reg_token)) {
        xstream__iq_error(st, iq, "modify", "bad-request", NULL);
        return;
    }
    if (!open_for_signup(st)) {
        xstream__iq_error(st, iq, "cancel", "service-unavailable", NULL);
        return;
    }
    int rc = store_invite_valid(worker_ctx()->store, token, st->domain, (long long)time(NULL));
    if (rc != 1) {
        xstream__iq_error(st, iq, "cancel", "item-not-found", "unknown or expired token");
        return;
    }
    snprintf(st->a->reg_token, sizeof(st->a->reg_token), "%s", token);
    xstream__iq_result(st, iq, NULL);
}

static void refused(struct xstream *st, const struct xml_node *iq, const char *user,
                    const struct signup_refusal *why)
{
    log_conn_tag(&st->c->log, LOG_TAG_XMPPI, LOG_PROBLEMS, "registration of %s@%s refused: %s",
                 user, st->domain, why->text);
    xstream__iq_error(st, iq, why->type, why->condition, why->text);
}

/* Uses the invitation `token` once; its inviter ("" for an administrator's) into `inviter`. */
static int take_invite(struct store *store, const char *domain, const char *token, time_t now,
                       struct buf *inviter)
{
    if (token[0] == '\0' ||
        store_invite_inviter(store, token, domain, (long long)now, inviter) != 0) {
        return ERR_NOTFOUND;
    }
    return store_invite_take(store, token, domain, (long long)now);
}

/* XEP-0401: a new account made with an account's invitation and that account subscribe to each
 * other (XEP-0379 pre-authorisation through a one-time grant). */
static void roster_link(struct xstream *st, const char *user, const char *inviter,
                        const char *token, time_t now)
{
    struct store *store = worker_ctx()->store;
    long long expires = (long long)now + xstream__cfg()->reg.invite_lifetime;
    char a[2400], b[2400];
    snprintf(a, sizeof(a), "%s@%s", user, st->domain);
    snprintf(b, sizeof(b), "%s@%s", inviter, st->domain);
    struct jid invitee, by;
    if (jid_parse(&invitee, strv_c(a)) != 0) {
        return;
    }
    if (jid_parse(&by, strv_c(b)) == 0) {
        int rc = store_invite_grant_add(store, token, st->domain, inviter, a, expires);
        rc = rc ? rc : im_invite_subscribe(&invitee, &by, token);
        if (rc != 0) {
            log_conn_tag(&st->c->log, LOG_TAG_XMPPI, LOG_PROBLEMS,
                         "roster of %s and its inviter %s not linked: %s", a, b, err_str(rc));
        }
        jid_cleanup(&by);
    }
    jid_cleanup(&invitee);
}

static void register_set(struct xstream *st, const struct xml_node *iq, const struct xml_node *q)
{
    const struct settings *cfg = xstream__cfg();
    struct store *store = worker_ctx()->store;
    struct buf user_raw, user, password, token;
    buf_init(&user_raw, 2048);
    buf_init(&user, 2048);
    buf_init(&password, 4096);
    buf_init(&token, 256);
    struct buf inviter;
    buf_init(&inviter, 2048);
    struct signup_refusal why = { 0 };
    time_t now = time(NULL);
    if (xml_node_child(q, NS_REGISTER, "remove")) {
        xstream__iq_error(st, iq, "cancel", "not-allowed", "log in to cancel a registration");
        goto done;
    }
    signup_field(q, "username", &user_raw);
    signup_field(q, "password", &password);
    signup_field(q, "token", &token);
    if (token.len == 0 && st->a->reg_token[0]) {
        buf_append_c(&token, st->a->reg_token);
    }
    if (user_raw.len == 0 || password.len == 0) {
        xstream__iq_error(st, iq, "modify", "not-acceptable",
                          "a user name and password are needed");
        goto done;
    }
    if (jid_nodeprep(buf_strv(&user_raw), &user) != 0 || user.len > ACCOUNTS_NAME_MAX) {
        xstream__iq_error(st, iq, "modify", "jid-malformed", "the user name is not valid");
        goto done;
    }
    if (!signup_rate_allowed(cfg, st->c->addr, st->domain, now, &why)) {
        refused(st, iq, buf_cstr(&user), &why);
        goto done;
    }
    if (signup_check_name(store, cfg, st->domain, buf_cstr(&user), &why) != 0 ||
        signup_check_password(cfg, buf_cstr(&password), &why) != 0) {
        refused(st, iq, buf_cstr(&user), &why);
        goto done;
    }
    /* The invitation is used up only with the account made: both are stored, or neither. */
    char jid[2400];
    char err[256] = "";
    snprintf(jid, sizeof(jid), "%s@%s", buf_cstr(&user), st->domain);
    bool no_invite = false;
    int rc = store_group_begin(store);
    if (rc == 0) {
        if (st->a->dom.signup_invite_only || token.len > 0) {
            rc = take_invite(store, st->domain, buf_cstr(&token), now, &inviter);
            no_invite = rc == ERR_NOTFOUND;
            if (no_invite && !st->a->dom.signup_invite_only) {
                /* An open domain: a token that is not (or no longer) good is ignored. */
                rc = 0;
                no_invite = false;
                buf_reset(&inviter);
            }
        }
        if (rc == 0) {
            rc = accounts_account_add(store, jid, buf_cstr(&password), err, sizeof(err));
        }
        rc = store_group_end(store, rc);
    }
    if (no_invite) {
        why = (struct signup_refusal){ "cancel", "not-allowed", "" };
        snprintf(why.text, sizeof(why.text), "registration needs a valid invitation token");
        refused(st, iq, buf_cstr(&user), &why);
        goto done;
    }
    if (rc != 0 && err[0] == '\0') {
        snprintf(err, sizeof(err), "%s", store_last_error(store));
    }
    if (rc == 0 && st->a->dom.signup_invite_only) {
        st->a->reg_token[0] = '\0';
    }
    if (rc == ERR_EXISTS) {
        xstream__iq_error(st, iq, "cancel", "conflict", "this user name is taken");
        goto done;
    }
    if (rc != 0) {
        log_conn_tag(&st->c->log, LOG_TAG_XMPPI, LOG_FAILURES, "registration of %s: %s", jid, err);
        const char *type;
        const char *cond = signal_store_condition(rc, &type);
        xstream__iq_error(st, iq, type, cond, NULL);
        goto done;
    }
    signup_rate_note(cfg, st->c->addr, st->domain, now);
    log_conn_tag(&st->c->log, LOG_TAG_XMPPI, LOG_MAJOR, "account %s registered in-band%s%s", jid,
                 inviter.len ? ", invited by " : "", buf_cstr(&inviter));
    xstream__iq_result(st, iq, NULL);
    if (inviter.len > 0) {
        roster_link(st, buf_cstr(&user), buf_cstr(&inviter), buf_cstr(&token), now);
    }

done:
    buf_cleanup(&inviter);
    buf_cleanup(&user_raw);
    buf_cleanup(&user);
    buf_cleanup(&password);
    buf_cleanup(&token);
}

void xstream__register(struct xstream *st, struct xml_node *iq)
{
    const char *type = xml_node_attr(iq, "type");
    const struct xml_node *q = xml_node_first_element(iq);
    bool get = type && strcmp(type, "get") == 0;
    bool set = type && strcmp(type, "set") == 0;
    if (!get && !set) {
        xstream__iq_error(st, iq, "modify", "bad-request", NULL);
        return;
    }
    if (tls_missing(st) && st->a->dom.auto_signup) {
        xstream__iq_error(st, iq, "cancel", "policy-violation", "TLS is required first");
        return;
    }
    if (!st->a->dom.auto_signup) {
        xstream__iq_error(st, iq, "cancel", "service-unavailable",
                          "in-band registration is not available on this domain");
        return;
    }
    if (get) {
        register_get(st, iq);
    } else {
        register_set(st, iq, q);
    }
}
