/* store_cluster.h: the store's "cluster" area (issue 19): secrets every node of a cluster must
 * share (the dialback key, the fake SCRAM salt of unknown users). */
#ifndef STARLING_STORE_STORE_CLUSTER_H
#define STARLING_STORE_STORE_CLUSTER_H

#include <stdint.h>

#include "core/buf.h"
#include "store/store.h"

/* The secret `name`: the stored one, or `fresh` stored now when there is none yet (the first
 * node to ask wins; the others read its value). Into `out`. */
int store_cluster_secret(struct store *st, const char *name, const char *fresh, struct buf *out);

/* The journal of the nodes' outgoing server-to-server queues (table cluster_s2s_queue): a row
 * per stanza waiting in a node's queue, deleted once written. `id` is unique over the cluster's
 * life ("node/run/seq"); `run` names one start of the node. */
struct store_s2s_row {
    const char *id;
    const char *node;
    const char *run;
    uint64_t seq;
    const char *target;
    const char *source;
    const char *stanza;
    long long queued_ms; /* wall clock */
};
int store_cluster_s2s_add(struct store *st, const struct store_s2s_row *row);
int store_cluster_s2s_done(struct store *st, const char *id);
/* Moves the rows of `node` (except those of its run `but_run`; "" for none) to `claimer`, in
 * one statement: of two nodes claiming at once, each row goes to one. *claimed: how many. */
int store_cluster_s2s_claim(struct store *st, const char *node, const char *but_run,
                            const char *claimer, int *claimed);
/* The rows held by `claimer`, oldest first: fn(ud, {id, stanza}, 2). */
typedef int store_s2s_fn(void *ud, const char *const *cols, int ncols);
int store_cluster_s2s_list(struct store *st, const char *claimer, store_s2s_fn *fn, void *ud);
/* The names rows are held under (nodes, and claimers): fn(ud, {node}, 1). */
int store_cluster_s2s_nodes(struct store *st, store_s2s_fn *fn, void *ud);

/* The available client sessions of the nodes (table cluster_sessions): a row per full JID
 * while its session is available, held under its node's id and run, so that when a node dies
 * another one tells the sessions' contacts that they went away. `add` replaces the row of the
 * same JID (a session that came back on another node); `gone` removes it while `node` still
 * holds it (*removed: 0 when another node took it meanwhile). claim, list and nodes work as the
 * s2s journal's do, the list's columns being {jid}. */
int store_cluster_session_add(struct store *st, const char *jid, const char *node, const char *run);
int store_cluster_session_gone(struct store *st, const char *jid, const char *node, int *removed);
int store_cluster_session_claim(struct store *st, const char *node, const char *but_run,
                                const char *claimer, int *claimed);
int store_cluster_session_list(struct store *st, const char *claimer, store_s2s_fn *fn, void *ud);
int store_cluster_session_nodes(struct store *st, store_s2s_fn *fn, void *ud);

#endif
