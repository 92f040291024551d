/* store_cluster.h: the store's "cluster" area (issue 19): secrets every node of a cluster must
 * share (the dialback key, the fake SCRAM salt of unknown users). */
#ifndef STARLING_STORE_STORE_CLUSTER_H
#define STARLING_STORE_STORE_CLUSTER_H

#include "core/buf.h"
#include "store/store.h"

/* The secret `name`: the stored one, or `fresh` stored now when there is none yet (the first
 * node to ask wins; the others read its value). Into `out`. */
int store_cluster_secret(struct store *st, const char *name, const char *fresh, struct buf *out);

#endif
