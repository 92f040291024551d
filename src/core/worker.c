/* worker.c: worker threads, inboxes (mutex + eventfd), home-worker hashing. */
#include "core/worker.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/err.h"

static struct worker *g_workers[WORKERS_MAX];
static int g_count;
static worker_hook_fn *g_start;
static worker_hook_fn *g_stop;
static void *g_ud;
static worker_hook_fn *g_quiesce;
static pthread_barrier_t g_barrier;
/* Workers whose loop has ended: shutdown waits for all of them, and for every inbox to be
 * empty (posted == handled on each worker), so that no message is left in an inbox nobody
 * drains. */
static atomic_int g_loops_ended;
static __thread struct worker *t_self;

/* Inbox messages handled on this thread, kept for its own next posts: a message is allocated by
 * the poster and freed by the receiver, and that pattern, between two threads, sends every small
 * block through malloc's slow paths (its per-thread cache only helps the thread that frees). */
#define MSG_POOL_MAX 1024
static __thread struct worker_msg *t_msg_pool;
static __thread unsigned t_msg_pool_n;

static struct worker_msg *msg_new(void)
{
    struct worker_msg *m = t_msg_pool;
    if (m == NULL) {
        return xmalloc(sizeof(*m));
    }
    t_msg_pool = m->next;
    t_msg_pool_n--;
    return m;
}

static void msg_done(struct worker_msg *m)
{
    if (t_msg_pool_n >= MSG_POOL_MAX) {
        free(m);
        return;
    }
    m->next = t_msg_pool;
    t_msg_pool = m;
    t_msg_pool_n++;
}

static void msg_pool_free(void)
{
    while (t_msg_pool != NULL) {
        struct worker_msg *next = t_msg_pool->next;
        free(t_msg_pool);
        t_msg_pool = next;
    }
    t_msg_pool_n = 0;
}

static void drain_inbox(void *ud, uint32_t events)
{
    struct worker *w = ud;
    (void)events;
    uint64_t v;
    while (read(w->inbox_fd, &v, sizeof(v)) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&w->inbox_lock);
    struct worker_msg *m = w->inbox_head;
    w->inbox_head = NULL;
    w->inbox_tail = NULL;
    pthread_mutex_unlock(&w->inbox_lock);
    unsigned long n = 0;
    while (m) {
        struct worker_msg *next = m->next;
        m->fn(w, m->arg);
        msg_done(m);
        n++;
        m = next;
    }
    if (n > 0) {
        pthread_mutex_lock(&w->inbox_lock);
        w->handled += n;
        pthread_mutex_unlock(&w->inbox_lock);
    }
}

/* Shutdown: no worker has a message posted and not yet handled. Every inbox lock is held at
 * once (taken in worker order, so concurrent checks cannot deadlock; a poster holds one lock
 * only), which makes the counts one consistent snapshot: a message being handled keeps its
 * worker's handled count behind until whatever it posted is counted at its target. */
static bool nothing_in_flight(void)
{
    bool idle = true;
    for (int i = 0; i < g_count; i++) {
        pthread_mutex_lock(&g_workers[i]->inbox_lock);
        idle = idle && g_workers[i]->posted == g_workers[i]->handled;
    }
    for (int i = g_count - 1; i >= 0; i--) {
        pthread_mutex_unlock(&g_workers[i]->inbox_lock);
    }
    return idle;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    t_self = w;
    if (g_start) {
        g_start(w, g_ud);
    }
    pthread_barrier_wait(&g_barrier);
    loop_run(w->loop);
    /* Messages posted after the stop request are still handled, here, on their worker, with its
     * state intact, until every loop has ended and nothing is in flight. */
    atomic_fetch_add(&g_loops_ended, 1);
    for (;;) {
        drain_inbox(w, 0);
        loop_run_deferred(w->loop);
        if (atomic_load(&g_loops_ended) == g_count && nothing_in_flight()) {
            break;
        }
        usleep(200);
    }
    if (g_stop) {
        g_stop(w, g_ud);
    }
    msg_pool_free();
    return NULL;
}

static struct worker *worker_new(int id)
{
    /* Aligned for the inbox's own cache lines (struct worker). */
    struct worker *w = aligned_alloc(_Alignof(struct worker), sizeof(*w));
    if (w == NULL) {
        abort();
    }
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->loop = loop_new();
    pthread_mutex_init(&w->inbox_lock, NULL);
    w->inbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->loop == NULL || w->inbox_fd < 0) {
        abort();
    }
    loop_io_add(w->loop, &w->inbox_io, w->inbox_fd, EPOLLIN, drain_inbox, w);
    return w;
}

static void worker_free(struct worker *w)
{
    loop_io_del(w->loop, &w->inbox_io);
    close(w->inbox_fd);
    loop_free(w->loop);
    pthread_mutex_destroy(&w->inbox_lock);
    free(w);
}

