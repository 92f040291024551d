/* creds.c: password storage: SCRAM keys (PBKDF2), verification and the store text form. */
#include "auth/creds.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stringprep.h>

#include "auth/internal.h"
#include "auth/sasl.h"
#include "core/err.h"

#define SALT_LEN 16

static const struct {
    const char *name;  /* as in the mechanism name */
    const char *field; /* as in the store text form */
    size_t len;
} hashes[SCRAM_HASH_COUNT] = {
    [SCRAM_SHA1] = { "SHA-1", "scram-sha-1", 20 },
    [SCRAM_SHA256] = { "SHA-256", "scram-sha-256", 32 },
    [SCRAM_SHA512] = { "SHA-512", "scram-sha-512", 64 },
};

/* The digests, fetched from the provider once: OpenSSL 3 otherwise looks each one up by name
 * (locks, property queries) on every use, which cost more than hashing a SCRAM message. Kept
 * for the life of the process. */
static EVP_MD *g_md[SCRAM_HASH_COUNT];
static pthread_once_t g_md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
    g_md[SCRAM_SHA1] = EVP_MD_fetch(NULL, "SHA1", NULL);
    g_md[SCRAM_SHA256] = EVP_MD_fetch(NULL, "SHA256", NULL);
    g_md[SCRAM_SHA512] = EVP_MD_fetch(NULL, "SHA512", NULL);
}

static const EVP_MD *scram_md(enum scram_hash h)
{
    pthread_once(&g_md_once, md_fetch);
    if ((unsigned)h < SCRAM_HASH_COUNT && g_md[h] != NULL) {
        return g_md[h];
    }
    switch (h) {
    case SCRAM_SHA1:
        return EVP_sha1();
    case SCRAM_SHA256:
        return EVP_sha256();
    case SCRAM_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

size_t auth__scram_hash_len(enum scram_hash h)
{
    return hashes[h].len;
}

const char *auth__scram_hash_name(enum scram_hash h)
{
    return hashes[h].name;
}

#define HMAC_BLOCK_MAX 128 /* SHA-512's block; SHA-1 and SHA-256 have 64 bytes */

/* HMAC (RFC 2104) over the fetched digest: H((K ^ opad) || H((K ^ ipad) || data)). */
int auth__hmac(enum scram_hash h, const void *key, size_t key_len, const void *data, size_t len,
               unsigned char *out)
{
    const EVP_MD *md = scram_md(h);
    int block = md ? EVP_MD_get_block_size(md) : 0;
    size_t hl = hashes[h].len;
    unsigned char k[HMAC_BLOCK_MAX] = { 0 };
    unsigned char pad[HMAC_BLOCK_MAX];
    unsigned char inner[EVP_MAX_MD_SIZE];
    unsigned int olen = 0;
    int rc = ERR_INTERNAL;
    if (block <= 0 || block > HMAC_BLOCK_MAX || (size_t)EVP_MD_get_size(md) != hl) {
        return ERR_INTERNAL;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return ERR_INTERNAL;
    }
    if (key_len > (size_t)block) {
        if (EVP_Digest(key, key_len, k, &olen, md, NULL) != 1) {
            goto done;
        }
    } else if (key_len > 0) {
        memcpy(k, key, key_len);
    }
    for (int i = 0; i < block; i++) {
        pad[i] = k[i] ^ 0x36;
    }
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, (size_t)block) != 1 ||
        EVP_DigestUpdate(ctx, data, len) != 1 || EVP_DigestFinal_ex(ctx, inner, &olen) != 1) {
        goto done;
    }
    for (int i = 0; i < block; i++) {
        pad[i] = k[i] ^ 0x5c;
    }
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, (size_t)block) != 1 ||
        EVP_DigestUpdate(ctx, inner, hl) != 1 || EVP_DigestFinal_ex(ctx, out, &olen) != 1 ||
        olen != hl) {
        goto done;
    }
    rc = 0;

done:
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));
    return rc;
}

int auth__hash(enum scram_hash h, const void *data, size_t len, unsigned char *out)
{
    unsigned int olen = 0;
    if (EVP_Digest(data, len, out, &olen, scram_md(h), NULL) != 1 || olen != hashes[h].len) {
        return ERR_INTERNAL;
    }
    return 0;
}

void auth__free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

char *auth__saslprep(const char *password)
{
    char *out = NULL;
    /* Query rules (unassigned code points allowed): a password set before a Unicode update
     * must keep working. When preparation fails (prohibited characters) both sides fall back
     * to the bytes as given, so the account stays usable with clients that skip SASLprep. */
    if (stringprep_profile(password, &out, "SASLprep", 0) != STRINGPREP_OK || out == NULL) {
        free(out);
        return xstrdup(password);
    }
    /* stringprep allocates with malloc; hand back a copy from our allocator family. */
    char *copy = xstrdup(out);
    OPENSSL_cleanse(out, strlen(out));
    free(out);
    return copy;
}

