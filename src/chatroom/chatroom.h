/* chatroom.h: XEP-0045 multi-user chat as a named task: one task per room on its home worker. */
#ifndef STARLING_CHATROOM_CHATROOM_H
#define STARLING_CHATROOM_CHATROOM_H

#include <stdbool.h>

#include "signal/router.h"

/* The router component serving every local domain's chat service (domain setting
 * chat_service, default conference.<domain>). Registered at start-up. */
extern const struct router_component chatroom_component;

/* The chat service of local domain `domain` (canonical), written to `out`; false when the
 * domain has none. Uses the calling worker's cache. For disco#items of the domain. */
bool chatroom_service_of(const char *domain, struct buf *out);

/* Called on each worker as it stops: frees the rooms it hosts (persistent ones are stored
 * already). */
void chatroom_worker_stop(void);

/* The chatroom module in the module table (core/module.h): muc.* settings, the stop above. */
struct module;
extern struct module chatroom_module;

#endif
