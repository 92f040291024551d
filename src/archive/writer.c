/* writer.c: the archive's writer thread: rows queued by the workers are written in batches (one
 * transaction per batch, group-commit style: what arrives during a write makes the next batch);
 * the retention purge runs between batches, a few rows at a time, and the full-text index is
 * filled when the writer is idle. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/archive_int.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "store/store_archive.h"

/* A worker that queues past this many unwritten rows waits for the writer (back-pressure:
 * memory stays bounded when the disk cannot keep up). */
#define QUEUE_MAX 100000
/* Rows one purge step removes (one short transaction). */
#define PURGE_BATCH 500
/* Seconds between purge passes. */
#define PURGE_EVERY 60
/* A batch waits up to BATCH_WAIT_MS for BATCH_TARGET rows (unless a query waits for it): the
 * indexes' pages one transaction rewrites are shared by more rows, so a row costs less. */
#define BATCH_TARGET 4096
/* The writer's page cache (MB) and WAL checkpoint interval (pages). */
#define WRITER_CACHE_MB 64
#define WRITER_CHECKPOINT_PAGES 4000
#define BATCH_WAIT_MS 50
/* The full-text index is filled off the write path: after FTS_IDLE_MS without a row to write,
 * FTS_CHUNK stored stanzas at a time, or all at once after FTS_BACKLOG rows written without
 * (so that a query, which indexes the rest first, never waits long). */
#define FTS_IDLE_MS 200
#define FTS_CHUNK 5000
#define FTS_BACKLOG 100000

/* A queued row: its strings are in its shared text (`text`, one reference held; `embedded`:
 * the entry itself is one of the text's two) or follow it in the same allocation (struct
 * copied: one malloc and one free per row on the hot path). */
struct entry {
    struct entry *next;
    struct store_archive_row row;
    struct archive_text *text;
    bool embedded;
};

struct copied {
    struct entry e;
    char text[];
};

/* A message's archived text, serialized by its sender's side and reused by its recipient's
 * (archive_int.h). One allocation: the two parties' addresses, the text, the body, and the
 * queue entries of both rows. */
struct archive_text {
    struct signal_ref ref;              /* first: the signal's attachment */
    struct store_archive_shared shared; /* the writer's */
    /* The P-XMPP-Data it was serialized from, one reference held (so that its address cannot
     * be another tree's while compared) until the recipient's side compared it. */
    _Atomic(struct xml_node *) data;
    atomic_bool queued[2]; /* side[outgoing] is in the queue (or was) */
    struct entry side[2];
    const char *from_local, *from_domain, *from_res, *from_bare;
    const char *to_local, *to_domain, *to_res, *to_bare;
    const char *stanza, *body;
    char strings[];
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t done;
    struct entry *head, *tail;
    size_t n;
    unsigned long long queued, flushed;
    bool running, stopping, purge_asked;
    int syncers; /* threads waiting in archive_sync: flush now */
    pthread_t thread;
    struct store *st;
    struct store_archive_keys *keys; /* the JID keys, across batches (writer only) */
    atomic_int keep_days;
    long long fts_backlog; /* rows written since the full-text index caught up (writer only) */
    size_t batch_max;      /* rows a batch takes at most (0: all queued; a test knob) */
} g_w = { .lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER };

/* Copies `src` (NULL: none) to *at, returns the copy. */
static const char *put(char **at, const char *src, size_t len)
{
    if (src == NULL) {
        return NULL;
    }
    char *dst = *at;
    memcpy(dst, src, len + 1);
    *at += len + 1;
    return dst;
}

/* Queues `e` (the writer frees it), waiting while the queue is full. */
static void queue_push(struct entry *e)
{
    e->next = NULL;
    pthread_mutex_lock(&g_w.lock);
    while (g_w.running && g_w.n >= QUEUE_MAX) {
        pthread_cond_wait(&g_w.done, &g_w.lock);
    }
    if (g_w.tail) {
        g_w.tail->next = e;
    } else {
        g_w.head = e;
    }
    g_w.tail = e;
    g_w.n++;
    g_w.queued++;
    if (g_w.n == 1 || g_w.n == BATCH_TARGET) {
        pthread_cond_signal(&g_w.wake);
    }
    pthread_mutex_unlock(&g_w.lock);
}

