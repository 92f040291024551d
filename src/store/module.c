/* module.c: the store in the module table: its settings rows (store.*) and its memory release
 * (each worker's handle's page cache). The handle itself is part of the worker's context
 * (core/server.h), opened by main.c before any module starts and closed after every module
 * stopped. */
#include <stddef.h>

#include "core/module.h"
#include "core/server.h"
#include "store/store.h"

static const struct setting store_settings[] = {
    { .key = "store.backend",
      .type = SETTING_CHOICE,
      SETTING_FIELD(store.backend),
      .def = "sqlite",
      .choices = (const char *const[]){ "sqlite", "postgresql", NULL },
      .desc = "Where persistent data lives (read at start): the SQLite file starling.db of the "
              "data directory, or a PostgreSQL database",
      .values = "sqlite, postgresql (then store.postgresql.conninfo names the database)" },
    { .key = "store.postgresql.conninfo",
      .type = SETTING_STRING,
      SETTING_FIELD(store.pg_conninfo),
      .def = "",
      .desc = "libpq connection string of the PostgreSQL database (store.backend = postgresql; "
              "read at start)",
      .values = "e.g. \"host=/run/postgresql dbname=starling\" or a postgresql:// URI" },
    { .key = "store.postgresql.timeout",
      .type = SETTING_INT,
      SETTING_FIELD(store.pg_timeout),
      .def = "30",
      .min = 1,
      .max = 600,
      .desc = "The longest a store call waits for PostgreSQL to connect or to answer (read at "
              "start); past it the call fails (the client gets a wait error) and the connection "
              "is opened again at most once per this period, so a hung or silently unreachable "
              "database cannot freeze a node's workers",
      .values = "seconds, 1-600" },
    { .key = NULL },
};

static void store_module_release(struct worker_ctx *wc)
{
    if (wc->store != NULL) {
        store_release_memory(wc->store);
    }
}

struct module store_module = {
    .name = "store",
    .settings = store_settings,
    .release_memory = store_module_release,
};
