/* buf.c: bounded buffers and string views. */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        abort();
    }
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        abort();
    }
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        abort();
    }
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *p = xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

struct strv strv_c(const char *s)
{
    struct strv v = { s ? s : "", s ? strlen(s) : 0 };
    return v;
}

bool strv_eq(struct strv a, struct strv b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool strv_eq_c(struct strv a, const char *s)
{
    return strv_eq(a, strv_c(s));
}

bool strv_case_eq(struct strv a, struct strv b)
{
    return a.len == b.len && (a.len == 0 || strncasecmp(a.p, b.p, a.len) == 0);
}

struct strv strv_trim(struct strv s)
{
    while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t')) {
        s.len--;
    }
    return s;
}

char *strv_dup(struct strv s)
{
    char *p = xmalloc(s.len + 1);
    if (s.len) {
        memcpy(p, s.p, s.len);
    }
    p[s.len] = '\0';
    return p;
}

void buf_init(struct buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_cleanup(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->p) {
        b->p[0] = '\0';
    }
}

void buf_release(struct buf *b)
{
    buf_cleanup(b);
}

/* Ensures room for len more bytes plus the terminator. */
static int grow(struct buf *b, size_t len)
{
    if (len > b->max || b->len > b->max - len) {
        return ERR_LIMIT;
    }
    size_t need = b->len + len + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap *= 2;
    }
    if (cap > b->max + 1) {
        cap = b->max + 1;
    }
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
    if (grow(b, len) != 0) {
        return ERR_LIMIT;
    }
    if (len) {
        memcpy(b->p + b->len, data, len);
    }
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

int buf_append_strv(struct buf *b, struct strv s)
{
    return buf_append(b, s.p, s.len);
}

int buf_append_c(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_append_char(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return ERR_INVAL;
    }
    if (grow(b, (size_t)n) != 0) {
        return ERR_LIMIT;
    }
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}

const char *buf_cstr(const struct buf *b)
{
    return b->p ? b->p : "";
}

struct strv buf_strv(const struct buf *b)
{
    struct strv v = { buf_cstr(b), b->len };
    return v;
}

char *buf_reserve(struct buf *b, size_t len)
{
    if (grow(b, len) != 0) {
        return NULL;
    }
    return b->p + b->len;
}

void buf_commit(struct buf *b, size_t len)
{
    b->len += len;
    b->p[b->len] = '\0';
}