int auth__scram_keys_compute(enum scram_hash h, const char *password, const unsigned char *salt,
                             size_t salt_len, unsigned iterations, struct scram_keys *out)
{
    unsigned char salted[64];
    unsigned char client_key[64];
    size_t hl = hashes[h].len;
    int rc = ERR_INTERNAL;
    char *prepped = NULL;

    memset(out, 0, sizeof(*out));
    if (salt_len == 0 || salt_len > sizeof(out->salt) || iterations == 0 ||
        iterations > AUTH_SCRAM_MAX_ITERATIONS) {
        return ERR_INVAL;
    }
    prepped = auth__saslprep(password);
    if (PKCS5_PBKDF2_HMAC(prepped, (int)strlen(prepped), salt, (int)salt_len, (int)iterations,
                          scram_md(h), (int)hl, salted) != 1) {
        goto fail;
    }
    if (auth__hmac(h, salted, hl, "Client Key", 10, client_key) != 0 ||
        auth__hash(h, client_key, hl, out->stored_key) != 0 ||
        auth__hmac(h, salted, hl, "Server Key", 10, out->server_key) != 0) {
        goto fail;
    }
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;
    out->key_len = hl;
    out->set = true;
    rc = 0;
fail:
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client_key, sizeof(client_key));
    auth__free_secret(prepped);
    if (rc != 0) {
        OPENSSL_cleanse(out, sizeof(*out));
    }
    return rc;
}

int auth_creds_from_password(const char *password, bool keep_clear, unsigned iterations,
                             struct auth_creds *out)
{
    memset(out, 0, sizeof(*out));
    if (iterations == 0) {
        iterations = AUTH_SCRAM_ITERATIONS;
    }
    if (strlen(password) > AUTH_PASSWORD_MAX || iterations > AUTH_SCRAM_MAX_ITERATIONS) {
        return ERR_INVAL;
    }
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        unsigned char salt[SALT_LEN];
        if (RAND_bytes(salt, sizeof(salt)) != 1 ||
            auth__scram_keys_compute((enum scram_hash)h, password, salt, sizeof(salt), iterations,
                                     &out->scram[h]) != 0) {
            auth_creds_cleanup(out);
            return ERR_INTERNAL;
        }
    }
    if (keep_clear) {
        out->clear = xstrdup(password);
    }
    return 0;
}

void auth_creds_cleanup(struct auth_creds *c)
{
    auth__free_secret(c->clear);
    OPENSSL_cleanse(c, sizeof(*c));
    c->clear = NULL;
}

void auth_creds_strip_clear(struct auth_creds *c)
{
    auth__free_secret(c->clear);
    c->clear = NULL;
}

/* Compares two strings in time independent of where they differ (and of their lengths, by
 * comparing digests). */
