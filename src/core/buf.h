/* buf.h: the two string types of the project, a borrowed view and an owned bounded buffer. */
#ifndef STARLING_CORE_BUF_H
#define STARLING_CORE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* A borrowed view of bytes; not NUL-terminated in general. Passed by value. */
struct strv {
    const char *p;
    size_t len;
};

#define STRV(lit) ((struct strv){ (lit), sizeof(lit) - 1 })
#define STRV_NULL ((struct strv){ NULL, 0 })

/* A view of a NUL-terminated string (NULL gives an empty view). */
struct strv strv_c(const char *s);
bool strv_eq(struct strv a, struct strv b);
bool strv_eq_c(struct strv a, const char *s);
bool strv_case_eq(struct strv a, struct strv b);
/* The view without its leading and trailing blanks (spaces and tabs). */
struct strv strv_trim(struct strv s);
/* Returns a NUL-terminated heap copy; the caller frees it. */
char *strv_dup(struct strv s);

/* An owned growable buffer with a hard maximum size. The content is always NUL-terminated
 * (the terminator is not counted in len), so `p` can be used as a C string when the data
 * holds no NUL bytes. */
struct buf {
    char *p;
    size_t len;
    size_t cap;
    size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_cleanup(struct buf *b);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Releases the memory while keeping the maximum (for idle connections). */
void buf_release(struct buf *b);
/* Each append fails with ERR_LIMIT, leaving the buffer unchanged, past the maximum. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_strv(struct buf *b, struct strv s);
int buf_append_c(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* The content as a C string (never NULL; "" when empty). */
const char *buf_cstr(const struct buf *b);
struct strv buf_strv(const struct buf *b);
/* Makes room for `len` more bytes and returns where to write them; commit with buf_commit. */
char *buf_reserve(struct buf *b, size_t len);
void buf_commit(struct buf *b, size_t len);

/* Aborts the process on allocation failure (see STYLE.md: peer-controlled sizes are capped). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
