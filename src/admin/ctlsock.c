/* ctlsock.c: the admin API on a Unix socket, one JSON request and one JSON response per line. */
#include "admin/admin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"

/* A response is never cut; past this size (a list of millions of accounts) it is replaced by an
 * error, so a buggy op cannot exhaust memory. */
#define RESPONSE_MAX (256u * 1024 * 1024)
#define READ_CHUNK 65536

static const char too_many_line[] = "{\"ok\":false,\"error\":\"too many admin clients\","
                                    "\"code\":\"limit\"}\n";

static const char too_large_line[] = "{\"ok\":false,\"error\":\"response too large\","
                                     "\"code\":\"limit\"}\n";

struct client {
    int fd;         /* -1: free slot */
    struct buf in;  /* bytes of requests not yet handled */
    struct buf out; /* the response being written */
    bool eof;       /* the client shut down its side: answer what is there, then close */
    bool closing;   /* close once `out` is written */
};

struct admin_sock {
    struct admin *a;
    char *path;
    int lfd;
    int wake[2]; /* a byte on wake[1] stops the thread */
    pthread_t thread;
    struct client clients[ADMIN_MAX_CLIENTS];
};

static void client_close(struct client *cl)
{
    if (cl->fd >= 0) {
        close(cl->fd);
    }
    cl->fd = -1;
    buf_cleanup(&cl->in);
    buf_cleanup(&cl->out);
    cl->eof = false;
    cl->closing = false;
}

/* Queues one response object as a line; an oversized one becomes an error line. */
static void client_queue(struct client *cl, json_t *resp)
{
    char *text = json_dumps(resp, JSON_COMPACT);
    if (text == NULL || buf_append_c(&cl->out, text) != 0 || buf_append_char(&cl->out, '\n') != 0) {
        buf_reset(&cl->out);
        buf_append_c(&cl->out, too_large_line);
    }
    free(text);
}

static void client_error(struct client *cl, const char *msg)
{
    json_t *resp = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "code", "inval");
    client_queue(cl, resp);
    json_decref(resp);
}

/* Handles one request line (without its newline). */
static void handle_line(struct admin *a, struct client *cl, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *req;
    json_t *resp;
    json_t *as;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) {
        i++;
    }
    if (i == len) {
        return; /* blank lines are ignored */
    }
    req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (req == NULL) {
        char msg[256 + JSON_ERROR_TEXT_LENGTH];
        snprintf(msg, sizeof(msg), "invalid JSON at column %d: %s", jerr.column, jerr.text);
        client_error(cl, msg);
        return;
    }
    as = json_object_get(req, "as");
    if (as != NULL && !json_is_string(as)) {
        client_error(cl, "as must be a JID (a string)");
        json_decref(req);
        return;
    }
    resp = admin_handle_as(a, json_string_value(as), req);
    client_queue(cl, resp);
    json_decref(resp);
    json_decref(req);
}

/* Answers the next complete request while nothing is waiting to be written, so a client that
 * does not read its responses cannot make the server buffer them. */
static void client_process(struct admin *a, struct client *cl)
{
    while (cl->out.len == 0 && !cl->closing) {
        const char *p = buf_cstr(&cl->in);
        const char *nl = memchr(p, '\n', cl->in.len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - p);
            handle_line(a, cl, p, n);
            buf_consume(&cl->in, n + 1);
            continue;
        }
        if (cl->in.len > ADMIN_LINE_MAX) {
            client_error(cl, "request line too long");
            cl->closing = true;
        } else if (cl->eof) {
            /* A last request without its newline is still answered. */
            if (cl->in.len > 0) {
                handle_line(a, cl, p, cl->in.len);
                buf_reset(&cl->in);
            }
            cl->closing = true;
        }
        return;
    }
}

static void client_read(struct client *cl)
{
    size_t room = cl->in.max - cl->in.len;
    char *dst;
    ssize_t n;
    if (room > READ_CHUNK) {
        room = READ_CHUNK;
    }
    if (room == 0) {
        return;
    }
    dst = buf_reserve(&cl->in, room);
    n = recv(cl->fd, dst, room, 0);
    if (n > 0) {
        buf_commit(&cl->in, (size_t)n);
    } else if (n == 0) {
        cl->eof = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        client_close(cl);
    }
}

static void client_write(struct client *cl)
{
    ssize_t n = send(cl->fd, cl->out.p, cl->out.len, MSG_NOSIGNAL);
    if (n > 0) {
        buf_consume(&cl->out, (size_t)n);
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        client_close(cl);
    }
}

static void accept_one(struct admin_sock *s)
{
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++) {
        struct client *cl = &s->clients[i];
        if (cl->fd < 0) {
            cl->fd = fd;
            /* One more byte than a line so that a full line plus its newline fits. */
            buf_init(&cl->in, ADMIN_LINE_MAX + 1);
            buf_init(&cl->out, RESPONSE_MAX);
            return;
        }
    }
    /* Best effort: the line fits in any socket buffer. */
    ssize_t n = send(fd, too_many_line, sizeof(too_many_line) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    close(fd);
    log_rec(LOG_TAG_ADMIN, LOG_PROBLEMS, 0, NULL, "admin socket: too many clients, one refused");
}

