/* test_sasl.c: auth module tests: password storage, every SASL mechanism, legacy digest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsasl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/creds.h"
#include "auth/ht.h"
#include "auth/internal.h"
#include "auth/legacy.h"
#include "auth/sasl.h"
#include "core/err.h"

#define DOMAIN "example.org"

/* ---- a small account table behind sasl_creds_fn ---- */

struct account {
    const char *name;
    struct auth_creds creds;
};

static struct account accounts[16];
static size_t naccounts;
static int lookups;

static struct auth_creds *add_account(const char *name)
{
    struct account *a = &accounts[naccounts++];
    a->name = name;
    return &a->creds;
}

static void add_password_account(const char *name, const char *pw, bool keep_clear)
{
    struct auth_creds *c = add_account(name);
    assert_int_equal(auth_creds_from_password(pw, keep_clear, 0, c), 0);
}

static int get_creds(void *ud, const char *username, struct auth_creds *out)
{
    (void)ud;
    __atomic_add_fetch(&lookups, 1, __ATOMIC_RELAXED);
    if (strcmp(username, "tempfail") == 0) {
        return ERR_STORE;
    }
    for (size_t i = 0; i < naccounts; i++) {
        if (strcmp(accounts[i].name, username) == 0) {
            *out = accounts[i].creds;
            out->clear = accounts[i].creds.clear ? xstrdup(accounts[i].creds.clear) : NULL;
            return 0;
        }
    }
    return ERR_NOTFOUND;
}

static struct buf b64(const char *text)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(sasl_b64_decode(strv_c(text), &b), 0);
    return b;
}

static int group_setup(void **state)
{
    (void)state;
    assert_int_equal(sasl_global_init(), 0);

    /* RFC 5802 and RFC 7677: user "user", password "pencil", the RFCs' salts. */
    struct auth_creds *u = add_account("user");
    struct buf s1 = b64("QSXCR+Q6sek8bf92");
    struct buf s256 = b64("W22ZaJ0SNY7soEsUEjb6gQ==");
    assert_int_equal(auth__scram_keys_compute(SCRAM_SHA1, "pencil", (unsigned char *)s1.p, s1.len,
                                              4096, &u->scram[SCRAM_SHA1]),
                     0);
    assert_int_equal(auth__scram_keys_compute(SCRAM_SHA256, "pencil", (unsigned char *)s256.p,
                                              s256.len, 4096, &u->scram[SCRAM_SHA256]),
                     0);
    buf_cleanup(&s1);
    buf_cleanup(&s256);

    add_password_account("alice", "secret", true);
    add_password_account("bob", "hunter2", false);     /* SCRAM keys only */
    add_account("carol")->clear = xstrdup("pw-carol"); /* clear only */
    add_password_account("dave", "dave-pw", true);
    accounts[naccounts - 1].creds.disabled = true;
    add_password_account("erin", "erin-pw", true);
    accounts[naccounts - 1].creds.secure_required = true;
    add_account("tim")->clear = xstrdup("tanstaaftanstaaf");
    add_account("nopass"); /* no password at all */
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < naccounts; i++) {
        auth_creds_cleanup(&accounts[i].creds);
    }
    naccounts = 0;
    sasl_global_cleanup();
    return 0;
}

static struct sasl_params params_plain(void)
{
    struct sasl_params p = { 0 };
    p.domain = DOMAIN;
    p.tls = true;
    p.get_creds = get_creds;
    return p;
}

/* Runs one step with a C string (NULL: no data) and returns its code; `out` is reset first. */
static int step(struct sasl_session *s, const char *in, struct buf *out)
{
    buf_reset(out);
    return sasl_step(s, (const unsigned char *)(in ? in : ""), in ? strlen(in) : 0, in != NULL,
                     out);
}

static int step_bytes(struct sasl_session *s, const char *in, size_t len, struct buf *out)
{
    buf_reset(out);
    return sasl_step(s, (const unsigned char *)in, len, true, out);
}

static struct sasl_session *start(const char *mech, const struct sasl_params *p)
{
    const struct sasl_mech *m = sasl_mech_find(mech);
    assert_non_null(m);
    assert_string_equal(sasl_mech_name(m), mech);
    return sasl_session_new(m, p);
}

/* ---- HMAC over the fetched digests, against OpenSSL's HMAC() ---- */

static void test_hmac_matches_openssl(void **state)
{
    (void)state;
    static const size_t key_lens[] = { 0, 1, 20, 63, 64, 65, 127, 128, 129, 131, 300 };
    const EVP_MD *mds[SCRAM_HASH_COUNT] = { EVP_sha1(), EVP_sha256(), EVP_sha512() };
    unsigned char key[300], data[500];
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char)(i * 7 + 3);
    }
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (unsigned char)(i * 13 + 1);
    }
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        for (size_t k = 0; k < sizeof(key_lens) / sizeof(key_lens[0]); k++) {
            for (size_t dlen = 0; dlen <= sizeof(data); dlen += 250) {
                unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
                unsigned int wlen = 0;
                assert_non_null(HMAC(mds[h], key, (int)key_lens[k], data, dlen, want, &wlen));
                assert_int_equal(auth__hmac((enum scram_hash)h, key, key_lens[k], data, dlen, got),
                                 0);
                assert_int_equal(wlen, auth__scram_hash_len((enum scram_hash)h));
                assert_memory_equal(got, want, wlen);
            }
        }
    }
}

/* ---- base64 ---- */

static void test_b64(void **state)
{
    (void)state;
    static const char *const vec[][2] = { { "", "" },
                                          { "f", "Zg==" },
                                          { "fo", "Zm8=" },
                                          { "foo", "Zm9v" },
                                          { "foob", "Zm9vYg==" },
                                          { "fooba", "Zm9vYmE=" },
                                          { "foobar", "Zm9vYmFy" } };
    struct buf b;
    buf_init(&b, 64);
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        buf_reset(&b);
        assert_int_equal(sasl_b64_encode((const unsigned char *)vec[i][0], strlen(vec[i][0]), &b),
                         0);
        assert_string_equal(buf_cstr(&b), vec[i][1]);
        buf_reset(&b);
        assert_int_equal(sasl_b64_decode(strv_c(vec[i][1]), &b), 0);
        assert_int_equal(b.len, strlen(vec[i][0]));
        assert_memory_equal(buf_cstr(&b), vec[i][0], b.len);
    }
    static const char *const bad[] = { "Zg=",  "Zg",   "Zh==",  "Zm9=",   "Zg==Zg==", "Z===",
                                       "====", "Zm 9", " Zm9v", "Zm9v\n", "Zm9*",     "Zm=v" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&b);
        assert_int_equal(sasl_b64_decode(strv_c(bad[i]), &b), ERR_INVAL);
        assert_int_equal(b.len, 0);
    }
    struct buf small;
    buf_init(&small, 3);
    assert_int_equal(sasl_b64_encode((const unsigned char *)"ab", 2, &small), ERR_LIMIT);
    buf_cleanup(&small);
    buf_cleanup(&b);
}

/* ---- password storage ---- */

static void test_creds_round_trip(void **state)
{
    (void)state;
    struct auth_creds c;
    struct auth_creds d;
    struct buf text;
    struct buf again;
    buf_init(&text, 4096);
    buf_init(&again, 4096);

    assert_int_equal(auth_creds_from_password("s3cr\xc3\xa9t;=:", true, 1000, &c), 0);
    assert_string_equal(c.clear, "s3cr\xc3\xa9t;=:");
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        assert_true(c.scram[h].set);
        assert_int_equal(c.scram[h].iterations, 1000);
        assert_int_equal(c.scram[h].salt_len, 16);
        assert_int_equal(c.scram[h].key_len, auth__scram_hash_len((enum scram_hash)h));
    }
    assert_memory_not_equal(c.scram[0].salt, c.scram[1].salt, 16);
    assert_int_equal(auth_creds_encode(&c, &text), 0);
    assert_non_null(strstr(buf_cstr(&text), "clear="));
    assert_non_null(strstr(buf_cstr(&text), ";scram-sha-1=1000:"));
    assert_non_null(strstr(buf_cstr(&text), ";scram-sha-256=1000:"));
    assert_non_null(strstr(buf_cstr(&text), ";scram-sha-512=1000:"));
    assert_null(strchr(buf_cstr(&text), '\n'));

    assert_int_equal(auth_creds_decode(buf_strv(&text), &d), 0);
    assert_string_equal(d.clear, c.clear);
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        assert_true(d.scram[h].set);
        assert_int_equal(d.scram[h].iterations, c.scram[h].iterations);
        assert_int_equal(d.scram[h].salt_len, c.scram[h].salt_len);
        assert_memory_equal(d.scram[h].salt, c.scram[h].salt, c.scram[h].salt_len);
        assert_memory_equal(d.scram[h].stored_key, c.scram[h].stored_key, c.scram[h].key_len);
        assert_memory_equal(d.scram[h].server_key, c.scram[h].server_key, c.scram[h].key_len);
    }
    assert_int_equal(auth_creds_encode(&d, &again), 0);
    assert_string_equal(buf_cstr(&again), buf_cstr(&text));

    /* Verification from clear, then from SCRAM keys only. */
    assert_int_equal(auth_creds_verify_password(&d, "s3cr\xc3\xa9t;=:"), 0);
    assert_int_equal(auth_creds_verify_password(&d, "s3cret;=:"), ERR_AUTH);
    auth_creds_strip_clear(&d);
    assert_null(d.clear);
    assert_int_equal(auth_creds_verify_password(&d, "s3cr\xc3\xa9t;=:"), 0);
    assert_int_equal(auth_creds_verify_password(&d, "s3cr\xc3\xa9t;=;"), ERR_AUTH);
    assert_int_equal(auth_creds_verify_password(&d, ""), ERR_AUTH);
    /* Only SHA-1 left: still verifiable. */
    d.scram[SCRAM_SHA256].set = false;
    d.scram[SCRAM_SHA512].set = false;
    assert_int_equal(auth_creds_verify_password(&d, "s3cr\xc3\xa9t;=:"), 0);
    buf_reset(&again);
    assert_int_equal(auth_creds_encode(&d, &again), 0);
    assert_int_equal(strncmp(buf_cstr(&again), "scram-sha-1=1000:", 17), 0);
    auth_creds_cleanup(&d);

    /* Nothing stored: nothing verifies; empty text is empty creds. */
    assert_int_equal(auth_creds_decode(STRV(""), &d), 0);
    assert_null(d.clear);
    assert_false(d.scram[0].set);
    assert_int_equal(auth_creds_verify_password(&d, ""), ERR_AUTH);
    auth_creds_cleanup(&d);

    /* SCRAM-only storage keeps no clear password. */
    auth_creds_cleanup(&c);
    assert_int_equal(auth_creds_from_password("pw", false, 0, &c), 0);
    assert_null(c.clear);
    assert_int_equal(c.scram[SCRAM_SHA256].iterations, AUTH_SCRAM_ITERATIONS);
    buf_reset(&text);
    assert_int_equal(auth_creds_encode(&c, &text), 0);
    assert_null(strstr(buf_cstr(&text), "clear="));
    auth_creds_cleanup(&c);

    buf_cleanup(&text);
    buf_cleanup(&again);
}

