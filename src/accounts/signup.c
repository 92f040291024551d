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
#include "xml/ns.h"
#include "xml/xml.h"

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

/* Calls match(pattern, length, ud) for each comma-separated pattern of `list` (blanks around
 * it trimmed) until one matches. */
typedef bool pattern_fn(const char *pat, size_t len, void *ud);

static bool any_pattern(const char *list, pattern_fn *match, void *ud)
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
        if (len > 0 && match(p, len, ud)) {
            return true;
        }
        p = end;
    }
    return false;
}

static bool plain_match(const char *pat, size_t len, void *ud)
{
    return glob_match(pat, len, ud);
}

bool signup_name_reserved(const char *list, const char *name)
{
    return any_pattern(list, plain_match, (void *)name);
}

/* The skeleton of a pattern: each run between '*'s skeletonized, the '*'s kept. */
static int pattern_skeleton(const char *pat, size_t plen, struct buf *out)
{
    struct buf part, chunk;
    int rc = 0;
    buf_init(&part, 4096);
    buf_init(&chunk, 4096);
    buf_reset(out);
    for (size_t i = 0; i <= plen && rc == 0; i++) {
        if (i < plen && pat[i] != '*') {
            rc = buf_append_char(&part, pat[i]);
            continue;
        }
        if (part.len > 0) {
            rc = signup_skeleton(buf_cstr(&part), &chunk);
            if (rc == 0) {
                rc = buf_append_strv(out, buf_strv(&chunk));
            }
            buf_reset(&part);
        }
        if (rc == 0 && i < plen) {
            rc = buf_append_char(out, '*');
        }
    }
    buf_cleanup(&part);
    buf_cleanup(&chunk);
    return rc;
}

/* A pattern's skeleton against a name's skeleton; `ud` is the name's skeleton (a struct buf). */
static bool skeleton_match(const char *pat, size_t len, void *ud)
{
    struct buf pskel;
    bool hit = false;
    buf_init(&pskel, 4096);
    if (pattern_skeleton(pat, len, &pskel) == 0) {
        hit = glob_match(pskel.p, pskel.len, buf_cstr(ud));
    }
    buf_cleanup(&pskel);
    return hit;
}

/* Like signup_name_reserved, comparing skeletons: "pοstmaster" is "postmaster". */
static bool reserved_lookalike(const char *list, const char *name)
{
    struct buf skel;
    bool hit;
    buf_init(&skel, 4096);
    /* A name ICU cannot read is not accepted. */
    hit = signup_skeleton(name, &skel) != 0 || any_pattern(list, skeleton_match, &skel);
    buf_cleanup(&skel);
    return hit;
}

/* 1 when an existing account of `domain` looks like `name`, 0 when none, or an error: one
 * indexed lookup of the name's skeleton (register_skeletons, kept by signup_skeleton_note). */
static int lookalike_exists(struct store *st, const char *domain, const char *name)
{
    struct buf skel;
    buf_init(&skel, 4096);
    int rc = signup_skeleton(name, &skel);
    if (rc == 0) {
        rc = store_skeleton_other(st, domain, buf_cstr(&skel), name);
    }
    buf_cleanup(&skel);
    return rc;
}

int signup_skeleton_note(struct store *st, const char *domain, const char *name)
{
    struct buf skel;
    buf_init(&skel, 4096);
    /* A name ICU cannot read gets no row: it cannot be registered in-band either. */
    int rc = signup_skeleton(name, &skel);
    if (rc == 0) {
        rc = store_skeleton_set(st, domain, name, buf_cstr(&skel));
    } else {
        rc = 0;
    }
    buf_cleanup(&skel);
    return rc;
}

struct fill_ctx {
    struct store *st;
    int filled;
};

static int fill_row(void *ud, const char *domain, const char *name)
{
    struct fill_ctx *fc = ud;
    int rc = signup_skeleton_note(fc->st, domain, name);
    fc->filled += rc == 0;
    return rc;
}

