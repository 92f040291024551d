/* b64.c: strict base64 (RFC 4648 section 4) for SASL payloads and stored credentials. */
#include <stdint.h>

#include "auth/sasl.h"
#include "core/err.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sasl_b64_encode(const unsigned char *in, size_t len, struct buf *out)
{
    if (len > (SIZE_MAX / 4) * 3 - 3) {
        return ERR_LIMIT;
    }
    size_t olen = (len + 2) / 3 * 4;
    char *w = buf_reserve(out, olen);
    if (w == NULL) {
        return ERR_LIMIT;
    }
    size_t i = 0;
    size_t j = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        w[j++] = alphabet[v >> 18 & 63];
        w[j++] = alphabet[v >> 12 & 63];
        w[j++] = alphabet[v >> 6 & 63];
        w[j++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        w[j++] = alphabet[v >> 18 & 63];
        w[j++] = alphabet[v >> 12 & 63];
        w[j++] = '=';
        w[j++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        w[j++] = alphabet[v >> 18 & 63];
        w[j++] = alphabet[v >> 12 & 63];
        w[j++] = alphabet[v >> 6 & 63];
        w[j++] = '=';
    }
    buf_commit(out, olen);
    return 0;
}

static int digit(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

int sasl_b64_decode(struct strv in, struct buf *out)
{
    if (in.len % 4 != 0) {
        return ERR_INVAL;
    }
    size_t pad = 0;
    if (in.len >= 4 && in.p[in.len - 1] == '=') {
        pad = in.p[in.len - 2] == '=' ? 2 : 1;
    }
    size_t olen = in.len / 4 * 3 - pad;
    char *w = buf_reserve(out, olen);
    if (w == NULL) {
        return ERR_LIMIT;
    }
    size_t j = 0;
    for (size_t i = 0; i < in.len; i += 4) {
        bool last = i + 4 == in.len;
        int d[4];
        for (int k = 0; k < 4; k++) {
            bool is_pad = last && k >= 4 - (int)pad;
            d[k] = is_pad ? 0 : digit(in.p[i + k]);
            if (d[k] < 0) {
                return ERR_INVAL;
            }
        }
        uint32_t v =
            (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 | (uint32_t)d[3];
        size_t n = last ? 3 - pad : 3;
        /* Strict: the bits dropped by the padding must be zero (one encoding per value). */
        if (last && pad == 1 && (v & 0xff) != 0) {
            return ERR_INVAL;
        }
        if (last && pad == 2 && (v & 0xffff) != 0) {
            return ERR_INVAL;
        }
        unsigned char bytes[3] = { (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                                   (unsigned char)v };
        for (size_t k = 0; k < n; k++) {
            w[j++] = (char)bytes[k];
        }
    }
    buf_commit(out, olen);
    return 0;
}
