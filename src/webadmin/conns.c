/* conns.c: the open HTTP connections of one WebAdmin socket and the deadline of a whole request.
 * libmicrohttpd's own timeout counts only idle time, so a client sending one byte every few
 * seconds would hold its connection for ever; this list lets the WebAdmin's thread cut it. */
#include "webadmin/conns.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "core/buf.h"
#include "core/list.h"

struct track {
    struct track *prev, *next;
    struct web_conns *owner;
    int fd;
    time_t since; /* monotonic seconds: the connection's start or its last answer */
    int cut;      /* already shut down */
};

struct web_conns {
    pthread_mutex_t lock;
    struct track *head;
};

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

struct web_conns *web_conns_new(void)
{
    struct web_conns *cs = xcalloc(1, sizeof(*cs));
    pthread_mutex_init(&cs->lock, NULL);
    return cs;
}

void web_conns_free(struct web_conns *cs)
{
    if (cs == NULL) {
        return;
    }
    while (cs->head != NULL) {
        struct track *t = cs->head;
        cs->head = t->next;
        free(t);
    }
    pthread_mutex_destroy(&cs->lock);
    free(cs);
}

static void started(struct web_conns *cs, struct MHD_Connection *mc, void **socket_context)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct track *t = xcalloc(1, sizeof(*t));
    t->owner = cs;
    t->fd = ci != NULL ? ci->connect_fd : -1;
    t->since = now_s();
    pthread_mutex_lock(&cs->lock);
    LIST_PUSH(cs->head, t);
    pthread_mutex_unlock(&cs->lock);
    *socket_context = t;
}

static void closed(struct web_conns *cs, void **socket_context)
{
    struct track *t = *socket_context;
    if (t == NULL) {
        return;
    }
    pthread_mutex_lock(&cs->lock);
    LIST_UNLINK(cs->head, t);
    pthread_mutex_unlock(&cs->lock);
    free(t);
    *socket_context = NULL;
}

void web_conns_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        started(cls, mc, socket_context);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        closed(cls, socket_context);
    }
}

void web_conns_request_done(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct track *t = ci != NULL ? ci->socket_context : NULL;
    if (t != NULL) {
        pthread_mutex_lock(&t->owner->lock);
        t->since = now_s();
        pthread_mutex_unlock(&t->owner->lock);
    }
}

int web_conns_sweep(struct web_conns *cs, int deadline)
{
    int n = 0;
    time_t now = now_s();
    pthread_mutex_lock(&cs->lock);
    for (struct track *t = cs->head; t != NULL; t = t->next) {
        if (!t->cut && t->fd >= 0 && now - t->since > deadline) {
            /* The socket stays open (the daemon closes it after its next read fails), so its
             * number cannot be reused under the daemon meanwhile. */
            shutdown(t->fd, SHUT_RDWR);
            t->cut = 1;
            n++;
        }
    }
    pthread_mutex_unlock(&cs->lock);
    return n;
}
