/* compat.c: XEP-0411 bookmarks conversion both ways: XEP-0048 <storage xmlns='storage:bookmarks'/>
 * in private XML storage (XEP-0049) and the XEP-0402 PEP node urn:xmpp:bookmarks:1 (one item per
 * room, the item id being the room's JID). */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/server.h"
#include "pubsub/pubsub_int.h"
#include "store/store_pubsub.h"
#include "store/store_services.h"
#include "xml/ns.h"

/* Set while private XML is converted to PEP items, so that those publishes do not write the
 * private XML back. */
static _Thread_local bool t_converting;

/* The XEP-0402 node's configuration (§5: whitelist, persistent, as many items as allowed). */
static struct xml_node *bookmarks_options(void)
{
    struct xml_node *x = xml_node_new(NS_XDATA, "x");
    xml_node_set_attr(x, "type", "submit");
    static const char *const kv[][2] = {
        { "FORM_TYPE", NS_PUBSUB_PUBLISH_OPTIONS },
        { "pubsub#persist_items", "true" },
        { "pubsub#max_items", "max" },
        { "pubsub#send_last_published_item", "never" },
        { "pubsub#access_model", "whitelist" },
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        struct xml_node *f = xml_node_add_child(x, NULL, "field");
        xml_node_set_attr(f, "var", kv[i][0]);
        struct xml_node *v = xml_node_add_child(f, NULL, "value");
        xml_node_add_text(v, kv[i][1], strlen(kv[i][1]));
    }
    return x;
}

static void copy_text_child(struct xml_node *to, const char *ns, const struct xml_node *from,
                            const char *name)
{
    const struct xml_node *c = xml_node_child(from, NULL, name);
    if (c == NULL) {
        c = xml_node_child(from, NS_BOOKMARKS_LEGACY, name);
    }
    if (c == NULL) {
        c = xml_node_child(from, NS_BOOKMARKS2, name);
    }
    if (c != NULL) {
        struct buf t;
        buf_init(&t, 64 * 1024);
        if (xml_node_text(c, &t) == 0) {
            struct xml_node *n = xml_node_add_child(to, ns, name);
            xml_node_add_text(n, t.p ? t.p : "", t.len);
        }
        buf_cleanup(&t);
    }
}

/* A XEP-0048 <conference/> as a XEP-0402 <conference/>. */
static struct xml_node *to_new(const struct xml_node *old)
{
    struct xml_node *c = xml_node_new(NS_BOOKMARKS2, "conference");
    const char *name = xml_node_attr(old, "name");
    const char *autojoin = xml_node_attr(old, "autojoin");
    if (name) {
        xml_node_set_attr(c, "name", name);
    }
    if (autojoin && (strcmp(autojoin, "true") == 0 || strcmp(autojoin, "1") == 0)) {
        xml_node_set_attr(c, "autojoin", "true");
    }
    copy_text_child(c, NULL, old, "nick");
    copy_text_child(c, NULL, old, "password");
    return c;
}

struct ids {
    char **v;
    size_t n;
};

static int collect_id(void *ud, const char *id, const char *publisher, const char *payload)
{
    (void)publisher;
    (void)payload;
    struct ids *ids = ud;
    ids->v = xrealloc(ids->v, (ids->n + 1) * sizeof(*ids->v));
    ids->v[ids->n++] = xstrdup(id);
    return 0;
}

static bool has_conference(const struct xml_node *storage, const char *jid)
{
    for (const struct xml_node *c = xml_node_first_element(storage); c;
         c = xml_node_next_element(c)) {
        const char *j = xml_node_attr(c, "jid");
        if (strcmp(c->name, "conference") == 0 && j && strcmp(j, jid) == 0) {
            return true;
        }
    }
    return false;
}

/* Private XML → PEP: every room of the storage becomes an item, items of rooms no longer there
 * are retracted. */
