/* node.c: the XEP-0060 requests on an account's PEP service: publish (with publish-options),
 * retract, items, create, subscribe, unsubscribe, and the owner's configure, default, delete,
 * purge, subscriptions and affiliations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/server.h"
#include "core/settings.h"
#include "pubsub/pubsub_int.h"
#include "signal/router.h"
#include "store/store_pubsub.h"
#include "xml/ns.h"

/* One request on the node of an account (the iq's 'to'). */
struct req {
    struct service_ctx *ctx;
    const struct jid *owner; /* the account (PEP), or the service's domain */
    bool service;            /* a node of the pubsub.<domain> service */
    bool is_owner;
    struct store *st;
    struct buf host;
    const char *node;
    bool exists;
    struct pubsub_config cfg;
};

static void req_init_owner(struct req *r, const struct jid *owner)
{
    memset(r, 0, sizeof(*r));
    r->owner = owner;
    r->is_owner = true;
    r->st = worker_ctx()->store;
    buf_init(&r->host, 3 * 1024 + 2);
    pubsub__host(r->owner, &r->host);
}

static void req_init(struct req *r, struct service_ctx *ctx)
{
    req_init_owner(r, &ctx->req->to);
    r->ctx = ctx;
    r->service = ctx->req->to.local == NULL;
    /* On the service, ownership is per node (its "owner" affiliations), known once loaded. */
    r->is_owner = !r->service && jid_bare_eq(&ctx->req->from, &ctx->req->to);
}

static void affiliation_of(struct req *r, const struct jid *who, char *out, size_t size);

/* May the requester create nodes here? The account itself, or on the service any account of
 * this server. */
static bool may_create(const struct req *r)
{
    if (!r->service) {
        return r->is_owner;
    }
    struct buf canon;
    buf_init(&canon, 1024);
    const struct jid *f = &r->ctx->req->from;
    bool local = f->local != NULL && router_is_local_domain(f->domain, &canon);
    buf_cleanup(&canon);
    return local;
}

/* The service refuses the access models that need its owner's roster (PEP only); PEP has no
 * one to approve subscribers (authorize: the service only). */
static bool config_fits(const struct req *r)
{
    if (!r->service) {
        return r->cfg.access != PUBSUB_ACCESS_AUTHORIZE;
    }
    return r->cfg.access != PUBSUB_ACCESS_PRESENCE && r->cfg.access != PUBSUB_ACCESS_ROSTER;
}

static void service_defaults(struct req *r)
{
    if (r->service) {
        r->cfg.access = PUBSUB_ACCESS_OPEN;
        r->cfg.max_items = 10;
        r->cfg.send_last = PUBSUB_SEND_ON_SUB;
    }
}

/* Loads r->node; ERR_NOTFOUND when it does not exist, a store code on failure. */
static int req_load(struct req *r, const char *node)
{
    r->node = node;
    struct buf text;
    buf_init(&text, 64 * 1024);
    int rc = store_pubsub_node_get(r->st, buf_cstr(&r->host), node, &text);
    r->exists = rc == 0;
    if (rc == 0) {
        pubsub__config_parse(&r->cfg, buf_cstr(&text));
    } else {
        pubsub__config_default(&r->cfg);
        service_defaults(r);
    }
    buf_cleanup(&text);
    if (rc == 0 && r->service && r->ctx != NULL) {
        char aff[32];
        affiliation_of(r, &r->ctx->req->from, aff, sizeof(aff));
        r->is_owner = strcmp(aff, "owner") == 0;
    }
    return rc;
}

static void req_cleanup(struct req *r)
{
    buf_cleanup(&r->host);
}

static int store_failed(struct req *r, int rc)
{
    return service_reply_store_error(r->ctx, rc, "pubsub node");
}

static int node_put(struct req *r)
{
    struct buf text;
    buf_init(&text, 64 * 1024);
    pubsub__config_text(&r->cfg, &text);
    int rc = store_pubsub_node_put(r->st, buf_cstr(&r->host), r->node, r->owner->domain,
                                   r->owner->local, buf_cstr(&text));
    buf_cleanup(&text);
    return rc;
}

/* On the service, the creator of a node is its owner. */
static int creator_owns(struct req *r)
{
    struct buf bare;
    buf_init(&bare, 3 * 1024 + 2);
    jid_bare(&r->ctx->req->from, &bare);
    int rc = store_pubsub_aff_set(r->st, buf_cstr(&r->host), r->node, buf_cstr(&bare), "owner");
    buf_cleanup(&bare);
    r->is_owner = true;
    return rc;
}

/* A new node of the owner (the count limit checked): 0, or the error answered. */
static int node_create(struct req *r)
{
    long long n = 0;
    int rc = store_pubsub_node_count(r->st, buf_cstr(&r->host), &n);
    if (rc != 0) {
        return store_failed(r, rc);
    }
    if (n >= worker_ctx()->cfg->pubsub.max_nodes) {
        return pubsub__error(r->ctx, "cancel", "not-allowed", "max-nodes-exceeded", NULL);
    }
    rc = node_put(r);
    if (rc == 0 && r->service) {
        rc = creator_owns(r);
    }
    return rc == 0 ? 0 : store_failed(r, rc);
}

struct jid_find {
    const char *jid;
    bool bare; /* compare the bare part of the rows */
    char value[32];
};

static int find_row(void *ud, const char *jid, const char *value)
{
    struct jid_find *f = ud;
    size_t n = strlen(f->jid);
    if (strcmp(jid, f->jid) == 0 || (f->bare && strncmp(jid, f->jid, n) == 0 && jid[n] == '/')) {
        snprintf(f->value, sizeof(f->value), "%s", value);
        return 1;
    }
    return 0;
}

/* The affiliation of `who` (its bare JID) with the node: "owner" for the account itself. */
static void affiliation_of(struct req *r, const struct jid *who, char *out, size_t size)
{
    if (jid_bare_eq(who, r->owner)) {
        snprintf(out, size, "owner");
        return;
    }
    struct buf bare;
    buf_init(&bare, 3 * 1024 + 2);
    jid_bare(who, &bare);
    struct jid_find f = { .jid = buf_cstr(&bare) };
    store_pubsub_aff_list(r->st, buf_cstr(&r->host), r->node, find_row, &f);
    snprintf(out, size, "%s", f.value[0] ? f.value : "none");
    buf_cleanup(&bare);
}