static void test_creds_decode_junk(void **state)
{
    (void)state;
    static const char *const junk[] = {
        "clear",
        "clear=!!!!",
        "clear=cHc=;clear=cHc=",
        "clear=AA==", /* NUL in the password */
        "colour=cHc=",
        ";",
        "clear=cHc=;;",
        "scram-sha-1=4096:QSXCR+Q6sek8bf92:AAAA:AAAA",
        "scram-sha-1=0:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "scram-sha-1=04096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/"
        "fTE=",
        "scram-sha-1=4096::6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=",
        "scram-sha-1=4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=",
        "scram-sha-1=4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/"
        "fTE=:x",
        "scram-sha-256=4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/"
        "fTE=",
        "scram-sha-1=99999999999:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+"
        "qs2/fTE=",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct auth_creds c;
        assert_int_equal(auth_creds_decode(strv_c(junk[i]), &c), ERR_INVAL);
        assert_null(c.clear);
        assert_false(c.scram[0].set);
    }
    /* The RFC 5802 verifier in store form decodes and verifies "pencil". */
    struct auth_creds c;
    assert_int_equal(auth_creds_decode(STRV("scram-sha-1=4096:QSXCR+Q6sek8bf92:"
                                            "6dlGYMOdZcOPutkcNY8U2g7vK9Y=:"
                                            "D+CSWLOshSulAsxiupA+qs2/fTE="),
                                       &c),
                     0);
    assert_int_equal(auth_creds_verify_password(&c, "pencil"), 0);
    assert_int_equal(auth_creds_verify_password(&c, "pencils"), ERR_AUTH);
    assert_memory_equal(c.scram[SCRAM_SHA1].stored_key,
                        accounts[0].creds.scram[SCRAM_SHA1].stored_key, 20);
    auth_creds_cleanup(&c);
}

/* ---- SCRAM: the RFC exchanges with the server nonce fixed ---- */

static void rfc_exchange(const char *mech, const char *snonce, const char *client_first,
                         const char *server_first, const char *client_final,
                         const char *server_final)
{
    struct sasl_params p = params_plain();
    struct buf out;
    buf_init(&out, 1024);
    sasl__scram_test_set_nonce(snonce);
    struct sasl_session *s = start(mech, &p);
    assert_int_equal(step(s, client_first, &out), SASL_CONTINUE);
    assert_string_equal(buf_cstr(&out), server_first);
    assert_int_equal(step(s, client_final, &out), SASL_DONE);
    assert_string_equal(buf_cstr(&out), server_final);
    assert_string_equal(sasl_session_username(s), "user");
    assert_null(sasl_session_authzid(s));
    assert_null(sasl_session_failure(s));
    /* No step after the end. */
    assert_true(step(s, "", &out) < 0);
    sasl_session_free(s);
    sasl__scram_test_set_nonce(NULL);
    buf_cleanup(&out);
}

