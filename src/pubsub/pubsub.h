/* pubsub.h: publish-subscribe (XEP-0060) as personal eventing (XEP-0163) on accounts' bare JIDs,
 * with what rides on it: bookmarks conversion (XEP-0402/0411). */
#ifndef STARLING_PUBSUB_PUBSUB_H
#define STARLING_PUBSUB_PUBSUB_H

/* Adds the pubsub iq service to the services' table and sets the hooks it needs below it (the
 * IM core's presence hook, the services' result and private XML hooks). At start-up, before the
 * workers run; called by main.c. */
void pubsub_init(void);

/* The service pubsub.<domain> of every local domain: a router component (registered by
 * pubsub_init), and its address for `domain` in `out` (inline: the admin API names it without
 * linking the module). */
#include <stdbool.h>

#include "core/buf.h"
#define PUBSUB_SERVICE_PREFIX "pubsub."
static inline bool pubsub_service_of(const char *domain, struct buf *out)
{
    buf_reset(out);
    return buf_printf(out, "%s%s", PUBSUB_SERVICE_PREFIX, domain) == 0;
}

/* An administrator removed the node `node` of the service `service` (pubsub.<domain>) whose
 * stored configuration was `config`: sends its `n` subscribers the <delete/> event an owner's
 * delete sends (when the node's pubsub#notify_delete is on). Any thread. */
#include <stddef.h>
void pubsub_service_node_deleted(const char *service, const char *node, const char *config,
                                 const char *const *subscribers, size_t n);

/* pubsub.* settings and the per-worker presence state (core/module.h). */
struct module;
extern struct module pubsub_module;

#endif
