/* notify.c: who hears of a PEP node's events (XEP-0163 §4): the explicit subscribers and the
 * available JIDs seen by the account (its own sessions, its contacts' presence) whose entity
 * capabilities (XEP-0115) list `<node>+notify`. Capabilities are resolved once per verification
 * string and kept for the whole server; the presence state lives on the account's home worker. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/module.h"
#include "core/server.h"
#include "im/im.h"
#include "pubsub/pubsub_int.h"
#include "signal/router.h"
#include "store/store_im.h"
#include "store/store_pubsub.h"
#include "xml/ns.h"

/* Available JIDs kept per account beyond its own sessions and its contacts with a presence
 * subscription: directed presence from strangers cannot grow the list without bound. */
#define PEERS_MAX_OTHERS 256
/* Capabilities kept at most; past it a new one is resolved for each presence again. */
#define CAPS_CACHE_MAX 4096
#define CAPS_ID_PREFIX "pepcaps:"

struct caps_entry {
    struct caps_entry *next;
    char *key;   /* the verification string (or node#ver for the legacy form) */
    char *nodes; /* "\nnode\n…": the +notify nodes */
};

static struct {
    pthread_mutex_t lock;
    struct caps_entry *list;
    int count;
} g_caps = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* One available JID seen by an account. */
struct peer {
    struct peer *next;
    char *full;
    char *caps;  /* the capabilities key, NULL when its presence had none */
    char *nodes; /* the +notify nodes once resolved, else NULL */
    bool own;
    bool from_sub; /* the contact receives the account's presence */
    char *groups;  /* its roster groups "a\nb\n" */
};

struct pep_account {
    struct pep_account *next;
    char *bare;
    struct peer *peers;
};

struct pubsub_worker {
    struct pep_account *accounts;
};

static char *caps_lookup(const char *key)
{
    char *nodes = NULL;
    pthread_mutex_lock(&g_caps.lock);
    for (struct caps_entry *e = g_caps.list; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            nodes = xstrdup(e->nodes);
            break;
        }
    }
    pthread_mutex_unlock(&g_caps.lock);
    return nodes;
}

static void caps_store(const char *key, const char *nodes)
{
    pthread_mutex_lock(&g_caps.lock);
    bool known = false;
    for (struct caps_entry *e = g_caps.list; e && !known; e = e->next) {
        known = strcmp(e->key, key) == 0;
    }
    if (!known && g_caps.count < CAPS_CACHE_MAX) {
        struct caps_entry *e = xcalloc(1, sizeof(*e));
        e->key = xstrdup(key);
        e->nodes = xstrdup(nodes);
        e->next = g_caps.list;
        g_caps.list = e;
        g_caps.count++;
    }
    pthread_mutex_unlock(&g_caps.lock);
}

static struct pubsub_worker *worker_state(void)
{
    return module_slot_make(&pubsub_module, sizeof(struct pubsub_worker));
}

static void peer_free(struct peer *p)
{
    free(p->full);
    free(p->caps);
    free(p->nodes);
    free(p->groups);
    free(p);
}

void pubsub__worker_free(void)
{
    struct pubsub_worker *w = *module_slot(&pubsub_module);
    if (w == NULL) {
        return;
    }
    while (w->accounts) {
        struct pep_account *a = w->accounts;
        w->accounts = a->next;
        while (a->peers) {
            struct peer *p = a->peers;
            a->peers = p->next;
            peer_free(p);
        }
        free(a->bare);
        free(a);
    }
    module_slot_free(&pubsub_module);
}

static struct pep_account *account_find(const char *bare, bool make)
{
    struct pubsub_worker *w = worker_state();
    for (struct pep_account *a = w->accounts; a; a = a->next) {
        if (strcmp(a->bare, bare) == 0) {
            return a;
        }
    }
    if (!make) {
        return NULL;
    }
    struct pep_account *a = xcalloc(1, sizeof(*a));
    a->bare = xstrdup(bare);
    a->next = w->accounts;
    w->accounts = a;
    return a;
}

