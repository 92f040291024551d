/* simple.c: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login) and EXTERNAL (RFC 4422 App. A). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/internal.h"
#include "core/err.h"
#include "core/utf8.h"

static int malformed(struct sasl_session *s)
{
    return sasl__fail(s, "malformed-request", ERR_PROTO);
}

/* ---- PLAIN: [authzid] NUL authcid NUL passwd ---- */

static int plain_step(struct sasl_session *s, struct strv in, bool has_data, struct buf *out)
{
    (void)out;
    if (s->stage == 0 && !has_data) {
        s->stage = 1;
        return SASL_CONTINUE;
    }
    const char *nul1 = memchr(in.p, '\0', in.len);
    const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', in.len - (size_t)(nul1 + 1 - in.p)) : NULL;
    if (nul2 == NULL) {
        return malformed(s);
    }
    struct strv authzid = { in.p, (size_t)(nul1 - in.p) };
    struct strv authcid = { nul1 + 1, (size_t)(nul2 - nul1 - 1) };
    struct strv passwd = { nul2 + 1, in.len - (size_t)(nul2 + 1 - in.p) };
    if (authcid.len == 0 || authcid.len > AUTH__MAX_NAME || passwd.len == 0 ||
        passwd.len > AUTH__MAX_NAME || authzid.len > AUTH__MAX_NAME || !utf8_valid(authzid) ||
        !utf8_valid(authcid) || !utf8_valid(passwd)) {
        return malformed(s);
    }
    char *user = strv_dup(authcid);
    char *pw = strv_dup(passwd);
    int rc = sasl__verify_plaintext(s, user, pw);
    auth__free_secret(pw);
    free(user);
    if (rc != 0) {
        return rc;
    }
    if (authzid.len > 0) {
        s->authzid = strv_dup(authzid);
    }
    return SASL_DONE;
}

static void no_cleanup(struct sasl_session *s)
{
    (void)s;
}

const struct sasl_mech_ops sasl__plain_ops = { plain_step, no_cleanup };

/* ---- LOGIN: challenges "Username:" and "Password:" ---- */

enum { LOGIN_START, LOGIN_WANT_USER, LOGIN_WANT_PASSWORD };

static int login_step(struct sasl_session *s, struct strv in, bool has_data, struct buf *out)
{
    int rc;
    if (s->stage == LOGIN_START && (!has_data || in.len == 0)) {
        s->stage = LOGIN_WANT_USER;
        rc = buf_append_c(out, "Username:");
        return rc ? sasl__fail(s, "temporary-auth-failure", rc) : SASL_CONTINUE;
    }
    if (s->stage == LOGIN_START || s->stage == LOGIN_WANT_USER) {
        /* Some clients send the user name as an initial response. */
        if (in.len == 0 || in.len > AUTH__MAX_NAME || !utf8_valid(in)) {
            return malformed(s);
        }
        s->data = strv_dup(in);
        s->stage = LOGIN_WANT_PASSWORD;
        rc = buf_append_c(out, "Password:");
        return rc ? sasl__fail(s, "temporary-auth-failure", rc) : SASL_CONTINUE;
    }
    if (in.len == 0 || in.len > AUTH__MAX_NAME || !utf8_valid(in)) {
        return malformed(s);
    }
    char *pw = strv_dup(in);
    rc = sasl__verify_plaintext(s, s->data, pw);
    auth__free_secret(pw);
    return rc ? rc : SASL_DONE;
}

static void login_cleanup(struct sasl_session *s)
{
    free(s->data);
    s->data = NULL;
}

const struct sasl_mech_ops sasl__login_ops = { login_step, login_cleanup };

/* ---- EXTERNAL: the client certificate authenticates; the message is the authzid ---- */

/* Picks the certificate identity the client asks for; NULL if none fits. */
static const char *pick_identity(const char *const *ids, struct strv authzid, bool *ambiguous)
{
    *ambiguous = false;
    if (authzid.len == 0) {
        if (ids[0] != NULL && ids[1] == NULL) {
            return ids[0];
        }
        *ambiguous = ids[0] != NULL;
        return NULL;
    }
    for (const char *const *id = ids; *id != NULL; id++) {
        /* Identities are bare JIDs prepared by the caller; nodeprep and nameprep fold case, so
         * a client's differently cased authzid names the same identity. */
        if (strlen(*id) == authzid.len && strncasecmp(*id, authzid.p, authzid.len) == 0) {
            return *id;
        }
    }
    return NULL;
}

static int external_check(struct sasl_session *s, struct strv authzid)
{
    const char *const *ids = s->params->cert_ids;
    bool ambiguous = false;
    if (ids == NULL || ids[0] == NULL) {
        return sasl__fail(s, "not-authorized", ERR_AUTH);
    }
    if (authzid.len > AUTH__MAX_NAME || !utf8_valid(authzid)) {
        return malformed(s);
    }
    const char *jid = pick_identity(ids, authzid, &ambiguous);
    if (jid == NULL) {
        return sasl__fail(s, "invalid-authzid", ERR_AUTH);
    }
    const char *at = strchr(jid, '@');
    if (at == NULL || at == jid) {
        /* A domain-only identity is a server's, not a user's. */
        return sasl__fail(s, "not-authorized", ERR_AUTH);
    }
    char *user = strv_dup((struct strv){ jid, (size_t)(at - jid) });
    struct auth_creds creds;
    int rc = sasl__lookup(s, user, &creds);
    if (rc == ERR_NOTFOUND) {
        rc = sasl__fail(s, "not-authorized", ERR_AUTH);
    } else if (rc == 0) {
        if (creds.disabled) {
            rc = sasl__fail(s, "account-disabled", ERR_AUTH);
        }
        auth_creds_cleanup(&creds);
    }
    if (rc != 0) {
        free(user);
        return rc;
    }
    s->username = user;
    if (authzid.len > 0) {
        s->authzid = strv_dup(authzid);
    }
    return SASL_DONE;
}

static int external_step(struct sasl_session *s, struct strv in, bool has_data, struct buf *out)
{
    (void)out;
    if (s->stage == 0 && !has_data) {
        s->stage = 1;
        return SASL_CONTINUE;
    }
    return external_check(s, in);
}

const struct sasl_mech_ops sasl__external_ops = { external_step, no_cleanup };