/* One poll round: the wake pipe, the listener, then each client. Returns false to stop. */
static bool serve_once(struct admin_sock *s)
{
    struct pollfd pfd[ADMIN_MAX_CLIENTS + 2];
    int idx[ADMIN_MAX_CLIENTS];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
    pfd[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++) {
        struct client *cl = &s->clients[i];
        idx[i] = -1;
        if (cl->fd < 0) {
            continue;
        }
        short ev = 0;
        if (cl->out.len > 0) {
            ev |= POLLOUT;
        } else if (!cl->eof && !cl->closing) {
            ev |= POLLIN;
        }
        idx[i] = (int)n;
        pfd[n++] = (struct pollfd){ .fd = cl->fd, .events = ev };
    }
    if (poll(pfd, n, -1) < 0) {
        return errno == EINTR;
    }
    if (pfd[0].revents != 0) {
        return false;
    }
    if (pfd[1].revents & POLLIN) {
        accept_one(s);
    }
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++) {
        struct client *cl = &s->clients[i];
        if (idx[i] < 0 || cl->fd < 0) {
            continue;
        }
        short re = pfd[idx[i]].revents;
        if (re & POLLOUT) {
            client_write(cl);
        } else if (re & POLLIN) {
            client_read(cl);
        } else if (re & (POLLERR | POLLHUP | POLLNVAL)) {
            client_close(cl);
        }
        if (cl->fd < 0) {
            continue;
        }
        /* Answer the buffered requests while their responses go out at once (the usual case);
         * a response the socket does not take whole waits for POLLOUT. */
        client_process(s->a, cl);
        while (cl->fd >= 0 && cl->out.len > 0) {
            client_write(cl);
            if (cl->fd < 0 || cl->out.len > 0) {
                break;
            }
            client_process(s->a, cl);
        }
        if (cl->fd >= 0 && cl->closing && cl->out.len == 0) {
            client_close(cl);
        }
    }
    return true;
}

static void *serve(void *arg)
{
    struct admin_sock *s = arg;
    while (serve_once(s)) {
    }
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++) {
        client_close(&s->clients[i]);
    }
    return NULL;
}

/* Removes a stale socket file; fails when a server answers on it or it is not a socket. */
static int clear_path(const char *path, const struct sockaddr_un *sa, char *err, size_t errlen)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        return 0;
    }
    if (!S_ISSOCK(sb.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket", path);
        return ERR_EXISTS;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        int live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
        close(fd);
        if (live) {
            snprintf(err, errlen, "%s is in use by another server", path);
            return ERR_EXISTS;
        }
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove stale %s: %s", path, strerror(errno));
        return ERR_IO;
    }
    return 0;
}

static int open_listener(const char *path, char *err, size_t errlen, int *out)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    int fd = -1;
    int rc;
    if (len == 0 || len >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "admin socket path too long (max %zu bytes): %s",
                 sizeof(sa.sun_path) - 1, path);
        return ERR_INVAL;
    }
    memcpy(sa.sun_path, path, len + 1);
    rc = clear_path(path, &sa, err, errlen);
    if (rc != 0) {
        return rc;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "admin socket: %s", strerror(errno));
        return ERR_IO;
    }
    /* On Linux the socket's mode becomes the file's: no window where others may connect. */
    if (fchmod(fd, 0600) != 0 || bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        chmod(path, 0600) != 0 || listen(fd, ADMIN_MAX_CLIENTS) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return ERR_IO;
    }
    *out = fd;
    return 0;
}

int admin_socket_start(struct admin *a, const char *path, char *err, size_t errlen)
{
    struct admin_sock **slot = admin__sock_slot(a);
    struct admin_sock *s;
    sigset_t all;
    sigset_t old;
    int rc;
    if (*slot != NULL) {
        snprintf(err, errlen, "admin socket already started");
        return ERR_EXISTS;
    }
    s = xcalloc(1, sizeof(*s));
    s->a = a;
    s->lfd = -1;
    s->wake[0] = -1;
    s->wake[1] = -1;
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++) {
        s->clients[i].fd = -1;
    }
    rc = open_listener(path, err, errlen, &s->lfd);
    if (rc != 0) {
        goto fail;
    }
    if (pipe2(s->wake, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "admin socket: %s", strerror(errno));
        rc = ERR_IO;
        goto fail_unlink;
    }
    s->path = xstrdup(path);
    /* The thread takes no signals: they belong to the main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->thread, NULL, serve, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "admin socket thread: %s", strerror(rc));
        rc = ERR_INTERNAL;
        goto fail_unlink;
    }
    *slot = s;
    log_rec(LOG_TAG_ADMIN, LOG_LOWLEVEL, 0, NULL, "admin socket listening on %s", path);
    return 0;
fail_unlink:
    unlink(path);
fail:
    if (s->lfd >= 0) {
        close(s->lfd);
    }
    if (s->wake[0] >= 0) {
        close(s->wake[0]);
        close(s->wake[1]);
    }
    free(s->path);
    free(s);
    return rc;
}

void admin_socket_stop(struct admin *a)
{
    struct admin_sock **slot = admin__sock_slot(a);
    struct admin_sock *s = *slot;
    char byte = 1;
    if (s == NULL) {
        return;
    }
    while (write(s->wake[1], &byte, 1) < 0 && errno == EINTR) {
    }
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    unlink(s->path);
    free(s->path);
    free(s);
    *slot = NULL;
}
