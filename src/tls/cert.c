/* cert.c: self-signed certificate generation, written atomically as key and certificate files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "tls/internal.h"

#define CERT_VALID_SECONDS (3650L * 24 * 60 * 60)
/* Tolerates a client clock slightly behind ours. */
#define CERT_BACKDATE_SECONDS (60L * 60)

void tls__ossl_error(char *err, size_t errlen, const char *what, const char *fallback)
{
    unsigned long e = ERR_peek_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s%s%s", what ? what : "", what ? ": " : "",
                 reason ? reason : fallback);
    }
    ERR_clear_error();
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL) {
        return ERR_TLS;
    }
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : ERR_TLS;
}

/* A positive random 127-bit serial number (RFC 5280 allows up to 20 octets). */
static int set_random_serial(X509 *x)
{
    int rc = ERR_TLS;
    BIGNUM *bn = BN_new();
    if (bn == NULL || !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)) {
        goto fail;
    }
    if (BN_is_zero(bn) && !BN_one(bn)) {
        goto fail;
    }
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
        goto fail;
    }
    rc = 0;
fail:
    BN_free(bn);
    return rc;
}

static X509 *make_cert(EVP_PKEY *key, const char *domain)
{
    char san[600];
    X509 *x = X509_new();
    if (x == NULL || !X509_set_version(x, X509_VERSION_3) || set_random_serial(x) != 0) {
        goto fail;
    }
    if (X509_gmtime_adj(X509_getm_notBefore(x), -CERT_BACKDATE_SECONDS) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), CERT_VALID_SECONDS) == NULL) {
        goto fail;
    }
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)domain, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key)) {
        goto fail;
    }
    snprintf(san, sizeof(san), "DNS:%s,DNS:*.%s", domain, domain);
    /* clientAuth too: the same certificate authenticates us on outgoing s2s connections. */
    if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(x, NID_key_usage, "critical,digitalSignature,keyAgreement") != 0 ||
        add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") != 0 ||
        add_ext(x, NID_subject_key_identifier, "hash") != 0 ||
        add_ext(x, NID_subject_alt_name, san) != 0) {
        goto fail;
    }
    if (X509_sign(x, key, EVP_sha256()) <= 0) {
        goto fail;
    }
    return x;
fail:
    X509_free(x);
    return NULL;
}

/* Writes one PEM object to a new temporary file beside `path`; *tmp receives its name. */
static int write_temp(const char *path, int mode, EVP_PKEY *key, X509 *x, char *tmp, size_t tmplen,
                      char *err, size_t errlen)
{
    int n = snprintf(tmp, tmplen, "%s.tmpXXXXXX", path);
    if (n < 0 || (size_t)n >= tmplen) {
        snprintf(err, errlen, "%s: path too long", path);
        return ERR_IO;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        tmp[0] = '\0';
        return ERR_IO;
    }
    int rc = ERR_IO;
    BIO *bio = NULL;
    if (fchmod(fd, (mode_t)mode) != 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    bio = BIO_new_fd(fd, BIO_NOCLOSE);
    int ok =
        bio != NULL && (key != NULL ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
                                    : PEM_write_bio_X509(bio, x));
    if (!ok || BIO_flush(bio) <= 0) {
        tls__ossl_error(err, errlen, tmp, "cannot write");
        goto fail;
    }
    if (fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    rc = 0;
fail:
    BIO_free(bio);
    if (close(fd) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        rc = ERR_IO;
    }
    if (rc != 0) {
        unlink(tmp);
        tmp[0] = '\0';
    }
    return rc;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int tls__cert_generate(const char *dir, const char *domain, char *err, size_t errlen)
{
    char key_path[4096], crt_path[4096], key_tmp[4200] = "", crt_tmp[4200] = "";
    int rc = ERR_TLS;
    X509 *x = NULL;
    int n1 = snprintf(key_path, sizeof(key_path), "%s/%s.key", dir, domain);
    int n2 = snprintf(crt_path, sizeof(crt_path), "%s/%s.crt", dir, domain);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(key_path) || (size_t)n2 >= sizeof(crt_path)) {
        snprintf(err, errlen, "%s: path too long", dir);
        return ERR_IO;
    }
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (key == NULL) {
        tls__ossl_error(err, errlen, "key generation", "failed");
        goto fail;
    }
    x = make_cert(key, domain);
    if (x == NULL) {
        tls__ossl_error(err, errlen, "certificate generation", "failed");
        goto fail;
    }
    rc = write_temp(key_path, 0600, key, NULL, key_tmp, sizeof(key_tmp), err, errlen);
    if (rc != 0) {
        goto fail;
    }
    rc = write_temp(crt_path, 0644, NULL, x, crt_tmp, sizeof(crt_tmp), err, errlen);
    if (rc != 0) {
        goto fail;
    }
    /* The key first: a crash in between leaves a key without a certificate, which the next
     * start reports instead of silently replacing. */
    if (rename(key_tmp, key_path) != 0) {
        snprintf(err, errlen, "%s: %s", key_path, strerror(errno));
        rc = ERR_IO;
        goto fail;
    }
    key_tmp[0] = '\0';
    if (rename(crt_tmp, crt_path) != 0) {
        snprintf(err, errlen, "%s: %s", crt_path, strerror(errno));
        unlink(key_path);
        rc = ERR_IO;
        goto fail;
    }
    crt_tmp[0] = '\0';
    sync_dir(dir);
    rc = 0;
fail:
    if (key_tmp[0] != '\0') {
        unlink(key_tmp);
    }
    if (crt_tmp[0] != '\0') {
        unlink(crt_tmp);
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

static long long asn1_unix_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return (long long)timegm(&tm);
}

int tls_cert_describe(const char *path, struct tls_cert_info *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return ERR_NOTFOUND;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL) {
        ERR_clear_error();
        return ERR_TLS;
    }
    X509_NAME_oneline(X509_get_subject_name(x), out->subject, sizeof(out->subject));
    X509_NAME_oneline(X509_get_issuer_name(x), out->issuer, sizeof(out->issuer));
    out->not_before = asn1_unix_time(X509_get0_notBefore(x));
    out->not_after = asn1_unix_time(X509_get0_notAfter(x));
    /* Self-signed: issued by itself and signed with its own key (X509_check_issued would also
     * demand the keyCertSign usage that a server certificate does not carry). */
    EVP_PKEY *own = X509_get0_pubkey(x);
    out->self_signed = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0 &&
                       own != NULL && X509_verify(x, own) == 1;
    ERR_clear_error();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
        size_t pos = 0;
        for (unsigned int i = 0; i < mdlen && pos + 3 < sizeof(out->fingerprint); i++) {
            pos += (size_t)snprintf(out->fingerprint + pos, sizeof(out->fingerprint) - pos,
                                    i ? ":%02X" : "%02X", md[i]);
        }
    }
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    size_t pos = 0;
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type != GEN_DNS) {
            continue;
        }
        const char *dns = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
        int n = snprintf(out->names + pos, sizeof(out->names) - pos, "%s%s", pos ? ", " : "", dns);
        if (n < 0 || (size_t)n >= sizeof(out->names) - pos) {
            break;
        }
        pos += (size_t)n;
    }
    GENERAL_NAMES_free(sans);
    X509_free(x);
    return 0;
}
