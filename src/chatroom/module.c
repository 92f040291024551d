/* module.c: the chatroom module in the module table: its settings rows (muc.*) and its stop. */
#include <stddef.h>

#include "chatroom/chatroom.h"
#include "core/module.h"
#include "core/server.h"

/* Multi-user chat (XEP-0045). */
static const struct setting chatroom_settings[] = {
    { .key = "muc.max_rooms",
      .type = SETTING_INT,
      SETTING_FIELD(muc.max_rooms),
      .min = 1,
      .max = 10000000,
      .def = "10000",
      .desc = "Rooms one chat service (XEP-0045) may hold" },
    { .key = "muc.max_occupants",
      .type = SETTING_INT,
      SETTING_FIELD(muc.max_occupants),
      .min = 1,
      .max = 100000,
      .def = "500",
      .desc = "Occupants one room may hold (the room's own maximum cannot exceed it)" },
    { .key = "muc.history_length",
      .type = SETTING_INT,
      SETTING_FIELD(muc.history_length),
      .min = 0,
      .max = 10000,
      .def = "50",
      .desc = "Messages a room keeps for the discussion history sent to joining occupants" },
    { .key = "muc.message_rate",
      .type = SETTING_INT,
      SETTING_FIELD(muc.message_rate),
      .min = 0,
      .max = 1000000,
      .def = "120",
      .desc = "Messages one occupant may send to a room per minute; 0 = no limit" },
    { .key = NULL },
};

static void chatroom_module_stop(struct worker_ctx *wc)
{
    (void)wc;
    chatroom_worker_stop();
}

struct module chatroom_module = {
    .name = "chatroom",
    .settings = chatroom_settings,
    .worker_stop = chatroom_module_stop,
};
