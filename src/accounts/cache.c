/* cache.c: each thread's cache of account records and domain resolutions for the login path
 * (see accounts_int.h for the rules that keep it right). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "accounts/accounts_int.h"

/* 256 sets of 4 entries: up to 1024 accounts per thread, allocated as they are used. */
#define CACHE_SETS 256
#define CACHE_WAYS 4
#define GEN_SLOTS 1024
#define DOMAIN_SLOTS 8

static atomic_uint g_gen_all;
static atomic_uint g_gen[GEN_SLOTS];

struct entry {
    unsigned gen;
    unsigned last_use;
    bool has_creds;
    struct auth_creds creds;
    size_t domain_len;
    char key[]; /* domain '\0' name '\0' */
};

struct domain_entry {
    bool used;
    unsigned gen;
    char *given;
    char *canon;
};

struct cache {
    unsigned tick;
    struct entry *sets[CACHE_SETS][CACHE_WAYS];
    struct domain_entry domains[DOMAIN_SLOTS];
    unsigned next_domain;
};

static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static __thread struct cache *t_cache;

static void entry_free(struct entry *e)
{
    if (e != NULL) {
        auth_creds_cleanup(&e->creds);
        free(e);
    }
}

static void domain_entry_clear(struct domain_entry *d)
{
    free(d->given);
    free(d->canon);
    memset(d, 0, sizeof(*d));
}

/* Runs when a thread that used the cache exits. */
static void cache_free(void *p)
{
    struct cache *c = p;
    for (int s = 0; s < CACHE_SETS; s++) {
        for (int w = 0; w < CACHE_WAYS; w++) {
            entry_free(c->sets[s][w]);
        }
    }
    for (int i = 0; i < DOMAIN_SLOTS; i++) {
        domain_entry_clear(&c->domains[i]);
    }
    free(c);
    t_cache = NULL;
}

void accounts_cache_release(void)
{
    if (t_cache != NULL) {
        pthread_setspecific(g_key, NULL);
        cache_free(t_cache);
    }
}

static void key_create(void)
{
    pthread_key_create(&g_key, cache_free);
}

static struct cache *cache(void)
{
    if (t_cache == NULL) {
        pthread_once(&g_key_once, key_create);
        t_cache = xcalloc(1, sizeof(*t_cache));
        pthread_setspecific(g_key, t_cache);
    }
    return t_cache;
}

static uint32_t key_hash(const char *domain, const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)domain; *p; p++) {
        h = (h ^ *p) * 16777619u;
    }
    h = (h ^ '@') * 16777619u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h;
}

unsigned accounts__gen_all(void)
{
    return atomic_load(&g_gen_all);
}

unsigned accounts__gen(const char *domain, const char *name)
{
    /* Both counters only grow, so their sum changes whenever either does. */
    return atomic_load(&g_gen_all) + atomic_load(&g_gen[(key_hash(domain, name) >> 8) % GEN_SLOTS]);
}

void accounts__changed(const char *domain, const char *name)
{
    atomic_fetch_add(&g_gen[(key_hash(domain, name) >> 8) % GEN_SLOTS], 1);
}

void accounts__changed_all(void)
{
    atomic_fetch_add(&g_gen_all, 1);
}

static bool entry_is(const struct entry *e, const char *domain, size_t dlen, const char *name)
{
    return e->domain_len == dlen && memcmp(e->key, domain, dlen) == 0 &&
           strcmp(e->key + dlen + 1, name) == 0;
}

/* The way of the set that holds (domain, name), or NULL. */
static struct entry **find(struct cache *c, const char *domain, const char *name)
{
    struct entry **set = c->sets[key_hash(domain, name) % CACHE_SETS];
    size_t dlen = strlen(domain);
    for (int w = 0; w < CACHE_WAYS; w++) {
        if (set[w] != NULL && entry_is(set[w], domain, dlen, name)) {
            return &set[w];
        }
    }
    return NULL;
}

bool accounts__cache_get(const char *domain, const char *name, unsigned gen, struct auth_creds *out)
{
    struct cache *c = cache();
    struct entry **pp = find(c, domain, name);
    if (pp == NULL) {
        return false;
    }
    struct entry *e = *pp;
    if (e->gen != gen) {
        entry_free(e);
        *pp = NULL;
        return false;
    }
    e->last_use = ++c->tick;
    if (out == NULL) {
        return true;
    }
    if (!e->has_creds) {
        return false;
    }
    *out = e->creds;
    out->clear = e->creds.clear ? xstrdup(e->creds.clear) : NULL;
    return true;
}

void accounts__cache_put(const char *domain, const char *name, unsigned gen,
                         const struct auth_creds *creds)
{
    struct cache *c = cache();
    struct entry **pp = find(c, domain, name);
    if (pp == NULL) {
        /* A free way, else the one used longest ago. */
        struct entry **set = c->sets[key_hash(domain, name) % CACHE_SETS];
        pp = &set[0];
        for (int w = 0; w < CACHE_WAYS && *pp != NULL; w++) {
            if (set[w] == NULL || set[w]->last_use < (*pp)->last_use) {
                pp = &set[w];
            }
        }
    } else if (creds == NULL && (*pp)->gen == gen) {
        return; /* known already, perhaps with its credentials */
    }
    entry_free(*pp);
    size_t dlen = strlen(domain);
    size_t nlen = strlen(name);
    struct entry *e = xcalloc(1, sizeof(*e) + dlen + nlen + 2);
    memcpy(e->key, domain, dlen);
    memcpy(e->key + dlen + 1, name, nlen);
    e->domain_len = dlen;
    e->gen = gen;
    e->last_use = ++c->tick;
    if (creds != NULL) {
        e->has_creds = true;
        e->creds = *creds;
        e->creds.clear = creds->clear ? xstrdup(creds->clear) : NULL;
    }
    *pp = e;
}

bool accounts__cache_domain_get(const char *given, unsigned gen, struct buf *canon)
{
    struct cache *c = cache();
    for (int i = 0; i < DOMAIN_SLOTS; i++) {
        struct domain_entry *d = &c->domains[i];
        if (d->used && d->gen == gen && strcmp(d->given, given) == 0) {
            buf_reset(canon);
            return buf_append_c(canon, d->canon) == 0;
        }
    }
    return false;
}

void accounts__cache_domain_put(const char *given, unsigned gen, const char *canon)
{
    struct cache *c = cache();
    struct domain_entry *d = &c->domains[c->next_domain++ % DOMAIN_SLOTS];
    domain_entry_clear(d);
    d->used = true;
    d->gen = gen;
    d->given = xstrdup(given);
    d->canon = xstrdup(canon);
}
