/* store.c: the per-domain OpenSSL contexts, their policy, the client CA and the SNI lookup. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/buf.h"
#include "core/err.h"
#include "tls/internal.h"

#define TLS_CIPHERS                                                                                \
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:ECDHE+AES:!aNULL:!eNULL:!kRSA:!PSK:"      \
    "!SRP:!MD5:!RC4:!3DES:!DES:!CAMELLIA:!ARIA:!SEED:!IDEA:!DSS:!AESCCM8"
/* Key exchange groups, the cheapest first (docs/tls.md): X25519 costs about half of P-256. */
#define TLS_GROUPS "X25519:P-256:X448:P-384:P-521"
#define TLS_SID_CTX "starling"
#define DOMAIN_MAX 253

struct tls_domain {
    char *name; /* lower case */
    SSL_CTX *ctx;
};

struct tls_store {
    char *dir;
    /* Readers take `lock` shared for a few pointer operations; writers serialize on
     * `write_lock` for their whole operation (so slow work happens outside `lock`) and take
     * `lock` exclusively only to swap pointers. */
    pthread_rwlock_t lock;
    pthread_mutex_t write_lock;
    struct tls_domain *doms; /* sorted by name */
    size_t n, cap;
    char *def;
    X509_STORE *ca_store;           /* NULL: no client certificates requested */
    STACK_OF(X509_NAME) * ca_names; /* sent in CertificateRequest */
    SSL_CTX *base;                  /* no certificate: used while no domain exists */
    X509_STORE *s2s_store;          /* CAs trusted for server certificates (s2s); NULL: none */
    SSL_CTX *client;                /* outgoing (client-side) sessions, made on first use */
    BIO_METHOD *bio;
    struct tls_tickets *tickets; /* the session-ticket keys of every server context */
};

/* Lower-cases an ASCII host name into out[DOMAIN_MAX + 1]; rejects anything that is not a plain
 * LDH name (dots, letters, digits, '-', '_'), so it is also a safe file name. */
static int normalize(const char *domain, char *out)
{
    size_t len = domain ? strlen(domain) : 0;
    if (len == 0 || len > DOMAIN_MAX || domain[0] == '.' || domain[len - 1] == '.') {
        return ERR_INVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)domain[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char)(ch - 'A' + 'a');
        }
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
                  ch == '.';
        if (!ok || (ch == '.' && domain[i + 1] == '.')) {
            return ERR_INVAL;
        }
        out[i] = (char)ch;
    }
    out[len] = '\0';
    return 0;
}

/* Index of `name` in the sorted table, or where it would be inserted (with *found false). */
static size_t find(const struct tls_store *ts, const char *name, bool *found)
{
    size_t lo = 0, hi = ts->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(ts->doms[mid].name, name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

static SSL_CTX *lookup(const struct tls_store *ts, const char *name)
{
    bool found;
    size_t i = find(ts, name, &found);
    return found ? ts->doms[i].ctx : NULL;
}

/* The context for a name: its own, else its parent domain's, whose generated certificate covers
 * it with DNS:*.<parent> (a service domain such as conference.<domain>). */
static SSL_CTX *lookup_covering(const struct tls_store *ts, const char *name)
{
    SSL_CTX *ctx = lookup(ts, name);
    const char *dot = strchr(name, '.');
    if (ctx == NULL && dot != NULL) {
        ctx = lookup(ts, dot + 1);
    }
    return ctx;
}

static SSL_CTX *ctx_new(struct tls_tickets *tickets, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        tls__ossl_error(err, errlen, "SSL_CTX_new", "failed");
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Stateless tickets only: no server-side cache to grow. One ticket per handshake (OpenSSL
     * sends two by default): a client resumes with one; each resumption brings a fresh one.
     * Their keys are the store's rotating ring, shared by every worker and domain. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    tls__tickets_attach(ctx, tickets);
    SSL_CTX_set_dh_auto(ctx, 1);
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS) || !SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) ||
        !SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SID_CTX,
                                        sizeof(TLS_SID_CTX) - 1)) {
        tls__ossl_error(err, errlen, "TLS policy", "cannot be set");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, tls__servername_cb);
    return ctx;
}

