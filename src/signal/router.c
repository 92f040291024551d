/* router.c: the routing core: who owns the `to` address, and handing the signal to it. */
#include "signal/router.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "signal/router_int.h"
#include "store/store.h"

#define ROUTER_BUCKETS 1024

/* One account with sessions on this (its home) worker. */
struct account_entry {
    struct account_entry *next;
    struct router_session *sessions;
    char bare[];
};

struct domain_alias {
    char *name;
    char *canonical;
};

struct router_worker {
    struct account_entry *buckets[ROUTER_BUCKETS];
    struct domain_alias *domains;
    size_t ndomains;
    size_t domains_cap;
    unsigned domains_gen;
    bool domains_loaded;
};

struct router_worker *router_worker_new(void)
{
    return xcalloc(1, sizeof(struct router_worker));
}

static void clear_domains(struct router_worker *rw)
{
    for (size_t i = 0; i < rw->ndomains; i++) {
        free(rw->domains[i].name);
        free(rw->domains[i].canonical);
    }
    rw->ndomains = 0;
}

void router_worker_free(struct router_worker *rw)
{
    if (rw == NULL) {
        return;
    }
    for (size_t i = 0; i < ROUTER_BUCKETS; i++) {
        struct account_entry *e = rw->buckets[i];
        while (e) {
            struct account_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    clear_domains(rw);
    free(rw->domains);
    free(rw);
}

/* ---- the hooks of the modules above (set at start-up) ---- */

static int no_services(struct signal *sig, bool account)
{
    (void)account;
    router_reply_error(sig, "cancel", "service-unavailable");
    signal_free(sig);
    return ERR_NOTFOUND;
}

static bool no_blocking(struct signal *sig)
{
    (void)sig;
    return false;
}

static void no_presence(struct router_session *sessions, struct signal *sig, bool exists)
{
    (void)sessions;
    (void)exists;
    signal_free(sig);
}

static int no_offline(struct signal *sig)
{
    return no_services(sig, true);
}

static void no_carbons(struct router_session *sessions, const struct signal *sig,
                       struct router_session *const *to, size_t nto)
{
    (void)sessions;
    (void)sig;
    (void)to;
    (void)nto;
}

static const struct router_im g_no_im = { no_blocking, no_presence, no_offline,
                                          no_carbons,  NULL,        NULL };
static router_services_fn *g_services = no_services;
static const struct router_im *g_im = &g_no_im;

void router_set_services(router_services_fn *fn)
{
    g_services = fn ? fn : no_services;
}

void router_set_im(const struct router_im *im)
{
    g_im = im ? im : &g_no_im;
}

static struct router_worker *self_rw(void)
{
    struct worker_ctx *wc = worker_ctx();
    return wc ? wc->router : NULL;
}

static size_t bucket_of(const char *bare)
{
    return jid_text_hash(bare) % ROUTER_BUCKETS;
}

static struct account_entry **find_entry(struct router_worker *rw, const char *bare)
{
    struct account_entry **pp = &rw->buckets[bucket_of(bare)];
    while (*pp && strcmp((*pp)->bare, bare) != 0) {
        pp = &(*pp)->next;
    }
    return pp;
}

/* The entry of an account (a JID with a local part) found from its parts, without printing its
 * bare JID: the same bucket as bucket_of("local@domain"). */
static struct account_entry *find_account_hashed(struct router_worker *rw, const struct jid *j,
                                                 size_t hash)
{
    struct account_entry *e = rw->buckets[hash % ROUTER_BUCKETS];
    while (e && !jid_bare_is(j, e->bare)) {
        e = e->next;
    }
    return e;
}

static struct account_entry *find_account(struct router_worker *rw, const struct jid *j)
{
    return find_account_hashed(rw, j, jid_bare_hash(j));
}

/* Sessions registered on all workers (a cluster node's heartbeat reports it). */
static atomic_long g_sessions_total;

long router_sessions_total(void)
{
    return atomic_load(&g_sessions_total);
}

void router_session_add(struct router_session *s, struct router_session **replaced)
{
    struct router_worker *rw = self_rw();
    struct account_entry **pp = find_entry(rw, s->bare);
    *replaced = NULL;
    if (*pp == NULL) {
        size_t n = strlen(s->bare);
        struct account_entry *e = xcalloc(1, sizeof(*e) + n + 1);
        memcpy(e->bare, s->bare, n + 1);
        *pp = e;
    }
    struct router_session **sp = &(*pp)->sessions;
    while (*sp) {
        if (strcmp((*sp)->resource, s->resource) == 0) {
            *replaced = *sp;
            *sp = (*sp)->next;
            (*replaced)->next = NULL;
            break;
        }
        sp = &(*sp)->next;
    }
    s->next = (*pp)->sessions;
    (*pp)->sessions = s;
    if (*replaced == NULL) {
        atomic_fetch_add(&g_sessions_total, 1);
    }
}

void router_session_remove(struct router_session *s)
{
    struct router_worker *rw = self_rw();
    struct account_entry **pp = find_entry(rw, s->bare);
    if (*pp == NULL) {
        return;
    }
    for (struct router_session **sp = &(*pp)->sessions; *sp; sp = &(*sp)->next) {
        if (*sp == s) {
            *sp = s->next;
            s->next = NULL;
            atomic_fetch_sub(&g_sessions_total, 1);
            break;
        }
    }
    if ((*pp)->sessions == NULL) {
        struct account_entry *e = *pp;
        *pp = e->next;
        free(e);
    }
}

int router_session_count(const char *bare)
{
    struct account_entry **pp = find_entry(self_rw(), bare);
    int n = 0;
    for (struct router_session *s = *pp ? (*pp)->sessions : NULL; s; s = s->next) {
        n++;
    }
    return n;
}

void router_sessions_foreach(router_session_fn *fn, void *ud)
{
    struct router_worker *rw = self_rw();
    for (size_t i = 0; rw && i < ROUTER_BUCKETS; i++) {
        for (struct account_entry *e = rw->buckets[i]; e; e = e->next) {
            for (struct router_session *s = e->sessions; s; s = s->next) {
                fn(ud, s);
            }
        }
    }
}

struct router_session *router_sessions(const char *bare)
{
    struct router_worker *rw = self_rw();
    struct account_entry *e = rw ? *find_entry(rw, bare) : NULL;
    return e ? e->sessions : NULL;
}

void router_account_end(const char *bare, const char *condition, const char *text)
{
    /* Taken first: an end may remove its session from the list at once. */
    int n = router_session_count(bare);
    if (n == 0) {
        return;
    }
    struct router_session **all = xcalloc((size_t)n, sizeof(*all));
    int i = 0;
    for (struct router_session *s = router_sessions(bare); s && i < n; s = s->next) {
        all[i++] = s;
    }
    for (int k = 0; k < i; k++) {
        if (all[k]->end) {
            all[k]->end(all[k], condition, text);
        }
    }
    free(all);
}

struct router_session *router_sessions_of(const struct jid *account)
{
    struct router_worker *rw = self_rw();
    struct account_entry *e = rw && account->local ? find_account(rw, account) : NULL;
    return e ? e->sessions : NULL;
}

/* Local domains and aliases, cached per worker and reloaded when an admin change bumps the
 * generation counter. */
static int add_domain_row(void *ud, const char *a, const char *b)
{
    (void)b;
    struct router_worker *rw = ud;
    if (rw->ndomains == rw->domains_cap) {
        rw->domains_cap = rw->domains_cap ? rw->domains_cap * 2 : 16;
        rw->domains = xrealloc(rw->domains, rw->domains_cap * sizeof(*rw->domains));
    }
    rw->domains[rw->ndomains].name = xstrdup(a);
    rw->domains[rw->ndomains].canonical = xstrdup(a);
    rw->ndomains++;
    return 0;
}

struct alias_ctx {
    struct router_worker *rw;
    const char *domain;
};

static int add_alias_row(void *ud, const char *a, const char *b)
{
    (void)b;
    struct alias_ctx *ac = ud;
    add_domain_row(ac->rw, a, NULL);
    free(ac->rw->domains[ac->rw->ndomains - 1].canonical);
    ac->rw->domains[ac->rw->ndomains - 1].canonical = xstrdup(ac->domain);
    return 0;
}

static void reload_domains(struct router_worker *rw, struct store *st)
{
    clear_domains(rw);
    store_domain_list(st, add_domain_row, rw);
    size_t n = rw->ndomains;
    for (size_t i = 0; i < n; i++) {
        struct alias_ctx ac = { rw, rw->domains[i].name };
        store_alias_list(st, ac.domain, add_alias_row, &ac);
    }
}

/* The canonical name of a local domain or alias (the cache's string, valid until the next
 * reload), or NULL when `domain` is not local. */
static const char *canonical_domain(const char *domain)
{
    struct worker_ctx *wc = worker_ctx();
    struct router_worker *rw = wc->router;
    unsigned gen = atomic_load(&g_server.domains_gen);
    if (!rw->domains_loaded || gen != rw->domains_gen) {
        rw->domains_gen = gen;
        rw->domains_loaded = true;
        reload_domains(rw, wc->store);
    }
    for (size_t i = 0; i < rw->ndomains; i++) {
        if (strcmp(rw->domains[i].name, domain) == 0) {
            return rw->domains[i].canonical;
        }
    }
    return NULL;
}

bool router_is_local_domain(const char *domain, struct buf *out)
{
    const char *canonical = canonical_domain(domain);
    if (canonical && out) {
        buf_reset(out);
        buf_append_c(out, canonical);
    }
    return canonical != NULL;
}

void router_reply_error(const struct signal *req, const char *type, const char *condition)
{
    if (req->type && strcmp(req->type, "error") == 0) {
        return;
    }
    if (req->method == SIGNAL_INFO && req->type && (strcmp(req->type, "result") == 0)) {
        return;
    }
    if (req->from.domain == NULL) {
        return;
    }
    struct signal *err = signal_error_new(req, type, condition);
    if (err) {
        router_submit(err);
    }
}

/* Sessions of one account that take a message to the bare JID without a heap allocation. */
#define ROUTER_FEW_TARGETS 16

static bool is_target(const struct router_session *s, int best, bool headline)
{
    return s->available && s->priority >= 0 && (headline || s->priority == best);
}

/* RFC 6121 §8.5.2.1: a message to the bare JID goes to the available resources with the
 * highest non-negative priority (all of them for headline); the other carbons-enabled
 * resources get a copy (XEP-0280). */
static int deliver_to_bare(struct account_entry *e, struct signal *sig)
{
    int best = -1;
    for (struct router_session *s = e ? e->sessions : NULL; s; s = s->next) {
        if (s->available && s->priority >= 0 && s->priority > best) {
            best = s->priority;
        }
    }
    if (best < 0) {
        return ERR_NOTFOUND;
    }
    bool headline = sig->type && strcmp(sig->type, "headline") == 0;
    size_t n = 0;
    for (struct router_session *s = e->sessions; s; s = s->next) {
        n += is_target(s, best, headline);
    }
    /* Every session that qualifies gets it: on the stack for the usual few, else on the heap. */
    struct router_session *few[ROUTER_FEW_TARGETS];
    struct router_session **targets = n <= ROUTER_FEW_TARGETS ? few : xcalloc(n, sizeof(*targets));
    size_t k = 0;
    for (struct router_session *s = e->sessions; s; s = s->next) {
        if (is_target(s, best, headline)) {
            targets[k++] = s;
        }
    }
    g_im->carbons_received(e->sessions, sig, targets, n);
    for (size_t i = 0; i < n; i++) {
        struct signal *copy = (i + 1 == n) ? sig : signal_dup(sig);
        targets[i]->deliver(targets[i]->ud, copy);
    }
    if (targets != few) {
        free(targets);
    }
    return 0;
}

static struct router_session *find_resource(struct account_entry *e, const char *resource)
{
    for (struct router_session *s = e ? e->sessions : NULL; s; s = s->next) {
        if (strcmp(s->resource, resource) == 0) {
            return s;
        }
    }
    return NULL;
}

static bool type_is(const struct signal *sig, const char *t)
{
    return sig->type && strcmp(sig->type, t) == 0;
}

static int account_exists(const struct signal *sig)
{
    struct worker_ctx *wc = worker_ctx();
    return accounts_account_exists(wc->store, sig->to.domain, sig->to.local) == 1;
}

static int deliver_message(struct account_entry *e, struct signal *sig)
{
    if (sig->to.resource) {
        struct router_session *s = find_resource(e, sig->to.resource);
        if (s) {
            if (!type_is(sig, "error") && !type_is(sig, "groupchat")) {
                g_im->carbons_received(e->sessions, sig, &s, 1);
            }
            s->deliver(s->ud, sig);
            return 0;
        }
        /* RFC 6121 §8.5.3.2.1: no such resource. */
        if (type_is(sig, "groupchat")) {
            router_reply_error(sig, "cancel", "service-unavailable");
            signal_free(sig);
            return ERR_NOTFOUND;
        }
        if (type_is(sig, "headline") || type_is(sig, "error")) {
            signal_free(sig);
            return 0;
        }
    }
    if (type_is(sig, "error")) {
        signal_free(sig);
        return 0;
    }
    if (type_is(sig, "groupchat")) {
        router_reply_error(sig, "cancel", "service-unavailable");
        signal_free(sig);
        return ERR_NOTFOUND;
    }
    int code = deliver_to_bare(e, sig);
    if (code == 0) {
        return code;
    }
    /* No resource takes it: offline storage, or dropped or refused by type (§8.5.2.2). */
    return g_im->offline_message(sig);
}

static int deliver_info(struct account_entry *e, struct signal *sig)
{
    if (sig->to.resource) {
        struct router_session *s = find_resource(e, sig->to.resource);
        if (s) {
            s->deliver(s->ud, sig);
            return 0;
        }
        router_reply_error(sig, "cancel", "service-unavailable");
        signal_free(sig);
        return ERR_NOTFOUND;
    }
    /* An iq to the bare JID is answered by the server on the account's behalf. */
    return g_services(sig, true);
}

/* Subscriptions, probes and availability: the IM core's presence logic (im/presence.c). */
static int deliver_presence(struct account_entry *e, struct signal *sig)
{
    g_im->inbound_presence(e ? e->sessions : NULL, sig, true);
    return 0;
}

/* Runs on the account's home worker. */
static void deliver_home(struct worker *w, void *arg)
{
    (void)w;
    struct signal *sig = arg;
    struct account_entry *e = find_account(self_rw(), &sig->to);
    if (e == NULL && !account_exists(sig)) {
        if (sig->method == SIGNAL_SUBSCRIBE || sig->method == SIGNAL_NOTIFY) {
            g_im->inbound_presence(NULL, sig, false);
            return;
        }
        if (sig->method == SIGNAL_MESSAGE || sig->method == SIGNAL_INFO) {
            router_reply_error(sig, "cancel", "service-unavailable");
        }
        signal_free(sig);
        return;
    }
    if (g_im->inbound_blocked(sig)) {
        return;
    }
    switch (sig->method) {
    case SIGNAL_MESSAGE:
        if (g_im->inbound_message) {
            g_im->inbound_message(sig);
        }
        deliver_message(e, sig);
        break;
    case SIGNAL_INFO:
        deliver_info(e, sig);
        break;
    case SIGNAL_SUBSCRIBE:
    case SIGNAL_NOTIFY:
        deliver_presence(e, sig);
        break;
    }
}

static void log_route(const struct signal *sig, const char *what)
{
    if (!log_enabled(LOG_TAG_XMPPS, LOG_ALLINFO)) {
        return;
    }
    struct buf from, to;
    buf_init(&from, 4096);
    buf_init(&to, 4096);
    jid_full(&sig->from, &from);
    jid_full(&sig->to, &to);
    log_rec(LOG_TAG_XMPPS, LOG_ALLINFO, 0, NULL, "%s %s -> %s: %s", signal_method_name(sig->method),
            buf_cstr(&from), buf_cstr(&to), what);
    buf_cleanup(&from);
    buf_cleanup(&to);
}

static const struct router_component *g_components[ROUTER_MAX_COMPONENTS];
static int g_ncomponents;
static router_remote_fn *g_remote;

void router_register_component(const struct router_component *c)
{
    if (g_ncomponents < ROUTER_MAX_COMPONENTS) {
        g_components[g_ncomponents++] = c;
    }
}

void router_set_remote(router_remote_fn *fn)
{
    g_remote = fn;
}

static router_cluster_fn *g_cluster;
/* Set while router_submit_here's signal takes its first routing decision on this thread. */
static __thread bool t_here;

void router_set_cluster(router_cluster_fn *fn)
{
    g_cluster = fn;
}

/* The cluster hook's answer for `sig`, unless it came from another node to be delivered here
 * (`here`). */
static bool sent_to_other_node(struct signal *sig, bool here)
{
    return !here && g_cluster != NULL && g_cluster(sig);
}

void router_submit_here_now(struct signal *sig)
{
    t_here = true;
    router_submit(sig);
    t_here = false;
}

static void submit_here_on_worker(struct worker *w, void *arg)
{
    (void)w;
    router_submit_here_now(arg);
}

void router_submit_here(struct signal *sig)
{
    struct buf key;
    buf_init(&key, 3 * JID_PART_MAX + 2);
    jid_bare(&sig->to, &key);
    worker_post(worker_home(buf_strv(&key)), submit_here_on_worker, sig);
    buf_cleanup(&key);
}

bool router_is_hosted_domain(const char *domain)
{
    if (domain == NULL || worker_ctx() == NULL) {
        return false;
    }
    if (router_is_local_domain(domain, NULL)) {
        return true;
    }
    for (int i = 0; i < g_ncomponents; i++) {
        if (g_components[i]->owns(domain)) {
            return true;
        }
    }
    return false;
}

static void submit_on_worker(struct worker *w, void *arg)
{
    (void)w;
    router_submit(arg);
}

/* Neither a local domain nor a component's: a remote server's, or nobody's. */
static int route_elsewhere(struct signal *sig, bool here)
{
    for (int i = 0; i < g_ncomponents; i++) {
        if (g_components[i]->owns(sig->to.domain)) {
            if (sig->to.local != NULL && sent_to_other_node(sig, here)) {
                return 0;
            }
            log_route(sig, g_components[i]->name);
            return g_components[i]->deliver(sig);
        }
    }
    if (g_remote) {
        log_route(sig, "remote domain");
        return g_remote(sig);
    }
    log_route(sig, "remote domain, no server-to-server route");
    if (sig->method != SIGNAL_NOTIFY && sig->method != SIGNAL_SUBSCRIBE) {
        router_reply_error(sig, "cancel", "remote-server-not-found");
    }
    signal_free(sig);
    return ERR_NOTFOUND;
}

/* The home worker of an address with a localpart (an account), hashed from its parts: the
 * bare JID is not printed per message. */
static int home_of(const struct jid *j)
{
    return worker_home_bare(strv_c(j->local), strv_c(j->domain));
}

void router_thread_cleanup(void)
{
    /* Nothing is kept per thread any more (the home worker is hashed from the parts); kept as
     * the thread-end hook main.c calls. */
}

int router_submit(struct signal *sig)
{
    bool here = t_here; /* from another node: its first decision is "here" */
    t_here = false;
    if (sig->to.domain == NULL) {
        signal_free(sig);
        return ERR_INVAL;
    }
    if (worker_self() == NULL) {
        /* From a thread that is no worker (the admin socket): routing needs a worker's caches
         * and store, so the signal starts on the home worker of its destination. */
        struct buf key;
        buf_init(&key, 3 * JID_PART_MAX + 2);
        jid_bare(&sig->to, &key);
        worker_post(worker_home(buf_strv(&key)), submit_on_worker, sig);
        buf_cleanup(&key);
        return 0;
    }
    const char *canonical = canonical_domain(sig->to.domain);
    if (canonical == NULL) {
        return route_elsewhere(sig, here);
    }
    /* Aliases resolve to their domain (a prepared name, as the other parts are) before
     * delivery. */
    if (strcmp(canonical, sig->to.domain) != 0) {
        free(sig->to.domain);
        sig->to.domain = xstrdup(canonical);
    }
    if (sig->to.local == NULL) {
        if (sig->to.resource != NULL) {
            log_route(sig, "server resource");
            router_reply_error(sig, "cancel", "service-unavailable");
            signal_free(sig);
            return ERR_NOTFOUND;
        }
        log_route(sig, "server");
        return g_services(sig, false);
    }
    if (sent_to_other_node(sig, here)) {
        return 0;
    }
    int home = home_of(&sig->to);
    log_route(sig, "account");
    struct worker *self = worker_self();
    if (self && self->id == home) {
        deliver_home(self, sig);
    } else {
        worker_post(home, deliver_home, sig);
    }
    return 0;
}

/* ---- what the fan-out (fanout.c) needs of the router ---- */

static const struct router_cluster_fanout *g_cluster_fanout;

void router_set_cluster_fanout(const struct router_cluster_fanout *h)
{
    g_cluster_fanout = h;
}

const struct router_cluster_fanout *router__cluster_fanout(void)
{
    return g_cluster_fanout;
}

unsigned router__route_gen(void)
{
    /* Odd, so never 0 ("never worked out"); a cluster hook changes every route. */
    return atomic_load(&g_server.domains_gen) * 4u + (g_cluster != NULL ? 2u : 0u) + 1u;
}

int router__local_home(const struct jid *to, bool here)
{
    if ((g_cluster != NULL && !here) || worker_self() == NULL || to->local == NULL ||
        to->domain == NULL || to->resource == NULL) {
        return -1;
    }
    /* An alias takes router_submit's way, which writes its domain into the signal. */
    const char *canonical = canonical_domain(to->domain);
    if (canonical == NULL || strcmp(canonical, to->domain) != 0) {
        return -1;
    }
    return home_of(to);
}

/* What deliver_home does with a message of type groupchat for a session that is there:
 * nothing but the blocking check, the inbound hook and the delivery (no carbons, no offline
 * storage). */
static bool lendable(const struct signal *sig)
{
    return sig->method == SIGNAL_MESSAGE && type_is(sig, "groupchat") &&
           g_im->inbound_blocks != NULL;
}

void router__deliver_lent(const struct signal *sig, size_t hash)
{
    log_route(sig, "account");
    struct account_entry *e = find_account_hashed(self_rw(), &sig->to, hash);
    struct router_session *s = e && lendable(sig) ? find_resource(e, sig->to.resource) : NULL;
    if (s == NULL || g_im->inbound_blocks(sig)) {
        /* Everything else (no such session or account, blocked, another type) takes
         * router_submit's way from the home worker on, with a copy. */
        deliver_home(NULL, signal_dup(sig));
        return;
    }
    struct signal m = *sig;
    if (g_im->inbound_message) {
        g_im->inbound_message(&m);
    }
    bool replaced = m.xmpp_data != sig->xmpp_data;
    if (replaced && sig->xmpp_data) {
        /* The hook released a reference to the shared stanza: the caller's spare one. */
        xml_node_ref(sig->xmpp_data);
    }
    bool detached = m.att != sig->att;
    if (detached && sig->att) {
        signal_ref_get(sig->att); /* the same for an attachment the hook released */
    }
    if (s->lend) {
        s->lend(s->ud, &m);
    } else {
        s->deliver(s->ud, signal_dup(&m));
    }
    if (replaced && m.xmpp_data) {
        xml_node_unref(m.xmpp_data);
    }
    if (detached) {
        signal_ref_put(m.att);
    }
}
