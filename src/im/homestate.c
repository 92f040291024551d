/* homestate.c: per-account memory of the home worker between sessions: empty-store hints and the
 * last-seen and last-login records written behind in batches (see homestate.h). */
#include "im/homestate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "im/module.h"
#include "store/store_im.h"
#include "store/store_login.h"
#include "store/store_services.h"

#define HS_BUCKETS 4096
/* Past this many accounts, pending records are written and the hints forgotten. */
#define HS_MAX_ENTRIES 16384

#define PENDING_SEEN 1u
#define PENDING_LOGOUT 2u
#define PENDING_LOGIN 4u /* issue 20: the last successful login and its address */

struct hs_entry {
    struct hs_entry *next;       /* in its bucket */
    struct hs_entry *next_dirty; /* in the list of entries with pending records */
    unsigned empty;              /* IM_HINT_* bits known empty */
    unsigned pending;            /* PENDING_* */
    unsigned acct_gen;           /* accounts_generation() when the first pending record came */
    long long seen;
    long long logout;
    long long login;
    char *login_address; /* while PENDING_LOGIN */
    uint64_t seen_event; /* loop time of the event that noted `seen` */
    char *status;
    size_t domain_len;
    char key[]; /* domain '\0' local '\0' */
};

struct home_state {
    struct hs_entry *buckets[HS_BUCKETS];
    struct hs_entry *dirty;
    size_t count;
    struct loop_timer timer;
    struct loop *loop;
    uint64_t moment_event;
    long long moment;
    bool failing; /* the last flush failed: the records wait for the retry */
};

/* This worker's home state lives in the IM core's module slot (im/module.h). */
static struct home_state *hs(void)
{
    struct im_worker *iw = im__worker();
    if (iw->home == NULL) {
        iw->home = xcalloc(1, sizeof(*iw->home));
        loop_timer_init(&iw->home->timer);
        struct worker *w = worker_self();
        iw->home->loop = w ? w->loop : NULL;
    }
    return iw->home;
}

static size_t bucket_of(const char *domain, const char *local)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)domain; *p; p++) {
        h = (h ^ *p) * 16777619u;
    }
    h = (h ^ '@') * 16777619u;
    for (const unsigned char *p = (const unsigned char *)local; *p; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h % HS_BUCKETS;
}

static struct hs_entry *find(struct home_state *s, const char *domain, const char *local)
{
    size_t dlen = strlen(domain);
    for (struct hs_entry *e = s->buckets[bucket_of(domain, local)]; e; e = e->next) {
        if (e->domain_len == dlen && memcmp(e->key, domain, dlen) == 0 &&
            strcmp(e->key + dlen + 1, local) == 0) {
            return e;
        }
    }
    return NULL;
}

static const char *entry_local(const struct hs_entry *e)
{
    return e->key + e->domain_len + 1;
}

static void free_all(struct home_state *s)
{
    if (s->dirty != NULL) {
        log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, NULL,
                "last seen records that could not be saved are dropped");
    }
    for (size_t i = 0; i < HS_BUCKETS; i++) {
        while (s->buckets[i]) {
            struct hs_entry *e = s->buckets[i];
            s->buckets[i] = e->next;
            free(e->status);
            free(e->login_address);
            free(e);
        }
    }
    s->dirty = NULL;
    s->count = 0;
}

static struct hs_entry *get(struct home_state *s, const char *domain, const char *local)
{
    struct hs_entry *e = find(s, domain, local);
    if (e != NULL) {
        return e;
    }
    if (s->count >= HS_MAX_ENTRIES) {
        im_home_state_flush();
        free_all(s);
    }
    size_t dlen = strlen(domain);
    size_t llen = strlen(local);
    e = xcalloc(1, sizeof(*e) + dlen + llen + 2);
    memcpy(e->key, domain, dlen);
    memcpy(e->key + dlen + 1, local, llen);
    e->domain_len = dlen;
    size_t b = bucket_of(domain, local);
    e->next = s->buckets[b];
    s->buckets[b] = e;
    s->count++;
    return e;
}

/* ---- empty-store hints ---- */

bool im_known_empty(const char *domain, const char *local, unsigned what)
{
    const struct hs_entry *e = find(hs(), domain, local);
    return e != NULL && (e->empty & what) == what;
}

void im_note_empty(const char *domain, const char *local, unsigned what)
{
    get(hs(), domain, local)->empty |= what;
}

void im_note_filled(const char *domain, const char *local, unsigned what)
{
    struct hs_entry *e = find(hs(), domain, local);
    if (e != NULL) {
        e->empty &= ~what;
    }
}

/* ---- last seen ---- */

/* The wall-clock second of the event being handled: the same for everything noted in one loop
 * iteration, so that a session's end stamps its unavailable presence and its logout alike. */
static long long moment(struct home_state *s, uint64_t *event)
{
    uint64_t now = s->loop ? loop_now_ms(s->loop) : 0;
    if (s->loop == NULL || now != s->moment_event || s->moment == 0) {
        s->moment_event = now;
        s->moment = (long long)time(NULL);
    }
    *event = now;
    return s->moment;
}

static void flush_fired(void *ud)
{
    (void)ud;
    im_home_state_flush();
}

static void mark_pending(struct home_state *s, struct hs_entry *e, unsigned what)
{
    if (e->pending == 0) {
        e->acct_gen = accounts_generation(e->key, entry_local(e));
        e->next_dirty = s->dirty;
        s->dirty = e;
    }
    e->pending |= what;
    /* While failing, the retry timer is armed already. */
    if (s->loop != NULL && !loop_timer_armed(&s->timer)) {
        loop_timer_start(s->loop, &s->timer, IM_LAST_SEEN_DELAY_MS, flush_fired, NULL);
    }
}

