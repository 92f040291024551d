/* scram.c: SCRAM-SHA-1/256/512 and their -PLUS variants (RFC 5802, RFC 7677), one code path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/internal.h"
#include "core/err.h"
#include "core/utf8.h"

#define NONCE_BYTES 18 /* 24 base64 characters */
#define FAKE_SALT_LEN 16

enum cb_flag { CB_N, CB_Y, CB_P };

struct scram_state {
    char *gs2_header; /* "n,," / "y,a=x," / "p=tls-exporter,," exactly as sent */
    enum cb_flag flag;
    enum sasl_cb_type cb_type; /* CB_P only */
    char cb_name[40];          /* CB_P only: the type as the client named it (for the log) */
    char *client_first_bare;
    char *server_first;
    char *nonce;    /* client nonce + server nonce */
    char *username; /* decoded, minus @domain */
    char *authzid;  /* decoded a=, or NULL */
    struct scram_keys keys;
    bool fake; /* no usable verifier: fail after the proof */
    bool disabled;
};

static unsigned char fake_secret[64];
static size_t fake_secret_len;
static char *test_nonce;

static const char *const cb_names[SASL_CB_COUNT] = {
    [SASL_CB_TLS_UNIQUE] = "tls-unique",
    [SASL_CB_TLS_EXPORTER] = "tls-exporter",
    [SASL_CB_TLS_SERVER_END_POINT] = "tls-server-end-point",
};

void sasl__scram_set_secret(const unsigned char *key, size_t len)
{
    if (len > sizeof(fake_secret)) {
        len = sizeof(fake_secret);
    }
    memcpy(fake_secret, key, len);
    fake_secret_len = len;
}

void sasl__scram_test_set_nonce(const char *nonce)
{
    free(test_nonce);
    test_nonce = nonce ? xstrdup(nonce) : NULL;
}

static int malformed(struct sasl_session *s)
{
    return sasl__fail(s, "malformed-request", ERR_PROTO);
}

/* The comma-separated attributes of a SCRAM message. `more` is true while a field (possibly
 * empty) remains, so that a trailing ',' shows up as an empty field. */
struct fields {
    struct strv rest;
    bool more;
};

static bool next_field(struct fields *f, struct strv *field)
{
    if (!f->more) {
        return false;
    }
    const char *e = f->rest.len ? memchr(f->rest.p, ',', f->rest.len) : NULL;
    field->p = f->rest.p;
    field->len = e ? (size_t)(e - f->rest.p) : f->rest.len;
    f->rest.p += field->len + (e ? 1 : 0);
    f->rest.len -= field->len + (e ? 1 : 0);
    f->more = e != NULL;
    return true;
}

/* Whether `field` is "<name>=<value>"; sets `value`. */
static bool attr(struct strv field, char name, struct strv *value)
{
    if (field.len < 2 || field.p[0] != name || field.p[1] != '=') {
        return false;
    }
    value->p = field.p + 2;
    value->len = field.len - 2;
    return true;
}

/* An attribute of the grammar's "extensions": a letter, '=', a non-empty value. */
static bool is_extension(struct strv field)
{
    struct strv v;
    char c = field.len ? field.p[0] : 0;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
        return false;
    }
    return attr(field, c, &v) && v.len > 0;
}

/* Decodes a saslname ("," as "=2C", "=" as "=3D"); NULL if malformed or empty. */
static char *decode_saslname(struct strv v)
{
    if (v.len == 0 || v.len > AUTH__MAX_NAME) {
        return NULL;
    }
    char *out = xmalloc(v.len + 1);
    size_t j = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] != '=') {
            out[j++] = v.p[i];
            continue;
        }
        if (i + 2 < v.len && v.p[i + 1] == '2' && v.p[i + 2] == 'C') {
            out[j++] = ',';
        } else if (i + 2 < v.len && v.p[i + 1] == '3' && v.p[i + 2] == 'D') {
            out[j++] = '=';
        } else {
            free(out);
            return NULL;
        }
        i += 2;
    }
    out[j] = '\0';
    return out;
}