static bool may_publish(struct req *r)
{
    if (r->is_owner || r->cfg.publish == PUBSUB_PUBLISH_OPEN) {
        return true;
    }
    char aff[32];
    affiliation_of(r, &r->ctx->req->from, aff, sizeof(aff));
    if (strcmp(aff, "publisher") == 0) {
        return true;
    }
    if (r->cfg.publish == PUBSUB_PUBLISH_SUBSCRIBERS) {
        struct buf bare;
        buf_init(&bare, 3 * 1024 + 2);
        jid_bare(&r->ctx->req->from, &bare);
        struct jid_find f = { .jid = buf_cstr(&bare), .bare = true };
        store_pubsub_sub_list(r->st, buf_cstr(&r->host), r->node, find_row, &f);
        buf_cleanup(&bare);
        return f.value[0] != '\0';
    }
    return false;
}

static void new_item_id(char *out, size_t size)
{
    static _Thread_local unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, size, "%llx-%lx-%x", (long long)ts.tv_sec, (long)ts.tv_nsec, ++counter);
}

static struct xml_node *pubsub_reply(const char *ns)
{
    return xml_node_new(ns, "pubsub");
}

/* Stores and notifies an item whose checks passed; the stored text is in `text`. */
static int publish_item(struct req *r, const char *id, const struct xml_node *payload,
                        const struct buf *text, const struct jid *from)
{
    struct buf publisher;
    buf_init(&publisher, 3 * 1024 + 2);
    jid_bare(from, &publisher);
    int rc = store_group_begin(r->st);
    if (rc == 0 && !r->exists) {
        struct buf ctext;
        buf_init(&ctext, 64 * 1024);
        pubsub__config_text(&r->cfg, &ctext);
        rc = store_pubsub_node_put(r->st, buf_cstr(&r->host), r->node, r->owner->domain,
                                   r->owner->local, buf_cstr(&ctext));
        buf_cleanup(&ctext);
        if (rc == 0 && r->service && r->ctx != NULL) {
            rc = creator_owns(r);
        }
    }
    if (rc == 0) {
        rc = store_pubsub_item_put(r->st, buf_cstr(&r->host), r->node, id, buf_cstr(&publisher),
                                   text->len ? buf_cstr(text) : "", pubsub__config_keep(&r->cfg));
    }
    rc = store_group_end(r->st, rc);
    buf_cleanup(&publisher);
    if (rc != 0) {
        return rc;
    }
    struct xml_node *items = xml_node_new(NS_PUBSUB_EVENT, "items");
    xml_node_set_attr(items, "node", r->node);
    struct xml_node *it = xml_node_add_child(items, NULL, "item");
    xml_node_set_attr(it, "id", id);
    if (payload != NULL && r->cfg.deliver_payloads) {
        xml_node_append_copy(it, payload);
    }
    pubsub__notify(r->owner, r->node, &r->cfg, items);
    xml_node_unref(items);
    if (r->service) {
        return 0;
    }
    if (strcmp(r->node, NS_BOOKMARKS2) == 0) {
        pubsub__bookmarks_changed(r->owner);
    } else if (strcmp(r->node, NS_AVATAR_METADATA) == 0) {
        pubsub__avatar_published(r->owner, payload);
    }
    return 0;
}

/* The checks of XEP-0060 §7.1.3 on the <item/>: its payload (NULL when none) or the error. */
static int check_item(struct req *r, const struct xml_node *pub, const struct xml_node **item,
                      const struct xml_node **payload)
{
    *item = NULL;
    *payload = NULL;
    for (const struct xml_node *c = xml_node_first_element(pub); c; c = xml_node_next_element(c)) {
        if (strcmp(c->name, "item") != 0 || *item != NULL) {
            return pubsub__error(r->ctx, "modify", "bad-request", "invalid-payload", NULL);
        }
        *item = c;
    }
    if (*item == NULL) {
        return (r->cfg.persist || r->cfg.deliver_payloads)
                   ? pubsub__error(r->ctx, "modify", "bad-request", "item-required", NULL)
                   : 0;
    }
    *payload = xml_node_first_element(*item);
    if (*payload != NULL && xml_node_next_element(*payload) != NULL) {
        return pubsub__error(r->ctx, "modify", "bad-request", "invalid-payload", NULL);
    }
    if (*payload == NULL && (r->cfg.persist || r->cfg.deliver_payloads)) {
        return pubsub__error(r->ctx, "modify", "bad-request", "payload-required", NULL);
    }
    return 0;
}

static int do_publish(struct req *r, const struct xml_node *pub, const struct xml_node *opts)
{
    const char *node = xml_node_attr(pub, "node");
    if (node == NULL || node[0] == '\0') {
        return pubsub__error(r->ctx, "modify", "bad-request", "nodeid-required", NULL);
    }
    int rc = req_load(r, node);
    if (rc != 0 && rc != ERR_NOTFOUND) {
        return store_failed(r, rc);
    }
    const struct xml_node *form = opts ? xml_node_child(opts, NS_XDATA, "x") : NULL;
    if (!r->exists) {
        /* §7.1.4 auto-create: the account's own nodes (on the service: an account of this
         * server's), configured by publish-options. */
        if (!may_create(r)) {
            return pubsub__error(r->ctx, "auth", "forbidden", NULL, NULL);
        }
        if (form != NULL &&
            (pubsub__config_apply_form(&r->cfg, form, true) != 0 || !config_fits(r))) {
            return pubsub__error(r->ctx, "cancel", "conflict", "precondition-not-met", NULL);
        }
        long long n = 0;
        rc = store_pubsub_node_count(r->st, buf_cstr(&r->host), &n);
        if (rc != 0) {
            return store_failed(r, rc);
        }
        if (n >= worker_ctx()->cfg->pubsub.max_nodes) {
            return pubsub__error(r->ctx, "cancel", "not-allowed", "max-nodes-exceeded", NULL);
        }
    } else if (form != NULL && !pubsub__config_meets(&r->cfg, form)) {
        return pubsub__error(r->ctx, "cancel", "conflict", "precondition-not-met", NULL);
    } else if (!may_publish(r)) {
        return pubsub__error(r->ctx, "auth", "forbidden", NULL, NULL);
    }
    const struct xml_node *item, *payload;
    rc = check_item(r, pub, &item, &payload);
    if (rc != 0) {
        return rc;
    }
    struct buf text;
    buf_init(&text, 16);
    if (payload != NULL &&
        pubsub__serialize(payload, (size_t)worker_ctx()->cfg->pubsub.max_payload_size, &text) !=
            0) {
        buf_cleanup(&text);
        return pubsub__error(r->ctx, "modify", "not-acceptable", "payload-too-big", NULL);
    }
    char gen[64];
    const char *id = item ? xml_node_attr(item, "id") : NULL;
    if (id == NULL || id[0] == '\0') {
        new_item_id(gen, sizeof(gen));
        id = gen;
    }
    rc = publish_item(r, id, payload, &text, &r->ctx->req->from);
    buf_cleanup(&text);
    if (rc != 0) {
        return store_failed(r, rc);
    }
    struct xml_node *ps = pubsub_reply(NS_PUBSUB);
    struct xml_node *p = xml_node_add_child(ps, NULL, "publish");
    xml_node_set_attr(p, "node", node);
    xml_node_set_attr(xml_node_add_child(p, NULL, "item"), "id", id);
    return service_reply_result(r->ctx, ps);
}

