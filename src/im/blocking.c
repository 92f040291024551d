/* blocking.c: XEP-0191 blocking command: the blocklist, its changes and pushes, and its effect
 * on presence and on stanzas in both directions (the iq half is services/blocking.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/loop.h"
#include "core/server.h"
#include "im/homestate.h"
#include "im/im_int.h"
#include "im/module.h"
#include "xml/ns.h"

static unsigned g_push_seq;

static int add_jid(void *ud, const char *a, const char *b)
{
    (void)b;
    struct im_blocklist *bl = ud;
    bl->jids = xrealloc(bl->jids, (bl->n + 1) * sizeof(*bl->jids));
    bl->jids[bl->n++] = xstrdup(a);
    return 0;
}

void im__blocklist_load(const struct jid *user, struct im_blocklist *bl)
{
    memset(bl, 0, sizeof(*bl));
    if (user->local) {
        store_im_block_list(im__store(), user->domain, user->local, add_jid, bl);
    }
}

void im__blocklist_free(struct im_blocklist *bl)
{
    for (size_t i = 0; i < bl->n; i++) {
        free(bl->jids[i]);
    }
    free(bl->jids);
    memset(bl, 0, sizeof(*bl));
}

static bool eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* XEP-0191 §3.3 with the JID matching of XEP-0016 §2.1: a full JID matches itself, a bare JID
 * its resources, a domain every address at it, domain/resource that address only. */
static bool entry_matches(const struct jid *e, const struct jid *j)
{
    if (!eq(e->domain, j->domain)) {
        return false;
    }
    if (e->local) {
        return eq(e->local, j->local) && (e->resource == NULL || eq(e->resource, j->resource));
    }
    if (e->resource) {
        return j->local == NULL && eq(e->resource, j->resource);
    }
    return true;
}

bool im__blocklist_match(const struct im_blocklist *bl, const struct jid *j)
{
    for (size_t i = 0; i < bl->n; i++) {
        struct jid e;
        if (jid_parse(&e, strv_c(bl->jids[i])) == 0) {
            bool m = entry_matches(&e, j);
            jid_cleanup(&e);
            if (m) {
                return true;
            }
        }
    }
    return false;
}

/* Each worker keeps the parsed blocklists of the accounts homed on it: every stanza to or from
 * an account is checked, and most lists are empty. Entries are dropped when the owner changes
 * the list (on this, its home worker) and after BL_CACHE_TTL_MS, which bounds how long a
 * change made elsewhere (an account removed and made again by an administrator) goes unseen. */
#define BL_CACHE_BUCKETS 1024
#define BL_CACHE_TTL_MS 60000

struct bl_cache {
    struct bl_cache *next;
    uint64_t loaded_ms;
    struct jid *entries;
    size_t n;
    char bare[];
};

/* This worker's cache buckets, in the IM core's module slot (im/module.h). */
static struct bl_cache **bl_buckets(void)
{
    struct im_worker *iw = im__worker();
    if (iw->blocklists == NULL) {
        iw->blocklists = xcalloc(BL_CACHE_BUCKETS, sizeof(*iw->blocklists));
    }
    return iw->blocklists;
}

/* The cache slot of an account, found without building its bare JID. */
static struct bl_cache **bl_slot(const struct jid *user)
{
    struct bl_cache **pp = &bl_buckets()[jid_bare_hash(user) % BL_CACHE_BUCKETS];
    while (*pp && !jid_bare_is(user, (*pp)->bare)) {
        pp = &(*pp)->next;
    }
    return pp;
}

static void bl_entry_free(struct bl_cache *e)
{
    for (size_t i = 0; i < e->n; i++) {
        jid_cleanup(&e->entries[i]);
    }
    free(e->entries);
    free(e);
}

static void bl_invalidate(const struct jid *user)
{
    if (user->local == NULL) {
        return;
    }
    struct bl_cache **pp = bl_slot(user);
    if (*pp) {
        struct bl_cache *e = *pp;
        *pp = e->next;
        bl_entry_free(e);
    }
}