static bool nonce_ok(struct strv v)
{
    if (v.len == 0) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < 0x21 || c > 0x7e || c == ',') {
            return false;
        }
    }
    return true;
}

static bool cb_name_ok(struct strv v, enum sasl_cb_type *type)
{
    for (int t = 0; t < SASL_CB_COUNT; t++) {
        if (strv_eq_c(v, cb_names[t])) {
            *type = (enum sasl_cb_type)t;
            return true;
        }
    }
    return false;
}

/* Whether the server advertises -PLUS mechanisms on this link (see sasl_params.cb). */
static bool plus_advertised(const struct sasl_params *p)
{
    if (!p->tls) {
        return false;
    }
    for (int t = 0; t < SASL_CB_COUNT; t++) {
        if (sasl_cb_offered(p, t)) {
            return true;
        }
    }
    return false;
}

/* Parses the GS2 header; leaves `f` at client-first-bare. */
static int parse_gs2(struct sasl_session *s, struct scram_state *st, struct fields *f)
{
    const char *start = f->rest.p;
    struct strv flag;
    struct strv az;
    struct strv v;

    if (!next_field(f, &flag) || !next_field(f, &az) || !f->more) {
        return malformed(s);
    }
    if (strv_eq_c(flag, "n")) {
        st->flag = CB_N;
    } else if (strv_eq_c(flag, "y")) {
        st->flag = CB_Y;
    } else if (attr(flag, 'p', &v) && v.len > 0) {
        st->flag = CB_P;
        snprintf(st->cb_name, sizeof(st->cb_name), "%.*s", (int)(v.len < 32 ? v.len : 32), v.p);
        if (!cb_name_ok(v, &st->cb_type)) {
            /* An unknown type is well-formed (cb-name is open); it just is not ours. */
            st->cb_type = SASL_CB_COUNT;
        }
    } else {
        return malformed(s);
    }
    if (az.len > 0) {
        if (!attr(az, 'a', &v)) {
            return malformed(s);
        }
        st->authzid = decode_saslname(v);
        if (st->authzid == NULL || !utf8_valid(strv_c(st->authzid))) {
            return malformed(s);
        }
    }
    st->gs2_header = strv_dup((struct strv){ start, (size_t)(f->rest.p - start) });
    return 0;
}

static int cb_fail(struct sasl_session *s, const char *why)
{
    return sasl__fail_why(s, "not-authorized", ERR_AUTH, SASL_FAIL_CHANNEL_BINDING, why);
}

/* "p=<type>" for a type the link does not offer: the reason names it. */
static int cb_type_unoffered(struct sasl_session *s, const struct scram_state *st)
{
    const char *ver = s->params->tls_version;
    char why[160];
    if (st->cb_type == SASL_CB_TLS_UNIQUE && ver != NULL && strcmp(ver, "TLSv1.3") == 0) {
        snprintf(why, sizeof(why), "client asked for tls-unique, not available under TLS 1.3");
    } else {
        snprintf(why, sizeof(why), "client asked for %s, not offered on this link", st->cb_name);
    }
    s->cb_type_unoffered = true;
    return cb_fail(s, why);
}

/* The rules of RFC 5802 section 6 on the channel-binding flag, with XEP-0440's case of a client
 * that supports none of the offered types (docs/internals/sasl.md). Every refusal here comes
 * before any password check. */
static int check_cb_flag(struct sasl_session *s, struct scram_state *st)
{
    const struct sasl_params *p = s->params;
    switch (st->flag) {
    case CB_N:
        return s->mech->plus ? cb_fail(s, "a -PLUS mechanism without channel binding (n)") : 0;
    case CB_Y:
        if (s->mech->plus) {
            return cb_fail(s, "a -PLUS mechanism without channel binding (y)");
        }
        /* The client could bind but thinks we cannot: a downgrade if we advertised -PLUS,
         * unless it showed that it supports none of the types we offer. */
        if (plus_advertised(p) && !p->cb_none_mutual) {
            return cb_fail(s, "client says no channel binding was offered (y), but -PLUS was "
                              "(possible downgrade)");
        }
        return 0;
    case CB_P:
        if (!s->mech->plus) {
            return cb_fail(s, "channel binding asked with a mechanism without -PLUS");
        }
        if (!p->tls || !sasl_cb_offered(p, (int)st->cb_type)) {
            return cb_type_unoffered(s, st);
        }
        return 0;
    }
    return malformed(s);
}

