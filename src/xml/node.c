/* node.c: element trees in one reference-counted arena per tree; no recursion anywhere. */
#include <assert.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "xml/xml.h"
#include "xml/xml_int.h"

/* The first region holds a small stanza (root, a few children, their strings) so that most
 * trees are one malloc; later chunks double up to ARENA_MAX_CHUNK, and a request larger than
 * half a chunk gets a chunk of its own so little space is wasted. */
#define ARENA_FIRST 1024
#define ARENA_CHUNK 2048
#define ARENA_MAX_CHUNK 32768

struct xml__chunk {
    struct xml__chunk *next;
    max_align_t data[];
};

static const char ns_xml[] = NS_XML;

/* Freed arenas of the standard size, kept per thread for the next trees. A stanza is usually
 * parsed on one worker and freed on another (its recipient's): without this pool every tree is
 * a block above malloc's per-thread cache size, allocated in one thread's heap and freed into
 * it from another, through its locked bins. A loop iteration parses and frees stanzas in
 * batches of hundreds, so the pool must hold a batch (64 gave 20 % hits in the msg benchmark);
 * it is emptied by xml_arena_pool_trim (the one-second sweep) and at thread exit. */
#define ARENA_POOL_MAX 1024

struct arena_pool {
    struct xml__arena *head; /* linked through `chunks` */
    unsigned n;
    bool registered; /* for the drain at thread exit */
};
static __thread struct arena_pool t_pool;
static pthread_key_t g_pool_key;
static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;

static void pool_drain(void *ud)
{
    struct arena_pool *p = ud;
    while (p->head != NULL) {
        struct xml__arena *a = p->head;
        p->head = (struct xml__arena *)a->chunks;
        free(a);
    }
    p->n = 0;
    p->registered = false; /* a tree freed by a later destructor registers it again */
}

void xml_arena_pool_trim(void)
{
    pool_drain(&t_pool);
}

static void pool_key_make(void)
{
    (void)pthread_key_create(&g_pool_key, pool_drain);
}

/* Keeps a freed standard arena (its chunks already freed); false when the pool is full. */
static bool pool_put(struct xml__arena *a)
{
    if (!a->standard || t_pool.n >= ARENA_POOL_MAX) {
        return false;
    }
    if (!t_pool.registered) {
        pthread_once(&g_pool_once, pool_key_make);
        (void)pthread_setspecific(g_pool_key, &t_pool);
        t_pool.registered = true;
    }
    a->chunks = (struct xml__chunk *)t_pool.head;
    t_pool.head = a;
    t_pool.n++;
    return true;
}

/* An arena whose first region holds `first` bytes. */
static struct xml__arena *arena_new_sized(size_t first)
{
    struct xml__arena *a = NULL;
    if (first == ARENA_FIRST && t_pool.head != NULL) {
        a = t_pool.head;
        t_pool.head = (struct xml__arena *)a->chunks;
        t_pool.n--;
    } else {
        a = xmalloc(sizeof(*a) + first);
    }
    a->standard = first == ARENA_FIRST;
    atomic_init(&a->refs, 1);
    atomic_init(&a->ser, NULL);
    a->chunks = NULL;
    a->cur = (char *)a->first;
    a->left = first;
    a->next_size = ARENA_CHUNK;
    a->total = sizeof(*a) + first;
    return a;
}

static struct xml__arena *arena_new(void)
{
    return arena_new_sized(ARENA_FIRST);
}

void xml__changed(struct xml__arena *a)
{
    /* A tree is changed only while one holder has it, so no reader can be using the cache. */
    struct xml__ser_cache *old = atomic_exchange(&a->ser, NULL);
    free(old);
}

static void arena_free(struct xml__arena *a)
{
    free(atomic_load(&a->ser));
    struct xml__chunk *c = a->chunks;
    while (c != NULL) {
        struct xml__chunk *next = c->next;
        free(c);
        c = next;
    }
    if (!pool_put(a)) {
        free(a);
    }
}

static struct xml__chunk *chunk_new(struct xml__arena *a, size_t size)
{
    struct xml__chunk *c = xmalloc(sizeof(*c) + size);
    c->next = a->chunks;
    a->chunks = c;
    a->total += sizeof(*c) + size;
    return c;
}

