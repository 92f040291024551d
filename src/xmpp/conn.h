/* conn.h: a TCP connection with optional TLS over memory BIOs: the transport under an XMPP stream,
 * accepted (server TLS) or opened by us (client TLS, outgoing s2s).
 *
 * Ownership: a conn is owned by its worker's list: created by the listener (conn_new) or by an
 * outgoing stream (conn_connect). It is freed only from a deferred call after it closed (never
 * inside one of its own callbacks). The conn talks to what runs on top of it, its `owner`, only
 * through `ops` (struct conn_ops below): conn.c knows nothing of XMPP. An owner with a `free` op
 * (the stream of an accepted connection) is freed with the conn; an owner without one lets go
 * with conn_detach() before it goes. */
#ifndef STARLING_XMPP_CONN_H
#define STARLING_XMPP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/loop.h"

struct sockaddr;
struct xstream;
struct xmpp_worker;
struct tls_conn;

enum conn_kind {
    CONN_UNKNOWN,
    CONN_C2S,
    CONN_S2S_IN,
    CONN_S2S_OUT,
};

/* What a conn tells its owner. Every callback runs on the conn's worker, from the conn's own I/O
 * handler, timers or deferred calls; the conn is never freed during one. Only `read` is
 * required; the others may be NULL. */
struct conn_ops {
    /* Plaintext from the peer. Returns how many bytes were used: fewer than `len` when the
     * transport must change first (TLS starts) or the connection must move to another worker
     * (wants_move); the conn keeps the rest and feeds it when it may. */
    size_t (*read)(void *owner, const char *data, size_t len);
    /* The socket is gone: the peer closed it, it failed (`why` says how, for the owner's log
     * record), or a close completed (`why` NULL). No callback follows but `free`. */
    void (*closed)(void *owner, const char *why);
    /* conn_connect only: the connection is established (`err` 0) or failed (an errno value;
     * the owner then abandons the conn). */
    void (*connected)(void *owner, int err);
    /* The conn is being freed (the owner goes with it). */
    void (*free)(void *owner);
    /* Accepted connections: the worker to move to, or -1; called on the new worker after the
     * move. */
    int (*wants_move)(void *owner);
    void (*moved)(void *owner);
    /* Accepted connections, for the pre-authentication deadlines: the peer has authenticated;
     * the owner waits for the peer's stream header. */
    bool (*authenticated)(void *owner);
    bool (*awaiting_header)(void *owner);
    /* A pre-authentication deadline passed after the TLS handshake: the owner ends the stream
     * (stream error connection-timeout with `text`). */
    void (*expired)(void *owner, const char *text);
    /* Bytes other than whitespace came after a STARTTLS was accepted and before the handshake
     * (RFC 6120 section 5.4.3.3): TLS is off again; the owner ends the stream. */
    void (*tls_refused)(void *owner);
    /* Optional: everything queued went out (the send queue is empty); the owner may write more
     * (a download streamed from disk in chunks). */
    void (*writable)(void *owner);
};

/* A framing between the socket and the owner (a WebSocket, src/web/ws.c): what the peer sends is
 * decoded into the owner's stream text, what the owner writes (conn_write) is encoded into frames
 * that go out with conn_write_raw. Set with conn_set_filter; freed with the conn. */
struct conn_filter {
    /* Plaintext from the socket; appends the owner's text to `text`. Returns 0, or ERR_CLOSED
     * when the framing ended (a close frame, a protocol error): the conn then closes. */
    int (*decode)(void *ctx, const char *data, size_t len, struct buf *text);
    /* Text the owner writes; the filter writes frames with conn_write_raw. */
    int (*encode)(void *ctx, const char *data, size_t len);
    /* The conn starts to close: the filter may queue its last frame. */
    void (*closing)(void *ctx);
    void (*free)(void *ctx);
    /* Optional: the conn leaves its worker (on the old one: stop the filter's timers) and
     * arrives on the new one (c->loop is the new loop). */
    void (*leaving)(void *ctx);
    void (*arrived)(void *ctx);
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
    bool tls_direct; /* accepted on a /tls socket */
    bool client;     /* opened by us (conn_connect): TLS client side, no limits of accepted ones */
    bool connecting; /* conn_connect: the TCP connect has not finished */
    bool tls_wait_hello; /* STARTTLS accepted, no handshake byte yet: whitespace is dropped */
    bool closing;        /* flush what is queued, then close */
    bool closed;         /* the socket is gone; waiting for the deferred free */
    bool counted;        /* counted in the Channels and per-address limits */
    bool unauth_counted; /* counted among its address's unauthenticated connections */
    bool throttled;      /* over its byte rate: not read until shape_timer fires */
    int stage;           /* the pre-authentication stage whose deadline runs (conn.c) */
    long long tokens;    /* byte bucket of the rate limit; negative after a large read */
    uint64_t tokens_at;  /* when the bucket was last refilled (loop time, ms) */
    struct buf out;      /* bytes ready for the socket */
    struct buf pending;  /* plaintext received but not yet fed (e.g. across a move) */
    char peer[64];       /* "[ip]:port" */
    char addr[48];       /* "ip", the per-address limit's key */
    time_t since;
    uint64_t last_read_ms; /* monotonic time of the last bytes from the peer */
    /* Monitoring. */
    unsigned long stanzas_in;
    unsigned long stanzas_out;
    unsigned long long bytes_in;
    unsigned long long bytes_out;
    unsigned long sends;    /* send calls that moved bytes (a login's count is its protocol's) */
    unsigned long receives; /* recv calls that returned bytes */
    enum conn_kind kind;    /* set with conn_set_kind */
    struct log_ctx log;     /* its records: the tag of its kind, id, peer, account */
    const struct conn_ops *ops; /* NULL once the owner detached */
    void *owner;
    /* The stream of an accepted connection (the owner; NULL on outgoing s2s), for the XMPP
     * module's sweeps and monitoring. conn.c never uses it. */
    struct xstream *st;
    const struct conn_filter *filter; /* a framing (WebSocket), or NULL */
    void *filter_ctx;
    bool secure; /* counts as encrypted without own TLS (a WebSocket behind a local proxy) */
    bool http;   /* accepted on an http.listener socket */
    /* Not held to the byte rate (xmpp.receiving.c2s_rate): the body of an HTTP upload whose
     * slot the server granted (its size and the account's quota checked already). */
    bool unshaped;
    struct xmpp_worker *xw;
    struct conn *prev, *next; /* the worker's list */
};