/* Queues a copy of `r`. */
void archive__enqueue(const struct store_archive_row *r)
{
    const char *src[] = { r->domain, r->name, r->peer, r->peer_res ? r->peer_res : "",
                          r->stanza, r->body };
    size_t len[6], total = 0;
    for (size_t i = 0; i < 6; i++) {
        len[i] = src[i] ? strlen(src[i]) : 0;
        total += src[i] ? len[i] + 1 : 0;
    }
    struct copied *c = xmalloc(sizeof(*c) + total);
    struct entry *e = &c->e;
    *e = (struct entry){ .row = *r };
    e->row.shared = NULL;
    char *at = c->text;
    e->row.domain = put(&at, src[0], len[0]);
    e->row.name = put(&at, src[1], len[1]);
    e->row.peer = put(&at, src[2], len[2]);
    e->row.peer_res = put(&at, src[3], len[3]);
    e->row.stanza = put(&at, src[4], len[4]);
    e->row.body = put(&at, src[5], len[5]);
    queue_push(e);
}

static void text_free(struct signal_ref *r)
{
    struct archive_text *t = (struct archive_text *)r; /* r is its first member */
    xml_node_unref(atomic_load(&t->data));
    free(t);
}

struct archive_text *archive__text_new(const struct signal *sig, const char *from_bare,
                                       const char *to_bare, const char *stanza, const char *body)
{
    const char *src[] = { sig->from.local ? sig->from.local : "",
                          sig->from.domain,
                          sig->from.resource,
                          from_bare,
                          sig->to.local ? sig->to.local : "",
                          sig->to.domain,
                          sig->to.resource,
                          to_bare,
                          stanza,
                          body };
    enum { N = sizeof(src) / sizeof(src[0]) };
    size_t len[N], total = 0;
    for (size_t i = 0; i < N; i++) {
        len[i] = src[i] ? strlen(src[i]) : 0;
        total += src[i] ? len[i] + 1 : 0;
    }
    struct archive_text *t = xmalloc(sizeof(*t) + total);
    memset(t, 0, sizeof(*t));
    atomic_init(&t->ref.refs, 1);
    t->ref.free = text_free;
    atomic_init(&t->data, sig->xmpp_data ? xml_node_ref(sig->xmpp_data) : NULL);
    atomic_init(&t->queued[0], false);
    atomic_init(&t->queued[1], false);
    const char **dst[] = { &t->from_local, &t->from_domain, &t->from_res, &t->from_bare,
                           &t->to_local,   &t->to_domain,   &t->to_res,   &t->to_bare,
                           &t->stanza,     &t->body };
    char *at = t->strings;
    for (size_t i = 0; i < N; i++) {
        *dst[i] = put(&at, src[i], len[i]);
    }
    return t;
}

struct signal_ref *archive__text_ref(struct archive_text *t)
{
    return &t->ref;
}

struct archive_text *archive__text_of(struct signal_ref *r)
{
    return r != NULL && r->free == text_free ? (struct archive_text *)r : NULL;
}

/* Two strings of addresses, either NULL. */
static bool same(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

bool archive__text_fits(const struct archive_text *t, const struct signal *sig, const char *to_bare,
                        const char *from_bare)
{
    struct xml_node *data = atomic_load(&t->data);
    return data != NULL && sig->xmpp_data == data && strcmp(to_bare, t->to_bare) == 0 &&
           strcmp(from_bare, t->from_bare) == 0 && same(sig->to.resource, t->to_res) &&
           same(sig->from.resource, t->from_res);
}

void archive__text_compared(struct archive_text *t)
{
    xml_node_unref(atomic_exchange(&t->data, NULL));
}

const char *archive__text_stanza(const struct archive_text *t)
{
    return t->stanza;
}

void archive__enqueue_text(struct archive_text *t, bool outgoing, long long id)
{
    struct entry *e = &t->side[outgoing];
    bool embedded = !atomic_exchange(&t->queued[outgoing], true);
    if (!embedded) {
        e = xmalloc(sizeof(*e)); /* the same side queued twice (a copy of the signal) */
    }
    const char *peer_res = outgoing ? t->to_res : t->from_res;
    *e = (struct entry){
        .row = { .id = id,
                 .domain = outgoing ? t->from_domain : t->to_domain,
                 .name = outgoing ? t->from_local : t->to_local,
                 .peer = outgoing ? t->to_bare : t->from_bare,
                 .peer_res = peer_res ? peer_res : "",
                 .outgoing = outgoing,
                 .stanza = t->stanza,
                 .body = t->body,
                 .shared = &t->shared },
        .text = t,
        .embedded = embedded,
    };
    signal_ref_get(&t->ref);
    queue_push(e);
}

void archive_room_add(long long id, const char *service, const char *room, const char *nick,
                      const char *real, const char *stanza, const char *body)
{
    struct store_archive_row r = {
        .id = id,
        .domain = service,
        .name = room,
        .peer = nick,
        .peer_res = real ? real : "",
        .room = true,
        .stanza = stanza,
        .body = body,
    };
    archive__enqueue(&r);
}

/* Indexes up to `limit` (0: all) stored stanzas; false when none is left. */
static bool fts_step(int limit)
{
    int indexed = 0;
    if (store_archive_index_pending(g_w.st, limit, &indexed) != 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "archive: full-text indexing failed: %s",
                store_last_error(g_w.st));
        return false;
    }
    return limit > 0 && indexed >= limit;
}

