/* module.c: the pubsub module in the module table: its settings rows (pubsub.*) and the
 * per-worker presence state freed at stop. */
#include <stddef.h>

#include "core/module.h"
#include "core/server.h"
#include "pubsub/pubsub_int.h"

static const struct setting pubsub_settings[] = {
    { .key = "pubsub.max_nodes",
      .type = SETTING_INT,
      SETTING_FIELD(pubsub.max_nodes),
      .min = 1,
      .max = 100000,
      .def = "256",
      .desc = "Personal eventing nodes one account may have" },
    { .key = "pubsub.max_items",
      .type = SETTING_INT,
      SETTING_FIELD(pubsub.max_items),
      .min = 1,
      .max = 100000,
      .def = "256",
      .desc = "Items one node keeps at most (what max_items 'max' means)" },
    { .key = "pubsub.max_payload_size",
      .type = SETTING_LONG,
      SETTING_FIELD(pubsub.max_payload_size),
      .min = 256,
      .max = 16777216,
      .def = "262144",
      .desc = "Largest item payload, in bytes of XML" },
    { .key = NULL },
};

static void pubsub_module_stop(struct worker_ctx *wc)
{
    (void)wc;
    pubsub__worker_free();
}

struct module pubsub_module = {
    .name = "pubsub",
    .settings = pubsub_settings,
    .worker_stop = pubsub_module_stop,
};
