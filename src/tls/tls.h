/* tls.h: server-side TLS: per-domain certificates (SNI), sessions over memory, channel binding. */
#ifndef STARLING_TLS_TLS_H
#define STARLING_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* The certificates of all local domains: one OpenSSL context per domain, shared read-only by all
 * worker threads. Readers (tls_conn_new, the SNI lookup, tls_store_has) take a read lock for a
 * few pointer operations; writers (add, remove, client CA, default) do their slow work (key
 * generation, file I/O) outside the lock and swap pointers under the write lock. A context that
 * is replaced or removed stays alive until its last connection is freed (OpenSSL refcount).
 * The store must outlive every tls_conn made from it. */
struct tls_store;

/* Opens the store over DIR (e.g. DATADIR/certs), created with mode 0700 when missing. A domain
 * D uses DIR/D.crt (PEM certificate, optionally followed by its chain) and DIR/D.key (PEM
 * private key). Returns NULL with a reason in err on failure. */
struct tls_store *tls_store_new(const char *dir, char *err, size_t errlen);
/* Frees the store; every tls_conn made from it must have been freed before. */
void tls_store_free(struct tls_store *ts);

/* Makes sure `domain` has a certificate: loads DIR/<domain>.crt and .key, or, when neither file
 * exists, generates a self-signed one (EC P-256, X.509 v3, CN=<domain>, subjectAltName
 * DNS:<domain> and DNS:*.<domain>, valid 10 years, random serial) and writes both files
 * atomically (key mode 0600). On a domain already present it reloads the files (certificate
 * renewal); connections already running keep the old certificate. Domain names are ASCII
 * (A-labels), compared case-insensitively and stored in lower case. `generated` (may be NULL)
 * tells whether a certificate was generated. Logs nothing; returns 0, ERR_INVAL (bad name),
 * ERR_IO (files) or ERR_TLS (bad certificate or key, mismatch) with a one-line reason in err. */
int tls_store_add_domain(struct tls_store *ts, const char *domain, bool *generated, char *err,
                         size_t errlen);
/* Forgets `domain` (files are kept). Returns 0 or ERR_NOTFOUND. */
int tls_store_remove_domain(struct tls_store *ts, const char *domain);
bool tls_store_has(struct tls_store *ts, const char *domain);
/* Client certificates (SASL EXTERNAL): PEM file of trusted CA certificates. When set, clients
 * are asked for a certificate (optional: a missing or unverifiable one does not fail the
 * handshake, it just yields no identity). "" or NULL: none, no certificate is requested.
 * Applies to connections created afterwards. Returns 0, or ERR_IO / ERR_TLS with err. */
int tls_store_set_client_ca(struct tls_store *ts, const char *ca_file, char *err, size_t errlen);
/* Certificate used for clients without SNI or with an unknown name. When unset or not present,
 * the alphabetically first domain is used; with no domain at all the handshake fails. */
void tls_store_set_default(struct tls_store *ts, const char *domain);

/* One server-side TLS session over memory: the caller moves bytes between the socket and these
 * calls. Policy: TLS 1.2 minimum, forward-secret AEAD-first cipher list in server order, no
 * compression, no renegotiation, session tickets. SNI selects the domain's certificate: an exact
 * name, else its parent domain (covered by the DNS:*.<parent> name of generated certificates),
 * else the default. Not thread-safe: one connection is driven by one thread at a time.
 * Memory: input, output and OpenSSL record buffers are released whenever drained after the
 * handshake, so an idle connection holds only the SSL object. */
struct tls_conn;

/* Returns a new session in server (accept) state, or NULL when OpenSSL fails. */
struct tls_conn *tls_conn_new(struct tls_store *ts);
void tls_conn_free(struct tls_conn *c);
/* Queues ciphertext received from the peer; nothing is processed until tls_conn_read. Fails
 * with ERR_LIMIT when more than 1 MiB of input is waiting (call tls_conn_read in between). */
int tls_conn_feed(struct tls_conn *c, const void *data, size_t len);
/* Drives the handshake and decrypts: appends the available plaintext to `plain`, stopping early
 * when `plain` is full (then tls_conn_read_pending() is true: call again once it has room).
 * Handshake messages and alerts it produces go to the output (tls_conn_take_output).
 * Returns 0 (progress, maybe none), ERR_CLOSED (the peer sent close_notify; plaintext before
 * it has been appended) or ERR_TLS (fatal; tls_conn_error() says why, e.g. "wrong version
 * number", "no shared cipher"; an alert for the peer may be waiting in the output). */
int tls_conn_read(struct tls_conn *c, struct buf *plain);
/* True when input or decrypted data is still waiting inside: tls_conn_read stopped because
 * `plain` was full. */
bool tls_conn_read_pending(const struct tls_conn *c);
/* Plaintext for the peer. It is held and encrypted by the next tls_conn_seal (or
 * tls_conn_take_output, or tls_conn_shutdown), so that everything written in between leaves as
 * one record (up to 16 KiB each) instead of one per write. Before the handshake is done it is
 * held (up to 256 KiB) and encrypted when it completes. Returns 0, ERR_LIMIT (more than 4 MiB
 * of output, sealed or not, not taken), ERR_CLOSED (after shutdown) or ERR_TLS (session
 * failed). */