/* A written entry: its text's reference (an embedded entry goes with its text), or itself. */
static void entry_free(struct entry *e)
{
    struct archive_text *t = e->text;
    if (!e->embedded) {
        free(e);
    }
    if (t) {
        signal_ref_put(&t->ref);
    }
}

static void write_batch(struct entry *list, size_t n)
{
    const struct store_archive_row **rows = xcalloc(n ? n : 1, sizeof(*rows));
    size_t k = 0, added = 0;
    for (struct entry *e = list; e && k < n; e = e->next) {
        rows[k++] = &e->row;
    }
    /* An account removed meanwhile: its rows are not written. */
    int rc = store_begin(g_w.st);
    rc = rc == 0 ? store_archive_add_many_keys(g_w.st, g_w.keys, rows, k, &added) : rc;
    rc = rc == 0 ? store_commit(g_w.st) : rc;
    if (rc != 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL,
                "archive: a batch of messages not stored: %s", store_last_error(g_w.st));
        store_rollback(g_w.st);
        store_archive_keys_forget(g_w.keys); /* the keys it added are gone */
    }
    /* A shared stanza the batch wrote keeps its key only when committed. */
    store_archive_shared_settle(rows, k, rc == 0);
    free(rows);
    g_w.fts_backlog += rc == 0 ? (long long)added : 0;
    if (g_w.fts_backlog >= FTS_BACKLOG) {
        fts_step(0);
        g_w.fts_backlog = 0;
    }
    while (list) {
        struct entry *next = list->next;
        entry_free(list);
        list = next;
    }
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

struct purge_ctx {
    int removed;
    int failed;
};

/* One domain's purge step, by its own setting or the server's. */
static int purge_domain(void *ud, const char *domain, const char *unused)
{
    (void)unused;
    struct purge_ctx *pc = ud;
    long long days = atomic_load(&g_w.keep_days);
    struct buf v;
    buf_init(&v, 1100);
    if (store_domain_setting_get(g_w.st, domain, "archive_keep_days", &v) == 0) {
        days = strtoll(buf_cstr(&v), NULL, 10);
    }
    if (days <= 0) {
        buf_cleanup(&v);
        return 0;
    }
    long long before = now_us() - days * 86400LL * 1000000LL;
    /* The domain's rooms are on its chat service (domain setting chat_service, default
     * conference.<domain>). */
    int rc = store_domain_setting_get(g_w.st, domain, "chat_service", &v);
    if (rc != 0) {
        buf_reset(&v);
        buf_printf(&v, "conference.%s", domain);
    }
    const char *owners[] = { domain, buf_cstr(&v) };
    for (size_t i = 0; i < 2; i++) {
        int removed = 0;
        if (i == 1 && strcmp(owners[1], "none") == 0) {
            break;
        }
        if (store_archive_purge(g_w.st, owners[i], before, PURGE_BATCH, &removed) != 0) {
            pc->failed = 1;
        }
        pc->removed += removed;
    }
    buf_cleanup(&v);
    return 0;
}

/* One step of a purge pass: true when a domain still had rows to remove. */
static bool purge_step(void)
{
    struct purge_ctx pc = { 0, 0 };
    store_domain_list(g_w.st, purge_domain, &pc);
    if (pc.removed > 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_LOWLEVEL, 0, NULL, "archive: %d expired messages removed",
                pc.removed);
    }
    return pc.removed > 0 && !pc.failed;
}

/* With the lock held and rows queued: waits a little for a fuller batch. */
static void coalesce(void)
{
    if (g_w.head == NULL) {
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += BATCH_WAIT_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    size_t target = g_w.batch_max && g_w.batch_max < BATCH_TARGET ? g_w.batch_max : BATCH_TARGET;
    while (g_w.n < target && !g_w.stopping && g_w.syncers == 0) {
        if (pthread_cond_timedwait(&g_w.wake, &g_w.lock, &until) != 0) {
            break;
        }
    }
}

/* With the lock held and nothing queued: waits for rows or the next purge; after FTS_IDLE_MS
 * without rows, fills the full-text index a chunk at a time. */
static void idle_wait(time_t next_purge)
{
    struct timespec until = { next_purge, 0 };
    if (g_w.fts_backlog > 0) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += FTS_IDLE_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        until.tv_sec = until.tv_sec < next_purge ? until.tv_sec : next_purge;
    }
    int rc = pthread_cond_timedwait(&g_w.wake, &g_w.lock, &until);
    if (rc == ETIMEDOUT && g_w.head == NULL && g_w.fts_backlog > 0) {
        pthread_mutex_unlock(&g_w.lock);
        g_w.fts_backlog = fts_step(FTS_CHUNK) ? g_w.fts_backlog : 0;
        pthread_mutex_lock(&g_w.lock);
    }
}

