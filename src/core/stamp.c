/* stamp.c: XEP-0082 date-time text. */
#include "core/stamp.h"

char *stamp_format(time_t t, char *out, size_t size)
{
    struct tm tm;
    if (size == 0) {
        return out;
    }
    if (gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        out[0] = '\0';
    }
    return out;
}
