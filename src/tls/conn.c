/* conn.c: one server-side TLS session over in-memory buffers; channel binding; client ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/buf.h"
#include "core/err.h"
#include "tls/internal.h"

#define IN_MAX (1024 * 1024)
#define OUT_MAX (4 * 1024 * 1024)
#define EARLY_MAX (256 * 1024)
#define READ_CHUNK 16384
/* Upper bound of the bytes a TLS record adds to at most 16 KiB of plaintext. */
#define RECORD_OVERHEAD 256
#define EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define JID_MAX 3071

struct tls_conn {
    struct tls_store *ts;
    SSL *ssl;
    struct buf in; /* ciphertext fed, not yet read by OpenSSL from in_off on */
    size_t in_off;
    struct buf out; /* ciphertext produced, not yet taken */
    /* Plaintext written and not yet sealed: before the handshake completes, and between the
     * writes of one loop iteration, which leave as one record (tls_conn_seal). */
    struct buf plain;
    char *sni;
    bool done; /* handshake completed and its bookkeeping done */
    bool failed;
    bool closed; /* close_notify received */
    bool shut;   /* our close_notify queued */
    bool out_overflow;
    /* A TLS 1.3 server's post-handshake messages (its session ticket) wait in `out` for the
     * next record of application data, or our close_notify, so that they share its send: the
     * peer needs the ticket only for a later connection, and a client answers the handshake
     * with its stream header, which we answer. Only the first out_ready bytes of `out` (what
     * was there before) may be taken meanwhile. */
    bool hold;
    size_t out_ready;
    char err[160];
};

/* The BIO between OpenSSL and the connection's buffers: reads consume `in`, writes append to
 * `out`. While the connection is busy the buffers (ours and OpenSSL's record buffers) are kept,
 * so a stanza costs no allocation; tls_conn_release_idle gives them back once it is quiet. */

static void drained_in(struct tls_conn *c)
{
    c->in_off = 0;
    buf_reset(&c->in);
}

static int bio_read(BIO *b, char *data, int len)
{
    struct tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    size_t avail = c->in.len - c->in_off;
    if (avail == 0) {
        BIO_set_retry_read(b);
        return -1;
    }
    size_t n = len > 0 && (size_t)len < avail ? (size_t)len : avail;
    memcpy(data, c->in.p + c->in_off, n);
    c->in_off += n;
    if (c->in_off == c->in.len) {
        drained_in(c);
    }
    return (int)n;
}

static int bio_write(BIO *b, const char *data, int len)
{
    struct tls_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0) {
        return 0;
    }
    if (buf_append(&c->out, data, (size_t)len) != 0) {
        c->out_overflow = true;
        return -1;
    }
    return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct tls_conn *c = BIO_get_data(b);
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return (long)(c->in.len - c->in_off);
    case BIO_CTRL_WPENDING:
        return (long)c->out.len;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int bio_destroy(BIO *b)
{
    BIO_set_data(b, NULL);
    return 1;
}

BIO_METHOD *tls__bio_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "starling-tls");
    if (m == NULL) {
        return NULL;
    }
    if (!BIO_meth_set_read(m, bio_read) || !BIO_meth_set_write(m, bio_write) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create) ||
        !BIO_meth_set_destroy(m, bio_destroy)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

int tls__servername_cb(SSL *ssl, int *alert, void *arg)
{
    struct tls_conn *c = SSL_get_app_data(ssl);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    (void)alert;
    (void)arg;
    if (c == NULL || name == NULL) {
        return SSL_TLSEXT_ERR_OK;
    }
    free(c->sni);
    c->sni = xstrdup(name);
    /* An unknown name keeps the default certificate; the handshake goes on. */
    return tls__store_switch(c->ts, ssl, name) ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
}

/* A connection around `ssl` (NULL when making it failed), on the store's memory BIO; NULL on
 * failure, `ssl` freed with it. The one constructor of the server and client sides. */
static struct tls_conn *conn_new(struct tls_store *ts, SSL *ssl)
{
    struct tls_conn *c = xcalloc(1, sizeof(*c));
    c->ts = ts;
    buf_init(&c->in, IN_MAX);
    buf_init(&c->out, OUT_MAX);
    buf_init(&c->plain, OUT_MAX);
    c->ssl = ssl;
    BIO *bio = c->ssl != NULL ? BIO_new(tls__store_bio_method(ts)) : NULL;
    if (bio == NULL) {
        ERR_clear_error();
        tls_conn_free(c);
        return NULL;
    }
    BIO_set_data(bio, c);
    SSL_set_bio(c->ssl, bio, bio);
    SSL_set_app_data(c->ssl, c);
    return c;
}

