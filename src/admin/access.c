/* access.c: who may run which admin op on what; one rule for the control socket and the WebAdmin. */
#include "admin/access.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "accounts/accounts.h"
#include "core/buf.h"
#include "core/err.h"
#include "jid/jid.h"
#include "store/store.h"

#define NAME_MAX_LEN 1024

/* The canonical domain of `text` (a domain, or with is_jid an account address "local@domain")
 * into `domain`, and with is_jid the prepared "local@canonical" into `bare`. 0 or an error. */
static int canonical(struct store *st, const char *text, bool is_jid, struct buf *domain,
                     struct buf *bare)
{
    struct jid j = { 0 };
    struct buf prepped;
    int rc;
    buf_init(&prepped, NAME_MAX_LEN);
    if (is_jid) {
        rc = jid_parse(&j, strv_c(text));
        if (rc == 0 && (j.local == NULL || j.resource != NULL)) {
            rc = ERR_INVAL;
        }
        if (rc == 0) {
            rc = buf_append_c(&prepped, j.domain);
        }
    } else {
        rc = jid_nameprep(strv_c(text), &prepped);
    }
    if (rc == 0) {
        rc = store_domain_resolve(st, buf_cstr(&prepped), domain);
    }
    if (rc == 0 && is_jid) {
        buf_reset(bare);
        rc = buf_printf(bare, "%s@%s", j.local, buf_cstr(domain));
    }
    jid_cleanup(&j);
    buf_cleanup(&prepped);
    return rc;
}

void admin__actor_load(struct store *st, const char *jid, struct admin_actor *out)
{
    struct buf domain, bare;
    struct account_cfg acc;
    memset(out, 0, sizeof(*out));
    if (jid == NULL) {
        out->role = ADMIN_ROLE_SERVER;
        return;
    }
    snprintf(out->jid, sizeof(out->jid), "%s", jid);
    buf_init(&domain, NAME_MAX_LEN);
    buf_init(&bare, NAME_MAX_LEN);
    if (canonical(st, jid, true, &domain, &bare) == 0 &&
        accounts_account_get(st, buf_cstr(&bare), &acc) == 0 && !acc.disabled) {
        snprintf(out->jid, sizeof(out->jid), "%s", buf_cstr(&bare));
        snprintf(out->domain, sizeof(out->domain), "%s", buf_cstr(&domain));
        out->role = acc.admin          ? ADMIN_ROLE_SERVER
                    : acc.domain_admin ? ADMIN_ROLE_DOMAIN
                                       : ADMIN_ROLE_NONE;
    }
    buf_cleanup(&domain);
    buf_cleanup(&bare);
}

