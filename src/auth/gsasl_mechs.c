/* gsasl_mechs.c: CRAM-MD5 (RFC 2195) and DIGEST-MD5 (RFC 2831) through GNU SASL (libgsasl). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gsasl.h>

#include "auth/internal.h"
#include "core/err.h"

/* One context for the process. It is only read after sasl_global_init(), so worker threads
 * share it; each session finds its own data through gsasl_session_hook_get(). */
static Gsasl *gsasl_ctx;
static bool have_cram;
static bool have_digest;

struct gs_state {
    Gsasl_session *gs;
    char *username; /* as looked up, minus @domain */
    bool disabled;
    int lookup_rc; /* a temporary failure of the creds lookup */
};

enum { GS_START, GS_RESPONSE, GS_RSPAUTH_SENT };

static int malformed(struct sasl_session *s)
{
    return sasl__fail(s, "malformed-request", ERR_PROTO);
}

/* DIGEST-MD5: the realm the client chose must be ours (or absent). */
static bool realm_ok(const struct sasl_session *s, Gsasl_session *gs)
{
    const char *realm = gsasl_property_fast(gs, GSASL_REALM);
    return realm == NULL || realm[0] == '\0' || strcasecmp(realm, s->params->domain) == 0;
}

/* Gives GNU SASL the clear password of the user it names in GSASL_AUTHID. */
static int give_password(struct sasl_session *s, Gsasl_session *gs)
{
    struct gs_state *st = s->data;
    const char *authid = gsasl_property_fast(gs, GSASL_AUTHID);
    struct auth_creds creds;

    if (authid == NULL || authid[0] == '\0' || strlen(authid) > AUTH__MAX_NAME ||
        (s->mech->family == SASL__DIGEST_MD5 && !realm_ok(s, gs))) {
        return GSASL_NO_PASSWORD;
    }
    char *name = xstrdup(authid);
    if (!sasl__strip_domain(s, name)) {
        free(name);
        return GSASL_NO_PASSWORD;
    }
    int lrc = sasl__lookup(s, name, &creds);
    if (lrc != 0) {
        if (lrc != ERR_NOTFOUND) {
            st->lookup_rc = lrc;
        }
        free(name);
        return GSASL_NO_PASSWORD;
    }
    int rc = GSASL_NO_PASSWORD;
    if (creds.clear != NULL) {
        rc = gsasl_property_set(gs, GSASL_PASSWORD, creds.clear);
        st->disabled = creds.disabled;
        free(st->username);
        st->username = name;
        name = NULL;
    }
    auth_creds_cleanup(&creds);
    free(name);
    return rc;
}

static int gs_callback(Gsasl *ctx, Gsasl_session *gs, Gsasl_property prop)
{
    (void)ctx;
    struct sasl_session *s = gs ? gsasl_session_hook_get(gs) : NULL;
    if (s == NULL) {
        return GSASL_NO_CALLBACK;
    }
    if (prop == GSASL_PASSWORD) {
        return give_password(s, gs);
    }
    return GSASL_NO_CALLBACK;
}

int sasl__gsasl_init(void)
{
    if (gsasl_ctx != NULL) {
        return 0;
    }
    if (gsasl_init(&gsasl_ctx) != GSASL_OK) {
        gsasl_ctx = NULL;
        return ERR_INTERNAL;
    }
    gsasl_callback_set(gsasl_ctx, gs_callback);
    have_cram = gsasl_server_support_p(gsasl_ctx, "CRAM-MD5") != 0;
    have_digest = gsasl_server_support_p(gsasl_ctx, "DIGEST-MD5") != 0;
    return 0;
}

void sasl__gsasl_cleanup(void)
{
    if (gsasl_ctx != NULL) {
        gsasl_done(gsasl_ctx);
        gsasl_ctx = NULL;
    }
    have_cram = false;
    have_digest = false;
}

