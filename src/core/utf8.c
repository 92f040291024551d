/* utf8.c: strict UTF-8 decoding (RFC 3629). */
#include "core/utf8.h"

size_t utf8_decode(const unsigned char *p, size_t left, unsigned *cp)
{
    unsigned c = p[0];
    size_t n;
    unsigned v;
    unsigned min;
    if (c < 0x80) {
        n = 1, min = 0, v = c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, min = 0x80, v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, min = 0x800, v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, min = 0x10000, v = c & 0x07;
    } else {
        return 0;
    }
    if (left < n) {
        return 0;
    }
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (p[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        return 0;
    }
    if (cp != NULL) {
        *cp = v;
    }
    return n;
}

bool utf8_valid(struct strv s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t i = 0;
    while (i < s.len) {
        size_t n = utf8_decode(p + i, s.len - i, NULL);
        if (n == 0 || p[i] == 0) {
            return false;
        }
        i += n;
    }
    return true;
}
