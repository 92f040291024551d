/* module.c: the store in the module table: its memory release (each worker's handle's page
 * cache). The handle itself is part of the worker's context (core/server.h), opened by main.c
 * before any module starts and closed after every module stopped. */
#include <stddef.h>

#include "core/module.h"
#include "core/server.h"
#include "store/store.h"

static void store_module_release(struct worker_ctx *wc)
{
    if (wc->store != NULL) {
        store_release_memory(wc->store);
    }
}

struct module store_module = {
    .name = "store",
    .release_memory = store_module_release,
};
