/* module.c: the cluster in the module table: its settings rows (cluster.*). */
#include <stddef.h>

#include "cluster/cluster.h"
#include "core/module.h"

static const struct setting cluster_settings[] = {
    { .key = "cluster.node_id",
      .type = SETTING_STRING,
      SETTING_FIELD(cluster.node_id),
      .def = "",
      .desc = "This node's name in a cluster of several Starling nodes (read at start); empty = "
              "one server alone",
      .values = "letters, digits, - and _; unique per node" },
    { .key = "cluster.nats_url",
      .type = SETTING_STRING,
      SETTING_FIELD(cluster.nats_url),
      .def = "nats://127.0.0.1:4222",
      .desc = "The NATS server the nodes talk through (read at start)",
      .values = "a nats:// URL, or several separated by commas" },
    { .key = "cluster.client_address",
      .type = SETTING_STRING,
      SETTING_FIELD(cluster.client_address),
      .def = "",
      .desc = "host:port where clients reach this node directly; a client of an account whose "
              "home is this node is sent here by <see-other-host/> from the other nodes",
      .values = "host:port (IPv6 host in brackets); empty = clients stay where they connect" },
    { .key = NULL },
};

struct module cluster_module = {
    .name = "cluster",
    .settings = cluster_settings,
    .worker_stop = cluster__worker_stop,
};
