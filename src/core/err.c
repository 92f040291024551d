/* err.c: strings for the error table. */
#include "core/err.h"

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