static void account_drop_if_empty(struct pep_account *acc)
{
    struct pubsub_worker *w = worker_state();
    if (acc->peers != NULL) {
        return;
    }
    for (struct pep_account **pp = &w->accounts; *pp; pp = &(*pp)->next) {
        if (*pp == acc) {
            *pp = acc->next;
            free(acc->bare);
            free(acc);
            return;
        }
    }
}

static bool wants(const struct peer *p, const char *node)
{
    if (p->nodes == NULL) {
        return false;
    }
    size_t n = strlen(node);
    for (const char *s = strstr(p->nodes, node); s; s = strstr(s + 1, node)) {
        if (s > p->nodes && s[-1] == '\n' && s[n] == '\n') {
            return true;
        }
    }
    return false;
}

static bool in_groups(const char *groups, const char *allowed)
{
    for (const char *g = allowed; *g;) {
        const char *nl = strchr(g, '\n');
        size_t n = nl ? (size_t)(nl - g) : strlen(g);
        for (const char *h = groups; h && *h;) {
            const char *hn = strchr(h, '\n');
            size_t m = hn ? (size_t)(hn - h) : strlen(h);
            if (m == n && memcmp(g, h, n) == 0) {
                return true;
            }
            h = hn ? hn + 1 : NULL;
        }
        if (nl == NULL) {
            break;
        }
        g = nl + 1;
    }
    return false;
}

/* The affiliation of a bare JID with a node ("" none). */
struct aff_find {
    const char *bare;
    char value[32];
};

static int aff_row(void *ud, const char *jid, const char *value)
{
    struct aff_find *f = ud;
    if (strcmp(jid, f->bare) == 0) {
        snprintf(f->value, sizeof(f->value), "%s", value);
        return 1;
    }
    return 0;
}

static int sub_row(void *ud, const char *jid, const char *value);

/* The affiliation (or, `subscription`, the subscription state) of a bare JID with the owner's
 * node; "" when none. */
static void state_of(const struct jid *owner, const char *node, const char *bare, bool subscription,
                     char *out, size_t size)
{
    struct buf host;
    buf_init(&host, 3 * 1024 + 2);
    pubsub__host(owner, &host);
    struct aff_find f = { .bare = bare };
    struct store *st = worker_ctx()->store;
    if (subscription) {
        store_pubsub_sub_list(st, buf_cstr(&host), node, sub_row, &f);
    } else {
        store_pubsub_aff_list(st, buf_cstr(&host), node, aff_row, &f);
    }
    snprintf(out, size, "%s", f.value);
    buf_cleanup(&host);
}

static void aff_of(const struct jid *owner, const char *node, const char *bare, char *out,
                   size_t size)
{
    state_of(owner, node, bare, false, out, size);
}

/* The decision of the access model for a non-owner, from its roster state and affiliation:
 * NULL when allowed, else the pubsub#errors condition. */
static const char *denial(const struct pubsub_config *c, bool from_sub, const char *groups,
                          const char *aff)
{
    if (strcmp(aff, "outcast") == 0) {
        return "outcast";
    }
    bool affiliated = strcmp(aff, "publisher") == 0 || strcmp(aff, "member") == 0;
    switch (c->access) {
    case PUBSUB_ACCESS_OPEN:
        return NULL;
    case PUBSUB_ACCESS_PRESENCE:
        return from_sub || affiliated ? NULL : "presence-subscription-required";
    case PUBSUB_ACCESS_ROSTER:
        return (from_sub && in_groups(groups, c->groups)) || affiliated ? NULL
                                                                        : "not-in-roster-group";
    case PUBSUB_ACCESS_AUTHORIZE:
        /* `aff` carries the subscription state here when not affiliated (pubsub__access). */
        return affiliated || strcmp(aff, "subscribed") == 0 ? NULL
               : strcmp(aff, "pending") == 0                ? "pending-subscription"
                                                            : "not-subscribed";
    default:
        return affiliated ? NULL : "closed-node";
    }
}

