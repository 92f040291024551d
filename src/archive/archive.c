/* archive.c: which messages an account's archive keeps (XEP-0313 §7 business rules, XEP-0334
 * hints, the account's preferences) and their stanza-ids (XEP-0359). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/archive_int.h"
#include "core/err.h"
#include "core/server.h"
#include "store/store_im.h"
#include "xml/ns.h"

long long archive_new_id(void)
{
    static atomic_llong last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
    long long prev = atomic_load(&last);
    long long next;
    do {
        next = now > prev ? now : prev + 1;
    } while (!atomic_compare_exchange_weak(&last, &prev, next));
    return next;
}

static bool type_is(const struct signal *sig, const char *t)
{
    return sig->type && strcmp(sig->type, t) == 0;
}

static bool ns_is(const struct xml_node *c, const char *ns)
{
    return c->ns && strcmp(c->ns, ns) == 0;
}

static bool is_encrypted(const struct xml_node *c)
{
    return (ns_is(c, NS_OMEMO_LEGACY) || ns_is(c, NS_OMEMO)) ? strcmp(c->name, "encrypted") == 0
           : ns_is(c, NS_OPENPGP)                            ? strcmp(c->name, "openpgp") == 0
                                                             : ns_is(c, NS_PGP_ENCRYPTED);
}

static bool is_body(const struct xml_node *c)
{
    return (ns_is(c, NS_CLIENT) || ns_is(c, NS_SERVER)) && strcmp(c->name, "body") == 0;
}

bool archive_worth(const struct signal *sig, const struct xml_node **body)
{
    *body = NULL;
    if (sig->method != SIGNAL_MESSAGE || type_is(sig, "error") || type_is(sig, "headline") ||
        type_is(sig, "groupchat") || sig->xmpp_data == NULL) {
        return false;
    }
    bool useful = false, store = false;
    for (const struct xml_node *c = xml_node_first_element(sig->xmpp_data); c;
         c = xml_node_next_element(c)) {
        if (ns_is(c, NS_HINTS)) {
            if (strcmp(c->name, "no-store") == 0 || strcmp(c->name, "no-permanent-store") == 0) {
                return false;
            }
            store = store || strcmp(c->name, "store") == 0;
        } else if (ns_is(c, NS_CARBONS) || ns_is(c, NS_MAM)) {
            /* A carbon copy or an archive result is a copy of a message archived already. */
            return false;
        } else if (is_body(c)) {
            useful = true;
            *body = c;
        } else if (is_encrypted(c)) {
            useful = true;
        }
    }
    return useful || store;
}

/* Is `peer` (a bare JID) on the list `list` of bare JIDs, each ended by '\n'? */
static bool on_list(const char *list, const char *peer)
{
    size_t n = strlen(peer);
    for (const char *p = list; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, peer, n) == 0) {
            return true;
        }
        p += len + (nl != NULL);
    }
    return false;
}

static int roster_found(void *ud, const struct store_roster_item *it)
{
    (void)it;
    *(bool *)ud = true;
    return 0;
}

/* Accounts known to have set no preferences (most), per worker thread, as of one generation of
 * archive_prefs_changed: a message of theirs costs no store read. Direct-mapped by a hash of
 * the bare JID; longer JIDs are not kept. */
#define NOPREFS_SLOTS 512
#define NOPREFS_JID_MAX 64
static atomic_ulong g_prefs_gen;
static __thread struct {
    unsigned long gen;
    char jid[NOPREFS_SLOTS][NOPREFS_JID_MAX];
} t_noprefs;

void archive_prefs_changed(void)
{
    atomic_fetch_add(&g_prefs_gen, 1);
}

