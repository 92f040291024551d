/* internal.h: declarations shared by the files of the tls module only (not a public API). */
#ifndef STARLING_TLS_INTERNAL_H
#define STARLING_TLS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "tls/tls.h"

/* cert.c: generates a self-signed certificate for `domain` and writes DIR/<domain>.key (0600)
 * and DIR/<domain>.crt, each through a temporary file and rename. Returns 0, ERR_IO or ERR_TLS
 * with a reason in err. */
int tls__cert_generate(const char *dir, const char *domain, char *err, size_t errlen);
/* cert.c: writes the one-line reason of the oldest OpenSSL error of this thread (or `fallback`)
 * to err, prefixed by `what`, and clears the thread's error queue. */
void tls__ossl_error(char *err, size_t errlen, const char *what, const char *fallback);

/* store.c: a new SSL object in accept state on the default domain's context, with client
 * certificate verification set up when a client CA is configured. NULL on failure. */
SSL *tls__store_new_ssl(struct tls_store *ts);
/* store.c: switches `ssl` to the context of `name` (exact, else parent domain); keeps the
 * current one and returns false when no domain matches. Called from the SNI callback. */
bool tls__store_switch(struct tls_store *ts, SSL *ssl, const char *name);
/* store.c: the BIO method connecting an SSL to a tls_conn's buffers (read-only after start). */
const BIO_METHOD *tls__store_bio_method(const struct tls_store *ts);

/* store.c: a new SSL object in connect state for an outgoing s2s session from `local` (its
 * certificate is presented) to `remote` (SNI and host name checked), verifying against the s2s
 * CAs. NULL on failure. */
SSL *tls__store_new_client_ssl(struct tls_store *ts, const char *local, const char *remote);
/* store.c: the s2s CA store with one more reference (X509_STORE_free it), or NULL. */
X509_STORE *tls__store_s2s_ref(struct tls_store *ts);

/* ticket.c: the session-ticket key ring shared by every server context of a store (so a ticket
 * from one worker or domain resumes on any), rotated every 2 hours, a key accepted for 4. */
struct tls_tickets;
struct tls_tickets *tls__tickets_new(void);
void tls__tickets_free(struct tls_tickets *t);
/* Makes `ctx` encrypt and decrypt its tickets with the ring's keys. */
void tls__tickets_attach(SSL_CTX *ctx, struct tls_tickets *t);
/* store.c: the store's ring. */
struct tls_tickets *tls__store_tickets(struct tls_store *ts);
/* Tests: the ring's clock (NULL: the wall clock). */
void tls__tickets_set_clock(struct tls_tickets *t, time_t (*clock)(void));

/* conn.c: the servername (SNI) callback installed on every context of the store. */
int tls__servername_cb(SSL *ssl, int *alert, void *arg);
/* conn.c: creates the BIO method used by tls_conn (called once per store). */
BIO_METHOD *tls__bio_method_new(void);

#endif