static bool secret_eq(const char *a, const char *b)
{
    unsigned char da[32];
    unsigned char db[32];
    if (auth__hash(SCRAM_SHA256, a, strlen(a), da) != 0 ||
        auth__hash(SCRAM_SHA256, b, strlen(b), db) != 0) {
        return false;
    }
    return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

int auth_creds_verify_password(const struct auth_creds *c, const char *password)
{
    if (c->clear != NULL) {
        if (secret_eq(c->clear, password)) {
            return 0;
        }
        /* The stored copy is as typed; a client may have sent it SASLprep'ed (or the other way
         * round), so compare the prepared forms as well. */
        char *a = auth__saslprep(c->clear);
        char *b = auth__saslprep(password);
        bool eq = secret_eq(a, b);
        auth__free_secret(a);
        auth__free_secret(b);
        return eq ? 0 : ERR_AUTH;
    }
    for (int h = SCRAM_HASH_COUNT - 1; h >= 0; h--) {
        const struct scram_keys *k = &c->scram[h];
        if (!k->set) {
            continue;
        }
        struct scram_keys probe;
        int rc = auth__scram_keys_compute((enum scram_hash)h, password, k->salt, k->salt_len,
                                          k->iterations, &probe);
        bool eq = rc == 0 && probe.key_len == k->key_len &&
                  CRYPTO_memcmp(probe.stored_key, k->stored_key, k->key_len) == 0;
        OPENSSL_cleanse(&probe, sizeof(probe));
        return eq ? 0 : ERR_AUTH;
    }
    return ERR_AUTH;
}

int auth_creds_encode(const struct auth_creds *c, struct buf *out)
{
    size_t start = out->len;
    bool first = true;
    int rc = 0;

    if (c->clear != NULL) {
        rc = buf_append_c(out, "clear=");
        if (rc == 0) {
            rc = sasl_b64_encode((const unsigned char *)c->clear, strlen(c->clear), out);
        }
        first = false;
    }
    for (int h = 0; h < SCRAM_HASH_COUNT && rc == 0; h++) {
        const struct scram_keys *k = &c->scram[h];
        if (!k->set) {
            continue;
        }
        rc = buf_printf(out, "%s%s=%u:", first ? "" : ";", hashes[h].field, k->iterations);
        first = false;
        if (rc == 0) {
            rc = sasl_b64_encode(k->salt, k->salt_len, out);
        }
        if (rc == 0) {
            rc = buf_append_char(out, ':');
        }
        if (rc == 0) {
            rc = sasl_b64_encode(k->stored_key, k->key_len, out);
        }
        if (rc == 0) {
            rc = buf_append_char(out, ':');
        }
        if (rc == 0) {
            rc = sasl_b64_encode(k->server_key, k->key_len, out);
        }
    }
    if (rc != 0) {
        /* A buffer that never allocated has nothing to wipe (and no pointer to offset). */
        if (out->p != NULL) {
            OPENSSL_cleanse(out->p + start, out->len - start);
            out->p[start] = '\0';
        }
        out->len = start;
    }
    return rc;
}

/* Splits `s` at the first `sep`: `head` before it, `s` after it (or empty when absent). */
static struct strv cut(struct strv *s, char sep)
{
    const char *e = memchr(s->p, sep, s->len);
    struct strv head = { s->p, e ? (size_t)(e - s->p) : s->len };
    if (e != NULL) {
        s->len -= head.len + 1;
        s->p = e + 1;
    } else {
        s->p += s->len;
        s->len = 0;
    }
    return head;
}

/* Decodes base64 into a fixed array of at most `max` bytes. */
static int b64_fixed(struct strv in, unsigned char *dst, size_t max, size_t *len)
{
    struct buf b;
    buf_init(&b, max);
    int rc = sasl_b64_decode(in, &b);
    if (rc == 0) {
        memcpy(dst, b.p, b.len);
        *len = b.len;
    }
    if (b.p != NULL) {
        OPENSSL_cleanse(b.p, b.cap);
    }
    buf_cleanup(&b);
    return rc == 0 ? 0 : ERR_INVAL;
}

static int parse_uint(struct strv s, unsigned long max, unsigned *out)
{
    unsigned long v = 0;
    if (s.len == 0 || s.len > 10 || (s.len > 1 && s.p[0] == '0')) {
        return ERR_INVAL;
    }
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') {
            return ERR_INVAL;
        }
        v = v * 10 + (unsigned long)(s.p[i] - '0');
    }
    if (v == 0 || v > max) {
        return ERR_INVAL;
    }
    *out = (unsigned)v;
    return 0;
}

static int decode_keys(enum scram_hash h, struct strv v, struct scram_keys *k)
{
    struct strv iter = cut(&v, ':');
    struct strv salt = cut(&v, ':');
    struct strv stored = cut(&v, ':');
    struct strv server = v;
    size_t n = 0;

    if (k->set || memchr(server.p, ':', server.len) != NULL ||
        parse_uint(iter, AUTH_SCRAM_MAX_ITERATIONS, &k->iterations) != 0 ||
        b64_fixed(salt, k->salt, sizeof(k->salt), &k->salt_len) != 0 || k->salt_len == 0 ||
        b64_fixed(stored, k->stored_key, hashes[h].len, &n) != 0 || n != hashes[h].len ||
        b64_fixed(server, k->server_key, hashes[h].len, &n) != 0 || n != hashes[h].len) {
        return ERR_INVAL;
    }
    k->key_len = hashes[h].len;
    k->set = true;
    return 0;
}

static int decode_field(struct strv field, struct auth_creds *out)
{
    if (field.len == 0 || memchr(field.p, '=', field.len) == NULL) {
        return ERR_INVAL;
    }
    struct strv name = cut(&field, '=');
    if (strv_eq_c(name, "clear")) {
        if (out->clear != NULL) {
            return ERR_INVAL;
        }
        struct buf b;
        buf_init(&b, AUTH_PASSWORD_MAX);
        int rc = sasl_b64_decode(field, &b);
        bool ok = rc == 0 && (b.len == 0 || memchr(b.p, '\0', b.len) == NULL);
        if (ok) {
            out->clear = strv_dup(buf_strv(&b));
        }
        if (b.p != NULL) {
            OPENSSL_cleanse(b.p, b.cap);
        }
        buf_cleanup(&b);
        return ok ? 0 : ERR_INVAL;
    }
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        if (strv_eq_c(name, hashes[h].field)) {
            return decode_keys((enum scram_hash)h, field, &out->scram[h]);
        }
    }
    return ERR_INVAL;
}

int auth_creds_decode(struct strv text, struct auth_creds *out)
{
    memset(out, 0, sizeof(*out));
    while (text.len > 0) {
        struct strv field = cut(&text, ';');
        if (decode_field(field, out) != 0) {
            auth_creds_cleanup(out);
            return ERR_INVAL;
        }
    }
    return 0;
}
