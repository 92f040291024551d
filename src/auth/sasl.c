/* sasl.c: the SASL mechanism table, policy filtering and the session shared by all mechanisms. */
#include "auth/sasl.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/internal.h"
#include "core/err.h"

/* Strongest first: the order of sasl_mechs_offered(). */
static const struct sasl_mech mechs[] = {
    { "SCRAM-SHA-512-PLUS", SASL__SCRAM, SCRAM_SHA512, true, &sasl__scram_ops },
    { "SCRAM-SHA-256-PLUS", SASL__SCRAM, SCRAM_SHA256, true, &sasl__scram_ops },
    { "SCRAM-SHA-1-PLUS", SASL__SCRAM, SCRAM_SHA1, true, &sasl__scram_ops },
    { "SCRAM-SHA-512", SASL__SCRAM, SCRAM_SHA512, false, &sasl__scram_ops },
    { "SCRAM-SHA-256", SASL__SCRAM, SCRAM_SHA256, false, &sasl__scram_ops },
    { "SCRAM-SHA-1", SASL__SCRAM, SCRAM_SHA1, false, &sasl__scram_ops },
    { "DIGEST-MD5", SASL__DIGEST_MD5, SCRAM_SHA1, false, &sasl__digest_md5_ops },
    { "CRAM-MD5", SASL__CRAM_MD5, SCRAM_SHA1, false, &sasl__cram_md5_ops },
    { "PLAIN", SASL__PLAIN, SCRAM_SHA1, false, &sasl__plain_ops },
    { "LOGIN", SASL__LOGIN, SCRAM_SHA1, false, &sasl__login_ops },
    { "EXTERNAL", SASL__EXTERNAL, SCRAM_SHA1, false, &sasl__external_ops },
};
#define MECH_COUNT (sizeof(mechs) / sizeof(mechs[0]))

const struct sasl_mech *sasl_mech_find(const char *name)
{
    for (size_t i = 0; i < MECH_COUNT; i++) {
        if (strcmp(mechs[i].name, name) == 0) {
            return &mechs[i];
        }
    }
    return NULL;
}

const char *sasl_mech_name(const struct sasl_mech *m)
{
    return m->name;
}

bool sasl_mech_is_plaintext(const struct sasl_mech *m)
{
    return m->family == SASL__PLAIN || m->family == SASL__LOGIN;
}

/* Whether the policy's list enables `m` ("SCRAM-SHA-1" also enables "SCRAM-SHA-1-PLUS"). */
static bool policy_lists(const struct sasl_policy *pol, const struct sasl_mech *m)
{
    if (pol == NULL || pol->allowed == NULL) {
        return true;
    }
    size_t n = strlen(m->name);
    size_t base = m->plus ? n - strlen("-PLUS") : n;
    for (const char *const *a = pol->allowed; *a != NULL; a++) {
        if (strcasecmp(*a, m->name) == 0) {
            return true;
        }
        if (m->plus && strlen(*a) == base && strncasecmp(*a, m->name, base) == 0) {
            return true;
        }
    }
    return false;
}

bool sasl_cb_offered(const struct sasl_params *p, int t)
{
    return t >= 0 && t < SASL_CB_COUNT && (p->cb_types & (1u << t)) != 0;
}

int sasl_cb_get(const struct sasl_params *p, enum sasl_cb_type t, struct sasl_cb_data *out)
{
    *out = (struct sasl_cb_data){ NULL, 0 };
    if (!sasl_cb_offered(p, (int)t) || p->get_cb == NULL) {
        return ERR_NOTFOUND;
    }
    return p->get_cb(p->ud, t, out);
}

static bool has_cb(const struct sasl_params *p)
{
    return (p->cb_types & ((1u << SASL_CB_COUNT) - 1)) != 0;
}

static bool can_succeed(const struct sasl_policy *pol, const struct sasl_params *p,
                        const struct sasl_mech *m)
{
    if (!policy_lists(pol, m)) {
        return false;
    }
    switch (m->family) {
    case SASL__SCRAM:
        return !m->plus || (p->tls && has_cb(p));
    case SASL__CRAM_MD5:
    case SASL__DIGEST_MD5:
        return pol != NULL && pol->clear_stored && sasl__gsasl_supports(m->family);
    case SASL__PLAIN:
    case SASL__LOGIN:
        return true;
    case SASL__EXTERNAL:
        return p->cert_ids != NULL && p->cert_ids[0] != NULL;
    }
    return false;
}

size_t sasl_mechs_offered(const struct sasl_policy *pol, const struct sasl_params *p,
                          const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < MECH_COUNT && n < max; i++) {
        if (can_succeed(pol, p, &mechs[i])) {
            out[n++] = mechs[i].name;
        }
    }
    return n;
}

bool sasl_mech_allowed(const struct sasl_policy *pol, const struct sasl_params *p, const char *name)
{
    const struct sasl_mech *m = sasl_mech_find(name);
    return m != NULL && can_succeed(pol, p, m);
}

struct sasl_session *sasl_session_new(const struct sasl_mech *m, const struct sasl_params *p)
{
    assert(m != NULL && p != NULL && p->get_creds != NULL);
    struct sasl_session *s = xcalloc(1, sizeof(*s));
    s->mech = m;
    s->params = p;
    return s;
}