/* The subscription state of a bare JID (any of its resources) with the owner's node. */
static int sub_row(void *ud, const char *jid, const char *value)
{
    struct aff_find *f = ud;
    size_t n = strlen(f->bare);
    if (strncmp(jid, f->bare, n) == 0 && (jid[n] == '\0' || jid[n] == '/')) {
        snprintf(f->value, sizeof(f->value), "%s", value);
        return strcmp(value, "subscribed") == 0;
    }
    return 0;
}


/* The roster state of `contact` (a bare JID text) in the owner's roster. */
static void roster_state(const struct jid *owner, const char *contact, bool *from_sub,
                         char **groups)
{
    struct im_item it;
    *from_sub = false;
    *groups = NULL;
    if (im_item_load(owner, contact, &it) == 0) {
        *from_sub = it.exists && (it.sub & STORE_SUB_FROM);
        *groups = it.groups ? xstrdup(it.groups) : NULL;
        im_item_free(&it);
    }
}

int pubsub__access(const struct jid *owner, const char *node, const struct pubsub_config *c,
                   const struct jid *who, struct service_ctx *ctx)
{
    if (jid_bare_eq(owner, who)) {
        return 0;
    }
    struct buf bare;
    buf_init(&bare, 3 * 1024 + 2);
    jid_bare(who, &bare);
    char aff[32];
    aff_of(owner, node, buf_cstr(&bare), aff, sizeof(aff));
    if (c->access == PUBSUB_ACCESS_AUTHORIZE && aff[0] == '\0') {
        state_of(owner, node, buf_cstr(&bare), true, aff, sizeof(aff));
    }
    bool from_sub = false;
    char *groups = NULL;
    if (c->access == PUBSUB_ACCESS_PRESENCE || c->access == PUBSUB_ACCESS_ROSTER) {
        roster_state(owner, buf_cstr(&bare), &from_sub, &groups);
    }
    const char *why = denial(c, from_sub, groups ? groups : "", aff);
    free(groups);
    buf_cleanup(&bare);
    if (why == NULL) {
        return 0;
    }
    if (ctx == NULL) {
        return ERR_DENIED;
    }
    if (strcmp(why, "outcast") == 0) {
        return pubsub__error(ctx, "auth", "forbidden", NULL, NULL);
    }
    if (strcmp(why, "closed-node") == 0) {
        return pubsub__error(ctx, "cancel", "not-allowed", why, NULL);
    }
    return pubsub__error(ctx, "auth", "not-authorized", why, NULL);
}

/* May the available `p` hear of the owner's node? */
static bool peer_allowed(const struct jid *owner, const char *node, const struct pubsub_config *c,
                         const struct peer *p)
{
    if (p->own || c->access == PUBSUB_ACCESS_OPEN) {
        return true;
    }
    char bare[3 * 1024 + 2];
    const char *slash = strchr(p->full, '/');
    snprintf(bare, sizeof(bare), "%.*s", (int)(slash ? slash - p->full : (long)strlen(p->full)),
             p->full);
    char aff[32] = "";
    if (c->access == PUBSUB_ACCESS_WHITELIST || !p->from_sub) {
        aff_of(owner, node, bare, aff, sizeof(aff));
    }
    return denial(c, p->from_sub, p->groups ? p->groups : "", aff) == NULL;
}

/* Recipients already sent to, so a JID that is both subscriber and +notify hears once. */
struct sent {
    char **jids;
    size_t n;
};

static bool sent_once(struct sent *s, const char *jid)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->jids[i], jid) == 0) {
            return false;
        }
    }
    s->jids = xrealloc(s->jids, (s->n + 1) * sizeof(*s->jids));
    s->jids[s->n++] = xstrdup(jid);
    return true;
}

struct sub_send {
    const struct jid *owner;
    struct xml_node *msg;
    struct xml_node *body_msg; /* NULL until a subscriber asks for a body */
    struct sent *sent;
};