static int deny(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int deny(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return ERR_DENIED;
}

/* A domain administrator may point its chat service only at a new name under its own domain
 * (or at none, or the default): naming an existing domain would capture that domain's traffic. */
static int check_chat_service(struct store *st, const struct admin_actor *who, const json_t *v,
                              char *why, size_t whylen)
{
    const char *text = json_string_value(v);
    struct buf prepped, existing;
    size_t n, m = strlen(who->domain);
    int rc = 0;
    if (text != NULL && (strcasecmp(text, "none") == 0 || strcasecmp(text, "default") == 0)) {
        return 0;
    }
    buf_init(&prepped, NAME_MAX_LEN);
    buf_init(&existing, NAME_MAX_LEN);
    if (text == NULL || jid_nameprep(strv_c(text), &prepped) != 0) {
        rc = 0; /* not a name: the accounts module refuses it with its own reason */
    } else if ((n = prepped.len) <= m + 1 || prepped.p[n - m - 1] != '.' ||
               strcmp(prepped.p + n - m, who->domain) != 0) {
        rc = deny(why, whylen, "chat_service must be a name under your domain %s", who->domain);
    } else if (store_domain_resolve(st, buf_cstr(&prepped), &existing) == 0) {
        rc = deny(why, whylen, "%s is a domain of this server", buf_cstr(&prepped));
    }
    buf_cleanup(&prepped);
    buf_cleanup(&existing);
    return rc;
}

/* The "settings" a domain administrator may not give: rights it lacks, names beyond its domain. */
static int check_settings(struct store *st, const struct admin_actor *who, bool account,
                          const json_t *args, char *why, size_t whylen)
{
    json_t *settings = json_object_get(args, "settings");
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(settings, key, v)
    {
        if (account && strcmp(key, "admin") == 0) {
            rc = deny(why, whylen, "only a server administrator may change admin");
        } else if (!account && strcmp(key, "aliases") == 0) {
            rc = deny(why, whylen, "only a server administrator may change aliases");
        } else if (!account && strcmp(key, "chat_service") == 0) {
            rc = check_chat_service(st, who, v, why, whylen);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* An existing account a domain administrator acts on must be ordinary, or the actor itself. */
static int check_target(struct store *st, const struct admin_actor *who, const char *bare,
                        char *why, size_t whylen)
{
    struct account_cfg acc;
    if (strcmp(bare, who->jid) == 0) {
        return 0;
    }
    if (accounts_account_get(st, bare, &acc) != 0) {
        return 0; /* no such account: the op answers "unknown account" */
    }
    if (acc.admin || acc.domain_admin) {
        return deny(why, whylen,
                    "%s is an administrator: only a server administrator may act on it", bare);
    }
    return 0;
}

int admin__authorize(struct store *st, const struct admin_actor *who, const char *name,
                     enum admin_scope scope, const char *arg, const json_t *args, char *why,
                     size_t whylen)
{
    const char *text = arg != NULL ? json_string_value(json_object_get(args, arg)) : NULL;
    bool is_jid = scope == ADMIN_SCOPE_ACCOUNT || scope == ADMIN_SCOPE_NEW_ACCOUNT;
    struct buf domain, bare;
    int rc = 0;
    if (scope == ADMIN_SCOPE_OWNER && who->jid[0] != '\0') {
        return deny(why, whylen,
                    "%.100s is the server's own (the WebAdmin's login), not an "
                    "account's",
                    name);
    }
    if (who->role == ADMIN_ROLE_SERVER) {
        return 0;
    }
    if (who->role == ADMIN_ROLE_NONE) {
        return deny(why, whylen, "%.200s is not an administrator", who->jid);
    }
    if (scope == ADMIN_SCOPE_SERVER) {
        return deny(why, whylen, "only a server administrator may use %.100s", name);
    }
    if (scope == ADMIN_SCOPE_LIST || text == NULL) {
        return 0; /* a missing or wrong argument: the op refuses it */
    }
    buf_init(&domain, NAME_MAX_LEN);
    buf_init(&bare, NAME_MAX_LEN);
    if (canonical(st, text, is_jid, &domain, &bare) != 0 ||
        strcmp(buf_cstr(&domain), who->domain) != 0) {
        rc = deny(why, whylen, "%.200s is not in your domain %s", text, who->domain);
    } else if (scope == ADMIN_SCOPE_ACCOUNT) {
        rc = check_target(st, who, buf_cstr(&bare), why, whylen);
    }
    if (rc == 0 && scope != ADMIN_SCOPE_NEW_ACCOUNT) {
        rc = check_settings(st, who, scope == ADMIN_SCOPE_ACCOUNT, args, why, whylen);
    }
    buf_cleanup(&domain);
    buf_cleanup(&bare);
    return rc;
}

/* The domain part of a JID "local@domain/resource" equals `domain`. */
static bool jid_in_domain(const char *jid, const char *domain)
{
    const char *at = jid != NULL ? strchr(jid, '@') : NULL;
    size_t n = strlen(domain);
    if (at == NULL) {
        return false;
    }
    return strncmp(at + 1, domain, n) == 0 && (at[1 + n] == '\0' || at[1 + n] == '/');
}

void admin__filter_result(const struct admin_actor *who, const char *name, json_t *result)
{
    size_t i = 0;
    if (who->role == ADMIN_ROLE_SERVER || !json_is_array(result)) {
        return;
    }
    while (i < json_array_size(result)) {
        json_t *item = json_array_get(result, i);
        bool keep = false;
        if (strcmp(name, "domain.list") == 0) {
            keep = json_is_string(item) && strcmp(json_string_value(item), who->domain) == 0;
        } else if (strcmp(name, "connections") == 0 || strcmp(name, "logins.failed") == 0) {
            keep = jid_in_domain(json_string_value(json_object_get(item, "jid")), who->domain);
        }
        if (keep) {
            i++;
        } else {
            json_array_remove(result, i);
        }
    }
}
