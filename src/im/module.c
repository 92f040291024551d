/* module.c: the IM core in the module table: its settings rows (im.*), its per-worker state, its
 * stop and its memory release. */
#include "im/module.h"

#include <stddef.h>

#include "core/module.h"
#include "core/server.h"
#include "im/homestate.h"
#include "im/im.h"

/* The instant messaging core (RFC 6121, XEP-0160/0191). */
static const struct setting im_settings[] = {
    { .key = "im.max_roster_items",
      .type = SETTING_INT,
      SETTING_FIELD(im.max_roster_items),
      .min = 1,
      .max = 100000,
      .def = "1000",
      .desc = "Most items in one account's roster; a roster set past it is refused (not-allowed)" },
    { .key = "im.max_roster_item_length",
      .type = SETTING_INT,
      SETTING_FIELD(im.max_item_length),
      .min = 16,
      .max = 65536,
      .def = "1023",
      .desc = "Longest roster item name or group name, in bytes (not-acceptable beyond)" },
    { .key = "im.offline_quota",
      .type = SETTING_INT,
      SETTING_FIELD(im.offline_quota),
      .min = 0,
      .max = 1000000,
      .def = "1000",
      .desc = "Offline messages stored per account; past it senders get service-unavailable; "
              "0 = messages are never stored" },
    { .key = "im.max_blocklist_items",
      .type = SETTING_INT,
      SETTING_FIELD(im.max_blocklist_items),
      .min = 1,
      .max = 100000,
      .def = "1000",
      .desc = "Most JIDs in one account's blocklist (XEP-0191)" },
    { .key = NULL },
};

struct im_worker *im__worker(void)
{
    return module_slot_make(&im_module, sizeof(struct im_worker));
}

static void im_module_release(struct worker_ctx *wc)
{
    (void)wc;
    im_release_memory();
}

/* After the XMPP module's stop: the sessions it ended have reached the IM core. */
static void im_module_stop(struct worker_ctx *wc)
{
    (void)wc;
    im_worker_stop();
    im_home_state_stop();
    module_slot_free(&im_module);
}

struct module im_module = {
    .name = "im",
    .settings = im_settings,
    .worker_stop = im_module_stop,
    .release_memory = im_module_release,
};