int signup_skeletons_fill(struct store *st)
{
    struct fill_ctx fc = { st, 0 };
    int rc = store_group_begin(st);
    if (rc == 0) {
        rc = store_group_end(st, store_skeleton_missing(st, fill_row, &fc));
    }
    return rc < 0 ? rc : fc.filled;
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
    if (signup_name_reserved(cfg->reg.reserved_names, name) ||
        reserved_lookalike(cfg->reg.reserved_names, name)) {
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
    rc = lookalike_exists(st, domain, name);
    if (rc == 1) {
        return refuse(why, "cancel", "conflict",
                      "this user name looks like the name of an existing account");
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

/* ---- per-domain and global rates: a sliding window of RATE_SLICES slices per counter (exact
 * to one slice, period/RATE_SLICES), so large limits need no list of times. Domains are the
 * server's own (canonical names), not names a client chooses, so the table stays small. ---- */

#define RATE_SLICES 64
#define RATE_MAX_DOMAINS 1024

struct window {
    time_t start[RATE_SLICES];
    int count[RATE_SLICES];
};

struct domain_window {
    char domain[256];
    struct window w;
};

static struct window g_global;
static struct domain_window *g_domains;
static int g_ndomains;

static time_t slice_len(int period)
{
    return period / RATE_SLICES > 0 ? period / RATE_SLICES : 1;
}

static int window_count(const struct window *w, time_t now, int period)
{
    int n = 0;
    for (int i = 0; i < RATE_SLICES; i++) {
        if (w->count[i] > 0 && now - w->start[i] < period) {
            n += w->count[i];
        }
    }
    return n;
}

static void window_add(struct window *w, time_t now, int period)
{
    time_t len = slice_len(period);
    time_t start = now - now % len;
    int i = (int)((now / len) % RATE_SLICES);
    if (w->start[i] != start) {
        w->start[i] = start;
        w->count[i] = 0;
    }
    w->count[i]++;
}

/* The window of `domain`; NULL when the table is full (then only the global rate applies). */
static struct window *domain_window(const char *domain, bool create)
{
    for (int i = 0; i < g_ndomains; i++) {
        if (strcmp(g_domains[i].domain, domain) == 0) {
            return &g_domains[i].w;
        }
    }
    if (!create || g_ndomains == RATE_MAX_DOMAINS) {
        return NULL;
    }
    if (g_domains == NULL) {
        g_domains = xcalloc(RATE_MAX_DOMAINS, sizeof(*g_domains));
    }
    struct domain_window *d = &g_domains[g_ndomains++];
    snprintf(d->domain, sizeof(d->domain), "%s", domain);
    return &d->w;
}

static bool addr_allowed(const struct settings *cfg, const char *addr, time_t now)
{
    int limit = cfg->reg.rate_limit;
    if (limit <= 0) {
        return true;
    }
    struct rate_entry *e = rate_find(addr, now, cfg->reg.rate_period, false);
    bool ok = e == NULL || (e->n < limit && e->n < RATE_MAX_TIMES);
    if (e == NULL && g_nrate == RATE_MAX_ADDRS) {
        /* The table is full of active addresses: refuse rather than forget one. */
        ok = false;
        for (int i = 0; i < g_nrate && !ok; i++) {
            ok = g_rate[i].n == 0;
        }
    }
    return ok;
}

bool signup_rate_allowed(const struct settings *cfg, const char *addr, const char *domain,
                         time_t now, struct signup_refusal *why)
{
    int period = cfg->reg.rate_period;
    const char *text = NULL;
    pthread_mutex_lock(&g_rate_lock);
    struct window *dw = domain_window(domain, false);
    if (!addr_allowed(cfg, addr, now)) {
        text = "too many registrations from your address";
    } else if (cfg->reg.domain_rate_limit > 0 && dw != NULL &&
               window_count(dw, now, period) >= cfg->reg.domain_rate_limit) {
        text = "too many registrations on this domain; try again later";
    } else if (cfg->reg.global_rate_limit > 0 &&
               window_count(&g_global, now, period) >= cfg->reg.global_rate_limit) {
        text = "too many registrations on this server; try again later";
    }
    pthread_mutex_unlock(&g_rate_lock);
    if (text != NULL) {
        refuse(why, "wait", "resource-constraint", text);
    }
    return text == NULL;
}

void signup_rate_note(const struct settings *cfg, const char *addr, const char *domain, time_t now)
{
    int period = cfg->reg.rate_period;
    pthread_mutex_lock(&g_rate_lock);
    if (cfg->reg.rate_limit > 0) {
        struct rate_entry *e = rate_find(addr, now, period, true);
        if (e && e->n < RATE_MAX_TIMES) {
            e->times[e->n++] = now;
        }
    }
    struct window *dw = domain_window(domain, true);
    if (dw != NULL) {
        window_add(dw, now, period);
    }
    window_add(&g_global, now, period);
    pthread_mutex_unlock(&g_rate_lock);
}

void signup_shutdown(void)
{
    pthread_mutex_lock(&g_rate_lock);
    free(g_rate);
    g_rate = NULL;
    g_nrate = 0;
    free(g_domains);
    g_domains = NULL;
    g_ndomains = 0;
    memset(&g_global, 0, sizeof(g_global));
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

int signup_invite_new(struct store *st, const char *domain, const char *inviter, long lifetime,
                      int uses, struct buf *token)
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
    time_t now = time(NULL);
    struct store_invite inv = {
        .token = buf_cstr(token),
        .domain = domain,
        .inviter = inviter,
        .uses = uses > 0 ? uses : 1,
        .created = (long long)now,
        .expires = (long long)now + lifetime,
    };
    return store_invite_new(st, &inv);
}

int signup_invite_create(struct store *st, const char *domain, long lifetime, struct buf *token)
{
    return signup_invite_new(st, domain, NULL, lifetime, 1, token);
}

bool signup_invite_roster(struct store *st, const char *domain, const char *inviter,
                          const char *contact, const char *token, time_t now)
{
    if (store_invite_grant_take(st, token, domain, inviter, contact, (long long)now) == 0) {
        return true;
    }
    struct buf who;
    buf_init(&who, 2048);
    bool ok = store_invite_inviter(st, token, domain, (long long)now, &who) == 0 &&
              strcmp(buf_cstr(&who), inviter) == 0 &&
              store_invite_take(st, token, domain, (long long)now) == 0;
    buf_cleanup(&who);
    return ok;
}

/* A field's value from the traditional child element or from a submitted data form. */
void signup_field(const struct xml_node *q, const char *name, struct buf *out)
{
    buf_reset(out);
    const struct xml_node *n = xml_node_child(q, NS_REGISTER, name);
    if (n) {
        xml_node_text(n, out);
        return;
    }
    const struct xml_node *x = xml_node_child(q, NS_XDATA, "x");
    for (const struct xml_node *f = x ? xml_node_first_element(x) : NULL; f;
         f = xml_node_next_element(f)) {
        const char *var = xml_node_attr(f, "var");
        if (strcmp(f->name, "field") == 0 && var && strcmp(var, name) == 0) {
            const struct xml_node *v = xml_node_child(f, NS_XDATA, "value");
            if (v) {
                xml_node_text(v, out);
            }
            return;
        }
    }
}
