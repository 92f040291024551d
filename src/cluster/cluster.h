/* cluster.h: several Starling nodes serving one domain over NATS (issue 19): membership by
 * heartbeats, each bare JID's (and room's) home node by rendezvous hashing over the live nodes,
 * signals for another node's addresses published to its subject (docs/internals/cluster.md). */
#ifndef STARLING_CLUSTER_CLUSTER_H
#define STARLING_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/settings.h"

/* Connects to NATS (cluster.nats_url), subscribes to this node's subject and to the
 * heartbeats, starts the heartbeat thread and waits one heartbeat period so that the first
 * routing decisions see the other nodes; then sets the router's and c2s's hooks. Does nothing
 * when cluster.node_id is empty. ERR_IO with a reason when NATS cannot be reached. */
int cluster_start(const struct settings *cfg, char *err, size_t errlen);
/* From now on a change of the live nodes ends the sessions whose account's home moved, with
 * <see-other-host/> naming the new home (call once the workers run). */
void cluster_workers_running(void);
/* Stops the heartbeats (the other nodes drop this one after the timeout), stops receiving and
 * closes the NATS connection (before the workers stop; later sends fail and deliver here). */
void cluster_stop(void);
/* Frees what cluster_stop left (after the workers stopped). Safe without a cluster. */
void cluster_free(void);
/* True when this process is a node of a cluster. */
bool cluster_enabled(void);
/* The node id of the home node of `key` (a bare JID) among the live nodes, into `out`. */
void cluster_home_of(const char *key, struct buf *out);
/* Appends {"self": id, "nodes": [{"id", "address", "age_ms", "self"}…]} as JSON text. */
void cluster_status_json(struct buf *out);

/* The module's worker_stop (module.c): frees the worker's outgoing batches. */
struct worker_ctx;
void cluster__worker_stop(struct worker_ctx *wc);

/* The cluster's settings rows (cluster.*) in the module table. */
struct module;
extern struct module cluster_module;

#endif
