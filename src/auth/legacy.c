/* legacy.c: the digest of legacy jabber:iq:auth (XEP-0078): hex SHA1(stream id + password). */
#include "auth/legacy.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/err.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int auth_legacy_digest_verify(const struct auth_creds *c, const char *stream_id,
                              const char *digest_hex)
{
    unsigned char given[20];
    unsigned char want[20];
    unsigned int len = 0;

    if (strlen(digest_hex) != 2 * sizeof(given)) {
        return ERR_INVAL;
    }
    for (size_t i = 0; i < sizeof(given); i++) {
        int hi = hexval(digest_hex[2 * i]);
        int lo = hexval(digest_hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return ERR_INVAL;
        }
        given[i] = (unsigned char)(hi << 4 | lo);
    }
    if (c->clear == NULL) {
        return ERR_NOTFOUND;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha1(), NULL) == 1 &&
             EVP_DigestUpdate(md, stream_id, strlen(stream_id)) == 1 &&
             EVP_DigestUpdate(md, c->clear, strlen(c->clear)) == 1 &&
             EVP_DigestFinal_ex(md, want, &len) == 1 && len == sizeof(want);
    EVP_MD_CTX_free(md);
    if (!ok) {
        return ERR_INTERNAL;
    }
    return CRYPTO_memcmp(given, want, sizeof(want)) == 0 ? 0 : ERR_AUTH;
}