int workers_start(int n, worker_hook_fn *start, worker_hook_fn *stop, void *ud)
{
    if (n < 1 || n > WORKERS_MAX) {
        return ERR_INVAL;
    }
    g_start = start;
    g_stop = stop;
    g_ud = ud;
    g_count = n;
    for (int i = 0; i < n; i++) {
        g_workers[i] = worker_new(i);
    }
    pthread_barrier_init(&g_barrier, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&g_workers[i]->thread, NULL, worker_main, g_workers[i]) != 0) {
            abort();
        }
    }
    /* Returns once every worker ran its start hook. */
    pthread_barrier_wait(&g_barrier);
    pthread_barrier_destroy(&g_barrier);
    return 0;
}

static void stop_msg(struct worker *w, void *arg)
{
    (void)arg;
    loop_stop(w->loop);
}

void workers_set_quiesce(worker_hook_fn *fn)
{
    g_quiesce = fn;
}

/* A synchronous call: the caller waits until every target worker ran fn. */
struct call_wait {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int pending;
    worker_msg_fn *fn;
    void *arg;
};

static void call_msg(struct worker *w, void *arg)
{
    struct call_wait *c = arg;
    c->fn(w, c->arg);
    pthread_mutex_lock(&c->lock);
    c->pending--;
    pthread_cond_signal(&c->done);
    pthread_mutex_unlock(&c->lock);
}

static void call_workers(int id, worker_msg_fn *fn, void *arg)
{
    struct call_wait c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                           id < 0 ? g_count : 1, fn, arg };
    for (int i = 0; i < g_count; i++) {
        if (id < 0 || i == id) {
            worker_post(i, call_msg, &c);
        }
    }
    pthread_mutex_lock(&c.lock);
    while (c.pending > 0) {
        pthread_cond_wait(&c.done, &c.lock);
    }
    pthread_mutex_unlock(&c.lock);
    pthread_mutex_destroy(&c.lock);
    pthread_cond_destroy(&c.done);
}

void worker_call(int id, worker_msg_fn *fn, void *arg)
{
    call_workers(id, fn, arg);
}

void workers_call_all(worker_msg_fn *fn, void *arg)
{
    call_workers(-1, fn, arg);
}

static void quiesce_msg(struct worker *w, void *arg)
{
    (void)arg;
    g_quiesce(w, g_ud);
}

void workers_stop(void)
{
    if (g_quiesce && g_count > 0) {
        workers_call_all(quiesce_msg, NULL);
    }
    for (int i = 0; i < g_count; i++) {
        worker_post(i, stop_msg, NULL);
    }
    for (int i = 0; i < g_count; i++) {
        pthread_join(g_workers[i]->thread, NULL);
    }
    for (int i = 0; i < g_count; i++) {
        worker_free(g_workers[i]);
        g_workers[i] = NULL;
    }
    g_count = 0;
    atomic_store(&g_loops_ended, 0);
}

int workers_count(void)
{
    return g_count;
}

struct worker *worker_get(int id)
{
    return (id >= 0 && id < g_count) ? g_workers[id] : NULL;
}

struct worker *worker_self(void)
{
    return t_self;
}

/* FNV-1a: stable and cheap; the key is already a prepared (case-folded) address. */
#define FNV_OFFSET 1469598103934665603ull

static uint64_t fnv_more(uint64_t h, struct strv s)
{
    for (size_t i = 0; i < s.len; i++) {
        h ^= (unsigned char)s.p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int home_of_hash(uint64_t h)
{
    return g_count > 0 ? (int)(h % (uint64_t)g_count) : 0;
}

int worker_home(struct strv key)
{
    return home_of_hash(fnv_more(FNV_OFFSET, key));
}

int worker_home_bare(struct strv local, struct strv domain)
{
    uint64_t h = fnv_more(FNV_OFFSET, local);
    h = fnv_more(h, (struct strv){ "@", 1 });
    return home_of_hash(fnv_more(h, domain));
}

void worker_post(int id, worker_msg_fn *fn, void *arg)
{
    struct worker *w = g_workers[id];
    struct worker_msg *m = msg_new();
    m->next = NULL;
    m->fn = fn;
    m->arg = arg;
    pthread_mutex_lock(&w->inbox_lock);
    w->posted++;
    bool was_empty = w->inbox_head == NULL;
    if (w->inbox_tail) {
        w->inbox_tail->next = m;
    } else {
        w->inbox_head = m;
    }
    w->inbox_tail = m;
    pthread_mutex_unlock(&w->inbox_lock);
    if (was_empty) {
        uint64_t one = 1;
        while (write(w->inbox_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
        }
    }
}

void worker_broadcast(worker_msg_fn *fn, void *arg)
{
    for (int i = 0; i < g_count; i++) {
        worker_post(i, fn, arg);
    }
}