/* The notification with a <body/> (pubsub#include_body), made once per event. */
static struct xml_node *with_body(struct sub_send *s)
{
    if (s->body_msg == NULL) {
        s->body_msg = xml_node_copy(s->msg);
        const struct xml_node *ev = xml_node_child(s->msg, NS_PUBSUB_EVENT, "event");
        const struct xml_node *what = ev ? xml_node_first_element(ev) : NULL;
        const char *node = what ? xml_node_attr(what, "node") : NULL;
        struct buf text;
        buf_init(&text, 8 * 1024);
        buf_printf(&text, "Publish-subscribe event (%s) on node %s", what ? what->name : "",
                   node ? node : "");
        xml_node_add_text(xml_node_add_child(s->body_msg, NULL, "body"), buf_cstr(&text), text.len);
        buf_cleanup(&text);
    }
    return s->body_msg;
}

/* An explicit subscriber, as its options say: pubsub#deliver false hears nothing (not even
 * through +notify), pubsub#include_body adds a body. */
static int sub_send(void *ud, const char *jid, const char *value, const char *options)
{
    struct sub_send *s = ud;
    if (strcmp(value, "subscribed") != 0 || !sent_once(s->sent, jid)) {
        return 0;
    }
    struct pubsub_subopts o;
    pubsub__subopts_parse(&o, options);
    if (o.deliver) {
        pubsub__send_message(s->owner, jid, o.include_body ? with_body(s) : s->msg);
    }
    return 0;
}

void pubsub__notify(const struct jid *owner, const char *node, const struct pubsub_config *c,
                    const struct xml_node *event_child)
{
    if (!c->deliver_notifications) {
        return;
    }
    struct buf host;
    buf_init(&host, 3 * 1024 + 2);
    pubsub__host(owner, &host);
    struct xml_node *msg = pubsub__event_message(c, event_child);
    struct sent sent = { 0 };
    struct sub_send ss = { owner, msg, NULL, &sent };
    store_pubsub_sub_each(worker_ctx()->store, buf_cstr(&host), node, sub_send, &ss);
    struct pep_account *acc = account_find(buf_cstr(&host), false);
    for (struct peer *p = acc ? acc->peers : NULL; p; p = p->next) {
        if (wants(p, node) && peer_allowed(owner, node, c, p) && sent_once(&sent, p->full)) {
            pubsub__send_message(owner, p->full, msg);
        }
    }
    for (size_t i = 0; i < sent.n; i++) {
        free(sent.jids[i]);
    }
    free(sent.jids);
    if (ss.body_msg != NULL) {
        xml_node_unref(ss.body_msg);
    }
    xml_node_unref(msg);
    buf_cleanup(&host);
}

struct last_ctx {
    struct xml_node *items;
    int n;
};

static int last_item(void *ud, const char *id, const char *publisher, const char *payload)
{
    struct last_ctx *l = ud;
    pubsub__item_append(l->items, id, publisher, payload);
    l->n++;
    return 0;
}

void pubsub__send_last(const struct jid *owner, const char *node, const struct pubsub_config *c,
                       const char *to)
{
    struct buf host;
    buf_init(&host, 3 * 1024 + 2);
    pubsub__host(owner, &host);
    struct last_ctx l = { .items = xml_node_new(NS_PUBSUB_EVENT, "items") };
    xml_node_set_attr(l.items, "node", node);
    store_pubsub_items(worker_ctx()->store, buf_cstr(&host), node, NULL, 1, last_item, &l);
    if (l.n > 0) {
        struct xml_node *msg = pubsub__event_message(c, l.items);
        pubsub__send_message(owner, to, msg);
        xml_node_unref(msg);
    }
    xml_node_unref(l.items);
    buf_cleanup(&host);
}

struct presence_last {
    const struct jid *owner;
    const struct peer *peer;
};

