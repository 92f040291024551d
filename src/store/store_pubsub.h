/* store_pubsub.h: the store's "pubsub" area: publish-subscribe nodes (XEP-0060) with their
 * items, affiliations and subscriptions, for the PEP nodes of accounts (XEP-0163) and a
 * service's nodes. */
#ifndef STARLING_STORE_STORE_PUBSUB_H
#define STARLING_STORE_STORE_PUBSUB_H

#include "core/buf.h"
#include "store/store.h"

/* A node is named by its host (an account's bare JID for PEP, a service's domain) and its
 * NodeID. `domain`/`name` name the owning account (NULL for a service's node): its removal
 * removes the node. `config` is the pubsub module's own text form, opaque here. */
int store_pubsub_node_put(struct store *st, const char *host, const char *node, const char *domain,
                          const char *name, const char *config);
/* ERR_NOTFOUND when there is no such node. */
int store_pubsub_node_get(struct store *st, const char *host, const char *node, struct buf *config);
/* Removes the node with its items, affiliations and subscriptions; ERR_NOTFOUND when none. */
int store_pubsub_node_delete(struct store *st, const char *host, const char *node);
int store_pubsub_node_count(struct store *st, const char *host, long long *n);
/* Calls fn for each node of `host` in NodeID order with its item count and payload bytes. */
typedef int store_pubsub_node_fn(void *ud, const char *node, const char *config, long long items,
                                 long long bytes);
int store_pubsub_node_list(struct store *st, const char *host, store_pubsub_node_fn *fn, void *ud);

/* Stores an item (a new one, or a new version of `id` that becomes the newest), then keeps only
 * the `keep` newest items of the node (keep < 0: all). */
int store_pubsub_item_put(struct store *st, const char *host, const char *node, const char *id,
                          const char *publisher, const char *payload, long long keep);
/* ERR_NOTFOUND when the node has no such item. */
int store_pubsub_item_delete(struct store *st, const char *host, const char *node, const char *id);
int store_pubsub_item_purge(struct store *st, const char *host, const char *node);
/* The node's items, oldest first: the item `id` only (not NULL), else the `max` newest (max < 0:
 * all). */
typedef int store_pubsub_item_fn(void *ud, const char *id, const char *publisher,
                                 const char *payload);
int store_pubsub_items(struct store *st, const char *host, const char *node, const char *id,
                       long long max, store_pubsub_item_fn *fn, void *ud);

/* Affiliations and subscriptions of bare/full JIDs; `value` NULL removes the row. */
int store_pubsub_aff_set(struct store *st, const char *host, const char *node, const char *jid,
                         const char *value);
int store_pubsub_sub_set(struct store *st, const char *host, const char *node, const char *jid,
                         const char *value);
typedef int store_pubsub_jid_fn(void *ud, const char *jid, const char *value);
int store_pubsub_aff_list(struct store *st, const char *host, const char *node,
                          store_pubsub_jid_fn *fn, void *ud);
int store_pubsub_sub_list(struct store *st, const char *host, const char *node,
                          store_pubsub_jid_fn *fn, void *ud);

/* Subscriptions with their options (the pubsub module's text form, "" for the defaults, opaque
 * here; store area schema v2). */
typedef int store_pubsub_sub_fn(void *ud, const char *jid, const char *value, const char *options);
int store_pubsub_sub_each(struct store *st, const char *host, const char *node,
                          store_pubsub_sub_fn *fn, void *ud);
/* The subscription of `jid` (its state and options); ERR_NOTFOUND when it has none. */
int store_pubsub_sub_options_get(struct store *st, const char *host, const char *node,
                                 const char *jid, struct buf *value, struct buf *options);
/* Replaces the options of an existing subscription; ERR_NOTFOUND when there is none. */
int store_pubsub_sub_options_set(struct store *st, const char *host, const char *node,
                                 const char *jid, const char *options);

#endif
