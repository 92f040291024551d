/* dialback.c: Server Dialback keys (XEP-0220 with XEP-0185: HMAC-SHA256 under a kept secret). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/err.h"
#include "xmpp/s2s_int.h"

#define SECRET_LEN 32

/* hex(SHA-256(secret)): the HMAC key of XEP-0185. Written once at start-up, read-only after. */
static char g_key[2 * 32 + 1];

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The secret survives restarts so keys handed out just before one still verify after it. */
int s2s__dialback_init(const char *datadir, char *err, size_t errlen)
{
    char path[1200];
    unsigned char secret[SECRET_LEN];
    snprintf(path, sizeof(path), "%s/dialback.secret", datadir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, secret, sizeof(secret)) == (ssize_t)sizeof(secret);
    if (fd >= 0) {
        close(fd);
    }
    if (!ok) {
        if (RAND_bytes(secret, sizeof(secret)) != 1) {
            snprintf(err, errlen, "no random bytes for the dialback secret");
            return ERR_INTERNAL;
        }
        char tmp[1300];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, secret, sizeof(secret)) != (ssize_t)sizeof(secret) ||
            fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            if (fd >= 0) {
                close(fd);
            }
            return ERR_IO;
        }
    }
    unsigned char digest[32];
    unsigned int len = 0;
    EVP_Digest(secret, sizeof(secret), digest, &len, EVP_sha256(), NULL);
    hex(digest, 32, g_key);
    OPENSSL_cleanse(secret, sizeof(secret));
    return 0;
}

void s2s_dialback_share_secret(const char *secret)
{
    unsigned char digest[32];
    unsigned int len = 0;
    EVP_Digest(secret, strlen(secret), digest, &len, EVP_sha256(), NULL);
    hex(digest, 32, g_key);
}

void s2s__dialback_key(const char *receiving, const char *originating, const char *stream_id,
                       char out[S2S_KEY_LEN + 1])
{
    char text[3 * 1100];
    int n = snprintf(text, sizeof(text), "%s %s %s", receiving, originating, stream_id);
    if (n < 0 || (size_t)n >= sizeof(text)) {
        n = (int)sizeof(text) - 1;
    }
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), g_key, (int)strlen(g_key), (const unsigned char *)text, (size_t)n, mac,
         &len);
    hex(mac, 32, out);
}

bool s2s__dialback_check(const char *receiving, const char *originating, const char *stream_id,
                         const char *key)
{
    char want[S2S_KEY_LEN + 1];
    s2s__dialback_key(receiving, originating, stream_id, want);
    return key != NULL && strlen(key) == S2S_KEY_LEN && CRYPTO_memcmp(want, key, S2S_KEY_LEN) == 0;
}

bool s2s__valid_domain(const char *d)
{
    size_t n = d ? strlen(d) : 0;
    if (n == 0 || n >= S2S_DOMAIN_MAX || d[0] == '.' || d[n - 1] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                  c == '_' || c == ':' || c == '[' || c == ']' || c >= 0x80;
        if (!ok) {
            return false;
        }
    }
    return true;
}

void s2s__fmt(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}
