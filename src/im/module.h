/* module.h: the IM core in the module table: its entry and its per-worker state. */
#ifndef STARLING_IM_MODULE_H
#define STARLING_IM_MODULE_H

struct module;
struct home_state;
struct bl_cache;

/* The IM core's state on one worker, in its module slot (core/module.h). */
struct im_worker {
    struct home_state *home;      /* homestate.c: empty-list knowledge, last-seen records */
    struct bl_cache **blocklists; /* blocking.c: the cached blocklists' hash buckets */
};

/* The calling worker's IM state (made on first use; freed by the module's worker_stop). */
struct im_worker *im__worker(void);

extern struct module im_module;

#endif
