/* pubsub_int.h: shared internals of src/pubsub/ (not a public API). */
#ifndef STARLING_PUBSUB_PUBSUB_INT_H
#define STARLING_PUBSUB_PUBSUB_INT_H

#include <stdbool.h>

#include "core/buf.h"
#include "jid/jid.h"
#include "pubsub/pubsub.h"
#include "services/services.h"
#include "signal/router.h"
#include "xml/xml.h"

enum pubsub_access {
    PUBSUB_ACCESS_OPEN,
    PUBSUB_ACCESS_PRESENCE,
    PUBSUB_ACCESS_ROSTER,
    PUBSUB_ACCESS_WHITELIST,
    PUBSUB_ACCESS_AUTHORIZE, /* the service only: the owner approves each subscriber */
};

enum pubsub_publish {
    PUBSUB_PUBLISH_PUBLISHERS,
    PUBSUB_PUBLISH_SUBSCRIBERS,
    PUBSUB_PUBLISH_OPEN,
};

enum pubsub_send_last {
    PUBSUB_SEND_NEVER,
    PUBSUB_SEND_ON_SUB,
    PUBSUB_SEND_ON_SUB_AND_PRESENCE,
};

/* A node's configuration (pubsub#node_config), parsed from its stored text. */
struct pubsub_config {
    int access;          /* enum pubsub_access */
    int publish;         /* enum pubsub_publish */
    int send_last;       /* enum pubsub_send_last */
    long long max_items; /* PUBSUB_MAX_ITEMS_MAX: "max", the pubsub.max_items setting */
    bool persist;
    bool deliver_payloads;
    bool deliver_notifications;
    bool notify_retract;
    bool notify_delete;
    bool notify_config;
    bool normal; /* pubsub#notification_type normal (else headline) */
    char type[256];
    char title[256];
    char groups[1024]; /* pubsub#roster_groups_allowed: "a\nb\n" */
};
#define PUBSUB_MAX_ITEMS_MAX (-1)

/* config.c */
/* A boolean field's value ("1"/"true", "0"/"false"); ERR_INVAL for anything else. */
int pubsub__parse_bool(const char *v, bool *out);
/* The defaults of a PEP node. */
void pubsub__config_default(struct pubsub_config *c);
/* Applies one field value (`append`: a further value of a multi-value field). ERR_NOTFOUND: an
 * unknown field; ERR_INVAL: a value the field cannot take. */
int pubsub__config_apply(struct pubsub_config *c, const char *var, const char *value, bool append);
/* Applies a submitted data form (FORM_TYPE and unknown fields per `strict`); the first
 * failing field's code. */
int pubsub__config_apply_form(struct pubsub_config *c, const struct xml_node *form, bool strict);
/* The stored text of a configuration and back (unknown lines are ignored). */
void pubsub__config_text(const struct pubsub_config *c, struct buf *out);
void pubsub__config_parse(struct pubsub_config *c, const char *text);
/* XEP-0060 §7.1.5: does the node's configuration meet the publish-options form? */
bool pubsub__config_meets(const struct pubsub_config *c, const struct xml_node *form);
/* A new <x type='form'/> with its hidden FORM_TYPE, added to `parent`. */
struct xml_node *pubsub__form_new(struct xml_node *parent, const char *form_type);
/* The node_config form of `c`, added to `parent`. */
void pubsub__config_form(const struct pubsub_config *c, struct xml_node *parent);
/* The item count the node keeps (its max_items, "max" meaning the setting). */
long long pubsub__config_keep(const struct pubsub_config *c);

/* subopts.c: a subscription's options (XEP-0060 §6.3, pubsub#subscribe_options). */
struct pubsub_subopts {
    bool deliver;      /* pubsub#deliver: false stops the subscription's notifications */
    bool include_body; /* pubsub#include_body: notifications carry a <body/> */
};
void pubsub__subopts_default(struct pubsub_subopts *o);
/* The stored text ("" the defaults) and back. */
void pubsub__subopts_parse(struct pubsub_subopts *o, const char *text);
void pubsub__subopts_text(const struct pubsub_subopts *o, struct buf *out);
/* Applies a submitted subscribe_options form; ERR_INVAL for another FORM_TYPE, an unknown field
 * or a value the field cannot take (pubsub#digest: only false, digests are not offered). */
int pubsub__subopts_apply_form(struct pubsub_subopts *o, const struct xml_node *form);
/* The subscribe_options form of `o`, added to `parent`. */
void pubsub__subopts_form(const struct pubsub_subopts *o, struct xml_node *parent);

