/* module.h: the module table: each module's settings rows, per-worker life, slot and memory. */
#ifndef STARLING_CORE_MODULE_H
#define STARLING_CORE_MODULE_H

#include <stddef.h>

#include "core/settings.h"

#define MODULES_MAX 32

struct worker_ctx;

/* One module of the server, declared by the module itself (`<area>/module.c`) and listed once in
 * main.c's table. Every member but `name` may be 0. The table's order is the order of the
 * settings file, `-o` help, the admin API's settings.get and docs/settings.md, and the order in
 * which every worker starts, quiesces and stops the modules (docs/internals/modules.md). */
struct module {
    const char *name;
    /* Its rows of the one settings table (core/settings.h), in listing order, ended by a row
     * without key. */
    const struct setting *settings;
    /* On each worker's thread before its loop runs; the worker's store, router and settings
     * are set. Non-zero fails the server's start with the reason in `err`. */
    int (*worker_start)(struct worker_ctx *wc, char *err, size_t errlen);
    /* On each worker while every loop still runs (close listeners and streams). */
    void (*worker_quiesce)(struct worker_ctx *wc);
    /* On each worker after every loop has stopped: free the module's per-worker state, the
     * slot's included. */
    void (*worker_stop)(struct worker_ctx *wc);
    /* On each worker after a fall in connections: give caches and idle memory back. */
    void (*release_memory)(struct worker_ctx *wc);
    /* Its place in the table plus one, set by modules_set (0: not listed). */
    int index;
};

/* The table, in order (called once, before the settings are read and the workers start). */
void modules_set(struct module *const *list, size_t n);
size_t modules_count(void);
const struct module *modules_get(size_t i);

/* The calling worker's slot of `m`: one pointer per module and worker, NULL at the worker's
 * start, owned by the module (allocated when first needed, freed by its worker_stop). Only on a
 * worker's thread; `m` must be listed. */
void **module_slot(const struct module *m);
/* The slot's object: `size` zeroed bytes made on first use. */
void *module_slot_make(const struct module *m, size_t size);
/* Frees the slot's object (what it points to is the module's to free first); NULL again. */
void module_slot_free(const struct module *m);

/* The worker hooks of every module in table order; main.c calls them from its own. */
int modules_worker_start(struct worker_ctx *wc, char *err, size_t errlen);
void modules_worker_quiesce(struct worker_ctx *wc);
void modules_worker_stop(struct worker_ctx *wc);
/* Every module's release_memory on the calling worker, then the allocator's free pages back to
 * the system. */
void modules_release_memory(struct worker_ctx *wc);
/* Gives the allocator's free pages back to the system (malloc_trim). */
void modules_trim_heap(void);

/* The core's own entry (the server.* and log.* rows; on worker 0 the watch that calls every
 * worker's release_memory once the connection count has fallen from its peak). */
extern struct module core_module;

#endif
