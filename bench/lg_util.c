/* lg_util.c: helpers of the load generator: XML element scanner, SCRAM-SHA-1 client, histograms. */
#include "lg_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- XML scanning --------------------------------------------------------------------------- */

/* Returns the index just past the '>' closing the markup that starts at data[i] == '<', honouring
 * quoted attribute values; 0 when the data ends first. */
static size_t tag_end(const char *data, size_t len, size_t i)
{
    char quote = 0;
    for (size_t k = i + 1; k < len; k++) {
        char ch = data[k];
        if (quote) {
            if (ch == quote) {
                quote = 0;
            }
        } else if (ch == '\'' || ch == '"') {
            quote = ch;
        } else if (ch == '>') {
            return k + 1;
        }
    }
    return 0;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

enum lgx_kind lgx_next(const char *data, size_t len, bool in_stream, struct strv *elem,
                       size_t *used)
{
    size_t i = 0;
    for (;;) {
        while (i < len && is_space(data[i])) {
            i++;
        }
        if (i >= len) {
            return LGX_NONE;
        }
        if (data[i] != '<') {
            return LGX_ERROR;
        }
        if (i + 1 < len && data[i + 1] == '?') {
            size_t e = tag_end(data, len, i);
            if (e == 0) {
                return LGX_NONE;
            }
            i = e;
            continue;
        }
        break;
    }
    size_t start = i;
    if (!in_stream) {
        size_t e = tag_end(data, len, i);
        if (e == 0) {
            return LGX_NONE;
        }
        *elem = (struct strv){ data + start, e - start };
        *used = e;
        return LGX_STREAM_OPEN;
    }
    if (i + 1 < len && data[i + 1] == '/') {
        size_t e = tag_end(data, len, i);
        if (e == 0) {
            return LGX_NONE;
        }
        *elem = (struct strv){ data + start, e - start };
        *used = e;
        return LGX_STREAM_END;
    }
    int depth = 0;
    while (i < len) {
        if (data[i] != '<') {
            const char *lt = memchr(data + i, '<', len - i);
            if (lt == NULL) {
                return LGX_NONE;
            }
            i = (size_t)(lt - data);
            continue;
        }
        size_t e = tag_end(data, len, i);
        if (e == 0) {
            return LGX_NONE;
        }
        if (data[i + 1] == '/') {
            depth--;
        } else if (data[i + 1] == '!' || data[i + 1] == '?') {
            /* comments and processing instructions are not expected; skipped */
        } else if (data[e - 2] != '/') {
            depth++;
        }
        i = e;
        if (depth <= 0) {
            *elem = (struct strv){ data + start, i - start };
            *used = i;
            return depth == 0 ? LGX_ELEMENT : LGX_ERROR;
        }
    }
    return LGX_NONE;
}

struct strv lgx_name(struct strv elem)
{
    size_t i = 1;
    size_t begin = 1;
    while (i < elem.len && !is_space(elem.p[i]) && elem.p[i] != '>' && elem.p[i] != '/') {
        if (elem.p[i] == ':') {
            begin = i + 1;
        }
        i++;
    }
    return (struct strv){ elem.p + begin, i > begin ? i - begin : 0 };
}

static size_t start_tag_len(struct strv elem)
{
    size_t e = tag_end(elem.p, elem.len, 0);
    return e ? e : elem.len;
}

bool lgx_attr(struct strv elem, const char *name, struct strv *value)
{
    size_t n = strlen(name);
    size_t end = start_tag_len(elem);
    char quote = 0;
    for (size_t i = 1; i + n + 2 < end; i++) {
        char ch = elem.p[i];
        if (quote) {
            if (ch == quote) {
                quote = 0;
            }
            continue;
        }
        if (ch == '\'' || ch == '"') {
            quote = ch;
            continue;
        }
        if (!is_space(ch) || memcmp(elem.p + i + 1, name, n) != 0 || elem.p[i + n + 1] != '=') {
            continue;
        }
        char q = elem.p[i + n + 2];
        if (q != '\'' && q != '"') {
            continue;
        }
        const char *v = elem.p + i + n + 3;
        const char *close = memchr(v, q, (size_t)(elem.p + end - v));
        if (close == NULL) {
            return false;
        }
        *value = (struct strv){ v, (size_t)(close - v) };
        return true;
    }
    return false;
}

bool lgx_child_text(struct strv elem, const char *name, struct strv *text)
{
    size_t n = strlen(name);
    size_t i = start_tag_len(elem);
    while (i < elem.len) {
        const char *lt = memchr(elem.p + i, '<', elem.len - i);
        if (lt == NULL) {
            return false;
        }
        i = (size_t)(lt - elem.p);
        struct strv rest = { elem.p + i, elem.len - i };
        struct strv nm = lgx_name(rest);
        size_t e = tag_end(elem.p, elem.len, i);
        if (e == 0) {
            return false;
        }
        if (elem.p[i + 1] != '/' && nm.len == n && memcmp(nm.p, name, n) == 0) {
            if (elem.p[e - 2] == '/') {
                *text = (struct strv){ elem.p + e, 0 };
                return true;
            }
            const char *close = memchr(elem.p + e, '<', elem.len - e);
            if (close == NULL) {
                return false;
            }
            *text = (struct strv){ elem.p + e, (size_t)(close - (elem.p + e)) };
            return true;
        }
        i = e;
    }
    return false;
}

bool lgx_contains(struct strv elem, const char *needle)
{
    return memmem(elem.p, elem.len, needle, strlen(needle)) != NULL;
}

/* ---- base64 and SCRAM ------------------------------------------------------------------------- */

int lg_b64_append(struct buf *out, const void *data, size_t len)
{
    size_t need = 4 * ((len + 2) / 3) + 1;
    unsigned char *dst = (unsigned char *)buf_reserve(out, need);
    if (dst == NULL) {
        return -1;
    }
    int n = EVP_EncodeBlock(dst, data, (int)len);
    buf_commit(out, (size_t)n);
    return 0;
}

int lg_b64_decode(struct strv text, struct buf *out)
{
    buf_reset(out);
    if (text.len == 0 || (text.len == 1 && text.p[0] == '=')) {
        return 0;
    }
    if (text.len % 4 != 0) {
        return -1;
    }
    unsigned char *dst = (unsigned char *)buf_reserve(out, text.len);
    if (dst == NULL) {
        return -1;
    }
    int n = EVP_DecodeBlock(dst, (const unsigned char *)text.p, (int)text.len);
    if (n < 0) {
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as output bytes. */
    if (text.p[text.len - 1] == '=') {
        n--;
    }
    if (text.p[text.len - 2] == '=') {
        n--;
    }
    buf_commit(out, (size_t)n);
    return 0;
}

void lg_scram_first(struct lg_scram *s, const char *user, struct buf *out)
{
    unsigned char rnd[18];
    RAND_bytes(rnd, sizeof(rnd));
    struct buf nb;
    buf_init(&nb, 64);
    lg_b64_append(&nb, rnd, sizeof(rnd));
    snprintf(s->nonce, sizeof(s->nonce), "%s", buf_cstr(&nb));
    buf_cleanup(&nb);
    snprintf(s->first_bare, sizeof(s->first_bare), "n=%s,r=%s", user, s->nonce);
    buf_reset(out);
    buf_printf(out, "n,,%s", s->first_bare);
}

/* Cache of salted passwords: the process uses one password, so (salt, iterations) is the key. */
#define CACHE_SLOTS 65536
struct cache_entry {
    unsigned char salt[64];
    size_t salt_len;
    unsigned iterations;
    unsigned char salted[20];
};
static struct cache_entry *g_cache;
static uint64_t g_computed;
static uint64_t g_cached;

static void salted_password(const char *password, const unsigned char *salt, size_t salt_len,
                            unsigned iterations, unsigned char out[20])
{
    if (g_cache == NULL) {
        g_cache = xcalloc(CACHE_SLOTS, sizeof(*g_cache));
    }
    uint64_t h = 1469598103934665603ull ^ iterations;
    for (size_t i = 0; i < salt_len; i++) {
        h = (h ^ salt[i]) * 1099511628211ull;
    }
    struct cache_entry *e = &g_cache[h % CACHE_SLOTS];
    if (e->iterations == iterations && e->salt_len == salt_len && salt_len <= sizeof(e->salt) &&
        memcmp(e->salt, salt, salt_len) == 0) {
        memcpy(out, e->salted, 20);
        g_cached++;
        return;
    }
    PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations,
                      EVP_sha1(), 20, out);
    g_computed++;
    if (salt_len <= sizeof(e->salt)) {
        memcpy(e->salt, salt, salt_len);
        e->salt_len = salt_len;
        e->iterations = iterations;
        memcpy(e->salted, out, 20);
    }
}

void lg_scram_stats(uint64_t *computed, uint64_t *cached)
{
    *computed = g_computed;
    *cached = g_cached;
}

static void hmac_sha1(const unsigned char *key, size_t key_len, const void *data, size_t len,
                      unsigned char out[20])
{
    unsigned int n = 20;
    HMAC(EVP_sha1(), key, (int)key_len, data, len, out, &n);
}

/* Finds "k=value" in a comma-separated SCRAM message. */
static bool scram_field(struct strv msg, char key, struct strv *value)
{
    size_t i = 0;
    while (i + 1 < msg.len) {
        size_t end = i;
        while (end < msg.len && msg.p[end] != ',') {
            end++;
        }
        if (msg.p[i] == key && msg.p[i + 1] == '=') {
            *value = (struct strv){ msg.p + i + 2, end - i - 2 };
            return true;
        }
        i = end + 1;
    }
    return false;
}

int lg_scram_final(struct lg_scram *s, const char *password, struct strv server_first,
                   struct buf *out)
{
    struct strv r;
    struct strv salt64;
    struct strv it;
    if (!scram_field(server_first, 'r', &r) || !scram_field(server_first, 's', &salt64) ||
        !scram_field(server_first, 'i', &it)) {
        return -1;
    }
    size_t nl = strlen(s->nonce);
    if (r.len <= nl || memcmp(r.p, s->nonce, nl) != 0 || it.len == 0 || it.len > 9) {
        return -1;
    }
    unsigned iterations = 0;
    for (size_t i = 0; i < it.len; i++) {
        if (it.p[i] < '0' || it.p[i] > '9') {
            return -1;
        }
        iterations = iterations * 10 + (unsigned)(it.p[i] - '0');
    }
    struct buf salt;
    buf_init(&salt, 1024);
    if (lg_b64_decode(salt64, &salt) != 0 || salt.len == 0) {
        buf_cleanup(&salt);
        return -1;
    }
    unsigned char salted[20];
    salted_password(password, (const unsigned char *)salt.p, salt.len, iterations, salted);
    buf_cleanup(&salt);

    unsigned char client_key[20];
    unsigned char stored_key[20];
    unsigned char server_key[20];
    unsigned char client_sig[20];
    hmac_sha1(salted, 20, "Client Key", 10, client_key);
    SHA1(client_key, 20, stored_key);
    hmac_sha1(salted, 20, "Server Key", 10, server_key);

    buf_reset(out);
    buf_printf(out, "c=biws,r=%.*s", (int)r.len, r.p);
    struct buf auth;
    buf_init(&auth, 4096);
    buf_printf(&auth, "%s,%.*s,%s", s->first_bare, (int)server_first.len, server_first.p,
               buf_cstr(out));
    hmac_sha1(stored_key, 20, auth.p, auth.len, client_sig);
    hmac_sha1(server_key, 20, auth.p, auth.len, s->server_sig);
    buf_cleanup(&auth);
    unsigned char proof[20];
    for (int i = 0; i < 20; i++) {
        proof[i] = client_key[i] ^ client_sig[i];
    }
    buf_append_c(out, ",p=");
    lg_b64_append(out, proof, sizeof(proof));
    return 0;
}

int lg_scram_verify(const struct lg_scram *s, struct strv server_final)
{
    struct strv v;
    if (!scram_field(server_final, 'v', &v)) {
        return -1;
    }
    struct buf want;
    buf_init(&want, 64);
    lg_b64_append(&want, s->server_sig, sizeof(s->server_sig));
    int rc = strv_eq(v, buf_strv(&want)) ? 0 : -1;
    buf_cleanup(&want);
    return rc;
}

/* ---- histogram ----------------------------------------------------------------------------- */

/* Bucket = 32 linear sub-buckets per power of two. */
static unsigned bucket_of(uint64_t v)
{
    if (v < 32) {
        return (unsigned)v;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)((v >> (msb - 5)) & 31u);
    unsigned b = (msb - 4) * 32 + sub;
    return b < LG_HIST_BUCKETS ? b : LG_HIST_BUCKETS - 1;
}

static double bucket_low(unsigned b)
{
    if (b < 32) {
        return (double)b;
    }
    unsigned msb = b / 32 + 4;
    unsigned sub = b % 32;
    return (double)((32ull + sub) << (msb - 5));
}

void lg_hist_add(struct lg_hist *h, uint64_t usec)
{
    h->bucket[bucket_of(usec)]++;
    h->count++;
}

double lg_hist_quantile(const struct lg_hist *h, double q)
{
    if (h->count == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count) {
        rank = h->count - 1;
    }
    uint64_t seen = 0;
    for (unsigned b = 0; b < LG_HIST_BUCKETS; b++) {
        seen += h->bucket[b];
        if (seen > rank) {
            /* middle of the bucket */
            return (bucket_low(b) + bucket_low(b + 1)) / 2;
        }
    }
    return bucket_low(LG_HIST_BUCKETS - 1);
}

/* ---- time and /proc ------------------------------------------------------------------------- */

uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    out[n] = 0;
    return 0;
}

double lg_proc_cpu(const int *pids, int n)
{
    double total = 0;
    long hz = sysconf(_SC_CLK_TCK);
    for (int i = 0; i < n; i++) {
        char path[64];
        char text[2048];
        snprintf(path, sizeof(path), "/proc/%d/stat", pids[i]);
        if (read_file(path, text, sizeof(text)) != 0) {
            return -1;
        }
        /* Fields after the command name, which ends with the last ')'. */
        char *p = strrchr(text, ')');
        if (p == NULL) {
            return -1;
        }
        unsigned long long utime = 0;
        unsigned long long stime = 0;
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                   &stime) != 2) {
            return -1;
        }
        total += (double)(utime + stime) / (double)hz;
    }
    return total;
}

long lg_proc_rss_kb(const int *pids, int n)
{
    long total = 0;
    for (int i = 0; i < n; i++) {
        char path[64];
        char text[8192];
        snprintf(path, sizeof(path), "/proc/%d/status", pids[i]);
        if (read_file(path, text, sizeof(text)) != 0) {
            return -1;
        }
        char *p = strstr(text, "VmRSS:");
        if (p == NULL) {
            return -1;
        }
        total += strtol(p + 6, NULL, 10);
    }
    return total;
}
