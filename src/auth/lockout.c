/* lockout.c: per-account failed-login counting and lock-out (see lockout.h for the policy and
 * the thread-safety design). */
#include "auth/lockout.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/buf.h"

#define BUCKETS 4096

struct entry {
    struct entry *next;
    uint64_t last_failure_ms;
    uint64_t locked_until_ms;
    uint64_t forget_at_ms; /* the failures are forgotten then (window past the last, lock) */
    int failures;
    char key[];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *g_buckets[BUCKETS];
static size_t g_count;
static uint64_t g_seed;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* FNV-1a over the key, started from a random seed so no one can aim names at one bucket. */
static size_t bucket_of(const char *key)
{
    if (g_seed == 0) {
        if (getrandom(&g_seed, sizeof(g_seed), 0) != (ssize_t)sizeof(g_seed) || g_seed == 0) {
            g_seed = now_ms() | 1u;
        }
    }
    uint64_t h = 14695981039346656037ull ^ g_seed;
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        h = (h ^ *p) * 1099511628211ull;
    }
    return (size_t)(h % BUCKETS);
}

static bool expired(const struct entry *e, uint64_t now)
{
    return now >= e->forget_at_ms;
}

static struct entry **find(const char *key)
{
    struct entry **pp = &g_buckets[bucket_of(key)];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0) {
        pp = &(*pp)->next;
    }
    return pp;
}

static void unlink_entry(struct entry **pp)
{
    struct entry *e = *pp;
    *pp = e->next;
    free(e);
    g_count--;
}

/* Makes room for one more entry in `bucket`: expired entries first, else the oldest there (or,
 * in an empty bucket, in the next bucket that has one). */
static void make_room(size_t bucket, uint64_t now)
{
    for (size_t b = 0; b < BUCKETS; b++) {
        struct entry **pp = &g_buckets[b];
        while (*pp != NULL) {
            if (expired(*pp, now)) {
                unlink_entry(pp);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    for (size_t i = 0; g_count >= LOCKOUT_MAX && i < BUCKETS; i++) {
        struct entry **pp = &g_buckets[(bucket + i) % BUCKETS], **oldest = pp;
        for (; *pp != NULL; pp = &(*pp)->next) {
            if ((*pp)->last_failure_ms < (*oldest)->last_failure_ms) {
                oldest = pp;
            }
        }
        if (*oldest != NULL) {
            unlink_entry(oldest);
        }
    }
}

long lockout_remaining_ms(const struct settings_auth *cfg, const char *key)
{
    long ms = 0;
    if (cfg->lock_after <= 0) {
        return 0;
    }
    pthread_mutex_lock(&g_lock);
    struct entry *e = *find(key);
    uint64_t now = now_ms();
    if (e != NULL && e->locked_until_ms > now) {
        ms = (long)(e->locked_until_ms - now);
    }
    pthread_mutex_unlock(&g_lock);
    return ms;
}

/* The lock after the account's n-th failure: lock_time doubled per failure past lock_after. */
static long lock_seconds(const struct settings_auth *cfg, int failures)
{
    long s = cfg->lock_time;
    for (int i = cfg->lock_after; i < failures && s < cfg->lock_max; i++) {
        s *= 2;
    }
    return s < cfg->lock_max ? s : cfg->lock_max;
}

int lockout_failure(const struct settings_auth *cfg, const char *key)
{
    long lock = 0;
    if (cfg->lock_after <= 0) {
        return 0;
    }
    pthread_mutex_lock(&g_lock);
    uint64_t now = now_ms();
    struct entry **pp = find(key);
    if (*pp == NULL) {
        size_t bucket = bucket_of(key);
        if (g_count >= LOCKOUT_MAX) {
            make_room(bucket, now);
        }
        size_t len = strlen(key) + 1;
        struct entry *e = xcalloc(1, sizeof(*e) + len);
        memcpy(e->key, key, len);
        e->next = g_buckets[bucket];
        g_buckets[bucket] = e;
        g_count++;
        pp = &g_buckets[bucket];
    } else if (expired(*pp, now)) {
        (*pp)->failures = 0;
    }
    struct entry *e = *pp;
    e->failures++;
    e->last_failure_ms = now;
    if (e->failures >= cfg->lock_after) {
        lock = lock_seconds(cfg, e->failures);
        e->locked_until_ms = now + (uint64_t)lock * 1000u;
    }
    e->forget_at_ms = now + (uint64_t)cfg->lock_window * 1000u;
    if (e->forget_at_ms < e->locked_until_ms) {
        e->forget_at_ms = e->locked_until_ms;
    }
    pthread_mutex_unlock(&g_lock);
    return (int)lock;
}

void lockout_success(const char *key)
{
    pthread_mutex_lock(&g_lock);
    struct entry **pp = find(key);
    if (*pp != NULL) {
        unlink_entry(pp);
    }
    pthread_mutex_unlock(&g_lock);
}

void lockout_foreach(lockout_each_fn *fn, void *ud)
{
    pthread_mutex_lock(&g_lock);
    uint64_t now = now_ms();
    for (size_t b = 0; b < BUCKETS; b++) {
        for (struct entry *e = g_buckets[b]; e != NULL; e = e->next) {
            if (expired(e, now)) {
                continue;
            }
            long locked =
                e->locked_until_ms > now ? (long)((e->locked_until_ms - now + 999) / 1000) : 0;
            fn(ud, e->key, e->failures, locked, (long)((now - e->last_failure_ms) / 1000));
        }
    }
    pthread_mutex_unlock(&g_lock);
}

void lockout_reset(void)
{
    pthread_mutex_lock(&g_lock);
    for (size_t b = 0; b < BUCKETS; b++) {
        while (g_buckets[b] != NULL) {
            unlink_entry(&g_buckets[b]);
        }
    }
    pthread_mutex_unlock(&g_lock);
}
