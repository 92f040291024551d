/* sm.h: the counter arithmetic of XEP-0198 stream management (pure functions, unit-tested).
 *
 * `h` counts stanzas modulo 2^32 (XEP-0198 §4: it wraps to 0 after 2^32 - 1). The server keeps,
 * per session, the client's last acknowledged value `acked` and the number of stanzas sent since,
 * `count`; a new acknowledgement `h` is valid when it lies in [acked, acked + count] on the
 * 32-bit circle, and acknowledges h - acked of them. */
#ifndef STARLING_XMPP_SM_H
#define STARLING_XMPP_SM_H

#include <stdbool.h>
#include <stdint.h>

/* How many queued stanzas the acknowledgement `h` covers, in *n; false when `h` acknowledges
 * more than was sent (a client bug: XEP-0198 §4, undefined-condition). */
static inline bool sm_h_covers(uint32_t acked, uint32_t count, uint32_t h, uint32_t *n)
{
    uint32_t delta = h - acked; /* unsigned: wraps like h itself */
    if (delta > count) {
        return false;
    }
    *n = delta;
    return true;
}

/* Parses an `h` attribute: decimal digits only, 0..4294967295. */
static inline bool sm_h_parse(const char *text, uint32_t *out)
{
    if (text == NULL || *text == '\0') {
        return false;
    }
    uint64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || p - text >= 10) {
            return false;
        }
        v = v * 10u + (uint64_t)(*p - '0');
    }
    if (v > UINT32_MAX) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

#endif
