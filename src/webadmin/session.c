/* session.c: WebAdmin login sessions (in memory) and the per-address login rate limit. */
#include "webadmin/web_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/buf.h"
#include "core/err.h"

#define LOGIN_ADDRS_MAX 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct web_session *sessions; /* under lock */
static size_t nsessions;

struct login_addr {
    char addr[64];
    time_t failures[WEB_LOGIN_FAILURES]; /* ring of the last failures' times */
    int next;
};
static struct login_addr *addrs; /* under lock */
static size_t naddrs;

static void random_token(char *out)
{
    unsigned char rnd[WEB_TOKEN_LEN / 2];
    static const char hex[] = "0123456789abcdef";
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        /* Without randomness no session can be safe. */
        abort();
    }
    for (size_t i = 0; i < sizeof(rnd); i++) {
        out[2 * i] = hex[rnd[i] >> 4];
        out[2 * i + 1] = hex[rnd[i] & 15];
    }
    out[WEB_TOKEN_LEN] = '\0';
}

bool web_token_eq(const char *a, const char *b)
{
    size_t la = strlen(a);
    return la == strlen(b) && la > 0 && CRYPTO_memcmp(a, b, la) == 0;
}

static void remove_at(size_t i)
{
    OPENSSL_cleanse(&sessions[i], sizeof(sessions[i]));
    sessions[i] = sessions[nsessions - 1];
    nsessions--;
}

void web_session_create(const struct web_identity *who, struct web_session *out)
{
    memset(out, 0, sizeof(*out));
    random_token(out->id);
    random_token(out->csrf);
    out->who = *who;
    out->created = time(NULL);
    out->last = out->created;
    pthread_mutex_lock(&lock);
    if (nsessions == WEB_SESSIONS_MAX) {
        size_t oldest = 0;
        for (size_t i = 1; i < nsessions; i++) {
            if (sessions[i].last < sessions[oldest].last) {
                oldest = i;
            }
        }
        remove_at(oldest);
    }
    if (sessions == NULL) {
        sessions = xcalloc(WEB_SESSIONS_MAX, sizeof(*sessions));
    }
    sessions[nsessions++] = *out;
    pthread_mutex_unlock(&lock);
}

int web_session_find(const char *id, int idle_timeout, struct web_session *out)
{
    time_t now = time(NULL);
    int rc = ERR_NOTFOUND;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsessions;) {
        struct web_session *s = &sessions[i];
        if (now - s->last > idle_timeout || now - s->created > WEB_SESSION_MAX_AGE) {
            remove_at(i);
            continue;
        }
        if (rc != 0 && web_token_eq(s->id, id)) {
            s->last = now;
            *out = *s;
            rc = 0;
        }
        i++;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void web_session_remove(const char *id)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsessions; i++) {
        if (web_token_eq(sessions[i].id, id)) {
            remove_at(i);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

void web_session_clear(void)
{
    pthread_mutex_lock(&lock);
    if (sessions != NULL) {
        OPENSSL_cleanse(sessions, WEB_SESSIONS_MAX * sizeof(*sessions));
    }
    free(sessions);
    sessions = NULL;
    nsessions = 0;
    free(addrs);
    addrs = NULL;
    naddrs = 0;
    pthread_mutex_unlock(&lock);
}

/* The entry of `addr`, created when `create`; NULL when absent. Under lock. */
static struct login_addr *find_addr(const char *addr, bool create)
{
    for (size_t i = 0; i < naddrs; i++) {
        if (strcmp(addrs[i].addr, addr) == 0) {
            return &addrs[i];
        }
    }
    if (!create) {
        return NULL;
    }
    if (addrs == NULL) {
        addrs = xcalloc(LOGIN_ADDRS_MAX, sizeof(*addrs));
    }
    if (naddrs == LOGIN_ADDRS_MAX) {
        /* Forget the entry whose last failure is the oldest. */
        size_t oldest = 0;
        time_t oldest_t = 0;
        for (size_t i = 0; i < naddrs; i++) {
            struct login_addr *a = &addrs[i];
            time_t last = a->failures[(a->next + WEB_LOGIN_FAILURES - 1) % WEB_LOGIN_FAILURES];
            if (i == 0 || last < oldest_t) {
                oldest = i;
                oldest_t = last;
            }
        }
        addrs[oldest] = addrs[--naddrs];
    }
    struct login_addr *a = &addrs[naddrs++];
    memset(a, 0, sizeof(*a));
    snprintf(a->addr, sizeof(a->addr), "%s", addr);
    return a;
}

int web_login_blocked(const char *addr)
{
    int wait = 0;
    time_t now = time(NULL);
    pthread_mutex_lock(&lock);
    struct login_addr *a = find_addr(addr, false);
    if (a != NULL) {
        /* The ring is full of recent failures when its oldest one is within the window. */
        time_t oldest = a->failures[a->next];
        if (oldest != 0 && now - oldest < WEB_LOGIN_WINDOW) {
            wait = (int)(WEB_LOGIN_WINDOW - (now - oldest));
        }
    }
    pthread_mutex_unlock(&lock);
    return wait;
}

void web_login_failed(const char *addr)
{
    pthread_mutex_lock(&lock);
    struct login_addr *a = find_addr(addr, true);
    a->failures[a->next] = time(NULL);
    a->next = (a->next + 1) % WEB_LOGIN_FAILURES;
    pthread_mutex_unlock(&lock);
}

void web_login_succeeded(const char *addr)
{
    pthread_mutex_lock(&lock);
    struct login_addr *a = find_addr(addr, false);
    if (a != NULL) {
        memset(a->failures, 0, sizeof(a->failures));
        a->next = 0;
    }
    pthread_mutex_unlock(&lock);
}