static void test_scram_sha1_rfc5802(void **state)
{
    (void)state;
    rfc_exchange("SCRAM-SHA-1", "3rfcNHYJY1ZVvWVs7j", "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
                 "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                 "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                 "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                 "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void test_scram_sha256_rfc7677(void **state)
{
    (void)state;
    rfc_exchange("SCRAM-SHA-256", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                 "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                 "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                 "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                 "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                 "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                 "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* ---- a small SCRAM client, independent of the server code (OpenSSL only) ---- */

struct scram_client {
    const EVP_MD *md;
    size_t hl;
    char gs2[128];
    char first_bare[512];
    char final[4096];
    char expect_v[512];
};

static const EVP_MD *md_of(const char *mech)
{
    if (strncmp(mech, "SCRAM-SHA-512", 13) == 0) {
        return EVP_sha512();
    }
    if (strncmp(mech, "SCRAM-SHA-256", 13) == 0) {
        return EVP_sha256();
    }
    return EVP_sha1();
}

static void client_init(struct scram_client *c, const char *mech, const char *gs2, const char *user)
{
    memset(c, 0, sizeof(*c));
    c->md = md_of(mech);
    c->hl = (size_t)EVP_MD_get_size(c->md);
    snprintf(c->gs2, sizeof(c->gs2), "%s", gs2);
    snprintf(c->first_bare, sizeof(c->first_bare), "n=%s,r=cLiEnTnOnCe%d", user, rand());
}

static const char *client_first_msg(struct scram_client *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", c->gs2, c->first_bare);
    return buf;
}

static void b64_into(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    struct buf b;
    buf_init(&b, outlen - 1);
    assert_int_equal(sasl_b64_encode(in, len, &b), 0);
    memcpy(out, buf_cstr(&b), b.len + 1);
    buf_cleanup(&b);
}

/* Builds client-final from server-first; `cb` is appended to the GS2 header in c=. */
static const char *client_final_msg(struct scram_client *c, const char *server_first,
                                    const char *password, const unsigned char *cb, size_t cblen)
{
    char nonce[256];
    char salt_b64[256];
    unsigned iter = 0;
    assert_int_equal(sscanf(server_first, "r=%255[^,],s=%255[^,],i=%u", nonce, salt_b64, &iter), 3);
    struct buf salt = b64(salt_b64);

    unsigned char cbind[512];
    size_t gl = strlen(c->gs2);
    memcpy(cbind, c->gs2, gl);
    if (cblen) {
        memcpy(cbind + gl, cb, cblen);
    }
    char cbind_b64[1024];
    b64_into(cbind, gl + cblen, cbind_b64, sizeof(cbind_b64));

    char without_proof[2048];
    snprintf(without_proof, sizeof(without_proof), "c=%s,r=%s", cbind_b64, nonce);
    char auth_msg[8192];
    snprintf(auth_msg, sizeof(auth_msg), "%s,%s,%s", c->first_bare, server_first, without_proof);

    unsigned char salted[64], ckey[64], skey[64], stored[64], csig[64], ssig[64], proof[64];
    unsigned int n = 0;
    assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), (unsigned char *)salt.p,
                                       (int)salt.len, (int)iter, c->md, (int)c->hl, salted),
                     1);
    HMAC(c->md, salted, (int)c->hl, (const unsigned char *)"Client Key", 10, ckey, &n);
    HMAC(c->md, salted, (int)c->hl, (const unsigned char *)"Server Key", 10, skey, &n);
    EVP_Digest(ckey, c->hl, stored, &n, c->md, NULL);
    HMAC(c->md, stored, (int)c->hl, (const unsigned char *)auth_msg, strlen(auth_msg), csig, &n);
    HMAC(c->md, skey, (int)c->hl, (const unsigned char *)auth_msg, strlen(auth_msg), ssig, &n);
    for (size_t i = 0; i < c->hl; i++) {
        proof[i] = ckey[i] ^ csig[i];
    }
    char proof_b64[256];
    char v_b64[256];
    b64_into(proof, c->hl, proof_b64, sizeof(proof_b64));
    b64_into(ssig, c->hl, v_b64, sizeof(v_b64));
    snprintf(c->final, sizeof(c->final), "%s,p=%s", without_proof, proof_b64);
    snprintf(c->expect_v, sizeof(c->expect_v), "v=%s", v_b64);
    buf_cleanup(&salt);
    return c->final;
}

/* A whole exchange; returns the code of the last step and leaves the session to the caller. */
static int scram_run(const char *mech, const struct sasl_params *p, const char *gs2,
                     const char *user, const char *password, const unsigned char *cb, size_t cblen,
                     struct sasl_session **sp)
{
    struct scram_client c;
    struct buf out;
    char first[1024];
    buf_init(&out, 4096);
    client_init(&c, mech, gs2, user);
    struct sasl_session *s = start(mech, p);
    *sp = s;
    int rc = step(s, client_first_msg(&c, first, sizeof(first)), &out);
    if (rc == SASL_CONTINUE) {
        char server_first[1024];
        snprintf(server_first, sizeof(server_first), "%s", buf_cstr(&out));
        rc = step(s, client_final_msg(&c, server_first, password, cb, cblen), &out);
        if (rc == SASL_DONE) {
            assert_string_equal(buf_cstr(&out), c.expect_v);
        }
    }
    buf_cleanup(&out);
    return rc;
}

static void expect_scram(const char *mech, const struct sasl_params *p, const char *gs2,
                         const char *user, const char *password, const unsigned char *cb,
                         size_t cblen, int want_rc, const char *want_failure)
{
    struct sasl_session *s = NULL;
    int rc = scram_run(mech, p, gs2, user, password, cb, cblen, &s);
    assert_int_equal(rc, want_rc);
    if (want_failure != NULL) {
        assert_non_null(sasl_session_failure(s));
        assert_string_equal(sasl_session_failure(s), want_failure);
        assert_null(sasl_session_username(s));
    } else {
        assert_null(sasl_session_failure(s));
    }
    sasl_session_free(s);
}

static void test_scram_sha512_exchange(void **state)
{
    (void)state;
    struct sasl_params p = params_plain();
    struct sasl_session *s = NULL;

    /* SCRAM-only storage. */
    assert_int_equal(scram_run("SCRAM-SHA-512", &p, "n,,", "bob", "hunter2", NULL, 0, &s),
                     SASL_DONE);
    assert_string_equal(sasl_session_username(s), "bob");
    sasl_session_free(s);
    /* Clear-only storage: a verifier is derived for the exchange. */
    expect_scram("SCRAM-SHA-512", &p, "n,,", "carol", "pw-carol", NULL, 0, SASL_DONE, NULL);
    expect_scram("SCRAM-SHA-1", &p, "n,,", "carol", "pw-carol", NULL, 0, SASL_DONE, NULL);
    /* Every hash from auth_creds_from_password(). */
    expect_scram("SCRAM-SHA-1", &p, "n,,", "alice", "secret", NULL, 0, SASL_DONE, NULL);
    expect_scram("SCRAM-SHA-256", &p, "n,,", "alice", "secret", NULL, 0, SASL_DONE, NULL);
    /* Wrong password. */
    expect_scram("SCRAM-SHA-512", &p, "n,,", "bob", "hunter3", NULL, 0, ERR_AUTH, "not-authorized");
    /* user@domain is the same user; another domain is not. */
    assert_int_equal(
        scram_run("SCRAM-SHA-512", &p, "n,,", "bob@EXAMPLE.org", "hunter2", NULL, 0, &s),
        SASL_DONE);
    assert_string_equal(sasl_session_username(s), "bob");
    sasl_session_free(s);
    expect_scram("SCRAM-SHA-512", &p, "n,,", "bob@example.net", "hunter2", NULL, 0, ERR_AUTH,
                 "not-authorized");
    /* Disabled account: the right password gives account-disabled, a wrong one does not. */
    expect_scram("SCRAM-SHA-256", &p, "n,,", "dave", "dave-pw", NULL, 0, ERR_AUTH,
                 "account-disabled");
    expect_scram("SCRAM-SHA-256", &p, "n,,", "dave", "nope", NULL, 0, ERR_AUTH, "not-authorized");
    /* Temporary failure of the account store. */
    expect_scram("SCRAM-SHA-256", &p, "n,,", "tempfail", "x", NULL, 0, ERR_STORE,
                 "temporary-auth-failure");
    /* A username with escaped ',' and '=' reaches the store decoded (and is unknown). */
    expect_scram("SCRAM-SHA-256", &p, "n,,", "a=2Cb=3Dc", "x", NULL, 0, ERR_AUTH, "not-authorized");
    /* The GS2 authzid is reported. */
    assert_int_equal(scram_run("SCRAM-SHA-256", &p, "n,a=admin@example.org=2C=3D,", "bob",
                               "hunter2", NULL, 0, &s),
                     SASL_DONE);
    assert_string_equal(sasl_session_authzid(s), "admin@example.org,=");
    sasl_session_free(s);
    assert_int_equal(
        scram_run("SCRAM-SHA-256", &p, "n,a=juliet@example.org,", "bob", "hunter2", NULL, 0, &s),
        SASL_DONE);
    assert_string_equal(sasl_session_authzid(s), "juliet@example.org");
    sasl_session_free(s);
}

static void test_scram_no_initial_response(void **state)
{
    (void)state;
    struct sasl_params p = params_plain();
    struct scram_client c;
    struct buf out;
    char first[1024];
    buf_init(&out, 4096);
    client_init(&c, "SCRAM-SHA-1", "n,,", "bob");
    struct sasl_session *s = start("SCRAM-SHA-1", &p);
    assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
    assert_int_equal(out.len, 0);
    assert_int_equal(step(s, client_first_msg(&c, first, sizeof(first)), &out), SASL_CONTINUE);
    char sf[512];
    snprintf(sf, sizeof(sf), "%s", buf_cstr(&out));
    assert_int_equal(step(s, client_final_msg(&c, sf, "hunter2", NULL, 0), &out), SASL_DONE);
    sasl_session_free(s);
    buf_cleanup(&out);
}

/* ---- SCRAM -PLUS ---- */

static const unsigned char cb_unique[] = "unique-finished-message";
static const unsigned char cb_exporter[] = { 0x01, 0x02, 0x00, 0xff, 0x7f, 0x80, 0x03, 0x04 };
static const unsigned char cb_endpoint[] = "sha256-of-server-certificate-32b";

static const struct sasl_cb_data cb_table[SASL_CB_COUNT] = {
    [SASL_CB_TLS_UNIQUE] = { cb_unique, sizeof(cb_unique) },
    [SASL_CB_TLS_EXPORTER] = { cb_exporter, sizeof(cb_exporter) },
    [SASL_CB_TLS_SERVER_END_POINT] = { cb_endpoint, sizeof(cb_endpoint) },
};
/* How many times the mechanisms asked for binding data, and whether the next ask fails. */
static int cb_asked;
static bool cb_fails;

static int test_get_cb(void *ud, enum sasl_cb_type t, struct sasl_cb_data *out)
{
    (void)ud;
    cb_asked++;
    if (cb_fails) {
        return ERR_INTERNAL;
    }
    *out = cb_table[t];
    return 0;
}

static struct sasl_params params_cb(void)
{
    struct sasl_params p = params_plain();
    p.cb_types =
        1u << SASL_CB_TLS_UNIQUE | 1u << SASL_CB_TLS_EXPORTER | 1u << SASL_CB_TLS_SERVER_END_POINT;
    p.get_cb = test_get_cb;
    return p;
}

static void test_scram_plus(void **state)
{
    (void)state;
    struct sasl_params p = params_cb();
    static const struct {
        const char *gs2;
        const unsigned char *data;
        size_t len;
    } types[] = {
        { "p=tls-unique,,", cb_unique, sizeof(cb_unique) },
        { "p=tls-exporter,,", cb_exporter, sizeof(cb_exporter) },
        { "p=tls-server-end-point,,", cb_endpoint, sizeof(cb_endpoint) },
    };
    static const char *const mechs[] = { "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS",
                                         "SCRAM-SHA-512-PLUS" };
    for (size_t m = 0; m < 3; m++) {
        for (size_t t = 0; t < 3; t++) {
            expect_scram(mechs[m], &p, types[t].gs2, "bob", "hunter2", types[t].data, types[t].len,
                         SASL_DONE, NULL);
            /* Data of another type, or altered data: a man in the middle. */
            const struct sasl_cb_data *other = &cb_table[(t + 1) % 3];
            expect_scram(mechs[m], &p, types[t].gs2, "bob", "hunter2", other->data, other->len,
                         ERR_AUTH, "not-authorized");
            unsigned char bad[64];
            memcpy(bad, types[t].data, types[t].len);
            bad[0] ^= 1;
            expect_scram(mechs[m], &p, types[t].gs2, "bob", "hunter2", bad, types[t].len, ERR_AUTH,
                         "not-authorized");
            /* Without the data in c= at all. */
            expect_scram(mechs[m], &p, types[t].gs2, "bob", "hunter2", NULL, 0, ERR_AUTH,
                         "not-authorized");
        }
        /* -PLUS needs "p=". */
        expect_scram(mechs[m], &p, "n,,", "bob", "hunter2", NULL, 0, ERR_AUTH, "not-authorized");
        expect_scram(mechs[m], &p, "y,,", "bob", "hunter2", NULL, 0, ERR_AUTH, "not-authorized");
        /* An unknown binding type, and one we do not have on this link. */
        expect_scram(mechs[m], &p, "p=tls-other,,", "bob", "hunter2", NULL, 0, ERR_AUTH,
                     "not-authorized");
        struct sasl_params q = params_cb();
        q.cb_types &= ~(1u << SASL_CB_TLS_UNIQUE);
        expect_scram(mechs[m], &q, "p=tls-unique,,", "bob", "hunter2", cb_unique, sizeof(cb_unique),
                     ERR_AUTH, "not-authorized");
        expect_scram(mechs[m], &q, "p=tls-exporter,,", "bob", "hunter2", cb_exporter,
                     sizeof(cb_exporter), SASL_DONE, NULL);
    }
    /* "p=" with a mechanism without -PLUS. */
    expect_scram("SCRAM-SHA-256", &p, "p=tls-exporter,,", "bob", "hunter2", cb_exporter,
                 sizeof(cb_exporter), ERR_AUTH, "not-authorized");
    /* "y": downgrade when we advertised -PLUS, fine when we could not. */
    expect_scram("SCRAM-SHA-256", &p, "y,,", "bob", "hunter2", NULL, 0, ERR_AUTH, "not-authorized");
    struct sasl_params plain = params_plain();
    expect_scram("SCRAM-SHA-256", &plain, "y,,", "bob", "hunter2", NULL, 0, SASL_DONE, NULL);
    struct sasl_params notls = params_cb();
    notls.tls = false;
    expect_scram("SCRAM-SHA-256", &notls, "y,,", "bob", "hunter2", NULL, 0, SASL_DONE, NULL);
    /* "n" with cb available is the client's choice. */
    expect_scram("SCRAM-SHA-256", &p, "n,,", "bob", "hunter2", NULL, 0, SASL_DONE, NULL);
    /* c= for "n" must be exactly base64("n,,"). */
    expect_scram("SCRAM-SHA-256", &p, "n,,", "bob", "hunter2", cb_exporter, sizeof(cb_exporter),
                 ERR_AUTH, "not-authorized");
    /* Binding with an authzid in the header. */
    expect_scram("SCRAM-SHA-512-PLUS", &p, "p=tls-exporter,a=bob@example.org,", "bob", "hunter2",
                 cb_exporter, sizeof(cb_exporter), SASL_DONE, NULL);
}

/* The failure kind (and reason) of one SCRAM run. */
static void expect_kind(const char *mech, const struct sasl_params *p, const char *gs2,
                        const char *user, const char *password, const unsigned char *cb,
                        size_t cblen, enum sasl_fail_kind kind, const char *reason_part)
{
    struct sasl_session *s = NULL;
    int rc = scram_run(mech, p, gs2, user, password, cb, cblen, &s);
    assert_true(rc < 0);
    assert_int_equal(sasl_session_failure_kind(s), kind);
    if (reason_part != NULL) {
        assert_non_null(strstr(sasl_session_failure_reason(s), reason_part));
    }
    assert_int_equal(sasl_session_cb_type_unoffered(s),
                     reason_part != NULL && strstr(reason_part, "client asked for") != NULL);
    sasl_session_free(s);
}

static void test_scram_failure_kinds(void **state)
{
    (void)state;
    struct sasl_params p = params_cb();
    /* Credentials and accounts. */
    expect_kind("SCRAM-SHA-256", &p, "n,,", "bob", "wrong", NULL, 0, SASL_FAIL_CREDENTIALS, NULL);
    expect_kind("SCRAM-SHA-256", &p, "n,,", "nobody", "x", NULL, 0, SASL_FAIL_UNKNOWN_USER, NULL);
    expect_kind("SCRAM-SHA-256", &p, "n,,", "bob@example.net", "hunter2", NULL, 0,
                SASL_FAIL_UNKNOWN_USER, NULL);
    /* Channel-binding negotiation: no password is checked. */
    struct sasl_params tls13 = params_cb();
    tls13.cb_types &= ~(1u << SASL_CB_TLS_UNIQUE);
    tls13.tls_version = "TLSv1.3";
    expect_kind("SCRAM-SHA-512-PLUS", &tls13, "p=tls-unique,,", "bob", "hunter2", cb_unique,
                sizeof(cb_unique), SASL_FAIL_CHANNEL_BINDING,
                "client asked for tls-unique, not available under TLS 1.3");
    expect_kind("SCRAM-SHA-512-PLUS", &p, "p=tls-other,,", "bob", "hunter2", NULL, 0,
                SASL_FAIL_CHANNEL_BINDING, "client asked for tls-other, not offered");
    expect_kind("SCRAM-SHA-256-PLUS", &p, "n,,", "bob", "hunter2", NULL, 0,
                SASL_FAIL_CHANNEL_BINDING, "without channel binding");
    expect_kind("SCRAM-SHA-256", &p, "y,,", "bob", "hunter2", NULL, 0, SASL_FAIL_CHANNEL_BINDING,
                "possible downgrade");
    expect_kind("SCRAM-SHA-256-PLUS", &p, "p=tls-exporter,,", "bob", "hunter2", cb_endpoint,
                sizeof(cb_endpoint), SASL_FAIL_CHANNEL_BINDING, "does not match");
    /* Malformed. */
    struct sasl_session *s = start("SCRAM-SHA-256", &p);
    struct buf out;
    buf_init(&out, 4096);
    assert_true(step(s, "garbage", &out) < 0);
    assert_int_equal(sasl_session_failure_kind(s), SASL_FAIL_MALFORMED);
    assert_string_equal(sasl_fail_kind_name(sasl_session_failure_kind(s)), "malformed request");
    sasl_session_free(s);
    buf_cleanup(&out);
}

/* The binding data is asked for only by a "p=" exchange that reached its final message: the
 * mechanism list, "n" and "y" logins and refusals before it never compute it. */
static void test_scram_cb_data_only_when_bound(void **state)
{
    (void)state;
    struct sasl_params p = params_cb();
    cb_asked = 0;
    const char *names[16];
    assert_true(sasl_mechs_offered(NULL, &p, names, 16) > 3);
    assert_string_equal(names[0], "SCRAM-SHA-512-PLUS");
    expect_scram("SCRAM-SHA-256", &p, "n,,", "bob", "hunter2", NULL, 0, SASL_DONE, NULL);
    expect_scram("SCRAM-SHA-256-PLUS", &p, "n,,", "bob", "hunter2", NULL, 0, ERR_AUTH,
                 "not-authorized");
    expect_scram("SCRAM-SHA-256-PLUS", &p, "p=tls-other,,", "bob", "hunter2", NULL, 0, ERR_AUTH,
                 "not-authorized");
    assert_int_equal(cb_asked, 0);
    expect_scram("SCRAM-SHA-256-PLUS", &p, "p=tls-exporter,,", "bob", "hunter2", cb_exporter,
                 sizeof(cb_exporter), SASL_DONE, NULL);
    assert_int_equal(cb_asked, 1);
    /* Data that cannot be had after all: a temporary failure, never a login without it. */
    cb_fails = true;
    expect_scram("SCRAM-SHA-256-PLUS", &p, "p=tls-exporter,,", "bob", "hunter2", cb_exporter,
                 sizeof(cb_exporter), ERR_INTERNAL, "temporary-auth-failure");
    cb_fails = false;
    /* A type not offered is refused before anything is asked. */
    p.cb_types = 1u << SASL_CB_TLS_SERVER_END_POINT;
    cb_asked = 0;
    expect_scram("SCRAM-SHA-256-PLUS", &p, "p=tls-exporter,,", "bob", "hunter2", cb_exporter,
                 sizeof(cb_exporter), ERR_AUTH, "not-authorized");
    assert_int_equal(cb_asked, 0);
    expect_scram("SCRAM-SHA-1-PLUS", &p, "p=tls-server-end-point,,", "bob", "hunter2", cb_endpoint,
                 sizeof(cb_endpoint), SASL_DONE, NULL);
    assert_int_equal(cb_asked, 1);
}

/* XEP-0440: once the client asked for a type the link does not offer, its "y" means "no mutual
 * binding type" and is accepted; before that it stays a downgrade. The -PLUS rules are kept. */
static void test_scram_y_after_no_mutual_type(void **state)
{
    (void)state;
    struct sasl_params p = params_cb();
    p.cb_types &= ~(1u << SASL_CB_TLS_UNIQUE);
    expect_scram("SCRAM-SHA-256", &p, "y,,", "bob", "hunter2", NULL, 0, ERR_AUTH, "not-authorized");
    p.cb_none_mutual = true;
    expect_scram("SCRAM-SHA-256", &p, "y,,", "bob", "hunter2", NULL, 0, SASL_DONE, NULL);
    expect_scram("SCRAM-SHA-512", &p, "y,,", "bob", "wrong", NULL, 0, ERR_AUTH, "not-authorized");
    expect_scram("SCRAM-SHA-256-PLUS", &p, "y,,", "bob", "hunter2", NULL, 0, ERR_AUTH,
                 "not-authorized");
    expect_scram("SCRAM-SHA-256-PLUS", &p, "p=tls-exporter,,", "bob", "hunter2", cb_exporter,
                 sizeof(cb_exporter), SASL_DONE, NULL);
}

/* ---- SCRAM: malformed messages and unknown users ---- */

static void expect_first_fails(const char *mech, const char *msg, size_t len, const char *failure)
{
    struct sasl_params p = params_plain();
    struct buf out;
    buf_init(&out, 4096);
    struct sasl_session *s = start(mech, &p);
    assert_true(step_bytes(s, msg, len, &out) < 0);
    assert_string_equal(sasl_session_failure(s), failure);
    /* Once failed, the session stays failed. */
    assert_int_equal(step(s, "n,,n=bob,r=abc", &out), ERR_PROTO);
    assert_string_equal(sasl_session_failure(s), failure);
    sasl_session_free(s);
    buf_cleanup(&out);
}

static void test_scram_malformed_first(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "n",
        "n,",
        "n,,",
        "x,,n=bob,r=abc",
        "p,,n=bob,r=abc",
        "p=,,n=bob,r=abc",
        "n,b=x,n=bob,r=abc",
        "n,a=,n=bob,r=abc",
        "n,a=x=2Dy,n=bob,r=abc",
        "n,a=x=2,n=bob,r=abc",
        "n,,m=ext,n=bob,r=abc",
        "n,,n=,r=abc",
        "n,,n=bo=b,r=abc",
        "n,,n=bo=3,r=abc",
        "n,,r=abc,n=bob",
        "n,,n=bob",
        "n,,n=bob,",
        "n,,n=bob,r=",
        "n,,n=bob,r=a c",
        "n,,n=bob,r=abc,",
        "n,,n=bob,r=abc,1=x",
        "n,,n=bob,r=abc,x=",
        "n,,n=bob,r=abc,,x=y",
        "n,,n=bob,x=1,r=abc",
        "N,,n=bob,r=abc",
        "n,,n=b\xc3\x28,r=abc",
        "n,,n=bob,r=ab\xff",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_first_fails("SCRAM-SHA-1", bad[i], strlen(bad[i]), "malformed-request");
    }
    expect_first_fails("SCRAM-SHA-1", "n,,n=b\0b,r=abc", 14, "malformed-request");
    /* Extensions after the nonce are allowed. */
    struct sasl_params p = params_plain();
    struct buf out;
    buf_init(&out, 4096);
    struct sasl_session *s = start("SCRAM-SHA-1", &p);
    assert_int_equal(step(s, "n,,n=bob,r=abc,x=1,Y=zz", &out), SASL_CONTINUE);
    assert_int_equal(strncmp(buf_cstr(&out), "r=abc", 5), 0);
    sasl_session_free(s);
    /* An initial response that is present but empty. */
    s = start("SCRAM-SHA-1", &p);
    assert_int_equal(step(s, "", &out), ERR_PROTO);
    assert_string_equal(sasl_session_failure(s), "malformed-request");
    sasl_session_free(s);
    buf_cleanup(&out);
}