static void fake_salt(const struct sasl_session *s, const char *username, unsigned char *salt)
{
    struct buf b;
    unsigned char mac[32];
    buf_init(&b, AUTH__MAX_NAME + 64);
    /* Deterministic per (hash, name): an unknown user looks the same on every attempt. */
    if (buf_printf(&b, "%s%c%s", auth__scram_hash_name(s->mech->hash), '\0', username) != 0 ||
        auth__hmac(SCRAM_SHA256, fake_secret, fake_secret_len, b.p, b.len, mac) != 0) {
        memset(mac, 0, sizeof(mac));
    }
    memcpy(salt, mac, FAKE_SALT_LEN);
    buf_cleanup(&b);
}

/* Finds the verifier of the user; sets st->fake when there is none. */
static int load_keys(struct sasl_session *s, struct scram_state *st)
{
    enum scram_hash h = s->mech->hash;
    struct auth_creds creds;
    int rc = 0;

    st->fake = true;
    if (sasl__strip_domain(s, st->username)) {
        rc = sasl__lookup(s, st->username, &creds);
        if (rc == ERR_NOTFOUND) {
            rc = 0;
        } else if (rc != 0) {
            return rc;
        } else {
            st->disabled = creds.disabled;
            if (creds.scram[h].set) {
                st->keys = creds.scram[h];
                st->fake = false;
            } else if (creds.clear != NULL) {
                /* Clear-only storage: derive a verifier for this exchange. Its salt is the one an
                 * unknown user would get, stable across attempts, so it reveals nothing. */
                unsigned char salt[FAKE_SALT_LEN];
                fake_salt(s, st->username, salt);
                if (auth__scram_keys_compute(h, creds.clear, salt, sizeof(salt),
                                             AUTH_SCRAM_ITERATIONS, &st->keys) == 0) {
                    st->fake = false;
                }
            }
            auth_creds_cleanup(&creds);
        }
    }
    if (st->fake) {
        memset(&st->keys, 0, sizeof(st->keys));
        fake_salt(s, st->username, st->keys.salt);
        st->keys.salt_len = FAKE_SALT_LEN;
        st->keys.iterations = AUTH_SCRAM_ITERATIONS;
        st->keys.key_len = auth__scram_hash_len(h);
    }
    return 0;
}

static int make_nonce(struct strv client, char **out)
{
    struct buf b;
    buf_init(&b, 1024);
    int rc = buf_append_strv(&b, client);
    if (test_nonce != NULL) {
        rc = rc ? rc : buf_append_c(&b, test_nonce);
    } else {
        unsigned char rnd[NONCE_BYTES];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            rc = ERR_INTERNAL;
        }
        rc = rc ? rc : sasl_b64_encode(rnd, sizeof(rnd), &b);
    }
    if (rc == 0) {
        *out = xstrdup(buf_cstr(&b));
    }
    buf_cleanup(&b);
    return rc;
}

/* XEP-0474: ",d=" and the base64 hash (the mechanism's) of the advertised lists, when given. */
static int append_ssdp(const struct sasl_session *s, struct buf *sf)
{
    const char *h = s->params->ssdp;
    if (h == NULL) {
        return 0;
    }
    unsigned char digest[64];
    int rc = auth__hash(s->mech->hash, h, strlen(h), digest);
    rc = rc ? rc : buf_append_c(sf, ",d=");
    return rc ? rc : sasl_b64_encode(digest, auth__scram_hash_len(s->mech->hash), sf);
}

/* Writes server-first: "r=<nonce>,s=<salt>,i=<iterations>" (and ",d=…", XEP-0474). */
static int server_first(struct sasl_session *s, struct scram_state *st, struct strv cnonce,
                        struct buf *out)
{
    struct buf sf;
    int rc;

