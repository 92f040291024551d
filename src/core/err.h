/* err.h: the project's one table of error codes and their strings. */
#ifndef STARLING_CORE_ERR_H
#define STARLING_CORE_ERR_H

#include <stddef.h>

/* Functions that can fail return 0 on success or one of these negative codes. */
#define ERR_TABLE(X)                                                                               \
    X(ERR_AGAIN, -1, "resource temporarily unavailable, try again")                                \
    X(ERR_LIMIT, -2, "limit exceeded")                                                             \
    X(ERR_CLOSED, -3, "connection closed")                                                         \
    X(ERR_PROTO, -4, "protocol error")                                                             \
    X(ERR_INVAL, -5, "invalid argument")                                                           \
    X(ERR_NOTFOUND, -6, "not found")                                                               \
    X(ERR_EXISTS, -7, "already exists")                                                            \
    X(ERR_AUTH, -8, "authentication failed")                                                       \
    X(ERR_DENIED, -9, "permission denied")                                                         \
    X(ERR_IO, -10, "input/output error")                                                           \
    X(ERR_STORE, -11, "storage error")                                                             \
    X(ERR_TLS, -12, "TLS error")                                                                   \
    X(ERR_INTERNAL, -13, "internal error")                                                         \
    X(ERR_NOSPACE, -14, "storage full")

enum err_code {
#define ERR_ENUM(name, value, text) name = value,
    ERR_TABLE(ERR_ENUM)
#undef ERR_ENUM
};

/* Returns a static description of `code` (0 gives "success"). */
const char *err_str(int code);

/* Formats an error message into `err` (`errlen` bytes, truncated); does nothing when `err` is
 * NULL or `errlen` 0: the one helper behind every `char *err, size_t errlen` pair. */
void err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