int sasl_step(struct sasl_session *s, const unsigned char *in, size_t inlen, bool has_data,
              struct buf *out)
{
    if (s->failure != NULL) {
        return ERR_PROTO;
    }
    if (s->done) {
        return sasl__fail(s, "malformed-request", ERR_PROTO);
    }
    if (inlen > SASL__MAX_INPUT) {
        return sasl__fail(s, "malformed-request", ERR_PROTO);
    }
    struct strv data = { inlen ? (const char *)in : "", inlen };
    int rc = s->mech->ops->step(s, data, has_data, out);
    if (rc == SASL_DONE) {
        assert(s->username != NULL);
        s->done = true;
    }
    assert(rc >= 0 || s->failure != NULL);
    return rc;
}

const char *sasl_session_failure(const struct sasl_session *s)
{
    return s->failure;
}

const char *sasl_session_username(const struct sasl_session *s)
{
    return s->done ? s->username : NULL;
}

const char *sasl_session_authzid(const struct sasl_session *s)
{
    return s->authzid;
}

void sasl_session_free(struct sasl_session *s)
{
    if (s == NULL) {
        return;
    }
    s->mech->ops->cleanup(s);
    free(s->username);
    free(s->authzid);
    free(s);
}

enum sasl_fail_kind sasl_session_failure_kind(const struct sasl_session *s)
{
    return s->failure != NULL ? s->fail_kind : SASL_FAIL_NONE;
}

const char *sasl_fail_kind_name(enum sasl_fail_kind kind)
{
    switch (kind) {
    case SASL_FAIL_CREDENTIALS:
        return "wrong password";
    case SASL_FAIL_UNKNOWN_USER:
        return "unknown user";
    case SASL_FAIL_CHANNEL_BINDING:
        return "channel binding";
    case SASL_FAIL_MALFORMED:
        return "malformed request";
    case SASL_FAIL_NONE:
    case SASL_FAIL_OTHER:
        break;
    }
    return "refused";
}

const char *sasl_session_failure_reason(const struct sasl_session *s)
{
    return s->fail_reason;
}

bool sasl_session_cb_type_unoffered(const struct sasl_session *s)
{
    return s->cb_type_unoffered;
}

int sasl__fail_why(struct sasl_session *s, const char *condition, int code,
                   enum sasl_fail_kind kind, const char *why)
{
    assert(code < 0);
    if (s->failure == NULL) {
        s->failure = condition;
        s->fail_kind = kind;
        snprintf(s->fail_reason, sizeof(s->fail_reason), "%s", why ? why : "");
    }
    return code;
}

int sasl__fail(struct sasl_session *s, const char *condition, int code)
{
    enum sasl_fail_kind kind = SASL_FAIL_OTHER;
    if (strcmp(condition, "not-authorized") == 0) {
        kind = SASL_FAIL_CREDENTIALS;
    } else if (strcmp(condition, "malformed-request") == 0) {
        kind = SASL_FAIL_MALFORMED;
    }
    return sasl__fail_why(s, condition, code, kind, NULL);
}

bool sasl__strip_domain(const struct sasl_session *s, char *name)
{
    char *at = strrchr(name, '@');
    if (at == NULL) {
        return true;
    }
    const char *domain = s->params->domain ? s->params->domain : "";
    if (strcasecmp(at + 1, domain) != 0) {
        return false;
    }
    *at = '\0';
    return name[0] != '\0';
}

int sasl__lookup(struct sasl_session *s, const char *username, struct auth_creds *out)
{
    memset(out, 0, sizeof(*out));
    int rc = s->params->get_creds(s->params->ud, username, out);
    if (rc == 0 || rc == ERR_NOTFOUND) {
        if (rc != 0) {
            auth_creds_cleanup(out);
        }
        return rc;
    }
    auth_creds_cleanup(out);
    return sasl__fail(s, "temporary-auth-failure", rc < 0 ? rc : ERR_INTERNAL);
}

int sasl__verify_plaintext(struct sasl_session *s, const char *authcid, const char *password)
{
    struct auth_creds creds;
    char *name = xstrdup(authcid);
    int rc;

    if (!sasl__strip_domain(s, name)) {
        rc = sasl__fail_why(s, "not-authorized", ERR_AUTH, SASL_FAIL_UNKNOWN_USER,
                            "a name in another domain");
        goto fail;
    }
    rc = sasl__lookup(s, name, &creds);
    if (rc == ERR_NOTFOUND) {
        rc = sasl__fail_why(s, "not-authorized", ERR_AUTH, SASL_FAIL_UNKNOWN_USER, NULL);
        goto fail;
    }
    if (rc != 0) {
        goto fail;
    }
    if (creds.secure_required && !s->params->tls) {
        rc = sasl__fail(s, "encryption-required", ERR_AUTH);
    } else if (auth_creds_verify_password(&creds, password) != 0) {
        rc = sasl__fail(s, "not-authorized", ERR_AUTH);
    } else if (creds.disabled) {
        rc = sasl__fail(s, "account-disabled", ERR_AUTH);
    } else {
        s->username = name;
        name = NULL;
    }
    auth_creds_cleanup(&creds);
fail:
    free(name);
    return rc;
}


int sasl_global_init(void)
{
    unsigned char secret[32];
    if (RAND_bytes(secret, sizeof(secret)) != 1) {
        return ERR_INTERNAL;
    }
    sasl__scram_set_secret(secret, sizeof(secret));
    OPENSSL_cleanse(secret, sizeof(secret));
    return sasl__gsasl_init();
}

void sasl_global_cleanup(void)
{
    sasl__gsasl_cleanup();
    sasl__scram_test_set_nonce(NULL);
}

void sasl_set_fake_salt_secret(const unsigned char *key, size_t len)
{
    sasl__scram_set_secret(key, len);
}