struct tls_conn *tls_conn_new(struct tls_store *ts)
{
    return conn_new(ts, tls__store_new_ssl(ts));
}

void tls_conn_free(struct tls_conn *c)
{
    if (c == NULL) {
        return;
    }
    SSL_free(c->ssl);
    buf_cleanup(&c->in);
    buf_cleanup(&c->out);
    buf_cleanup(&c->plain);
    free(c->sni);
    free(c);
}

int tls_conn_feed(struct tls_conn *c, const void *data, size_t len)
{
    if (c->in_off > 0) {
        buf_consume(&c->in, c->in_off);
        c->in_off = 0;
    }
    return buf_append(&c->in, data, len);
}

/* Empties this thread's OpenSSL error queue before a call whose failure is read with
 * SSL_get_error. Every failure path here clears it after reading it, so it is almost always
 * empty already: peeking is cheaper than clearing its 16 slots for every record. */
static void clear_errors(void)
{
    if (ERR_peek_error() != 0) {
        ERR_clear_error();
    }
}

/* Turns the outcome of an OpenSSL call into our return code; 0 when it only needs more input. */
static int ssl_result(struct tls_conn *c, int ret)
{
    int e = SSL_get_error(c->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        ERR_clear_error();
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        c->closed = true;
        ERR_clear_error();
        return ERR_CLOSED;
    case SSL_ERROR_SSL:
        tls__ossl_error(c->err, sizeof(c->err), NULL, "TLS protocol error");
        break;
    case SSL_ERROR_SYSCALL:
        tls__ossl_error(c->err, sizeof(c->err), NULL,
                        c->out_overflow ? "output buffer limit exceeded" : "I/O error");
        break;
    default:
        tls__ossl_error(c->err, sizeof(c->err), NULL, "unexpected TLS state");
        break;
    }
    c->failed = true;
    return ERR_TLS;
}

static int seal(struct tls_conn *c, const void *data, size_t len)
{
    size_t overhead = (len / READ_CHUNK + 1) * RECORD_OVERHEAD;
    if (len > OUT_MAX || c->out.len > OUT_MAX - len || OUT_MAX - len - c->out.len < overhead) {
        return ERR_LIMIT;
    }
    size_t written = 0;
    clear_errors();
    if (SSL_write_ex(c->ssl, data, len, &written) != 1) {
        int rc = ssl_result(c, 0);
        if (rc == 0) {
            /* Cannot happen with our BIO (writes never block); never report a silent loss. */
            snprintf(c->err, sizeof(c->err), "TLS write did not complete");
            c->failed = true;
            rc = ERR_TLS;
        }
        return rc;
    }
    return 0;
}

int tls_conn_seal(struct tls_conn *c)
{
    if (c->failed) {
        return ERR_TLS;
    }
    if (!c->done || c->plain.len == 0) {
        return 0;
    }
    int rc = seal(c, c->plain.p, c->plain.len);
    buf_reset(&c->plain);
    c->hold = false;
    if (rc == ERR_LIMIT) {
        /* tls_conn_write checked the room already: this is a bug, not the peer's doing. */
        snprintf(c->err, sizeof(c->err), "output buffer limit exceeded");
        c->failed = true;
        rc = ERR_TLS;
    }
    return rc;
}

/* Bookkeeping once the handshake completes: held plaintext sent; what a TLS 1.3 server wrote
 * after its handshake (`before`: the output's length before the call that completed it) held
 * for the next application data when there is none yet. */
static int handshake_finished(struct tls_conn *c, size_t before)
{
    c->done = true;
    if (c->plain.len == 0 && c->out.len > before && SSL_is_server(c->ssl) &&
        SSL_version(c->ssl) == TLS1_3_VERSION) {
        c->hold = true;
        c->out_ready = before;
    }
    if (c->in_off == c->in.len) {
        drained_in(c);
    }
    return tls_conn_seal(c);
}

int tls_conn_read(struct tls_conn *c, struct buf *plain)
{
    if (c->failed) {
        return ERR_TLS;
    }
    if (c->closed) {
        return ERR_CLOSED;
    }
    if (!c->done) {
        ERR_clear_error();
        size_t before = c->out.len;
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            return ssl_result(c, r);
        }
        int rc = handshake_finished(c, before);
        if (rc != 0) {
            return rc;
        }
    }
    for (;;) {
        size_t room = plain->max > plain->len ? plain->max - plain->len : 0;
        if (room == 0) {
            return 0;
        }
        size_t chunk = room < READ_CHUNK ? room : READ_CHUNK;
        char *p = buf_reserve(plain, chunk);
        size_t n = 0;
        clear_errors();
        if (SSL_read_ex(c->ssl, p, chunk, &n) != 1) {
            return ssl_result(c, 0);
        }
        buf_commit(plain, n);
        if (c->in.len == c->in_off && !SSL_has_pending(c->ssl)) {
            /* Nothing left to decrypt: spares the call that would only say "want read". */
            return 0;
        }
    }
}