void pubsub__private_stored(const struct jid *account, const struct xml_node *el)
{
    if (el->ns == NULL || strcmp(el->ns, NS_BOOKMARKS_LEGACY) != 0 ||
        strcmp(el->name, "storage") != 0) {
        return;
    }
    t_converting = true;
    struct xml_node *opts = bookmarks_options();
    for (const struct xml_node *c = xml_node_first_element(el); c; c = xml_node_next_element(c)) {
        const char *jid = xml_node_attr(c, "jid");
        if (strcmp(c->name, "conference") != 0 || jid == NULL || jid[0] == '\0') {
            continue;
        }
        struct xml_node *conf = to_new(c);
        pubsub__publish_as_owner(account, NS_BOOKMARKS2, jid, conf, opts);
        xml_node_unref(conf);
    }
    struct buf host;
    buf_init(&host, 3 * 1024 + 2);
    pubsub__host(account, &host);
    struct ids ids = { 0 };
    store_pubsub_items(worker_ctx()->store, buf_cstr(&host), NS_BOOKMARKS2, NULL, -1, collect_id,
                       &ids);
    for (size_t i = 0; i < ids.n; i++) {
        if (!has_conference(el, ids.v[i])) {
            pubsub__retract_as_owner(account, NS_BOOKMARKS2, ids.v[i]);
        }
        free(ids.v[i]);
    }
    free(ids.v);
    buf_cleanup(&host);
    xml_node_unref(opts);
    t_converting = false;
}

struct rebuild {
    struct xml_node *storage;
};

static int add_old(void *ud, const char *id, const char *publisher, const char *payload)
{
    (void)publisher;
    struct rebuild *rb = ud;
    struct xml_node *p = payload[0] ? pubsub__parse(payload) : NULL;
    if (p == NULL) {
        return 0;
    }
    struct xml_node *c = xml_node_add_child(rb->storage, NULL, "conference");
    xml_node_set_attr(c, "jid", id);
    const char *name = xml_node_attr(p, "name");
    const char *autojoin = xml_node_attr(p, "autojoin");
    if (name) {
        xml_node_set_attr(c, "name", name);
    }
    xml_node_set_attr(c, "autojoin",
                      autojoin && (strcmp(autojoin, "true") == 0 || strcmp(autojoin, "1") == 0)
                          ? "true"
                          : "false");
    copy_text_child(c, NULL, p, "nick");
    copy_text_child(c, NULL, p, "password");
    xml_node_unref(p);
    return 0;
}

/* PEP → private XML: the storage rebuilt from the node's items, keeping its <url/> entries. */
void pubsub__bookmarks_changed(const struct jid *owner)
{
    if (t_converting) {
        return;
    }
    struct store *st = worker_ctx()->store;
    struct rebuild rb = { xml_node_new(NS_BOOKMARKS_LEGACY, "storage") };
    struct buf text, host;
    buf_init(&text, 16u * 1024 * 1024);
    buf_init(&host, 3 * 1024 + 2);
    pubsub__host(owner, &host);
    if (store_private_get(st, owner->domain, owner->local, NS_BOOKMARKS_LEGACY, "storage", &text) ==
        0) {
        struct xml_node *old = pubsub__parse(buf_cstr(&text));
        for (const struct xml_node *c = old ? xml_node_first_element(old) : NULL; c;
             c = xml_node_next_element(c)) {
            if (strcmp(c->name, "url") == 0) {
                xml_node_append_copy(rb.storage, c);
            }
        }
        if (old) {
            xml_node_unref(old);
        }
    }
    store_pubsub_items(st, buf_cstr(&host), NS_BOOKMARKS2, NULL, -1, add_old, &rb);
    if (pubsub__serialize(rb.storage, 16u * 1024 * 1024, &text) == 0) {
        store_private_set(st, owner->domain, owner->local, NS_BOOKMARKS_LEGACY, "storage",
                          buf_cstr(&text));
    }
    buf_cleanup(&text);
    buf_cleanup(&host);
    xml_node_unref(rb.storage);
}
