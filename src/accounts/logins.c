/* logins.c: per-account lock-out after failed logins (auth/lockout.c) under login names. */
#include "accounts/accounts.h"

#include "auth/lockout.h"
#include "core/buf.h"
#include "core/err.h"

enum login_op { LOGIN_LOCKED, LOGIN_FAILED, LOGIN_SUCCEEDED };

/* Runs `op` on the lock-out entry of the login name; a name that does not prepare has none. */
static long login_op(const struct settings_auth *cfg, const char *user, const char *domain,
                     enum login_op op)
{
    struct buf key;
    long r = 0;
    buf_init(&key, 2048);
    if (accounts_login_key(&key, user, domain) == 0) {
        if (op == LOGIN_LOCKED) {
            r = (lockout_remaining_ms(cfg, buf_cstr(&key)) + 999) / 1000;
        } else if (op == LOGIN_FAILED) {
            r = lockout_failure(cfg, buf_cstr(&key));
        } else {
            lockout_success(buf_cstr(&key));
        }
    }
    buf_cleanup(&key);
    return r;
}

long accounts_login_locked(const struct settings_auth *cfg, const char *user, const char *domain)
{
    return login_op(cfg, user, domain, LOGIN_LOCKED);
}

int accounts_login_failed(const struct settings_auth *cfg, const char *user, const char *domain)
{
    return (int)login_op(cfg, user, domain, LOGIN_FAILED);
}

void accounts_login_succeeded(const char *user, const char *domain)
{
    login_op(NULL, user, domain, LOGIN_SUCCEEDED);
}