int tls_conn_write(struct tls_conn *c, const void *data, size_t len);
/* Encrypts the plaintext written since the last seal into the output, as few records as its
 * size allows. Returns 0 (also when nothing was held or the handshake is not done) or ERR_TLS. */
int tls_conn_seal(struct tls_conn *c);
/* Seals (tls_conn_seal), then appends pending ciphertext to `out` (after a fatal error: the
 * alert for the peer, if any). A TLS 1.3 session ticket made when the handshake completes is
 * not pending on its own: it leaves with the next application data or our close_notify, in
 * the same send (a client needs it only for its next connection). Returns 0 when everything was taken, ERR_AGAIN when `out` filled
 * up first (the rest stays pending; call again once `out` has been drained), ERR_TLS when
 * sealing failed. */
int tls_conn_take_output(struct tls_conn *c, struct buf *out);
/* Bytes of ciphertext waiting to be taken (plaintext not sealed yet, and a ticket held for the
 * next application data, are not counted). */
size_t tls_conn_output_pending(const struct tls_conn *c);
/* Frees the buffers of a quiet connection (ours and OpenSSL's record buffers: about 35 KB while
 * busy); the next read or write makes them again. */
void tls_conn_release_idle(struct tls_conn *c);
/* Queues our close_notify (a no-op before the handshake completes or after a fatal error).
 * Returns 0. */
int tls_conn_shutdown(struct tls_conn *c);
bool tls_conn_handshake_done(const struct tls_conn *c);
/* One-line reason of the last fatal error ("" when none). */
const char *tls_conn_error(const struct tls_conn *c);
/* Server name the client asked for (as sent), or NULL. */
const char *tls_conn_sni(const struct tls_conn *c);
/* Negotiated protocol ("TLSv1.3") and cipher suite names; meaningful after the handshake. */
const char *tls_conn_version(const struct tls_conn *c);
const char *tls_conn_cipher(const struct tls_conn *c);

/* Channel binding data appended to `out` for `type`:
 *   "tls-unique"  (RFC 5929, TLS <= 1.2 only): the first Finished message of the handshake;
 *   "tls-exporter" (RFC 9266, TLS 1.3 only): 32 bytes exported with "EXPORTER-Channel-Binding";
 *   "tls-server-end-point" (RFC 5929): hash of our certificate with its signature hash
 *                  (SHA-256 when that is MD5 or SHA-1).
 * Returns 0, ERR_NOTFOUND (unknown type, not applicable to this version, or handshake not done)
 * or ERR_LIMIT (`out` full). */
int tls_conn_channel_binding(struct tls_conn *c, const char *type, struct buf *out);
/* Whether tls_conn_channel_binding() has data for `type` on this link, without computing the
 * data where that costs anything (the tls-exporter value is derived only when asked for; the
 * certificate hash is cached per thread): what a server advertises (XEP-0440) per login. */
bool tls_conn_channel_binding_offered(struct tls_conn *c, const char *type);
/* Gives back what this thread's caches hold (the last certificate's tls-server-end-point hash);
 * called when a worker ends. */
void tls_thread_cleanup(void);

/* SASL EXTERNAL identities of the client certificate, when it verified against the client CA:
 * each id-on-xmppAddr otherName (UTF8String) and, only when there is none, each rfc822Name or
 * subject emailAddress that looks like a bare JID (local@domain). Sets `*ids` to a
 * NULL-terminated array the caller frees with tls_ids_free and returns the count; returns 0 with
 * *ids = NULL when there is no verified certificate or no identity in it. */
int tls_conn_peer_ids(struct tls_conn *c, char ***ids);
void tls_ids_free(char **ids);

/* Server-to-server (XEP-0178). CAs trusted for remote servers' certificates: a PEM file, or
 * "system" for the system's default CA paths; "" or NULL: none (no certificate validates, so
 * remote servers authenticate by dialback). While set, incoming sessions ask the peer for a
 * certificate (optional). Applies to checks made afterwards. Returns 0, ERR_IO or ERR_TLS. */
/* What an administrator wants to know of a certificate file (PEM; the first certificate). */
struct tls_cert_info {
    char subject[256]; /* one line, e.g. "CN=example.com" */
    char issuer[256];
    char names[512];       /* subjectAltName DNS names, comma-separated */
    char fingerprint[100]; /* SHA-256: 32 hex pairs joined by ":" (95 bytes) */
    long long not_before;  /* Unix time */
    long long not_after;
    bool self_signed;
};
/* 0, ERR_NOTFOUND (no file) or ERR_TLS (not a certificate). */
int tls_cert_describe(const char *path, struct tls_cert_info *out);

int tls_store_set_s2s_ca(struct tls_store *ts, const char *ca_file, char *err, size_t errlen);
/* An outgoing (client-side) session from our domain `local`, whose certificate it presents,
 * to `remote` (sent as SNI). The ClientHello is waiting in the output on return. NULL when
 * OpenSSL fails. Otherwise used like a server-side session. */
struct tls_conn *tls_conn_new_client(struct tls_store *ts, const char *local, const char *remote);
/* True when the handshake is done and the peer's certificate chains to an s2s CA and names
 * `domain` (subjectAltName DNS, wildcards per RFC 6125). Either side of a session. */
bool tls_conn_peer_verify_domain(struct tls_conn *c, const char *domain);

/* The TLS module: tls.* settings in the module table (core/module.h). */
struct module;
extern struct module tls_module;

#endif