static void test_scram_malformed_final(void **state)
{
    (void)state;
    struct sasl_params p = params_plain();
    struct buf out;
    buf_init(&out, 4096);
    sasl__scram_test_set_nonce("SNONCE");
    /* A valid final for reference: c=biws,r=abcSNONCE,p=<20 bytes>. */
    static const char *const bad[] = {
        "",
        "r=abcSNONCE,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "c=biws,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "c=biws,r=abcSNONCE",
        "c=biws,r=abcSNONCE,",
        "c=biws,r=abcSNONCF,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "c=biws,r=abc,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "c=biws,r=abcSNONCEx,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "c=biws,r=abcSNONCE,p=AAAAAAAAAAAAAAAAAAAAAAAAAA==",
        "c=biws,r=abcSNONCE,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "c=biws,r=abcSNONCE,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=,x=1",
        "c=biws,r=abcSNONCE,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=,",
        "c=biws,r=abcSNONCE,7=1,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "r=abcSNONCE,c=biws,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sasl_session *s = start("SCRAM-SHA-1", &p);
        assert_int_equal(step(s, "n,,n=bob,r=abc", &out), SASL_CONTINUE);
        assert_int_equal(strncmp(buf_cstr(&out), "r=abcSNONCE,s=", 14), 0);
        assert_int_equal(step(s, bad[i], &out), ERR_PROTO);
        assert_string_equal(sasl_session_failure(s), "malformed-request");
        assert_null(sasl_session_username(s));
        sasl_session_free(s);
    }
    /* Well-formed with a bad c= or a wrong proof: not-authorized. */
    static const char *const refused[] = {
        "c=eSws,r=abcSNONCE,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "c=!!!!,r=abcSNONCE,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "c=biws,r=abcSNONCE,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "c=biws,r=abcSNONCE,x=ext,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct sasl_session *s = start("SCRAM-SHA-1", &p);
        assert_int_equal(step(s, "n,,n=bob,r=abc", &out), SASL_CONTINUE);
        assert_int_equal(step(s, refused[i], &out), ERR_AUTH);
        assert_string_equal(sasl_session_failure(s), "not-authorized");
        sasl_session_free(s);
    }
    sasl__scram_test_set_nonce(NULL);
    buf_cleanup(&out);
}

