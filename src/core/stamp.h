/* stamp.h: XEP-0082 date-time text in UTC to the second (2026-01-31T12:00:00Z), one copy for
 * <delay/>, last-seen times and the admin views. */
#ifndef STARLING_CORE_STAMP_H
#define STARLING_CORE_STAMP_H

#include <stddef.h>
#include <time.h>

/* Room for a stamp and its NUL. */
#define STAMP_MAX 32

/* Writes `t` as a XEP-0082 DateTime into `out` (`size` bytes, STAMP_MAX is enough) and returns
 * `out`; an empty string when `t` cannot be represented or `size` is too small. */
char *stamp_format(time_t t, char *out, size_t size);

#endif
