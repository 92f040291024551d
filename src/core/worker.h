/* worker.h: worker threads, each with its own loop, and the inboxes through which they talk. */
#ifndef STARLING_CORE_WORKER_H
#define STARLING_CORE_WORKER_H

#include <pthread.h>
#include <stdbool.h>

#include "core/buf.h"
#include "core/loop.h"

#define WORKERS_MAX 64

struct worker;
/* A message run on the receiving worker's thread; `arg` is owned by the handler. */
typedef void worker_msg_fn(struct worker *w, void *arg);
/* Called on each worker's own thread when it starts and just before it stops. */
typedef void worker_hook_fn(struct worker *w, void *ud);

struct worker_msg {
    struct worker_msg *next;
    worker_msg_fn *fn;
    void *arg;
};

struct worker {
    int id;
    struct loop *loop;
    pthread_t thread;
    int inbox_fd;
    struct loop_io inbox_io;
    /* Per-worker state of the modules (owned by them). */
    void *ctx;
    /* Inbox: a mutex-guarded singly linked list that the owner swaps out whole. A writer wakes
     * the owner through the eventfd only when the list was empty, so a burst costs one wake-up.
     * On cache lines of its own: the other workers write them, the owner reads the fields above
     * all the time. `posted` counts the messages ever posted here (under the lock), `handled`
     * those run (by the owner; read under the lock at shutdown). */
    _Alignas(64) pthread_mutex_t inbox_lock;
    struct worker_msg *inbox_head;
    struct worker_msg *inbox_tail;
    unsigned long posted;
    unsigned long handled;
    char inbox_pad[64];
};

/* Starts n workers (1..WORKERS_MAX); `start` runs on each thread before its loop, `stop` after. */
int workers_start(int n, worker_hook_fn *start, worker_hook_fn *stop, void *ud);
/* Asks every worker to stop and joins the threads, in three steps: the quiesce hook runs on
 * every worker while all loops still run (close listeners and streams: what that posts is still
 * delivered); then the loops stop and each worker keeps draining its inbox until every worker
 * has stopped and no message is in flight; only then do the stop hooks run (free state). */
void workers_stop(void);
/* Sets the quiesce hook (before workers_stop). */
void workers_set_quiesce(worker_hook_fn *fn);
int workers_count(void);
struct worker *worker_get(int id);
/* The worker running the calling thread, or NULL on other threads. */
struct worker *worker_self(void);
/* The home worker of an address (a bare JID, a room, a queue key). */
int worker_home(struct strv key);
/* The same for the key "local@domain", from its parts (no printing per message). */
int worker_home_bare(struct strv local, struct strv domain);
/* Posts a message to worker `id`; callable from any thread, including the target itself. */
void worker_post(int id, worker_msg_fn *fn, void *arg);
/* Posts the same function to every worker (arg shared: the handler must not free it). */
void worker_broadcast(worker_msg_fn *fn, void *arg);
/* From a thread that is no worker: runs fn(w, arg) on worker `id` (or, with _all, on every
 * worker, concurrently) and returns when it has run. `arg` stays the caller's; handlers that
 * share it across workers synchronise themselves. */
void worker_call(int id, worker_msg_fn *fn, void *arg);
void workers_call_all(worker_msg_fn *fn, void *arg);

#endif
