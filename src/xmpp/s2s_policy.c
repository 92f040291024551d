/* s2s_policy.c: the federation allow and block lists (xmpp.s2s_blocked, xmpp.s2s_allowed,
 * and each local domain's own s2s_blocked / s2s_allowed): which remote domains may talk to us,
 * and the links closed when the lists change. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "xmpp/conn.h"
#include "xmpp/s2s.h"
#include "xmpp/s2s_int.h"
#include "xmpp/stream.h"
#include "xmpp/xmpp.h"

/* `domain` is one of the list's names or a subdomain of one (case-insensitive). */
static bool listed(const char *list, const char *domain)
{
    size_t dlen = strlen(domain);
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ') {
            p++;
        }
        size_t n = strcspn(p, ", ");
        if (n > 0 && n <= dlen && strncasecmp(domain + dlen - n, p, n) == 0 &&
            (n == dlen || domain[dlen - n - 1] == '.')) {
            return true;
        }
        p += n;
    }
    return false;
}

/* The local domains' own lists (issue 20), shared by every worker: few entries (only domains
 * with a list), read under the lock; `g_domain_lists_n` lets the common case skip it. */
struct domain_lists {
    char *local;
    char *blocked;
    char *allowed;
};
static pthread_mutex_t g_domain_lists_lock = PTHREAD_MUTEX_INITIALIZER;
static struct domain_lists *g_domain_lists;
static size_t g_domain_lists_cap;
static atomic_size_t g_domain_lists_n;

static void lists_free(struct domain_lists *l)
{
    free(l->local);
    free(l->blocked);
    free(l->allowed);
}

void s2s_domain_lists_set(const char *local, const char *blocked, const char *allowed)
{
    bool none = (blocked == NULL || blocked[0] == '\0') && (allowed == NULL || allowed[0] == '\0');
    pthread_mutex_lock(&g_domain_lists_lock);
    size_t n = atomic_load(&g_domain_lists_n);
    size_t i = 0;
    while (i < n && strcasecmp(g_domain_lists[i].local, local) != 0) {
        i++;
    }
    if (i < n) {
        lists_free(&g_domain_lists[i]);
        g_domain_lists[i] = g_domain_lists[--n];
    }
    if (!none) {
        if (n == g_domain_lists_cap) {
            g_domain_lists_cap = g_domain_lists_cap ? 2 * g_domain_lists_cap : 8;
            g_domain_lists = xrealloc(g_domain_lists, g_domain_lists_cap * sizeof(*g_domain_lists));
        }
        g_domain_lists[n++] =
            (struct domain_lists){ xstrdup(local), xstrdup(blocked ? blocked : ""),
                                   xstrdup(allowed ? allowed : "") };
    }
    atomic_store(&g_domain_lists_n, n);
    pthread_mutex_unlock(&g_domain_lists_lock);
}

void s2s_domain_lists_clear(void)
{
    pthread_mutex_lock(&g_domain_lists_lock);
    size_t n = atomic_load(&g_domain_lists_n);
    for (size_t i = 0; i < n; i++) {
        lists_free(&g_domain_lists[i]);
    }
    free(g_domain_lists);
    g_domain_lists = NULL;
    g_domain_lists_cap = 0;
    atomic_store(&g_domain_lists_n, 0);
    pthread_mutex_unlock(&g_domain_lists_lock);
}

/* The lists of the local domain `local` (or of the domain a service such as conference.<d>
 * belongs to) refuse `remote`. */
static bool local_lists_refuse(const char *local, const char *remote)
{
    if (atomic_load(&g_domain_lists_n) == 0 || local == NULL || local[0] == '\0') {
        return false;
    }
    bool refused = false;
    pthread_mutex_lock(&g_domain_lists_lock);
    size_t n = atomic_load(&g_domain_lists_n);
    for (size_t i = 0; i < n && !refused; i++) {
        const struct domain_lists *l = &g_domain_lists[i];
        if (listed(l->local, local)) {
            refused = listed(l->blocked, remote) ||
                      (l->allowed[0] != '\0' && !listed(l->allowed, remote));
        }
    }
    pthread_mutex_unlock(&g_domain_lists_lock);
    return refused;
}

bool s2s_pair_refused(const struct settings *cfg, const char *local, const char *remote)
{
    if (remote == NULL || remote[0] == '\0') {
        return false;
    }
    return s2s_domain_refused(cfg, remote) || local_lists_refuse(local, remote);
}

bool s2s_domain_refused(const struct settings *cfg, const char *domain)
{
    if (domain == NULL || domain[0] == '\0') {
        return false; /* unnamed until it authenticates: checked then */
    }
    if (listed(cfg->xmpp.s2s_blocked, domain)) {
        return true;
    }
    return cfg->xmpp.s2s_allowed[0] != '\0' && !listed(cfg->xmpp.s2s_allowed, domain);
}

/* An incoming link any of whose remote domains the lists now refuse. */
static bool in_refused(const struct settings *cfg, struct xstream *st)
{
    struct buf pairs;
    buf_init(&pairs, 8192);
    bool refused = false;
    if (s2s_in_describe(st, &pairs) != NULL) {
        /* "remote -> local, remote -> local" */
        const char *p = buf_cstr(&pairs);
        while (*p && !refused) {
            size_t n = strcspn(p, " ");
            char remote[S2S_DOMAIN_MAX], local[S2S_DOMAIN_MAX];
            s2s__fmt(remote, sizeof(remote), "%.*s", (int)n, p);
            const char *l = strncmp(p + n, " -> ", 4) == 0 ? p + n + 4 : "";
            s2s__fmt(local, sizeof(local), "%.*s", (int)strcspn(l, ","), l);
            refused = s2s_pair_refused(cfg, local, remote);
            const char *next = strstr(p, ", ");
            p = next ? next + 2 : p + strlen(p);
        }
    }
    buf_cleanup(&pairs);
    return refused || s2s__in_remote_refused(cfg, st);
}

int s2s_close_link(struct xmpp_worker *xw, unsigned long id)
{
    for (struct conn *c = xw->conns; c; c = c->next) {
        if (c->id == id && !c->closed && c->st != NULL && c->kind == CONN_S2S_IN) {
            xstream_error(c->st, "reset", "closed by the administrator");
            return 0;
        }
    }
    return xw->s2s && s2s__out_close_id(xw->s2s, id) ? 0 : ERR_NOTFOUND;
}

void s2s_apply_policy(struct xmpp_worker *xw, const struct settings *cfg)
{
    for (struct conn *c = xw->conns; c; c = c->next) {
        if (!c->closed && c->st != NULL && c->kind == CONN_S2S_IN && in_refused(cfg, c->st)) {
            xstream_error(c->st, "policy-violation", "federation with this domain is not allowed");
        }
    }
    s2s__queues_refuse(xw->s2s, cfg);
}
