/* loop.h: one epoll event loop per worker thread, with timers and deferred calls. */
#ifndef STARLING_CORE_LOOP_H
#define STARLING_CORE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

/* I/O callback: `events` is a mask of EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP. */
typedef void loop_io_fn(void *ud, uint32_t events);
typedef void loop_timer_fn(void *ud);
typedef void loop_defer_fn(void *ud);

/* Caller-owned registration of one file descriptor; lives while registered. */
struct loop_io {
    int fd;
    uint32_t events;
    loop_io_fn *fn;
    void *ud;
};

/* Caller-owned timer; `heap_index` is SIZE_MAX while not armed. */
struct loop_timer {
    uint64_t when_ms;
    size_t heap_index;
    loop_timer_fn *fn;
    void *ud;
};

/* Caller-owned deferred call: runs once after the current batch of events, never inside the
 * caller's stack. Used to free objects outside their own callbacks. */
struct loop_defer {
    struct loop_defer *next;
    loop_defer_fn *fn;
    void *ud;
    bool queued;
};

struct loop *loop_new(void);
void loop_free(struct loop *l);
/* Runs until loop_stop(). */
int loop_run(struct loop *l);
/* Thread-safe only from the loop's own thread; other threads use the worker inbox. */
void loop_stop(struct loop *l);

int loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t events, loop_io_fn *fn,
                void *ud);
int loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events);
void loop_io_del(struct loop *l, struct loop_io *io);

void loop_timer_init(struct loop_timer *t);
/* (Re)arms `t` to fire once after `ms` milliseconds. */
void loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t ms, loop_timer_fn *fn,
                      void *ud);
void loop_timer_stop(struct loop *l, struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);

void loop_defer(struct loop *l, struct loop_defer *d, loop_defer_fn *fn, void *ud);
/* Runs the queued deferred calls now (used at shutdown, after the loop stopped). */
void loop_run_deferred(struct loop *l);
/* Takes a queued deferred call back (no-op when not queued). */
void loop_defer_cancel(struct loop *l, struct loop_defer *d);

/* Milliseconds of CLOCK_MONOTONIC, cached at each loop iteration. */
uint64_t loop_now_ms(const struct loop *l);
/* Fresh monotonic milliseconds. */
uint64_t loop_clock_ms(void);

#endif