    if (make_nonce(cnonce, &st->nonce) != 0) {
        return sasl__fail(s, "temporary-auth-failure", ERR_INTERNAL);
    }
    buf_init(&sf, 2048);
    rc = buf_printf(&sf, "r=%s,s=", st->nonce);
    rc = rc ? rc : sasl_b64_encode(st->keys.salt, st->keys.salt_len, &sf);
    rc = rc ? rc : buf_printf(&sf, ",i=%u", st->keys.iterations);
    rc = rc ? rc : append_ssdp(s, &sf);
    if (rc == 0) {
        st->server_first = xstrdup(buf_cstr(&sf));
        rc = buf_append_c(out, st->server_first);
    }
    buf_cleanup(&sf);
    if (rc != 0) {
        return sasl__fail(s, "temporary-auth-failure", rc);
    }
    s->stage = 1;
    return SASL_CONTINUE;
}

static int client_first(struct sasl_session *s, struct scram_state *st, struct strv msg,
                        struct buf *out)
{
    struct fields f = { msg, true };
    struct strv field;
    struct strv v;
    struct strv cnonce;

    int rc = parse_gs2(s, st, &f);
    if (rc != 0) {
        return rc;
    }
    struct strv bare = f.rest;
    if (!next_field(&f, &field)) {
        return malformed(s);
    }
    if (attr(field, 'm', &v)) {
        /* Reserved for mandatory extensions, none of which we know. */
        return malformed(s);
    }
    if (!attr(field, 'n', &v)) {
        return malformed(s);
    }
    st->username = decode_saslname(v);
    if (st->username == NULL || !next_field(&f, &field) || !attr(field, 'r', &cnonce) ||
        !nonce_ok(cnonce)) {
        return malformed(s);
    }
    while (next_field(&f, &field)) {
        if (!is_extension(field)) {
            return malformed(s);
        }
    }
    rc = check_cb_flag(s, st);
    if (rc != 0) {
        return rc;
    }
    rc = load_keys(s, st);
    if (rc != 0) {
        return rc;
    }
    st->client_first_bare = strv_dup(bare);
    return server_first(s, st, cnonce, out);
}

/* Checks c=: base64 of the GS2 header followed by the channel-binding data `cb` when "p". */
static bool cb_matches(const struct scram_state *st, const struct sasl_cb_data *cb, struct strv v)
{
    struct buf got;
    struct buf want;
    buf_init(&got, SASL__MAX_INPUT);
    buf_init(&want, SASL__MAX_INPUT);
    bool ok = sasl_b64_decode(v, &got) == 0 && buf_append_c(&want, st->gs2_header) == 0;
    if (ok && st->flag == CB_P) {
        ok = cb->len > 0 && buf_append(&want, cb->data, cb->len) == 0;
    }
    ok = ok && got.len == want.len && CRYPTO_memcmp(got.p, want.p, got.len) == 0;
    buf_cleanup(&got);
    buf_cleanup(&want);
    return ok;
}

/* Verifies the proof over AuthMessage and writes the server signature into `sig`. */
static int check_proof(struct sasl_session *s, struct scram_state *st, struct strv without_proof,
                       const unsigned char *proof, unsigned char *sig)
{
    enum scram_hash h = s->mech->hash;
    size_t hl = auth__scram_hash_len(h);
    unsigned char client_sig[64];
    unsigned char client_key[64];
    unsigned char stored[64];
    struct buf am;
    int rc;

    buf_init(&am, 3 * SASL__MAX_INPUT);
    rc = buf_printf(&am, "%s,%s,", st->client_first_bare, st->server_first);
    rc = rc ? rc : buf_append_strv(&am, without_proof);
    rc = rc ? rc : auth__hmac(h, st->keys.stored_key, hl, am.p, am.len, client_sig);
    rc = rc ? rc : auth__hmac(h, st->keys.server_key, hl, am.p, am.len, sig);
    buf_cleanup(&am);
    if (rc != 0) {
        return sasl__fail(s, "temporary-auth-failure", ERR_INTERNAL);
    }
    for (size_t i = 0; i < hl; i++) {
        client_key[i] = proof[i] ^ client_sig[i];
    }
    rc = auth__hash(h, client_key, hl, stored);
    bool ok = rc == 0 && !st->fake && CRYPTO_memcmp(stored, st->keys.stored_key, hl) == 0;
    OPENSSL_cleanse(client_key, sizeof(client_key));
    if (!ok) {
        return sasl__fail_why(s, "not-authorized", ERR_AUTH,
                              st->fake ? SASL_FAIL_UNKNOWN_USER : SASL_FAIL_CREDENTIALS, NULL);
    }
    return 0;
}