/* With the lock held: the queue's first rows (all, or batch_max), their number in *n. */
static struct entry *take_batch(size_t *n)
{
    struct entry *list = g_w.head;
    *n = g_w.batch_max && g_w.n > g_w.batch_max ? g_w.batch_max : g_w.n;
    if (*n == g_w.n) {
        g_w.head = g_w.tail = NULL;
        g_w.n = 0;
        return list;
    }
    struct entry *last = list;
    for (size_t i = 1; i < *n; i++) {
        last = last->next;
    }
    g_w.head = last->next;
    last->next = NULL;
    g_w.n -= *n;
    return list;
}

static void *writer_main(void *arg)
{
    (void)arg;
    time_t next_purge = time(NULL) + PURGE_EVERY;
    bool purging = false;
    pthread_mutex_lock(&g_w.lock);
    for (;;) {
        if (g_w.head == NULL && !g_w.stopping && !purging && !g_w.purge_asked) {
            idle_wait(next_purge);
        }
        coalesce();
        size_t n;
        struct entry *list = take_batch(&n);
        unsigned long long seq = g_w.queued - g_w.n;
        bool stop = g_w.stopping && list == NULL;
        if (g_w.purge_asked || time(NULL) >= next_purge) {
            purging = true;
            g_w.purge_asked = false;
            next_purge = time(NULL) + PURGE_EVERY;
        }
        pthread_mutex_unlock(&g_w.lock);
        if (list) {
            write_batch(list, n);
        } else if (purging && !stop) {
            purging = purge_step();
        }
        pthread_mutex_lock(&g_w.lock);
        g_w.flushed = seq;
        pthread_cond_broadcast(&g_w.done);
        if (stop) {
            break;
        }
    }
    pthread_mutex_unlock(&g_w.lock);
    return NULL;
}

int archive_start(const char *db_path, char *err, size_t errlen)
{
    g_w.st = store_open(db_path, err, errlen);
    if (g_w.st == NULL) {
        return ERR_STORE;
    }
    store_archive_tune_writer(g_w.st, WRITER_CACHE_MB, WRITER_CHECKPOINT_PAGES);
    g_w.keys = store_archive_keys_new();
    g_w.fts_backlog = 1; /* what an earlier run (or an upgrade) left unindexed */
    /* Tests split a message's two rows into two batches with 1 (docs/internals/archive.md). */
    const char *bm = getenv("STARLING_ARCHIVE_BATCH_MAX");
    g_w.batch_max = bm ? strtoul(bm, NULL, 10) : 0;
    g_w.running = true;
    if (pthread_create(&g_w.thread, NULL, writer_main, NULL) != 0) {
        g_w.running = false;
        store_archive_keys_free(g_w.keys);
        g_w.keys = NULL;
        store_close(g_w.st);
        g_w.st = NULL;
        snprintf(err, errlen, "cannot start the archive writer thread");
        return ERR_STORE;
    }
    return 0;
}

void archive_stop(void)
{
    if (!g_w.running) {
        return;
    }
    pthread_mutex_lock(&g_w.lock);
    g_w.stopping = true;
    pthread_cond_signal(&g_w.wake);
    pthread_mutex_unlock(&g_w.lock);
    pthread_join(g_w.thread, NULL);
    pthread_mutex_lock(&g_w.lock);
    g_w.running = false;
    g_w.stopping = false;
    pthread_cond_broadcast(&g_w.done);
    pthread_mutex_unlock(&g_w.lock);
    store_archive_keys_free(g_w.keys);
    g_w.keys = NULL;
    store_close(g_w.st);
    g_w.st = NULL;
}

void archive_sync(void)
{
    pthread_mutex_lock(&g_w.lock);
    unsigned long long target = g_w.queued;
    if (g_w.running && g_w.flushed < target) {
        g_w.syncers++;
        pthread_cond_signal(&g_w.wake);
        while (g_w.running && g_w.flushed < target) {
            pthread_cond_wait(&g_w.done, &g_w.lock);
        }
        g_w.syncers--;
    }
    pthread_mutex_unlock(&g_w.lock);
}

void archive_set_keep_days(int days)
{
    atomic_store(&g_w.keep_days, days);
}

void archive_purge_now(void)
{
    pthread_mutex_lock(&g_w.lock);
    g_w.purge_asked = true;
    pthread_cond_signal(&g_w.wake);
    pthread_mutex_unlock(&g_w.lock);
}