/* node.c: the iq handlers (service_pubsub in pubsub.c). */
int pubsub__get(struct service_ctx *ctx);
int pubsub__set(struct service_ctx *ctx);
int pubsub__owner_get(struct service_ctx *ctx);
int pubsub__owner_set(struct service_ctx *ctx);
/* Publishes `payload` (an element) as item `id` (NULL: a new id) to the owner's node, creating
 * it with `options` (a publish-options form or NULL) when missing, and notifies; as the owner.
 * For the conversions (bookmarks). */
int pubsub__publish_as_owner(const struct jid *owner, const char *node, const char *id,
                             const struct xml_node *payload, const struct xml_node *options);
int pubsub__retract_as_owner(const struct jid *owner, const char *node, const char *id);

/* notify.c: who hears of a node's events. */
/* Sends `event` (an <event/> child: items, retract, delete, purge) of the owner's node to the
 * explicit subscribers and to the available JIDs whose capabilities ask for it (+notify). */
void pubsub__notify(const struct jid *owner, const char *node, const struct pubsub_config *c,
                    const struct xml_node *event_child);
/* Sends the node's last item to `to` (a subscriber, just subscribed). */
void pubsub__send_last(const struct jid *owner, const char *node, const struct pubsub_config *c,
                       const char *to);
/* May `who` (a JID of the requester) read the owner's node? 0, or the code of the error sent
 * through `ctx` when not NULL. */
int pubsub__access(const struct jid *owner, const char *node, const struct pubsub_config *c,
                   const struct jid *who, struct service_ctx *ctx);
void pubsub__presence(const struct jid *user, const struct jid *from, const struct xml_node *p);
void pubsub__result(const struct signal *sig);
/* Frees the calling worker's presence state. */
void pubsub__worker_free(void);

/* compat.c: XEP-0411 both ways between private XML storage:bookmarks and PEP bookmarks. */
void pubsub__private_stored(const struct jid *account, const struct xml_node *el);
void pubsub__bookmarks_changed(const struct jid *owner);

/* avatar.c: XEP-0398 both ways between the vCard's PHOTO and the XEP-0084 nodes. */
void pubsub__vcard_stored(const struct jid *account, const struct xml_node *vcard);
/* The owner published `metadata` (a urn:xmpp:avatar:metadata payload). */
void pubsub__avatar_published(const struct jid *owner, const struct xml_node *metadata);

/* node.c: an owner's answer to a subscription authorization request (XEP-0060 §8.6), a message
 * to the service; true when it was one. */
bool pubsub__authorization(const struct signal *msg);

/* The §8.6 authorization request message (a form) for a subscriber of a node. */
struct xml_node *pubsub__authorization_request(const char *node, const char *subscriber);
/* pending.c: the ad-hoc command pubsub#get-pending on the service (§8.7), a <command/> set. */
int pubsub__get_pending(struct service_ctx *ctx);
#define PUBSUB_GET_PENDING NS_PUBSUB "#get-pending"

/* service.c: pubsub.<domain>, the router's component for it. */
extern const struct router_component pubsub_component;
/* Adds the service's <feature/>s (pubsub.c: PEP's less those of PEP alone) to a disco#info. */
void pubsub__service_features(struct xml_node *query);
void pubsub__server_items(const struct service_ctx *ctx, service_item_fn *fn, void *ud);

/* pubsub.c: shared helpers. */
/* Answers with an error that carries a pubsub#errors condition (NULL: none) with an optional
 * 'feature' attribute. */
int pubsub__error(struct service_ctx *ctx, const char *type, const char *condition, const char *app,
                  const char *feature);
/* The owner's bare JID text ("local@domain"). */
void pubsub__host(const struct jid *owner, struct buf *out);
/* An element's stored text and back (NULL when it does not parse). */
int pubsub__serialize(const struct xml_node *n, size_t max, struct buf *out);
struct xml_node *pubsub__parse(const char *text);
/* Appends <item id publisher>payload</item> (a stored item) to `items`. */
void pubsub__item_append(struct xml_node *items, const char *id, const char *publisher,
                         const char *payload);
/* The <message/> with <event xmlns=pubsub#event> around a copy of `child`. */
struct xml_node *pubsub__event_message(const struct pubsub_config *c, const struct xml_node *child);
void pubsub__send_message(const struct jid *from, const char *to, struct xml_node *msg);

#endif
