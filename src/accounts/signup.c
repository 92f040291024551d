/* signup.c: in-band registration policy: reserved names, tombstones, passwords, per-address rate,
 * invitation tokens. Pure policy: the protocol lives in xmpp/register.c and services/register.c. */
#include "accounts/signup.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "auth/creds.h"
#include "core/err.h"
#include "store/store_register.h"

/* Glob with '*' only, case-insensitive (ASCII), iterative with one backtrack point. */
static bool glob_match(const char *pat, size_t plen, const char *s)
{
    size_t p = 0, i = 0, star = (size_t)-1, mark = 0;
    size_t n = strlen(s);
    while (i < n) {
        if (p < plen && pat[p] == '*') {
            star = p++;
            mark = i;
        } else if (p < plen && tolower((unsigned char)pat[p]) == tolower((unsigned char)s[i])) {
            p++;
            i++;
        } else if (star != (size_t)-1) {
            p = star + 1;
            i = ++mark;
        } else {
            return false;
        }
    }
    while (p < plen && pat[p] == '*') {
        p++;
    }
    return p == plen;
}

bool signup_name_reserved(const char *list, const char *name)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
        }
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len > 0 && glob_match(p, len, name)) {
            return true;
        }
        p = end;
    }
    return false;
}

static int refuse(struct signup_refusal *why, const char *type, const char *condition,
                  const char *text)
{
    why->type = type;
    why->condition = condition;
    snprintf(why->text, sizeof(why->text), "%s", text);
    return ERR_DENIED;
}

int signup_check_name(struct store *st, const struct settings *cfg, const char *domain,
                      const char *name, struct signup_refusal *why)
{
    if (signup_name_reserved(cfg->reg.reserved_names, name)) {
        return refuse(why, "cancel", "not-acceptable", "this user name is reserved");
    }
    int rc = store_account_exists(st, domain, name);
    if (rc == 1) {
        return refuse(why, "cancel", "conflict", "this user name is taken");
    }
    if (rc < 0) {
        refuse(why, "wait", "internal-server-error", "the account store is unavailable");
        return ERR_STORE;
    }
    rc = store_tombstone_active(st, domain, name, (long long)time(NULL));
    if (rc == 1) {
        return refuse(why, "cancel", "conflict",
                      "this user name belonged to a deleted account and is not available yet");
    }
    if (rc < 0) {
        refuse(why, "wait", "internal-server-error", "the account store is unavailable");
        return ERR_STORE;
    }
    return 0;
}

int signup_check_password(const struct settings *cfg, const char *password,
                          struct signup_refusal *why)
{
    size_t len = strlen(password);
    if (len < (size_t)cfg->reg.min_password_length) {
        char text[128];
        snprintf(text, sizeof(text), "the password must have at least %d characters",
                 cfg->reg.min_password_length);
        return refuse(why, "modify", "not-acceptable", text);
    }
    if (len > AUTH_PASSWORD_MAX) {
        return refuse(why, "modify", "not-acceptable", "the password is too long");
    }
    return 0;
}

/* ---- rate: recent registration times per address, process-wide (connections from one
 * address land on any worker). Small: entries expire after the period. ---- */

#define RATE_MAX_ADDRS 4096
#define RATE_MAX_TIMES 64

struct rate_entry {
    char addr[48];
    time_t times[RATE_MAX_TIMES];
    int n;
};

static pthread_mutex_t g_rate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rate_entry *g_rate;
static int g_nrate;

static void rate_expire(struct rate_entry *e, time_t now, int period)
{
    int k = 0;
    for (int i = 0; i < e->n; i++) {
        if (now - e->times[i] < period) {
            e->times[k++] = e->times[i];
        }
    }
    e->n = k;
}

static struct rate_entry *rate_find(const char *addr, time_t now, int period, bool create)
{
    for (int i = 0; i < g_nrate; i++) {
        rate_expire(&g_rate[i], now, period);
        if (strcmp(g_rate[i].addr, addr) == 0) {
            return &g_rate[i];
        }
    }
    if (!create) {
        return NULL;
    }
    /* Reuse an idle slot before growing. */
    for (int i = 0; i < g_nrate; i++) {
        if (g_rate[i].n == 0) {
            snprintf(g_rate[i].addr, sizeof(g_rate[i].addr), "%s", addr);
            return &g_rate[i];
        }
    }
    if (g_rate == NULL) {
        g_rate = xcalloc(RATE_MAX_ADDRS, sizeof(*g_rate));
    }
    if (g_nrate == RATE_MAX_ADDRS) {
        return NULL;
    }
    struct rate_entry *e = &g_rate[g_nrate++];
    memset(e, 0, sizeof(*e));
    snprintf(e->addr, sizeof(e->addr), "%s", addr);
    return e;
}

bool signup_rate_allowed(const struct settings *cfg, const char *addr, time_t now)
{
    int limit = cfg->reg.rate_limit;
    if (limit <= 0) {
        return true;
    }
    pthread_mutex_lock(&g_rate_lock);
    struct rate_entry *e = rate_find(addr, now, cfg->reg.rate_period, false);
    bool ok = e == NULL || (e->n < limit && e->n < RATE_MAX_TIMES);
    if (e == NULL && g_nrate == RATE_MAX_ADDRS) {
        /* The table is full of active addresses: refuse rather than forget one. */
        ok = false;
        for (int i = 0; i < g_nrate && !ok; i++) {
            ok = g_rate[i].n == 0;
        }
    }
    pthread_mutex_unlock(&g_rate_lock);
    return ok;
}

void signup_rate_note(const struct settings *cfg, const char *addr, time_t now)
{
    if (cfg->reg.rate_limit <= 0) {
        return;
    }
    pthread_mutex_lock(&g_rate_lock);
    struct rate_entry *e = rate_find(addr, now, cfg->reg.rate_period, true);
    if (e && e->n < RATE_MAX_TIMES) {
        e->times[e->n++] = now;
    }
    pthread_mutex_unlock(&g_rate_lock);
}

void signup_shutdown(void)
{
    pthread_mutex_lock(&g_rate_lock);
    free(g_rate);
    g_rate = NULL;
    g_nrate = 0;
    pthread_mutex_unlock(&g_rate_lock);
}

int signup_tombstone(struct store *st, const struct settings *cfg, const char *domain,
                     const char *name, time_t now)
{
    if (cfg->reg.tombstone_time <= 0) {
        return 0;
    }
    return store_tombstone_add(st, domain, name, (long long)now + cfg->reg.tombstone_time);
}

int signup_invite_create(struct store *st, const char *domain, long lifetime, struct buf *token)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char rnd[24];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return ERR_INTERNAL;
    }
    buf_reset(token);
    for (size_t i = 0; i < sizeof(rnd); i++) {
        buf_append_char(token, alphabet[rnd[i] & 63]);
    }
    return store_invite_add(st, buf_cstr(token), domain, (long long)time(NULL) + lifetime);
}
