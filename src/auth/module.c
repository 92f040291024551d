/* module.c: the auth module in the module table: its settings rows (auth.*, the lock-out). */
#include <stddef.h>

#include "auth/lockout.h"
#include "core/module.h"

static const struct setting auth_settings[] = {
    { .key = "auth.lock_after",
      .type = SETTING_INT,
      SETTING_FIELD(auth.lock_after),
      .min = 0,
      .max = 1000,
      .def = "5",
      .desc = "Failed logins of one account (XMPP and WebAdmin, from any address) after which "
              "it is locked for auth.lock_time; 0 = never locked" },
    { .key = "auth.lock_time",
      .type = SETTING_INT,
      SETTING_FIELD(auth.lock_time),
      .min = 1,
      .max = 86400,
      .def = "60",
      .desc = "Seconds of an account's first lock; each further failure doubles it" },
    { .key = "auth.lock_max",
      .type = SETTING_INT,
      SETTING_FIELD(auth.lock_max),
      .min = 1,
      .max = 604800,
      .def = "900",
      .desc = "Longest lock of an account, in seconds" },
    { .key = "auth.lock_window",
      .type = SETTING_INT,
      SETTING_FIELD(auth.lock_window),
      .min = 1,
      .max = 604800,
      .def = "900",
      .desc = "Seconds an account's failed logins are remembered after its last one" },
    { .key = NULL },
};

struct module auth_module = {
    .name = "auth",
    .settings = auth_settings,
};