static const struct bl_cache *bl_get(const struct jid *user)
{
    struct bl_cache **pp = bl_slot(user);
    /* The loop's time of this iteration: close enough for a TTL of a minute, and no clock
     * read per stanza. */
    struct worker *w = worker_self();
    uint64_t now = w ? loop_now_ms(w->loop) : loop_clock_ms();
    if (*pp && now - (*pp)->loaded_ms > BL_CACHE_TTL_MS) {
        struct bl_cache *old = *pp;
        *pp = old->next;
        bl_entry_free(old);
    }
    if (*pp == NULL) {
        struct im_blocklist bl;
        im__blocklist_load(user, &bl);
        char *bare = im__bare_str(user);
        size_t len = strlen(bare);
        struct bl_cache *e = xcalloc(1, sizeof(*e) + len + 1);
        memcpy(e->bare, bare, len + 1);
        e->loaded_ms = now;
        e->entries = xcalloc(bl.n ? bl.n : 1, sizeof(*e->entries));
        for (size_t i = 0; i < bl.n; i++) {
            if (jid_parse(&e->entries[e->n], strv_c(bl.jids[i])) == 0) {
                e->n++;
            }
        }
        im__blocklist_free(&bl);
        free(bare);
        e->next = NULL;
        *pp = e;
    }
    return *pp;
}

bool im__blocked(const struct jid *user, const struct jid *other)
{
    if (user->local == NULL) {
        return false;
    }
    const struct bl_cache *e = bl_get(user);
    for (size_t i = 0; i < e->n; i++) {
        if (entry_matches(&e->entries[i], other)) {
            return true;
        }
    }
    return false;
}

void im_release_memory(void)
{
    struct bl_cache **buckets = im__worker()->blocklists;
    for (size_t i = 0; buckets != NULL && i < BL_CACHE_BUCKETS; i++) {
        while (buckets[i]) {
            struct bl_cache *e = buckets[i];
            buckets[i] = e->next;
            bl_entry_free(e);
        }
    }
    im_home_state_release();
}

void im_worker_stop(void)
{
    im_release_memory();
    free(im__worker()->blocklists);
    im__worker()->blocklists = NULL;
}

void im__refuse_blocked(struct router_session *rs, const struct signal *sig)
{
    struct signal *err = signal_error_new(sig, "cancel", "not-acceptable");
    if (err == NULL) {
        return;
    }
    struct xml_node *e = NULL;
    for (struct xml_node *c = xml_node_first_element(err->xmpp_data); c;
         c = xml_node_next_element(c)) {
        if (strcmp(c->name, "error") == 0) {
            e = c;
        }
    }
    if (e) {
        xml_node_add_child(e, NS_BLOCKING_ERRORS, "blocked");
    }
    rs->deliver(rs->ud, err);
}

bool im_inbound_blocks(const struct signal *sig)
{
    if (sig->to.local == NULL || sig->from.domain == NULL) {
        return false;
    }
    /* The recipient's account: the parts of its address, borrowed (nothing copied). */
    const struct jid user = { .local = sig->to.local, .domain = sig->to.domain };
    /* The user's own server (its domain as a whole) always gets through. */
    bool own_server = sig->from.local == NULL && strcmp(sig->from.domain, user.domain) == 0;
    return !own_server && !jid_bare_eq(&user, &sig->from) && im__blocked(&user, &sig->from);
}

bool im_inbound_blocked(struct signal *sig)
{
    if (!im_inbound_blocks(sig)) {
        return false;
    }
    /* XEP-0191 §3.4: presence is dropped; messages and requests get <service-unavailable/>. */
    bool answer =
        (sig->method == SIGNAL_MESSAGE && !(sig->type && strcmp(sig->type, "error") == 0) &&
         !(sig->type && strcmp(sig->type, "groupchat") == 0)) ||
        (sig->method == SIGNAL_INFO && sig->type &&
         (strcmp(sig->type, "get") == 0 || strcmp(sig->type, "set") == 0));
    if (answer) {
        router_reply_error(sig, "cancel", "service-unavailable");
    }
    signal_free(sig);
    return true;
}

static void free_items(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i]);
    }
    free(items);
}

