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
    char small[512];
    char *sorted = end - start < sizeof(small) ? small : xmalloc(end - start + 1);
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
        sorted[at++] = ' ';
        memcpy(sorted + at, a[k].p, a[k].len);
        at += a[k].len;
    }
    if (at == end - start) {
        memcpy(s + start, sorted, at);
    }
    if (sorted != small) {
        free(sorted);
    }
}

/* A worker's buffers for the message being archived, kept between messages (the archive's
 * per-side work costs no allocation but the queued row's); nothing called from
 * archive_message re-enters it. Freed by archive_thread_cleanup. */
static __thread struct {
    struct buf text, btext, own, with;
} t_scratch;

static void scratch_ready(void)
{
    if (t_scratch.text.max == 0) {
        buf_init(&t_scratch.text, 1 << 22);
        buf_init(&t_scratch.btext, 1 << 20);
        buf_init(&t_scratch.own, 3 * JID_PART_MAX + 2);
        buf_init(&t_scratch.with, 3 * JID_PART_MAX + 2);
    }
    buf_reset(&t_scratch.text);
    buf_reset(&t_scratch.btext);
    buf_reset(&t_scratch.own);
    buf_reset(&t_scratch.with);
}

void archive_thread_cleanup(void)
{
    buf_cleanup(&t_scratch.text);
    buf_cleanup(&t_scratch.btext);
    buf_cleanup(&t_scratch.own);
    buf_cleanup(&t_scratch.with);
}

/* Replaces the incoming message's P-XMPP-Data by its copy with the stanza-id `id` by `own`. */
static void stamp(struct signal *sig, const char *own, long long id)
{
    struct xml_node *n = stamped(sig->xmpp_data, own, id);
    xml_node_unref(sig->xmpp_data);
    sig->xmpp_data = n;
}

/* The recipient's side of a message whose sender's side serialized it on this process (the
 * text attached to the signal, `t`, still fits it): queues the row with the same text, stamps
 * the message. False when it does not fit. */
static bool archive_reused(struct signal *sig, struct archive_text *t, const char *own,
                           const char *with, long long id)
{
    if (t == NULL || !archive__text_fits(t, sig, own, with)) {
        return false;
    }
    archive__enqueue_text(t, false, id);
    stamp(sig, own, id);
    return true;
}

/* The recipient's side is done with the sender's text `t` (NULL: none), detached from its
 * signal: the text's reference on the message's tree and the attachment's are released. */
static void text_done(struct archive_text *t)
{
    if (t != NULL) {
        archive__text_compared(t);
        signal_ref_put(archive__text_ref(t));
    }
}

/* Serializes the message as its sender's archive keeps it into t_scratch.text (the
 * recipient's stamped copy only when it carried a forged stanza-id; else a query adds the
 * stanza-id back), stamping an incoming one; 0 or the wire's code. */
static int archived_text(struct signal *sig, bool outgoing, const char *own, long long id)
{
    struct buf *text = &t_scratch.text;
    bool keep_stamped = !outgoing && has_forged(sig->xmpp_data, own);
    int rc = keep_stamped ? 0 : signal_wire_serialize(sig, text);
    if (!outgoing) {
        stamp(sig, own, id);
    }
    rc = keep_stamped ? signal_wire_serialize(sig, text) : rc;
    if (rc == 0) {
        canonical_root(text);
    }
    return rc;
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
    scratch_ready();
    jid_bare(owner, &t_scratch.own);
    jid_bare(peer, &t_scratch.with);
    const char *own = buf_cstr(&t_scratch.own);
    const char *with = buf_cstr(&t_scratch.with);
    /* The sender's text, if its side archived the message here: the recipient's side is its
     * last reader (the stamping below replaces the data it describes). */
    struct signal_ref *att = outgoing ? NULL : signal_detach(sig);
    struct archive_text *t = archive__text_of(att);
    if (att != NULL && t == NULL) {
        signal_attach(sig, att); /* someone else's */
        att = NULL;
    }
    if (!prefs_allow(wc->store, owner, own, with)) {
        text_done(t);
        return;
    }
    long long id = archive_new_id();
    bool reused = !has_forged(sig->xmpp_data, own) && archive_reused(sig, t, own, with, id);
    text_done(t);
    if (reused) {
        return;
    }
    if (body) {
        xml_node_text(body, &t_scratch.btext); /* before the stamping frees its tree */
    }
    const char *btext = body ? buf_cstr(&t_scratch.btext) : NULL;
    if (archived_text(sig, outgoing, own, id) != 0) {
        return;
    }
    if (outgoing) {
        /* Kept for the recipient's side (attached: the signal holds the first reference). */
        t = archive__text_new(sig, own, with, buf_cstr(&t_scratch.text), btext);
        archive__enqueue_text(t, true, id);
        signal_attach(sig, archive__text_ref(t));
        return;
    }
    struct store_archive_row r = {
        .id = id,
        .domain = owner->domain,
        .name = owner->local,
        .peer = with,
        .peer_res = peer->resource ? peer->resource : "",
        .outgoing = false,
        .stanza = buf_cstr(&t_scratch.text),
        .body = btext,
    };
    archive__enqueue(&r);
}
