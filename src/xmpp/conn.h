/* conn.h: a TCP connection with optional TLS over memory BIOs: the transport under an XMPP stream.
 *
 * Ownership: a conn is created by the listener and owned by its worker's list. It is freed only
 * from a deferred call after conn_close() (never inside one of its own callbacks). The stream on
 * top (struct xstream) is owned by the conn and freed with it. */
#ifndef STARLING_XMPP_CONN_H
#define STARLING_XMPP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/loop.h"

struct xstream;
struct xmpp_worker;
struct tls_conn;

enum conn_kind {
    CONN_UNKNOWN,
    CONN_C2S,
    CONN_S2S_IN,
};

struct conn {
    unsigned long id;
    int fd;
    int worker_id;
    struct loop *loop;
    struct loop_io io;
    struct loop_timer timer;       /* owned by the stream: auth timeout, keepalive */
    struct loop_timer close_timer; /* bounds how long a closing conn waits to flush */
    struct loop_timer stage_timer; /* the deadline of the current pre-authentication stage */
    struct loop_timer shape_timer; /* ends a throttled period (byte rate, below) */
    struct loop_defer defer;       /* the deferred free */
    struct loop_defer flush_defer; /* writes of one loop iteration leave in one send */
    struct tls_conn *tls;
    bool tls_direct;    /* accepted on a /tls socket */
    bool tls_wait_hello; /* STARTTLS accepted, no handshake byte yet: whitespace is dropped */
    bool closing;       /* flush what is queued, then close */
    bool closed;        /* the socket is gone; waiting for the deferred free */
    bool counted;       /* counted in the Channels and per-address limits */
    bool unauth_counted; /* counted among its address's unauthenticated connections */
    bool throttled;      /* over its byte rate: not read until shape_timer fires */
    int stage;           /* the pre-authentication stage whose deadline runs (conn.c) */
    long long tokens;    /* byte bucket of the rate limit; negative after a large read */
    uint64_t tokens_at;  /* when the bucket was last refilled (loop time, ms) */
    struct buf out;     /* bytes ready for the socket */
    struct buf pending; /* plaintext received but not yet fed (e.g. across a move) */
    char peer[64];      /* "[ip]:port" */
    char addr[48];      /* "ip", the per-address limit's key */
    time_t since;
    uint64_t last_read_ms; /* monotonic time of the last bytes from the peer */
    /* Monitoring. */
    unsigned long stanzas_in;
    unsigned long stanzas_out;
    unsigned long long bytes_in;
    unsigned long long bytes_out;
    enum conn_kind kind;
    struct xstream *st;
    struct xmpp_worker *xw;
    struct conn *prev, *next; /* the worker's list */
};

/* Takes an accepted socket; the stream is created by the caller. */
struct conn *conn_new(struct xmpp_worker *xw, int fd, bool tls_direct, const char *peer,
                      const char *addr);
/* Re-evaluates the pre-authentication stage (TLS handshake, stream header, authentication) and
 * starts that stage's own deadline when it changed; once authenticated the deadlines end and the
 * connection leaves its address's count of unauthenticated ones. Called by the listener once
 * the stream exists, then after every read. */
void conn_stage_update(struct conn *c);
/* Plaintext to the peer (encrypted when TLS is on). Fails with ERR_LIMIT past the send queue
 * limit, in which case the connection is closed. */
int conn_write(struct conn *c, const char *data, size_t len);
/* Sends what `out` holds on a non-blocking socket until it is empty or the socket is full,
 * adding the bytes sent to *sent; an emptied buffer above 16 KB gives its memory back.
 * Returns 0, or ERR_CLOSED when the socket failed. Shared by incoming and outgoing streams. */
int conn_send_buf(int fd, struct buf *out, unsigned long long *sent);
/* Turns TLS on now: what was queued before goes in clear, what follows is encrypted. */
int conn_start_tls(struct conn *c);
/* Frees the buffers of a connection that has been quiet (output, pending input, TLS); busy
 * connections keep theirs so that a stanza costs no allocation. */
void conn_release_idle(struct conn *c);
/* Frees this worker thread's read buffer (at worker stop). */
void conn_worker_cleanup(void);
bool conn_is_tls(const struct conn *c);
/* Flushes, then closes. Idempotent. `reason` goes to the log. */
void conn_close(struct conn *c, const char *reason);
/* Moves the connection to another worker (after authentication: the account's home worker). */
void conn_move(struct conn *c, int worker_id);
/* Frees every connection of a worker (shutdown). */
void conn_free_now(struct conn *c);

#endif