bool sasl__gsasl_supports(enum sasl__family family)
{
    if (family == SASL__CRAM_MD5) {
        return have_cram;
    }
    if (family == SASL__DIGEST_MD5) {
        return have_digest;
    }
    return false;
}

static int gs_start(struct sasl_session *s)
{
    const char *domain = s->params->domain ? s->params->domain : "";
    struct gs_state *st = xcalloc(1, sizeof(*st));
    s->data = st;
    if (!sasl__gsasl_supports(s->mech->family) ||
        gsasl_server_start(gsasl_ctx, s->mech->name, &st->gs) != GSASL_OK) {
        st->gs = NULL;
        return sasl__fail(s, "temporary-auth-failure", ERR_INTERNAL);
    }
    gsasl_session_hook_set(st->gs, s);
    /* Quality of protection "auth" only: XMPP has TLS for the rest. */
    if (gsasl_property_set(st->gs, GSASL_REALM, domain) != GSASL_OK ||
        gsasl_property_set(st->gs, GSASL_SERVICE, "xmpp") != GSASL_OK ||
        gsasl_property_set(st->gs, GSASL_HOSTNAME, domain) != GSASL_OK ||
        gsasl_property_set(st->gs, GSASL_QOPS, "qop-auth") != GSASL_OK) {
        return sasl__fail(s, "temporary-auth-failure", ERR_INTERNAL);
    }
    return 0;
}

/* Runs one gsasl_step(); maps its result to ours. */
static int gs_run(struct sasl_session *s, struct strv in, struct buf *out, bool *ok)
{
    struct gs_state *st = s->data;
    char *output = NULL;
    size_t output_len = 0;
    int grc = gsasl_step(st->gs, in.p, in.len, &output, &output_len);
    int rc = 0;

    *ok = grc == GSASL_OK;
    if (grc == GSASL_OK || grc == GSASL_NEEDS_MORE) {
        rc = output_len ? buf_append(out, output, output_len) : 0;
        if (rc != 0) {
            rc = sasl__fail(s, "temporary-auth-failure", rc);
        }
    } else if (s->failure != NULL) {
        rc = st->lookup_rc ? st->lookup_rc : ERR_INTERNAL; /* recorded by sasl__lookup() */
    } else if (grc == GSASL_MECHANISM_PARSE_ERROR) {
        rc = malformed(s);
    } else if (grc == GSASL_AUTHENTICATION_ERROR || grc == GSASL_NO_PASSWORD ||
               grc == GSASL_NO_AUTHID) {
        rc = sasl__fail(s, "not-authorized", ERR_AUTH);
    } else {
        rc = sasl__fail(s, "temporary-auth-failure", ERR_INTERNAL);
    }
    gsasl_free(output);
    return rc;
}

/* Finds directive `name` in a DIGEST-MD5 response (RFC 2831 section 7.1 list syntax). */
static bool find_directive(struct strv in, const char *name, struct strv *value)
{
    size_t i = 0;
    size_t nlen = strlen(name);
    while (i < in.len) {
        while (i < in.len && (in.p[i] == ',' || in.p[i] == ' ' || in.p[i] == '\t')) {
            i++;
        }
        size_t key = i;
        while (i < in.len && in.p[i] != '=' && in.p[i] != ',') {
            i++;
        }
        size_t key_end = i;
        while (key_end > key && (in.p[key_end - 1] == ' ' || in.p[key_end - 1] == '\t')) {
            key_end--;
        }
        if (i >= in.len || in.p[i] != '=') {
            return false;
        }
        i++;
        while (i < in.len && (in.p[i] == ' ' || in.p[i] == '\t')) {
            i++;
        }
        size_t vstart = i;
        size_t vend;
        if (i < in.len && in.p[i] == '"') {
            vstart = ++i;
            while (i < in.len && in.p[i] != '"') {
                i += in.p[i] == '\\' ? 2 : 1;
            }
            if (i >= in.len) {
                return false;
            }
            vend = i++;
        } else {
            while (i < in.len && in.p[i] != ',') {
                i++;
            }
            vend = i;
        }
        if (key_end - key == nlen && strncasecmp(in.p + key, name, nlen) == 0) {
            value->p = in.p + vstart;
            value->len = vend - vstart;
            return true;
        }
    }
    return false;
}