static SSL_CTX *ctx_load(struct tls_tickets *tickets, const char *crt, const char *key, char *err,
                         size_t errlen)
{
    SSL_CTX *ctx = ctx_new(tickets, err, errlen);
    if (ctx == NULL) {
        return NULL;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
        tls__ossl_error(err, errlen, crt, "cannot load certificate");
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        tls__ossl_error(err, errlen, key, "cannot load private key");
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls__ossl_error(err, errlen, key, "does not match the certificate");
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct tls_store *tls_store_new(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (dir == NULL || dir[0] == '\0') {
        snprintf(err, errlen, "no certificate directory");
        return NULL;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", dir);
        return NULL;
    }
    struct tls_store *ts = xcalloc(1, sizeof(*ts));
    ts->dir = xstrdup(dir);
    pthread_rwlock_init(&ts->lock, NULL);
    pthread_mutex_init(&ts->write_lock, NULL);
    ts->tickets = tls__tickets_new();
    ts->base = ts->tickets != NULL ? ctx_new(ts->tickets, err, errlen) : NULL;
    ts->bio = tls__bio_method_new();
    if (ts->base == NULL || ts->bio == NULL) {
        if (ts->tickets == NULL) {
            tls__ossl_error(err, errlen, "session tickets", "cannot be set up");
        } else if (ts->bio == NULL) {
            tls__ossl_error(err, errlen, "BIO method", "cannot be created");
        }
        tls_store_free(ts);
        return NULL;
    }
    return ts;
}

void tls_store_free(struct tls_store *ts)
{
    if (ts == NULL) {
        return;
    }
    for (size_t i = 0; i < ts->n; i++) {
        free(ts->doms[i].name);
        SSL_CTX_free(ts->doms[i].ctx);
    }
    free(ts->doms);
    free(ts->def);
    X509_STORE_free(ts->ca_store);
    sk_X509_NAME_pop_free(ts->ca_names, X509_NAME_free);
    X509_STORE_free(ts->s2s_store);
    SSL_CTX_free(ts->client);
    SSL_CTX_free(ts->base);
    BIO_meth_free(ts->bio);
    tls__tickets_free(ts->tickets);
    pthread_rwlock_destroy(&ts->lock);
    pthread_mutex_destroy(&ts->write_lock);
    free(ts->dir);
    free(ts);
}

/* Loads (or first generates) the files of `name` into a new context *out. */
static int domain_ctx(struct tls_store *ts, const char *name, SSL_CTX **out, bool *generated,
                      char *err, size_t errlen)
{
    char crt[4096], key[4096];
    struct stat st;
    int n1 = snprintf(crt, sizeof(crt), "%s/%s.crt", ts->dir, name);
    int n2 = snprintf(key, sizeof(key), "%s/%s.key", ts->dir, name);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(crt) || (size_t)n2 >= sizeof(key)) {
        snprintf(err, errlen, "%s: path too long", ts->dir);
        return ERR_IO;
    }
    bool have_crt = stat(crt, &st) == 0;
    bool have_key = stat(key, &st) == 0;
    if (!have_crt && !have_key) {
        int rc = tls__cert_generate(ts->dir, name, err, errlen);
        if (rc != 0) {
            return rc;
        }
        *generated = true;
    } else if (!have_crt || !have_key) {
        snprintf(err, errlen, "%s: missing (while %s exists)", have_crt ? key : crt,
                 have_crt ? crt : key);
        return ERR_IO;
    }
    *out = ctx_load(ts->tickets, crt, key, err, errlen);
    return *out != NULL ? 0 : ERR_TLS;
}

int tls_store_add_domain(struct tls_store *ts, const char *domain, bool *generated, char *err,
                         size_t errlen)
{
    char name[DOMAIN_MAX + 1];
    bool gen = false, found;
    SSL_CTX *old = NULL, *ctx = NULL;
    if (generated != NULL) {
        *generated = false;
    }
    if (normalize(domain, name) != 0) {
        snprintf(err, errlen, "invalid domain name for a certificate: \"%.64s\"",
                 domain ? domain : "");
        return ERR_INVAL;
    }
    pthread_mutex_lock(&ts->write_lock);
    int rc = domain_ctx(ts, name, &ctx, &gen, err, errlen);
    if (rc != 0) {
        goto done;
    }
    pthread_rwlock_wrlock(&ts->lock);
    size_t i = find(ts, name, &found);
    if (found) {
        old = ts->doms[i].ctx;
        ts->doms[i].ctx = ctx;
    } else {
        if (ts->n == ts->cap) {
            ts->cap = ts->cap ? ts->cap * 2 : 8;
            ts->doms = xrealloc(ts->doms, ts->cap * sizeof(*ts->doms));
        }
        memmove(&ts->doms[i + 1], &ts->doms[i], (ts->n - i) * sizeof(*ts->doms));
        ts->doms[i].name = xstrdup(name);
        ts->doms[i].ctx = ctx;
        ts->n++;
    }
    pthread_rwlock_unlock(&ts->lock);
    /* Connections started on the old context hold their own reference. */
    SSL_CTX_free(old);
    if (generated != NULL) {
        *generated = gen;
    }
done:
    pthread_mutex_unlock(&ts->write_lock);
    return rc;
}

int tls_store_remove_domain(struct tls_store *ts, const char *domain)
{
    char name[DOMAIN_MAX + 1];
    bool found = false;
    SSL_CTX *old = NULL;
    char *old_name = NULL;
    if (normalize(domain, name) != 0) {
        return ERR_NOTFOUND;
    }
    pthread_mutex_lock(&ts->write_lock);
    pthread_rwlock_wrlock(&ts->lock);
    size_t i = find(ts, name, &found);
    if (found) {
        old = ts->doms[i].ctx;
        old_name = ts->doms[i].name;
        memmove(&ts->doms[i], &ts->doms[i + 1], (ts->n - i - 1) * sizeof(*ts->doms));
        ts->n--;
    }
    pthread_rwlock_unlock(&ts->lock);
    pthread_mutex_unlock(&ts->write_lock);
    SSL_CTX_free(old);
    free(old_name);
    return found ? 0 : ERR_NOTFOUND;
}

bool tls_store_has(struct tls_store *ts, const char *domain)
{
    char name[DOMAIN_MAX + 1];
    if (normalize(domain, name) != 0) {
        return false;
    }
    pthread_rwlock_rdlock(&ts->lock);
    bool has = lookup(ts, name) != NULL;
    pthread_rwlock_unlock(&ts->lock);
    return has;
}

int tls_store_set_client_ca(struct tls_store *ts, const char *ca_file, char *err, size_t errlen)
{
    X509_STORE *store = NULL;
    STACK_OF(X509_NAME) *names = NULL;
    if (ca_file != NULL && ca_file[0] != '\0') {
        store = X509_STORE_new();
        if (store == NULL || X509_STORE_load_file(store, ca_file) != 1) {
            tls__ossl_error(err, errlen, ca_file, "cannot load CA certificates");
            X509_STORE_free(store);
            return access(ca_file, R_OK) == 0 ? ERR_TLS : ERR_IO;
        }
        names = SSL_load_client_CA_file(ca_file);
        if (names == NULL) {
            tls__ossl_error(err, errlen, ca_file, "no CA certificate in file");
            X509_STORE_free(store);
            return ERR_TLS;
        }
    }
    pthread_mutex_lock(&ts->write_lock);
    pthread_rwlock_wrlock(&ts->lock);
    X509_STORE *old_store = ts->ca_store;
    STACK_OF(X509_NAME) *old_names = ts->ca_names;
    ts->ca_store = store;
    ts->ca_names = names;
    pthread_rwlock_unlock(&ts->lock);
    pthread_mutex_unlock(&ts->write_lock);
    /* Connections already set up hold their own reference to the old X509_STORE. */
    X509_STORE_free(old_store);
    sk_X509_NAME_pop_free(old_names, X509_NAME_free);
    return 0;
}

void tls_store_set_default(struct tls_store *ts, const char *domain)
{
    char name[DOMAIN_MAX + 1];
    char *def = normalize(domain, name) == 0 ? xstrdup(name) : NULL;
    pthread_mutex_lock(&ts->write_lock);
    pthread_rwlock_wrlock(&ts->lock);
    char *old = ts->def;
    ts->def = def;
    pthread_rwlock_unlock(&ts->lock);
    pthread_mutex_unlock(&ts->write_lock);
    free(old);
}

/* Accepts any client certificate: an unverifiable one yields no identity (see
 * tls_conn_peer_ids, which checks the verification result) instead of a failed handshake. */
static int accept_client_cert(int preverify_ok, X509_STORE_CTX *x509_ctx)
{
    (void)preverify_ok;
    (void)x509_ctx;
    return 1;
}

/* Called with `lock` held (shared). */
static void apply_client_ca(const struct tls_store *ts, SSL *ssl)
{
    if (ts->ca_store != NULL) {
        SSL_set1_verify_cert_store(ssl, ts->ca_store);
    }
}

SSL *tls__store_new_ssl(struct tls_store *ts)
{
    pthread_rwlock_rdlock(&ts->lock);
    SSL_CTX *ctx = ts->def != NULL ? lookup(ts, ts->def) : NULL;
    if (ctx == NULL) {
        ctx = ts->n > 0 ? ts->doms[0].ctx : ts->base;
    }
    SSL *ssl = SSL_new(ctx);
    if (ssl != NULL && ts->ca_store != NULL) {
        STACK_OF(X509_NAME) *names = SSL_dup_CA_list(ts->ca_names);
        if (names == NULL) {
            SSL_free(ssl);
            ssl = NULL;
        } else {
            SSL_set_client_CA_list(ssl, names);
            SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, accept_client_cert);
            apply_client_ca(ts, ssl);
        }
    } else if (ssl != NULL && ts->s2s_store != NULL) {
        /* Remote servers present their certificate (XEP-0178); it is checked against the s2s
         * CAs after the handshake (tls_conn_peer_verify_domain), never by the handshake. */
        SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, accept_client_cert);
    }
    pthread_rwlock_unlock(&ts->lock);
    if (ssl != NULL) {
        SSL_set_accept_state(ssl);
    }
    return ssl;
}

