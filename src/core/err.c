/* err.c: strings for the error table. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *err_str(int code)
{
    switch (code) {
    case 0:
        return "success";
#define ERR_CASE(name, value, text)                                                                \
    case value:                                                                                    \
        return text;
        ERR_TABLE(ERR_CASE)
#undef ERR_CASE
    default:
        return "unknown error";
    }
}

void err_set(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
