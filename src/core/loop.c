/* loop.c: epoll loop with a binary heap of timers and a list of deferred calls. */
#include "core/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"

#define LOOP_MAX_EVENTS 256

static void run_deferred(struct loop *l);

struct loop {
    int epfd;
    bool stopping;
    uint64_t now_ms;
    struct loop_timer **heap;
    size_t heap_len;
    size_t heap_cap;
    struct loop_defer *defer_head;
    struct loop_defer *defer_tail;
};

uint64_t loop_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct loop *loop_new(void)
{
    struct loop *l = xcalloc(1, sizeof(*l));
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    l->now_ms = loop_clock_ms();
    return l;
}

void loop_free(struct loop *l)
{
    if (l == NULL) {
        return;
    }
    close(l->epfd);
    free(l->heap);
    free(l);
}

void loop_stop(struct loop *l)
{
    l->stopping = true;
}

uint64_t loop_now_ms(const struct loop *l)
{
    return l->now_ms;
}

int loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t events, loop_io_fn *fn,
                void *ud)
{
    io->fd = fd;
    io->events = events;
    io->fn = fn;
    io->ud = ud;
    struct epoll_event ev = { .events = events, .data.ptr = io };
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return ERR_IO;
    }
    return 0;
}

int loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
    if (io->events == events) {
        return 0;
    }
    io->events = events;
    struct epoll_event ev = { .events = events, .data.ptr = io };
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0) {
        return ERR_IO;
    }
    return 0;
}

void loop_io_del(struct loop *l, struct loop_io *io)
{
    if (io->fd >= 0) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    }
    io->fn = NULL;
}

/* Timer heap: a binary min-heap on when_ms; each timer knows its index. */
static void heap_swap(struct loop *l, size_t a, size_t b)
{
    struct loop_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_index = a;
    l->heap[b]->heap_index = b;
}

static void heap_up(struct loop *l, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->when_ms <= l->heap[i]->when_ms) {
            break;
        }
        heap_swap(l, i, parent);
        i = parent;
    }
}

static void heap_down(struct loop *l, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1;
        size_t right = left + 1;
        size_t min = i;
        if (left < l->heap_len && l->heap[left]->when_ms < l->heap[min]->when_ms) {
            min = left;
        }
        if (right < l->heap_len && l->heap[right]->when_ms < l->heap[min]->when_ms) {
            min = right;
        }
        if (min == i) {
            return;
        }
        heap_swap(l, i, min);
        i = min;
    }
}

void loop_timer_init(struct loop_timer *t)
{
    t->heap_index = SIZE_MAX;
    t->when_ms = 0;
    t->fn = NULL;
    t->ud = NULL;
}

bool loop_timer_armed(const struct loop_timer *t)
{
    return t->heap_index != SIZE_MAX;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
    if (!loop_timer_armed(t)) {
        return;
    }
    size_t i = t->heap_index;
    l->heap_len--;
    if (i != l->heap_len) {
        l->heap[i] = l->heap[l->heap_len];
        l->heap[i]->heap_index = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->heap_index = SIZE_MAX;
}

void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t ms, loop_timer_fn *fn,
                      void *ud)
{
    loop_timer_stop(l, t);
    t->when_ms = loop_clock_ms() + ms;
    t->fn = fn;
    t->ud = ud;
    if (l->heap_len == l->heap_cap) {
        l->heap_cap = l->heap_cap ? l->heap_cap * 2 : 64;
        l->heap = xrealloc(l->heap, l->heap_cap * sizeof(*l->heap));
    }
    t->heap_index = l->heap_len;
    l->heap[l->heap_len++] = t;
    heap_up(l, t->heap_index);
}

void loop_defer(struct loop *l, struct loop_defer *d, loop_defer_fn *fn, void *ud)
{
    if (d->queued) {
        return;
    }
    d->queued = true;
    d->fn = fn;
    d->ud = ud;
    d->next = NULL;
    if (l->defer_tail) {
        l->defer_tail->next = d;
    } else {
        l->defer_head = d;
    }
    l->defer_tail = d;
}

void loop_defer_cancel(struct loop *l, struct loop_defer *d)
{
    if (!d->queued) {
        return;
    }
    struct loop_defer *prev = NULL;
    for (struct loop_defer *it = l->defer_head; it; prev = it, it = it->next) {
        if (it != d) {
            continue;
        }
        if (prev) {
            prev->next = it->next;
        } else {
            l->defer_head = it->next;
        }
        if (l->defer_tail == it) {
            l->defer_tail = prev;
        }
        break;
    }
    d->queued = false;
    d->next = NULL;
}

void loop_run_deferred(struct loop *l)
{
    run_deferred(l);
}

static void run_deferred(struct loop *l)
{
    while (l->defer_head) {
        struct loop_defer *d = l->defer_head;
        l->defer_head = d->next;
        if (l->defer_head == NULL) {
            l->defer_tail = NULL;
        }
        d->queued = false;
        d->fn(d->ud);
    }
}

static void run_timers(struct loop *l)
{
    while (l->heap_len > 0 && l->heap[0]->when_ms <= l->now_ms) {
        struct loop_timer *t = l->heap[0];
        loop_timer_stop(l, t);
        t->fn(t->ud);
    }
}

static int next_timeout(const struct loop *l)
{
    if (l->defer_head) {
        return 0;
    }
    if (l->heap_len == 0) {
        return 1000;
    }
    uint64_t when = l->heap[0]->when_ms;
    if (when <= l->now_ms) {
        return 0;
    }
    uint64_t wait = when - l->now_ms;
    return wait > 1000 ? 1000 : (int)wait;
}

int loop_run(struct loop *l)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    log_batch_begin();
    while (!l->stopping) {
        log_batch_flush(); /* the records of the last iteration, before sleeping */
        int n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, next_timeout(l));
        if (n < 0 && errno != EINTR) {
            log_batch_end();
            return ERR_IO;
        }
        l->now_ms = loop_clock_ms();
        for (int i = 0; i < n; i++) {
            struct loop_io *io = events[i].data.ptr;
            /* A callback earlier in this batch may have unregistered this one (fn NULL); its
             * memory stays valid until deferred calls run, which is after the batch. */
            if (io->fn) {
                io->fn(io->ud, events[i].events);
            }
        }
        run_timers(l);
        run_deferred(l);
    }
    run_deferred(l);
    log_batch_end();
    return 0;
}