static size_t pad_for(const char *p, size_t align)
{
    return (align - ((uintptr_t)p & (align - 1))) & (align - 1);
}

static void *arena_alloc(struct xml__arena *a, size_t n, size_t align)
{
    size_t pad = pad_for(a->cur, align);
    if (a->left < pad || a->left - pad < n) {
        if (n > a->next_size / 2) {
            /* A dedicated chunk; the current region stays in use for small requests. */
            return chunk_new(a, n)->data;
        }
        struct xml__chunk *c = chunk_new(a, a->next_size);
        a->cur = (char *)c->data;
        a->left = a->next_size;
        if (a->next_size < ARENA_MAX_CHUNK) {
            a->next_size *= 2;
        }
        pad = 0;
    }
    void *p = a->cur + pad;
    a->cur += pad + n;
    a->left -= pad + n;
    return p;
}

char *xml__strdup(struct xml__arena *a, struct strv s)
{
    char *p = arena_alloc(a, s.len + 1, 1);
    if (s.len) {
        memcpy(p, s.p, s.len);
    }
    p[s.len] = '\0';
    return p;
}

static bool ns_match(const char *have, struct strv ns)
{
    return have != NULL && strv_eq_c(ns, have);
}

const char *xml__ns(struct xml__arena *a, const struct xml_node *near, struct strv ns)
{
    if (ns.p == NULL || ns.len == 0) {
        return NULL;
    }
    for (int i = 0; i < 2 && near != NULL; i++) {
        if (ns_match(near->ns, ns)) {
            return near->ns;
        }
        near = near->parent;
    }
    if (strv_eq_c(ns, ns_xml)) {
        return ns_xml;
    }
    return xml__strdup(a, ns);
}

static struct xml_node *node_alloc(struct xml__arena *a, struct xml_node *parent)
{
    struct xml_node *n = arena_alloc(a, sizeof(*n), alignof(struct xml_node));
    memset(n, 0, sizeof(*n));
    n->arena = a;
    xml__changed(a);
    if (parent != NULL) {
        n->parent = parent;
        if (parent->last_child != NULL) {
            parent->last_child->next = n;
        } else {
            parent->first_child = n;
        }
        parent->last_child = n;
    }
    return n;
}

struct xml_node *xml__elem_new(struct xml_node *parent, const char *ns, struct strv name)
{
    struct xml__arena *a = parent != NULL ? parent->arena : arena_new();
    struct xml_node *n = node_alloc(a, parent);
    n->ns = ns;
    n->name = xml__strdup(a, name);
    return n;
}

void xml__attrs_reserve(struct xml_node *n, size_t count)
{
    if (count <= n->attrs_cap) {
        return;
    }
    struct xml_attr *attrs =
        arena_alloc(n->arena, count * sizeof(*attrs), alignof(struct xml_attr));
    if (n->nattrs) {
        memcpy(attrs, n->attrs, n->nattrs * sizeof(*attrs));
    }
    n->attrs = attrs;
    n->attrs_cap = count;
}

void xml__text_new(struct xml_node *parent, struct strv text)
{
    struct xml_node *t = node_alloc(parent->arena, parent);
    t->text = xml__strdup(parent->arena, text);
    t->text_len = text.len;
}

struct xml_node *xml_node_new(const char *ns, const char *name)
{
    assert(name != NULL);
    struct xml__arena *a = arena_new();
    struct xml_node *n = node_alloc(a, NULL);
    n->ns = xml__ns(a, NULL, strv_c(ns));
    n->name = xml__strdup(a, strv_c(name));
    return n;
}

struct xml_node *xml_node_add_child(struct xml_node *parent, const char *ns, const char *name)
{
    assert(parent != NULL && parent->name != NULL && name != NULL);
    const char *cns = ns == NULL ? parent->ns : xml__ns(parent->arena, parent, strv_c(ns));
    return xml__elem_new(parent, cns, strv_c(name));
}

static bool str_eq_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