/* Returns the server-first message for `user` in a fresh session. */
static void server_first_of(const char *mech, const char *user, char *sf, size_t len)
{
    struct sasl_params p = params_plain();
    struct buf out;
    char first[512];
    buf_init(&out, 4096);
    struct sasl_session *s = start(mech, &p);
    snprintf(first, sizeof(first), "n,,n=%s,r=abc", user);
    assert_int_equal(step(s, first, &out), SASL_CONTINUE);
    snprintf(sf, len, "%s", buf_cstr(&out));
    sasl_session_free(s);
    buf_cleanup(&out);
}

static void test_scram_unknown_user(void **state)
{
    (void)state;
    char a1[512], a2[512], b1[512], real[512], other_hash[512];
    char salt_a1[128], salt_a2[128], salt_b1[128], salt_real[128], salt_oh[128];
    unsigned i_a1 = 0, i_real = 0;
    server_first_of("SCRAM-SHA-256", "mallory", a1, sizeof(a1));
    server_first_of("SCRAM-SHA-256", "mallory", a2, sizeof(a2));
    server_first_of("SCRAM-SHA-256", "oscar", b1, sizeof(b1));
    server_first_of("SCRAM-SHA-256", "bob", real, sizeof(real));
    server_first_of("SCRAM-SHA-512", "mallory", other_hash, sizeof(other_hash));
    assert_int_equal(sscanf(a1, "r=%*[^,],s=%127[^,],i=%u", salt_a1, &i_a1), 2);
    assert_int_equal(sscanf(a2, "r=%*[^,],s=%127[^,]", salt_a2), 1);
    assert_int_equal(sscanf(b1, "r=%*[^,],s=%127[^,]", salt_b1), 1);
    assert_int_equal(sscanf(real, "r=%*[^,],s=%127[^,],i=%u", salt_real, &i_real), 2);
    assert_int_equal(sscanf(other_hash, "r=%*[^,],s=%127[^,]", salt_oh), 1);
    /* Same shape as a real user's, stable for one name, different across names and hashes. */
    assert_string_equal(salt_a1, salt_a2);
    assert_string_not_equal(salt_a1, salt_b1);
    assert_string_not_equal(salt_a1, salt_oh);
    assert_int_equal(strlen(salt_a1), strlen(salt_real));
    assert_int_equal(i_a1, i_real);
    /* The server nonces differ between sessions. */
    assert_string_not_equal(a1, a2);
    /* A clear-only account's per-exchange salt is as stable as an unknown user's. */
    char k1[512], k2[512], salt_k1[128], salt_k2[128];
    server_first_of("SCRAM-SHA-256", "carol", k1, sizeof(k1));
    server_first_of("SCRAM-SHA-256", "carol", k2, sizeof(k2));
    assert_int_equal(sscanf(k1, "r=%*[^,],s=%127[^,]", salt_k1), 1);
    assert_int_equal(sscanf(k2, "r=%*[^,],s=%127[^,]", salt_k2), 1);
    assert_string_equal(salt_k1, salt_k2);

    /* The exchange completes and fails like a wrong password. */
    struct sasl_params p = params_plain();
    expect_scram("SCRAM-SHA-256", &p, "n,,", "mallory", "guess", NULL, 0, ERR_AUTH,
                 "not-authorized");
    /* An account without any password behaves the same. */
    expect_scram("SCRAM-SHA-256", &p, "n,,", "nopass", "", NULL, 0, ERR_AUTH, "not-authorized");

    /* A new secret changes the fake salts (and makes them reproducible across restarts). */
    static const unsigned char secret[] = "kept-in-the-store";
    sasl_set_fake_salt_secret(secret, sizeof(secret));
    char c1[512], c2[512], salt_c1[128], salt_c2[128];
    server_first_of("SCRAM-SHA-256", "mallory", c1, sizeof(c1));
    sasl_set_fake_salt_secret(secret, sizeof(secret));
    server_first_of("SCRAM-SHA-256", "mallory", c2, sizeof(c2));
    assert_int_equal(sscanf(c1, "r=%*[^,],s=%127[^,]", salt_c1), 1);
    assert_int_equal(sscanf(c2, "r=%*[^,],s=%127[^,]", salt_c2), 1);
    assert_string_equal(salt_c1, salt_c2);
    assert_string_not_equal(salt_c1, salt_a1);
}

/* ---- PLAIN ---- */

static int plain(const struct sasl_params *p, const char *msg, size_t len, struct sasl_session **sp)
{
    struct buf out;
    buf_init(&out, 64);
    *sp = start("PLAIN", p);
    int rc = step_bytes(*sp, msg, len, &out);
    if (rc == SASL_DONE) {
        assert_int_equal(out.len, 0);
    }
    buf_cleanup(&out);
    return rc;
}

#define PLAIN_MSG(lit) lit, sizeof(lit) - 1

static void expect_plain(const struct sasl_params *p, const char *msg, size_t len, int want_rc,
                         const char *failure)
{
    struct sasl_session *s;
    assert_int_equal(plain(p, msg, len, &s), want_rc);
    if (failure) {
        assert_string_equal(sasl_session_failure(s), failure);
        assert_null(sasl_session_username(s));
    }
    sasl_session_free(s);
}

static void test_plain(void **state)
{
    (void)state;
    struct sasl_params p = params_plain();
    struct sasl_session *s;

    assert_int_equal(plain(&p, PLAIN_MSG("\0alice\0secret"), &s), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "alice");
    assert_null(sasl_session_authzid(s));
    sasl_session_free(s);
    assert_int_equal(plain(&p, PLAIN_MSG("admin@example.org\0alice@example.org\0secret"), &s),
                     SASL_DONE);
    assert_string_equal(sasl_session_username(s), "alice");
    assert_string_equal(sasl_session_authzid(s), "admin@example.org");
    sasl_session_free(s);
    /* From SCRAM keys only, and from clear only. */
    expect_plain(&p, PLAIN_MSG("\0bob\0hunter2"), SASL_DONE, NULL);
    expect_plain(&p, PLAIN_MSG("\0carol\0pw-carol"), SASL_DONE, NULL);

    expect_plain(&p, PLAIN_MSG("\0alice\0secreT"), ERR_AUTH, "not-authorized");
    expect_plain(&p, PLAIN_MSG("\0bob\0hunter"), ERR_AUTH, "not-authorized");
    expect_plain(&p, PLAIN_MSG("\0alice@example.net\0secret"), ERR_AUTH, "not-authorized");
    expect_plain(&p, PLAIN_MSG("\0nobody\0secret"), ERR_AUTH, "not-authorized");
    expect_plain(&p, PLAIN_MSG("\0nopass\0x"), ERR_AUTH, "not-authorized");
    expect_plain(&p, PLAIN_MSG("\0dave\0dave-pw"), ERR_AUTH, "account-disabled");
    expect_plain(&p, PLAIN_MSG("\0dave\0wrong"), ERR_AUTH, "not-authorized");
    expect_plain(&p, PLAIN_MSG("\0tempfail\0x"), ERR_STORE, "temporary-auth-failure");

    /* Secure Method Required: not without TLS. */
    expect_plain(&p, PLAIN_MSG("\0erin\0erin-pw"), SASL_DONE, NULL);
    struct sasl_params notls = params_plain();
    notls.tls = false;
    expect_plain(&notls, PLAIN_MSG("\0erin\0erin-pw"), ERR_AUTH, "encryption-required");
    expect_plain(&notls, PLAIN_MSG("\0alice\0secret"), SASL_DONE, NULL);

    /* Bad format. */
    expect_plain(&p, PLAIN_MSG(""), ERR_PROTO, "malformed-request");
    expect_plain(&p, PLAIN_MSG("alice secret"), ERR_PROTO, "malformed-request");
    expect_plain(&p, PLAIN_MSG("alice\0secret"), ERR_PROTO, "malformed-request");
    expect_plain(&p, PLAIN_MSG("\0\0secret"), ERR_PROTO, "malformed-request");
    expect_plain(&p, PLAIN_MSG("\0alice\0"), ERR_PROTO, "malformed-request");
    expect_plain(&p, PLAIN_MSG("\0alice\0sec\0ret"), ERR_PROTO, "malformed-request");
    expect_plain(&p, PLAIN_MSG("\0al\xffice\0secret"), ERR_PROTO, "malformed-request");

    /* No initial response: an empty challenge, then the credentials. */
    struct buf out;
    buf_init(&out, 64);
    s = start("PLAIN", &p);
    assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
    assert_int_equal(out.len, 0);
    assert_int_equal(step_bytes(s, PLAIN_MSG("\0alice\0secret"), &out), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "alice");
    sasl_session_free(s);
    buf_cleanup(&out);
}

/* ---- LOGIN ---- */