void im_last_seen_unavailable(const char *domain, const char *local, const char *status)
{
    struct home_state *s = hs();
    struct hs_entry *e = get(s, domain, local);
    e->seen = moment(s, &e->seen_event);
    free(e->status);
    e->status = xstrdup(status ? status : "");
    mark_pending(s, e, PENDING_SEEN);
}

void im_last_seen_logout(const char *domain, const char *local)
{
    struct home_state *s = hs();
    struct hs_entry *e = get(s, domain, local);
    uint64_t event;
    e->logout = moment(s, &event);
    if ((e->pending & PENDING_SEEN) && e->seen_event == event) {
        e->logout = e->seen;
    }
    mark_pending(s, e, PENDING_LOGOUT);
}

void im_last_login(const char *domain, const char *local, const char *address)
{
    struct home_state *s = hs();
    struct hs_entry *e = get(s, domain, local);
    uint64_t event;
    e->login = moment(s, &event);
    free(e->login_address);
    e->login_address = xstrdup(address ? address : "");
    mark_pending(s, e, PENDING_LOGIN);
}

int im_last_seen_get(const char *domain, const char *local, long long *seen, struct buf *status,
                     long long *logout)
{
    struct store *st = worker_ctx()->store;
    const struct hs_entry *e = find(hs(), domain, local);
    unsigned pending = e ? e->pending : 0;
    *seen = 0;
    *logout = 0;
    if (status) {
        buf_reset(status);
    }
    int rc = 0;
    if (pending & PENDING_SEEN) {
        *seen = e->seen;
        if (status) {
            buf_append_c(status, e->status);
        }
    } else {
        rc = store_im_last_get(st, domain, local, seen, status);
    }
    if (rc == 0 || rc == ERR_NOTFOUND) {
        if (pending & PENDING_LOGOUT) {
            *logout = e->logout;
            rc = 0;
        } else {
            int r2 = store_last_get(st, domain, local, logout, NULL);
            rc = r2 == ERR_NOTFOUND ? 0 : r2;
        }
    }
    return rc;
}

/* When the account changed since the record was noted (it may have been removed and made
 * again), the record is written only to an account made before it (seconds: one made in the
 * same second loses the record, rather than get another's). */
static bool still_same_account(struct store *st, const struct hs_entry *e)
{
    if (accounts_generation(e->key, entry_local(e)) == e->acct_gen) {
        return true;
    }
    long long created = 0;
    long long noted = (e->pending & PENDING_SEEN) ? e->seen : e->logout;
    if (e->pending == PENDING_LOGIN) {
        noted = e->login;
    }
    return store_account_created(st, e->key, entry_local(e), &created) == 0 && created < noted;
}

/* 0, or the store's code (an account that went meanwhile is not a failure). */
static int write_entry(struct store *st, const struct hs_entry *e)
{
    int rc = 0;
    if (e->pending & PENDING_SEEN) {
        rc = store_im_last_set(st, e->key, entry_local(e), e->seen, e->status);
    }
    if (rc == 0 && (e->pending & PENDING_LOGOUT)) {
        rc = store_last_set(st, e->key, entry_local(e), e->logout, "");
    }
    if ((rc == 0 || rc == ERR_NOTFOUND) && (e->pending & PENDING_LOGIN)) {
        rc = store_login_set(st, e->key, entry_local(e), e->login, e->login_address);
    }
    return rc == ERR_NOTFOUND ? 0 : rc;
}

/* Writes every pending record in one transaction: all of them, or none. */
static int write_all(struct home_state *s, struct store *st)
{
    int rc = store_group_begin(st);
    if (rc != 0) {
        return rc;
    }
    for (struct hs_entry *e = s->dirty; e && rc == 0; e = e->next_dirty) {
        if (still_same_account(st, e)) {
            rc = write_entry(st, e);
        }
    }
    return store_group_end(st, rc);
}

void im_home_state_flush(void)
{
    struct home_state *s = im__worker()->home;
    struct worker_ctx *wc = worker_ctx();
    if (s == NULL || s->dirty == NULL || wc == NULL || wc->store == NULL) {
        return;
    }
    if (s->loop != NULL) {
        loop_timer_stop(s->loop, &s->timer);
    }
    struct store *st = wc->store;
    if (write_all(s, st) != 0) {
        /* Kept and retried (the disk may be full for a while): logged once per failing spell. */
        if (!s->failing) {
            log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, NULL,
                    "last seen records not saved (kept, retried every %d ms): %s",
                    IM_LAST_SEEN_RETRY_MS, store_last_error(st));
        }
        s->failing = true;
        if (s->loop != NULL) {
            loop_timer_start(s->loop, &s->timer, IM_LAST_SEEN_RETRY_MS, flush_fired, NULL);
        }
        return;
    }
    if (s->failing) {
        log_rec(LOG_TAG_XMPPS, LOG_MAJOR, 0, NULL, "last seen records saved again");
        s->failing = false;
    }
    while (s->dirty) {
        struct hs_entry *e = s->dirty;
        s->dirty = e->next_dirty;
        e->next_dirty = NULL;
        e->pending = 0;
        free(e->status);
        e->status = NULL;
        free(e->login_address);
        e->login_address = NULL;
    }
}

void im_home_state_release(void)
{
    struct home_state *s = im__worker()->home;
    if (s != NULL) {
        im_home_state_flush();
        free_all(s);
    }
}

void im_home_state_stop(void)
{
    struct home_state *s = im__worker()->home;
    if (s == NULL) {
        return;
    }
    im_home_state_flush();
    if (s->loop != NULL) {
        loop_timer_stop(s->loop, &s->timer);
    }
    free_all(s);
    free(s);
    im__worker()->home = NULL;
}
