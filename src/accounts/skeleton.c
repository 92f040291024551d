/* skeleton.c: UTS #39 confusable skeletons of user names (ICU's spoof checker), so a name that
 * looks like another one ("pοstmaster" with a Greek omicron) can be refused. */
#include "accounts/signup.h"

#include <pthread.h>
#include <stdlib.h>

#include <unicode/uspoof.h>

#include "core/err.h"

/* One checker for the process: ICU documents its const operations (getSkeleton) as safe to call
 * from several threads at once once it is configured, and it is never reconfigured. */
static USpoofChecker *g_checker;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void open_checker(void)
{
    UErrorCode status = U_ZERO_ERROR;
    g_checker = uspoof_open(&status);
    if (U_FAILURE(status)) {
        g_checker = NULL;
    }
}

int signup_skeleton(const char *name, struct buf *out)
{
    char small[512];
    UErrorCode status = U_ZERO_ERROR;
    int32_t n;
    pthread_once(&g_once, open_checker);
    if (g_checker == NULL) {
        return ERR_INTERNAL;
    }
    n = uspoof_getSkeletonUTF8(g_checker, 0, name, -1, small, (int32_t)sizeof(small), &status);
    if (status == U_BUFFER_OVERFLOW_ERROR && n > 0) {
        char *big = xmalloc((size_t)n + 1);
        status = U_ZERO_ERROR;
        n = uspoof_getSkeletonUTF8(g_checker, 0, name, -1, big, n + 1, &status);
        int rc = U_FAILURE(status) ? ERR_INVAL : 0;
        buf_reset(out);
        if (rc == 0) {
            rc = buf_append_strv(out, (struct strv){ big, (size_t)n });
        }
        free(big);
        return rc;
    }
    if (U_FAILURE(status)) {
        return ERR_INVAL;
    }
    buf_reset(out);
    return buf_append_strv(out, (struct strv){ small, (size_t)n });
}
