/* certcheck.c: a certificate file checked the way a peer would: its key, its chain, its names. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "tls/certcheck.h"

/* The first certificate of the file and, in `chain`, the ones after it. */
static X509 *read_cert_file(const char *path, STACK_OF(X509) * chain)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return NULL;
    }
    X509 *leaf = PEM_read_X509(f, NULL, NULL, NULL);
    X509 *more;
    while (leaf != NULL && chain != NULL && (more = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        sk_X509_push(chain, more);
    }
    fclose(f);
    ERR_clear_error();
    return leaf;
}

static void check_key(X509 *leaf, const char *key, struct tls_cert_check *out)
{
    FILE *f = fopen(key, "re");
    if (f == NULL) {
        snprintf(out->key_error, sizeof(out->key_error), "cannot read %s", key);
        return;
    }
    EVP_PKEY *pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (pk == NULL) {
        snprintf(out->key_error, sizeof(out->key_error), "%s holds no PEM private key", key);
    } else if (X509_check_private_key(leaf, pk) != 1) {
        snprintf(out->key_error, sizeof(out->key_error), "the key in %s is not the certificate's",
                 key);
    } else {
        out->key_matches = true;
    }
    EVP_PKEY_free(pk);
    ERR_clear_error();
}

static void check_chain(X509 *leaf, STACK_OF(X509) * chain, const char *ca_file,
                        struct tls_cert_check *out)
{
    X509_STORE *roots = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = ca_file != NULL && ca_file[0] ? X509_STORE_load_file(roots, ca_file)
                                           : X509_STORE_set_default_paths(roots);
    if (ok != 1) {
        snprintf(out->chain_error, sizeof(out->chain_error), "cannot load the trusted roots %s",
                 ca_file != NULL && ca_file[0] ? ca_file : "(system default)");
    } else if (X509_STORE_CTX_init(ctx, roots, leaf, chain) == 1) {
        if (X509_verify_cert(ctx) == 1) {
            out->chain_ok = true;
        } else {
            int e = X509_STORE_CTX_get_error(ctx);
            snprintf(out->chain_error, sizeof(out->chain_error), "%s",
                     X509_verify_cert_error_string(e));
        }
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(roots);
    ERR_clear_error();
}

int tls_cert_check_files(const char *crt, const char *key, const char *ca_file,
                         struct tls_cert_check *out)
{
    memset(out, 0, sizeof(*out));
    FILE *probe = fopen(crt, "re");
    if (probe == NULL) {
        return ERR_NOTFOUND;
    }
    fclose(probe);
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *leaf = read_cert_file(crt, chain);
    int rc = ERR_TLS;
    if (leaf == NULL) {
        goto fail;
    }
    check_key(leaf, key, out);
    check_chain(leaf, chain, ca_file, out);
    rc = 0;
fail:
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

int tls_cert_covers(const char *crt, const char *host)
{
    X509 *leaf = read_cert_file(crt, NULL);
    if (leaf == NULL) {
        return ERR_TLS;
    }
    int rc = X509_check_host(leaf, host, strlen(host), 0, NULL) == 1 ? 1 : 0;
    X509_free(leaf);
    ERR_clear_error();
    return rc;
}