static struct xml_attr *find_attr(const struct xml_node *n, const char *ns, const char *name)
{
    for (size_t i = 0; i < n->nattrs; i++) {
        struct xml_attr *at = &n->attrs[i];
        if (strcmp(at->name, name) == 0 && str_eq_null(at->ns, ns)) {
            return at;
        }
    }
    return NULL;
}

void xml_node_set_attr_ns(struct xml_node *n, const char *ns, const char *name, const char *value)
{
    assert(n != NULL && n->name != NULL && name != NULL);
    if (ns != NULL && ns[0] == '\0') {
        ns = NULL;
    }
    xml__changed(n->arena);
    struct xml_attr *at = find_attr(n, ns, name);
    if (value == NULL) {
        if (at != NULL) {
            size_t i = (size_t)(at - n->attrs);
            memmove(at, at + 1, (n->nattrs - i - 1) * sizeof(*at));
            n->nattrs--;
        }
        return;
    }
    if (at == NULL) {
        if (n->nattrs == n->attrs_cap) {
            xml__attrs_reserve(n, n->attrs_cap ? n->attrs_cap * 2 : 4);
        }
        at = &n->attrs[n->nattrs++];
        at->ns = xml__ns(n->arena, n, strv_c(ns));
        at->name = xml__strdup(n->arena, strv_c(name));
    }
    at->value = xml__strdup(n->arena, strv_c(value));
}

void xml_node_set_attr(struct xml_node *n, const char *name, const char *value)
{
    xml_node_set_attr_ns(n, NULL, name, value);
}

void xml_node_add_text(struct xml_node *n, const char *text, size_t len)
{
    assert(n != NULL && n->name != NULL);
    if (len == 0) {
        return;
    }
    xml__changed(n->arena);
    struct xml_node *last = n->last_child;
    if (last == NULL || last->name != NULL) {
        xml__text_new(n, (struct strv){ text, len });
        return;
    }
    /* Merge, so that text added piecewise reads as one node; the old copy stays unused in
     * the arena until the tree is freed. */
    char *p = arena_alloc(n->arena, last->text_len + len + 1, 1);
    memcpy(p, last->text, last->text_len);
    memcpy(p + last->text_len, text, len);
    p[last->text_len + len] = '\0';
    last->text = p;
    last->text_len += len;
}

/* A copy of the single node `src` (attributes and text, no children) under `parent`, or as a
 * new tree, whose arena's first region holds `first` bytes, when parent is NULL. */
static struct xml_node *copy_one(struct xml_node *parent, const struct xml_node *src, size_t first)
{
    struct xml_node *d;
    if (src->name == NULL) {
        if (parent == NULL) {
            d = node_alloc(arena_new_sized(first), NULL);
            d->text = xml__strdup(d->arena, (struct strv){ src->text, src->text_len });
            d->text_len = src->text_len;
        } else {
            xml__text_new(parent, (struct strv){ src->text, src->text_len });
            d = parent->last_child;
        }
        return d;
    }
    struct xml__arena *a = parent != NULL ? parent->arena : NULL;
    const char *ns = a != NULL ? xml__ns(a, parent, strv_c(src->ns)) : NULL;
    if (parent == NULL) {
        d = node_alloc(arena_new_sized(first), NULL);
        a = d->arena;
        d->name = xml__strdup(a, strv_c(src->name));
        d->ns = xml__ns(a, NULL, strv_c(src->ns));
    } else {
        d = xml__elem_new(parent, ns, strv_c(src->name));
        a = d->arena;
    }
    if (src->nattrs) {
        xml__attrs_reserve(d, src->nattrs);
        for (size_t i = 0; i < src->nattrs; i++) {
            struct xml_attr *at = &d->attrs[i];
            at->ns = xml__ns(a, d, strv_c(src->attrs[i].ns));
            at->name = xml__strdup(a, strv_c(src->attrs[i].name));
            at->value = xml__strdup(a, strv_c(src->attrs[i].value));
        }
        d->nattrs = src->nattrs;
    }
    return d;
}

/* Copies the subtree of `src` under `parent` (NULL: as a new tree) by a pre-order walk that
 * follows parent links, so depth costs no stack. */
