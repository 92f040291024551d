/* router_int.h: the router's internals shared by its files (not a public API). */
#ifndef STARLING_SIGNAL_ROUTER_INT_H
#define STARLING_SIGNAL_ROUTER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "signal/router.h"

/* The generation a struct router_route is valid in (never 0). */
unsigned router__route_gen(void);
/* The home worker of `to` when it is an account's full JID in a local domain (not an alias)
 * homed on this node, else -1. On a worker thread. `here`: the cluster's answer is known to be
 * "this node" (asked already, or the fan-out came from another node). */
int router__local_home(const struct jid *to, bool here);
/* The cluster's fan-out hooks, or NULL. */
const struct router_cluster_fanout *router__cluster_fanout(void);
/* Delivers `sig` (borrowed) on its recipient's home worker, the calling one; `hash` is
 * jid_bare_hash(&sig->to). The caller holds a reference to sig->xmpp_data of its own beside
 * the one `sig` holds. */
void router__deliver_lent(const struct signal *sig, size_t hash);

#endif
