/* ticket.c: the session-ticket keys of a store's server contexts: one ring, rotated. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "core/buf.h"
#include "tls/internal.h"

/* A new key every TICKET_ROTATE_S; a ticket is accepted while its key is at most twice that
 * old, so every ticket stays usable for at least TICKET_ROTATE_S, which is OpenSSL's ticket
 * lifetime (the 7200 s session timeout), and no key outlives 4 hours: past that, a stolen key
 * decrypts no recorded session. */
#define TICKET_ROTATE_S 7200
#define TICKET_MAX_AGE_S (2 * TICKET_ROTATE_S)
#define KEY_NAME_LEN 16
#define AES_KEY_LEN 32
#define HMAC_KEY_LEN 32

struct ticket_key {
    unsigned char name[KEY_NAME_LEN];
    unsigned char aes[AES_KEY_LEN];
    unsigned char hmac[HMAC_KEY_LEN];
    time_t born; /* 0: no key */
};

struct tls_tickets {
    pthread_rwlock_t lock;
    struct ticket_key cur, prev;
    EVP_CIPHER *aes; /* fetched once, not per ticket */
    time_t (*clock)(void);
};

static time_t wall_clock(void)
{
    return time(NULL);
}

struct tls_tickets *tls__tickets_new(void)
{
    struct tls_tickets *t = xcalloc(1, sizeof(*t));
    pthread_rwlock_init(&t->lock, NULL);
    t->clock = wall_clock;
    t->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (t->aes == NULL) {
        tls__tickets_free(t);
        return NULL;
    }
    return t;
}

void tls__tickets_free(struct tls_tickets *t)
{
    if (t == NULL) {
        return;
    }
    OPENSSL_cleanse(&t->cur, sizeof(t->cur));
    OPENSSL_cleanse(&t->prev, sizeof(t->prev));
    EVP_CIPHER_free(t->aes);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

void tls__tickets_set_clock(struct tls_tickets *t, time_t (*clock)(void))
{
    t->clock = clock != NULL ? clock : wall_clock;
}

static bool usable(const struct ticket_key *k, time_t now)
{
    return k->born != 0 && now - k->born < TICKET_MAX_AGE_S && now >= k->born;
}

/* Called with the write lock: a fresh current key when it is due (or the clock went back). */
static int rotate_locked(struct tls_tickets *t, time_t now)
{
    if (t->cur.born != 0 && now - t->cur.born < TICKET_ROTATE_S && now >= t->cur.born) {
        return 0; /* another thread rotated first */
    }
    struct ticket_key k = { .born = now };
    if (RAND_priv_bytes(k.name, sizeof(k.name)) != 1 ||
        RAND_priv_bytes(k.aes, sizeof(k.aes)) != 1 ||
        RAND_priv_bytes(k.hmac, sizeof(k.hmac)) != 1) {
        OPENSSL_cleanse(&k, sizeof(k));
        return -1;
    }
    OPENSSL_cleanse(&t->prev, sizeof(t->prev));
    if (usable(&t->cur, now)) {
        t->prev = t->cur;
    }
    t->cur = k;
    OPENSSL_cleanse(&k, sizeof(k));
    return 0;
}

/* A copy of the key named `name` (NULL: the current one, rotated when due). Returns 1 for the
 * current key, 2 for the previous one, 0 when there is none, -1 on failure. */
static int key_get(struct tls_tickets *t, const unsigned char *name, struct ticket_key *out)
{
    time_t now = t->clock();
    pthread_rwlock_rdlock(&t->lock);
    bool due = t->cur.born == 0 || now - t->cur.born >= TICKET_ROTATE_S || now < t->cur.born;
    pthread_rwlock_unlock(&t->lock);
    if (due) {
        pthread_rwlock_wrlock(&t->lock);
        int rc = rotate_locked(t, now);
        pthread_rwlock_unlock(&t->lock);
        if (rc != 0) {
            return -1;
        }
    }
    int found = 0;
    pthread_rwlock_rdlock(&t->lock);
    if (name == NULL || memcmp(name, t->cur.name, KEY_NAME_LEN) == 0) {
        *out = t->cur;
        found = 1;
    } else if (usable(&t->prev, now) && memcmp(name, t->prev.name, KEY_NAME_LEN) == 0) {
        *out = t->prev;
        found = 2;
    }
    pthread_rwlock_unlock(&t->lock);
    return found;
}

static int mac_init(EVP_MAC_CTX *hctx, unsigned char *key)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, HMAC_KEY_LEN),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params);
}

/* SSL_CTX_set_tlsext_ticket_key_evp_cb: encrypts new tickets with the current key, decrypts
 * with the key the ticket names (2 = renew: the previous key, or any TLS 1.3 resumption). */
static int ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    struct tls_tickets *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    struct ticket_key k = { .born = 0 };
    int rc;
    if (t == NULL) {
        return -1;
    }
    if (enc) {
        rc = key_get(t, NULL, &k);
        if (rc != 1 || RAND_bytes(iv, EVP_CIPHER_get_iv_length(t->aes)) != 1) {
            rc = -1;
            goto done;
        }
        memcpy(name, k.name, KEY_NAME_LEN);
        if (EVP_EncryptInit_ex(ctx, t->aes, NULL, k.aes, iv) != 1 || mac_init(hctx, k.hmac) != 1) {
            rc = -1;
        }
        goto done;
    }
    rc = key_get(t, name, &k);
    if (rc == 1 && SSL_version(ssl) >= TLS1_3_VERSION) {
        /* With a key callback, OpenSSL sends a TLS 1.3 client a new ticket on resumption only
         * when asked to: it needs one for next time (RFC 8446 §C.4: a ticket used once). */
        rc = 2;
    }
    if (rc > 0 &&
        (mac_init(hctx, k.hmac) != 1 || EVP_DecryptInit_ex(ctx, t->aes, NULL, k.aes, iv) != 1)) {
        rc = -1;
    }
done:
    OPENSSL_cleanse(&k, sizeof(k));
    if (rc < 0) {
        ERR_clear_error();
    }
    return rc;
}

void tls__tickets_attach(SSL_CTX *ctx, struct tls_tickets *t)
{
    SSL_CTX_set_app_data(ctx, t);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}