static struct xml_node *copy_tree(struct xml_node *parent, const struct xml_node *src, size_t first)
{
    struct xml_node *top = copy_one(parent, src, first);
    const struct xml_node *s = src;
    struct xml_node *d = top;
    for (;;) {
        if (s->name != NULL && s->first_child != NULL) {
            s = s->first_child;
            d = copy_one(d, s, first);
            continue;
        }
        while (s != src && s->next == NULL) {
            s = s->parent;
            d = d->parent;
        }
        if (s == src) {
            break;
        }
        s = s->next;
        d = copy_one(d->parent, s, first);
    }
    return top;
}

struct xml_node *xml_node_copy(const struct xml_node *src)
{
    assert(src != NULL);
    return copy_tree(NULL, src, ARENA_FIRST);
}

struct xml_node *xml_node_copy_fit(const struct xml_node *src)
{
    assert(src != NULL);
    const struct xml__arena *a = src->arena;
    /* What src's whole arena holds bounds what the copy needs; the slack covers alignment. */
    size_t used = a->total - sizeof(*a) - a->left + 64;
    return copy_tree(NULL, src, used < ARENA_FIRST ? used : ARENA_FIRST);
}

struct xml_node *xml_node_append_copy(struct xml_node *parent, const struct xml_node *src)
{
    assert(parent != NULL && parent->name != NULL && src != NULL);
    if (parent->arena != src->arena) {
        return copy_tree(parent, src, ARENA_FIRST);
    }
    /* Same tree: src may contain parent, so copy through a separate tree first. */
    struct xml_node *tmp = copy_tree(NULL, src, ARENA_FIRST);
    struct xml_node *d = copy_tree(parent, tmp, ARENA_FIRST);
    xml_node_unref(tmp);
    return d;
}

struct xml_node *xml_node_ref(struct xml_node *n)
{
    assert(n != NULL);
    atomic_fetch_add_explicit(&n->arena->refs, 1, memory_order_relaxed);
    return n;
}

void xml_node_unref(struct xml_node *n)
{
    if (n == NULL) {
        return;
    }
    struct xml__arena *a = n->arena;
    if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1) {
        arena_free(a);
    }
}

const char *xml_node_attr_ns(const struct xml_node *n, const char *ns, const char *name)
{
    if (n == NULL || n->name == NULL) {
        return NULL;
    }
    const struct xml_attr *at = find_attr(n, ns, name);
    return at != NULL ? at->value : NULL;
}

const char *xml_node_attr(const struct xml_node *n, const char *name)
{
    return xml_node_attr_ns(n, NULL, name);
}

static struct xml_node *next_element_from(struct xml_node *c, const char *ns, const char *name)
{
    for (; c != NULL; c = c->next) {
        if (c->name == NULL) {
            continue;
        }
        if (name != NULL && strcmp(c->name, name) != 0) {
            continue;
        }
        if (ns != NULL && ns[0] == '\0' && c->ns != NULL) {
            continue;
        }
        if (ns != NULL && ns[0] != '\0' && (c->ns == NULL || strcmp(c->ns, ns) != 0)) {
            continue;
        }
        return c;
    }
    return NULL;
}

struct xml_node *xml_node_child(const struct xml_node *n, const char *ns, const char *name)
{
    return n != NULL ? next_element_from(n->first_child, ns, name) : NULL;
}

struct xml_node *xml_node_first_element(const struct xml_node *n)
{
    return n != NULL ? next_element_from(n->first_child, NULL, NULL) : NULL;
}

struct xml_node *xml_node_next_element(const struct xml_node *n)
{
    return n != NULL ? next_element_from(n->next, NULL, NULL) : NULL;
}

int xml_node_text(const struct xml_node *n, struct buf *out)
{
    size_t start = out->len;
    for (const struct xml_node *c = n->first_child; c != NULL; c = c->next) {
        if (c->name == NULL && buf_append(out, c->text, c->text_len) != 0) {
            out->len = start;
            if (out->p != NULL) {
                out->p[start] = '\0';
            }
            return ERR_LIMIT;
        }
    }
    return 0;
}