static bool attr_true(const struct xml_node *n, const char *name)
{
    const char *v = xml_node_attr(n, name);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

static int do_retract(struct req *r, const struct xml_node *el)
{
    const char *node = xml_node_attr(el, "node");
    if (node == NULL || node[0] == '\0') {
        return pubsub__error(r->ctx, "modify", "bad-request", "nodeid-required", NULL);
    }
    const struct xml_node *item = xml_node_child(el, NULL, "item");
    const char *id = item ? xml_node_attr(item, "id") : NULL;
    if (id == NULL || id[0] == '\0') {
        return pubsub__error(r->ctx, "modify", "bad-request", "item-required", NULL);
    }
    int rc = req_load(r, node);
    if (rc == ERR_NOTFOUND) {
        return pubsub__error(r->ctx, "cancel", "item-not-found", NULL, NULL);
    }
    if (rc != 0) {
        return store_failed(r, rc);
    }
    if (!r->is_owner && !may_publish(r)) {
        return pubsub__error(r->ctx, "auth", "forbidden", NULL, NULL);
    }
    rc = store_pubsub_item_delete(r->st, buf_cstr(&r->host), node, id);
    if (rc == ERR_NOTFOUND) {
        return pubsub__error(r->ctx, "cancel", "item-not-found", NULL, NULL);
    }
    if (rc != 0) {
        return store_failed(r, rc);
    }
    rc = service_reply_result(r->ctx, NULL);
    if (attr_true(el, "notify") || (xml_node_attr(el, "notify") == NULL && r->cfg.notify_retract)) {
        struct xml_node *items = xml_node_new(NS_PUBSUB_EVENT, "items");
        xml_node_set_attr(items, "node", node);
        xml_node_set_attr(xml_node_add_child(items, NULL, "retract"), "id", id);
        pubsub__notify(r->owner, node, &r->cfg, items);
        xml_node_unref(items);
    }
    if (!r->service && strcmp(node, NS_BOOKMARKS2) == 0) {
        pubsub__bookmarks_changed(r->owner);
    }
    return rc;
}

static int do_create(struct req *r, const struct xml_node *el, const struct xml_node *conf)
{
    const char *node = xml_node_attr(el, "node");
    if (node == NULL || node[0] == '\0') {
        /* Instant nodes are not offered (XEP-0163 §7 on PEP; not on the service either). */
        return pubsub__error(r->ctx, "modify", "not-acceptable", "nodeid-required", NULL);
    }
    if (!may_create(r)) {
        return pubsub__error(r->ctx, "auth", "forbidden", NULL, NULL);
    }
    int rc = req_load(r, node);
    if (rc == 0) {
        return pubsub__error(r->ctx, "cancel", "conflict", NULL, NULL);
    }
    if (rc != ERR_NOTFOUND) {
        return store_failed(r, rc);
    }
    const struct xml_node *form = conf ? xml_node_child(conf, NS_XDATA, "x") : NULL;
    if (form != NULL && pubsub__config_apply_form(&r->cfg, form, true) != 0) {
        return pubsub__error(r->ctx, "modify", "not-acceptable", NULL, NULL);
    }
    if (!config_fits(r)) {
        return pubsub__error(r->ctx, "modify", "not-acceptable", "unsupported-access-model", NULL);
    }
    rc = node_create(r);
    return rc != 0 ? rc : service_reply_result(r->ctx, NULL);
}

/* The JID of a subscribe/unsubscribe, which must be the requester's (§6.1.3.1). */
static int subscriber_jid(struct req *r, const struct xml_node *el, struct jid *out)
{
    const char *node = xml_node_attr(el, "node");
    const char *jid = xml_node_attr(el, "jid");
    if (node == NULL || node[0] == '\0') {
        return pubsub__error(r->ctx, "modify", "bad-request", "nodeid-required", NULL);
    }
    if (jid == NULL || jid_parse(out, strv_c(jid)) != 0) {
        return pubsub__error(r->ctx, "modify", "bad-request", "invalid-jid", NULL);
    }
    if (!jid_bare_eq(out, &r->ctx->req->from)) {
        jid_cleanup(out);
        return pubsub__error(r->ctx, "modify", "bad-request", "invalid-jid", NULL);
    }
    int rc = req_load(r, node);
    if (rc != 0) {
        jid_cleanup(out);
        return rc == ERR_NOTFOUND ? pubsub__error(r->ctx, "cancel", "item-not-found", NULL, NULL)
                                  : store_failed(r, rc);
    }
    return 0;
}

static struct xml_node *subscription_el(struct xml_node *parent, const char *node, const char *jid,
                                        const char *state)
{
    struct xml_node *s = xml_node_add_child(parent, NULL, "subscription");
    if (node) {
        xml_node_set_attr(s, "node", node);
    }
    xml_node_set_attr(s, "jid", jid);
    xml_node_set_attr(s, "subscription", state);
    return s;
}

/* XEP-0060 §6.1.6 on an authorize node: a subscriber that is neither owner, publisher, member
 * nor outcast waits for an owner's approval. */
static bool needs_approval(struct req *r, const struct jid *who)
{
    if (r->cfg.access != PUBSUB_ACCESS_AUTHORIZE || r->is_owner) {
        return false;
    }
    char aff[32];
    affiliation_of(r, who, aff, sizeof(aff));
    return strcmp(aff, "none") == 0;
}

static void add_field(struct xml_node *x, const char *var, const char *type, const char *label,
                      const char *value)
{
    struct xml_node *f = xml_node_add_child(x, NULL, "field");
    xml_node_set_attr(f, "var", var);
    xml_node_set_attr(f, "type", type);
    if (label) {
        xml_node_set_attr(f, "label", label);
    }
    xml_node_add_text(xml_node_add_child(f, NULL, "value"), value, strlen(value));
}

struct owners_ctx {
    const struct jid *from;
    struct xml_node *msg;
};

static int send_to_owner(void *ud, const char *jid, const char *value)
{
    struct owners_ctx *o = ud;
    if (strcmp(value, "owner") == 0) {
        pubsub__send_message(o->from, jid, o->msg);
    }
    return 0;
}

struct xml_node *pubsub__authorization_request(const char *node, const char *subscriber)
{
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    struct xml_node *x = xml_node_add_child(m, NS_XDATA, "x");
    xml_node_set_attr(x, "type", "form");
    static const char title[] = "PubSub subscriber request";
    xml_node_add_text(xml_node_add_child(x, NULL, "title"), title, sizeof(title) - 1);
    add_field(x, "FORM_TYPE", "hidden", NULL, NS_PUBSUB "#subscribe_authorization");
    add_field(x, "pubsub#node", "text-single", "Node ID", node);
    add_field(x, "pubsub#subscriber_jid", "jid-single", "Subscriber Address", subscriber);
    add_field(x, "pubsub#allow", "boolean", "Allow this JID to subscribe to this pubsub node?",
              "false");
    return m;
}

/* §8.6: the authorization request to each owner of the node. */
static void ask_owners(struct req *r, const char *subscriber)
{
    struct xml_node *m = pubsub__authorization_request(r->node, subscriber);
    struct owners_ctx o = { r->owner, m };
    store_pubsub_aff_list(r->st, buf_cstr(&r->host), r->node, send_to_owner, &o);
    xml_node_unref(m);
}

/* Stores a new subscription of `jid` in `state` with its options (NULL: the defaults). */
static int subscription_put(struct req *r, const char *jid, const char *state,
                            const struct pubsub_subopts *opts)
{
    int rc = store_group_begin(r->st);
    if (rc == 0) {
        rc = store_pubsub_sub_set(r->st, buf_cstr(&r->host), r->node, jid, state);
    }
    if (rc == 0 && opts != NULL) {
        struct buf text;
        buf_init(&text, 256);
        pubsub__subopts_text(opts, &text);
        rc = store_pubsub_sub_options_set(r->st, buf_cstr(&r->host), r->node, jid, buf_cstr(&text));
        buf_cleanup(&text);
    }
    return store_group_end(r->st, rc);
}

static int subscribe_pending(struct req *r, const char *jid, const struct pubsub_subopts *opts)
{
    int rc = subscription_put(r, jid, "pending", opts);
    if (rc != 0) {
        return store_failed(r, rc);
    }
    struct xml_node *ps = pubsub_reply(NS_PUBSUB);
    subscription_el(ps, r->node, jid, "pending");
    rc = service_reply_result(r->ctx, ps);
    ask_owners(r, jid);
    return rc;
}

static int do_subscribe(struct req *r, const struct xml_node *el, const struct pubsub_subopts *opts)
{
    struct jid who;
    int rc = subscriber_jid(r, el, &who);
    if (rc != 0) {
        return rc;
    }
    struct buf text;
    buf_init(&text, 3 * 1024 + 3);
    jid_full(&who, &text);
    if (needs_approval(r, &who)) {
        rc = subscribe_pending(r, buf_cstr(&text), opts);
        buf_cleanup(&text);
        jid_cleanup(&who);
        return rc;
    }
    rc = pubsub__access(r->owner, r->node, &r->cfg, &who, r->ctx);
    if (rc == 0) {
        rc = subscription_put(r, buf_cstr(&text), "subscribed", opts);
        if (rc != 0) {
            rc = store_failed(r, rc);
        } else {
            struct xml_node *ps = pubsub_reply(NS_PUBSUB);
            subscription_el(ps, r->node, buf_cstr(&text), "subscribed");
            rc = service_reply_result(r->ctx, ps);
            if (r->cfg.send_last != PUBSUB_SEND_NEVER) {
                pubsub__send_last(r->owner, r->node, &r->cfg, buf_cstr(&text));
            }
        }
    }
    buf_cleanup(&text);
    jid_cleanup(&who);
    return rc;
}

static int do_unsubscribe(struct req *r, const struct xml_node *el)
{
    struct jid who;
    int rc = subscriber_jid(r, el, &who);
    if (rc != 0) {
        return rc;
    }
    struct buf text;
    buf_init(&text, 3 * 1024 + 3);
    jid_full(&who, &text);
    struct jid_find f = { .jid = buf_cstr(&text) };
    rc = store_pubsub_sub_list(r->st, buf_cstr(&r->host), r->node, find_row, &f);
    if (rc < 0) {
        rc = store_failed(r, rc);
    } else if (f.value[0] == '\0') {
        rc = pubsub__error(r->ctx, "cancel", "unexpected-request", "not-subscribed", NULL);
    } else {
        rc = store_pubsub_sub_set(r->st, buf_cstr(&r->host), r->node, buf_cstr(&text), NULL);
        rc = rc != 0 ? store_failed(r, rc) : service_reply_result(r->ctx, NULL);
    }
    buf_cleanup(&text);
    jid_cleanup(&who);
    return rc;
}

struct items_out {
    struct xml_node *items;
    int count;
};

static int item_out(void *ud, const char *id, const char *publisher, const char *payload)
{
    struct items_out *o = ud;
    pubsub__item_append(o->items, id, publisher, payload);
    o->count++;
    return 0;
}

static int do_items(struct req *r, const struct xml_node *el)
{
    const char *node = xml_node_attr(el, "node");
    if (node == NULL || node[0] == '\0') {
        return pubsub__error(r->ctx, "modify", "bad-request", "nodeid-required", NULL);
    }
    long long max = -1;
    const char *m = xml_node_attr(el, "max_items");
    if (m != NULL) {
        char *end = NULL;
        max = strtoll(m, &end, 10);
        if (m[0] == '\0' || *end != '\0' || max < 0) {
            return pubsub__error(r->ctx, "modify", "bad-request", NULL, NULL);
        }
    }
    int rc = req_load(r, node);
    if (rc != 0) {
        return rc == ERR_NOTFOUND ? pubsub__error(r->ctx, "cancel", "item-not-found", NULL, NULL)
                                  : store_failed(r, rc);
    }
    rc = pubsub__access(r->owner, node, &r->cfg, &r->ctx->req->from, r->ctx);
    if (rc != 0) {
        return rc;
    }
    struct xml_node *ps = pubsub_reply(NS_PUBSUB);
    struct items_out o = { .items = xml_node_add_child(ps, NULL, "items") };
    xml_node_set_attr(o.items, "node", node);
    const struct xml_node *want = xml_node_child(el, NULL, "item");
    for (const struct xml_node *c = want; c && rc == 0; c = xml_node_next_element(c)) {
        const char *id = xml_node_attr(c, "id");
        if (strcmp(c->name, "item") == 0 && id != NULL) {
            rc = store_pubsub_items(r->st, buf_cstr(&r->host), node, id, -1, item_out, &o);
        }
    }
    if (want == NULL) {
        rc = store_pubsub_items(r->st, buf_cstr(&r->host), node, NULL, max, item_out, &o);
    }
    if (rc < 0) {
        xml_node_unref(ps);
        return store_failed(r, rc);
    }
    return service_reply_result(r->ctx, ps);
}

/* ---- subscriptions and affiliations of the requester (§5.6, §5.7) ---- */

struct list_out {
    struct req *r;
    struct xml_node *parent;
    const char *bare; /* the requester's bare JID */
    bool affs;
    const char *node;
};

static int own_row(void *ud, const char *jid, const char *value)
{
    struct list_out *l = ud;
    struct jid_find f = { .jid = l->bare, .bare = true };
    if (find_row(&f, jid, value) == 0) {
        return 0;
    }
    if (l->affs) {
        struct xml_node *a = xml_node_add_child(l->parent, NULL, "affiliation");
        xml_node_set_attr(a, "node", l->node);
        xml_node_set_attr(a, "affiliation", value);
    } else {
        subscription_el(l->parent, l->node, jid, value);
    }
    return 0;
}

static int own_node(void *ud, const char *node, const char *config, long long items,
                    long long bytes)
{
    (void)config;
    (void)items;
    (void)bytes;
    struct list_out *l = ud;
    if (l->affs && l->r->is_owner) {
        struct xml_node *a = xml_node_add_child(l->parent, NULL, "affiliation");
        xml_node_set_attr(a, "node", node);
        xml_node_set_attr(a, "affiliation", "owner");
        return 0;
    }
    l->node = node;
    const char *host = buf_cstr(&l->r->host);
    return l->affs ? store_pubsub_aff_list(l->r->st, host, node, own_row, l)
                   : store_pubsub_sub_list(l->r->st, host, node, own_row, l);
}

static int do_own_list(struct req *r, const struct xml_node *el, bool affs)
{
    struct xml_node *ps = pubsub_reply(NS_PUBSUB);
    struct buf bare;
    buf_init(&bare, 3 * 1024 + 2);
    jid_bare(&r->ctx->req->from, &bare);
    struct list_out l = { .r = r,
                          .parent = xml_node_add_child(ps, NULL, el->name),
                          .bare = buf_cstr(&bare),
                          .affs = affs };
    const char *node = xml_node_attr(el, "node");
    int rc;
    if (node != NULL) {
        xml_node_set_attr(l.parent, "node", node);
        rc = req_load(r, node);
        if (rc == 0) {
            rc = own_node(&l, node, "", 0, 0);
        }
    } else {
        rc = store_pubsub_node_list(r->st, buf_cstr(&r->host), own_node, &l);
    }
    buf_cleanup(&bare);
    if (rc == ERR_NOTFOUND) {
        xml_node_unref(ps);
        return pubsub__error(r->ctx, "cancel", "item-not-found", NULL, NULL);
    }
    if (rc < 0) {
        xml_node_unref(ps);
        return store_failed(r, rc);
    }
    return service_reply_result(r->ctx, ps);
}

/* ---- subscription options (§6.3, §6.1.6, §6.4) ---- */

static int invalid_options(struct req *r)
{
    return pubsub__error(r->ctx, "modify", "bad-request", "invalid-options", NULL);
}

/* The subscription whose options `el` names (§6.3.4's checks): 0 with its JID in `jid` and its
 * stored options in `opts`, or the error answered. One subscription per JID: no subids. */
static int options_target(struct req *r, const struct xml_node *el, struct buf *jid,
                          struct buf *opts)
{
    const char *node = xml_node_attr(el, "node");
    const char *j = xml_node_attr(el, "jid");
    struct jid who;
    if (node == NULL || node[0] == '\0') {
        return pubsub__error(r->ctx, "modify", "bad-request", "nodeid-required", NULL);
    }
    if (j == NULL || jid_parse(&who, strv_c(j)) != 0) {
        return pubsub__error(r->ctx, "modify", "bad-request", "invalid-jid", NULL);
    }
    jid_full(&who, jid);
    bool self = jid_bare_eq(&who, &r->ctx->req->from);
    jid_cleanup(&who);
    int rc = req_load(r, node);
    if (rc != 0) {
        return rc == ERR_NOTFOUND ? pubsub__error(r->ctx, "cancel", "item-not-found", NULL, NULL)
                                  : store_failed(r, rc);
    }
    if (!self && !r->is_owner) {
        return pubsub__error(r->ctx, "auth", "forbidden", NULL, NULL);
    }
    if (xml_node_attr(el, "subid") != NULL) {
        return pubsub__error(r->ctx, "modify", "not-acceptable", "invalid-subid", NULL);
    }
    struct buf state;
    buf_init(&state, 32);
    rc = store_pubsub_sub_options_get(r->st, buf_cstr(&r->host), node, buf_cstr(jid), &state, opts);
    buf_cleanup(&state);
    if (rc == ERR_NOTFOUND) {
        return pubsub__error(r->ctx, "cancel", "unexpected-request", "not-subscribed", NULL);
    }
    return rc != 0 ? store_failed(r, rc) : 0;
}

static int options_get(struct req *r, const struct xml_node *el)
{
    struct buf jid, text;
    buf_init(&jid, 3 * 1024 + 3);
    buf_init(&text, 1024);
    int rc = options_target(r, el, &jid, &text);
    if (rc == 0) {
        struct pubsub_subopts o;
        pubsub__subopts_parse(&o, buf_cstr(&text));
        struct xml_node *ps = pubsub_reply(NS_PUBSUB);
        struct xml_node *op = xml_node_add_child(ps, NULL, "options");
        xml_node_set_attr(op, "node", r->node);
        xml_node_set_attr(op, "jid", buf_cstr(&jid));
        pubsub__subopts_form(&o, op);
        rc = service_reply_result(r->ctx, ps);
    }
    buf_cleanup(&jid);
    buf_cleanup(&text);
    return rc;
}

static int options_set(struct req *r, const struct xml_node *el)
{
    struct buf jid, text;
    buf_init(&jid, 3 * 1024 + 3);
    buf_init(&text, 1024);
    int rc = options_target(r, el, &jid, &text);
    const struct xml_node *form = rc == 0 ? xml_node_child(el, NS_XDATA, "x") : NULL;
    const char *type = form ? xml_node_attr(form, "type") : NULL;
    struct pubsub_subopts o;
    pubsub__subopts_parse(&o, buf_cstr(&text));
    if (rc != 0) {
        /* answered */
    } else if (type == NULL || strcmp(type, "submit") != 0 ||
               pubsub__subopts_apply_form(&o, form) != 0) {
        rc = invalid_options(r);
    } else {
        buf_reset(&text);
        pubsub__subopts_text(&o, &text);
        rc = store_pubsub_sub_options_set(r->st, buf_cstr(&r->host), r->node, buf_cstr(&jid),
                                          buf_cstr(&text));
        rc = rc != 0 ? store_failed(r, rc) : service_reply_result(r->ctx, NULL);
    }
    buf_cleanup(&jid);
    buf_cleanup(&text);
    return rc;
}

/* §6.4: the default subscription options (of the service, or of a node: the same). */
static int options_default(struct req *r, const struct xml_node *el)
{
    const char *node = xml_node_attr(el, "node");
    if (node != NULL) {
        int rc = req_load(r, node);
        if (rc != 0) {
            return rc == ERR_NOTFOUND
                       ? pubsub__error(r->ctx, "cancel", "item-not-found", NULL, NULL)
                       : store_failed(r, rc);
        }
    }
    struct pubsub_subopts o;
    pubsub__subopts_default(&o);
    struct xml_node *ps = pubsub_reply(NS_PUBSUB);
    struct xml_node *d = xml_node_add_child(ps, NULL, "default");
    if (node != NULL) {
        xml_node_set_attr(d, "node", node);
    }
    pubsub__subopts_form(&o, d);
    return service_reply_result(r->ctx, ps);
}

/* §6.1.6: a subscribe with an <options/> form (checked before anything is stored). */
static int subscribe_with_options(struct req *r, const struct xml_node *el,
                                  const struct xml_node *second)
{
    if (second == NULL || strcmp(second->name, "options") != 0) {
        return do_subscribe(r, el, NULL);
    }
    const struct xml_node *form = xml_node_child(second, NS_XDATA, "x");
    const char *type = form ? xml_node_attr(form, "type") : NULL;
    struct pubsub_subopts o;
    pubsub__subopts_default(&o);
    if (type == NULL || strcmp(type, "submit") != 0 || pubsub__subopts_apply_form(&o, form) != 0) {
        return invalid_options(r);
    }
    return do_subscribe(r, el, &o);
}

int pubsub__get(struct service_ctx *ctx)
{
    const struct xml_node *el = xml_node_first_element(ctx->query);
    if (el == NULL) {
        return service_reply_error(ctx, "modify", "bad-request");
    }
    struct req r;
    req_init(&r, ctx);
    int rc;
    if (strcmp(el->name, "items") == 0) {
        rc = do_items(&r, el);
    } else if (strcmp(el->name, "subscriptions") == 0) {
        rc = do_own_list(&r, el, false);
    } else if (strcmp(el->name, "affiliations") == 0) {
        rc = do_own_list(&r, el, true);
    } else if (strcmp(el->name, "options") == 0) {
        rc = options_get(&r, el);
    } else if (strcmp(el->name, "default") == 0) {
        rc = options_default(&r, el);
    } else {
        rc = service_reply_error(ctx, "modify", "bad-request");
    }
    req_cleanup(&r);
    return rc;
}

int pubsub__set(struct service_ctx *ctx)
{
    const struct xml_node *el = xml_node_first_element(ctx->query);
    if (el == NULL) {
        return service_reply_error(ctx, "modify", "bad-request");
    }
    const struct xml_node *second = xml_node_next_element(el);
    struct req r;
    req_init(&r, ctx);
    int rc;
    if (strcmp(el->name, "publish") == 0) {
        const struct xml_node *opts =
            second && strcmp(second->name, "publish-options") == 0 ? second : NULL;
        rc = do_publish(&r, el, opts);
    } else if (strcmp(el->name, "retract") == 0) {
        rc = do_retract(&r, el);
    } else if (strcmp(el->name, "create") == 0) {
        const struct xml_node *conf =
            second && strcmp(second->name, "configure") == 0 ? second : NULL;
        rc = do_create(&r, el, conf);
    } else if (strcmp(el->name, "subscribe") == 0) {
        rc = subscribe_with_options(&r, el, second);
    } else if (strcmp(el->name, "unsubscribe") == 0) {
        rc = do_unsubscribe(&r, el);
    } else if (strcmp(el->name, "options") == 0) {
        rc = options_set(&r, el);
    } else {
        rc = service_reply_error(ctx, "modify", "bad-request");
    }
    req_cleanup(&r);
    return rc;
}

/* ---- the owner's requests (§8) ---- */

/* The owner's node named by `el`: 0, or the error answered. */
static int owner_node(struct req *r, const struct xml_node *el)
{
    const char *node = xml_node_attr(el, "node");
    if (node == NULL || node[0] == '\0') {
        return pubsub__error(r->ctx, "modify", "bad-request", "nodeid-required", NULL);
    }
    if (!r->service && !r->is_owner) {
        return pubsub__error(r->ctx, "auth", "forbidden", NULL, NULL);
    }
    int rc = req_load(r, node);
    if (rc == ERR_NOTFOUND) {
        return pubsub__error(r->ctx, "cancel", "item-not-found", NULL, NULL);
    }
    if (rc != 0) {
        return store_failed(r, rc);
    }
    return r->is_owner ? 0 : pubsub__error(r->ctx, "auth", "forbidden", NULL, NULL);
}

static int configure_get(struct req *r, const struct xml_node *el)
{
    int rc = owner_node(r, el);
    if (rc != 0) {
        return rc;
    }
    struct xml_node *ps = pubsub_reply(NS_PUBSUB_OWNER);
    struct xml_node *conf = xml_node_add_child(ps, NULL, "configure");
    xml_node_set_attr(conf, "node", r->node);
    pubsub__config_form(&r->cfg, conf);
    return service_reply_result(r->ctx, ps);
}

static int default_get(struct req *r)
{
    struct pubsub_config c;
    pubsub__config_default(&c);
    struct xml_node *ps = pubsub_reply(NS_PUBSUB_OWNER);
    pubsub__config_form(&c, xml_node_add_child(ps, NULL, "default"));
    return service_reply_result(r->ctx, ps);
}

static int configure_set(struct req *r, const struct xml_node *el)
{
    int rc = owner_node(r, el);
    if (rc != 0) {
        return rc;
    }
    const struct xml_node *form = xml_node_child(el, NS_XDATA, "x");
    const char *type = form ? xml_node_attr(form, "type") : NULL;
    if (form == NULL || type == NULL) {
        return pubsub__error(r->ctx, "modify", "bad-request", NULL, NULL);
    }
    if (strcmp(type, "cancel") == 0) {
        return service_reply_result(r->ctx, NULL);
    }
    if (strcmp(type, "submit") != 0 || pubsub__config_apply_form(&r->cfg, form, true) != 0 ||
        !config_fits(r)) {
        return pubsub__error(r->ctx, "modify", "not-acceptable", NULL, NULL);
    }
    rc = node_put(r);
    if (rc != 0) {
        return store_failed(r, rc);
    }
    rc = service_reply_result(r->ctx, NULL);
    if (r->cfg.notify_config) {
        struct xml_node *c = xml_node_new(NS_PUBSUB_EVENT, "configuration");
        xml_node_set_attr(c, "node", r->node);
        pubsub__notify(r->owner, r->node, &r->cfg, c);
        xml_node_unref(c);
    }
    return rc;
}

static int delete_set(struct req *r, const struct xml_node *el, bool purge)
{
    int rc = owner_node(r, el);
    if (rc != 0) {
        return rc;
    }
    if (purge && !r->cfg.persist) {
        return pubsub__error(r->ctx, "cancel", "feature-not-implemented", "unsupported",
                             "persistent-items");
    }
    struct xml_node *ev = xml_node_new(NS_PUBSUB_EVENT, purge ? "purge" : "delete");
    xml_node_set_attr(ev, "node", r->node);
    if (purge || r->cfg.notify_delete) {
        /* Before the node goes: its subscriptions go with it. */
        pubsub__notify(r->owner, r->node, &r->cfg, ev);
    }
    xml_node_unref(ev);
    rc = purge ? store_pubsub_item_purge(r->st, buf_cstr(&r->host), r->node)
               : store_pubsub_node_delete(r->st, buf_cstr(&r->host), r->node);
    if (rc != 0) {
        return store_failed(r, rc);
    }
    rc = service_reply_result(r->ctx, NULL);
    if (!r->service && strcmp(r->node, NS_BOOKMARKS2) == 0) {
        pubsub__bookmarks_changed(r->owner);
    }
    return rc;
}

struct owner_list {
    struct xml_node *parent;
    bool affs;
};

static int owner_row(void *ud, const char *jid, const char *value)
{
    struct owner_list *l = ud;
    struct xml_node *e =
        xml_node_add_child(l->parent, NULL, l->affs ? "affiliation" : "subscription");
    xml_node_set_attr(e, "jid", jid);
    xml_node_set_attr(e, l->affs ? "affiliation" : "subscription", value);
    return 0;
}

static int owner_list_get(struct req *r, const struct xml_node *el, bool affs)
{
    int rc = owner_node(r, el);
    if (rc != 0) {
        return rc;
    }
    struct xml_node *ps = pubsub_reply(NS_PUBSUB_OWNER);
    struct owner_list l = { xml_node_add_child(ps, NULL, el->name), affs };
    xml_node_set_attr(l.parent, "node", r->node);
    if (affs && !r->service) {
        struct buf bare;
        buf_init(&bare, 3 * 1024 + 2);
        jid_bare(r->owner, &bare);
        owner_row(&l, buf_cstr(&bare), "owner");
        buf_cleanup(&bare);
    }
    if (affs) {
        rc = store_pubsub_aff_list(r->st, buf_cstr(&r->host), r->node, owner_row, &l);
    } else {
        rc = store_pubsub_sub_list(r->st, buf_cstr(&r->host), r->node, owner_row, &l);
    }
    if (rc < 0) {
        xml_node_unref(ps);
        return store_failed(r, rc);
    }
    return service_reply_result(r->ctx, ps);
}

static bool one_of(const char *v, const char *const *list)
{
    for (size_t i = 0; list[i]; i++) {
        if (strcmp(v, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* §8.8.2, §8.9.2: every entry is checked before any is stored. */
static int owner_list_set(struct req *r, const struct xml_node *el, bool affs)
{
    static const char *const aff_values[] = { "owner", "publisher", "member",
                                              "none",  "outcast",   NULL };
    static const char *const sub_values[] = { "subscribed", "pending", "none", NULL };
    int rc = owner_node(r, el);
    if (rc != 0) {
        return rc;
    }
    const char *attr = affs ? "affiliation" : "subscription";
    struct jid j;
    for (const struct xml_node *c = xml_node_first_element(el); c; c = xml_node_next_element(c)) {
        const char *jid = xml_node_attr(c, "jid");
        const char *v = xml_node_attr(c, attr);
        if (strcmp(c->name, attr) != 0 || jid == NULL || v == NULL ||
            !one_of(v, affs ? aff_values : sub_values) || jid_parse(&j, strv_c(jid)) != 0) {
            return pubsub__error(r->ctx, "modify", "bad-request", NULL, NULL);
        }
        bool self = jid_bare_eq(&j, r->owner);
        jid_cleanup(&j);
        if ((self && !r->service) || (affs && strcmp(v, "owner") == 0 && !r->service)) {
            /* The account owns its nodes alone. */
            return pubsub__error(r->ctx, "modify", "not-acceptable", NULL, NULL);
        }
    }
    rc = store_group_begin(r->st);
    for (const struct xml_node *c = xml_node_first_element(el); c && rc == 0;
         c = xml_node_next_element(c)) {
        const char *v = xml_node_attr(c, attr);
        const char *value = strcmp(v, "none") == 0 ? NULL : v;
        rc = affs ? store_pubsub_aff_set(r->st, buf_cstr(&r->host), r->node,
                                         xml_node_attr(c, "jid"), value)
                  : store_pubsub_sub_set(r->st, buf_cstr(&r->host), r->node,
                                         xml_node_attr(c, "jid"), value);
    }
    rc = store_group_end(r->st, rc);
    return rc != 0 ? store_failed(r, rc) : service_reply_result(r->ctx, NULL);
}

int pubsub__owner_get(struct service_ctx *ctx)
{
    const struct xml_node *el = xml_node_first_element(ctx->query);
    if (el == NULL) {
        return service_reply_error(ctx, "modify", "bad-request");
    }
    struct req r;
    req_init(&r, ctx);
    int rc;
    if (strcmp(el->name, "configure") == 0) {
        rc = configure_get(&r, el);
    } else if (strcmp(el->name, "default") == 0) {
        rc = default_get(&r);
    } else if (strcmp(el->name, "subscriptions") == 0) {
        rc = owner_list_get(&r, el, false);
    } else if (strcmp(el->name, "affiliations") == 0) {
        rc = owner_list_get(&r, el, true);
    } else {
        rc = service_reply_error(ctx, "modify", "bad-request");
    }
    req_cleanup(&r);
    return rc;
}

int pubsub__owner_set(struct service_ctx *ctx)
{
    const struct xml_node *el = xml_node_first_element(ctx->query);
    if (el == NULL) {
        return service_reply_error(ctx, "modify", "bad-request");
    }
    struct req r;
    req_init(&r, ctx);
    int rc;
    if (strcmp(el->name, "configure") == 0) {
        rc = configure_set(&r, el);
    } else if (strcmp(el->name, "delete") == 0) {
        rc = delete_set(&r, el, false);
    } else if (strcmp(el->name, "purge") == 0) {
        rc = delete_set(&r, el, true);
    } else if (strcmp(el->name, "subscriptions") == 0) {
        rc = owner_list_set(&r, el, false);
    } else if (strcmp(el->name, "affiliations") == 0) {
        rc = owner_list_set(&r, el, true);
    } else {
        rc = service_reply_error(ctx, "modify", "bad-request");
    }
    req_cleanup(&r);
    return rc;
}

/* ---- on the owner's behalf (the conversions of compat.c) ---- */

int pubsub__publish_as_owner(const struct jid *owner, const char *node, const char *id,
                             const struct xml_node *payload, const struct xml_node *options)
{
    struct req r;
    req_init_owner(&r, owner);
    int rc = req_load(&r, node);
    if (rc == ERR_NOTFOUND) {
        rc = options ? pubsub__config_apply_form(&r.cfg, options, false) : 0;
    }
    struct buf text;
    buf_init(&text, 16);
    if (rc == 0) {
        rc = pubsub__serialize(payload, (size_t)worker_ctx()->cfg->pubsub.max_payload_size, &text);
    }
    if (rc == 0) {
        rc = publish_item(&r, id, payload, &text, owner);
    }
    buf_cleanup(&text);
    req_cleanup(&r);
    return rc;
}

int pubsub__retract_as_owner(const struct jid *owner, const char *node, const char *id)
{
    struct req r;
    req_init_owner(&r, owner);
    int rc = req_load(&r, node);
    if (rc == 0) {
        rc = store_pubsub_item_delete(r.st, buf_cstr(&r.host), node, id);
    }
    if (rc == 0 && r.cfg.notify_retract) {
        struct xml_node *items = xml_node_new(NS_PUBSUB_EVENT, "items");
        xml_node_set_attr(items, "node", node);
        xml_node_set_attr(xml_node_add_child(items, NULL, "retract"), "id", id);
        pubsub__notify(owner, node, &r.cfg, items);
        xml_node_unref(items);
    }
    req_cleanup(&r);
    return rc;
}

/* ---- an owner's answer to an authorization request (§8.6) ---- */

static const char *form_value(const struct xml_node *x, const char *var, struct buf *out)
{
    for (const struct xml_node *f = xml_node_first_element(x); f; f = xml_node_next_element(f)) {
        const char *v = xml_node_attr(f, "var");
        const struct xml_node *val = xml_node_child(f, NS_XDATA, "value");
        if (v != NULL && strcmp(v, var) == 0 && val != NULL) {
            buf_reset(out);
            return xml_node_text(val, out) == 0 ? buf_cstr(out) : NULL;
        }
    }
    return NULL;
}

static void answer_subscriber(struct req *r, const char *subscriber, bool allow)
{
    struct jid_find f = { .jid = subscriber };
    store_pubsub_sub_list(r->st, buf_cstr(&r->host), r->node, find_row, &f);
    if (strcmp(f.value, "pending") != 0) {
        return; /* answered already, or never asked */
    }
    if (store_pubsub_sub_set(r->st, buf_cstr(&r->host), r->node, subscriber,
                             allow ? "subscribed" : NULL) != 0) {
        return;
    }
    struct xml_node *sub = xml_node_new(NS_PUBSUB_EVENT, "subscription");
    xml_node_set_attr(sub, "node", r->node);
    xml_node_set_attr(sub, "jid", subscriber);
    xml_node_set_attr(sub, "subscription", allow ? "subscribed" : "none");
    struct xml_node *m = pubsub__event_message(NULL, sub);
    pubsub__send_message(r->owner, subscriber, m);
    xml_node_unref(m);
    xml_node_unref(sub);
    if (allow && r->cfg.send_last != PUBSUB_SEND_NEVER) {
        pubsub__send_last(r->owner, r->node, &r->cfg, subscriber);
    }
}

bool pubsub__authorization(const struct signal *msg)
{
    const struct xml_node *x =
        msg->xmpp_data ? xml_node_child(msg->xmpp_data, NS_XDATA, "x") : NULL;
    const char *type = x ? xml_node_attr(x, "type") : NULL;
    if (type == NULL || strcmp(type, "submit") != 0) {
        return false;
    }
    struct buf ft, node, subscriber, allow;
    buf_init(&ft, 256);
    buf_init(&node, 4096);
    buf_init(&subscriber, 3 * 1024 + 3);
    buf_init(&allow, 16);
    const char *t = form_value(x, "FORM_TYPE", &ft);
    bool ours = t != NULL && strcmp(t, NS_PUBSUB "#subscribe_authorization") == 0;
    const char *n = ours ? form_value(x, "pubsub#node", &node) : NULL;
    const char *who = ours ? form_value(x, "pubsub#subscriber_jid", &subscriber) : NULL;
    const char *a = ours ? form_value(x, "pubsub#allow", &allow) : NULL;
    if (n != NULL && who != NULL && a != NULL) {
        struct req r;
        req_init_owner(&r, &msg->to);
        r.service = true;
        char aff[32] = "";
        if (req_load(&r, n) == 0) {
            affiliation_of(&r, &msg->from, aff, sizeof(aff));
        }
        if (strcmp(aff, "owner") == 0) {
            answer_subscriber(&r, who, strcmp(a, "1") == 0 || strcmp(a, "true") == 0);
        }
        req_cleanup(&r);
    }
    buf_cleanup(&ft);
    buf_cleanup(&node);
    buf_cleanup(&subscriber);
    buf_cleanup(&allow);
    return ours;
}