static void test_login(void **state)
{
    (void)state;
    struct sasl_params p = params_plain();
    struct buf out;
    buf_init(&out, 64);

    struct sasl_session *s = start("LOGIN", &p);
    assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
    assert_string_equal(buf_cstr(&out), "Username:");
    assert_int_equal(step(s, "alice@example.org", &out), SASL_CONTINUE);
    assert_string_equal(buf_cstr(&out), "Password:");
    assert_int_equal(step(s, "secret", &out), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "alice");
    sasl_session_free(s);

    /* User name as initial response. */
    s = start("LOGIN", &p);
    assert_int_equal(step(s, "bob", &out), SASL_CONTINUE);
    assert_string_equal(buf_cstr(&out), "Password:");
    assert_int_equal(step(s, "hunter2", &out), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "bob");
    sasl_session_free(s);

    s = start("LOGIN", &p);
    assert_int_equal(step(s, "", &out), SASL_CONTINUE);
    assert_string_equal(buf_cstr(&out), "Username:");
    assert_int_equal(step(s, "bob", &out), SASL_CONTINUE);
    assert_int_equal(step(s, "hunter3", &out), ERR_AUTH);
    assert_string_equal(sasl_session_failure(s), "not-authorized");
    sasl_session_free(s);

    s = start("LOGIN", &p);
    assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
    assert_int_equal(step(s, "", &out), ERR_PROTO);
    assert_string_equal(sasl_session_failure(s), "malformed-request");
    sasl_session_free(s);

    s = start("LOGIN", &p);
    assert_int_equal(step(s, "bob", &out), SASL_CONTINUE);
    assert_int_equal(step_bytes(s, "hun\0ter2", 8, &out), ERR_PROTO);
    sasl_session_free(s);

    struct sasl_params notls = params_plain();
    notls.tls = false;
    s = start("LOGIN", &notls);
    assert_int_equal(step(s, "erin", &out), SASL_CONTINUE);
    assert_int_equal(step(s, "erin-pw", &out), ERR_AUTH);
    assert_string_equal(sasl_session_failure(s), "encryption-required");
    sasl_session_free(s);
    buf_cleanup(&out);

    assert_true(sasl_mech_is_plaintext(sasl_mech_find("LOGIN")));
    assert_true(sasl_mech_is_plaintext(sasl_mech_find("PLAIN")));
    assert_false(sasl_mech_is_plaintext(sasl_mech_find("SCRAM-SHA-1")));
    assert_false(sasl_mech_is_plaintext(sasl_mech_find("EXTERNAL")));
}

/* ---- EXTERNAL ---- */

static int external(const char *const *ids, const char *authzid, struct sasl_session **sp)
{
    static struct sasl_params p;
    struct buf out;
    p = params_plain();
    p.cert_ids = ids;
    buf_init(&out, 64);
    *sp = start("EXTERNAL", &p);
    int rc = step(*sp, authzid, &out);
    if (rc == SASL_CONTINUE) {
        assert_int_equal(out.len, 0);
        rc = step(*sp, "", &out);
    }
    buf_cleanup(&out);
    return rc;
}

static void test_external(void **state)
{
    (void)state;
    static const char *const one[] = { "alice@example.org", NULL };
    static const char *const two[] = { "bob@example.org", "alice@example.org", NULL };
    static const char *const none[] = { NULL };
    static const char *const unknown[] = { "nobody@example.org", NULL };
    static const char *const disabled[] = { "dave@example.org", NULL };
    static const char *const domain_only[] = { "example.org", NULL };
    struct sasl_session *s;

    assert_int_equal(external(one, "", &s), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "alice");
    assert_null(sasl_session_authzid(s));
    sasl_session_free(s);
    assert_int_equal(external(one, NULL, &s), SASL_DONE); /* no initial response */
    assert_string_equal(sasl_session_username(s), "alice");
    sasl_session_free(s);
    assert_int_equal(external(two, "Alice@example.org", &s), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "alice");
    assert_string_equal(sasl_session_authzid(s), "Alice@example.org");
    sasl_session_free(s);
    assert_int_equal(external(two, "bob@example.org", &s), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "bob");
    sasl_session_free(s);

    static const struct {
        const char *const *ids;
        const char *authzid;
        int rc;
        const char *failure;
    } bad[] = {
        { two, "", ERR_AUTH, "invalid-authzid" },
        { one, "bob@example.org", ERR_AUTH, "invalid-authzid" },
        { one, "alice@example.org/res", ERR_AUTH, "invalid-authzid" },
        { none, "", ERR_AUTH, "not-authorized" },
        { NULL, "", ERR_AUTH, "not-authorized" },
        { unknown, "", ERR_AUTH, "not-authorized" },
        { disabled, "", ERR_AUTH, "account-disabled" },
        { domain_only, "", ERR_AUTH, "not-authorized" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(external(bad[i].ids, bad[i].authzid, &s), bad[i].rc);
        assert_string_equal(sasl_session_failure(s), bad[i].failure);
        assert_null(sasl_session_username(s));
        sasl_session_free(s);
    }
}

/* ---- CRAM-MD5 ---- */

static void hex(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        snprintf(out + 2 * i, 3, "%02x", in[i]);
    }
}

/* The client's answer: "user " + hex(HMAC-MD5(password, challenge)). */
static void cram_response(const char *user, const char *password, const char *challenge, char *out,
                          size_t len)
{
    unsigned char mac[16];
    unsigned int n = 0;
    char h[33];
    HMAC(EVP_md5(), password, (int)strlen(password), (const unsigned char *)challenge,
         strlen(challenge), mac, &n);
    assert_int_equal(n, 16);
    hex(mac, 16, h);
    snprintf(out, len, "%s %s", user, h);
}

static int cram(const struct sasl_params *p, const char *user, const char *password,
                struct sasl_session **sp)
{
    struct buf out;
    char resp[256];
    buf_init(&out, 1024);
    *sp = start("CRAM-MD5", p);
    int rc = step(*sp, NULL, &out);
    assert_int_equal(rc, SASL_CONTINUE);
    assert_true(out.len > 0 && buf_cstr(&out)[0] == '<');
    cram_response(user, password, buf_cstr(&out), resp, sizeof(resp));
    rc = step(*sp, resp, &out);
    if (rc == SASL_DONE) {
        assert_int_equal(out.len, 0);
    }
    buf_cleanup(&out);
    return rc;
}

static void test_cram_md5(void **state)
{
    (void)state;
    /* RFC 2195 section 2: the example's challenge and key give its response. */
    char resp[128];
    cram_response("tim", "tanstaaftanstaaf", "<1896.697170952@postoffice.reston.mci.net>", resp,
                  sizeof(resp));
    assert_string_equal(resp, "tim b913a602c7eda7a495b4e6e7334d3890");

    struct sasl_params p = params_plain();
    struct sasl_session *s;
    assert_int_equal(cram(&p, "tim", "tanstaaftanstaaf", &s), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "tim");
    sasl_session_free(s);
    assert_int_equal(cram(&p, "tim@example.org", "tanstaaftanstaaf", &s), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "tim");
    sasl_session_free(s);

    static const struct {
        const char *user;
        const char *pw;
        int rc;
        const char *failure;
    } bad[] = {
        { "tim", "tanstaaftanstaag", ERR_AUTH, "not-authorized" },
        { "tim@example.net", "tanstaaftanstaaf", ERR_AUTH, "not-authorized" },
        { "nobody", "x", ERR_AUTH, "not-authorized" },
        { "bob", "hunter2", ERR_AUTH, "not-authorized" }, /* no clear password */
        { "dave", "dave-pw", ERR_AUTH, "account-disabled" },
        { "tempfail", "x", ERR_STORE, "temporary-auth-failure" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cram(&p, bad[i].user, bad[i].pw, &s), bad[i].rc);
        assert_string_equal(sasl_session_failure(s), bad[i].failure);
        assert_null(sasl_session_username(s));
        sasl_session_free(s);
    }

    /* Malformed: an initial response, a short answer, NUL bytes. */
    struct buf out;
    buf_init(&out, 1024);
    s = start("CRAM-MD5", &p);
    assert_int_equal(step(s, "tim", &out), ERR_PROTO);
    assert_string_equal(sasl_session_failure(s), "malformed-request");
    sasl_session_free(s);
    static const char *const junk[] = { "tim", "tim b913a602c7eda7a495b4e6e7334d389",
                                        "timb913a602c7eda7a495b4e6e7334d3890x", "" };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        s = start("CRAM-MD5", &p);
        assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
        assert_int_equal(step(s, junk[i], &out), ERR_PROTO);
        assert_string_equal(sasl_session_failure(s), "malformed-request");
        sasl_session_free(s);
    }
    s = start("CRAM-MD5", &p);
    assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
    assert_int_equal(step_bytes(s, "t\0m b913a602c7eda7a495b4e6e7334d3890", 36, &out), ERR_PROTO);
    sasl_session_free(s);
    buf_cleanup(&out);
}

/* Several workers share the one GNU SASL context. */
static void *cram_worker(void *arg)
{
    struct sasl_params p = params_plain();
    intptr_t ok = 0;
    (void)arg;
    for (int i = 0; i < 40; i++) {
        struct sasl_session *s;
        const char *pw = i % 2 ? "tanstaaftanstaaf" : "wrong";
        int rc = cram(&p, "tim", pw, &s);
        ok += (i % 2) ? rc == SASL_DONE : rc == ERR_AUTH;
        sasl_session_free(s);
    }
    return (void *)ok;
}

static void test_cram_md5_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, cram_worker, NULL), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ok = NULL;
        assert_int_equal(pthread_join(t[i], &ok), 0);
        assert_int_equal((intptr_t)ok, 40);
    }
}

/* ---- DIGEST-MD5 ---- */

static void md5_hex(const char *data, size_t len, char *out)
{
    unsigned char d[16];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, EVP_md5(), NULL);
    hex(d, 16, out);
}

/* RFC 2831 section 2.1.2.1 with qop=auth and no authzid; `a2_prefix` is "AUTHENTICATE" for the
 * client's response and "" for the server's rspauth. */
static void digest_value(const char *user, const char *realm, const char *pw, const char *nonce,
                         const char *cnonce, const char *uri, const char *a2_prefix, char *out)
{
    char tmp[1024];
    unsigned char urp[16];
    unsigned int n = 0;
    int len = snprintf(tmp, sizeof(tmp), "%s:%s:%s", user, realm, pw);
    EVP_Digest(tmp, (size_t)len, urp, &n, EVP_md5(), NULL);
    char a1[512];
    memcpy(a1, urp, 16);
    int a1_len = 16 + snprintf(a1 + 16, sizeof(a1) - 16, ":%s:%s", nonce, cnonce);
    char ha1[33], ha2[33];
    md5_hex(a1, (size_t)a1_len, ha1);
    len = snprintf(tmp, sizeof(tmp), "%s:%s", a2_prefix, uri);
    md5_hex(tmp, (size_t)len, ha2);
    len = snprintf(tmp, sizeof(tmp), "%s:%s:00000001:%s:auth:%s", ha1, nonce, cnonce, ha2);
    md5_hex(tmp, (size_t)len, out);
}