bool tls__store_switch(struct tls_store *ts, SSL *ssl, const char *sni)
{
    char name[DOMAIN_MAX + 1];
    if (normalize(sni, name) != 0) {
        return false;
    }
    pthread_rwlock_rdlock(&ts->lock);
    SSL_CTX *ctx = lookup_covering(ts, name);
    if (ctx != NULL && ctx != SSL_get_SSL_CTX(ssl)) {
        SSL_set_SSL_CTX(ssl, ctx);
        /* The verify store lives in the certificate settings SSL_set_SSL_CTX replaces. */
        if (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) {
            apply_client_ca(ts, ssl);
        }
    }
    pthread_rwlock_unlock(&ts->lock);
    return ctx != NULL;
}

struct tls_tickets *tls__store_tickets(struct tls_store *ts)
{
    return ts->tickets;
}

const BIO_METHOD *tls__store_bio_method(const struct tls_store *ts)
{
    return ts->bio;
}

/* ---- Server-to-server: trusted CAs and client-side sessions ---- */

int tls_store_set_s2s_ca(struct tls_store *ts, const char *ca_file, char *err, size_t errlen)
{
    X509_STORE *store = NULL;
    if (ca_file != NULL && ca_file[0] != '\0') {
        store = X509_STORE_new();
        int ok = store != NULL &&
                 (strcmp(ca_file, "system") == 0 ? X509_STORE_set_default_paths(store)
                                                 : X509_STORE_load_file(store, ca_file));
        if (ok != 1) {
            tls__ossl_error(err, errlen, ca_file, "cannot load CA certificates");
            X509_STORE_free(store);
            return strcmp(ca_file, "system") != 0 && access(ca_file, R_OK) != 0 ? ERR_IO : ERR_TLS;
        }
    }
    pthread_mutex_lock(&ts->write_lock);
    pthread_rwlock_wrlock(&ts->lock);
    X509_STORE *old = ts->s2s_store;
    ts->s2s_store = store;
    pthread_rwlock_unlock(&ts->lock);
    pthread_mutex_unlock(&ts->write_lock);
    X509_STORE_free(old);
    return 0;
}

