/* module.c: the archive in the module table: its settings rows (archive.*). */
#include <stddef.h>

#include "archive/archive.h"
#include "core/module.h"
#include "core/server.h"

static const struct setting archive_settings[] = {
    { .key = "archive.enabled",
      .type = SETTING_BOOL,
      SETTING_FIELD(archive.enabled),
      .def = "yes",
      .desc = "Archive the accounts' messages (XEP-0313); no = nothing new is archived (the "
              "archives stay queryable)" },
    { .key = "archive.keep_days",
      .type = SETTING_INT,
      SETTING_FIELD(archive.keep_days),
      .min = 0,
      .max = 36500,
      .def = "0",
      .desc = "Days an archived message is kept, unless its domain's archive_keep_days setting "
              "says otherwise; 0 = forever" },
    { .key = NULL },
};

static int archive_worker_start(struct worker_ctx *wc, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    archive_set_keep_days(wc->cfg->archive.keep_days);
    return 0;
}

static void archive_worker_stop(struct worker_ctx *wc)
{
    (void)wc;
    archive_thread_cleanup();
}

struct module archive_module = {
    .name = "archive",
    .settings = archive_settings,
    .worker_start = archive_worker_start,
    .worker_stop = archive_worker_stop,
    .release_memory = archive_worker_stop,
};