static int client_final(struct sasl_session *s, struct scram_state *st, struct strv msg,
                        struct buf *out)
{
    size_t hl = auth__scram_hash_len(s->mech->hash);
    struct fields f = { msg, true };
    struct strv field;
    struct strv cbind;
    struct strv nonce;
    struct strv p = STRV_NULL;
    bool have_proof = false;

    if (!next_field(&f, &field) || !attr(field, 'c', &cbind) || !next_field(&f, &field) ||
        !attr(field, 'r', &nonce)) {
        return malformed(s);
    }
    /* Extensions may come between r= and p=; the proof is the last attribute. */
    while (next_field(&f, &field)) {
        if (have_proof) {
            return malformed(s);
        }
        if (attr(field, 'p', &p)) {
            have_proof = true;
        } else if (!is_extension(field)) {
            return malformed(s);
        }
    }
    if (!have_proof) {
        return malformed(s);
    }
    struct strv without_proof = { msg.p, (size_t)(p.p - 3 - msg.p) };

    unsigned char proof[64];
    struct buf pb;
    buf_init(&pb, 64);
    bool proof_ok = sasl_b64_decode(p, &pb) == 0 && pb.len == hl;
    if (proof_ok) {
        memcpy(proof, pb.p, hl);
    }
    buf_cleanup(&pb);
    if (!proof_ok || !strv_eq_c(nonce, st->nonce)) {
        return malformed(s);
    }
    /* The link's binding data is computed only now, for a "p=" exchange that got this far. */
    struct sasl_cb_data cb = { NULL, 0 };
    if (st->flag == CB_P && sasl_cb_get(s->params, st->cb_type, &cb) != 0) {
        return sasl__fail(s, "temporary-auth-failure", ERR_INTERNAL);
    }
    if (!cb_matches(st, &cb, cbind)) {
        return cb_fail(s, "the channel-binding data (c=) does not match this link");
    }
    unsigned char sig[64];
    int rc = check_proof(s, st, without_proof, proof, sig);
    if (rc != 0) {
        return rc;
    }
    if (st->disabled) {
        return sasl__fail(s, "account-disabled", ERR_AUTH);
    }
    rc = buf_append_c(out, "v=");
    rc = rc ? rc : sasl_b64_encode(sig, hl, out);
    if (rc != 0) {
        return sasl__fail(s, "temporary-auth-failure", rc);
    }
    s->username = st->username;
    st->username = NULL;
    s->authzid = st->authzid;
    st->authzid = NULL;
    return SASL_DONE;
}

static int scram_step(struct sasl_session *s, struct strv in, bool has_data, struct buf *out)
{
    struct scram_state *st = s->data;
    if (st == NULL) {
        if (!has_data) {
            /* No initial response: an empty challenge asks for client-first. */
            s->data = xcalloc(1, sizeof(*st));
            return SASL_CONTINUE;
        }
        st = s->data = xcalloc(1, sizeof(*st));
    }
    if (!utf8_valid(in)) {
        return malformed(s);
    }
    if (s->stage == 0) {
        return client_first(s, st, in, out);
    }
    return client_final(s, st, in, out);
}

static void scram_cleanup(struct sasl_session *s)
{
    struct scram_state *st = s->data;
    if (st == NULL) {
        return;
    }
    free(st->gs2_header);
    free(st->client_first_bare);
    free(st->server_first);
    free(st->nonce);
    free(st->username);
    free(st->authzid);
    OPENSSL_cleanse(st, sizeof(*st));
    free(st);
    s->data = NULL;
}

const struct sasl_mech_ops sasl__scram_ops = { scram_step, scram_cleanup };