X509_STORE *tls__store_s2s_ref(struct tls_store *ts)
{
    pthread_rwlock_rdlock(&ts->lock);
    X509_STORE *st = ts->s2s_store;
    if (st != NULL) {
        X509_STORE_up_ref(st);
    }
    pthread_rwlock_unlock(&ts->lock);
    return st;
}

static SSL_CTX *client_ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* The result is read after the handshake: an unverified peer may still be authenticated
     * by dialback. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_client_cert);
    return ctx;
}

SSL *tls__store_new_client_ssl(struct tls_store *ts, const char *local, const char *remote)
{
    pthread_mutex_lock(&ts->write_lock);
    if (ts->client == NULL) {
        SSL_CTX *ctx = client_ctx_new();
        pthread_rwlock_wrlock(&ts->lock);
        ts->client = ctx;
        pthread_rwlock_unlock(&ts->lock);
    }
    pthread_mutex_unlock(&ts->write_lock);
    char name[DOMAIN_MAX + 1];
    pthread_rwlock_rdlock(&ts->lock);
    SSL *ssl = ts->client != NULL ? SSL_new(ts->client) : NULL;
    SSL_CTX *mine = normalize(local, name) == 0 ? lookup_covering(ts, name) : NULL;
    if (ssl != NULL && mine != NULL) {
        /* Our domain's certificate, for SASL EXTERNAL at the remote server. */
        X509 *crt = SSL_CTX_get0_certificate(mine);
        EVP_PKEY *key = SSL_CTX_get0_privatekey(mine);
        STACK_OF(X509) *chain = NULL;
        SSL_CTX_get0_chain_certs(mine, &chain);
        if (crt == NULL || key == NULL || SSL_use_certificate(ssl, crt) != 1 ||
            SSL_use_PrivateKey(ssl, key) != 1 || (chain && SSL_set1_chain(ssl, chain) != 1)) {
            SSL_free(ssl);
            ssl = NULL;
        }
    }
    if (ssl != NULL && ts->s2s_store != NULL) {
        SSL_set1_verify_cert_store(ssl, ts->s2s_store);
    }
    pthread_rwlock_unlock(&ts->lock);
    if (ssl != NULL &&
        (SSL_set_tlsext_host_name(ssl, remote) != 1 || SSL_set1_host(ssl, remote) != 1)) {
        SSL_free(ssl);
        ssl = NULL;
    }
    if (ssl != NULL) {
        SSL_set_connect_state(ssl);
    }
    ERR_clear_error();
    return ssl;
}