bool tls_conn_read_pending(const struct tls_conn *c)
{
    if (c->failed || c->closed) {
        return false;
    }
    return c->in.len > c->in_off || SSL_pending(c->ssl) > 0;
}

int tls_conn_write(struct tls_conn *c, const void *data, size_t len)
{
    if (c->failed) {
        return ERR_TLS;
    }
    if (c->shut) {
        return ERR_CLOSED;
    }
    if (len == 0) {
        return 0;
    }
    if (!c->done) {
        if (len > EARLY_MAX || c->plain.len > EARLY_MAX - len) {
            return ERR_LIMIT;
        }
        return buf_append(&c->plain, data, len);
    }
    /* Held until tls_conn_seal (the connection's flush at the end of the loop iteration), so
     * that the stanzas of one iteration share one record; the room for their records is
     * reserved now, so that sealing cannot overflow. */
    size_t held = c->plain.len + len;
    size_t overhead = (held / READ_CHUNK + 1) * RECORD_OVERHEAD;
    if (len > OUT_MAX || held > OUT_MAX || c->out.len > OUT_MAX - held ||
        OUT_MAX - held - c->out.len < overhead) {
        return ERR_LIMIT;
    }
    return buf_append(&c->plain, data, len);
}

/* Bytes of `out` that may leave now (see tls_conn.hold). */
static size_t out_takeable(const struct tls_conn *c)
{
    return c->hold ? c->out_ready : c->out.len;
}

int tls_conn_take_output(struct tls_conn *c, struct buf *out)
{
    /* A failed session has nothing to seal, but maybe an alert for the peer to take. */
    int rc = c->failed ? 0 : tls_conn_seal(c);
    if (rc != 0) {
        return rc;
    }
    if (c->failed) {
        c->hold = false;
    }
    size_t avail = out_takeable(c);
    if (avail == 0) {
        return 0;
    }
    if (!c->hold && out->len == 0 && c->out.len <= out->max && c->out.cap <= out->max + 1) {
        /* Hand the storage over instead of copying it. */
        struct buf t = *out;
        out->p = c->out.p;
        out->len = c->out.len;
        out->cap = c->out.cap;
        c->out.p = t.p;
        c->out.cap = t.cap;
        buf_reset(&c->out);
        return 0;
    }
    size_t room = out->max > out->len ? out->max - out->len : 0;
    size_t n = avail < room ? avail : room;
    if (n > 0 && buf_append(out, c->out.p, n) != 0) {
        return ERR_AGAIN;
    }
    buf_consume(&c->out, n);
    if (c->hold) {
        c->out_ready -= n;
    }
    if (avail > n) {
        return ERR_AGAIN;
    }
    if (c->out.len == 0) {
        buf_reset(&c->out);
    }
    return 0;
}

void tls_conn_release_idle(struct tls_conn *c)
{
    if (!c->done || c->failed) {
        return;
    }
    if (c->in_off == c->in.len) {
        c->in_off = 0;
        buf_release(&c->in);
    }
    if (c->out.len == 0) {
        buf_release(&c->out);
    }
    if (c->plain.len == 0) {
        buf_release(&c->plain);
    }
    /* OpenSSL's record buffers, made anew by the next read or write. */
    (void)SSL_free_buffers(c->ssl);
}

size_t tls_conn_output_pending(const struct tls_conn *c)
{
    return out_takeable(c);
}

int tls_conn_shutdown(struct tls_conn *c)
{
    if (c->shut || c->failed || !c->done) {
        c->shut = true;
        return 0;
    }
    (void)tls_conn_seal(c); /* what was written goes before the close_notify */
    c->shut = true;
    c->hold = false; /* a held ticket goes with it */
    ERR_clear_error();
    (void)SSL_shutdown(c->ssl);
    ERR_clear_error();
    return 0;
}

bool tls_conn_handshake_done(const struct tls_conn *c)
{
    return c->done;
}

const char *tls_conn_error(const struct tls_conn *c)
{
    return c->err;
}

const char *tls_conn_sni(const struct tls_conn *c)
{
    return c->sni;
}