static int node_last(void *ud, const char *node, const char *config, long long items,
                     long long bytes)
{
    (void)bytes;
    struct presence_last *pl = ud;
    if (items == 0 || !wants(pl->peer, node)) {
        return 0;
    }
    struct pubsub_config c;
    pubsub__config_parse(&c, config);
    if (c.send_last == PUBSUB_SEND_ON_SUB_AND_PRESENCE &&
        peer_allowed(pl->owner, node, &c, pl->peer)) {
        pubsub__send_last(pl->owner, node, &c, pl->peer->full);
    }
    return 0;
}

/* §4.3.2: a JID that became available (or whose capabilities just resolved) gets the last item
 * of each node it asks for. */
static void send_last_all(const struct jid *owner, const char *host, const struct peer *p)
{
    struct presence_last pl = { owner, p };
    store_pubsub_node_list(worker_ctx()->store, host, node_last, &pl);
}

static void ask_caps(const struct jid *owner, const struct peer *p, const char *node,
                     const char *ver)
{
    struct xml_node *iq = xml_node_new(NS_CLIENT, "iq");
    xml_node_set_attr(iq, "type", "get");
    struct buf id;
    buf_init(&id, 4096);
    buf_printf(&id, "%s%s", CAPS_ID_PREFIX, p->caps);
    xml_node_set_attr(iq, "id", buf_cstr(&id));
    struct xml_node *q = xml_node_add_child(iq, NS_DISCO_INFO, "query");
    buf_reset(&id);
    buf_printf(&id, "%s#%s", node ? node : "", ver);
    xml_node_set_attr(q, "node", buf_cstr(&id));
    buf_cleanup(&id);
    struct signal *s = signal_new(SIGNAL_INFO);
    jid_copy(&s->from, owner);
    if (jid_parse(&s->to, strv_c(p->full)) != 0) {
        signal_free(s);
        xml_node_unref(iq);
        return;
    }
    s->type = xstrdup("get");
    s->id = xstrdup(xml_node_attr(iq, "id"));
    s->xmpp_data = iq;
    router_submit(s);
}

static struct peer *peer_find(struct pep_account *acc, const char *full, struct peer ***at)
{
    for (struct peer **pp = &acc->peers; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->full, full) == 0) {
            if (at) {
                *at = pp;
            }
            return *pp;
        }
    }
    return NULL;
}

static struct peer *peer_new(struct pep_account *acc, const struct jid *user,
                             const struct jid *from, const char *full)
{
    struct peer *p = xcalloc(1, sizeof(*p));
    p->full = xstrdup(full);
    p->own = jid_bare_eq(user, from);
    if (!p->own) {
        struct buf bare;
        buf_init(&bare, 3 * 1024 + 2);
        jid_bare(from, &bare);
        roster_state(user, buf_cstr(&bare), &p->from_sub, &p->groups);
        buf_cleanup(&bare);
    }
    p->next = acc->peers;
    acc->peers = p;
    return p;
}

/* The account's available JIDs that are neither its own nor subscribed to its presence. */
static int others(const struct pep_account *acc)
{
    int n = 0;
    for (const struct peer *p = acc->peers; p; p = p->next) {
        n += !p->own && !p->from_sub;
    }
    return n;
}