static size_t noprefs_slot(const char *own)
{
    unsigned long long h = 14695981039346656037ULL;
    for (const char *p = own; *p; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    return (size_t)(h % NOPREFS_SLOTS);
}

/* The thread's cache, emptied when the preferences changed since it was filled. */
static void noprefs_sync(unsigned long gen)
{
    if (t_noprefs.gen != gen) {
        memset(&t_noprefs, 0, sizeof(t_noprefs));
        t_noprefs.gen = gen;
    }
}

/* The account's preferences (XEP-0313 §6.1) for a message with `peer`; none set: always. */
static bool prefs_allow(struct store *st, const struct jid *owner, const char *own,
                        const char *peer)
{
    unsigned long gen = atomic_load(&g_prefs_gen);
    noprefs_sync(gen);
    size_t slot = noprefs_slot(own);
    if (strcmp(t_noprefs.jid[slot], own) == 0) {
        return true;
    }
    struct buf mode, always, never;
    buf_init(&mode, 16);
    buf_init(&always, 1 << 20);
    buf_init(&never, 1 << 20);
    bool allow = true;
    int rc = store_archive_prefs_get(st, owner->domain, owner->local, &mode, &always, &never);
    if (rc == ERR_NOTFOUND && strlen(own) < NOPREFS_JID_MAX) {
        /* Tagged with the generation read before the look-up: a change committed meanwhile
         * empties the cache at the next message. */
        memcpy(t_noprefs.jid[slot], own, strlen(own) + 1);
    }
    if (rc == 0) {
        if (on_list(buf_cstr(&never), peer)) {
            allow = false;
        } else if (on_list(buf_cstr(&always), peer)) {
            allow = true;
        } else if (strcmp(buf_cstr(&mode), "never") == 0) {
            allow = false;
        } else if (strcmp(buf_cstr(&mode), "roster") == 0) {
            bool in = false;
            store_im_roster_get(st, owner->domain, owner->local, peer, roster_found, &in);
            allow = in;
        }
    }
    buf_cleanup(&mode);
    buf_cleanup(&always);
    buf_cleanup(&never);
    return allow;
}

/* A stanza-id by the owner's JID, which only this server may put there (XEP-0359 §3.3). */
static bool forged(const struct xml_node *c, const char *owner)
{
    if (!ns_is(c, NS_SID) || strcmp(c->name, "stanza-id") != 0) {
        return false;
    }
    const char *by = xml_node_attr(c, "by");
    return by && strcmp(by, owner) == 0;
}

/* Does the message carry a stanza-id by `owner` (forged: the stamped copy leaves it out)? */
static bool has_forged(const struct xml_node *m, const char *owner)
{
    for (const struct xml_node *c = xml_node_first_element(m); c; c = xml_node_next_element(c)) {
        if (forged(c, owner)) {
            return true;
        }
    }
    return false;
}

/* The message with <stanza-id id by/> and without the forged ones: a new tree (the original is
 * shared, read-only). */
static struct xml_node *stamped(const struct xml_node *m, const char *owner, long long id)
{
    struct xml_node *n = xml_node_new(m->ns, m->name);
    for (size_t i = 0; i < m->nattrs; i++) {
        xml_node_set_attr_ns(n, m->attrs[i].ns, m->attrs[i].name, m->attrs[i].value);
    }
    for (const struct xml_node *c = m->first_child; c; c = c->next) {
        if (c->name == NULL || !forged(c, owner)) {
            xml_node_append_copy(n, c);
        }
    }
    struct xml_node *sid = xml_node_add_child(n, NS_SID, "stanza-id");
    char num[24];
    snprintf(num, sizeof(num), "%lld", id);
    xml_node_set_attr(sid, "id", num);
    xml_node_set_attr(sid, "by", owner);
    return n;
}

/* An attribute of a start tag: its text (name='value'). */
struct attr_span {
    const char *p;
    size_t len;
};

static int span_order(const void *a, const void *b)
{
    const struct attr_span *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

#define ROOT_ATTRS_MAX 32

/* Puts the attributes of the serialized message's start tag in one order: the sender's and
 * the recipient's copies of a message may hold them in different orders (a rewritten `to`),
 * and the writer stores equal texts once. */
static void canonical_root(struct buf *text)
{
    char *s = text->p;
    size_t i = 0, end = 0;
    struct attr_span a[ROOT_ATTRS_MAX];
    size_t n = 0;
    while (i < text->len && s[i] != ' ' && s[i] != '>') {
        i++;
    }
    size_t start = i;
    while (i < text->len && s[i] != '>' && s[i] != '/' && n < ROOT_ATTRS_MAX) {
        while (i < text->len && s[i] == ' ') {
            i++;
        }
        size_t from = i;
        char quote = 0;
        for (; i < text->len && (quote || (s[i] != ' ' && s[i] != '>' && s[i] != '/')); i++) {
            quote = quote == 0 && (s[i] == '\'' || s[i] == '"') ? s[i] : quote == s[i] ? 0 : quote;
        }
        if (i > from) {
            a[n++] = (struct attr_span){ s + from, i - from };
        }
        end = i;
    }
    if (n < 2 || n >= ROOT_ATTRS_MAX || i >= text->len) {
        return;
    }
    qsort(a, n, sizeof(a[0]), span_order);
    char *sorted = xmalloc(end - start + 1);
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
        sorted[at++] = ' ';
        memcpy(sorted + at, a[k].p, a[k].len);
        at += a[k].len;
    }
    if (at == end - start) {
        memcpy(s + start, sorted, at);
    }
    free(sorted);
}

static char *bare_of(const struct jid *j)
{
    struct buf b;
    buf_init(&b, 3 * JID_PART_MAX + 2);
    jid_bare(j, &b);
    char *s = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return s;
}

void archive_message(struct signal *sig, bool outgoing)
{
    const struct xml_node *body;
    const struct jid *owner = outgoing ? &sig->from : &sig->to;
    const struct jid *peer = outgoing ? &sig->to : &sig->from;
    struct worker_ctx *wc = worker_ctx();
    /* The setting first: with archiving off, a message costs no look at its content. */
    if (wc == NULL || !wc->cfg->archive.enabled) {
        return;
    }
    if (owner->local == NULL || peer->domain == NULL || !archive_worth(sig, &body)) {
        return;
    }
    /* A settings change reaches the writer's purge with the next message. */
    archive_set_keep_days(wc->cfg->archive.keep_days);
    char *own = bare_of(owner);
    char *with = bare_of(peer);
    if (!prefs_allow(wc->store, owner, own, with)) {
        free(own);
        free(with);
        return;
    }
    long long id = archive_new_id();
    struct buf text, btext;
    buf_init(&text, 1 << 22);
    buf_init(&btext, 1 << 20);
    if (body) {
        xml_node_text(body, &btext); /* before the stamping frees the tree `body` is in */
    }
    /* The archived text is the message as its sender's archive keeps it, so that the writer
     * stores a message between two local accounts once (store_archive_add_many); a query adds
     * the recipient's stanza-id back. Only a message that carried a forged one is kept as
     * stamped. */
    bool keep_stamped = !outgoing && has_forged(sig->xmpp_data, own);
    int rc = keep_stamped ? 0 : signal_wire_serialize(sig, &text);
    if (!outgoing) {
        struct xml_node *n = stamped(sig->xmpp_data, own, id);
        xml_node_unref(sig->xmpp_data);
        sig->xmpp_data = n;
    }
    rc = keep_stamped ? signal_wire_serialize(sig, &text) : rc;
    if (rc == 0) {
        canonical_root(&text);
        struct store_archive_row r = {
            .id = id,
            .domain = owner->domain,
            .name = owner->local,
            .peer = with,
            .peer_res = peer->resource ? peer->resource : "",
            .outgoing = outgoing,
            .stanza = buf_cstr(&text),
            .body = body ? buf_cstr(&btext) : NULL,
        };
        archive__enqueue(&r);
    }
    buf_cleanup(&text);
    buf_cleanup(&btext);
    free(own);
    free(with);
}
