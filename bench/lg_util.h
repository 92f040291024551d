/* lg_util.h: helpers of the load generator: XML element scanner, SCRAM-SHA-1 client, histograms. */
#ifndef STARLING_BENCH_LG_UTIL_H
#define STARLING_BENCH_LG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* ---- XML scanning --------------------------------------------------------------------------- */

enum lgx_kind {
    LGX_NONE,        /* not enough data yet */
    LGX_STREAM_OPEN, /* <stream:stream ...> (the whole start tag) */
    LGX_STREAM_END,  /* </stream:stream> */
    LGX_ELEMENT,     /* one complete top-level element (a stanza, features, SASL reply…) */
    LGX_ERROR,       /* malformed input */
};

/* Finds the next complete top-level item in data[0..len): returns its kind, its bytes in *elem and
 * how many bytes of data it used (leading whitespace and the XML declaration included) in *used.
 * `in_stream` says whether the stream start tag was already seen. */
enum lgx_kind lgx_next(const char *data, size_t len, bool in_stream, struct strv *elem,
                       size_t *used);
/* The element's name without a prefix ("features" for <stream:features>). */
struct strv lgx_name(struct strv elem);
/* The value of attribute `name` in the element's start tag (raw, not unescaped); false if absent. */
bool lgx_attr(struct strv elem, const char *name, struct strv *value);
/* The text of the first descendant element named `name` (prefix ignored); false if absent. An
 * empty element gives an empty text. */
bool lgx_child_text(struct strv elem, const char *name, struct strv *text);
/* Whether `needle` occurs in the element. */
bool lgx_contains(struct strv elem, const char *needle);

/* ---- SCRAM-SHA-1 (RFC 5802, no channel binding) ----------------------------------------------- */

struct lg_scram {
    char nonce[40];
    char first_bare[300];
    unsigned char server_sig[20];
};

/* Appends base64 of data to out. */
int lg_b64_append(struct buf *out, const void *data, size_t len);
/* Decodes base64 text into out (replacing its content); -1 when malformed. */
int lg_b64_decode(struct strv text, struct buf *out);
/* Writes the client-first message (gs2 header "n,,") into out, not base64-encoded. */
void lg_scram_first(struct lg_scram *s, const char *user, struct buf *out);
/* From the server-first message, writes the client-final message into out; -1 on a bad message.
 * Salted passwords are cached by (salt, iterations) for the process's one password. */
int lg_scram_final(struct lg_scram *s, const char *password, struct strv server_first,
                   struct buf *out);
/* Checks the server-final message ("v=..."); 0 when the server proved it knows the key. */
int lg_scram_verify(const struct lg_scram *s, struct strv server_final);
/* Number of PBKDF2 computations done and cache hits so far. */
void lg_scram_stats(uint64_t *computed, uint64_t *cached);

/* ---- latency histogram (microseconds, ~3% resolution) ------------------------------------------ */

#define LG_HIST_BUCKETS (64 * 32)

struct lg_hist {
    uint64_t count;
    uint64_t bucket[LG_HIST_BUCKETS];
};

void lg_hist_add(struct lg_hist *h, uint64_t usec);
/* The value below which fraction q (0..1) of the samples lie, in microseconds; 0 when empty. */
double lg_hist_quantile(const struct lg_hist *h, double q);

/* ---- time and process figures -------------------------------------------------------------------- */

uint64_t lg_now_ns(void);
/* Sum of utime+stime (seconds) of the listed processes; -1 if one cannot be read. */
double lg_proc_cpu(const int *pids, int n);
/* Sum of VmRSS (KiB) of the listed processes; -1 if one cannot be read. */
long lg_proc_rss_kb(const int *pids, int n);

#endif
