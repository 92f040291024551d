/* module.c: the module table: the modules' worker hooks in order, their slots, memory release. */
#include "core/module.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"

struct server g_server;

static struct module *const *g_list;
static size_t g_count;

void modules_set(struct module *const *list, size_t n)
{
    if (n > MODULES_MAX) {
        fprintf(stderr, "modules: %zu modules, at most %d\n", n, MODULES_MAX);
        abort();
    }
    g_list = list;
    g_count = n;
    for (size_t i = 0; i < n; i++) {
        list[i]->index = (int)i + 1;
    }
}

size_t modules_count(void)
{
    return g_count;
}

const struct module *modules_get(size_t i)
{
    return i < g_count ? g_list[i] : NULL;
}

void **module_slot(const struct module *m)
{
    struct worker_ctx *wc = worker_ctx();
    if (wc == NULL || m->index < 1) {
        /* A programming error: per-worker state used off the workers, or a module not listed. */
        fprintf(stderr, "modules: slot of %s %s\n", m->name,
                wc == NULL ? "asked off the workers" : "of a module not in the table");
        abort();
    }
    return &wc->slots[m->index - 1];
}

void *module_slot_make(const struct module *m, size_t size)
{
    void **slot = module_slot(m);
    if (*slot == NULL) {
        *slot = xcalloc(1, size);
    }
    return *slot;
}

void module_slot_free(const struct module *m)
{
    void **slot = module_slot(m);
    free(*slot);
    *slot = NULL;
}

int modules_worker_start(struct worker_ctx *wc, char *err, size_t errlen)
{
    for (size_t i = 0; i < g_count; i++) {
        int rc = g_list[i]->worker_start != NULL ? g_list[i]->worker_start(wc, err, errlen) : 0;
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

void modules_worker_quiesce(struct worker_ctx *wc)
{
    for (size_t i = 0; i < g_count; i++) {
        if (g_list[i]->worker_quiesce != NULL) {
            g_list[i]->worker_quiesce(wc);
        }
    }
}

void modules_worker_stop(struct worker_ctx *wc)
{
    for (size_t i = 0; i < g_count; i++) {
        if (g_list[i]->worker_stop != NULL) {
            g_list[i]->worker_stop(wc);
        }
    }
}

void modules_trim_heap(void)
{
    malloc_trim(0);
}

void modules_release_memory(struct worker_ctx *wc)
{
    for (size_t i = 0; i < g_count; i++) {
        if (g_list[i]->release_memory != NULL) {
            g_list[i]->release_memory(wc);
        }
    }
    modules_trim_heap();
}

/* ---- the memory watch, on worker 0 ---- */

#define TRIM_PERIOD_MS 1000
#define TRIM_MIN_DROP 256
#define TRIM_FOLLOW_UPS 2

struct memory_watch {
    struct worker *worker;
    struct loop_timer timer;
    int prev;  /* the connection count at the previous check */
    int again; /* follow-up releases still to run after one */
};

static void release_on_worker(struct worker *w, void *arg)
{
    (void)arg;
    modules_release_memory(w->ctx);
}

/* After many connections have come and gone, the allocator keeps their memory for reuse and
 * SQLite the pages their logins read; once the count has fallen to half its recent peak (and by
 * a fair number) and has stopped falling fast, or has fallen to a quarter, every worker runs
 * the modules' release_memory. */
static void watch_check(void *ud)
{
    struct memory_watch *mw = ud;
    int now = atomic_load(&g_server.connections);
    int peak = atomic_load(&g_server.connections_peak);
    bool settled = mw->prev - now < TRIM_MIN_DROP / 4;
    mw->prev = now;
    if (peak - now >= TRIM_MIN_DROP && ((now <= peak / 2 && settled) || now <= peak / 4)) {
        worker_broadcast(release_on_worker, NULL);
        log_rec(LOG_TAG_SYSTEM, LOG_LOWLEVEL, 0, NULL,
                "connections fell from %d to %d: freed memory returned to the system", peak, now);
        atomic_store(&g_server.connections_peak, now);
        /* Ended sessions are still being wound up (presence, last-seen records): what they
         * free in the next seconds is released too. */
        mw->again = TRIM_FOLLOW_UPS;
    } else if (mw->again > 0) {
        mw->again--;
        worker_broadcast(release_on_worker, NULL);
    }
    loop_timer_start(mw->worker->loop, &mw->timer, TRIM_PERIOD_MS, watch_check, mw);
}

static int core_worker_start(struct worker_ctx *wc, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (wc->worker->id != 0) {
        return 0;
    }
    struct memory_watch *mw = xcalloc(1, sizeof(*mw));
    mw->worker = wc->worker;
    loop_timer_init(&mw->timer);
    loop_timer_start(wc->worker->loop, &mw->timer, TRIM_PERIOD_MS, watch_check, mw);
    *module_slot(&core_module) = mw;
    return 0;
}

static void core_worker_stop(struct worker_ctx *wc)
{
    void **slot = module_slot(&core_module);
    struct memory_watch *mw = *slot;
    if (mw != NULL) {
        loop_timer_stop(wc->worker->loop, &mw->timer);
        free(mw);
        *slot = NULL;
    }
}

struct module core_module = {
    .name = "core",
    .settings = settings_core,
    .worker_start = core_worker_start,
    .worker_stop = core_worker_stop,
};