/* RFC 2831 section 2.1.2: the digest-uri must name this service: "xmpp/<domain>" or
 * "xmpp/<host>/<domain>". */
static bool digest_uri_ok(const struct sasl_session *s, struct strv in)
{
    struct strv uri;
    struct strv domain = strv_c(s->params->domain);
    if (!find_directive(in, "digest-uri", &uri) || uri.len < 5 ||
        strncasecmp(uri.p, "xmpp/", 5) != 0) {
        return false;
    }
    struct strv rest = { uri.p + 5, uri.len - 5 };
    const char *slash = memchr(rest.p, '/', rest.len);
    struct strv host = { rest.p, slash ? (size_t)(slash - rest.p) : rest.len };
    struct strv serv = { slash ? slash + 1 : rest.p + rest.len,
                         slash ? rest.len - host.len - 1 : 0 };
    return strv_case_eq(host, domain) || (slash != NULL && strv_case_eq(serv, domain));
}

static int gs_finish(struct sasl_session *s)
{
    struct gs_state *st = s->data;
    if (st->username == NULL) {
        return sasl__fail(s, "not-authorized", ERR_AUTH);
    }
    if (st->disabled) {
        return sasl__fail(s, "account-disabled", ERR_AUTH);
    }
    const char *authzid = gsasl_property_fast(st->gs, GSASL_AUTHZID);
    if (authzid != NULL && authzid[0] != '\0') {
        s->authzid = xstrdup(authzid);
    }
    s->username = st->username;
    st->username = NULL;
    return 0;
}

static int gs_step(struct sasl_session *s, struct strv in, bool has_data, struct buf *out)
{
    bool ok = false;
    int rc;

    if (s->stage == GS_START) {
        /* Both mechanisms start with a server challenge: no initial response. */
        if (has_data && in.len > 0) {
            return malformed(s);
        }
        rc = gs_start(s);
        rc = rc ? rc : gs_run(s, STRV(""), out, &ok);
        if (rc != 0) {
            return rc;
        }
        s->stage = GS_RESPONSE;
        return SASL_CONTINUE;
    }
    if (s->stage == GS_RSPAUTH_SENT) {
        /* DIGEST-MD5's last, empty response to "rspauth=…". */
        return in.len == 0 ? SASL_DONE : malformed(s);
    }
    if (in.len == 0 || memchr(in.p, '\0', in.len) != NULL) {
        return malformed(s);
    }
    if (s->mech->family == SASL__DIGEST_MD5 && !digest_uri_ok(s, in)) {
        return sasl__fail(s, "not-authorized", ERR_AUTH);
    }
    rc = gs_run(s, in, out, &ok);
    if (rc != 0) {
        return rc;
    }
    if (!ok) {
        return sasl__fail(s, "not-authorized", ERR_AUTH);
    }
    rc = gs_finish(s);
    if (rc != 0) {
        return rc;
    }
    if (s->mech->family == SASL__DIGEST_MD5) {
        /* rspauth as a challenge, answered by an empty response: what RFC 3920 clients expect
         * and RFC 6120 clients accept. */
        s->stage = GS_RSPAUTH_SENT;
        return SASL_CONTINUE;
    }
    return SASL_DONE;
}

static void gs_cleanup(struct sasl_session *s)
{
    struct gs_state *st = s->data;
    if (st == NULL) {
        return;
    }
    if (st->gs != NULL) {
        gsasl_finish(st->gs);
    }
    free(st->username);
    free(st);
    s->data = NULL;
}

const struct sasl_mech_ops sasl__cram_md5_ops = { gs_step, gs_cleanup };
const struct sasl_mech_ops sasl__digest_md5_ops = { gs_step, gs_cleanup };