/* Takes an accepted socket; the stream is created by the caller, which sets ops and owner. */
struct conn *conn_new(struct xmpp_worker *xw, int fd, bool tls_direct, const char *peer,
                      const char *addr);
/* Opens a non-blocking TCP connection to `sa` (kind CONN_S2S_OUT, id `id` for the log, `out_max`
 * bytes of send queue); ops->connected reports the outcome. Returns NULL with errno set when the
 * socket cannot be made or the connect fails at once. No pre-authentication deadlines, shaping
 * or per-address limits apply to it: the owner bounds its own set-up. */
struct conn *conn_connect(struct xmpp_worker *xw, const struct sockaddr *sa, unsigned salen,
                          unsigned long id, size_t out_max, const struct conn_ops *ops,
                          void *owner);
/* "[ip]:port" of a socket address in `peer`, and the bare "ip" in `addr` unless it is NULL. */
void conn_format_peer(const struct sockaddr *sa, char *peer, size_t plen, char *addr, size_t alen);
/* Turns TLS on in client mode (TLS session as `local` with `remote`, whose certificate the owner
 * checks with tls_conn_peer_verify_domain): at once for direct TLS, or after <proceed/> with
 * `after_proceed` (whitespace before the server's first handshake byte is then dropped). Returns
 * 0, ERR_PROTO when TLS is on already, or ERR_TLS. */
int conn_start_tls_client(struct conn *c, const char *local, const char *remote,
                          bool after_proceed);
/* Sets the kind (once the stream header tells) and with it the tag of the conn's records: XMPPS
 * for a client stream, XMPPO for an outgoing one, XMPPI otherwise. */
void conn_set_kind(struct conn *c, enum conn_kind kind);
/* The owner lets go: no callback reaches it any more (not even `free`). */
void conn_detach(struct conn *c);
/* Drops the socket now, without flushing (a failed connect, a broken peer). No callback. */
void conn_abandon(struct conn *c);
/* Re-evaluates the pre-authentication stage (TLS handshake, stream header, authentication) and
 * starts that stage's own deadline when it changed; once authenticated the deadlines end and the
 * connection leaves its address's count of unauthenticated ones. Called by the listener once
 * the stream exists, then after every read. */
void conn_stage_update(struct conn *c);
/* Plaintext to the peer (encrypted when TLS is on). Fails with ERR_LIMIT past the send queue
 * limit, in which case the connection is closed. */
int conn_write(struct conn *c, const char *data, size_t len);
/* Writes `data` to the socket as it is, past the filter (the filter's own frames). */
int conn_write_raw(struct conn *c, const char *data, size_t len);
/* Puts a framing between the socket and the owner; bytes of the current read that the owner has
 * not used yet are decoded by it. */
void conn_set_filter(struct conn *c, const struct conn_filter *f, void *ctx);
/* Sends what `out` holds on a non-blocking socket until it is empty or the socket is full,
 * adding the bytes sent to *sent and the send calls that moved bytes to *calls; an emptied
 * buffer above 16 KB gives its memory back. Returns 0, or ERR_CLOSED when the socket failed.
 * Shared by incoming and outgoing streams. */
int conn_send_buf(int fd, struct buf *out, unsigned long long *sent, unsigned long *calls);
/* Turns TLS on now: what was queued before goes in clear, what follows is encrypted. */
int conn_start_tls(struct conn *c);
/* Frees the buffers of a connection that has been quiet (output, pending input, TLS); busy
 * connections keep theirs so that a stanza costs no allocation. */
void conn_release_idle(struct conn *c);
/* Frees this worker thread's read buffer (at worker stop). */
void conn_worker_cleanup(void);
/* TLS is on, or the conn counts as secure (`secure`: a framing behind a trusted proxy). */
bool conn_is_tls(const struct conn *c);
/* Flushes, then closes; ops->closed follows (with `why` NULL) unless detached. Idempotent.
 * `reason` goes to the log. */
void conn_close(struct conn *c, const char *reason);
/* Moves the connection to another worker (after authentication: the account's home worker). */
void conn_move(struct conn *c, int worker_id);
/* Frees every connection of a worker (shutdown). */
void conn_free_now(struct conn *c);

#endif
