/* ht.c: the Hashed Token SASL mechanisms of XEP-0484 FAST and the XEP-0474 (SSDP) list string. */
#include "auth/ht.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/internal.h"
#include "core/err.h"

#define TOKEN_RANDOM 72

static const struct {
    const char *name;
    int cb;
} ht_mechs[] = {
    { "HT-SHA-256-EXPR", SASL_CB_TLS_EXPORTER },
    { "HT-SHA-256-UNIQ", SASL_CB_TLS_UNIQUE },
    { "HT-SHA-256-ENDP", SASL_CB_TLS_SERVER_END_POINT },
    { "HT-SHA-256-NONE", -1 },
};
#define HT_COUNT (sizeof(ht_mechs) / sizeof(ht_mechs[0]))

int auth_ht_mech_cb(const char *mech)
{
    for (size_t i = 0; mech != NULL && i < HT_COUNT; i++) {
        if (strcmp(mech, ht_mechs[i].name) == 0) {
            return ht_mechs[i].cb;
        }
    }
    return ERR_NOTFOUND;
}

size_t auth_ht_mechs(const struct sasl_params *p, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < HT_COUNT && n < max; i++) {
        int cb = ht_mechs[i].cb;
        if (cb < 0 || sasl_cb_offered(p, cb)) {
            out[n++] = ht_mechs[i].name;
        }
    }
    return n;
}

int auth_ht_token_new(char *out, size_t outlen, unsigned char key[AUTH_HT_MAC_LEN])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char rnd[TOKEN_RANDOM];
    if (outlen <= AUTH_HT_TOKEN_LEN || RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return ERR_INTERNAL;
    }
    /* Every 3 bytes make 4 characters of 6 bits. */
    for (size_t i = 0, o = 0; i < sizeof(rnd); i += 3) {
        unsigned v = (unsigned)rnd[i] << 16 | (unsigned)rnd[i + 1] << 8 | rnd[i + 2];
        for (int k = 3; k >= 0; k--) {
            out[o++] = alphabet[(v >> (6 * k)) & 63];
        }
    }
    out[AUTH_HT_TOKEN_LEN] = '\0';
    OPENSSL_cleanse(rnd, sizeof(rnd));
    return auth__hash(SCRAM_SHA256, out, AUTH_HT_TOKEN_LEN, key);
}

int auth_ht_parse(const unsigned char *in, size_t len, struct buf *authcid,
                  unsigned char mac[AUTH_HT_MAC_LEN])
{
    if (len <= AUTH_HT_MAC_LEN + 1 || in[len - AUTH_HT_MAC_LEN - 1] != '\0') {
        return ERR_PROTO;
    }
    size_t nlen = len - AUTH_HT_MAC_LEN - 1;
    if (nlen > AUTH__MAX_NAME || memchr(in, '\0', nlen) != NULL) {
        return ERR_PROTO;
    }
    buf_reset(authcid);
    if (buf_append(authcid, (const char *)in, nlen) != 0) {
        return ERR_PROTO;
    }
    memcpy(mac, in + nlen + 1, AUTH_HT_MAC_LEN);
    return 0;
}

int auth_ht_mac(const unsigned char key[AUTH_HT_MAC_LEN], const char *label,
                const struct sasl_cb_data *cb, unsigned char out[AUTH_HT_MAC_LEN])
{
    size_t ll = strlen(label);
    size_t cl = cb ? cb->len : 0;
    unsigned char *msg = xmalloc(ll + cl + 1);
    memcpy(msg, label, ll);
    if (cl > 0) {
        memcpy(msg + ll, cb->data, cl);
    }
    int rc = auth__hmac(SCRAM_SHA256, key, AUTH_HT_MAC_LEN, msg, ll + cl, out);
    free(msg);
    return rc;
}

bool auth_ht_verify(const unsigned char key[AUTH_HT_MAC_LEN], const struct sasl_cb_data *cb,
                    const unsigned char mac[AUTH_HT_MAC_LEN])
{
    unsigned char want[AUTH_HT_MAC_LEN];
    if (auth_ht_mac(key, "Initiator", cb, want) != 0) {
        return false;
    }
    bool ok = CRYPTO_memcmp(want, mac, AUTH_HT_MAC_LEN) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the sorted copy of `list` joined by 0x1E. */
static int append_sorted(const char *const *list, size_t n, struct buf *out)
{
    const char **tmp = xcalloc(n + 1, sizeof(*tmp));
    memcpy(tmp, list, n * sizeof(*tmp));
    qsort(tmp, n, sizeof(*tmp), cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = i ? buf_append(out, "\x1e", 1) : 0;
        rc = rc ? rc : buf_append_c(out, tmp[i]);
    }
    free(tmp);
    return rc;
}

int auth_ssdp_string(const char *const *mechs, size_t n, const char *const *cb_types, size_t ncb,
                     struct buf *out)
{
    buf_reset(out);
    int rc = append_sorted(mechs, n, out);
    if (rc == 0 && cb_types != NULL) {
        rc = buf_append(out, "\x1f", 1);
        rc = rc ? rc : append_sorted(cb_types, ncb, out);
    }
    return rc;
}