static void test_digest_md5_rfc2831(void **state)
{
    (void)state;
    char v[33];
    digest_value("chris", "elwood.innosoft.com", "secret", "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk",
                 "imap/elwood.innosoft.com", "AUTHENTICATE", v);
    assert_string_equal(v, "d388dad90d4bbd760a152321f2143af7");
    digest_value("chris", "elwood.innosoft.com", "secret", "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk",
                 "imap/elwood.innosoft.com", "", v);
    assert_string_equal(v, "ea40f60335c427b5527b84dbabcdfffd");

    /* The same computation, answered to our server's own challenge. */
    struct sasl_params p = params_plain();
    struct buf out;
    buf_init(&out, 2048);
    static const struct {
        const char *uri;
        const char *pw;
        const char *realm;
        int rc;
    } cases[] = {
        { "xmpp/example.org", "secret", "example.org", SASL_CONTINUE },
        { "xmpp/example.org", "Secret", "example.org", ERR_AUTH },
        { "imap/example.org", "secret", "example.org", ERR_AUTH },
        { "xmpp/example.net", "secret", "example.org", ERR_AUTH },
        { "xmpp/host.example.org/example.org", "secret", "example.org", SASL_CONTINUE },
        { "xmpp/example.org", "secret", "example.net", ERR_AUTH },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sasl_session *s = start("DIGEST-MD5", &p);
        assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
        char nonce[128];
        const char *np = strstr(buf_cstr(&out), "nonce=\"");
        assert_non_null(np);
        assert_int_equal(sscanf(np, "nonce=\"%127[^\"]\"", nonce), 1);
        assert_non_null(strstr(buf_cstr(&out), "realm=\"example.org\""));
        assert_non_null(strstr(buf_cstr(&out), "qop=\"auth\""));
        digest_value("alice", cases[i].realm, cases[i].pw, nonce, "c1c2c3c4", cases[i].uri,
                     "AUTHENTICATE", v);
        char resp[1024];
        snprintf(resp, sizeof(resp),
                 "username=\"alice\",realm=\"%s\",nonce=\"%s\",cnonce=\"c1c2c3c4\","
                 "nc=00000001,qop=auth,digest-uri=\"%s\",response=%s,charset=utf-8",
                 cases[i].realm, nonce, cases[i].uri, v);
        int rc = step(s, resp, &out);
        assert_int_equal(rc, cases[i].rc);
        if (rc == SASL_CONTINUE) {
            char rsp[33];
            digest_value("alice", cases[i].realm, "secret", nonce, "c1c2c3c4", cases[i].uri, "",
                         rsp);
            char want[64];
            snprintf(want, sizeof(want), "rspauth=%s", rsp);
            assert_string_equal(buf_cstr(&out), want);
            assert_int_equal(step(s, "", &out), SASL_DONE);
            assert_string_equal(sasl_session_username(s), "alice");
        } else {
            assert_string_equal(sasl_session_failure(s), "not-authorized");
        }
        sasl_session_free(s);
    }
    buf_cleanup(&out);
}

struct gclient {
    const char *user;
    const char *password;
    const char *hostname;
    const char *authzid;
};

static int gclient_cb(Gsasl *ctx, Gsasl_session *gs, Gsasl_property prop)
{
    (void)ctx;
    struct gclient *c = gsasl_session_hook_get(gs);
    const char *v = NULL;
    switch (prop) {
    case GSASL_AUTHID:
        v = c->user;
        break;
    case GSASL_PASSWORD:
        v = c->password;
        break;
    case GSASL_SERVICE:
        v = "xmpp";
        break;
    case GSASL_HOSTNAME:
        v = c->hostname;
        break;
    case GSASL_AUTHZID:
        v = c->authzid;
        break;
    default:
        break;
    }
    if (v == NULL) {
        return GSASL_NO_CALLBACK;
    }
    return gsasl_property_set(gs, prop, v);
}

/* Drives GNU SASL's client against our server; returns the server's last code. */
static int digest_exchange(struct gclient *gc, struct sasl_session **sp)
{
    static struct sasl_params params; /* outlives the session, as sasl_session_new() asks */
    struct sasl_params *p = &params;
    Gsasl *ctx = NULL;
    Gsasl_session *cs = NULL;
    struct buf out;
    char *cout = NULL;
    size_t clen = 0;

    *p = params_plain();
    buf_init(&out, 4096);
    assert_int_equal(gsasl_init(&ctx), GSASL_OK);
    gsasl_callback_set(ctx, gclient_cb);
    assert_int_equal(gsasl_client_start(ctx, "DIGEST-MD5", &cs), GSASL_OK);
    gsasl_session_hook_set(cs, gc);

    struct sasl_session *s = start("DIGEST-MD5", p);
    *sp = s;
    int rc = step(s, NULL, &out);
    assert_int_equal(rc, SASL_CONTINUE);
    assert_int_equal(gsasl_step(cs, out.p, out.len, &cout, &clen), GSASL_NEEDS_MORE);
    rc = step_bytes(s, cout, clen, &out);
    gsasl_free(cout);
    if (rc == SASL_CONTINUE) {
        /* rspauth: GNU SASL's client checks it (mutual authentication). */
        assert_int_equal(gsasl_step(cs, out.p, out.len, &cout, &clen), GSASL_OK);
        assert_int_equal(clen, 0);
        gsasl_free(cout);
        rc = step(s, "", &out);
    }
    gsasl_finish(cs);
    gsasl_done(ctx);
    buf_cleanup(&out);
    return rc;
}

