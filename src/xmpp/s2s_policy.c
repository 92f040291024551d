/* s2s_policy.c: the federation allow and block lists (xmpp.s2s_blocked, xmpp.s2s_allowed):
 * which remote domains may talk to us, and the links closed when the lists change. */
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
            char remote[S2S_DOMAIN_MAX];
            s2s__fmt(remote, sizeof(remote), "%.*s", (int)n, p);
            refused = s2s_domain_refused(cfg, remote);
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