const char *tls_conn_version(const struct tls_conn *c)
{
    return SSL_get_version(c->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *c)
{
    return SSL_get_cipher_name(c->ssl);
}

/* The first Finished message of the handshake (tls-unique; TLS 1.2 and older): the client's on
 * a full handshake, the server's (ours) on an abbreviated one. Its length, 0 when there is none. */
static size_t unique_data(struct tls_conn *c, unsigned char fin[EVP_MAX_MD_SIZE])
{
    if (SSL_version(c->ssl) >= TLS1_3_VERSION) {
        return 0;
    }
    size_t n = SSL_session_reused(c->ssl) ? SSL_get_finished(c->ssl, fin, EVP_MAX_MD_SIZE)
                                          : SSL_get_peer_finished(c->ssl, fin, EVP_MAX_MD_SIZE);
    return n <= EVP_MAX_MD_SIZE ? n : 0;
}

static int cb_unique(struct tls_conn *c, struct buf *out)
{
    unsigned char fin[EVP_MAX_MD_SIZE];
    size_t n = unique_data(c, fin);
    return n > 0 ? buf_append(out, fin, n) : ERR_NOTFOUND;
}

static int cb_exporter(struct tls_conn *c, struct buf *out)
{
    unsigned char key[32];
    if (SSL_version(c->ssl) != TLS1_3_VERSION) {
        return ERR_NOTFOUND;
    }
    if (SSL_export_keying_material(c->ssl, key, sizeof(key), EXPORTER_LABEL,
                                   sizeof(EXPORTER_LABEL) - 1, NULL, 0, 0) != 1) {
        ERR_clear_error();
        return ERR_NOTFOUND;
    }
    return buf_append(out, key, sizeof(key));
}

/* The last certificate's tls-server-end-point hash, per thread: a domain's certificate is the
 * same for every login. The cache holds a reference, so the address cannot be reused by
 * another certificate while it is cached. */
static __thread struct {
    X509 *x;
    unsigned int n;
    unsigned char hash[EVP_MAX_MD_SIZE];
} g_endpoint;

void tls_thread_cleanup(void)
{
    X509_free(g_endpoint.x);
    g_endpoint.x = NULL;
}

/* Our certificate's tls-server-end-point hash, made the thread's cached one; false when there
 * is none (no certificate, or a signature without a separate hash). */
static bool endpoint_hash(struct tls_conn *c)
{
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int mdnid = NID_undef;
    X509 *x = SSL_get_certificate(c->ssl);
    if (x != NULL && x == g_endpoint.x) {
        return true;
    }
    if (x == NULL || !X509_get_signature_info(x, &mdnid, NULL, NULL, NULL)) {
        ERR_clear_error();
        return false;
    }
    if (mdnid == NID_md5 || mdnid == NID_sha1) {
        mdnid = NID_sha256;
    }
    /* NID_undef: a signature without a separate hash (Ed25519), which RFC 5929 leaves out. */
    const EVP_MD *md = mdnid != NID_undef ? EVP_get_digestbynid(mdnid) : NULL;
    if (md == NULL || !X509_digest(x, md, hash, &n) || X509_up_ref(x) != 1) {
        ERR_clear_error();
        return false;
    }
    X509_free(g_endpoint.x);
    g_endpoint.x = x;
    memcpy(g_endpoint.hash, hash, n);
    g_endpoint.n = n;
    return true;
}

static int cb_server_end_point(struct tls_conn *c, struct buf *out)
{
    if (!endpoint_hash(c)) {
        return ERR_NOTFOUND;
    }
    return buf_append(out, g_endpoint.hash, g_endpoint.n);
}

int tls_conn_channel_binding(struct tls_conn *c, const char *type, struct buf *out)
{
    if (!c->done || c->failed || type == NULL) {
        return ERR_NOTFOUND;
    }
    if (strcmp(type, "tls-unique") == 0) {
        return cb_unique(c, out);
    }
    if (strcmp(type, "tls-exporter") == 0) {
        return cb_exporter(c, out);
    }
    if (strcmp(type, "tls-server-end-point") == 0) {
        return cb_server_end_point(c, out);
    }
    return ERR_NOTFOUND;
}

bool tls_conn_channel_binding_offered(struct tls_conn *c, const char *type)
{
    if (!c->done || c->failed || type == NULL) {
        return false;
    }
    if (strcmp(type, "tls-unique") == 0) {
        unsigned char fin[EVP_MAX_MD_SIZE];
        return unique_data(c, fin) > 0;
    }
    if (strcmp(type, "tls-exporter") == 0) {
        return SSL_version(c->ssl) == TLS1_3_VERSION;
    }
    if (strcmp(type, "tls-server-end-point") == 0) {
        return endpoint_hash(c);
    }
    return false;
}

struct idlist {
    char **v;
    size_t n, cap;
};

static void ids_add(struct idlist *l, const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strlen(l->v[i]) == len && memcmp(l->v[i], s, len) == 0) {
            return;
        }
    }
    if (l->n + 1 >= l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = strv_dup((struct strv){ (const char *)s, len });
}