/* XEP-0191 §3.3, §3.4: the change, to every resource that asked for the blocklist. */
static void push_change(const struct jid *user, const char *what, char **items, size_t n)
{
    struct jid bare;
    im__bare(user, &bare);
    char id[48];
    snprintf(id, sizeof(id), "block-push-%u", ++g_push_seq);
    struct xml_node *iq = xml_node_new(NS_CLIENT, "iq");
    xml_node_set_attr(iq, "type", "set");
    xml_node_set_attr(iq, "id", id);
    struct xml_node *q = xml_node_add_child(iq, NS_BLOCKING, what);
    for (size_t i = 0; i < n; i++) {
        struct xml_node *item = xml_node_add_child(q, NULL, "item");
        xml_node_set_attr(item, "jid", items[i]);
    }
    for (struct router_session *s = im__sessions(user); s; s = s->next) {
        if (s->im && s->im->blocklist_requested) {
            s->deliver(s->ud, im__signal(SIGNAL_INFO, &bare, &s->im->full, "set", iq));
        }
    }
    xml_node_unref(iq);
    jid_cleanup(&bare);
}

/* Presence across a new block (unavailable both ways) or a lifted one (presence and a probe),
 * for a contact in the roster. */
static void presence_effect(const struct jid *user, const char *jid_text, bool blocked)
{
    struct jid j, cbare;
    if (jid_parse(&j, strv_c(jid_text)) != 0) {
        return;
    }
    if (j.local == NULL) {
        jid_cleanup(&j);
        return;
    }
    im__bare(&j, &cbare);
    char *cb = im__bare_str(&cbare);
    struct im_item it;
    if (im_item_load(user, cb, &it) == 0) {
        if (it.exists && (it.sub & SUB_FROM)) {
            im__send_presence_to(user, &j, !blocked);
        }
        if (it.exists && (it.sub & SUB_TO)) {
            if (blocked) {
                struct jid ubare;
                im__bare(user, &ubare);
                struct signal *u = im__signal(SIGNAL_NOTIFY, &j, &ubare, "unavailable", NULL);
                for (struct router_session *s = im__sessions(user); s; s = s->next) {
                    if (s->available) {
                        s->deliver(s->ud, signal_dup(u));
                    }
                }
                signal_free(u);
                jid_cleanup(&ubare);
            } else {
                struct jid ubare;
                im__bare(user, &ubare);
                im__send_probe(&ubare, &cbare);
                jid_cleanup(&ubare);
            }
        }
        im_item_free(&it);
    }
    free(cb);
    jid_cleanup(&cbare);
    jid_cleanup(&j);
}

/* Stores a block (or an unblock: `remove`; no items: the whole list) all or nothing, before it
 * is answered, pushed or applied: a change that is not stored has no effect. */
static int store_items(const struct jid *u, bool remove, char **items, size_t n)
{
    struct store *st = im__store();
    int rc = store_group_begin(st);
    if (rc != 0) {
        return rc;
    }
    if (remove && n == 0) {
        rc = store_im_block_clear(st, u->domain, u->local);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = remove ? store_im_block_remove(st, u->domain, u->local, items[i])
                    : store_im_block_add(st, u->domain, u->local, items[i]);
    }
    return store_group_end(st, rc);
}

int im_block_store(struct im_block_change *c)
{
    im__blocklist_load(c->user, &c->before);
    int rc = store_items(c->user, c->unblock, c->items, c->n);
    if (rc != 0) {
        im__blocklist_free(&c->before);
        free_items(c->items, c->n);
        return rc;
    }
    bl_invalidate(c->user);
    return 0;
}

static bool listed(char **list, size_t n, const char *jid)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], jid) == 0) {
            return true;
        }
    }
    return false;
}

void im_block_apply(struct im_block_change *c)
{
    push_change(c->user, c->unblock ? "unblock" : "block", c->items, c->n);
    if (c->unblock) {
        for (size_t k = 0; k < c->before.n; k++) {
            if (c->n == 0 || listed(c->items, c->n, c->before.jids[k])) {
                presence_effect(c->user, c->before.jids[k], false);
            }
        }
    } else {
        for (size_t i = 0; i < c->n; i++) {
            if (!listed(c->before.jids, c->before.n, c->items[i])) {
                presence_effect(c->user, c->items[i], true);
            }
        }
    }
    im__blocklist_free(&c->before);
    free_items(c->items, c->n);
}