static void test_digest_md5_gsasl_client(void **state)
{
    (void)state;
    struct sasl_session *s;
    struct gclient ok = { "alice", "secret", DOMAIN, NULL };
    assert_int_equal(digest_exchange(&ok, &s), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "alice");
    assert_null(sasl_session_authzid(s));
    sasl_session_free(s);

    struct gclient authz = { "carol@example.org", "pw-carol", DOMAIN, "boss@example.org" };
    assert_int_equal(digest_exchange(&authz, &s), SASL_DONE);
    assert_string_equal(sasl_session_username(s), "carol");
    assert_string_equal(sasl_session_authzid(s), "boss@example.org");
    sasl_session_free(s);

    static const struct gclient bad[] = {
        { "alice", "wrong", DOMAIN, NULL },
        { "alice", "secret", "evil.example", NULL },
        { "nobody", "secret", DOMAIN, NULL },
        { "bob", "hunter2", DOMAIN, NULL }, /* SCRAM keys only: no DIGEST-MD5 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct gclient c = bad[i];
        assert_int_equal(digest_exchange(&c, &s), ERR_AUTH);
        assert_string_equal(sasl_session_failure(s), "not-authorized");
        assert_null(sasl_session_username(s));
        sasl_session_free(s);
    }
    struct gclient dis = { "dave", "dave-pw", DOMAIN, NULL };
    assert_int_equal(digest_exchange(&dis, &s), ERR_AUTH);
    assert_string_equal(sasl_session_failure(s), "account-disabled");
    sasl_session_free(s);
}

static void test_digest_md5_malformed(void **state)
{
    (void)state;
    struct sasl_params p = params_plain();
    struct buf out;
    buf_init(&out, 4096);
    static const char *const junk[] = {
        "",
        "garbage",
        "username=\"alice\"",
        "username=\"alice\",nonce=\"x\",cnonce=\"y\",nc=00000001,digest-uri=\"xmpp/example.org\","
        "response=00000000000000000000000000000000",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        struct sasl_session *s = start("DIGEST-MD5", &p);
        assert_int_equal(step(s, NULL, &out), SASL_CONTINUE);
        assert_true(step(s, junk[i], &out) < 0);
        assert_non_null(sasl_session_failure(s));
        assert_null(sasl_session_username(s));
        sasl_session_free(s);
    }
    struct sasl_session *s = start("DIGEST-MD5", &p);
    assert_int_equal(step(s, "username=\"alice\"", &out), ERR_PROTO);
    assert_string_equal(sasl_session_failure(s), "malformed-request");
    sasl_session_free(s);
    buf_cleanup(&out);
}

/* ---- mechanism table and policy ---- */

static size_t offered(const struct sasl_policy *pol, const struct sasl_params *p, char *joined,
                      size_t len)
{
    const char *names[32];
    size_t n = sasl_mechs_offered(pol, p, names, 32);
    joined[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(joined + used, len - used, "%s%s", i ? " " : "", names[i]);
        assert_true(sasl_mech_allowed(pol, p, names[i]));
    }
    return n;
}

static void test_offered(void **state)
{
    (void)state;
    char got[1024];
    struct sasl_policy all = { NULL, true };
    struct sasl_params p = params_cb();
    static const char *const certs[] = { "alice@example.org", NULL };
    p.cert_ids = certs;
    assert_int_equal(offered(&all, &p, got, sizeof(got)), 11);
    assert_string_equal(got, "SCRAM-SHA-512-PLUS SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS "
                             "SCRAM-SHA-512 SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5 "
                             "PLAIN LOGIN EXTERNAL");
    const char *few[3];
    assert_int_equal(sasl_mechs_offered(&all, &p, few, 3), 3);
    assert_string_equal(few[2], "SCRAM-SHA-1-PLUS");

    /* No TLS / no cb data: no -PLUS; no certificate: no EXTERNAL; keys only: no MD5s. */
    struct sasl_policy hashed = { NULL, false };
    struct sasl_params q = params_plain();
    q.tls = false;
    offered(&hashed, &q, got, sizeof(got));
    assert_string_equal(got, "SCRAM-SHA-512 SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN");
    q.cb_types = 1u << SASL_CB_TLS_EXPORTER;
    q.get_cb = test_get_cb;
    offered(&hashed, &q, got, sizeof(got));
    assert_string_equal(got, "SCRAM-SHA-512 SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN");
    q.tls = true;
    offered(&hashed, &q, got, sizeof(got));
    assert_string_equal(got, "SCRAM-SHA-512-PLUS SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS "
                             "SCRAM-SHA-512 SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN");
    static const char *const empty[] = { NULL };
    q.cert_ids = empty;
    offered(&hashed, &q, got, sizeof(got));
    assert_null(strstr(got, "EXTERNAL"));

    /* The domain's list; a SCRAM base name enables its -PLUS; names are case-insensitive. */
    static const char *const list[] = { "scram-sha-256", "PLAIN", "CRAM-MD5", "EXTERNAL", NULL };
    struct sasl_policy some = { list, false };
    offered(&some, &p, got, sizeof(got));
    assert_string_equal(got, "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN EXTERNAL");
    some.clear_stored = true;
    offered(&some, &p, got, sizeof(got));
    assert_string_equal(got, "SCRAM-SHA-256-PLUS SCRAM-SHA-256 CRAM-MD5 PLAIN EXTERNAL");
    static const char *const plus_only[] = { "SCRAM-SHA-1-PLUS", NULL };
    struct sasl_policy po = { plus_only, false };
    offered(&po, &p, got, sizeof(got));
    assert_string_equal(got, "SCRAM-SHA-1-PLUS");

    assert_false(sasl_mech_allowed(&some, &p, "SCRAM-SHA-1"));
    assert_false(sasl_mech_allowed(&some, &p, "LOGIN"));
    assert_false(sasl_mech_allowed(&all, &p, "GSSAPI"));
    assert_false(sasl_mech_allowed(&all, &p, "plain"));
    assert_null(sasl_mech_find("SCRAM-SHA-384"));
    assert_null(sasl_mech_find("scram-sha-1"));
}

/* ---- legacy jabber:iq:auth digest ---- */

static void test_legacy_digest(void **state)
{
    (void)state;
    struct auth_creds c = { 0 };
    c.clear = xstrdup("Calli0pe");
    /* XEP-0078 example 4. */
    assert_int_equal(
        auth_legacy_digest_verify(&c, "3EE948B0", "48fc78be9ec8f86d8ce1c39c320c97c21d62334d"), 0);
    assert_int_equal(
        auth_legacy_digest_verify(&c, "3EE948B0", "48FC78BE9EC8F86D8CE1C39C320C97C21D62334D"), 0);
    assert_int_equal(
        auth_legacy_digest_verify(&c, "3EE948B1", "48fc78be9ec8f86d8ce1c39c320c97c21d62334d"),
        ERR_AUTH);
    assert_int_equal(
        auth_legacy_digest_verify(&c, "3EE948B0", "48fc78be9ec8f86d8ce1c39c320c97c21d62334e"),
        ERR_AUTH);
    assert_int_equal(
        auth_legacy_digest_verify(&c, "3EE948B0", "48fc78be9ec8f86d8ce1c39c320c97c21d62334"),
        ERR_INVAL);
    assert_int_equal(
        auth_legacy_digest_verify(&c, "3EE948B0", "48fc78be9ec8f86d8ce1c39c320c97c21d62334dd"),
        ERR_INVAL);
    assert_int_equal(
        auth_legacy_digest_verify(&c, "3EE948B0", "g8fc78be9ec8f86d8ce1c39c320c97c21d62334d"),
        ERR_INVAL);
    auth_creds_strip_clear(&c);
    assert_int_equal(
        auth_legacy_digest_verify(&c, "3EE948B0", "48fc78be9ec8f86d8ce1c39c320c97c21d62334d"),
        ERR_NOTFOUND);
    auth_creds_cleanup(&c);
}

/* ---- XEP-0484 HT-SHA-256 and XEP-0474 SSDP ---- */

static void test_ht_token_and_macs(void **state)
{
    (void)state;
    char token[AUTH_HT_TOKEN_LEN + 1];
    unsigned char key[AUTH_HT_MAC_LEN];
    assert_int_equal(auth_ht_token_new(token, sizeof(token), key), 0);
    assert_int_equal(strlen(token), AUTH_HT_TOKEN_LEN);
    assert_int_equal(
        strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        AUTH_HT_TOKEN_LEN);
    /* The stored key is SHA-256(token), and HMAC with it equals HMAC with the token (what the
     * client computes), because the token is longer than the hash's block. */
    unsigned char sha[32], want[32], got[32];
    unsigned int len = 0;
    EVP_Digest(token, strlen(token), sha, &len, EVP_sha256(), NULL);
    assert_memory_equal(sha, key, 32);
    const unsigned char cbd[] = "cb-data";
    struct sasl_cb_data cb = { cbd, 7 };
    unsigned char msg[64];
    memcpy(msg, "Initiator", 9);
    memcpy(msg + 9, cbd, 7);
    HMAC(EVP_sha256(), token, (int)strlen(token), msg, 16, want, &len);
    assert_int_equal(auth_ht_mac(key, "Initiator", &cb, got), 0);
    assert_memory_equal(want, got, 32);
    assert_true(auth_ht_verify(key, &cb, want));
    assert_false(auth_ht_verify(key, NULL, want)); /* another binding */
    want[0] ^= 1;
    assert_false(auth_ht_verify(key, &cb, want));
    char other[AUTH_HT_TOKEN_LEN + 1];
    unsigned char key2[AUTH_HT_MAC_LEN];
    assert_int_equal(auth_ht_token_new(other, sizeof(other), key2), 0);
    assert_string_not_equal(token, other);
    assert_int_equal(auth_ht_token_new(other, AUTH_HT_TOKEN_LEN, key2), ERR_INTERNAL);
}

static void test_ht_parse_and_names(void **state)
{
    (void)state;
    unsigned char in[64];
    unsigned char mac[AUTH_HT_MAC_LEN];
    struct buf name;
    buf_init(&name, 2048);
    memcpy(in, "user\0", 5);
    memset(in + 5, 0xab, 32);
    assert_int_equal(auth_ht_parse(in, 37, &name, mac), 0);
    assert_string_equal(buf_cstr(&name), "user");
    assert_int_equal(mac[31], 0xab);
    assert_int_equal(auth_ht_parse(in, 36, &name, mac), ERR_PROTO);     /* short HMAC */
    assert_int_equal(auth_ht_parse(in + 5, 32, &name, mac), ERR_PROTO); /* no name */
    in[1] = '\0';
    assert_int_equal(auth_ht_parse(in, 37, &name, mac), ERR_PROTO); /* NUL in the name */
    buf_cleanup(&name);
    assert_int_equal(auth_ht_mech_cb("HT-SHA-256-NONE"), -1);
    assert_int_equal(auth_ht_mech_cb("HT-SHA-256-ENDP"), SASL_CB_TLS_SERVER_END_POINT);
    assert_int_equal(auth_ht_mech_cb("HT-SHA-256-EXPR"), SASL_CB_TLS_EXPORTER);
    assert_int_equal(auth_ht_mech_cb("HT-SHA-256-UNIQ"), SASL_CB_TLS_UNIQUE);
    assert_int_equal(auth_ht_mech_cb("HT-SHA-1-NONE"), ERR_NOTFOUND);
    assert_int_equal(auth_ht_mech_cb(NULL), ERR_NOTFOUND);
    struct sasl_params p = params_plain();
    const char *names[4];
    assert_int_equal(auth_ht_mechs(&p, names, 4), 1);
    assert_string_equal(names[0], "HT-SHA-256-NONE");
    p.cb_types = 1u << SASL_CB_TLS_SERVER_END_POINT;
    assert_int_equal(auth_ht_mechs(&p, names, 4), 2);
    assert_string_equal(names[0], "HT-SHA-256-ENDP");
}

static void test_ssdp_string_and_d(void **state)
{
    (void)state;
    const char *mechs[] = { "SCRAM-SHA-256", "PLAIN", "SCRAM-SHA-1" };
    const char *cbs[] = { "tls-server-end-point", "tls-exporter" };
    struct buf h;
    buf_init(&h, 1024);
    assert_int_equal(auth_ssdp_string(mechs, 3, cbs, 2, &h), 0);
    assert_string_equal(buf_cstr(&h), "PLAIN\x1eSCRAM-SHA-1\x1eSCRAM-SHA-256\x1f"
                                      "tls-exporter\x1etls-server-end-point");
    assert_string_equal(mechs[0], "SCRAM-SHA-256"); /* the caller's order is kept */
    assert_int_equal(auth_ssdp_string(mechs, 3, NULL, 0, &h), 0);
    assert_string_equal(buf_cstr(&h), "PLAIN\x1eSCRAM-SHA-1\x1eSCRAM-SHA-256");
    /* SCRAM puts d=base64(H(string)) after i= when the caller gives the string. */
    struct sasl_params p = params_plain();
    p.ssdp = buf_cstr(&h);
    unsigned char d[32];
    unsigned int len = 0;
    EVP_Digest(p.ssdp, strlen(p.ssdp), d, &len, EVP_sha256(), NULL);
    struct buf want, out;
    buf_init(&want, 1024);
    buf_init(&out, 1024);
    buf_append_c(&want, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                        "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,d=");
    sasl_b64_encode(d, 32, &want);
    sasl__scram_test_set_nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    struct sasl_session *s = start("SCRAM-SHA-256", &p);
    assert_int_equal(step(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &out), SASL_CONTINUE);
    assert_string_equal(buf_cstr(&out), buf_cstr(&want));
    sasl_session_free(s);
    sasl__scram_test_set_nonce(NULL);
    buf_cleanup(&want);
    buf_cleanup(&out);
    buf_cleanup(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_matches_openssl),
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_creds_round_trip),
        cmocka_unit_test(test_creds_decode_junk),
        cmocka_unit_test(test_scram_sha1_rfc5802),
        cmocka_unit_test(test_scram_sha256_rfc7677),
        cmocka_unit_test(test_scram_sha512_exchange),
        cmocka_unit_test(test_scram_no_initial_response),
        cmocka_unit_test(test_scram_plus),
        cmocka_unit_test(test_scram_failure_kinds),
        cmocka_unit_test(test_scram_y_after_no_mutual_type),
        cmocka_unit_test(test_scram_cb_data_only_when_bound),
        cmocka_unit_test(test_scram_malformed_first),
        cmocka_unit_test(test_scram_malformed_final),
        cmocka_unit_test(test_scram_unknown_user),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_external),
        cmocka_unit_test(test_cram_md5),
        cmocka_unit_test(test_cram_md5_threads),
        cmocka_unit_test(test_digest_md5_rfc2831),
        cmocka_unit_test(test_digest_md5_gsasl_client),
        cmocka_unit_test(test_digest_md5_malformed),
        cmocka_unit_test(test_offered),
        cmocka_unit_test(test_legacy_digest),
        cmocka_unit_test(test_ht_token_and_macs),
        cmocka_unit_test(test_ht_parse_and_names),
        cmocka_unit_test(test_ssdp_string_and_d),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