void pubsub__presence(const struct jid *user, const struct jid *from, const struct xml_node *pr)
{
    struct buf host, full;
    buf_init(&host, 3 * 1024 + 2);
    buf_init(&full, 3 * 1024 + 3);
    pubsub__host(user, &host);
    jid_full(from, &full);
    struct pep_account *acc = account_find(buf_cstr(&host), pr != NULL);
    struct peer **at = NULL;
    struct peer *p = acc ? peer_find(acc, buf_cstr(&full), &at) : NULL;
    if (pr == NULL) {
        if (p != NULL) {
            *at = p->next;
            peer_free(p);
            account_drop_if_empty(acc);
        }
        goto done;
    }
    const struct xml_node *c = xml_node_child(pr, NS_CAPS, "c");
    const char *node = c ? xml_node_attr(c, "node") : NULL;
    const char *ver = c ? xml_node_attr(c, "ver") : NULL;
    const char *hash = c ? xml_node_attr(c, "hash") : NULL;
    struct buf key;
    buf_init(&key, 4096);
    if (ver != NULL && ver[0] != '\0') {
        if (hash != NULL) {
            buf_append_c(&key, ver);
        } else {
            buf_printf(&key, "%s#%s", node ? node : "", ver);
        }
    }
    bool fresh = p == NULL;
    if (fresh) {
        p = peer_new(acc, user, from, buf_cstr(&full));
        if (!p->own && !p->from_sub && others(acc) > PEERS_MAX_OTHERS) {
            acc->peers = p->next;
            peer_free(p);
            buf_cleanup(&key);
            goto done;
        }
    } else if ((p->caps == NULL && key.len == 0) ||
               (p->caps != NULL && strcmp(p->caps, buf_cstr(&key)) == 0)) {
        buf_cleanup(&key);
        goto done; /* a presence update with the same capabilities */
    }
    free(p->caps);
    free(p->nodes);
    p->caps = key.len ? xstrdup(buf_cstr(&key)) : NULL;
    p->nodes = p->caps ? caps_lookup(p->caps) : NULL;
    if (p->nodes != NULL) {
        send_last_all(user, buf_cstr(&host), p);
    } else if (p->caps != NULL) {
        ask_caps(user, p, node, ver);
    }
    buf_cleanup(&key);
done:
    buf_cleanup(&host);
    buf_cleanup(&full);
}

/* The +notify nodes of a disco#info result, "\nnode\n…". */
static void notify_nodes(const struct xml_node *q, struct buf *out)
{
    buf_append_c(out, "\n");
    static const char suffix[] = "+notify";
    size_t sl = sizeof(suffix) - 1;
    for (const struct xml_node *f = xml_node_first_element(q); f; f = xml_node_next_element(f)) {
        const char *var = xml_node_attr(f, "var");
        size_t n = var ? strlen(var) : 0;
        if (strcmp(f->name, "feature") == 0 && n > sl && strcmp(var + n - sl, suffix) == 0) {
            buf_printf(out, "%.*s\n", (int)(n - sl), var);
        }
    }
}

void pubsub__result(const struct signal *sig)
{
    size_t pl = strlen(CAPS_ID_PREFIX);
    if (sig->id == NULL || strncmp(sig->id, CAPS_ID_PREFIX, pl) != 0 || sig->type == NULL ||
        strcmp(sig->type, "result") != 0 || sig->xmpp_data == NULL) {
        return;
    }
    const char *key = sig->id + pl;
    const struct xml_node *q = xml_node_child(sig->xmpp_data, NS_DISCO_INFO, "query");
    if (q == NULL) {
        return;
    }
    struct buf nodes, ver, host;
    buf_init(&nodes, 64 * 1024);
    buf_init(&ver, 64);
    buf_init(&host, 3 * 1024 + 2);
    notify_nodes(q, &nodes);
    /* Shared by the whole server only when the answer hashes to its verification string
     * (XEP-0115 §5.4); else it serves the JIDs of this account that are waiting for it. */
    if (services_caps_ver(q, &ver) == 0 && strcmp(buf_cstr(&ver), key) == 0) {
        caps_store(key, buf_cstr(&nodes));
    }
    pubsub__host(&sig->to, &host);
    struct pep_account *acc = account_find(buf_cstr(&host), false);
    for (struct peer *p = acc ? acc->peers : NULL; p; p = p->next) {
        if (p->nodes == NULL && p->caps != NULL && strcmp(p->caps, key) == 0) {
            p->nodes = xstrdup(buf_cstr(&nodes));
            send_last_all(&sig->to, buf_cstr(&host), p);
        }
    }
    buf_cleanup(&nodes);
    buf_cleanup(&ver);
    buf_cleanup(&host);
}