/* A UTF-8 string without NUL or control characters, of a JID's size. */
static bool plain_text(const unsigned char *s, size_t len)
{
    if (len == 0 || len > JID_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

/* local@domain with no resource and no white space. */
static bool looks_like_jid(const unsigned char *s, size_t len)
{
    if (!plain_text(s, len)) {
        return false;
    }
    const unsigned char *at = memchr(s, '@', len);
    if (at == NULL || at == s || at == s + len - 1) {
        return false;
    }
    size_t rest = len - (size_t)(at + 1 - s);
    if (memchr(at + 1, '@', rest) != NULL) {
        return false;
    }
    return memchr(s, '/', len) == NULL && memchr(s, ' ', len) == NULL;
}

static void add_emails(struct idlist *l, const GENERAL_NAMES *gens, X509 *x)
{
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_EMAIL) {
            const unsigned char *s = ASN1_STRING_get0_data(g->d.rfc822Name);
            size_t len = (size_t)ASN1_STRING_length(g->d.rfc822Name);
            if (looks_like_jid(s, len)) {
                ids_add(l, s, len);
            }
        }
    }
    const X509_NAME *subject = X509_get_subject_name(x);
    int pos = -1;
    for (;;) {
        pos = X509_NAME_get_index_by_NID(subject, NID_pkcs9_emailAddress, pos);
        if (pos < 0) {
            break;
        }
        unsigned char *utf8 = NULL;
        X509_NAME_ENTRY *e = X509_NAME_get_entry(subject, pos);
        int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
        if (len > 0 && looks_like_jid(utf8, (size_t)len)) {
            ids_add(l, utf8, (size_t)len);
        }
        OPENSSL_free(utf8);
    }
}

int tls_conn_peer_ids(struct tls_conn *c, char ***ids)
{
    struct idlist l = { NULL, 0, 0 };
    *ids = NULL;
    if (!c->done || c->failed || !(SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER)) {
        return 0;
    }
    X509 *x = SSL_get0_peer_certificate(c->ssl);
    if (x == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK) {
        return 0;
    }
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_OTHERNAME || OBJ_obj2nid(g->d.otherName->type_id) != NID_XmppAddr) {
            continue;
        }
        const ASN1_TYPE *v = g->d.otherName->value;
        if (v == NULL || v->type != V_ASN1_UTF8STRING) {
            continue;
        }
        const unsigned char *s = ASN1_STRING_get0_data(v->value.utf8string);
        size_t len = (size_t)ASN1_STRING_length(v->value.utf8string);
        if (plain_text(s, len)) {
            ids_add(&l, s, len);
        }
    }
    if (l.n == 0) {
        add_emails(&l, gens, x);
    }
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
    if (l.n == 0) {
        return 0;
    }
    l.v[l.n] = NULL;
    *ids = l.v;
    return (int)l.n;
}

void tls_ids_free(char **ids)
{
    if (ids == NULL) {
        return;
    }
    for (size_t i = 0; ids[i] != NULL; i++) {
        free(ids[i]);
    }
    free(ids);
}

/* ---- Server-to-server ---- */

struct tls_conn *tls_conn_new_client(struct tls_store *ts, const char *local, const char *remote)
{
    struct tls_conn *c = conn_new(ts, tls__store_new_client_ssl(ts, local, remote));
    if (c == NULL) {
        return NULL;
    }
    /* The ClientHello goes to the output at once. */
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r != 1 && ssl_result(c, r) != 0) {
        tls_conn_free(c);
        return NULL;
    }
    return c;
}

bool tls_conn_peer_verify_domain(struct tls_conn *c, const char *domain)
{
    if (!c->done || c->failed) {
        return false;
    }
    X509 *leaf = SSL_get0_peer_certificate(c->ssl);
    X509_STORE *store = leaf ? tls__store_s2s_ref(c->ts) : NULL;
    if (store == NULL) {
        return false;
    }
    bool ok = false;
    X509_STORE_CTX *x = X509_STORE_CTX_new();
    if (x != NULL && X509_STORE_CTX_init(x, store, leaf, SSL_get_peer_cert_chain(c->ssl)) == 1) {
        X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(x);
        X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(p, domain, 0) == 1 && X509_verify_cert(x) == 1;
    }
    X509_STORE_CTX_free(x);
    X509_STORE_free(store);
    ERR_clear_error();
    return ok;
}
